/* inline.c - pass_inline: replace every call by the callee's body.
 *
 * Requires: sema'd module (calls resolved: a.fn set; no recursion, which sema
 *           rejects; the inlined size within the frontend's limit, which
 *           sema checks), m->entry set.
 * Maintains: SSA; global types; pinned placements.  A callee parameter that
 *           declares a placement becomes a pinned redistribute of the
 *           argument, so the constraint survives inlining.
 * First runs pass_grad (grad.c), which turns every value_and_grad into a
 * call of a generated function, so that this pass inlines it like any call.
 * Produces: the entry function with no OP_CALL; the module keeps only the
 *           entry function and the bodies of its loops.  A loop stays a loop:
 *           its body gets a copy of its own (one per loop instruction, so
 *           that each loop's placements can differ) with the calls inside it
 *           inlined the same way, and nested loops likewise.  The calls in
 *           a local fn's body (OP_LOCAL_CALL's a.fn, ir/local.c) are inlined
 *           into that body.  A call of a fn with sharding rules
 *           (IrFunc.rules) becomes one rule_call instead (ir/rule.c).
 *
 * Iterative, so no call depth is too deep: one walk over a function in
 * program order; a call is replaced by one level of its callee's body
 * (calls in it copied as calls) and the walk goes on at the first copied
 * instruction, so nested calls are expanded when the walk reaches them.
 * Uses of a call's results are redirected through a forwarding table as
 * the walk reaches them (defs precede uses), which keeps the pass linear in
 * the size of the inlined program.
 */
#include "passes/passes.h"

#include <string.h>

typedef struct Inliner {
    IrModule *m;
    IrFunc *g;
    IrValue **fwd; /* value id in g -> its replacement, or NULL */
    int nfwd;
} Inliner;

static void set_fwd(Inliner *in, const IrValue *from, IrValue *to)
{
    if (from->id >= in->nfwd) {
        int n = in->nfwd ? in->nfwd : 64;
        while (n <= from->id)
            n *= 2;
        IrValue **t = arena_alloc(in->m->arena, sizeof *t * (size_t)n);
        if (in->nfwd)
            memcpy(t, in->fwd, sizeof *t * (size_t)in->nfwd);
        in->fwd = t;
        in->nfwd = n;
    }
    in->fwd[from->id] = to;
}

/* v's final replacement (with path compression: chains of `return f(x)`). */
static IrValue *resolve(Inliner *in, IrValue *v)
{
    IrValue *r = v;
    while (r->id < in->nfwd && in->fwd[r->id])
        r = in->fwd[r->id];
    while (v != r) {
        IrValue *next = in->fwd[v->id];
        in->fwd[v->id] = r;
        v = next;
    }
    return r;
}

/* Copies one level of f's body into g before `at` (NULL: at the end; its
 * calls stay calls), f's params bound to args; writes what f returns into
 * outs.  as_call: a placed parameter becomes a pinned redistribute. */
static void copy_body(IrModule *m, IrFunc *g, IrInst *at, const IrFunc *f, IrValue **args,
                      IrValue **outs, bool as_call)
{
    /* value id in f -> value in g */
    IrValue **map = arena_alloc(m->arena, sizeof *map * (size_t)(f->next_id + 1));
    for (int k = 0; k < f->nparams; k++) {
        IrValue *p = f->params[k], *arg = args[k];
        if (as_call && p->pl.naxes > 0) {
            IrInst *r = ir_inst_new(m, g, at, OP_REDISTRIBUTE, 1, &arg, 1, &p->type);
            r->loc = at->loc;
            r->res[0]->pl = p->pl;
            r->res[0]->pinned = true;
            r->res[0]->name = p->name;
            arg = r->res[0];
        }
        map[p->id] = arg;
    }
    IrValue *ops_small[16];
    IrType types_small[8];
    for (const IrInst *i = f->first; i; i = i->next) {
        IrValue **ops = i->nargs <= 16 ? ops_small
                                       : arena_alloc(m->arena, sizeof *ops * (size_t)i->nargs);
        for (int k = 0; k < i->nargs; k++) {
            ops[k] = map[i->args[k]->id];
            DTC_ASSERT(ops[k] != NULL);
        }
        IrType *types = i->nres <= 8 ? types_small
                                     : arena_alloc(m->arena, sizeof *types * (size_t)i->nres);
        for (int k = 0; k < i->nres; k++)
            types[k] = i->res[k]->type;
        IrInst *c = ir_inst_new(m, g, at, i->op, i->nargs, ops, i->nres, types);
        c->a = i->a;
        c->loc = i->loc;
        c->why = i->why;
        for (int k = 0; k < i->nres; k++) {
            IrValue *src = i->res[k], *dst = c->res[k];
            dst->name = src->name;
            dst->pl = src->pl;
            dst->pinned = src->pinned;
            map[src->id] = dst;
        }
    }
    for (int k = 0; k < f->nresults; k++) {
        outs[k] = map[f->results[k]->id];
        DTC_ASSERT(outs[k] != NULL);
    }
}

/* Replaces every call in g by its callee's body, in one walk (see the top). */
void pass_inline_calls(IrModule *m, IrFunc *g, bool keep_rules)
{
    Inliner in = {m, g, NULL, 0};
    for (IrInst *i = g->first, *next; i; i = next) {
        for (int k = 0; k < i->nargs; k++)
            i->args[k] = resolve(&in, i->args[k]);
        next = i->next;
        if (i->op != OP_CALL)
            continue;
        if (keep_rules && i->a.fn && i->a.fn->nrules > 0) { /* a rule fn stays one op (ir/rule.c) */
            i->op = OP_RULE_CALL;
            continue;
        }
        IrInst *before = i->prev;
        DTC_ASSERT(i->a.fn != NULL);
        IrValue **outs = arena_alloc(m->arena, sizeof *outs * (size_t)(i->nres ? i->nres : 1));
        copy_body(m, g, i, i->a.fn, i->args, outs, true);
        for (int k = 0; k < i->nres; k++)
            set_fwd(&in, i->res[k], outs[k]);
        ir_inst_remove(g, i);
        next = before ? before->next : g->first; /* the first copied instruction */
    }
    for (int k = 0; k < g->nresults; k++)
        g->results[k] = resolve(&in, g->results[k]);
}

typedef struct Flat {
    IrModule *m;
    int nbodies, cap;
    IrFunc **bodies;
} Flat;

static bool name_taken(const Flat *fl, const char *name)
{
    if (!strcmp(fl->m->entry->name, name))
        return true;
    for (int k = 0; k < fl->nbodies; k++)
        if (!strcmp(fl->bodies[k]->name, name))
            return true;
    return false;
}

static void flatten(Flat *fl, IrFunc *g, int depth);

/* A copy of loop i's body, calls inlined, for this loop alone. */
static IrFunc *own_body(Flat *fl, const IrInst *i, int depth)
{
    IrModule *m = fl->m;
    const IrFunc *f = i->a.fn;
    const char *name = f->name;
    for (int n = 1; name_taken(fl, name); n++)
        name = arena_printf(m->arena, "%s.%d", f->name, n);
    IrFunc *b = arena_alloc(m->arena, sizeof *b);
    b->name = name;
    b->loc = f->loc;
    IrValue **args = arena_alloc(m->arena, sizeof *args * (size_t)(f->nparams + 1));
    for (int k = 0; k < f->nparams; k++) {
        const IrValue *p = f->params[k];
        args[k] = ir_param_new(m, b, p->name ? p->name : "p", p->type, p->pl, f->inits[k]);
        args[k]->pinned = p->pinned;
    }
    b->nresults = f->nresults;
    b->results = arena_alloc(m->arena, sizeof *b->results * (size_t)(f->nresults + 1));
    b->result_names = arena_alloc(m->arena, sizeof *b->result_names * (size_t)(f->nresults + 1));
    copy_body(m, b, NULL, f, args, b->results, false);
    if (fl->nbodies == fl->cap) {
        fl->cap = fl->cap ? 2 * fl->cap : 4;
        IrFunc **nb = arena_alloc(m->arena, sizeof *nb * (size_t)fl->cap);
        if (fl->nbodies)
            memcpy(nb, fl->bodies, sizeof *nb * (size_t)fl->nbodies);
        fl->bodies = nb;
    }
    fl->bodies[fl->nbodies++] = b;
    flatten(fl, b, depth + 1);
    return b;
}

/* Inlines every call of g, then gives each of its loops its own body (loop
 * nesting is written nesting in the source, so this recursion is shallow). */
static void flatten(Flat *fl, IrFunc *g, int depth)
{
    if (depth > 1000)
        DTC_BUG("inline: loop nesting too deep");
    pass_inline_calls(fl->m, g, true);
    for (IrInst *i = g->first; i; i = i->next)
        if (i->op == OP_LOOP) {
            IrFunc *b = own_body(fl, i, depth);
            i->a.fn = b;
            i->a.callee = b->name;
        }
}

/* The calls in the bodies of g's local fn calls (plain functions without
 * placements or loops: sema_local.c), inlined into each body once. */
static void inline_local_bodies(IrModule *m, IrFunc *g)
{
    for (IrInst *i = g->first; i; i = i->next) {
        if (i->op != OP_LOCAL_CALL)
            continue;
        bool has_call = false;
        for (IrInst *j = i->a.fn->first; j && !has_call; j = j->next)
            has_call = j->op == OP_CALL;
        if (has_call)
            pass_inline_calls(m, i->a.fn, false); /* per-rank code: no rule applies */
    }
}

bool pass_inline(PassCtx *ctx, IrModule *m)
{
    for (int k = 0; ctx->inline_rules && k < m->nfuncs; k++)
        m->funcs[k]->nrules = 0;
    if (!pass_grad(ctx, m)) /* value_and_grad becomes a call first (grad.c) */
        return false;
    IrFunc *g = m->entry;
    DTC_ASSERT(g != NULL);
    Flat fl = {m, 0, 0, NULL};
    flatten(&fl, g, 0);
    /* capacity a power of two, as ir_func_new expects of m->funcs */
    size_t n = (size_t)fl.nbodies + 1, cap = 1;
    while (cap < n)
        cap *= 2;
    m->funcs = arena_alloc(m->arena, sizeof *m->funcs * cap);
    m->funcs[0] = g;
    for (int k = 0; k < fl.nbodies; k++)
        m->funcs[k + 1] = fl.bodies[k];
    m->nfuncs = fl.nbodies + 1;
    for (int k = 0; k < m->nfuncs; k++)
        inline_local_bodies(m, m->funcs[k]);
    return true;
}
