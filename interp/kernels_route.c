/* kernels_route.c - the lookup / routing family in the interpreter:
 * argmax, argmin, one_hot, cumsum, take_along_axis, topk, scatter_add,
 * repeat, on
 * whatever shapes the operands have (the global run, or one rank's shards).
 * The element loops are runtime/core's rt_route, the same code compiled
 * programs run; this file maps tensors to its [outer, len, inner] views.
 * one_hot's class offset and scatter_add's row offset come in k->row_off
 * (interp.c reads them from the placements), the global extents in
 * k->nrows.
 */
#include "interp/interp_internal.h"

#include <stdio.h>
#include <string.h>

static rt_route_op route_op(IrOp op)
{
    switch (op) {
    case OP_ARGMAX: return RT_ROUTE_ARGMAX;
    case OP_ARGMIN: return RT_ROUTE_ARGMIN;
    case OP_ONE_HOT: return RT_ROUTE_ONE_HOT;
    case OP_CUMSUM: return RT_ROUTE_CUMSUM;
    case OP_TAKE_ALONG: return RT_ROUTE_TAKE_ALONG;
    case OP_TOPK: return RT_ROUTE_TOPK;
    case OP_SCATTER_ADD: return RT_ROUTE_SCATTER_ADD;
    case OP_REPEAT: return RT_ROUTE_REPEAT;
    default: DTC_BUG("interp_route_kernel: not a routing op");
    }
}

static int64_t prod(const int64_t *d, int from, int to)
{
    int64_t n = 1;
    for (int k = from; k < to; k++)
        n *= d[k];
    return n;
}

int interp_route_kernel(KernelCtx *k)
{
    const IrInst *in = k->in;
    const Tensor *x = &k->args[0];
    if (x->dtype == DT_F16 || x->dtype == DT_BF16 || k->out->dtype == DT_F16 || k->out->dtype == DT_BF16) {
        snprintf(k->err, k->errlen, "%s: f16 is only supported on the CUDA target", ir_op_name(in->op));
        return -1;
    }
    rt_route_args a;
    memset(&a, 0, sizeof a);
    a.op = route_op(in->op);
    a.dt = (rt_dtype)x->dtype;
    a.odt = (rt_dtype)k->out->dtype;
    a.in0 = x->data;
    a.in1 = in->nargs > 1 ? k->args[1].data : NULL;
    a.in2 = in->nargs > 2 ? k->args[2].data : NULL;
    a.out = k->out->data;
    int d = in->a.dim;
    if (in->op == OP_ONE_HOT) {
        a.outer = prod(x->dims, 0, x->rank);
        a.len = k->out->dims[k->out->rank - 1];
        a.off = k->row_off;
        a.total = k->nrows;
    } else {
        if (d < 0 || d >= x->rank)
            DTC_BUG("interp_route_kernel: axis out of range");
        a.outer = prod(x->dims, 0, d);
        a.len = x->dims[d];
        a.inner = prod(x->dims, d + 1, x->rank);
        if (in->op == OP_TOPK)
            a.len2 = k->out->dims[d];
        else if (in->op == OP_REPEAT)
            a.len2 = in->a.ints[0];
        else if (in->nargs > 1)
            a.len2 = k->args[1].dims[d];
        a.off = k->row_off;
        a.total = in->op == OP_SCATTER_ADD ? k->nrows : a.len;
    }
    return rt_route(&a, k->err, k->errlen);
}
