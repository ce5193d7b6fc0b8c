/* features/quantile.c: exact distributed order statistics by bisection.
 * Trade-off: 64 rounds of bisection on the bits of the doubles, each one packed reduction of
 * counts, instead of a distributed sort or a sketch: the answer is exact and the same for any
 * decomposition, which a sketch's is not. Each rank first sorts its own keys of every cell
 * (group x column; a radix sort, one copy of the columns as 64-bit keys), so a step's count
 * is a binary search per statistic rather than a pass over the rows, and many statistics
 * (every quantile of a column, the medians of every segment x column of the personas)
 * bisect together in the same 64 reductions. */
#include "quantile.h"

#include "custseg/features.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Doubles mapped to unsigned keys in the same order (-0.0 just below +0.0; NaN never
 * reaches here). */
static uint64_t key_of(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return (u >> 63) ? ~u : u | (UINT64_C(1) << 63);
}
static double value_of(uint64_t k) {
  uint64_t u = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* LSD radix sort of a[0..n) by bytes, skipping the bytes all keys share; tmp holds n keys.
 * Returns the buffer that holds the sorted keys (a or tmp). */
static uint64_t *radix_sort(uint64_t *a, uint64_t *tmp, int64_t n) {
  uint64_t any = 0, all = ~UINT64_C(0);
  for (int64_t i = 0; i < n; i++) {
    any |= a[i];
    all &= a[i];
  }
  for (int shift = 0; shift < 64; shift += 8) {
    if (!(((any ^ all) >> shift) & 0xff)) continue;
    int64_t start[257] = {0};
    for (int64_t i = 0; i < n; i++) start[((a[i] >> shift) & 0xff) + 1]++;
    for (int b = 0; b < 256; b++) start[b + 1] += start[b];
    for (int64_t i = 0; i < n; i++) tmp[start[(a[i] >> shift) & 0xff]++] = a[i];
    uint64_t *t = a;
    a = tmp;
    tmp = t;
  }
  return a;
}

/* Number of keys <= v in the sorted a[0..n). */
static int64_t count_le(const uint64_t *a, int64_t n, uint64_t v) {
  int64_t lo = 0, hi = n; /* a[0..lo) <= v < a[hi..n) */
  while (lo < hi) {
    int64_t m = lo + (hi - lo) / 2;
    if (a[m] <= v)
      lo = m + 1;
    else
      hi = m;
  }
  return lo;
}

int cs_features_order_stats(cs_ctx_t *ctx, int64_t n, int ncol, const double *const *cols,
                            const int32_t *group, int ngroup, int nr, const int64_t *rank,
                            double *out) {
  int status = CS_OK;
  const int64_t cells = (int64_t)ngroup * ncol, slots = cells * nr, nb = n ? n : 1;
  const int threads = omp_get_max_threads();
  uint64_t *lo = NULL, *hi = NULL, *keys = NULL, *tmp = NULL;
  int64_t *cnt = NULL, *start = NULL;
  int local = ngroup >= 1 && ncol >= 1 && nr >= 1
                  ? CS_OK
                  : cs_error_set(CS_EINTERNAL, __FILE__, __LINE__,
                                 "order statistics of %d groups x %d columns x %d ranks", ngroup,
                                 ncol, nr);
  if (local == CS_OK) {
    lo = malloc(cs_bytes(slots, sizeof *lo));
    hi = malloc(cs_bytes(slots, sizeof *hi));
    cnt = malloc(cs_bytes(slots, sizeof *cnt));
    start = calloc((size_t)(cells + ncol), sizeof *start); /* per column ngroup + 1 */
    keys = malloc(cs_bytes(nb * ncol, sizeof *keys));
    tmp = malloc(cs_bytes(nb * threads, sizeof *tmp));
    if (!(lo && hi && cnt && start && keys && tmp))
      local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                           "out of memory for %lld order statistics of %lld values",
                           (long long)slots, (long long)n * ncol);
  }
  CS_TRY(cs_par_agree(ctx, local));
  /* This rank's keys of each cell, sorted: per column, the finite values grouped by group
   * (a counting sort), each group's run then radix-sorted. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int c = 0; c < ncol; c++) {
    const double *x = cols[c];
    uint64_t *k = keys + (int64_t)c * nb, *t = tmp + (int64_t)omp_get_thread_num() * nb;
    int64_t *at = start + (int64_t)c * (ngroup + 1);
    for (int64_t i = 0; i < n; i++) {
      int64_t g = group ? group[i] : 0;
      if (g >= 0 && isfinite(x[i])) at[g + 1]++;
    }
    for (int g = 0; g < ngroup; g++) at[g + 1] += at[g];
    for (int64_t i = 0; i < n; i++) { /* at[g]: the next free place of group g */
      int64_t g = group ? group[i] : 0;
      if (g >= 0 && isfinite(x[i])) t[at[g]++] = key_of(x[i]);
    }
    for (int g = ngroup; g > 0; g--) at[g] = at[g - 1]; /* back to the starts */
    at[0] = 0;
    for (int g = 0; g < ngroup; g++) {
      int64_t b = at[g], e = at[g + 1];
      if (radix_sort(t + b, k + b, e - b) != k + b) memcpy(k + b, t + b, (size_t)(e - b) * sizeof *k);
    }
  }
  for (int64_t s = 0; s < slots; s++) {
    lo[s] = 0;
    hi[s] = UINT64_MAX;
  }
  /* Invariant: the wanted statistic's key is in [lo, hi]. Find the smallest key v with
   * #(values <= v) > rank. A slot whose cell has no value of that rank climbs to
   * UINT64_MAX, the key of a NaN. Each step counts with a binary search in every cell's
   * sorted keys and reduces all the counts in one call. */
  for (int step = 0; step < 64; step++) {
    for (int64_t s = 0; s < slots; s++) {
      int64_t e = s / nr, g = e / ncol, c = e % ncol;
      const int64_t *at = start + c * (ngroup + 1) + g;
      cnt[s] = count_le(keys + c * nb + at[0], at[1] - at[0], lo[s] + (hi[s] - lo[s]) / 2);
    }
    CS_TRY(cs_par_allreduce(ctx, cnt, slots, CS_DT_I64, CS_OP_SUM));
    for (int64_t s = 0; s < slots; s++) {
      uint64_t mid = lo[s] + (hi[s] - lo[s]) / 2;
      if (cnt[s] > rank[s])
        hi[s] = mid;
      else
        lo[s] = mid + 1;
    }
  }
  for (int64_t s = 0; s < slots; s++) out[s] = value_of(lo[s]);
fail:
  free(lo);
  free(hi);
  free(cnt);
  free(start);
  free(keys);
  free(tmp);
  return status;
}

int cs_quantiles(cs_ctx_t *ctx, const double *buf, int64_t n, int64_t count,
                 const double *probs, int nq, double *out) {
  int status = CS_OK;
  enum { MAXQ = 16 };
  int64_t rank_of[MAXQ];
  double frac[MAXQ / 2], v[MAXQ];
  CS_CHECK(nq >= 1 && nq <= MAXQ / 2 && count > 0, CS_EINTERNAL, "bad quantile request");
  for (int q = 0; q < nq; q++) {
    double pos = probs[q] * (double)(count - 1);
    int64_t k = (int64_t)floor(pos);
    frac[q] = pos - (double)k;
    rank_of[2 * q] = k;                              /* 0-based order statistics */
    rank_of[2 * q + 1] = k + 1 < count ? k + 1 : k;
  }
  CS_TRY(cs_features_order_stats(ctx, n, 1, &buf, NULL, 1, 2 * nq, rank_of, v));
  for (int q = 0; q < nq; q++) out[q] = v[2 * q] + frac[q] * (v[2 * q + 1] - v[2 * q]);
fail:
  return status;
}
