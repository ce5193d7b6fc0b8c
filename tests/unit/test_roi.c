/* tests/unit/test_roi.c: the ROI table's exact sums and formulas (MPI, run at 1-4 ranks).
 * Inputs are functions of the global row, so every rank count sees the same customers. */
#include "mpi_support.h"

#include "custseg/roi.h"
#include "../../src/roi/roi_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10, to 4 decimals. */
static void newcombe_published(void **state) {
  (void)state;
  static const double cases[][6] = {
      {56, 70, 48, 80, 0.0524, 0.3339}, {9, 10, 3, 10, 0.1705, 0.8090},
      {6, 7, 2, 7, 0.0582, 0.8062},     {5, 56, 0, 29, -0.0381, 0.1926},
      {0, 10, 0, 20, -0.1611, 0.2775},  {0, 10, 0, 10, -0.2775, 0.2775},
      {10, 10, 0, 20, 0.6791, 1.0000},  {10, 10, 0, 10, 0.6075, 1.0000}};
  const double z = 1.959963984540054;
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    double lo, hi;
    cs_roi_newcombe(cases[c][0], cases[c][1], cases[c][2], cases[c][3], z, &lo, &hi);
    assert_true(fabs(lo - cases[c][4]) < 5e-5);
    assert_true(fabs(hi - cases[c][5]) < 5e-5);
  }
  double lo, hi;
  cs_roi_newcombe(1, 0, 1, 5, z, &lo, &hi); /* an empty group: no interval */
  assert_true(isnan(lo) && isnan(hi));
}

typedef struct local {
  cs_part_t p;
  int64_t *seg;
  double *rev, *mkt, *acq, *score, *clv;
  int8_t *conv, *treated, *churned;
} local_t;

static void local_free(local_t *l) {
  free(l->seg);
  free(l->rev);
  free(l->mkt);
  free(l->acq);
  free(l->score);
  free(l->clv);
  free(l->conv);
  free(l->treated);
  free(l->churned);
}

/* n customers; global row i: segment i % 3 (every 7th row none), revenue 0.1 (so ten of
 * them sum to exactly 1 only when the sum is exact), a few rows with 2^53 and -2^53. */
static void make(local_t *l, int64_t n) {
  assert_int_equal(cs_par_partition(cs_test_ctx, n, &l->p), CS_OK);
  int64_t m = l->p.n_local ? l->p.n_local : 1;
  l->seg = calloc((size_t)m, sizeof *l->seg);
  l->rev = calloc((size_t)m, sizeof *l->rev);
  l->mkt = calloc((size_t)m, sizeof *l->mkt);
  l->acq = calloc((size_t)m, sizeof *l->acq);
  l->score = calloc((size_t)m, sizeof *l->score);
  l->clv = calloc((size_t)m, sizeof *l->clv);
  l->conv = calloc((size_t)m, 1);
  l->treated = calloc((size_t)m, 1);
  l->churned = calloc((size_t)m, 1);
  for (int64_t j = 0; j < l->p.n_local; j++) {
    int64_t i = l->p.offset + j;
    l->seg[j] = i % 7 == 6 ? -1 : i % 3;
    l->rev[j] = 0.1;
    l->mkt[j] = i % 5 == 0 ? NAN : 0.5 + (double)(i % 4);
    l->acq[j] = 10.25;
    l->score[j] = (double)(i % 10) / 10.0;
    l->clv[j] = i % 11 == 0 ? NAN : 100.0 + (double)i;
    l->conv[j] = (int8_t)(i % 9 == 0 ? -1 : i % 4 == 0);
    l->treated[j] = (int8_t)(i % 2);
    l->churned[j] = (int8_t)(i % 13 == 0 ? -1 : i % 3 == 1);
  }
}

static cs_roi_input_t input_of(const local_t *l, int k) {
  return (cs_roi_input_t){.n = l->p.n_local, .offset = l->p.offset, .n_global = l->p.n_global,
                          .k = k, .segment = l->seg, .segment_source = "test",
                          .revenue = l->rev, .marketing_cost = l->mkt,
                          .acquisition_cost = l->acq, .converted = l->conv,
                          .treated = l->treated, .churned = l->churned,
                          .churn_score = l->score, .clv = l->clv};
}

static void totals_are_exact(void **state) {
  (void)state;
  const int64_t n = 700;
  local_t l;
  make(&l, n);
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 3);
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_int_equal(r.rows, 5); /* 3 segments, no segment, total */
  const cs_roi_row_t *t = &r.row[4];
  assert_int_equal(t->segment, CS_ROI_TOTAL);
  assert_int_equal(r.row[3].segment, CS_ROI_UNSEGMENTED);
  assert_int_equal(t->customers, n);
  assert_int_equal(r.unsegmented, n / 7);
  /* 700 x the double 0.1 is 70.0000000000000038...: the correctly rounded sum is 70. */
  assert_true(t->revenue_total == 70.0);
  assert_true(r.grid[CS_ROI_Q_REVENUE].exact);
  assert_true(t->acquisition_cost_total == 10.25 * 700);
  int64_t conv = 0, known = 0, lab = 0, churned = 0, rowsum = 0;
  double mkt = 0, clv = 0;
  for (int64_t i = 0; i < n; i++) {
    conv += i % 9 != 0 && i % 4 == 0;
    known += i % 9 != 0;
    lab += i % 13 != 0;
    churned += i % 13 != 0 && i % 3 == 1;
    if (i % 5) mkt += 0.5 + (double)(i % 4); /* small integers + 0.5: exact in double */
    if (i % 11) clv += 100.0 + (double)i;
  }
  for (int g = 0; g < 4; g++) rowsum += r.row[g].customers;
  assert_int_equal(rowsum, n);
  assert_true(t->conversions == (double)conv);
  assert_true(t->conversion_rate == (double)conv / (double)known);
  assert_true(t->churn_labelled == (double)lab);
  assert_true(t->churn_rate_observed == (double)churned / (double)lab);
  assert_true(t->marketing_cost_total == mkt);
  assert_true(t->clv_total == clv);
  assert_true(t->share == 1.0);
  /* ROI = (revenue - cost) / cost with cost = acquisition + marketing. */
  const double cost = t->acquisition_cost_total + t->marketing_cost_total;
  assert_true(t->roi == (t->revenue_total - cost) / cost);
  /* Revenue is the same in both arms: no incremental revenue, an interval around 0. */
  assert_true(t->incremental_revenue == 0.0);
  assert_true(t->incremental_revenue_low <= 0 && t->incremental_revenue_high >= 0);
  for (int g = 0; g < 3; g++) assert_true(r.row[g].action >= 0 && r.row[g].action < CS_ROI_ACTIONS);
  assert_int_equal(t->action, CS_ROI_ACTION_NONE);
  cs_roi_free(&r);
  local_free(&l);
}

/* 2^53 + 1 + 1 - 2^53 = 2 exactly; left-to-right double addition gives 0. Values far apart
 * (1e-30 next to 1e10) do not fit 126 bits: the grid is then coarser and marked inexact. */
static void wide_and_cancelling_values(void **state) {
  (void)state;
  local_t l;
  make(&l, 4);
  static const double v[] = {0x1p53, 1.0, 1.0, -0x1p53};
  for (int64_t j = 0; j < l.p.n_local; j++) {
    l.rev[j] = v[l.p.offset + j];
    l.acq[j] = l.p.offset + j == 0 ? 1e-30 : 1e10;
    l.seg[j] = 0;
  }
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 1);
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_true(r.row[r.rows - 1].revenue_total == 2.0);
  assert_true(r.grid[CS_ROI_Q_REVENUE].exact);
  assert_false(r.grid[CS_ROI_Q_ACQUISITION_COST].exact);
  assert_true(r.row[r.rows - 1].acquisition_cost_total == 3e10);
  cs_roi_free(&r);
  local_free(&l);
}

/* One revenue of 1e300 coarsens the revenue grid to steps of about 2^870: the other segments'
 * revenue sums (0 on that grid) are unknown, NaN, and so is everything made from them, and
 * they get no action; the extreme customer's segment and the total keep theirs. A segment
 * without customers gets no action either (it had been "maintain"). */
static void extreme_value_leaves_others_unknown(void **state) {
  (void)state;
  local_t l;
  make(&l, 60);
  for (int64_t j = 0; j < l.p.n_local; j++) {
    int64_t i = l.p.offset + j;
    l.seg[j] = i % 3; /* segment 3 has no customers */
    l.rev[j] = i == 0 ? 1e300 : 5.0;
    l.clv[j] = NAN; /* value = revenue_mean */
  }
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 4);
  in.clv = NULL;
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_int_equal(r.rows, 5);
  assert_false(r.grid[CS_ROI_Q_REVENUE].exact);
  const cs_roi_row_t *t = &r.row[4];
  assert_true(t->revenue_total == 1e300 && r.row[0].revenue_total == 1e300);
  for (int g = 1; g <= 2; g++) {
    assert_true(isnan(r.row[g].revenue_total) && isnan(r.row[g].revenue_mean));
    assert_true(isnan(r.row[g].roi));
    assert_int_equal(r.row[g].action, CS_ROI_ACTION_NONE);
    assert_int_equal(r.row[g].customers, 20); /* counts are not on a grid */
  }
  assert_true(r.row[0].action >= 0 && r.row[0].action < CS_ROI_ACTIONS);
  assert_int_equal(r.row[3].customers, 0);
  assert_int_equal(r.row[3].action, CS_ROI_ACTION_NONE);
  cs_roi_free(&r);
  local_free(&l);
}

static void absent_inputs_are_nan(void **state) {
  (void)state;
  local_t l;
  make(&l, 50);
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 3);
  in.revenue = NULL;
  in.treated = NULL;
  in.clv = NULL;
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  for (int64_t g = 0; g < r.rows; g++) {
    const cs_roi_row_t *o = &r.row[g];
    assert_true(isnan(o->revenue_total) && isnan(o->revenue_mean) && isnan(o->roi));
    assert_true(isnan(o->clv_mean) && isnan(o->revenue_at_risk));
    assert_true(isnan(o->uplift) && isnan(o->treated) && isnan(o->incremental_roi));
    assert_true(!isnan(o->conversion_rate) && !isnan(o->churn_score_mean));
  }
  cs_roi_free(&r);
  local_free(&l);
}

/* One treated customer's revenue beyond 1.3e154 (its square overflows): its segment's revenue
 * interval is NaN (the square had been summed as 0, giving an interval of width 0), though its
 * revenue sum is known. The other segments' revenue sums are unknown on the grid that value
 * forces, so theirs are NaN too (extreme_value_leaves_others_unknown). Collective. */
static void overflowing_square(void **state) {
  (void)state;
  local_t l;
  make(&l, 60);
  for (int64_t j = 0; j < l.p.n_local; j++)
    if (l.p.offset + j == 1) l.rev[j] = 1e300; /* row 1: segment 1, treated */
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 3);
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_true(isnan(r.row[1].incremental_revenue_low) && isnan(r.row[1].incremental_revenue_high));
  assert_true(isfinite(r.row[1].revenue_total));
  assert_true(isnan(r.row[0].incremental_revenue_low) && isnan(r.row[2].incremental_revenue_high));
  cs_roi_free(&r);
  local_free(&l);
}

/* Two revenues of the largest double: their exact sum has no double. That row's and the total
 * row's revenue sums are NaN and counted as overflowed (they were inf, and so was the ROI).
 * Collective. */
static void overflowing_sum(void **state) {
  (void)state;
  local_t l;
  make(&l, 60);
  for (int64_t j = 0; j < l.p.n_local; j++) {
    const int64_t i = l.p.offset + j;
    l.seg[j] = i % 3;
    l.rev[j] = i == 0 || i == 3 ? DBL_MAX : 5.0; /* both in segment 0 */
  }
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 3);
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_int_equal(r.grid[CS_ROI_Q_REVENUE].overflow, 2);
  assert_true(isnan(r.row[0].revenue_total) && isnan(r.row[0].roi));
  assert_true(isnan(r.row[3].revenue_total) && isnan(r.row[3].revenue_mean));
  /* the other rows' 5.0s are below the grid such values force: unknown, as documented */
  assert_true(isnan(r.row[1].revenue_total) && isnan(r.row[2].revenue_total));
  assert_true(r.grid[CS_ROI_Q_REVENUE].unknown > 0);
  cs_roi_free(&r);
  local_free(&l);
}

/* Revenues large next to their spread: the interval's variance is that of the deviations from
 * the mean (from sums of squares it cancelled to rounding noise). Collective. */
static void large_revenues_keep_their_variance(void **state) {
  (void)state;
  local_t l;
  make(&l, 400);
  double s[2][2] = {{0}}; /* per arm of segment 0: sum of (x - 1e8), of its square */
  int64_t n[2] = {0};
  for (int64_t j = 0; j < l.p.n_local; j++) {
    const int64_t i = l.p.offset + j;
    l.seg[j] = 0;
    l.rev[j] = 1e8 + (double)(i % 7) * 0.25; /* exact: quarter units near 1e8 */
  }
  for (int64_t i = 0; i < 400; i++) { /* the arms as make() draws them, over all ranks */
    const int a = i % 2 == 1; /* make(): odd rows treated */
    const double d = (double)(i % 7) * 0.25;
    s[a][0] += d, s[a][1] += d * d, n[a]++;
  }
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 1);
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  double var[2];
  for (int a = 0; a < 2; a++)
    var[a] = (s[a][1] - s[a][0] * s[a][0] / (double)n[a]) / (double)(n[a] - 1);
  const double se = sqrt(var[1] / (double)n[1] + var[0] / (double)n[0]);
  const double half = (r.row[0].incremental_revenue_high - r.row[0].incremental_revenue_low) / 2;
  assert_true(fabs(half - r.z * se * (double)n[1]) < 1e-9 * half);
  cs_roi_free(&r);
  local_free(&l);
}

/* One customer whose value is a large share of the store's: the actions compare segment
 * means with the store's mean, which that value moves; said in value_note (the CLV when
 * present, else the revenue), and nothing said without such a customer. */
static void outlier_note(void **state) {
  (void)state;
  local_t l;
  make(&l, 2000);
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 3);
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_string_equal(r.value_note, "");
  cs_roi_free(&r);
  for (int64_t j = 0; j < l.p.n_local; j++)
    if (l.p.offset + j == 4) l.clv[j] = 1e6, l.rev[j] = 500.0;
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_non_null(strstr(r.value_note, "one customer's CLV (1e+06) is "));
  cs_roi_free(&r);
  in.clv = NULL; /* without CLV the actions compare revenue: 500 of 699.9 */
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_non_null(strstr(r.value_note, "one customer's revenue (500) is 71.4% of all customers' (699.9)"));
  cs_roi_free(&r);
  local_free(&l);
}

static void segment_out_of_range(void **state) {
  (void)state;
  local_t l;
  make(&l, 30);
  for (int64_t j = 0; j < l.p.n_local; j++)
    if (l.p.offset + j == 17) l.seg[j] = 3;
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 3);
  int status = cs_roi_compute(cs_test_ctx, &in, &r);
  assert_int_equal(status, CS_EDATA);
  assert_non_null(strstr(cs_error_get()->msg, "segment 3 of the customer at row 17"));
  cs_error_clear();
  local_free(&l);
}

/* Two customers: at 3 and 4 ranks some ranks have none and still join every reduction. */
static void zero_row_ranks(void **state) {
  (void)state;
  local_t l;
  make(&l, 2);
  cs_roi_t r;
  cs_roi_input_t in = input_of(&l, 3);
  assert_int_equal(cs_roi_compute(cs_test_ctx, &in, &r), CS_OK);
  assert_int_equal(r.rows, 4); /* segments 0, 1, 2 and the total */
  assert_int_equal(r.row[3].customers, 2);
  assert_true(r.row[3].revenue_total == 0.2);
  assert_int_equal(r.row[2].customers, 0);
  assert_true(isnan(r.row[2].revenue_mean) && isnan(r.row[2].uplift));
  cs_roi_free(&r);
  local_free(&l);
}

/* The Markdown table: a value that rounds to zero has no sign (it had shown "-0" for
 * -0.126 incremental conversions), and 1e300 is printed whole. Local. */
static void markdown_cells(void **state) {
  (void)state;
  cs_roi_row_t rows[2];
  memset(rows, 0, sizeof rows);
  for (int i = 0; i < 2; i++) {
    cs_roi_row_t *o = &rows[i];
    o->segment = i ? CS_ROI_TOTAL : 0;
    o->customers = 10;
    o->share = 1;
    o->revenue_total = i ? 1e300 : -0.004;
    o->incremental_conversions = -0.126;
    o->uplift = -0.00001, o->uplift_low = -0.2, o->uplift_high = 0.000001;
    o->roi = -0.0001;
    o->action = CS_ROI_ACTION_NONE;
  }
  cs_roi_t r;
  memset(&r, 0, sizeof r);
  r.k = 1;
  r.rows = 2;
  r.row = rows;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  /* The store path is a code span: no HTML or table syntax of a file name reaches the page. */
  assert_int_equal(cs_roi_write_markdown(f, &r, "<img src=x onerror=alert(1)>|a`b.h5"), 0);
  fclose(f);
  assert_true(!strncmp(text, "# ROI by segment: `` <img src=x onerror=alert(1)>|a`b.h5 ``\n", 60));
  if (strstr(text, " -0 ") || strstr(text, " -0.00 ") || strstr(text, " -0.000 ") || strstr(text, ", -0.00]"))
    fail_msg("a value that rounds to zero printed with a sign:\n%s", text);
  char whole[400];
  snprintf(whole, sizeof whole, " %.2f |", 1e300); /* 304 characters: no longer cut at 64 */
  assert_non_null(strstr(text, whole));
  free(text);
}

/* The recommended-action rules of docs/roi.md at their edges, on hand-made rows (value =
 * revenue_mean, risk = churn_rate_observed; the total's are 10 and 0.2). Each boundary is
 * asserted on both sides: retain needs value >= the total's (equal counts), deprioritize risk
 * strictly above the total's (equal risk is not "more likely to leave"), and grow accepts a
 * campaign cost of exactly 0 (a campaign that cost nothing and measurably paid). Local. */
static cs_roi_row_t action_row(double value, double risk) {
  cs_roi_row_t o;
  memset(&o, 0, sizeof o);
  o.customers = 100;
  o.revenue_mean = value;
  o.churn_rate_observed = risk;
  o.uplift_low = 0.01; /* responds: not 'unresponsive' */
  o.incremental_revenue_low = -5; /* does not pay: no 'grow' unless set */
  o.campaign_cost = 1;
  return o;
}

static void action_rule_edges(void **state) {
  (void)state;
  const cs__roi_have_t have = {.revenue = 1, .churned = 1, .treated = 1};
  const cs_roi_row_t t = action_row(10.0, 0.2);
  cs_roi_row_t o;
  /* retain: risk above, value equal to the total's (it had needed value above) */
  o = action_row(10.0, 0.3);
  assert_int_equal(cs__roi_action(&o, &t, &have), CS_ROI_RETAIN);
  o = action_row(11.0, 0.3);
  assert_int_equal(cs__roi_action(&o, &t, &have), CS_ROI_RETAIN);
  o = action_row(9.0, 0.3);
  assert_int_equal(cs__roi_action(&o, &t, &have), CS_ROI_DEPRIORITIZE);
  /* deprioritize: value below and risk equal to the total's, responding: maintain (it had
   * been dropped for a risk that is only average) */
  o = action_row(9.0, 0.2);
  assert_int_equal(cs__roi_action(&o, &t, &have), CS_ROI_MAINTAIN);
  o.uplift_low = 0; /* not responding: deprioritize */
  assert_int_equal(cs__roi_action(&o, &t, &have), CS_ROI_DEPRIORITIZE);
  /* grow: campaign cost 0 and incremental revenue measurably above it (it had needed > 0) */
  o = action_row(9.0, 0.2);
  o.campaign_cost = 0;
  o.incremental_revenue_low = 3;
  assert_int_equal(cs__roi_action(&o, &t, &have), CS_ROI_GROW);
  o.campaign_cost = -1; /* negative cost: suspect, never grow */
  assert_int_equal(cs__roi_action(&o, &t, &have), CS_ROI_MAINTAIN);
}

/* cs_roi_return_settled: settled when the whole interval is on one side of the cost, above it
 * (paid) or below it (did not pay; this side had been dropped, leaving a plainly losing
 * campaign marked unsettled); open when the interval holds the cost or is not known. */
static void return_settled_both_sides(void **state) {
  (void)state;
  assert_true(cs_roi_return_settled(120, 150, 100));  /* paid for itself */
  assert_true(cs_roi_return_settled(10, 50, 100));    /* did not */
  assert_true(cs_roi_return_settled(-10, 50, 100));   /* holds 0 but not the cost */
  assert_false(cs_roi_return_settled(80, 150, 100));  /* holds the cost */
  assert_false(cs_roi_return_settled(NAN, 50, 100));
  assert_false(cs_roi_return_settled(10, 50, NAN));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(newcombe_published),
    cmocka_unit_test(totals_are_exact),
    cmocka_unit_test(wide_and_cancelling_values),
    cmocka_unit_test(extreme_value_leaves_others_unknown),
    cmocka_unit_test(absent_inputs_are_nan),
    cmocka_unit_test(segment_out_of_range),
    cmocka_unit_test(zero_row_ranks),
    cmocka_unit_test(markdown_cells),
    cmocka_unit_test(overflowing_square),
    cmocka_unit_test(overflowing_sum),
    cmocka_unit_test(large_revenues_keep_their_variance),
    cmocka_unit_test(outlier_note),
    cmocka_unit_test(action_rule_edges),
    cmocka_unit_test(return_settled_both_sides),
};
CS_TEST_MAIN(tests)
