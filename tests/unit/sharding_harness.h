/* sharding_harness.h - shared by the sharding tests (test_propagate.c,
 * test_partition.c, test_random_programs.c): run the sharding pipeline on
 * a program with ir_verify after every pass and the collective check after
 * partition, run the global and the sharded interpreters, compare.
 * Header-only (static functions): each test is one C file.
 */
#ifndef SHARDING_HARNESS_H
#define SHARDING_HARNESS_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "interp/interp.h"
#include "ir/ir_text.h"
#include "passes/passes.h"

static int h_failures, h_checks;

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
/* The cost model the passes use (tests may make latency free to steer
 * propagate towards the decompositions that move the least data). */
static CostModel h_cost;
static bool h_cost_set;
/* Instructions propagate gave a decomposing strategy in the last h_passes. */
static int h_ndecomposed;

static void __attribute__((format(printf, 2, 3))) h_check(bool ok, const char *fmt, ...)
{
    h_checks++;
    if (ok)
        return;
    h_failures++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static PassCtx h_ctx(Arena *ar)
{
    PassCtx c;
    memset(&c, 0, sizeof c);
    c.arena = ar;
    c.err = stderr;
    c.cost = h_cost_set ? h_cost : cost_model_default();
    return c;
}

/* A .dt program, loaded and inlined; NULL (and a failure) on errors. */
static IrModule *h_load(Arena *ar, const char *name, const char *src)
{
    Diag *d = diag_new(ar, stderr);
    IrModule *m = fe_load_string(ar, d, name, src, NULL);
    if (!m || diag_nerrors(d)) {
        h_check(false, "%s: does not load", name);
        return NULL;
    }
    PassCtx c = h_ctx(ar);
    if (!pass_inline(&c, m) || !ir_verify(m, "inline", stderr)) {
        h_check(false, "%s: inline failed", name);
        return NULL;
    }
    return m;
}

/* Runs propagate .. `last` (propagate, redistribute, partition, optimise)
 * verifying after each, and the collective check after partition. */
static bool h_passes(Arena *ar, IrModule *m, const char *name, const char *last)
{
    static const char *const names[] = {"propagate", "redistribute", "partition", "optimise"};
    bool (*const fns[])(PassCtx *, IrModule *) = {pass_propagate, pass_redistribute, pass_partition,
                                                   pass_optimise};
    PassCtx c = h_ctx(ar);
    for (int k = 0; k < 4; k++) {
        if (!fns[k](&c, m)) {
            h_check(false, "%s: pass %s failed", name, names[k]);
            return false;
        }
        if (!ir_verify(m, names[k], stderr)) {
            h_check(false, "%s: IR invalid after %s", name, names[k]);
            ir_print_stage(stderr, m, names[k]);
            return false;
        }
        if (!strcmp(names[k], "propagate")) {
            h_ndecomposed = 0;
            for (IrInst *i = m->entry->first; i; i = i->next)
                h_ndecomposed += i->strategy != 0;
        }
        if (!strcmp(names[k], "partition") && !pass_check_collectives(&c, m)) {
            h_check(false, "%s: collective check failed", name);
            ir_print_stage(stderr, m, names[k]);
            return false;
        }
        if (!strcmp(names[k], last))
            break;
    }
    return true;
}

/* Tolerance: 1e-5 relative to each element, plus 1e-5 of the tensor's scale
 * (values near zero after cancellation), plus rounding of long sums. */
static bool h_close(const Tensor *a, const Tensor *b, const char *name, int idx)
{
    if (a->rank != b->rank || interp_numel(a) != interp_numel(b)) {
        h_check(false, "%s: result %d has the wrong shape", name, idx);
        return false;
    }
    int64_t n = interp_numel(a);
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(interp_get(b, i)))
            scale = fmax(scale, fabs(interp_get(b, i)));
    for (int64_t i = 0; i < n; i++) {
        double x = interp_get(a, i), y = interp_get(b, i);
        if ((isnan(x) && isnan(y)) || x == y) /* also equal infinities */
            continue;
        double tol = 1e-5 * fabs(y) + 1e-5 * scale + 1e-30;
        if (b->dtype == DT_F32 && ir_dtype_is_float(b->dtype))
            tol += 2e-6 * scale;
        if (!(fabs(x - y) <= tol)) {
            h_check(false, "%s: result %d element %lld: sharded %.9g vs global %.9g", name, idx,
                    (long long)i, x, y);
            return false;
        }
    }
    h_check(true, "close");
    return true;
}

/* Global interpretation of m (which must be inlined, not yet propagated). */
static Tensor *h_run_global(Arena *ar, IrModule *m, const char *name)
{
    Tensor *res = NULL;
    char err[512];
    if (interp_run(ar, m, m->entry, NULL, &res, err, sizeof err) != 0) {
        h_check(false, "%s: global interpreter: %s", name, err);
        return NULL;
    }
    return res;
}

static bool h_compare_sharded(Arena *ar, IrModule *m, const char *name, const Tensor *ref)
{
    Tensor *res = NULL;
    char err[512];
    if (interp_run_sharded(ar, m, m->entry, NULL, &res, err, sizeof err) != 0) {
        h_check(false, "%s: sharded interpreter: %s", name, err);
        ir_print_stage(stderr, m, "partition");
        return false;
    }
    bool ok = true;
    for (int k = 0; k < m->entry->nresults; k++)
        if (!h_close(&res[k], &ref[k], name, k))
            ok = false;
    if (!ok)
        ir_print_stage(stderr, m, "partition");
    return ok;
}

/* The whole check: load, global run, passes up to optimise, sharded run. */
static IrModule *h_full(Arena *ar, const char *name, const char *src)
{
    IrModule *m = h_load(ar, name, src);
    if (!m)
        return NULL;
    Tensor *ref = h_run_global(ar, m, name);
    if (!ref || !h_passes(ar, m, name, "optimise"))
        return NULL;
    if (!h_compare_sharded(ar, m, name, ref))
        return NULL;
    if (getenv("SHARD_DUMP"))
        ir_print_stage(stdout, m, "optimise");
    return m;
}

/* ---- looking at the result ---------------------------------------------------------- */
static IrValue *h_value(IrModule *m, const char *vname)
{
    IrFunc *f = m->entry;
    IrValue *found = NULL;
    for (int k = 0; k < f->nparams; k++)
        if (f->params[k]->name && !strcmp(f->params[k]->name, vname))
            found = f->params[k];
    for (IrInst *i = f->first; i && !found; i = i->next)
        for (int r = 0; r < i->nres; r++)
            if (i->res[r]->name && !strcmp(i->res[r]->name, vname) && !found)
                found = i->res[r]; /* the first definition of that name (a pinned
                                      result's redistribute repeats it) */
    return found;
}

static const char *h_pl(IrModule *m, const IrValue *v)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    if (!v)
        return "(no such value)";
    return pl_str(&m->mesh, &v->pl, buf[k], sizeof buf[k]);
}

static void h_expect_pl(IrModule *m, const char *vname, const char *want, const char *test)
{
    const char *got = h_pl(m, h_value(m, vname));
    h_check(!strcmp(got, want), "%s: %%%s is %s, expected %s", test, vname, got, want);
}

/* Number of instructions with op `op` (and axes mask `axes`, if non-zero). */
static int h_count(IrModule *m, IrOp op, unsigned axes)
{
    int n = 0;
    for (IrInst *i = m->entry->first; i; i = i->next)
        if (i->op == op && (!axes || i->a.axes == axes))
            n++;
    return n;
}

static int h_count_comm(IrModule *m)
{
    int n = 0;
    for (IrInst *i = m->entry->first; i; i = i->next)
        if (ir_op_flags(i->op) & OPF_COMM)
            n++;
    return n;
}

/* Latency-free cost model: only bytes moved count. */
static void h_bandwidth_only(bool on)
{
    h_cost = cost_model_default();
    if (on)
        for (int a = 0; a < IR_MAX_AXES; a++)
            h_cost.alpha[a] = 0;
    h_cost_set = on;
}

static int h_report(const char *what)
{
    if (h_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", what, h_failures, h_checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", what, h_checks);
    return 0;
}

#endif
