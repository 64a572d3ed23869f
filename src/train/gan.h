/* gan.h: the training step of the article, on any backend: one discriminator update on a real and a
 * fake batch (two passes of the same D, so batch-norm statistics are per batch; where stack_d says
 * so, run as one pass over both batches with batch norm kept per batch), then g_steps generator
 * updates, with Adam on each network's flat parameter block. */
#ifndef DCGAN_GAN_H
#define DCGAN_GAN_H

#include "../models/model.h"

#include <stdint.h>

typedef enum { LOSS_NS = 0, LOSS_MINIMAX = 1 } GLoss;
typedef enum { Z_NORMAL = 0, Z_UNIFORM = 1 } ZDist;

typedef struct {
    double lr, beta1, beta2, eps; /* Adam, the same for G and D */
    int g_steps;                 /* G updates per iteration (the article: 2; PyTorch's example: 1) */
    GLoss loss;                  /* G loss: non-saturating -log D(G(z)) or minimax log(1 - D(G(z))) */
    ZDist zdist;                 /* N(0,1) or U(-1,1) */
    double class_weight;         /* models with an auxiliary classifier (ModelConfig.aux): the weight of
                                    its cross-entropy, added to D's loss on the real and the fake
                                    batch and to G's loss (AC-GAN) */
    double real_label;           /* D's target on real images: 1, or under 1 for one-sided label
                                    smoothing (Salimans et al. 2016: 0.9); fakes stay at 0 and G's
                                    target at 1 */
    long lr_decay_from, lr_decay_to; /* the learning rate falls linearly from lr after iteration
                                    lr_decay_from to 0 after iteration lr_decay_to (LrDecay; Radford
                                    et al.'s code: niter_decay); 0, 0: constant */
    double ema;                  /* decay of the exponential moving average of G's weights that
                                    sampling uses (Gan.ema_params); 0: none, sample the live G */
    int stack_d;                 /* the D step's two passes as one over a batch of 2B (batch norm
                                    still per batch, see gan.c): 1 on, 0 off, -1 (default) on where
                                    the backend keeps activations (a GPU: memory is plentiful and
                                    larger convolutions run faster per image), unless the
                                    environment's DCGAN_STACK_D says 0 or 1. Not while batch norm
                                    is synchronized across ranks. The
                                    arithmetic is the two passes' up to the order of the sums over
                                    the batch in the weight gradients. */
} TrainConfig;

void train_config_default(TrainConfig *t);
/* 0 when the schedule is usable; else -1 with one line saying what to change. */
int train_config_check(const TrainConfig *t, char *err, size_t errlen);

typedef struct {
    float d_loss_real, d_loss_fake, d_loss, g_loss;
    float d_x;    /* mean D(x) on the real batch */
    float d_gz;   /* mean D(G(z)) on the fake batch of the D step */
    float d_gz_g; /* mean D(G(z)) in the last G step, after D's update */
    float d_cls;  /* auxiliary classifier (0 without): class_weight * cross-entropy on the real batch
                     in the D step (the classifier learns from real images only) */
    float g_cls;  /* class_weight * cross-entropy on the fake batch in the last G step */
} StepStats;

/* Scalars the step writes on the backend, read back with gan_read_stats. */
enum { SC_D_REAL, SC_D_FAKE, SC_G, SC_DX, SC_DGZ, SC_DGZ_G, SC_D_CLS_REAL, SC_G_CLS, SC_COUNT };
#define STATS_RING 64
/* Counters in backend memory: the iteration (z's stream) and the two Adam step counts. */
enum { CTR_ITER, CTR_ADAM_D, CTR_ADAM_G, CTR_COUNT };

typedef struct {
    Backend *be;
    ModelConfig mc;
    TrainConfig tc;
    int B;
    Net G, D;
    Workspace ws;
    float *z;        /* (B, nz) the latent batch of the current iteration */
    float *real;     /* (C, B, S, S) the real batch, CNHW; with stack_d the first half of pair */
    int stack_d;     /* the D step runs as one pass over the real and the fake batch (D is
                        allocated for 2B) */
    float *pair;     /* stack_d: (2, C, B*S*S) the real batch, then G's; NULL otherwise */
    float *d_in;     /* stack_d: (C, 2B, S, S) D's input, the two batches per channel */
    float *labels;   /* (B) class indices as floats, conditional models only: the labels of the real
                        batch, which the fake batch is made for too (as carpedm20 does); with
                        stack_d (2B), their copy for the fake half of the one D pass follows */
    float *cls_logits, *cls_grad; /* (B, K) the auxiliary classifier's logits and their gradient */
    float *proj_logit;            /* (B) D's real/fake logit plus the projection logit of the label */
    float *scalars;  /* (SC_COUNT) */
    float *ring;     /* (STATS_RING, SC_COUNT): row (t mod STATS_RING) holds iteration t's scalars */
    long step;       /* completed iterations */
    long adam_t_d, adam_t_g;
    /* the same three counts in backend memory, read by the ops when they run (see ops.h) */
    int64_t *counters; /* (CTR_COUNT) */
    /* one recorded iteration (gan_iterate), on backends with graphs; NULL until the first call */
    int use_graph;
    int warm;        /* an iteration ran op by op (the backend chose its algorithms) */
    void *graph;
    uint64_t seed;
    /* tc.ema > 0: the moving average of G's weights, updated after every iteration's G steps (with
     * the warm-up of Backend.ema: iteration t uses min(tc.ema, (1 + t) / (10 + t))), and
     * batch-norm running statistics measured for those weights by gan_ema_refresh (averaging the
     * live G's statistics would not do: they belong to the weights that produced them) */
    float *ema_params;  /* (G.nparams) or NULL */
    float *ema_buffers; /* (G.nbuf) or NULL */
    int ema_fresh;      /* ema_buffers were measured for the current ema_params */
    /* data parallelism: this rank's share of the global batch (rank 0 of 1 alone), and the hook
     * that averages a gradient block over the ranks before each Adam step (NULL alone) */
    int rank, nranks;
    void (*grad_average)(void *ctx, Backend *be, float *grads, size_t n);
    void *grad_ctx;
    int grad_in_graph; /* grad_average only issues backend work (NCCL on the backend's stream), so
                          the iteration, all-reduces included, can still be one recorded graph */
} Gan;

/* Builds G and D for the configuration, allocates everything for batch B and initializes the
 * weights from seed (stream 0). Dies with one line on a bad config. */
void gan_init(Gan *g, Backend *be, const ModelConfig *mc, const TrainConfig *tc, int B, uint64_t seed);
void gan_free(Gan *g);

/* Draws the iteration's z. Iteration t's global batch (nranks * B rows) is the first rows of the
 * seed's stream 2^32 + t, and this rank takes rows [rank * B, (rank + 1) * B): no generator state
 * to carry, resume is exact, and 2 ranks x B see the z of 1 rank x 2B. */
void gan_draw_z(Gan *g);
/* Uploads a host batch of real images, NCHW (B, C, S, S), values in [-1, 1]. */
void gan_set_real(Gan *g, const float *host_nchw);
/* Uploads the real batch's class labels (B) for a conditional model; G makes the fake batch for the
 * same labels. */
void gan_set_labels(Gan *g, const int32_t *labels);
/* Uploads n class indices in [0, K) as floats into dst (B); the rows past n are class 0. */
void labels_upload(Backend *be, float *dst, const int32_t *labels, int n, int B, int K);
/* One training iteration on the current z and real batch. */
void gan_step(Gan *g);
/* gan_draw_z then gan_step. On a backend with graphs (and without a gradient-averaging hook or
 * synchronized batch norm) the first call records the iteration and every call replays it: one
 * launch per iteration, z drawn on the device, no host round trip. The same numbers either way. */
void gan_iterate(Gan *g);
/* Measures batch-norm running statistics for the averaged weights (no-op without tc.ema, or when
 * they are current): G with ema_params runs in training mode on GAN_EMA_BN_IMAGES images of z from
 * the seed's stream 3 * 2^32 + step (classes in turn for a conditional model), and ema_buffers
 * become the plain average of the batches' statistics, as torch.optim.swa_utils.update_bn does.
 * Uses G's activations, the workspace, z and the labels: call it between iterations. */
#define GAN_EMA_BN_IMAGES 1024
void gan_ema_refresh(Gan *g);
/* How many batches of B the refresh runs: GAN_EMA_BN_IMAGES images, at least 4 batches. */
int gan_ema_refresh_batches(int B);
/* The generator sampling should use: with tc.ema a view of G holding ema_params and ema_buffers
 * (refreshed first), written into *view; else G itself. Only params and buffers differ from G. */
const Net *gan_sampling_net(Gan *g, Net *view);
/* For inference after a checkpoint load: copies the averaged weights and their statistics over G's
 * own (nothing without tc.ema), so that everything reading G samples the average. */
void gan_generator_from_ema(Gan *g);

/* Reads back the last step's losses (synchronizes with the backend). */
void gan_read_stats(Gan *g, StepStats *st);
/* Reads back the losses of the n iterations that ended at steps first .. first + n - 1 (1-based,
 * the last STATS_RING steps at most) with one transfer. */
void gan_read_recent(Gan *g, long first, int n, StepStats *st);

#endif
