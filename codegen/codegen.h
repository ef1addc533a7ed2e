/* codegen.h - code generation from the partitioned, optimised IR.
 *
 * Backends sit behind one table (codegen.c): each turns the per-rank program
 * into a file of its kind (C, LLVM IR, object, CUDA C) and, for an
 * executable, links it against the runtime library (runtime/dtrt.h).
 */
#ifndef DTC_CODEGEN_H
#define DTC_CODEGEN_H

#include <stdio.h>

#include "ir/ir.h"
#include "passes/passes.h"

typedef struct CgOptions {
    const char *target;     /* "cpu" or "cuda" */
    const char *emit;       /* "exe", "c", "llvm", "obj", "cu" */
    const char *output;     /* path to write */
    int opt_level;          /* 0..3 */
    const char *cuda_arch;  /* e.g. "sm_80,sm_90" */
    const char *src_file;   /* the .dt file (for names and messages) */
    FILE *time_passes;      /* --time-passes: one line per codegen phase here; NULL: off */
    int64_t epilogue_block; /* --epilogue-block: bytes of a matmul epilogue's row block
                               (0: lowering's default, cg_internal.h) */
} CgOptions;


/* Generates what opt asks for; prints "dtc: error: ..." to err and returns
 * false on failure. */
bool cg_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err);

#endif
