/* attention.c - the attention op's family file: its shape rule and its
 * decomposition into existing ops (ir.h, "attention").
 *
 *   attention(q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv]) -> [..., Tq, Dv]
 *     = softmax(q @ k^T * scale + mask, axis=-1) @ v
 *
 * The leading dims are batch-like and equal on all three (no broadcasting).
 * With `causal` the mask is top-left aligned: query i sees keys j <= i (torch
 * SDPA is_causal, jnp.tril); a masked score is -1e9 (-65504 in f16), as
 * causal_mask writes it, so that a row with no visible key (Tq > Tk never
 * has one: key 0 is visible to every query) is a uniform softmax, not NaN.
 *
 * One decomposition serves every consumer: partition lowers the op with it
 * on each strategy's placements (ir_attention_placements), grad
 * differentiates it (the VJPs of transpose, matmul, where and softmax).
 * passes/ring_attention.c writes the ring's blocks with the same mask value
 * (ir_attention_masked).  A decomposition gets the LLVM, C and CUDA backends for free.
 */
#include "ir/ir_text.h"

#include <string.h>

static const char *ts(Arena *ar, const IrType *t)
{
    char buf[160];
    return arena_strdup(ar, ir_type_str(t, buf, sizeof buf));
}

const char *ir_infer_attention(Arena *ar, const IrType *q, const IrType *k, const IrType *v, IrType *out)
{
    if (q->rank < 2 || k->rank != q->rank || v->rank != q->rank)
        return arena_printf(ar, "attention: q, k and v need one rank >= 2 (q is %s, k is %s, v is %s)",
                            ts(ar, q), ts(ar, k), ts(ar, v));
    if (!ir_dtype_is_float(q->dtype) || k->dtype != q->dtype || v->dtype != q->dtype)
        return arena_printf(ar, "attention: q, k and v need one float dtype (q is %s, k is %s, v is %s)",
                            ts(ar, q), ts(ar, k), ts(ar, v));
    int r = q->rank;
    for (int d = 0; d < r - 2; d++)
        if (k->dims[d] != q->dims[d] || v->dims[d] != q->dims[d])
            return arena_printf(ar, "attention: leading dim %d differs (q is %s, k is %s, v is %s): the "
                                "leading dims are batch dims, equal on q, k and v", d, ts(ar, q),
                                ts(ar, k), ts(ar, v));
    if (k->dims[r - 1] != q->dims[r - 1])
        return arena_printf(ar, "attention: q and k need one head size D (q is %s, k is %s)", ts(ar, q),
                            ts(ar, k));
    if (v->dims[r - 2] != k->dims[r - 2])
        return arena_printf(ar, "attention: k and v need one key count Tk (k is %s, v is %s)", ts(ar, k),
                            ts(ar, v));
    *out = *q;
    out->dims[r - 1] = v->dims[r - 1];
    return NULL;
}

double ir_attention_masked(DType dt)
{
    return dt == DT_F16 ? -65504.0 : -1e9;
}

/* Placements of the decomposition's values: k^T holds k's split
 * transposed; the scores (and the mask's rows) are split as the result on
 * its batch dims and query rows, whole where v's columns are split. */
IrAttnPl ir_attention_placements(const Placement *k, const Placement *out, int rank)
{
    IrAttnPl p;
    p.kt = *k;
    p.scores = p.mask = pl_replicated(out->naxes);
    for (int a = 0; a < out->naxes; a++) {
        PlEntry e = k->e[a];
        if (e.kind == PL_S && e.dim >= rank - 2)
            p.kt.e[a].dim = 2 * rank - 3 - e.dim;
        e = out->e[a];
        if (e.kind != PL_S || e.dim == rank - 1)
            continue;
        p.scores.e[a] = e;
        if (e.dim == rank - 2) {
            p.mask.e[a].kind = PL_S;
            p.mask.e[a].dim = 0;
        }
    }
    return p;
}

typedef struct AttnEmit {
    IrModule *m;
    IrFunc *f;
    IrInst *at;
    SrcLoc loc;
    bool placed;
} AttnEmit;

static IrValue *emit(AttnEmit *E, IrOp op, int n, IrValue **args, const IrAttrs *a, DType dt, const Placement *pl)
{
    return ir_inst_typed(E->m, E->f, E->at, op, n, args, a, dt, E->loc, E->placed ? pl : NULL, "attention")->res[0];
}

static IrValue *constant(AttnEmit *E, double v, DType dt)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.f = v;
    Placement r = pl_replicated(E->m->mesh.naxes);
    return emit(E, OP_CONST, 0, NULL, &a, dt, &r);
}

static IrValue *iota2(AttnEmit *E, int64_t rows, int64_t cols, int dim, const Placement *pl)
{
    IrAttrs a = ir_attrs_iota2(E->m->arena, rows, cols, dim);
    return emit(E, OP_IOTA, 0, NULL, &a, DT_I32, pl);
}

IrValue *ir_attention_expand(IrModule *m, IrFunc *f, IrInst *before, SrcLoc loc, IrValue *q, IrValue *k,
                             IrValue *v, const IrAttrs *attn, const IrAttnPl *pl, const Placement *out_pl)
{
    AttnEmit E = {m, f, before, loc, pl != NULL};
    static IrAttnPl none;
    if (!pl)
        pl = &none;
    int r = q->type.rank;
    DType dt = q->type.dtype;
    IrAttrs tr = ir_attrs_swap_last_two(m->arena, r);
    IrValue *kt = emit(&E, OP_TRANSPOSE, 1, &k, &tr, dt, &pl->kt);
    IrValue *qk[2] = {q, kt};
    IrValue *s = emit(&E, OP_MATMUL, 2, qk, NULL, dt, &pl->scores);
    IrValue *sc[2] = {s, constant(&E, attn->f, dt)};
    s = emit(&E, OP_MUL, 2, sc, NULL, dt, &pl->scores);
    if (attn->keepdims) { /* causal: query i sees key j <= i (global indices: iota) */
        int64_t tq = q->type.dims[r - 2], tk = k->type.dims[r - 2];
        IrValue *ij[2] = {iota2(&E, tq, tk, 0, &pl->mask), iota2(&E, tq, tk, 1, &pl->mask)};
        IrValue *keep = emit(&E, OP_GE, 2, ij, NULL, DT_I32, &pl->mask);
        IrValue *sel[3] = {keep, s, constant(&E, ir_attention_masked(dt), dt)};
        s = emit(&E, OP_WHERE, 3, sel, NULL, dt, &pl->scores);
    }
    IrAttrs ax;
    memset(&ax, 0, sizeof ax);
    ir_attrs_ints(m->arena, &ax, 1)[0] = r - 1;
    IrValue *p = emit(&E, OP_SOFTMAX, 1, &s, &ax, dt, &pl->scores);
    IrValue *pv[2] = {p, v};
    return emit(&E, OP_MATMUL, 2, pv, NULL, dt, out_pl ? out_pl : &pl->scores);
}
