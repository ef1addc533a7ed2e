/* surface.c - the surface schema (surface.h) read from the OP_SURFACE /
 * OP_ARG rows of ir/ops.def and the surface names of ir/ops_ew.def.  The
 * tables are constant; lookups walk them (a few dozen rows).
 */
#include "ir/surface.h"

#include <string.h>

#include "ir/ew.h"

static const IrSurfRow rows[] = {
#define OP(id, name, nargs, flags)
#define OP_SURFACE(name, family, op, usage) {name, IR_SF_##family, OP_##op, usage, NULL, 0, 0, NULL, NULL},
#define OP_ARG(key, kind, how, dflt, noun) {NULL, 0, 0, NULL, #key, IR_ARG_##kind, IR_ARG_##how, dflt, noun},
#include "ir/ops.def"
#undef OP_ARG
#undef OP_SURFACE
#undef OP
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* The elementwise parameters: op(x), op(a, b), where(c, a, b). */
static const IrSurfRow ew_params[4][3] = {
    {{NULL, 0, 0, NULL, NULL, 0, 0, NULL, NULL}},
    {{NULL, 0, 0, NULL, "x", IR_ARG_TENSOR, IR_ARG_POS, NULL, NULL}},
    {{NULL, 0, 0, NULL, "a", IR_ARG_TENSOR, IR_ARG_POS, NULL, NULL},
     {NULL, 0, 0, NULL, "b", IR_ARG_TENSOR, IR_ARG_POS, NULL, NULL}},
    {{NULL, 0, 0, NULL, "c", IR_ARG_TENSOR, IR_ARG_POS, NULL, NULL},
     {NULL, 0, 0, NULL, "a", IR_ARG_TENSOR, IR_ARG_POS, NULL, NULL},
     {NULL, 0, 0, NULL, "b", IR_ARG_TENSOR, IR_ARG_POS, NULL, NULL}},
};

static void counts(IrSurface *s)
{
    s->npos = s->nneed = 0;
    bool optional = false;
    for (int k = 0; k < s->nparams; k++) {
        const IrSurfRow *p = &s->params[k];
        if (!(p->how & IR_ARG_POS))
            continue;
        s->npos++;
        if (p->dflt || (p->how & IR_ARG_KW))
            optional = true;
        else if (!optional)
            s->nneed++;
    }
    s->fixed = s->nneed == s->npos;
    DTC_ASSERT(s->nparams <= IR_SURF_MAX_ARGS);
}

bool ir_surface_find(Arena *a, const char *name, IrSurface *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < NROWS; k++) {
        if (!rows[k].fn || strcmp(rows[k].fn, name))
            continue;
        out->name = rows[k].fn;
        out->family = rows[k].family;
        out->op = rows[k].op;
        out->usage = rows[k].usage;
        out->params = &rows[k + 1];
        while (k + 1 + out->nparams < NROWS && !rows[k + 1 + out->nparams].fn)
            out->nparams++;
        counts(out);
        return true;
    }
    const IrEwInfo *e = ir_ew_by_surface(name);
    if (!e)
        return false;
    DTC_ASSERT(e->nargs >= 1 && e->nargs <= 3);
    out->name = e->surface;
    out->family = IR_SF_EW;
    out->op = e->op;
    out->nparams = e->nargs;
    out->params = ew_params[e->nargs];
    static const char *const operands[] = {"", "(x)", "(a, b)", "(c, a, b)"};
    out->usage = a ? arena_printf(a, "%s%s", e->surface, operands[e->nargs]) : NULL;
    counts(out);
    return true;
}

const char *ir_surface_name(int k)
{
    for (int j = 0; j < NROWS; j++)
        if (rows[j].fn && k-- == 0)
            return rows[j].fn;
    for (int j = 0; j < ir_ew_count(); j++)
        if (ir_ew_row(j)->surface && k-- == 0)
            return ir_ew_row(j)->surface;
    return NULL;
}
