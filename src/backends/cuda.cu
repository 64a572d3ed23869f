/* cuda.cu: the CUDA backend, the same ops as the CPU backend (see ops.h) on an NVIDIA GPU.
 *
 *  - Convolutions go through cuDNN. A layer is seen as one "equivalent convolution" from its large
 *    side x to its small side y: conv2d's forward is cuDNN's forward, a transposed convolution's
 *    forward is cuDNN's backward-data, and the weight gradients of both are backward-filter. For
 *    every (shape, direction) the algorithm is chosen once, at its first use, by timing cuDNN's
 *    deterministic algorithms on four layouts: the engine's CNHW tensors as they are (strided
 *    descriptors), or copies in packed NCHW, NHWC, or NHWC with channels padded to 8. Candidates:
 *    the legacy API's algorithms (ranked by cudnnFind*) and, for convolutions that are not small,
 *    every engine of cuDNN's graph API (see choose). The choice and its workspace are cached;
 *    DCGAN_CUDA_ALGOS=FILE keeps the choices in FILE, so that later runs take the same ones.
 *    A convolution whose kernel covers its whole input (1x1 output) is a matrix product instead:
 *    kernels of our own for a few outputs, else cuBLAS (DCGAN_CUDA_CUDNN_ONLY=1: cuDNN, to compare).
 *  - Linear layers go through cuBLAS, except very narrow ones (D's last layer of `seed`: one output),
 *    which have kernels of their own; batch norm, activations, the loss, Adam,
 *    the latent draws and the layout copies are our own kernels. Reductions run in a fixed order
 *    (partials per chunk in double, combined in order), so the same inputs give the same bits.
 *  - DCGAN_CUDA_VERBOSE=1 prints the algorithm chosen for each convolution, DCGAN_CUDA_PROFILE=1
 *    the GPU time of each op run outside a graph (bench/gpu/profile.sh). DCGAN_CUDA_NONDETERMINISTIC=1
 *    (an experiment) lets cuDNN's non-deterministic algorithms compete too.
 *  - Everything runs on one stream, so a whole training iteration can be recorded once as a CUDA
 *    graph (graph_begin/graph_end) and replayed (graph_launch); ops read Adam's step and z's stream
 *    from counters in device memory (ops.h), so a replay is the next iteration. One exception: a
 *    convolution's weight gradient runs on a second, lower-priority stream (side_*, see
 *    conv_bwd_filter) while the main one goes on with the input gradients, and ops that could
 *    touch what it reads or writes wait for it first (side_join). The order of each stream's work,
 *    so the result, does not change; DCGAN_CUDA_NO_SIDE=1 runs it all on the main stream.
 *  - Precision: "tf32" (fp32 storage, TF32 tensor cores in cuDNN's convolutions, fp32 in cuBLAS's
 *    products: PyTorch's defaults), "fp32" (no tensor cores), "bf16" (convolution and matrix-product operands
 *    converted to bf16, fp32 accumulation, results and everything else fp32).
 *
 * No fast-math: the file is compiled with --fmad=false, like the CPU code's -ffp-contract=off, so
 * batch norm's pre-activation is rounded exactly as on the CPU. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#ifdef DCGAN_HAVE_NCCL
#include <dlfcn.h>
#include <nccl.h>
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "../core/util.h"
#include "../ops/ops.h"
}
#include "../core/ctr_rng.h"
#include "../ops/op_math.h"
#include "bf16_points.h"
#include "algo_pins.h"
#include "cudnn_graph.h"

/* ------------------------------------------------------------------------------------------------
 * error checks: every library call is checked; a failure ends the program with one line */

#define CU(call) cu_check((call), #call, __FILE__, __LINE__)
#define CUBLAS(call) cublas_check((call), #call, __FILE__, __LINE__)
#define CUDNN(call) cudnn_check((call), #call, __FILE__, __LINE__)
#define KCHECK() cu_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
static void cu_check(cudaError_t e, const char *what, const char *file, int line) {
    if (e == cudaErrorMemoryAllocation)
        die("out of GPU memory (%s at %s:%d); try a smaller --batch or model", what, file, line);
    if (e != cudaSuccess) die("CUDA error: %s: %s (%s:%d)", what, cudaGetErrorString(e), file, line);
}

/* Every kernel launch is LAUNCH(kernel, grid, block, shared bytes, stream)(arguments), with the
 * backend's CudaCtx c in scope: cudaLaunchKernelEx under nvcc, with programmatic dependent launch
 * when c->pdl (DCGAN_CUDA_PDL=1, an experiment: the kernel may start launching while the one before
 * it finishes, and waits in PDL_ENTRY for its writes); with DCGAN_CUDA_EMU, the CPU emulation of
 * tests/cuda_emu, which runs this file's own kernels and host code without a GPU (cuDNN's legacy
 * convolutions emulated, its graph API not). Every kernel starts with PDL_ENTRY(). */
#ifdef DCGAN_CUDA_EMU
#define LAUNCH(k, g, b, s, st) cuda_emu::launch(#k, (k), dim3(g), dim3(b), (st))
#define PDL_ENTRY() ((void)0)
#else
template <typename... P> struct Launch {
    void (*k)(P...);
    dim3 g, b;
    size_t s;
    cudaStream_t st;
    int pdl;
    void operator()(P... args) const { /* the arguments convert to the kernel's types here, as with <<<>>> */
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = g;
        cfg.blockDim = b;
        cfg.dynamicSmemBytes = s;
        cfg.stream = st;
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = at;
        cfg.numAttrs = pdl ? 1 : 0;
        cu_check(cudaLaunchKernelEx(&cfg, k, args...), "kernel launch", __FILE__, __LINE__);
    }
};
template <typename... P> static Launch<P...> make_launch(void (*k)(P...), dim3 g, dim3 b, size_t s, cudaStream_t st, int pdl) {
    return Launch<P...>{k, g, b, s, st, pdl};
}
#define LAUNCH(k, g, b, s, st) make_launch((k), dim3(g), dim3(b), (size_t)(s), (st), c->pdl)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
/* wait for the kernel before (its writes visible), then let the next one start launching; both do
 * nothing in a kernel not launched with programmatic dependent launch */
#define PDL_ENTRY()                                                                                                    \
    do {                                                                                                               \
        cudaGridDependencySynchronize();                                                                               \
        cudaTriggerProgrammaticLaunchCompletion();                                                                     \
    } while (0)
#else
#define PDL_ENTRY() ((void)0)
#endif
#endif
static void cublas_check(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) die("cuBLAS error %d: %s (%s:%d)", (int)s, what, file, line);
}
static void cudnn_check(cudnnStatus_t s, const char *what, const char *file, int line) {
    if (s != CUDNN_STATUS_SUCCESS) die("cuDNN error: %s: %s (%s:%d)", what, cudnnGetErrorString(s), file, line);
}

/* ------------------------------------------------------------------------------------------------
 * context */

typedef enum { PREC_TF32 = 0, PREC_FP32 = 1, PREC_BF16 = 2 } Prec;
/* LAY_NHWCP: NHWC with channels padded with zeros to a multiple of 8 (pad8), which lets cuDNN use
 * its tensor-core kernels for the 1- and 3-channel image layers */
typedef enum { LAY_CNHW = 0, LAY_NCHW = 1, LAY_NHWC = 2, LAY_NHWCP = 3, LAY_COUNT = 4 } Layout;
static inline int pad8(int C) { return (C + 7) / 8 * 8; }
/* channels a layout stores for a C-channel tensor */
static inline int lay_channels(Layout l, int C) { return l == LAY_NHWCP ? pad8(C) : C; }
static inline int lay_nhwc(Layout l) { return l == LAY_NHWC || l == LAY_NHWCP; }
typedef enum { OP_FWD = 0, OP_BWD_DATA = 1, OP_BWD_FILTER = 2 } ConvOp;
enum { ROLE_X = 0, ROLE_Y = 1, ROLE_W = 2, ROLE_T = 3, ROLE_COUNT = 4 }; /* ROLE_T: the (B, Cx*K*K) view of a full-size conv */

typedef struct {
    int chosen;
    Layout layout;
    int algo;               /* the legacy API's algorithm, when plan is NULL */
    cudnnMathType_t math;
    size_t ws;
    int64_t engine;         /* >= 0: an engine of cuDNN's graph API (its global index), run through plan */
    cudnnBackendDescriptor_t plan; /* that engine's execution plan (default knobs), or NULL */
} OpChoice;

/* One equivalent convolution x (Cx,B,Hx,Wx) -> y (Cy,B,Hy,Wy), filter (Cy,Cx,K,K). */
typedef struct {
    int B, Cx, Hx, Wx, Cy, Hy, Wy, K, S, P;
    cudnnTensorDescriptor_t xd[LAY_COUNT], yd[LAY_COUNT];
    cudnnFilterDescriptor_t wd[3]; /* (Cy,Cx,K,K) for CNHW and NCHW; (Cy,K,K,Cx) for NHWC; padded for NHWCP */
    cudnnConvolutionDescriptor_t cd[3];
    OpChoice op[3];
    cudnnBackendDescriptor_t keep[3][3]; /* per op, a graph-API choice's graph, engine and config */
    char label[3][104]; /* profile names: "cudnn forward 64->128 ch 32x32 ..." */
} ConvPlan;

#define MAX_PLANS 64
#define MAX_WPACKS 64
#define WPACK_BYTES ((size_t)512 << 20) /* the most the packed weights may take */

/* A convolution weight as cuDNN reads it in a copied layout or in bf16 (prep_w), kept until
 * something writes the weight: a layer's forward and backward-data read the same copy, and a
 * weight Adam has not touched since is not copied again. */
typedef struct {
    const float *w;          /* the weight as the model holds it, (Cy,Cx,K,K) */
    int Cy, Cx, KK, nhwc, Cys, Cxs;
    void *buf;               /* the copy (its own allocation, which recorded graphs may read) */
    int valid;               /* buf holds w's current values */
} WPack;

/* A convolution's input activation as its forward packed it for cuDNN (a copied layout, or bf16),
 * kept for the layer's backward-filter, which reads the same tensor unchanged (ops.h: a
 * convolution's backward gets the input its forward read), so it need not pack it again. The
 * forward always packs; the backward takes the copy of the latest forward of the same tensor and
 * shape, which by that rule holds its input. */
#define MAX_APACKS 64
#define APACK_BYTES ((size_t)2 << 30)
typedef struct {
    const float *x;
    int lay, C, B, R;
    void *buf;
    size_t bytes;
    int valid;        /* packed by a forward since the last recording boundary, alloc or free */
    long side_epoch;  /* the side stream read buf in this join epoch (side_join counts them) */
} APack;
/* An activation laid out lazily (see "lazy layout" below): a convolution, batch norm or activation
 * wrote it straight into NHWC (buf) for the next such op to read as it is; the CNHW tensor at x is
 * brought up to date (unpacked) only when another op reads or writes that memory. */
#define MAX_VIEWS 128
#define VIEW_BYTES ((size_t)4 << 30)
typedef struct {
    float *x;        /* the tensor as the model holds it, (C, B, R) */
    int C, B, R;
    float *buf;      /* (B, R, C) fp32, its own allocation (recorded graphs may read it) */
    int nhwc;        /* buf holds the tensor's current values */
    int stale;       /* x's memory does not (only buf does) */
    long side_epoch; /* the side stream read buf in this join epoch */
} View;
/* the views' flags where a recording ended, which every replay of it leaves again */
typedef struct {
    cudaGraphExec_t exec;
    int nviews;
    unsigned char *flags; /* nhwc | stale << 1, per view */
} Graph;
#define BN_MAX_PARTS 128
#define BN_MAX_C 8192

#define UP_SLOTS 4
#define UP_MAX_BYTES ((size_t)32 << 20) /* larger uploads (a checkpoint's weights, once) go straight */
typedef struct {
    int device;
    Prec prec;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    void *blas_ws;
    void *ws;          /* cuDNN workspace */
    size_t ws_bytes;
    void *slot[ROLE_COUNT]; /* layout / bf16 copies of the operands, one per role */
    size_t slot_bytes[ROLE_COUNT];
    /* the weight gradients' side stream (conv_bwd_filter): NULL when off */
    cudaStream_t side;
    cudaEvent_t side_fork, side_done[2], side_end;
    void *side_slot[2][3]; /* two sets, used in turn, by role: copies of x and dy, and in ROLE_W's place
                              the raw weight gradient */
    size_t side_slot_bytes[2][3];
    void *side_ws;         /* the side's cuDNN workspace */
    size_t side_ws_bytes;
    int side_next;         /* the set the next weight gradient takes */
    int side_busy[2];      /* set s is in use by side work the main stream has not waited for */
    int side_pending;      /* the side has work the main stream has not waited for */
    long join_epoch;       /* side_join's count */
    /* kept copies of weights and layer inputs (WPack, APack); DCGAN_CUDA_NO_KEEP=1: none, every use copies */
    WPack wpack[MAX_WPACKS];
    int nwpack, no_keep;
    size_t wpack_bytes;
    APack apack[MAX_APACKS];
    int napack;
    size_t apack_bytes;
    /* lazily laid-out activations (View), only with DCGAN_CUDA_LAZY=1: by default none, every NHWC
     * output is unpacked (on an H200 the views made every configuration slower, bench/gpu/NOTES.md) */
    View view[MAX_VIEWS];
    int nview, no_lazy, poison;
    size_t view_bytes;
    int pdl; /* DCGAN_CUDA_PDL=1 (experiment): our kernels with programmatic dependent launch, see LAUNCH */
    /* uploads (each training batch) staged through page-locked host memory, UP_SLOTS buffers in
     * turn, each reused once the copy that last read it has run: a copy from pageable memory may
     * wait for everything queued before it (the last iteration's graph) and then hold the host,
     * one from page-locked memory does neither. DCGAN_CUDA_NO_PINNED=1: straight from the caller. */
    void *up_pin[UP_SLOTS];
    size_t up_bytes[UP_SLOTS];
    cudaEvent_t up_done[UP_SLOTS];
    int up_next, no_pinned;
    double *bn_part;   /* (BN_MAX_C, BN_MAX_PARTS, 2) partial sums of batch norm */
    float *bn_k;       /* (2 * BN_MAX_C) per-channel constants of batch-norm backward */
    ConvPlan plans[MAX_PLANS];
    int nplans;
    int capturing;
    int nsm;
    int verbose; /* DCGAN_CUDA_VERBOSE=1: print each convolution's chosen algorithm */
    int nondet;  /* DCGAN_CUDA_NONDETERMINISTIC=1 (experiment): non-deterministic algorithms allowed too */
    int cudnn_only; /* DCGAN_CUDA_CUDNN_ONLY=1 (for comparison): full-size convolutions through cuDNN too */
    int no_pad;     /* DCGAN_CUDA_NO_PAD=1 (for comparison): the channel-padded layout is not offered */
    int no_reuse;   /* DCGAN_CUDA_NO_REUSE=1 (for comparison): a backward packs its shared operand twice */
    int force_layout; /* DCGAN_CUDA_LAYOUT=L (tests): layout L (0-3) wherever cuDNN supports it, else -1 */
    int engines;      /* DCGAN_CUDA_ENGINES: ENGINES_AUTO, ENGINES_LEGACY or ENGINES_GRAPH (see choose) */
    char *algos_path; /* DCGAN_CUDA_ALGOS=FILE or keep_choices: the choices are read from / added to it */
    char *cache_path; /* cache_choices: this GPU's and settings' file of choices in the cache folder, or NULL */
    const char *pin_src; /* the file the choice being settled was read from (for DCGAN_CUDA_VERBOSE) */
    void **retired; /* outgrown scratch, freed at the end (graphs may hold it) */
    int nretired;
    /* DCGAN_CUDA_PROFILE=1: GPU time of every op outside graphs, by op (events around each op and a
     * wait after it, so only for finding where time goes), printed when the backend is destroyed */
    int profile;
    cudaEvent_t ev[4];
    struct { const char *name; double ms; long calls; } prof[48];
    int nprof;
    int prof_skip; /* an algorithm search ran inside the op being timed: drop that sample */
    long prof_warm_adam, adam_calls; /* DCGAN_CUDA_PROFILE_SKIP=A: forget what ran up to the A-th Adam
                                        update (the warm-up iterations: start-up costs, first calls) */
#ifdef DCGAN_HAVE_NCCL
    ncclComm_t nccl;          /* the data-parallel job's communicator, once collective_init ran */
    struct NcclApi *nc;       /* NCCL's functions, loaded at the first collective_id / collective_init */
#endif
} CudaCtx;

static int profiling(const CudaCtx *c) { return c->profile && !c->capturing; }
static void prof_mark(CudaCtx *c, int e) { if (profiling(c)) CU(cudaEventRecord(c->ev[e], c->stream)); }
/* adds the time from event e to now under name (a string literal, or the plan's own buffer) */
static void prof_add(CudaCtx *c, int e, const char *name) {
    if (!profiling(c)) return;
    CU(cudaEventRecord(c->ev[e + 1], c->stream));
    CU(cudaEventSynchronize(c->ev[e + 1]));
    float ms = 0;
    CU(cudaEventElapsedTime(&ms, c->ev[e], c->ev[e + 1]));
    if (c->prof_skip) {
        if (e == 0) c->prof_skip = 0; /* the outer op ends last */
        return;
    }
    int i = 0;
    while (i < c->nprof && strcmp(c->prof[i].name, name)) i++;
    if (i == c->nprof) {
        if (c->nprof == (int)(sizeof c->prof / sizeof c->prof[0])) return;
        c->prof[c->nprof].name = name;
        c->prof[c->nprof].ms = 0.0;
        c->prof[c->nprof++].calls = 0;
    }
    c->prof[i].ms += ms;
    c->prof[i].calls++;
}
#define PROF_BEGIN(c) prof_mark((c), 0)
#define PROF_END(c, name) prof_add((c), 0, (name))

static CudaCtx *ctx_of(Backend *be) { return (CudaCtx *)be->ctx; }

/* The main stream waits for all the side stream's work so far (see conv_bwd_filter). Every op that
 * could read or write what that work touches (the parameter gradients, above all) calls this
 * first; the ops that never do (convolutions, which order themselves with it, batch norm,
 * activations, losses, linear layers, label ops, counters) do not. */
static void side_join(CudaCtx *c) {
    if (!c->side_pending) return;
    CU(cudaEventRecord(c->side_end, c->side));
    CU(cudaStreamWaitEvent(c->stream, c->side_end, 0));
    c->side_pending = 0;
    c->side_busy[0] = c->side_busy[1] = 0;
    c->side_next = 0;
    c->join_epoch++;
}

/* Forgets the kept weight copies that bytes at p may have changed (p NULL: every kept copy, the
 * layer inputs' too). Every op that can write a parameter calls this (the generic writes, Adam, the
 * moving average, the all-reduce, random fills); the model's other ops never write one. A
 * recording starts and ends with none valid, so that a replay copies what it reads. */
static void kept_written(CudaCtx *c, const void *p, size_t bytes) {
    if (!p) /* (recording boundaries, alloc, free: the kept activations go too) */
        for (int i = 0; i < c->napack; i++) c->apack[i].valid = 0;
    const char *lo = (const char *)p, *hi = lo + bytes;
    for (int i = 0; i < c->nwpack; i++) {
        WPack *e = &c->wpack[i];
        const char *wlo = (const char *)e->w, *whi = wlo + (size_t)e->Cy * e->Cx * e->KK * sizeof(float);
        if (!p || (wlo < hi && lo < whi)) e->valid = 0;
    }
}

/* the lazy layout's hooks (defined with the layout copies below): every op calls lz_read on the
 * memory it reads and lz_write on the memory it writes, unless it handles views itself */
static void lz_read(CudaCtx *c, const void *p, size_t bytes);
static void lz_write(CudaCtx *c, const void *p, size_t bytes);
static void lz_flush(CudaCtx *c);

/* an environment switch: set to a positive number */
static int env_on(const char *name) { const char *v = getenv(name); return v && atoi(v) > 0; }

static unsigned grid_for(size_t n, int threads, int nsm) {
    size_t b = (n + threads - 1) / threads, cap = (size_t)nsm * 16;
    if (b > cap) b = cap;
    return b ? (unsigned)b : 1u;
}

/* ------------------------------------------------------------------------------------------------
 * memory */

static float *cu_alloc(Backend *be, size_t n) {
    CudaCtx *c = ctx_of(be);
    DCGAN_CHECK(!c->capturing, "cuda: alloc while recording a graph");
    side_join(c);
    float *p = NULL;
    cudaError_t e = cudaMalloc((void **)&p, (n ? n : 1) * sizeof(float));
    if (e == cudaErrorMemoryAllocation) {
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        die("out of GPU memory: this run needs %.1f MB more and %.1f of %.1f GB are free; try a smaller --batch",
            (double)n * 4 / 1e6, fr / 1e9, tot / 1e9);
    }
    CU(e);
    kept_written(c, NULL, 0); /* memory freed before may be this */
    CU(cudaMemsetAsync(p, 0, (n ? n : 1) * sizeof(float), c->stream));
    return p;
}

static void cu_free(Backend *be, float *p) {
    DCGAN_CHECK(!ctx_of(be)->capturing, "cuda: free while recording a graph");
    side_join(ctx_of(be));
    kept_written(ctx_of(be), NULL, 0);
    lz_flush(ctx_of(be)); /* the views in p's memory go, and with them (sizes unknown here) all */
    if (p) CU(cudaFree(p));
}

/* The next staging buffer of cu_upload for `bytes`, its last copy done; NULL: none (too large,
 * while recording, off, or no page-locked memory to be had). */
static void *upload_slot(CudaCtx *c, size_t bytes, int *slot) {
    if (c->no_pinned || c->capturing || bytes == 0 || bytes > UP_MAX_BYTES) return NULL;
    const int k = c->up_next;
    CU(cudaEventSynchronize(c->up_done[k])); /* (returns at once for an event never recorded) */
    if (c->up_bytes[k] < bytes) {
        if (c->up_pin[k]) CU(cudaFreeHost(c->up_pin[k]));
        c->up_pin[k] = NULL;
        c->up_bytes[k] = 0;
        if (cudaHostAlloc(&c->up_pin[k], bytes, cudaHostAllocDefault) != cudaSuccess) {
            (void)cudaGetLastError(); /* no page-locked memory: go on from pageable memory */
            c->up_pin[k] = NULL;
            c->no_pinned = 1;
            return NULL;
        }
        c->up_bytes[k] = bytes;
    }
    c->up_next = (k + 1) % UP_SLOTS;
    *slot = k;
    return c->up_pin[k];
}

static void cu_upload(Backend *be, float *dst, const float *src, size_t n) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    const size_t bytes = n * sizeof(float);
    kept_written(c, dst, bytes);
    lz_write(c, dst, bytes);
    int k;
    void *pin = upload_slot(c, bytes, &k);
    if (pin) {
        memcpy(pin, src, bytes);
        CU(cudaMemcpyAsync(dst, pin, bytes, cudaMemcpyHostToDevice, c->stream));
        CU(cudaEventRecord(c->up_done[k], c->stream));
        return;
    }
    /* from pageable memory the copy is staged before the call returns, so src may be reused */
    CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
}

static void cu_download(Backend *be, float *dst, const float *src, size_t n) {
    CudaCtx *c = ctx_of(be);
    DCGAN_CHECK(!c->capturing, "cuda: download while recording a graph");
    side_join(c);
    lz_read(c, src, n * sizeof(float));
    CU(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
    CU(cudaStreamSynchronize(c->stream));
}

static void cu_zero(Backend *be, float *x, size_t n) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    kept_written(c, x, n * sizeof(float));
    lz_write(c, x, n * sizeof(float));
    CU(cudaMemsetAsync(x, 0, n * sizeof(float), c->stream));
}

static void cu_copy(Backend *be, float *dst, const float *src, size_t n) {
    if (dst == src) return;
    CudaCtx *c = ctx_of(be);
    side_join(c);
    kept_written(c, dst, n * sizeof(float));
    lz_read(c, src, n * sizeof(float));
    lz_write(c, dst, n * sizeof(float));
    CU(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
}

static void cu_sync(Backend *be) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    CU(cudaStreamSynchronize(c->stream));
}

/* From now on the convolution choices are read from / added to the file at path (see pinned) */
static void cu_keep_choices(Backend *be, const char *path) {
    CudaCtx *c = ctx_of(be);
    free(c->algos_path);
    c->algos_path = path && *path ? xstrdup(path) : NULL;
}

/* From now on the convolution choices are also looked up in, and added to, a file in the folder dir
 * named for what the choices depend on: the GPU (name, compute capability, SM count), the driver,
 * the CUDA runtime and cuDNN versions, and the settings that change what choose() may take or how
 * it charges copies. So every run on one machine takes the choices of the first (same seed, same
 * bits from run to run; no timing at start), and another GPU, driver, library or setting times
 * again, into a file of its own. The file at algos_path, where there is one, comes first. */
static void cu_cache_choices(Backend *be, const char *dir) {
    CudaCtx *c = ctx_of(be);
    free(c->cache_path);
    c->cache_path = NULL;
    if (!dir || !*dir) return;
    cudaDeviceProp prop;
    int driver = 0, runtime = 0;
    CU(cudaGetDeviceProperties(&prop, c->device));
    CU(cudaDriverGetVersion(&driver));
    CU(cudaRuntimeGetVersion(&runtime));
    char id[512];
    snprintf(id, sizeof id, "%s|sm%d%d|%d SMs|driver %d|runtime %d|cudnn %zu|layout %d engines %d nondet %d lazy %d pad %d "
             "reuse %d|choices 1", prop.name, prop.major, prop.minor, prop.multiProcessorCount, driver, runtime,
             (size_t)cudnnGetVersion(), c->force_layout, c->engines, c->nondet, !c->no_lazy, !c->no_pad, !c->no_reuse);
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *q = id; *q; q++) h = (h ^ (unsigned char)*q) * 1099511628211ull;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/cuda-choices-%016llx.txt", dir, (unsigned long long)h) < (int)sizeof path)
        c->cache_path = xstrdup(path);
}

/* A cache file that cannot be used is not worth ending a run for, with one line saying why: one
 * that cannot be read as choices this cuDNN can build is deleted and started again (this run's
 * timings fill it); one that cannot be written is left alone and not used again in this process. */
static void cache_reset(CudaCtx *c, const char *why) {
    fprintf(stderr, "dcgan: warning: the cache of convolution choices %s %s; it is started again\n", c->cache_path, why);
    if (unlink(c->cache_path) != 0 && errno != ENOENT) {
        fprintf(stderr, "dcgan: warning: cannot delete %s (%s); the cache is not used\n", c->cache_path, strerror(errno));
        free(c->cache_path);
        c->cache_path = NULL;
    }
}
static void cache_off(CudaCtx *c, const char *why) {
    fprintf(stderr, "dcgan: warning: the cache of convolution choices %s %s; it is not used\n", c->cache_path, why);
    free(c->cache_path);
    c->cache_path = NULL;
}

/* Grows a scratch buffer; only outside a recording, where the first (eager) iteration sizes them.
 * The old buffer is kept until the backend is destroyed: a recorded graph may still use it. */
static void *grow(CudaCtx *c, void **p, size_t *have, size_t bytes) {
    if (bytes <= *have) return *p;
    DCGAN_CHECK(!c->capturing, "cuda: scratch must grow while recording a graph (%zu bytes)", bytes);
    if (*p) {
        c->retired = (void **)xrealloc(c->retired, (size_t)(c->nretired + 1) * sizeof(void *));
        c->retired[c->nretired++] = *p;
    }
    const size_t want = bytes + bytes / 4; /* some headroom against many small steps */
    CU(cudaMalloc(p, want));
    *have = want;
    return *p;
}

/* ------------------------------------------------------------------------------------------------
 * small kernels */

/* out[b][a][r] = in[a][b][r] */
__global__ void k_transpose01(float *out, const float *in, int A, int Bn, int R) {
    PDL_ENTRY();
    const size_t n = (size_t)A * Bn * R;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i % R, t = i / R, a = t % A, b = t / A; /* i indexes out: (b, a, r) */
        out[i] = in[(a * Bn + b) * R + r];
    }
}

__global__ void k_act_fwd(float *out, const float *in, size_t n, int act) {
    PDL_ENTRY();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = act_apply(in[i], act);
}

__global__ void k_act_bwd(float *din, const float *dout, const float *out, size_t n, int act) {
    PDL_ENTRY();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        din[i] = dout[i] * act_grad_from_output(out[i], act);
}

/* out[b][o] += bias[o] */
__global__ void k_bias_rows(float *out, const float *bias, int rows, int cols) {
    PDL_ENTRY();
    const size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] += bias[i % cols];
}

/* dbias[o] += sum_b dout[b][o], one thread per column, rows in order */
__global__ void k_colsum_acc(float *dbias, const float *dout, int rows, int cols) {
    PDL_ENTRY();
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= cols) return;
    double s = 0.0;
    for (int b = 0; b < rows; b++) s += dout[(size_t)b * cols + o];
    dbias[o] += (float)s;
}

/* out (C, N): out[c][i] += bias[c]; grid.y = channel */
__global__ void k_bias_channels(float *out, const float *bias, size_t N) {
    PDL_ENTRY();
    const int c = blockIdx.y;
    const float b = bias[c];
    float *row = out + (size_t)c * N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) row[i] += b;
}

template <typename T> __device__ T block_sum(T v, T *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads(); /* sh may still be read by a previous call */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    const int nw = blockDim.x >> 5;
    v = threadIdx.x < nw ? sh[threadIdx.x] : (T)0;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v; /* valid in thread 0 */
}

/* The kernels on views (NHWC) that sum 32 channels a block: each lane one channel, each of the 8
 * warps its own pixels. warps_sum adds the 8 warps' sums s of the lane's channel in warp order;
 * the result is valid in warp 0 (sh: 8 x 32, reusable when it returns). 256 threads. */
__device__ double warps_sum(double s, double (*sh)[32]) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    sh[w][lane] = s;
    __syncthreads();
    double t = 0.0;
    if (w == 0)
        for (int k = 0; k < 8; k++) t += sh[k][lane];
    __syncthreads();
    return t;
}

/* Channel sums of (C, N) in two kernels, so that a few channels of many values (the output layer's
 * bias, 3 channels of B*H*W) still spread over the whole GPU: each row is cut into P chunks (as
 * batch norm's, rowsum_parts), a block sums a chunk in double (thread t the values lo + t, lo + t +
 * 256, ... in order, the threads combined by block_sum) into part[c][p], then one thread per channel
 * adds the chunks in order: dbias[c] += sum. On a view, k_rowsum_part_nhwc gives the same bits. */
/* part[c][p], grid (P, C) */
__global__ void k_rowsum_part(double *part, const float *x, size_t N, int P) {
    PDL_ENTRY();
    __shared__ double sh[32];
    const int c = blockIdx.y, p = blockIdx.x;
    const size_t chunk = (N + P - 1) / P, lo = (size_t)p * chunk, hi = lo + chunk < N ? lo + chunk : N;
    const float *row = x + (size_t)c * N;
    double s = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) s += row[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) part[(size_t)c * P + p] = s;
}

/* dbias[c] += sum_p part[c][p], in order; one thread per channel */
__global__ void k_rowsum_combine(float *dbias, const double *part, int C, int P) {
    PDL_ENTRY();
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s = 0.0;
    for (int p = 0; p < P; p++) s += part[(size_t)c * P + p];
    dbias[c] += (float)s;
}

/* The same two on a view (NHWC, (B*R, C)): k_bias_channels_nhwc adds bias[c] to every pixel's
 * value c; k_rowsum_part_nhwc sums a chunk of 32 channels a block as batch norm's partial kernels
 * on views do (a lane a channel, warp w the pixels lo + w, lo + w + 8, ..., the warps added in
 * order; chunks of ~512 pixels), in double: the same sums as k_rowsum_part's but for the order.
 * grid (P, ceil(C / 32)), 256 threads. */
__global__ void k_bias_channels_nhwc(float *out, const float *bias, int C, size_t npix) {
    PDL_ENTRY();
    /* a block takes ppb pixels at a time, a thread one channel of one (or every blockDim-th channel) */
    const int wide = C > (int)blockDim.x, ppb = wide ? 1 : blockDim.x / C, step = wide ? blockDim.x : C;
    const int k0 = wide ? threadIdx.x : threadIdx.x % C, pl = wide ? 0 : threadIdx.x / C;
    if (pl >= ppb) return;
    for (size_t p = (size_t)blockIdx.x * ppb + pl; p < npix; p += (size_t)gridDim.x * ppb)
        for (int k = k0; k < C; k += step) out[p * C + k] += bias[k];
}
__global__ void k_rowsum_part_nhwc(double *part, const float *x, int C, size_t N, int P) {
    PDL_ENTRY();
    __shared__ double sh[8][32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int p = blockIdx.x, c = blockIdx.y * 32 + lane;
    const size_t chunk = (N + P - 1) / P, lo = (size_t)p * chunk, hi = lo + chunk < N ? lo + chunk : N;
    double s = 0.0;
    if (c < C)
        for (size_t i = lo + w; i < hi; i += 8) s += x[i * C + c];
    const double t = warps_sum(s, sh);
    if (w == 0 && c < C) part[(size_t)c * P + p] = t;
}

/* ---- layout and precision copies of convolution / matrix operands ----
 * src is CNHW (C, B, R) fp32; dst is in `layout` (CNHW, NCHW or NHWC) as fp32 or bf16. */
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

/* index in a layout of element (c, b, r) of a (C, B, R) tensor */
__device__ __forceinline__ size_t lay_index(int layout, size_t c, size_t b, size_t r, size_t C, size_t B, size_t R) {
    if (layout == LAY_NCHW) return (b * C + c) * R + r;
    if (layout == LAY_NHWC) return (b * R + r) * C + c;
    return (c * B + b) * R + r;
}

template <typename T> __global__ void k_pack(T *dst, const float *src, int layout, int C, int B, int R) {
    PDL_ENTRY();
    const size_t n = (size_t)C * B * R;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        /* i walks dst in its own order, so writes are coalesced */
        size_t c, b, r;
        if (layout == LAY_NCHW) { r = i % R; size_t t = i / R; c = t % C; b = t / C; }
        else if (layout == LAY_NHWC) { c = i % C; size_t t = i / C; r = t % R; b = t / R; }
        else { r = i % R; size_t t = i / R; b = t % B; c = t / B; }
        dst[i] = from_f<T>(src[(c * B + b) * R + r]);
    }
}

/* dst (CNHW fp32) = beta * dst + src (layout, fp32 or bf16) */
template <typename T> __global__ void k_unpack(float *dst, const T *src, int layout, int C, int B, int R, float beta) {
    PDL_ENTRY();
    const size_t n = (size_t)C * B * R;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i % R, t = i / R, b = t % B, c = t / B; /* i walks dst (CNHW) */
        const float v = to_f(src[lay_index(layout, c, b, r, C, B, R)]);
        dst[i] = beta == 0.0f ? v : beta * dst[i] + v;
    }
}

/* CNHW (C,B,R) <-> NHWC (B,R,Cs) through 32x32 tiles in shared memory, so that both the reads and
 * the writes are coalesced; Cs >= C channels are stored, the padding ones (C <= c < Cs) as zeros;
 * grid (ceil(R/32), ceil(Cs/32), B), block (32, 8). */
template <typename T> __global__ void k_pack_nhwc(T *dst, const float *src, int C, int Cs, int B, int R) {
    PDL_ENTRY();
    __shared__ float tile[32][33];
    const int b = blockIdx.z, r0 = blockIdx.x * 32, c0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += 8) {
        const int c = c0 + k, r = r0 + threadIdx.x;
        if (c < Cs && r < R) tile[k][threadIdx.x] = c < C ? src[((size_t)c * B + b) * R + r] : 0.0f;
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += 8) {
        const int r = r0 + k, c = c0 + threadIdx.x;
        if (c < Cs && r < R) dst[((size_t)b * R + r) * Cs + c] = from_f<T>(tile[threadIdx.x][k]);
    }
}

/* the inverse of k_pack_nhwc: the padding channels are not read; grid (ceil(R/32), ceil(C/32), B) */
template <typename T> __global__ void k_unpack_nhwc(float *dst, const T *src, int C, int Cs, int B, int R) {
    PDL_ENTRY();
    __shared__ float tile[32][33];
    const int b = blockIdx.z, r0 = blockIdx.x * 32, c0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += 8) {
        const int r = r0 + k, c = c0 + threadIdx.x;
        if (c < C && r < R) tile[k][threadIdx.x] = to_f(src[((size_t)b * R + r) * Cs + c]);
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += 8) {
        const int c = c0 + k, r = r0 + threadIdx.x;
        if (c < C && r < R) dst[((size_t)c * B + b) * R + r] = tile[threadIdx.x][k];
    }
}

/* dst = w (Cy,Cx,KK) as it is, or as (Cys,KK,Cxs) for NHWC (Cys >= Cy, Cxs >= Cx: the padding
 * filters and channels zero), in fp32 or bf16 */
template <typename T> __global__ void k_pack_w(T *dst, const float *w, int nhwc, int Cy, int Cx, int KK, int Cys, int Cxs) {
    PDL_ENTRY();
    const size_t n = nhwc ? (size_t)Cys * Cxs * KK : (size_t)Cy * Cx * KK;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        if (!nhwc) { dst[i] = from_f<T>(w[i]); continue; }
        const size_t c = i % Cxs, t = i / Cxs, rs = t % KK, k = t / KK;
        dst[i] = from_f<T>(c < (size_t)Cx && k < (size_t)Cy ? w[(k * Cx + c) * KK + rs] : 0.0f);
    }
}

/* dw (Cy, Cx, KK) += g, a weight gradient (fp32 or bf16) in the same KCRS order (n values) */
template <typename T> __global__ void k_acc_w(float *dw, const T *g, size_t n) {
    PDL_ENTRY();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dw[i] += to_f(g[i]);
}
/* dw (Cy, Cx, KK) += g in KRSC, (Cy', KK, Cxs) with Cxs >= Cx (the padded layout's channels): per
 * output channel k a (KK x Cx) -> (Cx x KK) transpose through a 32 x 33 tile, so that g is read
 * along its channels and dw written along its taps, both in whole sectors (reading g in dw's order
 * fetched a 32-byte sector per value). Each value is added once, as before: the same bits.
 * grid (ceil(Cx / 32), ceil(KK / 32), Cy), block (32, 8). */
template <typename T> __global__ void k_acc_w_krsc(float *dw, const T *g, int Cx, int KK, int Cxs) {
    PDL_ENTRY();
    __shared__ float tile[32][33];
    const int k = blockIdx.z, c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int j = threadIdx.y; j < 32; j += 8) { /* tile[tap][channel] */
        const int rs = r0 + j, ci = c0 + threadIdx.x;
        if (rs < KK && ci < Cx) tile[j][threadIdx.x] = to_f(g[((size_t)k * KK + rs) * Cxs + ci]);
    }
    __syncthreads();
    for (int j = threadIdx.y; j < 32; j += 8) {
        const int ci = c0 + j, rs = r0 + threadIdx.x;
        if (ci < Cx && rs < KK) dw[((size_t)k * Cx + ci) * KK + rs] += tile[threadIdx.x][j];
    }
}

__global__ void k_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n) {
    PDL_ENTRY();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}


/* ------------------------------------------------------------------------------------------------
 * lazy layout (View): where a convolution runs in NHWC (fp32), its output goes straight into the
 * output's view and stays there: batch norm and the activations read and write views in NHWC as
 * they are, and the next convolution reads its input from one, so that a chain conv -> batch norm
 * -> conv makes no layout copies. Any other op reads or writes the model's CNHW tensors, and first
 * calls lz_read / lz_write on that memory: a read unpacks a view whose CNHW memory is stale there
 * first, and a write drops the views it touches (view_drop). At most one of the views that share
 * memory is stale, and only a view whose buf is valid can be.
 * Views are made outside recordings (a recording that meets a tensor without one unpacks as before).
 * A recording keeps its views' flags at its end (Graph), and every replay sets them again, since it
 * leaves the memory as the recorded iteration did. free unpacks every stale view first and drops
 * them all. */

static size_t view_floats(const View *v) { return (size_t)v->C * v->B * v->R; }
static int view_overlaps(const View *v, const void *p, size_t bytes) {
    const char *lo = (const char *)v->x, *hi = lo + view_floats(v) * sizeof(float);
    return lo < (const char *)p + bytes && (const char *)p < hi;
}

static void view_unpack(CudaCtx *c, View *v) {
    const dim3 g((v->R + 31) / 32, (v->C + 31) / 32, v->B), t(32, 8);
    LAUNCH(k_unpack_nhwc<float>, g, t, 0, c->stream)(v->x, v->buf, v->C, v->C, v->B, v->R);
    KCHECK();
    v->stale = 0;
}

static void lz_read(CudaCtx *c, const void *p, size_t bytes) {
    for (int i = 0; i < c->nview; i++)
        if (c->view[i].stale && view_overlaps(&c->view[i], p, bytes)) view_unpack(c, &c->view[i]);
}

/* A view whose memory is written (through another tensor, or a view of another shape) is dropped
 * without unpacking: by ops.h's rule no op reads a tensor again once a tensor sharing its memory was
 * written. With DCGAN_CUDA_POISON=1 (on the emulation, always) its memory is filled with NaN, so
 * that a read breaking the rule shows in the results. */
static void view_drop(CudaCtx *c, View *v) {
    if (v->stale && c->poison) CU(cudaMemsetAsync(v->x, 0xff, view_floats(v) * sizeof(float), c->stream));
    v->stale = 0;
    v->nhwc = 0;
}

/* Even a write of a few values inside a view drops it: the model keeps small tensors in scratch
 * that large activations used before (a dcgan64 iteration writes one value per image over the
 * start of D's first activation, 134 MB at batch 256, which unpacking would copy in vain). */
static void lz_write(CudaCtx *c, const void *p, size_t bytes) {
    for (int i = 0; i < c->nview; i++)
        if (c->view[i].nhwc && view_overlaps(&c->view[i], p, bytes)) view_drop(c, &c->view[i]);
}

/* every view's CNHW memory up to date, and no view valid (free) */
static void lz_flush(CudaCtx *c) {
    for (int i = 0; i < c->nview; i++) {
        if (c->view[i].stale) view_unpack(c, &c->view[i]);
        c->view[i].nhwc = 0;
    }
}

/* whether an operand of C channels over B images in layout l may live in a view */
static int view_layout(const CudaCtx *c, Layout l, int B) {
    return !c->no_lazy && l == LAY_NHWC && c->prec != PREC_BF16 && B <= 65535;
}

/* x's view with valid NHWC contents, or NULL */
static View *view_valid(CudaCtx *c, const float *x, int C, int B, int R) {
    for (int i = 0; i < c->nview; i++) {
        View *v = &c->view[i];
        if (v->x == x && v->C == C && v->B == B && v->R == R) return v->nhwc ? v : NULL;
    }
    return NULL;
}
/* the same, found by the tensor's size alone (batch norm and the activations know C and B*R, or n) */
static View *view_valid_n(CudaCtx *c, const float *x, int C, size_t n) {
    for (int i = 0; i < c->nview; i++) {
        View *v = &c->view[i];
        if (v->x == x && v->nhwc && (C <= 0 || v->C == C) && view_floats(v) == n) return v;
    }
    return NULL;
}

/* The view an op is about to write x (C, B, R) into, in place of x (made if there is none, outside
 * recordings, while the views stay within VIEW_BYTES); NULL: none, and nothing done (the op then
 * calls lz_read on its inputs and lz_write on x, in that order, and writes x). Views sharing x's
 * memory are dropped, and the op's write waits for side work that may still read the buffer. The
 * op calls view_wrote after its kernel. */
static View *view_for_write(CudaCtx *c, float *x, int C, int B, int R) {
    View *v = NULL;
    for (int i = 0; i < c->nview && !v; i++)
        if (c->view[i].x == x && c->view[i].C == C && c->view[i].B == B && c->view[i].R == R) v = &c->view[i];
    const size_t bytes = (size_t)C * B * R * sizeof(float);
    if (!v && !c->capturing && c->nview < MAX_VIEWS && c->view_bytes + bytes <= VIEW_BYTES) {
        v = &c->view[c->nview++];
        *v = (View){x, C, B, R, NULL, 0, 0, -1};
        CU(cudaMalloc((void **)&v->buf, bytes));
        c->view_bytes += bytes;
    }
    if (!v) return NULL;
    for (int i = 0; i < c->nview; i++) {
        View *w = &c->view[i];
        if (w != v && w->nhwc && view_overlaps(w, x, bytes)) view_drop(c, w);
    }
    if (v->side_epoch == c->join_epoch && c->side_pending) side_join(c);
    return v;
}
static void view_wrote(View *v) {
    v->nhwc = 1;
    v->stale = 1;
}

/* ------------------------------------------------------------------------------------------------
 * layout and transposes */

static void cu_transpose01(Backend *be, float *out, const float *in, int A, int Bn, int R) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    PROF_BEGIN(c);
    const size_t n = (size_t)A * Bn * R;
    kept_written(c, out, n * sizeof(float));
    lz_read(c, in, n * sizeof(float));
    lz_write(c, out, n * sizeof(float));
    LAUNCH(k_transpose01, grid_for(n, 256, c->nsm), 256, 0, c->stream)(out, in, A, Bn, R);
    KCHECK();
    PROF_END(c, "transpose");
}

/* ------------------------------------------------------------------------------------------------
 * linear layers (cuBLAS, row-major [B][features] seen column-major) */

static const __nv_bfloat16 *bf16_copy(CudaCtx *c, int role, const float *src, size_t n) {
    __nv_bfloat16 *dst = (__nv_bfloat16 *)grow(c, &c->slot[role], &c->slot_bytes[role], n * sizeof(__nv_bfloat16));
    LAUNCH(k_to_bf16, grid_for(n, 256, c->nsm), 256, 0, c->stream)(dst, src, n);
    KCHECK();
    return dst;
}

/* C (m x n, ld m) = alpha op(A) op(B) + beta C, column-major, in the backend's precision */
static void gemm(CudaCtx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *A, int lda,
                 size_t a_n, const float *B, int ldb, size_t b_n, float beta, float *C) {
    const float alpha = 1.0f;
    if (c->prec != PREC_BF16) {
        CUBLAS(cublasSgemm(c->blas, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, m));
        return;
    }
    const __nv_bfloat16 *a16 = bf16_copy(c, ROLE_X, A, a_n), *b16 = bf16_copy(c, ROLE_W, B, b_n);
    CUBLAS(cublasGemmEx(c->blas, ta, tb, m, n, k, &alpha, a16, CUDA_R_16BF, lda, b16, CUDA_R_16BF, ldb, &beta, C,
                        CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* A narrow linear layer (D's last: thousands of inputs, one output) is a few long dot products,
 * not a matrix product; these kernels give each its own block (forward) or thread (weights). fp32
 * FMA-free arithmetic in a fixed order, in every precision. */
#define LINEAR_NARROW BF16_NARROW_OUTPUTS /* bf16_points.h: the CPU's emulation of bf16 knows it */
/* The forward kernels' block size: their B * No blocks are about one per SM, and each thread's loop
 * over its share of the dot product is what the block waits on (the H200's trace: 43.8 us a call
 * for 32768 inputs at seed128, 14 us for 8192 at dcgan64/64, where reading the inputs once takes a
 * few us); 1024 threads make each loop a quarter of 256's. */
#define NARROW_THREADS 1024

/* out (B,No) = in (B,Ni) W^T + bias; one block per output */
__global__ void k_linear_narrow_fwd(float *out, const float *in, const float *w, const float *bias, int Ni, int No) {
    PDL_ENTRY();
    __shared__ float sh[32];
    const int o = blockIdx.x % No, b = blockIdx.x / No;
    const float *x = in + (size_t)b * Ni, *wr = w + (size_t)o * Ni;
    float s = 0.0f;
    for (int i = threadIdx.x; i < Ni; i += blockDim.x) s += x[i] * wr[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) out[(size_t)b * No + o] = bias ? s + bias[o] : s;
}

/* din (B,Ni) = dout (B,No) W */
__global__ void k_linear_narrow_din(float *din, const float *dout, const float *w, int B, int Ni, int No) {
    PDL_ENTRY();
    const size_t n = (size_t)B * Ni;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        const size_t b = j / Ni, i = j % Ni;
        float s = 0.0f;
        for (int o = 0; o < No; o++) s += dout[b * No + o] * w[(size_t)o * Ni + i];
        din[j] = s;
    }
}

/* dW (No,Ni) += dout^T in, one thread per weight, batch in order */
__global__ void k_linear_narrow_dw(float *dw, const float *dout, const float *in, int B, int Ni, int No) {
    PDL_ENTRY();
    const size_t n = (size_t)No * Ni;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        const size_t o = j / Ni, i = j % Ni;
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += dout[(size_t)b * No + o] * in[(size_t)b * Ni + i];
        dw[j] += s;
    }
}

static void cu_linear_forward(Backend *be, float *out, const float *in, const float *w, const float *bias, int B,
                              int Ni, int No) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    lz_read(c, in, (size_t)B * Ni * sizeof(float));
    lz_write(c, out, (size_t)B * No * sizeof(float));
    if (No <= LINEAR_NARROW) {
        LAUNCH(k_linear_narrow_fwd, (unsigned)((size_t)B * No), NARROW_THREADS, 0, c->stream)(out, in, w, bias, Ni, No);
        KCHECK();
        PROF_END(c, "linear forward");
        return;
    }
    /* out^T (No x B) = W (No x Ni, stored as Ni x No column-major, so transposed) . in^T (Ni x B) */
    gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, No, B, Ni, w, Ni, (size_t)No * Ni, in, Ni, (size_t)B * Ni, 0.0f, out);
    if (bias) {
        LAUNCH(k_bias_rows, grid_for((size_t)B * No, 256, c->nsm), 256, 0, c->stream)(out, bias, B, No);
        KCHECK();
    }
    PROF_END(c, "linear forward");
}

static void cu_linear_backward(Backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in,
                               const float *w, int B, int Ni, int No) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    lz_read(c, dout, (size_t)B * No * sizeof(float));
    lz_read(c, in, (size_t)B * Ni * sizeof(float));
    if (din) lz_write(c, din, (size_t)B * Ni * sizeof(float));
    if (No <= LINEAR_NARROW) {
        if (din) LAUNCH(k_linear_narrow_din, grid_for((size_t)B * Ni, 256, c->nsm), 256, 0, c->stream)(din, dout, w, B, Ni, No);
        if (dw) LAUNCH(k_linear_narrow_dw, grid_for((size_t)No * Ni, 256, c->nsm), 256, 0, c->stream)(dw, dout, in, B, Ni, No);
        KCHECK();
        din = dw = NULL; /* done; the bias below as for any width */
    }
    if (din) /* din^T (Ni x B) = W^T . dout^T */
        gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, Ni, B, No, w, Ni, (size_t)No * Ni, dout, No, (size_t)B * No, 0.0f, din);
    if (dw) /* dW (Ni x No column-major) += in^T (Ni x B) . dout (B x No) */
        gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, Ni, No, B, in, Ni, (size_t)B * Ni, dout, No, (size_t)B * No, 1.0f, dw);
    if (dbias) {
        LAUNCH(k_colsum_acc, (No + 127) / 128, 128, 0, c->stream)(dbias, dout, B, No);
        KCHECK();
    }
    PROF_END(c, "linear backward");
}

/* bit i % 32 of bits[i / 32] = out[i] > 0; blockDim and the grid stride are multiples of 32, so
 * every warp covers one whole 32-value word (the tail of the last word reads as 0) */
__global__ void k_sign_bits(uint32_t *bits, const float *out, size_t n) {
    PDL_ENTRY();
    const size_t total = (n + 31) & ~(size_t)31;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const unsigned b = __ballot_sync(0xffffffffu, i < n && out[i] > 0.0f);
        if ((threadIdx.x & 31) == 0) bits[i >> 5] = b;
    }
}

__global__ void k_act_bwd_bits(float *din, const float *dout, const uint32_t *bits, size_t n, int act) {
    PDL_ENTRY();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        din[i] = __fmul_rn(dout[i], act_grad_from_sign((int)((bits[i >> 5] >> (i & 31)) & 1u), act));
}

static void cu_sign_bits(Backend *be, uint32_t *bits, const float *out, size_t n) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    lz_read(c, out, n * sizeof(float));
    lz_write(c, bits, (n + 31) / 32 * sizeof(uint32_t));
    LAUNCH(k_sign_bits, grid_for((n + 31) & ~(size_t)31, 256, c->nsm), 256, 0, c->stream)(bits, out, n);
    KCHECK();
    PROF_END(c, "sign bits");
}

static void cu_act_backward_bits(Backend *be, float *din, const float *dout, const uint32_t *bits, size_t n, Act act) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    lz_read(c, dout, n * sizeof(float));
    lz_read(c, bits, (n + 31) / 32 * sizeof(uint32_t));
    lz_write(c, din, n * sizeof(float));
    LAUNCH(k_act_bwd_bits, grid_for(n, 256, c->nsm), 256, 0, c->stream)(din, dout, bits, n, act);
    KCHECK();
    PROF_END(c, "activation backward");
}

/* ------------------------------------------------------------------------------------------------
 * convolutions (cuDNN) */

static cudnnDataType_t dtype_of(const CudaCtx *c) { return c->prec == PREC_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }
static size_t elem_bytes(const CudaCtx *c) { return c->prec == PREC_BF16 ? 2 : 4; }

/* dims (n, c, h, w) and their strides of a C-channel activation stored in layout lay */
static void act_dims(Layout lay, int C, int B, int H, int W, int64_t dim[4], int64_t str[4]) {
    const int64_t R = (int64_t)H * W;
    C = lay_channels(lay, C);
    dim[0] = B; dim[1] = C; dim[2] = H; dim[3] = W;
    if (lay == LAY_NCHW) { str[0] = C * R; str[1] = R; str[2] = W; str[3] = 1; }
    else if (lay_nhwc(lay)) { str[0] = R * C; str[1] = 1; str[2] = (int64_t)W * C; str[3] = C; }
    else { str[0] = R; str[1] = B * R; str[2] = W; str[3] = 1; }
}

static void set_act_desc(cudnnTensorDescriptor_t d, cudnnDataType_t t, Layout lay, int C, int B, int H, int W) {
    int64_t dim[4], str[4];
    act_dims(lay, C, B, H, W, dim, str);
    CUDNN(cudnnSetTensor4dDescriptorEx(d, t, (int)dim[0], (int)dim[1], (int)dim[2], (int)dim[3], (int)str[0], (int)str[1],
                                       (int)str[2], (int)str[3]));
}

static ConvPlan *plan_get(CudaCtx *c, int B, int Cx, int Hx, int Wx, int Cy, int Hy, int Wy, int K, int S, int P) {
    for (int i = 0; i < c->nplans; i++) {
        ConvPlan *p = &c->plans[i];
        if (p->B == B && p->Cx == Cx && p->Hx == Hx && p->Wx == Wx && p->Cy == Cy && p->Hy == Hy && p->Wy == Wy &&
            p->K == K && p->S == S && p->P == P)
            return p;
    }
    DCGAN_CHECK(!c->capturing, "cuda: a new convolution shape while recording a graph");
    DCGAN_CHECK(c->nplans < MAX_PLANS, "cuda: too many convolution shapes");
    ConvPlan *p = &c->plans[c->nplans++];
    memset(p, 0, sizeof *p);
    p->B = B; p->Cx = Cx; p->Hx = Hx; p->Wx = Wx; p->Cy = Cy; p->Hy = Hy; p->Wy = Wy; p->K = K; p->S = S; p->P = P;
    const cudnnDataType_t t = dtype_of(c);
    for (int l = 0; l < LAY_COUNT; l++) {
        CUDNN(cudnnCreateTensorDescriptor(&p->xd[l]));
        CUDNN(cudnnCreateTensorDescriptor(&p->yd[l]));
        set_act_desc(p->xd[l], t, (Layout)l, Cx, B, Hx, Wx);
        set_act_desc(p->yd[l], t, (Layout)l, Cy, B, Hy, Wy);
    }
    for (int f = 0; f < 3; f++) {
        CUDNN(cudnnCreateFilterDescriptor(&p->wd[f]));
        CUDNN(cudnnSetFilter4dDescriptor(p->wd[f], t, f ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, f == 2 ? pad8(Cy) : Cy,
                                         f == 2 ? pad8(Cx) : Cx, K, K));
    }
    for (int o = 0; o < 3; o++) {
        CUDNN(cudnnCreateConvolutionDescriptor(&p->cd[o]));
        CUDNN(cudnnSetConvolution2dDescriptor(p->cd[o], P, P, S, S, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    }
    int n, h, w, ch;
    CUDNN(cudnnGetConvolution2dForwardOutputDim(p->cd[0], p->xd[0], p->wd[0], &n, &ch, &h, &w));
    DCGAN_CHECK(n == B && ch == Cy && h == Hy && w == Wy, "cuda: convolution shape mismatch (%d %d %d %d vs %d %d %d %d)",
                n, ch, h, w, B, Cy, Hy, Wy);
    return p;
}

#define WD(p, l) ((p)->wd[(l) == LAY_NHWCP ? 2 : (l) == LAY_NHWC])

static void plan_destroy(ConvPlan *p) {
    for (int l = 0; l < LAY_COUNT; l++) {
        cudnnDestroyTensorDescriptor(p->xd[l]);
        cudnnDestroyTensorDescriptor(p->yd[l]);
    }
    for (int f = 0; f < 3; f++) cudnnDestroyFilterDescriptor(p->wd[f]);
    for (int o = 0; o < 3; o++) {
        cudnnDestroyConvolutionDescriptor(p->cd[o]);
        if (p->op[o].plan) cudnnBackendDestroyDescriptor(p->op[o].plan);
        for (int k = 0; k < 3; k++)
            if (p->keep[o][k]) cudnnBackendDestroyDescriptor(p->keep[o][k]);
    }
}

/* Seconds a call in this layout spends on copies besides cuDNN's own work (layout or precision
 * copies of the three operands): their bytes at 2 TB/s and 3 us per copy kernel. Where the
 * activations may stay in views (the lazy layout), a quarter of that: only where a neighbour of
 * the layer runs in another layout are they copied (a dcgan64 iteration all in NHWC keeps 15 of
 * its 79 activation copies). */
static double copy_cost(const CudaCtx *c, const ConvPlan *p, Layout lay) {
    const double xs = (double)p->Cx * p->B * p->Hx * p->Wx, ys = (double)p->Cy * p->B * p->Hy * p->Wy;
    if (lay == LAY_CNHW && c->prec != PREC_BF16) return 0.0;
    const int kernels = (lay_nhwc(lay) || c->prec == PREC_BF16) ? 3 : 2;
    const double xp = (double)lay_channels(lay, p->Cx) / p->Cx, yp = (double)lay_channels(lay, p->Cy) / p->Cy;
    const double t = (xs * (4.0 + xp * elem_bytes(c)) + ys * (4.0 + yp * elem_bytes(c))) / 2e12 + kernels * 3e-6; /* read fp32 + write the copy */
    return view_layout(c, lay, p->B) ? t / 4 : t;
}

/* Whether choose() offers layout l for plan p: the padded layout only where it pads (and the
 * tiled NHWC copies apply), a forced layout alone where it is offered */
static int layout_offered(const CudaCtx *c, const ConvPlan *p, Layout l) {
    if (l == LAY_NHWCP && (c->no_pad || (p->Cx % 8 == 0 && p->Cy % 8 == 0) || p->B > 65535)) return 0;
    return 1;
}

#define WS_LIMIT ((size_t)1 << 30)

/* ---- cuDNN's graph (backend) API. Its engines include kernels that the legacy API's algorithms do
 * not reach: on an H200, timed alike, they beat the legacy API's best by 10-40% a call on some of
 * dcgan64's shapes (-7.3% per iteration at batch 256) and on none of seed128's 5x5 convolutions
 * (bench/gpu/NOTES.md, version 7). choose() times every engine (default knobs) next to the legacy algorithms in
 * the copied layouts (NCHW, NHWC, padded NHWC: operands in the slots, so 16-byte aligned; the
 * weights copied too), for convolutions of at least GRAPH_MIN_FLOPS (a search costs a fraction of a
 * second a layout, not worth it for small ones). The operation graph: x (uid 1), w (2), y (3),
 * alpha 1, beta 0 (a weight gradient lands in a slot and is added to the gradient from there).
 * DCGAN_CUDA_ENGINES=legacy: the legacy API alone; =graph (tests): graph-API engines wherever one
 * runs, at any size. ---- */
enum { ENGINES_AUTO = 0, ENGINES_LEGACY = 1, ENGINES_GRAPH = 2 };
#define GRAPH_MIN_FLOPS 5e7
#define MAX_ENGINES 96

static cudnnBackendDescriptor_t bk_make(cudnnBackendDescriptorType_t t) {
    cudnnBackendDescriptor_t d;
    CUDNN(cudnnBackendCreateDescriptor(t, &d));
    return d;
}
static void bk_set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, int64_t n,
                   const void *v) {
    CUDNN(cudnnBackendSetAttribute(d, a, t, n, v));
}

/* The operation graph of op o of plan p with its operands in layout lay (not CNHW), or NULL where
 * cuDNN refuses it */
static cudnnBackendDescriptor_t graph_of(CudaCtx *c, const ConvPlan *p, ConvOp o, Layout lay) {
    CgConv cv;
    act_dims(lay, p->Cx, p->B, p->Hx, p->Wx, cv.xdim, cv.xstr);
    act_dims(lay, p->Cy, p->B, p->Hy, p->Wy, cv.ydim, cv.ystr);
    const int64_t K = p->K, Cxs = lay_channels(lay, p->Cx), Cys = lay_channels(lay, p->Cy);
    /* (Cy, Cx, K, K) as prep_w copies it: KCRS, or KRSC for NHWC */
    const int64_t wdim[4] = {Cys, Cxs, K, K}, kcrs[4] = {Cxs * K * K, K * K, K, 1}, krsc[4] = {K * K * Cxs, 1, K * Cxs, Cxs};
    memcpy(cv.wdim, wdim, sizeof wdim);
    memcpy(cv.wstr, lay_nhwc(lay) ? krsc : kcrs, sizeof kcrs);
    cv.stride = p->S;
    cv.pad = p->P;
    cv.type = dtype_of(c);
    return cg_graph(c->dnn, &cv, (int)o);
}

/* One engine of a graph, built: the plan and the descriptors it was made from (kept while it lives) */
typedef struct {
    int64_t index;
    cudnnBackendDescriptor_t eng, cfg, plan;
    size_t ws;
} Engine;

static void engine_free(Engine *e) {
    cg_free(&e->plan);
    cg_free(&e->cfg);
    cg_free(&e->eng);
}

/* Builds engine `index` of graph g with its default knobs into *e. Returns 0 where it does not
 * build, or does not suit the precision: compiled at run time (seconds each), non-deterministic
 * (unless DCGAN_CUDA_NONDETERMINISTIC), inputs down-converted, or tensor cores (TF32) in strict fp32. */
static int engine_build(CudaCtx *c, cudnnBackendDescriptor_t g, int64_t index, Engine *e) {
    memset(e, 0, sizeof *e);
    e->index = index;
    e->eng = bk_make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    bk_set(e->eng, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
    bk_set(e->eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &index);
    if (cudnnBackendFinalize(e->eng) != CUDNN_STATUS_SUCCESS) { engine_free(e); return 0; }
    const int notes = cg_engine_notes(e->eng);
    if ((notes & (CG_RUNTIME_COMPILED | CG_DOWN_CONVERT)) || ((notes & CG_NONDETERMINISTIC) && !c->nondet) ||
        ((notes & CG_TENSOR_CORE) && c->prec == PREC_FP32)) {
        engine_free(e);
        return 0;
    }
    e->cfg = bk_make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    bk_set(e->cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &e->eng);
    if (cudnnBackendFinalize(e->cfg) != CUDNN_STATUS_SUCCESS) { engine_free(e); return 0; }
    e->plan = bk_make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    bk_set(e->plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->dnn);
    bk_set(e->plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &e->cfg);
    if (cudnnBackendFinalize(e->plan) != CUDNN_STATUS_SUCCESS) { engine_free(e); return 0; }
    int64_t ws = 0, n = 0;
    if (cudnnBackendGetAttribute(e->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws) !=
            CUDNN_STATUS_SUCCESS || ws < 0 || (size_t)ws > WS_LIMIT) {
        engine_free(e);
        return 0;
    }
    e->ws = (size_t)ws;
    return 1;
}

/* Runs a graph-API plan on x, w, y (by the graph's uids) with the backend's workspace */
static cudnnStatus_t graph_run(CudaCtx *c, cudnnBackendDescriptor_t plan, const void *x, const void *w, const void *y) {
    const int64_t uids[3] = {CG_UID_X, CG_UID_W, CG_UID_Y};
    void *ptrs[3] = {(void *)x, (void *)w, (void *)y}, *ws = c->ws;
    cudnnBackendDescriptor_t vp = bk_make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    bk_set(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
    bk_set(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs);
    bk_set(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    CUDNN(cudnnBackendFinalize(vp));
    const cudnnStatus_t st = cudnnBackendExecute(c->dnn, plan, vp);
    cudnnBackendDestroyDescriptor(vp);
    return st;
}

/* Runs op o of plan p with the legacy API (the math type already set on its descriptor) */
static cudnnStatus_t legacy_run(CudaCtx *c, const ConvPlan *p, ConvOp o, Layout l, int algo, size_t ws, const void *x,
                                const void *w, const void *y, float beta) {
    const float one = 1.0f;
    if (o == OP_FWD)
        return cudnnConvolutionForward(c->dnn, &one, p->xd[l], x, WD(p, l), w, p->cd[o], (cudnnConvolutionFwdAlgo_t)algo,
                                       c->ws, ws, &beta, p->yd[l], (void *)y);
    if (o == OP_BWD_DATA)
        return cudnnConvolutionBackwardData(c->dnn, &one, WD(p, l), w, p->yd[l], y, p->cd[o],
                                            (cudnnConvolutionBwdDataAlgo_t)algo, c->ws, ws, &beta, p->xd[l], (void *)x);
    return cudnnConvolutionBackwardFilter(c->dnn, &one, p->xd[l], x, p->yd[l], y, p->cd[o],
                                          (cudnnConvolutionBwdFilterAlgo_t)algo, c->ws, ws, &beta, WD(p, l), (void *)w);
}

/* A candidate of choose() on scratch operands: a legacy algorithm, or a graph-API plan */
typedef struct {
    CudaCtx *c;
    const ConvPlan *p;
    ConvOp o;
    Layout l;
    int algo;
    size_t ws;
    cudnnBackendDescriptor_t plan;
    void *x, *w, *y;
    cudaEvent_t e0, e1;
} Trial;

static cudnnStatus_t trial_run(const Trial *t) {
    return t->plan ? graph_run(t->c, t->plan, t->x, t->w, t->y)
                   : legacy_run(t->c, t->p, t->o, t->l, t->algo, t->ws, t->x, t->w, t->y, 0.0f);
}

/* Seconds per call: one call first (it loads the kernels), then one timed; if that is over twice
 * `beat` (the best so far, 0: none) that is the answer, else the mean of 3 more. -1 if it fails. */
static double trial_time(const Trial *t, double beat) {
    CudaCtx *c = t->c;
    grow(c, &c->ws, &c->ws_bytes, t->ws ? t->ws : 1);
    float ms = 0.0f;
    if (trial_run(t) != CUDNN_STATUS_SUCCESS) { CU(cudaStreamSynchronize(c->stream)); return -1.0; }
    CU(cudaEventRecord(t->e0, c->stream));
    const cudnnStatus_t st = trial_run(t);
    CU(cudaEventRecord(t->e1, c->stream));
    CU(cudaEventSynchronize(t->e1));
    if (st != CUDNN_STATUS_SUCCESS) return -1.0;
    CU(cudaEventElapsedTime(&ms, t->e0, t->e1));
    if (beat > 0 && ms * 1e-3 > 2 * beat) return ms * 1e-3;
    CU(cudaEventRecord(t->e0, c->stream));
    for (int i = 0; i < 3; i++)
        if (trial_run(t) != CUDNN_STATUS_SUCCESS) { CU(cudaStreamSynchronize(c->stream)); return -1.0; }
    CU(cudaEventRecord(t->e1, c->stream));
    CU(cudaEventSynchronize(t->e1));
    CU(cudaEventElapsedTime(&ms, t->e0, t->e1));
    return ms * 1e-3 / 3;
}

static const char *OP_NAMES[3] = {"forward", "backward-data", "backward-filter"};
static const char *LAY_NAMES[4] = {"CNHW", "NCHW", "NHWC", "NHWC-pad8"};

/* Makes `best` op o's choice: its math type on the descriptor, the workspace, the profile label,
 * and the verbose line (lay_t: the best time in each layout, -1 where none; NULL for a pinned one) */
static void settle(CudaCtx *c, ConvPlan *p, ConvOp o, const OpChoice *best, double best_t, const double *lay_t) {
    CUDNN(cudnnSetConvolutionMathType(p->cd[o], best->math));
    grow(c, &c->ws, &c->ws_bytes, best->ws ? best->ws : 1);
    p->op[o] = *best;
    c->prof_skip = 1;
    static const char *ops[3] = {"forward", "bwd-data", "bwd-filter"};
    snprintf(p->label[o], sizeof p->label[o], "cudnn %s %d->%d ch %dx%d k%d s%d b%d %s%s", ops[o], p->Cx, p->Cy, p->Hx,
             p->Wx, p->K, p->S, p->B, LAY_NAMES[best->layout], best->plan ? " graph" : "");
    if (!c->verbose) return;
    char others[160] = "", how[48];
    for (int l = 0, k = 0; lay_t && l < LAY_COUNT; l++)
        if (lay_t[l] >= 0 && l != (int)best->layout)
            k += snprintf(others + k, sizeof others - k, " %s %.3f", LAY_NAMES[l], lay_t[l] * 1e3);
    if (best->plan) snprintf(how, sizeof how, "graph engine %lld", (long long)best->engine);
    else snprintf(how, sizeof how, "algo %d math %d", best->algo, (int)best->math);
    if (lay_t)
        fprintf(stderr, "cuda: %s %d->%d ch %dx%d->%dx%d k%d s%d p%d b%d: %s %s ws %zu, %.3f ms (others:%s)\n", OP_NAMES[o],
                p->Cx, p->Cy, p->Hx, p->Wx, p->Hy, p->Wy, p->K, p->S, p->P, p->B, LAY_NAMES[best->layout], how, best->ws,
                best_t * 1e3, others);
    else
        fprintf(stderr, "cuda: %s %d->%d ch %dx%d->%dx%d k%d s%d p%d b%d: %s %s ws %zu (from %s)\n", OP_NAMES[o], p->Cx,
                p->Cy, p->Hx, p->Wx, p->Hy, p->Wy, p->K, p->S, p->P, p->B, LAY_NAMES[best->layout], how, best->ws,
                c->pin_src ? c->pin_src : "a file");
}

/* DCGAN_CUDA_ALGOS=FILE (src/backends/algo_pins.h): per (shape, precision, op) the choice; one
 * found there is taken instead of timing (so that two runs use the same algorithms, and give the
 * same bits), a new one is appended. Key: B Cx Hx Wx Cy Hy Wy K S P precision op; values: layout,
 * algorithm, math type, workspace, graph-API engine (-1: none). */
static void pin_key(const CudaCtx *c, const ConvPlan *p, ConvOp o, long key[PIN_KEYS]) {
    const long k[PIN_KEYS] = {p->B, p->Cx, p->Hx, p->Wx, p->Cy, p->Hy, p->Wy, p->K, p->S, p->P, (long)c->prec, (long)o};
    memcpy(key, k, sizeof k);
}

/* The choice for op o of plan p from the file at path, taken (settled): 1; none there: 0. A file
 * that is not dcgan's, or names what this cuDNN cannot build, ends the run with one line where the
 * user gave it (DCGAN_CUDA_ALGOS, or the run folder's) and starts the cache again where it is the
 * cache (cache_reset). */
static int pinned_from(CudaCtx *c, ConvPlan *p, ConvOp o, const char *path, int is_cache) {
    long key[PIN_KEYS], v[PIN_VALUES];
    int bad_line = 0;
    char why[96];
    pin_key(c, p, o, key);
    const int r = pins_find(path, key, v, &bad_line);
    if (r < 0) {
        if (!is_cache)
            die("DCGAN_CUDA_ALGOS: %s line %d is not a line of dcgan's convolution choices; delete the file to choose again",
                path, bad_line);
        snprintf(why, sizeof why, "has a damaged line (%d)", bad_line);
        cache_reset(c, why);
        return 0;
    }
    if (r == 0) return 0;
    /* what the line names must be something choose() could have taken (a damaged file can hold any
     * numbers): a layout, a math type, a workspace within WS_LIMIT, and a legacy algorithm of the
     * direction or a graph-API engine */
    static const long algos[3] = {CUDNN_CONVOLUTION_FWD_ALGO_COUNT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT};
    if (v[0] < 0 || v[0] >= LAY_COUNT || v[2] < CUDNN_DEFAULT_MATH || v[2] > CUDNN_FMA_MATH || v[3] < 0 ||
        (unsigned long)v[3] > WS_LIMIT || v[4] < -1 || (v[4] < 0 && (v[1] < 0 || v[1] >= algos[o]))) {
        if (!is_cache)
            die("DCGAN_CUDA_ALGOS: %s names layout %ld, algorithm %ld, math %ld or workspace %ld, which dcgan cannot "
                "use; delete the file to choose again", path, v[0], v[1], v[2], v[3]);
        cache_reset(c, "names a layout, algorithm, math type or workspace that dcgan cannot use");
        return 0;
    }
    OpChoice ch = {1, (Layout)v[0], (int)v[1], (cudnnMathType_t)v[2], (size_t)v[3], v[4], NULL};
    if (ch.engine >= 0) {
        Engine e;
        cudnnBackendDescriptor_t g = ch.layout != LAY_CNHW ? graph_of(c, p, o, ch.layout) : NULL;
        if (!g || !engine_build(c, g, ch.engine, &e)) {
            if (!is_cache)
                die("DCGAN_CUDA_ALGOS: %s names cuDNN engine %lld for a %d->%d channel convolution, which this cuDNN or "
                    "precision cannot build; delete the file to choose again", path, (long long)ch.engine, p->Cx, p->Cy);
            if (g) cg_free(&g);
            snprintf(why, sizeof why, "names cuDNN engine %lld, which cannot be built here", (long long)ch.engine);
            cache_reset(c, why);
            return 0;
        }
        ch.plan = e.plan;
        p->keep[o][0] = g;
        p->keep[o][1] = e.eng;
        p->keep[o][2] = e.cfg;
        ch.ws = e.ws;
    }
    c->pin_src = path;
    settle(c, p, o, &ch, 0.0, NULL);
    c->pin_src = NULL;
    return 1;
}

/* Adds op o's choice to the file at path: 0, or -1 (errno) */
static int pin_to(const CudaCtx *c, const ConvPlan *p, ConvOp o, const char *path) {
    const OpChoice *ch = &p->op[o];
    long key[PIN_KEYS];
    const long v[PIN_VALUES] = {(long)ch->layout, ch->algo, (long)ch->math, (long)ch->ws, (long)ch->engine};
    pin_key(c, p, o, key);
    return pins_append(path, key, v);
}
static void pin_or_die(const CudaCtx *c, const ConvPlan *p, ConvOp o) {
    if (c->algos_path && pin_to(c, p, o, c->algos_path) != 0)
        die("DCGAN_CUDA_ALGOS: cannot append to %s: %s", c->algos_path, strerror(errno));
}

/* A choice from DCGAN_CUDA_ALGOS's file or the run folder's, else from the cache (then added to the
 * former); 0 where neither has it */
static int pinned(CudaCtx *c, ConvPlan *p, ConvOp o) {
    if (c->algos_path && pinned_from(c, p, o, c->algos_path, 0)) return 1;
    if (c->cache_path && pinned_from(c, p, o, c->cache_path, 1)) {
        pin_or_die(c, p, o);
        return 1;
    }
    return 0;
}

/* A timed choice, added to both files */
static void pin(CudaCtx *c, const ConvPlan *p, ConvOp o) {
    pin_or_die(c, p, o);
    if (c->cache_path && pin_to(c, p, o, c->cache_path) != 0) {
        char why[96];
        snprintf(why, sizeof why, "cannot be written (%s)", strerror(errno));
        cache_off(c, why);
    }
}

/* Whether a candidate (a graph-API engine or not, tt seconds with copies) beats the best so far;
 * with graph_first (DCGAN_CUDA_ENGINES=graph), a graph engine beats any legacy algorithm */
static int better(const OpChoice *best, double best_t, int graph_first, int is_graph, double tt) {
    const int best_graph = best->plan != NULL;
    if (!best->chosen) return 1;
    if (graph_first && is_graph != best_graph) return is_graph;
    return tt < best_t;
}

/* The time a candidate must stay under to be worth timing fully (0: any) */
static double to_beat(const OpChoice *best, double best_t, int graph_first, int is_graph, double copies) {
    if (!best->chosen || (graph_first && is_graph != (best->plan != NULL))) return 0.0;
    return best_t - copies > 0 ? best_t - copies : 0.0;
}

/* Times cuDNN's algorithms for op o of plan p in each layout -- the legacy API's (Find ranks them,
 * the best of each layout is timed again here) and the graph API's engines -- and keeps the fastest
 * deterministic one (counting the copies a layout needs at 2 TB/s). Runs once per (shape, op), eagerly. */
static void choose(CudaCtx *c, ConvPlan *p, ConvOp o) {
    if (pinned(c, p, o)) return;
    side_join(c); /* the timings run with the GPU to themselves */
    OpChoice best = {0, LAY_CNHW, 0, CUDNN_DEFAULT_MATH, 0, -1, NULL};
    cudnnBackendDescriptor_t best_keep[3] = {NULL, NULL, NULL};
    double best_t = 1e30, lay_t[LAY_COUNT]; /* the best time (with copies) in each layout, for the verbose line */
    for (int l = 0; l < LAY_COUNT; l++) lay_t[l] = -1.0;
    const cudnnMathType_t want = c->prec == PREC_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    const double flops = 2.0 * p->B * p->Cy * p->Hy * p->Wy * p->Cx * p->K * p->K;
    const int use_graph = c->engines == ENGINES_GRAPH || (c->engines == ENGINES_AUTO && flops >= GRAPH_MIN_FLOPS);
    /* scratch operands for the timings, large enough for every layout, not zeros */
    const size_t eb = elem_bytes(c), KK = (size_t)p->K * p->K;
    const size_t xb = (size_t)pad8(p->Cx) * p->B * p->Hx * p->Wx * eb, yb = (size_t)pad8(p->Cy) * p->B * p->Hy * p->Wy * eb,
                 wb = (size_t)pad8(p->Cy) * pad8(p->Cx) * KK * eb;
    Trial t;
    memset(&t, 0, sizeof t);
    t.c = c; t.p = p; t.o = o;
    CU(cudaMalloc(&t.x, xb));
    CU(cudaMalloc(&t.w, wb));
    CU(cudaMalloc(&t.y, yb));
    CU(cudaMemsetAsync(t.x, 0x3c, xb, c->stream));
    CU(cudaMemsetAsync(t.w, 0x3c, wb, c->stream));
    CU(cudaMemsetAsync(t.y, 0x3c, yb, c->stream));
    CU(cudaEventCreate(&t.e0));
    CU(cudaEventCreate(&t.e1));
    const int graph_first = c->engines == ENGINES_GRAPH;
    for (int pass = 0; pass < 2 && !best.chosen; pass++)
    for (int l = 0; l < LAY_COUNT; l++) {
        if (!layout_offered(c, p, (Layout)l)) continue;
        /* DCGAN_CUDA_LAYOUT (tests): first only the forced layout; all of them if it has no algorithm */
        if (pass == 0 && c->force_layout >= 0 && l != c->force_layout) continue;
        if (pass == 1 && c->force_layout < 0) break;
        t.l = (Layout)l;
        const double copies = copy_cost(c, p, (Layout)l);
        /* the legacy API: Find ranks its algorithms; its best here is timed like the engines */
        CUDNN(cudnnSetConvolutionMathType(p->cd[o], want));
        const int N = 16;
        int got = 0;
        cudnnStatus_t st;
        float times[N];
        int algos[N];
        cudnnMathType_t maths[N];
        size_t mems[N];
        int det[N];
        cudnnStatus_t sts[N];
        if (o == OP_FWD) {
            cudnnConvolutionFwdAlgoPerf_t r[N];
            st = cudnnFindConvolutionForwardAlgorithm(c->dnn, p->xd[l], WD(p, l), p->cd[o], p->yd[l], N, &got, r);
            for (int i = 0; i < got; i++) { times[i] = r[i].time; algos[i] = r[i].algo; maths[i] = r[i].mathType; mems[i] = r[i].memory; det[i] = r[i].determinism == CUDNN_DETERMINISTIC; sts[i] = r[i].status; }
        } else if (o == OP_BWD_DATA) {
            cudnnConvolutionBwdDataAlgoPerf_t r[N];
            st = cudnnFindConvolutionBackwardDataAlgorithm(c->dnn, WD(p, l), p->yd[l], p->cd[o], p->xd[l], N, &got, r);
            for (int i = 0; i < got; i++) { times[i] = r[i].time; algos[i] = r[i].algo; maths[i] = r[i].mathType; mems[i] = r[i].memory; det[i] = r[i].determinism == CUDNN_DETERMINISTIC; sts[i] = r[i].status; }
        } else {
            cudnnConvolutionBwdFilterAlgoPerf_t r[N];
            st = cudnnFindConvolutionBackwardFilterAlgorithm(c->dnn, p->xd[l], p->yd[l], p->cd[o], WD(p, l), N, &got, r);
            for (int i = 0; i < got; i++) { times[i] = r[i].time; algos[i] = r[i].algo; maths[i] = r[i].mathType; mems[i] = r[i].memory; det[i] = r[i].determinism == CUDNN_DETERMINISTIC; sts[i] = r[i].status; }
        }
        int pick = -1;
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < got; i++) {
            if (sts[i] != CUDNN_STATUS_SUCCESS || (!det[i] && !c->nondet) || mems[i] > WS_LIMIT || times[i] < 0) continue;
            if (c->prec == PREC_FP32 && (maths[i] == CUDNN_TENSOR_OP_MATH || maths[i] == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
                continue; /* strict fp32: no tensor cores, no TF32 */
            if (pick < 0 || times[i] < times[pick]) pick = i;
        }
        if (pick >= 0) {
            /* strict fp32 runs with FMA math, which rules out TF32 even where cuDNN's default would allow it */
            const cudnnMathType_t m = c->prec == PREC_FP32 ? CUDNN_FMA_MATH : maths[pick];
            CUDNN(cudnnSetConvolutionMathType(p->cd[o], m));
            t.algo = algos[pick]; t.ws = mems[pick]; t.plan = NULL;
            const double s = trial_time(&t, to_beat(&best, best_t, graph_first, 0, copies));
            if (s >= 0) {
                const double tt = s + copies;
                if (lay_t[l] < 0 || tt < lay_t[l]) lay_t[l] = tt;
                if (better(&best, best_t, graph_first, 0, tt)) {
                    for (int k = 0; k < 3; k++) cg_free(&best_keep[k]);
                    cg_free(&best.plan);
                    best = (OpChoice){1, (Layout)l, algos[pick], m, mems[pick], -1, NULL};
                    best_t = tt;
                }
            }
        }
        /* the graph API's engines, in the copied layouts */
        if (!use_graph || l == LAY_CNHW) continue;
        cudnnBackendDescriptor_t g = graph_of(c, p, o, (Layout)l);
        if (!g) continue;
        /* in NCHW a graph plan reads a copy of the weights (and a weight gradient is added from one),
         * where the legacy API takes them in place */
        double wcopy = 0.0;
        if (!lay_nhwc((Layout)l) && c->prec != PREC_BF16)
            wcopy = (o == OP_BWD_FILTER ? 3.0 : 2.0) * p->Cy * p->Cx * KK * 4.0 / 2e12 + 3e-6;
        int64_t count = 0, n = 0;
        if (cudnnBackendGetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &n, &count) !=
            CUDNN_STATUS_SUCCESS)
            count = 0;
        int took = 0;
        for (int64_t i = 0; i < count && i < MAX_ENGINES; i++) {
            Engine e;
            if (!engine_build(c, g, i, &e)) continue;
            t.plan = e.plan; t.ws = e.ws;
            const double s = trial_time(&t, to_beat(&best, best_t, graph_first, 1, copies + wcopy));
            const double tt = s + copies + wcopy;
            if (s >= 0 && (lay_t[l] < 0 || tt < lay_t[l])) lay_t[l] = tt;
            if (s >= 0 && better(&best, best_t, graph_first, 1, tt)) {
                for (int k = 0; k < 3; k++) cg_free(&best_keep[k]); /* the previous winner's, an earlier graph too */
                cg_free(&best.plan);
                best = (OpChoice){1, (Layout)l, 0, want, e.ws, i, e.plan};
                best_keep[1] = e.eng;
                best_keep[2] = e.cfg;
                best_t = tt;
                took = 1;
                e.plan = e.eng = e.cfg = NULL; /* now the best's */
            }
            engine_free(&e);
        }
        t.plan = NULL;
        if (took && best.plan && best.layout == (Layout)l) best_keep[0] = g; /* the winner's graph stays */
        else cg_free(&g);
    }
    CU(cudaStreamSynchronize(c->stream));
    cudaFree(t.x);
    cudaFree(t.w);
    cudaFree(t.y);
    cudaEventDestroy(t.e0);
    cudaEventDestroy(t.e1);
    if (!best.chosen)
        die("cuDNN offers no deterministic algorithm for a convolution (%d->%d channels, %dx%d->%dx%d, k%d s%d p%d, batch %d)%s",
            p->Cx, p->Cy, p->Hx, p->Wx, p->Hy, p->Wy, p->K, p->S, p->P, p->B,
            c->prec == PREC_FP32 ? " in strict fp32; try --precision tf32" : "");
    for (int k = 0; k < 3; k++) p->keep[o][k] = best_keep[k];
    settle(c, p, o, &best, best_t, lay_t);
    pin(c, p, o);
}

/* An activation operand for cuDNN: the CNHW fp32 tensor itself, or a copy in the chosen layout and
 * precision in the role's scratch. */
static const void *prep_act_in(CudaCtx *c, void **slot, size_t *slot_bytes, const float *src, Layout lay, int C, int B,
                               int R) {
    if (lay == LAY_CNHW && c->prec != PREC_BF16) return src;
    const int Cs = lay_channels(lay, C);
    const size_t n = (size_t)C * B * R;
    void *dst = grow(c, slot, slot_bytes, (size_t)Cs * B * R * elem_bytes(c));
    if (lay_nhwc(lay) && B <= 65535) {
        const dim3 g((R + 31) / 32, (Cs + 31) / 32, B), t(32, 8);
        if (c->prec == PREC_BF16) LAUNCH(k_pack_nhwc<__nv_bfloat16>, g, t, 0, c->stream)((__nv_bfloat16 *)dst, src, C, Cs, B, R);
        else LAUNCH(k_pack_nhwc<float>, g, t, 0, c->stream)((float *)dst, src, C, Cs, B, R);
    } else if (c->prec == PREC_BF16)
        LAUNCH(k_pack<__nv_bfloat16>, grid_for(n, 256, c->nsm), 256, 0, c->stream)((__nv_bfloat16 *)dst, src, lay, C, B, R);
    else
        LAUNCH(k_pack<float>, grid_for(n, 256, c->nsm), 256, 0, c->stream)((float *)dst, src, lay, C, B, R);
    KCHECK();
    return dst;
}
static const void *prep_act(CudaCtx *c, int role, const float *src, Layout lay, int C, int B, int R) {
    return prep_act_in(c, &c->slot[role], &c->slot_bytes[role], src, lay, C, B, R);
}

/* The buffer of a new kept copy (WPack, APack) of `bytes`: made outside recordings while the copies
 * of its kind (*total bytes so far) stay within cap; NULL where none may be made, and the operand
 * goes to a scratch slot as before */
static void *kept_alloc(CudaCtx *c, size_t *total, size_t cap, size_t bytes) {
    if (c->no_keep || c->capturing || *total + bytes > cap) return NULL;
    void *p = NULL;
    CU(cudaMalloc(&p, bytes));
    *total += bytes;
    return p;
}

static APack *apack_find(CudaCtx *c, const float *x, Layout lay, int C, int B, int R) {
    for (int i = 0; i < c->napack; i++) {
        APack *e = &c->apack[i];
        if (e->x == x && e->lay == (int)lay && e->C == C && e->B == B && e->R == R) return e;
    }
    return NULL;
}

/* The kept copy for activation x in layout lay, made (not yet valid) outside recordings while there
 * is room; NULL if none. A backward-filter that finds none asks for one, so that copies are kept
 * only of the inputs a backward reads again (not of an inference pass's, say), from the next
 * forward on. */
static APack *apack_make(CudaCtx *c, const float *x, Layout lay, int C, int B, int R) {
    APack *e = apack_find(c, x, lay, C, B, R);
    if (e || c->napack == MAX_APACKS) return e;
    const size_t bytes = (size_t)lay_channels(lay, C) * B * R * elem_bytes(c);
    void *buf = kept_alloc(c, &c->apack_bytes, APACK_BYTES, bytes);
    if (!buf) return NULL;
    e = &c->apack[c->napack++];
    *e = (APack){x, (int)lay, C, B, R, buf, bytes, 0, -1};
    return e;
}

/* A forward's input activation x in layout lay: packed into its kept copy where a backward-filter
 * asked for one (see APack), else into the role's slot like any operand */
static const void *prep_act_keep(CudaCtx *c, int role, const float *x, Layout lay, int C, int B, int R) {
    if (lay == LAY_CNHW && c->prec != PREC_BF16) return x;
    APack *e = apack_find(c, x, lay, C, B, R);
    if (!e) return prep_act(c, role, x, lay, C, B, R);
    if (e->side_epoch == c->join_epoch && c->side_pending) side_join(c); /* the side may still read it */
    const void *xs = prep_act_in(c, &e->buf, &e->bytes, x, lay, C, B, R);
    e->valid = 1;
    return xs;
}

/* Where cuDNN writes an activation output, and the copy back (dst = beta dst + result) after. */
static void *out_act(CudaCtx *c, int role, float *dst, Layout lay, int C, int B, int R) {
    if (lay == LAY_CNHW && c->prec != PREC_BF16) return dst;
    return grow(c, &c->slot[role], &c->slot_bytes[role], (size_t)lay_channels(lay, C) * B * R * elem_bytes(c));
}
static void finish_act(CudaCtx *c, int role, float *dst, Layout lay, int C, int B, int R) {
    if (lay == LAY_CNHW && c->prec != PREC_BF16) return;
    const size_t n = (size_t)C * B * R;
    if (lay_nhwc(lay) && B <= 65535) {
        const int Cs = lay_channels(lay, C);
        const dim3 g((R + 31) / 32, (C + 31) / 32, B), t(32, 8);
        if (c->prec == PREC_BF16) LAUNCH(k_unpack_nhwc<__nv_bfloat16>, g, t, 0, c->stream)(dst, (const __nv_bfloat16 *)c->slot[role], C, Cs, B, R);
        else LAUNCH(k_unpack_nhwc<float>, g, t, 0, c->stream)(dst, (const float *)c->slot[role], C, Cs, B, R);
    } else if (c->prec == PREC_BF16)
        LAUNCH(k_unpack<__nv_bfloat16>, grid_for(n, 256, c->nsm), 256, 0, c->stream)(dst, (const __nv_bfloat16 *)c->slot[role], lay, C, B, R, 0.0f);
    else
        LAUNCH(k_unpack<float>, grid_for(n, 256, c->nsm), 256, 0, c->stream)(dst, (const float *)c->slot[role], lay, C, B, R, 0.0f);
    KCHECK();
}

/* The filter operand: w itself, or a copy in KRSC order (NHWC) and / or bf16, or (copy: for a
 * graph-API plan, which counts on 16-byte aligned operands) a plain copy. */
static const void *prep_w(CudaCtx *c, const ConvPlan *p, const float *w, Layout lay, int copy) {
    const int nhwc = lay_nhwc(lay);
    if (!nhwc && c->prec != PREC_BF16 && !copy) return w;
    const int KK = p->K * p->K, Cys = lay_channels(lay, p->Cy), Cxs = lay_channels(lay, p->Cx);
    const size_t n = (size_t)Cys * Cxs * KK;
    /* the kept copy (a new one where kept_alloc allows), else the role's slot */
    WPack *e = NULL;
    for (int i = 0; i < c->nwpack && !e; i++) {
        WPack *q = &c->wpack[i];
        if (q->w == w && q->Cy == p->Cy && q->Cx == p->Cx && q->KK == KK && q->nhwc == nhwc && q->Cys == Cys && q->Cxs == Cxs)
            e = q;
    }
    void *buf = !e && c->nwpack < MAX_WPACKS ? kept_alloc(c, &c->wpack_bytes, WPACK_BYTES, n * elem_bytes(c)) : NULL;
    if (buf) {
        e = &c->wpack[c->nwpack++];
        *e = (WPack){w, p->Cy, p->Cx, KK, nhwc, Cys, Cxs, buf, 0};
    }
    if (e && e->valid) return e->buf;
    void *dst = e ? e->buf : grow(c, &c->slot[ROLE_W], &c->slot_bytes[ROLE_W], n * elem_bytes(c));
    if (c->prec == PREC_BF16)
        LAUNCH(k_pack_w<__nv_bfloat16>, grid_for(n, 256, c->nsm), 256, 0, c->stream)((__nv_bfloat16 *)dst, w, nhwc, p->Cy, p->Cx, KK, Cys, Cxs);
    else
        LAUNCH(k_pack_w<float>, grid_for(n, 256, c->nsm), 256, 0, c->stream)((float *)dst, w, nhwc, p->Cy, p->Cx, KK, Cys, Cxs);
    KCHECK();
    if (e) e->valid = 1;
    return dst;
}

/* ---- full-size convolutions: the kernel covers the whole input, no padding, a 1x1 output (D's last
 * layer of `dcgan`, and as the adjoint G's first, 1x1 -> 4x4). That is a matrix product over the
 * (Cx*K*K) values of each image, which cuDNN runs as a poorly shaped convolution (0.07-0.15 ms on
 * an H100 where the product takes microseconds). Here: x's (B, Cx*K*K) view by one transpose into
 * scratch, then one cuBLAS product (row-major shapes; cuBLAS sees them column-major). ---- */
static int full_size(const CudaCtx *c, const ConvPlan *p) {
    return !c->cudnn_only && p->Hy == 1 && p->Wy == 1 && p->P == 0 && p->K == p->Hx && p->K == p->Wx;
}

/* With few outputs (D's last layer: Cy = 1) even cuBLAS's product is slow (~30-45 us a call on an
 * H100): these kernels read x in its CNHW layout directly, in a fixed order, like the narrow linear
 * kernels above. */
#define FULL_NARROW BF16_NARROW_OUTPUTS

/* y (Cy, B) = sum over (cx, r) of w (Cy, Cx, R) * x (Cx, B, R); one block per (cy, b) */
__global__ void k_full_narrow_fwd(float *y, const float *x, const float *w, int B, int Cx, int R) {
    PDL_ENTRY();
    __shared__ float sh[32];
    const int b = blockIdx.x % B, o = blockIdx.x / B, Ni = Cx * R;
    const float *wr = w + (size_t)o * Ni;
    float s = 0.0f;
    for (int i = threadIdx.x; i < Ni; i += blockDim.x) s += wr[i] * x[((size_t)(i / R) * B + b) * R + i % R];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) y[(size_t)o * B + b] = s;
}

/* dx (Cx, B, R) = sum over cy of w (Cy, Cx, R) * dy (Cy, B) */
__global__ void k_full_narrow_dx(float *dx, const float *dy, const float *w, int B, int Cx, int R, int Cy) {
    PDL_ENTRY();
    const size_t n = (size_t)Cx * B * R;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        const size_t r = j % R, t = j / R, b = t % B, cx = t / B;
        float s = 0.0f;
        for (int o = 0; o < Cy; o++) s += w[((size_t)o * Cx + cx) * R + r] * dy[(size_t)o * B + b];
        dx[j] = s;
    }
}

/* dw (Cy, Cx, R) += sum over b of dy (Cy, B) * x (Cx, B, R); one thread per weight, batch in order */
__global__ void k_full_narrow_dw(float *dw, const float *x, const float *dy, int B, int Cx, int R, int Cy) {
    PDL_ENTRY();
    const size_t n = (size_t)Cy * Cx * R;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        const size_t r = j % R, t = j / R, cx = t % Cx, o = t / Cx;
        const float *xr = x + cx * (size_t)B * R + r, *g = dy + o * (size_t)B;
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += g[b] * xr[(size_t)b * R];
        dw[j] += s;
    }
}

/* xt (B, Cx*K*K) = x (Cx, B, K*K) with its first two axes swapped */
static float *full_view(CudaCtx *c, const ConvPlan *p, const float *x) {
    const int R = p->Hx * p->Wx;
    const size_t n = (size_t)p->B * p->Cx * R;
    float *xt = (float *)grow(c, &c->slot[ROLE_T], &c->slot_bytes[ROLE_T], n * sizeof(float));
    LAUNCH(k_transpose01, grid_for(n, 256, c->nsm), 256, 0, c->stream)(xt, x, p->Cx, p->B, R);
    KCHECK();
    return xt;
}

/* y (Cy, B) = W (Cy, Ni) . xt^T, Ni = Cx*K*K: as column-major y is (B x Cy) = xt (B x Ni) . W^T */
static void full_fwd(CudaCtx *c, const ConvPlan *p, float *y, const float *x, const float *w) {
    const int Ni = p->Cx * p->Hx * p->Wx;
    if (p->Cy <= FULL_NARROW) {
        prof_mark(c, 2);
        LAUNCH(k_full_narrow_fwd, (unsigned)((size_t)p->Cy * p->B), NARROW_THREADS, 0, c->stream)(y, x, w, p->B, p->Cx,
                                                                                                  p->Hx * p->Wx);
        KCHECK();
        prof_add(c, 2, "narrow full-size conv forward");
        return;
    }
    const float *xt = full_view(c, p, x);
    prof_mark(c, 2);
    gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, p->B, p->Cy, Ni, xt, Ni, (size_t)p->B * Ni, w, Ni, (size_t)p->Cy * Ni, 0.0f, y);
    prof_add(c, 2, "cublas full-size conv forward");
}

/* x (Cx, B, K*K) = the transpose of xt (B, Ni) = dy^T (B, Cy) . W (Cy, Ni); as column-major xt is
 * (Ni x B) = W^T (Ni x Cy) . dy (Cy x B, stored as B x Cy) */
static void full_bwd_data(CudaCtx *c, const ConvPlan *p, float *x, const float *dy, const float *w) {
    const int R = p->Hx * p->Wx, Ni = p->Cx * R;
    const size_t n = (size_t)p->B * Ni;
    if (p->Cy <= FULL_NARROW) {
        prof_mark(c, 2);
        LAUNCH(k_full_narrow_dx, grid_for(n, 256, c->nsm), 256, 0, c->stream)(x, dy, w, p->B, p->Cx, R, p->Cy);
        KCHECK();
        prof_add(c, 2, "narrow full-size conv bwd-data");
        return;
    }
    float *xt = (float *)grow(c, &c->slot[ROLE_T], &c->slot_bytes[ROLE_T], n * sizeof(float));
    prof_mark(c, 2);
    gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, Ni, p->B, p->Cy, w, Ni, (size_t)p->Cy * Ni, dy, p->B, (size_t)p->Cy * p->B, 0.0f, xt);
    prof_add(c, 2, "cublas full-size conv bwd-data");
    LAUNCH(k_transpose01, grid_for(n, 256, c->nsm), 256, 0, c->stream)(x, xt, p->B, p->Cx, R);
    KCHECK();
}

/* dW (Cy, Ni) += dy (Cy, B) . xt (B, Ni); as column-major dW is (Ni x Cy) += xt^T (Ni x B) . dy^T (B x Cy) */
static void full_bwd_filter(CudaCtx *c, const ConvPlan *p, float *dw, const float *x, const float *dy) {
    const int Ni = p->Cx * p->Hx * p->Wx;
    if (p->Cy <= FULL_NARROW) {
        prof_mark(c, 2);
        LAUNCH(k_full_narrow_dw, grid_for((size_t)p->Cy * Ni, 256, c->nsm), 256, 0, c->stream)(dw, x, dy, p->B, p->Cx,
                                                                                           p->Hx * p->Wx, p->Cy);
        KCHECK();
        prof_add(c, 2, "narrow full-size conv bwd-filter");
        return;
    }
    const float *xt = full_view(c, p, x);
    prof_mark(c, 2);
    gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, Ni, p->Cy, p->B, xt, Ni, (size_t)p->B * Ni, dy, p->B, (size_t)p->Cy * p->B, 1.0f, dw);
    prof_add(c, 2, "cublas full-size conv bwd-filter");
}

/* A convolution's activation operand t (C, B, R) in layout l: packed (already in l: the
 * backward-filter's copy), its view, its kept copy (keep, see APack), or a copy in the role's slot */
static const void *act_operand(CudaCtx *c, int role, const float *t, Layout l, int C, int B, int R, const void *packed,
                               int keep) {
    if (packed) return packed;
    View *v = view_layout(c, l, B) ? view_valid(c, t, C, B, R) : NULL;
    if (v) return v->buf;
    lz_read(c, t, (size_t)C * B * R * sizeof(float));
    return keep ? prep_act_keep(c, role, t, l, C, B, R) : prep_act(c, role, t, l, C, B, R);
}
/* Where a convolution writes its activation result t (C, B, R) in layout l: t's view (*v), or
 * out_act's place (*v NULL); act_result_done after cuDNN's call marks the view or copies back */
static void *act_result(CudaCtx *c, int role, float *t, Layout l, int C, int B, int R, View **v) {
    *v = view_layout(c, l, B) ? view_for_write(c, t, C, B, R) : NULL;
    if (*v) return (*v)->buf;
    lz_write(c, t, (size_t)C * B * R * sizeof(float));
    return out_act(c, role, t, l, C, B, R);
}
static void act_result_done(CudaCtx *c, int role, float *t, Layout l, int C, int B, int R, View *v) {
    if (v) view_wrote(v);
    else finish_act(c, role, t, l, C, B, R);
}

/* The two data directions of plan p: OP_FWD y = conv(x, w), OP_BWD_DATA x = conv^T(y, w) (the
 * gradient of conv with respect to its input). in: the operand read (x, or y), out: the one
 * written. in_packed: in already in the chosen layout (conv_bwd_filter's copy; NULL: pack it here);
 * keep: in is a layer's input activation (a transposed convolution's is its y), whose copy its
 * backward-filter takes, see APack. */
static void conv_data(CudaCtx *c, ConvPlan *p, ConvOp o, float *out, const float *in, const float *w,
                      const void *in_packed, int keep) {
    const int fwd = o == OP_FWD, B = p->B;
    const int Ci = fwd ? p->Cx : p->Cy, Ri = fwd ? p->Hx * p->Wx : p->Hy * p->Wy, ri = fwd ? ROLE_X : ROLE_Y;
    const int Co = fwd ? p->Cy : p->Cx, Ro = fwd ? p->Hy * p->Wy : p->Hx * p->Wx, ro = fwd ? ROLE_Y : ROLE_X;
    if (full_size(c, p)) {
        lz_read(c, in, (size_t)Ci * B * Ri * sizeof(float));
        lz_write(c, out, (size_t)Co * B * Ro * sizeof(float));
        if (fwd) full_fwd(c, p, out, in, w);
        else full_bwd_data(c, p, out, in, w);
        return;
    }
    if (!p->op[o].chosen) choose(c, p, o);
    const OpChoice *ch = &p->op[o];
    const Layout l = ch->layout;
    const void *is = act_operand(c, ri, in, l, Ci, B, Ri, in_packed, keep);
    const void *ws = prep_w(c, p, w, l, ch->plan != NULL);
    View *v;
    const void *os = act_result(c, ro, out, l, Co, B, Ro, &v);
    const void *xs = fwd ? is : os, *ys = fwd ? os : is;
    prof_mark(c, 2);
    if (ch->plan) CUDNN(graph_run(c, ch->plan, xs, ws, ys));
    else CUDNN(legacy_run(c, p, o, l, ch->algo, ch->ws, xs, ws, ys, 0.0f));
    prof_add(c, 2, p->label[o]);
    act_result_done(c, ro, out, l, Co, B, Ro, v);
}

/* dw += correlation of x with dy. Returns in *xs_out / *ys_out x and dy as cuDNN read them (in
 * scratch slots, or the tensors themselves), for a next op in the same layout (NULL pointers: not
 * needed; for full-size convolutions both come back NULL).
 *
 * Where x and dy are copies anyway (a copied layout, or bf16), the copies are made on the main
 * stream into one of two sets of side slots, and cuDNN's weight gradient (and its accumulation into
 * dw) runs on the side stream, while the main stream goes on with the input gradient and the
 * layers before: on a GPU that small convolutions leave half idle, the two overlap. The main stream
 * leaves a set alone until the side's work on it is done (it waits before copying into it again,
 * two weight gradients later), and ops that touch the gradients wait for all of it (side_join). */
static void conv_bwd_filter(CudaCtx *c, ConvPlan *p, float *dw, const float *x, const float *dy, int act_role,
                            const void **xs_out, const void **ys_out) {
    if (xs_out) *xs_out = NULL;
    if (ys_out) *ys_out = NULL;
    const size_t xb = (size_t)p->Cx * p->B * p->Hx * p->Wx * sizeof(float), yb = (size_t)p->Cy * p->B * p->Hy * p->Wy * sizeof(float);
    if (full_size(c, p)) {
        lz_read(c, x, xb);
        lz_read(c, dy, yb);
        full_bwd_filter(c, p, dw, x, dy);
        return;
    }
    if (!p->op[OP_BWD_FILTER].chosen) choose(c, p, OP_BWD_FILTER);
    const OpChoice *ch = &p->op[OP_BWD_FILTER];
    const Layout l = ch->layout;
    const int lazy = view_layout(c, l, p->B);
    View *vx = lazy ? view_valid(c, x, p->Cx, p->B, p->Hx * p->Wx) : NULL;
    View *vd = lazy ? view_valid(c, dy, p->Cy, p->B, p->Hy * p->Wy) : NULL;
    if (!vx) lz_read(c, x, xb);
    if (!vd) lz_read(c, dy, yb);
    const int side = c->side && (l != LAY_CNHW || c->prec == PREC_BF16);
    void **sl = c->slot, **tmp_slot = &c->slot[ROLE_W];
    size_t *sb = c->slot_bytes, *tmp_bytes = &c->slot_bytes[ROLE_W];
    int set = 0;
    if (side) { /* the next set of side slots, once the side is done with it */
        /* both sets as large as the largest use of either: which set an op gets may differ between
         * the iteration that sizes the scratch and the one recorded */
        const size_t need[3] = {/* ROLE_X, ROLE_Y, ROLE_W */ (size_t)lay_channels(l, p->Cx) * p->B * p->Hx * p->Wx * elem_bytes(c),
                                (size_t)lay_channels(l, p->Cy) * p->B * p->Hy * p->Wy * elem_bytes(c),
                                (size_t)lay_channels(l, p->Cy) * lay_channels(l, p->Cx) * p->K * p->K * elem_bytes(c)};
        for (int k = 0; k < 2; k++)
            for (int r = 0; r < 3; r++) grow(c, &c->side_slot[k][r], &c->side_slot_bytes[k][r], need[r]);
        set = c->side_next;
        c->side_next ^= 1;
        if (c->side_busy[set]) CU(cudaStreamWaitEvent(c->stream, c->side_done[set], 0));
        c->side_busy[set] = 0;
        sl = c->side_slot[set];
        sb = c->side_slot_bytes[set];
        tmp_slot = &c->side_slot[set][ROLE_W];
        tmp_bytes = &c->side_slot_bytes[set][ROLE_W];
    }
    /* the layer's input activation (x, or for a transposed convolution dy): its forward's copy */
    APack *kept = NULL;
    if (act_role == ROLE_X && !vx) kept = apack_make(c, x, l, p->Cx, p->B, p->Hx * p->Wx);
    if (act_role == ROLE_Y && !vd) kept = apack_make(c, dy, l, p->Cy, p->B, p->Hy * p->Wy);
    if (kept && !kept->valid) kept = NULL;
    if (kept && side) kept->side_epoch = c->join_epoch; /* not packed over until the side is done */
    if (vx && side) vx->side_epoch = c->join_epoch;     /* nor a view written over */
    if (vd && side) vd->side_epoch = c->join_epoch;
    const void *xs = vx ? vx->buf : kept && act_role == ROLE_X ? kept->buf : prep_act_in(c, &sl[ROLE_X], &sb[ROLE_X], x, l, p->Cx, p->B, p->Hx * p->Wx);
    const void *ys = vd ? vd->buf : kept && act_role == ROLE_Y ? kept->buf : prep_act_in(c, &sl[ROLE_Y], &sb[ROLE_Y], dy, l, p->Cy, p->B, p->Hy * p->Wy);
    if (xs_out) *xs_out = xs;
    if (ys_out) *ys_out = ys;
    const int KK = p->K * p->K, nhwc = lay_nhwc(l);
    const size_t wn = (size_t)lay_channels(l, p->Cy) * lay_channels(l, p->Cx) * KK;
    const int in_place = c->prec != PREC_BF16 && !nhwc && !ch->plan; /* cuDNN accumulates into dw itself */
    void *tmp = in_place ? NULL : grow(c, tmp_slot, tmp_bytes, wn * elem_bytes(c));
    cudaStream_t st = c->stream;
    void *main_ws = c->ws;
    if (side) { /* fork: the side starts once the copies are made */
        grow(c, &c->side_ws, &c->side_ws_bytes, ch->ws ? ch->ws : 1);
        CU(cudaEventRecord(c->side_fork, c->stream));
        CU(cudaStreamWaitEvent(c->side, c->side_fork, 0));
        CUDNN(cudnnSetStream(c->dnn, c->side));
        c->ws = c->side_ws;
        st = c->side;
    }
    prof_mark(c, 2);
    if (in_place) CUDNN(legacy_run(c, p, OP_BWD_FILTER, l, ch->algo, ch->ws, xs, dw, ys, 1.0f));
    else if (ch->plan) CUDNN(graph_run(c, ch->plan, xs, tmp, ys));
    else CUDNN(legacy_run(c, p, OP_BWD_FILTER, l, ch->algo, ch->ws, xs, tmp, ys, 0.0f));
    prof_add(c, 2, p->label[OP_BWD_FILTER]);
    if (!in_place) {
        const size_t an = (size_t)p->Cy * p->Cx * KK;
        const int Cxs = lay_channels(l, p->Cx);
        const dim3 tg((p->Cx + 31) / 32, (KK + 31) / 32, p->Cy), tb(32, 8);
        if (nhwc && c->prec == PREC_BF16)
            LAUNCH(k_acc_w_krsc<__nv_bfloat16>, tg, tb, 0, st)(dw, (const __nv_bfloat16 *)tmp, p->Cx, KK, Cxs);
        else if (nhwc)
            LAUNCH(k_acc_w_krsc<float>, tg, tb, 0, st)(dw, (const float *)tmp, p->Cx, KK, Cxs);
        else if (c->prec == PREC_BF16)
            LAUNCH(k_acc_w<__nv_bfloat16>, grid_for(an, 256, c->nsm), 256, 0, st)(dw, (const __nv_bfloat16 *)tmp, an);
        else
            LAUNCH(k_acc_w<float>, grid_for(an, 256, c->nsm), 256, 0, st)(dw, (const float *)tmp, an);
        KCHECK();
    }
    if (side) { /* back to the main stream; the set stays busy until the main stream waits for it */
        c->ws = main_ws;
        CUDNN(cudnnSetStream(c->dnn, c->stream));
        CU(cudaEventRecord(c->side_done[set], c->side));
        c->side_busy[set] = 1;
        c->side_pending = 1;
    }
}

static void add_bias_channels(CudaCtx *c, float *out, const float *bias, int C, size_t N) {
    View *v = view_valid_n(c, out, C, (size_t)C * N);
    if (v && view_for_write(c, out, C, v->B, v->R) == v) { /* in its view, where it is */
        LAUNCH(k_bias_channels_nhwc, grid_for((size_t)C * N, 256, c->nsm), 256, 0, c->stream)(v->buf, bias, C, N);
        KCHECK();
        view_wrote(v);
        return;
    }
    lz_read(c, out, (size_t)C * N * sizeof(float));
    lz_write(c, out, (size_t)C * N * sizeof(float));
    dim3 g(grid_for(N, 256, c->nsm) / 4 + 1, C);
    LAUNCH(k_bias_channels, g, 256, 0, c->stream)(out, bias, N);
    KCHECK();
}
/* the chunks of a channel sum over N values: about `each` values a chunk (4096 for CNHW rows, 512 for
 * views, whose blocks take 32 channels at once), at most BN_MAX_PARTS, and C * P partial sums within
 * batch norm's scratch (bn_part, which the sum borrows: at least 32 chunks a channel for C <= 65535) */
static int rowsum_parts(int C, size_t N, size_t each) {
    size_t p = (N + each - 1) / each, room = (size_t)BN_MAX_C * BN_MAX_PARTS * 2 / (size_t)C;
    if (p > BN_MAX_PARTS) p = BN_MAX_PARTS;
    if (p > room) p = room;
    return p < 1 ? 1 : (int)p;
}
/* batch norm's chunks on a view (see k_bn_part_stats_nhwc) */
static int bn_parts_nhwc(int n) { return rowsum_parts(1, (size_t)n, 512); }
static void sum_channels(CudaCtx *c, float *dbias, const float *x, int C, size_t N) {
    DCGAN_CHECK(C <= 65535, "cuda: a convolution bias of %d channels (at most 65535)", C); /* grid.y */
    const View *v = view_valid_n(c, x, C, (size_t)C * N);
    const int P = rowsum_parts(C, N, v ? 512 : 4096);
    if (v) {
        LAUNCH(k_rowsum_part_nhwc, dim3(P, (C + 31) / 32), 256, 0, c->stream)(c->bn_part, v->buf, C, N, P);
    } else {
        lz_read(c, x, (size_t)C * N * sizeof(float));
        LAUNCH(k_rowsum_part, dim3(P, C), 256, 0, c->stream)(c->bn_part, x, N, P);
    }
    KCHECK();
    LAUNCH(k_rowsum_combine, (C + 127) / 128, 128, 0, c->stream)(dbias, c->bn_part, C, P);
    KCHECK();
}

/* Whether ops a and b of plan p (both chosen here if they were not) read their activations in the
 * same layout, so that the second can take the copy the first made. The copies sit in the roles'
 * slots until the next convolution op, and the caller uses them within one backend call, where
 * nothing writes the tensor in between. */
static int same_layout(CudaCtx *c, ConvPlan *p, ConvOp a, ConvOp b) {
    if (c->no_reuse || full_size(c, p)) return 0;
    if (!p->op[a].chosen) choose(c, p, a);
    if (!p->op[b].chosen) choose(c, p, b);
    return p->op[a].layout == p->op[b].layout;
}

static void cu_conv2d_forward(Backend *be, float *out, const float *in, const float *w, const float *bias,
                              const ConvShape *s) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    ConvPlan *p = plan_get(c, s->B, s->Ci, s->Hi, s->Wi, s->Co, s->Ho, s->Wo, s->K, s->S, s->P);
    conv_data(c, p, OP_FWD, out, in, w, NULL, 1);
    if (bias) add_bias_channels(c, out, bias, s->Co, (size_t)s->B * s->Ho * s->Wo);
    PROF_END(c, "conv forward (all)");
}

static void cu_conv2d_backward(Backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in,
                               const float *w, const ConvShape *s) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    ConvPlan *p = plan_get(c, s->B, s->Ci, s->Hi, s->Wi, s->Co, s->Ho, s->Wo, s->K, s->S, s->P);
    if (dbias) sum_channels(c, dbias, dout, s->Co, (size_t)s->B * s->Ho * s->Wo);
    const void *dout_packed = NULL; /* dout as bwd-filter copied it, when bwd-data wants it so */
    if (dw) conv_bwd_filter(c, p, dw, in, dout, ROLE_X, NULL, din && same_layout(c, p, OP_BWD_FILTER, OP_BWD_DATA) ? &dout_packed : NULL);
    if (din) conv_data(c, p, OP_BWD_DATA, din, dout, w, dout_packed, 0);
    PROF_END(c, "conv backward (all)");
}

/* conv_transpose2d from (Ci, Hi) to (Co, Ho) is the adjoint of a conv from (Co, Ho) to (Ci, Hi)
 * with the same (Ci, Co, K, K) weight */
static void cu_convt_forward(Backend *be, float *out, const float *in, const float *w, const float *bias,
                             const ConvShape *s) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    ConvPlan *p = plan_get(c, s->B, s->Co, s->Ho, s->Wo, s->Ci, s->Hi, s->Wi, s->K, s->S, s->P);
    conv_data(c, p, OP_BWD_DATA, out, in, w, NULL, 1);
    if (bias) add_bias_channels(c, out, bias, s->Co, (size_t)s->B * s->Ho * s->Wo);
    PROF_END(c, "convT forward (all)");
}

static void cu_convt_backward(Backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in,
                              const float *w, const ConvShape *s) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    ConvPlan *p = plan_get(c, s->B, s->Co, s->Ho, s->Wo, s->Ci, s->Hi, s->Wi, s->K, s->S, s->P);
    if (dbias) sum_channels(c, dbias, dout, s->Co, (size_t)s->B * s->Ho * s->Wo);
    const void *dout_packed = NULL; /* dout (the plan's x) as bwd-filter copied it */
    if (dw) conv_bwd_filter(c, p, dw, dout, in, ROLE_Y, din && same_layout(c, p, OP_BWD_FILTER, OP_FWD) ? &dout_packed : NULL, NULL);
    if (din) conv_data(c, p, OP_FWD, din, dout, w, dout_packed, 0);
    PROF_END(c, "convT backward (all)");
}

/* ------------------------------------------------------------------------------------------------
 * activations */

/* elementwise, so on a view's NHWC values as well as on CNHW ones (all operands the same way) */
static void cu_act_forward(Backend *be, float *out, const float *in, size_t n, Act act) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    View *vi = view_valid_n(c, in, 0, n);
    View *vo = vi ? view_for_write(c, out, vi->C, vi->B, vi->R) : NULL;
    if (vo) {
        if (act != ACT_NONE) LAUNCH(k_act_fwd, grid_for(n, 256, c->nsm), 256, 0, c->stream)(vo->buf, vi->buf, n, act);
        else if (vo != vi) CU(cudaMemcpyAsync(vo->buf, vi->buf, n * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
        KCHECK();
        view_wrote(vo);
    } else if (act == ACT_NONE) {
        cu_copy(be, out, in, n);
    } else {
        lz_read(c, in, n * sizeof(float));
        lz_write(c, out, n * sizeof(float));
        LAUNCH(k_act_fwd, grid_for(n, 256, c->nsm), 256, 0, c->stream)(out, in, n, act);
        KCHECK();
    }
    PROF_END(c, "activation forward");
}

static void cu_act_backward(Backend *be, float *din, const float *dout, const float *out, size_t n, Act act) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    View *vd = view_valid_n(c, dout, 0, n), *vo = vd ? view_valid_n(c, out, vd->C, n) : NULL;
    View *vr = vo && vo->B == vd->B ? view_for_write(c, din, vd->C, vd->B, vd->R) : NULL;
    if (vr) {
        LAUNCH(k_act_bwd, grid_for(n, 256, c->nsm), 256, 0, c->stream)(vr->buf, vd->buf, vo->buf, n, act);
        KCHECK();
        view_wrote(vr);
    } else {
        lz_read(c, dout, n * sizeof(float));
        lz_read(c, out, n * sizeof(float));
        lz_write(c, din, n * sizeof(float));
        LAUNCH(k_act_bwd, grid_for(n, 256, c->nsm), 256, 0, c->stream)(din, dout, out, n, act);
        KCHECK();
    }
    PROF_END(c, "activation backward");
}

/* ------------------------------------------------------------------------------------------------
 * batch norm: a row of N values per channel (per channel and group, see ops.h) is cut into P
 * chunks; a block reduces each chunk in double (its mean and M2, or its backward sums), then the
 * chunks are combined in order (bn_combine: the weighted mean, then M2) by every block that applies the
 * row's statistics or writes its dx, and by one block per channel for the running statistics and
 * dgamma/dbeta. The pre-activation z = x * scale + shift is rounded as on the CPU. */

__device__ __forceinline__ float bn_preact(float x, float scale, float shift) { return __fadd_rn(__fmul_rn(x, scale), shift); }

static int bn_parts(int C, int N) {
    int p = (N + 4095) / 4096;
    if (p > BN_MAX_PARTS) p = BN_MAX_PARTS;
    if (p < 1) p = 1;
    (void)C;
    return p;
}

/* part[c][p] = (mean, M2) of chunk p of row c; grid (P, C) */
__global__ void k_bn_part_stats(double *part, const float *x, int N, int P) {
    PDL_ENTRY();
    __shared__ double sh[32];
    const int c = blockIdx.y, p = blockIdx.x;
    const int chunk = (N + P - 1) / P, lo = p * chunk, hi = min(N, lo + chunk);
    const float *row = x + (size_t)c * N;
    double s = 0.0;
    for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) s += row[i];
    s = block_sum(s, sh);
    __shared__ double mean_sh;
    if (threadIdx.x == 0) mean_sh = hi > lo ? s / (hi - lo) : 0.0;
    __syncthreads();
    const double mu = mean_sh;
    double ss = 0.0;
    for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) { const double d = row[i] - mu; ss += d * d; }
    ss = block_sum(ss, sh);
    if (threadIdx.x == 0) {
        part[((size_t)c * P + p) * 2] = mu;
        part[((size_t)c * P + p) * 2 + 1] = ss;
    }
}

/* Row c's mean and sum of squared deviations (M2) from its P chunks' (mean, M2): the mean of the
 * chunk means weighted by their lengths, then M2 = sum of (M2_b + n_b (mean_b - mean)^2), in order,
 * in double. No division in the loops: one thread does this for a row before its block can go on,
 * and Chan's pairwise update, used before, divides twice per chunk, a dependent chain estimated at
 * ~200 cycles a chunk, ~14 us for a view's 128 chunks (the H200's trace had the view apply kernel
 * at 13.5 us a call at dcgan64/64, the CNHW one, at 1-16 chunks, at 7.6). */
__device__ void bn_combine(const double *part, int c, int N, int P, double *mean, double *m2) {
    const int chunk = (N + P - 1) / P;
    const double *pc = part + (size_t)c * P * 2;
    double s = 0.0;
    for (int p = 0; p < P; p++) {
        const int lo = p * chunk, hi = min(N, lo + chunk);
        if (hi > lo) s += (double)(hi - lo) * pc[2 * p];
    }
    const double mu = N > 0 ? s / N : 0.0;
    double M2 = 0.0;
    for (int p = 0; p < P; p++) {
        const int lo = p * chunk, hi = min(N, lo + chunk);
        if (hi <= lo) continue;
        const double d = pc[2 * p] - mu;
        M2 += pc[2 * p + 1] + (double)(hi - lo) * d * d;
    }
    *mean = mu;
    *m2 = M2;
}

__device__ __forceinline__ void split_d(double v, float *hi, float *lo) {
    *hi = (float)v;
    *lo = (float)(v - (double)*hi);
}

/* this rank's statistics of each channel as hi/lo pairs (stats (4C)); one thread per channel */
__global__ void k_bn_local_stats(const double *part, float *stats, int C, int N, int P) {
    PDL_ENTRY();
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double mu, ss;
    bn_combine(part, c, N, P, &mu, &ss);
    split_d(mu, stats + c, stats + C + c);
    split_d(ss, stats + 2 * C + c, stats + 3 * C + c);
}

/* out = act(x * scale + shift) per row r = c * G + g of N values; grid (., C * G) */
__global__ void k_bn_apply(float *out, const float *in, const float *mean, const float *rstd, const float *gamma,
                           const float *beta, int G, int N, int act) {
    PDL_ENTRY();
    const int r = blockIdx.y, c = r / G;
    const float scale = __fmul_rn(gamma[c], rstd[r]), shift = __fsub_rn(beta[c], __fmul_rn(mean[r], scale));
    const float *x = in + (size_t)r * N;
    float *y = out + (size_t)r * N;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x)
        y[i] = act_apply(bn_preact(x[i], scale, shift), act);
}

/* part[row][p] = (sum dz, sum dz * xhat) over chunk p of row = c * G + g; grid (P, C * G) */
__global__ void k_bn_part_grad(double *part, const float *x, const float *dy, const float *mean, const float *rstd,
                               const float *gamma, const float *beta, int G, int N, int P, int act) {
    PDL_ENTRY();
    __shared__ double sh[32];
    const int row = blockIdx.y, c = row / G, p = blockIdx.x;
    const int chunk = (N + P - 1) / P, lo = p * chunk, hi = min(N, lo + chunk);
    const float m = mean[row], r = rstd[row], scale = __fmul_rn(gamma[c], r), shift = __fsub_rn(beta[c], __fmul_rn(m, scale));
    const float *xr = x + (size_t)row * N, *dr = dy + (size_t)row * N;
    double s1 = 0.0, s2 = 0.0;
    for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        const float xv = xr[i];
        const float dz = __fmul_rn(dr[i], act_grad_from_input(bn_preact(xv, scale, shift), act));
        s1 += dz;
        s2 += (double)__fmul_rn(dz, __fmul_rn(__fsub_rn(xv, m), r));
    }
    s1 = block_sum(s1, sh);
    s2 = block_sum(s2, sh);
    if (threadIdx.x == 0) {
        part[((size_t)row * P + p) * 2] = s1;
        part[((size_t)row * P + p) * 2 + 1] = s2;
    }
}

/* The synchronized form's backward, one thread per channel. mode 1: this rank's sums as hi/lo into
 * sums (4C); mode 2: dgamma/dbeta from local (4C), k (2C) the means from global (4C) / n_global */
__global__ void k_bn_finish_grad(const double *part, float *dgamma, float *dbeta, float *k, float *sums,
                                 const float *local, const float *global, double n_global, int C, int P, int mode) {
    PDL_ENTRY();
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    if (mode == 2) {
        if (dgamma) dgamma[c] += (float)((double)local[2 * C + c] + (double)local[3 * C + c]);
        if (dbeta) dbeta[c] += (float)((double)local[c] + (double)local[C + c]);
        k[c] = (float)(((double)global[c] + (double)global[C + c]) / n_global);
        k[C + c] = (float)(((double)global[2 * C + c] + (double)global[3 * C + c]) / n_global);
        return;
    }
    double s1 = 0.0, s2 = 0.0;
    for (int p = 0; p < P; p++) {
        s1 += part[((size_t)c * P + p) * 2];
        s2 += part[((size_t)c * P + p) * 2 + 1];
    }
    split_d(s1, sums + c, sums + C + c);
    split_d(s2, sums + 2 * C + c, sums + 3 * C + c);
}

/* one value of dx = scale * (dz - k1 - xhat * k2) */
__device__ __forceinline__ float bn_dx_one(float xv, float dyv, float m, float r, float scale, float shift, float k1,
                                           float k2, int act) {
    const float dz = __fmul_rn(dyv, act_grad_from_input(bn_preact(xv, scale, shift), act));
    const float xhat = __fmul_rn(__fsub_rn(xv, m), r);
    return __fmul_rn(scale, __fsub_rn(__fsub_rn(dz, k1), __fmul_rn(xhat, k2)));
}

/* dx = scale * (dz - k1 - xhat * k2) over one row of N values, this block's share (grid-stride); o
 * may alias dr */
__device__ void bn_dx_row(float *o, const float *xr, const float *dr, float m, float r, float gamma, float beta,
                          float k1, float k2, int N, int act) {
    const float scale = __fmul_rn(gamma, r), shift = __fsub_rn(beta, __fmul_rn(m, scale));
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x)
        o[i] = bn_dx_one(xr[i], dr[i], m, r, scale, shift, k1, k2, act);
}

/* the synchronized form's dx per channel (k (2, C) the means); grid (., C); dx may alias dy */
__global__ void k_bn_dx(float *dx, const float *x, const float *dy, const float *mean, const float *rstd,
                        const float *gamma, const float *beta, const float *k, int C, int N, int act) {
    PDL_ENTRY();
    const int c = blockIdx.y;
    bn_dx_row(dx + (size_t)c * N, x + (size_t)c * N, dy + (size_t)c * N, mean[c], rstd[c], gamma[c], beta[c], k[c],
              k[C + c], N, act);
}

/* The scale and shift of row (c, g) from the partials (batch_stats 1) or the running statistics;
 * book: the caller also keeps channel c's books (mean and rstd (C, G), the running statistics),
 * group by group in order. One thread. */
__device__ void bn_row_scale(int c, int g, int G, int book, const double *part, float *mean, float *rstd, float *rmean,
                             float *rvar, const float *gamma, const float *beta, int N, int P, float momentum, float eps,
                             int batch_stats, float *scale, float *shift) {
    float m = 0.0f, rs = 0.0f;
    for (int gg = book ? 0 : g; gg < (book ? G : g + 1); gg++) {
        const int row = c * G + gg;
        float mg, rg;
        if (batch_stats) {
            double mu, ss;
            bn_combine(part, row, N, P, &mu, &ss);
            const double var = ss / N;
            mg = (float)mu;
            rg = (float)(1.0 / sqrt(var + (double)eps));
            if (book && rmean && rvar) {
                const double unbiased = N > 1 ? ss / (N - 1) : var;
                rmean[c] = (float)((1.0 - (double)momentum) * rmean[c] + (double)momentum * mu);
                rvar[c] = (float)((1.0 - (double)momentum) * rvar[c] + (double)momentum * unbiased);
            }
        } else {
            mg = rmean[c];
            rg = (float)(1.0 / sqrt((double)rvar[c] + (double)eps));
        }
        if (book) {
            mean[row] = mg;
            rstd[row] = rg;
        }
        if (gg == g) { m = mg; rs = rg; }
    }
    *scale = __fmul_rn(gamma[c], rs);
    *shift = __fsub_rn(beta[c], __fmul_rn(m, *scale));
}

/* The forward of a batch-norm op in one kernel after the partials: each block of row r = c * G + g
 * combines the row's chunk partials itself (bn_combine, as k_bn_local_stats does) and
 * applies the row's scale and shift; the first block of a channel's first row also writes the
 * channel's mean and rstd (C, G) and moves its running statistics, group by group in order.
 * batch_stats 0: the running statistics instead of the partials. grid (., C * G) */
__global__ void k_bn_stats_apply(float *out, const float *in, const double *part, float *mean, float *rstd, float *rmean,
                                 float *rvar, const float *gamma, const float *beta, int G, int N, int P, float momentum,
                                 float eps, int batch_stats, int act) {
    PDL_ENTRY();
    const int r = blockIdx.y, c = r / G;
    __shared__ float s_scale, s_shift;
    if (threadIdx.x == 0) /* the first block of a channel's first row keeps the channel's books */
        bn_row_scale(c, r % G, G, blockIdx.x == 0 && r % G == 0, part, mean, rstd, rmean, rvar, gamma, beta, N, P,
                     momentum, eps, batch_stats, &s_scale, &s_shift);
    __syncthreads();
    const float scale = s_scale, shift = s_shift;
    const float *x = in + (size_t)r * N;
    float *y = out + (size_t)r * N;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x)
        y[i] = act_apply(bn_preact(x[i], scale, shift), act);
}

/* The means k1, k2 of row (c, g)'s backward sums from the partials; book: the caller also adds
 * channel c's dgamma and dbeta, group by group in order. One thread. */
__device__ void bn_row_grad(int c, int g, int G, int book, const double *part, float *dgamma, float *dbeta, int N, int P,
                            float *k1, float *k2) {
    for (int gg = book ? 0 : g; gg < (book ? G : g + 1); gg++) {
        const int rr = c * G + gg;
        double s1 = 0.0, s2 = 0.0;
        for (int p = 0; p < P; p++) {
            s1 += part[((size_t)rr * P + p) * 2];
            s2 += part[((size_t)rr * P + p) * 2 + 1];
        }
        if (book && dgamma) dgamma[c] += (float)s2;
        if (book && dbeta) dbeta[c] += (float)s1;
        if (gg == g) {
            *k1 = (float)(s1 / N);
            *k2 = (float)(s2 / N);
        }
    }
}

/* The backward of a batch-norm op in one kernel after the partials: each block of row r = c * G + g
 * sums the row's chunk partials itself (in order, as k_bn_finish_grad does) into the means
 * k1, k2 and writes dx over its part of the row; the first block of a channel's first row also adds
 * the channel's dgamma and dbeta, group by group in order. dx may alias dy. grid (., C * G) */
__global__ void k_bn_grad_dx(float *dx, const float *x, const float *dy, const double *part, const float *mean,
                             const float *rstd, const float *gamma, const float *beta, float *dgamma, float *dbeta, int G,
                             int N, int P, int act) {
    PDL_ENTRY();
    const int row = blockIdx.y, c = row / G;
    __shared__ float s_k1, s_k2;
    if (threadIdx.x == 0)
        bn_row_grad(c, row % G, G, blockIdx.x == 0 && row % G == 0, part, dgamma, dbeta, N, P, &s_k1, &s_k2);
    __syncthreads();
    bn_dx_row(dx + (size_t)row * N, x + (size_t)row * N, dy + (size_t)row * N, mean[row], rstd[row], gamma[c], beta[c],
              s_k1, s_k2, N, act);
}

/* ---- the same four kernels on a view (NHWC: element (c, pixel i of group g) at ((g n + i) C + c)).
 * The partial kernels read a pixel's channels together: in a 256-thread block each lane is one of
 * 32 channels and warp w takes the chunk's pixels lo + w, lo + w + 8, ... in order, so that a warp
 * reads one 128-byte line at a time; the 8 warps' sums are then added in warp order. Their chunks
 * are shorter than the CNHW kernels' (bn_parts_nhwc: ~512 pixels, for blocks enough to fill the
 * GPU), and the sums come in another order, so a view's statistics may part from the CNHW
 * kernels' in the last bit (the sums are in double; DCGAN_CUDA_LAZY=1 only). The apply and dx
 * kernels take a tile of BN_AT channels, whose scale and shift (or k1, k2) the first BN_AT
 * threads work out as the CNHW kernels' first thread does. */
#define BN_AT 64

/* grid (P, ceil(C / 32), G), 256 threads */
__global__ void k_bn_part_stats_nhwc(double *part, const float *x, int C, int G, int n, int P) {
    PDL_ENTRY();
    __shared__ double sh[8][32], mean_sh[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int p = blockIdx.x, c = blockIdx.y * 32 + lane, g = blockIdx.z;
    const int chunk = (n + P - 1) / P, lo = p * chunk, hi = min(n, lo + chunk);
    const float *base = x + (size_t)g * n * C + c;
    for (int pass = 0; pass < 2; pass++) { /* the chunk's sums, then its squares about the mean */
        double s = 0.0;
        if (c < C)
            for (int i = lo + w; i < hi; i += 8) {
                const double d = pass ? base[(size_t)i * C] - mean_sh[lane] : (double)base[(size_t)i * C];
                s += pass ? d * d : d;
            }
        const double t = warps_sum(s, sh);
        if (w == 0) {
            if (!pass) mean_sh[lane] = hi > lo ? t / (hi - lo) : 0.0;
            else if (c < C) {
                const size_t row = (size_t)c * G + g;
                part[(row * P + p) * 2] = mean_sh[lane];
                part[(row * P + p) * 2 + 1] = t;
            }
        }
        __syncthreads(); /* mean_sh, for the second pass */
    }
}

/* grid (P, ceil(C / 32), G), 256 threads */
__global__ void k_bn_part_grad_nhwc(double *part, const float *x, const float *dy, const float *mean, const float *rstd,
                                    const float *gamma, const float *beta, int C, int G, int n, int P, int act) {
    PDL_ENTRY();
    __shared__ double sh[8][32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int p = blockIdx.x, c = blockIdx.y * 32 + lane, g = blockIdx.z;
    const int chunk = (n + P - 1) / P, lo = p * chunk, hi = min(n, lo + chunk);
    double s1 = 0.0, s2 = 0.0;
    if (c < C) {
        const int row = c * G + g;
        const float m = mean[row], r = rstd[row], scale = __fmul_rn(gamma[c], r), shift = __fsub_rn(beta[c], __fmul_rn(m, scale));
        const size_t off = (size_t)g * n * C + c;
        for (int i = lo + w; i < hi; i += 8) {
            const float xv = x[off + (size_t)i * C];
            const float dz = __fmul_rn(dy[off + (size_t)i * C], act_grad_from_input(bn_preact(xv, scale, shift), act));
            s1 += dz;
            s2 += (double)__fmul_rn(dz, __fmul_rn(__fsub_rn(xv, m), r));
        }
    }
    const double t1 = warps_sum(s1, sh), t2 = warps_sum(s2, sh);
    if (w == 0 && c < C) {
        const size_t row = (size_t)c * G + g;
        part[(row * P + p) * 2] = t1;
        part[(row * P + p) * 2 + 1] = t2;
    }
}

/* k_bn_stats_apply on a view; grid (., ceil(C / BN_AT), G), the books kept by the blocks with
 * blockIdx.x 0 of group 0 */
__global__ void k_bn_stats_apply_nhwc(float *out, const float *in, const double *part, float *mean, float *rstd,
                                      float *rmean, float *rvar, const float *gamma, const float *beta, int C, int G,
                                      int n, int P, float momentum, float eps, int batch_stats, int act) {
    PDL_ENTRY();
    __shared__ float s_scale[BN_AT], s_shift[BN_AT];
    const int c0 = blockIdx.y * BN_AT, g = blockIdx.z, nc = min(BN_AT, C - c0);
    if (threadIdx.x < nc)
        bn_row_scale(c0 + threadIdx.x, g, G, blockIdx.x == 0 && g == 0, part, mean, rstd, rmean, rvar, gamma, beta, n, P,
                     momentum, eps, batch_stats, &s_scale[threadIdx.x], &s_shift[threadIdx.x]);
    __syncthreads();
    /* thread t: channel c0 + t % nc of pixels t / nc, + ppb, ...; the last 256 % nc threads idle */
    const int k = threadIdx.x % nc, ppb = blockDim.x / nc;
    if ((int)threadIdx.x >= ppb * nc) return;
    const float sc = s_scale[k], sf = s_shift[k];
    const float *xi = in + (size_t)g * n * C + c0 + k;
    float *yo = out + (size_t)g * n * C + c0 + k;
    for (int i = blockIdx.x * ppb + threadIdx.x / nc; i < n; i += gridDim.x * ppb)
        yo[(size_t)i * C] = act_apply(bn_preact(xi[(size_t)i * C], sc, sf), act);
}

/* k_bn_grad_dx on views; grid (., ceil(C / BN_AT), G); dx may alias dy */
__global__ void k_bn_grad_dx_nhwc(float *dx, const float *x, const float *dy, const double *part, const float *mean,
                                  const float *rstd, const float *gamma, const float *beta, float *dgamma, float *dbeta,
                                  int C, int G, int n, int P, int act) {
    PDL_ENTRY();
    __shared__ float s_k1[BN_AT], s_k2[BN_AT];
    const int c0 = blockIdx.y * BN_AT, g = blockIdx.z, nc = min(BN_AT, C - c0);
    if (threadIdx.x < nc)
        bn_row_grad(c0 + threadIdx.x, g, G, blockIdx.x == 0 && g == 0, part, dgamma, dbeta, n, P, &s_k1[threadIdx.x],
                    &s_k2[threadIdx.x]);
    __syncthreads();
    const int k = threadIdx.x % nc, ppb = blockDim.x / nc; /* as in k_bn_stats_apply_nhwc */
    if ((int)threadIdx.x >= ppb * nc) return;
    const int c = c0 + k, row = c * G + g;
    const float m = mean[row], r = rstd[row], scale = __fmul_rn(gamma[c], r), shift = __fsub_rn(beta[c], __fmul_rn(m, scale));
    const float k1 = s_k1[k], k2 = s_k2[k];
    const size_t off = (size_t)g * n * C + c;
    for (int i = blockIdx.x * ppb + threadIdx.x / nc; i < n; i += gridDim.x * ppb) {
        const size_t at = off + (size_t)i * C;
        dx[at] = bn_dx_one(x[at], dy[at], m, r, scale, shift, k1, k2, act);
    }
}

/* the grid of the apply / dx kernels on a view: about 1024 values a block, at most ~8 blocks per SM */
static dim3 view_grid(CudaCtx *c, int C, int G, int n) {
    const int tiles = (C + BN_AT - 1) / BN_AT, nc = C < BN_AT ? C : BN_AT;
    unsigned gx = (unsigned)(((size_t)n * nc + 1023) / 1024);
    const unsigned cap = (unsigned)(c->nsm * 8 / (tiles * G) + 1);
    if (gx > cap) gx = cap;
    if (gx < 1) gx = 1;
    return dim3(gx, tiles, G);
}

static dim3 row_grid(CudaCtx *c, int C, int N) {
    unsigned gx = (unsigned)((N + 1023) / 1024);
    const unsigned cap = (unsigned)(c->nsm * 8 / (C > 0 ? C : 1) + 1);
    if (gx > cap) gx = cap;
    if (gx < 1) gx = 1;
    return dim3(gx, C);
}

static void bn_check(int C) { DCGAN_CHECK(C <= BN_MAX_C, "cuda: batch norm over %d channels (at most %d)", C, BN_MAX_C); }

/* groups: rows r = c * groups + g of n = N / groups values each (see ops.h) */
static void cu_batchnorm_apply(Backend *be, float *out, const float *in, const float *mean, const float *rstd,
                               const float *gamma, const float *beta, int C, int N, int groups, Act act) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    const int n = N / groups;
    lz_read(c, in, (size_t)C * N * sizeof(float));
    lz_write(c, out, (size_t)C * N * sizeof(float));
    LAUNCH(k_bn_apply, row_grid(c, C * groups, n), 256, 0, c->stream)(out, in, mean, rstd, gamma, beta, groups, n, act);
    KCHECK();
    PROF_END(c, "batchnorm apply");
}

static void cu_batchnorm_forward(Backend *be, float *out, float *mean, float *rstd, float *running_mean,
                                 float *running_var, const float *in, const float *gamma, const float *beta, int C,
                                 int N, int groups, int batch_stats, float momentum, float eps, Act act) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    bn_check(C * groups);
    const int n = N / groups;
    /* on views in NHWC where the input is one (and the output can be), else on the CNHW tensors */
    View *vi = view_valid_n(c, in, C, (size_t)C * N);
    View *vo = vi && vi->B % groups == 0 ? view_for_write(c, out, C, vi->B, vi->R) : NULL;
    const int P = vo ? bn_parts_nhwc(n) : bn_parts(C * groups, n);
    if (!vo) {
        lz_read(c, in, (size_t)C * N * sizeof(float));
        lz_write(c, out, (size_t)C * N * sizeof(float));
    }
    if (batch_stats && vo)
        LAUNCH(k_bn_part_stats_nhwc, dim3(P, (C + 31) / 32, groups), 256, 0, c->stream)(c->bn_part, vi->buf, C, groups, n, P);
    else if (batch_stats)
        LAUNCH(k_bn_part_stats, dim3(P, C * groups), 256, 0, c->stream)(c->bn_part, in, n, P);
    KCHECK();
    if (vo)
        LAUNCH(k_bn_stats_apply_nhwc, view_grid(c, C, groups, n), 256, 0, c->stream)(vo->buf, vi->buf, c->bn_part, mean, rstd,
                                                                                   running_mean, running_var, gamma, beta,
                                                                                   C, groups, n, P, momentum, eps,
                                                                                   batch_stats, act);
    else
        LAUNCH(k_bn_stats_apply, row_grid(c, C * groups, n), 256, 0, c->stream)(out, in, c->bn_part, mean, rstd, running_mean,
                                                                              running_var, gamma, beta, groups, n, P,
                                                                              momentum, eps, batch_stats, act);
    KCHECK();
    if (vo) view_wrote(vo);
    PROF_END(c, "batchnorm forward");
}

static void cu_batchnorm_backward(Backend *be, float *din, float *dgamma, float *dbeta, const float *dout,
                                  const float *in, const float *mean, const float *rstd, const float *gamma,
                                  const float *beta, int C, int N, int groups, Act act) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    bn_check(C * groups);
    const int R = C * groups, n = N / groups;
    /* on views in NHWC where both inputs are (and the output can be one), else on the CNHW tensors */
    View *vi = view_valid_n(c, in, C, (size_t)C * N), *vd = vi ? view_valid_n(c, dout, C, (size_t)C * N) : NULL;
    View *vo = vd && vd->B == vi->B && vi->B % groups == 0 ? view_for_write(c, din, C, vi->B, vi->R) : NULL;
    const int P = vo ? bn_parts_nhwc(n) : bn_parts(R, n);
    if (!vo) {
        lz_read(c, in, (size_t)C * N * sizeof(float));
        lz_read(c, dout, (size_t)C * N * sizeof(float));
        lz_write(c, din, (size_t)C * N * sizeof(float));
    }
    if (vo)
        LAUNCH(k_bn_part_grad_nhwc, dim3(P, (C + 31) / 32, groups), 256, 0, c->stream)(c->bn_part, vi->buf, vd->buf, mean,
                                                                                      rstd, gamma, beta, C, groups, n, P, act);
    else
        LAUNCH(k_bn_part_grad, dim3(P, R), 256, 0, c->stream)(c->bn_part, in, dout, mean, rstd, gamma, beta, groups, n, P, act);
    KCHECK();
    if (vo)
        LAUNCH(k_bn_grad_dx_nhwc, view_grid(c, C, groups, n), 256, 0, c->stream)(vo->buf, vi->buf, vd->buf, c->bn_part, mean,
                                                                               rstd, gamma, beta, dgamma, dbeta, C, groups,
                                                                               n, P, act);
    else
        LAUNCH(k_bn_grad_dx, row_grid(c, R, n), 256, 0, c->stream)(din, in, dout, c->bn_part, mean, rstd, gamma, beta, dgamma,
                                                                  dbeta, groups, n, P, act);
    KCHECK();
    if (vo) view_wrote(vo);
    PROF_END(c, "batchnorm backward");
}

static void cu_batchnorm_local_stats(Backend *be, float *stats, const float *in, int C, int N) {
    CudaCtx *c = ctx_of(be);
    bn_check(C);
    lz_read(c, in, (size_t)C * N * sizeof(float));
    const int P = bn_parts(C, N);
    LAUNCH(k_bn_part_stats, dim3(P, C), 256, 0, c->stream)(c->bn_part, in, N, P);
    KCHECK();
    LAUNCH(k_bn_local_stats, (C + 127) / 128, 128, 0, c->stream)(c->bn_part, stats, C, N, P);
    KCHECK();
}

static void cu_batchnorm_backward_sums(Backend *be, float *sums, const float *dout, const float *in, const float *mean,
                                       const float *rstd, const float *gamma, const float *beta, int C, int N, Act act) {
    CudaCtx *c = ctx_of(be);
    bn_check(C);
    const int P = bn_parts(C, N);
    lz_read(c, in, (size_t)C * N * sizeof(float));
    lz_read(c, dout, (size_t)C * N * sizeof(float));
    LAUNCH(k_bn_part_grad, dim3(P, C), 256, 0, c->stream)(c->bn_part, in, dout, mean, rstd, gamma, beta, 1, N, P, act);
    KCHECK();
    LAUNCH(k_bn_finish_grad, (C + 127) / 128, 128, 0, c->stream)(c->bn_part, NULL, NULL, NULL, sums, NULL, NULL, 0.0, C, P,
                                                              1);
    KCHECK();
}

static void cu_batchnorm_backward_reduced(Backend *be, float *din, float *dgamma, float *dbeta, const float *dout,
                                          const float *in, const float *mean, const float *rstd, const float *gamma,
                                          const float *beta, const float *local_sums, const float *global_sums, int C,
                                          int N, double n_global, Act act) {
    CudaCtx *c = ctx_of(be);
    bn_check(C);
    lz_read(c, in, (size_t)C * N * sizeof(float));
    lz_read(c, dout, (size_t)C * N * sizeof(float));
    lz_write(c, din, (size_t)C * N * sizeof(float));
    LAUNCH(k_bn_finish_grad, (C + 127) / 128, 128, 0, c->stream)(NULL, dgamma, dbeta, c->bn_k, NULL, local_sums,
                                                              global_sums, n_global, C, 1, 2);
    KCHECK();
    LAUNCH(k_bn_dx, row_grid(c, C, N), 256, 0, c->stream)(din, in, dout, mean, rstd, gamma, beta, c->bn_k, C, N, act);
    KCHECK();
}

/* ------------------------------------------------------------------------------------------------
 * losses */

/* one block: loss = scale * mean BCE, mean sigmoid, dlogits */
__global__ void k_bce(float *loss, float *mean_prob, float *dlogits, const float *logits, int B, float target, float scale) {
    PDL_ENTRY();
    __shared__ double sh[32];
    double l = 0.0, p = 0.0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        double sig;
        l += bce_logit(logits[b], target, &sig);
        p += sig;
        if (dlogits) dlogits[b] = (float)(scale * (sig - target) / B);
    }
    l = block_sum(l, sh);
    p = block_sum(p, sh);
    if (threadIdx.x == 0) {
        loss[0] = (float)(scale * l / B);
        if (mean_prob) mean_prob[0] = (float)(p / B);
    }
}

static void cu_bce_logits(Backend *be, float *loss, float *mean_prob, float *dlogits, const float *logits, int B,
                          float target, float scale) {
    CudaCtx *c = ctx_of(be);
    PROF_BEGIN(c);
    lz_read(c, logits, (size_t)B * sizeof(float));
    lz_write(c, loss, sizeof(float));
    if (mean_prob) lz_write(c, mean_prob, sizeof(float));
    if (dlogits) lz_write(c, dlogits, (size_t)B * sizeof(float));
    LAUNCH(k_bce, 1, 256, 0, c->stream)(loss, mean_prob, dlogits, logits, B, target, scale);
    KCHECK();
    PROF_END(c, "bce loss");
}

__global__ void k_softmax_xent(float *loss, float *probs, float *dlogits, const float *logits, const float *labels, int B,
                               int K, float scale) {
    PDL_ENTRY();
    __shared__ double sh[32];
    double l = 0.0;
    for (int b = threadIdx.x; b < B; b += blockDim.x)
        l += softmax_xent_row(probs ? probs + (size_t)b * K : NULL, dlogits ? dlogits + (size_t)b * K : NULL,
                              logits + (size_t)b * K, K, labels ? (int)labels[b] : -1, B, scale);
    l = block_sum(l, sh);
    if (threadIdx.x == 0 && loss && labels) loss[0] = (float)(scale * l / B);
}

static void cu_softmax_xent(Backend *be, float *loss, float *probs, float *dlogits, const float *logits,
                            const float *labels, int B, int K, float scale) {
    CudaCtx *c = ctx_of(be);
    lz_read(c, logits, (size_t)B * K * sizeof(float));
    if (labels) lz_read(c, labels, (size_t)B * sizeof(float));
    lz_write(c, loss, sizeof(float));
    if (probs) lz_write(c, probs, (size_t)B * K * sizeof(float));
    if (dlogits) lz_write(c, dlogits, (size_t)B * K * sizeof(float));
    LAUNCH(k_softmax_xent, 1, 256, 0, c->stream)(loss, probs, dlogits, logits, labels, B, K, scale);
    KCHECK();
}

/* ------------------------------------------------------------------------------------------------
 * Adam (torch.optim.Adam's single-tensor update, float arithmetic rounded as on the CPU) */

__global__ void k_adam(float *param, const float *grad, float *m, float *v, size_t n, double lr0, double beta1,
                       double beta2, double eps_d, const int64_t *step_ctr, LrDecay decay) {
    PDL_ENTRY();
    const double step = (double)*step_ctr;
    const double lr = lr_at(lr0, decay.from, decay.to, decay.to > 0 ? *decay.iter : 0);
    const double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)beta1, b2 = (float)beta2, omb1 = (float)(1.0 - beta1), omb2 = (float)(1.0 - beta2);
    const float eps = (float)eps_d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float g = grad[i];
        const float mi = __fadd_rn(__fmul_rn(m[i], b1), __fmul_rn(g, omb1));
        const float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(g, g), omb2));
        m[i] = mi;
        v[i] = vi;
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        param[i] = __fsub_rn(param[i], __fmul_rn(step_size, __fdiv_rn(mi, denom)));
    }
}

__global__ void k_ema(float *avg, const float *x, size_t n, double decay, const int64_t *step) {
    PDL_ENTRY();
    const double dd = ema_decay_at(decay, (long long)*step);
    const float d = (float)dd, omd = (float)(1.0 - dd);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        avg[i] = __fadd_rn(__fmul_rn(avg[i], d), __fmul_rn(x[i], omd));
}

static void cu_ema(Backend *be, float *avg, const float *x, size_t n, double decay, const int64_t *step) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    kept_written(c, avg, n * sizeof(float));
    lz_read(c, x, n * sizeof(float));
    lz_write(c, avg, n * sizeof(float));
    PROF_BEGIN(c);
    LAUNCH(k_ema, grid_for(n, 256, c->nsm), 256, 0, c->stream)(avg, x, n, decay, step);
    KCHECK();
    PROF_END(c, "ema");
}

static void cu_adam(Backend *be, float *param, const float *grad, float *m, float *v, size_t n, double lr, double beta1,
                    double beta2, double eps, const int64_t *step, LrDecay decay) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    kept_written(c, param, n * sizeof(float));
    lz_read(c, grad, n * sizeof(float)); /* (parameters and gradients never sit in views: a check) */
    lz_write(c, param, n * sizeof(float));
    PROF_BEGIN(c);
    LAUNCH(k_adam, grid_for(n, 256, c->nsm), 256, 0, c->stream)(param, grad, m, v, n, lr, beta1, beta2, eps, step, decay);
    KCHECK();
    PROF_END(c, "adam");
    if (c->profile && ++c->adam_calls == c->prof_warm_adam) c->nprof = 0;
}

/* ------------------------------------------------------------------------------------------------
 * counters and random numbers */

__global__ void k_label_planes(float *out, const float *labels, int K, int B, int HW) {
    PDL_ENTRY();
    const size_t n = (size_t)K * B * HW;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t kb = i / HW;
        out[i] = (int)labels[kb % B] == (int)(kb / B) ? 1.0f : 0.0f;
    }
}
__global__ void k_label_pick(float *y, const float *x, const float *t, const float *labels, int B) {
    PDL_ENTRY();
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < B; b += gridDim.x * blockDim.x)
        y[b] = x[b] + t[(size_t)(int)labels[b] * B + b];
}
static void cu_label_pick(Backend *be, float *y, const float *x, const float *t, const float *labels, int K, int B) {
    CudaCtx *c = ctx_of(be);
    lz_read(c, x, (size_t)B * sizeof(float));
    lz_read(c, t, (size_t)K * B * sizeof(float));
    lz_read(c, labels, (size_t)B * sizeof(float));
    lz_write(c, y, (size_t)B * sizeof(float));
    LAUNCH(k_label_pick, grid_for((size_t)B, 256, c->nsm), 256, 0, c->stream)(y, x, t, labels, B);
    KCHECK();
}
__global__ void k_label_scatter(float *dt, const float *dy, const float *labels, int K, int B) {
    PDL_ENTRY();
    const size_t n = (size_t)K * B;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int b = (int)(i % B), k = (int)(i / B);
        dt[i] = (int)labels[b] == k ? dy[b] : 0.0f;
    }
}
static void cu_label_scatter(Backend *be, float *dt, const float *dy, const float *labels, int K, int B) {
    CudaCtx *c = ctx_of(be);
    const size_t n = (size_t)K * B;
    lz_read(c, dy, (size_t)B * sizeof(float));
    lz_read(c, labels, (size_t)B * sizeof(float));
    lz_write(c, dt, n * sizeof(float));
    LAUNCH(k_label_scatter, grid_for(n, 256, c->nsm), 256, 0, c->stream)(dt, dy, labels, K, B);
    KCHECK();
}
static void cu_label_planes(Backend *be, float *out, const float *labels, int K, int B, int HW) {
    CudaCtx *c = ctx_of(be);
    const size_t n = (size_t)K * B * HW;
    lz_read(c, labels, (size_t)B * sizeof(float));
    lz_write(c, out, n * sizeof(float));
    LAUNCH(k_label_planes, grid_for(n, 256, c->nsm), 256, 0, c->stream)(out, labels, K, B, HW);
    KCHECK();
}

static int64_t *cu_counters_alloc(Backend *be, int n) {
    CudaCtx *c = ctx_of(be);
    DCGAN_CHECK(!c->capturing, "cuda: alloc while recording a graph");
    int64_t *p;
    CU(cudaMalloc((void **)&p, (size_t)(n > 0 ? n : 1) * sizeof(int64_t)));
    CU(cudaMemsetAsync(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), c->stream));
    return p;
}
static void cu_counters_free(Backend *be, int64_t *p) { if (p) CU(cudaFree(p)); }
static void cu_counters_set(Backend *be, int64_t *p, const int64_t *host, int n) {
    CU(cudaMemcpyAsync(p, host, (size_t)n * sizeof(int64_t), cudaMemcpyHostToDevice, ctx_of(be)->stream));
}
__global__ void k_counter_add(int64_t *p, int64_t k) { PDL_ENTRY(); p[0] += k; }
__global__ void k_stash(float *ring, const float *src, int n, const int64_t *counter, int slots) {
    PDL_ENTRY();
    const int64_t row = *counter % slots;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ring[row * n + i] = src[i];
}
static void cu_stash(Backend *be, float *ring, const float *src, size_t n, const int64_t *counter, int slots) {
    CudaCtx *c = ctx_of(be);
    lz_read(c, src, n * sizeof(float));
    lz_write(c, ring, n * (size_t)slots * sizeof(float));
    LAUNCH(k_stash, 1, 64, 0, c->stream)(ring, src, (int)n, counter, slots);
    KCHECK();
}
static void cu_counter_add(Backend *be, int64_t *p, int64_t k) {
    CudaCtx *c = ctx_of(be);
    LAUNCH(k_counter_add, 1, 1, 0, c->stream)(p, k);
    KCHECK();
}

__global__ void k_random(float *out, size_t n, uint64_t seed, uint64_t base, const int64_t *stream, uint64_t first,
                         int uniform) {
    PDL_ENTRY();
    const uint64_t key = ctr_rng_key(seed, base + (uint64_t)*stream);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = uniform ? ctr_rng_uniform_pm1(key, first + i) : ctr_rng_normal(key, first + i);
}
static void cu_random_fill(Backend *be, float *out, size_t n, uint64_t seed, uint64_t base, const int64_t *stream,
                           uint64_t first, int uniform) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    kept_written(c, out, n * sizeof(float));
    lz_write(c, out, n * sizeof(float));
    PROF_BEGIN(c);
    LAUNCH(k_random, grid_for(n, 256, c->nsm), 256, 0, c->stream)(out, n, seed, base, stream, first, uniform);
    KCHECK();
    PROF_END(c, "z draw");
}

/* ------------------------------------------------------------------------------------------------
 * graphs */

static void cu_graph_begin(Backend *be) {
    CudaCtx *c = ctx_of(be);
    DCGAN_CHECK(!c->capturing, "cuda: nested graph recording");
    side_join(c); /* a recording may not wait for work from before it */
    kept_written(c, NULL, 0);
    CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    c->capturing = 1;
}

static void *cu_graph_end(Backend *be) {
    CudaCtx *c = ctx_of(be);
    cudaGraph_t g;
    side_join(c); /* the side's recorded work joins the main stream's */
    kept_written(c, NULL, 0);
    CU(cudaStreamEndCapture(c->stream, &g));
    c->capturing = 0;
    Graph *gr = (Graph *)xmalloc(sizeof *gr);
    CU(cudaGraphInstantiate(&gr->exec, g, 0));
    CU(cudaGraphDestroy(g));
    gr->nviews = c->nview; /* the views' flags as the recording left them (see View) */
    gr->flags = (unsigned char *)xmalloc((size_t)(c->nview > 0 ? c->nview : 1));
    for (int i = 0; i < c->nview; i++) gr->flags[i] = (unsigned char)(c->view[i].nhwc | c->view[i].stale << 1);
    return gr;
}

static void cu_graph_launch(Backend *be, void *g) {
    CudaCtx *c = ctx_of(be);
    const Graph *gr = (const Graph *)g;
    side_join(c);
    kept_written(c, NULL, 0);
    /* the replay leaves the recorded views as the recording did; what the ops since (an inference
     * pass, say) left stale is brought up to date first, except where the replay writes it again */
    for (int i = 0; i < c->nview; i++) {
        const int recorded_stale = i < gr->nviews && gr->flags[i] >> 1;
        if (c->view[i].stale && !recorded_stale) view_unpack(c, &c->view[i]);
        if (i >= gr->nviews) c->view[i].nhwc = 0;
    }
    CU(cudaGraphLaunch(gr->exec, c->stream));
    for (int i = 0; i < gr->nviews; i++) {
        c->view[i].nhwc = gr->flags[i] & 1;
        c->view[i].stale = gr->flags[i] >> 1 & 1;
    }
}
static void cu_graph_free(Backend *be, void *g) {
    (void)be;
    Graph *gr = (Graph *)g;
    if (!gr) return;
    CU(cudaGraphExecDestroy(gr->exec));
    free(gr->flags);
    free(gr);
}

/* ------------------------------------------------------------------------------------------------
 * collectives between GPUs (NCCL), bootstrapped by the launcher (see ops.h) */

#ifdef DCGAN_HAVE_NCCL
/* NCCL is opened at run time (libnccl.so.2), not linked: the plugin then loads on a machine without
 * NCCL, where collective_id / collective_init report that it is missing and a distributed run
 * averages gradients through MPI on the host instead (src/dist/dist.c). */
struct NcclApi {
    void *lib;
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*comm_destroy)(ncclComm_t);
    const char *(*error_string)(ncclResult_t);
};

/* NCCL's functions, or NULL (with the reason in err) where libnccl.so.2 cannot be loaded */
static struct NcclApi *nccl_api(CudaCtx *c, char *err, size_t errlen) {
    if (c->nc) return c->nc;
    void *lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(err, errlen, "NCCL is not installed here (%s)", dlerror());
        return NULL;
    }
    struct NcclApi a = {lib, (ncclResult_t(*)(ncclUniqueId *))dlsym(lib, "ncclGetUniqueId"),
                        (ncclResult_t(*)(ncclComm_t *, int, ncclUniqueId, int))dlsym(lib, "ncclCommInitRank"),
                        (ncclResult_t(*)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                                         cudaStream_t))dlsym(lib, "ncclAllReduce"),
                        (ncclResult_t(*)(ncclComm_t))dlsym(lib, "ncclCommDestroy"),
                        (const char *(*)(ncclResult_t))dlsym(lib, "ncclGetErrorString")};
    if (!a.get_unique_id || !a.comm_init_rank || !a.all_reduce || !a.comm_destroy || !a.error_string) {
        snprintf(err, errlen, "libnccl.so.2 lacks a function this program needs");
        dlclose(lib);
        return NULL;
    }
    c->nc = (struct NcclApi *)xcalloc(1, sizeof a);
    *c->nc = a;
    return c->nc;
}

static size_t cu_collective_id(Backend *be, void *id, size_t cap) {
    char err[256];
    const struct NcclApi *nc = nccl_api(ctx_of(be), err, sizeof err);
    ncclUniqueId u;
    if (!nc || sizeof u > cap || nc->get_unique_id(&u) != ncclSuccess) return 0;
    memcpy(id, &u, sizeof u);
    return sizeof u;
}

static int cu_collective_init(Backend *be, const void *id, size_t len, int rank, int nranks, char *err, size_t errlen) {
    CudaCtx *c = ctx_of(be);
    ncclUniqueId u;
    if (len != sizeof u) {
        snprintf(err, errlen, "the NCCL id from rank 0 has %zu bytes, not %zu (different NCCL builds)", len, sizeof u);
        return -1;
    }
    memcpy(&u, id, sizeof u);
    const struct NcclApi *nc = nccl_api(c, err, errlen);
    if (!nc) return -1;
    const ncclResult_t r = nc->comm_init_rank(&c->nccl, nranks, u, rank);
    if (r != ncclSuccess) {
        snprintf(err, errlen, "ncclCommInitRank: %s", nc->error_string(r));
        c->nccl = NULL;
        return -1;
    }
    return 0;
}

static void cu_allreduce_mean(Backend *be, float *x, size_t n) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    kept_written(c, x, n * sizeof(float));
    lz_read(c, x, n * sizeof(float));
    lz_write(c, x, n * sizeof(float));
    DCGAN_CHECK(c->nccl, "allreduce_mean before collective_init");
    PROF_BEGIN(c);
    const ncclResult_t r = c->nc->all_reduce(x, x, n, ncclFloat32, ncclAvg, c->nccl, c->stream);
    if (r != ncclSuccess) die("NCCL all-reduce failed: %s", c->nc->error_string(r));
    PROF_END(c, "nccl all-reduce");
}
#endif

/* The GPU of this process: with several on the machine, a data-parallel job's ranks on it take one
 * each, by the local rank their launcher announces. */
static int pick_device(int count) {
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v && atoi(v) >= 0) return atoi(v) % count;
    }
    return 0;
}

static void cu_destroy(Backend *be) {
    CudaCtx *c = ctx_of(be);
    side_join(c);
    cudaStreamSynchronize(c->stream);
    if (c->profile && c->nprof) {
        double total = 0;
        for (int i = 0; i < c->nprof; i++)
            if (strncmp(c->prof[i].name, "cudnn ", 6)) total += c->prof[i].ms;
        fprintf(stderr, "cuda profile (GPU ms outside graphs%s; 'cudnn' rows are inside the conv rows), total %.3f ms:\n",
                c->prof_warm_adam > 0 ? ", after the warm-up" : "", total);
        for (int k = 0; k < c->nprof; k++) { /* by time, descending */
            int best = k;
            for (int i = k + 1; i < c->nprof; i++) if (c->prof[i].ms > c->prof[best].ms) best = i;
            const auto t = c->prof[k]; c->prof[k] = c->prof[best]; c->prof[best] = t;
            fprintf(stderr, "  %9.3f ms %6ld calls  %s\n", c->prof[k].ms, c->prof[k].calls, c->prof[k].name);
        }
    }
#ifdef DCGAN_HAVE_NCCL
    if (c->nccl) c->nc->comm_destroy(c->nccl);
    if (c->nc) { dlclose(c->nc->lib); free(c->nc); }
#endif
    for (int i = 0; i < 4; i++) cudaEventDestroy(c->ev[i]);
    for (int k = 0; k < UP_SLOTS; k++) {
        cudaEventDestroy(c->up_done[k]);
        if (c->up_pin[k]) cudaFreeHost(c->up_pin[k]);
    }
    for (int i = 0; i < c->nplans; i++) plan_destroy(&c->plans[i]);
    for (int r = 0; r < ROLE_COUNT; r++) if (c->slot[r]) cudaFree(c->slot[r]);
    if (c->ws) cudaFree(c->ws);
    for (int i = 0; i < c->nwpack; i++) cudaFree(c->wpack[i].buf);
    for (int i = 0; i < c->napack; i++) cudaFree(c->apack[i].buf);
    for (int i = 0; i < c->nview; i++) cudaFree(c->view[i].buf);
    if (c->side) {
        for (int k = 0; k < 2; k++)
            for (int r = 0; r < 3; r++) if (c->side_slot[k][r]) cudaFree(c->side_slot[k][r]);
        if (c->side_ws) cudaFree(c->side_ws);
        cudaEventDestroy(c->side_fork);
        cudaEventDestroy(c->side_done[0]);
        cudaEventDestroy(c->side_done[1]);
        cudaEventDestroy(c->side_end);
        cudaStreamDestroy(c->side);
    }
    for (int i = 0; i < c->nretired; i++) cudaFree(c->retired[i]);
    free(c->retired);
    free(c->algos_path);
    free(c->cache_path);
    cudaFree(c->blas_ws);
    cudaFree(c->bn_part);
    cudaFree(c->bn_k);
    cublasDestroy(c->blas);
    cudnnDestroy(c->dnn);
    cudaStreamDestroy(c->stream);
    free(c);
    free(be);
}

extern "C" __attribute__((visibility("default"))) Backend *backend_cuda_create(const char *precision) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1)
        die("--device cuda: no usable NVIDIA GPU here (%s); use --device cpu",
            e == cudaErrorInsufficientDriver ? "no NVIDIA driver, or one too old for CUDA 13"
            : e != cudaSuccess              ? cudaGetErrorString(e)
                                            : "no device found");
    CudaCtx *c = (CudaCtx *)xcalloc(1, sizeof(CudaCtx));
    c->prec = !strcmp(precision, "fp32") ? PREC_FP32 : !strcmp(precision, "bf16") ? PREC_BF16 : PREC_TF32;
    c->device = pick_device(count);
    c->verbose = env_on("DCGAN_CUDA_VERBOSE");
    c->profile = env_on("DCGAN_CUDA_PROFILE");
    /* experiment: also consider cuDNN's non-deterministic algorithms (as PyTorch's cudnn.benchmark does) */
    c->nondet = env_on("DCGAN_CUDA_NONDETERMINISTIC");
    c->cudnn_only = env_on("DCGAN_CUDA_CUDNN_ONLY");
    c->no_pad = env_on("DCGAN_CUDA_NO_PAD");
    c->no_reuse = env_on("DCGAN_CUDA_NO_REUSE");
    c->no_keep = env_on("DCGAN_CUDA_NO_KEEP");
    c->no_lazy = !env_on("DCGAN_CUDA_LAZY") || c->profile; /* the op profile times each op's own copies */
    c->no_pinned = env_on("DCGAN_CUDA_NO_PINNED");
#ifdef DCGAN_CUDA_EMU
    c->poison = 1; /* the tests check ops.h's rule on memory shared between tensors */
#else
    c->poison = env_on("DCGAN_CUDA_POISON");
#endif
    c->force_layout = getenv("DCGAN_CUDA_LAYOUT") ? atoi(getenv("DCGAN_CUDA_LAYOUT")) : -1;
    const char *eng = getenv("DCGAN_CUDA_ENGINES");
    c->engines = !eng || !*eng || !strcmp(eng, "auto") ? ENGINES_AUTO : !strcmp(eng, "legacy") ? ENGINES_LEGACY
                 : !strcmp(eng, "graph") ? ENGINES_GRAPH : -1;
    if (c->engines < 0) die("DCGAN_CUDA_ENGINES=%s is unknown; use auto, legacy or graph", eng);
    c->algos_path = getenv("DCGAN_CUDA_ALGOS") && *getenv("DCGAN_CUDA_ALGOS") ? xstrdup(getenv("DCGAN_CUDA_ALGOS")) : NULL;
    if (c->force_layout >= LAY_COUNT) c->force_layout = -1;
    c->prof_warm_adam = getenv("DCGAN_CUDA_PROFILE_SKIP") ? atol(getenv("DCGAN_CUDA_PROFILE_SKIP")) : 0;
    CU(cudaSetDevice(c->device));
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, c->device));
    c->nsm = prop.multiProcessorCount;
    c->pdl = env_on("DCGAN_CUDA_PDL") && prop.major >= 9;
    /* the main stream first: the side stream's weight gradients are off the critical path */
    int least = 0, greatest = 0;
    CU(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    CU(cudaStreamCreateWithPriority(&c->stream, cudaStreamNonBlocking, greatest));
    for (int k = 0; k < UP_SLOTS; k++) CU(cudaEventCreateWithFlags(&c->up_done[k], cudaEventDisableTiming));
    if (!env_on("DCGAN_CUDA_NO_SIDE") && !c->profile) { /* the profile times op by op on one stream */
        CU(cudaStreamCreateWithPriority(&c->side, cudaStreamNonBlocking, least));
        CU(cudaEventCreateWithFlags(&c->side_fork, cudaEventDisableTiming));
        CU(cudaEventCreateWithFlags(&c->side_done[0], cudaEventDisableTiming));
        CU(cudaEventCreateWithFlags(&c->side_done[1], cudaEventDisableTiming));
        CU(cudaEventCreateWithFlags(&c->side_end, cudaEventDisableTiming));
    }
    CUBLAS(cublasCreate(&c->blas));
    CUBLAS(cublasSetStream(c->blas, c->stream));
    const size_t blas_ws = (size_t)32 << 20; /* a fixed workspace, so that cuBLAS never allocates while recording */
    CU(cudaMalloc(&c->blas_ws, blas_ws));
    CUBLAS(cublasSetWorkspace(c->blas, c->blas_ws, blas_ws));
    /* fp32 products in every precision but bf16's (tf32 too: PyTorch's defaults are TF32 for
     * convolutions, fp32 for matrix products). The products here are the linear layers and the
     * full-size convolutions: a few MFLOP each, launch-bound either way, and TF32's operand
     * rounding of G's first layer would reach every layer after it. */
    CUBLAS(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
    CUDNN(cudnnCreate(&c->dnn));
    CUDNN(cudnnSetStream(c->dnn, c->stream));
    for (int i = 0; i < 4; i++) CU(cudaEventCreate(&c->ev[i]));
    CU(cudaMalloc((void **)&c->bn_part, (size_t)BN_MAX_C * BN_MAX_PARTS * 2 * sizeof(double)));
    CU(cudaMalloc((void **)&c->bn_k, (size_t)2 * BN_MAX_C * sizeof(float)));

    Backend *be = (Backend *)xcalloc(1, sizeof(Backend));
#ifdef DCGAN_CUDA_EMU /* the tests know the emulation by its name: it has no convolutions */
    be->name = c->prec == PREC_FP32 ? "cuda-emu-fp32" : c->prec == PREC_BF16 ? "cuda-emu-bf16" : "cuda-emu-tf32";
#else
    be->name = c->prec == PREC_FP32 ? "cuda-fp32" : c->prec == PREC_BF16 ? "cuda-bf16" : "cuda-tf32";
#endif
    be->ctx = c;
    be->keep_activations = 1;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->zero = cu_zero;
    be->copy = cu_copy;
    be->transpose01 = cu_transpose01;
    be->linear_forward = cu_linear_forward;
    be->linear_backward = cu_linear_backward;
    be->conv2d_forward = cu_conv2d_forward;
    be->conv2d_backward = cu_conv2d_backward;
    be->conv_transpose2d_forward = cu_convt_forward;
    be->conv_transpose2d_backward = cu_convt_backward;
    be->batchnorm_forward = cu_batchnorm_forward;
    be->batchnorm_apply = cu_batchnorm_apply;
    be->batchnorm_backward = cu_batchnorm_backward;
    be->batchnorm_local_stats = cu_batchnorm_local_stats;
    be->batchnorm_backward_sums = cu_batchnorm_backward_sums;
    be->batchnorm_backward_reduced = cu_batchnorm_backward_reduced;
    be->act_forward = cu_act_forward;
    be->act_backward = cu_act_backward;
    be->sign_bits = cu_sign_bits;
    be->act_backward_bits = cu_act_backward_bits;
#ifdef DCGAN_HAVE_NCCL
    be->collective_id = cu_collective_id;
    be->collective_init = cu_collective_init;
    be->allreduce_mean = cu_allreduce_mean;
#endif
    be->bce_logits = cu_bce_logits;
    be->softmax_xent = cu_softmax_xent;
    be->adam = cu_adam;
    be->ema = cu_ema;
    be->label_planes = cu_label_planes;
    be->label_pick = cu_label_pick;
    be->label_scatter = cu_label_scatter;
    be->counters_alloc = cu_counters_alloc;
    be->counters_free = cu_counters_free;
    be->counters_set = cu_counters_set;
    be->counter_add = cu_counter_add;
    be->stash = cu_stash;
    be->random_fill = cu_random_fill;
    be->graph_begin = cu_graph_begin;
    be->graph_end = cu_graph_end;
    be->graph_launch = cu_graph_launch;
    be->graph_free = cu_graph_free;
    be->sync = cu_sync;
    be->keep_choices = cu_keep_choices;
    be->cache_choices = cu_cache_choices;
    be->destroy = cu_destroy;
    return be;
}
