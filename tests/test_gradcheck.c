/* test_gradcheck.c: finite-difference checks of every layer's backward on small random shapes.
 *
 * For a layer y = f(x, w) and a fixed random r, take L = sum(r * y). The backward pass with
 * dout = r gives dL/dx and dL/dw. For a random direction u, the directional derivative
 * <grad, u> must equal (L(x + h u) - L(x - h u)) / 2h, the central difference (computed with
 * float32 layers, accumulated in double). Relative tolerance 2e-3 (float32 differences).
 * usage: test_gradcheck [device] */
#include "fixture.h"
#include "../src/core/rng.h"
#include "../src/ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Backend *be;
static Rng rng;

typedef struct {
    const char *name;
    int nin;          /* number of differentiable inputs */
    float *in[4];     /* host copies */
    size_t n_in[4];
    const char *in_name[4];
    size_t n_out;
    /* forward: out = f(in); backward: grads of in from dout */
    void (*fwd)(void *ctx, float *out, float **in);
    void (*bwd)(void *ctx, float **din, const float *dout, float **in, const float *out);
    void *ctx;
} Case;

static float *dv(const float *h, size_t n) { float *d = be->alloc(be, n); be->upload(be, d, h, n); return d; }
static float *rnd(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    rng_fill_normal(&rng, p, n, 0.0f, scale);
    return p;
}

/* L = sum(r * f(in)) with the inputs on the device */
static double loss_of(Case *c, float **hin, const float *r) {
    float *din[4], *out = be->alloc(be, c->n_out), *h = malloc(c->n_out * sizeof(float));
    for (int i = 0; i < c->nin; i++) din[i] = dv(hin[i], c->n_in[i]);
    c->fwd(c->ctx, out, din);
    be->download(be, h, out, c->n_out);
    double L = 0.0;
    for (size_t k = 0; k < c->n_out; k++) L += (double)r[k] * h[k];
    for (int i = 0; i < c->nin; i++) be->free(be, din[i]);
    be->free(be, out);
    free(h);
    return L;
}

static void check_case(Case *c, float h) {
    float *r = rnd(c->n_out, 1.0f);
    /* analytic gradients */
    float *din[4], *gin[4], *out = be->alloc(be, c->n_out), *dr = dv(r, c->n_out);
    for (int i = 0; i < c->nin; i++) { din[i] = dv(c->in[i], c->n_in[i]); gin[i] = be->alloc(be, c->n_in[i]); }
    c->fwd(c->ctx, out, din);
    c->bwd(c->ctx, gin, dr, din, out);
    for (int i = 0; i < c->nin; i++) {
        if (!c->in_name[i]) continue;
        float *g = malloc(c->n_in[i] * sizeof(float)), *u = rnd(c->n_in[i], 1.0f);
        be->download(be, g, gin[i], c->n_in[i]);
        double analytic = 0.0;
        for (size_t k = 0; k < c->n_in[i]; k++) analytic += (double)g[k] * u[k];
        float *save = c->in[i], *plus = malloc(c->n_in[i] * sizeof(float)), *minus = malloc(c->n_in[i] * sizeof(float));
        for (size_t k = 0; k < c->n_in[i]; k++) { plus[k] = save[k] + h * u[k]; minus[k] = save[k] - h * u[k]; }
        c->in[i] = plus;
        double lp = loss_of(c, c->in, r);
        c->in[i] = minus;
        double lm = loss_of(c, c->in, r);
        c->in[i] = save;
        /* the step actually taken in float32 is (plus - minus) / 2, not exactly h u */
        double num = (lp - lm) / (2.0 * h);
        double rel = fabs(num - analytic) / fmax(fabs(analytic), 1e-3);
        int ok = rel <= 2e-3;
        printf("%s gradcheck %-28s d/d%-6s analytic=% .6e numeric=% .6e rel_err=%.2e\n", ok ? "PASS" : "FAIL", c->name,
               c->in_name[i], analytic, num, rel);
        ok ? fx_passed++ : fx_failed++;
        free(g); free(u); free(plus); free(minus);
    }
    for (int i = 0; i < c->nin; i++) { be->free(be, din[i]); be->free(be, gin[i]); }
    be->free(be, out); be->free(be, dr); free(r);
}

/* ---- layer adapters ---- */
typedef struct { ConvShape s; int transpose, bias; } ConvCtx;
static void conv_fwd(void *v, float *out, float **in) {
    ConvCtx *c = v;
    if (c->transpose) be->conv_transpose2d_forward(be, out, in[0], in[1], c->bias ? in[2] : NULL, &c->s);
    else be->conv2d_forward(be, out, in[0], in[1], c->bias ? in[2] : NULL, &c->s);
}
static void conv_bwd(void *v, float **din, const float *dout, float **in, const float *out) {
    ConvCtx *c = v;
    if (c->transpose) be->conv_transpose2d_backward(be, din[0], din[1], c->bias ? din[2] : NULL, dout, in[0], in[1], &c->s);
    else be->conv2d_backward(be, din[0], din[1], c->bias ? din[2] : NULL, dout, in[0], in[1], &c->s);
}
static void conv_check(const char *name, int transpose, int B, int Ci, int Hi, int Co, int K, int S, int P, int op, int bias) {
    ConvCtx c = {{B, Ci, Hi, Hi, Co, 0, 0, K, S, P}, transpose, bias};
    c.s.Ho = c.s.Wo = transpose ? convt_out_size(Hi, K, S, P, op) : conv_out_size(Hi, K, S, P);
    Case k = {name, bias ? 3 : 2, {0}, {0}, {"x", "w", "b"}, (size_t)B * Co * c.s.Ho * c.s.Wo, conv_fwd, conv_bwd, &c};
    k.n_in[0] = (size_t)B * Ci * Hi * Hi;
    k.n_in[1] = (size_t)Ci * Co * K * K;
    k.n_in[2] = Co;
    for (int i = 0; i < k.nin; i++) k.in[i] = rnd(k.n_in[i], 0.5f);
    check_case(&k, 1e-2f);
    for (int i = 0; i < k.nin; i++) free(k.in[i]);
}

typedef struct { int B, I, O; } LinCtx;
static void lin_fwd(void *v, float *out, float **in) { LinCtx *c = v; be->linear_forward(be, out, in[0], in[1], in[2], c->B, c->I, c->O); }
static void lin_bwd(void *v, float **din, const float *dout, float **in, const float *out) {
    LinCtx *c = v;
    be->linear_backward(be, din[0], din[1], din[2], dout, in[0], in[1], c->B, c->I, c->O);
}

typedef struct { int C, N; Act act; float *mean, *rstd, *rm, *rv; } BnCtx;
static void bn_fwd(void *v, float *out, float **in) {
    BnCtx *c = v;
    be->batchnorm_forward(be, out, c->mean, c->rstd, NULL, NULL, in[0], in[1], in[2], c->C, c->N, 1, 1, 0.1f, 1e-5f, c->act);
}
static void bn_bwd(void *v, float **din, const float *dout, float **in, const float *out) {
    BnCtx *c = v;
    be->batchnorm_backward(be, din[0], din[1], din[2], dout, in[0], c->mean, c->rstd, in[1], in[2], c->C, c->N, 1, c->act);
}

typedef struct { size_t n; Act act; } ActCtx;
static void act_fwd(void *v, float *out, float **in) { ActCtx *c = v; be->act_forward(be, out, in[0], c->n, c->act); }
static void act_bwd(void *v, float **din, const float *dout, float **in, const float *out) {
    ActCtx *c = v;
    be->act_backward(be, din[0], dout, out, c->n, c->act);
}

typedef struct { int B; float target, scale; float *scal; } BceCtx;
static void bce_fwd(void *v, float *out, float **in) { BceCtx *c = v; be->bce_logits(be, out, NULL, NULL, in[0], c->B, c->target, c->scale); }
static void bce_bwd(void *v, float **din, const float *dout, float **in, const float *out) {
    /* dout is a single scalar r: d(r*loss)/dlogit = r * dloss/dlogit */
    BceCtx *c = v;
    float r, *tmp = malloc(c->B * sizeof(float));
    be->download(be, &r, dout, 1);
    be->bce_logits(be, c->scal, NULL, din[0], in[0], c->B, c->target, c->scale);
    be->download(be, tmp, din[0], c->B);
    for (int i = 0; i < c->B; i++) tmp[i] *= r;
    be->upload(be, din[0], tmp, c->B);
    free(tmp);
}

/* the projection term: y = x + t[label] (and dt = onehot(label) * dy, dx = dy) */
typedef struct { int K, B; float *labels; } PickCtx;
static void pick_fwd(void *v, float *out, float **in) { PickCtx *c = v; be->label_pick(be, out, in[0], in[1], c->labels, c->K, c->B); }
static void pick_bwd(void *v, float **din, const float *dout, float **in, const float *out) {
    PickCtx *c = v;
    be->copy(be, din[0], dout, (size_t)c->B);
    be->label_scatter(be, din[1], dout, c->labels, c->K, c->B);
}

int main(int argc, char **argv) {
    be = backend_create(argc > 1 ? argv[1] : "cpu", 0);
    rng_seed(&rng, 42, 0);
    conv_check("conv2d k4 s2 p1", 0, 2, 3, 8, 4, 4, 2, 1, 0, 0);
    conv_check("conv2d k5 s2 p2 +bias", 0, 2, 3, 8, 4, 5, 2, 2, 0, 1);
    conv_check("conv2d k4 s1 p0", 0, 3, 4, 4, 1, 4, 1, 0, 0, 0);
    conv_check("conv_t2d k4 s1 p0", 1, 2, 5, 1, 3, 4, 1, 0, 0, 0);
    conv_check("conv_t2d k4 s2 p1", 1, 2, 4, 4, 3, 4, 2, 1, 0, 0);
    conv_check("conv_t2d k5 s2 p2 op1 +bias", 1, 2, 4, 4, 3, 5, 2, 2, 1, 1);

    LinCtx lc = {3, 7, 5};
    Case lk = {"linear", 3, {rnd(21, 0.5f), rnd(35, 0.5f), rnd(5, 0.5f)}, {21, 35, 5}, {"x", "w", "b"}, 15, lin_fwd, lin_bwd, &lc};
    check_case(&lk, 1e-2f);
    for (int i = 0; i < lk.nin; i++) free(lk.in[i]);

    const Act acts[3] = {ACT_NONE, ACT_RELU, ACT_LRELU};
    const char *an[3] = {"batchnorm", "batchnorm+relu", "batchnorm+lrelu"};
    for (int a = 0; a < 3; a++) {
        BnCtx bc = {3, 40, acts[a], be->alloc(be, 3), be->alloc(be, 3), NULL, NULL};
        Case bk = {an[a], 3, {rnd(120, 1.0f), rnd(3, 0.3f), rnd(3, 0.3f)}, {120, 3, 3}, {"x", "gamma", "beta"}, 120, bn_fwd, bn_bwd, &bc};
        for (int i = 0; i < 3; i++) bk.in[1][i] += 1.0f;
        check_case(&bk, 1e-3f);
        for (int i = 0; i < bk.nin; i++) free(bk.in[i]);
        be->free(be, bc.mean); be->free(be, bc.rstd);
    }
    const Act pa[3] = {ACT_RELU, ACT_LRELU, ACT_TANH};
    const char *pn[3] = {"relu", "leaky_relu", "tanh"};
    for (int a = 0; a < 3; a++) {
        ActCtx ac = {64, pa[a]};
        Case ak = {pn[a], 1, {rnd(64, 1.0f)}, {64}, {"x"}, 64, act_fwd, act_bwd, &ac};
        check_case(&ak, 1e-3f);
        free(ak.in[0]);
    }
    for (int t = 0; t < 3; t++) {
        BceCtx bc = {6, t == 1 ? 0.0f : 1.0f, t == 2 ? -1.0f : 1.0f, be->alloc(be, 1)};
        Case bk = {t == 0 ? "bce_logits target 1" : t == 1 ? "bce_logits target 0" : "bce_logits minimax", 1,
                   {rnd(6, 2.0f)}, {6}, {"logit"}, 1, bce_fwd, bce_bwd, &bc};
        check_case(&bk, 1e-3f);
        free(bk.in[0]);
        be->free(be, bc.scal);
    }
    {
        const float lab[5] = {2, 0, 3, 2, 1};
        PickCtx pc = {4, 5, dv(lab, 5)};
        Case pk = {"label_pick (projection)", 2, {rnd(5, 1.0f), rnd(20, 1.0f)}, {5, 20}, {"x", "t"}, 5, pick_fwd, pick_bwd, &pc};
        check_case(&pk, 1e-2f);
        for (int i = 0; i < pk.nin; i++) free(pk.in[i]);
        be->free(be, pc.labels);
    }
    be->destroy(be);
    return fx_summary("test_gradcheck");
}
