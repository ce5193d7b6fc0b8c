/* tests/unit/test_report.c: how the HTML report names segments (cs__seg_name) and writes
 * numbers (src/report/html.c, cs__num):
 * grouped digits where a double carries them, scientific notation beyond 10^15 (the grouped
 * digits of 1e300 had been cut to 63 characters standing for about 1e62), no "-0" (nor
 * "-0.0 pp"), an en dash for NaN and infinities. Local. */
#include "mpi_support.h"

#include "../../src/report/report_impl.h"

#include <math.h>
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(numbers),
    cmocka_unit_test(segment_names),
};
CS_TEST_MAIN(tests)
