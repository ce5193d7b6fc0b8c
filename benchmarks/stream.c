/* benchmarks/stream.c: this machine's memory bandwidth, STREAM-style (McCalpin's rules: arrays
 * much larger than the caches, first touch with the kernels' own OpenMP schedule, repeat, skip
 * the first run, report best and median, validate the arrays at the end).
 *
 * usage: stream [N] [REPEATS]     N doubles per array (default 2^27 = 1 GiB per array)
 * Threads from OMP_NUM_THREADS. Two kernels:
 *   triad  a[i] = b[i] + s * c[i]   STREAM's counting: 24 bytes per element (2 reads, 1 write;
 *                                   the write-allocate read of a is not counted)
 *   read   sum += a[i]              8 bytes per element: the pattern of the k-means pass, which
 *                                   streams the feature matrix and writes almost nothing
 * GB = 1e9 bytes. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *name, double *t, int reps, double bytes, double flops) {
  qsort(t + 1, (size_t)(reps - 1), sizeof *t, cmp);
  double best = t[1], med = t[1 + (reps - 1) / 2];
  printf("stream %-5s threads=%d bytes=%.3e flops=%.3e: best %.4f s median %.4f s  "
         "best %.1f GB/s  median %.1f GB/s\n",
         name, omp_get_max_threads(), bytes, flops, best, med, bytes / best * 1e-9,
         bytes / med * 1e-9);
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : (int64_t)1 << 27;
  int reps = argc > 2 ? atoi(argv[2]) : 11;
  if (n < 1 || reps < 2) {
    fprintf(stderr, "usage: stream [N>=1] [REPEATS>=2]\n");
    return 2;
  }
  double *a = aligned_alloc(64, ((size_t)n * 8 + 63) / 64 * 64);
  double *b = aligned_alloc(64, ((size_t)n * 8 + 63) / 64 * 64);
  double *c = aligned_alloc(64, ((size_t)n * 8 + 63) / 64 * 64);
  double *t = malloc((size_t)reps * sizeof *t);
  if (!a || !b || !c || !t) {
    fprintf(stderr, "stream: out of memory for 3 x %lld doubles\n", (long long)n);
    return 1;
  }
  /* First touch with the same static schedule as the timed loops: each thread's pages are
   * placed where it runs (matters on NUMA machines; harmless here). */
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    a[i] = 1.0;
    b[i] = 2.0;
    c[i] = 0.5;
  }
  const double s = 3.0;
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
    t[r] = omp_get_wtime() - t0;
  }
  report("triad", t, reps, 24.0 * (double)n, 2.0 * (double)n);
  double sum = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime(), part = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : part)
    for (int64_t i = 0; i < n; i++) part += a[i];
    t[r] = omp_get_wtime() - t0;
    sum = part;
  }
  report("read", t, reps, 8.0 * (double)n, 1.0 * (double)n);
  /* Validate: every a[i] is 2 + 3 * 0.5 = 3.5, so the sum is 3.5 n (exact in double). */
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++) bad += a[i] != 3.5;
  int ok = bad == 0 && sum == 3.5 * (double)n;
  printf("stream validation: %s (%lld wrong elements, sum %.17g expected %.17g)\n",
         ok ? "passed" : "FAILED", (long long)bad, sum, 3.5 * (double)n);
  free(a);
  free(b);
  free(c);
  free(t);
  return ok ? 0 : 1;
}
