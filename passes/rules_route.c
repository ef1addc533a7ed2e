/* rules_route.c - sharding rules of the lookup / routing family (rules.h):
 * argmax, argmin, one_hot, cumsum, take_along_axis, topk, scatter_add,
 * repeat.
 * passes/SHARDING.md states them with the reasons; the summary, with d the
 * op's axis:
 *
 *   - every dim other than d keeps its split (operands and result chunk
 *     alike: the op works row by row along d);
 *   - d itself must be whole on the operand that is indexed along it
 *     (topk's x, take_along_axis's x): the planner gathers that dim first
 *     (an all_gather or all_to_all of the operand), correct for uneven and
 *     empty shards at the price of moving the operand;
 *   - cumsum may keep d split (STRAT_SPLIT_SCAN): each rank's local cumsum
 *     plus the sum of the earlier ranks' totals, from one all_gather of a
 *     summary with one element per rank along d;
 *   - argmax / argmin may take d split (STRAT_SPLIT_SELECT), result R on
 *     those axes: each rank's best value and the lowest global index that
 *     holds it (NaN first, an empty shard offers the identity and no
 *     index), all_gathered (one summary of both when the index fits x's
 *     dtype exactly, else one of each), then the same pick over the
 *     candidates in rank order, which is global index order;
 *     the cost model weighs the summaries' gathers against gathering the
 *     operand, so small operands keep the gather;
 *   - the index operand of take_along_axis may be split along d (each rank
 *     gathers its own index rows from the whole x);
 *   - one_hot may produce its class dim split from replicated ids: each
 *     rank compares the ids with its own class range [off, off+len);
 *   - scatter_add may hold the target split along d (each rank adds the
 *     updates whose index falls in its rows, indices and updates
 *     replicated), or take the indices and updates split along d with the
 *     target and the result P(sum) (each rank adds its share into its
 *     partial: the expert-parallel combine);
 *   - repeat keeps its axis split when every rank's result rows are
 *     exactly its own operand rows repeated (the chunks of n * len are n
 *     times the chunks of len: len divisible by the ranks on that dim,
 *     checked per rank by rules_route_valid); otherwise the planner gathers
 *     the axis first (uneven and empty chunks included);
 *   - partial operands: cumsum passes P(sum) (linear); take_along_axis
 *     and repeat pass every P(red) of x (each result element is one
 *     element of x);
 *     scatter_add passes P(sum) of target and updates together.
 * The rest compute locally (STRAT_LOCAL); the kernels take the local offsets
 * of one_hot's classes and scatter_add's rows from the placements.
 * partition.c decomposes the two split strategies into local ops and the
 * summary gathers.
 */
#include "passes/rules.h"

#include "passes/plan.h"

static const RedOp reds[4] = {RED_SUM, RED_MAX, RED_MIN, RED_AVG};

static void add(Opts *o, PlEntry out, PlEntry a0, PlEntry a1, PlEntry a2)
{
    PlEntry in[3] = {a0, a1, a2};
    opts_add(o, out, in);
}

void rules_route_options(Opts *o)
{
    const IrInst *i = o->i;
    const IrType *x = &i->args[0]->type;
    int d = i->a.dim;
    PlEntry R = pe_r();
    opts_add_all(o, R, R);
    switch (i->op) {
    case OP_ARGMAX:
    case OP_ARGMIN:
        for (int j = 0; j < x->rank; j++)
            if (j != d)
                add(o, pe_s(j < d ? j : j - 1), pe_s(j), R, R);
        if (x->dims[d] > 0) /* an empty axis is a run-time error, left to the gathered op */
            add(o, R, pe_s(d), R, R); /* STRAT_SPLIT_SELECT */
        break;
    case OP_TOPK:
        for (int j = 0; j < x->rank; j++)
            if (j != d)
                add(o, pe_s(j), pe_s(j), R, R);
        break;
    case OP_CUMSUM:
        for (int j = 0; j < x->rank; j++)
            if (j != d)
                add(o, pe_s(j), pe_s(j), R, R);
        add(o, pe_s(d), pe_s(d), R, R); /* STRAT_SPLIT_SCAN */
        add(o, pe_p(RED_SUM), pe_p(RED_SUM), R, R);
        break;
    case OP_ONE_HOT:
        for (int j = 0; j < x->rank; j++)
            add(o, pe_s(j), pe_s(j), R, R);
        add(o, pe_s(x->rank), R, R, R); /* class dim: each rank its own classes */
        break;
    case OP_TAKE_ALONG:
        for (int j = 0; j < x->rank; j++)
            if (j != d)
                add(o, pe_s(j), pe_s(j), pe_s(j), R);
        add(o, pe_s(d), R, pe_s(d), R); /* index rows split, x whole */
        for (int k = 0; k < 4; k++)
            add(o, pe_p(reds[k]), pe_p(reds[k]), R, R);
        break;
    case OP_SCATTER_ADD:
        for (int j = 0; j < x->rank; j++)
            if (j != d)
                add(o, pe_s(j), pe_s(j), pe_s(j), pe_s(j));
        add(o, pe_s(d), pe_s(d), R, R);                               /* target rows split */
        add(o, pe_p(RED_SUM), pe_p(RED_SUM), R, pe_p(RED_SUM));       /* linear */
        add(o, pe_p(RED_SUM), pe_p(RED_SUM), pe_s(d), pe_s(d));       /* updates split: partial sums */
        break;
    case OP_REPEAT:
        for (int j = 0; j < x->rank; j++)
            add(o, pe_s(j), pe_s(j), R, R); /* j == d: rules_route_valid */
        for (int k = 0; k < 4; k++)
            add(o, pe_p(reds[k]), pe_p(reds[k]), R, R);
        break;
    default:
        DTC_BUG("rules_route_options: not a routing op");
    }
}

int rules_route_strategy(const IrInst *i, const Placement *in)
{
    switch (i->op) {
    case OP_CUMSUM:
        return rules_split_axes(&in[0], i->a.dim) ? STRAT_SPLIT_SCAN : STRAT_LOCAL;
    case OP_ARGMAX:
    case OP_ARGMIN:
        return rules_split_axes(&in[0], i->a.dim) ? STRAT_SPLIT_SELECT : STRAT_LOCAL;
    default:
        return STRAT_LOCAL;
    }
}

IrType rules_route_summary(const IrMesh *m, const IrType *x, int d, unsigned axes)
{
    IrType t = *x;
    t.dims[d] = 1;
    for (int a = 0; a < m->naxes; a++)
        if (axes & (1u << a))
            t.dims[d] *= m->size[a];
    return t;
}

double rules_route_comm_cost(const CostModel *cm, const IrMesh *m, const IrInst *i, const Placement *in)
{
    int strat = rules_route_strategy(i, in);
    if (strat == STRAT_LOCAL)
        return 0;
    int d = i->a.dim;
    unsigned A = rules_split_axes(&in[0], d);
    if (plan_group_size(m, A) == 1)
        return 0; /* split over axes of size 1: the dim is whole, the op local */
    IrType t = rules_route_summary(m, &i->args[0]->type, d, A);
    Placement to = rules_with(&in[0], A, pe_r());
    double c = plan_cost(cm, m, &t, &in[0], &to);
    if (strat == STRAT_SPLIT_SELECT && rules_route_select_packs(i)) { /* (value, index) pairs */
        t.dims[d] *= 2;
        return plan_cost(cm, m, &t, &in[0], &to);
    }
    if (strat == STRAT_SPLIT_SELECT) { /* the values, then the i32 indices */
        t.dtype = DT_I32;
        c += plan_cost(cm, m, &t, &in[0], &to);
    }
    return c;
}

bool rules_route_select_packs(const IrInst *i)
{
    const IrType *x = &i->args[0]->type;
    int64_t n = x->dims[i->a.dim]; /* the largest index sent: n, for "no index" */
    switch (x->dtype) {
    case DT_I32:
    case DT_F64:
        return true;
    case DT_F32:
        return n <= (int64_t)1 << 24;
    case DT_F16:
        return n <= 2048;
    case DT_BF16:
        return n <= 256;
    default:
        return false;
    }
}

/* repeat with its axis split: on every rank the result holds rows
 * [n * off, n * (off + len)) of its operand's [off, off + len). */
static bool repeat_valid(const IrMesh *m, const IrInst *i, const Placement *in, const Placement *out)
{
    int d = i->a.dim;
    int64_t n = i->a.ints[0];
    if (!rules_split_axes(&in[0], d) && !rules_split_axes(out, d))
        return true;
    const IrType *x = &i->args[0]->type, *r = &i->res[0]->type;
    int c[IR_MAX_AXES];
    for (int rank = 0; rank < ir_mesh_nranks(m); rank++) {
        ir_mesh_coords(m, rank, c);
        int64_t xo, xl, ro, rl;
        pl_local_range(m, &in[0], c, d, x->dims[d], &xo, &xl);
        pl_local_range(m, out, c, d, r->dims[d], &ro, &rl);
        if (rl != n * xl || (rl > 0 && ro != n * xo))
            return false;
    }
    return true;
}

bool rules_route_valid(const IrMesh *m, const IrInst *i, const Placement *in, const Placement *out)
{
    return i->op != OP_REPEAT || repeat_valid(m, i, in, out);
}
