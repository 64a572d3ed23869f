/* op_math.h: the per-element math of the ops (activations and their derivatives, the two losses),
 * one definition for the CPU backend and for the CUDA backend's kernels (both compilers build it);
 * the backends differ only in how they spread the elements over threads and sum the results. */
#ifndef DCGAN_OP_MATH_H
#define DCGAN_OP_MATH_H

#include "ops.h"

#include <math.h>

#ifdef __CUDACC__
#define OP_FN static __host__ __device__ __forceinline__
#else
#define OP_FN static inline
#endif

OP_FN float act_apply(float z, int act) {
    switch (act) {
    case ACT_RELU: return z > 0.0f ? z : 0.0f;
    case ACT_LRELU: return z > 0.0f ? z : LRELU_SLOPE * z;
    case ACT_TANH: return tanhf(z);
    default: return z;
    }
}

/* d act / d z, from the pre-activation z */
OP_FN float act_grad_from_input(float z, int act) {
    switch (act) {
    case ACT_RELU: return z > 0.0f ? 1.0f : 0.0f;
    case ACT_LRELU: return z > 0.0f ? 1.0f : LRELU_SLOPE;
    case ACT_TANH: { const float t = tanhf(z); return 1.0f - t * t; }
    default: return 1.0f;
    }
}

/* d act / d z, from the activation's output y */
OP_FN float act_grad_from_output(float y, int act) {
    switch (act) {
    case ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case ACT_LRELU: return y > 0.0f ? 1.0f : LRELU_SLOPE;
    case ACT_TANH: return 1.0f - y * y;
    default: return 1.0f;
    }
}

/* The same from the output's sign alone (ReLU, LeakyReLU and none; see Backend.sign_bits). */
OP_FN float act_grad_from_sign(int positive, int act) {
    switch (act) {
    case ACT_RELU: return positive ? 1.0f : 0.0f;
    case ACT_LRELU: return positive ? 1.0f : LRELU_SLOPE;
    default: return 1.0f;
    }
}

/* BCE with logits for one logit x against target t, in the stable form max(x,0) - x t + log(1 + e^-|x|);
 * *sig gets sigmoid(x). */
OP_FN double bce_logit(double x, double t, double *sig) {
    *sig = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    return (x > 0 ? x : 0.0) - x * t + log1p(exp(-fabs(x)));
}

/* Softmax of one row x (K logits) into probs, and with a label y in [0, K) the row's cross-entropy
 * (returned) and d (scale * mean loss) / d x = scale * (p - onehot) / B into dlogits; either output
 * may be NULL, y < 0 means no label. */
OP_FN double softmax_xent_row(float *probs, float *dlogits, const float *x, int K, int y, int B, double scale) {
    double mx = x[0], sum = 0.0;
    for (int k = 1; k < K; k++) if (x[k] > mx) mx = x[k];
    for (int k = 0; k < K; k++) sum += exp(x[k] - mx);
    for (int k = 0; k < K; k++) {
        const double p = exp(x[k] - mx) / sum;
        if (probs) probs[k] = (float)p;
        if (dlogits && y >= 0) dlogits[k] = (float)(scale * (p - (k == y)) / B);
    }
    return y >= 0 && y < K ? mx + log(sum) - x[y] : 0.0;
}

/* Adam's learning rate after k completed iterations under a linear decay (LrDecay). */
OP_FN double lr_at(double lr, long long from, long long to, long long k) {
    if (to <= 0 || k < from) return lr;
    const double left = (double)(to - k) / (double)(to - from);
    return lr * (left > 0.0 ? left : 0.0);
}

/* The moving average's decay at iteration t = step + 1 (Backend.ema): min(decay, (1 + t) / (10 + t)). */
OP_FN double ema_decay_at(double decay, long long step) {
    const double t = (double)step + 1.0, warm = (1.0 + t) / (10.0 + t);
    return decay < warm ? decay : warm;
}

#endif
