/* rt_cuda.c - the host side of the CUDA target's runtime (rt_cuda.h):
 * start-up checks, one rank's device state, cuBLAS matmuls, and the
 * collectives on device buffers (NCCL, or host-staged through the
 * runtime's own backends).
 *
 * State: each rank's rt_cuda lives behind a pointer in the rank's host
 * workspace (rt_workspace), made on the first call of `run` and kept for
 * the later ones.  The one piece of process state is `reg`: the ranks'
 * states to release when rt_main returns (a failed rank leaves by
 * longjmp or MPI_Abort, so nothing else could free them).
 *
 * No rank waits forever on its GPU: with NCCL communicators every wait is
 * a poll that watches NCCL's asynchronous errors, whether the run was
 * aborted by another rank (threads backend: a barrier of the rank alone
 * fails once the run is aborted), and a time limit (DT_TIMEOUT seconds,
 * default 300).
 */
#include "runtime/cuda/rt_cuda.h"

#include <limits.h>
#include <nccl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "runtime/rt_internal.h"

#define DEV_ALIGN 256                  /* device sub-allocations */
#define NSETS (1 << RT_MAX_AXES)       /* subsets of mesh axes */
#define DEFAULT_TIMEOUT 300.0          /* seconds, without DT_TIMEOUT */

typedef enum cu_mode {
    CU_NCCL, /* NCCL on the compute stream */
    CU_HOST  /* device -> host -> rt_* collective -> device */
} cu_mode;

typedef struct rt_cuda_priv {
    rt_cuda pub;                       /* what generated code sees */
    const rt_cuda_program *cp;
    int device;
    cu_mode mode;
    void *block;                       /* the one device allocation */
    size_t *pbytes, *rbytes;           /* local parameter / result bytes */
    ncclComm_t comm[NSETS];            /* NULL: unused, or a group of one */
    char *hstage;                      /* pinned host staging (host mode) */
    size_t hstage_bytes;
    float *hconv;                      /* f32 copies of f16 / bf16 (host mode) */
    size_t hconv_bytes;
    rt_cuda_error *herr;               /* pinned copy of the error slot */
    unsigned params_version;           /* ctx->params_version of the uploaded parameters */
    double timeout;                    /* seconds per wait (with NCCL) */
    struct rt_cuda_priv *next;         /* reg.live */
} rt_cuda_priv;

static struct {
    pthread_mutex_t mu;
    rt_cuda_priv *live;                /* states made during this rt_cuda_main */
} reg = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* ---- failure -------------------------------------------------------------------- */

static _Noreturn void cu_fail(rt_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static _Noreturn void cu_fail(rt_ctx *ctx, const char *fmt, ...)
{
    char msg[RT_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt_fail(ctx, "%s", msg);
}

void rt_cuda_check(rt_ctx *ctx, cudaError_t e, const char *what)
{
    if (e != cudaSuccess)
        cu_fail(ctx, "%s: CUDA error: %s", what, cudaGetErrorString(e));
}

void rt_cuda_launched(rt_ctx *ctx, const char *what)
{
    rt_cuda_check(ctx, cudaGetLastError(), what);
}

static void blas_check(rt_ctx *ctx, cublasStatus_t s, const char *what)
{
    if (s != CUBLAS_STATUS_SUCCESS)
        cu_fail(ctx, "%s: cuBLAS error: %s", what, cublasGetStatusString(s));
}

/* ---- waiting on the GPU ------------------------------------------------------------ */

static bool has_comms(const rt_cuda_priv *p)
{
    for (int s = 0; s < NSETS; s++)
        if (p->comm[s])
            return true;
    return false;
}

static void abort_comms(rt_cuda_priv *p)
{
    for (int s = 0; s < NSETS; s++)
        if (p->comm[s]) {
            ncclCommAbort(p->comm[s]);
            p->comm[s] = NULL;
        }
}

static void nap(void)
{
    struct timespec ts = {0, 20000}; /* 20 us */
    nanosleep(&ts, NULL);
}

/* Another rank ended the run, or the wait took too long: ends this rank
 * (the first failure's message is the one printed).  Called every few
 * hundred microseconds of a wait. */
static void check_peers(rt_ctx *ctx, rt_cuda_priv *p, double t0, const char *what)
{
    if (ctx->be == &rt_backend_threads && ctx->be->barrier(ctx, 0) != 0) {
        abort_comms(p); /* the peer this rank's NCCL work waits for is gone */
        rt_unwind(ctx);
    }
    if (p->timeout > 0 && rt_now() - t0 > p->timeout) {
        abort_comms(p);
        cu_fail(ctx, "%s: no progress on the GPU for %.0f s (a peer rank may have failed; "
                     "DT_TIMEOUT sets the limit)", what, p->timeout);
    }
}

/* Waits until communicator c has finished the calls made on it (NCCL's
 * non-blocking mode returns before a group or an init is complete). */
static void nccl_settle(rt_ctx *ctx, rt_cuda_priv *p, ncclComm_t c, ncclResult_t r,
                        const char *what)
{
    double t0 = rt_now();
    unsigned spins = 0;
    while (r == ncclInProgress || r == ncclSuccess) {
        ncclResult_t st;
        ncclResult_t q = ncclCommGetAsyncError(c, &st);
        if (q != ncclSuccess) {
            r = q;
            break;
        }
        if (st == ncclSuccess)
            return;
        if (st != ncclInProgress) {
            r = st;
            break;
        }
        if ((++spins & 15) == 0)
            check_peers(ctx, p, t0, what);
        nap();
    }
    const char *last = ncclGetLastError(c);
    cu_fail(ctx, "%s: NCCL error: %s%s%s", what, ncclGetErrorString(r), last && *last ? ": " : "",
            last ? last : "");
}

/* Waits until the stream is idle. */
static void wait_stream(rt_ctx *ctx, rt_cuda_priv *p, const char *what)
{
    if (!has_comms(p)) {
        rt_cuda_check(ctx, cudaStreamSynchronize(p->pub.stream), what);
        return;
    }
    double t0 = rt_now();
    for (unsigned spins = 1;; spins++) {
        cudaError_t e = cudaStreamQuery(p->pub.stream);
        if (e == cudaSuccess)
            return;
        if (e != cudaErrorNotReady)
            rt_cuda_check(ctx, e, what);
        for (int s = 0; s < NSETS; s++) {
            ncclResult_t st = ncclSuccess;
            if (p->comm[s] && ncclCommGetAsyncError(p->comm[s], &st) == ncclSuccess &&
                st != ncclSuccess && st != ncclInProgress) {
                const char *last = ncclGetLastError(p->comm[s]);
                abort_comms(p);
                cu_fail(ctx, "%s: NCCL error: %s%s%s", what, ncclGetErrorString(st),
                        last && *last ? ": " : "", last ? last : "");
            }
        }
        if ((spins & 15) == 0)
            check_peers(ctx, p, t0, what);
        nap();
    }
}

/* ---- the rank's state --------------------------------------------------------------- */

static int env_int(const char *name, int *out)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v > INT_MAX)
        return 0;
    *out = (int)v;
    return 1;
}

/* This process's rank among those on its machine, and how many there are
 * (0: unknown), from the launcher's environment. */
static void launcher_local(int *rank, int *size)
{
    static const char *const r[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                     "PMIX_LOCAL_RANK", "SLURM_LOCALID"};
    static const char *const n[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                    "PMIX_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"};
    *rank = -1;
    *size = 0;
    for (size_t k = 0; k < sizeof r / sizeof r[0]; k++)
        if (env_int(r[k], rank)) {
            env_int(n[k], size);
            return;
        }
}

static cu_mode comm_mode(void)
{
    const char *c = getenv("DT_COMM");
    return c && (!strcmp(c, "mpi") || !strcmp(c, "threads")) ? CU_HOST : CU_NCCL;
}

static ncclDataType_t nccl_type(rt_dtype dt)
{
    switch (dt) {
    case RT_F32: return ncclFloat32;
    case RT_F64: return ncclFloat64;
    case RT_I32: return ncclInt32;
    case RT_F16: return ncclFloat16;
    case RT_BF16: return ncclBfloat16;
    }
    return ncclUint8;
}

/* The communicator of this rank's group over axes (made on first use if
 * the program did not announce it; every member gets here in the same
 * collective, so they make it together). */
static ncclComm_t comm_of(rt_ctx *ctx, rt_cuda_priv *p, unsigned axes)
{
    if (p->comm[axes])
        return p->comm[axes];
    int n = rt_group_size(ctx, axes), me = rt_group_index(ctx, axes);
    rt_prof *prof = ctx->prof;
    ctx->prof = NULL; /* the unique id's broadcast is set-up, not the program */
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (me == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess)
            cu_fail(ctx, "NCCL set-up: ncclGetUniqueId: %s", ncclGetErrorString(r));
    }
    rt_broadcast(ctx, axes, RT_I32, &id, (int64_t)(sizeof id / 4), 0);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    char what[128], as[64];
    snprintf(what, sizeof what, "NCCL set-up over %s (%d ranks)",
             rt_axes_str(ctx->mesh, axes, as, sizeof as), n);
    ncclComm_t c = NULL;
    ncclResult_t r = ncclCommInitRankConfig(&c, n, id, me, &cfg);
    if (r != ncclSuccess && r != ncclInProgress)
        cu_fail(ctx, "%s: %s", what, ncclGetErrorString(r));
    p->comm[axes] = c;
    nccl_settle(ctx, p, c, r, what);
    ctx->prof = prof;
    return c;
}

static size_t up(size_t n) { return (n + DEV_ALIGN - 1) / DEV_ALIGN * DEV_ALIGN; }

static void ensure_stage(rt_ctx *ctx, rt_cuda_priv *p, size_t bytes)
{
    if (bytes <= p->hstage_bytes)
        return;
    rt_cuda_check(ctx, cudaStreamSynchronize(p->pub.stream), "host staging");
    if (p->hstage)
        cudaFreeHost(p->hstage);
    p->hstage = NULL;
    p->hstage_bytes = 0;
    rt_cuda_check(ctx, cudaMallocHost((void **)&p->hstage, bytes), "allocating pinned host memory");
    p->hstage_bytes = bytes;
}

static float *ensure_conv(rt_ctx *ctx, rt_cuda_priv *p, size_t bytes)
{
    if (bytes > p->hconv_bytes) {
        free(p->hconv);
        p->hconv = malloc(bytes);
        p->hconv_bytes = p->hconv ? bytes : 0;
        if (!p->hconv)
            cu_fail(ctx, "out of host memory (%zu bytes) for a host-staged reduction", bytes);
    }
    return p->hconv;
}

rt_cuda *rt_cuda_begin(rt_ctx *ctx, const rt_cuda_program *cp, void *const *params)
{
    rt_cuda_priv **slot = rt_workspace(ctx);
    if (!slot)
        rt_fail(ctx, "internal: a CUDA program without its host workspace");
    if (*slot) {
        rt_cuda_priv *q = *slot;
        rt_cuda_check(ctx, cudaSetDevice(q->device), "selecting the GPU");
        if (q->params_version != ctx->params_version) { /* a new step's parameters */
            for (int k = 0; k < cp->prog->nparams; k++)
                if (q->pbytes[k])
                    rt_cuda_check(ctx, cudaMemcpyAsync(q->pub.params[k], params[k], q->pbytes[k],
                                                       cudaMemcpyHostToDevice, q->pub.stream),
                                  "copying the parameters to the GPU");
            q->params_version = ctx->params_version;
        }
        return &q->pub;
    }
    const rt_program *prog = cp->prog;
    rt_prof *prof = ctx->prof;
    ctx->prof = NULL; /* start-up is not the program's time */
    rt_cuda_priv *p = calloc(1, sizeof *p);
    if (!p)
        rt_fail(ctx, "out of host memory");
    p->cp = cp;
    p->pub.priv = p;
    p->mode = comm_mode();
    double t = rt_threads_timeout();
    p->timeout = t > 0 ? t : DEFAULT_TIMEOUT;
    pthread_mutex_lock(&reg.mu);
    p->next = reg.live;
    reg.live = p;
    pthread_mutex_unlock(&reg.mu);
    *slot = p;

    /* the GPU: local rank modulo the local GPU count */
    int ngpu = 0, lrank = ctx->rank, lsize;
    rt_cuda_check(ctx, cudaGetDeviceCount(&ngpu), "counting GPUs");
    if (ngpu <= 0)
        cu_fail(ctx, "no CUDA GPU");
    if (ctx->be == &rt_backend_mpi)
        launcher_local(&lrank, &lsize);
    if (lrank < 0)
        lrank = ctx->rank;
    p->device = lrank % ngpu;
    char what[160];
    snprintf(what, sizeof what, "GPU %d", p->device);
    rt_cuda_check(ctx, cudaSetDevice(p->device), what);
    rt_cuda_check(ctx, cudaStreamCreateWithFlags(&p->pub.stream, cudaStreamNonBlocking), what);
    blas_check(ctx, cublasCreate(&p->pub.blas), what);
    blas_check(ctx, cublasSetStream(p->pub.blas, p->pub.stream), what);
    const char *tf32 = getenv("DT_TF32");
    if (tf32 && !strcmp(tf32, "1")) /* opt-in: f32 GEMMs on TF32 tensor cores (10-bit mantissa products) */
        blas_check(ctx, cublasSetMathMode(p->pub.blas, CUBLAS_TF32_TENSOR_OP_MATH), what);

    /* one device allocation: parameters, results, workspace, scratch, error slot */
    p->pbytes = calloc((size_t)prog->nparams + 1, sizeof *p->pbytes);
    p->rbytes = calloc((size_t)prog->nresults + 1, sizeof *p->rbytes);
    p->pub.params = calloc((size_t)prog->nparams + 1, sizeof(void *));
    p->pub.results = calloc((size_t)prog->nresults + 1, sizeof(void *));
    if (!p->pbytes || !p->rbytes || !p->pub.params || !p->pub.results)
        rt_fail(ctx, "out of host memory");
    size_t total = 0;
    for (int k = 0; k < prog->nparams + prog->nresults; k++) {
        bool isp = k < prog->nparams;
        const rt_tensor_desc *d = isp ? &prog->params[k] : &prog->results[k - prog->nparams];
        int64_t dims[RT_MAX_RANK];
        rt_local_dims(ctx, d, dims);
        size_t b = (size_t)rt_numel(d->rank, dims) * (size_t)rt_dtype_size(d->dtype);
        if (isp)
            p->pbytes[k] = b;
        else
            p->rbytes[k - prog->nparams] = b;
        total += up(b);
    }
    total += up(cp->workspace_bytes) + up(cp->scratch_bytes) + up(sizeof(rt_cuda_error));
    cudaError_t e = cudaMalloc(&p->block, total);
    if (e != cudaSuccess)
        cu_fail(ctx, "cannot allocate %zu bytes on GPU %d: %s", total, p->device,
                cudaGetErrorString(e));
    rt_cuda_check(ctx, cudaMemsetAsync(p->block, 0, total, p->pub.stream), what);
    char *at = p->block;
    for (int k = 0; k < prog->nparams; k++) {
        p->pub.params[k] = at;
        at += up(p->pbytes[k]);
    }
    for (int k = 0; k < prog->nresults; k++) {
        p->pub.results[k] = at;
        at += up(p->rbytes[k]);
    }
    p->pub.workspace = at;
    at += up(cp->workspace_bytes);
    p->pub.scratch = at;
    at += up(cp->scratch_bytes);
    p->pub.error = (rt_cuda_error *)at;
    rt_cuda_check(ctx, cudaMallocHost((void **)&p->herr, sizeof *p->herr), what);
    memset(p->herr, 0, sizeof *p->herr);

    /* the parameters change only between steps: copied up then */
    p->params_version = ctx->params_version;
    for (int k = 0; k < prog->nparams; k++)
        if (p->pbytes[k])
            rt_cuda_check(ctx, cudaMemcpyAsync(p->pub.params[k], params[k], p->pbytes[k],
                                               cudaMemcpyHostToDevice, p->pub.stream),
                          "copying the parameters to the GPU");
    if (p->mode == CU_HOST && cp->scratch_bytes)
        ensure_stage(ctx, p, cp->scratch_bytes);
    rt_cuda_check(ctx, cudaStreamSynchronize(p->pub.stream), what);

    /* NCCL communicators for the axis sets the program uses, in mask
     * order on every rank */
    if (p->mode == CU_NCCL)
        for (unsigned s = 1; s < NSETS; s++)
            if ((cp->comm_sets >> s & 1) && !(s & ~rt_all_axes(ctx->mesh)) &&
                rt_group_size(ctx, s) > 1)
                comm_of(ctx, p, s);
    ctx->prof = prof;
    return &p->pub;
}

void rt_cuda_end(rt_ctx *ctx, rt_cuda *cu, void *const *results)
{
    rt_cuda_priv *p = cu->priv;
    const rt_program *prog = p->cp->prog;
    /* NCCL work first, polled: a copy to pageable host memory would block
     * where no peer failure or time limit is noticed */
    if (has_comms(p))
        wait_stream(ctx, p, "the computation on the GPU");
    for (int k = 0; k < prog->nresults; k++)
        if (p->rbytes[k])
            rt_cuda_check(ctx, cudaMemcpyAsync(results[k], cu->results[k], p->rbytes[k],
                                               cudaMemcpyDeviceToHost, cu->stream),
                          "copying the results from the GPU");
    if (p->cp->nchecks)
        rt_cuda_check(ctx, cudaMemcpyAsync(p->herr, cu->error, sizeof *p->herr,
                                           cudaMemcpyDeviceToHost, cu->stream),
                      "reading the data checks");
    wait_stream(ctx, p, "copying the results from the GPU");
    if (p->cp->nchecks && p->herr->flag) {
        rt_cuda_error e = *p->herr;
        cudaMemsetAsync(cu->error, 0, sizeof e, cu->stream);
        cudaStreamSynchronize(cu->stream);
        if (e.check < 0 || e.check >= p->cp->nchecks)
            cu_fail(ctx, "a data check failed on the GPU (check %d)", e.check);
        const rt_cuda_datacheck *c = &p->cp->checks[e.check];
        cu_fail(ctx, "%s: %s: %s %lld at %s %lld is out of range [0, %lld)", c->where, c->op,
                c->what, e.value, c->at, e.pos, e.bound);
    }
}

/* ---- profiling ------------------------------------------------------------------------ */

void rt_cuda_prof_begin(rt_ctx *ctx, rt_cuda *cu, const char *name, int64_t bytes)
{
    if (!ctx->prof)
        return;
    wait_stream(ctx, cu->priv, name);
    rt_prof_begin(ctx, name, bytes);
}

void rt_cuda_prof_end(rt_ctx *ctx, rt_cuda *cu)
{
    if (!ctx->prof)
        return;
    wait_stream(ctx, cu->priv, "profiling");
    rt_prof_end(ctx);
}

/* A collective's profile / trace region (kind, axes, bytes and, traced,
 * the wait at its group's barrier), once the stream has drained. */
static void coll_begin(rt_ctx *ctx, rt_cuda *cu, rt_coll kind, unsigned axes, int64_t bytes)
{
    if (!ctx->prof)
        return;
    wait_stream(ctx, cu->priv, rt_coll_name(kind));
    if (rt_prof_coll_begin(ctx, kind, axes, bytes) != 0)
        rt_unwind(ctx);
}

/* ---- matmul --------------------------------------------------------------------------------- */

/* One strided-batched product, row-major c = op(a) @ op(b), as column-major
 * c^T = op(b)^T @ op(a)^T. */
static void gemm(rt_ctx *ctx, rt_cuda *cu, const char *what, rt_dtype dt, int64_t batches,
                 int64_t sa, int64_t sb, int M, int N, int K, int ta, int tb, const void *a,
                 const void *b, void *c)
{
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    int lda = ta ? M : K, ldb = tb ? K : N;
    long long sc = (long long)M * N;
    int nb = (int)batches;
    cublasStatus_t s;
    switch (dt) {
    case RT_F32: {
        const float one = 1.0f, zero = 0.0f;
        s = nb == 1 ? cublasSgemm(cu->blas, opb, opa, N, M, K, &one, b, ldb, a, lda, &zero, c, N)
                    : cublasSgemmStridedBatched(cu->blas, opb, opa, N, M, K, &one, b, ldb, sb, a,
                                                lda, sa, &zero, c, N, sc, nb);
        break;
    }
    case RT_F64: {
        const double one = 1.0, zero = 0.0;
        s = nb == 1 ? cublasDgemm(cu->blas, opb, opa, N, M, K, &one, b, ldb, a, lda, &zero, c, N)
                    : cublasDgemmStridedBatched(cu->blas, opb, opa, N, M, K, &one, b, ldb, sb, a,
                                                lda, sa, &zero, c, N, sc, nb);
        break;
    }
    case RT_F16:
    case RT_BF16: { /* stored narrow, accumulated in f32 */
        const float one = 1.0f, zero = 0.0f;
        cudaDataType_t t = dt == RT_F16 ? CUDA_R_16F : CUDA_R_16BF;
        s = cublasGemmStridedBatchedEx(cu->blas, opb, opa, N, M, K, &one, b, t, ldb, sb, a, t, lda,
                                       sa, &zero, c, t, N, sc, nb, CUBLAS_COMPUTE_32F,
                                       CUBLAS_GEMM_DEFAULT);
        break;
    }
    case RT_I32:
        rt_cuda_check(ctx, rt_cuda_matmul_i32(cu->stream, batches, sa, sb, M, N, K, ta, tb, a, b, c),
                      what);
        return;
    default:
        cu_fail(ctx, "%s: matmul on %s", what, rt_dtype_name(dt));
    }
    blas_check(ctx, s, what);
}

void rt_cuda_matmul(rt_ctx *ctx, rt_cuda *cu, const char *what, rt_dtype dt, int nbatch,
                    const int64_t *batch_dims, const int64_t *a_bstride, const int64_t *b_bstride,
                    int64_t M, int64_t N, int64_t K, int ta, int tb, const void *a, const void *b,
                    void *c)
{
    size_t es = (size_t)rt_dtype_size(dt);
    int64_t batches = 1;
    for (int d = 0; d < nbatch; d++)
        batches *= batch_dims[d];
    if (M <= 0 || N <= 0 || batches <= 0)
        return;
    if (K <= 0) { /* an empty contraction: zeros */
        rt_cuda_check(ctx, cudaMemsetAsync(c, 0, (size_t)(batches * M * N) * es, cu->stream), what);
        return;
    }
    /* the last batch dim is cuBLAS's strided batch; the others a loop */
    int64_t inner = nbatch ? batch_dims[nbatch - 1] : 1;
    int64_t sa = nbatch ? a_bstride[nbatch - 1] : 0, sb = nbatch ? b_bstride[nbatch - 1] : 0;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || inner > INT_MAX)
        cu_fail(ctx, "%s: a %lld x %lld x %lld product is too large for cuBLAS's int sizes", what,
                (long long)M, (long long)N, (long long)K);
    int64_t outer = batches / inner, idx[RT_MAX_RANK] = {0}, ao = 0, bo = 0;
    /* a batch of a dense, untransposed a against one shared b is one taller
     * product (x @ w for x [B, T, D]): cuBLAS picks better kernels for it */
    int64_t Mc = M, nb = inner;
    if (inner > 1 && sb == 0 && !ta && sa == M * K && (inner * M) <= INT_MAX) {
        Mc = inner * M;
        nb = 1;
    }
    for (int64_t t = 0; t < outer; t++) {
        gemm(ctx, cu, what, dt, nb, sa, sb, (int)Mc, (int)N, (int)K, ta, tb,
             (const char *)a + (size_t)ao * es, (const char *)b + (size_t)bo * es,
             (char *)c + (size_t)(t * inner * M * N) * es);
        for (int d = nbatch - 2; d >= 0; d--) { /* next outer batch index, row-major */
            ao += a_bstride[d];
            bo += b_bstride[d];
            if (++idx[d] < batch_dims[d])
                break;
            ao -= a_bstride[d] * batch_dims[d];
            bo -= b_bstride[d] * batch_dims[d];
            idx[d] = 0;
        }
    }
}

void rt_cuda_copy(rt_ctx *ctx, rt_cuda *cu, void *dst, const void *src, size_t bytes)
{
    if (bytes)
        rt_cuda_check(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu->stream),
                      "copy");
}

/* ---- collectives: shared pieces ------------------------------------------------------------------ */

static void split3(int rank, const int64_t *dims, int dim, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < dim; d++)
        *outer *= dims[d];
    for (int d = dim + 1; d < rank; d++)
        *inner *= dims[d];
}

static bool all_equal(const int64_t *lens, int n)
{
    for (int m = 1; m < n; m++)
        if (lens[m] != lens[0])
            return false;
    return true;
}

static void check_scratch(rt_ctx *ctx, rt_cuda_priv *p, size_t need, const char *what)
{
    if (need > p->cp->scratch_bytes)
        cu_fail(ctx, "internal: %s needs %zu bytes of scratch, the program has %zu", what, need,
                p->cp->scratch_bytes);
}

static const char *coll_what(rt_ctx *ctx, const char *kind, unsigned axes, char *buf, size_t n)
{
    char as[64];
    snprintf(buf, n, "%s(%s)", kind, rt_axes_str(ctx->mesh, axes, as, sizeof as));
    return buf;
}

static bool reducible16(rt_dtype dt) { return dt == RT_F16 || dt == RT_BF16; }

/* Host mode: the device bytes at src into the pinned stage, and wait. */
static void d2h(rt_ctx *ctx, rt_cuda_priv *p, void *dst, const void *src, size_t bytes,
                const char *what)
{
    if (bytes)
        rt_cuda_check(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, p->pub.stream),
                      what);
    rt_cuda_check(ctx, cudaStreamSynchronize(p->pub.stream), what);
}

static void h2d(rt_ctx *ctx, rt_cuda_priv *p, void *dst, const void *src, size_t bytes,
                const char *what)
{
    if (bytes)
        rt_cuda_check(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, p->pub.stream),
                      what);
}

static ncclRedOp_t nccl_op(rt_red red)
{
    return red == RT_RED_MAX ? ncclMax : red == RT_RED_MIN ? ncclMin : ncclSum;
}

/* ---- all_reduce ---------------------------------------------------------------------------------------- */

void rt_cuda_all_reduce(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt, void *buf,
                        int64_t count, rt_red red)
{
    rt_cuda_priv *p = cu->priv;
    size_t es = (size_t)rt_dtype_size(dt), bytes = (size_t)count * es;
    int n = rt_group_size(ctx, axes);
    char what[96];
    coll_what(ctx, "all_reduce", axes, what, sizeof what);
    if (p->mode == CU_HOST) {
        ensure_stage(ctx, p, bytes);
        d2h(ctx, p, p->hstage, buf, bytes, what);
        if (reducible16(dt)) { /* reduced in f32 on the host, rounded once */
            float *f = ensure_conv(ctx, p, (size_t)count * 4);
            rt_convert(RT_F32, f, dt, p->hstage, count);
            rt_all_reduce(ctx, axes, RT_F32, f, count, red);
            rt_convert(dt, p->hstage, RT_F32, f, count);
        } else {
            rt_all_reduce(ctx, axes, dt, p->hstage, count, red);
        }
        h2d(ctx, p, buf, p->hstage, bytes, what);
        return;
    }
    coll_begin(ctx, cu, RT_COLL_ALL_REDUCE, axes,
               rt_coll_bytes(RT_COLL_ALL_REDUCE, n, count, count, 0, (int)rt_dtype_size(dt)));
    if (n > 1 && count > 0) {
        ncclComm_t c = comm_of(ctx, p, axes);
        ncclResult_t r = ncclAllReduce(buf, buf, (size_t)count, nccl_type(dt), nccl_op(red), c,
                                       cu->stream);
        nccl_settle(ctx, p, c, r, what);
        if (red == RT_RED_AVG)
            rt_cuda_check(ctx, rt_cuda_divide(cu->stream, dt, buf, count, n), what);
    }
    rt_cuda_prof_end(ctx, cu);
}

/* ---- all_gather ------------------------------------------------------------------------------------------ */

void rt_cuda_all_gather(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt, const void *send,
                        void *recv, int rank, const int64_t *local_dims, int dim,
                        const int64_t *member_lens)
{
    rt_cuda_priv *p = cu->priv;
    size_t es = (size_t)rt_dtype_size(dt);
    int n = rt_group_size(ctx, axes), me = rt_group_index(ctx, axes);
    int64_t outer, inner, total = 0;
    split3(rank, local_dims, dim, &outer, &inner);
    for (int m = 0; m < n; m++)
        total += member_lens[m];
    size_t sbytes = (size_t)(outer * member_lens[me] * inner) * es;
    size_t rbytes = (size_t)(outer * total * inner) * es;
    char what[96];
    coll_what(ctx, "all_gather", axes, what, sizeof what);
    if (p->mode == CU_HOST) {
        ensure_stage(ctx, p, up(sbytes) + rbytes);
        d2h(ctx, p, p->hstage, send, sbytes, what);
        rt_all_gather(ctx, axes, dt, p->hstage, p->hstage + up(sbytes), rank, local_dims, dim,
                      member_lens);
        h2d(ctx, p, recv, p->hstage + up(sbytes), rbytes, what);
        return;
    }
    coll_begin(ctx, cu, RT_COLL_ALL_GATHER, axes,
               rt_coll_bytes(RT_COLL_ALL_GATHER, n, outer * member_lens[me] * inner, outer * total * inner,
                             0, (int)es));
    if (n == 1) {
        rt_cuda_copy(ctx, cu, recv, send, sbytes);
    } else if (rbytes) {
        /* member-major pieces: straight into recv when dim is outermost,
         * else into scratch and then placed */
        char *dst = outer == 1 ? recv : cu->scratch;
        if (outer != 1)
            check_scratch(ctx, p, rbytes, what);
        ncclComm_t c = comm_of(ctx, p, axes);
        ncclResult_t r;
        if (all_equal(member_lens, n)) {
            r = ncclAllGather(send, dst, sbytes, ncclUint8, c, cu->stream);
        } else {
            r = ncclGroupStart();
            size_t off = 0;
            for (int m = 0; m < n && r == ncclSuccess; m++) {
                size_t b = (size_t)(outer * member_lens[m] * inner) * es;
                if (b)
                    r = ncclBroadcast(send, dst + off, b, ncclUint8, m, c, cu->stream);
                off += b;
            }
            ncclResult_t r2 = ncclGroupEnd();
            if (r == ncclSuccess)
                r = r2;
        }
        nccl_settle(ctx, p, c, r, what);
        if (outer != 1) {
            size_t off = 0, col = 0, pitch = (size_t)(total * inner) * es;
            for (int m = 0; m < n; m++) {
                size_t w = (size_t)(member_lens[m] * inner) * es;
                if (w)
                    rt_cuda_check(ctx, cudaMemcpy2DAsync((char *)recv + col, pitch, dst + off, w, w,
                                                         (size_t)outer, cudaMemcpyDeviceToDevice,
                                                         cu->stream),
                                  what);
                off += w * (size_t)outer;
                col += w;
            }
        }
    }
    rt_cuda_prof_end(ctx, cu);
}

/* ---- reduce_scatter ---------------------------------------------------------------------------------------- */

void rt_cuda_reduce_scatter(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt,
                            const void *send, void *recv, int rank, const int64_t *send_dims,
                            int dim, const int64_t *member_lens, rt_red red)
{
    rt_cuda_priv *p = cu->priv;
    size_t es = (size_t)rt_dtype_size(dt);
    int n = rt_group_size(ctx, axes), me = rt_group_index(ctx, axes);
    int64_t outer, inner, total = send_dims[dim];
    split3(rank, send_dims, dim, &outer, &inner);
    int64_t scount = outer * total * inner, rcount = outer * member_lens[me] * inner;
    size_t sbytes = (size_t)scount * es, rbytes = (size_t)rcount * es;
    char what[96];
    coll_what(ctx, "reduce_scatter", axes, what, sizeof what);
    if (p->mode == CU_HOST) {
        ensure_stage(ctx, p, up(sbytes) + rbytes);
        char *hs = p->hstage, *hr = p->hstage + up(sbytes);
        d2h(ctx, p, hs, send, sbytes, what);
        if (reducible16(dt)) {
            float *f = ensure_conv(ctx, p, (size_t)(scount + rcount) * 4);
            rt_convert(RT_F32, f, dt, hs, scount);
            rt_reduce_scatter(ctx, axes, RT_F32, f, f + scount, rank, send_dims, dim, member_lens,
                              red);
            rt_convert(dt, hr, RT_F32, f + scount, rcount);
        } else {
            rt_reduce_scatter(ctx, axes, dt, hs, hr, rank, send_dims, dim, member_lens, red);
        }
        h2d(ctx, p, recv, hr, rbytes, what);
        return;
    }
    coll_begin(ctx, cu, RT_COLL_REDUCE_SCATTER, axes,
               rt_coll_bytes(RT_COLL_REDUCE_SCATTER, n, scount, rcount, 0, (int)es));
    if (n == 1) {
        rt_cuda_copy(ctx, cu, recv, send, rbytes);
    } else if (sbytes) {
        /* member m's piece contiguous: packed member-major unless dim is outermost */
        const char *src = send;
        if (outer != 1) {
            check_scratch(ctx, p, sbytes, what);
            size_t off = 0, col = 0, pitch = (size_t)(total * inner) * es;
            for (int m = 0; m < n; m++) {
                size_t w = (size_t)(member_lens[m] * inner) * es;
                if (w)
                    rt_cuda_check(ctx, cudaMemcpy2DAsync(cu->scratch + off, w, (const char *)send + col,
                                                         pitch, w, (size_t)outer,
                                                         cudaMemcpyDeviceToDevice, cu->stream),
                                  what);
                off += w * (size_t)outer;
                col += w;
            }
            src = cu->scratch;
        }
        ncclComm_t c = comm_of(ctx, p, axes);
        ncclResult_t r;
        if (all_equal(member_lens, n)) {
            r = ncclReduceScatter(src, recv, (size_t)rcount, nccl_type(dt), nccl_op(red), c,
                                  cu->stream);
        } else {
            r = ncclGroupStart();
            size_t off = 0;
            for (int m = 0; m < n && r == ncclSuccess; m++) {
                size_t cnt = (size_t)(outer * member_lens[m] * inner);
                if (cnt)
                    r = ncclReduce(src + off * es, recv, cnt, nccl_type(dt), nccl_op(red), m, c,
                                   cu->stream);
                off += cnt;
            }
            ncclResult_t r2 = ncclGroupEnd();
            if (r == ncclSuccess)
                r = r2;
        }
        nccl_settle(ctx, p, c, r, what);
    }
    if (red == RT_RED_AVG && n > 1)
        rt_cuda_check(ctx, rt_cuda_divide(cu->stream, dt, recv, rcount, n), what);
    rt_cuda_prof_end(ctx, cu);
}

/* ---- all_to_all ------------------------------------------------------------------------------------------------ */

void rt_cuda_all_to_all(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt, const void *send,
                        void *recv, int rank, const int64_t *send_dims, int split_dim,
                        const int64_t *split_lens, int cat_dim, const int64_t *cat_lens)
{
    rt_cuda_priv *p = cu->priv;
    size_t es = (size_t)rt_dtype_size(dt);
    int n = rt_group_size(ctx, axes), me = rt_group_index(ctx, axes);
    int64_t rdims[RT_MAX_RANK], zero[RT_MAX_RANK] = {0}, cat_total = 0;
    for (int m = 0; m < n; m++)
        cat_total += cat_lens[m];
    memcpy(rdims, send_dims, sizeof(int64_t) * (size_t)rank);
    rdims[split_dim] = split_lens[me];
    rdims[cat_dim] = cat_total;
    size_t sbytes = (size_t)rt_numel(rank, send_dims) * es, rbytes = (size_t)rt_numel(rank, rdims) * es;
    char what[96];
    coll_what(ctx, "all_to_all", axes, what, sizeof what);
    if (p->mode == CU_HOST) {
        ensure_stage(ctx, p, up(sbytes) + rbytes);
        d2h(ctx, p, p->hstage, send, sbytes, what);
        rt_all_to_all(ctx, axes, dt, p->hstage, p->hstage + up(sbytes), rank, send_dims,
                      split_dim, split_lens, cat_dim, cat_lens);
        h2d(ctx, p, recv, p->hstage + up(sbytes), rbytes, what);
        return;
    }
    coll_begin(ctx, cu, RT_COLL_ALL_TO_ALL, axes,
               rt_coll_bytes(RT_COLL_ALL_TO_ALL, n, rt_numel(rank, send_dims), 0,
                             send_dims[split_dim] ? rt_numel(rank, send_dims) / send_dims[split_dim] *
                                                        split_lens[me]
                                                  : 0,
                             (int)es));
    /* pieces along split_dim, packed member-major (already so when nothing
     * lies outside split_dim); received pieces likewise along cat_dim */
    int64_t so, si, ro, ri;
    split3(rank, send_dims, split_dim, &so, &si);
    split3(rank, rdims, cat_dim, &ro, &ri);
    char *sbuf = so == 1 ? (char *)send : cu->scratch;
    char *rbuf = ro == 1 ? (char *)recv : cu->scratch + (so == 1 ? 0 : up(sbytes));
    check_scratch(ctx, p, (so == 1 ? 0 : up(sbytes)) + (ro == 1 ? 0 : rbytes), what);
    int64_t box[RT_MAX_RANK], off[RT_MAX_RANK];
    size_t *sdisp = calloc((size_t)n + 1, sizeof *sdisp), *rdisp = calloc((size_t)n + 1, sizeof *rdisp);
    if (!sdisp || !rdisp)
        cu_fail(ctx, "out of host memory");
    int64_t at = 0;
    for (int m = 0; m < n; m++) { /* send pieces */
        memcpy(box, send_dims, sizeof(int64_t) * (size_t)rank);
        box[split_dim] = split_lens[m];
        sdisp[m + 1] = sdisp[m] + (size_t)rt_numel(rank, box) * es;
        if (so != 1 && sdisp[m + 1] > sdisp[m]) {
            memset(off, 0, sizeof off);
            off[split_dim] = at;
            rt_cuda_check(ctx, rt_cuda_copy_box(cu->stream, es, rank, box, sbuf + sdisp[m], box, zero,
                                                send, send_dims, off),
                          what);
        }
        at += split_lens[m];
    }
    for (int m = 0; m < n; m++) { /* received pieces */
        memcpy(box, rdims, sizeof(int64_t) * (size_t)rank);
        box[cat_dim] = cat_lens[m];
        rdisp[m + 1] = rdisp[m] + (size_t)rt_numel(rank, box) * es;
    }
    if (rdisp[me + 1] > rdisp[me]) /* this member's own piece */
        rt_cuda_check(ctx, cudaMemcpyAsync(rbuf + rdisp[me], sbuf + sdisp[me], rdisp[me + 1] - rdisp[me],
                                           cudaMemcpyDeviceToDevice, cu->stream),
                      what);
    if (n > 1) {
        ncclComm_t c = comm_of(ctx, p, axes);
        ncclResult_t r = ncclGroupStart();
        for (int m = 0; m < n && r == ncclSuccess; m++) {
            if (m == me)
                continue;
            if (sdisp[m + 1] > sdisp[m])
                r = ncclSend(sbuf + sdisp[m], sdisp[m + 1] - sdisp[m], ncclUint8, m, c, cu->stream);
            if (r == ncclSuccess && rdisp[m + 1] > rdisp[m])
                r = ncclRecv(rbuf + rdisp[m], rdisp[m + 1] - rdisp[m], ncclUint8, m, c, cu->stream);
        }
        ncclResult_t r2 = ncclGroupEnd();
        nccl_settle(ctx, p, c, r == ncclSuccess ? r2 : r, what);
    }
    if (ro != 1) {
        at = 0;
        for (int m = 0; m < n; m++) {
            memcpy(box, rdims, sizeof(int64_t) * (size_t)rank);
            box[cat_dim] = cat_lens[m];
            memset(off, 0, sizeof off);
            off[cat_dim] = at;
            if (rdisp[m + 1] > rdisp[m])
                rt_cuda_check(ctx, rt_cuda_copy_box(cu->stream, es, rank, box, recv, rdims, off,
                                                    rbuf + rdisp[m], box, zero),
                              what);
            at += cat_lens[m];
        }
    }
    free(sdisp);
    free(rdisp);
    rt_cuda_prof_end(ctx, cu);
}

/* ---- collective_permute --------------------------------------------------------------------------------------- */

/* NCCL: one ncclSend and one ncclRecv in a group (point-to-point on the
 * group's communicator, whose ranks are member indices); host mode: staged
 * through rt_collective_permute.  dest == this member: a device copy. */
void rt_cuda_collective_permute(rt_ctx *ctx, rt_cuda *cu, unsigned axes, rt_dtype dt,
                                const void *send, void *recv, int64_t count, int dest, int src)
{
    rt_cuda_priv *p = cu->priv;
    size_t es = (size_t)rt_dtype_size(dt), bytes = (size_t)count * es;
    int n = rt_group_size(ctx, axes), me = rt_group_index(ctx, axes);
    int s = dest != me;
    char what[96];
    coll_what(ctx, "collective_permute", axes, what, sizeof what);
    if (p->mode == CU_HOST) {
        ensure_stage(ctx, p, 2 * up(bytes));
        d2h(ctx, p, p->hstage, send, bytes, what);
        rt_collective_permute(ctx, axes, dt, p->hstage, p->hstage + up(bytes), count, dest, src);
        h2d(ctx, p, recv, p->hstage + up(bytes), bytes, what);
        return;
    }
    coll_begin(ctx, cu, RT_COLL_COLLECTIVE_PERMUTE, axes,
               rt_coll_bytes(RT_COLL_COLLECTIVE_PERMUTE, n, count, count, s ? 0 : count, (int)es));
    if (s == 0) {
        if (bytes)
            rt_cuda_check(ctx, cudaMemcpyAsync(recv, send, bytes, cudaMemcpyDeviceToDevice, cu->stream),
                          what);
    } else if (bytes) {
        ncclComm_t c = comm_of(ctx, p, axes);
        ncclResult_t r = ncclGroupStart();
        if (r == ncclSuccess)
            r = ncclSend(send, bytes, ncclUint8, dest, c, cu->stream);
        if (r == ncclSuccess)
            r = ncclRecv(recv, bytes, ncclUint8, src, c, cu->stream);
        ncclResult_t r2 = ncclGroupEnd();
        nccl_settle(ctx, p, c, r == ncclSuccess ? r2 : r, what);
    }
    rt_cuda_prof_end(ctx, cu);
}

/* ---- start-up -------------------------------------------------------------------------------------------------------- */

static void release_all(void)
{
    pthread_mutex_lock(&reg.mu);
    rt_cuda_priv *p = reg.live;
    reg.live = NULL;
    pthread_mutex_unlock(&reg.mu);
    while (p) {
        rt_cuda_priv *next = p->next;
        cudaSetDevice(p->device);
        abort_comms(p); /* complete, or abandoned by a failed run: no waiting */
        if (p->pub.stream)
            cudaStreamSynchronize(p->pub.stream);
        if (p->pub.blas)
            cublasDestroy(p->pub.blas);
        if (p->block)
            cudaFree(p->block);
        if (p->hstage)
            cudaFreeHost(p->hstage);
        if (p->herr)
            cudaFreeHost(p->herr);
        if (p->pub.stream)
            cudaStreamDestroy(p->pub.stream);
        free(p->hconv);
        free(p->pbytes);
        free(p->rbytes);
        free(p->pub.params);
        free(p->pub.results);
        free(p);
        p = next;
    }
}

static void startup_error(bool printer, const char *progname, const char *msg)
{
    if (!printer) {
        /* Under mpirun every rank fails alike and rank 0 says why, once; a
         * rank that exits at once makes mpirun kill rank 0 before it has
         * printed (seen on a loaded machine), so the others wait a little. */
        sleep(3);
        return;
    }
    fflush(stdout);
    fprintf(stderr, "%s: error: %s\n", progname, msg);
    fflush(stderr);
}

/* Can the GPU run a kernel of this build?  0, or -1 with msg. */
static int probe(const void *fn, int dev, const char *arch, char *msg, size_t n)
{
    struct cudaFuncAttributes fa;
    cudaError_t e = cudaFuncGetAttributes(&fa, fn);
    if (e == cudaSuccess)
        return 0;
    int maj = 0, min = 0;
    cudaDeviceGetAttribute(&maj, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&min, cudaDevAttrComputeCapabilityMinor, dev);
    snprintf(msg, n,
             "no usable CUDA GPU: %s (GPU %d is sm_%d%d; this program was built for %s: "
             "rebuild with --cuda-arch=sm_%d%d)",
             cudaGetErrorString(e), dev, maj, min, arch ? arch : "?", maj, min);
    return -1;
}

int rt_cuda_main(int argc, char **argv, const rt_cuda_program *cp)
{
    const rt_program *prog = cp->prog;
    const char *progname = prog->name && *prog->name ? prog->name : "program";
    if ((!prog->name || !*prog->name) && argc > 0 && argv[0]) {
        const char *s = strrchr(argv[0], '/');
        progname = s ? s + 1 : argv[0];
    }
    /* What rt_main reports itself (bad options, --help, an unknown DT_COMM)
     * goes straight to it. */
    rt_opts o;
    char msg[RT_MSG];
    int perr = rt_opts_parse(&o, argc, argv, prog, msg, sizeof msg);
    bool help = o.help;
    int ranks = o.ranks;
    rt_opts_free(&o);
    const char *comm = getenv("DT_COMM");
    bool comm_ok = !comm || !*comm || !strcmp(comm, "mpi") || !strcmp(comm, "threads") ||
                   !strcmp(comm, "nccl");
    if (perr || help || !comm_ok)
        return rt_main(argc, argv, prog);
    bool staged = comm_mode() == CU_HOST;
    bool mpi = rt_mpi_launched() && ranks == 0;
    int wrank = 0, wsize = 1;
    if (mpi)
        rt_mpi_env(&wrank, &wsize);
    bool printer = wrank == 0;

    int ngpu = 0;
    cudaError_t e = cudaGetDeviceCount(&ngpu);
    if (e != cudaSuccess || ngpu <= 0) {
        int dv = 0;
        cudaDriverGetVersion(&dv);
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found";
        if (e == cudaErrorInsufficientDriver && dv == 0)
            snprintf(msg, sizeof msg, "no usable CUDA GPU: %s (no NVIDIA driver is loaded)", why);
        else if (e == cudaErrorInsufficientDriver)
            snprintf(msg, sizeof msg,
                     "no usable CUDA GPU: %s (the driver supports CUDA %d.%d; this program needs "
                     "%d.%d: update the driver)",
                     why, dv / 1000, dv % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
        else
            snprintf(msg, sizeof msg, "no usable CUDA GPU: %s", why);
        startup_error(printer, progname, msg);
        return 1;
    }

    /* how many ranks share this machine, and which GPU this process takes */
    int lrank = 0, lsize = 0, n = rt_mesh_size(&prog->mesh);
    if (mpi) {
        launcher_local(&lrank, &lsize);
        if (lrank < 0)
            lrank = wrank;
    } else if (ranks == n || (ranks == 0 && n == 1)) {
        lsize = n; /* threads: every rank in this process */
    }
    if (!staged && lsize > ngpu) {
        snprintf(msg, sizeof msg,
                 "%d ranks on this machine but %d CUDA GPU%s: with NCCL every rank needs its own "
                 "GPU; to share GPUs use host-staged collectives (DT_COMM=mpi under mpirun, or "
                 "DT_COMM=threads with --ranks)",
                 lsize, ngpu, ngpu == 1 ? "" : "s");
        startup_error(printer, progname, msg);
        return 1;
    }
    int dev = lrank % ngpu;
    e = cudaSetDevice(dev);
    if (e != cudaSuccess) {
        snprintf(msg, sizeof msg, "no usable CUDA GPU: GPU %d: %s", dev, cudaGetErrorString(e));
        startup_error(printer, progname, msg);
        return 1;
    }
    if ((cp->probe && probe(cp->probe, dev, cp->arch, msg, sizeof msg) != 0) ||
        probe(rt_cuda_kernel_probe(), dev, cp->arch, msg, sizeof msg) != 0) {
        startup_error(printer, progname, msg);
        return 1;
    }
    if (comm && !strcmp(comm, "nccl"))
        unsetenv("DT_COMM"); /* NCCL is this program's default; rt_main knows threads and mpi */

    int rc = rt_main(argc, argv, prog);
    release_all();
    return rc;
}
