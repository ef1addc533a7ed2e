/* sema_shape.c - checking and lowering of the shape / indexing built-ins:
 * NumPy basic indexing x[i, a:b, ::s], concat, stack, split, pad,
 * broadcast_to and expand (spec section 6; docs/LANGUAGE.md).
 *
 * Every index, bound, size and width is a compile-time integer.  What the IR
 * gets: x[...] is one `slice` with normalised bounds (Python's rules:
 * negative counts from the end, out-of-range bounds clamp) followed by a
 * `reshape` that drops the dims indexed by an integer; stack is a reshape
 * of each operand (a new size-1 dim) and one `concat`; split is one `slice`
 * per piece (several results, bound by `let a, b = split(...)`); expand is
 * broadcast_to with -1 read as "keep this size".
 *
 * Decisions (where NumPy and PyTorch differ): split(x, n) cuts n equal
 * pieces (NumPy; n must divide the size), split(x, [s0, s1, ...]) cuts
 * pieces of those sizes (torch.split; they must add up to the size).  pad's
 * widths are [[lo, hi], ...] one pair per dim, or one pair / one integer
 * for every dim (numpy.pad), and the fill is `value=` (default 0).
 */
#include <string.h>

#include "frontend/sema_internal.h"

/* ---- small pieces ------------------------------------------------------------ */

static IrValue *emit_slice(Sema *S, SrcLoc loc, IrValue *x, const int64_t *triples)
{
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *v = ir_attrs_ints(sema_arena(S), &at, 3 * x->type.rank);
    memcpy(v, triples, sizeof *v * (size_t)(3 * x->type.rank));
    SrcLoc l = loc;
    return sema_emit(S, loc, &l, OP_SLICE, 1, &x, &at, DT_F32);
}

static IrValue *emit_reshape(Sema *S, SrcLoc loc, IrValue *x, int rank, const int64_t *dims)
{
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *v = ir_attrs_ints(sema_arena(S), &at, rank);
    memcpy(v, dims, sizeof *v * (size_t)rank);
    SrcLoc l = loc;
    return sema_emit(S, loc, &l, OP_RESHAPE, 1, &x, &at, DT_F32);
}

/* An axis in -rank..rank-1 (what NumPy accepts), normalised. */
static bool axis_in(Sema *S, const char *fn, const Expr *e, int64_t ax, int rank, const IrType *t,
                    int64_t *out)
{
    if (ax < -rank || ax >= rank) {
        if (rank == 0)
            sema_err(S, e->loc, "%s: axis %lld out of range: %s is a scalar", fn, (long long)ax,
                     sema_tstr(S, t));
        else
            sema_err(S, e->loc, "%s: axis %lld out of range for %s (expected %d..%d)", fn,
                     (long long)ax, sema_tstr(S, t), -rank, rank - 1);
        return false;
    }
    *out = ax < 0 ? ax + rank : ax;
    return true;
}

/* The axis: parameter k of the row (given, or its default 0). */
static bool axis_arg(Sema *S, const SemaArgs *a, int k, const Expr **where, int64_t *raw)
{
    *where = a->arg[k];
    return sema_eval_int(S, *where, arena_printf(sema_arena(S), "%s: axis", a->fn->name), raw);
}

/* A list [t0, t1, ...] of tensors (the first argument of concat / stack). */
static bool tensor_list(Sema *S, const Expr *e, const char *usage, IrValue ***out, int *n)
{
    const Expr *le = e->args[0];
    if (le->kind != E_LIST) {
        sema_err(S, le->loc, "%s: the first argument must be a list of tensors, as in %s", e->name, usage);
        return false;
    }
    if (le->nargs == 0) {
        sema_err(S, le->loc, "%s: needs at least one tensor", e->name);
        return false;
    }
    IrValue **v = arena_alloc(sema_arena(S), sizeof *v * (size_t)le->nargs);
    bool ok = true;
    for (int k = 0; k < le->nargs; k++)
        if (!(v[k] = sema_tensor_arg(S, le->args[k])))
            ok = false;
    *out = v;
    *n = le->nargs;
    return ok;
}

/* ---- x[...] ------------------------------------------------------------------------- */

/* Python's slice normalisation (PySlice_AdjustIndices) of one bound. */
static int64_t clamp_bound(int64_t b, int64_t n, int64_t step)
{
    if (b < 0) {
        b += n;
        if (b < 0)
            b = step < 0 ? -1 : 0;
    } else if (b >= n) {
        b = step < 0 ? n - 1 : n;
    }
    return b;
}

static bool opt_int(Sema *S, const Expr *e, const char *what, bool *given, int64_t *v)
{
    *given = e != NULL;
    return !e || sema_eval_int(S, e, what, v);
}

SVal sema_index(Sema *S, const Expr *e)
{
    Arena *ar = sema_arena(S);
    IrValue *x = sema_tensor_arg(S, e->lhs);
    bool ok = x != NULL;
    const IrType *t = x ? &x->type : NULL;
    int rank = t ? t->rank : 0;
    int64_t tr[3 * IR_MAX_RANK];
    bool drop[IR_MAX_RANK] = {false};
    for (int d = 0; d < rank; d++) {
        tr[3 * d] = 0;
        tr[3 * d + 1] = t->dims[d];
        tr[3 * d + 2] = 1;
    }
    if (x && e->nargs == 0) {
        sema_err(S, e->loc, "'%s' needs at least one index or slice inside [...]", fe_expr_str(ar, e));
        return sv_err;
    }
    if (x && e->nargs > rank) {
        sema_err(S, e->args[rank]->loc, "too many indices for %s: %d given, it has %d dim%s",
                 sema_tstr(S, t), e->nargs, rank, rank == 1 ? "" : "s");
        return sv_err;
    }
    for (int d = 0; d < e->nargs; d++) {
        const Expr *s = e->args[d];
        int64_t n = x ? t->dims[d] : 0;
        if (s->kind != E_SLICE) {
            int64_t i;
            if (!sema_eval_int(S, s, "an index", &i)) {
                ok = false;
                continue;
            }
            if (!x)
                continue;
            if (i < -n || i >= n) {
                sema_err(S, s->loc, "index %lld is out of range for dim %d of %s (size %lld)",
                         (long long)i, d, sema_tstr(S, t), (long long)n);
                ok = false;
                continue;
            }
            if (i < 0)
                i += n;
            tr[3 * d] = i;
            tr[3 * d + 1] = i + 1;
            drop[d] = true;
            continue;
        }
        bool hs, he, hp;
        int64_t start = 0, stop = 0, step = 1;
        if (!opt_int(S, s->lhs, "a slice start", &hs, &start) || !opt_int(S, s->rhs, "a slice stop", &he, &stop) ||
            !opt_int(S, s->step, "a slice step", &hp, &step)) {
            ok = false;
            continue;
        }
        if (step == 0) {
            sema_err(S, s->step->loc, "slice step cannot be zero");
            ok = false;
            continue;
        }
        if (!x)
            continue;
        start = hs ? clamp_bound(start, n, step) : step < 0 ? n - 1 : 0;
        stop = he ? clamp_bound(stop, n, step) : step < 0 ? -1 : n;
        if (step > 0 && stop < start)
            stop = start;
        if (step < 0 && stop > start)
            stop = start;
        tr[3 * d] = start;
        tr[3 * d + 1] = stop;
        tr[3 * d + 2] = step;
    }
    if (!ok)
        return sv_err;
    bool identity = true;
    for (int d = 0; d < rank; d++)
        if (tr[3 * d] != 0 || tr[3 * d + 1] != t->dims[d] || tr[3 * d + 2] != 1)
            identity = false;
    IrValue *v = identity ? x : emit_slice(S, e->loc, x, tr);
    if (!v)
        return sv_err;
    int64_t dims[IR_MAX_RANK];
    int nr = 0;
    bool any_drop = false;
    for (int d = 0; d < rank; d++) {
        if (drop[d])
            any_drop = true;
        else
            dims[nr++] = v->type.dims[d];
    }
    if (any_drop)
        v = emit_reshape(S, e->loc, v, nr, dims);
    return sv_tensor(v);
}

/* ---- concat, stack ---------------------------------------------------------------- */

/* Checks concat's operands against the first, with the caret on the one
 * that differs; axis is normalised. */
static bool concat_fits(Sema *S, const Expr *e, IrValue **v, int n, int ax)
{
    const Expr *le = e->args[0];
    const IrType *t0 = &v[0]->type;
    for (int k = 1; k < n; k++) {
        const IrType *t = &v[k]->type;
        const char *why = NULL;
        if (t->dtype != t0->dtype)
            why = "its dtype differs (use cast)";
        else if (t->rank != t0->rank)
            why = "its rank differs";
        else
            for (int d = 0; d < t->rank && !why; d++)
                if (d != ax && t->dims[d] != t0->dims[d])
                    why = arena_printf(sema_arena(S), "dim %d differs (only the %s axis %d may differ)", d,
                                       e->name, ax);
        if (why) {
            sema_err(S, le->args[k]->loc, "%s: %s does not fit %s: %s", e->name, sema_tstr(S, t),
                     sema_tstr(S, t0), why);
            return false;
        }
    }
    return true;
}

static SVal concat_call(Sema *S, const SemaArgs *a, bool stack)
{
    const Expr *e = a->call;
    const char *usage = a->fn->usage;
    bool ok = a->ok;
    IrValue **v;
    int n;
    const Expr *axe;
    int64_t raw;
    if (!tensor_list(S, e, usage, &v, &n) || !ok) /* no axis check after a bad list: a cascade */
        return sv_err;
    if (!axis_arg(S, a, 1, &axe, &raw))
        return sv_err;
    const IrType *t0 = &v[0]->type;
    const Expr *le = e->args[0];
    if (!stack && t0->rank == 0) {
        sema_err(S, le->args[0]->loc, "concat: %s is a scalar; scalars cannot be concatenated (use stack)",
                 sema_tstr(S, t0));
        return sv_err;
    }
    if (stack && t0->rank >= IR_MAX_RANK) {
        sema_err(S, e->loc, "stack: the result would have more than %d dims", IR_MAX_RANK);
        return sv_err;
    }
    int64_t ax;
    int r = stack ? t0->rank + 1 : t0->rank;
    if (stack && (raw < -r || raw >= r)) {
        sema_err(S, axe->loc, "stack: axis %lld out of range for stacking %s (expected %d..%d)",
                 (long long)raw, sema_tstr(S, t0), -r, r - 1);
        return sv_err;
    }
    if (stack)
        ax = raw < 0 ? raw + r : raw;
    else if (!axis_in(S, e->name, axe, raw, r, t0, &ax))
        return sv_err;
    if (stack) { /* every operand the same shape, then a size-1 dim at ax */
        for (int k = 1; k < n; k++)
            if (!ir_type_eq(&v[k]->type, t0)) {
                sema_err(S, le->args[k]->loc, "stack: %s does not match %s (stacked tensors must have "
                         "one shape and dtype)", sema_tstr(S, &v[k]->type), sema_tstr(S, t0));
                return sv_err;
            }
        int64_t dims[IR_MAX_RANK];
        for (int d = 0, j = 0; d < r; d++)
            dims[d] = d == ax ? 1 : t0->dims[j++];
        for (int k = 0; k < n; k++)
            if (!(v[k] = emit_reshape(S, le->args[k]->loc, v[k], r, dims)))
                return sv_err;
        if (n == 1)
            return sv_tensor(v[0]);
    } else if (!concat_fits(S, e, v, n, (int)ax)) {
        return sv_err;
    } else if (n == 1) {
        return sv_tensor(v[0]);
    }
    IrAttrs at;
    memset(&at, 0, sizeof at);
    ir_attrs_ints(sema_arena(S), &at, 1)[0] = ax;
    return sv_tensor(sema_emit(S, e->loc, NULL, OP_CONCAT, n, v, &at, DT_F32));
}

/* ---- split -------------------------------------------------------------------------- */

static SVal split_call(Sema *S, const SemaArgs *a)
{
    const Expr *e = a->call;
    Arena *ar = sema_arena(S);
    bool ok = a->ok;
    IrValue *x = sema_tensor_arg(S, e->args[0]);
    const Expr *axe, *ne = e->args[1];
    int64_t raw, ax = 0;
    if (!axis_arg(S, a, 2, &axe, &raw))
        ok = false;
    int64_t *sizes = NULL;
    int n = 0;
    if (ne->kind == E_LIST) {
        n = ne->nargs;
        sizes = arena_alloc(ar, sizeof *sizes * (size_t)(n > 0 ? n : 1));
        for (int k = 0; k < n; k++) {
            if (!sema_eval_int(S, ne->args[k], "split: a size", &sizes[k]))
                ok = false;
            else if (sizes[k] < 0) {
                sema_err(S, ne->args[k]->loc, "split: a size must be >= 0, got %lld", (long long)sizes[k]);
                ok = false;
            }
        }
        if (n == 0) {
            sema_err(S, ne->loc, "split: needs at least one size");
            ok = false;
        }
    } else {
        int64_t pieces;
        if (!sema_eval_int(S, ne, "split: the number of pieces", &pieces))
            ok = false;
        else if (pieces < 1) {
            sema_err(S, ne->loc, "split: the number of pieces must be >= 1, got %lld", (long long)pieces);
            ok = false;
        } else if (pieces > 4096) {
            sema_err(S, ne->loc, "split: %lld pieces is too many (at most 4096)", (long long)pieces);
            ok = false;
        } else
            n = (int)pieces;
    }
    if (!x || !ok)
        return sv_err;
    const IrType *t = &x->type;
    if (!axis_in(S, "split", axe, raw, t->rank, t, &ax))
        return sv_err;
    int64_t len = t->dims[ax];
    if (!sizes) {
        if (len % n != 0) {
            sema_err(S, ne->loc, "split: %lld pieces do not divide dim %lld of %s (size %lld) equally; "
                     "give the sizes as a list, as in split(x, [3, 5])", (long long)n, (long long)ax,
                     sema_tstr(S, t), (long long)len);
            return sv_err;
        }
        sizes = arena_alloc(ar, sizeof *sizes * (size_t)n);
        for (int k = 0; k < n; k++)
            sizes[k] = len / n;
    } else {
        int64_t total = 0;
        for (int k = 0; k < n; k++)
            total += sizes[k];
        if (total != len) {
            sema_err(S, ne->loc, "split: the sizes add up to %lld but dim %lld of %s has size %lld",
                     (long long)total, (long long)ax, sema_tstr(S, t), (long long)len);
            return sv_err;
        }
    }
    IrValue **vs = arena_alloc(ar, sizeof *vs * (size_t)n);
    int64_t tr[3 * IR_MAX_RANK], at = 0;
    for (int d = 0; d < t->rank; d++) {
        tr[3 * d] = 0;
        tr[3 * d + 1] = t->dims[d];
        tr[3 * d + 2] = 1;
    }
    for (int k = 0; k < n; k++) {
        tr[3 * ax] = at;
        tr[3 * ax + 1] = at + sizes[k];
        at += sizes[k];
        vs[k] = n == 1 ? x : emit_slice(S, e->loc, x, tr);
        if (!vs[k])
            return sv_err;
    }
    SVal r = sv_err;
    r.k = SV_MULTI;
    r.n = n;
    r.vs = vs;
    r.callee = "split";
    return r;
}

/* ---- pad ------------------------------------------------------------------------------ */

static SVal pad_call(Sema *S, const SemaArgs *a)
{
    const Expr *e = a->call;
    const char *usage = a->fn->usage;
    bool ok = a->ok;
    IrValue *x = sema_tensor_arg(S, e->args[0]);
    const Expr *we = e->args[1];
    double value = 0;
    const Expr *ve = a->arg[2];
    SVal vv = sema_eval_num(S, ve);
    if (vv.k == SV_ERR)
        ok = false;
    else
        value = vv.k == SV_INT ? (double)vv.i : vv.f;
    if (!x || !ok)
        return sv_err;
    const IrType *t = &x->type;
    if (a->given[2] && t->dtype == DT_I32 && vv.k == SV_FLOAT) {
        sema_err(S, ve->loc, "pad: the fill value %g does not fit %s (an integer is needed)", value,
                 sema_tstr(S, t));
        return sv_err;
    }
    int64_t w[2 * IR_MAX_RANK];
    const Expr *wl[2 * IR_MAX_RANK];
    /* forms: n; [lo, hi]; [[lo, hi], ...] one per dim */
    bool nested = we->kind == E_LIST && (we->nargs == 0 || we->args[0]->kind == E_LIST);
    if (!nested) {
        int64_t lo, hi;
        const Expr *l0 = we, *l1 = we;
        if (we->kind == E_LIST) {
            if (we->nargs != 2) {
                sema_err(S, we->loc, "pad: the widths are [lo, hi] or one [lo, hi] per dim, as in %s", usage);
                return sv_err;
            }
            l0 = we->args[0];
            l1 = we->args[1];
        }
        if (!sema_eval_int(S, l0, "pad: a width", &lo) || !sema_eval_int(S, l1, "pad: a width", &hi))
            return sv_err;
        for (int d = 0; d < t->rank; d++) {
            w[2 * d] = lo, wl[2 * d] = l0;
            w[2 * d + 1] = hi, wl[2 * d + 1] = l1;
        }
    } else {
        if (we->nargs != t->rank) {
            sema_err(S, we->loc, "pad: %d pair%s of widths for %s, which has %d dim%s", we->nargs,
                     we->nargs == 1 ? "" : "s", sema_tstr(S, t), t->rank, t->rank == 1 ? "" : "s");
            return sv_err;
        }
        for (int d = 0; d < t->rank; d++) {
            const Expr *p = we->args[d];
            if (p->kind != E_LIST || p->nargs != 2) {
                sema_err(S, p->loc, "pad: each entry is a pair [lo, hi], as in %s", usage);
                return sv_err;
            }
            for (int j = 0; j < 2; j++) {
                wl[2 * d + j] = p->args[j];
                if (!sema_eval_int(S, p->args[j], "pad: a width", &w[2 * d + j]))
                    ok = false;
            }
        }
        if (!ok)
            return sv_err;
    }
    for (int k = 0; k < 2 * t->rank; k++)
        if (w[k] < 0) {
            sema_err(S, wl[k]->loc, "pad: a width must be >= 0, got %lld (use slicing to cut)",
                     (long long)w[k]);
            return sv_err;
        }
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *v = ir_attrs_ints(sema_arena(S), &at, 2 * t->rank);
    memcpy(v, w, sizeof *v * (size_t)(2 * t->rank));
    at.f = value;
    SrcLoc l = e->args[0]->loc;
    return sv_tensor(sema_emit(S, e->loc, &l, OP_PAD, 1, &x, &at, DT_F32));
}

/* ---- broadcast_to, expand ------------------------------------------------------------ */

static SVal broadcast_call(Sema *S, const SemaArgs *a, bool expand)
{
    const Expr *e = a->call;
    const char *usage = a->fn->usage;
    bool ok = a->ok;
    IrValue *x = sema_tensor_arg(S, e->args[0]);
    const Expr *le = e->args[1];
    if (le->kind != E_LIST) {
        sema_err(S, le->loc, "%s: the sizes must be a list of integers, as in %s", e->name, usage);
        return sv_err;
    }
    int n = le->nargs;
    if (n > IR_MAX_RANK) {
        sema_err(S, le->loc, "%s: %d sizes; a tensor has at most %d dims", e->name, n, IR_MAX_RANK);
        return sv_err;
    }
    int64_t sz[IR_MAX_RANK];
    for (int k = 0; k < n; k++)
        if (!sema_eval_int(S, le->args[k], arena_printf(sema_arena(S), "%s: a size", e->name), &sz[k]))
            ok = false;
    if (!x || !ok)
        return sv_err;
    const IrType *t = &x->type;
    if (n < t->rank) {
        sema_err(S, le->loc, "%s: %d size%s for %s, which has %d dims (sizes are aligned from the right; "
                 "there may be more, not fewer)", e->name, n, n == 1 ? "" : "s", sema_tstr(S, t), t->rank);
        return sv_err;
    }
    for (int k = 0; k < n; k++) {
        int xd = k - (n - t->rank);
        if (expand && sz[k] == -1) {
            if (xd < 0) {
                sema_err(S, le->args[k]->loc, "expand: -1 keeps a size, but dim %d is new (give its size)", k);
                return sv_err;
            }
            sz[k] = t->dims[xd];
        }
        if (sz[k] < 0) {
            sema_err(S, le->args[k]->loc, "%s: a size must be >= 0%s, got %lld", e->name,
                     expand ? " (or -1: keep)" : "", (long long)sz[k]);
            return sv_err;
        }
        if (xd >= 0 && t->dims[xd] != sz[k] && t->dims[xd] != 1) {
            sema_err(S, le->args[k]->loc, "%s: cannot broadcast dim %d of %s (size %lld) to %lld; "
                     "only a size-1 dim stretches", e->name, xd, sema_tstr(S, t), (long long)t->dims[xd],
                     (long long)sz[k]);
            return sv_err;
        }
    }
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *v = ir_attrs_ints(sema_arena(S), &at, n);
    memcpy(v, sz, sizeof *v * (size_t)n);
    SrcLoc l = e->args[0]->loc;
    return sv_tensor(sema_emit(S, e->loc, &l, OP_BROADCAST_TO, 1, &x, &at, DT_F32));
}

SVal sema_shape_call(Sema *S, const SemaArgs *a)
{
    const char *n = a->fn->name;
    if (!strcmp(n, "concat") || !strcmp(n, "stack"))
        return concat_call(S, a, n[0] == 's');
    if (!strcmp(n, "split"))
        return split_call(S, a);
    if (!strcmp(n, "pad"))
        return pad_call(S, a);
    return broadcast_call(S, a, !strcmp(n, "expand"));
}
