/* sema_route.c - checking and lowering of the lookup / routing built-ins:
 * argmax, argmin, one_hot, cumsum, take_along_axis (alias gather), topk,
 * scatter_add (spec section 6; docs/LANGUAGE.md).
 *
 * Axes, k and the class count are compile-time integers; axes follow
 * NumPy (negative counts from the end) and are normalised for the IR's
 * `axis` attribute.  topk gives two results, bound by `let v, i =
 * topk(x, k)`: the IR has one `topk` op for the indices, and the values
 * are `take_along_axis(x, indices)` (so both shard by the same rules).
 *
 * Decisions: argmax / argmin / cumsum / topk default to axis -1 (NumPy's
 * "flatten" default for argmax and cumsum is not offered: write reshape);
 * take_along_axis and scatter_add need the axis (as NumPy).  Index operands
 * have the operand's shape except along the axis (no broadcasting).
 * one_hot's result dtype defaults to f32; ids outside [0, n) give zero
 * rows (jax.nn.one_hot).  cumsum of i32 stays i32 (wrapping).
 */
#include <string.h>

#include "frontend/sema_internal.h"

typedef struct RouteFn {
    const char *name;
    IrOp op;
    int npos;          /* positional arguments it may take */
    int nneed;         /* of which required */
    const char *kws;
    const char *usage;
} RouteFn;

static const RouteFn route_fns[] = {
    {"argmax", OP_ARGMAX, 2, 1, "axis", "argmax(x, axis=-1)"},
    {"argmin", OP_ARGMIN, 2, 1, "axis", "argmin(x, axis=-1)"},
    {"one_hot", OP_ONE_HOT, 2, 2, "dtype", "one_hot(ids, n, dtype=f32)"},
    {"cumsum", OP_CUMSUM, 2, 1, "axis", "cumsum(x, axis=-1)"},
    {"take_along_axis", OP_TAKE_ALONG, 3, 2, "axis", "take_along_axis(x, indices, axis)"},
    {"gather", OP_TAKE_ALONG, 3, 2, "axis", "gather(x, indices, axis)"},
    {"topk", OP_TOPK, 3, 2, "axis", "let v, i = topk(x, k, axis=-1)"},
    {"scatter_add", OP_SCATTER_ADD, 4, 3, "axis", "scatter_add(target, indices, updates, axis)"},
};
#define NROUTE ((int)(sizeof route_fns / sizeof route_fns[0]))

static const RouteFn *find_route(const char *name)
{
    for (int k = 0; k < NROUTE; k++)
        if (!strcmp(route_fns[k].name, name))
            return &route_fns[k];
    return NULL;
}

bool sema_is_route_builtin(const char *name) { return find_route(name) != NULL; }

const char *sema_route_builtin_name(int k) { return k >= 0 && k < NROUTE ? route_fns[k].name : NULL; }

/* The axis: positional argument `pos` or axis=; absent: dflt (INT64_MIN:
 * required).  Normalised against x's type; false after reporting. */
static bool route_axis(Sema *S, const Expr *e, const RouteFn *f, int pos, int64_t dflt, const IrType *t,
                       int *out)
{
    SrcLoc kl;
    const Expr *ke = sema_find_kw(e, "axis", &kl);
    const Expr *pe = e->nargs > pos ? e->args[pos] : NULL;
    if (ke && pe) {
        sema_err(S, ke->loc, "%s: axis is given twice (as argument %d and as axis=)", f->name, pos + 1);
        return false;
    }
    const Expr *w = pe ? pe : ke;
    int64_t ax = dflt;
    if (!w && dflt == INT64_MIN) {
        sema_err(S, e->loc, "%s needs an axis (usage: %s)", f->name, f->usage);
        return false;
    }
    if (w && !sema_eval_int(S, w, arena_printf(sema_arena(S), "%s: axis", f->name), &ax))
        return false;
    if (!t)
        return false;
    int rank = t->rank;
    if (rank == 0) {
        sema_err(S, w ? w->loc : e->args[0]->loc, "%s: needs an operand with at least one dimension, got %s",
                 f->name, sema_tstr(S, t));
        return false;
    }
    if (ax < -rank || ax >= rank) {
        sema_err(S, w ? w->loc : e->loc, "%s: axis %lld out of range for %s (expected %d..%d)", f->name,
                 (long long)ax, sema_tstr(S, t), -rank, rank - 1);
        return false;
    }
    *out = (int)(ax < 0 ? ax + rank : ax);
    return true;
}

/* Operand k must be i32 with x's shape except along axis d. */
static bool index_operand(Sema *S, const Expr *e, const RouteFn *f, int k, const char *what,
                          const IrValue *v, const IrType *x, int d)
{
    const IrType *t = &v->type;
    if (t->dtype != DT_I32) {
        sema_err(S, e->args[k]->loc, "%s: %s must be i32, got %s (use cast)", f->name, what, sema_tstr(S, t));
        return false;
    }
    bool ok = t->rank == x->rank;
    for (int j = 0; ok && j < x->rank; j++)
        if (j != d && t->dims[j] != x->dims[j])
            ok = false;
    if (!ok) {
        sema_err(S, e->args[k]->loc, "%s: %s %s must have the shape of %s except along axis %d "
                 "(no broadcasting)", f->name, what, sema_tstr(S, t), sema_tstr(S, x), d);
        return false;
    }
    return true;
}

static IrValue *emit_route(Sema *S, const Expr *e, IrOp op, int nargs, IrValue **args, int axis,
                           int64_t n, DType dt)
{
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.dim = axis;
    if (op == OP_ONE_HOT || op == OP_TOPK)
        ir_attrs_ints(sema_arena(S), &at, 1)[0] = n;
    SrcLoc locs[4];
    for (int k = 0; k < nargs && k < 4; k++)
        locs[k] = e->args[k]->loc;
    return sema_emit(S, e->loc, locs, op, nargs, args, &at, dt);
}

SVal sema_route_call(Sema *S, const Expr *e)
{
    const RouteFn *f = find_route(e->name);
    if (!f)
        DTC_BUG("sema_route_call: not a routing built-in");
    bool ok = sema_check_kws(S, e, f->kws);
    if (e->nargs > f->npos) {
        sema_err(S, e->args[f->npos]->loc, "%s takes at most %d positional argument%s, got %d (usage: %s)",
                 f->name, f->npos, f->npos == 1 ? "" : "s", e->nargs, f->usage);
        return sv_err;
    }
    if (e->nargs < f->nneed) {
        sema_err(S, e->loc, "%s needs %d argument%s (usage: %s)", f->name, f->nneed, f->nneed == 1 ? "" : "s",
                 f->usage);
        return sv_err;
    }
    IrValue *x = sema_tensor_arg(S, e->args[0]);
    if (!x || !ok)
        return sv_err;
    const IrType *t = &x->type;
    int ax = 0;
    switch (f->op) {
    case OP_ARGMAX:
    case OP_ARGMIN:
    case OP_CUMSUM:
        if (!route_axis(S, e, f, 1, -1, t, &ax))
            return sv_err;
        return sv_tensor(emit_route(S, e, f->op, 1, &x, ax, 0, DT_F32));
    case OP_ONE_HOT: {
        int64_t n;
        if (!sema_eval_int(S, e->args[1], "one_hot: the number of classes", &n))
            return sv_err;
        if (n < 0) {
            sema_err(S, e->args[1]->loc, "one_hot: the number of classes must be >= 0, got %lld", (long long)n);
            return sv_err;
        }
        DType dt = DT_F32;
        const Expr *de = sema_find_kw(e, "dtype", NULL);
        if (de && (de->kind != E_NAME || !ir_dtype_parse(de->name, &dt))) {
            sema_err(S, de->loc, "one_hot: dtype must be a dtype name such as f32 or i32 (usage: %s)", f->usage);
            return sv_err;
        }
        if (t->dtype != DT_I32) {
            sema_err(S, e->args[0]->loc, "one_hot: ids must be i32, got %s (use cast)", sema_tstr(S, t));
            return sv_err;
        }
        return sv_tensor(emit_route(S, e, OP_ONE_HOT, 1, &x, 0, n, dt));
    }
    case OP_TOPK: {
        int64_t k;
        if (!sema_eval_int(S, e->args[1], "topk: k", &k) || !route_axis(S, e, f, 2, -1, t, &ax))
            return sv_err;
        if (k < 0 || k > t->dims[ax]) {
            sema_err(S, e->args[1]->loc, "topk: k = %lld out of range: axis %d of %s has %lld entries", (long long)k,
                     ax, sema_tstr(S, t), (long long)t->dims[ax]);
            return sv_err;
        }
        IrValue *idx = emit_route(S, e, OP_TOPK, 1, &x, ax, k, DT_F32);
        if (!idx)
            return sv_err;
        IrValue *args[2] = {x, idx};
        IrValue *vals = emit_route(S, e, OP_TAKE_ALONG, 2, args, ax, 0, DT_F32);
        if (!vals)
            return sv_err;
        SVal r = sv_err;
        r.k = SV_MULTI;
        r.n = 2;
        r.vs = arena_alloc(sema_arena(S), sizeof *r.vs * 2);
        r.vs[0] = vals;
        r.vs[1] = idx;
        r.callee = "topk";
        return r;
    }
    case OP_TAKE_ALONG: {
        IrValue *idx = sema_tensor_arg(S, e->args[1]);
        if (!idx || !route_axis(S, e, f, 2, INT64_MIN, t, &ax) ||
            !index_operand(S, e, f, 1, "indices", idx, t, ax))
            return sv_err;
        IrValue *args[2] = {x, idx};
        return sv_tensor(emit_route(S, e, OP_TAKE_ALONG, 2, args, ax, 0, DT_F32));
    }
    case OP_SCATTER_ADD: {
        IrValue *idx = sema_tensor_arg(S, e->args[1]);
        IrValue *src = sema_tensor_arg(S, e->args[2]);
        if (!idx || !src || !route_axis(S, e, f, 3, INT64_MIN, t, &ax) ||
            !index_operand(S, e, f, 1, "indices", idx, t, ax))
            return sv_err;
        IrType want = idx->type;
        want.dtype = t->dtype;
        if (!ir_type_eq(&src->type, &want)) {
            sema_err(S, e->args[2]->loc, "scatter_add: updates must be %s (the indices' shape, the target's dtype), got %s",
                     sema_tstr(S, &want), sema_tstr(S, &src->type));
            return sv_err;
        }
        IrValue *args[3] = {x, idx, src};
        return sv_tensor(emit_route(S, e, OP_SCATTER_ADD, 3, args, ax, 0, DT_F32));
    }
    default:
        DTC_BUG("sema_route_call: unhandled op");
    }
}
