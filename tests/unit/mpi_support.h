/* tests/unit/mpi_support.h: CMocka under MPI.
 * main() initialises MPI through cs_par_init, sets CMOCKA_TEST_ABORT when there is more than
 * one rank (so a failed assertion ends the job instead of leaving ranks waiting), and runs
 * the group on every rank. CS_ASSERT_ALL checks a condition on every rank collectively. */
#ifndef CS_TEST_MPI_SUPPORT_H
#define CS_TEST_MPI_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "custseg/par.h"

extern cs_ctx_t *cs_test_ctx;

/* True on every rank when `cond` holds on every rank (a MIN allreduce through par). */
int cs_test_all(int cond);
#define CS_ASSERT_ALL(cond) assert_true(cs_test_all((cond) ? 1 : 0))
/* A scratch path under the build tree's test directory, the same on every rank. */
const char *cs_test_path(const char *name);

int cs_test_main(int argc, char **argv, const struct CMUnitTest *tests, size_t n,
                 const char *group);
#define CS_TEST_MAIN(tests) \
  int main(int argc, char **argv) { \
    return cs_test_main(argc, argv, tests, sizeof tests / sizeof *tests, __FILE__); \
  }

#endif
