/* comm_mpi.c - the MPI backend: one process per rank, started by mpirun.
 *
 * One communicator per subset of mesh axes (MPI_Comm_split: colour = the
 * group, key = the member index, so MPI ranks in it are member indices).
 * Collectives map to the v-variants with exact counts; tensors split along
 * a dim other than the outermost are packed member-major around the wire,
 * except in all_to_all, whose strided pieces travel as subarray datatypes.
 * A failing rank prints its message and calls MPI_Abort, so no rank waits.
 *
 * A rank killed outright (SIGKILL, the OOM killer) prints nothing, and
 * mpirun ends the job.  So that the message names it, every rank runs a
 * watchdog thread (no MPI calls) while the program runs: it checks every
 * 50 ms whether the processes of the other ranks on its host still exist
 * (kill(pid, 0)), and takes the SIGTERM with which mpirun ends the job
 * (SIGTERM is blocked in every other thread from before MPI_Init).  When a
 * rank's process is gone without having printed a message, the lowest
 * surviving rank on that host prints one line: which rank died and which
 * collective (kind, axes, source) each surviving rank on the host was in;
 * that state comes from a small shared-memory table (one slot per rank,
 * shm_open'd and unlinked at start-up, so nothing is left behind).  Ranks
 * on other hosts are not watched.
 *
 * Non-blocking all_reduce, all_gather and reduce_scatter: MPI_Iallreduce,
 * MPI_Iallgatherv, MPI_Ireduce_scatter on the group's communicator (the
 * packing of an inner dim done in the start, the unpacking in the wait);
 * collective_permute: MPI_Irecv + MPI_Isend.
 * Open MPI moves a non-blocking collective on only inside MPI calls, and a
 * rank that computes makes none; so while requests are in flight a
 * progress thread tests them every PROGRESS_SECONDS (MPI_THREAD_MULTIPLE;
 * without it the requests progress in the wait alone, still correct).  A
 * wait claims its request (the progress thread leaves it alone from then
 * on) and completes it with MPI_Waitall.
 */
#include "runtime/rt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* What a rank shows the other ranks on its host (watchdog). */
typedef struct mslot {
    _Atomic int state;    /* 0 running, 1 failed with its own message, 2 done */
    _Atomic int in_coll;  /* rt_ctx.in_coll */
    _Atomic unsigned axes;
    char site[96];        /* rt_ctx.in_site, copied */
} mslot;

typedef struct mpeer {
    int pid;
    char host[64];
} mpeer;

typedef struct mwatch {
    rt_ctx *ctx;
    mpeer *peer;          /* per world rank */
    mslot *slot;          /* per world rank, shared on this host; NULL: none */
    size_t slot_bytes;
    pthread_t thread;
    bool running;
    atomic_bool stop;
} mwatch;

/* One non-blocking collective in flight (by rt_req). */
#define MREQ_PIECES 8 /* MPI counts are ints: a message of up to 8 x 2^30 elements */
typedef struct mreq {
    MPI_Request r[MREQ_PIECES];
    int n;                /* requests in r; 0: the slot is free */
    bool claimed;         /* a wait owns it: the progress thread keeps off */
    bool testing;         /* the progress thread is in MPI_Testall on it (without mu) */
    bool complete;        /* the progress thread saw every piece complete */
    /* what completing it leaves to do: avg's division of count elements of
     * buf by k; an all_gather's unpacking of the wire into recv (outer > 0) */
    rt_dtype dt;
    rt_red red;
    void *buf;
    int64_t count;
    int k;                /* group size */
    void *wire;           /* malloc'd pack buffer, freed at the end; NULL: none */
    int *cnt, *dsp;       /* malloc'd counts (MPI reads them until completion) */
    int64_t outer, inner; /* all_gather unpacking */
    int64_t *lens;        /* malloc'd member lengths (all_gather unpacking) */
} mreq;

/* The progress thread and the requests it tests (mu guards both). */
typedef struct mprogress {
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* a request came, or stop */
    pthread_cond_t tested; /* a test ended (a wait may take its request) */
    mreq *req;            /* by rt_req */
    int nreq;
    int pending;          /* started, neither complete nor claimed */
    pthread_t thread;
    bool running, stop, multiple;
} mprogress;

typedef struct mworld {
    MPI_Comm comm[1 << RT_MAX_AXES]; /* per subset of axes */
    MPI_Op max, min;                 /* NaN-propagating, as the threads backend */
    const char *progname;
    mwatch watch;
    mprogress prog;
} mworld;

/* ---- start and end ---------------------------------------------------------- */

bool rt_mpi_launched(void)
{
    const char *c = getenv("DT_COMM");
    if (c && !strcmp(c, "mpi"))
        return true;
    if (c && !strcmp(c, "threads"))
        return false;
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static int env_int(const char *a, const char *b, int dflt)
{
    const char *s = getenv(a);
    if (!s)
        s = getenv(b);
    return s ? atoi(s) : dflt;
}

void rt_mpi_env(int *rank, int *size)
{
    *rank = env_int("OMPI_COMM_WORLD_RANK", "PMI_RANK", 0);
    *size = env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", 1);
}

void rt_mpi_init(int *rank, int *size)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* Before MPI starts its threads: only the watchdog takes SIGTERM. */
        sigset_t term;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &term, NULL);
        int provided; /* non-blocking collectives' progress thread tests requests */
        MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
}

void rt_mpi_finalize(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
}

/* ---- helpers ------------------------------------------------------------------- */

static MPI_Comm comm_of(rt_ctx *ctx, unsigned axes) { return ((mworld *)ctx->world)->comm[axes]; }

static MPI_Datatype mtype(rt_dtype dt)
{
    switch (dt) {
    case RT_F32:
        return MPI_FLOAT;
    case RT_F64:
        return MPI_DOUBLE;
    case RT_I32:
        return MPI_INT32_T;
    default:
        return MPI_UINT16_T; /* f16 / bf16: moved, never reduced */
    }
}

/* MPI user ops: inout = inout (red) in, through rt_combine, so that max and
 * min treat NaN the same on every backend. */
static void user_op(void *in, void *inout, int *len, MPI_Datatype *dt, rt_red red)
{
    rt_dtype t = *dt == MPI_FLOAT ? RT_F32 : *dt == MPI_DOUBLE ? RT_F64 : RT_I32;
    rt_combine(t, red, inout, in, *len);
}

static void op_max(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    user_op(in, inout, len, dt, RT_RED_MAX);
}

static void op_min(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    user_op(in, inout, len, dt, RT_RED_MIN);
}

static MPI_Op mop(rt_ctx *ctx, rt_red red)
{
    mworld *w = ctx->world;
    switch (red) {
    case RT_RED_MAX:
        return w->max;
    case RT_RED_MIN:
        return w->min;
    default:
        return MPI_SUM; /* sum; avg divides afterwards */
    }
}

static int to_int(rt_ctx *ctx, int64_t v)
{
    if (v > INT_MAX)
        rt_fail(ctx, "a message of %lld elements is too large for MPI", (long long)v);
    return (int)v;
}

static void *xmalloc(rt_ctx *ctx, size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        rt_fail(ctx, "out of memory allocating %zu bytes", n);
    return p;
}

/* Counts and displacements (elements) of member pieces of rows[m] * inner
 * elements, outer times. */
static int64_t counts(rt_ctx *ctx, int n, int64_t outer, int64_t inner, const int64_t *lens,
                      int *cnt, int *dsp)
{
    int64_t at = 0;
    for (int m = 0; m < n; m++) {
        cnt[m] = to_int(ctx, outer * lens[m] * inner);
        dsp[m] = to_int(ctx, at);
        at += cnt[m];
    }
    return at;
}

/* A reduce_scatter's operand with member m's piece (lens[m] of the split
 * dim, for every outer index) contiguous at dsp[m], as MPI wants it: send
 * itself when outer is 1, else a packed copy (xmalloc'd). */
static void *member_major(rt_ctx *ctx, int n, int64_t outer, int64_t inner, const int64_t *lens,
                          const int *dsp, int64_t total, size_t es, const void *send)
{
    if (outer == 1)
        return (void *)send;
    int64_t rows = total / (outer ? outer : 1), at = 0;
    char *wire = xmalloc(ctx, (size_t)total * es);
    for (int m = 0; m < n; m++) {
        size_t row = (size_t)(lens[m] * inner) * es;
        for (int64_t o = 0; o < outer && row > 0; o++)
            memcpy(wire + (size_t)dsp[m] * es + (size_t)o * row,
                   (const char *)send + (size_t)(o * rows + at * inner) * es, row);
        at += lens[m];
    }
    return wire;
}

/* member_major's inverse, an all_gather's result: member m's piece, at
 * dsp[m] of the wire, back to its lens[m] rows of the gathered dim of recv
 * for every outer index. */
static void from_member_major(int n, int64_t outer, int64_t inner, const int64_t *lens, const int *dsp,
                              size_t es, const void *wire, void *recv)
{
    int64_t total = 0, at = 0;
    for (int m = 0; m < n; m++)
        total += lens[m];
    for (int m = 0; m < n; m++) {
        size_t row = (size_t)(lens[m] * inner) * es;
        for (int64_t o = 0; o < outer && row > 0; o++)
            memcpy((char *)recv + (size_t)((o * total + at) * inner) * es,
                   (const char *)wire + (size_t)dsp[m] * es + (size_t)o * row, row);
        at += lens[m];
    }
}

/* The group of axes for a gather or scatter of lens[m] rows of inner
 * elements, outer times: its size *n, this member *me, and the members'
 * counts and displacements (xmalloc'd together: free *cnt); the total. */
static int64_t group_counts(rt_ctx *ctx, unsigned axes, int64_t outer, int64_t inner, const int64_t *lens,
                            int *n, int *me, int **cnt, int **dsp)
{
    *n = rt_axes_size(ctx->mesh, axes);
    *me = rt_member_of(ctx->mesh, axes, ctx->coords);
    *cnt = xmalloc(ctx, sizeof(int) * 2 * (size_t)*n);
    *dsp = *cnt + *n;
    return counts(ctx, *n, outer, inner, lens, *cnt, *dsp);
}

/* ---- the collectives ----------------------------------------------------------- */

static int m_all_reduce(rt_ctx *ctx, unsigned axes, rt_dtype dt, void *buf, int64_t count,
                        rt_red red)
{
    MPI_Comm c = comm_of(ctx, axes);
    size_t es = (size_t)rt_dtype_size(dt);
    const int64_t step = 1 << 30;
    for (int64_t at = 0; at < count; at += step) {
        int k = (int)(count - at < step ? count - at : step);
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)at * es, k, mtype(dt), mop(ctx, red), c);
    }
    if (red == RT_RED_AVG)
        rt_divide(dt, buf, count, rt_axes_size(ctx->mesh, axes));
    return 0;
}

static int m_all_gather(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                        int64_t outer, int64_t inner, const int64_t *lens)
{
    MPI_Comm c = comm_of(ctx, axes);
    int n, me, *cnt, *dsp;
    int64_t total = group_counts(ctx, axes, outer, inner, lens, &n, &me, &cnt, &dsp);
    size_t es = (size_t)rt_dtype_size(dt);
    /* The wire holds member pieces one after another; along dim 0 that is
     * already the concatenation. */
    void *wire = outer == 1 ? recv : xmalloc(ctx, (size_t)total * es);
    MPI_Allgatherv(send, cnt[me], mtype(dt), wire, cnt, dsp, mtype(dt), c);
    if (wire != recv) {
        from_member_major(n, outer, inner, lens, dsp, es, wire, recv);
        free(wire);
    }
    free(cnt);
    return 0;
}

static int m_reduce_scatter(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                            int64_t outer, int64_t inner, const int64_t *lens, rt_red red)
{
    MPI_Comm c = comm_of(ctx, axes);
    int n, me, *cnt, *dsp;
    int64_t total = group_counts(ctx, axes, outer, inner, lens, &n, &me, &cnt, &dsp);
    size_t es = (size_t)rt_dtype_size(dt);
    void *wire = member_major(ctx, n, outer, inner, lens, dsp, total, es, send);
    MPI_Reduce_scatter(wire, recv, cnt, mtype(dt), mop(ctx, red), c);
    if (red == RT_RED_AVG)
        rt_divide(dt, recv, cnt[me], n);
    if (wire != send)
        free(wire);
    free(cnt);
    return 0;
}

/* The box of sizes box[] at off[] inside a row-major tensor of dims[], as
 * an MPI datatype (committed; free it with MPI_Type_free).  MPI then reads
 * or writes the strided piece itself, with no pack / unpack buffer. */
static MPI_Datatype box_type(rt_ctx *ctx, rt_dtype dt, int rank, const int64_t *dims,
                             const int64_t *box, const int64_t *off)
{
    int sizes[RT_MAX_RANK], subs[RT_MAX_RANK], starts[RT_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        sizes[d] = to_int(ctx, dims[d]);
        subs[d] = to_int(ctx, box[d]);
        starts[d] = to_int(ctx, off[d]);
    }
    MPI_Datatype t;
    MPI_Type_create_subarray(rank, sizes, subs, starts, MPI_ORDER_C, mtype(dt), &t);
    MPI_Type_commit(&t);
    return t;
}

/* Member m sends us the piece of its send buffer along split_dim that is
 * ours, which lands at its place along cat_dim of recv.  Each piece goes
 * straight between the tensors as a subarray datatype (MPI_Alltoallw), and
 * our own piece is one local box copy rather than a message to ourselves:
 * no pack or unpack buffers, whichever dims the pieces are strided in. */
static int m_all_to_all(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                        int rank, const int64_t *send_dims, int split_dim,
                        const int64_t *split_lens, int cat_dim, const int64_t *cat_lens)
{
    MPI_Comm c = comm_of(ctx, axes);
    int n = rt_axes_size(ctx->mesh, axes), me = rt_member_of(ctx->mesh, axes, ctx->coords);
    size_t es = (size_t)rt_dtype_size(dt);
    int *cnt = xmalloc(ctx, sizeof(int) * 3 * (size_t)n), *scnt = cnt, *rcnt = cnt + n,
        *zero_displs = cnt + 2 * n;
    MPI_Datatype *types = xmalloc(ctx, sizeof(MPI_Datatype) * 2 * (size_t)n), *st = types,
                 *rt = types + n;
    int64_t rdims[RT_MAX_RANK], sbox[RT_MAX_RANK], rbox[RT_MAX_RANK];
    int64_t soff[RT_MAX_RANK] = {0}, roff[RT_MAX_RANK] = {0}, cat_total = 0;
    for (int m = 0; m < n; m++)
        cat_total += cat_lens[m];
    memcpy(rdims, send_dims, sizeof(int64_t) * (size_t)rank);
    rdims[split_dim] = split_lens[me];
    rdims[cat_dim] = cat_total;
    /* the send buffer's split_dim offset of each member's piece, in turn;
     * the receive buffer's cat_dim offset of each member's piece */
    for (int m = 0; m < n; m++) {
        memcpy(sbox, send_dims, sizeof(int64_t) * (size_t)rank);
        sbox[split_dim] = split_lens[m];
        memcpy(rbox, rdims, sizeof(int64_t) * (size_t)rank);
        rbox[cat_dim] = cat_lens[m];
        zero_displs[m] = 0;
        scnt[m] = rcnt[m] = 0;
        st[m] = rt[m] = MPI_BYTE;
        if (m == me) {
            rt_copy_box(es, rank, sbox, recv, rdims, roff, send, send_dims, soff);
        } else {
            if (rt_numel(rank, sbox) > 0) {
                st[m] = box_type(ctx, dt, rank, send_dims, sbox, soff);
                scnt[m] = 1;
            }
            if (rt_numel(rank, rbox) > 0) {
                rt[m] = box_type(ctx, dt, rank, rdims, rbox, roff);
                rcnt[m] = 1;
            }
        }
        soff[split_dim] += split_lens[m];
        roff[cat_dim] += cat_lens[m];
    }
    if (n > 1)
        MPI_Alltoallw(send, scnt, zero_displs, st, recv, rcnt, zero_displs, rt, c);
    for (int m = 0; m < n; m++) {
        if (st[m] != MPI_BYTE)
            MPI_Type_free(&st[m]);
        if (rt[m] != MPI_BYTE)
            MPI_Type_free(&rt[m]);
    }
    free(types);
    free(cnt);
    return 0;
}

/* One MPI_Sendrecv per piece of at most 1 GiB (MPI counts are ints) on the
 * group's communicator, whose ranks are member indices. */
static int m_collective_permute(rt_ctx *ctx, unsigned axes, int dest, int src, const void *send,
                                void *recv, size_t bytes)
{
    MPI_Comm c = comm_of(ctx, axes);
    const size_t piece = (size_t)1 << 30;
    size_t at = 0;
    do { /* once even for 0 bytes: the exchange is still a step of the group */
        int k = (int)(bytes - at < piece ? bytes - at : piece);
        MPI_Sendrecv((const char *)send + at, k, MPI_BYTE, dest, 0, (char *)recv + at, k, MPI_BYTE,
                     src, 0, c, MPI_STATUS_IGNORE);
        at += (size_t)k;
    } while (at < bytes);
    return 0;
}

/* ---- non-blocking all_reduce and its progress thread ------------------------------ */

/* How often the progress thread tests the requests in flight: short against
 * a large collective's milliseconds, long against one MPI_Testall. */
#define PROGRESS_SECONDS 50e-6

/* Tests the requests in flight, each without mu held (a test may move
 * megabytes, and starts and waits must not queue behind it). */
static void *progress_main(void *arg)
{
    mprogress *pg = arg;
    pthread_mutex_lock(&pg->mu);
    while (!pg->stop) {
        if (pg->pending == 0) {
            pthread_cond_wait(&pg->cv, &pg->mu);
            continue;
        }
        for (int q = 0; q < pg->nreq; q++) {
            mreq *r = &pg->req[q];
            if (r->n == 0 || r->claimed || r->complete)
                continue;
            MPI_Request mine[MREQ_PIECES];
            int n = r->n, flag = 0;
            memcpy(mine, r->r, sizeof mine[0] * (size_t)n);
            r->testing = true;
            pthread_mutex_unlock(&pg->mu);
            MPI_Testall(n, mine, &flag, MPI_STATUSES_IGNORE);
            pthread_mutex_lock(&pg->mu);
            r = &pg->req[q]; /* the table may have grown meanwhile */
            memcpy(r->r, mine, sizeof mine[0] * (size_t)n);
            r->testing = false;
            if (flag) {
                r->complete = true;
                if (!r->claimed)
                    pg->pending--;
            }
            pthread_cond_broadcast(&pg->tested);
        }
        pthread_mutex_unlock(&pg->mu);
        struct timespec ts = {0, (long)(PROGRESS_SECONDS * 1e9)};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&pg->mu);
    }
    pthread_mutex_unlock(&pg->mu);
    return NULL;
}

static void progress_init(mprogress *pg)
{
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    pg->multiple = level == MPI_THREAD_MULTIPLE;
    pthread_mutex_init(&pg->mu, NULL);
    pthread_cond_init(&pg->cv, NULL);
    pthread_cond_init(&pg->tested, NULL);
}

static void progress_end(rt_ctx *ctx, mprogress *pg)
{
    if (pg->running) {
        pthread_mutex_lock(&pg->mu);
        pg->stop = true;
        pthread_cond_signal(&pg->cv);
        pthread_mutex_unlock(&pg->mu);
        pthread_join(pg->thread, NULL);
        pg->running = false;
    }
    pthread_cond_destroy(&pg->cv);
    pthread_cond_destroy(&pg->tested);
    pthread_mutex_destroy(&pg->mu);
    (void)ctx; /* pg->req is rt_alloc'd: rt_free_all frees it */
}

/* mu held.  The new request joins the progress thread's list. */
static void progress_add(mprogress *pg, mreq *r)
{
    if (r->n == 0) { /* nothing to move: complete already */
        r->r[r->n++] = MPI_REQUEST_NULL;
        r->complete = true;
    } else if (pg->multiple) {
        pg->pending++;
        if (!pg->running)
            pg->running = pthread_create(&pg->thread, NULL, progress_main, pg) == 0;
        pthread_cond_signal(&pg->cv);
    }
}

/* mu held.  The slot of req, the table grown to hold it. */
static mreq *mreq_slot(rt_ctx *ctx, mprogress *pg, rt_req req)
{
    if (req >= pg->nreq) {
        int n = pg->nreq ? pg->nreq : 8;
        while (n <= req)
            n *= 2;
        mreq *t = rt_alloc(ctx, sizeof *t * (size_t)n);
        if (pg->nreq)
            memcpy(t, pg->req, sizeof *t * (size_t)pg->nreq);
        rt_free(ctx, pg->req);
        pg->req = t;
        pg->nreq = n;
    }
    return &pg->req[req];
}

static int m_all_reduce_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, void *buf,
                              int64_t count, rt_red red)
{
    mworld *w = ctx->world;
    mprogress *pg = &w->prog;
    MPI_Comm c = comm_of(ctx, axes);
    size_t es = (size_t)rt_dtype_size(dt);
    const int64_t step = 1 << 30;
    if (count > step * MREQ_PIECES)
        rt_fail(ctx, "a message of %lld elements is too large for MPI", (long long)count);
    pthread_mutex_lock(&pg->mu);
    mreq *r = mreq_slot(ctx, pg, req);
    *r = (mreq){.dt = dt, .red = red, .buf = buf, .count = count, .k = rt_axes_size(ctx->mesh, axes)};
    for (int64_t at = 0; at < count; at += step) {
        int k = (int)(count - at < step ? count - at : step);
        MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + (size_t)at * es, k, mtype(dt), mop(ctx, red), c,
                       &r->r[r->n++]);
    }
    progress_add(pg, r);
    pthread_mutex_unlock(&pg->mu);
    return 0;
}

/* As m_all_gather, with MPI_Iallgatherv; a dim other than the outermost
 * is unpacked from the wire in the wait. */
static int m_all_gather_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                              void *recv, int64_t outer, int64_t inner, const int64_t *lens)
{
    mworld *w = ctx->world;
    mprogress *pg = &w->prog;
    MPI_Comm c = comm_of(ctx, axes);
    int n, me, *cnt, *dsp;
    int64_t total = group_counts(ctx, axes, outer, inner, lens, &n, &me, &cnt, &dsp);
    size_t es = (size_t)rt_dtype_size(dt);
    void *wire = outer == 1 ? recv : xmalloc(ctx, (size_t)total * es);
    int64_t *lcopy = xmalloc(ctx, sizeof *lcopy * (size_t)n);
    memcpy(lcopy, lens, sizeof *lcopy * (size_t)n);
    pthread_mutex_lock(&pg->mu);
    mreq *r = mreq_slot(ctx, pg, req);
    *r = (mreq){.dt = dt, .red = RT_RED_SUM, .buf = recv, .k = n, .wire = wire != recv ? wire : NULL,
                .cnt = cnt, .dsp = dsp, .outer = outer, .inner = inner, .lens = lcopy};
    MPI_Iallgatherv(send, cnt[me], mtype(dt), wire, cnt, dsp, mtype(dt), c, &r->r[r->n++]);
    progress_add(pg, r);
    pthread_mutex_unlock(&pg->mu);
    return 0;
}

/* As m_reduce_scatter, with MPI_Ireduce_scatter; the wire is packed here. */
static int m_reduce_scatter_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                                  const void *send, void *recv, int64_t outer, int64_t inner,
                                  const int64_t *lens, rt_red red)
{
    mworld *w = ctx->world;
    mprogress *pg = &w->prog;
    MPI_Comm c = comm_of(ctx, axes);
    int n, me, *cnt, *dsp;
    int64_t total = group_counts(ctx, axes, outer, inner, lens, &n, &me, &cnt, &dsp);
    size_t es = (size_t)rt_dtype_size(dt);
    void *wire = member_major(ctx, n, outer, inner, lens, dsp, total, es, send);
    pthread_mutex_lock(&pg->mu);
    mreq *r = mreq_slot(ctx, pg, req);
    *r = (mreq){.dt = dt, .red = red, .buf = recv, .count = cnt[me], .k = n,
                .wire = wire != send ? wire : NULL, .cnt = cnt, .dsp = dsp};
    MPI_Ireduce_scatter(wire, recv, cnt, mtype(dt), mop(ctx, red), c, &r->r[r->n++]);
    progress_add(pg, r);
    pthread_mutex_unlock(&pg->mu);
    return 0;
}

/* As m_collective_permute, non-blocking: an MPI_Irecv and an MPI_Isend per
 * piece, the receives posted first.  Concurrent permutes between the same
 * members match in the order they start, which is the same on every rank
 * (MPI does not overtake messages with the same source, tag and
 * communicator).  The progress thread tests them like the collectives. */
static int m_collective_permute_start(rt_ctx *ctx, rt_req req, unsigned axes, int dest, int src,
                                      const void *send, void *recv, size_t bytes)
{
    mworld *w = ctx->world;
    mprogress *pg = &w->prog;
    MPI_Comm c = comm_of(ctx, axes);
    const size_t piece = (size_t)1 << 30;
    if (bytes > piece * (MREQ_PIECES / 2))
        rt_fail(ctx, "a point-to-point message of %zu bytes is too large for MPI", bytes);
    pthread_mutex_lock(&pg->mu);
    mreq *r = mreq_slot(ctx, pg, req);
    *r = (mreq){.red = RT_RED_SUM}; /* nothing left for the wait but completion */
    size_t at = 0;
    do {
        int k = (int)(bytes - at < piece ? bytes - at : piece);
        MPI_Irecv((char *)recv + at, k, MPI_BYTE, src, 0, c, &r->r[r->n++]);
        at += (size_t)k;
    } while (at < bytes);
    at = 0;
    do {
        int k = (int)(bytes - at < piece ? bytes - at : piece);
        MPI_Isend((const char *)send + at, k, MPI_BYTE, dest, 0, c, &r->r[r->n++]);
        at += (size_t)k;
    } while (at < bytes);
    progress_add(pg, r);
    pthread_mutex_unlock(&pg->mu);
    return 0;
}

static int m_wait(rt_ctx *ctx, rt_req req)
{
    mworld *w = ctx->world;
    mprogress *pg = &w->prog;
    pthread_mutex_lock(&pg->mu);
    if (req < 0 || req >= pg->nreq || pg->req[req].n == 0)
        RT_BUG("wait for a request the MPI backend did not start");
    mreq *r = &pg->req[req];
    while (r->testing) { /* one thread at a time on a request */
        pthread_cond_wait(&pg->tested, &pg->mu);
        r = &pg->req[req];
    }
    r->claimed = true;
    if (!r->complete && pg->multiple)
        pg->pending--;
    mreq mine = *r;
    pthread_mutex_unlock(&pg->mu);
    if (!mine.complete)
        MPI_Waitall(mine.n, mine.r, MPI_STATUSES_IGNORE);
    if (mine.red == RT_RED_AVG)
        rt_divide(mine.dt, mine.buf, mine.count, mine.k);
    if (mine.lens && mine.wire) /* all_gather along an inner dim: unpack */
        from_member_major(mine.k, mine.outer, mine.inner, mine.lens, mine.dsp,
                          (size_t)rt_dtype_size(mine.dt), mine.wire, mine.buf);
    free(mine.wire);
    free(mine.cnt);
    free(mine.lens);
    pthread_mutex_lock(&pg->mu);
    pg->req[req].n = 0;
    pthread_mutex_unlock(&pg->mu);
    return 0;
}

static int m_broadcast(rt_ctx *ctx, unsigned axes, void *buf, size_t bytes, int root)
{
    const size_t step = (size_t)1 << 30;
    for (size_t at = 0; at < bytes; at += step)
        MPI_Bcast((char *)buf + at, (int)(bytes - at < step ? bytes - at : step), MPI_BYTE, root,
                  comm_of(ctx, axes));
    return 0;
}

static int m_barrier(rt_ctx *ctx, unsigned axes)
{
    MPI_Barrier(comm_of(ctx, axes));
    return 0;
}

static int *int_counts(rt_ctx *ctx, int n, const size_t *counts, const size_t *displs)
{
    int *v = xmalloc(ctx, sizeof(int) * 2 * (size_t)n);
    for (int m = 0; m < n; m++) {
        v[m] = to_int(ctx, (int64_t)counts[m]);
        v[n + m] = to_int(ctx, (int64_t)displs[m]);
    }
    return v;
}

static int m_gather(rt_ctx *ctx, unsigned axes, const void *send, size_t bytes, void *recv,
                    const size_t *counts, const size_t *displs)
{
    int n = rt_axes_size(ctx->mesh, axes);
    int *v = rt_member_of(ctx->mesh, axes, ctx->coords) == 0 ? int_counts(ctx, n, counts, displs)
                                                              : NULL;
    MPI_Gatherv(send, to_int(ctx, (int64_t)bytes), MPI_BYTE, recv, v, v ? v + n : NULL, MPI_BYTE,
                0, comm_of(ctx, axes));
    free(v);
    return 0;
}

static int m_scatter(rt_ctx *ctx, unsigned axes, const void *send, const size_t *counts,
                     const size_t *displs, void *recv, size_t bytes)
{
    int n = rt_axes_size(ctx->mesh, axes);
    int *v = rt_member_of(ctx->mesh, axes, ctx->coords) == 0 ? int_counts(ctx, n, counts, displs)
                                                              : NULL;
    MPI_Scatterv(send, v, v ? v + n : NULL, MPI_BYTE, recv, to_int(ctx, (int64_t)bytes), MPI_BYTE,
                 0, comm_of(ctx, axes));
    free(v);
    return 0;
}

static _Noreturn void m_fail(rt_ctx *ctx, const char *msg)
{
    mworld *w = ctx->world;
    if (w->watch.slot) /* its message is the one: the watchdogs stay quiet */
        w->watch.slot[ctx->rank].state = 1;
    fprintf(stderr, "%s: error: %s\n", ((mworld *)ctx->world)->progname, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    abort(); /* MPI_Abort does not return */
}

/* ---- the watchdog ----------------------------------------------------------------- */

static bool same_host(const mwatch *wd, int r) { return !strcmp(wd->peer[r].host, wd->peer[wd->ctx->rank].host); }

static bool gone(const mwatch *wd, int r)
{
    return same_host(wd, r) && wd->peer[r].pid > 0 && kill(wd->peer[r].pid, 0) != 0 && errno == ESRCH;
}

/* This rank's collective into its slot. */
static void publish(mwatch *wd)
{
    rt_ctx *ctx = wd->ctx;
    if (!wd->slot)
        return;
    mslot *s = &wd->slot[ctx->rank];
    const char *site = ctx->in_site;
    snprintf(s->site, sizeof s->site, "%s", site ? site : "");
    s->axes = ctx->in_axes;
    s->in_coll = ctx->in_coll;
}

/* "all_reduce(tp) at x.dt:3:9" of rank r (from its slot, or this rank's ctx). */
static void where_of(const mwatch *wd, int r, char *buf, size_t n)
{
    rt_ctx *ctx = wd->ctx;
    if (r == ctx->rank || !wd->slot) {
        rt_coll_where(ctx, buf, n);
        return;
    }
    const mslot *s = &wd->slot[r];
    int k = s->in_coll;
    if (!k) {
        snprintf(buf, n, "no collective");
        return;
    }
    char as[64];
    rt_axes_str(ctx->mesh, s->axes, as, sizeof as);
    snprintf(buf, n, "%s(%s)%s%.96s", rt_coll_name((rt_coll)(k - 1)), as, s->site[0] ? " at " : "",
             s->site);
}

static _Noreturn void report_death(mwatch *wd, mworld *w)
{
    rt_ctx *ctx = wd->ctx;
    char msg[RT_MSG], in[256];
    size_t k = 0;
    int n = ctx->nranks;
    for (int r = 0; r < n && k < sizeof msg; r++)
        if (gone(wd, r) && !(wd->slot && wd->slot[r].state != 0))
            k += (size_t)snprintf(msg + k, sizeof msg - k, "%srank %d (pid %d)", k ? ", " : "", r,
                                  wd->peer[r].pid);
    if (k < sizeof msg)
        k += (size_t)snprintf(msg + k, sizeof msg - k, " ended without a message (killed?) while");
    int shown = 0;
    for (int r = 0; r < n && k < sizeof msg; r++) {
        if (!same_host(wd, r) || gone(wd, r) || (r != ctx->rank && !wd->slot))
            continue;
        where_of(wd, r, in, sizeof in);
        k += (size_t)snprintf(msg + k, sizeof msg - k, "%s rank %d %s %s", shown++ ? ";" : "", r,
                              strcmp(in, "no collective") ? "waited in" : "was in", in);
    }
    fflush(stdout);
    fprintf(stderr, "%s: error: %s\n", w->progname, msg);
    fflush(stderr);
    _exit(1);
}

static void *watchdog(void *arg)
{
    mworld *w = arg;
    mwatch *wd = &w->watch;
    rt_ctx *ctx = wd->ctx;
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    double dead_since = 0;
    while (!atomic_load(&wd->stop)) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        int sig = sigtimedwait(&term, NULL, &ts);
        if (atomic_load(&wd->stop))
            break;
        publish(wd);
        int lowest = -1;
        bool dead = false;
        for (int r = 0; r < ctx->nranks; r++) {
            if (!same_host(wd, r))
                continue;
            if (gone(wd, r))
                dead = dead || !(wd->slot && wd->slot[r].state != 0);
            else if (lowest < 0)
                lowest = r;
        }
        if (dead && lowest == ctx->rank) {
            /* let the others publish where they are first */
            if (!dead_since) {
                dead_since = rt_now();
                if (sig != SIGTERM)
                    continue;
            }
            if (sig == SIGTERM || rt_now() - dead_since > 0.1)
                report_death(wd, w);
            continue;
        }
        if (sig == SIGTERM) /* the launcher ends the job: end as SIGTERM would */
            _exit(143);
        if (dead) { /* the lowest survivor speaks; end in any case */
            if (!dead_since)
                dead_since = rt_now();
            else if (rt_now() - dead_since > 2.0)
                _exit(1);
        }
    }
    return NULL;
}

/* Every rank: the peers' pids and hosts, the shared slots, the thread. */
static void watch_start(mworld *w, rt_ctx *ctx)
{
    mwatch *wd = &w->watch;
    int n = ctx->nranks;
    wd->ctx = ctx;
    wd->peer = calloc((size_t)n, sizeof *wd->peer);
    mpeer me = {(int)getpid(), {0}};
    if (gethostname(me.host, sizeof me.host - 1) != 0)
        snprintf(me.host, sizeof me.host, "?");
    MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, wd->peer, wd->peer ? (int)sizeof me : 0, MPI_BYTE,
                  MPI_COMM_WORLD);
    if (!wd->peer)
        return;
    /* One table per host, named after the job's rank 0 process; the lowest
     * rank on the host creates it, everyone maps it, then it is unlinked. */
    char name[128];
    snprintf(name, sizeof name, "/dtrt-%d-%.40s", wd->peer[0].pid, wd->peer[0].host);
    for (char *c = name + 1; *c; c++)
        if (*c == '/')
            *c = '_';
    int leader = ctx->rank;
    for (int r = 0; r < n; r++)
        if (same_host(wd, r)) {
            leader = r;
            break;
        }
    wd->slot_bytes = sizeof(mslot) * (size_t)n;
    int fd = -1;
    if (leader == ctx->rank) {
        shm_unlink(name);
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd >= 0 && ftruncate(fd, (off_t)wd->slot_bytes) != 0) {
            close(fd);
            fd = -1;
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (leader != ctx->rank)
        fd = shm_open(name, O_RDWR, 0600);
    if (fd >= 0) {
        void *p = mmap(NULL, wd->slot_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        wd->slot = p == MAP_FAILED ? NULL : p;
        close(fd);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (leader == ctx->rank)
        shm_unlink(name);
    atomic_store(&wd->stop, false);
    wd->running = pthread_create(&wd->thread, NULL, watchdog, w) == 0;
}

/* Every rank, before any may leave: the end is not a death. */
static void watch_stop(mworld *w)
{
    mwatch *wd = &w->watch;
    if (wd->running) {
        atomic_store(&wd->stop, true);
        pthread_join(wd->thread, NULL);
        wd->running = false;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (wd->slot)
        munmap(wd->slot, wd->slot_bytes);
    wd->slot = NULL;
    free(wd->peer);
    wd->peer = NULL;
    /* from here a SIGTERM ends this process the ordinary way */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &term, NULL);
}

const rt_backend rt_backend_mpi = {
    "mpi",       m_all_reduce, m_all_gather, m_reduce_scatter, m_all_to_all,
    m_broadcast, m_barrier,    m_gather,     m_scatter,        m_fail,
    m_all_reduce_start, m_wait, m_all_gather_start, m_reduce_scatter_start,
    m_collective_permute, m_collective_permute_start,
};

int rt_mpi_run(const rt_mesh *mesh, const char *progname, int (*fn)(rt_ctx *ctx, void *arg),
               void *arg)
{
    mworld w;
    memset(&w, 0, sizeof w);
    int rank, ret;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    rt_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx) {
        fprintf(stderr, "%s: error: rank %d: out of memory\n", progname, rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    rt_ctx_init(ctx, mesh, rank, &rt_backend_mpi, &w);
    w.progname = progname;
    w.comm[0] = MPI_COMM_SELF;
    MPI_Op_create(op_max, 1, &w.max);
    MPI_Op_create(op_min, 1, &w.min);
    for (unsigned axes = 1; axes <= rt_all_axes(mesh); axes++)
        MPI_Comm_split(MPI_COMM_WORLD, rt_group_of(mesh, axes, ctx->coords),
                       rt_member_of(mesh, axes, ctx->coords), &w.comm[axes]);
    progress_init(&w.prog);
    watch_start(&w, ctx);
    if (setjmp(ctx->unwind) == 0) {
        ctx->can_unwind = true;
        ret = fn(ctx, arg);
    } else {
        ret = -1; /* not reached: failures abort */
    }
    progress_end(ctx, &w.prog);
    watch_stop(&w);
    rt_free_all(ctx);
    for (unsigned axes = 1; axes <= rt_all_axes(mesh); axes++)
        MPI_Comm_free(&w.comm[axes]);
    MPI_Op_free(&w.max);
    MPI_Op_free(&w.min);
    free(ctx);
    return ret;
}

int rt_run_mpi(const rt_mesh *mesh, int (*fn)(rt_ctx *ctx, void *arg), void *arg, char *err,
               size_t errlen)
{
    int rank, size;
    rt_mpi_init(&rank, &size);
    if (size != rt_mesh_size(mesh)) {
        snprintf(err, errlen, "the MPI world has %d processes but the mesh %d ranks", size,
                 rt_mesh_size(mesh));
        return -1;
    }
    if (err && errlen)
        err[0] = 0;
    return rt_mpi_run(mesh, "dtrt", fn, arg);
}
