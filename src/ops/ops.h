/* ops.h: the small set of tensor operations every backend implements, and the Backend interface.
 *
 * The model (src/models) and the training step (src/train) are written only against this interface;
 * they never touch tensor memory directly, so the same model definition runs on every backend.
 *
 * Conventions (they hold for every op below):
 *  - Tensors are float32 arrays in backend memory (host memory for the CPU backend).
 *  - Image tensors inside the engine use the "CNHW" layout: [C][B][H][W], channel-major, the batch
 *    second. A channel's values for the whole batch are contiguous, which makes batch norm a
 *    per-row reduction and lets a convolution over the whole batch be one GEMM. PyTorch's NCHW is
 *    converted with transpose01 at the model boundary only.
 *  - Linear layers use plain row-major [B][features], as PyTorch does.
 *  - Parameter gradients ACCUMULATE (+=) into their buffers; activation (input) gradients OVERWRITE.
 *    A NULL gradient pointer means "not needed": the op skips that work.
 *  - Weights keep PyTorch's shapes: conv [Co][Ci][K][K], conv-transpose [Ci][Co][K][K], linear [O][I].
 *  - Ops are deterministic: the same inputs and thread count give the same bits.
 *  - Memory shared between tensors (a scratch buffer reused layer after layer, a batch of B read
 *    where one of 2B was written): once a tensor is written, no op reads another tensor sharing any
 *    of its memory before that one is written again. (The CUDA backend may hold an activation in
 *    another layout and leave its memory stale until it is read; a write through another tensor
 *    then need not bring it up to date. Its emulation fills such memory with NaN to check this.)
 */
#ifndef DCGAN_OPS_H
#define DCGAN_OPS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ACT_NONE = 0, ACT_RELU, ACT_LRELU, ACT_TANH } Act;
#define LRELU_SLOPE 0.2f

/* Geometry of a convolution. For conv2d (Hi,Wi) is the input and (Ho,Wo) the output; for
 * conv_transpose2d (Hi,Wi) is its (small) input and (Ho,Wo) its (large) output. */
typedef struct {
    int B;              /* batch */
    int Ci, Hi, Wi;     /* input channels and size */
    int Co, Ho, Wo;     /* output channels and size */
    int K, S, P;        /* square kernel, stride, padding */
} ConvShape;

/* Output size of a conv2d / conv_transpose2d along one axis. */
static inline int conv_out_size(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }
static inline int convt_out_size(int in, int k, int s, int p, int op) { return (in - 1) * s - 2 * p + k + op; }
/* The output columns [*lo, *hi) of a convolution row (Wo outputs, stride S, padding P) whose input
 * column o * S - P + kx lies inside an image W wide, for kernel column kx (im2col, col2im). */
static inline void conv_cols_inside(int Wo, int W, int S, int P, int kx, int *lo, int *hi) {
    int a = 0, b = Wo;
    while (a < Wo && a * S - P + kx < 0) a++;
    while (b > a && (b - 1) * S - P + kx >= W) b--;
    *lo = a;
    *hi = b;
}

/* A linear decay of Adam's learning rate to 0 (train --lr-decay-from): after k completed iterations,
 * read at run time from the counter iter, the rate is lr while k < from, then lr * ((to - k) /
 * (to - from)), 0 from k = to on; formed in double, as PyTorch's LambdaLR does (lr_at in
 * op_math.h). to = 0: no decay (iter is not read). */
typedef struct {
    int64_t from, to;
    const int64_t *iter; /* counter */
} LrDecay;

typedef struct Backend Backend;
struct Backend {
    const char *name;
    void *ctx; /* backend-private state (scratch workspaces, handles) */
    /* 1: memory is plentiful next to compute (a GPU), so the model keeps activations it would
     * otherwise recompute in the backward pass */
    int keep_activations;

    /* ---- memory ---- */
    float *(*alloc)(Backend *be, size_t n);                 /* n floats, zero-filled */
    void (*free)(Backend *be, float *p);
    void (*upload)(Backend *be, float *dst, const float *host_src, size_t n);
    void (*download)(Backend *be, float *host_dst, const float *src, size_t n);
    void (*zero)(Backend *be, float *x, size_t n);
    void (*copy)(Backend *be, float *dst, const float *src, size_t n);

    /* ---- layout ---- */
    /* out[b][a][r] = in[a][b][r]; in is [A][Bn][R]. Converts NCHW <-> CNHW (A=N,Bn=C or back). */
    void (*transpose01)(Backend *be, float *out, const float *in, int A, int Bn, int R);

    /* ---- linear: out = in W^T + b ---- */
    void (*linear_forward)(Backend *be,
                           float *out,        /* (B,No) */
                           const float *in,   /* (B,Ni) */
                           const float *w,    /* (No,Ni) */
                           const float *bias, /* (No) or NULL */
                           int B, int Ni, int No);
    void (*linear_backward)(Backend *be,
                            float *din,        /* (B,Ni) or NULL */
                            float *dw,         /* (No,Ni) or NULL, accumulates */
                            float *dbias,      /* (No) or NULL, accumulates */
                            const float *dout, /* (B,No) */
                            const float *in,   /* (B,Ni), read only for dw (NULL when dw is NULL) */
                            const float *w,    /* (No,Ni) */
                            int B, int Ni, int No);

    /* ---- conv2d (cross-correlation, as PyTorch). In both convolutions' backward, din may alias in:
     * the weight gradient is complete before din is written. `in` is the tensor the layer's
     * forward read, unchanged since, and no other forward read the same tensor in between (the
     * CUDA backend takes the copy that forward made of it). ---- */
    void (*conv2d_forward)(Backend *be,
                           float *out,        /* (Co,B,Ho,Wo) */
                           const float *in,   /* (Ci,B,Hi,Wi) */
                           const float *w,    /* (Co,Ci,K,K) */
                           const float *bias, /* (Co) or NULL */
                           const ConvShape *s);
    void (*conv2d_backward)(Backend *be,
                            float *din,        /* (Ci,B,Hi,Wi) or NULL */
                            float *dw,         /* (Co,Ci,K,K) or NULL, accumulates */
                            float *dbias,      /* (Co) or NULL, accumulates */
                            const float *dout, /* (Co,B,Ho,Wo) */
                            const float *in,   /* (Ci,B,Hi,Wi) */
                            const float *w,    /* (Co,Ci,K,K) */
                            const ConvShape *s);

    /* ---- conv_transpose2d: the adjoint of conv2d; output_padding is implied by Ho,Wo ---- */
    void (*conv_transpose2d_forward)(Backend *be,
                                     float *out,        /* (Co,B,Ho,Wo) */
                                     const float *in,   /* (Ci,B,Hi,Wi) */
                                     const float *w,    /* (Ci,Co,K,K) */
                                     const float *bias, /* (Co) or NULL */
                                     const ConvShape *s);
    void (*conv_transpose2d_backward)(Backend *be,
                                      float *din,        /* (Ci,B,Hi,Wi) or NULL */
                                      float *dw,         /* (Ci,Co,K,K) or NULL, accumulates */
                                      float *dbias,      /* (Co) or NULL, accumulates */
                                      const float *dout, /* (Co,B,Ho,Wo) */
                                      const float *in,   /* (Ci,B,Hi,Wi) */
                                      const float *w,    /* (Ci,Co,K,K) */
                                      const ConvShape *s);

    /* ---- batch norm (PyTorch BatchNorm2d semantics) fused with an activation ----
     * out = act(gamma * (in - mean) * rstd + beta) over rows of N = B*H*W values per channel.
     * Training (batch_stats=1): mean and the biased variance come from the batch and are written to
     * mean/rstd (rstd = 1/sqrt(var + eps)); running_mean/var (if not NULL) move by `momentum` toward
     * the batch mean and the unbiased variance. Inference (batch_stats=0): mean/rstd are computed
     * from running_mean/var and written to mean/rstd. out may alias in.
     * groups (1, or more when several batches run as one, see gan.c's D step): a channel's row is
     * `groups` consecutive batches of N / groups values, each normalized by its own statistics,
     * exactly as separate calls would: mean/rstd are then (C, groups), the running statistics move
     * once per group in order, and dgamma/dbeta take the groups' sums one after the other. */
    void (*batchnorm_forward)(Backend *be,
                              float *out,          /* (C,N) */
                              float *mean,         /* (C,groups) written */
                              float *rstd,         /* (C,groups) written */
                              float *running_mean, /* (C) updated in training, read in inference */
                              float *running_var,  /* (C) */
                              const float *in,     /* (C,N) */
                              const float *gamma,  /* (C) */
                              const float *beta,   /* (C) */
                              int C, int N, int groups, int batch_stats, float momentum, float eps, Act act);
    /* Recomputes the forward output from saved statistics, bit-identical to batchnorm_forward's. */
    void (*batchnorm_apply)(Backend *be,
                            float *out,         /* (C,N) */
                            const float *in,    /* (C,N) */
                            const float *mean,  /* (C,groups) */
                            const float *rstd,  /* (C,groups) */
                            const float *gamma, /* (C) */
                            const float *beta,  /* (C) */
                            int C, int N, int groups, Act act);
    /* Backward of a training-mode batchnorm_forward (batch statistics). din may alias dout or in. */
    void (*batchnorm_backward)(Backend *be,
                               float *din,         /* (C,N) */
                               float *dgamma,      /* (C) or NULL, accumulates */
                               float *dbeta,       /* (C) or NULL, accumulates */
                               const float *dout,  /* (C,N) gradient of the activation's output */
                               const float *in,    /* (C,N) the forward input */
                               const float *mean,  /* (C,groups) */
                               const float *rstd,  /* (C,groups) */
                               const float *gamma, /* (C) */
                               const float *beta,  /* (C) */
                               int C, int N, int groups, Act act);

    /* ---- batch norm whose statistics span several ranks (--sync-bn): the model calls
     * batchnorm_local_stats, combines the ranks' statistics (one collective), then batchnorm_apply;
     * backward: batchnorm_backward_sums, one collective, batchnorm_backward_reduced. ---- */
    void (*batchnorm_local_stats)(Backend *be,
                                  float *stats,     /* (4C) written: this rank's mean and M2 = sum (x - mean)^2,
                                                       each as hi (C) then lo (C) floats: value = hi + lo */
                                  const float *in,  /* (C,N) */
                                  int C, int N);
    void (*batchnorm_backward_sums)(Backend *be,
                                    float *sums,        /* (4C) written: sum dz, then sum dz * xhat, as hi/lo pairs */
                                    const float *dout,  /* (C,N) gradient of the activation's output */
                                    const float *in,    /* (C,N) the forward input */
                                    const float *mean,  /* (C) the global statistics */
                                    const float *rstd,  /* (C) */
                                    const float *gamma, /* (C) */
                                    const float *beta,  /* (C) */
                                    int C, int N, Act act);
    /* dx from the sums over all ranks (n_global values per channel); dgamma / dbeta accumulate this
     * rank's own sums (the gradient all-reduce averages them like every other parameter). din may
     * alias dout or in. */
    void (*batchnorm_backward_reduced)(Backend *be,
                                       float *din,         /* (C,N) */
                                       float *dgamma,      /* (C) or NULL, accumulates */
                                       float *dbeta,       /* (C) or NULL, accumulates */
                                       const float *dout,  /* (C,N) */
                                       const float *in,    /* (C,N) */
                                       const float *mean,  /* (C) */
                                       const float *rstd,  /* (C) */
                                       const float *gamma, /* (C) */
                                       const float *beta,  /* (C) */
                                       const float *local_sums,  /* (4C) from batchnorm_backward_sums */
                                       const float *global_sums, /* (4C) summed over the ranks, hi/lo */
                                       int C, int N, double n_global, Act act);

    /* ---- elementwise activations; backward uses the forward OUTPUT. out/din may alias. ---- */
    void (*act_forward)(Backend *be, float *out, const float *in, size_t n, Act act);
    void (*act_backward)(Backend *be, float *din, const float *dout, const float *out, size_t n, Act act);
    /* The backward of ReLU / LeakyReLU / none needs only the sign of the output: sign_bits keeps it
     * in 1 bit per value (bit i % 32 of word i / 32 is out[i] > 0), act_backward_bits uses it.
     * din may alias dout. */
    void (*sign_bits)(Backend *be,
                      uint32_t *bits,   /* (ceil(n / 32)) written */
                      const float *out, /* (n) */
                      size_t n);
    void (*act_backward_bits)(Backend *be, float *din, const float *dout, const uint32_t *bits, size_t n, Act act);

    /* ---- loss: scale * mean_b BCEWithLogits(logit_b, target), in the stable form ----
     * Writes the loss to loss[0], the mean sigmoid(logit) to mean_prob[0] (if not NULL), and the
     * gradient d loss / d logit to dlogits (if not NULL). */
    void (*bce_logits)(Backend *be, float *loss, float *mean_prob, float *dlogits,
                       const float *logits, /* (B) */
                       int B, float target, float scale);

    /* ---- softmax cross-entropy (the LeNet classifier of dcgan eval, the auxiliary classifier of a
     * conditional D) ----
     * probs (B,K) = softmax(logits); with labels (B, class indices as floats) also scale * the mean
     * cross-entropy in loss[0] and its gradient scale * (probs - onehot) / B in dlogits (either may
     * be NULL). Row-major [B][K], as linear layers produce them. */
    void (*softmax_xent)(Backend *be, float *loss, float *probs, float *dlogits,
                         const float *logits, /* (B,K) */
                         const float *labels, /* (B) or NULL */
                         int B, int K, float scale);

    /* ---- conditioning: the one-hot class label of each sample as K constant planes,
     * out[k][b][i] = (labels[b] == k), the channels a conditional layer's input ends with (CNHW
     * makes joining them a matter of writing after the other channels). No gradient. ---- */
    void (*label_planes)(Backend *be,
                         float *out,          /* (K,B,HW) */
                         const float *labels, /* (B) class indices as floats, in [0, K) */
                         int K, int B, int HW);

    /* ---- projection (the label term of a conditional D's real/fake logit, Miyato & Koyama 2018):
     * y[b] = x[b] + t[labels[b]][b], and back: dt[k][b] = (labels[b] == k) * dy[b] (written: the
     * other entries become 0). t holds one logit per class for each sample. ---- */
    void (*label_pick)(Backend *be,
                       float *y,            /* (B) */
                       const float *x,      /* (B) */
                       const float *t,      /* (K,B) */
                       const float *labels, /* (B) class indices as floats, in [0, K) */
                       int K, int B);
    void (*label_scatter)(Backend *be,
                          float *dt,           /* (K,B) */
                          const float *dy,     /* (B) */
                          const float *labels, /* (B) */
                          int K, int B);

    /* ---- Adam with PyTorch's update and bias correction, over one flat block ----
     * Hyperparameters are doubles, as PyTorch's Python scalars: 1 - beta2 must be formed in double.
     * The 1-based step count is read at run time from a counter (see below), and so is the
     * iteration count of the learning rate's decay (LrDecay). */
    void (*adam)(Backend *be, float *param, const float *grad, float *m, float *v, size_t n,
                 double lr, double beta1, double beta2, double eps, const int64_t *step /* counter */,
                 LrDecay decay);

    /* ---- exponential moving average over one flat block: avg = d * avg + (1 - d) * x in float
     * arithmetic, d = min(decay, (1 + t) / (10 + t)) formed in double and rounded to float (with
     * 1 - d) once, t = *step + 1 read at run time (a counter, see below): the average forgets its
     * start quickly early on, as TensorFlow's ExponentialMovingAverage with num_updates does ---- */
    void (*ema)(Backend *be, float *avg /* (n) updated */, const float *x /* (n) */, size_t n, double decay,
                const int64_t *step /* counter */);

    /* ---- counters: int64 values in backend memory that ops read when they run, not when they are
     * issued, so that a recorded iteration (see graphs) can be replayed with the next step's counts. */
    int64_t *(*counters_alloc)(Backend *be, int n); /* n counters, zero */
    void (*counters_free)(Backend *be, int64_t *c);
    void (*counters_set)(Backend *be, int64_t *c, const int64_t *host, int n);
    void (*counter_add)(Backend *be, int64_t *c, int64_t k); /* c[0] += k, in op order */
    /* ring (slots, n): row (*counter mod slots) = src (n); the losses of recent iterations are kept
     * this way and read back every few iterations, not after each */
    void (*stash)(Backend *be, float *ring, const float *src, size_t n, const int64_t *counter, int slots);

    /* ---- counter-based random numbers: out[i] = draw number (first + i) of the stream
     * (stream_base + *stream), N(0,1) or U(-1,1), the same bits on every backend (core/ctr_rng.h). */
    void (*random_fill)(Backend *be, float *out, size_t n, uint64_t seed, uint64_t stream_base,
                        const int64_t *stream, uint64_t first, int uniform);

    /* ---- graphs (optional: NULL where the backend has none). Ops issued between graph_begin and
     * graph_end are recorded, not run; graph_launch runs the recording again. No download, alloc
     * or free may happen while recording. ---- */
    void (*graph_begin)(Backend *be);
    void *(*graph_end)(Backend *be);
    void (*graph_launch)(Backend *be, void *graph);
    void (*graph_free)(Backend *be, void *graph);
    /* Waits until every op issued so far has finished (the CPU backend runs them in order anyway). */
    void (*sync)(Backend *be);

    /* ---- collectives between the devices of a data-parallel job (optional: NULL where the backend
     * has none; the CUDA backend has them when built with NCCL). The job's launcher carries rank
     * 0's id to the other ranks (MPI in src/dist). collective_id writes an opaque id of at most
     * `cap` bytes and returns its size, or 0 when none can be made; collective_init joins as rank
     * `rank` of `nranks` (0, or -1 with the reason in err); allreduce_mean replaces x on every rank
     * by the mean over the ranks, with the same bits on every rank. ---- */
    size_t (*collective_id)(Backend *be, void *id, size_t cap);
    int (*collective_init)(Backend *be, const void *id, size_t len, int rank, int nranks, char *err, size_t errlen);
    void (*allreduce_mean)(Backend *be, float *x, size_t n);

    /* ---- choices made by timing (optional: NULL where the backend makes none; the CUDA backend
     * times cuDNN's algorithms). From now on they are read from the file at path where it has them,
     * and added to it where not, so that a later run with the same file makes the same ones. ---- */
    void (*keep_choices)(Backend *be, const char *path);
    /* The same choices also looked up in, and added to, a file in the cache folder dir that is
     * named for what they depend on (the device, its driver and libraries, the backend's settings),
     * so that every run on one machine makes the first one's; the file of keep_choices comes first.
     * A damaged cache is started again (one warning line). NULL where the backend makes no choices. */
    void (*cache_choices)(Backend *be, const char *dir);

    void (*destroy)(Backend *be);
};

/* The CPU backend: convolutions through oneDNN when built with it (use_dnnl; in fp32 the 4x4
 * stride-2 layers by Winograd on oneDNN's matmul, see cpu_winograd.h), else im2col + OpenBLAS
 * sgemm; everything else OpenMP loops. threads <= 0 keeps the library defaults. */
/* bf16: with use_dnnl, oneDNN's convolutions in bf16, dying with one line where that cannot run (no
 * oneDNN in the build, no AVX512_BF16); without it (cpu-blas:bf16, for test_cuda), the CUDA
 * backend's bf16 rounding emulated on im2col + sgemm */
Backend *backend_cpu_create(int threads, int use_dnnl, int bf16);

/* The CUDA backend (built when the CUDA toolkit is present): cuDNN convolutions, cuBLAS linear
 * layers, our own kernels for the rest. precision: "tf32" (default: fp32 storage, TF32 tensor-core
 * math for convolutions and matrix products, as PyTorch), "fp32" (strict IEEE fp32), "bf16"
 * (bf16 operands for convolutions and matrix products, fp32 everything else). Dies with one line
 * when there is no usable GPU. */
Backend *backend_cuda_create(const char *precision);

/* Picks a backend by name: "cpu" (oneDNN convolutions when built with oneDNN), "cpu:PRECISION",
 * "cpu-blas" (im2col + OpenBLAS sgemm convolutions), "cuda" or "cuda:PRECISION"; dies with a clear
 * line when it is not available. */
Backend *backend_create(const char *name, int threads);
/* The same with a separate precision (NULL: the device's default). CPU: fp32 (default) or bf16
 * (oneDNN's convolutions take bf16 inputs and give fp32 results; the rest stays fp32). CUDA: tf32
 * (default), fp32 or bf16. */
Backend *backend_create_precision(const char *name, const char *precision, int threads);

#endif
