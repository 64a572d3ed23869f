/* cpu.c: the CPU backend. Convolutions are im2col / col2im + OpenBLAS sgemm over the whole batch
 * (batch chunks bound the scratch memory); everything else is plain C loops split across OpenMP
 * threads. Every reduction has a fixed order per output element, so results depend only on the
 * inputs and the thread count. See ops.h for the layout and gradient conventions. As cpu-blas:bf16
 * (for test_cuda) it emulates the CUDA backend's bf16 arithmetic (see "emulated" below). */
#include "../ops/ops.h"
#include "../core/util.h"
#include "../core/ctr_rng.h"
#include "../ops/op_math.h"
#include "cpu_dnnl.h"
#include "bf16_points.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The im2col scratch is capped at this many floats (16 MB); bigger layers are done in batch chunks,
 * which still give sgemm thousands of columns. */
#define COL_BUDGET_FLOATS ((size_t)4 << 20)

typedef struct {
    CpuScratch scratch; /* im2col / col2im columns, or oneDNN's reordered copies */
    size_t live_bytes, mem_limit; /* tensor memory held, and the machine's available memory */
#ifdef DCGAN_HAVE_DNNL
    DnnlCtx *dnnl;  /* oneDNN convolutions, or NULL for im2col + sgemm */
#endif
    int bf16_emulate; /* cpu-blas:bf16: the CUDA backend's bf16 rounding (bf16_points.h), for test_cuda */
    float *emu[4];    /* rounded operand copies and a weight-gradient term of the emulation */
    size_t emu_cap[4];
} CpuCtx;

#ifdef DCGAN_HAVE_DNNL
/* Images with at most this many channels (RGB, gray) take the col2im path for backward-data,
 * where oneDNN 2.6 has no fast kernel (it ran at ~14 GFLOP/s against ~85 for the other layers). */
#define FEW_CHANNELS 4
static DnnlCtx *dnnl_of(Backend *be) { return ((CpuCtx *)be->ctx)->dnnl; }
/* conv2d's geometry: the input is the big side */
static ConvGeom geom_conv(const ConvShape *s) {
    ConvGeom g = {s->B, s->Ci, s->Hi, s->Wi, s->Co, s->Ho, s->Wo, s->K, s->S, s->P};
    return g;
}
/* conv_transpose2d's: the output is the big side */
static ConvGeom geom_convt(const ConvShape *s) {
    ConvGeom g = {s->B, s->Co, s->Ho, s->Wo, s->Ci, s->Hi, s->Wi, s->K, s->S, s->P};
    return g;
}
#endif

/* Declared by OpenBLAS; sets its thread count (the OpenMP build shares OpenMP's threads). */
void openblas_set_num_threads(int num_threads);

void *cpu_scratch_get(CpuScratch *s, size_t bytes) {
    if (bytes > s->bytes) {
        free(s->p);
        s->p = NULL;
        if (posix_memalign(&s->p, 64, bytes) != 0) die("out of memory for convolution scratch (%.1f MB)", bytes / 1048576.0);
        s->bytes = bytes;
    }
    return s->p;
}

static float *cpu_scratch(Backend *be, size_t n) { return cpu_scratch_get(&((CpuCtx *)be->ctx)->scratch, n * sizeof(float)); }

/* ------------------------------------------------------------------------------------------------
 * memory */

/* Bytes of memory the kernel reports as available (MemAvailable), or all of RAM without /proc. */
static size_t available_memory(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb) return (size_t)kb * 1024;
    return (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGE_SIZE);
}

/* Each tensor sits after a header holding its size and the start of its block, so the backend can
 * count what it holds and refuse, with a clear line, a run that cannot fit in memory, before the
 * kernel's OOM killer would end it later without a word. calloc gives big blocks as untouched
 * zero pages, so the refusal comes at once. Tensors are 64-byte aligned. */
typedef struct { void *block; size_t bytes; } TensorHeader;
static float *cpu_alloc(Backend *be, size_t n) {
    CpuCtx *c = be->ctx;
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    if (c->live_bytes + bytes > c->mem_limit)
        die("out of memory: this run needs more than the %.1f GB of memory available; try a smaller --batch or --size",
            c->mem_limit / 1073741824.0);
    uint8_t *block = calloc(1, bytes + 64 + sizeof(TensorHeader));
    if (!block) die("out of memory allocating %.1f MB; try a smaller --batch or --size", bytes / 1048576.0);
    uintptr_t t = ((uintptr_t)block + sizeof(TensorHeader) + 63) & ~(uintptr_t)63;
    TensorHeader h = {block, bytes};
    memcpy((uint8_t *)t - sizeof h, &h, sizeof h);
    c->live_bytes += bytes;
    return (float *)t;
}
static void cpu_free(Backend *be, float *t) {
    if (!t) return;
    CpuCtx *c = be->ctx;
    TensorHeader h;
    memcpy(&h, (uint8_t *)t - sizeof h, sizeof h);
    c->live_bytes -= h.bytes;
    free(h.block);
}
static void cpu_copy(Backend *be, float *dst, const float *src, size_t n) {
    (void)be;
    if (n) memmove(dst, src, n * sizeof(float));
}
static void cpu_zero(Backend *be, float *x, size_t n) {
    (void)be;
    if (n) memset(x, 0, n * sizeof(float));
}

static void cpu_transpose01(Backend *be, float *out, const float *in, int A, int Bn, int R) {
    (void)be;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int a = 0; a < A; a++)
        for (int b = 0; b < Bn; b++)
            memcpy(out + ((size_t)b * A + a) * R, in + ((size_t)a * Bn + b) * R, (size_t)R * sizeof(float));
}

/* ------------------------------------------------------------------------------------------------
 * linear */

static void add_bias_rows(float *out, const float *bias, int rows, int cols) {
    /* out (rows, cols) += bias (cols) */
    #pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] += bias[c];
}

static void cpu_linear_forward_f32(Backend *be, float *out, const float *in, const float *w, const float *bias,
                                   int B, int Ni, int No) {
    (void)be;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, No, Ni, 1.0f, in, Ni, w, Ni, 0.0f, out, No);
    if (bias) add_bias_rows(out, bias, B, No);
}

static void cpu_linear_backward_f32(Backend *be, float *din, float *dw, float *dbias, const float *dout,
                                    const float *in, const float *w, int B, int Ni, int No) {
    (void)be;
    if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, Ni, No, 1.0f, dout, No, w, Ni, 0.0f, din, Ni);
    if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, No, Ni, B, 1.0f, dout, No, in, Ni, 1.0f, dw, Ni);
    if (dbias) {
        #pragma omp parallel for schedule(static)
        for (int o = 0; o < No; o++) {
            double s = 0.0;
            for (int b = 0; b < B; b++) s += dout[(size_t)b * No + o];
            dbias[o] += (float)s;
        }
    }
}

/* ------------------------------------------------------------------------------------------------
 * im2col / col2im over a batch chunk, CNHW layout (serial: called from inside a parallel region).
 * The "big" image x is (C, B, H, W); the "small" grid is (Ho, Wo) with kernel K, stride S, pad P.
 * col is (C*K*K, nb*Ho*Wo) for images b0 .. b0+nb-1. */

static void im2col(float *col, const float *x, int C, int B, int H, int W, int b0, int nb,
                   int Ho, int Wo, int K, int S, int P) {
    const size_t ncol = (size_t)nb * Ho * Wo;
    for (int r = 0; r < C * K * K; r++) {
        const int c = r / (K * K), ki = (r / K) % K, kj = r % K;
        float *dst = col + (size_t)r * ncol;
        int ow0, ow1; /* output columns whose input column stays inside the image */
        conv_cols_inside(Wo, W, S, P, kj, &ow0, &ow1);
        for (int b = 0; b < nb; b++) {
            const float *src = x + ((size_t)c * B + b0 + b) * H * W;
            for (int oh = 0; oh < Ho; oh++, dst += Wo) {
                const int ih = oh * S - P + ki;
                if (ih < 0 || ih >= H) {
                    memset(dst, 0, (size_t)Wo * sizeof(float));
                    continue;
                }
                const float *row = src + (size_t)ih * W - P + kj;
                for (int ow = 0; ow < ow0; ow++) dst[ow] = 0.0f;
                if (S == 1) memcpy(dst + ow0, row + ow0, (size_t)(ow1 - ow0) * sizeof(float));
                else if (S == 2) for (int ow = ow0; ow < ow1; ow++) dst[ow] = row[2 * ow];
                else for (int ow = ow0; ow < ow1; ow++) dst[ow] = row[ow * S];
                for (int ow = ow1; ow < Wo; ow++) dst[ow] = 0.0f;
            }
        }
    }
}

/* x (C, B, H, W) images b0.. b0+nb-1 are overwritten with the sum of col's contributions (also
 * cpu_gemm_bf16.c's, one channel per call; cpu_dnnl.h). */
void cpu_col2im(float *x, const float *col, int C, int B, int H, int W, int b0, int nb, int Ho, int Wo, int K, int S,
                int P) {
    const size_t ncol = (size_t)nb * Ho * Wo;
    for (int c = 0; c < C; c++) {
        for (int b = 0; b < nb; b++) {
            float *dst = x + ((size_t)c * B + b0 + b) * H * W;
            memset(dst, 0, (size_t)H * W * sizeof(float));
            for (int ki = 0; ki < K; ki++) {
                for (int kj = 0; kj < K; kj++) {
                    const float *src = col + ((size_t)(c * K + ki) * K + kj) * ncol + (size_t)b * Ho * Wo;
                    int ow0, ow1;
                    conv_cols_inside(Wo, W, S, P, kj, &ow0, &ow1);
                    for (int oh = 0; oh < Ho; oh++) {
                        const int ih = oh * S - P + ki;
                        if (ih < 0 || ih >= H) continue;
                        float *row = dst + (size_t)ih * W - P + kj;
                        const float *s = src + (size_t)oh * Wo;
                        if (S == 2) for (int ow = ow0; ow < ow1; ow++) row[2 * ow] += s[ow];
                        else for (int ow = ow0; ow < ow1; ow++) row[ow * S] += s[ow];
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------------
 * Convolutions are parallel over the batch: thread t owns a contiguous range of images and runs
 * im2col / col2im and a single-threaded sgemm on chunks of it (OpenBLAS runs single-threaded
 * inside an OpenMP region). Outputs of different threads never overlap; weight gradients go to
 * per-thread buffers that are summed in thread order afterwards, so results are deterministic for
 * a given thread count. */

typedef struct {
    int nthreads, nb;   /* threads, images per chunk */
    size_t col_per_thread;
} BatchPlan;

static BatchPlan batch_plan(Backend *be, size_t per_image, int B, size_t extra_per_thread, float **scratch) {
    BatchPlan p;
    p.nthreads = omp_get_max_threads();
    if (p.nthreads > B) p.nthreads = B;
    if (p.nthreads < 1) p.nthreads = 1;
    const int per_thread_images = (B + p.nthreads - 1) / p.nthreads;
    size_t nb = COL_BUDGET_FLOATS / p.nthreads / (per_image ? per_image : 1);
    if (nb < 1) nb = 1;
    if (nb > (size_t)per_thread_images) nb = per_thread_images;
    p.nb = (int)nb;
    p.col_per_thread = nb * per_image + extra_per_thread;
    *scratch = cpu_scratch(be, p.col_per_thread * p.nthreads);
    return p;
}

/* images [*lo, *hi) of thread t */
static void thread_range(int t, int T, int B, int *lo, int *hi) {
    *lo = (int)((long)B * t / T);
    *hi = (int)((long)B * (t + 1) / T);
}

/* dw (n) += sum over threads of priv[t*stride .. +n), in thread order */
static void reduce_threads(float *dw, const float *priv, size_t stride, size_t n, int T) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float s = dw[i];
        for (int t = 0; t < T; t++) s += priv[(size_t)t * stride + i];
        dw[i] = s;
    }
}

static void add_bias_channels(float *out, const float *bias, int C, size_t N) {
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float *o = out + (size_t)c * N;
        const float bc = bias[c];
        for (size_t i = 0; i < N; i++) o[i] += bc;
    }
}

static void sum_channels(float *acc, const float *x, int C, size_t N) {
    /* acc (C) += sum over each channel's N values */
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *p = x + (size_t)c * N;
        double s = 0.0;
        for (size_t i = 0; i < N; i++) s += p[i];
        acc[c] += (float)s;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Dense convolutions: a kernel that covers the whole big side (D's last layer, K x K -> 1 x 1; G's
 * first, 1 x 1 -> K x K) is a matrix product. One sgemm between (B, C*K*K) rows does it; oneDNN
 * and im2col spend more on layout and setup than on such a product. */

static int conv_is_dense(const ConvShape *s) {
    return s->Ho == 1 && s->Wo == 1 && s->Hi == s->K && s->Wi == s->K && s->S == 1 && s->P == 0;
}
static int convt_is_dense(const ConvShape *s) {
    return s->Hi == 1 && s->Wi == 1 && s->Ho == s->K && s->Wo == s->K && s->S == 1 && s->P == 0;
}

/* conv2d, dense: out (Co,B) = W (Co, Ci*KK) . x^T, with x (Ci,B,KK) as rows X (B, Ci*KK) */
static void dense_conv_forward(Backend *be, float *out, const float *in, const float *w, const float *bias,
                               const ConvShape *s) {
    const int kk = s->K * s->K, F = s->Ci * kk, B = s->B;
    float *X = cpu_scratch(be, (size_t)B * F + (size_t)B * s->Co), *O = X + (size_t)B * F;
    cpu_transpose01(be, X, in, s->Ci, B, kk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, s->Co, F, 1.0f, X, F, w, F, 0.0f, O, s->Co);
    cpu_transpose01(be, out, O, B, s->Co, 1);
    if (bias) add_bias_channels(out, bias, s->Co, (size_t)B);
}

static void dense_conv_backward(Backend *be, float *din, float *dw, const float *dout, const float *in,
                                const float *w, const ConvShape *s) {
    const int kk = s->K * s->K, F = s->Ci * kk, B = s->B;
    float *X = cpu_scratch(be, (size_t)B * F + (size_t)B * s->Co), *D = X + (size_t)B * F;
    cpu_transpose01(be, D, dout, s->Co, B, 1); /* (B, Co) */
    if (dw) { /* dW (Co, F) += dout (Co, B) . X (B, F) */
        cpu_transpose01(be, X, in, s->Ci, B, kk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Co, F, B, 1.0f, dout, B, X, F, 1.0f, dw, F);
    }
    if (din) { /* X (B, F) = D (B, Co) . W (Co, F), then (Ci, B, KK) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, F, s->Co, 1.0f, D, s->Co, w, F, 0.0f, X, F);
        cpu_transpose01(be, din, X, B, s->Ci, kk);
    }
}

/* conv_transpose2d, dense: rows (B, Co*KK) = in^T (B, Ci) . W (Ci, Co*KK), then (Co, B, KK) */
static void dense_convt_forward(Backend *be, float *out, const float *in, const float *w, const float *bias,
                                const ConvShape *s) {
    const int kk = s->K * s->K, F = s->Co * kk, B = s->B;
    float *R = cpu_scratch(be, (size_t)B * F);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, B, F, s->Ci, 1.0f, in, B, w, F, 0.0f, R, F);
    cpu_transpose01(be, out, R, B, s->Co, kk);
    if (bias) add_bias_channels(out, bias, s->Co, (size_t)B * kk);
}

static void dense_convt_backward(Backend *be, float *din, float *dw, const float *dout, const float *in,
                                 const float *w, const ConvShape *s) {
    const int kk = s->K * s->K, F = s->Co * kk, B = s->B;
    float *D = cpu_scratch(be, (size_t)B * F);
    cpu_transpose01(be, D, dout, s->Co, B, kk); /* (B, Co*KK) */
    if (dw) /* dW (Ci, F) += in (Ci, B) . D (B, F) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Ci, F, B, 1.0f, in, B, D, F, 1.0f, dw, F);
    if (din) /* din (Ci, B) = W (Ci, F) . D^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Ci, B, F, 1.0f, w, F, D, F, 0.0f, din, B);
}

/* ------------------------------------------------------------------------------------------------
 * conv2d: out (Co, B*Ho*Wo) = W (Co, Ci*K*K) x col (Ci*K*K, B*Ho*Wo) */

static void cpu_conv2d_forward_f32(Backend *be, float *out, const float *in, const float *w, const float *bias,
                                   const ConvShape *s) {
    if (conv_is_dense(s)) { dense_conv_forward(be, out, in, w, bias, s); return; }
#ifdef DCGAN_HAVE_DNNL
    if (dnnl_of(be)) {
        const ConvGeom g = geom_conv(s);
        dnnl_conv_fwd(dnnl_of(be), &g, out, in, w);
        if (bias) add_bias_channels(out, bias, s->Co, (size_t)s->B * s->Ho * s->Wo);
        return;
    }
#endif
    const int kk = s->Ci * s->K * s->K, hw = s->Ho * s->Wo;
    const int N = s->B * hw;
    float *scratch;
    const BatchPlan p = batch_plan(be, (size_t)kk * hw, s->B, 0, &scratch);
    #pragma omp parallel num_threads(p.nthreads)
    {
        const int t = omp_get_thread_num();
        float *col = scratch + p.col_per_thread * t;
        int lo, hi;
        thread_range(t, p.nthreads, s->B, &lo, &hi);
        for (int b0 = lo; b0 < hi; b0 += p.nb) {
            const int n = b0 + p.nb <= hi ? p.nb : hi - b0;
            im2col(col, in, s->Ci, s->B, s->Hi, s->Wi, b0, n, s->Ho, s->Wo, s->K, s->S, s->P);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Co, n * hw, kk, 1.0f, w, kk, col, n * hw,
                        0.0f, out + (size_t)b0 * hw, N);
        }
    }
    if (bias) add_bias_channels(out, bias, s->Co, (size_t)N);
}

static void cpu_conv2d_backward_f32(Backend *be, float *din, float *dw, float *dbias, const float *dout,
                                    const float *in, const float *w, const ConvShape *s) {
    const int kk = s->Ci * s->K * s->K, hw = s->Ho * s->Wo;
    const int N = s->B * hw;
    const size_t wn = (size_t)s->Co * kk;
    if (dbias) sum_channels(dbias, dout, s->Co, (size_t)N);
    if (!din && !dw) return;
    if (conv_is_dense(s)) { dense_conv_backward(be, din, dw, dout, in, w, s); return; }
#ifdef DCGAN_HAVE_DNNL
    if (dnnl_of(be)) {
        const ConvGeom g = geom_conv(s);
        if (dw) dnnl_conv_bwd_weights(dnnl_of(be), &g, dw, in, dout);
        if (!din) return;
        if (s->Ci > FEW_CHANNELS) {
            dnnl_conv_bwd_data(dnnl_of(be), &g, din, dout, w);
            return;
        }
        dw = NULL; /* din only, by col2im below: oneDNN's backward-data is slow for few channels */
    }
#endif
    float *scratch;
    const BatchPlan p = batch_plan(be, (size_t)kk * hw, s->B, dw ? wn : 0, &scratch);
    #pragma omp parallel num_threads(p.nthreads)
    {
        const int t = omp_get_thread_num();
        float *col = scratch + p.col_per_thread * t, *dwp = col + (size_t)p.nb * kk * hw;
        if (dw) memset(dwp, 0, wn * sizeof(float));
        int lo, hi;
        thread_range(t, p.nthreads, s->B, &lo, &hi);
        for (int b0 = lo; b0 < hi; b0 += p.nb) {
            const int n = b0 + p.nb <= hi ? p.nb : hi - b0;
            const float *dchunk = dout + (size_t)b0 * hw;
            if (dw) {
                im2col(col, in, s->Ci, s->B, s->Hi, s->Wi, b0, n, s->Ho, s->Wo, s->K, s->S, s->P);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Co, kk, n * hw, 1.0f, dchunk, N, col, n * hw,
                            1.0f, dwp, kk);
            }
            if (din) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, n * hw, s->Co, 1.0f, w, kk, dchunk, N, 0.0f,
                            col, n * hw);
                cpu_col2im(din, col, s->Ci, s->B, s->Hi, s->Wi, b0, n, s->Ho, s->Wo, s->K, s->S, s->P);
            }
        }
    }
    if (dw) reduce_threads(dw, scratch + (size_t)p.nb * kk * hw, p.col_per_thread, wn, p.nthreads);
}

/* ------------------------------------------------------------------------------------------------
 * conv_transpose2d: col (Co*K*K, B*Hi*Wi) = W^T x in, then col2im onto the large output. */

static void cpu_convt_forward_f32(Backend *be, float *out, const float *in, const float *w, const float *bias,
                                  const ConvShape *s) {
    if (convt_is_dense(s)) { dense_convt_forward(be, out, in, w, bias, s); return; }
#ifdef DCGAN_HAVE_DNNL
    if (dnnl_of(be) && s->Co > FEW_CHANNELS) { /* oneDNN's backward-data is slow for few channels */
        const ConvGeom g = geom_convt(s);
        dnnl_conv_bwd_data(dnnl_of(be), &g, out, in, w);
        if (bias) add_bias_channels(out, bias, s->Co, (size_t)s->B * s->Ho * s->Wo);
        return;
    }
#endif
    const int kk = s->Co * s->K * s->K, hw = s->Hi * s->Wi;
    const int Nin = s->B * hw;
    float *scratch;
    const BatchPlan p = batch_plan(be, (size_t)kk * hw, s->B, 0, &scratch);
    #pragma omp parallel num_threads(p.nthreads)
    {
        const int t = omp_get_thread_num();
        float *col = scratch + p.col_per_thread * t;
        int lo, hi;
        thread_range(t, p.nthreads, s->B, &lo, &hi);
        for (int b0 = lo; b0 < hi; b0 += p.nb) {
            const int n = b0 + p.nb <= hi ? p.nb : hi - b0;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, n * hw, s->Ci, 1.0f, w, kk, in + (size_t)b0 * hw,
                        Nin, 0.0f, col, n * hw);
            cpu_col2im(out, col, s->Co, s->B, s->Ho, s->Wo, b0, n, s->Hi, s->Wi, s->K, s->S, s->P);
        }
    }
    if (bias) add_bias_channels(out, bias, s->Co, (size_t)s->B * s->Ho * s->Wo);
}

static void cpu_convt_backward_f32(Backend *be, float *din, float *dw, float *dbias, const float *dout,
                                   const float *in, const float *w, const ConvShape *s) {
    const int kk = s->Co * s->K * s->K, hw = s->Hi * s->Wi;
    const int Nin = s->B * hw;
    const size_t wn = (size_t)s->Ci * kk;
    if (dbias) sum_channels(dbias, dout, s->Co, (size_t)s->B * s->Ho * s->Wo);
    if (!din && !dw) return;
    if (convt_is_dense(s)) { dense_convt_backward(be, din, dw, dout, in, w, s); return; }
#ifdef DCGAN_HAVE_DNNL
    if (dnnl_of(be)) {
        const ConvGeom g = geom_convt(s);
        if (dw) dnnl_conv_bwd_weights(dnnl_of(be), &g, dw, dout, in);
        if (din) dnnl_conv_fwd(dnnl_of(be), &g, din, dout, w);
        return;
    }
#endif
    float *scratch;
    const BatchPlan p = batch_plan(be, (size_t)kk * hw, s->B, dw ? wn : 0, &scratch);
    #pragma omp parallel num_threads(p.nthreads)
    {
        const int t = omp_get_thread_num();
        float *col = scratch + p.col_per_thread * t, *dwp = col + (size_t)p.nb * kk * hw;
        if (dw) memset(dwp, 0, wn * sizeof(float));
        int lo, hi;
        thread_range(t, p.nthreads, s->B, &lo, &hi);
        for (int b0 = lo; b0 < hi; b0 += p.nb) {
            const int n = b0 + p.nb <= hi ? p.nb : hi - b0;
            im2col(col, dout, s->Co, s->B, s->Ho, s->Wo, b0, n, s->Hi, s->Wi, s->K, s->S, s->P);
            if (dw) /* before din: din may alias in */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Ci, kk, n * hw, 1.0f, in + (size_t)b0 * hw, Nin,
                            col, n * hw, 1.0f, dwp, kk);
            if (din)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Ci, n * hw, kk, 1.0f, w, kk, col, n * hw,
                            0.0f, din + (size_t)b0 * hw, Nin);
        }
    }
    if (dw) reduce_threads(dw, scratch + (size_t)p.nb * kk * hw, p.col_per_thread, wn, p.nthreads);
}

/* ------------------------------------------------------------------------------------------------
 * The CUDA backend's bf16 arithmetic, emulated (cpu-blas:bf16): the products above on operands
 * rounded to bf16 where the CUDA backend rounds them, and results rounded where it writes bf16
 * (bf16_points.h). Only the order of the fp32 sums differs from the GPU's. test_cuda compares the
 * GPU's bf16 steps with it; a bf16 step and an fp32 step part by more than rounding (small
 * gradients change sign, and Adam makes full-size steps of them), so the fp32 step cannot be the
 * reference for bf16. */

static int emulating(Backend *be) { return ((CpuCtx *)be->ctx)->bf16_emulate; }

/* the emulation's buffer k, for n floats */
static float *emu_buf(Backend *be, int k, size_t n) {
    CpuCtx *c = be->ctx;
    if (n > c->emu_cap[k]) {
        free(c->emu[k]);
        c->emu[k] = xmalloc(n * sizeof(float));
        c->emu_cap[k] = n;
    }
    return c->emu[k];
}

/* x (n) rounded to bf16 into the emulation's buffer k */
static const float *emu_rounded(Backend *be, int k, const float *x, size_t n) {
    float *y = emu_buf(be, k, n);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = bf16_round(x[i]);
    return y;
}

static void round_in_place(float *x, size_t n) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = bf16_round(x[i]);
}

/* a zeroed buffer for one call's weight gradient, which add_rounded then adds, rounded, to dw */
static float *emu_term(Backend *be, size_t n) {
    float *t = emu_buf(be, 3, n);
    memset(t, 0, n * sizeof(float));
    return t;
}
static void add_rounded(float *dw, const float *t, size_t n) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dw[i] += bf16_round(t[i]);
}

static void cpu_linear_forward(Backend *be, float *out, const float *in, const float *w, const float *bias, int B,
                               int Ni, int No) {
    if (emulating(be) && No > BF16_NARROW_OUTPUTS) /* cuBLAS: bf16 operands, fp32 result */
        cpu_linear_forward_f32(be, out, emu_rounded(be, 0, in, (size_t)B * Ni), emu_rounded(be, 1, w, (size_t)No * Ni),
                               bias, B, Ni, No);
    else
        cpu_linear_forward_f32(be, out, in, w, bias, B, Ni, No);
}

static void cpu_linear_backward(Backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in,
                                const float *w, int B, int Ni, int No) {
    if (!emulating(be) || No <= BF16_NARROW_OUTPUTS) {
        cpu_linear_backward_f32(be, din, dw, dbias, dout, in, w, B, Ni, No);
        return;
    }
    const float *d16 = emu_rounded(be, 0, dout, (size_t)B * No);
    if (din) cpu_linear_backward_f32(be, din, NULL, NULL, d16, NULL, emu_rounded(be, 1, w, (size_t)No * Ni), B, Ni, No);
    if (dw) cpu_linear_backward_f32(be, NULL, dw, NULL, d16, emu_rounded(be, 2, in, (size_t)B * Ni), NULL, B, Ni, No);
    if (dbias) cpu_linear_backward_f32(be, NULL, NULL, dbias, dout, NULL, NULL, B, Ni, No);
}

/* A convolution on the GPU is one of: cuDNN (bf16 in and out), a full-size product through cuBLAS
 * (bf16 in, fp32 out), or a narrow full-size product (fp32). `outs` is the plan's output count:
 * Co for conv2d, Ci for conv_transpose2d (the adjoint of a conv from Co to Ci channels). */
typedef enum { EMU_CUDNN, EMU_CUBLAS, EMU_FP32 } EmuPath;
static EmuPath emu_path(int dense, int outs) {
    return !dense ? EMU_CUDNN : outs > BF16_NARROW_OUTPUTS ? EMU_CUBLAS : EMU_FP32;
}

typedef void (*ConvFwdFn)(Backend *, float *, const float *, const float *, const float *, const ConvShape *);
typedef void (*ConvBwdFn)(Backend *, float *, float *, float *, const float *, const float *, const float *,
                          const ConvShape *);

/* conv2d or conv_transpose2d forward (fwd: its fp32 implementation; dense, outs: see emu_path), as
 * the GPU computes it in bf16 when emulating, else fwd itself */
static void conv_forward_as(Backend *be, ConvFwdFn fwd, int dense, int outs, float *out, const float *in, const float *w,
                            const float *bias, const ConvShape *s) {
    const EmuPath path = emu_path(dense, outs);
    if (!emulating(be) || path == EMU_FP32) {
        fwd(be, out, in, w, bias, s);
        return;
    }
    const size_t nin = (size_t)s->Ci * s->B * s->Hi * s->Wi, nout = (size_t)s->Co * s->B * s->Ho * s->Wo;
    fwd(be, out, emu_rounded(be, 0, in, nin), emu_rounded(be, 1, w, (size_t)s->Co * s->Ci * s->K * s->K), NULL, s);
    if (path == EMU_CUDNN) round_in_place(out, nout);
    if (bias) add_bias_channels(out, bias, s->Co, (size_t)s->B * s->Ho * s->Wo);
}

/* their backward (bwd), likewise; the weight gradient before din, which may alias in */
static void conv_backward_as(Backend *be, ConvBwdFn bwd, int dense, int outs, float *din, float *dw, float *dbias,
                             const float *dout, const float *in, const float *w, const ConvShape *s) {
    const EmuPath path = emu_path(dense, outs);
    if (!emulating(be) || path == EMU_FP32) {
        bwd(be, din, dw, dbias, dout, in, w, s);
        return;
    }
    const size_t nin = (size_t)s->Ci * s->B * s->Hi * s->Wi, nout = (size_t)s->Co * s->B * s->Ho * s->Wo;
    const size_t wn = (size_t)s->Co * s->Ci * s->K * s->K;
    if (dbias) sum_channels(dbias, dout, s->Co, (size_t)s->B * s->Ho * s->Wo);
    const float *d16 = emu_rounded(be, 0, dout, nout);
    if (dw) {
        const float *x16 = emu_rounded(be, 1, in, nin);
        if (path == EMU_CUBLAS) bwd(be, NULL, dw, NULL, d16, x16, NULL, s);
        else {
            float *t = emu_term(be, wn);
            bwd(be, NULL, t, NULL, d16, x16, NULL, s);
            add_rounded(dw, t, wn);
        }
    }
    if (din) {
        bwd(be, din, NULL, NULL, d16, NULL, emu_rounded(be, 2, w, wn), s);
        if (path == EMU_CUDNN) round_in_place(din, nin);
    }
}

/* the backend's convolutions: conv2d's plan has Co outputs, conv_transpose2d's (its adjoint) Ci */
static void cpu_conv2d_forward(Backend *be, float *out, const float *in, const float *w, const float *bias,
                               const ConvShape *s) {
    conv_forward_as(be, cpu_conv2d_forward_f32, conv_is_dense(s), s->Co, out, in, w, bias, s);
}
static void cpu_conv2d_backward(Backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in,
                                const float *w, const ConvShape *s) {
    conv_backward_as(be, cpu_conv2d_backward_f32, conv_is_dense(s), s->Co, din, dw, dbias, dout, in, w, s);
}
static void cpu_convt_forward(Backend *be, float *out, const float *in, const float *w, const float *bias,
                              const ConvShape *s) {
    conv_forward_as(be, cpu_convt_forward_f32, convt_is_dense(s), s->Ci, out, in, w, bias, s);
}
static void cpu_convt_backward(Backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in,
                               const float *w, const ConvShape *s) {
    conv_backward_as(be, cpu_convt_backward_f32, convt_is_dense(s), s->Ci, din, dw, dbias, dout, in, w, s);
}

/* ------------------------------------------------------------------------------------------------
 * activations */

static void cpu_act_forward(Backend *be, float *out, const float *in, size_t n, Act act) {
    (void)be;
    /* one loop per activation, so that each vectorizes */
    switch (act) {
    case ACT_RELU:
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
    case ACT_LRELU:
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : LRELU_SLOPE * in[i];
        break;
    case ACT_TANH:
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
        break;
    default:
        if (out != in) memcpy(out, in, n * sizeof(float));
    }
}

static void cpu_act_backward(Backend *be, float *din, const float *dout, const float *out, size_t n, Act act) {
    (void)be;
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        din[i] = dout[i] * act_grad_from_output(out[i], act);
    }
}

static void cpu_sign_bits(Backend *be, uint32_t *bits, const float *out, size_t n) {
    (void)be;
    const size_t words = (n + 31) / 32;
    #pragma omp parallel for schedule(static)
    for (size_t w = 0; w < words; w++) {
        uint32_t b = 0;
        const size_t i0 = w * 32, m = n - i0 < 32 ? n - i0 : 32;
        const float *o = out + i0;
        for (size_t l = 0; l < m; l++) b |= (uint32_t)(o[l] > 0.0f) << l;
        bits[w] = b;
    }
}

/* One 32-value word of the sign mask at a time, so the shifts are by the lane number and the loop
 * vectorizes (a division and a variable word load per value cost 3% of a dcgan64 step). */
static void cpu_act_backward_bits(Backend *be, float *din, const float *dout, const uint32_t *bits, size_t n, Act act) {
    (void)be;
    const float neg = act_grad_from_sign(0, act), pos = act_grad_from_sign(1, act);
    const size_t words = (n + 31) / 32;
    #pragma omp parallel for schedule(static)
    for (size_t w = 0; w < words; w++) {
        const uint32_t b = bits[w];
        const size_t i0 = w * 32, m = n - i0 < 32 ? n - i0 : 32;
        float *d = din + i0;
        const float *g = dout + i0;
        for (size_t l = 0; l < m; l++) d[l] = g[l] * (((b >> l) & 1u) ? pos : neg);
    }
}

/* ------------------------------------------------------------------------------------------------
 * batch norm. One channel is one contiguous row of N values; each row is reduced by one thread,
 * in double precision, in a fixed order. */

/* The one place the normalized pre-activation is computed, shared by forward, apply and backward,
 * so that the ReLU masks agree bit for bit (the build uses -ffp-contract=off). */
static inline float bn_preact(float x, float scale, float shift) { return x * scale + shift; }

static void bn_apply_row(float *out, const float *x, int N, float mean, float rstd, float gamma, float beta,
                         Act act) {
    const float scale = gamma * rstd, shift = beta - mean * scale;
    switch (act) {
    case ACT_RELU:
        for (int i = 0; i < N; i++) { float z = bn_preact(x[i], scale, shift); out[i] = z > 0.0f ? z : 0.0f; }
        break;
    case ACT_LRELU:
        for (int i = 0; i < N; i++) { float z = bn_preact(x[i], scale, shift); out[i] = z > 0.0f ? z : LRELU_SLOPE * z; }
        break;
    default:
        for (int i = 0; i < N; i++) out[i] = act_apply(bn_preact(x[i], scale, shift), act);
    }
}

/* Mean of one channel row and the sum of squared deviations from it, in double. Eight double lanes
 * (value i goes to lane i % 8, the lanes are added in order at the end) let the loops vectorize
 * without reassociation, so the result is the same on every run and thread count. */
#define DLANES 8
static void bn_row_moments(const float *x, int N, double *mean, double *ssd) {
    double a[DLANES] = {0};
    int i = 0;
    for (; i + DLANES <= N; i += DLANES)
        for (int l = 0; l < DLANES; l++) a[l] += x[i + l];
    for (; i < N; i++) a[0] += x[i];
    double s = 0.0;
    for (int l = 0; l < DLANES; l++) s += a[l];
    const double mu = s / N;
    double q[DLANES] = {0};
    for (i = 0; i + DLANES <= N; i += DLANES)
        for (int l = 0; l < DLANES; l++) { const double d = x[i + l] - mu; q[l] += d * d; }
    for (; i < N; i++) { const double d = x[i] - mu; q[0] += d * d; }
    double ss = 0.0;
    for (int l = 0; l < DLANES; l++) ss += q[l];
    *mean = mu;
    *ssd = ss;
}

static void cpu_batchnorm_forward(Backend *be, float *out, float *mean, float *rstd, float *running_mean,
                                  float *running_var, const float *in, const float *gamma, const float *beta,
                                  int C, int N, int groups, int batch_stats, float momentum, float eps, Act act) {
    (void)be;
    const int n = N / groups; /* one group's values; row r = c * groups + g */
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        for (int g = 0; g < groups; g++) { /* in order: the running statistics move once per group */
            const size_t r = (size_t)c * groups + g;
            const float *x = in + r * n;
            float m, rs;
            if (batch_stats) {
                double mu, ss;
                bn_row_moments(x, n, &mu, &ss);
                const double var = ss / n;
                m = (float)mu;
                rs = (float)(1.0 / sqrt(var + eps));
                if (running_mean && running_var) {
                    const double unbiased = n > 1 ? ss / (n - 1) : var;
                    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
                    running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
                }
            } else {
                m = running_mean[c];
                rs = (float)(1.0 / sqrt((double)running_var[c] + eps));
            }
            mean[r] = m;
            rstd[r] = rs;
            bn_apply_row(out + r * n, x, n, m, rs, gamma[c], beta[c], act);
        }
    }
}

static void cpu_batchnorm_apply(Backend *be, float *out, const float *in, const float *mean, const float *rstd,
                                const float *gamma, const float *beta, int C, int N, int groups, Act act) {
    (void)be;
    const int n = N / groups, rows = C * groups;
    #pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        bn_apply_row(out + (size_t)r * n, in + (size_t)r * n, n, mean[r], rstd[r], gamma[r / groups],
                     beta[r / groups], act);
}

/* Sums for batch-norm backward over one channel row: sum(dz) and sum(dz * xhat), where
 * dz = dy * act'(z). 16 float lanes (vectorizable without reassociation) are folded into double
 * every BLOCK elements, so the result is accurate and its order fixed. */
#define LANES 16
#define BLOCK 1024
static void bn_backward_sums(const float *x, const float *dy, int N, float m, float r, float scale, float shift,
                             float neg_slope, double *sdz, double *sdzx) {
    double t1 = 0.0, t2 = 0.0;
    for (int b0 = 0; b0 < N; b0 += BLOCK) {
        const int b1 = b0 + BLOCK < N ? b0 + BLOCK : N;
        float a1[LANES] = {0}, a2[LANES] = {0};
        int i = b0;
        for (; i + LANES <= b1; i += LANES) {
            for (int l = 0; l < LANES; l++) {
                const float xv = x[i + l];
                const float z = bn_preact(xv, scale, shift);
                const float dz = z > 0.0f ? dy[i + l] : neg_slope * dy[i + l];
                a1[l] += dz;
                a2[l] += dz * ((xv - m) * r);
            }
        }
        for (; i < b1; i++) {
            const float z = bn_preact(x[i], scale, shift);
            const float dz = z > 0.0f ? dy[i] : neg_slope * dy[i];
            a1[0] += dz;
            a2[0] += dz * ((x[i] - m) * r);
        }
        for (int l = 0; l < LANES; l++) { t1 += a1[l]; t2 += a2[l]; }
    }
    *sdz = t1;
    *sdzx = t2;
}

/* Sums of one channel row for backward: sum dz and sum dz * xhat, dz = dy * act'(z). */
static void bn_row_sums(const float *x, const float *dy, int N, float m, float r, float scale, float shift, Act act,
                        double *sdz, double *sdzx) {
    if (act == ACT_NONE || act == ACT_RELU || act == ACT_LRELU) {
        /* dz = dy where z > 0, else neg * dy (none: 1, relu: 0, lrelu: 0.2) */
        const float neg = act == ACT_NONE ? 1.0f : act == ACT_RELU ? 0.0f : LRELU_SLOPE;
        bn_backward_sums(x, dy, N, m, r, scale, shift, neg, sdz, sdzx);
        return;
    }
    double t1 = 0.0, t2 = 0.0;
    for (int i = 0; i < N; i++) {
        const float dz = dy[i] * act_grad_from_input(bn_preact(x[i], scale, shift), act);
        const float xhat = (x[i] - m) * r;
        t1 += dz;
        t2 += (double)dz * xhat;
    }
    *sdz = t1;
    *sdzx = t2;
}

/* dx of one channel row: scale * (dz - k1 - xhat * k2), k1 and k2 the means of dz and dz * xhat. */
static void bn_row_dx(float *dx, const float *x, const float *dy, int N, float m, float r, float scale, float shift,
                      Act act, float k1, float k2) {
    if (act == ACT_NONE || act == ACT_RELU || act == ACT_LRELU) {
        const float neg = act == ACT_NONE ? 1.0f : act == ACT_RELU ? 0.0f : LRELU_SLOPE;
        for (int i = 0; i < N; i++) {
            const float z = bn_preact(x[i], scale, shift);
            const float dz = z > 0.0f ? dy[i] : neg * dy[i];
            const float xhat = (x[i] - m) * r;
            dx[i] = scale * (dz - k1 - xhat * k2);
        }
        return;
    }
    for (int i = 0; i < N; i++) {
        const float dz = dy[i] * act_grad_from_input(bn_preact(x[i], scale, shift), act);
        const float xhat = (x[i] - m) * r;
        dx[i] = scale * (dz - k1 - xhat * k2);
    }
}

static void cpu_batchnorm_backward(Backend *be, float *din, float *dgamma, float *dbeta, const float *dout,
                                   const float *in, const float *mean, const float *rstd, const float *gamma,
                                   const float *beta, int C, int N, int groups, Act act) {
    (void)be;
    const int n = N / groups;
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        for (int g = 0; g < groups; g++) { /* in order: dgamma / dbeta take the groups' sums one by one */
            const size_t r = (size_t)c * groups + g;
            const float *x = in + r * n, *dy = dout + r * n;
            const float m = mean[r], rs = rstd[r], scale = gamma[c] * rs, shift = beta[c] - m * scale;
            double sdz, sdzx;
            bn_row_sums(x, dy, n, m, rs, scale, shift, act, &sdz, &sdzx);
            if (dgamma) dgamma[c] += (float)sdzx;
            if (dbeta) dbeta[c] += (float)sdz;
            bn_row_dx(din + r * n, x, dy, n, m, rs, scale, shift, act, (float)(sdz / n), (float)(sdzx / n));
        }
    }
}

/* A double kept in a float tensor as hi + lo (about 48 bits), so the ranks' partial sums lose
 * nothing to float rounding where they cancel. */
static void split_double(double v, float *hi, float *lo) {
    *hi = (float)v;
    *lo = (float)(v - (double)*hi);
}
/* element i of a (4C) hi/lo block whose lo parts sit C after the hi parts */
static double join_double(const float *t, int C, int i) { return (double)t[i] + (double)t[i + C]; }

static void cpu_batchnorm_local_stats(Backend *be, float *stats, const float *in, int C, int N) {
    (void)be;
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *x = in + (size_t)c * N;
        double s = 0.0;
        for (int i = 0; i < N; i++) s += x[i];
        const double mu = s / N;
        double ss = 0.0;
        for (int i = 0; i < N; i++) { double d = x[i] - mu; ss += d * d; }
        split_double(mu, stats + c, stats + C + c);
        split_double(ss, stats + 2 * C + c, stats + 3 * C + c);
    }
}

static void cpu_batchnorm_backward_sums(Backend *be, float *sums, const float *dout, const float *in, const float *mean,
                                        const float *rstd, const float *gamma, const float *beta, int C, int N, Act act) {
    (void)be;
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float m = mean[c], r = rstd[c], scale = gamma[c] * r, shift = beta[c] - m * scale;
        double sdz, sdzx;
        bn_row_sums(in + (size_t)c * N, dout + (size_t)c * N, N, m, r, scale, shift, act, &sdz, &sdzx);
        split_double(sdz, sums + c, sums + C + c);
        split_double(sdzx, sums + 2 * C + c, sums + 3 * C + c);
    }
}

static void cpu_batchnorm_backward_reduced(Backend *be, float *din, float *dgamma, float *dbeta, const float *dout,
                                           const float *in, const float *mean, const float *rstd, const float *gamma,
                                           const float *beta, const float *local_sums, const float *global_sums, int C,
                                           int N, double n_global, Act act) {
    (void)be;
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float m = mean[c], r = rstd[c], scale = gamma[c] * r, shift = beta[c] - m * scale;
        if (dgamma) dgamma[c] += (float)join_double(local_sums, C, 2 * C + c);
        if (dbeta) dbeta[c] += (float)join_double(local_sums, C, c);
        bn_row_dx(din + (size_t)c * N, in + (size_t)c * N, dout + (size_t)c * N, N, m, r, scale, shift, act,
                  (float)(join_double(global_sums, C, c) / n_global), (float)(join_double(global_sums, C, 2 * C + c) / n_global));
    }
}

/* ------------------------------------------------------------------------------------------------
 * loss and optimizer */

static void cpu_bce_logits(Backend *be, float *loss, float *mean_prob, float *dlogits, const float *logits, int B,
                           float target, float scale) {
    (void)be;
    double l = 0.0, p = 0.0;
    for (int b = 0; b < B; b++) {
        double sig;
        l += bce_logit(logits[b], target, &sig);
        p += sig;
        if (dlogits) dlogits[b] = (float)(scale * (sig - target) / B);
    }
    loss[0] = (float)(scale * l / B);
    if (mean_prob) mean_prob[0] = (float)(p / B);
}

static void cpu_softmax_xent(Backend *be, float *loss, float *probs, float *dlogits, const float *logits,
                             const float *labels, int B, int K, float scale) {
    (void)be;
    double l = 0.0;
    for (int b = 0; b < B; b++)
        l += softmax_xent_row(probs ? probs + (size_t)b * K : NULL, dlogits ? dlogits + (size_t)b * K : NULL,
                              logits + (size_t)b * K, K, labels ? (int)labels[b] : -1, B, scale);
    if (loss && labels) loss[0] = (float)(scale * l / B);
}

static void cpu_adam(Backend *be, float *param, const float *grad, float *m, float *v, size_t n, double lr0,
                     double beta1, double beta2, double eps_d, const int64_t *step_ctr, LrDecay decay) {
    (void)be;
    const int64_t step = *step_ctr;
    const double lr = lr_at(lr0, decay.from, decay.to, decay.to > 0 ? *decay.iter : 0);
    /* torch.optim.Adam (single-tensor path): bias corrections in double, applied as float scalars */
    const double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)beta1, b2 = (float)beta2, omb1 = (float)(1.0 - beta1), omb2 = (float)(1.0 - beta2);
    const float eps = (float)eps_d;
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float g = grad[i];
        const float mi = m[i] * b1 + g * omb1;
        const float vi = v[i] * b2 + g * g * omb2;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] -= step_size * (mi / denom);
    }
}

static void cpu_ema(Backend *be, float *avg, const float *x, size_t n, double decay, const int64_t *step) {
    (void)be;
    const double dd = ema_decay_at(decay, (long long)*step);
    const float d = (float)dd, omd = (float)(1.0 - dd);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) avg[i] = avg[i] * d + x[i] * omd;
}

/* ------------------------------------------------------------------------------------------------
 * counters and random numbers (host memory: ops run when issued) */

static void cpu_label_pick(Backend *be, float *y, const float *x, const float *t, const float *labels, int K, int B) {
    (void)be; (void)K;
    for (int b = 0; b < B; b++) y[b] = x[b] + t[(size_t)(int)labels[b] * B + b];
}

static void cpu_label_scatter(Backend *be, float *dt, const float *dy, const float *labels, int K, int B) {
    (void)be;
    for (int k = 0; k < K; k++)
        for (int b = 0; b < B; b++) dt[(size_t)k * B + b] = (int)labels[b] == k ? dy[b] : 0.0f;
}

static void cpu_label_planes(Backend *be, float *out, const float *labels, int K, int B, int HW) {
    (void)be;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < K; k++)
        for (int b = 0; b < B; b++) {
            const float v = (int)labels[b] == k ? 1.0f : 0.0f;
            float *o = out + ((size_t)k * B + b) * HW;
            for (int i = 0; i < HW; i++) o[i] = v;
        }
}

static int64_t *cpu_counters_alloc(Backend *be, int n) { (void)be; return xcalloc((size_t)(n > 0 ? n : 1), sizeof(int64_t)); }
static void cpu_counters_free(Backend *be, int64_t *c) { (void)be; free(c); }
static void cpu_counters_set(Backend *be, int64_t *c, const int64_t *host, int n) {
    (void)be;
    memcpy(c, host, (size_t)n * sizeof(int64_t));
}
static void cpu_counter_add(Backend *be, int64_t *c, int64_t k) { (void)be; c[0] += k; }
static void cpu_stash(Backend *be, float *ring, const float *src, size_t n, const int64_t *counter, int slots) {
    (void)be;
    memcpy(ring + (size_t)(*counter % slots) * n, src, n * sizeof(float));
}

static void cpu_random_fill(Backend *be, float *out, size_t n, uint64_t seed, uint64_t stream_base,
                            const int64_t *stream, uint64_t first, int uniform) {
    (void)be;
    const uint64_t key = ctr_rng_key(seed, stream_base + (uint64_t)*stream);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = uniform ? ctr_rng_uniform_pm1(key, first + i) : ctr_rng_normal(key, first + i);
}

static void cpu_sync(Backend *be) { (void)be; }

static void cpu_upload(Backend *be, float *dst, const float *src, size_t n) { cpu_copy(be, dst, src, n); }
static void cpu_download(Backend *be, float *dst, const float *src, size_t n) { cpu_copy(be, dst, src, n); }

static void cpu_destroy(Backend *be) {
    CpuCtx *c = be->ctx;
#ifdef DCGAN_HAVE_DNNL
    dnnl_ctx_destroy(c->dnnl);
#endif
    free(c->scratch.p);
    for (int k = 0; k < 4; k++) free(c->emu[k]);
    free(c);
    free(be);
}

Backend *backend_cpu_create(int threads, int use_dnnl, int bf16) {
    if (threads > 0) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    Backend *be = xcalloc(1, sizeof(Backend));
    CpuCtx *ctx = xcalloc(1, sizeof(CpuCtx));
    ctx->mem_limit = available_memory();
    be->name = "cpu-blas";
    be->ctx = ctx;
    if (!use_dnnl && bf16) { /* cpu-blas:bf16: the CUDA backend's bf16 arithmetic, emulated (for tests) */
        ctx->bf16_emulate = 1;
        be->name = "cpu-blas-bf16";
        bf16 = 0;
    }
#ifdef DCGAN_HAVE_DNNL
    if (use_dnnl) {
        if (bf16 && !dnnl_cpu_has_bf16())
            die("--precision bf16 on the CPU needs native bf16 arithmetic (AVX512_BF16), which this CPU lacks; "
                "drop --precision");
        ctx->dnnl = dnnl_ctx_create(&ctx->scratch, bf16);
        be->name = bf16 ? "cpu-bf16" : "cpu";
    }
#else
    (void)use_dnnl;
    if (bf16)
        die("--precision bf16 on the CPU runs through oneDNN, which this build lacks (install libdnnl-dev and "
            "rebuild); drop --precision");
#endif
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_upload;
    be->download = cpu_download;
    be->zero = cpu_zero;
    be->copy = cpu_copy;
    be->transpose01 = cpu_transpose01;
    be->linear_forward = cpu_linear_forward;
    be->linear_backward = cpu_linear_backward;
    be->conv2d_forward = cpu_conv2d_forward;
    be->conv2d_backward = cpu_conv2d_backward;
    be->conv_transpose2d_forward = cpu_convt_forward;
    be->conv_transpose2d_backward = cpu_convt_backward;
    be->batchnorm_forward = cpu_batchnorm_forward;
    be->batchnorm_apply = cpu_batchnorm_apply;
    be->batchnorm_backward = cpu_batchnorm_backward;
    be->batchnorm_local_stats = cpu_batchnorm_local_stats;
    be->batchnorm_backward_sums = cpu_batchnorm_backward_sums;
    be->batchnorm_backward_reduced = cpu_batchnorm_backward_reduced;
    be->act_forward = cpu_act_forward;
    be->act_backward = cpu_act_backward;
    be->sign_bits = cpu_sign_bits;
    be->act_backward_bits = cpu_act_backward_bits;
    be->bce_logits = cpu_bce_logits;
    be->softmax_xent = cpu_softmax_xent;
    be->adam = cpu_adam;
    be->ema = cpu_ema;
    be->label_planes = cpu_label_planes;
    be->label_pick = cpu_label_pick;
    be->label_scatter = cpu_label_scatter;
    be->counters_alloc = cpu_counters_alloc;
    be->counters_free = cpu_counters_free;
    be->counters_set = cpu_counters_set;
    be->counter_add = cpu_counter_add;
    be->stash = cpu_stash;
    be->random_fill = cpu_random_fill;
    be->sync = cpu_sync;
    be->destroy = cpu_destroy;
    return be;
}
