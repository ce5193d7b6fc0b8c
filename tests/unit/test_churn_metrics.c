/* tests/unit/test_churn_metrics.c: the churn model's holdout metrics (MPI, run at 1-4 ranks).
 * Inputs are functions of the global row, so every rank count sees the same customers, and
 * the expected AUC, gains and lift are counted here directly from the rows, without a
 * histogram. */
#include "mpi_support.h"

#include "custseg/churn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BINS (1 << 20) /* metrics.c's score histogram */

typedef struct rows {
  cs_part_t p;
  float *score;
  int8_t *y;
  uint8_t *holdout;
} rows_t;

/* Global row i: score score_of(i), label y_of(i), every row in the holdout. */
typedef float (*score_fn)(int64_t i, int64_t n);
typedef int (*label_fn)(int64_t i);

static void make(rows_t *r, int64_t n, score_fn score_of, label_fn y_of) {
  assert_int_equal(cs_par_partition(cs_test_ctx, n, &r->p), CS_OK);
  size_t m = (size_t)(r->p.n_local ? r->p.n_local : 1);
  r->score = malloc(m * sizeof *r->score);
  r->y = malloc(m);
  r->holdout = malloc(m);
  assert_non_null(r->score);
  assert_non_null(r->y);
  assert_non_null(r->holdout);
  for (int64_t i = 0; i < r->p.n_local; i++) {
    int64_t g = r->p.offset + i;
    r->score[i] = score_of(g, n);
    r->y[i] = (int8_t)y_of(g);
    r->holdout[i] = 1;
  }
}

static void drop(rows_t *r) {
  free(r->score);
  free(r->y);
  free(r->holdout);
}

static void metrics(rows_t *r, cs_churn_metrics_t *m) {
  cs_churn_data_t d = {.y = r->y, .holdout = r->holdout};
  assert_int_equal(cs_churn_metrics(cs_test_ctx, r->score, &d, r->p.n_local, 1, m), CS_OK);
}

/* A label that looks random but is a pure function of the row. */
static int hashed_label(int64_t i) {
  uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15u;
  return (int)((h >> 61) & 1) ^ (int)((h >> 40) & 1);
}

/* Row i alone in bin i (i < BINS): scores ascend with the row. */
static float own_bin(int64_t i, int64_t n) {
  (void)n;
  return (float)(((double)i + 0.5) / BINS);
}

/* AUC of rows whose scores ascend strictly with the row: the share of (positive, negative)
 * pairs whose positive comes later. */
static double ascending_auc(int64_t n, label_fn y_of, int64_t *pos_out) {
  int64_t neg = 0, pos = 0;
  double above = 0;
  for (int64_t i = 0; i < n; i++) {
    if (y_of(i)) {
      above += (double)neg;
      pos++;
    } else {
      neg++;
    }
  }
  *pos_out = pos;
  return above / ((double)pos * (double)neg);
}

/* Few customers (kilobytes of bins gathered) and many (the dense counts reduced): the same
 * exact AUC, no tied pairs, and the same gains as a direct count. */
static void distinct_bins_both_exchanges(void **state) {
  (void)state;
  /* 500 000 non-empty bins stay under the dense switch (2/3 of 2^20 bins in total); 900 000
   * pass it at every rank count, since the rows' bins are distinct. */
  const int64_t sizes[] = {1000, 500000, 900000};
  for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
    int64_t n = sizes[c], pos = 0;
    rows_t r;
    cs_churn_metrics_t m;
    make(&r, n, own_bin, hashed_label);
    metrics(&r, &m);
    double want = ascending_auc(n, hashed_label, &pos);
    assert_int_equal(m.n, n);
    assert_int_equal(m.positives, pos);
    assert_true(fabs(m.auc - want) < 1e-12);
    assert_true(m.auc_error_bound == 0.0);
    /* The top decile: the last n/10 rows (n is a multiple of 10 here). */
    int64_t top = 0;
    for (int64_t i = n - n / 10; i < n; i++) top += hashed_label(i);
    assert_true(fabs(m.gain[0] - (double)top / (double)pos) < 1e-12);
    assert_true(fabs(m.gain[CS_CHURN_DECILES - 1] - 1.0) < 1e-12);
    drop(&r);
  }
}

/* Ten distinct scores only, the rows of each spread over every rank: bins met on several ranks
 * are added up, and tied pairs count one half (at most that half wrong: the bound). */
static float ten_scores(int64_t i, int64_t n) {
  (void)n;
  return (float)((double)(i % 10) / 10.0 + 0.05);
}

static int third_label(int64_t i) {
  return i % 3 == 0;
}

/* 3001 rows of ten_scores, every third churned, and their metrics. */
static void tens_third_churned(rows_t *r, cs_churn_metrics_t *m) {
  make(r, 3001, ten_scores, third_label);
  metrics(r, m);
}

static void ties_across_ranks(void **state) {
  (void)state;
  const int64_t n = 3001;
  rows_t r;
  cs_churn_metrics_t m;
  tens_third_churned(&r, &m);
  /* Every (positive, negative) pair, by brute force. */
  double num = 0, tie = 0, pairs = 0;
  assert_int_equal(m.n, n);
  assert_int_equal(m.positives, (n + 2) / 3);
  for (int64_t i = 0; i < n; i++) {
    if (!third_label(i)) continue;
    for (int64_t j = 0; j < n; j++) {
      if (third_label(j)) continue;
      pairs++;
      if (i % 10 > j % 10) num += 1;
      else if (i % 10 == j % 10) tie += 1;
    }
  }
  assert_true(fabs(m.auc - (num + tie / 2) / pairs) < 1e-12);
  assert_true(fabs(m.auc_error_bound - tie / pairs / 2) < 1e-12); /* half the tied share */
  int64_t cal = 0;
  for (int b = 0; b < CS_CHURN_CAL_BINS; b++) cal += m.cal_count[b];
  assert_int_equal(cal, n);
  drop(&r);
}

/* No customer in the holdout on any rank: every metric NaN, none 0. */
static void no_customers(void **state) {
  (void)state;
  rows_t r;
  cs_churn_metrics_t m;
  make(&r, 50, ten_scores, third_label);
  memset(r.holdout, 0, (size_t)(r.p.n_local ? r.p.n_local : 1));
  metrics(&r, &m);
  assert_int_equal(m.n, 0);
  assert_true(isnan(m.auc) && isnan(m.logloss) && isnan(m.gain[0]));
  drop(&r);
}

/* Calibration: per score decile, the mean score and the observed churn rate (the share of
 * labels 1), counted here from the rows. Ten scores b/10 + 0.05, one per decile, with every
 * third row churned: the observed rate is far from the mean score (it had been the mean
 * score again, a model calibrated whatever it predicted). */
static void calibration_observed_is_label_rate(void **state) {
  (void)state;
  const int64_t n = 3001;
  rows_t r;
  cs_churn_metrics_t m;
  tens_third_churned(&r, &m);
  assert_int_equal(CS_CHURN_CAL_BINS, 10);
  for (int b = 0; b < CS_CHURN_CAL_BINS; b++) {
    int64_t cnt = 0, y = 0;
    for (int64_t i = 0; i < n; i++)
      if (i % 10 == b) cnt++, y += third_label(i);
    assert_int_equal(m.cal_count[b], cnt);
    assert_true(fabs(m.cal_mean_pred[b] - (double)(float)((double)b / 10.0 + 0.05)) < 1e-9);
    assert_true(fabs(m.cal_observed[b] - (double)y / (double)cnt) < 1e-12);
  }
  drop(&r);
}

/* Four distinct scores (i % 4), so most decile depths fall inside a group of tied rows. */
static float four_scores(int64_t i, int64_t n) {
  (void)n;
  return (float)((double)(i % 4) / 4.0 + 0.125);
}

/* Cumulative gains and lift by decile: customers by score, highest first; a group of tied
 * scores that a decile's depth cuts counts by the share of it taken (its positives spread
 * evenly over it); lift is the gain over the depth's share of the customers. */
static void gains_and_lift(void **state) {
  (void)state;
  const int64_t n = 1000;
  rows_t r;
  cs_churn_metrics_t m;
  make(&r, n, four_scores, third_label);
  metrics(&r, &m);
  int64_t cnt[4] = {0}, hit[4] = {0}, pos = 0;
  for (int64_t i = 0; i < n; i++) cnt[i % 4]++, hit[i % 4] += third_label(i), pos += third_label(i);
  assert_int_equal(m.positives, pos);
  for (int q = 0; q < CS_CHURN_DECILES; q++) {
    double depth = (double)n * (q + 1) / CS_CHURN_DECILES, taken = 0, got = 0;
    for (int g = 3; g >= 0 && taken < depth; g--) {
      double part = fmin(1.0, (depth - taken) / (double)cnt[g]);
      got += part * (double)hit[g];
      taken += (double)cnt[g];
    }
    const double gain = got / (double)pos, lift = gain / (depth / (double)n);
    if (!(fabs(m.gain[q] - gain) < 1e-12 && fabs(m.lift[q] - lift) < 1e-12))
      fail_msg("decile %d: gain %.17g lift %.17g, wanted %.17g and %.17g", q + 1, m.gain[q],
               m.lift[q], gain, lift);
  }
  drop(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gains_and_lift),
    cmocka_unit_test(distinct_bins_both_exchanges),
    cmocka_unit_test(ties_across_ranks),
    cmocka_unit_test(no_customers),
    cmocka_unit_test(calibration_observed_is_label_rate),
};
CS_TEST_MAIN(tests)
