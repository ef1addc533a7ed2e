/* emu_device.h - emulation: the device side of CUDA C++ on the host, for
 * running generated kernels without a GPU (tests/gpu/test_cuda_emu.sh).
 *
 * A launch runs its blocks one after another; the threads of a block are
 * fibers (ucontext) scheduled round-robin in the calling OS thread, so
 * __syncthreads and warp shuffles are real rendezvous: a kernel whose
 * threads diverge around one deadlocks here as it would misbehave on a GPU,
 * and the emulation says so.  __shared__ is per OS thread (ranks of a
 * --ranks run are OS threads), which is per block since blocks run in turn.
 * The launch syntax k<<<g, b, s, st>>>(args) is rewritten to
 * emu_launch(g, b, s, st, [=] { k(args); }) before compiling (emu_cu.py).
 */
#ifndef EMU_DEVICE_H
#define EMU_DEVICE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <functional>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ thread_local static

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

extern thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

/* Rendezvous of the block's threads / of the calling thread's warp. */
void __syncthreads(void);
void emu_warp_barrier(void);
/* 8 bytes per lane of the calling thread's warp. */
uint64_t *emu_warp_slots(void);

template <class T> T __shfl_xor_sync(unsigned, T v, int lanemask)
{
    static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
    uint64_t *slot = emu_warp_slots();
    int lane = threadIdx.x & 31;
    memcpy(&slot[lane], &v, sizeof v);
    emu_warp_barrier();
    T r;
    memcpy(&r, &slot[lane ^ lanemask], sizeof r);
    emu_warp_barrier();
    return r;
}

/* Fibers are never preempted: plain read-modify-write is atomic. */
static inline int atomicCAS(int *p, int cmp, int val)
{
    int old = *p;
    if (old == cmp)
        *p = val;
    return old;
}

/* Runs body once per thread of grid x block (x dimension only). */
void emu_launch(dim3 grid, dim3 block, size_t shmem, cudaStream_t st, std::function<void()> body);

#endif
