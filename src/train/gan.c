/* gan.c: the GAN training iteration (see gan.h). Written only against the Backend interface. */
#include "gan.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void train_config_default(TrainConfig *t) {
    t->lr = 2e-4;
    t->beta1 = 0.5;
    t->beta2 = 0.999;
    t->eps = 1e-8;
    t->g_steps = 2;
    t->loss = LOSS_NS;
    t->zdist = Z_NORMAL;
    t->class_weight = 1.0;
    t->real_label = 1.0;
    t->lr_decay_from = t->lr_decay_to = 0;
    t->ema = 0.0;
    t->stack_d = -1;
}

int train_config_check(const TrainConfig *t, char *err, size_t errlen) {
    if (t->g_steps < 1 || t->g_steps > 100) { snprintf(err, errlen, "--g-steps %d is out of range; use 1 to 100", t->g_steps); return -1; }
    if (!(t->lr > 0.0 && t->lr <= 1.0) || !(t->beta1 >= 0.0 && t->beta1 < 1.0) || !(t->beta2 >= 0.0 && t->beta2 < 1.0) ||
        !(t->eps > 0.0 && t->eps < 1.0)) {
        snprintf(err, errlen, "Adam needs 0 < --lr <= 1 and betas in [0, 1)");
        return -1;
    }
    if (t->loss != LOSS_NS && t->loss != LOSS_MINIMAX) { snprintf(err, errlen, "unknown generator loss"); return -1; }
    if (t->zdist != Z_NORMAL && t->zdist != Z_UNIFORM) { snprintf(err, errlen, "unknown z distribution"); return -1; }
    if (!(t->class_weight >= 0.0 && t->class_weight <= 100.0)) {
        snprintf(err, errlen, "--class-loss must be from 0 to 100");
        return -1;
    }
    if (!(t->real_label > 0.5 && t->real_label <= 1.0)) {
        snprintf(err, errlen, "--real-label must be over 0.5 and at most 1 (0.9 is one-sided label smoothing)");
        return -1;
    }
    if (t->lr_decay_to != 0 && !(t->lr_decay_from >= 0 && t->lr_decay_from < t->lr_decay_to)) {
        snprintf(err, errlen, "--lr-decay-from %ld must be from 0 to under the run's last step, %ld", t->lr_decay_from,
                 t->lr_decay_to);
        return -1;
    }
    if (t->stack_d < -1 || t->stack_d > 1) { snprintf(err, errlen, "stack_d must be -1, 0 or 1"); return -1; }
    if (!(t->ema >= 0.0 && t->ema < 1.0)) {
        snprintf(err, errlen, "--ema must be 0 (no average) or a decay under 1, such as 0.999");
        return -1;
    }
    return 0;
}

void gan_init(Gan *g, Backend *be, const ModelConfig *mc, const TrainConfig *tc, int B, uint64_t seed) {
    char err[256];
    if (model_config_check(mc, B, err, sizeof err) != 0) die("%s", err);
    if (train_config_check(tc, err, sizeof err) != 0) die("%s", err);
    memset(g, 0, sizeof *g); /* no hooks, no graph, rank 0, counts at 0 */
    g->be = be;
    g->mc = *mc;
    g->tc = *tc;
    g->B = B;
    int stack = tc->stack_d;
    if (stack < 0)
        stack = env_switch("DCGAN_STACK_D", be->keep_activations, "use 1 (the D step as one pass), 0 (two passes)");
    g->stack_d = stack;
    const int nb = g->stack_d ? 2 * B : B; /* the largest batch D sees in one pass */
    net_build_generator(&g->G, mc);
    net_build_discriminator(&g->D, mc);
    net_alloc(&g->G, be, B, 1);
    net_alloc(&g->D, be, g->stack_d ? 2 * B : B, 1);
    g->D.B = B; /* the stacked pass sets 2B for itself */
    workspace_alloc(&g->ws, be, &g->G, &g->D);
    const size_t img = (size_t)mc->channels * mc->size * mc->size;
    g->z = be->alloc(be, (size_t)B * mc->nz);
    if (g->stack_d) {
        g->pair = be->alloc(be, 2 * (size_t)B * img);
        g->d_in = be->alloc(be, 2 * (size_t)B * img);
        g->real = g->pair;
    } else {
        g->real = be->alloc(be, (size_t)B * img);
    }
    g->scalars = be->alloc(be, SC_COUNT);
    g->ring = be->alloc(be, (size_t)STATS_RING * SC_COUNT);
    g->counters = be->counters_alloc(be, CTR_COUNT);
    if (mc->nclasses) { /* with stack_d (2B): the labels, then their copy for the fake half */
        g->labels = be->alloc(be, (size_t)nb);
        g->G.labels = g->D.labels = g->labels;
    }
    if (mc->aux) {
        g->cls_logits = be->alloc(be, (size_t)nb * mc->nclasses);
        g->cls_grad = be->alloc(be, (size_t)nb * mc->nclasses);
    }
    if (mc->proj) g->proj_logit = be->alloc(be, (size_t)nb);
    g->use_graph = be->graph_begin != NULL;
    Rng init;
    rng_seed(&init, seed, 0);
    net_init_params(&g->G, be, &init);
    net_init_params(&g->D, be, &init);
    g->seed = seed;
    g->nranks = 1;
    if (tc->ema > 0) { /* the average starts at the initial weights */
        g->ema_params = be->alloc(be, g->G.nparams);
        g->ema_buffers = be->alloc(be, g->G.nbuf ? g->G.nbuf : 1);
        be->copy(be, g->ema_params, g->G.params, g->G.nparams);
        be->copy(be, g->ema_buffers, g->G.buffers, g->G.nbuf);
        g->ema_fresh = 1;
    }
}

void gan_free(Gan *g) {
    Backend *be = g->be;
    net_free(&g->G, be);
    net_free(&g->D, be);
    workspace_free(&g->ws, be);
    be->free(be, g->z);
    if (g->pair) {
        be->free(be, g->pair);
        be->free(be, g->d_in);
    } else {
        be->free(be, g->real);
    }
    g->pair = g->d_in = g->real = NULL;
    be->free(be, g->scalars);
    be->free(be, g->ring);
    if (g->labels) be->free(be, g->labels);
    if (g->cls_logits) be->free(be, g->cls_logits);
    if (g->cls_grad) be->free(be, g->cls_grad);
    if (g->proj_logit) be->free(be, g->proj_logit);
    if (g->ema_params) be->free(be, g->ema_params);
    if (g->ema_buffers) be->free(be, g->ema_buffers);
    be->counters_free(be, g->counters);
    if (g->graph) be->graph_free(be, g->graph);
    g->graph = NULL;
}

/* The host's counts -> the backend's counters (before eager ops, or before recording). */
static void push_counters(Gan *g) {
    const int64_t h[CTR_COUNT] = {g->step, g->adam_t_d, g->adam_t_g};
    g->be->counters_set(g->be, g->counters, h, CTR_COUNT);
}

/* z of the iteration in counters[CTR_ITER]: stream 2^32 + t of the seed, this rank's rows. */
static void draw_z_ops(Gan *g) {
    const size_t n = (size_t)g->B * g->mc.nz;
    g->be->random_fill(g->be, g->z, n, g->seed, 1ull << 32, g->counters + CTR_ITER, (uint64_t)n * (uint64_t)g->rank,
                       g->tc.zdist == Z_UNIFORM);
}

void gan_draw_z(Gan *g) {
    push_counters(g);
    draw_z_ops(g);
}

void gan_set_real(Gan *g, const float *host_nchw) {
    const int C = g->mc.channels, S = g->mc.size;
    const size_t n = (size_t)g->B * C * S * S;
    /* the workspace's gradient buffer (free between iterations, and at least D's input) stages the
     * NCHW upload */
    DCGAN_CHECK(g->ws.grad_n >= n, "gan_set_real: staging needs %zu floats", n);
    g->be->upload(g->be, g->ws.grad, host_nchw, n);
    g->be->transpose01(g->be, g->real, g->ws.grad, g->B, C, S * S);
}

void labels_upload(Backend *be, float *dst, const int32_t *labels, int n, int B, int K) {
    float *h = xcalloc((size_t)B, sizeof(float));
    for (int i = 0; i < n; i++) {
        DCGAN_CHECK(labels[i] >= 0 && labels[i] < K, "class %d out of range", labels[i]);
        h[i] = (float)labels[i];
    }
    be->upload(be, dst, h, (size_t)B);
    free(h);
}

void gan_set_labels(Gan *g, const int32_t *labels) {
    DCGAN_CHECK(g->labels, "gan_set_labels: the model is not conditional");
    labels_upload(g->be, g->labels, labels, g->B, g->B, g->mc.nclasses);
}

/* D on x, a pass over `groups` batches of B (1; or 2: the D step's real batch, then G's, as one
 * pass whose batch norm keeps each batch's own statistics, see ops.h). For batch k the loss against
 * target[k], scaled by scale, goes to loss[k] and the mean D(x) to prob[k]; with an auxiliary
 * classifier and cls_loss set, class_weight * the cross-entropy of batch 0's class logits against
 * the labels goes to cls_loss (with cls_loss NULL, or in batch 1, the class logits get no gradient).
 * Then backward into D's gradients (and into d x when want_dx). D's output is (1 + K, n): the
 * logits, then the class logits; with the projection term (1 + 2K, n), and the loss is of each logit
 * plus the projection logit of the sample's label. */
static float *d_pass(Gan *g, const float *x /* (C, groups * B, S, S) */, int groups, const float *target, float scale,
                     float *const *loss, float *const *prob, float *cls_loss, int param_grads, int want_dx) {
    Backend *be = g->be;
    Net *D = &g->D;
    const int B = g->B, K = g->mc.nclasses, n = groups * B;
    float *dout = g->ws.act; /* the gradient of D's output, (1 + K [+ K], n) */
    D->B = n;
    D->groups = groups;
    net_forward(D, be, &g->ws, x, 1);
    const float *out = D->y[D->nlayers - 1];
    if (g->mc.proj) { /* the projection logits are rows 1 + K .. 2K of the output */
        be->label_pick(be, g->proj_logit, out, out + (size_t)(1 + K) * n, g->labels, K, n);
        for (int k = 0; k < groups; k++)
            be->bce_logits(be, loss[k], prob[k], dout + (size_t)k * B, g->proj_logit + (size_t)k * B, B, target[k], scale);
        be->label_scatter(be, dout + (size_t)(1 + K) * n, dout, g->labels, K, n);
    } else {
        for (int k = 0; k < groups; k++)
            be->bce_logits(be, loss[k], prob[k], dout + (size_t)k * B, out + (size_t)k * B, B, target[k], scale);
    }
    if (g->mc.aux && cls_loss) { /* (K, n) -> (n, K) rows for the softmax (batch 0's first), and back */
        be->transpose01(be, g->cls_logits, out + n, K, n, 1);
        be->softmax_xent(be, cls_loss, NULL, g->cls_grad, g->cls_logits, g->labels, B, K, (float)g->tc.class_weight);
        /* (rows B.. of cls_grad, G's half of a stacked pass, stay zero: allocated so, never written) */
        be->transpose01(be, dout + n, g->cls_grad, n, K, 1);
    } else if (g->mc.aux)
        be->zero(be, dout + n, (size_t)K * n);
    float *dx = net_backward(D, be, &g->ws, x, dout, param_grads, want_dx);
    D->B = B;
    D->groups = 1;
    return dx;
}

/* The D step's two passes (the real batch, then G's fake) as one pass over both: D's layers see one
 * batch of 2B (one call each, larger products: faster per image on a GPU), its batch norm keeps
 * each batch's own statistics (groups of B, see ops.h), and the running statistics move for the
 * real batch, then for the fake one, as in two passes. D's gradients accumulate both batches'
 * terms. */
static void d_step_stacked(Gan *g, const float *fake /* (C, B, S, S) */) {
    Backend *be = g->be;
    float *sc = g->scalars;
    const int B = g->B, C = g->mc.channels, S = g->mc.size;
    const size_t n = (size_t)B * C * S * S;
    /* pair (2, C, B*S*S) holds the real batch and then G's; D's input is (C, 2, B*S*S) = (C, 2B, S, S) */
    be->copy(be, g->pair + n, fake, n);
    be->transpose01(be, g->d_in, g->pair, 2, C, B * S * S);
    if (g->labels) be->copy(be, g->labels + B, g->labels, (size_t)B); /* G's batch has the real batch's labels */
    const float target[2] = {(float)g->tc.real_label, 0.0f};
    float *const loss[2] = {sc + SC_D_REAL, sc + SC_D_FAKE}, *const prob[2] = {sc + SC_DX, sc + SC_DGZ};
    /* D's classifier learns from real images only (see step_ops) */
    d_pass(g, g->d_in, 2, target, 1.0f, loss, prob, sc + SC_D_CLS_REAL, 1, 0);
}

/* The iteration's ops; the host counts advance with the backend's counters. */
static void step_ops(Gan *g) {
    Backend *be = g->be;
    const TrainConfig *tc = &g->tc;
    Net *G = &g->G, *D = &g->D;
    float *sc = g->scalars;
    const float *fake = G->y[G->nlayers - 1];

    /* ---- D step: maximize log D(x) + log(1 - D(G(z))) (with label smoothing, the cross-entropy
     * against real_label on the real batch) ---- */
    net_forward(G, be, &g->ws, g->z, 1);
    be->zero(be, D->grads, D->nparams);
    if (g->stack_d && !D->sync) {
        d_step_stacked(g, fake);
    } else {
        const float real_target = (float)tc->real_label, fake_target = 0.0f;
        float *const lr = sc + SC_D_REAL, *const pr = sc + SC_DX, *const lf = sc + SC_D_FAKE, *const pf = sc + SC_DGZ;
        d_pass(g, g->real, 1, &real_target, 1.0f, &lr, &pr, sc + SC_D_CLS_REAL, 1, 0);
        /* D's classifier learns from real images only: trained on G's images too, it learns to
         * name them by whatever marks G gives each class, and G learns to give those marks instead
         * of the class's look (measured: 3 of the 10 Fashion-MNIST classes under 5% by the LeNet
         * after 2000 iterations) */
        d_pass(g, fake, 1, &fake_target, 1.0f, &lf, &pf, NULL, 1, 0);
    }
    if (g->grad_average) g->grad_average(g->grad_ctx, be, D->grads, D->nparams);
    be->counter_add(be, g->counters + CTR_ADAM_D, 1);
    g->adam_t_d++;
    const LrDecay decay = {tc->lr_decay_from, tc->lr_decay_to, g->counters + CTR_ITER};
    be->adam(be, D->params, D->grads, D->adam_m, D->adam_v, D->nparams, tc->lr, tc->beta1, tc->beta2, tc->eps,
             g->counters + CTR_ADAM_D, decay);

    /* ---- G steps; the first reuses the D step's fake batch (same G weights, same z) ---- */
    for (int k = 0; k < tc->g_steps; k++) {
        if (k > 0) net_forward(G, be, &g->ws, g->z, 1);
        be->zero(be, G->grads, G->nparams);
        /* non-saturating: BCE(D(G(z)), 1); minimax: -BCE(D(G(z)), 0) = mean log(1 - D(G(z))) */
        const float target = tc->loss == LOSS_NS ? 1.0f : 0.0f, scale = tc->loss == LOSS_NS ? 1.0f : -1.0f;
        float *const lg = sc + SC_G, *const pg = sc + SC_DGZ_G;
        float *dfake = d_pass(g, fake, 1, &target, scale, &lg, &pg, sc + SC_G_CLS, 0, 1);
        net_backward(G, be, &g->ws, g->z, dfake, 1, 0);
        if (g->grad_average) g->grad_average(g->grad_ctx, be, G->grads, G->nparams);
        be->counter_add(be, g->counters + CTR_ADAM_G, 1);
        g->adam_t_g++;
        be->adam(be, G->params, G->grads, G->adam_m, G->adam_v, G->nparams, tc->lr, tc->beta1, tc->beta2, tc->eps,
                 g->counters + CTR_ADAM_G, decay);
    }
    if (g->ema_params) be->ema(be, g->ema_params, G->params, G->nparams, tc->ema, g->counters + CTR_ITER);
    be->stash(be, g->ring, g->scalars, SC_COUNT, g->counters + CTR_ITER, STATS_RING);
    be->counter_add(be, g->counters + CTR_ITER, 1);
    g->step++;
}

void gan_step(Gan *g) {
    g->ema_fresh = 0;
    push_counters(g);
    step_ops(g);
}

void gan_iterate(Gan *g) {
    Backend *be = g->be;
    const int graphs = g->use_graph && be->graph_begin && (!g->grad_average || g->grad_in_graph) && !g->G.sync &&
                       !g->D.sync;
    g->ema_fresh = 0;
    if (!graphs || (!g->graph && !g->warm)) {
        /* op by op; with graphs this is the first iteration, which sizes the backend's scratch and
         * picks its algorithms: that must not happen while recording */
        g->warm = 1;
        push_counters(g);
        draw_z_ops(g);
        step_ops(g);
        return;
    }
    if (!g->graph) { /* record one iteration; recording runs nothing, so the counts are rewound */
        const long step = g->step, td = g->adam_t_d, tg = g->adam_t_g;
        push_counters(g);
        be->graph_begin(be);
        draw_z_ops(g);
        step_ops(g);
        g->graph = be->graph_end(be);
        g->step = step; g->adam_t_d = td; g->adam_t_g = tg;
    }
    be->graph_launch(be, g->graph);
    g->step++;
    g->adam_t_d++;
    g->adam_t_g += g->tc.g_steps;
}

int gan_ema_refresh_batches(int B) {
    const int k = (GAN_EMA_BN_IMAGES + B - 1) / B;
    return k < 4 ? 4 : k;
}

void gan_ema_refresh(Gan *g) {
    if (!g->ema_params || g->ema_fresh) return;
    Backend *be = g->be;
    Net *G = &g->G;
    float *live_p = G->params, *live_b = G->buffers;
    const BnSync *sync = G->sync;
    const float momentum = G->bn_momentum;
    G->params = g->ema_params;
    G->buffers = g->ema_buffers;
    G->sync = NULL; /* the refresh runs on one rank (the one that writes the files) */
    const int B = g->B, K = g->mc.nclasses;
    if (K) {
        int32_t *lab = xmalloc((size_t)B * sizeof(int32_t));
        for (int i = 0; i < B; i++) lab[i] = i % K;
        labels_upload(be, g->labels, lab, B, B, K);
        free(lab);
    }
    int64_t *ctr = be->counters_alloc(be, 1);
    const int64_t at = g->step;
    be->counters_set(be, ctr, &at, 1);
    const size_t n = (size_t)B * g->mc.nz;
    const int batches = gan_ema_refresh_batches(B);
    for (int k = 0; k < batches; k++) {
        /* the k-th batch moves the statistics by 1/(k+1): their plain average (the first replaces) */
        G->bn_momentum = 1.0f / (float)(k + 1);
        be->random_fill(be, g->z, n, g->seed, 3ull << 32, ctr, (uint64_t)n * (uint64_t)k, g->tc.zdist == Z_UNIFORM);
        net_forward(G, be, &g->ws, g->z, 1);
    }
    be->sync(be);
    be->counters_free(be, ctr);
    G->bn_momentum = momentum;
    G->params = live_p;
    G->buffers = live_b;
    G->sync = sync;
    g->ema_fresh = 1;
}

const Net *gan_sampling_net(Gan *g, Net *view) {
    if (!g->ema_params) return &g->G;
    gan_ema_refresh(g);
    *view = g->G;
    view->params = g->ema_params;
    view->buffers = g->ema_buffers;
    return view;
}

void gan_generator_from_ema(Gan *g) {
    if (!g->ema_params) return;
    gan_ema_refresh(g);
    g->be->copy(g->be, g->G.params, g->ema_params, g->G.nparams);
    g->be->copy(g->be, g->G.buffers, g->ema_buffers, g->G.nbuf);
}

static void stats_from(const float *h, StepStats *st) {
    st->d_loss_real = h[SC_D_REAL];
    st->d_loss_fake = h[SC_D_FAKE];
    st->d_loss = h[SC_D_REAL] + h[SC_D_FAKE];
    st->g_loss = h[SC_G];
    st->d_x = h[SC_DX];
    st->d_gz = h[SC_DGZ];
    st->d_gz_g = h[SC_DGZ_G];
    st->d_cls = h[SC_D_CLS_REAL];
    st->g_cls = h[SC_G_CLS];
}

void gan_read_stats(Gan *g, StepStats *st) {
    float h[SC_COUNT];
    g->be->download(g->be, h, g->scalars, SC_COUNT);
    stats_from(h, st);
}

void gan_read_recent(Gan *g, long first, int n, StepStats *st) {
    DCGAN_CHECK(n >= 1 && n <= STATS_RING && first >= 1 && first + n - 1 <= g->step && g->step - first < STATS_RING,
                "gan_read_recent: steps %ld..%ld are not among the last %d", first, first + n - 1, STATS_RING);
    float h[STATS_RING * SC_COUNT];
    g->be->download(g->be, h, g->ring, (size_t)STATS_RING * SC_COUNT);
    for (int i = 0; i < n; i++) stats_from(h + ((first - 1 + i) % STATS_RING) * SC_COUNT, &st[i]);
}
