/* model.c: builds the G and D layer tables of both families, carves the flat parameter blocks,
 * and runs the forward and backward passes through the Backend interface (see model.h). */
#include "model.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *arch_name(Arch a) { return a == ARCH_SEED ? "seed" : "dcgan"; }

int arch_parse(const char *s, Arch *out) {
    if (!strcmp(s, "dcgan")) { *out = ARCH_DCGAN; return 0; }
    if (!strcmp(s, "seed")) { *out = ARCH_SEED; return 0; }
    return -1;
}

static int is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

int model_config_check(const ModelConfig *c, int batch, char *err, size_t errlen) {
#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    if (c->arch != ARCH_DCGAN && c->arch != ARCH_SEED) FAIL("unknown architecture; use --arch dcgan or --arch seed");
    if (c->channels != 1 && c->channels != 3) FAIL("--channels %d is not supported; use 1 (grayscale) or 3 (RGB)", c->channels);
    if (c->nz < 1 || c->nz > 4096) FAIL("--nz %d is out of range; use 1 to 4096 (default 100)", c->nz);
    if (c->gf < 1 || c->gf > 1024) FAIL("--gf %d is out of range; use 1 to 1024 (default 64)", c->gf);
    if (c->df < 1 || c->df > 1024) FAIL("--df %d is out of range; use 1 to 1024 (default 64)", c->df);
    if (c->nclasses == 1)
        FAIL("--conditional needs at least 2 classes, and the data has 1; give it images of several classes "
             "(one subfolder per class) or train without --conditional");
    if (c->nclasses < 0 || c->nclasses > MODEL_MAX_CLASSES)
        FAIL("--conditional supports 2 to %d classes, and the data has %d", MODEL_MAX_CLASSES, c->nclasses);
    if (c->aux && !c->nclasses) FAIL("--class-loss needs --conditional");
    if (c->d_labels && !c->nclasses) FAIL("D can take label planes only in a conditional model");
    if (c->proj && (!c->aux || c->d_labels)) FAIL("the projection term needs the class loss; use --class-loss above 0");
    if (c->nclasses && !c->aux && !c->d_labels)
        FAIL("a conditional D needs the label planes or the class loss; use --class-loss above 0 or leave it at 0");
    if (c->arch == ARCH_DCGAN) {
        if (!is_pow2(c->size) || c->size < 32 || c->size > 256)
            FAIL("--size %d is not possible for --arch dcgan; use 32, 64, 128 or 256 (or --arch seed for other multiples of 16)", c->size);
        if (c->gf * (c->size / 8) > 8192) FAIL("--gf %d is too wide at --size %d; use a smaller --gf", c->gf, c->size);
        if (c->df * (c->size / 8) > 8192) FAIL("--df %d is too wide at --size %d; use a smaller --df", c->df, c->size);
    } else {
        if (c->size % 16 != 0 || c->size < 16 || c->size > 512)
            FAIL("--size %d is not possible for --arch seed; use a multiple of 16 from 16 to 512 (e.g. 64 or 128)", c->size);
    }
    if (batch > 0) {
        /* batch norm needs more than one value per channel; the smallest BN map is G's first */
        int smallest = c->arch == ARCH_DCGAN ? 16 : (c->size / 16) * (c->size / 16);
        if ((long)batch * smallest < 2)
            FAIL("--batch %d is too small for batch norm at this size; use --batch 2 or more", batch);
        if (batch > 1 << 20) FAIL("--batch %d is too large; use at most %d", batch, 1 << 20);
    } else if (batch == 0 || batch < 0) {
        if (batch == 0) FAIL("--batch 0 is not possible; use --batch 1 or more (default 64)");
    }
    return 0;
#undef FAIL
}

void model_config_set_classes(ModelConfig *c, int K, int aux) {
    c->nclasses = K;
    c->aux = K > 0 && aux;
    c->d_labels = K > 0 && !aux;
    c->proj = c->aux;
}

/* ------------------------------------------------------------------------------------------------
 * table building */

static int add_spec(TensorSpec *t, int *count, size_t *total, const char *name, int ndim, int d0, int d1, int d2,
                    int d3) {
    DCGAN_CHECK(*count < NET_MAX_TENSORS, "too many tensors");
    TensorSpec *s = &t[*count];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim;
    int d[4] = {d0, d1, d2, d3};
    s->numel = 1;
    for (int i = 0; i < 4; i++) {
        s->dims[i] = i < ndim ? d[i] : 1;
        if (i < ndim) s->numel *= (size_t)d[i];
    }
    s->offset = *total;
    *total += s->numel;
    return (*count)++;
}

/* cin counts the input channels before the ncond label planes that a conditional layer joins to them */
static void add_layer(Net *n, LayerKind kind, int cin, int ncond, int hin, int cout, int hout, int k, int s, int p,
                      int bias, int bn, Act act) {
    DCGAN_CHECK(n->nlayers < NET_MAX_LAYERS, "too many layers");
    const int li = n->nlayers++;
    Layer *L = &n->layer[li];
    memset(L, 0, sizeof *L);
    L->kind = kind;
    cin += ncond;
    L->cin = cin; L->hin = hin; L->win = hin;
    L->ncond = ncond;
    L->cout = cout; L->hout = hout; L->wout = hout;
    L->k = k; L->s = s; L->p = p;
    L->has_bias = bias; L->has_bn = bn; L->act = act;
    L->t_w = L->t_b = L->t_gamma = L->t_beta = L->t_rmean = L->t_rvar = -1;
    char name[32];
    snprintf(name, sizeof name, "L%d.weight", li);
    if (kind == LAYER_LINEAR)
        L->t_w = add_spec(n->tensor, &n->ntensors, &n->nparams, name, 2, cout * hout * hout, cin * hin * hin, 1, 1);
    else if (kind == LAYER_CONV)
        L->t_w = add_spec(n->tensor, &n->ntensors, &n->nparams, name, 4, cout, cin, k, k);
    else
        L->t_w = add_spec(n->tensor, &n->ntensors, &n->nparams, name, 4, cin, cout, k, k);
    if (bias) {
        snprintf(name, sizeof name, "L%d.bias", li);
        L->t_b = add_spec(n->tensor, &n->ntensors, &n->nparams, name, 1,
                          kind == LAYER_LINEAR ? cout * hout * hout : cout, 1, 1, 1);
    }
    if (bn) {
        snprintf(name, sizeof name, "L%d.bn.weight", li);
        L->t_gamma = add_spec(n->tensor, &n->ntensors, &n->nparams, name, 1, cout, 1, 1, 1);
        snprintf(name, sizeof name, "L%d.bn.bias", li);
        L->t_beta = add_spec(n->tensor, &n->ntensors, &n->nparams, name, 1, cout, 1, 1, 1);
        snprintf(name, sizeof name, "L%d.bn.running_mean", li);
        L->t_rmean = add_spec(n->buffer, &n->nbuffers, &n->nbuf, name, 1, cout, 1, 1, 1);
        snprintf(name, sizeof name, "L%d.bn.running_var", li);
        L->t_rvar = add_spec(n->buffer, &n->nbuffers, &n->nbuf, name, 1, cout, 1, 1, 1);
    }
}

static void net_reset(Net *n) {
    memset(n, 0, sizeof *n);
    n->bn_momentum = 0.1f;
}

void net_build_generator(Net *n, const ModelConfig *c) { net_build_generator_grid(n, c, 1); }

void net_build_generator_grid(Net *n, const ModelConfig *c, int zside) {
    DCGAN_CHECK(zside == 1 || (c->arch == ARCH_DCGAN && zside > 1), "a grid of latents needs the dcgan family's G");
    net_reset(n);
    n->in_c = c->nz; n->in_h = n->in_w = zside;
    const int K = c->nclasses; /* label planes joined to every layer's input (0: none) */
    if (c->arch == ARCH_DCGAN) {
        /* ConvT(nz -> gf*S/8, k4 s1 p0): 1x1 -> 4x4 (zside -> zside + 3), then k4 s2 p1 doubling the
         * size, halving the width; s counts the training size's steps, side the actual one */
        int ch = c->gf * (c->size / 8), s = 4, side = zside + 3;
        add_layer(n, LAYER_CONVT, c->nz, K, zside, ch, side, 4, 1, 0, 0, 1, ACT_RELU);
        while (s * 2 < c->size) {
            add_layer(n, LAYER_CONVT, ch, K, side, ch / 2, side * 2, 4, 2, 1, 0, 1, ACT_RELU);
            ch /= 2; s *= 2; side *= 2;
        }
        add_layer(n, LAYER_CONVT, ch, K, side, c->channels, side * 2, 4, 2, 1, 0, 0, ACT_TANH);
    } else {
        /* linear(nz -> 8gf * (S/16)^2) reshaped, then 4 ConvT k5 s2 p2 output_padding 1, with bias */
        int s = c->size / 16, ch = c->gf * 8;
        add_layer(n, LAYER_LINEAR, c->nz, K, 1, ch, s, 0, 0, 0, 1, 1, ACT_RELU);
        for (int i = 0; i < 3; i++) {
            add_layer(n, LAYER_CONVT, ch, K, s, ch / 2, s * 2, 5, 2, 2, 1, 1, ACT_RELU);
            ch /= 2; s *= 2;
        }
        add_layer(n, LAYER_CONVT, ch, K, s, c->channels, s * 2, 5, 2, 2, 1, 0, ACT_TANH);
    }
}

void net_build_discriminator(Net *n, const ModelConfig *c) {
    net_reset(n);
    n->in_c = c->channels; n->in_h = n->in_w = c->size;
    /* the logit, then the class logits, then the projection logits */
    const int nout = 1 + (c->aux ? c->nclasses : 0) + (c->proj ? c->nclasses : 0);
    const int K = c->d_labels ? c->nclasses : 0;        /* label planes joined to each layer */
    if (c->arch == ARCH_DCGAN) {
        int ch = c->df, s = c->size / 2;
        add_layer(n, LAYER_CONV, c->channels, K, c->size, ch, s, 4, 2, 1, 0, 0, ACT_LRELU);
        while (s > 4) {
            add_layer(n, LAYER_CONV, ch, K, s, ch * 2, s / 2, 4, 2, 1, 0, 1, ACT_LRELU);
            ch *= 2; s /= 2;
        }
        add_layer(n, LAYER_CONV, ch, K, 4, nout, 1, 4, 1, 0, 0, 0, ACT_NONE);
    } else {
        int ch = c->df, s = c->size / 2;
        add_layer(n, LAYER_CONV, c->channels, K, c->size, ch, s, 5, 2, 2, 1, 0, ACT_LRELU);
        for (int i = 0; i < 3; i++) {
            add_layer(n, LAYER_CONV, ch, K, s, ch * 2, s / 2, 5, 2, 2, 1, 1, ACT_LRELU);
            ch *= 2; s /= 2;
        }
        add_layer(n, LAYER_LINEAR, ch, K, s, nout, 1, 0, 0, 0, 1, 0, ACT_NONE);
    }
}

void net_build_classifier(Net *n, int size, int channels, int width, int features, int classes) {
    net_reset(n);
    n->in_c = channels; n->in_h = n->in_w = size;
    add_layer(n, LAYER_CONV, channels, 0, size, width, size / 2, 5, 2, 2, 1, 0, ACT_LRELU);
    add_layer(n, LAYER_CONV, width, 0, size / 2, 2 * width, size / 4, 5, 2, 2, 0, 1, ACT_LRELU);
    add_layer(n, LAYER_LINEAR, 2 * width, 0, size / 4, features, 1, 0, 0, 0, 1, 0, ACT_LRELU);
    add_layer(n, LAYER_LINEAR, features, 0, 1, classes, 1, 0, 0, 0, 1, 0, ACT_NONE);
}

/* ------------------------------------------------------------------------------------------------
 * memory */

static size_t layer_out_numel(const Layer *L) { return (size_t)L->cout * L->hout * L->wout; }
static size_t layer_in_numel(const Layer *L) { return (size_t)L->cin * L->hin * L->win; }

size_t net_output_numel(const Net *n) { return layer_out_numel(&n->layer[n->nlayers - 1]); }

/* Label planes the layer after l joins to l's output (its buffers keep room for them after it). */
static int next_ncond(const Net *n, int l) { return l + 1 < n->nlayers ? n->layer[l + 1].ncond : 0; }
/* Values per sample of layer l's activated output with that room. */
static size_t layer_out_room(const Net *n, int l) {
    const Layer *L = &n->layer[l];
    return (size_t)(L->cout + next_ncond(n, l)) * L->hout * L->wout;
}
/* Layer 0's input is assembled in n->xin: z re-laid out for a 1x1 transposed convolution, or any
 * input joined with the label planes. */
static int input_in_xin(const Net *n) {
    const Layer *L = &n->layer[0];
    return L->ncond || (L->kind == LAYER_CONVT && L->hin == 1 && n->in_h == 1);
}

void net_alloc(Net *n, Backend *be, int B, int training) {
    n->Bmax = n->B = B;
    n->groups = 1;
    n->params = be->alloc(be, n->nparams);
    if (training) {
        n->grads = be->alloc(be, n->nparams);
        n->adam_m = be->alloc(be, n->nparams);
        n->adam_v = be->alloc(be, n->nparams);
    }
    n->buffers = be->alloc(be, n->nbuf ? n->nbuf : 1);
    const Act a0 = n->layer[0].act; /* its backward must need only the output's sign */
    n->recompute0 = n->nlayers > 1 && !n->layer[0].has_bn && n->layer[0].kind == LAYER_CONV && !be->keep_activations &&
                    (a0 == ACT_NONE || a0 == ACT_RELU || a0 == ACT_LRELU);
    size_t nact = 0, nstat = 0;
    const int keep = be->keep_activations && training;
    for (int l = n->recompute0 ? 1 : 0; l < n->nlayers; l++) {
        /* y: pre-BN output, or (without BN) the activated output with room for the next layer's
         * label planes; a: the kept activated output of a BN layer, with that room */
        const Layer *L = &n->layer[l];
        nact += (size_t)B * (L->has_bn ? layer_out_numel(L) : layer_out_room(n, l));
        if (keep && L->has_bn) nact += (size_t)B * layer_out_room(n, l);
        if (n->layer[l].has_bn) nstat += 2 * (size_t)n->layer[l].cout * NET_MAX_GROUPS;
    }
    n->acts = be->alloc(be, nact);
    int widest = 1;
    for (int l = 0; l < n->nlayers; l++)
        if (n->layer[l].has_bn && n->layer[l].cout > widest) widest = n->layer[l].cout;
    n->sync_buf = be->alloc(be, 8 * (size_t)widest);
    n->stats = be->alloc(be, nstat ? nstat : 1);
    size_t a = 0, s = 0;
    for (int l = 0; l < n->nlayers; l++) {
        const Layer *L = &n->layer[l];
        if (l == 0 && n->recompute0) {
            n->y[l] = NULL; /* lives in the workspace, see layer_out() */
        } else {
            n->y[l] = n->acts + a;
            a += (size_t)B * (L->has_bn ? layer_out_numel(L) : layer_out_room(n, l));
        }
        n->a[l] = NULL;
        if (keep && L->has_bn) {
            n->a[l] = n->acts + a;
            a += (size_t)B * layer_out_room(n, l);
        }
        if (L->has_bn) {
            n->mean[l] = n->stats + s; s += (size_t)L->cout * NET_MAX_GROUPS;
            n->rstd[l] = n->stats + s; s += (size_t)L->cout * NET_MAX_GROUPS;
        } else {
            n->mean[l] = n->rstd[l] = NULL;
        }
    }
    if (input_in_xin(n)) n->xin = be->alloc(be, (size_t)B * layer_in_numel(&n->layer[0])); /* see layer0_input */
}

void net_free(Net *n, Backend *be) {
    float **blocks[] = {&n->params, &n->grads, &n->adam_m, &n->adam_v, &n->buffers, &n->acts, &n->stats, &n->xin, &n->sync_buf};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        if (*blocks[i]) be->free(be, *blocks[i]);
        *blocks[i] = NULL;
    }
}

void net_init_params(Net *n, Backend *be, Rng *rng) {
    float *host = xcalloc(n->nparams, sizeof(float));
    for (int l = 0; l < n->nlayers; l++) {
        const Layer *L = &n->layer[l];
        const TensorSpec *w = &n->tensor[L->t_w];
        rng_fill_normal(rng, host + w->offset, w->numel, 0.0f, 0.02f);
        if (L->has_bn) {
            const TensorSpec *g = &n->tensor[L->t_gamma];
            rng_fill_normal(rng, host + g->offset, g->numel, 1.0f, 0.02f);
        }
        /* biases and BN beta stay 0 */
    }
    be->upload(be, n->params, host, n->nparams);
    free(host);
    float *buf = xcalloc(n->nbuf ? n->nbuf : 1, sizeof(float));
    for (int l = 0; l < n->nlayers; l++) {
        const Layer *L = &n->layer[l];
        if (!L->has_bn) continue;
        const TensorSpec *v = &n->buffer[L->t_rvar];
        for (size_t i = 0; i < v->numel; i++) buf[v->offset + i] = 1.0f;
    }
    be->upload(be, n->buffers, buf, n->nbuf ? n->nbuf : 1);
    free(buf);
    if (n->grads) {
        be->zero(be, n->grads, n->nparams);
        be->zero(be, n->adam_m, n->nparams);
        be->zero(be, n->adam_v, n->nparams);
    }
}

int net_find_tensor(const Net *n, const char *name) {
    for (int i = 0; i < n->ntensors; i++)
        if (!strcmp(n->tensor[i].name, name)) return i;
    return -1;
}

int net_find_buffer(const Net *n, const char *name) {
    for (int i = 0; i < n->nbuffers; i++)
        if (!strcmp(n->buffer[i].name, name)) return i;
    return -1;
}

void workspace_alloc(Workspace *ws, Backend *be, const Net *g, const Net *d) {
    /* act: any layer's input, or output with the next layer's label planes; grad: a network's input
     * (gradient); bits: the signs of a recomputed first layer's output; lin: a linear layer's input.
     * In floats for the whole batch of each net. */
    size_t act = 1, grad = 1, bits = 1, lin = 1;
    const Net *nets[2] = {g, d};
    for (int k = 0; k < 2; k++) {
        const Net *n = nets[k];
        if (!n) continue;
        const size_t nb = (size_t)n->Bmax;
        for (int l = 0; l < n->nlayers; l++) {
            const Layer *L = &n->layer[l];
            const size_t i = layer_in_numel(L) * nb, r = layer_out_room(n, l) * nb;
            if (r > act) act = r;
            if (i > act) act = i;
            if (L->kind == LAYER_LINEAR && i > lin) lin = i;
        }
        if (layer_in_numel(&n->layer[0]) * nb > grad) grad = layer_in_numel(&n->layer[0]) * nb;
        if (n->recompute0) {
            const size_t words = (nb * layer_out_numel(&n->layer[0]) + 31) / 32;
            if (words > bits) bits = words;
        }
    }
    ws->act_n = act;
    ws->grad_n = grad;
    ws->lin_n = lin;
    ws->act = be->alloc(be, ws->act_n);
    ws->grad = be->alloc(be, ws->grad_n);
    ws->bits = (uint32_t *)be->alloc(be, bits); /* 32-bit words in a float tensor */
    ws->lin = be->alloc(be, ws->lin_n);
}

void workspace_free(Workspace *ws, Backend *be) {
    float **p[] = {&ws->act, &ws->grad, &ws->lin};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        if (*p[i]) be->free(be, *p[i]);
        *p[i] = NULL;
    }
    if (ws->bits) be->free(be, (float *)ws->bits);
    ws->bits = NULL;
}

/* ------------------------------------------------------------------------------------------------
 * forward / backward */

static ConvShape layer_shape(const Layer *L, int B) {
    ConvShape s = {B, L->cin, L->hin, L->win, L->cout, L->hout, L->wout, L->k, L->s, L->p};
    return s;
}

static float *P(const Net *n, int t) { return t < 0 ? NULL : n->params + n->tensor[t].offset; }
static float *G(const Net *n, int t) { return t < 0 ? NULL : n->grads + n->tensor[t].offset; }
static float *BUF(const Net *n, int t) { return t < 0 ? NULL : n->buffers + n->buffer[t].offset; }

/* Writes the label planes of a conditional layer L after the other channels of its input x
 * (cin, B, hin, win): x is the previous layer's output in a buffer with room for them. */
static void join_labels(const Net *n, Backend *be, float *x, const Layer *L) {
    if (!L->ncond) return;
    const size_t hw = (size_t)L->hin * L->win;
    DCGAN_CHECK(n->labels, "a conditional network ran without labels");
    be->label_planes(be, x + (size_t)(L->cin - L->ncond) * n->B * hw, n->labels, L->ncond, n->B, (int)hw);
}

/* Layer 0's input as the layer wants it (see input_in_xin): the caller's x, or n->xin holding z
 * (B, nz) re-laid out as (nz, B, 1, 1), or x joined with the label planes, CNHW. */
static const float *layer0_input(Net *n, Backend *be, const float *x) {
    const Layer *L = &n->layer[0];
    if (!input_in_xin(n)) return x;
    if (n->in_h == 1) /* z (B, nz) -> (nz, B, 1, 1) */
        be->transpose01(be, n->xin, x, n->B, L->cin - L->ncond, 1);
    else /* images (C, B, S, S): the first channels of the joined input */
        be->copy(be, n->xin, x, (size_t)(L->cin - L->ncond) * n->B * L->hin * L->win);
    join_labels(n, be, n->xin, L);
    return n->xin;
}

/* A linear layer's input is CNHW (and must be flattened per sample) except z given directly to G. */
static int linear_input_is_cnhw(const Net *n, int l) { return l > 0 || input_in_xin(n); }

/* Where layer l's output lives. */
static float *layer_out(Net *n, Workspace *ws, int l) { return (l == 0 && n->recompute0) ? ws->act : n->y[l]; }

/* Forward of layer 0 when it is not stored (no batch norm): conv, activation, into ws->act, and the
 * signs of its output into ws->bits for its own backward (its input gradient overwrites it). */
static void recompute_layer0(Net *n, Backend *be, Workspace *ws, const float *x) {
    const Layer *L = &n->layer[0];
    const ConvShape s = layer_shape(L, n->B);
    const size_t outn = (size_t)n->B * layer_out_numel(L);
    be->conv2d_forward(be, ws->act, input_in_xin(n) ? n->xin : x, P(n, L->t_w), P(n, L->t_b), &s);
    if (L->act != ACT_NONE) be->act_forward(be, ws->act, ws->act, outn, L->act);
    be->sign_bits(be, ws->bits, ws->act, outn);
    join_labels(n, be, ws->act, &n->layer[1]);
}

void net_forward(Net *n, Backend *be, Workspace *ws, const float *x, int batch_stats) {
    const int B = n->B;
    DCGAN_CHECK(B >= 1 && B <= n->Bmax && n->groups >= 1 && n->groups <= NET_MAX_GROUPS && B % n->groups == 0 &&
                    (n->groups == 1 || (!n->sync && batch_stats)),
                "net_forward: batch %d in %d groups (allocated for %d)", B, n->groups, n->Bmax);
    n->bn_frozen = !batch_stats;
    const float *in = layer0_input(n, be, x);
    for (int l = 0; l < n->nlayers; l++) {
        const Layer *L = &n->layer[l];
        float *y = layer_out(n, ws, l);
        const ConvShape s = layer_shape(L, B);
        const size_t outn = (size_t)B * layer_out_numel(L);
        switch (L->kind) {
        case LAYER_CONV: be->conv2d_forward(be, y, in, P(n, L->t_w), P(n, L->t_b), &s); break;
        case LAYER_CONVT: be->conv_transpose2d_forward(be, y, in, P(n, L->t_w), P(n, L->t_b), &s); break;
        case LAYER_LINEAR: {
            const int I = (int)layer_in_numel(L), O = (int)layer_out_numel(L);
            const float *flat = in;
            if (linear_input_is_cnhw(n, l)) { /* CNHW (cin, B, hw) -> (B, cin*hw) */
                be->transpose01(be, ws->lin, in, L->cin, B, L->hin * L->win);
                flat = ws->lin;
            }
            /* (B, O) into ws->act (free: the input, if it was there, is flattened), then CNHW */
            be->linear_forward(be, ws->act, flat, P(n, L->t_w), P(n, L->t_b), B, I, O);
            be->transpose01(be, y, ws->act, B, L->cout, L->hout * L->wout);
            break;
        }
        }
        if (L->has_bn) {
            /* y keeps the pre-BN values for backward; the activation goes to the scratch */
            const int N = B * L->hout * L->wout;
            float *act = n->a[l] ? n->a[l] : ws->act;
            if (batch_stats && n->sync) { /* statistics over all ranks' batches */
                be->batchnorm_local_stats(be, n->sync_buf, y, L->cout, N);
                n->sync->forward(n->sync->ctx, be, n->sync_buf, n->mean[l], n->rstd[l], BUF(n, L->t_rmean),
                                 BUF(n, L->t_rvar), L->cout, N, n->bn_momentum, 1e-5f);
                be->batchnorm_apply(be, act, y, n->mean[l], n->rstd[l], P(n, L->t_gamma), P(n, L->t_beta), L->cout,
                                    N, 1, L->act);
            } else {
                be->batchnorm_forward(be, act, n->mean[l], n->rstd[l], BUF(n, L->t_rmean), BUF(n, L->t_rvar), y,
                                      P(n, L->t_gamma), P(n, L->t_beta), L->cout, N, n->groups, batch_stats, n->bn_momentum,
                                      1e-5f, L->act);
            }
            in = act;
            if (l + 1 < n->nlayers) join_labels(n, be, act, &n->layer[l + 1]);
        } else {
            if (L->act != ACT_NONE) be->act_forward(be, y, y, outn, L->act);
            in = y;
            if (l + 1 < n->nlayers) join_labels(n, be, y, &n->layer[l + 1]);
        }
    }
}

float *net_backward(Net *n, Backend *be, Workspace *ws, const float *x, float *dout, int param_grads,
                    int input_grad) {
    const int B = n->B;
    DCGAN_CHECK(dout == ws->act || dout == ws->grad, "net_backward: dout must be a workspace buffer");
    float *g = dout; /* gradient of layer l's activated output; ws->act after the first layer */
    for (int l = n->nlayers - 1; l >= 0; l--, g = ws->act) {
        const Layer *L = &n->layer[l];
        const size_t outn = (size_t)B * layer_out_numel(L);
        /* gy: gradient of the conv / linear output, written over the stored output (dead from here;
         * for a recomputed layer 0 that is ws->act itself, which holds g: in place) */
        float *gy = layer_out(n, ws, l);
        if (L->has_bn && n->bn_frozen) {
            /* after an inference-mode forward batch norm was a fixed affine map per channel (the
             * running statistics); the batch-statistics backward with zero batch sums is exactly
             * its gradient, dx = gamma * rstd * dz. dgamma / dbeta take this batch's own sums. */
            const int N = B * L->hout * L->wout, C = L->cout;
            float *local = n->sync_buf, *global = n->sync_buf + 4 * C;
            be->zero(be, global, 4 * (size_t)C);
            if (param_grads)
                be->batchnorm_backward_sums(be, local, g, n->y[l], n->mean[l], n->rstd[l], P(n, L->t_gamma),
                                            P(n, L->t_beta), C, N, L->act);
            be->batchnorm_backward_reduced(be, gy, param_grads ? G(n, L->t_gamma) : NULL,
                                           param_grads ? G(n, L->t_beta) : NULL, g, n->y[l], n->mean[l], n->rstd[l],
                                           P(n, L->t_gamma), P(n, L->t_beta), local, global, C, N, 1.0, L->act);
        } else if (L->has_bn && n->sync) {
            const int N = B * L->hout * L->wout, C = L->cout;
            float *local = n->sync_buf, *global = n->sync_buf + 4 * C;
            be->batchnorm_backward_sums(be, local, g, n->y[l], n->mean[l], n->rstd[l], P(n, L->t_gamma),
                                        P(n, L->t_beta), C, N, L->act);
            const double n_global = n->sync->backward(n->sync->ctx, be, local, global, C, N);
            be->batchnorm_backward_reduced(be, gy, param_grads ? G(n, L->t_gamma) : NULL,
                                           param_grads ? G(n, L->t_beta) : NULL, g, n->y[l], n->mean[l], n->rstd[l],
                                           P(n, L->t_gamma), P(n, L->t_beta), local, global, C, N, n_global, L->act);
        } else if (L->has_bn) {
            be->batchnorm_backward(be, gy, param_grads ? G(n, L->t_gamma) : NULL, param_grads ? G(n, L->t_beta) : NULL,
                                   g, n->y[l], n->mean[l], n->rstd[l], P(n, L->t_gamma), P(n, L->t_beta), L->cout,
                                   B * L->hout * L->wout, n->groups, L->act);
        } else if (l == 0 && n->recompute0) {
            /* its output was overwritten by layer 1's input gradient; the signs were kept */
            be->act_backward_bits(be, gy, g, ws->bits, outn, L->act);
        } else if (L->act != ACT_NONE) {
            be->act_backward(be, gy, g, gy, outn, L->act);
        } else {
            be->copy(be, gy, g, outn);
        }

        /* this layer's input */
        const float *in;
        if (l == 0) {
            in = input_in_xin(n) ? n->xin : x;
        } else {
            const Layer *Lp = &n->layer[l - 1];
            if (Lp->has_bn && n->a[l - 1]) {
                in = n->a[l - 1]; /* its label planes were joined in the forward pass */
            } else if (Lp->has_bn) {
                be->batchnorm_apply(be, ws->act, n->y[l - 1], n->mean[l - 1], n->rstd[l - 1], P(n, Lp->t_gamma),
                                    P(n, Lp->t_beta), Lp->cout, B * Lp->hout * Lp->wout, n->groups, Lp->act);
                join_labels(n, be, ws->act, L);
                in = ws->act;
            } else if (l == 1 && n->recompute0) {
                recompute_layer0(n, be, ws, x);
                in = ws->act;
            } else {
                in = n->y[l - 1];
            }
        }
        const int need_din = l > 0 || input_grad;
        /* the input gradient goes over the input in ws->act (the backends finish the weight gradient
         * first), or for layer 0 to ws->grad */
        float *din = !need_din ? NULL : l == 0 ? ws->grad : ws->act;
        float *dw = param_grads ? G(n, L->t_w) : NULL;
        /* A per-channel (conv) bias that feeds a training-mode batch norm has an identically zero
         * gradient (the norm subtracts the channel's batch mean); computing it would only feed
         * rounding noise to Adam. A linear layer's bias is per feature, not per channel: kept. */
        const int bias_is_dead = L->has_bn && !n->bn_frozen && L->kind != LAYER_LINEAR;
        float *db = (param_grads && L->has_bias && !bias_is_dead) ? G(n, L->t_b) : NULL;
        const ConvShape s = layer_shape(L, B);
        switch (L->kind) {
        case LAYER_CONV: be->conv2d_backward(be, din, dw, db, gy, in, P(n, L->t_w), &s); break;
        case LAYER_CONVT: be->conv_transpose2d_backward(be, din, dw, db, gy, in, P(n, L->t_w), &s); break;
        case LAYER_LINEAR: {
            const int I = (int)layer_in_numel(L), O = (int)layer_out_numel(L);
            const float *flat = in;
            if (linear_input_is_cnhw(n, l)) {
                be->transpose01(be, ws->lin, in, L->cin, B, L->hin * L->win);
                flat = ws->lin;
            }
            /* gradient (cout, B, hw) -> (B, O) into ws->act (the input there is flattened) */
            be->transpose01(be, ws->act, gy, L->cout, B, L->hout * L->wout);
            if (dw || db) be->linear_backward(be, NULL, dw, db, ws->act, flat, P(n, L->t_w), B, I, O);
            if (din) { /* flat din over the flattened input, then CNHW */
                be->linear_backward(be, ws->lin, NULL, NULL, ws->act, NULL, P(n, L->t_w), B, I, O);
                be->transpose01(be, din, ws->lin, B, L->cin, L->hin * L->win);
            }
            break;
        }
        }
        if (!need_din) return NULL;
    }
    return ws->grad;
}

/* ------------------------------------------------------------------------------------------------
 * exchange names */

void net_export_name(const Net *n, const ModelConfig *c, int generator, int is_buffer, int idx, char *out, size_t cap) {
    const TensorSpec *spec = is_buffer ? &n->buffer[idx] : &n->tensor[idx];
    if (c->arch != ARCH_DCGAN) { snprintf(out, cap, "%s", spec->name); return; }
    for (int li = 0; li < n->nlayers; li++) {
        const Layer *L = &n->layer[li];
        /* nn.Sequential indices of pytorch/examples: G is (conv, bn, relu) per layer; D's first layer
         * has no batch norm (conv, lrelu), the others (conv, bn, lrelu) */
        const int ci = generator ? 3 * li : (li == 0 ? 0 : 3 * li - 1), bi = ci + 1;
        if (is_buffer) {
            if (idx == L->t_rmean) { snprintf(out, cap, "main.%d.running_mean", bi); return; }
            if (idx == L->t_rvar) { snprintf(out, cap, "main.%d.running_var", bi); return; }
        } else {
            if (idx == L->t_w) { snprintf(out, cap, "main.%d.weight", ci); return; }
            if (idx == L->t_b) { snprintf(out, cap, "main.%d.bias", ci); return; }
            if (idx == L->t_gamma) { snprintf(out, cap, "main.%d.weight", bi); return; }
            if (idx == L->t_beta) { snprintf(out, cap, "main.%d.bias", bi); return; }
        }
    }
    snprintf(out, cap, "%s", spec->name);
}

int net_bn_index(const Net *n, int generator, const ModelConfig *c, int li) {
    if (c->arch != ARCH_DCGAN || !n->layer[li].has_bn) return -1;
    return (generator ? 3 * li : (li == 0 ? 0 : 3 * li - 1)) + 1;
}
