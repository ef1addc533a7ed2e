/* sema_route.c - checking and lowering of the lookup / routing built-ins:
 * argmax, argmin, one_hot, cumsum, take_along_axis (alias gather), topk,
 * scatter_add, repeat (spec section 6; docs/LANGUAGE.md).  Arity, keywords
 * and defaults were checked against the surface rows (ir/ops.def) by
 * sema_check_args.
 *
 * Axes, k and the class count are compile-time integers; axes follow
 * NumPy (negative counts from the end) and are normalised for the IR's
 * `axis` attribute.  topk gives two results, bound by `let v, i =
 * topk(x, k)`: the IR has one `topk` op for the indices, and the values
 * are `take_along_axis(x, indices)` (so both shard by the same rules).
 *
 * Decisions: argmax / argmin / cumsum / topk default to axis -1 (NumPy's
 * "flatten" default for argmax and cumsum is not offered: write reshape);
 * take_along_axis, scatter_add and repeat need the axis (NumPy's
 * take_along_axis and scatter need it; np.repeat without one flattens,
 * which is not offered: write reshape).  repeat's count is one
 * compile-time integer >= 0 (np.repeat's per-entry counts are not offered).  Index operands
 * have the operand's shape except along the axis (no broadcasting).
 * one_hot's result dtype defaults to f32; ids outside [0, n) give zero
 * rows (jax.nn.one_hot).  cumsum of i32 stays i32 (wrapping).
 */
#include <string.h>

#include "frontend/sema_internal.h"

/* The axis: parameter k of the row (given or its default, -1); normalised
 * against x's type; false after reporting. */
static bool route_axis(Sema *S, const SemaArgs *a, int k, const IrType *t, int *out)
{
    const Expr *e = a->call, *w = a->arg[k];
    int64_t ax;
    if (!sema_eval_int(S, w, arena_printf(sema_arena(S), "%s: axis", a->fn->name), &ax))
        return false;
    int rank = t->rank;
    if (rank == 0) {
        sema_err(S, a->given[k] ? w->loc : e->args[0]->loc,
                 "%s: needs an operand with at least one dimension, got %s", a->fn->name, sema_tstr(S, t));
        return false;
    }
    if (ax < -rank || ax >= rank) {
        sema_err(S, w->loc, "%s: axis %lld out of range for %s (expected %d..%d)", a->fn->name, (long long)ax,
                 sema_tstr(S, t), -rank, rank - 1);
        return false;
    }
    *out = (int)(ax < 0 ? ax + rank : ax);
    return true;
}

/* Operand k must be i32 with x's shape except along axis d. */
static bool index_operand(Sema *S, const Expr *e, const IrSurface *f, int k, const char *what,
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
    if (op == OP_ONE_HOT || op == OP_TOPK || op == OP_REPEAT)
        ir_attrs_ints(sema_arena(S), &at, 1)[0] = n;
    SrcLoc locs[4];
    for (int k = 0; k < nargs && k < 4; k++)
        locs[k] = e->args[k]->loc;
    return sema_emit(S, e->loc, locs, op, nargs, args, &at, dt);
}

SVal sema_route_call(Sema *S, const SemaArgs *a)
{
    const Expr *e = a->call;
    const IrSurface *f = a->fn;
    IrValue *x = sema_tensor_arg(S, e->args[0]);
    if (!x || !a->ok)
        return sv_err;
    const IrType *t = &x->type;
    int ax = 0;
    switch (f->op) {
    case OP_ARGMAX:
    case OP_ARGMIN:
    case OP_CUMSUM:
        if (!route_axis(S, a, 1, t, &ax))
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
        DType dt = a->dtype[2];
        if (t->dtype != DT_I32) {
            sema_err(S, e->args[0]->loc, "one_hot: ids must be i32, got %s (use cast)", sema_tstr(S, t));
            return sv_err;
        }
        return sv_tensor(emit_route(S, e, OP_ONE_HOT, 1, &x, 0, n, dt));
    }
    case OP_TOPK: {
        int64_t k;
        if (!sema_eval_int(S, e->args[1], "topk: k", &k) || !route_axis(S, a, 2, t, &ax))
            return sv_err;
        if (k < 0 || k > t->dims[ax]) {
            sema_err(S, e->args[1]->loc, "topk: k = %lld out of range: axis %d of %s has %lld entries",
                     (long long)k, ax, sema_tstr(S, t), (long long)t->dims[ax]);
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
        if (!idx || !route_axis(S, a, 2, t, &ax) ||
            !index_operand(S, e, f, 1, "indices", idx, t, ax))
            return sv_err;
        IrValue *args[2] = {x, idx};
        return sv_tensor(emit_route(S, e, OP_TAKE_ALONG, 2, args, ax, 0, DT_F32));
    }
    case OP_SCATTER_ADD: {
        IrValue *idx = sema_tensor_arg(S, e->args[1]);
        IrValue *src = sema_tensor_arg(S, e->args[2]);
        if (!idx || !src || !route_axis(S, a, 3, t, &ax) ||
            !index_operand(S, e, f, 1, "indices", idx, t, ax))
            return sv_err;
        IrType want = idx->type;
        want.dtype = t->dtype;
        if (!ir_type_eq(&src->type, &want)) {
            sema_err(S, e->args[2]->loc,
                     "scatter_add: updates must be %s (the indices' shape, the target's dtype), got %s",
                     sema_tstr(S, &want), sema_tstr(S, &src->type));
            return sv_err;
        }
        IrValue *args[3] = {x, idx, src};
        return sv_tensor(emit_route(S, e, OP_SCATTER_ADD, 3, args, ax, 0, DT_F32));
    }
    case OP_REPEAT: {
        int64_t n;
        if (!sema_eval_int(S, a->arg[1], "repeat: the count", &n) || !route_axis(S, a, 2, t, &ax))
            return sv_err;
        if (n < 0) {
            sema_err(S, a->arg[1]->loc, "repeat: the count must be >= 0, got %lld", (long long)n);
            return sv_err;
        }
        return sv_tensor(emit_route(S, e, OP_REPEAT, 1, &x, ax, n, DT_F32));
    }
    default:
        DTC_BUG("sema_route_call: unhandled op");
    }
}
