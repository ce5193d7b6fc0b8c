/* benchmarks/bench_assign.c: the assignment kernel alone (STREAM-style: first touch with the
 * kernel's own OpenMP schedule, repeat, skip the first run, report best and median).
 * usage: bench_assign N D K [REPEATS] [score2]
 * Prints seconds, GFLOP/s (2*N*D*K flops for the dot products) and GB/s (N*D*4 bytes read), and
 * validates sampled labels against a double-precision argmin. With `score2` the kernel also
 * returns the best and second-best scores (the variant Hamerly's full steps use). Compare with
 * benchmarks/sgemm (same N D K) and benchmarks/stream. */
#include "custseg/kernels.h"
#include "custseg/rng.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  int with_s2 = argc > 5 && !strcmp(argv[5], "score2");
  if (n < 1 || d < 1 || k < 1 || reps < 2) {
    fprintf(stderr, "bench_assign: need N, D, K >= 1 and REPEATS >= 2\n");
    return 2;
  }
  float *x = cs_alloc(cs_bytes(n * d, sizeof *x), "x");
  int32_t *lab = cs_alloc(cs_bytes(n, sizeof *lab), "labels");
  float *s2 = with_s2 ? cs_alloc(cs_bytes(2 * n, sizeof *s2), "scores") : NULL;
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
      cs_kernel_assign(x + i0 * d, m, d, &p, lab + i0, s2 ? s2 + 2 * i0 : NULL);
    }
    t[r] = omp_get_wtime() - t0;
  }
  for (int64_t i = 0; i < n; i++) check += lab[i];
  /* Validate every 4099th row against a double argmin of ||x - c||^2: a float32 label may
   * differ only where the two best distances are within float rounding of each other. */
  int64_t checked = 0, wrong = 0;
  for (int64_t i = 0; i < n; i += 4099) {
    double best = INFINITY, second = INFINITY, mag = 0;
    int arg = -1;
    for (int q = 0; q < k; q++) {
      double e2 = 0, m2 = 0;
      for (int j = 0; j < d; j++) {
        double e = (double)x[i * d + j] - c[q * d + j];
        e2 += e * e;
        m2 += (double)x[i * d + j] * x[i * d + j] + c[q * d + j] * c[q * d + j];
      }
      mag = fmax(mag, m2);
      if (e2 < best) {
        second = best;
        best = e2;
        arg = q;
      } else if (e2 < second) {
        second = e2;
      }
    }
    checked++;
    if (lab[i] != arg && second - best > 1e-5 * mag) wrong++;
  }
  qsort(t + 1, (size_t)(reps - 1), sizeof *t, cmp);
  double best = t[1], med = t[1 + (reps - 1) / 2];
  double flops = 2.0 * (double)n * d * k, bytes = (double)n * d * 4;
  printf("assign%s n=%lld d=%d k=%d threads=%d flops=%.3e bytes=%.3e: best %.4f s median %.4f s"
         "  best %.1f GFLOP/s  median %.1f GFLOP/s  %.1f GB/s at best  (label checksum %lld)\n",
         with_s2 ? "+score2" : "", (long long)n, d, k, omp_get_max_threads(), flops, bytes, best,
         med, flops / best * 1e-9, flops / med * 1e-9, bytes / best * 1e-9, (long long)check);
  printf("assign validation: %s (%lld of %lld sampled labels differ from the double argmin "
         "beyond rounding)\n", wrong ? "FAILED" : "passed", (long long)wrong, (long long)checked);
  cs_panel_free(&p);
  cs_free(x);
  cs_free(lab);
  cs_free(s2);
  free(c);
  free(t);
  return wrong ? 1 : 0;
}
