/* kernels_route.c - the lookup / routing family in the interpreter:
 * argmax, argmin, one_hot, cumsum, take_along_axis, topk, scatter_add,
 * repeat, on
 * whatever shapes the operands have (the global run, or one rank's shards).
 * The element loops are runtime/core's rt_route, the same code compiled
 * programs run, on the [outer, len, len2, inner] view ir_route_view gives.
 * one_hot's class offset and scatter_add's row offset come in k->row_off
 * (interp.c reads them from the placements), the global extents in
 * k->nrows.
 */
#include "interp/interp_internal.h"

#include <stdio.h>
#include <string.h>

int interp_route_kernel(KernelCtx *k)
{
    const IrInst *in = k->in;
    const Tensor *x = &k->args[0];
    if (x->dtype == DT_F16 || x->dtype == DT_BF16 || k->out->dtype == DT_F16 || k->out->dtype == DT_BF16) {
        snprintf(k->err, k->errlen, "%s: f16 is only supported on the CUDA target", ir_op_name(in->op));
        return -1;
    }
    IrType tx = interp_tensor_type(x), ty = in->nargs > 1 ? interp_tensor_type(&k->args[1]) : tx,
           tr = interp_tensor_type(k->out);
    IrRouteView w = ir_route_view(in, &tx, in->nargs > 1 ? &ty : NULL, &tr);
    rt_route_args a;
    memset(&a, 0, sizeof a);
    a.op = (rt_route_op)w.kernel;
    a.dt = (rt_dtype)x->dtype;
    a.odt = (rt_dtype)k->out->dtype;
    a.in0 = x->data;
    a.in1 = in->nargs > 1 ? k->args[1].data : NULL;
    a.in2 = in->nargs > 2 ? k->args[2].data : NULL;
    a.out = k->out->data;
    a.outer = w.outer;
    a.len = w.len;
    a.len2 = w.len2;
    a.inner = w.inner;
    a.off = k->row_off;
    a.total = in->op == OP_ONE_HOT || in->op == OP_SCATTER_ADD ? k->nrows : a.len;
    return rt_route(&a, k->err, k->errlen);
}
