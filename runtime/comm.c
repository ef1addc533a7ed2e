/* comm.c - the collectives as generated code sees them: argument checks,
 * profiling, and dispatch to the backend in the context.  Also the data
 * helpers the backends share (elementwise reduction, box copies).  Groups
 * of mesh axes are the core's arithmetic (rt_grid_*, via rt_internal.h). */
#include "runtime/rt_internal.h"

#include <string.h>

/* ---- data helpers ------------------------------------------------------------------- */

bool rt_dtype_reducible(rt_dtype dt) { return dt == RT_F32 || dt == RT_F64 || dt == RT_I32; }

/* max / min propagate NaN, as the interpreter's maximum / minimum do. */
static void combine_f32(float *a, const float *s, int64_t n, rt_red red)
{
    switch (red) {
    case RT_RED_SUM:
    case RT_RED_AVG:
        for (int64_t i = 0; i < n; i++)
            a[i] += s[i];
        break;
    case RT_RED_MAX:
        for (int64_t i = 0; i < n; i++)
            a[i] = s[i] > a[i] || s[i] != s[i] ? s[i] : a[i];
        break;
    case RT_RED_MIN:
        for (int64_t i = 0; i < n; i++)
            a[i] = s[i] < a[i] || s[i] != s[i] ? s[i] : a[i];
        break;
    }
}

static void combine_f64(double *a, const double *s, int64_t n, rt_red red)
{
    switch (red) {
    case RT_RED_SUM:
    case RT_RED_AVG:
        for (int64_t i = 0; i < n; i++)
            a[i] += s[i];
        break;
    case RT_RED_MAX:
        for (int64_t i = 0; i < n; i++)
            a[i] = s[i] > a[i] || s[i] != s[i] ? s[i] : a[i];
        break;
    case RT_RED_MIN:
        for (int64_t i = 0; i < n; i++)
            a[i] = s[i] < a[i] || s[i] != s[i] ? s[i] : a[i];
        break;
    }
}

static void combine_i32(int32_t *a, const int32_t *s, int64_t n, rt_red red)
{
    switch (red) {
    case RT_RED_SUM:
    case RT_RED_AVG:
        /* wraps like MPI_SUM on int instead of overflowing (undefined in C) */
        for (int64_t i = 0; i < n; i++)
            a[i] = (int32_t)((uint32_t)a[i] + (uint32_t)s[i]);
        break;
    case RT_RED_MAX:
        for (int64_t i = 0; i < n; i++)
            a[i] = s[i] > a[i] ? s[i] : a[i];
        break;
    case RT_RED_MIN:
        for (int64_t i = 0; i < n; i++)
            a[i] = s[i] < a[i] ? s[i] : a[i];
        break;
    }
}

void rt_combine(rt_dtype dt, rt_red red, void *acc, const void *src, int64_t n)
{
    switch (dt) {
    case RT_F32:
        combine_f32(acc, src, n, red);
        break;
    case RT_F64:
        combine_f64(acc, src, n, red);
        break;
    case RT_I32:
        combine_i32(acc, src, n, red);
        break;
    default:
        RT_BUG("reduction on a dtype without arithmetic");
    }
}

void rt_divide(rt_dtype dt, void *acc, int64_t n, int k)
{
    switch (dt) {
    case RT_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)acc)[i] /= (float)k;
        break;
    case RT_F64:
        for (int64_t i = 0; i < n; i++)
            ((double *)acc)[i] /= k;
        break;
    case RT_I32:
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)acc)[i] /= k;
        break;
    default:
        RT_BUG("reduction on a dtype without arithmetic");
    }
}

void rt_copy_box(size_t esize, int rank, const int64_t *box, void *dst, const int64_t *ddims,
                 const int64_t *doff, const void *src, const int64_t *sdims, const int64_t *soff)
{
    for (int d = 0; d < rank; d++)
        if (box[d] <= 0)
            return;
    if (rank == 0) {
        memcpy(dst, src, esize);
        return;
    }
    int64_t sstr[RT_MAX_RANK], dstr[RT_MAX_RANK];
    sstr[rank - 1] = dstr[rank - 1] = 1;
    for (int d = rank - 2; d >= 0; d--) {
        sstr[d] = sstr[d + 1] * sdims[d + 1];
        dstr[d] = dstr[d + 1] * ddims[d + 1];
    }
    /* Trailing dims the box covers whole in both tensors are one contiguous
     * run together with the dim before them. */
    int k = rank - 1;
    int64_t run = box[k];
    while (k > 0 && box[k] == sdims[k] && box[k] == ddims[k]) {
        k--;
        run *= box[k];
    }
    int64_t s0 = 0, d0 = 0;
    for (int d = 0; d < rank; d++) {
        s0 += soff[d] * sstr[d];
        d0 += doff[d] * dstr[d];
    }
    size_t nb = (size_t)run * esize;
    int64_t idx[RT_MAX_RANK] = {0};
    for (;;) {
        int64_t so = s0, dof = d0;
        for (int d = 0; d < k; d++) {
            so += idx[d] * sstr[d];
            dof += idx[d] * dstr[d];
        }
        memcpy((char *)dst + (size_t)dof * esize, (const char *)src + (size_t)so * esize, nb);
        int d = k - 1;
        while (d >= 0 && ++idx[d] == box[d])
            idx[d--] = 0;
        if (d < 0)
            break;
    }
}

/* ---- argument checks ------------------------------------------------------------------ */

static void check_axes(rt_ctx *ctx, const char *what, unsigned axes)
{
    if (axes & ~rt_all_axes(ctx->mesh))
        rt_fail(ctx, "%s over axes 0x%x: the mesh has %d axes", what, axes, ctx->mesh->naxes);
}

static void check_red(rt_ctx *ctx, const char *what, rt_dtype dt, rt_red red)
{
    if (!rt_dtype_reducible(dt))
        rt_fail(ctx, "%s on %s: reductions need f32, f64 or i32", what, rt_dtype_name(dt));
    if ((unsigned)red > RT_RED_AVG)
        rt_fail(ctx, "%s: unknown reduction %d", what, (int)red);
}

static size_t esize_of(rt_ctx *ctx, const char *what, rt_dtype dt)
{
    int s = rt_dtype_size(dt);
    if (s <= 0)
        rt_fail(ctx, "%s: unknown dtype %d", what, (int)dt);
    return (size_t)s;
}

static void check_shape(rt_ctx *ctx, const char *what, int rank, const int64_t *dims, int dim)
{
    if (rank < 1 || rank > RT_MAX_RANK || dim < 0 || dim >= rank)
        rt_fail(ctx, "%s: dim %d of a rank-%d tensor", what, dim, rank);
    for (int d = 0; d < rank; d++)
        if (dims[d] < 0)
            rt_fail(ctx, "%s: negative size %lld", what, (long long)dims[d]);
}

/* Sum of lens[0..k); fails on a negative length. */
static int64_t lens_sum(rt_ctx *ctx, const char *what, const int64_t *lens, int k)
{
    int64_t s = 0;
    for (int i = 0; i < k; i++) {
        if (lens[i] < 0)
            rt_fail(ctx, "%s: member %d has negative length %lld", what, i, (long long)lens[i]);
        s += lens[i];
    }
    return s;
}

static void split3(int rank, const int64_t *dims, int dim, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++)
        *outer *= dims[d];
    for (int d = dim + 1; d < rank; d++)
        *inner *= dims[d];
}

/* The record of handle req (the table grows as handles come). */
static rt_inflight *inflight(rt_ctx *ctx, rt_req req)
{
    if (req < 0 || req > (1 << 20))
        rt_fail(ctx, "collective handle %d out of range", req);
    if (req >= ctx->ninflight) {
        int n = ctx->ninflight ? ctx->ninflight : 8;
        while (n <= req)
            n *= 2;
        rt_inflight *t = rt_alloc(ctx, sizeof *t * (size_t)n);
        if (ctx->ninflight)
            memcpy(t, ctx->inflight, sizeof *t * (size_t)ctx->ninflight);
        rt_free(ctx, ctx->inflight);
        ctx->inflight = t;
        ctx->ninflight = n;
    }
    return &ctx->inflight[req];
}

/* Entering a collective (req < 0: blocking; else its start under handle
 * req): what messages about a stopped rank name, then the profile / trace
 * region (bytes: rt_coll_bytes, as `dtc report`). */
static void begin(rt_ctx *ctx, rt_req req, rt_coll kind, unsigned axes, int64_t bytes)
{
    if (req >= 0) {
        rt_inflight *f = inflight(ctx, req);
        if (f->active)
            rt_fail(ctx, "%s started under handle %d, which is still in flight", rt_coll_name(kind),
                    req);
        *f = (rt_inflight){true, false, kind, axes, ctx->site};
    }
    ctx->in_axes = axes;
    ctx->in_site = ctx->site;
    ctx->in_coll = (int)kind + 1;
    if (ctx->prof && (req >= 0 ? rt_prof_coll_part_begin(ctx, kind, axes, bytes, "start")
                               : rt_prof_coll_begin(ctx, kind, axes, bytes)) != 0)
        rt_unwind(ctx);
}

static void done(rt_ctx *ctx, int rc)
{
    if (ctx->prof)
        rt_prof_end(ctx);
    if (rc != 0)
        rt_unwind(ctx);
    ctx->in_coll = 0;
    ctx->site = NULL;
}

char *rt_coll_where(const rt_ctx *ctx, char *buf, size_t n)
{
    int k = ctx->in_coll;
    if (!k) {
        snprintf(buf, n, "no collective");
        return buf;
    }
    char as[64];
    const char *site = ctx->in_site;
    rt_axes_str(ctx->mesh, ctx->in_axes, as, sizeof as);
    snprintf(buf, n, "%s(%s)%s%s", rt_coll_name((rt_coll)(k - 1)), as, site ? " at " : "",
             site ? site : "");
    return buf;
}

/* ---- the collectives ------------------------------------------------------------------- */

static void all_reduce(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, void *buf,
                       int64_t count, rt_red red)
{
    check_axes(ctx, "all_reduce", axes);
    check_red(ctx, "all_reduce", dt, red);
    if (count < 0)
        rt_fail(ctx, "all_reduce: negative count %lld", (long long)count);
    int k = rt_axes_size(ctx->mesh, axes);
    begin(ctx, req, RT_COLL_ALL_REDUCE, axes,
          rt_coll_bytes(RT_COLL_ALL_REDUCE, k, count, count, count, rt_dtype_size(dt)));
    if (req >= 0 && ctx->be->all_reduce_start) {
        ctx->inflight[req].in_backend = true;
        done(ctx, ctx->be->all_reduce_start(ctx, req, axes, dt, buf, count, red));
    } else {
        done(ctx, ctx->be->all_reduce(ctx, axes, dt, buf, count, red));
    }
}

void rt_all_reduce(rt_ctx *ctx, unsigned axes, rt_dtype dt, void *buf, int64_t count, rt_red red)
{
    all_reduce(ctx, -1, axes, dt, buf, count, red);
}

void rt_all_reduce_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, void *buf,
                         int64_t count, rt_red red)
{
    all_reduce(ctx, req, axes, dt, buf, count, red);
}

static void all_gather(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                       void *recv, int rank, const int64_t *local_dims, int dim,
                       const int64_t *member_lens)
{
    check_axes(ctx, "all_gather", axes);
    size_t es = esize_of(ctx, "all_gather", dt);
    check_shape(ctx, "all_gather", rank, local_dims, dim);
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    int64_t total = lens_sum(ctx, "all_gather", member_lens, rt_axes_size(ctx->mesh, axes));
    if (local_dims[dim] != member_lens[me])
        rt_fail(ctx, "all_gather: local size %lld along dim %d, but member_lens[%d] = %lld",
                (long long)local_dims[dim], dim, me, (long long)member_lens[me]);
    int64_t outer, inner;
    split3(rank, local_dims, dim, &outer, &inner);
    begin(ctx, req, RT_COLL_ALL_GATHER, axes,
          rt_coll_bytes(RT_COLL_ALL_GATHER, rt_axes_size(ctx->mesh, axes),
                        outer * member_lens[me] * inner, outer * total * inner, 0, (int)es));
    if (req >= 0 && ctx->be->all_gather_start) {
        ctx->inflight[req].in_backend = true;
        done(ctx, ctx->be->all_gather_start(ctx, req, axes, dt, send, recv, outer, inner, member_lens));
    } else {
        done(ctx, ctx->be->all_gather(ctx, axes, dt, send, recv, outer, inner, member_lens));
    }
}

void rt_all_gather(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                   int rank, const int64_t *local_dims, int dim, const int64_t *member_lens)
{
    all_gather(ctx, -1, axes, dt, send, recv, rank, local_dims, dim, member_lens);
}

void rt_all_gather_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                         void *recv, int rank, const int64_t *local_dims, int dim,
                         const int64_t *member_lens)
{
    all_gather(ctx, req, axes, dt, send, recv, rank, local_dims, dim, member_lens);
}

static void reduce_scatter(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                           const void *send, void *recv, int rank, const int64_t *send_dims,
                           int dim, const int64_t *member_lens, rt_red red)
{
    check_axes(ctx, "reduce_scatter", axes);
    check_red(ctx, "reduce_scatter", dt, red);
    check_shape(ctx, "reduce_scatter", rank, send_dims, dim);
    int64_t total = lens_sum(ctx, "reduce_scatter", member_lens, rt_axes_size(ctx->mesh, axes));
    if (send_dims[dim] != total)
        rt_fail(ctx, "reduce_scatter: size %lld along dim %d, but member_lens add up to %lld",
                (long long)send_dims[dim], dim, (long long)total);
    int64_t outer, inner;
    split3(rank, send_dims, dim, &outer, &inner);
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    begin(ctx, req, RT_COLL_REDUCE_SCATTER, axes,
          rt_coll_bytes(RT_COLL_REDUCE_SCATTER, rt_axes_size(ctx->mesh, axes), outer * total * inner,
                        outer * member_lens[me] * inner, 0, rt_dtype_size(dt)));
    if (req >= 0 && ctx->be->reduce_scatter_start) {
        ctx->inflight[req].in_backend = true;
        done(ctx, ctx->be->reduce_scatter_start(ctx, req, axes, dt, send, recv, outer, inner,
                                                member_lens, red));
    } else {
        done(ctx, ctx->be->reduce_scatter(ctx, axes, dt, send, recv, outer, inner, member_lens, red));
    }
}

void rt_reduce_scatter(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                       int rank, const int64_t *send_dims, int dim, const int64_t *member_lens,
                       rt_red red)
{
    reduce_scatter(ctx, -1, axes, dt, send, recv, rank, send_dims, dim, member_lens, red);
}

void rt_reduce_scatter_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                             const void *send, void *recv, int rank, const int64_t *send_dims,
                             int dim, const int64_t *member_lens, rt_red red)
{
    reduce_scatter(ctx, req, axes, dt, send, recv, rank, send_dims, dim, member_lens, red);
}

static void all_to_all(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                       void *recv, int rank, const int64_t *send_dims, int split_dim,
                       const int64_t *split_lens, int cat_dim, const int64_t *cat_lens)
{
    check_axes(ctx, "all_to_all", axes);
    size_t es = esize_of(ctx, "all_to_all", dt);
    check_shape(ctx, "all_to_all", rank, send_dims, split_dim);
    check_shape(ctx, "all_to_all", rank, send_dims, cat_dim);
    if (split_dim == cat_dim)
        rt_fail(ctx, "all_to_all: split and concatenation along the same dim %d", cat_dim);
    int k = rt_axes_size(ctx->mesh, axes);
    int me = rt_member_of(ctx->mesh, axes, ctx->coords);
    int64_t total = lens_sum(ctx, "all_to_all", split_lens, k);
    lens_sum(ctx, "all_to_all", cat_lens, k);
    if (send_dims[split_dim] != total)
        rt_fail(ctx, "all_to_all: size %lld along split dim %d, but split_lens add up to %lld",
                (long long)send_dims[split_dim], split_dim, (long long)total);
    if (send_dims[cat_dim] != cat_lens[me])
        rt_fail(ctx, "all_to_all: size %lld along dim %d, but cat_lens[%d] = %lld",
                (long long)send_dims[cat_dim], cat_dim, me, (long long)cat_lens[me]);
    int64_t n = rt_numel(rank, send_dims);
    int64_t kept = send_dims[split_dim] ? n / send_dims[split_dim] * split_lens[me] : 0;
    begin(ctx, req, RT_COLL_ALL_TO_ALL, axes, rt_coll_bytes(RT_COLL_ALL_TO_ALL, k, n, 0, kept, (int)es));
    done(ctx, ctx->be->all_to_all(ctx, axes, dt, send, recv, rank, send_dims, split_dim,
                                  split_lens, cat_dim, cat_lens));
}

void rt_all_to_all(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                   int rank, const int64_t *send_dims, int split_dim, const int64_t *split_lens,
                   int cat_dim, const int64_t *cat_lens)
{
    all_to_all(ctx, -1, axes, dt, send, recv, rank, send_dims, split_dim, split_lens, cat_dim,
               cat_lens);
}

void rt_all_to_all_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                         void *recv, int rank, const int64_t *send_dims, int split_dim,
                         const int64_t *split_lens, int cat_dim, const int64_t *cat_lens)
{
    all_to_all(ctx, req, axes, dt, send, recv, rank, send_dims, split_dim, split_lens, cat_dim,
               cat_lens);
}

/* This member sends to member dest and receives from member src (both
 * itself: a local copy).  Under a handle it runs on the backend's start
 * and wait, so the block computed meanwhile overlaps the transfer. */
static void collective_permute(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                               const void *send, void *recv, int64_t count, int dest, int src)
{
    check_axes(ctx, "collective_permute", axes);
    size_t es = esize_of(ctx, "collective_permute", dt);
    if (count < 0)
        rt_fail(ctx, "collective_permute: negative count %lld", (long long)count);
    size_t bytes = (size_t)count * es;
    if (bytes > 0 && (const char *)send < (char *)recv + bytes && (char *)recv < (const char *)send + bytes)
        rt_fail(ctx, "collective_permute: the send and receive buffers overlap");
    int k = rt_axes_size(ctx->mesh, axes), me = rt_member_of(ctx->mesh, axes, ctx->coords);
    if (dest < 0 || dest >= k || src < 0 || src >= k || (dest == me) != (src == me))
        rt_fail(ctx, "collective_permute: member %d of %d cannot send to %d and receive from %d", me, k, dest, src);
    begin(ctx, req, RT_COLL_COLLECTIVE_PERMUTE, axes,
          rt_coll_bytes(RT_COLL_COLLECTIVE_PERMUTE, k, count, count, dest == me ? count : 0, (int)es));
    if (k == 1) { /* a group of one keeps its own buffer */
        if (bytes > 0)
            memcpy(recv, send, bytes);
        done(ctx, 0);
        return;
    }
    if (!ctx->be->collective_permute)
        rt_fail(ctx, "collective_permute: the %s backend has no point-to-point step", ctx->be->name);
    if (req >= 0 && ctx->be->collective_permute_start) {
        ctx->inflight[req].in_backend = true;
        done(ctx, ctx->be->collective_permute_start(ctx, req, axes, dest, src, send, recv, bytes));
    } else {
        done(ctx, ctx->be->collective_permute(ctx, axes, dest, src, send, recv, bytes));
    }
}

void rt_collective_permute(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                           int64_t count, int dest, int src)
{
    collective_permute(ctx, -1, axes, dt, send, recv, count, dest, src);
}

void rt_collective_permute_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                                 const void *send, void *recv, int64_t count, int dest, int src)
{
    collective_permute(ctx, req, axes, dt, send, recv, count, dest, src);
}

/* Completes the collective started under req: the backend's wait when its
 * start ran in the backend, else nothing is left to do (it completed in its
 * start).  The wait is a profile region of its own: time blocked in it is
 * exposed communication. */
void rt_wait(rt_ctx *ctx, rt_req req)
{
    rt_inflight *f = req >= 0 && req < ctx->ninflight ? &ctx->inflight[req] : NULL;
    if (!f || !f->active)
        rt_fail(ctx, "wait for collective handle %d, which is not in flight", req);
    ctx->in_axes = f->axes;
    ctx->in_site = f->site;
    ctx->in_coll = (int)f->kind + 1;
    ctx->site = f->site;
    if (ctx->prof && rt_prof_coll_part_begin(ctx, f->kind, f->axes, 0, "wait") != 0)
        rt_unwind(ctx);
    int rc = f->in_backend ? ctx->be->wait(ctx, req) : 0;
    f->active = false;
    done(ctx, rc);
}

void rt_broadcast(rt_ctx *ctx, unsigned axes, rt_dtype dt, void *buf, int64_t count, int root)
{
    check_axes(ctx, "broadcast", axes);
    size_t es = esize_of(ctx, "broadcast", dt);
    if (count < 0)
        rt_fail(ctx, "broadcast: negative count %lld", (long long)count);
    if (root < 0 || root >= rt_axes_size(ctx->mesh, axes))
        rt_fail(ctx, "broadcast: root %d is not a member of a group of %d", root,
                rt_axes_size(ctx->mesh, axes));
    begin(ctx, -1, RT_COLL_BROADCAST, axes,
          rt_coll_bytes(RT_COLL_BROADCAST, rt_axes_size(ctx->mesh, axes), count, count, 0, (int)es));
    done(ctx, ctx->be->broadcast(ctx, axes, buf, (size_t)count * es, root));
}

void rt_barrier(rt_ctx *ctx, unsigned axes)
{
    check_axes(ctx, "barrier", axes);
    if (ctx->be->barrier(ctx, axes) != 0)
        rt_unwind(ctx);
}
