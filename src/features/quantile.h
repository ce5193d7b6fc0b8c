/* features/quantile.h: exact quantiles of a distributed column (internal to features; the
 * grouped order statistics behind it, cs_features_order_stats, are in features.h). */
#ifndef CUSTSEG_FEATURES_QUANTILE_H
#define CUSTSEG_FEATURES_QUANTILE_H

#include "custseg/par.h"

/* Quantiles probs[0..nq) (linear interpolation between order statistics, as numpy's
 * default) of the finite values in buf[0..n) on every rank; count is the global number of
 * finite values. Exact and rank-independent: each order statistic is found by radix
 * selection on the bytes of the doubles, all of them in one packed reduction per round (8
 * rounds). nq <= 8.
 * Collective. */
int cs_quantiles(cs_ctx_t *ctx, const double *buf, int64_t n, int64_t count,
                 const double *probs, int nq, double *out);

#endif
