/* sema_loop.c - `for l in range(N) carry (a, b) { ... }` and `a = ...`.
 *
 * A loop body is built as its own IrFunc (OP_LOOP, ir/loop.c).  A value
 * from outside becomes a body parameter when first used: a carried value
 * (updated by assignment, its placement pinned at the back edge), a stacked
 * slice w[l] (w's dim 0 indexed by the counter) or a capture; the
 * parameters are put in that order when the body is done.
 */
#include <string.h>

#include "frontend/sema_internal.h"

/* ---- loops: values from outside a loop body ------------------------------------------- */

/* The parameter of lp's body that stands for outer in `in`, made (named
 * name, of type t) at its first use. */
static IrValue *loop_input(Sema *S, LoopCtx *lp, LoopInputs *in, IrValue *outer, const char *name,
                           IrType t)
{
    for (int k = 0; k < in->n; k++)
        if (in->outer[k] == outer)
            return in->param[k];
    if (in->n == in->cap) {
        int cap = in->cap ? 2 * in->cap : 4;
        IrValue **o = arena_alloc(S->a, sizeof *o * (size_t)cap);
        IrValue **p = arena_alloc(S->a, sizeof *p * (size_t)cap);
        if (in->n) {
            memcpy(o, in->outer, sizeof *o * (size_t)in->n);
            memcpy(p, in->param, sizeof *p * (size_t)in->n);
        }
        in->outer = o;
        in->param = p;
        in->cap = cap;
    }
    IrInit none;
    memset(&none, 0, sizeof none);
    in->outer[in->n] = outer;
    in->param[in->n] = ir_param_new(S->m, lp->body, name, t, (Placement){0}, none);
    return in->param[in->n++];
}

/* v, bound at loop depth vdepth, as a value usable inside loop lp: each loop
 * between gets a capture parameter (one per outer value). */
static IrValue *loop_capture(Sema *S, LoopCtx *lp, IrValue *v, int vdepth)
{
    if (!lp || lp->depth <= vdepth)
        return v;
    IrValue *outer = loop_capture(S, lp->parent, v, vdepth);
    return loop_input(S, lp, &lp->cap, outer, outer->name ? outer->name : "capture", outer->type);
}

SVal sema_binding_value(Sema *S, Binding *b)
{
    if (b->val.k != SV_TENSOR || !S->loop || b->depth >= S->loop->depth)
        return b->val;
    return sv_tensor(loop_capture(S, S->loop, b->val.v, b->depth));
}

/* The loop whose counter is `name`, NULL: none. */
LoopCtx *sema_loop_of_counter(Sema *S, const char *name)
{
    for (LoopCtx *lp = S->loop; lp; lp = lp->parent)
        if (!strcmp(lp->st->var, name))
            return lp;
    return NULL;
}

/* w[l]: the slice of stacked operand w for this trip. */
SVal sema_loop_slice(Sema *S, const Expr *e)
{
    LoopCtx *lp = S->loop;
    const Expr *ix = e->args[0];
    if (sema_loop_of_counter(S, ix->name) != lp) {
        sema_err(S, ix->loc, "'%s[%s]': only the innermost loop's counter '%s' can index a stacked value",
                 e->name, ix->name, lp->st->var);
        return sv_err;
    }
    Binding *b = sema_find_local(S, e->name);
    if (!b) {
        Suggest g = {e->name, NULL, 99};
        sema_suggest_values(S, &g);
        sema_err(S, e->loc, "unknown name '%s'%s", e->name, sema_suggest_str(S, &g));
        return sv_err;
    }
    if (b->val.k == SV_ERR)
        return sv_err;
    if (b->val.k != SV_TENSOR) {
        sema_err(S, e->loc, "'%s' is a number; only a stacked tensor can be indexed by '%s'", e->name,
                 ix->name);
        return sv_err;
    }
    if (b->depth >= lp->depth) {
        sema_err(S, e->loc, "'%s' is computed inside the loop; '%s[%s]' needs a stacked value from outside it",
                 e->name, e->name, ix->name);
        return sv_err;
    }
    IrValue *outer = loop_capture(S, lp->parent, b->val.v, b->depth);
    const IrType *t = &outer->type;
    if (t->rank < 1 || t->dims[0] != lp->trip) {
        sema_err(S, e->loc,
                 "'%s' is %s: to be indexed by '%s' its leading (layer) dim must be the trip count %lld",
                 e->name, sema_tstr(S, t), ix->name, (long long)lp->trip);
        return sv_err;
    }
    if (outer->pl.naxes > 0)
        for (int a = 0; a < outer->pl.naxes; a++)
            if (outer->pl.e[a].kind == PL_S && outer->pl.e[a].dim == 0) {
                sema_err(S, e->loc, "'%s' splits its layer dim (dim 0) over mesh axis '%s': pipeline-style "
                         "placement is not supported; keep dim 0 replicated (R)", e->name, S->m->mesh.axis_name[a]);
                return sv_err;
            }
    return sv_tensor(loop_input(S, lp, &lp->stack, outer, e->name, ir_loop_slice_type(t)));
}

/* ---- loops: for and assignment ------------------------------------------------------------ */

int sema_carry_index(const LoopCtx *lp, const char *name)
{
    for (int k = 0; k < lp->ncarry; k++)
        if (!strcmp(lp->st->carry[k]->name, name))
            return k;
    return -1;
}

/* The binding a carried name starts from, or NULL after reporting that it
 * has no value before the loop. */
Binding *sema_carried_binding(Sema *S, const ParamAst *c)
{
    Binding *b = sema_find_local(S, c->name);
    if (!b) {
        Suggest g = {c->name, NULL, 99};
        sema_suggest_values(S, &g);
        sema_err(S, c->loc, "'%s' is carried but has no value before the loop%s", c->name,
                 sema_suggest_str(S, &g));
    }
    return b;
}

/* The new value of a carried name, `name = value` (st), as a tensor of the
 * carried type ct (a number becomes one when ct is a scalar); NULL after
 * reporting why not (or when the value is already an error). */
IrValue *sema_carried_update(Sema *S, const Stmt *st, SVal v, const IrType *ct)
{
    const char *name = st->names[0];
    IrValue *x = v.k == SV_TENSOR ? v.v : NULL;
    if (sema_is_num(v)) {
        if (ct->rank != 0) {
            sema_err(S, st->value->loc, "'%s' is carried as %s but this assigns the number %s", name,
                     sema_tstr(S, ct), sema_num_str(S, v));
            return NULL;
        }
        x = sema_materialise(S, v, ct->dtype, st->value->loc);
    }
    if (x && !ir_type_eq(&x->type, ct)) {
        sema_err(S, st->value->loc, "'%s' is carried as %s but this assigns %s: a carried value keeps its type "
                 "from one trip to the next", name, sema_tstr(S, ct), sema_tstr(S, &x->type));
        return NULL;
    }
    return x;
}

/* name = value;  updates a value the innermost loop carries. */
void sema_check_assign(Sema *S, const Stmt *st)
{
    if (S->unroll && !S->loop) {
        sema_local_assign(S, st);
        return;
    }
    const char *name = st->names[0];
    SVal v = sema_single(S, sema_check_expr(S, st->value), st->value);
    LoopCtx *lp = S->loop;
    int k = lp ? sema_carry_index(lp, name) : -1;
    if (k < 0) {
        if (!lp)
            sema_err(S, st->name_locs[0], "'%s = ...' outside a loop: bind a new name with `let %s = ...`",
                     name, name);
        else {
            bool outer = false;
            for (LoopCtx *o = lp->parent; o; o = o->parent)
                outer |= sema_carry_index(o, name) >= 0;
            if (outer)
                sema_err(S, st->name_locs[0],
                         "'%s' is carried by an enclosing loop; carry it in this loop too, as in "
                         "`carry (%s)`", name, name);
            else
                sema_err(S, st->name_locs[0],
                         "'%s' is not carried by this loop; list it in `carry (...)` or bind a new "
                         "name with `let %s = ...`", name, name);
        }
        return;
    }
    if (v.k == SV_ERR || !lp->carry_param[k])
        return;
    IrValue *x = sema_carried_update(S, st, v, &lp->carry_param[k]->type);
    if (!x)
        return;
    lp->carry_cur[k] = x;
    sema_bind(S, name, sv_tensor(x));
}

/* Parameters in loop order: carried, stacked slices, captures. */
static void order_body_params(Sema *S, LoopCtx *lp)
{
    IrFunc *g = lp->body;
    int n = lp->ncarry + lp->stack.n + lp->cap.n, at = 0;
    DTC_ASSERT(n == g->nparams);
    IrValue **ps = arena_alloc(S->a, sizeof *ps * (size_t)(n ? n : 1));
    for (int k = 0; k < lp->ncarry; k++)
        ps[at++] = lp->carry_param[k];
    for (int k = 0; k < lp->stack.n; k++)
        ps[at++] = lp->stack.param[k];
    for (int k = 0; k < lp->cap.n; k++)
        ps[at++] = lp->cap.param[k];
    for (int k = 0; k < n; k++)
        ps[k]->param_index = k;
    g->params = ps;
}

void sema_check_for(Sema *S, const Stmt *st)
{
    LoopCtx *lp = arena_alloc(S->a, sizeof *lp);
    lp->parent = S->loop;
    lp->depth = S->loop ? S->loop->depth + 1 : 1;
    lp->st = st;
    bool ok = true;
    int64_t lo = 0, hi = 0;
    if (!sema_eval_int(S, st->lo, "the loop's start", &lo) || !sema_eval_int(S, st->hi, "the loop's end", &hi))
        ok = false;
    else if (lo != 0) {
        sema_err(S, st->lo->loc,
                 "a loop counts from 0 (as in `for %s in 0..L`): the counter indexes the layer dim of "
                 "stacked values", st->var);
        ok = false;
    } else if (hi < 0) {
        sema_err(S, st->hi->loc, "the loop's end %lld is negative", (long long)hi);
        ok = false;
    }
    lp->trip = hi;
    for (int k = 0; k < st->ncarry; k++)
        for (int j = 0; j < k; j++)
            if (!strcmp(st->carry[j]->name, st->carry[k]->name)) {
                sema_err(S, st->carry[k]->loc, "'%s' is carried twice", st->carry[k]->name);
                ok = false;
            }
    if (sema_loop_of_counter(S, st->var)) {
        sema_err(S, st->var_loc, "'%s' is already the counter of an enclosing loop", st->var);
        ok = false;
    }
    int n = st->ncarry;
    lp->ncarry = n;
    lp->carry_param = arena_alloc(S->a, sizeof(IrValue *) * (size_t)(n ? n : 1));
    lp->carry_cur = arena_alloc(S->a, sizeof(IrValue *) * (size_t)(n ? n : 1));
    lp->carry_init = arena_alloc(S->a, sizeof(IrValue *) * (size_t)(n ? n : 1));
    lp->carry_pinned = arena_alloc(S->a, sizeof(bool) * (size_t)(n ? n : 1));
    lp->carry_pl = arena_alloc(S->a, sizeof(Placement) * (size_t)(n ? n : 1));
    /* initial values, in the enclosing scope */
    for (int k = 0; k < n; k++) {
        const ParamAst *c = st->carry[k];
        Binding *b = sema_carried_binding(S, c);
        if (!b) {
            ok = false;
            continue;
        }
        SVal v = sema_binding_value(S, b);
        if (v.k == SV_ERR) {
            ok = false;
            continue;
        }
        if (v.k != SV_TENSOR) {
            sema_err(S, c->loc, "'%s' is a number; a carried value must be a tensor", c->name);
            ok = false;
            continue;
        }
        IrValue *init = v.v;
        if (c->pl) {
            if (!sema_resolve_pl_ast(S, c->pl, &init->type, false, &lp->carry_pl[k])) {
                ok = false;
                continue;
            }
            lp->carry_pinned[k] = true;
            init = sema_emit_redistribute(S, c->pl->loc, init, lp->carry_pl[k], c->name, "carried placement");
        }
        lp->carry_init[k] = init;
    }
    if (!ok) {
        /* check the body anyway for its own errors, with nothing bound */
        for (int k = 0; k < n; k++)
            lp->carry_param[k] = NULL;
    }
    lp->body = ir_func_new(S->m, arena_printf(S->a, "%s.loop%d", S->cur->decl->name, S->nloops++));
    lp->body->loc = st->loc;
    Binding *saved = S->scope;
    S->loop = lp;
    IrInit none;
    memset(&none, 0, sizeof none);
    for (int k = 0; k < n; k++) {
        const ParamAst *c = st->carry[k];
        if (!lp->carry_init[k]) {
            sema_bind(S, c->name, sv_err);
            ok = false;
            continue;
        }
        IrValue *p = ir_param_new(S->m, lp->body, c->name, lp->carry_init[k]->type,
                                  lp->carry_pinned[k] ? lp->carry_pl[k] : (Placement){0}, none);
        lp->carry_param[k] = lp->carry_cur[k] = p;
        sema_bind(S, c->name, sv_tensor(p));
    }
    bool returned = false;
    sema_check_stmts(S, st->body, st->nbody, true, &returned);
    /* the new carried values; a pinned carry goes back to its placement */
    IrFunc *g = lp->body;
    g->nresults = n;
    g->results = arena_alloc(S->a, sizeof *g->results * (size_t)(n ? n : 1));
    g->result_names = arena_alloc(S->a, sizeof *g->result_names * (size_t)(n ? n : 1));
    for (int k = 0; ok && k < n; k++) {
        IrValue *r = lp->carry_cur[k];
        if (lp->carry_pinned[k])
            r = sema_emit_redistribute(S, st->carry[k]->pl->loc, r, lp->carry_pl[k], st->carry[k]->name,
                                       "carried placement (back edge)");
        g->results[k] = r;
    }
    S->loop = lp->parent;
    sema_restore_scope(S, saved);
    if (!ok || S->ngroups > 0)
        return;
    order_body_params(S, lp);
    int nargs = n + lp->stack.n + lp->cap.n;
    IrValue **args = arena_alloc(S->a, sizeof *args * (size_t)(nargs ? nargs : 1));
    IrType *types = arena_alloc(S->a, sizeof *types * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        args[k] = lp->carry_init[k];
        types[k] = args[k]->type;
    }
    for (int k = 0; k < lp->stack.n; k++)
        args[n + k] = lp->stack.outer[k];
    for (int k = 0; k < lp->cap.n; k++)
        args[n + lp->stack.n + k] = lp->cap.outer[k];
    IrInst *i = ir_inst_new(S->m, sema_target_fn(S), NULL, OP_LOOP, nargs, args, n, types);
    i->loc = st->loc;
    i->a.fn = g;
    i->a.callee = g->name;
    i->a.trip = lp->trip;
    i->a.ncarry = n;
    i->a.nstack = lp->stack.n;
    const char *e = ir_loop_check(S->a, i);
    if (e)
        DTC_BUG(e);
    for (int k = 0; k < n; k++) {
        i->res[k]->name = st->carry[k]->name;
        if (lp->carry_pinned[k]) {
            i->res[k]->pl = lp->carry_pl[k];
            i->res[k]->pinned = true;
        }
        sema_bind(S, st->carry[k]->name, sv_tensor(i->res[k]));
    }
}
