/* emu_runtime.cpp: the host side of the CUDA emulation (see cuda_emu.h): the thread blocks, the
 * CUDA runtime calls src/backends/cuda.cu makes (memory is host memory, a stream runs in order at
 * once, a capture records and a graph replays), cuBLAS's two products as plain loops, and a cuDNN
 * that opens and closes but refuses every convolution (CUDNN_STATUS_NOT_SUPPORTED): the emulated
 * backend runs every op but the convolutions. */
#include "cuda_emu.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cudnn.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cuda_emu {

thread_local ThreadPlace place;

namespace {

/* waits until `live` threads have arrived; a thread that leaves counts no more */
struct Barrier {
    std::mutex m;
    std::condition_variable cv;
    int live = 0, count = 0;
    unsigned gen = 0;
    void reset(int n) {
        std::lock_guard<std::mutex> l(m);
        live = n;
        count = 0;
    }
    void release() {
        count = 0;
        gen++;
        cv.notify_all();
    }
    void arrive() {
        std::unique_lock<std::mutex> l(m);
        const unsigned g = gen;
        if (++count >= live) { release(); return; }
        cv.wait(l, [&] { return gen != g; });
    }
    void leave() {
        std::lock_guard<std::mutex> l(m);
        live--;
        if (count > 0 && count >= live) release();
    }
};

struct Block {
    int T, nwarps;
    Barrier all;                   /* every thread, at the start and the end of each block */
    Barrier block;                 /* __syncthreads */
    std::vector<Barrier> warp;     /* the warp operations */
    std::vector<uint64_t> slot;    /* one exchange value per thread */
    std::vector<unsigned> alive;   /* per warp: its lanes that have not returned */
    Block(int t) : T(t), nwarps((t + 31) / 32), warp((size_t)nwarps), slot((size_t)t), alive((size_t)nwarps) {
        all.reset(T);
        reset();
    }
    int lanes(int w) const { return T - 32 * w < 32 ? T - 32 * w : 32; }
    void reset() {
        block.reset(T);
        for (int w = 0; w < nwarps; w++) {
            warp[(size_t)w].reset(lanes(w));
            alive[(size_t)w] = lanes(w) == 32 ? 0xffffffffu : (1u << lanes(w)) - 1u;
        }
    }
};

Block *my_block() { return static_cast<Block *>(place.ctx); }

void execute(dim3 grid, dim3 block, const std::function<void()> &fn) {
    const int T = (int)(block.x * block.y * block.z);
    const long nblocks = (long)grid.x * grid.y * grid.z;
    if (T < 1 || T > 1024 || nblocks < 1) {
        fprintf(stderr, "cuda_emu: a launch of %ld blocks of %d threads is not valid\n", nblocks, T);
        abort();
    }
    Block b(T);
    auto worker = [&](int tid) {
        for (long bi = 0; bi < nblocks; bi++) {
            b.all.arrive(); /* the block before is done, and thread 0 has reset the barriers */
            ThreadPlace &p = place;
            p.thread = make_uint3((unsigned)(tid % (int)block.x), (unsigned)(tid / (int)block.x % (int)block.y),
                                  (unsigned)(tid / (int)(block.x * block.y)));
            p.block = make_uint3((unsigned)(bi % grid.x), (unsigned)(bi / grid.x % grid.y),
                                 (unsigned)(bi / ((long)grid.x * grid.y)));
            p.bdim = block;
            p.gdim = grid;
            p.tid = tid;
            p.ctx = &b;
            fn();
            { /* returned: the barriers stop waiting for it */
                std::lock_guard<std::mutex> l(b.warp[(size_t)(tid / 32)].m);
                b.alive[(size_t)(tid / 32)] &= ~(1u << (tid % 32));
            }
            b.block.leave();
            b.warp[(size_t)(tid / 32)].leave();
            b.all.arrive();
            if (tid == 0) b.reset();
        }
    };
    std::vector<std::thread> th;
    th.reserve((size_t)T);
    for (int t = 0; t < T; t++) th.emplace_back(worker, t);
    for (auto &t : th) t.join();
}

/* the capture of the (one) stream being recorded, and the recordings */
struct Recording {
    std::vector<std::function<void()>> ops;
};
Recording *capturing = nullptr;

void issue(std::function<void()> op) {
    if (capturing) capturing->ops.push_back(std::move(op));
    else op();
}

} // namespace

void syncthreads() { my_block()->block.arrive(); }

uint64_t shfl_down(unsigned mask, uint64_t v, unsigned delta, int width) {
    (void)mask;
    Block *b = my_block();
    const int tid = place.tid, w = tid / 32, lane = tid % 32;
    b->slot[(size_t)tid] = v;
    b->warp[(size_t)w].arrive();
    uint64_t r = v;
    const int src = lane + (int)delta;
    if (lane % width + (int)delta < width && src < b->lanes(w)) r = b->slot[(size_t)(w * 32 + src)];
    b->warp[(size_t)w].arrive(); /* nobody writes its slot again before every lane has read */
    return r;
}

unsigned ballot(unsigned mask, int pred) {
    Block *b = my_block();
    const int tid = place.tid, w = tid / 32;
    b->slot[(size_t)tid] = pred ? 1 : 0;
    b->warp[(size_t)w].arrive();
    unsigned bits = 0;
    {
        std::lock_guard<std::mutex> l(b->warp[(size_t)w].m);
        for (int l2 = 0; l2 < b->lanes(w); l2++)
            if ((b->alive[(size_t)w] >> l2 & 1u) && b->slot[(size_t)(w * 32 + l2)]) bits |= 1u << l2;
    }
    b->warp[(size_t)w].arrive();
    return bits & mask;
}

void run_grid(dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> fn) {
    (void)stream;
    issue([grid, block, fn = std::move(fn)]() { execute(grid, block, fn); });
}

} // namespace cuda_emu

using cuda_emu::issue;

/* cuBLAS's product as a plain loop (column-major, summed in k order in float) */
template <typename T> static float as_float(const T *p, size_t i);
template <> float as_float<float>(const float *p, size_t i) { return p[i]; }
template <> float as_float<__nv_bfloat16>(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }

template <typename T>
static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const T *A, int lda,
                 const T *B, int ldb, float beta, float *C, int ldc) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = 0.0f;
            for (int l = 0; l < k; l++) {
                const float a = ta == CUBLAS_OP_N ? as_float(A, (size_t)l * lda + i) : as_float(A, (size_t)i * lda + l);
                const float b = tb == CUBLAS_OP_N ? as_float(B, (size_t)j * ldb + l) : as_float(B, (size_t)l * ldb + j);
                s += a * b;
            }
            float *c = &C[(size_t)j * ldc + i];
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
}

/* ------------------------------------------------------------------------------------------------
 * the CUDA runtime */

extern "C" {

cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = calloc(1, bytes ? bytes : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    (void)kind; (void)s;
    issue([=]() { memmove(dst, src, bytes); });
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s) {
    (void)s;
    issue([=]() { memset(p, v, bytes); });
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) { (void)s; return cudaSuccess; }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    (void)flags;
    static int the_stream;
    *s = reinterpret_cast<cudaStream_t>(&the_stream);
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) { (void)s; return cudaSuccess; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char *cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated CUDA error"; }
cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
cudaError_t cudaSetDevice(int d) { (void)d; return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
    (void)device;
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CPU emulation (tests/cuda_emu)");
    prop->multiProcessorCount = 2; /* few blocks: the grid-stride loops go round */
    prop->major = 9;
    prop->minor = 0;
    prop->totalGlobalMem = (size_t)16 << 30;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *fr, size_t *total) {
    *fr = (size_t)8 << 30;
    *total = (size_t)16 << 30;
    return cudaSuccess;
}

struct EmuEvent {
    double t;
};
static double now_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = reinterpret_cast<cudaEvent_t>(new EmuEvent{0.0});
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete reinterpret_cast<EmuEvent *>(e);
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    (void)s;
    EmuEvent *ev = reinterpret_cast<EmuEvent *>(e);
    issue([ev]() { ev->t = now_ms(); });
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) { (void)e; return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)(reinterpret_cast<EmuEvent *>(b)->t - reinterpret_cast<EmuEvent *>(a)->t);
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    (void)s; (void)mode;
    if (cuda_emu::capturing) return cudaErrorIllegalState;
    cuda_emu::capturing = new cuda_emu::Recording;
    return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    (void)s;
    if (!cuda_emu::capturing) return cudaErrorIllegalState;
    *g = reinterpret_cast<cudaGraph_t>(cuda_emu::capturing);
    cuda_emu::capturing = nullptr;
    return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t g, unsigned long long flags) {
    (void)flags;
    *exec = reinterpret_cast<cudaGraphExec_t>(new cuda_emu::Recording(*reinterpret_cast<cuda_emu::Recording *>(g)));
    return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete reinterpret_cast<cuda_emu::Recording *>(g);
    return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete reinterpret_cast<cuda_emu::Recording *>(e);
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    (void)s;
    for (auto &op : reinterpret_cast<cuda_emu::Recording *>(e)->ops) issue(op);
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------------
 * cuBLAS: column-major C = alpha op(A) op(B) + beta C, summed in k order in float */

/* a library's handle holds nothing here: create, destroy and the stream setter of cuBLAS and cuDNN */
#define EMU_HANDLE(Ctx, Status, ok, create, destroy, set_stream)                 \
    struct Ctx {                                                                 \
        int unused;                                                              \
    };                                                                           \
    Status create(Ctx **h) {                                                     \
        *h = new Ctx{0};                                                         \
        return ok;                                                               \
    }                                                                            \
    Status destroy(Ctx *h) {                                                     \
        delete h;                                                                \
        return ok;                                                               \
    }                                                                            \
    Status set_stream(Ctx *h, cudaStream_t s) {                                  \
        (void)h;                                                                 \
        (void)s;                                                                 \
        return ok;                                                               \
    }
EMU_HANDLE(cublasContext, cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasCreate_v2, cublasDestroy_v2, cublasSetStream_v2)
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *ws, size_t bytes) {
    (void)h; (void)ws; (void)bytes;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { (void)h; (void)m; return CUBLAS_STATUS_SUCCESS; }

cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                              float *C, int ldc) {
    (void)h;
    const float al = *alpha, be = *beta;
    issue([=]() { gemm<float>(ta, tb, m, n, k, al, A, lda, B, ldb, be, C, ldc); });
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                            int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t comp,
                            cublasGemmAlgo_t algo) {
    (void)h; (void)comp; (void)algo;
    if (ct != CUDA_R_32F || at != bt || (at != CUDA_R_32F && at != CUDA_R_16BF)) return CUBLAS_STATUS_NOT_SUPPORTED;
    const float al = *static_cast<const float *>(alpha), be = *static_cast<const float *>(beta);
    float *c = static_cast<float *>(C);
    if (at == CUDA_R_32F)
        issue([=]() { gemm<float>(ta, tb, m, n, k, al, (const float *)A, lda, (const float *)B, ldb, be, c, ldc); });
    else
        issue([=]() {
            gemm<__nv_bfloat16>(ta, tb, m, n, k, al, (const __nv_bfloat16 *)A, lda, (const __nv_bfloat16 *)B, ldb, be,
                                c, ldc);
        });
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------
 * cuDNN: a handle, and no convolutions */

EMU_HANDLE(cudnnContext, cudnnStatus_t, CUDNN_STATUS_SUCCESS, cudnnCreate, cudnnDestroy, cudnnSetStream)
const char *cudnnGetErrorString(cudnnStatus_t s) {
    return s == CUDNN_STATUS_SUCCESS ? "success" : "cuDNN is not emulated (tests/cuda_emu): convolutions need a GPU";
}
#define NO_CUDNN(name, ...) \
    cudnnStatus_t name(__VA_ARGS__) { return CUDNN_STATUS_NOT_SUPPORTED; }
NO_CUDNN(cudnnCreateTensorDescriptor, cudnnTensorDescriptor_t *)
NO_CUDNN(cudnnCreateFilterDescriptor, cudnnFilterDescriptor_t *)
NO_CUDNN(cudnnCreateConvolutionDescriptor, cudnnConvolutionDescriptor_t *)
NO_CUDNN(cudnnDestroyTensorDescriptor, cudnnTensorDescriptor_t)
NO_CUDNN(cudnnDestroyFilterDescriptor, cudnnFilterDescriptor_t)
NO_CUDNN(cudnnDestroyConvolutionDescriptor, cudnnConvolutionDescriptor_t)
NO_CUDNN(cudnnSetTensor4dDescriptorEx, cudnnTensorDescriptor_t, cudnnDataType_t, int, int, int, int, int, int, int, int)
NO_CUDNN(cudnnSetFilter4dDescriptor, cudnnFilterDescriptor_t, cudnnDataType_t, cudnnTensorFormat_t, int, int, int, int)
NO_CUDNN(cudnnSetConvolution2dDescriptor, cudnnConvolutionDescriptor_t, int, int, int, int, int, int,
         cudnnConvolutionMode_t, cudnnDataType_t)
NO_CUDNN(cudnnSetConvolutionMathType, cudnnConvolutionDescriptor_t, cudnnMathType_t)
NO_CUDNN(cudnnGetConvolution2dForwardOutputDim, const cudnnConvolutionDescriptor_t, const cudnnTensorDescriptor_t,
         const cudnnFilterDescriptor_t, int *, int *, int *, int *)
NO_CUDNN(cudnnFindConvolutionForwardAlgorithm, cudnnHandle_t, const cudnnTensorDescriptor_t, const cudnnFilterDescriptor_t,
         const cudnnConvolutionDescriptor_t, const cudnnTensorDescriptor_t, const int, int *, cudnnConvolutionFwdAlgoPerf_t *)
NO_CUDNN(cudnnFindConvolutionBackwardDataAlgorithm, cudnnHandle_t, const cudnnFilterDescriptor_t,
         const cudnnTensorDescriptor_t, const cudnnConvolutionDescriptor_t, const cudnnTensorDescriptor_t, const int,
         int *, cudnnConvolutionBwdDataAlgoPerf_t *)
NO_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithm, cudnnHandle_t, const cudnnTensorDescriptor_t,
         const cudnnTensorDescriptor_t, const cudnnConvolutionDescriptor_t, const cudnnFilterDescriptor_t, const int,
         int *, cudnnConvolutionBwdFilterAlgoPerf_t *)
NO_CUDNN(cudnnConvolutionForward, cudnnHandle_t, const void *, const cudnnTensorDescriptor_t, const void *,
         const cudnnFilterDescriptor_t, const void *, const cudnnConvolutionDescriptor_t, cudnnConvolutionFwdAlgo_t,
         void *, size_t, const void *, const cudnnTensorDescriptor_t, void *)
NO_CUDNN(cudnnConvolutionBackwardData, cudnnHandle_t, const void *, const cudnnFilterDescriptor_t, const void *,
         const cudnnTensorDescriptor_t, const void *, const cudnnConvolutionDescriptor_t, cudnnConvolutionBwdDataAlgo_t,
         void *, size_t, const void *, const cudnnTensorDescriptor_t, void *)
NO_CUDNN(cudnnConvolutionBackwardFilter, cudnnHandle_t, const void *, const cudnnTensorDescriptor_t, const void *,
         const cudnnTensorDescriptor_t, const void *, const cudnnConvolutionDescriptor_t,
         cudnnConvolutionBwdFilterAlgo_t, void *, size_t, const void *, const cudnnFilterDescriptor_t, void *)
NO_CUDNN(cudnnBackendCreateDescriptor, cudnnBackendDescriptorType_t, cudnnBackendDescriptor_t *)
NO_CUDNN(cudnnBackendDestroyDescriptor, cudnnBackendDescriptor_t)
NO_CUDNN(cudnnBackendFinalize, cudnnBackendDescriptor_t)
NO_CUDNN(cudnnBackendExecute, cudnnHandle_t, cudnnBackendDescriptor_t, cudnnBackendDescriptor_t)
NO_CUDNN(cudnnBackendSetAttribute, cudnnBackendDescriptor_t, cudnnBackendAttributeName_t, cudnnBackendAttributeType_t,
         int64_t, const void *)
NO_CUDNN(cudnnBackendGetAttribute, cudnnBackendDescriptor_t const, cudnnBackendAttributeName_t,
         cudnnBackendAttributeType_t, int64_t, int64_t *, void *)

} // extern "C"
