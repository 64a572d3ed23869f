/* rng.h: the explicit, seedable random number generator behind every random draw in dcgan.
 *
 * There is no global generator. Each consumer owns an Rng, seeded from the run seed and a stream id,
 * so that the same seed and thread count always give the same bits. The generator is xoshiro256**
 * seeded through splitmix64; normals come from the Box-Muller transform in double precision. */
#ifndef DCGAN_RNG_H
#define DCGAN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

/* Seeds a generator from (seed, stream): distinct streams give independent sequences. */
void rng_seed(Rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(Rng *r);
double rng_uniform(Rng *r);                 /* in [0, 1) */
uint32_t rng_below(Rng *r, uint32_t n);     /* uniform integer in [0, n), without modulo bias */
/* Fills out[0..n) with N(mean, std^2) draws. */
void rng_fill_normal(Rng *r, float *out, size_t n, float mean, float std);
/* Fills out[0..n) with U(lo, hi) draws. */
void rng_fill_uniform(Rng *r, float *out, size_t n, float lo, float hi);

#endif
