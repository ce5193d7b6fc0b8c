/* tests/unit/test_features.c: the feature pipeline at 1-4 ranks: exact statistics against a
 * serial computation, one-hot layout, missing-value policies, zero variance, and statistics
 * written, read back and re-applied giving the identical matrix. */
#include "mpi_support.h"

#include "custseg/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 37

static double col_a(int64_t i) { return i == 5 ? NAN : 0.5 * (double)i + (double)(i % 3); }

static void write_store(const char *path) {
  cs_ctx_t *ctx = cs_test_ctx;
  cs_part_t p;
  assert_int_equal(cs_par_partition(ctx, N, &p), CS_OK);
  cs_out_t *out;
  assert_int_equal(cs_out_create(ctx, path, &out), CS_OK);
  double *a = calloc(N, sizeof *a);
  int64_t *id = calloc(N, sizeof *id);
  int32_t *b = calloc(N, sizeof *b);
  int8_t *c = calloc(N, sizeof *c);
  double *k = calloc(N, sizeof *k);
  for (int64_t i = 0; i < p.n_local; i++) {
    int64_t g = p.offset + i;
    a[i] = col_a(g);
    id[i] = 100 + g;
    b[i] = (int32_t)(g % 7);
    c[i] = (int8_t)(g % 3);
    k[i] = 4.0;
  }
  cs_dset_t *d;
  struct { const char *path; cs_dtype_t t; void *buf; } cols[] = {
      {"/customers/customer_id", CS_DT_I64, id}, {"/customers/a", CS_DT_F64, a},
      {"/customers/b", CS_DT_I32, b}, {"/customers/c", CS_DT_I8, c}, {"/customers/k", CS_DT_F64, k}};
  for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
    assert_int_equal(cs_out_dataset(out, cols[i].path, cols[i].t, N, &d), CS_OK);
    assert_int_equal(cs_out_write(d, p.offset, p.n_local, cols[i].buf), CS_OK);
  }
  const char *levels[] = {"x", "y", "z"};
  assert_int_equal(cs_out_attr_strings(out, "/customers/c", "categories", levels, 3), CS_OK);
  assert_int_equal(cs_out_attr_i64(out, "/customers", "schema_version", 1), CS_OK);
  assert_int_equal(cs_out_commit(out), CS_OK);
  free(a);
  free(id);
  free(b);
  free(c);
  free(k);
}

/* The test store written at `path`, opened, and this rank's part of its N rows in *p. */
static cs_store_t *written_store(const char *path, cs_part_t *p) {
  write_store(path);
  cs_store_t *s;
  assert_int_equal(cs_store_open(cs_test_ctx, path, &s), CS_OK);
  assert_int_equal(cs_par_partition(cs_test_ctx, N, p), CS_OK);
  return s;
}

static int cmp_d(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static void stats_layout_and_roundtrip(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  const char *path = cs_test_path("features_store.h5");
  cs_part_t p;
  cs_store_t *s = written_store(path, &p);
  cs_feature_spec_t spec = {.features = "a,b,c", .log1p = "b", .scale = CS_SCALE_ZSCORE};
  cs_features_t *f = NULL;
  cs_matrix_t m;
  assert_int_equal(cs_features_build(ctx, s, &p, &spec, NULL, &f, &m), CS_OK);
  assert_int_equal(f->d, 5); /* a, log1p(b), c=x, c=y, c=z */
  assert_string_equal(f->names[1], "log1p:b");
  assert_string_equal(f->names[3], "c=y");
  /* Serial reference for column a (36 finite values). */
  double sum = 0, ss = 0;
  int cnt = 0;
  for (int64_t i = 0; i < N; i++)
    if (!isnan(col_a(i))) sum += col_a(i), cnt++;
  double mean = sum / cnt;
  for (int64_t i = 0; i < N; i++)
    if (!isnan(col_a(i))) ss += (col_a(i) - mean) * (col_a(i) - mean);
  assert_true(fabs(f->cols[0].mean - mean) <= 1e-13 * fabs(mean));
  assert_true(fabs(f->cols[0].std - sqrt(ss / cnt)) <= 1e-13 * sqrt(ss / cnt));
  assert_int_equal(f->cols[0].missing, 1);
  /* The missing value is imputed with the mean: 0 in z units. One-hot rows sum to 1. */
  for (int64_t i = 0; i < m.n; i++) {
    if (m.row[i] == 5) assert_true(m.x[i * 5 + 0] == 0.0f);
    assert_true(m.x[i * 5 + 2] + m.x[i * 5 + 3] + m.x[i * 5 + 4] == 1.0f);
    assert_true(m.x[i * 5 + 2 + m.row[i] % 3] == 1.0f);
  }
  /* Written, read back, re-applied: the same matrix bit for bit. */
  const char *res = cs_test_path("features_stats.h5");
  cs_out_t *out;
  assert_int_equal(cs_out_create(ctx, res, &out), CS_OK);
  assert_int_equal(cs_features_write(out, f, "/stats"), CS_OK);
  assert_int_equal(cs_out_commit(out), CS_OK);
  cs_features_t *g = NULL;
  assert_int_equal(cs_features_read(ctx, res, "/stats", &g), CS_OK);
  assert_int_equal(g->d, f->d);
  assert_int_equal(g->cols[2].n_levels, 3);
  assert_string_equal(g->cols[2].levels[2], "z");
  cs_features_t *h = NULL;
  cs_matrix_t m2;
  assert_int_equal(cs_features_build(ctx, s, &p, &spec, g, &h, &m2), CS_OK);
  assert_int_equal(m2.n, m.n);
  assert_memory_equal(m2.x, m.x, (size_t)(m.n * m.d) * sizeof *m.x);
  for (int j = 0; j < f->d; j++) assert_string_equal(h->names[j], f->names[j]);
  cs_features_free(g);
  cs_features_free(h);
  cs_matrix_free(&m2);
  cs_matrix_free(&m);
  cs_features_free(f);

  /* Robust scaling: median and IQR by linear interpolation, as numpy's default. */
  spec = (cs_feature_spec_t){.features = "a", .scale = CS_SCALE_ROBUST};
  assert_int_equal(cs_features_build(ctx, s, &p, &spec, NULL, &f, &m), CS_OK);
  double v[N];
  cnt = 0;
  for (int64_t i = 0; i < N; i++)
    if (!isnan(col_a(i))) v[cnt++] = col_a(i);
  qsort(v, (size_t)cnt, sizeof *v, cmp_d);
  double q[3];
  for (int t = 0; t < 3; t++) {
    double pos = (0.25 * (t + 1)) * (cnt - 1);
    int lo = (int)floor(pos);
    q[t] = v[lo] + (pos - lo) * (v[lo + 1 < cnt ? lo + 1 : lo] - v[lo]);
  }
  assert_true(f->cols[0].median == q[1]);
  assert_true(fabs(f->cols[0].iqr - (q[2] - q[0])) < 1e-12);
  cs_matrix_free(&m);
  cs_features_free(f);

  /* --missing drop: the customer with a NaN has no row. */
  spec = (cs_feature_spec_t){.features = "a,b", .missing = CS_MISSING_DROP};
  assert_int_equal(cs_features_build(ctx, s, &p, &spec, NULL, &f, &m), CS_OK);
  assert_int_equal(f->n_used, N - 1);
  for (int64_t i = 0; i < m.n; i++) assert_true(m.row[i] != 5);
  cs_matrix_free(&m);
  cs_features_free(f);

  /* --missing error and a constant column are refused, on every rank alike. */
  spec = (cs_feature_spec_t){.features = "a", .missing = CS_MISSING_ERROR};
  assert_int_equal(cs_features_build(ctx, s, &p, &spec, NULL, &f, &m), CS_EDATA);
  assert_non_null(strstr(cs_error_get()->msg, "(first at row 5)"));
  cs_error_clear();
  spec = (cs_feature_spec_t){.features = "a,k"};
  assert_int_equal(cs_features_build(ctx, s, &p, &spec, NULL, &f, &m), CS_EDATA);
  assert_non_null(strstr(cs_error_get()->msg, "'k' has zero variance (constant 4)"));
  cs_error_clear();
  cs_store_close(s);
  cs_io_remove(ctx, path);
  cs_io_remove(ctx, res);
}

/* The code that means 1 for a categorical flag with levels (a, b), or -1 when refused. */
static int flag_one(const char *name, const char *a, const char *b, cs_flag_role_t role) {
  char *lv[2] = {(char *)a, (char *)b};
  cs_column_t c = {.dtype = CS_DT_I32, .n_categories = 2, .categories = lv};
  snprintf(c.name, sizeof c.name, "%s", name);
  double one = -1, zero = -1;
  const int st = cs_features_flag_values("s.h5", &c, role, NULL, NULL, &one, &zero);
  cs_error_clear();
  return st == CS_OK ? (int)one : -1;
}

/* Flag levels by meaning and role: a campaign's holdout is its control group, a churn
 * split's holdout is 1, and the words come before the column's own name. */
static void flag_levels_by_role(void **state) {
  (void)state;
  assert_int_equal(flag_one("treated", "campaign", "holdout", CS_FLAG_TREATED), 0);
  assert_int_equal(flag_one("treated", "control", "treatment", CS_FLAG_TREATED), 1);
  assert_int_equal(flag_one("split", "holdout", "train", CS_FLAG_SPLIT), 0);
  assert_int_equal(flag_one("train", "train", "valid", CS_FLAG_SPLIT), 1); /* not the name */
  assert_int_equal(flag_one("churned", "churned", "stayed", CS_FLAG_EVENT), 0);
  assert_int_equal(flag_one("churned", "no", "gone", CS_FLAG_EVENT), 1);
  assert_int_equal(flag_one("status", "left", "stayed", CS_FLAG_EVENT), -1);
  assert_int_equal(flag_one("churned", "holdout", "x", CS_FLAG_EVENT), -1);
}

/* A numeric 0/1 flag: 1 means yes, unless `positive` says 0; any other word is refused. */
static void flag_numeric_positive(void **state) {
  (void)state;
  cs_column_t c = {.dtype = CS_DT_I8};
  snprintf(c.name, sizeof c.name, "churned");
  double one = -1, zero = -1;
  assert_int_equal(cs_features_flag_values("s.h5", &c, CS_FLAG_EVENT, NULL, "--p", &one, &zero), CS_OK);
  assert_true(one == 1 && zero == 0);
  assert_int_equal(cs_features_flag_values("s.h5", &c, CS_FLAG_EVENT, "0", "--p", &one, &zero), CS_OK);
  assert_true(one == 0 && zero == 1);
  assert_int_equal(cs_features_flag_values("s.h5", &c, CS_FLAG_EVENT, "yes", "--p", &one, &zero),
                   CS_EUSAGE);
  assert_non_null(strstr(cs_error_get()->msg, "--p 'yes' is not one of its values 0 and 1"));
  cs_error_clear();
}

/* The cells a customer gets that are not its own value scaled: column a's missing value
 * (row 5) is imputed with the mean in the scale's units, (mean - median) / IQR with --scale
 * robust and the mean itself with --scale none (both had been 0, right only for zscore); and
 * a categorical column's one-hot cell is its --feature-weights weight (it had stayed 1). */
static void imputed_and_weighted_cells(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  const char *path = cs_test_path("features_fill_store.h5");
  cs_part_t p;
  cs_store_t *s = written_store(path, &p);
  cs_features_t *f = NULL;
  cs_matrix_t m;
  const cs_scale_t scales[] = {CS_SCALE_ROBUST, CS_SCALE_NONE};
  for (int k = 0; k < 2; k++) {
    cs_feature_spec_t spec = {.features = "a", .scale = scales[k]};
    assert_int_equal(cs_features_build(ctx, s, &p, &spec, NULL, &f, &m), CS_OK);
    const cs_feature_col_t *c = &f->cols[0];
    const double want = k == 0 ? (c->mean - c->median) / c->iqr : c->mean;
    assert_true(fabs(want) > 0.01); /* a fill of 0 would be wrong */
    for (int64_t i = 0; i < m.n; i++)
      if (m.row[i] == 5) assert_true(fabs(m.x[i] - want) <= 1e-6 * fabs(want));
    cs_matrix_free(&m);
    cs_features_free(f);
  }
  cs_feature_spec_t spec = {.features = "a,c", .weights = "c:2.5", .scale = CS_SCALE_ZSCORE};
  assert_int_equal(cs_features_build(ctx, s, &p, &spec, NULL, &f, &m), CS_OK);
  assert_int_equal(f->d, 4); /* a, c=x, c=y, c=z */
  for (int64_t i = 0; i < m.n; i++) {
    for (int l = 0; l < 3; l++)
      assert_true(m.x[i * 4 + 1 + l] == (l == m.row[i] % 3 ? 2.5f : 0.0f));
  }
  cs_matrix_free(&m);
  cs_features_free(f);
  cs_store_close(s);
  cs_io_remove(ctx, path);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(stats_layout_and_roundtrip),
    cmocka_unit_test(imputed_and_weighted_cells),
    cmocka_unit_test(flag_levels_by_role),
    cmocka_unit_test(flag_numeric_positive),
};
CS_TEST_MAIN(tests)
