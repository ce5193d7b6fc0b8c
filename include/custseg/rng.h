/* rng: counter-based random numbers (Random123 Philox4x32-10) keyed by (seed, stream, key).
 *
 * A generator is a pure function of its key: the draws for global row i (or customer id c)
 * are the same whichever rank or thread computes them, which is what makes generated stores
 * and sampling identical for any decomposition. Local (no MPI, no state shared between
 * generators). */
#ifndef CUSTSEG_RNG_H
#define CUSTSEG_RNG_H

#include <Random123/philox.h>
#include <stdint.h>

typedef struct cs_rng {
  uint32_t key[2];
  uint32_t ctr[4];
  uint32_t buf[4];
  int pos; /* next unused word of buf; 4 = empty */
} cs_rng_t;

/* A stream of draws for (seed, stream, index): e.g. stream = purpose, index = global row. */
static inline void cs_rng_init(cs_rng_t *r, uint64_t seed, uint32_t stream, uint64_t index) {
  r->key[0] = (uint32_t)seed;
  r->key[1] = (uint32_t)(seed >> 32);
  r->ctr[0] = (uint32_t)index;
  r->ctr[1] = (uint32_t)(index >> 32);
  r->ctr[2] = stream;
  r->ctr[3] = 0;
  r->pos = 4;
}
static inline uint32_t cs_rng_u32(cs_rng_t *r) {
  if (r->pos == 4) {
    philox4x32_ctr_t c = {{r->ctr[0], r->ctr[1], r->ctr[2], r->ctr[3]}};
    philox4x32_key_t k = {{r->key[0], r->key[1]}};
    philox4x32_ctr_t out = philox4x32(c, k);
    for (int i = 0; i < 4; i++) r->buf[i] = out.v[i];
    r->ctr[3]++;
    r->pos = 0;
  }
  return r->buf[r->pos++];
}
/* Uniform on (0, 1) with 32 random bits (one word): for races and sampling decisions. */
static inline double cs_rng_uniform32(cs_rng_t *r) {
  return ((double)cs_rng_u32(r) + 0.5) * 0x1.0p-32;
}
/* Sixteen generators at once: for lane l < 16, the words 4 block .. 4 block + 3 that
 * cs_rng_init(seed, stream, index[l]) followed by cs_rng_u32 draws would give, into
 * out[w][l] (w < 4). The same Philox4x32-10, computed sixteen lanes wide with AVX-512 when
 * built for it. */
void cs_rng_block16(uint64_t seed, uint32_t stream, const uint64_t index[16], uint32_t block,
                    uint32_t out[4][16]);
uint64_t cs_rng_u64(cs_rng_t *r);
/* Uniform on the open interval (0, 1), 53 random bits. */
double cs_rng_uniform(cs_rng_t *r);
/* Standard normal (Box-Muller; two uniforms per draw, nothing cached). */
double cs_rng_normal(cs_rng_t *r);
/* Gamma(shape, 1) by Marsaglia-Tsang (shape > 0). */
double cs_rng_gamma(cs_rng_t *r, double shape);
/* Poisson(lambda): inversion below 10, Hormann's PTRS above. */
int64_t cs_rng_poisson(cs_rng_t *r, double lambda);
/* Bernoulli(p) as 0/1. */
int cs_rng_bernoulli(cs_rng_t *r, double p);

#endif
