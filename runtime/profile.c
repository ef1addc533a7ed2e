/* profile.c - --profile and --trace on one rank.
 *
 * --profile: time and bytes per operation and per collective, printed as a
 * table by rank 0.  Regions nest; a region's time includes what runs inside
 * it.  --trace: every region as one event (start, duration, bytes; for a
 * collective also kind, axes, group and wait), serialised per rank as
 * Chrome trace-event JSON, gathered on rank 0 and written as one file.
 *
 * Names: generated code names an operation "FILE:LINE:COL op"; a
 * collective is "FILE:LINE:COL all_gather(tp)" when rt_site named its
 * source, else "all_gather(tp)".  Bytes of a collective: rt_coll_bytes,
 * the definition `dtc report` uses.
 *
 * Non-blocking collectives (rt_*_start, rt_wait) record their start as the
 * collective ("FILE:LINE:COL all_reduce(tp)", traced with "part": "start")
 * and their wait as a region of its own, "... all_reduce(tp) wait" (traced
 * in category "collective_wait", bytes 0).  Exposed communication is the time the rank spent inside
 * collective calls: blocking ones, starts and waits (outermost regions
 * only); --profile's summary prints it per iteration, beside the time the
 * compute between them took.
 *
 * Work: the wall time of an operation is the rank's work only while the
 * rank has a core to itself; with more ranks than cores (4 ranks on 2
 * cores) it also counts the time the rank waited for one.  So every
 * operation's region also records the CPU time of the calling thread
 * (CLOCK_THREAD_CPUTIME_ID: the rank's thread under threads, the process's
 * main thread under MPI, neither counting MPI's progress thread): --profile
 * prints the operations' wall and CPU time per iteration (outermost regions
 * only), and --trace gives each operation and iteration a "cpu_us".
 *
 * Wait (trace only): before a traced blocking collective moves data, its group
 * meets at a barrier; the time a rank spends in that barrier is its wait,
 * the time until the last member of its group arrived.  The member that
 * waited least is the one the others waited for.  Tracing adds that
 * barrier (one small message round per collective) to the run.
 */
#include "runtime/rt_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROF_DEPTH 32

typedef struct prof_entry {
    const char *name;
    int64_t calls;
    double seconds;
    int64_t bytes;
} prof_entry;

/* One traced region. */
typedef struct prof_event {
    const char *name;
    double t0, t1;   /* seconds since the trace origin */
    double cpu;      /* operations and iterations: the thread's CPU seconds in it */
    double wait;     /* collectives: seconds until the group had arrived */
    int64_t bytes;
    int kind;        /* rt_coll, or -1: an operation, -2: an iteration */
    unsigned axes;
    int iter;        /* iteration number (warmup ones first) */
    const char *site;
    const char *part; /* a non-blocking collective's "start" or "wait"; NULL: blocking */
} prof_event;

struct rt_prof {
    rt_ctx *ctx;                          /* owns the memory */
    bool table, trace;                    /* --profile, --trace */
    prof_entry *e;
    int n, cap;
    int stack[PROF_DEPTH];                /* open regions: entry index */
    int evstack[PROF_DEPTH];              /* open regions: event index (trace) */
    unsigned char comm[PROF_DEPTH];       /* open regions: 1 a collective or its start, 2 a wait */
    double exposed;                       /* seconds in collective regions (outermost) */
    double compute, compute_cpu;          /* wall and CPU seconds in operations (outermost) */
    double cpu0[PROF_DEPTH];              /* open regions: thread CPU time at the start */
    double iter_cpu0;                     /* the current iteration's */
    double waits;                         /* of which in waits of non-blocking ones */
    int64_t nwaits;
    double t0[PROF_DEPTH];
    int depth;
    prof_event *ev;
    int64_t nev, evcap;
    double origin;                        /* trace_now() at the trace's zero */
    double iter_t0;                       /* the current iteration's start */
    int iter;
};

double rt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the calling thread (the rank's work, not its waits for a
 * core). */
static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The trace's clock: wall-clock time, the one clock that ranks in different
 * processes (exact on one host) and on different hosts (as close as NTP
 * keeps them) share. */
static double trace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

rt_prof *rt_prof_new(rt_ctx *ctx, bool table, bool trace)
{
    rt_prof *p = rt_alloc(ctx, sizeof *p);
    p->ctx = ctx;
    p->table = table;
    p->trace = trace;
    p->origin = trace_now();
    return p;
}

void rt_prof_reset(rt_prof *p)
{
    for (int i = 0; i < p->n; i++) {
        p->e[i].calls = 0;
        p->e[i].seconds = 0;
        p->e[i].bytes = 0;
    }
    p->depth = 0;
    p->exposed = p->waits = 0;
    p->compute = p->compute_cpu = 0;
    p->nwaits = 0;
}

int rt_prof_origin(rt_ctx *ctx)
{
    rt_prof *p = ctx->prof;
    double t = trace_now();
    int rc = ctx->be->broadcast(ctx, rt_all_axes(ctx->mesh), &t, sizeof t, 0);
    p->origin = t;
    return rc;
}

static int entry(rt_prof *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (p->e[i].name == name || !strcmp(p->e[i].name, name))
            return i;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        prof_entry *e = rt_alloc(p->ctx, sizeof *e * (size_t)cap);
        if (p->n)
            memcpy(e, p->e, sizeof *e * (size_t)p->n);
        rt_free(p->ctx, p->e);
        p->e = e;
        p->cap = cap;
    }
    p->e[p->n] = (prof_entry){name, 0, 0, 0};
    return p->n++;
}

static prof_event *new_event(rt_prof *p)
{
    if (p->nev == p->evcap) {
        int64_t cap = p->evcap ? 2 * p->evcap : 256;
        prof_event *ev = rt_alloc(p->ctx, sizeof *ev * (size_t)cap);
        if (p->nev)
            memcpy(ev, p->ev, sizeof *ev * (size_t)p->nev);
        rt_free(p->ctx, p->ev);
        p->ev = ev;
        p->evcap = cap;
    }
    prof_event *e = &p->ev[p->nev++];
    memset(e, 0, sizeof *e);
    e->kind = -1;
    e->iter = p->iter;
    return e;
}

/* Opens a region under entry name; returns its event (trace) or NULL. */
static prof_event *open_region(rt_ctx *ctx, const char *name, int64_t bytes)
{
    rt_prof *p = ctx->prof;
    if (p->depth == PROF_DEPTH)
        rt_fail(ctx, "profile regions nested deeper than %d (rt_prof_end missing?)", PROF_DEPTH);
    int i = entry(p, name);
    p->e[i].calls++;
    p->e[i].bytes += bytes;
    p->stack[p->depth] = i;
    p->comm[p->depth] = 0;
    prof_event *e = NULL;
    if (p->trace) {
        e = new_event(p);
        e->name = p->e[i].name;
        e->bytes = bytes;
        p->evstack[p->depth] = (int)(e - p->ev);
    }
    p->t0[p->depth] = rt_now();
    p->cpu0[p->depth++] = thread_cpu(); /* inside the wall clock's bracket */
    if (e)
        e->t0 = e->t1 = trace_now() - p->origin;
    return e;
}

void rt_prof_begin(rt_ctx *ctx, const char *name, int64_t bytes)
{
    if (!ctx->prof)
        return;
    open_region(ctx, name ? name : "?", bytes);
}

void rt_prof_end(rt_ctx *ctx)
{
    rt_prof *p = ctx->prof;
    if (!p)
        return;
    if (p->depth == 0)
        rt_fail(ctx, "rt_prof_end without rt_prof_begin");
    p->depth--;
    double cpu = thread_cpu() - p->cpu0[p->depth];
    double dt = rt_now() - p->t0[p->depth];
    p->e[p->stack[p->depth]].seconds += dt;
    if (p->comm[p->depth] && (p->depth == 0 || !p->comm[p->depth - 1])) {
        p->exposed += dt;
        if (p->comm[p->depth] == 2)
            p->waits += dt;
    }
    if (!p->comm[p->depth] && p->depth == 0) {
        p->compute += dt;
        p->compute_cpu += cpu;
    }
    if (p->trace) {
        p->ev[p->evstack[p->depth]].t1 = trace_now() - p->origin;
        p->ev[p->evstack[p->depth]].cpu = cpu;
    }
}

void rt_site(rt_ctx *ctx, const char *site) { ctx->site = site; }

/* The entry name "SITE KIND(AXES)[ PART]" (SITE from rt_site, when set). */
static const char *coll_name(rt_ctx *ctx, const char *kind, unsigned axes, const char *part)
{
    rt_prof *p = ctx->prof;
    char as[64], buf[512];
    rt_axes_str(ctx->mesh, axes, as, sizeof as);
    snprintf(buf, sizeof buf, "%s%s%s(%s)%s%s", ctx->site ? ctx->site : "", ctx->site ? " " : "",
             kind, as, part ? " " : "", part ? part : "");
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->e[i].name, buf))
            return p->e[i].name;
    size_t n = strlen(buf) + 1;
    char *s = rt_alloc(ctx, n);
    memcpy(s, buf, n);
    int k = entry(p, s); /* first: entry() may move p->e */
    return p->e[k].name;
}

const char *rt_prof_coll_name(rt_ctx *ctx, const char *kind, unsigned axes)
{
    return coll_name(ctx, kind, axes, NULL);
}

int rt_prof_coll_part_begin(rt_ctx *ctx, rt_coll kind, unsigned axes, int64_t bytes,
                            const char *part)
{
    rt_prof *p = ctx->prof;
    bool wait = part && !strcmp(part, "wait");
    prof_event *e = open_region(ctx, coll_name(ctx, rt_coll_name(kind), axes, wait ? part : NULL), bytes);
    p->comm[p->depth - 1] = wait ? 2 : 1;
    p->nwaits += wait;
    if (!e)
        return 0;
    e->kind = (int)kind;
    e->axes = axes;
    e->site = ctx->site;
    e->part = part;
    if (part) /* a start does not wait for its group (that is the point), a wait moves no data */
        return 0;
    int64_t at = e - p->ev; /* the barrier may not move events, but be safe */
    int rc = axes ? ctx->be->barrier(ctx, axes) : 0;
    p->ev[at].wait = trace_now() - p->origin - p->ev[at].t0;
    return rc;
}

int rt_prof_coll_begin(rt_ctx *ctx, rt_coll kind, unsigned axes, int64_t bytes)
{
    return rt_prof_coll_part_begin(ctx, kind, axes, bytes, NULL);
}

void rt_prof_iteration_begin(rt_prof *p)
{
    p->iter_t0 = trace_now() - p->origin;
    p->iter_cpu0 = thread_cpu();
}

void rt_prof_iteration_end(rt_prof *p, int it, bool warmup)
{
    if (p->trace) {
        prof_event *e = new_event(p);
        e->name = warmup ? "warmup iteration" : "iteration";
        e->kind = -2;
        e->iter = it;
        e->t0 = p->iter_t0;
        e->t1 = trace_now() - p->origin;
        e->cpu = thread_cpu() - p->iter_cpu0;
    }
    p->iter = it + 1;
}

static int by_time(const void *a, const void *b)
{
    const prof_entry *x = a, *y = b;
    return (x->seconds < y->seconds) - (x->seconds > y->seconds);
}

void rt_prof_print(FILE *out, const rt_prof *p, int iters)
{
    prof_entry *e = malloc(sizeof *e * (size_t)(p->n ? p->n : 1));
    if (!e)
        return;
    int n = 0, width = 28;
    for (int i = 0; i < p->n; i++)
        if (p->e[i].calls) {
            e[n++] = p->e[i];
            int w = (int)strlen(p->e[i].name);
            width = w > width ? (w < 60 ? w : 60) : width;
        }
    qsort(e, (size_t)n, sizeof *e, by_time);
    fprintf(out, "profile: rank 0, %d iter%s, times inclusive, bytes as dtc report counts them\n",
            iters, iters == 1 ? "" : "s");
    fprintf(out, "  %-*s %8s %12s %12s %14s\n", width, "name", "calls", "total ms", "ms/call", "bytes");
    for (int i = 0; i < n; i++)
        fprintf(out, "  %-*s %8lld %12.3f %12.4f %14lld\n", width, e[i].name, (long long)e[i].calls,
                e[i].seconds * 1e3, e[i].seconds * 1e3 / (double)e[i].calls,
                (long long)e[i].bytes);
    free(e);
    double per = iters > 0 ? 1e3 / iters : 1e3;
    fprintf(out, "  exposed communication: %.3f ms/iter (time in collectives, blocking, starts and waits;"
                 " waits of non-blocking ones %.3f ms/iter, %lld waits)\n",
            p->exposed * per, p->waits * per, (long long)(iters > 0 ? p->nwaits / iters : p->nwaits));
    fprintf(out, "  compute: %.3f ms/iter wall, %.3f ms/iter CPU (operations, outermost; CPU time of the"
                 " rank's thread, without the waits for a core)\n",
            p->compute * per, p->compute_cpu * per);
}

/* ---- trace serialisation ------------------------------------------------------------ */

/* This rank's events as JSON objects, each followed by ",\n"; malloc'd. */
static char *rank_events(rt_ctx *ctx, const rt_prof *p, size_t *len)
{
    rt_text b = {0};
    const rt_mesh *m = ctx->mesh;
    int r = ctx->rank;
    char as[64];
    rt_text_put(&b, "{\"ph\":\"M\",\"ts\":0,\"pid\":0,\"tid\":%d,\"name\":\"thread_name\",\"args\":{\"name\":\"rank %d",
        r, r);
    for (int a = 0; a < m->naxes; a++)
        rt_text_put(&b, "%s%s=%d", a ? ", " : " (", m->axis_name[a] ? m->axis_name[a] : "?", ctx->coords[a]);
    rt_text_put(&b, "%s\"}},\n", m->naxes ? ")" : "");
    rt_text_put(&b, "{\"ph\":\"M\",\"ts\":0,\"pid\":0,\"tid\":%d,\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":%d}},\n",
        r, r);
    for (int64_t i = 0; i < p->nev; i++) {
        const prof_event *e = &p->ev[i];
        double ts = e->t0 * 1e6, dur = (e->t1 - e->t0) * 1e6;
        if (dur < 0)
            dur = 0;
        const char *cat = e->kind == -2   ? "iteration"
                          : e->kind == -1 ? "op"
                          : e->part && !strcmp(e->part, "wait") ? "collective_wait"
                                                                : "collective";
        rt_text_put(&b, "{\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":0,\"tid\":%d,\"cat\":\"%s\",\"name\":", ts,
            dur, r, cat);
        rt_text_put_json_str(&b, e->name);
        rt_text_put(&b, ",\"args\":{\"iteration\":%d", e->iter);
        if (e->kind == -1)
            rt_text_put(&b, ",\"bytes\":%lld", (long long)e->bytes);
        if (e->kind < 0)
            rt_text_put(&b, ",\"cpu_us\":%.3f", e->cpu * 1e6);
        if (e->kind >= 0) {
            rt_text_put(&b, ",\"kind\":\"%s\",\"axes\":", rt_coll_name((rt_coll)e->kind));
            rt_text_put_json_str(&b, rt_axes_str(m, e->axes, as, sizeof as));
            rt_text_put(&b, ",\"group\":[");
            int k = rt_axes_size(m, e->axes);
            for (int g = 0; g < k; g++)
                rt_text_put(&b, "%s%d", g ? "," : "", rt_member_rank(m, e->axes, ctx->coords, g));
            rt_text_put(&b, "],\"bytes\":%lld,\"wait_us\":%.3f", (long long)e->bytes, e->wait * 1e6);
            if (e->site) {
                rt_text_put(&b, ",\"site\":");
                rt_text_put_json_str(&b, e->site);
            }
            if (e->part) {
                rt_text_put(&b, ",\"part\":");
                rt_text_put_json_str(&b, e->part);
            }
        }
        rt_text_put(&b, "}},\n");
        if (e->kind >= 0 && e->wait > 0)
            rt_text_put(&b, "{\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":0,\"tid\":%d,\"cat\":\"wait\",\"name\":\"wait\","
                    "\"args\":{\"iteration\":%d}},\n", ts, e->wait * 1e6, r, e->iter);
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    *len = b.len;
    return b.s;
}

int rt_prof_write_trace(rt_ctx *ctx, const rt_prof *p, const char *path, const char *progname,
                        char *msg, size_t msglen)
{
    size_t len = 0;
    char *mine = rank_events(ctx, p, &len);
    bool oom = !mine;
    int n = ctx->nranks;
    unsigned world = rt_all_axes(ctx->mesh);
    uint64_t sent = oom ? 0 : (uint64_t)len;
    uint64_t *lens = NULL;
    size_t *counts = NULL, *displs = NULL;
    char *all = NULL;
    if (ctx->rank == 0) {
        lens = rt_alloc(ctx, sizeof *lens * (size_t)n);
        counts = rt_alloc(ctx, sizeof *counts * 2 * (size_t)n);
        displs = counts + n;
        for (int r = 0; r < n; r++) {
            counts[r] = sizeof *lens;
            displs[r] = (size_t)r * sizeof *lens;
        }
    }
    if (ctx->be->gather(ctx, world, &sent, sizeof sent, lens, counts, displs) != 0)
        rt_unwind(ctx);
    size_t total = 0;
    if (ctx->rank == 0) {
        for (int r = 0; r < n; r++) {
            counts[r] = (size_t)lens[r];
            displs[r] = total;
            total += counts[r];
        }
        all = malloc(total + 1);
        oom = oom || !all;
    }
    /* Rank 0 out of memory: the others still take part, with a dummy. */
    char dummy;
    if (ctx->be->gather(ctx, world, mine ? mine : "", (size_t)sent, all ? all : &dummy,
                        all ? counts : NULL, all ? displs : NULL) != 0)
        rt_unwind(ctx);
    free(mine);
    if (ctx->rank != 0)
        return 0;
    int rc = 0;
    if (oom) {
        snprintf(msg, msglen, "--trace %s: out of memory for %zu bytes of trace", path, total);
        free(all);
        return -1;
    }
    /* the last event's ",\n" becomes "\n" */
    while (total > 0 && (all[total - 1] == '\n' || all[total - 1] == ','))
        total--;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(msg, msglen, "--trace: cannot write %s: %s", tmp, strerror(errno));
        free(all);
        return -1;
    }
    rt_text head = {0};
    rt_text_put(&head, "{\"traceEvents\":[\n{\"ph\":\"M\",\"ts\":0,\"pid\":0,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":");
    rt_text_put_json_str(&head, progname);
    rt_text_put(&head, "}},\n");
    fwrite(head.s ? head.s : "", 1, head.len, f);
    free(head.s);
    fwrite(all, 1, total, f);
    char ms[256];
    size_t k = (size_t)snprintf(ms, sizeof ms, "%s[", ctx->mesh->name ? ctx->mesh->name : "mesh");
    for (int a = 0; a < ctx->mesh->naxes && k < sizeof ms; a++)
        k += (size_t)snprintf(ms + k, sizeof ms - k, "%s%s=%d", a ? ", " : "",
                              ctx->mesh->axis_name[a] ? ctx->mesh->axis_name[a] : "?",
                              ctx->mesh->size[a]);
    if (k < sizeof ms)
        snprintf(ms + k, sizeof ms - k, "]");
    fprintf(f,
            "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"mesh\":\"%s\","
            "\"ranks\":%d,\"backend\":\"%s\",\"tracks\":\"one per rank (tid = rank)\","
            "\"ts\":\"microseconds since rank 0 left the world barrier before the first iteration (wall clock)\","
            "\"bytes\":\"bytes the rank sends (ring algorithms), as dtc report counts them\","
            "\"wait_us\":\"time in the group barrier before the data moved: until the last member arrived\","
            "\"cpu_us\":\"CPU time of the rank's thread in the operation or iteration (its work without the waits for a core)\"}}\n",
            ms, n, ctx->be->name);
    free(all);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0)
        bad = true;
    if (bad) {
        snprintf(msg, msglen, "--trace: cannot write %s: %s", tmp, strerror(errno));
        remove(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(msg, msglen, "--trace: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
        rc = -1;
    }
    return rc;
}
