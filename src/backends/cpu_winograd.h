/* cpu_winograd.h: the stride-2 convolutions of both model families (the inner layers, both D's
 * convolutions and G's transposed ones) by Winograd on their space-to-depth form: the dcgan family's
 * 4x4 kernels (padding 1) by F(4x4, 2x2), 25 multiplications per 4x4 output tile and channel pair
 * instead of 64; the seed family's 5x5 kernels (padding 2) by F(4x4, 3x3), 36 instead of 100. The
 * products run as one batched oneDNN matmul, the transforms are our own. Same geometry and meaning
 * as cpu_dnnl.h's three calls; cpu_dnnl.c dispatches to these where wino_fits() (see
 * cpu_winograd.c for the arithmetic). */
#ifndef DCGAN_CPU_WINOGRAD_H
#define DCGAN_CPU_WINOGRAD_H

#include "cpu_dnnl.h"

/* The transformed weights of recent layers, kept for the next call with the same weights (owned by
 * the DnnlCtx; see get_u in cpu_winograd.c). */
typedef struct WinoCache WinoCache;
WinoCache *wino_cache_create(void);
void wino_cache_destroy(WinoCache *wc);

/* 1 for a geometry these handle: k4 s2 p1 or k5 s2 p2, the big side twice the small one, the small
 * side a multiple of 4 (and at most 512) wide and high, at least 32 channels on both sides, and a
 * transformed weight tensor of at most 80 MB */
int wino_fits(const ConvGeom *g);
/* small (Cs,B,Hs,Ws) = conv(big (Cb,B,Hb,Wb), w (Cs,Cb,K,K)) */
void wino_conv_fwd(DnnlCtx *c, WinoCache *wc, const ConvGeom *g, float *small, const float *big, const float *w);
/* big (Cb,B,Hb,Wb) = conv^T(small (Cs,B,Hs,Ws), w)  (overwrites) */
void wino_conv_bwd_data(DnnlCtx *c, WinoCache *wc, const ConvGeom *g, float *big, const float *small,
                        const float *w);
/* dw (Cs,Cb,K,K) += the weight gradient of conv(big, w) against small */
void wino_conv_bwd_weights(DnnlCtx *c, const ConvGeom *g, float *dw, const float *big, const float *small);

#endif
