/* loop.c - the loop instruction's invariants (see ir.h, "loops"): the body's
 * signature against the operands, shared by ir_infer and ir_verify.
 */
#include <string.h>

#include "ir/ir.h"

IrType ir_loop_slice_type(const IrType *stacked)
{
    IrType t = *stacked;
    if (t.rank > 0) {
        t.rank--;
        memmove(t.dims, t.dims + 1, sizeof t.dims[0] * (size_t)t.rank);
        t.dims[t.rank] = 0;
    }
    return t;
}

static const char *ts(Arena *ar, const IrType *t)
{
    char b[128];
    return arena_strdup(ar, ir_type_str(t, b, sizeof b));
}

const char *ir_loop_check(Arena *ar, const IrInst *i)
{
    const IrAttrs *a = &i->a;
    const IrFunc *g = a->fn;
    if (!g)
        return arena_printf(ar, "loop: body '%s' is not resolved", a->callee ? a->callee : "?");
    if (a->trip < 0 || a->ncarry < 0 || a->nstack < 0 || a->ncarry + a->nstack > i->nargs)
        return arena_printf(ar, "loop: trip=%lld carry=%d stack=%d do not fit %d operands",
                            (long long)a->trip, a->ncarry, a->nstack, i->nargs);
    if (g->nparams != i->nargs)
        return arena_printf(ar, "loop: body @%s takes %d parameters, the loop passes %d", g->name,
                            g->nparams, i->nargs);
    if (g->nresults != a->ncarry || i->nres != a->ncarry)
        return arena_printf(ar, "loop: %d carried values, but body @%s returns %d and the loop defines %d",
                            a->ncarry, g->name, g->nresults, i->nres);
    for (int k = 0; k < i->nargs; k++) {
        const IrType *at = &i->args[k]->type;
        IrType want = *at;
        if (k >= a->ncarry && k < a->ncarry + a->nstack) {
            if (at->rank < 1 || at->dims[0] != a->trip)
                return arena_printf(ar, "loop: stacked operand %d is %s, its dim 0 must be the trip count %lld",
                                    k, ts(ar, at), (long long)a->trip);
            want = ir_loop_slice_type(at);
        }
        if (!g->params[k] || !ir_type_eq(&want, &g->params[k]->type))
            return arena_printf(ar, "loop: body parameter %d must be %s, is %s", k, ts(ar, &want),
                                g->params[k] ? ts(ar, &g->params[k]->type) : "missing");
    }
    for (int k = 0; k < a->ncarry; k++) {
        const IrType *ct = &i->args[k]->type;
        if (!g->results || !g->results[k] || !ir_type_eq(&g->results[k]->type, ct))
            return arena_printf(ar, "loop: carried value %d is %s but the body returns %s", k, ts(ar, ct),
                                g->results && g->results[k] ? ts(ar, &g->results[k]->type) : "nothing");
        if (!ir_type_eq(&i->res[k]->type, ct))
            return arena_printf(ar, "loop: result %d is %s, the carried value is %s", k,
                                ts(ar, &i->res[k]->type), ts(ar, ct));
    }
    return NULL;
}

bool ir_func_is_loop_body(const IrModule *m, const IrFunc *f)
{
    for (int k = 0; k < m->nfuncs; k++)
        for (const IrInst *i = m->funcs[k]->first; i; i = i->next)
            if (i->op == OP_LOOP && i->a.fn == f)
                return true;
    return false;
}
