/* churn/metrics.c: holdout metrics without gathering scores.
 *
 * Scores go into a 2^20-bin histogram of positives and negatives, summed across ranks exactly
 * and kept as its non-empty bins (global_bins): AUC counts a positive above a negative as 1
 * and the pairs sharing a bin as 1/2, so its error is at most half the share of such pairs
 * (reported as the bound); cumulative gains walk the same histogram from the top, splitting
 * the cut-off bin fractionally. Log-loss, Brier and calibration are exact fixed-point sums. */
#include "custseg/churn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BINS (1 << 20)

/* The global histogram's non-empty bins in ascending order: negatives neg[e] and positives
 * pos[e] for e < nb, held in `buf`. */
typedef struct bins {
  int64_t *buf, *neg, *pos, nb;
} bins_t;

static inline int bin_of(float score) {
  int b = (int)((double)score * BINS);
  return b < 0 ? 0 : b >= BINS ? BINS - 1 : b;
}

/* keys (bin * 2 + label, 21 bits) sorted ascending: two counting passes of 11 and 10 bits. */
static void radix_sort(uint32_t *key, uint32_t *tmp, int64_t n) {
  for (int pass = 0; pass < 2; pass++) {
    const int shift = 11 * pass, nbuck = pass ? 1 << 10 : 1 << 11;
    int64_t count[1 << 11] = {0};
    for (int64_t i = 0; i < n; i++) count[(key[i] >> shift) & (uint32_t)(nbuck - 1)]++;
    for (int64_t b = 0, at = 0; b < nbuck; b++) {
      int64_t c = count[b];
      count[b] = at;
      at += c;
    }
    for (int64_t i = 0; i < n; i++) tmp[count[(key[i] >> shift) & (uint32_t)(nbuck - 1)]++] = key[i];
    memcpy(key, tmp, (size_t)n * sizeof *key);
  }
}

/* The scored customers' histogram, summed over every rank, on every rank. With few scored
 * customers in all (the bins then mostly empty) their bins are gathered and sorted, a few
 * megabytes at most, instead of reducing 2^21 counts (16 MB, whose reduction and first touch
 * took 0.2-1.3 s at 2-3 ranks on one node for 30 000 customers); with many, the dense counts
 * are reduced. The same integer counts either way. Collective. */
static int global_bins(cs_ctx_t *ctx, const float *score, const cs_churn_data_t *data,
                       int64_t n, int want_holdout, bins_t *h) {
  int status = CS_OK;
  int64_t k = 0, total = 0, bytes = 0;
  uint32_t *key = NULL, *all = NULL, *tmp = NULL;
  memset(h, 0, sizeof *h);
  for (int64_t i = 0; i < n; i++) k += data->y[i] >= 0 && data->holdout[i] == want_holdout;
  total = k;
  CS_TRY(cs_par_allreduce(ctx, &total, 1, CS_DT_I64, CS_OP_SUM));
  if (3 * total >= 2 * (int64_t)BINS) { /* many: one reduction of the dense counts */
    h->buf = calloc((size_t)2 * BINS, sizeof *h->buf); /* negatives, then positives */
    CS_TRY(cs_par_agree(ctx, h->buf ? CS_OK
                                    : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    for (int64_t i = 0; i < n; i++) {
      int y = data->y[i];
      if (y >= 0 && data->holdout[i] == want_holdout) h->buf[(int64_t)y * BINS + bin_of(score[i])]++;
    }
    CS_TRY(cs_par_allreduce(ctx, h->buf, 2 * (int64_t)BINS, CS_DT_I64, CS_OP_SUM));
    h->neg = h->buf;
    h->pos = h->buf + BINS;
    for (int b = 0; b < BINS; b++) /* in place: entry nb <= bin b */
      if (h->neg[b] | h->pos[b]) {
        h->neg[h->nb] = h->neg[b];
        h->pos[h->nb++] = h->pos[b];
      }
    goto fail;
  }
  key = malloc((size_t)(k ? k : 1) * sizeof *key);
  CS_TRY(cs_par_agree(ctx, key ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  k = 0;
  for (int64_t i = 0; i < n; i++) {
    int y = data->y[i];
    if (y >= 0 && data->holdout[i] == want_holdout) key[k++] = (uint32_t)bin_of(score[i]) * 2 + (uint32_t)y;
  }
  CS_TRY(cs_par_allgatherv(ctx, key, k * (int64_t)sizeof *key, (void **)&all, &bytes));
  const int64_t m = bytes / (int64_t)sizeof *all;
  tmp = malloc((size_t)(m ? m : 1) * sizeof *tmp);
  h->buf = malloc((size_t)(m ? m : 1) * 2 * sizeof *h->buf);
  CS_TRY(cs_par_agree(ctx, tmp && h->buf ? CS_OK
                                         : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  radix_sort(all, tmp, m);
  h->neg = h->buf;
  h->pos = h->buf + (m ? m : 1);
  for (int64_t i = 0; i < m; i++) {
    if (!i || all[i] / 2 != all[i - 1] / 2) {
      h->neg[h->nb] = h->pos[h->nb] = 0;
      h->nb++;
    }
    if (all[i] & 1) h->pos[h->nb - 1]++;
    else h->neg[h->nb - 1]++;
  }
fail:
  free(key);
  free(all);
  free(tmp);
  return status;
}

int cs_churn_metrics(cs_ctx_t *ctx, const float *score, const cs_churn_data_t *data, int64_t n,
                     int want_holdout, cs_churn_metrics_t *out) {
  int status = CS_OK;
  bins_t h = {0};
  memset(out, 0, sizeof *out);
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
  CS_TRY(global_bins(ctx, score, data, n, want_holdout, &h));
  CS_TRY(cs_par_sum_i128_n(ctx, s, NS));
  const int64_t nb = h.nb, *hn = h.neg, *hp = h.pos;
  int64_t neg = 0, pos = 0;
  for (int64_t e = 0; e < nb; e++) {
    neg += hn[e];
    pos += hp[e];
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
      num2 += (__int128)hp[e] * (2 * neg_below + hn[e]);
      tie2 += (__int128)hp[e] * hn[e];
      neg_below += hn[e];
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
      double cnt = (double)(hn[e] + hp[e]);
      for (; q < CS_CHURN_DECILES; q++) {
        double depth = (double)out->n * (q + 1) / CS_CHURN_DECILES;
        if (depth > taken + cnt) break;
        double got = hits + fmin(1.0, (depth - taken) / cnt) * (double)hp[e];
        out->gain[q] = pos ? got / (double)pos : NAN;
        out->lift[q] = pos ? (got / depth) / ((double)pos / (double)out->n) : NAN;
      }
      taken += cnt;
      hits += (double)hp[e];
    }
  }
fail:
  free(h.buf);
  return status;
}
