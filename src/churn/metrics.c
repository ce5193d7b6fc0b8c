/* churn/metrics.c: holdout metrics without gathering scores.
 *
 * Scores go into a 2^20-bin histogram of positives and negatives (one packed reduction of
 * integers): AUC counts a positive above a negative as 1 and the pairs sharing a bin as
 * 1/2, so its error is at most half the share of such pairs (reported as the bound);
 * cumulative gains walk the same histogram from the top, splitting the cut-off bin
 * fractionally. Log-loss, Brier and calibration are exact fixed-point sums. */
#include "custseg/churn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BINS (1 << 20)

int cs_churn_metrics(cs_ctx_t *ctx, const float *score, const cs_churn_data_t *data, int64_t n,
                     int want_holdout, cs_churn_metrics_t *out) {
  int status = CS_OK;
  int64_t *hist = calloc((size_t)2 * BINS, sizeof *hist); /* negatives, then positives */
  memset(out, 0, sizeof *out);
  CS_TRY(cs_par_agree(ctx, hist ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  enum { NS = 2 + 3 * CS_CHURN_CAL_BINS };
  int sl = cs_fixed_exponent(35.0, n > 0 ? n : 1), sp = cs_fixed_exponent(1.0, n > 0 ? n : 1);
  /* The score histogram (one pass, on one thread: 2^21 bins are too many to copy per thread),
   * then the sums with their logarithms on every thread, each into its own exact
   * accumulators, whose integer totals do not depend on the split. */
  for (int64_t i = 0; i < n; i++) {
    int y = data->y[i];
    if (y < 0 || data->holdout[i] != want_holdout) continue;
    int b = (int)((double)score[i] * BINS);
    b = b < 0 ? 0 : b >= BINS ? BINS - 1 : b;
    hist[(int64_t)y * BINS + b]++;
  }
  cs_fixed_t s[NS] = {0};
#pragma omp parallel
  {
    cs_fixacc_t a[NS];
    cs_fixacc_init(&a[0], sl); /* log-loss */
    cs_fixacc_init(&a[1], sp); /* Brier */
    for (int b = 0; b < CS_CHURN_CAL_BINS; b++) {
      cs_fixacc_init(&a[2 + 3 * b], sp);     /* sum of p */
      cs_fixacc_init(&a[2 + 3 * b + 1], sp); /* sum of y */
      cs_fixacc_init(&a[2 + 3 * b + 2], sp); /* count */
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; i++) {
      int y = data->y[i];
      if (y < 0 || data->holdout[i] != want_holdout) continue;
      double p = score[i];
      double pc = fmin(fmax(p, 1e-15), 1 - 1e-15);
      cs_fixacc_add(&a[0], -(y ? log(pc) : log1p(-pc)));
      cs_fixacc_add(&a[1], (p - y) * (p - y));
      int cb = (int)(p * CS_CHURN_CAL_BINS);
      cb = cb < 0 ? 0 : cb >= CS_CHURN_CAL_BINS ? CS_CHURN_CAL_BINS - 1 : cb;
      cs_fixacc_add(&a[2 + 3 * cb], p);
      cs_fixacc_add(&a[2 + 3 * cb + 1], y);
      cs_fixacc_add(&a[2 + 3 * cb + 2], 1.0);
    }
#pragma omp critical(cs_churn_metrics_sums)
    for (int v = 0; v < NS; v++) s[v] += cs_fixacc_total(&a[v]);
  }
  CS_TRY(cs_par_allreduce(ctx, hist, 2 * (int64_t)BINS, CS_DT_I64, CS_OP_SUM));
  CS_TRY(cs_par_sum_i128_n(ctx, s, NS));
  int64_t neg = 0, pos = 0;
  for (int b = 0; b < BINS; b++) {
    neg += hist[b];
    pos += hist[BINS + b];
  }
  out->n = neg + pos;
  out->positives = pos;
  if (out->n == 0) { /* no customer (e.g. --holdout 0): every metric undefined, not 0 */
    out->auc = out->auc_error_bound = out->logloss = out->brier = NAN;
    for (int b = 0; b < CS_CHURN_CAL_BINS; b++) out->cal_mean_pred[b] = out->cal_observed[b] = NAN;
    for (int b = 0; b < CS_CHURN_DECILES; b++) out->gain[b] = out->lift[b] = NAN;
    goto fail;
  }
  out->logloss = cs_from_fixed(s[0], sl) / (double)out->n;
  out->brier = cs_from_fixed(s[1], sp) / (double)out->n;
  for (int b = 0; b < CS_CHURN_CAL_BINS; b++) {
    double c = cs_from_fixed(s[2 + 3 * b + 2], sp);
    out->cal_count[b] = (int64_t)llround(c);
    out->cal_mean_pred[b] = c > 0 ? cs_from_fixed(s[2 + 3 * b], sp) / c : NAN;
    out->cal_observed[b] = c > 0 ? cs_from_fixed(s[2 + 3 * b + 1], sp) / c : NAN;
  }
  /* AUC: positives above negatives, ties (same bin) as one half. */
  if (pos > 0 && neg > 0) {
    /* Twice the counts, as exact integers: 2 x below + same-bin pairs, and the same-bin pairs. */
    __int128 num2 = 0, tie2 = 0;
    int64_t neg_below = 0;
    for (int b = 0; b < BINS; b++) {
      num2 += (__int128)hist[BINS + b] * (2 * neg_below + hist[b]);
      tie2 += (__int128)hist[BINS + b] * hist[b];
      neg_below += hist[b];
    }
    long double pairs2 = 2.0L * (long double)pos * (long double)neg;
    out->auc = (double)((long double)num2 / pairs2);
    out->auc_error_bound = (double)((long double)tie2 / pairs2);
  } else {
    out->auc = NAN;
  }
  /* Cumulative gains by decile: customers ranked by score, best first, in one walk down the
   * bins; the bin where a decile's depth falls counts by the fraction of it needed. */
  {
    double taken = 0, hits = 0;
    int q = 0;
    for (int b = BINS - 1; b >= 0 && q < CS_CHURN_DECILES; b--) {
      double cnt = (double)(hist[b] + hist[BINS + b]);
      if (cnt == 0) continue;
      for (; q < CS_CHURN_DECILES; q++) {
        double depth = (double)out->n * (q + 1) / CS_CHURN_DECILES;
        if (depth > taken + cnt) break;
        double got = hits + fmin(1.0, (depth - taken) / cnt) * (double)hist[BINS + b];
        out->gain[q] = pos ? got / (double)pos : NAN;
        out->lift[q] = pos ? (got / depth) / ((double)pos / (double)out->n) : NAN;
      }
      taken += cnt;
      hits += (double)hist[BINS + b];
    }
  }
fail:
  free(hist);
  return status;
}
