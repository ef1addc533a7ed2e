/* sema_ops.c - checking and lowering of the calls of built-in operations
 * that have no family file of their own: the elementwise table
 * (ir/ops_ew.def), gelu, the sources (arange, iota), the masks (tril, triu,
 * causal_mask), pow, cast, reductions, softmax, the norms, transpose,
 * reshape, embedding, cross_entropy and redistribute.
 *
 * Every call is checked against its row (arity, keywords, usage text), its
 * arguments are evaluated, and the op is emitted through sema_emit, so the
 * shape and dtype rules stay in ir_infer.
 */
#include <math.h>
#include <string.h>

#include "frontend/sema_internal.h"
#include "ir/ew.h"

/* ---- built-in operations and initialisers ------------------------------------------ */
typedef enum BKind {
    BK_EW,            /* a row of ir/ops_ew.def: op(x), op(a, b), where(c, a, b) */
    BK_GELU,          /* gelu(x, approximate=false) */
    BK_SOURCE,        /* arange(N, dtype=i32), iota(f32[A, B], axis=0) */
    BK_TRI,           /* tril(x, k=0), triu(x, k=0) */
    BK_CAUSAL,        /* causal_mask(T, dtype=f32) */
    BK_POW,           /* pow(x, constant) */
    BK_CAST,          /* cast(x, dtype) */
    BK_REDUCE,        /* op(x, axis=, keepdims=) */
    BK_SOFTMAX,       /* op(x, axis=) */
    BK_NORM,          /* layernorm(x, gamma, beta, eps=), rmsnorm(x, gamma, eps=) */
    BK_TRANSPOSE,     /* transpose(x, [perm]) */
    BK_RESHAPE,       /* reshape(x, [sizes]) */
    BK_LOOKUP,        /* embedding(table, ids), cross_entropy(logits, labels) */
    BK_REDISTRIBUTE   /* redistribute(x, M[...]) */
} BKind;

typedef struct Builtin {
    const char *name;
    BKind kind;
    IrOp op;
    int npos;          /* positional arguments (transpose, reshape: 1 or 2) */
    const char *kws;   /* keyword arguments, space separated */
    const char *usage;
} Builtin;

static const Builtin builtins[] = {
    /* the elementwise functions come from ir/ops_ew.def (find_builtin) */
    {"gelu", BK_GELU, OP_GELU, 1, "approximate", "gelu(x, approximate=false)"},
    {"arange", BK_SOURCE, OP_IOTA, 1, "dtype", "arange(N, dtype=i32)"},
    {"iota", BK_SOURCE, OP_IOTA, 1, "axis", "iota(f32[A, B], axis=0)"},
    {"tril", BK_TRI, OP_WHERE, 1, "k", "tril(x, k=0)"},
    {"triu", BK_TRI, OP_WHERE, 1, "k", "triu(x, k=0)"},
    {"causal_mask", BK_CAUSAL, OP_WHERE, 1, "dtype", "causal_mask(T, dtype=f32)"},
    {"pow", BK_POW, OP_POW, 2, "", "pow(x, exponent)"},
    {"cast", BK_CAST, OP_CAST, 2, "", "cast(x, f64)"},
    {"sum", BK_REDUCE, OP_SUM, 1, "axis keepdims", "sum(x, axis=0, keepdims=false)"},
    {"mean", BK_REDUCE, OP_MEAN, 1, "axis keepdims", "mean(x, axis=0, keepdims=false)"},
    {"max", BK_REDUCE, OP_MAX, 1, "axis keepdims", "max(x, axis=0, keepdims=false)"},
    {"min", BK_REDUCE, OP_MIN, 1, "axis keepdims", "min(x, axis=0, keepdims=false)"},
    {"softmax", BK_SOFTMAX, OP_SOFTMAX, 1, "axis", "softmax(x, axis=-1)"},
    {"log_softmax", BK_SOFTMAX, OP_LOG_SOFTMAX, 1, "axis", "log_softmax(x, axis=-1)"},
    {"layernorm", BK_NORM, OP_LAYERNORM, 3, "eps", "layernorm(x, gamma, beta, eps=1e-5)"},
    {"rmsnorm", BK_NORM, OP_RMSNORM, 2, "eps", "rmsnorm(x, gamma, eps=1e-6)"},
    {"transpose", BK_TRANSPOSE, OP_TRANSPOSE, 2, "perm", "transpose(x, [1, 0])"},
    {"reshape", BK_RESHAPE, OP_RESHAPE, 2, "sizes", "reshape(x, [4, -1])"},
    {"embedding", BK_LOOKUP, OP_EMBEDDING, 2, "", "embedding(table, ids)"},
    {"cross_entropy", BK_LOOKUP, OP_CROSS_ENTROPY, 2, "", "cross_entropy(logits, labels)"},
    {"redistribute", BK_REDISTRIBUTE, OP_REDISTRIBUTE, 2, "", "redistribute(x, M[S(0), R])"},
};
#define NBUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

static const Builtin *find_builtin(Arena *a, const char *name)
{
    for (int k = 0; k < NBUILTINS; k++)
        if (!strcmp(builtins[k].name, name))
            return &builtins[k];
    const IrEwInfo *e = ir_ew_by_surface(name);
    if (!e)
        return NULL;
    Builtin *b = arena_alloc(a, sizeof *b);
    static const char *const operands[] = {"", "(x)", "(a, b)", "(c, a, b)"};
    b->name = e->surface;
    b->kind = BK_EW;
    b->op = e->op;
    b->npos = e->nargs;
    b->kws = "";
    b->usage = arena_printf(a, "%s%s", e->surface, operands[e->nargs]);
    return b;
}

/* Arity check for built-ins: npos positional (min..max).  Keywords are
 * checked separately. */
static bool check_arity(Sema *S, const Expr *e, const Builtin *b, int min, int max)
{
    if (e->nargs >= min && e->nargs <= max)
        return true;
    const char *want = min == max ? arena_printf(S->a, "%d argument%s", min, min == 1 ? "" : "s")
                                  : arena_printf(S->a, "%d or %d arguments", min, max);
    sema_err(S, e->nargs > max ? e->args[max]->loc : e->loc, "%s takes %s, got %d (usage: %s)", b->name,
             want, e->nargs, b->usage);
    return false;
}

/* An axis as the user wrote it (negative counts from the end), normalised
 * for rank; rank < 0: the operand failed, only the form is checked. */
static bool norm_axis(Sema *S, const Builtin *b, const Expr *e, int64_t ax, int rank, const IrType *t,
                      int64_t *out)
{
    if (rank < 0) {
        *out = 0;
        return true;
    }
    if (ax < -rank || ax >= rank) {
        if (rank == 0)
            sema_err(S, e->loc, "%s: axis %lld out of range: the operand %s is a scalar", b->name,
                     (long long)ax, sema_tstr(S, t));
        else
            sema_err(S, e->loc, "%s: axis %lld out of range for %s (expected %d..%d)", b->name, (long long)ax,
                     sema_tstr(S, t), -rank, rank - 1);
        return false;
    }
    *out = ax < 0 ? ax + rank : ax;
    return true;
}

/* A list of compile-time integers ([a, b, ...]); `single_ok`: a bare
 * integer is accepted as a one-element list. */
static bool int_list(Sema *S, const Builtin *b, const char *what, const Expr *e, bool single_ok,
                     int64_t *vals, const Expr **items, int *n)
{
    *n = 0;
    if (e->kind != E_LIST) {
        if (!single_ok) {
            sema_err(S, e->loc, "%s: %s must be a list of integers, as in %s", b->name, what, b->usage);
            return false;
        }
        items[0] = e;
        *n = 1;
        return sema_eval_int(S, e, arena_printf(S->a, "%s: %s", b->name, what), &vals[0]);
    }
    if (e->nargs > IR_MAX_RANK) {
        sema_err(S, e->loc, "%s: too many entries in %s (%d); a tensor has at most %d dims", b->name, what,
                 e->nargs, IR_MAX_RANK);
        return false;
    }
    bool ok = true;
    for (int k = 0; k < e->nargs; k++) {
        items[k] = e->args[k];
        if (!sema_eval_int(S, e->args[k], arena_printf(S->a, "%s: %s entry", b->name, what), &vals[k]))
            ok = false;
    }
    *n = e->nargs;
    return ok;
}

/* iota of dtype dt over `shape` along `axis` (normalised). */
static IrValue *emit_iota(Sema *S, SrcLoc loc, DType dt, int rank, const int64_t *shape, int axis)
{
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *v = ir_attrs_ints(S->a, &at, rank);
    for (int k = 0; k < rank; k++)
        v[k] = shape[k];
    at.dim = axis;
    return sema_emit(S, loc, NULL, OP_IOTA, 0, NULL, &at, dt);
}

/* dtype=NAME; *dt unchanged when absent.  false after reporting. */
static bool dtype_kw(Sema *S, const Expr *e, const Builtin *b, DType *dt)
{
    const Expr *de = sema_find_kw(e, "dtype", NULL);
    if (!de)
        return true;
    if (de->kind != E_NAME || !ir_dtype_parse(de->name, dt)) {
        sema_err(S, de->loc, "%s: dtype must be a dtype name such as f32 or i32 (usage: %s)", b->name, b->usage);
        return false;
    }
    return true;
}

/* arange(N, dtype=i32) -> [0, 1, ..., N-1]; iota(f32[A, B], axis=0): the
 * index along axis.  Each rank computes its own indices: no data moves. */
static SVal source_call(Sema *S, const Expr *e, const Builtin *b)
{
    const Expr *a0 = e->args[0];
    int64_t shape[IR_MAX_RANK];
    int rank = 0;
    int64_t axis = 0;
    DType dt = DT_I32;
    if (!strcmp(b->name, "arange")) {
        if (!sema_eval_int(S, a0, "arange: the length", &shape[0]))
            return sv_err;
        if (shape[0] < 0) {
            sema_err(S, a0->loc, "arange: the length must not be negative, got %lld", (long long)shape[0]);
            return sv_err;
        }
        rank = 1;
        if (!dtype_kw(S, e, b, &dt))
            return sv_err;
    } else {
        if (a0->kind != E_INDEX || !ir_dtype_parse(a0->name, &dt)) {
            sema_err(S, a0->loc, "iota: the first argument is the result type, as in %s", b->usage);
            return sv_err;
        }
        if (a0->nargs < 1 || a0->nargs > IR_MAX_RANK) {
            sema_err(S, a0->loc, "iota: the result needs 1 to %d dims, got %d", IR_MAX_RANK, a0->nargs);
            return sv_err;
        }
        rank = a0->nargs;
        for (int k = 0; k < rank; k++) {
            if (!sema_eval_int(S, a0->args[k], "a dimension", &shape[k]))
                return sv_err;
            if (shape[k] < 0) {
                sema_err(S, a0->args[k]->loc, "iota: a dimension must not be negative, got %lld",
                         (long long)shape[k]);
                return sv_err;
            }
        }
        SrcLoc kl;
        const Expr *ae = sema_find_kw(e, "axis", &kl);
        if (ae) {
            if (!sema_eval_int(S, ae, "iota: axis", &axis))
                return sv_err;
            if (axis < -rank || axis >= rank) {
                sema_err(S, ae->loc, "iota: axis %lld out of range for rank %d (expected %d..%d)", (long long)axis,
                         rank, -rank, rank - 1);
                return sv_err;
            }
            if (axis < 0)
                axis += rank;
        }
    }
    return sv_tensor(emit_iota(S, e->loc, dt, rank, shape, (int)axis));
}

/* tril(x, k) / triu(x, k) / causal_mask(T): where() over a comparison of
 * two iotas, so they need no kernel of their own and shard like any
 * elementwise op. */
static SVal mask_call(Sema *S, const Expr *e, const Builtin *b)
{
    SrcLoc loc = e->loc;
    if (b->kind == BK_CAUSAL) {
        int64_t T;
        DType dt = DT_F32;
        if (!sema_eval_int(S, e->args[0], "causal_mask: the length", &T) || !dtype_kw(S, e, b, &dt))
            return sv_err;
        if (T < 0) {
            sema_err(S, e->args[0]->loc, "causal_mask: the length must not be negative, got %lld", (long long)T);
            return sv_err;
        }
        if (!ir_dtype_is_float(dt)) {
            sema_err(S, sema_find_kw(e, "dtype", NULL)->loc, "causal_mask: dtype must be a float type, got %s",
                     ir_dtype_name(dt));
            return sv_err;
        }
        int64_t sh[2] = {T, T};
        IrValue *i = emit_iota(S, loc, DT_I32, 2, sh, 0), *j = emit_iota(S, loc, DT_I32, 2, sh, 1);
        IrValue *c2[2] = {j, i};
        IrValue *keep = sema_emit(S, loc, NULL, OP_LE, 2, c2, NULL, DT_F32);
        /* large and finite: a fully masked row gives a uniform softmax, not NaN */
        IrValue *sel[3] = {keep, sema_materialise(S, sv_float(0.0), dt, loc),
                           sema_materialise(S, sv_float(dt == DT_F16 ? -65504.0 : -1e9), dt, loc)};
        if (!keep || !sel[1] || !sel[2])
            return sv_err;
        return sv_tensor(sema_emit(S, loc, NULL, OP_WHERE, 3, sel, NULL, DT_F32));
    }
    IrValue *x = sema_tensor_arg(S, e->args[0]);
    int64_t k = 0;
    const Expr *ke = sema_find_kw(e, "k", NULL);
    if (ke && !sema_eval_int(S, ke, arena_printf(S->a, "%s: k", b->name), &k))
        return sv_err;
    if (!x)
        return sv_err;
    if (x->type.rank < 2) {
        sema_err(S, e->args[0]->loc, "%s: needs an operand of rank >= 2 (it masks the last two dims), got %s",
                 b->name, sema_tstr(S, &x->type));
        return sv_err;
    }
    if (k < INT32_MIN || k > INT32_MAX) {
        sema_err(S, ke->loc, "%s: k %lld does not fit in i32", b->name, (long long)k);
        return sv_err;
    }
    int64_t sh[2] = {x->type.dims[x->type.rank - 2], x->type.dims[x->type.rank - 1]};
    IrValue *i = emit_iota(S, loc, DT_I32, 2, sh, 0), *j = emit_iota(S, loc, DT_I32, 2, sh, 1);
    IrValue *ik[2] = {i, sema_materialise(S, sv_int(k), DT_I32, loc)};
    if (!ik[1])
        return sv_err;
    IrValue *diag = sema_emit(S, loc, NULL, OP_ADD, 2, ik, NULL, DT_F32); /* i + k */
    /* tril keeps j <= i + k, triu keeps j >= i + k */
    IrValue *c2[2] = {j, diag};
    IrValue *keep = sema_emit(S, loc, NULL, strcmp(b->name, "tril") ? OP_GE : OP_LE, 2, c2, NULL, DT_F32);
    IrValue *sel[3] = {keep, x, sema_materialise(S, sv_int(0), x->type.dtype == DT_I32 ? DT_I32 : x->type.dtype, loc)};
    if (!keep || !sel[2])
        return sv_err;
    return sv_tensor(sema_emit(S, loc, NULL, OP_WHERE, 3, sel, NULL, DT_F32));
}

static SVal builtin_call(Sema *S, const Expr *e, const Builtin *b)
{
    int minpos = b->npos, maxpos = b->npos;
    if (b->kind == BK_TRANSPOSE || b->kind == BK_RESHAPE)
        minpos = 1;
    bool ok = sema_check_kws(S, e, b->kws);
    if (!check_arity(S, e, b, minpos, maxpos))
        return sv_err;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    SrcLoc locs[3];
    for (int k = 0; k < e->nargs && k < 3; k++)
        locs[k] = e->args[k]->loc;

    switch (b->kind) {
    case BK_EW:
        if (!ok)
            return sv_err;
        return sema_ew_apply(S, e->loc, b->op, (const Expr *const *)e->args, b->npos, 0.0, NULL);
    case BK_GELU: {
        const Expr *ap = sema_find_kw(e, "approximate", NULL);
        if (ap && ap->kind != E_BOOL) {
            sema_err(S, ap->loc, "gelu: approximate must be true or false");
            return sv_err;
        }
        if (!ok)
            return sv_err;
        return sema_ew_apply(S, e->loc, ap && ap->ival ? OP_GELU_TANH : OP_GELU,
                             (const Expr *const *)e->args, 1, 0.0, NULL);
    }
    case BK_SOURCE:
        return ok ? source_call(S, e, b) : sv_err;
    case BK_TRI:
    case BK_CAUSAL:
        return ok ? mask_call(S, e, b) : sv_err;
    case BK_POW: {
        IrValue *x = sema_tensor_arg(S, e->args[0]);
        SVal p = sema_single(S, sema_check_expr(S, e->args[1]), e->args[1]);
        if (p.k == SV_TENSOR) {
            sema_err(S, e->args[1]->loc, "pow: the exponent must be a constant number, not a tensor");
            return sv_err;
        }
        if (!x || p.k == SV_ERR || !ok)
            return sv_err;
        at.f = sema_num_f(p);
        return sv_tensor(sema_emit(S, e->loc, locs, OP_POW, 1, &x, &at, DT_F32));
    }
    case BK_CAST: {
        IrValue *x = sema_tensor_arg(S, e->args[0]);
        const Expr *de = e->args[1];
        DType dt = DT_F32;
        if (de->kind != E_NAME || !ir_dtype_parse(de->name, &dt)) {
            sema_err(S, de->loc, "cast: the second argument must be a dtype (f32, f64, i32, f16 or bf16)");
            return sv_err;
        }
        if (!x || !ok)
            return sv_err;
        return sv_tensor(sema_emit(S, e->loc, locs, OP_CAST, 1, &x, NULL, dt));
    }
    case BK_REDUCE:
    case BK_SOFTMAX: {
        IrValue *x = sema_tensor_arg(S, e->args[0]);
        int rank = x ? x->type.rank : -1;
        const IrType *t = x ? &x->type : NULL;
        SrcLoc kl;
        const Expr *axe = sema_find_kw(e, "axis", &kl);
        int64_t raw[IR_MAX_RANK];
        const Expr *items[IR_MAX_RANK];
        int n = 0;
        ir_attrs_ints(S->a, &at, IR_MAX_RANK); /* axes <= rank <= IR_MAX_RANK */
        if (b->kind == BK_SOFTMAX) {
            at.nints = 1;
            if (!axe)
                raw[0] = -1, items[0] = e, n = 1;
            else if (axe->kind == E_LIST) {
                sema_err(S, axe->loc, "%s: axis must be a single integer (%s normalises along one axis)",
                         b->name, b->name);
                ok = false;
            } else if (!int_list(S, b, "axis", axe, true, raw, items, &n))
                ok = false;
            if (ok && !norm_axis(S, b, items[0], raw[0], rank, t, &at.ints[0]))
                ok = false;
        } else {
            if (!axe) {
                /* default: every axis */
                for (int k = 0; k < rank; k++)
                    at.ints[k] = k;
                at.nints = rank > 0 ? rank : 0;
            } else if (!int_list(S, b, "axis", axe, true, raw, items, &n)) {
                ok = false;
            } else {
                bool seen[IR_MAX_RANK] = {false};
                for (int k = 0; k < n; k++) {
                    int64_t ax;
                    if (!norm_axis(S, b, items[k], raw[k], rank, t, &ax)) {
                        ok = false;
                        continue;
                    }
                    if (rank >= 0 && seen[ax]) {
                        sema_err(S, items[k]->loc, "%s: axis %lld is listed twice", b->name, (long long)raw[k]);
                        ok = false;
                    }
                    seen[ax] = true;
                }
                at.nints = 0;
                for (int k = 0; k < IR_MAX_RANK; k++)
                    if (seen[k])
                        at.ints[at.nints++] = k;
            }
            const Expr *kd = sema_find_kw(e, "keepdims", NULL);
            if (kd) {
                if (kd->kind != E_BOOL) {
                    sema_err(S, kd->loc, "%s: keepdims must be true or false", b->name);
                    ok = false;
                } else
                    at.keepdims = kd->ival != 0;
            }
        }
        if (!x || !ok)
            return sv_err;
        return sv_tensor(sema_emit(S, e->loc, locs, b->op, 1, &x, &at, DT_F32));
    }
    case BK_NORM: {
        IrValue *args[3];
        bool args_ok = true;
        for (int k = 0; k < b->npos; k++)
            if (!(args[k] = sema_tensor_arg(S, e->args[k])))
                args_ok = false;
        at.f = b->op == OP_LAYERNORM ? 1e-5 : 1e-6;
        const Expr *ee = sema_find_kw(e, "eps", NULL);
        if (ee) {
            SVal v = sema_eval_num(S, ee);
            if (v.k == SV_ERR)
                ok = false;
            else if (sema_num_f(v) <= 0) {
                sema_err(S, ee->loc, "%s: eps must be positive, got %s", b->name, sema_num_str(S, v));
                ok = false;
            } else if (args_ok && ir_dtype_is_float(args[0]->type.dtype)
                       && !sema_float_fits(S, ee->loc, sema_num_f(v), sema_num_str(S, v), args[0]->type.dtype)) {
                ok = false;
            } else
                at.f = sema_num_f(v);
        }
        if (!args_ok || !ok)
            return sv_err;
        return sv_tensor(sema_emit(S, e->loc, locs, b->op, b->npos, args, &at, DT_F32));
    }
    case BK_TRANSPOSE:
    case BK_RESHAPE: {
        IrValue *x = sema_tensor_arg(S, e->args[0]);
        const char *kw = b->kind == BK_TRANSPOSE ? "perm" : "sizes";
        const Expr *le = sema_find_kw(e, kw, NULL);
        if (e->nargs == 2 && le) {
            sema_err(S, le->loc, "%s: %s is given twice (as the second argument and as %s=)", b->name, kw, kw);
            return sv_err;
        }
        if (e->nargs == 2)
            le = e->args[1];
        if (!le) {
            sema_err(S, e->loc, "%s needs the %s, as in %s", b->name,
                     b->kind == BK_TRANSPOSE ? "permutation" : "new sizes", b->usage);
            return sv_err;
        }
        int64_t v[IR_MAX_RANK];
        const Expr *items[IR_MAX_RANK];
        int n;
        if (!int_list(S, b, b->kind == BK_TRANSPOSE ? "the permutation" : "the sizes", le, false, v,
                      items, &n) || !ok)
            return sv_err;
        if (!x)
            return sv_err;
        const IrType *t = &x->type;
        ir_attrs_ints(S->a, &at, n);
        if (b->kind == BK_TRANSPOSE) {
            if (n != t->rank) {
                sema_err(S, le->loc, "transpose: the permutation has %d entr%s but %s has %d dim%s", n,
                         n == 1 ? "y" : "ies", sema_tstr(S, t), t->rank, t->rank == 1 ? "" : "s");
                return sv_err;
            }
            bool seen[IR_MAX_RANK] = {false};
            for (int k = 0; k < n; k++) {
                int64_t ax;
                if (!norm_axis(S, b, items[k], v[k], t->rank, t, &ax))
                    return sv_err;
                if (seen[ax]) {
                    sema_err(S, items[k]->loc, "transpose: axis %lld appears twice in the permutation",
                             (long long)v[k]);
                    return sv_err;
                }
                seen[ax] = true;
                at.ints[k] = ax;
            }
        } else {
            int minus = -1;
            int64_t known = 1;
            for (int k = 0; k < n; k++) {
                if (v[k] == -1) {
                    if (minus >= 0) {
                        sema_err(S, items[k]->loc, "reshape: only one size may be -1");
                        return sv_err;
                    }
                    minus = k;
                    continue;
                }
                if (v[k] <= 0) {
                    sema_err(S, items[k]->loc, "reshape: a size must be positive (or -1), got %lld",
                             (long long)v[k]);
                    return sv_err;
                }
                if (__builtin_mul_overflow(known, v[k], &known)) {
                    sema_err(S, items[k]->loc, "reshape: the sizes overflow");
                    return sv_err;
                }
                at.ints[k] = v[k];
            }
            int64_t numel = ir_type_numel(t);
            if (minus >= 0) {
                if (numel % known != 0) {
                    sema_err(S, items[minus]->loc,
                             "reshape: cannot infer -1: %s has %lld elements, not a multiple of %lld",
                             sema_tstr(S, t), (long long)numel, (long long)known);
                    return sv_err;
                }
                at.ints[minus] = numel / known;
            }
        }
        return sv_tensor(sema_emit(S, e->loc, locs, b->op, 1, &x, &at, DT_F32));
    }
    case BK_LOOKUP: {
        IrValue *args[2];
        args[0] = sema_tensor_arg(S, e->args[0]);
        args[1] = sema_tensor_arg(S, e->args[1]);
        if (!args[0] || !args[1] || !ok)
            return sv_err;
        return sv_tensor(sema_emit(S, e->loc, locs, b->op, 2, args, NULL, DT_F32));
    }
    case BK_REDISTRIBUTE: {
        IrValue *x = sema_tensor_arg(S, e->args[0]);
        const Expr *pe = e->args[1];
        if (pe->kind != E_INDEX) {
            sema_err(S, pe->loc, "redistribute: the second argument must be a placement, as in %s",
                     S->mesh_ok ? arena_printf(S->a, "redistribute(x, %s)", sema_example_pl(S)) : b->usage);
            return sv_err;
        }
        Placement pl;
        if (!sema_resolve_pl(S, pe->loc, pe->name, pe->nargs, pe->args, x ? &x->type : NULL, &pl) || !x || !ok)
            return sv_err;
        return sv_tensor(sema_emit_redistribute(S, e->loc, x, pl, NULL, "redistribute()"));
    }
    }
    return sv_err;
}
bool sema_is_op_builtin(const char *name)
{
    for (int k = 0; k < NBUILTINS; k++)
        if (!strcmp(builtins[k].name, name))
            return true;
    return ir_ew_by_surface(name) != NULL;
}

const char *sema_op_builtin_name(int k)
{
    if (k >= 0 && k < NBUILTINS)
        return builtins[k].name;
    for (int j = 0, n = NBUILTINS; j < ir_ew_count(); j++)
        if (ir_ew_row(j)->surface && n++ == k)
            return ir_ew_row(j)->surface;
    return NULL;
}

SVal sema_op_call(Sema *S, const Expr *e) { return builtin_call(S, e, find_builtin(S->a, e->name)); }
