/* sema_decl.c - the declarative parts of a program: tensor types,
 * placements M[...] against the mesh, the mesh declaration itself (and its
 * --mesh overrides), and parameter initialisers (randn, rand, zeros, ones,
 * full, arange, load) with their seeds, values and files (randn and rand
 * may draw new data every step of a multi-step run: per_step=true).
 *
 * Decisions are stated in sema.c's header comment; a number that an
 * initialiser or an attribute turns into a float must fit its dtype
 * (sema_float_fits).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "frontend/sema_internal.h"

/* ---- types ---------------------------------------------------------------------- */
bool sema_resolve_type(Sema *S, const TypeAst *ta, IrType *out)
{
    bool ok = true;
    memset(out, 0, sizeof *out);
    if (!ta->dtype || !ir_dtype_parse(ta->dtype, &out->dtype)) {
        sema_err(S, ta->dtype_loc.line ? ta->dtype_loc : ta->loc,
                 "unknown dtype '%s' (expected f32, f64, i32, f16 or bf16)", ta->dtype ? ta->dtype : "");
        ok = false;
    }
    if (ta->shape_var) {
        const IrType *bound = S->shapes ? fe_names_get(S->shapes, ta->shape_var) : NULL;
        if (!bound) {
            sema_err(S, ta->shape_var_loc, "shape variable *%s is not bound here: a shape variable stands "
                     "for the shape of an argument, so it must appear in a parameter's type of the "
                     "function that uses it", ta->shape_var);
            return false;
        }
        out->rank = bound->rank;
        memcpy(out->dims, bound->dims, sizeof out->dims);
        return ok;
    }
    if (ta->rank > IR_MAX_RANK) {
        sema_err(S, ta->loc, "a tensor has at most %d dimensions, this type has %d", IR_MAX_RANK, ta->rank);
        return false;
    }
    out->rank = ta->rank;
    int64_t numel = 1;
    for (int k = 0; k < ta->rank; k++) {
        int64_t d;
        if (!sema_eval_int(S, ta->dims[k], "a dimension", &d)) {
            ok = false;
            continue;
        }
        if (d <= 0) {
            sema_err(S, ta->dims[k]->loc, "a dimension must be positive, got %lld", (long long)d);
            ok = false;
            continue;
        }
        out->dims[k] = d;
        if (ok && (__builtin_mul_overflow(numel, d, &numel) || numel > ((int64_t)1 << 48))) {
            sema_err(S, ta->dims[k]->loc, "tensor type has too many elements");
            ok = false;
        }
    }
    return ok;
}

/* ---- placements ------------------------------------------------------------------- */
static const char *axes_str(Sema *S)
{
    const IrMesh *m = &S->m->mesh;
    char buf[256] = "";
    for (int k = 0; k < m->naxes; k++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s", k ? ", " : "", m->axis_name[k]);
    }
    return arena_strdup(S->a, buf);
}

/* An example placement for messages: all R. */
const char *sema_example_pl(Sema *S)
{
    const IrMesh *m = &S->m->mesh;
    char buf[128];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s[", m->name);
    for (int k = 0; k < m->naxes && len < sizeof buf; k++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%sR", k ? ", " : "");
    if (len < sizeof buf)
        snprintf(buf + len, sizeof buf - len, "]");
    return arena_strdup(S->a, buf);
}

/* One entry of a placement: R, S(d), P, P(kind).  t: the tensor's type, or
 * NULL when it failed to resolve (then S(d) is not range-checked: the type
 * error was reported already). */
bool sema_resolve_pl_entry(Sema *S, const Expr *e, const IrType *t, PlEntry *out)
{
    memset(out, 0, sizeof *out);
    const char *nm = e->kind == E_NAME || e->kind == E_CALL ? e->name : NULL;
    if (e->kind == E_NAME && !strcmp(nm, "R")) {
        out->kind = PL_R;
        return true;
    }
    if (e->kind == E_NAME && !strcmp(nm, "P")) {
        out->kind = PL_P;
        out->red = RED_SUM;
        return true;
    }
    if (e->kind == E_NAME && !strcmp(nm, "S")) {
        sema_err(S, e->loc, "S needs the tensor dim it splits, as in S(0)");
        return false;
    }
    if (e->kind == E_CALL && !strcmp(nm, "R")) {
        sema_err(S, e->loc, "R takes no arguments");
        return false;
    }
    if (e->kind == E_CALL && (!strcmp(nm, "S") || !strcmp(nm, "P"))) {
        if (e->nkw > 0) {
            sema_err(S, e->kw_locs[0], "%s takes no keyword arguments", nm);
            return false;
        }
        if (e->nargs != 1) {
            sema_err(S, e->nargs > 1 ? e->args[1]->loc : e->loc, "%s takes one argument, as in %s",
                     nm, nm[0] == 'S' ? "S(0)" : "P(sum)");
            return false;
        }
        const Expr *a = e->args[0];
        if (nm[0] == 'P') {
            static const char *const kinds[] = {"sum", "max", "min", "avg"};
            if (a->kind == E_NAME)
                for (int k = 0; k < 4; k++)
                    if (!strcmp(a->name, kinds[k])) {
                        out->kind = PL_P;
                        out->red = (RedOp)k;
                        return true;
                    }
            if (a->kind == E_NAME)
                sema_err(S, a->loc, "unknown partial kind '%s' (expected sum, max, min or avg)", a->name);
            else
                sema_err(S, a->loc, "a partial kind is one of sum, max, min or avg");
            return false;
        }
        int64_t d;
        if (!sema_eval_int(S, a, "the dim of S(dim)", &d))
            return false;
        out->kind = PL_S;
        if (!t) {
            out->dim = 0;
            return true;
        }
        if (t->rank == 0) {
            sema_err(S, a->loc, "S(%lld): a scalar %s has no dim to split", (long long)d, sema_tstr(S, t));
            return false;
        }
        if (d < -t->rank || d >= t->rank) {
            sema_err(S, a->loc, "S(%lld): dim out of range for %s (expected %d..%d)", (long long)d,
                     sema_tstr(S, t), -t->rank, t->rank - 1);
            return false;
        }
        out->dim = (int)(d < 0 ? d + t->rank : d);
        return true;
    }
    sema_err(S, e->loc, "a placement entry is R, S(dim), P or P(sum|max|min|avg), got '%s'",
             fe_expr_str(S->a, e));
    return false;
}

/* mesh[entries] for a tensor of type t (NULL: unknown); auto_ok: a
 * parameter's, which may be M[auto] (naxes 0: the compiler chooses). */
bool sema_resolve_pl(Sema *S, SrcLoc loc, const char *mesh, int n, Expr *const *entries,
                     const IrType *t, bool auto_ok, Placement *out)
{
    memset(out, 0, sizeof *out);
    if (!S->mesh) {
        sema_err(S, loc, "unknown mesh '%s': the program declares no mesh", mesh);
        return false;
    }
    if (!S->mesh_ok)
        return false; /* reported at the mesh */
    const IrMesh *m = &S->m->mesh;
    if (strcmp(mesh, m->name)) {
        sema_err(S, loc, "unknown mesh '%s' (the mesh is '%s')", mesh, m->name);
        return false;
    }
    /* M[auto]: the compiler chooses the whole placement (an entry parameter:
     * propagate's search, issue 9); the value is not pinned */
    for (int k = 0; k < n; k++)
        if (entries[k]->kind == E_NAME && !strcmp(entries[k]->name, "auto")) {
            if (!auto_ok) {
                sema_err(S, entries[k]->loc, "auto: only a parameter's placement can be left to the compiler");
                return false;
            }
            if (n == 1)
                return true;
            sema_err(S, entries[k]->loc, "auto stands for the whole placement: write %s[auto]", m->name);
            return false;
        }
    bool ok = true;
    if (n != m->naxes) {
        sema_err(S, n > m->naxes ? entries[m->naxes]->loc : loc,
                 "placement has %d entr%s but mesh '%s' has %d ax%s (%s): one entry per axis",
                 n, n == 1 ? "y" : "ies", m->name, m->naxes, m->naxes == 1 ? "is" : "es", axes_str(S));
        ok = false;
    }
    out->naxes = m->naxes;
    for (int k = 0; k < n && k < m->naxes; k++)
        if (!sema_resolve_pl_entry(S, entries[k], t, &out->e[k]))
            ok = false;
    return ok;
}

bool sema_resolve_pl_ast(Sema *S, const PlacementAst *pa, const IrType *t, bool auto_ok, Placement *out)
{
    return sema_resolve_pl(S, pa->loc, pa->mesh ? pa->mesh : "", pa->n, pa->entries, t, auto_ok, out);
}

/* ---- the mesh ---------------------------------------------------------------------- */
void sema_check_mesh(Sema *S)
{
    Decl *md = S->mesh;
    IrMesh *m = &S->m->mesh;
    bool ok = true;
    if (!md)
        goto overrides;
    m->name = arena_strdup(S->a, md->name);
    if (md->naxes == 0)
        ok = false; /* the parser reported it */
    if (md->naxes > IR_MAX_AXES) {
        sema_err(S, md->loc, "mesh '%s' has %d axes; at most %d are supported", md->name, md->naxes,
                 IR_MAX_AXES);
        ok = false;
    }
    int64_t nranks = 1;
    for (int k = 0; k < md->naxes && k < IR_MAX_AXES; k++) {
        for (int j = 0; j < k; j++)
            if (!strcmp(md->axis_names[j], md->axis_names[k])) {
                sema_err(S, md->axis_locs[k], "mesh axis '%s' is declared twice", md->axis_names[k]);
                sema_note(S, md->axis_locs[j], "first declared here");
                ok = false;
                break;
            }
        int64_t size;
        if (!sema_eval_int(S, md->axis_sizes[k], "a mesh axis size", &size)) {
            ok = false;
            continue;
        }
        if (size <= 0) {
            sema_err(S, md->axis_sizes[k]->loc, "mesh axis '%s' must have a positive size, got %lld",
                     md->axis_names[k], (long long)size);
            ok = false;
            continue;
        }
        if (size > 65536 || (nranks *= size) > 65536) {
            sema_err(S, md->axis_sizes[k]->loc, "mesh '%s' is too large (more than 65536 ranks)", md->name);
            ok = false;
            continue;
        }
        m->axis_name[k] = arena_strdup(S->a, md->axis_names[k]);
        m->size[k] = (int)size;
    }
    if (ok)
        m->naxes = md->naxes;

overrides:
    if (!S->opt || !S->opt->mesh_axis || !S->opt->mesh_size)
        goto done;
    for (int k = 0; k < S->opt->nmesh_override; k++) {
        const char *ax = S->opt->mesh_axis[k] ? S->opt->mesh_axis[k] : "";
        int size = S->opt->mesh_size[k];
        if (!md) {
            sema_err(S, sema_noloc(), "--mesh %s=%d: the program declares no mesh", ax, size);
            continue;
        }
        if (!ok)
            continue;
        int i = 0;
        while (i < m->naxes && strcmp(m->axis_name[i], ax))
            i++;
        if (i == m->naxes) {
            sema_err(S, sema_noloc(), "--mesh: unknown axis '%s' (mesh %s has axes %s)", ax, m->name,
                     axes_str(S));
            continue;
        }
        if (size <= 0) {
            sema_err(S, sema_noloc(), "--mesh: axis '%s' must have a positive size, got %d", ax, size);
            continue;
        }
        m->size[i] = size;
    }
    if (ok && ir_mesh_nranks(m) > 65536) {
        sema_err(S, sema_noloc(), "--mesh: mesh '%s' is too large (more than 65536 ranks)", m->name);
        ok = false;
    }
done:
    S->mesh_ok = md && ok;
    if (!S->mesh_ok)
        m->naxes = 0;
}

/* ---- numbers as values of a dtype ----------------------------------------------------- */

/* A nonzero number that rounds to 0 in float dtype dt (round to nearest;
 * half the smallest subnormal rounds to 0). */
static bool rounds_to_zero(double v, DType dt)
{
    double a = fabs(v);
    switch (dt) {
    case DT_F32:
        return a != 0 && (float)a == 0.0f;
    case DT_BF16:
        return a != 0 && a <= 0x1p-134;
    case DT_F16:
        return a != 0 && a <= 0x1p-25;
    default:
        return false;
    }
}

/* Number v as a value of float dtype dt: an error when it is too large
 * (it would be inf) or nonzero but so small that it would be 0.  One that
 * becomes a subnormal of dt is kept, as NumPy keeps np.float32(1e-40). */
bool sema_float_fits(Sema *S, SrcLoc loc, double v, const char *shown, DType dt)
{
    if (!shown)
        shown = sema_float_str(S, v);
    double lim = dt == DT_F16 ? 65504.0 : dt == DT_F32 || dt == DT_BF16 ? (double)FLT_MAX : DBL_MAX;
    if (fabs(v) > lim) {
        sema_err(S, loc, "the constant %s does not fit in %s", shown, ir_dtype_name(dt));
        return false;
    }
    if (rounds_to_zero(v, dt)) {
        const char *tiny = dt == DT_F16 ? "6e-08" : dt == DT_BF16 ? "9.2e-41" : "1.4e-45";
        sema_err(S, loc, "the constant %s is too small for %s: it would be 0 (the smallest nonzero %s "
                 "is about %s)", shown, ir_dtype_name(dt), ir_dtype_name(dt), tiny);
        return false;
    }
    return true;
}

/* ---- initialisers ------------------------------------------------------------------- */
/* A keyword number of an initialiser call (dflt when not given); with
 * dt_known it must be a value of float dtype dt. */
static bool init_number(Sema *S, const Expr *call, const char *kw, double dflt, double *out,
                        bool *given, bool dt_known, DType dt)
{
    SrcLoc at;
    const Expr *e = sema_find_kw(call, kw, &at);
    *out = dflt;
    if (given)
        *given = e != NULL;
    if (!e)
        return true;
    SVal v = sema_eval_num(S, e);
    if (v.k == SV_ERR)
        return false;
    *out = sema_num_f(v);
    return !dt_known || sema_float_fits(S, e->loc, *out, NULL, dt);
}

/* x: t = INIT.  t is NULL when the type failed (then only the form is checked). */
bool sema_resolve_init(Sema *S, const ParamAst *pa, const IrType *t, IrInit *out)
{
    const Expr *e = pa->init;
    memset(out, 0, sizeof *out);
    if (e->kind != E_CALL || !sema_is_init_name(e->name)) {
        sema_err(S, e->loc, "the default of parameter '%s' must be an initialiser: randn(seed=K), "
                 "rand(seed=K), zeros(), ones(), full(F), arange() or load(\"file.npy\")", pa->name);
        return false;
    }
    const char *nm = e->name;
    bool ok = true;
    int npos = !strcmp(nm, "full") || !strcmp(nm, "load") ? 1 : 0;
    const char *kws = !strcmp(nm, "randn") ? "seed std mean per_step" : !strcmp(nm, "rand") ? "seed lo hi per_step" : "";
    if (e->nargs != npos) {
        if (npos == 0)
            sema_err(S, e->args[0]->loc, "%s takes no positional arguments%s", nm,
                     *kws ? " (use seed=K)" : "");
        else
            sema_err(S, e->nargs > npos ? e->args[npos]->loc : e->loc, "%s takes one argument, as in %s",
                     nm, nm[0] == 'f' ? "full(0.5)" : "load(\"w.npy\")");
        ok = false;
    }
    if (!sema_check_kws(S, e, kws))
        ok = false;
    if (!ok)
        return false;
    bool is_float = !t || ir_dtype_is_float(t->dtype);
    bool dt_known = t && is_float; /* then values must fit it */
    DType dt = t ? t->dtype : DT_F32;
    if (!strcmp(nm, "randn") || !strcmp(nm, "rand")) {
        out->kind = nm[4] == 'n' ? INIT_RANDN : INIT_RAND;
        SrcLoc seed_at;
        const Expr *se = sema_find_kw(e, "seed", &seed_at);
        if (!se) {
            sema_err(S, e->loc, "%s needs a seed, as in %s(seed=1)", nm, nm);
            ok = false;
        } else {
            int64_t seed;
            if (!sema_eval_int(S, se, "the seed", &seed))
                ok = false;
            else if (seed < 0) {
                sema_err(S, se->loc, "the seed must not be negative, got %lld", (long long)seed);
                ok = false;
            } else
                out->seed = (uint64_t)seed;
        }
        const Expr *ps = sema_find_kw(e, "per_step", NULL);
        if (ps && ps->kind != E_BOOL) {
            sema_err(S, ps->loc, "%s: per_step must be true or false", nm);
            ok = false;
        } else if (ps)
            out->per_step = ps->ival != 0; /* new data every step: seed rt_step_seed(seed, step) */
        if (out->kind == INIT_RANDN) {
            bool g;
            if (!init_number(S, e, "std", 1.0, &out->a, &g, dt_known, dt))
                ok = false;
            else if (out->a < 0) {
                sema_err(S, sema_find_kw(e, "std", NULL)->loc, "randn: std must not be negative, got %s",
                         sema_float_str(S, out->a));
                ok = false;
            }
            if (!init_number(S, e, "mean", 0.0, &out->b, NULL, dt_known, dt))
                ok = false;
        } else {
            bool glo, ghi;
            bool a_ok = init_number(S, e, "lo", 0.0, &out->a, &glo, dt_known, dt);
            bool b_ok = init_number(S, e, "hi", 1.0, &out->b, &ghi, dt_known, dt);
            if (!a_ok || !b_ok)
                ok = false;
            else if (out->a > out->b) {
                sema_err(S, ghi ? sema_find_kw(e, "hi", NULL)->loc : sema_find_kw(e, "lo", NULL)->loc,
                         "rand: lo (%s) must not exceed hi (%s)", sema_float_str(S, out->a), sema_float_str(S, out->b));
                ok = false;
            }
        }
        if (!is_float) {
            sema_err(S, e->loc, "%s needs a floating-point parameter; '%s' is %s (use arange(), zeros(), "
                     "full(K) or load(...) for i32)", nm, pa->name, sema_tstr(S, t));
            ok = false;
        }
        return ok;
    }
    if (!strcmp(nm, "zeros")) {
        out->kind = INIT_ZEROS;
        return true;
    }
    if (!strcmp(nm, "ones")) {
        out->kind = INIT_ONES;
        out->a = 1;
        return true;
    }
    if (!strcmp(nm, "arange")) {
        out->kind = INIT_ARANGE;
        if (t && t->dtype == DT_I32 && ir_type_numel(t) > INT32_MAX) {
            sema_err(S, e->loc, "arange: %s has more elements than an i32 can count", sema_tstr(S, t));
            return false;
        }
        return true;
    }
    if (!strcmp(nm, "full")) {
        out->kind = INIT_FULL;
        SVal v = sema_eval_num(S, e->args[0]);
        if (v.k == SV_ERR)
            return false;
        out->a = sema_num_f(v);
        if (!is_float && (v.k != SV_INT || v.i < INT32_MIN || v.i > INT32_MAX)) {
            sema_err(S, e->args[0]->loc, "full: '%s' is %s, so the value must be an i32 integer, got %s",
                     pa->name, sema_tstr(S, t), sema_num_str(S, v));
            return false;
        }
        return !dt_known || sema_float_fits(S, e->args[0]->loc, out->a, sema_num_str(S, v), dt);
    }
    /* load */
    out->kind = INIT_LOAD;
    const Expr *pe = e->args[0];
    if (pe->kind != E_STRING) {
        sema_err(S, pe->loc, "load takes a file name in double quotes, as in load(\"w.npy\")");
        return false;
    }
    if (!pe->str || !*pe->str) {
        sema_err(S, pe->loc, "load: the file name is empty");
        return false;
    }
    out->path = arena_strdup(S->a, pe->str);
    return true;
}
