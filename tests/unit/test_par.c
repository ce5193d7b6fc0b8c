/* tests/unit/test_par.c: row partition, error agreement, reductions, exchange (MPI). */
#include "mpi_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void block_sizes_pure(void **state) {
  (void)state;
  /* 10 rows on 4 ranks: 3 3 2 2; on 3 ranks: 4 3 3; 2 rows on 4 ranks: 1 1 0 0. */
  int64_t e4[] = {3, 3, 2, 2}, e3[] = {4, 3, 3}, z4[] = {1, 1, 0, 0};
  for (int r = 0; r < 4; r++) assert_int_equal(cs_part_block_size(10, r, 4), e4[r]);
  for (int r = 0; r < 3; r++) assert_int_equal(cs_part_block_size(10, r, 3), e3[r]);
  for (int r = 0; r < 4; r++) assert_int_equal(cs_part_block_size(2, r, 4), z4[r]);
  for (int r = 0; r < 7; r++) assert_int_equal(cs_part_block_size(0, r, 7), 0);
  /* Sizes differ by at most one and add up, for many shapes. */
  for (int64_t n = 0; n < 50; n++)
    for (int size = 1; size < 9; size++) {
      int64_t total = 0, mn = n, mx = 0;
      for (int r = 0; r < size; r++) {
        int64_t b = cs_part_block_size(n, r, size);
        total += b;
        mn = b < mn ? b : mn;
        mx = b > mx ? b : mx;
      }
      assert_int_equal(total, n);
      assert_true(mx - mn <= 1);
    }
}

static void check_partition(int64_t n) {
  cs_ctx_t *ctx = cs_test_ctx;
  cs_part_t p;
  assert_int_equal(cs_par_partition(ctx, n, &p), CS_OK);
  assert_int_equal(p.n_global, n);
  assert_int_equal(p.n_local, cs_part_block_size(n, ctx->rank, ctx->size));
  int64_t *all = calloc((size_t)ctx->size * 2, sizeof *all);
  int64_t mine[2] = {p.offset, p.n_local};
  assert_int_equal(cs_par_allgather(ctx, mine, sizeof mine, all), CS_OK);
  /* Contiguous, ordered by rank, covering [0, n). */
  int64_t next = 0;
  for (int r = 0; r < ctx->size; r++) {
    assert_int_equal(all[2 * r], next);
    next += all[2 * r + 1];
  }
  assert_int_equal(next, n);
  free(all);
}

static void partition_even_uneven_empty(void **state) {
  (void)state;
  check_partition(1000000);
  check_partition(1000003); /* uneven at 2, 3 and 4 ranks */
  check_partition(1);       /* zero-row ranks beyond the first */
  check_partition(0);       /* no rows anywhere */
}

static void partition_from_local_sizes(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  /* Rank r holds 0 rows when r is odd, r+5 rows otherwise. */
  int64_t mine = ctx->rank % 2 ? 0 : ctx->rank + 5;
  cs_part_t p;
  assert_int_equal(cs_par_partition_local(ctx, mine, &p), CS_OK);
  int64_t off = 0, total = 0;
  for (int r = 0; r < ctx->size; r++) {
    int64_t nr = r % 2 ? 0 : r + 5;
    if (r < ctx->rank) off += nr;
    total += nr;
  }
  assert_int_equal(p.offset, off);
  assert_int_equal(p.n_global, total);
  assert_int_equal(p.n_local, mine);
}

static void agree_adopts_lowest_failing_rank(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  cs_error_clear();
  assert_int_equal(cs_par_agree(ctx, CS_OK), CS_OK);
  /* The last rank (and rank 1 if it exists) fail; everyone must see the lowest one. */
  int fail_rank = ctx->size > 1 ? 1 : 0;
  int st = CS_OK;
  if (ctx->rank == ctx->size - 1 || ctx->rank == fail_rank)
    st = cs_error_set(CS_EDATA, __FILE__, __LINE__, "bad value on rank %d", ctx->rank);
  int got = cs_par_agree(ctx, st);
  assert_int_equal(got, CS_EDATA);
  char want[64];
  snprintf(want, sizeof want, "bad value on rank %d", fail_rank);
  assert_string_equal(cs_error_get()->msg, want);
  assert_int_equal(cs_error_get()->rank, fail_rank);
  cs_error_clear();
}

/* A message longer than the record keeps its start and its end (the reason), not a cut. */
static void long_message_keeps_its_end(void **state) {
  (void)state;
  char path[3001]; /* 1500 two-byte characters: every cut lands inside or beside one */
  for (int i = 0; i < 1500; i++) memcpy(path + 2 * i, "\xc3\xa9", 2);
  path[3000] = '\0';
  for (int shift = 0; shift < 2; shift++) { /* both parities of the cut points */
    cs_error_clear();
    cs_error_set(CS_EIO, __FILE__, __LINE__, "%scannot write '%s': No space left on device",
                 shift ? "x" : "", path);
    const char *m = cs_error_get()->msg;
    assert_true(strlen(m) < CS_MSG_MAX && strlen(m) > CS_MSG_MAX - 10);
    assert_true(strncmp(m + shift, "cannot write '\xc3\xa9", 16) == 0);
    assert_non_null(strstr(m, " [...] "));
    const char *end = "\xc3\xa9': No space left on device";
    assert_string_equal(m + strlen(m) - strlen(end), end);
    for (const unsigned char *c = (const unsigned char *)m; *c; c++) /* no broken character */
      if (*c == 0xc3) assert_int_equal(c[1], 0xa9);
      else assert_true(*c != 0xa9 || c[-1] == 0xc3);
  }
  /* Not UTF-8 (a Latin-1 path): continuation bytes only up to the cut, which must stay inside
   * the text (it had walked before the buffer). */
  char latin[1100];
  memset(latin, 0xa9, 1000);
  strcpy(latin + 1000, ": the reason");
  cs_error_clear();
  cs_error_set(CS_EIO, __FILE__, __LINE__, "%s", latin);
  const char *m = cs_error_get()->msg;
  assert_true(strlen(m) < CS_MSG_MAX && strstr(m, " [...] "));
  assert_string_equal(m + strlen(m) - 12, ": the reason");
  /* A rewrite (a line number in front, the config line behind) works on the whole message
   * and keeps both ends. */
  cs_error_rewrite("config c.ini line 3", 0, " (k is set in config c.ini line 2)");
  m = cs_error_get()->msg;
  assert_true(strncmp(m, "config c.ini line 3", 19) == 0 && strlen(m) < CS_MSG_MAX);
  assert_string_equal(m + strlen(m) - 46, ": the reason (k is set in config c.ini line 2)");
  char out[100];
  cs_error_elide("short", 5, out, sizeof out);
  assert_string_equal(out, "short");
  cs_error_clear();
}

static void reductions(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  int64_t v[3] = {ctx->rank + 1, ctx->rank + 1, ctx->rank + 1};
  assert_int_equal(cs_par_allreduce(ctx, v, 1, CS_DT_I64, CS_OP_SUM), CS_OK);
  assert_int_equal(cs_par_allreduce(ctx, v + 1, 1, CS_DT_I64, CS_OP_MIN), CS_OK);
  assert_int_equal(cs_par_allreduce(ctx, v + 2, 1, CS_DT_I64, CS_OP_MAX), CS_OK);
  assert_int_equal(v[0], (int64_t)ctx->size * (ctx->size + 1) / 2);
  assert_int_equal(v[1], 1);
  assert_int_equal(v[2], ctx->size);
  double loc[2] = {(double)ctx->rank, 10.0 - ctx->rank}, mmm[6];
  assert_int_equal(cs_par_minmeanmax(ctx, loc, 2, mmm), CS_OK);
  assert_true(mmm[0] == 0.0 && mmm[2] == ctx->size - 1);
  assert_true(mmm[1] == (ctx->size - 1) / 2.0);
  assert_true(mmm[3] == 10.0 - (ctx->size - 1) && mmm[5] == 10.0);
  assert_true(mmm[4] == 10.0 - (ctx->size - 1) / 2.0);
  /* 128-bit sums do not overflow where int64 would. */
  __int128 big = (__int128)INT64_MAX;
  assert_int_equal(cs_par_sum_i128(ctx, &big), CS_OK);
  assert_true(big == (__int128)INT64_MAX * ctx->size);
}

static void exchange_routes_records(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  int size = ctx->size;
  /* Rank r sends r+1 copies of the pair (r, q) to each rank q. */
  int64_t *counts = calloc((size_t)size, sizeof *counts);
  int64_t *send = calloc((size_t)size * (size_t)(ctx->rank + 1) * 2, sizeof *send);
  int64_t k = 0;
  for (int q = 0; q < size; q++) {
    counts[q] = ctx->rank + 1;
    for (int c = 0; c <= ctx->rank; c++) {
      send[2 * k] = ctx->rank;
      send[2 * k + 1] = q;
      k++;
    }
  }
  int64_t *recv = NULL, n = 0;
  assert_int_equal(cs_par_exchange(ctx, send, counts, 2 * sizeof(int64_t), (void **)&recv, &n),
                   CS_OK);
  assert_int_equal(n, (int64_t)size * (size + 1) / 2);
  k = 0;
  for (int r = 0; r < size; r++)
    for (int c = 0; c <= r; c++, k++) {
      assert_int_equal(recv[2 * k], r);
      assert_int_equal(recv[2 * k + 1], ctx->rank);
    }
  cs_free(recv);
  free(send);
  free(counts);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(block_sizes_pure),
    cmocka_unit_test(partition_even_uneven_empty),
    cmocka_unit_test(partition_from_local_sizes),
    cmocka_unit_test(agree_adopts_lowest_failing_rank),
    cmocka_unit_test(reductions),
    cmocka_unit_test(long_message_keeps_its_end),
    cmocka_unit_test(exchange_routes_records),
};
CS_TEST_MAIN(tests)
