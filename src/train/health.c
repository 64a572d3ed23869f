/* health.c: signs that a run has failed, from its losses and sample grids (see health.h). */
#include "health.h"
#include "../core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

const char *health_d_wins_advice(double real_label) {
    return real_label < 1.0 ? "more --g-steps, a narrower D (--df), a lower --lr or another --seed"
                            : "more --g-steps, --real-label 0.9, a narrower D (--df), a lower --lr or another --seed";
}

double health_d_loss_floor(double t) {
    return t >= 1.0 ? 0.0 : -(t * log(t) + (1.0 - t) * log(1.0 - t));
}

int health_d_wins_at(const Log *log, long i, double real_label, double *mean_d, double *mean_dgz) {
    if (i < HEALTH_WINDOW - 1 || i >= log->n) return 0;
    double sd = 0, sg = 0;
    for (long k = i - HEALTH_WINDOW + 1; k <= i; k++) {
        sd += log->r[k].v[LOG_D];
        sg += log->r[k].v[LOG_DGZ];
    }
    sd /= HEALTH_WINDOW;
    sg /= HEALTH_WINDOW;
    if (mean_d) *mean_d = sd;
    if (mean_dgz) *mean_dgz = sg;
    return sd - health_d_loss_floor(real_label) < HEALTH_D_LOSS && sg < HEALTH_D_GZ; /* false for NaN */
}

int health_d_wins_spans(const Log *log, double real_label, long *first, long *last, int max) {
    /* the windows' sums rolled along the log (one pass, however long the run), the rows that are
     * not finite counted apart: a window holding one is not a win, as in health_d_wins_at */
    const double floor = health_d_loss_floor(real_label);
    double sd = 0, sg = 0;
    int bad = 0, n = 0, in_span = 0;
    for (long i = 0; i < log->n; i++) {
        const double d = log->r[i].v[LOG_D], g = log->r[i].v[LOG_DGZ];
        if (isfinite(d) && isfinite(g)) { sd += d; sg += g; } else bad++;
        if (i >= HEALTH_WINDOW) {
            const double od = log->r[i - HEALTH_WINDOW].v[LOG_D], og = log->r[i - HEALTH_WINDOW].v[LOG_DGZ];
            if (isfinite(od) && isfinite(og)) { sd -= od; sg -= og; } else bad--;
        }
        const int wins = i >= HEALTH_WINDOW - 1 && !bad && sd / HEALTH_WINDOW - floor < HEALTH_D_LOSS &&
                         sg / HEALTH_WINDOW < HEALTH_D_GZ;
        if (wins && !in_span) {
            if (n < max) first[n] = log->r[i].step;
            n++;
        }
        if (wins && n <= max) last[n - 1] = log->r[i].step;
        in_span = wins;
    }
    return n;
}

double health_grid_spread(const unsigned char *pix, int w, int h, int comp, int ncols) {
    const int pad = 2, gap = 40;
    if (!pix || ncols < 1 || comp < 1 || (w - pad) % ncols) return -1;
    const int S = (w - pad) / ncols - pad;
    if (S < 1 || (h - pad) % (S + pad)) return -1;
    const int nrows = (h - pad) / (S + pad);
    /* each tile averaged down by f x f blocks to at most 32 x 32 (f the smallest factor that gets
     * there; the few rows and columns past a whole block are left out) */
    int f = 1;
    while (S / f > 32) f++;
    const int s = S / f, dim = s * s * comp;
    double *t = xmalloc((size_t)nrows * ncols * dim * sizeof(double));
    int n = 0;
    for (int r = 0; r < nrows; r++)
        for (int c = 0; c < ncols; c++) {
            const int y0 = pad + r * (S + pad), x0 = pad + c * (S + pad);
            int blank = 1;
            for (int y = 0; y < S && blank; y++)
                for (int x = 0; x < S * comp; x++)
                    if (pix[(size_t)(y0 + y) * w * comp + (size_t)x0 * comp + x] != gap) { blank = 0; break; }
            if (blank) continue;
            double *o = t + (size_t)n * dim;
            for (int by = 0; by < s; by++)
                for (int bx = 0; bx < s; bx++)
                    for (int k = 0; k < comp; k++) {
                        double sum = 0;
                        for (int y = 0; y < f; y++)
                            for (int x = 0; x < f; x++)
                                sum += pix[((size_t)(y0 + by * f + y) * w + x0 + bx * f + x) * comp + k];
                        o[(by * s + bx) * comp + k] = sum / (255.0 * f * f);
                    }
            n++;
        }
    double spread = -1;
    if (n >= 2) {
        double total = 0;
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++) {
                const double *p = t + (size_t)a * dim, *q = t + (size_t)b * dim;
                double d = 0;
                for (int k = 0; k < dim; k++) d += (p[k] - q[k]) * (p[k] - q[k]);
                total += sqrt(d / dim);
            }
        spread = total / ((double)n * (n - 1) / 2);
    }
    free(t);
    return spread;
}

void spread_cache_add(SpreadCache *c, long step, double spread) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->step = xrealloc(c->step, (size_t)c->cap * sizeof *c->step);
        c->spread = xrealloc(c->spread, (size_t)c->cap * sizeof *c->spread);
    }
    c->step[c->n] = step;
    c->spread[c->n] = spread;
    c->n++;
}

int spread_cache_find(const SpreadCache *c, long step, double *spread) {
    for (int i = c->n - 1; i >= 0; i--) /* the newest first: a step measured again counts as it is now */
        if (c->step[i] == step) { *spread = c->spread[i]; return 1; }
    return 0;
}

void spread_cache_free(SpreadCache *c) {
    free(c->step);
    free(c->spread);
    memset(c, 0, sizeof *c);
}

double health_grid_spread_file(const char *path, int ncols) {
    int w, h, comp;
    unsigned char *pix = stbi_load(path, &w, &h, &comp, 0);
    if (!pix) return -1;
    const double s = health_grid_spread(pix, w, h, comp, ncols);
    stbi_image_free(pix);
    return s;
}
