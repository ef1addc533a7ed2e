/* tensor.c - Tensor helpers: buffers, element access, .npy I/O.  See interp.h. */
#include "interp/interp_internal.h"

#include <stdlib.h>
#include <string.h>

void *interp_alloc(Arena *ar, size_t n)
{
    if (ar)
        return arena_alloc(ar, n ? n : 1);
    return calloc(n ? n : 1, 1);
}

void interp_release(Arena *ar, void *p)
{
    if (!ar)
        free(p);
}

int64_t interp_numel(const Tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->dims[d];
    return n;
}

size_t interp_nbytes(const Tensor *t)
{
    return (size_t)interp_numel(t) * (size_t)ir_dtype_size(t->dtype);
}

IrType interp_tensor_type(const Tensor *t)
{
    IrType ty;
    memset(&ty, 0, sizeof ty);
    ty.dtype = t->dtype;
    ty.rank = t->rank;
    for (int d = 0; d < t->rank; d++)
        ty.dims[d] = t->dims[d];
    return ty;
}

Tensor interp_tensor_new(Arena *ar, const IrType *t)
{
    Tensor x;
    memset(&x, 0, sizeof x);
    x.dtype = t->dtype;
    x.rank = t->rank;
    for (int d = 0; d < t->rank; d++)
        x.dims[d] = t->dims[d];
    x.data = arena_alloc(ar, interp_nbytes(&x) ? interp_nbytes(&x) : 1);
    return x;
}

double interp_get(const Tensor *t, int64_t i)
{
    return rt_load_double((rt_dtype)t->dtype, t->data, i);
}

void interp_set(Tensor *t, int64_t i, double v)
{
    rt_store_double((rt_dtype)t->dtype, t->data, i, v);
}

int interp_read_npy(Arena *ar, const char *path, Tensor *out, char *err, size_t errlen)
{
    rt_npy n;
    if (rt_npy_read(path, &n, err, errlen) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->dtype = (DType)n.dtype;
    out->rank = n.rank;
    for (int d = 0; d < n.rank; d++)
        out->dims[d] = n.dims[d];
    size_t nb = interp_nbytes(out);
    out->data = arena_alloc(ar, nb ? nb : 1);
    if (nb)
        memcpy(out->data, n.data, nb);
    rt_npy_free(&n);
    return 0;
}

int interp_write_npy(const char *path, const Tensor *t, char *err, size_t errlen)
{
    return rt_npy_write(path, (rt_dtype)t->dtype, t->rank, t->dims, t->data, err, errlen);
}
