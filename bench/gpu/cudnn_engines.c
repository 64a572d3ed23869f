/* cudnn_engines.c: are there faster cuDNN kernels for our convolutions than the ones the legacy
 * API (cudnnFind*AlgorithmEx, which the CUDA backend uses) offers? For each convolution of the
 * seed128 (k5 s2 p2) and dcgan64 (k4 s2 p1) models, each direction (forward, backward-data,
 * backward-filter) and the NCHW and NHWC layouts, it times the legacy API's algorithms and every
 * engine of cuDNN's graph (backend) API -- each engine with its default knobs, and the engine
 * configurations that heuristics modes A and B propose -- in TF32 (fp32 storage, fp32 compute),
 * and prints the best of each. An experiment for issue 4 (bench/gpu/NOTES.md), not part of dcgan.
 * Read its legacy columns with care: they are Find's own reported times, which overstate the legacy
 * kernels against the engines' event timing (on an H200 the survey's 1.6-2.2x came to 0-7% per
 * iteration once the CUDA backend timed both alike: NOTES.md, version 7).
 *
 * usage: cudnn_engines [BATCH_SEED=64] [BATCH_DCGAN=256] [SECONDS=150]   (needs a GPU; prints one line
 *        a problem; stops starting new convolutions after SECONDS)
 * build: tools/gpu_bundle.sh, or
 *   cc -O2 -I/usr/local/cuda/include bench/gpu/cudnn_engines.c -L/usr/local/cuda/lib64 -lcudnn -lcudart
 */
#include <cuda_runtime.h>
#include <cudnn.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/backends/cudnn_graph.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define CU(x)                                                                                                          \
    do {                                                                                                               \
        cudaError_t e_ = (x);                                                                                          \
        if (e_ != cudaSuccess) { fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); exit(1); } \
    } while (0)
#define DNN(x)                                                                                                         \
    do {                                                                                                               \
        cudnnStatus_t s_ = (x);                                                                                        \
        if (s_ != CUDNN_STATUS_SUCCESS) { fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudnnGetErrorString(s_)); exit(1); } \
    } while (0)

enum { DIR_FWD, DIR_BWD_DATA, DIR_BWD_FILTER };
static const char *DIR_NAME[] = {"fwd", "bwd-data", "bwd-filter"};
enum { NCHW, NHWC };
static const char *LAYOUT_NAME[] = {"NCHW", "NHWC"};

typedef struct { const char *model; int n, c, h, k, r, stride, pad; } Conv; /* x (n,c,h,h), w (k,c,r,r) */

static int out_side(const Conv *p) { return (p->h + 2 * p->pad - p->r) / p->stride + 1; }

/* dims (n,c,h,w) and strides of a 4-d tensor in the layout */
static void dims_strides(int64_t dim[4], int64_t str[4], int n, int c, int h, int w, int layout) {
    dim[0] = n; dim[1] = c; dim[2] = h; dim[3] = w;
    if (layout == NCHW) { str[0] = (int64_t)c * h * w; str[1] = (int64_t)h * w; str[2] = w; str[3] = 1; }
    else { str[0] = (int64_t)c * h * w; str[1] = 1; str[2] = (int64_t)w * c; str[3] = c; }
}

static cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t t) {
    cudnnBackendDescriptor_t d;
    DNN(cudnnBackendCreateDescriptor(t, &d));
    return d;
}
static void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, int64_t n,
                const void *v) {
    DNN(cudnnBackendSetAttribute(d, a, t, n, v));
}

/* The operation graph of one convolution direction (src/backends/cudnn_graph.h: uids 1 = x, 2 = w, 3 = y) */
static cudnnBackendDescriptor_t op_graph(cudnnHandle_t h, const Conv *p, int dir, int layout) {
    const int o = out_side(p);
    CgConv cv;
    dims_strides(cv.xdim, cv.xstr, p->n, p->c, p->h, p->h, layout);
    dims_strides(cv.wdim, cv.wstr, p->k, p->c, p->r, p->r, layout);
    dims_strides(cv.ydim, cv.ystr, p->n, p->k, o, o, layout);
    cv.stride = p->stride;
    cv.pad = p->pad;
    cv.type = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t g = cg_graph(h, &cv, dir);
    if (!g) {
        char why[512] = "";
        cudnnGetLastErrorString(why, sizeof why);
        printf("    (operation graph refused: %s)\n", why);
    }
    return g;
}

typedef struct { void *x, *w, *y, *ws; size_t ws_cap; cudaEvent_t e0, e1; cudaStream_t stream; } Bufs;
enum { WARM = 3, REPS = 10, HEUR_CONFIGS = 8 };

/* the mean time of REPS calls after WARM, or -1 when the plan does not run; a plan whose second call
 * takes more than 4x `beat` (the best so far, when > 0) is not timed further: that call's time */
static float time_plan(cudnnHandle_t h, cudnnBackendDescriptor_t plan, Bufs *b, int64_t ws, float beat) {
    int64_t uids[3] = {1, 2, 3};
    void *ptrs[3] = {b->x, b->w, b->y};
    cudnnBackendDescriptor_t vp = make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    set(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
    set(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs);
    void *wsp = ws > 0 ? b->ws : NULL;
    set(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &wsp);
    DNN(cudnnBackendFinalize(vp));
    float ms = -1, first = -1;
    /* the first call loads the kernel's module (CUDA loads lazily): not timed */
    if (cudnnBackendExecute(h, plan, vp) != CUDNN_STATUS_SUCCESS) goto done;
    CU(cudaEventRecord(b->e0, b->stream));
    if (cudnnBackendExecute(h, plan, vp) != CUDNN_STATUS_SUCCESS) goto done;
    CU(cudaEventRecord(b->e1, b->stream));
    CU(cudaEventSynchronize(b->e1));
    CU(cudaEventElapsedTime(&first, b->e0, b->e1));
    if (beat > 0 && first > 4 * beat) { ms = first; goto done; }
    for (int i = 2; i < WARM; i++) /* WARM calls in all before the timed ones */
        if (cudnnBackendExecute(h, plan, vp) != CUDNN_STATUS_SUCCESS) goto done;
    CU(cudaEventRecord(b->e0, b->stream));
    for (int i = 0; i < REPS; i++)
        if (cudnnBackendExecute(h, plan, vp) != CUDNN_STATUS_SUCCESS) goto done;
    CU(cudaEventRecord(b->e1, b->stream));
    CU(cudaEventSynchronize(b->e1));
    CU(cudaEventElapsedTime(&ms, b->e0, b->e1));
    ms /= REPS;
done:
    if (cudaStreamSynchronize(b->stream) != cudaSuccess) { fprintf(stderr, "a kernel failed\n"); exit(1); }
    cudnnBackendDestroyDescriptor(vp);
    return ms;
}

typedef struct { float ms; int64_t engine; int notes; int det; } Best;

/* notes as CG_* bits (src/backends/cudnn_graph.h), and the engine's global index */
static int engine_notes(cudnnBackendDescriptor_t eng, int64_t *index) {
    int64_t got = 0;
    if (index && cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &got, index) !=
                     CUDNN_STATUS_SUCCESS)
        *index = -1;
    return cg_engine_notes(eng);
}

/* Times one engine configuration; updates best (all) and best_det (deterministic, no input
 * down-conversion: what dcgan may use). Returns 1 if it ran. */
static int try_config(cudnnHandle_t h, cudnnBackendDescriptor_t cfg, Bufs *b, Best *best, Best *best_det, int *skipped_rtc) {
    cudnnBackendDescriptor_t eng = make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    int64_t n = 0, index = -1;
    int ran = 0;
    if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &eng) !=
        CUDNN_STATUS_SUCCESS) {
        cudnnBackendDestroyDescriptor(eng);
        return 0;
    }
    const int notes = engine_notes(eng, &index);
    cudnnBackendDestroyDescriptor(eng);
    if (notes & 32) { (*skipped_rtc)++; return 0; } /* compiled at run time: seconds each, and not in dcgan's reach */
    cudnnBackendDescriptor_t plan = make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg);
    if (cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS) {
        int64_t ws = 0;
        cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws);
        if (ws <= (int64_t)b->ws_cap) {
            const float ms = time_plan(h, plan, b, ws, best_det->ms > 0 ? best_det->ms : best->ms);
            if (ms > 0) {
                ran = 1;
                if (best->ms < 0 || ms < best->ms) *best = (Best){ms, index, notes, !(notes & 4)};
                if (!(notes & 6) && (best_det->ms < 0 || ms < best_det->ms)) *best_det = (Best){ms, index, notes, 1};
            }
        }
    }
    cudnnBackendDestroyDescriptor(plan);
    return ran;
}

/* every engine with its default knobs, then heuristics A's and B's configurations */
static void backend_best(cudnnHandle_t h, const Conv *p, int dir, int layout, Bufs *b, Best *best, Best *best_det,
                         int *tried, int *skipped_rtc) {
    cudnnBackendDescriptor_t g = op_graph(h, p, dir, layout);
    if (!g) return;
    int64_t count = 0, n = 0;
    DNN(cudnnBackendGetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &n, &count));
    for (int64_t i = 0; i < count; i++) {
        cudnnBackendDescriptor_t eng = make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
        set(eng, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
        set(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &i);
        if (cudnnBackendFinalize(eng) == CUDNN_STATUS_SUCCESS) {
            cudnnBackendDescriptor_t cfg = make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
            set(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &eng);
            if (cudnnBackendFinalize(cfg) == CUDNN_STATUS_SUCCESS) *tried += try_config(h, cfg, b, best, best_det, skipped_rtc);
            cudnnBackendDestroyDescriptor(cfg);
        }
        cudnnBackendDestroyDescriptor(eng);
    }
    const cudnnBackendHeurMode_t modes[] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_B};
    for (int m = 0; m < 2; m++) {
        cudnnBackendDescriptor_t heur = make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
        set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
        set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[m]);
        if (cudnnBackendFinalize(heur) == CUDNN_STATUS_SUCCESS) {
            enum { MAXC = HEUR_CONFIGS }; /* the first few, in the heuristics' order */
            cudnnBackendDescriptor_t cfgs[MAXC];
            for (int i = 0; i < MAXC; i++) cfgs[i] = make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
            int64_t got = 0;
            if (cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, MAXC, &got,
                                         cfgs) == CUDNN_STATUS_SUCCESS)
                for (int64_t i = 0; i < got && i < MAXC; i++) *tried += try_config(h, cfgs[i], b, best, best_det, skipped_rtc);
            for (int i = 0; i < MAXC; i++) cudnnBackendDestroyDescriptor(cfgs[i]);
        }
        cudnnBackendDestroyDescriptor(heur);
    }
    cudnnBackendDestroyDescriptor(g);
}

/* a failed Find (layout not supported, say) is reported and counts as no result */
static void legacy_status(cudnnStatus_t st, int *got) {
    if (st == CUDNN_STATUS_SUCCESS) return;
    printf("    (legacy Find: %s)\n", cudnnGetErrorString(st));
    *got = 0;
}

/* one of Find's results into the best of all and the best deterministic one */
static void take(Best *best, Best *best_det, cudnnStatus_t st, float ms, int algo, cudnnMathType_t math,
                 cudnnDeterminism_t determinism) {
    if (st != CUDNN_STATUS_SUCCESS) return;
    const int det = determinism == CUDNN_DETERMINISTIC;
    if (best->ms < 0 || ms < best->ms) *best = (Best){ms, algo, (int)math, det};
    if (det && (best_det->ms < 0 || ms < best_det->ms)) *best_det = (Best){ms, algo, (int)math, 1};
}

/* the legacy API's Find, as the CUDA backend calls it: best of all, and of the deterministic ones */
static void legacy_best(cudnnHandle_t h, const Conv *p, int dir, int layout, Bufs *b, Best *best, Best *best_det) {
    const int o = out_side(p);
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    const cudnnTensorFormat_t fmt = layout == NCHW ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC;
    DNN(cudnnCreateTensorDescriptor(&xd));
    DNN(cudnnCreateTensorDescriptor(&yd));
    DNN(cudnnCreateFilterDescriptor(&wd));
    DNN(cudnnCreateConvolutionDescriptor(&cd));
    DNN(cudnnSetTensor4dDescriptor(xd, fmt, CUDNN_DATA_FLOAT, p->n, p->c, p->h, p->h));
    DNN(cudnnSetTensor4dDescriptor(yd, fmt, CUDNN_DATA_FLOAT, p->n, p->k, o, o));
    DNN(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, fmt, p->k, p->c, p->r, p->r));
    DNN(cudnnSetConvolution2dDescriptor(cd, p->pad, p->pad, p->stride, p->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT));
    DNN(cudnnSetConvolutionMathType(cd, CUDNN_TENSOR_OP_MATH)); /* TF32, as the CUDA backend's default */
    enum { N = 16 };
    int got = 0;
    if (dir == DIR_FWD) {
        cudnnConvolutionFwdAlgoPerf_t r[N];
        legacy_status(cudnnFindConvolutionForwardAlgorithmEx(h, xd, b->x, wd, b->w, cd, yd, b->y, N, &got, r, b->ws, b->ws_cap), &got);
        for (int i = 0; i < got; i++) take(best, best_det, r[i].status, r[i].time, r[i].algo, r[i].mathType, r[i].determinism);
    } else if (dir == DIR_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t r[N];
        legacy_status(cudnnFindConvolutionBackwardDataAlgorithmEx(h, wd, b->w, yd, b->y, cd, xd, b->x, N, &got, r, b->ws, b->ws_cap), &got);
        for (int i = 0; i < got; i++) take(best, best_det, r[i].status, r[i].time, r[i].algo, r[i].mathType, r[i].determinism);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t r[N];
        legacy_status(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, xd, b->x, yd, b->y, cd, wd, b->w, N, &got, r, b->ws, b->ws_cap), &got);
        for (int i = 0; i < got; i++) take(best, best_det, r[i].status, r[i].time, r[i].algo, r[i].mathType, r[i].determinism);
    }
    cudnnDestroyTensorDescriptor(xd);
    cudnnDestroyTensorDescriptor(yd);
    cudnnDestroyFilterDescriptor(wd);
    cudnnDestroyConvolutionDescriptor(cd);
}

static void *filled(size_t n, uint64_t seed) {
    float *h = malloc(n * sizeof(float));
    if (!h) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        h[i] = (float)((int64_t)(seed >> 40) - (1 << 23)) / (float)(1 << 23);
    }
    void *d;
    CU(cudaMalloc(&d, n * sizeof(float)));
    CU(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    free(h);
    return d;
}

int main(int argc, char **argv) {
    const int bs = argc > 1 ? atoi(argv[1]) : 64, bd = argc > 2 ? atoi(argv[2]) : 256;
    const double limit = argc > 3 ? atof(argv[3]) : 150, t0 = now_s();
    if (bs < 1 || bd < 1 || limit <= 0) {
        fprintf(stderr, "usage: cudnn_engines [BATCH_SEED=64] [BATCH_DCGAN=256] [SECONDS=150]\n");
        return 2;
    }
    const Conv convs[] = {
        {"seed128", bs, 3, 128, 64, 5, 2, 2},   {"seed128", bs, 64, 64, 128, 5, 2, 2},
        {"seed128", bs, 128, 32, 256, 5, 2, 2}, {"seed128", bs, 256, 16, 512, 5, 2, 2},
        {"dcgan64", bd, 3, 64, 64, 4, 2, 1},    {"dcgan64", bd, 64, 32, 128, 4, 2, 1},
        {"dcgan64", bd, 128, 16, 256, 4, 2, 1}, {"dcgan64", bd, 256, 8, 512, 4, 2, 1},
    };
    int dev = 0;
    struct cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, dev));
    cudnnHandle_t h;
    DNN(cudnnCreate(&h));
    Bufs b = {0};
    CU(cudaStreamCreate(&b.stream));
    DNN(cudnnSetStream(h, b.stream));
    CU(cudaEventCreate(&b.e0));
    CU(cudaEventCreate(&b.e1));
    b.ws_cap = (size_t)512 << 20;
    CU(cudaMalloc(&b.ws, b.ws_cap));
    printf("%s, cuDNN %zu; TF32 (fp32 data and compute); ms per call, mean of %d after %d; legacy = cudnnFind*Ex "
           "(what dcgan uses), graph = every engine of the backend API with default knobs and heuristics A/B's "
           "configurations; det = deterministic, inputs not down-converted\n",
           prop.name, cudnnGetVersion(), REPS, WARM);
    printf("%-8s %-22s %-10s %-4s %12s %12s %12s %12s %8s %s\n", "model", "conv (n c h -> k, r s p)", "direction",
           "lay", "legacy det", "legacy all", "graph det", "graph all", "det gain", "graph det engine (notes)");
    double sum_legacy = 0, sum_graph = 0;
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        const Conv *p = &convs[i];
        const int o = out_side(p);
        if (now_s() - t0 > limit) { printf("(time is up after %.0f s: the other convolutions are left out)\n", limit); break; }
        b.x = filled((size_t)p->n * p->c * p->h * p->h, 1 + i);
        b.w = filled((size_t)p->k * p->c * p->r * p->r, 100 + i);
        b.y = filled((size_t)p->n * p->k * o * o, 200 + i);
        for (int dir = 0; dir < 3; dir++) {
            float legacy = -1, graph = -1; /* the better layout of each side, deterministic */
            for (int lay = 0; lay < 2; lay++) {
                Best bl = {-1, -1, 0, 0}, dl = {-1, -1, 0, 0}, bg = {-1, -1, 0, 0}, dg = {-1, -1, 0, 0};
                int tried = 0, rtc = 0;
                legacy_best(h, p, dir, lay, &b, &bl, &dl);
                backend_best(h, p, dir, lay, &b, &bg, &dg, &tried, &rtc);
                char conv[64];
                snprintf(conv, sizeof conv, "%d %d %d -> %d, %d %d %d", p->n, p->c, p->h, p->k, p->r, p->stride, p->pad);
                printf("%-8s %-22s %-10s %-4s %12.4f %12.4f %12.4f %12.4f %7.2fx %lld (%s%s%s%s) [%d configs ran, %d "
                       "compiled at run time skipped]\n",
                       p->model, conv, DIR_NAME[dir], LAYOUT_NAME[lay], dl.ms, bl.ms, dg.ms, bg.ms,
                       dl.ms > 0 && dg.ms > 0 ? dl.ms / dg.ms : 0.0, (long long)dg.engine, dg.notes & 1 ? "tc " : "",
                       dg.notes & 8 ? "winograd " : "", dg.notes & 16 ? "fft " : "", dg.notes & 4 ? "nondet" : "",
                       tried, rtc);
                fflush(stdout);
                if (dl.ms > 0 && (legacy < 0 || dl.ms < legacy)) legacy = dl.ms;
                if (dg.ms > 0 && (graph < 0 || dg.ms < graph)) graph = dg.ms;
            }
            if (legacy > 0 && graph > 0) { sum_legacy += legacy; sum_graph += graph; }
        }
        cudaFree(b.x);
        cudaFree(b.w);
        cudaFree(b.y);
    }
    printf("sum over the problems of the better layout, deterministic: legacy %.3f ms, graph API %.3f ms (%.2fx)\n",
           sum_legacy, sum_graph, sum_graph > 0 ? sum_legacy / sum_graph : 0.0);
    cudaFree(b.ws);
    cudnnDestroy(h);
    return 0;
}
