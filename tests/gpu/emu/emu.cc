/* emu.cc - emulation of the CUDA runtime, cuBLAS and NCCL on the host, for
 * running the CUDA target's generated programs and runtime without a GPU
 * (tests/gpu/test_cuda_emu.sh).  It checks what it can: launch
 * configurations, cuBLAS's leading-dimension rules, that every member of an
 * NCCL group makes matching calls, and it reports deadlocked kernels.
 *
 *   runtime   device memory is host memory; streams are synchronous
 *   kernels   emu_launch: blocks in turn, a block's threads as fibers
 *   cuBLAS    column-major GEMMs as loops (f32 / f64 / f16 / bf16)
 *   NCCL      communicators between the threads of one process, found by
 *             unique id; a collective (or a group of them) is a rendezvous
 *             of the members: post buffers, barrier, compute own outputs
 *             into temporaries, barrier, write them; send / recv go through
 *             per-pair mailboxes, so only the two ranks take part
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "cuda_runtime_api.h"
#include "emu_device.h"
#include "nccl.h"

static void emu_die(const char *msg)
{
    fprintf(stderr, "emu: %s\n", msg);
    fflush(stderr);
    abort();
}

/* ---- runtime ------------------------------------------------------------------- */

static thread_local cudaError_t last_error = cudaSuccess;

extern "C" cudaError_t cudaGetDeviceCount(int *n)
{
    const char *s = getenv("EMU_GPUS");
    *n = s ? atoi(s) : 1;
    return *n > 0 ? cudaSuccess : cudaErrorNoDevice;
}
extern "C" cudaError_t cudaSetDevice(int) { return cudaSuccess; }
extern "C" cudaError_t cudaDriverGetVersion(int *v)
{
    *v = CUDART_VERSION;
    return cudaSuccess;
}
extern "C" cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr a, int)
{
    *v = a == cudaDevAttrComputeCapabilityMajor ? 9 : 0;
    return cudaSuccess;
}
extern "C" cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *a, const void *fn)
{
    a->maxThreadsPerBlock = 1024;
    return fn ? cudaSuccess : cudaErrorInvalidDeviceFunction;
}
struct emu_stream {
    int dummy;
};
extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned)
{
    *s = new emu_stream();
    return cudaSuccess;
}
extern "C" cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    delete s;
    return cudaSuccess;
}
extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
extern "C" cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
extern "C" cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = aligned_alloc(256, (n + 255) / 256 * 256 + 256);
    if (!*p)
        return cudaErrorMemoryAllocation;
    memset(*p, 0xA5, n); /* garbage, as fresh device memory is */
    return cudaSuccess;
}
extern "C" cudaError_t cudaFree(void *p)
{
    free(p);
    return cudaSuccess;
}
extern "C" cudaError_t cudaMallocHost(void **p, size_t n) { return cudaMalloc(p, n); }
extern "C" cudaError_t cudaFreeHost(void *p) { return cudaFree(p); }
extern "C" cudaError_t cudaMemcpy(void *d, const void *s, size_t n, enum cudaMemcpyKind)
{
    if (n)
        memmove(d, s, n);
    return cudaSuccess;
}
extern "C" cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, enum cudaMemcpyKind k,
                                       cudaStream_t)
{
    return cudaMemcpy(d, s, n, k);
}
extern "C" cudaError_t cudaMemcpy2DAsync(void *d, size_t dpitch, const void *s, size_t spitch,
                                         size_t width, size_t height, enum cudaMemcpyKind,
                                         cudaStream_t)
{
    if (width > dpitch || width > spitch)
        return cudaErrorInvalidValue;
    for (size_t r = 0; r < height; r++)
        memmove((char *)d + r * dpitch, (const char *)s + r * spitch, width);
    return cudaSuccess;
}
extern "C" cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t)
{
    memset(p, v, n);
    return cudaSuccess;
}
extern "C" cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
extern "C" const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected (emulation: EMU_GPUS=0)";
    default: return "emulated CUDA error";
    }
}

/* ---- kernels: blocks in turn, threads as fibers ------------------------------------------- */

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

enum { F_RUN, F_WAIT_BLOCK, F_WAIT_WARP, F_DONE };
#define STACK (256 * 1024)

struct Fiber {
    ucontext_t ctx;
    char *stack;
    int state;
    unsigned gen;
};

struct Sched {
    ucontext_t main;
    std::vector<Fiber> f;
    int n, cur;
    int b_arrived;
    unsigned b_gen;
    int w_arrived[32];
    unsigned w_gen[32];
    uint64_t slots[32][32];
    std::function<void()> *body;
};

static thread_local Sched *S;

static void fiber_main(void)
{
    (*S->body)();
    S->f[S->cur].state = F_DONE; /* uc_link returns to the scheduler */
}

void __syncthreads(void)
{
    Fiber &me = S->f[S->cur];
    unsigned g = S->b_gen;
    if (++S->b_arrived == S->n) {
        S->b_arrived = 0;
        S->b_gen++;
        return;
    }
    me.state = F_WAIT_BLOCK;
    me.gen = g;
    swapcontext(&me.ctx, &S->main);
}

void emu_warp_barrier(void)
{
    Fiber &me = S->f[S->cur];
    int w = (int)threadIdx.x >> 5;
    int size = S->n - w * 32 < 32 ? S->n - w * 32 : 32;
    unsigned g = S->w_gen[w];
    if (++S->w_arrived[w] == size) {
        S->w_arrived[w] = 0;
        S->w_gen[w]++;
        return;
    }
    me.state = F_WAIT_WARP;
    me.gen = g;
    swapcontext(&me.ctx, &S->main);
}

uint64_t *emu_warp_slots(void) { return S->slots[threadIdx.x >> 5]; }

void emu_launch(dim3 grid, dim3 block, size_t, cudaStream_t, std::function<void()> body)
{
    if (grid.x < 1 || grid.y != 1 || grid.z != 1 || block.x < 1 || block.x > 1024 || block.y != 1 ||
        block.z != 1) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    static thread_local Sched *sched;
    if (!sched)
        sched = new Sched();
    Sched *prev = S;
    S = sched;
    S->body = &body;
    S->n = (int)block.x;
    if ((int)S->f.size() < S->n)
        S->f.resize((size_t)S->n);
    for (int i = 0; i < S->n; i++)
        if (!S->f[i].stack && !(S->f[i].stack = (char *)malloc(STACK)))
            emu_die("out of memory for fiber stacks");
    gridDim = grid;
    blockDim = block;
    for (unsigned b = 0; b < grid.x; b++) {
        blockIdx = dim3(b);
        S->b_arrived = 0;
        S->b_gen = 0;
        memset(S->w_arrived, 0, sizeof S->w_arrived);
        memset(S->w_gen, 0, sizeof S->w_gen);
        for (int i = 0; i < S->n; i++) {
            Fiber &f = S->f[i];
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = f.stack;
            f.ctx.uc_stack.ss_size = STACK;
            f.ctx.uc_link = &S->main;
            makecontext(&f.ctx, fiber_main, 0);
            f.state = F_RUN;
        }
        for (;;) {
            bool live = false, ran = false;
            for (int i = 0; i < S->n; i++) {
                Fiber &f = S->f[i];
                if (f.state == F_DONE)
                    continue;
                live = true;
                if (f.state == F_WAIT_BLOCK && f.gen == S->b_gen)
                    continue;
                if (f.state == F_WAIT_WARP && f.gen == S->w_gen[i >> 5])
                    continue;
                f.state = F_RUN;
                S->cur = i;
                threadIdx = dim3((unsigned)i);
                swapcontext(&S->main, &f.ctx);
                ran = true;
            }
            if (!live)
                break;
            if (!ran)
                emu_die("kernel deadlock: threads wait at a barrier that others never reach");
        }
    }
    S = prev;
}

/* ---- cuBLAS ---------------------------------------------------------------------------------- */

struct emu_blas {
    int dummy;
};
extern "C" cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    *h = new emu_blas();
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
extern "C" cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
extern "C" const char *cublasGetStatusString(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}

static double ldv(cudaDataType_t t, const void *p, long long i)
{
    switch (t) {
    case CUDA_R_32F: return ((const float *)p)[i];
    case CUDA_R_64F: return ((const double *)p)[i];
    case CUDA_R_16F: return __half2float(((const __half *)p)[i]);
    default: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    }
}
static void stv(cudaDataType_t t, void *p, long long i, double v)
{
    switch (t) {
    case CUDA_R_32F: ((float *)p)[i] = (float)v; break;
    case CUDA_R_64F: ((double *)p)[i] = v; break;
    case CUDA_R_16F: ((__half *)p)[i] = __float2half_rn((float)v); break;
    default: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v); break;
    }
}

/* Column-major C = alpha op(A) op(B) + beta C, with cuBLAS's argument rules. */
static cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           double alpha, cudaDataType_t at, const void *A, int lda, long long sa,
                           const void *B, int ldb, long long sb, double beta, void *C, int ldc,
                           long long sc, int nb, bool acc_float)
{
    if (m < 0 || n < 0 || k < 0 || nb < 0 || lda < (ta == CUBLAS_OP_N ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) ||
        ldb < (tb == CUBLAS_OP_N ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    for (int q = 0; q < nb; q++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double s = 0;
                float sf = 0;
                for (int l = 0; l < k; l++) {
                    double a = ldv(at, A, q * sa + (ta == CUBLAS_OP_N ? i + (long long)l * lda : l + (long long)i * lda));
                    double b = ldv(at, B, q * sb + (tb == CUBLAS_OP_N ? l + (long long)j * ldb : j + (long long)l * ldb));
                    if (acc_float)
                        sf += (float)a * (float)b;
                    else
                        s += a * b;
                }
                long long ci = q * sc + i + (long long)j * ldc;
                double v = alpha * (acc_float ? (double)sf : s);
                if (beta != 0)
                    v += beta * ldv(at, C, ci);
                stv(at, C, ci, v);
            }
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m,
                                      int n, int k, const float *alpha, const float *A, int lda,
                                      const float *B, int ldb, const float *beta, float *C, int ldc)
{
    return gemm(ta, tb, m, n, k, *alpha, CUDA_R_32F, A, lda, 0, B, ldb, 0, *beta, C, ldc, 0, 1, true);
}
extern "C" cublasStatus_t cublasDgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m,
                                      int n, int k, const double *alpha, const double *A, int lda,
                                      const double *B, int ldb, const double *beta, double *C, int ldc)
{
    return gemm(ta, tb, m, n, k, *alpha, CUDA_R_64F, A, lda, 0, B, ldb, 0, *beta, C, ldc, 0, 1, false);
}
extern "C" cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta,
                                                    cublasOperation_t tb, int m, int n, int k,
                                                    const float *alpha, const float *A, int lda,
                                                    long long sa, const float *B, int ldb, long long sb,
                                                    const float *beta, float *C, int ldc, long long sc,
                                                    int nb)
{
    return gemm(ta, tb, m, n, k, *alpha, CUDA_R_32F, A, lda, sa, B, ldb, sb, *beta, C, ldc, sc, nb, true);
}
extern "C" cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t, cublasOperation_t ta,
                                                    cublasOperation_t tb, int m, int n, int k,
                                                    const double *alpha, const double *A, int lda,
                                                    long long sa, const double *B, int ldb,
                                                    long long sb, const double *beta, double *C,
                                                    int ldc, long long sc, int nb)
{
    return gemm(ta, tb, m, n, k, *alpha, CUDA_R_64F, A, lda, sa, B, ldb, sb, *beta, C, ldc, sc, nb, false);
}
extern "C" cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta,
                                                     cublasOperation_t tb, int m, int n, int k,
                                                     const void *alpha, const void *A, cudaDataType_t at,
                                                     int lda, long long sa, const void *B,
                                                     cudaDataType_t bt, int ldb, long long sb,
                                                     const void *beta, void *C, cudaDataType_t ct,
                                                     int ldc, long long sc, int nb,
                                                     cublasComputeType_t comp, cublasGemmAlgo_t)
{
    if (at != bt || at != ct || comp != CUBLAS_COMPUTE_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    return gemm(ta, tb, m, n, k, *(const float *)alpha, at, A, lda, sa, B, ldb, sb,
                *(const float *)beta, C, ldc, sc, nb, true);
}

/* ---- NCCL between threads -------------------------------------------------------------------- */

struct Op {
    int kind; /* 0 all_reduce 1 all_gather 2 reduce_scatter 3 broadcast 4 reduce 5 send 6 recv */
    const void *s;
    void *r;
    size_t n;
    ncclDataType_t t;
    ncclRedOp_t op;
    int root; /* broadcast / reduce root; send / recv peer */
};

struct Group {
    int n;
    std::mutex mu;
    std::condition_variable cv;
    int arrived = 0;
    unsigned gen = 0;
    std::vector<const std::vector<Op> *> posts;
    std::map<std::pair<int, int>, std::vector<std::vector<char>>> mail; /* (from, to): sends not yet received */
    void barrier()
    {
        std::unique_lock<std::mutex> l(mu);
        unsigned g = gen;
        if (++arrived == n) {
            arrived = 0;
            gen++;
            cv.notify_all();
            return;
        }
        cv.wait(l, [&] { return gen != g; });
    }
};

struct emu_comm {
    Group *g;
    int rank;
};

static std::mutex reg_mu;
static std::map<std::string, Group *> groups;
static unsigned long long next_id;

extern "C" ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
    std::lock_guard<std::mutex> l(reg_mu);
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "emu-%d-%llu", (int)getpid(), next_id++);
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommInitRankConfig(ncclComm_t *c, int n, ncclUniqueId id, int rank,
                                               ncclConfig_t *)
{
    std::lock_guard<std::mutex> l(reg_mu);
    std::string key(id.internal);
    Group *&g = groups[key];
    if (!g) {
        g = new Group();
        g->n = n;
        g->posts.resize((size_t)n);
    }
    if (g->n != n || rank < 0 || rank >= n)
        return ncclInvalidArgument;
    *c = new emu_comm{g, rank};
    return ncclInProgress; /* as a non-blocking communicator does */
}
extern "C" ncclResult_t ncclCommGetAsyncError(ncclComm_t, ncclResult_t *st)
{
    *st = ncclSuccess;
    return ncclSuccess;
}
extern "C" ncclResult_t ncclCommAbort(ncclComm_t c)
{
    delete c;
    return ncclSuccess;
}
extern "C" const char *ncclGetErrorString(ncclResult_t r) { return r == ncclSuccess ? "no error" : "emulated NCCL error"; }
extern "C" const char *ncclGetLastError(ncclComm_t) { return ""; }

static size_t tsize(ncclDataType_t t)
{
    switch (t) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclFloat64: return 8;
    default: return 4;
    }
}
static double tload(ncclDataType_t t, const void *p, size_t i)
{
    switch (t) {
    case ncclInt32: return ((const int32_t *)p)[i];
    case ncclFloat32: return ((const float *)p)[i];
    case ncclFloat64: return ((const double *)p)[i];
    case ncclFloat16: return __half2float(((const __half *)p)[i]);
    case ncclBfloat16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default: return ((const uint8_t *)p)[i];
    }
}
static void tstore(ncclDataType_t t, void *p, size_t i, double v)
{
    switch (t) {
    case ncclInt32: ((int32_t *)p)[i] = (int32_t)(uint32_t)(int64_t)v; break;
    case ncclFloat32: ((float *)p)[i] = (float)v; break;
    case ncclFloat64: ((double *)p)[i] = v; break;
    case ncclFloat16: ((__half *)p)[i] = __float2half_rn((float)v); break;
    case ncclBfloat16: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v); break;
    default: ((uint8_t *)p)[i] = (uint8_t)v; break;
    }
}
static double combine(ncclRedOp_t op, double a, double b)
{
    return op == ncclMax ? (a > b ? a : b) : op == ncclMin ? (a < b ? a : b) : op == ncclProd ? a * b : a + b;
}

/* out[0..cnt) = reduction over members of their (s + off)[0..cnt) */
static void reduce_into(Group *g, size_t j, size_t off, size_t cnt, std::vector<char> &out)
{
    const Op &me = (*g->posts[0])[j];
    out.resize(cnt * tsize(me.t));
    for (size_t i = 0; i < cnt; i++) {
        double acc = tload(me.t, me.s, off + i);
        for (int m = 1; m < g->n; m++)
            acc = combine(me.op, acc, tload(me.t, (*g->posts[m])[j].s, off + i));
        tstore(me.t, out.data(), i, acc);
    }
}

/* Point-to-point: a send leaves a copy in the (me, peer) mailbox and
 * returns; a receive waits for the oldest message from its peer.  Only the
 * two ranks involved take part (as with NCCL). */
static ncclResult_t run_p2p(emu_comm *c, const std::vector<Op> &ops)
{
    Group *g = c->g;
    int me = c->rank;
    for (const Op &x : ops)
        if (x.kind == 5) {
            std::lock_guard<std::mutex> l(g->mu);
            const char *p = (const char *)x.s;
            g->mail[{me, x.root}].push_back(std::vector<char>(p, p + x.n * tsize(x.t)));
            g->cv.notify_all();
        }
    for (const Op &x : ops)
        if (x.kind == 6) {
            std::unique_lock<std::mutex> l(g->mu);
            auto &q = g->mail[{x.root, me}];
            g->cv.wait(l, [&] { return !q.empty(); });
            if (q.front().size() != x.n * tsize(x.t))
                emu_die("NCCL send and recv sizes differ");
            memcpy(x.r, q.front().data(), q.front().size());
            q.erase(q.begin());
        }
    return ncclSuccess;
}

/* Runs the posted operation lists of every member (collectives: the same
 * kinds in the same order on every member; point-to-point: run_p2p). */
static ncclResult_t run_ops(emu_comm *c, const std::vector<Op> &ops)
{
    Group *g = c->g;
    int me = c->rank;
    size_t np2p = 0;
    for (const Op &x : ops)
        np2p += x.kind >= 5;
    if (np2p == ops.size())
        return run_p2p(c, ops);
    if (np2p)
        emu_die("a group mixing collectives and send / recv (not used by the dt runtime)");
    g->posts[(size_t)me] = &ops;
    g->barrier();
    for (int m = 0; m < g->n; m++) {
        const std::vector<Op> &o = *g->posts[(size_t)m];
        if (o.size() != ops.size())
            emu_die("NCCL group members made different numbers of collective calls");
    }
    std::vector<std::pair<void *, std::vector<char>>> outs;
    for (size_t j = 0; j < ops.size(); j++) {
        const Op &x = ops[j];
        size_t es = tsize(x.t);
        std::vector<char> out;
        for (int m = 0; m < g->n; m++) {
            const Op &y = (*g->posts[(size_t)m])[j];
            if (y.kind != x.kind || y.n != x.n || y.t != x.t || (x.kind >= 3 && y.root != x.root))
                emu_die("NCCL group members made different collective calls");
        }
        switch (x.kind) {
        case 0: /* all_reduce */
            reduce_into(g, j, 0, x.n, out);
            outs.push_back({x.r, out});
            break;
        case 1: /* all_gather */
            out.resize(x.n * es * (size_t)g->n);
            for (int m = 0; m < g->n; m++)
                memcpy(out.data() + (size_t)m * x.n * es, (*g->posts[(size_t)m])[j].s, x.n * es);
            outs.push_back({x.r, out});
            break;
        case 2: /* reduce_scatter */
            reduce_into(g, j, (size_t)me * x.n, x.n, out);
            outs.push_back({x.r, out});
            break;
        case 3: /* broadcast */
            out.assign((const char *)(*g->posts[(size_t)x.root])[j].s,
                       (const char *)(*g->posts[(size_t)x.root])[j].s + x.n * es);
            outs.push_back({x.r, out});
            break;
        case 4: /* reduce */
            if (me == x.root) {
                reduce_into(g, j, 0, x.n, out);
                outs.push_back({x.r, out});
            }
            break;
        default:
            break;
        }
    }
    g->barrier(); /* everyone has read every input */
    for (auto &o : outs)
        if (!o.second.empty())
            memcpy(o.first, o.second.data(), o.second.size());
    g->barrier();
    return ncclSuccess;
}

/* EMU_TRACE=1: at exit, how many calls of each kind ran (test coverage). */
static std::mutex trace_mu;
static long trace_count[8];
static void trace_print(void)
{
    static const char *const names[] = {"AllReduce", "AllGather", "ReduceScatter", "Broadcast",
                                        "Reduce", "Send", "Recv", "Group"};
    fprintf(stderr, "emu: NCCL calls:");
    for (int k = 0; k < 8; k++)
        fprintf(stderr, " %s=%ld", names[k], trace_count[k]);
    fprintf(stderr, "\n");
}
static void trace(int kind)
{
    static bool on = getenv("EMU_TRACE") != NULL, registered;
    if (!on)
        return;
    std::lock_guard<std::mutex> l(trace_mu);
    if (!registered) {
        registered = true;
        atexit(trace_print);
    }
    trace_count[kind]++;
}

static thread_local int group_depth;
static thread_local std::vector<Op> *group_ops;
static thread_local emu_comm *group_comm;

static ncclResult_t post(emu_comm *c, Op op)
{
    if (!c)
        return ncclInvalidArgument;
    trace(op.kind);
    if (group_depth == 0)
        return run_ops(c, std::vector<Op>{op});
    if (group_comm && group_comm != c)
        emu_die("a group over two communicators (not used by the dt runtime)");
    group_comm = c;
    group_ops->push_back(op);
    return ncclSuccess;
}

extern "C" ncclResult_t ncclGroupStart(void)
{
    if (group_depth++ == 0) {
        group_ops = new std::vector<Op>();
        group_comm = NULL;
    }
    return ncclSuccess;
}
extern "C" ncclResult_t ncclGroupEnd(void)
{
    if (--group_depth > 0)
        return ncclSuccess;
    trace(7);
    ncclResult_t r = group_comm ? run_ops(group_comm, *group_ops) : ncclSuccess;
    delete group_ops;
    group_ops = NULL;
    return r == ncclSuccess ? ncclInProgress : r; /* as a non-blocking communicator may */
}
extern "C" ncclResult_t ncclAllReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op,
                                      ncclComm_t c, cudaStream_t)
{
    return post(c, Op{0, s, r, n, t, op, 0});
}
extern "C" ncclResult_t ncclAllGather(const void *s, void *r, size_t n, ncclDataType_t t, ncclComm_t c,
                                      cudaStream_t)
{
    return post(c, Op{1, s, r, n, t, ncclSum, 0});
}
extern "C" ncclResult_t ncclReduceScatter(const void *s, void *r, size_t n, ncclDataType_t t,
                                          ncclRedOp_t op, ncclComm_t c, cudaStream_t)
{
    return post(c, Op{2, s, r, n, t, op, 0});
}
extern "C" ncclResult_t ncclBroadcast(const void *s, void *r, size_t n, ncclDataType_t t, int root,
                                      ncclComm_t c, cudaStream_t)
{
    return post(c, Op{3, s, r, n, t, ncclSum, root});
}
extern "C" ncclResult_t ncclReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op,
                                   int root, ncclComm_t c, cudaStream_t)
{
    return post(c, Op{4, s, r, n, t, op, root});
}
extern "C" ncclResult_t ncclSend(const void *s, size_t n, ncclDataType_t t, int peer, ncclComm_t c,
                                 cudaStream_t)
{
    return post(c, Op{5, s, NULL, n, t, ncclSum, peer});
}
extern "C" ncclResult_t ncclRecv(void *r, size_t n, ncclDataType_t t, int peer, ncclComm_t c,
                                 cudaStream_t)
{
    return post(c, Op{6, NULL, r, n, t, ncclSum, peer});
}
