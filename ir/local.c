/* local.c - local functions (`local fn`, dtc's shard_map): the shape rules of
 * the explicit collectives on local shapes, and the lowering of one local
 * call into per-rank instructions, shared by partition (the compiled program)
 * and the interpreter (`dtc run`), so both run the same code.
 *
 * A local call (OP_LOCAL_CALL) holds its body as an IrFunc of *local* types
 * that is not in the module's function list: the body's parameters carry the
 * declared placements (their pl) and local types, the call's results carry
 * the declared result placements (pinned) and global types.  Every split of
 * a declared placement is even (sema checks), so the local type is the same
 * on every rank.
 *
 * Lowering (ir_local_expand) writes per-rank instructions whose values keep
 * the partitioned IR's invariant (global type + placement -> local shape):
 *   - a body value of local type L becomes a *virtual* value of global type
 *     L, replicated: its local shape is L on every rank (what the ranks hold
 *     differs, which no pass after partition looks at);
 *   - an explicit collective over axes A becomes local_view (relabel the
 *     operand: all_reduce P(red) on A; all_gather and all_to_all S(d) on A of
 *     the global type with dim d times |A|; reduce_scatter P(red) on A), the
 *     planner's collective op on that placement (OPF_COMM, so codegen, the
 *     runtime and check_collectives run it as any planned step), and a
 *     local_view back to a virtual value;
 *   - axis_index(A): iota over |A| split S(0) on A (each rank holds its own
 *     index), viewed as i32[];
 *   - ppermute(x, A, shift k): one collective_permute (shift k mod |A|, none
 *     when that is 0; with perm, the same perm, none when it is the
 *     identity) on the virtual value: a point-to-point step that sends
 *     the local shard once (rt_collective_permute; docs/LANGUAGE.md section
 *     10);
 *   - operands and results are local_views of the call's operands (at the
 *     declared placements) and onto the call's results.
 * A local_view is free in the generated code (codegen aliases it like a
 * reshape) and a copy in the interpreter.  Collectives over axes of size 1
 * are dropped (a group of one rank changes nothing).
 */
#include "ir/ir_text.h"
#include "runtime/core/rt_core.h"

#include <string.h>

/* The most elements a tensor made here may have (sema's limit on types). */
#define LOCAL_MAX_ELEMS ((int64_t)1 << 48)

int ir_local_group(const IrMesh *m, unsigned axes)
{
    int n = 1;
    for (int a = 0; a < m->naxes; a++)
        if (axes >> a & 1)
            n *= m->size[a];
    return n;
}

int ir_local_split_dim(const IrMesh *m, const IrType *t, const Placement *pl, int *ways)
{
    for (int d = 0; d < t->rank; d++) {
        int k = 1;
        for (int a = 0; a < pl->naxes && a < m->naxes; a++)
            if (pl->e[a].kind == PL_S && pl->e[a].dim == d)
                k *= m->size[a];
        if (k > 1 && t->dims[d] % k != 0) {
            *ways = k;
            return d;
        }
    }
    return -1;
}

IrType ir_local_type(const IrMesh *m, const IrType *t, const Placement *pl)
{
    int zero[IR_MAX_AXES] = {0};
    return pl_local_type(m, t, pl, zero);
}

static const char *tstr(Arena *ar, const IrType *t)
{
    char b[128];
    return arena_strdup(ar, ir_type_str(t, b, sizeof b));
}

const char *ir_local_infer(Arena *ar, const IrMesh *m, IrOp op, const IrAttrs *a, const IrType *x,
                           IrType *out)
{
    int n = ir_local_group(m, a->axes);
    if (op == OP_AXIS_INDEX) {
        memset(out, 0, sizeof *out);
        out->dtype = DT_I32;
        return NULL;
    }
    *out = *x;
    int64_t grown;
    switch (op) {
    case OP_ALL_REDUCE:
        return NULL;
    case OP_PPERMUTE: { /* a collective_permute: the same local shape */
        int d, s;
        if (a->nints > 1 && !rt_permute_pair(n, 0, a->ints, a->nints, &d, &s))
            return arena_printf(ar, "ppermute over %d ranks: perm must name each of the %d members once", n, n);
        return NULL;
    }
    case OP_ALL_GATHER:
        if (a->dim < 0 || a->dim >= x->rank)
            return arena_printf(ar, "all_gather: dim %d is out of range for %s", a->dim, tstr(ar, x));
        if (__builtin_mul_overflow(ir_type_numel(x), (int64_t)n, &grown) || grown > LOCAL_MAX_ELEMS)
            return arena_printf(ar, "all_gather over %d ranks of %s: too many elements", n, tstr(ar, x));
        out->dims[a->dim] *= n;
        return NULL;
    case OP_REDUCE_SCATTER:
        if (a->dim < 0 || a->dim >= x->rank)
            return arena_printf(ar, "reduce_scatter: dim %d is out of range for %s", a->dim, tstr(ar, x));
        if (x->dims[a->dim] % n)
            return arena_printf(ar, "reduce_scatter over %d ranks splits dim %d of %s unevenly: the ranks' "
                                "pieces would differ in size, so their collectives would not match (the "
                                "size must be a multiple of %d)", n, a->dim, tstr(ar, x), n);
        out->dims[a->dim] /= n;
        return NULL;
    case OP_ALL_TO_ALL: /* dim: concatenated (grows), dim2: split (shrinks) */
        if (a->dim < 0 || a->dim >= x->rank || a->dim2 < 0 || a->dim2 >= x->rank)
            return arena_printf(ar, "all_to_all: split %d or concat %d is out of range for %s", a->dim2,
                                a->dim, tstr(ar, x));
        if (x->dims[a->dim2] % n)
            return arena_printf(ar, "all_to_all over %d ranks splits dim %d of %s unevenly: the ranks' "
                                "pieces would differ in size, so their collectives would not match (the "
                                "size must be a multiple of %d)", n, a->dim2, tstr(ar, x), n);
        if (__builtin_mul_overflow(ir_type_numel(x), (int64_t)n, &grown) || grown > LOCAL_MAX_ELEMS)
            return arena_printf(ar, "all_to_all over %d ranks of %s: too many elements", n, tstr(ar, x));
        out->dims[a->dim2] /= n;
        out->dims[a->dim] *= n;
        return NULL;
    default:
        return arena_printf(ar, "%s is not an explicit collective", ir_op_name(op));
    }
}

const char *ir_local_call_check(Arena *ar, const IrMesh *m, const IrInst *i)
{
    const IrFunc *b = i->a.fn;
    if (!b)
        return "local_call: no body";
    if (i->nargs != b->nparams || i->nres != b->nresults)
        return arena_printf(ar, "local_call @%s: %d operands and %d results, the body has %d and %d", b->name,
                            i->nargs, i->nres, b->nparams, b->nresults);
    for (int k = 0; k < i->nargs; k++) {
        const IrValue *p = b->params[k];
        int ways;
        if (p->pl.naxes != m->naxes)
            return arena_printf(ar, "local_call @%s: parameter %d has no placement", b->name, k);
        IrType lt = ir_local_type(m, &i->args[k]->type, &p->pl);
        if (ir_local_split_dim(m, &i->args[k]->type, &p->pl, &ways) >= 0 || !ir_type_eq(&lt, &p->type))
            return arena_printf(ar, "local_call @%s: operand %d is %s, not split evenly into the body's %s",
                                b->name, k, tstr(ar, &i->args[k]->type), tstr(ar, &p->type));
    }
    for (int k = 0; k < i->nres; k++) {
        const IrValue *r = i->res[k], *br = b->results ? b->results[k] : NULL;
        int ways;
        if (!br || r->pl.naxes != m->naxes)
            return arena_printf(ar, "local_call @%s: result %d has no placement or no body value", b->name, k);
        IrType lt = ir_local_type(m, &r->type, &r->pl);
        if (ir_local_split_dim(m, &r->type, &r->pl, &ways) >= 0 || !ir_type_eq(&lt, &br->type))
            return arena_printf(ar, "local_call @%s: result %d is %s, not split evenly into the body's %s",
                                b->name, k, tstr(ar, &r->type), tstr(ar, &br->type));
    }
    return NULL;
}

bool ir_local_view_ok(const IrMesh *m, const IrValue *x, const IrValue *y)
{
    if (x->type.dtype != y->type.dtype)
        return false;
    int n = ir_mesh_nranks(m);
    for (int r = 0; r < n; r++) {
        int c[IR_MAX_AXES];
        ir_mesh_coords(m, r, c);
        IrType a = pl_local_type(m, &x->type, &x->pl, c), b = pl_local_type(m, &y->type, &y->pl, c);
        if (ir_type_numel(&a) != ir_type_numel(&b))
            return false;
    }
    return true;
}

/* ---- lowering ------------------------------------------------------------------ */
typedef struct Expand {
    IrModule *m;
    IrFunc *g;
    IrInst *at;      /* new instructions go before it (NULL: at the end) */
    SrcLoc loc;
    const char *why;
} Expand;

static IrValue *emit(Expand *E, IrOp op, int nargs, IrValue **args, const IrAttrs *a, IrType t, Placement pl)
{
    IrInst *n = ir_inst_new(E->m, E->g, E->at, op, nargs, args, 1, &t);
    if (a)
        n->a = *a;
    n->loc = E->loc;
    n->res[0]->pl = pl;
    n->in_pl = arena_alloc(E->m->arena, sizeof *n->in_pl * (size_t)(nargs > 0 ? nargs : 1));
    for (int k = 0; k < nargs; k++)
        n->in_pl[k] = args[k]->pl;
    if (ir_op_flags(op) & OPF_COMM)
        n->why = E->why;
    return n->res[0];
}

static IrValue *view(Expand *E, IrValue *x, IrType t, Placement pl)
{
    if (ir_type_eq(&x->type, &t) && pl_eq(&x->pl, &pl))
        return x;
    return emit(E, OP_LOCAL_VIEW, 1, &x, NULL, t, pl);
}

static Placement on_axes(const IrMesh *m, unsigned axes, PlEntry e)
{
    Placement p = pl_replicated(m->naxes);
    for (int a = 0; a < m->naxes; a++)
        if (axes >> a & 1)
            p.e[a] = e;
    return p;
}

static IrValue *constant(Expand *E, double v, DType dt)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.f = v;
    IrType t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    return emit(E, OP_CONST, 0, NULL, &a, t, pl_replicated(E->m->mesh.naxes));
}

static IrValue *iota(Expand *E, int64_t n, Placement pl)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    ir_attrs_ints(E->m->arena, &a, 1)[0] = n;
    IrType t;
    memset(&t, 0, sizeof t);
    t.dtype = DT_I32;
    t.rank = 1;
    t.dims[0] = n;
    return emit(E, OP_IOTA, 0, NULL, &a, t, pl);
}

/* Explicit collective op over `axes` (size-1 axes already dropped, non-empty)
 * on the virtual value x of local type x->type; the result is virtual. */
static IrValue *collective(Expand *E, const IrInst *i, IrValue *x, unsigned axes)
{
    const IrMesh *m = &E->m->mesh;
    int n = ir_local_group(m, axes);
    Placement rep = pl_replicated(m->naxes);
    IrAttrs a = i->a;
    a.axes = axes;
    IrType lt, out;
    memset(&lt, 0, sizeof lt);
    if (x)
        lt = x->type; /* axis_index has no operand */
    if (ir_local_infer(E->m->arena, m, i->op, &a, &lt, &out))
        DTC_BUG("local: an explicit collective that sema accepted does not fit");
    switch (i->op) {
    case OP_ALL_REDUCE: {
        IrValue *v = view(E, x, lt, on_axes(m, axes, (PlEntry){PL_P, 0, a.red}));
        return emit(E, OP_ALL_REDUCE, 1, &v, &a, lt, rep);
    }
    case OP_REDUCE_SCATTER: {
        IrValue *v = view(E, x, lt, on_axes(m, axes, (PlEntry){PL_P, 0, a.red}));
        IrValue *r =
            emit(E, OP_REDUCE_SCATTER, 1, &v, &a, lt, on_axes(m, axes, (PlEntry){PL_S, a.dim, RED_SUM}));
        return view(E, r, out, rep);
    }
    case OP_ALL_GATHER: {
        IrValue *v = view(E, x, out, on_axes(m, axes, (PlEntry){PL_S, a.dim, RED_SUM}));
        return emit(E, OP_ALL_GATHER, 1, &v, &a, out, rep);
    }
    case OP_ALL_TO_ALL: {
        IrType gt = lt;
        gt.dims[a.dim] *= n;
        IrValue *v = view(E, x, gt, on_axes(m, axes, (PlEntry){PL_S, a.dim, RED_SUM}));
        IrValue *r = emit(E, OP_ALL_TO_ALL, 1, &v, &a, gt, on_axes(m, axes, (PlEntry){PL_S, a.dim2, RED_SUM}));
        return view(E, r, out, rep);
    }
    case OP_AXIS_INDEX: {
        IrValue *ix = iota(E, n, on_axes(m, axes, (PlEntry){PL_S, 0, RED_SUM}));
        return view(E, ix, out, rep);
    }
    case OP_PPERMUTE: { /* one point-to-point step: the local shape does not change */
        if (i->a.nints > 1) { /* a permutation: none when every member keeps its data */
            bool moves = false;
            for (int k = 0; k < i->a.nints; k++)
                moves |= i->a.ints[k] != k;
            return moves ? emit(E, OP_COLLECTIVE_PERMUTE, 1, &x, &a, lt, rep) : x;
        }
        int64_t k = ((i->a.nints ? i->a.ints[0] : 0) % n + n) % n;
        if (k == 0)
            return x;
        IrAttrs pa = a;
        ir_attrs_ints(E->m->arena, &pa, 1)[0] = k;
        return emit(E, OP_COLLECTIVE_PERMUTE, 1, &x, &pa, lt, rep);
    }
    default:
        DTC_BUG("local: not an explicit collective");
    }
}

void ir_local_expand(IrModule *m, IrFunc *g, IrInst *before, const IrInst *call, IrValue *const *args,
                     IrValue *const *res)
{
    const IrFunc *b = call->a.fn;
    const IrMesh *mesh = &m->mesh;
    Placement rep = pl_replicated(mesh->naxes);
    Expand E = {m, g, before, call->loc, NULL};
    IrValue **map = arena_alloc(m->arena, sizeof *map * (size_t)(b->next_id + 1));
    for (int k = 0; k < b->nparams; k++)
        map[b->params[k]->id] = view(&E, args[k], b->params[k]->type, rep);
    unsigned big = 0; /* the axes with more than one rank */
    for (int a = 0; a < mesh->naxes; a++)
        if (mesh->size[a] > 1)
            big |= 1u << a;
    for (const IrInst *i = b->first; i; i = i->next) {
        E.loc = i->loc;
        IrValue *x = i->nargs > 0 ? map[i->args[0]->id] : NULL;
        IrValue *r;
        if (i->op == OP_ALL_REDUCE || i->op == OP_ALL_GATHER || i->op == OP_REDUCE_SCATTER ||
            i->op == OP_ALL_TO_ALL || i->op == OP_PPERMUTE || i->op == OP_AXIS_INDEX) {
            unsigned axes = i->a.axes & big;
            E.why = arena_printf(m->arena, "explicit %s in local fn %s", ir_op_name(i->op), b->name);
            if (axes)
                r = collective(&E, i, x, axes);
            else if (i->op == OP_AXIS_INDEX)
                r = constant(&E, 0, DT_I32);
            else
                r = x; /* a group of one rank */
        } else {
            IrValue **as = arena_alloc(m->arena, sizeof *as * (size_t)(i->nargs + 1));
            for (int k = 0; k < i->nargs; k++)
                as[k] = map[i->args[k]->id];
            r = emit(&E, i->op, i->nargs, as, &i->a, i->res[0]->type, rep);
        }
        map[i->res[0]->id] = r;
    }
    E.loc = call->loc;
    for (int k = 0; k < b->nresults; k++) {
        IrValue *src = map[b->results[k]->id];
        /* a fresh view defines the call's result (also when the body
         * returns a parameter or one value twice) */
        IrValue *v = emit(&E, OP_LOCAL_VIEW, 1, &src, NULL, res[k]->type, res[k]->pl);
        IrInst *d = v->def;
        d->res[0] = res[k];
        res[k]->def = d;
    }
}

IrFunc *ir_local_as_func(IrModule *m, const IrInst *call)
{
    IrFunc *f = arena_alloc(m->arena, sizeof *f);
    f->name = call->a.fn->name;
    f->loc = call->loc;
    IrValue **args = arena_alloc(m->arena, sizeof *args * (size_t)(call->nargs + 1));
    IrValue **res = arena_alloc(m->arena, sizeof *res * (size_t)(call->nres + 1));
    IrInit none;
    memset(&none, 0, sizeof none);
    for (int k = 0; k < call->nargs; k++)
        args[k] = ir_param_new(m, f, "x", call->args[k]->type, call->a.fn->params[k]->pl, none);
    for (int k = 0; k < call->nres; k++) {
        res[k] = ir_value_new(m, f, call->res[k]->type);
        res[k]->pl = call->res[k]->pl;
    }
    ir_local_expand(m, f, NULL, call, args, res);
    f->nresults = call->nres;
    f->results = res;
    return f;
}
