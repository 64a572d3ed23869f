/* lenet.h: the small classifier whose features define dcgan eval's metrics (FID-LeNet, ...), trained
 * by this engine on Fashion-MNIST or MNIST, as Binkowski et al.'s MMD-GAN scorer does with a LeNet
 * on MNIST. Inputs are 32x32 gray images in [-1, 1] (what `dcgan train` makes of IDX data). */
#ifndef DCGAN_LENET_H
#define DCGAN_LENET_H

#include "../models/model.h"

#include <stdint.h>

#define LENET_SIZE 32
#define LENET_WIDTH 32
#define LENET_FEATURES 128
#define LENET_CLASSES 10

typedef struct {
    Backend *be;
    Net net;
    Workspace ws;
    int B, training;
    int64_t *adam_ctr; /* Adam's step count, in backend memory */
    float *x;      /* (1, B, S, S) CNHW input */
    float *logits; /* (B, K) row-major */
    float *feat;   /* (B, F) row-major */
    float *probs, *dlogits, *labels, *loss; /* (B,K), (B,K), (B), (1) */
} Lenet;

/* Builds the network for batches of up to B images; training allocates gradients and Adam state.
 * Weights are drawn from seed (DCGAN-style init is not used: He-like N(0, sqrt(2/fan_in))). */
void lenet_init(Lenet *l, Backend *be, int B, int training, uint64_t seed);
void lenet_free(Lenet *l);

/* Weights as safetensors (names L<k>.weight, ... of the layer table). 0, or -1 with one line. */
int lenet_save(const Lenet *l, const char *path, char *err, size_t errlen);
int lenet_load(Lenet *l, const char *path, char *err, size_t errlen);

/* Inference (running batch-norm statistics) on n <= B host images (n, 1, S, S): the features
 * (n, F) and class probabilities (n, K) into host arrays (either may be NULL). */
void lenet_run(Lenet *l, const float *images, int n, float *features, float *probs);

/* One Adam step (lr, betas 0.9/0.999) on B host images with labels; returns the mean loss. */
float lenet_train_step(Lenet *l, const float *images, const int32_t *labels, double lr);

#endif
