/* rng.c: xoshiro256** with splitmix64 seeding, uniform and normal draws (see rng.h). */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(Rng *r) { return (rng_u64(r) >> 11) * 0x1.0p-53; }

uint32_t rng_below(Rng *r, uint32_t n) {
    /* Lemire's multiply-and-reject method. */
    uint64_t m = (uint64_t)(uint32_t)(rng_u64(r) >> 32) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (lo < threshold) {
            m = (uint64_t)(uint32_t)(rng_u64(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void rng_fill_normal(Rng *r, float *out, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log is finite */
        double u2 = rng_uniform(r);
        double rad = sqrt(-2.0 * log(u1));
        out[i] = (float)(mean + std * rad * cos(2.0 * M_PI * u2));
        if (i + 1 < n) out[i + 1] = (float)(mean + std * rad * sin(2.0 * M_PI * u2));
    }
}

void rng_fill_uniform(Rng *r, float *out, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) out[i] = (float)(lo + (hi - lo) * rng_uniform(r));
}
