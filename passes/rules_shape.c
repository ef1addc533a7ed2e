/* rules_shape.c - sharding rules of the shape / indexing family (rules.h):
 * slice, concat, pad, broadcast_to.  passes/SHARDING.md states them with the
 * reasons; the summary:
 *
 *   - a dim the op leaves alone (a slice [0, n, 1], a pad [0, 0], a concat
 *     dim other than the axis, a broadcast dim that is not stretched) keeps
 *     its split: every rank applies the op to its own chunk, and the
 *     result's chunks are the torch.chunk chunks of the result;
 *   - a dim the op changes must be whole (R) on the axis: a slice's
 *     per-rank intersections, a pad's or concat's shifted pieces are not the
 *     torch.chunk layout of the result, so the operand is gathered on that
 *     axis first (the planner's all_gather; the result is R there);
 *   - broadcast_to may split a stretched or new dim from a replicated
 *     operand: each rank broadcasts into its own chunk, no communication;
 *   - partial operands: slice, concat and broadcast_to pick or copy
 *     elements, so every P(red) passes through (concat: all operands the
 *     same P); pad keeps P(max), P(min), P(avg) for any fill value (the
 *     fill reduces to itself) and P(sum) only for the fill 0.
 * All of these compute locally (STRAT_LOCAL): the kernels work on the local
 * shapes, with the attributes of the unsplit dims unchanged.
 */
#include "passes/rules.h"

static const RedOp reds[4] = {RED_SUM, RED_MAX, RED_MIN, RED_AVG};

static void partials_pass(Opts *o, bool sum_ok)
{
    for (int k = 0; k < 4; k++)
        if (reds[k] != RED_SUM || sum_ok)
            opts_add_all(o, pe_p(reds[k]), pe_p(reds[k]));
}

/* Does the slice leave dim d as it is? */
static bool slice_keeps(const IrInst *i, int d)
{
    const int64_t *s = &i->a.ints[3 * d];
    return s[0] == 0 && s[1] == i->args[0]->type.dims[d] && s[2] == 1;
}

void rules_shape_options(Opts *o)
{
    const IrInst *i = o->i;
    const IrType *x = &i->args[0]->type, *r = &i->res[0]->type;
    opts_add_all(o, pe_r(), pe_r());
    switch (i->op) {
    case OP_SLICE:
        for (int d = 0; d < x->rank; d++)
            if (slice_keeps(i, d))
                opts_add_all(o, pe_s(d), pe_s(d));
        partials_pass(o, true);
        break;
    case OP_CONCAT:
        for (int d = 0; d < x->rank; d++)
            if (d != i->a.ints[0])
                opts_add_all(o, pe_s(d), pe_s(d));
        partials_pass(o, true);
        break;
    case OP_PAD:
        for (int d = 0; d < x->rank; d++)
            if (i->a.ints[2 * d] == 0 && i->a.ints[2 * d + 1] == 0)
                opts_add_all(o, pe_s(d), pe_s(d));
        partials_pass(o, i->a.f == 0.0);
        break;
    case OP_BROADCAST_TO: {
        int shift = r->rank - x->rank;
        for (int e = 0; e < r->rank; e++) {
            int xd = e - shift;
            if (xd >= 0 && x->dims[xd] == r->dims[e])
                opts_add_all(o, pe_s(e), pe_s(xd));
            else /* stretched or new: broadcast into this rank's chunk */
                opts_add_all(o, pe_s(e), pe_r());
        }
        partials_pass(o, true);
        break;
    }
    default:
        DTC_BUG("rules_shape_options: not a shape op");
    }
}
