/* propagate_internal.h - what propagate.c (hints, strategies, the greedy
 * choice, loops) shares with select.c (the whole-function selectors: the
 * beam search, the integer program, the cost of a decided function) and the
 * report's --explain.  Not for other passes. */
#ifndef DTC_PROPAGATE_INTERNAL_H
#define DTC_PROPAGATE_INTERNAL_H

#include "passes/rules.h"

#define KEEP_PER_AXIS 4 /* options per axis that reach the exact comparison */
#define BEAM_WIDTH_DEFAULT 16 /* states the beam keeps (PassCtx.beam_width 0) */
#define CACHE_SIZE 4096 /* plan_cost memo entries (a power of two) */

typedef struct CostKey {
    int32_t dtype, rank;
    int64_t dims[IR_MAX_RANK];
    int32_t naxes;
    int32_t from[IR_MAX_AXES][3], to[IR_MAX_AXES][3];
} CostKey;

typedef struct CostSlot {
    bool used;
    CostKey key;
    double cost;
} CostSlot;

typedef struct Prop {
    PassCtx *ctx;
    IrModule *m;
    const IrMesh *mesh;
    Placement *hint; /* by value id; naxes 0: none */
    CostSlot *cache;
} Prop;

/* One strategy of an instruction (candidates()). */
typedef struct Cand {
    Placement *in;   /* per operand */
    Placement out;
    double cost;     /* compute + moving the operands from where they were */
    double rank;     /* cost + moving the result to its hint */
} Cand;

typedef struct Snapshot {
    Placement *param;   /* by parameter */
    Placement *pl;      /* by instruction, its result's */
    Placement **in_pl;
    int *strategy;
} Snapshot;

void prop_init(Prop *p, PassCtx *ctx, IrModule *m);
/* plan_cost, memoised; 0 when from == to */
double prop_move_cost(Prop *p, const IrType *t, const Placement *from, const Placement *to);
bool prop_has_hint(const Prop *p, const IrValue *v);
/* in_pl of i (module arena, stays); scratch placements, one per operand */
Placement *prop_in_pl(Prop *p, const IrInst *i);
Placement *prop_scratch(Prop *p, const IrInst *i);
/* the `max` best strategies of i with its operands at argpl (see propagate.c) */
int prop_candidates(Prop *p, IrInst *i, const Placement *argpl, const Placement *also, Cand *cands,
                    int max);
/* the greedy choice of one instruction, written into the IR */
bool prop_inst(Prop *p, IrInst *i);
/* forgets what a previous round decided inside f (pinned values stay) */
void prop_reset_body(IrFunc *f);

/* select.c */
/* whether the beam can decide f (not too many values live at once) */
bool prop_beam_fits(Arena *ar, const IrFunc *f);
/* the beam's plan written into the IR; undecided[k]: parameter k is M[auto] */
bool prop_beam(Prop *p, IrFunc *f, const Placement *result_hint, int width, const bool *undecided);
bool prop_ilp(Prop *p, IrFunc *f, const Placement *result_hint, const bool *undecided);
double prop_func_cost(Prop *p, const IrFunc *f, const Placement *result_hint);
Snapshot *prop_snapshot(Prop *p, const IrFunc *f);
void prop_restore(IrFunc *f, const Snapshot *s);

#endif
