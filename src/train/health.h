/* health.h: the two ways a DCGAN run visibly fails, told from the run's own files.
 *
 * 1. The discriminator wins: D tells real from generated with near certainty for a long stretch
 *    (d_loss and D(G(z)) near zero), so G's gradient vanishes and the samples stop improving (the
 *    article's reason for two G updates per D update; pytorch/examples' "Loss_D -> 0").
 * 2. The samples look alike (mode collapse): the images of the fixed-z grid are far closer to each
 *    other than real images are.
 *
 * Both are pure functions of what a run folder holds (losses.csv, samples_*.png, real_samples.png
 * and the checkpoint's real label), so the trainer's warnings and `dcgan report`'s page say the
 * same thing. */
#ifndef DCGAN_HEALTH_H
#define DCGAN_HEALTH_H

#include "../io/runlog.h"

/* Rule 1: over the last HEALTH_WINDOW logged iterations, mean d_loss < HEALTH_D_LOSS (above its
 * floor, health_d_loss_floor, with label smoothing) and mean D(G(z)) < HEALTH_D_GZ. Calibrated on
 * Fashion-MNIST runs: healthy runs (4000 iterations at full width, and 800 at lr 2e-4..1e-2, either
 * loss) never had a 100-iteration mean d_loss under 0.17; runs whose D had won (df 64 against gf 4;
 * beta1 0.95) sat at 0.005-0.03 for hundreds of iterations. */
#define HEALTH_WINDOW 200
#define HEALTH_D_LOSS 0.05
#define HEALTH_D_GZ 0.03

/* Rule 2: the spread of a grid is the mean over its pairs of images of the RMS pixel difference
 * (pixels in [0, 1]); samples whose spread is under HEALTH_SPREAD times the real images' are
 * called alike. Healthy runs measured 0.6-1.0 from step 200 on (0.38 at step 100); G's samples
 * from a D that had won 0.06-0.6; 64 copies of one image give 0. */
#define HEALTH_SPREAD 0.1
/* G's first samples are alike whatever happens next (a fresh G draws near-constant images): rule 2
 * counts from this step on. */
#define HEALTH_SPREAD_FROM 200

/* What to try when rule 1 holds, as a list ("more --g-steps, ..."), for a run with real_label; and
 * when rule 2 does. */
const char *health_d_wins_advice(double real_label);
#define HEALTH_ALIKE_ADVICE "another --seed, a lower --lr or more data"

/* The least d_loss can be when D's target on real images is real_label (TrainConfig.real_label):
 * the binary entropy of real_label, 0 for 1 (0.325 for 0.9). */
double health_d_loss_floor(double real_label);

/* 1 when rule 1 holds for the window of log ending at row i (i >= HEALTH_WINDOW - 1) of a run
 * trained with real_label, with the window's means in *mean_d and *mean_dgz (either may be NULL);
 * else 0. */
int health_d_wins_at(const Log *log, long i, double real_label, double *mean_d, double *mean_dgz);

/* The stretches of log where rule 1 holds: up to max of them as (first step, last step) of the
 * windows' ends; returns how many there are in all. */
int health_d_wins_spans(const Log *log, double real_label, long *first, long *last, int max);

/* The spread of a grid image as png_write_grid lays it out (tiles of S x S with 2-pixel gaps of
 * value 40, ncols per row; S is found from the width): pixels (h, w, comp) 8-bit, interleaved.
 * Tiles that are all gap colour (an unfilled last row) are left out; larger tiles are averaged
 * down to at most 32 x 32 first. -1 when the image is not such a grid or has fewer than 2 tiles. */
double health_grid_spread(const unsigned char *pix, int w, int h, int comp, int ncols);

/* The same for a PNG file (-1 when it cannot be read or is not a grid). */
double health_grid_spread_file(const char *path, int ncols);

/* Spreads already measured, by the step of their grid, and the real grid's (0: not yet): the
 * trainer keeps one for its run, so that the report, rewritten with every grid, decodes each grid
 * once. Zero-initialized is empty. */
typedef struct {
    long *step;
    double *spread;
    int n, cap;
    double real;
} SpreadCache;
void spread_cache_add(SpreadCache *c, long step, double spread);
/* 1 with *spread set when the step's grid was measured, else 0. */
int spread_cache_find(const SpreadCache *c, long step, double *spread);
void spread_cache_free(SpreadCache *c);

#endif
