/* cpu_dnnl.c: cached oneDNN convolution primitives over CNHW tensors (see cpu_dnnl.h).
 * Empty in a build without oneDNN. */
#ifdef DCGAN_HAVE_DNNL
#include "cpu_dnnl.h"
#include "cpu_gemm_bf16.h"
#include "cpu_winograd.h"
#include "../core/util.h"

#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNNL_CHECK(call)                                                                              \
    do {                                                                                              \
        dnnl_status_t st_ = (call);                                                                   \
        if (st_ != dnnl_success) die_at(__FILE__, __LINE__, "oneDNN call failed (status %d): %s", (int)st_, #call); \
    } while (0)

enum { DIR_FWD, DIR_BWD_DATA, DIR_BWD_WEIGHTS, DIR_COUNT };

/* One reorder between a user layout and the primitive's: a oneDNN reorder primitive with its memory
 * objects, or, between a CNHW chunk and nChw16c (fp32 both ways, or into bf16), our own copy (see
 * to_blocked). */
enum { RE_DNNL, RE_TO_BLOCKED, RE_TO_BLOCKED_BF16, RE_FROM_BLOCKED };
typedef struct {
    int needed;
    int kind;           /* RE_*: who copies */
    int n, N, C, HW;    /* our copies: n images of a CNHW tensor of batch N, C channels, H*W */
    dnnl_primitive_t prim;
    dnnl_memory_t from, to;
} Reorder;

typedef struct {
    ConvGeom g;   /* g.B is the chunk of images this primitive handles */
    int bfull;    /* the batch of the CNHW tensors (their channel stride) */
    int dir;
    dnnl_primitive_t prim;
    /* memories in the primitive's layout: a = big-side, b = small-side, w = weights */
    dnnl_memory_t a, b, w;
    size_t a_bytes, b_bytes, w_bytes;
    Reorder ra, rb, rw; /* user <-> primitive, direction depends on which are inputs */
    double t_reorder, t_compute; /* seconds, reported with DCGAN_PROFILE=1 */
    long calls;
} Entry;

/* A cached matmul (dnnl_batched_matmul, dnnl_matmul_bf16) and the memories it runs on */
typedef struct {
    int X, M, N, K, ta, tb, accumulate;
    int bf16;               /* operands a and b in bf16 (the result fp32) */
    size_t sa, sb, so;      /* from one of the X matrices to the next */
    size_t lda, ldb, ldo;   /* from one row (of the stored matrix) to the next */
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, out;
} MatmulEntry;

/* DCGAN_PROFILE's account of the Winograd (fp32) or matrix-product (bf16) calls, per geometry and
 * direction */
typedef struct {
    ConvGeom g;
    int dir;
    long calls;
    double t;
} WinoStat;

struct DnnlCtx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    Entry *e;
    int n, cap;
    MatmulEntry *mm;
    int nmm, capmm;
    WinoStat *ws;
    int nws, capws;
    CpuScratch *scratch; /* the CPU backend's, shared with its im2col path */
    int bf16;            /* inputs in bf16, results in fp32 (--precision bf16) */
    int winograd;        /* 4x4 and 5x5 stride-2 layers by Winograd (cpu_winograd.c) where they fit */
    int gemm_bf16;       /* bf16: the inner layers as matrix products (cpu_gemm_bf16.c) where they fit */
    WinoCache *wino;     /* its transformed weights kept between calls */
    int profile;
};

int dnnl_cpu_has_bf16(void) {
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    return (isa & bf16) == bf16; /* the ISA values are nested bit sets */
}

DnnlCtx *dnnl_ctx_create(CpuScratch *scratch, int bf16) {
    DnnlCtx *c = xcalloc(1, sizeof *c);
    c->scratch = scratch;
    c->bf16 = bf16;
    DNNL_CHECK(dnnl_engine_create(&c->engine, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags));
    const char *p = getenv("DCGAN_PROFILE");
    c->profile = p && *p && strcmp(p, "0");
    const char *w = getenv("DCGAN_CPU_WINOGRAD");
    c->winograd = !bf16 && !(w && !strcmp(w, "0"));
    /* on AMX, oneDNN's bf16 matmul outran its bf16 convolutions (cpu_gemm_bf16.h); =0 / =1 force */
    const char *gm = getenv("DCGAN_CPU_BF16_GEMM");
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), amx = (unsigned)dnnl_cpu_isa_avx512_core_amx;
    c->gemm_bf16 = bf16 && (gm && *gm ? strcmp(gm, "0") != 0 : (isa & amx) == amx);
    c->wino = wino_cache_create();
    return c;
}

CpuScratch *dnnl_ctx_scratch(DnnlCtx *c) { return c->scratch; }

static void reorder_free(Reorder *r) {
    if (!r->needed || r->kind != RE_DNNL) return;
    dnnl_primitive_destroy(r->prim);
    dnnl_memory_destroy(r->from);
    dnnl_memory_destroy(r->to);
}

void dnnl_ctx_destroy(DnnlCtx *c) {
    if (!c) return;
    if (c->profile) {
        static const char *dn[DIR_COUNT] = {"fwd", "bwd_data", "bwd_weights"};
        double tot = 0;
        for (int i = 0; i < c->n; i++) tot += c->e[i].t_reorder + c->e[i].t_compute;
        for (int i = 0; i < c->nws; i++) tot += c->ws[i].t;
        fprintf(stderr, "oneDNN, Winograd and bf16 matrix-product convolutions: %.3f s\n", tot);
        for (int i = 0; i < c->nws; i++) {
            const WinoStat *w = &c->ws[i];
            const int K = w->g.K, kt = K == 4 ? 2 : 3;
            const double flop = 2.0 * w->g.B * w->g.Cs * w->g.Hs * w->g.Ws * w->g.Cb * K * K * w->calls;
            char how[40];
            if (c->winograd) snprintf(how, sizeof how, "Winograd F(4x4,%dx%d)", kt, kt);
            else snprintf(how, sizeof how, "im2col + bf16 matmul");
            fprintf(stderr, "  %-11s big %4dx%3dx%3d small %4dx%3dx%3d k%d s%d %s: %5ld calls, %.3f s (%.1f direct-equivalent GFLOP/s)\n",
                    dn[w->dir], w->g.Cb, w->g.Hb, w->g.Wb, w->g.Cs, w->g.Hs, w->g.Ws, K, w->g.S, how, w->calls, w->t,
                    flop / (w->t + 1e-12) / 1e9);
        }
        for (int i = 0; i < c->n; i++) {
            const Entry *e = &c->e[i];
            const double flop = 2.0 * e->g.B * e->g.Cs * e->g.Hs * e->g.Ws * e->g.Cb * e->g.K * e->g.K * e->calls;
            fprintf(stderr, "  %-11s big %4dx%3dx%3d small %4dx%3dx%3d k%d s%d: %5ld calls, compute %.3f s (%.1f GFLOP/s), reorders %.3f s\n",
                    dn[e->dir], e->g.Cb, e->g.Hb, e->g.Wb, e->g.Cs, e->g.Hs, e->g.Ws, e->g.K, e->g.S, e->calls,
                    e->t_compute, flop / (e->t_compute + 1e-12) / 1e9, e->t_reorder);
        }
    }
    for (int i = 0; i < c->n; i++) {
        Entry *e = &c->e[i];
        dnnl_primitive_destroy(e->prim);
        dnnl_memory_destroy(e->a);
        dnnl_memory_destroy(e->b);
        dnnl_memory_destroy(e->w);
        reorder_free(&e->ra);
        reorder_free(&e->rb);
        reorder_free(&e->rw);
    }
    free(c->e);
    for (int i = 0; i < c->nmm; i++) {
        dnnl_primitive_destroy(c->mm[i].prim);
        dnnl_memory_destroy(c->mm[i].a);
        dnnl_memory_destroy(c->mm[i].b);
        dnnl_memory_destroy(c->mm[i].out);
    }
    free(c->mm);
    free(c->ws);
    wino_cache_destroy(c->wino);
    dnnl_stream_destroy(c->stream);
    dnnl_engine_destroy(c->engine);
    free(c);
}

/* n images of a CNHW tensor of batch N: dims (n, C, H, W), strides (H*W, N*H*W, W, 1) */
static void cnhw_md(dnnl_memory_desc_t *md, int n, int N, int C, int H, int W) {
    dnnl_dims_t dims = {n, C, H, W}, strides = {(dnnl_dim_t)H * W, (dnnl_dim_t)N * H * W, W, 1};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides));
}

/* arr (of *cap elements of `size` bytes, n in use) with room for one more: doubled when full */
static void *room_for_one(void *arr, int n, int *cap, size_t size) {
    if (n < *cap) return arr;
    *cap = *cap ? 2 * *cap : 8;
    return xrealloc(arr, (size_t)*cap * size);
}

/* attributes that make a primitive add its result to its destination */
static dnnl_primitive_attr_t sum_attr(void) {
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t ops;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    DNNL_CHECK(dnnl_post_ops_create(&ops));
    DNNL_CHECK(dnnl_post_ops_append_sum(ops, 1.0f));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, ops));
    DNNL_CHECK(dnnl_post_ops_destroy(ops));
    return attr;
}

/* accumulate: the reorder adds to its destination (dst = dst + reordered src) */
static void make_reorder(DnnlCtx *c, Reorder *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                         int accumulate) {
    r->needed = !dnnl_memory_desc_equal(from, to);
    if (!r->needed) return;
    dnnl_primitive_attr_t attr = accumulate ? sum_attr() : NULL;
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, from, c->engine, to, c->engine, attr));
    if (attr) DNNL_CHECK(dnnl_primitive_attr_destroy(attr));
    DNNL_CHECK(dnnl_primitive_create(&r->prim, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    DNNL_CHECK(dnnl_memory_create(&r->from, from, c->engine, DNNL_MEMORY_NONE));
    DNNL_CHECK(dnnl_memory_create(&r->to, to, c->engine, DNNL_MEMORY_NONE));
}

/* Channels per block of oneDNN's nChw16c layout (dims n, C, H, W; the strides of the tag). */
#define BLK 16

/* One 16 x 16 tile: o[h][i] = t[i][h]. Fixed sizes, so the compiler keeps it in vector registers. */
static inline void tile_transpose(float *restrict o, const float *restrict t) {
    for (int h = 0; h < BLK; h++)
        for (int i = 0; i < BLK; i++) o[h * BLK + i] = t[i * BLK + h];
}

/* CNHW chunk -> nChw16c: src holds image b's channel ch at src + (ch*N + b)*HW; dst is (n, ceil(C/16),
 * HW, 16), with zeros in the channels past C (oneDNN reads a padded block's lanes), in fp32 or, with
 * bf16 set, in bf16 (uint16_t). A full block moves through 16 x 16 tiles, read and written in whole
 * rows; a padded block or a last partial tile goes value by value. oneDNN's own reorder between
 * these layouts ("jit:uni") ran at 8-9 GB/s here, this at 16-17 (fp32, 2 threads, 4-8 MB tensors).
 * Always inlined into its two callers, so each has bf16 as a constant. */
static inline __attribute__((always_inline)) void to_blocked_as(void *restrict dst, const float *restrict src, int n,
                                                                int N, int C, int HW, const int bf16) {
    const int nblk = (C + BLK - 1) / BLK;
    const size_t rs = (size_t)N * HW; /* from one channel to the next */
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nblk; cb++) {
            const size_t o0 = ((size_t)b * nblk + cb) * HW * BLK; /* this block's first value in dst */
            float *of = (float *)dst + o0;
            uint16_t *oh = (uint16_t *)dst + o0;
            const float *s = src + (size_t)cb * BLK * rs + (size_t)b * HW;
            const int lanes = C - cb * BLK < BLK ? C - cb * BLK : BLK;
            int h0 = 0;
            if (lanes == BLK)
                for (; h0 + BLK <= HW; h0 += BLK) {
                    float t[BLK * BLK], o[BLK * BLK];
                    for (int i = 0; i < BLK; i++) memcpy(t + i * BLK, s + i * rs + h0, BLK * sizeof(float));
                    if (!bf16) {
                        tile_transpose(of + (size_t)h0 * BLK, t);
                        continue;
                    }
                    tile_transpose(o, t);
                    for (int k = 0; k < BLK * BLK; k++) oh[(size_t)h0 * BLK + k] = bf16_of(o[k]);
                }
            for (; h0 < HW; h0++)
                for (int i = 0; i < BLK; i++) {
                    const float v = i < lanes ? s[i * rs + h0] : 0.0f;
                    if (bf16) oh[(size_t)h0 * BLK + i] = bf16_of(v);
                    else of[(size_t)h0 * BLK + i] = v;
                }
        }
}
static void to_blocked(float *dst, const float *src, int n, int N, int C, int HW) {
    to_blocked_as(dst, src, n, N, C, HW, 0);
}
static void to_blocked_bf16(uint16_t *dst, const float *src, int n, int N, int C, int HW) {
    to_blocked_as(dst, src, n, N, C, HW, 1);
}

/* nChw16c -> CNHW chunk, the inverse of to_blocked (a padded block's extra lanes are dropped). */
static void from_blocked(float *restrict dst, const float *restrict src, int n, int N, int C, int HW) {
    const int nblk = (C + BLK - 1) / BLK;
    const size_t rs = (size_t)N * HW;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nblk; cb++) {
            const float *s = src + ((size_t)b * nblk + cb) * HW * BLK;
            float *d = dst + (size_t)cb * BLK * rs + (size_t)b * HW;
            const int lanes = C - cb * BLK < BLK ? C - cb * BLK : BLK;
            int h0 = 0;
            if (lanes == BLK)
                for (; h0 + BLK <= HW; h0 += BLK) {
                    float t[BLK * BLK];
                    tile_transpose(t, s + (size_t)h0 * BLK); /* t[i][h] = s[h][i] */
                    for (int i = 0; i < BLK; i++) memcpy(d + i * rs + h0, t + i * BLK, BLK * sizeof(float));
                }
            for (; h0 < HW; h0++)
                for (int i = 0; i < lanes; i++) d[i * rs + h0] = s[(size_t)h0 * BLK + i];
        }
}

/* The reorder of an activation chunk between the user's CNHW layout (n images of batch N) and the
 * primitive's md: our own copy where md is nChw16c in fp32 (or bf16, into the primitive), else
 * oneDNN's reorder. */
static void make_act_reorder(DnnlCtx *c, Reorder *r, const dnnl_memory_desc_t *user, const dnnl_memory_desc_t *md,
                             int to_primitive, int n, int N, int C, int H, int W) {
    dnnl_dims_t dims = {n, C, H, W};
    dnnl_memory_desc_t blocked, blocked_bf16;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&blocked, 4, dims, dnnl_f32, dnnl_nChw16c));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&blocked_bf16, 4, dims, dnnl_bf16, dnnl_nChw16c));
    int kind = RE_DNNL;
    if (dnnl_memory_desc_equal(md, &blocked)) kind = to_primitive ? RE_TO_BLOCKED : RE_FROM_BLOCKED;
    else if (to_primitive && dnnl_memory_desc_equal(md, &blocked_bf16)) kind = RE_TO_BLOCKED_BF16;
    if (kind != RE_DNNL) {
        *r = (Reorder){.needed = 1, .kind = kind, .n = n, .N = N, .C = C, .HW = H * W};
        return;
    }
    if (to_primitive) make_reorder(c, r, user, md, 0);
    else make_reorder(c, r, md, user, 0);
}

static void run_reorder(DnnlCtx *c, Reorder *r, const void *from, void *to) {
    if (r->kind == RE_TO_BLOCKED) { to_blocked(to, from, r->n, r->N, r->C, r->HW); return; }
    if (r->kind == RE_TO_BLOCKED_BF16) { to_blocked_bf16(to, from, r->n, r->N, r->C, r->HW); return; }
    if (r->kind == RE_FROM_BLOCKED) { from_blocked(to, from, r->n, r->N, r->C, r->HW); return; }
    DNNL_CHECK(dnnl_memory_set_data_handle(r->from, (void *)from));
    DNNL_CHECK(dnnl_memory_set_data_handle(r->to, to));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, r->from}, {DNNL_ARG_TO, r->to}};
    DNNL_CHECK(dnnl_primitive_execute(r->prim, c->stream, 2, args));
}

static Entry *get_entry(DnnlCtx *c, const ConvGeom *g, int bfull, int dir) {
    for (int i = 0; i < c->n; i++)
        if (c->e[i].dir == dir && c->e[i].bfull == bfull && !memcmp(&c->e[i].g, g, sizeof *g)) return &c->e[i];
    c->e = room_for_one(c->e, c->n, &c->cap, sizeof(Entry));
    Entry *e = &c->e[c->n++];
    memset(e, 0, sizeof *e);
    e->g = *g;
    e->bfull = bfull;
    e->dir = dir;

    dnnl_dims_t big_d = {g->B, g->Cb, g->Hb, g->Wb}, small_d = {g->B, g->Cs, g->Hs, g->Ws},
                w_d = {g->Cs, g->Cb, g->K, g->K}, strides = {g->S, g->S};
    const int pr_h = (g->Hs - 1) * g->S + g->K - g->Hb - g->P, pr_w = (g->Ws - 1) * g->S + g->K - g->Wb - g->P;
    dnnl_dims_t pad_l = {g->P, g->P}, pad_r = {pr_h, pr_w};
    /* In bf16, a direction's inputs are bf16 and its output fp32: forward reads big and w, writes
     * small; backward-data reads small and w, writes big; backward-weights reads big and small. The
     * forward descriptor that hints the backward ones has bf16 inputs and an fp32 output too. */
    const dnnl_data_type_t lo = c->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_data_type_t ta = dir == DIR_BWD_DATA ? dnnl_f32 : lo, tb = dir == DIR_FWD ? dnnl_f32 : lo,
                           tw = dir == DIR_BWD_WEIGHTS ? dnnl_f32 : lo;
    dnnl_memory_desc_t big_any, small_any, w_any, big_user, small_user, w_user, big_hint, small_hint, w_hint;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&big_any, 4, big_d, ta, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&small_any, 4, small_d, tb, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, w_d, tw, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&big_hint, 4, big_d, lo, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&small_hint, 4, small_d, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_hint, 4, w_d, lo, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_user, 4, w_d, dnnl_f32, dnnl_oihw));
    cnhw_md(&big_user, g->B, bfull, g->Cb, g->Hb, g->Wb);
    cnhw_md(&small_user, g->B, bfull, g->Cs, g->Hs, g->Ws);

    /* the forward primitive descriptor is the hint for the backward ones */
    dnnl_convolution_desc_t fd;
    DNNL_CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &big_hint,
                                                  &w_hint, NULL, &small_hint, strides, pad_l, pad_r));
    dnnl_primitive_desc_t fpd, pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, c->engine, NULL));
    dnnl_query_t qa, qb, qw;
    if (dir == DIR_FWD) {
        pd = fpd;
        qa = dnnl_query_src_md; qb = dnnl_query_dst_md; qw = dnnl_query_weights_md;
    } else if (dir == DIR_BWD_DATA) {
        dnnl_convolution_desc_t bd;
        DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &big_any, &w_any, &small_any,
                                                            strides, pad_l, pad_r));
        DNNL_CHECK(dnnl_primitive_desc_create(&pd, &bd, NULL, c->engine, fpd));
        qa = dnnl_query_diff_src_md; qb = dnnl_query_diff_dst_md; qw = dnnl_query_weights_md;
    } else {
        dnnl_convolution_desc_t wd;
        DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &big_any, &w_any, NULL,
                                                               &small_any, strides, pad_l, pad_r));
        DNNL_CHECK(dnnl_primitive_desc_create(&pd, &wd, NULL, c->engine, fpd));
        qa = dnnl_query_src_md; qb = dnnl_query_diff_dst_md; qw = dnnl_query_diff_weights_md;
    }
    const dnnl_memory_desc_t *ma = dnnl_primitive_desc_query_md(pd, qa, 0), *mb = dnnl_primitive_desc_query_md(pd, qb, 0),
                             *mw = dnnl_primitive_desc_query_md(pd, qw, 0);
    DNNL_CHECK(dnnl_primitive_create(&e->prim, pd));
    DNNL_CHECK(dnnl_memory_create(&e->a, ma, c->engine, DNNL_MEMORY_NONE));
    DNNL_CHECK(dnnl_memory_create(&e->b, mb, c->engine, DNNL_MEMORY_NONE));
    DNNL_CHECK(dnnl_memory_create(&e->w, mw, c->engine, DNNL_MEMORY_NONE));
    e->a_bytes = dnnl_memory_desc_get_size(ma);
    e->b_bytes = dnnl_memory_desc_get_size(mb);
    e->w_bytes = dnnl_memory_desc_get_size(mw);
    /* inputs are reordered user -> primitive, outputs primitive -> user */
    make_act_reorder(c, &e->ra, &big_user, ma, dir != DIR_BWD_DATA, g->B, bfull, g->Cb, g->Hb, g->Wb);
    make_act_reorder(c, &e->rb, &small_user, mb, dir != DIR_FWD, g->B, bfull, g->Cs, g->Hs, g->Ws);
    if (dir != DIR_BWD_WEIGHTS) make_reorder(c, &e->rw, &w_user, mw, 0);
    else make_reorder(c, &e->rw, mw, &w_user, 1); /* the gradient is added to the caller's (they accumulate) */
    if (pd != fpd) DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(fpd));
    return e;
}

static size_t up64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Runs entry e. User pointers: big (a), small (b), weights (w); inputs are const in spirit. The
 * weights' copy in the primitive's layout stays in the scratch after the call, so the next chunk of
 * the same entry passes w_ready = 1 and skips reordering them again. For the weight gradient, w
 * accumulates: the primitive's result is added to it. */
static void run(DnnlCtx *c, Entry *e, void *big, void *small, void *w, int w_ready) {
    char *s = cpu_scratch_get(c->scratch, up64(e->w_bytes) + up64(e->a_bytes) + up64(e->b_bytes));
    const int in_a = e->dir != DIR_BWD_DATA, in_b = e->dir != DIR_FWD, in_w = e->dir != DIR_BWD_WEIGHTS;
    /* weights first, so that their copy sits at the same place for every chunk */
    void *pw = (e->rw.needed || !in_w) ? s : w;
    void *pa = e->ra.needed ? s + up64(e->w_bytes) : big;
    void *pb = e->rb.needed ? s + up64(e->w_bytes) + up64(e->a_bytes) : small;
    double t0 = c->profile ? now_seconds() : 0, t1 = 0, t2 = 0;
    if (in_a && e->ra.needed) run_reorder(c, &e->ra, big, pa);
    if (in_b && e->rb.needed) run_reorder(c, &e->rb, small, pb);
    if (in_w && e->rw.needed && !w_ready) run_reorder(c, &e->rw, w, pw);
    if (c->profile) { DNNL_CHECK(dnnl_stream_wait(c->stream)); t1 = now_seconds(); }
    DNNL_CHECK(dnnl_memory_set_data_handle(e->a, pa));
    DNNL_CHECK(dnnl_memory_set_data_handle(e->b, pb));
    DNNL_CHECK(dnnl_memory_set_data_handle(e->w, pw));
    dnnl_exec_arg_t args[3];
    if (e->dir == DIR_FWD) {
        args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->a};
        args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->w};
        args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->b};
    } else if (e->dir == DIR_BWD_DATA) {
        args[0] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, e->a};
        args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->w};
        args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->b};
    } else {
        args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->a};
        args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, e->w};
        args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->b};
    }
    DNNL_CHECK(dnnl_primitive_execute(e->prim, c->stream, 3, args));
    if (c->profile) { DNNL_CHECK(dnnl_stream_wait(c->stream)); t2 = now_seconds(); }
    if (!in_a && e->ra.needed) run_reorder(c, &e->ra, pa, big);
    if (!in_b && e->rb.needed) run_reorder(c, &e->rb, pb, small);
    if (!in_w) {
        if (e->rw.needed) {
            run_reorder(c, &e->rw, pw, w); /* w += the gradient, through the reorder's sum */
        } else {
            DNNL_CHECK(dnnl_stream_wait(c->stream));
            const size_t wn = e->w_bytes / sizeof(float);
            float *dw = w;
            const float *gw = pw;
            #pragma omp parallel for schedule(static)
            for (size_t i = 0; i < wn; i++) dw[i] += gw[i];
        }
    }
    DNNL_CHECK(dnnl_stream_wait(c->stream));
    if (c->profile) {
        e->t_reorder += (t1 - t0) + (now_seconds() - t2);
        e->t_compute += t2 - t1;
    }
    e->calls++;
}

/* Images per call: the batch is split into the fewest equal chunks whose blocked copies stay within
 * CHUNK_BYTES (oneDNN pads channels to 16 in its blocked layouts). */
#define CHUNK_BYTES ((size_t)16 << 20)
static int chunk_of(const ConvGeom *g) {
    const size_t cb = (size_t)((g->Cb + 15) / 16 * 16), cs = (size_t)((g->Cs + 15) / 16 * 16);
    const size_t per = (cb * g->Hb * g->Wb + cs * g->Hs * g->Ws) * sizeof(float);
    size_t nb = CHUNK_BYTES / (per ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->B) nb = g->B;
    /* chunks of equal size (64 = 32 + 32, not 42 + 22): one primitive, and no small last call */
    const size_t chunks = (g->B + nb - 1) / nb;
    return (int)((g->B + chunks - 1) / chunks);
}

/* Runs direction dir over the batch in chunks, in a fixed order; big/small point at whole CNHW
 * tensors, w at the weights (or, for DIR_BWD_WEIGHTS, the gradient they accumulate into). */
static void run_chunked(DnnlCtx *c, const ConvGeom *g, int dir, float *big, float *small, float *w) {
    const int nb = chunk_of(g);
    const Entry *prev = NULL;
    for (int b0 = 0; b0 < g->B; b0 += nb) {
        ConvGeom gc = *g;
        gc.B = b0 + nb <= g->B ? nb : g->B - b0;
        Entry *e = get_entry(c, &gc, g->B, dir);
        run(c, e, big + (size_t)b0 * g->Hb * g->Wb, small + (size_t)b0 * g->Hs * g->Ws, w, e == prev);
        prev = e;
    }
}

/* ---- matmul (the Winograd products; the bf16 convolutions' products) ---- */

/* X matrices (R,C) `plane` elements apart, each row-major with rows ld apart, or its transpose read
 * in place ((C,R) stored, rows ld apart); X = 0: one matrix, described as 2-D (oneDNN's fast matmul
 * kernels take a 3-D one of a single matrix, whose plane stride is then arbitrary, for a strange
 * layout and run its reference code) */
static void mat_md(dnnl_memory_desc_t *md, dnnl_data_type_t dt, int X, int R, int C, int transposed, size_t plane,
                   size_t ld) {
    const dnnl_dim_t rs = transposed ? 1 : (dnnl_dim_t)ld, cs = transposed ? (dnnl_dim_t)ld : 1;
    if (X == 0) {
        dnnl_dims_t dims = {R, C}, strides = {rs, cs};
        DNNL_CHECK(dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides));
        return;
    }
    dnnl_dims_t dims = {X, R, C}, strides = {(dnnl_dim_t)plane, rs, cs};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(md, 3, dims, dt, strides));
}

static MatmulEntry *get_matmul(DnnlCtx *c, const MatmulEntry *want) {
    for (int i = 0; i < c->nmm; i++) {
        const MatmulEntry *e = &c->mm[i];
        if (e->X == want->X && e->M == want->M && e->N == want->N && e->K == want->K && e->ta == want->ta &&
            e->tb == want->tb && e->accumulate == want->accumulate && e->bf16 == want->bf16 && e->sa == want->sa &&
            e->sb == want->sb && e->so == want->so && e->lda == want->lda && e->ldb == want->ldb && e->ldo == want->ldo)
            return &c->mm[i];
    }
    c->mm = room_for_one(c->mm, c->nmm, &c->capmm, sizeof *c->mm);
    MatmulEntry *e = &c->mm[c->nmm++];
    *e = *want;
    const int X = e->X, M = e->M, N = e->N, K = e->K, accumulate = e->accumulate;
    const dnnl_data_type_t dt = e->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t a, b, o;
    mat_md(&a, dt, X, M, K, e->ta, e->sa, e->lda);
    mat_md(&b, dt, X, K, N, e->tb, e->sb, e->ldb);
    mat_md(&o, dnnl_f32, X, M, N, 0, e->so, e->ldo);
    dnnl_primitive_attr_t attr = accumulate ? sum_attr() : NULL;
    dnnl_matmul_desc_t md;
    DNNL_CHECK(dnnl_matmul_desc_init(&md, &a, &b, NULL, &o));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &md, attr, c->engine, NULL));
    if (attr) DNNL_CHECK(dnnl_primitive_attr_destroy(attr));
    DNNL_CHECK(dnnl_primitive_create(&e->prim, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    DNNL_CHECK(dnnl_memory_create(&e->a, &a, c->engine, DNNL_MEMORY_NONE));
    DNNL_CHECK(dnnl_memory_create(&e->b, &b, c->engine, DNNL_MEMORY_NONE));
    DNNL_CHECK(dnnl_memory_create(&e->out, &o, c->engine, DNNL_MEMORY_NONE));
    return e;
}

static void run_matmul(DnnlCtx *c, MatmulEntry *e, const void *a, const void *b, float *out) {
    DNNL_CHECK(dnnl_memory_set_data_handle(e->a, (void *)a));
    DNNL_CHECK(dnnl_memory_set_data_handle(e->b, (void *)b));
    DNNL_CHECK(dnnl_memory_set_data_handle(e->out, out));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->out}};
    DNNL_CHECK(dnnl_primitive_execute(e->prim, c->stream, 3, args));
    DNNL_CHECK(dnnl_stream_wait(c->stream));
}

void dnnl_batched_matmul(DnnlCtx *c, int X, int M, int N, int K, int ta, int tb, int accumulate, const float *a,
                         size_t sa, const float *b, size_t sb, float *out, size_t so) {
    const MatmulEntry want = {X, M, N, K, ta, tb, accumulate, 0, sa, sb, so, ta ? M : K, tb ? K : N, N,
                              NULL, NULL, NULL, NULL};
    run_matmul(c, get_matmul(c, &want), a, b, out);
}

void dnnl_matmul_bf16(DnnlCtx *c, int M, int N, int K, int ta, int tb, int accumulate, const uint16_t *a, size_t lda,
                      const uint16_t *b, size_t ldb, float *out, size_t ldo) {
    const MatmulEntry want = {0, M, N, K, ta, tb, accumulate, 1, 0, 0, 0, lda, ldb, ldo, NULL, NULL, NULL, NULL};
    run_matmul(c, get_matmul(c, &want), a, b, out);
}

/* ---- the three calls: Winograd where it fits, else oneDNN's own convolutions ---- */

static void wino_account(DnnlCtx *c, const ConvGeom *g, int dir, double t) {
    WinoStat *w = NULL;
    for (int i = 0; i < c->nws && !w; i++)
        if (c->ws[i].dir == dir && !memcmp(&c->ws[i].g, g, sizeof *g)) w = &c->ws[i];
    if (!w) {
        c->ws = room_for_one(c->ws, c->nws, &c->capws, sizeof *c->ws);
        w = &c->ws[c->nws++];
        *w = (WinoStat){*g, dir, 0, 0};
    }
    w->calls++;
    w->t += t;
}

/* direction dir of one convolution: by Winograd (fp32) or as matrix products (bf16) where they take
 * the layer (timed for DCGAN_PROFILE), else by oneDNN's own primitives; for DIR_BWD_WEIGHTS, w is
 * the gradient it accumulates into */
static void conv_dir(DnnlCtx *c, const ConvGeom *g, int dir, float *big, float *small, float *w) {
    const int wino = c->winograd && wino_fits(g), gemm = c->gemm_bf16 && gemm_bf16_fits(g, dir == DIR_FWD);
    if (!wino && !gemm) {
        run_chunked(c, g, dir, big, small, w);
        return;
    }
    const double t0 = c->profile ? now_seconds() : 0;
    if (wino && dir == DIR_FWD) wino_conv_fwd(c, c->wino, g, small, big, w);
    else if (wino && dir == DIR_BWD_DATA) wino_conv_bwd_data(c, c->wino, g, big, small, w);
    else if (wino) wino_conv_bwd_weights(c, g, w, big, small);
    else if (dir == DIR_FWD) gemm_bf16_fwd(c, g, small, big, w);
    else if (dir == DIR_BWD_DATA) gemm_bf16_bwd_data(c, g, big, small, w);
    else gemm_bf16_bwd_weights(c, g, w, big, small);
    if (c->profile) wino_account(c, g, dir, now_seconds() - t0);
}

void dnnl_conv_fwd(DnnlCtx *c, const ConvGeom *g, float *small, const float *big, const float *w) {
    conv_dir(c, g, DIR_FWD, (float *)big, small, (float *)w);
}

void dnnl_conv_bwd_data(DnnlCtx *c, const ConvGeom *g, float *big, const float *small, const float *w) {
    conv_dir(c, g, DIR_BWD_DATA, big, (float *)small, (float *)w);
}

void dnnl_conv_bwd_weights(DnnlCtx *c, const ConvGeom *g, float *dw, const float *big, const float *small) {
    conv_dir(c, g, DIR_BWD_WEIGHTS, (float *)big, (float *)small, dw);
}
#else
typedef int dcgan_cpu_dnnl_unused; /* ISO C wants a translation unit to declare something */
#endif
