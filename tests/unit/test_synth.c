/* tests/unit/test_synth.c: counter-based RNG and generator determinism (local, no MPI work). */
#include "mpi_support.h"

#include "custseg/rng.h"
#include "custseg/synth.h"

#include <math.h>
#include <string.h>

static cs_synth_opts_t default_opts(void) {
  cs_synth_opts_t o = {.customers = 100000, .segments = 6, .seed = 42, .id_base = 1,
                       .missing_rate = 0.0, .unlabelled_rate = 0.05, .chunk_rows = 1000};
  return o;
}

static void rng_is_a_function_of_its_key(void **state) {
  (void)state;
  cs_rng_t a, b;
  cs_rng_init(&a, 7, 1, 123456789);
  uint32_t first[10];
  for (int i = 0; i < 10; i++) first[i] = cs_rng_u32(&a);
  cs_rng_init(&b, 7, 1, 123456789);
  for (int i = 0; i < 10; i++) assert_int_equal(cs_rng_u32(&b), first[i]);
  cs_rng_init(&b, 7, 1, 123456790); /* next row: different stream */
  int same = 0;
  for (int i = 0; i < 10; i++) same += cs_rng_u32(&b) == first[i];
  assert_true(same < 2);
  cs_rng_init(&b, 8, 1, 123456789); /* other seed */
  same = 0;
  for (int i = 0; i < 10; i++) same += cs_rng_u32(&b) == first[i];
  assert_true(same < 2);
}

static void rng_distributions(void **state) {
  (void)state;
  /* Means and variances within 5 standard errors on 200k draws (fixed keys: no flakiness). */
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0, sp = 0, sg = 0, spb = 0;
  for (int i = 0; i < n; i++) {
    cs_rng_t r;
    cs_rng_init(&r, 1, 9, (uint64_t)i);
    double u = cs_rng_uniform(&r);
    assert_true(u > 0.0 && u < 1.0);
    su += u;
    double z = cs_rng_normal(&r);
    sn += z;
    sn2 += z * z;
    sp += (double)cs_rng_poisson(&r, 3.5);
    spb += (double)cs_rng_poisson(&r, 40.0);
    sg += cs_rng_gamma(&r, 2.5);
  }
  assert_true(fabs(su / n - 0.5) < 5 * sqrt(1.0 / 12 / n));
  assert_true(fabs(sn / n) < 5 * sqrt(1.0 / n));
  assert_true(fabs(sn2 / n - 1.0) < 5 * sqrt(2.0 / n));
  assert_true(fabs(sp / n - 3.5) < 5 * sqrt(3.5 / n));
  assert_true(fabs(spb / n - 40.0) < 5 * sqrt(40.0 / n));
  assert_true(fabs(sg / n - 2.5) < 5 * sqrt(2.5 / n));
}

static void rows_do_not_depend_on_order(void **state) {
  (void)state;
  cs_synth_opts_t o = default_opts();
  static cs_synth_model_t m;
  assert_int_equal(cs_synth_model_init(&o, &m), CS_OK);
  double fwd[50][CS_SC_N], bwd[CS_SC_N];
  for (int i = 0; i < 50; i++) cs_synth_row(&m, 1000 + i, fwd[i]);
  for (int i = 49; i >= 0; i--) {
    cs_synth_row(&m, 1000 + i, bwd);
    assert_memory_equal(bwd, fwd[i], sizeof bwd);
  }
  assert_true(fwd[7][CS_SC_CUSTOMER_ID] == 1.0 + 1007);
}

static void rows_are_plausible(void **state) {
  (void)state;
  cs_synth_opts_t o = default_opts();
  o.missing_rate = 0.1;
  static cs_synth_model_t m;
  assert_int_equal(cs_synth_model_init(&o, &m), CS_OK);
  int64_t seg[CS_SYNTH_MAX_SEGMENTS] = {0}, missing = 0, unknown = 0;
  double churn = 0, p = 0;
  const int n = 50000;
  for (int i = 0; i < n; i++) {
    double v[CS_SC_N];
    cs_synth_row(&m, i, v);
    seg[(int)v[CS_SC_TRUTH_SEGMENT]]++;
    assert_true(v[CS_SC_AGE] >= 18 && v[CS_SC_AGE] <= 95);
    assert_true(v[CS_SC_REGION] >= 0 && v[CS_SC_REGION] < CS_SYNTH_REGIONS);
    assert_true(v[CS_SC_TRUTH_CHURN_P] > 0 && v[CS_SC_TRUTH_CHURN_P] < 1);
    missing += isnan(v[CS_SC_INCOME]);
    if (v[CS_SC_CHURNED] < 0) unknown++;
    else churn += v[CS_SC_CHURNED], p += v[CS_SC_TRUTH_CHURN_P];
  }
  for (int k = 0; k < m.k; k++) /* every segment present, near its weight */
    assert_true(fabs((double)seg[k] / n - m.seg[k].weight) < 0.01);
  assert_true(fabs((double)missing / n - 0.1) < 0.01);
  assert_true(fabs((double)unknown / n - 0.05) < 0.01);
  assert_true(fabs(churn - p) / (n - unknown) < 0.01); /* labels follow the truth */
}

static void bad_options_are_refused(void **state) {
  (void)state;
  static cs_synth_model_t m;
  cs_synth_opts_t o = default_opts();
  o.segments = 0;
  assert_int_equal(cs_synth_model_init(&o, &m), CS_EUSAGE);
  assert_non_null(strstr(cs_error_get()->msg, "--segments"));
  cs_error_clear();
  o = default_opts();
  o.missing_rate = 1.5;
  assert_int_equal(cs_synth_model_init(&o, &m), CS_EUSAGE);
  cs_error_clear();
  o = default_opts();
  o.segments = 20; /* beyond the archetypes: perturbed variants */
  assert_int_equal(cs_synth_model_init(&o, &m), CS_OK);
  assert_true(m.weight_cum[19] == 1.0);
}

/* cs_rng_block16 gives, lane by lane, the words of cs_rng_init + cs_rng_u32 (the AVX-512
 * Philox against Random123's), for blocks 0..3 and indices with high words set. */
static void rng_block16_matches(void **state) {
  (void)state;
  for (int rep = 0; rep < 64; rep++) {
    uint64_t idx[16];
    uint32_t out[4][16];
    const uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(rep + 1);
    for (int l = 0; l < 16; l++) idx[l] = (uint64_t)rep * 1000003u + (uint64_t)l * 0x100000001ull;
    for (uint32_t b = 0; b < 4; b++) {
      cs_rng_block16(seed, 0x1417u + (uint32_t)rep, idx, b, out);
      for (int l = 0; l < 16; l++) {
        cs_rng_t g;
        cs_rng_init(&g, seed, 0x1417u + (uint32_t)rep, idx[l]);
        uint32_t w[16];
        for (int v = 0; v < 16; v++) w[v] = cs_rng_u32(&g);
        for (int v = 0; v < 4; v++) assert_int_equal(out[v][l], w[4 * b + v]);
      }
    }
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rng_block16_matches),
    cmocka_unit_test(rng_is_a_function_of_its_key),
    cmocka_unit_test(rng_distributions),
    cmocka_unit_test(rows_do_not_depend_on_order),
    cmocka_unit_test(rows_are_plausible),
    cmocka_unit_test(bad_options_are_refused),
};
CS_TEST_MAIN(tests)
