/* tests/unit/test_io.c: parallel column writes and reads, type conversion, how rows are read
 * (pread, not MPI-IO), store validation and atomic output (MPI, run at 1-4 ranks). */
#include "mpi_support.h"

#include "custseg/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 11 /* uneven on 2, 3 and 4 ranks; zero-row ranks appear with the N=2 store */

static const cs_dtype_t types[] = {CS_DT_I8,  CS_DT_I16, CS_DT_I32, CS_DT_I64, CS_DT_U8,
                                   CS_DT_U16, CS_DT_U32, CS_DT_U64, CS_DT_F32, CS_DT_F64};
#define NT ((int)(sizeof types / sizeof *types))

static void fill(cs_dtype_t t, void *buf, int64_t row0, int64_t n) {
  for (int64_t i = 0; i < n; i++) cs_dtype_put(t, buf, i, (double)(row0 + i) * 3 + 1);
}

/* Write a store with customer_id and one column per type ("c_int8", ...). Options drop parts
 * to make broken stores. */
enum { FULL = 0, NO_GROUP = 1, NO_VERSION = 2, NO_ID = 4, SHORT_COLUMN = 8 };
static void write_store(const char *path, int64_t n, int flags) {
  cs_ctx_t *ctx = cs_test_ctx;
  cs_part_t p;
  assert_int_equal(cs_par_partition(ctx, n, &p), CS_OK);
  cs_out_t *out;
  assert_int_equal(cs_out_create(ctx, path, &out), CS_OK);
  const char *grp = flags & NO_GROUP ? "/other" : "/customers";
  char name[128];
  void *buf = calloc((size_t)(p.n_local + 1), 8);
  cs_dset_t *d;
  if (!(flags & NO_ID)) {
    snprintf(name, sizeof name, "%s/customer_id", grp);
    assert_int_equal(cs_out_dataset(out, name, CS_DT_I64, n, &d), CS_OK);
    for (int64_t i = 0; i < p.n_local; i++) ((int64_t *)buf)[i] = 1000 + p.offset + i;
    assert_int_equal(cs_out_write(d, p.offset, p.n_local, buf), CS_OK);
  }
  for (int t = 0; t < NT; t++) {
    snprintf(name, sizeof name, "%s/c_%s", grp, cs_dtype_name(types[t]));
    int64_t len = (flags & SHORT_COLUMN) && t == 2 ? n - 1 : n;
    cs_part_t q;
    assert_int_equal(cs_par_partition(ctx, len, &q), CS_OK);
    assert_int_equal(cs_out_dataset(out, name, types[t], len, &d), CS_OK);
    fill(types[t], buf, q.offset, q.n_local);
    assert_int_equal(cs_out_write(d, q.offset, q.n_local, buf), CS_OK);
  }
  if (!(flags & NO_VERSION)) assert_int_equal(cs_out_attr_i64(out, grp, "schema_version", 1), CS_OK);
  const char *levels[] = {"low", "mid", "high"};
  snprintf(name, sizeof name, "%s/c_int8", grp);
  assert_int_equal(cs_out_attr_strings(out, name, "categories", levels, 3), CS_OK);
  assert_int_equal(cs_out_commit(out), CS_OK);
  free(buf);
}

static void roundtrip_all_types(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  const char *path = cs_test_path("io_roundtrip.h5");
  write_store(path, N, FULL);
  cs_store_t *s;
  assert_int_equal(cs_store_open(ctx, path, &s), CS_OK);
  assert_int_equal(s->n, N);
  assert_int_equal(s->n_columns, NT + 1);
  assert_int_equal(s->schema_version, 1);
  const cs_column_t *cat = cs_store_column(s, "c_int8");
  assert_non_null(cat);
  assert_int_equal(cat->n_categories, 3);
  assert_string_equal(cat->categories[2], "high");
  cs_part_t p;
  assert_int_equal(cs_par_partition(ctx, N, &p), CS_OK);
  double *f = calloc(N, sizeof *f); /* also holds the 5-row sub-range read below */
  int64_t *g = calloc((size_t)p.n_local + 1, sizeof *g);
  for (int t = 0; t < NT; t++) {
    char name[64];
    snprintf(name, sizeof name, "c_%s", cs_dtype_name(types[t]));
    const cs_column_t *c = cs_store_column(s, name);
    assert_non_null(c);
    assert_int_equal(c->dtype, types[t]);
    assert_int_equal(cs_store_read(s, name, p.offset, p.n_local, CS_DT_F64, f), CS_OK);
    /* Read with pread(2) on every rank, not through MPI-IO (store_read.c says why). */
    CS_ASSERT_ALL(strstr(cs_store_last_read_how(s), "pread") != NULL);
    if (!cs_dtype_is_float(types[t]))
      assert_int_equal(cs_store_read(s, name, p.offset, p.n_local, CS_DT_I64, g), CS_OK);
    for (int64_t i = 0; i < p.n_local; i++) {
      double want = (double)(p.offset + i) * 3 + 1;
      assert_true(f[i] == want);
      if (!cs_dtype_is_float(types[t])) assert_int_equal(g[i], (int64_t)want);
    }
  }
  /* A float column cannot be read where integers are needed: agreed error, no hang. */
  assert_int_equal(cs_store_read(s, "c_float32", p.offset, p.n_local, CS_DT_I64, g), CS_EDATA);
  cs_error_clear();
  /* Any sub-range, including empty ones on some ranks. */
  int64_t off = ctx->rank == 0 ? 3 : 0, cnt = ctx->rank == 0 ? 5 : 0;
  assert_int_equal(cs_store_read(s, "c_int16", off, cnt, CS_DT_F64, f), CS_OK);
  for (int64_t i = 0; i < cnt; i++) assert_true(f[i] == (double)(off + i) * 3 + 1);
  free(f);
  free(g);
  cs_store_close(s);
  cs_io_remove(ctx, path);
}

static void zero_row_ranks(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  const char *path = cs_test_path("io_tiny.h5");
  write_store(path, 2, FULL); /* ranks 2 and 3 hold no rows */
  cs_store_t *s;
  assert_int_equal(cs_store_open(ctx, path, &s), CS_OK);
  cs_part_t p;
  assert_int_equal(cs_par_partition(ctx, 2, &p), CS_OK);
  int64_t ids[2] = {0, 0};
  assert_int_equal(cs_store_read(s, "customer_id", p.offset, p.n_local, CS_DT_I64, ids), CS_OK);
  for (int64_t i = 0; i < p.n_local; i++) assert_int_equal(ids[i], 1000 + p.offset + i);
  cs_store_close(s);
  cs_io_remove(ctx, path);
}

static void empty_store(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  const char *path = cs_test_path("io_empty.h5");
  write_store(path, 0, FULL); /* N = 0 is a legal store: every rank has zero rows */
  cs_store_t *s;
  assert_int_equal(cs_store_open(ctx, path, &s), CS_OK);
  assert_int_equal(s->n, 0);
  double x;
  assert_int_equal(cs_store_read(s, "c_float64", 0, 0, CS_DT_F64, &x), CS_OK);
  cs_store_close(s);
  cs_io_remove(ctx, path);
}

static int open_fails(const char *path, int want, const char *needle) {
  cs_store_t *s = NULL;
  int st = cs_store_open(cs_test_ctx, path, &s);
  int ok = st == want && s == NULL && strstr(cs_error_get()->msg, needle) != NULL;
  if (!ok) fprintf(stderr, "open(%s): status %d, message '%s'\n", path, st, cs_error_get()->msg);
  cs_error_clear();
  return ok;
}

static void broken_stores_are_refused(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  CS_ASSERT_ALL(open_fails("/nonexistent/store.h5", CS_ENOENT, "No such file"));
  const char *txt = cs_test_path("io_text.h5");
  if (ctx->rank == 0) {
    FILE *f = fopen(txt, "w");
    fputs("customer_id,age\n1,30\n", f);
    fclose(f);
  }
  cs_par_barrier(ctx);
  CS_ASSERT_ALL(open_fails(txt, CS_EFORMAT, "not an HDF5 file"));
  cs_io_remove(ctx, txt);
  struct {
    int flags;
    const char *needle;
  } cases[] = {{NO_GROUP, "no group /customers"},
               {NO_VERSION, "no attribute schema_version"},
               {NO_ID, "customer_id is missing"},
               {SHORT_COLUMN, "/customers/c_int32 has 10 rows but /customers/customer_id has 11"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *path = cs_test_path("io_broken.h5");
    write_store(path, N, cases[i].flags);
    CS_ASSERT_ALL(open_fails(path, CS_EFORMAT, cases[i].needle));
    cs_io_remove(ctx, path);
  }
}

static void output_is_atomic(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  const char *path = cs_test_path("io_atomic.h5");
  char final[4096];
  snprintf(final, sizeof final, "%s", path);
  cs_io_remove(ctx, final);
  cs_out_t *out;
  assert_int_equal(cs_out_create(ctx, final, &out), CS_OK);
  cs_dset_t *d;
  assert_int_equal(cs_out_dataset(out, "/x", CS_DT_F64, 4, &d), CS_OK);
  CS_ASSERT_ALL(access(final, F_OK) != 0); /* nothing under the final name while writing */
  cs_out_abort(out);
  CS_ASSERT_ALL(access(final, F_OK) != 0);
  assert_int_equal(cs_out_create(ctx, final, &out), CS_OK);
  assert_int_equal(cs_out_commit(out), CS_OK);
  CS_ASSERT_ALL(access(final, F_OK) == 0);
  cs_io_remove(ctx, final);
  /* Unwritable destinations are refused before any work. */
  assert_int_equal(cs_io_check_writable(ctx, "/nonexistent-dir/x.h5", "output"), CS_EOUTPUT);
  cs_error_clear();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(roundtrip_all_types),
    cmocka_unit_test(zero_row_ranks),
    cmocka_unit_test(empty_store),
    cmocka_unit_test(broken_stores_are_refused),
    cmocka_unit_test(output_is_atomic),
};
CS_TEST_MAIN(tests)
