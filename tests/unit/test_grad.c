/* test_grad.c - pass_grad on IR text: a value_and_grad becomes a call of a
 * generated function (forward, then backward; the module verifies at the
 * sema stage and inlines), and an op without a vector-Jacobian product is
 * an error naming it, never a silent zero.  The numbers are checked by
 * tests/grad/ (central differences, numpy, compiled programs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "passes/passes.h"
#include "unit_check.h"

static const char *head =
    "source \"g.dt\"\n"
    "mesh M[dp=2]\n"
    "entry @main\n\n";

static const char *main_fn =
    "func @main(%a.0: f64[2, 3] @ M[R] pinned, %i.1: i32[2] @ M[R] pinned) {\n"
    "  %v.2: f64[], %g.3: f64[2, 3] = grad @f(%a.0, %i.1) {wrt=[0]}\n"
    "  return %v.2, %g.3\n"
    "}\n";

/* Parses head + f + main, runs pass_grad; the module, and what it printed. */
static IrModule *run(Arena *ar, const char *f, bool *ok, char *err, size_t nerr)
{
    const char *text = arena_printf(ar, "%s%s\n%s", head, f, main_fn);
    IrModule *m = ir_parse(ar, "g.ir", text, stderr);
    CHECK(m != NULL);
    if (!m)
        return NULL;
    FILE *e = fmemopen(err, nerr, "w");
    PassCtx ctx = {.arena = ar, .err = e};
    *ok = pass_grad(&ctx, m);
    fclose(e);
    return m;
}

static int count_op(const IrFunc *f, IrOp op)
{
    int n = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        n += i->op == op;
    return n;
}

int main(void)
{
    (void)mlp; /* unit_check.h's sample text, not needed here */
    Arena *ar = arena_new();
    char err[1024] = "";
    bool ok = false;

    /* a differentiable loss: the grad becomes a call of f.grad0, whose
     * results are the value and a gradient of the wrt operand's type */
    IrModule *m = run(ar,
                      "func @f(%a.0: f64[2, 3], %i.1: i32[2]) {\n"
                      "  %2: f64[2, 3] = tanh %a.0\n"
                      "  %3: f64[] = sum %2 {axis=[0, 1], keepdims=false}\n"
                      "  return %3\n"
                      "}\n",
                      &ok, err, sizeof err);
    CHECK(ok);
    if (m) {
        IrFunc *main_f = ir_func_find(m, "main"), *g = ir_func_find(m, "f.grad0");
        CHECK(main_f && count_op(main_f, OP_GRAD) == 0 && count_op(main_f, OP_CALL) == 1);
        CHECK(g != NULL);
        if (g) {
            CHECK(g->nresults == 2);
            CHECK(g->nresults == 2 && g->results[1]->type.rank == 2 && g->results[1]->type.dtype == DT_F64);
            CHECK(count_op(g, OP_CALL) == 0); /* the forward is inlined */
            CHECK(count_op(g, OP_TANH) == 1);
        }
        CHECK(ir_verify(m, "sema", stderr));
        PassCtx ctx = {.arena = ar, .err = stderr};
        CHECK(pass_inline(&ctx, m));
        CHECK(ir_verify(m, "inline", stderr));
    }

    /* pick (a partition-only op) has no vector-Jacobian product: an error
     * that names it */
    err[0] = 0;
    m = run(ar,
            "func @f(%a.0: f64[2, 3], %i.1: i32[2]) {\n"
            "  %2: f64[2] = pick %a.0, %i.1\n"
            "  %3: f64[] = sum %2 {axis=[0], keepdims=false}\n"
            "  return %3\n"
            "}\n",
            &ok, err, sizeof err);
    CHECK(!ok);
    CHECK(strstr(err, "error: grad: no vector-Jacobian product for pick") != NULL);
    if (!strstr(err, "no vector-Jacobian product for pick"))
        fprintf(stderr, "got: %s\n", err);

    arena_free(ar);
    printf("%d checks, %d failures\n", nchecks, nfail);
    return nfail ? 1 : 0;
}
