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
 *       semantics).  Fusion is pass_fuse's (fuse.c), buffer reuse code
 *       generation's.
 */
#include <stdint.h>
#include <string.h>

#include "passes/passes.h"

static void drop_noop_redistributes(Arena *ar, IrFunc *f)
{
    PassForward fw = pass_fwd_new(ar, f);
    for (IrInst *i = f->first, *next; i; i = next) {
        next = i->next;
        pass_fwd_args(&fw, i);
        if (i->op != OP_REDISTRIBUTE || !pl_eq(&i->args[0]->pl, &i->res[0]->pl))
            continue;
        if (!i->args[0]->name)
            i->args[0]->name = i->res[0]->name;
        pass_fwd_set(&fw, i->res[0], i->args[0]);
        ir_inst_remove(f, i);
    }
    pass_fwd_results(&fw, f);
}


static bool same_inst(const IrInst *a, const IrInst *b)
{
    if (a->op != b->op || a->nargs != b->nargs || a->nres != 1 || b->nres != 1)
        return false;
    for (int k = 0; k < a->nargs; k++)
        if (a->args[k] != b->args[k])
            return false;
    return ir_attrs_eq(a->op, &a->a, &b->a) && ir_type_eq(&a->res[0]->type, &b->res[0]->type) &&
           pl_eq(&a->res[0]->pl, &b->res[0]->pl);
}

/* What same_inst compares, hashed (equal instructions hash equal). */
static uint64_t inst_hash(const IrInst *i)
{
    uint64_t h = 1469598103934665603ull;
#define MIX(x) (h = (h ^ (uint64_t)(x)) * 1099511628211ull)
    MIX(i->op);
    MIX(i->nargs);
    for (int k = 0; k < i->nargs; k++)
        MIX(i->args[k]->id);
    uint64_t fb;
    memcpy(&fb, &i->a.f, sizeof fb);
    MIX(fb);
    MIX(i->a.nints);
    for (int k = 0; k < i->a.nints; k++)
        MIX(i->a.ints[k]);
    MIX(i->a.axes);
    MIX(i->a.dim);
#undef MIX
    return h;
}

/* Common subexpressions, with a hash table of the instructions kept so far
 * (linear in the program). */
static void merge_repeats(Arena *ar, IrFunc *f)
{
    size_t n = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        n++;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    IrInst **table = arena_alloc(ar, sizeof *table * cap);
    PassForward fw = pass_fwd_new(ar, f);
    for (IrInst *i = f->first, *next; i; i = next) {
        next = i->next;
        pass_fwd_args(&fw, i);
        if (i->nres != 1)
            continue;
        size_t s = (size_t)inst_hash(i) & (cap - 1);
        IrInst *j;
        while ((j = table[s]) && !(same_inst(j, i) && j->res[0]->pinned == i->res[0]->pinned))
            s = (s + 1) & (cap - 1);
        if (!j) {
            table[s] = i;
            continue;
        }
        if (!j->res[0]->name)
            j->res[0]->name = i->res[0]->name;
        pass_fwd_set(&fw, i->res[0], j->res[0]);
        ir_inst_remove(f, i);
    }
    pass_fwd_results(&fw, f);
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
        drop_noop_redistributes(ctx->arena, m->funcs[k]);
        merge_repeats(ctx->arena, m->funcs[k]);
        dead_code(ctx->arena, m->funcs[k]);
    }
    return true;
}
