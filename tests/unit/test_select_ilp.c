/* test_select_ilp.c - the integer-program selector (passes/select_ilp.c):
 * on small graphs it returns the optimum found by enumerating every choice,
 * where choosing node by node in order does worse; it honours the memory
 * budget; edges with a one-strategy end are folded; and on random graphs
 * (chains with skips, 2..4 strategies, a third with a budget) it matches
 * exhaustive search.  GLPK is required: dtc's build finds it (setup.sh
 * installs libglpk-dev), and a build without it fails this test. */
#include <math.h>
#include <stdlib.h>

#include "passes/select_ilp.h"
#include "tests/unit/unit_check.h"

#define MAXN 8
#define MAXS 4
#define MAXE 16

typedef struct G {
    int n, ns[MAXN];
    double nc[MAXN][MAXS], mem[MAXN][MAXS], budget;
    int ne, eu[MAXE], ev[MAXE];
    double ec[MAXE][MAXS * MAXS];
} G;

static double total(const G *g, const int *c, bool *fits)
{
    double t = 0, m = 0;
    for (int n = 0; n < g->n; n++) {
        t += g->nc[n][c[n]];
        m += g->mem[n][c[n]];
    }
    for (int e = 0; e < g->ne; e++)
        t += g->ec[e][c[g->eu[e]] * g->ns[g->ev[e]] + c[g->ev[e]]];
    *fits = g->budget <= 0 || m <= g->budget + 1e-9;
    return t;
}

static double brute(const G *g, int *best)
{
    int c[MAXN] = {0};
    double bt = HUGE_VAL;
    for (;;) {
        bool fits;
        double t = total(g, c, &fits);
        if (fits && t < bt) {
            bt = t;
            for (int n = 0; n < g->n; n++)
                best[n] = c[n];
        }
        int n = g->n - 1;
        while (n >= 0 && ++c[n] == g->ns[n])
            c[n--] = 0;
        if (n < 0)
            break;
    }
    return bt;
}

static int solve(const G *g, int *choice)
{
    double *nc[MAXN], *mem[MAXN], *ec[MAXE];
    for (int n = 0; n < g->n; n++) {
        nc[n] = (double *)g->nc[n];
        mem[n] = (double *)g->mem[n];
    }
    for (int e = 0; e < g->ne; e++)
        ec[e] = (double *)g->ec[e];
    IlpProblem pb = {g->n, g->ns, nc, mem, g->budget, g->ne, g->eu, g->ev, ec};
    return ilp_select(&pb, 10.0, choice);
}

int main(void)
{
    (void)mlp; /* unit_check.h's sample text, not needed here */
    CHECK(ilp_available());

    /* a -> b -> c: a's cheap strategy 0 makes b and c pay a move each */
    G g = {0};
    g.n = 3;
    for (int n = 0; n < 3; n++)
        g.ns[n] = 2;
    g.nc[0][0] = 1, g.nc[0][1] = 2;
    g.nc[1][0] = 1, g.nc[1][1] = 1;
    g.nc[2][0] = 1, g.nc[2][1] = 1;
    g.ne = 2;
    g.eu[0] = 0, g.ev[0] = 1, g.eu[1] = 1, g.ev[1] = 2;
    for (int e = 0; e < 2; e++) { /* a move unless the strategies agree */
        g.ec[e][0] = 0, g.ec[e][1] = 5, g.ec[e][2] = 5, g.ec[e][3] = 0;
    }
    g.nc[1][0] = 10; /* b cannot stay on strategy 0 cheaply */
    int c[MAXN], want[MAXN];
    CHECK(solve(&g, c) == 1);
    double opt = brute(&g, want);
    bool fits;
    CHECK(fabs(total(&g, c, &fits) - opt) < 1e-9 && c[0] == 1 && c[1] == 1 && c[2] == 1);
    printf("chain: greedy would take a=0 (cost 1) and pay later; the program takes 1,1,1 at %g\n", opt);

    /* the budget: strategy 1 everywhere is cheapest but too big */
    for (int n = 0; n < 3; n++)
        g.mem[n][0] = 1, g.mem[n][1] = 4;
    g.budget = 9;
    CHECK(solve(&g, c) == 1);
    opt = brute(&g, want);
    double t = total(&g, c, &fits);
    CHECK(fits && fabs(t - opt) < 1e-9);
    printf("budget 9: choice %d,%d,%d at %g (exhaustive %g)\n", c[0], c[1], c[2], t, opt);

    /* a one-strategy end folds into the other node */
    G h = {0};
    h.n = 2;
    h.ns[0] = 1, h.ns[1] = 3;
    h.nc[1][0] = 1, h.nc[1][1] = 2, h.nc[1][2] = 3;
    h.ne = 1;
    h.eu[0] = 0, h.ev[0] = 1;
    h.ec[0][0] = 5, h.ec[0][1] = 0, h.ec[0][2] = 0;
    CHECK(solve(&h, c) == 1 && c[1] == 1);

    /* random graphs against exhaustive search */
    srand(7);
    int agree = 0, cases = 300;
    for (int k = 0; k < cases; k++) {
        G r = {0};
        r.n = 2 + rand() % 5;
        for (int n = 0; n < r.n; n++) {
            r.ns[n] = 1 + rand() % MAXS;
            for (int s = 0; s < r.ns[n]; s++) {
                r.nc[n][s] = rand() % 20;
                r.mem[n][s] = 1 + rand() % 5;
            }
        }
        for (int n = 1; n < r.n && r.ne < MAXE; n++) {
            int from[2] = {n - 1, rand() % n};
            for (int q = 0; q < 2 && r.ne < MAXE; q++) {
                r.eu[r.ne] = from[q];
                r.ev[r.ne] = n;
                for (int x = 0; x < r.ns[from[q]] * r.ns[n]; x++)
                    r.ec[r.ne][x] = rand() % 30;
                r.ne++;
            }
        }
        r.budget = k % 3 == 0 ? 2.5 * r.n : 0;
        double bt = brute(&r, want);
        int got = solve(&r, c);
        if (isinf(bt)) {
            agree += got == 0;
            continue;
        }
        double gt = total(&r, c, &fits);
        if (got == 1 && fits && fabs(gt - bt) < 1e-6)
            agree++;
        else
            fprintf(stderr, "case %d: program %g (status %d), exhaustive %g\n", k, gt, got, bt);
    }
    CHECK(agree == cases);
    printf("random: %d of %d graphs solved to the exhaustive optimum (a third under a budget)\n", agree, cases);
    printf("%d checks, %d failed\n", nchecks, nfail);
    return nfail != 0;
}
