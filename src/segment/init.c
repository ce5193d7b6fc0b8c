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
#include <omp.h>
#include <stdio.h>
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

static int race_before(race_t a, race_t b) {
  return a.key < b.key || (a.key == b.key && a.row < b.row);
}

/* Run `nt` races at once and copy the winners' rows into cand (nt x d). weight(i) is
 * w_i (step 0) or w_i * D2[i]. Row i's draws for all trials come from one generator keyed by
 * (seed, restart, step) and its customer id. -log(u) >= 1 - u, so a row whose lower bound
 * cannot beat the thread's current best skips the logarithm: the winner is unchanged.
 * With c (the centroid chosen last), each row's D2 first takes its distance to c (the first
 * distance when step is 1, else the smaller of the two), in the same pass. Collective. */
static int races(cs_ctx_t *ctx, const cs_matrix_t *m, double *d2, const double *c,
                 uint64_t seed, int restart, int step, int nt, int k, double *cand) {
  int status = CS_OK;
  int d = m->d, nthreads = omp_get_max_threads();
  race_t best[16], *all = NULL, *tbest = NULL;
  uint64_t s = step_seed(seed, restart, step, 0);
  tbest = malloc((size_t)nthreads * 16 * sizeof *tbest);
  all = malloc((size_t)ctx->size * (size_t)nt * sizeof *all);
  CS_TRY(cs_par_agree(ctx, all && tbest ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  /* Every thread's slots start empty (a thread the runtime does not start leaves them so). */
  for (int64_t v = 0; v < (int64_t)nthreads * 16; v++) tbest[v] = (race_t){INFINITY, INT64_MAX};
  const int64_t nblk = (m->n + 15) / 16;
#pragma omp parallel
  {
    race_t *b = tbest + 16 * omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
      /* Sixteen rows' draws at once: the words of cs_rng_init(s, 0x1417, id) (rows past the
       * end repeat the last one and are not used). */
      const int64_t i0 = blk * 16, i1 = m->n < i0 + 16 ? m->n : i0 + 16;
      uint64_t ids[16];
      uint32_t words[4][4][16];
      for (int l = 0; l < 16; l++) ids[l] = (uint64_t)m->id[i0 + l < i1 ? i0 + l : i1 - 1];
      for (int q = 0; q < (nt + 3) / 4; q++) cs_rng_block16(s, 0x1417u, ids, (uint32_t)q, words[q]);
      for (int64_t i = i0; i < i1; i++) {
        if (c) {
          double e = cs_kernel_sqdist(m->x + i * d, c, d);
          d2[i] = step == 1 || e < d2[i] ? e : d2[i];
        }
        double wt = (m->w ? m->w[i] : 1.0) * (d2 ? d2[i] : 1.0);
        if (!(wt > 0)) continue;
        for (int t = 0; t < nt; t++) {
          double u = ((double)words[t / 4][t % 4][i - i0] + 0.5) * 0x1.0p-32; /* cs_rng_uniform32 */
          if ((1.0 - u) / wt > b[t].key) continue; /* cannot win: skip the log */
          race_t r = {-log(u) / wt, m->row[i]};
          if (race_before(r, b[t])) b[t] = r;
        }
      }
    }
  }
  for (int t = 0; t < nt; t++) {
    best[t] = (race_t){INFINITY, INT64_MAX};
    for (int th = 0; th < nthreads; th++)
      if (race_before(tbest[16 * th + t], best[t])) best[t] = tbest[16 * th + t];
  }
  CS_TRY(cs_par_allgather(ctx, best, (size_t)nt * sizeof *best, all));
  memset(cand, 0, (size_t)nt * (size_t)d * sizeof *cand);
  for (int t = 0; t < nt; t++) {
    race_t w = {INFINITY, INT64_MAX};
    for (int r = 0; r < ctx->size; r++)
      if (race_before(all[r * nt + t], w)) w = all[r * nt + t];
    /* Nothing left to draw: the step centroids chosen so far are every distinct feature row
     * of positive weight. */
    CS_CHECK(w.row != INT64_MAX || step > 0, CS_EDATA,
             "k-means++: no customer used has a positive weight (--weight-column 0 for all "
             "that --missing drop kept?)");
    CS_CHECK(w.row != INT64_MAX, CS_EDATA,
             "K = %d, but the customers (of positive weight) have only %d distinct feature rows: "
             "choose K <= %d", k, step, step);
    /* The owner fills the row (rows are sorted by global row); adding zeros is exact. */
    if (m->n && w.row >= m->row[0] && w.row <= m->row[m->n - 1]) {
      int64_t lo = 0, hi = m->n - 1;
      while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (m->row[mid] < w.row) lo = mid + 1;
        else hi = mid;
      }
      if (m->row[lo] == w.row)
        for (int j = 0; j < d; j++) cand[(int64_t)t * d + j] = (double)m->x[lo * d + j];
    }
  }
  CS_TRY(cs_par_allreduce(ctx, cand, (int64_t)nt * d, CS_DT_F64, CS_OP_SUM));
fail:
  free(all);
  free(tbest);
  return status;
}

int cs__seed_poll(cs_ctx_t *ctx, const char *init, int restart, int step, int steps) {
  int status = CS_OK;
  char where[128];
  cs_signal_test_hook_at(ctx->rank, 1);
  snprintf(where, sizeof where, "during %s seeding of restart %d (step %d of %d)", init,
           restart + 1, step, steps);
  CS_TRY(cs_par_stop_on_signal(ctx, where));
fail:
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
  double mx[2] = {0, 1};
  cs_matrix_max(m, mx);
  int64_t n_all = m->n;
  CS_TRY(cs_par_allreduce(ctx, mx, 2, CS_DT_F64, CS_OP_MAX));
  CS_TRY(cs_par_allreduce(ctx, &n_all, 1, CS_DT_I64, CS_OP_SUM));
  int sd = cs_fixed_exponent(4.0 * mx[0] * mx[0] * d * mx[1], n_all);

  CS_TRY(races(ctx, m, NULL, NULL, seed, restart, 0, 1, k, centroids));
  cs_progress_t prog;
  cs_progress_start(&prog, "k-means++ (centroids)", k);
  for (int step = 1; step < k; step++) {
    /* A long seeding (K passes over the rows) stops on SIGTERM/SIGUSR1 like the iterations. */
    CS_TRY(cs__seed_poll(ctx, "k-means++", restart, step, k - 1));
    /* D2 takes the centroid chosen last inside the race (the last choice needs no update). */
    CS_TRY(races(ctx, m, d2, centroids + (int64_t)(step - 1) * d, seed, restart, step, trials,
                 k, cand));
    /* Potential of each candidate, all trials in one pass over the rows. */
    for (int t = 0; t < trials; t++) pot[t] = 0;
#pragma omp parallel
    {
      cs_fixacc_t a[16];
      for (int t = 0; t < trials; t++) cs_fixacc_init(&a[t], sd);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < m->n; i++) {
        double w = m->w ? m->w[i] : 1.0;
        for (int t = 0; t < trials; t++) {
          double e = cs_kernel_sqdist(m->x + i * d, cand + (int64_t)t * d, d);
          cs_fixacc_add(&a[t], (e < d2[i] ? e : d2[i]) * w);
        }
      }
#pragma omp critical
      for (int t = 0; t < trials; t++) pot[t] += cs_fixacc_total(&a[t]);
    }
    CS_TRY(cs_par_sum_i128_n(ctx, pot, trials));
    int bt = 0;
    for (int t = 1; t < trials; t++)
      if (pot[t] < pot[bt]) bt = t;
    memcpy(centroids + (int64_t)step * d, cand + (int64_t)bt * d, (size_t)d * sizeof *centroids);
    cs_progress_update(&prog, step + 1);
  }
fail:
  cs_free(d2);
  free(cand);
  return status;
}
