/* tests/unit/test_kernels.c: the assignment kernel (src/kernels/assign.c) against a scalar
 * reference that spells out the documented arithmetic: score(x, q) = hn[q] - acc, where acc
 * is the fmaf chain x_0 c_q0, x_1 c_q1, ... in feature order from 0. Whatever path the build
 * takes (AVX-512 16-row tiles for K <= 16, multi-row panels above, the portable loop), labels
 * and the best and second-best scores must equal the reference bit for bit, ties must go to
 * the lowest centroid index, and a row's result must not depend on its neighbours or on where
 * a block starts. The accumulation kernel must give the integers of a scalar loop. Shapes cover K and D below, at and above the vector widths, and row counts
 * that leave partial blocks. Local. */
#include "mpi_support.h"

#include "custseg/kernels.h"
#include "custseg/rng.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The reference: one row, every centroid, in the documented order. */
static void reference(const float *x, int d, const cs_panel_t *p, int32_t *label, float *best,
                      float *second) {
  *best = FLT_MAX;
  *second = FLT_MAX;
  *label = 0;
  for (int q = 0; q < p->k; q++) {
    float acc = 0.0f;
    for (int j = 0; j < d; j++) acc = fmaf(x[j], p->ct[(int64_t)j * p->kp + q], acc);
    float s = p->hn[q] - acc;
    if (s < *best) {
      *second = *best;
      *best = s;
      *label = q;
    } else if (s < *second) {
      *second = s;
    }
  }
}

/* Random rows and centroids; with `ties`, centroid pairs are duplicated and some rows are put
 * exactly on a centroid, so equal scores occur. Values on a coarse grid make exact ties in
 * the float sums likely as well. */
static void fill(float *x, int64_t n, int d, double *c, int k, int ties, uint64_t seed) {
  cs_rng_t g;
  cs_rng_init(&g, seed, 0, 0);
  for (int q = 0; q < k; q++)
    for (int j = 0; j < d; j++) c[(int64_t)q * d + j] = floor(cs_rng_normal(&g) * 4.0) / 4.0;
  if (ties)
    for (int q = 1; q < k; q += 3) memcpy(c + (int64_t)q * d, c + (int64_t)(q - 1) * d, (size_t)d * sizeof *c);
  for (int64_t i = 0; i < n; i++)
    for (int j = 0; j < d; j++)
      x[i * d + j] = ties && i % 5 == 0 ? (float)c[(int64_t)(i % k) * d + j]
                                        : (float)(floor(cs_rng_normal(&g) * 8.0) / 8.0);
}

static void check_shape(int64_t n, int d, int k, int ties) {
  float *x = malloc((size_t)(n * d) * sizeof *x);
  double *c = malloc((size_t)k * (size_t)d * sizeof *c);
  int32_t *lab = malloc((size_t)n * sizeof *lab), *lab1 = malloc((size_t)n * sizeof *lab1);
  float *s2 = malloc((size_t)(2 * n) * sizeof *s2);
  assert_non_null(x);
  assert_non_null(c);
  assert_non_null(lab);
  assert_non_null(lab1);
  assert_non_null(s2);
  fill(x, n, d, c, k, ties, 1000u + (uint64_t)(n * 131 + d * 17 + k));
  cs_panel_t p = {0};
  assert_int_equal(cs_panel_set(&p, c, k, d), CS_OK);
  cs_kernel_assign(x, n, d, &p, lab, s2);
  cs_kernel_assign(x, n, d, &p, lab1, NULL);
  int64_t tied = 0;
  for (int64_t i = 0; i < n; i++) {
    int32_t want;
    float best, second;
    reference(x + i * d, d, &p, &want, &best, &second);
    tied += best == second;
    if (lab[i] != want || lab1[i] != want || memcmp(&s2[2 * i], &best, sizeof best) ||
        memcmp(&s2[2 * i + 1], &second, sizeof second))
      fail_msg("n=%lld d=%d k=%d row %lld: kernel label %d/%d scores %a %a, reference %d %a %a",
               (long long)n, d, k, (long long)i, lab[i], lab1[i], (double)s2[2 * i],
               (double)s2[2 * i + 1], want, (double)best, (double)second);
  }
  if (ties && k > 1) assert_true(tied > 0); /* the tie cases were really exercised */
  /* A row's result does not depend on where its block starts: every offset 0..16. */
  for (int64_t off = 1; off <= 16 && off < n; off++) {
    cs_kernel_assign(x + off * d, n - off, d, &p, lab1, NULL);
    for (int64_t i = off; i < n; i++)
      if (lab1[i - off] != lab[i])
        fail_msg("n=%ld d=%d k=%d: row %lld gets %d from offset %lld but %d from 0", (long)n, d, k,
                 (long long)i, lab1[i - off], (long long)off, lab[i]);
  }
  cs_panel_free(&p);
  free(x);
  free(c);
  free(lab);
  free(lab1);
  free(s2);
}

static void matches_reference(void **state) {
  (void)state;
  const int ks[] = {1, 2, 5, 15, 16, 17, 31, 32, 33, 64, 100};
  const int ds[] = {1, 3, 8, 15, 16, 17, 32, 37};
  const int64_t ns[] = {1, 15, 16, 17, 100, 1031};
  for (size_t a = 0; a < sizeof ks / sizeof *ks; a++)
    for (size_t b = 0; b < sizeof ds / sizeof *ds; b++)
      for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) check_shape(ns[c], ds[b], ks[a], 0);
}

static void ties_to_lowest_index(void **state) {
  (void)state;
  const int ks[] = {2, 7, 16, 17, 48};
  const int ds[] = {2, 16, 19};
  for (size_t a = 0; a < sizeof ks / sizeof *ks; a++)
    for (size_t b = 0; b < sizeof ds / sizeof *ds; b++) check_shape(533, ds[b], ks[a], 1);
}

/* Rows of huge and tiny magnitude: the reference and the kernel still agree bit for bit, and
 * padding centroids (hn = FLT_MAX) never win. */
static void extreme_values(void **state) {
  (void)state;
  const int d = 4, k = 3;
  double c[] = {1e18, 0, 0, 0, 0, 1e-20, 0, 0, -3, -3, -3, -3};
  float x[] = {1e19f, 0, 0, 0, 0, 0, 0, 0, -1e-30f, 0, 0, 0, -3, -3, -3, -3, 5, 5, 5, 5};
  cs_panel_t p = {0};
  assert_int_equal(cs_panel_set(&p, c, k, d), CS_OK);
  int32_t lab[5];
  float s2[10];
  cs_kernel_assign(x, 5, d, &p, lab, s2);
  for (int i = 0; i < 5; i++) {
    int32_t want;
    float best, second;
    reference(x + i * d, d, &p, &want, &best, &second);
    assert_int_equal(lab[i], want);
    assert_true(lab[i] < k);
    assert_memory_equal(&s2[2 * i], &best, sizeof best);
    assert_memory_equal(&s2[2 * i + 1], &second, sizeof second);
  }
  cs_panel_free(&p);
}

/* The partial M-step: integer sums per copy and segment against a scalar computation, with
 * and without weights, for D around the vector width, each feature with its own scale (a
 * column of small values keeps its digits beside one of large values). */
static void accumulate_matches_reference(void **state) {
  (void)state;
  const int ds_[] = {1, 7, 8, 16, 17, 33};
  for (size_t t = 0; t < sizeof ds_ / sizeof *ds_; t++)
    for (int weighted = 0; weighted < 2; weighted++) {
      const int d = ds_[t], k = 5, ds = d + 1;
      const int64_t n = 203;
      float *x = malloc((size_t)(n * d) * sizeof *x);
      double *w = malloc((size_t)n * sizeof *w), *scale = malloc((size_t)d * sizeof *scale);
      float *scalef = malloc((size_t)d * sizeof *scalef);
      int32_t *lab = malloc((size_t)n * sizeof *lab);
      const int64_t len = (int64_t)CS_ACC_COPIES * k * ds;
      int64_t *got = calloc((size_t)len, sizeof *got), *want = calloc((size_t)len, sizeof *want);
      cs_rng_t g;
      cs_rng_init(&g, 77, 0, (uint64_t)d);
      /* feature j: values of magnitude 1000 * 2^-(3j), on the grid 2^(20 + 3j) */
      for (int j = 0; j < d; j++) scale[j] = ldexp(1.0, 20 + 3 * (j % 11)), scalef[j] = (float)scale[j];
      for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
          x[i * d + j] = (float)(cs_rng_normal(&g) * 1000.0 * ldexp(1.0, -3 * (j % 11)));
        w[i] = 0.25 + cs_rng_uniform(&g);
        lab[i] = (int32_t)(cs_rng_uniform(&g) * k);
      }
      cs_acc_t a = {k, weighted ? w : NULL, scale, scalef, got};
      cs_kernel_accumulate(x, n, d, lab, &a);
      for (int64_t i = 0; i < n; i++) {
        int64_t *s = want + (i % CS_ACC_COPIES) * k * ds + (int64_t)lab[i] * ds;
        for (int j = 0; j < d; j++)
          s[j] += (int64_t)((double)x[i * d + j] * (weighted ? scale[j] * w[i] : scale[j]));
        s[d] += 1;
      }
      for (int64_t v = 0; v < len; v++)
        if (got[v] != want[v])
          fail_msg("accumulate d=%d weighted=%d: entry %lld is %lld, want %lld", d, weighted,
                   (long long)v, (long long)got[v], (long long)want[v]);
      free(x);
      free(w);
      free(scale);
      free(scalef);
      free(lab);
      free(got);
      free(want);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(accumulate_matches_reference),
    cmocka_unit_test(matches_reference),
    cmocka_unit_test(ties_to_lowest_index),
    cmocka_unit_test(extreme_values),
};
CS_TEST_MAIN(tests)
