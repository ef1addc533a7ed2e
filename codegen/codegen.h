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

typedef struct CgOptions {
    const char *target;     /* "cpu" or "cuda" */
    const char *emit;       /* "exe", "c", "llvm", "obj", "cu" */
    const char *output;     /* path to write */
    int opt_level;          /* 0..3 */
    const char *cuda_arch;  /* e.g. "sm_80,sm_90" */
    const char *src_file;   /* the .dt file (for names and messages) */
    FILE *time_passes;      /* --time-passes: one line per codegen phase here; NULL: off */
} CgOptions;

/* --time-passes.  A point in time: wall seconds (monotonic) and CPU seconds
 * of this process and the children it waited for (cc, the linker). */
typedef struct CgClock {
    double wall, cpu;
} CgClock;

CgClock cg_clock(void);
/* "time: PHASE  W s wall  C s cpu" on out (NULL: nothing). */
void cg_time_line(FILE *out, const char *phase, double wall, double cpu);
/* Prints "time: PHASE  W s wall  C s cpu" (since `start`) to out, unless
 * out is NULL; returns the clock now, the next phase's start. */
CgClock cg_time_phase(FILE *out, const char *phase, CgClock start);

/* Generates what opt asks for; prints "dtc: error: ..." to err and returns
 * false on failure. */
bool cg_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err);

#endif
