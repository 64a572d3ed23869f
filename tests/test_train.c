/* test_train.c: three whole training iterations of a small `dcgan` and a small `seed` model, and of
 * class-conditional ones (labels joined to every layer's input; with and without the auxiliary
 * classifier of AC-GAN), one with one-sided label smoothing (D's real target 0.9), and four iterations
 * with the learning rate's linear decay (LambdaLR: lr, lr, 2/3 lr, 1/3 lr), against PyTorch
 * (tests/fixtures/train_*.bin), from the same initial weights, z, real batches and labels.
 * Tolerance: ||ours - torch|| / ||torch|| <= 1e-4 on each loss and on every parameter and
 * running-statistics tensor after the 3 iterations. Also the moving average of G (run_ema), and a
 * generator's inference-mode forward and backward (run_generator_eval, 1e-5).
 * usage: test_train FIXTURE_DIR [device] */
#include "fixture.h"
#include "../src/train/gan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4


static void check_net(Backend *be, Net *n, const Fixture *fx, const char *prefix, const char *arch) {
    float *p = calloc(n->nparams, sizeof(float)), *b = calloc(n->nbuf + 1, sizeof(float));
    be->download(be, p, n->params, n->nparams);
    be->download(be, b, n->buffers, n->nbuf);
    char what[128];
    for (int i = 0; i < n->ntensors; i++) {
        const TensorSpec *s = &n->tensor[i];
        snprintf(what, sizeof what, "%s final %s%s", arch, prefix, s->name);
        fx_check(what, p + s->offset, fx_get(fx, "final.%s%s", prefix, s->name)->data, s->numel, TOL);
    }
    for (int i = 0; i < n->nbuffers; i++) {
        const TensorSpec *s = &n->buffer[i];
        snprintf(what, sizeof what, "%s final %s%s", arch, prefix, s->name);
        fx_check(what, b + s->offset, fx_get(fx, "final.%s%s", prefix, s->name)->data, s->numel, TOL);
    }
    free(p); free(b);
}

/* One training iteration on the fixture's z, real batch and labels of step s. */
static void step_from_fixture(Gan *g, const Fixture *fx, int s) {
    g->be->upload(g->be, g->z, fx_get(fx, "step%d.z", s)->data, (size_t)g->B * g->mc.nz);
    gan_set_real(g, fx_get(fx, "step%d.real", s)->data);
    fx_set_labels(g, fx, s);
    gan_step(g);
}

/* keep: the backend keeps every activation instead of recomputing (as the CUDA backend does), which
 * runs the model's other memory plan on the CPU too. stack: TrainConfig.stack_d (-1: the default,
 * 0: the D step as two passes, 1: as one pass over the real and the fake batch) */
static void run(const char *dir, const char *name, const char *device, int keep, int stack) {
    Fixture fx;
    ModelConfig mc;
    TrainConfig tc;
    int B, steps;
    fx_load_train(&fx, dir, name, &mc, &tc, &B, &steps);
    tc.stack_d = stack;
    Backend *be = backend_create(device, 0);
    if (keep) be->keep_activations = 1;
    char label[64];
    snprintf(label, sizeof label, "%s%s%s", name, keep ? "(kept activations)" : "",
             stack == 1 ? "(D step as one pass)" : stack == 0 ? "(D step as two passes)" : "");
    name = label;
    Gan g;
    gan_init(&g, be, &mc, &tc, B, 1);
    if (stack == 1 && !g.stack_d) {
        printf("FAIL %s: the D step was asked to run as one pass and does not\n", name);
        fx_failed++;
    }
    fx_load_net(be, &g.G, &fx, "G.");
    fx_load_net(be, &g.D, &fx, "D.");
    char what[128];
    for (int s = 0; s < steps; s++) {
        step_from_fixture(&g, &fx, s);
        StepStats st;
        gan_read_stats(&g, &st);
        const struct { const char *k; float v; } L[] = {{"d_loss_real", st.d_loss_real}, {"d_loss_fake", st.d_loss_fake},
                                                         {"g_loss", st.g_loss}, {"d_x", st.d_x}, {"d_gz", st.d_gz}};
        for (int i = 0; i < 5; i++) {
            snprintf(what, sizeof what, "%s step %d %s", name, s + 1, L[i].k);
            fx_check(what, &L[i].v, fx_get(&fx, "step%d.%s", s, L[i].k)->data, 1, TOL);
        }
        if (mc.aux) { /* the auxiliary classifier's losses */
            snprintf(what, sizeof what, "%s step %d d_cls", name, s + 1);
            fx_check(what, &st.d_cls, fx_get(&fx, "step%d.d_cls", s)->data, 1, TOL);
            snprintf(what, sizeof what, "%s step %d g_cls", name, s + 1);
            fx_check(what, &st.g_cls, fx_get(&fx, "step%d.g_cls", s)->data, 1, TOL);
        }
    }
    check_net(be, &g.G, &fx, "G.", name);
    check_net(be, &g.D, &fx, "D.", name);
    gan_free(&g);
    be->destroy(be);
    fx_free(&fx);
}

/* The moving average of G (TrainConfig.ema): training with it on still matches PyTorch; after each
 * step t ema_params equals d * previous + (1 - d) * G's weights, d = min(decay, (1 + t) / (10 + t)),
 * computed here in double; and
 * gan_ema_refresh makes ema_buffers the plain average of the batch statistics that the averaged
 * weights give on its batches of z, measured here one batch at a time on a separate generator,
 * while leaving the live G untouched. */
static void run_ema(const char *dir, const char *name, const char *device) {
    Fixture fx;
    ModelConfig mc;
    TrainConfig tc;
    int B, steps;
    fx_load_train(&fx, dir, name, &mc, &tc, &B, &steps);
    tc.ema = 0.3; /* under the warm-up's (1 + t) / (10 + t) from the third step on: both are used */
    Backend *be = backend_create(device, 0);
    Gan g;
    gan_init(&g, be, &mc, &tc, B, 1);
    fx_load_net(be, &g.G, &fx, "G.");
    fx_load_net(be, &g.D, &fx, "D.");
    const size_t np = g.G.nparams, nb = g.G.nbuf;
    be->copy(be, g.ema_params, g.G.params, np); /* the average starts at the (loaded) initial weights */
    double *want = malloc(np * sizeof(double));
    float *h = malloc(np * sizeof(float)), *got = malloc(np * sizeof(float));
    be->download(be, h, g.G.params, np);
    for (size_t i = 0; i < np; i++) want[i] = h[i];
    char what[160];
    for (int s = 0; s < steps; s++) {
        step_from_fixture(&g, &fx, s);
        be->download(be, h, g.G.params, np);
        const double t = s + 1, d = fmin(tc.ema, (1 + t) / (10 + t)); /* the warm-up, then the decay */
        for (size_t i = 0; i < np; i++) want[i] = d * want[i] + (1 - d) * h[i];
    }
    snprintf(what, sizeof what, "%s ema: G's weights after %d steps (training unchanged by the average)", name, steps);
    check_net(be, &g.G, &fx, "G.", what);
    be->download(be, got, g.ema_params, np);
    float *wf = malloc(np * sizeof(float));
    for (size_t i = 0; i < np; i++) wf[i] = (float)want[i];
    snprintf(what, sizeof what, "%s ema: averaged weights after %d steps", name, steps);
    fx_check(what, got, wf, np, 1e-6);

    /* the refresh, and the same statistics measured batch by batch */
    float *live_p = malloc(np * sizeof(float)), *live_b = malloc((nb + 1) * sizeof(float));
    float *after_p = malloc(np * sizeof(float)), *after_b = malloc((nb + 1) * sizeof(float));
    be->download(be, live_p, g.G.params, np);
    be->download(be, live_b, g.G.buffers, nb);
    fx_expect(!g.ema_fresh, "ema: a step makes the statistics stale");
    gan_ema_refresh(&g);
    fx_expect(g.ema_fresh, "ema: gan_ema_refresh marks the statistics current");
    be->download(be, after_p, g.G.params, np);
    be->download(be, after_b, g.G.buffers, nb);
    snprintf(what, sizeof what, "%s ema: the refresh leaves G's live weights and statistics alone", name);
    fx_expect(!memcmp(live_p, after_p, np * sizeof(float)) && !memcmp(live_b, after_b, nb * sizeof(float)), what);
    float *ema_b = malloc((nb + 1) * sizeof(float));
    be->download(be, ema_b, g.ema_buffers, nb);

    Net G2; /* a second generator holding the averaged weights; momentum 1: running = this batch's */
    net_build_generator(&G2, &mc);
    net_alloc(&G2, be, B, 0);
    Workspace ws;
    workspace_alloc(&ws, be, &G2, NULL);
    be->copy(be, G2.params, g.ema_params, np);
    G2.bn_momentum = 1.0f;
    float *z = be->alloc(be, (size_t)B * mc.nz), *lab = NULL;
    if (mc.nclasses) {
        int32_t *l = malloc((size_t)B * sizeof(int32_t));
        for (int i = 0; i < B; i++) l[i] = i % mc.nclasses;
        lab = be->alloc(be, (size_t)B);
        labels_upload(be, lab, l, B, B, mc.nclasses);
        G2.labels = lab;
        free(l);
    }
    int64_t *ctr = be->counters_alloc(be, 1);
    const int64_t at = g.step;
    be->counters_set(be, ctr, &at, 1);
    const int batches = gan_ema_refresh_batches(B);
    double *avg = calloc(nb + 1, sizeof(double));
    float *one = malloc((nb + 1) * sizeof(float));
    const size_t zn = (size_t)B * mc.nz;
    for (int k = 0; k < batches; k++) {
        be->random_fill(be, z, zn, g.seed, 3ull << 32, ctr, (uint64_t)zn * (uint64_t)k, tc.zdist == Z_UNIFORM);
        net_forward(&G2, be, &ws, z, 1);
        be->download(be, one, G2.buffers, nb);
        for (size_t i = 0; i < nb; i++) avg[i] += one[i] / (double)batches;
    }
    for (size_t i = 0; i < nb; i++) one[i] = (float)avg[i];
    for (int i = 0; i < G2.nbuffers; i++) {
        const TensorSpec *t = &G2.buffer[i];
        snprintf(what, sizeof what, "%s ema: refreshed %s (average of %d batches)", name, t->name, batches);
        fx_check(what, ema_b + t->offset, one + t->offset, t->numel, 1e-5);
    }
    /* the sampling view is the average */
    Net view;
    const Net *sn = gan_sampling_net(&g, &view);
    fx_expect(sn->params == g.ema_params && sn->buffers == g.ema_buffers, "ema: gan_sampling_net gives the average");
    be->counters_free(be, ctr);
    be->free(be, z);
    if (lab) be->free(be, lab);
    workspace_free(&ws, be);
    net_free(&G2, be);
    free(want); free(h); free(got); free(wf); free(live_p); free(live_b); free(after_p); free(after_b); free(ema_b);
    free(avg); free(one);
    gan_free(&g);
    be->destroy(be);
    fx_free(&fx);
}

/* A generator after an inference-mode forward (running statistics), as dcgan invert uses it: the
 * output, and the gradients of z and of every parameter, against tests/fixtures/generator_eval.bin.
 * The _grid cases run the dcgan family's G on a Z x Z grid of latents per image (sample
 * --latent-grid): z (B, nz, Z, Z), images of side S/4 * (Z + 3). */
static void run_generator_eval(const Fixture *fx, const char *tag, const char *device) {
    const FxTensor *cfg = fx_get(fx, "%s.config", tag);
    const float *c = cfg->data;
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = (Arch)(int)c[0];
    mc.size = (int)c[1]; mc.channels = (int)c[2]; mc.nz = (int)c[3]; mc.gf = (int)c[4]; mc.df = 4;
    const int Z = cfg->numel > 7 ? (int)c[7] : 1, side = GRID_SIDE(mc.size, Z);
    const int B = (int)c[5], K = (int)c[6], C = mc.channels, HW = side * side, ZZ = Z * Z, nz = mc.nz * ZZ;
    model_config_set_classes(&mc, K, 0);
    Backend *be = backend_create(device, 0);
    Net G;
    Workspace ws;
    net_build_generator_grid(&G, &mc, Z);
    net_alloc(&G, be, B, 1);
    workspace_alloc(&ws, be, &G, NULL);
    char prefix[64], what[160];
    snprintf(prefix, sizeof prefix, "%s.G.", tag);
    fx_load_net(be, &G, fx, prefix);
    float *buf = calloc(G.nbuf + 1, sizeof(float));
    for (int i = 0; i < G.nbuffers; i++)
        memcpy(buf + G.buffer[i].offset, fx_get(fx, "init.%s%s", prefix, G.buffer[i].name)->data,
               G.buffer[i].numel * sizeof(float));
    be->upload(be, G.buffers, buf, G.nbuf);
    if (K) {
        const float *fl = fx_get(fx, "%s.labels", tag)->data;
        int32_t lab[64];
        for (int i = 0; i < B; i++) lab[i] = (int32_t)fl[i];
        G.labels = be->alloc(be, (size_t)B);
        labels_upload(be, G.labels, lab, B, B, K);
    }
    /* z: (B, nz) as G takes it; on a grid (B, nz, Z, Z) NCHW -> (nz, B, Z, Z) */
    float *z = be->alloc(be, (size_t)B * nz), *zc = malloc((size_t)B * nz * sizeof(float));
    if (Z > 1) fx_nchw_to_cnhw(zc, fx_get(fx, "%s.z", tag)->data, B, mc.nz, ZZ);
    else memcpy(zc, fx_get(fx, "%s.z", tag)->data, (size_t)B * nz * sizeof(float));
    be->upload(be, z, zc, (size_t)B * nz);
    free(zc);
    net_forward(&G, be, &ws, z, 0);
    const size_t n = (size_t)B * C * HW;
    float *h = malloc(n * sizeof(float)), *h2 = malloc(n * sizeof(float));
    be->download(be, h, G.y[G.nlayers - 1], n);
    fx_cnhw_to_nchw(h2, h, B, C, HW);
    snprintf(what, sizeof what, "generator (running stats) %s output", tag);
    fx_check(what, h2, fx_get(fx, "%s.out", tag)->data, n, 1e-5);
    /* backward of sum(out * dout) */
    fx_nchw_to_cnhw(h, fx_get(fx, "%s.dout", tag)->data, B, C, HW);
    be->upload(be, ws.act, h, n);
    be->zero(be, G.grads, G.nparams);
    const float *dz = net_backward(&G, be, &ws, z, ws.act, 1, 1); /* (nz, B) or (nz, B, Z, Z) */
    float *dzh = malloc((size_t)nz * B * sizeof(float)), *dzt = malloc((size_t)nz * B * sizeof(float));
    be->download(be, dzh, dz, (size_t)nz * B);
    fx_cnhw_to_nchw(dzt, dzh, B, mc.nz, ZZ);
    snprintf(what, sizeof what, "generator (running stats) %s d z", tag);
    fx_check(what, dzt, fx_get(fx, "%s.dz", tag)->data, (size_t)B * nz, 1e-5);
    float *gr = malloc(G.nparams * sizeof(float));
    be->download(be, gr, G.grads, G.nparams);
    for (int i = 0; i < G.ntensors; i++) {
        const TensorSpec *t = &G.tensor[i];
        snprintf(what, sizeof what, "generator (running stats) %s d %s", tag, t->name);
        fx_check(what, gr + t->offset, fx_get(fx, "grad.%s%s", prefix, t->name)->data, t->numel, 1e-5);
    }
    free(h); free(h2); free(dzh); free(dzt); free(gr); free(buf);
    be->free(be, z);
    if (G.labels) be->free(be, G.labels);
    workspace_free(&ws, be);
    net_free(&G, be);
    be->destroy(be);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures", *device = argc > 2 ? argv[2] : "cpu";
    enum { NF = 8 };
    const char *names[NF] = {"dcgan", "seed", "cdcgan", "cseed", "acdcgan", "acseed", "smooth", "decay"};
    for (int i = 0; i < NF; i++) run(dir, names[i], device, 0, -1);
    if (!strncmp(device, "cpu", 3)) {
        for (int i = 0; i < NF; i++) run(dir, names[i], device, 1, 0);
        /* the D step as one pass (the GPU's default), on both memory plans */
        for (int i = 0; i < NF; i++) run(dir, names[i], device, 1, -1);
        for (int i = 0; i < NF; i++) run(dir, names[i], device, 0, 1);
    } else { /* the GPU runs the D step as one pass by default: the two passes too */
        for (int i = 0; i < NF; i++) run(dir, names[i], device, 0, 0);
    }
    run_ema(dir, "dcgan", device);
    run_ema(dir, "cseed", device);
    Fixture fx;
    char path[1024];
    snprintf(path, sizeof path, "%s/generator_eval.bin", dir);
    fx_load(&fx, path);
    const char *tags[5] = {"dcgan", "seed", "cseed", "dcgan_grid", "cdcgan_grid"};
    for (int i = 0; i < 5; i++) run_generator_eval(&fx, tags[i], device);
    fx_free(&fx);
    return fx_summary("test_train");
}
