/* ew.h - the elementwise op family (ir/ops_ew.def) as data: what sema,
 * infer, the sharding rules, the interpreter and the C / CUDA emitters read
 * per op instead of switching over op ids.  The LLVM backend expands the
 * table's LLVM columns itself (they are builder code).
 */
#ifndef DTC_EW_H
#define DTC_EW_H

#include <stdint.h>

#include "ir/ir.h"

typedef enum EwTypes {
    EWT_FLOAT,  /* float operands only */
    EWT_NUM,    /* float or i32 (i32 exact) */
    EWT_FDIV,   /* true division: float only, i32 told to cast */
    EWT_SELECT  /* where(c, a, b): c any dtype, a and b one dtype */
} EwTypes;

typedef enum EwDomain {
    EWD_ALL,  /* any real */
    EWD_POS,  /* operand > 0 */
    EWD_NZ1,  /* operand 1 nonzero */
    EWD_STEP  /* piecewise constant: keep inputs off the steps */
} EwDomain;

typedef struct IrEwInfo {
    IrOp op;
    int nargs;
    EwTypes types;
    EwDomain domain;
    const char *surface;  /* dt built-in name, or NULL */
    const char *c_f;      /* C / CUDA templates (ops_ew.def); NULL: none */
    const char *c_i;
} IrEwInfo;

/* The row of op, or NULL when op is not in the elementwise table (cast is
 * elementwise but not in it: it has a target dtype instead of a formula). */
const IrEwInfo *ir_ew_info(IrOp op);
/* All rows, in table order. */
int ir_ew_count(void);
const IrEwInfo *ir_ew_row(int k);
/* The row whose dt built-in name is `name`, or NULL. */
const IrEwInfo *ir_ew_by_surface(const char *name);

/* The reference semantics in double (operands x, y, z; f: the op's f
 * attribute) and the exact i32 semantics in int64 (not wrapped). */
double ir_ew_eval(IrOp op, double x, double y, double z, double f);
int64_t ir_ew_eval_i(IrOp op, int64_t x, int64_t y, int64_t z);
/* Whether op computes i32 operands exactly (the I64 column applies). */
bool ir_ew_has_int(IrOp op);

/* Expands a C template for one node: x[k] the operand expressions, fsuf
 * "f" or "", tname "f32" / "f64" / "i32", pre "dtk" / "dk", ctype the
 * compute type, lit the f attribute as a literal (or NULL). */
const char *ir_ew_expand(Arena *a, const char *tmpl, const char *const *x, int nx, const char *fsuf,
                         const char *tname, const char *pre, const char *ctype, const char *lit);

#endif
