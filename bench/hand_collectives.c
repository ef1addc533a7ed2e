/* hand_collectives.c - the raw MPI collective behind each redistribution
 * kind, on the bytes of bench/coll_KIND.dt (a global f32[N, N], N = 1024:
 * 4 MiB), one process per rank of the tp axis (mpirun -np 2):
 *   all_reduce      P(sum) -> R     MPI_Allreduce, N*N floats
 *   all_gather      S(0)   -> R     MPI_Allgather, N*N/n floats in
 *   reduce_scatter  P(sum) -> S(0)  MPI_Reduce_scatter, N*N in, N*N/n out each
 *   all_to_all      S(0)   -> S(1)  MPI_Alltoall, N*N/n floats in
 * Every call is out of place, as in a compiled program, whose parameters
 * are read-only.  MPI_Reduce_scatter rather than MPI_Reduce_scatter_block:
 * with Open MPI 4.1 on 2 ranks the _block variant is about ten times slower
 * for the same bytes.  all_to_all moves the contiguous buffer as it is: the
 * local packing that S(0) -> S(1) needs (rows of each piece are strided)
 * is not part of the raw collective, so dtc's time includes work this one
 * does not do.
 *
 * The data are those of the .dt (x = randn(seed=1); a partial x is held by
 * member 0, zeros elsewhere, so the reduction is x), and after timing every
 * rank checks its result against x exactly and rank 0 prints "check: ok".
 *
 * usage: mpirun -np N hand_collectives KIND [--N n] [--iters K --warmup W]
 */
#include "bench/hand_common.h"

typedef enum kind {
    K_ALL_REDUCE,     /* P(sum) -> R */
    K_ALL_GATHER,     /* S(0) -> R */
    K_REDUCE_SCATTER, /* P(sum) -> S(0) */
    K_ALL_TO_ALL      /* S(0) -> S(1), contiguous pieces */
} kind;

static const char *const kind_name[] = {"all_reduce", "all_gather", "reduce_scatter",
                                        "all_to_all"};

typedef struct coll {
    kind k;
    int n;           /* ranks */
    int64_t N;       /* global [N, N] */
    const float *in; /* this rank's parameter */
    float *out;      /* this rank's result */
    int *counts;     /* reduce_scatter: N*N/n per member */
} coll;

static void step(void *arg)
{
    coll *c = arg;
    int64_t all = c->N * c->N, part = all / c->n;
    switch (c->k) {
    case K_ALL_REDUCE:
        MPI_Allreduce(c->in, c->out, (int)all, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        break;
    case K_ALL_GATHER:
        MPI_Allgather(c->in, (int)part, MPI_FLOAT, c->out, (int)part, MPI_FLOAT, MPI_COMM_WORLD);
        break;
    case K_REDUCE_SCATTER:
        MPI_Reduce_scatter(c->in, c->out, c->counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        break;
    case K_ALL_TO_ALL:
        MPI_Alltoall(c->in, (int)(part / c->n), MPI_FLOAT, c->out, (int)(part / c->n), MPI_FLOAT,
                     MPI_COMM_WORLD);
        break;
    }
}

/* Rows [r0, r0+nr) of x = randn(seed=1) over [N, N]. */
static float *x_rows(int64_t N, int64_t r0, int64_t nr)
{
    return hb_randn2(1, 1.0, N, N, r0, nr, 0, N);
}

/* Counts the elements of this rank's result that differ from x's. */
static int64_t check(const coll *c, int rank)
{
    int64_t part = c->N * c->N / c->n, rows = c->N / c->n, bad = 0;
    float *want;
    switch (c->k) {
    case K_ALL_REDUCE:
    case K_ALL_GATHER:
        want = x_rows(c->N, 0, c->N);
        bad = memcmp(want, c->out, sizeof(float) * (size_t)(c->N * c->N)) != 0;
        break;
    case K_REDUCE_SCATTER:
        want = x_rows(c->N, rank * rows, rows);
        bad = memcmp(want, c->out, sizeof(float) * (size_t)part) != 0;
        break;
    case K_ALL_TO_ALL:
        /* piece m of the result is piece `rank` of member m's rows */
        want = x_rows(c->N, 0, c->N);
        for (int m = 0; m < c->n; m++)
            bad += memcmp(want + m * part + rank * (part / c->n), c->out + m * (part / c->n),
                          sizeof(float) * (size_t)(part / c->n)) != 0;
        break;
    default:
        return 1;
    }
    free(want);
    return bad;
}

int main(int argc, char **argv)
{
    const char *prog = "hand_collectives";
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    hb_opts o = {0, 0};
    coll c = {K_ALL_REDUCE, n, 1024, NULL, NULL, NULL}; /* bench/coll_*.dt */
    int have_kind = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (hb_common_opt(prog, argc, argv, &i, &o))
            continue;
        if ((v = hb_opt(argc, argv, &i, "--N"))) {
            c.N = hb_int(prog, v);
            continue;
        }
        int k = 0;
        while (k < 4 && strcmp(argv[i], kind_name[k]))
            k++;
        if (k == 4 || have_kind)
            hb_die(prog, "unknown argument (want all_reduce, all_gather, reduce_scatter or "
                         "all_to_all) ", argv[i]);
        c.k = (kind)k;
        have_kind = 1;
    }
    if (!have_kind)
        hb_die(prog, "which collective? (all_reduce, all_gather, reduce_scatter, all_to_all)",
               NULL);
    if (c.N % n)
        hb_die(prog, "N must be a multiple of the number of ranks", NULL);

    int64_t all = c.N * c.N, rows = c.N / n;
    c.counts = malloc(sizeof(int) * (size_t)n);
    for (int m = 0; m < n; m++)
        c.counts[m] = (int)(all / n);
    switch (c.k) {
    case K_ALL_REDUCE:
    case K_REDUCE_SCATTER:
        c.in = rank == 0 ? x_rows(c.N, 0, c.N) : hb_alloc((size_t)all);
        c.out = hb_alloc((size_t)(c.k == K_ALL_REDUCE ? all : all / n));
        break;
    case K_ALL_GATHER:
    case K_ALL_TO_ALL:
        c.in = x_rows(c.N, rank * rows, rows);
        c.out = hb_alloc((size_t)(c.k == K_ALL_GATHER ? all : all / n));
        break;
    }

    double med = hb_time(step, &c, &o);
    int64_t bad = check(&c, rank), total = 0;
    MPI_Reduce(&bad, &total, 1, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("%s: f32[%lld, %lld] over %d ranks, %lld bytes in per rank\n", kind_name[c.k],
               (long long)c.N, (long long)c.N, n,
               (long long)(sizeof(float) * (size_t)(c.k == K_ALL_REDUCE || c.k == K_REDUCE_SCATTER
                                                         ? all
                                                         : all / n)));
        printf("check: %s\n", total ? "FAILED" : "ok");
        if (o.iters)
            printf("time: median %.3f ms/iter over %d iter%s\n", med * 1e3, o.iters,
                   o.iters == 1 ? "" : "s");
    }
    free((void *)c.in);
    free(c.out);
    free(c.counts);
    MPI_Finalize();
    return total ? 1 : 0;
}
