/* inline.c - pass_inline: replace every call by the callee's body.
 *
 * Requires: sema'd module (calls resolved: a.fn set; no recursion, which sema
 *           rejects), m->entry set.
 * Maintains: SSA; global types; pinned placements.  A callee parameter that
 *           declares a placement becomes a pinned redistribute of the
 *           argument, so the constraint survives inlining.
 * Produces: the entry function with no OP_CALL; the module keeps only the
 *           entry function.
 */
#include "passes/passes.h"

#include <string.h>

/* Clones callee f's body before `at` in g, with f's params bound to args.
 * Writes the values f returns into outs. */
static void inline_body(IrModule *m, IrFunc *g, IrInst *at, const IrFunc *f,
                        IrValue **args, IrValue **outs, int depth)
{
    if (depth > 1000)
        DTC_BUG("inline: call nesting too deep (recursion slipped past sema)");
    /* value id in f -> value in g */
    IrValue **map = arena_alloc(m->arena, sizeof *map * (size_t)(f->next_id + 1));
    for (int k = 0; k < f->nparams; k++) {
        IrValue *p = f->params[k], *arg = args[k];
        if (p->pl.naxes > 0) {
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
            inline_body(m, g, at, i->a.fn, ops, res, depth + 1);
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

bool pass_inline(PassCtx *ctx, IrModule *m)
{
    (void)ctx;
    IrFunc *g = m->entry;
    DTC_ASSERT(g != NULL);
    for (IrInst *i = g->first, *next; i; i = next) {
        next = i->next;
        if (i->op != OP_CALL)
            continue;
        IrValue **res = arena_alloc(m->arena, sizeof *res * (size_t)(i->nres ? i->nres : 1));
        inline_body(m, g, i, i->a.fn, i->args, res, 0);
        for (int k = 0; k < i->nres; k++)
            ir_replace_uses(g, i->res[k], res[k]);
        ir_inst_remove(g, i);
    }
    m->funcs = arena_dup(m->arena, &g, 1, sizeof g);
    m->nfuncs = 1;
    return true;
}
