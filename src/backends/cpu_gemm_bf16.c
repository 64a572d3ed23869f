/* cpu_gemm_bf16.c: convolutions in --precision bf16 as matrix products, for CPUs with AMX (see
 * cpu_gemm_bf16.h). A chunk of images goes through im2col into bf16 (rounded as AVX512_BF16 rounds,
 * bf16_of), then one oneDNN matmul with fp32 results:
 *   forward:          small (Cs, n)       = W (Cs, Cb*K*K) . col (Cb*K*K, n)
 *   backward-data:    dcol (Cb*K*K, n)    = W^T . dsmall (Cs, n),  then col2im adds dcol into big
 *   backward-weights: dW (Cs, Cb*K*K)    += dsmall (Cs, n) . col^T
 * with n = images * Hs * Ws columns, col[(c, ky, kx)][(b, oy, ox)] = big[c][b][oy*S+ky-P][ox*S+kx-P]
 * (0 outside). The same rounding points as oneDNN's own bf16 convolutions (bf16 operands, fp32
 * accumulation and results); the sums come in another order. Every loop has a fixed order and
 * each output element one writer: the same inputs and thread count give the same bits. */
#ifdef DCGAN_HAVE_DNNL
#include "cpu_gemm_bf16.h"
#include "../core/util.h"
#include "../ops/ops.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the chunk of images whose im2col matrix (and, backward-data, its fp32 gradient) fits this */
#define GEMM_CHUNK_BYTES ((size_t)16 << 20)

int gemm_bf16_fits(const ConvGeom *g, int forward) {
    /* The inner layers, where oneDNN's AMX convolutions ran their backward at 60-220 GFLOP/s (dcgan64
     * and seed128 at batch 64, 2 cores) and its matmul at 370-480. Their forward stays with oneDNN's
     * own kernels (brgconv, 300-660 GFLOP/s) where the output has 16 x 16 pixels or more: there our
     * im2col cost more than those kernels gave away (dcgan64's 64->128 layer 0.65 s against 0.27,
     * seed128's 64->128 and 128->256 3.4 and 2.3 s against 1.8 and 1.5; at 8 x 8 the products won,
     * 1.7 s against 2.5 for seed128's 256->512). A first layer (3 channels: a product 48 or 75 deep)
     * stays with oneDNN's convolutions. */
    return g->Cb >= 32 && g->Cs >= 32 && !(forward && g->Hs * g->Ws >= 256);
}

static size_t kk_of(const ConvGeom *g) { return (size_t)g->Cb * g->K * g->K; }

/* The vector code below runs only in --precision bf16, which the CPU backend refuses where the CPU
 * lacks AVX512_BF16 (and with it AVX-512 BW and VL), so its instructions are there at run time
 * whatever the build's -march. */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* dst[i] = bf16 of src[i], i < n: 16 at a time by AVX512_BF16's conversion, which bf16_of is the
 * exact copy of, for the rest */
AVX512 static void to_bf16(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] = bf16_of(src[i]);
}

/* dst[i] = src[2 i], i < n (16-bit values): 16 at a time, the evens of 32 picked by one permute */
AVX512 static inline void copy_evens_u16(uint16_t *dst, const uint16_t *src, int n) {
    const __m512i evens = _mm512_setr_epi32(0x00020000, 0x00060004, 0x000a0008, 0x000e000c, 0x00120010, 0x00160014,
                                            0x001a0018, 0x001e001c, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int i = 0; i < n; i += 16) {
        const int m = n - i < 16 ? n - i : 16; /* outputs in this step; it reads 2m - 1 inputs */
        const __m512i in = _mm512_maskz_loadu_epi16((__mmask32)((1ull << (2 * m - 1)) - 1), src + 2 * (size_t)i);
        const __m512i ev = _mm512_permutexvar_epi16(evens, in);
        _mm256_mask_storeu_epi16(dst + i, (__mmask16)((1u << m) - 1), _mm512_castsi512_si256(ev));
    }
}

static int chunk_images(const ConvGeom *g, size_t bytes_per_col_element) {
    const size_t per = kk_of(g) * g->Hs * g->Ws * bytes_per_col_element;
    size_t nb = GEMM_CHUNK_BYTES / (per ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->B) nb = g->B;
    const size_t chunks = (g->B + nb - 1) / nb; /* equal chunks: one matmul shape, no small last call */
    return (int)((g->B + chunks - 1) / chunks);
}

/* col (Cb*K*K, n*Hs*Ws) from xb (Cb, n, Hb, Wb), a chunk of big already in bf16 (converting first, in
 * one pass of whole rows, took the conversion out of these short, strided rows) */
static void im2col_bf16(uint16_t *col, const uint16_t *xb, const ConvGeom *g, int n) {
    const int K = g->K, S = g->S, P = g->P, Hs = g->Hs, Ws = g->Ws, Hb = g->Hb, Wb = g->Wb;
    const size_t ncol = (size_t)n * Hs * Ws;
    #pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)kk_of(g); r++) {
        const int c = (int)(r / (K * K)), ky = (int)(r / K) % K, kx = (int)(r % K);
        uint16_t *dst = col + (size_t)r * ncol;
        int ox0, ox1; /* the output columns whose input column lies inside the image */
        conv_cols_inside(Ws, Wb, S, P, kx, &ox0, &ox1);
        for (int b = 0; b < n; b++) {
            const uint16_t *img = xb + ((size_t)c * n + b) * Hb * Wb;
            for (int oy = 0; oy < Hs; oy++, dst += Ws) {
                const int iy = oy * S - P + ky;
                if (iy < 0 || iy >= Hb) {
                    memset(dst, 0, (size_t)Ws * sizeof *dst);
                    continue;
                }
                const uint16_t *row = img + (size_t)iy * Wb - P + kx;
                for (int ox = 0; ox < ox0; ox++) dst[ox] = 0;
                if (S == 2) copy_evens_u16(dst + ox0, row + 2 * (size_t)ox0, ox1 - ox0);
                else for (int ox = ox0; ox < ox1; ox++) dst[ox] = row[(size_t)ox * S];
                for (int ox = ox1; ox < Ws; ox++) dst[ox] = 0;
            }
        }
    }
}

/* images [b0, b0+n) of big (Cb, B, Hb, Wb) = the sum of dcol's (Cb*K*K, n*Hs*Ws) contributions
 * (overwritten); one thread per channel */
static void col2im_f32(float *big, const float *dcol, const ConvGeom *g, int b0, int n) {
    const size_t per_channel = (size_t)g->K * g->K * n * g->Hs * g->Ws;
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < g->Cb; c++)
        cpu_col2im(big + (size_t)c * g->B * g->Hb * g->Wb, dcol + c * per_channel, 1, g->B, g->Hb, g->Wb, b0, n, g->Hs,
                   g->Ws, g->K, g->S, g->P);
}

/* dst (rows, len) in bf16 = rows of src `stride` floats apart */
static void rows_to_bf16(uint16_t *dst, const float *src, int rows, size_t len, size_t stride) {
    #pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *s = src + (size_t)r * stride;
        uint16_t *d = dst + (size_t)r * len;
        to_bf16(d, s, len);
    }
}

/* the backend's scratch cut into n parts of bytes[i] bytes each, each 64-byte aligned */
static void scratch_parts(DnnlCtx *c, int n, const size_t *bytes, void **parts) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (bytes[i] + 63) & ~(size_t)63;
    char *s = cpu_scratch_get(dnnl_ctx_scratch(c), total);
    for (int i = 0; i < n; i++) {
        parts[i] = s;
        s += (bytes[i] + 63) & ~(size_t)63;
    }
}

void gemm_bf16_fwd(DnnlCtx *c, const ConvGeom *g, float *small, const float *big, const float *w) {
    const size_t kk = kk_of(g), hw = (size_t)g->Hs * g->Ws;
    const int nb = chunk_images(g, sizeof(uint16_t));
    const size_t hwb = (size_t)g->Hb * g->Wb;
    void *p[3];
    scratch_parts(c, 3, (const size_t[]){g->Cs * kk * 2, kk * nb * hw * 2, (size_t)g->Cb * nb * hwb * 2}, p);
    uint16_t *wb = p[0], *col = p[1], *xb = p[2];
    rows_to_bf16(wb, w, g->Cs, kk, kk);
    for (int b0 = 0; b0 < g->B; b0 += nb) {
        const int n = b0 + nb <= g->B ? nb : g->B - b0;
        rows_to_bf16(xb, big + b0 * hwb, g->Cb, n * hwb, (size_t)g->B * hwb);
        im2col_bf16(col, xb, g, n);
        dnnl_matmul_bf16(c, g->Cs, (int)(n * hw), (int)kk, 0, 0, 0, wb, kk, col, n * hw, small + b0 * hw,
                         (size_t)g->B * hw);
    }
}

void gemm_bf16_bwd_data(DnnlCtx *c, const ConvGeom *g, float *big, const float *small, const float *w) {
    const size_t kk = kk_of(g), hw = (size_t)g->Hs * g->Ws;
    const int nb = chunk_images(g, sizeof(float));
    void *p[3];
    scratch_parts(c, 3, (const size_t[]){g->Cs * kk * 2, (size_t)g->Cs * nb * hw * 2, kk * nb * hw * 4}, p);
    uint16_t *wb = p[0], *dsm = p[1];
    float *dcol = p[2];
    rows_to_bf16(wb, w, g->Cs, kk, kk);
    for (int b0 = 0; b0 < g->B; b0 += nb) {
        const int n = b0 + nb <= g->B ? nb : g->B - b0;
        rows_to_bf16(dsm, small + b0 * hw, g->Cs, n * hw, (size_t)g->B * hw);
        /* dcol (kk, n hw) = W^T (W stored (Cs, kk)) . dsmall (Cs, n hw) */
        dnnl_matmul_bf16(c, (int)kk, (int)(n * hw), g->Cs, 1, 0, 0, wb, kk, dsm, n * hw, dcol, n * hw);
        col2im_f32(big, dcol, g, b0, n);
    }
}

void gemm_bf16_bwd_weights(DnnlCtx *c, const ConvGeom *g, float *dw, const float *big, const float *small) {
    const size_t kk = kk_of(g), hw = (size_t)g->Hs * g->Ws;
    const int nb = chunk_images(g, sizeof(uint16_t));
    const size_t hwb = (size_t)g->Hb * g->Wb;
    void *p[3];
    scratch_parts(c, 3, (const size_t[]){(size_t)g->Cs * nb * hw * 2, kk * nb * hw * 2, (size_t)g->Cb * nb * hwb * 2}, p);
    uint16_t *dsm = p[0], *col = p[1], *xb = p[2];
    for (int b0 = 0; b0 < g->B; b0 += nb) {
        const int n = b0 + nb <= g->B ? nb : g->B - b0;
        rows_to_bf16(dsm, small + b0 * hw, g->Cs, n * hw, (size_t)g->B * hw);
        rows_to_bf16(xb, big + b0 * hwb, g->Cb, n * hwb, (size_t)g->B * hwb);
        im2col_bf16(col, xb, g, n);
        /* dW (Cs, kk) += dsmall (Cs, n hw) . col^T (col stored (kk, n hw)) */
        dnnl_matmul_bf16(c, g->Cs, (int)kk, (int)(n * hw), 0, 1, 1, dsm, n * hw, col, n * hw, dw, kk);
    }
}
#else
typedef int dcgan_cpu_gemm_bf16_unused; /* ISO C wants a translation unit to declare something */
#endif
