/* split_matmul.c - pass_split_matmul: a row-parallel matmul and the
 * all_reduce of its result, cut into chunks of rows (GSPMD's "collective
 * matmul"), so that pass_schedule can overlap the all_reduce of chunk j
 * with the matmul of chunk j+1.
 *
 * Requires: a module after optimise (local semantics); run by pass_schedule
 *           when ctx->overlap_chunks = k >= 2, before it pairs the
 *           collectives.
 * Rewrites every
 *     %y = matmul %a, %b          (b of rank 2; y used once)
 *     %z = all_reduce %y
 * whose dim 0 (a's and so y's and z's) no mesh axis splits and that has at
 * least k rows, into, for chunk j of the rows [r_j, r_j+1) (ceil(n/k) rows
 * each, rounded up to a multiple of ROW_TILE when n >= k ROW_TILE; the last
 * chunk fewer, and there may be fewer than k chunks):
 *     %a_j = slice %a [r_j, r_j+1)    (the same placement: dim 0 is whole)
 *     %y_j = matmul %a_j, %b
 *     %z_j = all_reduce %y_j
 *     %z   = concat [%z_1 .. %z_k], axis 0
 * Each chunk's rows of z are the same sums of the same products as before
 * (a matmul row depends on its own row of a only); with chunks on the BLAS
 * kernel's row tiles (ROW_TILE) they are the same bits.
 * The collectives stay in one order on every rank (one instruction list).
 */
#include <string.h>

#include "ir/ir_text.h"
#include "passes/passes.h"

/* Chunks of a large matmul start at multiples of this many rows (when every
 * chunk can hold one): a BLAS kernel computes rows in tiles (OpenBLAS's
 * sgemm: 16 or 24 rows, its blocks multiples of them), and a tile cut short
 * sums in another order, so chunks on tile boundaries give exactly the
 * unsplit matmul's values.  192 is a multiple of 16, 24, 32 and 64. */
#define ROW_TILE 192

/* Does any mesh axis split dim 0 of a value placed p? */
static bool dim0_split(const Placement *p)
{
    for (int a = 0; a < p->naxes; a++)
        if (p->e[a].kind == PL_S && p->e[a].dim == 0)
            return true;
    return false;
}

static int count_uses(const IrFunc *f, const IrValue *v)
{
    int n = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        for (int k = 0; k < i->nargs; k++)
            n += i->args[k] == v;
    for (int r = 0; r < f->nresults; r++)
        n += f->results[r] == v;
    return n;
}

static IrInst *add(IrModule *m, IrFunc *f, IrInst *before, const IrInst *like, IrOp op, int nargs,
                   IrValue **args, IrType t, Placement pl)
{
    IrInst *i = ir_inst_new(m, f, before, op, nargs, args, 1, &t);
    i->res[0]->pl = pl;
    i->loc = like->loc;
    i->why = like->why;
    i->in_pl = arena_alloc(m->arena, sizeof *i->in_pl * (size_t)(nargs ? nargs : 1));
    for (int k = 0; k < nargs; k++)
        i->in_pl[k] = args[k]->pl;
    return i;
}

/* Cuts the pair (mm, ar) into k chunks; the concat replaces ar's value. */
static void split_pair(IrModule *m, IrFunc *f, IrInst *mm, IrInst *ar, int k)
{
    IrValue *a = mm->args[0], *b = mm->args[1], *z = ar->res[0];
    int64_t n = a->type.dims[0], chunk = (n + k - 1) / k;
    if (n >= k * ROW_TILE) /* whole tiles: see ROW_TILE */
        chunk = (chunk + ROW_TILE - 1) / ROW_TILE * ROW_TILE;
    IrValue **parts = arena_alloc(m->arena, sizeof *parts * (size_t)k);
    int np = 0;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        int64_t r1 = r0 + chunk < n ? r0 + chunk : n;
        IrType ta = a->type, ty = mm->res[0]->type, tz = z->type;
        ta.dims[0] = ty.dims[0] = tz.dims[0] = r1 - r0;
        IrInst *sl = add(m, f, ar, mm, OP_SLICE, 1, &a, ta, a->pl);
        int64_t *s = ir_attrs_ints(m->arena, &sl->a, 3 * a->type.rank);
        for (int d = 0; d < a->type.rank; d++) {
            s[3 * d] = d == 0 ? r0 : 0;
            s[3 * d + 1] = d == 0 ? r1 : a->type.dims[d];
            s[3 * d + 2] = 1;
        }
        IrValue *mmargs[2] = {sl->res[0], b};
        IrInst *mj = add(m, f, ar, mm, OP_MATMUL, 2, mmargs, ty, mm->res[0]->pl);
        mj->strategy = mm->strategy;
        IrInst *aj = add(m, f, ar, ar, OP_ALL_REDUCE, 1, &mj->res[0], tz, z->pl);
        aj->a = ar->a;
        aj->a.bytes = n ? ar->a.bytes / n * (r1 - r0) : 0;
        aj->plan = ar->plan;
        parts[np++] = aj->res[0];
    }
    IrInst *cat = add(m, f, ar, ar, OP_CONCAT, np, parts, z->type, z->pl);
    ir_attrs_ints(m->arena, &cat->a, 1)[0] = 0;
    cat->why = "collective matmul: the chunks' all_reduces joined";
    cat->res[0]->name = z->name;
    ir_replace_uses(f, z, cat->res[0]);
    ir_inst_remove(f, ar);
    ir_inst_remove(f, mm);
}

bool pass_split_matmul(PassCtx *ctx, IrModule *m)
{
    int k = ctx->overlap_chunks;
    for (int fi = 0; fi < m->nfuncs; fi++) {
        IrFunc *f = m->funcs[fi];
        for (IrInst *ar = f->first, *next; ar; ar = next) {
            next = ar->next;
            if (ar->op != OP_ALL_REDUCE || ar->a.async)
                continue;
            IrValue *y = ar->args[0];
            IrInst *mm = y->def;
            if (!mm || mm->op != OP_MATMUL || mm->args[1]->type.rank != 2 || y->type.rank < 2 ||
                y->type.dims[0] < k || dim0_split(&mm->args[0]->pl) || dim0_split(&y->pl) ||
                dim0_split(&ar->res[0]->pl) || count_uses(f, y) != 1)
                continue;
            split_pair(m, f, mm, ar, k);
        }
    }
    return true;
}
