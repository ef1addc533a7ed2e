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
/* The cost model's estimate of redistributing from -> to (used by propagate
 * to compare strategies): the cost of the cheapest plan, 0 when from == to,
 * HUGE_VAL when there is none. */
double plan_cost(const CostModel *cm, const IrMesh *m, const IrType *t,
                 const Placement *from, const Placement *to);
/* "all_gather(tp, dim 0) -> M[S(0), R]; ..." */
char *plan_str(Arena *a, const IrMesh *m, const Plan *p);

/* ---- building blocks (plan.c, cost.c); see passes/PLANNER.md ----------------
 * Step semantics on local data, for a group = the ranks that differ only in
 * their coordinates on `axes`, ordered row-major over those coordinates:
 *   all_reduce      reduce the group's (equal-shaped) blocks elementwise; avg
 *                   divides the sum by the group size
 *   reduce_scatter  the same reduction, then each rank keeps its `after`
 *                   range of `dim` (uneven pieces: reduce_scatter_v)
 *   all_gather      concatenate the group's blocks along `dim` in group order
 *                   (uneven or empty pieces: all_gather_v)
 *   all_to_all      a rank cuts its block along `dim2` into the members'
 *                   `after` ranges, sends piece j to member j, and
 *                   concatenates what it receives along `dim` in group order
 *   shard           keep this rank's `after` range of `dim` (local)
 *   to_partial      sum: the group member with all coordinates 0 keeps the
 *                   value, the others hold 0; max/min/avg: keep the value
 * Mixed partial kinds on several axes reduce innermost first: the global
 * value is red_0(red_1(... red_n-1(local))) over axes 0 < 1 < ... (axis 0 is
 * the outer reduction, as axis 0 is the outer split).  The planner only
 * reorders reductions that commute ({sum, avg} with each other, max with
 * max, min with min). */

/* Ranks in a group over `axes`: the product of their sizes. */
int plan_group_size(const IrMesh *m, unsigned axes);
/* True if p is a placement of a value of type t on mesh m. */
bool plan_placement_valid(const IrMesh *m, const IrType *t, const Placement *p);
/* Completes a step whose kind, axes, red, dim, dim2 are set: checks that it
 * is legal from `before`, then sets after, bytes and cost.  Fields a kind
 * does not use are normalised (dim, dim2: -1; red: RED_SUM).  Returns false
 * if the step is not legal. */
bool plan_step_make(const CostModel *cm, const IrMesh *m, const IrType *t,
                    const Placement *before, PlanStep *st);
/* Sets st->bytes and st->cost from before and st->after (cost.c). */
void plan_step_measure(const CostModel *cm, const IrMesh *m, const IrType *t,
                       const Placement *before, PlanStep *st);
/* The same with the per-dim volumes memoised in cc, which belongs to one
 * (mesh, type) and lives in arena a: for searches that measure many steps. */
typedef struct CostCache CostCache;
CostCache *cost_cache_new(Arena *a, const IrMesh *m, const IrType *t);
void plan_step_measure_cached(const CostModel *cm, CostCache *cc, const IrMesh *m, const IrType *t,
                              const Placement *before, PlanStep *st);

#endif
