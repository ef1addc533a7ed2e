/* test_parse.c - the scanner, parser and diagnostics of frontend/.
 *
 * Parses the spec's mlp sample and checks the tree (declarations, names,
 * placements, initialisers, locations); checks precedence and literals
 * through fe_expr_str; checks that independent syntax errors are all
 * reported and that diagnostics have the exact spec format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/fe_internal.h"

#include "unit_check.h"

/* Parses text with diagnostics captured into *out (malloc'd). */
static Program *parse(Arena *a, const char *text, int *nerr, char **out)
{
    size_t len;
    FILE *f = open_memstream(out, &len);
    Diag *d = diag_new(a, f);
    Program *p = fe_parse(a, d, "t.dt", text);
    *nerr = diag_nerrors(d);
    fclose(f);
    return p;
}

static int count(const char *s, const char *sub)
{
    int n = 0;
    for (const char *q = s; (q = strstr(q, sub)); q += strlen(sub))
        n++;
    return n;
}

static void test_mlp(void)
{
    Arena *a = arena_new();
    int nerr;
    char *out;
    Program *p = parse(a, mlp, &nerr, &out);
    CHECK(nerr == 0);
    CHECK_STR(out, "");
    CHECK(p->ndecls == 5);
    if (p->ndecls != 5)
        goto done;
    const char *cnames[] = {"B", "D", "H"};
    const int64_t cvals[] = {8, 512, 2048};
    for (int i = 0; i < 3; i++) {
        CHECK(p->decls[i]->kind == D_CONST);
        CHECK_STR(p->decls[i]->name, cnames[i]);
        CHECK(p->decls[i]->value->kind == E_INT && p->decls[i]->value->ival == cvals[i]);
    }
    CHECK(p->decls[0]->loc.line == 2 && p->decls[0]->loc.col == 7);
    CHECK(p->decls[2]->loc.line == 2 && p->decls[2]->loc.col == 37);

    const Decl *m = p->decls[3];
    CHECK(m->kind == D_MESH && !strcmp(m->name, "M") && m->naxes == 2);
    CHECK_STR(m->axis_names[0], "dp");
    CHECK_STR(m->axis_names[1], "tp");
    CHECK(m->axis_sizes[1]->kind == E_INT && m->axis_sizes[1]->ival == 2);
    CHECK(m->axis_locs[1].line == 4 && m->axis_locs[1].col == 14);

    const Decl *f = p->decls[4];
    CHECK(f->kind == D_FN && !strcmp(f->name, "main"));
    CHECK(f->nparams == 3 && f->nresults == 1 && f->nstmts == 3);
    const char *pnames[] = {"x", "w1", "w2"};
    const char *pls[][2] = {{"S(0)", "R"}, {"R", "S(1)"}, {"R", "S(0)"}};
    const char *inits[] = {"randn(seed=1)", "randn(seed=2, std=0.02)", "randn(seed=3, std=0.02)"};
    for (int i = 0; i < 3 && i < f->nparams; i++) {
        const ParamAst *pa = f->params[i];
        CHECK_STR(pa->name, pnames[i]);
        CHECK(pa->loc.line == 6 + i && pa->loc.col == 9);
        CHECK_STR(pa->type->dtype, "f32");
        CHECK(pa->type->rank == 2 && pa->type->dims[0]->kind == E_NAME);
        CHECK(pa->pl && !strcmp(pa->pl->mesh, "M") && pa->pl->n == 2);
        for (int j = 0; pa->pl && j < 2 && j < pa->pl->n; j++)
            CHECK_STR(fe_expr_str(a, pa->pl->entries[j]), pls[i][j]);
        CHECK(pa->init && pa->init->kind == E_CALL);
        CHECK_STR(fe_expr_str(a, pa->init), inits[i]);
    }
    /* S(0) is a call of S with one int argument, R a plain name */
    const Expr *s0 = f->params[0]->pl->entries[0], *r = f->params[0]->pl->entries[1];
    CHECK(s0->kind == E_CALL && !strcmp(s0->name, "S") && s0->nargs == 1 && s0->nkw == 0);
    CHECK(s0->args[0]->kind == E_INT && s0->args[0]->ival == 0);
    CHECK(r->kind == E_NAME && !strcmp(r->name, "R"));
    const Expr *init = f->params[1]->pl ? f->params[1]->init : NULL;
    CHECK(init && init->nkw == 2 && !strcmp(init->kw_names[1], "std")
          && init->kw_vals[1]->kind == E_FLOAT && init->kw_vals[1]->fval == 0.02);

    const ResultAst *res = f->results[0];
    CHECK(res->type->rank == 2 && res->pl && res->pl->n == 2);
    CHECK_STR(fe_expr_str(a, res->pl->entries[0]), "S(0)");

    const Stmt *s = f->body[0];
    CHECK(s->kind == S_LET && s->nnames == 1 && !strcmp(s->names[0], "h"));
    CHECK(s->loc.line == 10 && s->loc.col == 5);
    CHECK(s->type == NULL && s->pl == NULL);
    CHECK_STR(fe_expr_str(a, s->value), "gelu((@ x w1))");
    CHECK(s->value->args[0]->loc.line == 10 && s->value->args[0]->loc.col == 20); /* the '@' */
    CHECK_STR(fe_expr_str(a, f->body[1]->value), "(@ h w2)");
    CHECK(f->body[2]->kind == S_RETURN && f->body[2]->nvalues == 1);
    CHECK_STR(fe_expr_str(a, f->body[2]->values[0]), "y");
    printf("ok: mlp sample: 3 consts, mesh M[dp=2, tp=2], main with 3 placed params, "
           "1 result, 3 statements\n");
done:
    free(out);
    arena_free(a);
}

/* The value of `const X = <expr>;` as text. */
static const char *expr_of(Arena *a, const char *src)
{
    char buf[512];
    snprintf(buf, sizeof buf, "const X = %s;", src);
    int nerr;
    char *out;
    Program *p = parse(a, arena_strdup(a, buf), &nerr, &out);
    const char *r = nerr == 0 && p->ndecls == 1 ? fe_expr_str(a, p->decls[0]->value) : out;
    r = arena_strdup(a, r);
    free(out);
    return r;
}

static void test_exprs(void)
{
    Arena *a = arena_new();
    CHECK_STR(expr_of(a, "a + b @ c * d - -e / f"), "(- (+ a (* (@ b c) d)) (/ (- e) f))");
    CHECK_STR(expr_of(a, "a @ b @ c"), "(@ (@ a b) c)");
    CHECK_STR(expr_of(a, "a * b @ c"), "(@ (* a b) c)");
    CHECK_STR(expr_of(a, "-a @ b"), "(@ (- a) b)");
    CHECK_STR(expr_of(a, "(a + b) * c"), "(* (+ a b) c)");
    CHECK_STR(expr_of(a, "a - b - c"), "(- (- a b) c)");
    CHECK_STR(expr_of(a, "[3, 0.02, 1e-5, 2., .5, true, false]"),
              "[3, 0.02, 1e-05, 2., 0.5, true, false]");
    CHECK_STR(expr_of(a, "9223372036854775807"), "9223372036854775807");
    CHECK_STR(expr_of(a, "load(\"a\\\"b\\\\c\\n.npy\")"), "load(\"a\"b\\c\n.npy\")");
    CHECK_STR(expr_of(a, "redistribute(x, M[S(0), R])"), "redistribute(x, M[S(0), R])");
    CHECK_STR(expr_of(a, "sum(x, axis=[0, -1], keepdims=true)"),
              "sum(x, axis=[0, (- 1)], keepdims=true)");
    CHECK_STR(expr_of(a, "zeros()"), "zeros()");
    CHECK_STR(expr_of(a, "M[]"), "M[]");
    printf("ok: precedence (@ * / over + -, left assoc, unary minus tightest), literals, "
           "strings, calls with keywords, lists, index\n");
    arena_free(a);
}

static void test_let_forms(void)
{
    Arena *a = arena_new();
    int nerr;
    char *out;
    Program *p = parse(a,
                       "fn f(x: f32[]) -> (f32[4], f32[2, 3] @ M[R, P(sum)]) {\n"
                       "  let a, b = g(x);\n"
                       "  let c: f32[4] @ M[S(-1), P] = a;\n"
                       "  return a, c;\n"
                       "}\n",
                       &nerr, &out);
    CHECK(nerr == 0 && p->ndecls == 1);
    if (nerr == 0 && p->ndecls == 1) {
        const Decl *f = p->decls[0];
        CHECK(f->nparams == 1 && f->params[0]->type->rank == 0 && !f->params[0]->pl);
        CHECK(f->nresults == 2 && !f->results[0]->pl && f->results[1]->pl->n == 2);
        CHECK_STR(fe_expr_str(a, f->results[1]->pl->entries[1]), "P(sum)");
        CHECK(f->nstmts == 3);
        const Stmt *s = f->body[0];
        CHECK(s->nnames == 2 && !strcmp(s->names[1], "b") && s->name_locs[1].col == 10);
        s = f->body[1];
        CHECK(s->type && s->type->rank == 1 && s->pl && s->pl->n == 2);
        CHECK_STR(fe_expr_str(a, s->pl->entries[0]), "S((- 1))");
        CHECK(f->body[2]->nvalues == 2);
    }
    free(out);
    p = parse(a, "", &nerr, &out);
    CHECK(nerr == 0 && p->ndecls == 0);
    free(out);
    p = parse(a, "# only a comment", &nerr, &out);
    CHECK(nerr == 0 && p->ndecls == 0);
    free(out);
    printf("ok: multi-name let, let with type and placement, tuple results, empty file\n");
    arena_free(a);
}

static void test_errors(void)
{
    Arena *a = arena_new();
    int nerr;
    char *out;
    /* three independent errors: declaration, statement, statement */
    Program *p = parse(a,
                       "const A = 3 3;\n"
                       "fn f(x: f32[4]) -> f32[4] {\n"
                       "    let y = x + * 2;\n"
                       "    let z = y +;\n"
                       "    return z;\n"
                       "}\n"
                       "const C = 1;\n",
                       &nerr, &out);
    CHECK(nerr == 3);
    CHECK(count(out, ": error: ") == 3);
    CHECK(strstr(out, "t.dt:1:12: error: expected ';' after declaration\n"
                      "const A = 3 3;\n"
                      "           ^\n") != NULL);
    CHECK(strstr(out, "t.dt:3:17: error: expected expression before '*'\n") != NULL);
    CHECK(strstr(out, "t.dt:4:16: error: expected expression before ';'\n") != NULL);
    /* what could be parsed is still there */
    CHECK(p->ndecls == 2 && p->decls[0]->kind == D_FN && p->decls[0]->nstmts == 1);
    CHECK(p->ndecls == 2 && !strcmp(p->decls[1]->name, "C"));
    free(out);
    printf("ok: 3 independent syntax errors -> 3 diagnostics, the rest still parsed\n");

    /* lexical errors do not crash and do not cascade */
    p = parse(a, "const A = 3 $ 4;\nconst B = \"abc\n", &nerr, &out);
    CHECK(nerr == 2 && count(out, "error:") == 2);
    CHECK(strstr(out, "t.dt:1:13: error: unexpected character '$'") != NULL);
    CHECK(strstr(out, "t.dt:2:11: error: unterminated string literal") != NULL);
    free(out);
    p = parse(a, "const A = 99999999999999999999;", &nerr, &out);
    CHECK(nerr == 1 && strstr(out, "integer literal is too large"));
    free(out);
    p = parse(a, "fn f() -> f32[] {\n  return (1;\n", &nerr, &out);
    CHECK(nerr == 2);
    CHECK(strstr(out, "t.dt:2:12: error: expected ')' before ';'\n") != NULL);
    CHECK(strstr(out, "t.dt:2:10: note: to match this '('\n") != NULL);
    CHECK(strstr(out, "error: expected '}' at end of file") != NULL);
    free(out);
    printf("ok: bad character, unterminated string, int overflow, unbalanced brackets\n");

    /* a missing '}' before the next function: both functions survive, and an
       error inside the second one is still found */
    p = parse(a,
              "fn f(x: f32[4]) -> f32[4] {\n"
              "    return x;\n"
              "fn g(y: f32[4]) -> f32[4] {\n"
              "    return y y;\n"
              "}\n",
              &nerr, &out);
    CHECK(nerr == 2);
    CHECK(strstr(out, "t.dt:3:1: error: expected '}' before 'fn'\n") != NULL);
    CHECK(strstr(out, "t.dt:1:27: note: to match this '{'\n") != NULL);
    CHECK(strstr(out, "t.dt:4:13: error: expected ';' after statement\n") != NULL);
    CHECK(p->ndecls == 2 && p->decls[0]->nstmts == 1 && !strcmp(p->decls[1]->name, "g"));
    free(out);
    /* a keyword as a name: one error, and the declaration is kept */
    p = parse(a, "fn f() -> f32[] {\n    let return = 1;\n    return 2;\n}\n", &nerr, &out);
    CHECK(nerr == 1 && strstr(out, "'return' is a keyword and cannot be used as a name"));
    CHECK(p->ndecls == 1 && p->decls[0]->nstmts == 2);
    free(out);
    /* an unmatched closer is dropped: one error, statement kept */
    p = parse(a, "fn f(x: f32[]) -> f32[] {\n    return exp(x));\n}\n", &nerr, &out);
    CHECK(nerr == 1 && strstr(out, "t.dt:2:18: error: unmatched ')'\n"));
    CHECK(p->ndecls == 1 && p->decls[0]->nstmts == 1);
    free(out);
    printf("ok: recovery: missing '}' before fn, keyword as name, unmatched ')' (no cascades)\n");

    /* cap: 60 errors are counted, 50 shown, then one line */
    char *big = arena_alloc(a, 60 * 16 + 1);
    for (int i = 0; i < 60; i++)
        strcat(big, "const A = 1 1;\n");
    p = parse(a, big, &nerr, &out);
    CHECK(nerr == 60);
    CHECK(count(out, ": error: expected") == 50);
    CHECK(count(out, "too many errors") == 1);
    free(out);
    printf("ok: 60 errors counted, 50 shown, 'too many errors' once\n");
    arena_free(a);
}

static void test_diag_format(void)
{
    Arena *a = arena_new();
    char *out;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    Diag *d = diag_new(a, f);
    diag_add_source(d, "x.dt", "line one\n\tab\tc\nlast");
    diag_error(d, (SrcLoc){"x.dt", 2, 3}, "bad %s", "thing");
    diag_note(d, (SrcLoc){"x.dt", 3, 5}, "here");
    diag_error(d, (SrcLoc){"x.dt", 0, 0}, "no line");
    diag_error(d, (SrcLoc){NULL, 0, 0}, "no file");
    diag_error(d, (SrcLoc){"other.dt", 1, 1}, "unknown source");
    fclose(f);
    CHECK_STR(out, "x.dt:2:3: error: bad thing\n"
                   "\tab\tc\n"
                   "\t ^\n"
                   "x.dt:3:5: note: here\n"
                   "last\n"
                   "    ^\n"
                   "x.dt: error: no line\n"
                   "dtc: error: no file\n"
                   "other.dt:1:1: error: unknown source\n");
    CHECK(diag_nerrors(d) == 4);
    free(out);
    printf("ok: diagnostic format (quote, caret with tabs, note, no line, no file)\n");
    arena_free(a);
}

/* Issue 11: NUL bytes, long lines, flat chains. */
static void test_odd_input(void)
{
    Arena *a = arena_new();
    char *out;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    Diag *d = diag_new(a, f);
    static const char text[] = "const A = 1;\n\0const B = 2;\nconst C = 3; # \0\n";
    Program *p = fe_parse_bytes(a, d, "n.dt", text, sizeof text - 1);
    fclose(f);
    CHECK(diag_nerrors(d) == 2 && p->ndecls == 3); /* nothing after the NUL is lost */
    CHECK_STR(out, "n.dt:2:1: error: unexpected NUL byte (0x00): a .dt file is text\n"
                   " const B = 2;\n"
                   "^\n"
                   "n.dt:3:16: error: unexpected NUL byte (0x00): a .dt file is text\n"
                   "const C = 3; #  \n"
                   "               ^\n");
    free(out);

    /* a 300-byte line: a window of 100 bytes, the caret under column 200 */
    char line[301];
    memset(line, 'x', 300);
    line[300] = 0;
    line[199] = '!';
    f = open_memstream(&out, &len);
    d = diag_new(a, f);
    diag_add_source(d, "l.dt", line);
    diag_error(d, (SrcLoc){"l.dt", 1, 200}, "here");
    fclose(f);
    char want[512];
    snprintf(want, sizeof want, "l.dt:1:200: error: here\n...%.60s!%.39s...\n%*s^\n", line, line,
             63, "");
    CHECK_STR(out, want);
    free(out);

    /* a flat chain is one level of nesting however long; fe_expr_str walks it */
    size_t n = 5000;
    char *src = malloc(32 + 4 * n), *want_s = malloc(8 * n), *w = want_s, *q = src;
    q += sprintf(q, "const K = 1");
    for (size_t i = 1; i < n; i++) {
        q += sprintf(q, " + 1");
        w += sprintf(w, "(+ ");
    }
    sprintf(q, ";\n");
    w += sprintf(w, "1");
    for (size_t i = 1; i < n; i++)
        w += sprintf(w, " 1)");
    int nerr;
    p = parse(a, src, &nerr, &out);
    CHECK(nerr == 0 && p->ndecls == 1);
    CHECK(nerr == 0 && !strcmp(fe_expr_str(a, p->decls[0]->value), want_s));
    free(out);
    free(src);
    free(want_s);
    printf("ok: odd input (NUL bytes, a long line quoted around the caret, a 5000-term chain)\n");
    arena_free(a);
}

/* Two parses of the same text give the same tree: no state leaks. */
static void test_reentrant(void)
{
    char *dump[2];
    for (int i = 0; i < 2; i++) {
        Arena *a = arena_new();
        int nerr;
        char *out;
        Program *bad = parse(a, "fn f( { let = ; }", &nerr, &out); /* leave errors behind */
        (void)bad;
        free(out);
        Program *p = parse(a, mlp, &nerr, &out);
        free(out);
        size_t len;
        FILE *f = open_memstream(&dump[i], &len);
        fe_ast_dump(f, p);
        fclose(f);
        arena_free(a);
    }
    CHECK(strlen(dump[0]) > 100);
    CHECK_STR(dump[1], dump[0]);
    free(dump[0]);
    free(dump[1]);
    printf("ok: repeated parses give identical trees\n");
}

int main(void)
{
    test_mlp();
    test_exprs();
    test_let_forms();
    test_errors();
    test_diag_format();
    test_odd_input();
    test_reentrant();
    if (nfail) {
        printf("FAILED: %d check(s)\n", nfail);
        return 1;
    }
    printf("all parse tests passed\n");
    return 0;
}
