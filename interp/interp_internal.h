/* interp_internal.h - what the interpreter's files share and nobody else
 * sees: the per-op kernels (kernels.c), the layout engine for collectives
 * and scatter / assemble (layout.c), and small buffer helpers (tensor.c).
 */
#ifndef DTC_INTERP_INTERNAL_H
#define DTC_INTERP_INTERNAL_H

#include <stdbool.h>

#include "interp/interp.h"
#include "runtime/core/rt_core.h"

/* One instruction on one set of operands (one rank, or the global run). */
typedef struct KernelCtx {
    const IrInst *in;
    const Tensor *args; /* in->nargs operands */
    Tensor *out;        /* dtype, rank and dims set; data zeroed by the caller */
    int64_t row_off;    /* embedding: global index of the table's first local row; iota: first local index */
    int64_t nrows;      /* embedding: global number of table rows (ids must be < it) */
    bool global;        /* global run: an empty max / min is an error, not -inf / inf */
    char *err;
    size_t errlen;
} KernelCtx;

/* Computes k->out from k->args with the op's global semantics on these
 * shapes.  Returns 0, or -1 with a message (no position prefix) in k->err.
 * Layout ops (OPF_COMM, OPF_LOCAL, redistribute) are the identity here. */
int interp_kernel(KernelCtx *k);

/* Writes "OP: message" into k->err for the op being run; returns -1. */
int interp_kernel_fail(KernelCtx *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Row-major element strides of a [dims] tensor. */
void interp_row_major_strides(int rank, const int64_t *dims, int64_t *stride);

/* The shape / indexing family (kernels_shape.c): slice, concat, pad,
 * broadcast_to; interp_kernel's contract. */
int interp_shape_kernel(KernelCtx *k);

/* The lookup / routing family (kernels_route.c): argmax ... scatter_add;
 * interp_kernel's contract, with one_hot's class offset / scatter_add's
 * target row offset in row_off and the global extent in nrows. */
int interp_route_kernel(KernelCtx *k);

/* True for the ops the sharded run executes with the layout engine. */
bool interp_is_layout_op(IrOp op);

/* Buffers: from ar when ar != NULL, else calloc (NULL when out of memory). */
void *interp_alloc(Arena *ar, size_t n);
void interp_release(Arena *ar, void *p); /* free() unless ar */
size_t interp_nbytes(const Tensor *t);

/* The layout engine (layout.c).  `axes` is a mask of mesh axes; `coords`
 * names a group: the ranks whose coordinates equal coords on every axis not
 * in `axes`.
 *
 * interp_combine builds the group's view of a value of global type t held
 * under pl from the pieces (indexed by rank): S entries on `axes` place the
 * pieces, P entries reduce them, R entries take coordinate 0.  The view is
 * the box [boxoff, boxoff + box->dims) of the global tensor.
 *
 * interp_extract gives the rank at coords the part of that box it holds
 * under pl (P(sum) on `axes` off coordinate 0: zeros). */
int interp_combine(Arena *ar, const IrMesh *m, const IrType *t, const Placement *pl, unsigned axes,
                   const int coords[IR_MAX_AXES], const Tensor *pieces, Tensor *box,
                   int64_t boxoff[IR_MAX_RANK], char *err, size_t errlen);
int interp_extract(Arena *ar, const IrMesh *m, const IrType *t, const Placement *pl,
                   unsigned axes, const int coords[IR_MAX_AXES], const Tensor *box,
                   const int64_t boxoff[IR_MAX_RANK], Tensor *local, char *err, size_t errlen);
/* Checks that pl is usable on mesh m for type t (entry count, S dims in
 * range); writes a reason and returns -1 otherwise. */
int interp_check_pl(const IrMesh *m, const IrType *t, const Placement *pl, char *err,
                    size_t errlen);
/* pl, or all-R when undecided (naxes == 0). */
Placement interp_pl_or_r(const IrMesh *m, const Placement *pl);

#endif
