/* sema_rules.c - user sharding rules: a fn's `sharding { }` clause
 * (docs/LANGUAGE.md section 11; PyTorch's register_sharding).
 *
 *   fn scaled_mm(x: f32[B, K], w: f32[K, N]) -> f32[B, N]
 *       sharding { (S(0), R) -> S(0); (R, S(1)) -> S(1); (S(1), S(0)) -> P(sum) cost 2.0; }
 *   { return x @ w * 0.5; }
 *
 * A strategy lists one entry per parameter and one for the result, on one
 * mesh axis; the compiler picks one strategy per axis.  Checked here, each
 * an error with a caret:
 *   - the fn: not local, not generic, not the entry, one result, and no
 *     placement in its signature (the strategies are its placements);
 *   - each strategy: one entry per parameter; entries R, S(d) (d in range
 *     of that parameter's / the result's rank), P(kind); `cost N` a number
 *     >= 0 (microseconds, added to the cost model's estimate);
 *   - the result's kind: with every operand R the body computes the whole
 *     result on every rank, so the result must be R;
 *   - the body on the local shapes of each strategy, on each mesh axis of
 *     more than one rank where its splits are even (where they are not,
 *     the strategy is not offered on that axis: rules_valid), by
 *     ir_rule_local_body: every op's
 *     shape rule holding on the local shapes, the local result the declared
 *     result's local type, and no call, loop, placement or collective in it.
 * What is not checked (the user's promise, which differential tests catch
 * as a mismatch against `dtc run`): that the per-shard values are right.
 */
#include "frontend/sema_internal.h"

#include <string.h>

/* A `cost` literal (int or float, >= 0) in seconds. */
static bool rule_cost(Sema *S, const Expr *e, double *out)
{
    double v = -1;
    if (e->kind == E_INT)
        v = (double)e->ival;
    else if (e->kind == E_FLOAT)
        v = e->fval;
    if (v < 0) {
        sema_err(S, e->loc, "a strategy's cost is a number >= 0 (microseconds), as in cost 2.5");
        return false;
    }
    *out = v * 1e-6;
    return true;
}

static bool check_fn_shape(Sema *S, const FnInfo *f)
{
    const Decl *d = f->decl;
    const char *entry = S->opt && S->opt->entry ? S->opt->entry : "main";
    const char *why = NULL;
    if (f->local)
        why = "a local fn already declares its placements";
    else if (f->generic)
        why = "its shapes are generic (*S): the strategies need fixed shapes (v0)";
    else if (!strcmp(d->name, entry))
        why = "it is the entry function";
    else if (d->nresults != 1)
        why = arena_printf(S->a, "it has %d results: a fn with sharding rules has one (v0)", d->nresults);
    if (why) {
        sema_err(S, d->sharding_loc, "'%s' cannot have sharding rules: %s", d->name, why);
        return false;
    }
    bool ok = true;
    for (int k = 0; k < d->nparams; k++)
        if (d->params[k]->pl) {
            sema_err(S, d->params[k]->pl->loc, "parameter '%s' of '%s' declares a placement, but its sharding "
                     "rules are its placements", d->params[k]->name, d->name);
            ok = false;
        }
    if (d->results[0]->pl) {
        sema_err(S, d->results[0]->pl->loc, "the result of '%s' declares a placement, but its sharding rules "
                 "are its placements", d->name);
        ok = false;
    }
    return ok;
}

/* Placement pl replicated except entry e on axis a. */
static Placement on_axis(int naxes, int a, PlEntry e)
{
    Placement pl = pl_replicated(naxes);
    pl.e[a] = e;
    return pl;
}

static void check_fn(Sema *S, FnInfo *f)
{
    const Decl *d = f->decl;
    if (!check_fn_shape(S, f) || !f->sig_ok)
        return;
    IrFunc *irf = f->ir;
    const IrMesh *mesh = &S->m->mesh;
    const IrInst *bad;
    const char *refused = S->ngroups == 0 ? ir_rule_body_refuses(S->a, irf, &bad) : NULL;
    if (refused) {
        sema_err(S, bad->loc, "%s", refused);
        return;
    }
    IrRule *rules = arena_alloc(S->a, sizeof *rules * (size_t)(d->nrules + 1));
    bool ok = true;
    for (int r = 0; r < d->nrules; r++) {
        const RuleAst *ra = d->rules[r];
        IrRule *ir = &rules[r];
        if (ra->nin != d->nparams) {
            sema_err(S, ra->loc, "strategy %d of '%s' lists %d entr%s for %d parameter%s", r + 1, d->name,
                     ra->nin, ra->nin == 1 ? "y" : "ies", d->nparams, d->nparams == 1 ? "" : "s");
            ok = false;
            continue;
        }
        ir->in = arena_alloc(S->a, sizeof *ir->in * (size_t)(ra->nin + 1));
        bool rok = true, all_r = true;
        for (int k = 0; k < ra->nin; k++) {
            rok &= sema_resolve_pl_entry(S, ra->in[k], &f->ptypes[k], &ir->in[k]);
            all_r &= ir->in[k].kind == PL_R;
        }
        rok &= sema_resolve_pl_entry(S, ra->out, &f->rtypes[0], &ir->out);
        if (ra->cost)
            rok &= rule_cost(S, ra->cost, &ir->cost);
        if (rok && all_r && ir->out.kind != PL_R) {
            sema_err(S, ra->out->loc, "strategy %d of '%s': with every operand R the body computes the whole "
                     "result on every rank, so the result is R, not %s", r + 1, d->name,
                     ir->out.kind == PL_S ? "split" : "partial");
            rok = false;
        }
        ok &= rok;
        if (!rok || !S->mesh_ok || S->ngroups > 0)
            continue;
        /* the body on the local shapes of this strategy, on each axis */
        for (int a = 0; a < mesh->naxes; a++) {
            if (mesh->size[a] == 1)
                continue;
            Placement *in = arena_alloc(S->a, sizeof *in * (size_t)(ra->nin + 1));
            for (int k = 0; k < ra->nin; k++)
                in[k] = on_axis(mesh->naxes, a, ir->in[k]);
            Placement out = on_axis(mesh->naxes, a, ir->out);
            /* uneven on this axis: not offered here (rules_valid), nothing to check */
            int ways;
            bool uneven = ir_local_split_dim(mesh, &f->rtypes[0], &out, &ways) >= 0;
            for (int k = 0; k < ra->nin && !uneven; k++)
                uneven = ir_local_split_dim(mesh, &f->ptypes[k], &in[k], &ways) >= 0;
            if (uneven)
                continue;
            const char *err;
            if (!ir_rule_local_body(S->m, irf, in, &out, &err)) {
                sema_err(S, ra->loc, "strategy %d of '%s' on mesh axis %s (%d ranks): %s", r + 1, d->name,
                         mesh->axis_name[a], mesh->size[a], err);
                ok = false;
                break;
            }
        }
    }
    if (!ok)
        return;
    irf->rules = rules;
    irf->nrules = d->nrules;
}

void sema_rules_check(Sema *S)
{
    for (int k = 0; k < S->nfns; k++) {
        FnInfo *f = &S->fns[k];
        if (f->decl->has_sharding && !f->dup)
            check_fn(S, f);
    }
}
