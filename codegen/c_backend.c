/* c_backend.c - the C backend: prints a lowered program (lower.c) as one
 * readable C11 file and, for --emit=exe, builds it with the system C
 * compiler (link.c).
 *
 * The file: the parameter and result descriptions the runtime scatters
 * and assembles by, one function per loop body (a CG_SCAN step calls it
 * in a for loop), one function per variant (a comment per step names
 * the IR value, op, placement and local shapes, and for a collective why
 * it is there), a dispatcher on rt_rank(), and main() calling rt_main.
 * It compiles with `cc -std=c11 -Wall -Werror` against runtime/dtrt.h and
 * runtime/dtrt_kernels.h.
 */
#include "codegen/c_common.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "ir/ir_text.h"

typedef struct Emit {
    FILE *o;
    Arena *ar;
    const CgProgram *p;
    const CgFunc *fn;
    const char **bname; /* by buffer: C identifier */
    int nbodies, capbodies;
    const CgFunc **bodies; /* loop bodies emitted so far: body k is loop_body<k> */
} Emit;

static int body_index(const Emit *E, const CgFunc *fn)
{
    for (int k = 0; k < E->nbodies; k++)
        if (E->bodies[k] == fn)
            return k;
    DTC_BUG("c backend: a loop body was not emitted");
}

static const char *ctype(DType t)
{
    switch (t) {
    case DT_F32: return "float";
    case DT_F64: return "double";
    case DT_I32: return "int32_t";
    default: DTC_BUG("c backend: dtype without a C type");
    }
}

/* A C string literal for s. */
static const char *cstr(Arena *a, const char *s) { return cg_c_string(a, s, false); }

/* A C literal of dtype t with value x (as stored: rounded to t). */
static const char *literal(Arena *a, DType t, double x)
{
    if (t == DT_I32)
        return cg_c_i32_literal(a, x);
    if (isnan(x))
        return "NAN";
    if (isinf(x))
        return x > 0 ? "INFINITY" : "-INFINITY";
    return cg_c_float_digits(a, x, t == DT_F32);
}

static const char *local_of(Emit *E, const IrValue *v) { return cg_c_shape(E->ar, &E->fn->lt[v->id]); }

/* ---- expressions ----------------------------------------------------------------------- */

static const char *node_ref(Emit *E, const CgLoop *lp, int k)
{
    const CgNode *n = &lp->nodes[k];
    if (n->kind == CG_N_CONST)
        return literal(E->ar, n->dtype, n->f);
    return arena_printf(E->ar, "e%d", k);
}

/* The C expression of an OP node. */
static const char *op_expr(Emit *E, const CgLoop *lp, const CgNode *n)
{
    Arena *a = E->ar;
    const char *x[3];
    int nx = 0;
    for (const int *k = &n->a; k <= &n->c && *k >= 0; k++)
        x[nx++] = node_ref(E, lp, *k);
    DType t = n->dtype;
    if (n->op == OP_CAST) {
        DType from = lp->nodes[n->a].dtype;
        if (t == DT_I32)
            return from == DT_I32 ? x[0] : arena_printf(a, "rt_i32_from_double((double)%s)", x[0]);
        return arena_printf(a, "(%s)%s", ctype(t), x[0]);
    }
    const char *e = cg_c_ew_op(a, "dtk", n->op, t, x, nx, n->op == OP_POW ? literal(a, t, n->f) : NULL);
    if (!e)
        DTC_BUG("c backend: elementwise op without a form for this dtype");
    return e;
}

/* What a loop computes, for its comment: the IR ops it fuses. */
static const char *loop_summary(Emit *E, const CgLoop *lp)
{
    char *s = NULL;
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind != CG_N_OP)
            continue;
        const char *t = arena_printf(E->ar, "%s %s", cg_c_vname(E->ar, n->value), ir_op_name(n->op));
        s = s ? arena_printf(E->ar, "%s, %s", s, t) : (char *)t;
    }
    return s ? s : "copy";
}

static int loop_nops(const CgLoop *lp)
{
    int n = 0;
    for (int k = 0; k < lp->nnodes; k++)
        n += lp->nodes[k].kind == CG_N_OP;
    return n;
}

static void emit_loop(Emit *E, const CgStep *st)
{
    FILE *o = E->o;
    const CgLoop *lp = &st->loop;
    int *uses = arena_alloc(E->ar, sizeof *uses * (size_t)(lp->nnodes + 1));
    for (int k = 0; k < lp->nnodes; k++) {
        if (lp->nodes[k].a >= 0)
            uses[lp->nodes[k].a]++;
        if (lp->nodes[k].b >= 0)
            uses[lp->nodes[k].b]++;
        if (lp->nodes[k].c >= 0)
            uses[lp->nodes[k].c]++;
    }
    uses[lp->nnodes - 1]++;
    /* restrict pointers for this block only: the output never overlaps an
     * input (buffers that share workspace memory are never live together) */
    int *xid = arena_alloc(E->ar, sizeof *xid * (size_t)(lp->nnodes + 1));
    int nx = 0;
    fprintf(o, "    {\n");
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind != CG_N_LOAD || !uses[k])
            continue;
        int j = 0;
        while (j < nx && xid[j] != n->buf)
            j++;
        if (j < nx)
            continue;
        xid[nx++] = n->buf;
        fprintf(o, "        const %s *restrict x%d = %s;\n", ctype(n->dtype), j, E->bname[n->buf]);
    }
    fprintf(o, "        %s *restrict y = %s;\n", ctype(lp->out_dtype), E->bname[lp->out]);
    bool reduce = lp->red != OP_COUNT;
    DType od = lp->out_dtype;
    const char *acc_t = od == DT_I32 && lp->red == OP_SUM ? "int64_t"
                        : od == DT_I32 && lp->red != OP_MEAN ? "int32_t"
                                                            : "double";
    const char *init = lp->red == OP_MAX   ? (od == DT_I32 ? "INT32_MIN" : "-INFINITY")
                       : lp->red == OP_MIN ? (od == DT_I32 ? "INT32_MAX" : "INFINITY")
                       : !strcmp(acc_t, "double") ? "0.0"
                                                  : "0";
    int depth = 2;
    for (int l = 0; l <= lp->nloops; l++) {
        if (reduce && l == lp->nkeep) {
            cg_c_indent(o, depth);
            fprintf(o, "%s acc = %s;\n", acc_t, init);
        }
        if (l == lp->nloops)
            break;
        cg_c_indent(o, depth);
        fprintf(o, "for (int64_t i%d = 0; i%d < %lld; i%d++) {\n", l, l, (long long)lp->n[l], l);
        depth++;
    }
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind == CG_N_CONST || !uses[k])
            continue;
        cg_c_indent(o, depth);
        if (n->kind == CG_N_LOAD) {
            int j = 0;
            while (xid[j] != n->buf)
                j++;
            fprintf(o, "%s e%d = x%d[%s];", ctype(n->dtype), k, j,
                    cg_c_index(E->ar, n->base, n->stride, 0, lp->nloops));
            fprintf(o, " /* %s */\n", cg_c_vname(E->ar, n->value));
        } else if (n->kind == CG_N_IOTA) {
            fprintf(o, "%s e%d = (%s)(%s); /* %s */\n", ctype(n->dtype), k, ctype(n->dtype),
                    cg_c_index(E->ar, n->base, n->stride, 0, lp->nloops), cg_c_vname(E->ar, n->value));
        } else {
            fprintf(o, "%s e%d = %s;\n", ctype(n->dtype), k, op_expr(E, lp, n));
        }
    }
    const char *val = node_ref(E, lp, lp->nnodes - 1);
    const char *oidx = cg_c_index(E->ar, lp->out_base, lp->out_stride, 0, lp->nkeep);
    if (!reduce) {
        cg_c_indent(o, depth);
        fprintf(o, "y[%s] = %s;\n", oidx, val);
    } else {
        cg_c_indent(o, depth);
        if (lp->red == OP_SUM || lp->red == OP_MEAN)
            fprintf(o, "acc += %s;\n", val);
        else if (od == DT_I32)
            fprintf(o, "acc = dtk_%s_i32(acc, %s);\n", lp->red == OP_MAX ? "max" : "min", val);
        else
            fprintf(o, "acc = dtk_%s_f64(acc, %s);\n", lp->red == OP_MAX ? "max" : "min", val);
    }
    for (int l = lp->nloops - 1; l >= -1; l--) {
        if (reduce && l == lp->nkeep - 1) {
            const char *r = lp->red == OP_MEAN
                                ? arena_printf(E->ar, "acc / %lld.0", (long long)lp->red_count)
                                : "acc";
            cg_c_indent(o, depth);
            if (od == DT_I32 && lp->red == OP_MEAN)
                fprintf(o, "y[%s] = rt_i32_from_double(%s);\n", oidx, r);
            else if (od == DT_I32 && lp->red == OP_SUM)
                fprintf(o, "y[%s] = dtk_wrap_i32(%s);\n", oidx, r);
            else
                fprintf(o, "y[%s] = (%s)(%s);\n", oidx, ctype(od), r);
        }
        if (l < 0)
            break;
        depth--;
        cg_c_indent(o, depth);
        fprintf(o, "}\n");
    }
    fprintf(o, "    }\n");
}

/* ---- steps ------------------------------------------------------------------------------- */

static const char *where_of(Emit *E, const IrInst *i)
{
    if (!i || !i->loc.file || i->loc.line <= 0)
        return "";
    return arena_printf(E->ar, "  (%s:%d:%d)", cg_c_comment(E->ar, i->loc.file), i->loc.line, i->loc.col);
}

static void emit_step(Emit *E, int idx, const CgStep *s)
{
    FILE *o = E->o;
    Arena *a = E->ar;
    const IrInst *i = s->inst;
    const IrValue *v = i ? i->res[0] : NULL;
    const char *out = E->bname[s->out];
    const char *in0 = s->nin > 0 ? E->bname[s->in[0]] : "?", *in1 = s->nin > 1 ? E->bname[s->in[1]] : "?",
               *in2 = s->nin > 2 ? E->bname[s->in[2]] : "?";
    fprintf(o, "\n    /* [%d] ", idx);
    if (s->kind == CG_COPY && !i) {
        const CgBuf *b = &E->fn->bufs[s->out];
        fprintf(o, "%s %s: copy of %s, %lld bytes */\n", E->fn->is_body ? "carried value" : "result",
                E->fn->is_body ? arena_printf(a, "%d", b->index) : cg_c_comment(a, E->p->results[b->index].name),
                cg_c_vname(E->ar, b->value), (long long)s->count);
        fprintf(o, "    memcpy(%s, %s, %lld);\n", out, in0, (long long)s->count);
        return;
    }
    fprintf(o, "%s = %s%s%s\n", cg_c_vname(E->ar, v), ir_op_name(i->op), cg_c_args(E->ar, i), where_of(E, i));
    fprintf(o, "     *     %s, local %s", cg_c_type_pl(E->ar, &E->p->m->mesh, v), local_of(E, v));
    if (s->kind == CG_LOOP && loop_nops(&s->loop) > 1)
        fprintf(o, "\n     *     one loop for: %s", cg_c_comment(a, loop_summary(E, &s->loop)));
    if (s->kind == CG_MATMUL)
        fprintf(o, " = %s%s x %s%s", local_of(E, i->args[0]), s->ta ? " (transposed in the call)" : "",
                local_of(E, i->args[1]), s->tb ? " (transposed in the call)" : "");
    if (s->kind >= CG_ALL_REDUCE) {
        char p1[128];
        fprintf(o, "\n     *     over %s: %s -> %s", cg_c_axes(E->ar, &E->p->m->mesh, s->axes),
                pl_str(&E->p->m->mesh, &i->args[0]->pl, p1, sizeof p1), cg_c_type_pl(E->ar, &E->p->m->mesh, v));
        if (i->why)
            fprintf(o, "\n     *     why: %s", cg_c_comment(a, i->why));
        if (i->plan)
            fprintf(o, "\n     *     plan: %s", cg_c_comment(a, i->plan));
    }
    if (s->kind == CG_LOOP && s->loop.red != OP_COUNT)
        fprintf(o, "\n     *     reducing %lld elements per output element", (long long)s->loop.red_count);
    fprintf(o, " */\n");

    bool prof = s->kind != CG_RESHAPE && s->kind != CG_SCAN && s->kind < CG_ALL_REDUCE; /* collectives and loop bodies profile themselves */
    if (prof)
        fprintf(o, "    rt_prof_begin(ctx, %s, %lld);\n", cstr(a, cg_c_step_name(a, E->p, E->fn, s)),
                (long long)s->bytes);
    const char *dt = cg_c_rtype(s->dtype);
    switch (s->kind) {
    case CG_LOOP:
        emit_loop(E, s);
        break;
    case CG_MATMUL:
        if (s->a_offset) /* a block of rows (a matmul epilogue) */
            in0 = arena_printf(a, "(const char *)%s + %lld", in0, (long long)s->a_offset);
        if (s->strided) { /* views: dtk_matmul_strided */
            fprintf(o, "    {\n");
            cg_c_emit_batch_arrays(o, a, s);
            fprintf(o, "        dtk_matmul_strided(%s, %d, batch, astride, bstride, cstride, %lld, %lld, %lld, %d, %d, "
                       "%lld, %lld, %lld, %s, %s, %s);\n",
                    dt, s->nbatch, (long long)s->M, (long long)s->N, (long long)s->K, s->ta, s->tb,
                    (long long)s->lda, (long long)s->ldb, (long long)s->ldc, in0, in1, out);
            fprintf(o, "    }\n");
        } else if (s->nbatch) {
            fprintf(o, "    {\n");
            cg_c_emit_batch_arrays(o, a, s);
            fprintf(o, "        dtk_matmul(%s, %d, batch, astride, bstride, %lld, %lld, %lld, %d, %d, %s, %s, %s);\n",
                    dt, s->nbatch, (long long)s->M, (long long)s->N, (long long)s->K, s->ta, s->tb, in0, in1, out);
            fprintf(o, "    }\n");
        } else {
            fprintf(o, "    dtk_matmul(%s, 0, NULL, NULL, NULL, %lld, %lld, %lld, %d, %d, %s, %s, %s);\n", dt,
                    (long long)s->M, (long long)s->N, (long long)s->K, s->ta, s->tb, in0, in1, out);
        }
        break;
    case CG_SOFTMAX:
        fprintf(o, "    dtk_softmax(%s, %d, %lld, %lld, %lld, %s, %s);\n", dt, s->take_log, (long long)s->outer,
                (long long)s->len, (long long)s->inner, in0, out);
        break;
    case CG_NORM:
        if (s->layernorm)
            fprintf(o, "    dtk_layernorm(%s, %lld, %lld, %s, %s, %s, %s, %s);\n", dt, (long long)s->outer,
                    (long long)s->len, literal(a, DT_F64, s->eps), in0, in1, in2, out);
        else
            fprintf(o, "    dtk_rmsnorm(%s, %lld, %lld, %s, %s, %s, %s);\n", dt, (long long)s->outer,
                    (long long)s->len, literal(a, DT_F64, s->eps), in0, in1, out);
        break;
    case CG_EMBEDDING:
        fprintf(o, "    /* this rank holds table rows [%lld, %lld) of %lld: other ids give 0 rows */\n",
                (long long)s->off, (long long)(s->off + s->len), (long long)s->total);
        fprintf(o, "    dtk_embedding(ctx, %s, %s, %s, %lld, %lld, %s, %lld, %lld, %lld, %s);\n",
                cstr(a, s->where), dt, in0, (long long)s->len, (long long)s->inner, in1,
                (long long)s->outer, (long long)s->off, (long long)s->total, out);
        break;
    case CG_PICK:
        fprintf(o, "    /* this rank holds logit columns [%lld, %lld) of %lld: other labels give 0 */\n",
                (long long)s->off, (long long)(s->off + s->len), (long long)s->total);
        fprintf(o, "    dtk_pick(ctx, %s, %s, %s, %lld, %lld, %s, %lld, %lld, %s);\n", cstr(a, s->where), dt,
                in0, (long long)s->outer, (long long)s->len, in1, (long long)s->off, (long long)s->total, out);
        break;
    case CG_XENT:
        fprintf(o, "    dtk_cross_entropy(ctx, %s, %s, %s, %lld, %lld, %s, %s);\n", cstr(a, s->where), dt, in0,
                (long long)s->outer, (long long)s->len, in1, out);
        break;
    case CG_ROUTE:
        if (s->off || s->total != s->len)
            fprintf(o, "    /* this rank holds [%lld, %lld) of %lld along the axis */\n", (long long)s->off,
                    (long long)(s->off + s->len), (long long)s->total);
        fprintf(o, "    dtk_route(ctx, %s, %d, %s, %s, %lld, %lld, %lld, %lld, %lld, %lld, %s, %s, %s, %s);\n",
                cstr(a, s->where), s->route, cg_c_rtype(s->dtype2), dt, (long long)s->outer, (long long)s->len,
                (long long)s->len2, (long long)s->inner, (long long)s->off, (long long)s->total, in0,
                s->nin > 1 ? in1 : "NULL", s->nin > 2 ? in2 : "NULL", out);
        break;
    case CG_COPY:
        fprintf(o, "    memcpy(%s, %s, %lld); /* the operand is a parameter or read again: reduce a copy */\n", out,
                in0, (long long)s->count);
        break;
    case CG_RESHAPE:
        fprintf(o, "    /* no code: %s is %s's buffer (%s) under the new shape */\n", cg_c_vname(E->ar, v),
                cg_c_vname(E->ar, i->args[0]), out);
        break;
    case CG_SCAN:
        cg_c_emit_scan(o, s->scan, E->bname, "memcpy(",
                       arena_printf(a, "if (loop_body%d(ctx, bp, br, (char *)%s) != 0)\n                return 1;",
                                    body_index(E, s->scan->fn), E->bname[s->scan->ws]));
        break;
    case CG_ALL_REDUCE:
    case CG_ALL_GATHER:
    case CG_REDUCE_SCATTER:
    case CG_ALL_TO_ALL:
    case CG_COLLECTIVE_PERMUTE:
        cg_c_emit_collective(o, a, s, "rt_", "ctx", in0, out);
        break;
    case CG_WAIT:
        fprintf(o, "    rt_wait(ctx, %d); /* %s complete */\n", s->req, out);
        fprintf(o, "    (void)%s;\n", out); /* its buffers live to here, unread by the call */
        for (int k = 0; k < s->nin; k++)
            if (s->in[k] != s->out)
                fprintf(o, "    (void)%s;\n", E->bname[s->in[k]]);
        break;
    }
    if (prof)
        fprintf(o, "    rt_prof_end(ctx);\n");
}

/* ---- functions ------------------------------------------------------------------------------ */

static void emit_cg_func(Emit *E, const CgFunc *fn, int vi, int body);

/* The bodies of fn's loops (theirs first), each once. */
static void emit_bodies(Emit *E, const CgFunc *fn)
{
    for (int k = 0; k < fn->nsteps; k++) {
        if (fn->steps[k].kind != CG_SCAN)
            continue;
        const CgFunc *b = fn->steps[k].scan->fn;
        emit_bodies(E, b);
        if (E->nbodies == E->capbodies) {
            E->capbodies = E->capbodies ? 2 * E->capbodies : 8;
            const CgFunc **nb = arena_alloc(E->ar, sizeof *nb * (size_t)E->capbodies);
            if (E->nbodies)
                memcpy(nb, E->bodies, sizeof *nb * (size_t)E->nbodies);
            E->bodies = nb;
        }
        E->bodies[E->nbodies] = b;
        emit_cg_func(E, b, -1, E->nbodies);
        E->nbodies++;
    }
}

static void emit_func(Emit *E, int vi)
{
    emit_bodies(E, &E->p->variants[vi]);
    emit_cg_func(E, &E->p->variants[vi], vi, -1);
}

/* Marks in used[] the buffers steps [from, to) of fn touch. */
static void mark_used(const CgFunc *fn, int from, int to, bool *used)
{
    for (int k = from; k < to; k++) {
        const CgStep *s = &fn->steps[k];
        if (s->kind == CG_RESHAPE)
            continue;
        used[s->out] = true;
        for (int j = 0; j < s->nin; j++)
            used[s->in[j]] = true;
        for (int j = 0; s->kind == CG_LOOP && j < s->loop.nnodes; j++)
            if (s->loop.nodes[j].kind == CG_N_LOAD)
                used[s->loop.nodes[j].buf] = true;
        if (s->kind == CG_SCAN) {
            for (int j = 0; j < s->scan->nargs; j++)
                used[s->scan->args[j]] = true;
            for (int j = 0; j < s->scan->ncarry; j++)
                used[s->scan->outs[j]] = used[s->scan->next[j]] = true;
            used[s->scan->ws] = true;
        }
    }
}

/* The declarations of the buffers marked in used[]. */
static void emit_decls(Emit *E, const CgFunc *fn, const bool *used)
{
    FILE *o = E->o;
    fprintf(o, "    (void)params;\n    (void)results;\n");
    fprintf(o, "    /* buffers: local shards on these ranks */\n");
    for (int b = 0; b < fn->nbufs; b++) {
        const CgBuf *x = &fn->bufs[b];
        if (!used[b])
            continue;
        const char *t = ctype(x->dtype);
        const IrValue *v = x->value;
        switch (x->kind) {
        case CG_BUF_PARAM:
            fprintf(o, "    const %s *%s = params[%d]; /* %s %s, local %s */\n", t, E->bname[b], x->index,
                    cg_c_vname(E->ar, v), cg_c_type_pl(E->ar, &E->p->m->mesh, v), local_of(E, v));
            break;
        case CG_BUF_RESULT:
            if (fn->is_body)
                fprintf(o, "    %s *%s = results[%d]; /* next carried value %d: %s, local %s */\n", t, E->bname[b],
                        x->index, x->index, cg_c_type_pl(E->ar, &E->p->m->mesh, v), local_of(E, v));
            else
                fprintf(o, "    %s *%s = results[%d]; /* result %s: %s, local %s */\n", t, E->bname[b], x->index,
                        cg_c_comment(E->ar, E->p->results[x->index].name),
                        cg_c_type_pl(E->ar, &E->p->m->mesh, E->p->f->results[x->index]), local_of(E, v));
            break;
        case CG_BUF_WORK:
            fprintf(o, "    %s *%s = (%s *)(ws + %lld); /* %s, local %s, %lld bytes, steps %d..%d */\n", t,
                    E->bname[b], t, (long long)x->offset, cg_c_vname(E->ar, v), local_of(E, v),
                    (long long)x->bytes, x->first, x->last);
            break;
        }
    }
}

/* A variant (vi >= 0) or loop body number `body`.  Up to CG_CHUNK_STEPS
 * steps are written in the function itself; more are cut into chunks of
 * that many, each a function NAME_cJ(ctx, params, results, ws) of its own
 * declaring the buffers it touches, which the function calls in order
 * from a table: no C function grows with the program. */
static void emit_cg_func(Emit *E, const CgFunc *fn, int vi, int body)
{
    FILE *o = E->o;
    E->fn = fn;
    E->bname = arena_alloc(E->ar, sizeof *E->bname * (size_t)(fn->nbufs + 1));
    bool *used = arena_alloc(E->ar, sizeof *used * (size_t)(fn->nbufs + 1));
    CgStrMap names = {0, 0, NULL, NULL};
    for (int b = 0; b < fn->nbufs; b++) {
        const CgBuf *x = &fn->bufs[b];
        const char *n = cg_c_ident(E->ar, x->value);
        if (x->kind == CG_BUF_RESULT) { /* named after the result */
            char *r = fn->is_body ? arena_printf(E->ar, "carry%d", x->index)
                                  : arena_printf(E->ar, "res_%s", E->p->results[x->index].name);
            for (char *q = r; *q; q++)
                if (!isalnum((unsigned char)*q) && *q != '_')
                    *q = '_';
            n = r;
        }
        E->bname[b] = cg_unique_name(E->ar, &names, n, b);
    }

    const char *name = body >= 0 ? arena_printf(E->ar, "loop_body%d", body) : arena_printf(E->ar, "run_v%d", vi);
    int nchunks = fn->nsteps > CG_CHUNK_STEPS ? (fn->nsteps + CG_CHUNK_STEPS - 1) / CG_CHUNK_STEPS : 0;
    for (int j = 0; j < nchunks; j++) {
        int from = j * CG_CHUNK_STEPS, to = from + CG_CHUNK_STEPS < fn->nsteps ? from + CG_CHUNK_STEPS : fn->nsteps;
        memset(used, 0, sizeof *used * (size_t)(fn->nbufs + 1));
        mark_used(fn, from, to, used);
        fprintf(o, "/* %s, steps %d..%d */\n", name, from, to - 1);
        fprintf(o, "static int %s_c%d(rt_ctx *ctx, void *const *params, void *const *results, char *ws)\n{\n", name, j);
        fprintf(o, "    (void)ctx;\n    (void)ws;\n");
        emit_decls(E, fn, used);
        for (int k = from; k < to; k++)
            emit_step(E, k, &fn->steps[k]);
        fprintf(o, "    return 0;\n}\n\n");
    }
    memset(used, 0, sizeof *used * (size_t)(fn->nbufs + 1));
    mark_used(fn, 0, fn->nsteps, used);
    if (body >= 0) {
        fprintf(o, "/* ---- loop body %d: one trip; params = carried values, this layer's slices,\n"
                   " * captures; results = the next carried values; ws = its workspace\n", body);
        fprintf(o, " * %d steps; workspace %lld bytes */\n", fn->nsteps, (long long)fn->workspace);
        fprintf(o, "static int loop_body%d(rt_ctx *ctx, void *const *params, void *const *results, char *ws)\n{\n",
                body);
        fprintf(o, "    (void)ctx;\n    (void)ws;\n");
    } else {
        cg_c_emit_variant_title(o, E->ar, &E->p->m->mesh, fn, vi);
        fprintf(o, "\n * %d steps; workspace %lld bytes */\n", fn->nsteps, (long long)fn->workspace);
        fprintf(o, "static int run_v%d(rt_ctx *ctx, void *const *params, void *const *results)\n{\n", vi);
        if (cg_c_uses_workspace(fn, used))
            fprintf(o, "    char *ws = rt_workspace(ctx);\n");
    }
    if (nchunks > 0) {
        if (body < 0 && !cg_c_uses_workspace(fn, used))
            fprintf(o, "    char *ws = NULL;\n");
        fprintf(o, "    static int (*const chunks[%d])(rt_ctx *, void *const *, void *const *, char *) = {", nchunks);
        for (int j = 0; j < nchunks; j++)
            fprintf(o, "%s%s%s_c%d", j ? "," : "", j % 4 ? " " : "\n        ", name, j);
        fprintf(o, "};\n    for (int c = 0; c < %d; c++)\n        chunks[c](ctx, params, results, ws);\n", nchunks);
        fprintf(o, "    return 0;\n}\n\n");
        return;
    }
    emit_decls(E, fn, used);
    for (int k = 0; k < fn->nsteps; k++)
        emit_step(E, k, &fn->steps[k]);
    fprintf(o, "    return 0;\n}\n\n");
}

void cg_c_emit(FILE *o, Arena *a, const CgProgram *p, const CgOptions *opt)
{
    Emit E = {o, a, p, NULL, NULL, 0, 0, NULL};
    const IrMesh *m = &p->m->mesh;
    int nranks = ir_mesh_nranks(m);
    const char *inc, *lib;
    cg_c_runtime_dirs(a, &inc, &lib);

    fprintf(o, "/* %s.c - generated by dtc from %s; the per-rank program.\n", cg_c_comment(a, p->name),
            cg_c_comment(a, p->src_file ? p->src_file : "?"));
    fprintf(o, " *\n * mesh %s: %d rank%s, %d variant%s (ranks with the same local shapes share one).\n",
            cg_c_mesh(a, m), nranks, nranks == 1 ? "" : "s", p->nvariants, p->nvariants == 1 ? "" : "s");
    fprintf(o, " * Every step works on this rank's local shards; the runtime (runtime/dtrt.h)\n"
               " * scatters the parameters, assembles the results and runs the collectives.\n"
               " * Kernels and scalar helpers: runtime/dtrt_kernels.h.\n *\n * Build by hand:\n");
    fprintf(o, " *   cc -std=c11 -O2 -I%s %s.c %s/libdtrt.a %s/libdtrt_core.a \\\n"
               " *      $(mpicc --showme:link) -lopenblas -lm -lpthread -o %s\n",
            cg_c_comment(a, inc), cg_c_comment(a, p->name), cg_c_comment(a, lib), cg_c_comment(a, lib),
            cg_c_comment(a, p->name));
    fprintf(o, " * Run: ./%s --ranks %d   or   mpirun -np %d ./%s   (--help for options)\n */\n",
            cg_c_comment(a, p->name), nranks, nranks, cg_c_comment(a, p->name));
    (void)opt;
    fprintf(o, "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    fprintf(o, "#include \"runtime/dtrt.h\"\n#include \"runtime/dtrt_kernels.h\"\n\n");
    fprintf(o, "/* Parameters and results: global type and placement.  The runtime gives\n"
               " * `run` each rank's local shard of every parameter and takes its local\n"
               " * shard of every result (the placement of the value returned). */\n");
    cg_c_emit_descs(o, a, p, false);
    for (int v = 0; v < p->nvariants; v++)
        emit_func(&E, v);

    fprintf(o, "/* Every rank runs its variant. */\n");
    fprintf(o, "static int run(rt_ctx *ctx, void *const *params, void *const *results)\n{\n");
    if (p->nvariants == 1) {
        fprintf(o, "    return run_v0(ctx, params, results);\n}\n\n");
    } else {
        cg_c_emit_rank_switch(o, p, "ctx, params, results", true);
        fprintf(o, "}\n\n");
    }
    fprintf(o, "static const rt_program dt_program = {\n");
    fprintf(o, "    .name = NULL, /* messages use the executable's name */\n");
    fprintf(o, "    .mesh = %s,\n", cg_c_mesh_init(a, m, false));
    fprintf(o, "    .nparams = %d,\n    .params = %s,\n", p->nparams, p->nparams ? "dt_params" : "NULL");
    fprintf(o, "    .nresults = %d,\n    .results = %s,\n", p->nresults, p->nresults ? "dt_results" : "NULL");
    fprintf(o, "    .workspace_bytes = %lld,\n    .run = run,\n};\n\n", (long long)p->workspace);
    fprintf(o, "int main(int argc, char **argv)\n{\n    dtk_setup(%d);\n", nranks);
    fprintf(o, "    return rt_main(argc, argv, &dt_program);\n}\n");
}

/* ---- the backend ---------------------------------------------------------------------------- */

bool cg_c_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err)
{
    CgProgram *p = cg_lower(a, m, opt, err);
    if (!p)
        return false;
    bool ok = !strcmp(opt->emit, "c") ? cg_c_write(a, p, opt, cg_c_emit, opt->output, err)
                                      : cg_c_build_exe(a, p, opt, cg_c_emit, "c", cg_link_exe, err);
    cg_program_free(p);
    return ok;
}
