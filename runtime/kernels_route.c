/* kernels_route.c - dtk_route (dtrt_kernels.h): the lookup / routing
 * family for compiled CPU programs, through runtime/core's rt_route (the
 * interpreter's element loops), ending the run on a bad index. */
#include "runtime/dtrt_kernels.h"

void dtk_route(rt_ctx *ctx, const char *where, int op, rt_dtype dt, rt_dtype odt, int64_t outer,
               int64_t len, int64_t len2, int64_t inner, int64_t off, int64_t total, const void *in0,
               const void *in1, const void *in2, void *out)
{
    rt_route_args a = {(rt_route_op)op, dt, odt, outer, len, len2, inner, off, total, in0, in1, in2, out};
    char err[400];
    if (rt_route(&a, err, sizeof err) != 0)
        rt_fail(ctx, "%s: %s", where, err);
}
