/* check_collectives.c - pass_check_collectives: a compile-time proof that the
 * per-rank program's collectives match up across ranks, at any mesh size.
 *
 * Requires: a partitioned module (local semantics).  Changes nothing.
 *
 * Order.  Every rank runs the one instruction list of the function (dt has
 * no control flow, and codegen keeps the IR's order), so every member of a
 * communicator (the ranks that differ only on a collective's mesh axes)
 * issues that communicator's collectives in the same order by
 * construction.  What can differ between members is what each contributes
 * and expects: the local shapes.  So for every collective and every
 * communicator the members' local shapes must fit together:
 *   all_reduce      every member holds the same shape; out = in
 *   all_gather      the members' pieces agree off `dim`; out = their
 *                   concatenation along dim
 *   reduce_scatter  every member holds the same shape; the outs partition
 *                   it along dim
 *   all_to_all      out_j[dim] = sum_i in_i[dim] and in_i[dim2] =
 *                   sum_j out_j[dim2], all other dims equal
 *   collective_permute  every member holds the same shape (R -> R on its
 *                   axes: each receives what another sends); out = in
 * and each op's placements must make exactly its transition on its axes
 * and none elsewhere (shard / to_partial too).
 *
 * Scale.  A collective's local shapes depend only on the coordinates of
 * its own axes and of the axes that split its operand or result; ranks
 * that agree on those coordinates see the same collective (they share a
 * variant of it).  So each collective is checked over that sub-mesh only:
 * one communicator per variant, not one per rank.  With the usual
 * placements this is a handful of groups even on 65536 ranks; at worst it
 * visits every rank once per collective.  There is no size limit: the
 * check runs on every mesh the frontend accepts.
 *
 * A failure is a compiler bug: the pass prints what differs to ctx->err and
 * returns false (the pipeline aborts).
 */
#include <inttypes.h>
#include <string.h>

#include "ir/ir_text.h"
#include "passes/passes.h"
#include "runtime/core/rt_core.h"

typedef struct Checker {
    PassCtx *ctx;
    const IrMesh *mesh;
    bool ok;
    /* scratch for one communicator, sized for the largest */
    IrType *in, *out;
    int *rank;
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
            case OP_COLLECTIVE_PERMUTE:
                good = x.kind == PL_R && y.kind == PL_R;
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

/* Local shapes of one communicator (n members, in[k] -> out[k] held by
 * rank[k]) fit the collective. */
static void check_group(Checker *c, const IrInst *i, int n)
{
    const IrType *in = c->in, *out = c->out;
    int d = i->a.dim, d2 = i->a.dim2;
    int64_t tot_in = 0, tot_out = 0, tot_out2 = 0;
    for (int k = 0; k < n; k++) {
        if ((d >= 0 && d < in[k].rank))
            tot_in += in[k].dims[d];
        if (d >= 0 && d < out[k].rank)
            tot_out += out[k].dims[d];
        if (d2 >= 0 && d2 < out[k].rank)
            tot_out2 += out[k].dims[d2];
    }
    bool dims_ok = d >= 0 && d < in[0].rank && (i->op != OP_ALL_TO_ALL || (d2 >= 0 && d2 < in[0].rank));
    for (int k = 0; k < n; k++) {
        bool good = true;
        int other = k; /* the member this one disagrees with */
        switch (i->op) {
        case OP_ALL_REDUCE:
        case OP_COLLECTIVE_PERMUTE: /* what one member sends, the next receives */
            other = 0;
            good = ir_type_eq(&in[k], &in[0]) && ir_type_eq(&out[k], &in[k]);
            break;
        case OP_ALL_GATHER:
            other = 0;
            good = dims_ok && dims_equal_except(&in[k], &in[0], d, -1) &&
                   dims_equal_except(&out[k], &in[k], d, -1) && out[k].dims[d] == tot_in;
            break;
        case OP_REDUCE_SCATTER:
            other = 0;
            good = dims_ok && ir_type_eq(&in[k], &in[0]) && dims_equal_except(&out[k], &in[k], d, -1) &&
                   tot_out == in[k].dims[d];
            break;
        case OP_ALL_TO_ALL:
            other = 0;
            good = dims_ok && dims_equal_except(&in[k], &in[0], d, -1) &&
                   dims_equal_except(&out[k], &in[k], d, d2) && out[k].dims[d] == tot_in &&
                   in[k].dims[d2] == tot_out2;
            break;
        default:
            break;
        }
        if (!good) {
            char t1[80], t2[80], t3[80], t4[80], msg[600];
            int n1 = snprintf(msg, sizeof msg, "rank %d holds %s -> %s", c->rank[k],
                              ir_type_str(&in[k], t1, sizeof t1), ir_type_str(&out[k], t2, sizeof t2));
            if (other != k && n1 > 0 && (size_t)n1 < sizeof msg)
                snprintf(msg + n1, sizeof msg - (size_t)n1, ", rank %d holds %s -> %s", c->rank[other],
                         ir_type_str(&in[other], t3, sizeof t3), ir_type_str(&out[other], t4, sizeof t4));
            size_t used = strlen(msg);
            snprintf(msg + used, sizeof msg - used, ": the %d members of its communicator do not fit", n);
            fail(c, i, "%s", msg);
            return;
        }
    }
}

/* The axes a collective's local shapes depend on: its own and those that
 * split its operand or result. */
static unsigned relevant_axes(const IrMesh *m, const IrInst *i)
{
    unsigned r = i->a.axes;
    for (int a = 0; a < m->naxes; a++)
        if (i->args[0]->pl.e[a].kind == PL_S || i->res[0]->pl.e[a].kind == PL_S)
            r |= 1u << a;
    return r;
}

/* Every communicator of collective i, one per variant: the coordinates off
 * i's axes range over the relevant axes only (others stay 0), the members
 * over i's axes. */
static void check_communicators(Checker *c, const IrInst *i)
{
    const IrMesh *m = c->mesh;
    unsigned axes = i->a.axes, outer = relevant_axes(m, i) & ~axes;
    int lead[IR_MAX_AXES] = {0};
    do {
        int co[IR_MAX_AXES];
        memcpy(co, lead, sizeof co);
        int n = 0;
        do {
            c->in[n] = pl_local_type(m, &i->args[0]->type, &i->args[0]->pl, co);
            c->out[n] = pl_local_type(m, &i->res[0]->type, &i->res[0]->pl, co);
            c->rank[n] = ir_mesh_rank(m, co);
            n++;
        } while (ir_mesh_next_coords(m, axes, co));
        check_group(c, i, n);
    } while (c->ok && ir_mesh_next_coords(m, outer, lead));
}

bool pass_check_collectives(PassCtx *ctx, const IrModule *m)
{
    Checker c = {ctx, &m->mesh, true, NULL, NULL, NULL};
    for (int fi = 0; fi < m->nfuncs && c.ok; fi++) {
        const IrFunc *f = m->funcs[fi];
        int most = 0; /* members of the largest communicator */
        for (const IrInst *i = f->first; i; i = i->next) {
            unsigned fl = ir_op_flags(i->op);
            if (!(fl & (OPF_COMM | OPF_LOCAL)))
                continue;
            if (i->nargs != 1 || i->nres != 1) {
                fail(&c, i, "%s", "a collective takes one operand and has one result");
                continue;
            }
            check_transition(&c, i);
            if ((fl & OPF_COMM) && c.ok) {
                int k = rt_grid_count(c.mesh->naxes, c.mesh->size, i->a.axes);
                most = k > most ? k : most;
            }
        }
        if (!c.ok || most == 0)
            continue;
        c.in = arena_alloc(ctx->arena, sizeof *c.in * (size_t)most);
        c.out = arena_alloc(ctx->arena, sizeof *c.out * (size_t)most);
        c.rank = arena_alloc(ctx->arena, sizeof *c.rank * (size_t)most);
        for (const IrInst *i = f->first; i && c.ok; i = i->next)
            if (ir_op_flags(i->op) & OPF_COMM)
                check_communicators(&c, i);
    }
    return c.ok;
}
