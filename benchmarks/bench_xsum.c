/* benchmarks/bench_xsum.c: what inspect's exact column sums cost per value (docs/performance.md,
 * "custseg inspect at 10^8 customers"): one thread sums N doubles (uniform in [0, 1000), a
 * money column) with a plain double add and with cs_xsum_add (a 128-bit bin per exponent),
 * alternating the two five times; the median of each, in ns per value, and the two sums.
 *
 * usage: bench_xsum [N]        (default 40000000) */
#include "custseg/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const long long n = argc > 1 ? atoll(argv[1]) : 40000000LL;
  double *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
  cs_xsum_t *acc = malloc(sizeof *acc);
  if (n < 1 || !x || !acc) {
    fprintf(stderr, "bench_xsum: N must be >= 1 and fit in memory\n");
    return 1;
  }
  uint64_t state = 88172645463325252ULL; /* xorshift64: the same values on every run */
  for (long long i = 0; i < n; i++) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    x[i] = (double)(state >> 11) * 0x1p-53 * 1000.0;
  }
  enum { ROUNDS = 5 };
  double plain[ROUNDS], exact[ROUNDS], sum = 0;
  for (int r = 0; r < ROUNDS; r++) {
    double t = now();
    sum = 0;
    for (long long i = 0; i < n; i++) sum += x[i];
    plain[r] = now() - t;
    t = now();
    memset(acc, 0, sizeof *acc);
    for (long long i = 0; i < n; i++) cs_xsum_add(acc, x[i]);
    exact[r] = now() - t;
  }
  qsort(plain, ROUNDS, sizeof *plain, by_value);
  qsort(exact, ROUNDS, sizeof *exact, by_value);
  printf("bench_xsum: %lld values, median of %d rounds: plain double sum %.2f ns/value, exact "
         "(cs_xsum_add) %.2f ns/value, ratio %.2f; sums %.17g and %.17g\n", n, ROUNDS,
         1e9 * plain[ROUNDS / 2] / (double)n, 1e9 * exact[ROUNDS / 2] / (double)n,
         exact[ROUNDS / 2] / plain[ROUNDS / 2], sum, cs_xsum_mean(acc, n) * (double)n);
  free(x);
  free(acc);
  return 0;
}
