/* infer.c - shape and dtype rules of every IR op (ir_infer, ir.h).
 *
 * Global (NumPy) semantics on global shapes: the rules do not look at
 * placements, so they hold before and after partition alike for the ops
 * whose result type is a function of the operand types.  Each rule checks
 * its operands and attributes completely (the verifier and sema both rely
 * on it) and returns an arena message naming the rule when they break it.
 *
 * Conventions the callers must know:
 *   - const and cast have no operand that fixes the result dtype: they read
 *     it from out->dtype, which the caller sets before the call (the dtype of
 *     the literal, the cast's target dtype).
 *   - reductions take their axes explicitly in ints (normalised to 0..rank-1,
 *     sorted, distinct); nints == 0 reduces over no axis (sema expands the
 *     source default "all axes" to the full list).
 *   - slice holds per dim [start, stop, step], normalised by sema (NumPy
 *     rules: negative indices counted from the end, then clamped): step != 0;
 *     step > 0: 0 <= start <= stop <= n; step < 0: -1 <= stop <= start <= n-1
 *     (start = stop = -1 for n == 0); the length is ceil(|stop - start| / |step|).
 *   - call checks the operands against the callee's parameters (a->fn) and
 *     writes the callee's first result type (call has several results).
 */
#include <string.h>

#include "ir/ew.h"
#include "ir/ir.h"

/* Printable type, in the arena (messages outlive the call). */
static const char *ts(Arena *ar, const IrType *t)
{
    char buf[160];
    return arena_strdup(ar, ir_type_str(t, buf, sizeof buf));
}

/* A well-formed operand type: the rules below index dims[] by rank. */
static bool type_ok(const IrType *t)
{
    if (t->rank < 0 || t->rank > IR_MAX_RANK || (unsigned)t->dtype >= DT_COUNT)
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return false;
    return true;
}

static const char *need_float(Arena *ar, IrOp op, const IrType *t)
{
    if (ir_dtype_is_float(t->dtype))
        return NULL;
    return arena_printf(ar, "%s: needs a floating-point operand, got %s (use cast)",
                        ir_op_name(op), ts(ar, t));
}

/* NumPy broadcasting of two shapes (dtypes must agree). */
static const char *broadcast(Arena *ar, const IrType *x, const IrType *y, IrType *out)
{
    if (x->dtype != y->dtype)
        return arena_printf(ar, "operand dtypes differ: %s vs %s (use cast)", ts(ar, x), ts(ar, y));
    IrType r;
    memset(&r, 0, sizeof r);
    r.dtype = x->dtype;
    r.rank = x->rank > y->rank ? x->rank : y->rank;
    for (int i = 0; i < r.rank; i++) {
        int ix = x->rank - r.rank + i, iy = y->rank - r.rank + i;
        int64_t a = ix >= 0 ? x->dims[ix] : 1, b = iy >= 0 ? y->dims[iy] : 1;
        if (a == b || b == 1)
            r.dims[i] = a;
        else if (a == 1)
            r.dims[i] = b;
        else
            return arena_printf(ar, "cannot broadcast %s with %s (dim %lld vs %lld)", ts(ar, x),
                                ts(ar, y), (long long)a, (long long)b);
    }
    *out = r;
    return NULL;
}

/* The elementwise family (ops_ew.def): dtypes by the row's TYPES, shapes by
 * NumPy broadcasting of every operand. */
static const char *infer_ew(Arena *ar, const IrEwInfo *e, int nargs, const IrType *args, IrType *out)
{
    int first = e->types == EWT_SELECT ? 1 : 0; /* where's condition may have any dtype */
    for (int k = first; k < nargs; k++) {
        if (e->types == EWT_FLOAT && !ir_dtype_is_float(args[k].dtype))
            return need_float(ar, e->op, &args[k]);
        if (k > first && args[k].dtype != args[first].dtype)
            return arena_printf(ar, "operand dtypes differ: %s vs %s (use cast)", ts(ar, &args[first]),
                                ts(ar, &args[k]));
    }
    if (e->types == EWT_FDIV && !ir_dtype_is_float(args[0].dtype))
        return arena_printf(ar, "div: needs floating-point operands, got %s and %s (use cast, or // for floor division)",
                            ts(ar, &args[0]), ts(ar, &args[1]));
    IrType r = args[first];
    for (int k = 0; k < nargs; k++) {
        if (k == first)
            continue;
        IrType y = args[k], acc;
        y.dtype = r.dtype;
        const char *msg = broadcast(ar, &r, &y, &acc);
        if (msg)
            return msg;
        r = acc;
    }
    *out = r;
    return NULL;
}

/* Length of the normalised slice [start, stop, step) of a dim of size n, or
 * -1 when it is not normalised (see the header). */
static int64_t slice_len(int64_t n, int64_t start, int64_t stop, int64_t step)
{
    if (step > 0 && 0 <= start && start <= stop && stop <= n)
        return (stop - start + step - 1) / step;
    if (step < 0 && -1 <= stop && stop <= start && start <= n - 1)
        return (start - stop + (-step) - 1) / (-step);
    return -1;
}

/* slice, concat, pad, broadcast_to. */
static const char *infer_shape_op(Arena *ar, IrOp op, int nargs, const IrType *args, const IrAttrs *a,
                                  IrType *out)
{
    if (nargs < 1)
        return arena_printf(ar, "%s: needs at least one operand", ir_op_name(op));
    const IrType *x = &args[0];
    IrType r = *x;
    switch (op) {
    case OP_SLICE:
        if (a->nints != 3 * x->rank)
            return arena_printf(ar, "slice: needs [start, stop, step] for each of the %d dims of %s",
                                x->rank, ts(ar, x));
        for (int d = 0; d < x->rank; d++) {
            const int64_t *s = &a->ints[3 * d];
            int64_t len = slice_len(x->dims[d], s[0], s[1], s[2]);
            if (len < 0)
                return arena_printf(ar, "slice: [%lld, %lld, %lld] is not a normalised slice of dim %d "
                                    "(size %lld)", (long long)s[0], (long long)s[1], (long long)s[2], d,
                                    (long long)x->dims[d]);
            r.dims[d] = len;
        }
        break;
    case OP_CONCAT: {
        if (x->rank < 1)
            return arena_printf(ar, "concat: operands must have rank >= 1, got %s", ts(ar, x));
        if (a->nints != 1 || a->ints[0] < 0 || a->ints[0] >= x->rank)
            return arena_printf(ar, "concat: needs one axis in 0..%d", x->rank - 1);
        int ax = (int)a->ints[0];
        r.dims[ax] = 0;
        for (int k = 0; k < nargs; k++) {
            const IrType *y = &args[k];
            if (y->dtype != x->dtype)
                return arena_printf(ar, "concat: operand dtypes differ: %s vs %s (use cast)", ts(ar, x),
                                    ts(ar, y));
            if (y->rank != x->rank)
                return arena_printf(ar, "concat: operand ranks differ: %s vs %s", ts(ar, x), ts(ar, y));
            for (int d = 0; d < x->rank; d++)
                if (d != ax && y->dims[d] != x->dims[d])
                    return arena_printf(ar, "concat: %s and %s differ in dim %d (only the concat axis "
                                        "%d may differ)", ts(ar, x), ts(ar, y), d, ax);
            if (__builtin_add_overflow(r.dims[ax], y->dims[ax], &r.dims[ax]))
                return "concat: the result size overflows";
        }
        break;
    }
    case OP_PAD:
        if (a->nints != 2 * x->rank)
            return arena_printf(ar, "pad: needs [lo, hi] for each of the %d dims of %s", x->rank,
                                ts(ar, x));
        for (int d = 0; d < x->rank; d++) {
            int64_t lo = a->ints[2 * d], hi = a->ints[2 * d + 1];
            if (lo < 0 || hi < 0)
                return arena_printf(ar, "pad: widths must be >= 0, got [%lld, %lld] for dim %d",
                                    (long long)lo, (long long)hi, d);
            if (__builtin_add_overflow(r.dims[d], lo, &r.dims[d]) ||
                __builtin_add_overflow(r.dims[d], hi, &r.dims[d]))
                return "pad: the result size overflows";
        }
        break;
    case OP_BROADCAST_TO:
        if (a->nints < x->rank || a->nints > IR_MAX_RANK)
            return arena_printf(ar, "broadcast_to: cannot broadcast %s to rank %d (needs %d..%d)",
                                ts(ar, x), a->nints, x->rank, IR_MAX_RANK);
        r.rank = a->nints;
        for (int d = 0; d < r.rank; d++) {
            int xd = d - (r.rank - x->rank);
            int64_t want = a->ints[d];
            if (want < 0)
                return arena_printf(ar, "broadcast_to: size %lld is negative", (long long)want);
            if (xd >= 0 && x->dims[xd] != want && x->dims[xd] != 1)
                return arena_printf(ar, "broadcast_to: cannot broadcast %s to size %lld in dim %d "
                                    "(operand dim %d is %lld; only 1 stretches)", ts(ar, x),
                                    (long long)want, d, xd, (long long)x->dims[xd]);
            r.dims[d] = want;
        }
        break;
    default:
        DTC_BUG("infer_shape_op: not a shape op");
    }
    *out = r;
    return NULL;
}

/* iota: the result shape in ints, the counted axis in dim, the dtype from out. */
static const char *infer_iota(Arena *ar, const IrAttrs *a, IrType *out)
{
    if ((unsigned)out->dtype >= DT_COUNT)
        return "iota: no dtype given";
    if (a->nints < 1 || a->nints > IR_MAX_RANK)
        return arena_printf(ar, "iota: needs a shape of rank 1 to %d, got rank %d", IR_MAX_RANK, a->nints);
    IrType r;
    memset(&r, 0, sizeof r);
    r.dtype = out->dtype;
    r.rank = a->nints;
    for (int k = 0; k < a->nints; k++) {
        if (a->ints[k] < 0)
            return arena_printf(ar, "iota: size %lld is negative", (long long)a->ints[k]);
        r.dims[k] = a->ints[k];
    }
    if (a->dim < 0 || a->dim >= r.rank)
        return arena_printf(ar, "iota: axis %d out of range for %s", a->dim, ts(ar, &r));
    *out = r;
    return NULL;
}

static const char *infer_reduce(Arena *ar, IrOp op, const IrType *x, const IrAttrs *a, IrType *out)
{
    if (op == OP_MEAN && !ir_dtype_is_float(x->dtype))
        return need_float(ar, op, x);
    if (a->nints < 0 || a->nints > x->rank)
        return arena_printf(ar, "%s: %d axes for an operand of rank %d", ir_op_name(op), a->nints,
                            x->rank);
    bool red[IR_MAX_RANK] = {false};
    for (int k = 0; k < a->nints; k++) {
        int64_t ax = a->ints[k];
        if (ax < 0 || ax >= x->rank)
            return arena_printf(ar, "%s: axis %lld out of range for %s", ir_op_name(op),
                                (long long)ax, ts(ar, x));
        if (k > 0 && ax <= a->ints[k - 1])
            return arena_printf(ar, "%s: axes must be sorted and distinct", ir_op_name(op));
        red[ax] = true;
    }
    IrType r;
    memset(&r, 0, sizeof r);
    r.dtype = x->dtype;
    for (int i = 0; i < x->rank; i++) {
        if (!red[i])
            r.dims[r.rank++] = x->dims[i];
        else if (a->keepdims)
            r.dims[r.rank++] = 1;
    }
    *out = r;
    return NULL;
}

/* Last-axis normalisation: x [..., D], then gamma [D] (and beta [D]). */
static const char *infer_norm(Arena *ar, IrOp op, int nargs, const IrType *args, IrType *out)
{
    const IrType *x = &args[0];
    const char *e = need_float(ar, op, x);
    if (e)
        return e;
    if (x->rank < 1)
        return arena_printf(ar, "%s: operand must have rank >= 1, got %s", ir_op_name(op), ts(ar, x));
    int64_t D = x->dims[x->rank - 1];
    static const char *const names[] = {"x", "gamma", "beta"};
    for (int k = 1; k < nargs; k++) {
        const IrType *g = &args[k];
        if (g->dtype != x->dtype)
            return arena_printf(ar, "%s: %s must have the dtype of x: %s vs %s", ir_op_name(op),
                                names[k], ts(ar, g), ts(ar, x));
        if (g->rank != 1 || g->dims[0] != D)
            return arena_printf(ar, "%s: %s must be %s[%lld] (the last dim of x, which is %s), got %s",
                                ir_op_name(op), names[k], ir_dtype_name(x->dtype), (long long)D,
                                ts(ar, x), ts(ar, g));
    }
    *out = *x;
    return NULL;
}

static const char *infer_matmul(Arena *ar, const IrType *x, const IrType *w, IrType *out)
{
    if (x->rank < 2 || w->rank < 2)
        return arena_printf(ar, "matmul: operands need rank >= 2 (lhs is %s, rhs is %s)", ts(ar, x),
                            ts(ar, w));
    if (x->dtype != w->dtype)
        return arena_printf(ar, "matmul: operand dtypes differ (lhs is %s, rhs is %s)", ts(ar, x),
                            ts(ar, w));
    const char *e = need_float(ar, OP_MATMUL, x);
    if (e)
        return e;
    int64_t k1 = x->dims[x->rank - 1], k2 = w->dims[w->rank - 2];
    if (k1 != k2)
        return arena_printf(ar, "matmul: contraction sizes differ: %lld vs %lld (lhs is %s, rhs is %s)",
                            (long long)k1, (long long)k2, ts(ar, x), ts(ar, w));
    IrType r;
    memset(&r, 0, sizeof r);
    r.dtype = x->dtype;
    int bx = x->rank - 2, bw = w->rank - 2, nb = bx > bw ? bx : bw;
    for (int i = 0; i < nb; i++) {
        int ix = bx - nb + i, iw = bw - nb + i;
        int64_t a = ix >= 0 ? x->dims[ix] : 1, b = iw >= 0 ? w->dims[iw] : 1;
        if (a == b || b == 1)
            r.dims[i] = a;
        else if (a == 1)
            r.dims[i] = b;
        else
            return arena_printf(ar, "matmul: batch dims do not broadcast: %lld vs %lld (lhs is %s, rhs is %s)",
                                (long long)a, (long long)b, ts(ar, x), ts(ar, w));
    }
    r.rank = nb + 2;
    r.dims[nb] = x->dims[x->rank - 2];
    r.dims[nb + 1] = w->dims[w->rank - 1];
    *out = r;
    return NULL;
}

static const char *dim_in_range(Arena *ar, IrOp op, const char *what, int d, const IrType *x)
{
    if (d >= 0 && d < x->rank)
        return NULL;
    return arena_printf(ar, "%s: %s %d out of range for %s", ir_op_name(op), what, d, ts(ar, x));
}

const char *ir_infer(Arena *ar, IrOp op, int nargs, const IrType *args,
                     const IrAttrs *a, IrType *out)
{
    static const IrAttrs none;
    if (!a)
        a = &none;
    if ((unsigned)op >= OP_COUNT)
        return arena_printf(ar, "unknown op %d", (int)op);
    int want = ir_op_nargs(op);
    if (want >= 0 && nargs != want)
        return arena_printf(ar, "%s: takes %d operand%s, got %d", ir_op_name(op), want,
                            want == 1 ? "" : "s", nargs);
    for (int k = 0; k < nargs; k++)
        if (!type_ok(&args[k]))
            return arena_printf(ar, "%s: operand %d has a malformed type", ir_op_name(op), k);
    const IrType *x = nargs > 0 ? &args[0] : NULL;
    IrType r;
    const char *e;

    if (ir_op_is_route(op)) /* the routing family: ir/infer_route.c */
        return ir_infer_route(ar, op, nargs, args, a, out);
    switch (op) {
    case OP_CONST:
        if ((unsigned)out->dtype >= DT_COUNT)
            return "const: no dtype given";
        memset(&r, 0, sizeof r);
        r.dtype = out->dtype;
        *out = r;
        return NULL;

    case OP_CAST:
        if ((unsigned)out->dtype >= DT_COUNT)
            return "cast: no target dtype given";
        r = *x;
        r.dtype = out->dtype;
        *out = r;
        return NULL;

    case OP_IOTA:
        return infer_iota(ar, a, out);

    case OP_SUM:
    case OP_MEAN:
    case OP_MAX:
    case OP_MIN:
        return infer_reduce(ar, op, x, a, out);

    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX:
        if ((e = need_float(ar, op, x)))
            return e;
        if (x->rank < 1)
            return arena_printf(ar, "%s: operand must have rank >= 1, got %s", ir_op_name(op), ts(ar, x));
        if (a->nints != 1)
            return arena_printf(ar, "%s: needs exactly one axis", ir_op_name(op));
        if (a->ints[0] < 0 || a->ints[0] >= x->rank)
            return arena_printf(ar, "%s: axis %lld out of range for %s", ir_op_name(op),
                                (long long)a->ints[0], ts(ar, x));
        *out = *x;
        return NULL;

    case OP_LAYERNORM:
    case OP_RMSNORM:
        return infer_norm(ar, op, nargs, args, out);

    case OP_TRANSPOSE: {
        if (a->nints != x->rank)
            return arena_printf(ar, "transpose: permutation has %d entries but the operand %s has rank %d",
                                a->nints, ts(ar, x), x->rank);
        bool seen[IR_MAX_RANK] = {false};
        memset(&r, 0, sizeof r);
        r.dtype = x->dtype;
        r.rank = x->rank;
        for (int k = 0; k < a->nints; k++) {
            int64_t p = a->ints[k];
            if (p < 0 || p >= x->rank)
                return arena_printf(ar, "transpose: permutation entry %lld out of range for %s",
                                    (long long)p, ts(ar, x));
            if (seen[p])
                return arena_printf(ar, "transpose: permutation repeats axis %lld", (long long)p);
            seen[p] = true;
            r.dims[k] = x->dims[p];
        }
        *out = r;
        return NULL;
    }

    case OP_RESHAPE: {
        if (a->nints < 0 || a->nints > IR_MAX_RANK)
            return arena_printf(ar, "reshape: rank %d exceeds the maximum %d", a->nints, IR_MAX_RANK);
        memset(&r, 0, sizeof r);
        r.dtype = x->dtype;
        r.rank = a->nints;
        int64_t n = 1;
        bool over = false;
        for (int k = 0; k < a->nints; k++) {
            if (a->ints[k] < 0)
                return arena_printf(ar, "reshape: size %lld is negative", (long long)a->ints[k]);
            r.dims[k] = a->ints[k];
            if (__builtin_mul_overflow(n, a->ints[k], &n))
                over = true;
        }
        int64_t want_n = ir_type_numel(x);
        if (over || n != want_n) {
            char buf[160];
            return arena_printf(ar, "reshape: cannot reshape %s (%lld elements) to %s", ts(ar, x),
                                (long long)want_n, ir_type_str(&r, buf, sizeof buf));
        }
        *out = r;
        return NULL;
    }

    case OP_SLICE:
    case OP_CONCAT:
    case OP_PAD:
    case OP_BROADCAST_TO:
        return infer_shape_op(ar, op, nargs, args, a, out);

    case OP_MATMUL:
        return infer_matmul(ar, &args[0], &args[1], out);

    case OP_ATTENTION:
        return ir_infer_attention(ar, &args[0], &args[1], &args[2], out);

    case OP_EMBEDDING: {
        const IrType *t = &args[0], *ids = &args[1];
        if (t->rank != 2 || !ir_dtype_is_float(t->dtype))
            return arena_printf(ar, "embedding: table must be a float [V, D] matrix, got %s", ts(ar, t));
        if (ids->dtype != DT_I32)
            return arena_printf(ar, "embedding: ids must be i32, got %s", ts(ar, ids));
        if (ids->rank + 1 > IR_MAX_RANK)
            return arena_printf(ar, "embedding: result rank exceeds the maximum %d", IR_MAX_RANK);
        r = *ids;
        r.dtype = t->dtype;
        r.dims[r.rank++] = t->dims[1];
        *out = r;
        return NULL;
    }

    case OP_CROSS_ENTROPY: {
        const IrType *lg = &args[0], *lb = &args[1];
        if (lg->rank != 2 || !ir_dtype_is_float(lg->dtype))
            return arena_printf(ar, "cross_entropy: logits must be a float [N, V] matrix, got %s",
                                ts(ar, lg));
        if (lb->dtype != DT_I32)
            return arena_printf(ar, "cross_entropy: labels must be i32, got %s", ts(ar, lb));
        if (lb->rank != 1 || lb->dims[0] != lg->dims[0])
            return arena_printf(ar, "cross_entropy: labels must be i32[%lld] (one per row of the logits %s), got %s",
                                (long long)lg->dims[0], ts(ar, lg), ts(ar, lb));
        memset(&r, 0, sizeof r);
        r.dtype = lg->dtype;
        *out = r;
        return NULL;
    }

    case OP_PICK: /* partition.c's cross_entropy pieces: each row's label logit */
        if (args[0].rank != 2 || args[1].dtype != DT_I32 || args[1].rank != 1 ||
            args[1].dims[0] != args[0].dims[0])
            return arena_printf(ar, "pick: needs logits [N, V] and i32 labels [N], got %s and %s",
                                ts(ar, &args[0]), ts(ar, &args[1]));
        memset(&r, 0, sizeof r);
        r.dtype = args[0].dtype;
        r.rank = 1;
        r.dims[0] = args[0].dims[0];
        *out = r;
        return NULL;

    case OP_REDISTRIBUTE:
    case OP_ALL_REDUCE:
    case OP_COLLECTIVE_PERMUTE:
    case OP_TO_PARTIAL:
    case OP_DONE:
        *out = *x;
        return NULL;

    case OP_REDUCE_SCATTER:
    case OP_ALL_GATHER:
    case OP_SHARD:
        if ((e = dim_in_range(ar, op, "dim", a->dim, x)))
            return e;
        *out = *x;
        return NULL;

    case OP_ALL_TO_ALL:
        if ((e = dim_in_range(ar, op, "dim", a->dim, x)) || (e = dim_in_range(ar, op, "dim2", a->dim2, x)))
            return e;
        *out = *x;
        return NULL;

    case OP_CALL: {
        const IrFunc *f = a->fn;
        if (!f)
            return arena_printf(ar, "call: callee '%s' is not resolved", a->callee ? a->callee : "?");
        if (nargs != f->nparams)
            return arena_printf(ar, "call: '%s' takes %d argument%s, got %d", f->name, f->nparams,
                                f->nparams == 1 ? "" : "s", nargs);
        for (int k = 0; k < nargs; k++)
            if (!ir_type_eq(&args[k], &f->params[k]->type))
                return arena_printf(ar, "call: argument %d of '%s' must be %s, got %s", k + 1, f->name,
                                    ts(ar, &f->params[k]->type), ts(ar, &args[k]));
        if (f->nresults > 0 && f->results && f->results[0])
            *out = f->results[0]->type;
        return NULL;
    }

    case OP_GRAD: /* the verifier checks the whole signature; the value first */
        if (!a->fn || a->fn->nresults != 1 || !a->fn->results || !a->fn->results[0])
            return "grad: callee not resolved";
        *out = a->fn->results[0]->type;
        return NULL;

    case OP_LOOP: /* ir_loop_check checks the whole signature */
        if (a->ncarry < 1 || a->ncarry > nargs)
            return arena_printf(ar, "loop: %d carried values for %d operands", a->ncarry, nargs);
        *out = args[0];
        return NULL;

    case OP_COUNT:
        break;
    default:
        if (ir_ew_info(op))
            return infer_ew(ar, ir_ew_info(op), nargs, args, out);
        break;
    }
    return arena_printf(ar, "unknown op %d", (int)op);
}
