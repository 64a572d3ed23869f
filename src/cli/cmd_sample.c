/* cmd_sample.c: `dcgan sample` makes images from a checkpoint, and `dcgan info` describes one. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../io/checkpoint.h"
#include "../io/fileio.h"
#include "../io/image_io.h"
#include "../io/npy.h"
#include "../train/gan.h"
#include "../train/sampler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Loads a checkpoint into a fresh Gan (batch 2 is enough to hold it). */
static void load_gan(const char *path_in, Backend *be, Gan *g, CheckpointMeta *meta, char *resolved, size_t n) {
    char err[1024];
    if (checkpoint_resolve(path_in, resolved, n, err, sizeof err) != 0) die("%s", err);
    if (checkpoint_read_meta(resolved, meta, err, sizeof err) != 0) die("%s", err);
    gan_init(g, be, &meta->mc, &meta->tc, meta->batch, meta->seed);
    if (checkpoint_load(resolved, g, meta, err, sizeof err) != 0) die("%s", err);
}

int cmd_sample(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *grid = NULL, *zfile = NULL, *rawfile = NULL, *bn = "running", *device = "cpu";
    int n = 64, threads = 0, cols = 0;
    long seed = 1;
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "a checkpoint file, or a run folder (its newest checkpoint)", 0, -1},
        {"n", OPT_INT, &n, "how many images", 1, 1000000},
        {"out", OPT_STR, &out, "folder for the images as separate PNG files", 0, -1},
        {"grid", OPT_STR, &grid, "write the images as one grid PNG to this file", 0, -1},
        {"cols", OPT_INT, &cols, "grid columns (default: about the square root of n)", 0, 100000},
        {"seed", OPT_LONG, &seed, "seed for z", 0, 9.2e18},
        {"z", OPT_STR, &zfile, "take z from this .npy file, float32 [N, nz] (overrides -n and --seed)", 0, -1},
        {"raw", OPT_STR, &rawfile, "also write the images as .npy float32 [N, C, S, S] in [-1, 1]", 0, -1},
        {"bn", OPT_STR, &bn, "batch norm statistics: running (inference) or batch", 0, -1},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu", 0, -1},
    };
    opts_parse("sample", "Generates images from a trained checkpoint.", spec, (int)(sizeof spec / sizeof spec[0]), argc,
               argv, 2);
    if (!ckpt) die("sample: --checkpoint PATH is required (a checkpoint file or a run folder)");
    if (!out && !grid && !rawfile) die("sample: say where the images go: --out DIR, --grid FILE.png or --raw FILE.npy");
    int batch_stats;
    if (!strcmp(bn, "running")) batch_stats = 0;
    else if (!strcmp(bn, "batch")) batch_stats = 1;
    else die("sample: --bn '%s' is unknown; use running or batch", bn);

    Backend *be = backend_create(device, threads);
    Gan g;
    CheckpointMeta meta;
    char path[4200], err[1024];
    load_gan(ckpt, be, &g, &meta, path, sizeof path);
    const ModelConfig mc = meta.mc;
    float *z;
    if (zfile) {
        int shape[4], ndim;
        if (npy_read_f32(zfile, &z, shape, &ndim, err, sizeof err) != 0) die("sample: %s", err);
        if (ndim != 2 || shape[1] != mc.nz)
            die("sample: --z %s must be float32 [N, %d] for this model (nz %d)", zfile, mc.nz, mc.nz);
        n = shape[0];
    } else {
        z = xmalloc((size_t)n * mc.nz * sizeof(float));
        Rng r;
        rng_seed(&r, (uint64_t)seed, 9);
        if (meta.tc.zdist == Z_UNIFORM) rng_fill_uniform(&r, z, (size_t)n * mc.nz, -1.0f, 1.0f);
        else rng_fill_normal(&r, z, (size_t)n * mc.nz, 0.0f, 1.0f);
    }
    /* in running-statistics mode images do not depend on the batch; with batch statistics the whole
     * request is one batch, as in training */
    const int B = batch_stats ? n : (n < 256 ? n : 256);
    if (batch_stats && n < 2) die("sample: --bn batch needs -n 2 or more");
    Sampler s;
    sampler_init(&s, be, &mc, B);
    sampler_copy_from(&s, &g.G);
    const size_t per = (size_t)mc.channels * mc.size * mc.size;
    float *img = xmalloc((size_t)n * per * sizeof(float));
    for (int i = 0; i < n; i += B) {
        const int m = n - i < B ? n - i : B;
        sampler_run(&s, z + (size_t)i * mc.nz, m, batch_stats, img + (size_t)i * per);
    }
    if (out) {
        if (mkdir_p(out) != 0) die("sample: cannot create %s: %s", out, strerror(errno));
        for (int i = 0; i < n; i++) {
            char p[4300];
            snprintf(p, sizeof p, "%s/sample_%06d.png", out, i);
            if (png_write_image(p, img + (size_t)i * per, mc.channels, mc.size, err, sizeof err) != 0) die("%s", err);
        }
    }
    if (grid) {
        int c = cols;
        if (c <= 0) { c = 1; while (c * c < n) c++; }
        if (png_write_grid(grid, img, n, mc.channels, mc.size, c, err, sizeof err) != 0) die("%s", err);
    }
    if (rawfile) {
        int shape[4] = {n, mc.channels, mc.size, mc.size};
        if (npy_write_f32(rawfile, img, shape, 4, err, sizeof err) != 0) die("%s", err);
    }
    printf("sample: %d image%s from %s (step %ld)\n", n, n > 1 ? "s" : "", path, meta.step);
    free(img);
    free(z);
    sampler_free(&s);
    gan_free(&g);
    be->destroy(be);
    return 0;
}

int cmd_info(int argc, char **argv) {
    const char *ckpt = NULL;
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "a checkpoint file, or a run folder (its newest checkpoint)", 0, -1},
    };
    opts_parse("info", "Describes a checkpoint: model, schedule, progress and a checksum of the weights.", spec, 1, argc,
               argv, 2);
    if (!ckpt) die("info: --checkpoint PATH is required");
    Backend *be = backend_create("cpu", 1);
    Gan g;
    CheckpointMeta m;
    char path[4200];
    load_gan(ckpt, be, &g, &m, path, sizeof path);
    /* CRC-32 of G and D parameters, Adam moments and buffers: equal runs give equal sums */
    uLong crc = crc32(0L, Z_NULL, 0);
    Net *nets[2] = {&g.G, &g.D};
    for (int k = 0; k < 2; k++) {
        float *blocks[4] = {nets[k]->params, nets[k]->adam_m, nets[k]->adam_v, nets[k]->buffers};
        size_t sizes[4] = {nets[k]->nparams, nets[k]->nparams, nets[k]->nparams, nets[k]->nbuf};
        for (int b = 0; b < 4; b++) crc = crc32(crc, (const Bytef *)blocks[b], (uInt)(sizes[b] * sizeof(float)));
    }
    printf("checkpoint=%s arch=%s size=%d channels=%d nz=%d gf=%d df=%d batch=%d g_steps=%d loss=%s z_dist=%s lr=%g "
           "beta1=%g seed=%llu step=%ld epoch=%ld g_params=%zu d_params=%zu state_crc32=%08lx\n",
           path, arch_name(m.mc.arch), m.mc.size, m.mc.channels, m.mc.nz, m.mc.gf, m.mc.df, m.batch, m.tc.g_steps,
           m.tc.loss == LOSS_NS ? "ns" : "minimax", m.tc.zdist == Z_NORMAL ? "normal" : "uniform", m.tc.lr, m.tc.beta1,
           (unsigned long long)m.seed, m.step, m.epoch, g.G.nparams, g.D.nparams, (unsigned long)crc);
    gan_free(&g);
    be->destroy(be);
    return 0;
}
