/* parse.c - the IR text form, reading side (ir_parse).
 *
 * Reads what print.c writes (the grammar is at the top of print.c) and
 * rebuilds the module exactly: value ids, names, placements, attributes,
 * source positions.  A hand-written recursive-descent parser over the raw
 * text; '#' comments (the "# after STAGE" header of dumps) and local=[...]
 * annotations (derived from type and placement) are skipped.
 *
 * Checked here, with "FILE:LINE:COL: error: ..." and no module on failure:
 * syntax, unknown ops / dtypes / functions / mesh axes, values used before
 * their definition or defined twice, placements that do not fit the mesh
 * or the value's rank, attributes an op does not read, operand counts.
 * Type rules and stage invariants are ir_verify's job.  The first error
 * ends the parse (a longjmp back to ir_parse; all memory is in the arena).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir_text.h"

#define MAX_ID (1 << 24) /* value ids beyond this are surely a typo */

typedef struct PendingCall {
    IrInst *inst;
    const char *at; /* position of the callee name, for the error */
} PendingCall;

typedef struct Parser {
    Arena *ar;
    const char *file, *text, *p;
    FILE *err;
    jmp_buf fail;
    IrModule *m;
    bool have_mesh;
    const char *src;          /* `source` file: the file of bare !L:C positions */
    const char *entry, *entry_at;
    /* the function being parsed: value id -> value */
    IrFunc *f;
    IrValue **byid;
    int cap, maxid;
    PendingCall *calls;
    int ncalls, capcalls;
    IrFunc **locals;          /* `local func` bodies (not in m->funcs) */
    int nlocals, caplocals;
    /* group=%ROOT names a value defined further down: resolved at `return` */
    struct PendingGroup *groups;
    int ngroups, capgroups;
} Parser;

/* ---- errors ---------------------------------------------------------------- */
static _Noreturn void __attribute__((format(printf, 3, 4)))
fail(Parser *P, const char *at, const char *fmt, ...)
{
    int line = 1, col = 1;
    for (const char *s = P->text; s < at && *s; s++) {
        if (*s == '\n') {
            line++;
            col = 1;
        } else
            col++;
    }
    fprintf(P->err, "%s:%d:%d: error: ", P->file ? P->file : "<ir>", line, col);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(P->err, fmt, ap);
    va_end(ap);
    fputc('\n', P->err);
    longjmp(P->fail, 1);
}

/* ---- characters and tokens ------------------------------------------------------ */
static void skip_ws(Parser *P)
{
    for (;;) {
        char c = *P->p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            P->p++;
        else if (c == '#')
            while (*P->p && *P->p != '\n')
                P->p++;
        else
            return;
    }
}

static char peek(Parser *P)
{
    skip_ws(P);
    return *P->p;
}

static bool accept(Parser *P, char c)
{
    if (peek(P) != c)
        return false;
    P->p++;
    return true;
}

/* What the parser sees at the current position, for messages. */
static const char *seen(Parser *P)
{
    skip_ws(P);
    if (!*P->p)
        return "end of input";
    size_t n = 0;
    if (isalnum((unsigned char)*P->p) || *P->p == '_')
        while (isalnum((unsigned char)P->p[n]) || P->p[n] == '_')
            n++;
    else
        n = 1;
    return arena_printf(P->ar, "'%.*s'", (int)n, P->p);
}

static void expect(Parser *P, char c)
{
    if (!accept(P, c))
        fail(P, P->p, "expected '%c', got %s", c, seen(P));
}

static bool ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* An identifier at the current position, or NULL (nothing consumed). */
static const char *ident(Parser *P)
{
    skip_ws(P);
    if (!ident_start(*P->p))
        return NULL;
    const char *s = P->p;
    while (ident_char(*P->p))
        P->p++;
    return arena_strndup(P->ar, s, (size_t)(P->p - s));
}

/* True (and consumed) if the next token is the identifier `w`. */
static bool accept_word(Parser *P, const char *w)
{
    skip_ws(P);
    size_t n = strlen(w);
    if (strncmp(P->p, w, n) || ident_char(P->p[n]))
        return false;
    P->p += n;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char *string(Parser *P)
{
    if (peek(P) != '"')
        fail(P, P->p, "expected a string, got %s", seen(P));
    const char *start = P->p++;
    size_t cap = 16, n = 0;
    char *buf = arena_alloc(P->ar, cap);
    for (;;) {
        char c = *P->p;
        if (!c || c == '\n')
            fail(P, start, "unterminated string");
        P->p++;
        if (c == '"')
            break;
        if (c == '\\') {
            const char *esc = P->p - 1;
            char e = *P->p++;
            if (e == 'n')
                c = '\n';
            else if (e == 't')
                c = '\t';
            else if (e == '"' || e == '\\')
                c = e;
            else if (e == 'x' && hexval(P->p[0]) >= 0 && hexval(P->p[1]) >= 0) {
                c = (char)(hexval(P->p[0]) * 16 + hexval(P->p[1]));
                P->p += 2;
                if (!c)
                    fail(P, esc, "\\x00 is not allowed in a string");
            } else
                fail(P, esc, "unknown escape in string");
        }
        if (n + 1 >= cap) {
            char *nb = arena_alloc(P->ar, cap * 2);
            memcpy(nb, buf, n);
            buf = nb;
            cap *= 2;
        }
        buf[n++] = c;
    }
    buf[n] = 0;
    return buf;
}

/* NAME: an identifier or a string. */
static const char *name(Parser *P, const char *what)
{
    if (peek(P) == '"')
        return string(P);
    const char *s = ident(P);
    if (!s)
        fail(P, P->p, "expected %s, got %s", what, seen(P));
    return s;
}

static int64_t int64(Parser *P, const char *what)
{
    skip_ws(P);
    const char *s = P->p;
    if (!(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
        fail(P, s, "expected %s (an integer), got %s", what, seen(P));
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || ident_char(*end) || *end == '.')
        fail(P, s, "bad %s (an integer)", what);
    P->p = end;
    return v;
}

static int int32(Parser *P, const char *what, int lo, int hi)
{
    const char *at = (skip_ws(P), P->p);
    int64_t v = int64(P, what);
    if (v < lo || v > hi)
        fail(P, at, "%s %" PRId64 " out of range", what, v);
    return (int)v;
}

static double number(Parser *P, const char *what)
{
    skip_ws(P);
    const char *s = P->p;
    char c = s[0] == '-' || s[0] == '+' ? s[1] : s[0];
    if (!(isdigit((unsigned char)c) || c == '.' || c == 'i' || c == 'n'))
        fail(P, s, "expected %s (a number), got %s", what, seen(P));
    char *end;
    double v = strtod(s, &end);
    if (end == s || ident_char(*end))
        fail(P, s, "bad %s (a number)", what);
    P->p = end;
    return v;
}

static bool boolean(Parser *P, const char *what)
{
    if (accept_word(P, "true"))
        return true;
    if (accept_word(P, "false"))
        return false;
    fail(P, P->p, "expected %s (true or false), got %s", what, seen(P));
}

/* [INT, ...] (group 1) or [[INT, ...], ...] with `group` INTs in each inner
 * list, flattened into a->ints; any length. */
static void int_list(Parser *P, IrAttrs *a, const char *what, int group)
{
    int cap = 8, n = 0;
    int64_t *v = arena_alloc(P->ar, sizeof *v * (size_t)cap);
    expect(P, '[');
    if (!accept(P, ']')) {
        do {
            if (group > 1)
                expect(P, '[');
            for (int g = 0; g < group; g++) {
                if (g)
                    expect(P, ',');
                if (n == cap) {
                    int64_t *nv = arena_alloc(P->ar, sizeof *v * (size_t)cap * 2);
                    memcpy(nv, v, sizeof *v * (size_t)n);
                    v = nv;
                    cap *= 2;
                }
                v[n++] = int64(P, what);
            }
            if (group > 1)
                expect(P, ']');
        } while (accept(P, ','));
        expect(P, ']');
    }
    a->ints = v;
    a->nints = n;
}

/* ---- types, placements, positions ------------------------------------------------ */
static IrType type(Parser *P)
{
    IrType t;
    memset(&t, 0, sizeof t);
    const char *at = (skip_ws(P), P->p);
    const char *dt = ident(P);
    if (!dt)
        fail(P, at, "expected a type, got %s", seen(P));
    if (!ir_dtype_parse(dt, &t.dtype))
        fail(P, at, "unknown dtype '%s'", dt);
    expect(P, '[');
    if (accept(P, ']'))
        return t;
    do {
        if (t.rank == IR_MAX_RANK)
            fail(P, P->p, "more than %d dims", IR_MAX_RANK);
        const char *d = (skip_ws(P), P->p);
        t.dims[t.rank] = int64(P, "a dim size");
        if (t.dims[t.rank] < 0)
            fail(P, d, "negative dim size");
        t.rank++;
    } while (accept(P, ','));
    expect(P, ']');
    return t;
}

static bool red_parse(const char *s, RedOp *r)
{
    for (int k = 0; k < 4; k++)
        if (!strcmp(s, ir_red_name((RedOp)k))) {
            *r = (RedOp)k;
            return true;
        }
    return false;
}

/* MESH[e, ...] for a value of the given rank (the leading '@' is the
 * caller's).  S(d) with negative d counts from the end. */
/* One placement entry R, S(d) or P(red) of a value of the given rank. */
static PlEntry pl_entry(Parser *P, int rank)
{
    PlEntry entry, *pe = &entry;
    memset(pe, 0, sizeof *pe);
    const char *e = (skip_ws(P), P->p);
    const char *w = ident(P);
    if (w && !strcmp(w, "R"))
        pe->kind = PL_R;
    else if (w && !strcmp(w, "S")) {
        pe->kind = PL_S;
        expect(P, '(');
        const char *d = (skip_ws(P), P->p);
        int64_t dim = int64(P, "a split dim");
        if (dim < -rank || dim >= rank)
            fail(P, d, "S(%" PRId64 ") is out of range for a value of rank %d", dim, rank);
        pe->dim = (int)(dim < 0 ? dim + rank : dim);
        expect(P, ')');
    } else if (w && !strcmp(w, "P")) {
        pe->kind = PL_P;
        pe->red = RED_SUM;
        if (accept(P, '(')) {
            const char *r = (skip_ws(P), P->p);
            const char *rn = ident(P);
            if (!rn || !red_parse(rn, &pe->red))
                fail(P, r, "unknown partial kind %s (sum, max, min or avg)",
                     rn ? arena_printf(P->ar, "'%s'", rn) : seen(P));
            expect(P, ')');
        }
    } else
        fail(P, e, "expected a placement entry R, S(d) or P(red), got %s",
             w ? arena_printf(P->ar, "'%s'", w) : seen(P));
    return entry;
}

static Placement placement(Parser *P, int rank)
{
    Placement pl;
    memset(&pl, 0, sizeof pl);
    const char *at = (skip_ws(P), P->p);
    const char *mn = name(P, "a mesh name");
    if (!P->have_mesh)
        fail(P, at, "placement on mesh '%s' but no mesh is declared", mn);
    if (!P->m->mesh.name || strcmp(mn, P->m->mesh.name))
        fail(P, at, "unknown mesh '%s' (the mesh is '%s')", mn, P->m->mesh.name ? P->m->mesh.name : "");
    expect(P, '[');
    if (!accept(P, ']')) {
        do {
            const char *e = (skip_ws(P), P->p);
            if (pl.naxes == IR_MAX_AXES)
                fail(P, e, "placement has more than %d entries", IR_MAX_AXES);
            pl.e[pl.naxes++] = pl_entry(P, rank);
        } while (accept(P, ','));
        expect(P, ']');
    }
    if (pl.naxes != P->m->mesh.naxes)
        fail(P, at, "placement has %d entr%s but mesh '%s' has %d ax%s", pl.naxes,
             pl.naxes == 1 ? "y" : "ies", mn, P->m->mesh.naxes, P->m->mesh.naxes == 1 ? "is" : "es");
    return pl;
}

/* [!] ["FILE":]LINE:COL, the '!' already consumed. */
static SrcLoc loc(Parser *P)
{
    SrcLoc l = {P->src, 0, 0};
    if (peek(P) == '"') {
        l.file = string(P);
        expect(P, ':');
    }
    l.line = int32(P, "a line number", 0, 1 << 30);
    expect(P, ':');
    l.col = int32(P, "a column number", 0, 1 << 30);
    return l;
}

/* local=[...]: derived data, skipped. */
static void skip_local(Parser *P)
{
    expect(P, '=');
    expect(P, '[');
    while (*P->p && *P->p != ']' && *P->p != '\n')
        P->p++;
    expect(P, ']');
}

/* ---- values ------------------------------------------------------------------------ */
typedef struct Ref {
    const char *at;
    const char *name; /* NULL: written %ID */
    int id;
} Ref;

static Ref ref(Parser *P)
{
    Ref r = {0};
    skip_ws(P);
    r.at = P->p;
    if (*P->p != '%')
        fail(P, P->p, "expected a value (%%ID or %%NAME.ID), got %s", seen(P));
    P->p++;
    if (!isdigit((unsigned char)*P->p)) {
        if (*P->p == '"')
            r.name = string(P);
        else if (ident_start(*P->p)) {
            const char *s = P->p;
            while (ident_char(*P->p))
                P->p++;
            r.name = arena_strndup(P->ar, s, (size_t)(P->p - s));
        } else
            fail(P, r.at, "expected a value (%%ID or %%NAME.ID)");
        if (*P->p != '.')
            fail(P, P->p, "expected '.ID' after the value name '%s'", r.name);
        P->p++;
    }
    if (!isdigit((unsigned char)*P->p))
        fail(P, P->p, "expected a value id");
    char *end;
    errno = 0;
    long v = strtol(P->p, &end, 10);
    P->p = end;
    if (errno == ERANGE || v >= MAX_ID || ident_char(*P->p))
        fail(P, r.at, "bad value id");
    r.id = (int)v;
    return r;
}

struct PendingGroup {
    IrInst *inst;
    Ref root;
};

static IrValue *use(Parser *P)
{
    Ref r = ref(P);
    IrValue *v = r.id < P->cap ? P->byid[r.id] : NULL;
    if (!v)
        fail(P, r.at, "undefined value %%%s%s%d", r.name ? r.name : "", r.name ? "." : "", r.id);
    if (r.name && (!v->name || strcmp(v->name, r.name)))
        fail(P, r.at, "value %%%d is %s, not '%s'", r.id,
             v->name ? arena_printf(P->ar, "named '%s'", v->name) : "unnamed", r.name);
    return v;
}

static void define(Parser *P, IrValue *v, Ref r)
{
    if (r.id < P->cap && P->byid[r.id])
        fail(P, r.at, "value %%%d is defined twice", r.id);
    if (r.id >= P->cap) {
        int cap = P->cap ? P->cap : 64;
        while (cap <= r.id)
            cap *= 2;
        IrValue **t = arena_alloc(P->ar, sizeof *t * (size_t)cap);
        if (P->cap)
            memcpy(t, P->byid, sizeof *t * (size_t)P->cap);
        P->byid = t;
        P->cap = cap;
    }
    P->byid[r.id] = v;
    v->id = r.id;
    v->name = r.name;
    if (r.id > P->maxid)
        P->maxid = r.id;
}

/* The part of a definition after the value: ': TYPE [@ PL] [pinned] [local=...]'. */
typedef struct Def {
    Ref r;
    IrType t;
    Placement pl;
    bool pinned;
} Def;

static Def def(Parser *P)
{
    Def d;
    memset(&d, 0, sizeof d);
    d.r = ref(P);
    expect(P, ':');
    d.t = type(P);
    if (accept(P, '@'))
        d.pl = placement(P, d.t.rank);
    if (accept_word(P, "pinned"))
        d.pinned = true;
    if (accept_word(P, "local"))
        skip_local(P);
    return d;
}

/* ---- parameters ---------------------------------------------------------------------- */
static IrInit init(Parser *P)
{
    IrInit in;
    memset(&in, 0, sizeof in);
    const char *at = (skip_ws(P), P->p);
    const char *w = ident(P);
    if (!w)
        fail(P, at, "expected an initialiser, got %s", seen(P));
    expect(P, '(');
    if (!strcmp(w, "randn") || !strcmp(w, "rand")) {
        bool normal = !strcmp(w, "randn");
        in.kind = normal ? INIT_RANDN : INIT_RAND;
        in.a = normal ? 1.0 : 0.0;
        in.b = normal ? 0.0 : 1.0;
        const char *ka = normal ? "std" : "lo", *kb = normal ? "mean" : "hi";
        bool got_seed = false, got_a = false, got_b = false;
        if (peek(P) != ')')
            do {
                const char *k = (skip_ws(P), P->p);
                const char *kw = ident(P);
                if (!kw)
                    fail(P, k, "expected an argument name, got %s", seen(P));
                expect(P, '=');
                if (!strcmp(kw, "seed") && !got_seed) {
                    skip_ws(P);
                    if (!isdigit((unsigned char)*P->p))
                        fail(P, P->p, "expected a seed (an unsigned integer), got %s", seen(P));
                    errno = 0;
                    char *end;
                    in.seed = (uint64_t)strtoull(P->p, &end, 10);
                    if (errno == ERANGE || ident_char(*end))
                        fail(P, P->p, "bad seed");
                    P->p = end;
                    got_seed = true;
                } else if (!strcmp(kw, ka) && !got_a) {
                    in.a = number(P, ka);
                    got_a = true;
                } else if (!strcmp(kw, kb) && !got_b) {
                    in.b = number(P, kb);
                    got_b = true;
                } else if (!strcmp(kw, "per_step") && !in.per_step) {
                    if (!accept_word(P, "true"))
                        fail(P, P->p, "per_step is written only as per_step=true");
                    in.per_step = true;
                } else
                    fail(P, k, "%s() has no argument '%s' (or it is given twice)", w, kw);
            } while (accept(P, ','));
        if (!got_seed)
            fail(P, at, "%s() needs seed=", w);
    } else if (!strcmp(w, "zeros"))
        in.kind = INIT_ZEROS;
    else if (!strcmp(w, "ones"))
        in.kind = INIT_ONES;
    else if (!strcmp(w, "arange"))
        in.kind = INIT_ARANGE;
    else if (!strcmp(w, "full")) {
        in.kind = INIT_FULL;
        in.a = number(P, "the fill value");
    } else if (!strcmp(w, "load")) {
        in.kind = INIT_LOAD;
        in.path = string(P);
    } else
        fail(P, at, "unknown initialiser '%s'", w);
    expect(P, ')');
    return in;
}

static void param(Parser *P)
{
    Def d = def(P);
    IrInit in;
    memset(&in, 0, sizeof in);
    if (accept(P, '='))
        in = init(P);
    IrValue *v = ir_param_new(P->m, P->f, NULL, d.t, d.pl, in);
    v->pinned = d.pinned;
    define(P, v, d.r);
}

/* ---- attributes ----------------------------------------------------------------------- */
/* Keys every op has; the op's own come from its schema (ir_op_attrs). */
enum { K_WHY, K_PLAN, K_IN, K_STRATEGY, K_GROUP, K_COMMON };
static const char *const common_keys[K_COMMON] = {"why", "plan", "in", "strategy", "group"};
#define MAX_ATTR_KEYS 32

static unsigned mesh_axes(Parser *P)
{
    unsigned axes = 0;
    expect(P, '[');
    if (accept(P, ']'))
        return 0;
    do {
        const char *at = (skip_ws(P), P->p);
        int ax = -1;
        if (isdigit((unsigned char)*P->p))
            ax = int32(P, "a mesh axis", 0, 31);
        else {
            const char *n = name(P, "a mesh axis");
            for (int k = 0; k < P->m->mesh.naxes; k++)
                if (!strcmp(P->m->mesh.axis_name[k], n))
                    ax = k;
            if (ax < 0)
                fail(P, at, "unknown mesh axis '%s'", n);
        }
        if (axes & (1u << ax))
            fail(P, at, "mesh axis listed twice");
        axes |= 1u << ax;
    } while (accept(P, ','));
    expect(P, ']');
    return axes;
}

static void attrs(Parser *P, IrInst *i)
{
    int nspec;
    const IrAttrSpec *sp = ir_op_attrs(i->op, &nspec);
    DTC_ASSERT(nspec + K_COMMON <= MAX_ATTR_KEYS);
    bool got[MAX_ATTR_KEYS] = {false};
    if (!accept(P, '{'))
        return;
    do {
        const char *at = (skip_ws(P), P->p);
        const char *kw = ident(P);
        if (!kw)
            fail(P, at, "expected an attribute name, got %s", seen(P));
        int k = 0; /* 0..nspec-1: the op's own; then the common ones */
        while (k < nspec && strcmp(sp[k].key, kw))
            k++;
        if (k == nspec) {
            int c = 0;
            while (c < K_COMMON && strcmp(common_keys[c], kw))
                c++;
            if (c == K_COMMON)
                fail(P, at, "'%s' has no attribute '%s'", ir_op_name(i->op), kw);
            k = nspec + c;
        }
        if (got[k])
            fail(P, at, "attribute '%s' given twice", kw);
        got[k] = true;
        expect(P, '=');
        IrAttrs *a = &i->a;
        if (k < nspec) {
            switch (sp[k].kind) {
            case AK_FLOAT:
                a->f = number(P, kw);
                break;
            case AK_PERM:
                int_list(P, a, kw, 1);
                break;
            case AK_INTS: /* a bare INT reads as a one-entry list */
            case AK_SHIFT:
            case AK_AXIS:
                if (peek(P) == '[')
                    int_list(P, a, kw, 1);
                else
                    ir_attrs_ints(P->ar, a, 1)[0] = int64(P, kw);
                break;
            case AK_PAIRS:
                int_list(P, a, kw, 2);
                break;
            case AK_TRIPLES:
                int_list(P, a, kw, 3);
                break;
            case AK_BOOL:
                a->keepdims = boolean(P, kw);
                break;
            case AK_MESHAXES:
                a->axes = mesh_axes(P);
                break;
            case AK_RED: {
                const char *r = (skip_ws(P), P->p);
                const char *rn = ident(P);
                if (!rn || !red_parse(rn, &a->red))
                    fail(P, r, "unknown reduction (sum, max, min or avg)");
                break;
            }
            case AK_DIM:
                a->dim = int32(P, kw, -IR_MAX_RANK, IR_MAX_RANK);
                break;
            case AK_DIM2:
                a->dim2 = int32(P, kw, -IR_MAX_RANK, IR_MAX_RANK);
                break;
            case AK_BYTES:
            case AK_BYTES_NZ:
                a->bytes = int64(P, kw);
                break;
            case AK_TRIP:
                a->trip = int64(P, kw);
                break;
            case AK_CARRY:
                a->ncarry = int32(P, kw, 0, 1 << 20);
                break;
            case AK_STACK:
                a->nstack = int32(P, kw, 0, 1 << 20);
                break;
            case AK_ASYNC:
                a->async = boolean(P, kw);
                break;
            }
            continue;
        }
        switch (k - nspec) {
        case K_WHY:
            i->why = string(P);
            break;
        case K_PLAN:
            i->plan = string(P);
            break;
        case K_STRATEGY:
            i->strategy = int32(P, kw, -(1 << 30), 1 << 30);
            break;
        case K_GROUP: /* each, or %ROOT (resolved at the function's end) */
            if (accept_word(P, "each")) {
                i->fuse = FUSE_EACH;
            } else {
                if (P->ngroups == P->capgroups) {
                    P->capgroups = P->capgroups ? 2 * P->capgroups : 16;
                    struct PendingGroup *g = arena_alloc(P->ar, sizeof *g * (size_t)P->capgroups);
                    if (P->ngroups)
                        memcpy(g, P->groups, sizeof *g * (size_t)P->ngroups);
                    P->groups = g;
                }
                P->groups[P->ngroups].inst = i;
                P->groups[P->ngroups++].root = ref(P);
                i->fuse = FUSE_MEMBER;
            }
            break;
        case K_IN: {
            /* nargs entries; at least one element so that "in=[]" on a
             * nullary op still reads back as a set in_pl */
            i->in_pl = arena_alloc(P->ar, sizeof *i->in_pl * (size_t)(i->nargs ? i->nargs : 1));
            expect(P, '[');
            int n = 0;
            if (!accept(P, ']')) {
                do {
                    const char *e = (skip_ws(P), P->p);
                    if (n == i->nargs)
                        fail(P, e, "in= has more entries than '%s' has operands (%d)",
                             ir_op_name(i->op), i->nargs);
                    if (!accept_word(P, "_"))
                        i->in_pl[n] = placement(P, i->args[n]->type.rank);
                    n++;
                } while (accept(P, ','));
                expect(P, ']');
            }
            if (n != i->nargs)
                fail(P, at, "in= has %d entries but '%s' has %d operands", n, ir_op_name(i->op),
                     i->nargs);
            break;
        }
        }
    } while (accept(P, ','));
    expect(P, '}');
}

/* ---- instructions and functions ----------------------------------------------------- */
/* Appends an operand to a growing list (any count). */
static void push_operand(Parser *P, IrValue ***args, int *n, int *cap)
{
    if (*n == *cap) {
        IrValue **g = arena_alloc(P->ar, sizeof *g * (size_t)(*cap * 2));
        memcpy(g, *args, sizeof *g * (size_t)*n);
        *args = g;
        *cap *= 2;
    }
    (*args)[(*n)++] = use(P);
}

static void inst(Parser *P)
{
    Def defs[64];
    int nres = 0;
    if (peek(P) == '%') {
        do {
            if (nres == 64)
                fail(P, P->p, "more than 64 results");
            defs[nres++] = def(P);
        } while (accept(P, ','));
        expect(P, '=');
    }
    const char *at = (skip_ws(P), P->p);
    const char *on = ident(P);
    if (!on)
        fail(P, at, "expected an operation, got %s", seen(P));
    IrOp op;
    if (!ir_op_lookup(on, &op))
        fail(P, at, "unknown op '%s'", on);
    bool callee_form =
        op == OP_CALL || op == OP_LOOP || op == OP_GRAD || op == OP_LOCAL_CALL || op == OP_RULE_CALL;
    if (!callee_form && nres != 1)
        fail(P, at, "'%s' defines exactly one value", on);

    int nargs = 0, cap = 8;
    IrValue **args = arena_alloc(P->ar, sizeof *args * (size_t)cap);
    const char *callee = NULL, *callee_at = NULL;
    if (callee_form) {
        expect(P, '@');
        callee_at = (skip_ws(P), P->p);
        callee = name(P, "a function name");
        expect(P, '(');
        if (!accept(P, ')')) {
            do
                push_operand(P, &args, &nargs, &cap);
            while (accept(P, ','));
            expect(P, ')');
        }
    } else if (ir_op_nargs(op) < 0) { /* variadic (concat): one or more */
        do
            push_operand(P, &args, &nargs, &cap);
        while (accept(P, ','));
    } else {
        int want = ir_op_nargs(op);
        while (nargs < want) {
            if (nargs && !accept(P, ','))
                fail(P, P->p, "'%s' takes %d operands, got %d", on, want, nargs);
            push_operand(P, &args, &nargs, &cap);
        }
        if (peek(P) == ',')
            fail(P, P->p, "'%s' takes %d operand%s, got more", on, want, want == 1 ? "" : "s");
    }

    IrType types[64];
    for (int k = 0; k < nres; k++)
        types[k] = defs[k].t;
    IrInst *i = ir_inst_new(P->m, P->f, NULL, op, nargs, args, nres, types);
    for (int k = 0; k < nres; k++) {
        i->res[k]->pl = defs[k].pl;
        i->res[k]->pinned = defs[k].pinned;
        define(P, i->res[k], defs[k].r);
    }
    if (callee_form) {
        i->a.callee = callee;
        if (P->ncalls == P->capcalls) {
            int cap = P->capcalls ? P->capcalls * 2 : 16;
            PendingCall *c = arena_alloc(P->ar, sizeof *c * (size_t)cap);
            if (P->ncalls)
                memcpy(c, P->calls, sizeof *c * (size_t)P->ncalls);
            P->calls = c;
            P->capcalls = cap;
        }
        P->calls[P->ncalls++] = (PendingCall){i, callee_at};
    }
    attrs(P, i);
    if (accept(P, '!'))
        i->loc = loc(P);
}

static void ret(Parser *P)
{
    IrValue *vals[256];
    const char *names[256];
    int feeds[256];
    bool any_feeds = false;
    int n = 0;
    if (peek(P) != '}') {
        do {
            if (n == 256)
                fail(P, P->p, "more than 256 results");
            names[n] = NULL;
            if (peek(P) != '%') {
                names[n] = name(P, "a result name or a value");
                expect(P, ':');
            }
            vals[n] = use(P);
            feeds[n] = -1;
            if (accept_word(P, "feeds")) {
                const char *at = (skip_ws(P), P->p);
                IrValue *pv = use(P);
                if (pv->param_index < 0 || pv->param_index >= P->f->nparams || P->f->params[pv->param_index] != pv)
                    fail(P, at, "feeds: expected a parameter of this function");
                for (int j = 0; j < n; j++)
                    if (feeds[j] == pv->param_index)
                        fail(P, at, "feeds: the parameter is fed twice");
                feeds[n] = pv->param_index;
                any_feeds = true;
            }
            n++;
        } while (accept(P, ','));
    }
    IrFunc *f = P->f;
    f->result_feeds = any_feeds ? arena_dup(P->ar, feeds, (size_t)n, sizeof *feeds) : NULL;
    f->nresults = n;
    f->results = arena_dup(P->ar, vals, (size_t)n, sizeof *vals);
    f->result_names = arena_dup(P->ar, names, (size_t)n, sizeof *names);
}

static IrFunc *find_local(Parser *P, const char *name)
{
    for (int k = 0; k < P->nlocals; k++)
        if (!strcmp(P->locals[k]->name, name))
            return P->locals[k];
    return NULL;
}

/* ` sharding {(E, ...) -> E [cost US]; ...}` after a function's signature:
 * its strategies (IrFunc.rules), entries checked against the parameters'
 * and the first result's ranks once those are known (rule_ranks). */
static void rules_clause(Parser *P)
{
    IrFunc *f = P->f;
    expect(P, '{');
    int cap = 0;
    while (!accept(P, '}')) {
        if (f->nrules == cap) {
            cap = cap ? 2 * cap : 4;
            IrRule *r = arena_alloc(P->ar, sizeof *r * (size_t)cap);
            if (f->nrules)
                memcpy(r, f->rules, sizeof *r * (size_t)f->nrules);
            f->rules = r;
        }
        IrRule *r = &f->rules[f->nrules++];
        memset(r, 0, sizeof *r);
        r->in = arena_alloc(P->ar, sizeof *r->in * (size_t)(f->nparams + 1));
        expect(P, '(');
        for (int k = 0; k < f->nparams; k++) {
            if (k)
                expect(P, ',');
            r->in[k] = pl_entry(P, f->params[k]->type.rank);
        }
        expect(P, ')');
        expect(P, '-');
        expect(P, '>');
        r->out = pl_entry(P, IR_MAX_RANK); /* the result's rank: checked by the verifier */
        if (accept_word(P, "cost"))
            r->cost = number(P, "a cost") * 1e-6;
        expect(P, ';');
    }
}

/* A function; local: the body of a local fn call, kept out of m->funcs. */
static void func(Parser *P, bool local)
{
    expect(P, '@');
    const char *at = (skip_ws(P), P->p);
    const char *fn = name(P, "a function name");
    if (local ? find_local(P, fn) != NULL : ir_func_find(P->m, fn) != NULL)
        fail(P, at, "%sfunction @%s is defined twice", local ? "local " : "", fn);
    if (local) {
        P->f = arena_alloc(P->ar, sizeof *P->f);
        P->f->name = fn;
        if (P->nlocals == P->caplocals) {
            P->caplocals = P->caplocals ? 2 * P->caplocals : 4;
            IrFunc **l = arena_alloc(P->ar, sizeof *l * (size_t)P->caplocals);
            if (P->nlocals)
                memcpy(l, P->locals, sizeof *l * (size_t)P->nlocals);
            P->locals = l;
        }
        P->locals[P->nlocals++] = P->f;
    } else
        P->f = ir_func_new(P->m, fn);
    P->byid = NULL;
    P->cap = 0;
    P->maxid = -1;
    expect(P, '(');
    if (!accept(P, ')')) {
        do
            param(P);
        while (accept(P, ','));
        expect(P, ')');
    }
    if (accept(P, '!'))
        P->f->loc = loc(P);
    if (accept_word(P, "sharding"))
        rules_clause(P);
    expect(P, '{');
    for (;;) {
        char c = peek(P);
        if (c == '}')
            fail(P, P->p, "function @%s has no 'return'", fn);
        if (!c)
            fail(P, P->p, "unexpected end of input in function @%s", fn);
        if (accept_word(P, "return"))
            break;
        inst(P);
    }
    ret(P);
    expect(P, '}');
    for (int k = 0; k < P->ngroups; k++) { /* group=%ROOT: defined anywhere in the function */
        Ref r = P->groups[k].root;
        IrValue *v = r.id < P->cap ? P->byid[r.id] : NULL;
        if (!v)
            fail(P, r.at, "group names undefined value %%%s%s%d", r.name ? r.name : "", r.name ? "." : "", r.id);
        P->groups[k].inst->group = v;
    }
    P->ngroups = 0;
    P->f->next_id = P->maxid + 1;
    P->f = NULL;
}

static void mesh(Parser *P)
{
    IrMesh *mesh = &P->m->mesh;
    mesh->name = name(P, "a mesh name");
    expect(P, '[');
    if (!accept(P, ']')) {
        do {
            const char *at = (skip_ws(P), P->p);
            if (mesh->naxes == IR_MAX_AXES)
                fail(P, at, "a mesh has at most %d axes", IR_MAX_AXES);
            const char *an = name(P, "an axis name");
            for (int k = 0; k < mesh->naxes; k++)
                if (!strcmp(mesh->axis_name[k], an))
                    fail(P, at, "mesh axis '%s' declared twice", an);
            expect(P, '=');
            mesh->axis_name[mesh->naxes] = an;
            mesh->size[mesh->naxes] = int32(P, "an axis size", 1, 1 << 20);
            mesh->naxes++;
        } while (accept(P, ','));
        expect(P, ']');
    }
    P->have_mesh = true;
}

static void module(Parser *P)
{
    bool seen_func = false, seen_source = false;
    while (peek(P)) {
        const char *at = P->p;
        if (accept_word(P, "func")) {
            func(P, false);
            seen_func = true;
        } else if (accept_word(P, "local") || accept_word(P, "rule")) {
            /* local: a local fn call's body; rule: a rule_call's callee (ir/rule.c) */
            if (!accept_word(P, "func"))
                fail(P, P->p, "expected 'func' after 'local' or 'rule', got %s", seen(P));
            func(P, true);
            seen_func = true;
        } else if (accept_word(P, "mesh")) {
            if (P->have_mesh || seen_func)
                fail(P, at, P->have_mesh ? "a second mesh" : "'mesh' must come before the functions");
            mesh(P);
        } else if (accept_word(P, "source")) {
            if (seen_source || seen_func)
                fail(P, at, seen_source ? "a second 'source'" : "'source' must come before the functions");
            P->src = string(P);
            seen_source = true;
        } else if (accept_word(P, "entry")) {
            if (P->entry)
                fail(P, at, "a second 'entry'");
            expect(P, '@');
            P->entry_at = (skip_ws(P), P->p);
            P->entry = name(P, "a function name");
        } else
            fail(P, at, "expected 'func', 'mesh', 'source' or 'entry', got %s", seen(P));
    }
    for (int k = 0; k < P->ncalls; k++) {
        IrInst *i = P->calls[k].inst;
        i->a.fn = i->op == OP_LOCAL_CALL || i->op == OP_RULE_CALL ? find_local(P, i->a.callee)
                                                                  : ir_func_find(P->m, i->a.callee);
        if (!i->a.fn)
            fail(P, P->calls[k].at, "%s to unknown %sfunction @%s", i->op == OP_LOOP ? "loop" : "call",
                 i->op == OP_LOCAL_CALL ? "local " : "", i->a.callee);
    }
    if (P->entry) {
        P->m->entry = ir_func_find(P->m, P->entry);
        if (!P->m->entry)
            fail(P, P->entry_at, "entry function @%s is not defined", P->entry);
    }
}

IrModule *ir_parse(Arena *a, const char *file, const char *text, FILE *err)
{
    Parser *P = arena_alloc(a, sizeof *P);
    P->ar = a;
    P->file = file;
    P->text = P->p = text;
    P->err = err;
    P->m = ir_module_new(a);
    if (setjmp(P->fail))
        return NULL;
    module(P);
    return P->m;
}
