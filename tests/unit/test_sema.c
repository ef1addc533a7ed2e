/* test_sema.c - semantic analysis and lowering (frontend/sema.c, load.c).
 *
 * Lowers the spec's mlp sample and checks the IR instruction by instruction
 * (ops, types, names, placements, inits, locations); a program with a user
 * function called twice and `let a, b = f(x)`; literals, shadowing, let and
 * result placements, result names; --mesh overrides and --entry; that
 * errors come back as NULL with the exact diagnostics; and the surface
 * schema (ir/surface.h): every row well formed, its defaults filled in;
 * shape variables: one instance per binding, errors once, recursion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/fe_internal.h"
#include "ir/surface.h"

#include "unit_check.h"


static char diag_buf[8192];

/* Loads text; diagnostics go to diag_buf. */
static IrModule *load(Arena *a, const char *text, const FeOptions *opt, int *nerr)
{
    FILE *f = fmemopen(diag_buf, sizeof diag_buf, "w");
    Diag *d = diag_new(a, f);
    IrModule *m = fe_load_string(a, d, "t.dt", text, opt);
    *nerr = diag_nerrors(d);
    fclose(f);
    if (m)
        CHECK(ir_verify(m, "sema", stderr)); /* every lowered module meets the IR's invariants */
    return m;
}

static const char *ty(const IrValue *v)
{
    static char buf[8][96];
    static int k;
    k = (k + 1) % 8;
    return ir_type_str(&v->type, buf[k], sizeof buf[k]);
}

static const char *pl(const IrModule *m, const IrValue *v)
{
    static char buf[8][96];
    static int k;
    k = (k + 1) % 8;
    return pl_str(&m->mesh, &v->pl, buf[k], sizeof buf[k]);
}

static int ninsts(const IrFunc *f)
{
    int n = 0;
    for (IrInst *i = f->first; i; i = i->next)
        n++;
    return n;
}

static IrInst *nth(const IrFunc *f, int k)
{
    IrInst *i = f->first;
    while (i && k-- > 0)
        i = i->next;
    return i;
}

static void test_mlp(void)
{
    Arena *a = arena_new();
    int nerr;
    IrModule *m = load(a, mlp, NULL, &nerr);
    CHECK(m != NULL && nerr == 0);
    if (!m) {
        fprintf(stderr, "%s", diag_buf);
        arena_free(a);
        return;
    }
    CHECK_STR(m->mesh.name, "M");
    CHECK(m->mesh.naxes == 2 && m->mesh.size[0] == 2 && m->mesh.size[1] == 2);
    CHECK_STR(m->mesh.axis_name[0], "dp");
    CHECK_STR(m->mesh.axis_name[1], "tp");
    CHECK(m->nfuncs == 1 && m->entry == m->funcs[0]);
    IrFunc *f = m->entry;
    CHECK_STR(f->name, "main");
    CHECK(f->loc.line == 6 && f->loc.col == 4);

    /* parameters: types, pinned placements, inits */
    CHECK(f->nparams == 3);
    CHECK_STR(f->params[0]->name, "x");
    CHECK_STR(ty(f->params[0]), "f32[8, 512]");
    CHECK_STR(pl(m, f->params[0]), "M[S(0), R]");
    CHECK(f->params[0]->pinned && f->params[0]->param_index == 0 && !f->params[0]->def);
    CHECK_STR(ty(f->params[1]), "f32[512, 2048]");
    CHECK_STR(pl(m, f->params[1]), "M[R, S(1)]");
    CHECK_STR(ty(f->params[2]), "f32[2048, 512]");
    CHECK_STR(pl(m, f->params[2]), "M[R, S(0)]");
    CHECK(f->inits[0].kind == INIT_RANDN && f->inits[0].seed == 1 && f->inits[0].a == 1.0 &&
          f->inits[0].b == 0.0);
    CHECK(f->inits[1].kind == INIT_RANDN && f->inits[1].seed == 2 && f->inits[1].a == 0.02);
    CHECK(f->inits[2].kind == INIT_RANDN && f->inits[2].seed == 3 && f->inits[2].a == 0.02);

    /* matmul, gelu, matmul, redistribute for the declared result placement */
    CHECK(ninsts(f) == 4);
    IrInst *i0 = nth(f, 0), *i1 = nth(f, 1), *i2 = nth(f, 2), *i3 = nth(f, 3);
    if (ninsts(f) == 4) {
        CHECK(i0->op == OP_MATMUL && i0->args[0] == f->params[0] && i0->args[1] == f->params[1]);
        CHECK_STR(ty(i0->res[0]), "f32[8, 2048]");
        CHECK(i0->res[0]->name == NULL && i0->res[0]->pl.naxes == 0 && !i0->res[0]->pinned);
        CHECK(i0->loc.line == 10 && i0->loc.col == 20);
        CHECK(i1->op == OP_GELU && i1->args[0] == i0->res[0]);
        CHECK_STR(i1->res[0]->name, "h");
        CHECK_STR(ty(i1->res[0]), "f32[8, 2048]");
        CHECK(i2->op == OP_MATMUL && i2->args[0] == i1->res[0] && i2->args[1] == f->params[2]);
        CHECK_STR(i2->res[0]->name, "y");
        CHECK_STR(ty(i2->res[0]), "f32[8, 512]");
        CHECK(i3->op == OP_REDISTRIBUTE && i3->args[0] == i2->res[0]);
        CHECK(i3->res[0]->pinned);
        CHECK_STR(pl(m, i3->res[0]), "M[S(0), R]");
        CHECK_STR(ty(i3->res[0]), "f32[8, 512]");
        CHECK(f->nresults == 1 && f->results[0] == i3->res[0]);
        CHECK_STR(f->result_names[0], "y");
    }
    CHECK(ir_infer(a, OP_MATMUL, 0, NULL, NULL, &(IrType){0}) != NULL); /* arity rule */
    arena_free(a);
}

static const char *calls =
    "mesh M[dp=2];\n"
    "fn pair(x: f32[4, 8], s: f32[]) -> (f32[4, 8], f32[4, 8]) {\n"
    "    return x * s, x + 1;\n"
    "}\n"
    "fn scale(x: f32[4, 8]) -> f32[4, 8] {\n"
    "    let x = x * 2;            # shadowing a parameter\n"
    "    return x;\n"
    "}\n"
    "fn main(x: f32[4, 8] @ M[S(0)] = arange(), ids: i32[4] @ M[R] = full(3)) -> (f32[4, 8], f32[4, 8] @ M[R], i32[4]) {\n"
    "    let a, b = pair(x, 0.5);\n"
    "    let c = scale(scale(a));\n"
    "    let d @ M[P(max)] = b;\n"
    "    return c, d, ids;\n"
    "}\n";

static void test_calls(void)
{
    Arena *a = arena_new();
    int nerr;
    IrModule *m = load(a, calls, NULL, &nerr);
    CHECK(m != NULL && nerr == 0);
    if (!m) {
        fprintf(stderr, "%s", diag_buf);
        arena_free(a);
        return;
    }
    CHECK(m->nfuncs == 3);
    IrFunc *pair = ir_func_find(m, "pair"), *scale = ir_func_find(m, "scale"), *f = m->entry;
    CHECK(pair && scale && f && !strcmp(f->name, "main"));
    if (!pair || !scale || !f) {
        arena_free(a);
        return;
    }
    /* pair: the scalar parameter and the literal 1 as a const f32 */
    CHECK(pair->nparams == 2 && pair->params[1]->type.rank == 0 && pair->params[0]->pl.naxes == 0 &&
          !pair->params[0]->pinned && pair->inits[0].kind == INIT_NONE);
    CHECK(ninsts(pair) == 3);
    CHECK(nth(pair, 0)->op == OP_MUL && nth(pair, 1)->op == OP_CONST && nth(pair, 2)->op == OP_ADD);
    CHECK(nth(pair, 1)->a.f == 1.0 && nth(pair, 1)->res[0]->type.dtype == DT_F32 &&
          nth(pair, 1)->res[0]->type.rank == 0);
    CHECK(pair->nresults == 2 && pair->result_names[0] == NULL && pair->result_names[1] == NULL);
    CHECK(pair->results[0] == nth(pair, 0)->res[0] && pair->results[1] == nth(pair, 2)->res[0]);

    /* scale: `let x = x * 2` is a new value named x */
    CHECK(ninsts(scale) == 2 && nth(scale, 0)->op == OP_CONST && nth(scale, 1)->op == OP_MUL);
    CHECK(nth(scale, 1)->args[0] == scale->params[0]);
    CHECK_STR(nth(scale, 1)->res[0]->name, "x");
    CHECK(scale->results[0] == nth(scale, 1)->res[0]);
    CHECK_STR(scale->result_names[0], "x");

    /* main: const 0.5, call pair (2 results), call scale twice, redistribute for d,
       redistribute for the second result's placement */
    CHECK(ninsts(f) == 6);
    IrInst *c05 = nth(f, 0), *cp = nth(f, 1), *cs1 = nth(f, 2), *cs2 = nth(f, 3), *rd = nth(f, 4),
           *rr = nth(f, 5);
    if (ninsts(f) == 6) {
        CHECK(c05->op == OP_CONST && c05->a.f == 0.5 && c05->res[0]->type.dtype == DT_F32);
        CHECK(cp->op == OP_CALL && cp->a.fn == pair && !strcmp(cp->a.callee, "pair") && cp->nres == 2 &&
              cp->nargs == 2 && cp->args[0] == f->params[0] && cp->args[1] == c05->res[0]);
        CHECK_STR(cp->res[0]->name, "a");
        CHECK_STR(cp->res[1]->name, "b");
        CHECK_STR(ty(cp->res[1]), "f32[4, 8]");
        CHECK(cs1->op == OP_CALL && cs1->a.fn == scale && cs1->nres == 1 && cs1->args[0] == cp->res[0]);
        CHECK(cs2->op == OP_CALL && cs2->a.fn == scale && cs2->args[0] == cs1->res[0]);
        CHECK_STR(cs2->res[0]->name, "c");
        CHECK(cs1->res[0]->name == NULL);
        CHECK(rd->op == OP_REDISTRIBUTE && rd->args[0] == cp->res[1] && rd->res[0]->pinned);
        CHECK_STR(rd->res[0]->name, "d");
        CHECK_STR(pl(m, rd->res[0]), "M[P(max)]");
        CHECK(rr->op == OP_REDISTRIBUTE && rr->args[0] == rd->res[0] && rr->res[0]->pinned);
        CHECK_STR(pl(m, rr->res[0]), "M[R]");
        CHECK(f->nresults == 3 && f->results[0] == cs2->res[0] && f->results[1] == rr->res[0] &&
              f->results[2] == f->params[1]);
        CHECK_STR(f->result_names[0], "c");
        CHECK_STR(f->result_names[1], "d");
        CHECK_STR(f->result_names[2], "ids");
    }
    CHECK(f->inits[0].kind == INIT_ARANGE && f->inits[1].kind == INIT_FULL && f->inits[1].a == 3.0);
    arena_free(a);
}

/* Attributes as sema writes them: normalised axes, default axes, -1 resolved. */
static void test_attrs(void)
{
    static const char *text =
        "const K = 2;\n"
        "mesh M[dp=2, tp=1];\n"
        "fn main(x: f32[2, 3, 4] @ M[S(-1), S(-1)] = load(\"x.npy\")) -> f32[] {\n"
        "    let a = sum(x, axis=[-1, 0], keepdims=true);\n"
        "    let b = softmax(x);\n"
        "    let c = reshape(transpose(x, [2, -3, 1]), [K, -1, 3]);\n"
        "    let d = pow(layernorm(x, sum(x, axis=[0, 1]), mean(x, axis=[0, 1]), eps=1e-3), K * 1.5);\n"
        "    let e = redistribute(cast(x, f64), M[P(avg), R]);\n"
        "    return mean(x);\n"
        "}\n";
    Arena *a = arena_new();
    int nerr;
    IrModule *m = load(a, text, NULL, &nerr);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "%s", diag_buf);
        arena_free(a);
        return;
    }
    IrFunc *f = m->entry;
    CHECK_STR(pl(m, f->params[0]), "M[S(2), S(2)]");
    CHECK(f->inits[0].kind == INIT_LOAD && !strcmp(f->inits[0].path, "x.npy"));
    IrInst *i = f->first;
    CHECK(i->op == OP_SUM && i->a.nints == 2 && i->a.ints[0] == 0 && i->a.ints[1] == 2 && i->a.keepdims);
    CHECK_STR(ty(i->res[0]), "f32[1, 3, 1]");
    i = i->next;
    CHECK(i->op == OP_SOFTMAX && i->a.nints == 1 && i->a.ints[0] == 2);
    i = i->next;
    CHECK(i->op == OP_TRANSPOSE && i->a.nints == 3 && i->a.ints[0] == 2 && i->a.ints[1] == 0 &&
          i->a.ints[2] == 1);
    i = i->next;
    CHECK(i->op == OP_RESHAPE && i->a.nints == 3 && i->a.ints[0] == 2 && i->a.ints[1] == 4 &&
          i->a.ints[2] == 3);
    i = i->next->next->next; /* sum, mean, layernorm */
    CHECK(i->op == OP_LAYERNORM && i->a.f == 1e-3);
    i = i->next;
    CHECK(i->op == OP_POW && i->a.f == 3.0);
    i = i->next;
    CHECK(i->op == OP_CAST && i->res[0]->type.dtype == DT_F64);
    i = i->next;
    CHECK(i->op == OP_REDISTRIBUTE && i->res[0]->pinned && i->res[0]->pl.e[0].kind == PL_P &&
          i->res[0]->pl.e[0].red == RED_AVG);
    CHECK_STR(i->res[0]->name, "e");
    i = i->next;
    CHECK(i->op == OP_MEAN && i->a.nints == 3 && !i->a.keepdims && i->res[0]->type.rank == 0);
    CHECK(i->next == NULL && f->results[0] == i->res[0] && f->result_names[0] == NULL);
    arena_free(a);
}

/* Every built-in of the surface schema is well formed: a unique name
 * found by lookup, a usage naming it, parameters within the cap, defaults
 * that read as their kind, a noun for every required keyword-capable
 * parameter, the required positional ones first. */
static void test_surface_rows(void)
{
    Arena *a = arena_new();
    int n = 0;
    for (const char *name; (name = ir_surface_name(n)); n++) {
        IrSurface fn;
        CHECK(ir_surface_find(a, name, &fn));
        CHECK_STR(fn.name, name);
        CHECK(fn.usage && strstr(fn.usage, name));
        CHECK(fn.nparams >= 1 && fn.nparams <= IR_SURF_MAX_ARGS);
        for (int j = 0; j < n; j++)
            CHECK(strcmp(ir_surface_name(j), name) != 0);
        int pos = 0;
        for (int k = 0; k < fn.nparams; k++) {
            const IrSurfRow *p = &fn.params[k];
            CHECK(p->key && p->how >= IR_ARG_POS && p->how <= IR_ARG_POS_KW);
            if (p->how & IR_ARG_POS)
                pos++;
            if (p->how & IR_ARG_POS && pos > fn.nneed && !p->dflt && !(p->how & IR_ARG_KW))
                CHECK(!"a required positional parameter after an optional one");
            if (p->how == IR_ARG_POS_KW && !p->dflt)
                CHECK(p->noun != NULL);
            if (!p->dflt)
                continue;
            char *end;
            DType dt;
            switch (p->kind) {
            case IR_ARG_INT:
                (void)strtoll(p->dflt, &end, 10);
                CHECK(*end == '\0');
                break;
            case IR_ARG_NUM:
                (void)strtod(p->dflt, &end);
                CHECK(*end == '\0');
                break;
            case IR_ARG_BOOL:
                CHECK(!strcmp(p->dflt, "true") || !strcmp(p->dflt, "false"));
                break;
            case IR_ARG_DTYPE:
                CHECK(ir_dtype_parse(p->dflt, &dt));
                break;
            default:
                CHECK(!"a default for a kind that has none");
            }
        }
        CHECK(fn.npos == pos && fn.nneed <= fn.npos);
    }
    CHECK(n > 40); /* the OP_SURFACE rows and the elementwise ones */
    IrSurface fn;
    CHECK(!ir_surface_find(a, "matmul", &fn) && !ir_surface_find(a, "randn", &fn));
    CHECK(ir_surface_find(a, "where", &fn) && fn.family == IR_SF_EW && fn.nparams == 3 && fn.fixed);
    CHECK_STR(fn.usage, "where(c, a, b)");
    CHECK(ir_surface_find(a, "argmax", &fn) && fn.npos == 2 && fn.nneed == 1 && !fn.fixed);
    arena_free(a);
}

/* Defaults come from the schema: what a call leaves out is lowered as the
 * row's DEFAULT text. */
static void test_surface_defaults(void)
{
    static const char *text =
        "mesh M[dp=2];\n"
        "fn main(x: f32[4, 3] @ M[R] = randn(seed=1), g: f32[3] @ M[R] = ones()) -> f32[] {\n"
        "    let a = argmax(x);\n"
        "    let b = layernorm(x, g, g);\n"
        "    let c = gelu(x);\n"
        "    let d = arange(4);\n"
        "    let e = pad(x, 1);\n"
        "    let f = repeat(x, 3, axis=0);\n"
        "    let g = concat([x, x]);\n"
        "    return sum(x);\n"
        "}\n";
    Arena *a = arena_new();
    int nerr;
    IrModule *m = load(a, text, NULL, &nerr);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "%s", diag_buf);
        arena_free(a);
        return;
    }
    IrInst *i = m->entry->first;
    CHECK(i->op == OP_ARGMAX && i->a.dim == 1);
    i = i->next;
    CHECK(i->op == OP_LAYERNORM && i->a.f == 1e-5);
    i = i->next;
    CHECK(i->op == OP_GELU);
    i = i->next;
    CHECK(i->op == OP_IOTA && i->res[0]->type.dtype == DT_I32);
    i = i->next;
    CHECK(i->op == OP_PAD && i->a.f == 0.0);
    i = i->next;
    CHECK(i->op == OP_REPEAT && i->a.dim == 0 && i->a.nints == 1 && i->a.ints[0] == 3);
    CHECK_STR(ty(i->res[0]), "f32[12, 3]");
    i = i->next;
    CHECK(i->op == OP_CONCAT && i->a.ints[0] == 0);
    CHECK_STR(ty(i->res[0]), "f32[8, 3]");
    i = i->next;
    CHECK(i->op == OP_SUM && i->a.nints == 2 && !i->a.keepdims);
    arena_free(a);
}

static void test_options(void)
{
    Arena *a = arena_new();
    int nerr;
    const char *ax[2] = {"tp", "dp"};
    int sz[2] = {4, 1};
    FeOptions o = {.nmesh_override = 2, .mesh_axis = ax, .mesh_size = sz};
    IrModule *m = load(a, mlp, &o, &nerr);
    CHECK(m && m->mesh.size[0] == 1 && m->mesh.size[1] == 4);

    const char *bad_ax[2] = {"pp", "dp"};
    int bad_sz[2] = {2, 0};
    FeOptions bad = {.nmesh_override = 2, .mesh_axis = bad_ax, .mesh_size = bad_sz};
    m = load(a, mlp, &bad, &nerr);
    CHECK(m == NULL && nerr == 2);
    CHECK_STR(diag_buf, "dtc: error: --mesh: unknown axis 'pp' (mesh M has axes dp, tp)\n"
                        "dtc: error: --mesh: axis 'dp' must have a positive size, got 0\n");

    static const char *two =
        "mesh M[dp=2];\n"
        "fn other(x: f32[4] @ M[R] = zeros()) -> f32[4] { return exp(x); }\n"
        "fn main(x: f32[4] @ M[R] = zeros()) -> f32[4] { return x; }\n";
    FeOptions e = {.entry = "other"};
    m = load(a, two, &e, &nerr);
    CHECK(m && m->entry && !strcmp(m->entry->name, "other"));
    FeOptions e2 = {.entry = "nope"};
    m = load(a, two, &e2, &nerr);
    CHECK(m == NULL && nerr == 1);
    CHECK_STR(diag_buf, "t.dt: error: no function 'nope' (named by --entry)\n");

    /* the inlined size: main inlines two copies of twice's 3 operations
       (mul, add and the constant) and has one of its own */
    static const char *calls =
        "mesh M[dp=2];\n"
        "fn twice(x: f32[4]) -> f32[4] { return x * 2.0 + x; }\n"
        "fn main(x: f32[4] @ M[R] = zeros()) -> f32[4] { return twice(x) + twice(x); }\n";
    FeOptions fits = {.max_inlined_ops = 7};
    m = load(a, calls, &fits, &nerr);
    CHECK(m && nerr == 0);
    FeOptions small = {.max_inlined_ops = 6};
    m = load(a, calls, &small, &nerr);
    CHECK(m == NULL && nerr == 1);
    CHECK(strstr(diag_buf, "t.dt:3:65: error: inlining every call makes 'main' 7 operations, "
                           "more than the 6 that") != NULL);
    arena_free(a);
}

/* Errors: NULL, every independent error once, in source order, with carets. */
static void test_errors(void)
{
    static const char *text =
        "mesh M[dp=2];\n"
        "fn main(x: f32[8, 4] @ M[S(0)] = randn(seed=1), w: f32[8, 4] @ M[R] = zeros()) -> f32[8, 4] {\n"
        "    let h = x @ w;\n"
        "    let k = relu(h) + 1;\n"
        "    return k + nope;\n"
        "}\n";
    Arena *a = arena_new();
    int nerr;
    IrModule *m = load(a, text, NULL, &nerr);
    CHECK(m == NULL && nerr == 2);
    CHECK_STR(diag_buf,
              "t.dt:3:15: error: matmul: contraction sizes differ: 4 vs 8 (lhs is f32[8, 4], rhs is f32[8, 4])\n"
              "    let h = x @ w;\n"
              "              ^\n"
              "t.dt:5:16: error: unknown name 'nope'\n"
              "    return k + nope;\n"
              "               ^\n");

    /* sema does not run after syntax errors */
    m = load(a, "mesh M[dp=2]\nfn main() -> f32[] { return undefined; }\n", NULL, &nerr);
    CHECK(m == NULL && nerr == 1 && !strstr(diag_buf, "undefined"));

    /* a missing file */
    FILE *f = fmemopen(diag_buf, sizeof diag_buf, "w");
    Diag *d = diag_new(a, f);
    m = fe_load_file(a, d, "/nonexistent/x.dt", NULL);
    fclose(f);
    CHECK(m == NULL && diag_nerrors(d) == 1);
    CHECK_STR(diag_buf, "dtc: error: cannot read '/nonexistent/x.dt': No such file or directory\n");

    /* hostile but parseable inputs neither crash nor pass */
    static const char *hostile[] = {
        "const A = 9223372036854775807 * 2; mesh M[d=1]; fn main() -> f32[] { return 1.0; }",
        "mesh M[d=70000, e=70000]; fn main() -> f32[] { return 1.0; }",
        "mesh M[a=1,b=1,c=1,d=1,e=1]; fn main() -> f32[] { return 1.0; }",
        "mesh M[d=1]; fn main(x: f32[1000000, 1000000, 1000000] @ M[R]) -> f32[] { return sum(x); }",
        "mesh M[d=1]; fn main(x: f32[4] @ M[S(-9223372036854775807)]) -> f32[4] { return x; }",
        "mesh M[d=1]; fn f() -> (f32[], f32[]) { return 1.0, 2.0; } fn main() -> f32[] { return f() + f(); }",
        "mesh M[d=1]; fn main(x: f32[2] @ M[R]) -> f32[2] { let a, b = x; return reshape(x, [9223372036854775807, 2]); }",
        "mesh M[d=1]; fn main(x: f32[2] @ M[R]) -> f32[2] { return x * -(-9223372036854775807 - 1); }",
    };
    for (size_t k = 0; k < sizeof hostile / sizeof hostile[0]; k++) {
        m = load(a, hostile[k], NULL, &nerr);
        CHECK(m == NULL && nerr > 0);
    }
    /* a function with no result needs no return; it still lowers */
    m = load(a, "mesh M[d=1]; fn side(x: f32[2]) { let y = x; } fn main() -> f32[] { return 1.0; }",
             NULL, &nerr);
    CHECK(m != NULL && nerr == 0);
    arena_free(a);
}

/* Shape variables: a generic function gets one instance per binding of its
 * variables, shared by every call with that binding; an error in its body
 * is reported once however many instances have it, with the call that made
 * the first; recursion through a new binding is recursion. */
static void test_shape_vars(void)
{
    static const char *text =
        "mesh M[dp=2];\n"
        "fn axpy(a: f32[], x: f32[*S], y: f32[*S]) -> f32[*S] { let t: f32[*S] = a * x; return t + y; }\n"
        "fn main(x: f32[8, 4] @ M[S(0)] = randn(seed=1), v: f32[6] @ M[R] = zeros()) -> (f32[8, 4], f32[6]) {\n"
        "    let p = axpy(2.0, x, x);\n"
        "    let q = axpy(0.5, p, x);\n"
        "    let r = axpy(1.0, v, v);\n"
        "    return axpy(1.0, q, p), r;\n"
        "}\n";
    Arena *a = arena_new();
    int nerr;
    IrModule *m = load(a, text, NULL, &nerr);
    CHECK(m != NULL && nerr == 0);
    if (m) {
        /* main and two instances of axpy; no generic axpy */
        CHECK(m->nfuncs == 3);
        IrFunc *big = ir_func_find(m, "axpy__S_8_4"), *small = ir_func_find(m, "axpy__S_6");
        CHECK(big && small && !ir_func_find(m, "axpy"));
        if (big && small) {
            CHECK_STR(ty(big->params[1]), "f32[8, 4]");
            CHECK_STR(ty(small->results[0]), "f32[6]");
        }
        int calls_big = 0;
        for (IrInst *i = m->entry->first; i; i = i->next)
            calls_big += i->op == OP_CALL && i->a.fn == big;
        CHECK(calls_big == 3);
    }
    /* the same error in two instances: once */
    m = load(a, "mesh M[dp=2];\n"
                "fn bad(x: f32[*S]) -> f32[*S] { return x + nope; }\n"
                "fn main(x: f32[8] @ M[R] = zeros(), y: f32[2] @ M[R] = zeros()) -> f32[8] {\n"
                "    let z = bad(y);\n"
                "    return bad(x);\n"
                "}\n", NULL, &nerr);
    CHECK(m == NULL && nerr == 1);
    CHECK_STR(diag_buf, "t.dt:2:44: error: unknown name 'nope'\n"
                        "fn bad(x: f32[*S]) -> f32[*S] { return x + nope; }\n"
                        "                                           ^\n"
                        "t.dt:4:13: note: in 'bad' with *S = [2], called here\n"
                        "    let z = bad(y);\n"
                        "            ^\n");
    /* a generic function calling itself with a new shape */
    m = load(a, "mesh M[dp=2];\n"
                "fn grow(x: f32[*S]) -> f32[] { return sum(grow(concat([x, x], axis=0))); }\n"
                "fn main(x: f32[8] @ M[R] = zeros()) -> f32[] { return grow(x); }\n", NULL, &nerr);
    CHECK(m == NULL && nerr == 1 && strstr(diag_buf, "recursion is not allowed: 'grow' calls itself"));
    arena_free(a);
}

int main(void)
{
    test_mlp();
    test_calls();
    test_attrs();
    test_surface_rows();
    test_surface_defaults();
    test_options();
    test_errors();
    test_shape_vars();
    printf("test_sema: %d checks (mlp lowering, calls and multi-result let, attributes, --mesh, "
           "--entry and the inlined size limit, diagnostics, hostile inputs, the surface schema, shape variables), %d failed\n", nchecks, nfail);
    return nfail ? 1 : 0;
}
