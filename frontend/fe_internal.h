/* fe_internal.h - what the frontend's files share and nobody else sees.
 *
 * The frontend is scanner (lexer.l) -> parser (parser.y) -> AST (ast.h,
 * built by the constructors in ast.c) -> sema/lowering (sema.c, load.c).
 * fe_parse never fails: it reports every syntax error to the Diag (and goes
 * on after each one, resynchronising at ';', at the next statement keyword,
 * at '{' of a function body or at the next declaration) and returns the
 * declarations it could build.  Callers test diag_nerrors() before trusting
 * the tree; a tree built from erroneous input is well formed (no NULL where
 * ast.h promises a node) but may miss the declarations that were broken.
 * Everything lives in the caller's arena; the scanner and parser are
 * reentrant and keep no state between calls.
 *
 * What the parser leaves to sema: placements are index expressions
 * (`M[S(0), R]` is E_INDEX with an E_CALL and an E_NAME entry); negative
 * numbers are E_UNARY '-' over a literal (`S(-1)`, `axis=-1`); a keyword
 * written where a name belongs is reported and kept as that name.
 * Expression trees are at most FE_MAX_DEPTH deep (deeper ones are reported
 * and replaced by a literal 0), so recursive walks over them are safe,
 * provided they walk a left-leaning chain of binary operators (a + b + c
 * ..., which counts as one level however long) in a loop.
 */
#ifndef DTC_FE_INTERNAL_H
#define DTC_FE_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "frontend/ast.h"
#include "frontend/frontend.h"

/* Parses `text` (NUL-terminated; _bytes: `len` bytes, where a NUL byte is
 * reported as an error at its place) named `file` in diagnostics.  Registers
 * the text with diag_add_source so errors quote their line (so text must
 * live as long as d).  Never NULL. */
Program *fe_parse(Arena *a, Diag *d, const char *file, const char *text);
Program *fe_parse_bytes(Arena *a, Diag *d, const char *file, const char *text, size_t len);

/* dtc's standard library: the files under std/, embedded by the build
 * (CMakeLists.txt writes them into std_files.c); name as imported,
 * "std/optim.dt".  The array ends with a NULL name. */
typedef struct FeStdFile {
    const char *name;
    const char *text;
    size_t len;
} FeStdFile;
extern const FeStdFile fe_std_files[];

/* ---- AST construction (ast.c) ------------------------------------------ */

/* A growable array of pointers in the arena (old storage is abandoned). */
typedef struct FeList {
    int n, cap;
    void **items;
} FeList;

FeList *fe_list_new(Arena *a);
void fe_list_push(Arena *a, FeList *l, void *item);

/* One call argument while parsing: kw == NULL for a positional one. */
typedef struct FeArg {
    const char *kw;
    SrcLoc kw_loc;
    Expr *val;
} FeArg;

Expr *fe_expr_new(Arena *a, ExprKind k, SrcLoc loc);
Expr *fe_expr_int(Arena *a, SrcLoc loc, int64_t v);
Expr *fe_expr_float(Arena *a, SrcLoc loc, double v);
Expr *fe_expr_bool(Arena *a, SrcLoc loc, int v);
Expr *fe_expr_string(Arena *a, SrcLoc loc, const char *s);
Expr *fe_expr_name(Arena *a, SrcLoc loc, const char *name);
Expr *fe_expr_unary(Arena *a, SrcLoc loc, char op, Expr *x);
Expr *fe_expr_binary(Arena *a, SrcLoc loc, char op, Expr *l, Expr *r);
/* The source spelling of an E_BINARY op ("+", "//", "<=", ...). */
const char *fe_binop_str(char op);
/* args: FeArg* items (NULL list: no arguments). */
Expr *fe_expr_call(Arena *a, SrcLoc loc, const char *name, const FeList *args);
/* items: Expr* (NULL list: empty). */
Expr *fe_expr_list(Arena *a, SrcLoc loc, const FeList *items);
Expr *fe_expr_index(Arena *a, SrcLoc loc, Expr *base, const FeList *items);
Expr *fe_expr_slice(Arena *a, SrcLoc loc, Expr *start, Expr *stop, Expr *step);

/* Copies a list of Expr* into an arena array (NULL when empty). */
Expr **fe_exprs(Arena *a, const FeList *l, int *n);

TypeAst *fe_type(Arena *a, SrcLoc loc, const char *dtype, const FeList *dims);
PlacementAst *fe_placement(Arena *a, SrcLoc loc, const char *mesh, const FeList *entries);
RuleAst *fe_rule(Arena *a, SrcLoc loc, const FeList *in, Expr *out, Expr *cost);

/* Readable one-line form of an expression, e.g. "(+ a (@ b c))", "randn(seed=1)". */
const char *fe_expr_str(Arena *a, const Expr *e);
/* The whole tree, one declaration per paragraph (debugging, tests). */
void fe_ast_dump(FILE *out, const Program *p);

/* ---- the inlined size (calls.c) --------------------------------------------- */

/* Reports (and returns false) when the entry function of m, with every call
 * inlined, would have more than `limit` operations. */
bool fe_check_inlined_size(Arena *a, Diag *d, const IrModule *m, int64_t limit);

/* ---- name tables (names.c) ------------------------------------------------ */

/* name -> pointer, in the arena; keys are not copied.  get: NULL if absent;
 * put replaces the value of a name already there. */
typedef struct FeNames FeNames;
FeNames *fe_names_new(Arena *a);
void *fe_names_get(const FeNames *t, const char *name);
void fe_names_put(FeNames *t, const char *name, void *val);

/* ---- scanner <-> parser plumbing (lexer.l, parser.y) ---------------------- */

#define FE_MAX_OPEN 64   /* open brackets remembered for "to match this '('" */
#define FE_MAX_DEPTH 1000 /* deepest expression tree accepted (recursive consumers) */

/* State shared by one parse: the scanner reaches it as yyextra, the parser
 * as its parse-param. */
typedef struct FeParser {
    Arena *a;
    Diag *d;
    const char *file;
    int line, col;              /* scanner position of the next byte */
    /* About the lookahead token, for syntax error messages. */
    char tok_text[40];          /* its spelling (truncated) */
    int tok_depth;              /* '{' nesting before it: 0 = top level */
    SrcLoc prev_end;            /* just after the token before it */
    SrcLoc cur_end;             /* just after it */
    int depth;                  /* current '{' nesting */
    int nopen;                  /* open brackets (may exceed FE_MAX_OPEN) */
    char open_ch[FE_MAX_OPEN];
    SrcLoc open_loc[FE_MAX_OPEN];
    int pending_close;          /* 1 + stack size after the last closer, applied at the next token */
    int tok_quiet;              /* it follows a lexical error closely: no syntax error */
    int lex_quiet;              /* tokens still to come that get tok_quiet */
    int bad_run;                /* a bad character was reported since the last token */
    int at_eof;                 /* the scanner has returned the end of file */
    int eof_brace_reported;     /* "expected '}' at end of file" was said */
    SrcLoc brace_reported;      /* the '{' an "expected '}' before" note showed */
    int synth_line, synth_col;  /* the keyword a '}' was last supplied before */
    int prev_kind, cur_kind;    /* token kinds of the token before the lookahead, and it */
    int last_syntax_line;       /* line of the last syntax error (0: none) */
    FeList *decls;              /* Decl* parsed so far */
} FeParser;

/* ---- semantic analysis and lowering (sema.c) ------------------------------- */

/* Checks a parsed program and lowers it to IR (calls not inlined, entry set,
 * placements only where the user wrote them).  Reports every error to d and
 * returns NULL if there was any. */
IrModule *fe_sema(Arena *a, Diag *d, Program *p, const FeOptions *opt);

#endif
