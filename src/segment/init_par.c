/* segment/init_par.c: k-means|| (Bahmani, Moseley, Vattani, Kumar, Vassilvitskii 2012).
 *
 * A few rounds, each keeping every customer independently with probability
 * min(1, l w D^2 / phi) (l = 2K, draws keyed by customer id), give about l x rounds
 * candidates in a handful of passes instead of K; the candidates, sorted by customer id so
 * every decomposition and every order of the store's rows sees the same list, are weighted by the customers nearest to them
 * (exact sums) and reclustered to K centres on every rank identically (weighted k-means++
 * and Lloyd in double precision). */
#include "custseg/segment.h"

#include "custseg/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define ROUNDS 5

typedef struct cand {
  int64_t id; /* customer id */
  float x[];  /* d values */
} cand_t;

static int cmp_id(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static uint64_t mix(uint64_t seed, int restart, int round) {
  uint64_t v[3] = {seed, (uint64_t)restart, 0x6b6d7c7cu + (uint64_t)round};
  return XXH3_64bits(v, sizeof v);
}

/* Rows of cx in point order (the values, then the row number), for distinct(). */
typedef struct { const double *x; int d; } by_point_t;
static int cmp_point(const void *a, const void *b, void *arg) {
  const by_point_t *t = arg;
  const int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  for (int c = 0; c < t->d; c++) {
    const double u = t->x[i * t->d + c], v = t->x[j * t->d + c];
    if (u != v) return u < v ? -1 : 1; /* 0 and -0 are one point */
  }
  return (i > j) - (i < j);
}

/* Drop from rows nc..nc+got-1 of cx (d values each) every row at the point of an earlier
 * row, keeping the order; the count left of the got, or -1 when out of memory. Two customers
 * of one point can be drawn in one round, and a customer at a candidate's point can be drawn
 * again later when the float32 assignment took a nearby candidate for the nearest: each had
 * counted towards K, so the extra rounds for too few candidates did not start, and the
 * reclustering could be left with fewer than K points. Local. */
static int64_t distinct(double *cx, int64_t nc, int64_t got, int d) {
  const int64_t n = nc + got;
  int64_t *ix = malloc((size_t)n * sizeof *ix);
  char *drop = calloc((size_t)n, 1);
  if (!ix || !drop) {
    free(ix);
    free(drop);
    return -1;
  }
  for (int64_t i = 0; i < n; i++) ix[i] = i;
  by_point_t t = {cx, d};
  qsort_r(ix, (size_t)n, sizeof *ix, cmp_point, &t);
  for (int64_t i = 1, first = 0; i < n; i++) { /* the lowest row of each point stays */
    int c = 0;
    while (c < d && cx[ix[first] * d + c] == cx[ix[i] * d + c]) c++;
    if (c == d)
      drop[ix[i]] = 1;
    else
      first = i;
  }
  int64_t kept = nc;
  for (int64_t i = nc; i < n; i++)
    if (!drop[i]) memmove(cx + kept++ * d, cx + i * d, (size_t)d * sizeof *cx);
  free(ix);
  free(drop);
  return kept - nc;
}

/* The hash of a point's d float32 values (0 and -0 alike). */
static uint64_t point_hash(const float *x, int d) {
  float v[64];
  uint64_t h = 0;
  for (int j0 = 0; j0 < d; j0 += 64) {
    const int n = d - j0 < 64 ? d - j0 : 64;
    for (int j = 0; j < n; j++) v[j] = x[j0 + j] + 0.0f; /* -0 + 0 is +0 */
    h = XXH3_64bits_withSeed(v, (size_t)n * sizeof *v, h);
  }
  return h;
}

/* D2[i] = 0 for every customer at the point of one of the nc candidates in cx. update_d2()
 * takes each customer's nearest candidate from the float32 distances, which cannot tell
 * candidates apart that lie close next to large values: a customer at a candidate's point
 * had kept a D^2 above 0, so the potential never reached 0 and a store of fewer distinct
 * rows than K was blamed on the draws. CS_OK, or CS_ENOMEM. Local. */
static int zero_on_candidates(const cs_matrix_t *m, const double *cx, int nc, double *d2) {
  const int d = m->d;
  size_t size = 2;
  while (size < 2 * (size_t)nc) size *= 2;
  int32_t *slot = malloc(size * sizeof *slot);
  float *cf = malloc((size_t)nc * (size_t)d * sizeof *cf);
  if (!slot || !cf) {
    free(slot);
    free(cf);
    return CS_ENOMEM;
  }
  for (size_t s = 0; s < size; s++) slot[s] = -1;
  for (int c = 0; c < nc; c++) {
    for (int j = 0; j < d; j++) cf[(int64_t)c * d + j] = (float)cx[(int64_t)c * d + j];
    size_t s = point_hash(cf + (int64_t)c * d, d) & (size - 1);
    while (slot[s] >= 0) s = (s + 1) & (size - 1);
    slot[s] = c;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m->n; i++) {
    if (!(d2[i] > 0)) continue;
    const float *x = m->x + i * d;
    for (size_t s = point_hash(x, d) & (size - 1); slot[s] >= 0; s = (s + 1) & (size - 1)) {
      const float *c = cf + (int64_t)slot[s] * d;
      int j = 0;
      while (j < d && x[j] == c[j]) j++;
      if (j == d) {
        d2[i] = 0;
        break;
      }
    }
  }
  free(slot);
  free(cf);
  return CS_OK;
}

/* D2[i] = min(D2[i], distance to the nearest of the nc candidates in c). Local. */
static int update_d2(const cs_matrix_t *m, const double *c, int nc, double *d2) {
  int d = m->d;
  cs_panel_t p = {0};
  if (cs_panel_set(&p, c, nc, d) != CS_OK) return CS_ENOMEM;
  const int64_t nb = (m->n + CS_FIXED_BLOCK - 1) / CS_FIXED_BLOCK;
#pragma omp parallel
  {
    int32_t lab[CS_FIXED_BLOCK];
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      int64_t i0 = b * CS_FIXED_BLOCK, n = m->n - i0 < CS_FIXED_BLOCK ? m->n - i0 : CS_FIXED_BLOCK;
      cs_kernel_assign(m->x + i0 * d, n, d, &p, lab, NULL);
      for (int64_t i = 0; i < n; i++) {
        double e = cs_kernel_sqdist(m->x + (i0 + i) * d, c + (int64_t)lab[i] * d, d);
        if (e < d2[i0 + i]) d2[i0 + i] = e;
      }
    }
  }
  cs_panel_free(&p);
  return CS_OK;
}

/* Local, identical on every rank: weighted k-means++ then weighted Lloyd on the candidates. */
static void recluster(const double *cx, const double *w, int nc, int d, int k, uint64_t seed,
                      double *out) {
  double *d2 = malloc((size_t)nc * sizeof *d2);
  int *lab = malloc((size_t)nc * sizeof *lab);
  double *sum = malloc((size_t)k * (size_t)(d + 1) * sizeof *sum);
  cs_rng_t g;
  cs_rng_init(&g, seed, 0x7ec1u, 0);
  /* First centre: the heaviest candidate (ties: the first). */
  int first = 0;
  for (int i = 1; i < nc; i++)
    if (w[i] > w[first]) first = i;
  memcpy(out, cx + (int64_t)first * d, (size_t)d * sizeof *out);
  for (int i = 0; i < nc; i++) d2[i] = cs_kernel_sqdist_dd(cx + (int64_t)i * d, out, d);
  for (int q = 1; q < k; q++) {
    double tot = 0;
    for (int i = 0; i < nc; i++) tot += w[i] * d2[i];
    double r = cs_rng_uniform(&g) * tot, acc = 0;
    int pick = nc - 1;
    for (int i = 0; i < nc; i++) {
      acc += w[i] * d2[i];
      if (acc > r && w[i] * d2[i] > 0) {
        pick = i;
        break;
      }
    }
    memcpy(out + (int64_t)q * d, cx + (int64_t)pick * d, (size_t)d * sizeof *out);
    for (int i = 0; i < nc; i++) {
      double e = cs_kernel_sqdist_dd(cx + (int64_t)i * d, out + (int64_t)q * d, d);
      if (e < d2[i]) d2[i] = e;
    }
  }
  for (int it = 0; it < 30; it++) {
    memset(sum, 0, (size_t)k * (size_t)(d + 1) * sizeof *sum);
    int changed = 0;
    for (int i = 0; i < nc; i++) {
      int best = 0;
      double bd = INFINITY;
      for (int q = 0; q < k; q++) {
        double e = cs_kernel_sqdist_dd(cx + (int64_t)i * d, out + (int64_t)q * d, d);
        if (e < bd) {
          bd = e;
          best = q;
        }
      }
      changed += it == 0 || lab[i] != best;
      lab[i] = best;
      double *s = sum + (int64_t)best * (d + 1);
      for (int j = 0; j < d; j++) s[j] += w[i] * cx[(int64_t)i * d + j];
      s[d] += w[i];
    }
    for (int q = 0; q < k; q++) {
      const double *s = sum + (int64_t)q * (d + 1);
      if (s[d] > 0)
        for (int j = 0; j < d; j++) out[(int64_t)q * d + j] = s[j] / s[d];
    }
    if (!changed) break;
  }
  free(d2);
  free(lab);
  free(sum);
}

int cs__kmeans_par(cs_ctx_t *ctx, const cs_matrix_t *m, int k, uint64_t seed, int restart,
                   double *centroids) {
  int status = CS_OK;
  int d = m->d;
  /* Records keep cand_t aligned: round up to 8 bytes. */
  size_t rec = (sizeof(cand_t) + (size_t)d * sizeof(float) + 7) & ~(size_t)7;
  double *d2 = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *d2), "k-means|| distances");
  double *cx = NULL, *cw = NULL;
  char *mine = NULL, *all = NULL;
  int nc = 0;
  CS_TRY(cs_par_agree(ctx, d2 ? CS_OK : CS_ENOMEM));
  /* Round 0: one customer, chosen by k-means++'s own first draw. */
  cx = malloc((size_t)d * sizeof *cx);
  CS_TRY(cs_par_agree(ctx, cx ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(cs__kmeans_pp(ctx, m, 1, seed, restart, cx));
  nc = 1;
  for (int64_t i = 0; i < m->n; i++) d2[i] = INFINITY;
  CS_TRY(cs_par_agree(ctx, update_d2(m, cx, 1, d2)));
  double l_over = 2.0 * k, mx[2] = {0, 1};
  cs_matrix_max(m, mx);
  int64_t n_all = m->n;
  CS_TRY(cs_par_allreduce(ctx, mx, 2, CS_DT_F64, CS_OP_MAX));
  CS_TRY(cs_par_allreduce(ctx, &n_all, 1, CS_DT_I64, CS_OP_SUM));
  int sd = cs_fixed_exponent(4.0 * mx[0] * mx[0] * d * mx[1], n_all);
  int exhausted = 0, round = 0;
  /* More rounds, up to 4 x ROUNDS, while the draws have found fewer than K candidates (a
   * few tight groups of customers: 57 candidates for K = 60 where 60 were there). */
  for (round = 0; round < ROUNDS || (nc < k && round < 4 * ROUNDS); round++) {
    CS_TRY(cs__seed_poll(ctx, "k-means||", restart, round + 1, round < ROUNDS ? ROUNDS : 4 * ROUNDS));
    /* phi: exact potential of the current candidates. */
    cs_fixacc_t a;
    cs_fixacc_init(&a, sd);
    for (int64_t i = 0; i < m->n; i++) cs_fixacc_add(&a, d2[i] * (m->w ? m->w[i] : 1.0));
    cs_fixed_t phi_fx = cs_fixacc_total(&a);
    CS_TRY(cs_par_sum_i128(ctx, &phi_fx));
    double phi = cs_from_fixed(phi_fx, sd);
    if (!(phi > 0)) { /* every customer is already a candidate */
      exhausted = 1;
      break;
    }
    uint64_t s = mix(seed, restart, round);
    int64_t cnt = 0;
    free(mine);
    mine = NULL;
    for (int pass = 0; pass < 2; pass++) { /* count, then copy */
      cnt = 0;
      for (int64_t i = 0; i < m->n; i++) {
        double pr = l_over * (m->w ? m->w[i] : 1.0) * d2[i] / phi;
        cs_rng_t g;
        cs_rng_init(&g, s, 0x9a11u, (uint64_t)m->id[i]);
        if (!(cs_rng_uniform32(&g) < pr)) continue;
        if (pass) {
          cand_t *c = (cand_t *)(mine + cnt * (int64_t)rec);
          c->id = m->id[i];
          memcpy(c->x, m->x + i * d, (size_t)d * sizeof(float));
        }
        cnt++;
      }
      if (!pass) {
        mine = malloc((size_t)(cnt ? cnt : 1) * rec);
        CS_TRY(cs_par_agree(ctx, mine ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
      }
    }
    int64_t bytes = 0;
    free(all);
    all = NULL;
    CS_TRY(cs_par_allgatherv(ctx, mine, cnt * (int64_t)rec, (void **)&all, &bytes));
    int64_t got = bytes / (int64_t)rec;
    if (!got) continue;
    /* The same order on every decomposition and for any order of the rows: by global row,
     * the reclustering (its draws, its ties) had depended on where the customers stood. */
    qsort(all, (size_t)got, rec, cmp_id);
    double *grown = realloc(cx, (size_t)(nc + got) * (size_t)d * sizeof *cx);
    CS_TRY(cs_par_agree(ctx, grown ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    cx = grown;
    for (int64_t c = 0; c < got; c++) {
      const cand_t *cd = (const cand_t *)(all + c * (int64_t)rec);
      for (int j = 0; j < d; j++) cx[(int64_t)(nc + c) * d + j] = cd->x[j];
    }
    got = distinct(cx, nc, got, d);
    CS_TRY(cs_par_agree(ctx, got >= 0 ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    if (got) CS_TRY(cs_par_agree(ctx, update_d2(m, cx + (int64_t)nc * d, (int)got, d2)));
    nc += (int)got;
    CS_TRY(cs_par_agree(ctx, zero_on_candidates(m, cx, nc, d2)));
    cs_log_debug("k-means||: round %d: %lld candidates (%d in all)", round + 1, (long long)got, nc);
  }
  CS_CHECK(nc >= k || !exhausted, CS_EDATA,
           "K = %d: the customers of positive weight have only %d distinct feature rows "
           "(k-means|| took each as a candidate); choose a smaller K", k, nc);
  CS_CHECK(nc >= k, CS_EDATA, "k-means||: only %d distinct candidates for K = %d after %d "
           "rounds (the draws missed some tight groups of customers): use --init kmeans++ or "
           "another --seed", nc, k, round);
  /* Weight each candidate by the customers nearest to it (exact sums). */
  {
    cs_panel_t p = {0};
    cs_fixed_t *wf = calloc((size_t)nc, sizeof *wf);
    cw = malloc((size_t)nc * sizeof *cw);
    int ok = wf && cw && cs_panel_set(&p, cx, nc, d) == CS_OK;
    CS_TRY(cs_par_agree(ctx, ok ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    int sw = cs_fixed_exponent(mx[1], n_all);
    double wscale = ldexp(1.0, sw);
    int32_t lab[CS_FIXED_BLOCK];
    for (int64_t i0 = 0; i0 < m->n; i0 += CS_FIXED_BLOCK) {
      int64_t n = m->n - i0 < CS_FIXED_BLOCK ? m->n - i0 : CS_FIXED_BLOCK;
      cs_kernel_assign(m->x + i0 * d, n, d, &p, lab, NULL);
      for (int64_t i = 0; i < n; i++)
        wf[lab[i]] += (int64_t)((m->w ? m->w[i0 + i] : 1.0) * wscale);
    }
    cs_panel_free(&p);
    status = cs_par_sum_i128_n(ctx, wf, nc);
    for (int c = 0; c < nc; c++) cw[c] = cs_from_fixed(wf[c], sw);
    free(wf);
    CS_TRY(status);
  }
  cs_log_info("k-means||: %d candidates from %d rounds, reclustered to K = %d", nc, round, k);
  recluster(cx, cw, nc, d, k, mix(seed, restart, 99), centroids);
fail:
  cs_free(d2);
  free(cx);
  free(cw);
  free(mine);
  free(all);
  return status;
}
