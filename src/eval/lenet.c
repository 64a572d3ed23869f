/* lenet.c: the classifier of dcgan eval on the engine's layers (see lenet.h). */
#include "lenet.h"
#include "../core/util.h"
#include "../io/fileio.h"
#include "../io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lenet_init(Lenet *l, Backend *be, int B, int training, uint64_t seed) {
    memset(l, 0, sizeof *l);
    l->be = be;
    l->B = B;
    l->training = training;
    net_build_classifier(&l->net, LENET_SIZE, 1, LENET_WIDTH, LENET_FEATURES, LENET_CLASSES);
    net_alloc(&l->net, be, B, training);
    workspace_alloc(&l->ws, be, NULL, &l->net);
    l->x = be->alloc(be, (size_t)B * LENET_SIZE * LENET_SIZE);
    l->logits = be->alloc(be, (size_t)B * LENET_CLASSES);
    l->feat = be->alloc(be, (size_t)B * LENET_FEATURES);
    l->probs = be->alloc(be, (size_t)B * LENET_CLASSES);
    l->dlogits = be->alloc(be, (size_t)B * LENET_CLASSES);
    l->labels = be->alloc(be, (size_t)B);
    l->loss = be->alloc(be, 1);
    l->adam_ctr = be->counters_alloc(be, 1);
    /* He-style init for a LeakyReLU network: N(0, sqrt(2 / fan_in)) weights, zero biases, BN (1, 0) */
    Rng r;
    rng_seed(&r, seed, 21);
    Net *n = &l->net;
    float *p = xcalloc(n->nparams, sizeof(float));
    for (int li = 0; li < n->nlayers; li++) {
        const Layer *L = &n->layer[li];
        const TensorSpec *w = &n->tensor[L->t_w];
        const size_t fan_in = w->numel / (size_t)w->dims[0]; /* conv (Co, Ci, k, k), linear (out, in) */
        rng_fill_normal(&r, p + w->offset, w->numel, 0.0f, (float)sqrt(2.0 / (double)fan_in));
        if (L->t_gamma >= 0)
            for (size_t i = 0; i < n->tensor[L->t_gamma].numel; i++) p[n->tensor[L->t_gamma].offset + i] = 1.0f;
    }
    be->upload(be, n->params, p, n->nparams);
    free(p);
    float *b = xcalloc(n->nbuf ? n->nbuf : 1, sizeof(float));
    for (int li = 0; li < n->nlayers; li++)
        if (n->layer[li].t_rvar >= 0)
            for (size_t i = 0; i < n->buffer[n->layer[li].t_rvar].numel; i++) b[n->buffer[n->layer[li].t_rvar].offset + i] = 1.0f;
    be->upload(be, n->buffers, b, n->nbuf);
    free(b);
}

void lenet_free(Lenet *l) {
    Backend *be = l->be;
    net_free(&l->net, be);
    workspace_free(&l->ws, be);
    float *t[] = {l->x, l->logits, l->feat, l->probs, l->dlogits, l->labels, l->loss};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) be->free(be, t[i]);
    be->counters_free(be, l->adam_ctr);
}

int lenet_save(const Lenet *l, const char *path, char *err, size_t errlen) {
    const Net *n = &l->net;
    float *p = xmalloc(n->nparams * sizeof(float)), *b = xmalloc((n->nbuf ? n->nbuf : 1) * sizeof(float));
    l->be->download(l->be, p, n->params, n->nparams);
    l->be->download(l->be, b, n->buffers, n->nbuf);
    StTensor t[2 * NET_MAX_TENSORS];
    int k = 0;
    for (int pass = 0; pass < 2; pass++) {
        const int count = pass ? n->nbuffers : n->ntensors;
        for (int i = 0; i < count; i++) {
            const TensorSpec *s = pass ? &n->buffer[i] : &n->tensor[i];
            StTensor *x = &t[k++];
            memset(x, 0, sizeof *x);
            snprintf(x->name, sizeof x->name, "%s", s->name);
            x->dtype = ST_F32;
            x->ndim = s->ndim;
            for (int d = 0; d < s->ndim; d++) x->dims[d] = s->dims[d];
            x->data = (pass ? b : p) + s->offset;
            x->nbytes = s->numel * sizeof(float);
        }
    }
    const int rc = safetensors_write(path, t, k, err, errlen);
    free(p);
    free(b);
    return rc;
}

int lenet_load(Lenet *l, const char *path, char *err, size_t errlen) {
    size_t len;
    uint8_t *buf = read_file(path, &len, 1u << 30);
    if (!buf) { snprintf(err, errlen, "cannot read the LeNet weights %s; retrain them with dcgan lenet", path); return -1; }
    StTensor *t = xmalloc(ST_MAX_TENSORS * sizeof(StTensor));
    int n = 0, rc = -1;
    char why[256];
    if (safetensors_parse(buf, len, t, &n, why, sizeof why) != 0) { snprintf(err, errlen, "%s: %s", path, why); goto done; }
    const Net *net = &l->net;
    for (int pass = 0; pass < 2; pass++) {
        const int count = pass ? net->nbuffers : net->ntensors;
        for (int i = 0; i < count; i++) {
            const TensorSpec *s = pass ? &net->buffer[i] : &net->tensor[i];
            const StTensor *x = safetensors_find(t, n, s->name);
            if (!x || x->dtype != ST_F32 || x->nbytes != s->numel * sizeof(float)) {
                snprintf(err, errlen, "%s lacks %s as float32 [%zu]; retrain it with dcgan lenet", path, s->name, s->numel);
                goto done;
            }
            float *tmp = xmalloc(x->nbytes);
            memcpy(tmp, x->data, x->nbytes);
            l->be->upload(l->be, (pass ? net->buffers : net->params) + s->offset, tmp, s->numel);
            free(tmp);
        }
    }
    rc = 0;
done:
    free(t);
    free(buf);
    return rc;
}

/* host (n, 1, S, S) -> backend CNHW (1, B, S, S); rows past n are zero */
static void put_images(Lenet *l, const float *images, int n) {
    const size_t per = (size_t)LENET_SIZE * LENET_SIZE;
    float *h = xcalloc((size_t)l->B * per, sizeof(float));
    memcpy(h, images, (size_t)n * per * sizeof(float)); /* one channel: NCHW and CNHW agree */
    l->be->upload(l->be, l->x, h, (size_t)l->B * per);
    free(h);
}

void lenet_run(Lenet *l, const float *images, int n, float *features, float *probs) {
    DCGAN_CHECK(n >= 1 && n <= l->B, "lenet_run: bad count");
    Backend *be = l->be;
    Net *net = &l->net;
    put_images(l, images, n);
    net_forward(net, be, &l->ws, l->x, 0);
    if (features) { /* the feature layer's output (F, B) -> (B, F) */
        be->transpose01(be, l->feat, net->y[2], LENET_FEATURES, l->B, 1);
        float *h = xmalloc((size_t)l->B * LENET_FEATURES * sizeof(float));
        be->download(be, h, l->feat, (size_t)l->B * LENET_FEATURES);
        memcpy(features, h, (size_t)n * LENET_FEATURES * sizeof(float));
        free(h);
    }
    if (probs) {
        be->transpose01(be, l->logits, net->y[3], LENET_CLASSES, l->B, 1);
        be->softmax_xent(be, NULL, l->probs, NULL, l->logits, NULL, l->B, LENET_CLASSES, 1.0f);
        float *h = xmalloc((size_t)l->B * LENET_CLASSES * sizeof(float));
        be->download(be, h, l->probs, (size_t)l->B * LENET_CLASSES);
        memcpy(probs, h, (size_t)n * LENET_CLASSES * sizeof(float));
        free(h);
    }
}

float lenet_train_step(Lenet *l, const float *images, const int32_t *labels, double lr) {
    Backend *be = l->be;
    Net *net = &l->net;
    put_images(l, images, l->B);
    float *lab = xmalloc((size_t)l->B * sizeof(float));
    for (int i = 0; i < l->B; i++) lab[i] = (float)labels[i];
    be->upload(be, l->labels, lab, (size_t)l->B);
    free(lab);
    net_forward(net, be, &l->ws, l->x, 1);
    be->transpose01(be, l->logits, net->y[3], LENET_CLASSES, l->B, 1);
    be->softmax_xent(be, l->loss, l->probs, l->dlogits, l->logits, l->labels, l->B, LENET_CLASSES, 1.0f);
    be->transpose01(be, l->ws.act, l->dlogits, l->B, LENET_CLASSES, 1); /* (B,K) -> (K,B) */
    be->zero(be, net->grads, net->nparams);
    net_backward(net, be, &l->ws, l->x, l->ws.act, 1, 0);
    be->counter_add(be, l->adam_ctr, 1);
    be->adam(be, net->params, net->grads, net->adam_m, net->adam_v, net->nparams, lr, 0.9, 0.999, 1e-8, l->adam_ctr,
             (LrDecay){0, 0, NULL});
    float loss;
    be->download(be, &loss, l->loss, 1);
    return loss;
}
