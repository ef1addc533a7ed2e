/* ctx.c - the rank context: where a rank is, its local shapes, its memory,
 * and how it fails.  Above the core (rt_mesh.c does the arithmetic), below
 * profile.c and comm.c: nothing here calls them (runtime/README.md). */
#include "runtime/rt_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void rt_bug(const char *file, int line, const char *msg)
{
    fprintf(stderr, "%s:%d: internal error in the dt runtime: %s\n", file, line, msg);
    fflush(stderr);
    abort();
}

void rt_ctx_init(rt_ctx *ctx, const rt_mesh *mesh, int rank, const rt_backend *be, void *world)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->mesh = mesh;
    ctx->rank = rank;
    ctx->nranks = rt_mesh_size(mesh);
    rt_mesh_coords(mesh, rank, ctx->coords);
    ctx->be = be;
    ctx->world = world;
}

int rt_rank(const rt_ctx *ctx) { return ctx->rank; }
int rt_nranks(const rt_ctx *ctx) { return ctx->nranks; }
const rt_mesh *rt_ctx_mesh(const rt_ctx *ctx) { return ctx->mesh; }

void rt_coords(const rt_ctx *ctx, int coords[RT_MAX_AXES])
{
    memcpy(coords, ctx->coords, sizeof ctx->coords);
}

int rt_group_size(const rt_ctx *ctx, unsigned axes) { return rt_axes_size(ctx->mesh, axes); }

int rt_group_index(const rt_ctx *ctx, unsigned axes)
{
    return rt_member_of(ctx->mesh, axes, ctx->coords);
}

char *rt_axes_str(const rt_mesh *m, unsigned axes, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int a = 0; a < m->naxes && k < n; a++)
        if (axes >> a & 1)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? "," : "",
                                  m->axis_name[a] ? m->axis_name[a] : "?");
    if (!axes)
        snprintf(buf, n, "self");
    return buf;
}

/* ---- local shards ----------------------------------------------------------- */

/* The axes whose entry in pl splits tensor dim d. */
static unsigned split_axes(const rt_mesh *mesh, const rt_pl *pl, int d)
{
    unsigned split = 0;
    for (int a = 0; a < mesh->naxes; a++)
        if (pl[a].kind == RT_PL_S && pl[a].dim == d)
            split |= 1u << a;
    return split;
}

void rt_local_box(const rt_mesh *mesh, const rt_pl *pl, const int coords[RT_MAX_AXES], int rank,
                  const int64_t *dims, int64_t *off, int64_t *len)
{
    for (int d = 0; d < rank; d++)
        rt_chunk_nested(dims[d], mesh->naxes, mesh->size, split_axes(mesh, pl, d), coords, &off[d],
                        &len[d]);
}

void rt_local_range(const rt_ctx *ctx, const rt_pl *pl, int dim, int64_t n, int64_t *off,
                    int64_t *len)
{
    const rt_mesh *m = ctx->mesh;
    rt_chunk_nested(n, m->naxes, m->size, split_axes(m, pl, dim), ctx->coords, off, len);
}

void rt_local_dims(const rt_ctx *ctx, const rt_tensor_desc *desc, int64_t *dims_out)
{
    int64_t off[RT_MAX_RANK];
    rt_local_box(ctx->mesh, desc->pl, ctx->coords, desc->rank, desc->dims, off, dims_out);
}

void rt_member_lens(const rt_ctx *ctx, unsigned axes, const rt_pl *pl, int dim, int64_t n,
                    int64_t *lens_out)
{
    const rt_mesh *m = ctx->mesh;
    unsigned split = split_axes(m, pl, dim);
    int k = rt_axes_size(m, axes);
    for (int i = 0; i < k; i++) {
        int c[RT_MAX_AXES];
        int64_t off;
        rt_grid_member_coords(m->naxes, m->size, axes, ctx->coords, i, c);
        rt_chunk_nested(n, m->naxes, m->size, split, c, &off, &lens_out[i]);
    }
}

int64_t rt_numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    return n;
}

/* ---- memory ---------------------------------------------------------------------- */

/* Lives in the first RT_ALIGN bytes of every rt_alloc'd block. */
struct rt_block {
    rt_block *prev, *next;
};

void *rt_alloc(rt_ctx *ctx, size_t bytes)
{
    void *base = NULL;
    size_t n = (bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
    if (n / RT_ALIGN < bytes / RT_ALIGN || posix_memalign(&base, RT_ALIGN, RT_ALIGN + n) != 0)
        rt_fail(ctx, "out of memory allocating %zu bytes", bytes);
    memset(base, 0, RT_ALIGN + n);
    rt_block *b = base;
    b->next = ctx->blocks;
    if (b->next)
        b->next->prev = b;
    ctx->blocks = b;
    return (char *)base + RT_ALIGN;
}

void rt_free(rt_ctx *ctx, void *p)
{
    if (!p)
        return;
    rt_block *b = (rt_block *)((char *)p - RT_ALIGN);
    if (b->prev)
        b->prev->next = b->next;
    else
        ctx->blocks = b->next;
    if (b->next)
        b->next->prev = b->prev;
    free(b);
}

void rt_free_all(rt_ctx *ctx)
{
    while (ctx->blocks) {
        rt_block *b = ctx->blocks;
        ctx->blocks = b->next;
        free(b);
    }
    ctx->workspace = NULL;
    ctx->prof = NULL;
}

void *rt_workspace(rt_ctx *ctx) { return ctx->workspace; }

/* ---- failure --------------------------------------------------------------------------- */

_Noreturn void rt_fail(rt_ctx *ctx, const char *fmt, ...)
{
    char msg[RT_MSG];
    int k = snprintf(msg, sizeof msg, "rank %d: ", ctx->rank);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    ctx->be->fail(ctx, msg);
    RT_BUG("a backend's fail returned");
}

_Noreturn void rt_unwind(rt_ctx *ctx)
{
    if (!ctx->can_unwind)
        RT_BUG("a rank failed outside a run");
    longjmp(ctx->unwind, 1);
}
