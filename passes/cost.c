/* cost.c - the alpha-beta cost model: default figures and the time and
 * volume of every redistribution step (plan.h) over a group of k ranks.
 *
 * A step over the axis set A runs as one collective over the combined group
 * (k = product of the sizes of A) with the slowest axis's alpha and beta.
 * An all_reduce's latency is counted as MPI and NCCL run it on small and
 * medium messages (Open MPI's recursive doubling / Rabenseifner halving,
 * NCCL's trees): ceil(log2 k) rounds each way; the others as rings or
 * pairwise exchanges (NCCL has no tree all_gather / reduce_scatter).
 * Volume is the bandwidth-optimal ring / halving figure throughout:
 *   all_reduce             2 ceil(log2 k) alpha + bytes beta, bytes ~ 2(k-1)/k B
 *   all_gather (ring)       (k-1) alpha + bytes beta, bytes ~ (k-1)/k B_full
 *   reduce_scatter (ring)   (k-1) alpha + bytes beta, bytes ~ (k-1)/k B_full
 *   all_to_all (pairwise)   (k-1) alpha + bytes beta, bytes ~ (k-1)/k B
 *   shard, to_partial       copy_time * local bytes (no message)
 * plus one alpha per collective call (k > 1) for its launch and
 * synchronisation.  Without that term the ring formulas make a collective
 * over a merged group {a, b} never cheaper than the hierarchical sequence
 * on a and b (e.g. reduce_scatter(a), all_reduce(b), all_gather(a) moves the
 * same bytes as all_reduce(a+b)), so plans would trade one call for several
 * at equal traffic.  With a ring count for all_reduce too (2(k-1) alphas)
 * a merged all_reduce never won, even where it moves fewer bytes (4 x 2
 * mesh, P,P -> R,R: 2688 B in one call against 3840 B in two); with
 * log2 rounds it does, as it runs.
 * A collective over a group of one rank is a local copy.
 * `bytes` is exact for uneven and empty shards: the largest number of bytes
 * any rank of the mesh sends, under the torch.chunk ranges of
 * pl_local_range (ring all_gather / reduce_scatter: a rank sends everything
 * but one piece, so bytes = max over groups of B_full - smallest piece;
 * all_to_all: a rank sends its block minus the part it keeps; all_reduce:
 * the flat buffer in k near-equal chunks, 2 (n - floor(n/k)) elements).
 * Rather than visiting every rank, the maxima run over the distinct piece
 * lengths of the nested chunking (at most three per level); the unit test
 * checks them against pl_local_range on every rank.  Every step also costs
 * COST_STEP_EPS so that, cost being equal, fewer steps win.
 *
 * Requires: `before` and the step's `after` are valid placements for the
 * mesh and type; the step is legal (plan.c checks that).  No state.
 */
#include "passes/plan.h"
#include "runtime/core/rt_core.h"

#include <string.h>

/* One picosecond per step: breaks exact ties in favour of shorter plans. */
#define COST_STEP_EPS 1e-12

CostModel cost_model_default(void)
{
    CostModel cm;
    for (int i = 0; i < IR_MAX_AXES; i++) {
        cm.alpha[i] = 5e-6;        /* 5 us per message */
        cm.beta[i] = 1.0 / 10e9;   /* 10 GB/s */
    }
    cm.flop_time = 1.0 / 50e9;     /* 50 GFLOP/s */
    cm.copy_time = 1.0 / 20e9;     /* 20 GB/s */
    cm.elem_time = cm.flop_time;   /* an element a flop */
    cm.op_time = 0;
    return cm;
}

int plan_group_size(const IrMesh *m, unsigned axes)
{
    return rt_grid_count(m->naxes, m->size, axes);
}

#define MAX_LENS 256

/* The distinct lengths of the pieces of n elements chunked over ks[0], then
 * each piece over ks[1], ... (nested torch.chunk).  Chunking L over k gives
 * at most three lengths (ceil(L/k), a remainder, 0), so the set stays small;
 * every rank holds a piece of one of these lengths and each occurs. */
static int nested_lens(int64_t n, const int *ks, int nk, int64_t *out)
{
    int cnt = 1;
    out[0] = n;
    for (int j = 0; j < nk; j++) {
        int64_t nx[MAX_LENS];
        int nn = 0;
        for (int i = 0; i < cnt; i++) {
            /* first piece, the piece holding the remainder, the last piece */
            int64_t L = out[i], c = rt_chunk_size(L, ks[j]);
            int idx[3] = {0, c > 0 ? (int)(L / c < ks[j] ? L / c : ks[j] - 1) : 0, ks[j] - 1};
            for (int q = 0; q < 3; q++) {
                int64_t off, len;
                rt_chunk(L, ks[j], idx[q], &off, &len);
                bool seen = false;
                for (int r = 0; r < nn; r++)
                    seen |= nx[r] == len;
                if (!seen) {
                    DTC_ASSERT(nn < MAX_LENS);
                    nx[nn++] = len;
                }
            }
        }
        memcpy(out, nx, sizeof(int64_t) * (size_t)nn);
        cnt = nn;
    }
    return cnt;
}

/* max over outer pieces L (n chunked over outer) of L - (smallest piece of L
 * chunked over inner): the ring volume of all_gather / reduce_scatter. */
static int64_t ring_volume(int64_t n, const int *outer, int nouter, const int *inner, int ninner)
{
    int64_t ls[MAX_LENS], ps[MAX_LENS], best = 0;
    int nl = nested_lens(n, outer, nouter, ls);
    for (int i = 0; i < nl; i++) {
        int np = nested_lens(ls[i], inner, ninner, ps);
        int64_t mn = ls[i];
        for (int j = 0; j < np; j++)
            if (ps[j] < mn)
                mn = ps[j];
        if (ls[i] - mn > best)
            best = ls[i] - mn;
    }
    return best;
}

/* Length of piece g (row-major over the nested sizes ks) of L elements. */
static int64_t piece_len(int64_t L, const int *ks, int nk, const int *g)
{
    int64_t off, len;
    rt_chunk_nested(L, nk, ks, rt_grid_all(nk), g, &off, &len);
    return len;
}

/* all_to_all over the group A from S(d) to S(d2): a rank at group position
 * g holds len_d = piece g of an outer piece L1 of d and keeps piece g of an
 * outer piece L2 of d2, so it sends len_d * (L2 - piece g of L2).  L1 and L2
 * come from disjoint axes, so every combination occurs. */
static int64_t a2a_volume(int64_t n1, const int *o1, int no1, int64_t n2, const int *o2, int no2,
                          const int *ka, int nka)
{
    int64_t l1[MAX_LENS], l2[MAX_LENS], best = 0;
    int n1s = nested_lens(n1, o1, no1, l1), n2s = nested_lens(n2, o2, no2, l2);
    int g[IR_MAX_AXES] = {0};
    for (;;) {
        int64_t a = 0, b = 0;
        for (int i = 0; i < n1s; i++) {
            int64_t v = piece_len(l1[i], ka, nka, g);
            if (v > a)
                a = v;
        }
        for (int i = 0; i < n2s; i++) {
            int64_t v = l2[i] - piece_len(l2[i], ka, nka, g);
            if (v > b)
                b = v;
        }
        if (a * b > best)
            best = a * b;
        if (!rt_grid_next(nka, ka, rt_grid_all(nka), g))
            break;
    }
    return best;
}

/* Memo of the per-dim volume factors within one search: they depend only
 * on which axes split the dims involved, not on the rest of the state. */
#define A2A_SLOTS 4096

struct CostCache {
    const IrMesh *m;
    const IrType *t;
    int64_t maxp[IR_MAX_RANK][1 << IR_MAX_AXES];                   /* max_piece of dim d over mask */
    int64_t ring[IR_MAX_RANK][1 << IR_MAX_AXES][1 << IR_MAX_AXES]; /* value + 1; 0: unknown */
    uint32_t a2a_key[A2A_SLOTS];                                    /* key + 1; 0: empty */
    int64_t a2a_val[A2A_SLOTS];
    int a2a_used;
};


/* Sizes of the axes in mask, in axis (nesting) order. */
static int mask_sizes(const IrMesh *m, unsigned mask, int *ks)
{
    int n = 0;
    for (int a = 0; a < m->naxes; a++)
        if (mask & (1u << a))
            ks[n++] = m->size[a];
    return n;
}

/* Largest piece of n nested-chunked over the axes in mask: the first. */
static int64_t max_piece(const IrMesh *m, int64_t n, unsigned mask)
{
    for (int a = 0; a < m->naxes; a++)
        if (mask & (1u << a))
            n = rt_chunk_size(n, m->size[a]);
    return n;
}

CostCache *cost_cache_new(Arena *a, const IrMesh *m, const IrType *t)
{
    CostCache *cc = arena_alloc(a, sizeof *cc);
    cc->m = m;
    cc->t = t;
    for (int d = 0; d < t->rank; d++)
        for (unsigned mask = 0; mask < (1u << m->naxes); mask++)
            cc->maxp[d][mask] = max_piece(m, t->dims[d], mask);
    return cc;
}

static int64_t ring_factor(CostCache *cc, const IrMesh *m, const IrType *t, int d, unsigned outer, unsigned A)
{
    if (cc && cc->ring[d][outer][A])
        return cc->ring[d][outer][A] - 1;
    int ko[IR_MAX_AXES] = {0}, ka[IR_MAX_AXES] = {0};
    int no = mask_sizes(m, outer, ko), na = mask_sizes(m, A, ka);
    int64_t v = ring_volume(t->dims[d], ko, no, ka, na);
    if (cc)
        cc->ring[d][outer][A] = v + 1;
    return v;
}

static int64_t a2a_factor(CostCache *cc, const IrMesh *m, const IrType *t, int d, unsigned od, unsigned A,
                          int d2, unsigned od2)
{
    uint32_t key = (uint32_t)d | (uint32_t)d2 << 3 | od << 6 | A << 10 | od2 << 14;
    uint32_t h = (key * 2654435761u) % A2A_SLOTS;
    if (cc)
        for (uint32_t i = h; cc->a2a_key[i]; i = (i + 1) % A2A_SLOTS)
            if (cc->a2a_key[i] == key + 1)
                return cc->a2a_val[i];
    int k1[IR_MAX_AXES] = {0}, k2[IR_MAX_AXES] = {0}, ka[IR_MAX_AXES] = {0};
    int n1 = mask_sizes(m, od, k1), n2 = mask_sizes(m, od2, k2), na = mask_sizes(m, A, ka);
    int64_t v = a2a_volume(t->dims[d], k1, n1, t->dims[d2], k2, n2, ka, na);
    if (cc && cc->a2a_used < A2A_SLOTS * 3 / 4) {
        uint32_t i = h;
        while (cc->a2a_key[i])
            i = (i + 1) % A2A_SLOTS;
        cc->a2a_key[i] = key + 1;
        cc->a2a_val[i] = v;
        cc->a2a_used++;
    }
    return v;
}

/* Local elements on the rank at coordinate 0, which holds the largest chunk
 * of every nested split (torch.chunk pieces never grow with the index, and
 * a larger piece never splits into smaller first pieces). */
static int64_t local_max(const IrMesh *m, const IrType *t, const Placement *p)
{
    unsigned spl[IR_MAX_RANK] = {0};
    for (int a = 0; a < m->naxes; a++)
        if (p->e[a].kind == PL_S)
            spl[p->e[a].dim] |= 1u << a;
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= max_piece(m, t->dims[d], spl[d]);
    return n;
}

/* The largest per-rank send volume of the step, in elements. */
static int64_t step_elems(CostCache *cc, const IrMesh *m, const IrType *t, const Placement *before,
                          const PlanStep *st)
{
    unsigned spl[IR_MAX_RANK] = {0};
    for (int a = 0; a < m->naxes; a++)
        if (before->e[a].kind == PL_S)
            spl[before->e[a].dim] |= 1u << a;
    /* the largest local extent of the dims the step leaves alone */
    int64_t rest = 1;
    for (int d = 0; d < t->rank; d++)
        if (d != st->dim && d != st->dim2)
            rest *= cc ? cc->maxp[d][spl[d]] : max_piece(m, t->dims[d], spl[d]);
    switch (st->kind) {
    case STEP_ALL_REDUCE: {
        int64_t k = plan_group_size(m, st->axes);
        return 2 * (rest - rest / k);
    }
    case STEP_ALL_GATHER:
    case STEP_REDUCE_SCATTER:
        /* gather: a rank forwards every piece but one, so it sends at most
         * B_full - smallest piece; reduce_scatter: it sends every partially
         * reduced piece but its own */
        return ring_factor(cc, m, t, st->dim, spl[st->dim] & ~st->axes, st->axes) * rest;
    case STEP_ALL_TO_ALL:
        return a2a_factor(cc, m, t, st->dim, spl[st->dim] & ~st->axes, st->axes, st->dim2, spl[st->dim2]) *
               rest;
    case STEP_SHARD:
    case STEP_TO_PARTIAL:
        return 0;
    }
    DTC_BUG("unknown step kind");
}

/* ceil(log2 k): the rounds of a recursive doubling / halving collective. */
static int log2_rounds(int k)
{
    int r = 0;
    while ((1L << r) < k)
        r++;
    return r;
}

void plan_step_measure(const CostModel *cm, const IrMesh *m, const IrType *t,
                       const Placement *before, PlanStep *st)
{
    plan_step_measure_cached(cm, NULL, m, t, before, st);
}

void plan_step_measure_cached(const CostModel *cm, CostCache *cc, const IrMesh *m, const IrType *t,
                              const Placement *before, PlanStep *st)
{
    int64_t esize = ir_dtype_size(t->dtype);
    double alpha = 0, beta = 0;
    for (int a = 0; a < m->naxes; a++)
        if (st->axes & (1u << a)) {
            if (cm->alpha[a] > alpha)
                alpha = cm->alpha[a];
            if (cm->beta[a] > beta)
                beta = cm->beta[a];
        }
    int k = plan_group_size(m, st->axes);
    st->bytes = step_elems(cc, m, t, before, st) * esize;
    double msgs = 0;
    switch (st->kind) {
    case STEP_ALL_REDUCE:
        msgs = 1 + 2.0 * log2_rounds(k); /* the call, then halving + doubling rounds */
        break;
    case STEP_ALL_GATHER:
    case STEP_REDUCE_SCATTER:
    case STEP_ALL_TO_ALL:
        msgs = 1 + (double)(k - 1);   /* ring (NCCL has no tree for these) / pairwise */
        break;
    case STEP_SHARD:
    case STEP_TO_PARTIAL:
        break;
    }
    if (msgs > 0 && k > 1)
        st->cost = msgs * alpha + (double)st->bytes * beta;
    else if (st->kind == STEP_TO_PARTIAL)
        st->cost = cm->copy_time * (double)(local_max(m, t, before) * esize);
    else
        /* shard, or a collective over one rank: copy out the result */
        st->cost = cm->copy_time * (double)(local_max(m, t, &st->after) * esize);
    st->cost += COST_STEP_EPS;
}
