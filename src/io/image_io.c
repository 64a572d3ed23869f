/* image_io.c: PNG grids and plots (our encoder over zlib; text by stb_easy_font), see image_io.h. */
#include "image_io.h"
#include "fileio.h"
#include "../core/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_easy_font.h>
#include <zlib.h>

/* ---- PNG encoding (the PNG specification, 2nd edition: one IDAT of deflated, filtered rows) ---- */
static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}
/* Writes chunk `type` with n bytes of data (already at at + 8) around them: length, type, CRC. */
static size_t png_chunk(unsigned char *at, const char *type, size_t n) {
    put_be32(at, (uint32_t)n);
    memcpy(at + 4, type, 4);
    put_be32(at + 8 + n, (uint32_t)crc32(crc32(0L, Z_NULL, 0), at + 4, (uInt)(n + 4)));
    return n + 12;
}
static int paeth(int a, int b, int c) {
    const int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

int png_fits(int w, int h, int comp) {
    return w >= 1 && h >= 1 && comp >= 1 && comp <= 4 && (size_t)w * comp <= PNG_MAX_BYTES / (size_t)h;
}

unsigned char *png_encode(const unsigned char *pix, int w, int h, int comp, int *len) {
    static const unsigned char color_type[5] = {0, 0, 4, 2, 6};
    if (!png_fits(w, h, comp)) return NULL;
    const size_t stride = (size_t)w * comp, raw_n = (stride + 1) * h;
    /* each row: the filter byte, then the row filtered by the candidate with the least sum of |byte| */
    unsigned char *raw = xmalloc(raw_n), *cand = xmalloc(5 * stride);
    for (int y = 0; y < h; y++) {
        const unsigned char *row = pix + (size_t)y * stride, *up = y ? row - stride : NULL;
        int best = 0;
        unsigned long best_sum = ~0ul;
        for (int f = 0; f < 5; f++) {
            unsigned char *o = cand + (size_t)f * stride;
            unsigned long sum = 0;
            for (size_t i = 0; i < stride; i++) {
                const int a = i >= (size_t)comp ? row[i - comp] : 0, b = up ? up[i] : 0,
                          c = up && i >= (size_t)comp ? up[i - comp] : 0;
                const int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : paeth(a, b, c);
                o[i] = (unsigned char)(row[i] - pred);
                sum += (unsigned long)abs((signed char)o[i]);
            }
            if (sum < best_sum) { best_sum = sum; best = f; }
        }
        raw[(size_t)y * (stride + 1)] = (unsigned char)best;
        memcpy(raw + (size_t)y * (stride + 1) + 1, cand + (size_t)best * stride, stride);
    }
    free(cand);
    const uLong bound = compressBound((uLong)raw_n);
    unsigned char *png = xmalloc(8 + 25 + 12 + bound + 12), *at = png;
    memcpy(at, "\x89PNG\r\n\x1a\n", 8);
    at += 8;
    put_be32(at + 8, (uint32_t)w);
    put_be32(at + 12, (uint32_t)h);
    at[16] = 8; at[17] = color_type[comp]; at[18] = 0; at[19] = 0; at[20] = 0;
    at += png_chunk(at, "IHDR", 13);
    uLongf zn = bound;
    if (compress2(at + 8, &zn, raw, (uLong)raw_n, 6) != Z_OK) { free(raw); free(png); return NULL; }
    free(raw);
    at += png_chunk(at, "IDAT", zn);
    at += png_chunk(at, "IEND", 0);
    *len = (int)(at - png);
    return png;
}

int png_write_u8(const char *path, const unsigned char *pix, int w, int h, int comp, unsigned char **png_out,
                 int *len_out, char *err, size_t errlen) {
    int len = 0;
    if (!png_fits(w, h, comp)) {
        snprintf(err, errlen, "cannot write %s: %d x %d pixels are more than the 1 GiB that dcgan writes in one PNG", path,
                 w, h);
        return -1;
    }
    unsigned char *png = png_encode(pix, w, h, comp, &len);
    if (!png) { snprintf(err, errlen, "cannot encode %s (out of memory?)", path); return -1; }
    int rc = write_file_atomic(path, png, (size_t)len, err, errlen);
    if (rc == 0 && png_out) {
        *png_out = png;
        *len_out = len;
    } else free(png);
    return rc;
}

static unsigned char to_u8(float v) {
    float x = (v + 1.0f) * 127.5f;
    if (!(x >= 0.0f)) x = 0.0f; /* also NaN */
    if (x > 255.0f) x = 255.0f;
    return (unsigned char)(x + 0.5f);
}

enum { GRID_PAD = 2 };

void grid_shape(int n, int C, int S, int ncols, int *w, int *h, int *comp) {
    if (ncols < 1) ncols = 1;
    const int nrows = (n + ncols - 1) / ncols;
    *w = ncols * (S + GRID_PAD) + GRID_PAD;
    *h = nrows * (S + GRID_PAD) + GRID_PAD;
    *comp = C == 1 ? 1 : 3;
}

unsigned char *grid_to_u8(const float *images, int n, int C, int S, int ncols, int *w, int *h, int *comp_out) {
    if (ncols < 1) ncols = 1;
    const int pad = GRID_PAD;
    int W, H, comp;
    grid_shape(n, C, S, ncols, &W, &H, &comp);
    *w = W; *h = H; *comp_out = comp;
    unsigned char *pix = xmalloc((size_t)W * H * comp);
    memset(pix, 40, (size_t)W * H * comp);
    for (int i = 0; i < n; i++) {
        const int r = i / ncols, c = i % ncols, y0 = pad + r * (S + pad), x0 = pad + c * (S + pad);
        const float *img = images + (size_t)i * C * S * S;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int k = 0; k < comp; k++)
                    pix[((size_t)(y0 + y) * W + x0 + x) * comp + k] = to_u8(img[((size_t)(C == 1 ? 0 : k) * S + y) * S + x]);
    }
    return pix;
}

int png_write_grid(const char *path, const float *images, int n, int C, int S, int ncols, char *err, size_t errlen) {
    int W, H, comp;
    unsigned char *pix = grid_to_u8(images, n, C, S, ncols, &W, &H, &comp);
    int rc = png_write_u8(path, pix, W, H, comp, NULL, NULL, err, errlen);
    free(pix);
    return rc;
}

int png_write_image(const char *path, const float *image, int C, int S, char *err, size_t errlen) {
    const int comp = C == 1 ? 1 : 3;
    unsigned char *pix = xmalloc((size_t)S * S * comp);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int k = 0; k < comp; k++) pix[((size_t)y * S + x) * comp + k] = to_u8(image[((size_t)k * S + y) * S + x]);
    int rc = png_write_u8(path, pix, S, S, comp, NULL, NULL, err, errlen);
    free(pix);
    return rc;
}

/* ---- plotting on an RGB canvas ---- */
typedef struct { unsigned char *p; int w, h; } Canvas;

static void dot(Canvas *c, int x, int y, const unsigned char rgb[3]) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    memcpy(c->p + ((size_t)y * c->w + x) * 3, rgb, 3);
}
static void line(Canvas *c, int x0, int y0, int x1, int y1, const unsigned char rgb[3]) {
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) {
        dot(c, x0, y0, rgb);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) { e += dy; x0 += sx; }
        if (e2 <= dx) { e += dx; y0 += sy; }
    }
}
static void text(Canvas *c, int x, int y, const char *s, int scale) {
    char vbuf[60000];
    char copy[256];
    snprintf(copy, sizeof copy, "%s", s);
    unsigned char col[4] = {0, 0, 0, 255};
    int quads = stb_easy_font_print(0, 0, copy, col, vbuf, sizeof vbuf);
    const unsigned char black[3] = {30, 30, 30};
    for (int q = 0; q < quads; q++) {
        const float *v0 = (const float *)(vbuf + q * 64), *v2 = (const float *)(vbuf + q * 64 + 32);
        for (int yy = (int)(v0[1] * scale); yy < (int)(v2[1] * scale); yy++)
            for (int xx = (int)(v0[0] * scale); xx < (int)(v2[0] * scale); xx++) dot(c, x + xx, y + yy, black);
    }
}
static int text_width(const char *s, int scale) {
    char copy[256];
    snprintf(copy, sizeof copy, "%s", s);
    return stb_easy_font_width(copy) * scale;
}

static double nice_step(double range, int ticks) {
    double raw = range / ticks, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

unsigned char *png_plot(const char *title, const char *xlabel, const double *x, const double *y, int n, int *len) {
    Canvas c = {NULL, 720, 420};
    c.p = xmalloc((size_t)c.w * c.h * 3);
    memset(c.p, 255, (size_t)c.w * c.h * 3);
    const int L = 70, R = 20, T = 40, B = 50, pw = c.w - L - R, ph = c.h - T - B;
    double xmin = n ? x[0] : 0, xmax = n ? x[n - 1] : 1, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) { if (y[i] < ymin) ymin = y[i]; if (y[i] > ymax) ymax = y[i]; }
    if (!isfinite(ymin)) { ymin = 0; ymax = 1; }
    if (ymax - ymin < 1e-9) { ymin -= 0.5; ymax += 0.5; }
    if (xmax <= xmin) xmax = xmin + 1;
    const double ys = nice_step(ymax - ymin, 5), xs = nice_step(xmax - xmin, 6);
    ymin = floor(ymin / ys) * ys; ymax = ceil(ymax / ys) * ys;
    const unsigned char grid[3] = {225, 225, 225}, axis[3] = {60, 60, 60}, raw[3] = {170, 190, 235}, smooth[3] = {20, 70, 200};
    char buf[64];
    for (double v = ymin; v <= ymax + ys * 0.5; v += ys) {
        int py = T + ph - (int)((v - ymin) / (ymax - ymin) * ph);
        line(&c, L, py, L + pw, py, grid);
        snprintf(buf, sizeof buf, "%g", fabs(v) < ys * 1e-6 ? 0.0 : v);
        text(&c, L - 8 - text_width(buf, 2), py - 6, buf, 2);
    }
    for (double v = ceil(xmin / xs) * xs; v <= xmax; v += xs) {
        int px = L + (int)((v - xmin) / (xmax - xmin) * pw);
        line(&c, px, T, px, T + ph, grid);
        snprintf(buf, sizeof buf, "%g", v);
        text(&c, px - text_width(buf, 2) / 2, T + ph + 8, buf, 2);
    }
    line(&c, L, T, L, T + ph, axis);
    line(&c, L, T + ph, L + pw, T + ph, axis);
    text(&c, L, 10, title, 2);
    text(&c, L + pw / 2 - text_width(xlabel, 2) / 2, c.h - 22, xlabel, 2);
    /* raw values, then a centred moving average on top (no lag, unlike an exponential one) */
    int px0 = 0, py0 = 0, have = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        int px = L + (int)((x[i] - xmin) / (xmax - xmin) * pw);
        int py = T + ph - (int)((y[i] - ymin) / (ymax - ymin) * ph);
        if (have) line(&c, px0, py0, px, py, raw);
        px0 = px; py0 = py; have = 1;
    }
    const int half = n >= 200 ? n / 100 : n >= 20 ? 2 : 0;
    double *sum = xcalloc((size_t)n + 1, sizeof(double));
    int *cnt = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        const int f = isfinite(y[i]);
        sum[i + 1] = sum[i] + (f ? y[i] : 0);
        cnt[i + 1] = cnt[i] + f;
    }
    have = 0;
    for (int i = 0; i < n; i++) {
        const int lo = i - half < 0 ? 0 : i - half, hi = i + half + 1 > n ? n : i + half + 1;
        if (!isfinite(y[i]) || cnt[hi] == cnt[lo]) continue;
        const double m = (sum[hi] - sum[lo]) / (cnt[hi] - cnt[lo]);
        int px = L + (int)((x[i] - xmin) / (xmax - xmin) * pw);
        int py = T + ph - (int)((m - ymin) / (ymax - ymin) * ph);
        if (have) { line(&c, px0, py0, px, py, smooth); line(&c, px0, py0 + 1, px, py + 1, smooth); }
        px0 = px; py0 = py; have = 1;
    }
    free(sum);
    free(cnt);
    unsigned char *png = png_encode(c.p, c.w, c.h, 3, len);
    free(c.p);
    return png;
}

int png_write_plot(const char *path, const char *title, const char *xlabel, const double *x, const double *y, int n,
                   char *err, size_t errlen) {
    int len = 0;
    unsigned char *png = png_plot(title, xlabel, x, y, n, &len);
    if (!png) { snprintf(err, errlen, "cannot encode %s (out of memory?)", path); return -1; }
    int rc = write_file_atomic(path, png, (size_t)len, err, errlen);
    free(png);
    return rc;
}

