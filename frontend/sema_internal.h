/* sema_internal.h - what the files of sema share: its state (struct Sema)
 * and the services each file offers the others.
 *
 *   sema.c        diagnostics, names, consts and compile-time numbers,
 *                 emitting IR, expressions, statements, functions, entry
 *   sema_decl.c   types, placements, the mesh, parameter initialisers
 *   sema_ops.c    calls of the built-in operations (the surface schema)
 *   sema_loop.c   for loops: carried, stacked and captured values
 *   sema_shape.c  indexing, slicing, concat, stack, split, pad, broadcast_to
 *   sema_route.c  argmax, argmin, one_hot, cumsum, take_along_axis, topk, scatter_add
 *   sema_local.c  `local fn`: local shapes, explicit collectives, result checks
 *
 * The contracts of the checking walk are in sema.c's header comment.
 */
#ifndef DTC_SEMA_INTERNAL_H
#define DTC_SEMA_INTERNAL_H

#include "frontend/fe_internal.h"
#include "ir/surface.h"

typedef struct Sema Sema;

typedef enum SvKind {
    SV_ERR,    /* already reported: users stay silent */
    SV_INT,    /* compile-time integer */
    SV_FLOAT,  /* compile-time float */
    SV_TENSOR, /* an IR value */
    SV_MULTI   /* several results (a user call, split) */
} SvKind;

typedef struct SVal {
    SvKind k;
    int64_t i;          /* SV_INT */
    double f;           /* SV_FLOAT */
    IrValue *v;         /* SV_TENSOR */
    int n;              /* SV_MULTI */
    IrValue **vs;
    const char *callee; /* SV_MULTI: for messages */
} SVal;

/* An error value (already reported), and a tensor value: an error when x is
 * NULL (its error was reported where it arose). */
static const SVal sv_err = {SV_ERR, 0, 0, NULL, 0, NULL, NULL};
static inline SVal sv_tensor(IrValue *x)
{
    SVal v = sv_err;
    if (x) {
        v.k = SV_TENSOR;
        v.v = x;
    }
    return v;
}
static inline SVal sv_int(int64_t i)
{
    SVal v = sv_err;
    v.k = SV_INT;
    v.i = i;
    return v;
}
static inline SVal sv_float(double f)
{
    SVal v = sv_err;
    v.k = SV_FLOAT;
    v.f = f;
    return v;
}

/* ---- the state of one checking walk ------------------------------------------- */
typedef struct Binding {
    const char *name;
    SVal val;
    int depth;            /* loop nesting where it was bound (0: the function's own scope) */
    struct Binding *next; /* older bindings (shadowed ones included) */
    struct Binding *shadow; /* the binding of the same name it hides, or NULL */
} Binding;

/* A `for` being checked: its body is built as its own IrFunc; values from
 * outside become body parameters when first used (carried, stacked slices
 * w[l], captures), and are reordered to that order at the end. */
/* Values from outside a loop body and the body parameters that stand for
 * them, in order of first use: outer[k] is passed for param[k]. */
typedef struct LoopInputs {
    int n, cap;
    IrValue **outer, **param;
} LoopInputs;

typedef struct LoopCtx {
    struct LoopCtx *parent;
    int depth;            /* 1 for the outermost loop */
    const Stmt *st;
    IrFunc *body;
    int64_t trip;
    int ncarry;
    IrValue **carry_param, **carry_cur, **carry_init;
    bool *carry_pinned;
    Placement *carry_pl;
    LoopInputs stack;     /* stacked values sliced [l] */
    LoopInputs cap;       /* other values from outside, read as they are */
} LoopCtx;

/* A `for` in a local fn body: unrolled while it is checked (one copy of the
 * body per trip, the counter a compile-time integer), so the body's explicit
 * collectives and the variance analysis need nothing loop-specific. */
typedef struct UnrollCtx {
    struct UnrollCtx *parent;
    const Stmt *st;
    IrType *carry_type; /* the type each carried value keeps; rank -1: unknown (reported) */
} UnrollCtx;

typedef struct ConstInfo {
    Decl *decl;
    SVal val;
    int state; /* 0: not evaluated, 1: being evaluated, 2: done */
} ConstInfo;

typedef struct Edge {
    int callee; /* index in Sema.fns */
    SrcLoc loc; /* the call */
} Edge;

typedef struct FnInfo {
    Decl *decl;
    IrFunc *ir;
    bool dup;            /* redefinition: checked, but not in the module */
    bool sig_ok;         /* all parameter and result types resolved */
    IrType *ptypes;
    IrType *rtypes;
    bool *rpl_has;       /* result i has a valid declared placement */
    Placement *rpl;
    int ncalls, capcalls;
    Edge *calls;
    int color;           /* DFS for recursion: 0 white, 1 on the path, 2 done */
    struct Binding *params; /* the parameters, bound by check_signature */
    bool local;          /* `local fn`: ir is the body on local types, not in the module */
    IrType *lrtypes;     /* local: the results' local types */
    SrcLoc *ret_locs;    /* local: where each returned value is written */
    int ngrads, capgrads;   /* its value_and_grad calls: the differentiated function, where */
    Edge *grads;
    const char *global_why; /* why a local fn may not call it (a placement, a loop, ...), or NULL */
    SrcLoc global_loc;      /* where */
    FeNames *locals;     /* name -> its newest Binding (params, then lets) */
    /* Shape variables (f32[*S]): a generic function is checked and lowered
       once per binding of its variables, at its first call with it (an
       instance: its own FnInfo, not in Sema.fns, base pointing back). */
    bool generic;        /* its signature uses a shape variable */
    FeNames *instances;  /* generic: binding key ("S=4x8;") -> its instance FnInfo */
    int instantiating;   /* generic: instances being checked now (recursion) */
    struct FnInfo *base; /* instance: the generic function; NULL otherwise */
    FeNames *shapes;     /* instance: shape variable -> IrType (rank, dims) */
    const char *binding; /* instance: "*S = [4, 8]", for messages */
    SrcLoc call;         /* instance: the call that made it */
    struct FnInfo *caller; /* instance: the instance that call is in, or NULL */
} FnInfo;

typedef struct Msg {
    SrcLoc loc;
    const char *text;
    int group; /* the error it belongs to (notes share their error's group) */
    bool note;
    const struct FnInfo *inst; /* an error inside an instance of a generic function: it */
} Msg;

struct Sema {
    Arena *a;
    Diag *d;
    const FeOptions *opt;
    Program *p;
    IrModule *m;
    int nmsgs, capmsgs, ngroups;
    Msg *msgs;
    int nconsts;
    ConstInfo *consts;
    Decl *mesh;          /* the declared mesh, NULL: none */
    bool mesh_ok;        /* m->mesh is valid */
    int nfns;
    FnInfo *fns;
    FnInfo *cur;         /* function being checked */
    Binding *scope;      /* its bindings, newest first */
    LoopCtx *loop;       /* innermost `for` being checked, NULL: none */
    int nloops;          /* loops made so far (body names) */
    UnrollCtx *unroll;   /* innermost `for` of a local fn body being unrolled, NULL: none */
    FeNames *locals;     /* the same by name; NULL: no locals visible (a const) */
    FeNames *first_decl; /* name -> the first Decl of that name */
    FeNames *const_of;   /* name -> its ConstInfo */
    FeNames *fn_of;      /* name -> its FnInfo (not a redefinition) */
    FeNames *shapes;     /* the shape variables of the instance being checked, NULL: none */
};

/* Nearest-name suggestions for "unknown name" messages. */
typedef struct Suggest {
    const char *want;
    const char *best;
    int dist;
} Suggest;

/* ---- sema.c ------------------------------------------------------------------ */
Arena *sema_arena(Sema *S);
/* Diagnostics, buffered and sorted by position; a note belongs to the error before it. */
void sema_err(Sema *S, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sema_note(Sema *S, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
SrcLoc sema_noloc(void);
/* "f32[8, 4]" in the arena. */
const char *sema_tstr(Sema *S, const IrType *t);
/* " (did you mean 'x'?)" or "". */
const char *sema_suggest_str(Sema *S, const Suggest *g);
void sema_suggest_values(Sema *S, Suggest *g);
bool sema_is_init_name(const char *name);
/* Unknown or repeated keywords of a call are errors; false if any. */
bool sema_check_kws(Sema *S, const Expr *call, const char *allowed);
const Expr *sema_find_kw(const Expr *call, const char *kw, SrcLoc *loc);
/* Where instructions go: the innermost loop body, else the function. */
IrFunc *sema_target_fn(Sema *S);
/* Local names: lookup, binding, and dropping the bindings made after `saved`. */
Binding *sema_find_local(Sema *S, const char *name);
void sema_bind(Sema *S, const char *name, SVal v);
void sema_restore_scope(Sema *S, Binding *saved);
/* Compile-time numbers. */
bool sema_is_num(SVal v);
double sema_num_f(SVal v);
const char *sema_float_str(Sema *S, double f);
const char *sema_num_str(Sema *S, SVal v);
/* A compile-time integer / number; false / SV_ERR after reporting. */
SVal sema_eval_num(Sema *S, const Expr *e);
bool sema_eval_int(Sema *S, const Expr *e, const char *what, int64_t *out);
/* op(args) checked by ir_infer, the caret on argloc[k] when operand k is to
 * blame; NULL after reporting. */
IrValue *sema_emit(Sema *S, SrcLoc loc, const SrcLoc *argloc, IrOp op, int nargs, IrValue **args,
                   const IrAttrs *at, DType dtype);
/* A number as a constant of dtype dt (a tensor passes through). */
IrValue *sema_materialise(Sema *S, SVal v, DType dt, SrcLoc loc);
IrValue *sema_emit_redistribute(Sema *S, SrcLoc loc, IrValue *x, Placement pl, const char *name,
                                const char *why);
/* Expressions: any value, one value (a multi-result call is an error), one
 * tensor operand (numbers become constants of their default dtype; NULL:
 * failed, reported). */
SVal sema_check_expr(Sema *S, const Expr *e);
SVal sema_single(Sema *S, SVal v, const Expr *e);
IrValue *sema_tensor_arg(Sema *S, const Expr *e);
/* op(es...) for a row of ir/ops_ew.def; pre: es[0]'s value if already checked. */
SVal sema_ew_apply(Sema *S, SrcLoc loc, IrOp op, const Expr *const *es, int n, double f, const SVal *pre);
void sema_check_stmts(Sema *S, Stmt *const *body, int n, bool in_loop, bool *returned);

/* ---- sema_decl.c --------------------------------------------------------------- */
bool sema_resolve_type(Sema *S, const TypeAst *ta, IrType *out);
/* A placement the declared mesh accepts, for examples in messages. */
const char *sema_example_pl(Sema *S);
bool sema_resolve_pl(Sema *S, SrcLoc loc, const char *mesh, int n, Expr *const *entries, const IrType *t,
                     bool auto_ok, Placement *out);
bool sema_resolve_pl_ast(Sema *S, const PlacementAst *pa, const IrType *t, bool auto_ok, Placement *out);
/* One entry R, S(d), P, P(kind) of type t (NULL: S(d) not range-checked). */
bool sema_resolve_pl_entry(Sema *S, const Expr *e, const IrType *t, PlEntry *out);

/* ---- sema_rules.c: `sharding { }` clauses ----------------------------------- */
/* Checks every fn's sharding clause and stores its strategies on the fn's IR
 * (IrFunc.rules); after the bodies are checked. */
void sema_rules_check(Sema *S);
void sema_check_mesh(Sema *S);
/* Does v (shown as `shown`) fit dtype dt without overflow or rounding to zero? Reports if not. */
bool sema_float_fits(Sema *S, SrcLoc loc, double v, const char *shown, DType dt);
bool sema_resolve_init(Sema *S, const ParamAst *pa, const IrType *t, IrInit *out);

/* ---- sema_ops.c ------------------------------------------------------------------ */
/* A built-in call checked against its surface row: parameter k (the row's
 * order) is arg[k], as given or its default (an expression at the call);
 * NULL: absent with no default. */
typedef struct SemaArgs {
    const Expr *call;
    const IrSurface *fn;
    bool ok;                               /* false: a keyword, bool or dtype error was
                                              reported; check the operands, then fail */
    const Expr *arg[IR_SURF_MAX_ARGS];
    bool given[IR_SURF_MAX_ARGS];          /* written by the user */
    int pos[IR_SURF_MAX_ARGS];             /* its position when passed by position, else -1 */
    bool flag[IR_SURF_MAX_ARGS];           /* IR_ARG_BOOL: the value */
    DType dtype[IR_SURF_MAX_ARGS];         /* IR_ARG_DTYPE: the value */
} SemaArgs;
/* Arity, keyword names, a parameter given twice, required parameters,
 * bool and dtype arguments, defaults.  false: reported, the call fails
 * (its operands unchecked). */
bool sema_check_args(Sema *S, const Expr *e, const IrSurface *fn, SemaArgs *a);
bool sema_is_op_builtin(const char *name);
/* The built-in names, k = 0, 1, ... (NULL past the last). */
const char *sema_op_builtin_name(int k);
SVal sema_op_call(Sema *S, const Expr *e);

/* ---- sema_loop.c ----------------------------------------------------------------- */
/* A name's value (a value from outside the innermost loop becomes a body parameter). */
SVal sema_binding_value(Sema *S, Binding *b);
LoopCtx *sema_loop_of_counter(Sema *S, const char *name);
/* w[l]: the stacked slice of w for loop counter l. */
SVal sema_loop_slice(Sema *S, const Expr *e);
int sema_carry_index(const LoopCtx *lp, const char *name);
/* The binding carried name c starts from; NULL: reported as missing. */
Binding *sema_carried_binding(Sema *S, const ParamAst *c);
/* `name = value` of a carried name: value as the carried type ct, or NULL
 * (reported).  Used by loops and by the loops unrolled in local fns. */
IrValue *sema_carried_update(Sema *S, const Stmt *st, SVal v, const IrType *ct);
void sema_check_assign(Sema *S, const Stmt *st);
void sema_check_for(Sema *S, const Stmt *st);

/* ---- sema_shape.c ------------------------------------------------------------ */
/* x[i, a:b, ::s] (E_INDEX on a tensor). */
SVal sema_index(Sema *S, const Expr *e);
/* concat, stack, split, pad, broadcast_to, expand: the IR_SF_SHAPE family. */
SVal sema_shape_call(Sema *S, const SemaArgs *a);

/* ---- sema_route.c ------------------------------------------------------------ */
/* argmax, argmin, one_hot, cumsum, take_along_axis / gather, topk, scatter_add:
 * the IR_SF_ROUTE family. */
SVal sema_route_call(Sema *S, const SemaArgs *a);

/* ---- sema_local.c ------------------------------------------------------------ */
bool sema_local_is_collective(const char *name);
/* all_reduce, all_gather, reduce_scatter, all_to_all, ppermute, axis_index. */
SVal sema_local_call(Sema *S, const Expr *e);
/* The local type of t under pl (what a local fn's body sees); false after
 * reporting an uneven split at `at` (`what`: "parameter 'x'"). */
bool sema_local_type(Sema *S, SrcLoc at, const IrType *t, const Placement *pl, const char *what, IrType *out);
/* A call of local fn f from global code, its operands checked (args). */
SVal sema_local_user_call(Sema *S, const Expr *e, FnInfo *f, IrValue **args);
/* Each result's declared placement against what the body computes. */
void sema_local_check_results(Sema *S, FnInfo *f);
/* Notes that the function being checked is global code only (`what` at loc:
 * a placement, a loop, ...), so a local fn may not call it. */
void sema_local_mark_global(Sema *S, SrcLoc loc, const char *what);
/* After every body: each local fn's calls reach only functions without
 * placements, loops or gradients, and no value_and_grad reaches a local fn. */
void sema_local_check_calls(Sema *S);
/* `for` in a local fn body: unrolled (the trip count is a compile-time constant). */
void sema_local_for(Sema *S, const Stmt *st);
/* name = value inside such a loop (S->unroll set). */
void sema_local_assign(Sema *S, const Stmt *st);
/* Is name carried by the innermost unrolled loop? */
bool sema_local_carried(const Sema *S, const char *name);
/* Records that the function being checked differentiates function fi at loc. */
void sema_local_note_grad(Sema *S, int fi, SrcLoc loc);

#endif
