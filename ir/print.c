/* print.c - the IR text form, printing side (ir_print, ir_print_func,
 * ir_print_stage; parse.c reads the same grammar back).
 *
 * The text carries everything in the IR structures, deterministically, so
 * that print -> parse -> print is the identity on text.  Grammar ('#' starts
 * a comment to the end of the line; whitespace and newlines are free):
 *
 *   module  := [source] [mesh] [entry] func* {'local' func}
 *                                              the bodies of local_call (a `local
 *                                              fn`, ir/local.c), once each
 *   source  := 'source' STRING                 file of the !L:C positions
 *   mesh    := 'mesh' NAME '[' [NAME '=' INT {',' NAME '=' INT}] ']'
 *   entry   := 'entry' '@' NAME
 *   func    := 'func' '@' NAME '(' [param {',' param}] ')' [loc] '{'
 *                inst* 'return' [ret {',' ret}] '}'
 *   param   := value ':' type [pl] ['pinned'] [local] ['=' init]
 *   init    := 'randn' '(' 'seed' '=' INT ',' 'std' '=' F ',' 'mean' '=' F [',' 'per_step' '=' 'true'] ')'
 *            | 'rand' '(' 'seed' '=' INT ',' 'lo' '=' F ',' 'hi' '=' F [',' 'per_step' '=' 'true'] ')'
 *            | 'zeros' '(' ')' | 'ones' '(' ')' | 'full' '(' F ')'
 *            | 'arange' '(' ')' | 'load' '(' STRING ')'
 *   inst    := [def {',' def} '='] OP operands [attrs] [loc]
 *   def     := value ':' type [pl] ['pinned'] [local]
 *   operands:= [value {',' value}]             call, loop, local_call: '@' NAME '(' [value {',' value}] ')'
 *   attrs   := '{' KEY '=' VAL {',' KEY '=' VAL} '}'
 *   ret     := [NAME ':'] value ['feeds' value]   NAME: the --out name; feeds: the
 *                                              parameter it becomes on the next step
 *   value   := '%' ID | '%' NAME '.' ID        NAME: the source name
 *   type    := DTYPE '[' [INT {',' INT}] ']'
 *   pl      := '@' MESH '[' entry {',' entry} ']'   entry: R | S(d) | P(sum|max|min|avg)
 *   local   := 'local' '=' '[' ... ']'          per-rank shapes, ignored by the parser
 *   loc     := '!' [STRING ':'] LINE ':' COL   no STRING: the module's source file
 *
 * A NAME that is not an identifier is written as a string.  An undecided
 * placement is not printed.  Attribute keys: the op's OP_ATTR rows of
 * ir/ops.def, in their order (e.g. value (const), axis and keepdims
 * (reductions), slice=[[start, stop, step], ...], pad=[[lo, hi], ...],
 * axes (mesh axis names), red, dim, dim2, bytes (collectives; shard and
 * to_partial only when non-zero), async=true (a collective that a `done`
 * completes; only when set)), then for every op why, plan (strings),
 * in (in_pl: a list of placements, `_` undecided), strategy (when in_pl
 * is set or strategy != 0) and group (after fuse: `%ROOT` for a member of
 * ROOT's fusion group, `each` for a value recomputed in every loop that
 * reads it; absent for a root).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir_text.h"

typedef struct Printer {
    FILE *out;
    const IrModule *m;
    const char *src;   /* file that bare !L:C positions refer to */
    IrPrintOpts o;
} Printer;

/* ---- small pieces ---------------------------------------------------------- */
char *ir_float_str(double x, char *buf, size_t n)
{
    if (isnan(x))
        snprintf(buf, n, "%s", signbit(x) ? "-nan" : "nan");
    else if (isinf(x))
        snprintf(buf, n, "%s", x < 0 ? "-inf" : "inf");
    else
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, n, "%.*g", p, x);
            if (strtod(buf, NULL) == x)
                break;
        }
    return buf;
}

static bool is_ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* A name: bare when it is an identifier, else quoted. */
static void put_name(FILE *out, const char *s)
{
    if (is_ident(s))
        fputs(s, out);
    else
        put_string(out, s ? s : "");
}

static void put_float(FILE *out, double x)
{
    char buf[64];
    fputs(ir_float_str(x, buf, sizeof buf), out);
}

char *ir_value_str(const IrValue *v, char *buf, size_t n)
{
    if (!v)
        snprintf(buf, n, "%%?");
    else if (!v->name)
        snprintf(buf, n, "%%%d", v->id);
    else if (is_ident(v->name))
        snprintf(buf, n, "%%%s.%d", v->name, v->id);
    else
        snprintf(buf, n, "%%\"%s\".%d", v->name, v->id); /* for messages only */
    return buf;
}

static void put_ref(Printer *p, const IrValue *v)
{
    if (!v) {
        fputs("%?", p->out);
        return;
    }
    fputc('%', p->out);
    if (v->name) {
        put_name(p->out, v->name);
        fputc('.', p->out);
    }
    fprintf(p->out, "%d", v->id);
}

static void put_type(FILE *out, const IrType *t)
{
    fprintf(out, "%s[", ir_dtype_name(t->dtype));
    int rank = t->rank < 0 ? 0 : t->rank > IR_MAX_RANK ? IR_MAX_RANK : t->rank;
    for (int i = 0; i < rank; i++)
        fprintf(out, "%s%" PRId64, i ? ", " : "", t->dims[i]);
    fputc(']', out);
}

static void put_mesh_name(Printer *p)
{
    if (p->m->mesh.name)
        put_name(p->out, p->m->mesh.name);
    else
        fputc('?', p->out);
}

/* MESH[e0, e1, ...]; out-of-range enum values print as '?' (broken IR
 * must still be printable for debugging, the verifier names the problem). */
static void put_entry(Printer *p, const PlEntry *e)
{
    if (e->kind == PL_R)
        fputc('R', p->out);
    else if (e->kind == PL_S)
        fprintf(p->out, "S(%d)", e->dim);
    else if (e->kind == PL_P)
        fprintf(p->out, "P(%s)", ir_red_name(e->red));
    else
        fputc('?', p->out);
}

static void put_pl(Printer *p, const Placement *pl)
{
    put_mesh_name(p);
    fputc('[', p->out);
    int n = pl->naxes > IR_MAX_AXES ? IR_MAX_AXES : pl->naxes;
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", p->out);
        put_entry(p, &pl->e[i]);
    }
    fputc(']', p->out);
}

/* ` sharding {(S(0), R) -> S(0); ... cost US}`: a rule fn's strategies. */
static void put_rules(Printer *p, const IrFunc *f)
{
    if (f->nrules <= 0)
        return;
    fputs(" sharding {", p->out);
    for (int r = 0; r < f->nrules; r++) {
        const IrRule *u = &f->rules[r];
        fputs(r ? " (" : "(", p->out);
        for (int k = 0; k < f->nparams; k++) {
            if (k)
                fputs(", ", p->out);
            put_entry(p, &u->in[k]);
        }
        fputs(") -> ", p->out);
        put_entry(p, &u->out);
        if (u->cost != 0)
            fprintf(p->out, " cost %.17g", u->cost * 1e6);
        fputc(';', p->out);
    }
    fputc('}', p->out);
}

static void put_loc(Printer *p, SrcLoc l)
{
    if (p->o.no_locs || (!l.file && !l.line && !l.col))
        return;
    fputs(" !", p->out);
    if (l.file && !(p->src && !strcmp(l.file, p->src))) {
        put_string(p->out, l.file);
        fputc(':', p->out);
    }
    fprintf(p->out, "%d:%d", l.line, l.col);
}

/* local=[4, 512], or per-dim "size|size|..." in rank order where ranks differ. */
static void put_local(Printer *p, const IrValue *v)
{
    const IrMesh *mesh = &p->m->mesh;
    if (!p->o.local_shapes || v->pl.naxes != mesh->naxes || v->type.rank < 0 ||
        v->type.rank > IR_MAX_RANK)
        return;
    for (int a = 0; a < mesh->naxes; a++)
        if (mesh->size[a] <= 0)
            return;
    int nranks = ir_mesh_nranks(mesh);
    fputs(" local=[", p->out);
    for (int d = 0; d < v->type.rank; d++) {
        if (d)
            fputs(", ", p->out);
        int64_t first = 0;
        bool same = true;
        for (int r = 0; r < nranks; r++) {
            int c[IR_MAX_AXES];
            ir_mesh_coords(mesh, r, c);
            IrType lt = pl_local_type(mesh, &v->type, &v->pl, c);
            if (r == 0)
                first = lt.dims[d];
            else if (lt.dims[d] != first)
                same = false;
        }
        if (same) {
            fprintf(p->out, "%" PRId64, first);
            continue;
        }
        for (int r = 0; r < nranks; r++) {
            int c[IR_MAX_AXES];
            ir_mesh_coords(mesh, r, c);
            IrType lt = pl_local_type(mesh, &v->type, &v->pl, c);
            fprintf(p->out, "%s%" PRId64, r ? "|" : "", lt.dims[d]);
        }
    }
    fputc(']', p->out);
}

/* %v: TYPE [@ PL] [pinned] [local=...] */
static void put_def(Printer *p, const IrValue *v)
{
    if (!v) {
        fputs("%?", p->out);
        return;
    }
    put_ref(p, v);
    fputs(": ", p->out);
    put_type(p->out, &v->type);
    if (v->pl.naxes > 0) {
        fputs(" @ ", p->out);
        put_pl(p, &v->pl);
    }
    if (v->pinned)
        fputs(" pinned", p->out);
    put_local(p, v);
}

static void put_init(Printer *p, const IrInit *in)
{
    FILE *o = p->out;
    switch (in->kind) {
    case INIT_NONE:
        return;
    case INIT_RANDN:
    case INIT_RAND:
        fprintf(o, " = %s(seed=%" PRIu64 ", %s=", in->kind == INIT_RANDN ? "randn" : "rand", in->seed,
                in->kind == INIT_RANDN ? "std" : "lo");
        put_float(o, in->a);
        fprintf(o, ", %s=", in->kind == INIT_RANDN ? "mean" : "hi");
        put_float(o, in->b);
        fputs(in->per_step ? ", per_step=true)" : ")", o);
        return;
    case INIT_ZEROS:
        fputs(" = zeros()", o);
        return;
    case INIT_ONES:
        fputs(" = ones()", o);
        return;
    case INIT_FULL:
        fputs(" = full(", o);
        put_float(o, in->a);
        fputc(')', o);
        return;
    case INIT_ARANGE:
        fputs(" = arange()", o);
        return;
    case INIT_LOAD:
        fputs(" = load(", o);
        put_string(o, in->path ? in->path : "");
        fputc(')', o);
        return;
    }
    fprintf(o, " = ?init%d", (int)in->kind);
}

/* ---- attributes -------------------------------------------------------------- */
typedef struct AttrOut {
    Printer *p;
    int n; /* keys printed so far */
} AttrOut;

static void key(AttrOut *a, const char *k)
{
    fputs(a->n++ ? ", " : " {", a->p->out);
    fprintf(a->p->out, "%s=", k);
}

/* ints as [a, ...] (group 1) or [[a, b], ...] (group 2, 3); a count that is
 * not a multiple of the group is printed flat (the verifier complains). */
static void put_ints(FILE *out, const IrAttrs *at, int group)
{
    int n = at->nints < 0 || !at->ints ? 0 : at->nints;
    bool grouped = group > 1 && n % group == 0;
    fputc('[', out);
    for (int i = 0; i < n; i++) {
        if (grouped && i % group == 0)
            fputs(i ? ", [" : "[", out);
        else if (i)
            fputs(", ", out);
        fprintf(out, "%" PRId64, at->ints[i]);
        if (grouped && i % group == group - 1)
            fputc(']', out);
    }
    fputc(']', out);
}

static void put_axes(Printer *p, unsigned axes)
{
    fputc('[', p->out);
    int n = 0;
    for (int i = 0; i < 32; i++) {
        if (!(axes & (1u << i)))
            continue;
        if (n++)
            fputs(", ", p->out);
        if (i < p->m->mesh.naxes && p->m->mesh.axis_name[i])
            put_name(p->out, p->m->mesh.axis_name[i]);
        else
            fprintf(p->out, "%d", i); /* no such axis: the verifier complains */
    }
    fputc(']', p->out);
}

static void put_attrs(Printer *p, const IrInst *i)
{
    AttrOut a = {p, 0};
    const IrAttrs *at = &i->a;
    FILE *o = p->out;
    int n;
    const IrAttrSpec *sp = ir_op_attrs(i->op, &n);
    for (int k = 0; k < n; k++) {
        if ((sp[k].kind == AK_BYTES_NZ && at->bytes == 0) || (sp[k].kind == AK_ASYNC && !at->async) ||
            (sp[k].kind == AK_SHIFT && at->nints > 1) || (sp[k].kind == AK_PERM && at->nints <= 1))
            continue;
        key(&a, sp[k].key);
        switch (sp[k].kind) {
        case AK_FLOAT:
            put_float(o, at->f);
            break;
        case AK_INTS:
            put_ints(o, at, 1);
            break;
        case AK_PERM:
            put_ints(o, at, 1);
            break;
        case AK_SHIFT:
        case AK_AXIS:
            if (at->nints == 1 && at->ints)
                fprintf(o, "%" PRId64, at->ints[0]);
            else
                put_ints(o, at, 1);
            break;
        case AK_PAIRS:
            put_ints(o, at, 2);
            break;
        case AK_TRIPLES:
            put_ints(o, at, 3);
            break;
        case AK_BOOL:
            fputs(at->keepdims ? "true" : "false", o);
            break;
        case AK_MESHAXES:
            put_axes(p, at->axes);
            break;
        case AK_RED:
            fputs(ir_red_name(at->red), o);
            break;
        case AK_DIM:
            fprintf(o, "%d", at->dim);
            break;
        case AK_DIM2:
            fprintf(o, "%d", at->dim2);
            break;
        case AK_BYTES:
        case AK_BYTES_NZ:
            fprintf(o, "%" PRId64, at->bytes);
            break;
        case AK_TRIP:
            fprintf(o, "%" PRId64, at->trip);
            break;
        case AK_CARRY:
            fprintf(o, "%d", at->ncarry);
            break;
        case AK_STACK:
            fprintf(o, "%d", at->nstack);
            break;
        case AK_ASYNC:
            fputs("true", o);
            break;
        }
    }
    if (i->why) {
        key(&a, "why");
        put_string(o, i->why);
    }
    if (i->plan) {
        key(&a, "plan");
        put_string(o, i->plan);
    }
    if (i->in_pl) {
        key(&a, "in");
        fputc('[', o);
        for (int k = 0; k < i->nargs; k++) {
            if (k)
                fputs(", ", o);
            if (i->in_pl[k].naxes == 0)
                fputc('_', o);
            else
                put_pl(p, &i->in_pl[k]);
        }
        fputc(']', o);
    }
    if (i->in_pl || i->strategy != 0) {
        key(&a, "strategy");
        fprintf(o, "%d", i->strategy);
    }
    if (i->fuse == FUSE_EACH) {
        key(&a, "group");
        fputs("each", o);
    } else if (i->fuse == FUSE_MEMBER) {
        key(&a, "group");
        if (i->group)
            put_ref(p, i->group);
        else
            fputs("%?", o); /* the verifier complains */
    }
    if (a.n)
        fputc('}', o);
}

/* ---- instructions and functions ---------------------------------------------- */
static void put_inst(Printer *p, const IrInst *i)
{
    FILE *o = p->out;
    fputs("  ", o);
    for (int k = 0; k < i->nres; k++) {
        if (k)
            fputs(", ", o);
        put_def(p, i->res ? i->res[k] : NULL);
    }
    if (i->nres > 0)
        fputs(" = ", o);
    fputs((unsigned)i->op < OP_COUNT ? ir_op_name(i->op) : "?op", o);
    bool callee_form =
        i->op == OP_CALL || i->op == OP_LOOP || i->op == OP_GRAD || i->op == OP_LOCAL_CALL || i->op == OP_RULE_CALL;
    if (callee_form) {
        fputs(" @", o);
        const char *callee = i->a.callee ? i->a.callee : i->a.fn ? i->a.fn->name : NULL;
        put_name(o, callee ? callee : "?");
        fputc('(', o);
    }
    for (int k = 0; k < i->nargs; k++) {
        fputs(k ? ", " : callee_form ? "" : " ", o);
        put_ref(p, i->args ? i->args[k] : NULL);
    }
    if (callee_form)
        fputc(')', o);
    put_attrs(p, i);
    put_loc(p, i->loc);
    fputc('\n', o);
}

static void put_func(Printer *p, const IrFunc *f)
{
    FILE *o = p->out;
    fputs("func @", o);
    put_name(o, f->name);
    fputc('(', o);
    for (int k = 0; k < f->nparams; k++) {
        if (k)
            fputs(",\n    ", o);
        const IrValue *v = f->params ? f->params[k] : NULL;
        put_def(p, v);
        if (f->inits)
            put_init(p, &f->inits[k]);
    }
    fputc(')', o);
    put_loc(p, f->loc);
    put_rules(p, f);
    fputs(" {\n", o);
    for (const IrInst *i = f->first; i; i = i->next)
        put_inst(p, i);
    fputs("  return", o);
    for (int k = 0; k < f->nresults; k++) {
        fputs(k ? ", " : " ", o);
        if (f->result_names && f->result_names[k]) {
            put_name(o, f->result_names[k]);
            fputs(": ", o);
        }
        put_ref(p, f->results ? f->results[k] : NULL);
        if (f->result_feeds && f->result_feeds[k] >= 0 && f->result_feeds[k] < f->nparams) {
            fputs(" feeds ", o);
            put_ref(p, f->params[f->result_feeds[k]]);
        }
    }
    fputs("\n}\n", o);
}

/* The file most positions come from: the first one named, in print order. */
static const char *source_file(const IrModule *m)
{
    for (int k = 0; k < m->nfuncs; k++) {
        const IrFunc *f = m->funcs[k];
        if (f->loc.file)
            return f->loc.file;
        for (const IrInst *i = f->first; i; i = i->next)
            if (i->loc.file)
                return i->loc.file;
    }
    return NULL;
}

static Printer printer(FILE *out, const IrModule *m, const IrPrintOpts *o)
{
    Printer p = {out, m, NULL, {0}};
    if (o)
        p.o = *o;
    if (!p.o.no_locs)
        p.src = source_file(m);
    return p;
}

void ir_print_opts(FILE *out, const IrModule *m, const IrPrintOpts *o)
{
    Printer p = printer(out, m, o);
    if (p.o.stage)
        fprintf(out, "# after %s\n", p.o.stage);
    if (p.src) {
        fputs("source ", out);
        put_string(out, p.src);
        fputc('\n', out);
    }
    const IrMesh *mesh = &m->mesh;
    if (mesh->name || mesh->naxes > 0) {
        fputs("mesh ", out);
        put_mesh_name(&p);
        fputc('[', out);
        for (int a = 0; a < mesh->naxes && a < IR_MAX_AXES; a++) {
            if (a)
                fputs(", ", out);
            put_name(out, mesh->axis_name[a] ? mesh->axis_name[a] : "?");
            fprintf(out, "=%d", mesh->size[a]);
        }
        fputs("]\n", out);
    }
    if (m->entry) {
        fputs("entry @", out);
        put_name(out, m->entry->name);
        fputc('\n', out);
    }
    for (int k = 0; k < m->nfuncs; k++) {
        fputc('\n', out);
        put_func(&p, m->funcs[k]);
    }
    /* the bodies of local calls, which are not in m->funcs, once each */
    const IrFunc **done = NULL;
    int ndone = 0, cap = 0;
    for (int k = 0; k < m->nfuncs; k++)
        for (const IrInst *i = m->funcs[k]->first; i; i = i->next) {
            if ((i->op != OP_LOCAL_CALL && i->op != OP_RULE_CALL) || !i->a.fn)
                continue;
            bool seen = false;
            for (int j = 0; j < ndone && !seen; j++)
                seen = done[j] == i->a.fn;
            if (seen)
                continue;
            if (ndone == cap) {
                cap = cap ? 2 * cap : 8;
                const IrFunc **d = realloc(done, sizeof *d * (size_t)cap);
                if (!d)
                    DTC_BUG("ir_print: out of memory");
                done = d;
            }
            done[ndone++] = i->a.fn;
            fputs(i->op == OP_RULE_CALL ? "\nrule " : "\nlocal ", out);
            put_func(&p, i->a.fn);
        }
    free(done);
}

void ir_print(FILE *out, const IrModule *m) { ir_print_opts(out, m, NULL); }

void ir_print_func(FILE *out, const IrModule *m, const IrFunc *f)
{
    Printer p = printer(out, m, NULL);
    put_func(&p, f);
}

bool ir_stage_is_partitioned(const char *stage)
{
    return stage && (!strcmp(stage, "partition") || !strcmp(stage, "optimise") ||
                     !strcmp(stage, "schedule") || !strcmp(stage, "fuse"));
}

void ir_print_stage(FILE *out, const IrModule *m, const char *stage)
{
    IrPrintOpts o = {stage, ir_stage_is_partitioned(stage), false};
    ir_print_opts(out, m, &o);
}
