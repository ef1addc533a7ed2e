/* dot.h - the IR as a Graphviz picture (ir/dot.c): `dtc compile --emit=dot`.
 */
#ifndef DTC_IR_DOT_H
#define DTC_IR_DOT_H

#include "ir/ir.h"

typedef struct IrDotOpts {
    const char *stage;    /* the pass the IR comes from ("optimise" ...); local shapes
                             are shown after partition and optimise */
    const char *src_file; /* the source file, as positions name it; NULL: none */
    const char *src_text; /* its text, for the source lines in tooltips; NULL: none */
} IrDotOpts;

/* Writes m as one Graphviz digraph: every function a cluster, values and
 * instructions as nodes, operand and result edges.  Deterministic. */
void ir_print_dot(FILE *out, const IrModule *m, const IrDotOpts *o);

#endif
