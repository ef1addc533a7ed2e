/* select_ilp.h - choosing one strategy per node of a graph as an integer
 * program (select_ilp.c, GLPK).  Used by propagate for the placement choice;
 * nothing here knows the IR. */
#ifndef DTC_SELECT_ILP_H
#define DTC_SELECT_ILP_H

#include <stdbool.h>

typedef struct IlpProblem {
    int nnodes;
    const int *nstrat;           /* strategies per node, >= 1 */
    double *const *node_cost;    /* [node][strategy], seconds */
    double *const *mem;          /* [node][strategy] bytes (NULL, or a NULL row: none) */
    double budget;               /* bound on the summed mem; <= 0: none */
    int nedges;
    const int *eu, *ev;          /* producer and consumer node of each edge */
    double *const *ecost;        /* [edge][s * nstrat[ev] + t], seconds */
} IlpProblem;

/* Whether dtc was built with GLPK. */
bool ilp_available(void);

/* The cheapest choice of one strategy per node (choice[node]) within the
 * budget: 1 if proved optimal, 2 if the time limit stopped the search at a
 * feasible choice, 0 if none was found or GLPK is not there. */
int ilp_select(const IlpProblem *pb, double time_limit_s, int *choice);

#endif
