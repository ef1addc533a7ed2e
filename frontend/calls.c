/* calls.c - how big the program is once every call is inlined
 * (fe_internal.h: fe_check_inlined_size).
 *
 * pass_inline replaces every call by a copy of the callee's body, so the
 * compiled program is the entry function with each call replaced by its
 * callee's inlined size: `f_i(a) = f_{i-1}(a) + f_{i-1}(a)` doubles per
 * level, and 25 levels would be 100 million operations.  A loop counts its
 * body once (the body is one copy, run trip times).  This check runs on
 * the module sema built (calls resolved, no recursion) and reports, with
 * its location, the first function on the way from the entry whose inlined
 * size passes the limit, so that `dtc check` says what `dtc compile` would
 * run into.  Sizes are counted with an explicit stack (call chains may be
 * 100,000 deep) and saturate just above the limit (they may be
 * astronomically large).
 */
#include <stdlib.h>
#include <string.h>

#include "frontend/fe_internal.h"

typedef struct FnSize {
    const IrFunc *f;
    int64_t size;   /* inlined operations, at most limit + 1 */
    int state;      /* 0 not seen, 1 on the stack, 2 done */
    const IrInst *cursor; /* on the stack: the next instruction to count */
} FnSize;

/* The function whose inlined body instruction i brings in: a call's
 * callee, a loop's body (copied once per loop), a local fn's body (spliced
 * in by partition, with the calls in it inlined); NULL for other ops. */
static const IrFunc *nested(const IrInst *i)
{
    return i->op == OP_CALL || i->op == OP_LOOP || i->op == OP_GRAD || i->op == OP_LOCAL_CALL ? i->a.fn
                                                                                               : NULL;
}

/* What such an instruction adds besides that body: a call, the redistribute
 * that pins each placed parameter; a loop, itself. */
static int64_t overhead(const IrInst *i)
{
    if (i->op == OP_LOOP)
        return 1;
    const IrFunc *f = i->a.fn;
    int64_t n = 0;
    for (int k = 0; k < f->nparams; k++)
        n += f->params[k]->pl.naxes > 0;
    return n;
}

static FnSize *info(Arena *a, FeNames *t, const IrFunc *f)
{
    FnSize *s = fe_names_get(t, f->name);
    if (!s) {
        s = arena_alloc(a, sizeof *s);
        s->f = f;
        fe_names_put(t, f->name, s);
    }
    return s;
}

static int64_t sat_add(int64_t x, int64_t y, int64_t cap)
{
    return x >= cap - y ? cap : x + y;
}

/* Inlined sizes of every function reachable from root (post-order, with an
 * explicit stack). */
static void count_sizes(Arena *a, FeNames *t, FnSize *root, int64_t cap)
{
    int n = 0, max = 64;
    FnSize **stack = arena_alloc(a, sizeof *stack * (size_t)max);
    stack[n++] = root;
    root->state = 1;
    root->cursor = root->f->first;
    while (n > 0) {
        FnSize *s = stack[n - 1];
        const IrInst *i = s->cursor;
        if (!i) {
            s->state = 2;
            n--;
            continue;
        }
        if (!nested(i)) {
            s->size = sat_add(s->size, 1, cap);
            s->cursor = i->next;
            continue;
        }
        FnSize *c = info(a, t, nested(i));
        if (c->state == 2) {
            s->size = sat_add(s->size, sat_add(c->size, overhead(i), cap), cap);
            s->cursor = i->next;
            continue;
        }
        if (c->state == 1)
            DTC_BUG("recursion slipped past sema");
        if (n == max) {
            FnSize **bigger = arena_alloc(a, sizeof *bigger * (size_t)(2 * max));
            memcpy(bigger, stack, sizeof *stack * (size_t)n);
            stack = bigger;
            max *= 2;
        }
        c->state = 1;
        c->cursor = c->f->first;
        stack[n++] = c; /* counted; s's cursor stays on the call until c is done */
    }
}

bool fe_check_inlined_size(Arena *a, Diag *d, const IrModule *m, int64_t limit)
{
    if (!m || !m->entry)
        return true;
    int64_t cap = limit + 1;
    FeNames *t = fe_names_new(a);
    FnSize *root = info(a, t, m->entry);
    count_sizes(a, t, root, cap);
    if (root->size <= limit)
        return true;

    /* Down from the entry to the deepest function still over the limit,
     * remembering the path for the message. */
    int npath = 0, maxpath = 64;
    const IrInst **path = arena_alloc(a, sizeof *path * (size_t)maxpath);
    const IrFunc *f = m->entry;
    for (;;) {
        const IrInst *over = NULL;
        for (const IrInst *i = f->first; i && !over; i = i->next)
            if (nested(i) && info(a, t, nested(i))->size > limit)
                over = i;
        if (!over)
            break;
        if (npath == maxpath) {
            const IrInst **bigger = arena_alloc(a, sizeof *bigger * (size_t)(2 * maxpath));
            memcpy(bigger, path, sizeof *path * (size_t)npath);
            path = bigger;
            maxpath *= 2;
        }
        path[npath++] = over;
        f = nested(over);
    }
    /* f's calls each fit, so its exact size fits in 64 bits; the error is at
     * the operation (usually a call) that takes it past the limit. */
    int64_t total = 0;
    const IrInst *at = NULL;
    for (const IrInst *i = f->first; i; i = i->next) {
        total += nested(i) ? info(a, t, nested(i))->size + overhead(i) : 1;
        if (!at && total > limit)
            at = i;
    }
    SrcLoc loc = at ? at->loc : f->loc;
    diag_error(d, loc, "inlining every call makes '%s' %lld operations, more than the %lld that "
               "a compiled program may have (each call is replaced by a copy of its callee's body)",
               f->name, (long long)total, (long long)limit);
    if (npath > 0) {
        char buf[256];
        size_t len = (size_t)snprintf(buf, sizeof buf, "%s", m->entry->name);
        for (int k = 0; k < npath && len < sizeof buf; k++) {
            if (npath > 6 && k >= 3 && k < npath - 3) { /* the middle of a long chain */
                if (k == 3)
                    len += (size_t)snprintf(buf + len, sizeof buf - len, " -> ...");
                continue;
            }
            len += (size_t)snprintf(buf + len, sizeof buf - len, " -> %s", nested(path[k])->name);
        }
        diag_note(d, path[0]->loc, "'%s' is reached from '%s' through %s", f->name,
                  m->entry->name, buf);
    }
    return false;
}
