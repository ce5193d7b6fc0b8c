/* churn/vmath.h: exp and log1p over whole arrays, eight lanes at a time.
 *
 * Written with GCC vector extensions so every element goes through the same instructions
 * whatever its position: arrays are padded to a multiple of 8 and there is no scalar tail,
 * so a row's result does not depend on which block, thread or rank computed it. Accuracy is a
 * few ulp, which the training's exact sums then carry unchanged to every rank. */
#ifndef CUSTSEG_CHURN_VMATH_H
#define CUSTSEG_CHURN_VMATH_H

#include <stdint.h>

/* Without AVX-512 (portable builds) GCC warns that 64-byte vector arguments would change
 * the ABI; these functions are static inline and never cross an ABI boundary. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef double v8d __attribute__((vector_size(64)));
typedef long long v8l __attribute__((vector_size(64)));

static inline v8d v8_splat(double x) { return (v8d){x, x, x, x, x, x, x, x}; }

/* mask ? a : b, with mask lanes all-ones or zero. */
static inline v8d v8_select(v8l mask, v8d a, v8d b) {
  return (v8d)(((v8l)a & mask) | ((v8l)b & ~mask));
}

/* exp(x) for x <= 0; below -708 it returns exp(-708) (about 3e-308) instead of a
 * subnormal. Range reduction x = k ln2 + r, |r| <= ln2 / 2, then Taylor to degree 13. */
static inline v8d v8_exp_nonpos(v8d x) {
  const v8d lim = v8_splat(-708.0), magic = v8_splat(0x1.8p52);
  x = v8_select(x < lim, lim, x);
  v8d kd = x * v8_splat(1.4426950408889634) + magic; /* round to nearest */
  v8l ki = (v8l)kd - (v8l)magic;
  kd -= magic;
  v8d r = x - kd * v8_splat(6.93147180369123816490e-01);
  r -= kd * v8_splat(1.90821492927058770002e-10);
  v8d p = v8_splat(1.0 / 6227020800.0);
  static const double c[13] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                               1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                               1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                               1.0 / 6.0,         0.5,              1.0,
                               1.0};
  for (int j = 0; j < 13; j++) p = p * r + v8_splat(c[j]);
  v8d scale = (v8d)((ki + 1023) << 52);
  return p * scale;
}

/* log(1 + e) for 0 <= e <= 1: 2 atanh(s) with s = e / (2 + e), or, above sqrt(2) - 1,
 * s = (e - 1) / (e + 3) plus ln 2; |s| <= 0.1716, series to s^25. */
static inline v8d v8_log1p_unit(v8d e) {
  v8l big = e > v8_splat(0.41421356237309503);
  v8d s = v8_select(big, (e - v8_splat(1.0)) / (e + v8_splat(3.0)), e / (e + v8_splat(2.0)));
  v8d s2 = s * s, p = v8_splat(1.0 / 25.0);
  for (int j = 23; j >= 1; j -= 2) p = p * s2 + v8_splat(1.0 / j);
  return v8_splat(2.0) * s * p + v8_select(big, v8_splat(0.6931471805599453), v8_splat(0.0));
}

#endif
