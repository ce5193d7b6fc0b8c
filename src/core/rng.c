/* core/rng.c: distributions over Random123's Philox4x32-10.
 * Each generator walks its own counter (ctr[3]), so no two keys share draws, and the sequence
 * depends only on (seed, stream, index). */
#include "custseg/rng.h"

#include <math.h>

uint64_t cs_rng_u64(cs_rng_t *r) {
  uint64_t hi = cs_rng_u32(r);
  return (hi << 32) | cs_rng_u32(r);
}

double cs_rng_uniform(cs_rng_t *r) {
  return ((double)(cs_rng_u64(r) >> 11) + 0.5) * 0x1.0p-53;
}

double cs_rng_normal(cs_rng_t *r) {
  double u1 = cs_rng_uniform(r), u2 = cs_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double cs_rng_gamma(cs_rng_t *r, double shape) {
  if (shape < 1.0) {
    /* Boost to shape + 1 and scale by U^(1/shape). */
    double u = cs_rng_uniform(r);
    return cs_rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
  }
  double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x = cs_rng_normal(r), v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    double u = cs_rng_uniform(r);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
  }
}

int64_t cs_rng_poisson(cs_rng_t *r, double lambda) {
  if (!(lambda > 0.0)) return 0;
  if (lambda < 10.0) {
    double limit = exp(-lambda), prod = cs_rng_uniform(r);
    int64_t k = 0;
    while (prod > limit) {
      prod *= cs_rng_uniform(r);
      k++;
    }
    return k;
  }
  /* W. Hormann, "The transformed rejection method for generating Poisson random variables",
   * Insurance: Mathematics and Economics 12 (1993). */
  double slam = sqrt(lambda), loglam = log(lambda);
  double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    double u = cs_rng_uniform(r) - 0.5, v = cs_rng_uniform(r);
    double us = 0.5 - fabs(u);
    int64_t k = (int64_t)floor((2.0 * a / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    int sign;
    if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
        -lambda + (double)k * loglam - lgamma_r((double)k + 1.0, &sign))
      return k;
  }
}

int cs_rng_bernoulli(cs_rng_t *r, double p) { return cs_rng_uniform(r) < p; }
