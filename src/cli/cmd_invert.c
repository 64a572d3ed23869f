/* cmd_invert.c: `dcgan invert` finds, for each given image, a z from which the trained generator
 * draws it as closely as it can: the projection of real images into the latent space (asked of
 * carpedm20/DCGAN-tensorflow in its issue #274). The z are written as .npy for `dcgan sample -z`,
 * `interp`-style walks between real images, or z arithmetic.
 *
 * Method: Adam on z over the mean squared pixel error of G(z) (batch norm on the running
 * statistics, as `dcgan sample` draws) plus prior * mean(z^2), which keeps z where the generator was
 * trained. Several starts per image run as one batch; each image keeps its best. For a conditional
 * model, without --class every class is tried, and the best says which class the image looks like. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../data/classes.h"
#include "../data/dataset.h"
#include "../io/fileio.h"
#include "../io/image_io.h"
#include "../io/npy.h"
#include "../train/sampler.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INVERT_MAX_ROWS 1024 /* images x starts x classes fitted at once */

/* The first n images of path (an image file, a folder of images, or IDX data) as (n, C, S, S) in
 * [-1, 1], preprocessed as dcgan train does. Returns how many there were (at most n). */
static int load_targets(const char *path, int n, int C, int S, float **out) {
    char err[1024];
    struct stat st;
    if (stat(path, &st) != 0) die("invert: cannot read --images %s: %s", path, strerror(errno));
    DatasetOptions o = {S, C, 1, {255, 255, 255}, "", 0};
    const size_t per = (size_t)C * S * S;
    Dataset ds;
    if (dataset_load(&ds, path, &o, err, sizeof err) != 0) {
        if (!S_ISREG(st.st_mode)) die("invert: %s", err);
        /* a file that is not IDX data: one image (the IDX reader stopped at its first bytes) */
        size_t len = 0;
        uint8_t *buf = read_file(path, &len, 1ull << 30);
        if (!buf) die("invert: cannot read --images %s: %s", path, strerror(errno));
        uint8_t *px = xmalloc(per);
        char why[256];
        if (image_decode_sample(buf, len, &o, px, why, sizeof why) != 0)
            die("invert: --images %s is not an image dcgan can read (%s) nor IDX data; give a PNG, JPEG, BMP, GIF, TGA "
                "or PNM file, a folder of them, or IDX data", path, why);
        free(buf);
        ds = (Dataset){.n = 1, .channels = C, .size = S, .pixels = px};
    }
    const int m = ds.n < n ? ds.n : n;
    if (m < 1) die("invert: --images %s holds no image dcgan can read", path);
    uint32_t *idx = xmalloc((size_t)m * sizeof(uint32_t));
    for (int i = 0; i < m; i++) idx[i] = (uint32_t)i;
    *out = xmalloc((size_t)m * per * sizeof(float));
    dataset_to_float(&ds, idx, m, *out);
    free(idx);
    dataset_free(&ds);
    return m;
}

static double psnr_of(double mse) { /* mse of [-1, 1] values; PSNR on the [0, 1] scale */
    return mse > 0 ? 10.0 * log10(4.0 / mse) : 99.0;
}

int cmd_invert(int argc, char **argv) {
    const char *ckpt = NULL, *images = NULL, *zout = NULL, *grid = NULL, *raw = NULL, *device = "cpu", *cls = NULL,
               *precision = NULL;
    const char *weights = "ema";
    int n = 8, steps = 500, starts = 4, threads = 0, quiet = 0;
    long seed = 1;
    float lr = 0.05f, prior = 0.001f;
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "a checkpoint file, or a run folder (its newest checkpoint)", 0, -1},
        {"images", OPT_STR, &images, "the images to find z for: an image file, a folder of images, or IDX data", 0, -1},
        {"n", OPT_INT, &n, "at most this many of them (the first, in sorted order)", 1, 256},
        {"steps", OPT_INT, &steps, "Adam steps on z", 1, 100000},
        {"starts", OPT_INT, &starts, "random starting z per image, fitted together; each image keeps its best", 1, 64},
        {"lr", OPT_FLOAT, &lr, "Adam's learning rate for z", 1e-6, 10},
        {"prior", OPT_FLOAT, &prior, "weight of mean(z^2) in the loss: keeps z typical of training (0: off)", 0, 100},
        {"seed", OPT_LONG, &seed, "seed of the starting z", 0, 9.2e18},
        {"class", OPT_STR, &cls, "conditional models: fit with this class (default: try every class, keep the best)", 0, -1},
        {"out", OPT_STR, &zout, "the z found, as .npy float32 [n, nz] (dcgan sample -z draws them again)", 0, -1},
        {"grid", OPT_STR, &grid, "a PNG grid: rows of the given images, each followed by a row of their reconstructions", 0, -1},
        {"raw", OPT_STR, &raw, "the reconstructions as .npy float32 [n, C, S, S] in [-1, 1]", 0, -1},
        {"weights", OPT_STR, &weights, "ema: G's moving average where the run kept one, else G; live: G", 0, -1},
        {"quiet", OPT_FLAG, &quiet, "only the summary line", 0, -1},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu or cuda", 0, -1},
        {"precision", OPT_STR, &precision, PRECISION_HELP, 0, -1},
    };
    opts_parse("invert", "Finds the z from which the generator draws each given image (projection into the latent space).",
               spec, (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (!ckpt) die("invert: --checkpoint PATH is required (a checkpoint file or a run folder)");
    if (!images) die("invert: --images PATH is required (an image file, a folder of images, or IDX data)");
    if (!zout && !grid && !raw) die("invert: say where the result goes: --out Z.npy, --grid FILE.png or --raw FILE.npy");
    cli_check_outputs("invert", (const char *const[]){zout, raw, grid}, 3); /* before the search */
    const int use_ema = run_weights_option("invert", weights);

    LoadedRun run;
    run_load(&run, ckpt, device, precision, threads, use_ema);
    Backend *be = run.be;
    const ModelConfig mc = run.meta.mc;
    const int nz = mc.nz, C = mc.channels, S = mc.size, K = mc.nclasses;
    const size_t per = (size_t)C * S * S;
    float *target = NULL;
    n = load_targets(images, n, C, S, &target);
    const int k_class = run_class(&run, "invert", cls);
    const int ncls = K && k_class < 0 ? K : 1; /* classes tried per image */
    const int per_img = starts * ncls, M = n * per_img;
    if (M > INVERT_MAX_ROWS)
        die("invert: %d images x %d starts%s = %d fits at once is more than %d; lower -n or --starts", n, starts,
            ncls > 1 ? " x every class" : "", M, INVERT_MAX_ROWS);

    /* row r fits image r / per_img, class (r % per_img) / starts, from start r % starts */
    Sampler s;
    sampler_init(&s, be, &mc, M);
    sampler_copy_from(&s, &run.g.G);
    int32_t *lab = NULL;
    if (K) {
        lab = xmalloc((size_t)M * sizeof(int32_t));
        for (int r = 0; r < M; r++) lab[r] = k_class >= 0 ? k_class : (r % per_img) / starts;
        labels_upload(be, s.labels, lab, M, M, K);
    }
    float *z = xmalloc((size_t)M * nz * sizeof(float)), *m1 = xcalloc((size_t)M * nz, sizeof(float)),
          *m2 = xcalloc((size_t)M * nz, sizeof(float)), *dz = xmalloc((size_t)M * nz * sizeof(float));
    sample_z(z, M, nz, run.meta.tc.zdist, (uint64_t)seed);
    const int uniform = run.meta.tc.zdist == Z_UNIFORM;
    float *outc = xmalloc((size_t)M * per * sizeof(float)); /* G's output, (C, M, S, S) */
    double *mse = xmalloc((size_t)M * sizeof(double)), first_mse = 0;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int it = 0; it <= steps; it++) {
        be->upload(be, s.z, z, (size_t)M * nz);
        net_forward(&s.G, be, &s.ws, s.z, 0);
        be->download(be, outc, s.G.y[s.G.nlayers - 1], (size_t)M * per);
        /* d loss / d out = 2 (out - target) / (C S S) per row; the mean error of each row */
        for (int r = 0; r < M; r++) mse[r] = 0;
        for (int c = 0; c < C; c++)
            for (int r = 0; r < M; r++) {
                float *o = outc + ((size_t)c * M + r) * S * S;
                const float *t = target + ((size_t)(r / per_img) * C + c) * S * S;
                double e = 0;
                for (int p = 0; p < S * S; p++) {
                    const float d = o[p] - t[p];
                    e += (double)d * d;
                    o[p] = d * (float)(2.0 / per);
                }
                mse[r] += e / per;
            }
        if (it == 0) {
            for (int r = 0; r < M; r++) first_mse += mse[r] / M;
        }
        if (it == steps) break;
        be->upload(be, s.ws.act, outc, (size_t)M * per);
        const float *g = net_backward(&s.G, be, &s.ws, s.z, s.ws.act, 0, 1); /* (nz [+K], M): z's part first */
        be->download(be, dz, g, (size_t)M * nz);
        /* Adam (PyTorch's update) on z, row-major [M][nz]; d z is (nz, M) */
        const double bc1 = 1.0 - pow(b1, it + 1), bc2 = 1.0 - pow(b2, it + 1);
        for (int r = 0; r < M; r++)
            for (int i = 0; i < nz; i++) {
                const size_t k = (size_t)r * nz + i;
                const double gr = dz[(size_t)i * M + r] + 2.0 * prior * z[k] / nz;
                m1[k] = (float)(b1 * m1[k] + (1 - b1) * gr);
                m2[k] = (float)(b2 * m2[k] + (1 - b2) * gr * gr);
                double v = z[k] - lr / bc1 * m1[k] / (sqrt(m2[k] / bc2) + eps);
                if (uniform) v = v < -1 ? -1 : v > 1 ? 1 : v;
                z[k] = (float)v;
            }
    }

    /* each image's best row; its z and class */
    float *best_z = xmalloc((size_t)n * nz * sizeof(float));
    int32_t *best_lab = K ? xmalloc((size_t)n * sizeof(int32_t)) : NULL;
    double mean_mse = 0, mean_psnr = 0;
    for (int i = 0; i < n; i++) {
        int b = i * per_img;
        for (int r = i * per_img; r < (i + 1) * per_img; r++)
            if (mse[r] < mse[b]) b = r;
        memcpy(best_z + (size_t)i * nz, z + (size_t)b * nz, (size_t)nz * sizeof(float));
        if (K) best_lab[i] = lab[b];
        mean_mse += mse[b] / n;
        mean_psnr += psnr_of(mse[b]) / n;
        if (!quiet) {
            printf("image %d: mse %.5f psnr %.2f dB", i, mse[b], psnr_of(mse[b]));
            if (K) {
                char name[128];
                classes_name(run.meta.classes, best_lab[i], name, sizeof name);
                printf(" class %d (%s)", best_lab[i], name);
            }
            printf("\n");
        }
    }
    /* the reconstructions exactly as `dcgan sample -z` draws them */
    float *rec = xmalloc((size_t)n * per * sizeof(float));
    generate_images(be, &mc, &run.g.G, best_z, best_lab, n, 0, rec);
    char err[1024];
    if (zout) {
        int shape[2] = {n, nz};
        if (npy_write_f32(zout, best_z, shape, 2, err, sizeof err) != 0) die("%s", err);
    }
    if (raw) {
        int shape[4] = {n, C, S, S};
        if (npy_write_f32(raw, rec, shape, 4, err, sizeof err) != 0) die("%s", err);
    }
    if (grid) { /* rows of up to 8 given images, each followed by their reconstructions */
        const int cols = n < 8 ? n : 8, rows = (n + cols - 1) / cols;
        float *g = xmalloc((size_t)2 * rows * cols * per * sizeof(float));
        for (size_t k = 0; k < (size_t)2 * rows * cols * per; k++) g[k] = -1.0f; /* empty cells black */
        for (int i = 0; i < n; i++) {
            const int row = i / cols, col = i % cols;
            memcpy(g + ((size_t)(2 * row) * cols + col) * per, target + (size_t)i * per, per * sizeof(float));
            memcpy(g + ((size_t)(2 * row + 1) * cols + col) * per, rec + (size_t)i * per, per * sizeof(float));
        }
        if (png_write_grid(grid, g, 2 * rows * cols, C, S, cols, err, sizeof err) != 0) die("%s", err);
        free(g);
    }
    printf("invert: %d image%s, %d steps x %d start%s%s: mean mse %.5f (from %.5f at the start), mean psnr %.2f dB (%s, step %ld)\n",
           n, n > 1 ? "s" : "", steps, starts, starts > 1 ? "s" : "", ncls > 1 ? " x every class" : "", mean_mse,
           first_mse, mean_psnr, run.path, run.meta.step);
    free(rec); free(best_z); free(best_lab); free(mse); free(outc);
    free(z); free(m1); free(m2); free(dz); free(lab); free(target);
    sampler_free(&s);
    run_close(&run);
    return 0;
}
