/* tests/unit/mpi_support.c: see mpi_support.h. */
#include "mpi_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cs_ctx_t g_ctx;
cs_ctx_t *cs_test_ctx = &g_ctx;

int cs_test_all(int cond) {
  int64_t v = cond ? 1 : 0;
  if (cs_par_allreduce(cs_test_ctx, &v, 1, CS_DT_I64, CS_OP_MIN) < 0) return 0;
  return v == 1;
}

const char *cs_test_path(const char *name) {
  static char buf[4096];
  const char *dir = getenv("CS_TEST_DIR");
  snprintf(buf, sizeof buf, "%s/%s-np%d", dir ? dir : ".", name, cs_test_ctx->size);
  return buf;
}

int cs_test_main(int argc, char **argv, const struct CMUnitTest *tests, size_t n,
                 const char *group) {
  if (cs_par_init(&argc, &argv, &g_ctx) < 0) {
    fprintf(stderr, "cannot initialise MPI\n");
    return 1;
  }
  cs_log_init(g_ctx.rank, CS_LOG_QUIET);
  if (g_ctx.size > 1) setenv("CMOCKA_TEST_ABORT", "1", 1);
  /* Only rank 0 reports, so the log is readable; failures on other ranks abort the job. */
  if (g_ctx.rank != 0) {
    fclose(stdout);
    stdout = fopen("/dev/null", "w");
  }
  const char *base = strrchr(group, '/');
  int failed = _cmocka_run_group_tests(base ? base + 1 : group, tests, n, NULL, NULL);
  int64_t f = failed;
  cs_par_allreduce(&g_ctx, &f, 1, CS_DT_I64, CS_OP_MAX);
  cs_par_finalize(&g_ctx);
  return f ? 1 : 0;
}
