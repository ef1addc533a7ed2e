/* frontend.h - public interface of the frontend: diagnostics, and turning a
 * .dt file into an IR module (parse -> sema -> lowering).
 *
 * Diagnostics follow spec section 9: "FILE:LINE:COL: error: MESSAGE", then
 * the source line, then a caret under the column.  The frontend keeps going
 * after an error to report further independent ones; callers test
 * diag_nerrors() and own the exit status.
 */
#ifndef DTC_FRONTEND_H
#define DTC_FRONTEND_H

#include <stdio.h>

#include "ir/ir.h"

typedef struct Diag Diag;

Diag *diag_new(Arena *a, FILE *out);
/* Registers a file's text so errors in it can quote their source line
 * (NUL-terminated; _bytes: `len` bytes that may hold NULs). */
void diag_add_source(Diag *d, const char *file, const char *text);
void diag_add_source_bytes(Diag *d, const char *file, const char *text, size_t len);
void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int diag_nerrors(const Diag *d);

typedef struct FeOptions {
    const char *entry;          /* entry function; NULL: "main" */
    int nmesh_override;         /* --mesh dp=4,tp=2: new sizes by axis name */
    const char **mesh_axis;
    int *mesh_size;
    int64_t max_inlined_ops;    /* 0: FE_MAX_INLINED_OPS */
} FeOptions;

/* The most operations the entry function may have once every call is
 * inlined (spec 9): beyond it `dtc check` reports the call that passes it. */
#define FE_MAX_INLINED_OPS 250000

/* Reads, parses, checks and lowers `path` and the files it imports (load.c).
 * Returns the module (calls not yet inlined, entry set, placements only
 * where the user wrote them) or NULL if any error was reported to d. */
IrModule *fe_load_file(Arena *a, Diag *d, const char *path, const FeOptions *opt);
/* The same from text in memory (tests, the fuzzer): NUL-terminated, or
 * `len` bytes (a NUL among them is an error, as in a file). */
IrModule *fe_load_string(Arena *a, Diag *d, const char *file, const char *text,
                         const FeOptions *opt);
IrModule *fe_load_bytes(Arena *a, Diag *d, const char *file, const char *text, size_t len,
                        const FeOptions *opt);

#endif
