/* emu_runtime.cpp: the host side of the CUDA emulation (see cuda_emu.h): the thread blocks as
 * fibers, the CUDA runtime calls src/backends/cuda.cu makes (memory is host memory, a stream runs
 * its work at once or, created with the least priority, as late as it may, see Stream; a capture
 * records and a graph replays), cuBLAS's two products and cuDNN's legacy convolutions as plain
 * loops, and a cuDNN graph API that refuses every descriptor. */
#include "cuda_emu.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cudnn.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include <sys/mman.h>
#include <ucontext.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuda_emu {

ThreadPlace place;

namespace {

/* A block's CUDA threads are fibers on the calling OS thread: each runs until it waits at a barrier
 * (__syncthreads, or a warp operation's) or returns, then the next one runs, in thread order; a
 * barrier lets its waiters go once every thread it counts that has not returned has arrived. A
 * fiber starts once per launch (ucontext) and runs the launch's blocks one after the other;
 * switching is _setjmp/_longjmp, without a system call. Under AddressSanitizer every switch is
 * announced to it. Stacks are mapped once and kept. */
enum { RUN, WAIT, DONE };
const size_t STACK = (size_t)256 << 10;

struct Fiber {
    jmp_buf jb;
    ucontext_t uc;
    char *stack;
    int started, state, wait_on; /* wait_on: -1 the block's barrier, w >= 0 warp w's */
    ThreadPlace place;
    void *fake; /* AddressSanitizer's fake stack of this fiber while it is switched out */
};

struct Block {
    int T, nwarps, cur = 0;
    std::vector<Fiber> f;
    jmp_buf sched;
    /* a barrier: the threads it waits for (those that have not returned) and those arrived */
    struct Barrier {
        int live = 0, count = 0;
    };
    std::vector<Barrier> bars;  /* [0]: __syncthreads; [1 + w]: warp w's */
    std::vector<uint64_t> slot; /* one exchange value per thread */
    const std::function<void()> *fn = nullptr;
    void *fake_main = nullptr;
    const void *main_bottom = nullptr;
    size_t main_size = 0;
    explicit Block(int t)
        : T(t), nwarps((t + 31) / 32), f((size_t)t), bars((size_t)nwarps + 1), slot((size_t)t) {}
    int lanes(int w) const { return T - 32 * w < 32 ? T - 32 * w : 32; }
    Barrier &bar(int w) { return bars[(size_t)(w + 1)]; } /* w = -1: the block's */
};

#ifdef __SANITIZE_ADDRESS__
void asan_start(void **fake, const void *bottom, size_t size) { __sanitizer_start_switch_fiber(fake, bottom, size); }
void asan_finish(void *fake, const void **bottom, size_t *size) { __sanitizer_finish_switch_fiber(fake, bottom, size); }
#else
void asan_start(void **, const void *, size_t) {}
void asan_finish(void *, const void **, size_t *) {}
#endif

/* the stacks of up to 1024 fibers, mapped on first use and kept */
char *stack_of(int i) {
    static char *stacks[1024];
    if (!stacks[i]) {
        void *p = mmap(nullptr, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) { perror("cuda_emu: mmap of a fiber stack"); abort(); }
        stacks[i] = static_cast<char *>(p);
    }
    return stacks[i];
}

Block *my_block() { return static_cast<Block *>(place.ctx); }

/* from fiber f back to the scheduler; returns when the scheduler runs f again */
void to_scheduler(Block &b, Fiber &f) {
    if (_setjmp(f.jb) == 0) {
        asan_start(&f.fake, b.main_bottom, b.main_size);
        _longjmp(b.sched, 1);
    }
    asan_finish(f.fake, &b.main_bottom, &b.main_size);
}

void release(Block &b, int w) {
    b.bar(w).count = 0;
    for (auto &x : b.f)
        if (x.state == WAIT && x.wait_on == w) x.state = RUN;
}

/* the calling thread arrives at barrier w (-1: the block's) */
void arrive(int w) {
    Block &b = *my_block();
    Block::Barrier &x = b.bar(w);
    if (++x.count >= x.live) { release(b, w); return; }
    Fiber &f = b.f[(size_t)place.tid];
    f.state = WAIT;
    f.wait_on = w;
    to_scheduler(b, f);
}

/* a thread returned from the kernel: the barriers stop counting it */
void returned(Block &b, int tid) {
    const int w = tid / 32;
    b.f[(size_t)tid].state = DONE;
    for (int k : {-1, w}) {
        Block::Barrier &x = b.bar(k);
        x.live--;
        if (x.count > 0 && x.count >= x.live) release(b, k);
    }
}

void fiber_main(unsigned hi, unsigned lo) {
    Block &b = *reinterpret_cast<Block *>(((uintptr_t)hi << 32) | lo);
    const int tid = b.cur;
    asan_finish(nullptr, &b.main_bottom, &b.main_size);
    for (;;) { /* one block per round */
        (*b.fn)();
        returned(b, tid);
        to_scheduler(b, b.f[(size_t)tid]);
    }
}

/* from the scheduler into fiber i until it waits or returns */
void run_fiber(Block &b, int i) {
    Fiber &f = b.f[(size_t)i];
    b.cur = i;
    place = f.place;
    if (_setjmp(b.sched) == 0) {
        asan_start(&b.fake_main, f.stack, STACK);
        if (!f.started) {
            f.started = 1;
            setcontext(&f.uc);
        }
        _longjmp(f.jb, 1);
    }
    asan_finish(b.fake_main, nullptr, nullptr);
}

void execute(dim3 grid, dim3 block, const std::function<void()> &fn) {
    const int T = (int)(block.x * block.y * block.z);
    const long nblocks = (long)grid.x * grid.y * grid.z;
    if (T < 1 || T > 1024 || nblocks < 1) {
        fprintf(stderr, "cuda_emu: a launch of %ld blocks of %d threads is not valid\n", nblocks, T);
        abort();
    }
    const ThreadPlace caller = place;
    Block b(T);
    b.fn = &fn;
    const uintptr_t bp = reinterpret_cast<uintptr_t>(&b);
    for (int i = 0; i < T; i++) {
        Fiber &f = b.f[(size_t)i];
        f.stack = stack_of(i);
        f.started = 0;
        f.fake = nullptr;
        if (getcontext(&f.uc) != 0) { perror("cuda_emu: getcontext"); abort(); }
        f.uc.uc_stack.ss_sp = f.stack;
        f.uc.uc_stack.ss_size = STACK;
        f.uc.uc_link = nullptr;
        makecontext(&f.uc, (void (*)())fiber_main, 2, (unsigned)(bp >> 32), (unsigned)(bp & 0xffffffffu));
    }
    for (long bi = 0; bi < nblocks; bi++) {
        b.bar(-1) = {T, 0};
        for (int w = 0; w < b.nwarps; w++) b.bar(w) = {b.lanes(w), 0};
        const uint3 bidx = make_uint3((unsigned)(bi % grid.x), (unsigned)(bi / grid.x % grid.y),
                                      (unsigned)(bi / ((long)grid.x * grid.y)));
        for (int i = 0; i < T; i++) {
            Fiber &f = b.f[(size_t)i];
            f.state = RUN;
            f.place.thread = make_uint3((unsigned)(i % (int)block.x), (unsigned)(i / (int)block.x % (int)block.y),
                                        (unsigned)(i / (int)(block.x * block.y)));
            f.place.block = bidx;
            f.place.bdim = block;
            f.place.gdim = grid;
            f.place.tid = i;
            f.place.ctx = &b;
        }
        for (int done = 0; done < T;) {
            int ran = 0;
            for (int i = 0; i < T; i++)
                if (b.f[(size_t)i].state == RUN) {
                    run_fiber(b, i);
                    ran = 1;
                }
            done = 0;
            for (int i = 0; i < T; i++) done += b.f[(size_t)i].state == DONE;
            if (!ran && done < T) {
                fprintf(stderr, "cuda_emu: block (%u,%u,%u): %d threads wait at a barrier that the others never reach\n",
                        bidx.x, bidx.y, bidx.z, T - done);
                abort();
            }
        }
    }
    place = caller;
}

/* the capture of the (one) stream being recorded, and the recordings */
struct Recording {
    std::vector<std::function<void()>> ops;
    std::vector<const char *> names; /* what each op is (a kernel's name, "memcpy", "cudnn forward"...) */
};
Recording *capturing = nullptr;

/* Runs op now, or records it into the capture */
void run_or_record(const char *name, std::function<void()> op) {
    if (capturing) {
        capturing->ops.push_back(std::move(op));
        capturing->names.push_back(name);
    } else
        op();
}

/* A stream. Work on a stream created with the least priority (the backend's side stream) waits in
 * its queue until something depends on it: another stream waiting for one of its events, a
 * synchronization, the start of a capture. Every other stream runs its work as it is issued. So
 * the side stream's work happens as late as the waits allow, after everything the other stream
 * issued before the wait: a wait the code forgot shows as a wrong result (the side reading
 * operands already overwritten, or its results read before they exist), where a GPU would fail
 * only sometimes. */
struct Stream;
struct Entry {
    enum { OP, MARK, WAIT } kind;
    const char *name;
    std::function<void()> fn;
    Stream *on; /* WAIT: the stream waited for */
    long seq;   /* MARK: this event record's number; WAIT: the record waited for */
};
struct Stream {
    int lazy = 0;
    std::deque<Entry> q;
    long marks = 0, done = 0; /* event records issued, and run, on this stream */
    long capture_mark = -1;   /* marks when the capture began: a capture may not wait for older ones */
};
std::vector<Stream *> streams;

/* Runs stream S's queued work through its event record `seq` (all of it: LONG_MAX) */
void flush(Stream *S, long seq) {
    while (S->done < seq && !S->q.empty()) {
        Entry e = std::move(S->q.front());
        S->q.pop_front();
        if (e.kind == Entry::OP) run_or_record(e.name, std::move(e.fn));
        else if (e.kind == Entry::MARK) S->done = e.seq;
        else flush(e.on, e.seq);
    }
}

void issue(cudaStream_t stream, const char *name, std::function<void()> op) {
    Stream *S = reinterpret_cast<Stream *>(stream);
    if (S && S->lazy) S->q.push_back(Entry{Entry::OP, name, std::move(op), nullptr, 0});
    else run_or_record(name, std::move(op));
}

/* DCGAN_EMU_CENSUS=1: at the end of each capture, how many nodes the graph has and of what kind
 * (on stderr), to count what a change to the backend adds to or takes from an iteration */
void census(const Recording &r) {
    const char *e = getenv("DCGAN_EMU_CENSUS");
    if (!e || strcmp(e, "1") != 0) return;
    std::vector<std::pair<const char *, int>> n;
    for (const char *name : r.names) {
        size_t i = 0;
        while (i < n.size() && strcmp(n[i].first, name) != 0) i++;
        if (i == n.size()) n.push_back({name, 0});
        n[i].second++;
    }
    fprintf(stderr, "cuda_emu: graph of %zu nodes:", r.names.size());
    for (auto &x : n) fprintf(stderr, " %s %d,", x.first, x.second);
    fprintf(stderr, "\n");
}

} // namespace

void syncthreads() { arrive(-1); }

uint64_t shfl_down(unsigned mask, uint64_t v, unsigned delta, int width) {
    (void)mask;
    Block &b = *my_block();
    const int tid = place.tid, w = tid / 32, lane = tid % 32;
    b.slot[(size_t)tid] = v;
    arrive(w);
    uint64_t r = v;
    const int src = lane + (int)delta;
    if (lane % width + (int)delta < width && src < b.lanes(w)) r = b.slot[(size_t)(w * 32 + src)];
    arrive(w); /* nobody writes its slot again before every lane has read */
    return r;
}

unsigned ballot(unsigned mask, int pred) {
    Block &b = *my_block();
    const int tid = place.tid, w = tid / 32;
    b.slot[(size_t)tid] = pred ? 1 : 0;
    arrive(w);
    unsigned bits = 0;
    for (int l = 0; l < b.lanes(w); l++)
        if (b.f[(size_t)(w * 32 + l)].state != DONE && b.slot[(size_t)(w * 32 + l)]) bits |= 1u << l;
    arrive(w);
    return bits & mask;
}

void run_grid(const char *name, dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> fn) {
    issue(stream, name, [grid, block, fn = std::move(fn)]() { execute(grid, block, fn); });
}

} // namespace cuda_emu

using cuda_emu::issue;

/* cuBLAS's product as a plain loop (column-major, summed in k order in float) */
template <typename T> static float as_float(const T *p, size_t i);
template <> float as_float<float>(const float *p, size_t i) { return p[i]; }
template <> float as_float<__nv_bfloat16>(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }

/* a float rounded to TF32 (10 mantissa bits, to nearest, ties away from zero), as the tensor cores
 * read an fp32 operand under tensor-op math (cuDNN's, and cuBLAS's in CUBLAS_TF32_TENSOR_OP_MATH) */
static float tf32(float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & 0xffffe000u;
    memcpy(&v, &b, 4);
    return v;
}

template <typename T>
static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const T *A, int lda,
                 const T *B, int ldb, float beta, float *C, int ldc, bool round_tf32 = false) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = 0.0f;
            for (int l = 0; l < k; l++) {
                float a = ta == CUBLAS_OP_N ? as_float(A, (size_t)l * lda + i) : as_float(A, (size_t)i * lda + l);
                float b = tb == CUBLAS_OP_N ? as_float(B, (size_t)j * ldb + l) : as_float(B, (size_t)l * ldb + j);
                if (round_tf32) a = tf32(a), b = tf32(b);
                s += a * b;
            }
            float *c = &C[(size_t)j * ldc + i];
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
}

/* ------------------------------------------------------------------------------------------------
 * the emulated cuDNN's convolution: one loop nest for the three directions (op 0: y from x and w,
 * 1: x (dx) from y (dy) and w, 2: w (dw) from x and y (dy)), output = alpha * sum + beta * output,
 * summed in float in a fixed order. Operands are float or bf16 by their descriptors; with tensor-op
 * math on float data each operand is rounded to TF32 (10 mantissa bits, to nearest, ties away from
 * zero) as the tensor cores read it. */

static float emu_load(cudnnDataType_t t, const void *p, size_t i) {
    return t == CUDNN_DATA_FLOAT ? static_cast<const float *>(p)[i] : __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
}
static void emu_store(cudnnDataType_t t, void *p, size_t i, float v) {
    if (t == CUDNN_DATA_FLOAT) static_cast<float *>(p)[i] = v;
    else static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(v);
}

struct cudnnTensorStruct;
struct cudnnFilterStruct;
struct cudnnConvolutionStruct;
static cudnnStatus_t emu_conv(cudaStream_t stream, int op, float alpha, float beta, const cudnnTensorStruct &xd, const void *x,
                              const cudnnFilterStruct &wd, const void *w, const cudnnConvolutionStruct &cd,
                              const cudnnTensorStruct &yd, const void *y);

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
/* page-locked host memory is ordinary memory here */
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags) {
    (void)flags;
    *p = malloc(bytes ? bytes : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void *p) {
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    (void)kind;
    issue(s, "memcpy", [=]() { memmove(dst, src, bytes); });
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s) {
    issue(s, "memset", [=]() { memset(p, v, bytes); });
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (s) cuda_emu::flush(reinterpret_cast<cuda_emu::Stream *>(s), LONG_MAX);
    return cudaSuccess;
}
cudaError_t cudaDeviceGetStreamPriorityRange(int *least, int *greatest) {
    *least = 0;
    *greatest = -5;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned flags, int priority) {
    (void)flags;
    cuda_emu::Stream *S = new cuda_emu::Stream;
    S->lazy = priority >= 0; /* the least priority: as late as it may (see Stream) */
    cuda_emu::streams.push_back(S);
    *s = reinterpret_cast<cudaStream_t>(S);
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) { return cudaStreamCreateWithPriority(s, flags, -5); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    cuda_emu::Stream *S = reinterpret_cast<cuda_emu::Stream *>(s);
    cuda_emu::flush(S, LONG_MAX); /* a stream's work completes even when the stream is destroyed */
    for (size_t i = 0; i < cuda_emu::streams.size(); i++)
        if (cuda_emu::streams[i] == S) cuda_emu::streams.erase(cuda_emu::streams.begin() + (long)i);
    delete S;
    return cudaSuccess;
}
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char *cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated CUDA error"; }
cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int *v) { *v = 0; return cudaSuccess; } /* (0: the emulation) */
cudaError_t cudaRuntimeGetVersion(int *v) { *v = 0; return cudaSuccess; }
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
    cuda_emu::Stream *s; /* the stream of the last record, if it was a lazy one, and the record's number */
    long seq;
};
static double now_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = reinterpret_cast<cudaEvent_t>(new EmuEvent{0.0, nullptr, 0});
    return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
    (void)flags;
    return cudaEventCreate(e);
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete reinterpret_cast<EmuEvent *>(e);
    return cudaSuccess;
}
/* An event marks a point of its stream: on a lazy stream the place in its queue, elsewhere "done"
 * (that work already ran). Its time (for the timings of choose()) is taken outside captures only,
 * where a record runs at once; inside a capture a record adds no node, as on a GPU. */
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    EmuEvent *ev = reinterpret_cast<EmuEvent *>(e);
    cuda_emu::Stream *S = reinterpret_cast<cuda_emu::Stream *>(s);
    if (S && S->lazy) {
        ev->s = S;
        ev->seq = ++S->marks;
        S->q.push_back(cuda_emu::Entry{cuda_emu::Entry::MARK, "event", nullptr, nullptr, ev->seq});
    } else {
        ev->s = nullptr;
        if (!cuda_emu::capturing) ev->t = now_ms();
    }
    return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags) {
    (void)flags;
    const EmuEvent *ev = reinterpret_cast<const EmuEvent *>(e);
    if (!ev->s) return cudaSuccess; /* what it marks has run */
    cuda_emu::Stream *S = reinterpret_cast<cuda_emu::Stream *>(s);
    if (S && S->lazy) {
        S->q.push_back(cuda_emu::Entry{cuda_emu::Entry::WAIT, "wait", nullptr, ev->s, ev->seq});
        return cudaSuccess;
    }
    if (cuda_emu::capturing && ev->seq <= ev->s->capture_mark) return cudaErrorStreamCaptureIsolation;
    cuda_emu::flush(ev->s, ev->seq);
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    const EmuEvent *ev = reinterpret_cast<const EmuEvent *>(e);
    if (ev->s) cuda_emu::flush(ev->s, ev->seq);
    return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)(reinterpret_cast<EmuEvent *>(b)->t - reinterpret_cast<EmuEvent *>(a)->t);
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    (void)s; (void)mode;
    if (cuda_emu::capturing) return cudaErrorIllegalState;
    for (cuda_emu::Stream *S : cuda_emu::streams) { /* work from before runs before, outside the capture */
        cuda_emu::flush(S, LONG_MAX);
        S->capture_mark = S->marks;
    }
    cuda_emu::capturing = new cuda_emu::Recording;
    return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    (void)s;
    if (!cuda_emu::capturing) return cudaErrorIllegalState;
    for (cuda_emu::Stream *S : cuda_emu::streams)
        if (!S->q.empty()) { /* a stream that joined the capture has work the capturing one never waited for */
            delete cuda_emu::capturing;
            cuda_emu::capturing = nullptr;
            return cudaErrorStreamCaptureUnjoined;
        }
    *g = reinterpret_cast<cudaGraph_t>(cuda_emu::capturing);
    cuda_emu::census(*cuda_emu::capturing);
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
    const cuda_emu::Recording &r = *reinterpret_cast<cuda_emu::Recording *>(e);
    for (size_t i = 0; i < r.ops.size(); i++) cuda_emu::issue(s, r.names[i], r.ops[i]);
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------------
 * cuBLAS: column-major C = alpha op(A) op(B) + beta C, summed in k order in float */

/* a library's handle holds its stream here: create, destroy and the stream setter of cuBLAS and cuDNN */
#define EMU_HANDLE(Ctx, Status, ok, create, destroy, set_stream)                 \
    struct Ctx {                                                                 \
        cudaStream_t stream;                                                     \
        bool tf32; /* cuBLAS: CUBLAS_TF32_TENSOR_OP_MATH set */                  \
    };                                                                           \
    Status create(Ctx **h) {                                                     \
        *h = new Ctx{nullptr, false};                                            \
        return ok;                                                               \
    }                                                                            \
    Status destroy(Ctx *h) {                                                     \
        delete h;                                                                \
        return ok;                                                               \
    }                                                                            \
    Status set_stream(Ctx *h, cudaStream_t s) {                                  \
        h->stream = s;                                                           \
        return ok;                                                               \
    }
EMU_HANDLE(cublasContext, cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasCreate_v2, cublasDestroy_v2, cublasSetStream_v2)
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *ws, size_t bytes) {
    (void)h; (void)ws; (void)bytes;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
    h->tf32 = (m & CUBLAS_TF32_TENSOR_OP_MATH) != 0;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                              float *C, int ldc) {
    const float al = *alpha, be = *beta;
    const bool t = h->tf32;
    issue(h->stream, "cublas gemm", [=]() { gemm<float>(ta, tb, m, n, k, al, A, lda, B, ldb, be, C, ldc, t); });
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                            int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t comp,
                            cublasGemmAlgo_t algo) {
    (void)algo;
    if (ct != CUDA_R_32F || at != bt || (at != CUDA_R_32F && at != CUDA_R_16BF)) return CUBLAS_STATUS_NOT_SUPPORTED;
    const float al = *static_cast<const float *>(alpha), be = *static_cast<const float *>(beta);
    float *c = static_cast<float *>(C);
    const bool t = h->tf32 && at == CUDA_R_32F && comp != CUBLAS_COMPUTE_32F_PEDANTIC;
    if (at == CUDA_R_32F)
        issue(h->stream, "cublas gemm", [=]() { gemm<float>(ta, tb, m, n, k, al, (const float *)A, lda, (const float *)B, ldb, be, c, ldc, t); });
    else
        issue(h->stream, "cublas gemm", [=]() {
            gemm<__nv_bfloat16>(ta, tb, m, n, k, al, (const __nv_bfloat16 *)A, lda, (const __nv_bfloat16 *)B, ldb, be,
                                c, ldc);
        });
    return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"

/* (the cuDNN functions below keep the C linkage of their declarations in cudnn.h) */

/* ------------------------------------------------------------------------------------------------
 * cuDNN: the legacy convolution API as plain loops (one deterministic algorithm per direction; with
 * tensor-op math on float data the operands are rounded to TF32 first, as the GPU's tensor cores
 * take them), and a graph (backend) API that refuses every descriptor */

EMU_HANDLE(cudnnContext, cudnnStatus_t, CUDNN_STATUS_SUCCESS, cudnnCreate, cudnnDestroy, cudnnSetStream)
const char *cudnnGetErrorString(cudnnStatus_t s) {
    return s == CUDNN_STATUS_SUCCESS ? "success" : "refused by the emulated cuDNN (tests/cuda_emu)";
}

struct cudnnTensorStruct {
    cudnnDataType_t t;
    int dim[4], str[4]; /* n, c, h, w */
};
struct cudnnFilterStruct {
    cudnnDataType_t t;
    cudnnTensorFormat_t f;
    int k, c, h, w;
};
struct cudnnConvolutionStruct {
    int pad_h, pad_w, u, v, dil_h, dil_w;
    cudnnMathType_t math;
};

/* DCGAN_EMU_CONV_SUM=double: each convolution's sums are taken in double and rounded to float once,
 * instead of in float term by term: another order of rounding for the same sum, as a GPU's kernels
 * have against the CPU's (read at each call, so a test can set it per process; unset or "float":
 * term by term; anything else is refused) */
static bool conv_sums_in_double() {
    const char *e = getenv("DCGAN_EMU_CONV_SUM");
    if (!e || !*e || !strcmp(e, "float")) return false;
    if (strcmp(e, "double") != 0) {
        fprintf(stderr, "cuda_emu: DCGAN_EMU_CONV_SUM=%s: use float or double\n", e);
        exit(2);
    }
    return true;
}

/* DCGAN_EMU_CONV_NOISE=SEED (a whole number above 0): each convolution output is moved by -2 to +2
 * float ulps before it is stored (and rounded to bf16 where its tensor is bf16), the amount hashed
 * from the seed, the output's index and its value: a stand-in for the other rounding orders of
 * a GPU's kernels, one per seed, to see how far the same arithmetic summed otherwise can part
 * (bench/gpu/NOTES.md). A function of the values alone, so graph replay still gives the same bits. */
static unsigned long long conv_noise_seed() {
    const char *e = getenv("DCGAN_EMU_CONV_NOISE");
    if (!e || !*e) return 0;
    char *end;
    const unsigned long long v = strtoull(e, &end, 10);
    if (*end || e[0] == '-') {
        fprintf(stderr, "cuda_emu: DCGAN_EMU_CONV_NOISE=%s: use a whole number (0: off)\n", e);
        exit(2);
    }
    return v;
}
static float conv_noise(float v, unsigned long long seed, size_t i) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    unsigned long long h = seed * 0x9E3779B97F4A7C15ULL ^ (unsigned long long)i * 0xBF58476D1CE4E5B9ULL ^
                           (unsigned long long)bits * 0x94D049BB133111EBULL;
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    const int k = (int)(h % 5) - 2;
    for (int j = 0; j < (k < 0 ? -k : k); j++) v = nextafterf(v, k < 0 ? -INFINITY : INFINITY);
    return v;
}

/* defined after the descriptors */
static cudnnStatus_t emu_conv(cudaStream_t stream, int op, float alpha, float beta, const cudnnTensorStruct &xd, const void *x,
                              const cudnnFilterStruct &wd, const void *w, const cudnnConvolutionStruct &cd,
                              const cudnnTensorStruct &yd, const void *y) {
    const int N = xd.dim[0], C = xd.dim[1], H = xd.dim[2], W = xd.dim[3];
    const int K = yd.dim[1], P = yd.dim[2], Q = yd.dim[3], R = wd.h, S = wd.w;
    if (yd.dim[0] != N || wd.k != K || wd.c != C) return CUDNN_STATUS_BAD_PARAM;
    const bool round_tf32 = (cd.math == CUDNN_TENSOR_OP_MATH || cd.math == CUDNN_DEFAULT_MATH) && xd.t == CUDNN_DATA_FLOAT;
    const bool in_double = conv_sums_in_double();
    const unsigned long long noise = conv_noise_seed();
    /* the filter's element (k, c, r, s): KCRS, or KRSC for the NHWC format */
    /* (everything by value: a capture replays this later) */
    const cudnnTensorFormat_t wf = wd.f;
    auto widx = [=](int k, int c, int r, int s2) -> size_t {
        return wf == CUDNN_TENSOR_NCHW ? (((size_t)k * C + c) * R + r) * S + s2 : (((size_t)k * R + r) * S + s2) * C + c;
    };
    auto tidx = [](const cudnnTensorStruct &d, int n, int c, int h, int w2) -> size_t {
        return (size_t)n * d.str[0] + (size_t)c * d.str[1] + (size_t)h * d.str[2] + (size_t)w2 * d.str[3];
    };
    auto rd = [=](cudnnDataType_t t, const void *p, size_t i) {
        const float v = emu_load(t, p, i);
        return round_tf32 ? tf32(v) : v;
    };
    static const char *const op_names[3] = {"cudnn forward", "cudnn backward-data", "cudnn backward-filter"};
    issue(stream, op_names[op], [=]() {
        /* the operands as dense float arrays (NCHW, KCRS), rounded as the math type reads them */
        std::vector<float> X((size_t)N * C * H * W), Wt((size_t)K * C * R * S), Y((size_t)N * K * P * Q);
        if (op != 1)
            for (int n = 0; n < N; n++) for (int c = 0; c < C; c++) for (int h = 0; h < H; h++) for (int w2 = 0; w2 < W; w2++)
                X[(((size_t)n * C + c) * H + h) * W + w2] = rd(xd.t, x, tidx(xd, n, c, h, w2));
        if (op != 2)
            for (int k = 0; k < K; k++) for (int c = 0; c < C; c++) for (int r = 0; r < R; r++) for (int s2 = 0; s2 < S; s2++)
                Wt[(((size_t)k * C + c) * R + r) * S + s2] = rd(wd.t, w, widx(k, c, r, s2));
        if (op != 0)
            for (int n = 0; n < N; n++) for (int k = 0; k < K; k++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++)
                Y[(((size_t)n * K + k) * P + p) * Q + q] = rd(yd.t, y, tidx(yd, n, k, p, q));
        auto put = [=](cudnnDataType_t t, void *dst, size_t i, float sum) {
            if (noise) sum = conv_noise(sum, noise, i);
            emu_store(t, dst, i, beta == 0.0f ? alpha * sum : alpha * sum + beta * emu_load(t, dst, i));
        };
        /* the sums, in the accumulator's type (float, or double: see conv_sums_in_double) */
        auto sums = [&](auto zero) {
            using Acc = decltype(zero);
            if (op == 0) {
                for (int n = 0; n < N; n++) for (int k = 0; k < K; k++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
                    Acc sum = 0;
                    for (int c = 0; c < C; c++) for (int r = 0; r < R; r++) {
                        const int h = p * cd.u - cd.pad_h + r;
                        if (h < 0 || h >= H) continue;
                        const float *xr = &X[(((size_t)n * C + c) * H + h) * W], *wr = &Wt[(((size_t)k * C + c) * R + r) * S];
                        for (int s2 = 0; s2 < S; s2++) {
                            const int w2 = q * cd.v - cd.pad_w + s2;
                            if (w2 >= 0 && w2 < W) sum += (Acc)xr[w2] * wr[s2];
                        }
                    }
                    put(yd.t, const_cast<void *>(y), tidx(yd, n, k, p, q), (float)sum);
                }
            } else if (op == 1) {
                for (int n = 0; n < N; n++) for (int c = 0; c < C; c++) for (int h = 0; h < H; h++) for (int w2 = 0; w2 < W; w2++) {
                    Acc sum = 0;
                    for (int k = 0; k < K; k++) for (int r = 0; r < R; r++) {
                        const int ph = h + cd.pad_h - r;
                        if (ph < 0 || ph % cd.u || ph / cd.u >= P) continue;
                        const float *yr = &Y[(((size_t)n * K + k) * P + ph / cd.u) * Q], *wr = &Wt[(((size_t)k * C + c) * R + r) * S];
                        for (int s2 = 0; s2 < S; s2++) {
                            const int qw = w2 + cd.pad_w - s2;
                            if (qw >= 0 && qw % cd.v == 0 && qw / cd.v < Q) sum += (Acc)yr[qw / cd.v] * wr[s2];
                        }
                    }
                    put(xd.t, const_cast<void *>(x), tidx(xd, n, c, h, w2), (float)sum);
                }
            } else {
                for (int k = 0; k < K; k++) for (int c = 0; c < C; c++) for (int r = 0; r < R; r++) for (int s2 = 0; s2 < S; s2++) {
                    Acc sum = 0;
                    for (int n = 0; n < N; n++) for (int p = 0; p < P; p++) {
                        const int h = p * cd.u - cd.pad_h + r;
                        if (h < 0 || h >= H) continue;
                        const float *xr = &X[(((size_t)n * C + c) * H + h) * W], *yr = &Y[(((size_t)n * K + k) * P + p) * Q];
                        for (int q = 0; q < Q; q++) {
                            const int w2 = q * cd.v - cd.pad_w + s2;
                            if (w2 >= 0 && w2 < W) sum += (Acc)xr[w2] * yr[q];
                        }
                    }
                    put(wd.t, const_cast<void *>(w), widx(k, c, r, s2), (float)sum);
                }
            }
        };
        if (in_double) sums(0.0);
        else sums(0.0f);
    });
    return CUDNN_STATUS_SUCCESS;
}

size_t cudnnGetVersion(void) { return 0; }
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
    *d = new cudnnTensorStruct();
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
    *d = new cudnnFilterStruct();
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
    *d = new cudnnConvolutionStruct();
    (*d)->math = CUDNN_DEFAULT_MATH;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
static bool emu_type(cudnnDataType_t t) { return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_BFLOAT16; }
cudnnStatus_t cudnnSetTensor4dDescriptorEx(cudnnTensorDescriptor_t d, cudnnDataType_t t, int n, int c, int h, int w,
                                           int ns, int cs, int hs, int ws) {
    if (!emu_type(t) || n < 1 || c < 1 || h < 1 || w < 1) return CUDNN_STATUS_BAD_PARAM;
    *d = cudnnTensorStruct{t, {n, c, h, w}, {ns, cs, hs, ws}};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f, int k,
                                         int c, int h, int w) {
    if (!emu_type(t) || (f != CUDNN_TENSOR_NCHW && f != CUDNN_TENSOR_NHWC)) return CUDNN_STATUS_BAD_PARAM;
    *d = cudnnFilterStruct{t, f, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw, int u, int v, int dh,
                                              int dw, cudnnConvolutionMode_t mode, cudnnDataType_t compute) {
    if (mode != CUDNN_CROSS_CORRELATION || compute != CUDNN_DATA_FLOAT || u < 1 || v < 1 || dh != 1 || dw != 1)
        return CUDNN_STATUS_NOT_SUPPORTED;
    d->pad_h = ph; d->pad_w = pw; d->u = u; d->v = v; d->dil_h = dh; d->dil_w = dw;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
    d->math = m;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t cd, const cudnnTensorDescriptor_t x,
                                                    const cudnnFilterDescriptor_t w, int *n, int *c, int *h, int *wo) {
    *n = x->dim[0];
    *c = w->k;
    *h = (x->dim[2] + 2 * cd->pad_h - w->h) / cd->u + 1;
    *wo = (x->dim[3] + 2 * cd->pad_w - w->w) / cd->v + 1;
    return CUDNN_STATUS_SUCCESS;
}

/* one algorithm (number 0) per direction: deterministic, no workspace, the descriptor's math type */
template <typename Perf, typename Algo>
static cudnnStatus_t emu_find(const cudnnConvolutionDescriptor_t cd, int want, int *got, Perf *r) {
    if (want < 1) return CUDNN_STATUS_BAD_PARAM;
    memset(r, 0, sizeof *r);
    r->algo = (Algo)0;
    r->status = CUDNN_STATUS_SUCCESS;
    r->time = 0.01f;
    r->memory = 0;
    r->determinism = CUDNN_DETERMINISTIC;
    r->mathType = cd->math;
    *got = 1;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t, const cudnnTensorDescriptor_t,
                                                   const cudnnFilterDescriptor_t, const cudnnConvolutionDescriptor_t cd,
                                                   const cudnnTensorDescriptor_t, const int want, int *got,
                                                   cudnnConvolutionFwdAlgoPerf_t *r) {
    return emu_find<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(cd, want, got, r);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t, const cudnnFilterDescriptor_t,
                                                        const cudnnTensorDescriptor_t, const cudnnConvolutionDescriptor_t cd,
                                                        const cudnnTensorDescriptor_t, const int want, int *got,
                                                        cudnnConvolutionBwdDataAlgoPerf_t *r) {
    return emu_find<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(cd, want, got, r);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t, const cudnnTensorDescriptor_t,
                                                          const cudnnTensorDescriptor_t,
                                                          const cudnnConvolutionDescriptor_t cd,
                                                          const cudnnFilterDescriptor_t, const int want, int *got,
                                                          cudnnConvolutionBwdFilterAlgoPerf_t *r) {
    return emu_find<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(cd, want, got, r);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd, const void *x,
                                      const cudnnFilterDescriptor_t wd, const void *w,
                                      const cudnnConvolutionDescriptor_t cd, cudnnConvolutionFwdAlgo_t, void *, size_t,
                                      const void *beta, const cudnnTensorDescriptor_t yd, void *y) {
    return emu_conv(h->stream, 0, *(const float *)alpha, *(const float *)beta, *xd, x, *wd, w, *cd, *yd, y);
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, const cudnnFilterDescriptor_t wd,
                                           const void *w, const cudnnTensorDescriptor_t yd, const void *dy,
                                           const cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdDataAlgo_t, void *,
                                           size_t, const void *beta, const cudnnTensorDescriptor_t xd, void *dx) {
    return emu_conv(h->stream, 1, *(const float *)alpha, *(const float *)beta, *xd, dx, *wd, w, *cd, *yd, dy);
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd,
                                             const void *x, const cudnnTensorDescriptor_t yd, const void *dy,
                                             const cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdFilterAlgo_t,
                                             void *, size_t, const void *beta, const cudnnFilterDescriptor_t wd, void *dw) {
    return emu_conv(h->stream, 2, *(const float *)alpha, *(const float *)beta, *xd, x, *wd, dw, *cd, *yd, dy);
}
#define NO_CUDNN(name, ...) \
    cudnnStatus_t name(__VA_ARGS__) { return CUDNN_STATUS_NOT_SUPPORTED; }
NO_CUDNN(cudnnBackendCreateDescriptor, cudnnBackendDescriptorType_t, cudnnBackendDescriptor_t *)
NO_CUDNN(cudnnBackendDestroyDescriptor, cudnnBackendDescriptor_t)
NO_CUDNN(cudnnBackendFinalize, cudnnBackendDescriptor_t)
NO_CUDNN(cudnnBackendExecute, cudnnHandle_t, cudnnBackendDescriptor_t, cudnnBackendDescriptor_t)
NO_CUDNN(cudnnBackendSetAttribute, cudnnBackendDescriptor_t, cudnnBackendAttributeName_t, cudnnBackendAttributeType_t,
         int64_t, const void *)
NO_CUDNN(cudnnBackendGetAttribute, cudnnBackendDescriptor_t const, cudnnBackendAttributeName_t,
         cudnnBackendAttributeType_t, int64_t, int64_t *, void *)


