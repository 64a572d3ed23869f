/* act_math.h: the activations and their derivatives, one definition for the CPU backend and for
 * the CUDA backend's kernels (it is compiled by both compilers). */
#ifndef DCGAN_ACT_MATH_H
#define DCGAN_ACT_MATH_H

#include "ops.h"

#include <math.h>

#ifdef __CUDACC__
#define ACT_FN static __host__ __device__ __forceinline__
#else
#define ACT_FN static inline
#endif

ACT_FN float act_apply(float z, int act) {
    switch (act) {
    case ACT_RELU: return z > 0.0f ? z : 0.0f;
    case ACT_LRELU: return z > 0.0f ? z : LRELU_SLOPE * z;
    case ACT_TANH: return tanhf(z);
    default: return z;
    }
}

/* d act / d z, from the pre-activation z */
ACT_FN float act_grad_from_input(float z, int act) {
    switch (act) {
    case ACT_RELU: return z > 0.0f ? 1.0f : 0.0f;
    case ACT_LRELU: return z > 0.0f ? 1.0f : LRELU_SLOPE;
    case ACT_TANH: { const float t = tanhf(z); return 1.0f - t * t; }
    default: return 1.0f;
    }
}

/* d act / d z, from the activation's output y */
ACT_FN float act_grad_from_output(float y, int act) {
    switch (act) {
    case ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case ACT_LRELU: return y > 0.0f ? 1.0f : LRELU_SLOPE;
    case ACT_TANH: return 1.0f - y * y;
    default: return 1.0f;
    }
}

#endif
