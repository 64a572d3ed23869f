/* metrics.h: sample-quality estimators on classifier features (dcgan eval), named after the feature
 * network so nobody mistakes them for Inception scores: FID-LeNet, KID-LeNet, IS-LeNet, precision and
 * recall (k-NN balls) and a memorization check. Features are float [n][d] row-major. */
#ifndef DCGAN_METRICS_H
#define DCGAN_METRICS_H

#include "../core/rng.h"

#include <stddef.h>

/* Mean (d) and covariance (d x d, divided by n - 1) of n feature rows, in double. */
void feature_moments(const float *x, int n, int d, double *mean, double *cov);

/* The square root of a symmetric positive semi-definite matrix (d x d) through LAPACK's dsyevd
 * (eigenvalues below zero from rounding are clamped). 0, or -1 when LAPACK fails. */
int sqrtm_psd(const double *a, int d, double *out);

/* Frechet distance between N(m1, c1) and N(m2, c2):
 * |m1 - m2|^2 + tr(c1) + tr(c2) - 2 tr((c1^1/2 c2 c1^1/2)^1/2). -1 on a LAPACK failure. */
double frechet_distance(const double *m1, const double *c1, const double *m2, const double *c2, int d);

/* KID: the unbiased MMD^2 with the kernel (x.y / d + 1)^3 between x (nx) and y (ny), averaged over
 * `subsets` random subsets of `size` rows of each (drawn from rng); mean and standard deviation. */
void kid(const float *x, int nx, const float *y, int ny, int d, int subsets, int size, Rng *rng, double *mean,
         double *std);
/* The unbiased MMD^2 of all of x and y (no subsets), the building block of kid. */
double mmd2_unbiased(const float *x, int nx, const float *y, int ny, int d);

/* Inception-style score exp(E_x KL(p(y|x) || p(y))) from class probabilities (n x k), over `splits`
 * equal splits: mean and standard deviation. */
void inception_score(const float *probs, int n, int k, int splits, double *mean, double *std);

/* Improved precision and recall (Kynkaanniemi et al. 2019) with k-nearest-neighbour balls (1 <= k < 63): the
 * share of fake rows inside some real row's k-NN ball, and of real rows inside some fake row's ball; NaN
 * for both outside those bounds or with fewer than 2 rows on either side. */
void precision_recall(const float *real, int nr, const float *fake, int nf, int d, int k, double *precision,
                      double *recall);

/* Memorization: for each fake row its nearest real row; returns the median of those distances, and in
 * *closer the share of fake rows nearer to a real row than the closest pair of distinct real rows. */
double nearest_real(const float *real, int nr, const float *fake, int nf, int d, double *closer);

#endif
