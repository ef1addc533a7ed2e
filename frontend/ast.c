/* ast.c - building the syntax tree (ast.h) in the arena, and printing it.
 *
 * The parser builds lists with FeList and turns them into the plain arrays
 * of ast.h here.  fe_expr_str / fe_ast_dump print a tree in a compact
 * prefix form for debugging and for tests that check the parse.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/fe_internal.h"

FeList *fe_list_new(Arena *a)
{
    return arena_alloc(a, sizeof(FeList));
}

void fe_list_push(Arena *a, FeList *l, void *item)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        void **items = arena_alloc(a, (size_t)cap * sizeof *items);
        if (l->n)
            memcpy(items, l->items, (size_t)l->n * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
}

Expr **fe_exprs(Arena *a, const FeList *l, int *n)
{
    *n = l ? l->n : 0;
    if (*n == 0)
        return NULL;
    Expr **v = arena_alloc(a, (size_t)*n * sizeof *v);
    for (int i = 0; i < *n; i++)
        v[i] = l->items[i];
    return v;
}

Expr *fe_expr_new(Arena *a, ExprKind k, SrcLoc loc)
{
    Expr *e = arena_alloc(a, sizeof *e);
    e->kind = k;
    e->loc = loc;
    return e;
}

Expr *fe_expr_int(Arena *a, SrcLoc loc, int64_t v)
{
    Expr *e = fe_expr_new(a, E_INT, loc);
    e->ival = v;
    return e;
}

Expr *fe_expr_float(Arena *a, SrcLoc loc, double v)
{
    Expr *e = fe_expr_new(a, E_FLOAT, loc);
    e->fval = v;
    return e;
}

Expr *fe_expr_bool(Arena *a, SrcLoc loc, int v)
{
    Expr *e = fe_expr_new(a, E_BOOL, loc);
    e->ival = v != 0;
    return e;
}

Expr *fe_expr_string(Arena *a, SrcLoc loc, const char *s)
{
    Expr *e = fe_expr_new(a, E_STRING, loc);
    e->str = s;
    return e;
}

Expr *fe_expr_name(Arena *a, SrcLoc loc, const char *name)
{
    Expr *e = fe_expr_new(a, E_NAME, loc);
    e->name = name;
    return e;
}

Expr *fe_expr_unary(Arena *a, SrcLoc loc, char op, Expr *x)
{
    Expr *e = fe_expr_new(a, E_UNARY, loc);
    e->op = op;
    e->lhs = x;
    return e;
}

const char *fe_binop_str(char op)
{
    switch (op) {
    case 'F': return "//";
    case 'L': return "<=";
    case 'G': return ">=";
    case 'E': return "==";
    case 'N': return "!=";
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '@': return "@";
    case '%': return "%";
    case '<': return "<";
    case '>': return ">";
    default: return "?";
    }
}

Expr *fe_expr_binary(Arena *a, SrcLoc loc, char op, Expr *l, Expr *r)
{
    Expr *e = fe_expr_new(a, E_BINARY, loc);
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    return e;
}

Expr *fe_expr_call(Arena *a, SrcLoc loc, const char *name, const FeList *args)
{
    Expr *e = fe_expr_new(a, E_CALL, loc);
    e->name = name;
    int n = args ? args->n : 0, npos = 0, nkw = 0;
    for (int i = 0; i < n; i++)
        ((FeArg *)args->items[i])->kw ? nkw++ : npos++;
    if (npos)
        e->args = arena_alloc(a, (size_t)npos * sizeof *e->args);
    if (nkw) {
        e->kw_names = arena_alloc(a, (size_t)nkw * sizeof *e->kw_names);
        e->kw_locs = arena_alloc(a, (size_t)nkw * sizeof *e->kw_locs);
        e->kw_vals = arena_alloc(a, (size_t)nkw * sizeof *e->kw_vals);
    }
    for (int i = 0; i < n; i++) {
        const FeArg *g = args->items[i];
        if (g->kw) {
            e->kw_names[e->nkw] = g->kw;
            e->kw_locs[e->nkw] = g->kw_loc;
            e->kw_vals[e->nkw++] = g->val;
        } else {
            e->args[e->nargs++] = g->val;
        }
    }
    return e;
}

Expr *fe_expr_list(Arena *a, SrcLoc loc, const FeList *items)
{
    Expr *e = fe_expr_new(a, E_LIST, loc);
    e->args = fe_exprs(a, items, &e->nargs);
    return e;
}

Expr *fe_expr_index(Arena *a, SrcLoc loc, Expr *base, const FeList *items)
{
    Expr *e = fe_expr_new(a, E_INDEX, loc);
    e->lhs = base;
    e->name = base->kind == E_NAME ? base->name : NULL;
    e->args = fe_exprs(a, items, &e->nargs);
    return e;
}

Expr *fe_expr_slice(Arena *a, SrcLoc loc, Expr *start, Expr *stop, Expr *step)
{
    Expr *e = fe_expr_new(a, E_SLICE, loc);
    e->lhs = start;
    e->rhs = stop;
    e->step = step;
    return e;
}

TypeAst *fe_type(Arena *a, SrcLoc loc, const char *dtype, const FeList *dims)
{
    TypeAst *t = arena_alloc(a, sizeof *t);
    t->loc = loc;
    t->dtype = dtype;
    t->dtype_loc = loc;
    t->dims = fe_exprs(a, dims, &t->rank);
    return t;
}

PlacementAst *fe_placement(Arena *a, SrcLoc loc, const char *mesh, const FeList *entries)
{
    PlacementAst *p = arena_alloc(a, sizeof *p);
    p->loc = loc;
    p->mesh = mesh;
    p->entries = fe_exprs(a, entries, &p->n);
    return p;
}

/* ---- printing ------------------------------------------------------------- */

typedef struct Buf {
    char *s;
    size_t n, cap;
} Buf;

static void put(Buf *b, const char *s)
{
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->n + k + 1 > cap)
            cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t)
            DTC_BUG("out of memory");
        b->s = t;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}

static void put_expr(Buf *b, const Expr *e);

static void put_items(Buf *b, Expr *const *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (i)
            put(b, ", ");
        put_expr(b, v[i]);
    }
}

static void put_expr(Buf *b, const Expr *e)
{
    char tmp[64];
    if (!e) {
        put(b, "<null>");
        return;
    }
    switch (e->kind) {
    case E_INT:
        snprintf(tmp, sizeof tmp, "%" PRId64, e->ival);
        put(b, tmp);
        break;
    case E_FLOAT:
        snprintf(tmp, sizeof tmp, "%.15g", e->fval); /* shortest that reads back */
        if (strtod(tmp, NULL) != e->fval)
            snprintf(tmp, sizeof tmp, "%.17g", e->fval);
        if (!strpbrk(tmp, ".eninf"))
            strcat(tmp, ".");
        put(b, tmp);
        break;
    case E_BOOL:
        put(b, e->ival ? "true" : "false");
        break;
    case E_STRING:
        put(b, "\"");
        put(b, e->str ? e->str : "");
        put(b, "\"");
        break;
    case E_NAME:
        put(b, e->name);
        break;
    case E_UNARY:
        snprintf(tmp, sizeof tmp, "(%c ", e->op);
        put(b, tmp);
        put_expr(b, e->lhs);
        put(b, ")");
        break;
    case E_BINARY: {
        /* a left-leaning chain (a + b + c ...) in a loop: only real
           nesting recurses, and the parser limits that */
        size_t n = 0;
        const Expr *x = e;
        for (; x->kind == E_BINARY; x = x->lhs, n++) {
            snprintf(tmp, sizeof tmp, "(%s ", fe_binop_str(x->op));
            put(b, tmp);
        }
        const Expr **spine = malloc(sizeof *spine * n);
        if (!spine)
            DTC_BUG("out of memory");
        size_t k = n;
        for (x = e; x->kind == E_BINARY; x = x->lhs)
            spine[--k] = x;
        put_expr(b, x);
        for (k = 0; k < n; k++) {
            put(b, " ");
            put_expr(b, spine[k]->rhs);
            put(b, ")");
        }
        free(spine);
        break;
    }
    case E_CALL:
        put(b, e->name);
        put(b, "(");
        put_items(b, e->args, e->nargs);
        for (int i = 0; i < e->nkw; i++) {
            if (i || e->nargs)
                put(b, ", ");
            put(b, e->kw_names[i]);
            put(b, "=");
            put_expr(b, e->kw_vals[i]);
        }
        put(b, ")");
        break;
    case E_LIST:
        put(b, "[");
        put_items(b, e->args, e->nargs);
        put(b, "]");
        break;
    case E_INDEX:
        put_expr(b, e->lhs);
        put(b, "[");
        put_items(b, e->args, e->nargs);
        put(b, "]");
        break;
    case E_SLICE:
        if (e->lhs)
            put_expr(b, e->lhs);
        put(b, ":");
        if (e->rhs)
            put_expr(b, e->rhs);
        if (e->step) {
            put(b, ":");
            put_expr(b, e->step);
        }
        break;
    }
}

const char *fe_expr_str(Arena *a, const Expr *e)
{
    Buf b = {0};
    put_expr(&b, e);
    char *s = arena_strdup(a, b.s ? b.s : "");
    free(b.s);
    return s;
}

static void dump_expr(FILE *out, const Expr *e)
{
    Buf b = {0};
    put_expr(&b, e);
    fputs(b.s ? b.s : "", out);
    free(b.s);
}

static void dump_type(FILE *out, const TypeAst *t, const PlacementAst *pl)
{
    if (t) {
        fprintf(out, "%s[", t->dtype);
        if (t->shape_var)
            fprintf(out, "*%s", t->shape_var);
        for (int i = 0; i < t->rank; i++) {
            if (i)
                fputs(", ", out);
            dump_expr(out, t->dims[i]);
        }
        fputs("]", out);
    }
    if (pl) {
        fprintf(out, " @ %s[", pl->mesh);
        for (int i = 0; i < pl->n; i++) {
            if (i)
                fputs(", ", out);
            dump_expr(out, pl->entries[i]);
        }
        fputs("]", out);
    }
}

static void dump_stmt(FILE *out, const Stmt *s, int depth)
{
    for (int k = 0; k < depth; k++)
        fputs("  ", out);
    if (s->kind == S_LET || s->kind == S_ASSIGN) {
        fputs(s->kind == S_LET ? "let " : "assign ", out);
        for (int k = 0; k < s->nnames; k++)
            fprintf(out, "%s%s", k ? ", " : "", s->names[k]);
        if (s->type || s->pl) {
            fputs(": ", out);
            dump_type(out, s->type, s->pl);
        }
        fputs(" = ", out);
        dump_expr(out, s->value);
    } else if (s->kind == S_FOR) {
        fprintf(out, "for %s in ", s->var);
        dump_expr(out, s->lo);
        fputs("..", out);
        dump_expr(out, s->hi);
        fputs(" carry", out);
        for (int k = 0; k < s->ncarry; k++) {
            fprintf(out, "%s%s", k ? ", " : " ", s->carry[k]->name);
            if (s->carry[k]->pl) {
                fputs(": ", out);
                dump_type(out, NULL, s->carry[k]->pl);
            }
        }
        fputs("\n", out);
        for (int k = 0; k < s->nbody; k++)
            dump_stmt(out, s->body[k], depth + 1);
        return;
    } else {
        fputs("return ", out);
        for (int k = 0; k < s->nvalues; k++) {
            if (k)
                fputs(", ", out);
            dump_expr(out, s->values[k]);
        }
    }
    fputs("\n", out);
}

void fe_ast_dump(FILE *out, const Program *p)
{
    for (int i = 0; i < p->ndecls; i++) {
        const Decl *d = p->decls[i];
        switch (d->kind) {
        case D_CONST:
            fprintf(out, "const %s = ", d->name);
            dump_expr(out, d->value);
            fputs("\n", out);
            break;
        case D_IMPORT:
            fprintf(out, "import \"%s\"\n", d->value->str);
            break;
        case D_MESH:
            fprintf(out, "mesh %s[", d->name);
            for (int j = 0; j < d->naxes; j++) {
                fprintf(out, "%s%s=", j ? ", " : "", d->axis_names[j]);
                dump_expr(out, d->axis_sizes[j]);
            }
            fputs("]\n", out);
            break;
        case D_FN:
            fprintf(out, "fn %s\n", d->name);
            for (int j = 0; j < d->nparams; j++) {
                const ParamAst *pa = d->params[j];
                fprintf(out, "  param %s: ", pa->name);
                dump_type(out, pa->type, pa->pl);
                if (pa->init) {
                    fputs(" = ", out);
                    dump_expr(out, pa->init);
                }
                fputs("\n", out);
            }
            for (int j = 0; j < d->nresults; j++) {
                fputs("  result ", out);
                dump_type(out, d->results[j]->type, d->results[j]->pl);
                fputs("\n", out);
            }
            for (int j = 0; j < d->nstmts; j++)
                dump_stmt(out, d->body[j], 1);
            break;
        }
    }
}

RuleAst *fe_rule(Arena *a, SrcLoc loc, const FeList *in, Expr *out, Expr *cost)
{
    RuleAst *r = arena_alloc(a, sizeof *r);
    r->loc = loc;
    r->nin = in->n;
    r->in = arena_alloc(a, sizeof *r->in * (size_t)(in->n + 1));
    for (int i = 0; i < in->n; i++)
        r->in[i] = in->items[i];
    r->out = out;
    r->cost = cost;
    return r;
}
