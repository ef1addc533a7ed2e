/* check_collectives.c - pass_check_collectives: a compile-time proof that the
 * per-rank program's collectives match up across ranks.
 *
 * Requires: a partitioned module (local semantics).  Changes nothing.
 *
 * For every rank it lists, in program order, the collectives it issues on
 * each communicator (the group of ranks that differ only on the op's mesh
 * axes), each with its op, axes, reduction, dtype, dims, and the element
 * counts every member contributes as that rank computes them from the
 * placements.  Then, for every communicator, all members' lists must be
 * identical (same collectives in the same order with the same sizes), and
 * each collective's local shapes must fit together:
 *   all_reduce      every member holds the same shape; out = in
 *   all_gather      the members' pieces agree off `dim`; out = their
 *                   concatenation along dim
 *   reduce_scatter  every member holds the same shape; the outs partition
 *                   it along dim
 *   all_to_all      out_j[dim] = sum_i in_i[dim] and in_i[dim2] =
 *                   sum_j out_j[dim2], all other dims equal
 * and each op's placements must make exactly its transition on its axes
 * and none elsewhere.  A failure is a compiler bug: the pass prints what
 * differs to ctx->err and returns false (the pipeline aborts).
 */
#include <inttypes.h>
#include <string.h>

#include "ir/ir_text.h"
#include "passes/passes.h"

#define MAX_RANKS 4096

/* One collective as one rank sees it. */
typedef struct Coll {
    const IrInst *inst;
    int group;                   /* index of the communicator among those of its axes */
    int nmem;
    int64_t counts[64];          /* element counts the members send (first 64) */
} Coll;

typedef struct Checker {
    PassCtx *ctx;
    const IrModule *m;
    const IrMesh *mesh;
    int nranks;
    bool ok;
} Checker;

static void fail(Checker *c, const IrInst *i, const char *fmt, const char *detail)
{
    char vb[64];
    fprintf(c->ctx->err, "collective check: %s %s: ", ir_op_name(i->op),
            ir_value_str(i->res[0], vb, sizeof vb));
    fprintf(c->ctx->err, fmt, detail);
    fputc('\n', c->ctx->err);
    c->ok = false;
}

/* The members of the group over `axes` containing `rank`, row-major over
 * the coordinates on those axes. */
static int members(const IrMesh *m, unsigned axes, int rank, int *out)
{
    int c[IR_MAX_AXES];
    ir_mesh_coords(m, rank, c);
    for (int a = 0; a < m->naxes; a++)
        if (axes & (1u << a))
            c[a] = 0;
    int n = 0;
    for (;;) {
        out[n++] = ir_mesh_rank(m, c);
        int a = m->naxes - 1;
        for (; a >= 0; a--) {
            if (!(axes & (1u << a)))
                continue;
            if (++c[a] < m->size[a])
                break;
            c[a] = 0;
        }
        if (a < 0)
            return n;
    }
}

static IrType local(const Checker *c, const IrValue *v, int rank)
{
    int co[IR_MAX_AXES];
    ir_mesh_coords(c->mesh, rank, co);
    return pl_local_type(c->mesh, &v->type, &v->pl, co);
}

static bool dims_equal_except(const IrType *a, const IrType *b, int d1, int d2)
{
    if (a->rank != b->rank || a->dtype != b->dtype)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (d != d1 && d != d2 && a->dims[d] != b->dims[d])
            return false;
    return true;
}

/* The placements of i's operand and result make exactly i's transition. */
static void check_transition(Checker *c, const IrInst *i)
{
    const Placement *in = &i->args[0]->pl, *out = &i->res[0]->pl;
    unsigned A = i->a.axes;
    char b1[256], b2[256], msg[600];
    snprintf(msg, sizeof msg, "%s -> %s", pl_str(c->mesh, in, b1, sizeof b1),
             pl_str(c->mesh, out, b2, sizeof b2));
    if (in->naxes != c->mesh->naxes || out->naxes != c->mesh->naxes || A == 0 ||
        (A >> c->mesh->naxes) != 0) {
        fail(c, i, "bad axes or placements (%s)", msg);
        return;
    }
    for (int a = 0; a < c->mesh->naxes; a++) {
        PlEntry x = in->e[a], y = out->e[a];
        bool on = A & (1u << a), good;
        if (!on) {
            Placement p1 = pl_replicated(1), p2 = pl_replicated(1);
            p1.e[0] = x;
            p2.e[0] = y;
            good = pl_eq(&p1, &p2);
        } else
            switch (i->op) {
            case OP_ALL_REDUCE:
                good = x.kind == PL_P && x.red == i->a.red && y.kind == PL_R;
                break;
            case OP_REDUCE_SCATTER:
                good = x.kind == PL_P && x.red == i->a.red && y.kind == PL_S && y.dim == i->a.dim;
                break;
            case OP_ALL_GATHER:
                good = x.kind == PL_S && x.dim == i->a.dim && y.kind == PL_R;
                break;
            case OP_ALL_TO_ALL:
                good = x.kind == PL_S && x.dim == i->a.dim && y.kind == PL_S && y.dim == i->a.dim2;
                break;
            case OP_SHARD:
                good = x.kind == PL_R && y.kind == PL_S && y.dim == i->a.dim;
                break;
            case OP_TO_PARTIAL:
                good = x.kind == PL_R && y.kind == PL_P && y.red == i->a.red;
                break;
            default:
                good = false;
            }
        if (!good) {
            char m2[700];
            snprintf(m2, sizeof m2, "%s on mesh axis %s", msg,
                     c->mesh->axis_name[a] ? c->mesh->axis_name[a] : "?");
            fail(c, i, "placements do not match the op (%s)", m2);
            return;
        }
    }
}

/* Local shapes of one group fit the collective. */
static void check_group(Checker *c, const IrInst *i, const int *mem, int n)
{
    IrType in[64], out[64];
    if (n > 64)
        return; /* the per-rank lists below still compare counts */
    for (int k = 0; k < n; k++) {
        in[k] = local(c, i->args[0], mem[k]);
        out[k] = local(c, i->res[0], mem[k]);
    }
    int d = i->a.dim, d2 = i->a.dim2;
    for (int k = 0; k < n; k++) {
        bool good = true;
        switch (i->op) {
        case OP_ALL_REDUCE:
            good = ir_type_eq(&in[k], &in[0]) && ir_type_eq(&out[k], &in[k]);
            break;
        case OP_ALL_GATHER: {
            int64_t tot = 0;
            for (int j = 0; j < n; j++)
                tot += in[j].dims[d];
            good = dims_equal_except(&in[k], &in[0], d, -1) && dims_equal_except(&out[k], &in[k], d, -1) &&
                   out[k].dims[d] == tot;
            break;
        }
        case OP_REDUCE_SCATTER: {
            int64_t tot = 0;
            for (int j = 0; j < n; j++)
                tot += out[j].dims[d];
            good = ir_type_eq(&in[k], &in[0]) && dims_equal_except(&out[k], &in[k], d, -1) &&
                   tot == in[k].dims[d];
            break;
        }
        case OP_ALL_TO_ALL: {
            int64_t ti = 0, to = 0;
            for (int j = 0; j < n; j++) {
                ti += in[j].dims[d];
                to += out[j].dims[d2];
            }
            good = dims_equal_except(&in[k], &in[0], d, -1) && dims_equal_except(&out[k], &in[k], d, d2) &&
                   out[k].dims[d] == ti && in[k].dims[d2] == to;
            break;
        }
        default:
            break;
        }
        if (!good) {
            char t1[80], t2[80], msg[400];
            snprintf(msg, sizeof msg, "rank %d holds %s -> %s, which does not fit its group", mem[k],
                     ir_type_str(&in[k], t1, sizeof t1), ir_type_str(&out[k], t2, sizeof t2));
            fail(c, i, "%s", msg);
            return;
        }
    }
}

static bool same_coll(const Coll *a, const Coll *b)
{
    if (a->inst != b->inst || a->nmem != b->nmem)
        return false;
    int n = a->nmem < 64 ? a->nmem : 64;
    return !memcmp(a->counts, b->counts, sizeof a->counts[0] * (size_t)n);
}

bool pass_check_collectives(PassCtx *ctx, const IrModule *m)
{
    Checker c = {ctx, m, &m->mesh, ir_mesh_nranks(&m->mesh), true};
    if (m->mesh.naxes == 0 || c.nranks > MAX_RANKS)
        return true;
    for (int fi = 0; fi < m->nfuncs; fi++) {
        const IrFunc *f = m->funcs[fi];
        int ncoll = 0;
        for (const IrInst *i = f->first; i; i = i->next)
            if (ir_op_flags(i->op) & (OPF_COMM | OPF_LOCAL))
                ncoll++;
        if (ncoll == 0)
            continue;
        /* per rank: its collectives in program order */
        Coll *seq = arena_alloc(ctx->arena, sizeof *seq * (size_t)ncoll * (size_t)c.nranks);
        int *nseq = arena_alloc(ctx->arena, sizeof *nseq * (size_t)c.nranks);
        int mem[MAX_RANKS];
        for (const IrInst *i = f->first; i; i = i->next) {
            unsigned fl = ir_op_flags(i->op);
            if (!(fl & (OPF_COMM | OPF_LOCAL)))
                continue;
            if (i->nargs != 1 || i->nres != 1) {
                fail(&c, i, "%s", "a collective takes one operand and has one result");
                continue;
            }
            check_transition(&c, i);
            if (!(fl & OPF_COMM) || !c.ok)
                continue;
            for (int r = 0; r < c.nranks; r++) {
                int n = members(c.mesh, i->a.axes, r, mem);
                if (mem[0] == r)
                    check_group(&c, i, mem, n);
                Coll *x = &seq[(size_t)r * (size_t)ncoll + (size_t)nseq[r]++];
                memset(x, 0, sizeof *x);
                x->inst = i;
                x->group = mem[0];
                x->nmem = n;
                for (int k = 0; k < n && k < 64; k++) {
                    IrType lt = local(&c, i->args[0], mem[k]);
                    x->counts[k] = ir_type_numel(&lt);
                }
            }
        }
        /* every member of a communicator issues the same sequence on it */
        for (int r = 0; r < c.nranks && c.ok; r++) {
            const Coll *mine = &seq[(size_t)r * (size_t)ncoll];
            for (int k = 0; k < nseq[r] && c.ok; k++) {
                unsigned axes = mine[k].inst->a.axes;
                int n = members(c.mesh, axes, r, mem);
                for (int j = 0; j < n; j++) {
                    const Coll *theirs = &seq[(size_t)mem[j] * (size_t)ncoll];
                    /* the k-th collective of r on this communicator is the
                     * k-th of every member: compare the lists filtered to it */
                    int kr = 0, kt = 0;
                    for (int t = 0; t < k; t++)
                        kr += mine[t].inst->a.axes == axes && mine[t].group == mine[k].group;
                    for (int t = 0; t < nseq[mem[j]]; t++) {
                        if (theirs[t].inst->a.axes != axes || theirs[t].group != mine[k].group)
                            continue;
                        if (kt++ == kr) {
                            if (!same_coll(&theirs[t], &mine[k])) {
                                char msg[160];
                                snprintf(msg, sizeof msg, "ranks %d and %d disagree on it", r, mem[j]);
                                fail(&c, mine[k].inst, "%s", msg);
                            }
                            break;
                        }
                    }
                }
            }
        }
    }
    return c.ok;
}
