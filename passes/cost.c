/* cost.c - the alpha-beta cost model: default figures and the time and
 * volume of every redistribution step (plan.h) over a group of k ranks.
 *
 * A step over the axis set A runs as one collective over the combined group
 * (k = product of the sizes of A) with the slowest axis's alpha and beta:
 *   all_reduce (ring)      2(k-1) alpha + bytes beta, bytes ~ 2(k-1)/k B
 *   all_gather (ring)       (k-1) alpha + bytes beta, bytes ~ (k-1)/k B_full
 *   reduce_scatter (ring)   (k-1) alpha + bytes beta, bytes ~ (k-1)/k B_full
 *   all_to_all              (k-1) alpha + bytes beta, bytes ~ (k-1)/k B
 *   shard, to_partial       copy_time * local bytes (no message)
 * plus one alpha per collective call (k > 1) for its launch and
 * synchronisation.  Without that term the ring formulas make a collective
 * over a merged group {a, b} never cheaper than the hierarchical sequence
 * on a and b (e.g. reduce_scatter(a), all_reduce(b), all_gather(a) moves the
 * same bytes as all_reduce(a+b) with 2(ka+kb-2) instead of 2(ka kb-1)
 * messages), so plans would trade one call for several at equal traffic.
 * `bytes` is exact for uneven and empty shards: the largest number of bytes
 * any rank of the mesh sends, from the torch.chunk ranges of pl_local_range
 * (ring all_gather / reduce_scatter: a rank sends everything but one piece,
 * so bytes = max over groups of B_full - smallest piece; all_to_all: a rank
 * sends its block minus the part it keeps; all_reduce: the flat buffer in k
 * near-equal chunks, 2 (n - floor(n/k)) elements).  Every step also costs
 * COST_STEP_EPS so that, cost being equal, fewer steps win.
 *
 * Requires: `before` and the step's `after` are valid placements for the
 * mesh and type; the step is legal (plan.c checks that).  No state.
 */
#include "passes/plan.h"

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
    return cm;
}

/* Length of dim d at coords under p. */
static int64_t dim_len(const IrMesh *m, const IrType *t, const Placement *p, const int *c, int d)
{
    int64_t off, len;
    pl_local_range(m, p, c, d, t->dims[d], &off, &len);
    return len;
}

/* Product of the local lengths of every dim but d and d2 at coordinate 0,
 * which holds the largest chunk of every nested split (torch.chunk pieces
 * never grow with the index, and a larger piece never splits smaller). */
static int64_t rest_max(const IrMesh *m, const IrType *t, const Placement *p, int d, int d2)
{
    int c[IR_MAX_AXES] = {0};
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        if (i != d && i != d2)
            n *= dim_len(m, t, p, c, i);
    return n;
}

static unsigned splitters(const Placement *p, int d)
{
    unsigned s = 0;
    for (int a = 0; a < p->naxes; a++)
        if (p->e[a].kind == PL_S && p->e[a].dim == d)
            s |= 1u << a;
    return s;
}

/* Advances coords over the axes in `mask` (odometer); false when done. */
static bool next_coords(const IrMesh *m, unsigned mask, int *c)
{
    for (int a = m->naxes - 1; a >= 0; a--) {
        if (!(mask & (1u << a)))
            continue;
        if (++c[a] < m->size[a])
            return true;
        c[a] = 0;
    }
    return false;
}

int plan_group_size(const IrMesh *m, unsigned axes)
{
    int k = 1;
    for (int a = 0; a < m->naxes; a++)
        if (axes & (1u << a))
            k *= m->size[a];
    return k;
}

/* The largest per-rank send volume of the step, in elements. */
static int64_t step_elems(const IrMesh *m, const IrType *t, const Placement *before,
                          const PlanStep *st)
{
    int c[IR_MAX_AXES] = {0};
    const Placement *after = &st->after;
    int64_t best = 0;
    switch (st->kind) {
    case STEP_ALL_REDUCE: {
        int64_t n = rest_max(m, t, before, -1, -1);
        int64_t k = plan_group_size(m, st->axes);
        return 2 * (n - n / k);
    }
    case STEP_ALL_GATHER:
        /* rank i forwards every piece but one: B_full - smallest piece,
         * i.e. the largest (after length - own length) over all ranks */
        do {
            int64_t v = dim_len(m, t, after, c, st->dim) - dim_len(m, t, before, c, st->dim);
            if (v > best)
                best = v;
        } while (next_coords(m, splitters(before, st->dim), c));
        return best * rest_max(m, t, before, st->dim, -1);
    case STEP_REDUCE_SCATTER:
        do {
            int64_t v = dim_len(m, t, before, c, st->dim) - dim_len(m, t, after, c, st->dim);
            if (v > best)
                best = v;
        } while (next_coords(m, splitters(after, st->dim), c));
        return best * rest_max(m, t, before, st->dim, -1);
    case STEP_ALL_TO_ALL: {
        /* a rank sends its block but the slice of dim2 it keeps */
        unsigned mask = splitters(before, st->dim) | splitters(before, st->dim2) | st->axes;
        do {
            int64_t v = dim_len(m, t, before, c, st->dim) *
                        (dim_len(m, t, before, c, st->dim2) - dim_len(m, t, after, c, st->dim2));
            if (v > best)
                best = v;
        } while (next_coords(m, mask, c));
        return best * rest_max(m, t, before, st->dim, st->dim2);
    }
    case STEP_SHARD:
    case STEP_TO_PARTIAL:
        return 0;
    }
    DTC_BUG("unknown step kind");
}

void plan_step_measure(const CostModel *cm, const IrMesh *m, const IrType *t,
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
    double call = k > 1 ? alpha : 0; /* launch and synchronisation */
    st->bytes = step_elems(m, t, before, st) * esize;
    switch (st->kind) {
    case STEP_ALL_REDUCE:
        st->cost = call + 2.0 * (k - 1) * alpha + (double)st->bytes * beta;
        break;
    case STEP_ALL_GATHER:
    case STEP_REDUCE_SCATTER:
    case STEP_ALL_TO_ALL:
        st->cost = call + (double)(k - 1) * alpha + (double)st->bytes * beta;
        break;
    case STEP_SHARD:
        /* copy out this rank's chunk */
        st->cost = cm->copy_time * (double)(rest_max(m, t, &st->after, -1, -1) * esize);
        break;
    case STEP_TO_PARTIAL:
        /* zero or keep the local data */
        st->cost = cm->copy_time * (double)(rest_max(m, t, before, -1, -1) * esize);
        break;
    }
    st->cost += COST_STEP_EPS;
}
