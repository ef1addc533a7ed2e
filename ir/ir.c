/* ir.c - IR basics: dtypes, types, the op table, meshes, placements,
 * construction and editing of functions.  See ir.h. */
#include "ir/ir.h"
#include "runtime/core/rt_core.h"

#include <stdio.h>
#include <string.h>

/* ---- dtypes ---------------------------------------------------------------- */
static const char *const dtype_names[DT_COUNT] = {"f32", "f64", "i32", "f16", "bf16"};
static const int dtype_sizes[DT_COUNT] = {4, 8, 4, 2, 2};

const char *ir_dtype_name(DType t) { return (unsigned)t < DT_COUNT ? dtype_names[t] : "?"; }
int ir_dtype_size(DType t) { return (unsigned)t < DT_COUNT ? dtype_sizes[t] : 0; }
bool ir_dtype_is_float(DType t) { return t != DT_I32; }

bool ir_dtype_parse(const char *s, DType *out)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (!strcmp(s, dtype_names[i])) {
            *out = (DType)i;
            return true;
        }
    return false;
}

/* ---- types ------------------------------------------------------------------ */
int64_t ir_type_numel(const IrType *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

bool ir_type_eq(const IrType *a, const IrType *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

char *ir_type_str(const IrType *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s[", ir_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---- reductions, placements, meshes ------------------------------------------ */
static const char *const red_names[] = {"sum", "max", "min", "avg"};
const char *ir_red_name(RedOp r) { return (unsigned)r < 4 ? red_names[r] : "?"; }

bool pl_eq(const Placement *a, const Placement *b)
{
    if (a->naxes != b->naxes)
        return false;
    for (int i = 0; i < a->naxes; i++) {
        const PlEntry *x = &a->e[i], *y = &b->e[i];
        if (x->kind != y->kind)
            return false;
        if (x->kind == PL_S && x->dim != y->dim)
            return false;
        if (x->kind == PL_P && x->red != y->red)
            return false;
    }
    return true;
}

bool pl_is_replicated(const Placement *p)
{
    for (int i = 0; i < p->naxes; i++)
        if (p->e[i].kind != PL_R)
            return false;
    return true;
}

Placement pl_replicated(int naxes)
{
    Placement p;
    memset(&p, 0, sizeof p);
    p.naxes = naxes;
    return p;
}

/* The mesh arithmetic is the runtime core's (rt_mesh.c), so the compiler
 * and compiled programs agree on every rank's coordinates and groups. */
_Static_assert(IR_MAX_AXES == RT_MAX_AXES, "IrMesh and the core hold as many axes");

int ir_mesh_nranks(const IrMesh *m)
{
    return rt_grid_count(m->naxes, m->size, rt_grid_all(m->naxes));
}

void ir_mesh_coords(const IrMesh *m, int rank, int coords[IR_MAX_AXES])
{
    rt_grid_coords(m->naxes, m->size, rank, coords);
}

int ir_mesh_rank(const IrMesh *m, const int coords[IR_MAX_AXES])
{
    return rt_grid_rank(m->naxes, m->size, coords);
}

bool ir_mesh_next_coords(const IrMesh *m, unsigned mask, int coords[IR_MAX_AXES])
{
    return rt_grid_next(m->naxes, m->size, mask, coords);
}

char *pl_str(const IrMesh *m, const Placement *p, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s[", m && m->name ? m->name : "?");
    for (int i = 0; i < p->naxes && k < n; i++) {
        const PlEntry *e = &p->e[i];
        const char *sep = i ? ", " : "";
        if (e->kind == PL_R)
            k += (size_t)snprintf(buf + k, n - k, "%sR", sep);
        else if (e->kind == PL_S)
            k += (size_t)snprintf(buf + k, n - k, "%sS(%d)", sep, e->dim);
        else
            k += (size_t)snprintf(buf + k, n - k, "%sP(%s)", sep, ir_red_name(e->red));
    }
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

void pl_local_range(const IrMesh *m, const Placement *p, const int coords[IR_MAX_AXES],
                    int dim, int64_t n, int64_t *off, int64_t *len)
{
    unsigned split = 0;
    for (int a = 0; a < p->naxes && a < m->naxes; a++)
        if (p->e[a].kind == PL_S && p->e[a].dim == dim)
            split |= 1u << a;
    rt_chunk_nested(n, m->naxes, m->size, split, coords, off, len);
}

IrType pl_local_type(const IrMesh *m, const IrType *t, const Placement *p,
                     const int coords[IR_MAX_AXES])
{
    IrType lt = *t;
    for (int d = 0; d < t->rank; d++) {
        int64_t off;
        pl_local_range(m, p, coords, d, t->dims[d], &off, &lt.dims[d]);
    }
    return lt;
}

/* ---- the op table ---------------------------------------------------------------- */
static const struct {
    const char *name;
    int nargs;
    unsigned flags;
} op_table[OP_COUNT] = {
#define OP(id, name, nargs, flags) {name, nargs, flags},
#include "ir/ops.def"
#undef OP
};

const char *ir_op_name(IrOp op) { return (unsigned)op < OP_COUNT ? op_table[op].name : "?"; }
int ir_op_nargs(IrOp op) { return op_table[op].nargs; }
unsigned ir_op_flags(IrOp op) { return op_table[op].flags; }

bool ir_op_lookup(const char *name, IrOp *out)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (!strcmp(op_table[i].name, name)) {
            *out = (IrOp)i;
            return true;
        }
    return false;
}

/* ---- the attribute schema ------------------------------------------------------- */
/* Two parallel tables, so that one op's specs (adjacent rows) form an array. */
static const IrOp attr_op[] = {
#define OP(id, name, nargs, flags)
#define OP_ATTR(id, key, kind) OP_##id,
#include "ir/ops.def"
#undef OP_ATTR
#undef OP
};
static const IrAttrSpec attr_spec[] = {
#define OP(id, name, nargs, flags)
#define OP_ATTR(id, key, kind) {#key, AK_##kind},
#include "ir/ops.def"
#undef OP_ATTR
#undef OP
};
#define NATTR_ROWS ((int)(sizeof attr_op / sizeof attr_op[0]))

const IrAttrSpec *ir_op_attrs(IrOp op, int *n)
{
    int k = 0;
    while (k < NATTR_ROWS && attr_op[k] != op)
        k++;
    int e = k;
    while (e < NATTR_ROWS && attr_op[e] == op)
        e++;
    *n = e - k;
    return *n ? &attr_spec[k] : NULL;
}

bool ir_attrs_eq(IrOp op, const IrAttrs *a, const IrAttrs *b)
{
    int n;
    const IrAttrSpec *sp = ir_op_attrs(op, &n);
    for (int k = 0; k < n; k++) {
        switch (sp[k].kind) {
        case AK_FLOAT:
            if (memcmp(&a->f, &b->f, sizeof a->f) != 0)
                return false;
            break;
        case AK_INTS:
        case AK_AXIS:
        case AK_SHIFT:
        case AK_PERM:
        case AK_PAIRS:
        case AK_TRIPLES:
            if (a->nints != b->nints)
                return false;
            for (int j = 0; j < a->nints; j++)
                if (a->ints[j] != b->ints[j])
                    return false;
            break;
        case AK_BOOL:
            if (a->keepdims != b->keepdims)
                return false;
            break;
        case AK_MESHAXES:
            if (a->axes != b->axes)
                return false;
            break;
        case AK_RED:
            if (a->red != b->red)
                return false;
            break;
        case AK_DIM:
            if (a->dim != b->dim)
                return false;
            break;
        case AK_DIM2:
            if (a->dim2 != b->dim2)
                return false;
            break;
        case AK_BYTES:
        case AK_BYTES_NZ:
            break; /* derived data, for dumps */
        case AK_TRIP:
            if (a->trip != b->trip)
                return false;
            break;
        case AK_CARRY:
            if (a->ncarry != b->ncarry)
                return false;
            break;
        case AK_STACK:
            if (a->nstack != b->nstack)
                return false;
            break;
        case AK_ASYNC:
            if (a->async != b->async)
                return false;
            break;
        }
    }
    return a->fn == b->fn;
}

int64_t *ir_attrs_ints(Arena *ar, IrAttrs *at, int n)
{
    at->ints = arena_alloc(ar, sizeof *at->ints * (size_t)(n > 0 ? n : 1));
    at->nints = n;
    return at->ints;
}

IrAttrs ir_attrs_swap_last_two(Arena *ar, int rank)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int64_t *perm = ir_attrs_ints(ar, &a, rank);
    for (int d = 0; d < rank; d++)
        perm[d] = d;
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    return a;
}

IrAttrs ir_attrs_iota2(Arena *ar, int64_t rows, int64_t cols, int dim)
{
    IrAttrs a;
    memset(&a, 0, sizeof a);
    int64_t *s = ir_attrs_ints(ar, &a, 2);
    s[0] = rows;
    s[1] = cols;
    a.dim = dim;
    return a;
}

/* ---- construction ---------------------------------------------------------------- */
IrModule *ir_module_new(Arena *a)
{
    IrModule *m = arena_alloc(a, sizeof *m);
    m->arena = a;
    return m;
}

IrFunc *ir_func_new(IrModule *m, const char *name)
{
    IrFunc *f = arena_alloc(m->arena, sizeof *f);
    f->name = arena_strdup(m->arena, name);
    /* capacity doubles at every power of two (so whoever sets funcs to an
       array of one may do so): linear in the number of functions */
    if ((m->nfuncs & (m->nfuncs - 1)) == 0) {
        IrFunc **fs = arena_alloc(m->arena, sizeof *fs * (size_t)(m->nfuncs ? 2 * m->nfuncs : 1));
        if (m->nfuncs)
            memcpy(fs, m->funcs, sizeof *fs * (size_t)m->nfuncs);
        m->funcs = fs;
    }
    m->funcs[m->nfuncs++] = f;
    return f;
}

IrFunc *ir_func_find(IrModule *m, const char *name)
{
    for (int i = 0; i < m->nfuncs; i++)
        if (!strcmp(m->funcs[i]->name, name))
            return m->funcs[i];
    return NULL;
}

IrValue *ir_value_new(IrModule *m, IrFunc *f, IrType t)
{
    IrValue *v = arena_alloc(m->arena, sizeof *v);
    v->id = f->next_id++;
    v->type = t;
    v->param_index = -1;
    return v;
}

IrValue *ir_param_new(IrModule *m, IrFunc *f, const char *name, IrType t, Placement pl, IrInit init)
{
    IrValue *v = ir_value_new(m, f, t);
    v->name = arena_strdup(m->arena, name);
    v->pl = pl;
    v->pinned = pl.naxes > 0;
    v->param_index = f->nparams;
    IrValue **ps = arena_alloc(m->arena, sizeof *ps * (size_t)(f->nparams + 1));
    IrInit *is = arena_alloc(m->arena, sizeof *is * (size_t)(f->nparams + 1));
    if (f->nparams) {
        memcpy(ps, f->params, sizeof *ps * (size_t)f->nparams);
        memcpy(is, f->inits, sizeof *is * (size_t)f->nparams);
    }
    ps[f->nparams] = v;
    is[f->nparams] = init;
    f->params = ps;
    f->inits = is;
    f->nparams++;
    return v;
}

IrInst *ir_inst_new(IrModule *m, IrFunc *f, IrInst *before, IrOp op,
                    int nargs, IrValue **args, int nres, const IrType *res_types)
{
    IrInst *i = arena_alloc(m->arena, sizeof *i);
    i->op = op;
    i->nargs = nargs;
    i->args = arena_dup(m->arena, args, (size_t)nargs, sizeof *args);
    i->nres = nres;
    i->res = arena_alloc(m->arena, sizeof *i->res * (size_t)(nres ? nres : 1));
    for (int k = 0; k < nres; k++) {
        i->res[k] = ir_value_new(m, f, res_types[k]);
        i->res[k]->def = i;
    }
    if (before) {
        i->next = before;
        i->prev = before->prev;
        if (before->prev)
            before->prev->next = i;
        else
            f->first = i;
        before->prev = i;
    } else {
        i->prev = f->last;
        if (f->last)
            f->last->next = i;
        else
            f->first = i;
        f->last = i;
    }
    return i;
}

bool ir_op_loopable(IrOp op)
{
    return (ir_op_flags(op) & OPF_EW) || op == OP_CONST || op == OP_IOTA || op == OP_TRANSPOSE ||
           op == OP_SHARD || op == OP_TO_PARTIAL || op == OP_SLICE || op == OP_BROADCAST_TO;
}

bool ir_swaps_last_two(const IrInst *i)
{
    int r = i->res[0]->type.rank;
    if (i->op != OP_TRANSPOSE || r < 2 || i->a.nints != r)
        return false;
    for (int d = 0; d < r; d++) {
        int64_t p = i->a.ints[d] < 0 ? i->a.ints[d] + r : i->a.ints[d];
        int want = d == r - 2 ? r - 1 : d == r - 1 ? r - 2 : d;
        if (p != want)
            return false;
    }
    return true;
}

IrInst *ir_inst_typed(IrModule *m, IrFunc *f, IrInst *before, IrOp op, int nargs, IrValue **args,
                      const IrAttrs *a, DType dt, SrcLoc loc, const Placement *pl, const char *who)
{
    IrType few[8], out;
    IrType *types = nargs <= 8 ? few : arena_alloc(m->arena, sizeof *types * (size_t)nargs);
    for (int k = 0; k < nargs; k++)
        types[k] = args[k]->type;
    memset(&out, 0, sizeof out);
    out.dtype = dt;
    static const IrAttrs none;
    const char *e = ir_infer(m->arena, op, nargs, types, a ? a : &none, &out);
    if (e)
        DTC_BUG(arena_printf(m->arena, "%s: %s: %s", who, ir_op_name(op), e));
    IrInst *i = ir_inst_new(m, f, before, op, nargs, args, 1, &out);
    if (a)
        i->a = *a;
    i->loc = loc;
    if (pl) {
        i->res[0]->pl = *pl;
        i->in_pl = arena_alloc(m->arena, sizeof *i->in_pl * (size_t)(nargs > 0 ? nargs : 1));
        for (int k = 0; k < nargs; k++)
            i->in_pl[k] = args[k]->pl;
    }
    return i;
}

void ir_inst_remove(IrFunc *f, IrInst *i)
{
    if (i->prev)
        i->prev->next = i->next;
    else
        f->first = i->next;
    if (i->next)
        i->next->prev = i->prev;
    else
        f->last = i->prev;
    i->prev = i->next = NULL;
}

void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to)
{
    for (IrInst *i = f->first; i; i = i->next)
        for (int k = 0; k < i->nargs; k++)
            if (i->args[k] == from)
                i->args[k] = to;
    for (int k = 0; k < f->nresults; k++)
        if (f->results[k] == from)
            f->results[k] = to;
}
