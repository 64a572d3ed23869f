/* fixture.c: fixture reading and tensor comparison for the tests (see fixture.h). */
#include "fixture.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fx_passed = 0, fx_failed = 0;

static void fail_load(const char *path, const char *why) {
    fprintf(stderr, "fixture %s: %s (regenerate with: /usr/bin/python3 tests/fixtures/make_fixtures.py)\n", path, why);
    exit(1);
}

static void rd(FILE *f, void *p, size_t n, const char *path) {
    if (fread(p, 1, n, f) != n) fail_load(path, "truncated");
}

void fx_load(Fixture *fx, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_load(path, "cannot open");
    char magic[4];
    uint32_t version, count;
    rd(f, magic, 4, path);
    if (memcmp(magic, "DCGF", 4)) fail_load(path, "bad magic");
    rd(f, &version, 4, path);
    rd(f, &count, 4, path);
    if (version != 1 || count > 100000) fail_load(path, "bad header");
    fx->count = (int)count;
    fx->t = calloc(count, sizeof(FxTensor));
    for (uint32_t i = 0; i < count; i++) {
        FxTensor *t = &fx->t[i];
        uint32_t len, ndim;
        rd(f, &len, 4, path);
        if (len > 1000) fail_load(path, "bad name");
        t->name = calloc(len + 1, 1);
        rd(f, t->name, len, path);
        rd(f, &ndim, 4, path);
        if (ndim < 1 || ndim > 8) fail_load(path, "bad rank");
        t->ndim = (int)ndim;
        t->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t v;
            rd(f, &v, 4, path);
            t->dims[d] = (int)v;
            t->numel *= v;
        }
        t->data = malloc(t->numel * sizeof(float) + 1);
        rd(f, t->data, t->numel * sizeof(float), path);
    }
    fclose(f);
}

void fx_free(Fixture *fx) {
    for (int i = 0; i < fx->count; i++) {
        free(fx->t[i].name);
        free(fx->t[i].data);
    }
    free(fx->t);
}

const FxTensor *fx_get(const Fixture *fx, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < fx->count; i++)
        if (!strcmp(fx->t[i].name, name)) return &fx->t[i];
    fprintf(stderr, "FAIL: fixture has no tensor '%s'\n", name);
    exit(1);
}

double fx_rel_err(const float *ours, const float *ref, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)ours[i] - ref[i]) * ((double)ours[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

int fx_same_bits(const char *what, const void *ours, const void *ref, size_t n) {
    const uint32_t *a = ours, *b = ref;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i] && bad++ == 0) first = i;
    if (bad) {
        float fa, fb;
        memcpy(&fa, &a[first], 4);
        memcpy(&fb, &b[first], 4);
        printf("FAIL %s: %zu of %zu values differ, the first at [%zu]: %08x (%.9g) against %08x (%.9g)\n", what, bad, n,
               first, a[first], fa, b[first], fb);
        fx_failed++;
        return 1;
    }
    printf("PASS %s: %zu values, the same bits\n", what, n);
    fx_passed++;
    return 0;
}

int fx_check(const char *what, const float *ours, const float *ref, size_t n, double tol) {
    double num = 0.0, den = 0.0, maxd = 0.0;
    size_t at = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        double d = (double)ours[i] - ref[i];
        if (!isfinite(ours[i])) finite = 0;
        num += d * d;
        den += (double)ref[i] * ref[i];
        if (fabs(d) > maxd || !isfinite(d)) { maxd = fabs(d); at = i; }
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    int ok = finite && rel <= tol;
    printf("%s %-44s rel_err=%.3e (tol %.0e) max_abs_diff=%.3e at [%zu] ours=%.8g ref=%.8g\n", ok ? "PASS" : "FAIL",
           what, rel, tol, maxd, at, n ? ours[at] : 0.0, n ? ref[at] : 0.0);
    if (ok) fx_passed++;
    else fx_failed++;
    return !ok;
}

void fx_nchw_to_cnhw(float *out, const float *in, int N, int C, int HW) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) memcpy(out + ((size_t)c * N + n) * HW, in + ((size_t)n * C + c) * HW, HW * sizeof(float));
}

void fx_cnhw_to_nchw(float *out, const float *in, int N, int C, int HW) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) memcpy(out + ((size_t)n * C + c) * HW, in + ((size_t)c * N + n) * HW, HW * sizeof(float));
}

void fx_expect(int ok, const char *what) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    ok ? fx_passed++ : fx_failed++;
}

int fx_summary(const char *prog) {
    printf("%s: %d passed, %d failed\n", prog, fx_passed, fx_failed);
    return fx_failed ? 1 : 0;
}

/* The initial weights of a network from a training fixture (init.<prefix><tensor>). */
void fx_load_net(Backend *be, Net *n, const Fixture *fx, const char *prefix) {
    float *p = calloc(n->nparams, sizeof(float));
    for (int i = 0; i < n->ntensors; i++) {
        const FxTensor *t = fx_get(fx, "init.%s%s", prefix, n->tensor[i].name);
        if (t->numel != n->tensor[i].numel) {
            printf("FAIL %s%s: fixture has %zu values, the model %zu\n", prefix, n->tensor[i].name, t->numel,
                   n->tensor[i].numel);
            exit(1);
        }
        memcpy(p + n->tensor[i].offset, t->data, t->numel * sizeof(float));
    }
    be->upload(be, n->params, p, n->nparams);
    free(p);
}

static void fx_train_config(const Fixture *fx, ModelConfig *mc, TrainConfig *tc, int *B, int *steps) {
    const FxTensor *cfg = fx_get(fx, "config");
    const float *c = cfg->data;
    memset(mc, 0, sizeof *mc);
    mc->arch = (Arch)(int)c[0];
    mc->size = (int)c[1]; mc->channels = (int)c[2]; mc->nz = (int)c[3]; mc->gf = (int)c[4]; mc->df = (int)c[5];
    model_config_set_classes(mc, cfg->numel > 9 ? (int)c[9] : 0, cfg->numel > 10 && c[10] > 0);
    mc->proj = cfg->numel > 11 && c[11] > 0; /* the fixture says whether it has the projection term */
    train_config_default(tc);
    tc->g_steps = (int)c[7];
    if (mc->aux) tc->class_weight = c[10];
    for (int i = 0; i < fx->count; i++) /* a fixture with label smoothing says D's target on real images */
        if (!strcmp(fx->t[i].name, "real_label")) tc->real_label = fx->t[i].data[0];
    for (int i = 0; i < fx->count; i++) /* and one with the learning rate's decay, where it falls */
        if (!strcmp(fx->t[i].name, "lr_decay")) {
            tc->lr_decay_from = (long)fx->t[i].data[0];
            tc->lr_decay_to = (long)fx->t[i].data[1];
        }
    *B = (int)c[6];
    *steps = (int)c[8];
}

void fx_load_train(Fixture *fx, const char *dir, const char *name, ModelConfig *mc, TrainConfig *tc, int *B, int *steps) {
    char path[1024];
    snprintf(path, sizeof path, "%s/train_%s.bin", dir, name);
    fx_load(fx, path);
    fx_train_config(fx, mc, tc, B, steps);
}

void fx_set_labels(Gan *g, const Fixture *fx, int s) {
    if (!g->mc.nclasses) return;
    const float *fl = fx_get(fx, "step%d.labels", s)->data;
    int32_t *lab = malloc((size_t)g->B * sizeof(int32_t));
    for (int i = 0; i < g->B; i++) lab[i] = (int32_t)fl[i];
    gan_set_labels(g, lab);
    free(lab);
}
