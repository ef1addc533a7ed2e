/* kernels_shape.c - the shape / indexing family's reference kernels: slice,
 * concat, pad, broadcast_to, with NumPy semantics on whatever shapes the
 * operands and the result have (the global run, or one rank's local shards:
 * partition only leaves these ops local where the attributes of the dims
 * they change are global = local, see passes/rules_shape.c).
 *
 * All four are one strided box copy: dst[off + i] = src[start + i * step]
 * over a box of counts, element by element (bytes, so every dtype).
 */
#include "interp/interp_internal.h"

#include <stdio.h>
#include <string.h>

/* Copies the box of `count` (rank of dst) from src, read at element
 * start[d] + i * step[d] of each dim (src seen with dst's rank: step 0 on a
 * broadcast dim), to dst at off[d] + i. */
static void box_copy(Tensor *dst, const int64_t *off, const Tensor *src, const int64_t *start,
                     const int64_t *step, const int64_t *count, int src_shift)
{
    int r = dst->rank;
    int64_t ds[IR_MAX_RANK], ss[IR_MAX_RANK] = {0}, xs[IR_MAX_RANK];
    interp_row_major_strides(r, dst->dims, ds);
    interp_row_major_strides(src->rank, src->dims, xs);
    for (int d = 0; d < r; d++)
        ss[d] = d - src_shift >= 0 ? xs[d - src_shift] : 0;
    int64_t n = 1;
    for (int d = 0; d < r; d++)
        n *= count[d];
    if (n == 0)
        return;
    size_t es = (size_t)ir_dtype_size(dst->dtype);
    int64_t idx[IR_MAX_RANK] = {0};
    int64_t so = 0, doff = 0;
    for (int d = 0; d < r; d++) {
        so += start[d] * ss[d];
        doff += off[d] * ds[d];
    }
    char *out = dst->data;
    const char *in = src->data;
    for (int64_t e = 0; e < n; e++) {
        memcpy(out + (size_t)doff * es, in + (size_t)so * es, es);
        for (int d = r - 1; d >= 0; d--) {
            so += step[d] * ss[d];
            doff += ds[d];
            if (++idx[d] < count[d])
                break;
            so -= step[d] * ss[d] * count[d];
            doff -= ds[d] * count[d];
            idx[d] = 0;
        }
    }
}

static int k_slice(KernelCtx *k)
{
    const Tensor *x = &k->args[0];
    Tensor *o = k->out;
    const IrAttrs *a = &k->in->a;
    if (a->nints != 3 * x->rank || o->rank != x->rank)
        return interp_kernel_fail(k, "needs [start, stop, step] for each dim");
    int64_t zero[IR_MAX_RANK] = {0}, start[IR_MAX_RANK], step[IR_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        start[d] = a->ints[3 * d];
        step[d] = a->ints[3 * d + 2];
        int64_t n = o->dims[d];
        if (n == 0)
            continue;
        int64_t last = start[d] + (n - 1) * step[d];
        if (step[d] == 0 || start[d] < 0 || start[d] >= x->dims[d] || last < 0 || last >= x->dims[d])
            return interp_kernel_fail(k, "dim %d: %lld elements from %lld by %lld do not fit in %lld", d,
                         (long long)n, (long long)start[d], (long long)step[d], (long long)x->dims[d]);
    }
    box_copy(o, zero, x, start, step, o->dims, 0);
    return 0;
}

static int k_concat(KernelCtx *k)
{
    Tensor *o = k->out;
    const IrAttrs *a = &k->in->a;
    if (a->nints != 1 || a->ints[0] < 0 || a->ints[0] >= o->rank)
        return interp_kernel_fail(k, "needs one axis");
    int ax = (int)a->ints[0];
    int64_t off[IR_MAX_RANK] = {0}, zero[IR_MAX_RANK] = {0}, one[IR_MAX_RANK];
    for (int d = 0; d < IR_MAX_RANK; d++)
        one[d] = 1;
    for (int j = 0; j < k->in->nargs; j++) {
        const Tensor *x = &k->args[j];
        if (x->rank != o->rank || x->dtype != o->dtype)
            return interp_kernel_fail(k, "operand %d does not match the result", j);
        for (int d = 0; d < o->rank; d++)
            if (d != ax && x->dims[d] != o->dims[d])
                return interp_kernel_fail(k, "operand %d differs from the result in dim %d", j, d);
        if (off[ax] + x->dims[ax] > o->dims[ax])
            return interp_kernel_fail(k, "the operands are longer than the result along axis %d", ax);
        box_copy(o, off, x, zero, one, x->dims, 0);
        off[ax] += x->dims[ax];
    }
    if (off[ax] != o->dims[ax])
        return interp_kernel_fail(k, "the operands are shorter than the result along axis %d", ax);
    return 0;
}

static int k_pad(KernelCtx *k)
{
    const Tensor *x = &k->args[0];
    Tensor *o = k->out;
    const IrAttrs *a = &k->in->a;
    if (a->nints != 2 * x->rank || o->rank != x->rank || o->dtype != x->dtype)
        return interp_kernel_fail(k, "needs [lo, hi] for each dim");
    int64_t lo[IR_MAX_RANK], zero[IR_MAX_RANK] = {0}, one[IR_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        lo[d] = a->ints[2 * d];
        one[d] = 1;
        if (lo[d] < 0 || a->ints[2 * d + 1] < 0 || o->dims[d] != x->dims[d] + lo[d] + a->ints[2 * d + 1])
            return interp_kernel_fail(k, "dim %d: %lld padded by [%lld, %lld] is not %lld", d, (long long)x->dims[d],
                         (long long)lo[d], (long long)a->ints[2 * d + 1], (long long)o->dims[d]);
    }
    int64_t n = interp_numel(o);
    for (int64_t e = 0; e < n; e++)
        rt_store_double((rt_dtype)o->dtype, o->data, e, a->f);
    box_copy(o, lo, x, zero, one, x->dims, 0);
    return 0;
}

static int k_broadcast_to(KernelCtx *k)
{
    const Tensor *x = &k->args[0];
    Tensor *o = k->out;
    if (o->rank < x->rank || o->dtype != x->dtype)
        return interp_kernel_fail(k, "cannot broadcast a rank-%d operand to rank %d", x->rank, o->rank);
    int shift = o->rank - x->rank;
    int64_t zero[IR_MAX_RANK] = {0}, step[IR_MAX_RANK];
    for (int d = 0; d < o->rank; d++) {
        int xd = d - shift;
        step[d] = 1;
        if (xd < 0)
            continue;
        if (x->dims[xd] == 1 && o->dims[d] != 1)
            step[d] = 0;
        else if (x->dims[xd] != o->dims[d])
            return interp_kernel_fail(k, "dim %d: %lld does not broadcast to %lld", d, (long long)x->dims[xd],
                         (long long)o->dims[d]);
    }
    box_copy(o, zero, x, zero, step, o->dims, shift);
    return 0;
}

int interp_shape_kernel(KernelCtx *k)
{
    switch (k->in->op) {
    case OP_SLICE:
        return k_slice(k);
    case OP_CONCAT:
        return k_concat(k);
    case OP_PAD:
        return k_pad(k);
    case OP_BROADCAST_TO:
        return k_broadcast_to(k);
    default:
        return interp_kernel_fail(k, "not a shape op");
    }
}
