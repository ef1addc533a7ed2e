/* comm_threads.c - the threads backend: every rank is a thread of one
 * process, and collectives exchange data through shared memory.
 *
 * Each collective is: every member posts pointers to its buffers in its
 * slot, waits at the group's barrier, reads the other members' buffers
 * directly (no transport copies: each member copies or reduces straight
 * into its own receive buffer), and waits again before anyone may reuse a
 * buffer.  Reductions combine the members' values in member order, each
 * element computed by one member, so every member gets bit-identical
 * values and reruns are identical.
 *
 * Barriers are a counter and a generation number per group: the last to
 * arrive resets the counter and bumps the generation; the others spin
 * a few microseconds on the generation and then sleep on it with a futex.  No mutex
 * or condition variable is on the way: groups do not contend for one
 * lock, and completing a barrier wakes only its own members (the world's
 * condition variable used to wake every waiting rank of every group).
 *
 * No rank waits forever: a rank that fails sets the world's abort flag and
 * wakes everyone; a waiting rank also notices a member of its group that
 * has left (returned or failed), and with DT_TIMEOUT=SECONDS gives up after
 * that long in one barrier.  Every such end leaves one message naming the
 * rank responsible.
 *
 * Non-blocking collectives (rt_*_start) complete in their start: every
 * member computes its share of a collective itself, so deferring the work
 * to the wait would only move it, and a helper thread per rank would take
 * a core from the ranks' computation (the ranks usually fill the cores).
 */
#define _GNU_SOURCE /* syscall(SYS_futex) */
#include "runtime/rt_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* A barrier of one group, on a cache line of its own (every member writes
 * it). */
typedef struct tbar {
    _Alignas(RT_ALIGN) _Atomic unsigned gen; /* generations completed; the futex word */
    _Atomic int count;                      /* arrived in this generation */
    _Atomic int sleepers;                   /* members in futex_wait */
    int n;                                  /* members */
    int *members;                           /* world ranks, member order */
    _Atomic unsigned char *arrived;         /* per member, this generation (messages) */
} tbar;

/* What a rank posts for the collective it is in; one cache line per rank,
 * so that posting does not invalidate the other ranks' slots. */
typedef struct tslot {
    _Alignas(RT_ALIGN) const void *p; /* its send (or in-place) buffer */
    size_t bytes;                     /* gather: bytes sent */
    const size_t *counts;             /* scatter root: bytes per member */
    const size_t *displs;             /* scatter root: offsets per member */
} tslot;

typedef struct tworld {
    const rt_mesh *mesh;
    int n;                           /* ranks */
    pthread_mutex_t mu;              /* guards msg */
    tbar *bars[1 << RT_MAX_AXES];    /* [axes][group] */
    tslot *slot;                     /* per rank; written by its owner only */
    _Atomic unsigned char *exited;   /* per rank: its function has returned */
    _Atomic int aborted;
    char msg[RT_MSG];                /* why, when aborted */
    double timeout;                  /* seconds per barrier; 0: none */
} tworld;

/* Sleeps while *word == expected, at most `seconds` (or until woken). */
static void futex_wait(_Atomic unsigned *word, unsigned expected, double seconds)
{
#ifdef __linux__
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
#else
    (void)word;
    (void)expected;
    struct timespec ts = {0, seconds < 5e-5 ? (long)(seconds * 1e9) : 50000}; /* poll */
    nanosleep(&ts, NULL);
#endif
}

static void futex_wake_all(_Atomic unsigned *word)
{
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* DT_TIMEOUT's seconds; -1 when it is not a non-negative finite number. */
static double timeout_env(const char **text)
{
    const char *s = getenv("DT_TIMEOUT");
    *text = s;
    if (!s)
        return 0;
    char *end;
    errno = 0;
    double t = strtod(s, &end);
    if (!*s || *end || errno || !(t >= 0) || t > 1e9)
        return -1;
    return t;
}

double rt_threads_timeout(void)
{
    const char *s;
    double t = timeout_env(&s);
    return t < 0 ? 0 : t;
}

int rt_timeout_check(char *err, size_t errlen)
{
    const char *s;
    if (timeout_env(&s) >= 0)
        return 0;
    snprintf(err, errlen,
             "DT_TIMEOUT=%s: expected a number of seconds >= 0 (e.g. DT_TIMEOUT=30; 0: no limit)", s);
    return -1;
}

/* Wakes every rank sleeping in a barrier (it then looks at the abort and
 * exited flags). */
static void wake_everyone(tworld *w)
{
    for (unsigned axes = 0; axes < (1u << RT_MAX_AXES); axes++) {
        if (!w->bars[axes])
            continue;
        int ng = w->n / rt_axes_size(w->mesh, axes);
        for (int g = 0; g < ng; g++)
            futex_wake_all(&w->bars[axes][g].gen);
    }
}

/* mu held.  The first message wins. */
static void abort_locked(tworld *w, const char *msg)
{
    if (!atomic_load(&w->aborted)) {
        snprintf(w->msg, sizeof w->msg, "%s", msg);
        atomic_store(&w->aborted, 1);
    }
    wake_everyone(w);
}

static tbar *bar_of(rt_ctx *ctx, unsigned axes)
{
    tworld *w = ctx->world;
    return &w->bars[axes][rt_group_of(ctx->mesh, axes, ctx->coords)];
}

/* How long a waiting rank spins before it sleeps.  Measured on 2 shared
 * cores (bench/threads.sh, 2 ranks): a 4 MiB all_reduce 0.28 -> 0.19 ms,
 * a 2 MiB all_to_all 0.09 -> 0.045 ms against sleeping at once, since the
 * futex wake-up is what such a collective waits for.  Short on purpose:
 * with more runnable threads than cores (other processes, more ranks than
 * cores) a spinning rank takes the core from the rank it waits for; 20-50
 * us, or spinning with sched_yield, made a loaded run up to 10x slower
 * (4 ms scheduler slices), 5 us cost little. */
#define SPIN_SECONDS 5e-6

/* Why a rank waiting in generation gen of b should stop waiting: a
 * message, or NULL. */
static const char *why_stop(rt_ctx *ctx, tbar *b, unsigned gen, const char *in, double start,
                            char *msg, size_t msglen)
{
    tworld *w = ctx->world;
    for (int m = 0; m < b->n; m++)
        /* A member seen exited but not arrived may have arrived, left with
         * the barrier complete (which clears arrived) and returned: then
         * the generation has moved on, and reading it after its exited
         * flag shows that. */
        if (!atomic_load(&b->arrived[m]) && atomic_load(&w->exited[b->members[m]]) &&
            atomic_load(&b->gen) == gen) {
            snprintf(msg, msglen, "rank %d stopped while rank %d waits for it in %s", b->members[m],
                     ctx->rank, in);
            return msg;
        }
    if (w->timeout > 0 && rt_now() - start >= w->timeout && atomic_load(&b->gen) == gen) {
        int k = snprintf(msg, msglen, "rank %d: timed out after %g s in %s waiting for rank",
                         ctx->rank, w->timeout, in);
        for (int m = 0; m < b->n && k < (int)msglen; m++)
            if (!atomic_load(&b->arrived[m]))
                k += snprintf(msg + k, msglen - (size_t)k, " %d", b->members[m]);
        return msg;
    }
    return NULL;
}

/* Waits until every member of b has arrived.  0, or -1 if the run ended. */
static int bar_wait(rt_ctx *ctx, unsigned axes, tbar *b)
{
    tworld *w = ctx->world;
    if (atomic_load(&w->aborted))
        return -1;
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    /* Nobody can complete this generation before we arrive, so gen is ours. */
    unsigned gen = atomic_load_explicit(&b->gen, memory_order_acquire);
    atomic_store_explicit(&b->arrived[me], 1, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) + 1 == b->n) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        for (int m = 0; m < b->n; m++)
            atomic_store_explicit(&b->arrived[m], 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->gen, 1, memory_order_release);
        if (atomic_load(&b->sleepers) > 0)
            futex_wake_all(&b->gen);
        return atomic_load(&w->aborted) ? -1 : 0;
    }
    /* Spin a few microseconds first: members usually arrive that close
     * together, and waking from a futex costs tens of them. */
    double spin_until = rt_now() + SPIN_SECONDS;
    do {
        for (int i = 0; i < 16; i++) {
            if (atomic_load_explicit(&b->gen, memory_order_acquire) != gen)
                return atomic_load(&w->aborted) ? -1 : 0;
            cpu_relax();
        }
    } while (rt_now() < spin_until);
    char msg[RT_MSG], as[64], in[320];
    /* "all_reduce(tp) at x.dt:3:9", or the runtime's own exchange */
    if (ctx->in_coll)
        rt_coll_where(ctx, in, sizeof in);
    else
        snprintf(in, sizeof in, "a collective over %s", rt_axes_str(ctx->mesh, axes, as, sizeof as));
    double start = rt_now();
    while (atomic_load_explicit(&b->gen, memory_order_acquire) == gen) {
        if (atomic_load(&w->aborted))
            return -1;
        const char *why = why_stop(ctx, b, gen, in, start, msg, sizeof msg);
        if (why) {
            pthread_mutex_lock(&w->mu);
            abort_locked(w, why);
            pthread_mutex_unlock(&w->mu);
            return -1;
        }
        /* At most a second asleep: a member that exits or an abort wakes
         * us, but may do so between our checks and our sleep. */
        double left = 1.0;
        if (w->timeout > 0 && w->timeout - (rt_now() - start) < left)
            left = w->timeout - (rt_now() - start);
        if (left < 1e-4)
            left = 1e-4;
        atomic_fetch_add(&b->sleepers, 1);
        futex_wait(&b->gen, gen, left);
        atomic_fetch_sub(&b->sleepers, 1);
    }
    return atomic_load(&w->aborted) ? -1 : 0;
}

static tworld *post(rt_ctx *ctx, const void *p)
{
    tworld *w = ctx->world;
    w->slot[ctx->rank].p = p;
    return w;
}

static const void *slot_p(tworld *w, tbar *b, int m) { return w->slot[b->members[m]].p; }

/* dst[0..len) = reduction over the members, in member order, of elements
 * [off, off+len) of their posted buffers.  dst may be one of them. */
static void reduce_range(tworld *w, tbar *b, rt_dtype dt, rt_red red, int64_t off, int64_t len,
                         void *dst)
{
    _Alignas(RT_ALIGN) unsigned char tmp[16384];
    size_t es = (size_t)rt_dtype_size(dt);
    int64_t blk = (int64_t)(sizeof tmp / es);
    for (int64_t e = 0; e < len; e += blk) {
        int64_t k = len - e < blk ? len - e : blk;
        size_t at = (size_t)(off + e) * es;
        memcpy(tmp, (const char *)slot_p(w, b, 0) + at, (size_t)k * es);
        for (int m = 1; m < b->n; m++)
            rt_combine(dt, red, tmp, (const char *)slot_p(w, b, m) + at, k);
        if (red == RT_RED_AVG)
            rt_divide(dt, tmp, k, b->n);
        memcpy((char *)dst + (size_t)e * es, tmp, (size_t)k * es);
    }
}

static int t_all_reduce(rt_ctx *ctx, unsigned axes, rt_dtype dt, void *buf, int64_t count,
                        rt_red red)
{
    tbar *b = bar_of(ctx, axes);
    if (b->n == 1)
        return 0;
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    size_t es = (size_t)rt_dtype_size(dt);
    tworld *w = post(ctx, buf);
    if (bar_wait(ctx, axes, b))
        return -1;
    /* Member m reduces chunk m of every buffer into its own chunk m (nobody
     * else reads that chunk of its buffer) ... */
    int64_t off, len;
    rt_chunk(count, b->n, me, &off, &len);
    reduce_range(w, b, dt, red, off, len, (char *)buf + (size_t)off * es);
    if (bar_wait(ctx, axes, b))
        return -1;
    /* ... then copies the other chunks from their owners. */
    for (int m = 0; m < b->n; m++) {
        rt_chunk(count, b->n, m, &off, &len);
        if (m != me && len > 0)
            memcpy((char *)buf + (size_t)off * es, (const char *)slot_p(w, b, m) + (size_t)off * es,
                   (size_t)len * es);
    }
    return bar_wait(ctx, axes, b);
}

static int t_all_gather(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                        int64_t outer, int64_t inner, const int64_t *lens)
{
    tbar *b = bar_of(ctx, axes);
    size_t es = (size_t)rt_dtype_size(dt);
    tworld *w = post(ctx, send);
    if (b->n > 1 && bar_wait(ctx, axes, b))
        return -1;
    int64_t total = 0;
    for (int m = 0; m < b->n; m++)
        total += lens[m];
    int64_t at = 0;
    for (int m = 0; m < b->n; m++) {
        const char *src = slot_p(w, b, m);
        size_t row = (size_t)(lens[m] * inner) * es;
        for (int64_t o = 0; o < outer && row > 0; o++)
            memcpy((char *)recv + (size_t)((o * total + at) * inner) * es, src + (size_t)o * row, row);
        at += lens[m];
    }
    return b->n > 1 ? bar_wait(ctx, axes, b) : 0;
}

static int t_reduce_scatter(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                            int64_t outer, int64_t inner, const int64_t *lens, rt_red red)
{
    tbar *b = bar_of(ctx, axes);
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    size_t es = (size_t)rt_dtype_size(dt);
    tworld *w = post(ctx, send);
    if (b->n > 1 && bar_wait(ctx, axes, b))
        return -1;
    int64_t total = 0, at = 0;
    for (int m = 0; m < b->n; m++) {
        if (m == me)
            at = total;
        total += lens[m];
    }
    int64_t row = lens[me] * inner;
    for (int64_t o = 0; o < outer; o++)
        reduce_range(w, b, dt, red, (o * total + at) * inner, row,
                     (char *)recv + (size_t)(o * row) * es);
    return b->n > 1 ? bar_wait(ctx, axes, b) : 0;
}

static int t_all_to_all(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                        int rank, const int64_t *send_dims, int split_dim,
                        const int64_t *split_lens, int cat_dim, const int64_t *cat_lens)
{
    tbar *b = bar_of(ctx, axes);
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    size_t es = (size_t)rt_dtype_size(dt);
    tworld *w = post(ctx, send);
    if (b->n > 1 && bar_wait(ctx, axes, b))
        return -1;
    int64_t split_at = 0, cat_total = 0;
    for (int m = 0; m < b->n; m++) {
        if (m < me)
            split_at += split_lens[m];
        cat_total += cat_lens[m];
    }
    int64_t sdims[RT_MAX_RANK], rdims[RT_MAX_RANK], box[RT_MAX_RANK];
    int64_t soff[RT_MAX_RANK] = {0}, roff[RT_MAX_RANK] = {0};
    memcpy(rdims, send_dims, sizeof(int64_t) * (size_t)rank);
    rdims[split_dim] = split_lens[me];
    rdims[cat_dim] = cat_total;
    soff[split_dim] = split_at;
    for (int m = 0; m < b->n; m++) {
        /* member m's send: our shape but its own length along cat_dim */
        memcpy(sdims, send_dims, sizeof(int64_t) * (size_t)rank);
        sdims[cat_dim] = cat_lens[m];
        memcpy(box, sdims, sizeof(int64_t) * (size_t)rank);
        box[split_dim] = split_lens[me];
        rt_copy_box(es, rank, box, recv, rdims, roff, slot_p(w, b, m), sdims, soff);
        roff[cat_dim] += cat_lens[m];
    }
    return b->n > 1 ? bar_wait(ctx, axes, b) : 0;
}

/* Each member copies from the slot of its src member: every member posts
 * and reads once, so no permutation can deadlock. */
static int t_collective_permute(rt_ctx *ctx, unsigned axes, int dest, int src, const void *send,
                                void *recv, size_t bytes)
{
    (void)dest;
    tbar *b = bar_of(ctx, axes);
    tworld *w = post(ctx, send);
    if (bar_wait(ctx, axes, b))
        return -1;
    if (bytes > 0)
        memcpy(recv, slot_p(w, b, src), bytes);
    return bar_wait(ctx, axes, b);
}

static int t_broadcast(rt_ctx *ctx, unsigned axes, void *buf, size_t bytes, int root)
{
    tbar *b = bar_of(ctx, axes);
    if (b->n == 1)
        return 0;
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    tworld *w = post(ctx, buf);
    if (bar_wait(ctx, axes, b))
        return -1;
    if (me != root && bytes > 0)
        memcpy(buf, slot_p(w, b, root), bytes);
    return bar_wait(ctx, axes, b);
}

static int t_barrier(rt_ctx *ctx, unsigned axes)
{
    tbar *b = bar_of(ctx, axes);
    return b->n > 1 ? bar_wait(ctx, axes, b) : 0;
}

static int t_gather(rt_ctx *ctx, unsigned axes, const void *send, size_t bytes, void *recv,
                    const size_t *counts, const size_t *displs)
{
    tbar *b = bar_of(ctx, axes);
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    tworld *w = post(ctx, send);
    w->slot[ctx->rank].bytes = bytes;
    if (b->n > 1 && bar_wait(ctx, axes, b))
        return -1;
    if (me == 0)
        for (int m = 0; m < b->n; m++) {
            const tslot *s = &w->slot[b->members[m]];
            if (s->bytes != counts[m])
                rt_fail(ctx, "gather: member %d sends %zu bytes, %zu expected", m, s->bytes,
                        counts[m]);
            if (counts[m] > 0)
                memcpy((char *)recv + displs[m], s->p, counts[m]);
        }
    return b->n > 1 ? bar_wait(ctx, axes, b) : 0;
}

static int t_scatter(rt_ctx *ctx, unsigned axes, const void *send, const size_t *counts,
                     const size_t *displs, void *recv, size_t bytes)
{
    tbar *b = bar_of(ctx, axes);
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    tworld *w = post(ctx, send);
    w->slot[ctx->rank].counts = counts;
    w->slot[ctx->rank].displs = displs;
    if (b->n > 1 && bar_wait(ctx, axes, b))
        return -1;
    const tslot *root = &w->slot[b->members[0]];
    if (root->counts[me] != bytes)
        rt_fail(ctx, "scatter: member %d receives %zu bytes, %zu expected", me, root->counts[me],
                bytes);
    if (bytes > 0)
        memcpy(recv, (const char *)root->p + root->displs[me], bytes);
    return b->n > 1 ? bar_wait(ctx, axes, b) : 0;
}

static _Noreturn void t_fail(rt_ctx *ctx, const char *msg)
{
    tworld *w = ctx->world;
    pthread_mutex_lock(&w->mu);
    abort_locked(w, msg);
    pthread_mutex_unlock(&w->mu);
    rt_unwind(ctx);
}

const rt_backend rt_backend_threads = {
    "threads",       t_all_reduce, t_all_gather, t_reduce_scatter, t_all_to_all,
    t_broadcast,     t_barrier,    t_gather,     t_scatter,        t_fail,
    NULL,            NULL,         NULL,         NULL, /* non-blocking starts complete at once (comm.c) */
    t_collective_permute,
};

/* ---- running the ranks ---------------------------------------------------------- */

typedef struct tthread {
    rt_ctx ctx;
    pthread_t th;
    int (*fn)(rt_ctx *ctx, void *arg);
    void *arg;
    int ret;
} tthread;

static void *thread_main(void *p)
{
    tthread *t = p;
    tworld *w = t->ctx.world;
    if (setjmp(t->ctx.unwind) == 0) {
        t->ctx.can_unwind = true;
        t->ret = t->fn(&t->ctx, t->arg);
    } else {
        t->ret = -1;
    }
    t->ctx.can_unwind = false;
    rt_free_all(&t->ctx);
    atomic_store(&w->exited[t->ctx.rank], 1);
    wake_everyone(w); /* members waiting for this rank see it has left */
    return NULL;
}

/* Zeroed, on RT_ALIGN bytes (slots and barriers each own a cache line);
 * n is a multiple of RT_ALIGN. */
static void *zalloc_aligned(size_t n)
{
    void *p = aligned_alloc(RT_ALIGN, n ? n : RT_ALIGN);
    if (p)
        memset(p, 0, n);
    return p;
}

static void world_free(tworld *w)
{
    for (unsigned axes = 0; axes < (1u << RT_MAX_AXES); axes++) {
        if (!w->bars[axes])
            continue;
        int ng = w->n / rt_axes_size(w->mesh, axes);
        for (int g = 0; g < ng; g++) {
            free(w->bars[axes][g].members);
            free((void *)w->bars[axes][g].arrived);
        }
        free(w->bars[axes]);
    }
    free(w->slot);
    free((void *)w->exited);
    pthread_mutex_destroy(&w->mu);
}

static int world_init(tworld *w, const rt_mesh *mesh)
{
    memset(w, 0, sizeof *w);
    w->mesh = mesh;
    w->n = rt_mesh_size(mesh);
    w->timeout = rt_threads_timeout();
    pthread_mutex_init(&w->mu, NULL);
    w->slot = zalloc_aligned((size_t)w->n * sizeof *w->slot);
    w->exited = calloc((size_t)w->n, 1);
    if (!w->slot || !w->exited)
        return -1;
    for (unsigned axes = 0; axes <= rt_all_axes(mesh); axes++) {
        int k = rt_axes_size(mesh, axes), ng = w->n / k;
        w->bars[axes] = zalloc_aligned((size_t)ng * sizeof(tbar));
        if (!w->bars[axes])
            return -1;
        for (int g = 0; g < ng; g++) {
            tbar *b = &w->bars[axes][g];
            b->n = k;
            b->members = calloc((size_t)k, sizeof(int));
            b->arrived = calloc((size_t)k, 1);
            if (!b->members || !b->arrived)
                return -1;
        }
        for (int r = 0; r < w->n; r++) {
            int c[RT_MAX_AXES];
            rt_mesh_coords(mesh, r, c);
            w->bars[axes][rt_group_of(mesh, axes, c)].members[rt_member_of(mesh, axes, c)] = r;
        }
    }
    return 0;
}

int rt_run_threads(const rt_mesh *mesh, int (*fn)(rt_ctx *ctx, void *arg), void *arg, char *err,
                   size_t errlen)
{
    tworld w;
    int n = rt_mesh_size(mesh);
    tthread *t = calloc((size_t)n, sizeof *t);
    if (!t || world_init(&w, mesh) != 0) {
        if (t)
            world_free(&w);
        free(t);
        snprintf(err, errlen, "out of memory starting %d ranks", n);
        return -1;
    }
    int started = 0;
    for (; started < n; started++) {
        rt_ctx_init(&t[started].ctx, mesh, started, &rt_backend_threads, &w);
        t[started].fn = fn;
        t[started].arg = arg;
        if (pthread_create(&t[started].th, NULL, thread_main, &t[started]) != 0) {
            pthread_mutex_lock(&w.mu);
            abort_locked(&w, "cannot start a thread for every rank");
            pthread_mutex_unlock(&w.mu);
            break;
        }
    }
    int ret = 0;
    for (int r = 0; r < started; r++) {
        pthread_join(t[r].th, NULL);
        if (ret == 0)
            ret = t[r].ret;
    }
    if (atomic_load(&w.aborted)) {
        snprintf(err, errlen, "%s", w.msg);
        ret = -1;
    } else if (err && errlen) {
        err[0] = 0;
    }
    world_free(&w);
    free(t);
    return ret;
}
