/* inline.c - pass_inline: replace every call by the callee's body.
 *
 * Requires: sema'd module (calls resolved: a.fn set; no recursion, which sema
 *           rejects), m->entry set.
 * Maintains: SSA; global types; pinned placements.  A callee parameter that
 *           declares a placement becomes a pinned redistribute of the
 *           argument, so the constraint survives inlining.
 * Produces: the entry function with no OP_CALL; the module keeps only the
 *           entry function and the bodies of its loops.  A loop stays a loop:
 *           its body gets a copy of its own (one per loop instruction, so
 *           that each loop's placements can differ) with the calls inside it
 *           inlined the same way, and nested loops likewise.
 */
#include "passes/passes.h"

#include <string.h>

/* Clones callee f's body before `at` in g, with f's params bound to args.
 * Writes the values f returns into outs. */
static void inline_body(IrModule *m, IrFunc *g, IrInst *at, const IrFunc *f,
                        IrValue **args, IrValue **outs, int depth, bool as_call)
{
    if (depth > 1000)
        DTC_BUG("inline: call nesting too deep (recursion slipped past sema)");
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
    for (const IrInst *i = f->first; i; i = i->next) {
        IrValue *ops[64];
        if (i->nargs > 64)
            DTC_BUG("inline: too many operands");
        for (int k = 0; k < i->nargs; k++) {
            ops[k] = map[i->args[k]->id];
            DTC_ASSERT(ops[k] != NULL);
        }
        if (i->op == OP_CALL) {
            IrValue **res = arena_alloc(m->arena, sizeof *res * (size_t)(i->nres ? i->nres : 1));
            inline_body(m, g, at, i->a.fn, ops, res, depth + 1, true);
            for (int k = 0; k < i->nres; k++)
                map[i->res[k]->id] = res[k];
            continue;
        }
        IrType types[8];
        DTC_ASSERT(i->nres <= 8);
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
    inline_body(m, b, NULL, f, args, b->results, depth, false);
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

/* Inlines every call of g, then gives each of its loops its own body. */
static void flatten(Flat *fl, IrFunc *g, int depth)
{
    if (depth > 1000)
        DTC_BUG("inline: loop nesting too deep");
    for (IrInst *i = g->first, *next; i; i = next) {
        next = i->next;
        if (i->op != OP_CALL)
            continue;
        IrValue **res = arena_alloc(fl->m->arena, sizeof *res * (size_t)(i->nres ? i->nres : 1));
        inline_body(fl->m, g, i, i->a.fn, i->args, res, 0, true);
        for (int k = 0; k < i->nres; k++)
            ir_replace_uses(g, i->res[k], res[k]);
        ir_inst_remove(g, i);
    }
    for (IrInst *i = g->first; i; i = i->next)
        if (i->op == OP_LOOP) {
            IrFunc *b = own_body(fl, i, depth);
            i->a.fn = b;
            i->a.callee = b->name;
        }
}

bool pass_inline(PassCtx *ctx, IrModule *m)
{
    (void)ctx;
    IrFunc *g = m->entry;
    DTC_ASSERT(g != NULL);
    Flat fl = {m, 0, 0, NULL};
    flatten(&fl, g, 0);
    m->funcs = arena_alloc(m->arena, sizeof *m->funcs * (size_t)(fl.nbodies + 1));
    m->funcs[0] = g;
    for (int k = 0; k < fl.nbodies; k++)
        m->funcs[k + 1] = fl.bodies[k];
    m->nfuncs = fl.nbodies + 1;
    return true;
}
