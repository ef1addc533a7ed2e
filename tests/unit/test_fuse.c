/* test_fuse.c - pass_fuse on hand-checked IR, and the verifier's rules for
 * fusion groups.
 *
 * Goldens: tests/ir/fuse/NAME.in.ir (a module after optimise, printed by
 * `dtc compile NAME.dt --print-after=optimise`) through pass_fuse alone
 * must print exactly tests/ir/fuse/NAME.ir, which must verify at stage
 * fuse, read back and print the same:
 *   epilogue  a GEMM + bias + gelu + scale + residual as one group rooted at
 *             the residual add; a GEMM whose group root is a reduction and
 *             one behind an all_reduce stay roots; a transpose folded into
 *             a GEMM that is itself an epilogue's member;
 *   chain     a broadcast value stays a root, a value with two uses too, a
 *             reduction pulls its operand chain, const is `each`, a GEMM
 *             feeding a matmul stays a root, GEMM + relu + const.
 * The pass must also decide the same on its own output (idempotent).
 * DTC_REGEN=1 rewrites the goldens (check them by eye).
 * Malformed groups: group= before fuse, a member read outside its group, a
 * member returned, a root defined before its member, a root that is itself
 * a member, a member nothing reads, `each` on an op other than const /
 * iota: each refused with its message.
 */
#include <stdlib.h>

#include "ir/ir_text.h"
#include "passes/passes.h"
#include "unit_check.h"
#include "golden_pass.h"

static const char *const *unused_mlp = &mlp;

/* "%8>h.13 %9>h.13 ..." : every member and its root, "%5>each", in order. */
static char *groups(Arena *ar, const IrFunc *f)
{
    char *s = "";
    char b[128], c[128];
    for (const IrInst *i = f->first; i; i = i->next)
        if (i->fuse == FUSE_EACH)
            s = arena_printf(ar, "%s%s>each ", s, ir_value_str(i->res[0], b, sizeof b));
        else if (i->fuse == FUSE_MEMBER)
            s = arena_printf(ar, "%s%s>%s ", s, ir_value_str(i->res[0], b, sizeof b),
                             ir_value_str(i->group, c, sizeof c));
    return s;
}

static void golden(Arena *ar, const char *dir, const char *name)
{
    IrModule *m = golden_input(ar, dir, name, "optimise");
    if (!m)
        return;
    PassCtx ctx = {.arena = ar, .err = stderr, .cost = cost_model_default()};
    CHECK(pass_fuse(&ctx, m));
    CHECK(ir_verify(m, "fuse", stderr));
    const char *want = NULL;
    IrModule *back = golden_compare(ar, m, "fuse", dir, name, "pass_fuse", &want);
    if (!back)
        return;
    /* fusing the golden again changes nothing */
    CHECK(pass_fuse(&ctx, back));
    CHECK_STR(golden_print(ar, back, "fuse"), want);
    printf("ok: %s through pass_fuse prints %s.ir (groups: %s)\n", name, name, groups(ar, m->entry));
}

/* The verifier on a module with one malformed group. */
static void malformed(Arena *ar, const char *what, const char *body, const char *stage, const char *want_msg)
{
    golden_refused(ar, what, golden_module(ar, "M[R]", body), stage, want_msg);
}

int main(void)
{
    (void)unused_mlp;
    Arena *ar = arena_new();
    const char *src = getenv("DTC_SRC");
    const char *dir = arena_printf(ar, "%s/tests/ir/fuse", src ? src : ".");
    golden(ar, dir, "epilogue");
    golden(ar, dir, "chain");

    const char *e1 = "  %1: f32[4, 4] @ M[R] = exp %x.0 {in=[M[R]], group=%2}\n";
    malformed(ar, "a group before fuse",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = neg %%1 {in=[M[R]]}\n  return %%2\n", e1), "schedule",
              "group= before fuse");
    malformed(ar, "a member read outside its group",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = neg %%1 {in=[M[R]]}\n"
                               "  %%3: f32[4, 4] @ M[R] = abs %%1 {in=[M[R]]}\n  return %%2, %%3\n", e1),
              "fuse", "is a member of %2's group but abs is not in it");
    malformed(ar, "a member returned",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = neg %%1 {in=[M[R]]}\n  return %%1, %%2\n", e1), "fuse",
              "a group member is returned");
    malformed(ar, "a root defined before its member",
              "  %1: f32[4, 4] @ M[R] = neg %x.0 {in=[M[R]]}\n  %2: f32[4, 4] @ M[R] = exp %x.0 {in=[M[R]], group=%1}\n"
              "  return %1, %2\n",
              "fuse", "is defined before it");
    malformed(ar, "a root that is a member",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = neg %%1 {in=[M[R]], group=%%3}\n"
                               "  %%3: f32[4, 4] @ M[R] = abs %%2 {in=[M[R]]}\n  return %%3\n", e1),
              "fuse", "is itself in a group");
    malformed(ar, "a member nothing reads",
              "  %1: f32[4, 4] @ M[R] = exp %x.0 {in=[M[R]], group=%2}\n  %2: f32[4, 4] @ M[R] = neg %x.0 {in=[M[R]]}\n"
              "  return %2\n",
              "fuse", "a group member that nothing reads");
    malformed(ar, "each on exp", "  %1: f32[4, 4] @ M[R] = exp %x.0 {in=[M[R]], group=each}\n  return %1\n", "fuse",
              "const and iota only");
    arena_free(ar);
    printf("%d checks, %d failed\n", nchecks, nfail);
    return nfail != 0;
}
