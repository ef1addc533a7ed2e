/* ring_attention.c - pass_ring_attention: attention on the ring strategy
 * becomes a call of a synthesised local fn whose body is ring attention.
 *
 * Requires: redistributed module (operands at their in_pl).
 * Produces: every attention instruction whose strategy is STRAT_RING
 *           (passes/rules.c: q, k, v and the result split on the sequence
 *           over one mesh axis of n > 1 ranks, every split even) is an
 *           OP_LOCAL_CALL of a body on the local shapes (ir/local.c), so
 *           partition, check_collectives, report, the backends and the
 *           runtime see nothing new.  Other attention instructions stay
 *           (partition decomposes them, ir/attention.c).
 *
 * The body, on a rank holding query rows, K and V block `me` of n
 * contiguous blocks of TL = T / n rows (plain S(T)): n steps; at step s the
 * K/V block in hand came from member src = (me - s) mod n.  Each step first
 * passes its block on (ppermute shift 1: one collective_permute of one K
 * and one V block, in flight while the step computes), then scores q
 * against the block (scale; causal: query me*TL + i sees key src*TL + j
 * when j' <= i', the same mask value as the op's decomposition), and merges
 * it into the running row max m, sum l and output o (online softmax: the
 * old terms rescaled by exp(m_old - m_new)); the result is o / l.  Step 0
 * is the rank's own block, where every query sees at least its own key, so
 * m is finite from the start and a fully hidden later block adds exactly 0.
 * No rank holds more than one K/V block beside its own; 2 (n - 1)
 * collective_permutes in all.  Causal with contiguous blocks computes every
 * block, the hidden ones masked (every rank does the same work, twice the
 * useful flops).
 */
#include <string.h>

#include "ir/ir_text.h"
#include "passes/rules.h"

typedef struct Body {
    IrModule *m;
    IrFunc *f;
    SrcLoc loc;
} Body;

static IrValue *put(Body *b, IrOp op, int n, IrValue **args, const IrAttrs *a, IrType t)
{
    IrInst *i = ir_inst_new(b->m, b->f, NULL, op, n, args, 1, &t);
    if (a)
        i->a = *a;
    i->loc = b->loc;
    return i->res[0];
}

/* op(args) typed by its shape rule (dt: const's dtype). */
static IrValue *op(Body *b, IrOp o, int n, IrValue **args, const IrAttrs *a, DType dt)
{
    IrType ts[3], out;
    memset(ts, 0, sizeof ts);
    memset(&out, 0, sizeof out);
    out.dtype = dt;
    for (int k = 0; k < n; k++)
        ts[k] = args[k]->type;
    static const IrAttrs none;
    const char *e = ir_infer(b->m->arena, o, n, ts, a ? a : &none, &out);
    if (e)
        DTC_BUG(arena_printf(b->m->arena, "ring_attention: %s", e));
    return put(b, o, n, args, a, out);
}

static IrValue *bin(Body *b, IrOp o, IrValue *x, IrValue *y)
{
    IrValue *args[2] = {x, y};
    return op(b, o, 2, args, NULL, x->type.dtype);
}

static IrValue *un(Body *b, IrOp o, IrValue *x) { return op(b, o, 1, &x, NULL, x->type.dtype); }

static IrValue *num(Body *b, double v, DType dt)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.f = v;
    return op(b, OP_CONST, 0, NULL, &a, dt);
}

/* The row reduction (max, sum) along the last dim, kept as size 1. */
static IrValue *rows(Body *b, IrOp o, IrValue *x)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    ir_attrs_ints(b->m->arena, &a, 1)[0] = x->type.rank - 1;
    a.keepdims = true;
    return op(b, o, 1, &x, &a, x->type.dtype);
}

/* An explicit collective (axis_index, ppermute) over mesh axis `axis`. */
static IrValue *explicit(Body *b, IrOp o, IrValue *x, int axis)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.axes = 1u << axis;
    if (o == OP_PPERMUTE)
        ir_attrs_ints(b->m->arena, &a, 1)[0] = 1;
    IrType t;
    if (ir_local_infer(b->m->arena, &b->m->mesh, o, &a, x ? &x->type : NULL, &t))
        DTC_BUG("ring_attention: an explicit collective does not fit");
    return put(b, o, x ? 1 : 0, x ? &x : NULL, &a, t);
}

/* Global positions [rows, cols] along `dim` of a block owned by `owner`
 * (i32[]): owner * len + the index (len: rows of one block). */
static IrValue *positions(Body *b, int64_t r, int64_t c, int dim, IrValue *owner, int64_t len)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int64_t *s = ir_attrs_ints(b->m->arena, &a, 2);
    s[0] = r;
    s[1] = c;
    a.dim = dim;
    IrValue *idx = op(b, OP_IOTA, 0, NULL, &a, DT_I32);
    return bin(b, OP_ADD, idx, bin(b, OP_MUL, owner, num(b, (double)len, DT_I32)));
}

/* The ring body for instruction i over mesh axis `axis`. */
static IrFunc *ring_body(IrModule *m, const IrInst *i, int axis, int serial)
{
    const IrMesh *mesh = &m->mesh;
    int n = mesh->size[axis];
    IrFunc *f = arena_alloc(m->arena, sizeof *f);
    f->name = arena_printf(m->arena, "ring_attention.%d", serial);
    f->loc = i->loc;
    Body b = {m, f, i->loc};
    IrInit none;
    memset(&none, 0, sizeof none);
    static const char *const names[3] = {"q", "k", "v"};
    IrValue *p[3];
    for (int k = 0; k < 3; k++)
        p[k] = ir_param_new(m, f, names[k], ir_local_type(mesh, &i->args[k]->type, &i->in_pl[k]),
                            i->in_pl[k], none);
    IrValue *q = p[0], *kb = p[1], *vb = p[2];
    int r = q->type.rank;
    int64_t tl = q->type.dims[r - 2];
    DType dt = q->type.dtype;
    bool causal = i->a.keepdims;
    IrValue *me = explicit(&b, OP_AXIS_INDEX, NULL, axis), *qpos = NULL;
    if (causal)
        qpos = positions(&b, tl, 1, 0, me, tl);
    IrAttrs tr;
    memset(&tr, 0, sizeof tr);
    int64_t *perm = ir_attrs_ints(m->arena, &tr, r);
    for (int d = 0; d < r; d++)
        perm[d] = d;
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    IrValue *mx = NULL, *l = NULL, *o = NULL;
    for (int s = 0; s < n; s++) {
        IrValue *kn = NULL, *vn = NULL;
        if (s + 1 < n) { /* pass the block on before computing with it */
            kn = explicit(&b, OP_PPERMUTE, kb, axis);
            vn = explicit(&b, OP_PPERMUTE, vb, axis);
        }
        IrValue *kt = op(&b, OP_TRANSPOSE, 1, &kb, &tr, dt);
        IrValue *sc = bin(&b, OP_MUL, bin(&b, OP_MATMUL, q, kt), num(&b, i->a.f, dt));
        if (causal) {
            IrValue *src = s ? bin(&b, OP_MOD, bin(&b, OP_ADD, me, num(&b, n - s, DT_I32)), num(&b, n, DT_I32))
                             : me;
            IrValue *keep = bin(&b, OP_GE, qpos, positions(&b, 1, tl, 1, src, tl));
            IrValue *sel[3] = {keep, sc, num(&b, ir_attention_masked(dt), dt)};
            sc = op(&b, OP_WHERE, 3, sel, NULL, dt);
        }
        IrValue *bm = rows(&b, OP_MAX, sc);
        if (s == 0) {
            mx = bm;
            IrValue *pr = un(&b, OP_EXP, bin(&b, OP_SUB, sc, mx));
            l = rows(&b, OP_SUM, pr);
            o = bin(&b, OP_MATMUL, pr, vb);
        } else {
            IrValue *nm = bin(&b, OP_MAXIMUM, mx, bm);
            IrValue *rescale = un(&b, OP_EXP, bin(&b, OP_SUB, mx, nm));
            IrValue *pr = un(&b, OP_EXP, bin(&b, OP_SUB, sc, nm));
            l = bin(&b, OP_ADD, bin(&b, OP_MUL, l, rescale), rows(&b, OP_SUM, pr));
            o = bin(&b, OP_ADD, bin(&b, OP_MUL, o, rescale), bin(&b, OP_MATMUL, pr, vb));
            mx = nm;
        }
        kb = kn;
        vb = vn;
    }
    f->nresults = 1;
    f->results = arena_alloc(m->arena, sizeof *f->results);
    f->results[0] = bin(&b, OP_DIV, o, l);
    return f;
}

bool pass_ring_attention(PassCtx *ctx, IrModule *m)
{
    (void)ctx;
    int serial = 0;
    for (int fi = 0; fi < m->nfuncs; fi++)
        for (IrInst *i = m->funcs[fi]->first; i; i = i->next) {
            if (i->op != OP_ATTENTION || !i->in_pl || rules_strategy(i, i->in_pl) != STRAT_RING)
                continue;
            int axis = rules_ring_axis(i, i->in_pl);
            if (m->mesh.size[axis] < 2)
                continue; /* one rank: partition's local attention */
            IrFunc *body = ring_body(m, i, axis, serial++);
            memset(&i->a, 0, sizeof i->a);
            i->op = OP_LOCAL_CALL;
            i->a.fn = body;
            i->a.callee = body->name;
        }
    return true;
}
