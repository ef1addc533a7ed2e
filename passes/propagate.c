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
 * transposes, reshapes and broadcast_to.  Then the strategies of each
 * instruction are enumerated by prop_candidates(): the per-axis options of its
 * rule (rules.c) ranked by a cheap per-axis estimate, the best few per axis
 * combined, each combination priced exactly:
 *     sum over operands of plan_cost(current -> required)
 *   + local compute (and the collectives inside a decomposed op)
 *   (+ plan_cost(result -> hint) for the ranking, when the result has one).
 * The choice is made for the whole function (select.c): the greedy
 * one-instruction-at-a-time plan, a beam search over partial assignments in
 * program order that sees what a placement costs the later instructions,
 * and an integer program over every instruction's strategies; the cheapest
 * as modelled is kept (PassCtx.solver; the greedy choice alone:
 * PassCtx.beam_width 1, `--beam=1`).  A function with a loop is decided by
 * the beam alone.  Ties keep the earlier candidate, so the choice is
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
 *
 * Size-1 mesh axes.  On an axis of size 1 every placement holds the whole
 * tensor on the one member (S: the only chunk; P: the only term), so every
 * entry on such an axis is R: pinned placements are rewritten so before the
 * choice and every placement and in_pl after it, and no collective is ever
 * planned over a size-1 axis.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir_text.h"
#include "passes/plan.h"
#include "passes/propagate_internal.h"




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
    /* word at a time: the key is hashed for every move the beam prices */
    uint64_t h = 1469598103934665603ull, w;
    const unsigned char *b = (const unsigned char *)k;
    size_t i = 0;
    for (; i + 8 <= sizeof *k; i += 8) {
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    for (; i < sizeof *k; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

double prop_move_cost(Prop *p, const IrType *t, const Placement *from, const Placement *to)
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
bool prop_has_hint(const Prop *p, const IrValue *v) { return p->hint[v->id].naxes > 0; }

static void set_hint(Prop *p, IrValue *v, const Placement *h)
{
    if (v->pinned || prop_has_hint(p, v) || h->naxes != p->mesh->naxes)
        return;
    p->hint[v->id] = *h;
}

/* in_pl of i: one placement per operand, in the module's arena (it stays). */
Placement *prop_in_pl(Prop *p, const IrInst *i)
{
    return arena_alloc(p->m->arena, sizeof(Placement) * (size_t)(i->nargs > 0 ? i->nargs : 1));
}

/* Scratch placements, one per operand of i (any count). */
Placement *prop_scratch(Prop *p, const IrInst *i)
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
        else if (prop_has_hint(p, i->res[0]))
            set_hint(p, i->args[0], &p->hint[i->res[0]->id]);
        return;
    }
    if (i->nres != 1 || !prop_has_hint(p, i->res[0]))
        return;
    if (!(ir_op_flags(i->op) & OPF_EW) && i->op != OP_TRANSPOSE && i->op != OP_RESHAPE &&
        i->op != OP_BROADCAST_TO)
        return;
    const Placement *h = &p->hint[i->res[0]->id];
    AxisOpt opts[RULE_MAX_OPTS];
    int n = rules_options(p->ctx->arena, i, opts);
    if (n == 0)
        return;
    Placement *in = prop_scratch(p, i);
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

static bool all_r(const AxisOpt *o, int nargs)
{
    if (o->out.kind != PL_R)
        return false;
    for (int k = 0; k < nargs; k++)
        if (o->in[k].kind != PL_R)
            return false;
    return true;
}


static double local_bytes(const Prop *p, const IrValue *v)
{
    return (double)rules_local_bytes_max(p->mesh, &v->type, &v->pl);
}

/* The best `max` strategies for instruction i with its operands at argpl
 * (argpl[k] for operand k), cheapest first: each with its operands' and
 * result's placements and its cost (local compute, the collectives inside a
 * decomposed op and moving the operands there); ranked by that cost plus
 * moving the result to its hint.  Returns how many (0: none is legal, a
 * pinned result that no strategy produces).  cands[c].in is scratch.
 * also (NULL, or per operand a placement with naxes 0 for none): where the
 * operand is already available too (moved there for an earlier user), so
 * needing it there costs nothing. */
int prop_candidates(Prop *p, IrInst *i, const Placement *argpl, const Placement *also, Cand *cands,
                      int max)
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
    const Placement *hint = prop_has_hint(p, res) ? &p->hint[res->id] : NULL;
    double out_bytes = (double)ir_type_numel(&res->type) * ir_dtype_size(res->type.dtype);

    /* The op's cost done whole, unsharded: sharded options do 1/size of it. */
    Placement *rin = prop_scratch(p, i), rout = pl_replicated(naxes);
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
            if (mesh->size[a] == 1 && !all_r(&opts[o], i->nargs))
                continue; /* everything is R on a size-1 axis (see the header) */
            double est = 0;
            for (int k = 0; k < i->nargs; k++) {
                if (!argpl[k].naxes)   /* undecided (M[auto]): placed where its first user wants it */
                    continue;
                double m = entry_move(cm, a, argpl[k].e[a], opts[o].in[k], local_bytes(p, i->args[k]));
                if (also && also[k].naxes && pe_eq(also[k].e[a], opts[o].in[k]))
                    m = 0;
                est += m;
            }
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
            return 0;
        int n = 0;
        for (int j = 0; j < nr; j++) {
            const AxisOpt *o = &opts[r[j].opt];
            bool stay = true;
            for (int k = 0; k < i->nargs; k++)
                if (argpl[k].naxes && !pe_eq(argpl[k].e[a], o->in[k]))
                    stay = false;
            if ((j < KEEP_PER_AXIS || r[j].opt == 0 || stay) && n < KEEP_PER_AXIS + 2)
                keep[a][n++] = r[j];
        }
        nkeep[a] = n;
    }

    /* exact comparison over the combinations (odometer over axes) */
    int pick[IR_MAX_AXES] = {0};
    int ncand = 0;
    double worst = HUGE_VAL; /* the rank a new candidate must beat once the list is full */
    Placement *in = prop_scratch(p, i);
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
            for (int k = 0; k < i->nargs && c < worst; k++)
                if (argpl[k].naxes && (!also || !also[k].naxes || !pl_eq(&also[k], &in[k])))
                    c += prop_move_cost(p, &i->args[k]->type, &argpl[k], &in[k]);
            double rank = c;
            if (hint && rank < worst)
                rank += prop_move_cost(p, &res->type, &out, hint);
            if (rank < worst) {
                int at = ncand < max ? ncand++ : max - 1;
                Placement *keep_in = cands[at].in;   /* reuse the dropped one's array */
                while (at > 0 && cands[at - 1].rank > rank) {
                    cands[at] = cands[at - 1];
                    at--;
                }
                if (!keep_in)
                    keep_in = prop_scratch(p, i);
                for (int k = 0; k < i->nargs; k++)
                    keep_in[k] = in[k];
                cands[at] = (Cand){keep_in, out, c, rank};
                if (ncand == max)
                    worst = cands[max - 1].rank;
            }
        }
        int a = naxes - 1;
        while (a >= 0 && ++pick[a] == nkeep[a])
            pick[a--] = 0;
        if (a < 0)
            break;
    }
    return ncand;
}

/* The greedy choice: the best candidate with the operands where they are. */
static bool choose(Prop *p, IrInst *i, Placement *best_in, Placement *best_out)
{
    Placement *argpl = prop_scratch(p, i);
    for (int k = 0; k < i->nargs; k++)
        argpl[k] = i->args[k]->pl;
    Cand c = {0};
    if (!prop_candidates(p, i, argpl, NULL, &c, 1))
        return false;
    for (int k = 0; k < i->nargs; k++)
        best_in[k] = c.in[k];
    *best_out = c.out;
    return true;
}


static bool propagate_func(Prop *p, IrFunc *f, const Placement *result_hint);
static bool propagate_loop(Prop *p, IrInst *i);
void prop_reset_body(IrFunc *f);

bool prop_inst(Prop *p, IrInst *i)
{
    int naxes = p->mesh->naxes;
    i->in_pl = prop_in_pl(p, i);
    i->strategy = STRAT_LOCAL;
    if (i->op == OP_CALL)
        DTC_BUG("propagate: call left after inline");
    if (i->op == OP_LOOP)
        return propagate_loop(p, i);
    if (i->op == OP_LOCAL_CALL) {
        /* one strategy: sema's pinned redistributes bring the operands to the
         * declared placements, the results are pinned to the declared ones */
        for (int k = 0; k < i->nargs; k++)
            i->in_pl[k] = i->a.fn->params[k]->pl;
        return true;
    }
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
    Placement *in = prop_scratch(p, i), out;
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
    /* an undecided parameter (M[auto]) is replicated for the greedy choice;
     * the beam places it where its first user wants it, for free (data is
     * laid out when it is loaded) */
    bool *undecided = arena_alloc(p->ctx->arena, sizeof *undecided * (size_t)(f->nparams + 1));
    for (int k = 0; k < f->nparams; k++) {
        IrValue *v = f->params[k];
        undecided[k] = v->pl.naxes != naxes && !p->ctx->auto_replicated;
        if (v->pl.naxes != naxes)
            v->pl = pl_replicated(naxes);
    }
    for (int k = 0; result_hint && k < f->nresults; k++)
        set_hint(p, f->results[k], &result_hint[k]);
    for (IrInst *i = f->last; i; i = i->prev)
        hint_back(p, i);
    int width = p->ctx->beam_width > 0 ? p->ctx->beam_width : BEAM_WIDTH_DEFAULT;
    bool has_loop = false;
    for (IrInst *i = f->first; i; i = i->next)
        has_loop |= i->op == OP_LOOP;
    bool beam = width > 1 && naxes > 0 && prop_beam_fits(p->ctx->arena, f);
    if (beam && has_loop) /* a loop is decided where the beam meets it: no second run */
        return prop_beam(p, f, result_hint, width, undecided);
    for (IrInst *i = f->first; i; i = i->next)
        if (!prop_inst(p, i))
            return false;
    if (!beam)
        return true;
    /* the beam ranks partial plans by estimates and may drop the greedy
     * path: it runs after the greedy choice, which is kept if cheaper */
    Snapshot *greedy = prop_snapshot(p, f);
    double cost_greedy = prop_func_cost(p, f, result_hint);
    prop_reset_body(f);
    if (!prop_beam(p, f, result_hint, width, undecided))
        return false;
    /* the cheapest as modelled of the greedy plan, the beam's, and the
     * integer program's (seeded with the beam's choices) */
    Snapshot *best = greedy;
    double cost_best = cost_greedy, cost_beam = prop_func_cost(p, f, result_hint);
    if (cost_beam <= cost_best) {
        best = prop_snapshot(p, f);
        cost_best = cost_beam;
    }
    if (p->ctx->solver != SOLVER_BEAM && prop_ilp(p, f, result_hint, undecided)) {
        double cost_ilp = prop_func_cost(p, f, result_hint);
        if (cost_ilp < cost_best * (1 - 1e-12) || p->ctx->solver == SOLVER_ILP)
            return true;
    }
    prop_restore(f, best);
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
void prop_reset_body(IrFunc *f)
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
    prop_reset_body(f);
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
            c += prop_move_cost(p, &i->args[0]->type, &i->args[0]->pl, &i->res[0]->pl);
            continue;
        }
        for (int k = 0; i->in_pl && k < i->nargs; k++)
            c += prop_move_cost(p, &i->args[k]->type, &i->args[k]->pl, &i->in_pl[k]);
    }
    for (int k = 0; k < nc; k++)
        c += prop_move_cost(p, &f->results[k]->type, &f->results[k]->pl, &f->params[k]->pl);
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
        c += prop_move_cost(p, &i->args[k]->type, &i->args[k]->pl, &carry[k]);
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
    i->in_pl = prop_in_pl(p, i);
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
        rd->in_pl = prop_in_pl(p, rd);
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

/* Entries on size-1 axes -> R (see the header).  Returns whether pl changed. */
static bool size1_to_r(const IrMesh *mesh, Placement *pl)
{
    bool changed = false;
    for (int a = 0; a < pl->naxes && a < mesh->naxes; a++)
        if (mesh->size[a] == 1 && pl->e[a].kind != PL_R) {
            pl->e[a] = pe_r();
            changed = true;
        }
    return changed;
}

static void size1_func(const IrMesh *mesh, IrFunc *f)
{
    for (int k = 0; k < f->nparams; k++)
        size1_to_r(mesh, &f->params[k]->pl);
    for (IrInst *i = f->first; i; i = i->next) {
        for (int r = 0; r < i->nres; r++)
            size1_to_r(mesh, &i->res[r]->pl);
        for (int k = 0; i->in_pl && k < i->nargs; k++)
            size1_to_r(mesh, &i->in_pl[k]);
        if (i->in_pl)
            i->strategy = i->op == OP_LOOP || i->op == OP_REDISTRIBUTE || i->op == OP_LOCAL_CALL
                              ? i->strategy
                              : rules_strategy(i, i->in_pl);
    }
}

void prop_init(Prop *p, PassCtx *ctx, IrModule *m)
{
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->m = m;
    p->mesh = &m->mesh;
    p->cache = arena_alloc(ctx->arena, sizeof *p->cache * CACHE_SIZE);
}

bool pass_propagate(PassCtx *ctx, IrModule *m)
{
    Prop p;
    prop_init(&p, ctx, m);
    for (int k = 0; k < m->nfuncs; k++)   /* the pinned placements: undecided ones stay so */
        size1_func(&m->mesh, m->funcs[k]);
    /* a loop body is propagated where its loop is */
    for (int k = 0; k < m->nfuncs; k++)
        if (!ir_func_is_loop_body(m, m->funcs[k]) && !propagate_func(&p, m->funcs[k], NULL))
            return false;
    for (int k = 0; k < m->nfuncs; k++)
        size1_func(&m->mesh, m->funcs[k]);
    return true;
}
