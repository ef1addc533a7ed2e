/* partition.c - pass_partition: rewrite the global program as the per-rank
 * program.
 *
 * Requires: redistributed module (every operand at its in_pl; every
 *           placement change an OP_REDISTRIBUTE).
 * Produces: a program whose every instruction has local semantics (ops.def):
 *   - each OP_REDISTRIBUTE becomes its planned steps, one instruction per
 *     step (all_reduce, reduce_scatter, all_gather, all_to_all, shard,
 *     to_partial) with axes, red, dim, dim2, bytes and `why` copied;
 *   - ops whose strategy (rules.h) is not STRAT_LOCAL are decomposed into
 *     local ops and collectives:
 *       mean over a split dim    sum, then * (1 / global count)
 *       softmax / log_softmax    max, all_reduce(max), sub, exp, sum,
 *                                all_reduce(sum), div (log_softmax: sub log)
 *       layernorm                sum, all_reduce, mean, centre, sum of
 *                                squares, all_reduce, rsqrt, scale, shift
 *       rmsnorm                  sum of squares, all_reduce, rsqrt, scale
 *       cross_entropy            per-row logsumexp (cross-rank max and sum
 *                                when the vocab is split) and the label
 *                                logit by a masked `pick`, both summed to
 *                                P(sum), times 1 / rows
 *       cumsum along a split dim local cumsum; each rank's total, broadcast
 *                                to a summary with one element per rank
 *                                along the dim (rules_route_summary) and
 *                                all_gathered; the totals of the ranks
 *                                before this one (an iota mask) summed and
 *                                added
 *       attention                its decomposition (ir/attention.c) on
 *                                every strategy; the ring over more than
 *                                one rank is a local fn call by now
 *                                (passes/ring_attention.c)
 *       argmax / argmin along    local max (min) and the lowest global index
 *         a split dim            (iota) holding it or a NaN; both as
 *                                summaries, concatenated as (value, index)
 *                                pairs when the index fits x's dtype, and
 *                                all_gathered; the same pick over the
 *                                candidates (rank order is index order)
 *   - a local fn call (OP_LOCAL_CALL) is replaced by its body, lowered by
 *     ir_local_expand (ir/local.c): explicit collectives become the steps
 *     above on relabelled values (local_view);
 *   - a rule fn call (OP_RULE_CALL) becomes a local fn call of its body
 *     re-typed on the chosen placements' local shapes (ir/rule.c), then as
 *     above;
 *   - everything else stays: the global op applied to local shards is the
 *     local result (that is what the propagate rules guarantee).
 * Every value keeps its global type and placement; its local shape is
 * pl_local_type(type, pl, coords).  New instructions get in_pl = their
 * operands' placements.
 */
#include <string.h>

#include "ir/ir_text.h"
#include "passes/plan.h"
#include "passes/rules.h"

typedef struct Part {
    PassCtx *ctx;
    IrModule *m;
    IrFunc *f;
    IrInst *at;      /* new instructions go before it */
    const char *why; /* for the collectives of a decomposition */
    PassForward fw;  /* redistributes that needed no step, removed */
} Part;

/* Appends op(args) before q->at with result placement pl.  The result type
 * comes from ir_infer (dtype: that of the first operand, or `dt` for const). */
static IrValue *emit(Part *q, IrOp op, int nargs, IrValue **args, const IrAttrs *a, DType dt,
                     Placement pl)
{
    IrInst *n = ir_inst_typed(q->m, q->f, q->at, op, nargs, args, a, dt, q->at->loc, &pl, "partition");
    if (ir_op_flags(op) & (OPF_COMM | OPF_LOCAL))
        n->why = q->why;
    return n->res[0];
}

static IrValue *emit1(Part *q, IrOp op, IrValue *x, const IrAttrs *a, Placement pl)
{
    return emit(q, op, 1, &x, a, x->type.dtype, pl);
}

static IrValue *emit2(Part *q, IrOp op, IrValue *x, IrValue *y, Placement pl)
{
    IrValue *args[2] = {x, y};
    return emit(q, op, 2, args, NULL, x->type.dtype, pl);
}

static IrValue *constant(Part *q, double v, DType dt)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.f = v;
    return emit(q, OP_CONST, 0, NULL, &a, dt, pl_replicated(q->m->mesh.naxes));
}

/* One planned step as an instruction (also used for the collectives of a
 * decomposition, so that their bytes come from the same cost code). */
static IrValue *emit_step(Part *q, IrValue *x, StepKind kind, unsigned axes, RedOp red, int dim,
                          int dim2, const Placement *after)
{
    PlanStep st;
    memset(&st, 0, sizeof st);
    st.kind = kind;
    st.axes = axes;
    st.red = red;
    st.dim = dim;
    st.dim2 = dim2;
    if (!plan_step_make(&q->ctx->cost, &q->m->mesh, &x->type, &x->pl, &st))
        DTC_BUG("partition: illegal collective step");
    if (after && !pl_eq(after, &st.after))
        DTC_BUG("partition: a step does not reach the planned placement");
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.axes = axes;
    a.red = red;
    a.dim = dim < 0 ? 0 : dim;
    a.dim2 = dim2 < 0 ? 0 : dim2;
    a.bytes = st.bytes;
    return emit1(q, plan_step_op(kind), x, &a, after ? *after : st.after);
}

static IrValue *all_reduce(Part *q, IrValue *x, unsigned axes, RedOp red)
{
    if (!axes)
        return x;
    return emit_step(q, x, STEP_ALL_REDUCE, axes, red, -1, -1, NULL);
}

static IrAttrs reduce_attrs(Part *q, int nax, const int *axes, bool keepdims)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int64_t *v = ir_attrs_ints(q->ctx->arena, &a, nax);
    for (int k = 0; k < nax; k++)
        v[k] = axes[k];
    a.keepdims = keepdims;
    return a;
}

/* Placement of a keepdims reduction over dim d of a value at pl, where the
 * axes splitting d now hold partials of kind red. */
static Placement reduced_pl(const Placement *pl, int d, RedOp red)
{
    return rules_with(pl, rules_split_axes(pl, d), pe_p(red));
}

/* Makes the instruction defining `nv` define the old result instead, so the
 * value keeps its id, name and uses across the pass; removes `old`. */
static void replace(Part *q, IrInst *old, IrValue *nv)
{
    IrValue *ov = old->res[0];
    if (!pl_eq(&ov->pl, &nv->pl) || !ir_type_eq(&ov->type, &nv->type)) {
        char a[256], b[256];
        DTC_BUG(arena_printf(q->ctx->arena, "partition: %s decomposed to %s, expected %s",
                             ir_op_name(old->op), pl_str(&q->m->mesh, &nv->pl, a, sizeof a),
                             pl_str(&q->m->mesh, &ov->pl, b, sizeof b)));
    }
    ir_inst_remove(q->f, old);
    nv->def->res[0] = ov;
    ov->def = nv->def;
}

static const char *why_of(Part *q, IrInst *i, const char *what)
{
    char vb[64];
    return arena_printf(q->ctx->arena, "%s %s: %s", ir_op_name(i->op),
                        ir_value_str(i->res[0], vb, sizeof vb), what);
}

/* ---- redistribute -> steps ------------------------------------------------------ */
static void expand_redistribute(Part *q, IrInst *i)
{
    IrValue *x = i->args[0], *y = i->res[0];
    Plan p;
    if (!plan_redistribute(&q->ctx->cost, &q->m->mesh, &x->type, &x->pl, &y->pl, &p))
        DTC_BUG("partition: the planner found no plan");
    if (p.nsteps == 0) {
        if (!x->name)
            x->name = y->name;
        pass_fwd_set(&q->fw, y, x);
        ir_inst_remove(q->f, i);
        return;
    }
    q->why = i->why;
    IrValue *cur = x;
    for (int s = 0; s < p.nsteps; s++) {
        const PlanStep *st = &p.steps[s];
        cur = emit_step(q, cur, st->kind, st->axes, st->red, st->dim, st->dim2, &st->after);
        cur->def->plan = s == 0 ? i->plan : NULL;
    }
    replace(q, i, cur);
}

/* ---- local fn calls ------------------------------------------------------------------ */
/* The body spliced in (ir/local.c lowers its explicit collectives to the
 * steps above); each collective's bytes from the planner's cost code. */
static void local_call(Part *q, IrInst *i)
{
    IrInst *prev = i->prev, *next = i->next;
    ir_local_expand(q->m, q->f, i, i, i->args, i->res);
    ir_inst_remove(q->f, i);
    for (IrInst *n = prev ? prev->next : q->f->first; n && n != next; n = n->next) {
        if (!(ir_op_flags(n->op) & OPF_COMM))
            continue;
        if (n->op == OP_COLLECTIVE_PERMUTE) { /* ppermute: the whole (replicated-shaped) shard, once */
            n->a.bytes = ir_type_numel(&n->args[0]->type) * ir_dtype_size(n->args[0]->type.dtype);
            continue;
        }
        PlanStep st;
        memset(&st, 0, sizeof st);
        for (int k = STEP_ALL_REDUCE; k <= STEP_ALL_TO_ALL; k++)
            if (plan_step_op((StepKind)k) == n->op)
                st.kind = (StepKind)k;
        st.axes = n->a.axes;
        st.red = n->a.red;
        st.dim = n->a.dim;
        st.dim2 = n->a.dim2;
        const IrValue *x = n->args[0];
        if (!plan_step_make(&q->ctx->cost, &q->m->mesh, &x->type, &x->pl, &st) ||
            !pl_eq(&st.after, &n->res[0]->pl))
            DTC_BUG("partition: a local fn's collective is not a planner step");
        n->a.bytes = st.bytes;
    }
}

/* A rule fn call at its chosen placements: its body re-typed on the local
 * shapes (ir/rule.c) becomes a local fn call, spliced as one. */
static bool rule_call(Part *q, IrInst *i)
{
    const char *err;
    IrFunc *b = ir_rule_local_body(q->m, i->a.fn, i->in_pl, &i->res[0]->pl, &err);
    if (!b) {
        /* sema checked each strategy on one axis; a mix over several axes
         * can still break a shape rule (rare: say so, with the mix) */
        char pb[256];
        const SrcLoc *l = &i->loc;
        if (l->file)
            fprintf(q->ctx->err, "%s:%d:%d: ", l->file, l->line, l->col);
        fprintf(q->ctx->err, "error: the strategies of '%s' chosen per mesh axis (result %s) do not hold "
                "together on the local shapes: %s\n", i->a.fn->name,
                pl_str(&q->m->mesh, &i->res[0]->pl, pb, sizeof pb), err);
        return false;
    }
    i->op = OP_LOCAL_CALL;
    i->a.fn = b;
    return true;
}

/* ---- decompositions ---------------------------------------------------------------- */
static void mean_split(Part *q, IrInst *i)
{
    IrValue *x = i->args[0], *y = i->res[0];
    double n = 1;
    for (int k = 0; k < i->a.nints; k++)
        n *= (double)x->type.dims[i->a.ints[k]];
    IrValue *s = emit1(q, OP_SUM, x, &i->a, y->pl);
    IrValue *c = constant(q, n > 0 ? 1.0 / n : 0.0, y->type.dtype);
    replace(q, i, emit2(q, OP_MUL, s, c, y->pl));
}

static void softmax_split(Part *q, IrInst *i)
{
    IrValue *x = i->args[0];
    int ax = (int)i->a.ints[0];
    unsigned A = rules_split_axes(&x->pl, ax);
    IrAttrs ra = reduce_attrs(q, 1, &ax, true);
    Placement rep = rules_with(&x->pl, A, pe_r());
    q->why = why_of(q, i, "cross-rank max along the split dim");
    IrValue *mx = emit1(q, OP_MAX, x, &ra, reduced_pl(&x->pl, ax, RED_MAX));
    mx = all_reduce(q, mx, A, RED_MAX);
    IrValue *d = emit2(q, OP_SUB, x, mx, x->pl);
    IrValue *e = emit1(q, OP_EXP, d, NULL, x->pl);
    q->why = why_of(q, i, "cross-rank sum along the split dim");
    IrValue *s = emit1(q, OP_SUM, e, &ra, reduced_pl(&x->pl, ax, RED_SUM));
    s = all_reduce(q, s, A, RED_SUM);
    DTC_ASSERT(pl_eq(&s->pl, &rep) || !A);
    IrValue *y;
    if (i->op == OP_SOFTMAX)
        y = emit2(q, OP_DIV, e, s, x->pl);
    else
        y = emit2(q, OP_SUB, d, emit1(q, OP_LOG, s, NULL, s->pl), x->pl);
    replace(q, i, y);
}

static void norm_split(Part *q, IrInst *i)
{
    IrValue *x = i->args[0], *g = i->args[1];
    int last = x->type.rank - 1;
    unsigned A = rules_split_axes(&x->pl, last);
    IrAttrs ra = reduce_attrs(q, 1, &last, true);
    DType dt = x->type.dtype;
    IrValue *inv_d = constant(q, 1.0 / (double)x->type.dims[last], dt);
    IrValue *eps = constant(q, i->a.f, dt);
    Placement ps = reduced_pl(&x->pl, last, RED_SUM);
    IrValue *xc = x;
    if (i->op == OP_LAYERNORM) {
        q->why = why_of(q, i, "cross-rank sum of x along the split last dim");
        IrValue *s1 = all_reduce(q, emit1(q, OP_SUM, x, &ra, ps), A, RED_SUM);
        IrValue *mean = emit2(q, OP_MUL, s1, inv_d, s1->pl);
        xc = emit2(q, OP_SUB, x, mean, x->pl);
    }
    q->why = why_of(q, i, i->op == OP_LAYERNORM
                              ? "cross-rank sum of (x - mean)^2 along the split last dim"
                              : "cross-rank sum of x^2 along the split last dim");
    IrValue *sq = emit2(q, OP_MUL, xc, xc, x->pl);
    IrValue *s2 = all_reduce(q, emit1(q, OP_SUM, sq, &ra, ps), A, RED_SUM);
    IrValue *var = emit2(q, OP_MUL, s2, inv_d, s2->pl);
    IrValue *r = emit1(q, OP_RSQRT, emit2(q, OP_ADD, var, eps, var->pl), NULL, var->pl);
    IrValue *y = emit2(q, OP_MUL, emit2(q, OP_MUL, xc, r, x->pl), g, x->pl);
    if (i->op == OP_LAYERNORM)
        y = emit2(q, OP_ADD, y, i->args[2], x->pl);
    replace(q, i, y);
}

static void cross_entropy_split(Part *q, IrInst *i)
{
    IrValue *x = i->args[0], *lab = i->args[1];
    DType dt = x->type.dtype;
    int naxes = q->m->mesh.naxes;
    unsigned A = rules_split_axes(&x->pl, 1); /* vocab */
    int one = 1, both[2] = {0, 1}, zero = 0;
    IrAttrs r1 = reduce_attrs(q, 1, &one, true), r01 = reduce_attrs(q, 2, both, false),
            r0 = reduce_attrs(q, 1, &zero, false);
    Placement rep = rules_with(&x->pl, A, pe_r()); /* [N, 1] pieces, rows as x */

    /* per-row logsumexp, R over the vocab axes */
    q->why = why_of(q, i, "cross-rank max of the vocab-split logits");
    IrValue *mx = all_reduce(q, emit1(q, OP_MAX, x, &r1, reduced_pl(&x->pl, 1, RED_MAX)), A, RED_MAX);
    IrValue *e = emit1(q, OP_EXP, emit2(q, OP_SUB, x, mx, x->pl), NULL, x->pl);
    q->why = why_of(q, i, "cross-rank sum of exp of the vocab-split logits");
    IrValue *s = all_reduce(q, emit1(q, OP_SUM, e, &r1, reduced_pl(&x->pl, 1, RED_SUM)), A, RED_SUM);
    IrValue *lse = emit2(q, OP_ADD, emit1(q, OP_LOG, s, NULL, rep), mx, rep);

    /* sum over rows: P(sum) over the row axes */
    Placement tot = pl_replicated(naxes);
    for (int a = 0; a < naxes; a++)
        if (rep.e[a].kind == PL_S)
            tot.e[a] = pe_p(RED_SUM);
    IrValue *t1 = emit1(q, OP_SUM, lse, &r01, tot);

    /* the label logits: masked pick, P(sum) over the vocab axes */
    Placement pk = pl_replicated(naxes);
    for (int a = 0; a < naxes; a++)
        if (x->pl.e[a].kind == PL_S)
            pk.e[a] = x->pl.e[a].dim == 0 ? pe_s(0) : pe_p(RED_SUM);
    IrValue *args[2] = {x, lab};
    IrValue *p = emit(q, OP_PICK, 2, args, NULL, dt, pk);
    Placement tot2 = rules_with(&tot, A, pe_p(RED_SUM));
    IrValue *t2 = emit1(q, OP_SUM, p, &r0, tot2);
    if (A) {
        q->why = why_of(q, i, "the logsumexp total joins the vocab-partial label logits");
        t1 = emit_step(q, t1, STEP_TO_PARTIAL, A, RED_SUM, -1, -1, &tot2);
    }
    IrValue *d = emit2(q, OP_SUB, t1, t2, tot2);
    IrValue *c = constant(q, 1.0 / (double)x->type.dims[0], dt);
    replace(q, i, emit2(q, OP_MUL, d, c, tot2));
}

/* x moved to placement `to` by its planned steps (a redistribution inside a
 * decomposition). */
static IrValue *relayout(Part *q, IrValue *x, const Placement *to)
{
    Plan p;
    if (!plan_redistribute(&q->ctx->cost, &q->m->mesh, &x->type, &x->pl, to, &p))
        DTC_BUG("partition: the planner found no plan");
    for (int s = 0; s < p.nsteps; s++) {
        const PlanStep *st = &p.steps[s];
        x = emit_step(q, x, st->kind, st->axes, st->red, st->dim, st->dim2, &st->after);
    }
    return x;
}

static IrValue *iota(Part *q, const IrType *t, int d, Placement pl)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int64_t *v = ir_attrs_ints(q->ctx->arena, &a, t->rank);
    for (int k = 0; k < t->rank; k++)
        v[k] = t->dims[k];
    a.dim = d;
    return emit(q, OP_IOTA, 0, NULL, &a, DT_I32, pl);
}

/* The per-rank value v ([.., 1, ..] along d, one per rank of the axes A
 * splitting d) as the summary rules_route_summary describes, placed `pl`
 * (d split on A); gather_summary all_gathers it over A: every rank holds
 * every rank's value, in rank order along d. */
static IrValue *summary(Part *q, IrValue *v, int d, unsigned A, const Placement *pl)
{
    IrType t = rules_route_summary(&q->m->mesh, &v->type, d, A);
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int64_t *sz = ir_attrs_ints(q->ctx->arena, &a, t.rank);
    for (int k = 0; k < t.rank; k++)
        sz[k] = t.dims[k];
    return emit1(q, OP_BROADCAST_TO, v, &a, *pl);
}

static IrValue *gather_summary(Part *q, IrValue *v, int d, unsigned A, const Placement *pl)
{
    Placement all = rules_with(pl, A, pe_r());
    return relayout(q, summary(q, v, d, A, pl), &all);
}

/* cumsum along a split dim (STRAT_SPLIT_SCAN). */
static void scan_split(Part *q, IrInst *i)
{
    IrValue *x = i->args[0];
    int d = i->a.dim;
    unsigned A = rules_split_axes(&x->pl, d);
    DType dt = x->type.dtype;
    IrAttrs ra = reduce_attrs(q, 1, &d, true);
    Placement psum = reduced_pl(&x->pl, d, RED_SUM);
    IrValue *local = emit1(q, OP_CUMSUM, x, &i->a, x->pl);
    q->why = why_of(q, i, "every rank's total along the split dim, for the prefix of the ranks before it");
    IrValue *total = emit1(q, OP_SUM, x, &ra, psum);
    IrValue *all = gather_summary(q, total, d, A, &x->pl);
    /* ranks before this one: iota (whole) < iota (this rank's element) */
    IrValue *before = emit2(q, OP_LT, iota(q, &all->type, d, all->pl), iota(q, &all->type, d, x->pl),
                            all->pl);
    IrValue *args[3] = {before, all, constant(q, 0, dt)};
    IrValue *earlier = emit(q, OP_WHERE, 3, args, NULL, dt, all->pl);
    IrValue *prefix = emit1(q, OP_SUM, earlier, &ra, psum);
    replace(q, i, emit2(q, OP_ADD, local, prefix, x->pl));
}

/* 1 where x equals the extreme m of its row or x is NaN (m is NaN then). */
static IrValue *holds(Part *q, IrValue *x, IrValue *m)
{
    IrValue *eq = emit2(q, OP_EQ, x, m, x->pl);
    if (!ir_dtype_is_float(x->type.dtype))
        return eq;
    return emit2(q, OP_ADD, eq, emit2(q, OP_NE, x, x, x->pl), x->pl);
}

/* The lowest index (idx) along d where hit is nonzero; `none` where none. */
static IrValue *first_hit(Part *q, IrValue *hit, IrValue *idx, int64_t none, int d, bool keepdims,
                          Placement pl)
{
    IrValue *args[3] = {hit, idx, constant(q, (double)none, idx->type.dtype)};
    IrValue *cand = emit(q, OP_WHERE, 3, args, NULL, idx->type.dtype, hit->pl);
    IrAttrs ra = reduce_attrs(q, 1, &d, keepdims);
    return emit1(q, OP_MIN, cand, &ra, pl);
}

/* Every other element of x along d, from `start`. */
static IrValue *every_other(Part *q, IrValue *x, int d, int start)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int64_t *t = ir_attrs_ints(q->ctx->arena, &a, 3 * x->type.rank);
    for (int k = 0; k < x->type.rank; k++) {
        t[3 * k] = k == d ? start : 0;
        t[3 * k + 1] = x->type.dims[k];
        t[3 * k + 2] = k == d ? 2 : 1;
    }
    return emit1(q, OP_SLICE, x, &a, x->pl);
}

/* argmax / argmin along a split dim (STRAT_SPLIT_SELECT). */
static void select_split(Part *q, IrInst *i)
{
    IrValue *x = i->args[0];
    int d = i->a.dim;
    unsigned A = rules_split_axes(&x->pl, d);
    bool is_max = i->op == OP_ARGMAX;
    RedOp red = is_max ? RED_MAX : RED_MIN;
    IrOp ext = is_max ? OP_MAX : OP_MIN;
    IrAttrs ra = reduce_attrs(q, 1, &d, true);
    int64_t none = x->type.dims[d]; /* past every index */
    /* this rank's candidate: its extreme (an empty shard: the identity) and
     * the lowest global index holding it (or none, never picked before a
     * real index with the same value) */
    IrValue *best = emit1(q, ext, x, &ra, reduced_pl(&x->pl, d, red));
    IrValue *at = first_hit(q, holds(q, x, best), iota(q, &x->type, d, x->pl), none, d, true,
                            reduced_pl(&x->pl, d, RED_MIN));
    IrValue *vals, *idxs;
    if (rules_route_select_packs(i)) { /* (value, index) pairs in x's dtype: one gather */
        q->why = why_of(q, i, "every rank's best value and its global index along the split dim");
        IrValue *ix = emit(q, OP_CAST, 1, &at, NULL, x->type.dtype, at->pl);
        IrValue *parts[2] = {summary(q, best, d, A, &x->pl), summary(q, ix, d, A, &x->pl)};
        IrAttrs ca;
        memset(&ca, 0, sizeof ca);
        ir_attrs_ints(q->ctx->arena, &ca, 1)[0] = d;
        IrValue *pairs = emit(q, OP_CONCAT, 2, parts, &ca, x->type.dtype, x->pl);
        Placement all = rules_with(&x->pl, A, pe_r());
        pairs = relayout(q, pairs, &all);
        vals = every_other(q, pairs, d, 0);
        idxs = every_other(q, pairs, d, 1);
        if (idxs->type.dtype != DT_I32)
            idxs = emit(q, OP_CAST, 1, &idxs, NULL, DT_I32, idxs->pl);
    } else {
        q->why = why_of(q, i, "every rank's best value along the split dim");
        vals = gather_summary(q, best, d, A, &x->pl);
        q->why = why_of(q, i, "the global index of every rank's best value");
        idxs = gather_summary(q, at, d, A, &x->pl);
    }
    /* the pick over the candidates, as over the elements */
    IrValue *top = emit1(q, ext, vals, &ra, vals->pl);
    replace(q, i, first_hit(q, holds(q, vals, top), idxs, none, d, false, i->res[0]->pl));
}

bool pass_partition(PassCtx *ctx, IrModule *m)
{
    for (int fi = 0; fi < m->nfuncs; fi++) {
        Part q;
        memset(&q, 0, sizeof q);
        q.ctx = ctx;
        q.m = m;
        q.f = m->funcs[fi];
        q.fw = pass_fwd_new(ctx->arena, q.f);
        for (IrInst *i = q.f->first, *next; i; i = next) {
            next = i->next;
            pass_fwd_args(&q.fw, i);
            q.at = i;
            q.why = NULL;
            for (int k = 0; k < i->nargs; k++)
                if (i->in_pl && !pl_eq(&i->args[k]->pl, &i->in_pl[k]) && i->op != OP_REDISTRIBUTE)
                    DTC_BUG("partition: an operand is not at its in_pl (redistribute did not run)");
            if (i->op == OP_REDISTRIBUTE) {
                expand_redistribute(&q, i);
                continue;
            }
            if (i->op == OP_RULE_CALL && !rule_call(&q, i))
                return false;
            if (i->op == OP_LOCAL_CALL) {
                local_call(&q, i);
                continue;
            }
            switch (i->in_pl ? rules_strategy(i, i->in_pl) : STRAT_LOCAL) {
            case STRAT_MEAN_SUM:
                mean_split(&q, i);
                break;
            case STRAT_XRANK:
                if (i->op == OP_SOFTMAX || i->op == OP_LOG_SOFTMAX)
                    softmax_split(&q, i);
                else
                    norm_split(&q, i);
                break;
            case STRAT_CE_SPLIT:
                cross_entropy_split(&q, i);
                break;
            case STRAT_SPLIT_SCAN: /* split over axes of size 1: whole, local */
                if (plan_group_size(&m->mesh, rules_split_axes(&i->in_pl[0], i->a.dim)) > 1)
                    scan_split(&q, i);
                break;
            case STRAT_RING: /* over an axis of one rank: the local attention */
            case STRAT_LOCAL:
                if (i->op == OP_ATTENTION) {
                    IrAttnPl pl = ir_attention_placements(&i->in_pl[1], &i->res[0]->pl, i->args[0]->type.rank);
                    replace(&q, i, ir_attention_expand(m, q.f, i, i->loc, i->args[0], i->args[1], i->args[2],
                                                       &i->a, &pl, &i->res[0]->pl));
                }
                break;
            case STRAT_SPLIT_SELECT:
                if (plan_group_size(&m->mesh, rules_split_axes(&i->in_pl[0], i->a.dim)) > 1)
                    select_split(&q, i);
                break;
            default:
                break;
            }
        }
        pass_fwd_results(&q.fw, q.f);
    }
    return true;
}
