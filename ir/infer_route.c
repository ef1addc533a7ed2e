/* infer_route.c - shape and dtype rules of the lookup / routing family
 * (ir_infer's contract, ir/infer.c): argmax, argmin, one_hot, cumsum,
 * take_along_axis, topk, scatter_add, repeat.
 *
 * The axis is the `dim` attribute, normalised (0..rank-1) by sema.  Index
 * operands are i32.  NumPy's broadcasting of take_along_axis / scatter_add
 * index operands is not taken: the index has the operand's shape except
 * along the axis (a decision, docs/LANGUAGE.md section 6), so every dim but
 * the axis pairs one to one and shards alike.
 */
#include <string.h>

#include "ir/ir.h"

static const char *ts(Arena *ar, const IrType *t)
{
    char buf[160];
    return arena_strdup(ar, ir_type_str(t, buf, sizeof buf));
}

static const char *axis_ok(Arena *ar, IrOp op, int d, const IrType *x)
{
    if (x->rank < 1)
        return arena_printf(ar, "%s: operand must have rank >= 1, got %s", ir_op_name(op), ts(ar, x));
    if (d < 0 || d >= x->rank)
        return arena_printf(ar, "%s: axis %d out of range for %s", ir_op_name(op), d, ts(ar, x));
    return NULL;
}

/* idx (i32) has x's shape except along d. */
static const char *index_like(Arena *ar, IrOp op, const char *what, const IrType *idx,
                              const IrType *x, int d)
{
    if (idx->dtype != DT_I32)
        return arena_printf(ar, "%s: %s must be i32, got %s", ir_op_name(op), what, ts(ar, idx));
    bool ok = idx->rank == x->rank;
    for (int k = 0; ok && k < x->rank; k++)
        if (k != d && idx->dims[k] != x->dims[k])
            ok = false;
    if (!ok)
        return arena_printf(ar, "%s: %s %s must have the shape of %s except along axis %d",
                            ir_op_name(op), what, ts(ar, idx), ts(ar, x), d);
    return NULL;
}

const char *ir_infer_route(Arena *ar, IrOp op, int nargs, const IrType *args, const IrAttrs *a,
                           IrType *out)
{
    const IrType *x = &args[0];
    const char *e;
    IrType r;
    (void)nargs;
    switch (op) {
    case OP_ARGMAX:
    case OP_ARGMIN:
        if ((e = axis_ok(ar, op, a->dim, x)))
            return e;
        r = *x;
        r.dtype = DT_I32;
        r.rank = x->rank - 1;
        for (int k = a->dim; k < r.rank; k++)
            r.dims[k] = x->dims[k + 1];
        *out = r;
        return NULL;
    case OP_ONE_HOT: {
        if (x->dtype != DT_I32)
            return arena_printf(ar, "one_hot: ids must be i32, got %s", ts(ar, x));
        if (x->rank + 1 > IR_MAX_RANK)
            return arena_printf(ar, "one_hot: result rank exceeds the maximum %d", IR_MAX_RANK);
        if (a->nints != 1 || a->ints[0] < 0)
            return "one_hot: needs a class count depth >= 0";
        if ((unsigned)out->dtype >= DT_COUNT)
            return "one_hot: no result dtype given";
        DType dt = out->dtype;
        r = *x;
        r.dtype = dt;
        r.dims[r.rank++] = a->ints[0];
        *out = r;
        return NULL;
    }
    case OP_CUMSUM:
        if ((e = axis_ok(ar, op, a->dim, x)))
            return e;
        *out = *x;
        return NULL;
    case OP_TAKE_ALONG:
        if ((e = axis_ok(ar, op, a->dim, x)) || (e = index_like(ar, op, "indices", &args[1], x, a->dim)))
            return e;
        r = args[1];
        r.dtype = x->dtype;
        *out = r;
        return NULL;
    case OP_TOPK:
        if ((e = axis_ok(ar, op, a->dim, x)))
            return e;
        if (a->nints != 1 || a->ints[0] < 0 || a->ints[0] > x->dims[a->dim])
            return arena_printf(ar, "topk: k = %lld out of range: axis %d of %s has %lld entries",
                                a->nints == 1 ? (long long)a->ints[0] : -1LL, a->dim, ts(ar, x),
                                (long long)x->dims[a->dim]);
        r = *x;
        r.dtype = DT_I32;
        r.dims[a->dim] = a->ints[0];
        *out = r;
        return NULL;
    case OP_SCATTER_ADD:
        if ((e = axis_ok(ar, op, a->dim, x)) || (e = index_like(ar, op, "indices", &args[1], x, a->dim)))
            return e;
        {
            IrType want = args[1];
            want.dtype = x->dtype;
            if (!ir_type_eq(&args[2], &want))
                return arena_printf(ar, "scatter_add: updates must be %s (the indices' shape, the target's dtype), got %s",
                                    ts(ar, &want), ts(ar, &args[2]));
        }
        *out = *x;
        return NULL;
    case OP_REPEAT:
        if ((e = axis_ok(ar, op, a->dim, x)))
            return e;
        if (a->nints != 1 || a->ints[0] < 0)
            return "repeat: needs a repeat count >= 0";
        r = *x;
        if (__builtin_mul_overflow(x->dims[a->dim], a->ints[0], &r.dims[a->dim]))
            return arena_printf(ar, "repeat: %s repeated %lld times along axis %d overflows", ts(ar, x),
                                (long long)a->ints[0], a->dim);
        *out = r;
        return NULL;
    default:
        return arena_printf(ar, "ir_infer_route: %s is not a routing op", ir_op_name(op));
    }
}

IrRouteView ir_route_view(const IrInst *i, const IrType *x, const IrType *y, const IrType *r)
{
    IrRouteView v = {0, 1, 0, 0, 1};
    for (int op = 0; op < (int)i->op; op++)
        v.kernel += ir_op_is_route((IrOp)op);
    if (i->op == OP_ONE_HOT) {
        v.outer = ir_type_numel(x);
        v.len = r->dims[r->rank - 1];
        v.inner = 0;
        return v;
    }
    int d = i->a.dim;
    DTC_ASSERT(d >= 0 && d < x->rank);
    for (int k = 0; k < d; k++)
        v.outer *= x->dims[k];
    for (int k = d + 1; k < x->rank; k++)
        v.inner *= x->dims[k];
    v.len = x->dims[d];
    if (i->op == OP_TOPK)
        v.len2 = r->dims[d];
    else if (i->op == OP_REPEAT)
        v.len2 = i->a.ints[0];
    else if (y)
        v.len2 = y->dims[d];
    return v;
}

bool ir_op_is_route(IrOp op)
{
    switch (op) {
    case OP_ARGMAX:
    case OP_ARGMIN:
    case OP_ONE_HOT:
    case OP_CUMSUM:
    case OP_TAKE_ALONG:
    case OP_TOPK:
    case OP_SCATTER_ADD:
    case OP_REPEAT:
        return true;
    default:
        return false;
    }
}
