/* cmd_sample.c: `dcgan sample` makes images from a checkpoint, and `dcgan info` describes one. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../data/dataset.h"
#include "../data/classes.h"
#include "../io/checkpoint.h"
#include "../io/fileio.h"
#include "../io/image_io.h"
#include "../io/npy.h"
#include "../train/gan.h"
#include "../train/sampler.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

Backend *cli_backend(const char *device, const char *precision, int threads) {
    const char *algos = getenv("DCGAN_CUDA_ALGOS");
    const int cache = env_switch("DCGAN_CUDA_CACHE", 1, "use 0 (the GPU's convolution algorithms timed at every start), "
                                 "1 (their choice kept in the cache folder)");
    Backend *be = backend_create_precision(device, precision, threads);
    char dir[4096];
    if (be->cache_choices && cache && !(algos && *algos) && dataset_cache_dir(dir, sizeof dir) == 0)
        be->cache_choices(be, dir);
    return be;
}

void cli_check_outputs(const char *cmd, const char *const *paths, int n) {
    char err[1024];
    for (int i = 0; i < n; i++)
        if (paths[i] && check_output_file(paths[i], err, sizeof err) != 0) die("%s: %s", cmd, err);
}

void run_load(LoadedRun *r, const char *ckpt, const char *device, const char *precision, int threads, int use_ema) {
    char err[1024];
    if (checkpoint_resolve(ckpt, r->path, sizeof r->path, err, sizeof err) != 0) die("%s", err);
    if (checkpoint_read_meta(r->path, &r->meta, err, sizeof err) != 0) die("%s", err);
    r->be = cli_backend(device, precision, threads);
    gan_init(&r->g, r->be, &r->meta.mc, &r->meta.tc, r->meta.batch, r->meta.seed);
    if (checkpoint_load(r->path, &r->g, &r->meta, err, sizeof err) != 0) die("%s", err);
    if (use_ema) gan_generator_from_ema(&r->g);
}

int run_weights_option(const char *cmd, const char *weights) {
    if (!strcmp(weights, "ema")) return 1;
    if (!strcmp(weights, "live")) return 0;
    die("%s: --weights '%s' is unknown; use ema (the moving average, where the run kept one) or live", cmd, weights);
}

void run_close(LoadedRun *r) {
    gan_free(&r->g);
    r->be->destroy(r->be);
}

int run_class(const LoadedRun *r, const char *cmd, const char *cls) {
    if (!cls) return -1;
    const int K = r->meta.mc.nclasses;
    if (!K) die("%s: %s is not a conditional model; drop --class", cmd, r->path);
    const int k = classes_find(r->meta.classes, K, cls);
    if (k < 0) {
        char list[1024];
        classes_list(r->meta.classes, list, sizeof list);
        die("%s: --class '%s' is not one of the model's %d classes; use a number from 0 to %d or a name: %s", cmd, cls,
            K, K - 1, list);
    }
    return k;
}

int32_t *run_labels(const LoadedRun *r, int n, int cls, int cols) {
    const int K = r->meta.mc.nclasses;
    if (!K) return NULL;
    int32_t *labels = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (cls >= 0) for (int i = 0; i < n; i++) labels[i] = cls;
    else grid_labels(labels, n, cols > 0 ? cols : 1, K);
    return labels;
}

/* The images are made all at once: at most 4e9 floats (16 GB) of them. */
static void within_pixel_cap(int n, int side, int channels) {
    const double per_image = (double)side * side * channels;
    if (n * per_image > 4e9)
        die("sample: -n %d images of %dx%d are %.0f GB of pixels; make fewer at a time (-n %d or less)", n, side, side,
            n * per_image * 4 / 1e9, per_image < 4e9 ? (int)(4e9 / per_image) : 1);
}

int cmd_sample(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *grid = NULL, *zfile = NULL, *rawfile = NULL, *bn = "running", *device = "cpu",
               *precision = NULL, *weights = "ema";
    const char *cls = NULL;
    int n = 0, threads = 0, cols = 0, zside = 1;
    long seed = 1;
    float temperature = 1;
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "a checkpoint file, or a run folder (its newest checkpoint)", 0, -1},
        {"n", OPT_INT, &n, "how many images (default 64; for a conditional model 8 per class)", 1, 1000000},
        {"class", OPT_STR, &cls, "conditional models: every image of this class (a name or a number); without it "
                                 "image i is of class (i / cols) mod K: one row per class in --grid", 0, -1},
        {"out", OPT_STR, &out, "folder for the images as separate PNG files", 0, -1},
        {"grid", OPT_STR, &grid, "write the images as one grid PNG to this file", 0, -1},
        {"cols", OPT_INT, &cols, "grid columns (default: about the square root of n)", 1, 100000},
        {"seed", OPT_LONG, &seed, "seed for z", 0, 9.2e18},
        {"temperature", OPT_FLOAT, &temperature,
         "scale z by this: below 1 trades variety for typical images (the truncation trick's simple form)", 0.01, 10},
        {"z", OPT_STR, &zfile, "take z from this .npy file, float32 [N, nz] (overrides -n and --seed)", 0, -1},
        {"raw", OPT_STR, &rawfile, "also write the images as .npy float32 [N, C, S, S] in [-1, 1]", 0, -1},
        {"latent-grid", OPT_INT, &zside, "larger images: G run fully convolutionally on an NxN grid of latents per image, "
                                         "S/4*(N+3) pixels a side (dcgan family; 1: as trained)", 1, 100000},
        {"bn", OPT_STR, &bn, "batch norm statistics: running (inference) or batch", 0, -1},
        {"weights", OPT_STR, &weights, "ema: G's moving average where the run kept one (train --ema), else G; live: G", 0, -1},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu or cuda", 0, -1},
        {"precision", OPT_STR, &precision, PRECISION_HELP, 0, -1},
    };
    opts_parse("sample", "Generates images from a trained checkpoint.", spec, (int)(sizeof spec / sizeof spec[0]), argc,
               argv, 2);
    if (!ckpt) die("sample: --checkpoint PATH is required (a checkpoint file or a run folder)");
    if (!out && !grid && !rawfile) die("sample: say where the images go: --out DIR, --grid FILE.png or --raw FILE.npy");
    int batch_stats;
    if (!strcmp(bn, "running")) batch_stats = 0;
    else if (!strcmp(bn, "batch")) batch_stats = 1;
    else die("sample: --bn '%s' is unknown; use running or batch", bn);
    const int use_ema = run_weights_option("sample", weights);

    LoadedRun run;
    run_load(&run, ckpt, device, precision, threads, use_ema);
    Backend *be = run.be;
    const Net *G = &run.g.G;
    char err[1024];
    const ModelConfig mc = run.meta.mc;
    const int k_class = run_class(&run, "sample", cls);
    if (!n) n = mc.nclasses && k_class < 0 ? 8 * mc.nclasses : 64;
    /* --latent-grid K: image side S' = S/4 * (K + 3), each image's K*K latents drawn as K*K rows of
     * the seed's stream (K = 1: the same z and images as without it) */
    const int side = GRID_SIDE(mc.size, zside);
    const size_t zz = (size_t)zside * zside;
    if (zside > 1) {
        if (mc.arch != ARCH_DCGAN)
            die("sample: --latent-grid needs the dcgan family's generator, whose first layer is a transposed "
                "convolution; this run's (%s) starts with a linear layer", arch_name(mc.arch));
        if (zfile) die("sample: --latent-grid draws each image's grid of z from --seed; drop --z");
        if (side > 4096)
            die("sample: --latent-grid %d makes images of %d pixels a side; at most 4096: use --latent-grid %d or less",
                zside, side, 4096 / (mc.size / 4) - 3);
    }
    if (!zfile) within_pixel_cap(n, side, mc.channels); /* before z, which a latent grid makes zside^2 times as large */
    float *z;
    if (zfile) {
        int shape[4], ndim;
        if (npy_read_f32(zfile, &z, shape, &ndim, err, sizeof err) != 0) die("sample: %s", err);
        if (ndim != 2 || shape[1] != mc.nz)
            die("sample: --z %s must be float32 [N, %d] for this model (nz %d)", zfile, mc.nz, mc.nz);
        n = shape[0];
    } else {
        z = xmalloc((size_t)n * zz * mc.nz * sizeof(float));
        sample_z(z, (int)(n * zz), mc.nz, run.meta.tc.zdist, (uint64_t)seed);
        for (size_t i = 0; i < (size_t)n * zz * mc.nz; i++) z[i] *= temperature;
    }
    if (batch_stats && n < 2) die("sample: --bn batch needs -n 2 or more");
    if (zfile) within_pixel_cap(n, side, mc.channels); /* n from the file */
    /* grid columns: --cols, else one row per class for a conditional model, else about sqrt(n) */
    int c = cols;
    if (c <= 0 && mc.nclasses && k_class < 0) c = (n + mc.nclasses - 1) / mc.nclasses;
    if (c <= 0) { c = 1; while (c * c < n) c++; }
    /* the outputs, before the images are made: files writable, the grid within a PNG's size here */
    if (grid) {
        int gw, gh, gc;
        grid_shape(n, mc.channels, side, c, &gw, &gh, &gc);
        if (!png_fits(gw, gh, gc))
            die("sample: a grid of %d images of %dx%d in %d columns is %d x %d pixels, more than the 1 GiB that dcgan "
                "writes in one PNG; make fewer (-n) or write them as files (--out DIR)", n, side, side, c, gw, gh);
    }
    cli_check_outputs("sample", (const char *const[]){grid, rawfile}, 2);
    if (out && mkdir_p(out) != 0) die("sample: cannot create %s: %s", out, strerror(errno));
    int32_t *labels = run_labels(&run, n, k_class, c);
    const size_t per = (size_t)mc.channels * side * side;
    float *img = xmalloc((size_t)n * per * sizeof(float));
    generate_images_grid(be, &mc, G, z, labels, n, batch_stats, zside, img);
    if (out) {
        for (int i = 0; i < n; i++) {
            char p[4300];
            if (labels) { /* a conditional model's files say their class: sample_000012_Sneaker.png */
                char name[CLASS_NAME_MAX];
                classes_name(run.meta.classes, labels[i], name, sizeof name);
                for (char *q = name; *q; q++)
                    if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_') *q = '_';
                snprintf(p, sizeof p, "%s/sample_%06d_%s.png", out, i, name);
            } else {
                snprintf(p, sizeof p, "%s/sample_%06d.png", out, i);
            }
            if (png_write_image(p, img + (size_t)i * per, mc.channels, side, err, sizeof err) != 0) die("%s", err);
        }
    }
    if (grid && png_write_grid(grid, img, n, mc.channels, side, c, err, sizeof err) != 0) die("%s", err);
    if (rawfile) {
        int shape[4] = {n, mc.channels, side, side};
        if (npy_write_f32(rawfile, img, shape, 4, err, sizeof err) != 0) die("%s", err);
    }
    if (zside > 1)
        printf("sample: %d image%s of %dx%d (a %dx%d grid of z each) from %s (step %ld)\n", n, n > 1 ? "s" : "", side,
               side, zside, zside, run.path, run.meta.step);
    else printf("sample: %d image%s from %s (step %ld)\n", n, n > 1 ? "s" : "", run.path, run.meta.step);
    free(img);
    free(z);
    free(labels);
    run_close(&run);
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
    LoadedRun run;
    run_load(&run, ckpt, "cpu", NULL, 1, 0);
    const CheckpointMeta m = run.meta;
    const Gan *g = &run.g;
    const char *path = run.path;
    /* CRC-32 of G and D parameters, Adam moments and buffers: equal runs give equal sums; and of the
     * parameters and Adam moments alone (what `dcgan train` under mpirun reports per rank) */
    uLong pcrc = crc32(0L, Z_NULL, 0);
    for (int k = 0; k < 2; k++) {
        const Net *N = k ? &g->D : &g->G;
        const float *pb[3] = {N->params, N->adam_m, N->adam_v};
        for (int b = 0; b < 3; b++) pcrc = crc32(pcrc, (const Bytef *)pb[b], (uInt)(N->nparams * sizeof(float)));
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    const Net *nets[2] = {&g->G, &g->D};
    for (int k = 0; k < 2; k++) {
        const float *blocks[4] = {nets[k]->params, nets[k]->adam_m, nets[k]->adam_v, nets[k]->buffers};
        size_t sizes[4] = {nets[k]->nparams, nets[k]->nparams, nets[k]->nparams, nets[k]->nbuf};
        for (int b = 0; b < 4; b++) crc = crc32(crc, (const Bytef *)blocks[b], (uInt)(sizes[b] * sizeof(float)));
    }
    printf("checkpoint=%s arch=%s size=%d channels=%d nz=%d gf=%d df=%d batch=%d g_steps=%d loss=%s z_dist=%s lr=%g "
           "beta1=%g seed=%llu step=%ld epoch=%ld ranks=%d g_params=%zu d_params=%zu g_buffers=%zu d_buffers=%zu state_crc32=%08lx params_adam_crc32=%08lx\n",
           path, arch_name(m.mc.arch), m.mc.size, m.mc.channels, m.mc.nz, m.mc.gf, m.mc.df, m.batch, m.tc.g_steps,
           m.tc.loss == LOSS_NS ? "ns" : "minimax", m.tc.zdist == Z_NORMAL ? "normal" : "uniform", m.tc.lr, m.tc.beta1,
           (unsigned long long)m.seed, m.step, m.epoch, m.nranks, g->G.nparams, g->D.nparams, g->G.nbuf, g->D.nbuf, (unsigned long)crc,
           (unsigned long)pcrc);
    if (m.mc.nclasses) {
        char list[4096];
        classes_list(m.classes, list, sizeof list);
        printf("classes=%d class_loss=%g: %s\n", m.mc.nclasses, m.mc.aux ? m.tc.class_weight : 0.0, list);
        if (m.mc.aux && m.mc.d_labels)
            printf("d_labels=1: D sees the labels as well as classifying (written before checkpoint format 4)\n");
    }
    if (m.tc.real_label < 1.0)
        printf("real_label=%g: D's target on real images (one-sided label smoothing)\n", m.tc.real_label);
    if (m.flip) printf("flip=1: the training images are mirrored left-right at random (--flip)\n");
    if (m.tc.lr_decay_to)
        printf("lr_decay=%ld-%ld: the learning rate falls linearly to 0 from step %ld to step %ld (--lr-decay-from)\n",
               m.tc.lr_decay_from, m.tc.lr_decay_to, m.tc.lr_decay_from, m.tc.lr_decay_to);
    if (m.tc.ema > 0) printf("ema=%g: sample, eval and export use the moving average of G (--weights live: G)\n", m.tc.ema);
    run_close(&run);
    return 0;
}
