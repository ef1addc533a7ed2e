/* rt_cuda.h - the CUDA target's piece of the runtime: what a generated
 * per-rank CUDA program (codegen/cuda_backend.c) calls besides runtime/dtrt.h.
 *
 * A CUDA program is an ordinary rt_program (rt_main does options, checks,
 * inputs, outputs, timing) whose `run` works on the GPU:
 *
 *   int main(argc, argv)  ->  rt_cuda_main: start-up checks (a usable GPU,
 *                             a recent enough driver, code for this GPU's
 *                             architecture, one GPU per local rank unless
 *                             collectives are host-staged), then rt_main.
 *   run(ctx, params, results):
 *       cu = rt_cuda_begin(ctx, prog, params)   first call on a rank: pick
 *            the GPU (local rank modulo the local GPU count), one stream, a
 *            cuBLAS handle, ONE device allocation for parameters, results,
 *            workspace and scratch, copy the parameters up, create the
 *            NCCL communicators; later calls: nothing (parameters do not
 *            change between iterations).
 *       ... kernels on cu->stream, rt_cuda_matmul, rt_cuda_<collective> ...
 *       rt_cuda_end(ctx, cu, results)           copy the results down, wait
 *            for the stream, report a failed data check or CUDA error.
 *
 * Collectives (exact member lengths, nothing padded) run in one of two modes
 * chosen by DT_COMM at start-up:
 *   NCCL (default; DT_COMM=nccl):  one communicator per subset of mesh axes
 *        the program uses (unique id broadcast by member 0 over the host
 *        backend: MPI under mpirun, threads with --ranks), every call on
 *        the compute stream.  Needs one GPU per rank.
 *   host-staged (DT_COMM=mpi under mpirun, DT_COMM=threads with --ranks):
 *        device -> pinned host -> the runtime's rt_* collective -> device.
 *        Several ranks may share one GPU.
 *
 * GEMMs: f32 is strict f32 unless DT_TF32=1 (TF32 tensor cores); f16 and
 * bf16 accumulate in f32.
 *
 * Device-side data checks (embedding ids, labels) record the first
 * failure in cu->error; rt_cuda_end turns it into the same rt_fail message
 * the CPU kernels give ("FILE:LINE:COL: embedding: id 7 at position 3 is
 * out of range [0, 5)").
 *
 * This header is C and C++ (the generated .cu includes it).
 */
#ifndef RT_CUDA_H
#define RT_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#ifndef _Noreturn
#define _Noreturn [[noreturn]] /* dtrt.h is C11 */
#endif
extern "C" {
#endif

#include "runtime/dtrt.h"

/* Host workspace a CUDA program declares (rt_program.workspace_bytes): it
 * holds the rank's rt_cuda pointer, so the state lives as long as the run. */
#define RT_CUDA_HOST_WORKSPACE 64

/* What a device-side check found (the first failure of a run). */
typedef struct rt_cuda_error {
    int flag;              /* 0: nothing failed */
    int check;             /* index into rt_cuda_program.checks */
    long long pos;         /* position of the bad id / row of the bad label */
    long long value;       /* the bad value */
    long long bound;       /* valid values are [0, bound) */
} rt_cuda_error;

/* A data check in the generated code, for its message. */
typedef struct rt_cuda_check {
    const char *where;     /* "FILE:LINE:COL" of the op */
    const char *op;        /* "embedding", "pick", "cross_entropy" */
    const char *what;      /* "id", "label" */
    const char *at;        /* "position", "row" */
} rt_cuda_datacheck;

/* What the generated code describes, statically, next to its rt_program. */
typedef struct rt_cuda_program {
    const rt_program *prog;
    const char *arch;          /* the --cuda-arch it was built for (messages) */
    const void *probe;         /* one of its __global__ functions: is there code
                                  for this GPU? */
    size_t workspace_bytes;    /* device workspace per rank (max over variants) */
    size_t scratch_bytes;      /* device scratch for collectives and kernels */
    uint32_t comm_sets;        /* bit s set: collectives over the axes mask s */
    int nchecks;
    const rt_cuda_datacheck *checks;
} rt_cuda_program;

/* One rank's device state.  The fields are for generated code to read. */
typedef struct rt_cuda {
    cudaStream_t stream;       /* every kernel, copy, GEMM and NCCL call */
    cublasHandle_t blas;       /* bound to stream */
    void **params;             /* device copies of the local parameter shards */
    void **results;            /* device buffers of the local result shards */
    char *workspace;           /* device workspace (lower.c's offsets) */
    char *scratch;             /* device scratch */
    rt_cuda_error *error;      /* device: first failed data check */
    struct rt_cuda_priv *priv; /* the runtime's own */
} rt_cuda;

/* The program's main: start-up checks, then rt_main.  Returns the exit
 * status (non-zero with "PROG: error: no usable CUDA GPU: ..." and the like
 * when the checks fail; printed once, by rank 0). */
int rt_cuda_main(int argc, char **argv, const rt_cuda_program *cp);

/* Start / end of one call of `run` on a rank (see above). */
rt_cuda *rt_cuda_begin(rt_ctx *ctx, const rt_cuda_program *cp, void *const *params);
void rt_cuda_end(rt_ctx *ctx, rt_cuda *cu, void *const *results);

/* Fails the run (rt_fail) with "WHAT: CUDA error: ..." unless e is
 * cudaSuccess; rt_cuda_launched checks the last kernel launch. */
void rt_cuda_check(rt_ctx *ctx, cudaError_t e, const char *what);
void rt_cuda_launched(rt_ctx *ctx, const char *what);

/* Profiling (--profile): the stream is drained at both ends of a region so
 * the time is the GPU's.  No-ops otherwise. */
void rt_cuda_prof_begin(rt_ctx *ctx, rt_cuda *cu, const char *name, int64_t bytes);
void rt_cuda_prof_end(rt_ctx *ctx, rt_cuda *cu);

/* dtk_matmul's contract (runtime/dtrt_kernels.h) on device buffers: cuBLAS
 * for f32 (Sgemm), f64 (Dgemm), f16 / bf16 (GemmEx, f32 accumulation),
 * strided-batched over the last batch dim; a kernel for i32. */
void rt_cuda_matmul(rt_ctx *ctx, rt_cuda *cu, const char *what, rt_dtype dt, int nbatch,
                    const int64_t *batch_dims, const int64_t *a_bstride, const int64_t *b_bstride,
                    int64_t M, int64_t N, int64_t K, int ta, int tb, const void *a, const void *b,
                    void *c);

/* dst = src, bytes, on the stream. */
void rt_cuda_copy(rt_ctx *ctx, rt_cuda *cu, void *dst, const void *src, size_t bytes);

/* The collectives of runtime/dtrt.h on device buffers (same arguments). */
void rt_cuda_all_reduce(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt, void *buf,
                        int64_t count, rt_red red);
void rt_cuda_all_gather(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt, const void *send,
                        void *recv, int rank, const int64_t *local_dims, int dim,
                        const int64_t *member_lens);
void rt_cuda_reduce_scatter(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt,
                            const void *send, void *recv, int rank, const int64_t *send_dims,
                            int dim, const int64_t *member_lens, rt_red red);
void rt_cuda_all_to_all(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt, const void *send,
                        void *recv, int rank, const int64_t *send_dims, int split_dim,
                        const int64_t *split_lens, int cat_dim, const int64_t *cat_lens);
void rt_cuda_collective_permute(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt,
                                const void *send, void *recv, int64_t count, int dest, int src);

/* ---- device helpers in rt_cuda_kernels.cu (host launchers) ------------------ */
/* Copies a box like rt_copy_box, on the device, esize 1, 2, 4 or 8. */
cudaError_t rt_cuda_copy_box(cudaStream_t st, size_t esize, int rank, const int64_t *box,
                             void *dst, const int64_t *ddims, const int64_t *doff,
                             const void *src, const int64_t *sdims, const int64_t *soff);
/* buf[i] /= k (P(avg) after a sum; i32 truncates). */
cudaError_t rt_cuda_divide(cudaStream_t st, rt_dtype dt, void *buf, int64_t n, int k);
/* c[t] = op(a[t]) @ op(b[t]) in wrapping int32 for t < batches (strides sa,
 * sb elements; c dense). */
cudaError_t rt_cuda_matmul_i32(cudaStream_t st, int64_t batches, int64_t sa, int64_t sb,
                               int64_t M, int64_t N, int64_t K, int ta, int tb,
                               const int32_t *a, const int32_t *b, int32_t *c);
/* A kernel of the runtime itself (architecture probe). */
const void *rt_cuda_kernel_probe(void);

#ifdef __cplusplus
}
#endif

#endif
