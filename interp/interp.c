/* interp.c - running a function: inputs, the instruction loop, results.
 * See interp.h for the semantics of both entry points.
 *
 * One loop serves both: a run has nranks copies of every value (1 for the
 * global run), stored in slot[value id * nranks + rank].  Instruction i runs
 * for every rank before instruction i + 1.  A value's buffers are freed
 * after the last instruction that reads it, unless the function returns it.
 */
#include "interp/interp_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Run {
    Arena *ar;
    const IrModule *m;
    const IrMesh *mesh;
    const IrFunc *f;
    bool sharded;
    int nranks;
    int nvals;   /* value ids are < nvals */
    Tensor *slot; /* nvals * nranks */
    bool *owned; /* by id: slot data was malloc'd here */
    int *last;   /* by id: index of the last reading instruction; INT_MAX: a result */
    char *err;
    size_t errlen;
} Run;

static int rfail(Run *R, const SrcLoc *loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int rfail(Run *R, const SrcLoc *loc, const char *fmt, ...)
{
    int n = 0;
    if (loc && loc->file && loc->line > 0)
        n = snprintf(R->err, R->errlen, "%s:%d:%d: ", loc->file, loc->line, loc->col);
    if (n < 0 || (size_t)n >= R->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R->err + n, R->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static Tensor *slot(Run *R, const IrValue *v, int rank) { return &R->slot[(size_t)v->id * (size_t)R->nranks + (size_t)rank]; }

static void drop(Run *R, const IrValue *v)
{
    if (!R->owned[v->id])
        return;
    for (int r = 0; r < R->nranks; r++) {
        free(slot(R, v, r)->data);
        slot(R, v, r)->data = NULL;
    }
    R->owned[v->id] = false;
}

static Tensor tensor_of(const IrType *t)
{
    Tensor x;
    memset(&x, 0, sizeof x);
    x.dtype = t->dtype;
    x.rank = t->rank;
    for (int d = 0; d < t->rank; d++)
        x.dims[d] = t->dims[d];
    return x;
}

static int check_dtype(Run *R, const IrType *t, const SrcLoc *loc)
{
    if (t->dtype == DT_F16 || t->dtype == DT_BF16)
        return rfail(R, loc, "%s is only supported on the CUDA target", ir_dtype_name(t->dtype));
    if ((unsigned)t->dtype >= DT_COUNT)
        DTC_BUG("interp: bad dtype");
    return 0;
}

/* Checks the whole function before running anything. */
static int check_func(Run *R)
{
    const IrFunc *f = R->f;
    char b[256];
    for (int i = 0; i < f->nparams; i++) {
        const IrValue *p = f->params[i];
        if (check_dtype(R, &p->type, &f->loc) != 0)
            return -1;
        if (R->sharded && interp_check_pl(R->mesh, &p->type, &p->pl, b, sizeof b) != 0)
            return rfail(R, &f->loc, "parameter %s: %s", p->name ? p->name : "?", b);
    }
    for (const IrInst *in = f->first; in; in = in->next) {
        if (in->op == OP_CALL)
            return rfail(R, &in->loc, "call to %s must be inlined before interpretation",
                         in->a.callee ? in->a.callee : "?");
        if (in->nres != 1 && in->op != OP_LOOP && in->op != OP_LOCAL_CALL)
            return rfail(R, &in->loc, "%s: expected one result, got %d", ir_op_name(in->op),
                         in->nres);
        const IrValue *v = in->res[0];
        if (check_dtype(R, &v->type, &in->loc) != 0)
            return -1;
        if (R->sharded && interp_check_pl(R->mesh, &v->type, &v->pl, b, sizeof b) != 0)
            return rfail(R, &in->loc, "%%%d: %s", v->id, b);
        for (int k = 0; k < in->nargs; k++)
            if (!in->args[k] || in->args[k]->id < 0 || in->args[k]->id >= R->nvals)
                DTC_BUG("interp: operand is not a value of this function");
    }
    if (f->nresults > 0 && !f->results)
        DTC_BUG("interp: results missing");
    return 0;
}

/* ---- inputs ------------------------------------------------------------------------ */

static const char *param_name(const IrValue *p) { return p->name ? p->name : "?"; }

/* The global tensor of parameter i: given, or from its initialiser.  *own:
 * the data was malloc'd here. */
static int param_global(Run *R, const InterpInputs *in, int i, Tensor *g, bool *own)
{
    const IrFunc *f = R->f;
    const IrValue *p = f->params[i];
    const IrInit *init = &f->inits[i];
    char want[96], have[96];
    ir_type_str(&p->type, want, sizeof want);
    *own = false;
    if (in && in->given && in->given[i]) {
        const Tensor *t = in->given[i];
        IrType tt = interp_tensor_type(t);
        if (!ir_type_eq(&tt, &p->type)) {
            if (in->given_what && in->given_what[i])
                return rfail(R, NULL, "%s: expected %s, file has %s", in->given_what[i], want,
                             ir_type_str(&tt, have, sizeof have));
            return rfail(R, NULL, "--in %s: expected %s, file has %s", param_name(p), want,
                         ir_type_str(&tt, have, sizeof have));
        }
        *g = *t;
        return 0;
    }
    *g = tensor_of(&p->type);
    switch (init->kind) {
    case INIT_NONE:
        return rfail(R, &f->loc, "parameter %s has no initialiser: supply it with --in %s=FILE.npy",
                     param_name(p), param_name(p));
    case INIT_LOAD: {
        char path[4096], e[512];
        const char *ip = init->path ? init->path : "";
        if (ip[0] == '/' || !in || !in->base_dir || !in->base_dir[0])
            snprintf(path, sizeof path, "%s", ip);
        else
            snprintf(path, sizeof path, "%s/%s", in->base_dir, ip);
        rt_npy n;
        if (rt_npy_read(path, &n, e, sizeof e) != 0)
            return rfail(R, &f->loc, "parameter %s: %s", param_name(p), e);
        Tensor t = tensor_of(&p->type);
        t.dtype = (DType)n.dtype;
        t.rank = n.rank;
        for (int d = 0; d < n.rank; d++)
            t.dims[d] = n.dims[d];
        IrType tt = interp_tensor_type(&t);
        if (!ir_type_eq(&tt, &p->type)) {
            rt_npy_free(&n);
            return rfail(R, &f->loc, "load(\"%s\") for parameter %s: expected %s, file has %s", ip,
                         param_name(p), want, ir_type_str(&tt, have, sizeof have));
        }
        g->data = n.data; /* malloc'd by rt_npy_read: ours now */
        *own = true;
        return 0;
    }
    default: {
        rt_init ri = {(rt_init_kind)init->kind, init->seed, init->a, init->b, init->path, 0};
        if (init->per_step)
            ri.seed = rt_step_seed(init->seed, in ? in->step : 0);
        int64_t off[IR_MAX_RANK] = {0};
        g->data = interp_alloc(NULL, interp_nbytes(g));
        if (!g->data)
            return rfail(R, &f->loc, "parameter %s: out of memory", param_name(p));
        *own = true;
        rt_init_fill(&ri, (rt_dtype)g->dtype, g->rank, g->dims, off, g->dims, g->data);
        return 0;
    }
    }
}

static int load_params(Run *R, const InterpInputs *in)
{
    const IrFunc *f = R->f;
    char e[512];
    for (int i = 0; i < f->nparams; i++) {
        const IrValue *p = f->params[i];
        Tensor g;
        bool own;
        if (param_global(R, in, i, &g, &own) != 0)
            return -1;
        if (!R->sharded) {
            *slot(R, p, 0) = g;
            R->owned[p->id] = own;
        } else {
            R->owned[p->id] = true;
            for (int r = 0; r < R->nranks; r++)
                if (interp_scatter(NULL, R->mesh, &p->pl, &g, r, slot(R, p, r), e, sizeof e) != 0) {
                    if (own)
                        free(g.data);
                    return rfail(R, &f->loc, "parameter %s: %s", param_name(p), e);
                }
            if (own)
                free(g.data);
        }
        if (R->last[p->id] < 0)
            drop(R, p);
    }
    return 0;
}

/* ---- instructions ------------------------------------------------------------------- */

static int run_layout(Run *R, const IrInst *in)
{
    const IrValue *src = in->args[0], *dst = in->res[0];
    const IrMesh *m = R->mesh;
    unsigned all = (1u << m->naxes) - 1u;
    unsigned axes = in->op == OP_REDISTRIBUTE ? all : in->a.axes;
    char b1[128], b2[128], e[512];
    if (axes & ~all)
        return rfail(R, &in->loc, "%s: mesh axes 0x%x are not on the mesh", ir_op_name(in->op), axes);
    if (!ir_type_eq(&src->type, &dst->type))
        return rfail(R, &in->loc, "%s: changes the global type", ir_op_name(in->op));
    Placement ps = interp_pl_or_r(m, &src->pl), pd = interp_pl_or_r(m, &dst->pl);
    for (int a = 0; a < m->naxes; a++) {
        if (axes >> a & 1)
            continue;
        Placement x = pl_replicated(1), y = pl_replicated(1);
        x.e[0] = ps.e[a];
        y.e[0] = pd.e[a];
        if (!pl_eq(&x, &y))
            return rfail(R, &in->loc, "%s over axes 0x%x: %s -> %s changes mesh axis %d",
                         ir_op_name(in->op), axes, pl_str(m, &ps, b1, sizeof b1),
                         pl_str(m, &pd, b2, sizeof b2), a);
    }
    for (int rep = 0; rep < R->nranks; rep++) {
        int rc[IR_MAX_AXES];
        ir_mesh_coords(m, rep, rc);
        /* one representative per group: its member 0 */
        if (rt_grid_member(m->naxes, m->size, axes, rc) != 0)
            continue;
        Tensor box;
        int64_t boxoff[IR_MAX_RANK];
        if (interp_combine(NULL, m, &src->type, &ps, axes, rc, slot(R, src, 0), &box, boxoff, e,
                           sizeof e) != 0)
            return rfail(R, &in->loc, "%s: %s", ir_op_name(in->op), e);
        for (int i = 0; i < rt_grid_count(m->naxes, m->size, axes); i++) {
            int c[IR_MAX_AXES];
            int r = rt_grid_member_rank(m->naxes, m->size, axes, rc, i);
            ir_mesh_coords(m, r, c);
            if (interp_extract(NULL, m, &dst->type, &pd, axes, c, &box, boxoff, slot(R, dst, r),
                               e, sizeof e) != 0) {
                free(box.data);
                return rfail(R, &in->loc, "%s: %s", ir_op_name(in->op), e);
            }
        }
        free(box.data);
    }
    return 0;
}

static int run_loop(Run *R, const IrInst *in);
static int run_local_call(Run *R, const IrInst *in);
static int copy_tensor(Run *R, const Tensor *from, Tensor *to, const SrcLoc *loc);

/* A point-to-point step: rank r's result is a copy of the operand of the
 * member that sends to it (rt_permute_pair: a shift or a perm).  Not a
 * layout change, so not the layout engine: the ranks' data differ. */
static int run_collective_permute(Run *R, const IrInst *in)
{
    const IrMesh *m = R->mesh;
    unsigned axes = in->a.axes;
    if (axes & ~((1u << m->naxes) - 1u))
        return rfail(R, &in->loc, "collective_permute: mesh axes 0x%x are not on the mesh", axes);
    int k = rt_grid_count(m->naxes, m->size, axes);
    for (int r = 0; r < R->nranks; r++) {
        int c[IR_MAX_AXES], dest, src;
        ir_mesh_coords(m, r, c);
        int me = rt_grid_member(m->naxes, m->size, axes, c);
        if (!rt_permute_pair(k, me, in->a.ints, in->a.nints, &dest, &src))
            return rfail(R, &in->loc, "collective_permute: neither a shift nor a permutation of %d members", k);
        int from = rt_grid_member_rank(m->naxes, m->size, axes, c, src);
        if (copy_tensor(R, slot(R, in->args[0], from), slot(R, in->res[0], r), &in->loc) != 0)
            return -1;
    }
    return 0;
}

static int run_inst(Run *R, const IrInst *in)
{
    if (in->op == OP_LOOP)
        return run_loop(R, in);
    if (in->op == OP_LOCAL_CALL)
        return run_local_call(R, in);
    const IrValue *res = in->res[0];
    R->owned[res->id] = true; /* so a failure half way still frees what was made */
    if (R->sharded && in->op == OP_COLLECTIVE_PERMUTE)
        return run_collective_permute(R, in);
    if (R->sharded && interp_is_layout_op(in->op))
        return run_layout(R, in);
    Tensor args[8], *argv = args;
    if (in->nargs > 8) {
        argv = calloc((size_t)in->nargs, sizeof *argv);
        if (!argv)
            return rfail(R, &in->loc, "out of memory");
    }
    int rc = 0;
    for (int r = 0; r < R->nranks && rc == 0; r++) {
        int coords[IR_MAX_AXES];
        ir_mesh_coords(R->mesh, r, coords);
        for (int k = 0; k < in->nargs; k++) {
            argv[k] = *slot(R, in->args[k], r);
            if (!argv[k].data)
                DTC_BUG("interp: operand used after its last use or before its definition");
        }
        Tensor *out = slot(R, res, r);
        if (R->sharded) {
            Placement pl = interp_pl_or_r(R->mesh, &res->pl);
            IrType lt = pl_local_type(R->mesh, &res->type, &pl, coords);
            *out = tensor_of(&lt);
        } else {
            *out = tensor_of(&res->type);
        }
        out->data = interp_alloc(NULL, interp_nbytes(out));
        if (!out->data) {
            rc = rfail(R, &in->loc, "%s: out of memory", ir_op_name(in->op));
            break;
        }
        KernelCtx k = {in, argv, out, 0, 0, !R->sharded, NULL, 0};
        char e[512];
        k.err = e;
        k.errlen = sizeof e;
        if (in->op == OP_EMBEDDING && in->nargs == 2) {
            const IrValue *tab = in->args[0];
            k.nrows = tab->type.rank > 0 ? tab->type.dims[0] : 0;
            if (R->sharded && tab->type.rank > 0) {
                Placement tp = interp_pl_or_r(R->mesh, &tab->pl);
                int64_t len;
                pl_local_range(R->mesh, &tp, coords, 0, k.nrows, &k.row_off, &len);
            }
        }
        if (in->op == OP_PICK && in->nargs == 2) {
            /* partition.c's cross_entropy pieces: the logits' first local
             * column and global column count, as the embedding's rows */
            const IrValue *lg = in->args[0];
            k.nrows = lg->type.rank == 2 ? lg->type.dims[1] : 0;
            if (R->sharded && lg->type.rank == 2) {
                Placement lp = interp_pl_or_r(R->mesh, &lg->pl);
                int64_t len;
                pl_local_range(R->mesh, &lp, coords, 1, k.nrows, &k.row_off, &len);
            }
        }
        if (in->op == OP_ONE_HOT || in->op == OP_SCATTER_ADD) {
            /* one_hot: the classes this rank holds (the result's last dim);
             * scatter_add: the target rows it holds along the axis */
            const IrValue *v = in->op == OP_ONE_HOT ? res : in->args[0];
            int d = in->op == OP_ONE_HOT ? v->type.rank - 1 : in->a.dim;
            if (d >= 0 && d < v->type.rank) {
                k.nrows = v->type.dims[d];
                if (R->sharded) {
                    Placement vp = interp_pl_or_r(R->mesh, &v->pl);
                    int64_t len;
                    pl_local_range(R->mesh, &vp, coords, d, k.nrows, &k.row_off, &len);
                }
            }
        }
        if (in->op == OP_IOTA && R->sharded) { /* this rank's first index along the axis */
            const IrValue *v = in->res[0];
            Placement vp = interp_pl_or_r(R->mesh, &v->pl);
            int64_t len;
            if (in->a.dim >= 0 && in->a.dim < v->type.rank)
                pl_local_range(R->mesh, &vp, coords, in->a.dim, v->type.dims[in->a.dim], &k.row_off, &len);
        }
        if (interp_kernel(&k) != 0) {
            if (R->sharded)
                rc = rfail(R, &in->loc, "%s (rank %d)", e, r);
            else
                rc = rfail(R, &in->loc, "%s", e);
        }
    }
    if (argv != args)
        free(argv);
    return rc;
}

/* ---- running a function --------------------------------------------------------- */

/* A Run of f with nothing loaded yet; -1 (message in err) when out of memory. */
static int run_open(Run *R, Arena *ar, const IrModule *m, const IrMesh *mesh, const IrFunc *f, bool sharded,
                    char *err, size_t errlen)
{
    memset(R, 0, sizeof *R);
    R->ar = ar;
    R->m = m;
    R->mesh = mesh;
    R->f = f;
    R->sharded = sharded;
    R->nranks = sharded ? ir_mesh_nranks(mesh) : 1;
    R->nvals = f->next_id;
    R->err = err;
    R->errlen = errlen;
    if (R->nranks < 1)
        return rfail(R, NULL, "the mesh has no ranks");
    R->slot = calloc((size_t)(R->nvals ? R->nvals : 1) * (size_t)R->nranks, sizeof *R->slot);
    R->owned = calloc((size_t)(R->nvals ? R->nvals : 1), sizeof *R->owned);
    R->last = malloc(sizeof *R->last * (size_t)(R->nvals ? R->nvals : 1));
    if (!R->slot || !R->owned || !R->last)
        return rfail(R, NULL, "out of memory");
    for (int i = 0; i < R->nvals; i++)
        R->last[i] = -1;
    if (check_func(R) != 0)
        return -1;
    int idx = 0;
    for (const IrInst *i = f->first; i; i = i->next, idx++)
        for (int k = 0; k < i->nargs; k++)
            R->last[i->args[k]->id] = idx;
    for (int k = 0; k < f->nresults; k++)
        R->last[f->results[k]->id] = INT_MAX;
    return 0;
}

/* Runs every instruction; the parameters' slots are filled. */
static int run_insts(Run *R)
{
    int idx = 0;
    for (const IrInst *i = R->f->first; i; i = i->next, idx++) {
        if (run_inst(R, i) != 0)
            return -1;
        for (int k = 0; k < i->nargs; k++)
            if (R->last[i->args[k]->id] <= idx)
                drop(R, i->args[k]);
        for (int k = 0; k < i->nres; k++)
            if (R->last[i->res[k]->id] <= idx)
                drop(R, i->res[k]);
    }
    return 0;
}

static void run_close(Run *R)
{
    if (R->owned && R->slot)
        for (int id = 0; id < R->nvals; id++)
            if (R->owned[id])
                for (int r = 0; r < R->nranks; r++)
                    free(R->slot[(size_t)id * (size_t)R->nranks + (size_t)r].data);
    free(R->slot);
    free(R->owned);
    free(R->last);
}

static int copy_tensor(Run *R, const Tensor *from, Tensor *to, const SrcLoc *loc)
{
    *to = *from;
    size_t nb = interp_nbytes(from);
    to->data = interp_alloc(NULL, nb ? nb : 1);
    if (!to->data)
        return rfail(R, loc, "loop: out of memory");
    if (nb)
        memcpy(to->data, from->data, nb);
    return 0;
}

/* A loop: the body runs `trip` times (every rank, in lockstep) on the
 * carried values, slice [l] of each stacked operand (dim 0 is whole on every
 * rank, so a slice is contiguous) and the captures. */
static int run_loop(Run *R, const IrInst *in)
{
    const IrFunc *b = in->a.fn;
    int nc = in->a.ncarry, ns = in->a.nstack, nr = R->nranks;
    for (int k = 0; k < in->nres; k++)
        R->owned[in->res[k]->id] = true;
    for (int k = 0; k < nc; k++)
        for (int r = 0; r < nr; r++)
            if (copy_tensor(R, slot(R, in->args[k], r), slot(R, in->res[k], r), &in->loc) != 0)
                return -1;
    for (int64_t l = 0; l < in->a.trip; l++) {
        Run B;
        int rc = run_open(&B, R->ar, R->m, R->mesh, b, R->sharded, R->err, R->errlen);
        for (int k = 0; rc == 0 && k < in->nargs; k++)
            for (int r = 0; r < nr; r++) {
                const IrValue *src = k < nc ? in->res[k] : in->args[k];
                Tensor t = *slot(R, src, r);
                if (k >= nc && k < nc + ns) {
                    if (t.rank < 1 || t.dims[0] != in->a.trip)
                        DTC_BUG("interp: a stacked operand's local dim 0 is not the trip count");
                    Tensor sl = t;
                    sl.rank = t.rank - 1;
                    for (int d = 0; d < sl.rank; d++)
                        sl.dims[d] = t.dims[d + 1];
                    sl.dims[sl.rank] = 0;
                    sl.data = (char *)t.data + (size_t)l * interp_nbytes(&sl);
                    t = sl;
                }
                *slot(&B, b->params[k], r) = t; /* not owned: the loop's operands */
            }
        if (rc == 0)
            rc = run_insts(&B);
        for (int k = 0; rc == 0 && k < nc; k++)
            for (int r = 0; r < nr && rc == 0; r++) {
                Tensor next;
                rc = copy_tensor(R, slot(&B, b->results[k], r), &next, &in->loc);
                if (rc == 0) {
                    free(slot(R, in->res[k], r)->data);
                    *slot(R, in->res[k], r) = next;
                }
            }
        run_close(&B);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int run(Arena *ar, const IrModule *m, const IrFunc *f, const InterpInputs *in, bool sharded,
               Tensor **results, char *err, size_t errlen);

/* A local fn call in the global run: the per-rank code that partition
 * splices in (ir_local_as_func, the same lowering) runs for every rank in
 * lockstep on the operands scattered to the declared placements; the
 * results are assembled by the declared result placements (P(sum) summed). */
static int run_local_call(Run *R, const IrInst *in)
{
    if (R->sharded)
        return rfail(R, &in->loc, "local_call @%s must be partitioned before a sharded run",
                     in->a.fn ? in->a.fn->name : "?");
    IrModule *lm = ir_module_new(R->ar);
    lm->mesh = R->m->mesh;
    IrFunc *lf = ir_local_as_func(lm, in);
    const Tensor **given = arena_alloc(R->ar, sizeof *given * (size_t)(in->nargs + 1));
    for (int k = 0; k < in->nargs; k++)
        given[k] = slot(R, in->args[k], 0);
    InterpInputs li = {.given = given};
    Tensor *res = NULL;
    if (run(R->ar, lm, lf, &li, true, &res, R->err, R->errlen) != 0)
        return -1;
    for (int k = 0; k < in->nres; k++) {
        R->owned[in->res[k]->id] = true;
        if (copy_tensor(R, &res[k], slot(R, in->res[k], 0), &in->loc) != 0)
            return -1;
    }
    return 0;
}

/* ---- the two entry points -------------------------------------------------------- */

static int run(Arena *ar, const IrModule *m, const IrFunc *f, const InterpInputs *in, bool sharded,
               Tensor **results, char *err, size_t errlen)
{
    static const IrMesh no_mesh; /* read-only: a one-rank mesh */
    Run R;
    if (errlen)
        err[0] = 0;
    *results = NULL;
    int rc = -1;
    if (run_open(&R, ar, m, m ? &m->mesh : &no_mesh, f, sharded, err, errlen) != 0)
        goto done;
    if (load_params(&R, in) != 0)
        goto done;
    if (run_insts(&R) != 0)
        goto done;

    Tensor *out = arena_alloc(ar, sizeof *out * (size_t)(f->nresults ? f->nresults : 1));
    for (int k = 0; k < f->nresults; k++) {
        const IrValue *v = f->results[k];
        if (!sharded) {
            const Tensor *t = slot(&R, v, 0);
            out[k] = *t;
            size_t nb = interp_nbytes(t);
            out[k].data = arena_alloc(ar, nb ? nb : 1);
            if (nb)
                memcpy(out[k].data, t->data, nb);
        } else {
            char e[512];
            if (interp_assemble(ar, R.mesh, &v->type, &v->pl, slot(&R, v, 0), &out[k], e,
                                sizeof e) != 0) {
                rfail(&R, NULL, "result %d: %s", k, e);
                goto done;
            }
        }
    }
    *results = out;
    rc = 0;
done:
    run_close(&R);
    return rc;
}

int interp_run(Arena *ar, const IrModule *m, const IrFunc *f, const InterpInputs *in,
               Tensor **results, char *err, size_t errlen)
{
    return run(ar, m, f, in, false, results, err, errlen);
}

int interp_run_sharded(Arena *ar, const IrModule *m, const IrFunc *f, const InterpInputs *in,
                       Tensor **results, char *err, size_t errlen)
{
    return run(ar, m, f, in, true, results, err, errlen);
}
