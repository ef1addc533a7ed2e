/* plan.h - redistribution planning: the cheapest sequence of collectives
 * and local steps that turns one placement of a tensor into another.
 *
 * Each step changes the placement on the mesh axes in `axes` (several axes:
 * one collective over the combined group, ranks ordered row-major) and maps
 * 1:1 to an IR op of the same name (OP_ALL_REDUCE ...).  Sizes are exact
 * for uneven and empty shards (torch.chunk).  Steps that are not legal for
 * nested splits are never produced: a split can be gathered or created only
 * on the innermost axis of its dim (the highest axis index splitting it).
 */
#ifndef DTC_PLAN_H
#define DTC_PLAN_H

#include "passes/passes.h"

#define PLAN_MAX_STEPS 16

typedef enum StepKind {
    STEP_ALL_REDUCE,     /* P(red) -> R */
    STEP_REDUCE_SCATTER, /* P(red) -> S(dim) */
    STEP_ALL_GATHER,     /* S(dim) -> R */
    STEP_ALL_TO_ALL,     /* S(dim) -> S(dim2) */
    STEP_SHARD,          /* R -> S(dim), local slice */
    STEP_TO_PARTIAL      /* R -> P(red), local */
} StepKind;

typedef struct PlanStep {
    StepKind kind;
    unsigned axes;      /* bit i: mesh axis i */
    RedOp red;
    int dim, dim2;
    Placement after;    /* placement once this step is done */
    int64_t bytes;      /* largest number of bytes any rank sends in this step */
    double cost;        /* cost model estimate, seconds */
} PlanStep;

typedef struct Plan {
    int nsteps;
    PlanStep steps[PLAN_MAX_STEPS];
    double cost;        /* sum of the steps' costs */
    int64_t bytes;      /* sum of the steps' bytes */
    int ncollectives;   /* steps that communicate */
} Plan;

const char *plan_step_name(StepKind k);   /* "all_reduce" ... */
IrOp plan_step_op(StepKind k);            /* OP_ALL_REDUCE ... */

/* Plans from -> to for a value of global type t.  Returns false only if no
 * plan exists (it always does for valid placements). */
bool plan_redistribute(const CostModel *cm, const IrMesh *m, const IrType *t,
                       const Placement *from, const Placement *to, Plan *out);
/* Cost of one collective step as the cost model sees it (used by propagate
 * to compare strategies). */
double plan_cost(const CostModel *cm, const IrMesh *m, const IrType *t,
                 const Placement *from, const Placement *to);
/* "all_gather(tp, dim 0) -> M[S(0), R]; ..." */
char *plan_str(Arena *a, const IrMesh *m, const Plan *p);

#endif
