/* test_schedule.c - pass_schedule (and pass_split_matmul) on hand-written IR,
 * and the verifier's rules for start / done pairs.
 *
 * Goldens: tests/ir/schedule/NAME.in.ir (a module after optimise) through
 * pass_schedule alone must print exactly tests/ir/schedule/NAME.ir, which
 * must verify at stage schedule, pass pass_check_collectives, read back and
 * print the same, and keep the collectives' order (kind, axes) of the input:
 *   overlap  an all_gather of a parameter and an all_reduce of a matmul
 *            with independent work between them and their uses;
 *   split    a row-parallel matmul + all_reduce cut into chunks
 *            (--overlap-chunks=4: 6 rows in 3 chunks of 2);
 *   nooverlap  the overlap input with ctx->no_overlap: unchanged;
 *   ring     causal ring attention on cp = 3 (tests/ring/gen_ring.py): each
 *            K/V block is waited for, and sent on, just before the step
 *            that uses it, so each transfer overlaps the step before it
 *            (the first one included).
 * DTC_REGEN=1 rewrites the goldens (check them by eye).
 * Malformed pairs: a done without its async collective, an async
 * collective whose value is read besides its done, one with two dones or
 * none, a done before stage schedule: each refused with its message.
 */
#include <stdlib.h>

#include "ir/ir_text.h"
#include "passes/passes.h"
#include "unit_check.h"
#include "golden_pass.h"

static const char *const *unused_mlp = &mlp;

/* "all_reduce(1) all_gather(1) ..." of f's collectives, in order. */
static char *order(Arena *ar, const IrFunc *f)
{
    char *s = "";
    for (const IrInst *i = f->first; i; i = i->next)
        if (ir_op_flags(i->op) & OPF_COMM)
            s = arena_printf(ar, "%s%s(%u) ", s, ir_op_name(i->op), i->a.axes);
    return s;
}

static void golden(Arena *ar, const char *dir, const char *name, const char *out_name, int chunks,
                   bool no_overlap)
{
    IrModule *m = golden_input(ar, dir, name, "optimise");
    if (!m)
        return;
    char *before = order(ar, m->entry);
    PassCtx ctx = {.arena = ar, .err = stderr, .cost = cost_model_default(),
                   .overlap_chunks = chunks, .no_overlap = no_overlap};
    CHECK(pass_schedule(&ctx, m));
    CHECK(ir_verify(m, "schedule", stderr));
    CHECK(pass_check_collectives(&ctx, m));
    if (!chunks)
        CHECK_STR(order(ar, m->entry), before);
    if (!golden_compare(ar, m, "schedule", dir, out_name, "pass_schedule", NULL))
        return;
    printf("ok: %s through pass_schedule%s prints %s.ir (collectives: %s)\n", name,
           chunks ? arena_printf(ar, " with %d chunks", chunks) : no_overlap ? " (no overlap)" : "",
           out_name, order(ar, m->entry));
}

/* The verifier on a schedule-stage module with one malformed pair. */
static void malformed(Arena *ar, const char *what, const char *body, const char *stage,
                      const char *want_msg)
{
    golden_refused(ar, what, golden_module(ar, "M[P(sum)]", body), stage, want_msg);
}

int main(void)
{
    (void)unused_mlp;
    Arena *ar = arena_new();
    const char *src = getenv("DTC_SRC");
    const char *dir = arena_printf(ar, "%s/tests/ir/schedule", src ? src : ".");
    golden(ar, dir, "overlap", "overlap", 0, false);
    golden(ar, dir, "overlap", "nooverlap", 0, true);
    golden(ar, dir, "split", "split", 4, false);
    golden(ar, dir, "ring", "ring", 0, false);

    const char *ar1 = "  %1: f32[4, 4] @ M[R] = all_reduce %x.0 {axes=[tp], red=sum, bytes=64, async=true, in=[M[P(sum)]]}\n";
    malformed(ar, "a done of a blocking collective",
              "  %1: f32[4, 4] @ M[R] = all_reduce %x.0 {axes=[tp], red=sum, bytes=64, in=[M[P(sum)]]}\n"
              "  %2: f32[4, 4] @ M[R] = done %1 {in=[M[R]]}\n  return %2\n",
              "schedule", "which no async collective defines");
    malformed(ar, "a value in flight read besides its done",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = exp %%1 {in=[M[R]]}\n  %%3: f32[4, 4] @ M[R] = done %%1 {in=[M[R]]}\n"
                               "  return %%2, %%3\n", ar1),
              "schedule", "read 1 times other than by its done");
    malformed(ar, "an async collective without a done", arena_printf(ar, "%s  return %%x.0\n", ar1),
              "schedule", "has 0 dones after it");
    malformed(ar, "an async collective with two dones",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = done %%1 {in=[M[R]]}\n  %%3: f32[4, 4] @ M[R] = done %%1 {in=[M[R]]}\n"
                               "  return %%2, %%3\n", ar1),
              "schedule", "has 2 dones after it");
    malformed(ar, "a value in flight returned",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = done %%1 {in=[M[R]]}\n  return %%1, %%2\n", ar1), "schedule",
              "read 1 times other than by its done");
    malformed(ar, "a done before schedule",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[R] = done %%1 {in=[M[R]]}\n  return %%2\n", ar1), "optimise",
              "before schedule");
    malformed(ar, "a done that changes the placement",
              arena_printf(ar, "%s  %%2: f32[4, 4] @ M[P(sum)] = done %%1 {in=[M[R]]}\n  return %%2\n", ar1), "schedule",
              "done changes the placement");
    arena_free(ar);
    printf("%d checks, %d failed\n", nchecks, nfail);
    return nfail != 0;
}
