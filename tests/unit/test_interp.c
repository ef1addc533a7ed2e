/* test_interp.c - the reference interpreter.
 *
 * Global runs: small IR functions built with the ir.h API, checked against
 * hand-computed values for every op family; inputs from --in tensors and
 * from every initialiser; the error messages for bad inputs.
 * Sharded runs: scatter + assemble round trips for many placements on a 2x3
 * mesh (uneven, empty, nested splits, every partial kind); every collective
 * and local layout op through the generic engine; hand-partitioned programs
 * (matmul with a split contraction -> all_reduce, embedding with a split
 * table, elementwise + reduction on shards) equal to the global run.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/interp.h"
#include "runtime/core/rt_core.h"

static int failures;
static Arena *A;

/* Prints "ok: ..." for a section only if it added no failure. */
static int section_start;
#define SECTION() (section_start = failures)
#define SECTION_OK(...)                                                 \
    do {                                                                \
        printf(failures == section_start ? "ok: " : "FAILED: ");        \
        printf(__VA_ARGS__);                                            \
    } while (0)

#define CHECK(c, ...)                                                   \
    do {                                                                \
        if (!(c)) {                                                     \
            failures++;                                                 \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);         \
            printf(__VA_ARGS__);                                        \
            printf("\n");                                               \
        }                                                               \
    } while (0)

/* ---- building IR ------------------------------------------------------------------ */

static IrType T(DType dt, int rank, ...)
{
    IrType t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    va_list ap;
    va_start(ap, rank);
    for (int d = 0; d < rank; d++)
        t.dims[d] = va_arg(ap, int);
    va_end(ap);
    return t;
}

/* A module with a mesh (naxes 0: none) and one function "main". */
static IrFunc *new_fn(IrModule **mp, int naxes, int s0, int s1)
{
    IrModule *m = ir_module_new(A);
    m->mesh.name = "M";
    m->mesh.naxes = naxes;
    m->mesh.axis_name[0] = "dp";
    m->mesh.axis_name[1] = "tp";
    m->mesh.size[0] = s0;
    m->mesh.size[1] = s1;
    IrFunc *f = ir_func_new(m, "main");
    m->entry = f;
    *mp = m;
    return f;
}

static Placement PL(int naxes, const char *a0, const char *a1)
{
    Placement p = pl_replicated(naxes);
    const char *s[2] = {a0, a1};
    for (int a = 0; a < naxes; a++) {
        PlEntry *e = &p.e[a];
        if (s[a][0] == 'S') {
            e->kind = PL_S;
            e->dim = s[a][2] - '0';
        } else if (s[a][0] == 'P') {
            e->kind = PL_P;
            e->red = strstr(s[a], "max") ? RED_MAX : strstr(s[a], "min") ? RED_MIN
                     : strstr(s[a], "avg") ? RED_AVG : RED_SUM;
        }
    }
    return p;
}

static IrInit INIT(InitKind k, uint64_t seed, double a, double b)
{
    IrInit i = {k, seed, a, b, NULL, 0};
    return i;
}

static IrValue *param(IrModule *m, IrFunc *f, const char *name, IrType t)
{
    return ir_param_new(m, f, name, t, pl_replicated(m->mesh.naxes), INIT(INIT_NONE, 0, 0, 0));
}

static IrInst *inst(IrModule *m, IrFunc *f, IrOp op, int nargs, IrValue *a, IrValue *b, IrValue *c,
                    IrType rt)
{
    IrValue *args[3] = {a, b, c};
    return ir_inst_new(m, f, NULL, op, nargs, args, 1, &rt);
}

static IrValue *op1(IrModule *m, IrFunc *f, IrOp op, IrValue *a, IrType rt)
{
    return inst(m, f, op, 1, a, NULL, NULL, rt)->res[0];
}

static IrValue *op2(IrModule *m, IrFunc *f, IrOp op, IrValue *a, IrValue *b, IrType rt)
{
    return inst(m, f, op, 2, a, b, NULL, rt)->res[0];
}

static void set_ints(IrValue *v, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int64_t *ints = ir_attrs_ints(A, &v->def->a, n);
    for (int i = 0; i < n; i++)
        ints[i] = va_arg(ap, int);
    va_end(ap);
}

static void returns(IrModule *m, IrFunc *f, int n, IrValue **vals)
{
    f->nresults = n;
    f->results = arena_dup(m->arena, vals, (size_t)n, sizeof *vals);
}

/* ---- tensors -------------------------------------------------------------------- */

static Tensor mk(IrType t, const double *vals)
{
    Tensor x = interp_tensor_new(A, &t);
    for (int64_t i = 0; i < interp_numel(&x); i++)
        interp_set(&x, i, vals[i]);
    return x;
}

static void expect(const char *what, const Tensor *t, IrType want, const double *vals, double tol)
{
    IrType have = interp_tensor_type(t);
    char b1[96], b2[96];
    if (!ir_type_eq(&have, &want)) {
        CHECK(0, "%s: result %s, expected %s", what, ir_type_str(&have, b1, sizeof b1),
              ir_type_str(&want, b2, sizeof b2));
        return;
    }
    for (int64_t i = 0; i < interp_numel(t); i++) {
        double v = interp_get(t, i), w = vals[i];
        bool ok = (isnan(w) && isnan(v)) || v == w || fabs(v - w) <= tol * (1.0 + fabs(w));
        CHECK(ok, "%s[%lld] = %.17g, expected %.17g", what, (long long)i, v, w);
        if (!ok)
            return;
    }
}

/* Runs f globally with given tensors (NULL entries: initialisers). */
static Tensor *run_global(IrModule *m, IrFunc *f, const Tensor *const *given, const char *base)
{
    InterpInputs in = {given, NULL, base, 0};
    Tensor *res = NULL;
    char err[512];
    int rc = interp_run(A, m, f, &in, &res, err, sizeof err);
    CHECK(rc == 0, "interp_run failed: %s", err);
    return rc == 0 ? res : NULL;
}

/* Expects interp_run to fail with a message containing `want`. */
static void expect_fail(IrModule *m, IrFunc *f, const Tensor *const *given, const char *base,
                        const char *want, bool sharded)
{
    InterpInputs in = {given, NULL, base, 0};
    Tensor *res = NULL;
    char err[512] = "";
    int rc = sharded ? interp_run_sharded(A, m, f, &in, &res, err, sizeof err)
                     : interp_run(A, m, f, &in, &res, err, sizeof err);
    CHECK(rc == -1 && strstr(err, want), "expected an error with '%s', got rc %d '%s'", want, rc, err);
    printf("  error as expected: %s\n", err);
}

/* ---- op families (global) ------------------------------------------------------------- */

static void test_unary(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrType t4 = T(DT_F64, 1, 4);
    IrValue *x = param(m, f, "x", t4), *y = param(m, f, "y", t4), *c = param(m, f, "c", t4);
    IrOp ops[] = {OP_NEG, OP_EXP, OP_ABS, OP_TANH, OP_SIGMOID, OP_RELU, OP_SILU, OP_GELU_TANH, OP_POW};
    IrValue *r[20];
    int n = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        r[n++] = op1(m, f, ops[i], x, t4);
    r[n - 1]->def->a.f = 3.0;
    r[n++] = op1(m, f, OP_LOG, y, t4);
    r[n++] = op1(m, f, OP_SQRT, y, t4);
    r[n++] = op1(m, f, OP_RSQRT, y, t4);
    r[n] = op1(m, f, OP_CAST, c, T(DT_I32, 1, 4)), n++;
    r[n] = op1(m, f, OP_CAST, r[n - 1], T(DT_F32, 1, 4)), n++;
    r[n] = op1(m, f, OP_CAST, x, T(DT_F32, 1, 4)), n++;
    r[n] = op1(m, f, OP_GELU_TANH, r[n - 1], T(DT_F32, 1, 4)), n++; /* in f32 */
    returns(m, f, n, r);

    const double xv[4] = {-1, 0, 0.5, 2}, yv[4] = {0.25, 1, 4, 16}, cv[4] = {-1.7, 2.7, -0.5, 1e10};
    Tensor X = mk(t4, xv), Y = mk(t4, yv), C = mk(t4, cv);
    const Tensor *given[3] = {&X, &Y, &C};
    Tensor *res = run_global(m, f, given, NULL);
    if (!res)
        return;
    const double want[][4] = {
        {1, -0.0, -0.5, -2},
        {0.36787944117144233, 1, 1.6487212707001282, 7.38905609893065},
        {1, 0, 0.5, 2},
        {-0.7615941559557649, 0.0, 0.46211715726000974, 0.9640275800758169},
        {0.2689414213699951, 0.5, 0.6224593312018546, 0.8807970779778823},
        {0, 0, 0.5, 2},
        {-0.2689414213699951, 0.0, 0.3112296656009273, 1.7615941559557646},
        {-0.15880800939172324, 0.0, 0.34571400982514394, 1.954597694087775},
        {-1, 0, 0.125, 8},
        {-1.3862943611198906, 0, 1.3862943611198906, 2.772588722239781},
        {0.5, 1, 2, 4},
        {2, 1, 0.5, 0.25},
        {-1, 2, 0, INT32_MIN},
        {-1, 2, 0, -2147483648.0},
        {-1, 0, 0.5, 2},
        {-0.15880800939172324, 0.0, 0.34571400982514394, 1.954597694087775},
    };
    const char *names[] = {"neg", "exp", "abs", "tanh", "sigmoid", "relu", "silu", "gelu", "pow3",
                           "log", "sqrt", "rsqrt", "cast f64->i32", "cast i32->f32",
                           "cast f64->f32", "gelu f32"};
    for (int i = 0; i < n; i++) {
        IrType rt = f->results[i]->type;
        expect(names[i], &res[i], rt, want[i], rt.dtype == DT_F32 ? 1e-7 : 1e-15);
    }
    /* f32 results are the double result rounded once */
    CHECK(((float *)res[15].data)[3] == (float)1.954597694087775, "gelu f32 rounding");
    SECTION_OK("unary ops (neg exp log sqrt rsqrt abs tanh sigmoid relu silu gelu pow cast) on "
           "hand-computed values\n");
}

static void test_binary(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrType t23 = T(DT_F32, 2, 2, 3);
    IrValue *a = param(m, f, "a", t23), *b = param(m, f, "b", T(DT_F32, 1, 3));
    IrValue *c = param(m, f, "c", T(DT_F32, 2, 2, 1)), *d = param(m, f, "d", T(DT_F32, 2, 1, 3));
    IrValue *p = param(m, f, "p", T(DT_F32, 1, 3)), *q = param(m, f, "q", T(DT_F32, 1, 3));
    IrType i4 = T(DT_I32, 1, 4);
    IrValue *i = param(m, f, "i", i4), *j = param(m, f, "j", i4);
    IrType ts = T(DT_F32, 0);
    IrValue *k = ir_inst_new(m, f, NULL, OP_CONST, 0, NULL, 1, &ts)->res[0];
    k->def->a.f = 3.5;
    IrValue *r[12];
    int n = 0;
    r[n++] = op2(m, f, OP_ADD, a, b, t23);
    r[n++] = op2(m, f, OP_MUL, c, d, t23);
    r[n++] = op2(m, f, OP_DIV, a, c, t23);
    r[n++] = op2(m, f, OP_SUB, b, a, t23);
    r[n++] = op2(m, f, OP_MAXIMUM, a, k, t23);
    r[n++] = op2(m, f, OP_MINIMUM, p, q, T(DT_F32, 1, 3));
    r[n++] = op2(m, f, OP_MAXIMUM, p, q, T(DT_F32, 1, 3));
    r[n++] = op2(m, f, OP_ADD, i, j, i4);
    r[n++] = op2(m, f, OP_FLOORDIV, i, j, i4);
    r[n++] = op2(m, f, OP_MUL, i, i, i4);
    r[n++] = op1(m, f, OP_NEG, i, i4);
    returns(m, f, n, r);
    const double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20, 30}, cv[] = {2, 3}, dv[] = {1, 2, 4};
    const double pv[] = {1, NAN, 5}, qv[] = {NAN, 2, 4};
    const double iv[] = {2147483647, -7, 7, 65536}, jv[] = {1, 2, -2, 0};
    Tensor Ta = mk(a->type, av), Tb = mk(b->type, bv), Tc = mk(c->type, cv), Td = mk(d->type, dv);
    Tensor Tp = mk(p->type, pv), Tq = mk(q->type, qv), Ti = mk(i4, iv), Tj = mk(i4, jv);
    const Tensor *given[] = {&Ta, &Tb, &Tc, &Td, &Tp, &Tq, &Ti, &Tj};
    Tensor *res = run_global(m, f, given, NULL);
    if (!res)
        return;
    const double w0[] = {11, 22, 33, 14, 25, 36}, w1[] = {2, 4, 8, 3, 6, 12};
    const double w2[] = {0.5, 1, 1.5, 4.0 / 3, 5.0 / 3, 2}, w3[] = {9, 18, 27, 6, 15, 24};
    const double w4[] = {3.5, 3.5, 3.5, 4, 5, 6}, w5[] = {NAN, NAN, 4}, w6[] = {NAN, NAN, 5};
    const double w7[] = {-2147483648.0, -5, 5, 65536}, w8[] = {2147483647, -4, -4, 0};
    const double w9[] = {1, 49, 49, 0}, w10[] = {-2147483647, 7, -7, -65536};
    expect("add [2,3]+[3]", &res[0], t23, w0, 1e-7);
    expect("mul [2,1]*[1,3]", &res[1], t23, w1, 1e-7);
    expect("div [2,3]/[2,1]", &res[2], t23, w2, 1e-7);
    expect("sub [3]-[2,3]", &res[3], t23, w3, 1e-7);
    expect("maximum with scalar const", &res[4], t23, w4, 0);
    expect("minimum NaN", &res[5], p->type, w5, 0);
    expect("maximum NaN", &res[6], p->type, w6, 0);
    expect("i32 add wraps", &res[7], i4, w7, 0);
    expect("i32 floordiv floors, x//0 = 0", &res[8], i4, w8, 0);
    expect("i32 mul wraps", &res[9], i4, w9, 0);
    expect("i32 neg", &res[10], i4, w10, 0);
    SECTION_OK("binary ops with NumPy broadcasting, NaN propagation, i32 wrapping and floor "
           "division\n");

    /* operands that do not broadcast to the result */
    IrFunc *g = new_fn(&m, 0, 1, 1);
    IrValue *x = param(m, g, "x", t23), *e = param(m, g, "e", T(DT_F32, 1, 2));
    IrValue *s = op2(m, g, OP_ADD, x, e, t23);
    returns(m, g, 1, &s);
    Tensor Te = mk(e->type, bv);
    const Tensor *given2[] = {&Ta, &Te};
    expect_fail(m, g, given2, NULL, "do not broadcast", false);
}

/* The ops added with the elementwise table: known values (numpy's). */
static void test_elementwise_table(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrType t6 = T(DT_F64, 1, 6), i6 = T(DT_I32, 1, 6);
    IrValue *x = param(m, f, "x", t6), *y = param(m, f, "y", t6);
    IrValue *i = param(m, f, "i", i6), *j = param(m, f, "j", i6);
    IrValue *r[32];
    const char *names[32];
    int n = 0;
#define U(OP, A, T) (names[n] = #OP, r[n] = op1(m, f, OP, A, T), n++)
#define B(OP, A, C, T) (names[n] = #OP, r[n] = op2(m, f, OP, A, C, T), n++)
    U(OP_SIN, x, t6);
    U(OP_COS, x, t6);
    U(OP_ERF, x, t6);
    U(OP_FLOOR, x, t6);
    U(OP_CEIL, x, t6);
    U(OP_ROUND, x, t6);
    U(OP_GELU, x, t6);
    U(OP_LOG1P, x, t6);
    U(OP_EXPM1, x, t6);
    B(OP_FLOORDIV, x, y, t6);
    B(OP_MOD, x, y, t6);
    B(OP_FLOORDIV, i, j, i6);
    B(OP_MOD, i, j, i6);
    B(OP_LT, x, y, t6);
    B(OP_LE, i, j, i6);
    B(OP_GT, x, y, t6);
    B(OP_GE, x, y, t6);
    B(OP_EQ, i, j, i6);
    B(OP_NE, x, y, t6);
    IrType s = T(DT_F64, 0);
    IrValue *zero = ir_inst_new(m, f, NULL, OP_CONST, 0, NULL, 1, &s)->res[0];
    names[n] = "where";
    r[n] = inst(m, f, OP_WHERE, 3, r[13], x, zero, t6)->res[0], n++;      /* where(x < y, x, 0) */
    names[n] = "where i32 cond";
    r[n] = inst(m, f, OP_WHERE, 3, i, j, i, i6)->res[0], n++;              /* where(i, j, i) */
    IrType t23 = T(DT_F32, 2, 2, 3);
    IrInst *io = ir_inst_new(m, f, NULL, OP_IOTA, 0, NULL, 1, &t23);
    ir_attrs_ints(A, &io->a, 2), io->a.ints[0] = 2, io->a.ints[1] = 3, io->a.dim = 0;
    names[n] = "iota axis 0", r[n++] = io->res[0];
    io = ir_inst_new(m, f, NULL, OP_IOTA, 0, NULL, 1, &t23);
    ir_attrs_ints(A, &io->a, 2), io->a.ints[0] = 2, io->a.ints[1] = 3, io->a.dim = 1;
    names[n] = "iota axis 1", r[n++] = io->res[0];
#undef U
#undef B
    returns(m, f, n, r);
    const double xv[6] = {-2.5, -0.5, 0.5, 1.5, 2.5, 7.0}, yv[6] = {2, -2, 2, 0, -0.75, 7.0};
    const double iv[6] = {-7, 7, -7, 7, 5, 3}, jv[6] = {2, -2, -2, 0, 5, 0};
    Tensor X = mk(t6, xv), Y = mk(t6, yv), I = mk(i6, iv), J = mk(i6, jv);
    const Tensor *given[4] = {&X, &Y, &I, &J};
    Tensor *res = run_global(m, f, given, NULL);
    if (!res)
        return;
    const double want[][6] = {
        {-0.5984721441039564, -0.479425538604203, 0.479425538604203, 0.9974949866040544,
         0.5984721441039564, 0.6569865987187891},
        {-0.8011436155469337, 0.8775825618903728, 0.8775825618903728, 0.0707372016677029,
         -0.8011436155469337, 0.7539022543433046},
        {-0.999593047982555, -0.5204998778130465, 0.5204998778130465, 0.9661051464753108,
         0.999593047982555, 1.0},
        {-3, -1, 0, 1, 2, 7},
        {-2, -0.0, 1, 2, 3, 7},
        {-2, -0.0, 0, 2, 2, 7},                      /* half to even */
        {-0.015524163314440398, -0.15426876936299344, 0.34573123063700656, 1.399789198096713,
         2.4844758366855597, 6.999999999991041},
        {NAN, -0.6931471805599453, 0.4054651081081644, 0.9162907318741551, 1.252762968495368,
         2.0794415416798357},
        {-0.9179150013761013, -0.3934693402873666, 0.6487212707001282, 3.481689070338065,
         11.182493960703473, 1095.6331584284585},
        {-2, 0, 0, INFINITY, -4, 1},                 /* numpy floor_divide */
        {1.5, -0.5, 0.5, NAN, -0.5, 0},              /* numpy remainder: the divisor's sign */
        {-4, -4, 3, 0, 1, 0},                        /* i32 //, by zero 0 */
        {1, -1, -1, 0, 0, 0},                        /* i32 %, by zero 0 */
        {1, 0, 1, 0, 0, 0},
        {1, 0, 1, 0, 1, 0},
        {0, 1, 0, 1, 1, 0},
        {0, 1, 0, 1, 1, 1},
        {0, 0, 0, 0, 1, 0},
        {1, 1, 1, 1, 1, 0},
        {-2.5, 0, 0.5, 0, 0, 0},
        {2, -2, -2, 0, 5, 0},
        {0, 0, 0, 1, 1, 1},
        {0, 1, 2, 0, 1, 2},
    };
    for (int k = 0; k < n; k++) {
        IrType rt = f->results[k]->type;
        expect(names[k], &res[k], rt, want[k], rt.dtype == DT_F32 ? 1e-7 : 1e-13);
    }
    CHECK(signbit(interp_get(&res[4], 1)) && signbit(interp_get(&res[5], 1)), "ceil/round(-0.5) is -0.0");
    CHECK(!strcmp(names[13], "OP_LT"), "the where condition is x < y");
    SECTION_OK("elementwise table ops (sin cos erf floor ceil round gelu log1p expm1 // %% comparisons where iota) on "
               "known values\n");
}

static void test_reductions(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrValue *x = ir_param_new(m, f, "x", T(DT_F32, 3, 2, 3, 4), pl_replicated(0),
                              INIT(INIT_ARANGE, 0, 0, 0));
    IrValue *iv = param(m, f, "i", T(DT_I32, 1, 2));
    IrValue *r[8];
    r[0] = op1(m, f, OP_SUM, x, T(DT_F32, 2, 2, 4));
    set_ints(r[0], 1, 1);
    r[1] = op1(m, f, OP_MEAN, x, T(DT_F32, 3, 1, 3, 1));
    set_ints(r[1], 2, 0, 2);
    r[1]->def->a.keepdims = true;
    r[2] = op1(m, f, OP_MAX, x, T(DT_F32, 0)); /* every axis, listed as sema does */
    set_ints(r[2], 3, 0, 1, 2);
    r[3] = op1(m, f, OP_MIN, x, T(DT_F32, 2, 2, 3));
    set_ints(r[3], 1, -1);
    r[4] = op1(m, f, OP_SUM, iv, T(DT_I32, 0));
    set_ints(r[4], 1, 0);
    r[5] = op1(m, f, OP_MAX, x, T(DT_F32, 2, 2, 4));
    set_ints(r[5], 1, 1);
    returns(m, f, 6, r);
    const double ivals[] = {2147483647, 1};
    Tensor Ti = mk(iv->type, ivals);
    const Tensor *given[] = {NULL, &Ti};
    Tensor *res = run_global(m, f, given, NULL);
    if (!res)
        return;
    const double w0[] = {12, 15, 18, 21, 48, 51, 54, 57}, w1[] = {7.5, 11.5, 15.5}, w2[] = {23};
    const double w3[] = {0, 4, 8, 12, 16, 20}, w4[] = {-2147483648.0};
    const double w5[] = {8, 9, 10, 11, 20, 21, 22, 23};
    expect("sum axis 1", &res[0], r[0]->type, w0, 0);
    expect("mean axes (0, 2) keepdims", &res[1], r[1]->type, w1, 0);
    expect("max all", &res[2], r[2]->type, w2, 0);
    expect("min axis -1", &res[3], r[3]->type, w3, 0);
    expect("i32 sum wraps", &res[4], r[4]->type, w4, 0);
    expect("max axis 1", &res[5], r[5]->type, w5, 0);
    SECTION_OK("sum / mean / max / min over axis lists, negative axes, keepdims, all axes\n");

    IrFunc *g = new_fn(&m, 0, 1, 1);
    IrValue *e = param(m, g, "e", T(DT_F32, 2, 0, 3));
    IrValue *mx = op1(m, g, OP_MAX, e, T(DT_F32, 1, 3));
    set_ints(mx, 1, 0);
    returns(m, g, 1, &mx);
    Tensor Te = mk(e->type, NULL);
    const Tensor *given2[] = {&Te};
    expect_fail(m, g, given2, NULL, "zero-size reduction", false);
}

static void test_norms(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrType t23 = T(DT_F64, 2, 2, 3), t14 = T(DT_F64, 2, 1, 4), t4 = T(DT_F64, 1, 4);
    IrValue *x = param(m, f, "x", t23), *z = param(m, f, "z", T(DT_F64, 2, 2, 2));
    IrValue *v = param(m, f, "v", t14), *g = param(m, f, "g", t4), *b = param(m, f, "b", t4);
    IrValue *z0 = param(m, f, "z0", t4);
    IrValue *r[8];
    r[0] = op1(m, f, OP_SOFTMAX, x, t23);
    set_ints(r[0], 1, -1);
    r[1] = op1(m, f, OP_LOG_SOFTMAX, x, t23);
    set_ints(r[1], 1, 1);
    r[2] = op1(m, f, OP_SOFTMAX, z, z->type);
    set_ints(r[2], 1, 0);
    r[3] = inst(m, f, OP_LAYERNORM, 3, v, g, z0, t14)->res[0];
    r[4] = inst(m, f, OP_RMSNORM, 2, v, g, NULL, t14)->res[0];
    r[5] = inst(m, f, OP_LAYERNORM, 3, v, b, g, t14)->res[0]; /* gamma 2, beta 1 */
    r[5]->def->a.f = 1e-5;
    returns(m, f, 6, r);
    const double xv[] = {1, 2, 3, 1000, 1000, 1000}, zv[] = {1, 2, 3, 4}, vv[] = {1, 2, 3, 4};
    const double gv[] = {1, 1, 1, 1}, bv[] = {2, 2, 2, 2}, z0v[] = {0, 0, 0, 0};
    Tensor X = mk(t23, xv), Z = mk(z->type, zv), V = mk(t14, vv), G = mk(t4, gv), B = mk(t4, bv);
    Tensor Z0 = mk(t4, z0v);
    const Tensor *given[] = {&X, &Z, &V, &G, &B, &Z0};
    Tensor *res = run_global(m, f, given, NULL);
    if (!res)
        return;
    const double w0[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219,
                         1.0 / 3, 1.0 / 3, 1.0 / 3};
    const double w1[] = {-2.4076059644443806, -1.4076059644443804, -0.4076059644443803,
                         -1.0986122886681098, -1.0986122886681098, -1.0986122886681098};
    const double w2[] = {0.11920292202211755, 0.11920292202211755, 0.8807970779778823,
                         0.8807970779778823};
    const double w3[] = {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579,
                         1.3416407864998738};
    const double w4[] = {0.3651483716701107, 0.7302967433402214, 1.0954451150103321,
                         1.4605934866804429};
    /* (x - 2.5) / sqrt(1.25 + 1e-5) * 2 + 1 */
    double w5[4];
    for (int i = 0; i < 4; i++)
        w5[i] = (vv[i] - 2.5) / sqrt(1.25 + 1e-5) * 2 + 1;
    expect("softmax axis -1 (stable at 1000)", &res[0], t23, w0, 1e-15);
    expect("log_softmax axis 1", &res[1], t23, w1, 1e-15);
    expect("softmax axis 0", &res[2], z->type, w2, 1e-15);
    expect("layernorm", &res[3], t14, w3, 1e-15);
    expect("rmsnorm", &res[4], t14, w4, 1e-15);
    expect("layernorm gamma/beta/eps", &res[5], t14, w5, 1e-15);
    SECTION_OK("softmax / log_softmax (any axis, stable), layernorm, rmsnorm\n");
}

static void test_shape_and_matmul(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrValue *a = param(m, f, "a", T(DT_F32, 2, 2, 3)), *b = param(m, f, "b", T(DT_F32, 2, 3, 2));
    IrValue *x = ir_param_new(m, f, "x", T(DT_F32, 3, 2, 3, 4), pl_replicated(0),
                              INIT(INIT_ARANGE, 0, 0, 0));
    IrValue *ab = param(m, f, "ab", T(DT_F32, 3, 2, 2, 3));
    IrValue *id = param(m, f, "id", T(DT_F32, 3, 1, 2, 2)), *bb = param(m, f, "bb", T(DT_F32, 3, 3, 2, 2));
    IrValue *ia = param(m, f, "ia", T(DT_I32, 2, 1, 2)), *ib = param(m, f, "ib", T(DT_I32, 2, 2, 1));
    IrValue *r[10];
    r[0] = op1(m, f, OP_TRANSPOSE, a, T(DT_F32, 2, 3, 2));
    set_ints(r[0], 2, 1, 0);
    r[1] = op1(m, f, OP_TRANSPOSE, x, T(DT_F32, 3, 4, 2, 3));
    set_ints(r[1], 3, 2, 0, 1);
    r[2] = op1(m, f, OP_RESHAPE, a, T(DT_F32, 2, 3, 2));
    set_ints(r[2], 2, 3, 2);
    r[3] = op2(m, f, OP_MATMUL, a, b, T(DT_F32, 2, 2, 2));
    r[4] = op2(m, f, OP_MATMUL, ab, b, T(DT_F32, 3, 2, 2, 2));
    r[5] = op2(m, f, OP_MATMUL, id, bb, T(DT_F32, 3, 3, 2, 2));
    r[6] = op2(m, f, OP_MATMUL, ia, ib, T(DT_I32, 2, 1, 1));
    returns(m, f, 7, r);
    const double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {7, 8, 9, 10, 11, 12};
    const double abv[] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, idv[] = {1, 0, 0, 1};
    double bbv[12];
    for (int i = 0; i < 12; i++)
        bbv[i] = i * 0.5 - 1;
    const double iav[] = {65536, 3}, ibv[] = {65536, 5};
    Tensor Ta = mk(a->type, av), Tb = mk(b->type, bv), Tab = mk(ab->type, abv);
    Tensor Tid = mk(id->type, idv), Tbb = mk(bb->type, bbv), Tia = mk(ia->type, iav),
           Tib = mk(ib->type, ibv);
    const Tensor *given[] = {&Ta, &Tb, NULL, &Tab, &Tid, &Tbb, &Tia, &Tib};
    Tensor *res = run_global(m, f, given, NULL);
    if (!res)
        return;
    const double w0[] = {1, 4, 2, 5, 3, 6};
    double w1[24];
    for (int k = 0; k < 4; k++) /* out[k][i][j] = x[i][j][k] = 12i + 4j + k */
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                w1[(k * 2 + i) * 3 + j] = 12 * i + 4 * j + k;
    const double w3[] = {58, 64, 139, 154}, w4[] = {58, 64, 139, 154, -58, -64, -139, -154};
    const double w6[] = {15}; /* 2^32 + 15 wraps to 15 */
    expect("transpose [1, 0]", &res[0], r[0]->type, w0, 0);
    expect("transpose [2, 0, 1]", &res[1], r[1]->type, w1, 0);
    expect("reshape", &res[2], r[2]->type, av, 0);
    expect("matmul", &res[3], r[3]->type, w3, 0);
    expect("matmul batch [2,2,3]@[3,2]", &res[4], r[4]->type, w4, 0);
    expect("matmul broadcast [1,2,2]@[3,2,2]", &res[5], r[5]->type, bbv, 0);
    expect("matmul i32 wraps", &res[6], r[6]->type, w6, 0);
    SECTION_OK("transpose, reshape, matmul (batch and broadcast batch dims, i32)\n");

    IrFunc *g = new_fn(&m, 0, 1, 1);
    IrValue *p = param(m, g, "p", T(DT_F32, 2, 2, 3)), *q = param(m, g, "q", T(DT_F32, 2, 2, 3));
    IrValue *pq = op2(m, g, OP_MATMUL, p, q, T(DT_F32, 2, 2, 3));
    returns(m, g, 1, &pq);
    const Tensor *given2[] = {&Ta, &Ta};
    expect_fail(m, g, given2, NULL, "cannot give", false);
}

static void test_lookup(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrValue *tab = param(m, f, "tab", T(DT_F32, 2, 4, 2)), *ids = param(m, f, "ids", T(DT_I32, 1, 3));
    IrValue *ids2 = param(m, f, "ids2", T(DT_I32, 2, 2, 2));
    IrValue *lg = param(m, f, "lg", T(DT_F64, 2, 2, 2)), *lb = param(m, f, "lb", T(DT_I32, 1, 2));
    IrValue *r[3];
    r[0] = op2(m, f, OP_EMBEDDING, tab, ids, T(DT_F32, 2, 3, 2));
    r[1] = op2(m, f, OP_EMBEDDING, tab, ids2, T(DT_F32, 3, 2, 2, 2));
    r[2] = op2(m, f, OP_CROSS_ENTROPY, lg, lb, T(DT_F64, 0));
    returns(m, f, 3, r);
    const double tv[] = {0, 1, 10, 11, 20, 21, 30, 31}, iv[] = {3, 0, 3}, i2v[] = {1, 2, 2, 1};
    const double lgv[] = {0, 0, 1, 2}, lbv[] = {0, 1};
    Tensor Tt = mk(tab->type, tv), Ti = mk(ids->type, iv), Ti2 = mk(ids2->type, i2v);
    Tensor Tl = mk(lg->type, lgv), Tb = mk(lb->type, lbv);
    const Tensor *given[] = {&Tt, &Ti, &Ti2, &Tl, &Tb};
    Tensor *res = run_global(m, f, given, NULL);
    if (!res)
        return;
    const double w0[] = {30, 31, 0, 1, 30, 31}, w1[] = {10, 11, 20, 21, 20, 21, 10, 11};
    const double w2[] = {0.503204434039084};
    expect("embedding", &res[0], r[0]->type, w0, 0);
    expect("embedding 2-d ids", &res[1], r[1]->type, w1, 0);
    expect("cross_entropy", &res[2], r[2]->type, w2, 1e-15);
    SECTION_OK("embedding (1-d and 2-d ids), cross_entropy\n");

    /* out-of-range ids / labels; the message carries the source position */
    const double bad[] = {1, 4, 0};
    Tensor Tbad = mk(ids->type, bad);
    const Tensor *given2[] = {&Tt, &Tbad, &Ti2, &Tl, &Tb};
    r[0]->def->loc = (SrcLoc){"t.dt", 3, 7};
    expect_fail(m, f, given2, NULL, "t.dt:3:7: embedding: id 4 at position 1 is out of range [0, 4)",
                false);
    const double badl[] = {0, 2};
    Tensor Tbl = mk(lb->type, badl);
    const Tensor *given3[] = {&Tt, &Ti, &Ti2, &Tl, &Tbl};
    expect_fail(m, f, given3, NULL, "label 2 at row 1 is out of range [0, 2)", false);
}

/* ---- inputs ------------------------------------------------------------------------ */

static void test_inputs(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 0, 1, 1);
    IrValue *p[7];
    p[0] = ir_param_new(m, f, "rn", T(DT_F32, 2, 3, 4), pl_replicated(0), INIT(INIT_RANDN, 5, 0.5, 1.0));
    p[1] = ir_param_new(m, f, "ar", T(DT_I32, 2, 2, 3), pl_replicated(0), INIT(INIT_ARANGE, 0, 0, 0));
    p[2] = ir_param_new(m, f, "fu", T(DT_F64, 1, 2), pl_replicated(0), INIT(INIT_FULL, 0, 2.5, 0));
    p[3] = ir_param_new(m, f, "ze", T(DT_F32, 1, 2), pl_replicated(0), INIT(INIT_ZEROS, 0, 0, 0));
    p[4] = ir_param_new(m, f, "on", T(DT_F32, 0), pl_replicated(0), INIT(INIT_ONES, 0, 0, 0));
    p[5] = ir_param_new(m, f, "ra", T(DT_F64, 1, 3), pl_replicated(0), INIT(INIT_RAND, 9, -1, 1));
    IrInit ld = INIT(INIT_LOAD, 0, 0, 0);
    ld.path = "w.npy";
    p[6] = ir_param_new(m, f, "w", T(DT_F32, 2, 2, 3), pl_replicated(0), ld);
    returns(m, f, 7, p);

    char dir[] = "/tmp/test_interp.XXXXXX", err[256], path[512];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/w.npy", dir);
    float wv[6] = {1, 2, 3, 4, 5, 6};
    int64_t wd[2] = {2, 3};
    CHECK(rt_npy_write(path, RT_F32, 2, wd, wv, err, sizeof err) == 0, "%s", err);
    Tensor *res = run_global(m, f, NULL, dir);
    if (res) {
        rt_init rn = {RT_INIT_RANDN, 5, 0.5, 1.0, NULL, 0}, ra = {RT_INIT_RAND, 9, -1, 1, NULL, 0};
        for (int i = 0; i < 12; i++)
            CHECK(((float *)res[0].data)[i] == (float)rt_init_value(&rn, (uint64_t)i), "randn %d", i);
        const double w1[] = {0, 1, 2, 3, 4, 5}, w2[] = {2.5, 2.5}, w3[] = {0, 0}, w4[] = {1};
        double w5[3];
        for (int i = 0; i < 3; i++)
            w5[i] = rt_init_value(&ra, (uint64_t)i);
        const double w6[] = {1, 2, 3, 4, 5, 6};
        expect("arange i32", &res[1], p[1]->type, w1, 0);
        expect("full", &res[2], p[2]->type, w2, 0);
        expect("zeros", &res[3], p[3]->type, w3, 0);
        expect("ones scalar", &res[4], p[4]->type, w4, 0);
        expect("rand", &res[5], p[5]->type, w5, 0);
        expect("load relative to base_dir", &res[6], p[6]->type, w6, 0);
        SECTION_OK("randn / rand / zeros / ones / full / arange / load initialisers\n");
    }
    /* a given tensor replaces the initialiser */
    Tensor given_rn = mk(p[0]->type, (double[12]){0});
    const Tensor *given[7] = {&given_rn};
    res = run_global(m, f, given, dir);
    CHECK(res && ((float *)res[0].data)[5] == 0.0f, "given tensor ignored");

    printf("input errors:\n");
    Tensor wrong = mk(T(DT_F32, 2, 3, 3), (double[9]){0});
    const Tensor *given_bad[7] = {&wrong};
    expect_fail(m, f, given_bad, dir, "--in rn: expected f32[3, 4], file has f32[3, 3]", false);
    const char *what[7] = {"--in rn=x.npy"};
    InterpInputs in = {given_bad, what, dir, 0};
    Tensor *r2;
    CHECK(interp_run(A, m, f, &in, &r2, err, sizeof err) == -1 &&
              !strcmp(err, "--in rn=x.npy: expected f32[3, 4], file has f32[3, 3]"),
          "given_what: %s", err);
    Tensor wrongt = mk(T(DT_F64, 2, 3, 4), (double[12]){0});
    const Tensor *given_bad2[7] = {&wrongt};
    expect_fail(m, f, given_bad2, dir, "expected f32[3, 4], file has f64[3, 4]", false);
    wd[0] = 3, wd[1] = 2;
    CHECK(rt_npy_write(path, RT_F32, 2, wd, wv, err, sizeof err) == 0, "%s", err);
    expect_fail(m, f, NULL, dir, "load(\"w.npy\") for parameter w: expected f32[2, 3], file has f32[3, 2]",
                false);
    unlink(path);
    expect_fail(m, f, NULL, dir, "parameter w: cannot open", false);
    rmdir(dir);

    IrFunc *g = new_fn(&m, 0, 1, 1);
    IrValue *x = param(m, g, "x", T(DT_F32, 1, 2));
    returns(m, g, 1, &x);
    expect_fail(m, g, NULL, NULL, "parameter x has no initialiser: supply it with --in x=FILE.npy",
                false);
    g = new_fn(&m, 0, 1, 1);
    x = param(m, g, "h", T(DT_F16, 1, 2));
    returns(m, g, 1, &x);
    expect_fail(m, g, NULL, NULL, "f16 is only supported on the CUDA target", false);
    g = new_fn(&m, 0, 1, 1);
    x = param(m, g, "x", T(DT_F32, 1, 2));
    IrValue *cv = inst(m, g, OP_CALL, 1, x, NULL, NULL, x->type)->res[0];
    cv->def->a.callee = "helper";
    returns(m, g, 1, &cv);
    Tensor X = mk(x->type, (double[2]){0});
    const Tensor *gx[] = {&X};
    expect_fail(m, g, gx, NULL, "call to helper must be inlined", false);
}

/* ---- sharded: scatter / assemble -------------------------------------------------------- */

static IrMesh mesh23(void)
{
    IrMesh m;
    memset(&m, 0, sizeof m);
    m.name = "M";
    m.naxes = 2;
    m.axis_name[0] = "dp";
    m.axis_name[1] = "tp";
    m.size[0] = 2;
    m.size[1] = 3;
    return m;
}

static bool bit_equal(const Tensor *a, const Tensor *b)
{
    IrType ta = interp_tensor_type(a), tb = interp_tensor_type(b);
    if (!ir_type_eq(&ta, &tb))
        return false;
    size_t n = (size_t)interp_numel(a) * (size_t)ir_dtype_size(a->dtype);
    return n == 0 || !memcmp(a->data, b->data, n);
}

static void test_scatter_assemble(void)
{
    SECTION();
    IrMesh m = mesh23();
    const char *ents[] = {"R", "S(0)", "S(1)", "P(sum)", "P(max)", "P(min)", "P(avg)"};
    const IrType shapes[] = {T(DT_F32, 2, 5, 7), T(DT_F32, 2, 1, 2), T(DT_F64, 2, 0, 4),
                             T(DT_I32, 2, 2, 3), T(DT_F32, 2, 7, 1)};
    char err[512];
    int n = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        IrType t = shapes[si];
        Tensor g = interp_tensor_new(A, &t);
        for (int64_t i = 0; i < interp_numel(&g); i++)
            interp_set(&g, i, (double)((i * 7) % 11) - 4.25 * (t.dtype != DT_I32));
        for (int e0 = 0; e0 < 7; e0++)
            for (int e1 = 0; e1 < 7; e1++) {
                Placement pl = PL(2, ents[e0], ents[e1]);
                Tensor loc[6];
                bool ok = true;
                for (int r = 0; r < 6 && ok; r++) {
                    ok = interp_scatter(A, &m, &pl, &g, r, &loc[r], err, sizeof err) == 0;
                    CHECK(ok, "scatter: %s", err);
                    int c[IR_MAX_AXES];
                    ir_mesh_coords(&m, r, c);
                    IrType lt = pl_local_type(&m, &t, &pl, c), have = interp_tensor_type(&loc[r]);
                    CHECK(ir_type_eq(&lt, &have), "local shape of rank %d", r);
                    /* P(sum): only coordinate 0 holds the value */
                    for (int a = 0; a < 2; a++)
                        if (pl.e[a].kind == PL_P && pl.e[a].red == RED_SUM && c[a] != 0)
                            for (int64_t i = 0; i < interp_numel(&loc[r]); i++)
                                CHECK(interp_get(&loc[r], i) == 0, "P(sum) off coordinate 0 not zero");
                }
                if (!ok)
                    continue;
                Tensor back;
                ok = interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == 0;
                CHECK(ok, "assemble: %s", err);
                char pb[64], tb[64];
                CHECK(!ok || bit_equal(&back, &g), "round trip %s %s", ir_type_str(&t, tb, sizeof tb),
                      pl_str(&m, &pl, pb, sizeof pb));
                n++;
            }
    }
    /* nested splits: [S(0), S(0)] and [S(1), S(1)] over uneven dims */
    const IrType nt[] = {T(DT_F32, 2, 5, 2), T(DT_F32, 2, 3, 11), T(DT_F32, 1, 4)};
    for (size_t si = 0; si < 3; si++) {
        IrType t = nt[si];
        Tensor g = interp_tensor_new(A, &t);
        for (int64_t i = 0; i < interp_numel(&g); i++)
            interp_set(&g, i, (double)i);
        Placement pl = si == 1 ? PL(2, "S(1)", "S(1)") : PL(2, "S(0)", "S(0)");
        Tensor loc[6];
        int64_t total = 0;
        for (int r = 0; r < 6; r++) {
            CHECK(interp_scatter(A, &m, &pl, &g, r, &loc[r], err, sizeof err) == 0, "%s", err);
            total += interp_numel(&loc[r]);
        }
        CHECK(total == interp_numel(&g), "nested split pieces do not tile");
        Tensor back;
        CHECK(interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == 0, "%s", err);
        CHECK(bit_equal(&back, &g), "nested round trip %zu", si);
        n++;
    }
    /* [S(0), S(0)] of f32[5, 2]: dp halves 3 | 2, then tp thirds of each:
     * rank (0,0) row 0, (0,1) row 1, (0,2) row 2, (1,0) row 3, (1,1) row 4, (1,2) none. */
    {
        IrType t = T(DT_F32, 2, 5, 2);
        Tensor g = interp_tensor_new(A, &t), l;
        for (int64_t i = 0; i < 10; i++)
            interp_set(&g, i, (double)i);
        Placement pl = PL(2, "S(0)", "S(0)");
        CHECK(interp_scatter(A, &m, &pl, &g, 4, &l, err, sizeof err) == 0 && l.dims[0] == 1 &&
                  interp_get(&l, 0) == 8,
              "nested rank 4");
        CHECK(interp_scatter(A, &m, &pl, &g, 5, &l, err, sizeof err) == 0 && l.dims[0] == 0,
              "nested rank 5 empty");
    }
    /* partial pieces that differ: P(sum) x S(0) and P(max) x R */
    {
        IrType t = T(DT_F32, 1, 3);
        Placement pl = PL(2, "P(sum)", "S(0)");
        Tensor loc[6];
        for (int r = 0; r < 6; r++) { /* tp splits 3 into 1,1,1 */
            IrType lt = T(DT_F32, 1, 1);
            loc[r] = interp_tensor_new(A, &lt);
            interp_set(&loc[r], 0, r * 10.0);
        }
        Tensor back;
        CHECK(interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == 0, "%s", err);
        const double want[] = {0 + 30, 10 + 40, 20 + 50};
        expect("assemble P(sum) x S(0)", &back, t, want, 0);
        pl = PL(2, "P(max)", "R");
        for (int r = 0; r < 6; r++) {
            loc[r] = interp_tensor_new(A, &t);
            for (int i = 0; i < 3; i++)
                interp_set(&loc[r], i, (r == 3 && i == 1) ? 99 : r % 3 == 0 ? -(double)r : 100.0 * r);
        }
        CHECK(interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == 0, "%s", err);
        const double want2[] = {0, 99, 0};
        expect("assemble P(max) x R (coordinate-0 copies)", &back, t, want2, 0);
        /* a piece of the wrong shape is reported */
        loc[2] = interp_tensor_new(A, &(IrType){DT_F32, 1, {2}});
        CHECK(interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == 0,
              "wrong piece on a skipped rank must not matter: %s", err);
        loc[0] = interp_tensor_new(A, &(IrType){DT_F32, 1, {2}});
        CHECK(interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == -1 &&
                  strstr(err, "rank 0 holds f32[2]"),
              "wrong piece shape: %s", err);
    }
    /* mixed partials reduce innermost first: [P(sum), P(max)] = sum over dp
     * of (max over tp); the other order would give max_j sum_i. */
    {
        IrType t = T(DT_F32, 0);
        Placement pl = PL(2, "P(sum)", "P(max)");
        Tensor loc[6];
        const double pv[6] = {1, 5, 2, 7, 0, 3}; /* dp 0: max 5; dp 1: max 7 */
        for (int r = 0; r < 6; r++)
            loc[r] = mk(t, &pv[r]);
        Tensor back;
        CHECK(interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == 0, "%s", err);
        const double want[] = {12};
        expect("assemble [P(sum), P(max)]", &back, t, want, 0);
        pl = PL(2, "P(max)", "P(avg)"); /* max(mean(1,5,2), mean(7,0,3)) */
        CHECK(interp_assemble(A, &m, &t, &pl, loc, &back, err, sizeof err) == 0, "%s", err);
        const double want2[] = {10.0 / 3};
        expect("assemble [P(max), P(avg)]", &back, T(DT_F32, 0), want2, 1e-7);
    }
    SECTION_OK("%d scatter + assemble round trips on a 2x3 mesh (all 49 entry pairs x 5 shapes incl. "
           "uneven / empty / i32; nested splits), partial pieces reduced\n",
           n);
}

/* ---- sharded programs ---------------------------------------------------------------- */

static IrValue *sparam(IrModule *m, IrFunc *f, const char *name, IrType t, Placement pl, IrInit in)
{
    return ir_param_new(m, f, name, t, pl, in);
}

/* A layout op with result placement pl over `axes`. */
static IrValue *lay(IrModule *m, IrFunc *f, IrOp op, IrValue *x, unsigned axes, Placement pl)
{
    IrValue *r = op1(m, f, op, x, x->type);
    r->def->a.axes = axes;
    r->pl = pl;
    return r;
}

static void compare(const char *what, const Tensor *a, const Tensor *b, double tol)
{
    IrType ta = interp_tensor_type(a), tb = interp_tensor_type(b);
    if (!ir_type_eq(&ta, &tb)) {
        CHECK(0, "%s: types differ", what);
        return;
    }
    double worst = 0;
    for (int64_t i = 0; i < interp_numel(a); i++) {
        double x = interp_get(a, i), y = interp_get(b, i), d = fabs(x - y) / (1 + fabs(y));
        worst = d > worst ? d : worst;
    }
    CHECK(worst <= tol, "%s: max relative difference %g", what, worst);
}

static void test_sharded_matmul(void)
{
    SECTION();
    /* (rows, contraction): uneven 3,2 / 3,3,1 splits, and empty shards
     * (1 row over dp = 1,0; 2 over tp = 1,1,0; 1 over tp = 1,0,0). */
    const int sizes[][2] = {{5, 7}, {1, 2}, {3, 1}};
    for (int si = 0; si < 3; si++) {
        int R = sizes[si][0], K = sizes[si][1];
        /* global: y = x @ w */
        IrModule *gm, *sm;
        IrFunc *g = new_fn(&gm, 2, 2, 3), *s = new_fn(&sm, 2, 2, 3);
        IrType tx = T(DT_F32, 2, R, K), tw = T(DT_F32, 2, K, 4), ty = T(DT_F32, 2, R, 4);
        IrInit ix = INIT(INIT_RANDN, 1, 1, 0), iw = INIT(INIT_RANDN, 2, 0.5, 0);
        IrValue *x = sparam(gm, g, "x", tx, PL(2, "S(0)", "S(1)"), ix);
        IrValue *w = sparam(gm, g, "w", tw, PL(2, "R", "S(0)"), iw);
        IrValue *y = op2(gm, g, OP_MATMUL, x, w, ty);
        returns(gm, g, 1, &y);
        /* partitioned: x [S(0), S(1)], w [R, S(0)] -> local matmul gives
         * [S(0), P(sum)] -> all_reduce over tp -> [S(0), R] */
        x = sparam(sm, s, "x", tx, PL(2, "S(0)", "S(1)"), ix);
        w = sparam(sm, s, "w", tw, PL(2, "R", "S(0)"), iw);
        IrValue *yl = op2(sm, s, OP_MATMUL, x, w, ty);
        yl->pl = PL(2, "S(0)", "P(sum)");
        IrValue *ya = lay(sm, s, OP_ALL_REDUCE, yl, 2u, PL(2, "S(0)", "R"));
        ya->def->a.red = RED_SUM;
        IrValue *rs[2] = {ya, yl};
        returns(sm, s, 2, rs);
        Tensor *gr = run_global(gm, g, NULL, NULL);
        InterpInputs in = {NULL, NULL, NULL, 0};
        Tensor *sr = NULL;
        char err[512];
        int rc = interp_run_sharded(A, sm, s, &in, &sr, err, sizeof err);
        CHECK(rc == 0, "sharded run: %s", err);
        if (rc != 0 || !gr)
            return;
        compare("sharded matmul -> all_reduce", &sr[0], &gr[0], 1e-6);
        compare("assembled P(sum) matmul", &sr[1], &gr[0], 1e-6);
        /* the partitioned program run globally is the same program */
        Tensor *gs = run_global(sm, s, NULL, NULL);
        if (gs)
            compare("partitioned program run globally", &gs[0], &gr[0], 1e-6);
    }
    SECTION_OK("matmul with the contraction split over tp + all_reduce equals the global run "
               "(uneven 3,3,1 and empty shards)\n");
}

/* x -> a chain through every layout op; each result assembles to x. */
static void test_sharded_layout(void)
{
    SECTION();
    IrModule *m;
    IrFunc *f = new_fn(&m, 2, 2, 3);
    IrType t = T(DT_F32, 2, 5, 7);
    IrValue *x = sparam(m, f, "x", t, PL(2, "S(0)", "S(1)"), INIT(INIT_RANDN, 3, 1, 0));
    IrValue *v[16];
    int n = 0;
    v[n] = lay(m, f, OP_ALL_GATHER, x, 2u, PL(2, "S(0)", "R")), n++;
    v[n] = lay(m, f, OP_ALL_TO_ALL, v[n - 1], 1u, PL(2, "S(1)", "R")), n++;
    v[n] = lay(m, f, OP_SHARD, v[n - 1], 2u, PL(2, "S(1)", "S(0)")), n++;
    v[n] = lay(m, f, OP_ALL_GATHER, v[n - 1], 3u, PL(2, "R", "R")), n++;
    v[n] = lay(m, f, OP_TO_PARTIAL, v[n - 1], 2u, PL(2, "R", "P(sum)")), n++;
    v[n] = lay(m, f, OP_REDUCE_SCATTER, v[n - 1], 2u, PL(2, "R", "S(1)")), n++;
    v[n] = lay(m, f, OP_REDISTRIBUTE, v[n - 1], 0u, PL(2, "S(0)", "S(0)")), n++;
    v[n] = lay(m, f, OP_REDISTRIBUTE, v[n - 1], 0u, PL(2, "R", "S(0)")), n++;
    v[n] = lay(m, f, OP_TO_PARTIAL, v[n - 1], 1u, PL(2, "P(max)", "S(0)")), n++;
    v[n] = lay(m, f, OP_ALL_REDUCE, v[n - 1], 1u, PL(2, "R", "S(0)")), n++;
    v[n] = lay(m, f, OP_TO_PARTIAL, v[n - 1], 1u, PL(2, "P(avg)", "S(0)")), n++;
    v[n] = lay(m, f, OP_REDISTRIBUTE, v[n - 1], 0u, PL(2, "P(sum)", "P(sum)")), n++;
    v[n] = lay(m, f, OP_ALL_REDUCE, v[n - 1], 3u, PL(2, "R", "R")), n++;
    returns(m, f, n, v);
    Tensor *gr = run_global(m, f, NULL, NULL);
    InterpInputs in = {NULL, NULL, NULL, 0};
    Tensor *sr = NULL;
    char err[512];
    int rc = interp_run_sharded(A, m, f, &in, &sr, err, sizeof err);
    CHECK(rc == 0, "sharded run: %s", err);
    if (rc != 0 || !gr)
        return;
    const char *names[] = {"all_gather tp", "all_to_all dp", "shard tp", "all_gather dp+tp",
                           "to_partial sum", "reduce_scatter", "redistribute -> [S(0), S(0)]",
                           "redistribute -> [R, S(0)]",
                           "to_partial max", "all_reduce max", "to_partial avg",
                           "redistribute -> [P, P]", "all_reduce dp+tp"};
    for (int i = 0; i < n; i++)
        CHECK(bit_equal(&sr[i], &gr[i]), "%s does not keep the global value", names[i]);
    SECTION_OK("all_gather, all_to_all, shard, to_partial (sum/max/avg), reduce_scatter, all_reduce, "
           "redistribute on a 2x3 mesh keep the global value bit for bit\n");

    /* gathering the outer split of a nested dim over dp alone is illegal */
    IrFunc *g = new_fn(&m, 2, 2, 3);
    x = sparam(m, g, "x", t, PL(2, "S(0)", "S(0)"), INIT(INIT_ARANGE, 0, 0, 0));
    IrValue *bad = lay(m, g, OP_ALL_GATHER, x, 1u, PL(2, "R", "S(0)"));
    returns(m, g, 1, &bad);
    expect_fail(m, g, NULL, NULL, "outer split of dim 0", true);
    /* reducing an outer partial before a non-commuting inner one is refused */
    g = new_fn(&m, 2, 2, 3);
    x = sparam(m, g, "x", t, PL(2, "P(sum)", "P(max)"), INIT(INIT_ARANGE, 0, 0, 0));
    bad = lay(m, g, OP_ALL_REDUCE, x, 1u, PL(2, "R", "P(max)"));
    returns(m, g, 1, &bad);
    expect_fail(m, g, NULL, NULL, "must be reduced before", true);
    /* a collective that changes an axis outside its axes */
    g = new_fn(&m, 2, 2, 3);
    x = sparam(m, g, "x", t, PL(2, "S(0)", "S(1)"), INIT(INIT_ARANGE, 0, 0, 0));
    bad = lay(m, g, OP_ALL_GATHER, x, 2u, PL(2, "R", "R"));
    returns(m, g, 1, &bad);
    expect_fail(m, g, NULL, NULL, "changes mesh axis 0", true);
}

static void test_sharded_ops(void)
{
    SECTION();
    IrModule *gm, *sm;
    IrFunc *g = new_fn(&gm, 2, 2, 3), *s = new_fn(&sm, 2, 2, 3);
    IrType tt = T(DT_F32, 2, 7, 3), ti = T(DT_I32, 1, 5), te = T(DT_F32, 2, 5, 3);
    IrType tx = T(DT_F32, 2, 5, 7), tb = T(DT_F32, 1, 7), tsum = T(DT_F32, 1, 5);
    IrInit it = INIT(INIT_RANDN, 4, 1, 0), ii = INIT(INIT_NONE, 0, 0, 0);
    IrInit ix = INIT(INIT_RAND, 5, -1, 1), ib = INIT(INIT_ARANGE, 0, 0, 0);
    /* global program */
    IrValue *tab = sparam(gm, g, "tab", tt, PL(2, "R", "S(0)"), it);
    IrValue *ids = sparam(gm, g, "ids", ti, PL(2, "R", "R"), ii);
    IrValue *x = sparam(gm, g, "x", tx, PL(2, "S(0)", "S(1)"), ix);
    IrValue *b = sparam(gm, g, "b", tb, PL(2, "R", "S(0)"), ib);
    IrValue *e = op2(gm, g, OP_EMBEDDING, tab, ids, te);
    IrValue *h = op1(gm, g, OP_GELU_TANH, op2(gm, g, OP_ADD, x, b, tx), tx);
    IrValue *sm1 = op1(gm, g, OP_SUM, h, tsum);
    set_ints(sm1, 1, 1);
    IrValue *gres[3] = {e, h, sm1};
    returns(gm, g, 3, gres);
    /* partitioned: embedding on a row-split table -> P(sum) -> all_reduce;
     * elementwise on [S(0), S(1)] shards; sum over the split dim -> P(sum). */
    tab = sparam(sm, s, "tab", tt, PL(2, "R", "S(0)"), it);
    ids = sparam(sm, s, "ids", ti, PL(2, "R", "R"), ii);
    x = sparam(sm, s, "x", tx, PL(2, "S(0)", "S(1)"), ix);
    b = sparam(sm, s, "b", tb, PL(2, "R", "S(0)"), ib);
    IrValue *el = op2(sm, s, OP_EMBEDDING, tab, ids, te);
    el->pl = PL(2, "R", "P(sum)");
    IrValue *ea = lay(sm, s, OP_ALL_REDUCE, el, 2u, PL(2, "R", "R"));
    IrValue *ad = op2(sm, s, OP_ADD, x, b, tx);
    ad->pl = PL(2, "S(0)", "S(1)");
    IrValue *hl = op1(sm, s, OP_GELU_TANH, ad, tx);
    hl->pl = ad->pl;
    IrValue *sl = op1(sm, s, OP_SUM, hl, tsum);
    set_ints(sl, 1, 1);
    sl->pl = PL(2, "S(0)", "P(sum)");
    IrValue *sa = lay(sm, s, OP_ALL_REDUCE, sl, 2u, PL(2, "S(0)", "R"));
    IrValue *sres[3] = {ea, hl, sa};
    returns(sm, s, 3, sres);

    const double idv[] = {6, 0, 3, 2, 6}; /* rows on tp ranks 2, 0, 1, 0, 2 (7 rows: 3,3,1) */
    Tensor Ids = mk(ti, idv);
    const Tensor *given[4] = {NULL, &Ids};
    Tensor *gr = run_global(gm, g, given, NULL);
    InterpInputs in = {given, NULL, NULL, 0};
    Tensor *sr = NULL;
    char err[512];
    int rc = interp_run_sharded(A, sm, s, &in, &sr, err, sizeof err);
    CHECK(rc == 0, "sharded run: %s", err);
    if (rc != 0 || !gr)
        return;
    CHECK(bit_equal(&sr[0], &gr[0]), "embedding on a row-split table");
    CHECK(bit_equal(&sr[1], &gr[1]), "elementwise with broadcast on shards");
    compare("sum over a split dim -> all_reduce", &sr[2], &gr[2], 1e-6);
    SECTION_OK("embedding with a row-split table (P(sum) + all_reduce), broadcast elementwise and a "
           "sum over a split dim on shards equal the global run\n");

    /* an id out of range is still caught on shards */
    const double badv[] = {6, 0, 7, 2, 6};
    Tensor Bad = mk(ti, badv);
    const Tensor *given2[4] = {NULL, &Bad};
    expect_fail(sm, s, given2, NULL, "id 7 at position 2 is out of range [0, 7) (rank 0)", true);
}

int main(void)
{
    A = arena_new();
    test_unary();
    test_binary();
    test_elementwise_table();
    test_reductions();
    test_norms();
    test_shape_and_matmul();
    test_lookup();
    test_inputs();
    test_scatter_assemble();
    test_sharded_matmul();
    test_sharded_layout();
    test_sharded_ops();
    arena_free(A);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all interpreter checks passed\n");
    return 0;
}
