/* lower.c - cg_lower: the partitioned IR as steps over buffers, one lowered
 * function per rank, grouped into variants (see cg_internal.h for the data
 * and the rules).
 *
 * Requires: the entry function after pass_fuse (every op local, no call,
 *           no redistribute; the fusion groups decided), f32 / f64 / i32
 *           values only.
 * Produces: a CgProgram whose every shape, offset and member length is a
 *           constant of the rank (or variant) it belongs to.
 *
 * Per rank, in four passes over the instructions:
 *   1. local types, use counts;
 *   2. the fusion groups read (IrInst.fuse): which values are built in
 *      their root's loop, which matmuls run in row blocks with their
 *      group's loop after each block; then (backwards, mm_fold_views) which
 *      transposes (and, on the CPU target, reshapes) a matmul reads as a
 *      strided view or writes in place;
 *   3. (forwards) buffers and steps; fused loops are built as expression
 *      nodes over strided loads, through index maps that compose
 *      broadcasting, transposes and local slices;
 *   4. results bound to the runtime's buffers (or copied there), lifetimes,
 *      workspace offsets by first-fit linear scan.
 * Ranks whose functions print the same (cg_func_dump) share a variant.
 * A loop's body is lowered for the same rank as a function of its own
 * (lower_scan), and becomes a CG_SCAN step of its caller.
 */
#include "codegen/cg_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/ir_text.h"
#include "runtime/core/rt_core.h"

#define ALIGN 64 /* workspace offsets, as rt_alloc aligns */

typedef enum VState {
    V_MAT,    /* has a buffer: a parameter, or computed by its own step */
    V_INLINE, /* computed inside its consumer's loop */
    V_FOLD,   /* a transpose or reshape the matmul reading it reads as a view */
    V_WRITTEN,/* a transpose with a buffer that its operand, a matmul, writes in
                 place (mm_writes_transpose): no step of its own */
    V_BLOCK   /* a matmul computed in row blocks, each followed by its group's
                 loop on that block (a matmul epilogue) */
} VState;

/* Index map of a value inside a loop nest: element index along dim d is
 * i_{loop[d]} * step[d] + off[d] (loop[d] == -1: just off[d]); step 0
 * stands for 1, so that a zeroed Map walks every dim with stride 1. */
typedef struct Map {
    int loop[IR_MAX_RANK];
    int64_t off[IR_MAX_RANK];
    int64_t step[IR_MAX_RANK];
} Map;

static int64_t map_step(const Map *mp, int d) { return mp->step[d] ? mp->step[d] : 1; }

typedef struct Lower {
    Arena *ar;
    const IrModule *m;
    const IrMesh *mesh;
    const IrFunc *f;
    FILE *err;
    int rank;
    int coords[IR_MAX_AXES];
    int nvals;
    IrType *lt;      /* by value id: local type on this rank */
    int *nuses;      /* by id: operand occurrences */
    int *use_at;     /* by id: its occurrences are users[use_at[id] .. use_at[id] + nuses[id]) */
    const IrInst **users; /* the instruction of every operand occurrence, grouped by value */
    const IrInst **gemm; /* by id of a root: the V_BLOCK matmul of its group, or NULL */
    bool block_epilogues; /* GEMMs with an epilogue are blocked (the CPU targets) */
    int64_t epilogue_block; /* CgOptions.epilogue_block: bytes per block, 0: the default */
    int block_mm;    /* while building an epilogue block: the matmul's id (its buffer
                        holds rows block_r0.. only), else -1 */
    int64_t block_r0;
    int nsaved;      /* epilogue_walk: local types replaced by the 2-D view */
    int *saved_id;
    IrType *saved_lt;
    int *walked;     /* by id: the last walk that met it (a DAG is walked once) */
    int nwalks;
    bool *is_result; /* by id */
    VState *state;   /* by id */
    int *buf;        /* by id: buffer, -1 none */
    int *ext_uses;   /* by buffer: uses of its values outside it (in-place test) */
    CgBuf *bufs;
    int nbufs, capbufs, capext;
    CgStep *steps;
    int nsteps, capsteps;
    CgNode *nodes; /* the loop being built */
    int nnodes, capnodes;
    int nloops;    /* of the loop being built */
    int *req_of;   /* by id of an async collective's result: its handle */
    bool *busy;    /* by handle: in flight at the step being built */
    int nbusy;     /* entries of busy */
    int req_base;  /* the lowest handle this function may take (loop bodies) */
    bool mm_views; /* matmuls read and write chains of transposes / reshapes as
                      strided views (CPU target); else only a transpose of the
                      last two dims, as a flag (CUDA: cuBLAS calls take no views) */
} Lower;

/* ---- small helpers ------------------------------------------------------------ */

const char *cg_value_name(Arena *a, const IrValue *v)
{
    char b[128];
    return arena_strdup(a, ir_value_str(v, b, sizeof b));
}

const char *cg_step_name(CgStepKind k)
{
    static const char *const names[] = {"loop",      "matmul",     "softmax",       "norm",
                                        "embedding", "pick",       "cross_entropy", "route",  "copy",
                                        "reshape",   "scan",       "all_reduce", "all_gather",    "reduce_scatter",
                                        "all_to_all", "wait"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static void *grow(Arena *a, void *p, int n, int *cap, size_t sz)
{
    if (n < *cap)
        return p;
    int nc = *cap ? *cap * 2 : 16;
    void *q = arena_alloc(a, sz * (size_t)nc);
    if (n)
        memcpy(q, p, sz * (size_t)n);
    *cap = nc;
    return q;
}

static int64_t numel(const IrType *t) { return ir_type_numel(t); }

static int64_t nbytes(const IrType *t) { return numel(t) * ir_dtype_size(t->dtype); }

static void strides_of(const IrType *t, int64_t *st)
{
    int64_t s = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= t->dims[d];
    }
}

static int norm_dim(int64_t d, int rank) { return (int)(d < 0 ? d + rank : d); }

static Placement pl_of(const Lower *L, const IrValue *v)
{
    return v->pl.naxes == 0 ? pl_replicated(L->mesh->naxes) : v->pl;
}

static const char *where(Lower *L, const IrInst *i)
{
    if (!i->loc.file || i->loc.line <= 0)
        return "?";
    return arena_printf(L->ar, "%s:%d:%d", i->loc.file, i->loc.line, i->loc.col);
}

static bool failf(Lower *L, const IrInst *i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A user-facing error at i's position (or the function's). */
static bool failf(Lower *L, const IrInst *i, const char *fmt, ...)
{
    const SrcLoc *loc = i ? &i->loc : &L->f->loc;
    if (loc->file && loc->line > 0)
        fprintf(L->err, "%s:%d:%d: error: ", loc->file, loc->line, loc->col);
    else
        fprintf(L->err, "dtc: error: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(L->err, fmt, ap);
    va_end(ap);
    fputc('\n', L->err);
    return false;
}

/* Global offset of this rank's piece of every dim of v. */
static void local_offsets(Lower *L, const IrValue *v, int64_t *off)
{
    Placement pl = pl_of(L, v);
    for (int d = 0; d < v->type.rank; d++) {
        int64_t len;
        pl_local_range(L->mesh, &pl, L->coords, d, v->type.dims[d], &off[d], &len);
    }
}

static bool is_reduce(IrOp op) { return (ir_op_flags(op) & OPF_REDUCE) != 0; }

/* to_partial on this rank: does it hold zeros (P(sum) off coordinate 0)? */
static bool to_partial_zero(Lower *L, const IrInst *i)
{
    Placement pl = pl_of(L, i->res[0]);
    for (int a = 0; a < L->mesh->naxes; a++)
        if ((i->a.axes >> a & 1) && pl.e[a].kind == PL_P && pl.e[a].red == RED_SUM &&
            L->coords[a] != 0)
            return true;
    return false;
}

/* ---- buffers and steps --------------------------------------------------------------- */

static int new_buf(Lower *L, CgBufKind kind, int index, const IrValue *v)
{
    L->bufs = grow(L->ar, L->bufs, L->nbufs, &L->capbufs, sizeof *L->bufs);
    L->ext_uses = grow(L->ar, L->ext_uses, L->nbufs, &L->capext, sizeof *L->ext_uses);
    CgBuf *b = &L->bufs[L->nbufs];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->index = index;
    b->bytes = nbytes(&L->lt[v->id]);
    b->dtype = v->type.dtype;
    b->value = v;
    b->first = b->last = -1;
    return L->nbufs++;
}

/* Gives step s room for n input buffers (any count) and sets nin. */
static void step_in(Lower *L, CgStep *s, int n)
{
    s->in = arena_alloc(L->ar, sizeof *s->in * (size_t)(n > 0 ? n : 1));
    s->nin = n;
}

static CgStep *new_step(Lower *L, CgStepKind kind, const IrInst *i, int out)
{
    L->steps = grow(L->ar, L->steps, L->nsteps, &L->capsteps, sizeof *L->steps);
    CgStep *s = &L->steps[L->nsteps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->inst = i;
    s->out = out;
    s->dtype = out >= 0 ? L->bufs[out].dtype : DT_F32;
    s->loop.red = OP_COUNT;
    s->req = -1;
    return s;
}

/* The lowest free handle at or above req_base, now taken. */
static int take_req(Lower *L)
{
    int r = L->req_base;
    while (r < L->nbusy && L->busy[r])
        r++;
    if (r >= L->nbusy) {
        int n = L->nbusy ? 2 * L->nbusy : 16;
        while (n <= r)
            n *= 2;
        bool *b = arena_alloc(L->ar, sizeof *b * (size_t)n);
        if (L->nbusy)
            memcpy(b, L->busy, sizeof *b * (size_t)L->nbusy);
        L->busy = b;
        L->nbusy = n;
    }
    L->busy[r] = true;
    return r;
}

/* A value joins buffer b (reshape, in-place all_reduce): its uses count,
 * the one use that made it join does not. */
static void join(Lower *L, const IrValue *v, int b, int joining_use)
{
    L->buf[v->id] = b;
    L->ext_uses[b] += L->nuses[v->id] + (L->is_result[v->id] ? 1 : 0) - joining_use;
    int64_t nb = nbytes(&L->lt[v->id]);
    if (nb > L->bufs[b].bytes)
        L->bufs[b].bytes = nb;
}

static int buf_for(Lower *L, const IrValue *v)
{
    int b = new_buf(L, CG_BUF_WORK, -1, v);
    L->ext_uses[b] = 0;
    join(L, v, b, 0);
    return b;
}

/* ---- fused loops ------------------------------------------------------------------------ */

static int add_node(Lower *L, const CgNode *n)
{
    for (int k = 0; k < L->nnodes; k++) { /* loads and constants once each */
        const CgNode *o = &L->nodes[k];
        if (n->kind == CG_N_LOAD && o->kind == CG_N_LOAD && o->buf == n->buf &&
            o->base == n->base && o->dtype == n->dtype &&
            !memcmp(o->stride, n->stride, sizeof o->stride))
            return k;
        if (n->kind == CG_N_IOTA && o->kind == CG_N_IOTA && o->base == n->base && o->dtype == n->dtype &&
            !memcmp(o->stride, n->stride, sizeof o->stride))
            return k;
        if (n->kind == CG_N_CONST && o->kind == CG_N_CONST && o->dtype == n->dtype &&
            !memcmp(&o->f, &n->f, sizeof o->f))
            return k;
    }
    L->nodes = grow(L->ar, L->nodes, L->nnodes, &L->capnodes, sizeof *L->nodes);
    L->nodes[L->nnodes] = *n;
    return L->nnodes++;
}

static int const_node(Lower *L, DType dt, double f, const IrValue *v)
{
    CgNode n;
    memset(&n, 0, sizeof n);
    n.kind = CG_N_CONST;
    n.dtype = dt;
    n.f = f;
    n.a = n.b = n.c = -1;
    n.value = v;
    return add_node(L, &n);
}

static int build_inst(Lower *L, const IrInst *i, const Map *mp);

/* The node for value u's element at index map mp. */
static int build_val(Lower *L, const IrValue *u, const Map *mp)
{
    if (L->state[u->id] == V_INLINE)
        return build_inst(L, u->def, mp);
    DTC_ASSERT((L->state[u->id] == V_MAT || L->state[u->id] == V_WRITTEN ||
                (L->state[u->id] == V_BLOCK && u->id == L->block_mm)) &&
               L->buf[u->id] >= 0);
    const IrType *t = &L->lt[u->id];
    int64_t st[IR_MAX_RANK];
    strides_of(t, st);
    CgNode n;
    memset(&n, 0, sizeof n);
    n.kind = CG_N_LOAD;
    n.dtype = t->dtype;
    n.a = n.b = n.c = -1;
    n.buf = L->buf[u->id];
    n.value = u;
    for (int d = 0; d < t->rank; d++) {
        n.base += mp->off[d] * st[d];
        if (mp->loop[d] >= 0)
            n.stride[mp->loop[d]] += map_step(mp, d) * st[d];
    }
    if (u->id == L->block_mm) /* the block buffer holds rows block_r0.. */
        n.base -= L->block_r0 * st[0];
    return add_node(L, &n);
}

static int build_inst(Lower *L, const IrInst *i, const Map *mp)
{
    const IrValue *v = i->res[0];
    const IrType *lv = &L->lt[v->id];
    Map m2;
    memset(&m2, 0, sizeof m2);
    switch (i->op) {
    case OP_CONST:
        return const_node(L, v->type.dtype, i->a.f, v);
    case OP_TRANSPOSE: /* result dim d is operand dim perm[d] */
        for (int d = 0; d < lv->rank; d++) {
            int p = norm_dim(i->a.ints[d], lv->rank);
            m2.loop[p] = mp->loop[d];
            m2.off[p] = mp->off[d];
            m2.step[p] = mp->step[d];
        }
        return build_val(L, i->args[0], &m2);
    case OP_SLICE: /* operand index start + step * (result index); local: the
                      sliced dims are whole on this rank (rules_shape.c) */
        for (int d = 0; d < lv->rank; d++) {
            int64_t start = i->a.ints[3 * d], step = i->a.ints[3 * d + 2];
            m2.loop[d] = mp->loop[d];
            m2.off[d] = start + step * mp->off[d];
            m2.step[d] = step * map_step(mp, d);
        }
        return build_val(L, i->args[0], &m2);
    case OP_BROADCAST_TO: { /* stretched dims read index 0 */
        const IrType *la = &L->lt[i->args[0]->id];
        int shift = lv->rank - la->rank;
        for (int d = 0; d < la->rank; d++) {
            if (la->dims[d] == 1 && lv->dims[d + shift] != 1) {
                m2.loop[d] = -1;
                m2.off[d] = 0;
            } else {
                m2.loop[d] = mp->loop[d + shift];
                m2.off[d] = mp->off[d + shift];
                m2.step[d] = mp->step[d + shift];
            }
        }
        return build_val(L, i->args[0], &m2);
    }
    case OP_SHARD: { /* a sub-box of the operand */
        int64_t ov[IR_MAX_RANK], ou[IR_MAX_RANK];
        local_offsets(L, v, ov);
        local_offsets(L, i->args[0], ou);
        for (int d = 0; d < lv->rank; d++) {
            m2.loop[d] = mp->loop[d];
            m2.off[d] = mp->off[d] + ov[d] - ou[d];
            m2.step[d] = mp->step[d];
        }
        return build_val(L, i->args[0], &m2);
    }
    case OP_TO_PARTIAL:
        if (to_partial_zero(L, i))
            return const_node(L, v->type.dtype, 0.0, v);
        return build_val(L, i->args[0], mp);
    case OP_IOTA: { /* the global index along the axis: this rank's offset plus the loop's */
        int d = i->a.dim;
        int64_t ov[IR_MAX_RANK];
        local_offsets(L, v, ov);
        CgNode n;
        memset(&n, 0, sizeof n);
        n.kind = CG_N_IOTA;
        n.dtype = v->type.dtype;
        n.a = n.b = n.c = -1;
        n.value = v;
        n.base = ov[d] + mp->off[d];
        if (mp->loop[d] >= 0)
            n.stride[mp->loop[d]] = map_step(mp, d);
        return add_node(L, &n);
    }
    default:
        break;
    }
    DTC_ASSERT(ir_op_flags(i->op) & OPF_EW);
    DTC_ASSERT(i->nargs <= 3);
    int ops[3] = {-1, -1, -1};
    for (int k = 0; k < i->nargs; k++) {
        const IrType *la = &L->lt[i->args[k]->id];
        int shift = lv->rank - la->rank;
        for (int d = 0; d < la->rank; d++) {
            if (la->dims[d] == 1 && lv->dims[d + shift] != 1) { /* broadcast */
                m2.loop[d] = -1;
                m2.off[d] = 0;
            } else {
                m2.loop[d] = mp->loop[d + shift];
                m2.off[d] = mp->off[d + shift];
                m2.step[d] = mp->step[d + shift];
            }
        }
        ops[k] = build_val(L, i->args[k], &m2);
    }
    CgNode n;
    memset(&n, 0, sizeof n);
    n.kind = CG_N_OP;
    n.dtype = v->type.dtype;
    n.op = i->op;
    n.a = ops[0];
    n.b = ops[1];
    n.c = ops[2];
    n.f = i->a.f;
    n.value = v;
    L->nodes = grow(L->ar, L->nodes, L->nnodes, &L->capnodes, sizeof *L->nodes);
    L->nodes[L->nnodes] = n;
    return L->nnodes++;
}

/* Deletes loop l from the nest (its trip count is accounted for). */
static void drop_loop(CgLoop *lp, int l)
{
    size_t rest = sizeof(int64_t) * (size_t)(lp->nloops - l - 1);
    memmove(&lp->n[l], &lp->n[l + 1], rest);
    memmove(&lp->out_stride[l], &lp->out_stride[l + 1], rest);
    for (int k = 0; k < lp->nnodes; k++)
        memmove(&lp->nodes[k].stride[l], &lp->nodes[k].stride[l + 1], rest);
    if (l < lp->nkeep)
        lp->nkeep--;
    lp->nloops--;
    lp->n[lp->nloops] = lp->out_stride[lp->nloops] = 0;
    for (int k = 0; k < lp->nnodes; k++)
        lp->nodes[k].stride[lp->nloops] = 0;
}

/* Removes loops of trip count 1 and merges neighbours that every buffer
 * walks contiguously (a flat loop vectorises). */
static void simplify_loop(CgLoop *lp)
{
    for (int l = lp->nloops - 1; l >= 0; l--)
        if (lp->n[l] == 1)
            drop_loop(lp, l);
    for (int l = lp->nloops - 2; l >= 0; l--) {
        bool kept = l < lp->nkeep;
        if (kept != (l + 1 < lp->nkeep))
            continue; /* an output loop and a reduced one */
        bool ok = !kept || lp->out_stride[l] == lp->out_stride[l + 1] * lp->n[l + 1];
        for (int k = 0; ok && k < lp->nnodes; k++)
            if (lp->nodes[k].kind == CG_N_LOAD || lp->nodes[k].kind == CG_N_IOTA)
                ok = lp->nodes[k].stride[l] == lp->nodes[k].stride[l + 1] * lp->n[l + 1];
        if (!ok)
            continue;
        lp->n[l] *= lp->n[l + 1];
        lp->out_stride[l] = lp->out_stride[l + 1];
        for (int k = 0; k < lp->nnodes; k++)
            lp->nodes[k].stride[l] = lp->nodes[k].stride[l + 1];
        drop_loop(lp, l + 1);
    }
}

/* Fills s->loop from the nodes built and the buffers they read. */
static void finish_loop(Lower *L, CgStep *s)
{
    CgLoop *lp = &s->loop;
    lp->nnodes = L->nnodes;
    lp->nodes = arena_dup(L->ar, L->nodes, (size_t)L->nnodes, sizeof *L->nodes);
    lp->out = s->out;
    lp->out_dtype = L->bufs[s->out].dtype;
    simplify_loop(lp);
    /* the buffers read (every distinct one), for lifetimes */
    int n = 0;
    int *seen = arena_alloc(L->ar, sizeof *seen * (size_t)(lp->nnodes > 0 ? lp->nnodes : 1));
    for (int k = 0; k < lp->nnodes; k++)
        if (lp->nodes[k].kind == CG_N_LOAD) {
            bool dup = false;
            for (int j = 0; j < n; j++)
                dup |= seen[j] == lp->nodes[k].buf;
            if (!dup)
                seen[n++] = lp->nodes[k].buf;
        }
    s->in = seen;
    s->nin = n;
}

/* The loop computing a fusable instruction's result into buffer out. */
static void loop_ew(Lower *L, const IrInst *i, int out)
{
    const IrType *lv = &L->lt[i->res[0]->id];
    CgStep *s = new_step(L, CG_LOOP, i, out);
    s->bytes = nbytes(lv);
    CgLoop *lp = &s->loop;
    Map mp;
    memset(&mp, 0, sizeof mp);
    lp->nloops = lp->nkeep = lv->rank;
    strides_of(lv, lp->out_stride);
    for (int d = 0; d < lv->rank; d++) {
        lp->n[d] = lv->dims[d];
        mp.loop[d] = d;
    }
    L->nnodes = 0;
    build_inst(L, i, &mp);
    finish_loop(L, s);
}

/* concat and pad: loops writing boxes of the result buffer, one per operand
 * (pad: the fill first, then the operand at offset lo).  Only dims that are
 * whole on this rank are shifted (rules_shape.c), so local = global there. */
static void loop_box(Lower *L, const IrInst *i, int out, const IrValue *src, double fill,
                     const int64_t *at)
{
    const IrType *lv = &L->lt[i->res[0]->id];
    const IrType *box = src ? &L->lt[src->id] : lv;
    CgStep *s = new_step(L, CG_LOOP, i, out);
    s->bytes = nbytes(box);
    CgLoop *lp = &s->loop;
    Map mp;
    memset(&mp, 0, sizeof mp);
    lp->nloops = lp->nkeep = lv->rank;
    strides_of(lv, lp->out_stride);
    for (int d = 0; d < lv->rank; d++) {
        lp->n[d] = box->dims[d];
        lp->out_base += at[d] * lp->out_stride[d];
        mp.loop[d] = d;
    }
    L->nnodes = 0;
    if (src)
        build_val(L, src, &mp);
    else
        const_node(L, lv->dtype, fill, i->res[0]);
    finish_loop(L, s);
}

static void lower_pieces(Lower *L, const IrInst *i, int out)
{
    int64_t at[IR_MAX_RANK] = {0};
    int r = L->lt[i->res[0]->id].rank;
    if (i->op == OP_PAD) {
        loop_box(L, i, out, NULL, i->a.f, at);
        for (int d = 0; d < r; d++)
            at[d] = i->a.ints[2 * d];
        loop_box(L, i, out, i->args[0], 0, at);
        return;
    }
    int ax = (int)i->a.ints[0];
    for (int k = 0; k < i->nargs; k++) {
        loop_box(L, i, out, i->args[k], 0, at);
        at[ax] += L->lt[i->args[k]->id].dims[ax];
    }
}

/* The loop of a reduction: kept dims outside, reduced dims inside. */
static void loop_reduce(Lower *L, const IrInst *i, int out)
{
    const IrValue *u = i->args[0];
    const IrType *lu = &L->lt[u->id];
    bool red[IR_MAX_RANK] = {false};
    for (int k = 0; k < i->a.nints; k++)
        red[norm_dim(i->a.ints[k], lu->rank)] = true;
    if (i->a.nints == 0)
        for (int d = 0; d < lu->rank; d++)
            red[d] = true;
    CgStep *s = new_step(L, CG_LOOP, i, out);
    s->bytes = nbytes(&L->lt[i->res[0]->id]);
    CgLoop *lp = &s->loop;
    lp->red = i->op;
    lp->red_count = 1;
    Map mp;
    memset(&mp, 0, sizeof mp);
    int l = 0;
    for (int pass = 0; pass < 2; pass++) /* kept dims, then reduced */
        for (int d = 0; d < lu->rank; d++)
            if (red[d] == (pass == 1)) {
                mp.loop[d] = l;
                lp->n[l++] = lu->dims[d];
                if (pass == 1)
                    lp->red_count *= lu->dims[d];
            }
    lp->nloops = lu->rank;
    lp->nkeep = 0;
    for (int d = 0; d < lu->rank; d++)
        lp->nkeep += !red[d];
    int64_t s1 = 1;
    for (int k = lp->nkeep - 1; k >= 0; k--) {
        lp->out_stride[k] = s1;
        s1 *= lp->n[k];
    }
    L->nnodes = 0;
    build_val(L, u, &mp);
    finish_loop(L, s);
}

/* ---- kernels ------------------------------------------------------------------------------ */

/* A matmul operand or result as a strided view of a buffer: element
 * (i_0, .., i_{r-1}) of the local value is element sum_d i_d * stride[d] of
 * base's buffer. */
typedef struct MmView {
    const IrValue *base;
    int64_t stride[IR_MAX_RANK];
} MmView;

/* How BLAS reads a [rows, cols] view with these two strides: rows apart
 * by *ld with elements 1 apart, or (*trans) the transpose of a stored
 * [cols, rows] matrix.  False when neither stride is 1 (or ld is too short). */
static bool mm_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride, bool *trans,
                      int64_t *ld)
{
    if (rows == 0 || cols == 0) { /* nothing is read: any layout */
        *trans = false;
        *ld = cols > 1 ? cols : 1;
        return true;
    }
    if (col_stride == 1 && row_stride >= (cols > 1 ? cols : 1)) {
        *trans = false;
        *ld = row_stride;
        return true;
    }
    if (row_stride == 1 && col_stride >= (rows > 1 ? rows : 1)) {
        *trans = true;
        *ld = col_stride;
        return true;
    }
    return false;
}

/* Is v, a matmul operand, a view the matmul can read in place?  v is a
 * chain of transposes and reshapes, each used once (by the next) and no
 * result, over a value with a buffer; every reshape in it sees a dense
 * view (a reshape of a transposed view is not strided), and the last two
 * dims of v's view have a layout (mm_layout).  The longest such chain,
 * with its base and strides in *w; false when v is not even the first
 * link.  Without mm_views only the classic case: one transpose of the
 * last two dims.  read_groups (mm_fold_views) calls it, once every
 * state but the views' is known, to mark the chain V_FOLD, lower_matmul to
 * read the strides. */
static bool mm_view(Lower *L, const IrValue *v, MmView *w)
{
    const IrValue *chain[2 * IR_MAX_RANK + 8];
    int n = 0;
    for (const IrValue *u = v; n < (int)(sizeof chain / sizeof chain[0]); u = u->def->args[0]) {
        const IrInst *d = u->def;
        bool link = d && L->nuses[u->id] == 1 && !L->is_result[u->id] &&
                    (L->mm_views ? d->op == OP_TRANSPOSE || d->op == OP_RESHAPE
                                 : d->op == OP_TRANSPOSE && ir_swaps_last_two(d) && n == 0);
        if (!link)
            break;
        chain[n++] = u;
    }
    for (; n > 0; n--) { /* the longest chain that is a view of a buffer */
        const IrValue *base = chain[n - 1]->def->args[0];
        if (L->state[base->id] != V_MAT && L->state[base->id] != V_WRITTEN)
            continue; /* built inside a loop (a fusion group's member): no buffer to view */
        const IrType *bt = &L->lt[base->id];
        int64_t st[IR_MAX_RANK];
        strides_of(bt, st);
        bool ok = true;
        for (int k = n - 1; k >= 0 && ok; k--) {
            const IrInst *d = chain[k]->def;
            const IrType *in = &L->lt[d->args[0]->id], *out = &L->lt[chain[k]->id];
            if (d->op == OP_RESHAPE) {
                int64_t dense[IR_MAX_RANK];
                strides_of(in, dense);
                for (int e = 0; e < in->rank; e++)
                    ok &= in->dims[e] == 1 || st[e] == dense[e];
                strides_of(out, st);
            } else {
                int64_t t[IR_MAX_RANK];
                for (int e = 0; e < out->rank; e++)
                    t[e] = st[norm_dim(d->a.ints[e], out->rank)];
                memcpy(st, t, sizeof t);
            }
        }
        const IrType *vt = &L->lt[v->id];
        int r = vt->rank;
        bool trans;
        int64_t ld;
        if (ok && r >= 2 && mm_layout(vt->dims[r - 2], vt->dims[r - 1], st[r - 2], st[r - 1], &trans, &ld)) {
            w->base = base;
            memcpy(w->stride, st, sizeof st);
            return true;
        }
    }
    return false;
}

/* The view a matmul operand is read through: its chain (V_FOLD) or its
 * own dense buffer. */
static MmView mm_source(Lower *L, const IrValue *a)
{
    MmView w;
    if (L->state[a->id] != V_FOLD || !mm_view(L, a, &w)) {
        w.base = a;
        strides_of(&L->lt[a->id], w.stride);
    }
    return w;
}

/* Does matmul i write its result straight into the buffer of its one
 * user, a transpose (the heads back: [B, NH, T, DH] -> [B, T, NH, DH])?
 * Yes when the result is no function result and the transpose keeps its
 * buffer and gives the result a layout.  *w: the result's strides in
 * the transpose's buffer. */
static bool mm_writes_transpose(Lower *L, const IrInst *i, MmView *w)
{
    const IrValue *v = i->res[0];
    if (!L->mm_views || L->nuses[v->id] != 1 || L->is_result[v->id])
        return false;
    const IrInst *t = L->users[L->use_at[v->id]];
    if (t->op != OP_TRANSPOSE || (L->state[t->res[0]->id] != V_MAT && L->state[t->res[0]->id] != V_WRITTEN))
        return false;
    const IrType *vt = &L->lt[v->id];
    int r = vt->rank;
    int64_t st[IR_MAX_RANK];
    strides_of(&L->lt[t->res[0]->id], st);
    for (int e = 0; e < r; e++)
        w->stride[norm_dim(t->a.ints[e], r)] = st[e];
    w->base = t->res[0];
    bool trans;
    int64_t ld;
    return r >= 2 && mm_layout(vt->dims[r - 2], vt->dims[r - 1], w->stride[r - 2], w->stride[r - 1], &trans, &ld) &&
           !trans;
}

/* read_groups' rule for a matmul: operand chains that are views become
 * V_FOLD, a transpose its result is written into V_WRITTEN.  Run once the
 * groups are read, matmuls in reverse order (after their users). */
static void mm_fold_views(Lower *L, const IrInst *i)
{
    for (int k = 0; k < 2; k++) {
        MmView w;
        if (!mm_view(L, i->args[k], &w))
            continue;
        for (const IrValue *u = i->args[k]; u != w.base; u = u->def->args[0]) {
            L->state[u->id] = V_FOLD;
        }
    }
    MmView c;
    if (mm_writes_transpose(L, i, &c))
        L->state[c.base->id] = V_WRITTEN;
}

/* The buffer a kernel's result goes to: its own, or that of the transpose
 * a matmul writes in place (which the transpose's later users read). */
static int result_buf(Lower *L, const IrInst *i)
{
    const IrValue *v = i->res[0];
    MmView c;
    if (i->op == OP_MATMUL && mm_writes_transpose(L, i, &c) && L->state[c.base->id] == V_WRITTEN) {
        int b = buf_for(L, c.base);
        L->buf[v->id] = b;
        return b;
    }
    return buf_for(L, v);
}

static bool lower_matmul(Lower *L, const IrInst *i, int out)
{
    const IrValue *v = i->res[0];
    const IrType *lc = &L->lt[v->id];
    const IrType *la = &L->lt[i->args[0]->id], *lb = &L->lt[i->args[1]->id];
    int ra = la->rank, rb = lb->rank, rc = lc->rank;
    if (ra < 2 || rb < 2 || rc < 2)
        return failf(L, i, "matmul needs operands of rank >= 2");
    MmView wa = mm_source(L, i->args[0]), wb = mm_source(L, i->args[1]), wc;
    if (!mm_writes_transpose(L, i, &wc) || L->buf[wc.base->id] != out) {
        wc.base = v;
        strides_of(lc, wc.stride);
    }
    CgStep *s = new_step(L, CG_MATMUL, i, out);
    s->bytes = nbytes(lc);
    step_in(L, s, 2);
    s->in[0] = L->buf[wa.base->id];
    s->in[1] = L->buf[wb.base->id];
    s->M = la->dims[ra - 2];
    s->K = la->dims[ra - 1];
    s->N = lb->dims[rb - 1];
    if (lb->dims[rb - 2] != s->K || lc->dims[rc - 2] != s->M || lc->dims[rc - 1] != s->N)
        DTC_BUG("lower: matmul local shapes do not agree");
    bool tc;
    if (!mm_layout(s->M, s->K, wa.stride[ra - 2], wa.stride[ra - 1], &s->ta, &s->lda) ||
        !mm_layout(s->K, s->N, wb.stride[rb - 2], wb.stride[rb - 1], &s->tb, &s->ldb) ||
        !mm_layout(s->M, s->N, wc.stride[rc - 2], wc.stride[rc - 1], &tc, &s->ldc) || tc)
        DTC_BUG("lower: matmul view without a BLAS layout");
    int nb = rc - 2, n = 0;
    for (int d = 0; d < nb; d++) {
        int da = d - (nb - (ra - 2)), db = d - (nb - (rb - 2));
        int64_t xa = da >= 0 ? la->dims[da] : 1, xb = db >= 0 ? lb->dims[db] : 1;
        if (lc->dims[d] == 1)
            continue; /* one batch: no stride */
        s->batch[n] = lc->dims[d];
        s->astride[n] = xa == 1 ? 0 : wa.stride[da];
        s->bstride[n] = xb == 1 ? 0 : wb.stride[db];
        s->cstride[n] = wc.stride[d];
        n++;
    }
    /* merge batch dims that all three walk evenly */
    for (int d = n - 2; d >= 0; d--) {
        if (s->astride[d] != s->astride[d + 1] * s->batch[d + 1] ||
            s->bstride[d] != s->bstride[d + 1] * s->batch[d + 1] ||
            s->cstride[d] != s->cstride[d + 1] * s->batch[d + 1])
            continue;
        s->batch[d] *= s->batch[d + 1];
        s->astride[d] = s->astride[d + 1];
        s->bstride[d] = s->bstride[d + 1];
        s->cstride[d] = s->cstride[d + 1];
        for (int e = d + 1; e < n - 1; e++) {
            s->batch[e] = s->batch[e + 1];
            s->astride[e] = s->astride[e + 1];
            s->bstride[e] = s->bstride[e + 1];
            s->cstride[e] = s->cstride[e + 1];
        }
        n--;
        s->batch[n] = s->astride[n] = s->bstride[n] = s->cstride[n] = 0;
    }
    s->nbatch = n;
    /* dense everywhere: the plain call (and the only one the CUDA target has) */
    bool dense = s->lda == (s->ta ? s->M : s->K) && s->ldb == (s->tb ? s->K : s->N) && s->ldc == s->N;
    int64_t next = s->M * s->N;
    for (int d = n - 1; d >= 0; d--) {
        dense &= s->cstride[d] == next;
        next *= s->batch[d];
    }
    s->strided = !dense;
    if (s->strided && !L->mm_views)
        DTC_BUG("lower: a strided matmul without mm_views");
    return true;
}

/* ---- matmul epilogues ----------------------------------------------------------------------- */

/* N, the columns of a blocked GEMM's result (seen as [rows, N]). */
static int64_t gemm_cols(Lower *L, const IrInst *mm)
{
    const IrType *c = &L->lt[mm->res[0]->id];
    return c->dims[c->rank - 1];
}

/* Walks the group of `root` whose GEMM is mm from u (the root, then the
 * operands of its members, depth first, each value once).  Without
 * override: can this rank run it in row blocks?  Every member is
 * elementwise or const, and every value it reads from outside has the
 * GEMM's shape, is a row broadcast over the rows ([N], [1, .., N]) or a
 * single element.  With override: the local type of each value met is
 * replaced by that 2-D view ([rows, N], [N], []; saved for
 * epilogue_restore), so that the group's loop is built over [rows, N]
 * (the GEMM's own type changes on the way; its N and size do not). */
static bool epilogue_walk(Lower *L, const IrValue *u, const IrValue *root, const IrInst *mm, bool override)
{
    if (L->walked[u->id] == L->nwalks)
        return true;
    L->walked[u->id] = L->nwalks;
    const IrType *c = &L->lt[mm->res[0]->id];
    int64_t n = c->dims[c->rank - 1], total = numel(c);
    const IrType *t = &L->lt[u->id];
    IrType view = *t;
    int64_t e = numel(t);
    if (u == mm->res[0] || e == total) {
        view.rank = 2;
        view.dims[0] = n ? total / n : 0;
        view.dims[1] = n;
    } else if (t->rank >= 1 && t->dims[t->rank - 1] == n && e == n) {
        view.rank = 1;
        view.dims[0] = n;
    } else if (e == 1) {
        view.rank = 0;
    } else {
        return false;
    }
    if (u == root || (u != mm->res[0] && L->state[u->id] == V_INLINE)) {
        const IrInst *i = u->def;
        if (i->op != OP_CONST && !(ir_op_flags(i->op) & OPF_EW))
            return false;
        for (int k = 0; k < i->nargs; k++)
            if (!epilogue_walk(L, i->args[k], root, mm, override))
                return false;
    }
    if (override) {
        L->saved_id[L->nsaved] = u->id;
        L->saved_lt[L->nsaved++] = *t;
        L->lt[u->id] = view;
    }
    return true;
}

static void epilogue_restore(Lower *L)
{
    while (L->nsaved > 0) {
        L->nsaved--;
        L->lt[L->saved_id[L->nsaved]] = L->saved_lt[L->nsaved];
    }
}

/* The dense buffer a blocked GEMM's B is read from, *trans when it is
 * read transposed (one transpose of the last two dims, folded); NULL when
 * B is a view with other strides (heads), which only lower_matmul reads. */
static const IrValue *epilogue_b(Lower *L, const IrValue *b, bool *trans)
{
    *trans = L->state[b->id] == V_FOLD;
    if (!*trans)
        return b;
    MmView w = mm_source(L, b);
    const IrInst *d = b->def;
    return d->op == OP_TRANSPOSE && ir_swaps_last_two(d) && w.base == d->args[0] ? w.base : NULL;
}

/* The group of root i (buffer out) with its GEMM mm: for each block of
 * rows, the GEMM of those rows into a block buffer, then the group's loop
 * over the block (the block of C is still in cache when the loop reads
 * it).  Blocking the rows changes no element's sum. */
static void lower_epilogue(Lower *L, const IrInst *i, const IrInst *mm, int out)
{
    const IrValue *c = mm->res[0];
    const IrValue *a = mm->args[0];
    bool tb;
    const IrValue *sb = epilogue_b(L, mm->args[1], &tb);
    DTC_ASSERT(sb && L->state[a->id] == V_MAT);
    int64_t n = gemm_cols(L, mm), k = L->lt[a->id].dims[L->lt[a->id].rank - 1];
    int64_t rows = n ? numel(&L->lt[c->id]) / n : 0;
    int64_t esz = ir_dtype_size(c->type.dtype);
    int64_t row_bytes = n * esz > 0 ? n * esz : 1, per;
    if (L->epilogue_block > 0) /* --epilogue-block */
        per = L->epilogue_block / row_bytes;
    else if (rows * row_bytes <= CG_EPILOGUE_CACHE) /* in cache anyway: one GEMM */
        per = rows;
    else
        per = CG_EPILOGUE_BYTES / row_bytes > CG_EPILOGUE_MIN_ROWS ? CG_EPILOGUE_BYTES / row_bytes
                                                                 : CG_EPILOGUE_MIN_ROWS;
    if (per < 1)
        per = 1;
    if (rows > per * CG_EPILOGUE_BLOCKS) /* no function grows with the rows */
        per = (rows + CG_EPILOGUE_BLOCKS - 1) / CG_EPILOGUE_BLOCKS;
    if (per > rows)
        per = rows;
    int blk = new_buf(L, CG_BUF_WORK, -1, c);
    L->ext_uses[blk] = 0;
    L->bufs[blk].bytes = per * n * esz;
    L->buf[c->id] = blk;
    L->nsaved = 0;
    L->nwalks++;
    bool ok = epilogue_walk(L, i->res[0], i->res[0], mm, true);
    DTC_ASSERT(ok);
    int64_t oz = ir_dtype_size(i->res[0]->type.dtype);
    for (int64_t r0 = 0; r0 < rows; r0 += per) {
        int64_t mb = rows - r0 < per ? rows - r0 : per;
        CgStep *g = new_step(L, CG_MATMUL, mm, blk);
        g->bytes = mb * n * esz;
        step_in(L, g, 2);
        g->in[0] = L->buf[a->id];
        g->in[1] = L->buf[sb->id];
        g->a_offset = r0 * k * esz;
        g->tb = tb;
        g->M = mb;
        g->N = n;
        g->K = k;
        CgStep *s = new_step(L, CG_LOOP, i, out);
        s->bytes = mb * n * oz;
        CgLoop *lp = &s->loop;
        lp->nloops = lp->nkeep = 2;
        lp->n[0] = mb;
        lp->n[1] = n;
        lp->out_stride[0] = n;
        lp->out_stride[1] = 1;
        lp->out_base = r0 * n;
        Map mp;
        memset(&mp, 0, sizeof mp);
        mp.loop[0] = 0;
        mp.loop[1] = 1;
        mp.off[0] = r0;
        L->block_mm = c->id;
        L->block_r0 = r0;
        L->nnodes = 0;
        build_inst(L, i, &mp);
        finish_loop(L, s);
        L->block_mm = -1;
    }
    epilogue_restore(L);
}

/* The lookup / routing family: one dtk_route call on the local shards, the
 * [outer, len, inner] view split at the axis (one_hot: ids flat, len the
 * local classes), with one_hot's class offset / scatter_add's row offset. */
static bool lower_route(Lower *L, const IrInst *i, int out)
{
    const IrValue *x = i->args[0], *v = i->res[0];
    const IrType *lx = &L->lt[x->id], *lv = &L->lt[v->id];
    if (x->type.dtype == DT_F16 || x->type.dtype == DT_BF16 || v->type.dtype == DT_F16 || v->type.dtype == DT_BF16)
        return failf(L, i, "%s on f16 / bf16 is not supported by the CPU target", ir_op_name(i->op));
    CgStep *s = new_step(L, CG_ROUTE, i, out);
    IrRouteView w = ir_route_view(i, lx, i->nargs > 1 ? &L->lt[i->args[1]->id] : NULL, lv);
    s->route = w.kernel;
    s->outer = w.outer;
    s->len = w.len;
    s->len2 = w.len2;
    s->inner = w.inner;
    s->total = s->len;
    s->dtype2 = x->type.dtype;
    s->where = where(L, i);
    if (i->op == OP_ONE_HOT || i->op == OP_SCATTER_ADD) { /* this rank's classes / target rows */
        const IrValue *u = i->op == OP_ONE_HOT ? v : x;
        int d = i->op == OP_ONE_HOT ? v->type.rank - 1 : i->a.dim;
        Placement pl = pl_of(L, u);
        int64_t len;
        s->total = u->type.dims[d];
        pl_local_range(L->mesh, &pl, L->coords, d, s->total, &s->off, &len);
    }
    s->bytes = nbytes(lv);
    step_in(L, s, i->nargs);
    for (int k = 0; k < i->nargs; k++)
        s->in[k] = L->buf[i->args[k]->id];
    return true;
}

static bool lower_kernel(Lower *L, const IrInst *i, int out)
{
    const IrValue *v = i->res[0];
    const IrType *lv = &L->lt[v->id];
    DType dt = v->type.dtype;
    if (i->op == OP_MATMUL)
        return lower_matmul(L, i, out);
    if (ir_op_is_route(i->op))
        return lower_route(L, i, out);
    if (dt == DT_I32 && i->op != OP_EMBEDDING)
        return failf(L, i, "%s on i32 is not supported by the CPU target", ir_op_name(i->op));
    CgStep *s;
    switch (i->op) {
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX: {
        if (lv->rank == 0)
            return failf(L, i, "%s needs at least one dimension", ir_op_name(i->op));
        int ax = norm_dim(i->a.nints ? i->a.ints[0] : -1, lv->rank);
        s = new_step(L, CG_SOFTMAX, i, out);
        s->take_log = i->op == OP_LOG_SOFTMAX;
        s->outer = s->inner = 1;
        for (int d = 0; d < ax; d++)
            s->outer *= lv->dims[d];
        for (int d = ax + 1; d < lv->rank; d++)
            s->inner *= lv->dims[d];
        s->len = lv->dims[ax];
        break;
    }
    case OP_LAYERNORM:
    case OP_RMSNORM: {
        if (lv->rank == 0)
            return failf(L, i, "%s needs at least one dimension", ir_op_name(i->op));
        s = new_step(L, CG_NORM, i, out);
        s->layernorm = i->op == OP_LAYERNORM;
        s->len = lv->dims[lv->rank - 1];
        s->outer = s->len ? numel(lv) / s->len : 0;
        s->eps = i->a.f;
        for (int k = 1; k < i->nargs; k++)
            if (numel(&L->lt[i->args[k]->id]) != s->len)
                DTC_BUG("lower: norm parameter does not match the local last dim");
        break;
    }
    case OP_EMBEDDING: {
        const IrValue *tab = i->args[0];
        const IrType *lt = &L->lt[tab->id];
        if (lt->rank != 2)
            return failf(L, i, "embedding table must have rank 2");
        s = new_step(L, CG_EMBEDDING, i, out);
        s->outer = numel(&L->lt[i->args[1]->id]);
        s->len = lt->dims[0];
        s->inner = lt->dims[1];
        Placement tp = pl_of(L, tab);
        int64_t len;
        pl_local_range(L->mesh, &tp, L->coords, 0, tab->type.dims[0], &s->off, &len);
        s->total = tab->type.dims[0];
        s->dtype = tab->type.dtype;
        s->where = where(L, i);
        break;
    }
    case OP_PICK:
    case OP_CROSS_ENTROPY: {
        const IrValue *lg = i->args[0];
        const IrType *ll = &L->lt[lg->id];
        if (ll->rank != 2)
            return failf(L, i, "%s needs [N, V] logits", ir_op_name(i->op));
        s = new_step(L, i->op == OP_PICK ? CG_PICK : CG_XENT, i, out);
        s->outer = ll->dims[0];
        s->len = ll->dims[1];
        Placement lp = pl_of(L, lg);
        int64_t len;
        pl_local_range(L->mesh, &lp, L->coords, 1, lg->type.dims[1], &s->off, &len);
        s->total = lg->type.dims[1];
        s->where = where(L, i);
        break;
    }
    default:
        return failf(L, i, "the CPU target cannot generate code for '%s' here", ir_op_name(i->op));
    }
    s->bytes = nbytes(lv);
    step_in(L, s, i->nargs);
    for (int k = 0; k < i->nargs; k++)
        s->in[k] = L->buf[i->args[k]->id];
    return true;
}

/* ---- collectives ----------------------------------------------------------------------------- */

/* Coordinates of member `member` of this rank's group over `axes`
 * (row-major over the axes, the lowest axis slowest). */
static void member_coords(Lower *L, unsigned axes, int member, int *c)
{
    rt_grid_member_coords(L->mesh->naxes, L->mesh->size, axes, L->coords, member, c);
}

static int group_size(Lower *L, unsigned axes)
{
    return rt_grid_count(L->mesh->naxes, L->mesh->size, axes);
}

/* Lengths along `dim` of every member's piece of v under pl, which must
 * tile [off, off + len) in member order (the collective concatenates or
 * cuts them that way). */
static bool member_lens(Lower *L, const IrInst *i, const IrValue *v, const Placement *pl,
                        unsigned axes, int dim, int64_t off, int64_t len, int64_t **out, int *n)
{
    *n = group_size(L, axes);
    *out = arena_alloc(L->ar, sizeof **out * (size_t)*n);
    int64_t cur = off;
    for (int m = 0; m < *n; m++) {
        int c[IR_MAX_AXES];
        member_coords(L, axes, m, c);
        int64_t o, l;
        pl_local_range(L->mesh, pl, c, dim, v->type.dims[dim], &o, &l);
        if (l > 0 && o != cur)
            return failf(L, i, "internal: %s over axes 0x%x: member pieces are not contiguous",
                         ir_op_name(i->op), axes);
        (*out)[m] = l;
        cur += l;
    }
    if (cur != off + len)
        return failf(L, i, "internal: %s over axes 0x%x: member pieces do not cover the shard",
                     ir_op_name(i->op), axes);
    return true;
}

static bool lower_collective(Lower *L, const IrInst *i)
{
    const IrValue *x = i->args[0], *v = i->res[0];
    const IrType *lx = &L->lt[x->id], *lv = &L->lt[v->id];
    Placement px = pl_of(L, x), pv = pl_of(L, v);
    unsigned axes = i->a.axes;
    if (i->op == OP_ALL_REDUCE) {
        int b = L->buf[x->id];
        if (L->bufs[b].kind == CG_BUF_WORK && L->ext_uses[b] == 1) {
            join(L, v, b, 1); /* in place: nothing else reads the operand */
        } else {
            b = buf_for(L, v);
            CgStep *c = new_step(L, CG_COPY, i, b);
            step_in(L, c, 1);
            c->in[0] = L->buf[x->id];
            c->count = c->bytes = nbytes(lv);
        }
        CgStep *s = new_step(L, CG_ALL_REDUCE, i, b);
        step_in(L, s, 1);
        s->in[0] = b;
        s->axes = axes;
        s->red = i->a.red;
        s->count = numel(lv);
        s->bytes = nbytes(lv);
        if (i->a.async)
            s->req = L->req_of[v->id] = take_req(L);
        return true;
    }
    if (i->op == OP_COLLECTIVE_PERMUTE) { /* the same local shape in and out, another buffer */
        CgStep *s = new_step(L, CG_COLLECTIVE_PERMUTE, i, buf_for(L, v));
        step_in(L, s, 1);
        s->in[0] = L->buf[x->id];
        s->axes = axes;
        s->count = numel(lv);
        s->bytes = nbytes(lv);
        int me = rt_grid_member(L->mesh->naxes, L->mesh->size, axes, L->coords);
        if (!rt_permute_pair(rt_grid_count(L->mesh->naxes, L->mesh->size, axes), me, i->a.ints, i->a.nints,
                             &s->dest, &s->src))
            return failf(L, i, "internal: collective_permute is neither a shift nor a permutation");
        if (i->a.async)
            s->req = L->req_of[v->id] = take_req(L);
        if (numel(lx) != s->count)
            return failf(L, i, "internal: collective_permute changes the local size");
        return true;
    }
    int b = buf_for(L, v);
    CgStep *s = new_step(L, i->op == OP_ALL_GATHER       ? CG_ALL_GATHER
                            : i->op == OP_REDUCE_SCATTER ? CG_REDUCE_SCATTER
                                                         : CG_ALL_TO_ALL,
                         i, b);
    step_in(L, s, 1);
    s->in[0] = L->buf[x->id];
    s->axes = axes;
    s->red = i->a.red;
    s->bytes = nbytes(lv);
    if (i->a.async)
        s->req = L->req_of[v->id] = take_req(L);
    s->rank = lx->rank;
    for (int d = 0; d < lx->rank; d++)
        s->dims[d] = lx->dims[d];
    s->dim = i->a.dim;
    s->dim2 = i->a.dim2;
    if (lx->rank < 1 || s->dim < 0 || s->dim >= lx->rank)
        return failf(L, i, "internal: %s on dim %d of a rank-%d value", ir_op_name(i->op), s->dim,
                     lx->rank);
    int64_t ox[IR_MAX_RANK], ov[IR_MAX_RANK];
    local_offsets(L, x, ox);
    local_offsets(L, v, ov);
    switch (i->op) {
    case OP_ALL_GATHER: /* members' pieces before, concatenated: this rank's piece after */
        return member_lens(L, i, x, &px, axes, s->dim, ov[s->dim], lv->dims[s->dim], &s->lens,
                           &s->nmembers);
    case OP_REDUCE_SCATTER: /* this rank's piece before, cut into the members' pieces after */
        return member_lens(L, i, v, &pv, axes, s->dim, ox[s->dim], lx->dims[s->dim], &s->lens,
                           &s->nmembers);
    default: /* all_to_all: cut along dim2 by the pieces after, concatenate along dim */
        if (s->dim2 < 0 || s->dim2 >= lx->rank || s->dim2 == s->dim)
            return failf(L, i, "internal: all_to_all from dim %d to dim %d", s->dim, s->dim2);
        return member_lens(L, i, v, &pv, axes, s->dim2, ox[s->dim2], lx->dims[s->dim2], &s->lens,
                           &s->nmembers) &&
               member_lens(L, i, x, &px, axes, s->dim, ov[s->dim], lv->dims[s->dim], &s->lens2,
                           &s->nmembers);
    }
}

/* A done: the wait for the collective that defines its operand, whose
 * buffer its result shares (in: that buffer, and the collective's send
 * buffer unless it worked in place). */
static bool lower_wait(Lower *L, const IrInst *i)
{
    const IrValue *x = i->args[0], *v = i->res[0];
    const IrInst *c = x->def;
    int b = L->buf[x->id];
    if (!c || !(ir_op_flags(c->op) & OPF_COMM) || !c->a.async || b < 0)
        return failf(L, i, "internal: done of a value no async collective defines");
    join(L, v, b, 1);
    CgStep *s = new_step(L, CG_WAIT, i, b);
    int send = L->buf[c->args[0]->id];
    bool two = send >= 0 && send != b;
    step_in(L, s, two ? 2 : 1);
    s->in[0] = b;
    if (two)
        s->in[1] = send;
    s->req = L->req_of[x->id];
    s->axes = c->a.axes;
    DTC_ASSERT(s->req >= 0 && s->req < L->nbusy && L->busy[s->req]);
    L->busy[s->req] = false;
    return true;
}

/* ---- loops ------------------------------------------------------------------------------------- */
static bool lower_rank(Lower *L, CgFunc *out);
static void lower_setup(Lower *L, Arena *a, const IrModule *m, const IrFunc *f, FILE *err);

/* A loop: its body lowered for this rank, and a CG_SCAN step over the
 * operands' buffers. */
static bool lower_scan(Lower *L, const IrInst *i)
{
    Lower B;
    lower_setup(&B, L->ar, L->m, i->a.fn, L->err);
    B.rank = L->rank;
    B.block_epilogues = L->block_epilogues;
    B.epilogue_block = L->epilogue_block;
    B.mm_views = L->mm_views;
    for (int r = 0; r < L->nbusy; r++) /* the body's handles clear of the caller's */
        if (L->busy[r])
            B.req_base = r + 1;
    B.req_base = B.req_base > L->req_base ? B.req_base : L->req_base;
    CgFunc *fn = arena_alloc(L->ar, sizeof *fn);
    if (!lower_rank(&B, fn))
        return false;
    fn->is_body = true;
    CgScan *sc = arena_alloc(L->ar, sizeof *sc);
    sc->trip = i->a.trip;
    sc->ncarry = i->a.ncarry;
    sc->nstack = i->a.nstack;
    sc->nargs = i->nargs;
    sc->fn = fn;
    sc->args = arena_alloc(L->ar, sizeof *sc->args * (size_t)(i->nargs + 1));
    sc->slice_bytes = arena_alloc(L->ar, sizeof *sc->slice_bytes * (size_t)(i->nargs + 1));
    sc->outs = arena_alloc(L->ar, sizeof *sc->outs * (size_t)(sc->ncarry + 1));
    sc->next = arena_alloc(L->ar, sizeof *sc->next * (size_t)(sc->ncarry + 1));
    sc->carry_bytes = arena_alloc(L->ar, sizeof *sc->carry_bytes * (size_t)(sc->ncarry + 1));
    for (int k = 0; k < i->nargs; k++) {
        const IrValue *x = i->args[k];
        sc->args[k] = L->buf[x->id];
        if (sc->args[k] < 0)
            return failf(L, i, "internal: loop operand %d has no buffer", k);
        if (k >= sc->ncarry && k < sc->ncarry + sc->nstack) {
            const IrType *lt = &L->lt[x->id];
            if (lt->rank < 1 || lt->dims[0] != sc->trip)
                return failf(L, i, "internal: stacked operand %d is not whole along dim 0", k);
            sc->slice_bytes[k] = sc->trip > 0 ? nbytes(lt) / sc->trip : 0;
        }
    }
    for (int k = 0; k < sc->ncarry; k++) {
        const IrValue *v = i->res[k];
        sc->outs[k] = buf_for(L, v);
        sc->next[k] = new_buf(L, CG_BUF_WORK, -1, v);
        sc->carry_bytes[k] = nbytes(&L->lt[v->id]);
    }
    sc->ws = new_buf(L, CG_BUF_WORK, -1, i->res[0]);
    L->bufs[sc->ws].bytes = fn->workspace;
    L->bufs[sc->ws].dtype = DT_F32;
    CgStep *s = new_step(L, CG_SCAN, i, sc->outs[0]);
    s->scan = sc;
    return true;
}

/* ---- one rank ------------------------------------------------------------------------------------ */

/* Pass 2: what becomes of every instruction's result, from the fusion
 * groups of pass_fuse (passes/fuse.c): a root has a buffer, a member is
 * built inside its root's loop (a transpose read by a matmul: its flag; a
 * matmul: its root's GEMM in row blocks, where this rank can block it). */
static void read_groups(Lower *L)
{
    for (const IrInst *i = L->f->first; i; i = i->next) {
        const IrValue *v = i->res[0];
        L->state[v->id] = V_MAT;
        L->gemm[v->id] = NULL;
        if (i->nres != 1 || i->fuse == FUSE_ROOT || L->is_result[v->id])
            continue;
        if (i->fuse == FUSE_EACH) {
            L->state[v->id] = V_INLINE;
        } else if (i->op == OP_MATMUL) {
            L->state[v->id] = V_BLOCK;
        } else if (i->op == OP_TRANSPOSE && L->nuses[v->id] == 1 && L->users[L->use_at[v->id]]->op == OP_MATMUL) {
            DTC_ASSERT(ir_swaps_last_two(i));
            L->state[v->id] = V_FOLD;
        } else {
            L->state[v->id] = V_INLINE;
        }
    }
    /* operand chains a matmul reads as views, transposes it writes in
     * place: each matmul after its users, as mm_writes_transpose needs
     * their states */
    for (const IrInst *i = L->f->last; i; i = i->prev)
        if (i->op == OP_MATMUL)
            mm_fold_views(L, i);
    /* a GEMM this rank cannot block is computed whole, before its group */
    for (const IrInst *i = L->f->first; i; i = i->next)
        if (L->state[i->res[0]->id] == V_BLOCK) {
            const IrValue *root = i->group;
            bool tb;
            /* A's rows are its buffer's rows (blocks are offsets), B dense or
             * one transpose of its last two dims */
            bool rows = L->state[i->args[0]->id] == V_MAT && epilogue_b(L, i->args[1], &tb);
            L->nwalks++;
            if (L->block_epilogues && rows && epilogue_walk(L, root, root, i, false))
                L->gemm[root->id] = i;
            else
                L->state[i->res[0]->id] = V_MAT;
        }
}

static void touch(CgBuf *b, int step)
{
    if (b->first < 0)
        b->first = step;
    b->last = step;
}

static int64_t aligned(int64_t bytes) { return (bytes + ALIGN - 1) / ALIGN * ALIGN; }

/* Sorts idx[0..n) by the buffers' first use or offset, stable (merge
 * sort through tmp), in O(n log n). */
static void merge_sort(int *idx, int n, int *tmp, const CgBuf *bufs, bool by_offset)
{
    if (n < 2)
        return;
    int h = n / 2;
    merge_sort(idx, h, tmp, bufs, by_offset);
    merge_sort(idx + h, n - h, tmp, bufs, by_offset);
    int a = 0, b = h, k = 0;
    while (a < h || b < n) {
        bool take_a = b >= n;
        if (a < h && b < n) {
            int64_t ka = by_offset ? bufs[idx[a]].offset : bufs[idx[a]].first;
            int64_t kb = by_offset ? bufs[idx[b]].offset : bufs[idx[b]].first;
            take_a = ka <= kb;
        }
        tmp[k++] = take_a ? idx[a++] : idx[b++];
    }
    memcpy(idx, tmp, sizeof *idx * (size_t)n);
}

static void sort_bufs(const CgBuf *bufs, int *idx, int n, bool by_offset)
{
    int small[64];
    int *tmp = n <= 64 ? small : malloc(sizeof *tmp * (size_t)n);
    if (!tmp)
        DTC_BUG("lower: out of memory");
    merge_sort(idx, n, tmp, bufs, by_offset);
    if (tmp != small)
        free(tmp);
}

/* Pass 4: lifetimes (first write to last access, in steps), then workspace
 * offsets: first fit, in order of first write, clear of every buffer whose
 * lifetime overlaps. */
static int64_t place_workspace(Lower *L)
{
    for (int s = 0; s < L->nsteps; s++) {
        const CgStep *st = &L->steps[s];
        touch(&L->bufs[st->out], s);
        for (int k = 0; k < st->nin; k++)
            touch(&L->bufs[st->in[k]], s);
        for (int k = 0; st->kind == CG_LOOP && k < st->loop.nnodes; k++)
            if (st->loop.nodes[k].kind == CG_N_LOAD)
                touch(&L->bufs[st->loop.nodes[k].buf], s);
        if (st->kind == CG_SCAN) {
            const CgScan *sc = st->scan;
            for (int k = 0; k < sc->nargs; k++)
                touch(&L->bufs[sc->args[k]], s);
            for (int k = 0; k < sc->ncarry; k++) {
                touch(&L->bufs[sc->outs[k]], s);
                touch(&L->bufs[sc->next[k]], s);
            }
            touch(&L->bufs[sc->ws], s);
        }
    }
    int n = 0;
    int *order = arena_alloc(L->ar, sizeof *order * (size_t)(L->nbufs + 1));
    for (int b = 0; b < L->nbufs; b++)
        if (L->bufs[b].kind == CG_BUF_WORK && L->bufs[b].first >= 0)
            order[n++] = b;
    sort_bufs(L->bufs, order, n, false);
    /* first fit among the buffers placed so far that are still live: in
     * order of first use, a placed buffer overlaps b's lifetime iff it is
     * last used at or after b's first step */
    int64_t total = 0;
    int *live = arena_alloc(L->ar, sizeof *live * (size_t)(n + 1));
    int nlive = 0;
    for (int x = 0; x < n; x++) {
        CgBuf *b = &L->bufs[order[x]];
        int keep = 0;
        for (int y = 0; y < nlive; y++)
            if (L->bufs[live[y]].last >= b->first)
                live[keep++] = live[y];
        nlive = keep;
        sort_bufs(L->bufs, live, nlive, true);
        int64_t size = aligned(b->bytes), off = 0;
        for (int y = 0; y < nlive && size > 0; y++) { /* the lowest gap that holds b */
            const CgBuf *o = &L->bufs[live[y]];
            int64_t osize = aligned(o->bytes);
            if (osize > 0 && off < o->offset + osize && o->offset < off + size)
                off = o->offset + osize;
        }
        b->offset = off;
        if (off + size > total)
            total = off + size;
        live[nlive++] = order[x];
    }
    return total;
}

static bool lower_rank(Lower *L, CgFunc *out)
{
    const IrFunc *f = L->f;
    L->nbufs = L->capbufs = L->capext = L->nsteps = L->capsteps = L->nnodes = L->capnodes = 0;
    L->bufs = NULL; /* everything below comes from this rank's arena */
    L->steps = NULL;
    L->ext_uses = NULL;
    L->nodes = NULL;
    ir_mesh_coords(L->mesh, L->rank, L->coords);
    size_t nv = (size_t)L->nvals;
    memset(L->nuses, 0, sizeof *L->nuses * nv);
    memset(L->is_result, 0, sizeof *L->is_result * nv);
    for (size_t k = 0; k < nv; k++) {
        L->buf[k] = -1;
        L->state[k] = V_MAT;
    }

    /* 1. local types and uses */
    for (int p = 0; p < f->nparams; p++) {
        const IrValue *v = f->params[p];
        Placement pl = pl_of(L, v);
        L->lt[v->id] = pl_local_type(L->mesh, &v->type, &pl, L->coords);
    }
    for (const IrInst *i = f->first; i; i = i->next) {
        for (int k = 0; k < i->nres; k++) {
            const IrValue *v = i->res[k];
            Placement pl = pl_of(L, v);
            L->lt[v->id] = pl_local_type(L->mesh, &v->type, &pl, L->coords);
        }
        for (int k = 0; k < i->nargs; k++)
            L->nuses[i->args[k]->id]++;
    }
    for (int r = 0; r < f->nresults; r++)
        L->is_result[f->results[r]->id] = true;
    int nocc = 0; /* the use lists, in program order */
    for (size_t k = 0; k < nv; k++) {
        L->use_at[k] = nocc;
        nocc += L->nuses[k];
    }
    int *fill = L->saved_id; /* scratch until an epilogue uses it */
    memset(fill, 0, sizeof *fill * nv);
    L->users = arena_alloc(L->ar, sizeof *L->users * (size_t)(nocc + 1));
    for (const IrInst *i = f->first; i; i = i->next)
        for (int k = 0; k < i->nargs; k++) {
            int id = i->args[k]->id;
            L->users[L->use_at[id] + fill[id]++] = i;
        }

    /* 2. fusion decisions */
    read_groups(L);

    /* 3. buffers and steps */
    for (int p = 0; p < f->nparams; p++) {
        const IrValue *v = f->params[p];
        int b = new_buf(L, CG_BUF_PARAM, p, v);
        L->ext_uses[b] = 0;
        join(L, v, b, 0);
    }
    for (const IrInst *i = f->first; i; i = i->next) {
        const IrValue *v = i->res[0];
        if (L->state[v->id] != V_MAT)
            continue;
        if (L->gemm[v->id]) { /* a matmul epilogue */
            lower_epilogue(L, i, L->gemm[v->id], buf_for(L, v));
            continue;
        }
        if (i->op == OP_RESHAPE || i->op == OP_LOCAL_VIEW) { /* the same bytes under another shape
                                                                 (local_view: ir/local.c) */
            int b = L->buf[i->args[0]->id];
            DTC_ASSERT(b >= 0);
            join(L, v, b, 1);
            CgStep *s = new_step(L, CG_RESHAPE, i, b);
            step_in(L, s, 1);
            s->in[0] = b;
            continue;
        }
        if (ir_op_flags(i->op) & OPF_COMM) {
            if (!lower_collective(L, i))
                return false;
            continue;
        }
        if (i->op == OP_DONE) {
            if (!lower_wait(L, i))
                return false;
            continue;
        }
        if (ir_op_loopable(i->op)) {
            loop_ew(L, i, buf_for(L, v));
            continue;
        }
        if (is_reduce(i->op)) {
            loop_reduce(L, i, buf_for(L, v));
            continue;
        }
        if (i->op == OP_LOOP) {
            if (!lower_scan(L, i))
                return false;
            continue;
        }
        if (i->op == OP_CONCAT || i->op == OP_PAD) {
            lower_pieces(L, i, buf_for(L, v));
            continue;
        }
        if (i->op == OP_CALL || i->op == OP_REDISTRIBUTE)
            return failf(L, i, "internal: '%s' reached code generation", ir_op_name(i->op));
        if (!lower_kernel(L, i, result_buf(L, i)))
            return false;
    }

    /* 4. results: computed in place into the runtime's buffer, or copied */
    bool *bound = arena_alloc(L->ar, sizeof *bound * (size_t)(L->nbufs + f->nresults + 1));
    for (int r = 0; r < f->nresults; r++) {
        const IrValue *v = f->results[r];
        int b = L->buf[v->id];
        DTC_ASSERT(b >= 0);
        if (L->bufs[b].kind == CG_BUF_WORK && !bound[b]) {
            L->bufs[b].kind = CG_BUF_RESULT;
            L->bufs[b].index = r;
            bound[b] = true;
            continue;
        }
        int rb = new_buf(L, CG_BUF_RESULT, r, v);
        CgStep *s = new_step(L, CG_COPY, NULL, rb);
        step_in(L, s, 1);
        s->in[0] = b;
        s->count = s->bytes = nbytes(&L->lt[v->id]);
        s->dtype = v->type.dtype;
    }
    out->workspace = place_workspace(L);
    out->lt = arena_dup(L->ar, L->lt, (size_t)L->nvals, sizeof *L->lt);
    out->nbufs = L->nbufs;
    out->bufs = L->bufs;
    out->nsteps = L->nsteps;
    out->steps = L->steps;
    return true;
}

/* ---- dump, variants, the program ---------------------------------------------------------------- */

static void dump_ints(FILE *o, const char *what, const int64_t *x, int n)
{
    fprintf(o, " %s=[", what);
    for (int k = 0; k < n; k++)
        fprintf(o, "%s%lld", k ? "," : "", (long long)x[k]);
    fputc(']', o);
}

void cg_func_dump(FILE *o, const IrModule *m, const CgFunc *fn)
{
    (void)m;
    char b[128];
    fprintf(o, "workspace %lld\n", (long long)fn->workspace);
    for (int k = 0; k < fn->nbufs; k++) {
        const CgBuf *x = &fn->bufs[k];
        fprintf(o, "buf %d kind=%d index=%d offset=%lld bytes=%lld %s %s life=%d..%d\n", k, x->kind,
                x->index, (long long)x->offset, (long long)x->bytes, ir_dtype_name(x->dtype),
                ir_value_str(x->value, b, sizeof b), x->first, x->last);
    }
    for (int k = 0; k < fn->nsteps; k++) {
        const CgStep *s = &fn->steps[k];
        fprintf(o, "step %d %s %s out=%d in=[", k, cg_step_name(s->kind),
                s->inst ? ir_value_str(s->inst->res[0], b, sizeof b) : "-", s->out);
        for (int j = 0; j < s->nin; j++)
            fprintf(o, "%s%d", j ? "," : "", s->in[j]);
        fprintf(o, "]/%d %s bytes=%lld", s->nin, ir_dtype_name(s->dtype), (long long)s->bytes);
        fprintf(o, " mm=%d", s->nbatch);
        dump_ints(o, "batch", s->batch, s->nbatch);
        dump_ints(o, "as", s->astride, s->nbatch);
        dump_ints(o, "bs", s->bstride, s->nbatch);
        fprintf(o, " MNK=%lld,%lld,%lld t=%d%d aoff=%lld", (long long)s->M, (long long)s->N, (long long)s->K,
                s->ta, s->tb, (long long)s->a_offset);
        if (s->strided) {
            dump_ints(o, "cs", s->cstride, s->nbatch);
            fprintf(o, " ld=%lld,%lld,%lld", (long long)s->lda, (long long)s->ldb, (long long)s->ldc);
        }
        fprintf(o, " oli=%lld,%lld,%lld log=%d eps=%.17g ln=%d off=%lld total=%lld where=%s",
                (long long)s->outer, (long long)s->len, (long long)s->inner, s->take_log, s->eps,
                s->layernorm, (long long)s->off, (long long)s->total, s->where ? s->where : "-");
        fprintf(o, " route=%d,%s,%lld", s->route, ir_dtype_name(s->dtype2), (long long)s->len2);
        fprintf(o, " req=%d axes=%u red=%d count=%lld rank=%d", s->req, s->axes, s->red,
                (long long)s->count, s->rank);
        dump_ints(o, "dims", s->dims, s->rank);
        fprintf(o, " dim=%d,%d", s->dim, s->dim2);
        if (s->kind == CG_COLLECTIVE_PERMUTE) /* this rank's partners: ranks differ */
            fprintf(o, " peers=%d,%d", s->dest, s->src);
        if (s->lens)
            dump_ints(o, "lens", s->lens, s->nmembers);
        if (s->lens2)
            dump_ints(o, "lens2", s->lens2, s->nmembers);
        fputc('\n', o);
        if (s->kind == CG_SCAN) {
            const CgScan *sc = s->scan;
            fprintf(o, "  scan trip=%lld carry=%d stack=%d ws=%d args=[", (long long)sc->trip, sc->ncarry,
                    sc->nstack, sc->ws);
            for (int j = 0; j < sc->nargs; j++)
                fprintf(o, "%s%d:%lld", j ? "," : "", sc->args[j], (long long)sc->slice_bytes[j]);
            fputs("] carry=[", o);
            for (int j = 0; j < sc->ncarry; j++)
                fprintf(o, "%s%d>%d:%lld", j ? "," : "", sc->next[j], sc->outs[j], (long long)sc->carry_bytes[j]);
            fputs("]\n  body {\n", o);
            cg_func_dump(o, m, sc->fn);
            fputs("  }\n", o);
        }
        if (s->kind != CG_LOOP)
            continue;
        const CgLoop *lp = &s->loop;
        fprintf(o, "  loop nloops=%d nkeep=%d red=%d count=%lld out=%d %s", lp->nloops, lp->nkeep,
                lp->red, (long long)lp->red_count, lp->out, ir_dtype_name(lp->out_dtype));
        dump_ints(o, "n", lp->n, lp->nloops);
        dump_ints(o, "ostride", lp->out_stride, lp->nloops);
        fprintf(o, " obase=%lld", (long long)lp->out_base);
        fputc('\n', o);
        for (int j = 0; j < lp->nnodes; j++) {
            const CgNode *nd = &lp->nodes[j];
            fprintf(o, "  node %d kind=%d %s op=%s a=%d b=%d c=%d f=%a buf=%d base=%lld", j, nd->kind,
                    ir_dtype_name(nd->dtype), nd->kind == CG_N_OP ? ir_op_name(nd->op) : "-", nd->a,
                    nd->b, nd->c, nd->f, nd->buf, (long long)nd->base);
            dump_ints(o, "stride", nd->stride, lp->nloops);
            fprintf(o, " %s\n", nd->value ? ir_value_str(nd->value, b, sizeof b) : "-");
        }
    }
}

static char *dump_str(const IrModule *m, const CgFunc *fn)
{
    char *s = NULL;
    size_t n = 0;
    FILE *o = open_memstream(&s, &n);
    if (!o)
        DTC_BUG("lower: open_memstream failed");
    cg_func_dump(o, m, fn);
    fclose(o);
    return s;
}

/* f16 / bf16 are storage types of the CUDA target only. */
static bool check_dtypes(Lower *L, const CgOptions *opt)
{
    if (opt && opt->target && !strcmp(opt->target, "cuda"))
        return true;
    const IrFunc *f = L->f;
    for (int p = 0; p < f->nparams; p++) {
        DType t = f->params[p]->type.dtype;
        if (t == DT_F16 || t == DT_BF16)
            return failf(L, NULL, "parameter %s is %s: %s needs --target=cuda",
                         f->params[p]->name ? f->params[p]->name : "?", ir_dtype_name(t),
                         ir_dtype_name(t));
    }
    for (const IrInst *i = f->first; i; i = i->next) {
        if (i->nres != 1 && i->op != OP_LOOP)
            return failf(L, i, "internal: '%s' with %d results reached code generation",
                         ir_op_name(i->op), i->nres);
        DType t = i->res[0]->type.dtype;
        if (t == DT_F16 || t == DT_BF16)
            return failf(L, i, "%s needs --target=cuda (the CPU target computes in f32, f64 and i32)",
                         ir_dtype_name(t));
    }
    return true;
}

/* load("x.npy") is relative to the source file's directory (as in `dtc
 * run`); the program may run anywhere, so the path becomes absolute. */
static const char *resolve_load(Arena *a, const char *src_file, const char *path)
{
    if (!path || path[0] == '/')
        return path;
    const char *slash = src_file ? strrchr(src_file, '/') : NULL;
    const char *dir = slash ? arena_strndup(a, src_file, (size_t)(slash - src_file)) : ".";
    char cwd[4096];
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd))
        dir = arena_printf(a, "%s/%s", cwd, dir);
    return arena_printf(a, "%s/%s", dir, path);
}

static void lower_setup(Lower *L, Arena *a, const IrModule *m, const IrFunc *f, FILE *err)
{
    memset(L, 0, sizeof *L);
    L->ar = a;
    L->m = m;
    L->mesh = &m->mesh;
    L->f = f;
    L->err = err;
    L->nvals = f->next_id + 1;
    size_t nv = (size_t)L->nvals;
    L->lt = arena_alloc(a, sizeof *L->lt * nv);
    L->nuses = arena_alloc(a, sizeof *L->nuses * nv);
    L->is_result = arena_alloc(a, sizeof *L->is_result * nv);
    L->state = arena_alloc(a, sizeof *L->state * nv);
    L->buf = arena_alloc(a, sizeof *L->buf * nv);
    L->use_at = arena_alloc(a, sizeof *L->use_at * nv);
    L->gemm = arena_alloc(a, sizeof *L->gemm * nv);
    L->saved_id = arena_alloc(a, sizeof *L->saved_id * nv);
    L->saved_lt = arena_alloc(a, sizeof *L->saved_lt * nv);
    L->walked = arena_alloc(a, sizeof *L->walked * nv);
    L->block_mm = -1;
    L->req_of = arena_alloc(a, sizeof *L->req_of * nv);
}

CgProgram *cg_lower(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err)
{
    const IrFunc *f = m->entry;
    if (!f) {
        fprintf(err, "dtc: error: no entry function\n");
        return NULL;
    }
    PhaseClock t0 = phase_clock();
    Lower L;
    lower_setup(&L, a, m, f, err);
    L.mm_views = !strcmp(opt->target, "cpu");
    if (!check_dtypes(&L, opt))
        return NULL;
    for (int k = 0; k < m->nfuncs; k++) {
        Lower B;
        lower_setup(&B, a, m, m->funcs[k], err);
        if (m->funcs[k] != f && !check_dtypes(&B, opt))
            return NULL;
    }

    CgProgram *p = arena_alloc(a, sizeof *p);
    p->m = m;
    p->f = f;
    p->src_file = opt->src_file;
    const char *base = opt->src_file ? strrchr(opt->src_file, '/') : NULL;
    base = base ? base + 1 : opt->src_file ? opt->src_file : "program";
    const char *dot = strrchr(base, '.');
    p->name = dot && dot != base ? arena_strndup(a, base, (size_t)(dot - base)) : base;
    p->nparams = f->nparams;
    p->nresults = f->nresults;
    p->params = arena_alloc(a, sizeof *p->params * (size_t)(f->nparams + 1));
    p->results = arena_alloc(a, sizeof *p->results * (size_t)(f->nresults + 1));
    for (int k = 0; k < f->nparams; k++) {
        const IrValue *v = f->params[k];
        CgIo *io = &p->params[k];
        io->name = v->name ? v->name : arena_printf(a, "in%d", k);
        io->type = v->type;
        io->pl = pl_of(&L, v);
        io->init = f->inits[k];
        io->feeds = -1;
        if (io->init.kind == INIT_LOAD)
            io->init.path = resolve_load(a, opt->src_file, io->init.path);
    }
    for (int k = 0; k < f->nresults; k++) {
        const IrValue *v = f->results[k];
        CgIo *io = &p->results[k];
        io->name = f->result_names && f->result_names[k] ? f->result_names[k]
                                                         : arena_printf(a, "out%d", k);
        io->type = v->type;
        io->pl = pl_of(&L, v);
        io->feeds = f->result_feeds ? f->result_feeds[k] : -1;
        /* sema pinned a fed result to its parameter's placement, so the
         * runtime can swap local buffers between steps */
        if (io->feeds >= 0 && !pl_eq(&io->pl, &p->params[io->feeds].pl))
            DTC_BUG("lower: a fed result has another placement than its parameter");
    }

    int nranks = ir_mesh_nranks(&m->mesh);
    p->variant_of = arena_alloc(a, sizeof *p->variant_of * (size_t)nranks);
    p->variants = arena_alloc(a, sizeof *p->variants * (size_t)nranks);
    char **dumps = arena_alloc(a, sizeof *dumps * (size_t)nranks);
    p->arenas = arena_alloc(a, sizeof *p->arenas * (size_t)nranks);
    bool ok = true;
    for (int r = 0; r < nranks && ok; r++) {
        CgFunc fn;
        memset(&fn, 0, sizeof fn);
        L.rank = r;
        L.block_epilogues = !(opt && opt->target && !strcmp(opt->target, "cuda")); /* CUDA: cuBLAS, then the loop */
        L.epilogue_block = opt ? opt->epilogue_block : 0;
        L.ar = arena_new(); /* this rank's lowering: kept only for a new variant */
        if (!lower_rank(&L, &fn)) {
            arena_free(L.ar);
            ok = false;
            break;
        }
        char *d = dump_str(m, &fn);
        int v = 0;
        while (v < p->nvariants && strcmp(dumps[v], d))
            v++;
        if (v < p->nvariants) {
            arena_free(L.ar);
        } else {
            p->arenas[p->narenas++] = L.ar;
            dumps[v] = arena_strdup(a, d);
            p->variants[v] = fn;
            p->variants[v].ranks = arena_alloc(a, sizeof(int) * (size_t)nranks);
            p->nvariants++;
            if (fn.workspace > p->workspace)
                p->workspace = fn.workspace;
        }
        free(d);
        p->variants[v].ranks[p->variants[v].nranks++] = r;
        p->variant_of[r] = v;
    }
    L.ar = a;
    if (!ok) {
        cg_program_free(p);
        return NULL;
    }
    phase_time(opt->time_passes, "lower", t0);
    return p;
}

void cg_program_free(CgProgram *p)
{
    for (int k = 0; p && k < p->narenas; k++)
        arena_free(p->arenas[k]);
    if (p)
        p->narenas = 0;
}
