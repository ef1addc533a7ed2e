/* test_rule_body.c - a rule fn's body on local shapes (ir_rule_local_body,
 * ir/rule.c) and the text form of its strategies.
 *
 * On M[dp=2, tp=4], from IR text:
 *   - x[::2] with rows split S(0) over dp: the slice's bounds are rewritten
 *     to the local piece ([0, 16, 2] -> [0, 8, 2]) and every type is local;
 *   - a matmul with (S(1), S(0)) -> P(sum) over tp: the local contraction;
 *   - a slice of part of a split dim, an uneven split, a declared result
 *     whose local type the body does not compute, a call in the body: each
 *     refused with its message;
 *   - `sharding {...}` (costs included) prints and parses back the same.
 */
#include <stdlib.h>

#include "ir/ir_text.h"
#include "unit_check.h"

static const char *const *unused_mlp = &mlp;

static const char *module_text =
    "mesh M[dp=2, tp=4]\n"
    "entry @main\n"
    "\n"
    "func @evens(%x.0: f32[16, 12]) sharding {(S(0)) -> S(0);} {\n"
    "  %1: f32[8, 12] = slice %x.0 {slice=[[0, 16, 2], [0, 12, 1]]}\n"
    "  %2: f32[8, 12] = exp %1\n"
    "  return %2\n"
    "}\n"
    "\n"
    "func @head(%x.0: f32[16, 12]) sharding {(S(0)) -> S(0);} {\n"
    "  %1: f32[4, 12] = slice %x.0 {slice=[[0, 4, 1], [0, 12, 1]]}\n"
    "  return %1\n"
    "}\n"
    "\n"
    "func @mm(%x.0: f32[6, 8],\n"
    "    %w.1: f32[8, 4]) sharding {(S(1), S(0)) -> P(sum) cost 2.5; (S(0), R) -> S(0);} {\n"
    "  %2: f32[6, 4] = matmul %x.0, %w.1\n"
    "  return %2\n"
    "}\n"
    "\n"
    "func @main(%a.0: f32[16, 12] @ M[R, R] pinned = zeros()) {\n"
    "  %1: f32[8, 12] = call @evens(%a.0)\n"
    "  return %1\n"
    "}\n";

static Placement pl2(PlKind k0, int d0, PlKind k1, int d1)
{
    Placement p = pl_replicated(2);
    p.e[0].kind = k0;
    p.e[0].dim = d0;
    p.e[1].kind = k1;
    p.e[1].dim = d1;
    return p;
}

static const char *type_of(Arena *ar, const IrValue *v)
{
    char buf[128];
    return arena_strdup(ar, ir_type_str(&v->type, buf, sizeof buf));
}

int main(void)
{
    (void)unused_mlp;
    Arena *ar = arena_new();
    IrModule *m = ir_parse(ar, "t.ir", module_text, stderr);
    CHECK(m != NULL);
    if (!m)
        return 1;
    const char *err = NULL;

    /* x[::2] with rows over dp: 8 local rows, every other one -> 4 */
    IrFunc *evens = ir_func_find(m, "evens");
    Placement rows = pl2(PL_S, 0, PL_R, 0);
    IrFunc *b = ir_rule_local_body(m, evens, &rows, &rows, &err);
    CHECK(b != NULL && err == NULL);
    if (b) {
        CHECK_STR(type_of(ar, b->params[0]), "f32[8, 12]");
        CHECK(b->first && b->first->op == OP_SLICE && b->first->a.ints[0] == 0 && b->first->a.ints[1] == 8 &&
              b->first->a.ints[2] == 2);
        CHECK_STR(type_of(ar, b->results[0]), "f32[4, 12]");
        CHECK(pl_eq(&b->params[0]->pl, &rows));
    }
    /* the same over both axes: 16 / 8 = 2 rows, 1 kept */
    Placement nested = pl2(PL_S, 0, PL_S, 0);
    b = ir_rule_local_body(m, evens, &nested, &nested, &err);
    CHECK(b != NULL && b && !strcmp(type_of(ar, b->results[0]), "f32[1, 12]"));

    /* a slice of part of a split dim names global rows */
    b = ir_rule_local_body(m, ir_func_find(m, "head"), &rows, &rows, &err);
    CHECK(b == NULL && err && strstr(err, "a slice of part of dim 0"));

    /* the contraction split over tp: a partial of the whole result */
    IrFunc *mm = ir_func_find(m, "mm");
    Placement in[2] = {pl2(PL_R, 0, PL_S, 1), pl2(PL_R, 0, PL_S, 0)};
    Placement part = pl2(PL_R, 0, PL_P, 0);
    part.e[1].red = RED_SUM;
    b = ir_rule_local_body(m, mm, in, &part, &err);
    CHECK(b != NULL);
    if (b) {
        CHECK_STR(type_of(ar, b->params[0]), "f32[6, 2]");
        CHECK_STR(type_of(ar, b->params[1]), "f32[2, 4]");
        CHECK_STR(type_of(ar, b->results[0]), "f32[6, 4]");
    }
    /* a declared S(1) result of a body that computes the whole */
    Placement cols_tp = pl2(PL_R, 0, PL_S, 1);
    b = ir_rule_local_body(m, mm, in, &cols_tp, &err);
    CHECK(b == NULL && err && strstr(err, "the body computes a local f32[6, 4]"));
    Placement rows_tp = pl2(PL_R, 0, PL_S, 0);
    /* 6 rows over tp=4: uneven */
    Placement in_rows[2] = {rows_tp, pl_replicated(2)};
    b = ir_rule_local_body(m, mm, in_rows, &rows_tp, &err);
    CHECK(b == NULL && err && strstr(err, "does not split evenly into 4"));
    /* main has a call: not a rule body */
    Placement rep = pl_replicated(2);
    b = ir_rule_local_body(m, ir_func_find(m, "main"), &rep, &rep, &err);
    CHECK(b == NULL && err && strstr(err, "a call of 'evens' in the body of 'main'"));

    /* the strategies: parsed, and printed back the same */
    CHECK(mm->nrules == 2 && mm->rules[0].out.kind == PL_P && mm->rules[0].in[0].kind == PL_S &&
          mm->rules[0].in[0].dim == 1 && mm->rules[0].cost > 2.49e-6 && mm->rules[0].cost < 2.51e-6 &&
          mm->rules[1].cost == 0);
    char *text = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&text, &len);
    ir_print(o, m);
    fclose(o);
    CHECK(text && strstr(text, "sharding {(S(1), S(0)) -> P(sum) cost 2.5; (S(0), R) -> S(0);}"));
    IrModule *m2 = text ? ir_parse(ar, "t2.ir", text, stderr) : NULL;
    CHECK(m2 && ir_func_find(m2, "mm")->nrules == 2);
    free(text);

    arena_free(ar);
    printf("%d checks, %d failures\n", nchecks, nfail);
    return nfail ? 1 : 0;
}
