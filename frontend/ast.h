/* ast.h - the syntax tree of a dt program (internal to frontend/).
 *
 * The parser builds it; sema checks it and lowers it to IR.  The grammar is
 * deliberately loose where sema can be precise: a placement `M[S(0), R]` is
 * parsed as an index expression whose entries are ordinary expressions
 * (`S(0)` a call, `R` a name), and sema interprets them; this keeps S, R and
 * P ordinary identifiers outside placements (spec section 2).
 * All nodes live in the compilation's arena.
 */
#ifndef DTC_AST_H
#define DTC_AST_H

#include "ir/ir.h"

typedef enum ExprKind {
    E_INT,    /* integer literal: ival */
    E_FLOAT,  /* float literal: fval */
    E_BOOL,   /* true / false: ival 1 / 0 */
    E_STRING, /* "..." (unquoted, escapes resolved): str */
    E_NAME,   /* identifier: name */
    E_UNARY,  /* -lhs: op '-' */
    E_BINARY, /* lhs op rhs: op one of + - * / @ % < > and F (//), L (<=), G (>=), E (==), N (!=) */
    E_CALL,   /* name(args..., kw=val...) */
    E_LIST,   /* [args...] (axis lists, perms, sizes) */
    E_INDEX,  /* lhs[args...]: a placement M[...] when sema expects one (name:
                 lhs's name when lhs is a name), else indexing / slicing */
    E_SLICE   /* start:stop[:step] inside [...]: lhs, rhs, step (each NULL: omitted) */
} ExprKind;

typedef struct Expr Expr;
struct Expr {
    ExprKind kind;
    SrcLoc loc;      /* first character of the expression (the operator for E_BINARY) */
    int64_t ival;
    double fval;
    const char *str;
    const char *name;
    char op;
    bool parens;     /* written in parentheses (a comparison may then be compared again) */
    Expr *lhs, *rhs;
    Expr *step;      /* E_SLICE */
    int nargs;       /* positional arguments / list items */
    Expr **args;
    int nkw;         /* keyword arguments of a call */
    const char **kw_names;
    SrcLoc *kw_locs;
    Expr **kw_vals;
};

typedef struct TypeAst {
    SrcLoc loc;
    const char *dtype; /* as written; sema checks it */
    SrcLoc dtype_loc;
    int rank;
    Expr **dims;       /* constant integer expressions */
    const char *shape_var; /* f32[*S]: "S", a whole shape bound at each call
                              (rank 0, no dims); NULL: the dims above */
    SrcLoc shape_var_loc;  /* the '*' */
} TypeAst;

typedef struct PlacementAst {
    SrcLoc loc;        /* the mesh name */
    const char *mesh;
    int n;
    Expr **entries;    /* R, S(d), P, P(kind) as expressions */
} PlacementAst;

typedef struct ParamAst {
    SrcLoc loc;
    const char *name;
    TypeAst *type;         /* required */
    PlacementAst *pl;      /* NULL: none */
    Expr *init;            /* NULL: none; else randn(...), zeros(), load("f") ... */
} ParamAst;

typedef struct ResultAst {
    SrcLoc loc;
    TypeAst *type;
    PlacementAst *pl;      /* NULL: none */
    const char *feeds;     /* `feeds NAME`: the parameter it becomes next step; NULL: none */
    SrcLoc feeds_loc;      /* NAME */
} ResultAst;

/* One strategy of a fn's `sharding { }` clause, per mesh axis. */
typedef struct RuleAst {
    SrcLoc loc;            /* the '(' */
    int nin;
    Expr **in;             /* one entry per parameter: R, S(d), P(kind) */
    Expr *out;             /* the result's entry */
    Expr *cost;            /* `cost N` (microseconds), NULL: none */
} RuleAst;

typedef enum StmtKind {
    S_LET,    /* let n1[, n2...] [: type] [@ pl] = value; */
    S_RETURN, /* return e1[, e2...]; */
    S_FOR,    /* for var in lo..hi carry (c1 [@ pl], ...) { body } */
    S_ASSIGN  /* name = value;  (a carried value, inside a for) */
} StmtKind;

typedef struct Stmt Stmt;
struct Stmt {
    StmtKind kind;
    SrcLoc loc;
    int nnames;            /* S_LET */
    const char **names;
    SrcLoc *name_locs;
    TypeAst *type;         /* S_LET: NULL if none */
    PlacementAst *pl;      /* S_LET: NULL if none */
    Expr *value;           /* S_LET */
    int nvalues;           /* S_RETURN */
    Expr **values;
    const char *var;       /* S_FOR: the loop counter */
    SrcLoc var_loc;
    Expr *lo, *hi;         /* S_FOR: the range lo..hi */
    int ncarry;            /* S_FOR: carried names (ParamAst: name, loc, pl; no type) */
    ParamAst **carry;
    int nbody;             /* S_FOR */
    Stmt **body;
};

typedef enum DeclKind {
    D_CONST, /* const name = value; */
    D_MESH,  /* mesh name[axis=size, ...]; */
    D_FN,    /* fn name(params) -> results { body } */
    D_IMPORT /* import "file";  (value: the E_STRING; name NULL) */
} DeclKind;

typedef struct Decl {
    DeclKind kind;
    SrcLoc loc;             /* the name */
    const char *name;
    Expr *value;            /* D_CONST; D_IMPORT: the path as an E_STRING */
    int naxes;              /* D_MESH */
    const char **axis_names;
    SrcLoc *axis_locs;
    Expr **axis_sizes;
    bool is_local;          /* D_FN: `local fn` (its body sees local shapes) */
    int nparams;            /* D_FN */
    ParamAst **params;
    int nresults;
    ResultAst **results;
    int nstmts;
    Stmt **body;
    bool has_sharding;      /* D_FN: a `sharding { }` clause (sema_rules.c) */
    SrcLoc sharding_loc;
    int nrules;
    RuleAst **rules;
} Decl;

typedef struct Program {
    const char *file;
    int ndecls;
    Decl **decls;      /* with imports resolved (load.c): the imported files' first */
    int nfiles;        /* the files its declarations come from: file first, then */
    const char **files; /* the imported ones in load order (NULL: just file) */
} Program;

#endif
