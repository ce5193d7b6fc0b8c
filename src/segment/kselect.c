/* segment/kselect.c: validity indices and the choice of K.
 *
 * Calinski-Harabasz and Davies-Bouldin need only per-segment sums, so they cost one pass and
 * one packed reduction. The silhouette needs pairwise distances, so it is computed on a
 * sample drawn by hashing customer ids (rank-independent), gathered to every rank (a few
 * thousand rows), sorted by id, and split across ranks for the O(S^2) work; its sum is exact.
 * The recommended K follows the rule in segment.h and docs/segments.md. */
#include "custseg/segment.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct srow {
  int64_t id;
  int32_t label;
  float w;
} srow_t;

typedef struct idx_by_id {
  int64_t id, index;
} idx_by_id_t;

static int cmp_id(const void *a, const void *b) {
  const idx_by_id_t *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

/* e[b] = ||x_a - x_b|| for every point b of the feature-major sample xt (s points, d
 * features): each sum in feature order, a product then a sum per feature (not contracted to
 * an fma, so the values are those of the one-pair-at-a-time loop this replaces), as vector
 * loops over b. Local. */
__attribute__((optimize("fp-contract=off"))) static void
distances_from(const float *xt, int64_t s, int d, int64_t a, double *e) {
  for (int64_t b = 0; b < s; b++) e[b] = 0.0;
  for (int j = 0; j < d; j++) {
    const float *xj = xt + (int64_t)j * s;
    const double xa = xj[a];
#pragma omp simd
    for (int64_t b = 0; b < s; b++) {
      const double u = xa - (double)xj[b];
      e[b] += u * u;
    }
  }
#pragma omp simd
  for (int64_t b = 0; b < s; b++) e[b] = sqrt(e[b]);
}

/* Sampled silhouette. Collective. */
static int silhouette(cs_ctx_t *ctx, const cs_matrix_t *m, const int32_t *labels, int k,
                      int64_t n_global, int64_t target, uint64_t seed, double *out,
                      int64_t *n_sample) {
  int status = CS_OK;
  int d = m->d;
  size_t rec = sizeof(srow_t) + (size_t)d * sizeof(float);
  char *mine = NULL, *all = NULL;
  int64_t *order = NULL;
  cs_fixacc_t *acc = NULL; /* the pairwise pass: per thread, and the sample feature-major */
  double *tws = NULL, *tds = NULL, *dist = NULL;
  float *xt = NULL, *wt = NULL;
  int32_t *lab = NULL;
  /* Keep a customer when hash(id, seed) falls below target / N of the hash range. */
  double p = n_global > 0 ? (double)target / (double)n_global : 1.0;
  uint64_t cut = p >= 1.0 ? UINT64_MAX : (uint64_t)(p * 18446744073709551616.0);
  int64_t cnt = 0;
  for (int64_t i = 0; i < m->n; i++)
    cnt += XXH3_64bits_withSeed(&m->id[i], sizeof m->id[i], seed ^ 0x5117u) <= cut;
  mine = malloc((size_t)(cnt ? cnt : 1) * rec);
  CS_TRY(cs_par_agree(ctx, mine ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  /* Weights scaled by a power of two so the largest is in [0.5, 1) (the silhouette does not
   * change): as floats, weights of 1e-200 had become 0 and the silhouette NaN. */
  double wtop = 0;
  for (int64_t i = 0; m->w && i < m->n; i++) wtop = fmax(wtop, m->w[i]);
  CS_TRY(cs_par_allreduce(ctx, &wtop, 1, CS_DT_F64, CS_OP_MAX));
  int wexp = 0;
  if (wtop > 0) frexp(wtop, &wexp);
  int64_t c = 0;
  for (int64_t i = 0; i < m->n; i++) {
    if (XXH3_64bits_withSeed(&m->id[i], sizeof m->id[i], seed ^ 0x5117u) > cut) continue;
    srow_t h = {m->id[i], labels[i], m->w ? (float)ldexp(m->w[i], -wexp) : 1.0f};
    memcpy(mine + c * rec, &h, sizeof h);
    memcpy(mine + c * rec + sizeof h, m->x + i * d, (size_t)d * sizeof(float));
    c++;
  }
  int64_t bytes = 0;
  CS_TRY(cs_par_allgatherv(ctx, mine, cnt * (int64_t)rec, (void **)&all, &bytes));
  int64_t s = bytes / (int64_t)rec;
  *n_sample = s;
  /* Order by customer id so every rank sees the same sample in the same order. */
  order = malloc((size_t)(s ? s : 1) * sizeof *order);
  CS_TRY(cs_par_agree(ctx, order ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  {
    idx_by_id_t *key = malloc((size_t)(s ? s : 1) * sizeof *key);
    CS_TRY(cs_par_agree(ctx, key ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    for (int64_t i = 0; i < s; i++) {
      srow_t h;
      memcpy(&h, all + i * (int64_t)rec, sizeof h);
      key[i] = (idx_by_id_t){h.id, i};
    }
    qsort(key, (size_t)s, sizeof *key, cmp_id);
    for (int64_t i = 0; i < s; i++) order[i] = key[i].index;
    free(key);
  }
  cs_fixacc_t num, den; /* s(i) in [-1, 1] times weights <= wmax */
  double wmax = 1;
  for (int64_t i = 0; i < s; i++) {
    srow_t h;
    memcpy(&h, all + i * (int64_t)rec, sizeof h);
    wmax = fmax(wmax, h.w);
  }
  const int sn = cs_fixed_exponent(wmax, s + 1);
  cs_fixacc_init(&num, sn);
  cs_fixacc_init(&den, sn);
  /* Sample points a over ranks (a = rank, rank + size, ...) and, within a rank, over threads;
   * each point's sums run over b in order, and its s(i) goes into the thread's exact
   * accumulators, whose integer totals do not depend on the split. */
  const int nt = omp_get_max_threads();
  acc = malloc(2 * (size_t)nt * sizeof *acc);
  tws = malloc((size_t)nt * (size_t)k * sizeof *tws);
  tds = malloc((size_t)nt * (size_t)k * sizeof *tds);
  /* The sample in id order, feature-major (xt[j * s + b]), with labels and weights, so the
   * distances from one point to all the others run as vector loops over b. */
  xt = malloc((size_t)(s ? s : 1) * (size_t)d * sizeof *xt);
  lab = malloc((size_t)(s ? s : 1) * sizeof *lab);
  wt = malloc((size_t)(s ? s : 1) * sizeof *wt);
  dist = malloc((size_t)nt * (size_t)(s ? s : 1) * sizeof *dist);
  int ok = acc && tws && tds && xt && lab && wt && dist;
  if (ok)
    for (int64_t b = 0; b < s; b++) {
      srow_t hb;
      const char *rb = all + order[b] * (int64_t)rec;
      memcpy(&hb, rb, sizeof hb);
      const float *xb = (const float *)(rb + sizeof hb);
      for (int j = 0; j < d; j++) xt[(int64_t)j * s + b] = xb[j];
      lab[b] = hb.label;
      wt[b] = hb.w;
    }
  CS_TRY(cs_par_agree(ctx, ok ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  for (int t = 0; t < 2 * nt; t++) cs_fixacc_init(&acc[t], sn);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    double *ws = tws + (int64_t)t * k, *ds = tds + (int64_t)t * k, *e = dist + (int64_t)t * s;
    cs_fixacc_t *tnum = &acc[2 * t], *tden = &acc[2 * t + 1];
#pragma omp for schedule(dynamic, 16)
    for (int64_t a = ctx->rank; a < s; a += ctx->size) {
      const int la = lab[a];
      const double wa = wt[a];
      distances_from(xt, s, d, a, e);
      for (int q = 0; q < k; q++) ws[q] = ds[q] = 0;
      for (int64_t b = 0; b < s; b++) {
        if (b == a) continue;
        ws[lab[b]] += wt[b];
        ds[lab[b]] += wt[b] * e[b];
      }
      if (!(ws[la] > 0)) { /* alone in its segment's sample: s(i) = 0, as scikit-learn */
        cs_fixacc_add(tden, wa);
        continue;
      }
      double ai = ds[la] / ws[la], bi = INFINITY;
      for (int q = 0; q < k; q++)
        if (q != la && ws[q] > 0) bi = fmin(bi, ds[q] / ws[q]);
      double si = isfinite(bi) ? (bi - ai) / fmax(ai, bi) : 0.0;
      if (!isfinite(si)) si = 0.0;
      cs_fixacc_add(tnum, si * wa);
      cs_fixacc_add(tden, wa);
    }
  }
  for (int t = 0; t < nt; t++) {
    num.total += cs_fixacc_total(&acc[2 * t]);
    den.total += cs_fixacc_total(&acc[2 * t + 1]);
  }
  cs_fixed_t sums[2] = {cs_fixacc_total(&num), cs_fixacc_total(&den)};
  CS_TRY(cs_par_sum_i128_n(ctx, sums, 2));
  *out = sums[1] > 0 ? (double)sums[0] / (double)sums[1] : NAN;
fail:
  free(mine);
  free(all);
  free(order);
  free(acc);
  free(tws);
  free(tds);
  free(xt);
  free(lab);
  free(wt);
  free(dist);
  return status;
}

int cs_kmeans_indices(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_kmeans_result_t *r,
                      int64_t sample, uint64_t seed, cs_kindices_t *out) {
  int status = CS_OK;
  int k = r->k, d = r->d;
  cs_fixed_t *s = calloc((size_t)k, sizeof *s);
  memset(out, 0, sizeof *out);
  CS_TRY(cs_par_agree(ctx, s ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  out->k = k;
  out->inertia = r->inertia;
  out->iterations = r->iterations;
  out->converged = r->converged;
  int64_t n_all = 0;
  double wall = 0, mx[2] = {0, 1};
  for (int q = 0; q < k; q++) {
    n_all += r->sizes[q];
    wall += r->weight_sums[q];
  }
  int64_t smallest = INT64_MAX;
  for (int q = 0; q < k; q++) smallest = r->sizes[q] < smallest ? r->sizes[q] : smallest;
  out->min_share = n_all ? (double)smallest / (double)n_all : 0;
  /* Davies-Bouldin scatter: mean distance of members to their centroid, exact sums. */
  cs_matrix_max(m, mx);
  for (int64_t v = 0; v < (int64_t)k * d; v++) mx[0] = fmax(mx[0], fabs(r->centroids[v]));
  CS_TRY(cs_par_allreduce(ctx, mx, 2, CS_DT_F64, CS_OP_MAX));
  int sd = cs_fixed_exponent(2 * mx[0] * sqrt((double)d) * mx[1], n_all);
  {
    /* One exact accumulator per segment and thread; integer totals, so any split of the rows
     * over threads gives the same sums. */
    const int nt = omp_get_max_threads();
    cs_fixacc_t *a = malloc((size_t)nt * (size_t)k * sizeof *a);
    CS_TRY(cs_par_agree(ctx, a ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    for (int v = 0; v < nt * k; v++) cs_fixacc_init(&a[v], sd);
#pragma omp parallel num_threads(nt)
    {
      cs_fixacc_t *at = a + (int64_t)omp_get_thread_num() * k;
#pragma omp for schedule(static)
      for (int64_t i = 0; i < m->n; i++) {
        int q = r->labels[i];
        double dist = sqrt(cs_kernel_sqdist(m->x + i * d, r->centroids + (int64_t)q * d, d));
        cs_fixacc_add(&at[q], dist * (m->w ? m->w[i] : 1.0));
      }
    }
    for (int q = 0; q < k; q++) {
      s[q] = 0;
      for (int t = 0; t < nt; t++) s[q] += cs_fixacc_total(&a[(int64_t)t * k + q]);
    }
    free(a);
  }
  CS_TRY(cs_par_sum_i128_n(ctx, s, k));
  double db = 0;
  for (int q = 0; q < k; q++) {
    double sq = r->weight_sums[q] > 0 ? cs_from_fixed(s[q], sd) / r->weight_sums[q] : 0, worst = 0;
    for (int p = 0; p < k; p++) {
      if (p == q) continue;
      double sp = r->weight_sums[p] > 0 ? cs_from_fixed(s[p], sd) / r->weight_sums[p] : 0;
      double dc = sqrt(cs_kernel_sqdist_dd(r->centroids + (int64_t)q * d,
                                           r->centroids + (int64_t)p * d, d));
      double v = dc > 0 ? (sq + sp) / dc : INFINITY;
      worst = fmax(worst, v);
    }
    db += worst;
  }
  out->davies_bouldin = k > 1 ? db / k : NAN;
  /* Calinski-Harabasz: between / within dispersion, weighted counts. */
  double *mean = calloc((size_t)d, sizeof *mean), between = 0;
  CS_TRY(cs_par_agree(ctx, mean ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  for (int q = 0; q < k; q++)
    for (int j = 0; j < d; j++) mean[j] += r->weight_sums[q] * r->centroids[(int64_t)q * d + j] / wall;
  for (int q = 0; q < k; q++)
    between += r->weight_sums[q] * cs_kernel_sqdist_dd(r->centroids + (int64_t)q * d, mean, d);
  free(mean);
  out->calinski_harabasz = k > 1 && n_all > k && r->inertia > 0
                               ? (between / (k - 1)) / (r->inertia / (double)(n_all - k))
                               : NAN;
  if (k > 1)
    CS_TRY(silhouette(ctx, m, r->labels, k, n_all, sample, seed, &out->silhouette,
                      &out->silhouette_sample));
  else
    out->silhouette = NAN;
fail:
  free(s);
  return status;
}

int cs_kselect_takes(const cs_kindices_t *held, const cs_kindices_t *t, double min_share) {
  if (t->min_share < min_share) return 0;
  if (!held) return 1;
  /* K = 1 has no silhouette (NaN): it counts as CS_KSELECT_STRUCTURE - 0.005, so a K > 1
   * replaces it only with a silhouette above CS_KSELECT_STRUCTURE. On data without segments
   * (uniform noise, one Gaussian) the silhouette of K > 1 stays below that and creeps up with
   * K, which had taken the rule to K = 16 on 5-D noise. */
  const double h = isnan(held->silhouette) ? CS_KSELECT_STRUCTURE - 0.005 : held->silhouette;
  return t->silhouette > h + 0.005;
}

void cs_kselect_warn(const cs_kindices_t *chosen, int k_min) {
  if (chosen->k > 1 && chosen->silhouette < CS_KSELECT_STRUCTURE && cs_log_rank() == 0)
    cs_log_warn("k selection: the recommended K = %d has a silhouette of %.3f, below %.2f, "
                "where Kaufman and Rousseeuw find no substantial structure: its segments are "
                "weakly separated%s", chosen->k, chosen->silhouette, CS_KSELECT_STRUCTURE,
                k_min > 1 ? "; a range from K = 1 lets the rule keep the customers as one group"
                          : "");
  else if (chosen->k > 1 && isnan(chosen->silhouette) && cs_log_rank() == 0)
    cs_log_warn("k selection: no silhouette (--silhouette-sample 0, or a sample without two "
                "segments), so the recommended K = %d is the smallest that meets "
                "--min-segment-share", chosen->k);
}

int cs_kmeans_select(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_global,
                     const cs_kmeans_opts_t *o, int k_min, int k_max, double min_share,
                     int64_t sample, cs_kindices_t *table, cs_kmeans_result_t *best) {
  int status = CS_OK;
  cs_kmeans_result_t cur = {0};
  int picked = -1;
  memset(best, 0, sizeof *best);
  for (int k = k_min; k <= k_max; k++) {
    cs_kmeans_opts_t ok = *o;
    ok.k = k;
    cs_log_info("k selection: fitting K = %d (%d of %d)", k, k - k_min + 1, k_max - k_min + 1);
    CS_TRY(cs_kmeans_fit(ctx, m, n_global, &ok, &cur));
    cs_kindices_t *t = &table[k - k_min];
    CS_TRY(cs_kmeans_indices(ctx, m, &cur, sample, o->seed, t));
    cs_log_info("k selection: K = %2d  inertia %.6g  CH %.6g  DB %.4f  silhouette %.4f  "
                "smallest segment %.2f%%", k, t->inertia, t->calinski_harabasz,
                t->davies_bouldin, t->silhouette, 100 * t->min_share);
    if (cs_kselect_takes(picked < 0 ? NULL : &table[picked - k_min], t, min_share)) {
      cs_kmeans_result_free(best);
      *best = cur;
      picked = k;
    } else {
      cs_kmeans_result_free(&cur);
    }
    memset(&cur, 0, sizeof cur);
  }
  if (picked < 0) {
    /* Nothing meets the share: fall back to the smallest K, said loudly. */
    cs_log_warn("no K in %d..%d has every segment above %.2f%% of customers; using K = %d", k_min,
                k_max, 100 * min_share, k_min);
    cs_kmeans_opts_t ok = *o;
    ok.k = k_min;
    CS_TRY(cs_kmeans_fit(ctx, m, n_global, &ok, best));
    picked = k_min;
  }
  cs_log_info("k selection: recommended K = %d", picked);
  cs_kselect_warn(&table[picked - k_min], k_min);
fail:
  cs_kmeans_result_free(&cur);
  return status;
}
