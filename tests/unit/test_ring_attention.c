/* test_ring_attention.c - pass_ring_attention alone on hand-written IR.
 *
 * Golden: tests/ir/ring/ring.in.ir (a module after redistribute: a causal
 * attention on the ring strategy, one with k and v whole, a non-causal one
 * on the ring) through pass_ring_attention must print exactly
 * tests/ir/ring/ring.ir, which must verify at stage ring_attention, read
 * back and print the same.  The causal one is a local_call of the head-tail
 * ring (axis_index; 2 (n - 1) = 2 ppermutes by shift 1 passing K and V; 8
 * ppermutes by a perm converting q, k, v to head-tail order and the output
 * back, two halves each); the second is left as it is; the third is the
 * contiguous ring (2 ppermutes, no perm).
 * DTC_REGEN=1 rewrites the golden (check it by eye).
 */
#include <stdlib.h>

#include "ir/ir_text.h"
#include "passes/passes.h"
#include "unit_check.h"
#include "golden_pass.h"

static const char *const *unused_mlp = &mlp;

/* Instructions of op in f; ppermute: those by a perm (perm) or a shift. */
static int count(const IrFunc *f, IrOp op, bool perm)
{
    int n = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        n += i->op == op && (op != OP_PPERMUTE || (i->a.nints > 1) == perm);
    return n;
}

int main(void)
{
    (void)unused_mlp;
    Arena *ar = arena_new();
    const char *src = getenv("DTC_SRC");
    const char *dir = arena_printf(ar, "%s/tests/ir/ring", src ? src : ".");
    IrModule *m = golden_input(ar, dir, "ring", "redistribute");
    if (!m)
        return 1;
    PassCtx ctx = {.arena = ar, .err = stderr, .cost = cost_model_default()};
    CHECK(pass_ring_attention(&ctx, m));
    CHECK(ir_verify(m, "ring_attention", stderr));
    const IrInst *ring = m->entry->first, *other = ring ? ring->next : NULL, *plain = other ? other->next : NULL;
    CHECK(ring && ring->op == OP_LOCAL_CALL && ring->a.fn);
    CHECK(other && other->op == OP_ATTENTION);
    CHECK(plain && plain->op == OP_LOCAL_CALL && plain->a.fn);
    if (ring && ring->op == OP_LOCAL_CALL && ring->a.fn) {
        CHECK(count(ring->a.fn, OP_PPERMUTE, false) == 2);
        CHECK(count(ring->a.fn, OP_PPERMUTE, true) == 8);
        CHECK(count(ring->a.fn, OP_AXIS_INDEX, false) == 1);
        CHECK(count(ring->a.fn, OP_ALL_GATHER, false) == 0);
    }
    if (plain && plain->op == OP_LOCAL_CALL && plain->a.fn) {
        CHECK(count(plain->a.fn, OP_PPERMUTE, false) == 2);
        CHECK(count(plain->a.fn, OP_PPERMUTE, true) == 0);
        CHECK(count(plain->a.fn, OP_MATMUL, false) == 4);
    }
    if (golden_compare(ar, m, "ring_attention", dir, "ring", "pass_ring_attention", NULL))
        printf("ok: ring.in.ir through pass_ring_attention prints ring.ir\n");
    /* the verifier refuses a perm that is not a permutation of the group */
    golden_refused(ar, "a perm with a member twice",
                   "mesh M[cp=2]\nentry @main\n\nfunc @main(%x.0: f32[2] @ M[R] = zeros()) {\n"
                   "  %1: f32[2] @ M[R] = collective_permute %x.0 {axes=[cp], perm=[1, 1], bytes=8, in=[M[R]]}\n"
                   "  return %1\n}\n",
                   "partition", "a permutation of its 2 members");
    arena_free(ar);
    printf("%d checks, %d failed\n", nchecks, nfail);
    return nfail != 0;
}
