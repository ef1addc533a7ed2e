/* interp.h - the reference interpreter: the project's correctness oracle.
 *
 * interp_run executes an IrFunc with no OP_CALL left (after pass_inline) on
 * *global* tensors in one process, with the global (NumPy) semantics of
 * ir/ops.def; `dtc run` is this.  interp_run_sharded executes a *partitioned*
 * function for every rank of the mesh in one process, in lockstep, so the
 * partition pass can be checked before code generation exists.  Both are
 * written to be obviously right rather than fast (matmul is a plain loop
 * accumulating in double).
 *
 * Numerics: f32 / f64 ops compute in double and round once to the result
 * dtype; reductions, matmul, softmax and the norms accumulate in double.
 * i32 arithmetic wraps like numpy int32; i32 `div` is floor division (numpy
 * `//`, x // 0 = 0); float -> i32 casts truncate toward zero (NaN and
 * out-of-range give INT32_MIN, as numpy on x86-64).  f16 / bf16 values are
 * refused ("f16 is only supported on the CUDA target").  Attribute
 * conventions: a reduction with nints == 0 reduces every axis; softmax with
 * nints == 0 uses axis -1; negative axes count from the end.  In the global
 * run max / min over an empty range is an error (numpy raises), mean of an
 * empty range is NaN.
 *
 * Errors (a bad input, an embedding id out of range, an IR the interpreter
 * cannot run) are returned as one line in err, prefixed with the source
 * position "FILE:LINE:COL: " when the instruction has one, and without an
 * "error:" word; the caller prints it.  Nothing here exits or aborts except
 * DTC_BUG on broken invariants.
 *
 * Memory: results (and the outputs of the helpers below) live in the caller's
 * arena.  Intermediate tensors are malloc'd and freed after their last use,
 * so a long program does not hold every intermediate at once.
 */
#ifndef DTC_INTERP_H
#define DTC_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"

/* A dense row-major tensor.  A scalar has rank 0 and one element. */
typedef struct Tensor {
    DType dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    void *data;
} Tensor;

/* What the caller supplies for the entry function's parameters. */
typedef struct InterpInputs {
    /* f->nparams entries (or NULL: none given).  given[i] != NULL: the full
     * global tensor for parameter i (from --in), which must have exactly the
     * parameter's dtype and shape; NULL: the parameter's IrInit provides it. */
    const Tensor *const *given;
    /* Display names for given[i] in messages, e.g. "--in x" (NULL: "--in NAME"). */
    const char *const *given_what;
    /* Directory that relative load("file.npy") paths are relative to (the
     * .dt file's directory); NULL: the current directory. */
    const char *base_dir;
    /* The step of a multi-step run (0-based): per_step initialisers take
     * seed rt_step_seed(seed, step). */
    int64_t step;
} InterpInputs;

/* Runs f (global semantics); `in` may be NULL (every parameter from its
 * initialiser, load() paths relative to the current directory).  On
 * success returns 0 and sets *results to an
 * arena array of f->nresults tensors, in result order.  On failure returns
 * -1 with a one-line message in err, e.g.
 *   "--in x: expected f32[8, 512], file has f32[8, 500]". */
int interp_run(Arena *ar, const IrModule *m, const IrFunc *f, const InterpInputs *in,
               Tensor **results, char *err, size_t errlen);

/* Runs a partitioned f on every rank of m->mesh (SPMD, in lockstep: each
 * instruction for all ranks before the next).  Every value on rank r holds
 * pl_local_type(mesh, type, pl, coords(r)).  Inputs are the same global
 * tensors / initialisers as interp_run, scattered by each parameter's
 * placement (interp_scatter); results are assembled back into global tensors
 * (interp_assemble).  Semantics of the ops on ranks:
 *   - ordinary ops compute on local operands exactly as the global op does,
 *     producing the result value's local shape (reshape targets it);
 *   - OP_EMBEDDING with the table split on dim 0 looks ids up relative to the
 *     table's local row offset; ids outside the local rows give 0 rows (the
 *     result is then P(sum) over those axes);
 *   - collectives (OPF_COMM), local layout changes (OPF_LOCAL) and
 *     OP_REDISTRIBUTE (over every mesh axis) are executed generically from
 *     the operand's and the result's placements: for each group of ranks that
 *     differ only on the axes in `a.axes`, the group's view is assembled
 *     from the pieces (S: placed by pl_local_range; P: reduced; R: taken from
 *     coordinate 0) and each rank keeps what its result placement says
 *     (P(sum) on those axes: coordinate 0 keeps the value, others zeros;
 *     P(max/min/avg): everyone keeps it).  A new collective op needs no code.
 * Partial entries of different kinds on several axes reduce innermost axis
 * first: [P(sum), P(max)] means sum over axis 0 of (max over axis 1); a
 * collective that would reduce them in the other order is refused (sum and
 * avg commute with each other, max and min with themselves only).  Illegal
 * steps (gathering the outer split of a nested dim, a collective that
 * changes an axis outside `a.axes`, a local shape that does not match the
 * value's placement) are reported as errors with the instruction's position.
 * Reductions over an empty local range give the identity (0, -inf, +inf).
 * Values with an undecided placement (naxes == 0) count as replicated. */
int interp_run_sharded(Arena *ar, const IrModule *m, const IrFunc *f, const InterpInputs *in,
                       Tensor **results, char *err, size_t errlen);

/* The local piece of `global` (global type = its dtype and dims) that `rank`
 * holds under placement pl: S entries cut by pl_local_range; P(sum) entries:
 * coordinate 0 along every P(sum) axis holds the value, other ranks zeros;
 * P(max/min/avg) and R: the value.  Output data in ar. */
int interp_scatter(Arena *ar, const IrMesh *m, const Placement *pl, const Tensor *global,
                   int rank, Tensor *local, char *err, size_t errlen);
/* The inverse: the global tensor of type t from the pieces locals[0..nranks)
 * (indexed by rank) held under pl.  S: pieces placed; P: reduced with the P
 * op (avg = mean); R: coordinate 0's piece.  Fails with a message if a piece
 * does not have its local shape.  Output data in ar. */
int interp_assemble(Arena *ar, const IrMesh *m, const IrType *t, const Placement *pl,
                    const Tensor *locals, Tensor *global, char *err, size_t errlen);

/* ---- small helpers for the driver and tests ---------------------------------------- */
int64_t interp_numel(const Tensor *t);
/* A zeroed tensor of type t in ar. */
Tensor interp_tensor_new(Arena *ar, const IrType *t);
IrType interp_tensor_type(const Tensor *t);
/* Element i (row-major) as a double (exact for every supported dtype). */
double interp_get(const Tensor *t, int64_t i);
/* Stores v rounded to the tensor's dtype. */
void interp_set(Tensor *t, int64_t i, double v);
/* .npy I/O through runtime/core (data of a read tensor lives in ar). */
int interp_read_npy(Arena *ar, const char *path, Tensor *out, char *err, size_t errlen);
int interp_write_npy(const char *path, const Tensor *t, char *err, size_t errlen);

#endif
