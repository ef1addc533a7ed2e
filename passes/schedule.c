/* schedule.c - pass_schedule: overlap communication with computation.
 *
 * Requires: a module after optimise (collectives planned; local semantics).
 * Produces: (stage "schedule") every collective split into a start (the
 *           collective with async=true) and a `done` whose result is the
 *           collective's value, and the pairs spread apart:
 *   - a start moves up to just below its operand's definition (or the top
 *     of its function), but never above the start before it nor above a
 *     loop: starts keep the collectives' order on every rank, so
 *     pass_check_collectives' proof still holds (the pipeline runs it
 *     after this pass) and every member of a communicator starts the same
 *     collectives in the same order, as MPI requires;
 *   - a done moves down to just above the first instruction that reads the
 *     collective's value (or the end of its function), never below a loop,
 *     so no collective is in flight across a loop and a loop body's
 *     collectives (scheduled in the body) never mix with its caller's;
 *   - a done whose value a start sends on (a ring passing on the block it
 *     received) moves down together with that start, to just above the
 *     first other reader of the value (sink_forwarding), so that each
 *     block's transfer overlaps one step instead of the first one none.
 * Computation between a start and its done runs while the collective is in
 * flight (runtime: rt_*_start / rt_wait).  A pair that ends up with no
 * computation between them is made the blocking collective again.  Every function of the module is
 * scheduled on its own, loop bodies included.
 *
 * Where nothing independent exists (a row-parallel matmul whose result is
 * all-reduced at once), ctx->overlap_chunks >= 2 first decomposes the pair
 * (passes/split_matmul.c) so that the all_reduce of one chunk overlaps the
 * matmul of the next.
 *
 * ctx->no_overlap: the pass changes nothing (the synchronous schedule,
 * `dtc compile --no-overlap`), for comparison.
 *
 * Cost: one walk for the splits and one for the unpairing (uses rewritten
 * through a map as the walk goes); a start moves up at most to the start
 * before it; a done moves down to its value's first reader.
 */
#include <string.h>

#include "ir/ir_text.h"
#include "passes/passes.h"

static bool is_start(const IrInst *i) { return (ir_op_flags(i->op) & OPF_COMM) && i->a.async; }

/* Moves i to just after `after` (NULL: the top of f). */
static void move_after(IrFunc *f, IrInst *i, IrInst *after)
{
    ir_inst_remove(f, i);
    IrInst *next = after ? after->next : f->first;
    i->prev = after;
    i->next = next;
    if (after)
        after->next = i;
    else
        f->first = i;
    if (next)
        next->prev = i;
    else
        f->last = i;
}

/* Moves i to just before `before` (NULL: the end of f). */
static void move_before(IrFunc *f, IrInst *i, IrInst *before)
{
    move_after(f, i, before ? before->prev : (f->last == i ? i->prev : f->last));
}

static bool reads(const IrInst *i, const IrValue *v)
{
    for (int k = 0; k < i->nargs; k++)
        if (i->args[k] == v)
            return true;
    return false;
}

/* Splits collective c into a start (c itself, async) and a done right
 * after it; every later reader of c's value is to read the done's, which
 * the caller records in repl (by the value's id) and applies as it walks
 * on, so that all the splits of a function cost one walk. */
static void split_pair(IrModule *m, IrFunc *f, IrInst *c, IrValue **repl)
{
    IrValue *v = c->res[0];
    IrInst *d = ir_inst_new(m, f, c->next, OP_DONE, 1, &v, 1, &v->type);
    IrValue *w = d->res[0];
    w->pl = v->pl;
    w->name = v->name;
    w->pinned = v->pinned;
    d->loc = c->loc;
    d->in_pl = arena_alloc(m->arena, sizeof *d->in_pl);
    d->in_pl[0] = v->pl;
    repl[v->id] = w;
    c->a.async = true;
}

/* Rewrites i's operands through repl (ids below n; NULL: kept). */
static void rewrite_args(IrInst *i, IrValue *const *repl, int n)
{
    for (int k = 0; k < i->nargs; k++)
        if (i->args[k]->id < n && repl[i->args[k]->id])
            i->args[k] = repl[i->args[k]->id];
}

static void rewrite_results(IrFunc *f, IrValue *const *repl, int n)
{
    for (int k = 0; k < f->nresults; k++)
        if (f->results[k]->id < n && repl[f->results[k]->id])
            f->results[k] = repl[f->results[k]->id];
}

static void schedule_func(IrModule *m, IrFunc *f)
{
    int nids = f->next_id;
    IrValue **repl = arena_alloc(m->arena, sizeof *repl * (size_t)(nids + 1));
    for (IrInst *i = f->first; i; i = i->next) {
        rewrite_args(i, repl, nids);
        if ((ir_op_flags(i->op) & OPF_COMM) && !i->a.async) {
            split_pair(m, f, i, repl);
            i = i->next; /* past the done, which reads the start's value */
        }
    }
    rewrite_results(f, repl, nids);
    /* starts up, in program order (each stops at the one before it) */
    for (IrInst *i = f->first, *next; i; i = next) {
        next = i->next;
        if (!is_start(i))
            continue;
        const IrInst *def = i->args[0]->def;
        IrInst *p = i->prev;
        while (p && p != def && !is_start(p) && p->op != OP_LOOP)
            p = p->prev;
        if (p != i->prev)
            move_after(f, i, p);
    }
    /* dones down, last first; one that stops where later ones already
     * wait goes before them, so that the waits keep the starts' order */
    for (IrInst *i = f->last, *prev; i; i = prev) {
        prev = i->prev;
        if (i->op != OP_DONE)
            continue;
        const IrValue *w = i->res[0];
        IrInst *q = i->next;
        while (q && !reads(q, w) && q->op != OP_LOOP)
            q = q->next;
        IrInst *back = q ? q->prev : f->last;
        while (back && back != i && back->op == OP_DONE) {
            q = back;
            back = back->prev;
        }
        if (q != i->next)
            move_before(f, i, q);
    }
}

/* Is i a start whose operand is the value of a done among run[0..n)? */
static bool forwards(const IrInst *i, IrInst *const *run, int n)
{
    if (!is_start(i))
        return false;
    for (int k = 0; k < n; k++)
        if (run[k]->op == OP_DONE && i->args[0] == run[k]->res[0])
            return true;
    return false;
}

static bool reads_any(const IrInst *i, IrInst *const *run, int n)
{
    for (int k = 0; k < n; k++)
        if (run[k]->op == OP_DONE && reads(i, run[k]->res[0]))
            return true;
    return false;
}

/* A start that passes on what a done received (a ring: each step sends on
 * the block the last one brought, start(ppermute(done(x)))) was moved up to
 * just below that done, which then cannot move below it: the pair stays
 * where the block arrived, so the block is waited for a step early and the
 * first one's transfer overlaps nothing.  Such a run of dones and the
 * starts that forward them moves down as one, in its order, to just above
 * the first instruction that reads one of its dones (or a loop, another
 * start or done, or the end): the block is waited for just before its first
 * use and sent on from there, each transfer overlapping one step.  Runs
 * move last first, so that a later run is out of the way of an earlier
 * one. */
static void sink_forwarding(Arena *ar, IrFunc *f)
{
    int ninst = 0;
    for (IrInst *i = f->first; i; i = i->next)
        ninst++;
    IrInst **all = arena_alloc(ar, sizeof *all * (size_t)(ninst + 1));
    int *len = arena_alloc(ar, sizeof *len * (size_t)(ninst + 1)), nruns = 0, at = 0;
    int *head = arena_alloc(ar, sizeof *head * (size_t)(ninst + 1));
    /* the runs, top down: a done, then dones and starts forwarding them */
    for (IrInst *i = f->first; i;) {
        if (i->op != OP_DONE) {
            i = i->next;
            continue;
        }
        int n = 0;
        bool fwd = false;
        IrInst **run = all + at;
        while (i && (i->op == OP_DONE || forwards(i, run, n))) {
            fwd = fwd || i->op != OP_DONE;
            run[n++] = i;
            i = i->next;
        }
        if (fwd) {
            head[nruns] = at;
            len[nruns++] = n;
            at += n;
        }
    }
    for (int r = nruns - 1; r >= 0; r--) {
        IrInst **run = all + head[r];
        int n = len[r];
        IrInst *q = run[n - 1]->next;
        while (q && q->op != OP_LOOP && q->op != OP_DONE && !is_start(q) && !reads_any(q, run, n))
            q = q->next;
        if (q == run[n - 1]->next)
            continue;
        for (int k = 0; k < n; k++)
            move_before(f, run[k], q);
    }
}

/* A pair with no computation between its start and its done (nothing, or
 * only other collectives' dones) overlaps nothing: it becomes the blocking
 * collective again, issued where its done was (after those dones, passing
 * no start, so the collectives keep their order), since a start and a wait
 * cost more than one blocking call. */
static void unpair_idle(IrModule *m, IrFunc *f)
{
    int nids = f->next_id;
    IrValue **repl = arena_alloc(m->arena, sizeof *repl * (size_t)(nids + 1));
    for (IrInst *d = f->first, *next; d; d = next) {
        next = d->next;
        rewrite_args(d, repl, nids); /* readers of a removed done read its start */
        if (d->op != OP_DONE)
            continue;
        IrInst *c = d->args[0]->def, *p = d->prev;
        while (p != c && p->op == OP_DONE)
            p = p->prev;
        if (p != c)
            continue;
        if (c->next != d)
            move_before(f, c, d);
        repl[d->res[0]->id] = c->res[0];
        ir_inst_remove(f, d);
        c->a.async = false;
    }
    rewrite_results(f, repl, nids);
}

bool pass_schedule(PassCtx *ctx, IrModule *m)
{
    if (ctx->no_overlap)
        return true;
    if (ctx->overlap_chunks >= 2 && !pass_split_matmul(ctx, m))
        return false;
    for (int k = 0; k < m->nfuncs; k++) {
        schedule_func(m, m->funcs[k]);
        sink_forwarding(m->arena, m->funcs[k]);
        unpair_idle(m, m->funcs[k]);
    }
    return true;
}
