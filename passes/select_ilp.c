/* select_ilp.c - one strategy per node, minimising node and edge costs, as
 * an integer program solved by GLPK (propagate's exact selector).
 *
 * Contract (select_ilp.h): nodes with strategies (a cost and a memory
 * weight each), edges between a producer node and a consumer node with a
 * cost per (producer strategy, consumer strategy) pair, an optional budget
 * on the summed memory weights.  The formulation is the one Alpa and
 * AutoParallel use:
 *   binary x[n][s]            node n takes strategy s,   sum_s x[n][s] = 1
 *   y[e][s][t] in [0, 1]      edge e's pair (s, t),       sum_t y[e][s][t] = x[u][s]
 *                                                          sum_s y[e][s][t] = x[v][t]
 *   minimise sum node_cost x + sum edge_cost y, subject to sum mem x <= budget.
 * The marginal constraints make y the product of the two choices at every
 * integer point, with no big-M rows.  An edge whose producer or consumer has
 * one strategy is folded into the other node's costs.  GLPK's branch and
 * cut runs with presolve and a time limit; the best integer point found is
 * returned (optimal or not).  Without GLPK at build time, ilp_select says
 * "unavailable" and the caller keeps its other selectors.
 * No global state; nothing printed.
 */
#include "passes/select_ilp.h"

#include <stdlib.h>
#include <string.h>

#ifdef DTC_HAVE_GLPK
#include <glpk.h>

bool ilp_available(void) { return true; }

typedef struct Mat {
    int n, cap;
    int *i, *j;
    double *v;
} Mat;

static bool mat_put(Mat *m, int i, int j, double v)
{
    if (m->n + 1 >= m->cap) {
        int cap = m->cap ? 2 * m->cap : 1024;
        int *ni = realloc(m->i, sizeof *ni * (size_t)cap);
        if (ni)
            m->i = ni;
        int *nj = realloc(m->j, sizeof *nj * (size_t)cap);
        if (nj)
            m->j = nj;
        double *nv = realloc(m->v, sizeof *nv * (size_t)cap);
        if (nv)
            m->v = nv;
        if (!ni || !nj || !nv)
            return false;
        m->cap = cap;
    }
    m->n++; /* GLPK's arrays are 1-based */
    m->i[m->n] = i;
    m->j[m->n] = j;
    m->v[m->n] = v;
    return true;
}

/* nrows rows "sum over c of y[base + r*row_step + c*col_step] - x[xcol + r]
 * = 0": one marginal constraint of an edge per strategy of one end. */
static bool marginal_rows(glp_prob *lp, Mat *m, int base, int nrows, int row_step, int ncols,
                          int col_step, int xcol)
{
    bool ok = true;
    for (int r = 0; r < nrows && ok; r++) {
        int row = glp_add_rows(lp, 1);
        glp_set_row_bnds(lp, row, GLP_FX, 0.0, 0.0);
        for (int c = 0; c < ncols && ok; c++)
            ok = mat_put(m, row, base + r * row_step + c * col_step, 1.0);
        ok = ok && mat_put(m, row, xcol + r, -1.0);
    }
    return ok;
}

int ilp_select(const IlpProblem *pb, double time_limit_s, int *choice)
{
    int nn = pb->nnodes;
    /* folded costs: edges with a one-strategy end add to the other end */
    double **cost = calloc((size_t)nn + 1, sizeof *cost);
    int *col0 = calloc((size_t)nn + 1, sizeof *col0);
    if (!cost || !col0) {
        free(cost);
        free(col0);
        return 0;
    }
    int ok = 1;
    for (int n = 0; n < nn && ok; n++) {
        cost[n] = malloc(sizeof **cost * (size_t)(pb->nstrat[n] ? pb->nstrat[n] : 1));
        if (!cost[n])
            ok = 0;
        else
            for (int s = 0; s < pb->nstrat[n]; s++)
                cost[n][s] = pb->node_cost[n][s];
    }
    bool *kept = calloc((size_t)pb->nedges + 1, sizeof *kept);
    if (!kept)
        ok = 0;
    for (int e = 0; e < pb->nedges && ok; e++) {
        int u = pb->eu[e], v = pb->ev[e], su = pb->nstrat[u], sv = pb->nstrat[v];
        if (su == 1)
            for (int t = 0; t < sv; t++)
                cost[v][t] += pb->ecost[e][t];
        else if (sv == 1)
            for (int s = 0; s < su; s++)
                cost[u][s] += pb->ecost[e][s];
        else
            kept[e] = true;
    }
    glp_prob *lp = ok ? glp_create_prob() : NULL;
    Mat m = {0, 0, NULL, NULL, NULL};
    int status = 0;
    if (lp) {
        glp_set_obj_dir(lp, GLP_MIN);
        int ncols = 0;
        for (int n = 0; n < nn; n++) {
            col0[n] = ncols + 1;
            ncols += pb->nstrat[n];
        }
        int *ecol0 = calloc((size_t)pb->nedges + 1, sizeof *ecol0);
        for (int e = 0; e < pb->nedges && ecol0; e++)
            if (kept[e]) {
                ecol0[e] = ncols + 1;
                ncols += pb->nstrat[pb->eu[e]] * pb->nstrat[pb->ev[e]];
            }
        if (!ecol0)
            ok = 0;
        if (ok)
            glp_add_cols(lp, ncols);
        /* the objective is in microseconds: the costs are seconds, and GLPK's
         * tolerances are absolute */
        for (int n = 0; n < nn && ok; n++)
            for (int s = 0; s < pb->nstrat[n]; s++) {
                glp_set_col_kind(lp, col0[n] + s, GLP_BV);
                glp_set_obj_coef(lp, col0[n] + s, cost[n][s] * 1e6);
            }
        for (int e = 0; e < pb->nedges && ok; e++) {
            if (!kept[e])
                continue;
            int w = pb->nstrat[pb->eu[e]] * pb->nstrat[pb->ev[e]];
            for (int q = 0; q < w; q++) {
                glp_set_col_bnds(lp, ecol0[e] + q, GLP_DB, 0.0, 1.0);
                glp_set_obj_coef(lp, ecol0[e] + q, pb->ecost[e][q] * 1e6);
            }
        }
        int row = 0;
        for (int n = 0; n < nn && ok; n++) { /* one strategy each */
            row = glp_add_rows(lp, 1);
            glp_set_row_bnds(lp, row, GLP_FX, 1.0, 1.0);
            for (int s = 0; s < pb->nstrat[n] && ok; s++)
                ok = mat_put(&m, row, col0[n] + s, 1.0);
        }
        for (int e = 0; e < pb->nedges && ok; e++) {
            if (!kept[e])
                continue;
            int u = pb->eu[e], v = pb->ev[e], su = pb->nstrat[u], sv = pb->nstrat[v];
            /* sum_t y[s][t] = x[u][s], then sum_s y[s][t] = x[v][t] */
            ok = marginal_rows(lp, &m, ecol0[e], su, sv, sv, 1, col0[u]) &&
                 marginal_rows(lp, &m, ecol0[e], sv, 1, su, sv, col0[v]);
        }
        if (ok && pb->budget > 0 && pb->mem) {
            row = glp_add_rows(lp, 1);
            glp_set_row_bnds(lp, row, GLP_UP, 0.0, pb->budget);
            for (int n = 0; n < nn && ok; n++)
                for (int s = 0; pb->mem[n] && s < pb->nstrat[n] && ok; s++)
                    if (pb->mem[n][s] != 0)
                        ok = mat_put(&m, row, col0[n] + s, pb->mem[n][s]);
        }
        if (ok) {
            glp_load_matrix(lp, m.n, m.i, m.j, m.v);
            glp_iocp parm;
            glp_init_iocp(&parm);
            parm.presolve = GLP_ON;
            parm.msg_lev = GLP_MSG_OFF;
            parm.tm_lim = (int)(time_limit_s * 1000);
            int rc = glp_intopt(lp, &parm);
            int st = glp_mip_status(lp);
            if ((rc == 0 || rc == GLP_ETMLIM) && (st == GLP_OPT || st == GLP_FEAS)) {
                status = st == GLP_OPT ? 1 : 2;
                for (int n = 0; n < nn; n++) {
                    choice[n] = 0;
                    for (int s = 0; s < pb->nstrat[n]; s++)
                        if (glp_mip_col_val(lp, col0[n] + s) > 0.5)
                            choice[n] = s;
                }
            }
        }
        free(ecol0);
        glp_delete_prob(lp);
    }
    free(m.i);
    free(m.j);
    free(m.v);
    for (int n = 0; n < nn; n++)
        free(cost[n]);
    free(cost);
    free(col0);
    free(kept);
    return status;
}

#else /* no GLPK */

bool ilp_available(void) { return false; }

int ilp_select(const IlpProblem *pb, double time_limit_s, int *choice)
{
    (void)pb;
    (void)time_limit_s;
    (void)choice;
    return 0;
}

#endif
