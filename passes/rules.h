/* rules.h - per-op sharding rules, shared by propagate, partition and the
 * report (internal to passes/; documented in passes/SHARDING.md).
 *
 * A rule is stated per mesh axis: on one axis, operand k holds in[k] and the
 * result holds `out`.  Rules do not depend on which axis it is, so an op's
 * options are one list, and a strategy for the whole mesh picks one option
 * per axis.  Options that only hold jointly (reshape chunking, one partial
 * kind per value) are checked on the assembled placements by rules_valid.
 */
#ifndef DTC_RULES_H
#define DTC_RULES_H

#include "passes/passes.h"

#define RULE_MAX_OPTS 48

/* What the operands and the result hold on one mesh axis. */
typedef struct AxisOpt {
    PlEntry *in;  /* operand k's entry on the axis (nargs entries, any count) */
    PlEntry out;  /* the result's entry on the axis */
} AxisOpt;

/* IrInst.strategy after propagate. */
enum {
    STRAT_LOCAL = 0,    /* the op applied to the local shards is the local result */
    STRAT_MEAN_SUM = 1, /* mean over a split dim: local sum, then scale by 1/N (global N) */
    STRAT_XRANK = 2,    /* softmax / log_softmax / layernorm / rmsnorm along a split dim:
                           local pieces combined by cross-rank max / sum all_reduces */
    STRAT_CE_SPLIT = 3, /* cross_entropy with rows or vocab split: lse and the label
                           logit computed per shard, summed as P(sum) */
    STRAT_SPLIT_SCAN = 4,  /* cumsum along a split dim: local cumsum plus the sum of the
                              earlier ranks' totals (one all_gather of the totals) */
    STRAT_SPLIT_SELECT = 5, /* argmax / argmin along a split dim: each rank's (value, global
                              index) candidate, all_gathered (one gather when the
                              index fits x's dtype), then the final pick */
    STRAT_RING = 6         /* attention with the sequence of q, k and v split over one mesh
                              axis: ring attention (passes/ring_attention.c) */
};

/* Every per-axis option of instruction i (from its op, attributes and
 * operand types; placements are not looked at), at most RULE_MAX_OPTS, their
 * operand entries allocated from ar.  Returns the count; the all-replicated
 * option always comes first.  0 for ops that have no rule (redistribute,
 * call, collectives). */
int rules_options(Arena *ar, const IrInst *i, AxisOpt *opts);

/* Joint checks on a whole assignment: the result mixes no partial kinds,
 * and reshape's local pieces are the same elements on both sides. */
bool rules_valid(const IrModule *m, const IrInst *i, const Placement *in, const Placement *out);

/* Which STRAT_ the op must use with operands at `in`. */
int rules_strategy(const IrInst *i, const Placement *in);

/* The routing family's part of rules_strategy and rules_compute_cost
 * (rules_route.c).  The split strategies exchange one summary per rank: the
 * operand's type with the op's axis d cut to one element per rank of the
 * axes A that split it (rules_route_summary), placed like the operand. */
int rules_route_strategy(const IrInst *i, const Placement *in);
double rules_route_comm_cost(const CostModel *cm, const IrMesh *m, const IrInst *i, const Placement *in);
IrType rules_route_summary(const IrMesh *m, const IrType *x, int d, unsigned axes);
/* Whether argmax / argmin's candidate index fits x's dtype exactly (every
 * index up to the axis size), so that value and index travel as one
 * gathered summary instead of two. */
bool rules_route_select_packs(const IrInst *i);

/* The mesh axis attention instruction i at operand placements `in` runs
 * its ring over (STRAT_RING), or -1. */
int rules_ring_axis(const IrInst *i, const Placement *in);

/* The largest local shard (the one at coordinates 0) of type t at pl. */
IrType rules_local_max(const IrMesh *m, const IrType *t, const Placement *pl);
int64_t rules_local_bytes_max(const IrMesh *m, const IrType *t, const Placement *pl);

/* Cost model estimate (seconds) of running i locally with operands at in and
 * result at out: local arithmetic plus the collectives its strategy issues
 * inside the op (not the redistributions of its operands). */
double rules_compute_cost(const CostModel *cm, const IrModule *m, const IrInst *i,
                          const Placement *in, const Placement *out);

/* Mask of the mesh axes on which pl splits tensor dim d. */
unsigned rules_split_axes(const Placement *pl, int d);
/* Placement pl with the entries on `axes` replaced by e. */
Placement rules_with(const Placement *pl, unsigned axes, PlEntry e);

/* ---- building option lists (rules.c; the family files use them) ---------- */
typedef struct Opts {
    Arena *ar;
    const IrInst *i;
    AxisOpt *v;
    int n;
} Opts;

/* Adds the option in[0..nargs) -> out unless it is listed already. */
void opts_add(Opts *o, PlEntry out, const PlEntry *in);
/* Adds out with every operand holding the same entry e. */
void opts_add_all(Opts *o, PlEntry out, PlEntry e);

/* The elementwise family's options (rules_elementwise.c): the options of an
 * OPF_EW instruction. */
void rules_ew_options(Opts *o);
/* The shape / indexing family (rules_shape.c): slice, concat, pad,
 * broadcast_to.  Every option holds axis by axis (no joint check). */
void rules_shape_options(Opts *o);
/* The lookup / routing family (rules_route.c): argmax ... scatter_add,
 * repeat; rules_route_valid is its joint check (repeat's split axis). */
void rules_route_options(Opts *o);
bool rules_route_valid(const IrMesh *m, const IrInst *i, const Placement *in, const Placement *out);

static inline PlEntry pe_r(void) { PlEntry e = {PL_R, 0, RED_SUM}; return e; }
static inline PlEntry pe_s(int d) { PlEntry e = {PL_S, d, RED_SUM}; return e; }
static inline PlEntry pe_p(RedOp r) { PlEntry e = {PL_P, 0, r}; return e; }
bool pe_eq(PlEntry a, PlEntry b);

#endif
