/* sema.c - semantic analysis of a dt program and its lowering to IR.
 *
 * One walk over the AST both checks and lowers: every expression is checked
 * and, when it is a tensor, emitted as IR instructions at once, so the shape
 * and dtype rules live in one place (ir_infer, ir/infer.c) and sema only adds
 * what the source language knows: names, constants, placements, attributes,
 * initialisers and where to put the caret.
 *
 * Order of work: global names (consts, the mesh, functions; one namespace),
 * the mesh and --mesh overrides, function signatures (types, placements,
 * initialisers; every function's IrFunc exists before any body is lowered so
 * calls can point at their callee), bodies in declaration order, then the
 * call graph (recursion) and the entry function.
 *
 * Values during checking are SVal: a compile-time number (literals and
 * consts fold; a number meets a tensor as an OP_CONST of the tensor's dtype),
 * an IR value, the results of a multi-result call, or SV_ERR.  SV_ERR means
 * "an error was already reported": whatever uses it stays silent, so one
 * mistake gives one message.
 *
 * Decisions where the spec is silent:
 *   - `let` may rebind a name already bound in the function (a parameter or
 *     an earlier let), as in Rust; later uses see the new value.  One
 *     `let a, a = ...` binding the same name twice is an error.
 *   - `let n = 3;` binds a compile-time number (usable in shapes and
 *     attributes); it becomes a const only where it meets a tensor.  A
 *     number with nothing to take a dtype from is i32 (integer) or f32.
 *   - Consts may use consts declared later; a cycle is an error.
 *   - Functions, consts and the mesh share one namespace; built-in and
 *     initialiser names cannot name a function.
 *   - Initialisers are allowed on any function's parameters (--entry may
 *     pick another entry); randn/rand need a float type.
 *   - A function with no declared result needs no return statement.
 *
 * Diagnostics are buffered and handed to the Diag sorted by source position
 * (errors of the signatures, the bodies and the call graph come out in the
 * order they appear in the file), each error followed by its notes.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/sema_internal.h"
#include "ir/ew.h"

/* ---- values ----------------------------------------------------------------- */

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
    int nstack, capstack;
    IrValue **stack_outer, **stack_param;
    int ncap, capcap;
    IrValue **cap_outer, **cap_param;
} LoopCtx;

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
    FeNames *locals;     /* name -> its newest Binding (params, then lets) */
} FnInfo;

typedef struct Msg {
    SrcLoc loc;
    const char *text;
    int group; /* the error it belongs to (notes share their error's group) */
    bool note;
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
    FeNames *locals;     /* the same by name; NULL: no locals visible (a const) */
    FeNames *first_decl; /* name -> the first Decl of that name */
    FeNames *const_of;   /* name -> its ConstInfo */
    FeNames *fn_of;      /* name -> its FnInfo (not a redefinition) */
};

/* Where instructions go: the innermost loop body, else the function. */
static IrFunc *target_fn(Sema *S) { return S->loop ? S->loop->body : S->cur->ir; }

/* ---- diagnostics -------------------------------------------------------------- */
static void vmsg(Sema *S, SrcLoc loc, bool note, const char *fmt, va_list ap)
{
    if (S->nmsgs == S->capmsgs) {
        int cap = S->capmsgs ? 2 * S->capmsgs : 32;
        Msg *n = arena_alloc(S->a, sizeof *n * (size_t)cap);
        if (S->nmsgs)
            memcpy(n, S->msgs, sizeof *n * (size_t)S->nmsgs);
        S->msgs = n;
        S->capmsgs = cap;
    }
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    char *text = arena_alloc(S->a, (size_t)len + 1);
    vsnprintf(text, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    if (!note)
        S->ngroups++;
    S->msgs[S->nmsgs++] = (Msg){loc, text, S->ngroups, note};
}

static void err(Sema *S, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err(Sema *S, SrcLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(S, loc, false, fmt, ap);
    va_end(ap);
}

/* A note attached to the last error. */
static void note(Sema *S, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(Sema *S, SrcLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(S, loc, true, fmt, ap);
    va_end(ap);
}

static int loc_cmp(SrcLoc a, SrcLoc b)
{
    if (a.line != b.line)
        return a.line < b.line ? -1 : 1;
    if (a.col != b.col)
        return a.col < b.col ? -1 : 1;
    return 0;
}

/* An error to sort: its position, then the order it was reported in. */
typedef struct MsgKey {
    SrcLoc loc;
    int first; /* index in msgs */
} MsgKey;

static int key_cmp(const void *x, const void *y)
{
    const MsgKey *a = x, *b = y;
    int c = loc_cmp(a->loc, b->loc);
    return c ? c : (a->first > b->first) - (a->first < b->first);
}

/* Hands the buffered messages to the Diag, errors by position (stable). */
static void flush_msgs(Sema *S)
{
    int ng = S->ngroups;
    MsgKey *keys = arena_alloc(S->a, sizeof *keys * (size_t)(ng + 1));
    for (int k = 0; k < S->nmsgs; k++)
        if (!S->msgs[k].note)
            keys[S->msgs[k].group - 1] = (MsgKey){S->msgs[k].loc, k};
    qsort(keys, (size_t)ng, sizeof *keys, key_cmp);
    for (int g = 0; g < ng; g++) {
        int k = keys[g].first;
        diag_error(S->d, S->msgs[k].loc, "%s", S->msgs[k].text);
        for (k++; k < S->nmsgs && S->msgs[k].note; k++)
            diag_note(S->d, S->msgs[k].loc, "%s", S->msgs[k].text);
    }
    S->nmsgs = 0;
    S->ngroups = 0;
}

static SrcLoc noloc(void)
{
    return (SrcLoc){NULL, 0, 0};
}

static const char *tstr(Sema *S, const IrType *t)
{
    char buf[160];
    return arena_strdup(S->a, ir_type_str(t, buf, sizeof buf));
}

/* ---- "did you mean" -------------------------------------------------------------- */
static int edit_distance(const char *s, const char *t)
{
    size_t n = strlen(s), m = strlen(t);
    if (n > 32 || m > 32)
        return 99;
    int row[33];
    for (size_t j = 0; j <= m; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j];
            int best = diag + (s[i - 1] != t[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

typedef struct Suggest {
    const char *want;
    const char *best;
    int dist;
} Suggest;

static void suggest(Suggest *g, const char *cand)
{
    if (!cand || !strcmp(cand, g->want))
        return;
    int d = edit_distance(g->want, cand);
    int limit = strlen(g->want) <= 3 ? 1 : 2;
    if (d <= limit && d < g->dist) {
        g->dist = d;
        g->best = cand;
    }
}

static const char *suggest_str(Sema *S, const Suggest *g)
{
    return g->best ? arena_printf(S->a, " (did you mean '%s'?)", g->best) : "";
}

/* ---- built-in operations and initialisers ------------------------------------------ */
typedef enum BKind {
    BK_EW,            /* a row of ir/ops_ew.def: op(x), op(a, b), where(c, a, b) */
    BK_GELU,          /* gelu(x, approximate=false) */
    BK_SOURCE,        /* arange(N, dtype=i32), iota(f32[A, B], axis=0) */
    BK_TRI,           /* tril(x, k=0), triu(x, k=0) */
    BK_CAUSAL,        /* causal_mask(T, dtype=f32) */
    BK_POW,           /* pow(x, constant) */
    BK_CAST,          /* cast(x, dtype) */
    BK_REDUCE,        /* op(x, axis=, keepdims=) */
    BK_SOFTMAX,       /* op(x, axis=) */
    BK_NORM,          /* layernorm(x, gamma, beta, eps=), rmsnorm(x, gamma, eps=) */
    BK_TRANSPOSE,     /* transpose(x, [perm]) */
    BK_RESHAPE,       /* reshape(x, [sizes]) */
    BK_LOOKUP,        /* embedding(table, ids), cross_entropy(logits, labels) */
    BK_REDISTRIBUTE   /* redistribute(x, M[...]) */
} BKind;

typedef struct Builtin {
    const char *name;
    BKind kind;
    IrOp op;
    int npos;          /* positional arguments (transpose, reshape: 1 or 2) */
    const char *kws;   /* keyword arguments, space separated */
    const char *usage;
} Builtin;

static const Builtin builtins[] = {
    /* the elementwise functions come from ir/ops_ew.def (find_builtin) */
    {"gelu", BK_GELU, OP_GELU, 1, "approximate", "gelu(x, approximate=false)"},
    {"arange", BK_SOURCE, OP_IOTA, 1, "dtype", "arange(N, dtype=i32)"},
    {"iota", BK_SOURCE, OP_IOTA, 1, "axis", "iota(f32[A, B], axis=0)"},
    {"tril", BK_TRI, OP_WHERE, 1, "k", "tril(x, k=0)"},
    {"triu", BK_TRI, OP_WHERE, 1, "k", "triu(x, k=0)"},
    {"causal_mask", BK_CAUSAL, OP_WHERE, 1, "dtype", "causal_mask(T, dtype=f32)"},
    {"pow", BK_POW, OP_POW, 2, "", "pow(x, exponent)"},
    {"cast", BK_CAST, OP_CAST, 2, "", "cast(x, f64)"},
    {"sum", BK_REDUCE, OP_SUM, 1, "axis keepdims", "sum(x, axis=0, keepdims=false)"},
    {"mean", BK_REDUCE, OP_MEAN, 1, "axis keepdims", "mean(x, axis=0, keepdims=false)"},
    {"max", BK_REDUCE, OP_MAX, 1, "axis keepdims", "max(x, axis=0, keepdims=false)"},
    {"min", BK_REDUCE, OP_MIN, 1, "axis keepdims", "min(x, axis=0, keepdims=false)"},
    {"softmax", BK_SOFTMAX, OP_SOFTMAX, 1, "axis", "softmax(x, axis=-1)"},
    {"log_softmax", BK_SOFTMAX, OP_LOG_SOFTMAX, 1, "axis", "log_softmax(x, axis=-1)"},
    {"layernorm", BK_NORM, OP_LAYERNORM, 3, "eps", "layernorm(x, gamma, beta, eps=1e-5)"},
    {"rmsnorm", BK_NORM, OP_RMSNORM, 2, "eps", "rmsnorm(x, gamma, eps=1e-6)"},
    {"transpose", BK_TRANSPOSE, OP_TRANSPOSE, 2, "perm", "transpose(x, [1, 0])"},
    {"reshape", BK_RESHAPE, OP_RESHAPE, 2, "sizes", "reshape(x, [4, -1])"},
    {"embedding", BK_LOOKUP, OP_EMBEDDING, 2, "", "embedding(table, ids)"},
    {"cross_entropy", BK_LOOKUP, OP_CROSS_ENTROPY, 2, "", "cross_entropy(logits, labels)"},
    {"redistribute", BK_REDISTRIBUTE, OP_REDISTRIBUTE, 2, "", "redistribute(x, M[S(0), R])"},
};
#define NBUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

static const Builtin *find_builtin(Arena *a, const char *name)
{
    for (int k = 0; k < NBUILTINS; k++)
        if (!strcmp(builtins[k].name, name))
            return &builtins[k];
    const IrEwInfo *e = ir_ew_by_surface(name);
    if (!e)
        return NULL;
    Builtin *b = arena_alloc(a, sizeof *b);
    static const char *const operands[] = {"", "(x)", "(a, b)", "(c, a, b)"};
    b->name = e->surface;
    b->kind = BK_EW;
    b->op = e->op;
    b->npos = e->nargs;
    b->kws = "";
    b->usage = arena_printf(a, "%s%s", e->surface, operands[e->nargs]);
    return b;
}

static const char *const init_names[] = {"randn", "rand", "zeros", "ones", "full", "arange", "load"};
#define NINITS ((int)(sizeof init_names / sizeof init_names[0]))

static bool is_init_name(const char *name)
{
    for (int k = 0; k < NINITS; k++)
        if (!strcmp(init_names[k], name))
            return true;
    return false;
}

/* Is `w` one of the space-separated words of `list`? */
static bool word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && !strncmp(p, w, n))
            return true;
        p += k;
        while (*p == ' ')
            p++;
    }
    return false;
}

/* "a, b or c" from a space-separated list. */
static const char *words_str(Sema *S, const char *list)
{
    char buf[256] = "";
    int n = 0, total = 0;
    for (const char *p = list; *p; p++)
        if (*p != ' ' && (p == list || p[-1] == ' '))
            total++;
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k) {
            size_t len = strlen(buf);
            snprintf(buf + len, sizeof buf - len, "%s%.*s", n == 0 ? "" : n == total - 1 ? " or " : ", ",
                     (int)k, p);
            n++;
        }
        p += k;
        while (*p == ' ')
            p++;
    }
    return arena_strdup(S->a, buf);
}

/* Checks a call's keyword names against `allowed`: unknown and repeated
 * keywords are errors.  Returns false if any was reported. */
static bool check_kws(Sema *S, const Expr *call, const char *allowed)
{
    bool ok = true;
    for (int k = 0; k < call->nkw; k++) {
        const char *kw = call->kw_names[k];
        if (!word_in(allowed, kw)) {
            if (*allowed)
                err(S, call->kw_locs[k], "%s: unknown argument '%s' (expected %s)", call->name, kw,
                    words_str(S, allowed));
            else
                err(S, call->kw_locs[k], "%s: unknown argument '%s' (%s takes no keyword arguments)",
                    call->name, kw, call->name);
            ok = false;
            continue;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(call->kw_names[j], kw)) {
                err(S, call->kw_locs[k], "%s: argument '%s' given twice", call->name, kw);
                ok = false;
                break;
            }
    }
    return ok;
}

static const Expr *find_kw(const Expr *call, const char *kw, SrcLoc *loc)
{
    for (int k = 0; k < call->nkw; k++)
        if (!strcmp(call->kw_names[k], kw)) {
            if (loc)
                *loc = call->kw_locs[k];
            return call->kw_vals[k];
        }
    return NULL;
}

/* ---- global names ------------------------------------------------------------- */
/* Names are looked up in hash tables (names.c), so that checking stays
 * linear in the number of declarations and statements. */
static int find_const(Sema *S, const char *name)
{
    ConstInfo *c = fe_names_get(S->const_of, name);
    return c ? (int)(c - S->consts) : -1;
}

static int find_fn(Sema *S, const char *name)
{
    FnInfo *f = fe_names_get(S->fn_of, name);
    return f ? (int)(f - S->fns) : -1;
}

static Binding *find_local(Sema *S, const char *name)
{
    return S->locals ? fe_names_get(S->locals, name) : NULL;
}

static void bind(Sema *S, const char *name, SVal v)
{
    Binding *b = arena_alloc(S->a, sizeof *b);
    b->name = name;
    b->val = v;
    b->depth = S->loop ? S->loop->depth : 0;
    b->next = S->scope;
    b->shadow = fe_names_get(S->locals, name);
    S->scope = b;
    fe_names_put(S->locals, name, b);
}

/* Back to the bindings of `saved` (an older S->scope): what was bound since
 * goes out of scope, and the names it hid are visible again. */
static void restore_scope(Sema *S, Binding *saved)
{
    for (Binding *b = S->scope; b && b != saved; b = b->next)
        fe_names_put(S->locals, b->name, b->shadow);
    S->scope = saved;
}

/* Every name visible at this point, for suggestions. */
static void suggest_values(Sema *S, Suggest *g)
{
    for (Binding *b = S->scope; b; b = b->next)
        suggest(g, b->name);
    for (int k = 0; k < S->nconsts; k++)
        suggest(g, S->consts[k].decl->name);
}

/* ---- compile-time numbers ----------------------------------------------------------- */
static SVal sv_int(int64_t i)
{
    SVal v = sv_err;
    v.k = SV_INT;
    v.i = i;
    return v;
}

static SVal sv_float(double f)
{
    SVal v = sv_err;
    v.k = SV_FLOAT;
    v.f = f;
    return v;
}

static bool is_num(SVal v)
{
    return v.k == SV_INT || v.k == SV_FLOAT;
}

static double num_f(SVal v)
{
    return v.k == SV_INT ? (double)v.i : v.f;
}

/* A float prints with a '.' or an exponent so it never reads as an integer. */
static const char *float_str(Sema *S, double f)
{
    char buf[64];
    for (int digits = 1; digits <= 17; digits++) { /* the fewest digits that read back */
        snprintf(buf, sizeof buf, "%.*g", digits, f);
        if (strtod(buf, NULL) == f || !isfinite(f))
            break;
    }
    if (!strpbrk(buf, ".eEin"))
        strcat(buf, ".0");
    return arena_strdup(S->a, buf);
}

static const char *num_str(Sema *S, SVal v)
{
    return v.k == SV_INT ? arena_printf(S->a, "%lld", (long long)v.i) : float_str(S, v.f);
}

/* x op y on numbers; op is one of + - * /. */
static SVal fold(Sema *S, SrcLoc loc, char op, SVal x, SVal y)
{
    if (x.k == SV_INT && y.k == SV_INT) {
        int64_t r = 0;
        bool over = false;
        switch (op) {
        case '+':
            over = __builtin_add_overflow(x.i, y.i, &r);
            break;
        case '-':
            over = __builtin_sub_overflow(x.i, y.i, &r);
            break;
        case '*':
            over = __builtin_mul_overflow(x.i, y.i, &r);
            break;
        default:
            if (y.i == 0) {
                err(S, loc, "division by zero in a constant expression");
                return sv_err;
            }
            if (x.i == INT64_MIN && y.i == -1) {
                over = true;
                break;
            }
            if (x.i % y.i != 0) {
                err(S, loc, "integer division %lld / %lld is not exact (write %lld.0 / %lld for a float)",
                    (long long)x.i, (long long)y.i, (long long)x.i, (long long)y.i);
                return sv_err;
            }
            r = x.i / y.i;
            break;
        }
        if (over) {
            err(S, loc, "integer overflow in a constant expression");
            return sv_err;
        }
        return sv_int(r);
    }
    double a = num_f(x), b = num_f(y), r;
    switch (op) {
    case '+':
        r = a + b;
        break;
    case '-':
        r = a - b;
        break;
    case '*':
        r = a * b;
        break;
    default:
        if (b == 0) {
            err(S, loc, "division by zero in a constant expression");
            return sv_err;
        }
        r = a / b;
        break;
    }
    if (!isfinite(r)) {
        err(S, loc, "constant expression overflows");
        return sv_err;
    }
    if (r == 0 && (op == '*' || op == '/') && a != 0 && b != 0) {
        err(S, loc, "constant expression underflows to 0");
        return sv_err;
    }
    return sv_float(r);
}

static IrOp binop_of(char op);

/* An elementwise-table op on numbers, with the table's semantics: an
 * integer when every operand is one and the op keeps integers exact, else a
 * float.  Integer // and % by zero are errors here, as / is. */
static SVal ew_fold(Sema *S, SrcLoc loc, IrOp op, const SVal *v, int n, double f)
{
    bool ints = ir_ew_has_int(op);
    for (int k = 0; k < n; k++)
        ints = ints && v[k].k == SV_INT;
    if ((op == OP_FLOORDIV || op == OP_MOD) && n == 2 && num_f(v[1]) == 0.0) {
        err(S, loc, "division by zero in a constant expression");
        return sv_err;
    }
    if (ints) {
        int64_t x[3] = {0, 0, 0};
        for (int k = 0; k < n; k++) {
            x[k] = v[k].i;
            if (x[k] < -(INT64_C(1) << 62) || x[k] > (INT64_C(1) << 62)) {
                err(S, loc, "integer overflow in a constant expression");
                return sv_err;
            }
        }
        return sv_int(ir_ew_eval_i(op, x[0], x[1], x[2]));
    }
    double x[3] = {0, 0, 0};
    for (int k = 0; k < n; k++)
        x[k] = num_f(v[k]);
    double r = ir_ew_eval(op, x[0], x[1], x[2], f);
    if (!isfinite(r)) {
        err(S, loc, "%s of a constant is %s", ir_op_name(op), isnan(r) ? "not a number" : "infinite");
        return sv_err;
    }
    return sv_float(r);
}

static SVal const_value(Sema *S, int idx, SrcLoc use);

/* The operators of a left-leaning chain `a op b op c ...` (a flat sum of
 * 5,000 terms is one), innermost first, and its leftmost operand: the
 * walks below go along it in a loop, so only real nesting (parentheses,
 * calls, right operands) recurses, and the parser limits that. */
static const Expr **left_spine(Sema *S, const Expr *e, int *n, const Expr **leaf)
{
    int k = 0;
    const Expr *x = e;
    for (; x->kind == E_BINARY; x = x->lhs)
        k++;
    const Expr **spine = arena_alloc(S->a, sizeof *spine * (size_t)(k ? k : 1));
    *n = k;
    *leaf = x;
    for (x = e; x->kind == E_BINARY; x = x->lhs)
        spine[--k] = x;
    return spine;
}

/* A number known at compile time: literals, consts, local lets bound to
 * numbers, and + - * / of those.  Reports and returns SV_ERR otherwise. */
static SVal eval_num(Sema *S, const Expr *e)
{
    switch (e->kind) {
    case E_INT:
        return sv_int(e->ival);
    case E_FLOAT:
        return sv_float(e->fval);
    case E_NAME: {
        Binding *b = find_local(S, e->name);
        if (b) {
            if (b->val.k == SV_ERR || is_num(b->val))
                return b->val;
            err(S, e->loc, "'%s' is a tensor, not a constant", e->name);
            return sv_err;
        }
        int c = find_const(S, e->name);
        if (c >= 0)
            return const_value(S, c, e->loc);
        if (find_fn(S, e->name) >= 0) {
            err(S, e->loc, "'%s' is a function, not a constant", e->name);
            return sv_err;
        }
        Suggest g = {e->name, NULL, 99};
        suggest_values(S, &g);
        err(S, e->loc, "unknown name '%s'%s", e->name, suggest_str(S, &g));
        return sv_err;
    }
    case E_UNARY: {
        SVal x = eval_num(S, e->lhs);
        if (x.k == SV_INT) {
            if (x.i == INT64_MIN) {
                err(S, e->loc, "integer overflow in a constant expression");
                return sv_err;
            }
            return sv_int(-x.i);
        }
        if (x.k == SV_FLOAT)
            return sv_float(-x.f);
        return sv_err;
    }
    case E_BINARY: {
        int n;
        const Expr *leaf;
        const Expr **spine = left_spine(S, e, &n, &leaf);
        SVal x = eval_num(S, leaf);
        for (int k = 0; k < n; k++) {
            const Expr *op = spine[k];
            SVal y = eval_num(S, op->rhs);
            if (x.k == SV_ERR || y.k == SV_ERR) {
                x = sv_err;
            } else if (op->op == '@') {
                err(S, op->loc, "'@' (matmul) needs tensor operands, not constants");
                x = sv_err;
            } else if (!strchr("+-*/", op->op)) {
                SVal v[2] = {x, y};
                x = ew_fold(S, op->loc, binop_of(op->op), v, 2, 0.0);
            } else {
                x = fold(S, op->loc, op->op, x, y);
            }
        }
        return x;
    }
    case E_BOOL:
        err(S, e->loc, "expected a number, got %s", e->ival ? "true" : "false");
        return sv_err;
    case E_STRING:
        err(S, e->loc, "expected a number, got a string");
        return sv_err;
    case E_LIST:
        err(S, e->loc, "expected a number, got a list");
        return sv_err;
    case E_CALL: {
        /* the elementwise functions (sqrt, exp, sin, floor, ...) on numbers */
        const IrEwInfo *ew = ir_ew_by_surface(e->name);
        if (!ew && strcmp(e->name, "gelu") != 0) {
            err(S, e->loc, "expected a constant number, got a call to '%s'", e->name);
            return sv_err;
        }
        int want = ew ? ew->nargs : 1;
        if (e->nargs != want || e->nkw > 0) {
            err(S, e->loc, "%s takes %d argument%s in a constant expression, got %d", e->name, want,
                want == 1 ? "" : "s", e->nargs + e->nkw);
            return sv_err;
        }
        SVal v[3];
        for (int k = 0; k < want; k++)
            if ((v[k] = eval_num(S, e->args[k])).k == SV_ERR)
                return sv_err;
        return ew_fold(S, e->loc, ew ? ew->op : OP_GELU, v, want, 0.0);
    }
    case E_INDEX:
        err(S, e->loc, "expected a constant number, got '%s'", fe_expr_str(S->a, e));
        return sv_err;
    case E_SLICE:
        err(S, e->loc, "a slice a:b can only be a subscript, as in x[a:b]");
        return sv_err;
    }
    return sv_err;
}

/* Evaluates const c (state 1: being evaluated). */
static SVal eval_const(Sema *S, ConstInfo *c)
{
    Binding *saved = S->scope;
    FeNames *saved_locals = S->locals;
    S->scope = NULL; /* a const sees only globals */
    S->locals = NULL;
    SVal v = eval_num(S, c->decl->value);
    S->scope = saved;
    S->locals = saved_locals;
    if (c->state == 1) /* not already failed by a cycle through it */
        c->val = v;
    c->state = 2;
    return c->val;
}

/* A const's value, evaluated on first use (consts may use later consts). */
static SVal const_value(Sema *S, int idx, SrcLoc use)
{
    ConstInfo *c = &S->consts[idx];
    if (c->state == 2)
        return c->val;
    if (c->state == 1) {
        err(S, use, "constant '%s' is defined in terms of itself", c->decl->name);
        c->val = sv_err;
        return sv_err;
    }
    c->state = 1;
    return eval_const(S, c);
}

/* A growable stack of pointers in the arena. */
typedef struct PtrStack {
    int n, cap;
    void **items;
} PtrStack;

static void ptr_push(Arena *a, PtrStack *st, void *x)
{
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 64;
        void **items = arena_alloc(a, sizeof *items * (size_t)cap);
        if (st->n)
            memcpy(items, st->items, sizeof *items * (size_t)st->n);
        st->items = items;
        st->cap = cap;
    }
    st->items[st->n++] = x;
}

/* Pushes the not yet evaluated consts that e names. */
static void push_const_deps(Sema *S, const Expr *root, PtrStack *todo, PtrStack *work)
{
    work->n = 0;
    ptr_push(S->a, work, (void *)root);
    while (work->n > 0) {
        const Expr *e = work->items[--work->n];
        if (!e)
            continue;
        if (e->kind == E_NAME) {
            int c = find_const(S, e->name);
            if (c >= 0 && S->consts[c].state == 0)
                ptr_push(S->a, todo, &S->consts[c]);
        }
        ptr_push(S->a, work, e->lhs);
        ptr_push(S->a, work, e->rhs);
        for (int k = 0; k < e->nargs; k++)
            ptr_push(S->a, work, e->args[k]);
        for (int k = 0; k < e->nkw; k++)
            ptr_push(S->a, work, e->kw_vals[k]);
    }
}

/* Every const, each after the consts it names (an explicit depth-first
 * walk, so a chain of 100,000 consts each naming the next does not nest
 * 100,000 calls deep); a cycle is reported where its last const names the
 * first. */
static void eval_consts(Sema *S)
{
    PtrStack todo = {0}, work = {0};
    bool *expanded = arena_alloc(S->a, sizeof *expanded * (size_t)(S->nconsts + 1));
    for (int k = S->nconsts - 1; k >= 0; k--)
        ptr_push(S->a, &todo, &S->consts[k]);
    while (todo.n > 0) {
        ConstInfo *c = todo.items[todo.n - 1];
        bool *done_deps = &expanded[c - S->consts];
        if (c->state == 0) {
            c->state = 1;
            *done_deps = true;
            push_const_deps(S, c->decl->value, &todo, &work);
        } else {
            todo.n--;
            if (c->state == 1 && *done_deps)
                eval_const(S, c);
        }
    }
}

/* A compile-time integer; `what` names it in messages. */
static bool eval_int(Sema *S, const Expr *e, const char *what, int64_t *out)
{
    SVal v = eval_num(S, e);
    if (v.k == SV_ERR)
        return false;
    if (v.k != SV_INT) {
        err(S, e->loc, "%s must be an integer, got %s", what, num_str(S, v));
        return false;
    }
    *out = v.i;
    return true;
}

/* ---- types ---------------------------------------------------------------------- */
static bool resolve_type(Sema *S, const TypeAst *ta, IrType *out)
{
    bool ok = true;
    memset(out, 0, sizeof *out);
    if (!ta->dtype || !ir_dtype_parse(ta->dtype, &out->dtype)) {
        err(S, ta->dtype_loc.line ? ta->dtype_loc : ta->loc,
            "unknown dtype '%s' (expected f32, f64, i32, f16 or bf16)", ta->dtype ? ta->dtype : "");
        ok = false;
    }
    if (ta->rank > IR_MAX_RANK) {
        err(S, ta->loc, "a tensor has at most %d dimensions, this type has %d", IR_MAX_RANK, ta->rank);
        return false;
    }
    out->rank = ta->rank;
    int64_t numel = 1;
    for (int k = 0; k < ta->rank; k++) {
        int64_t d;
        if (!eval_int(S, ta->dims[k], "a dimension", &d)) {
            ok = false;
            continue;
        }
        if (d <= 0) {
            err(S, ta->dims[k]->loc, "a dimension must be positive, got %lld", (long long)d);
            ok = false;
            continue;
        }
        out->dims[k] = d;
        if (ok && (__builtin_mul_overflow(numel, d, &numel) || numel > ((int64_t)1 << 48))) {
            err(S, ta->dims[k]->loc, "tensor type has too many elements");
            ok = false;
        }
    }
    return ok;
}

/* ---- placements ------------------------------------------------------------------- */
static const char *axes_str(Sema *S)
{
    const IrMesh *m = &S->m->mesh;
    char buf[256] = "";
    for (int k = 0; k < m->naxes; k++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s", k ? ", " : "", m->axis_name[k]);
    }
    return arena_strdup(S->a, buf);
}

/* An example placement for messages: all R. */
static const char *example_pl(Sema *S)
{
    const IrMesh *m = &S->m->mesh;
    char buf[128];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s[", m->name);
    for (int k = 0; k < m->naxes && len < sizeof buf; k++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%sR", k ? ", " : "");
    if (len < sizeof buf)
        snprintf(buf + len, sizeof buf - len, "]");
    return arena_strdup(S->a, buf);
}

/* One entry of a placement: R, S(d), P, P(kind).  t: the tensor's type, or
 * NULL when it failed to resolve (then S(d) is not range-checked: the type
 * error was reported already). */
static bool resolve_entry(Sema *S, const Expr *e, const IrType *t, PlEntry *out)
{
    memset(out, 0, sizeof *out);
    const char *nm = e->kind == E_NAME || e->kind == E_CALL ? e->name : NULL;
    if (e->kind == E_NAME && !strcmp(nm, "R")) {
        out->kind = PL_R;
        return true;
    }
    if (e->kind == E_NAME && !strcmp(nm, "P")) {
        out->kind = PL_P;
        out->red = RED_SUM;
        return true;
    }
    if (e->kind == E_NAME && !strcmp(nm, "S")) {
        err(S, e->loc, "S needs the tensor dim it splits, as in S(0)");
        return false;
    }
    if (e->kind == E_CALL && !strcmp(nm, "R")) {
        err(S, e->loc, "R takes no arguments");
        return false;
    }
    if (e->kind == E_CALL && (!strcmp(nm, "S") || !strcmp(nm, "P"))) {
        if (e->nkw > 0) {
            err(S, e->kw_locs[0], "%s takes no keyword arguments", nm);
            return false;
        }
        if (e->nargs != 1) {
            err(S, e->nargs > 1 ? e->args[1]->loc : e->loc, "%s takes one argument, as in %s",
                nm, nm[0] == 'S' ? "S(0)" : "P(sum)");
            return false;
        }
        const Expr *a = e->args[0];
        if (nm[0] == 'P') {
            static const char *const kinds[] = {"sum", "max", "min", "avg"};
            if (a->kind == E_NAME)
                for (int k = 0; k < 4; k++)
                    if (!strcmp(a->name, kinds[k])) {
                        out->kind = PL_P;
                        out->red = (RedOp)k;
                        return true;
                    }
            if (a->kind == E_NAME)
                err(S, a->loc, "unknown partial kind '%s' (expected sum, max, min or avg)", a->name);
            else
                err(S, a->loc, "a partial kind is one of sum, max, min or avg");
            return false;
        }
        int64_t d;
        if (!eval_int(S, a, "the dim of S(dim)", &d))
            return false;
        out->kind = PL_S;
        if (!t) {
            out->dim = 0;
            return true;
        }
        if (t->rank == 0) {
            err(S, a->loc, "S(%lld): a scalar %s has no dim to split", (long long)d, tstr(S, t));
            return false;
        }
        if (d < -t->rank || d >= t->rank) {
            err(S, a->loc, "S(%lld): dim out of range for %s (expected %d..%d)", (long long)d,
                tstr(S, t), -t->rank, t->rank - 1);
            return false;
        }
        out->dim = (int)(d < 0 ? d + t->rank : d);
        return true;
    }
    err(S, e->loc, "a placement entry is R, S(dim), P or P(sum|max|min|avg), got '%s'",
        fe_expr_str(S->a, e));
    return false;
}

/* mesh[entries] for a tensor of type t (NULL: unknown). */
static bool resolve_pl(Sema *S, SrcLoc loc, const char *mesh, int n, Expr *const *entries,
                       const IrType *t, bool auto_ok, Placement *out)
{
    memset(out, 0, sizeof *out);
    if (!S->mesh) {
        err(S, loc, "unknown mesh '%s': the program declares no mesh", mesh);
        return false;
    }
    if (!S->mesh_ok)
        return false; /* reported at the mesh */
    const IrMesh *m = &S->m->mesh;
    if (strcmp(mesh, m->name)) {
        err(S, loc, "unknown mesh '%s' (the mesh is '%s')", mesh, m->name);
        return false;
    }
    /* M[auto]: the compiler chooses the whole placement (an entry parameter:
     * propagate's search, issue 9); the value is not pinned */
    for (int k = 0; k < n; k++)
        if (entries[k]->kind == E_NAME && !strcmp(entries[k]->name, "auto")) {
            if (!auto_ok) {
                err(S, entries[k]->loc, "auto: only a parameter's placement can be left to the compiler");
                return false;
            }
            if (n == 1)
                return true;
            err(S, entries[k]->loc, "auto stands for the whole placement: write %s[auto]", m->name);
            return false;
        }
    bool ok = true;
    if (n != m->naxes) {
        err(S, n > m->naxes ? entries[m->naxes]->loc : loc,
            "placement has %d entr%s but mesh '%s' has %d ax%s (%s): one entry per axis",
            n, n == 1 ? "y" : "ies", m->name, m->naxes, m->naxes == 1 ? "is" : "es", axes_str(S));
        ok = false;
    }
    out->naxes = m->naxes;
    for (int k = 0; k < n && k < m->naxes; k++)
        if (!resolve_entry(S, entries[k], t, &out->e[k]))
            ok = false;
    return ok;
}

static bool resolve_pl_ast(Sema *S, const PlacementAst *pa, const IrType *t, bool auto_ok, Placement *out)
{
    return resolve_pl(S, pa->loc, pa->mesh ? pa->mesh : "", pa->n, pa->entries, t, auto_ok, out);
}

/* ---- the mesh ---------------------------------------------------------------------- */
static void check_mesh(Sema *S)
{
    Decl *md = S->mesh;
    IrMesh *m = &S->m->mesh;
    bool ok = true;
    if (!md)
        goto overrides;
    m->name = arena_strdup(S->a, md->name);
    if (md->naxes == 0)
        ok = false; /* the parser reported it */
    if (md->naxes > IR_MAX_AXES) {
        err(S, md->loc, "mesh '%s' has %d axes; at most %d are supported", md->name, md->naxes,
            IR_MAX_AXES);
        ok = false;
    }
    int64_t nranks = 1;
    for (int k = 0; k < md->naxes && k < IR_MAX_AXES; k++) {
        for (int j = 0; j < k; j++)
            if (!strcmp(md->axis_names[j], md->axis_names[k])) {
                err(S, md->axis_locs[k], "mesh axis '%s' is declared twice", md->axis_names[k]);
                note(S, md->axis_locs[j], "first declared here");
                ok = false;
                break;
            }
        int64_t size;
        if (!eval_int(S, md->axis_sizes[k], "a mesh axis size", &size)) {
            ok = false;
            continue;
        }
        if (size <= 0) {
            err(S, md->axis_sizes[k]->loc, "mesh axis '%s' must have a positive size, got %lld",
                md->axis_names[k], (long long)size);
            ok = false;
            continue;
        }
        if (size > 65536 || (nranks *= size) > 65536) {
            err(S, md->axis_sizes[k]->loc, "mesh '%s' is too large (more than 65536 ranks)", md->name);
            ok = false;
            continue;
        }
        m->axis_name[k] = arena_strdup(S->a, md->axis_names[k]);
        m->size[k] = (int)size;
    }
    if (ok)
        m->naxes = md->naxes;

overrides:
    if (!S->opt || !S->opt->mesh_axis || !S->opt->mesh_size)
        goto done;
    for (int k = 0; k < S->opt->nmesh_override; k++) {
        const char *ax = S->opt->mesh_axis[k] ? S->opt->mesh_axis[k] : "";
        int size = S->opt->mesh_size[k];
        if (!md) {
            err(S, noloc(), "--mesh %s=%d: the program declares no mesh", ax, size);
            continue;
        }
        if (!ok)
            continue;
        int i = 0;
        while (i < m->naxes && strcmp(m->axis_name[i], ax))
            i++;
        if (i == m->naxes) {
            err(S, noloc(), "--mesh: unknown axis '%s' (mesh %s has axes %s)", ax, m->name, axes_str(S));
            continue;
        }
        if (size <= 0) {
            err(S, noloc(), "--mesh: axis '%s' must have a positive size, got %d", ax, size);
            continue;
        }
        m->size[i] = size;
    }
    if (ok && ir_mesh_nranks(m) > 65536) {
        err(S, noloc(), "--mesh: mesh '%s' is too large (more than 65536 ranks)", m->name);
        ok = false;
    }
done:
    S->mesh_ok = md && ok;
    if (!S->mesh_ok)
        m->naxes = 0;
}

/* ---- numbers as values of a dtype ----------------------------------------------------- */

/* A nonzero number that rounds to 0 in float dtype dt (round to nearest;
 * half the smallest subnormal rounds to 0). */
static bool rounds_to_zero(double v, DType dt)
{
    double a = fabs(v);
    switch (dt) {
    case DT_F32:
        return a != 0 && (float)a == 0.0f;
    case DT_BF16:
        return a != 0 && a <= 0x1p-134;
    case DT_F16:
        return a != 0 && a <= 0x1p-25;
    default:
        return false;
    }
}

/* Number v as a value of float dtype dt: an error when it is too large
 * (it would be inf) or nonzero but so small that it would be 0.  One that
 * becomes a subnormal of dt is kept, as NumPy keeps np.float32(1e-40). */
static bool float_fits(Sema *S, SrcLoc loc, double v, const char *shown, DType dt)
{
    if (!shown)
        shown = float_str(S, v);
    double lim = dt == DT_F16 ? 65504.0 : dt == DT_F32 || dt == DT_BF16 ? (double)FLT_MAX : DBL_MAX;
    if (fabs(v) > lim) {
        err(S, loc, "the constant %s does not fit in %s", shown, ir_dtype_name(dt));
        return false;
    }
    if (rounds_to_zero(v, dt)) {
        const char *tiny = dt == DT_F16 ? "6e-08" : dt == DT_BF16 ? "9.2e-41" : "1.4e-45";
        err(S, loc, "the constant %s is too small for %s: it would be 0 (the smallest nonzero %s "
            "is about %s)", shown, ir_dtype_name(dt), ir_dtype_name(dt), tiny);
        return false;
    }
    return true;
}

/* ---- initialisers ------------------------------------------------------------------- */
/* A keyword number of an initialiser call (dflt when not given); with
 * dt_known it must be a value of float dtype dt. */
static bool init_number(Sema *S, const Expr *call, const char *kw, double dflt, double *out,
                        bool *given, bool dt_known, DType dt)
{
    SrcLoc at;
    const Expr *e = find_kw(call, kw, &at);
    *out = dflt;
    if (given)
        *given = e != NULL;
    if (!e)
        return true;
    SVal v = eval_num(S, e);
    if (v.k == SV_ERR)
        return false;
    *out = num_f(v);
    return !dt_known || float_fits(S, e->loc, *out, NULL, dt);
}

/* x: t = INIT.  t is NULL when the type failed (then only the form is checked). */
static bool resolve_init(Sema *S, const ParamAst *pa, const IrType *t, IrInit *out)
{
    const Expr *e = pa->init;
    memset(out, 0, sizeof *out);
    if (e->kind != E_CALL || !is_init_name(e->name)) {
        err(S, e->loc, "the default of parameter '%s' must be an initialiser: randn(seed=K), "
            "rand(seed=K), zeros(), ones(), full(F), arange() or load(\"file.npy\")", pa->name);
        return false;
    }
    const char *nm = e->name;
    bool ok = true;
    int npos = !strcmp(nm, "full") || !strcmp(nm, "load") ? 1 : 0;
    const char *kws = !strcmp(nm, "randn") ? "seed std mean" : !strcmp(nm, "rand") ? "seed lo hi" : "";
    if (e->nargs != npos) {
        if (npos == 0)
            err(S, e->args[0]->loc, "%s takes no positional arguments%s", nm,
                *kws ? " (use seed=K)" : "");
        else
            err(S, e->nargs > npos ? e->args[npos]->loc : e->loc, "%s takes one argument, as in %s",
                nm, nm[0] == 'f' ? "full(0.5)" : "load(\"w.npy\")");
        ok = false;
    }
    if (!check_kws(S, e, kws))
        ok = false;
    if (!ok)
        return false;
    bool is_float = !t || ir_dtype_is_float(t->dtype);
    bool dt_known = t && is_float; /* then values must fit it */
    DType dt = t ? t->dtype : DT_F32;
    if (!strcmp(nm, "randn") || !strcmp(nm, "rand")) {
        out->kind = nm[4] == 'n' ? INIT_RANDN : INIT_RAND;
        SrcLoc seed_at;
        const Expr *se = find_kw(e, "seed", &seed_at);
        if (!se) {
            err(S, e->loc, "%s needs a seed, as in %s(seed=1)", nm, nm);
            ok = false;
        } else {
            int64_t seed;
            if (!eval_int(S, se, "the seed", &seed))
                ok = false;
            else if (seed < 0) {
                err(S, se->loc, "the seed must not be negative, got %lld", (long long)seed);
                ok = false;
            } else
                out->seed = (uint64_t)seed;
        }
        if (out->kind == INIT_RANDN) {
            bool g;
            if (!init_number(S, e, "std", 1.0, &out->a, &g, dt_known, dt))
                ok = false;
            else if (out->a < 0) {
                err(S, find_kw(e, "std", NULL)->loc, "randn: std must not be negative, got %s",
                    float_str(S, out->a));
                ok = false;
            }
            if (!init_number(S, e, "mean", 0.0, &out->b, NULL, dt_known, dt))
                ok = false;
        } else {
            bool glo, ghi;
            bool a_ok = init_number(S, e, "lo", 0.0, &out->a, &glo, dt_known, dt);
            bool b_ok = init_number(S, e, "hi", 1.0, &out->b, &ghi, dt_known, dt);
            if (!a_ok || !b_ok)
                ok = false;
            else if (out->a > out->b) {
                err(S, ghi ? find_kw(e, "hi", NULL)->loc : find_kw(e, "lo", NULL)->loc,
                    "rand: lo (%s) must not exceed hi (%s)", float_str(S, out->a), float_str(S, out->b));
                ok = false;
            }
        }
        if (!is_float) {
            err(S, e->loc, "%s needs a floating-point parameter; '%s' is %s (use arange(), zeros(), "
                "full(K) or load(...) for i32)", nm, pa->name, tstr(S, t));
            ok = false;
        }
        return ok;
    }
    if (!strcmp(nm, "zeros")) {
        out->kind = INIT_ZEROS;
        return true;
    }
    if (!strcmp(nm, "ones")) {
        out->kind = INIT_ONES;
        out->a = 1;
        return true;
    }
    if (!strcmp(nm, "arange")) {
        out->kind = INIT_ARANGE;
        if (t && t->dtype == DT_I32 && ir_type_numel(t) > INT32_MAX) {
            err(S, e->loc, "arange: %s has more elements than an i32 can count", tstr(S, t));
            return false;
        }
        return true;
    }
    if (!strcmp(nm, "full")) {
        out->kind = INIT_FULL;
        SVal v = eval_num(S, e->args[0]);
        if (v.k == SV_ERR)
            return false;
        out->a = num_f(v);
        if (!is_float && (v.k != SV_INT || v.i < INT32_MIN || v.i > INT32_MAX)) {
            err(S, e->args[0]->loc, "full: '%s' is %s, so the value must be an i32 integer, got %s",
                pa->name, tstr(S, t), num_str(S, v));
            return false;
        }
        return !dt_known || float_fits(S, e->args[0]->loc, out->a, num_str(S, v), dt);
    }
    /* load */
    out->kind = INIT_LOAD;
    const Expr *pe = e->args[0];
    if (pe->kind != E_STRING) {
        err(S, pe->loc, "load takes a file name in double quotes, as in load(\"w.npy\")");
        return false;
    }
    if (!pe->str || !*pe->str) {
        err(S, pe->loc, "load: the file name is empty");
        return false;
    }
    out->path = arena_strdup(S->a, pe->str);
    return true;
}

/* ---- emitting IR ------------------------------------------------------------------ */
/* Which operand an ir_infer message is about, for the caret (-1: the whole
 * expression). */
static int culprit(IrOp op, const char *msg)
{
    switch (op) {
    case OP_EMBEDDING:
        return strstr(msg, "ids must") ? 1 : 0;
    case OP_CROSS_ENTROPY:
        return strstr(msg, "labels must") ? 1 : 0;
    case OP_LAYERNORM:
    case OP_RMSNORM:
        return strstr(msg, "beta must") ? 2 : strstr(msg, "gamma must") ? 1 : 0;
    default:
        return ir_op_nargs(op) == 1 ? 0 : -1;
    }
}

/* Emits op(args) at loc after checking it with ir_infer; `argloc` gives each
 * operand's position (for the caret); `dtype` is the const/cast target.
 * NULL after reporting a rule violation. */
static IrValue *emit(Sema *S, SrcLoc loc, const SrcLoc *argloc, IrOp op, int nargs, IrValue **args,
                     const IrAttrs *at, DType dtype)
{
    IrType *ts = arena_alloc(S->a, sizeof *ts * (size_t)(nargs > 0 ? nargs : 1));
    for (int k = 0; k < nargs; k++)
        ts[k] = args[k]->type;
    IrType out;
    memset(&out, 0, sizeof out);
    out.dtype = dtype;
    const char *msg = ir_infer(S->a, op, nargs, ts, at, &out);
    if (msg) {
        int c = argloc ? culprit(op, msg) : -1;
        err(S, c >= 0 && c < nargs ? argloc[c] : loc, "%s", msg);
        return NULL;
    }
    IrInst *i = ir_inst_new(S->m, target_fn(S), NULL, op, nargs, args, 1, &out);
    if (at)
        i->a = *at;
    i->loc = loc;
    return i->res[0];
}

/* A number as an OP_CONST scalar of dtype dt. */
static IrValue *materialise(Sema *S, SVal v, DType dt, SrcLoc loc)
{
    if (dt == DT_I32) {
        if (v.k != SV_INT) {
            err(S, loc, "the float constant %s is used with an i32 operand", num_str(S, v));
            return NULL;
        }
        if (v.i < INT32_MIN || v.i > INT32_MAX) {
            err(S, loc, "the constant %lld does not fit in i32", (long long)v.i);
            return NULL;
        }
    } else if (!float_fits(S, loc, num_f(v), num_str(S, v), dt)) {
        return NULL;
    }
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.f = num_f(v);
    return emit(S, loc, NULL, OP_CONST, 0, NULL, &at, dt);
}

/* The dtype a number takes when nothing else decides it. */
static DType default_dtype(SVal v)
{
    return v.k == SV_INT ? DT_I32 : DT_F32;
}

static IrValue *emit_redistribute(Sema *S, SrcLoc loc, IrValue *x, Placement pl, const char *name,
                                  const char *why)
{
    IrInst *i = ir_inst_new(S->m, target_fn(S), NULL, OP_REDISTRIBUTE, 1, &x, 1, &x->type);
    i->loc = loc;
    i->why = why;
    i->res[0]->pl = pl;
    i->res[0]->pinned = true;
    i->res[0]->name = name;
    return i->res[0];
}

/* ---- expressions --------------------------------------------------------------------- */
static SVal check_expr(Sema *S, const Expr *e);

/* One value: a multi-result call is an error here. */
static SVal single(Sema *S, SVal v, const Expr *e)
{
    if (v.k != SV_MULTI)
        return v;
    if (v.n == 0) {
        err(S, e->loc, "'%s' declares no result, so it has no value", v.callee);
        return sv_err;
    }
    err(S, e->loc, "'%s' returns %d results; bind them with let, as in `let a, b = %s(...);`",
        v.callee, v.n, v.callee);
    return sv_err;
}

/* A tensor operand: numbers become constants of dtype dt (or their default
 * dtype when dt < 0).  NULL: failed (reported). */
static IrValue *tensor_of(Sema *S, SVal v, const Expr *e, int dt)
{
    if (v.k == SV_TENSOR)
        return v.v;
    if (is_num(v))
        return materialise(S, v, dt >= 0 ? (DType)dt : default_dtype(v), e->loc);
    return NULL;
}

static IrValue *tensor_arg(Sema *S, const Expr *e)
{
    SVal v = single(S, check_expr(S, e), e);
    return tensor_of(S, v, e, -1);
}

/* The IR op of a binary operator (ast.h spells the two-character ones as
 * one char: 'F' //, 'L' <=, 'G' >=, 'E' ==, 'N' !=). */
static IrOp binop_of(char op)
{
    switch (op) {
    case '+': return OP_ADD;
    case '-': return OP_SUB;
    case '*': return OP_MUL;
    case '/': return OP_DIV;
    case '%': return OP_MOD;
    case 'F': return OP_FLOORDIV;
    case '<': return OP_LT;
    case 'L': return OP_LE;
    case '>': return OP_GT;
    case 'G': return OP_GE;
    case 'E': return OP_EQ;
    case 'N': return OP_NE;
    default: return OP_MATMUL;
    }
}

static SVal ew_apply(Sema *S, SrcLoc loc, IrOp op, const Expr *const *es, int n, double f,
                     const SVal *pre);

/* l op r for the operators and maximum/minimum, l (of le) already checked. */
static SVal binary_with(Sema *S, SrcLoc loc, IrOp op, SVal l, const Expr *le, const Expr *re)
{
    if (op != OP_ADD && op != OP_SUB && op != OP_MUL && op != OP_DIV && op != OP_MATMUL) {
        const Expr *es[2] = {le, re};
        return ew_apply(S, loc, op, es, 2, 0.0, &l);
    }
    SVal r = single(S, check_expr(S, re), re);
    if (l.k == SV_ERR || r.k == SV_ERR)
        return sv_err;
    if (op == OP_MATMUL && (is_num(l) || is_num(r))) {
        err(S, is_num(l) ? le->loc : re->loc, "'@' (matmul) needs tensor operands, not a number");
        return sv_err;
    }
    if (is_num(l) && is_num(r)) {
        if (op == OP_MAXIMUM || op == OP_MINIMUM) {
            bool pick_l = op == OP_MAXIMUM ? num_f(l) >= num_f(r) : num_f(l) <= num_f(r);
            SVal v = pick_l ? l : r;
            if (l.k == SV_FLOAT || r.k == SV_FLOAT)
                return sv_float(num_f(v));
            return v;
        }
        char c = op == OP_ADD ? '+' : op == OP_SUB ? '-' : op == OP_MUL ? '*' : '/';
        return fold(S, loc, c, l, r);
    }
    /* a number takes the other operand's dtype */
    IrValue *a = tensor_of(S, l, le, is_num(l) ? (int)r.v->type.dtype : -1);
    IrValue *b = tensor_of(S, r, re, is_num(r) ? (int)l.v->type.dtype : -1);
    if (!a || !b)
        return sv_err;
    IrValue *args[2] = {a, b};
    SrcLoc locs[2] = {le->loc, re->loc};
    return sv_tensor(emit(S, loc, locs, op, 2, args, NULL, DT_F32));
}

/* a op b op c ...: along the chain in a loop (see left_spine). */
static SVal binary_chain(Sema *S, const Expr *e)
{
    int n;
    const Expr *leaf;
    const Expr **spine = left_spine(S, e, &n, &leaf);
    SVal acc = single(S, check_expr(S, leaf), leaf);
    for (int k = 0; k < n; k++)
        acc = binary_with(S, spine[k]->loc, binop_of(spine[k]->op), acc, spine[k]->lhs, spine[k]->rhs);
    return acc;
}

/* Arity check for built-ins: npos positional (min..max).  Keywords are
 * checked separately. */
static bool check_arity(Sema *S, const Expr *e, const Builtin *b, int min, int max)
{
    if (e->nargs >= min && e->nargs <= max)
        return true;
    const char *want = min == max ? arena_printf(S->a, "%d argument%s", min, min == 1 ? "" : "s")
                                  : arena_printf(S->a, "%d or %d arguments", min, max);
    err(S, e->nargs > max ? e->args[max]->loc : e->loc, "%s takes %s, got %d (usage: %s)", b->name,
        want, e->nargs, b->usage);
    return false;
}

/* An axis as the user wrote it (negative counts from the end), normalised
 * for rank; rank < 0: the operand failed, only the form is checked. */
static bool norm_axis(Sema *S, const Builtin *b, const Expr *e, int64_t ax, int rank, const IrType *t,
                      int64_t *out)
{
    if (rank < 0) {
        *out = 0;
        return true;
    }
    if (ax < -rank || ax >= rank) {
        if (rank == 0)
            err(S, e->loc, "%s: axis %lld out of range: the operand %s is a scalar", b->name,
                (long long)ax, tstr(S, t));
        else
            err(S, e->loc, "%s: axis %lld out of range for %s (expected %d..%d)", b->name, (long long)ax,
                tstr(S, t), -rank, rank - 1);
        return false;
    }
    *out = ax < 0 ? ax + rank : ax;
    return true;
}

/* A list of compile-time integers ([a, b, ...]); `single_ok`: a bare
 * integer is accepted as a one-element list. */
static bool int_list(Sema *S, const Builtin *b, const char *what, const Expr *e, bool single_ok,
                     int64_t *vals, const Expr **items, int *n)
{
    *n = 0;
    if (e->kind != E_LIST) {
        if (!single_ok) {
            err(S, e->loc, "%s: %s must be a list of integers, as in %s", b->name, what, b->usage);
            return false;
        }
        items[0] = e;
        *n = 1;
        return eval_int(S, e, arena_printf(S->a, "%s: %s", b->name, what), &vals[0]);
    }
    if (e->nargs > IR_MAX_RANK) {
        err(S, e->loc, "%s: too many entries in %s (%d); a tensor has at most %d dims", b->name, what,
            e->nargs, IR_MAX_RANK);
        return false;
    }
    bool ok = true;
    for (int k = 0; k < e->nargs; k++) {
        items[k] = e->args[k];
        if (!eval_int(S, e->args[k], arena_printf(S->a, "%s: %s entry", b->name, what), &vals[k]))
            ok = false;
    }
    *n = e->nargs;
    return ok;
}

/* ---- the elementwise family and the sources ---------------------------------------- */

/* op(es...) for a row of ir/ops_ew.def: numbers fold (ew_fold); otherwise a
 * number takes the dtype of the tensor operands (for where: of the chosen
 * values; its condition keeps its own).  pre: es[0]'s value when the
 * caller checked it already (an operator chain), else NULL. */
static SVal ew_apply(Sema *S, SrcLoc loc, IrOp op, const Expr *const *es, int n, double f,
                     const SVal *pre)
{
    const IrEwInfo *row = ir_ew_info(op);
    DTC_ASSERT(row && n == row->nargs && n <= 3);
    SVal v[3];
    bool bad = false, nums = true;
    for (int k = 0; k < n; k++) {
        v[k] = k == 0 && pre ? *pre : single(S, check_expr(S, es[k]), es[k]);
        bad |= v[k].k == SV_ERR;
        nums &= is_num(v[k]);
    }
    if (bad)
        return sv_err;
    if (nums)
        return ew_fold(S, loc, op, v, n, f);
    int first = row->types == EWT_SELECT ? 1 : 0, dt = -1;
    for (int k = first; k < n && dt < 0; k++)
        if (v[k].k == SV_TENSOR)
            dt = (int)v[k].v->type.dtype;
    if (dt < 0) { /* where(c, number, number): the condition's float dtype, else f32 / i32 */
        bool fl = false;
        for (int k = first; k < n; k++)
            fl |= v[k].k == SV_FLOAT;
        dt = fl ? DT_F32 : DT_I32;
        if (v[0].k == SV_TENSOR && ir_dtype_is_float(v[0].v->type.dtype))
            dt = (int)v[0].v->type.dtype;
    }
    IrValue *args[3];
    SrcLoc locs[3];
    for (int k = 0; k < n; k++) {
        locs[k] = es[k]->loc;
        if (!(args[k] = tensor_of(S, v[k], es[k], k >= first ? dt : -1)))
            return sv_err;
    }
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.f = f;
    return sv_tensor(emit(S, loc, locs, op, n, args, &at, DT_F32));
}

/* iota of dtype dt over `shape` along `axis` (normalised). */
static IrValue *emit_iota(Sema *S, SrcLoc loc, DType dt, int rank, const int64_t *shape, int axis)
{
    IrAttrs at;
    memset(&at, 0, sizeof at);
    int64_t *v = ir_attrs_ints(S->a, &at, rank);
    for (int k = 0; k < rank; k++)
        v[k] = shape[k];
    at.dim = axis;
    return emit(S, loc, NULL, OP_IOTA, 0, NULL, &at, dt);
}

/* dtype=NAME; *dt unchanged when absent.  false after reporting. */
static bool dtype_kw(Sema *S, const Expr *e, const Builtin *b, DType *dt)
{
    const Expr *de = find_kw(e, "dtype", NULL);
    if (!de)
        return true;
    if (de->kind != E_NAME || !ir_dtype_parse(de->name, dt)) {
        err(S, de->loc, "%s: dtype must be a dtype name such as f32 or i32 (usage: %s)", b->name, b->usage);
        return false;
    }
    return true;
}

/* arange(N, dtype=i32) -> [0, 1, ..., N-1]; iota(f32[A, B], axis=0): the
 * index along axis.  Each rank computes its own indices: no data moves. */
static SVal source_call(Sema *S, const Expr *e, const Builtin *b)
{
    const Expr *a0 = e->args[0];
    int64_t shape[IR_MAX_RANK];
    int rank = 0;
    int64_t axis = 0;
    DType dt = DT_I32;
    if (!strcmp(b->name, "arange")) {
        if (!eval_int(S, a0, "arange: the length", &shape[0]))
            return sv_err;
        if (shape[0] < 0) {
            err(S, a0->loc, "arange: the length must not be negative, got %lld", (long long)shape[0]);
            return sv_err;
        }
        rank = 1;
        if (!dtype_kw(S, e, b, &dt))
            return sv_err;
    } else {
        if (a0->kind != E_INDEX || !ir_dtype_parse(a0->name, &dt)) {
            err(S, a0->loc, "iota: the first argument is the result type, as in %s", b->usage);
            return sv_err;
        }
        if (a0->nargs < 1 || a0->nargs > IR_MAX_RANK) {
            err(S, a0->loc, "iota: the result needs 1 to %d dims, got %d", IR_MAX_RANK, a0->nargs);
            return sv_err;
        }
        rank = a0->nargs;
        for (int k = 0; k < rank; k++) {
            if (!eval_int(S, a0->args[k], "a dimension", &shape[k]))
                return sv_err;
            if (shape[k] < 0) {
                err(S, a0->args[k]->loc, "iota: a dimension must not be negative, got %lld",
                    (long long)shape[k]);
                return sv_err;
            }
        }
        SrcLoc kl;
        const Expr *ae = find_kw(e, "axis", &kl);
        if (ae) {
            if (!eval_int(S, ae, "iota: axis", &axis))
                return sv_err;
            if (axis < -rank || axis >= rank) {
                err(S, ae->loc, "iota: axis %lld out of range for rank %d (expected %d..%d)", (long long)axis,
                    rank, -rank, rank - 1);
                return sv_err;
            }
            if (axis < 0)
                axis += rank;
        }
    }
    return sv_tensor(emit_iota(S, e->loc, dt, rank, shape, (int)axis));
}

/* tril(x, k) / triu(x, k) / causal_mask(T): where() over a comparison of
 * two iotas, so they need no kernel of their own and shard like any
 * elementwise op. */
static SVal mask_call(Sema *S, const Expr *e, const Builtin *b)
{
    SrcLoc loc = e->loc;
    if (b->kind == BK_CAUSAL) {
        int64_t T;
        DType dt = DT_F32;
        if (!eval_int(S, e->args[0], "causal_mask: the length", &T) || !dtype_kw(S, e, b, &dt))
            return sv_err;
        if (T < 0) {
            err(S, e->args[0]->loc, "causal_mask: the length must not be negative, got %lld", (long long)T);
            return sv_err;
        }
        if (!ir_dtype_is_float(dt)) {
            err(S, find_kw(e, "dtype", NULL)->loc, "causal_mask: dtype must be a float type, got %s",
                ir_dtype_name(dt));
            return sv_err;
        }
        int64_t sh[2] = {T, T};
        IrValue *i = emit_iota(S, loc, DT_I32, 2, sh, 0), *j = emit_iota(S, loc, DT_I32, 2, sh, 1);
        IrValue *c2[2] = {j, i};
        IrValue *keep = emit(S, loc, NULL, OP_LE, 2, c2, NULL, DT_F32);
        /* large and finite: a fully masked row gives a uniform softmax, not NaN */
        IrValue *sel[3] = {keep, materialise(S, sv_float(0.0), dt, loc),
                           materialise(S, sv_float(dt == DT_F16 ? -65504.0 : -1e9), dt, loc)};
        if (!keep || !sel[1] || !sel[2])
            return sv_err;
        return sv_tensor(emit(S, loc, NULL, OP_WHERE, 3, sel, NULL, DT_F32));
    }
    IrValue *x = tensor_arg(S, e->args[0]);
    int64_t k = 0;
    const Expr *ke = find_kw(e, "k", NULL);
    if (ke && !eval_int(S, ke, arena_printf(S->a, "%s: k", b->name), &k))
        return sv_err;
    if (!x)
        return sv_err;
    if (x->type.rank < 2) {
        err(S, e->args[0]->loc, "%s: needs an operand of rank >= 2 (it masks the last two dims), got %s",
            b->name, tstr(S, &x->type));
        return sv_err;
    }
    if (k < INT32_MIN || k > INT32_MAX) {
        err(S, ke->loc, "%s: k %lld does not fit in i32", b->name, (long long)k);
        return sv_err;
    }
    int64_t sh[2] = {x->type.dims[x->type.rank - 2], x->type.dims[x->type.rank - 1]};
    IrValue *i = emit_iota(S, loc, DT_I32, 2, sh, 0), *j = emit_iota(S, loc, DT_I32, 2, sh, 1);
    IrValue *ik[2] = {i, materialise(S, sv_int(k), DT_I32, loc)};
    if (!ik[1])
        return sv_err;
    IrValue *diag = emit(S, loc, NULL, OP_ADD, 2, ik, NULL, DT_F32); /* i + k */
    /* tril keeps j <= i + k, triu keeps j >= i + k */
    IrValue *c2[2] = {j, diag};
    IrValue *keep = emit(S, loc, NULL, strcmp(b->name, "tril") ? OP_GE : OP_LE, 2, c2, NULL, DT_F32);
    IrValue *sel[3] = {keep, x, materialise(S, sv_int(0), x->type.dtype == DT_I32 ? DT_I32 : x->type.dtype, loc)};
    if (!keep || !sel[2])
        return sv_err;
    return sv_tensor(emit(S, loc, NULL, OP_WHERE, 3, sel, NULL, DT_F32));
}

static SVal builtin_call(Sema *S, const Expr *e, const Builtin *b)
{
    int minpos = b->npos, maxpos = b->npos;
    if (b->kind == BK_TRANSPOSE || b->kind == BK_RESHAPE)
        minpos = 1;
    bool ok = check_kws(S, e, b->kws);
    if (!check_arity(S, e, b, minpos, maxpos))
        return sv_err;
    IrAttrs at;
    memset(&at, 0, sizeof at);
    SrcLoc locs[3];
    for (int k = 0; k < e->nargs && k < 3; k++)
        locs[k] = e->args[k]->loc;

    switch (b->kind) {
    case BK_EW:
        if (!ok)
            return sv_err;
        return ew_apply(S, e->loc, b->op, (const Expr *const *)e->args, b->npos, 0.0, NULL);
    case BK_GELU: {
        const Expr *ap = find_kw(e, "approximate", NULL);
        if (ap && ap->kind != E_BOOL) {
            err(S, ap->loc, "gelu: approximate must be true or false");
            return sv_err;
        }
        if (!ok)
            return sv_err;
        return ew_apply(S, e->loc, ap && ap->ival ? OP_GELU_TANH : OP_GELU,
                        (const Expr *const *)e->args, 1, 0.0, NULL);
    }
    case BK_SOURCE:
        return ok ? source_call(S, e, b) : sv_err;
    case BK_TRI:
    case BK_CAUSAL:
        return ok ? mask_call(S, e, b) : sv_err;
    case BK_POW: {
        IrValue *x = tensor_arg(S, e->args[0]);
        SVal p = single(S, check_expr(S, e->args[1]), e->args[1]);
        if (p.k == SV_TENSOR) {
            err(S, e->args[1]->loc, "pow: the exponent must be a constant number, not a tensor");
            return sv_err;
        }
        if (!x || p.k == SV_ERR || !ok)
            return sv_err;
        at.f = num_f(p);
        return sv_tensor(emit(S, e->loc, locs, OP_POW, 1, &x, &at, DT_F32));
    }
    case BK_CAST: {
        IrValue *x = tensor_arg(S, e->args[0]);
        const Expr *de = e->args[1];
        DType dt = DT_F32;
        if (de->kind != E_NAME || !ir_dtype_parse(de->name, &dt)) {
            err(S, de->loc, "cast: the second argument must be a dtype (f32, f64, i32, f16 or bf16)");
            return sv_err;
        }
        if (!x || !ok)
            return sv_err;
        return sv_tensor(emit(S, e->loc, locs, OP_CAST, 1, &x, NULL, dt));
    }
    case BK_REDUCE:
    case BK_SOFTMAX: {
        IrValue *x = tensor_arg(S, e->args[0]);
        int rank = x ? x->type.rank : -1;
        const IrType *t = x ? &x->type : NULL;
        SrcLoc kl;
        const Expr *axe = find_kw(e, "axis", &kl);
        int64_t raw[IR_MAX_RANK];
        const Expr *items[IR_MAX_RANK];
        int n = 0;
        ir_attrs_ints(S->a, &at, IR_MAX_RANK); /* axes <= rank <= IR_MAX_RANK */
        if (b->kind == BK_SOFTMAX) {
            at.nints = 1;
            if (!axe)
                raw[0] = -1, items[0] = e, n = 1;
            else if (axe->kind == E_LIST) {
                err(S, axe->loc, "%s: axis must be a single integer (%s normalises along one axis)",
                    b->name, b->name);
                ok = false;
            } else if (!int_list(S, b, "axis", axe, true, raw, items, &n))
                ok = false;
            if (ok && !norm_axis(S, b, items[0], raw[0], rank, t, &at.ints[0]))
                ok = false;
        } else {
            if (!axe) {
                /* default: every axis */
                for (int k = 0; k < rank; k++)
                    at.ints[k] = k;
                at.nints = rank > 0 ? rank : 0;
            } else if (!int_list(S, b, "axis", axe, true, raw, items, &n)) {
                ok = false;
            } else {
                bool seen[IR_MAX_RANK] = {false};
                for (int k = 0; k < n; k++) {
                    int64_t ax;
                    if (!norm_axis(S, b, items[k], raw[k], rank, t, &ax)) {
                        ok = false;
                        continue;
                    }
                    if (rank >= 0 && seen[ax]) {
                        err(S, items[k]->loc, "%s: axis %lld is listed twice", b->name, (long long)raw[k]);
                        ok = false;
                    }
                    seen[ax] = true;
                }
                at.nints = 0;
                for (int k = 0; k < IR_MAX_RANK; k++)
                    if (seen[k])
                        at.ints[at.nints++] = k;
            }
            const Expr *kd = find_kw(e, "keepdims", NULL);
            if (kd) {
                if (kd->kind != E_BOOL) {
                    err(S, kd->loc, "%s: keepdims must be true or false", b->name);
                    ok = false;
                } else
                    at.keepdims = kd->ival != 0;
            }
        }
        if (!x || !ok)
            return sv_err;
        return sv_tensor(emit(S, e->loc, locs, b->op, 1, &x, &at, DT_F32));
    }
    case BK_NORM: {
        IrValue *args[3];
        bool args_ok = true;
        for (int k = 0; k < b->npos; k++)
            if (!(args[k] = tensor_arg(S, e->args[k])))
                args_ok = false;
        at.f = b->op == OP_LAYERNORM ? 1e-5 : 1e-6;
        const Expr *ee = find_kw(e, "eps", NULL);
        if (ee) {
            SVal v = eval_num(S, ee);
            if (v.k == SV_ERR)
                ok = false;
            else if (num_f(v) <= 0) {
                err(S, ee->loc, "%s: eps must be positive, got %s", b->name, num_str(S, v));
                ok = false;
            } else if (args_ok && ir_dtype_is_float(args[0]->type.dtype)
                       && !float_fits(S, ee->loc, num_f(v), num_str(S, v), args[0]->type.dtype)) {
                ok = false;
            } else
                at.f = num_f(v);
        }
        if (!args_ok || !ok)
            return sv_err;
        return sv_tensor(emit(S, e->loc, locs, b->op, b->npos, args, &at, DT_F32));
    }
    case BK_TRANSPOSE:
    case BK_RESHAPE: {
        IrValue *x = tensor_arg(S, e->args[0]);
        const char *kw = b->kind == BK_TRANSPOSE ? "perm" : "sizes";
        const Expr *le = find_kw(e, kw, NULL);
        if (e->nargs == 2 && le) {
            err(S, le->loc, "%s: %s is given twice (as the second argument and as %s=)", b->name, kw, kw);
            return sv_err;
        }
        if (e->nargs == 2)
            le = e->args[1];
        if (!le) {
            err(S, e->loc, "%s needs the %s, as in %s", b->name,
                b->kind == BK_TRANSPOSE ? "permutation" : "new sizes", b->usage);
            return sv_err;
        }
        int64_t v[IR_MAX_RANK];
        const Expr *items[IR_MAX_RANK];
        int n;
        if (!int_list(S, b, b->kind == BK_TRANSPOSE ? "the permutation" : "the sizes", le, false, v,
                      items, &n) || !ok)
            return sv_err;
        if (!x)
            return sv_err;
        const IrType *t = &x->type;
        ir_attrs_ints(S->a, &at, n);
        if (b->kind == BK_TRANSPOSE) {
            if (n != t->rank) {
                err(S, le->loc, "transpose: the permutation has %d entr%s but %s has %d dim%s", n,
                    n == 1 ? "y" : "ies", tstr(S, t), t->rank, t->rank == 1 ? "" : "s");
                return sv_err;
            }
            bool seen[IR_MAX_RANK] = {false};
            for (int k = 0; k < n; k++) {
                int64_t ax;
                if (!norm_axis(S, b, items[k], v[k], t->rank, t, &ax))
                    return sv_err;
                if (seen[ax]) {
                    err(S, items[k]->loc, "transpose: axis %lld appears twice in the permutation",
                        (long long)v[k]);
                    return sv_err;
                }
                seen[ax] = true;
                at.ints[k] = ax;
            }
        } else {
            int minus = -1;
            int64_t known = 1;
            for (int k = 0; k < n; k++) {
                if (v[k] == -1) {
                    if (minus >= 0) {
                        err(S, items[k]->loc, "reshape: only one size may be -1");
                        return sv_err;
                    }
                    minus = k;
                    continue;
                }
                if (v[k] <= 0) {
                    err(S, items[k]->loc, "reshape: a size must be positive (or -1), got %lld",
                        (long long)v[k]);
                    return sv_err;
                }
                if (__builtin_mul_overflow(known, v[k], &known)) {
                    err(S, items[k]->loc, "reshape: the sizes overflow");
                    return sv_err;
                }
                at.ints[k] = v[k];
            }
            int64_t numel = ir_type_numel(t);
            if (minus >= 0) {
                if (numel % known != 0) {
                    err(S, items[minus]->loc,
                        "reshape: cannot infer -1: %s has %lld elements, not a multiple of %lld",
                        tstr(S, t), (long long)numel, (long long)known);
                    return sv_err;
                }
                at.ints[minus] = numel / known;
            }
        }
        return sv_tensor(emit(S, e->loc, locs, b->op, 1, &x, &at, DT_F32));
    }
    case BK_LOOKUP: {
        IrValue *args[2];
        args[0] = tensor_arg(S, e->args[0]);
        args[1] = tensor_arg(S, e->args[1]);
        if (!args[0] || !args[1] || !ok)
            return sv_err;
        return sv_tensor(emit(S, e->loc, locs, b->op, 2, args, NULL, DT_F32));
    }
    case BK_REDISTRIBUTE: {
        IrValue *x = tensor_arg(S, e->args[0]);
        const Expr *pe = e->args[1];
        if (pe->kind != E_INDEX) {
            err(S, pe->loc, "redistribute: the second argument must be a placement, as in %s",
                S->mesh_ok ? arena_printf(S->a, "redistribute(x, %s)", example_pl(S)) : b->usage);
            return sv_err;
        }
        Placement pl;
        if (!resolve_pl(S, pe->loc, pe->name, pe->nargs, pe->args, x ? &x->type : NULL, false, &pl) || !x || !ok)
            return sv_err;
        return sv_tensor(emit_redistribute(S, e->loc, x, pl, NULL, "redistribute()"));
    }
    }
    return sv_err;
}

static void add_edge(Sema *S, int callee, SrcLoc loc)
{
    FnInfo *f = S->cur;
    if (f->ncalls == f->capcalls) {
        int cap = f->capcalls ? 2 * f->capcalls : 4;
        Edge *n = arena_alloc(S->a, sizeof *n * (size_t)cap);
        if (f->ncalls)
            memcpy(n, f->calls, sizeof *n * (size_t)f->ncalls);
        f->calls = n;
        f->capcalls = cap;
    }
    f->calls[f->ncalls++] = (Edge){callee, loc};
}

static SVal user_call(Sema *S, const Expr *e, int fi)
{
    FnInfo *f = &S->fns[fi];
    Decl *fd = f->decl;
    add_edge(S, fi, e->loc);
    bool ok = true;
    if (e->nkw > 0) {
        err(S, e->kw_locs[0], "'%s' is a user function: pass its arguments by position", fd->name);
        ok = false;
    }
    if (e->nargs != fd->nparams && e->nargs + e->nkw != fd->nparams) {
        err(S, e->nargs > fd->nparams ? e->args[fd->nparams]->loc : e->loc,
            "'%s' takes %d argument%s, got %d", fd->name, fd->nparams, fd->nparams == 1 ? "" : "s",
            e->nargs);
        note(S, fd->loc, "'%s' is defined here", fd->name);
        ok = false;
    }
    IrValue **args = arena_alloc(S->a, sizeof *args * (size_t)(e->nargs ? e->nargs : 1));
    for (int k = 0; k < e->nargs; k++) {
        SVal v = single(S, check_expr(S, e->args[k]), e->args[k]);
        if (v.k == SV_ERR) {
            ok = false;
            continue;
        }
        if (k >= fd->nparams || !f->sig_ok)
            continue;
        const IrType *pt = &f->ptypes[k];
        if (is_num(v)) {
            if (pt->rank != 0) {
                err(S, e->args[k]->loc, "argument %d of '%s' must be %s, got the number %s", k + 1,
                    fd->name, tstr(S, pt), num_str(S, v));
                ok = false;
                continue;
            }
            if (!(args[k] = materialise(S, v, pt->dtype, e->args[k]->loc)))
                ok = false;
            continue;
        }
        args[k] = v.v;
        if (!ir_type_eq(&v.v->type, pt)) {
            err(S, e->args[k]->loc, "argument %d of '%s' (parameter '%s') must be %s, got %s", k + 1,
                fd->name, fd->params[k]->name, tstr(S, pt), tstr(S, &v.v->type));
            ok = false;
        }
    }
    if (!ok || !f->sig_ok)
        return sv_err;
    IrInst *i = ir_inst_new(S->m, target_fn(S), NULL, OP_CALL, e->nargs, args, fd->nresults, f->rtypes);
    i->loc = e->loc;
    i->a.callee = f->ir->name;
    i->a.fn = f->ir;
    if (fd->nresults == 1)
        return sv_tensor(i->res[0]);
    SVal v = sv_err;
    v.k = SV_MULTI;
    v.n = fd->nresults;
    v.vs = i->res;
    v.callee = fd->name;
    return v;
}

/* An initialiser call as it may be written as a parameter's default: the
 * user's own text when its form is right, else the simplest correct one. */
static const char *init_example(Sema *S, const Expr *e)
{
    const char *nm = e->name;
    bool seeded = e->nargs == 0 && find_kw(e, "seed", NULL);
    if (!strcmp(nm, "randn") || !strcmp(nm, "rand"))
        return seeded ? fe_expr_str(S->a, e) : arena_printf(S->a, "%s(seed=1)", nm);
    if (!strcmp(nm, "full"))
        return e->nargs == 1 && e->nkw == 0 && e->args[0]->kind != E_STRING ? fe_expr_str(S->a, e)
                                                                            : "full(0.5)";
    if (!strcmp(nm, "load"))
        return e->nargs == 1 && e->nkw == 0 && e->args[0]->kind == E_STRING ? fe_expr_str(S->a, e)
                                                                            : "load(\"w.npy\")";
    return arena_printf(S->a, "%s()", nm); /* zeros, ones, arange: the type gives the shape */
}

/* A parameter declaration with initialiser call e that compiles as written
 * (the placement the entry function needs included). */
static const char *init_param_example(Sema *S, const char *name, const char *type, const Expr *e)
{
    if (S->mesh_ok)
        return arena_printf(S->a, "%s: %s @ %s = %s", name, type, example_pl(S), init_example(S, e));
    return arena_printf(S->a, "%s: %s = %s", name, type, init_example(S, e));
}

static void init_in_body(Sema *S, const Expr *e, const char *name, const char *type)
{
    const char *fn = S->cur ? S->cur->decl->name : "the function";
    if (name)
        err(S, e->loc, "'%s' is an initialiser: it can only be a parameter's default; make '%s' a "
            "parameter of '%s' instead, as in `%s`", e->name, name, fn,
            init_param_example(S, name, type, e));
    else
        err(S, e->loc, "'%s' is an initialiser: it can only be a parameter's default; add a "
            "parameter to '%s', as in `%s`, and use it here", e->name, fn,
            init_param_example(S, "init", type, e));
}

static SVal call_expr(Sema *S, const Expr *e)
{
    if (sema_is_shape_builtin(e->name))
        return sema_shape_call(S, e);
    if (sema_is_route_builtin(e->name))
        return sema_route_call(S, e);
    const Builtin *b = find_builtin(S->a, e->name);
    if (b)
        return builtin_call(S, e, b);
    int fi = find_fn(S, e->name);
    if (fi >= 0)
        return user_call(S, e, fi);
    if (is_init_name(e->name)) {
        init_in_body(S, e, NULL, "f32[4]");
        return sv_err;
    }
    if (!strcmp(e->name, "S") || !strcmp(e->name, "P") || !strcmp(e->name, "R")) {
        err(S, e->loc, "%s(...) is a placement entry: it only appears inside a placement M[...]", e->name);
        return sv_err;
    }
    if (find_local(S, e->name) || find_const(S, e->name) >= 0) {
        err(S, e->loc, "'%s' is not a function", e->name);
        return sv_err;
    }
    Suggest g = {e->name, NULL, 99};
    for (int k = 0; k < NBUILTINS; k++)
        suggest(&g, builtins[k].name);
    for (int k = 0; k < ir_ew_count(); k++)
        if (ir_ew_row(k)->surface)
            suggest(&g, ir_ew_row(k)->surface);
    for (int k = 0; sema_shape_builtin_name(k); k++)
        suggest(&g, sema_shape_builtin_name(k));
    for (int k = 0; sema_route_builtin_name(k); k++)
        suggest(&g, sema_route_builtin_name(k));
    for (int k = 0; k < S->nfns; k++)
        suggest(&g, S->fns[k].decl->name);
    err(S, e->loc, "unknown function '%s'%s", e->name, suggest_str(S, &g));
    return sv_err;
}

/* ---- loops: values from outside a loop body ------------------------------------------- */
static void *grow_array(Sema *S, void *p, int n, int *cap, size_t sz)
{
    if (n < *cap)
        return p;
    int nc = *cap ? 2 * *cap : 4;
    void *q = arena_alloc(S->a, sz * (size_t)nc);
    if (n)
        memcpy(q, p, sz * (size_t)n);
    *cap = nc;
    return q;
}

/* v, bound at loop depth vdepth, as a value usable inside loop lp: each loop
 * between gets a capture parameter (one per outer value). */
static IrValue *loop_capture(Sema *S, LoopCtx *lp, IrValue *v, int vdepth)
{
    if (!lp || lp->depth <= vdepth)
        return v;
    IrValue *outer = loop_capture(S, lp->parent, v, vdepth);
    for (int k = 0; k < lp->ncap; k++)
        if (lp->cap_outer[k] == outer)
            return lp->cap_param[k];
    int cap = lp->capcap;
    lp->cap_outer = grow_array(S, lp->cap_outer, lp->ncap, &cap, sizeof *lp->cap_outer);
    cap = lp->capcap;
    lp->cap_param = grow_array(S, lp->cap_param, lp->ncap, &cap, sizeof *lp->cap_param);
    lp->capcap = cap;
    IrInit none;
    memset(&none, 0, sizeof none);
    IrValue *p = ir_param_new(S->m, lp->body, outer->name ? outer->name : "capture", outer->type,
                              (Placement){0}, none);
    lp->cap_outer[lp->ncap] = outer;
    lp->cap_param[lp->ncap] = p;
    lp->ncap++;
    return p;
}

static SVal binding_value(Sema *S, Binding *b)
{
    if (b->val.k != SV_TENSOR || !S->loop || b->depth >= S->loop->depth)
        return b->val;
    return sv_tensor(loop_capture(S, S->loop, b->val.v, b->depth));
}

/* The loop whose counter is `name`, NULL: none. */
static LoopCtx *loop_of_counter(Sema *S, const char *name)
{
    for (LoopCtx *lp = S->loop; lp; lp = lp->parent)
        if (!strcmp(lp->st->var, name))
            return lp;
    return NULL;
}

/* w[l]: the slice of stacked operand w for this trip. */
static SVal loop_slice(Sema *S, const Expr *e)
{
    LoopCtx *lp = S->loop;
    const Expr *ix = e->args[0];
    if (loop_of_counter(S, ix->name) != lp) {
        err(S, ix->loc, "'%s[%s]': only the innermost loop's counter '%s' can index a stacked value", e->name,
            ix->name, lp->st->var);
        return sv_err;
    }
    Binding *b = find_local(S, e->name);
    if (!b) {
        Suggest g = {e->name, NULL, 99};
        suggest_values(S, &g);
        err(S, e->loc, "unknown name '%s'%s", e->name, suggest_str(S, &g));
        return sv_err;
    }
    if (b->val.k == SV_ERR)
        return sv_err;
    if (b->val.k != SV_TENSOR) {
        err(S, e->loc, "'%s' is a number; only a stacked tensor can be indexed by '%s'", e->name, ix->name);
        return sv_err;
    }
    if (b->depth >= lp->depth) {
        err(S, e->loc, "'%s' is computed inside the loop; '%s[%s]' needs a stacked value from outside it",
            e->name, e->name, ix->name);
        return sv_err;
    }
    IrValue *outer = loop_capture(S, lp->parent, b->val.v, b->depth);
    const IrType *t = &outer->type;
    if (t->rank < 1 || t->dims[0] != lp->trip) {
        err(S, e->loc, "'%s' is %s: to be indexed by '%s' its leading (layer) dim must be the trip count %lld",
            e->name, tstr(S, t), ix->name, (long long)lp->trip);
        return sv_err;
    }
    if (outer->pl.naxes > 0)
        for (int a = 0; a < outer->pl.naxes; a++)
            if (outer->pl.e[a].kind == PL_S && outer->pl.e[a].dim == 0) {
                err(S, e->loc, "'%s' splits its layer dim (dim 0) over mesh axis '%s': pipeline-style "
                    "placement is not supported; keep dim 0 replicated (R)", e->name, S->m->mesh.axis_name[a]);
                return sv_err;
            }
    for (int k = 0; k < lp->nstack; k++)
        if (lp->stack_outer[k] == outer)
            return sv_tensor(lp->stack_param[k]);
    int cap = lp->capstack;
    lp->stack_outer = grow_array(S, lp->stack_outer, lp->nstack, &cap, sizeof *lp->stack_outer);
    cap = lp->capstack;
    lp->stack_param = grow_array(S, lp->stack_param, lp->nstack, &cap, sizeof *lp->stack_param);
    lp->capstack = cap;
    IrInit none;
    memset(&none, 0, sizeof none);
    IrValue *p = ir_param_new(S->m, lp->body, e->name, ir_loop_slice_type(t), (Placement){0}, none);
    lp->stack_outer[lp->nstack] = outer;
    lp->stack_param[lp->nstack] = p;
    lp->nstack++;
    return sv_tensor(p);
}

static SVal check_expr(Sema *S, const Expr *e)
{
    switch (e->kind) {
    case E_INT:
        return sv_int(e->ival);
    case E_FLOAT:
        return sv_float(e->fval);
    case E_NAME: {
        if (loop_of_counter(S, e->name)) {
            err(S, e->loc, "'%s' is a loop counter: it can only index a stacked value, as in w[%s]", e->name,
                e->name);
            return sv_err;
        }
        Binding *b = find_local(S, e->name);
        if (b)
            return binding_value(S, b);
        int c = find_const(S, e->name);
        if (c >= 0)
            return const_value(S, c, e->loc);
        if (find_fn(S, e->name) >= 0)
            err(S, e->loc, "'%s' is a function; call it as %s(...)", e->name, e->name);
        else if (find_builtin(S->a, e->name) || sema_is_shape_builtin(e->name) || sema_is_route_builtin(e->name))
            err(S, e->loc, "'%s' is a built-in operation; call it as %s(...)", e->name, e->name);
        else if (S->mesh && !strcmp(e->name, S->mesh->name))
            err(S, e->loc, "'%s' is the mesh; it only appears in placements", e->name);
        else {
            Suggest g = {e->name, NULL, 99};
            suggest_values(S, &g);
            err(S, e->loc, "unknown name '%s'%s", e->name, suggest_str(S, &g));
        }
        return sv_err;
    }
    case E_UNARY: {
        SVal x = single(S, check_expr(S, e->lhs), e->lhs);
        if (x.k == SV_INT || x.k == SV_FLOAT)
            return fold(S, e->loc, '-', x.k == SV_INT ? sv_int(0) : sv_float(0), x);
        if (x.k != SV_TENSOR)
            return sv_err;
        SrcLoc l = e->lhs->loc;
        return sv_tensor(emit(S, e->loc, &l, OP_NEG, 1, &x.v, NULL, DT_F32));
    }
    case E_BINARY:
        return binary_chain(S, e);
    case E_CALL:
        return call_expr(S, e);
    case E_BOOL:
        err(S, e->loc, "%s can only be an attribute value, as in keepdims=%s", e->ival ? "true" : "false",
            e->ival ? "true" : "false");
        return sv_err;
    case E_STRING:
        err(S, e->loc, "a string can only be a file name, as in load(\"w.npy\")");
        return sv_err;
    case E_LIST:
        err(S, e->loc, "a list [...] can only be an argument of a built-in, as in reshape(x, [4, -1]) "
            "or concat([a, b])");
        return sv_err;
    case E_INDEX:
        if (S->loop && e->nargs == 1 && e->args[0]->kind == E_NAME && loop_of_counter(S, e->args[0]->name))
            return loop_slice(S, e);
        if (e->name && S->mesh && !strcmp(e->name, S->mesh->name) && !find_local(S, e->name)) {
            err(S, e->loc, "'%s[...]': a placement can only appear after '@' or as the second "
                "argument of redistribute", e->name);
            return sv_err;
        }
        return sema_index(S, e);
    case E_SLICE:
        err(S, e->loc, "a slice a:b can only be a subscript, as in x[a:b]");
        return sv_err;
    }
    return sv_err;
}

/* ---- statements and functions -------------------------------------------------------- */
static void check_let(Sema *S, const Stmt *st)
{
    bool names_ok = true;
    for (int k = 0; k < st->nnames; k++)
        for (int j = 0; j < k; j++)
            if (!strcmp(st->names[j], st->names[k])) {
                err(S, st->name_locs[k], "'%s' is bound twice in this let", st->names[k]);
                names_ok = false;
            }
    const Expr *ve = st->value;
    if (st->nnames == 1 && ve->kind == E_CALL && is_init_name(ve->name) && !find_builtin(S->a, ve->name)
        && find_fn(S, ve->name) < 0) {
        /* `let w = randn(seed=1);`: say how to make w a parameter */
        IrType t;
        bool typed = st->type && resolve_type(S, st->type, &t);
        init_in_body(S, ve, st->names[0], typed ? tstr(S, &t) : "f32[4]");
        bind(S, st->names[0], sv_err);
        return;
    }
    SVal v = check_expr(S, st->value);

    if (st->nnames != 1) {
        if ((st->type || st->pl) && names_ok) {
            err(S, st->type ? st->type->loc : st->pl->loc,
                "a type or placement on let needs a single name; annotate the results of '%s' instead",
                st->value->kind == E_CALL ? st->value->name : "the call");
            names_ok = false;
        }
        bool ok = names_ok && v.k != SV_ERR;
        if (ok && v.k != SV_MULTI) {
            err(S, st->value->loc, "let binds %d names but the value is a single %s", st->nnames,
                is_num(v) ? "number" : "tensor");
            ok = false;
        } else if (ok && v.n != st->nnames) {
            err(S, st->value->loc, "let binds %d names but '%s' returns %d result%s", st->nnames,
                v.callee, v.n, v.n == 1 ? "" : "s");
            ok = false;
        }
        for (int k = 0; k < st->nnames; k++) {
            if (ok && !v.vs[k]->name)
                v.vs[k]->name = st->names[k];
            bind(S, st->names[k], ok ? sv_tensor(v.vs[k]) : sv_err);
        }
        return;
    }

    const char *name = st->names[0];
    v = single(S, v, st->value);
    IrType t;
    bool type_ok = st->type && resolve_type(S, st->type, &t);
    if (type_ok && v.k != SV_ERR) {
        if (is_num(v)) {
            if (t.rank != 0) {
                err(S, st->type->loc, "'%s' is declared %s but the value is the number %s", name,
                    tstr(S, &t), num_str(S, v));
                v = sv_err;
            } else {
                IrValue *c = materialise(S, v, t.dtype, st->value->loc);
                v = sv_tensor(c);
            }
        } else if (!ir_type_eq(&t, &v.v->type)) {
            err(S, st->type->loc, "'%s' is declared %s but the value is %s", name, tstr(S, &t),
                tstr(S, &v.v->type));
            v = sv_err;
        }
    }
    if (st->pl) {
        const IrType *pt = type_ok ? &t : v.k == SV_TENSOR ? &v.v->type : NULL;
        if (is_num(v) && !pt) {
            IrValue *c = materialise(S, v, default_dtype(v), st->value->loc);
            v = sv_tensor(c);
            pt = c ? &c->type : NULL;
        }
        Placement pl;
        bool pl_ok = resolve_pl_ast(S, st->pl, pt, false, &pl);
        if (pl_ok && v.k == SV_TENSOR)
            v = sv_tensor(emit_redistribute(S, st->pl->loc, v.v, pl, name, "let placement"));
    } else if (v.k == SV_TENSOR && !v.v->name && v.v->param_index < 0) {
        v.v->name = name;
    }
    bind(S, name, v);
}

/* return e1, ...: arity and types against the declared results, then a
 * pinned redistribute for each result with a declared placement. */
static void check_return(Sema *S, const Stmt *st)
{
    FnInfo *f = S->cur;
    Decl *fd = f->decl;
    int n = st->nvalues;
    SVal *vals = arena_alloc(S->a, sizeof *vals * (size_t)(n ? n : 1));
    const Expr **exprs = arena_alloc(S->a, sizeof *exprs * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        vals[k] = check_expr(S, st->values[k]);
        exprs[k] = st->values[k];
    }
    /* `return f(x);` may pass on every result of a multi-result call */
    if (n == 1 && vals[0].k == SV_MULTI && vals[0].n == fd->nresults) {
        SVal mv = vals[0];
        const Expr *me = exprs[0];
        n = mv.n;
        vals = arena_alloc(S->a, sizeof *vals * (size_t)(n ? n : 1));
        exprs = arena_alloc(S->a, sizeof *exprs * (size_t)(n ? n : 1));
        for (int k = 0; k < n; k++) {
            vals[k] = sv_tensor(mv.vs[k]);
            exprs[k] = me;
        }
    } else {
        for (int k = 0; k < n; k++)
            vals[k] = single(S, vals[k], exprs[k]);
    }
    if (n != fd->nresults) {
        err(S, st->loc, "'%s' returns %d value%s but declares %d result%s", fd->name, n,
            n == 1 ? "" : "s", fd->nresults, fd->nresults == 1 ? "" : "s");
        return;
    }
    IrFunc *irf = f->ir;
    irf->nresults = n;
    irf->results = arena_alloc(S->a, sizeof *irf->results * (size_t)(n ? n : 1));
    irf->result_names = arena_alloc(S->a, sizeof *irf->result_names * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        if (vals[k].k == SV_ERR || !f->sig_ok)
            continue;
        const IrType *rt = &f->rtypes[k];
        IrValue *v;
        if (is_num(vals[k])) {
            if (rt->rank != 0) {
                err(S, exprs[k]->loc, "result %d of '%s' is declared %s but the value is the number %s",
                    k + 1, fd->name, tstr(S, rt), num_str(S, vals[k]));
                continue;
            }
            if (!(v = materialise(S, vals[k], rt->dtype, exprs[k]->loc)))
                continue;
        } else {
            v = vals[k].v;
            if (!ir_type_eq(&v->type, rt)) {
                err(S, exprs[k]->loc, "result %d of '%s' is declared %s but the value is %s", k + 1,
                    fd->name, tstr(S, rt), tstr(S, &v->type));
                continue;
            }
        }
        const char *rname = NULL;
        if (exprs[k]->kind == E_NAME && find_local(S, exprs[k]->name)) {
            rname = exprs[k]->name;
            for (int j = 0; j < k; j++)
                if (irf->result_names[j] && !strcmp(irf->result_names[j], rname))
                    rname = NULL; /* `return x, x`: the second is out<k> */
        }
        if (f->rpl_has[k])
            v = emit_redistribute(S, fd->results[k]->pl->loc, v, f->rpl[k], rname, "result placement");
        irf->results[k] = v;
        irf->result_names[k] = rname;
    }
}

/* Signature: parameter and result types, placements, initialisers. */
static void check_signature(Sema *S, FnInfo *f)
{
    Decl *fd = f->decl;
    IrFunc *irf = f->ir;
    f->sig_ok = true;
    f->ptypes = arena_alloc(S->a, sizeof *f->ptypes * (size_t)(fd->nparams + 1));
    f->rtypes = arena_alloc(S->a, sizeof *f->rtypes * (size_t)(fd->nresults + 1));
    f->rpl = arena_alloc(S->a, sizeof *f->rpl * (size_t)(fd->nresults + 1));
    f->rpl_has = arena_alloc(S->a, sizeof *f->rpl_has * (size_t)(fd->nresults + 1));
    FeNames *seen = fe_names_new(S->a);
    for (int k = 0; k < fd->nparams; k++) {
        ParamAst *pa = fd->params[k];
        ParamAst *first = fe_names_get(seen, pa->name);
        if (first) {
            err(S, pa->loc, "parameter '%s' is declared twice", pa->name);
            note(S, first->loc, "first declared here");
        } else
            fe_names_put(seen, pa->name, pa);
        IrType t;
        bool tok = resolve_type(S, pa->type, &t);
        if (!tok)
            f->sig_ok = false;
        Placement pl;
        memset(&pl, 0, sizeof pl);
        if (pa->pl && !resolve_pl_ast(S, pa->pl, tok ? &t : NULL, true, &pl))
            memset(&pl, 0, sizeof pl);
        IrInit init;
        memset(&init, 0, sizeof init);
        if (pa->init)
            resolve_init(S, pa, tok ? &t : NULL, &init);
        f->ptypes[k] = t;
        IrValue *pv = ir_param_new(S->m, irf, pa->name, t, pl, init);
        bind(S, pa->name, tok ? sv_tensor(pv) : sv_err);
    }
    for (int k = 0; k < fd->nresults; k++) {
        ResultAst *ra = fd->results[k];
        IrType t;
        bool tok = resolve_type(S, ra->type, &t);
        if (!tok)
            f->sig_ok = false;
        f->rtypes[k] = t;
        if (ra->pl)
            f->rpl_has[k] = resolve_pl_ast(S, ra->pl, tok ? &t : NULL, false, &f->rpl[k]);
    }
}

/* ---- loops: for and assignment ------------------------------------------------------------ */
static void check_stmts(Sema *S, Stmt *const *body, int n, bool in_loop, bool *returned);

static int carry_index(const LoopCtx *lp, const char *name)
{
    for (int k = 0; k < lp->ncarry; k++)
        if (!strcmp(lp->st->carry[k]->name, name))
            return k;
    return -1;
}

/* name = value;  updates a value the innermost loop carries. */
static void check_assign(Sema *S, const Stmt *st)
{
    const char *name = st->names[0];
    SVal v = single(S, check_expr(S, st->value), st->value);
    LoopCtx *lp = S->loop;
    int k = lp ? carry_index(lp, name) : -1;
    if (k < 0) {
        if (!lp)
            err(S, st->name_locs[0], "'%s = ...' outside a loop: bind a new name with `let %s = ...`", name, name);
        else {
            bool outer = false;
            for (LoopCtx *o = lp->parent; o; o = o->parent)
                outer |= carry_index(o, name) >= 0;
            if (outer)
                err(S, st->name_locs[0], "'%s' is carried by an enclosing loop; carry it in this loop too, as in "
                    "`carry (%s)`", name, name);
            else
                err(S, st->name_locs[0], "'%s' is not carried by this loop; list it in `carry (...)` or bind a new "
                    "name with `let %s = ...`", name, name);
        }
        return;
    }
    if (v.k == SV_ERR || !lp->carry_param[k])
        return;
    const IrType *ct = &lp->carry_param[k]->type;
    IrValue *x = v.k == SV_TENSOR ? v.v : NULL;
    if (is_num(v)) {
        if (ct->rank != 0) {
            err(S, st->value->loc, "'%s' is carried as %s but this assigns the number %s", name, tstr(S, ct),
                num_str(S, v));
            return;
        }
        if (!(x = materialise(S, v, ct->dtype, st->value->loc)))
            return;
    }
    if (!x)
        return;
    if (!ir_type_eq(&x->type, ct)) {
        err(S, st->value->loc, "'%s' is carried as %s but this assigns %s: a carried value keeps its type "
            "from one trip to the next", name, tstr(S, ct), tstr(S, &x->type));
        return;
    }
    lp->carry_cur[k] = x;
    bind(S, name, sv_tensor(x));
}

/* Parameters in loop order: carried, stacked slices, captures. */
static void order_body_params(Sema *S, LoopCtx *lp)
{
    IrFunc *g = lp->body;
    int n = lp->ncarry + lp->nstack + lp->ncap, at = 0;
    DTC_ASSERT(n == g->nparams);
    IrValue **ps = arena_alloc(S->a, sizeof *ps * (size_t)(n ? n : 1));
    for (int k = 0; k < lp->ncarry; k++)
        ps[at++] = lp->carry_param[k];
    for (int k = 0; k < lp->nstack; k++)
        ps[at++] = lp->stack_param[k];
    for (int k = 0; k < lp->ncap; k++)
        ps[at++] = lp->cap_param[k];
    for (int k = 0; k < n; k++)
        ps[k]->param_index = k;
    g->params = ps;
}

static void check_for(Sema *S, const Stmt *st)
{
    LoopCtx *lp = arena_alloc(S->a, sizeof *lp);
    lp->parent = S->loop;
    lp->depth = S->loop ? S->loop->depth + 1 : 1;
    lp->st = st;
    bool ok = true;
    int64_t lo = 0, hi = 0;
    if (!eval_int(S, st->lo, "the loop's start", &lo) || !eval_int(S, st->hi, "the loop's end", &hi))
        ok = false;
    else if (lo != 0) {
        err(S, st->lo->loc, "a loop counts from 0 (as in `for %s in 0..L`): the counter indexes the layer dim of "
            "stacked values", st->var);
        ok = false;
    } else if (hi < 0) {
        err(S, st->hi->loc, "the loop's end %lld is negative", (long long)hi);
        ok = false;
    }
    lp->trip = hi;
    for (int k = 0; k < st->ncarry; k++)
        for (int j = 0; j < k; j++)
            if (!strcmp(st->carry[j]->name, st->carry[k]->name)) {
                err(S, st->carry[k]->loc, "'%s' is carried twice", st->carry[k]->name);
                ok = false;
            }
    if (loop_of_counter(S, st->var)) {
        err(S, st->var_loc, "'%s' is already the counter of an enclosing loop", st->var);
        ok = false;
    }
    int n = st->ncarry;
    lp->ncarry = n;
    lp->carry_param = arena_alloc(S->a, sizeof(IrValue *) * (size_t)(n ? n : 1));
    lp->carry_cur = arena_alloc(S->a, sizeof(IrValue *) * (size_t)(n ? n : 1));
    lp->carry_init = arena_alloc(S->a, sizeof(IrValue *) * (size_t)(n ? n : 1));
    lp->carry_pinned = arena_alloc(S->a, sizeof(bool) * (size_t)(n ? n : 1));
    lp->carry_pl = arena_alloc(S->a, sizeof(Placement) * (size_t)(n ? n : 1));
    /* initial values, in the enclosing scope */
    for (int k = 0; k < n; k++) {
        const ParamAst *c = st->carry[k];
        Binding *b = find_local(S, c->name);
        if (!b) {
            Suggest g = {c->name, NULL, 99};
            suggest_values(S, &g);
            err(S, c->loc, "'%s' is carried but has no value before the loop%s", c->name, suggest_str(S, &g));
            ok = false;
            continue;
        }
        SVal v = binding_value(S, b);
        if (v.k == SV_ERR) {
            ok = false;
            continue;
        }
        if (v.k != SV_TENSOR) {
            err(S, c->loc, "'%s' is a number; a carried value must be a tensor", c->name);
            ok = false;
            continue;
        }
        IrValue *init = v.v;
        if (c->pl) {
            if (!resolve_pl_ast(S, c->pl, &init->type, false, &lp->carry_pl[k])) {
                ok = false;
                continue;
            }
            lp->carry_pinned[k] = true;
            init = emit_redistribute(S, c->pl->loc, init, lp->carry_pl[k], c->name, "carried placement");
        }
        lp->carry_init[k] = init;
    }
    if (!ok) {
        /* check the body anyway for its own errors, with nothing bound */
        for (int k = 0; k < n; k++)
            lp->carry_param[k] = NULL;
    }
    lp->body = ir_func_new(S->m, arena_printf(S->a, "%s.loop%d", S->cur->decl->name, S->nloops++));
    lp->body->loc = st->loc;
    Binding *saved = S->scope;
    S->loop = lp;
    IrInit none;
    memset(&none, 0, sizeof none);
    for (int k = 0; k < n; k++) {
        const ParamAst *c = st->carry[k];
        if (!lp->carry_init[k]) {
            bind(S, c->name, sv_err);
            ok = false;
            continue;
        }
        IrValue *p = ir_param_new(S->m, lp->body, c->name, lp->carry_init[k]->type,
                                  lp->carry_pinned[k] ? lp->carry_pl[k] : (Placement){0}, none);
        lp->carry_param[k] = lp->carry_cur[k] = p;
        bind(S, c->name, sv_tensor(p));
    }
    bool returned = false;
    check_stmts(S, st->body, st->nbody, true, &returned);
    /* the new carried values; a pinned carry goes back to its placement */
    IrFunc *g = lp->body;
    g->nresults = n;
    g->results = arena_alloc(S->a, sizeof *g->results * (size_t)(n ? n : 1));
    g->result_names = arena_alloc(S->a, sizeof *g->result_names * (size_t)(n ? n : 1));
    for (int k = 0; ok && k < n; k++) {
        IrValue *r = lp->carry_cur[k];
        if (lp->carry_pinned[k])
            r = emit_redistribute(S, st->carry[k]->pl->loc, r, lp->carry_pl[k], st->carry[k]->name,
                                  "carried placement (back edge)");
        g->results[k] = r;
    }
    S->loop = lp->parent;
    restore_scope(S, saved);
    if (!ok || S->ngroups > 0)
        return;
    order_body_params(S, lp);
    int nargs = n + lp->nstack + lp->ncap;
    IrValue **args = arena_alloc(S->a, sizeof *args * (size_t)(nargs ? nargs : 1));
    IrType *types = arena_alloc(S->a, sizeof *types * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        args[k] = lp->carry_init[k];
        types[k] = args[k]->type;
    }
    for (int k = 0; k < lp->nstack; k++)
        args[n + k] = lp->stack_outer[k];
    for (int k = 0; k < lp->ncap; k++)
        args[n + lp->nstack + k] = lp->cap_outer[k];
    IrInst *i = ir_inst_new(S->m, target_fn(S), NULL, OP_LOOP, nargs, args, n, types);
    i->loc = st->loc;
    i->a.fn = g;
    i->a.callee = g->name;
    i->a.trip = lp->trip;
    i->a.ncarry = n;
    i->a.nstack = lp->nstack;
    const char *e = ir_loop_check(S->a, i);
    if (e)
        DTC_BUG(e);
    for (int k = 0; k < n; k++) {
        i->res[k]->name = st->carry[k]->name;
        if (lp->carry_pinned[k]) {
            i->res[k]->pl = lp->carry_pl[k];
            i->res[k]->pinned = true;
        }
        bind(S, st->carry[k]->name, sv_tensor(i->res[k]));
    }
}

static void check_stmts(Sema *S, Stmt *const *body, int n, bool in_loop, bool *returned)
{
    bool warned = false;
    for (int k = 0; k < n; k++) {
        Stmt *st = body[k];
        if (*returned && !warned) {
            err(S, st->loc, "statement after return in '%s'", S->cur->decl->name);
            warned = true;
        }
        switch (st->kind) {
        case S_LET:
            if (S->loop)
                for (int j = 0; j < st->nnames; j++)
                    if (carry_index(S->loop, st->names[j]) >= 0)
                        err(S, st->name_locs[j], "'%s' is carried by this loop; update it with `%s = ...`",
                            st->names[j], st->names[j]);
            check_let(S, st);
            break;
        case S_ASSIGN:
            check_assign(S, st);
            break;
        case S_FOR:
            check_for(S, st);
            break;
        case S_RETURN:
            if (in_loop) {
                err(S, st->loc, "return inside a loop: a loop ends with its carried values, return after it");
                break;
            }
            if (!*returned)
                check_return(S, st);
            *returned = true;
            break;
        }
    }
}

static void check_body(Sema *S, FnInfo *f)
{
    Decl *fd = f->decl;
    bool returned = false;
    check_stmts(S, fd->body, fd->nstmts, false, &returned);
    if (!returned && fd->nresults > 0)
        err(S, fd->loc, "'%s' declares %d result%s but has no return statement", fd->name,
            fd->nresults, fd->nresults == 1 ? "" : "s");
}

/* ---- the call graph -------------------------------------------------------------------- */
/* Depth-first from `root` with an explicit stack (path[d]: the function at
 * depth d, edge[d]: its next call to follow), so a chain of 100,000 calls
 * does not nest 100,000 C calls deep. */
static void find_cycles(Sema *S, int root, int *path, int *edge)
{
    int depth = 0;
    path[0] = root;
    edge[0] = 0;
    S->fns[root].color = 1;
    while (depth >= 0) {
        int fi = path[depth];
        FnInfo *f = &S->fns[fi];
        if (edge[depth] == f->ncalls) {
            f->color = 2;
            depth--;
            continue;
        }
        int k = edge[depth]++;
        int c = f->calls[k].callee;
        if (S->fns[c].color == 1) {
            /* the cycle is path[j..depth] -> c */
            int j = depth;
            while (j > 0 && path[j] != c)
                j--;
            char buf[512] = "";
            size_t len = 0;
            for (int i = j; i <= depth && len < sizeof buf; i++)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%s -> ",
                                        S->fns[path[i]].decl->name);
            if (len < sizeof buf)
                snprintf(buf + len, sizeof buf - len, "%s", S->fns[c].decl->name);
            if (c == fi)
                err(S, f->calls[k].loc, "recursion is not allowed: '%s' calls itself", f->decl->name);
            else
                err(S, f->calls[k].loc, "recursion is not allowed: %s", buf);
        } else if (S->fns[c].color == 0) {
            depth++;
            path[depth] = c;
            edge[depth] = 0;
            S->fns[c].color = 1;
        }
    }
}

/* ---- the program ------------------------------------------------------------------------ */
static void collect_globals(Sema *S)
{
    Program *p = S->p;
    S->consts = arena_alloc(S->a, sizeof *S->consts * (size_t)(p->ndecls + 1));
    S->fns = arena_alloc(S->a, sizeof *S->fns * (size_t)(p->ndecls + 1));
    for (int k = 0; k < p->ndecls; k++) {
        Decl *d = p->decls[k];
        if (!d || !d->name)
            continue;
        Decl *prev = fe_names_get(S->first_decl, d->name);
        if (!prev)
            fe_names_put(S->first_decl, d->name, d);
        if (d->kind == D_MESH) {
            if (S->mesh) {
                err(S, d->loc, "a program declares one mesh (v0); '%s' is a second one", d->name);
                note(S, S->mesh->loc, "the mesh '%s' is declared here", S->mesh->name);
            } else if (prev) {
                err(S, d->loc, "'%s' is already defined", d->name);
                note(S, prev->loc, "previous definition here");
            } else
                S->mesh = d;
            continue;
        }
        bool dup = false;
        if (prev) {
            err(S, d->loc, "'%s' is already defined", d->name);
            note(S, prev->loc, "previous definition here");
            dup = true;
        }
        if (d->kind == D_CONST) {
            if (!dup) {
                S->consts[S->nconsts] = (ConstInfo){d, sv_err, 0};
                fe_names_put(S->const_of, d->name, &S->consts[S->nconsts++]);
            }
            continue;
        }
        if (!dup && (find_builtin(S->a, d->name) || sema_is_shape_builtin(d->name) || sema_is_route_builtin(d->name) || is_init_name(d->name))) {
            err(S, d->loc, "'%s' is a built-in %s and cannot be redefined", d->name,
                is_init_name(d->name) ? "initialiser" : "operation");
            dup = true;
        }
        FnInfo *f = &S->fns[S->nfns++];
        memset(f, 0, sizeof *f);
        f->decl = d;
        f->dup = dup;
        if (dup) {
            /* checked for its own errors, but not part of the module */
            f->ir = arena_alloc(S->a, sizeof *f->ir);
            f->ir->name = arena_strdup(S->a, d->name);
        } else {
            f->ir = ir_func_new(S->m, d->name);
            fe_names_put(S->fn_of, d->name, f);
        }
        f->ir->loc = d->loc;
    }
}

static void check_entry(Sema *S)
{
    const char *name = S->opt && S->opt->entry ? S->opt->entry : "main";
    int fi = find_fn(S, name);
    if (fi < 0) {
        SrcLoc at = {S->p->file, 0, 0};
        if (S->opt && S->opt->entry)
            err(S, at, "no function '%s' (named by --entry)", name);
        else
            err(S, at, "no function 'main' (define one, or name the entry with --entry)");
        return;
    }
    FnInfo *f = &S->fns[fi];
    S->m->entry = f->ir;
    for (int k = 0; k < f->decl->nparams; k++) {
        ParamAst *pa = f->decl->params[k];
        if (pa->pl)
            continue;
        if (S->mesh_ok)
            err(S, pa->loc, "parameter '%s' of the entry function '%s' needs a placement, as in "
                "`%s: %s @ %s`", pa->name, name, pa->name,
                f->sig_ok ? tstr(S, &f->ptypes[k]) : "...", example_pl(S));
        else if (S->mesh)
            err(S, pa->loc, "parameter '%s' of the entry function '%s' needs a placement (@ %s[...])",
                pa->name, name, S->mesh->name);
        else
            err(S, pa->loc, "parameter '%s' of the entry function '%s' needs a placement "
                "(and the program needs a mesh, as in `mesh M[x=2];`)", pa->name, name);
    }
    if (!S->mesh)
        err(S, f->decl->loc, "the program declares no mesh (add one, as in `mesh M[x=2];`)");
}

IrModule *fe_sema(Arena *a, Diag *d, Program *p, const FeOptions *opt)
{
    if (!p)
        return NULL;
    Sema s;
    memset(&s, 0, sizeof s);
    Sema *S = &s;
    S->a = a;
    S->d = d;
    S->opt = opt;
    S->p = p;
    S->m = ir_module_new(a);
    S->first_decl = fe_names_new(a);
    S->const_of = fe_names_new(a);
    S->fn_of = fe_names_new(a);

    collect_globals(S);
    eval_consts(S); /* before the mesh, whose sizes may name consts */
    check_mesh(S);
    /* every signature before any body: calls need their callee's types */
    for (int k = 0; k < S->nfns; k++) {
        S->cur = &S->fns[k];
        S->scope = NULL;
        S->locals = S->cur->locals = fe_names_new(a);
        check_signature(S, S->cur);
        S->cur->params = S->scope;
    }
    for (int k = 0; k < S->nfns; k++) {
        S->cur = &S->fns[k];
        S->scope = S->cur->params;
        S->locals = S->cur->locals;
        check_body(S, S->cur);
    }
    S->cur = NULL;
    S->scope = NULL;
    S->locals = NULL;
    int *path = arena_alloc(a, sizeof *path * (size_t)(S->nfns + 1));
    int *edge = arena_alloc(a, sizeof *edge * (size_t)(S->nfns + 1));
    for (int k = 0; k < S->nfns; k++)
        if (S->fns[k].color == 0)
            find_cycles(S, k, path, edge);
    check_entry(S);

    bool failed = S->ngroups > 0;
    flush_msgs(S);
    return failed ? NULL : S->m;
}

/* ---- services for the family files (sema_internal.h) ---------------------------- */
Arena *sema_arena(Sema *S) { return S->a; }

void sema_err(Sema *S, SrcLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(S, loc, false, fmt, ap);
    va_end(ap);
}

const char *sema_tstr(Sema *S, const IrType *t) { return tstr(S, t); }
IrValue *sema_tensor_arg(Sema *S, const Expr *e) { return tensor_arg(S, e); }
bool sema_eval_int(Sema *S, const Expr *e, const char *what, int64_t *out) { return eval_int(S, e, what, out); }
SVal sema_eval_num(Sema *S, const Expr *e) { return eval_num(S, e); }
bool sema_check_kws(Sema *S, const Expr *call, const char *allowed) { return check_kws(S, call, allowed); }
const Expr *sema_find_kw(const Expr *call, const char *kw, SrcLoc *loc) { return find_kw(call, kw, loc); }

IrValue *sema_emit(Sema *S, SrcLoc loc, const SrcLoc *argloc, IrOp op, int nargs, IrValue **args,
                   const IrAttrs *at, DType dtype)
{
    return emit(S, loc, argloc, op, nargs, args, at, dtype);
}
