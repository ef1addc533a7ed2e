/* sema_ops.c - calls of the built-in operations.
 *
 * Every built-in has a row in the surface schema (ir/ops.def OP_SURFACE /
 * OP_ARG, or a surface name in ir/ops_ew.def; ir/surface.h).  The row
 * drives the checks every call shares (sema_check_args): arity, keyword
 * names, a parameter given both by position and by keyword, required
 * parameters, true/false and dtype-name arguments, and default filling; the
 * usage text in those messages is the row's.  The family function of the
 * row (IR_SF_*) then gets the checked arguments, evaluates them and emits
 * the op through sema_emit, so shape and dtype rules stay in ir_infer.
 *
 * The families here: the elementwise table, gelu, the sources (arange,
 * iota), the masks (tril, triu, causal_mask), pow, cast, reductions,
 * softmax, the norms, transpose, reshape, embedding, cross_entropy and
 * redistribute; the shape family (concat ... expand) is in sema_shape.c,
 * the routing family in sema_route.c.
 *
 * Adding a built-in: its OP row (and OP_ATTR rows) in ir/ops.def, its
 * OP_SURFACE / OP_ARG rows, and the family functions (infer, rules,
 * kernels and a case in the family's sema function); a new family also
 * gets an IR_SF_ value and an entry in `families` below.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/sema_internal.h"
#include "ir/ew.h"

/* ---- the checks every built-in shares ------------------------------------------- */

static const char *const ordinals[IR_SURF_MAX_ARGS] = {"first", "second", "third", "fourth",
                                                        "fifth", "sixth", "seventh", "eighth"};

/* A default as written in the schema, as an expression at the call. */
static const Expr *default_expr(Sema *S, const Expr *call, const char *text)
{
    Expr *d = arena_alloc(S->a, sizeof *d);
    memset(d, 0, sizeof *d);
    d->loc = call->loc;
    char *end;
    long long i = strtoll(text, &end, 10);
    if (!strcmp(text, "true") || !strcmp(text, "false")) {
        d->kind = E_BOOL;
        d->ival = text[0] == 't';
    } else if (*end == '\0') {
        d->kind = E_INT;
        d->ival = i;
    } else {
        double f = strtod(text, &end);
        if (*end == '\0') {
            d->kind = E_FLOAT;
            d->fval = f;
        } else {
            d->kind = E_NAME;
            d->name = text;
        }
    }
    return d;
}

bool sema_check_args(Sema *S, const Expr *e, const IrSurface *fn, SemaArgs *a)
{
    memset(a, 0, sizeof *a);
    a->call = e;
    a->fn = fn;
    /* keyword names */
    char allowed[256] = "";
    for (int k = 0; k < fn->nparams; k++)
        if (fn->params[k].how & IR_ARG_KW) {
            size_t len = strlen(allowed);
            snprintf(allowed + len, sizeof allowed - len, "%s%s", len ? " " : "", fn->params[k].key);
        }
    a->ok = sema_check_kws(S, e, allowed);
    /* arity */
    bool nouns = fn->nneed > 0;
    for (int k = 0; k < fn->nneed; k++)
        nouns &= fn->params[k].noun != NULL;
    if (e->nargs > fn->npos || e->nargs < fn->nneed) {
        SrcLoc at = e->nargs > fn->npos ? e->args[fn->npos]->loc : e->loc;
        if (e->nargs < fn->nneed && nouns) {
            char what[256] = "";
            for (int k = 0; k < fn->nneed; k++) {
                size_t len = strlen(what);
                snprintf(what + len, sizeof what - len, "%s%s",
                         k == 0 ? "" : k == fn->nneed - 1 ? " and " : ", ",
                         fn->params[k].noun);
            }
            sema_err(S, at, "%s needs %s (usage: %s)", fn->name, what, fn->usage);
        } else if (fn->fixed)
            sema_err(S, at, "%s takes %d argument%s, got %d (usage: %s)", fn->name, fn->npos,
                     fn->npos == 1 ? "" : "s", e->nargs, fn->usage);
        else if (e->nargs > fn->npos)
            sema_err(S, at, "%s takes at most %d positional argument%s, got %d (usage: %s)", fn->name, fn->npos,
                     fn->npos == 1 ? "" : "s", e->nargs, fn->usage);
        else
            sema_err(S, at, "%s needs %d argument%s (usage: %s)", fn->name, fn->nneed,
                     fn->nneed == 1 ? "" : "s", fn->usage);
        return false;
    }
    /* parameters: by position, by keyword, or their default */
    for (int k = 0, pos = 0; k < fn->nparams; k++) {
        const IrSurfRow *p = &fn->params[k];
        a->pos[k] = -1;
        if ((p->how & IR_ARG_POS) && pos < e->nargs) {
            a->arg[k] = e->args[pos];
            a->pos[k] = pos;
        }
        if (p->how & IR_ARG_POS)
            pos++;
        const Expr *kw = (p->how & IR_ARG_KW) ? sema_find_kw(e, p->key, NULL) : NULL;
        if (kw && a->arg[k]) {
            sema_err(S, kw->loc, "%s: %s is given twice (as argument %d and as %s=)", fn->name, p->key,
                     a->pos[k] + 1, p->key);
            return false;
        }
        if (kw)
            a->arg[k] = kw;
        a->given[k] = a->arg[k] != NULL;
        if (!a->arg[k] && p->dflt)
            a->arg[k] = default_expr(S, e, p->dflt);
        if (!a->arg[k] && (p->how & IR_ARG_POS)) {
            DTC_ASSERT(p->noun); /* the positional required ones are counted in nneed */
            sema_err(S, e->loc, "%s needs %s (usage: %s)", fn->name, p->noun, fn->usage);
            return false;
        }
        const Expr *v = a->arg[k];
        if (!v)
            continue;
        if (p->kind == IR_ARG_BOOL) {
            if (v->kind != E_BOOL) {
                sema_err(S, v->loc, "%s: %s must be true or false", fn->name, p->key);
                a->ok = false;
            } else
                a->flag[k] = v->ival != 0;
        } else if (p->kind == IR_ARG_DTYPE) {
            if (v->kind != E_NAME || !ir_dtype_parse(v->name, &a->dtype[k])) {
                if (a->pos[k] >= 0)
                    sema_err(S, v->loc, "%s: the %s argument must be a dtype (f32, f64, i32, f16 or bf16)",
                             fn->name, ordinals[a->pos[k]]);
                else
                    sema_err(S, v->loc, "%s: %s must be a dtype name such as f32 or i32 (usage: %s)", fn->name,
                             p->key, fn->usage);
                a->ok = false;
            }
        }
    }
    return true;
}

/* ---- shared by the families -------------------------------------------------------- */

/* An axis as the user wrote it (negative counts from the end), normalised
 * for rank; rank < 0: the operand failed, only the form is checked. */
static bool norm_axis(Sema *S, const IrSurface *b, const Expr *e, int64_t ax, int rank, const IrType *t,
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
static bool int_list(Sema *S, const IrSurface *b, const char *what, const Expr *e, bool single_ok,
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

/* ---- the families ---------------------------------------------------------------------- */

/* op(x), op(a, b), where(c, a, b): a row of ir/ops_ew.def. */
static SVal ew_call(Sema *S, const SemaArgs *a)
{
    if (!a->ok)
        return sv_err;
    return sema_ew_apply(S, a->call->loc, a->fn->op, a->arg, a->fn->nparams, 0.0, NULL);
}

/* gelu(x, approximate=false): exact or tanh. */
static SVal gelu_call(Sema *S, const SemaArgs *a)
{
    if (!a->ok)
        return sv_err;
    return sema_ew_apply(S, a->call->loc, a->flag[1] ? OP_GELU_TANH : OP_GELU, a->arg, 1, 0.0, NULL);
}

/* arange(N, dtype=i32) -> [0, 1, ..., N-1]; iota(f32[A, B], axis=0): the
 * index along axis.  Each rank computes its own indices: no data moves. */
static SVal source_call(Sema *S, const SemaArgs *a)
{
    const Expr *e = a->call, *a0 = a->arg[0];
    const IrSurface *b = a->fn;
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
        if (!a->ok)
            return sv_err;
        dt = a->dtype[1];
    } else {
        if (!a->ok)
            return sv_err;
        if (a0->kind != E_INDEX || !a0->name || !ir_dtype_parse(a0->name, &dt)) {
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
        const Expr *ae = a->arg[1];
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
    return sv_tensor(emit_iota(S, e->loc, dt, rank, shape, (int)axis));
}

/* causal_mask(T, dtype=f32): 0 where j <= i, a large negative elsewhere;
 * a where() over a comparison of two iotas, so it needs no kernel of its
 * own and shards like any elementwise op. */
static SVal causal_call(Sema *S, const SemaArgs *a)
{
    const Expr *e = a->call;
    SrcLoc loc = e->loc;
    int64_t T;
    if (!sema_eval_int(S, a->arg[0], "causal_mask: the length", &T) || !a->ok)
        return sv_err;
    DType dt = a->dtype[1];
    if (T < 0) {
        sema_err(S, a->arg[0]->loc, "causal_mask: the length must not be negative, got %lld", (long long)T);
        return sv_err;
    }
    if (!ir_dtype_is_float(dt)) {
        sema_err(S, a->arg[1]->loc, "causal_mask: dtype must be a float type, got %s", ir_dtype_name(dt));
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

/* tril(x, k) / triu(x, k): where() over a comparison of two iotas. */
static SVal mask_call(Sema *S, const SemaArgs *a)
{
    const Expr *e = a->call, *ke = a->arg[1];
    const IrSurface *b = a->fn;
    SrcLoc loc = e->loc;
    IrValue *x = sema_tensor_arg(S, a->arg[0]);
    int64_t k = 0;
    if (!sema_eval_int(S, ke, arena_printf(S->a, "%s: k", b->name), &k))
        return sv_err;
    if (!x || !a->ok)
        return sv_err;
    if (x->type.rank < 2) {
        sema_err(S, a->arg[0]->loc, "%s: needs an operand of rank >= 2 (it masks the last two dims), got %s",
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
    IrValue *sel[3] = {keep, x,
                       sema_materialise(S, sv_int(0), x->type.dtype == DT_I32 ? DT_I32 : x->type.dtype, loc)};
    if (!keep || !sel[2])
        return sv_err;
    return sv_tensor(sema_emit(S, loc, NULL, OP_WHERE, 3, sel, NULL, DT_F32));
}

/* Where operand k was written, for carets on ir_infer's messages. */
static void arg_locs(const SemaArgs *a, SrcLoc *locs, int n)
{
    for (int k = 0; k < n; k++)
        locs[k] = a->arg[k] ? a->arg[k]->loc : a->call->loc;
}

/* pow(x, exponent): the exponent is a compile-time number. */
static SVal pow_call(Sema *S, const SemaArgs *a)
{
    IrValue *x = sema_tensor_arg(S, a->arg[0]);
    SVal p = sema_single(S, sema_check_expr(S, a->arg[1]), a->arg[1]);
    if (p.k == SV_TENSOR) {
        sema_err(S, a->arg[1]->loc, "pow: the exponent must be a constant number, not a tensor");
        return sv_err;
    }
    if (!x || p.k == SV_ERR || !a->ok)
        return sv_err;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.f = sema_num_f(p);
    SrcLoc locs[1];
    arg_locs(a, locs, 1);
    return sv_tensor(sema_emit(S, a->call->loc, locs, OP_POW, 1, &x, &at, DT_F32));
}

/* cast(x, dtype). */
static SVal cast_call(Sema *S, const SemaArgs *a)
{
    IrValue *x = sema_tensor_arg(S, a->arg[0]);
    if (!x || !a->ok)
        return sv_err;
    SrcLoc locs[1];
    arg_locs(a, locs, 1);
    return sv_tensor(sema_emit(S, a->call->loc, locs, OP_CAST, 1, &x, NULL, a->dtype[1]));
}

/* sum / mean / max / min (x, axis=every axis, keepdims=false);
 * softmax / log_softmax (x, axis=-1). */
static SVal reduce_call(Sema *S, const SemaArgs *a)
{
    const IrSurface *b = a->fn;
    bool ok = a->ok;
    IrValue *x = sema_tensor_arg(S, a->arg[0]);
    int rank = x ? x->type.rank : -1;
    const IrType *t = x ? &x->type : NULL;
    const Expr *axe = a->arg[1];
    int64_t raw[IR_MAX_RANK];
    const Expr *items[IR_MAX_RANK];
    int n = 0;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    ir_attrs_ints(S->a, &at, IR_MAX_RANK); /* axes <= rank <= IR_MAX_RANK */
    if (b->family == IR_SF_SOFTMAX) {
        at.nints = 1;
        if (axe->kind == E_LIST) {
            sema_err(S, axe->loc, "%s: axis must be a single integer (%s normalises along one axis)", b->name,
                     b->name);
            ok = false;
        } else if (!int_list(S, b, "axis", axe, true, raw, items, &n))
            ok = false;
        if (ok && !norm_axis(S, b, items[0], raw[0], rank, t, &at.ints[0]))
            ok = false;
    } else {
        if (!axe) { /* every axis */
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
        at.keepdims = a->flag[2];
    }
    if (!x || !ok)
        return sv_err;
    SrcLoc locs[1];
    arg_locs(a, locs, 1);
    return sv_tensor(sema_emit(S, a->call->loc, locs, b->op, 1, &x, &at, DT_F32));
}

/* layernorm(x, gamma, beta, eps=1e-5), rmsnorm(x, gamma, eps=1e-6): eps
 * is the last parameter. */
static SVal norm_call(Sema *S, const SemaArgs *a)
{
    const IrSurface *b = a->fn;
    int nt = b->nparams - 1;
    bool ok = a->ok, args_ok = true;
    IrValue *args[3];
    for (int k = 0; k < nt; k++)
        if (!(args[k] = sema_tensor_arg(S, a->arg[k])))
            args_ok = false;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    const Expr *ee = a->arg[nt];
    SVal v = sema_eval_num(S, ee);
    if (v.k == SV_ERR)
        ok = false;
    else if (a->given[nt] && sema_num_f(v) <= 0) {
        sema_err(S, ee->loc, "%s: eps must be positive, got %s", b->name, sema_num_str(S, v));
        ok = false;
    } else if (a->given[nt] && args_ok && ir_dtype_is_float(args[0]->type.dtype)
               && !sema_float_fits(S, ee->loc, sema_num_f(v), sema_num_str(S, v), args[0]->type.dtype)) {
        ok = false;
    } else
        at.f = sema_num_f(v);
    if (!args_ok || !ok)
        return sv_err;
    SrcLoc locs[3];
    arg_locs(a, locs, nt);
    return sv_tensor(sema_emit(S, a->call->loc, locs, b->op, nt, args, &at, DT_F32));
}

/* transpose(x, perm) / reshape(x, sizes): a list of integers. */
static SVal permute_call(Sema *S, const SemaArgs *a)
{
    const IrSurface *b = a->fn;
    bool is_t = b->family == IR_SF_TRANSPOSE;
    IrValue *x = sema_tensor_arg(S, a->arg[0]);
    const Expr *le = a->arg[1];
    int64_t v[IR_MAX_RANK];
    const Expr *items[IR_MAX_RANK];
    int n;
    if (!int_list(S, b, is_t ? "the permutation" : "the sizes", le, false, v, items, &n) || !a->ok)
        return sv_err;
    if (!x)
        return sv_err;
    const IrType *t = &x->type;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    ir_attrs_ints(S->a, &at, n);
    if (is_t) {
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
    SrcLoc locs[1];
    arg_locs(a, locs, 1);
    return sv_tensor(sema_emit(S, a->call->loc, locs, b->op, 1, &x, &at, DT_F32));
}

/* embedding(table, ids), cross_entropy(logits, labels). */
static SVal lookup_call(Sema *S, const SemaArgs *a)
{
    IrValue *args[2];
    args[0] = sema_tensor_arg(S, a->arg[0]);
    args[1] = sema_tensor_arg(S, a->arg[1]);
    if (!args[0] || !args[1] || !a->ok)
        return sv_err;
    SrcLoc locs[2];
    arg_locs(a, locs, 2);
    return sv_tensor(sema_emit(S, a->call->loc, locs, a->fn->op, 2, args, NULL, DT_F32));
}

/* attention(q, k, v, causal=false, scale=1/sqrt(D)): the scale defaults to
 * 1 / sqrt of q's last dim; shape and dtype rules in ir/attention.c. */
static SVal attention_call(Sema *S, const SemaArgs *a)
{
    IrValue *args[3];
    bool ok = a->ok;
    for (int k = 0; k < 3; k++)
        if (!(args[k] = sema_tensor_arg(S, a->arg[k])))
            ok = false;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.keepdims = a->flag[3];
    if (a->arg[4]) {
        SVal v = sema_eval_num(S, a->arg[4]);
        if (v.k == SV_ERR)
            return sv_err;
        at.f = sema_num_f(v);
    } else if (ok && args[0]->type.rank > 0)
        at.f = 1.0 / sqrt((double)args[0]->type.dims[args[0]->type.rank - 1]);
    if (!ok)
        return sv_err;
    SrcLoc locs[3];
    arg_locs(a, locs, 3);
    return sv_tensor(sema_emit(S, a->call->loc, locs, OP_ATTENTION, 3, args, &at, DT_F32));
}

/* redistribute(x, M[...]). */
static SVal redistribute_call(Sema *S, const SemaArgs *a)
{
    IrValue *x = sema_tensor_arg(S, a->arg[0]);
    const Expr *pe = a->arg[1];
    if (pe->kind != E_INDEX || !pe->name) {
        sema_err(S, pe->loc, "redistribute: the second argument must be a placement, as in %s",
                 S->mesh_ok ? arena_printf(S->a, "redistribute(x, %s)", sema_example_pl(S)) : a->fn->usage);
        return sv_err;
    }
    Placement pl;
    if (!sema_resolve_pl(S, pe->loc, pe->name, pe->nargs, pe->args, x ? &x->type : NULL, false, &pl) || !x || !a->ok)
        return sv_err;
    return sv_tensor(sema_emit_redistribute(S, a->call->loc, x, pl, NULL, "redistribute()"));
}

/* ---- dispatch ---------------------------------------------------------------------------- */

typedef SVal (*FamilyFn)(Sema *S, const SemaArgs *a);

static const FamilyFn families[] = {
    [IR_SF_EW] = ew_call,
    [IR_SF_GELU] = gelu_call,
    [IR_SF_SOURCE] = source_call,
    [IR_SF_MASK] = mask_call,
    [IR_SF_CAUSAL] = causal_call,
    [IR_SF_POW] = pow_call,
    [IR_SF_CAST] = cast_call,
    [IR_SF_REDUCE] = reduce_call,
    [IR_SF_SOFTMAX] = reduce_call,
    [IR_SF_NORM] = norm_call,
    [IR_SF_TRANSPOSE] = permute_call,
    [IR_SF_RESHAPE] = permute_call,
    [IR_SF_LOOKUP] = lookup_call,
    [IR_SF_ATTENTION] = attention_call,
    [IR_SF_REDISTRIBUTE] = redistribute_call,
    [IR_SF_SHAPE] = sema_shape_call,
    [IR_SF_ROUTE] = sema_route_call,
};

bool sema_is_op_builtin(const char *name)
{
    IrSurface fn;
    return ir_surface_find(NULL, name, &fn);
}

const char *sema_op_builtin_name(int k) { return ir_surface_name(k); }

SVal sema_op_call(Sema *S, const Expr *e)
{
    IrSurface fn;
    if (!ir_surface_find(S->a, e->name, &fn))
        DTC_BUG("sema_op_call: not a built-in");
    SemaArgs a;
    if (!sema_check_args(S, e, &fn, &a))
        return sv_err;
    DTC_ASSERT((size_t)fn.family < sizeof families / sizeof families[0] && families[fn.family]);
    return families[fn.family](S, &a);
}
