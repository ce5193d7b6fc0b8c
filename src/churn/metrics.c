/* churn/metrics.c: holdout metrics without gathering scores.
 *
 * Scores go into a 2^20-bin histogram of positives and negatives, kept as its non-empty bins
 * (summed across ranks exactly, see global_bins): AUC counts a positive above a negative as 1 and the pairs sharing a bin as
 * 1/2, so its error is at most half the share of such pairs (reported as the bound);
 * cumulative gains walk the same histogram from the top, splitting the cut-off bin
 * fractionally. Log-loss, Brier and calibration are exact fixed-point sums. */
#include "custseg/churn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BINS (1 << 20)

/* One non-empty bin of the score histogram. */
typedef struct hbin {
  int64_t bin, neg, pos;
} hbin_t;

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static int cmp_hbin(const void *a, const void *b) {
  const hbin_t *x = a, *y = b;
  return (x->bin > y->bin) - (x->bin < y->bin);
}

/* The non-empty bins of a dense histogram (negatives, then positives), ascending. */
static int64_t compact(const int64_t *hist, hbin_t *list) {
  int64_t c = 0;
  for (int b = 0; b < BINS; b++)
    if (hist[b] | hist[BINS + b]) list[c++] = (hbin_t){b, hist[b], hist[BINS + b]};
  return c;
}

/* This rank's scored customers as their non-empty bins, ascending. A few customers are sorted
 * by bin; many are counted in a dense histogram and its non-empty bins kept. Local. */
static int local_bins(const float *score, const cs_churn_data_t *data, int64_t n,
                      int want_holdout, hbin_t **list, int64_t *used) {
  int status = CS_OK;
  int64_t k = 0, *hist = NULL;
  uint32_t *key = NULL; /* bin * 2 + label */
  for (int64_t i = 0; i < n; i++) k += data->y[i] >= 0 && data->holdout[i] == want_holdout;
  *list = malloc((size_t)(k < BINS ? (k ? k : 1) : BINS) * sizeof **list);
  if (!*list) CS_FAIL(CS_ENOMEM, "out of memory");
  if (k > BINS / 8) {
    hist = calloc((size_t)2 * BINS, sizeof *hist);
    if (!hist) CS_FAIL(CS_ENOMEM, "out of memory");
  } else {
    key = malloc((size_t)(k ? k : 1) * sizeof *key);
    if (!key) CS_FAIL(CS_ENOMEM, "out of memory");
  }
  k = 0;
  for (int64_t i = 0; i < n; i++) {
    int y = data->y[i];
    if (y < 0 || data->holdout[i] != want_holdout) continue;
    int b = (int)((double)score[i] * BINS);
    b = b < 0 ? 0 : b >= BINS ? BINS - 1 : b;
    if (hist) hist[(int64_t)y * BINS + b]++;
    else key[k++] = (uint32_t)b * 2 + (uint32_t)y;
  }
  if (hist) {
    *used = compact(hist, *list);
  } else {
    qsort(key, (size_t)k, sizeof *key, cmp_u32);
    int64_t c = 0;
    for (int64_t i = 0; i < k; i++) {
      int64_t b = key[i] / 2;
      if (!c || (*list)[c - 1].bin != b) (*list)[c++] = (hbin_t){b, 0, 0};
      if (key[i] & 1) (*list)[c - 1].pos++;
      else (*list)[c - 1].neg++;
    }
    *used = c;
  }
fail:
  free(hist);
  free(key);
  return status;
}

/* Every rank's bins summed, on every rank, ascending. With few scored customers the ranks'
 * non-empty bins are gathered (kilobytes) instead of reducing 2^21 counts (16 MB, whose
 * reduction and first touch took 0.1-0.5 s at 2-3 ranks on one node for 30 000 customers);
 * with many, the dense counts are reduced. The same integer sums either way. Collective. */
static int global_bins(cs_ctx_t *ctx, hbin_t **list, int64_t *used) {
  int status = CS_OK;
  int64_t total = *used, bytes = 0, *hist = NULL;
  hbin_t *all = NULL, *wide = NULL;
  CS_TRY(cs_par_allreduce(ctx, &total, 1, CS_DT_I64, CS_OP_SUM));
  if (3 * total >= 2 * (int64_t)BINS) { /* dense enough: one reduction of the counts */
    hist = calloc((size_t)2 * BINS, sizeof *hist);
    wide = malloc((size_t)BINS * sizeof *wide);
    CS_TRY(cs_par_agree(ctx, hist && wide ? CS_OK
                                          : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    for (int64_t e = 0; e < *used; e++) {
      hist[(*list)[e].bin] = (*list)[e].neg;
      hist[BINS + (*list)[e].bin] = (*list)[e].pos;
    }
    CS_TRY(cs_par_allreduce(ctx, hist, 2 * (int64_t)BINS, CS_DT_I64, CS_OP_SUM));
    *used = compact(hist, wide);
    free(*list);
    *list = wide;
    wide = NULL;
    goto fail;
  }
  CS_TRY(cs_par_allgatherv(ctx, *list, *used * (int64_t)sizeof **list, (void **)&all, &bytes));
  int64_t m = bytes / (int64_t)sizeof *all, c = 0;
  qsort(all, (size_t)m, sizeof *all, cmp_hbin);
  for (int64_t e = 0; e < m; e++) {
    if (c && all[c - 1].bin == all[e].bin) {
      all[c - 1].neg += all[e].neg;
      all[c - 1].pos += all[e].pos;
    } else {
      all[c++] = all[e];
    }
  }
  free(*list);
  *list = all;
  *used = c;
  all = NULL;
fail:
  free(hist);
  free(all);
  free(wide);
  return status;
}

int cs_churn_metrics(cs_ctx_t *ctx, const float *score, const cs_churn_data_t *data, int64_t n,
                     int want_holdout, cs_churn_metrics_t *out) {
  int status = CS_OK;
  hbin_t *h = NULL; /* the non-empty bins, ascending */
  int64_t nb = 0;
  memset(out, 0, sizeof *out);
  CS_TRY(cs_par_agree(ctx, local_bins(score, data, n, want_holdout, &h, &nb)));
  enum { NS = 2 + 3 * CS_CHURN_CAL_BINS };
  int sl = cs_fixed_exponent(35.0, n > 0 ? n : 1), sp = cs_fixed_exponent(1.0, n > 0 ? n : 1);
  /* The sums with their logarithms on every thread, each into its own exact accumulators,
   * whose integer totals do not depend on the split. */
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
  CS_TRY(global_bins(ctx, &h, &nb));
  CS_TRY(cs_par_sum_i128_n(ctx, s, NS));
  int64_t neg = 0, pos = 0;
  for (int64_t e = 0; e < nb; e++) {
    neg += h[e].neg;
    pos += h[e].pos;
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
    for (int64_t e = 0; e < nb; e++) {
      num2 += (__int128)h[e].pos * (2 * neg_below + h[e].neg);
      tie2 += (__int128)h[e].pos * h[e].neg;
      neg_below += h[e].neg;
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
    for (int64_t e = nb - 1; e >= 0 && q < CS_CHURN_DECILES; e--) {
      double cnt = (double)(h[e].neg + h[e].pos);
      for (; q < CS_CHURN_DECILES; q++) {
        double depth = (double)out->n * (q + 1) / CS_CHURN_DECILES;
        if (depth > taken + cnt) break;
        double got = hits + fmin(1.0, (depth - taken) / cnt) * (double)h[e].pos;
        out->gain[q] = pos ? got / (double)pos : NAN;
        out->lift[q] = pos ? (got / depth) / ((double)pos / (double)out->n) : NAN;
      }
      taken += cnt;
      hits += (double)h[e].pos;
    }
  }
fail:
  free(h);
  return status;
}
