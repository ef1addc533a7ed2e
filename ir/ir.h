/* ir.h - the dtc IR: tensors with placements, in SSA form.
 *
 * A module holds one mesh and a list of functions.  A function is a list of
 * instructions in program order (one basic block: dt has no control flow);
 * each instruction defines one value (several for `call`).  Every value
 * carries its global type (what the program means) and its placement over
 * the mesh (how ranks hold it); a placement with naxes == 0 is "not decided
 * yet" and only exists before `propagate`.
 *
 * Memory: everything is allocated from the module's arena and freed with it.
 * The textual form (ir_print / ir_parse) is both the dump format and a test
 * input; see ir/print.c for the grammar.
 */
#ifndef DTC_IR_H
#define DTC_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/arena.h"

#define IR_MAX_RANK 8 /* tensor dims */
#define IR_MAX_AXES 4 /* mesh axes */

/* ---- source locations ---------------------------------------------------- */
typedef struct SrcLoc {
    const char *file; /* path as given on the command line; NULL: none */
    int line, col;    /* 1-based; 0: unknown */
} SrcLoc;

/* ---- dtypes ---------------------------------------------------------------- */
typedef enum DType {
    DT_F32,  /* IEEE single */
    DT_F64,  /* IEEE double */
    DT_I32,  /* 32-bit signed integer (indices) */
    DT_F16,  /* IEEE half; CUDA target only */
    DT_BF16, /* bfloat16; CUDA target only */
    DT_COUNT
} DType;

const char *ir_dtype_name(DType t);        /* "f32" ... */
bool ir_dtype_parse(const char *s, DType *out);
int ir_dtype_size(DType t);                /* bytes per element */
bool ir_dtype_is_float(DType t);

/* ---- types ------------------------------------------------------------------ */
typedef struct IrType {
    DType dtype;
    int rank;                     /* 0: scalar */
    int64_t dims[IR_MAX_RANK];    /* static sizes, >= 0 */
} IrType;

int64_t ir_type_numel(const IrType *t);
bool ir_type_eq(const IrType *a, const IrType *b);
/* Writes e.g. "f32[8, 512]" into buf; returns buf. */
char *ir_type_str(const IrType *t, char *buf, size_t n);

/* ---- placements --------------------------------------------------------------- */
typedef enum PlKind {
    PL_R, /* replicated along the axis */
    PL_S, /* tensor dim `dim` split along the axis (torch.chunk) */
    PL_P  /* partial: global value = reduction `red` of the ranks' values */
} PlKind;

typedef enum RedOp {
    RED_SUM, /* P(sum), also written P */
    RED_MAX, /* P(max) */
    RED_MIN, /* P(min) */
    RED_AVG  /* P(avg): global = mean of the partials */
} RedOp;

const char *ir_red_name(RedOp r); /* "sum" ... */

typedef struct PlEntry {
    PlKind kind;
    int dim;    /* PL_S: tensor dim, normalised to 0..rank-1 */
    RedOp red;  /* PL_P: reduction */
} PlEntry;

/* One entry per mesh axis, in axis order.  Several axes splitting one dim
 * nest left to right (the outer split is the lower axis index). */
typedef struct Placement {
    int naxes; /* == mesh naxes once decided; 0: undecided */
    PlEntry e[IR_MAX_AXES];
} Placement;

bool pl_eq(const Placement *a, const Placement *b);
bool pl_is_replicated(const Placement *p); /* all R */

/* ---- mesh ------------------------------------------------------------------------ */
typedef struct IrMesh {
    const char *name;                  /* e.g. "M" */
    int naxes;                         /* 0: no mesh declared */
    const char *axis_name[IR_MAX_AXES];
    int size[IR_MAX_AXES];             /* > 0 */
} IrMesh;

int ir_mesh_nranks(const IrMesh *m);
/* Row-major (last axis fastest) rank <-> coordinates: calls into the
 * runtime core's mesh arithmetic (rt_grid_*, runtime/core/rt_core.h). */
void ir_mesh_coords(const IrMesh *m, int rank, int coords[IR_MAX_AXES]);
int ir_mesh_rank(const IrMesh *m, const int coords[IR_MAX_AXES]);
/* Advances the coordinates on the axes in `mask` (row-major, last axis
 * fastest); false after the last combination (coordinates back to 0). */
bool ir_mesh_next_coords(const IrMesh *m, unsigned mask, int coords[IR_MAX_AXES]);
/* Writes e.g. "M[S(0), P(sum)]" into buf; returns buf. */
char *pl_str(const IrMesh *m, const Placement *p, char *buf, size_t n);
Placement pl_replicated(int naxes);

/* The part of global dim `dim` (size n) that the rank at `coords` holds under
 * placement p: torch.chunk splits of that dim nested in axis order
 * (rt_chunk_nested in runtime/core, the runtime's rt_local_box too). */
void pl_local_range(const IrMesh *m, const Placement *p, const int coords[IR_MAX_AXES],
                    int dim, int64_t n, int64_t *off, int64_t *len);
/* Local shard type of a value of global type t at `coords`. */
IrType pl_local_type(const IrMesh *m, const IrType *t, const Placement *p,
                     const int coords[IR_MAX_AXES]);

typedef struct IrAttrs IrAttrs;

/* ---- operations ---------------------------------------------------------------- */
enum {
    OPF_EW = 1 << 0,
    OPF_LINEAR = 1 << 1,
    OPF_MONO = 1 << 2,
    OPF_REDUCE = 1 << 3,
    OPF_COMM = 1 << 4,
    OPF_LOCAL = 1 << 5
};

typedef enum IrOp {
#define OP(id, name, nargs, flags) OP_##id,
#include "ir/ops.def"
#undef OP
    OP_COUNT
} IrOp;

/* The attribute schema (OP_ATTR rows of ops.def): which attributes an op
 * has, of which kind, in print order.  The text form, attribute equality and
 * the verifier read it. */
typedef enum IrAttrKind {
    AK_FLOAT,    /* f */
    AK_INTS,     /* ints: [a, b, ...] */
    AK_AXIS,     /* ints: one axis (nints == 1), printed bare; a list reads too */
    AK_PAIRS,    /* ints: [[lo, hi], ...] (nints = 2 * entries) */
    AK_TRIPLES,  /* ints: [[start, stop, step], ...] (nints = 3 * entries) */
    AK_BOOL,     /* keepdims */
    AK_MESHAXES, /* axes: mesh axis names */
    AK_RED,      /* red */
    AK_DIM,      /* dim */
    AK_DIM2,     /* dim2 */
    AK_BYTES,    /* bytes */
    AK_BYTES_NZ, /* bytes, printed only when non-zero */
    AK_TRIP,     /* trip */
    AK_CARRY,    /* ncarry */
    AK_STACK,    /* nstack */
    AK_ASYNC,    /* async (collectives after schedule), printed only when true */
    AK_SHIFT,    /* ints: one shift (nints == 1), printed bare; absent when a perm */
    AK_PERM      /* ints: a permutation of the group (nints > 1), printed only then */
} IrAttrKind;

typedef struct IrAttrSpec {
    const char *key;  /* the text form's name */
    IrAttrKind kind;
} IrAttrSpec;

/* op's attributes: *n entries (0: none). */
const IrAttrSpec *ir_op_attrs(IrOp op, int *n);
/* Do a and b agree on every attribute op reads? */
bool ir_attrs_eq(IrOp op, const IrAttrs *a, const IrAttrs *b);
/* Gives at n zeroed ints from arena ar (n may be 0) and returns them. */
int64_t *ir_attrs_ints(Arena *ar, IrAttrs *at, int n);
/* The attributes of a rank-`rank` transpose that swaps the last two dims. */
IrAttrs ir_attrs_swap_last_two(Arena *ar, int rank);
/* The attributes of an iota [rows, cols] counting along dim. */
IrAttrs ir_attrs_iota2(Arena *ar, int64_t rows, int64_t cols, int dim);

const char *ir_op_name(IrOp op);
int ir_op_nargs(IrOp op);   /* -1: variadic */
unsigned ir_op_flags(IrOp op);
bool ir_op_lookup(const char *name, IrOp *out);

/* ---- values, instructions, functions ---------------------------------------- */
typedef struct IrValue IrValue;
typedef struct IrInst IrInst;
typedef struct IrFunc IrFunc;

struct IrValue {
    int id;              /* unique in its function; printed %id */
    const char *name;    /* source name (printed %name.id), or NULL */
    IrType type;         /* global type */
    Placement pl;        /* placement; naxes == 0 before propagate */
    bool pinned;         /* placement fixed by the user; passes keep it */
    IrInst *def;         /* defining instruction; NULL for parameters */
    int param_index;     /* >= 0 for parameters, else -1 */
};

/* Attributes; each op reads the fields its OP_ATTR rows in ops.def name. */
struct IrAttrs {
    double f;                     /* const value, pow exponent, eps, pad value */
    int nints;                    /* axes / perm / sizes / per-dim lists in ints */
    int64_t *ints;                /* nints entries, arena-allocated (ir_attrs_ints);
                                     shared by copies of the attributes: never
                                     written after the instruction is built */
    bool keepdims;                /* reductions */
    unsigned axes;                /* collectives: bit i = mesh axis i */
    RedOp red;                    /* all_reduce, reduce_scatter, to_partial */
    int dim, dim2;                /* all_gather/shard/reduce_scatter: dim; all_to_all: dim -> dim2 */
    int64_t bytes;                /* collectives: largest per-rank send volume, for dumps */
    bool async;                   /* collectives: started here, completed by a `done` */
    const char *callee;           /* call: function name */
    IrFunc *fn;                   /* call: resolved callee; loop: the body */
    int64_t trip;                 /* loop: trip count (>= 0) */
    int ncarry, nstack;           /* loop: carried and stacked operand counts */
};

/* Fusion groups (passes/fuse.c): every value is the ROOT of a group (it
 * has a buffer; the default), a MEMBER computed inside its root's loop (or,
 * for a matmul, in row blocks of it), or recomputed in EACH loop that
 * reads it (const, iota). */
typedef enum IrFuse {
    FUSE_ROOT = 0,
    FUSE_MEMBER,
    FUSE_EACH
} IrFuse;

/* Ops the backends compute as one loop over the result's elements, so a
 * fusion group's members (elementwise, const, iota, transpose, shard,
 * to_partial, slice, broadcast_to). */
bool ir_op_loopable(IrOp op);
/* Is i a transpose that swaps the last two dims and keeps the others (a
 * GEMM reads it as a transposed operand)? */
bool ir_swaps_last_two(const IrInst *i);

struct IrInst {
    IrOp op;
    int nargs;
    IrValue **args;
    int nres;                     /* 1 except for call */
    IrValue **res;
    IrAttrs a;
    SrcLoc loc;                   /* source position it came from */
    const char *why;              /* redistribute / collectives: why inserted (dumps) */
    const char *plan;             /* redistribute after planning: the chosen steps (dumps) */
    Placement *in_pl;             /* after propagate: placement each operand must have
                                     (nargs entries; NULL before propagate) */
    int strategy;                 /* after propagate: op-specific sharding strategy id */
    IrFuse fuse;                  /* after fuse (passes/fuse.c): how its value is computed */
    IrValue *group;               /* FUSE_MEMBER: the root of its fusion group */
    IrInst *prev, *next;          /* program order */
};

typedef enum InitKind {
    INIT_NONE,   /* data must come from --in */
    INIT_RANDN,  /* normal: a = std (1), b = mean (0), seed */
    INIT_RAND,   /* uniform [a, b): a = lo (0), b = hi (1), seed */
    INIT_ZEROS,  /* 0 */
    INIT_ONES,   /* 1 */
    INIT_FULL,   /* a */
    INIT_ARANGE, /* flat row-major global index */
    INIT_LOAD    /* from the .npy file `path` */
} InitKind;

typedef struct IrInit {
    InitKind kind;
    uint64_t seed;
    double a, b;
    const char *path;
    bool per_step;                /* randn / rand: new data every step, from seed
                                     rt_step_seed(seed, step) (multi-step runs) */
} IrInit;

/* One strategy of a rule fn (`sharding { }`, ir/rule.c), per mesh axis:
 * parameter k holds in[k] and the result holds out on that axis. */
typedef struct IrRule {
    PlEntry *in;
    PlEntry out;
    double cost;                  /* declared extra cost, seconds (0: none) */
} IrRule;

struct IrFunc {
    const char *name;
    int nrules;                   /* a rule fn: its declared strategies (ir/rule.c); its calls
                                     become rule_call at inline */
    IrRule *rules;
    SrcLoc loc;
    int nparams;
    IrValue **params;             /* param_index i; their pl is the declared one */
    IrInit *inits;                /* nparams entries */
    int nresults;
    IrValue **results;            /* the returned values, in order */
    const char **result_names;    /* --out name: the returned variable's name, else NULL (out<i>) */
    int *result_feeds;            /* entry: the parameter index result i becomes on the next
                                     step (`feeds NAME`; same type and placement), or -1;
                                     NULL: none feeds */
    IrInst *first, *last;         /* program order */
    int next_id;                  /* next value id */
};

typedef struct IrModule {
    Arena *arena;
    IrMesh mesh;
    int nfuncs;
    IrFunc **funcs;
    IrFunc *entry;                /* main or --entry; NULL before chosen */
} IrModule;

/* ---- construction ------------------------------------------------------------- */
IrModule *ir_module_new(Arena *a);
IrFunc *ir_func_new(IrModule *m, const char *name);   /* appended to m->funcs */
IrFunc *ir_func_find(IrModule *m, const char *name);
IrValue *ir_param_new(IrModule *m, IrFunc *f, const char *name, IrType t, Placement pl, IrInit init);
/* A new instruction with nres results of the given types, appended at the end
 * of f (before == NULL) or inserted before `before`.  Results get fresh ids,
 * undecided placements and no names. */
IrInst *ir_inst_new(IrModule *m, IrFunc *f, IrInst *before, IrOp op,
                    int nargs, IrValue **args, int nres, const IrType *res_types);
/* The builders' instruction (partition, the attention decomposition, the
 * ring body): op(args) with attributes a (NULL: none) at loc, inserted as
 * ir_inst_new does, its one result typed by the op's shape rule (dt: the
 * result dtype of ops whose operands give none: const, iota).  With pl the
 * result is placed at *pl and in_pl gets the operands' placements.  A shape
 * rule that refuses is an internal bug; `who` names the builder. */
IrInst *ir_inst_typed(IrModule *m, IrFunc *f, IrInst *before, IrOp op, int nargs, IrValue **args,
                      const IrAttrs *a, DType dt, SrcLoc loc, const Placement *pl, const char *who);
void ir_inst_remove(IrFunc *f, IrInst *i);
/* Replace every use of `from` (operands and results) in f by `to`. */
void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to);
IrValue *ir_value_new(IrModule *m, IrFunc *f, IrType t);

/* ---- shape and dtype rules (ir/infer.c) --------------------------------------- */
/* Result type of `op` on operands `args` with attributes `a` (global
 * semantics).  Returns NULL and writes the result on success; on a rule
 * violation returns a message (arena-allocated) naming the rule. */
const char *ir_infer(Arena *ar, IrOp op, int nargs, const IrType *args,
                     const IrAttrs *a, IrType *out);
/* The lookup / routing family's rules (ir/infer_route.c), same contract. */
const char *ir_infer_route(Arena *ar, IrOp op, int nargs, const IrType *args,
                           const IrAttrs *a, IrType *out);
/* Is op one of that family (argmax ... scatter_add, repeat)? */
bool ir_op_is_route(IrOp op);
/* How a routing instruction runs as one rt_route kernel call
 * (runtime/core/rt_core.h), for the interpreter and the CPU lowering alike:
 * the kernel is the op's position among the routing ops of ops.def (the
 * order of rt_route_op), on the [outer, len, len2, inner] view of its
 * operands' and result's local types x (operand 0), y (operand 1, or NULL)
 * and r (one_hot: x flat, len the result's last dim). */
typedef struct IrRouteView {
    int kernel;
    int64_t outer, len, len2, inner;
} IrRouteView;
IrRouteView ir_route_view(const IrInst *i, const IrType *x, const IrType *y, const IrType *r);

/* ---- loops (ir/loop.c) ---------------------------------------------------------
 * A loop instruction runs its body (a function of the module, not called
 * elsewhere) `trip` times.  Body parameters, in order: the ncarry carried
 * values, one slice [l] (dim 0 dropped) of each of the nstack stacked
 * operands, then the captured operands as they are.  Body results: the new
 * carried values, of the carried types.  The loop's results are the carried
 * values after the last trip (the initial ones when trip == 0). */
IrType ir_loop_slice_type(const IrType *stacked);
/* NULL when i is a well-formed loop, else a message (arena-allocated). */
const char *ir_loop_check(Arena *ar, const IrInst *i);
/* Whether f is the body of a loop instruction in m. */
bool ir_func_is_loop_body(const IrModule *m, const IrFunc *f);

/* ---- local functions (ir/local.c) ----------------------------------------------
 * A `local fn` call (OP_LOCAL_CALL) keeps its body (a.fn, not in m->funcs) on
 * local types; its explicit collectives are typed on local shapes. */
/* Ranks in a group over `axes` (the product of their sizes). */
int ir_local_group(const IrMesh *m, unsigned axes);
/* The first dim of t that pl splits unevenly (*ways: into how many), or -1. */
int ir_local_split_dim(const IrMesh *m, const IrType *t, const Placement *pl, int *ways);
/* The local type of t under an evenly splitting pl (the same on every rank). */
IrType ir_local_type(const IrMesh *m, const IrType *t, const Placement *pl);
/* The result type of explicit collective op (all_reduce, all_gather,
 * reduce_scatter, all_to_all, ppermute, axis_index) on local operand type x
 * (NULL for axis_index); NULL or a message (an uneven split included). */
const char *ir_local_infer(Arena *ar, const IrMesh *m, IrOp op, const IrAttrs *a, const IrType *x,
                           IrType *out);
/* NULL when local call i's operands and results fit its body, else a message. */
const char *ir_local_call_check(Arena *ar, const IrMesh *m, const IrInst *i);
/* Does local_view x -> y keep every rank's local element count and the
 * dtype (it may reshape the local data, as axis_index's [1] -> [])? */
bool ir_local_view_ok(const IrMesh *m, const IrValue *x, const IrValue *y);
/* Writes the per-rank instructions of local call `call` into g before
 * `before` (NULL: at the end), reading args (at the declared placements)
 * and defining the existing values res (global types, declared placements). */
void ir_local_expand(IrModule *m, IrFunc *g, IrInst *before, const IrInst *call, IrValue *const *args,
                     IrValue *const *res);
/* The same as a function of its own (for the interpreter): parameters of the
 * operands' global types at the declared placements, results the call's. */
IrFunc *ir_local_as_func(IrModule *m, const IrInst *call);

/* ---- attention (ir/attention.c) ------------------------------------------------
 * attention(q, k, v): a.keepdims is `causal`, a.f the scale. */
const char *ir_infer_attention(Arena *ar, const IrType *q, const IrType *k, const IrType *v, IrType *out);
/* The score a causal mask writes for a hidden key (causal_mask's value). */
double ir_attention_masked(DType dt);
/* Placements of the decomposition's values: k transposed, the scores (and
 * probabilities), the [Tq, Tk] mask. */
typedef struct IrAttnPl {
    Placement kt, scores, mask;
} IrAttnPl;
/* The placements that go with k placed `k` and the result placed `out`
 * (rank: q's rank), on every strategy but the ring over more than one rank. */
IrAttnPl ir_attention_placements(const Placement *k, const Placement *out, int rank);
/* Writes softmax(q @ k^T * scale + mask) @ v into f before `before` (NULL:
 * at the end) and returns its value.  pl NULL: placements left undecided
 * (before propagate); else the values get pl's and the result out_pl, each
 * new instruction in_pl = its operands' placements (after redistribute). */
IrValue *ir_attention_expand(IrModule *m, IrFunc *f, IrInst *before, SrcLoc loc, IrValue *q, IrValue *k,
                             IrValue *v, const IrAttrs *attn, const IrAttnPl *pl, const Placement *out_pl);

/* ---- user sharding rules (ir/rule.c) -------------------------------------------
 * A fn with a `sharding { }` clause (rules, above) keeps its global body; a
 * rule_call of it (one result) is one op whose per-axis options are the
 * declared strategies.  Once placements are chosen, its body is re-typed on
 * the local shapes they give (each op's type re-inferred) and spliced as a
 * local fn's body is: the user promises that the body on local shards
 * computes the shards of the declared result. */
/* The body of rule fn f on the local shapes of operands at in[] (even
 * splits), as a local fn body (parameters at in[]) whose result has the local
 * type of f's result at out; NULL and *err (arena) when a split is uneven, an
 * op rejects the local shapes or is not allowed in a rule body. */
IrFunc *ir_rule_local_body(IrModule *m, const IrFunc *f, const Placement *in, const Placement *out,
                           const char **err);
/* NULL when f's body has only ops a rule body may have, else the message
 * and *at the first op that may not be there. */
const char *ir_rule_body_refuses(Arena *ar, const IrFunc *f, const IrInst **at);

/* ---- text form, verifier -------------------------------------------------------- */
void ir_print(FILE *out, const IrModule *m);
void ir_print_func(FILE *out, const IrModule *m, const IrFunc *f);
/* Parses the text form; on error writes "FILE:LINE:COL: error: ..." to err
 * and returns NULL. */
IrModule *ir_parse(Arena *a, const char *file, const char *text, FILE *err);
/* Checks the invariants that hold after pass `after` ("sema", "inline",
 * "propagate", "redistribute", "partition", "optimise", "schedule", "fuse"); prints problems to
 * err and returns false if any. */
bool ir_verify(const IrModule *m, const char *after, FILE *err);

#endif
