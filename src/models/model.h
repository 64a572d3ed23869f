/* model.h: the one definition of the DCGAN generator and discriminator, for every backend.
 *
 * A network is a short table of layers (linear, conv, conv-transpose, each optionally followed by
 * batch norm, then an activation) built from a ModelConfig. Its parameters live in ONE flat block,
 * carved by a size table; gradients and the two Adam moments are flat blocks of the same size, so
 * zero-grad, Adam, all-reduce and checkpointing are one call each. Running statistics of batch
 * norm live in a second, smaller flat block ("buffers").
 *
 * Families (see README): "dcgan" is pytorch/examples' DCGAN, "seed" the article's / carpedm20's.
 * Inside the engine images are CNHW (see ops.h); the generator takes z as [B][nz]. */
#ifndef DCGAN_MODEL_H
#define DCGAN_MODEL_H

#include "../core/rng.h"
#include "../ops/ops.h"

#include <stddef.h>

typedef enum { ARCH_DCGAN = 0, ARCH_SEED = 1 } Arch;

typedef struct {
    Arch arch;
    int size;     /* image side S */
    int channels; /* 1 or 3 */
    int nz;       /* latent size */
    int gf, df;   /* base widths of G and D */
    int nclasses; /* 0: unconditional; K >= 2: class-conditional, the one-hot label (as K constant
                     planes) joined to the input of every layer of G (and of D with d_labels) */
    int aux;      /* conditional models: D's last layer also gives K class logits, an auxiliary
                     classifier as in AC-GAN (Odena et al. 2017); D's output is then (1 + K, B) */
    int d_labels; /* conditional models: the label planes are joined to D's layers too (carpedm20).
                     Set it without aux; with aux D must not see them, or its classifier reads its
                     answer from them instead of from the image (class loss ~0.003), and teaches G
                     nothing about the classes. Checkpoints before format 4 had both; they load as
                     they were. */
    int proj;     /* with aux: D's last layer also gives K projection logits, and the real/fake logit
                     of a sample is its logit plus the projection logit of its label (the projection
                     discriminator of Miyato & Koyama 2018): D judges each image against its class
                     without a label input its classifier could read. D's output is (1 + 2K, B).
                     From checkpoint format 5. */
} ModelConfig;

#define MODEL_MAX_CLASSES 256

const char *arch_name(Arch a);
int arch_parse(const char *s, Arch *out); /* 0 on success */

/* Checks that the model can be built for this batch; on failure writes one line saying what to
 * change into err and returns -1. batch <= 0 skips the batch checks. */
int model_config_check(const ModelConfig *c, int batch, char *err, size_t errlen);

/* Makes c conditional on K classes (K = 0: unconditional) the way dcgan train does: with aux, D's
 * classifier and the projection term and no label planes in D; without, the label planes in D. */
void model_config_set_classes(ModelConfig *c, int K, int aux);

typedef enum { LAYER_LINEAR, LAYER_CONV, LAYER_CONVT } LayerKind;

typedef struct {
    LayerKind kind;
    int cin, hin, win;    /* input; a linear layer sees cin*hin*win features (NCHW flatten order) */
    int cout, hout, wout; /* output; a linear output is reshaped to (cout, hout, wout) */
    int k, s, p;          /* conv geometry (output_padding is implied by hout) */
    int has_bias, has_bn;
    int ncond;            /* the last ncond of the cin input channels are the label planes */
    Act act;
    int t_w, t_b, t_gamma, t_beta; /* indices into the parameter table, -1 if absent */
    int t_rmean, t_rvar;           /* indices into the buffer table, -1 if absent */
} Layer;

#define NET_MAX_LAYERS 8
#define NET_MAX_TENSORS 32

typedef struct {
    char name[32];
    int ndim;
    int dims[4];
    size_t numel;
    size_t offset; /* in floats, inside the flat block */
} TensorSpec;

/* Batch norm whose statistics span several ranks (dcgan train --sync-bn). The distributed layer
 * implements both with one collective per call; every rank gets the same bits back. */
typedef struct {
    void *ctx;
    /* stats (4C, hi/lo pairs, see ops.h) on the backend: this rank's per-channel mean and M2 over
     * n_local values. Writes the
     * global mean and rstd = 1/sqrt(var + eps) (C each) and updates the running statistics. */
    void (*forward)(void *ctx, Backend *be, const float *stats, float *mean, float *rstd, float *running_mean,
                    float *running_var, int C, int n_local, float momentum, float eps);
    /* local (4C, hi/lo): this rank's backward sums; global (4C) gets them summed over the ranks. Returns the
     * number of values per channel over all ranks. */
    double (*backward)(void *ctx, Backend *be, const float *local, float *global, int C, int n_local);
} BnSync;

typedef struct {
    int nlayers;
    Layer layer[NET_MAX_LAYERS];
    int in_c, in_h, in_w; /* input per sample: G takes (nz,1,1) as [B][nz]; D takes (C,S,S) CNHW */
    int ntensors;
    TensorSpec tensor[NET_MAX_TENSORS];
    size_t nparams;
    int nbuffers;
    TensorSpec buffer[NET_MAX_TENSORS];
    size_t nbuf;

    /* backend memory */
    float *params, *grads, *adam_m, *adam_v; /* nparams each */
    float *buffers;                          /* nbuf: batch-norm running statistics */
    int Bmax;                                /* batch the activations are sized for */
    int B;                                   /* batch of the next pass (at most Bmax; net_alloc sets
                                                it to Bmax) */
    int groups;                              /* the pass's batch is this many batches of B / groups,
                                                each with its own batch-norm statistics (1, or 2 for
                                                the D step's real and fake batches as one pass, see
                                                gan.c); mean/rstd hold (cout, groups) */
    float *acts;                             /* one block holding y[] (and a[] when kept) */
    float *y[NET_MAX_LAYERS];                /* (cout,B,hout,wout): pre-BN output of BN layers,
                                                activated output otherwise; y[last] is the output */
    float *a[NET_MAX_LAYERS];                /* (cout,B,hout,wout): the activated output of a BN
                                                layer, kept on backends with keep_activations (else
                                                NULL: it lives in the workspace and backward
                                                recomputes it from y and the saved statistics) */
    float *stats;                            /* one block holding mean[] and rstd[] */
    float *mean[NET_MAX_LAYERS], *rstd[NET_MAX_LAYERS];
    float *xin;                              /* layer 0's input when it must be re-laid out or
                                                joined with the label planes */
    float *labels;                           /* (B) class indices as floats on the backend, set by
                                                the owner; conditional nets only */
    int recompute0;                          /* layer 0 (no batch norm, e.g. D's first conv) is not
                                                stored: its output lives in the workspace and is
                                                recomputed from the input in backward */
    float bn_momentum;                       /* how far a training-mode forward moves the running
                                                statistics toward the batch's: PyTorch's 0.1 (set by
                                                the builders); 1/k on the k-th of a series of batches
                                                makes them the series' plain average */
    const BnSync *sync;                      /* NULL: batch statistics of this rank's batch only */
    int bn_frozen;                           /* the last net_forward used the running statistics
                                                (inference); net_backward then differentiates that */
    float *sync_buf;                         /* (8 * widest batch-norm layer) for sync */
} Net;

/* Scratch shared by G and D (they never run at the same time). */
typedef struct {
    float *act;      /* the pass's working buffer: the input of the layer being differentiated
                        (recomputed), then that layer's input gradient; in forward, activations
                        and a linear layer's (B, out) result */
    float *grad;     /* a network's input gradient d x (and the NCHW staging of a real batch) */
    uint32_t *bits;  /* the output signs of a recomputed first layer (see Backend.sign_bits) */
    float *lin;      /* (B, in): a linear layer's flattened input, then its flat input gradient */
    size_t act_n, grad_n, lin_n;
} Workspace;

/* Builds the layer and tensor tables of G or D (no memory yet). */
void net_build_generator(Net *n, const ModelConfig *c);
/* The same G run fully convolutionally on a zside x zside grid of latent vectors (dcgan family
 * only: its first layer is a transposed convolution, not a linear one): the same parameters, an
 * image of side size / 4 * (zside + 3) (zside 1: the ordinary G), as dcgan.torch's imsize. G's input
 * is then CNHW (nz, B, zside, zside). */
void net_build_generator_grid(Net *n, const ModelConfig *c, int zside);
#define GRID_SIDE(size, zside) ((size) / 4 * ((zside) + 3)) /* size itself for zside 1 (sizes are multiples of 16) */
void net_build_discriminator(Net *n, const ModelConfig *c);

/* The LeNet-style classifier of dcgan eval: conv k5 s2 (width) + LeakyReLU, conv k5 s2 (2 width) +
 * batch norm + LeakyReLU, linear to `features` + LeakyReLU (the feature layer), linear to the class
 * logits. Input (channels, size, size), size a multiple of 4. */
void net_build_classifier(Net *n, int size, int channels, int width, int features, int classes);

/* Allocates parameters, buffers and activations for batch B, and with training also the
 * gradients and the Adam moments. The net then runs batches of B in one group; set n->B (at most
 * B) and n->groups (at most NET_MAX_GROUPS) for other passes. */
#define NET_MAX_GROUPS 2
void net_alloc(Net *n, Backend *be, int B, int training);
void net_free(Net *n, Backend *be);

/* DCGAN init: conv/linear weights N(0, 0.02), BN gamma N(1, 0.02), beta and biases 0; running
 * mean 0 and var 1. Draws in table order from rng. */
void net_init_params(Net *n, Backend *be, Rng *rng);

/* Index of a parameter / buffer tensor by name, or -1. */
int net_find_tensor(const Net *n, const char *name);
int net_find_buffer(const Net *n, const char *name);

/* The name a tensor has outside: for the dcgan family pytorch/examples' state_dict names
 * (main.<i>.weight, main.<i>.running_mean, ...), for seed our own table names (L<k>.weight,
 * L<k>.bn.weight, ...). idx indexes n->tensor, or n->buffer when is_buffer. */
void net_export_name(const Net *n, const ModelConfig *c, int generator, int is_buffer, int idx, char *out, size_t cap);
/* For the dcgan family, the nn.Sequential index of layer li's batch norm (its num_batches_tracked
 * lives there), or -1. */
int net_bn_index(const Net *n, int generator, const ModelConfig *c, int li);

/* Output size per sample (C*H*W) of the last layer, and the largest activation of any layer. */
size_t net_output_numel(const Net *n);

/* Sizes the workspace for the backward passes of the training step: D's backward (with its input
 * gradient) followed by G's from where D's input gradient landed, each net at the batch it was
 * allocated for (Net.Bmax). Pass d == NULL for a generator that only runs forward (sampling). */
void workspace_alloc(Workspace *ws, Backend *be, const Net *g, const Net *d);
void workspace_free(Workspace *ws, Backend *be);

/* Forward pass on a batch of n->B (n->groups batches of n->B / n->groups for batch norm).
 *   x: G: z (B, nz) row-major; D: images (C, B, S, S). A conditional net also reads n->labels.
 *   batch_stats: 1 = training-mode batch norm (batch statistics, running statistics updated),
 *                0 = inference (running statistics).
 * The output is n->y[n->nlayers-1]: G: images (C,B,S,S) in [-1,1]; D: logits (B). */
void net_forward(Net *n, Backend *be, Workspace *ws, const float *x, int batch_stats);

/* Backward pass after a net_forward on the same x: of the training-mode forward (batch
 * statistics), or of the inference-mode one (running statistics, a fixed map per channel: used to
 * fit z to an image, dcgan invert).
 *   dout: gradient of the output, in ws->act or ws->grad (overwritten).
 *   param_grads: accumulate into n->grads; input_grad: compute d x.
 * Returns ws->grad holding d x when input_grad, else NULL. For G, d z is (nz, B): z's layout
 * transposed, as the first layer sees it.
 * Memory plan: each layer's stored output n->y[l] is dead once that layer's batch norm or
 * activation has been differentiated, so the gradient of its pre-activation output is written over
 * it. The layer's input is then recomputed into ws->act, its weight gradient taken, and its input
 * gradient written over that input in ws->act: one working buffer for the whole chain. n->y[] is
 * therefore garbage after backward. */
float *net_backward(Net *n, Backend *be, Workspace *ws, const float *x, float *dout, int param_grads,
                    int input_grad);
/* In a conditional net, d x is the gradient of x joined with the label planes, (C + K, B, S, S):
 * its first C * B * S * S values are the gradient of x itself (CNHW puts channels first). */

#endif
