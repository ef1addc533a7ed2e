/* surface.h - the dt built-in functions as data (the OP_SURFACE / OP_ARG
 * rows of ir/ops.def): for each function its parameters in order, with
 * their kind, how they are passed, their default and its usage text.  Sema
 * checks arity and keywords, fills defaults and quotes the usage from this
 * table, then hands the checked arguments to the function's family.
 */
#ifndef DTC_SURFACE_H
#define DTC_SURFACE_H

#include "ir/ir.h"

/* Which sema function checks a built-in (frontend/sema_ops.c dispatches). */
typedef enum IrSurfFamily {
    IR_SF_EW,           /* a row of ir/ops_ew.def (no OP_SURFACE row) */
    IR_SF_GELU,
    IR_SF_SOURCE,       /* arange, iota */
    IR_SF_MASK,         /* tril, triu */
    IR_SF_CAUSAL,
    IR_SF_POW,
    IR_SF_CAST,
    IR_SF_REDUCE,
    IR_SF_SOFTMAX,
    IR_SF_NORM,
    IR_SF_TRANSPOSE,
    IR_SF_RESHAPE,
    IR_SF_LOOKUP,       /* embedding, cross_entropy */
    IR_SF_ATTENTION,
    IR_SF_REDISTRIBUTE,
    IR_SF_SHAPE,        /* frontend/sema_shape.c: concat, stack, split, pad, broadcast_to, expand */
    IR_SF_ROUTE         /* frontend/sema_route.c */
} IrSurfFamily;

typedef enum IrArgKind {
    IR_ARG_TENSOR,    /* a tensor (a number becomes a constant) */
    IR_ARG_TENSORS,   /* a list of tensors */
    IR_ARG_INT,       /* a compile-time integer */
    IR_ARG_AXES,      /* an integer or a list of integers */
    IR_ARG_INTS,      /* a list of integers */
    IR_ARG_NUM,       /* a compile-time number */
    IR_ARG_BOOL,      /* true or false */
    IR_ARG_DTYPE,     /* a dtype name */
    IR_ARG_TYPE,      /* a tensor type, as in f32[A, B] */
    IR_ARG_PLACEMENT  /* a placement, as in M[S(0), R] */
} IrArgKind;

typedef enum IrArgHow {
    IR_ARG_POS = 1,     /* by position */
    IR_ARG_KW = 2,      /* by keyword */
    IR_ARG_POS_KW = 3   /* either (not both) */
} IrArgHow;

/* One row of the table: a function (fn != NULL) or one of its parameters. */
typedef struct IrSurfRow {
    const char *fn;
    IrSurfFamily family;
    IrOp op;
    const char *usage;
    const char *key;
    IrArgKind kind;
    IrArgHow how;
    const char *dflt; /* dt text, NULL: none */
    const char *noun; /* "f needs NOUN" for a required parameter */
} IrSurfRow;

#define IR_SURF_MAX_ARGS 8

/* A function and its parameters (params[0..nparams) in order); npos of
 * them can be passed by position, the first nneed of which are required
 * positionally; fixed: exactly npos positional arguments (no optional
 * ones). */
typedef struct IrSurface {
    const char *name;
    IrSurfFamily family;
    IrOp op;
    const char *usage;
    int nparams;
    const IrSurfRow *params;
    int npos, nneed;
    bool fixed;
} IrSurface;

/* The built-in `name` (an OP_SURFACE row or an elementwise row with that
 * surface name) into *out; false if there is none.  Elementwise rows have
 * parameters x / a, b / c, a, b and usage op(x) / op(a, b) / op(c, a, b),
 * written in the arena (a NULL arena: no usage text). */
bool ir_surface_find(Arena *a, const char *name, IrSurface *out);
/* Every built-in's name, k = 0, 1, ... (NULL past the last): the
 * OP_SURFACE rows, then the elementwise ones. */
const char *ir_surface_name(int k);

#endif
