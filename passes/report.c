/* report.c - pass_report: what `dtc report` prints for a partitioned module.
 *
 * Requires: a partitioned (and optionally optimised) module.  Changes nothing.
 *
 * Per rank: the collectives in program order, written like the planner's
 * steps ("all_reduce(tp, sum)"), with the local shape the rank contributes,
 * the bytes it sends and the value it defines; the total; and the peak
 * of live local buffers (parameters from the start, every value from its
 * definition to its last use, results to the end).  Then the cost model's
 * estimate of one run: local compute (rules_compute_cost on the largest
 * shard) plus every collective's step cost (cost.c), the same figures
 * propagate compared.  pass_report_json prints the same content as JSON
 * (`dtc report --format=json`), with each collective's source position.
 * A collective inside a loop's body is listed once, with the loop and the
 * number of times it runs; the totals and the estimate count every trip.
 *
 * Bytes: what the rank sends under ring algorithms, computed by
 * rt_coll_bytes (runtime/core/rt_coll.c), the one function the compiled
 * program's --profile and --trace use too:
 *   all_reduce      2 (n - floor(n / k)) elements of its n-element buffer
 *   all_gather      everything it receives: out - in elements
 *   reduce_scatter  everything but its own piece: in - out elements
 *   all_to_all      its block but the part it keeps
 *   collective_permute  its whole shard (to one member)
 * The `bytes` attribute in the dumps is the largest of these over ranks.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir_text.h"
#include "passes/plan.h"
#include "passes/rules.h"
#include "runtime/core/rt_core.h"

static int64_t value_bytes(const IrMesh *m, const IrValue *v, const int *c)
{
    IrType lt = v->pl.naxes ? pl_local_type(m, &v->type, &v->pl, c) : v->type;
    return ir_type_numel(&lt) * ir_dtype_size(lt.dtype);
}

/* The bytes of one collective on the rank at c: rt_coll_bytes, the same
 * function the compiled program's --profile and --trace use. */
static int64_t sent_bytes(const IrMesh *m, const IrInst *i, const int *c)
{
    IrType in = pl_local_type(m, &i->args[0]->type, &i->args[0]->pl, c);
    IrType out = pl_local_type(m, &i->res[0]->type, &i->res[0]->pl, c);
    int64_t n = ir_type_numel(&in), no = ir_type_numel(&out), kept = 0;
    int k = plan_group_size(m, i->a.axes);
    rt_coll kind;
    switch (i->op) {
    case OP_ALL_REDUCE:
        kind = RT_COLL_ALL_REDUCE;
        break;
    case OP_ALL_GATHER:
        kind = RT_COLL_ALL_GATHER;
        break;
    case OP_REDUCE_SCATTER:
        kind = RT_COLL_REDUCE_SCATTER;
        break;
    case OP_COLLECTIVE_PERMUTE: { /* the whole shard to one member, unless it sends to itself */
        int me = rt_grid_member(m->naxes, m->size, i->a.axes, c), dest, src;
        kept = rt_permute_pair(k, me, i->a.ints, i->a.nints, &dest, &src) && dest == me ? n : 0;
        kind = RT_COLL_COLLECTIVE_PERMUTE;
        break;
    }
    case OP_ALL_TO_ALL: {
        int64_t d2 = in.dims[i->a.dim2]; /* the split dim: this rank keeps its piece */
        kept = d2 ? n / d2 * out.dims[i->a.dim2] : 0;
        kind = RT_COLL_ALL_TO_ALL;
        break;
    }
    default:
        return 0;
    }
    return rt_coll_bytes(kind, k, n, no, kept, ir_dtype_size(in.dtype));
}

/* A collective_permute's perm (", perm [1, 0]") or shift (", shift 1"),
 * as text or as JSON members; nothing for other ops. */
static void put_permute(FILE *out, const IrInst *i, bool json)
{
    if (i->op != OP_COLLECTIVE_PERMUTE)
        return;
    if (i->a.nints > 1) {
        fprintf(out, json ? ", \"perm\": [" : ", perm [");
        for (int k = 0; k < i->a.nints; k++)
            fprintf(out, "%s%" PRId64, k ? ", " : "", i->a.ints[k]);
        fputc(']', out);
    } else {
        fprintf(out, json ? ", \"shift\": %" PRId64 : ", shift %" PRId64,
                i->a.nints == 1 ? i->a.ints[0] : (int64_t)0);
    }
}

static void put_axes(FILE *out, const IrMesh *m, unsigned axes)
{
    int n = 0;
    for (int a = 0; a < m->naxes; a++)
        if (axes & (1u << a))
            fprintf(out, "%s%s", n++ ? "+" : "", m->axis_name[a] ? m->axis_name[a] : "?");
}

/* Index of the last instruction using v (-1: none); results count as used
 * at the end. */
static void last_uses(const IrFunc *f, int *last, int ninst)
{
    int k = 0;
    for (const IrInst *i = f->first; i; i = i->next, k++)
        for (int a = 0; a < i->nargs; a++)
            last[i->args[a]->id] = k;
    for (int r = 0; r < f->nresults; r++)
        last[f->results[r]->id] = ninst;
}

static int64_t peak_memory(const IrMesh *m, const IrFunc *f, const int *last, int ninst,
                           const int *c)
{
    int64_t live = 0, peak = 0;
    for (int p = 0; p < f->nparams; p++)
        live += value_bytes(m, f->params[p], c);
    peak = live;
    int k = 0;
    for (const IrInst *i = f->first; i; i = i->next, k++) {
        for (int r = 0; r < i->nres; r++)
            live += value_bytes(m, i->res[r], c);
        if (live > peak)
            peak = live;
        /* free what dies here (each value once: its last use is one inst) */
        for (int r = 0; r < i->nres; r++)
            if (last[i->res[r]->id] < k || last[i->res[r]->id] == -1)
                live -= value_bytes(m, i->res[r], c);
        for (int a = 0; a < i->nargs; a++) {
            const IrValue *v = i->args[a];
            bool first = true;
            for (int b = 0; b < a; b++)
                if (i->args[b] == v)
                    first = false;
            if (first && last[v->id] == k)
                live -= value_bytes(m, v, c);
        }
    }
    (void)ninst;
    return peak;
}

/* The cost model's estimate of one run (seconds): local compute on the
 * largest shard, and every collective's step cost. */
static void estimate(const PassCtx *ctx, const IrModule *m, const IrFunc *f, double *compute,
                     double *comm)
{
    const IrMesh *mesh = &m->mesh;
    *compute = *comm = 0;
    for (const IrInst *i = f->first; i; i = i->next) {
        unsigned fl = ir_op_flags(i->op);
        if (i->op == OP_LOOP) {
            double c1, c2;
            estimate(ctx, m, i->a.fn, &c1, &c2);
            *compute += c1 * (double)i->a.trip;
            *comm += c2 * (double)i->a.trip;
            continue;
        }
        if (i->op == OP_COLLECTIVE_PERMUTE) { /* one message over the slowest of its axes */
            double alpha = 0, beta = 0, most = 0;
            for (int a = 0; a < mesh->naxes; a++)
                if (i->a.axes >> a & 1) {
                    alpha = ctx->cost.alpha[a] > alpha ? ctx->cost.alpha[a] : alpha;
                    beta = ctx->cost.beta[a] > beta ? ctx->cost.beta[a] : beta;
                }
            for (int r = 0; r < ir_mesh_nranks(mesh); r++) {
                int c[IR_MAX_AXES];
                ir_mesh_coords(mesh, r, c);
                double b = (double)sent_bytes(mesh, i, c);
                most = b > most ? b : most;
            }
            *comm += most > 0 ? alpha + beta * most : 0;
            continue;
        }
        if (fl & (OPF_COMM | OPF_LOCAL)) {
            PlanStep st;
            memset(&st, 0, sizeof st);
            st.kind = i->op == OP_ALL_REDUCE       ? STEP_ALL_REDUCE
                      : i->op == OP_REDUCE_SCATTER ? STEP_REDUCE_SCATTER
                      : i->op == OP_ALL_GATHER     ? STEP_ALL_GATHER
                      : i->op == OP_ALL_TO_ALL     ? STEP_ALL_TO_ALL
                      : i->op == OP_SHARD          ? STEP_SHARD
                                                   : STEP_TO_PARTIAL;
            st.axes = i->a.axes;
            st.red = i->a.red;
            st.dim = i->a.dim;
            st.dim2 = i->a.dim2;
            if (plan_step_make(&ctx->cost, mesh, &i->args[0]->type, &i->args[0]->pl, &st))
                *comm += st.cost;
            continue;
        }
        if (i->nres != 1 || i->op == OP_REDISTRIBUTE)
            continue;
        if (i->op != OP_CONST && i->op != OP_RESHAPE)
            *compute += ctx->cost.op_time;
        Placement *in = arena_alloc(ctx->arena, sizeof *in * (size_t)(i->nargs > 0 ? i->nargs : 1));
        for (int k = 0; k < i->nargs; k++)
            in[k] = i->args[k]->pl;
        *compute += rules_compute_cost(&ctx->cost, m, i, in, &i->res[0]->pl);
    }
}

/* The collectives of f in program order, a loop's body in its place. */
typedef struct CollUse {
    const IrInst *i;
    const IrInst *loop; /* innermost loop it is in, NULL: none */
    int64_t trips;      /* how often it runs */
} CollUse;

typedef struct CollList {
    int n, cap;
    CollUse *u;
} CollList;

static void collect(Arena *ar, const IrFunc *f, const IrInst *loop, int64_t trips, CollList *l)
{
    for (const IrInst *i = f->first; i; i = i->next) {
        if (i->op == OP_LOOP) {
            collect(ar, i->a.fn, i, trips * i->a.trip, l);
            continue;
        }
        if (!(ir_op_flags(i->op) & OPF_COMM))
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            CollUse *nu = arena_alloc(ar, sizeof *nu * (size_t)l->cap);
            if (l->n)
                memcpy(nu, l->u, sizeof *nu * (size_t)l->n);
            l->u = nu;
        }
        l->u[l->n++] = (CollUse){i, loop, trips};
    }
}

static const IrFunc *entry_of(const IrModule *m)
{
    return m->entry ? m->entry : m->nfuncs ? m->funcs[0] : NULL;
}

/* last[] for peak_memory, arena memory. */
static int *last_uses_of(const PassCtx *ctx, const IrFunc *f, int *ninst)
{
    *ninst = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        ++*ninst;
    int *last = arena_alloc(ctx->arena, sizeof *last * (size_t)(f->next_id + 1));
    for (int v = 0; v <= f->next_id; v++)
        last[v] = -1;
    last_uses(f, last, *ninst);
    return last;
}

void pass_report(FILE *out, const PassCtx *ctx, const IrModule *m)
{
    const IrMesh *mesh = &m->mesh;
    const IrFunc *f = entry_of(m);
    if (!f)
        return;
    int nranks = ir_mesh_nranks(mesh);
    int ninst;
    int *last = last_uses_of(ctx, f, &ninst);
    CollList colls = {0, 0, NULL};
    collect(ctx->arena, f, NULL, 1, &colls);

    fprintf(out, "mesh %s[", mesh->name ? mesh->name : "?");
    for (int a = 0; a < mesh->naxes; a++)
        fprintf(out, "%s%s=%d", a ? ", " : "", mesh->axis_name[a], mesh->size[a]);
    fprintf(out, "]: %d rank%s\n", nranks, nranks == 1 ? "" : "s");
    for (int r = 0; r < nranks; r++) {
        int c[IR_MAX_AXES];
        ir_mesh_coords(mesh, r, c);
        fprintf(out, "rank %d (", r);
        for (int a = 0; a < mesh->naxes; a++)
            fprintf(out, "%s%s=%d", a ? ", " : "", mesh->axis_name[a], c[a]);
        fprintf(out, "):\n");
        int n = 0;
        int64_t total = 0, count = 0;
        for (int u = 0; u < colls.n; u++) {
            const IrInst *i = colls.u[u].i;
            int64_t trips = colls.u[u].trips;
            IrType lt = pl_local_type(mesh, &i->args[0]->type, &i->args[0]->pl, c);
            int64_t b = sent_bytes(mesh, i, c);
            char tb[128], vb[64];
            fprintf(out, "  %d. %s(", ++n, ir_op_name(i->op));
            put_axes(out, mesh, i->a.axes);
            if (i->op == OP_ALL_REDUCE || i->op == OP_REDUCE_SCATTER)
                fprintf(out, ", %s", ir_red_name(i->a.red));
            if (i->op == OP_ALL_GATHER || i->op == OP_REDUCE_SCATTER)
                fprintf(out, ", dim %d", i->a.dim);
            if (i->op == OP_ALL_TO_ALL)
                fprintf(out, ", dim %d -> %d", i->a.dim, i->a.dim2);
            put_permute(out, i, false);
            fprintf(out, ") of local %s: %" PRId64 " bytes -> %s", ir_type_str(&lt, tb, sizeof tb), b,
                    ir_value_str(i->res[0], vb, sizeof vb));
            if (colls.u[u].loop)
                fprintf(out, ", in loop @%s: %" PRId64 " times", colls.u[u].loop->a.fn->name, trips);
            fputc('\n', out);
            total += b * trips;
            count += trips;
        }
        fprintf(out, "  total: %" PRId64 " collective%s, %" PRId64 " bytes\n", count, count == 1 ? "" : "s",
                total);
        fprintf(out, "  peak memory: %" PRId64 " bytes\n", peak_memory(mesh, f, last, ninst, c));
    }
    double compute, comm;
    estimate(ctx, m, f, &compute, &comm);
    fprintf(out, "estimated time: %.3f us (compute %.3f us, communication %.3f us)\n",
            (compute + comm) * 1e6, compute * 1e6, comm * 1e6);
    int nauto = 0;
    for (int k = 0; k < f->nparams; k++)
        nauto += !f->params[k]->pinned;
    if (nauto == 0)
        return;
    /* the placements propagate chose for the M[auto] parameters */
    fprintf(out, "parameters placed by dtc (M[auto]), %" PRId64 " bytes of parameters on rank 0:\n",
            report_param_bytes(m));
    for (int k = 0; k < f->nparams; k++) {
        const IrValue *v = f->params[k];
        if (v->pinned)
            continue;
        char vb[64], tb[128], pb[256];
        fprintf(out, "  %s: %s @ %s\n", ir_value_str(v, vb, sizeof vb), ir_type_str(&v->type, tb, sizeof tb),
                pl_str(mesh, &v->pl, pb, sizeof pb));
    }
}

int64_t report_param_bytes(const IrModule *m)
{
    const IrFunc *f = entry_of(m);
    int c[IR_MAX_AXES] = {0};
    int64_t total = 0;
    for (int k = 0; f && k < f->nparams; k++) {
        IrType lt = pl_local_type(&m->mesh, &f->params[k]->type, &f->params[k]->pl, c);
        total += ir_type_numel(&lt) * ir_dtype_size(lt.dtype);
    }
    return total;
}

double report_estimate_us(const PassCtx *ctx, const IrModule *m)
{
    const IrFunc *f = entry_of(m);
    if (!f)
        return 0;
    double compute, comm;
    estimate(ctx, m, f, &compute, &comm);
    return (compute + comm) * 1e6;
}

/* ---- --format=json ------------------------------------------------------------------ */

/* s as a JSON string literal, escaped by the runtime's one escaper. */
static void json_str(FILE *out, const char *s)
{
    rt_text b = {0};
    rt_text_put_json_str(&b, s);
    if (b.oom)
        DTC_BUG("report: out of memory");
    fputs(b.s, out);
    free(b.s);
}

void pass_report_json(FILE *out, const PassCtx *ctx, const IrModule *m)
{
    const IrMesh *mesh = &m->mesh;
    const IrFunc *f = entry_of(m);
    int nranks = ir_mesh_nranks(mesh);
    fprintf(out, "{\n  \"mesh\": {\"name\": ");
    json_str(out, mesh->name ? mesh->name : "?");
    fprintf(out, ", \"axes\": [");
    for (int a = 0; a < mesh->naxes; a++) {
        fprintf(out, "%s{\"name\": ", a ? ", " : "");
        json_str(out, mesh->axis_name[a]);
        fprintf(out, ", \"size\": %d}", mesh->size[a]);
    }
    fprintf(out, "], \"ranks\": %d},\n", nranks);
    fprintf(out, "  \"bytes\": \"what each rank sends under ring algorithms (rt_coll_bytes), as the "
                 "compiled program's --profile and --trace count them\",\n");
    fprintf(out, "  \"ranks\": [");
    int ninst = 0;
    int *last = f ? last_uses_of(ctx, f, &ninst) : NULL;
    CollList colls = {0, 0, NULL};
    if (f)
        collect(ctx->arena, f, NULL, 1, &colls);
    for (int r = 0; f && r < nranks; r++) {
        int c[IR_MAX_AXES];
        ir_mesh_coords(mesh, r, c);
        fprintf(out, "%s\n    {\"rank\": %d, \"coords\": {", r ? "," : "", r);
        for (int a = 0; a < mesh->naxes; a++) {
            fprintf(out, "%s", a ? ", " : "");
            json_str(out, mesh->axis_name[a]);
            fprintf(out, ": %d", c[a]);
        }
        fprintf(out, "},\n     \"collectives\": [");
        int n = 0;
        int64_t total = 0, count = 0;
        for (int u = 0; u < colls.n; u++) {
            const IrInst *i = colls.u[u].i;
            int64_t trips = colls.u[u].trips;
            IrType lt = pl_local_type(mesh, &i->args[0]->type, &i->args[0]->pl, c);
            int64_t b = sent_bytes(mesh, i, c);
            char tb[128], vb[64];
            fprintf(out, "%s\n       {\"index\": %d, \"kind\": \"%s\", \"axes\": [", n ? "," : "", n + 1,
                    ir_op_name(i->op));
            int k = 0;
            for (int a = 0; a < mesh->naxes; a++)
                if (i->a.axes & (1u << a)) {
                    fprintf(out, "%s", k++ ? ", " : "");
                    json_str(out, mesh->axis_name[a]);
                }
            fprintf(out, "]");
            if (i->op == OP_ALL_REDUCE || i->op == OP_REDUCE_SCATTER)
                fprintf(out, ", \"red\": \"%s\"", ir_red_name(i->a.red));
            if (i->op == OP_ALL_GATHER || i->op == OP_REDUCE_SCATTER || i->op == OP_ALL_TO_ALL)
                fprintf(out, ", \"dim\": %d", i->a.dim);
            if (i->op == OP_ALL_TO_ALL)
                fprintf(out, ", \"dim2\": %d", i->a.dim2);
            put_permute(out, i, true);
            fprintf(out, ", \"local_type\": ");
            json_str(out, ir_type_str(&lt, tb, sizeof tb));
            fprintf(out, ", \"bytes\": %" PRId64 ", \"result\": ", b);
            json_str(out, ir_value_str(i->res[0], vb, sizeof vb));
            if (colls.u[u].loop) {
                fprintf(out, ", \"loop\": ");
                json_str(out, colls.u[u].loop->a.fn->name);
                fprintf(out, ", \"trips\": %" PRId64, trips);
            }
            if (i->loc.file && i->loc.line > 0) {
                const char *base = strrchr(i->loc.file, '/');
                char site[512];
                snprintf(site, sizeof site, "%s:%d:%d", base ? base + 1 : i->loc.file, i->loc.line,
                         i->loc.col);
                fprintf(out, ", \"site\": ");
                json_str(out, site);
            }
            fprintf(out, "}");
            n++;
            total += b * trips;
            count += trips;
        }
        fprintf(out, "%s],\n     \"total_collectives\": %" PRId64 ", \"total_bytes\": %" PRId64
                     ", \"peak_memory_bytes\": %" PRId64 "}",
                n ? "\n     " : "", count, total, peak_memory(mesh, f, last, ninst, c));
    }
    double compute = 0, comm = 0;
    if (f)
        estimate(ctx, m, f, &compute, &comm);
    fprintf(out, "\n  ],\n  \"estimated_time_us\": {\"total\": %.3f, \"compute\": %.3f, "
                 "\"communication\": %.3f}\n}\n",
            (compute + comm) * 1e6, compute * 1e6, comm * 1e6);
}
