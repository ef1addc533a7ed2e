/* optimise.c - pass_optimise: clean-ups on the per-rank program.
 *
 * Requires: a partitioned module.
 * Does: removes redistributes that change nothing (none should survive
 *       partition, but the pass holds for any stage); merges instructions
 *       that repeat an earlier one (same op, operands, attributes, result
 *       type and placement: every op is pure, so e.g. a value gathered twice
 *       for two consumers is gathered once); then dead code: an
 *       instruction none of whose results is used by a later instruction or
 *       returned.  Collectives are never dead if used; every rank removes
 *       the same instructions, so the collective sequences still match.
 * Maintains: everything partition produced (placements, in_pl, local
 *       semantics).  Fusion and buffer reuse are left to code generation.
 */
#include <string.h>

#include "passes/passes.h"

static void drop_noop_redistributes(IrFunc *f)
{
    for (IrInst *i = f->first, *next; i; i = next) {
        next = i->next;
        if (i->op != OP_REDISTRIBUTE || !pl_eq(&i->args[0]->pl, &i->res[0]->pl))
            continue;
        if (!i->args[0]->name)
            i->args[0]->name = i->res[0]->name;
        ir_replace_uses(f, i->res[0], i->args[0]);
        ir_inst_remove(f, i);
    }
}

static bool same_attrs(const IrAttrs *a, const IrAttrs *b)
{
    if (memcmp(&a->f, &b->f, sizeof a->f) != 0 || a->nints != b->nints || a->keepdims != b->keepdims ||
        a->axes != b->axes || a->red != b->red || a->dim != b->dim || a->dim2 != b->dim2 ||
        a->fn != b->fn)
        return false;
    for (int k = 0; k < a->nints; k++)
        if (a->ints[k] != b->ints[k])
            return false;
    return true;
}

static bool same_inst(const IrInst *a, const IrInst *b)
{
    if (a->op != b->op || a->nargs != b->nargs || a->nres != 1 || b->nres != 1)
        return false;
    for (int k = 0; k < a->nargs; k++)
        if (a->args[k] != b->args[k])
            return false;
    return same_attrs(&a->a, &b->a) && ir_type_eq(&a->res[0]->type, &b->res[0]->type) &&
           pl_eq(&a->res[0]->pl, &b->res[0]->pl);
}

/* Common subexpressions.  Quadratic, but only over instructions of the same
 * first operand, which keeps it cheap on real programs. */
static void merge_repeats(IrFunc *f)
{
    for (IrInst *i = f->first; i; i = i->next) {
        for (IrInst *j = i->next, *next; j; j = next) {
            next = j->next;
            if (!same_inst(i, j) || j->res[0]->pinned != i->res[0]->pinned)
                continue;
            if (!i->res[0]->name)
                i->res[0]->name = j->res[0]->name;
            ir_replace_uses(f, j->res[0], i->res[0]);
            ir_inst_remove(f, j);
        }
    }
}

static void dead_code(Arena *ar, IrFunc *f)
{
    int *uses = arena_alloc(ar, sizeof *uses * (size_t)(f->next_id + 1));
    for (IrInst *i = f->first; i; i = i->next)
        for (int k = 0; k < i->nargs; k++)
            uses[i->args[k]->id]++;
    for (int k = 0; k < f->nresults; k++)
        uses[f->results[k]->id]++;
    for (IrInst *i = f->last, *prev; i; i = prev) {
        prev = i->prev;
        bool live = false;
        for (int r = 0; r < i->nres; r++)
            if (uses[i->res[r]->id] > 0)
                live = true;
        if (live)
            continue;
        for (int k = 0; k < i->nargs; k++)
            uses[i->args[k]->id]--;
        ir_inst_remove(f, i);
    }
}

bool pass_optimise(PassCtx *ctx, IrModule *m)
{
    for (int k = 0; k < m->nfuncs; k++) {
        drop_noop_redistributes(m->funcs[k]);
        merge_repeats(m->funcs[k]);
        dead_code(ctx->arena, m->funcs[k]);
    }
    return true;
}
