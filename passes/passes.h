/* passes.h - the compiler's passes over the IR, and what they share.
 *
 * The pipeline (driver/pipeline.c spells it out in one function):
 *   sema (frontend) -> inline -> propagate -> redistribute -> partition
 *   -> optimise -> schedule, fuse (compile only) -> codegen
 * Each pass lives in its own file whose top comment states what it requires
 * and what it maintains; ir_verify runs between passes.  A pass returns
 * false after printing "error: ..." lines to ctx->err when the program
 * cannot be compiled (a user error); internal bugs abort via DTC_BUG.
 */
#ifndef DTC_PASSES_H
#define DTC_PASSES_H

#include <stdio.h>

#include "ir/ir.h"

/* alpha-beta cost model, one (alpha, beta) per mesh axis.  A collective over
 * several axes uses the slowest axis's figures.  Local work is charged
 * `flop_time` seconds per floating-point operation and `copy_time` per byte
 * copied locally. */
typedef struct CostModel {
    double alpha[IR_MAX_AXES]; /* seconds per message (latency) */
    double beta[IR_MAX_AXES];  /* seconds per byte (inverse bandwidth) */
    double flop_time;          /* seconds per multiply-add half (matmul: 2 m n k flops) */
    double copy_time;          /* seconds per byte copied (transpose, slice, shard ...) */
    double elem_time;          /* seconds per element of an elementwise op, reduction, norm */
    double op_time;            /* seconds per instruction run (loop, call, launch): report only */
} CostModel;

/* Defaults: 5 us latency, 10 GB/s per axis, 50 GFLOP/s, 20 GB/s copies, an
 * element a flop, no per-instruction time; `dtc calibrate` measures them all
 * on the machine (driver/calibrate.c). */
CostModel cost_model_default(void);

typedef struct PassCtx {
    Arena *arena;
    FILE *err;        /* user-facing errors */
    CostModel cost;
    int beam_width;   /* propagate's beam (states kept); 0: the default, 1: greedy */
    int64_t memory_budget; /* bytes of entry parameters a rank may hold; 0: no limit */
    bool auto_replicated;  /* M[auto] parameters replicated, not chosen (the baseline) */
    int solver;            /* SOLVER_*: which selectors propagate runs */
    bool no_overlap;       /* schedule: keep every collective blocking (--no-overlap) */
    bool inline_rules;     /* inline: calls of rule fns inlined too (`dtc run`, the oracle, runs
                              their bodies globally) */
    int overlap_chunks;    /* schedule: k >= 2 cuts row-parallel matmul + all_reduce into
                              k chunks (--overlap-chunks=K); 0, 1: no cut */
} PassCtx;

/* PassCtx.solver: by default propagate keeps the cheapest plan of the greedy
 * choice, the beam search and the integer program (GLPK, when built in). */
enum {
    SOLVER_BEST = 0, /* the cheapest of greedy, beam and integer program */
    SOLVER_BEAM = 1, /* no integer program */
    SOLVER_ILP = 2   /* the integer program's plan wherever it finds one (tests, bench) */
};

/* Replacing values without a walk per replacement (forward.c): value id ->
 * its replacement, applied to an instruction's operands when the pass
 * reaches it (defs precede uses) and to the results at the end, so that
 * removing n instructions costs O(program), not O(n * program) as
 * ir_replace_uses per removal would. */
typedef struct PassForward {
    IrValue **to;
    int n;
} PassForward;

PassForward pass_fwd_new(Arena *ar, const IrFunc *f);
void pass_fwd_set(PassForward *fw, const IrValue *from, IrValue *to);
IrValue *pass_fwd_get(const PassForward *fw, IrValue *v);
void pass_fwd_args(const PassForward *fw, IrInst *i);
void pass_fwd_results(const PassForward *fw, IrFunc *f);

/* --time-passes (timing.c).  A point in time: wall seconds (monotonic) and
 * CPU seconds of this process and the children it waited for (cc, the
 * linker). */
typedef struct PhaseClock {
    double wall, cpu;
} PhaseClock;

PhaseClock phase_clock(void);
/* "time: PHASE  W s wall  C s cpu" on out (NULL: nothing). */
void phase_line(FILE *out, const char *phase, double wall, double cpu);
/* Prints "time: PHASE  W s wall  C s cpu" (since `start`) to out, unless
 * out is NULL; returns the clock now, the next phase's start. */
PhaseClock phase_time(FILE *out, const char *phase, PhaseClock start);

bool pass_inline(PassCtx *ctx, IrModule *m);
/* inline.c: every call in g replaced by its callee's body (calls nested in
 * it too; loops stay); with keep_rules, a call of a fn with sharding rules
 * becomes one rule_call instead (ir/rule.c). */
void pass_inline_calls(IrModule *m, IrFunc *g, bool keep_rules);
/* grad.c, run by pass_inline first: every value_and_grad (OP_GRAD) replaced
 * by a call of a generated function computing the value and the gradients. */
bool pass_grad(PassCtx *ctx, IrModule *m);
bool pass_propagate(PassCtx *ctx, IrModule *m);
/* dtc report --explain: for a propagated module, each instruction's chosen
 * strategy and the best other one with their costs, and the annotated
 * parameters the plan moves. */
void propagate_explain(PassCtx *ctx, IrModule *m, FILE *out);
bool pass_redistribute(PassCtx *ctx, IrModule *m);
/* ring_attention.c: attention on the ring strategy becomes a local fn call
 * whose body is ring attention (runs after redistribute, before partition). */
bool pass_ring_attention(PassCtx *ctx, IrModule *m);
bool pass_partition(PassCtx *ctx, IrModule *m);
bool pass_optimise(PassCtx *ctx, IrModule *m);
/* schedule.c: collectives become start / done pairs moved apart so that
 * computation overlaps them (compile only; nothing with ctx->no_overlap). */
bool pass_schedule(PassCtx *ctx, IrModule *m);
/* fuse.c: every instruction marked root, member of a fusion group
 * (group=%ROOT: computed in ROOT's loop; a matmul: ROOT's GEMM in row
 * blocks) or recomputed in each loop (const, iota), for codegen (compile
 * only; the last pass). */
bool pass_fuse(PassCtx *ctx, IrModule *m);
/* split_matmul.c, run by pass_schedule: row-parallel matmul + all_reduce
 * cut into ctx->overlap_chunks chunks of rows. */
bool pass_split_matmul(PassCtx *ctx, IrModule *m);

/* After partition: every rank issues the same collectives in the same order
 * on each communicator with matching sizes (false: a compiler bug). */
bool pass_check_collectives(PassCtx *ctx, const IrModule *m);
/* `dtc report`: per rank, the collectives in order (kind, axes, bytes),
 * total bytes, peak live memory and the cost model's time estimate. */
void pass_report(FILE *out, const PassCtx *ctx, const IrModule *m);
/* The same as JSON (dtc report --format=json). */
void pass_report_json(FILE *out, const PassCtx *ctx, const IrModule *m);
/* Bytes of the entry parameters rank 0 holds; the cost model's estimate of
 * the whole program in microseconds (as `dtc report` prints it). */
int64_t report_param_bytes(const IrModule *m);
double report_estimate_us(const PassCtx *ctx, const IrModule *m);

#endif
