/* ctr_rng.h: the counter-based generator behind the training latents z, the same code on the host
 * and on the GPU (it is included by the CUDA backend too).
 *
 * A draw is a pure function of (seed, stream, index): no state to carry, so a GPU can draw the
 * latents of any iteration inside a recorded graph, each rank takes its own slice of the global
 * batch, and a resumed run draws exactly what the uninterrupted one would have. The bits are
 * SplitMix64's output at position `index` from a state keyed by (seed, stream); normals pair two
 * draws through the Box-Muller transform in double precision, as core/rng.c does. */
#ifndef DCGAN_CTR_RNG_H
#define DCGAN_CTR_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define CTR_RNG_FN static __host__ __device__ __forceinline__
#else
#define CTR_RNG_FN static inline
#endif

#define CTR_RNG_GAMMA 0x9E3779B97F4A7C15ull

CTR_RNG_FN uint64_t ctr_rng_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The key of one stream. */
CTR_RNG_FN uint64_t ctr_rng_key(uint64_t seed, uint64_t stream) {
    return ctr_rng_mix(seed ^ ctr_rng_mix(stream * 0xD1B54A32D192ED03ull + CTR_RNG_GAMMA));
}

/* 64 random bits, the i-th of the stream. */
CTR_RNG_FN uint64_t ctr_rng_bits(uint64_t key, uint64_t i) { return ctr_rng_mix(key + (i + 1) * CTR_RNG_GAMMA); }

/* Uniform in [0, 1) with 53 bits. */
CTR_RNG_FN double ctr_rng_unit(uint64_t key, uint64_t i) { return (double)(ctr_rng_bits(key, i) >> 11) * (1.0 / 9007199254740992.0); }

/* The j-th N(0,1) draw: pair j/2 of uniforms gives the cosine (even j) and sine (odd j) halves. */
CTR_RNG_FN float ctr_rng_normal(uint64_t key, uint64_t j) {
    const uint64_t p = j >> 1;
    const double u1 = 1.0 - ctr_rng_unit(key, 2 * p); /* (0, 1]: log is finite */
    const double u2 = ctr_rng_unit(key, 2 * p + 1);
    const double rad = sqrt(-2.0 * log(u1));
    const double a = 6.283185307179586476925 * u2;
    return (float)(rad * ((j & 1) ? sin(a) : cos(a)));
}

/* The j-th U(-1, 1) draw. */
CTR_RNG_FN float ctr_rng_uniform_pm1(uint64_t key, uint64_t j) { return (float)(-1.0 + 2.0 * ctr_rng_unit(key, j)); }

#endif
