/* dot.c - ir_print_dot: the IR as a Graphviz digraph, a picture of what
 * the compiler placed and where it communicates.
 *
 * Requires: a module that ir_verify accepts after opts->stage (any stage:
 * before propagate placements are simply absent).  Changes nothing.
 *
 * Drawing (one cluster per function, program order top to bottom):
 *   value         a rounded box: name, global type @ placement, and after
 *                 partition the local shape (per dim the distinct sizes
 *                 over the ranks, "8|7" for uneven shards); parameters
 *                 shaded, returned values with a double border
 *   op            an ellipse: op and source file:line
 *   collective    an orange box with a bold border and thick edges: op,
 *                 mesh axes, reduction / dims, bytes (the `bytes`
 *                 attribute: the most any rank sends) and the `why`
 *   shard, to_partial  a dashed blue box: a local layout change, no message
 *   redistribute  a yellow hexagon (before partition): from -> to, the
 *                 planned steps and the `why`
 * Every node's tooltip (hover in an SVG viewer) is its source position and
 * that source line (elided around the column when long).  Strings are
 * escaped for dot (quotes, backslashes, '&' of entities, control
 * characters, invalid UTF-8 replaced), so any program text shows as written.
 */
#include "ir/dot.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "ir/ir_text.h"

/* A label or tooltip being built; truncated (with "...") if it overflows. */
typedef struct Text {
    char s[4096];
    size_t n;
} Text;

static void tprintf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(Text *t, const char *fmt, ...)
{
    if (t->n >= sizeof t->s - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    t->n += (size_t)k;
    if (t->n >= sizeof t->s - 1) {
        t->n = sizeof t->s - 1;
        memcpy(t->s + t->n - 3, "...", 3);
    }
}

/* Appends s broken into lines of at most `width` characters at spaces. */
static void twrap(Text *t, const char *s, int width)
{
    int col = 0;
    while (*s) {
        size_t word = strcspn(s, " ");
        if (col > 0 && col + 1 + (int)word > width) {
            tprintf(t, "\n");
            col = 0;
        } else if (col > 0) {
            tprintf(t, " ");
            col++;
        }
        tprintf(t, "%.*s", (int)word, s);
        col += (int)word;
        s += word;
        while (*s == ' ')
            s++;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || (n == 2 && s[0] < 0xc2))
        return 0;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* A dot double-quoted string; '\n' in s becomes a dot line break. */
static void put_str(FILE *out, const char *s)
{
    fputc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == '\n') {
            fputs("\\n", out);
            p++;
        } else if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p++);
        } else if (*p == '&') { /* dot reads "&name;" as an entity */
            fputs("&amp;", out);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            fputc(' ', out);
            p++;
        } else {
            int n = utf8_len(p);
            if (n == 0) {
                fputc('?', out);
                p++;
            } else {
                fwrite(p, 1, (size_t)n, out);
                p += n;
            }
        }
    }
    fputc('"', out);
}

/* ---- the source, for tooltips ---------------------------------------------------- */
typedef struct Dot {
    FILE *out;
    const IrModule *m;
    IrDotOpts o;
    bool local;          /* show local shapes */
    const char **line;   /* line[k]: start of source line k+1 */
    int nlines;
} Dot;

static void index_lines(Dot *d)
{
    const char *t = d->o.src_text;
    if (!t)
        return;
    int n = 1;
    for (const char *p = t; *p; p++)
        n += *p == '\n';
    d->line = arena_alloc(d->m->arena, sizeof *d->line * (size_t)n);
    d->line[0] = t;
    d->nlines = 1;
    for (const char *p = t; *p; p++)
        if (*p == '\n' && p[1])
            d->line[d->nlines++] = p + 1;
}

static const char *base_name(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path ? path : "?";
}

/* "file:line:col" and the source line ("  14 | text"), elided to about 120
 * characters around the column. */
static void put_source(Dot *d, Text *t, SrcLoc l)
{
    if (!l.line)
        return;
    const char *file = l.file ? l.file : d->o.src_file;
    tprintf(t, "%s:%d:%d", file ? file : "?", l.line, l.col);
    bool ours = !l.file || (d->o.src_file && !strcmp(l.file, d->o.src_file));
    if (!ours || l.line > d->nlines)
        return;
    const char *s = d->line[l.line - 1];
    size_t len = strcspn(s, "\n");
    size_t from = 0, to = len;
    while (from < len && (s[from] == ' ' || s[from] == '\t'))
        from++;
    size_t col = l.col > 0 ? (size_t)(l.col - 1) : 0;
    const size_t keep = 120;
    bool head = false, tail = false;
    if (to - from > keep) {
        size_t c = col < from ? from : col > to ? to : col;
        size_t lo = c > from + keep / 2 ? c - keep / 2 : from;
        size_t hi = lo + keep < to ? lo + keep : to;
        head = lo > from;
        tail = hi < to;
        from = lo;
        to = hi;
        while (from < to && ((unsigned char)s[from] & 0xc0) == 0x80) /* whole characters */
            from++;
        while (to > from && to < len && ((unsigned char)s[to] & 0xc0) == 0x80)
            to--;
    }
    tprintf(t, "\n%4d | %s%.*s%s", l.line, head ? "..." : "", (int)(to - from), s + from, tail ? "..." : "");
}

/* ---- labels --------------------------------------------------------------------- */
/* "local f32[8, 128]"; a dim whose size differs between ranks shows its
 * distinct sizes, "f32[4|3, 64]" (at most 4, then "|..."). */
static void put_local(Dot *d, Text *t, const IrValue *v)
{
    const IrMesh *mesh = &d->m->mesh;
    if (!d->local || v->pl.naxes != mesh->naxes || mesh->naxes == 0)
        return;
    unsigned split = 0; /* only the axes that split the value change its shape */
    for (int a = 0; a < mesh->naxes; a++)
        if (v->pl.e[a].kind == PL_S)
            split |= 1u << a;
    enum { MAXD = 4 };
    int64_t seen[IR_MAX_RANK][MAXD];
    int nseen[IR_MAX_RANK] = {0};
    bool more[IR_MAX_RANK] = {false};
    int co[IR_MAX_AXES] = {0};
    DType dt = v->type.dtype;
    do {
        IrType lt = pl_local_type(mesh, &v->type, &v->pl, co);
        dt = lt.dtype;
        for (int k = 0; k < v->type.rank; k++) {
            bool found = false;
            for (int j = 0; j < nseen[k]; j++)
                found |= seen[k][j] == lt.dims[k];
            if (found)
                continue;
            if (nseen[k] < MAXD)
                seen[k][nseen[k]++] = lt.dims[k];
            else
                more[k] = true;
        }
    } while (ir_mesh_next_coords(mesh, split, co));
    tprintf(t, "\nlocal %s[", ir_dtype_name(dt));
    for (int k = 0; k < v->type.rank; k++) {
        tprintf(t, "%s", k ? ", " : "");
        for (int j = 0; j < nseen[k]; j++)
            tprintf(t, "%s%" PRId64, j ? "|" : "", seen[k][j]);
        if (more[k])
            tprintf(t, "|...");
    }
    tprintf(t, "]");
}

static void put_type_pl(Dot *d, Text *t, const IrValue *v)
{
    char tb[160], pb[256];
    tprintf(t, "%s", ir_type_str(&v->type, tb, sizeof tb));
    if (v->pl.naxes > 0)
        tprintf(t, " @ %s", pl_str(&d->m->mesh, &v->pl, pb, sizeof pb));
    if (v->pinned)
        tprintf(t, " (pinned)");
}

static void axes_str(const IrMesh *m, unsigned axes, Text *t)
{
    int n = 0;
    for (int a = 0; a < IR_MAX_AXES; a++)
        if (axes & (1u << a)) {
            const char *name = a < m->naxes && m->axis_name[a] ? m->axis_name[a] : "?";
            tprintf(t, "%s%s", n++ ? "+" : "", name);
        }
}

/* ---- nodes and edges ------------------------------------------------------------- */
static void value_node(Dot *d, int fi, const IrValue *v, const char *role, const char *ret_name,
                       SrcLoc where)
{
    Text label = {{0}, 0}, tip = {{0}, 0};
    char vb[96];
    tprintf(&label, "%s%s", ir_value_str(v, vb, sizeof vb), role);
    if (ret_name)
        tprintf(&label, "  -> %s", ret_name);
    tprintf(&label, "\n");
    put_type_pl(d, &label, v);
    put_local(d, &label, v);
    tprintf(&tip, "%s: ", vb);
    put_type_pl(d, &tip, v);
    tprintf(&tip, "\n");
    put_source(d, &tip, where);
    fprintf(d->out, "    f%d_v%d [shape=box, style=\"rounded%s\"%s%s, label=", fi, v->id,
            v->param_index >= 0 ? ",filled" : "", v->param_index >= 0 ? ", fillcolor=\"#e9ecef\"" : "",
            ret_name ? ", peripheries=2" : "");
    put_str(d->out, label.s);
    fputs(", tooltip=", d->out);
    put_str(d->out, tip.s);
    fputs("];\n", d->out);
}

static void inst_node(Dot *d, int fi, int k, const IrInst *i)
{
    const IrMesh *mesh = &d->m->mesh;
    unsigned fl = ir_op_flags(i->op);
    Text label = {{0}, 0}, tip = {{0}, 0};
    const char *style;
    tprintf(&label, "%s", ir_op_name(i->op));
    if (fl & (OPF_COMM | OPF_LOCAL)) {
        tprintf(&label, " over ");
        axes_str(mesh, i->a.axes, &label);
        if (i->op == OP_ALL_REDUCE || i->op == OP_REDUCE_SCATTER || i->op == OP_TO_PARTIAL)
            tprintf(&label, " (%s)", ir_red_name(i->a.red));
        if (i->op == OP_ALL_TO_ALL)
            tprintf(&label, ", dim %d -> %d", i->a.dim, i->a.dim2);
        else if (i->op == OP_COLLECTIVE_PERMUTE && i->a.nints > 1)
            tprintf(&label, ", perm");
        else if (i->op == OP_COLLECTIVE_PERMUTE)
            tprintf(&label, ", shift %" PRId64, i->a.nints == 1 ? i->a.ints[0] : (int64_t)0);
        else if (i->op != OP_ALL_REDUCE && i->op != OP_TO_PARTIAL)
            tprintf(&label, ", dim %d", i->a.dim);
        if (fl & OPF_COMM)
            tprintf(&label, "\n%" PRId64 " bytes (most any rank sends)", i->a.bytes);
        else
            tprintf(&label, "\nlocal: no message");
        style = fl & OPF_COMM ? "shape=box, style=\"filled,bold\", color=\"#d9480f\", fillcolor=\"#ffd8a8\""
                              : "shape=box, style=\"filled,dashed\", color=\"#1c7ed6\", fillcolor=\"#d0ebff\"";
    } else if (i->op == OP_REDISTRIBUTE) {
        char b1[256], b2[256];
        if (i->nargs == 1 && i->nres == 1)
            tprintf(&label, "\n%s -> %s", pl_str(mesh, &i->args[0]->pl, b1, sizeof b1),
                    pl_str(mesh, &i->res[0]->pl, b2, sizeof b2));
        if (i->plan) {
            tprintf(&label, "\nplan: ");
            twrap(&label, i->plan, 48);
        }
        style = "shape=hexagon, style=filled, color=\"#f08c00\", fillcolor=\"#fff3bf\"";
    } else if (i->op == OP_CALL || i->op == OP_GRAD) {
        tprintf(&label, " @%s", i->a.callee ? i->a.callee : i->a.fn ? i->a.fn->name : "?");
        style = "shape=component";
    } else {
        style = "shape=ellipse";
    }
    if (i->why && (fl & (OPF_COMM | OPF_LOCAL) || i->op == OP_REDISTRIBUTE)) {
        tprintf(&label, "\nwhy: ");
        twrap(&label, i->why, 48);
    }
    if (i->loc.line)
        tprintf(&label, "\n%s:%d", base_name(i->loc.file ? i->loc.file : d->o.src_file), i->loc.line);
    tprintf(&tip, "%s", ir_op_name(i->op));
    if (i->why)
        tprintf(&tip, "\nwhy: %s", i->why);
    tprintf(&tip, "\n");
    put_source(d, &tip, i->loc);
    fprintf(d->out, "    f%d_i%d [%s, label=", fi, k, style);
    put_str(d->out, label.s);
    fputs(", tooltip=", d->out);
    put_str(d->out, tip.s);
    fputs("];\n", d->out);
}

static const char *result_name(const IrFunc *f, const IrValue *v, Arena *ar)
{
    for (int k = 0; k < f->nresults; k++)
        if (f->results && f->results[k] == v)
            return f->result_names && f->result_names[k] ? f->result_names[k] : arena_printf(ar, "out%d", k);
    return NULL;
}

static void put_func(Dot *d, int fi, const IrFunc *f)
{
    fprintf(d->out, "  subgraph \"cluster_f%d\" {\n    label=", fi);
    Text t = {{0}, 0};
    tprintf(&t, "fn %s", f->name ? f->name : "?");
    put_str(d->out, t.s);
    fputs(";\n    style=rounded;\n    color=\"#adb5bd\";\n", d->out);
    for (int k = 0; k < f->nparams; k++) {
        const IrValue *v = f->params[k];
        value_node(d, fi, v, "  (parameter)", result_name(f, v, d->m->arena), f->loc);
    }
    int k = 0;
    for (const IrInst *i = f->first; i; i = i->next, k++) {
        inst_node(d, fi, k, i);
        for (int r = 0; r < i->nres; r++)
            value_node(d, fi, i->res[r], "", result_name(f, i->res[r], d->m->arena), i->loc);
    }
    k = 0;
    for (const IrInst *i = f->first; i; i = i->next, k++) {
        bool comm = ir_op_flags(i->op) & OPF_COMM;
        const char *attr = comm ? " [color=\"#d9480f\", penwidth=2.5" : " [";
        for (int a = 0; a < i->nargs; a++) {
            fprintf(d->out, "    f%d_v%d -> f%d_i%d%s", fi, i->args[a]->id, fi, k, attr);
            if (i->nargs > 1)
                fprintf(d->out, "%slabel=\"%d\", fontsize=8", comm ? ", " : "", a);
            fputs("];\n", d->out);
        }
        for (int r = 0; r < i->nres; r++)
            fprintf(d->out, "    f%d_i%d -> f%d_v%d%s];\n", fi, k, fi, i->res[r]->id, attr);
    }
    fputs("  }\n", d->out);
}

static void legend(Dot *d)
{
    FILE *o = d->out;
    fputs("  subgraph \"cluster_legend\" {\n    label=\"legend\";\n    style=dashed;\n"
          "    color=\"#ced4da\";\n    fontsize=9;\n    node [fontsize=8];\n",
          o);
    fprintf(o, "    legend_value [shape=box, style=rounded, label=\"%%name.id\\nglobal type @ placement%s\"];\n",
            d->local ? "\\nlocal shape (per rank)" : "");
    fputs("    legend_op [shape=ellipse, label=\"op\\nfile:line\"];\n"
          "    legend_coll [shape=box, style=\"filled,bold\", color=\"#d9480f\", fillcolor=\"#ffd8a8\", "
          "label=\"collective over axes\\nbytes, why\"];\n"
          "    legend_local [shape=box, style=\"filled,dashed\", color=\"#1c7ed6\", fillcolor=\"#d0ebff\", "
          "label=\"local layout change\\n(no message)\"];\n"
          "    legend_redist [shape=hexagon, style=filled, color=\"#f08c00\", fillcolor=\"#fff3bf\", "
          "label=\"redistribute\\n(before partition)\"];\n"
          "    legend_value -> legend_op -> legend_coll -> legend_local -> legend_redist [style=invis];\n"
          "  }\n",
          o);
}

void ir_print_dot(FILE *out, const IrModule *m, const IrDotOpts *opts)
{
    Dot d = {out, m, {0}, false, NULL, 0};
    if (opts)
        d.o = *opts;
    d.local = ir_stage_is_partitioned(d.o.stage);
    index_lines(&d);

    int ncoll = 0;
    int64_t bytes = 0;
    for (int k = 0; k < m->nfuncs; k++)
        for (const IrInst *i = m->funcs[k]->first; i; i = i->next)
            if (ir_op_flags(i->op) & OPF_COMM) {
                ncoll++;
                bytes += i->a.bytes;
            }
    Text title = {{0}, 0};
    tprintf(&title, "%s after %s", d.o.src_file ? d.o.src_file : "module", d.o.stage ? d.o.stage : "?");
    const IrMesh *mesh = &m->mesh;
    if (mesh->naxes > 0) {
        tprintf(&title, "\nmesh %s[", mesh->name ? mesh->name : "?");
        for (int a = 0; a < mesh->naxes; a++)
            tprintf(&title, "%s%s=%d", a ? ", " : "", mesh->axis_name[a] ? mesh->axis_name[a] : "?",
                    mesh->size[a]);
        tprintf(&title, "]: %d rank%s", ir_mesh_nranks(mesh), ir_mesh_nranks(mesh) == 1 ? "" : "s");
    }
    if (d.local)
        tprintf(&title, "; %d collective%s, %" PRId64 " bytes (sum of each one's most any rank sends)", ncoll,
                ncoll == 1 ? "" : "s", bytes);

    fputs("digraph \"dtc\" {\n  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, labelloc=t, label=", out);
    put_str(out, title.s);
    fputs("];\n  node [fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [color=\"#495057\", arrowsize=0.6, fontname=\"Helvetica\"];\n",
          out);
    for (int k = 0; k < m->nfuncs; k++)
        put_func(&d, k, m->funcs[k]);
    legend(&d);
    fputs("}\n", out);
}
