/* cmd_bench.c: `dcgan bench`, full training iterations on synthetic data, timed.
 * Prints one line with images_per_s (real images consumed per second) and peak_rss_mb. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../train/gan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_bench(int argc, char **argv) {
    const char *arch = "dcgan", *device = "cpu";
    int size = 64, channels = 3, batch = 64, g_steps = 1, steps = 10, warmup = 2, threads = 0, nz = 100, gf = 64,
        df = 64;
    long seed = 1;
    const OptSpec spec[] = {
        {"arch", OPT_STR, &arch, "model family: dcgan (pytorch/examples) or seed (the article's)", 0, -1},
        {"size", OPT_INT, &size, "image side", 1, 4096},
        {"channels", OPT_INT, &channels, "image channels, 1 or 3", 1, 3},
        {"nz", OPT_INT, &nz, "latent size", 1, 4096},
        {"gf", OPT_INT, &gf, "generator base width", 1, 1024},
        {"df", OPT_INT, &df, "discriminator base width", 1, 1024},
        {"batch", OPT_INT, &batch, "batch size", 0, 1 << 20},
        {"g-steps", OPT_INT, &g_steps, "generator updates per iteration", 1, 100},
        {"steps", OPT_INT, &steps, "timed iterations", 1, 1000000},
        {"warmup", OPT_INT, &warmup, "untimed iterations first", 0, 1000000},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu", 0, -1},
        {"seed", OPT_LONG, &seed, "random seed", 0, 9.2e18},
    };
    opts_parse("bench", "Times full training iterations (1 D step + g-steps G steps) on synthetic data.", spec,
               (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    ModelConfig mc = {0};
    if (arch_parse(arch, &mc.arch) != 0) die("bench: --arch '%s' is unknown; use dcgan or seed", arch);
    mc.size = size; mc.channels = channels; mc.nz = nz; mc.gf = gf; mc.df = df;
    TrainConfig tc;
    train_config_default(&tc);
    tc.g_steps = g_steps;

    Backend *be = backend_create(device, threads);
    Gan g;
    gan_init(&g, be, &mc, &tc, batch, (uint64_t)seed);
    /* synthetic "real" images: tanh of Gaussian noise, like the PyTorch reference */
    const size_t img = (size_t)channels * size * size * batch;
    float *real = xmalloc(img * sizeof(float));
    Rng r;
    rng_seed(&r, (uint64_t)seed, 7);
    rng_fill_normal(&r, real, img, 0.0f, 1.0f);
    for (size_t i = 0; i < img; i++) real[i] = tanhf(real[i]);
    gan_set_real(&g, real);
    StepStats st;
    for (int i = 0; i < warmup; i++) { gan_draw_z(&g); gan_step(&g); }
    gan_read_stats(&g, &st);
    double t0 = now_seconds();
    for (int i = 0; i < steps; i++) { gan_draw_z(&g); gan_step(&g); }
    gan_read_stats(&g, &st);
    double dt = now_seconds() - t0;
    printf("arch=%s size=%d channels=%d batch=%d g_steps=%d steps=%d threads=%d device=%s step_ms=%.2f "
           "images_per_s=%.2f peak_rss_mb=%.1f d_loss=%.4f g_loss=%.4f\n",
           arch, size, channels, batch, g_steps, steps, threads, be->name, 1000.0 * dt / steps, batch * steps / dt,
           peak_rss_mb(), st.d_loss, st.g_loss);
    free(real);
    gan_free(&g);
    be->destroy(be);
    return 0;
}
