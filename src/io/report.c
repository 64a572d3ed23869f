/* report.c: the run folder's index.html and training.gif (see report.h). */
#include "report.h"
#include "fileio.h"
#include "gif_io.h"
#include "image_io.h"
#include "../core/util.h"
#include "../train/health.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#define MAX_FRAMES_HTML 60
#define MAX_FRAMES_GIF 100

void report_add(ReportInfo *info, const char *key, const char *fmt, ...) {
    if (info->nkv >= REPORT_MAX_KV) return;
    snprintf(info->key[info->nkv], sizeof info->key[0], "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->val[info->nkv], sizeof info->val[0], fmt, ap);
    va_end(ap);
    info->nkv++;
}

void report_info_from_meta(ReportInfo *info, const CheckpointMeta *m, const char *backend, int threads) {
    report_add(info, "arch", "%s", arch_name(m->mc.arch));
    report_add(info, "image", "%d x %d x %d", m->mc.size, m->mc.size, m->mc.channels);
    report_add(info, "nz / gf / df", "%d / %d / %d", m->mc.nz, m->mc.gf, m->mc.df);
    report_add(info, "batch", "%d", m->batch);
    report_add(info, "g-steps", "%d", m->tc.g_steps);
    report_add(info, "loss", "%s", m->tc.loss == LOSS_NS ? "non-saturating" : "minimax");
    if (m->tc.real_label < 1.0)
        report_add(info, "real label", "%g (one-sided label smoothing)", m->tc.real_label);
    info->real_label = m->tc.real_label;
    report_add(info, "z", "%s", m->tc.zdist == Z_NORMAL ? "N(0, 1)" : "U(-1, 1)");
    report_add(info, "Adam", "lr %g, beta1 %g, beta2 %g", m->tc.lr, m->tc.beta1, m->tc.beta2);
    if (m->tc.lr_decay_to)
        report_add(info, "lr decay", "linear to 0 from step %ld to step %ld", m->tc.lr_decay_from, m->tc.lr_decay_to);
    report_add(info, "seed", "%llu", (unsigned long long)m->seed);
    report_add(info, "data", "%s (%d images)", m->data_path, m->data_n);
    report_add(info, "preprocessing", "%s, background #%02x%02x%02x%s", m->crop ? "center crop" : "squash",
               m->background[0], m->background[1], m->background[2], m->flip ? ", mirrored at random (--flip)" : "");
    if (m->mc.nclasses) {
        char list[300];
        classes_list(m->classes, list, sizeof list);
        report_add(info, "conditional", "%d classes (one per grid row): %s", m->mc.nclasses, list);
        if (m->mc.aux)
            report_add(info, "class loss", "%g (D also classifies: AC-GAN%s)", m->tc.class_weight,
                       m->mc.proj ? ", with the projection term" : "");
    }
    if (m->tc.ema > 0) report_add(info, "moving average of G", "decay %g (what sample, eval and export use)", m->tc.ema);
    if (m->nranks > 1) report_add(info, "ranks", "%d", m->nranks);
    if (backend) report_add(info, "backend", "%s, %d thread%s", backend, threads, threads == 1 ? "" : "s");
}

/* ---- the page is built in a ByteBuf (util.h), kept NUL-terminated ---- */
typedef ByteBuf Text;

static void tprintf(Text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *at = bytebuf_reserve(t, (size_t)k);
    va_start(ap, fmt);
    vsnprintf(at, (size_t)k + 1, fmt, ap);
    va_end(ap);
    t->n += (size_t)k;
}
static void tescape(Text *t, const char *s) { /* HTML text */
    for (; *s; s++) {
        if (*s == '<') tprintf(t, "&lt;");
        else if (*s == '>') tprintf(t, "&gt;");
        else if (*s == '&') tprintf(t, "&amp;");
        else if (*s == '"') tprintf(t, "&quot;");
        else tprintf(t, "%c", *s);
    }
}
static void tbase64(Text *t, const unsigned char *d, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = bytebuf_reserve(t, (n + 2) / 3 * 4), *start = (char *)t->p;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        const unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *o++ = A[v >> 18]; *o++ = A[(v >> 12) & 63]; *o++ = A[(v >> 6) & 63]; *o++ = A[v & 63];
    }
    if (i < n) {
        const unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
        *o++ = A[v >> 18]; *o++ = A[(v >> 12) & 63];
        *o++ = i + 1 < n ? A[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    t->n = (size_t)(o - start);
    t->p[t->n] = 0;
}
/* a table row of the fields of one CSV line (modified in place) */
static void trow_csv(Text *t, char *line) {
    char *save = NULL;
    tprintf(t, "<tr>");
    for (char *f = strtok_r(line, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        tprintf(t, "<td>");
        tescape(t, f);
        tprintf(t, "</td>");
    }
    tprintf(t, "</tr>");
}

/* an <img> holding PNG bytes */
static void timg(Text *t, const unsigned char *png, size_t n, const char *alt, const char *attrs) {
    tprintf(t, "<img alt=\"");
    tescape(t, alt);
    tprintf(t, "\" %s src=\"data:image/png;base64,", attrs);
    tbase64(t, png, n);
    tprintf(t, "\">");
}

/* ---- the sample grids in a folder ---- */
static int cmp_long(const void *a, const void *b) {
    const long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}
/* Steps of DIR/samples_<step>.png, ascending; *n of them (the caller frees). */
static long *list_samples(const char *dir, int *n) {
    DIR *d = opendir(dir);
    long *steps = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long s;
        char tail[8];
        if (sscanf(e->d_name, "samples_%ld.png%7s", &s, tail) != 1) continue;
        if (cnt == cap) { cap = cap ? 2 * cap : 64; steps = xrealloc(steps, (size_t)cap * sizeof(long)); }
        steps[cnt++] = s;
    }
    if (d) closedir(d);
    if (cnt) qsort(steps, (size_t)cnt, sizeof(long), cmp_long);
    *n = cnt;
    return steps;
}
/* Picks at most max of n items, evenly spread, always the first and the last: pick[i] indexes. */
static int spread(int n, int max, int *pick) {
    if (n <= max) { for (int i = 0; i < n; i++) pick[i] = i; return n; }
    for (int i = 0; i < max; i++) pick[i] = (int)((long)i * (n - 1) / (max - 1));
    return max;
}

/* A plot of log column k (or, for the image rows, bucket means of at most 2000 points) as an <img>. */
static void tplot(Text *t, const Log *log, int k, const char *title) {
    const long n = log->n, buckets = n < 2000 ? n : 2000;
    double *x = xmalloc((size_t)(buckets ? buckets : 1) * sizeof(double)), *y = xmalloc((size_t)(buckets ? buckets : 1) * sizeof(double));
    int m = 0;
    for (long b = 0; b < buckets; b++) {
        const long i0 = b * n / buckets, i1 = (b + 1) * n / buckets;
        double sx = 0, sy = 0;
        int c = 0;
        for (long i = i0; i < i1; i++)
            if (isfinite(log->r[i].v[k])) { sx += (double)log->r[i].step; sy += log->r[i].v[k]; c++; }
        if (c) { x[m] = sx / c; y[m] = sy / c; m++; }
    }
    int len = 0;
    unsigned char *png = png_plot(title, "step", x, y, m, &len);
    if (png) timg(t, png, (size_t)len, title, "class=plot");
    free(png);
    free(x);
    free(y);
}

static const char *CSS =
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:12px;"
    "color:#222;background:#fafafa}h1{font-size:1.4em;margin:.3em 0}h2{font-size:1.15em;margin:1.2em 0 .4em;"
    "border-bottom:1px solid #ddd}img{max-width:100%;height:auto}.grid{display:grid;gap:10px;"
    "grid-template-columns:repeat(auto-fit,minmax(340px,1fr))}.grid img{width:100%;background:#fff;border:1px solid #eee}"
    ".frame{image-rendering:pixelated;width:100%;max-width:560px}.status{color:#555}table{border-collapse:collapse}"
    "td{padding:3px 10px 3px 0;vertical-align:top;border-bottom:1px solid #eee;word-break:break-all}"
    "td:first-child{font-weight:600;white-space:nowrap;word-break:normal}input[type=range]{width:100%;max-width:560px}"
    "footer{margin-top:2em;color:#777;font-size:.9em}.warn{background:#fff3cd;border:1px solid #e0c36c;padding:6px 10px}.one{max-width:545px}";

static const char *JS =
    "(function(){var f=document.querySelectorAll('#frames img'),s=document.getElementById('slider'),"
    "l=document.getElementById('steplabel');function show(i){for(var k=0;k<f.length;k++)"
    "f[k].style.display=k===i?'':'none';if(f[i])l.textContent='step '+f[i].getAttribute('data-step');}"
    "if(s&&f.length){s.addEventListener('input',function(){show(+s.value);});show(+s.value);}"
    "window.addEventListener('load',function(){var a=document.images,bad=0;for(var i=0;i<a.length;i++)"
    "if(!a[i].complete||!a[i].naturalWidth)bad++;document.getElementById('imgcheck').textContent=bad?"
    "bad+' of '+a.length+' images failed to load':'all '+a.length+' images loaded';});})();";

/* The signs of a failed run (train/health.h): where D won, and the spread of the fixed-z grids
 * (steps[pick[0..nf)]) against the real images'. *alarm is set when either shows at the run's end. */
static void thealth(Text *t, const char *dir, const Log *log, double real_label, SpreadCache *cache, const long *steps,
                    const int *pick, int nf, int *alarm) {
    Text body = {0};
    long first[4], last[4];
    const int nspans = health_d_wins_spans(log, real_label, first, last, 4);
    const long end = log->n ? log->r[log->n - 1].step : 0;
    double md = 0, mg = 0;
    const int winning = log->n && health_d_wins_at(log, log->n - 1, real_label, &md, &mg);
    tprintf(&body, "<p><b>The discriminator wins</b> (mean d_loss under %g", HEALTH_D_LOSS);
    if (real_label < 1.0)
        tprintf(&body, " above its least, %.3f, with real label %g", health_d_loss_floor(real_label), real_label);
    tprintf(&body, ", and mean D(G(z)) under %g, over %d iterations: G's gradient vanishes and the samples stop "
                   "improving): ", HEALTH_D_GZ, HEALTH_WINDOW);
    if (!nspans) {
        tprintf(&body, "not seen%s.</p>\n", log->n < HEALTH_WINDOW ? " (the run is shorter than one window)" : "");
    } else {
        tprintf(&body, "%s at step%s", winning ? "<b>yes</b>," : "seen", nspans == 1 && first[0] == last[0] ? "" : "s");
        for (int i = 0; i < nspans && i < 4; i++) {
            tprintf(&body, "%s %ld", i == 0 ? "" : i + 1 == nspans ? " and" : ",", first[i]);
            if (last[i] != first[i]) tprintf(&body, "-%ld", last[i]);
        }
        if (nspans > 4) tprintf(&body, " and %d more stretches", nspans - 4);
        if (winning)
            tprintf(&body, "; at step %ld the last %d iterations' mean d_loss is %.4f and D(G(z)) %.4f. Try %s.", end,
                    HEALTH_WINDOW, md, mg, health_d_wins_advice(real_label));
        else
            tprintf(&body, ", but not at the end of the log.");
        tprintf(&body, "</p>\n");
    }
    char path[4300];
    double real = cache ? cache->real : 0;
    if (!(real > 0)) {
        snprintf(path, sizeof path, "%s/real_samples.png", dir);
        real = health_grid_spread_file(path, RUN_GRID_COLS);
        if (cache && real > 0) cache->real = real;
    }
    double *x = xmalloc((size_t)(nf ? nf : 1) * sizeof(double)), *y = xmalloc((size_t)(nf ? nf : 1) * sizeof(double));
    int m = 0;
    for (int i = 0; i < nf && real > 0; i++) {
        double s;
        if (!cache || !spread_cache_find(cache, steps[pick[i]], &s)) {
            snprintf(path, sizeof path, "%s/samples_%08ld.png", dir, steps[pick[i]]);
            s = health_grid_spread_file(path, RUN_GRID_COLS);
            if (cache) spread_cache_add(cache, steps[pick[i]], s);
        }
        if (s < 0) continue;
        x[m] = (double)steps[pick[i]];
        y[m] = s / real;
        m++;
    }
    const int alike = m && x[m - 1] >= HEALTH_SPREAD_FROM && y[m - 1] < HEALTH_SPREAD;
    tprintf(&body, "<p><b>The samples look alike</b> (the spread of the fixed-z grid, its images' mean RMS "
                   "difference, under %g of the real images' from step %d on): ", HEALTH_SPREAD, HEALTH_SPREAD_FROM);
    if (!m) tprintf(&body, "no grid to measure yet.</p>\n");
    else if (alike)
        tprintf(&body, "<b>yes</b>: at step %ld the samples' spread is %.3f of the real images' (mode collapse). "
                       "Try " HEALTH_ALIKE_ADVICE ".</p>\n", (long)x[m - 1], y[m - 1]);
    else
        tprintf(&body, "no%s: at step %ld the samples' spread is %.2f of the real images'.</p>\n",
                x[m - 1] < HEALTH_SPREAD_FROM ? " (not judged yet)" : "", (long)x[m - 1], y[m - 1]);
    if (m >= 2) {
        int len = 0;
        unsigned char *png = png_plot("spread of the samples / spread of the real images", "step", x, y, m, &len);
        if (png) {
            tprintf(&body, "<div class=\"grid one\">");
            timg(&body, png, (size_t)len, "sample spread over training", "class=plot");
            tprintf(&body, "</div>\n");
        }
        free(png);
    }
    free(x);
    free(y);
    *alarm = winning || alike;
    tprintf(t, "<h2 id=\"health\">Training health</h2>\n%s", body.p ? (char *)body.p : "");
    bytebuf_free(&body);
}

int report_write(const char *dir, const ReportInfo *info, const Log *log, char *err, size_t errlen) {
    Text t = {0};
    const char *name = strrchr(dir, '/') && strrchr(dir, '/')[1] ? strrchr(dir, '/') + 1 : dir;
    tprintf(&t, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>dcgan run ");
    tescape(&t, name);
    tprintf(&t, "</title><style>%s</style></head><body>\n<h1>dcgan run ", CSS);
    tescape(&t, name);
    tprintf(&t, "</h1>\n<p class=\"status\">");
    tescape(&t, info->state ? info->state : "");
    if (log->n) {
        const LogRow *last = &log->r[log->n - 1];
        tprintf(&t, " &middot; step %ld", last->step);
        if (info->total_steps) tprintf(&t, " of %ld", info->total_steps);
        tprintf(&t, " &middot; epoch %ld &middot; %.0f s of training &middot; %.1f images/s", last->epoch + 1,
                last->v[LOG_ELAPSED], last->v[LOG_IPS]);
        tprintf(&t, " &middot; d_loss %.3f, g_loss %.3f, D(x) %.2f, D(G(z)) %.2f", last->v[LOG_D], last->v[LOG_G],
                last->v[LOG_DX], last->v[LOG_DGZ]);
    }
    tprintf(&t, "</p>\n");

    int ns = 0;
    long *steps = list_samples(dir, &ns);
    int pick[MAX_FRAMES_HTML];
    const int nf = spread(ns, MAX_FRAMES_HTML, pick);
    Text health = {0};
    int alarm = 0;
    thealth(&health, dir, log, info->real_label > 0 ? info->real_label : 1.0, info->spreads, steps, pick, nf, &alarm);
    if (alarm)
        tprintf(&t, "<p class=\"warn\">This run shows a sign of failure: see <a href=\"#health\">Training "
                    "health</a>.</p>\n");

    /* fixed-z grids over training, on a slider */
    tprintf(&t, "<h2>Samples from a fixed z over training</h2>\n");
    if (nf) {
        tprintf(&t, "<input type=\"range\" id=\"slider\" min=\"0\" max=\"%d\" value=\"%d\" aria-label=\"training step\"> "
                    "<span id=\"steplabel\"></span>\n<div id=\"frames\">", nf - 1, nf - 1);
        for (int i = 0; i < nf; i++) {
            char path[4300], alt[64], attrs[96];
            snprintf(path, sizeof path, "%s/samples_%08ld.png", dir, steps[pick[i]]);
            size_t len = 0;
            unsigned char *png = read_file(path, &len, 1u << 28);
            if (!png) continue;
            snprintf(alt, sizeof alt, "samples at step %ld", steps[pick[i]]);
            snprintf(attrs, sizeof attrs, "class=\"frame\" data-step=\"%ld\"", steps[pick[i]]);
            timg(&t, png, len, alt, attrs);
            free(png);
        }
        tprintf(&t, "</div>\n");
    } else {
        tprintf(&t, "<p>No sample grid yet.</p>\n");
    }
    free(steps);

    if (log->n >= 2) {
        tprintf(&t, "<h2>Losses</h2>\n<div class=\"grid\">");
        for (int k = LOG_D_REAL; k <= LOG_G; k++) tplot(&t, log, k, LOG_NAMES[k]);
        tprintf(&t, "</div>\n<h2>The discriminator's outputs and throughput</h2>\n<div class=\"grid\">");
        tplot(&t, log, LOG_DX, "D(x), mean on real images");
        tplot(&t, log, LOG_DGZ, "D(G(z)), mean on generated images");
        tplot(&t, log, LOG_IPS, "images/s");
        tprintf(&t, "</div>\n");
    }
    tprintf(&t, "%s", (char *)health.p);
    bytebuf_free(&health);

    char path[4300];
    /* metrics of dcgan train --eval-every: the FID-LeNet curve and the newest row of metrics.csv */
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    size_t mlen = 0;
    char *metrics = (char *)read_file(path, &mlen, 1u << 26);
    if (metrics && mlen) {
        char *last = NULL, *save = NULL, *header = strtok_r(metrics, "\n", &save);
        for (char *l = strtok_r(NULL, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) last = l;
        if (header && last) {
            tprintf(&t, "<h2>Sample quality (dcgan eval on LeNet features)</h2>\n<table>");
            trow_csv(&t, header);
            trow_csv(&t, last);
            tprintf(&t, "</table>\n");
            snprintf(path, sizeof path, "%s/fid_lenet.png", dir);
            size_t plen = 0;
            unsigned char *plot = read_file(path, &plen, 1u << 26);
            if (plot) {
                tprintf(&t, "<div class=\"grid\">");
                timg(&t, plot, plen, "FID-LeNet over training", "class=plot");
                tprintf(&t, "</div>\n");
                free(plot);
            }
        }
    }
    free(metrics);
    snprintf(path, sizeof path, "%s/real_samples.png", dir);
    size_t len = 0;
    unsigned char *real = read_file(path, &len, 1u << 28);
    if (real) {
        tprintf(&t, "<h2>Real images</h2>\n");
        timg(&t, real, len, "real training images", "class=\"frame\"");
        tprintf(&t, "\n");
        free(real);
    }

    tprintf(&t, "<h2>Configuration</h2>\n<table>");
    for (int i = 0; i < info->nkv; i++) {
        tprintf(&t, "<tr><td>");
        tescape(&t, info->key[i]);
        tprintf(&t, "</td><td>");
        tescape(&t, info->val[i]);
        tprintf(&t, "</td></tr>");
    }
    tprintf(&t, "</table>\n<footer><p id=\"imgcheck\"></p><p>Files in this folder: losses.csv, the loss plots, "
                "samples_*.png, training.gif (written at the end of a run), ckpt_*.dcgan. Written by dcgan.</p></footer>\n"
                "<script>%s</script>\n</body></html>\n", JS);
    snprintf(path, sizeof path, "%s/index.html", dir);
    int rc = write_file_atomic(path, t.p, t.n, err, errlen);
    bytebuf_free(&t);
    return rc;
}

int report_write_gif(const char *dir, char *err, size_t errlen) {
    int ns = 0;
    long *steps = list_samples(dir, &ns);
    int pick[MAX_FRAMES_GIF];
    const int nf = spread(ns, MAX_FRAMES_GIF, pick);
    unsigned char **frames = xcalloc((size_t)(nf ? nf : 1), sizeof *frames);
    int w = 0, h = 0, comp = 0, m = 0;
    for (int i = 0; i < nf; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/samples_%08ld.png", dir, steps[pick[i]]);
        int fw, fh, fc;
        if (!stbi_info(path, &fw, &fh, &fc)) continue;
        const int want = fc >= 3 ? 3 : 1;
        if (!m) { w = fw; h = fh; comp = want; }
        if (fw != w || fh != h || want != comp) continue; /* a grid of another run's size */
        unsigned char *p = stbi_load(path, &fw, &fh, &fc, comp);
        if (p) frames[m++] = p;
    }
    free(steps);
    int rc = 1;
    if (m) {
        char path[4300];
        snprintf(path, sizeof path, "%s/training.gif", dir);
        rc = gif_write(path, frames, m, w, h, comp, 25, 300, err, errlen);
    }
    for (int i = 0; i < m; i++) stbi_image_free(frames[i]);
    free(frames);
    return rc;
}
