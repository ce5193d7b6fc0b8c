/* benchmarks/bench_order_stats.c: cs_features_order_stats alone, as the personas call it: one
 * column of N doubles (normal, mean 50, sd 20) on each rank, rows in K groups (by row hash),
 * the two middle ranks of every group (2K statistics). Repeats, skips the first run, reports
 * the best and the median seconds from rank 0.
 * usage: mpirun -n R bench_order_stats N K [REPEATS] */
#include "custseg/features.h"
#include "custseg/rng.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  cs_ctx_t ctx;
  if (cs_par_init(&argc, &argv, &ctx) != CS_OK) return 1;
  int64_t n = argc > 2 ? atoll(argv[1]) : 0;
  int k = argc > 2 ? atoi(argv[2]) : 0, reps = argc > 3 ? atoi(argv[3]) : 11;
  if (n < 1 || k < 1 || reps < 2) {
    if (ctx.rank == 0) fprintf(stderr, "usage: bench_order_stats N K [REPEATS >= 2]\n");
    cs_par_finalize(&ctx);
    return 2;
  }
  cs_part_t part;
  if (cs_par_partition(&ctx, n, &part) != CS_OK) return 1;
  const int64_t nl = part.n_local;
  double *x = malloc(cs_bytes(nl ? nl : 1, sizeof *x));
  int32_t *g = malloc(cs_bytes(nl ? nl : 1, sizeof *g));
  int64_t *rank = malloc(cs_bytes(2 * (int64_t)k, sizeof *rank));
  int64_t *count = calloc((size_t)k, sizeof *count);
  double *out = malloc(cs_bytes(2 * (int64_t)k, sizeof *out)), *t = malloc((size_t)reps * sizeof *t);
  if (!x || !g || !rank || !count || !out || !t) return 1;
  for (int64_t i = 0; i < n; i++) {
    cs_rng_t r;
    cs_rng_init(&r, 7, 0, (uint64_t)i);
    const int32_t gi = (int32_t)(cs_rng_u64(&r) % (uint64_t)k);
    count[gi]++;
    if (i >= part.offset && i < part.offset + nl) {
      g[i - part.offset] = gi;
      x[i - part.offset] = 50 + 20 * cs_rng_normal(&r);
    }
  }
  for (int q = 0; q < k; q++) {
    rank[2 * q] = count[q] ? (count[q] - 1) / 2 : INT64_MAX;
    rank[2 * q + 1] = count[q] ? count[q] / 2 : INT64_MAX;
  }
  const double *cols[1] = {x};
  for (int r = 0; r < reps; r++) {
    cs_par_barrier(&ctx);
    double t0 = cs_wtime();
    if (cs_features_order_stats(&ctx, nl, 1, cols, g, k, 2, rank, out) != CS_OK) return 1;
    t[r] = cs_wtime() - t0;
  }
  qsort(t + 1, (size_t)reps - 1, sizeof *t, cmp);
  if (ctx.rank == 0)
    printf("order_stats N=%lld K=%d ranks=%d: best %.4f s, median %.4f s (median of group 0: %.6g)\n",
           (long long)n, k, ctx.size, t[1], t[1 + (reps - 1) / 2], 0.5 * (out[0] + out[1]));
  free(x), free(g), free(rank), free(count), free(out), free(t);
  cs_par_finalize(&ctx);
  return 0;
}
