/* cmd_explore.c: looking into a trained generator: `dcgan interp` (latent walks), `dcgan arith`
 * (vector arithmetic in z, as in the DCGAN paper) and `dcgan report` (rebuilds a run folder's
 * index.html and training.gif). Images are named by (seed, index) exactly as `dcgan sample --seed`
 * draws them, and batch norm uses the running statistics, so an image here equals the same one there. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../io/gif_io.h"
#include "../io/image_io.h"
#include "../io/npy.h"
#include "../io/report.h"
#include "../train/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Spherical interpolation between a and b (n values) at t in [0, 1]; linear when they are (nearly)
 * parallel. t = 0 and t = 1 give a and b exactly. */
static void slerp(float *out, const float *a, const float *b, int n, double t) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    const double c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1.0;
    const double omega = acos(c < -1 ? -1 : c > 1 ? 1 : c), so = sin(omega);
    for (int i = 0; i < n; i++) {
        if (so < 1e-6) out[i] = (float)((1 - t) * a[i] + t * b[i]);
        else out[i] = (float)(sin((1 - t) * omega) / so * a[i] + sin(t * omega) / so * b[i]);
    }
}

/* Grid pixels of n images as GIF-ready 8-bit frames, scaled up by an integer factor so small images
 * are not postage stamps. */
static unsigned char *scaled_grid(const float *img, int n, const ModelConfig *mc, int cols, int *w, int *h, int *comp) {
    int W, H;
    unsigned char *p = grid_to_u8(img, n, mc->channels, mc->size, cols, &W, &H, comp);
    const int k = mc->size >= 96 ? 1 : mc->size >= 48 ? 2 : 4;
    unsigned char *q = xmalloc((size_t)W * k * H * k * *comp);
    for (int y = 0; y < H * k; y++)
        for (int x = 0; x < W * k; x++)
            memcpy(q + ((size_t)y * W * k + x) * *comp, p + ((size_t)(y / k) * W + x / k) * *comp, (size_t)*comp);
    free(p);
    *w = W * k;
    *h = H * k;
    return q;
}

/* All rows of a .npy z file, [N, nz] (e.g. dcgan invert --out); *rows gets N. Dies with one line
 * naming cmd and opt when the file cannot be read or is not such an array. */
static float *z_file_load(const char *cmd, const char *opt, const char *path, int nz, int *rows) {
    char err[1024];
    float *z = NULL;
    int shape[4], ndim;
    if (npy_read_f32(path, &z, shape, &ndim, err, sizeof err) != 0) die("%s: %s: %s", cmd, opt, err);
    if (ndim != 2 || shape[1] != nz || shape[0] < 1)
        die("%s: %s %s must be float32 [N, %d] for this model (nz %d)", cmd, opt, path, nz, nz);
    *rows = shape[0];
    return z;
}

/* Rows [first, first + rows) of the z file path into z; dies with one line when it is too short. */
static void z_rows_from(float *z, const char *path, const char *opt, int first, int rows, int nz) {
    int have;
    float *all = z_file_load("interp", opt, path, nz, &have);
    if (have < first + rows)
        die("interp: %s %s has %d rows; %d walks need %d (lower --rows)", opt, path, have, rows, first + rows);
    memcpy(z, all + (size_t)first * nz, (size_t)rows * nz * sizeof(float));
    free(all);
}

int cmd_interp(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *gif = NULL, *raw = NULL, *device = "cpu", *cls = NULL;
    const char *zfrom = NULL, *zto = NULL;
    int steps = 8, rows = 1, use_slerp = 0, threads = 0;
    long seed_a = 1, seed_b = 2;
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "a checkpoint file, or a run folder (its newest checkpoint)", 0, -1},
        {"steps", OPT_INT, &steps, "images along each walk, both ends included", 2, 1000},
        {"seed", OPT_LONG, &seed_a, "start: the images of `dcgan sample --seed A`", 0, 9.2e18},
        {"to", OPT_LONG, &seed_b, "end: the images of `dcgan sample --seed B`", 0, 9.2e18},
        {"rows", OPT_INT, &rows, "walks, one per row: row i goes from image i of seed A to image i of seed B", 1, 256},
        {"from-z", OPT_STR, &zfrom, "start instead at the z in this .npy [N, nz] (e.g. dcgan invert --out): row i of "
                                    "the file starts walk i", 0, -1},
        {"to-z", OPT_STR, &zto, "end instead at the z in this .npy [N, nz]; the same file as --from-z walks from its "
                                "row i to its row i + rows", 0, -1},
        {"slerp", OPT_FLAG, &use_slerp, "spherical interpolation (default: linear)", 0, -1},
        {"class", OPT_STR, &cls, "conditional models: the class of every image (default: the first)", 0, -1},
        {"out", OPT_STR, &out, "the walk as a PNG: a strip, or a grid with one walk per row", 0, -1},
        {"gif", OPT_STR, &gif, "also an animated GIF going there and back", 0, -1},
        {"raw", OPT_STR, &raw, "also the images as .npy float32 [rows * steps, C, S, S] in [-1, 1]", 0, -1},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu or cuda", 0, -1},
    };
    opts_parse("interp", "Walks the latent space between two points and draws the images along the way.", spec,
               (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (!ckpt) die("interp: --checkpoint PATH is required (a checkpoint file or a run folder)");
    if (!out && !gif && !raw) die("interp: say where the walk goes: --out FILE.png, --gif FILE.gif or --raw FILE.npy");

    LoadedRun run;
    run_load(&run, ckpt, device, NULL, threads, 1);
    Backend *be = run.be;
    const Net *G = &run.g.G;
    char err[1024];
    const ModelConfig mc = run.meta.mc;
    const int nz = mc.nz, n = rows * steps;
    /* before the walks are drawn: the outputs writable, the images and the strip within their limits */
    cli_check_outputs("interp", (const char *const[]){out, gif, raw}, 3);
    const double floats = (double)n * mc.channels * mc.size * mc.size;
    if (floats > 4e9)
        die("interp: %d walks of %d steps are %.0f GB of pixels; use fewer --rows or --steps", rows, steps,
            floats * 4 / 1e9);
    if (out) {
        int gw, gh, gc;
        grid_shape(n, mc.channels, mc.size, steps, &gw, &gh, &gc);
        if (!png_fits(gw, gh, gc))
            die("interp: %d walks of %d steps make a strip of %d x %d pixels, more than the 1 GiB that dcgan writes in "
                "one PNG; use fewer --rows or --steps, or only --gif / --raw", rows, steps, gw, gh);
    }
    float *za = xmalloc((size_t)rows * nz * sizeof(float)), *zb = xmalloc((size_t)rows * nz * sizeof(float));
    sample_z(za, rows, nz, run.meta.tc.zdist, (uint64_t)seed_a);
    sample_z(zb, rows, nz, run.meta.tc.zdist, (uint64_t)seed_b);
    const int same = zfrom && zto && !strcmp(zfrom, zto);
    if (zfrom) z_rows_from(za, zfrom, "--from-z", 0, rows, nz);
    if (zto) z_rows_from(zb, zto, "--to-z", same ? rows : 0, rows, nz);
    float *z = xmalloc((size_t)n * nz * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < steps; s++) {
            const double t = (double)s / (steps - 1);
            float *dst = z + ((size_t)r * steps + s) * nz;
            const float *a = za + (size_t)r * nz, *b = zb + (size_t)r * nz;
            if (use_slerp) slerp(dst, a, b, nz, t);
            else for (int i = 0; i < nz; i++) dst[i] = (float)((1 - t) * a[i] + t * b[i]);
        }
    const size_t per = (size_t)mc.channels * mc.size * mc.size;
    float *img = xmalloc((size_t)n * per * sizeof(float));
    const int k_class = run_class(&run, "interp", cls);
    int32_t *labels = run_labels(&run, n, k_class < 0 ? 0 : k_class, 0);
    generate_images(be, &mc, G, z, labels, n, 0, img);
    free(labels);
    if (out && png_write_grid(out, img, n, mc.channels, mc.size, steps, err, sizeof err) != 0) die("%s", err);
    if (raw) {
        int shape[4] = {n, mc.channels, mc.size, mc.size};
        if (npy_write_f32(raw, img, shape, 4, err, sizeof err) != 0) die("%s", err);
    }
    if (gif) { /* frame s shows step s of every walk; there and back */
        const int nframes = 2 * steps - 2;
        unsigned char **frames = xcalloc((size_t)nframes, sizeof *frames);
        float *col = xmalloc((size_t)rows * per * sizeof(float));
        int w = 0, h = 0, comp = 0;
        for (int f = 0; f < nframes; f++) {
            const int s = f < steps ? f : 2 * steps - 2 - f;
            for (int r = 0; r < rows; r++) memcpy(col + r * per, img + ((size_t)r * steps + s) * per, per * sizeof(float));
            frames[f] = scaled_grid(col, rows, &mc, rows < 8 ? rows : 8, &w, &h, &comp);
        }
        const int rc = gif_write(gif, frames, nframes, w, h, comp, 12, 12, err, sizeof err);
        for (int f = 0; f < nframes; f++) free(frames[f]);
        free(frames);
        free(col);
        if (rc != 0) die("%s", err);
    }
    char from[64], to[64];
    snprintf(from, sizeof from, zfrom ? "--from-z" : "seed %ld", seed_a);
    snprintf(to, sizeof to, zto ? "--to-z" : "seed %ld", seed_b);
    printf("interp: %d walk%s of %d images (%s) from %s to %s, %s (step %ld)\n", rows, rows > 1 ? "s" : "", steps,
           use_slerp ? "slerp" : "linear", from, to, run.path, run.meta.step);
    free(img); free(z); free(za); free(zb);
    run_close(&run);
    return 0;
}

/* Parses "3,17,22" into idx (at most max), each in [0, limit). Returns the count; dies on a mistake. */
static int parse_indices(const char *opt, const char *s, int *idx, int max, int limit) {
    if (!s) die("arith: --%s is required: indices into the sample grid, like 3,17,22", opt);
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        const long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) die("arith: --%s '%s' is not a list of indices like 3,17,22", opt, s);
        if (v < 0 || v >= limit) die("arith: --%s index %ld is outside the grid of %d images (0 to %d)", opt, v, limit, limit - 1);
        if (n == max) die("arith: --%s has more than %d indices", opt, max);
        idx[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (!n) die("arith: --%s is empty; give indices like 3,17,22", opt);
    return n;
}

int cmd_arith(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *sa = NULL, *sb = NULL, *sc = NULL, *device = "cpu", *cls = NULL;
    const char *zfile = NULL;
    int grid_n = 64, variants = 7, threads = 0;
    long seed = 1, noise_seed = 0;
    float noise = 0.25f;
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "a checkpoint file, or a run folder (its newest checkpoint)", 0, -1},
        {"seed", OPT_LONG, &seed, "the images are those of `dcgan sample --seed S -n N`", 0, 9.2e18},
        {"n", OPT_INT, &grid_n, "N, the size of that sample grid (indices run from 0 to N-1)", 1, 100000},
        {"a", OPT_STR, &sa, "indices of the images whose mean z is A (like 3,17,22)", 0, -1},
        {"b", OPT_STR, &sb, "indices for B", 0, -1},
        {"c", OPT_STR, &sc, "indices for C", 0, -1},
        {"z", OPT_STR, &zfile, "take the z from this .npy [N, nz] instead (e.g. dcgan invert --out, for real "
                               "images): the indices are its rows", 0, -1},
        {"variants", OPT_INT, &variants, "extra results from A - B + C plus noise, as in the paper", 0, 63},
        {"noise", OPT_FLOAT, &noise, "standard deviation of that noise", 0, 10},
        {"class", OPT_STR, &cls, "conditional models: the class of every image (default: the first)", 0, -1},
        {"noise-seed", OPT_LONG, &noise_seed, "seed for the noise (default: --seed)", 0, 9.2e18},
        {"out", OPT_STR, &out, "the result grid PNG: rows A, B, C (inputs, then their mean), then A - B + C", 0, -1},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu or cuda", 0, -1},
    };
    opts_parse("arith", "Vector arithmetic in z: mean(A) - mean(B) + mean(C), from images of a sample grid.", spec,
               (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (!ckpt) die("arith: --checkpoint PATH is required (a checkpoint file or a run folder)");
    if (!out) die("arith: --out FILE.png is required");
    LoadedRun run;
    run_load(&run, ckpt, device, NULL, threads, 1);
    Backend *be = run.be;
    const Net *G = &run.g.G;
    char err[1024];
    const ModelConfig mc = run.meta.mc;
    const int nz = mc.nz;
    float *zs;
    if (zfile) {
        zs = z_file_load("arith", "-z", zfile, nz, &grid_n);
    } else {
        zs = xmalloc((size_t)grid_n * nz * sizeof(float));
        sample_z(zs, grid_n, nz, run.meta.tc.zdist, (uint64_t)seed);
    }
    enum { MAXI = 32 };
    int ia[MAXI], ib[MAXI], ic[MAXI];
    const int na = parse_indices("a", sa, ia, MAXI, grid_n), nb = parse_indices("b", sb, ib, MAXI, grid_n),
              nc = parse_indices("c", sc, ic, MAXI, grid_n);

    /* the grid: 3 rows of (inputs..., mean), then (result, variants...) */
    int cols = na > nb ? na : nb;
    if (nc > cols) cols = nc;
    cols += 1;
    if (variants + 1 > cols) cols = variants + 1;
    const int cells = 4 * cols;
    float *z = xcalloc((size_t)cells * nz, sizeof(float));
    int *used = xcalloc((size_t)cells, sizeof(int));
    const int *sets[3] = {ia, ib, ic};
    const int counts[3] = {na, nb, nc};
    double *mean = xcalloc((size_t)3 * nz, sizeof(double));
    for (int r = 0; r < 3; r++) {
        for (int j = 0; j < counts[r]; j++) {
            memcpy(z + ((size_t)r * cols + j) * nz, zs + (size_t)sets[r][j] * nz, (size_t)nz * sizeof(float));
            used[r * cols + j] = 1;
            for (int i = 0; i < nz; i++) mean[r * nz + i] += zs[(size_t)sets[r][j] * nz + i];
        }
        float *m = z + ((size_t)r * cols + cols - 1) * nz;
        for (int i = 0; i < nz; i++) m[i] = (float)(mean[r * nz + i] / counts[r]);
        used[r * cols + cols - 1] = 1;
    }
    float *res = z + (size_t)3 * cols * nz;
    for (int i = 0; i < nz; i++)
        res[i] = (float)(mean[i] / na - mean[nz + i] / nb + mean[2 * nz + i] / nc);
    used[3 * cols] = 1;
    Rng rng;
    rng_seed(&rng, (uint64_t)(noise_seed ? noise_seed : seed), 11);
    for (int v = 1; v <= variants; v++) {
        float *dst = res + (size_t)v * nz;
        rng_fill_normal(&rng, dst, (size_t)nz, 0.0f, noise);
        for (int i = 0; i < nz; i++) dst[i] += res[i];
        used[3 * cols + v] = 1;
    }
    const size_t per = (size_t)mc.channels * mc.size * mc.size;
    float *img = xmalloc((size_t)cells * per * sizeof(float));
    const int k_class = run_class(&run, "arith", cls);
    int32_t *labels = run_labels(&run, cells, k_class < 0 ? 0 : k_class, 0);
    generate_images(be, &mc, G, z, labels, cells, 0, img);
    free(labels);
    for (int k = 0; k < cells; k++) /* empty cells: the border colour */
        if (!used[k]) for (size_t i = 0; i < per; i++) img[k * per + i] = -0.686f;
    if (png_write_grid(out, img, cells, mc.channels, mc.size, cols, err, sizeof err) != 0) die("%s", err);
    char from[4300];
    if (zfile) snprintf(from, sizeof from, "the z of %s", zfile);
    else snprintf(from, sizeof from, "seed %ld", seed);
    printf("arith: mean(A: %d images) - mean(B: %d) + mean(C: %d) from %s, with %d variant%s -> %s "
           "(rows A, B, C with their means at the right end, then the result)\n",
           na, nb, nc, from, variants, variants == 1 ? "" : "s", out);
    free(img); free(z); free(zs); free(used); free(mean);
    run_close(&run);
    return 0;
}

int cmd_report(int argc, char **argv) {
    const char *run = NULL;
    const OptSpec spec[] = {
        {"run", OPT_STR, &run, "the run folder", 0, -1},
    };
    opts_parse("report", "Rebuilds a run folder's index.html and training.gif from its files.", spec, 1, argc, argv, 2);
    if (!run) die("report: --run DIR is required (a run folder of dcgan train)");
    char path[4200], err[1024];
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    ReportInfo info;
    memset(&info, 0, sizeof info);
    if (checkpoint_resolve(run, path, sizeof path, err, sizeof err) == 0 &&
        checkpoint_read_meta(path, &meta, err, sizeof err) == 0)
        report_info_from_meta(&info, &meta, NULL, 0);
    else
        report_add(&info, "checkpoint", "none readable in this folder");
    Log log = {0};
    snprintf(path, sizeof path, "%s/losses.csv", run);
    log_read_csv(&log, path, (long)9e18);
    if (!log.n) die("report: %s has no losses.csv rows; is it a dcgan run folder?", run);
    info.state = "rebuilt by dcgan report";
    if (report_write(run, &info, &log, err, sizeof err) != 0) die("%s", err);
    const int g = report_write_gif(run, err, sizeof err);
    if (g < 0) die("%s", err);
    printf("report: wrote %s/index.html%s\n", run, g == 0 ? " and training.gif" : "");
    log_free(&log);
    return 0;
}
