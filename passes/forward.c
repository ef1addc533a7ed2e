/* forward.c - PassForward: replacing values in one walk (see passes.h).
 *
 * A pass records `from -> to` when it removes an instruction whose result
 * is the same as another value, forwards each instruction's operands as it
 * reaches it, and the function's results at the end.  Chains (a -> b -> c)
 * resolve to their end.  Values made after pass_fwd_new are never sources.
 */
#include "passes/passes.h"

PassForward pass_fwd_new(Arena *ar, const IrFunc *f)
{
    PassForward fw = {arena_alloc(ar, sizeof(IrValue *) * (size_t)(f->next_id + 1)), f->next_id + 1};
    return fw;
}

void pass_fwd_set(PassForward *fw, const IrValue *from, IrValue *to)
{
    DTC_ASSERT(from->id < fw->n);
    fw->to[from->id] = to;
}

IrValue *pass_fwd_get(const PassForward *fw, IrValue *v)
{
    while (v->id < fw->n && fw->to[v->id])
        v = fw->to[v->id];
    return v;
}

void pass_fwd_args(const PassForward *fw, IrInst *i)
{
    for (int k = 0; k < i->nargs; k++)
        i->args[k] = pass_fwd_get(fw, i->args[k]);
}

void pass_fwd_results(const PassForward *fw, IrFunc *f)
{
    for (int k = 0; k < f->nresults; k++)
        f->results[k] = pass_fwd_get(fw, f->results[k]);
}
