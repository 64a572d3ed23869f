/* test_ops.c: every op of the Backend interface but the convolutions, on a device against the CPU
 * backend, from the same random inputs: the transposes, the activations and their sign-bit
 * backward, batch norm (1 and 2 groups, training and inference, the synchronized form's three
 * parts), the two losses, the label ops, linear layers (wide, and one output), the counters and
 * the ring of recent losses, Adam and the moving average, the random draws, and (where the device
 * records graphs) a recorded sequence replayed twice against the same ops run twice; and a chain of
 * two convolutions with batch norm and activations between, forward and backward, op by op and
 * replayed (on the CUDA backend in NHWC, DCGAN_CUDA_LAYOUT=2, the activations stay in its views
 * between ops with DCGAN_CUDA_LAZY=1: the values read back, also after a replay, must be the current
 * ones); and a bias gradient of 3 channels over thousands of values, from a view and not.
 * Tolerance per tensor: ||device - cpu|| / ||cpu|| <= 1e-6 where the two sum in other orders or
 * use other math libraries; the same bits where the op is a copy or promises them (random draws).
 * usage: test_ops DEVICE   (cuda:fp32 on a GPU; with DCGAN_CUDA_BACKEND pointing at the plugin of
 * tests/cuda_emu, the CUDA backend's own code emulated on the CPU) */
#include "fixture.h"
#include "../src/core/rng.h"
#include "../src/ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-6

static Backend *cpu, *dev;
static Rng rng;

/* A tensor on both backends. Every pair is freed at the end. */
typedef struct {
    float *c, *d;
    size_t n;
} Pair;
#define MAX_PAIRS 512
static Pair pairs[MAX_PAIRS];
static int npairs;

static Pair pair_from(const float *h, size_t n) {
    if (npairs == MAX_PAIRS) { fprintf(stderr, "test_ops: more than %d tensors\n", MAX_PAIRS); exit(1); }
    Pair p = {cpu->alloc(cpu, n), dev->alloc(dev, n), n};
    cpu->upload(cpu, p.c, h, n);
    dev->upload(dev, p.d, h, n);
    return pairs[npairs++] = p;
}
/* uniform in [lo, hi) */
static Pair pair_rand(size_t n, float lo, float hi) {
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * rng_uniform(&rng);
    Pair p = pair_from(h, n);
    free(h);
    return p;
}
static Pair pair_zero(size_t n) {
    float *h = calloc(n, sizeof(float));
    Pair p = pair_from(h, n);
    free(h);
    return p;
}
/* class indices as floats in [0, K) */
static Pair pair_labels(int B, int K) {
    float *h = malloc((size_t)B * sizeof(float));
    for (int i = 0; i < B; i++) h[i] = (float)(i * 7 % K);
    Pair p = pair_from(h, (size_t)B);
    free(h);
    return p;
}

static void check(const char *what, Pair p, double tol) {
    float *hc = malloc(p.n * sizeof(float)), *hd = malloc(p.n * sizeof(float));
    cpu->download(cpu, hc, p.c, p.n);
    dev->download(dev, hd, p.d, p.n);
    fx_check(what, hd, hc, p.n, tol);
    free(hc); free(hd);
}
/* the same bits (for bit masks kept in float tensors, which are not numbers) */
static void check_bits(const char *what, Pair p, size_t words) {
    float *hc = malloc(words * sizeof(float)), *hd = malloc(words * sizeof(float));
    cpu->download(cpu, hc, p.c, words);
    dev->download(dev, hd, p.d, words);
    fx_same_bits(what, hd, hc, words);
    free(hc); free(hd);
}

static const char *act_name(Act a) { return a == ACT_NONE ? "none" : a == ACT_RELU ? "relu" : a == ACT_LRELU ? "lrelu" : "tanh"; }

static void transposes(void) {
    const int A = 3, Bn = 5, R = 7;
    Pair in = pair_rand((size_t)A * Bn * R, -1, 1), out = pair_zero((size_t)A * Bn * R);
    cpu->transpose01(cpu, out.c, in.c, A, Bn, R);
    dev->transpose01(dev, out.d, in.d, A, Bn, R);
    check("transpose01 (3,5,7)", out, 0);
}

static void activations(void) {
    const size_t n = 1000;
    char what[96];
    for (Act a = ACT_NONE; a <= ACT_TANH; a++) {
        Pair x = pair_rand(n, -3, 3), y = pair_zero(n), g = pair_rand(n, -1, 1), dx = pair_zero(n);
        cpu->act_forward(cpu, y.c, x.c, n, a);
        dev->act_forward(dev, y.d, x.d, n, a);
        snprintf(what, sizeof what, "act %s forward", act_name(a)); check(what, y, TOL);
        cpu->act_backward(cpu, dx.c, g.c, y.c, n, a);
        dev->act_backward(dev, dx.d, g.d, y.d, n, a);
        snprintf(what, sizeof what, "act %s backward", act_name(a)); check(what, dx, TOL);
        if (a == ACT_TANH) continue;
        /* sign bits over a length that ends inside a word */
        const size_t m = n - 7, words = (m + 31) / 32;
        Pair bits = pair_zero(words), db = pair_zero(m);
        cpu->sign_bits(cpu, (uint32_t *)bits.c, y.c, m);
        dev->sign_bits(dev, (uint32_t *)bits.d, y.d, m);
        snprintf(what, sizeof what, "sign bits after %s (%zu values)", act_name(a), m); check_bits(what, bits, words);
        cpu->act_backward_bits(cpu, db.c, g.c, (const uint32_t *)bits.c, m, a);
        dev->act_backward_bits(dev, db.d, g.d, (const uint32_t *)bits.d, m, a);
        snprintf(what, sizeof what, "act %s backward from sign bits", act_name(a)); check(what, db, TOL);
    }
}

static void batchnorm(void) {
    const int C = 5;
    char what[160];
    /* rows of 2333 values (not a multiple of the lanes or the block; several blocks a row) and of
     * 9001 (on the CUDA backend's CNHW path three chunks, the last short, combined by bn_combine) */
    for (int per = 2333; per <= 9001; per += 6668)
        for (int groups = 1; groups <= 2; groups++)
            for (Act a = ACT_NONE; a <= ACT_TANH; a++) {
                const int N = groups * per;
                const size_t n = (size_t)C * N, R = (size_t)C * groups;
                Pair x = pair_rand(n, -2, 3), gam = pair_rand(C, 0.5f, 1.5f), bet = pair_rand(C, -0.5f, 0.5f);
                Pair rm = pair_rand(C, -0.1f, 0.1f), rv = pair_rand(C, 0.5f, 1.5f), mean = pair_zero(R), rstd = pair_zero(R);
                Pair y = pair_zero(n), again = pair_zero(n), g = pair_rand(n, -1, 1), dx = pair_zero(n);
                Pair dgam = pair_rand(C, -1, 1), dbet = pair_rand(C, -1, 1); /* they accumulate */
                cpu->batchnorm_forward(cpu, y.c, mean.c, rstd.c, rm.c, rv.c, x.c, gam.c, bet.c, C, N, groups, 1, 0.1f, 1e-5f, a);
                dev->batchnorm_forward(dev, y.d, mean.d, rstd.d, rm.d, rv.d, x.d, gam.d, bet.d, C, N, groups, 1, 0.1f, 1e-5f, a);
                const char *ga = act_name(a);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: out", ga, groups, per); check(what, y, TOL);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: mean", ga, groups, per); check(what, mean, TOL);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: rstd", ga, groups, per); check(what, rstd, TOL);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: running_mean", ga, groups, per); check(what, rm, TOL);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: running_var", ga, groups, per); check(what, rv, TOL);
                cpu->batchnorm_apply(cpu, again.c, x.c, mean.c, rstd.c, gam.c, bet.c, C, N, groups, a);
                dev->batchnorm_apply(dev, again.d, x.d, mean.d, rstd.d, gam.d, bet.d, C, N, groups, a);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: apply", ga, groups, per); check(what, again, TOL);
                cpu->batchnorm_backward(cpu, dx.c, dgam.c, dbet.c, g.c, x.c, mean.c, rstd.c, gam.c, bet.c, C, N, groups, a);
                dev->batchnorm_backward(dev, dx.d, dgam.d, dbet.d, g.d, x.d, mean.d, rstd.d, gam.d, bet.d, C, N, groups, a);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: backward dx", ga, groups, per); check(what, dx, TOL);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: dgamma", ga, groups, per); check(what, dgam, TOL);
                snprintf(what, sizeof what, "batchnorm+%s %d group(s) of %d: dbeta", ga, groups, per); check(what, dbet, TOL);
                if (groups != 1) continue;
                /* inference: the running statistics */
                cpu->batchnorm_forward(cpu, y.c, mean.c, rstd.c, rm.c, rv.c, x.c, gam.c, bet.c, C, N, 1, 0, 0.1f, 1e-5f, a);
                dev->batchnorm_forward(dev, y.d, mean.d, rstd.d, rm.d, rv.d, x.d, gam.d, bet.d, C, N, 1, 0, 0.1f, 1e-5f, a);
                snprintf(what, sizeof what, "batchnorm+%s rows of %d: inference out", ga, per); check(what, y, TOL);
                /* the synchronized form on one rank: local statistics, backward sums, reduced backward */
                Pair st = pair_zero(4 * (size_t)C), sums = pair_zero(4 * (size_t)C), dx2 = pair_zero(n);
                cpu->batchnorm_local_stats(cpu, st.c, x.c, C, N);
                dev->batchnorm_local_stats(dev, st.d, x.d, C, N);
                snprintf(what, sizeof what, "batchnorm rows of %d: local statistics (hi/lo)", per); check(what, st, TOL);
                cpu->batchnorm_backward_sums(cpu, sums.c, g.c, x.c, mean.c, rstd.c, gam.c, bet.c, C, N, a);
                dev->batchnorm_backward_sums(dev, sums.d, g.d, x.d, mean.d, rstd.d, gam.d, bet.d, C, N, a);
                snprintf(what, sizeof what, "batchnorm+%s rows of %d: backward sums (hi/lo)", ga, per); check(what, sums, TOL);
                cpu->batchnorm_backward_reduced(cpu, dx2.c, dgam.c, dbet.c, g.c, x.c, mean.c, rstd.c, gam.c, bet.c, sums.c, sums.c,
                                                C, N, (double)N, a);
                dev->batchnorm_backward_reduced(dev, dx2.d, dgam.d, dbet.d, g.d, x.d, mean.d, rstd.d, gam.d, bet.d, sums.d, sums.d,
                                                C, N, (double)N, a);
                snprintf(what, sizeof what, "batchnorm+%s rows of %d: reduced backward dx", ga, per); check(what, dx2, TOL);
                snprintf(what, sizeof what, "batchnorm+%s rows of %d: reduced backward dgamma", ga, per); check(what, dgam, TOL);
            }
}

static void losses(void) {
    const int B = 37, K = 7;
    char what[96];
    for (int t = 0; t < 2; t++) {
        const float target = t ? 1.0f : 0.0f, scale = t ? 1.0f : -1.0f;
        Pair z = pair_rand((size_t)B, -4, 4), loss = pair_zero(1), prob = pair_zero(1), dz = pair_zero((size_t)B);
        cpu->bce_logits(cpu, loss.c, prob.c, dz.c, z.c, B, target, scale);
        dev->bce_logits(dev, loss.d, prob.d, dz.d, z.d, B, target, scale);
        snprintf(what, sizeof what, "bce target %g scale %g loss", target, scale); check(what, loss, TOL);
        snprintf(what, sizeof what, "bce target %g mean probability", target); check(what, prob, TOL);
        snprintf(what, sizeof what, "bce target %g dlogits", target); check(what, dz, TOL);
    }
    Pair z = pair_rand((size_t)B * K, -3, 3), lab = pair_labels(B, K), loss = pair_zero(1);
    Pair p = pair_zero((size_t)B * K), dz = pair_zero((size_t)B * K);
    cpu->softmax_xent(cpu, loss.c, p.c, dz.c, z.c, lab.c, B, K, 0.5f);
    dev->softmax_xent(dev, loss.d, p.d, dz.d, z.d, lab.d, B, K, 0.5f);
    check("softmax cross-entropy loss", loss, TOL);
    check("softmax probabilities", p, TOL);
    check("softmax cross-entropy dlogits", dz, TOL);
}

static void labels(void) {
    const int K = 4, B = 9, HW = 6;
    Pair lab = pair_labels(B, K), planes = pair_zero((size_t)K * B * HW);
    cpu->label_planes(cpu, planes.c, lab.c, K, B, HW);
    dev->label_planes(dev, planes.d, lab.d, K, B, HW);
    check("label planes", planes, 0);
    Pair x = pair_rand((size_t)B, -1, 1), t = pair_rand((size_t)K * B, -1, 1), y = pair_zero((size_t)B);
    cpu->label_pick(cpu, y.c, x.c, t.c, lab.c, K, B);
    dev->label_pick(dev, y.d, x.d, t.d, lab.d, K, B);
    check("label pick", y, 0);
    Pair dt = pair_rand((size_t)K * B, -1, 1); /* written whole */
    cpu->label_scatter(cpu, dt.c, x.c, lab.c, K, B);
    dev->label_scatter(dev, dt.d, x.d, lab.d, K, B);
    check("label scatter", dt, 0);
}

static void linear(void) {
    const int B = 6, Ni = 37;
    const int outs[2] = {11, 1}; /* a wide layer (a matrix product) and D's one-output kind */
    char what[96];
    for (int i = 0; i < 2; i++) {
        const int No = outs[i];
        Pair x = pair_rand((size_t)B * Ni, -1, 1), w = pair_rand((size_t)No * Ni, -0.3f, 0.3f), b = pair_rand((size_t)No, -1, 1);
        Pair y = pair_zero((size_t)B * No), g = pair_rand((size_t)B * No, -1, 1), dx = pair_zero((size_t)B * Ni);
        Pair dw = pair_rand((size_t)No * Ni, -1, 1), db = pair_rand((size_t)No, -1, 1); /* they accumulate */
        cpu->linear_forward(cpu, y.c, x.c, w.c, b.c, B, Ni, No);
        dev->linear_forward(dev, y.d, x.d, w.d, b.d, B, Ni, No);
        snprintf(what, sizeof what, "linear %d->%d forward", Ni, No); check(what, y, TOL);
        cpu->linear_backward(cpu, dx.c, dw.c, db.c, g.c, x.c, w.c, B, Ni, No);
        dev->linear_backward(dev, dx.d, dw.d, db.d, g.d, x.d, w.d, B, Ni, No);
        snprintf(what, sizeof what, "linear %d->%d dx", Ni, No); check(what, dx, TOL);
        snprintf(what, sizeof what, "linear %d->%d dw", Ni, No); check(what, dw, TOL);
        snprintf(what, sizeof what, "linear %d->%d dbias", Ni, No); check(what, db, TOL);
    }
}

/* Counters on both backends (their memory is the backend's). */
typedef struct {
    int64_t *c, *d;
} Ctr;
static Ctr ctr_new(int n, const int64_t *h) {
    Ctr k = {cpu->counters_alloc(cpu, n), dev->counters_alloc(dev, n)};
    cpu->counters_set(cpu, k.c, h, n);
    dev->counters_set(dev, k.d, h, n);
    return k;
}
static void ctr_free(Ctr k) {
    cpu->counters_free(cpu, k.c);
    dev->counters_free(dev, k.d);
}

/* One "iteration" of the counter-driven ops: Adam, the moving average, the ring, the draws. */
typedef struct {
    Pair p, gr, m, v, avg, sc, ring, z;
    Ctr ctr; /* [0]: Adam's step, [1]: the iteration */
} Iter;
static void iter_ops(Backend *be, int on_dev, Iter *it) {
#define T(pair) (on_dev ? (pair).d : (pair).c)
    int64_t *ctr = on_dev ? it->ctr.d : it->ctr.c;
    be->counter_add(be, ctr, 1);
    be->adam(be, T(it->p), T(it->gr), T(it->m), T(it->v), it->p.n, 2e-4, 0.5, 0.999, 1e-8, ctr, (LrDecay){0, 0, NULL});
    be->ema(be, T(it->avg), T(it->p), it->p.n, 0.999, ctr + 1);
    be->random_fill(be, T(it->z), it->z.n, 42, 1ull << 32, ctr + 1, 5, 0);
    be->copy(be, T(it->sc), T(it->z), it->sc.n);
    be->stash(be, T(it->ring), T(it->sc), it->sc.n, ctr + 1, 4);
    be->counter_add(be, ctr + 1, 1);
#undef T
}

/* The chain of views: x -> conv ci->c1 (k4 s2 p1) -> batch norm + lrelu -> tanh -> conv c1->c2 -> u
 * (both convolutions with a bias), and back from the gradient tanh(u). Two shapes: 8 -> 75 -> 260
 * at 16 -> 8 -> 4 pixels (75 channels: batch norm's channel tiles on views, 32 and 64, end
 * part-full; 260: more channels than a block has threads, for the bias; the second bias's gradient
 * summed from a view, the first's is zero through batch norm), and 4 -> 40 -> 8 at 62 -> 31 -> 15
 * (batch norm over 2 x 31 x 31 = 1922 pixels a channel: on a view several chunks, the last short).
 * With graphs, the device records the chain once and replays it for each of two inputs; every
 * tensor is read back after the second. */
typedef struct {
    int B, ci, hi, c1, h1, c2, h2;
} ChainShape;
typedef struct {
    Pair x, w1, y, z, t, w2, u, gu, gamma, beta, rm, rv, mean, rstd, dt, dtt, dy, dx, dw1, dw2, dgam, dbet, b2, db2, b1;
} Chain;
static void chain_ops(Backend *be, int on_dev, Chain *k, const ChainShape *sh) {
#define T(pair) (on_dev ? (pair).d : (pair).c)
    const ConvShape s1 = {sh->B, sh->ci, sh->hi, sh->hi, sh->c1, sh->h1, sh->h1, 4, 2, 1},
                    s2 = {sh->B, sh->c1, sh->h1, sh->h1, sh->c2, sh->h2, sh->h2, 4, 2, 1};
    const int N = sh->B * sh->h1 * sh->h1, C = sh->c1;
    be->zero(be, T(k->dw1), k->dw1.n);
    be->zero(be, T(k->dw2), k->dw2.n);
    be->zero(be, T(k->db2), k->db2.n);
    be->conv2d_forward(be, T(k->y), T(k->x), T(k->w1), T(k->b1), &s1);
    be->batchnorm_forward(be, T(k->z), T(k->mean), T(k->rstd), T(k->rm), T(k->rv), T(k->y), T(k->gamma), T(k->beta), C, N,
                          1, 1, 0.1f, 1e-5f, ACT_LRELU);
    be->act_forward(be, T(k->t), T(k->z), k->t.n, ACT_TANH);
    be->conv2d_forward(be, T(k->u), T(k->t), T(k->w2), T(k->b2), &s2);
    be->act_forward(be, T(k->gu), T(k->u), k->u.n, ACT_TANH);
    be->conv2d_backward(be, T(k->dtt), T(k->dw2), T(k->db2), T(k->gu), T(k->t), T(k->w2), &s2);
    be->act_backward(be, T(k->dt), T(k->dtt), T(k->t), k->t.n, ACT_TANH);
    be->batchnorm_backward(be, T(k->dy), T(k->dgam), T(k->dbet), T(k->dt), T(k->y), T(k->mean), T(k->rstd), T(k->gamma),
                           T(k->beta), C, N, 1, ACT_LRELU);
    be->conv2d_backward(be, T(k->dx), T(k->dw1), NULL, T(k->dy), T(k->x), T(k->w1), &s1);
#undef T
}
static void views(int graphs, const ChainShape *sh) {
    const size_t B = sh->B, nx = sh->ci * B * sh->hi * sh->hi, ny = sh->c1 * B * sh->h1 * sh->h1,
                 nu = sh->c2 * B * sh->h2 * sh->h2, n1 = (size_t)sh->c1 * sh->ci * 16, n2 = (size_t)sh->c2 * sh->c1 * 16;
    const size_t c1 = sh->c1, c2 = sh->c2;
    Chain k = {pair_rand(nx, -1, 1), pair_rand(n1, -0.2f, 0.2f), pair_zero(ny), pair_zero(ny), pair_zero(ny),
               pair_rand(n2, -0.1f, 0.1f), pair_zero(nu), pair_zero(nu), pair_rand(c1, 0.5f, 1.5f),
               pair_rand(c1, -0.5f, 0.5f), pair_zero(c1), pair_rand(c1, 0.5f, 1.5f), pair_zero(c1), pair_zero(c1),
               pair_zero(ny), pair_zero(ny), pair_zero(ny), pair_zero(nx), pair_zero(n1), pair_zero(n2),
               pair_zero(c1), pair_zero(c1), pair_rand(c2, -0.5f, 0.5f), pair_zero(c2),
               pair_rand(c1, -0.5f, 0.5f)};
    void *g = NULL;
    if (graphs) { /* an iteration op by op first (a device makes its views there), then the recording */
        chain_ops(cpu, 0, &k, sh);
        chain_ops(dev, 1, &k, sh);
        dev->graph_begin(dev);
        chain_ops(dev, 1, &k, sh);
        g = dev->graph_end(dev);
    }
    for (int round = 0; round < 2; round++) {
        if (round) { /* a new input, and a read of the first round's output in between */
            float *h = malloc(nx * sizeof(float)), first;
            for (size_t i = 0; i < nx; i++) h[i] = 2.0f * rng_uniform(&rng) - 1.0f;
            dev->download(dev, &first, k.u.d, 1);
            cpu->upload(cpu, k.x.c, h, nx);
            dev->upload(dev, k.x.d, h, nx);
            free(h);
        }
        chain_ops(cpu, 0, &k, sh);
        if (graphs) dev->graph_launch(dev, g);
        else chain_ops(dev, 1, &k, sh);
    }
    if (g) dev->graph_free(dev, g);
    const char *how = graphs ? " (graph replayed)" : "";
    const struct { const char *name; Pair p; } out[] = {
        {"conv output", k.y}, {"batch norm + lrelu", k.z}, {"tanh", k.t}, {"second conv output", k.u},
        {"second conv input gradient", k.dtt}, {"tanh backward", k.dt}, {"batch norm backward", k.dy},
        {"first conv input gradient", k.dx}, {"first conv weight gradient", k.dw1}, {"second conv weight gradient", k.dw2},
        {"batch norm running mean", k.rm}, {"dgamma", k.dgam}, {"second conv bias gradient", k.db2}};
    char what[160];
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        snprintf(what, sizeof what, "views chain %d->%d->%d at %dpx: %s%s", sh->ci, sh->c1, sh->c2, sh->hi, out[i].name, how);
        check(what, out[i].p, 1e-5);
    }
}

/* A bias gradient of few channels over many values (an output layer's: 3 channels of B*H*W),
 * which the CUDA backend sums in chunks (here 2 of 4805 values, the second one short) and then adds
 * the chunks up: x -> conv 4->3 (3x3, same size, with a bias) -> tanh, and back from tanh's output
 * as the gradient (on the CUDA backend with DCGAN_CUDA_LAYOUT=2 DCGAN_CUDA_LAZY=1 the sum reads
 * tanh's view in NHWC; else its CNHW tensor). The bias gradient accumulates: a second backward
 * adds the same sum again. */
static void bias_sums(void) {
    const ConvShape s = {5, 4, 31, 31, 3, 31, 31, 3, 1, 1};
    const size_t nx = 4 * 5 * 961, nu = 3 * 5 * 961, nw = 3 * 4 * 9;
    Pair x = pair_rand(nx, -1, 1), w = pair_rand(nw, -0.3f, 0.3f), b = pair_rand(3, -0.5f, 0.5f);
    Pair u = pair_zero(nu), gu = pair_zero(nu), dx = pair_zero(nx), dw = pair_zero(nw), db = pair_rand(3, -1, 1);
    for (int on_dev = 0; on_dev < 2; on_dev++) {
        Backend *be = on_dev ? dev : cpu;
#define T(pair) (on_dev ? (pair).d : (pair).c)
        be->conv2d_forward(be, T(u), T(x), T(w), T(b), &s);
        be->act_forward(be, T(gu), T(u), nu, ACT_TANH);
        for (int k = 0; k < 2; k++) be->conv2d_backward(be, T(dx), T(dw), T(db), T(gu), T(x), T(w), &s);
#undef T
    }
    check("bias gradient of 3 channels over 4805 values, accumulated twice onto a start", db, TOL);
    check("its conv's weight gradient", dw, 1e-5);
}

static void counters_and_updates(int graphs) {
    const size_t n = 1000;
    const int64_t start[2] = {0, 3};
    Iter it = {pair_rand(n, -1, 1), pair_rand(n, -1, 1), pair_zero(n), pair_zero(n), pair_rand(n, -1, 1),
               pair_zero(5), pair_zero(4 * 5), pair_zero(1001), ctr_new(2, start)};
    const char *how = graphs ? " (graph replayed)" : "";
    char what[128];
    if (graphs) { /* the device records one iteration and replays it three times */
        dev->graph_begin(dev);
        iter_ops(dev, 1, &it);
        void *g = dev->graph_end(dev);
        for (int k = 0; k < 3; k++) {
            iter_ops(cpu, 0, &it);
            dev->graph_launch(dev, g);
        }
        dev->sync(dev);
        dev->graph_free(dev, g);
    } else {
        for (int k = 0; k < 3; k++) {
            iter_ops(cpu, 0, &it);
            iter_ops(dev, 1, &it);
        }
    }
    snprintf(what, sizeof what, "adam 3 steps params%s", how); check(what, it.p, TOL);
    snprintf(what, sizeof what, "adam 3 steps m%s", how); check(what, it.m, TOL);
    snprintf(what, sizeof what, "adam 3 steps v%s", how); check(what, it.v, TOL);
    snprintf(what, sizeof what, "moving average 3 steps%s", how); check(what, it.avg, TOL);
    snprintf(what, sizeof what, "random draws of the counter's stream%s", how); check(what, it.z, 0);
    snprintf(what, sizeof what, "ring of the last 3 iterations' values%s", how); check(what, it.ring, 0);
    ctr_free(it.ctr);
    /* the draws themselves: normal and uniform, a stream and an offset, the same bits */
    const int64_t s = 9;
    Ctr k = ctr_new(1, &s);
    for (int u = 0; u < 2; u++) {
        Pair z = pair_zero(777);
        cpu->random_fill(cpu, z.c, z.n, 7, 3ull << 32, k.c, 12345, u);
        dev->random_fill(dev, z.d, z.n, 7, 3ull << 32, k.d, 12345, u);
        snprintf(what, sizeof what, "random draws, %s", u ? "uniform" : "normal"); check(what, z, 0);
    }
    ctr_free(k);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: test_ops DEVICE (e.g. cuda:fp32)\n"); return 1; }
    cpu = backend_create("cpu", 0);
    dev = backend_create(argv[1], 0);
    printf("test_ops: %s against %s\n", dev->name, cpu->name);
    rng_seed(&rng, 1234, 0);
    transposes();
    activations();
    batchnorm();
    losses();
    labels();
    linear();
    counters_and_updates(0);
    const ChainShape small = {2, 8, 16, 75, 8, 260, 4}, wide = {2, 4, 62, 40, 31, 8, 15};
    views(0, &small);
    views(0, &wide);
    bias_sums();
    if (dev->graph_begin) {
        counters_and_updates(1);
        views(1, &small);
        views(1, &wide);
    } else printf("SKIP graphs: %s records none\n", dev->name);
    for (int i = 0; i < npairs; i++) {
        cpu->free(cpu, pairs[i].c);
        dev->free(dev, pairs[i].d);
    }
    cpu->destroy(cpu);
    dev->destroy(dev);
    return fx_summary("test_ops");
}
