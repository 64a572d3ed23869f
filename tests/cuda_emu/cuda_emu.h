/* cuda_emu.h: a CPU emulation of the CUDA dialect that src/backends/cuda.cu uses, so that the CUDA
 * backend -- its own kernels and all its host code -- can be compiled by g++ and tested on a machine
 * without a GPU. Included first (g++ -include) when cuda.cu is built with DCGAN_CUDA_EMU;
 * emu_runtime.cpp supplies the CUDA runtime, cuBLAS's products and cuDNN's legacy convolutions on
 * the host (its graph API refuses every descriptor, so the backend takes the legacy algorithms).
 *
 * Execution model: a launch runs its blocks one after the other; a block's threads are fibers that
 * run in turn until each waits at a barrier or returns, so __syncthreads and the warp operations
 * (__shfl_down_sync, __ballot_sync) really wait for the other threads, and a kernel that reads what
 * another thread writes without a barrier between them gets an answer that depends on the order
 * (which a wrong result then shows). Threads that return early leave the barriers, as exited
 * threads do on a GPU. __shared__ variables are function statics: one copy, which the block running
 * owns. Arithmetic is the host's IEEE float and double without contraction (-ffp-contract=off, as
 * nvcc's --fmad=false): __fmul_rn and the like are plain operations. A stream runs its work as it
 * is issued, except one created with the least priority (the backend's side stream), whose work
 * waits until another stream waits for it (emu_runtime.cpp's Stream), so that a missing wait gives
 * a wrong result. Launches, copies and library calls issued while the stream is being captured are
 * recorded, and a graph launch runs the recording again, as a CUDA graph does.
 * DCGAN_EMU_CENSUS=1 prints what each recorded graph holds (kernels by name, library calls).
 *
 * This is test code: the emulated device's state (the capture, the fiber stacks) is process-global,
 * as a GPU's is. */
#ifndef DCGAN_CUDA_EMU_H
#define DCGAN_CUDA_EMU_H

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>

namespace cuda_emu {

/* the calling CUDA thread's place; set by the launch */
struct ThreadPlace {
    uint3 thread, block;
    dim3 bdim, gdim;
    int tid;    /* linear index in the block */
    void *ctx;  /* the running block's fibers and barriers (emu_runtime.cpp) */
};
extern ThreadPlace place; /* the CUDA thread running (the emulation runs on one OS thread) */

void syncthreads();
/* the warp operations on raw 8-byte values */
uint64_t shfl_down(unsigned mask, uint64_t v, unsigned delta, int width);
unsigned ballot(unsigned mask, int pred);

/* Runs fn once for every thread of the grid, with `place` set to that thread (blocks in order, the
 * threads of a block as fibers, see emu_runtime.cpp), or records that when the stream is being
 * captured. */
void run_grid(const char *name, dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> fn);

template <typename... P> struct Launcher {
    const char *name; /* the kernel's, for DCGAN_EMU_CENSUS */
    void (*k)(P...);
    dim3 grid, block;
    cudaStream_t stream;
    /* the arguments convert to the kernel's parameter types here and are copied, as a launch
     * copies its parameters */
    void operator()(P... args) const {
        void (*kernel)(P...) = k;
        run_grid(name, grid, block, stream, [kernel, args...]() { kernel(args...); });
    }
};
template <typename... P>
Launcher<P...> launch(const char *name, void (*k)(P...), dim3 grid, dim3 block, cudaStream_t stream) {
    return Launcher<P...>{name, k, grid, block, stream};
}

} // namespace cuda_emu

#define threadIdx (cuda_emu::place.thread)
#define blockIdx (cuda_emu::place.block)
#define blockDim (cuda_emu::place.bdim)
#define gridDim (cuda_emu::place.gdim)

static inline void __syncthreads() { cuda_emu::syncthreads(); }

template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    uint64_t raw = 0;
    std::memcpy(&raw, &v, sizeof(T));
    raw = cuda_emu::shfl_down(mask, raw, delta, width);
    T out;
    std::memcpy(&out, &raw, sizeof(T));
    return out;
}
static inline unsigned __ballot_sync(unsigned mask, int pred) { return cuda_emu::ballot(mask, pred); }

static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
#ifndef min
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline size_t min(size_t a, size_t b) { return a < b ? a : b; }
#endif

#endif
