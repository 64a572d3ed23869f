/* cmd_bench.c: `dcgan bench`, full training iterations on synthetic data, timed.
 * Prints one line with images_per_s (real images consumed per second) and peak_rss_mb. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../train/gan.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Multiply-accumulates of one forward pass of a layer, per image. */
static double layer_macs(const Layer *L) {
    switch (L->kind) {
    case LAYER_LINEAR: return (double)L->cin * L->hin * L->win * L->cout * L->hout * L->wout;
    case LAYER_CONV: return (double)L->cout * L->hout * L->wout * L->cin * L->k * L->k;
    default: return (double)L->cin * L->hin * L->win * L->cout * L->k * L->k;
    }
}

/* FLOPs of one training iteration per image, counting convolutions and linear layers only, as
 * the step computes them: the D step (G forward, D forward, weight and input gradients on real
 * and fake, no input gradient at D's first layer), then each G step (a G forward after the first,
 * D forward and input gradients, G weight gradients and input gradients but for G's first layer). */
static double iteration_flops(const Net *G, const Net *D, int g_steps) {
    double g = 0, d = 0;
    for (int l = 0; l < G->nlayers; l++) g += layer_macs(&G->layer[l]);
    for (int l = 0; l < D->nlayers; l++) d += layer_macs(&D->layer[l]);
    const double g0 = layer_macs(&G->layer[0]), d0 = layer_macs(&D->layer[0]);
    const double dstep = g + 2 * d + 2 * d + 2 * (d - d0);
    const double gstep = d + d + g + (g - g0);
    return 2.0 * (dstep + g_steps * gstep + (g_steps - 1) * g);
}

/* sgemm throughput of the BLAS on this machine: n x n x n, best of a few runs. */
static double sgemm_gflops(int n) {
    float *a = xcalloc((size_t)n * n, sizeof(float)), *b = xcalloc((size_t)n * n, sizeof(float)),
          *c = xcalloc((size_t)n * n, sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) { a[i] = (float)(i % 7) * 1e-3f; b[i] = (float)(i % 5) * 1e-3f; }
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * n * (double)n / (now_seconds() - t) / 1e9;
        if (g > best) best = g;
    }
    free(a); free(b); free(c);
    return best;
}

int cmd_bench(int argc, char **argv) {
    const char *arch = "dcgan", *device = "cpu", *precision = NULL;
    int size = 64, channels = 3, batch = 64, g_steps = 1, steps = 10, warmup = 2, threads = 0, nz = 100, gf = 64,
        df = 64;
    long seed = 1;
    int sgemm = 0, no_graph = 0, classes = 0;
    const OptSpec spec[] = {
        {"arch", OPT_STR, &arch, "model family: dcgan (pytorch/examples) or seed (the article's)", 0, -1},
        {"size", OPT_INT, &size, "image side", 1, 4096},
        {"channels", OPT_INT, &channels, "image channels, 1 or 3", 1, 3},
        {"nz", OPT_INT, &nz, "latent size", 1, 4096},
        {"gf", OPT_INT, &gf, "generator base width", 1, 1024},
        {"df", OPT_INT, &df, "discriminator base width", 1, 1024},
        {"batch", OPT_INT, &batch, "batch size", 0, 1 << 20},
        {"g-steps", OPT_INT, &g_steps, "generator updates per iteration", 1, 100},
        {"classes", OPT_INT, &classes, "a class-conditional model of this many classes, with its auxiliary classifier (0: none)", 0, 256},
        {"steps", OPT_INT, &steps, "timed iterations", 1, 1000000},
        {"warmup", OPT_INT, &warmup, "untimed iterations first", 0, 1000000},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu or cuda", 0, -1},
        {"precision", OPT_STR, &precision, PRECISION_HELP, 0, -1},
        {"no-graph", OPT_FLAG, &no_graph, "cuda: launch every op instead of replaying one recorded iteration", 0, -1},
        {"seed", OPT_LONG, &seed, "random seed", 0, 9.2e18},
        {"sgemm", OPT_INT, &sgemm, "instead, measure the BLAS sgemm peak on N x N x N (e.g. 2048)", 0, 16384},
    };
    opts_parse("bench", "Times full training iterations (1 D step + g-steps G steps) on synthetic data.", spec,
               (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (sgemm) {
        Backend *be = backend_create("cpu-blas", threads); /* sets the thread count */
        printf("sgemm n=%d threads=%d gflops=%.1f\n", sgemm, threads, sgemm_gflops(sgemm));
        be->destroy(be);
        return 0;
    }
    ModelConfig mc = {0};
    if (arch_parse(arch, &mc.arch) != 0) die("bench: --arch '%s' is unknown; use dcgan or seed", arch);
    mc.size = size; mc.channels = channels; mc.nz = nz; mc.gf = gf; mc.df = df;
    model_config_set_classes(&mc, classes, 1); /* as dcgan train --conditional */
    TrainConfig tc;
    train_config_default(&tc);
    tc.g_steps = g_steps;

    Backend *be = cli_backend(device, precision, threads);
    Gan g;
    gan_init(&g, be, &mc, &tc, batch, (uint64_t)seed);
    if (no_graph) g.use_graph = 0;
    /* synthetic "real" images: tanh of Gaussian noise, like the PyTorch reference */
    const size_t img = (size_t)channels * size * size * batch;
    float *real = xmalloc(img * sizeof(float));
    Rng r;
    rng_seed(&r, (uint64_t)seed, 7);
    rng_fill_normal(&r, real, img, 0.0f, 1.0f);
    for (size_t i = 0; i < img; i++) real[i] = tanhf(real[i]);
    gan_set_real(&g, real);
    free(real); /* the backend holds its copy */
    if (classes) { /* labels 0, 1, ..., K-1, 0, ... */
        int32_t *labels = xmalloc((size_t)batch * sizeof(int32_t));
        for (int i = 0; i < batch; i++) labels[i] = i % classes;
        gan_set_labels(&g, labels);
        free(labels);
    }
    StepStats st;
    for (int i = 0; i < warmup; i++) gan_iterate(&g);
    gan_read_stats(&g, &st);
    double t0 = now_seconds();
    for (int i = 0; i < steps; i++) gan_iterate(&g);
    gan_read_stats(&g, &st);
    double dt = now_seconds() - t0;
    const double ips = batch * steps / dt;
    printf("arch=%s size=%d channels=%d classes=%d batch=%d g_steps=%d steps=%d threads=%d device=%s step_ms=%.2f "
           "images_per_s=%.2f gflops=%.1f peak_rss_mb=%.1f d_loss=%.4f g_loss=%.4f\n",
           arch, size, channels, classes, batch, g_steps, steps, threads, be->name, 1000.0 * dt / steps, ips,
           ips * iteration_flops(&g.G, &g.D, g_steps) / 1e9, peak_rss_mb(), st.d_loss, st.g_loss);
    gan_free(&g);
    be->destroy(be);
    return 0;
}
