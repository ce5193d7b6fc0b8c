/* features/quantile.c: exact distributed order statistics by bisection.
 * Trade-off: 64 passes over the rank-local column instead of a sort or a sketch; the column
 * is in memory, the passes are branch-light, and the answer is exact and the same for any
 * decomposition, which a sketch's is not. */
#include "quantile.h"

#include <math.h>
#include <string.h>

/* Doubles mapped to unsigned keys in the same order. */
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

int cs_quantiles(cs_ctx_t *ctx, const double *buf, int64_t n, int64_t count,
                 const double *probs, int nq, double *out) {
  int status = CS_OK;
  enum { MAXQ = 16 };
  int64_t rank_of[MAXQ];
  uint64_t lo[MAXQ], hi[MAXQ];
  double frac[MAXQ / 2];
  int ns = 2 * nq;
  CS_CHECK(nq >= 1 && nq <= MAXQ / 2 && count > 0, CS_EINTERNAL, "bad quantile request");
  for (int q = 0; q < nq; q++) {
    double pos = probs[q] * (double)(count - 1);
    int64_t k = (int64_t)floor(pos);
    frac[q] = pos - (double)k;
    rank_of[2 * q] = k;                              /* 0-based order statistics */
    rank_of[2 * q + 1] = k + 1 < count ? k + 1 : k;
  }
  for (int s = 0; s < ns; s++) {
    lo[s] = 0;
    hi[s] = UINT64_MAX;
  }
  /* Invariant: the wanted statistic's key is in [lo, hi]. Find the smallest key v with
   * #(values <= v) > rank. */
  for (int step = 0; step < 64; step++) {
    uint64_t mid[MAXQ];
    int64_t cnt[MAXQ] = {0};
    for (int s = 0; s < ns; s++) mid[s] = lo[s] + (hi[s] - lo[s]) / 2;
    for (int64_t i = 0; i < n; i++) {
      if (!isfinite(buf[i])) continue;
      uint64_t k = key_of(buf[i]);
      for (int s = 0; s < ns; s++) cnt[s] += k <= mid[s];
    }
    CS_TRY(cs_par_allreduce(ctx, cnt, ns, CS_DT_I64, CS_OP_SUM));
    for (int s = 0; s < ns; s++) {
      if (cnt[s] > rank_of[s])
        hi[s] = mid[s];
      else
        lo[s] = mid[s] + 1;
    }
  }
  for (int q = 0; q < nq; q++) {
    double a = value_of(lo[2 * q]), b = value_of(lo[2 * q + 1]);
    out[q] = a + frac[q] * (b - a);
  }
fail:
  return status;
}
