/* ir_text.h - the IR text form beyond ir.h: dumps with a stage header and
 * local shapes, print options, and value names for messages.
 *
 * The grammar is documented in ir/print.c and tests/ir/README.md.
 * ir_print(m) is ir_print_opts with locs on, no header, no local shapes.
 */
#ifndef DTC_IR_TEXT_H
#define DTC_IR_TEXT_H

#include "ir/ir.h"

typedef struct IrPrintOpts {
    const char *stage; /* non-NULL: first line "# after STAGE" */
    bool local_shapes; /* print local=[...] (per-rank shapes) on every value */
    bool no_locs;      /* leave out the !LINE:COL source positions */
} IrPrintOpts;

void ir_print_opts(FILE *out, const IrModule *m, const IrPrintOpts *o);
/* The dump after pass `stage`: "# after STAGE", then the module; values carry
 * their local shapes after "partition" and "optimise".  The parser skips the
 * header (a comment) and the local shapes (derived data). */
void ir_print_stage(FILE *out, const IrModule *m, const char *stage);
/* True for the stages after which the program is per-rank (local shapes). */
bool ir_stage_is_partitioned(const char *stage);
/* How the text form names a value: "%name.id", or "%id" without a name. */
char *ir_value_str(const IrValue *v, char *buf, size_t n);
/* Writes the shortest decimal text that strtod reads back as exactly x. */
char *ir_float_str(double x, char *buf, size_t n);

#endif
