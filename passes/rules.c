/* rules.c - per-op sharding rules (rules.h): which placements of the operands
 * let an op compute its result shard by shard, and what the result is then.
 * The rules are the ones spec section 6 asks for; passes/SHARDING.md states
 * them in prose, with the reasons.
 */
#include "passes/rules.h"

#include <math.h>
#include <string.h>

#include "passes/plan.h"

bool pe_eq(PlEntry a, PlEntry b)
{
    if (a.kind != b.kind)
        return false;
    if (a.kind == PL_S)
        return a.dim == b.dim;
    if (a.kind == PL_P)
        return a.red == b.red;
    return true;
}

unsigned rules_split_axes(const Placement *pl, int d)
{
    unsigned m = 0;
    for (int a = 0; a < pl->naxes; a++)
        if (pl->e[a].kind == PL_S && pl->e[a].dim == d)
            m |= 1u << a;
    return m;
}

Placement rules_with(const Placement *pl, unsigned axes, PlEntry e)
{
    Placement p = *pl;
    for (int a = 0; a < p.naxes; a++)
        if (axes & (1u << a))
            p.e[a] = e;
    return p;
}

IrType rules_local_max(const IrMesh *m, const IrType *t, const Placement *pl)
{
    int c[IR_MAX_AXES] = {0};
    if (pl->naxes == 0)
        return *t;
    return pl_local_type(m, t, pl, c);
}

int64_t rules_local_bytes_max(const IrMesh *m, const IrType *t, const Placement *pl)
{
    IrType lt = rules_local_max(m, t, pl);
    return ir_type_numel(&lt) * ir_dtype_size(lt.dtype);
}

/* ---- building option lists ------------------------------------------------- */
void opts_add(Opts *o, PlEntry out, const PlEntry *in)
{
    int n = o->i->nargs;
    for (int k = 0; k < o->n; k++) {
        bool same = pe_eq(o->v[k].out, out);
        for (int j = 0; same && j < n; j++)
            same = pe_eq(o->v[k].in[j], in[j]);
        if (same)
            return;
    }
    DTC_ASSERT(o->n < RULE_MAX_OPTS);
    AxisOpt *x = &o->v[o->n++];
    x->out = out;
    x->in = arena_dup(o->ar, in, (size_t)(n > 0 ? n : 1), sizeof *in);
}

void opts_add_all(Opts *o, PlEntry out, PlEntry e)
{
    int n = o->i->nargs;
    PlEntry *in = arena_alloc(o->ar, sizeof *in * (size_t)(n > 0 ? n : 1));
    for (int k = 0; k < n; k++)
        in[k] = e;
    opts_add(o, out, in);
}

/* Fixed-arity helpers: operands past nargs are ignored. */
static void add3(Opts *o, PlEntry out, PlEntry a0, PlEntry a1, PlEntry a2)
{
    PlEntry in[3] = {a0, a1, a2};
    DTC_ASSERT(o->i->nargs <= 3);
    opts_add(o, out, in);
}

static void add1(Opts *o, PlEntry out, PlEntry a0) { add3(o, out, a0, pe_r(), pe_r()); }

static void add2(Opts *o, PlEntry out, PlEntry a0, PlEntry a1) { add3(o, out, a0, a1, pe_r()); }

static const RedOp all_reds[4] = {RED_SUM, RED_MAX, RED_MIN, RED_AVG};

static void opts_reduce(const IrInst *i, Opts *o)
{
    const IrType *t = &i->args[0]->type;
    bool red[IR_MAX_RANK] = {false};
    for (int k = 0; k < i->a.nints; k++)
        red[i->a.ints[k]] = true;
    RedOp kind = i->op == OP_MAX ? RED_MAX : i->op == OP_MIN ? RED_MIN : RED_SUM;
    add1(o, pe_r(), pe_r());
    int od = 0;
    for (int d = 0; d < t->rank; d++) {
        if (!red[d])
            add1(o, pe_s(od), pe_s(d));
        else /* each rank reduces its piece: the result is the partial of the pieces */
            add1(o, pe_p(kind), pe_s(d));
        if (!red[d] || i->a.keepdims)
            od++;
    }
    if (kind == RED_SUM) { /* sum and mean are linear */
        add1(o, pe_p(RED_SUM), pe_p(RED_SUM));
        add1(o, pe_p(RED_AVG), pe_p(RED_AVG));
    } else
        add1(o, pe_p(kind), pe_p(kind));
}

/* Reshape: the groups of dims whose products match (the usual reshape
 * factorisation).  gi[d] / go[e]: group of input dim d / output dim e.
 * Returns the number of groups, -1 when the shapes do not factor. */
static int reshape_groups(const IrType *a, const IrType *b, int *gi, int *go)
{
    int i = 0, j = 0, g = 0;
    while (i < a->rank || j < b->rank) {
        int64_t pa = 1, pb = 1;
        if (i < a->rank) {
            gi[i] = g;
            pa *= a->dims[i++];
        }
        if (j < b->rank) {
            go[j] = g;
            pb *= b->dims[j++];
        }
        while (pa != pb) {
            if (pa < pb) {
                if (i >= a->rank)
                    return -1;
                gi[i] = g;
                pa *= a->dims[i++];
            } else {
                if (j >= b->rank)
                    return -1;
                go[j] = g;
                pb *= b->dims[j++];
            }
        }
        g++;
    }
    return g;
}

/* The output dim that input dim d of a reshape becomes the leading factor
 * of, or -1: d must be the first non-1 dim of its group, mapping to the
 * group's first non-1 output dim.  Whether the chunks then agree is checked
 * per rank by rules_valid. */
static int reshape_map(const IrType *a, const IrType *b, int d)
{
    int gi[IR_MAX_RANK], go[IR_MAX_RANK];
    if (ir_type_numel(a) == 0 || a->dims[d] <= 1 || reshape_groups(a, b, gi, go) < 0)
        return -1;
    for (int k = 0; k < d; k++)
        if (gi[k] == gi[d] && a->dims[k] != 1)
            return -1;
    for (int e = 0; e < b->rank; e++)
        if (go[e] == gi[d] && b->dims[e] != 1)
            return e;
    return -1;
}

static void opts_matmul(const IrInst *i, Opts *o)
{
    const IrType *x = &i->args[0]->type, *w = &i->args[1]->type, *r = &i->res[0]->type;
    int nb = r->rank - 2, bx = x->rank - 2, bw = w->rank - 2;
    add2(o, pe_r(), pe_r(), pe_r());
    for (int d = 0; d < nb; d++) {
        int ix = d - (nb - bx), iw = d - (nb - bw);
        PlEntry ex = ix >= 0 && x->dims[ix] == r->dims[d] ? pe_s(ix) : pe_r();
        PlEntry ew = iw >= 0 && w->dims[iw] == r->dims[d] ? pe_s(iw) : pe_r();
        if (ex.kind == PL_S || ew.kind == PL_S)
            add2(o, pe_s(d), ex, ew);
    }
    add2(o, pe_s(nb), pe_s(x->rank - 2), pe_r());          /* rows of x */
    add2(o, pe_s(nb + 1), pe_r(), pe_s(w->rank - 1));      /* columns of w */
    add2(o, pe_p(RED_SUM), pe_s(x->rank - 1), pe_s(w->rank - 2)); /* contraction */
    add2(o, pe_p(RED_SUM), pe_p(RED_SUM), pe_r());
    add2(o, pe_p(RED_SUM), pe_r(), pe_p(RED_SUM));
    add2(o, pe_p(RED_AVG), pe_p(RED_AVG), pe_r());
    add2(o, pe_p(RED_AVG), pe_r(), pe_p(RED_AVG));
}

static void opts_embedding(const IrInst *i, Opts *o)
{
    const IrType *ids = &i->args[1]->type;
    add2(o, pe_r(), pe_r(), pe_r());
    add2(o, pe_p(RED_SUM), pe_s(0), pe_r());     /* vocab split: masked local lookup */
    add2(o, pe_s(ids->rank), pe_s(1), pe_r());   /* embedding dim split */
    for (int d = 0; d < ids->rank; d++)
        add2(o, pe_s(d), pe_r(), pe_s(d));
    for (int k = 0; k < 4; k++) /* a lookup commutes with any reduction of the table */
        add2(o, pe_p(all_reds[k]), pe_p(all_reds[k]), pe_r());
}

/* attention: batch dims split alike; the query rows split with k and v
 * whole; v's columns split with q and k whole; the sequence of all three
 * split (the ring, Tq == Tk: the keys a rank holds are the rows of its
 * queries). */
static void opts_attention(const IrInst *i, Opts *o)
{
    const IrType *q = &i->args[0]->type, *k = &i->args[1]->type;
    int r = q->rank;
    PlEntry R = pe_r();
    add3(o, R, R, R, R);
    for (int d = 0; d < r - 2; d++)
        add3(o, pe_s(d), pe_s(d), pe_s(d), pe_s(d));
    add3(o, pe_s(r - 2), pe_s(r - 2), R, R);
    add3(o, pe_s(r - 1), R, R, pe_s(r - 1));
    if (q->dims[r - 2] == k->dims[r - 2])
        add3(o, pe_s(r - 2), pe_s(r - 2), pe_s(r - 2), pe_s(r - 2));
}

int rules_ring_axis(const IrInst *i, const Placement *in)
{
    if (i->op != OP_ATTENTION)
        return -1;
    unsigned ax = rules_split_axes(&in[1], i->args[1]->type.rank - 2);
    if (!ax)
        return -1;
    int a = 0;
    while (!(ax >> a & 1))
        a++;
    return a;
}

/* The ring runs over one axis on even splits (its body is a local fn's: one
 * local shape on every rank), with q, k, v and the result split the same. */
static bool ring_valid(const IrModule *m, const IrInst *i, const Placement *in, const Placement *out)
{
    int sd = i->args[0]->type.rank - 2;
    unsigned ax = rules_split_axes(&in[1], sd);
    if (!ax)
        return true;
    if (ax & (ax - 1))
        return false;
    if (rules_split_axes(&in[0], sd) != ax || rules_split_axes(&in[2], sd) != ax ||
        rules_split_axes(out, sd) != ax)
        return false;
    int ways;
    for (int k = 0; k < 3; k++)
        if (ir_local_split_dim(&m->mesh, &i->args[k]->type, &in[k], &ways) >= 0)
            return false;
    return ir_local_split_dim(&m->mesh, &i->res[0]->type, out, &ways) < 0;
}

int rules_options(Arena *ar, const IrInst *i, AxisOpt *v)
{
    Opts o = {ar, i, v, 0};
    unsigned fl = ir_op_flags(i->op);
    if (ir_op_is_route(i->op)) { /* the routing family: rules_route.c */
        rules_route_options(&o);
        return o.n;
    }
    if (i->op == OP_RULE_CALL) { /* the user's strategies (ir/rule.c), R..R -> R implied */
        opts_add_all(&o, pe_r(), pe_r());
        for (int r = 0; r < i->a.fn->nrules && o.n < RULE_MAX_OPTS; r++)
            opts_add(&o, i->a.fn->rules[r].out, i->a.fn->rules[r].in);
        return o.n;
    }
    switch (i->op) {
    case OP_CONST:
        add1(&o, pe_r(), pe_r());
        return o.n;
    case OP_IOTA: /* every rank computes its own indices: any split is free */
        add1(&o, pe_r(), pe_r());
        for (int d = 0; d < i->res[0]->type.rank; d++)
            add1(&o, pe_s(d), pe_r());
        return o.n;
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX: {
        const IrType *t = &i->args[0]->type;
        add1(&o, pe_r(), pe_r());
        for (int d = 0; d < t->rank; d++)
            add1(&o, pe_s(d), pe_s(d));
        return o.n;
    }
    case OP_LAYERNORM:
    case OP_RMSNORM: {
        const IrType *t = &i->args[0]->type;
        int last = t->rank - 1;
        PlEntry R = pe_r(), g = pe_s(0);
        bool ln = i->op == OP_LAYERNORM;
        add3(&o, R, R, R, R);
        for (int d = 0; d < last; d++)
            add3(&o, pe_s(d), pe_s(d), R, R);
        add3(&o, pe_s(last), pe_s(last), g, ln ? g : R);
        return o.n;
    }
    case OP_TRANSPOSE: {
        const IrType *t = &i->args[0]->type;
        add1(&o, pe_r(), pe_r());
        for (int k = 0; k < t->rank; k++)
            add1(&o, pe_s(k), pe_s((int)i->a.ints[k]));
        for (int k = 0; k < 4; k++)
            add1(&o, pe_p(all_reds[k]), pe_p(all_reds[k]));
        return o.n;
    }
    case OP_RESHAPE: {
        const IrType *t = &i->args[0]->type, *r = &i->res[0]->type;
        add1(&o, pe_r(), pe_r());
        for (int d = 0; d < t->rank; d++) {
            int e = reshape_map(t, r, d);
            if (e >= 0)
                add1(&o, pe_s(e), pe_s(d));
        }
        for (int k = 0; k < 4; k++)
            add1(&o, pe_p(all_reds[k]), pe_p(all_reds[k]));
        return o.n;
    }
    case OP_SLICE:
    case OP_CONCAT:
    case OP_PAD:
    case OP_BROADCAST_TO:
        rules_shape_options(&o);
        return o.n;
    case OP_MATMUL:
        opts_matmul(i, &o);
        return o.n;
    case OP_EMBEDDING:
        opts_embedding(i, &o);
        return o.n;
    case OP_ATTENTION:
        opts_attention(i, &o);
        return o.n;
    case OP_CROSS_ENTROPY:
        add2(&o, pe_r(), pe_r(), pe_r());
        add2(&o, pe_p(RED_SUM), pe_s(0), pe_s(0)); /* rows split */
        add2(&o, pe_p(RED_SUM), pe_s(1), pe_r());  /* vocab split */
        return o.n;
    case OP_PICK:
        add2(&o, pe_r(), pe_r(), pe_r());
        add2(&o, pe_s(0), pe_s(0), pe_s(0));
        add2(&o, pe_p(RED_SUM), pe_s(1), pe_r());  /* masked: 0 off this rank's columns */
        return o.n;
    case OP_SUM:
    case OP_MEAN:
    case OP_MAX:
    case OP_MIN:
        opts_reduce(i, &o);
        return o.n;
    default:
        break;
    }
    if (fl & OPF_EW) {
        rules_ew_options(&o);
        return o.n;
    }
    return 0;
}

/* ---- joint validity ---------------------------------------------------------- */

/* The flat element range [*lo, *hi) within reshape group g that the piece
 * at `lens/offs` covers; false if it is not one contiguous range. */
static bool group_range(const IrType *t, const int *grp, int g, const int64_t *off,
                        const int64_t *len, int64_t *lo, int64_t *hi)
{
    int cut = -1;
    int64_t total = 1;
    for (int d = 0; d < t->rank; d++) {
        if (grp[d] != g)
            continue;
        total *= t->dims[d];
        if (len[d] != t->dims[d]) {
            if (cut >= 0)
                return false;
            cut = d;
        }
    }
    if (cut < 0) {
        *lo = 0;
        *hi = total;
        return true;
    }
    int64_t before = 1, after = 1;
    for (int d = 0; d < t->rank; d++) {
        if (grp[d] != g)
            continue;
        if (d < cut)
            before *= t->dims[d];
        else if (d > cut)
            after *= t->dims[d];
    }
    if (len[cut] == 0) {
        *lo = *hi = 0;
        return true;
    }
    if (before != 1)
        return false;
    *lo = off[cut] * after;
    *hi = (off[cut] + len[cut]) * after;
    return true;
}

static bool reshape_valid(const IrMesh *m, const IrType *a, const Placement *pa, const IrType *b,
                          const Placement *pb)
{
    bool any = false;
    for (int k = 0; k < pa->naxes; k++)
        if (pa->e[k].kind == PL_S || pb->e[k].kind == PL_S)
            any = true;
    if (!any)
        return true;
    int gi[IR_MAX_RANK], go[IR_MAX_RANK];
    int ng = reshape_groups(a, b, gi, go);
    if (ng < 0 || ir_type_numel(a) == 0)
        return false;
    int n = ir_mesh_nranks(m);
    for (int r = 0; r < n; r++) {
        int c[IR_MAX_AXES];
        ir_mesh_coords(m, r, c);
        int64_t oa[IR_MAX_RANK], la[IR_MAX_RANK], ob[IR_MAX_RANK], lb[IR_MAX_RANK];
        int64_t na = 1, nb = 1;
        for (int d = 0; d < a->rank; d++) {
            pl_local_range(m, pa, c, d, a->dims[d], &oa[d], &la[d]);
            na *= la[d];
        }
        for (int d = 0; d < b->rank; d++) {
            pl_local_range(m, pb, c, d, b->dims[d], &ob[d], &lb[d]);
            nb *= lb[d];
        }
        if (na == 0 && nb == 0)
            continue;
        for (int g = 0; g < ng; g++) {
            int64_t l1, h1, l2, h2;
            if (!group_range(a, gi, g, oa, la, &l1, &h1) || !group_range(b, go, g, ob, lb, &l2, &h2))
                return false;
            if (l1 != l2 || h1 != h2)
                return false;
        }
    }
    return true;
}

bool rules_valid(const IrModule *m, const IrInst *i, const Placement *in, const Placement *out)
{
    int red = -1;
    for (int a = 0; a < out->naxes; a++) {
        if (out->e[a].kind != PL_P)
            continue;
        if (red >= 0 && (int)out->e[a].red != red)
            return false; /* P(sum) over one axis and P(max) over another do not commute */
        red = (int)out->e[a].red;
    }
    if (i->op == OP_RESHAPE)
        return reshape_valid(&m->mesh, &i->args[0]->type, &in[0], &i->res[0]->type, out);
    if (ir_op_is_route(i->op))
        return rules_route_valid(&m->mesh, i, in, out);
    if (i->op == OP_ATTENTION)
        return ring_valid(m, i, in, out);
    if (i->op == OP_RULE_CALL) { /* the body runs on local shapes: every split even */
        int ways;
        for (int k = 0; k < i->nargs; k++)
            if (ir_local_split_dim(&m->mesh, &i->args[k]->type, &in[k], &ways) >= 0)
                return false;
        return ir_local_split_dim(&m->mesh, &i->res[0]->type, out, &ways) < 0;
    }
    return true;
}

/* A rule fn body's arithmetic: each op's cost at full size (every value
 * replicated), times the smallest share of an operand a rank holds (a rank
 * computes on that share; a partial operand counts whole). */
static double rule_body_cost(const CostModel *cm, const IrModule *m, const IrInst *i, const Placement *in)
{
    enum { MAX_ARGS = 64 };
    Placement rep[MAX_ARGS];
    for (int k = 0; k < MAX_ARGS; k++)
        rep[k] = pl_replicated(m->mesh.naxes);
    double whole = 0;
    for (const IrInst *j = i->a.fn->first; j; j = j->next)
        if (j->nargs <= MAX_ARGS && j->nres == 1)
            whole += rules_compute_cost(cm, m, j, rep, &rep[0]);
    double share = 1;
    for (int k = 0; k < i->nargs; k++) {
        double n = (double)ir_type_numel(&i->args[k]->type);
        IrType l = rules_local_max(&m->mesh, &i->args[k]->type, &in[k]);
        if (n > 0 && (double)ir_type_numel(&l) / n < share)
            share = (double)ir_type_numel(&l) / n;
    }
    return whole * share;
}

/* The declared costs of a rule_call's strategy on each axis. */
static double rule_declared_cost(const IrInst *i, const Placement *in, const Placement *out)
{
    double c = 0;
    for (int a = 0; a < out->naxes; a++)
        for (int r = 0; r < i->a.fn->nrules; r++) {
            const IrRule *u = &i->a.fn->rules[r];
            bool same = pe_eq(u->out, out->e[a]);
            for (int k = 0; k < i->nargs && same; k++)
                same = pe_eq(u->in[k], in[k].e[a]);
            if (same) {
                c += u->cost;
                break;
            }
        }
    return c;
}

int rules_strategy(const IrInst *i, const Placement *in)
{
    switch (i->op) {
    case OP_MEAN:
        for (int k = 0; k < i->a.nints; k++)
            if (rules_split_axes(&in[0], (int)i->a.ints[k]))
                return STRAT_MEAN_SUM;
        return STRAT_LOCAL;
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX:
        return rules_split_axes(&in[0], (int)i->a.ints[0]) ? STRAT_XRANK : STRAT_LOCAL;
    case OP_LAYERNORM:
    case OP_RMSNORM:
        return rules_split_axes(&in[0], i->args[0]->type.rank - 1) ? STRAT_XRANK : STRAT_LOCAL;
    case OP_CROSS_ENTROPY:
        return rules_split_axes(&in[0], 0) || rules_split_axes(&in[0], 1) ? STRAT_CE_SPLIT
                                                                           : STRAT_LOCAL;
    case OP_CUMSUM:
    case OP_ARGMAX:
    case OP_ARGMIN:
        return rules_route_strategy(i, in);
    case OP_ATTENTION:
        return rules_ring_axis(i, in) >= 0 ? STRAT_RING : STRAT_LOCAL;
    default:
        return STRAT_LOCAL;
    }
}

/* ---- cost ------------------------------------------------------------------- */

/* Cost of the all_reduce(red) over `axes` of a tensor like `t` with the
 * reduced dim `d` kept as size 1, the rest placed like pl. */
static double xrank_cost(const CostModel *cm, const IrMesh *m, const IrType *t, const Placement *pl,
                         int d, unsigned axes, RedOp red)
{
    IrType k = *t;
    k.dims[d] = 1;
    Placement from = rules_with(pl, axes, pe_p(red)), to = rules_with(pl, axes, pe_r());
    return plan_cost(cm, m, &k, &from, &to);
}

/* attention's arithmetic on a rank: the two matmuls' flops and the softmax
 * over every score it computes (the ring: its query rows against all keys);
 * the ring's communication: n-1 steps passing a k and a v block, each one
 * point-to-point message over the ring's axis (alpha + bytes beta, as a
 * collective_permute of those bytes). */
static double attention_cost(const CostModel *cm, const IrMesh *m, const IrInst *i, const Placement *in)
{
    IrType lq = rules_local_max(m, &i->args[0]->type, &in[0]);
    IrType lk = rules_local_max(m, &i->args[1]->type, &in[1]);
    IrType lv = rules_local_max(m, &i->args[2]->type, &in[2]);
    int r = lq.rank, a = rules_ring_axis(i, in), n = a >= 0 ? m->size[a] : 1;
    double rows = (double)ir_type_numel(&lq) / (double)(lq.dims[r - 1] ? lq.dims[r - 1] : 1);
    double keys = (double)(a >= 0 ? i->args[1]->type.dims[r - 2] : lk.dims[r - 2]);
    int64_t tl = lq.dims[r - 2];
    /* the head-tail ring (causal, even blocks): its own 2C x 2C block and
     * two C x C blocks from each other rank, (n + 1) C keys a query row */
    bool headtail = a >= 0 && n > 1 && i->a.keepdims && tl % 2 == 0;
    if (headtail)
        keys = (double)(n + 1) * (double)(tl / 2);
    double c = 2.0 * rows * keys * (double)(lq.dims[r - 1] + lv.dims[r - 1]) * cm->flop_time +
               6.0 * rows * keys * cm->elem_time;
    if (a >= 0 && n > 1) {
        int es = ir_dtype_size(lk.dtype);
        double bytes = (double)(ir_type_numel(&lk) + ir_type_numel(&lv)) * es;
        c += (n - 1) * (2.0 * cm->alpha[a] + bytes * cm->beta[a]);
        if (headtail) /* q, k, v into head-tail order and the result back: half blocks, 8 messages */
            c += 8.0 * cm->alpha[a] + (bytes + 2.0 * (double)ir_type_numel(&lq) * es) / 2.0 * cm->beta[a];
    }
    return c;
}

double rules_compute_cost(const CostModel *cm, const IrModule *m, const IrInst *i,
                          const Placement *in, const Placement *out)
{
    const IrMesh *mesh = &m->mesh;
    if (i->nres < 1 || i->op == OP_CONST || i->op == OP_IOTA)
        return 0;
    IrType lo = rules_local_max(mesh, &i->res[0]->type, out);
    double n_out = (double)ir_type_numel(&lo);
    double n_in = 0;
    if (i->nargs > 0) {
        IrType li = rules_local_max(mesh, &i->args[0]->type, &in[0]);
        n_in = (double)ir_type_numel(&li);
    }
    double c = 0;
    switch (i->op) {
    case OP_MATMUL: {
        /* a roofline: the flops, or the operands read and the result
         * written at the elementwise rate (8 bytes an element), whichever
         * is slower; a matmul with a few rows is bound by reading its
         * weight, not by its flops */
        IrType lx = rules_local_max(mesh, &i->args[0]->type, &in[0]);
        IrType ly = rules_local_max(mesh, &i->args[1]->type, &in[1]);
        double flops = 2.0 * n_out * (double)lx.dims[lx.rank - 1] * cm->flop_time;
        double bytes = ((double)ir_type_numel(&lx) + (double)ir_type_numel(&ly) + n_out) *
                       ir_dtype_size(lo.dtype);
        c = fmax(flops, bytes * cm->elem_time / 8.0);
        break;
    }
    case OP_TRANSPOSE:
    case OP_SLICE:
    case OP_CONCAT:
    case OP_PAD:
    case OP_BROADCAST_TO:
        c = n_out * ir_dtype_size(lo.dtype) * cm->copy_time;
        break;
    case OP_RESHAPE:
        c = 0;
        break;
    case OP_RULE_CALL:
        c = rule_body_cost(cm, m, i, in) + rule_declared_cost(i, in, out);
        break;
    case OP_ATTENTION:
        c = attention_cost(cm, mesh, i, in);
        break;
    case OP_SUM:
    case OP_MEAN:
    case OP_MAX:
    case OP_MIN:
        c = n_in * cm->elem_time;
        break;
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX:
    case OP_LAYERNORM:
    case OP_RMSNORM:
    case OP_CROSS_ENTROPY:
        c = 6.0 * n_in * cm->elem_time;
        break;
    default:
        c = n_out * cm->elem_time;
        break;
    }
    int strat = rules_strategy(i, in);
    const IrType *t = i->nargs > 0 ? &i->args[0]->type : NULL;
    if (strat == STRAT_XRANK) {
        int d = (i->op == OP_SOFTMAX || i->op == OP_LOG_SOFTMAX) ? (int)i->a.ints[0] : t->rank - 1;
        unsigned ax = rules_split_axes(&in[0], d);
        /* softmax: a max and a sum; layernorm: the sums of x and of (x - mean)^2;
         * rmsnorm: the sum of x^2 */
        RedOp first = (i->op == OP_SOFTMAX || i->op == OP_LOG_SOFTMAX) ? RED_MAX : RED_SUM;
        c += xrank_cost(cm, mesh, t, &in[0], d, ax, first);
        if (i->op != OP_RMSNORM)
            c += xrank_cost(cm, mesh, t, &in[0], d, ax, RED_SUM);
    } else if (strat == STRAT_CE_SPLIT) {
        unsigned ax = rules_split_axes(&in[0], 1);
        if (ax) {
            c += xrank_cost(cm, mesh, t, &in[0], 1, ax, RED_MAX);
            c += xrank_cost(cm, mesh, t, &in[0], 1, ax, RED_SUM);
        }
    } else if (strat == STRAT_SPLIT_SCAN || strat == STRAT_SPLIT_SELECT)
        c += rules_route_comm_cost(cm, mesh, i, in);
    return c;
}
