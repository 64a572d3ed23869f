/* test_conv_paths.c: the CPU backend's oneDNN convolutions against its im2col + OpenBLAS ones
 * ("cpu" against "cpu-blas") at the widths and sizes real DCGAN layers have. The PyTorch fixtures of
 * test_layers use 3-6 channels, where oneDNN keeps plain layouts; here the channel counts are
 * multiples of 16 (oneDNN's blocked layouts and our copies into them), not (padded blocks), images
 * whose H*W is not a multiple of 16 (the copies' partial tiles), and batches large enough to run in
 * several chunks. Every case checks the forward, the input gradient, and the weight and bias
 * gradients, which accumulate onto non-zero starting values.
 * Tolerance: ||cpu - cpu-blas|| / ||cpu-blas|| <= 1e-5 per tensor; both paths match PyTorch at
 * small sizes (test_layers). In a build without oneDNN both backends run the same code.
 * The 4x4 and 5x5 stride-2 layers with at least 32 channels on both sides run by Winograd on "cpu"
 * unless DCGAN_CPU_WINOGRAD=0, which run_tests.sh also runs, so that oneDNN's direct kernels stay
 * checked.
 * With the argument "bf16", "cpu:bf16" (oneDNN's convolutions on bf16 inputs) is compared instead,
 * within 1e-2, and most results must show bf16 rounding (more than 1e-5 from fp32), so that the bf16
 * path is known to have run; run_tests.sh passes it where the CPU has AVX512_BF16.
 * With "bf16-paths", the two bf16 paths of "cpu:bf16" are compared with each other within 1e-5: the
 * inner layers as im2col and bf16 matrix products (cpu_gemm_bf16.c, DCGAN_CPU_BF16_GEMM=1) against
 * oneDNN's bf16 convolutions (=0). Both round the same operands to bf16 and add in fp32, so they
 * part only by the order of their sums; at least 20 results must differ at all, so that the
 * products are known to have run.
 * usage: test_conv_paths [bf16 | bf16-paths] */
#include "fixture.h"
#include "../src/core/rng.h"
#include "../src/ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5
#define BF16_TOL 1e-2
static double tol = TOL;
static int bf16_seen, checked, differ; /* results more than 1e-5 from fp32, all results, results not the same bits */

typedef struct {
    const char *name;
    int transpose;
    int B, Ci, Hi, Co, K, S, P, op; /* op: output_padding of a transposed convolution */
    int bias;
} Case;

/* The tensors of one case on one backend; the weight and bias gradients start from dw0/db0. */
typedef struct {
    float *out, *din, *dw, *db;
} Result;

static float *upload(Backend *be, const float *h, size_t n) {
    float *d = be->alloc(be, n);
    be->upload(be, d, h, n);
    return d;
}
static float *download(Backend *be, const float *d, size_t n) {
    float *h = malloc(n * sizeof(float) + 4);
    be->download(be, h, d, n);
    return h;
}

static Result run_case(Backend *be, const Case *c, const ConvShape *s, const float *x, const float *w, const float *b,
                       const float *dout, const float *dw0, const float *db0) {
    const size_t nin = (size_t)s->Ci * s->B * s->Hi * s->Wi, nout = (size_t)s->Co * s->B * s->Ho * s->Wo;
    const size_t nw = (size_t)s->Ci * s->Co * s->K * s->K, nb = (size_t)s->Co;
    float *dx = upload(be, x, nin), *dwt = upload(be, w, nw), *ddout = upload(be, dout, nout);
    float *dbias = c->bias ? upload(be, b, nb) : NULL;
    float *dy = be->alloc(be, nout), *ddin = be->alloc(be, nin), *ddw = upload(be, dw0, nw);
    float *ddb = c->bias ? upload(be, db0, nb) : NULL;
    if (c->transpose) {
        be->conv_transpose2d_forward(be, dy, dx, dwt, dbias, s);
        be->conv_transpose2d_backward(be, ddin, ddw, ddb, ddout, dx, dwt, s);
    } else {
        be->conv2d_forward(be, dy, dx, dwt, dbias, s);
        be->conv2d_backward(be, ddin, ddw, ddb, ddout, dx, dwt, s);
    }
    Result r = {download(be, dy, nout), download(be, ddin, nin), download(be, ddw, nw),
                c->bias ? download(be, ddb, nb) : NULL};
    be->free(be, dx); be->free(be, dwt); be->free(be, ddout); be->free(be, dy); be->free(be, ddin); be->free(be, ddw);
    if (c->bias) { be->free(be, dbias); be->free(be, ddb); }
    return r;
}

static void free_result(Result *r) { free(r->out); free(r->din); free(r->dw); free(r->db); }

static void check(const char *what, const float *ours, const float *ref, size_t n) {
    fx_check(what, ours, ref, n, tol);
    if (fx_rel_err(ours, ref, n) > TOL) bf16_seen++;
    if (memcmp(ours, ref, n * sizeof(float))) differ++;
    checked++;
}

static void check_case(Backend *fast, Backend *ref, const Case *c, Rng *rng) {
    ConvShape s = {c->B, c->Ci, c->Hi, c->Hi, c->Co, 0, 0, c->K, c->S, c->P};
    s.Ho = s.Wo = c->transpose ? convt_out_size(c->Hi, c->K, c->S, c->P, c->op) : conv_out_size(c->Hi, c->K, c->S, c->P);
    const size_t nin = (size_t)s.Ci * s.B * s.Hi * s.Wi, nout = (size_t)s.Co * s.B * s.Ho * s.Wo;
    const size_t nw = (size_t)s.Ci * s.Co * s.K * s.K;
    float *x = malloc(nin * sizeof(float)), *dout = malloc(nout * sizeof(float)), *w = malloc(nw * sizeof(float));
    float *dw0 = malloc(nw * sizeof(float)), *b = malloc(s.Co * sizeof(float)), *db0 = malloc(s.Co * sizeof(float));
    rng_fill_uniform(rng, x, nin, -1.0f, 1.0f);
    rng_fill_normal(rng, w, nw, 0.0f, 0.05f);
    rng_fill_normal(rng, dout, nout, 0.0f, 1.0f);
    /* starting gradients of about the size of one backward's (tens), so that one that was
     * overwritten instead of added to would be far off, in bf16's tolerance too */
    rng_fill_normal(rng, dw0, nw, 0.0f, 30.0f);
    rng_fill_normal(rng, b, s.Co, 0.0f, 0.1f);
    rng_fill_normal(rng, db0, s.Co, 0.0f, 30.0f);
    Result f = run_case(fast, c, &s, x, w, b, dout, dw0, db0), r = run_case(ref, c, &s, x, w, b, dout, dw0, db0);
    char what[96];
    snprintf(what, sizeof what, "%s forward out", c->name);
    check(what, f.out, r.out, nout);
    snprintf(what, sizeof what, "%s backward din", c->name);
    check(what, f.din, r.din, nin);
    snprintf(what, sizeof what, "%s backward dw (accumulated)", c->name);
    check(what, f.dw, r.dw, nw);
    if (c->bias) {
        snprintf(what, sizeof what, "%s backward db (accumulated)", c->name);
        fx_check(what, f.db, r.db, s.Co, TOL); /* fp32 sums on both paths */
    }
    free_result(&f); free_result(&r);
    free(x); free(dout); free(w); free(dw0); free(b); free(db0);
}

/* The same layer run twice on one backend with its weights changed in place in between (as Adam
 * does): the second forward and backward-data must use the new weights, whatever the backend keeps
 * from the first call (cpu_winograd.c keeps transformed weights). */
static void check_weights_changed(Backend *fast, Backend *ref, Rng *rng) {
    ConvShape s = {8, 64, 16, 16, 128, 8, 8, 4, 2, 1};
    const size_t nin = (size_t)s.Ci * s.B * s.Hi * s.Wi, nout = (size_t)s.Co * s.B * s.Ho * s.Wo;
    const size_t nw = (size_t)s.Ci * s.Co * 16;
    float *x = malloc(nin * sizeof(float)), *dout = malloc(nout * sizeof(float)), *w = malloc(nw * sizeof(float));
    rng_fill_uniform(rng, x, nin, -1.0f, 1.0f);
    rng_fill_normal(rng, dout, nout, 0.0f, 1.0f);
    Backend *be[2] = {fast, ref};
    float *out[2], *din[2];
    for (int k = 0; k < 2; k++) {
        float *dx = upload(be[k], x, nin), *dd = upload(be[k], dout, nout), *dw = be[k]->alloc(be[k], nw);
        float *dy = be[k]->alloc(be[k], nout), *ddin = be[k]->alloc(be[k], nin);
        Rng r = *rng; /* the same weights on both backends */
        for (int round = 0; round < 2; round++) {
            rng_fill_normal(&r, w, nw, 0.0f, 0.05f);
            be[k]->upload(be[k], dw, w, nw); /* same address, new values */
            be[k]->conv2d_forward(be[k], dy, dx, dw, NULL, &s);
            be[k]->conv2d_backward(be[k], ddin, NULL, NULL, dd, dx, dw, &s);
        }
        out[k] = download(be[k], dy, nout);
        din[k] = download(be[k], ddin, nin);
        be[k]->free(be[k], dx); be[k]->free(be[k], dd); be[k]->free(be[k], dw); be[k]->free(be[k], dy);
        be[k]->free(be[k], ddin);
    }
    check("weights changed in place: forward out", out[0], out[1], nout);
    check("weights changed in place: backward din", din[0], din[1], nin);
    for (int k = 0; k < 2; k++) { free(out[k]); free(din[k]); }
    free(x); free(dout); free(w);
}

int main(int argc, char **argv) {
    const int bf16 = argc > 1 && !strcmp(argv[1], "bf16"), paths = argc > 1 && !strcmp(argv[1], "bf16-paths");
    if (bf16) tol = BF16_TOL;
    Backend *fast, *ref;
    if (paths) { /* the switch is read when a backend is made */
        setenv("DCGAN_CPU_BF16_GEMM", "1", 1);
        fast = backend_create("cpu:bf16", 2);
        setenv("DCGAN_CPU_BF16_GEMM", "0", 1);
        ref = backend_create("cpu:bf16", 2);
        printf("comparing backend %s's bf16 matrix products (inner layers) against its oneDNN bf16 convolutions\n",
               fast->name);
    } else {
        fast = backend_create(bf16 ? "cpu:bf16" : "cpu", 2);
        ref = backend_create("cpu-blas", 2);
        const char *wg = getenv("DCGAN_CPU_WINOGRAD"), *gm = getenv("DCGAN_CPU_BF16_GEMM");
        printf("comparing backend %s against %s (4x4 and 5x5 stride-2 layers of 32+ channels: %s)\n", fast->name,
               ref->name,
               bf16 ? (gm && !strcmp(gm, "0") ? "oneDNN's bf16 convolutions" : "bf16 matrix products where the CPU has AMX")
               : wg && !strcmp(wg, "0") ? "oneDNN's direct kernels" : "Winograd F(4x4,2x2), F(4x4,3x3)");
    }
    /* name, transpose, B, Ci, Hi, Co, K, S, P, op, bias */
    static const Case cases[] = {
        {"D conv 32->64 16x16 k4s2p1", 0, 8, 32, 16, 64, 4, 2, 1, 0, 0},
        {"D conv 16->32 64x64 k4s2p1 (chunked)", 0, 48, 16, 64, 32, 4, 2, 1, 0, 0},
        {"D conv 3->32 32x32 k4s2p1 (first layer)", 0, 16, 3, 32, 32, 4, 2, 1, 0, 0},
        {"D conv 16->24 16x16 k4s2p1 (padded block)", 0, 8, 16, 16, 24, 4, 2, 1, 0, 0},
        {"D conv 32->64 16x16 k5s2p2 bias", 0, 8, 32, 16, 64, 5, 2, 2, 0, 1},
        {"conv 16->32 20x20 k4s2p1 (H*W not in 16s)", 0, 4, 16, 20, 32, 4, 2, 1, 0, 0},
        {"convt 32->16 10x10 k4s2p1 (H*W not in 16s)", 1, 4, 32, 10, 16, 4, 2, 1, 0, 0},
        {"G convt 64->32 8x8 k4s2p1", 1, 8, 64, 8, 32, 4, 2, 1, 0, 0},
        {"G convt 32->16 32x32 k4s2p1 (chunked)", 1, 48, 32, 32, 16, 4, 2, 1, 0, 0},
        {"G convt 32->3 16x16 k4s2p1 (last layer)", 1, 16, 32, 16, 3, 4, 2, 1, 0, 0},
        {"G convt 24->16 8x8 k4s2p1 (padded block)", 1, 8, 24, 8, 16, 4, 2, 1, 0, 0},
        {"G convt 64->32 8x8 k5s2p2op1 bias", 1, 8, 64, 8, 32, 5, 2, 2, 1, 1},
        /* Winograd F(4x4, 2x2) (cpu_winograd.c): in two unequal chunks of images, with one tile per
         * image and the widest transformed weights it takes, and on a transposed convolution */
        {"D conv 64->128 32x32 k4s2p1 (Winograd, 2 chunks)", 0, 61, 64, 32, 128, 4, 2, 1, 0, 0},
        {"D conv 256->512 8x8 k4s2p1 (Winograd, 1 tile)", 0, 4, 256, 8, 512, 4, 2, 1, 0, 0},
        {"G convt 128->64 16x16 k4s2p1 (Winograd)", 1, 6, 128, 16, 64, 4, 2, 1, 0, 0},
        {"D conv 48->40 24x24 k4s2p1 (Winograd, 3x3 tiles)", 0, 5, 48, 24, 40, 4, 2, 1, 0, 0},
        /* Winograd F(4x4, 3x3), the seed family's 5x5 layers: the same four kinds of case (the two
         * k5 cases above, 32+ channels on both sides, go by it too) */
        {"D conv 64->128 32x32 k5s2p2 (Winograd, 2 chunks)", 0, 41, 64, 32, 128, 5, 2, 2, 0, 0},
        {"D conv 256->512 8x8 k5s2p2 (Winograd, 1 tile)", 0, 3, 256, 8, 512, 5, 2, 2, 0, 0},
        {"G convt 128->64 16x16 k5s2p2op1 (Winograd)", 1, 6, 128, 16, 64, 5, 2, 2, 1, 0},
        {"D conv 48->40 24x24 k5s2p2 (Winograd, 3x3 tiles)", 0, 5, 48, 24, 40, 5, 2, 2, 0, 0},
        /* seed's widest layer takes its output channels in 3 groups (its U would be 75 MB), here also
         * in two chunks of images, forward and transposed; dcgan's (52 MB) stays whole */
        {"D conv 256->512 16x16 k5s2p2 (Winograd, 3 groups x 2 chunks)", 0, 20, 256, 16, 512, 5, 2, 2, 0, 0},
        {"G convt 512->256 8x8 k5s2p2op1 (Winograd, 3 groups)", 1, 4, 512, 8, 256, 5, 2, 2, 1, 0},
        {"D conv 256->512 16x16 k4s2p1 (Winograd, whole U, 2 chunks)", 0, 30, 256, 16, 512, 4, 2, 1, 0, 0},
    };
    Rng rng;
    rng_seed(&rng, 20261127, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(fast, ref, &cases[i], &rng);
    check_weights_changed(fast, ref, &rng);
    if (bf16) {
        /* all but two: a backward-data onto 3-channel images (D's first layer's din, G's last layer's
         * forward) runs in fp32 through OpenBLAS on both sides (see cpu.c) */
        char buf[160];
        snprintf(buf, sizeof buf, "%s: %d of %d convolution results differ from fp32 by more than 1e-5 (bf16 inputs)",
                 fast->name, bf16_seen, checked);
        fx_expect(bf16_seen >= checked - 2, buf);
    }
    if (paths) {
        char buf[160];
        snprintf(buf, sizeof buf, "%d of %d results of the two bf16 paths are not the same bits (at least 20)", differ,
                 checked);
        fx_expect(differ >= 20, buf);
    }
    fast->destroy(fast);
    ref->destroy(ref);
    return fx_summary("test_conv_paths");
}
