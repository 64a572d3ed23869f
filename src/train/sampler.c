/* sampler.c: inference-only generator (see sampler.h). */
#include "sampler.h"
#include "../core/util.h"

#include <stdlib.h>
#include <string.h>

void sampler_init(Sampler *s, Backend *be, const ModelConfig *mc, int B) { sampler_init_grid(s, be, mc, B, 1); }

void sampler_init_grid(Sampler *s, Backend *be, const ModelConfig *mc, int B, int zside) {
    memset(s, 0, sizeof *s);
    s->be = be;
    s->mc = *mc;
    s->B = B;
    s->zside = zside;
    s->side = GRID_SIDE(mc->size, zside);
    net_build_generator_grid(&s->G, mc, zside);
    net_alloc(&s->G, be, B, 0);
    workspace_alloc(&s->ws, be, &s->G, NULL);
    s->z = be->alloc(be, (size_t)B * mc->nz * zside * zside);
    if (mc->nclasses) {
        s->labels = be->alloc(be, (size_t)B);
        s->G.labels = s->labels;
    }
}

void sampler_free(Sampler *s) {
    net_free(&s->G, s->be);
    workspace_free(&s->ws, s->be);
    s->be->free(s->be, s->z);
    if (s->labels) s->be->free(s->be, s->labels);
}

void sampler_copy_from(Sampler *s, const Net *G) {
    DCGAN_CHECK(G->nparams == s->G.nparams && G->nbuf == s->G.nbuf, "sampler: generator shapes differ");
    s->be->copy(s->be, s->G.params, G->params, G->nparams);
    s->be->copy(s->be, s->G.buffers, G->buffers, G->nbuf);
}

void sampler_set_host(Sampler *s, const float *params, const float *buffers) {
    s->be->upload(s->be, s->G.params, params, s->G.nparams);
    s->be->upload(s->be, s->G.buffers, buffers, s->G.nbuf);
}

void sampler_run(Sampler *s, const float *z, const int32_t *labels, int n, int batch_stats, float *out) {
    DCGAN_CHECK(n >= 1 && n <= s->B, "sampler: bad count");
    DCGAN_CHECK(!s->mc.nclasses == !labels, "sampler: labels are needed for, and only for, a conditional model");
    Backend *be = s->be;
    const int nz = s->mc.nz, C = s->mc.channels, S = s->side;
    const size_t zz = (size_t)s->zside * s->zside; /* latents per image */
    float *zh = xcalloc((size_t)s->B * nz * zz, sizeof(float));
    if (zz == 1) memcpy(zh, z, (size_t)n * nz * sizeof(float));
    else /* (n, zz, nz) -> (nz, B, zz) */
        for (int i = 0; i < n; i++)
            for (size_t q = 0; q < zz; q++)
                for (int c = 0; c < nz; c++) zh[((size_t)c * s->B + i) * zz + q] = z[((size_t)i * zz + q) * nz + c];
    be->upload(be, s->z, zh, (size_t)s->B * nz * zz);
    free(zh);
    if (labels) labels_upload(be, s->labels, labels, n, s->B, s->mc.nclasses);
    /* batch-statistics mode must not move the running statistics of the copy: save and restore */
    float *saved = NULL;
    if (batch_stats) {
        saved = xmalloc((s->G.nbuf ? s->G.nbuf : 1) * sizeof(float));
        be->download(be, saved, s->G.buffers, s->G.nbuf);
    }
    net_forward(&s->G, be, &s->ws, s->z, batch_stats);
    if (saved) {
        be->upload(be, s->G.buffers, saved, s->G.nbuf);
        free(saved);
    }
    /* (C, B, S, S) -> (B, C, S, S) on the host */
    float *cn = xmalloc((size_t)C * s->B * S * S * sizeof(float));
    be->download(be, cn, s->G.y[s->G.nlayers - 1], (size_t)C * s->B * S * S);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++)
            memcpy(out + ((size_t)i * C + c) * S * S, cn + ((size_t)c * s->B + i) * S * S, (size_t)S * S * sizeof(float));
    free(cn);
}

void sample_z(float *z, int n, int nz, ZDist dist, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed, 9);
    if (dist == Z_UNIFORM) rng_fill_uniform(&r, z, (size_t)n * nz, -1.0f, 1.0f);
    else rng_fill_normal(&r, z, (size_t)n * nz, 0.0f, 1.0f);
}

void grid_labels(int32_t *labels, int n, int cols, int K) {
    for (int i = 0; i < n; i++) labels[i] = (i / cols) % K;
}

void generate_images(Backend *be, const ModelConfig *mc, const Net *G, const float *z, const int32_t *labels, int n,
                     int batch_stats, float *out) {
    generate_images_grid(be, mc, G, z, labels, n, batch_stats, 1, out);
}

void generate_images_grid(Backend *be, const ModelConfig *mc, const Net *G, const float *z, const int32_t *labels, int n,
                          int batch_stats, int zside, float *out) {
    const int side = GRID_SIDE(mc->size, zside);
    /* up to 256 images of the training size at once, fewer as they grow (the activations scale with
     * the area); batch statistics need the whole batch at once */
    const double fit = 256.0 * mc->size * mc->size / ((double)side * side);
    const int B = batch_stats ? n : n < fit ? n : fit >= 1 ? (int)fit : 1;
    Sampler s;
    sampler_init_grid(&s, be, mc, B, zside);
    sampler_copy_from(&s, G);
    const size_t per = (size_t)mc->channels * side * side, zper = (size_t)mc->nz * zside * zside;
    for (int i = 0; i < n; i += B) {
        const int m = n - i < B ? n - i : B;
        sampler_run(&s, z + (size_t)i * zper, labels ? labels + i : NULL, m, batch_stats, out + (size_t)i * per);
    }
    sampler_free(&s);
}
