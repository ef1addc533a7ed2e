/* fuse.c - pass_fuse: fusion groups, decided once for every backend.
 *
 * Requires: a module after optimise (or schedule): every op local, no call,
 *           no redistribute.
 * Produces: (stage "fuse") every instruction of every function (loop
 *           bodies included) marked with how code generation computes its
 *           value (IrInst.fuse, printed `group=`):
 *   root    (no group=) the value gets a buffer of its own and a step;
 *   member  (group=%R) the value is computed inside root R's loop, never
 *           stored: R's expression reads it where it reads the member;
 *           a transpose of the last two dims that a matmul reads is that
 *           matmul's transpose flag instead (a member of the matmul's
 *           group); a matmul that is a member is R's GEMM, computed in
 *           row blocks with R's loop run on each block right after it
 *           (a matmul epilogue, codegen/lower.c);
 *   each    (group=each) a const or iota recomputed in every loop that
 *           reads it.
 * The instructions themselves are unchanged.
 *
 * Rules, walking each function backwards (a consumer is decided before
 * its operands):
 *   - an elementwise / transpose / shard / slice / broadcast_to /
 *     to_partial instruction joins its consumer's group when it has
 *     exactly one use, is not returned, the consumer is itself such an
 *     instruction (not a folded transpose) or a reduction, it is not
 *     broadcast there (at least as many elements as the consumer, so
 *     nothing is computed twice) and the group has fewer than
 *     FUSE_MAX_MEMBERS members (a longer chain is cut into several loops:
 *     storing a value and loading it back changes nothing, every node is
 *     computed in its own dtype);
 *   - const and iota are `each` when every reader is such a loop;
 *   - a transpose of the last two dims whose one use is a matmul is folded;
 *   - a matmul whose one use is an elementwise instruction of its own shape
 *     joins that instruction's group as its GEMM when the group's root is
 *     elementwise, the group has no GEMM yet and no member that changes
 *     the layout (transpose, slice, ...), and the matmul's right operand has
 *     rank 2 and its left operand is not a folded transpose (so the rows
 *     of the result are the rows of the left operand, blockable); members
 *     that join such a group later are elementwise or const only (or the
 *     GEMM's right operand, a folded transpose).
 * Decisions use global shapes, so every rank computes the same groups;
 * lowering still falls back to a plain GEMM where a rank cannot block one
 * (see codegen/lower.c).
 *
 * Cost: O(instructions + uses).
 */
#include <string.h>

#include "passes/passes.h"

/* At most this many instructions are members of one group, so that no
 * loop's code grows with the program. */
#define FUSE_MAX_MEMBERS 64

typedef struct Fuse {
    const IrFunc *f;
    int *nuses;        /* by id: operand occurrences */
    int *use_at;       /* by id: first entry of its users */
    const IrInst **users;
    bool *is_result;   /* by id */
    bool *folded;      /* by id: a transpose folded into its matmul */
    int *members;      /* by id of a root: members so far */
    bool *has_gemm;    /* by id of a root: a matmul is its GEMM */
    bool *reshapes;    /* by id of a root: a member changes the layout (not
                          elementwise, not const): no GEMM can join */
} Fuse;

static bool is_reduce(IrOp op) { return (ir_op_flags(op) & OPF_REDUCE) != 0; }

/* Elementwise in the epilogue's sense: the op reads its operands at the
 * element it writes (no layout change), so a row block of it reads row
 * blocks (or broadcast rows) of its operands. */
static bool elementwise(IrOp op) { return (ir_op_flags(op) & OPF_EW) != 0; }

static IrValue *root_of(const IrInst *j) { return j->fuse == FUSE_MEMBER ? j->group : j->res[0]; }

static void join(Fuse *F, IrInst *i, IrValue *root)
{
    i->fuse = FUSE_MEMBER;
    i->group = root;
    F->members[root->id]++;
    if (!elementwise(i->op) && i->op != OP_CONST && i->op != OP_MATMUL)
        F->reshapes[root->id] = true;
}

/* Will v, a matmul operand, be folded into it as a transpose flag? (Its
 * definition comes earlier, so it is not decided yet.) */
static bool will_fold(const Fuse *F, const IrValue *v)
{
    return v->def && v->def->op == OP_TRANSPOSE && ir_swaps_last_two(v->def) && F->nuses[v->id] == 1 &&
           !F->is_result[v->id];
}

/* Matmul i (one use, by j) as the GEMM of j's group? */
static bool epilogue(const Fuse *F, const IrInst *i, const IrInst *j)
{
    const IrValue *v = i->res[0], *a = i->args[0], *b = i->args[1];
    if (!elementwise(j->op) || j->nres != 1 || !ir_type_eq(&j->res[0]->type, &v->type) ||
        j->res[0]->type.dtype != v->type.dtype)
        return false;
    const IrValue *root = root_of(j);
    if (!root->def || !elementwise(root->def->op) || F->has_gemm[root->id] || F->reshapes[root->id] ||
        F->members[root->id] >= FUSE_MAX_MEMBERS)
        return false;
    return b->type.rank == 2 && a->type.rank == v->type.rank && a->type.rank >= 2 && !will_fold(F, a);
}

static void fuse_func(Arena *ar, IrFunc *f)
{
    Fuse F;
    memset(&F, 0, sizeof F);
    F.f = f;
    size_t nv = (size_t)f->next_id + 1;
    F.nuses = arena_alloc(ar, sizeof *F.nuses * nv);
    F.use_at = arena_alloc(ar, sizeof *F.use_at * nv);
    F.is_result = arena_alloc(ar, sizeof *F.is_result * nv);
    F.folded = arena_alloc(ar, sizeof *F.folded * nv);
    F.members = arena_alloc(ar, sizeof *F.members * nv);
    F.has_gemm = arena_alloc(ar, sizeof *F.has_gemm * nv);
    F.reshapes = arena_alloc(ar, sizeof *F.reshapes * nv);
    int nocc = 0;
    for (IrInst *i = f->first; i; i = i->next) {
        i->fuse = FUSE_ROOT;
        i->group = NULL;
        for (int k = 0; k < i->nargs; k++)
            F.nuses[i->args[k]->id]++;
    }
    for (int r = 0; r < f->nresults; r++)
        F.is_result[f->results[r]->id] = true;
    int *fill = arena_alloc(ar, sizeof *fill * nv);
    for (size_t k = 0; k < nv; k++) {
        F.use_at[k] = nocc;
        nocc += F.nuses[k];
    }
    F.users = arena_alloc(ar, sizeof *F.users * (size_t)(nocc + 1));
    for (const IrInst *i = f->first; i; i = i->next)
        for (int k = 0; k < i->nargs; k++) {
            int id = i->args[k]->id;
            F.users[F.use_at[id] + fill[id]++] = i;
        }

    for (IrInst *i = f->last; i; i = i->prev) {
        if (i->nres != 1)
            continue;
        const IrValue *v = i->res[0];
        if ((!ir_op_loopable(i->op) && i->op != OP_MATMUL) || F.is_result[v->id] || F.nuses[v->id] == 0)
            continue;
        bool cheap = i->op == OP_CONST || i->op == OP_IOTA; /* recomputed per use, never stored */
        if (!cheap && F.nuses[v->id] != 1)
            continue;
        const IrInst *const *users = F.users + F.use_at[v->id];
        if (i->op == OP_MATMUL) {
            if (epilogue(&F, i, users[0])) {
                IrValue *root = root_of(users[0]);
                join(&F, i, root);
                F.has_gemm[root->id] = true;
            }
            continue;
        }
        if (i->op == OP_TRANSPOSE && ir_swaps_last_two(i) && users[0]->op == OP_MATMUL) {
            join(&F, i, root_of(users[0]));
            F.folded[v->id] = true;
            continue;
        }
        bool ok = true; /* every consumer is a loop that reads v once per element */
        for (int k = 0; k < F.nuses[v->id] && ok; k++) {
            const IrInst *j = users[k];
            const IrValue *w = j->res[0];
            if (is_reduce(j->op))
                continue;
            ok = ir_op_loopable(j->op) && !F.folded[w->id] &&
                 (cheap || ir_type_numel(&v->type) >= ir_type_numel(&w->type));
            if (ok && F.has_gemm[root_of(j)->id]) /* row blocks read rows */
                ok = elementwise(i->op) || i->op == OP_CONST;
        }
        if (!ok)
            continue;
        if (cheap) {
            i->fuse = FUSE_EACH;
            continue;
        }
        IrValue *root = root_of(users[0]);
        if (F.members[root->id] < FUSE_MAX_MEMBERS)
            join(&F, i, root);
    }
}

bool pass_fuse(PassCtx *ctx, IrModule *m)
{
    for (int k = 0; k < m->nfuncs; k++)
        fuse_func(ctx->arena, m->funcs[k]);
    return true;
}
