/* plan.c - redistribution planning: the cheapest legal sequence of steps
 * (plan.h) that turns one placement of a tensor into another.
 *
 * Uniform-cost search (Dijkstra, A*-ordered by a consistent lower bound)
 * over placements: a state gives every mesh axis one entry among R,
 * S(0..rank-1), the `from` partial kind of that axis and the `to` partial
 * kind of that axis (other partial kinds can only add cost), so there are at
 * most (rank+3)^naxes states.  Tensors of rank > 4 only split the dims that
 * `from` or `to` split plus the largest others up to 4 (search_dims).
 * Edges are the legal steps, on one axis or on a set of axes making the
 * same transition at once (one collective over the combined group); their
 * cost comes from cost.c.  The result is the cheapest plan over these steps.
 *
 * Legality, with splits of one dim nesting in axis order (lower axis outer):
 *  - all_gather / all_to_all out of S(d) over A: A is the innermost splitters
 *    of d (no axis outside A above min(A) splits d);
 *  - shard / reduce_scatter / all_to_all into S(d') over A: no axis at or
 *    above min(A) splits d' yet (A becomes its innermost splitters);
 *  - all_reduce / reduce_scatter of P(red) over A: every partial axis above
 *    min(A) outside A has a kind that commutes with red (partials reduce
 *    innermost first, see plan.h);
 *  - a partial changes kind only through R (all_reduce, then to_partial).
 * Requires: valid placements (plan_placement_valid).  No global state; the
 * search's scratch memory is a private arena freed before returning.
 */
#include "passes/plan.h"

#include <math.h>
#include <string.h>

const char *plan_step_name(StepKind k)
{
    switch (k) {
    case STEP_ALL_REDUCE: return "all_reduce";
    case STEP_REDUCE_SCATTER: return "reduce_scatter";
    case STEP_ALL_GATHER: return "all_gather";
    case STEP_ALL_TO_ALL: return "all_to_all";
    case STEP_SHARD: return "shard";
    case STEP_TO_PARTIAL: return "to_partial";
    }
    return "?";
}

IrOp plan_step_op(StepKind k)
{
    switch (k) {
    case STEP_ALL_REDUCE: return OP_ALL_REDUCE;
    case STEP_REDUCE_SCATTER: return OP_REDUCE_SCATTER;
    case STEP_ALL_GATHER: return OP_ALL_GATHER;
    case STEP_ALL_TO_ALL: return OP_ALL_TO_ALL;
    case STEP_SHARD: return OP_SHARD;
    case STEP_TO_PARTIAL: return OP_TO_PARTIAL;
    }
    DTC_BUG("unknown step kind");
}

static bool is_collective(StepKind k) { return k != STEP_SHARD && k != STEP_TO_PARTIAL; }

/* ---- placements ------------------------------------------------------------ */

/* The entry with the fields its kind does not use cleared. */
static PlEntry entry_norm(PlEntry e)
{
    PlEntry n = {e.kind, 0, RED_SUM};
    if (e.kind == PL_S)
        n.dim = e.dim;
    else if (e.kind == PL_P)
        n.red = e.red;
    return n;
}

static bool entry_eq(PlEntry a, PlEntry b)
{
    return a.kind == b.kind && (a.kind != PL_S || a.dim == b.dim) && (a.kind != PL_P || a.red == b.red);
}

bool plan_placement_valid(const IrMesh *m, const IrType *t, const Placement *p)
{
    if (m->naxes < 0 || m->naxes > IR_MAX_AXES || p->naxes != m->naxes)
        return false;
    for (int a = 0; a < p->naxes; a++) {
        const PlEntry *e = &p->e[a];
        if (m->size[a] <= 0)
            return false;
        if (e->kind == PL_S && (e->dim < 0 || e->dim >= t->rank))
            return false;
        if (e->kind == PL_P && (unsigned)e->red > RED_AVG)
            return false;
        if (e->kind != PL_R && e->kind != PL_S && e->kind != PL_P)
            return false;
    }
    return true;
}

static unsigned splitters(const Placement *p, int d)
{
    unsigned s = 0;
    for (int a = 0; a < p->naxes; a++)
        if (p->e[a].kind == PL_S && p->e[a].dim == d)
            s |= 1u << a;
    return s;
}

/* Whether reductions of kinds a and b may be swapped. */
static bool red_commute(RedOp a, RedOp b)
{
    bool la = a == RED_SUM || a == RED_AVG, lb = b == RED_SUM || b == RED_AVG;
    return a == b || (la && lb);
}

/* Checks that st is legal from cur and sets st->after; normalises unused
 * fields. */
static bool step_after(const IrMesh *m, const IrType *t, const Placement *cur, PlanStep *st)
{
    unsigned all = (1u << m->naxes) - 1, A = st->axes;
    if (A == 0 || (A & ~all))
        return false;
    int lo = 0;
    while (!(A & (1u << lo)))
        lo++;
    unsigned above = all & (~0u << lo); /* axes at or above min(A) */
    bool uses_dim = st->kind != STEP_ALL_REDUCE && st->kind != STEP_TO_PARTIAL;
    bool uses_red = st->kind == STEP_ALL_REDUCE || st->kind == STEP_REDUCE_SCATTER ||
                    st->kind == STEP_TO_PARTIAL;
    if (!uses_dim)
        st->dim = -1;
    if (st->kind != STEP_ALL_TO_ALL)
        st->dim2 = -1;
    if (!uses_red)
        st->red = RED_SUM;
    if (uses_dim && (st->dim < 0 || st->dim >= t->rank))
        return false;
    if (uses_red && (unsigned)st->red > RED_AVG)
        return false;

    PlEntry nx = {PL_R, 0, RED_SUM};
    switch (st->kind) {
    case STEP_ALL_REDUCE:
    case STEP_REDUCE_SCATTER:
        for (int a = 0; a < m->naxes; a++) {
            const PlEntry *e = &cur->e[a];
            if ((A & (1u << a)) && (e->kind != PL_P || e->red != st->red))
                return false;
            if (!(A & (1u << a)) && (above & (1u << a)) && e->kind == PL_P && !red_commute(e->red, st->red))
                return false;
        }
        if (st->kind == STEP_REDUCE_SCATTER) {
            if (splitters(cur, st->dim) & above)
                return false;
            nx = (PlEntry){PL_S, st->dim, RED_SUM};
        }
        break;
    case STEP_ALL_GATHER:
    case STEP_ALL_TO_ALL: {
        unsigned s = splitters(cur, st->dim);
        if ((A & ~s) || (s & ~A & above))
            return false;
        if (st->kind == STEP_ALL_TO_ALL) {
            if (st->dim2 < 0 || st->dim2 >= t->rank || st->dim2 == st->dim)
                return false;
            if (splitters(cur, st->dim2) & above)
                return false;
            nx = (PlEntry){PL_S, st->dim2, RED_SUM};
        }
        break;
    }
    case STEP_SHARD:
    case STEP_TO_PARTIAL:
        for (int a = 0; a < m->naxes; a++)
            if ((A & (1u << a)) && cur->e[a].kind != PL_R)
                return false;
        if (st->kind == STEP_SHARD) {
            if (splitters(cur, st->dim) & above)
                return false;
            nx = (PlEntry){PL_S, st->dim, RED_SUM};
        } else {
            nx = (PlEntry){PL_P, 0, st->red};
        }
        break;
    default:
        return false;
    }
    st->after = *cur;
    for (int a = 0; a < m->naxes; a++)
        st->after.e[a] = (A & (1u << a)) ? nx : entry_norm(cur->e[a]);
    return true;
}

bool plan_step_make(const CostModel *cm, const IrMesh *m, const IrType *t,
                    const Placement *before, PlanStep *st)
{
    if (!plan_placement_valid(m, t, before) || !step_after(m, t, before, st))
        return false;
    plan_step_measure(cm, m, t, before, st);
    return true;
}

/* ---- the search ---------------------------------------------------------------- */

#define MAX_CODES (IR_MAX_RANK + 3)

typedef struct Search {
    const CostModel *cm;
    const IrMesh *m;
    const IrType *t;
    int n;                                 /* mesh axes */
    int ncode[IR_MAX_AXES];                /* entries an axis may take */
    PlEntry code[IR_MAX_AXES][MAX_CODES];
    int stride[IR_MAX_AXES];
    int8_t code_of[IR_MAX_AXES][1 + IR_MAX_RANK + 4]; /* entry key -> code index, -1: none */
    unsigned dims;                         /* tensor dims the search may split */
    int nstates;
    const Placement *to;                   /* the target */
    double amin;                           /* smallest alpha of any axis */
    double vol_unit;                       /* numel / nranks * dtype size * smallest beta */
    double *dist;                          /* best known cost; HUGE_VAL: none */
    double *f;                             /* dist + lower bound to the target (A*) */
    int *prev;                             /* state the best path came from */
    PlanStep *via;                         /* step that led here */
    unsigned char *done;                   /* settled */
    int *heap, *pos, nheap;                /* min-heap of states by f; pos: -1 absent */
    CostCache *cache;                      /* step volumes */
} Search;

/* Small key of an entry: R 0, S(d) 1+d, P(red) 1+IR_MAX_RANK+red. */
static int entry_key(PlEntry e)
{
    return e.kind == PL_R ? 0 : e.kind == PL_S ? 1 + e.dim : 1 + IR_MAX_RANK + (int)e.red;
}

static int encode(const Search *s, const Placement *p)
{
    int idx = 0;
    for (int a = 0; a < s->n; a++) {
        int j = 0;
        while (j < s->ncode[a] && !entry_eq(s->code[a][j], p->e[a]))
            j++;
        if (j == s->ncode[a])
            return -1;
        idx += j * s->stride[a];
    }
    return idx;
}

static Placement decode(const Search *s, int idx)
{
    Placement p = pl_replicated(s->n);
    for (int a = 0; a < s->n; a++)
        p.e[a] = s->code[a][(idx / s->stride[a]) % s->ncode[a]];
    return p;
}

static void heap_swap(Search *s, int i, int j)
{
    int x = s->heap[i];
    s->heap[i] = s->heap[j];
    s->heap[j] = x;
    s->pos[s->heap[i]] = i;
    s->pos[s->heap[j]] = j;
}

static void heap_up(Search *s, int i)
{
    while (i > 0 && s->f[s->heap[(i - 1) / 2]] > s->f[s->heap[i]]) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static int heap_pop(Search *s)
{
    int top = s->heap[0];
    s->pos[top] = -1;
    if (--s->nheap > 0) {
        s->heap[0] = s->heap[s->nheap];
        s->pos[s->heap[0]] = 0;
        int i = 0;
        for (;;) {
            int l = 2 * i + 1, r = l + 1, b = i;
            if (l < s->nheap && s->f[s->heap[l]] < s->f[s->heap[b]])
                b = l;
            if (r < s->nheap && s->f[s->heap[r]] < s->f[s->heap[b]])
                b = r;
            if (b == i)
                break;
            heap_swap(s, i, b);
            i = b;
        }
    }
    return top;
}

/* A lower bound of the cost from p to the target, for A*.  An axis that
 * holds S or P and must change needs a collective on it (local steps only
 * act on R axes); a collective over A costs at least alpha ceil(log2 k_A)
 * (cost.c) plus one alpha for the call, and ceil(log2 k_A) >= log2 k_A =
 * sum over A of log2 k_a.  The bound is consistent: a step lowers it by at
 * most what it costs. */
static double lower_bound(const Search *s, const Placement *p)
{
    double h = 0;
    for (int a = 0; a < s->n; a++) {
        PlEntry e = p->e[a], t = s->to->e[a];
        if (e.kind == PL_R || entry_eq(e, t) || s->m->size[a] == 1)
            continue;
        h += log2((double)s->m->size[a]) * s->amin;
        /* A partial must be reduced, and a split whose target is not a
         * split must be gathered (all_to_all keeps it a split): either
         * collective over A moves at least (k_A - 1) numel / nranks
         * elements on the rank at coordinate 0, which holds the largest
         * pieces, at least numel k_A / nranks of them. */
        if (e.kind == PL_P || t.kind != PL_S)
            h += (s->m->size[a] - 1) * s->vol_unit;
    }
    return h > 0 ? h + s->amin : 0;
}

/* Relaxes the edge cur --st--> (st->after) if the step is legal. */
static void try_step(Search *s, int from, const Placement *cur, const int *digit, PlanStep st)
{
    if (!step_after(s->m, s->t, cur, &st))
        return;
    int to = from;
    for (int a = 0; a < s->n; a++)
        if (st.axes & (1u << a)) {
            int c = s->code_of[a][entry_key(st.after.e[a])];
            if (c < 0)
                return;
            to += (c - digit[a]) * s->stride[a];
        }
    if (s->done[to])
        return;
    if (is_collective(st.kind)) {
        /* skip measuring when the call and messages alone cannot improve */
        int k = plan_group_size(s->m, st.axes);
        double msgs = k > 1 ? (st.kind == STEP_ALL_REDUCE ? 2.0 * k - 1 : (double)k) : 0;
        if (s->dist[from] + msgs * s->amin >= s->dist[to])
            return;
    }
    plan_step_measure_cached(s->cm, s->cache, s->m, s->t, cur, &st);
    double d = s->dist[from] + st.cost;
    if (d >= s->dist[to])
        return;
    s->f[to] = d + (s->dist[to] == HUGE_VAL ? lower_bound(s, &st.after) : s->f[to] - s->dist[to]);
    s->dist[to] = d;
    s->prev[to] = from;
    s->via[to] = st;
    if (s->pos[to] < 0) {
        s->pos[to] = s->nheap;
        s->heap[s->nheap++] = to;
    }
    heap_up(s, s->pos[to]);
}

static PlanStep mkstep(StepKind k, unsigned axes, RedOp red, int dim, int dim2)
{
    PlanStep st;
    memset(&st, 0, sizeof st);
    st.kind = k;
    st.axes = axes;
    st.red = red;
    st.dim = dim;
    st.dim2 = dim2;
    return st;
}

/* Every step out of state `from` (legality is checked in try_step). */
static void expand(Search *s, int from)
{
    Placement cur = decode(s, from);
    int digit[IR_MAX_AXES];
    for (int a = 0; a < s->n; a++)
        digit[a] = (from / s->stride[a]) % s->ncode[a];
    int rank = s->t->rank;
    unsigned rmask = 0, pmask[4] = {0}, tpmask[4] = {0};
    for (int a = 0; a < s->n; a++) {
        if (cur.e[a].kind == PL_R)
            rmask |= 1u << a;
        else if (cur.e[a].kind == PL_P)
            pmask[cur.e[a].red] |= 1u << a;
        /* R axes that may become partial: into a kind the states allow */
        for (int j = 0; j < s->ncode[a]; j++)
            if (cur.e[a].kind == PL_R && s->code[a][j].kind == PL_P)
                tpmask[s->code[a][j].red] |= 1u << a;
    }
    /* reductions: any subset of the axes holding one partial kind */
    for (int r = 0; r < 4; r++)
        for (unsigned A = pmask[r]; A; A = (A - 1) & pmask[r]) {
            try_step(s, from, &cur, digit, mkstep(STEP_ALL_REDUCE, A, (RedOp)r, -1, -1));
            for (int d = 0; d < rank; d++)
                if (s->dims & (1u << d))
                    try_step(s, from, &cur, digit, mkstep(STEP_REDUCE_SCATTER, A, (RedOp)r, d, -1));
        }
    for (int d = 0; d < rank; d++) {
        /* out of S(d): the innermost 1, 2, ... splitters of d */
        unsigned spl = splitters(&cur, d), A = 0;
        for (int a = s->n - 1; a >= 0; a--) {
            if (!(spl & (1u << a)))
                continue;
            A |= 1u << a;
            try_step(s, from, &cur, digit, mkstep(STEP_ALL_GATHER, A, RED_SUM, d, -1));
            for (int d2 = 0; d2 < rank; d2++)
                if (d2 != d && (s->dims & (1u << d2)))
                    try_step(s, from, &cur, digit, mkstep(STEP_ALL_TO_ALL, A, RED_SUM, d, d2));
        }
        if (s->dims & (1u << d))
            for (unsigned B = rmask; B; B = (B - 1) & rmask)
                try_step(s, from, &cur, digit, mkstep(STEP_SHARD, B, RED_SUM, d, -1));
    }
    for (int r = 0; r < 4; r++)
        for (unsigned B = tpmask[r]; B; B = (B - 1) & tpmask[r])
            try_step(s, from, &cur, digit, mkstep(STEP_TO_PARTIAL, B, (RedOp)r, -1, -1));
}

/* Reduce and gather every axis, innermost first, then shard and make
 * partial outermost first: legal from any placement to any other, at most
 * 2 naxes steps. */
static bool replicate_plan(const CostModel *cm, const IrMesh *m, const IrType *t, const Placement *from,
                           const Placement *to, Plan *out)
{
    Placement cur = *from;
    out->nsteps = 0;
    for (int a = m->naxes - 1; a >= 0; a--) {
        PlEntry e = cur.e[a];
        if (e.kind == PL_R)
            continue;
        PlanStep st = e.kind == PL_P ? mkstep(STEP_ALL_REDUCE, 1u << a, e.red, -1, -1)
                                     : mkstep(STEP_ALL_GATHER, 1u << a, RED_SUM, e.dim, -1);
        if (!plan_step_make(cm, m, t, &cur, &st))
            return false;
        out->steps[out->nsteps++] = st;
        cur = st.after;
    }
    for (int a = 0; a < m->naxes; a++) {
        PlEntry e = to->e[a];
        if (e.kind == PL_R)
            continue;
        PlanStep st = e.kind == PL_P ? mkstep(STEP_TO_PARTIAL, 1u << a, e.red, -1, -1)
                                     : mkstep(STEP_SHARD, 1u << a, RED_SUM, e.dim, -1);
        if (!plan_step_make(cm, m, t, &cur, &st))
            return false;
        out->steps[out->nsteps++] = st;
        cur = st.after;
    }
    return out->nsteps > 0;
}

/* The tensor dims a plan may split: all of them up to PLAN_ALL_DIMS dims;
 * beyond that the dims split in `from` or `to` plus the largest others as
 * temporaries until PLAN_ALL_DIMS are in (the search grows as
 * (dims + 3)^axes; a temporary only parks a split, and a large dim parks
 * it in the smallest pieces). */
#define PLAN_ALL_DIMS 4

static unsigned search_dims(const IrType *t, const Placement *from, const Placement *to)
{
    if (t->rank <= PLAN_ALL_DIMS)
        return (1u << t->rank) - 1;
    unsigned used = 0;
    int n = 0;
    for (int a = 0; a < from->naxes; a++) {
        if (from->e[a].kind == PL_S)
            used |= 1u << from->e[a].dim;
        if (to->e[a].kind == PL_S)
            used |= 1u << to->e[a].dim;
    }
    for (int d = 0; d < t->rank; d++)
        n += (used >> d) & 1;
    while (n < PLAN_ALL_DIMS) {
        int best = -1;
        for (int d = 0; d < t->rank; d++)
            if (!(used & (1u << d)) && (best < 0 || t->dims[d] > t->dims[best]))
                best = d;
        used |= 1u << best;
        n++;
    }
    return used;
}

bool plan_redistribute(const CostModel *cm, const IrMesh *m, const IrType *t,
                       const Placement *from, const Placement *to, Plan *out)
{
    memset(out, 0, sizeof *out);
    if (!plan_placement_valid(m, t, from) || !plan_placement_valid(m, t, to))
        return false;
    if (pl_eq(from, to))
        return true;

    Search s;
    memset(&s, 0, sizeof s);
    s.cm = cm;
    s.m = m;
    s.t = t;
    s.n = m->naxes;
    s.nstates = 1;
    s.dims = search_dims(t, from, to);
    for (int a = 0; a < s.n; a++) {
        int k = 0;
        s.code[a][k++] = (PlEntry){PL_R, 0, RED_SUM};
        for (int d = 0; d < t->rank; d++)
            if (s.dims & (1u << d))
                s.code[a][k++] = (PlEntry){PL_S, d, RED_SUM};
        if (from->e[a].kind == PL_P)
            s.code[a][k++] = (PlEntry){PL_P, 0, from->e[a].red};
        if (to->e[a].kind == PL_P && !(from->e[a].kind == PL_P && from->e[a].red == to->e[a].red))
            s.code[a][k++] = (PlEntry){PL_P, 0, to->e[a].red};
        s.ncode[a] = k;
        memset(s.code_of[a], -1, sizeof s.code_of[a]);
        for (int j = 0; j < k; j++)
            s.code_of[a][entry_key(s.code[a][j])] = (int8_t)j;
        s.stride[a] = s.nstates;
        s.nstates *= k;
    }

    Arena *ar = arena_new();
    s.to = to;
    s.amin = HUGE_VAL;
    for (int a = 0; a < s.n; a++)
        if (cm->alpha[a] < s.amin)
            s.amin = cm->alpha[a];
    if (!(s.amin > 0))
        s.amin = 0;
    double bmin = HUGE_VAL;
    for (int a = 0; a < s.n; a++)
        if (cm->beta[a] < bmin)
            bmin = cm->beta[a];
    s.vol_unit = bmin > 0 ? (double)ir_type_numel(t) / ir_mesh_nranks(m) * ir_dtype_size(t->dtype) * bmin : 0;
    s.cache = cost_cache_new(ar, m, t);
    s.dist = arena_alloc(ar, sizeof *s.dist * (size_t)s.nstates);
    s.f = arena_alloc(ar, sizeof *s.f * (size_t)s.nstates);
    s.prev = arena_alloc(ar, sizeof *s.prev * (size_t)s.nstates);
    s.via = arena_alloc(ar, sizeof *s.via * (size_t)s.nstates);
    s.done = arena_alloc(ar, (size_t)s.nstates);
    s.heap = arena_alloc(ar, sizeof *s.heap * (size_t)s.nstates);
    s.pos = arena_alloc(ar, sizeof *s.pos * (size_t)s.nstates);
    for (int i = 0; i < s.nstates; i++) {
        s.dist[i] = HUGE_VAL;
        s.prev[i] = -1;
        s.pos[i] = -1;
    }
    int src = encode(&s, from), dst = encode(&s, to);
    DTC_ASSERT(src >= 0 && dst >= 0);
    s.dist[src] = 0;
    s.f[src] = lower_bound(&s, from);
    s.heap[s.nheap++] = src;
    s.pos[src] = 0;
    while (s.nheap > 0) {
        int cur = heap_pop(&s);
        s.done[cur] = 1;
        if (cur == dst)
            break;
        expand(&s, cur);
    }

    int n = 0;
    for (int x = dst; s.done[dst] && x != src; x = s.prev[x])
        n++;
    bool ok = s.done[dst] && n <= PLAN_MAX_STEPS;
    if (ok) {
        out->nsteps = n;
        for (int x = dst; x != src; x = s.prev[x])
            out->steps[--n] = s.via[x];
    } else {
        /* not expected; the plan that always exists */
        ok = replicate_plan(cm, m, t, from, to, out);
    }
    arena_free(ar);
    if (ok) {
        for (int i = 0; i < out->nsteps; i++) {
            out->cost += out->steps[i].cost;
            out->bytes += out->steps[i].bytes;
            out->ncollectives += is_collective(out->steps[i].kind);
        }
        /* the target exactly as the caller wrote it */
        out->steps[out->nsteps - 1].after = *to;
    }
    return ok;
}

double plan_cost(const CostModel *cm, const IrMesh *m, const IrType *t,
                 const Placement *from, const Placement *to)
{
    Plan p;
    if (!plan_redistribute(cm, m, t, from, to, &p))
        return HUGE_VAL;
    return p.cost;
}

/* ---- printing -------------------------------------------------------------------- */

static const char *axis_name(const IrMesh *m, int a, char *buf, size_t n)
{
    if (m->axis_name[a])
        return m->axis_name[a];
    snprintf(buf, n, "axis%d", a);
    return buf;
}

char *plan_str(Arena *a, const IrMesh *m, const Plan *p)
{
    if (p->nsteps == 0)
        return arena_strdup(a, "none");
    char *s = arena_strdup(a, "");
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *st = &p->steps[i];
        char axes[128] = "", nb[16], pl[256];
        size_t k = 0;
        for (int x = 0; x < m->naxes; x++)
            if (st->axes & (1u << x))
                k += (size_t)snprintf(axes + k, sizeof axes - k, "%s%s", k ? "+" : "",
                                      axis_name(m, x, nb, sizeof nb));
        char args[64] = "";
        switch (st->kind) {
        case STEP_ALL_REDUCE:
        case STEP_TO_PARTIAL:
            snprintf(args, sizeof args, ", %s", ir_red_name(st->red));
            break;
        case STEP_REDUCE_SCATTER:
            snprintf(args, sizeof args, ", %s, dim %d", ir_red_name(st->red), st->dim);
            break;
        case STEP_ALL_GATHER:
        case STEP_SHARD:
            snprintf(args, sizeof args, ", dim %d", st->dim);
            break;
        case STEP_ALL_TO_ALL:
            snprintf(args, sizeof args, ", dim %d -> %d", st->dim, st->dim2);
            break;
        }
        s = arena_printf(a, "%s%s%s(%s%s) -> %s", s, i ? "; " : "", plan_step_name(st->kind), axes,
                         args, pl_str(m, &st->after, pl, sizeof pl));
    }
    return s;
}
