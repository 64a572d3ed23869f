/* cpu_dnnl.h: convolutions on the CPU through oneDNN (Debian's libdnnl-dev), for the CPU backend.
 *
 * One convolution geometry covers both layer kinds: a "big" image (Cb, Hb, Wb) and a "small" one
 * (Cs, Hs, Ws), with weights (Cs, Cb, K, K) - PyTorch's conv2d weights, and exactly PyTorch's
 * conv_transpose2d weights read as the adjoint convolution. So conv2d uses (fwd, bwd_data,
 * bwd_weights) and conv_transpose2d uses (bwd_data, fwd, bwd_weights) of the same primitives.
 * Tensors stay CNHW outside; oneDNN's own blocked layouts are used inside each call, reached by
 * our own copies (activations in nChw16c) or oneDNN's reorders (weights, other layouts).
 * Primitives are created once per geometry and cached. The 4x4 and 5x5 stride-2 layers go to
 * cpu_winograd.c where it takes them (see the three calls at the end). */
#ifndef DCGAN_CPU_DNNL_H
#define DCGAN_CPU_DNNL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct DnnlCtx DnnlCtx;

/* The CPU backend's one scratch block (64-byte aligned, grows, never shrinks), shared by the
 * im2col path and oneDNN's reorders: a layer uses one or the other, never both at once. */
typedef struct {
    void *p;
    size_t bytes;
} CpuScratch;
/* At least `bytes` of it (its contents are not kept when it grows); dies when memory runs out. */
void *cpu_scratch_get(CpuScratch *s, size_t bytes);
/* im2col's adjoint, in cpu.c: images b0 .. b0+nb-1 of x (C, B, H, W) are overwritten with the sum
 * of col's (C*K*K, nb*Ho*Wo) contributions (kernel K, stride S, padding P); serial */
void cpu_col2im(float *x, const float *col, int C, int B, int H, int W, int b0, int nb, int Ho, int Wo, int K, int S,
                int P);

typedef struct {
    int B, Cb, Hb, Wb, Cs, Hs, Ws, K, S, P;
} ConvGeom;

/* fp32 -> bf16, rounded to nearest even, as AVX512_BF16's conversion does: NaN stays a (quiet) NaN,
 * and a denormal input becomes a zero of its sign (that instruction treats denormals as zero). */
static inline uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* bf16 = 1: the convolutions' inputs (activations, weights, gradients) go to oneDNN in bf16 and its
 * results come back in fp32 (fp32 accumulation); see dnnl_cpu_has_bf16. */
DnnlCtx *dnnl_ctx_create(CpuScratch *scratch, int bf16);
/* 1 when this CPU has native bf16 arithmetic (AVX512_BF16) for oneDNN's kernels */
int dnnl_cpu_has_bf16(void);
void dnnl_ctx_destroy(DnnlCtx *c);

/* the scratch block the context was made with (cpu_winograd.c works in it too) */
CpuScratch *dnnl_ctx_scratch(DnnlCtx *c);
/* out[x] (M,N) = op(a[x]) . op(b[x]) for x < X, added to out with accumulate (else overwritten);
 * a[x] is stored (M,K) row-major, or (K,M) with ta; b[x] (K,N), or (N,K) with tb; a[x], b[x] and
 * out[x] start sa, sb and so floats after a[x-1], b[x-1], out[x-1]. oneDNN's matmul, its primitive
 * cached per shape. */
void dnnl_batched_matmul(DnnlCtx *c, int X, int M, int N, int K, int ta, int tb, int accumulate, const float *a,
                         size_t sa, const float *b, size_t sb, float *out, size_t so);
/* out (M,N), rows ldo floats apart, = op(a) . op(b) in fp32 from bf16 operands (added to out with
 * accumulate): a (M,K) row-major with rows lda apart, or (K,M) with ta; b (K,N) with rows ldb apart,
 * or (N,K) with tb. oneDNN's matmul (AMX where the CPU has it), cached per shape. */
void dnnl_matmul_bf16(DnnlCtx *c, int M, int N, int K, int ta, int tb, int accumulate, const uint16_t *a, size_t lda,
                      const uint16_t *b, size_t ldb, float *out, size_t ldo);

/* The three calls below send the stride-2 layers that cpu_winograd.h takes to it, unless the
 * environment had DCGAN_CPU_WINOGRAD=0 when the context was made, or it is bf16; in bf16, the layers
 * and directions that cpu_gemm_bf16.h takes go to it where the CPU has AMX (DCGAN_CPU_BF16_GEMM
 * decides otherwise); the rest go to oneDNN's own convolutions. */
/* small (Cs,B,Hs,Ws) = conv(big (Cb,B,Hb,Wb), w) */
void dnnl_conv_fwd(DnnlCtx *c, const ConvGeom *g, float *small, const float *big, const float *w);
/* big (Cb,B,Hb,Wb) = conv^T(small, w)  (overwrites) */
void dnnl_conv_bwd_data(DnnlCtx *c, const ConvGeom *g, float *big, const float *small, const float *w);
/* dw (Cs,Cb,K,K) += d<small, conv(big, w)>/dw */
void dnnl_conv_bwd_weights(DnnlCtx *c, const ConvGeom *g, float *dw, const float *big, const float *small);

#endif
