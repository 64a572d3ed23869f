/* fma_peak.c: this CPU's fp32 multiply-add peak, the ceiling for any convolution kernel on it.
 * Twelve independent chains of fused multiply-adds per thread, all in registers (no memory
 * traffic), on 1 thread and on all threads asked for, with 256-bit (AVX2 + FMA) and, where built
 * with -mavx512f, 512-bit vectors. A GFLOP is 1e9 multiplies or adds. Not part of the build.
 * usage: cc -O2 -mavx2 -mfma [-mavx512f] -fopenmp bench/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak [threads] */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 20000000L /* per chain: 12 chains x ITERS FMAs per thread */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* The empty asm keeps the chains in registers and stops the compiler from folding the loop. */
#define CHAINS(T, FMA, SET)                                                                                 \
    T a0 = SET(0), a1 = SET(1), a2 = SET(2), a3 = SET(3), a4 = SET(4), a5 = SET(5), a6 = SET(6), a7 = SET(7),   \
      a8 = SET(8), a9 = SET(9), a10 = SET(10), a11 = SET(11), x = SET(1.0000001f), y = SET(0.9999999f);     \
    for (long k = 0; k < ITERS; k++) {                                                                      \
        a0 = FMA(a0, x, y); a1 = FMA(a1, x, y); a2 = FMA(a2, x, y); a3 = FMA(a3, x, y);                     \
        a4 = FMA(a4, x, y); a5 = FMA(a5, x, y); a6 = FMA(a6, x, y); a7 = FMA(a7, x, y);                     \
        a8 = FMA(a8, x, y); a9 = FMA(a9, x, y); a10 = FMA(a10, x, y); a11 = FMA(a11, x, y);                 \
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));                  \
    }                                                                                                       \
    T s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;

static float chains256(void) {
    CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps)
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0];
}

#ifdef __AVX512F__
static float chains512(void) {
    CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps)
    return _mm512_reduce_add_ps(s);
}
#endif

/* GFLOP/s of `threads` threads each running f, whose vectors hold `lanes` floats */
static double gflops(int threads, float (*f)(void), int lanes) {
    float sink = 0.0f;
    const double t0 = now();
    #pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += f();
    const double t = now() - t0;
    if (sink == 12345.0f) printf(" "); /* use the result */
    return 2.0 * ITERS * 12 * lanes * threads / t / 1e9;
}

int main(int argc, char **argv) {
    const int all = argc > 1 ? atoi(argv[1]) : omp_get_max_threads();
    if (all < 1) {
        fprintf(stderr, "fma_peak: the thread count must be 1 or more\n");
        return 1;
    }
    for (int th = 1; th <= all; th = th == 1 && all > 1 ? all : all + 1) {
        printf("%d thread(s): 256-bit FMA %.1f GFLOP/s", th, gflops(th, chains256, 8));
#ifdef __AVX512F__
        printf(", 512-bit FMA %.1f GFLOP/s", gflops(th, chains512, 16));
#endif
        printf("\n");
    }
    return 0;
}
