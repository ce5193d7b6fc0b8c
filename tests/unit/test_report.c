/* tests/unit/test_report.c: how the HTML report names segments (cs__seg_name), escapes names
 * (cs__esc), sizes the heatmap and writes numbers (src/report/html.c, cs__num):
 * grouped digits where a double carries them, scientific notation beyond 10^15 (the grouped
 * digits of 1e300 had been cut to 63 characters standing for about 1e62), no "-0" (nor
 * "-0.0 pp"), an en dash for NaN and infinities; the CLV distribution's bins and quantiles
 * with the CLV chart's axis from the 1st percentile, and the churn section's calibration bins
 * (src/report/model_sections.c). Local. */
#include "mpi_support.h"

#include "../../src/report/report_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void expect(double v, cs__fmt_t f, const char *want) {
  char got[128];
  cs__num(got, sizeof got, v, f);
  if (strcmp(got, want)) fail_msg("cs__num(%.17g, %d) gave '%s', wanted '%s'", v, (int)f, got, want);
}

static void numbers(void **state) {
  (void)state;
  expect(1234567.891, CS__MONEY, "1,234,567.89");
  expect(-1234.5, CS__INT, "-1,234");
  expect(-0.001, CS__MONEY, "0.00");
  expect(-0.4, CS__INT, "0");
  expect(999999999999999.0, CS__INT, "999,999,999,999,999");
  expect(1e300, CS__MONEY, "1e+300");
  expect(-2.5e17, CS__INT, "-2.5e+17");
  expect(123456789012345678.0, CS__G, "1.235e+17");
  expect(0.1234, CS__PCT, "12.3%");
  expect(-0.00001, CS__PCT, "0.0%");
  expect(-0.0, CS__PCT, "0.0%");
  expect(-0.00001, CS__PP, "0.0 pp");
  expect(0.00049, CS__PP, "0.0 pp");
  expect(0.0005, CS__PP, "+0.1 pp");
  expect(-0.0123, CS__PP, "-1.2 pp");
  expect(NAN, CS__MONEY, "\xe2\x80\x93");
  expect(INFINITY, CS__INT, "\xe2\x80\x93");
  expect(0.5, CS__G, "0.5");
  expect(12345.6, CS__G, "12,346");
  expect(0.00025, CS__PCT, "under 0.1%"); /* 5 of 20,000 customers had shown as 0.0% */
  expect(9538, CS__RATIO, "9,538.000");
  expect(0.25, CS__RATIO, "0.250");
  expect(-0.0001, CS__RATIO, "0.000");
  expect(12.3456, CS__SEC, "12.346 s");
  expect(1e300, CS__SEC, "1e+300 s"); /* had been 63 digits, without the unit */
}

/* Bidirectional overrides, embeddings and isolates in a name from the data are replaced
 * (U+202E had turned the rest of a label, and a persona's numbers, around); right-to-left
 * letters and the other characters stay. */
static void bidi_controls(void **state) {
  (void)state;
  cs__buf_t b = {0};
  cs__esc(&b, "\xe2\x80\xaeRTL \xe2\x81\xa6x\xe2\x81\xa9 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d <&> \xe2\x80\x94");
  assert_non_null(b.p);
  assert_string_equal(b.p, "\xef\xbf\xbdRTL \xef\xbf\xbdx\xef\xbf\xbd \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d &lt;&amp;&gt; \xe2\x80\x94");
  free(b.p);
}

/* The box plot is as wide as its axis caption, which starts at the left edge when wider than
 * the axis: the CLV chart's 150-character caption had been centred on a 600 px axis and cut. */
static void boxes_caption_width(void **state) {
  (void)state;
  cs__buf_t b = {0};
  const char *labels[1] = {"0"}, *colours[1] = {"#000000"};
  const double q[5] = {1, 2, 3, 4, 5};
  const int64_t c[2] = {1, 1};
  char cap[200];
  memset(cap, 'c', 150);
  cap[150] = '\0';
  cs__svg_boxes(&b, "t", cap, 1, labels, colours, q, c, 2, 1, 10);
  assert_non_null(b.p);
  const char *vb = strstr(b.p, "viewBox=\"0 0 "), *at = strstr(b.p, cap);
  assert_non_null(vb);
  assert_non_null(at);
  const double w = strtod(vb + 13, NULL);
  const char *x = at;
  while (x > b.p && strncmp(x, "x=\"", 3)) x--;
  const double x0 = strtod(x + 3, NULL);
  const int start = strstr(x, "text-anchor=\"start\"") && strstr(x, "text-anchor=\"start\"") < at;
  if (!start || x0 < 0 || !(w >= x0 + 6.5 * 150))
    fail_msg("caption at x = %g (%s) in an SVG %g px wide", x0, start ? "start" : "centred", w);
  free(b.p);
}

/* A segment whose values are all 0 says so in its row (it had been left blank: 0 lies below
 * the logarithmic axis); a segment without values says that. */
static void boxes_all_zero(void **state) {
  (void)state;
  cs__buf_t b = {0};
  const char *labels[3] = {"zeros", "values", "none"}, *colours[3] = {"#000", "#111", "#222"};
  const double q[15] = {0, 0, 0, 0, 0, 1, 2, 3, 4, 5, NAN, NAN, NAN, NAN, NAN};
  const int64_t c[6] = {0, 0, 1, 1, 0, 0};
  cs__svg_boxes(&b, "t", "x", 3, labels, colours, q, c, 2, 1, 10);
  assert_non_null(b.p);
  const char *zero = strstr(b.p, ">all 0<"), *none = strstr(b.p, ">no values<");
  if (!zero || !none || strstr(zero + 1, ">all 0<") || strstr(none + 1, ">no values<"))
    fail_msg("want one 'all 0' and one 'no values' row note: %s", b.p);
  free(b.p);
}

/* The centroid heatmap is as wide as its title and its colour legend's caption, not only its
 * grid: with two features both had been cut off (an SVG 387 px wide, the caption from 415). */
static void heatmap_width(void **state) {
  (void)state;
  cs__buf_t b = {0};
  const double v[4] = {0.5, -1, 2, 0};
  const char *rows[2] = {"a", "b"}, *cols[2] = {"age", "income"};
  cs__svg_heatmap(&b, "Standardized segment centres (segment \xc3\x97 feature)", 2, 2, v, rows,
                  cols, 2.0, "standard deviations from the population mean");
  assert_non_null(b.p);
  double w = 0, caption_x = 0;
  const char *vb = strstr(b.p, "viewBox=\"0 0 "), *cap = strstr(b.p, "\">standard deviations");
  assert_non_null(vb);
  assert_non_null(cap);
  w = strtod(vb + 13, NULL);
  const char *x = cap;
  while (x > b.p && strncmp(x, "x=\"", 3)) x--;
  caption_x = strtod(x + 3, NULL);
  if (!(w >= caption_x + 6.5 * 72)) fail_msg("heatmap %g px wide, its caption starts at %g", w, caption_x);
  free(b.p);
}

/* A persona label that ends in its id (labels made unique) shows the id once: "19 · ... (segment
 * 19)" had it twice. Other labels are shown whole. */
static void segment_names(void **state) {
  (void)state;
  char l0[] = "high monetary \xc2\xb7 recent (segment 0)", l1[] = "low age (segment 10)",
       l2[] = "lapsed";
  char *labels[] = {l0, l1, l2};
  cs_report_t r;
  memset(&r, 0, sizeof r);
  r.sizes.rows = 3;
  r.has_personas = 1;
  r.p_labels = labels;
  r.n_labels = 3;
  char got[128];
  cs__seg_name(&r, 0, got, sizeof got);
  assert_string_equal(got, "0 \xc2\xb7 high monetary \xc2\xb7 recent");
  cs__seg_name(&r, 1, got, sizeof got); /* another segment's id stays */
  assert_string_equal(got, "1 \xc2\xb7 low age (segment 10)");
  cs__seg_name(&r, 2, got, sizeof got);
  assert_string_equal(got, "2 \xc2\xb7 lapsed");
  cs__seg_name(&r, 3, got, sizeof got);
  assert_string_equal(got, "No segment");
}

/* CLV box plots: a segment whose lower quartiles are 0 gets its box (drawn from the axis'
 * start; it had got none), one without values says so. */
static void clv_boxes(void **state) {
  (void)state;
  cs__buf_t b = {0};
  const double q[10] = {0, 0, 0, 4.48, 26.96, NAN, NAN, NAN, NAN, NAN};
  const int64_t c[4] = {3, 5, 0, 0};
  const char *labels[2] = {"half zero", "none"}, *colours[2] = {"#4e79a7", "#f28e2b"};
  cs__svg_boxes(&b, "CLV", "CLV", 2, labels, colours, q, c, 2, 0.01, 100);
  assert_non_null(b.p);
  int boxes = 0;
  for (const char *x = b.p; (x = strstr(x, "fill-opacity=\"0.75\"")); x++) boxes++;
  assert_int_equal(boxes, 1);
  assert_non_null(strstr(b.p, ">no values</text>"));
  free(b.p);
}

/* The middle of the logarithmic bin that holds v (lo < v <= hi), as cs_report_clv_distribution
 * bins it and cs_report_clv_quantile reads it back. */
static double bin_middle(const cs_report_clv_t *c, double v) {
  int j = (int)(CS_REPORT_CLV_BINS * (log(v / c->lo) / log(c->hi / c->lo)));
  j = j < CS_REPORT_CLV_BINS ? j : CS_REPORT_CLV_BINS - 1; /* hi itself: the last bin */
  return c->lo * pow(c->hi / c->lo, (j + 0.5) / CS_REPORT_CLV_BINS);
}

/* The CLV distribution's counts and quantiles (docs/report.md): no value (NaN) and zero (at
 * most 10^-6 of the largest, that value itself included) counted apart; a label of -1 in the
 * last group; the quantile q is the customer of rank ceil(q n) among the n with a value (NaN
 * left out, as numpy's 'inverted_cdf'), read as the geometric middle of its bin. */
static void clv_quantiles(void **state) {
  (void)state;
  enum { N = 99 + 10 + 3 };
  int64_t label[N];
  double value[N];
  int n = 0;
  for (int v = 1; v <= 99; v++) label[n] = 0, value[n++] = v; /* segment 0: 1 .. 99 */
  for (int i = 0; i < 10; i++) label[n] = 0, value[n++] = NAN; /* and 10 without a value */
  label[n] = 1, value[n++] = 0.0;                               /* segment 1: zero, */
  label[n] = 1, value[n++] = 99 * 1e-6;                         /* exactly lo: zero too */
  label[n] = -1, value[n++] = 7;                                /* no segment */
  cs_report_clv_t c;
  assert_int_equal(cs_report_clv_distribution(cs_test_ctx, n, label, value, 2, &c), CS_OK);
  assert_int_equal(c.groups, 3);
  assert_true(c.hi == 99 && c.lo == 99 * 1e-6);
  const int64_t *g0 = c.count, *g1 = c.count + CS_REPORT_CLV_SLOTS, *g2 = g1 + CS_REPORT_CLV_SLOTS;
  int64_t binned = 0;
  for (int s = 2; s < CS_REPORT_CLV_SLOTS; s++) binned += g0[s];
  assert_true(g0[0] == 10 && g0[1] == 0 && binned == 99);
  assert_true(g1[0] == 0 && g1[1] == 2);
  assert_true(g2[2 + (int)(CS_REPORT_CLV_BINS * log(7 / c.lo) / log(c.hi / c.lo))] == 1);
  /* Segment 0: ranks ceil(q 99) of 1 .. 99. */
  static const struct { double q, value; } want[] = {
      {0.0, 1}, {0.05, 5}, {0.25, 25}, {0.5, 50}, {0.75, 75}, {0.95, 95}, {1.0, 99}};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    const double got = cs_report_clv_quantile(&c, 0, want[i].q);
    if (!(fabs(got - bin_middle(&c, want[i].value)) <= 1e-12 * want[i].value &&
          fabs(got / want[i].value - 1) < 0.0034))
      fail_msg("quantile %g: %.17g, wanted the middle of the bin of %g, %.17g", want[i].q, got,
               want[i].value, bin_middle(&c, want[i].value));
  }
  assert_true(cs_report_clv_quantile(&c, 1, 0.5) == 0); /* all zero */
  free(c.count);
}

/* The churn section's calibration bins: an empty bin is left out, and a bin of fewer than 30
 * customers (29, not 30) is marked as noisy. */
static void calibration_bins(void **state) {
  (void)state;
  double gains[10 * 3], cal[10 * 3];
  const double count[10] = {0, 29, 30, 500, 0, 31, 1, 400, 200, 100};
  for (int i = 0; i < 10; i++) {
    gains[3 * i] = (i + 1) / 10.0, gains[3 * i + 1] = fmin(1, 2 * gains[3 * i]);
    gains[3 * i + 2] = gains[3 * i + 1] / gains[3 * i];
    cal[3 * i] = (i + 0.5) / 10, cal[3 * i + 1] = count[i] > 0 ? (i + 0.4) / 10 : NAN;
    cal[3 * i + 2] = count[i];
  }
  cs_report_t r;
  memset(&r, 0, sizeof r);
  r.churn_split = "holdout";
  r.gains = (cs_report_matrix_t){.v = gains, .rows = 10, .cols = 3};
  r.calibration = (cs_report_matrix_t){.v = cal, .rows = 10, .cols = 3};
  cs__buf_t b = {0};
  cs__section_churn(&b, &r, "churn.h5");
  assert_non_null(b.p);
  const char *t = strstr(b.p, "<h3>Calibration bins</h3>");
  assert_non_null(t);
  int rows = 0, noisy = 0;
  for (const char *x = t; (x = strstr(x, "<tr>")) && x < strstr(t, "</table>"); x++) rows++;
  for (const char *x = t; (x = strstr(x, "few customers: the observed rate is noisy")); x++) noisy++;
  assert_int_equal(rows, 1 + 8); /* the header and the 8 bins with customers */
  assert_int_equal(noisy, 2);    /* 29 and 1 */
  free(b.p);
}

/* The CLV chart's axis starts at the 1st percentile of the positive values: with 1% of the
 * customers at 0.01, 9% at 0.1 and the rest at 100, it shows the 0.01 decade (from the 10th
 * percentile it would not), and no decade below it. */
static void clv_axis_from_first_percentile(void **state) {
  (void)state;
  enum { N = 1000 };
  int64_t label[N];
  double value[N];
  for (int i = 0; i < N; i++) label[i] = 0, value[i] = i < 10 ? 0.01 : i < 100 ? 0.1 : 100;
  cs_report_t r;
  memset(&r, 0, sizeof r);
  r.sizes.rows = 1;
  assert_int_equal(cs_report_clv_distribution(cs_test_ctx, N, label, value, 1, &r.clv), CS_OK);
  cs__buf_t b = {0};
  cs__section_clv(&b, &r, "clv.h5");
  assert_non_null(b.p);
  assert_non_null(strstr(b.p, "fill=\"#57606a\">0.01</text>"));
  assert_null(strstr(b.p, "fill=\"#57606a\">0.001</text>"));
  free(b.p);
  free(r.clv.count);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(clv_axis_from_first_percentile),
    cmocka_unit_test(calibration_bins),
    cmocka_unit_test(clv_quantiles),
    cmocka_unit_test(numbers),
    cmocka_unit_test(segment_names),
    cmocka_unit_test(bidi_controls),
    cmocka_unit_test(heatmap_width),
    cmocka_unit_test(boxes_caption_width),
    cmocka_unit_test(boxes_all_zero),
    cmocka_unit_test(clv_boxes),
};
CS_TEST_MAIN(tests)
