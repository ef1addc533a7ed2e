/* select.c - choosing placements for a whole function: the beam search, the
 * integer program (through select_ilp.c), the modelled cost of a decided
 * function and a copy of its decisions, and `dtc report --explain`.
 * propagate.c's propagate_func runs the greedy choice, then these, and
 * keeps the cheapest plan as modelled (see its header).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir_text.h"
#include "passes/plan.h"
#include "passes/propagate_internal.h"
#include "passes/select_ilp.h"

/* ---- the beam: choosing for the whole function ------------------------------------
 * Deciding one instruction at a time and writing the choice into the IR is
 * myopic: an operand placement that is cheapest now can cost every later
 * instruction a collective (a GPT-2 block on tp=4: layernorm split over the
 * tokens because that is cheaper locally, then every projection re-laid
 * out).  So a function is decided by a beam search over partial
 * assignments in program order: a state is the placement of every value
 * still live (defined and used later) and the cost so far (compute plus
 * moves); each state is extended by the BEAM_CHILDREN best strategies of the
 * next instruction given its operands' placements in that state; states
 * that place the live values identically are merged (the cheaper stays,
 * since the future is the same); the BEAM_WIDTH cheapest survive.  At the
 * end (results moved to their hints) the cheapest state is written into the
 * IR.  A loop instruction closes the beam (the best state is written) and
 * is decided as before; the beam restarts after it.  Width 1 is the greedy
 * choice. */
#define BEAM_CHILDREN 4
#define BEAM_CHILDREN_PLACING 16 /* when the instruction places an M[auto] parameter */
#define BEAM_MAX_LIVE 128 /* more values live at once: greedy (prop_beam_fits) */
#define BEAM_MEMO 8       /* distinct operand placements per instruction remembered */

typedef struct Memo {
    Placement *argpl, *also;
    Cand cands[BEAM_CHILDREN_PLACING];
    int n;
} Memo;

/* The memory budget as a cost: 0 within it, else far more than any plan's
 * time (1000 s per budget's worth of excess), so a plan that fits always
 * wins and one that does not is still a plan. */
static double over_budget(const Prop *p, double param_bytes)
{
    double budget = (double)p->ctx->memory_budget;
    if (budget <= 0 || param_bytes <= budget)
        return 0;
    return 1e3 * (param_bytes - budget) / budget;
}

/* What a parameter not yet placed is expected to take on a rank, for the
 * budget's lookahead: split over the largest mesh axis, as tensor- or
 * data-parallel weights are.  (Splitting over every rank, the true least,
 * made the lookahead so optimistic that early layers kept replicated weights
 * and later ones could then fit only by splitting over dp as well.) */
static double min_param_bytes(const Prop *p, const IrValue *v)
{
    double n = (double)ir_type_numel(&v->type), k = 1;
    for (int a = 0; a < p->mesh->naxes; a++)
        if (p->mesh->size[a] > k)
            k = p->mesh->size[a];
    return ceil(n / k) * (double)ir_dtype_size(v->type.dtype);
}

typedef struct Live {
    int vid;
    Placement pl;
    Placement also; /* where it was moved for a user too (naxes 0: nowhere): later users share that */
    double hcost;   /* moving pl to the value's hint (0: none) */
} Live;

typedef struct Decision {
    int parent; /* index in Beam.dec; -1: the start */
    IrInst *inst;
    Placement *in;
    Placement out;
} Decision;

typedef struct BState {
    double cost;
    double score; /* cost + moving the live values to their hints: what the beam ranks by */
    double param_bytes; /* local bytes of the entry parameters placed so far (memory budget) */
    double min_left;    /* the least the parameters not yet placed will need (fully split) */
    int dec; /* the last decision; -1: none yet */
    int nlive;
    Live *live; /* sorted by vid (malloc'd) */
    uint64_t hash;
} BState;

typedef struct Beam {
    Prop *p;
    IrFunc *f;
    int width;
    int *last;     /* by value id: position of its last use; INT32_MAX: a result */
    IrInst **insts;
    int ninsts;
    Decision *dec;
    int ndec, capdec;
    BState *cur;
    int ncur;
    BState *next;
    int nnext, capnext;
} Beam;

static const Live *live_of(const BState *s, int vid)
{
    int lo = 0, hi = s->nlive - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (s->live[mid].vid == vid)
            return &s->live[mid];
        if (s->live[mid].vid < vid)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* FNV-1a over a placement's entries, salted so pl and also differ. */
static uint64_t pl_hash(uint64_t h, const Placement *pl, uint64_t salt)
{
    for (int a = 0; a < pl->naxes; a++) {
        const PlEntry *e = &pl->e[a];
        uint64_t v = (uint64_t)e->kind * 131 + (uint64_t)(e->kind == PL_S ? e->dim : 0) * 7 +
                     (uint64_t)(e->kind == PL_P ? e->red : 0) + salt;
        h = (h ^ v) * 1099511628211ull;
    }
    return h;
}

static uint64_t live_hash(const Live *l, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < n; k++) {
        h = (h ^ (uint64_t)l[k].vid) * 1099511628211ull;
        h = pl_hash(pl_hash(h, &l[k].pl, 0), &l[k].also, 977);
    }
    return h;
}

static bool same_live(const BState *a, const BState *b)
{
    if (a->hash != b->hash || a->nlive != b->nlive)
        return false;
    for (int k = 0; k < a->nlive; k++)
        if (a->live[k].vid != b->live[k].vid || !pl_eq(&a->live[k].pl, &b->live[k].pl) ||
            !pl_eq(&a->live[k].also, &b->live[k].also))
            return false;
    return true;
}

static void *xrealloc(void *q, size_t n)
{
    void *r = realloc(q, n ? n : 1);
    if (!r)
        DTC_BUG("propagate: out of memory");
    return r;
}

static void free_states(BState *s, int n)
{
    for (int k = 0; k < n; k++)
        free(s[k].live);
}

/* A child of s: instruction at position pos decided as (in, out), at cost. */
static void push_child(Beam *b, const BState *s, int pos, IrInst *i, Placement *in, Placement out,
                       double cost)
{
    if (b->nnext == b->capnext) {
        b->capnext = b->capnext ? 2 * b->capnext : 64;
        b->next = xrealloc(b->next, sizeof *b->next * (size_t)b->capnext);
    }
    BState *c = &b->next[b->nnext++];
    c->cost = s->cost + cost;
    c->param_bytes = s->param_bytes;
    c->min_left = s->min_left;
    c->live = xrealloc(NULL, sizeof *c->live * (size_t)(s->nlive + 1));
    c->nlive = 0;
    /* parameters placed by this decision (their first user) count against
     * the memory budget, whether or not they are used again */
    for (int q = 0; q < i->nargs; q++) {
        const Live *l = live_of(s, i->args[q]->id);
        bool first = l && !l->pl.naxes;
        for (int r = 0; r < q && first; r++)
            first = i->args[r] != i->args[q];
        if (first) {
            double before = over_budget(b->p, c->param_bytes + c->min_left);
            c->param_bytes += (double)rules_local_bytes_max(b->p->mesh, &i->args[q]->type, &in[q]);
            c->min_left -= min_param_bytes(b->p, i->args[q]);
            c->cost += over_budget(b->p, c->param_bytes + c->min_left) - before;
        }
    }
    IrValue *res = i->res[0];
    bool keep_res = b->last[res->id] > pos;
    double res_hcost = keep_res && prop_has_hint(b->p, res) ? prop_move_cost(b->p, &res->type, &out, &b->p->hint[res->id]) : 0;
    for (int k = 0; k < s->nlive; k++) {
        if (keep_res && s->live[k].vid > res->id) {
            c->live[c->nlive++] = (Live){res->id, out, pl_replicated(0), res_hcost};
            keep_res = false;
        }
        if (b->last[s->live[k].vid] > pos) {
            Live l = s->live[k];
            for (int q = 0; q < i->nargs; q++) {
                if (i->args[q]->id != l.vid)
                    continue;
                if (!l.pl.naxes)                        /* undecided: placed for its first user */
                    l.pl = in[q];
                else if (!pl_eq(&in[q], &l.pl))         /* moved for this user: later ones share it */
                    l.also = in[q];
            }
            c->live[c->nlive++] = l;
        }
    }
    if (keep_res)
        c->live[c->nlive++] = (Live){res->id, out, pl_replicated(0), res_hcost};
    c->hash = live_hash(c->live, c->nlive);
    c->score = c->cost;
    for (int k = 0; k < c->nlive; k++)
        c->score += c->live[k].hcost;
    Decision d = {s->dec, i, in, out};
    if (b->ndec == b->capdec) {
        b->capdec = b->capdec ? 2 * b->capdec : 256;
        b->dec = xrealloc(b->dec, sizeof *b->dec * (size_t)b->capdec);
    }
    b->dec[b->ndec] = d;
    c->dec = b->ndec++;
}

static int by_score(const void *x, const void *y)
{
    const BState *a = x, *c = y;
    return a->score < c->score ? -1 : a->score > c->score ? 1 : 0;
}

/* next -> cur: the cheapest `width` distinct states. */
static void select_states(Beam *b)
{
    qsort(b->next, (size_t)b->nnext, sizeof *b->next, by_score);
    free_states(b->cur, b->ncur);
    free(b->cur);
    b->cur = xrealloc(NULL, sizeof *b->cur * (size_t)b->width);
    b->ncur = 0;
    for (int k = 0; k < b->nnext; k++) {
        bool dup = b->ncur == b->width;
        for (int j = 0; j < b->ncur && !dup; j++)
            dup = same_live(&b->cur[j], &b->next[k]);
        if (dup)
            free(b->next[k].live);
        else
            b->cur[b->ncur++] = b->next[k];
    }
    b->nnext = 0;
}

/* Writes the decisions on the path to state s into the IR. */
static void commit(Beam *b, const BState *s)
{
    Prop *p = b->p;
    for (int d = s->dec; d >= 0; d = b->dec[d].parent) {
        const Decision *dc = &b->dec[d];
        IrInst *i = dc->inst;
        i->in_pl = prop_in_pl(p, i);
        for (int k = 0; k < i->nargs; k++)
            i->in_pl[k] = dc->in[k];
        IrValue *res = i->res[0];
        if (!res->pinned || res->pl.naxes != p->mesh->naxes)
            res->pl = dc->out;
        i->strategy = i->op == OP_REDISTRIBUTE ? STRAT_LOCAL : rules_strategy(i, dc->in);
    }
    b->ndec = 0;
}

/* One state from the IR: the values defined before position pos and used
 * at or after it, where the IR places them. */
static void restart(Beam *b, int pos)
{
    free_states(b->cur, b->ncur);
    free(b->cur);
    b->cur = xrealloc(NULL, sizeof *b->cur);
    b->ncur = 1;
    BState *s = &b->cur[0];
    s->cost = 0;
    s->dec = -1;
    s->nlive = 0;
    s->live = xrealloc(NULL, sizeof *s->live * (size_t)(b->f->next_id + 1));
    for (int k = 0; k < b->f->nparams; k++) {
        IrValue *v = b->f->params[k];
        if (b->last[v->id] >= pos)
            s->live[s->nlive++] = (Live){v->id, v->pl, pl_replicated(0), 0};
    }
    for (int q = 0; q < pos; q++)
        for (int r = 0; r < b->insts[q]->nres; r++) {
            IrValue *v = b->insts[q]->res[r];
            if (b->last[v->id] >= pos)
                s->live[s->nlive++] = (Live){v->id, v->pl, pl_replicated(0), 0};
        }
    /* ids grow in program order, params first, but sort to be sure */
    for (int k = 1; k < s->nlive; k++)
        for (int j = k; j > 0 && s->live[j - 1].vid > s->live[j].vid; j--) {
            Live t = s->live[j];
            s->live[j] = s->live[j - 1];
            s->live[j - 1] = t;
        }
    s->hash = live_hash(s->live, s->nlive);
    s->score = 0;
    s->param_bytes = s->min_left = 0;
    for (int k = 0; k < b->f->nparams; k++)
        if (b->f->params[k]->pl.naxes)
            s->param_bytes += (double)rules_local_bytes_max(b->p->mesh, &b->f->params[k]->type,
                                                            &b->f->params[k]->pl);
        else
            s->min_left += min_param_bytes(b->p, b->f->params[k]);
    s->cost = over_budget(b->p, s->param_bytes + s->min_left);
}

/* ---- the modelled cost of a decided function, and a copy of its decisions -------- */
/* Compute plus every distinct (value, placement) move, plus moving the
 * results to their hints: what the instructions as decided will cost. */
double prop_func_cost(Prop *p, const IrFunc *f, const Placement *result_hint)
{
    const CostModel *cm = &p->ctx->cost;
    /* (value, placement) moves already paid: later users share them */
    int nmove = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        nmove += i->nargs;
    size_t cap = 16;
    while (cap < 2 * (size_t)nmove)
        cap *= 2;
    struct Paid { const IrValue *v; Placement pl; } *paid = arena_alloc(p->ctx->arena, sizeof *paid * cap);
    memset(paid, 0, sizeof *paid * cap);
    double c = 0;
    for (const IrInst *i = f->first; i; i = i->next) {
        if (i->op == OP_REDISTRIBUTE) {
            c += prop_move_cost(p, &i->args[0]->type, &i->args[0]->pl, &i->res[0]->pl);
            continue;
        }
        if (!i->in_pl)
            continue;
        c += rules_compute_cost(cm, p->m, i, i->in_pl, &i->res[0]->pl);
        for (int k = 0; k < i->nargs; k++) {
            if (pl_eq(&i->args[k]->pl, &i->in_pl[k]))
                continue;
            size_t h = (size_t)pl_hash((uint64_t)i->args[k]->id * 1099511628211ull, &i->in_pl[k], 0) &
                       (cap - 1);
            while (paid[h].v && !(paid[h].v == i->args[k] && pl_eq(&paid[h].pl, &i->in_pl[k])))
                h = (h + 1) & (cap - 1);
            if (paid[h].v)
                continue;
            paid[h].v = i->args[k];
            paid[h].pl = i->in_pl[k];
            c += prop_move_cost(p, &i->args[k]->type, &i->args[k]->pl, &i->in_pl[k]);
        }
    }
    for (int k = 0; result_hint && k < f->nresults; k++)
        if (result_hint[k].naxes == p->mesh->naxes)
            c += prop_move_cost(p, &f->results[k]->type, &f->results[k]->pl, &result_hint[k]);
    double pbytes = 0;
    for (int k = 0; k < f->nparams; k++)
        pbytes += (double)rules_local_bytes_max(p->mesh, &f->params[k]->type, &f->params[k]->pl);
    return c + over_budget(p, pbytes);
}


Snapshot *prop_snapshot(Prop *p, const IrFunc *f)
{
    int n = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        n++;
    Snapshot *s = arena_alloc(p->ctx->arena, sizeof *s);
    s->pl = arena_alloc(p->ctx->arena, sizeof *s->pl * (size_t)(n + 1));
    s->in_pl = arena_alloc(p->ctx->arena, sizeof *s->in_pl * (size_t)(n + 1));
    s->strategy = arena_alloc(p->ctx->arena, sizeof *s->strategy * (size_t)(n + 1));
    s->param = arena_alloc(p->ctx->arena, sizeof *s->param * (size_t)(f->nparams + 1));
    for (int k = 0; k < f->nparams; k++)
        s->param[k] = f->params[k]->pl;
    n = 0;
    for (const IrInst *i = f->first; i; i = i->next, n++) {
        s->pl[n] = i->nres == 1 ? i->res[0]->pl : pl_replicated(0);
        s->in_pl[n] = i->in_pl;
        s->strategy[n] = i->strategy;
    }
    return s;
}

void prop_restore(IrFunc *f, const Snapshot *s)
{
    for (int k = 0; k < f->nparams; k++)
        f->params[k]->pl = s->param[k];
    int n = 0;
    for (IrInst *i = f->first; i; i = i->next, n++) {
        if (i->nres == 1)
            i->res[0]->pl = s->pl[n];
        i->in_pl = s->in_pl[n];
        i->strategy = s->strategy[n];
    }
}

/* States copy the live set: a function with very many values live at once
 * (a wide DAG) is left to the greedy choice, in linear time. */
bool prop_beam_fits(Arena *ar, const IrFunc *f)
{
    int ninsts = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        ninsts++;
    int *last = arena_alloc(ar, sizeof *last * (size_t)(f->next_id + 1));
    int *dies = arena_alloc(ar, sizeof *dies * (size_t)(ninsts + 1));
    for (int k = 0; k <= f->next_id; k++)
        last[k] = -1;
    memset(dies, 0, sizeof *dies * (size_t)(ninsts + 1));
    int pos = 0;
    for (const IrInst *i = f->first; i; i = i->next, pos++)
        for (int k = 0; k < i->nargs; k++)
            last[i->args[k]->id] = pos;
    for (int k = 0; k < f->nresults; k++)
        last[f->results[k]->id] = INT32_MAX;
    int live = 0, maxlive = 0;
    for (int k = 0; k < f->nparams; k++)
        if (last[f->params[k]->id] >= 0) {
            live++;
            if (last[f->params[k]->id] < ninsts)
                dies[last[f->params[k]->id]]++;
        }
    pos = 0;
    for (const IrInst *i = f->first; i; i = i->next, pos++) {
        for (int r = 0; r < i->nres; r++) {
            int l = last[i->res[r]->id];
            if (l > pos) {
                live++;
                if (l < ninsts)
                    dies[l]++;
            }
        }
        if (live > maxlive)
            maxlive = live;
        live -= dies[pos];
    }
    return maxlive <= BEAM_MAX_LIVE;
}

/* Undecided parameters back to undecided, for the beam. */
static void forget_params(IrFunc *f, const bool *undecided)
{
    for (int k = 0; k < f->nparams; k++)
        if (undecided[k])
            f->params[k]->pl.naxes = 0;
}

/* A parameter still undecided after the beam takes the placement its first
 * user wants (replicated if it has none), so it is never moved for it. */
static void place_params(IrFunc *f, int naxes)
{
    for (int k = 0; k < f->nparams; k++) {
        IrValue *v = f->params[k];
        if (v->pl.naxes == naxes)
            continue;
        v->pl = pl_replicated(naxes);
        bool found = false;
        for (IrInst *i = f->first; i && !found; i = i->next)
            for (int q = 0; q < i->nargs && !found; q++)
                if (i->args[q] == v && i->in_pl) {
                    v->pl = i->in_pl[q];
                    found = true;
                }
    }
}

bool prop_beam(Prop *p, IrFunc *f, const Placement *result_hint, int width, const bool *undecided)
{
    forget_params(f, undecided);
    Beam b;
    memset(&b, 0, sizeof b);
    b.p = p;
    b.f = f;
    b.width = width;
    b.last = arena_alloc(p->ctx->arena, sizeof *b.last * (size_t)(f->next_id + 1));
    for (int k = 0; k <= f->next_id; k++)
        b.last[k] = -1;
    for (IrInst *i = f->first; i; i = i->next)
        b.ninsts++;
    b.insts = arena_alloc(p->ctx->arena, sizeof *b.insts * (size_t)(b.ninsts + 1));
    int pos = 0;
    for (IrInst *i = f->first; i; i = i->next, pos++) {
        b.insts[pos] = i;
        for (int k = 0; k < i->nargs; k++)
            b.last[i->args[k]->id] = pos;
    }
    for (int k = 0; k < f->nresults; k++)
        b.last[f->results[k]->id] = INT32_MAX;
    restart(&b, 0);
    bool ok = true;
    for (pos = 0; pos < b.ninsts && ok; pos++) {
        IrInst *i = b.insts[pos];
        if (i->op == OP_LOOP || i->op == OP_CALL || i->op == OP_LOCAL_CALL || i->nres != 1) {
            commit(&b, &b.cur[0]);
            ok = prop_inst(p, i);
            restart(&b, pos + 1);
            continue;
        }
        Placement *argpl = prop_scratch(p, i), *also = prop_scratch(p, i);
        Memo memo[BEAM_MEMO];
        memset(memo, 0, sizeof memo);
        int nmemo = 0;
        for (int s = 0; s < b.ncur; s++) {
            const BState *st = &b.cur[s];
            for (int k = 0; k < i->nargs; k++) {
                const Live *l = live_of(st, i->args[k]->id);
                if (!l)
                    DTC_BUG("propagate: an operand is not live in the beam");
                argpl[k] = l->pl;
                also[k] = l->also;
            }
            /* placing a parameter: its placements differ in memory, which the
             * ranking does not see, so more of them are tried */
            int nchildren = BEAM_CHILDREN;
            for (int k = 0; k < i->nargs; k++)
                if (!argpl[k].naxes)
                    nchildren = BEAM_CHILDREN_PLACING;
            if (i->op == OP_REDISTRIBUTE) {
                Placement *in = prop_scratch(p, i);
                Placement out = i->res[0]->pl.naxes == p->mesh->naxes ? i->res[0]->pl : argpl[0];
                if (!out.naxes)
                    out = pl_replicated(p->mesh->naxes);
                if (!argpl[0].naxes)   /* undecided: placed where it is wanted */
                    argpl[0] = out;
                in[0] = argpl[0];
                push_child(&b, st, pos, i, in, out, prop_move_cost(p, &i->args[0]->type, &argpl[0], &out));
                continue;
            }
            /* states that differ only elsewhere ask the same question */
            int hit = -1;
            for (int q = 0; q < nmemo && hit < 0; q++) {
                bool same = true;
                for (int k = 0; k < i->nargs && same; k++)
                    same = pl_eq(&memo[q].argpl[k], &argpl[k]) && pl_eq(&memo[q].also[k], &also[k]);
                if (same)
                    hit = q;
            }
            if (hit < 0) { /* a new question; when the memo is full its last slot is reused */
                Memo *mm = &memo[hit = nmemo < BEAM_MEMO ? nmemo++ : BEAM_MEMO - 1];
                if (!mm->argpl) {
                    mm->argpl = prop_scratch(p, i);
                    mm->also = prop_scratch(p, i);
                }
                for (int k = 0; k < i->nargs; k++) {
                    mm->argpl[k] = argpl[k];
                    mm->also[k] = also[k];
                }
                memset(mm->cands, 0, sizeof mm->cands);
                mm->n = prop_candidates(p, i, argpl, also, mm->cands, nchildren);
            }
            const Cand *cs = memo[hit].cands;
            int nc = memo[hit].n;
            for (int c = 0; c < nc; c++)
                push_child(&b, st, pos, i, cs[c].in, cs[c].out, cs[c].cost);
        }
        if (b.nnext == 0) {
            /* nothing legal (a pinned result no strategy produces): the
             * greedy step says why */
            commit(&b, &b.cur[0]);
            ok = prop_inst(p, i);
            if (ok)
                DTC_BUG("propagate: the beam found no strategy the greedy step finds");
            break;
        }
        select_states(&b);
    }
    if (ok) {
        int best = 0;
        for (int s = 0; result_hint && s < b.ncur; s++) {
            for (int k = 0; k < f->nresults; k++) {
                const Live *l = live_of(&b.cur[s], f->results[k]->id);
                if (l && result_hint[k].naxes == p->mesh->naxes)
                    b.cur[s].cost += prop_move_cost(p, &f->results[k]->type, &l->pl, &result_hint[k]);
            }
            if (b.cur[s].cost < b.cur[best].cost)
                best = s;
        }
        commit(&b, &b.cur[best]);
    }
    free_states(b.cur, b.ncur);
    free(b.cur);
    free_states(b.next, b.nnext);
    free(b.next);
    free(b.dec);
    place_params(f, p->mesh->naxes);
    return ok;
}

/* ---- the integer program: choosing for the whole function, exactly ---------------
 * The function's instructions (and its M[auto] parameters) as the nodes of
 * select_ilp.c's program: each instruction's ILP_STRATS cheapest strategies
 * by local cost with its operands free (plus the one the beam chose, so the
 * program can always do as well), each auto parameter's placements those
 * its users' strategies want; an edge per operand priced by plan_cost from
 * the producer's result placement to what the strategy needs.  Solved
 * within ILP_TIME_LIMIT; false (the caller keeps the beam's plan) if the
 * function has a loop or call, is too large, or nothing was found. */
#define ILP_STRATS 8
#define ILP_MAX_NODES 400 /* beyond: the beam alone (compile time stays linear) */
#define ILP_TIME_LIMIT 0.25 /* seconds; the best point found by then */

typedef struct IlpStrat {
    Placement *in;
    Placement out;
} IlpStrat;

/* Appends strategy (in[0..nargs), out) at cost c unless st[0..n) has it. */
static int ilp_add(Arena *ar, int nargs, IlpStrat *st, double *cost, int n, const Placement *in,
                   const Placement *out, double c)
{
    for (int q = 0; q < n; q++) {
        bool same = pl_eq(&st[q].out, out);
        for (int k = 0; k < nargs && same; k++)
            same = pl_eq(&st[q].in[k], &in[k]);
        if (same)
            return n;
    }
    st[n].in = arena_alloc(ar, sizeof *st[n].in * (size_t)(nargs > 0 ? nargs : 1));
    for (int k = 0; k < nargs; k++)
        st[n].in[k] = in[k];
    st[n].out = *out;
    cost[n] = c;
    return n + 1;
}

bool prop_ilp(Prop *p, IrFunc *f, const Placement *result_hint, const bool *undecided)
{
    if (!ilp_available() || p->mesh->naxes == 0)
        return false;
    Arena *ar = p->ctx->arena;
    int ninst = 0;
    for (IrInst *i = f->first; i; i = i->next, ninst++)
        if (i->op == OP_LOOP || i->op == OP_CALL || i->op == OP_LOCAL_CALL || i->nres != 1 || !i->in_pl ||
            (i->op == OP_REDISTRIBUTE && !i->res[0]->pinned))
            return false;
    int nparam_nodes = 0;
    for (int k = 0; k < f->nparams; k++)
        nparam_nodes += undecided[k];
    int nn = nparam_nodes + ninst;
    if (nn > ILP_MAX_NODES || nn == 0)
        return false;
    int *node_of = arena_alloc(ar, sizeof *node_of * (size_t)(f->next_id + 1));
    for (int v = 0; v <= f->next_id; v++)
        node_of[v] = -1;
    IrValue **pnode = arena_alloc(ar, sizeof *pnode * (size_t)(nparam_nodes + 1));
    IrInst **inode = arena_alloc(ar, sizeof *inode * (size_t)(ninst + 1));
    int n = 0;
    for (int k = 0; k < f->nparams; k++)
        if (undecided[k]) {
            pnode[n] = f->params[k];
            node_of[f->params[k]->id] = n++;
        }
    for (IrInst *i = f->first; i; i = i->next) {
        inode[n - nparam_nodes] = i;
        node_of[i->res[0]->id] = n++;
    }
    int *nstrat = arena_alloc(ar, sizeof *nstrat * (size_t)nn);
    double **ncost = arena_alloc(ar, sizeof *ncost * (size_t)nn);
    double **mem = arena_alloc(ar, sizeof *mem * (size_t)nn);
    IlpStrat **strat = arena_alloc(ar, sizeof *strat * (size_t)nn);
    const CostModel *cm = &p->ctx->cost;

    /* instructions */
    int nedges = 0;
    for (int q = 0; q < ninst; q++) {
        IrInst *i = inode[q];
        int nd = nparam_nodes + q;
        IlpStrat *st = arena_alloc(ar, sizeof *st * (ILP_STRATS + 1));
        double *c = arena_alloc(ar, sizeof *c * (ILP_STRATS + 1));
        mem[nd] = NULL;
        Placement *argpl = prop_scratch(p, i);
        double fixed_moves = 0; /* the beam's strategy, moved from pinned parameters */
        for (int k = 0; k < i->nargs; k++) {
            IrValue *a = i->args[k];
            argpl[k] = node_of[a->id] < 0 ? a->pl : pl_replicated(0);
            if (node_of[a->id] < 0)
                fixed_moves += prop_move_cost(p, &a->type, &a->pl,
                                         i->op == OP_REDISTRIBUTE ? &i->res[0]->pl : &i->in_pl[k]);
            else
                nedges++;
        }
        int ns = 0;
        if (i->op == OP_REDISTRIBUTE) {
            /* its operand comes as it is; the edge prices the move */
            ns = ilp_add(ar, i->nargs, st, c, 0, argpl, &i->res[0]->pl, fixed_moves);
        } else {
            Cand cands[ILP_STRATS];
            memset(cands, 0, sizeof cands);
            int nc = prop_candidates(p, i, argpl, NULL, cands, ILP_STRATS);
            for (int k = 0; k < nc; k++)
                ns = ilp_add(ar, i->nargs, st, c, ns, cands[k].in, &cands[k].out, cands[k].cost);
            double mine = rules_compute_cost(cm, p->m, i, i->in_pl, &i->res[0]->pl) + fixed_moves;
            ns = ilp_add(ar, i->nargs, st, c, ns, i->in_pl, &i->res[0]->pl, mine);
        }
        nstrat[nd] = ns;
        ncost[nd] = c;
        strat[nd] = st;
    }
    /* auto parameters: the placements their users want */
    for (int q = 0; q < nparam_nodes; q++) {
        IrValue *v = pnode[q];
        int cap = 1;
        for (int r = 0; r < ninst; r++)
            for (int k = 0; k < inode[r]->nargs; k++)
                if (inode[r]->args[k] == v)
                    cap += nstrat[nparam_nodes + r];
        IlpStrat *st = arena_alloc(ar, sizeof *st * (size_t)(cap + 1));
        double *c = arena_alloc(ar, sizeof *c * (size_t)(cap + 1));
        int ns = ilp_add(ar, 0, st, c, 0, NULL, &v->pl, 0); /* a parameter has no operands */
        for (int r = 0; r < ninst; r++)
            for (int k = 0; k < inode[r]->nargs; k++)
                if (inode[r]->args[k] == v)
                    for (int t = 0; t < nstrat[nparam_nodes + r]; t++)
                        ns = ilp_add(ar, 0, st, c, ns, NULL,
                                     inode[r]->op == OP_REDISTRIBUTE ? &strat[nparam_nodes + r][t].out
                                                                     : &strat[nparam_nodes + r][t].in[k],
                                     0);
        nstrat[q] = ns;
        ncost[q] = c;
        strat[q] = st;
        mem[q] = arena_alloc(ar, sizeof *mem[q] * (size_t)ns);
        for (int s = 0; s < ns; s++)
            mem[q][s] = (double)rules_local_bytes_max(p->mesh, &v->type, &st[s].out);
    }
    /* results to their hints */
    for (int k = 0; result_hint && k < f->nresults; k++) {
        int u = node_of[f->results[k]->id];
        if (u < 0 || result_hint[k].naxes != p->mesh->naxes)
            continue;
        for (int s = 0; s < nstrat[u]; s++)
            ncost[u][s] += prop_move_cost(p, &f->results[k]->type, &strat[u][s].out, &result_hint[k]);
    }
    /* edges */
    int *eu = arena_alloc(ar, sizeof *eu * (size_t)(nedges + 1));
    int *ev = arena_alloc(ar, sizeof *ev * (size_t)(nedges + 1));
    double **ecost = arena_alloc(ar, sizeof *ecost * (size_t)(nedges + 1));
    int ne = 0;
    for (int q = 0; q < ninst; q++) {
        IrInst *i = inode[q];
        int v = nparam_nodes + q;
        for (int k = 0; k < i->nargs; k++) {
            int u = node_of[i->args[k]->id];
            if (u < 0)
                continue;
            double *ec = arena_alloc(ar, sizeof *ec * (size_t)(nstrat[u] * nstrat[v]));
            for (int s = 0; s < nstrat[u]; s++)
                for (int t = 0; t < nstrat[v]; t++)
                    ec[s * nstrat[v] + t] =
                        prop_move_cost(p, &i->args[k]->type, &strat[u][s].out,
                                  i->op == OP_REDISTRIBUTE ? &strat[v][t].out : &strat[v][t].in[k]);
            eu[ne] = u;
            ev[ne] = v;
            ecost[ne++] = ec;
        }
    }
    double budget = (double)p->ctx->memory_budget;
    if (budget > 0)
        for (int k = 0; k < f->nparams; k++)
            if (!undecided[k])
                budget -= (double)rules_local_bytes_max(p->mesh, &f->params[k]->type, &f->params[k]->pl);
    if (p->ctx->memory_budget > 0 && budget <= 0)
        return false; /* the annotated parameters alone exceed it */
    IlpProblem pb = {nn, nstrat, ncost, mem, p->ctx->memory_budget > 0 ? budget : 0,
                     ne, eu, ev, ecost};
    int *choice = arena_alloc(ar, sizeof *choice * (size_t)nn);
    if (!ilp_select(&pb, ILP_TIME_LIMIT, choice))
        return false;
    for (int q = 0; q < nparam_nodes; q++)
        pnode[q]->pl = strat[q][choice[q]].out;
    for (int q = 0; q < ninst; q++) {
        IrInst *i = inode[q];
        const IlpStrat *st = &strat[nparam_nodes + q][choice[nparam_nodes + q]];
        if (!i->res[0]->pinned)
            i->res[0]->pl = st->out;
    }
    for (int q = 0; q < ninst; q++) {
        IrInst *i = inode[q];
        const IlpStrat *st = &strat[nparam_nodes + q][choice[nparam_nodes + q]];
        i->in_pl = prop_in_pl(p, i);
        for (int k = 0; k < i->nargs; k++)
            i->in_pl[k] = i->op == OP_REDISTRIBUTE ? i->args[k]->pl : st->in[k];
        i->strategy = i->op == OP_REDISTRIBUTE ? STRAT_LOCAL : rules_strategy(i, i->in_pl);
    }
    return true;
}

/* ---- dtc report --explain ------------------------------------------------------------ */
static void explain_func(Prop *p, const IrFunc *f, FILE *out)
{
    char vb[64], pb[256], qb[256];
    for (IrInst *i = f->first; i; i = i->next) {
        if (!i->in_pl || i->nres != 1 || i->op == OP_REDISTRIBUTE || i->op == OP_LOOP ||
            i->op == OP_LOCAL_CALL)
            continue;
        Placement *argpl = prop_scratch(p, i);
        for (int k = 0; k < i->nargs; k++)
            argpl[k] = i->args[k]->pl;
        Cand c[3];
        memset(c, 0, sizeof c);
        int n = prop_candidates(p, i, argpl, NULL, c, 3);
        /* the chosen strategy's cost with the operands where they are */
        double chosen = rules_compute_cost(&p->ctx->cost, p->m, i, i->in_pl, &i->res[0]->pl);
        for (int k = 0; k < i->nargs; k++)
            chosen += prop_move_cost(p, &i->args[k]->type, &i->args[k]->pl, &i->in_pl[k]);
        const Cand *alt = NULL;
        for (int q = 0; q < n && !alt; q++) {
            bool same = pl_eq(&c[q].out, &i->res[0]->pl);
            for (int k = 0; k < i->nargs && same; k++)
                same = pl_eq(&c[q].in[k], &i->in_pl[k]);
            if (!same)
                alt = &c[q];
        }
        if (i->loc.file)
            fprintf(out, "%s:%d:%d: ", i->loc.file, i->loc.line, i->loc.col);
        fprintf(out, "%s%s%s %s: ", ir_op_name(i->op), i->op == OP_RULE_CALL ? " @" : "",
                i->op == OP_RULE_CALL ? i->a.fn->name : "", ir_value_str(i->res[0], vb, sizeof vb));
        for (int k = 0; k < i->nargs; k++)
            fprintf(out, "%s%s", k ? ", " : "(", pl_str(p->mesh, &i->in_pl[k], pb, sizeof pb));
        fprintf(out, "%s -> %s, %.3f us", i->nargs ? ")" : "()",
                pl_str(p->mesh, &i->res[0]->pl, qb, sizeof qb), chosen * 1e6);
        if (alt) {
            fprintf(out, "; runner-up ");
            for (int k = 0; k < i->nargs; k++)
                fprintf(out, "%s%s", k ? ", " : "(", pl_str(p->mesh, &alt->in[k], pb, sizeof pb));
            fprintf(out, "%s -> %s, %.3f us%s", i->nargs ? ")" : "()",
                    pl_str(p->mesh, &alt->out, qb, sizeof qb), alt->cost * 1e6,
                    alt->cost < chosen ? " here, dearer later" : "");
        }
        fputc('\n', out);
    }
}

void propagate_explain(PassCtx *ctx, IrModule *m, FILE *out)
{
    Prop p;
    prop_init(&p, ctx, m);
    fprintf(out, "placement choice (each instruction: its operands' and result's placements and its cost "
                 "with the operands where they are, then the best other strategy):\n");
    for (int k = 0; k < m->nfuncs; k++) {
        IrFunc *f = m->funcs[k];
        if (f != m->entry && !ir_func_is_loop_body(m, f))
            continue;
        p.hint = arena_alloc(ctx->arena, sizeof *p.hint * (size_t)(f->next_id + 1));
        if (f != m->entry)
            fprintf(out, "in loop body @%s:\n", f->name);
        explain_func(&p, f, out);
    }
    /* annotated parameters moved for a user, which the plan judged cheaper */
    char vb[64], pb[256], qb[256];
    for (int k = 0; m->entry && k < m->entry->nparams; k++) {
        IrValue *v = m->entry->params[k];
        for (IrInst *i = m->entry->first; i; i = i->next)
            for (int q = 0; i->in_pl && q < i->nargs; q++)
                if (i->args[q] == v && !pl_eq(&i->in_pl[q], &v->pl)) {
                    fprintf(out, "note: %s parameter %s is moved from %s to %s for %s (cheaper than "
                                 "every plan that keeps it)\n",
                            v->pinned ? "the annotated" : "the", ir_value_str(v, vb, sizeof vb),
                            pl_str(p.mesh, &v->pl, pb, sizeof pb), pl_str(p.mesh, &i->in_pl[q], qb, sizeof qb),
                            ir_op_name(i->op));
                    q = i->nargs;
                }
    }
}
