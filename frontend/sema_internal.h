/* sema_internal.h - what sema.c shares with the files that check one family
 * of built-ins (sema_shape.c: indexing, slicing, concat, stack, split, pad,
 * broadcast_to).  Sema itself stays opaque; the services below are thin
 * wrappers of sema.c's own helpers, with the same contracts.
 */
#ifndef DTC_SEMA_INTERNAL_H
#define DTC_SEMA_INTERNAL_H

#include "frontend/fe_internal.h"

typedef struct Sema Sema;

typedef enum SvKind {
    SV_ERR,    /* already reported: users stay silent */
    SV_INT,    /* compile-time integer */
    SV_FLOAT,  /* compile-time float */
    SV_TENSOR, /* an IR value */
    SV_MULTI   /* several results (a user call, split) */
} SvKind;

typedef struct SVal {
    SvKind k;
    int64_t i;          /* SV_INT */
    double f;           /* SV_FLOAT */
    IrValue *v;         /* SV_TENSOR */
    int n;              /* SV_MULTI */
    IrValue **vs;
    const char *callee; /* SV_MULTI: for messages */
} SVal;

/* An error value (already reported), and a tensor value: an error when x is
 * NULL (its error was reported where it arose). */
static const SVal sv_err = {SV_ERR, 0, 0, NULL, 0, NULL, NULL};
static inline SVal sv_tensor(IrValue *x)
{
    SVal v = sv_err;
    if (x) {
        v.k = SV_TENSOR;
        v.v = x;
    }
    return v;
}

/* ---- services of sema.c ---------------------------------------------------- */
Arena *sema_arena(Sema *S);
void sema_err(Sema *S, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "f32[8, 4]" in the arena. */
const char *sema_tstr(Sema *S, const IrType *t);
/* One tensor operand (numbers become constants of their default dtype);
 * NULL: failed (reported). */
IrValue *sema_tensor_arg(Sema *S, const Expr *e);
/* A compile-time integer / number; false / SV_ERR after reporting. */
bool sema_eval_int(Sema *S, const Expr *e, const char *what, int64_t *out);
SVal sema_eval_num(Sema *S, const Expr *e);
/* Unknown or repeated keywords of a call are errors; false if any. */
bool sema_check_kws(Sema *S, const Expr *call, const char *allowed);
const Expr *sema_find_kw(const Expr *call, const char *kw, SrcLoc *loc);
/* op(args) checked by ir_infer, the caret on argloc[k] when operand k is to
 * blame; NULL after reporting. */
IrValue *sema_emit(Sema *S, SrcLoc loc, const SrcLoc *argloc, IrOp op, int nargs, IrValue **args,
                   const IrAttrs *at, DType dtype);

/* ---- sema_shape.c ------------------------------------------------------------ */
/* x[i, a:b, ::s] (E_INDEX on a tensor). */
SVal sema_index(Sema *S, const Expr *e);
/* Is `name` one of the family's built-ins? */
bool sema_is_shape_builtin(const char *name);
/* The family's built-in names, k = 0, 1, ... (NULL past the last). */
const char *sema_shape_builtin_name(int k);
/* concat, stack, split, pad, broadcast_to, expand: e is the call. */
SVal sema_shape_call(Sema *S, const Expr *e);

/* ---- sema_route.c ------------------------------------------------------------ */
/* argmax, argmin, one_hot, cumsum, take_along_axis / gather, topk, scatter_add. */
bool sema_is_route_builtin(const char *name);
const char *sema_route_builtin_name(int k);
SVal sema_route_call(Sema *S, const Expr *e);

#endif
