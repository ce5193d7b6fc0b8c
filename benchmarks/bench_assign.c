/* benchmarks/bench_assign.c: the assignment kernel alone (STREAM-style: first touch with the
 * kernel's own OpenMP schedule, repeat, skip the first run, report best and median).
 * usage: bench_assign N D K [REPEATS]
 * Prints seconds, GFLOP/s (2*N*D*K flops for the dot products) and GB/s (N*D*4 bytes read). */
#include "custseg/kernels.h"
#include "custseg/rng.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench_assign N D K [REPEATS]\n");
    return 2;
  }
  int64_t n = atoll(argv[1]);
  int d = atoi(argv[2]), k = atoi(argv[3]), reps = argc > 4 ? atoi(argv[4]) : 11;
  float *x = cs_alloc(cs_bytes(n * d, sizeof *x), "x");
  int32_t *lab = cs_alloc(cs_bytes(n, sizeof *lab), "labels");
  double *c = malloc((size_t)k * d * sizeof *c);
  const int64_t block = 1024, nb = (n + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < nb; b++)
    for (int64_t i = b * block; i < n && i < (b + 1) * block; i++) {
      cs_rng_t g;
      cs_rng_init(&g, 1, 0, (uint64_t)i);
      for (int j = 0; j < d; j++) x[i * d + j] = (float)cs_rng_normal(&g);
      lab[i] = 0;
    }
  for (int q = 0; q < k; q++) {
    cs_rng_t g;
    cs_rng_init(&g, 2, 0, (uint64_t)q);
    for (int j = 0; j < d; j++) c[q * d + j] = cs_rng_normal(&g);
  }
  cs_panel_t p = {0};
  cs_panel_set(&p, c, k, d);
  double *t = malloc((size_t)reps * sizeof *t);
  int64_t check = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      int64_t i0 = b * block, m = n - i0 < block ? n - i0 : block;
      cs_kernel_assign(x + i0 * d, m, d, &p, lab + i0, NULL);
    }
    t[r] = omp_get_wtime() - t0;
  }
  for (int64_t i = 0; i < n; i++) check += lab[i];
  qsort(t + 1, (size_t)(reps - 1), sizeof *t, cmp);
  double best = t[1], med = t[1 + (reps - 1) / 2];
  double flops = 2.0 * (double)n * d * k, bytes = (double)n * d * 4;
  printf("assign n=%lld d=%d k=%d threads=%d: best %.4f s median %.4f s  %.1f GFLOP/s  %.1f GB/s"
         "  (label checksum %lld)\n",
         (long long)n, d, k, omp_get_max_threads(), best, med, flops / best * 1e-9,
         bytes / best * 1e-9, (long long)check);
  return 0;
}
