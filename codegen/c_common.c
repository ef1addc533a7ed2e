/* c_common.c - the C-text helpers shared by the C and CUDA emitters
 * (see c_common.h): small functions that turn dtypes, values, shapes,
 * placements, expressions and the program's descriptions into C text.
 */
#include "codegen/c_common.h"
#include "ir/ew.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/ir_text.h"
#include "runtime/core/rt_core.h"

/* ---- names and literals ---------------------------------------------------------- */

const char *cg_c_rtype(DType t)
{
    static const char *const n[] = {"RT_F32", "RT_F64", "RT_I32", "RT_F16", "RT_BF16"};
    return (unsigned)t < DT_COUNT ? n[t] : "?";
}

const char *cg_c_rred(RedOp r)
{
    static const char *const n[] = {"RT_RED_SUM", "RT_RED_MAX", "RT_RED_MIN", "RT_RED_AVG"};
    return (unsigned)r <= RED_AVG ? n[r] : "?";
}

const char *cg_c_string(Arena *a, const char *s, bool cxx)
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
        } else if (*c < 32 || *c >= 127 || (cxx && *c == '?')) { /* '?': no trigraphs */
            q += sprintf(q, "\\%03o", *c);
        } else {
            *q++ = (char)*c;
        }
    }
    *q++ = '"';
    *q = 0;
    return b;
}

const char *cg_c_comment(Arena *a, const char *s)
{
    char *b = arena_strdup(a, s ? s : "");
    for (char *q = b; *q; q++)
        if (q[0] == '*' && q[1] == '/')
            q[1] = '|';
    return b;
}

const char *cg_c_i32_literal(Arena *a, double x)
{
    int32_t v = rt_i32_from_double(x);
    return v == INT32_MIN ? "(-2147483647 - 1)" : arena_printf(a, "%d", (int)v);
}

const char *cg_c_float_digits(Arena *a, double x, bool f32)
{
    char b[64];
    if (f32)
        snprintf(b, sizeof b, "%.9g", (double)(float)x);
    else
        ir_float_str(x, b, sizeof b);
    if (!strpbrk(b, ".eEn"))
        strcat(b, ".0");
    return arena_printf(a, "%s%s", b, f32 ? "f" : "");
}

const char *cg_c_ident(Arena *a, const IrValue *v)
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

const char *cg_c_int_array(Arena *a, const int64_t *x, int n)
{
    char *s = arena_strdup(a, "{");
    for (int k = 0; k < n; k++)
        s = arena_printf(a, "%s%s%lld", s, k ? ", " : "", (long long)x[k]);
    return arena_printf(a, "%s}", s);
}

/* ---- text for comments --------------------------------------------------------------- */

const char *cg_c_vname(Arena *a, const IrValue *v) { return v ? cg_value_name(a, v) : "-"; }

const char *cg_c_shape(Arena *a, const IrType *t)
{
    char *s = arena_strdup(a, "[");
    for (int d = 0; d < t->rank; d++)
        s = arena_printf(a, "%s%s%lld", s, d ? ", " : "", (long long)t->dims[d]);
    return arena_printf(a, "%s]", s);
}

const char *cg_c_type_pl(Arena *a, const IrMesh *m, const IrValue *v)
{
    char t[128], p[128];
    ir_type_str(&v->type, t, sizeof t);
    pl_str(m, &v->pl, p, sizeof p);
    return arena_printf(a, "%s @ %s", t, p);
}

const char *cg_c_axes(Arena *a, const IrMesh *m, unsigned axes)
{
    char *s = arena_strdup(a, "");
    for (int x = 0; x < m->naxes; x++)
        if (axes >> x & 1)
            s = arena_printf(a, "%s%s%s", s, *s ? "," : "", m->axis_name[x]);
    return s;
}

const char *cg_c_mesh(Arena *a, const IrMesh *m)
{
    char *s = arena_printf(a, "%s[", m->name ? m->name : "M");
    for (int x = 0; x < m->naxes; x++)
        s = arena_printf(a, "%s%s%s=%d", s, x ? ", " : "", m->axis_name[x], m->size[x]);
    return arena_printf(a, "%s]", s);
}

const char *cg_c_coords(Arena *a, const IrMesh *m, int rank)
{
    int c[IR_MAX_AXES];
    ir_mesh_coords(m, rank, c);
    char *s = arena_printf(a, "%d (", rank);
    for (int x = 0; x < m->naxes; x++)
        s = arena_printf(a, "%s%s%s=%d", s, x ? ", " : "", m->axis_name[x], c[x]);
    return arena_printf(a, "%s)", s);
}

const char *cg_c_args(Arena *a, const IrInst *i)
{
    char *s = arena_strdup(a, "");
    for (int k = 0; i && k < i->nargs; k++)
        s = arena_printf(a, "%s%s%s", s, k ? ", " : " ", cg_c_vname(a, i->args[k]));
    return s;
}

const char *cg_site(Arena *a, const IrInst *i)
{
    if (!i || !i->loc.file || i->loc.line <= 0)
        return NULL;
    const char *base = strrchr(i->loc.file, '/');
    return arena_printf(a, "%s:%d:%d", base ? base + 1 : i->loc.file, i->loc.line, i->loc.col);
}

const char *cg_c_step_name(Arena *a, const CgProgram *p, const CgFunc *fn, const CgStep *s)
{
    if (!s->inst && fn->is_body)
        return arena_printf(a, "copy to carried value %d", fn->bufs[s->out].index);
    if (!s->inst)
        return arena_printf(a, "copy to result %s", p->results[fn->bufs[s->out].index].name);
    const char *site = cg_site(a, s->inst);
    if (site)
        return arena_printf(a, "%s %s", site, ir_op_name(s->inst->op));
    return arena_printf(a, "%s %s", ir_op_name(s->inst->op), cg_c_vname(a, s->inst->res[0]));
}

void cg_c_indent(FILE *o, int n)
{
    for (int k = 0; k < n; k++)
        fputs("    ", o);
}

void cg_c_emit_variant_title(FILE *o, Arena *a, const IrMesh *m, const CgFunc *fn, int vi)
{
    fprintf(o, "/* ---- variant %d: rank%s", vi, fn->nranks == 1 ? "" : "s");
    for (int k = 0; k < fn->nranks; k++)
        fprintf(o, "%s %s", k ? "," : "", cg_c_coords(a, m, fn->ranks[k]));
}

bool cg_c_uses_workspace(const CgFunc *fn, const bool *used)
{
    for (int b = 0; b < fn->nbufs; b++)
        if (used[b] && fn->bufs[b].kind == CG_BUF_WORK)
            return true;
    return false;
}

/* ---- what the runtime reads ------------------------------------------------------------- */

/* A placement as rt_pl_entry[naxes] (one replicated entry for no axes). */
static void emit_pl(FILE *o, const IrMesh *m, const Placement *pl)
{
    static const char *const kinds[] = {"RT_PL_R", "RT_PL_S", "RT_PL_P"};
    fprintf(o, "{");
    for (int x = 0; x < m->naxes; x++) {
        const PlEntry *e = &pl->e[x];
        fprintf(o, "%s{%s, %d, %s}", x ? ", " : "", kinds[e->kind], e->kind == PL_S ? e->dim : 0,
                cg_c_rred(e->kind == PL_P ? e->red : RED_SUM));
    }
    if (m->naxes == 0)
        fprintf(o, "{RT_PL_R, 0, RT_RED_SUM}");
    fprintf(o, "}");
}

/* One table; params: with their initializers. */
static void emit_desc_table(FILE *o, Arena *a, const IrMesh *m, const char *what, const CgIo *io, int n,
                            bool params, bool cxx)
{
    static const char *const inits[] = {"RT_INIT_NONE",  "RT_INIT_RANDN", "RT_INIT_RAND",
                                        "RT_INIT_ZEROS", "RT_INIT_ONES",  "RT_INIT_FULL",
                                        "RT_INIT_ARANGE", "RT_INIT_LOAD"};
    if (n == 0)
        return;
    fprintf(o, "static const rt_tensor_desc %s[%d] = {\n", what, n);
    for (int k = 0; k < n; k++) {
        const CgIo *x = &io[k];
        char t[128], p[128];
        fprintf(o, "    /* %s: %s @ %s */\n", cg_c_comment(a, x->name), ir_type_str(&x->type, t, sizeof t),
                pl_str(m, &x->pl, p, sizeof p));
        fprintf(o, "    {%s, %s, %d, %s,\n     ", cg_c_string(a, x->name, cxx), cg_c_rtype(x->type.dtype),
                x->type.rank, x->type.rank ? cg_c_int_array(a, x->type.dims, x->type.rank) : "{0}");
        emit_pl(o, m, &x->pl);
        if (params)
            fprintf(o, ",\n     {%s, %lluu, %.17g, %.17g, %s, %d}, -1", inits[x->init.kind],
                    (unsigned long long)x->init.seed, x->init.a, x->init.b,
                    x->init.kind == INIT_LOAD ? cg_c_string(a, x->init.path, cxx) : "NULL",
                    x->init.per_step ? 1 : 0);
        else
            fprintf(o, ",\n     {RT_INIT_NONE, 0u, 0.0, 0.0, NULL, 0}, %d", x->feeds);
        fprintf(o, "},\n");
    }
    fprintf(o, "};\n\n");
}

void cg_c_emit_descs(FILE *o, Arena *a, const CgProgram *p, bool cxx)
{
    const IrMesh *m = &p->m->mesh;
    emit_desc_table(o, a, m, "dt_params", p->params, p->nparams, true, cxx);
    emit_desc_table(o, a, m, "dt_results", p->results, p->nresults, false, cxx);
}

const char *cg_c_mesh_init(Arena *a, const IrMesh *m, bool cxx)
{
    char *s = arena_printf(a, "{%s, %d, {", cg_c_string(a, m->name ? m->name : "M", cxx), m->naxes);
    for (int x = 0; x < m->naxes; x++)
        s = arena_printf(a, "%s%s%s", s, x ? ", " : "", cg_c_string(a, m->axis_name[x], cxx));
    if (!m->naxes)
        s = arena_printf(a, "%sNULL", s);
    s = arena_printf(a, "%s}, {", s);
    for (int x = 0; x < m->naxes; x++)
        s = arena_printf(a, "%s%s%d", s, x ? ", " : "", m->size[x]);
    if (!m->naxes)
        s = arena_printf(a, "%s0", s);
    return arena_printf(a, "%s}}", s);
}

void cg_c_emit_batch_arrays(FILE *o, Arena *a, const CgStep *s)
{
    fprintf(o, "        static const int64_t batch[%d] = %s;\n", s->nbatch, cg_c_int_array(a, s->batch, s->nbatch));
    fprintf(o, "        static const int64_t astride[%d] = %s;\n", s->nbatch, cg_c_int_array(a, s->astride, s->nbatch));
    fprintf(o, "        static const int64_t bstride[%d] = %s;\n", s->nbatch, cg_c_int_array(a, s->bstride, s->nbatch));
    if (s->strided)
        fprintf(o, "        static const int64_t cstride[%d] = %s;\n", s->nbatch,
                cg_c_int_array(a, s->cstride, s->nbatch));
}

void cg_c_emit_collective(FILE *o, Arena *a, const CgStep *s, const char *pre, const char *ctx_args,
                          const char *in0, const char *out)
{
    const char *dt = cg_c_rtype(s->dtype);
    const char *site = cg_site(a, s->inst);
    if (site) /* names the collective in the profile, the trace and messages */
        fprintf(o, "    rt_site(ctx, %s);\n", cg_c_string(a, site, true));
    const char *start = ""; /* an async one: rt_*_start under its handle */
    if (s->req >= 0) {
        start = "_start";
        ctx_args = arena_printf(a, "%s, %d", ctx_args, s->req);
    }
    if (s->kind == CG_COLLECTIVE_PERMUTE) {
        fprintf(o, "    %scollective_permute%s(%s, 0x%xu, %s, %s, %s, %lld, %d, %d); /* to member %d, from %d */\n",
                pre, start, ctx_args, s->axes, dt, in0, out, (long long)s->count, s->dest, s->src, s->dest, s->src);
        return;
    }
    if (s->kind == CG_ALL_REDUCE) {
        fprintf(o, "    %sall_reduce%s(%s, 0x%xu, %s, %s, %lld, %s); /* in place */\n", pre, start, ctx_args, s->axes,
                dt, out, (long long)s->count, cg_c_rred(s->red));
        return;
    }
    fprintf(o, "    {\n");
    fprintf(o, "        static const int64_t dims[%d] = %s; /* local shape sent */\n", s->rank,
            cg_c_int_array(a, s->dims, s->rank));
    fprintf(o, "        static const int64_t lens[%d] = %s; /* member lengths along dim %d */\n", s->nmembers,
            cg_c_int_array(a, s->lens, s->nmembers), s->kind == CG_ALL_TO_ALL ? s->dim2 : s->dim);
    if (s->kind == CG_ALL_GATHER) {
        fprintf(o, "        %sall_gather%s(%s, 0x%xu, %s, %s, %s, %d, dims, %d, lens);\n", pre, start, ctx_args,
                s->axes, dt, in0, out, s->rank, s->dim);
    } else if (s->kind == CG_REDUCE_SCATTER) {
        fprintf(o, "        %sreduce_scatter%s(%s, 0x%xu, %s, %s, %s, %d, dims, %d, lens, %s);\n", pre, start,
                ctx_args, s->axes, dt, in0, out, s->rank, s->dim, cg_c_rred(s->red));
    } else {
        fprintf(o, "        static const int64_t cat_lens[%d] = %s; /* member lengths along dim %d */\n",
                s->nmembers, cg_c_int_array(a, s->lens2, s->nmembers), s->dim);
        fprintf(o, "        %sall_to_all%s(%s, 0x%xu, %s, %s, %s, %d, dims, %d, lens, %d, cat_lens);\n", pre,
                start, ctx_args, s->axes, dt, in0, out, s->rank, s->dim2, s->dim);
    }
    fprintf(o, "    }\n");
}

void cg_c_emit_rank_switch(FILE *o, const CgProgram *p, const char *args, bool returns)
{
    fprintf(o, "    switch (rt_rank(ctx)) {\n");
    for (int v = 0; v < p->nvariants; v++) {
        const CgFunc *fn = &p->variants[v];
        fprintf(o, "   ");
        for (int r = 0; r < fn->nranks; r++)
            fprintf(o, " case %d:", fn->ranks[r]);
        fprintf(o, "\n        %srun_v%d(%s);\n%s", returns ? "return " : "", v, args,
                returns ? "" : "        break;\n");
    }
    fprintf(o, "    default:\n        rt_fail(ctx, \"rank %%d is not on the mesh\", rt_rank(ctx));\n");
    fprintf(o, "    }\n");
}

void cg_c_runtime_dirs(Arena *a, const char **inc, const char **lib)
{
    CgRuntime rt;
    FILE *devnull = fopen("/dev/null", "w");
    bool have_rt = cg_find_runtime(a, &rt, devnull ? devnull : stderr);
    if (devnull)
        fclose(devnull);
    *inc = have_rt ? rt.include_dir : "DTC_SOURCE";
    *lib = have_rt ? rt.lib_dir : "DTC_BUILD";
}

/* ---- expressions ------------------------------------------------------------------------ */

const char *cg_c_ew_op(Arena *a, const char *pre, IrOp op, DType compute, const char *const *x, int nx,
                       const char *lit)
{
    const IrEwInfo *e = ir_ew_info(op);
    if (!e)
        DTC_BUG("codegen: op without a C form");
    bool i32 = compute == DT_I32, dbl = compute == DT_F64;
    const char *tmpl = i32 ? e->c_i : e->c_f;
    if (!tmpl)
        return NULL;
    return ir_ew_expand(a, tmpl, x, nx, dbl || i32 ? "" : "f", i32 ? "i32" : dbl ? "f64" : "f32", pre,
                        i32 ? "int32_t" : dbl ? "double" : "float", lit);
}

const char *cg_c_index(Arena *a, int64_t base, const int64_t *stride, int from, int to)
{
    char *s = NULL;
    for (int l = from; l < to; l++) {
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

/* ---- files ------------------------------------------------------------------------------ */

bool cg_c_write(Arena *a, const CgProgram *p, const CgOptions *opt, CgEmitFn *emit, const char *path,
                FILE *err)
{
    FILE *o = fopen(path, "w");
    if (!o) {
        fprintf(err, "dtc: error: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    PhaseClock t = phase_clock();
    emit(o, a, p, opt);
    if (ferror(o) | (fclose(o) != 0)) {
        fprintf(err, "dtc: error: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    phase_time(opt->time_passes, "emit", t);
    return true;
}

bool cg_c_build_exe(Arena *a, const CgProgram *p, const CgOptions *opt, CgEmitFn *emit, const char *ext,
                    CgLinkFn *link, FILE *err)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = arena_printf(a, "%s/dtc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(err, "dtc: error: cannot create a temporary directory '%s': %s\n", dir, strerror(errno));
        return false;
    }
    const char *path = arena_printf(a, "%s/%s.%s", dir, p->name, ext);
    bool ok = cg_c_write(a, p, opt, emit, path, err);
    PhaseClock t = phase_clock();
    ok = ok && link(a, path, opt, err);
    if (ok)
        phase_time(opt->time_passes, "link", t);
    unlink(path);
    rmdir(dir);
    return ok;
}

void cg_c_emit_scan(FILE *o, const CgScan *sc, const char *const *bname, const char *copy, const char *call)
{
    fprintf(o, "    {\n        void *bp[%d], *br[%d];\n", sc->nargs ? sc->nargs : 1, sc->ncarry ? sc->ncarry : 1);
    for (int k = 0; k < sc->ncarry; k++)
        fprintf(o, "        %s%s, %s, %lld); /* carried value %d starts as the operand */\n", copy,
                bname[sc->outs[k]], bname[sc->args[k]], (long long)sc->carry_bytes[k], k);
    fprintf(o, "        for (int64_t l = 0; l < %lld; l++) {\n", (long long)sc->trip);
    for (int k = 0; k < sc->nargs; k++) {
        if (k >= sc->ncarry && k < sc->ncarry + sc->nstack)
            fprintf(o, "            bp[%d] = (void *)((const char *)%s + l * %lld); /* layer l */\n", k,
                    bname[sc->args[k]], (long long)sc->slice_bytes[k]);
        else
            fprintf(o, "            bp[%d] = (void *)%s;\n", k, bname[k < sc->ncarry ? sc->outs[k] : sc->args[k]]);
    }
    for (int k = 0; k < sc->ncarry; k++)
        fprintf(o, "            br[%d] = (void *)%s;\n", k, bname[sc->next[k]]);
    fprintf(o, "            %s\n", call);
    for (int k = 0; k < sc->ncarry; k++)
        fprintf(o, "            %s%s, %s, %lld);\n", copy, bname[sc->outs[k]], bname[sc->next[k]],
                (long long)sc->carry_bytes[k]);
    fprintf(o, "        }\n    }\n");
}
