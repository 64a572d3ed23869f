/* bf16_points.h: where the CUDA backend rounds to bf16 in --precision bf16, shared with the CPU
 * backend's emulation of it (cpu-blas:bf16, the reference that test_cuda compares the GPU's bf16
 * step with). Keeping both on these definitions keeps them the same arithmetic:
 *  - a convolution through cuDNN reads its two operands in bf16 and writes its result in bf16 (a
 *    weight gradient is rounded before it is added to the fp32 gradient); bias, batch norm,
 *    activations, the loss and Adam stay fp32;
 *  - a matrix product through cuBLAS (linear layers, and full-size convolutions: kernel = input,
 *    1x1 output) reads its operands in bf16 and writes fp32;
 *  - a product with at most BF16_NARROW_OUTPUTS outputs (D's last layer) is all fp32. */
#ifndef DCGAN_BF16_POINTS_H
#define DCGAN_BF16_POINTS_H

#include <stdint.h>
#include <string.h>

#define BF16_NARROW_OUTPUTS 8

/* v rounded to the nearest bf16 (ties to even), as a float; NaN stays NaN; denormals are kept, as
 * CUDA's __float2bfloat16_rn keeps them (cpu_dnnl.c's bf16_of flushes them, as AVX512_BF16 does) */
static inline float bf16_round(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return v;
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&v, &u, sizeof v);
    return v;
}

#endif
