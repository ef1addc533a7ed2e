/* redistribute.c - pass_redistribute: make every placement change explicit.
 *
 * Requires: propagated module (every value placed; in_pl set on every
 *           instruction).
 * Produces: for every operand whose placement differs from the in_pl its
 *           user asks for, an OP_REDISTRIBUTE to that placement inserted
 *           before the user (one per value and target placement, shared by
 *           later users), with `why` saying who needs it and `plan` the
 *           planner's steps.  The user redistributes already in the program
 *           get their plan too; those that change nothing are removed.
 * Maintains: SSA, global types, pinned placements; afterwards every operand
 *           has exactly the placement in_pl names.
 */
#include <string.h>

#include "ir/ir_text.h"
#include "passes/plan.h"

typedef struct Moved {
    IrValue *from;
    Placement to;
    IrValue *val;
    int next;        /* the previous one moved from the same value, -1 none */
} Moved;

typedef struct Redist {
    PassCtx *ctx;
    IrModule *m;
    IrFunc *f;
    Moved *moved;
    int nmoved, cap;
    int *last;       /* by value id: its latest entry in moved, -1 none */
    int nlast;
    PassForward fw;  /* removed no-op redistributes */
} Redist;

static const char *plan_text(Redist *r, const IrValue *v, const Placement *to)
{
    Plan p;
    if (!plan_redistribute(&r->ctx->cost, &r->m->mesh, &v->type, &v->pl, to, &p))
        DTC_BUG("redistribute: the planner found no plan");
    return plan_str(r->ctx->arena, &r->m->mesh, &p);
}

static IrValue *lookup(Redist *r, IrValue *from, const Placement *to)
{
    for (int k = from->id < r->nlast ? r->last[from->id] : -1; k >= 0; k = r->moved[k].next)
        if (pl_eq(&r->moved[k].to, to))
            return r->moved[k].val;
    return NULL;
}

static void remember(Redist *r, IrValue *from, const Placement *to, IrValue *val)
{
    if (r->nmoved == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        Moved *n = arena_alloc(r->ctx->arena, sizeof *n * (size_t)cap);
        if (r->nmoved)
            memcpy(n, r->moved, sizeof *n * (size_t)r->nmoved);
        r->moved = n;
        r->cap = cap;
    }
    DTC_ASSERT(from->id < r->nlast);
    r->moved[r->nmoved] = (Moved){from, *to, val, r->last[from->id]};
    r->last[from->id] = r->nmoved++;
}

static int result_index(const IrFunc *f, const IrValue *v)
{
    for (int k = 0; k < f->nresults; k++)
        if (f->results[k] == v)
            return k;
    return -1;
}

/* A redistribute the user wrote (a let or result placement, redistribute(),
 * a callee parameter's placement): plan it, or drop it if it is a no-op. */
static void user_redistribute(Redist *r, IrInst *i)
{
    IrValue *x = i->args[0], *y = i->res[0];
    const IrMesh *mesh = &r->m->mesh;
    i->in_pl[0] = x->pl;
    if (pl_eq(&x->pl, &y->pl)) {
        if (!x->name)
            x->name = y->name;
        pass_fwd_set(&r->fw, y, x);
        ir_inst_remove(r->f, i);
        return;
    }
    char yb[64], xb[64], pb[256], qb[256];
    int res = result_index(r->f, y);
    char ctx[96] = "";
    if (res >= 0)
        snprintf(ctx, sizeof ctx, " (result %d of @%s)", res, r->f->name);
    /* the frontend says which constraint it was ("result placement", ...) */
    i->why = arena_printf(r->ctx->arena, "%s%s%s is pinned to %s%s; %s is %s", i->why ? i->why : "",
                          i->why ? ": " : "", ir_value_str(y, yb, sizeof yb),
                          pl_str(mesh, &y->pl, pb, sizeof pb), ctx, ir_value_str(x, xb, sizeof xb),
                          pl_str(mesh, &x->pl, qb, sizeof qb));
    i->plan = plan_text(r, x, &y->pl);
}

static void fix_operand(Redist *r, IrInst *i, int k)
{
    IrValue *x = i->args[k];
    const Placement *to = &i->in_pl[k];
    if (pl_eq(&x->pl, to))
        return;
    IrValue *y = lookup(r, x, to);
    if (!y) {
        const IrMesh *mesh = &r->m->mesh;
        IrInst *n = ir_inst_new(r->m, r->f, i, OP_REDISTRIBUTE, 1, &x, 1, &x->type);
        y = n->res[0];
        y->pl = *to;
        n->loc = i->loc;
        n->in_pl = arena_alloc(r->ctx->arena, sizeof *n->in_pl);
        n->in_pl[0] = x->pl;
        char ub[64], xb[64], pb[256], qb[256];
        n->why = arena_printf(r->ctx->arena, "%s %s needs operand %d (%s) at %s; it is %s",
                              ir_op_name(i->op), ir_value_str(i->res[0], ub, sizeof ub), k,
                              ir_value_str(x, xb, sizeof xb), pl_str(mesh, to, pb, sizeof pb),
                              pl_str(mesh, &x->pl, qb, sizeof qb));
        n->plan = plan_text(r, x, to);
        remember(r, x, to, y);
    }
    i->args[k] = y;
}

bool pass_redistribute(PassCtx *ctx, IrModule *m)
{
    for (int fi = 0; fi < m->nfuncs; fi++) {
        Redist r;
        memset(&r, 0, sizeof r);
        r.ctx = ctx;
        r.m = m;
        r.f = m->funcs[fi];
        r.fw = pass_fwd_new(ctx->arena, r.f);
        r.nlast = r.f->next_id + 1; /* operands are values made before the pass */
        r.last = arena_alloc(ctx->arena, sizeof *r.last * (size_t)r.nlast);
        for (int k = 0; k < r.nlast; k++)
            r.last[k] = -1;
        for (IrInst *i = r.f->first, *next; i; i = next) {
            next = i->next;
            pass_fwd_args(&r.fw, i);
            if (!i->in_pl)
                DTC_BUG("redistribute: instruction without in_pl (propagate did not run)");
            if (i->op == OP_REDISTRIBUTE) {
                user_redistribute(&r, i);
                continue;
            }
            for (int k = 0; k < i->nargs; k++)
                fix_operand(&r, i, k);
        }
        pass_fwd_results(&r.fw, r.f);
    }
    return true;
}
