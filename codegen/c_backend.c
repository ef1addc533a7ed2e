/* c_backend.c - the C backend: prints a lowered program (lower.c) as one
 * readable C11 file and, for --emit=exe, builds it with the system C
 * compiler (link.c).
 *
 * The file: the parameter and result descriptions the runtime scatters
 * and assembles by, one function per variant (a comment per step names
 * the IR value, op, placement and local shapes, and for a collective why
 * it is there), a dispatcher on rt_rank(), and main() calling rt_main.
 * It compiles with `cc -std=c11 -Wall -Werror` against runtime/dtrt.h and
 * runtime/dtrt_kernels.h.
 */
#include "codegen/cg_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/ir_text.h"

typedef struct Emit {
    FILE *o;
    Arena *ar;
    const CgProgram *p;
    const CgFunc *fn;
    const char **bname; /* by buffer: C identifier */
} Emit;

static const char *ctype(DType t)
{
    switch (t) {
    case DT_F32: return "float";
    case DT_F64: return "double";
    case DT_I32: return "int32_t";
    default: DTC_BUG("c backend: dtype without a C type");
    }
}

static const char *rtype(DType t)
{
    static const char *const n[] = {"RT_F32", "RT_F64", "RT_I32", "RT_F16", "RT_BF16"};
    return (unsigned)t < DT_COUNT ? n[t] : "?";
}

static const char *rred(RedOp r)
{
    static const char *const n[] = {"RT_RED_SUM", "RT_RED_MAX", "RT_RED_MIN", "RT_RED_AVG"};
    return (unsigned)r <= RED_AVG ? n[r] : "?";
}

/* A C string literal for s. */
static const char *cstr(Arena *a, const char *s)
{
    if (!s)
        return "NULL";
    size_t n = strlen(s);
    char *b = arena_alloc(a, n * 4 + 3), *q = b;
    *q++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *q++ = '\\';
            *q++ = (char)*c;
        } else if (*c < 32 || *c >= 127) {
            q += sprintf(q, "\\%03o", *c);
        } else {
            *q++ = (char)*c;
        }
    }
    *q++ = '"';
    *q = 0;
    return b;
}

/* Comments must not end early. */
static const char *ctext(Arena *a, const char *s)
{
    char *b = arena_strdup(a, s ? s : "");
    for (char *q = b; *q; q++)
        if (q[0] == '*' && q[1] == '/')
            q[1] = '|';
    return b;
}

/* A C literal of dtype t with value x (as stored: rounded to t). */
static const char *literal(Arena *a, DType t, double x)
{
    if (t == DT_I32) {
        /* as rt_i32_from_double: truncation, NaN / out of range -> INT32_MIN */
        int32_t v = x > -2147483649.0 && x < 2147483648.0 ? (int32_t)x : INT32_MIN;
        return v == INT32_MIN ? "(-2147483647 - 1)" : arena_printf(a, "%d", (int)v);
    }
    if (isnan(x))
        return "NAN";
    if (isinf(x))
        return x > 0 ? "INFINITY" : "-INFINITY";
    char b[64];
    if (t == DT_F32)
        snprintf(b, sizeof b, "%.9g", (double)(float)x);
    else
        ir_float_str(x, b, sizeof b);
    if (!strpbrk(b, ".eEn"))
        strcat(b, ".0");
    return arena_printf(a, "%s%s", b, t == DT_F32 ? "f" : "");
}

static const char *vname(Emit *E, const IrValue *v) { return v ? cg_value_name(E->ar, v) : "-"; }

static const char *shape_str(Arena *a, const IrType *t)
{
    char b[256];
    size_t k = (size_t)snprintf(b, sizeof b, "[");
    for (int d = 0; d < t->rank && k < sizeof b; d++)
        k += (size_t)snprintf(b + k, sizeof b - k, "%s%lld", d ? ", " : "", (long long)t->dims[d]);
    if (k < sizeof b)
        snprintf(b + k, sizeof b - k, "]");
    return arena_strdup(a, b);
}

static const char *type_pl(Emit *E, const IrValue *v)
{
    char t[128], p[128];
    ir_type_str(&v->type, t, sizeof t);
    pl_str(&E->p->m->mesh, &v->pl, p, sizeof p);
    return arena_printf(E->ar, "%s @ %s", t, p);
}

static const char *local_of(Emit *E, const IrValue *v) { return shape_str(E->ar, &E->fn->lt[v->id]); }

static const char *axes_str(Emit *E, unsigned axes)
{
    const IrMesh *m = &E->p->m->mesh;
    char b[128];
    size_t k = 0;
    b[0] = 0;
    for (int a = 0; a < m->naxes && k < sizeof b; a++)
        if (axes >> a & 1)
            k += (size_t)snprintf(b + k, sizeof b - k, "%s%s", k ? "," : "", m->axis_name[a]);
    return arena_strdup(E->ar, b);
}

/* An identifier for a value: its source name and id, or v<id>. */
static const char *ident(Arena *a, const IrValue *v)
{
    if (!v->name)
        return arena_printf(a, "v%d", v->id);
    char *s = arena_printf(a, "%s_%d", v->name, v->id);
    for (char *q = s; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '_')
            *q = '_';
    if (isdigit((unsigned char)s[0]))
        return arena_printf(a, "v_%s", s);
    return s;
}

static const char *int_array(Arena *a, const int64_t *x, int n)
{
    char *s = arena_strdup(a, "{");
    for (int k = 0; k < n; k++)
        s = arena_printf(a, "%s%s%lld", s, k ? ", " : "", (long long)x[k]);
    return arena_printf(a, "%s}", s);
}

/* ---- the file header, descriptions ------------------------------------------------- */

static void emit_pl(Emit *E, const Placement *pl)
{
    const IrMesh *m = &E->p->m->mesh;
    fprintf(E->o, "{");
    for (int a = 0; a < m->naxes; a++) {
        static const char *const kinds[] = {"RT_PL_R", "RT_PL_S", "RT_PL_P"};
        const PlEntry *e = &pl->e[a];
        fprintf(E->o, "%s{%s, %d, %s}", a ? ", " : "", kinds[e->kind], e->kind == PL_S ? e->dim : 0,
                rred(e->kind == PL_P ? e->red : RED_SUM));
    }
    if (m->naxes == 0)
        fprintf(E->o, "{RT_PL_R, 0, RT_RED_SUM}");
    fprintf(E->o, "}");
}

static void emit_descs(Emit *E, const char *what, const CgIo *io, int n, bool params)
{
    if (n == 0)
        return;
    fprintf(E->o, "static const rt_tensor_desc %s[%d] = {\n", what, n);
    for (int k = 0; k < n; k++) {
        const CgIo *x = &io[k];
        static const char *const inits[] = {"RT_INIT_NONE",  "RT_INIT_RANDN", "RT_INIT_RAND",
                                            "RT_INIT_ZEROS", "RT_INIT_ONES",  "RT_INIT_FULL",
                                            "RT_INIT_ARANGE", "RT_INIT_LOAD"};
        char t[128], p[128];
        fprintf(E->o, "    /* %s: %s @ %s */\n", ctext(E->ar, x->name), ir_type_str(&x->type, t, sizeof t),
                pl_str(&E->p->m->mesh, &x->pl, p, sizeof p));
        fprintf(E->o, "    {%s, %s, %d, %s,\n     ", cstr(E->ar, x->name), rtype(x->type.dtype),
                x->type.rank, x->type.rank ? int_array(E->ar, x->type.dims, x->type.rank) : "{0}");
        emit_pl(E, &x->pl);
        if (params)
            fprintf(E->o, ",\n     {%s, %lluu, %.17g, %.17g, %s}", inits[x->init.kind],
                    (unsigned long long)x->init.seed, x->init.a, x->init.b,
                    x->init.kind == INIT_LOAD ? cstr(E->ar, x->init.path) : "NULL");
        else
            fprintf(E->o, ",\n     {RT_INIT_NONE, 0u, 0.0, 0.0, NULL}");
        fprintf(E->o, "},\n");
    }
    fprintf(E->o, "};\n\n");
}

/* ---- expressions ----------------------------------------------------------------------- */

static const char *node_ref(Emit *E, const CgLoop *lp, int k)
{
    const CgNode *n = &lp->nodes[k];
    if (n->kind == CG_N_CONST)
        return literal(E->ar, n->dtype, n->f);
    return arena_printf(E->ar, "e%d", k);
}

static const char *fsuffix(DType t) { return t == DT_F32 ? "f" : ""; }
static const char *tsuffix(DType t) { return t == DT_F32 ? "f32" : t == DT_F64 ? "f64" : "i32"; }

/* op on float operands x (and y) of dtype t (f32 or f64). */
static const char *float_op(Arena *a, IrOp op, DType t, const char *x, const char *y, double f)
{
    const char *fs = fsuffix(t), *s = tsuffix(t);
    switch (op) {
    case OP_NEG: return arena_printf(a, "-%s", x);
    case OP_EXP: return arena_printf(a, "exp%s(%s)", fs, x);
    case OP_LOG: return arena_printf(a, "log%s(%s)", fs, x);
    case OP_SQRT: return arena_printf(a, "sqrt%s(%s)", fs, x);
    case OP_RSQRT: return arena_printf(a, "%s / sqrt%s(%s)", literal(a, t, 1.0), fs, x);
    case OP_ABS: return arena_printf(a, "fabs%s(%s)", fs, x);
    case OP_TANH: return arena_printf(a, "tanh%s(%s)", fs, x);
    case OP_SIGMOID: return arena_printf(a, "dtk_sigmoid_%s(%s)", s, x);
    case OP_RELU: return arena_printf(a, "dtk_relu_%s(%s)", s, x);
    case OP_SILU: return arena_printf(a, "dtk_silu_%s(%s)", s, x);
    case OP_GELU: return arena_printf(a, "dtk_gelu_%s(%s)", s, x);
    case OP_POW: return arena_printf(a, "pow%s(%s, %s)", fs, x, literal(a, t, f));
    case OP_ADD: return arena_printf(a, "%s + %s", x, y);
    case OP_SUB: return arena_printf(a, "%s - %s", x, y);
    case OP_MUL: return arena_printf(a, "%s * %s", x, y);
    case OP_DIV: return arena_printf(a, "%s / %s", x, y);
    case OP_MAXIMUM: return arena_printf(a, "dtk_max_%s(%s, %s)", s, x, y);
    case OP_MINIMUM: return arena_printf(a, "dtk_min_%s(%s, %s)", s, x, y);
    default: DTC_BUG("c backend: op without a C form");
    }
}

/* The C expression of an OP node. */
static const char *op_expr(Emit *E, const CgLoop *lp, const CgNode *n)
{
    Arena *a = E->ar;
    const char *x = node_ref(E, lp, n->a), *y = n->b >= 0 ? node_ref(E, lp, n->b) : NULL;
    DType t = n->dtype;
    if (n->op == OP_CAST) {
        DType from = lp->nodes[n->a].dtype;
        if (t == DT_I32)
            return from == DT_I32 ? x : arena_printf(a, "rt_i32_from_double((double)%s)", x);
        return arena_printf(a, "(%s)%s", ctype(t), x);
    }
    if (t != DT_I32)
        return float_op(a, n->op, t, x, y, n->f);
    switch (n->op) {
    case OP_NEG: return arena_printf(a, "dtk_neg_i32(%s)", x);
    case OP_ABS: return arena_printf(a, "dtk_abs_i32(%s)", x);
    case OP_RELU: return arena_printf(a, "dtk_relu_i32(%s)", x);
    case OP_ADD: return arena_printf(a, "dtk_add_i32(%s, %s)", x, y);
    case OP_SUB: return arena_printf(a, "dtk_sub_i32(%s, %s)", x, y);
    case OP_MUL: return arena_printf(a, "dtk_mul_i32(%s, %s)", x, y);
    case OP_DIV: return arena_printf(a, "dtk_div_i32(%s, %s)", x, y);
    case OP_MAXIMUM: return arena_printf(a, "dtk_max_i32(%s, %s)", x, y);
    case OP_MINIMUM: return arena_printf(a, "dtk_min_i32(%s, %s)", x, y);
    default: /* no exact integer form: in double, truncated back (as numpy) */
        return arena_printf(a, "rt_i32_from_double(%s)",
                            float_op(a, n->op, DT_F64, arena_printf(a, "(double)%s", x),
                                     y ? arena_printf(a, "(double)%s", y) : NULL, n->f));
    }
}

/* base + i0 * s0 + ... */
static const char *index_expr(Arena *a, int64_t base, const int64_t *stride, int nloops)
{
    char *s = NULL;
    for (int l = 0; l < nloops; l++) {
        if (!stride[l])
            continue;
        const char *term = stride[l] == 1 ? arena_printf(a, "i%d", l)
                                          : arena_printf(a, "i%d * %lld", l, (long long)stride[l]);
        s = s ? arena_printf(a, "%s + %s", s, term) : (char *)term;
    }
    if (!s)
        return arena_printf(a, "%lld", (long long)base);
    return base ? arena_printf(a, "%lld + %s", (long long)base, s) : s;
}

static void indent(FILE *o, int n)
{
    for (int k = 0; k < n; k++)
        fputs("    ", o);
}

/* What a loop computes, for its comment: the IR ops it fuses. */
static const char *loop_summary(Emit *E, const CgLoop *lp)
{
    char *s = NULL;
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind != CG_N_OP)
            continue;
        const char *t = arena_printf(E->ar, "%s %s", vname(E, n->value), ir_op_name(n->op));
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
            indent(o, depth);
            fprintf(o, "%s acc = %s;\n", acc_t, init);
        }
        if (l == lp->nloops)
            break;
        indent(o, depth);
        fprintf(o, "for (int64_t i%d = 0; i%d < %lld; i%d++) {\n", l, l, (long long)lp->n[l], l);
        depth++;
    }
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind == CG_N_CONST || !uses[k])
            continue;
        indent(o, depth);
        if (n->kind == CG_N_LOAD) {
            int j = 0;
            while (xid[j] != n->buf)
                j++;
            fprintf(o, "%s e%d = x%d[%s];", ctype(n->dtype), k, j,
                    index_expr(E->ar, n->base, n->stride, lp->nloops));
            fprintf(o, " /* %s */\n", vname(E, n->value));
        } else {
            fprintf(o, "%s e%d = %s;\n", ctype(n->dtype), k, op_expr(E, lp, n));
        }
    }
    const char *val = node_ref(E, lp, lp->nnodes - 1);
    const char *oidx = index_expr(E->ar, 0, lp->out_stride, lp->nkeep);
    if (!reduce) {
        indent(o, depth);
        fprintf(o, "y[%s] = %s;\n", oidx, val);
    } else {
        indent(o, depth);
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
            indent(o, depth);
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
        indent(o, depth);
        fprintf(o, "}\n");
    }
    fprintf(o, "    }\n");
}

/* ---- steps ------------------------------------------------------------------------------- */

static const char *where_of(Emit *E, const IrInst *i)
{
    if (!i || !i->loc.file || i->loc.line <= 0)
        return "";
    return arena_printf(E->ar, "  (%s:%d:%d)", ctext(E->ar, i->loc.file), i->loc.line, i->loc.col);
}

static const char *args_str(Emit *E, const IrInst *i)
{
    char *s = arena_strdup(E->ar, "");
    for (int k = 0; i && k < i->nargs; k++)
        s = arena_printf(E->ar, "%s%s%s", s, k ? ", " : " ", vname(E, i->args[k]));
    return s;
}

static const char *prof_name(Emit *E, const CgStep *s)
{
    if (!s->inst)
        return arena_printf(E->ar, "copy to result %s", E->p->results[E->fn->bufs[s->out].index].name);
    return arena_printf(E->ar, "%s %s", ir_op_name(s->inst->op), vname(E, s->inst->res[0]));
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
        fprintf(o, "result %s: copy of %s, %lld bytes */\n", ctext(a, E->p->results[b->index].name),
                vname(E, b->value), (long long)s->count);
        fprintf(o, "    memcpy(%s, %s, %lld);\n", out, in0, (long long)s->count);
        return;
    }
    fprintf(o, "%s = %s%s%s\n", vname(E, v), ir_op_name(i->op), args_str(E, i), where_of(E, i));
    fprintf(o, "     *     %s, local %s", type_pl(E, v), local_of(E, v));
    if (s->kind == CG_LOOP && loop_nops(&s->loop) > 1)
        fprintf(o, "\n     *     one loop for: %s", ctext(a, loop_summary(E, &s->loop)));
    if (s->kind == CG_MATMUL)
        fprintf(o, " = %s%s x %s%s", local_of(E, i->args[0]), s->ta ? " (transposed in the call)" : "",
                local_of(E, i->args[1]), s->tb ? " (transposed in the call)" : "");
    if (s->kind >= CG_ALL_REDUCE) {
        char p1[128];
        fprintf(o, "\n     *     over %s: %s -> %s", axes_str(E, s->axes),
                pl_str(&E->p->m->mesh, &i->args[0]->pl, p1, sizeof p1), type_pl(E, v));
        if (i->why)
            fprintf(o, "\n     *     why: %s", ctext(a, i->why));
        if (i->plan)
            fprintf(o, "\n     *     plan: %s", ctext(a, i->plan));
    }
    if (s->kind == CG_LOOP && s->loop.red != OP_COUNT)
        fprintf(o, "\n     *     reducing %lld elements per output element", (long long)s->loop.red_count);
    fprintf(o, " */\n");

    bool prof = s->kind != CG_RESHAPE && s->kind < CG_ALL_REDUCE; /* collectives profile themselves */
    if (prof)
        fprintf(o, "    rt_prof_begin(ctx, %s, %lld);\n", cstr(a, prof_name(E, s)), (long long)s->bytes);
    const char *dt = rtype(s->dtype);
    switch (s->kind) {
    case CG_LOOP:
        emit_loop(E, s);
        break;
    case CG_MATMUL:
        if (s->nbatch) {
            fprintf(o, "    {\n");
            fprintf(o, "        static const int64_t batch[%d] = %s;\n", s->nbatch, int_array(a, s->batch, s->nbatch));
            fprintf(o, "        static const int64_t astride[%d] = %s;\n", s->nbatch, int_array(a, s->astride, s->nbatch));
            fprintf(o, "        static const int64_t bstride[%d] = %s;\n", s->nbatch, int_array(a, s->bstride, s->nbatch));
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
    case CG_COPY:
        fprintf(o, "    memcpy(%s, %s, %lld); /* the operand is a parameter or read again: reduce a copy */\n", out,
                in0, (long long)s->count);
        break;
    case CG_RESHAPE:
        fprintf(o, "    /* no code: %s is %s's buffer (%s) under the new shape */\n", vname(E, v),
                vname(E, i->args[0]), out);
        break;
    case CG_ALL_REDUCE:
        fprintf(o, "    rt_all_reduce(ctx, 0x%xu, %s, %s, %lld, %s); /* in place */\n", s->axes, dt, out,
                (long long)s->count, rred(s->red));
        break;
    case CG_ALL_GATHER:
    case CG_REDUCE_SCATTER:
    case CG_ALL_TO_ALL:
        fprintf(o, "    {\n");
        fprintf(o, "        static const int64_t dims[%d] = %s; /* local shape sent */\n", s->rank,
                int_array(a, s->dims, s->rank));
        fprintf(o, "        static const int64_t lens[%d] = %s; /* member lengths along dim %d */\n",
                s->nmembers, int_array(a, s->lens, s->nmembers), s->kind == CG_ALL_TO_ALL ? s->dim2 : s->dim);
        if (s->kind == CG_ALL_GATHER)
            fprintf(o, "        rt_all_gather(ctx, 0x%xu, %s, %s, %s, %d, dims, %d, lens);\n", s->axes, dt, in0,
                    out, s->rank, s->dim);
        else if (s->kind == CG_REDUCE_SCATTER)
            fprintf(o, "        rt_reduce_scatter(ctx, 0x%xu, %s, %s, %s, %d, dims, %d, lens, %s);\n", s->axes,
                    dt, in0, out, s->rank, s->dim, rred(s->red));
        else {
            fprintf(o, "        static const int64_t cat_lens[%d] = %s; /* member lengths along dim %d */\n",
                    s->nmembers, int_array(a, s->lens2, s->nmembers), s->dim);
            fprintf(o, "        rt_all_to_all(ctx, 0x%xu, %s, %s, %s, %d, dims, %d, lens, %d, cat_lens);\n",
                    s->axes, dt, in0, out, s->rank, s->dim2, s->dim);
        }
        fprintf(o, "    }\n");
        break;
    }
    if (prof)
        fprintf(o, "    rt_prof_end(ctx);\n");
}

/* ---- functions ------------------------------------------------------------------------------ */

static const char *coords_str(Emit *E, int rank)
{
    const IrMesh *m = &E->p->m->mesh;
    int c[IR_MAX_AXES];
    ir_mesh_coords(m, rank, c);
    char *s = arena_printf(E->ar, "%d (", rank);
    for (int a = 0; a < m->naxes; a++)
        s = arena_printf(E->ar, "%s%s%s=%d", s, a ? ", " : "", m->axis_name[a], c[a]);
    return arena_printf(E->ar, "%s)", s);
}

static void emit_func(Emit *E, int vi)
{
    FILE *o = E->o;
    const CgFunc *fn = &E->p->variants[vi];
    E->fn = fn;
    E->bname = arena_alloc(E->ar, sizeof *E->bname * (size_t)(fn->nbufs + 1));
    bool *used = arena_alloc(E->ar, sizeof *used * (size_t)(fn->nbufs + 1));
    for (int k = 0; k < fn->nsteps; k++) {
        const CgStep *s = &fn->steps[k];
        if (s->kind == CG_RESHAPE)
            continue;
        used[s->out] = true;
        for (int j = 0; j < s->nin; j++)
            used[s->in[j]] = true;
        for (int j = 0; s->kind == CG_LOOP && j < s->loop.nnodes; j++)
            if (s->loop.nodes[j].kind == CG_N_LOAD)
                used[s->loop.nodes[j].buf] = true;
    }
    for (int b = 0; b < fn->nbufs; b++) {
        const CgBuf *x = &fn->bufs[b];
        const char *n = ident(E->ar, x->value);
        if (x->kind == CG_BUF_RESULT) { /* named after the result */
            char *r = arena_printf(E->ar, "res_%s", E->p->results[x->index].name);
            for (char *q = r; *q; q++)
                if (!isalnum((unsigned char)*q) && *q != '_')
                    *q = '_';
            n = r;
        }
        for (int c = 0; c < b; c++) /* unique */
            if (!strcmp(E->bname[c], n))
                n = arena_printf(E->ar, "%s_b%d", n, b);
        E->bname[b] = n;
    }

    fprintf(o, "/* ---- variant %d: rank%s", vi, fn->nranks == 1 ? "" : "s");
    for (int k = 0; k < fn->nranks; k++)
        fprintf(o, "%s %s", k ? "," : "", coords_str(E, fn->ranks[k]));
    fprintf(o, "\n * %d steps; workspace %lld bytes */\n", fn->nsteps, (long long)fn->workspace);
    fprintf(o, "static int run_v%d(rt_ctx *ctx, void *const *params, void *const *results)\n{\n", vi);
    bool ws = false;
    for (int b = 0; b < fn->nbufs; b++)
        ws |= used[b] && fn->bufs[b].kind == CG_BUF_WORK;
    if (ws)
        fprintf(o, "    char *ws = rt_workspace(ctx);\n");
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
                    vname(E, v), type_pl(E, v), local_of(E, v));
            break;
        case CG_BUF_RESULT:
            fprintf(o, "    %s *%s = results[%d]; /* result %s: %s, local %s */\n", t, E->bname[b], x->index,
                    ctext(E->ar, E->p->results[x->index].name), type_pl(E, E->p->f->results[x->index]),
                    local_of(E, v));
            break;
        case CG_BUF_WORK:
            fprintf(o, "    %s *%s = (%s *)(ws + %lld); /* %s, local %s, %lld bytes, steps %d..%d */\n", t,
                    E->bname[b], t, (long long)x->offset, vname(E, v), local_of(E, v), (long long)x->bytes,
                    x->first, x->last);
            break;
        }
    }
    for (int k = 0; k < fn->nsteps; k++)
        emit_step(E, k, &fn->steps[k]);
    fprintf(o, "    return 0;\n}\n\n");
}

void cg_c_emit(FILE *o, Arena *a, const CgProgram *p, const CgOptions *opt)
{
    Emit E = {o, a, p, NULL, NULL};
    const IrMesh *m = &p->m->mesh;
    int nranks = ir_mesh_nranks(m);
    char mb[256];
    size_t k = (size_t)snprintf(mb, sizeof mb, "%s[", m->name ? m->name : "M");
    for (int x = 0; x < m->naxes && k < sizeof mb; x++)
        k += (size_t)snprintf(mb + k, sizeof mb - k, "%s%s=%d", x ? ", " : "", m->axis_name[x], m->size[x]);
    if (k < sizeof mb)
        snprintf(mb + k, sizeof mb - k, "]");
    CgRuntime rt;
    FILE *devnull = fopen("/dev/null", "w");
    bool have_rt = cg_find_runtime(a, &rt, devnull ? devnull : stderr);
    if (devnull)
        fclose(devnull);

    fprintf(o, "/* %s.c - generated by dtc from %s; the per-rank program.\n", ctext(a, p->name),
            ctext(a, p->src_file ? p->src_file : "?"));
    fprintf(o, " *\n * mesh %s: %d rank%s, %d variant%s (ranks with the same local shapes share one).\n",
            mb, nranks, nranks == 1 ? "" : "s", p->nvariants, p->nvariants == 1 ? "" : "s");
    fprintf(o, " * Every step works on this rank's local shards; the runtime (runtime/dtrt.h)\n"
               " * scatters the parameters, assembles the results and runs the collectives.\n"
               " * Kernels and scalar helpers: runtime/dtrt_kernels.h.\n *\n * Build by hand:\n");
    fprintf(o, " *   cc -std=c11 -O2 -I%s %s.c %s/libdtrt.a %s/libdtrt_core.a \\\n"
               " *      $(mpicc --showme:link) -lopenblas -lm -lpthread -o %s\n",
            ctext(a, have_rt ? rt.include_dir : "DTC_SOURCE"), ctext(a, p->name),
            ctext(a, have_rt ? rt.lib_dir : "DTC_BUILD"), ctext(a, have_rt ? rt.lib_dir : "DTC_BUILD"),
            ctext(a, p->name));
    fprintf(o, " * Run: ./%s --ranks %d   or   mpirun -np %d ./%s   (--help for options)\n */\n",
            ctext(a, p->name), nranks, nranks, ctext(a, p->name));
    (void)opt;
    fprintf(o, "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    fprintf(o, "#include \"runtime/dtrt.h\"\n#include \"runtime/dtrt_kernels.h\"\n\n");
    fprintf(o, "/* Parameters and results: global type and placement.  The runtime gives\n"
               " * `run` each rank's local shard of every parameter and takes its local\n"
               " * shard of every result (the placement of the value returned). */\n");
    emit_descs(&E, "dt_params", p->params, p->nparams, true);
    emit_descs(&E, "dt_results", p->results, p->nresults, false);
    for (int v = 0; v < p->nvariants; v++)
        emit_func(&E, v);

    fprintf(o, "/* Every rank runs its variant. */\n");
    fprintf(o, "static int run(rt_ctx *ctx, void *const *params, void *const *results)\n{\n");
    if (p->nvariants == 1) {
        fprintf(o, "    return run_v0(ctx, params, results);\n}\n\n");
    } else {
        fprintf(o, "    switch (rt_rank(ctx)) {\n");
        for (int v = 0; v < p->nvariants; v++) {
            const CgFunc *fn = &p->variants[v];
            fprintf(o, "   ");
            for (int r = 0; r < fn->nranks; r++)
                fprintf(o, " case %d:", fn->ranks[r]);
            fprintf(o, "\n        return run_v%d(ctx, params, results);\n", v);
        }
        fprintf(o, "    default:\n        rt_fail(ctx, \"rank %%d is not on the mesh\", rt_rank(ctx));\n");
        fprintf(o, "    }\n}\n\n");
    }
    fprintf(o, "static const rt_program dt_program = {\n");
    fprintf(o, "    .name = NULL, /* messages use the executable's name */\n");
    fprintf(o, "    .mesh = {%s, %d, {", cstr(a, m->name ? m->name : "M"), m->naxes);
    for (int x = 0; x < m->naxes; x++)
        fprintf(o, "%s%s", x ? ", " : "", cstr(a, m->axis_name[x]));
    if (!m->naxes)
        fprintf(o, "NULL");
    fprintf(o, "}, {");
    for (int x = 0; x < m->naxes; x++)
        fprintf(o, "%s%d", x ? ", " : "", m->size[x]);
    if (!m->naxes)
        fprintf(o, "0");
    fprintf(o, "}},\n");
    fprintf(o, "    .nparams = %d,\n    .params = %s,\n", p->nparams, p->nparams ? "dt_params" : "NULL");
    fprintf(o, "    .nresults = %d,\n    .results = %s,\n", p->nresults, p->nresults ? "dt_results" : "NULL");
    fprintf(o, "    .workspace_bytes = %lld,\n    .run = run,\n};\n\n", (long long)p->workspace);
    fprintf(o, "int main(int argc, char **argv)\n{\n    dtk_setup(%d);\n", nranks);
    fprintf(o, "    return rt_main(argc, argv, &dt_program);\n}\n");
}

/* ---- the backend ---------------------------------------------------------------------------- */

static bool write_c(Arena *a, const CgProgram *p, const CgOptions *opt, const char *path, FILE *err)
{
    FILE *o = fopen(path, "w");
    if (!o) {
        fprintf(err, "dtc: error: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    cg_c_emit(o, a, p, opt);
    if (ferror(o) | (fclose(o) != 0)) {
        fprintf(err, "dtc: error: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

bool cg_c_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err)
{
    CgProgram *p = cg_lower(a, m, opt, err);
    if (!p)
        return false;
    if (!strcmp(opt->emit, "c"))
        return write_c(a, p, opt, opt->output, err);
    const char *tmp = getenv("TMPDIR");
    char *dir = arena_printf(a, "%s/dtc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(err, "dtc: error: cannot create a temporary directory '%s': %s\n", dir, strerror(errno));
        return false;
    }
    const char *c_path = arena_printf(a, "%s/%s.c", dir, p->name);
    bool ok = write_c(a, p, opt, c_path, err) && cg_link_exe(a, c_path, opt, err);
    unlink(c_path);
    rmdir(dir);
    return ok;
}
