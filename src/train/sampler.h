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
    int zside;  /* 1, or the side of each image's grid of latents (sampler_init_grid) */
    int side;   /* the images' side, GRID_SIDE(mc.size, zside) (mc.size for zside 1) */
    Net G;
    Workspace ws;
    float *z;   /* (B, nz) on the backend; with a grid (nz, B, zside, zside) */
    float *labels; /* (B) class indices as floats, conditional models only */
} Sampler;

void sampler_init(Sampler *s, Backend *be, const ModelConfig *mc, int B);
/* A sampler whose G takes a zside x zside grid of latents per image (net_build_generator_grid):
 * images of side GRID_SIDE(mc->size, zside). zside 1 is sampler_init. */
void sampler_init_grid(Sampler *s, Backend *be, const ModelConfig *mc, int B, int zside);
void sampler_free(Sampler *s);
/* Copies parameters and running statistics from a generator with the same configuration. */
void sampler_copy_from(Sampler *s, const Net *G);
/* Loads parameters and running statistics from host arrays (checkpoint order). */
void sampler_set_host(Sampler *s, const float *params, const float *buffers);
/* Generates n <= B images from host z (n, nz) into host NCHW (n, C, S, S) in [-1, 1] (with a grid of
 * latents: z (n, zside * zside, nz), image i's latent at grid row r, column c in row r * zside + c
 * of its block; S = s->side). Rows of z past n are zero. labels (n): the class of each image for a conditional model, else NULL.
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

/* The same with each image from a zside x zside grid of latents (z (n, zside * zside, nz), see
 * sampler_run) into host (n, C, S', S'), S' = GRID_SIDE(mc->size, zside); in batches that shrink as
 * the images grow. */
void generate_images_grid(Backend *be, const ModelConfig *mc, const Net *G, const float *z, const int32_t *labels, int n,
                          int batch_stats, int zside, float *out);

/* The labels of a class-by-row grid: image i of n shows class (i / cols) mod K. */
void grid_labels(int32_t *labels, int n, int cols, int K);

#endif
