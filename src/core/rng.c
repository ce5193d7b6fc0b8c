/* core/rng.c: distributions over Random123's Philox4x32-10.
 * Each generator walks its own counter (ctr[3]), so no two keys share draws, and the sequence
 * depends only on (seed, stream, index). */
#include "custseg/rng.h"

#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>

/* Sixteen 32 x 32 -> 64-bit products at once, split into their low and high words. */
static inline void mulhilo16(__m512i a, uint32_t mult, __m512i *lo, __m512i *hi) {
  const __m512i m = _mm512_set1_epi64(mult);
  const __m512i even = _mm512_mul_epu32(a, m);                       /* lanes 0, 2, 4, ... */
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m); /* lanes 1, 3, 5, ... */
  *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}
#endif

void cs_rng_block16(uint64_t seed, uint32_t stream, const uint64_t index[16], uint32_t block,
                    uint32_t out[4][16]) {
#if defined(__AVX512F__)
  /* Random123's philox4x32round and bumpkey, ten rounds, one lane per generator. */
  uint32_t lo_idx[16], hi_idx[16];
  for (int l = 0; l < 16; l++) {
    lo_idx[l] = (uint32_t)index[l];
    hi_idx[l] = (uint32_t)(index[l] >> 32);
  }
  __m512i c0 = _mm512_loadu_si512(lo_idx), c1 = _mm512_loadu_si512(hi_idx);
  __m512i c2 = _mm512_set1_epi32((int)stream), c3 = _mm512_set1_epi32((int)block);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    if (r) {
      k0 += PHILOX_W32_0;
      k1 += PHILOX_W32_1;
    }
    __m512i lo0, hi0, lo1, hi1;
    mulhilo16(c0, PHILOX_M4x32_0, &lo0, &hi0);
    mulhilo16(c2, PHILOX_M4x32_1, &lo1, &hi1);
    const __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
    const __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  _mm512_storeu_si512(out[0], c0);
  _mm512_storeu_si512(out[1], c1);
  _mm512_storeu_si512(out[2], c2);
  _mm512_storeu_si512(out[3], c3);
#else
  for (int l = 0; l < 16; l++) {
    philox4x32_ctr_t c = {{(uint32_t)index[l], (uint32_t)(index[l] >> 32), stream, block}};
    philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    philox4x32_ctr_t o = philox4x32(c, k);
    for (int w = 0; w < 4; w++) out[w][l] = o.v[w];
  }
#endif
}

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
