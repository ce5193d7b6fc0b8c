/* segment/init.c: greedy k-means++ across ranks.
 *
 * Sampling a row with probability proportional to w_i D(i)^2 is done as an exponential race:
 * every row draws E_i ~ Exp(1) from the counter-based generator keyed by its customer id and
 * the step, and the row with the smallest E_i / (w_i D(i)^2) wins. The winner is the same
 * whichever rank holds which rows, and one small gather finds it. Each step tries
 * 2 + ln K candidates and keeps the one that lowers the potential most (scikit-learn's
 * greedy variant); potentials are exact fixed-point sums. */
#include "custseg/segment.h"

#include "custseg/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct race {
  double key;
  int64_t row;
} race_t;

static uint64_t step_seed(uint64_t seed, int restart, int step, int trial) {
  uint64_t v[4] = {seed, (uint64_t)restart, (uint64_t)step, (uint64_t)trial};
  return XXH3_64bits(v, sizeof v);
}

/* Run `nt` races at once and copy the winners' rows into cand (nt x d). weight(i) is
 * w_i (step 0) or w_i * D2[i]. Collective. */
static int races(cs_ctx_t *ctx, const cs_matrix_t *m, const double *d2, uint64_t seed,
                 int restart, int step, int nt, double *cand) {
  int status = CS_OK;
  int d = m->d;
  race_t best[16], *all = NULL;
  for (int t = 0; t < nt; t++) best[t] = (race_t){INFINITY, INT64_MAX};
  for (int t = 0; t < nt; t++) {
    uint64_t s = step_seed(seed, restart, step, t);
    for (int64_t i = 0; i < m->n; i++) {
      double wt = (m->w ? m->w[i] : 1.0) * (d2 ? d2[i] : 1.0);
      if (!(wt > 0)) continue;
      cs_rng_t g;
      cs_rng_init(&g, s, 0x1417u, (uint64_t)m->id[i]);
      double key = -log(cs_rng_uniform(&g)) / wt;
      if (key < best[t].key || (key == best[t].key && m->row[i] < best[t].row))
        best[t] = (race_t){key, m->row[i]};
    }
  }
  all = malloc((size_t)ctx->size * (size_t)nt * sizeof *all);
  CS_TRY(cs_par_agree(ctx, all ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(cs_par_allgather(ctx, best, (size_t)nt * sizeof *best, all));
  memset(cand, 0, (size_t)nt * (size_t)d * sizeof *cand);
  for (int t = 0; t < nt; t++) {
    race_t w = {INFINITY, INT64_MAX};
    for (int r = 0; r < ctx->size; r++) {
      race_t c = all[r * nt + t];
      if (c.key < w.key || (c.key == w.key && c.row < w.row)) w = c;
    }
    CS_CHECK(w.row != INT64_MAX, CS_EDATA, "k-means++: no customer with positive weight left "
             "to choose (all remaining customers coincide with chosen centroids)");
    /* The owner fills the row; adding zeros elsewhere is exact. */
    for (int64_t i = 0; i < m->n; i++)
      if (m->row[i] == w.row) {
        for (int j = 0; j < d; j++) cand[(int64_t)t * d + j] = (double)m->x[i * d + j];
        break;
      }
  }
  CS_TRY(cs_par_allreduce(ctx, cand, (int64_t)nt * d, CS_DT_F64, CS_OP_SUM));
fail:
  free(all);
  return status;
}

int cs__kmeans_pp(cs_ctx_t *ctx, const cs_matrix_t *m, int k, uint64_t seed, int restart,
                  double *centroids) {
  int status = CS_OK;
  int d = m->d;
  int trials = 2 + (int)log((double)k);
  if (trials > 16) trials = 16;
  double *d2 = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *d2), "k-means++ distances");
  double *cand = malloc((size_t)trials * (size_t)d * sizeof *cand);
  cs_fixed_t pot[16];
  CS_TRY(cs_par_agree(ctx, d2 && cand ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));

  /* Bound for the fixed-point potentials: every coordinate is within the data's range. */
  double maxabs = 0, maxw = 1;
  for (int64_t i = 0; i < m->n * d; i++) maxabs = fmax(maxabs, fabs((double)m->x[i]));
  for (int64_t i = 0; m->w && i < m->n; i++) maxw = fmax(maxw, m->w[i]);
  double mx[2] = {maxabs, maxw};
  int64_t n_all = m->n;
  CS_TRY(cs_par_allreduce(ctx, mx, 2, CS_DT_F64, CS_OP_MAX));
  CS_TRY(cs_par_allreduce(ctx, &n_all, 1, CS_DT_I64, CS_OP_SUM));
  int sd = cs_fixed_exponent(4.0 * mx[0] * mx[0] * d * mx[1], n_all);

  CS_TRY(races(ctx, m, NULL, seed, restart, 0, 1, centroids));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m->n; i++) d2[i] = cs_kernel_sqdist(m->x + i * d, centroids, d);
  cs_progress_t prog;
  cs_progress_start(&prog, "k-means++ (centroids)", k);
  for (int step = 1; step < k; step++) {
    CS_TRY(races(ctx, m, d2, seed, restart, step, trials, cand));
    for (int t = 0; t < trials; t++) {
      const double *c = cand + (int64_t)t * d;
      cs_fixed_t p = 0;
#pragma omp parallel for schedule(static) reduction(+ : p)
      for (int64_t i = 0; i < m->n; i++) {
        double e = cs_kernel_sqdist(m->x + i * d, c, d);
        double v = e < d2[i] ? e : d2[i];
        p += cs_to_fixed(v * (m->w ? m->w[i] : 1.0), sd);
      }
      pot[t] = p;
    }
    CS_TRY(cs_par_sum_i128_n(ctx, pot, trials));
    int bt = 0;
    for (int t = 1; t < trials; t++)
      if (pot[t] < pot[bt]) bt = t;
    double *c = centroids + (int64_t)step * d;
    memcpy(c, cand + (int64_t)bt * d, (size_t)d * sizeof *c);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m->n; i++) {
      double e = cs_kernel_sqdist(m->x + i * d, c, d);
      if (e < d2[i]) d2[i] = e;
    }
    cs_progress_update(&prog, step + 1);
  }
fail:
  cs_free(d2);
  free(cand);
  return status;
}
