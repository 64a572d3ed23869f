/* cpu_gemm_bf16.h: the CPU backend's inner convolutions in --precision bf16 as im2col and one
 * oneDNN bf16 matmul per chunk of images, for CPUs with AMX, where oneDNN's own bf16 convolutions
 * ran their backward 2-8x slower than its matmul (see cpu_gemm_bf16.c). Same geometry and meaning
 * as cpu_dnnl.h's three calls; cpu_dnnl.c sends a layer here where gemm_bf16_fits() and the CPU has
 * AMX (DCGAN_CPU_BF16_GEMM=0 keeps oneDNN's convolutions, =1 takes this path without AMX too). */
#ifndef DCGAN_CPU_GEMM_BF16_H
#define DCGAN_CPU_GEMM_BF16_H

#include "cpu_dnnl.h"

/* 1 for a layer (and direction: forward, or either backward) this takes: at least 32 channels on
 * both sides, and a forward only where its output has fewer than 16 x 16 pixels */
int gemm_bf16_fits(const ConvGeom *g, int forward);
/* small (Cs,B,Hs,Ws) = conv(big (Cb,B,Hb,Wb), w (Cs,Cb,K,K)) */
void gemm_bf16_fwd(DnnlCtx *c, const ConvGeom *g, float *small, const float *big, const float *w);
/* big (Cb,B,Hb,Wb) = conv^T(small (Cs,B,Hs,Ws), w)  (overwrites) */
void gemm_bf16_bwd_data(DnnlCtx *c, const ConvGeom *g, float *big, const float *small, const float *w);
/* dw (Cs,Cb,K,K) += the weight gradient of conv(big, w) against small */
void gemm_bf16_bwd_weights(DnnlCtx *c, const ConvGeom *g, float *dw, const float *big, const float *small);

#endif
