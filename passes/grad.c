/* grad.c - pass_grad: reverse-mode autodiff of value_and_grad.
 *
 * Requires: sema'd module (OP_GRAD instructions: callee a.fn returning one
 *           scalar float, wrt argument indices in a.ints; see ops.def).
 * Produces: no OP_GRAD.  Each one becomes an OP_CALL of a new function
 *           `<f>.grad<N>` of f's parameters whose body is f's body with every
 *           call inlined (the forward), then the backward: a reverse walk
 *           over the forward that gives every float value its adjoint (the
 *           sum of its uses' vector-Jacobian products; the result's adjoint
 *           is 1), and results: the value, then the adjoint of each wrt
 *           parameter (zeros where the value does not depend on it).
 * Maintains: SSA; global types; no placement is set on a new value, so the
 *           backward's collectives (a replicated weight's gradient from data
 *           split over dp is P(sum), reduced once) come out of propagate
 *           like any other op's.
 *
 * Where it runs: first thing in pass_inline (inline.c), so `dtc run` and the
 * compile pipeline both differentiate, before propagation.  It needs f's
 * body flat (calls inlined) and works on a copy, so it cannot be a sema step
 * (callees may be checked after their callers) and needs no IR stage of its
 * own between sema and inline.  A value_and_grad inside f (a second
 * derivative) is expanded in the copy first, so the outer backward
 * differentiates the inner one's backward like any other ops.
 *
 * The vector-Jacobian products: the elementwise family's are the VJP column
 * of ir/ops_ew.def (expressions over the builder helpers below); the other
 * families' are vjp_other; attention is replaced in the forward by its
 * decomposition (ir/attention.c) first.  An op with neither is an error ("grad: no
 * vector-Jacobian product for OP"), never a silent zero.  Every backward
 * instruction is an existing op, built through ir_infer so that its type is
 * the op's own rule.  A loop in f is unrolled in the copy (unroll_loops):
 * its trips become straight-line code, a stacked operand's slice [l] a
 * slice op, so the backward runs the layers in reverse and a stacked
 * weight's gradient is the sum of its layers' padded slices.  Cost: the
 * gradient's code grows with the trip count (the program's own loops, and
 * loops outside f, stay loops).
 */
#include "passes/passes.h"

#include <math.h>
#include <string.h>

#include "frontend/frontend.h" /* FE_MAX_INLINED_OPS: the size limit of spec 9 */
#include "ir/ew.h"

typedef struct Builder {
    IrModule *m;
    IrFunc *f;
    SrcLoc loc;   /* of the forward instruction being differentiated */
    DType dt;     /* its result dtype: the dtype of num() */
    IrValue **adj; /* forward value id -> adjoint, NULL: zero */
    int nadj;
    IrInst *at;   /* new instructions go before it; NULL: at the end */
} Builder;

/* ---- builder helpers: one instruction each, typed by ir_infer ---------------- */
static IrValue *emit(Builder *B, IrOp op, int n, IrValue **args, const IrAttrs *at, DType dt)
{
    return ir_inst_typed(B->m, B->f, B->at, op, n, args, at, dt, B->loc, NULL, "grad: backward")->res[0];
}

static IrValue *num(Builder *B, double v)
{
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.f = v;
    return emit(B, OP_CONST, 0, NULL, &at, B->dt);
}

static IrValue *un(Builder *B, IrOp op, IrValue *x)
{
    return emit(B, op, 1, &x, NULL, x->type.dtype);
}

static IrValue *bin(Builder *B, IrOp op, IrValue *x, IrValue *y)
{
    IrValue *a[2] = {x, y};
    return emit(B, op, 2, a, NULL, x->type.dtype);
}

static IrValue *add(Builder *B, IrValue *x, IrValue *y) { return bin(B, OP_ADD, x, y); }
static IrValue *sub(Builder *B, IrValue *x, IrValue *y) { return bin(B, OP_SUB, x, y); }
static IrValue *mul(Builder *B, IrValue *x, IrValue *y) { return bin(B, OP_MUL, x, y); }
static IrValue *dvd(Builder *B, IrValue *x, IrValue *y) { return bin(B, OP_DIV, x, y); }
static IrValue *neg(Builder *B, IrValue *x) { return un(B, OP_NEG, x); }
/* A comparison: 1 or 0 in the operands' dtype. */
static IrValue *cmp(Builder *B, IrOp op, IrValue *x, IrValue *y) { return bin(B, op, x, y); }

static IrValue *sel(Builder *B, IrValue *c, IrValue *x, IrValue *y)
{
    IrValue *a[3] = {c, x, y};
    return emit(B, OP_WHERE, 3, a, NULL, x->type.dtype);
}

static IrValue *with_ints(Builder *B, IrOp op, IrValue *x, const int64_t *ints, int n, bool keepdims)
{
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *p = ir_attrs_ints(B->m->arena, &at, n);
    for (int k = 0; k < n; k++)
        p[k] = ints[k];
    at.keepdims = keepdims;
    return emit(B, op, 1, &x, &at, x->type.dtype);
}

static IrValue *reshape(Builder *B, IrValue *x, const int64_t *dims, int rank)
{
    if (x->type.rank == rank && !memcmp(x->type.dims, dims, sizeof *dims * (size_t)rank))
        return x;
    return with_ints(B, OP_RESHAPE, x, dims, rank, false);
}

static IrValue *bcast(Builder *B, IrValue *x, const IrType *t)
{
    if (x->type.rank == t->rank && !memcmp(x->type.dims, t->dims, sizeof *t->dims * (size_t)t->rank))
        return x;
    return with_ints(B, OP_BROADCAST_TO, x, t->dims, t->rank, false);
}

static IrValue *zeros(Builder *B, const IrType *t)
{
    DType keep = B->dt;
    B->dt = t->dtype;
    IrValue *z = bcast(B, num(B, 0.0), t);
    B->dt = keep;
    return z;
}

/* Swaps the last two dims. */
static IrValue *transpose_last2(Builder *B, IrValue *x)
{
    IrAttrs at = ir_attrs_swap_last_two(B->m->arena, x->type.rank);
    return emit(B, OP_TRANSPOSE, 1, &x, &at, x->type.dtype);
}

/* Broadcasting's adjoint: g summed over the dims that broadcasting made
 * from t (new leading dims, stretched size-1 dims), reshaped to t. */
static IrValue *unbroadcast(Builder *B, IrValue *g, const IrType *t)
{
    int lead = g->type.rank - t->rank;
    DTC_ASSERT(lead >= 0);
    int64_t axes[IR_MAX_RANK];
    int n = 0;
    for (int d = 0; d < lead; d++)
        axes[n++] = d;
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] == 1 && g->type.dims[lead + d] != 1)
            axes[n++] = lead + d;
    if (n > 0)
        g = with_ints(B, OP_SUM, g, axes, n, false);
    return reshape(B, g, t->dims, t->rank);
}

/* g reduced over `axes` (sorted) of a value of type t, viewed with those
 * dims kept as 1 and broadcast back to t. */
static IrValue *unreduce(Builder *B, IrValue *g, const IrType *t, const int64_t *axes, int n)
{
    int64_t kd[IR_MAX_RANK];
    for (int d = 0; d < t->rank; d++)
        kd[d] = t->dims[d];
    for (int k = 0; k < n; k++)
        kd[axes[k]] = 1;
    return reshape(B, g, kd, t->rank);
}

static IrValue *mean_last(Builder *B, IrValue *x)
{
    int64_t ax = x->type.rank - 1;
    return with_ints(B, OP_MEAN, x, &ax, 1, true);
}

/* ---- derivatives the VJP column of ops_ew.def names --------------------------- */
static IrValue *sign(Builder *B, IrValue *x)
{
    return sub(B, cmp(B, OP_GT, x, num(B, 0.0)), cmp(B, OP_LT, x, num(B, 0.0)));
}

/* silu'(x) = s (1 + x (1 - s)), s = sigmoid(x) */
static IrValue *silu_d(Builder *B, IrValue *x)
{
    IrValue *s = un(B, OP_SIGMOID, x);
    return mul(B, s, add(B, num(B, 1.0), mul(B, x, sub(B, num(B, 1.0), s))));
}

/* gelu'(x) = Phi(x) + x phi(x) */
static IrValue *gelu_d(Builder *B, IrValue *x)
{
    IrValue *cdf = mul(B, num(B, 0.5), add(B, num(B, 1.0), un(B, OP_ERF, mul(B, x, num(B, 0.70710678118654752440)))));
    IrValue *pdf = mul(B, num(B, 0.39894228040143267794), un(B, OP_EXP, mul(B, num(B, -0.5), mul(B, x, x))));
    return add(B, cdf, mul(B, x, pdf));
}

/* d/dx 0.5 x (1 + tanh(c (x + a x^3))) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2) */
static IrValue *gelu_tanh_d(Builder *B, IrValue *x)
{
    const double c = 0.79788456080286535588, a = 0.044715;
    IrValue *x2 = mul(B, x, x);
    IrValue *t = un(B, OP_TANH, mul(B, num(B, c), add(B, x, mul(B, num(B, a), mul(B, x2, x)))));
    IrValue *left = mul(B, num(B, 0.5), add(B, num(B, 1.0), t));
    IrValue *dt = mul(B, sub(B, num(B, 1.0), mul(B, t, t)), add(B, num(B, c), mul(B, num(B, 3.0 * a * c), x2)));
    return add(B, left, mul(B, mul(B, num(B, 0.5), x), dt));
}

/* d/dx x^f = f x^(f-1); f = 0: no contribution */
static IrValue *pow_vjp(Builder *B, IrValue *g, IrValue *x, double f)
{
    if (f == 0.0)
        return NULL;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.f = f - 1.0;
    IrValue *p = f == 1.0 ? num(B, 1.0) : emit(B, OP_POW, 1, &x, &at, x->type.dtype);
    return mul(B, g, mul(B, num(B, f), p));
}

/* The elementwise VJPs: d[k] is operand k's adjoint before unbroadcast
 * (NULL: none); false when the row has no VJP. */
static bool vjp_ew(Builder *B, IrOp op, IrValue *g, IrValue *r, IrValue *x, IrValue *y, IrValue *z, double f,
                   IrValue *d[3])
{
    (void)z;
    (void)r;
    (void)f;
#define VJP1(a) (d[0] = (a), true)
#define VJP2(a, b) (d[0] = (a), d[1] = (b), true)
#define VJP3(a, b, c) (d[0] = (a), d[1] = (b), d[2] = (c), true)
#define VJP_ZERO true
#define EW(id, name, nargs, flags, types, domain, surface, f64, i64, cf, ci, llf, lli, vjp) \
    case OP_##id:                                                                              \
        return vjp;
    switch (op) {
#include "ir/ops_ew.def"
    default:
        return false;
    }
#undef EW
#undef VJP1
#undef VJP2
#undef VJP3
#undef VJP_ZERO
}

/* ---- the other families ---------------------------------------------------------- */
static void accumulate(Builder *B, IrValue *v, IrValue *contrib);

/* A slice op of the 3-D value x along its axis 1: [lo, hi) step `step`
 * (normalised as infer.c wants it). */
static IrValue *slice_mid(Builder *B, IrValue *x, int64_t lo, int64_t hi, int64_t step)
{
    int64_t tr[9] = {0, x->type.dims[0], 1, lo, hi, step, 0, x->type.dims[2], 1};
    return with_ints(B, OP_SLICE, x, tr, 9, false);
}

/* A pad op of the 3-D value x along its axis 1. */
static IrValue *pad_mid(Builder *B, IrValue *x, int64_t lo, int64_t hi)
{
    if (lo == 0 && hi == 0)
        return x;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *p = ir_attrs_ints(B->m->arena, &at, 6);
    p[2] = lo, p[3] = hi;
    return emit(B, OP_PAD, 1, &x, &at, x->type.dtype);
}

/* The adjoint of one dim of a slice: g (len along dim d) placed back at
 * [start, start + step, ...] of a dim of size n, zeros elsewhere.  Works
 * on the [outer, len, inner] view of g, so no rank limit is in the way. */
static IrValue *unslice_dim(Builder *B, IrValue *g, int d, int64_t n, int64_t start, int64_t step)
{
    IrType t = g->type;
    int64_t len = t.dims[d], outer = 1, inner = 1;
    if (step == 1 && start == 0 && len == n)
        return g;
    for (int k = 0; k < t.rank; k++) {
        if (k < d)
            outer *= t.dims[k];
        if (k > d)
            inner *= t.dims[k];
    }
    int64_t view[3] = {outer, len, inner};
    IrValue *v = reshape(B, g, view, 3);
    if (len == 0) {
        start = 0;
    } else {
        if (step < 0) { /* reverse g: then it is the ascending slice from its last element */
            v = slice_mid(B, v, len - 1, -1, -1);
            start = start + (len - 1) * step;
            step = -step;
        }
        if (step > 1) { /* step - 1 zeros after each element, cut at the dim's end */
            int64_t v4[4] = {outer, len, 1, inner};
            IrValue *w = reshape(B, v, v4, 4);
            IrAttrs at;
            memset(&at, 0, sizeof at);
            int64_t *p = ir_attrs_ints(B->m->arena, &at, 8);
            p[5] = step - 1;
            w = emit(B, OP_PAD, 1, &w, &at, w->type.dtype);
            int64_t v3[3] = {outer, len * step, inner};
            v = reshape(B, w, v3, 3);
            int64_t keep = n - start < len * step ? n - start : len * step;
            if (keep < len * step)
                v = slice_mid(B, v, 0, keep, 1);
        }
    }
    v = pad_mid(B, v, start, n - start - v->type.dims[1]);
    t.dims[d] = n;
    return reshape(B, v, t.dims, t.rank);
}

/* Slices g along `axis` to [lo, hi). */
static IrValue *cut(Builder *B, IrValue *g, int axis, int64_t lo, int64_t hi)
{
    int64_t tr[3 * IR_MAX_RANK];
    for (int k = 0; k < g->type.rank; k++) {
        tr[3 * k] = 0, tr[3 * k + 1] = g->type.dims[k], tr[3 * k + 2] = 1;
    }
    tr[3 * axis] = lo, tr[3 * axis + 1] = hi;
    if (lo == 0 && hi == g->type.dims[axis])
        return g;
    return with_ints(B, OP_SLICE, g, tr, 3 * g->type.rank, false);
}

/* x normalised over its last axis: xhat, and 1 / the spread (rsqrt). */
static IrValue *normalised(Builder *B, IrValue *x, double eps, bool centre, IrValue **rstd)
{
    IrValue *xc = centre ? sub(B, x, mean_last(B, x)) : x;
    IrValue *var = mean_last(B, mul(B, xc, xc));
    *rstd = un(B, OP_RSQRT, add(B, var, num(B, eps)));
    return mul(B, xc, *rstd);
}

static bool vjp_other(Builder *B, const IrInst *i, IrValue *g)
{
    IrValue *x = i->nargs > 0 ? i->args[0] : NULL, *r = i->res[0];
    const IrAttrs *a = &i->a;
    switch (i->op) {
    case OP_CONST:
    case OP_IOTA:
        return true;
    case OP_CAST:
        if (ir_dtype_is_float(x->type.dtype)) {
            IrValue *c = emit(B, OP_CAST, 1, &g, NULL, x->type.dtype);
            accumulate(B, x, c);
        }
        return true;
    case OP_REDISTRIBUTE:
        accumulate(B, x, g);
        return true;
    case OP_SUM:
    case OP_MEAN: {
        IrValue *gb = bcast(B, unreduce(B, g, &x->type, a->ints, a->nints), &x->type);
        if (i->op == OP_MEAN) {
            int64_t cnt = 1;
            for (int k = 0; k < a->nints; k++)
                cnt *= x->type.dims[a->ints[k]];
            if (cnt == 0)
                return true;
            gb = mul(B, gb, num(B, 1.0 / (double)cnt));
        }
        accumulate(B, x, gb);
        return true;
    }
    case OP_MAX:
    case OP_MIN: { /* to the elements equal to the extreme, shared among ties */
        IrValue *rk = unreduce(B, r, &x->type, a->ints, a->nints);
        IrValue *mask = cmp(B, OP_EQ, x, rk);
        IrValue *cnt = with_ints(B, OP_SUM, mask, a->ints, a->nints, true);
        IrValue *gk = unreduce(B, g, &x->type, a->ints, a->nints);
        accumulate(B, x, mul(B, mask, dvd(B, gk, cnt)));
        return true;
    }
    case OP_SOFTMAX: { /* r (g - sum(g r)) */
        int64_t ax = a->ints[0];
        IrValue *s = with_ints(B, OP_SUM, mul(B, g, r), &ax, 1, true);
        accumulate(B, x, mul(B, r, sub(B, g, s)));
        return true;
    }
    case OP_LOG_SOFTMAX: { /* g - exp(r) sum(g) */
        int64_t ax = a->ints[0];
        IrValue *s = with_ints(B, OP_SUM, g, &ax, 1, true);
        accumulate(B, x, sub(B, g, mul(B, un(B, OP_EXP, r), s)));
        return true;
    }
    case OP_LAYERNORM:
    case OP_RMSNORM: {
        bool ln = i->op == OP_LAYERNORM;
        IrValue *gamma = i->args[1], *rstd;
        IrValue *xhat = normalised(B, x, a->f, ln, &rstd);
        accumulate(B, gamma, unbroadcast(B, mul(B, g, xhat), &gamma->type));
        if (ln)
            accumulate(B, i->args[2], unbroadcast(B, g, &i->args[2]->type));
        IrValue *gh = mul(B, g, gamma);
        IrValue *inner = sub(B, gh, mul(B, xhat, mean_last(B, mul(B, gh, xhat))));
        if (ln)
            inner = sub(B, inner, mean_last(B, gh));
        accumulate(B, x, mul(B, rstd, inner));
        return true;
    }
    case OP_TRANSPOSE: {
        int64_t inv[IR_MAX_RANK];
        for (int k = 0; k < a->nints; k++)
            inv[a->ints[k]] = k;
        accumulate(B, x, with_ints(B, OP_TRANSPOSE, g, inv, a->nints, false));
        return true;
    }
    case OP_RESHAPE:
        accumulate(B, x, reshape(B, g, x->type.dims, x->type.rank));
        return true;
    case OP_BROADCAST_TO:
        accumulate(B, x, unbroadcast(B, g, &x->type));
        return true;
    case OP_SLICE: {
        IrValue *d = g;
        for (int k = 0; k < x->type.rank; k++)
            d = unslice_dim(B, d, k, x->type.dims[k], a->ints[3 * k], a->ints[3 * k + 2]);
        accumulate(B, x, d);
        return true;
    }
    case OP_CONCAT: {
        int ax = (int)a->ints[0];
        int64_t off = 0;
        for (int k = 0; k < i->nargs; k++) {
            int64_t len = i->args[k]->type.dims[ax];
            accumulate(B, i->args[k], cut(B, g, ax, off, off + len));
            off += len;
        }
        return true;
    }
    case OP_PAD: {
        IrValue *d = g;
        for (int k = 0; k < x->type.rank; k++)
            d = cut(B, d, k, a->ints[2 * k], a->ints[2 * k] + x->type.dims[k]);
        accumulate(B, x, d);
        return true;
    }
    case OP_MATMUL: {
        IrValue *y = i->args[1];
        accumulate(B, x, unbroadcast(B, bin(B, OP_MATMUL, g, transpose_last2(B, y)), &x->type));
        accumulate(B, y, unbroadcast(B, bin(B, OP_MATMUL, transpose_last2(B, x), g), &y->type));
        return true;
    }
    case OP_EMBEDDING: { /* rows of g added at their ids: scatter_add into zeros */
        IrValue *ids = i->args[1];
        int64_t n = ir_type_numel(&ids->type), dd = x->type.dims[1];
        int64_t col[2] = {n, 1}, rows[2] = {n, dd};
        IrType it = ids->type;
        it.rank = 2, it.dims[0] = n, it.dims[1] = dd;
        IrValue *idx = bcast(B, reshape(B, ids, col, 2), &it);
        IrValue *args[3] = {zeros(B, &x->type), idx, reshape(B, g, rows, 2)};
        IrAttrs at;
        memset(&at, 0, sizeof at);
        at.dim = 0;
        accumulate(B, x, emit(B, OP_SCATTER_ADD, 3, args, &at, x->type.dtype));
        return true;
    }
    case OP_CROSS_ENTROPY: { /* (softmax(logits) - one_hot(labels)) g / N */
        IrValue *labels = i->args[1];
        int64_t n = x->type.dims[0], v = x->type.dims[1], ax = 1;
        if (n == 0)
            return true;
        IrAttrs at;
        memset(&at, 0, sizeof at);
        int64_t *p = ir_attrs_ints(B->m->arena, &at, 1);
        p[0] = v;
        IrValue *oh = emit(B, OP_ONE_HOT, 1, &labels, &at, x->type.dtype);
        IrValue *sm = with_ints(B, OP_SOFTMAX, x, &ax, 1, false);
        accumulate(B, x, mul(B, sub(B, sm, oh), mul(B, g, num(B, 1.0 / (double)n))));
        return true;
    }
    case OP_CUMSUM: { /* reverse cumsum: total - cumsum(g) + g */
        int64_t ax = a->dim;
        IrAttrs at;
        memset(&at, 0, sizeof at);
        at.dim = a->dim;
        IrValue *cs = emit(B, OP_CUMSUM, 1, &g, &at, g->type.dtype);
        IrValue *tot = with_ints(B, OP_SUM, g, &ax, 1, true);
        accumulate(B, x, add(B, sub(B, tot, cs), g));
        return true;
    }
    case OP_TAKE_ALONG: {
        IrValue *args[3] = {zeros(B, &x->type), i->args[1], g};
        IrAttrs at;
        memset(&at, 0, sizeof at);
        at.dim = a->dim;
        accumulate(B, x, emit(B, OP_SCATTER_ADD, 3, args, &at, x->type.dtype));
        return true;
    }
    case OP_SCATTER_ADD: {
        accumulate(B, x, g);
        IrValue *args[2] = {g, i->args[1]};
        IrAttrs at;
        memset(&at, 0, sizeof at);
        at.dim = a->dim;
        accumulate(B, i->args[2], emit(B, OP_TAKE_ALONG, 2, args, &at, g->type.dtype));
        return true;
    }
    case OP_REPEAT: { /* the n copies of each entry summed, on the [outer, len, n, inner] view */
        int d = a->dim;
        int64_t outer = 1, inner = 1;
        for (int k = 0; k < x->type.rank; k++) {
            if (k < d)
                outer *= x->type.dims[k];
            if (k > d)
                inner *= x->type.dims[k];
        }
        int64_t view[4] = {outer, x->type.dims[d], a->ints[0], inner}, ax = 2;
        IrValue *s = with_ints(B, OP_SUM, reshape(B, g, view, 4), &ax, 1, false);
        accumulate(B, x, reshape(B, s, x->type.dims, x->type.rank));
        return true;
    }
    default:
        break;
    }
    /* integer-valued ops (argmax, one_hot of ids ...) have no float operand to reach */
    for (int k = 0; k < i->nargs; k++)
        if (ir_dtype_is_float(i->args[k]->type.dtype))
            return false;
    return true;
}

/* ---- the reverse walk -------------------------------------------------------------- */
static void accumulate(Builder *B, IrValue *v, IrValue *contrib)
{
    if (!contrib || !ir_dtype_is_float(v->type.dtype) || v->id >= B->nadj)
        return;
    DTC_ASSERT(ir_type_eq(&contrib->type, &v->type));
    B->adj[v->id] = B->adj[v->id] ? add(B, B->adj[v->id], contrib) : contrib;
}

static bool refuse(PassCtx *ctx, const IrInst *i, const char *what)
{
    if (i->loc.file)
        fprintf(ctx->err, "%s:%d:%d: ", i->loc.file, i->loc.line, i->loc.col);
    fprintf(ctx->err, "error: grad: %s\n", what);
    return false;
}

/* Appends to f (whose body is the flat forward) the backward of result 0
 * and makes its results (value, adjoints of the wrt parameters). */
static bool differentiate(PassCtx *ctx, IrModule *m, IrFunc *f, const int64_t *wrt, int nwrt)
{
    for (IrInst *i = f->first, *next; i; i = next) {
        next = i->next;
        if (i->op == OP_LOOP || i->op == OP_GRAD)
            DTC_BUG("grad: a loop or value_and_grad left in the forward");
        if (i->op == OP_ATTENTION) { /* differentiated through its decomposition */
            IrValue *r = ir_attention_expand(m, f, i, i->loc, i->args[0], i->args[1], i->args[2], &i->a,
                                             NULL, NULL);
            ir_replace_uses(f, i->res[0], r);
            ir_inst_remove(f, i);
        }
    }
    Builder B = {m, f, f->loc, DT_F32, NULL, f->next_id, NULL};
    B.adj = arena_alloc(m->arena, sizeof *B.adj * (size_t)(B.nadj + 1));
    memset(B.adj, 0, sizeof *B.adj * (size_t)(B.nadj + 1));
    IrValue *value = f->results[0];
    IrInst *last = f->last;
    B.dt = value->type.dtype;
    B.adj[value->id] = num(&B, 1.0);
    for (IrInst *i = last; i; i = i->prev) {
        IrValue *g = i->nres == 1 ? B.adj[i->res[0]->id] : NULL;
        if (!g)
            continue;
        B.loc = i->loc;
        B.dt = i->res[0]->type.dtype;
        const IrEwInfo *ew = ir_ew_info(i->op);
        if (ew) {
            IrValue *d[3] = {NULL, NULL, NULL};
            IrValue *xa = i->args[0], *ya = i->nargs > 1 ? i->args[1] : NULL, *za = i->nargs > 2 ? i->args[2] : NULL;
            if (!vjp_ew(&B, i->op, g, i->res[0], xa, ya, za, i->a.f, d))
                goto missing;
            for (int k = 0; k < i->nargs && k < 3; k++)
                if (d[k] && ir_dtype_is_float(i->args[k]->type.dtype))
                    accumulate(&B, i->args[k], unbroadcast(&B, d[k], &i->args[k]->type));
            continue;
        }
        if (vjp_other(&B, i, g))
            continue;
    missing:
        return refuse(ctx, i, arena_printf(m->arena, "no vector-Jacobian product for %s", ir_op_name(i->op)));
    }
    IrValue **res = arena_alloc(m->arena, sizeof *res * (size_t)(nwrt + 1));
    res[0] = value;
    B.loc = f->loc;
    for (int k = 0; k < nwrt; k++) {
        IrValue *p = f->params[wrt[k]];
        res[k + 1] = B.adj[p->id] ? B.adj[p->id] : zeros(&B, &p->type);
    }
    f->nresults = nwrt + 1;
    f->results = res;
    f->result_names = arena_alloc(m->arena, sizeof *f->result_names * (size_t)(nwrt + 1));
    memset(f->result_names, 0, sizeof *f->result_names * (size_t)(nwrt + 1));
    return true;
}

/* Unrolls every loop of f (nested ones too): trip calls of the body, the
 * stacked operands cut to slice [l], then inlined.  The forward of a
 * gradient is a copy, so the program's own loops stay loops; the backward
 * of an unrolled loop is the reverse walk over its trips (see the top). */
static int64_t count_insts(const IrFunc *f)
{
    int64_t n = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        n++;
    return n;
}

static bool refuse(PassCtx *ctx, const IrInst *i, const char *what);

/* False (an error printed) when the unrolled forward would pass the
 * inlined-size limit of spec 9. */
static bool unroll_loops(PassCtx *ctx, IrModule *m, IrFunc *f)
{
    for (bool again = true; again;) {
        again = false;
        int64_t size = count_insts(f);
        for (IrInst *i = f->first, *next; i; i = next) {
            next = i->next;
            if (i->op != OP_LOOP)
                continue;
            again = true;
            int64_t grow = i->a.trip * (count_insts(i->a.fn) + i->a.nstack * 2 + 1);
            if (size + grow > FE_MAX_INLINED_OPS)
                return refuse(ctx, i, arena_printf(m->arena, "this loop unrolled for the gradient would make it "
                                                   "more than %d operations", FE_MAX_INLINED_OPS));
            size += grow;
            IrFunc *body = i->a.fn;
            int nc = i->a.ncarry, ns = i->a.nstack;
            Builder B = {m, f, i->loc, DT_F32, NULL, 0, i};
            IrValue **carried = arena_alloc(m->arena, sizeof *carried * (size_t)(nc + 1));
            for (int k = 0; k < nc; k++)
                carried[k] = i->args[k];
            IrType *types = arena_alloc(m->arena, sizeof *types * (size_t)(nc + 1));
            for (int k = 0; k < nc; k++)
                types[k] = i->args[k]->type;
            for (int64_t l = 0; l < i->a.trip; l++) {
                IrValue **args = arena_alloc(m->arena, sizeof *args * (size_t)(i->nargs + 1));
                for (int k = 0; k < i->nargs; k++)
                    args[k] = k < nc ? carried[k] : i->args[k];
                for (int k = nc; k < nc + ns; k++) {
                    IrValue *s = i->args[k];
                    int64_t tr[3 * IR_MAX_RANK];
                    for (int d = 0; d < s->type.rank; d++) {
                        tr[3 * d] = 0, tr[3 * d + 1] = s->type.dims[d], tr[3 * d + 2] = 1;
                    }
                    tr[0] = l, tr[1] = l + 1;
                    IrType st = ir_loop_slice_type(&s->type);
                    args[k] = reshape(&B, with_ints(&B, OP_SLICE, s, tr, 3 * s->type.rank, false), st.dims, st.rank);
                }
                IrInst *c = ir_inst_new(m, f, i, OP_CALL, i->nargs, args, nc, types);
                c->a.fn = body;
                c->a.callee = body->name;
                c->loc = i->loc;
                for (int k = 0; k < nc; k++)
                    carried[k] = c->res[k];
            }
            for (int k = 0; k < nc; k++)
                ir_replace_uses(f, i->res[k], carried[k]);
            ir_inst_remove(f, i);
        }
        pass_inline_calls(m, f, false); /* a rule fn's body is differentiated as inlined code */
    }
    return true;
}

static bool expand(PassCtx *ctx, IrModule *m, IrFunc *host, IrInst *i, int *serial);

/* Expands the value_and_grads that inlining brought into f (a gradient
 * inside the differentiated function: second derivatives), innermost
 * first, until none is left; false on an error. */
static bool expand_inner(PassCtx *ctx, IrModule *m, IrFunc *f, int *serial)
{
    for (bool again = true; again;) {
        again = false;
        for (IrInst *i = f->first, *next; i; i = next) {
            next = i->next;
            if (i->op != OP_GRAD)
                continue;
            if (!expand(ctx, m, f, i, serial))
                return false;
            again = true;
        }
        if (again)
            pass_inline_calls(m, f, false); /* a rule fn's body is differentiated as inlined code */
    }
    return true;
}

/* A new function: value_and_grad of i's callee, then i becomes its call. */
static bool expand(PassCtx *ctx, IrModule *m, IrFunc *host, IrInst *i, int *serial)
{
    const IrFunc *callee = i->a.fn;
    DTC_ASSERT(callee && callee->nresults == 1);
    IrFunc *f = ir_func_new(m, arena_printf(m->arena, "%s.grad%d", callee->name, (*serial)++));
    f->loc = i->loc;
    IrValue **args = arena_alloc(m->arena, sizeof *args * (size_t)(callee->nparams + 1));
    for (int k = 0; k < callee->nparams; k++) {
        IrInit none;
        memset(&none, 0, sizeof none);
        const IrValue *p = callee->params[k];
        args[k] = ir_param_new(m, f, p->name ? p->name : "p", p->type, pl_replicated(0), none);
    }
    IrInst *c = ir_inst_new(m, f, NULL, OP_CALL, callee->nparams, args, 1, &callee->results[0]->type);
    c->a.callee = callee->name;
    c->a.fn = (IrFunc *)callee;
    c->loc = i->loc;
    f->nresults = 1;
    f->results = arena_alloc(m->arena, sizeof *f->results);
    f->results[0] = c->res[0];
    pass_inline_calls(m, f, false); /* a rule fn's body is differentiated as inlined code */
    if (!expand_inner(ctx, m, f, serial) || !unroll_loops(ctx, m, f) || !expand_inner(ctx, m, f, serial))
        return false;
    if (!differentiate(ctx, m, f, i->a.ints, i->a.nints))
        return false;
    IrType types[IR_MAX_RANK * 8 + 1];
    DTC_ASSERT(i->nres <= (int)(sizeof types / sizeof types[0]));
    for (int k = 0; k < i->nres; k++)
        types[k] = i->res[k]->type;
    IrInst *call = ir_inst_new(m, host, i, OP_CALL, i->nargs, i->args, i->nres, types);
    call->a.callee = f->name;
    call->a.fn = f;
    call->loc = i->loc;
    for (int k = 0; k < i->nres; k++) {
        call->res[k]->name = i->res[k]->name;
        call->res[k]->pl = i->res[k]->pl;
        call->res[k]->pinned = i->res[k]->pinned;
        ir_replace_uses(host, i->res[k], call->res[k]);
    }
    ir_inst_remove(host, i);
    return true;
}

bool pass_grad(PassCtx *ctx, IrModule *m)
{
    int nfuncs = m->nfuncs, serial = 0;
    bool ok = true;
    for (int k = 0; k < nfuncs; k++) {
        IrFunc *host = m->funcs[k];
        for (IrInst *i = host->first, *next; i; i = next) {
            next = i->next;
            if (i->op == OP_GRAD && !expand(ctx, m, host, i, &serial))
                ok = false;
        }
    }
    return ok;
}
