/* propagate.c - pass_propagate: decide every value's placement.
 *
 * Requires: inlined module (no OP_CALL); entry parameters and
 *           OP_REDISTRIBUTE results pinned where the user wrote a placement;
 *           other values undecided (pl.naxes == 0).
 * Produces: every value's placement (pl.naxes == mesh naxes); for every
 *           instruction in_pl[k], the placement operand k must have (for
 *           OP_REDISTRIBUTE: its operand's own placement; the result is the
 *           target), and `strategy` (rules.h STRAT_*).  Pinned values keep
 *           their placement.  Nothing is inserted: pass_redistribute does
 *           that where an operand's placement differs from in_pl.
 *
 * Algorithm.  First a backward pass collects hints: the placement a pinned
 * redistribute wants of its operand, carried back through elementwise ops,
 * transposes, reshapes and broadcast_to.  Then one forward pass in program
 * order: for each instruction the per-axis options of its rule (rules.c)
 * are ranked by a cheap per-axis estimate, the best few per axis are
 * combined, and the combination with the lowest cost model figure wins:
 *     sum over operands of plan_cost(current -> required)
 *   + local compute (and the collectives inside a decomposed op)
 *   + plan_cost(result -> hint) when the result has a hint.
 * Ties keep the earlier candidate (the estimate's order), so the choice is
 * deterministic.
 *
 * Loops.  A loop's body is propagated when the loop is reached, with its
 * parameters placed as the operands are: a stacked operand's slice drops
 * dim 0 (which stays replicated: a split layer dim is pipeline-style
 * placement, refused when the user pinned it, gathered otherwise), captures
 * as they are, carried values first as their initial values.  Then the
 * back edge must agree: while a carried result's placement differs from the
 * carried parameter's, the parameter takes the result's placement and the
 * body is propagated again (a few rounds); if that does not settle, the
 * body ends with a redistribute of the result to the parameter's placement.
 * The loop's results and the carried operands' in_pl are the carried
 * parameters' placements.  A captured value that the body uses at one other
 * placement everywhere is moved there before the loop, once, not per trip.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ir/ir_text.h"
#include "passes/plan.h"
#include "passes/rules.h"

#define KEEP_PER_AXIS 4 /* options per axis that reach the exact comparison */
#define CACHE_SIZE 4096 /* plan_cost memo entries (a power of two) */

typedef struct CostKey {
    int32_t dtype, rank;
    int64_t dims[IR_MAX_RANK];
    int32_t naxes;
    int32_t from[IR_MAX_AXES][3], to[IR_MAX_AXES][3];
} CostKey;

typedef struct CostSlot {
    bool used;
    CostKey key;
    double cost;
} CostSlot;

typedef struct Prop {
    PassCtx *ctx;
    IrModule *m;
    const IrMesh *mesh;
    Placement *hint; /* by value id; naxes 0: none */
    CostSlot *cache;
} Prop;

/* ---- plan_cost, memoised (propagate asks the same questions many times) --- */
static void key_entries(int32_t out[IR_MAX_AXES][3], const Placement *p)
{
    for (int a = 0; a < p->naxes; a++) {
        out[a][0] = p->e[a].kind;
        out[a][1] = p->e[a].kind == PL_S ? p->e[a].dim : 0;
        out[a][2] = p->e[a].kind == PL_P ? (int32_t)p->e[a].red : 0;
    }
}

static uint64_t key_hash(const CostKey *k)
{
    const unsigned char *b = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static double move_cost(Prop *p, const IrType *t, const Placement *from, const Placement *to)
{
    if (pl_eq(from, to))
        return 0;
    CostKey k;
    memset(&k, 0, sizeof k);
    k.dtype = t->dtype;
    k.rank = t->rank;
    for (int d = 0; d < t->rank; d++)
        k.dims[d] = t->dims[d];
    k.naxes = from->naxes;
    key_entries(k.from, from);
    key_entries(k.to, to);
    uint64_t h = key_hash(&k);
    for (int probe = 0; probe < 8; probe++) {
        CostSlot *s = &p->cache[(h + (uint64_t)probe) & (CACHE_SIZE - 1)];
        if (s->used && !memcmp(&s->key, &k, sizeof k))
            return s->cost;
        if (!s->used) {
            s->used = true;
            s->key = k;
            s->cost = plan_cost(&p->ctx->cost, p->mesh, t, from, to);
            return s->cost;
        }
    }
    /* a crowded neighbourhood: overwrite the home slot */
    CostSlot *s = &p->cache[h & (CACHE_SIZE - 1)];
    s->key = k;
    s->cost = plan_cost(&p->ctx->cost, p->mesh, t, from, to);
    return s->cost;
}

/* ---- hints -------------------------------------------------------------------- */
static bool has_hint(const Prop *p, const IrValue *v) { return p->hint[v->id].naxes > 0; }

static void set_hint(Prop *p, IrValue *v, const Placement *h)
{
    if (v->pinned || has_hint(p, v) || h->naxes != p->mesh->naxes)
        return;
    p->hint[v->id] = *h;
}

/* in_pl of i: one placement per operand, in the module's arena (it stays). */
static Placement *new_in_pl(Prop *p, const IrInst *i)
{
    return arena_alloc(p->m->arena, sizeof(Placement) * (size_t)(i->nargs > 0 ? i->nargs : 1));
}

/* Scratch placements, one per operand of i (any count). */
static Placement *new_pls(Prop *p, const IrInst *i)
{
    return arena_alloc(p->ctx->arena, sizeof(Placement) * (size_t)(i->nargs > 0 ? i->nargs : 1));
}

/* Carries the result's hint back to the operands of layout-preserving ops
 * (elementwise, transpose, reshape, broadcast_to): per axis, the first
 * option of the rule that yields the hinted entry. */
static void hint_back(Prop *p, IrInst *i)
{
    if (i->op == OP_REDISTRIBUTE) {
        if (i->res[0]->pinned && i->res[0]->pl.naxes == p->mesh->naxes)
            set_hint(p, i->args[0], &i->res[0]->pl);
        else if (has_hint(p, i->res[0]))
            set_hint(p, i->args[0], &p->hint[i->res[0]->id]);
        return;
    }
    if (i->nres != 1 || !has_hint(p, i->res[0]))
        return;
    if (!(ir_op_flags(i->op) & OPF_EW) && i->op != OP_TRANSPOSE && i->op != OP_RESHAPE &&
        i->op != OP_BROADCAST_TO)
        return;
    const Placement *h = &p->hint[i->res[0]->id];
    AxisOpt opts[RULE_MAX_OPTS];
    int n = rules_options(p->ctx->arena, i, opts);
    if (n == 0)
        return;
    Placement *in = new_pls(p, i);
    for (int k = 0; k < i->nargs; k++)
        in[k] = pl_replicated(p->mesh->naxes);
    for (int a = 0; a < p->mesh->naxes; a++)
        for (int o = 0; o < n; o++)
            if (pe_eq(opts[o].out, h->e[a])) {
                for (int k = 0; k < i->nargs; k++)
                    in[k].e[a] = opts[o].in[k];
                break;
            }
    if (!rules_valid(p->m, i, in, h))
        return;
    for (int k = 0; k < i->nargs; k++)
        set_hint(p, i->args[k], &in[k]);
}

/* ---- choosing a strategy -------------------------------------------------------- */

/* Rough cost of moving one axis's entry, for ranking options only. */
static double entry_move(const CostModel *cm, int axis, PlEntry from, PlEntry to, double bytes)
{
    if (pe_eq(from, to))
        return 0;
    if (from.kind == PL_R) /* shard and to_partial are local copies */
        return bytes * cm->copy_time;
    double one = cm->alpha[axis] + bytes * cm->beta[axis];
    if (from.kind == PL_P && to.kind != PL_S)
        return 2 * one + (to.kind == PL_P ? bytes * cm->copy_time : 0);
    return one + (to.kind == PL_P ? bytes * cm->copy_time : 0);
}

typedef struct Ranked {
    int opt;
    double est;
} Ranked;

static double local_bytes(const Prop *p, const IrValue *v)
{
    return (double)rules_local_bytes_max(p->mesh, &v->type, &v->pl);
}

/* Best assignment for instruction i; false if none is legal (a pinned
 * result that no strategy produces). */
static bool choose(Prop *p, IrInst *i, Placement *best_in, Placement *best_out)
{
    const IrMesh *mesh = p->mesh;
    const CostModel *cm = &p->ctx->cost;
    int naxes = mesh->naxes;
    AxisOpt opts[RULE_MAX_OPTS];
    int nopt = rules_options(p->ctx->arena, i, opts);
    if (nopt == 0)
        DTC_BUG(arena_printf(p->ctx->arena, "propagate: no sharding rule for %s", ir_op_name(i->op)));
    IrValue *res = i->res[0];
    bool pinned = res->pinned && res->pl.naxes == naxes;
    const Placement *hint = has_hint(p, res) ? &p->hint[res->id] : NULL;
    double out_bytes = (double)ir_type_numel(&res->type) * ir_dtype_size(res->type.dtype);

    /* The op's cost done whole, unsharded: sharded options do 1/size of it. */
    Placement *rin = new_pls(p, i), rout = pl_replicated(naxes);
    for (int k = 0; k < i->nargs; k++)
        rin[k] = pl_replicated(naxes);
    double whole = rules_compute_cost(cm, p->m, i, rin, &rout);

    /* rank the options on each axis; keep the best few, and always the
     * all-replicated option and the one that needs no operand moved */
    Ranked keep[IR_MAX_AXES][KEEP_PER_AXIS + 2];
    int nkeep[IR_MAX_AXES];
    for (int a = 0; a < naxes; a++) {
        Ranked r[RULE_MAX_OPTS];
        int nr = 0;
        for (int o = 0; o < nopt; o++) {
            if (pinned && !pe_eq(opts[o].out, res->pl.e[a]))
                continue;
            double est = 0;
            for (int k = 0; k < i->nargs; k++)
                est += entry_move(cm, a, i->args[k]->pl.e[a], opts[o].in[k], local_bytes(p, i->args[k]));
            if (hint)
                est += entry_move(cm, a, opts[o].out, hint->e[a], out_bytes / mesh->size[a]);
            est += (opts[o].out.kind == PL_R ? 1.0 : 1.0 / mesh->size[a]) * whole;
            int at = nr++;
            while (at > 0 && r[at - 1].est > est) {
                r[at] = r[at - 1];
                at--;
            }
            r[at] = (Ranked){o, est};
        }
        if (nr == 0)
            return false;
        int n = 0;
        for (int j = 0; j < nr; j++) {
            const AxisOpt *o = &opts[r[j].opt];
            bool stay = true;
            for (int k = 0; k < i->nargs; k++)
                if (!pe_eq(i->args[k]->pl.e[a], o->in[k]))
                    stay = false;
            if ((j < KEEP_PER_AXIS || r[j].opt == 0 || stay) && n < KEEP_PER_AXIS + 2)
                keep[a][n++] = r[j];
        }
        nkeep[a] = n;
    }

    /* exact comparison over the combinations (odometer over axes) */
    int pick[IR_MAX_AXES] = {0};
    double best = HUGE_VAL;
    bool found = false;
    Placement *in = new_pls(p, i);
    for (;;) {
        Placement out = pl_replicated(naxes);
        for (int k = 0; k < i->nargs; k++)
            in[k] = pl_replicated(naxes);
        for (int a = 0; a < naxes; a++) {
            const AxisOpt *o = &opts[keep[a][pick[a]].opt];
            out.e[a] = o->out;
            for (int k = 0; k < i->nargs; k++)
                in[k].e[a] = o->in[k];
        }
        if (rules_valid(p->m, i, in, &out)) {
            double c = rules_compute_cost(cm, p->m, i, in, &out);
            for (int k = 0; k < i->nargs && c < best; k++)
                c += move_cost(p, &i->args[k]->type, &i->args[k]->pl, &in[k]);
            if (hint && c < best)
                c += move_cost(p, &res->type, &out, hint);
            if (c < best) {
                best = c;
                found = true;
                for (int k = 0; k < i->nargs; k++)
                    best_in[k] = in[k];
                *best_out = out;
            }
        }
        int a = naxes - 1;
        while (a >= 0 && ++pick[a] == nkeep[a])
            pick[a--] = 0;
        if (a < 0)
            break;
    }
    return found;
}


static bool propagate_func(Prop *p, IrFunc *f, const Placement *result_hint);
static bool propagate_loop(Prop *p, IrInst *i);

static bool propagate_inst(Prop *p, IrInst *i)
{
    int naxes = p->mesh->naxes;
    i->in_pl = new_in_pl(p, i);
    i->strategy = STRAT_LOCAL;
    if (i->op == OP_CALL)
        DTC_BUG("propagate: call left after inline");
    if (i->op == OP_LOOP)
        return propagate_loop(p, i);
    if (i->nres != 1)
        DTC_BUG("propagate: an instruction with several results");
    IrValue *res = i->res[0];
    if (i->op == OP_REDISTRIBUTE) {
        /* the redistribute is the conversion: its operand stays as it is */
        i->in_pl[0] = i->args[0]->pl;
        if (res->pl.naxes != naxes)
            res->pl = i->args[0]->pl;
        return true;
    }
    if (naxes == 0) {
        for (int k = 0; k < i->nargs; k++)
            i->in_pl[k] = i->args[k]->pl;
        res->pl = pl_replicated(0);
        return true;
    }
    Placement *in = new_pls(p, i), out;
    if (!choose(p, i, in, &out)) {
        char pb[256], vb[64];
        const SrcLoc *l = &i->loc;
        if (l->file)
            fprintf(p->ctx->err, "%s:%d:%d: ", l->file, l->line, l->col);
        fprintf(p->ctx->err, "error: %s %s cannot produce the placement %s it is pinned to\n",
                ir_op_name(i->op), ir_value_str(res, vb, sizeof vb),
                pl_str(p->mesh, &res->pl, pb, sizeof pb));
        return false;
    }
    for (int k = 0; k < i->nargs; k++)
        i->in_pl[k] = in[k];
    if (!res->pinned || res->pl.naxes != naxes)
        res->pl = out;
    i->strategy = rules_strategy(i, in);
    return true;
}

static bool propagate_func(Prop *p, IrFunc *f, const Placement *result_hint)
{
    int naxes = p->mesh->naxes;
    p->hint = arena_alloc(p->ctx->arena, sizeof *p->hint * (size_t)(f->next_id + 1));
    for (int k = 0; k < f->nparams; k++) {
        IrValue *v = f->params[k];
        if (v->pl.naxes != naxes)
            v->pl = pl_replicated(naxes);
    }
    for (int k = 0; result_hint && k < f->nresults; k++)
        set_hint(p, f->results[k], &result_hint[k]);
    for (IrInst *i = f->last; i; i = i->prev)
        hint_back(p, i);
    for (IrInst *i = f->first; i; i = i->next)
        if (!propagate_inst(p, i))
            return false;
    return true;
}

/* ---- loops ---------------------------------------------------------------------- */
#define LOOP_ROUNDS 4 /* back-edge rounds before a redistribute closes the loop */

static void loop_error(Prop *p, const IrInst *i, const char *msg)
{
    const SrcLoc *l = &i->loc;
    if (l->file)
        fprintf(p->ctx->err, "%s:%d:%d: ", l->file, l->line, l->col);
    fprintf(p->ctx->err, "error: %s\n", msg);
}

/* Forgets what a previous round decided inside f (pinned values stay). */
static void reset_body(IrFunc *f)
{
    for (IrInst *i = f->first; i; i = i->next) {
        i->in_pl = NULL;
        i->strategy = STRAT_LOCAL;
        for (int k = 0; k < i->nres; k++)
            if (!i->res[k]->pinned)
                i->res[k]->pl.naxes = 0;
    }
}

static bool propagate_body(Prop *p, IrFunc *f, const Placement *result_hint)
{
    Placement *saved = p->hint;
    reset_body(f);
    bool ok = propagate_func(p, f, result_hint);
    p->hint = saved;
    return ok;
}

/* The communication one trip of body f costs as propagated, the back edge
 * (result -> carried parameter) included. */
static double body_cost(Prop *p, const IrFunc *f, int nc)
{
    double c = 0;
    for (const IrInst *i = f->first; i; i = i->next) {
        if (i->op == OP_REDISTRIBUTE) {
            c += move_cost(p, &i->args[0]->type, &i->args[0]->pl, &i->res[0]->pl);
            continue;
        }
        for (int k = 0; i->in_pl && k < i->nargs; k++)
            c += move_cost(p, &i->args[k]->type, &i->args[k]->pl, &i->in_pl[k]);
    }
    for (int k = 0; k < nc; k++)
        c += move_cost(p, &f->results[k]->type, &f->results[k]->pl, &f->params[k]->pl);
    return c;
}

/* Carried parameters at `carry`; propagates the body; its cost for `trip`
 * trips plus moving the initial values there. */
static bool try_carry(Prop *p, IrInst *i, const Placement *carry, double *cost)
{
    IrFunc *b = i->a.fn;
    int nc = i->a.ncarry;
    for (int k = 0; k < nc; k++)
        b->params[k]->pl = carry[k];
    if (!propagate_body(p, b, carry))
        return false;
    double c = body_cost(p, b, nc) * (double)(i->a.trip > 0 ? i->a.trip : 1);
    for (int k = 0; k < nc; k++)
        c += move_cost(p, &i->args[k]->type, &i->args[k]->pl, &carry[k]);
    *cost = c;
    return true;
}

/* A captured value (neither carried nor stacked) that every use in the body
 * wants at one other placement is moved there once, before the loop, instead
 * of on every trip: the body parameter takes that placement. */
static void hoist_capture_moves(IrInst *loop)
{
    IrFunc *b = loop->a.fn;
    for (int k = loop->a.ncarry + loop->a.nstack; k < loop->nargs; k++) {
        IrValue *v = b->params[k];
        const Placement *want = NULL;
        bool agree = !v->pinned;
        for (int r = 0; r < b->nresults; r++)
            agree = agree && b->results[r] != v;
        for (const IrInst *u = b->first; u && agree; u = u->next)
            for (int j = 0; j < u->nargs; j++) {
                if (u->args[j] != v)
                    continue;
                if (!want)
                    want = &u->in_pl[j];
                else if (!pl_eq(want, &u->in_pl[j]))
                    agree = false;
            }
        if (!agree || !want || pl_eq(want, &v->pl))
            continue;
        v->pl = *want;
        loop->in_pl[k] = *want;
    }
}

static bool propagate_loop(Prop *p, IrInst *i)
{
    int naxes = p->mesh->naxes, nc = i->a.ncarry, ns = i->a.nstack;
    IrFunc *b = i->a.fn;
    i->in_pl = new_in_pl(p, i);
    i->strategy = STRAT_LOCAL;
    for (int k = nc; k < i->nargs; k++) {
        Placement pl = i->args[k]->pl;
        if (pl.naxes != naxes)
            pl = pl_replicated(naxes);
        Placement in = pl, slice = pl;
        if (k < nc + ns)
            for (int a = 0; a < naxes; a++) {
                if (pl.e[a].kind == PL_S && pl.e[a].dim == 0) {
                    if (i->args[k]->pinned) {
                        char vb[64];
                        loop_error(p, i, arena_printf(p->ctx->arena,
                            "the stacked value %s splits its layer dim (dim 0) over mesh axis '%s': "
                            "pipeline-style placement is not supported; keep dim 0 replicated (R)",
                            ir_value_str(i->args[k], vb, sizeof vb), p->mesh->axis_name[a]));
                        return false;
                    }
                    in.e[a] = slice.e[a] = (PlEntry){PL_R, 0, RED_SUM};
                } else if (pl.e[a].kind == PL_S) {
                    slice.e[a].dim = pl.e[a].dim - 1;
                }
            }
        i->in_pl[k] = in;
        b->params[k]->pl = slice;
    }
    /* candidate A: carried as the initial values (a back-edge redistribute
     * if the body ends elsewhere); candidate B: the fixed point reached by
     * letting the carried placement follow the body's result */
    Placement *init = arena_alloc(p->ctx->arena, sizeof *init * (size_t)(nc + 1));
    Placement *fix = arena_alloc(p->ctx->arena, sizeof *fix * (size_t)(nc + 1));
    for (int k = 0; k < nc; k++) {
        if (b->params[k]->pinned && b->params[k]->pl.naxes == naxes)
            init[k] = b->params[k]->pl;
        else
            init[k] = i->args[k]->pl.naxes == naxes ? i->args[k]->pl : pl_replicated(naxes);
        fix[k] = init[k];
    }
    double cost_a, cost_b = HUGE_VAL;
    if (!try_carry(p, i, init, &cost_a))
        return false;
    bool settled = true, moved = false;
    for (int k = 0; k < nc; k++)
        if (!b->params[k]->pinned && !pl_eq(&b->results[k]->pl, &fix[k])) {
            fix[k] = b->results[k]->pl;
            moved = true;
        }
    for (int round = 1; moved && round < LOOP_ROUNDS; round++) {
        if (!try_carry(p, i, fix, &cost_b))
            return false;
        settled = true;
        for (int k = 0; k < nc; k++)
            if (!b->params[k]->pinned && !pl_eq(&b->results[k]->pl, &fix[k])) {
                fix[k] = b->results[k]->pl;
                settled = false;
            }
        if (settled)
            break;
    }
    if (!moved || !settled || cost_a <= cost_b) {
        if (moved && !try_carry(p, i, init, &cost_a))
            return false;
    }
    /* close the back edge where the body ends elsewhere */
    for (int k = 0; k < nc; k++) {
        IrValue *r = b->results[k];
        if (pl_eq(&r->pl, &b->params[k]->pl))
            continue;
        IrInst *rd = ir_inst_new(p->m, b, NULL, OP_REDISTRIBUTE, 1, &r, 1, &r->type);
        rd->loc = i->loc;
        rd->why = "loop back edge: the carried value's placement";
        rd->res[0]->pl = b->params[k]->pl;
        rd->res[0]->pinned = true;
        rd->res[0]->name = r->name;
        rd->in_pl = new_in_pl(p, rd);
        rd->in_pl[0] = r->pl;
        b->results[k] = rd->res[0];
    }
    for (int k = 0; k < nc; k++) {
        i->in_pl[k] = b->params[k]->pl;
        i->res[k]->pl = b->params[k]->pl;
    }
    hoist_capture_moves(i);
    return true;
}

bool pass_propagate(PassCtx *ctx, IrModule *m)
{
    Prop p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.m = m;
    p.mesh = &m->mesh;
    p.cache = arena_alloc(ctx->arena, sizeof *p.cache * CACHE_SIZE);
    /* a loop body is propagated where its loop is */
    for (int k = 0; k < m->nfuncs; k++)
        if (!ir_func_is_loop_body(m, m->funcs[k]) && !propagate_func(&p, m->funcs[k], NULL))
            return false;
    return true;
}
