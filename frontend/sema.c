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
 * A function with shape variables (f32[*S], a generic one) has no IrFunc
 * of its own: each call binds the variables to its arguments' shapes, and
 * the first call with a binding checks and lowers the function for it (an
 * instance, an IrFunc named like sgd__S_4_8, that later calls with the
 * same binding share), in the middle of the caller's body; instance_for
 * saves and restores the walk's state around it.  An instance's calls are
 * its generic function's edges in the call graph, so recursion through
 * generic functions is found as any other.  An error inside an instance
 * says which calls bound its shapes; the same error in two instances is
 * reported once.
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


Arena *sema_arena(Sema *S) { return S->a; }

/* Where instructions go: the innermost loop body, else the function. */
IrFunc *sema_target_fn(Sema *S) { return S->loop ? S->loop->body : S->cur->ir; }

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
    S->msgs[S->nmsgs++] = (Msg){loc, text, S->ngroups, note, S->cur && S->cur->base ? S->cur : NULL};
}

void sema_err(Sema *S, SrcLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(S, loc, false, fmt, ap);
    va_end(ap);
}

/* A note attached to the last error. */
void sema_note(Sema *S, SrcLoc loc, const char *fmt, ...)
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

/* An error to sort: its file (the program's first, then the imported ones
 * in load order), its position, then the order it was reported in. */
typedef struct MsgKey {
    int file;
    SrcLoc loc;
    int first; /* index in msgs */
} MsgKey;

static int key_cmp(const void *x, const void *y)
{
    const MsgKey *a = x, *b = y;
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    int c = loc_cmp(a->loc, b->loc);
    return c ? c : (a->first > b->first) - (a->first < b->first);
}

/* The rank of the file of `loc` among the program's files (0: the
 * program's own, and no file). */
static int file_rank(const Sema *S, SrcLoc loc)
{
    for (int k = 1; loc.file && k < S->p->nfiles; k++)
        if (loc.file == S->p->files[k] || !strcmp(loc.file, S->p->files[k]))
            return k;
    return 0;
}

/* Hands the buffered messages to the Diag, errors by position (stable). */
static void flush_msgs(Sema *S)
{
    int ng = S->ngroups;
    MsgKey *keys = arena_alloc(S->a, sizeof *keys * (size_t)(ng + 1));
    for (int k = 0; k < S->nmsgs; k++)
        if (!S->msgs[k].note)
            keys[S->msgs[k].group - 1] = (MsgKey){file_rank(S, S->msgs[k].loc), S->msgs[k].loc, k};
    qsort(keys, (size_t)ng, sizeof *keys, key_cmp);
    for (int g = 0; g < ng; g++) {
        int k = keys[g].first;
        /* the same error in two instances of a generic function: once */
        if (g > 0) {
            const Msg *prev = &S->msgs[keys[g - 1].first];
            if (!loc_cmp(prev->loc, S->msgs[k].loc) && keys[g - 1].file == keys[g].file
                && !strcmp(prev->text, S->msgs[k].text))
                continue;
        }
        diag_error(S->d, S->msgs[k].loc, "%s", S->msgs[k].text);
        const FnInfo *inst = S->msgs[k].inst;
        for (k++; k < S->nmsgs && S->msgs[k].note; k++)
            diag_note(S->d, S->msgs[k].loc, "%s", S->msgs[k].text);
        /* inside a generic function: which call (and the calls around it) bound its shapes */
        for (; inst; inst = inst->caller)
            diag_note(S->d, inst->call, "in '%s' with %s, called here", inst->decl->name, inst->binding);
    }
    S->nmsgs = 0;
    S->ngroups = 0;
}

SrcLoc sema_noloc(void)
{
    return (SrcLoc){NULL, 0, 0};
}

const char *sema_tstr(Sema *S, const IrType *t)
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

const char *sema_suggest_str(Sema *S, const Suggest *g)
{
    return g->best ? arena_printf(S->a, " (did you mean '%s'?)", g->best) : "";
}


static const char *const init_names[] = {"randn", "rand", "zeros", "ones", "full", "arange", "load"};
#define NINITS ((int)(sizeof init_names / sizeof init_names[0]))

bool sema_is_init_name(const char *name)
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
bool sema_check_kws(Sema *S, const Expr *call, const char *allowed)
{
    bool ok = true;
    for (int k = 0; k < call->nkw; k++) {
        const char *kw = call->kw_names[k];
        if (!word_in(allowed, kw)) {
            if (*allowed)
                sema_err(S, call->kw_locs[k], "%s: unknown argument '%s' (expected %s)", call->name, kw,
                         words_str(S, allowed));
            else
                sema_err(S, call->kw_locs[k], "%s: unknown argument '%s' (%s takes no keyword arguments)",
                         call->name, kw, call->name);
            ok = false;
            continue;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(call->kw_names[j], kw)) {
                sema_err(S, call->kw_locs[k], "%s: argument '%s' given twice", call->name, kw);
                ok = false;
                break;
            }
    }
    return ok;
}

const Expr *sema_find_kw(const Expr *call, const char *kw, SrcLoc *loc)
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

Binding *sema_find_local(Sema *S, const char *name)
{
    return S->locals ? fe_names_get(S->locals, name) : NULL;
}

void sema_bind(Sema *S, const char *name, SVal v)
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
void sema_restore_scope(Sema *S, Binding *saved)
{
    for (Binding *b = S->scope; b && b != saved; b = b->next)
        fe_names_put(S->locals, b->name, b->shadow);
    S->scope = saved;
}

/* Every name visible at this point, for suggestions. */
void sema_suggest_values(Sema *S, Suggest *g)
{
    for (Binding *b = S->scope; b; b = b->next)
        suggest(g, b->name);
    for (int k = 0; k < S->nconsts; k++)
        suggest(g, S->consts[k].decl->name);
}

/* ---- compile-time numbers ----------------------------------------------------------- */
bool sema_is_num(SVal v)
{
    return v.k == SV_INT || v.k == SV_FLOAT;
}

double sema_num_f(SVal v)
{
    return v.k == SV_INT ? (double)v.i : v.f;
}

/* A float prints with a '.' or an exponent so it never reads as an integer. */
const char *sema_float_str(Sema *S, double f)
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

const char *sema_num_str(Sema *S, SVal v)
{
    return v.k == SV_INT ? arena_printf(S->a, "%lld", (long long)v.i) : sema_float_str(S, v.f);
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
                sema_err(S, loc, "division by zero in a constant expression");
                return sv_err;
            }
            if (x.i == INT64_MIN && y.i == -1) {
                over = true;
                break;
            }
            if (x.i % y.i != 0) {
                sema_err(S, loc, "integer division %lld / %lld is not exact (write %lld.0 / %lld for a float)",
                         (long long)x.i, (long long)y.i, (long long)x.i, (long long)y.i);
                return sv_err;
            }
            r = x.i / y.i;
            break;
        }
        if (over) {
            sema_err(S, loc, "integer overflow in a constant expression");
            return sv_err;
        }
        return sv_int(r);
    }
    double a = sema_num_f(x), b = sema_num_f(y), r;
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
            sema_err(S, loc, "division by zero in a constant expression");
            return sv_err;
        }
        r = a / b;
        break;
    }
    if (!isfinite(r)) {
        sema_err(S, loc, "constant expression overflows");
        return sv_err;
    }
    if (r == 0 && (op == '*' || op == '/') && a != 0 && b != 0) {
        sema_err(S, loc, "constant expression underflows to 0");
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
    if ((op == OP_FLOORDIV || op == OP_MOD) && n == 2 && sema_num_f(v[1]) == 0.0) {
        sema_err(S, loc, "division by zero in a constant expression");
        return sv_err;
    }
    if (ints) {
        int64_t x[3] = {0, 0, 0};
        for (int k = 0; k < n; k++) {
            x[k] = v[k].i;
            if (x[k] < -(INT64_C(1) << 62) || x[k] > (INT64_C(1) << 62)) {
                sema_err(S, loc, "integer overflow in a constant expression");
                return sv_err;
            }
        }
        return sv_int(ir_ew_eval_i(op, x[0], x[1], x[2]));
    }
    double x[3] = {0, 0, 0};
    for (int k = 0; k < n; k++)
        x[k] = sema_num_f(v[k]);
    double r = ir_ew_eval(op, x[0], x[1], x[2], f);
    if (!isfinite(r)) {
        sema_err(S, loc, "%s of a constant is %s", ir_op_name(op), isnan(r) ? "not a number" : "infinite");
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
SVal sema_eval_num(Sema *S, const Expr *e)
{
    switch (e->kind) {
    case E_INT:
        return sv_int(e->ival);
    case E_FLOAT:
        return sv_float(e->fval);
    case E_NAME: {
        Binding *b = sema_find_local(S, e->name);
        if (b) {
            if (b->val.k == SV_ERR || sema_is_num(b->val))
                return b->val;
            sema_err(S, e->loc, "'%s' is a tensor, not a constant", e->name);
            return sv_err;
        }
        int c = find_const(S, e->name);
        if (c >= 0)
            return const_value(S, c, e->loc);
        if (find_fn(S, e->name) >= 0) {
            sema_err(S, e->loc, "'%s' is a function, not a constant", e->name);
            return sv_err;
        }
        Suggest g = {e->name, NULL, 99};
        sema_suggest_values(S, &g);
        sema_err(S, e->loc, "unknown name '%s'%s", e->name, sema_suggest_str(S, &g));
        return sv_err;
    }
    case E_UNARY: {
        SVal x = sema_eval_num(S, e->lhs);
        if (x.k == SV_INT) {
            if (x.i == INT64_MIN) {
                sema_err(S, e->loc, "integer overflow in a constant expression");
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
        SVal x = sema_eval_num(S, leaf);
        for (int k = 0; k < n; k++) {
            const Expr *op = spine[k];
            SVal y = sema_eval_num(S, op->rhs);
            if (x.k == SV_ERR || y.k == SV_ERR) {
                x = sv_err;
            } else if (op->op == '@') {
                sema_err(S, op->loc, "'@' (matmul) needs tensor operands, not constants");
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
        sema_err(S, e->loc, "expected a number, got %s", e->ival ? "true" : "false");
        return sv_err;
    case E_STRING:
        sema_err(S, e->loc, "expected a number, got a string");
        return sv_err;
    case E_LIST:
        sema_err(S, e->loc, "expected a number, got a list");
        return sv_err;
    case E_CALL: {
        /* the elementwise functions (sqrt, exp, sin, floor, ...) on numbers */
        const IrEwInfo *ew = ir_ew_by_surface(e->name);
        if (!ew && strcmp(e->name, "gelu") != 0) {
            sema_err(S, e->loc, "expected a constant number, got a call to '%s'", e->name);
            return sv_err;
        }
        int want = ew ? ew->nargs : 1;
        if (e->nargs != want || e->nkw > 0) {
            sema_err(S, e->loc, "%s takes %d argument%s in a constant expression, got %d", e->name, want,
                     want == 1 ? "" : "s", e->nargs + e->nkw);
            return sv_err;
        }
        SVal v[3];
        for (int k = 0; k < want; k++)
            if ((v[k] = sema_eval_num(S, e->args[k])).k == SV_ERR)
                return sv_err;
        return ew_fold(S, e->loc, ew ? ew->op : OP_GELU, v, want, 0.0);
    }
    case E_INDEX:
        sema_err(S, e->loc, "expected a constant number, got '%s'", fe_expr_str(S->a, e));
        return sv_err;
    case E_SLICE:
        sema_err(S, e->loc, "a slice a:b can only be a subscript, as in x[a:b]");
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
    SVal v = sema_eval_num(S, c->decl->value);
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
        sema_err(S, use, "constant '%s' is defined in terms of itself", c->decl->name);
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
bool sema_eval_int(Sema *S, const Expr *e, const char *what, int64_t *out)
{
    SVal v = sema_eval_num(S, e);
    if (v.k == SV_ERR)
        return false;
    if (v.k != SV_INT) {
        sema_err(S, e->loc, "%s must be an integer, got %s", what, sema_num_str(S, v));
        return false;
    }
    *out = v.i;
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
IrValue *sema_emit(Sema *S, SrcLoc loc, const SrcLoc *argloc, IrOp op, int nargs, IrValue **args,
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
        sema_err(S, c >= 0 && c < nargs ? argloc[c] : loc, "%s", msg);
        return NULL;
    }
    IrInst *i = ir_inst_new(S->m, sema_target_fn(S), NULL, op, nargs, args, 1, &out);
    if (at)
        i->a = *at;
    i->loc = loc;
    return i->res[0];
}

/* A number as an OP_CONST scalar of dtype dt. */
IrValue *sema_materialise(Sema *S, SVal v, DType dt, SrcLoc loc)
{
    if (dt == DT_I32) {
        if (v.k != SV_INT) {
            sema_err(S, loc, "the float constant %s is used with an i32 operand", sema_num_str(S, v));
            return NULL;
        }
        if (v.i < INT32_MIN || v.i > INT32_MAX) {
            sema_err(S, loc, "the constant %lld does not fit in i32", (long long)v.i);
            return NULL;
        }
    } else if (!sema_float_fits(S, loc, sema_num_f(v), sema_num_str(S, v), dt)) {
        return NULL;
    }
    IrAttrs at;
    memset(&at, 0, sizeof at);
    at.f = sema_num_f(v);
    return sema_emit(S, loc, NULL, OP_CONST, 0, NULL, &at, dt);
}

/* The dtype a number takes when nothing else decides it. */
static DType default_dtype(SVal v)
{
    return v.k == SV_INT ? DT_I32 : DT_F32;
}

IrValue *sema_emit_redistribute(Sema *S, SrcLoc loc, IrValue *x, Placement pl, const char *name,
                                  const char *why)
{
    IrInst *i = ir_inst_new(S->m, sema_target_fn(S), NULL, OP_REDISTRIBUTE, 1, &x, 1, &x->type);
    i->loc = loc;
    i->why = why;
    i->res[0]->pl = pl;
    i->res[0]->pinned = true;
    i->res[0]->name = name;
    return i->res[0];
}

/* ---- expressions --------------------------------------------------------------------- */

/* One value: a multi-result call is an error here. */
SVal sema_single(Sema *S, SVal v, const Expr *e)
{
    if (v.k != SV_MULTI)
        return v;
    if (v.n == 0) {
        sema_err(S, e->loc, "'%s' declares no result, so it has no value", v.callee);
        return sv_err;
    }
    sema_err(S, e->loc, "'%s' returns %d results; bind them with let, as in `let a, b = %s(...);`",
             v.callee, v.n, v.callee);
    return sv_err;
}

/* A tensor operand: numbers become constants of dtype dt (or their default
 * dtype when dt < 0).  NULL: failed (reported). */
static IrValue *tensor_of(Sema *S, SVal v, const Expr *e, int dt)
{
    if (v.k == SV_TENSOR)
        return v.v;
    if (sema_is_num(v))
        return sema_materialise(S, v, dt >= 0 ? (DType)dt : default_dtype(v), e->loc);
    return NULL;
}

IrValue *sema_tensor_arg(Sema *S, const Expr *e)
{
    SVal v = sema_single(S, sema_check_expr(S, e), e);
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

/* l op r for the operators and maximum/minimum, l (of le) already checked. */
static SVal binary_with(Sema *S, SrcLoc loc, IrOp op, SVal l, const Expr *le, const Expr *re)
{
    if (op != OP_ADD && op != OP_SUB && op != OP_MUL && op != OP_DIV && op != OP_MATMUL) {
        const Expr *es[2] = {le, re};
        return sema_ew_apply(S, loc, op, es, 2, 0.0, &l);
    }
    SVal r = sema_single(S, sema_check_expr(S, re), re);
    if (l.k == SV_ERR || r.k == SV_ERR)
        return sv_err;
    if (op == OP_MATMUL && (sema_is_num(l) || sema_is_num(r))) {
        sema_err(S, sema_is_num(l) ? le->loc : re->loc, "'@' (matmul) needs tensor operands, not a number");
        return sv_err;
    }
    if (sema_is_num(l) && sema_is_num(r)) {
        if (op == OP_MAXIMUM || op == OP_MINIMUM) {
            bool pick_l = op == OP_MAXIMUM ? sema_num_f(l) >= sema_num_f(r) : sema_num_f(l) <= sema_num_f(r);
            SVal v = pick_l ? l : r;
            if (l.k == SV_FLOAT || r.k == SV_FLOAT)
                return sv_float(sema_num_f(v));
            return v;
        }
        char c = op == OP_ADD ? '+' : op == OP_SUB ? '-' : op == OP_MUL ? '*' : '/';
        return fold(S, loc, c, l, r);
    }
    /* a number takes the other operand's dtype */
    IrValue *a = tensor_of(S, l, le, sema_is_num(l) ? (int)r.v->type.dtype : -1);
    IrValue *b = tensor_of(S, r, re, sema_is_num(r) ? (int)l.v->type.dtype : -1);
    if (!a || !b)
        return sv_err;
    IrValue *args[2] = {a, b};
    SrcLoc locs[2] = {le->loc, re->loc};
    return sv_tensor(sema_emit(S, loc, locs, op, 2, args, NULL, DT_F32));
}

/* a op b op c ...: along the chain in a loop (see left_spine). */
static SVal binary_chain(Sema *S, const Expr *e)
{
    int n;
    const Expr *leaf;
    const Expr **spine = left_spine(S, e, &n, &leaf);
    SVal acc = sema_single(S, sema_check_expr(S, leaf), leaf);
    for (int k = 0; k < n; k++)
        acc = binary_with(S, spine[k]->loc, binop_of(spine[k]->op), acc, spine[k]->lhs, spine[k]->rhs);
    return acc;
}


/* ---- the elementwise family and the sources ---------------------------------------- */

/* op(es...) for a row of ir/ops_ew.def: numbers fold (ew_fold); otherwise a
 * number takes the dtype of the tensor operands (for where: of the chosen
 * values; its condition keeps its own).  pre: es[0]'s value when the
 * caller checked it already (an operator chain), else NULL. */
SVal sema_ew_apply(Sema *S, SrcLoc loc, IrOp op, const Expr *const *es, int n, double f,
                     const SVal *pre)
{
    const IrEwInfo *row = ir_ew_info(op);
    DTC_ASSERT(row && n == row->nargs && n <= 3);
    SVal v[3];
    bool bad = false, nums = true;
    for (int k = 0; k < n; k++) {
        v[k] = k == 0 && pre ? *pre : sema_single(S, sema_check_expr(S, es[k]), es[k]);
        bad |= v[k].k == SV_ERR;
        nums &= sema_is_num(v[k]);
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
    return sv_tensor(sema_emit(S, loc, locs, op, n, args, &at, DT_F32));
}


static void add_edge(Sema *S, int callee, SrcLoc loc)
{
    FnInfo *f = S->cur->base ? S->cur->base : S->cur; /* an instance's calls are its generic's */
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

static void check_signature(Sema *S, FnInfo *f);
static void check_body(Sema *S, FnInfo *f);

/* The dims of t joined by sep: "4x8" (a binding's key), "4, 8" (messages). */
static const char *dims_joined(Sema *S, const IrType *t, const char *sep)
{
    const char *s = "";
    for (int k = 0; k < t->rank; k++)
        s = arena_printf(S->a, "%s%s%lld", s, k ? sep : "", (long long)t->dims[k]);
    return s;
}

static bool same_shape(const IrType *a, const IrType *b)
{
    return a->rank == b->rank && !memcmp(a->dims, b->dims, sizeof a->dims[0] * (size_t)a->rank);
}

/* The instance of generic function fi for the arguments vals of call e
 * (already checked; none SV_ERR): binds each shape variable to the shape
 * of the first argument whose parameter uses it (a number binds a scalar
 * when nothing else does), reports a disagreeing argument, and checks the
 * function for that binding at the first call with it.  NULL: reported
 * (or a recursion, which the call graph reports). */
static FnInfo *instance_for(Sema *S, const Expr *e, int fi, const SVal *vals)
{
    FnInfo *f = &S->fns[fi];
    Decl *fd = f->decl;
    FeNames *shapes = fe_names_new(S->a);
    int *bound_by = arena_alloc(S->a, sizeof *bound_by * (size_t)(fd->nparams + 1));
    const char **order = arena_alloc(S->a, sizeof *order * (size_t)(fd->nparams + 1));
    int nvars = 0;
    bool ok = true;
    for (int pass = 0; pass < 2; pass++) /* tensors first, then numbers */
        for (int k = 0; k < fd->nparams; k++) {
            const char *var = fd->params[k]->type->shape_var;
            if (!var || sema_is_num(vals[k]) != (pass == 1))
                continue;
            IrType t;
            memset(&t, 0, sizeof t);
            if (pass == 0)
                t = vals[k].v->type;
            const IrType *have = fe_names_get(shapes, var);
            if (!have) {
                IrType *nt = arena_alloc(S->a, sizeof *nt);
                *nt = t;
                fe_names_put(shapes, var, nt);
                bound_by[nvars] = k;
                order[nvars++] = var;
                continue;
            }
            if (same_shape(have, &t))
                continue;
            int first = 0;
            while (strcmp(order[first], var))
                first++;
            int b = bound_by[first];
            if (pass == 0)
                sema_err(S, e->args[k]->loc, "argument %d of '%s' (parameter '%s') has shape [%s], but *%s "
                         "is [%s], bound by argument %d (parameter '%s')", k + 1, fd->name,
                         fd->params[k]->name, dims_joined(S, &t, ", "), var, dims_joined(S, have, ", "), b + 1,
                         fd->params[b]->name);
            else
                sema_err(S, e->args[k]->loc, "argument %d of '%s' (parameter '%s') is the number %s, but *%s "
                         "is [%s], bound by argument %d (parameter '%s')", k + 1, fd->name,
                         fd->params[k]->name, sema_num_str(S, vals[k]), var, dims_joined(S, have, ", "), b + 1,
                         fd->params[b]->name);
            sema_note(S, fd->params[k]->loc, "'%s' is declared %s[*%s] here", fd->params[k]->name,
                      fd->params[k]->type->dtype, var);
            ok = false;
        }
    if (!ok)
        return NULL;
    const char *key = "", *suffix = "", *binding = "";
    for (int v = 0; v < nvars; v++) {
        const IrType *t = fe_names_get(shapes, order[v]);
        binding = arena_printf(S->a, "%s%s*%s = [%s]", binding, v ? ", " : "", order[v], dims_joined(S, t, ", "));
        key = arena_printf(S->a, "%s%s=%s;", key, order[v], dims_joined(S, t, "x"));
        suffix = arena_printf(S->a, "%s_%s", suffix, order[v]);
        for (int k = 0; k < t->rank; k++)
            suffix = arena_printf(S->a, "%s_%lld", suffix, (long long)t->dims[k]);
    }
    FnInfo *g = fe_names_get(f->instances, key);
    if (g)
        return g;
    if (f->instantiating > 0)
        return NULL; /* a generic calling itself with a new shape: the call graph says recursion */
    g = arena_alloc(S->a, sizeof *g);
    memset(g, 0, sizeof *g);
    g->decl = fd;
    g->base = f;
    g->shapes = shapes;
    g->binding = binding;
    g->call = e->loc;
    g->caller = S->cur && S->cur->base ? S->cur : NULL;
    const char *name = arena_printf(S->a, "%s_%s", fd->name, suffix);
    for (int n = 2; fe_names_get(S->fn_of, name); n++)
        name = arena_printf(S->a, "%s_%s_%d", fd->name, suffix, n);
    g->ir = ir_func_new(S->m, name);
    g->ir->loc = fd->loc;
    fe_names_put(f->instances, key, g);
    /* check it as a function of its own, then carry on where we were */
    FnInfo *cur = S->cur;
    Binding *scope = S->scope;
    FeNames *locals = S->locals, *outer_shapes = S->shapes;
    LoopCtx *loop = S->loop;
    UnrollCtx *unroll = S->unroll;
    S->unroll = NULL;
    S->cur = g;
    S->scope = NULL;
    S->locals = g->locals = fe_names_new(S->a);
    S->loop = NULL;
    S->shapes = shapes;
    check_signature(S, g);
    g->params = S->scope;
    f->instantiating++;
    check_body(S, g);
    f->instantiating--;
    S->cur = cur;
    S->scope = scope;
    S->locals = locals;
    S->shapes = outer_shapes;
    S->loop = loop;
    S->unroll = unroll;
    return g;
}

/* A call of user function fi; *used (if not NULL): the function whose
 * types it checked against (for a generic one, the instance). */
static SVal user_call(Sema *S, const Expr *e, int fi, FnInfo **used)
{
    FnInfo *f = &S->fns[fi];
    Decl *fd = f->decl;
    add_edge(S, fi, e->loc);
    if (S->cur->local && f->local) {
        sema_err(S, e->loc, "local fn '%s' calls local fn '%s': call local fns from global code",
                 S->cur->decl->name, fd->name);
        return sv_err;
    }
    bool ok = true;
    if (e->nkw > 0) {
        sema_err(S, e->kw_locs[0], "'%s' is a user function: pass its arguments by position", fd->name);
        ok = false;
    }
    if (e->nargs != fd->nparams && e->nargs + e->nkw != fd->nparams) {
        sema_err(S, e->nargs > fd->nparams ? e->args[fd->nparams]->loc : e->loc,
                 "'%s' takes %d argument%s, got %d", fd->name, fd->nparams, fd->nparams == 1 ? "" : "s",
                 e->nargs);
        sema_note(S, fd->loc, "'%s' is defined here", fd->name);
        ok = false;
    }
    IrValue **args = arena_alloc(S->a, sizeof *args * (size_t)(e->nargs ? e->nargs : 1));
    SVal *vals = arena_alloc(S->a, sizeof *vals * (size_t)(e->nargs ? e->nargs : 1));
    for (int k = 0; k < e->nargs; k++) {
        vals[k] = sema_single(S, sema_check_expr(S, e->args[k]), e->args[k]);
        if (vals[k].k == SV_ERR)
            ok = false;
    }
    if (f->generic)
        f = ok && f->sig_ok ? instance_for(S, e, fi, vals) : NULL;
    for (int k = 0; k < e->nargs; k++) {
        SVal v = vals[k];
        if (v.k == SV_ERR || k >= fd->nparams || !f || !f->sig_ok)
            continue;
        const IrType *pt = &f->ptypes[k];
        if (sema_is_num(v)) {
            if (pt->rank != 0) {
                sema_err(S, e->args[k]->loc, "argument %d of '%s' must be %s, got the number %s", k + 1,
                         fd->name, sema_tstr(S, pt), sema_num_str(S, v));
                ok = false;
                continue;
            }
            if (!(args[k] = sema_materialise(S, v, pt->dtype, e->args[k]->loc)))
                ok = false;
            continue;
        }
        args[k] = v.v;
        if (!ir_type_eq(&v.v->type, pt)) {
            sema_err(S, e->args[k]->loc, "argument %d of '%s' (parameter '%s') must be %s, got %s", k + 1,
                     fd->name, fd->params[k]->name, sema_tstr(S, pt), sema_tstr(S, &v.v->type));
            ok = false;
        }
    }
    if (!ok || !f || !f->sig_ok)
        return sv_err;
    if (used)
        *used = f;
    if (f->local)
        return sema_local_user_call(S, e, f, args);
    IrInst *i = ir_inst_new(S->m, sema_target_fn(S), NULL, OP_CALL, e->nargs, args, fd->nresults, f->rtypes);
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
    bool seeded = e->nargs == 0 && sema_find_kw(e, "seed", NULL);
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
        return arena_printf(S->a, "%s: %s @ %s = %s", name, type, sema_example_pl(S), init_example(S, e));
    return arena_printf(S->a, "%s: %s = %s", name, type, init_example(S, e));
}

static void init_in_body(Sema *S, const Expr *e, const char *name, const char *type)
{
    const char *fn = S->cur ? S->cur->decl->name : "the function";
    if (name)
        sema_err(S, e->loc, "'%s' is an initialiser: it can only be a parameter's default; make '%s' a "
                 "parameter of '%s' instead, as in `%s`", e->name, name, fn,
                 init_param_example(S, name, type, e));
    else
        sema_err(S, e->loc, "'%s' is an initialiser: it can only be a parameter's default; add a "
                 "parameter to '%s', as in `%s`, and use it here", e->name, fn,
                 init_param_example(S, "init", type, e));
}

/* value_and_grad(f, a0, a1, ..., wrt=[i, ...]): f's (scalar float) value
 * and its gradient with respect to arguments i, ... (default wrt=0), as one
 * OP_GRAD instruction; passes/grad.c builds the backward program. */
static SVal grad_call(Sema *S, const Expr *e)
{
    if (e->nargs < 1 || e->args[0]->kind != E_NAME || find_fn(S, e->args[0]->name) < 0) {
        sema_err(S, e->nargs ? e->args[0]->loc : e->loc,
                 "value_and_grad needs a user function first, as in value_and_grad(loss, w, x, wrt=[0])");
        return sv_err;
    }
    int fi = find_fn(S, e->args[0]->name);
    FnInfo *f = &S->fns[fi];
    Decl *fd = f->decl;
    sema_local_mark_global(S, e->loc, "value_and_grad");
    sema_local_note_grad(S, fi, e->loc);
    if (f->local || S->cur->local) {
        sema_err(S, e->loc, "value_and_grad %s a local fn is not supported (v0)",
                 f->local ? "of" : "inside");
        return sv_err;
    }
    int64_t wrt[IR_MAX_RANK * 8];
    int nwrt = 0;
    bool ok = true;
    const Expr *wl = NULL;
    SrcLoc wloc = e->loc;
    for (int k = 0; k < e->nkw; k++) {
        if (strcmp(e->kw_names[k], "wrt")) {
            sema_err(S, e->kw_locs[k], "value_and_grad has no parameter '%s' (only wrt=[...])", e->kw_names[k]);
            ok = false;
            continue;
        }
        wl = e->kw_vals[k];
        wloc = e->kw_locs[k];
    }
    if (!wl) {
        wrt[nwrt++] = 0;
    } else {
        int n = wl->kind == E_LIST ? wl->nargs : 1;
        for (int k = 0; k < n && ok; k++) {
            const Expr *x = wl->kind == E_LIST ? wl->args[k] : wl;
            SVal v = sema_check_expr(S, x);
            if (v.k != SV_INT) {
                if (v.k != SV_ERR)
                    sema_err(S, x->loc, "wrt: expected an argument index (an integer)");
                ok = false;
                break;
            }
            if (v.i < 0 || v.i >= fd->nparams) {
                sema_err(S, x->loc, "wrt: argument index %lld out of range: '%s' takes %d argument%s",
                         (long long)v.i, fd->name, fd->nparams, fd->nparams == 1 ? "" : "s");
                ok = false;
                break;
            }
            for (int j = 0; j < nwrt; j++)
                if (wrt[j] == v.i) {
                    sema_err(S, x->loc, "wrt: argument index %lld listed twice", (long long)v.i);
                    ok = false;
                }
            if ((size_t)nwrt == sizeof wrt / sizeof wrt[0]) {
                sema_err(S, x->loc, "wrt: too many entries");
                ok = false;
                break;
            }
            wrt[nwrt++] = v.i;
        }
        if (ok && nwrt == 0) {
            sema_err(S, wloc, "wrt: needs at least one argument index");
            ok = false;
        }
    }
    Expr inner = *e;
    inner.name = fd->name;
    inner.args = e->args + 1;
    inner.nargs = e->nargs - 1;
    inner.nkw = 0;
    SVal call = user_call(S, &inner, fi, &f); /* f: the instance of a generic function */
    if (call.k == SV_ERR)
        return sv_err;
    if (fd->nresults != 1 || f->rtypes[0].rank != 0 || !ir_dtype_is_float(f->rtypes[0].dtype)) {
        sema_err(S, e->args[0]->loc, "value_and_grad: '%s' must return one scalar f32 or f64, it returns %s",
                 fd->name, fd->nresults == 1 ? sema_tstr(S, &f->rtypes[0]) : "several values");
        sema_note(S, fd->loc, "'%s' is defined here", fd->name);
        ok = false;
    }
    for (int k = 0; ok && k < nwrt; k++)
        if (!ir_dtype_is_float(f->ptypes[wrt[k]].dtype)) {
            sema_err(S, wl ? wloc : e->loc, "wrt: argument %lld of '%s' (parameter '%s') is %s: only float "
                     "arguments have a gradient", (long long)wrt[k], fd->name, fd->params[wrt[k]]->name,
                     sema_tstr(S, &f->ptypes[wrt[k]]));
            ok = false;
        }
    if (!ok || call.k != SV_TENSOR)
        return sv_err;
    IrInst *c = call.v->def;
    IrType *types = arena_alloc(S->a, sizeof *types * (size_t)(nwrt + 1));
    types[0] = f->rtypes[0];
    for (int k = 0; k < nwrt; k++)
        types[k + 1] = f->ptypes[wrt[k]];
    IrInst *g = ir_inst_new(S->m, sema_target_fn(S), c, OP_GRAD, c->nargs, c->args, nwrt + 1, types);
    g->loc = e->loc;
    g->a.callee = c->a.callee;
    g->a.fn = c->a.fn;
    int64_t *w = ir_attrs_ints(S->a, &g->a, nwrt);
    for (int k = 0; k < nwrt; k++)
        w[k] = wrt[k];
    ir_inst_remove(sema_target_fn(S), c);
    SVal v = sv_err;
    v.k = SV_MULTI;
    v.n = nwrt + 1;
    v.vs = g->res;
    v.callee = "value_and_grad";
    return v;
}

static SVal call_expr(Sema *S, const Expr *e)
{
    if (!strcmp(e->name, "value_and_grad") && find_fn(S, e->name) < 0)
        return grad_call(S, e);
    if (!strcmp(e->name, "redistribute") && S->cur)
        sema_local_mark_global(S, e->loc, "redistribute");
    if (!strcmp(e->name, "redistribute") && S->cur && S->cur->local) {
        sema_err(S, e->loc, "redistribute in local fn '%s': its values are per-rank shards with no placement "
                 "(move data with the explicit collectives)", S->cur->decl->name);
        return sv_err;
    }
    if (sema_is_op_builtin(e->name))
        return sema_op_call(S, e);
    int fi = find_fn(S, e->name);
    if (fi >= 0)
        return user_call(S, e, fi, NULL);
    if (sema_local_is_collective(e->name))
        return sema_local_call(S, e);
    if (sema_is_init_name(e->name)) {
        init_in_body(S, e, NULL, "f32[4]");
        return sv_err;
    }
    if (!strcmp(e->name, "S") || !strcmp(e->name, "P") || !strcmp(e->name, "R")) {
        sema_err(S, e->loc, "%s(...) is a placement entry: it only appears inside a placement M[...]", e->name);
        return sv_err;
    }
    if (sema_find_local(S, e->name) || find_const(S, e->name) >= 0) {
        sema_err(S, e->loc, "'%s' is not a function", e->name);
        return sv_err;
    }
    Suggest g = {e->name, NULL, 99};
    for (int k = 0; sema_op_builtin_name(k); k++)
        suggest(&g, sema_op_builtin_name(k));
    for (int k = 0; k < S->nfns; k++)
        suggest(&g, S->fns[k].decl->name);
    sema_err(S, e->loc, "unknown function '%s'%s", e->name, sema_suggest_str(S, &g));
    return sv_err;
}


SVal sema_check_expr(Sema *S, const Expr *e)
{
    switch (e->kind) {
    case E_INT:
        return sv_int(e->ival);
    case E_FLOAT:
        return sv_float(e->fval);
    case E_NAME: {
        if (sema_loop_of_counter(S, e->name)) {
            sema_err(S, e->loc, "'%s' is a loop counter: it can only index a stacked value, as in w[%s]",
                     e->name, e->name);
            return sv_err;
        }
        Binding *b = sema_find_local(S, e->name);
        if (b)
            return sema_binding_value(S, b);
        int c = find_const(S, e->name);
        if (c >= 0)
            return const_value(S, c, e->loc);
        if (find_fn(S, e->name) >= 0)
            sema_err(S, e->loc, "'%s' is a function; call it as %s(...)", e->name, e->name);
        else if (sema_is_op_builtin(e->name))
            sema_err(S, e->loc, "'%s' is a built-in operation; call it as %s(...)", e->name, e->name);
        else if (S->mesh && !strcmp(e->name, S->mesh->name))
            sema_err(S, e->loc, "'%s' is the mesh; it only appears in placements", e->name);
        else {
            Suggest g = {e->name, NULL, 99};
            sema_suggest_values(S, &g);
            sema_err(S, e->loc, "unknown name '%s'%s", e->name, sema_suggest_str(S, &g));
        }
        return sv_err;
    }
    case E_UNARY: {
        SVal x = sema_single(S, sema_check_expr(S, e->lhs), e->lhs);
        if (x.k == SV_INT || x.k == SV_FLOAT)
            return fold(S, e->loc, '-', x.k == SV_INT ? sv_int(0) : sv_float(0), x);
        if (x.k != SV_TENSOR)
            return sv_err;
        SrcLoc l = e->lhs->loc;
        return sv_tensor(sema_emit(S, e->loc, &l, OP_NEG, 1, &x.v, NULL, DT_F32));
    }
    case E_BINARY:
        return binary_chain(S, e);
    case E_CALL:
        return call_expr(S, e);
    case E_BOOL:
        sema_err(S, e->loc, "%s can only be an attribute value, as in keepdims=%s", e->ival ? "true" : "false",
                 e->ival ? "true" : "false");
        return sv_err;
    case E_STRING:
        sema_err(S, e->loc, "a string can only be a file name, as in load(\"w.npy\")");
        return sv_err;
    case E_LIST:
        sema_err(S, e->loc, "a list [...] can only be an argument of a built-in, as in reshape(x, [4, -1]) "
                 "or concat([a, b])");
        return sv_err;
    case E_INDEX:
        if (S->loop && e->nargs == 1 && e->args[0]->kind == E_NAME && sema_loop_of_counter(S, e->args[0]->name))
            return sema_loop_slice(S, e);
        if (e->name && S->mesh && !strcmp(e->name, S->mesh->name) && !sema_find_local(S, e->name)) {
            sema_err(S, e->loc, "'%s[...]': a placement can only appear after '@' or as the second "
                     "argument of redistribute", e->name);
            return sv_err;
        }
        return sema_index(S, e);
    case E_SLICE:
        sema_err(S, e->loc, "a slice a:b can only be a subscript, as in x[a:b]");
        return sv_err;
    }
    return sv_err;
}

/* ---- statements and functions -------------------------------------------------------- */
static void check_let(Sema *S, const Stmt *st)
{
    bool names_ok = true;
    if (st->pl)
        sema_local_mark_global(S, st->pl->loc, "a placement");
    if (st->pl && S->cur->local)
        sema_err(S, st->pl->loc, "a placement inside local fn '%s': its values are per-rank shards (move data "
                 "with the explicit collectives)", S->cur->decl->name);
    for (int k = 0; k < st->nnames; k++)
        for (int j = 0; j < k; j++)
            if (!strcmp(st->names[j], st->names[k])) {
                sema_err(S, st->name_locs[k], "'%s' is bound twice in this let", st->names[k]);
                names_ok = false;
            }
    const Expr *ve = st->value;
    if (st->nnames == 1 && ve->kind == E_CALL && sema_is_init_name(ve->name) && !sema_is_op_builtin(ve->name)
        && find_fn(S, ve->name) < 0) {
        /* `let w = randn(seed=1);`: say how to make w a parameter */
        IrType t;
        bool typed = st->type && sema_resolve_type(S, st->type, &t);
        init_in_body(S, ve, st->names[0], typed ? sema_tstr(S, &t) : "f32[4]");
        sema_bind(S, st->names[0], sv_err);
        return;
    }
    SVal v = sema_check_expr(S, st->value);

    if (st->nnames != 1) {
        if ((st->type || st->pl) && names_ok) {
            sema_err(S, st->type ? st->type->loc : st->pl->loc,
                     "a type or placement on let needs a single name; annotate the results of '%s' instead",
                     st->value->kind == E_CALL ? st->value->name : "the call");
            names_ok = false;
        }
        bool ok = names_ok && v.k != SV_ERR;
        if (ok && v.k != SV_MULTI) {
            sema_err(S, st->value->loc, "let binds %d names but the value is a single %s", st->nnames,
                     sema_is_num(v) ? "number" : "tensor");
            ok = false;
        } else if (ok && v.n != st->nnames) {
            sema_err(S, st->value->loc, "let binds %d names but '%s' returns %d result%s", st->nnames,
                     v.callee, v.n, v.n == 1 ? "" : "s");
            ok = false;
        }
        for (int k = 0; k < st->nnames; k++) {
            if (ok && !v.vs[k]->name)
                v.vs[k]->name = st->names[k];
            sema_bind(S, st->names[k], ok ? sv_tensor(v.vs[k]) : sv_err);
        }
        return;
    }

    const char *name = st->names[0];
    v = sema_single(S, v, st->value);
    IrType t;
    bool type_ok = st->type && sema_resolve_type(S, st->type, &t);
    if (type_ok && v.k != SV_ERR) {
        if (sema_is_num(v)) {
            if (t.rank != 0) {
                sema_err(S, st->type->loc, "'%s' is declared %s but the value is the number %s", name,
                         sema_tstr(S, &t), sema_num_str(S, v));
                v = sv_err;
            } else {
                IrValue *c = sema_materialise(S, v, t.dtype, st->value->loc);
                v = sv_tensor(c);
            }
        } else if (!ir_type_eq(&t, &v.v->type)) {
            sema_err(S, st->type->loc, "'%s' is declared %s but the value is %s", name, sema_tstr(S, &t),
                     sema_tstr(S, &v.v->type));
            v = sv_err;
        }
    }
    if (st->pl) {
        const IrType *pt = type_ok ? &t : v.k == SV_TENSOR ? &v.v->type : NULL;
        if (sema_is_num(v) && !pt) {
            IrValue *c = sema_materialise(S, v, default_dtype(v), st->value->loc);
            v = sv_tensor(c);
            pt = c ? &c->type : NULL;
        }
        Placement pl;
        bool pl_ok = sema_resolve_pl_ast(S, st->pl, pt, false, &pl);
        if (pl_ok && v.k == SV_TENSOR)
            v = sv_tensor(sema_emit_redistribute(S, st->pl->loc, v.v, pl, name, "let placement"));
    } else if (v.k == SV_TENSOR && !v.v->name && v.v->param_index < 0) {
        v.v->name = name;
    }
    sema_bind(S, name, v);
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
        vals[k] = sema_check_expr(S, st->values[k]);
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
            vals[k] = sema_single(S, vals[k], exprs[k]);
    }
    if (n != fd->nresults) {
        sema_err(S, st->loc, "'%s' returns %d value%s but declares %d result%s", fd->name, n,
                 n == 1 ? "" : "s", fd->nresults, fd->nresults == 1 ? "" : "s");
        return;
    }
    IrFunc *irf = f->ir;
    if (f->local) {
        f->ret_locs = arena_alloc(S->a, sizeof *f->ret_locs * (size_t)(n ? n : 1));
        for (int k = 0; k < n; k++)
            f->ret_locs[k] = exprs[k]->loc;
    }
    irf->nresults = n;
    irf->results = arena_alloc(S->a, sizeof *irf->results * (size_t)(n ? n : 1));
    irf->result_names = arena_alloc(S->a, sizeof *irf->result_names * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        if (vals[k].k == SV_ERR || !f->sig_ok)
            continue;
        const IrType *rt = f->local ? &f->lrtypes[k] : &f->rtypes[k];
        IrValue *v;
        if (sema_is_num(vals[k])) {
            if (rt->rank != 0) {
                sema_err(S, exprs[k]->loc, "result %d of '%s' is declared %s but the value is the number %s",
                         k + 1, fd->name, sema_tstr(S, rt), sema_num_str(S, vals[k]));
                continue;
            }
            if (!(v = sema_materialise(S, vals[k], rt->dtype, exprs[k]->loc)))
                continue;
        } else {
            v = vals[k].v;
            if (!ir_type_eq(&v->type, rt)) {
                if (f->local)
                    sema_err(S, exprs[k]->loc, "result %d of local fn '%s' is declared %s, locally %s, but the "
                             "value is %s", k + 1, fd->name, sema_tstr(S, &f->rtypes[k]), sema_tstr(S, rt),
                             sema_tstr(S, &v->type));
                else
                    sema_err(S, exprs[k]->loc, "result %d of '%s' is declared %s but the value is %s", k + 1,
                             fd->name, sema_tstr(S, rt), sema_tstr(S, &v->type));
                continue;
            }
        }
        const char *rname = NULL;
        if (exprs[k]->kind == E_NAME && sema_find_local(S, exprs[k]->name)) {
            rname = exprs[k]->name;
            for (int j = 0; j < k && rname; j++)
                if (irf->result_names[j] && !strcmp(irf->result_names[j], rname))
                    rname = NULL; /* `return x, x`: the second is out<k> */
        }
        if (f->rpl_has[k] && !f->local) {
            const ResultAst *ra = fd->results[k];
            v = sema_emit_redistribute(S, ra->pl ? ra->pl->loc : ra->feeds_loc, v, f->rpl[k], rname,
                                       ra->pl ? "result placement" : "fed parameter's placement");
        }
        irf->results[k] = v;
        irf->result_names[k] = rname;
    }
}

/* `-> T [@ PL] feeds NAME`: NAME is one of the function's parameters, fed by
 * one result at most, of the same type; the result takes the parameter's
 * placement (a different one written is an error), so a multi-step run swaps
 * local buffers between steps and moves no data.  Only the entry's feeds take
 * effect; another function's are checked the same way and ignored, so one
 * file may hold a training step `main` and other entries (`--entry grads`). */
static void check_feeds(Sema *S, FnInfo *f)
{
    Decl *fd = f->decl;
    const char *entry = S->opt && S->opt->entry ? S->opt->entry : "main";
    int *feeds = NULL;
    for (int k = 0; k < fd->nresults; k++) {
        ResultAst *ra = fd->results[k];
        if (!ra->feeds)
            continue;
        int p = 0;
        while (p < fd->nparams && strcmp(fd->params[p]->name, ra->feeds))
            p++;
        if (p == fd->nparams) {
            sema_err(S, ra->feeds_loc, "feeds %s: '%s' has no parameter '%s'", ra->feeds, fd->name,
                     ra->feeds);
            continue;
        }
        if (!feeds) {
            feeds = arena_alloc(S->a, sizeof *feeds * (size_t)fd->nresults);
            for (int j = 0; j < fd->nresults; j++)
                feeds[j] = -1;
        }
        int twice = -1;
        for (int j = 0; j < k; j++)
            if (feeds[j] == p)
                twice = j;
        if (twice >= 0) {
            sema_err(S, ra->feeds_loc, "feeds %s: parameter '%s' is fed twice (by results %d and %d)",
                     ra->feeds, ra->feeds, twice + 1, k + 1);
            sema_note(S, fd->results[twice]->feeds_loc, "first fed here");
            continue;
        }
        const IrValue *pv = f->ir->params[p];
        if (!f->sig_ok)
            continue; /* a type did not resolve: reported already */
        if (!ir_type_eq(&f->rtypes[k], &pv->type)) {
            sema_err(S, ra->feeds_loc, "feeds %s: result %d is %s but parameter '%s' is %s", ra->feeds,
                     k + 1, sema_tstr(S, &f->rtypes[k]), ra->feeds, sema_tstr(S, &pv->type));
            continue;
        }
        if (!fd->params[p]->pl)
            continue; /* check_entry reports the missing placement */
        char a[128], b[128];
        if (pv->pl.naxes == 0) {
            const PlacementAst *pa = fd->params[p]->pl;
            bool is_auto = pa->n == 1 && pa->entries[0]->kind == E_NAME && !strcmp(pa->entries[0]->name, "auto");
            if (S->mesh_ok && is_auto)
                sema_err(S, ra->feeds_loc, "feeds %s: parameter '%s' is placed %s[auto]; a fed parameter "
                         "needs a written placement (its result must hold the same one)", ra->feeds,
                         ra->feeds, S->m->mesh.name);
            continue;
        }
        if (ra->pl && !f->rpl_has[k])
            continue; /* the result's placement failed: reported already */
        if (ra->pl && !pl_eq(&f->rpl[k], &pv->pl)) {
            sema_err(S, ra->pl->loc, "feeds %s: result %d is placed %s but parameter '%s' is %s; a fed "
                     "result must have its parameter's placement", ra->feeds, k + 1,
                     pl_str(&S->m->mesh, &f->rpl[k], a, sizeof a), ra->feeds,
                     pl_str(&S->m->mesh, &pv->pl, b, sizeof b));
            continue;
        }
        f->rpl[k] = pv->pl; /* implied when not written */
        f->rpl_has[k] = true;
        feeds[k] = p;
    }
    if (!strcmp(fd->name, entry))
        f->ir->result_feeds = feeds;
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
            sema_err(S, pa->loc, "parameter '%s' is declared twice", pa->name);
            sema_note(S, first->loc, "first declared here");
        } else
            fe_names_put(seen, pa->name, pa);
        IrType t;
        bool tok = sema_resolve_type(S, pa->type, &t);
        if (!tok)
            f->sig_ok = false;
        Placement pl;
        memset(&pl, 0, sizeof pl);
        if (pa->pl)
            sema_local_mark_global(S, pa->pl->loc, "a placement");
        if (pa->pl && !sema_resolve_pl_ast(S, pa->pl, tok ? &t : NULL, true, &pl))
            memset(&pl, 0, sizeof pl);
        IrInit init;
        memset(&init, 0, sizeof init);
        if (pa->init)
            sema_resolve_init(S, pa, tok ? &t : NULL, &init);
        f->ptypes[k] = t;
        IrType lt = t; /* the type the body sees */
        if (f->local && tok && S->mesh_ok) {
            if (!pa->pl) {
                sema_err(S, pa->loc, "parameter '%s' of local fn '%s' needs a placement, as in `%s: %s @ %s`",
                         pa->name, fd->name, pa->name, sema_tstr(S, &t), sema_example_pl(S));
                tok = f->sig_ok = false;
            } else if (pl.naxes == 0)
                tok = f->sig_ok = false; /* reported, or auto: refused below */
            else if (!sema_local_type(S, pa->pl->loc, &t, &pl, arena_printf(S->a, "parameter '%s'", pa->name),
                                      &lt))
                tok = f->sig_ok = false;
            if (pa->pl && pl.naxes == 0 && pa->pl->n == 1 && pa->pl->entries[0]->kind == E_NAME &&
                !strcmp(pa->pl->entries[0]->name, "auto"))
                sema_err(S, pa->pl->loc, "a local fn's parameters need a placement of their own, not auto");
            if (pa->init)
                sema_err(S, pa->init->loc, "a local fn's parameter has no initialiser: its callers pass it");
        }
        IrValue *pv = ir_param_new(S->m, irf, pa->name, lt, pl, init);
        sema_bind(S, pa->name, tok ? sv_tensor(pv) : sv_err);
    }
    for (int k = 0; k < fd->nresults; k++) {
        ResultAst *ra = fd->results[k];
        IrType t;
        bool tok = sema_resolve_type(S, ra->type, &t);
        if (!tok)
            f->sig_ok = false;
        f->rtypes[k] = t;
        if (ra->pl)
            sema_local_mark_global(S, ra->pl->loc, "a placement");
        if (ra->pl)
            f->rpl_has[k] = sema_resolve_pl_ast(S, ra->pl, tok ? &t : NULL, false, &f->rpl[k]);
        if (!f->local || !tok || !S->mesh_ok)
            continue;
        if (!f->lrtypes)
            f->lrtypes = arena_alloc(S->a, sizeof *f->lrtypes * (size_t)(fd->nresults + 1));
        if (!ra->pl) {
            sema_err(S, ra->loc, "result %d of local fn '%s' needs a placement, as in `-> %s @ %s`", k + 1,
                     fd->name, sema_tstr(S, &t), sema_example_pl(S));
            f->sig_ok = false;
        } else if (!f->rpl_has[k] ||
                   !sema_local_type(S, ra->pl->loc, &t, &f->rpl[k], arena_printf(S->a, "result %d", k + 1),
                                    &f->lrtypes[k]))
            f->sig_ok = false;
    }
    check_feeds(S, f);
    if (f->local && !S->mesh_ok)
        f->sig_ok = false;
}

/* A generic function's signature, before any call: every shape variable of
 * a result must be bound by a parameter.  The rest is checked per instance. */
static void check_generic_signature(Sema *S, FnInfo *f)
{
    Decl *fd = f->decl;
    f->sig_ok = true;
    for (int k = 0; k < fd->nresults; k++) {
        const TypeAst *rt = fd->results[k]->type;
        if (!rt->shape_var)
            continue;
        bool bound = false;
        for (int j = 0; j < fd->nparams && !bound; j++)
            bound = fd->params[j]->type->shape_var && !strcmp(fd->params[j]->type->shape_var, rt->shape_var);
        if (!bound) {
            sema_err(S, rt->shape_var_loc, "shape variable *%s of result %d of '%s' is bound by no parameter: "
                     "a call binds *%s to the shape of an argument whose parameter is declared %s[*%s]",
                     rt->shape_var, k + 1, fd->name, rt->shape_var, rt->dtype, rt->shape_var);
            f->sig_ok = false;
        }
    }
}

void sema_check_stmts(Sema *S, Stmt *const *body, int n, bool in_loop, bool *returned)
{
    bool warned = false;
    for (int k = 0; k < n; k++) {
        Stmt *st = body[k];
        if (*returned && !warned) {
            sema_err(S, st->loc, "statement after return in '%s'", S->cur->decl->name);
            warned = true;
        }
        switch (st->kind) {
        case S_LET:
            if (S->loop || S->unroll)
                for (int j = 0; j < st->nnames; j++)
                    if (S->loop ? sema_carry_index(S->loop, st->names[j]) >= 0
                                : sema_local_carried(S, st->names[j]))
                        sema_err(S, st->name_locs[j], "'%s' is carried by this loop; update it with `%s = ...`",
                                 st->names[j], st->names[j]);
            check_let(S, st);
            break;
        case S_ASSIGN:
            sema_check_assign(S, st);
            break;
        case S_FOR:
            sema_local_mark_global(S, st->loc, "a for loop");
            if (S->cur->local) {
                sema_local_for(S, st);
                break;
            }
            sema_check_for(S, st);
            break;
        case S_RETURN:
            if (in_loop) {
                sema_err(S, st->loc,
                         "return inside a loop: a loop ends with its carried values, return after it");
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
    sema_check_stmts(S, fd->body, fd->nstmts, false, &returned);
    if (!returned && fd->nresults > 0)
        sema_err(S, fd->loc, "'%s' declares %d result%s but has no return statement", fd->name,
                 fd->nresults, fd->nresults == 1 ? "" : "s");
    else if (f->local && f->sig_ok)
        sema_local_check_results(S, f);
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
                sema_err(S, f->calls[k].loc, "recursion is not allowed: '%s' calls itself", f->decl->name);
            else
                sema_err(S, f->calls[k].loc, "recursion is not allowed: %s", buf);
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
                sema_err(S, d->loc, "a program declares one mesh (v0); '%s' is a second one", d->name);
                sema_note(S, S->mesh->loc, "the mesh '%s' is declared here", S->mesh->name);
            } else if (prev) {
                sema_err(S, d->loc, "'%s' is already defined", d->name);
                sema_note(S, prev->loc, "previous definition here");
            } else
                S->mesh = d;
            continue;
        }
        bool dup = false;
        if (prev) {
            sema_err(S, d->loc, "'%s' is already defined", d->name);
            sema_note(S, prev->loc, "previous definition here");
            dup = true;
        }
        if (d->kind == D_CONST) {
            if (!dup) {
                S->consts[S->nconsts] = (ConstInfo){d, sv_err, 0};
                fe_names_put(S->const_of, d->name, &S->consts[S->nconsts++]);
            }
            continue;
        }
        if (!dup && (sema_is_op_builtin(d->name) || sema_is_init_name(d->name))) {
            sema_err(S, d->loc, "'%s' is a built-in %s and cannot be redefined", d->name,
                     sema_is_init_name(d->name) ? "initialiser" : "operation");
            dup = true;
        }
        FnInfo *f = &S->fns[S->nfns++];
        memset(f, 0, sizeof *f);
        f->decl = d;
        f->dup = dup;
        f->local = d->is_local;
        for (int k = 0; k < d->nparams; k++)
            f->generic |= d->params[k]->type->shape_var != NULL;
        for (int k = 0; k < d->nresults; k++)
            f->generic |= d->results[k]->type->shape_var != NULL;
        if (f->generic)
            f->instances = fe_names_new(S->a);
        if (dup || f->generic || f->local) {
            /* a redefinition is checked for its own errors, but not part of
               the module; a generic function's instances are; a local fn's
               body is held by its calls (OP_LOCAL_CALL) */
            f->ir = arena_alloc(S->a, sizeof *f->ir);
            f->ir->name = arena_strdup(S->a, d->name);
        } else {
            f->ir = ir_func_new(S->m, d->name);
        }
        if (!dup)
            fe_names_put(S->fn_of, d->name, f);
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
            sema_err(S, at, "no function '%s' (named by --entry)", name);
        else
            sema_err(S, at, "no function 'main' (define one, or name the entry with --entry)");
        return;
    }
    FnInfo *f = &S->fns[fi];
    if (f->generic) {
        sema_err(S, f->decl->loc, "the entry function '%s' may not use shape variables (as in f32[*S]): "
                 "its parameters and results need fixed shapes", name);
        return;
    }
    if (f->local) {
        sema_err(S, f->decl->loc, "the entry function '%s' cannot be a local fn: call it from a global one",
                 name);
        return;
    }
    S->m->entry = f->ir;
    for (int k = 0; k < f->decl->nparams; k++) {
        ParamAst *pa = f->decl->params[k];
        if (pa->pl)
            continue;
        if (S->mesh_ok)
            sema_err(S, pa->loc, "parameter '%s' of the entry function '%s' needs a placement, as in "
                     "`%s: %s @ %s`", pa->name, name, pa->name,
                     f->sig_ok ? sema_tstr(S, &f->ptypes[k]) : "...", sema_example_pl(S));
        else if (S->mesh)
            sema_err(S, pa->loc, "parameter '%s' of the entry function '%s' needs a placement (@ %s[...])",
                     pa->name, name, S->mesh->name);
        else
            sema_err(S, pa->loc, "parameter '%s' of the entry function '%s' needs a placement "
                     "(and the program needs a mesh, as in `mesh M[x=2];`)", pa->name, name);
    }
    if (!S->mesh)
        sema_err(S, f->decl->loc, "the program declares no mesh (add one, as in `mesh M[x=2];`)");
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
    sema_check_mesh(S);
    /* every signature before any body: calls need their callee's types */
    for (int k = 0; k < S->nfns; k++) {
        S->cur = &S->fns[k];
        S->scope = NULL;
        S->locals = S->cur->locals = fe_names_new(a);
        if (S->cur->generic) {
            check_generic_signature(S, S->cur);
            continue;
        }
        check_signature(S, S->cur);
        S->cur->params = S->scope;
    }
    /* bodies; a generic function's at each new binding, from its calls */
    for (int k = 0; k < S->nfns; k++) {
        if (S->fns[k].generic)
            continue;
        S->cur = &S->fns[k];
        S->scope = S->cur->params;
        S->locals = S->cur->locals;
        check_body(S, S->cur);
    }
    S->cur = NULL;
    S->scope = NULL;
    S->locals = NULL;
    sema_local_check_calls(S);
    sema_rules_check(S);
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
