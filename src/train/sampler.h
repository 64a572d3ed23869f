/* sampler.h: a generator for making images outside the training step: its own batch size and
 * activations, parameters copied from a training generator or a checkpoint. Batch norm uses the
 * running statistics (inference) or the batch's own (as the PyTorch example does). */
#ifndef DCGAN_SAMPLER_H
#define DCGAN_SAMPLER_H

#include "gan.h"

typedef struct {
    Backend *be;
    ModelConfig mc;
    int B;
    Net G;
    Workspace ws;
    float *z;   /* (B, nz) on the backend */
    float *labels; /* (B) class indices as floats, conditional models only */
} Sampler;

void sampler_init(Sampler *s, Backend *be, const ModelConfig *mc, int B);
void sampler_free(Sampler *s);
/* Copies parameters and running statistics from a generator with the same configuration. */
void sampler_copy_from(Sampler *s, const Net *G);
/* Loads parameters and running statistics from host arrays (checkpoint order). */
void sampler_set_host(Sampler *s, const float *params, const float *buffers);
/* Generates n <= B images from host z (n, nz) into host NCHW (n, C, S, S) in [-1, 1]. Rows of z
 * past n are zero. labels (n): the class of each image for a conditional model, else NULL.
 * batch_stats: 0 running statistics, 1 the batch's own. */
void sampler_run(Sampler *s, const float *z, const int32_t *labels, int n, int batch_stats, float *out);

/* The z of `dcgan sample --seed S`: n rows of nz from the seed's sampling stream; row i does not
 * depend on n, so an image is named by (seed, index). */
void sample_z(float *z, int n, int nz, ZDist dist, uint64_t seed);

/* Generates n images (any n) from host z (n, nz) (and labels (n) for a conditional model, else
 * NULL) with G's weights into host (n, C, S, S): with
 * running statistics in batches of up to 256 (an image does not depend on the others), with batch
 * statistics as one batch. */
void generate_images(Backend *be, const ModelConfig *mc, const Net *G, const float *z, const int32_t *labels, int n,
                     int batch_stats, float *out);

/* The labels of a class-by-row grid: image i of n shows class (i / cols) mod K. */
void grid_labels(int32_t *labels, int n, int cols, int K);

#endif
