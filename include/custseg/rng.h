/* rng: counter-based random numbers (Random123 Philox4x32-10) keyed by (seed, stream, key).
 *
 * A generator is a pure function of its key: the draws for global row i (or customer id c)
 * are the same whichever rank or thread computes them, which is what makes generated stores
 * and sampling identical for any decomposition. Local (no MPI, no state shared between
 * generators). */
#ifndef CUSTSEG_RNG_H
#define CUSTSEG_RNG_H

#include <stdint.h>

typedef struct cs_rng {
  uint32_t key[2];
  uint32_t ctr[4];
  uint32_t buf[4];
  int pos; /* next unused word of buf; 4 = empty */
} cs_rng_t;

/* A stream of draws for (seed, stream, index): e.g. stream = purpose, index = global row. */
void cs_rng_init(cs_rng_t *r, uint64_t seed, uint32_t stream, uint64_t index);
uint32_t cs_rng_u32(cs_rng_t *r);
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
