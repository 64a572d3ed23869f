/* metrics.c: the estimators of metrics.h. Distances go through OpenBLAS sgemm in blocks; the
 * statistics are accumulated in double. */
#include "metrics.h"
#include "../core/util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (OpenBLAS carries the reference LAPACK): symmetric eigen-decomposition, divide and conquer */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info);

void feature_moments(const float *x, int n, int d, double *mean, double *cov) {
    memset(mean, 0, (size_t)d * sizeof(double));
    memset(cov, 0, (size_t)d * d * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int a = 0; a < d; a++) mean[a] += x[(size_t)i * d + a];
    for (int a = 0; a < d; a++) mean[a] /= n;
    double *c = xmalloc((size_t)d * sizeof(double));
    for (int i = 0; i < n; i++) {
        for (int a = 0; a < d; a++) c[a] = x[(size_t)i * d + a] - mean[a];
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++) cov[(size_t)a * d + b] += c[a] * c[b];
    }
    for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++) {
            cov[(size_t)a * d + b] /= (n > 1 ? n - 1 : 1);
            cov[(size_t)b * d + a] = cov[(size_t)a * d + b];
        }
    free(c);
}

/* eigenvalues w and eigenvectors (columns of v, column-major = rows of our row-major copy) of a */
static int eigh(const double *a, int d, double *v, double *w) {
    memcpy(v, a, (size_t)d * d * sizeof(double));
    int lwork = -1, liwork = -1, info = 0, iw;
    double wq;
    dsyevd_("V", "U", &d, v, &d, w, &wq, &lwork, &iw, &liwork, &info);
    if (info != 0) return -1;
    lwork = (int)wq;
    liwork = iw;
    double *work = xmalloc((size_t)lwork * sizeof(double));
    int *iwork = xmalloc((size_t)liwork * sizeof(int));
    dsyevd_("V", "U", &d, v, &d, w, work, &lwork, iwork, &liwork, &info);
    free(work);
    free(iwork);
    return info == 0 ? 0 : -1;
}

int sqrtm_psd(const double *a, int d, double *out) {
    double *v = xmalloc((size_t)d * d * sizeof(double)), *w = xmalloc((size_t)d * sizeof(double));
    if (eigh(a, d, v, w) != 0) { free(v); free(w); return -1; }
    /* a is symmetric, so its column-major eigenvector matrix read row-major is V^T: out = V diag(sqrt w) V^T */
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) s += v[(size_t)k * d + i] * sqrt(w[k] > 0 ? w[k] : 0) * v[(size_t)k * d + j];
            out[(size_t)i * d + j] = s;
        }
    free(v);
    free(w);
    return 0;
}

double frechet_distance(const double *m1, const double *c1, const double *m2, const double *c2, int d) {
    const size_t dd = (size_t)d * d;
    double *s1 = xmalloc(dd * sizeof(double)), *t = xmalloc(dd * sizeof(double)), *m = xmalloc(dd * sizeof(double));
    double *v = xmalloc(dd * sizeof(double)), *w = xmalloc((size_t)d * sizeof(double));
    double fid = -1;
    if (sqrtm_psd(c1, d, s1) != 0) goto done;
    /* m = s1 c2 s1 (symmetric PSD); tr(sqrt(c1 c2)) = tr(sqrt(m)) = sum of sqrt of its eigenvalues */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, s1, d, c2, d, 0.0, t, d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, t, d, s1, d, 0.0, m, d);
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) m[(size_t)i * d + j] = m[(size_t)j * d + i] = 0.5 * (m[(size_t)i * d + j] + m[(size_t)j * d + i]);
    if (eigh(m, d, v, w) != 0) goto done;
    double tr_sqrt = 0, tr1 = 0, tr2 = 0, dm = 0;
    for (int i = 0; i < d; i++) {
        tr_sqrt += sqrt(w[i] > 0 ? w[i] : 0);
        tr1 += c1[(size_t)i * d + i];
        tr2 += c2[(size_t)i * d + i];
        dm += (m1[i] - m2[i]) * (m1[i] - m2[i]);
    }
    fid = dm + tr1 + tr2 - 2 * tr_sqrt;
    if (fid < 0) fid = 0; /* rounding when the two are equal */
done:
    free(s1); free(t); free(m); free(v); free(w);
    return fid;
}

/* sum over the block (x rows i, y rows j) of (x_i . y_j / d + 1)^3; skip_diag drops i == j */
static double kernel_sum(const float *x, int nx, const float *y, int ny, int d, int skip_diag) {
    double total = 0;
    const int blk = 512;
    float *g = xmalloc((size_t)blk * blk * sizeof(float));
    for (int i0 = 0; i0 < nx; i0 += blk) {
        const int bi = nx - i0 < blk ? nx - i0 : blk;
        for (int j0 = 0; j0 < ny; j0 += blk) {
            const int bj = ny - j0 < blk ? ny - j0 : blk;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi, bj, d, 1.0f / d, x + (size_t)i0 * d, d,
                        y + (size_t)j0 * d, d, 0.0f, g, bj);
            for (int i = 0; i < bi; i++)
                for (int j = 0; j < bj; j++) {
                    if (skip_diag && i0 + i == j0 + j) continue;
                    const double k = (double)g[(size_t)i * bj + j] + 1.0;
                    total += k * k * k;
                }
        }
    }
    free(g);
    return total;
}

double mmd2_unbiased(const float *x, int nx, const float *y, int ny, int d) {
    const double kxx = kernel_sum(x, nx, x, nx, d, 1) / ((double)nx * (nx - 1));
    const double kyy = kernel_sum(y, ny, y, ny, d, 1) / ((double)ny * (ny - 1));
    const double kxy = kernel_sum(x, nx, y, ny, d, 0) / ((double)nx * ny);
    return kxx + kyy - 2 * kxy;
}

/* m distinct indices of [0, n) (a partial Fisher-Yates shuffle) */
static void pick(Rng *r, int n, int m, int *idx, int *scratch) {
    for (int i = 0; i < n; i++) scratch[i] = i;
    for (int i = 0; i < m; i++) {
        const int j = i + (int)rng_below(r, (uint32_t)(n - i));
        const int t = scratch[i]; scratch[i] = scratch[j]; scratch[j] = t;
        idx[i] = scratch[i];
    }
}

void kid(const float *x, int nx, const float *y, int ny, int d, int subsets, int size, Rng *rng, double *mean,
         double *std) {
    if (size > nx) size = nx;
    if (size > ny) size = ny;
    float *sx = xmalloc((size_t)size * d * sizeof(float)), *sy = xmalloc((size_t)size * d * sizeof(float));
    int *idx = xmalloc((size_t)size * sizeof(int)), *scr = xmalloc((size_t)(nx > ny ? nx : ny) * sizeof(int));
    double s = 0, ss = 0;
    for (int t = 0; t < subsets; t++) {
        pick(rng, nx, size, idx, scr);
        for (int i = 0; i < size; i++) memcpy(sx + (size_t)i * d, x + (size_t)idx[i] * d, (size_t)d * sizeof(float));
        pick(rng, ny, size, idx, scr);
        for (int i = 0; i < size; i++) memcpy(sy + (size_t)i * d, y + (size_t)idx[i] * d, (size_t)d * sizeof(float));
        const double v = mmd2_unbiased(sx, size, sy, size, d);
        s += v;
        ss += v * v;
    }
    *mean = s / subsets;
    *std = subsets > 1 ? sqrt(fmax(0.0, (ss - s * s / subsets) / (subsets - 1))) : 0;
    free(sx); free(sy); free(idx); free(scr);
}

void inception_score(const float *probs, int n, int k, int splits, double *mean, double *std) {
    double s = 0, ss = 0;
    double *py = xmalloc((size_t)k * sizeof(double));
    for (int t = 0; t < splits; t++) {
        const int i0 = (int)((long)t * n / splits), i1 = (int)((long)(t + 1) * n / splits);
        memset(py, 0, (size_t)k * sizeof(double));
        for (int i = i0; i < i1; i++)
            for (int c = 0; c < k; c++) py[c] += probs[(size_t)i * k + c];
        for (int c = 0; c < k; c++) py[c] /= (i1 - i0);
        double kl = 0;
        for (int i = i0; i < i1; i++)
            for (int c = 0; c < k; c++) {
                const double p = probs[(size_t)i * k + c];
                if (p > 0) kl += p * (log(p) - log(py[c]));
            }
        const double v = exp(kl / (i1 - i0));
        s += v;
        ss += v * v;
    }
    *mean = s / splits;
    *std = splits > 1 ? sqrt(fmax(0.0, (ss - s * s / splits) / (splits - 1))) : 0;
    free(py);
}

/* squared distances between rows of a (na) and b (nb), one block of rows of a at a time:
 * calls fn(ctx, i, dist_row) for each row i of a with its nb squared distances */
static void for_each_distance_row(const float *a, int na, const float *b, int nb, int d,
                                  void (*fn)(void *ctx, int i, const float *row), void *ctx) {
    const int blk = 256;
    float *g = xmalloc((size_t)blk * nb * sizeof(float));
    double *nb2 = xmalloc((size_t)nb * sizeof(double));
    for (int j = 0; j < nb; j++) {
        double s = 0;
        for (int t = 0; t < d; t++) s += (double)b[(size_t)j * d + t] * b[(size_t)j * d + t];
        nb2[j] = s;
    }
    for (int i0 = 0; i0 < na; i0 += blk) {
        const int bi = na - i0 < blk ? na - i0 : blk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi, nb, d, -2.0f, a + (size_t)i0 * d, d, b, d, 0.0f, g, nb);
        for (int i = 0; i < bi; i++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += (double)a[(size_t)(i0 + i) * d + t] * a[(size_t)(i0 + i) * d + t];
            float *row = g + (size_t)i * nb;
            for (int j = 0; j < nb; j++) { const double v = row[j] + s + nb2[j]; row[j] = (float)(v > 0 ? v : 0); }
            fn(ctx, i0 + i, row);
        }
    }
    free(g);
    free(nb2);
}

typedef struct { int k, n; float *radius; } KthCtx;
static int cmp_float(const void *a, const void *b) { const float x = *(const float *)a, y = *(const float *)b; return (x > y) - (x < y); }
/* the (k+1)-th smallest of the row (the first is the row's own zero distance) by insertion */
static void kth_row(void *vctx, int i, const float *row) {
    KthCtx *c = vctx;
    float best[64];
    const int m = c->k + 1;
    int have = 0;
    for (int j = 0; j < c->n; j++) {
        const float v = row[j];
        if (have == m && v >= best[m - 1]) continue;
        int at = have < m ? have++ : m - 1;
        while (at > 0 && best[at - 1] > v) { best[at] = best[at - 1]; at--; }
        best[at] = v;
    }
    c->radius[i] = best[have - 1];
}
typedef struct { const float *radius; int n; int *covered; } CoverCtx;
static void cover_row(void *vctx, int i, const float *row) {
    CoverCtx *c = vctx;
    c->covered[i] = 0;
    for (int j = 0; j < c->n; j++)
        if (row[j] <= c->radius[j]) { c->covered[i] = 1; return; }
}

/* share of rows of q inside some ball of p (balls: k-th nearest neighbour within p) */
static double coverage(const float *p, int np, const float *q, int nq, int d, int k) {
    float *radius = xmalloc((size_t)np * sizeof(float));
    KthCtx kc = {k < np ? k : np - 1, np, radius};
    for_each_distance_row(p, np, p, np, d, kth_row, &kc);
    int *covered = xmalloc((size_t)nq * sizeof(int));
    CoverCtx cc = {radius, np, covered};
    for_each_distance_row(q, nq, p, np, d, cover_row, &cc);
    long n = 0;
    for (int i = 0; i < nq; i++) n += covered[i];
    free(radius);
    free(covered);
    return (double)n / nq;
}

void precision_recall(const float *real, int nr, const float *fake, int nf, int d, int k, double *precision,
                      double *recall) {
    if (k < 1 || k >= 63 || nr < 2 || nf < 2) { /* kth_row's balls need k+1 <= 64 rows and one other row */
        *precision = *recall = NAN;
        return;
    }
    *precision = coverage(real, nr, fake, nf, d, k);
    *recall = coverage(fake, nf, real, nr, d, k);
}

typedef struct { int n, self; float *best; } MinCtx;
static void min_row(void *vctx, int i, const float *row) {
    MinCtx *c = vctx;
    float m = INFINITY;
    for (int j = 0; j < c->n; j++)
        if (!(c->self && j == i) && row[j] < m) m = row[j];
    c->best[i] = m;
}

double nearest_real(const float *real, int nr, const float *fake, int nf, int d, double *closer) {
    float *rr = xmalloc((size_t)nr * sizeof(float)), *fr = xmalloc((size_t)nf * sizeof(float));
    MinCtx a = {nr, 1, rr};
    for_each_distance_row(real, nr, real, nr, d, min_row, &a);
    MinCtx b = {nr, 0, fr};
    for_each_distance_row(fake, nf, real, nr, d, min_row, &b);
    float closest_pair = INFINITY;
    for (int i = 0; i < nr; i++) if (rr[i] < closest_pair) closest_pair = rr[i];
    long c = 0;
    for (int i = 0; i < nf; i++) c += fr[i] < closest_pair;
    *closer = (double)c / nf;
    qsort(fr, (size_t)nf, sizeof(float), cmp_float);
    const double median = sqrt(fr[nf / 2]);
    free(rr);
    free(fr);
    return median;
}
