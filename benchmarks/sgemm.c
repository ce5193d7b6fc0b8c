/* benchmarks/sgemm.c: this machine's SGEMM rate (OpenBLAS cblas_sgemm), at the shapes of the
 * k-means distance work and as one large square product, STREAM-style (first touch with the
 * OpenMP schedule that uses the data, repeat, skip the first run, best and median, validate).
 *
 * usage: sgemm N D K [BLOCK] [REPEATS]     X (N x D) times C^T (D x K), float32
 *        sgemm --square S [REPEATS]        one S x S x S product (the nominal peak)
 * Threads from OMP_NUM_THREADS (T). Modes for N D K:
 *   blocked    T OpenMP threads, OpenBLAS limited to 1 thread, each thread multiplies blocks of
 *              BLOCK rows (default 1024, the k-means kernel's block) into its own BLOCK x K
 *              buffer, which stays in cache: the GEMM ceiling for an assignment pass
 *   blocked+argmin  the same plus the row-wise argmin over each buffer (what a BLAS-based
 *              assignment, e.g. scikit-learn's, has to add); validated against doubles
 *   one-call   a single multithreaded cblas_sgemm (OpenBLAS with T threads) writing the whole
 *              N x K product to memory (N K 4 more bytes of traffic)
 * FLOPs = 2 N D K per pass; bytes = N D 4 read (+ N K 4 written for one-call). */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int);
char *openblas_get_config(void);
char *openblas_get_corename(void);

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *mode, const char *shape, double *t, int reps, double flops,
                   double bytes, int blas_threads) {
  qsort(t + 1, (size_t)(reps - 1), sizeof *t, cmp);
  double best = t[1], med = t[1 + (reps - 1) / 2];
  printf("sgemm %-14s %s omp_threads=%d blas_threads=%d flops=%.3e bytes=%.3e: best %.4f s "
         "median %.4f s  best %.1f GFLOP/s  median %.1f GFLOP/s  (%.1f GB/s at best)\n",
         mode, shape, omp_get_max_threads(), blas_threads, flops, bytes, best, med,
         flops / best * 1e-9, flops / med * 1e-9, bytes / best * 1e-9);
}

static float *falloc(size_t n) {
  float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  if (!p) {
    fprintf(stderr, "sgemm: out of memory (%zu floats)\n", n);
    exit(1);
  }
  return p;
}

/* Deterministic values in [-1, 1) from an index (no RNG state to share between threads). */
static inline float val(uint64_t i, uint64_t salt) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + salt;
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  z ^= z >> 29;
  return (float)((double)(z >> 40) / (double)(1ull << 23) - 1.0);
}

static int square(int s, int reps) {
  int T = omp_get_max_threads();
  float *a = falloc((size_t)s * s), *b = falloc((size_t)s * s), *c = falloc((size_t)s * s);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < (int64_t)s * s; i++) {
    a[i] = val((uint64_t)i, 1);
    b[i] = val((uint64_t)i, 2);
    c[i] = 0;
  }
  openblas_set_num_threads(T);
  double *t = malloc((size_t)reps * sizeof *t);
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s, s, s, 1.0f, a, s, b, s, 0.0f, c, s);
    t[r] = omp_get_wtime() - t0;
  }
  /* Validate 64 entries against double sums. */
  double maxerr = 0;
  for (int q = 0; q < 64; q++) {
    int i = (int)((q * 7919u) % (unsigned)s), j = (int)((q * 104729u) % (unsigned)s);
    double ref = 0, mag = 0;
    for (int l = 0; l < s; l++) {
      ref += (double)a[(int64_t)i * s + l] * b[(int64_t)l * s + j];
      mag += fabs((double)a[(int64_t)i * s + l] * b[(int64_t)l * s + j]);
    }
    maxerr = fmax(maxerr, fabs(c[(int64_t)i * s + j] - ref) / mag);
  }
  char shape[64];
  snprintf(shape, sizeof shape, "S=%d", s);
  double fl = 2.0 * s * (double)s * s, by = 3.0 * 4 * (double)s * s;
  report("square", shape, t, reps, fl, by, T);
  int ok = maxerr < 1e-5;
  printf("sgemm validation: %s (largest relative error %.2e over 64 entries)\n",
         ok ? "passed" : "FAILED", maxerr);
  free(a);
  free(b);
  free(c);
  free(t);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  printf("OpenBLAS: %s (core %s)\n", openblas_get_config(), openblas_get_corename());
  if (argc >= 3 && !strcmp(argv[1], "--square"))
    return square(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 7);
  if (argc < 4) {
    fprintf(stderr, "usage: sgemm N D K [BLOCK] [REPEATS] | sgemm --square S [REPEATS]\n");
    return 2;
  }
  int64_t n = atoll(argv[1]);
  int d = atoi(argv[2]), k = atoi(argv[3]);
  int64_t block = argc > 4 ? atoll(argv[4]) : 1024;
  int reps = argc > 5 ? atoi(argv[5]) : 11;
  if (n < 1 || d < 1 || k < 1 || block < 1 || reps < 2) {
    fprintf(stderr, "sgemm: need N, D, K, BLOCK >= 1 and REPEATS >= 2\n");
    return 2;
  }
  const int T = omp_get_max_threads();
  const int64_t nb = (n + block - 1) / block;
  float *x = falloc((size_t)n * d), *c = falloc((size_t)k * d), *hn = falloc((size_t)k);
  int32_t *lab = malloc((size_t)n * sizeof *lab);
  double *t = malloc((size_t)reps * sizeof *t);
  /* First touch by blocks with the schedule of the timed loops. */
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < nb; b++)
    for (int64_t i = b * block; i < n && i < (b + 1) * block; i++) {
      for (int j = 0; j < d; j++) x[i * d + j] = val((uint64_t)(i * d + j), 3);
      lab[i] = -1;
    }
  for (int q = 0; q < k; q++) {
    double s = 0;
    for (int j = 0; j < d; j++) {
      c[q * d + j] = val((uint64_t)(q * d + j), 4);
      s += (double)c[q * d + j] * c[q * d + j];
    }
    hn[q] = (float)(0.5 * s);
  }
  char shape[96];
  snprintf(shape, sizeof shape, "N=%lld D=%d K=%d block=%lld", (long long)n, d, k,
           (long long)block);
  const double flops = 2.0 * (double)n * d * k, bytes = 4.0 * (double)n * d;

  /* blocked, and blocked + argmin: one BLOCK x K buffer per thread, allocated and touched by
   * its thread before timing. */
  openblas_set_num_threads(1);
  float **bufs = calloc((size_t)T, sizeof *bufs);
#pragma omp parallel
  {
    float *o = falloc((size_t)block * k);
    memset(o, 0, (size_t)block * k * sizeof *o);
    bufs[omp_get_thread_num()] = o;
  }
  for (int with_argmin = 0; with_argmin < 2; with_argmin++) {
    for (int r = 0; r < reps; r++) {
      double t0 = omp_get_wtime();
#pragma omp parallel
      {
        float *out = bufs[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nb; b++) {
          int64_t i0 = b * block, m = n - i0 < block ? n - i0 : block;
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, k, d, 1.0f, x + i0 * d, d,
                      c, d, 0.0f, out, k);
          if (with_argmin)
            for (int64_t i = 0; i < m; i++) {
              const float *o = out + i * k;
              float best = FLT_MAX;
              int arg = 0;
              for (int q = 0; q < k; q++) {
                float s = hn[q] - o[q];
                if (s < best) {
                  best = s;
                  arg = q;
                }
              }
              lab[i0 + i] = arg;
            }
        }
      }
      t[r] = omp_get_wtime() - t0;
    }
    report(with_argmin ? "blocked+argmin" : "blocked", shape, t, reps, flops, bytes, 1);
  }
  for (int i = 0; i < T; i++) free(bufs[i]);
  free(bufs);
  /* Validate the labels of every 4099th row against a double-precision argmin: a float label
   * may differ only where the two best scores are within float rounding of each other. */
  int64_t checked = 0, wrong = 0;
  for (int64_t i = 0; i < n; i += 4099) {
    double best = INFINITY, second = INFINITY, mag = 0;
    int arg = -1;
    for (int q = 0; q < k; q++) {
      double dot = 0, m = fabs((double)hn[q]);
      for (int j = 0; j < d; j++) {
        dot += (double)x[i * d + j] * c[q * d + j];
        m += fabs((double)x[i * d + j] * c[q * d + j]);
      }
      mag = fmax(mag, m);
      double s = (double)hn[q] - dot;
      if (s < best) {
        second = best;
        best = s;
        arg = q;
      } else if (s < second) {
        second = s;
      }
    }
    checked++;
    if (lab[i] != arg && second - best > 1e-5 * mag) wrong++;
  }
  int ok = wrong == 0;
  printf("sgemm validation: %s (%lld of %lld sampled labels differ from the double argmin beyond "
         "rounding)\n", ok ? "passed" : "FAILED", (long long)wrong, (long long)checked);

  /* one multithreaded call writing N x K. */
  float *out = falloc((size_t)n * k);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n * k; i++) out[i] = 0;
  openblas_set_num_threads(T);
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, k, d, 1.0f, x, d, c, d, 0.0f, out,
                k);
    t[r] = omp_get_wtime() - t0;
  }
  snprintf(shape, sizeof shape, "N=%lld D=%d K=%d", (long long)n, d, k);
  report("one-call", shape, t, reps, flops, bytes + 4.0 * (double)n * k, T);
  double maxerr = 0;
  for (int64_t i = 0; i < n; i += 4099)
    for (int q = 0; q < k; q++) {
      double dot = 0, mag = 0;
      for (int j = 0; j < d; j++) {
        dot += (double)x[i * d + j] * c[q * d + j];
        mag += fabs((double)x[i * d + j] * c[q * d + j]);
      }
      maxerr = fmax(maxerr, fabs(out[i * k + q] - dot) / (mag + 1e-30));
    }
  int ok2 = maxerr < 1e-5;
  printf("sgemm validation: %s (one-call: largest relative error %.2e on sampled rows)\n",
         ok2 ? "passed" : "FAILED", maxerr);
  free(out);
  free(x);
  free(c);
  free(hn);
  free(lab);
  free(t);
  return ok && ok2 ? 0 : 1;
}
