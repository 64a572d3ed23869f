/* dcgan_api.c: libdcgan's public functions (include/dcgan.h) on top of the engine. */
#include "../../include/dcgan.h"
#include "../core/util.h"
#include "../io/checkpoint.h"
#include "../train/sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DCGAN_VERSION "1.0.0"

struct dcgan_generator {
    Backend *be;
    Gan g;
    CheckpointMeta meta;
};

const char *dcgan_version(void) { return DCGAN_VERSION " (api 1)"; }

dcgan_generator *dcgan_open(const char *checkpoint, int threads, char *err, size_t errlen) {
    char path[4200];
    if (!checkpoint) { snprintf(err, errlen, "dcgan_open: no checkpoint path"); return NULL; }
    if (threads < 0) { snprintf(err, errlen, "dcgan_open: threads must be 0 (all cores) or more"); return NULL; }
    dcgan_generator *h = xcalloc(1, sizeof *h);
    if (checkpoint_resolve(checkpoint, path, sizeof path, err, errlen) != 0 ||
        checkpoint_read_meta(path, &h->meta, err, errlen) != 0) {
        free(h);
        return NULL;
    }
    h->be = backend_create("cpu", threads);
    gan_init(&h->g, h->be, &h->meta.mc, &h->meta.tc, h->meta.batch, h->meta.seed);
    if (checkpoint_load(path, &h->g, &h->meta, err, errlen) != 0) {
        dcgan_close(h);
        return NULL;
    }
    gan_generator_from_ema(&h->g); /* the moving average of G, where the run kept one */
    return h;
}

void dcgan_shape(const dcgan_generator *g, int *nz, int *channels, int *size) {
    if (nz) *nz = g->meta.mc.nz;
    if (channels) *channels = g->meta.mc.channels;
    if (size) *size = g->meta.mc.size;
}

int dcgan_num_classes(const dcgan_generator *g) { return g->meta.mc.nclasses; }

static int refuse_conditional(const dcgan_generator *g, const char *fn, char *err, size_t errlen) {
    if (!g->meta.mc.nclasses) return 0;
    snprintf(err, errlen, "%s: the model is conditional (%d classes); use dcgan_generate_labels", fn, g->meta.mc.nclasses);
    return -1;
}

int dcgan_generate(dcgan_generator *g, const float *z, int n, float *out, char *err, size_t errlen) {
    if (!g || !z || !out || n < 1) { snprintf(err, errlen, "dcgan_generate: needs a generator, z, out and n >= 1"); return -1; }
    if (refuse_conditional(g, "dcgan_generate", err, errlen)) return -1;
    generate_images(g->be, &g->meta.mc, &g->g.G, z, NULL, n, 0, out);
    return 0;
}

int dcgan_generate_labels(dcgan_generator *g, const float *z, const int32_t *labels, int n, float *out, char *err,
                          size_t errlen) {
    if (!g || !z || !labels || !out || n < 1) {
        snprintf(err, errlen, "dcgan_generate_labels: needs a generator, z, labels, out and n >= 1");
        return -1;
    }
    const int K = g->meta.mc.nclasses;
    if (!K) { snprintf(err, errlen, "dcgan_generate_labels: the model is not conditional; use dcgan_generate"); return -1; }
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= K) {
            snprintf(err, errlen, "dcgan_generate_labels: labels[%d] = %d is not a class (0 to %d)", i, (int)labels[i], K - 1);
            return -1;
        }
    generate_images(g->be, &g->meta.mc, &g->g.G, z, labels, n, 0, out);
    return 0;
}

int dcgan_generate_seed(dcgan_generator *g, uint64_t seed, int n, float *out, char *err, size_t errlen) {
    if (!g || !out || n < 1) { snprintf(err, errlen, "dcgan_generate_seed: needs a generator, out and n >= 1"); return -1; }
    if (refuse_conditional(g, "dcgan_generate_seed", err, errlen)) return -1;
    float *z = xmalloc((size_t)n * g->meta.mc.nz * sizeof(float));
    sample_z(z, n, g->meta.mc.nz, g->meta.tc.zdist, seed);
    generate_images(g->be, &g->meta.mc, &g->g.G, z, NULL, n, 0, out);
    free(z);
    return 0;
}

void dcgan_close(dcgan_generator *g) {
    if (!g) return;
    gan_free(&g->g);
    if (g->be) g->be->destroy(g->be);
    free(g);
}
