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

static const char *const *unused_mlp = &mlp;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

static char *print_stage(const IrModule *m, const char *stage)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ir_print_stage(f, m, stage);
    fclose(f);
    return out;
}

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
    char *in = slurp(arena_printf(ar, "%s/%s.in.ir", dir, name));
    const char *want_path = arena_printf(ar, "%s/%s.ir", dir, name);
    CHECK(in != NULL);
    if (!in)
        return;
    IrModule *m = ir_parse(ar, name, in, stderr);
    CHECK(m && ir_verify(m, "optimise", stderr));
    if (!m)
        return;
    PassCtx ctx = {.arena = ar, .err = stderr, .cost = cost_model_default()};
    CHECK(pass_fuse(&ctx, m));
    CHECK(ir_verify(m, "fuse", stderr));
    char *got = print_stage(m, "fuse");
    if (getenv("DTC_REGEN")) {
        FILE *f = fopen(want_path, "w");
        fputs(got, f);
        fclose(f);
    }
    char *want = slurp(want_path);
    CHECK(want != NULL);
    nchecks++;
    if (want && strcmp(got, want)) {
        fprintf(stderr, "FAIL golden %s: pass_fuse printed\n%s\nwant (%s)\n%s\n", name, got, want_path, want);
        nfail++;
        return;
    }
    /* the golden reads back and prints the same; fusing it again changes nothing */
    IrModule *back = want ? ir_parse(ar, want_path, want, stderr) : NULL;
    CHECK(back && ir_verify(back, "fuse", stderr));
    if (back) {
        char *again = print_stage(back, "fuse");
        CHECK_STR(again, want);
        free(again);
        CHECK(pass_fuse(&ctx, back));
        again = print_stage(back, "fuse");
        CHECK_STR(again, want);
        free(again);
    }
    printf("ok: %s through pass_fuse prints %s.ir (groups: %s)\n", name, name, groups(ar, m->entry));
    free(got);
    free(want);
    free(in);
}

/* The verifier on a module with one malformed group. */
static void malformed(Arena *ar, const char *what, const char *body, const char *stage, const char *want_msg)
{
    char *text = arena_printf(ar, "mesh M[tp=2]\nentry @main\n\n"
                                  "func @main(%%x.0: f32[4, 4] @ M[R] = zeros()) {\n%s}\n",
                              body);
    IrModule *m = ir_parse(ar, "t.ir", text, stderr);
    CHECK(m != NULL);
    if (!m)
        return;
    char *msgs = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&msgs, &len);
    bool ok = ir_verify(m, stage, err);
    fclose(err);
    nchecks++;
    if (ok || !msgs || !strstr(msgs, want_msg)) {
        fprintf(stderr, "FAIL %s: verify says %s, want the message '%s': %s\n", what, ok ? "ok" : "bad", want_msg,
                msgs ? msgs : "");
        nfail++;
    } else {
        printf("ok: %s is refused: %s", what, msgs);
    }
    free(msgs);
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
