/* segment/lloyd.c: Lloyd iterations with exact, order-independent reductions: restarts,
 * convergence, checkpoints at iteration boundaries and the verification hash. Each iteration
 * is one step (lloyd_step.c, or bounds.c's bounded step for the accelerated variants). Empty
 * segments are re-seeded at the farthest customers (ties to the lowest global row). */
#include "custseg/segment.h"

#include "lloyd_impl.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct far {
  double d2;
  int64_t row;
} far_t;

static int far_before(far_t a, far_t b) { return a.d2 > b.d2 || (a.d2 == b.d2 && a.row < b.row); }

/* The error for segment q left empty (of no customer or no weight). */
static const char *empty_msg(const lloyd_t *l, int q) {
  static char msg[400];
  snprintf(msg, sizeof msg, "K = %d: segment %d stays empty: re-seeding it at the farthest "
           "customer took none (fewer distinct customers of positive weight than K, or "
           "customers too close together for the float32 distances to tell apart); choose a "
           "smaller K", l->k, q);
  return msg;
}

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
    if (m->w && !(m->w[i] > 0)) continue; /* it would seed a segment of no weight */
    far_t f = {cs_kernel_sqdist(m->x + i * d, c + (int64_t)l->labels[i] * d, d), m->row[i]};
    /* A customer on its centroid would seed a copy of it, empty again. */
    if (!(f.d2 > 0) || !far_before(f, top[ne - 1])) continue;
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
    CS_CHECK(bi >= 0, CS_EDATA, "K = %d: a segment became empty and no customer is left to "
             "re-seed it (every customer of positive weight sits on a centroid: fewer distinct "
             "feature rows than K); choose a smaller K", l->k);
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

/* One step against c: a bounded one where the bounds are valid, else a full one. Its kind,
 * time and rank 0's share of row-centroid distances computed go to the --verbose log (where
 * an accelerated fit spends its time, docs/performance.md). */
static int do_step(lloyd_t *l, const double *c, int count_changes) {
  const double t0 = cs_wtime();
  const int64_t dist0 = l->distance_rows;
  const int bounded = l->u && l->bounds_valid && !l->full_next;
  int status = bounded ? cs__step_bounded(l, c, count_changes) : cs__step_full(l, c, count_changes);
  if (status == CS_OK)
    cs_log_debug("k-means: %s step %.2f ms, %.1f%% of the distances on rank 0",
                 bounded ? "bounded" : "full", 1e3 * (cs_wtime() - t0),
                 l->m->n ? 100.0 * (double)(l->distance_rows - dist0) / ((double)l->m->n * l->k) : 0.0);
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
  /* Row by row (the matrix is row-major), per-thread exact accumulators merged: integers, so
   * the merge order does not matter. */
#pragma omp parallel
  {
    cs_fixacc_t *a = malloc((size_t)2 * (size_t)d * sizeof *a);
    for (int j = 0; j < d; j++) {
      cs_fixacc_init(&a[j], s1);
      cs_fixacc_init(&a[d + j], s2);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < m->n; i++)
      for (int j = 0; j < d; j++) {
        double x = m->x[i * d + j];
        cs_fixacc_add(&a[j], x);
        cs_fixacc_add(&a[d + j], x * x);
      }
#pragma omp critical
    for (int j = 0; j < 2 * d; j++) s[j] += cs_fixacc_total(&a[j]);
    free(a);
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

/* Mean per-feature variance of an unweighted matrix from a full step's sums (exact
 * integers, so the same on every rank): (Sum ||x||^2 / n - Sum_j mean_j^2) / d. */
static double variance_from_sums(const lloyd_t *l) {
  const int k = l->k, d = l->d;
  cs_fixed_t n = 0, q = 0;
  for (int c = 0; c < k; c++) {
    n += l->acc[OFF_N(l) + c];
    q += l->acc[OFF_Q(l) + c];
  }
  if (n <= 0) return 0;
  double v = cs_from_fixed(q, l->sc.sd) / (double)n;
  for (int j = 0; j < d; j++) {
    cs_fixed_t s = 0;
    for (int c = 0; c < k; c++) s += l->acc[(int64_t)c * d + j];
    double mean = cs_from_fixed(s, l->sx[j]) / (double)n;
    v -= mean * mean;
  }
  return v > 0 ? v / d : 0;
}

/* At the boundary after update `it` of restart `rs`: the ranks agree on a pending signal or a
 * due periodic checkpoint; the state goes to the checkpoint callback; a signal ends the fit
 * with CS_EINTERRUPTED. Collective. */
static int boundary(lloyd_t *l, const cs_kmeans_opts_t *o, cs_kmeans_state_t *ck, int rs, int it,
                    double *c, cs_kmeans_result_t *r, double *last) {
  int status = CS_OK;
  cs_signal_test_hook(l->ctx->rank);
  int sig = cs_signal_pending();
  int64_t flag[2] = {sig ? 2 : 0, sig};
  if (!sig && o->checkpoint && o->checkpoint_every > 0 && cs_wtime() - *last >= o->checkpoint_every)
    flag[0] = 1;
  CS_TRY(cs_par_allreduce(l->ctx, flag, 2, CS_DT_I64, CS_OP_MAX));
  if (!flag[0]) return CS_OK;
  if (o->checkpoint) {
    ck->restart = rs;
    ck->iteration = it;
    ck->centroids = c;
    ck->trace = r->trace;
    ck->relocations = r->relocations;
    CS_TRY(o->checkpoint(o->checkpoint_arg, ck));
    *last = cs_wtime();
  }
  CS_CHECK(flag[0] < 2, CS_EINTERRUPTED, "interrupted by %s after k-means iteration %d%s%s",
           flag[1] == SIGUSR1 ? "SIGUSR1" : "SIGTERM", it,
           o->checkpoint ? "; " : " (no checkpoint: ", o->checkpoint ? o->checkpoint_note : "a --k "
           "range is not checkpointed)");
fail:
  return status;
}

/* A signal during the seeding of restart rs: with a checkpoint callback and a finished
 * restart to keep, the state "restart rs before its first iteration" (its seeds are drawn
 * again on resume: the same draws) and the best restart so far are checkpointed; the message
 * says what was kept. Returns CS_EINTERRUPTED, or the checkpoint's failure. Collective. */
static int seeding_interrupted(const cs_kmeans_opts_t *o, cs_kmeans_state_t *ck, int rs,
                               const cs_kmeans_result_t *best, double *c) {
  if (o->checkpoint && best) {
    memset(c, 0, (size_t)ck->k * (size_t)ck->d * sizeof *c); /* not read on resume */
    ck->restart = rs;
    ck->iteration = 0;
    ck->centroids = c;
    ck->trace = NULL;
    ck->relocations = 0;
    ck->best_restart = best->restart;
    ck->best_inertia = best->inertia;
    ck->best_iterations = best->iterations;
    ck->best_converged = best->converged;
    ck->best_relocations = best->relocations;
    ck->best_centroids = best->centroids;
    ck->best_trace = best->trace;
    cs_error_t saved = *cs_error_get();
    cs_error_clear();
    int status = o->checkpoint(o->checkpoint_arg, ck);
    if (status < 0) return status;
    cs_error_adopt(&saved);
    char tail[CS_MSG_MAX];
    if (rs == 1)
      snprintf(tail, sizeof tail, "; restart 1 is kept, %s", o->checkpoint_note);
    else
      snprintf(tail, sizeof tail, "; restarts 1 to %d are kept, %s", rs, o->checkpoint_note);
    cs_error_rewrite("", NULL, tail);
  } else {
    cs_error_rewrite("", NULL, o->checkpoint ? "; no restart had finished, so there is no checkpoint: "
                                            "the same command starts the fit again"
                                          : " (no checkpoint: a --k range is not checkpointed)");
  }
  return CS_EINTERRUPTED;
}

/* One restart: from centroids c (K x D, overwritten) to convergence. it0 > 0 continues a
 * restart stored after it0 updates (c, the trace and the relocations as stored). */
static int run(lloyd_t *l, const cs_kmeans_opts_t *o, double tol_abs, double *c,
               cs_kmeans_result_t *r, cs_kmeans_state_t *ck, int rs, int it0) {
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
  if (it0 > 0) {
    memcpy(r->trace, o->resume->trace, (size_t)it0 * sizeof *r->trace);
    r->relocations = o->resume->relocations;
  }
  l->bounds_valid = 0;
  l->distance_rows = 0;
  /* The first step of a process is a full one whose labels are not compared with earlier
   * ones: the change count starts at the step after it. */
  const int first = it0 + 1;
  double last_ckpt = cs_wtime();
  int it = 0, strict = 0;
  for (it = first; it <= o->max_iter; it++) {
    double t0 = cs_wtime();
    CS_TRY(do_step(l, c, it > first));
    if (it == first && tol_abs < 0) tol_abs = o->tol * variance_from_sums(l);
    double inertia = l->inertia;
    int64_t changes = (int64_t)l->acc[OFF_CHANGES(l)];
    r->trace[it - 1] = inertia;
    int ne = 0;
    for (int q = 0; q < k; q++) {
      cs_fixed_t wq = l->acc[OFF_W(l) + q];
      if (wq <= 0) {
        empty[ne++] = q;
        continue;
      }
      double wsum = cs_from_fixed(wq, l->sc.sw);
      for (int j = 0; j < d; j++)
        c_new[(int64_t)q * d + j] = cs_from_fixed(l->acc[(int64_t)q * d + j], l->sx[j]) / wsum;
    }
    /* Labels unchanged with a segment empty: the re-seed of the step before took no customer
     * (it landed on a tie), and would not now either. */
    CS_CHECK(!(it > first && changes == 0 && ne), CS_EDATA, "%s", empty_msg(l, empty[0]));
    if (it > first && changes == 0) { /* labels unchanged: the centroids are a fixed point */
      strict = 1;
      r->converged = 1;
      times[it - first] = cs_wtime() - t0;
      cs_log_info("k-means: iteration %3d  inertia %.10g  labels unchanged: converged", it,
                  inertia);
      break;
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
    if (l->u) cs__bounds_moved(l, c, c_new, ne); /* a re-seed invalidates the bounds */
    memcpy(c, c_new, (size_t)k * (size_t)d * sizeof *c);
    times[it - first] = cs_wtime() - t0;
    cs_log_info("k-means: iteration %3d  inertia %.10g  shift %.3e  changed %lld", it, inertia,
                shift, (long long)(it > first ? changes : -1));
    if (shift <= tol_abs) {
      r->converged = 1;
      break;
    }
    if (it < o->max_iter) CS_TRY(boundary(l, o, ck, rs, it, c, r, &last_ckpt));
  }
  if (it > o->max_iter) it = o->max_iter;
  r->iterations = it;
  if (!strict) {
    /* Labels and inertia for the final centroids (not the ones before the last update). */
    CS_TRY(do_step(l, c, 0));
  }
  /* No fit ends with an empty segment (after a re-seed that took no customer, or in the
   * final assignment after a --tol stop): it had been written, exit 0. */
  for (int q = 0; q < k; q++) CS_CHECK(l->acc[OFF_W(l) + q] > 0, CS_EDATA, "%s", empty_msg(l, q));
  r->inertia = l->inertia;
  r->distances = l->distance_rows; /* divided by K only after the sum over ranks (a per-rank
                                    * quotient had made distance_fraction depend on them) */
  r->passes = it - it0 + !strict;
  int nt = it - first + 1;
  if (nt < 1) nt = 1, times[0] = 0;
  qsort(times, (size_t)nt, sizeof *times, cmp_double);
  r->seconds_per_iteration = nt % 2 ? times[nt / 2] : 0.5 * (times[nt / 2 - 1] + times[nt / 2]);
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
  double *c = NULL, *fmx = NULL;
  int k = o->k, d = m->d;
  memset(best, 0, sizeof *best);
  const double t_fit = cs_wtime();
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
  cs_algo_t algo = o->algorithm == CS_ALGO_AUTO ? (k > 32 ? CS_ALGO_HAMERLY : CS_ALGO_LLOYD)
                                                : o->algorithm;
  const int bounded = algo == CS_ALGO_HAMERLY || algo == CS_ALGO_YINYANG;
  if (bounded) {
    l.xlen = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *l.xlen), "row lengths");
    CS_TRY(cs_par_agree(ctx, l.xlen ? CS_OK
                             : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  }
  l.tacc = malloc((size_t)l.nthreads * (size_t)l.L * sizeof *l.tacc);
  l.acc = malloc((size_t)l.L * sizeof *l.acc);
  l.labels = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *l.labels), "labels");
  c = malloc((size_t)k * (size_t)d * sizeof *c);
  l.xnorm = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *l.xnorm), "row norms");
  l.xq = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *l.xq), "row norms");
  l.sx = malloc((size_t)d * sizeof *l.sx);
  l.xs = malloc((size_t)d * sizeof *l.xs);
  l.xsf = malloc((size_t)d * sizeof *l.xsf);
  fmx = calloc((size_t)d + 2, sizeof *fmx); /* per feature max |x|, then the largest weight */
  CS_TRY(cs_par_agree(ctx, l.tacc && l.acc && l.labels && c && l.xnorm && l.xq && l.sx && l.xs &&
                           l.xsf && fmx ? CS_OK
                           : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));

  /* Fixed-point scales from global bounds: |x_j| <= maxabs_j, w <= maxw. */
  /* (the largest weight is the weights' own: weights all 1e-20 had summed to 0 on a grid set
   * by 1) */
  double mx[2] = {0, 1}, mx1 = m->w ? 0 : 1;
  /* One pass: each feature's largest |x| and each row's squared norm (and length, for the
   * bounds). Maxima do not depend on the order, so the merge is deterministic. */
  int fail_local = 0;
#pragma omp parallel
  {
    float *tm = calloc((size_t)d, sizeof *tm);
    if (!tm) {
#pragma omp atomic write
      fail_local = 1;
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < m->n; i++) {
      double s2 = 0;
      for (int j = 0; j < d; j++) {
        float v = m->x[i * d + j];
        s2 += (double)v * v;
        v = v < 0 ? -v : v;
        if (tm && v > tm[j]) tm[j] = v;
      }
      l.xnorm[i] = s2;
      if (l.xlen) l.xlen[i] = sqrt(s2);
    }
#pragma omp critical
    for (int j = 0; tm && j < d; j++) fmx[j] = tm[j] > fmx[j] ? tm[j] : fmx[j];
    free(tm);
  }
  CS_TRY(cs_par_agree(ctx, fail_local ? cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                     "out of memory") : CS_OK));
  double wr[2] = {INFINITY, INFINITY}; /* the smallest positive weight, minus the largest */
  for (int64_t i = 0; m->w && i < m->n; i++) {
    mx1 = m->w[i] > mx1 ? m->w[i] : mx1;
    if (m->w[i] > 0 && m->w[i] < wr[0]) wr[0] = m->w[i];
    if (-m->w[i] < wr[1]) wr[1] = -m->w[i];
  }
  fmx[d] = mx1;
  CS_TRY(cs_par_allreduce(ctx, fmx, d + 1, CS_DT_F64, CS_OP_MAX));
  for (int j = 0; j < d; j++) mx[0] = fmx[j] > mx[0] ? fmx[j] : mx[0];
  mx[1] = fmx[d] > 0 ? fmx[d] : 1;
  CS_TRY(cs_par_allreduce(ctx, wr, 2, CS_DT_F64, CS_OP_MIN));
  const double wmin = wr[0], wmax = -wr[1];
  /* The exact sums and the float32 kernel have a range: beyond it rows were silently put in
   * one segment, or the inertia check stopped the run. */
  /* The remedy, from the features module when it built the matrix: the feature beyond the
   * range and whether its column or its --feature-weights weight took it there. */
  char why[2 * CS_FEATURE_NAME_MAX + 320] = "use --scale zscore or rescale the columns";
  if (m->feat) cs_features_range_advice(m->feat, fmx, mx[0], 1e-18, 1e18, why, sizeof why);
  CS_CHECK(mx[0] <= 1e18 && (mx[0] == 0 || mx[0] >= 1e-18), CS_EDATA,
           "feature values reach %s%g in magnitude%s; k-means computes distances in float32 and "
           "needs them within 1e-18 .. 1e18 (%s)", mx[0] >= FLT_MAX ? "at least " : "", mx[0],
           mx[0] >= FLT_MAX ? " (the float32 limit, where scaled values are clamped)" : "",
           why);
  char wn[CS_NAME_MAX + 32] = "";
  if (m->w && m->feat && m->feat->weight_column[0])
    snprintf(wn, sizeof wn, " (--weight-column '%s')", m->feat->weight_column);
  CS_CHECK(!m->w || wmin == INFINITY || (wmax >= 1e-250 && wmax <= 1e250), CS_EDATA,
           "customer weights%s reach %g: k-means sums them in fixed point and needs the largest "
           "within 1e-250 .. 1e250 (rescale the weights: the fit does not change)", wn, wmax);
  CS_CHECK(!m->w || wmin == INFINITY || wmax <= 1e9 * wmin, CS_EDATA,
           "customer weights%s range from %g to %g, more than a factor 1e9: the exact "
           "fixed-point sums would lose the customers of small weight (cap or rescale the "
           "weights)", wn, wmin, wmax);
  /* A start far outside the customers takes none of them, and its float32 distances
   * overflow (a start at 1e300 had reported an inertia 43% low). The sums never involve the
   * centroids, so a start leaves the grids below alone (a start of 1e5 beside a feature near
   * 1e-12 had coarsened that feature's grid until its centroids were 0). */
  for (int64_t v = 0; o->init == CS_INIT_GIVEN && v < (int64_t)k * d; v++) {
    const double lim = 1e3 * (mx[0] > 0 ? mx[0] : 1.0);
    CS_CHECK(fabs(o->init_centroids[v]) <= lim, CS_EDATA,
             "the start (--init-centroids or --previous) has %g for segment %lld, feature %lld "
             "(counting from 0, in the fit's units: standardized, or the store's under --scale "
             "none), more than 1000 times the largest |value| of any feature among the "
             "customers (%g): a start so far from every customer takes none of them; give one "
             "within the data's range",
             o->init_centroids[v], (long long)(v / d), (long long)(v % d), mx[0]);
  }
  /* One grid per feature: one grid for all had been set by the largest feature, and a
   * column of values 1e-15 times smaller kept about 3 digits (centroids 31% off). */
  for (int j = 0; j < d; j++) {
    /* At most 2^126, so that the float copy of the scale (the unweighted AVX-512 kernel) is
     * finite: a feature below 2^-76 (a weight of 1e-24) had got an infinite one. */
    l.sx[j] = cs_fixed_exponent(fmx[j] * mx[1], n_global);
    if (!m->w && l.sx[j] > 126) l.sx[j] = 126;
    l.xs[j] = ldexp(1.0, l.sx[j]);
    /* (weighted sums scale x * (2^s w) in doubles: uncapped, or weights all near 1e-40 had
     * summed to 0 on a 2^-126 grid) */
    l.xsf[j] = m->w ? 0.0f : (float)l.xs[j];
  }
  l.sc.sw = cs_fixed_exponent(mx[1], n_global);
  /* Sum w ||x||^2 in 128 bits per row (add_norms): its grid is as fine as the total allows. */
  l.sc.sd = cs_fixed_exponent_wide(mx[0] * mx[0] * d * mx[1], n_global);
  l.ws = ldexp(1.0, l.sc.sw);
  l.qs = ldexp(1.0, l.sc.sd);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m->n; i++) l.xq[i] = m->w ? 0 : cs_to_fixed(l.xnorm[i], l.sc.sd);
  /* The tolerance's scale, the mean feature variance: unweighted, it follows exactly from the
   * first step's sums (Sum x per feature and Sum ||x||^2 over all segments), so run() takes
   * it from there (tol_abs < 0); weighted runs sum it in a pass of its own. */
  double var = 0, tol_abs = 0;
  if (o->tol > 0 && m->w) {
    CS_TRY(mean_variance(ctx, m, n_global, mx[0], &var));
    tol_abs = o->tol * var;
  } else if (o->tol > 0) {
    tol_abs = -1;
  }

  cs_log_debug("k-means: set-up %.2f ms (row norms, value ranges, fixed-point grids)",
               1e3 * (cs_wtime() - t_fit));
  int restarts = o->init == CS_INIT_GIVEN ? 1 : (o->n_init > 0 ? o->n_init : 1);
  const cs_kmeans_state_t *res = o->resume;
  cs_kmeans_state_t ck = {.k = k, .d = d, .best_restart = -1};
  int have_best = 0, best_labels = 0;
  if (res && res->best_restart >= 0) {
    /* The best finished restart of the interrupted run; its labels are recomputed at the end
     * unless a later restart wins. */
    best->centroids = malloc((size_t)k * (size_t)d * sizeof *best->centroids);
    best->trace = malloc((size_t)(res->best_iterations > 0 ? res->best_iterations : 1) * sizeof *best->trace);
    CS_TRY(cs_par_agree(ctx, best->centroids && best->trace ? CS_OK : CS_ENOMEM));
    memcpy(best->centroids, res->best_centroids, (size_t)k * (size_t)d * sizeof *best->centroids);
    memcpy(best->trace, res->best_trace, (size_t)res->best_iterations * sizeof *best->trace);
    best->restart = res->best_restart;
    best->inertia = res->best_inertia;
    best->iterations = res->best_iterations;
    best->converged = res->best_converged;
    best->relocations = res->best_relocations;
    have_best = 1;
  }
  for (int rs = res ? res->restart : 0; rs < restarts; rs++) {
    int it0 = 0;
    if (res && rs == res->restart && res->iteration == 0)
      cs_log_info("k-means: resuming at restart %d/%d, from its seeding", rs + 1, restarts);
    if (res && rs == res->restart && res->iteration > 0) {
      memcpy(c, res->centroids, (size_t)k * (size_t)d * sizeof *c);
      it0 = res->iteration;
      cs_log_info("k-means: resuming restart %d/%d after iteration %d", rs + 1, restarts, it0);
    } else if (o->init == CS_INIT_GIVEN) {
      memcpy(c, o->init_centroids, (size_t)k * (size_t)d * sizeof *c);
    } else {
      int par = o->init == CS_INIT_PARALLEL || (o->init == CS_INIT_AUTO && (double)n_global * k > 1e10);
      status = par ? cs__kmeans_par(ctx, m, k, o->seed, rs, c) : cs__kmeans_pp(ctx, m, k, o->seed, rs, c);
      if (status == CS_EINTERRUPTED) status = seeding_interrupted(o, &ck, rs, have_best ? best : NULL, c);
      CS_TRY(status);
    }
    memset(&cur, 0, sizeof cur);
    for (int64_t i = 0; i < m->n; i++) l.labels[i] = -1;
    l.sums_valid = 0;
    /* Yinyang's groups come from each start's centroids (Ding et al.: about K/10 groups). */
    if (bounded) CS_TRY(cs__bounds_setup(&l, c, algo == CS_ALGO_YINYANG ? (k + 5) / 10 : 1));
    if (have_best) {
      ck.best_restart = best->restart;
      ck.best_inertia = best->inertia;
      ck.best_iterations = best->iterations;
      ck.best_converged = best->converged;
      ck.best_relocations = best->relocations;
      ck.best_centroids = best->centroids;
      ck.best_trace = best->trace;
    }
    CS_TRY(run(&l, o, tol_abs, c, &cur, &ck, rs, it0));
    cs_log_info("k-means: restart %d/%d: inertia %.10g after %d iterations", rs + 1, restarts,
                cur.inertia, cur.iterations);
    if (!cur.converged)
      cs_log_warn("k-means: restart %d did not converge in --max-iter %d iterations", rs + 1,
                  o->max_iter);
    if (!have_best || cur.inertia < best->inertia) {
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
      have_best = best_labels = 1;
    } else {
      free(cur.trace);
    }
    memset(&cur, 0, sizeof cur);
  }
  if (!best_labels) {
    /* The stored best restart won: its labels, sizes and weights are the assignment to its
     * final centroids, which one full step gives again. */
    for (int64_t i = 0; i < m->n; i++) l.labels[i] = -1;
    l.sums_valid = 0;
    l.bounds_valid = 0;
    CS_TRY(do_step(&l, best->centroids, 0));
    best->labels = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *best->labels), "labels");
    best->sizes = calloc((size_t)k, sizeof *best->sizes);
    best->weight_sums = calloc((size_t)k, sizeof *best->weight_sums);
    CS_TRY(cs_par_agree(ctx, best->labels && best->sizes && best->weight_sums ? CS_OK : CS_ENOMEM));
    memcpy(best->labels, l.labels, (size_t)m->n * sizeof *l.labels);
    for (int q = 0; q < k; q++) {
      best->sizes[q] = (int64_t)l.acc[OFF_N(&l) + q];
      best->weight_sums[q] = cs_from_fixed(l.acc[OFF_W(&l) + q], l.sc.sw);
    }
  }
  best->k = k;
  best->d = d;
  best->algorithm = algo;
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
  cs__bounds_free(&l);
  cs_free(l.xlen);
  cs_free(l.xq);
  free(l.sx);
  free(l.xs);
  free(l.xsf);
  free(fmx);
  free(l.tacc);
  free(l.acc);
  cs_free(l.labels);
  free(c);
  free(cur.trace);
  if (status < 0) cs_kmeans_result_free(best);
  return status;
}
