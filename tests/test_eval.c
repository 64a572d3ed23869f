/* test_eval.c: the estimators behind dcgan eval against references: the matrix square root
 * (LAPACK) against a matrix with known square root, the Frechet distance against its closed form,
 * MMD^2 against its definition and KID's unbiasedness, IS and precision/recall on known cases; the
 * training-health rules (train/health.h) on made-up logs and grids. */
#include "fixture.h"
#include "../src/core/rng.h"
#include "../src/core/util.h"
#include "../src/eval/metrics.h"
#include "../src/train/health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check fx_expect

/* a random orthogonal matrix (Gram-Schmidt of a Gaussian one), row-major d x d */
static void random_orthogonal(Rng *r, int d, double *q) {
    float *g = xmalloc((size_t)d * d * sizeof(float));
    rng_fill_normal(r, g, (size_t)d * d, 0, 1);
    for (int i = 0; i < d; i++) {
        for (int k = 0; k < d; k++) q[(size_t)i * d + k] = g[(size_t)i * d + k];
        for (int j = 0; j < i; j++) {
            double dot = 0;
            for (int k = 0; k < d; k++) dot += q[(size_t)i * d + k] * q[(size_t)j * d + k];
            for (int k = 0; k < d; k++) q[(size_t)i * d + k] -= dot * q[(size_t)j * d + k];
        }
        double nrm = 0;
        for (int k = 0; k < d; k++) nrm += q[(size_t)i * d + k] * q[(size_t)i * d + k];
        for (int k = 0; k < d; k++) q[(size_t)i * d + k] /= sqrt(nrm);
    }
    free(g);
}

/* out = Q^T diag(w) Q (rows of Q are the eigenvectors) */
static void compose(const double *q, const double *w, int d, double *out) {
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) s += q[(size_t)k * d + i] * w[k] * q[(size_t)k * d + j];
            out[(size_t)i * d + j] = s;
        }
}

static double max_abs_diff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* kernel (x.y/d + 1)^3 and the U-statistic by its definition */
static double k3(const float *x, const float *y, int d) {
    double s = 0;
    for (int t = 0; t < d; t++) s += (double)x[t] * y[t];
    s = s / d + 1;
    return s * s * s;
}
static double mmd2_definition(const float *x, int n, const float *y, int m, int d) {
    double a = 0, b = 0, c = 0;
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) a += k3(x + i * d, x + j * d, d);
    for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) if (i != j) b += k3(y + i * d, y + j * d, d);
    for (int i = 0; i < n; i++) for (int j = 0; j < m; j++) c += k3(x + i * d, y + j * d, d);
    return a / ((double)n * (n - 1)) + b / ((double)m * (m - 1)) - 2 * c / ((double)n * m);
}

/* A grid as png_write_grid lays it out: n tiles of S x S x comp, ncols per row, 2-pixel gaps of 40;
 * tile i's pixels from value(i, y, x, k). */
static unsigned char *make_grid(int n, int S, int comp, int ncols, int (*value)(int, int, int, int), int *w, int *h) {
    const int nrows = (n + ncols - 1) / ncols;
    *w = ncols * (S + 2) + 2;
    *h = nrows * (S + 2) + 2;
    unsigned char *p = xmalloc((size_t)*w * *h * comp);
    memset(p, 40, (size_t)*w * *h * comp);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int k = 0; k < comp; k++)
                    p[((size_t)(2 + i / ncols * (S + 2) + y) * *w + 2 + i % ncols * (S + 2) + x) * comp + k] =
                        (unsigned char)value(i, y, x, k);
    return p;
}
static int same_tile(int i, int y, int x, int k) { (void)i; return (y * 7 + x * 3 + k) % 256; }
static int two_levels(int i, int y, int x, int k) { (void)y; (void)x; (void)k; return i % 2 ? 255 : 0; }
static int checker(int i, int y, int x, int k) { (void)k; return ((x / 2 + y / 2 + i) % 2) ? 255 : 0; }

static void test_health(void) {
    /* ---- rule 1 on made-up logs ---- */
    Log lg = {0};
    for (long s = 1; s <= 450; s++) {
        LogRow r = {s, 0, {0}};
        const int won = s > 100 && s <= 350; /* D wins from step 101 to 350 */
        r.v[LOG_D] = won ? 0.01 : 1.2;
        r.v[LOG_DGZ] = won ? 0.005 : 0.4;
        log_push(&lg, &r);
    }
    double md = 0, mg = 0;
    check(!health_d_wins_at(&lg, HEALTH_WINDOW - 2, 1.0, NULL, NULL), "rule 1 needs a whole window of rows");
    check(health_d_wins_at(&lg, 349, 1.0, &md, &mg) && fabs(md - 0.01) < 1e-12 && fabs(mg - 0.005) < 1e-12,
          "rule 1 holds for the window of steps 151-350, with the window's means");
    /* a window holding k rows outside steps 101-350: mean d_loss (k * 1.2 + (200 - k) * 0.01) / 200 < 0.05
     * for k <= 6, and D(G(z)) (k * 0.4 + (200 - k) * 0.005) / 200 < 0.03 for k <= 12; the window ending at
     * step e has k = 300 - e before step 300 and k = e - 350 after step 350: rule 1 holds from 294 to 356 */
    long first[4], last[4];
    const int n = health_d_wins_spans(&lg, 1.0, first, last, 4);
    printf("  rule 1 stretches: %d, first %ld-%ld\n", n, n ? first[0] : -1, n ? last[0] : -1);
    check(n == 1 && first[0] == 294 && last[0] == 356, "rule 1 holds from step 294 to 356 exactly (d_loss's bound decides)");
    check(!health_d_wins_at(&lg, 449, 1.0, NULL, NULL), "rule 1 does not hold at the end of the log");
    lg.r[449].v[LOG_D] = NAN;
    check(!health_d_wins_at(&lg, 449, 1.0, NULL, NULL), "a NaN loss does not count as D winning");
    log_free(&lg);
    /* the spans (a rolling sum over the log) against health_d_wins_at window by window, on a log
     * that wanders across both bounds and holds a NaN */
    {
        Log rl = {0};
        Rng wr;
        rng_seed(&wr, 5, 1);
        for (long s = 1; s <= 3000; s++) {
            LogRow r = {s, 0, {0}};
            const double phase = 0.5 + 0.5 * sin((double)s / 150.0);
            r.v[LOG_D] = 0.08 * phase + 0.02 * rng_uniform(&wr);
            r.v[LOG_DGZ] = 0.05 * phase + 0.01 * rng_uniform(&wr);
            if (s == 1700) r.v[LOG_D] = NAN;
            log_push(&rl, &r);
        }
        long f[64], l[64], bf[64], bl[64];
        const int n = health_d_wins_spans(&rl, 1.0, f, l, 64);
        int bn = 0, on = 0;
        for (long i = 0; i < rl.n; i++) {
            const int w = health_d_wins_at(&rl, i, 1.0, NULL, NULL);
            if (w && !on && bn < 64) bf[bn++] = rl.r[i].step;
            if (w && bn) bl[bn - 1] = rl.r[i].step;
            on = w;
        }
        int same = n == bn && n > 1;
        for (int i = 0; i < n && same; i++) same = f[i] == bf[i] && l[i] == bl[i];
        printf("  rule 1 on a wandering log: %d stretches rolled, %d window by window\n", n, bn);
        check(same, "the stretches of rule 1 (rolled along the log) are those of health_d_wins_at, NaN window included");
        log_free(&rl);
    }
    /* with label smoothing D's loss cannot go under the binary entropy of its real target */
    const double floor9 = health_d_loss_floor(0.9), want9 = -(0.9 * log(0.9) + 0.1 * log(0.1));
    printf("  d_loss's floor at real label 0.9: %.12f (want %.12f)\n", floor9, want9);
    check(fabs(floor9 - want9) < 1e-15 && health_d_loss_floor(1.0) == 0.0, "d_loss's floor is the real label's binary entropy");
    for (long s = 1; s <= HEALTH_WINDOW; s++) {
        LogRow r = {s, 0, {0}};
        r.v[LOG_D] = floor9 + 0.04;
        r.v[LOG_DGZ] = 0.01;
        log_push(&lg, &r);
    }
    check(health_d_wins_at(&lg, HEALTH_WINDOW - 1, 0.9, NULL, NULL) && !health_d_wins_at(&lg, HEALTH_WINDOW - 1, 1.0, NULL, NULL),
          "at real label 0.9 rule 1 counts d_loss above its floor (0.365 wins there, not at real label 1)");
    log_free(&lg);

    /* ---- rule 2's spread on made-up grids ---- */
    int w, h;
    unsigned char *g = make_grid(64, 32, 3, 8, same_tile, &w, &h);
    double s = health_grid_spread(g, w, h, 3, 8);
    check(s == 0.0, "64 copies of one image have spread 0");
    free(g);
    g = make_grid(16, 12, 1, 8, two_levels, &w, &h); /* 8 black, 8 white: 64 of the 120 pairs differ by 1 */
    s = health_grid_spread(g, w, h, 1, 8);
    printf("  spread of 8 black and 8 white tiles: %.12f (want %.12f)\n", s, 64.0 / 120.0);
    check(fabs(s - 64.0 / 120.0) < 1e-12, "the spread is the mean RMS difference over all pairs");
    free(g);
    g = make_grid(13, 12, 1, 8, two_levels, &w, &h); /* a part-filled last row: its 3 blank tiles are left out */
    s = health_grid_spread(g, w, h, 1, 8);
    check(fabs(s - 42.0 / 78.0) < 1e-12, "the unfilled tiles of a last row are left out (13 tiles: 42 of 78 pairs)");
    free(g);
    g = make_grid(8, 128, 1, 8, checker, &w, &h); /* 2x2 checks: averaged down 4x4 to 32 x 32, every block grey */
    s = health_grid_spread(g, w, h, 1, 8);
    check(fabs(s) < 1e-12, "tiles over 32 pixels are averaged down first (2x2 checks of opposite phase become equal)");
    check(health_grid_spread(g, w - 1, h, 1, 8) == -1, "an image that is not a grid of 8 columns gives -1");
    free(g);
}

int main(void) {
    Rng r;
    rng_seed(&r, 7, 0);
    const int d = 24;
    double *q = xmalloc(sizeof(double) * d * d), *a = xmalloc(sizeof(double) * d * d), *ref = xmalloc(sizeof(double) * d * d),
           *got = xmalloc(sizeof(double) * d * d), *w = xmalloc(sizeof(double) * d), *sw = xmalloc(sizeof(double) * d);

    /* ---- square root of A = Q^T diag(w) Q is Q^T diag(sqrt w) Q ---- */
    random_orthogonal(&r, d, q);
    for (int i = 0; i < d; i++) { w[i] = 0.01 + i * i * 0.37; sw[i] = sqrt(w[i]); }
    compose(q, w, d, a);
    compose(q, sw, d, ref);
    check(sqrtm_psd(a, d, got) == 0, "LAPACK dsyevd succeeds");
    double e = max_abs_diff(got, ref, (size_t)d * d);
    printf("  sqrtm: max |ours - reference| = %.3g\n", e);
    check(e < 1e-10, "the matrix square root equals the known one (1e-10)");

    /* ---- Frechet distance: same eigenbasis, closed form |m1-m2|^2 + sum (sqrt a - sqrt b)^2 ---- */
    double *c1 = xmalloc(sizeof(double) * d * d), *c2 = xmalloc(sizeof(double) * d * d), *m1 = xmalloc(sizeof(double) * d),
           *m2 = xmalloc(sizeof(double) * d), *w2 = xmalloc(sizeof(double) * d);
    double closed = 0;
    for (int i = 0; i < d; i++) {
        w2[i] = 0.5 + 0.1 * i;
        m1[i] = 0.1 * i;
        m2[i] = 0.1 * i + (i % 3 == 0 ? 0.5 : 0);
        closed += (m1[i] - m2[i]) * (m1[i] - m2[i]) + (sqrt(w[i]) - sqrt(w2[i])) * (sqrt(w[i]) - sqrt(w2[i]));
    }
    compose(q, w, d, c1);
    compose(q, w2, d, c2);
    const double fd = frechet_distance(m1, c1, m2, c2, d);
    printf("  Frechet distance %.12g, closed form %.12g\n", fd, closed);
    check(fabs(fd - closed) < 1e-8 * closed, "the Frechet distance equals its closed form (1e-8 relative)");
    check(frechet_distance(m1, c1, m1, c1, d) < 1e-9, "the Frechet distance of a distribution to itself is 0");

    /* ---- MMD^2: our blocked sgemm version against the definition ---- */
    enum { NX = 37, NY = 29, D = 6 };
    float x[NX * D], y[NY * D];
    rng_fill_normal(&r, x, NX * D, 0, 1);
    rng_fill_normal(&r, y, NY * D, 0.3f, 1.2f);
    const double mine = mmd2_unbiased(x, NX, y, NY, D), def = mmd2_definition(x, NX, y, NY, D);
    printf("  MMD^2 unbiased %.9g, by definition %.9g\n", mine, def);
    check(fabs(mine - def) < 1e-5 * fabs(def) + 1e-9, "MMD^2 equals its definition");

    /* ---- KID is unbiased: two samples of one distribution average to 0 ---- */
    enum { TRIALS = 400, N = 24, DD = 4 };
    float *xs = xmalloc(sizeof(float) * N * DD), *ys = xmalloc(sizeof(float) * N * DD);
    double s = 0, ss = 0;
    for (int t = 0; t < TRIALS; t++) {
        rng_fill_normal(&r, xs, N * DD, 0, 1);
        rng_fill_normal(&r, ys, N * DD, 0, 1);
        const double v = mmd2_unbiased(xs, N, ys, N, DD);
        s += v;
        ss += v * v;
    }
    const double mean = s / TRIALS, se = sqrt((ss / TRIALS - mean * mean) / TRIALS);
    printf("  KID over %d same-distribution trials: mean %.3g, standard error %.3g\n", TRIALS, mean, se);
    check(fabs(mean) < 4 * se, "KID (unbiased MMD^2) averages to 0 within 4 standard errors for equal distributions");
    double km, ks;
    float *big = xmalloc(sizeof(float) * 3000 * DD), *big2 = xmalloc(sizeof(float) * 3000 * DD);
    rng_fill_normal(&r, big, 3000 * DD, 0, 1);
    rng_fill_normal(&r, big2, 3000 * DD, 0.5f, 1);
    kid(big, 3000, big2, 3000, DD, 10, 1000, &r, &km, &ks);
    printf("  KID of a shifted distribution: %.4g +- %.2g\n", km, ks);
    check(km > 10 * ks && km > 0, "KID of a shifted distribution is clearly positive");

    /* ---- IS: uniform predictions give 1, confident evenly spread ones give K ---- */
    enum { K = 10, NI = 1000 };
    float *p = xmalloc(sizeof(float) * NI * K);
    for (int i = 0; i < NI * K; i++) p[i] = 1.0f / K;
    double im, is;
    inception_score(p, NI, K, 10, &im, &is);
    check(fabs(im - 1) < 1e-6, "IS of uniform predictions is 1");
    for (int i = 0; i < NI; i++) for (int c = 0; c < K; c++) p[i * K + c] = c == i % K ? 1.0f : 0.0f;
    inception_score(p, NI, K, 10, &im, &is);
    printf("  IS of confident, balanced predictions: %.6f\n", im);
    check(fabs(im - K) < 1e-4, "IS of confident, balanced predictions is the class count");

    /* ---- precision and recall: a set against itself, and against a far one ---- */
    double pr, rc;
    precision_recall(big, 1000, big, 1000, DD, 5, &pr, &rc);
    check(pr == 1.0 && rc == 1.0, "precision and recall of a set against itself are 1");
    for (int i = 0; i < 1000 * DD; i++) big2[i] = big[i] + 100.0f;
    precision_recall(big, 1000, big2, 1000, DD, 5, &pr, &rc);
    check(pr == 0.0 && rc == 0.0, "precision and recall against a far-away set are 0");
    precision_recall(big, 2, big2, 2, DD, 1, &pr, &rc); /* the smallest sets: each ball is the other row */
    check(pr == 0.0 && rc == 0.0, "precision and recall of 2 rows against 2 far-away rows, k = 1, are 0");
    precision_recall(big, 1, big2, 1000, DD, 5, &pr, &rc);
    check(isnan(pr) && isnan(rc), "precision and recall of a single real row are NaN (no k-NN ball)");
    precision_recall(big, 1000, big2, 1000, DD, 63, &pr, &rc);
    check(isnan(pr) && isnan(rc), "precision and recall with k = 63 (over kth_row's 64 slots) are NaN");
    double closer;
    const double med = nearest_real(big, 1000, big, 1000, DD, &closer);
    check(med == 0.0 && closer == 1.0, "copies of real rows are flagged as memorized");

    free(q); free(a); free(ref); free(got); free(w); free(sw); free(c1); free(c2); free(m1); free(m2); free(w2);
    free(xs); free(ys); free(big); free(big2); free(p);
    test_health();
    return fx_summary("test_eval");
}
