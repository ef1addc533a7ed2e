/* profile.c - --profile: time and bytes per operation and per collective
 * on one rank, printed as a table by rank 0.  Regions nest; a region's
 * time includes what runs inside it. */
#include "runtime/rt_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROF_DEPTH 32

typedef struct prof_entry {
    const char *name;
    int64_t calls;
    double seconds;
    int64_t bytes;
} prof_entry;

struct rt_prof {
    rt_ctx *ctx;                          /* owns the memory */
    prof_entry *e;
    int n, cap;
    int stack[PROF_DEPTH];                /* open regions: entry index */
    double t0[PROF_DEPTH];
    int depth;
    const char *coll[8][1 << RT_MAX_AXES]; /* collective names, made on first use */
};

double rt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

rt_prof *rt_prof_new(rt_ctx *ctx)
{
    rt_prof *p = rt_alloc(ctx, sizeof *p);
    p->ctx = ctx;
    return p;
}

void rt_prof_reset(rt_prof *p)
{
    p->n = 0;
    p->depth = 0;
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

void rt_prof_begin(rt_ctx *ctx, const char *name, int64_t bytes)
{
    rt_prof *p = ctx->prof;
    if (!p)
        return;
    if (p->depth == PROF_DEPTH)
        rt_fail(ctx, "profile regions nested deeper than %d (rt_prof_end missing?)", PROF_DEPTH);
    int i = entry(p, name ? name : "?");
    p->e[i].calls++;
    p->e[i].bytes += bytes;
    p->stack[p->depth] = i;
    p->t0[p->depth++] = rt_now();
}

void rt_prof_end(rt_ctx *ctx)
{
    rt_prof *p = ctx->prof;
    if (!p)
        return;
    if (p->depth == 0)
        rt_fail(ctx, "rt_prof_end without rt_prof_begin");
    p->depth--;
    p->e[p->stack[p->depth]].seconds += rt_now() - p->t0[p->depth];
}

const char *rt_prof_coll_name(rt_ctx *ctx, const char *kind, unsigned axes)
{
    static const char *const kinds[] = {"all_reduce", "all_gather", "reduce_scatter",
                                        "all_to_all", "broadcast"};
    rt_prof *p = ctx->prof;
    int k = 0;
    while (k < 5 && strcmp(kinds[k], kind))
        k++;
    if (k == 5)
        return kind;
    if (!p->coll[k][axes]) {
        char as[64];
        size_t n = strlen(kind) + sizeof as + 3;
        char *s = rt_alloc(ctx, n);
        snprintf(s, n, "%s(%s)", kind, rt_axes_str(ctx->mesh, axes, as, sizeof as));
        p->coll[k][axes] = s;
    }
    return p->coll[k][axes];
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
    memcpy(e, p->e, sizeof *e * (size_t)p->n);
    qsort(e, (size_t)p->n, sizeof *e, by_time);
    fprintf(out, "profile: rank 0, %d iter%s, times inclusive\n", iters, iters == 1 ? "" : "s");
    fprintf(out, "  %-28s %8s %12s %12s %14s\n", "name", "calls", "total ms", "ms/call", "bytes");
    for (int i = 0; i < p->n; i++)
        fprintf(out, "  %-28s %8lld %12.3f %12.4f %14lld\n", e[i].name, (long long)e[i].calls,
                e[i].seconds * 1e3, e[i].seconds * 1e3 / (double)e[i].calls,
                (long long)e[i].bytes);
    free(e);
}
