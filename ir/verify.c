/* verify.c - ir_verify: the invariants that hold between passes.
 *
 * Stages are cumulative; after stage S every rule of S and of the stages
 * before it holds:
 *   sema          structure (lists, def links, param indices), SSA (operands
 *                 defined earlier in the function, ids unique and below
 *                 next_id), operand and result counts, result types equal to
 *                 ir_infer's (call: the callee's signature), placements
 *                 well-formed against the mesh, pinned => decided, calls
 *                 resolved, no collectives or local layout ops yet; a
 *                 local_call's operands and results split evenly into its
 *                 body's local types (ir_local_call_check).
 *   inline        no call.
 *   propagate     every value placed; every instruction with operands has
 *                 in_pl, each entry placed and well-formed.
 *   redistribute  every operand's placement equals its in_pl.
 *   ring_attention  the same (the ring's local_calls are checked as any).
 *   partition     no redistribute; collectives and local layout ops change
 *   optimise      exactly the placements on their `axes` that their kind
 *                 says (all_reduce P(red) -> R, reduce_scatter P(red) ->
 *                 S(dim), all_gather S(dim) -> R, all_to_all S(dim) ->
 *                 S(dim2), shard R -> S(dim), to_partial R -> P(red)), keep
 *                 every other axis, and only gather or create the innermost
 *                 split of a dim (plan.h); a local_view keeps every rank's
 *                 local element count (ir/local.c).
 *   schedule      collectives may be async (started only) and `done`
 *                 appears, nowhere before: an async collective's result
 *                 has exactly one use, a `done` after it in its function,
 *                 and is no result of the function (nothing but the pair
 *                 touches the value in flight); a `done` takes an async
 *                 collective's result and keeps its type and placement.
 *   fuse          fusion groups (group=, passes/fuse.c) appear, nowhere
 *                 before: a member's root is a root (no group=) of the
 *                 same function defined after it, the member is no result
 *                 of the function, something reads it, and every use of
 *                 it is by its root or by another member of the same group
 *                 (so it feeds the root and nothing outside); `each` is
 *                 for const and iota only.
 * "Pinned values keep their placement" needs the previous IR; it is the
 * passes' job, the verifier only checks pinned values are placed.
 *
 * Problems print as "verify after STAGE: %v in @f: PROBLEM", one per line.
 */
#include <stdarg.h>
#include <string.h>

#include "ir/ir_text.h"
#include "runtime/core/rt_core.h"

#define MAX_REPORTED 100 /* problems printed; the rest are only counted */
#define MAX_ID (1 << 24)

enum { ST_SEMA, ST_INLINE, ST_PROPAGATE, ST_REDISTRIBUTE, ST_RING, ST_PARTITION, ST_OPTIMISE, ST_SCHEDULE,
       ST_FUSE };
static const char *const stage_names[] = {"sema", "inline", "propagate", "redistribute", "ring_attention",
                                          "partition", "optimise", "schedule", "fuse"};

typedef struct V {
    const IrModule *m;
    Arena *ar;
    const char *stage;
    int level;          /* ST_... */
    FILE *err;
    int n;              /* problems found */
    const IrFunc *f;    /* function being checked, or NULL */
    const IrValue **all;  /* id -> value defined anywhere in f */
    const IrValue **seen; /* id -> value defined so far */
    int cap;
} V;

static void __attribute__((format(printf, 4, 5)))
problem(V *c, const IrInst *i, const IrValue *v, const char *fmt, ...)
{
    if (c->n++ >= MAX_REPORTED)
        return;
    char buf[256];
    if (!v && i && i->nres > 0 && i->res)
        v = i->res[0];
    fprintf(c->err, "verify after %s: ", c->stage);
    if (v)
        fprintf(c->err, "%s ", ir_value_str(v, buf, sizeof buf));
    else if (i)
        fprintf(c->err, "%s ", (unsigned)i->op < OP_COUNT ? ir_op_name(i->op) : "?op");
    if (c->f)
        fprintf(c->err, "%s@%s: ", v || i ? "in " : "", c->f->name ? c->f->name : "?");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->err, fmt, ap);
    va_end(ap);
    fputc('\n', c->err);
}

static const char *vs(V *c, const IrValue *v)
{
    char buf[256];
    return arena_strdup(c->ar, ir_value_str(v, buf, sizeof buf));
}

static const char *ts(V *c, const IrType *t)
{
    char buf[256];
    return arena_strdup(c->ar, ir_type_str(t, buf, sizeof buf));
}

static const char *ps(V *c, const Placement *p)
{
    char buf[256];
    if (p->naxes == 0)
        return "undecided";
    return arena_strdup(c->ar, pl_str(&c->m->mesh, p, buf, sizeof buf));
}

static const char *es(V *c, const PlEntry *e)
{
    if (e->kind == PL_R)
        return "R";
    if (e->kind == PL_S)
        return arena_printf(c->ar, "S(%d)", e->dim);
    return arena_printf(c->ar, "P(%s)", ir_red_name(e->red));
}

static const char *axis_name(V *c, int a)
{
    const char *n = a < c->m->mesh.naxes ? c->m->mesh.axis_name[a] : NULL;
    return n ? n : arena_printf(c->ar, "%d", a);
}

/* ---- values ---------------------------------------------------------------- */
static bool type_ok(const IrType *t)
{
    if ((unsigned)t->dtype >= DT_COUNT || t->rank < 0 || t->rank > IR_MAX_RANK)
        return false;
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] < 0)
            return false;
    return true;
}

/* A placement fits the mesh and a value of rank `rank`. */
static bool pl_ok(V *c, const IrInst *i, const IrValue *v, const Placement *p, int rank,
                  const char *what)
{
    int n = c->m->mesh.naxes;
    if (p->naxes == 0)
        return true;
    if (p->naxes != n) {
        problem(c, i, v, "%s has %d entr%s but the mesh has %d ax%s", what, p->naxes,
                p->naxes == 1 ? "y" : "ies", n, n == 1 ? "is" : "es");
        return false;
    }
    bool ok = true;
    for (int a = 0; a < n; a++) {
        const PlEntry *e = &p->e[a];
        if (e->kind == PL_S && (e->dim < 0 || e->dim >= rank)) {
            problem(c, i, v, "%s: S(%d) on axis %s is out of range for rank %d", what, e->dim,
                    axis_name(c, a), rank);
            ok = false;
        } else if (e->kind == PL_P && (unsigned)e->red > RED_AVG) {
            problem(c, i, v, "%s: bad partial kind %d on axis %s", what, (int)e->red, axis_name(c, a));
            ok = false;
        } else if ((unsigned)e->kind > PL_P) {
            problem(c, i, v, "%s: bad entry kind %d on axis %s", what, (int)e->kind, axis_name(c, a));
            ok = false;
        }
    }
    return ok;
}

static void check_value(V *c, const IrInst *i, const IrValue *v)
{
    if (v->id < 0 || v->id >= c->f->next_id)
        problem(c, i, v, "id %d is not in [0, next_id = %d)", v->id, c->f->next_id);
    if (!type_ok(&v->type)) {
        problem(c, i, v, "malformed type (dtype %d, rank %d, or a negative dim)", (int)v->type.dtype,
                v->type.rank);
        return;
    }
    pl_ok(c, i, v, &v->pl, v->type.rank, "placement");
    if (c->m->mesh.naxes > 0 && v->pl.naxes == 0) {
        if (v->pinned)
            problem(c, i, v, "is pinned but has no placement");
        else if (c->level >= ST_PROPAGATE)
            problem(c, i, v, "has no placement after propagate");
    }
}

/* ---- types --------------------------------------------------------------------- */
static void check_call(V *c, const IrInst *i)
{
    const IrFunc *g = i->a.fn;
    if (!g) {
        problem(c, i, NULL, "call to unresolved function @%s", i->a.callee ? i->a.callee : "?");
        return;
    }
    bool found = false;
    for (int k = 0; k < c->m->nfuncs; k++)
        found |= c->m->funcs[k] == g;
    if (!found) {
        problem(c, i, NULL, "calls @%s, which is not in the module", g->name ? g->name : "?");
        return;
    }
    if (i->a.callee && g->name && strcmp(i->a.callee, g->name))
        problem(c, i, NULL, "callee name @%s but the resolved function is @%s", i->a.callee, g->name);
    if (i->nargs != g->nparams)
        problem(c, i, NULL, "passes %d arguments, @%s takes %d", i->nargs, g->name, g->nparams);
    else
        for (int k = 0; k < i->nargs; k++)
            if (g->params[k] && !ir_type_eq(&i->args[k]->type, &g->params[k]->type))
                problem(c, i, NULL, "argument %d (%s) is %s, @%s expects %s", k, vs(c, i->args[k]),
                        ts(c, &i->args[k]->type), g->name, ts(c, &g->params[k]->type));
    if (i->nres != g->nresults)
        problem(c, i, NULL, "has %d results, @%s returns %d", i->nres, g->name, g->nresults);
    else
        for (int k = 0; k < i->nres; k++)
            if (g->results && g->results[k] && !ir_type_eq(&i->res[k]->type, &g->results[k]->type))
                problem(c, i, i->res[k], "result %d is %s, @%s returns %s", k, ts(c, &i->res[k]->type),
                        g->name, ts(c, &g->results[k]->type));
}

/* value_and_grad: the callee's signature, a scalar float value, one
 * gradient of each wrt operand's type. */
static void check_grad(V *c, const IrInst *i)
{
    const IrFunc *g = i->a.fn;
    if (!g) {
        problem(c, i, NULL, "grad of unresolved function @%s", i->a.callee ? i->a.callee : "?");
        return;
    }
    if (i->nargs != g->nparams || g->nresults != 1 || i->nres != 1 + i->a.nints) {
        problem(c, i, NULL, "grad of @%s: %d operands, %d results for %d wrt entries", g->name, i->nargs,
                i->nres, i->a.nints);
        return;
    }
    for (int k = 0; k < i->nargs; k++)
        if (g->params[k] && !ir_type_eq(&i->args[k]->type, &g->params[k]->type))
            problem(c, i, NULL, "argument %d (%s) is %s, @%s expects %s", k, vs(c, i->args[k]),
                    ts(c, &i->args[k]->type), g->name, ts(c, &g->params[k]->type));
    for (int k = 0; k < i->a.nints; k++) {
        int64_t w = i->a.ints[k];
        if (w < 0 || w >= i->nargs)
            problem(c, i, NULL, "wrt %lld out of range", (long long)w);
        else if (!ir_type_eq(&i->res[k + 1]->type, &i->args[w]->type))
            problem(c, i, i->res[k + 1], "gradient %d is %s, operand %lld is %s", k, ts(c, &i->res[k + 1]->type),
                    (long long)w, ts(c, &i->args[w]->type));
    }
}

/* rule_call: a rule fn (not in the module after inline), its signature. */
static void check_rule_call(V *c, const IrInst *i)
{
    const IrFunc *g = i->a.fn;
    if (!g || g->nrules <= 0 || g->nresults != 1 || i->nres != 1 || i->nargs != g->nparams) {
        problem(c, i, NULL, "rule_call @%s: not a one-result fn with sharding rules and its operands",
                i->a.callee ? i->a.callee : "?");
        return;
    }
    for (int k = 0; k < i->nargs; k++)
        if (!ir_type_eq(&i->args[k]->type, &g->params[k]->type))
            problem(c, i, NULL, "argument %d (%s) is %s, @%s expects %s", k, vs(c, i->args[k]),
                    ts(c, &i->args[k]->type), g->name, ts(c, &g->params[k]->type));
    if (!ir_type_eq(&i->res[0]->type, &g->results[0]->type))
        problem(c, i, i->res[0], "result is %s, @%s returns %s", ts(c, &i->res[0]->type), g->name,
                ts(c, &g->results[0]->type));
    for (int r = 0; r < g->nrules; r++) {
        const IrRule *u = &g->rules[r];
        for (int k = 0; k <= i->nargs; k++) {
            const PlEntry *e = k < i->nargs ? &u->in[k] : &u->out;
            int rank = k < i->nargs ? i->args[k]->type.rank : i->res[0]->type.rank;
            if ((unsigned)e->kind > PL_P || (e->kind == PL_S && (e->dim < 0 || e->dim >= rank)))
                problem(c, i, NULL, "rule_call @%s: strategy %d's entry %d is out of range", g->name, r + 1, k);
        }
    }
}

static void check_type(V *c, const IrInst *i)
{
    if (i->op == OP_RULE_CALL) {
        check_rule_call(c, i);
        return;
    }
    if (i->op == OP_CALL) {
        check_call(c, i);
        return;
    }
    if (i->op == OP_GRAD) {
        check_grad(c, i);
        return;
    }
    if (i->op == OP_LOCAL_CALL) {
        const char *e = ir_local_call_check(c->ar, &c->m->mesh, i);
        if (e)
            problem(c, i, NULL, "%s", e);
        return;
    }
    if (i->op == OP_LOCAL_VIEW) {
        if (i->nres == 1 && type_ok(&i->args[0]->type) && type_ok(&i->res[0]->type) &&
            i->args[0]->pl.naxes == c->m->mesh.naxes && i->res[0]->pl.naxes == c->m->mesh.naxes &&
            !ir_local_view_ok(&c->m->mesh, i->args[0], i->res[0]))
            problem(c, i, NULL, "local_view changes a rank's local element count or the dtype");
        return;
    }
    if (i->op == OP_LOOP) {
        bool found = false;
        for (int k = 0; k < c->m->nfuncs; k++)
            found |= c->m->funcs[k] == i->a.fn;
        const char *e = found ? ir_loop_check(c->ar, i) : "loop: the body is not in the module";
        if (e)
            problem(c, i, NULL, "%s", e);
        return;
    }
    IrType args[64];
    if (i->nargs > 64 || i->nres != 1)
        return; /* reported as a count problem */
    for (int k = 0; k < i->nargs; k++) {
        if (!type_ok(&i->args[k]->type))
            return; /* reported at its definition */
        args[k] = i->args[k]->type;
    }
    const IrValue *r = i->res[0];
    if (!type_ok(&r->type))
        return;
    IrType out;
    memset(&out, 0, sizeof out);
    out.dtype = r->type.dtype; /* const and cast take their dtype from the result */
    const char *msg = ir_infer(c->ar, i->op, i->nargs, args, &i->a, &out);
    if (msg)
        problem(c, i, NULL, "%s", msg);
    else if (!ir_type_eq(&out, &r->type))
        problem(c, i, NULL, "has type %s but %s of its operands gives %s", ts(c, &r->type),
                ir_op_name(i->op), ts(c, &out));
}

/* ---- collectives after partition ------------------------------------------------- */
static bool entry_eq(const PlEntry *x, const PlEntry *y)
{
    if (x->kind != y->kind)
        return false;
    return x->kind == PL_R || (x->kind == PL_S ? x->dim == y->dim : x->red == y->red);
}

/* A split of `dim` on an axis outside `axes` but inside (higher than) one of
 * them: the collective would touch an outer split of a nested dim. */
static int inner_split(const Placement *p, unsigned axes, int dim, int naxes)
{
    int lo = 0;
    while (lo < naxes && !(axes & (1u << lo)))
        lo++;
    for (int b = lo + 1; b < naxes; b++)
        if (!(axes & (1u << b)) && p->e[b].kind == PL_S && p->e[b].dim == dim)
            return b;
    return -1;
}

static void check_coll(V *c, const IrInst *i)
{
    const IrAttrs *at = &i->a;
    const char *op = ir_op_name(i->op);
    int n = c->m->mesh.naxes;
    const IrValue *x = i->args[0], *y = i->res[0];
    int rank = x->type.rank;
    if (at->axes == 0)
        problem(c, i, NULL, "%s over no mesh axis (axes is empty)", op);
    if (n < 32 && (at->axes >> n) != 0) {
        problem(c, i, NULL, "%s over an axis the mesh does not have (axes 0x%x)", op, at->axes);
        return;
    }
    bool uses_dim = i->op != OP_ALL_REDUCE && i->op != OP_TO_PARTIAL && i->op != OP_COLLECTIVE_PERMUTE;
    if (i->op == OP_COLLECTIVE_PERMUTE) {
        int g = ir_local_group(&c->m->mesh, at->axes), d, s;
        if (at->nints < 1 || !rt_permute_pair(g, 0, at->ints, at->nints, &d, &s)) {
            problem(c, i, NULL, "collective_permute needs one shift or a permutation of its %d members", g);
            return;
        }
    }
    if (uses_dim && (at->dim < 0 || at->dim >= rank)) {
        problem(c, i, NULL, "%s: dim %d out of range for rank %d", op, at->dim, rank);
        return;
    }
    if (i->op == OP_ALL_TO_ALL && (at->dim2 < 0 || at->dim2 >= rank || at->dim2 == at->dim)) {
        problem(c, i, NULL, "all_to_all: dim2 %d must be in range for rank %d and differ from dim %d",
                at->dim2, rank, at->dim);
        return;
    }
    if ((unsigned)at->red > RED_AVG) {
        problem(c, i, NULL, "%s: bad reduction %d", op, (int)at->red);
        return;
    }
    const Placement *a = &x->pl, *r = &y->pl;
    if (a->naxes != n || r->naxes != n || n == 0)
        return; /* reported as undecided / malformed */
    PlEntry R = {PL_R, 0, RED_SUM}, P = {PL_P, 0, at->red};
    PlEntry S = {PL_S, at->dim, RED_SUM}, S2 = {PL_S, at->dim2, RED_SUM};
    PlEntry from = R, to = R;
    switch (i->op) {
    case OP_ALL_REDUCE: from = P; to = R; break;
    case OP_REDUCE_SCATTER: from = P; to = S; break;
    case OP_ALL_GATHER: from = S; to = R; break;
    case OP_ALL_TO_ALL: from = S; to = S2; break;
    case OP_COLLECTIVE_PERMUTE: from = R; to = R; break; /* every member holds the same local shape */
    case OP_SHARD: from = R; to = S; break;
    case OP_TO_PARTIAL: from = R; to = P; break;
    default: DTC_BUG("check_coll: not a collective");
    }
    for (int ax = 0; ax < n; ax++) {
        if (at->axes & (1u << ax)) {
            if (!entry_eq(&a->e[ax], &from) || !entry_eq(&r->e[ax], &to))
                problem(c, i, NULL, "on axis %s %s must turn %s into %s, but turns %s into %s",
                        axis_name(c, ax), op, es(c, &from), es(c, &to), es(c, &a->e[ax]),
                        es(c, &r->e[ax]));
        } else if (!entry_eq(&a->e[ax], &r->e[ax]))
            problem(c, i, NULL, "axis %s is not in axes but %s changes it from %s to %s",
                    axis_name(c, ax), op, es(c, &a->e[ax]), es(c, &r->e[ax]));
    }
    int b;
    if ((i->op == OP_ALL_GATHER || i->op == OP_ALL_TO_ALL) && (b = inner_split(a, at->axes, at->dim, n)) >= 0)
        problem(c, i, NULL, "%s takes apart an outer split of dim %d while axis %s still splits it "
                "inside (only the innermost split can be gathered)", op, at->dim, axis_name(c, b));
    int made = i->op == OP_ALL_TO_ALL ? at->dim2 : at->dim;
    if ((i->op == OP_REDUCE_SCATTER || i->op == OP_ALL_TO_ALL || i->op == OP_SHARD) &&
        (b = inner_split(r, at->axes, made, n)) >= 0)
        problem(c, i, NULL, "%s creates an outer split of dim %d while axis %s already splits it "
                "inside (only the innermost split can be created)", op, made, axis_name(c, b));
}

/* ---- non-blocking collectives (schedule) ----------------------------------------------- */

/* Fusion groups: see the stage list at the top.  A member's uses are
 * checked at the user (check_group_use), its root here. */
static void check_group(V *c, const IrInst *i)
{
    if (i->fuse == FUSE_ROOT) {
        if (i->group)
            problem(c, i, NULL, "a root names a group");
        return;
    }
    if (c->level < ST_FUSE) {
        problem(c, i, NULL, "group= before fuse");
        return;
    }
    if (i->fuse == FUSE_EACH) {
        if (i->op != OP_CONST && i->op != OP_IOTA)
            problem(c, i, NULL, "group=each on %s (const and iota only)", ir_op_name(i->op));
        return;
    }
    if (i->fuse != FUSE_MEMBER || i->nres != 1) {
        problem(c, i, NULL, "bad fusion state %d", (int)i->fuse);
        return;
    }
    const IrValue *r = i->group;
    if (!r || !r->def || r->id < 0 || r->id >= c->cap || c->all[r->id] != r) {
        problem(c, i, NULL, "its group root is not a value of @%s", c->f->name);
        return;
    }
    if (c->seen[r->id] == r)
        problem(c, i, NULL, "its group root %s is defined before it", vs(c, r));
    if (r->def->fuse != FUSE_ROOT)
        problem(c, i, NULL, "its group root %s is itself in a group", vs(c, r));
    for (int k = 0; k < c->f->nresults; k++)
        if (c->f->results && c->f->results[k] == i->res[0])
            problem(c, i, NULL, "a group member is returned");
}

/* The operands of i that are members of a group belong to i's group. */
static void check_group_use(V *c, const IrInst *i)
{
    const IrValue *mine = i->fuse == FUSE_MEMBER ? i->group : i->nres == 1 ? i->res[0] : NULL;
    for (int k = 0; k < i->nargs; k++) {
        const IrValue *x = i->args[k];
        if (!x || !x->def || x->def->fuse != FUSE_MEMBER)
            continue;
        if (x->def->group != mine)
            problem(c, i, NULL, "operand %d (%s) is a member of %s's group but %s is not in it", k, vs(c, x),
                    vs(c, x->def->group), ir_op_name(i->op));
    }
}

/* Every member of a group is read (by its group, check_group_use). */
static void check_members_read(V *c, const IrFunc *f, int ninst)
{
    bool *read = arena_alloc(c->ar, sizeof *read * (size_t)(c->cap + 1));
    int k = 0;
    for (const IrInst *i = f->first; i && k < ninst; i = i->next, k++)
        for (int a = 0; i->args && a < i->nargs; a++)
            if (i->args[a] && i->args[a]->id >= 0 && i->args[a]->id < c->cap)
                read[i->args[a]->id] = true;
    k = 0;
    for (const IrInst *i = f->first; i && k < ninst; i = i->next, k++)
        if (i->fuse == FUSE_MEMBER && i->nres == 1 && i->res && i->res[0] && i->res[0]->id >= 0 &&
            i->res[0]->id < c->cap && !read[i->res[0]->id])
            problem(c, i, NULL, "a group member that nothing reads");
}

static bool is_async(const IrInst *i) { return (ir_op_flags(i->op) & OPF_COMM) && i->a.async; }

/* The start / done pairing: an async collective's value goes to exactly one
 * `done`, later in the function, and nowhere else. */
static void check_async(V *c, const IrInst *i)
{
    if ((i->op == OP_DONE || i->a.async) && c->level < ST_SCHEDULE) {
        problem(c, i, NULL, "%s before schedule", i->op == OP_DONE ? "done" : "async collective");
        return;
    }
    if (i->op == OP_DONE && i->nargs == 1 && i->args[0]) {
        const IrValue *x = i->args[0];
        if (!x->def || !is_async(x->def))
            problem(c, i, NULL, "done of %s, which no async collective defines", vs(c, x));
        else if (i->nres == 1 && i->res[0] && !pl_eq(&x->pl, &i->res[0]->pl))
            problem(c, i, NULL, "done changes the placement %s of %s to %s", ps(c, &x->pl), vs(c, x),
                    ps(c, &i->res[0]->pl));
    }
    if (!is_async(i) || i->nres != 1 || !i->res[0])
        return;
    const IrValue *v = i->res[0];
    int dones = 0, others = 0;
    for (const IrInst *j = i->next; j; j = j->next)
        for (int k = 0; k < j->nargs; k++)
            if (j->args[k] == v) {
                if (j->op == OP_DONE)
                    dones++;
                else
                    others++;
            }
    for (int r = 0; r < c->f->nresults; r++)
        others += c->f->results[r] == v;
    if (dones != 1)
        problem(c, i, NULL, "async %s has %d dones after it (needs exactly one)", ir_op_name(i->op),
                dones);
    if (others)
        problem(c, i, NULL, "async %s: its value in flight is read %d times other than by its done",
                ir_op_name(i->op), others);
}

/* ---- instructions ------------------------------------------------------------------- */
static void check_stage(V *c, const IrInst *i)
{
    unsigned fl = ir_op_flags(i->op);
    const char *op = ir_op_name(i->op);
    if (c->level >= ST_INLINE && (i->op == OP_CALL || i->op == OP_GRAD))
        problem(c, i, NULL, "%s @%s remains after inline", i->op == OP_CALL ? "call to" : "grad of",
                i->a.callee ? i->a.callee : "?");
    if ((fl & (OPF_COMM | OPF_LOCAL)) && c->level < ST_PARTITION)
        problem(c, i, NULL, "%s before partition", op);
    if (c->level >= ST_PARTITION && (i->op == OP_REDISTRIBUTE || i->op == OP_RULE_CALL))
        problem(c, i, NULL, "%s remains after partition", op);
    if (c->level >= ST_PROPAGATE && i->nargs > 0 && !i->in_pl)
        problem(c, i, NULL, "%s has no in_pl after propagate", op);
    if (i->in_pl)
        for (int k = 0; k < i->nargs; k++) {
            const IrValue *x = i->args[k];
            const Placement *want = &i->in_pl[k];
            const char *what = arena_printf(c->ar, "in_pl of operand %d", k);
            if (!type_ok(&x->type) || !pl_ok(c, i, NULL, want, x->type.rank, what))
                continue;
            if (c->level >= ST_PROPAGATE && c->m->mesh.naxes > 0 && want->naxes == 0)
                problem(c, i, NULL, "%s is undecided after propagate", what);
            else if (c->level >= ST_REDISTRIBUTE && !pl_eq(&x->pl, want))
                problem(c, i, NULL, "operand %d (%s) is %s but %s needs %s", k, vs(c, x), ps(c, &x->pl),
                        op, ps(c, want));
        }
    if (c->level >= ST_PARTITION && (fl & (OPF_COMM | OPF_LOCAL)) && i->nargs == 1 && i->nres == 1 &&
        type_ok(&i->args[0]->type))
        check_coll(c, i);
    check_async(c, i);
    check_group(c, i);
}

static void check_operand(V *c, const IrInst *i, int k)
{
    const IrValue *x = i->args[k];
    if (!x) {
        problem(c, i, NULL, "operand %d is NULL", k);
        return;
    }
    bool in_range = x->id >= 0 && x->id < c->cap;
    if (in_range && c->seen[x->id] == x)
        return;
    if (in_range && c->all[x->id] == x)
        problem(c, i, NULL, "operand %d (%s) is used before its definition", k, vs(c, x));
    else
        problem(c, i, NULL, "operand %d (%s) is not defined in @%s", k, vs(c, x), c->f->name);
}

/* Records v as defined (seen=false: only in the table of all definitions). */
static void define(V *c, const IrInst *i, const IrValue *v, bool seen)
{
    if (v->id < 0 || v->id >= c->cap)
        return; /* reported by check_value */
    const IrValue **t = seen ? c->seen : c->all;
    if (t[v->id] && t[v->id] != v) {
        if (seen)
            problem(c, i, v, "id %d is already used by %s", v->id, vs(c, t[v->id]));
        return;
    }
    t[v->id] = v;
}

static void check_inst(V *c, const IrInst *i)
{
    if ((unsigned)i->op >= OP_COUNT) {
        problem(c, NULL, NULL, "instruction with bad op %d", (int)i->op);
        return;
    }
    const char *op = ir_op_name(i->op);
    bool ok = true;
    int want = ir_op_nargs(i->op);
    if (i->nargs < 0 || (i->nargs > 0 && !i->args)) {
        problem(c, i, NULL, "%s has a malformed operand list", op);
        return;
    }
    if (want >= 0 && i->nargs != want) {
        problem(c, i, NULL, "%s takes %d operand%s, has %d", op, want, want == 1 ? "" : "s", i->nargs);
        ok = false;
    }
    for (int k = 0; k < i->nargs; k++) {
        if (!i->args[k])
            ok = false;
        check_operand(c, i, k);
    }
    if (i->nres < 0 || (i->nres > 0 && !i->res) || (i->op != OP_CALL && i->op != OP_LOOP && i->op != OP_GRAD &&
                                                   i->op != OP_LOCAL_CALL && i->nres != 1)) {
        problem(c, i, NULL, "%s must define %s, defines %d", op, i->op == OP_CALL ? "its callee's results" : "one value",
                i->nres);
        return;
    }
    for (int k = 0; k < i->nres; k++) {
        const IrValue *v = i->res[k];
        if (!v) {
            problem(c, i, NULL, "result %d is NULL", k);
            return;
        }
        if (v->def != i)
            problem(c, i, v, "its def is not the instruction that defines it");
        if (v->param_index != -1)
            problem(c, i, v, "is defined by an instruction but has param_index %d", v->param_index);
        check_value(c, i, v);
    }
    if (ok) {
        check_type(c, i);
        check_stage(c, i);
        check_group_use(c, i);
    }
    for (int k = 0; k < i->nres; k++)
        define(c, i, i->res[k], true);
}

/* ---- functions and the module ---------------------------------------------------------- */
static void check_params(V *c, const IrFunc *f)
{
    if (f->nparams < 0 || (f->nparams > 0 && (!f->params || !f->inits))) {
        problem(c, NULL, NULL, "malformed parameter list");
        return;
    }
    for (int k = 0; k < f->nparams; k++) {
        const IrValue *v = f->params[k];
        if (!v) {
            problem(c, NULL, NULL, "parameter %d is NULL", k);
            continue;
        }
        if (v->param_index != k)
            problem(c, NULL, v, "parameter %d has param_index %d", k, v->param_index);
        if (v->def)
            problem(c, NULL, v, "parameter %d has a defining instruction", k);
        check_value(c, NULL, v);
        const IrInit *in = &f->inits[k];
        if ((unsigned)in->kind > INIT_LOAD)
            problem(c, NULL, v, "bad initialiser kind %d", (int)in->kind);
        else if (in->kind == INIT_LOAD && !in->path)
            problem(c, NULL, v, "load() initialiser without a path");
        define(c, NULL, v, true);
    }
}

/* Walks the instruction list while its links are consistent; returns how
 * many instructions can be trusted. */
static int check_list(V *c, const IrFunc *f)
{
    int n = 0;
    const IrInst *prev = NULL;
    for (const IrInst *i = f->first; i; prev = i, i = i->next, n++)
        if (i->prev != prev) {
            problem(c, NULL, NULL, "instruction list is broken after %d instructions (prev link)", n);
            return n;
        }
    if (f->last != prev)
        problem(c, NULL, NULL, "last does not point at the last instruction");
    return n;
}

static void check_func(V *c, const IrFunc *f)
{
    c->f = f;
    int ninst = check_list(c, f);
    /* id tables: sized by next_id (every id must be below it) */
    c->cap = f->next_id > 0 && f->next_id <= MAX_ID ? f->next_id : 0;
    if (f->next_id < 0 || f->next_id > MAX_ID)
        problem(c, NULL, NULL, "next_id %d is out of range", f->next_id);
    c->all = arena_alloc(c->ar, sizeof *c->all * (size_t)(c->cap + 1));
    c->seen = arena_alloc(c->ar, sizeof *c->seen * (size_t)(c->cap + 1));
    for (int k = 0; f->params && k < f->nparams; k++)
        if (f->params[k])
            define(c, NULL, f->params[k], false);
    int k = 0;
    for (const IrInst *i = f->first; i && k < ninst; i = i->next, k++)
        for (int r = 0; i->res && r < i->nres; r++)
            if (i->res[r])
                define(c, i, i->res[r], false);

    check_params(c, f);
    k = 0;
    for (const IrInst *i = f->first; i && k < ninst; i = i->next, k++)
        check_inst(c, i);

    check_members_read(c, f, ninst);
    if (f->nresults < 0 || (f->nresults > 0 && !f->results))
        problem(c, NULL, NULL, "malformed result list");
    else
        for (int r = 0; r < f->nresults; r++) {
            const IrValue *v = f->results[r];
            if (!v)
                problem(c, NULL, NULL, "result %d is NULL", r);
            else if (v->id < 0 || v->id >= c->cap || c->seen[v->id] != v)
                problem(c, NULL, NULL, "result %d (%s) is not defined in @%s", r, vs(c, v), f->name);
        }
    /* feeds: a result becomes its parameter next step, so the two agree in
     * type and, once placed, in placement (the runtime swaps buffers) */
    for (int r = 0; f->result_feeds && f->results && r < f->nresults; r++) {
        int p = f->result_feeds[r];
        const IrValue *v = f->results[r], *pv = p >= 0 && p < f->nparams && f->params ? f->params[p] : NULL;
        if (p < -1 || (p >= 0 && !pv))
            problem(c, NULL, NULL, "result %d feeds parameter #%d of %d", r, p, f->nparams);
        else if (pv && v && !ir_type_eq(&v->type, &pv->type))
            problem(c, NULL, NULL, "result %d (%s) feeds %s of another type", r, vs(c, v), vs(c, pv));
        else if (pv && v && c->level >= ST_PROPAGATE && !pl_eq(&v->pl, &pv->pl))
            problem(c, NULL, NULL, "result %d (%s) feeds %s from another placement", r, vs(c, v), vs(c, pv));
    }
    c->f = NULL;
}

bool ir_verify(const IrModule *m, const char *after, FILE *err)
{
    V c;
    memset(&c, 0, sizeof c);
    c.level = -1;
    for (int k = 0; k < (int)(sizeof stage_names / sizeof stage_names[0]); k++)
        if (after && !strcmp(after, stage_names[k]))
            c.level = k;
    if (c.level < 0)
        DTC_BUG("ir_verify: unknown stage name");
    c.m = m;
    c.ar = m->arena;
    c.stage = after;
    c.err = err;

    const IrMesh *mesh = &m->mesh;
    if (mesh->naxes < 0 || mesh->naxes > IR_MAX_AXES) {
        problem(&c, NULL, NULL, "mesh has %d axes (at most %d)", mesh->naxes, IR_MAX_AXES);
        return false;
    }
    if (mesh->naxes > 0 && !mesh->name)
        problem(&c, NULL, NULL, "mesh has axes but no name");
    for (int a = 0; a < mesh->naxes; a++) {
        if (!mesh->axis_name[a])
            problem(&c, NULL, NULL, "mesh axis %d has no name", a);
        else
            for (int b = 0; b < a; b++)
                if (mesh->axis_name[b] && !strcmp(mesh->axis_name[a], mesh->axis_name[b]))
                    problem(&c, NULL, NULL, "mesh axis name '%s' is used twice", mesh->axis_name[a]);
        if (mesh->size[a] <= 0)
            problem(&c, NULL, NULL, "mesh axis %s has size %d", axis_name(&c, a), mesh->size[a]);
    }
    if (m->nfuncs < 0 || (m->nfuncs > 0 && !m->funcs)) {
        problem(&c, NULL, NULL, "malformed function list");
        return false;
    }
    bool entry_found = !m->entry;
    for (int k = 0; k < m->nfuncs; k++) {
        const IrFunc *f = m->funcs[k];
        if (!f || !f->name) {
            problem(&c, NULL, NULL, "function %d is NULL or has no name", k);
            continue;
        }
        for (int j = 0; j < k; j++)
            if (m->funcs[j] && m->funcs[j]->name && !strcmp(m->funcs[j]->name, f->name))
                problem(&c, NULL, NULL, "function @%s is defined twice", f->name);
        entry_found |= f == m->entry;
        check_func(&c, f);
    }
    if (!entry_found)
        problem(&c, NULL, NULL, "the entry function is not in the module");
    if (c.n > MAX_REPORTED)
        fprintf(err, "verify after %s: %d problems in all (%d not shown)\n", after, c.n,
                c.n - MAX_REPORTED);
    return c.n == 0;
}
