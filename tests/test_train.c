/* test_train.c: three whole training iterations of a small `dcgan` and a small `seed` model, and of
 * class-conditional ones (labels joined to every layer's input; with and without the auxiliary
 * classifier of AC-GAN), against PyTorch
 * (tests/fixtures/train_*.bin), from the same initial weights, z, real batches and labels.
 * Tolerance: ||ours - torch|| / ||torch|| <= 1e-4 on each loss and on every parameter and
 * running-statistics tensor after the 3 iterations.
 * usage: test_train FIXTURE_DIR [device] */
#include "fixture.h"
#include "../src/train/gan.h"

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

/* keep: the backend keeps every activation instead of recomputing (as the CUDA backend does), which
 * runs the model's other memory plan on the CPU too */
static void run(const char *dir, const char *name, const char *device, int keep) {
    Fixture fx;
    ModelConfig mc;
    TrainConfig tc;
    int B, steps;
    fx_load_train(&fx, dir, name, &mc, &tc, &B, &steps);
    Backend *be = backend_create(device, 0);
    if (keep) be->keep_activations = 1;
    char label[64];
    snprintf(label, sizeof label, "%s%s", name, keep ? "(kept activations)" : "");
    name = label;
    Gan g;
    gan_init(&g, be, &mc, &tc, B, 1);
    fx_load_net(be, &g.G, &fx, "G.");
    fx_load_net(be, &g.D, &fx, "D.");
    char what[128];
    for (int s = 0; s < steps; s++) {
        be->upload(be, g.z, fx_get(&fx, "step%d.z", s)->data, (size_t)B * mc.nz);
        gan_set_real(&g, fx_get(&fx, "step%d.real", s)->data);
        fx_set_labels(&g, &fx, s);
        gan_step(&g);
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

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures", *device = argc > 2 ? argv[2] : "cpu";
    const char *names[6] = {"dcgan", "seed", "cdcgan", "cseed", "acdcgan", "acseed"};
    for (int i = 0; i < 6; i++) run(dir, names[i], device, 0);
    if (!strncmp(device, "cpu", 3))
        for (int i = 0; i < 6; i++) run(dir, names[i], device, 1);
    return fx_summary("test_train");
}
