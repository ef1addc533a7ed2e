/* driver.h - the dtc command line: options shared by the subcommands and
 * the compilation pipeline (pipeline.c spells out every pass in order).
 * The driver owns the exit status: 0 success, 1 user error (diagnostics),
 * 2 usage error; internal bugs abort.
 */
#ifndef DTC_DRIVER_H
#define DTC_DRIVER_H

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

typedef struct DtcOptions {
    const char *cmd;          /* check, run, compile, report, ir-roundtrip */
    const char *file;         /* the .dt (or .ir) input */
    const char *output;       /* -o */
    const char *emit;         /* exe (default), c, llvm, obj, cu, dot, svg */
    const char *target;       /* cpu (default), cuda */
    int opt_level;            /* -O0..-O3, default 2 */
    const char *print_after;  /* pass name or "all"; NULL: none */
    const char *dump_dir;     /* --dump-dir */
    const char *format;       /* report --format: text (NULL) or json */
    const char *stop_after;   /* internal: --stop-after=PASS */
    const char *cuda_arch;    /* --cuda-arch=sm_80,sm_90 */
    bool simulate;            /* run --simulate: the per-rank program in the interpreter */
    bool explain;             /* report --explain: why each placement */
    bool time_passes;         /* --time-passes: each pass's time on stderr */
    FeOptions fe;             /* --entry, --mesh */
    int nin, nout;            /* --in / --out NAME=FILE for `run`, as many as given */
    int steps, log_every;     /* run --steps N --log-every K (0: not given) */
    const char **in_name, **in_path;     /* arena arrays, grown by doubling */
    const char **out_name, **out_path;
    int in_cap, out_cap;
    CostModel cost;           /* --alpha / --beta overrides */
    int beam_width;           /* --beam=N: propagate's beam; 0 default, 1 greedy */
    int64_t memory_budget;    /* --memory-budget=BYTES: entry parameters per rank; 0 none */
    int solver;               /* --solver=best|beam|ilp (SOLVER_*) */
    bool no_overlap;          /* compile --no-overlap: blocking collectives (schedule does nothing) */
    int overlap_chunks;       /* compile --overlap-chunks=K: collective matmul in K chunks */
    int64_t epilogue_block;   /* compile --epilogue-block=BYTES: matmul epilogue blocks (0: default) */
} DtcOptions;

/* Runs inline .. optimise, and schedule for `compile` (or up to opts->stop_after) on m, verifying after
 * every pass and printing / dumping as the options ask.  Returns false after
 * a user-facing error. */
bool dtc_pipeline(const DtcOptions *opts, PassCtx *ctx, IrModule *m);

/* help.c: the known subcommands; the usage of one (cmd NULL or unknown:
 * the overview), with the cost model's defaults. */
bool dtc_is_command(const char *cmd);

/* calibrate.c: `dtc calibrate` (argv as main's); reading its file into cm
 * (false with msg on a bad file). */
int dtc_calibrate(int argc, char **argv);
/* checkpoint.c: `dtc checkpoint merge|info` (argv as main's) and its usage. */
int dtc_checkpoint(int argc, char **argv);
void dtc_checkpoint_help(FILE *out);
bool dtc_load_calibration(const char *path, CostModel *cm, char *msg, size_t n);
void dtc_print_help(FILE *out, const char *cmd);

/* picture.c: `compile --emit=dot|svg` of m after `stage` into `output`;
 * returns the exit status. */
int dtc_emit_picture(Arena *ar, const DtcOptions *o, const IrModule *m, const char *stage,
                     const char *output);

/* run.c: `dtc run` on the inlined (or, --simulate, partitioned) module. */
int dtc_cmd_run(Arena *ar, const DtcOptions *o, IrModule *m);

#endif
