/* sema_local.c - per-shard functions: `local fn` and its explicit collectives
 * (docs/LANGUAGE.md section 10).
 *
 * A local fn's parameters and results all declare placements on the mesh;
 * its body is checked on the *local* types (each split dim divided by the
 * number of ranks splitting it, which must divide it: an uneven split is an
 * error at the placement).  Inside the body, and only there, the explicit
 * collectives over named mesh axes may be called:
 *   all_reduce(x, axis=A, op=sum)      all_gather(x, axis=A, dim=d)
 *   reduce_scatter(x, axis=A, dim=d, op=sum)
 *   all_to_all(x, axis=A, split=d1, concat=d2)
 *   ppermute(x, axis=A, shift=k)       axis_index(A)
 * where A is an axis name or a list of them ([dp, tp]: one group over both,
 * row-major).  The body may not place values (`let x @ ...`,
 * redistribute): it is per-rank code.  A `for` in it is unrolled here, the
 * body checked once per trip with the counter a compile-time integer and the
 * carried names rebound to each trip's values, so what follows (the
 * variance analysis, ir/local.c, partition, every backend) sees straight-line
 * code; the cost is code that grows with the trip count (at most
 * LOCAL_UNROLL_MAX trips).  It may call plain functions that
 * (with all they call) declare no placement and have no loop or gradient;
 * pass_inline inlines them into the body.  A call from global
 * code becomes pinned redistributes of the operands to the declared
 * placements and one OP_LOCAL_CALL whose results are pinned to the declared
 * result placements (ir/local.c lowers it).
 *
 * "Mismatched collectives" (the language has no branches, so every rank
 * issues the same sequence; what can go wrong is what the sequence means):
 *   - a collective whose pieces would differ in size between ranks
 *     (reduce_scatter / all_to_all of a dim the group does not divide);
 *   - an unknown or repeated axis;
 *   - a result whose declared placement contradicts what the body computes,
 *     by a per-axis "varies across ranks" analysis: R over an axis along
 *     which the value may differ (not reduced or gathered there), and P(sum)
 *     or S(d) over an axis along which it is the same everywhere (the
 *     global value would count or repeat it).
 */
#include "frontend/sema_internal.h"

#include <string.h>

static const char *const explicit_names[] = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all",
                                             "ppermute", "axis_index", NULL};

bool sema_local_is_collective(const char *name)
{
    for (int k = 0; explicit_names[k]; k++)
        if (!strcmp(explicit_names[k], name))
            return true;
    return false;
}

static const char *axes_list(Sema *S)
{
    const IrMesh *m = &S->m->mesh;
    const char *s = "";
    for (int a = 0; a < m->naxes; a++)
        s = arena_printf(sema_arena(S), "%s%s%s", s, a ? ", " : "", m->axis_name[a]);
    return s;
}

/* The mesh axes named by e (a name or a list of names) as a bit set; 0 after reporting. */
static unsigned resolve_axes(Sema *S, const Expr *call, const Expr *e)
{
    const IrMesh *m = &S->m->mesh;
    int n = e->kind == E_LIST ? e->nargs : 1;
    if (n == 0) {
        sema_err(S, e->loc, "%s: the axis list is empty", call->name);
        return 0;
    }
    unsigned axes = 0;
    for (int k = 0; k < n; k++) {
        const Expr *x = e->kind == E_LIST ? e->args[k] : e;
        if (x->kind != E_NAME) {
            sema_err(S, x->loc, "%s: axis must name a mesh axis (%s), as in axis=%s", call->name, axes_list(S),
                     m->naxes ? m->axis_name[m->naxes - 1] : "tp");
            return 0;
        }
        int a = 0;
        while (a < m->naxes && strcmp(m->axis_name[a], x->name))
            a++;
        if (a == m->naxes) {
            sema_err(S, x->loc, "%s: unknown mesh axis '%s' (the mesh %s has axes %s)", call->name, x->name,
                     m->name, axes_list(S));
            return 0;
        }
        if (axes >> a & 1) {
            sema_err(S, x->loc, "%s: axis '%s' is named twice", call->name, x->name);
            return 0;
        }
        axes |= 1u << a;
    }
    return axes;
}

/* An integer keyword argument `kw` (absent: an error when required); dims are
 * normalised against rank (rank < 0: not a dim). */
static bool int_kw(Sema *S, const Expr *e, const char *kw, bool required, int rank, int64_t *out)
{
    SrcLoc at;
    const Expr *v = sema_find_kw(e, kw, &at);
    if (!v) {
        if (required)
            sema_err(S, e->loc, "%s needs %s=...", e->name, kw);
        return !required;
    }
    if (!sema_eval_int(S, v, kw, out))
        return false;
    if (rank >= 0) {
        if (*out < -rank || *out >= rank) {
            sema_err(S, v->loc, "%s: %s %lld is out of range for a tensor of rank %d", e->name, kw,
                     (long long)*out, rank);
            return false;
        }
        if (*out < 0)
            *out += rank;
    }
    return true;
}

static bool red_kw(Sema *S, const Expr *e, RedOp *out)
{
    SrcLoc at;
    const Expr *v = sema_find_kw(e, "op", &at);
    *out = RED_SUM;
    if (!v)
        return true;
    static const char *const names[] = {"sum", "max", "min", "avg"};
    for (int k = 0; k < 4; k++)
        if (v->kind == E_NAME && !strcmp(v->name, names[k])) {
            *out = (RedOp)k;
            return true;
        }
    sema_err(S, v->loc, "%s: op must be sum, max, min or avg", e->name);
    return false;
}

SVal sema_local_call(Sema *S, const Expr *e)
{
    if (!S->cur || !S->cur->local) {
        sema_err(S, e->loc, "%s is an explicit collective: it may only be called in the body of a `local fn`, "
                 "whose values are per-rank shards (elsewhere the compiler plans the collectives)", e->name);
        return sv_err;
    }
    IrOp op = OP_ALL_REDUCE;
    const char *kws = "axis op";
    if (!strcmp(e->name, "all_gather"))
        op = OP_ALL_GATHER, kws = "axis dim";
    else if (!strcmp(e->name, "reduce_scatter"))
        op = OP_REDUCE_SCATTER, kws = "axis dim op";
    else if (!strcmp(e->name, "all_to_all"))
        op = OP_ALL_TO_ALL, kws = "axis split concat";
    else if (!strcmp(e->name, "ppermute"))
        op = OP_PPERMUTE, kws = "axis shift";
    else if (!strcmp(e->name, "axis_index"))
        op = OP_AXIS_INDEX, kws = "axis";
    bool ok = sema_check_kws(S, e, kws);
    int npos = op == OP_AXIS_INDEX ? 0 : 1;
    SrcLoc at;
    const Expr *axis_e = sema_find_kw(e, "axis", &at);
    if (op == OP_AXIS_INDEX && !axis_e && e->nargs == 1)
        axis_e = e->args[0], npos = 1; /* axis_index(tp) */
    if (e->nargs != npos) {
        sema_err(S, e->nargs > npos ? e->args[npos]->loc : e->loc, "%s takes %s", e->name,
                 op == OP_AXIS_INDEX ? "one mesh axis, as in axis_index(tp)"
                                     : "one tensor and keyword arguments");
        return sv_err;
    }
    if (!axis_e) {
        sema_err(S, e->loc, "%s needs axis=..., a mesh axis (%s) or a list of them", e->name, axes_list(S));
        return sv_err;
    }
    IrValue *x = NULL;
    if (op != OP_AXIS_INDEX && !(x = sema_tensor_arg(S, e->args[0])))
        return sv_err;
    unsigned axes = resolve_axes(S, e, axis_e);
    if (!ok || !axes)
        return sv_err;
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.axes = axes;
    int rank = x ? x->type.rank : 0;
    int64_t d1 = 0, d2 = 0;
    switch (op) {
    case OP_ALL_REDUCE:
        ok = red_kw(S, e, &a.red);
        break;
    case OP_REDUCE_SCATTER:
        ok = red_kw(S, e, &a.red) && int_kw(S, e, "dim", true, rank, &d1);
        a.dim = (int)d1;
        break;
    case OP_ALL_GATHER:
        ok = int_kw(S, e, "dim", true, rank, &d1);
        a.dim = (int)d1;
        break;
    case OP_ALL_TO_ALL:
        ok = int_kw(S, e, "split", true, rank, &d1) && int_kw(S, e, "concat", true, rank, &d2);
        if (ok && d1 == d2) {
            sema_err(S, e->loc, "all_to_all: split and concat must be different dims (both are %lld)",
                     (long long)d1);
            ok = false;
        }
        a.dim = (int)d2; /* the operand's split dim in ops.def terms: concatenated */
        a.dim2 = (int)d1;
        break;
    case OP_PPERMUTE:
        ok = int_kw(S, e, "shift", true, -1, &d1);
        ir_attrs_ints(sema_arena(S), &a, 1)[0] = d1;
        break;
    default:
        break;
    }
    if (!ok)
        return sv_err;
    if (rank == 0 && (op == OP_ALL_GATHER || op == OP_REDUCE_SCATTER || op == OP_ALL_TO_ALL)) {
        sema_err(S, e->loc, "%s needs a tensor with at least one dim", e->name);
        return sv_err;
    }
    IrType out;
    const char *msg = ir_local_infer(sema_arena(S), &S->m->mesh, op, &a, x ? &x->type : NULL, &out);
    if (msg) {
        sema_err(S, e->loc, "%s", msg);
        return sv_err;
    }
    IrInst *i = ir_inst_new(S->m, sema_target_fn(S), NULL, op, x ? 1 : 0, &x, 1, &out);
    i->a = a;
    i->loc = e->loc;
    return sv_tensor(i->res[0]);
}

bool sema_local_type(Sema *S, SrcLoc at, const IrType *t, const Placement *pl, const char *what, IrType *out)
{
    int ways;
    int d = ir_local_split_dim(&S->m->mesh, t, pl, &ways);
    if (d >= 0) {
        sema_err(S, at, "%s (%s) splits dim %d of size %lld over %d ranks unevenly: a local fn sees equal "
                 "local shapes on every rank, so the size must be a multiple of %d", what, sema_tstr(S, t), d,
                 (long long)t->dims[d], ways, ways);
        return false;
    }
    *out = ir_local_type(&S->m->mesh, t, pl);
    return true;
}

SVal sema_local_user_call(Sema *S, const Expr *e, FnInfo *f, IrValue **args)
{
    Decl *fd = f->decl;
    IrFunc *b = f->ir;
    for (int k = 0; k < fd->nparams; k++)
        args[k] = sema_emit_redistribute(S, e->args[k]->loc, args[k], b->params[k]->pl, NULL,
                                         arena_printf(sema_arena(S), "parameter '%s' of local fn '%s'",
                                                      fd->params[k]->name, fd->name));
    IrInst *i = ir_inst_new(S->m, sema_target_fn(S), NULL, OP_LOCAL_CALL, fd->nparams, args, fd->nresults,
                            f->rtypes);
    i->loc = e->loc;
    i->a.callee = b->name;
    i->a.fn = b;
    for (int k = 0; k < fd->nresults; k++) {
        i->res[k]->pl = f->rpl[k];
        i->res[k]->pinned = true;
    }
    if (fd->nresults == 1)
        return sv_tensor(i->res[0]);
    SVal v = sv_tensor(i->res[0]);
    v.k = SV_MULTI;
    v.n = fd->nresults;
    v.vs = i->res;
    v.callee = fd->name;
    return v;
}

/* The axes (of more than one rank) along which v may differ between ranks. */
static unsigned varying_of(const IrMesh *m, const unsigned *vary, const IrInst *i)
{
    unsigned big = 0;
    for (int a = 0; a < m->naxes; a++)
        if (m->size[a] > 1)
            big |= 1u << a;
    unsigned x = 0;
    for (int k = 0; k < i->nargs; k++)
        x |= vary[i->args[k]->id];
    switch (i->op) {
    case OP_AXIS_INDEX:
        return i->a.axes & big;
    case OP_ALL_REDUCE:
    case OP_ALL_GATHER:
        return x & ~i->a.axes;
    case OP_REDUCE_SCATTER:
    case OP_ALL_TO_ALL:
        return (x | i->a.axes) & big;
    default: /* ppermute moves values around a group: the same everywhere stays so */
        return x;
    }
}

void sema_local_check_results(Sema *S, FnInfo *f)
{
    const IrMesh *m = &S->m->mesh;
    IrFunc *b = f->ir;
    Decl *fd = f->decl;
    if (!b->results || b->nresults != fd->nresults || !f->ret_locs)
        return;
    unsigned *vary = arena_alloc(sema_arena(S), sizeof *vary * (size_t)(b->next_id + 1));
    for (int k = 0; k < b->nparams; k++) {
        const IrValue *p = b->params[k];
        for (int a = 0; a < m->naxes && a < p->pl.naxes; a++)
            if (p->pl.e[a].kind != PL_R && m->size[a] > 1)
                vary[p->id] |= 1u << a;
    }
    for (const IrInst *i = b->first; i; i = i->next)
        for (int r = 0; r < i->nres; r++) /* a call of a plain function: every result */
            vary[i->res[r]->id] = varying_of(m, vary, i);
    for (int k = 0; k < fd->nresults; k++) {
        const IrValue *v = b->results[k];
        if (!v || !f->rpl_has[k])
            continue;
        const Placement *pl = &f->rpl[k];
        for (int a = 0; a < m->naxes; a++) {
            if (m->size[a] == 1)
                continue;
            bool varies = vary[v->id] >> a & 1;
            const PlEntry *e = &pl->e[a];
            const char *ax = m->axis_name[a];
            if (e->kind == PL_R && varies)
                sema_err(S, f->ret_locs[k], "result %d of local fn '%s' is declared R over axis '%s', but "
                         "the value may differ between the '%s' ranks (all_reduce or all_gather it over '%s' "
                         "first, or declare it split or partial)", k + 1, fd->name, ax, ax, ax);
            else if (e->kind == PL_P && e->red == RED_SUM && !varies)
                sema_err(S, f->ret_locs[k], "result %d of local fn '%s' is declared P(sum) over axis '%s', "
                         "but the value is the same on every '%s' rank: the global value would count it %d "
                         "times (declare it R)", k + 1, fd->name, ax, ax, m->size[a]);
            else if (e->kind == PL_S && !varies)
                sema_err(S, f->ret_locs[k], "result %d of local fn '%s' is declared S(%d) over axis '%s', "
                         "but the value is the same on every '%s' rank: the global value would repeat it %d "
                         "times (declare it R)", k + 1, fd->name, e->dim, ax, ax, m->size[a]);
            else
                continue;
            if (fd->results[k]->pl)
                sema_note(S, fd->results[k]->pl->loc, "the result's placement is declared here");
            break;
        }
    }
}

void sema_local_mark_global(Sema *S, SrcLoc loc, const char *what)
{
    FnInfo *f = S->cur;
    if (f && !f->local && !f->global_why) {
        f->global_why = what;
        f->global_loc = loc;
    }
}

void sema_local_note_grad(Sema *S, int fi, SrcLoc loc)
{
    FnInfo *f = S->cur;
    if (f->ngrads == f->capgrads) {
        f->capgrads = f->capgrads ? 2 * f->capgrads : 2;
        Edge *n = arena_alloc(sema_arena(S), sizeof *n * (size_t)f->capgrads);
        if (f->ngrads)
            memcpy(n, f->grads, sizeof *n * (size_t)f->ngrads);
        f->grads = n;
    }
    f->grads[f->ngrads++] = (Edge){fi, loc};
}

/* Depth-first over the functions `start` reaches by calls, itself included
 * (an explicit stack: call chains may be long): the first that is local or
 * (global_too) global code, or -1. */
static int first_reached(Sema *S, int start, bool global_too, int *state, int *stack)
{
    memset(state, 0, sizeof *state * (size_t)(S->nfns + 1));
    int n = 0;
    stack[n++] = start;
    state[start] = 1;
    while (n > 0) {
        FnInfo *g = &S->fns[stack[--n]];
        if (g->local || (global_too && g->global_why))
            return (int)(g - S->fns);
        for (int e = 0; e < g->ncalls; e++)
            if (!state[g->calls[e].callee]) {
                state[g->calls[e].callee] = 1;
                stack[n++] = g->calls[e].callee;
            }
    }
    return -1;
}

void sema_local_check_calls(Sema *S)
{
    int *state = arena_alloc(sema_arena(S), sizeof *state * (size_t)(S->nfns + 1));
    int *stack = arena_alloc(sema_arena(S), sizeof *stack * (size_t)(S->nfns + 1));
    for (int k = 0; k < S->nfns; k++) {
        FnInfo *f = &S->fns[k];
        for (int c = 0; c < f->ngrads; c++) {
            int g = f->grads[c].callee; /* value_and_grad of a local fn itself: reported at the call */
            int bad = S->fns[g].local ? -1 : first_reached(S, g, false, state, stack);
            if (bad >= 0)
                sema_err(S, f->grads[c].loc, "value_and_grad of '%s', which calls local fn '%s': not supported "
                         "(v0)", S->fns[g].decl->name, S->fns[bad].decl->name);
        }
        if (!f->local)
            continue;
        for (int c = 0; c < f->ncalls; c++) {
            if (S->fns[f->calls[c].callee].local)
                continue; /* reported at the call */
            int bad = first_reached(S, f->calls[c].callee, true, state, stack);
            if (bad < 0)
                continue;
            FnInfo *g = &S->fns[bad];
            const char *callee = S->fns[f->calls[c].callee].decl->name;
            const char *which = bad == f->calls[c].callee
                                    ? "which is"
                                    : arena_printf(sema_arena(S), "which calls '%s',", g->decl->name);
            if (g->local) {
                sema_err(S, f->calls[c].loc, "local fn '%s' calls '%s', %s a local fn: call local fns from "
                         "global code", f->decl->name, callee, which);
                continue;
            }
            sema_err(S, f->calls[c].loc, "local fn '%s' calls '%s', %s global code (%s): a local fn may call "
                     "only functions without placements, loops or gradients", f->decl->name, callee, which,
                     g->global_why);
            sema_note(S, g->global_loc, "%s is here", g->global_why);
        }
    }
}

/* ---- `for` in a local fn body: unrolled ------------------------------------------------ */

/* More trips than this is an error: the body is copied once per trip. */
enum { LOCAL_UNROLL_MAX = 1024 };

bool sema_local_carried(const Sema *S, const char *name)
{
    const UnrollCtx *u = S->unroll;
    if (!u)
        return false;
    for (int k = 0; k < u->st->ncarry; k++)
        if (!strcmp(u->st->carry[k]->name, name))
            return true;
    return false;
}

void sema_local_assign(Sema *S, const Stmt *st)
{
    const char *name = st->names[0];
    SVal v = sema_single(S, sema_check_expr(S, st->value), st->value);
    UnrollCtx *u = S->unroll;
    int k = 0;
    while (k < u->st->ncarry && strcmp(u->st->carry[k]->name, name))
        k++;
    if (k == u->st->ncarry) {
        bool outer = false;
        for (const UnrollCtx *o = u->parent; o; o = o->parent)
            for (int j = 0; j < o->st->ncarry; j++)
                outer |= !strcmp(o->st->carry[j]->name, name);
        if (outer)
            sema_err(S, st->name_locs[0], "'%s' is carried by an enclosing loop; carry it in this loop too, "
                     "as in `carry (%s)`", name, name);
        else
            sema_err(S, st->name_locs[0], "'%s' is not carried by this loop; list it in `carry (...)` or "
                     "bind a new name with `let %s = ...`", name, name);
        return;
    }
    const IrType *ct = &u->carry_type[k];
    if (v.k == SV_ERR || ct->rank < 0)
        return;
    IrValue *x = sema_carried_update(S, st, v, ct);
    if (x)
        sema_bind(S, name, sv_tensor(x));
}

/* The body is checked once per trip with the counter bound to the trip's
 * number, each trip starting from the carried values the last one left;
 * the variance analysis then sees every trip's collectives.  A body with
 * errors is checked once (its errors reported once). */
void sema_local_for(Sema *S, const Stmt *st)
{
    bool ok = true;
    int64_t lo = 0, hi = 0;
    if (!sema_eval_int(S, st->lo, "the loop's start", &lo) || !sema_eval_int(S, st->hi, "the loop's end", &hi))
        ok = false;
    else if (lo > hi) {
        sema_err(S, st->hi->loc, "the loop's end %lld is before its start %lld", (long long)hi, (long long)lo);
        ok = false;
    } else if (hi - lo > LOCAL_UNROLL_MAX) {
        sema_err(S, st->loc, "a for loop in local fn '%s' is unrolled, one copy of its body per trip: %lld "
                 "trips is more than %d (loop in the caller around the local call)", S->cur->decl->name,
                 (long long)(hi - lo), LOCAL_UNROLL_MAX);
        ok = false;
    }
    for (const UnrollCtx *o = S->unroll; o; o = o->parent)
        if (!strcmp(o->st->var, st->var)) {
            sema_err(S, st->var_loc, "'%s' is already the counter of an enclosing loop", st->var);
            ok = false;
        }
    UnrollCtx *u = arena_alloc(sema_arena(S), sizeof *u);
    u->parent = S->unroll;
    u->st = st;
    int n = st->ncarry;
    u->carry_type = arena_alloc(sema_arena(S), sizeof *u->carry_type * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        const ParamAst *c = st->carry[k];
        u->carry_type[k].rank = -1;
        for (int j = 0; j < k; j++)
            if (!strcmp(st->carry[j]->name, c->name)) {
                sema_err(S, c->loc, "'%s' is carried twice", c->name);
                ok = false;
            }
        if (c->pl) {
            sema_err(S, c->pl->loc, "a placement inside local fn '%s': its values are per-rank shards (carry "
                     "'%s' without one)", S->cur->decl->name, c->name);
            ok = false;
        }
        Binding *b = sema_carried_binding(S, c);
        if (!b)
            ok = false;
        else if (b->val.k == SV_TENSOR)
            u->carry_type[k] = b->val.v->type;
        else if (b->val.k != SV_ERR) {
            sema_err(S, c->loc, "'%s' is a number; a carried value must be a tensor", c->name);
            ok = false;
        } else
            ok = false;
    }
    int64_t trips = ok ? hi - lo : 1; /* not ok: the body once, for its own errors */
    SVal *cur = arena_alloc(sema_arena(S), sizeof *cur * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        Binding *b = sema_find_local(S, st->carry[k]->name);
        cur[k] = b ? b->val : sv_err;
    }
    S->unroll = u;
    for (int64_t t = 0; t < trips; t++) {
        int errors = S->ngroups;
        Binding *saved = S->scope;
        sema_bind(S, st->var, ok ? sv_int(lo + t) : sv_err);
        for (int k = 0; k < n; k++)
            sema_bind(S, st->carry[k]->name, cur[k]);
        bool returned = false;
        sema_check_stmts(S, st->body, st->nbody, true, &returned);
        for (int k = 0; k < n; k++)
            cur[k] = sema_find_local(S, st->carry[k]->name)->val;
        sema_restore_scope(S, saved);
        if (S->ngroups > errors) {
            ok = false;
            break;
        }
    }
    S->unroll = u->parent;
    for (int k = 0; k < n; k++)
        sema_bind(S, st->carry[k]->name, ok ? cur[k] : sv_err);
}
