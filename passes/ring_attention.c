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
 * collective_permutes in all.  Causal with an odd number of rows a rank
 * computes every block, the hidden ones masked (every rank does the same
 * work, twice the useful flops).
 *
 * Causal with an even number 2C of rows a rank (T a multiple of 2n) runs
 * the zigzag ring on the head-tail layout (headtail_ring): q, k and v are
 * first permuted so that rank i holds chunks i and 2n-1-i of 2n chunks of C
 * rows (two ppermutes by a perm each, one per half), the output back the
 * same way.  Then every rank has the same causally visible work: its own
 * block (4 C x C sub-blocks, masked) and, from each other rank, exactly two
 * C x C sub-blocks, chosen by a scalar `where` on whether the block's owner
 * comes before it (no branches).
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
    return ir_inst_typed(b->m, b->f, NULL, o, n, args, a, dt, b->loc, NULL, "ring_attention")->res[0];
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

/* iota i32[rows, cols] along `dim`. */
static IrValue *index_grid(Body *b, int64_t r, int64_t c, int dim)
{
    IrAttrs a = ir_attrs_iota2(b->m->arena, r, c, dim);
    return op(b, OP_IOTA, 0, NULL, &a, DT_I32);
}

/* idx + owner * len: positions in the block of `owner` (i32[]) of blocks of len rows. */
static IrValue *in_block(Body *b, IrValue *idx, IrValue *owner, int64_t len)
{
    return bin(b, OP_ADD, idx, bin(b, OP_MUL, owner, num(b, (double)len, DT_I32)));
}

/* Global positions [rows, cols] along `dim` of a block owned by `owner`
 * (i32[]): owner * len + the index (len: rows of one block). */
static IrValue *positions(Body *b, int64_t r, int64_t c, int dim, IrValue *owner, int64_t len)
{
    return in_block(b, index_grid(b, r, c, dim), owner, len);
}

/* ---- head-tail (causal, T a multiple of 2n) ---------------------------------- */

/* Rows [lo, hi) of x along its second-last dim. */
static IrValue *rows_of(Body *b, IrValue *x, int64_t lo, int64_t hi)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int r = x->type.rank;
    int64_t *t = ir_attrs_ints(b->m->arena, &a, 3 * r);
    for (int d = 0; d < r; d++) {
        t[3 * d] = d == r - 2 ? lo : 0;
        t[3 * d + 1] = d == r - 2 ? hi : x->type.dims[d];
        t[3 * d + 2] = 1;
    }
    return op(b, OP_SLICE, 1, &x, &a, x->type.dtype);
}

static IrValue *join(Body *b, IrValue *x, IrValue *y, int dim)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    ir_attrs_ints(b->m->arena, &a, 1)[0] = dim;
    IrValue *args[2] = {x, y};
    return op(b, OP_CONCAT, 2, args, &a, x->type.dtype);
}

static IrValue *pick(Body *b, IrValue *c, IrValue *x, IrValue *y)
{
    IrValue *args[3] = {c, x, y};
    return op(b, OP_WHERE, 3, args, NULL, x->type.dtype);
}

/* ppermute over `axis` by perm (perm[k]: the member that member k sends to). */
static IrValue *permute(Body *b, IrValue *x, int axis, const int64_t *perm, int n)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    a.axes = 1u << axis;
    memcpy(ir_attrs_ints(b->m->arena, &a, n), perm, sizeof *perm * (size_t)n);
    IrType t;
    if (ir_local_infer(b->m->arena, &b->m->mesh, OP_PPERMUTE, &a, &x->type, &t))
        DTC_BUG("ring_attention: a permutation does not fit");
    return put(b, OP_PPERMUTE, 1, &x, &a, t);
}

/* The rank holding chunk c of 2n in head-tail order (i and 2n-1-i on rank i). */
static int64_t headtail_owner(int64_t c, int n) { return c < n ? c : 2 * n - 1 - c; }

/* x's contiguous block (chunks 2i, 2i+1 on rank i) in head-tail order:
 * each half goes to the rank that holds its chunk there; a rank receives
 * one even and one odd chunk, and its head (chunk i) is the even one when
 * i is even. */
static IrValue *to_headtail(Body *b, IrValue *x, int axis, int n, IrValue *even)
{
    int64_t c = x->type.dims[x->type.rank - 2] / 2, first[64], second[64];
    for (int i = 0; i < n; i++) {
        first[i] = headtail_owner(2 * i, n);
        second[i] = headtail_owner(2 * i + 1, n);
    }
    IrValue *ev = permute(b, rows_of(b, x, 0, c), axis, first, n);
    IrValue *od = permute(b, rows_of(b, x, c, 2 * c), axis, second, n);
    int d = x->type.rank - 2;
    return join(b, pick(b, even, ev, od), pick(b, even, od, ev), d);
}

/* The inverse: chunk c goes back to rank c / 2, the even one first. */
static IrValue *to_contiguous(Body *b, IrValue *x, int axis, int n, IrValue *even)
{
    int64_t c = x->type.dims[x->type.rank - 2] / 2, evens[64], odds[64];
    for (int i = 0; i < n; i++) { /* rank i's even chunk: i or 2n-1-i, whichever is even */
        int64_t e = i % 2 == 0 ? i : 2 * n - 1 - i, o = i % 2 == 0 ? 2 * n - 1 - i : i;
        evens[i] = e / 2;
        odds[i] = o / 2;
    }
    IrValue *head = rows_of(b, x, 0, c), *tail = rows_of(b, x, c, 2 * c);
    IrValue *ev = permute(b, pick(b, even, head, tail), axis, evens, n);
    IrValue *od = permute(b, pick(b, even, tail, head), axis, odds, n);
    return join(b, ev, od, x->type.rank - 2);
}

/* Online softmax state of a set of query rows: running max, sum, output. */
typedef struct Online {
    IrValue *m, *l, *o;
} Online;

static Online merge(Body *b, Online s, IrValue *sc, IrValue *v)
{
    IrValue *nm = bin(b, OP_MAXIMUM, s.m, rows(b, OP_MAX, sc));
    IrValue *rescale = un(b, OP_EXP, bin(b, OP_SUB, s.m, nm));
    IrValue *pr = un(b, OP_EXP, bin(b, OP_SUB, sc, nm));
    Online r = {nm, bin(b, OP_ADD, bin(b, OP_MUL, s.l, rescale), rows(b, OP_SUM, pr)),
                bin(b, OP_ADD, bin(b, OP_MUL, s.o, rescale), bin(b, OP_MATMUL, pr, v))};
    return r;
}

static Online pick_state(Body *b, IrValue *c, Online x, Online y)
{
    Online r = {pick(b, c, x.m, y.m), pick(b, c, x.l, y.l), pick(b, c, x.o, y.o)};
    return r;
}

/* Head-tail positions [rows, cols] along `dim` of the 2C rows of `owner`:
 * chunk owner for the first C, chunk 2n-1-owner after them. */
static IrValue *headtail_positions(Body *b, int64_t r, int64_t cl, int dim, IrValue *owner, int64_t c, int n)
{
    IrValue *idx = index_grid(b, r, cl, dim);
    IrValue *head = in_block(b, idx, owner, c);
    IrValue *tail_chunk = bin(b, OP_SUB, num(b, 2.0 * n - 1, DT_I32), owner);
    IrValue *tail = bin(b, OP_ADD, bin(b, OP_SUB, idx, num(b, (double)c, DT_I32)),
                        bin(b, OP_MUL, tail_chunk, num(b, (double)c, DT_I32)));
    return pick(b, bin(b, OP_LT, idx, num(b, (double)c, DT_I32)), head, tail);
}

/* The zigzag ring: q, k, v converted to head-tail order; step 0 the rank's
 * own 2C x 2C block, masked; step s > 0 the block of member j = me - s,
 * where exactly two of the four C x C sub-blocks are visible: both query
 * halves against K's head when j < me (s <= me), the query tail against
 * both K halves when j > me.  So the step computes two C x C blocks: the
 * first (head or tail queries, by where on s <= me, against K's head)
 * merged into the state of its rows, the second (tail queries against K's
 * head or tail) into the tail's; the result converted back. */
static IrValue *headtail_ring(Body *b, IrValue *q, IrValue *kb, IrValue *vb, const IrInst *i, int axis,
                              IrValue *me, const IrAttrs *tr)
{
    int n = b->m->mesh.size[axis], r = q->type.rank;
    int64_t c = q->type.dims[r - 2] / 2;
    DType dt = q->type.dtype;
    IrValue *even = bin(b, OP_EQ, bin(b, OP_MOD, me, num(b, 2, DT_I32)), num(b, 0, DT_I32));
    q = to_headtail(b, q, axis, n, even);
    kb = to_headtail(b, kb, axis, n, even);
    vb = to_headtail(b, vb, axis, n, even);
    IrValue *hidden = num(b, ir_attention_masked(dt), dt), *scale = num(b, i->a.f, dt);
    IrValue *qh = rows_of(b, q, 0, c), *qt = rows_of(b, q, c, 2 * c);
    Online head, tail;
    for (int s = 0; s < n; s++) {
        IrValue *kn = NULL, *vn = NULL;
        if (s + 1 < n) {
            kn = explicit(b, OP_PPERMUTE, kb, axis);
            vn = explicit(b, OP_PPERMUTE, vb, axis);
        }
        if (s == 0) { /* the own block: causal within it */
            IrValue *kt = op(b, OP_TRANSPOSE, 1, &kb, tr, dt);
            IrValue *sc = bin(b, OP_MUL, bin(b, OP_MATMUL, q, kt), scale);
            IrValue *keep = bin(b, OP_GE, headtail_positions(b, 2 * c, 1, 0, me, c, n),
                                headtail_positions(b, 1, 2 * c, 1, me, c, n));
            sc = pick(b, keep, sc, hidden);
            IrValue *m0 = rows(b, OP_MAX, sc);
            IrValue *pr = un(b, OP_EXP, bin(b, OP_SUB, sc, m0));
            IrValue *l0 = rows(b, OP_SUM, pr), *o0 = bin(b, OP_MATMUL, pr, vb);
            head = (Online){rows_of(b, m0, 0, c), rows_of(b, l0, 0, c), rows_of(b, o0, 0, c)};
            tail = (Online){rows_of(b, m0, c, 2 * c), rows_of(b, l0, c, 2 * c), rows_of(b, o0, c, 2 * c)};
        } else {
            IrValue *before = bin(b, OP_GE, me, num(b, s, DT_I32)); /* j = me - s < me */
            IrValue *kh = rows_of(b, kb, 0, c), *kt2 = rows_of(b, kb, c, 2 * c);
            IrValue *vh = rows_of(b, vb, 0, c), *vt = rows_of(b, vb, c, 2 * c);
            IrValue *q1 = pick(b, before, qh, qt), *k2 = pick(b, before, kh, kt2), *v2 = pick(b, before, vh, vt);
            IrValue *kht = op(b, OP_TRANSPOSE, 1, &kh, tr, dt), *k2t = op(b, OP_TRANSPOSE, 1, &k2, tr, dt);
            IrValue *s1 = bin(b, OP_MUL, bin(b, OP_MATMUL, q1, kht), scale);
            IrValue *s2 = bin(b, OP_MUL, bin(b, OP_MATMUL, qt, k2t), scale);
            Online first = merge(b, pick_state(b, before, head, tail), s1, vh);
            head = pick_state(b, before, first, head);
            tail = merge(b, pick_state(b, before, tail, first), s2, v2);
        }
        kb = kn;
        vb = vn;
    }
    IrValue *out = join(b, bin(b, OP_DIV, head.o, head.l), bin(b, OP_DIV, tail.o, tail.l), r - 2);
    return to_contiguous(b, out, axis, n, even);
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
    IrAttrs tr = ir_attrs_swap_last_two(m->arena, r);
    if (causal && tl % 2 == 0 && n <= 64) { /* head-tail; its perms are built in arrays of 64 */
        f->nresults = 1;
        f->results = arena_alloc(m->arena, sizeof *f->results);
        f->results[0] = headtail_ring(&b, q, kb, vb, i, axis, me, &tr);
        return f;
    }
    if (causal)
        qpos = positions(&b, tl, 1, 0, me, tl);
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
