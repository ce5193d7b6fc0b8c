/* segment/lloyd.c: Lloyd iterations with exact, order-independent reductions.
 *
 * One pass per iteration fuses the assignment (kernels/assign.c) with the partial M-step:
 * per-thread sums of w*x per segment, weights, counts and the exact inertia, as fixed-point
 * integers (int64 inside a block of rows, flushed to 128-bit totals), then one packed
 * allreduce of K*(D+2)+2 integers. Integer sums do not depend on order, so the centroids are
 * bit-identical for any ranks x threads; each row's distance arithmetic is the same wherever
 * it lands. Ties go to the lowest centroid index. Empty segments are re-seeded at the
 * farthest customers (ties to the lowest global row). */
#include "custseg/segment.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define BLOCK_ROWS CS_FIXED_BLOCK /* rows per kernel call; int64 block sums stay below 2^62 */

typedef struct lloyd {
  cs_ctx_t *ctx;
  double *xnorm;       /* ||x_i||^2 per local row, computed once */
  int64_t *xq;         /* the same as fixed-point integers (unweighted runs) */
  const cs_matrix_t *m;
  int k, d, nthreads;
  int64_t L;           /* packed length */
  cs_kscale_t sc;
  cs_panel_t panel;
  cs_fixed_t *tacc;    /* nthreads x L */
  cs_fixed_t *acc;     /* L, reduced */
  double inertia;      /* of the last step */
  int32_t *labels;
} lloyd_t;

/* Offsets in the packed vector: per segment Sum w x (K x D), Sum w, count, Sum w ||x||^2,
 * then the number of changed labels. */
#define OFF_W(l) ((int64_t)(l)->k * (l)->d)
#define OFF_N(l) (OFF_W(l) + (l)->k)
#define OFF_Q(l) (OFF_N(l) + (l)->k)
#define OFF_CHANGES(l) (OFF_Q(l) + (l)->k)

/* E-step and partial M-step against centroids c; fills labels and the reduced sums. */
static int step(lloyd_t *l, const double *c, int count_changes) {
  int status = CS_OK;
  const cs_matrix_t *m = l->m;
  const int k = l->k, d = l->d;
  const int64_t L = l->L, nb = (m->n + BLOCK_ROWS - 1) / BLOCK_ROWS;
  CS_CHECK(cs_panel_set(&l->panel, c, k, d) == CS_OK, CS_ENOMEM, "out of memory (panel)");
  memset(l->tacc, 0, (size_t)l->nthreads * (size_t)L * sizeof *l->tacc);
  const double xs = ldexp(1.0, l->sc.sx), ws = ldexp(1.0, l->sc.sw), qs = ldexp(1.0, l->sc.sd);
  const int64_t w_unit = (int64_t)ws; /* trunc(1 * 2^sw): what a weight of 1 adds */
#pragma omp parallel
  {
    int t = omp_get_thread_num();
    cs_fixed_t *tot = l->tacc + (int64_t)t * L;
    int64_t *blk = malloc((size_t)(L > 0 ? L : 1) * sizeof *blk);
    int32_t *lab = malloc(BLOCK_ROWS * sizeof *lab);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      int64_t i0 = b * BLOCK_ROWS, n = m->n - i0 < BLOCK_ROWS ? m->n - i0 : BLOCK_ROWS;
      const float *x = m->x + i0 * d;
      cs_kernel_assign(x, n, d, &l->panel, lab, NULL);
      memset(blk, 0, (size_t)L * sizeof *blk);
      cs_kernel_accumulate(x, n, d, lab, m->w ? m->w + i0 : NULL, xs, blk);
      int64_t changed = 0, *bw = blk + OFF_W(l), *bn = blk + OFF_N(l), *bq = blk + OFF_Q(l);
      int32_t *prev = l->labels + i0;
      if (m->w) {
        for (int64_t i = 0; i < n; i++) {
          int q = lab[i];
          double w = m->w[i0 + i];
          bw[q] += (int64_t)(w * ws);
          bn[q] += 1;
          bq[q] += (int64_t)(l->xnorm[i0 + i] * w * qs);
          changed += prev[i] != q;
          prev[i] = q;
        }
      } else {
        /* Unweighted: w = 1, so the weight is the count and ||x||^2 was converted once. */
        const int64_t *xq = l->xq + i0;
        for (int64_t i = 0; i < n; i++) {
          int q = lab[i];
          bn[q] += 1;
          bq[q] += xq[i];
          changed += prev[i] != q;
          prev[i] = q;
        }
        for (int q = 0; q < k; q++) bw[q] = bn[q] * w_unit;
      }
      if (count_changes) blk[OFF_CHANGES(l)] = changed;
      for (int64_t v = 0; v < L; v++) tot[v] += blk[v];
    }
    free(blk);
    free(lab);
  }
  memset(l->acc, 0, (size_t)L * sizeof *l->acc);
  for (int t = 0; t < l->nthreads; t++)
    for (int64_t v = 0; v < L; v++) l->acc[v] += l->tacc[(int64_t)t * L + v];
  CS_TRY(cs_par_sum_i128_n(l->ctx, l->acc, L));
  /* Inertia of this assignment against c, from the sums (no per-row distance pass):
   * sum_k [ Q_k - 2 c_k . S_k + W_k ||c_k||^2 ], evaluated identically on every rank. */
  double in = 0;
  for (int q = 0; q < k; q++) {
    double wq = cs_from_fixed(l->acc[OFF_W(l) + q], l->sc.sw), dot = 0, cc = 0;
    const double *cq = c + (int64_t)q * d;
    for (int j = 0; j < d; j++) {
      dot += cq[j] * cs_from_fixed(l->acc[(int64_t)q * d + j], l->sc.sx);
      cc += cq[j] * cq[j];
    }
    double e = cs_from_fixed(l->acc[OFF_Q(l) + q], l->sc.sd) - 2 * dot + wq * cc;
    in += e > 0 ? e : 0;
  }
  l->inertia = in;
fail:
  return status;
}

typedef struct far {
  double d2;
  int64_t row;
} far_t;

static int far_before(far_t a, far_t b) { return a.d2 > b.d2 || (a.d2 == b.d2 && a.row < b.row); }

/* Re-seed the empty segments listed in `empty` (ne of them) at the ne customers farthest
 * from their centroid in c (the centroids of the last assignment). Collective. */
static int reseed(lloyd_t *l, const double *c, const int *empty, int ne, double *c_new) {
  int status = CS_OK;
  const cs_matrix_t *m = l->m;
  int d = l->d, size = l->ctx->size;
  far_t *top = malloc((size_t)ne * sizeof *top), *all = NULL;
  double *vec = calloc((size_t)ne * (size_t)d, sizeof *vec);
  CS_TRY(cs_par_agree(l->ctx, top && vec ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  for (int e = 0; e < ne; e++) top[e] = (far_t){-1.0, INT64_MAX};
  for (int64_t i = 0; i < m->n; i++) {
    far_t f = {cs_kernel_sqdist(m->x + i * d, c + (int64_t)l->labels[i] * d, d), m->row[i]};
    if (!far_before(f, top[ne - 1])) continue;
    int p = ne - 1;
    while (p > 0 && far_before(f, top[p - 1])) {
      top[p] = top[p - 1];
      p--;
    }
    top[p] = f;
  }
  all = malloc((size_t)size * (size_t)ne * sizeof *all);
  CS_TRY(cs_par_agree(l->ctx, all ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(cs_par_allgather(l->ctx, top, (size_t)ne * sizeof *top, all));
  /* Global top ne, in order: selection over size * ne candidates. */
  for (int e = 0; e < ne; e++) {
    int bi = -1;
    for (int i = 0; i < size * ne; i++)
      if (all[i].row != INT64_MAX && (bi < 0 || far_before(all[i], all[bi]))) bi = i;
    CS_CHECK(bi >= 0, CS_EDATA, "cannot re-seed an empty segment: fewer distinct customers than K");
    top[e] = all[bi];
    all[bi].row = INT64_MAX;
  }
  for (int64_t i = 0; i < m->n; i++)
    for (int e = 0; e < ne; e++)
      if (m->row[i] == top[e].row)
        for (int j = 0; j < d; j++) vec[(int64_t)e * d + j] = (double)m->x[i * d + j];
  CS_TRY(cs_par_allreduce(l->ctx, vec, (int64_t)ne * d, CS_DT_F64, CS_OP_SUM));
  for (int e = 0; e < ne; e++)
    memcpy(c_new + (int64_t)empty[e] * d, vec + (int64_t)e * d, (size_t)d * sizeof *vec);
fail:
  free(top);
  free(all);
  free(vec);
  return status;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Mean per-feature variance of the matrix (for the relative tolerance), exactly. */
static int mean_variance(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_all, double maxabs,
                         double *out) {
  int status = CS_OK, d = m->d;
  cs_fixed_t *s = calloc((size_t)2 * (size_t)d, sizeof *s);
  CS_TRY(cs_par_agree(ctx, s ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  int s1 = cs_fixed_exponent(maxabs, n_all), s2 = cs_fixed_exponent(maxabs * maxabs, n_all);
  for (int j = 0; j < d; j++) {
    cs_fixacc_t a1, a2;
    cs_fixacc_init(&a1, s1);
    cs_fixacc_init(&a2, s2);
    for (int64_t i = 0; i < m->n; i++) {
      double x = m->x[i * d + j];
      cs_fixacc_add(&a1, x);
      cs_fixacc_add(&a2, x * x);
    }
    s[j] = cs_fixacc_total(&a1);
    s[d + j] = cs_fixacc_total(&a2);
  }
  CS_TRY(cs_par_sum_i128_n(ctx, s, 2 * (int64_t)d));
  double v = 0;
  for (int j = 0; j < d; j++) {
    double mean = cs_from_fixed(s[j], s1) / (double)n_all;
    v += cs_from_fixed(s[d + j], s2) / (double)n_all - mean * mean;
  }
  *out = v / d;
fail:
  free(s);
  return status;
}

void cs_kmeans_result_free(cs_kmeans_result_t *r) {
  free(r->centroids);
  cs_free(r->labels);
  free(r->sizes);
  free(r->weight_sums);
  free(r->trace);
  memset(r, 0, sizeof *r);
}

/* One restart: from centroids c (K x D, overwritten) to convergence. */
static int run(lloyd_t *l, const cs_kmeans_opts_t *o, double tol_abs, double *c,
               cs_kmeans_result_t *r) {
  int status = CS_OK;
  int k = l->k, d = l->d;
  double *c_new = malloc((size_t)k * (size_t)d * sizeof *c_new);
  double *times = malloc((size_t)(o->max_iter + 1) * sizeof *times);
  int *empty = malloc((size_t)k * sizeof *empty);
  r->trace = malloc((size_t)(o->max_iter + 1) * sizeof *r->trace);
  CS_TRY(cs_par_agree(l->ctx, c_new && times && empty && r->trace ? CS_OK
                               : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  r->converged = 0;
  r->relocations = 0;
  int it = 0, strict = 0;
  for (it = 1; it <= o->max_iter; it++) {
    double t0 = cs_wtime();
    CS_TRY(step(l, c, it > 1));
    double inertia = l->inertia;
    int64_t changes = (int64_t)l->acc[OFF_CHANGES(l)];
    r->trace[it - 1] = inertia;
    if (it > 1 && changes == 0) { /* labels unchanged: the centroids are a fixed point */
      strict = 1;
      r->converged = 1;
      times[it - 1] = cs_wtime() - t0;
      cs_log_info("k-means: iteration %3d  inertia %.10g  labels unchanged: converged", it,
                  inertia);
      break;
    }
    int ne = 0;
    for (int q = 0; q < k; q++) {
      cs_fixed_t wq = l->acc[OFF_W(l) + q];
      if (wq <= 0) {
        empty[ne++] = q;
        continue;
      }
      double wsum = cs_from_fixed(wq, l->sc.sw);
      for (int j = 0; j < d; j++)
        c_new[(int64_t)q * d + j] = cs_from_fixed(l->acc[(int64_t)q * d + j], l->sc.sx) / wsum;
    }
    if (ne) {
      CS_TRY(reseed(l, c, empty, ne, c_new));
      r->relocations += ne;
      cs_log_info("k-means: iteration %d: %d empty segment(s) re-seeded at the farthest customers",
                  it, ne);
    }
    double shift = 0;
    for (int64_t v = 0; v < (int64_t)k * d; v++) {
      double e = c_new[v] - c[v];
      shift += e * e;
    }
    memcpy(c, c_new, (size_t)k * (size_t)d * sizeof *c);
    times[it - 1] = cs_wtime() - t0;
    cs_log_info("k-means: iteration %3d  inertia %.10g  shift %.3e  changed %lld", it, inertia,
                shift, (long long)(it > 1 ? changes : -1));
    if (shift <= tol_abs) {
      r->converged = 1;
      break;
    }
  }
  if (it > o->max_iter) it = o->max_iter;
  r->iterations = it;
  if (!strict) {
    /* Labels and inertia for the final centroids (not the ones before the last update). */
    CS_TRY(step(l, c, 0));
  }
  r->inertia = l->inertia;
  qsort(times, (size_t)it, sizeof *times, cmp_double);
  r->seconds_per_iteration = it % 2 ? times[it / 2] : 0.5 * (times[it / 2 - 1] + times[it / 2]);
fail:
  free(c_new);
  free(times);
  free(empty);
  return status;
}

int cs_kmeans_fit(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_global,
                  const cs_kmeans_opts_t *o, cs_kmeans_result_t *best) {
  int status = CS_OK;
  lloyd_t l = {0};
  cs_kmeans_result_t cur = {0};
  double *c = NULL;
  int k = o->k, d = m->d;
  memset(best, 0, sizeof *best);
  CS_CHECK(k >= 1, CS_EUSAGE, "--k must be at least 1, got %d", k);
  CS_CHECK(k <= n_global, CS_EDATA, "--k %d is larger than the number of customers (%lld)", k,
           (long long)n_global);
  CS_CHECK(o->max_iter >= 1, CS_EUSAGE, "--max-iter must be at least 1");
  l.ctx = ctx;
  l.m = m;
  l.k = k;
  l.d = d;
  l.nthreads = omp_get_max_threads();
  l.L = (int64_t)k * d + 3 * (int64_t)k + 1;
  l.tacc = malloc((size_t)l.nthreads * (size_t)l.L * sizeof *l.tacc);
  l.acc = malloc((size_t)l.L * sizeof *l.acc);
  l.labels = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *l.labels), "labels");
  c = malloc((size_t)k * (size_t)d * sizeof *c);
  l.xnorm = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *l.xnorm), "row norms");
  l.xq = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *l.xq), "row norms");
  CS_TRY(cs_par_agree(ctx, l.tacc && l.acc && l.labels && c && l.xnorm && l.xq ? CS_OK
                           : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));

  /* Fixed-point scales from global bounds: |x| <= maxabs, w <= maxw. */
  double mx[2] = {0, 1};
  for (int64_t i = 0; i < m->n * d; i++) mx[0] = fmax(mx[0], fabs((double)m->x[i]));
  for (int64_t i = 0; m->w && i < m->n; i++) mx[1] = fmax(mx[1], m->w[i]);
  CS_TRY(cs_par_allreduce(ctx, mx, 2, CS_DT_F64, CS_OP_MAX));
  if (o->init == CS_INIT_GIVEN)
    for (int64_t v = 0; v < (int64_t)k * d; v++) mx[0] = fmax(mx[0], fabs(o->init_centroids[v]));
  l.sc.sx = cs_fixed_exponent(mx[0] * mx[1], n_global);
  l.sc.sw = cs_fixed_exponent(mx[1], n_global);
  l.sc.sd = cs_fixed_exponent(mx[0] * mx[0] * d * mx[1], n_global); /* Sum w ||x||^2 */
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m->n; i++) {
    double s2 = 0;
    for (int j = 0; j < d; j++) s2 += (double)m->x[i * d + j] * m->x[i * d + j];
    l.xnorm[i] = s2;
    l.xq[i] = (int64_t)(s2 * ldexp(1.0, l.sc.sd));
  }
  double var = 0;
  CS_TRY(mean_variance(ctx, m, n_global, mx[0], &var));
  double tol_abs = o->tol * var;

  int restarts = o->init == CS_INIT_GIVEN ? 1 : (o->n_init > 0 ? o->n_init : 1);
  for (int rs = 0; rs < restarts; rs++) {
    if (o->init == CS_INIT_GIVEN)
      memcpy(c, o->init_centroids, (size_t)k * (size_t)d * sizeof *c);
    else
      CS_TRY(cs__kmeans_pp(ctx, m, k, o->seed, rs, c));
    memset(&cur, 0, sizeof cur);
    for (int64_t i = 0; i < m->n; i++) l.labels[i] = -1;
    CS_TRY(run(&l, o, tol_abs, c, &cur));
    cs_log_info("k-means: restart %d/%d: inertia %.10g after %d iterations%s", rs + 1, restarts,
                cur.inertia, cur.iterations, cur.converged ? "" : " (not converged)");
    if (rs == 0 || cur.inertia < best->inertia) {
      cs_kmeans_result_free(best);
      *best = cur;
      best->restart = rs;
      best->centroids = malloc((size_t)k * (size_t)d * sizeof *best->centroids);
      best->labels = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *best->labels), "labels");
      best->sizes = calloc((size_t)k, sizeof *best->sizes);
      best->weight_sums = calloc((size_t)k, sizeof *best->weight_sums);
      CS_TRY(cs_par_agree(ctx, best->centroids && best->labels && best->sizes && best->weight_sums
                                   ? CS_OK : CS_ENOMEM));
      memcpy(best->centroids, c, (size_t)k * (size_t)d * sizeof *c);
      memcpy(best->labels, l.labels, (size_t)m->n * sizeof *l.labels);
      for (int q = 0; q < k; q++) {
        best->sizes[q] = (int64_t)l.acc[OFF_N(&l) + q];
        best->weight_sums[q] = cs_from_fixed(l.acc[OFF_W(&l) + q], l.sc.sw);
      }
    } else {
      free(cur.trace);
    }
    memset(&cur, 0, sizeof cur);
  }
  best->k = k;
  best->d = d;
  /* Order-independent verification hash of (customer id, label). */
  uint64_t h = 0;
  for (int64_t i = 0; i < m->n; i++) {
    int64_t pair[2] = {m->id[i], best->labels[i]};
    h += XXH3_64bits(pair, sizeof pair);
  }
  CS_TRY(cs_par_allreduce(ctx, &h, 1, CS_DT_U64, CS_OP_SUM));
  best->verification_hash = h;
fail:
  cs_panel_free(&l.panel);
  cs_free(l.xnorm);
  cs_free(l.xq);
  free(l.tacc);
  free(l.acc);
  cs_free(l.labels);
  free(c);
  free(cur.trace);
  if (status < 0) cs_kmeans_result_free(best);
  return status;
}
