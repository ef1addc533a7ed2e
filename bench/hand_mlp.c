/* hand_mlp.c - bench/mlp.dt written by hand: C + CBLAS + MPI, one process
 * per rank of the tp axis (mpirun -np 2).
 *
 * Rank r of n holds x whole [B, D], the column block r of w1 [D, H/n] and
 * the row block r of w2 [H/n, D] (Megatron), computes
 *   h = gelu(x @ w1_r)      one sgemm, then gelu in one pass
 *   y = h @ w2_r            one sgemm: rank r's partial sum of y
 * and sums the partials with one MPI_Allreduce, in place.  The data and
 * the timing loop are those of the compiled program (hand_common.h), so
 * the checksum equals `dtc run bench/mlp.dt` up to rounding.
 *
 * usage: mpirun -np N hand_mlp [--iters K --warmup W] [--B b --D d --H h]
 */
#include <cblas.h>

#include "bench/hand_common.h"

typedef struct mlp {
    int64_t B, D, Hl; /* Hl = H / n: this rank's hidden columns */
    const float *x, *w1, *w2;
    float *h, *y;
} mlp;

static void step(void *arg)
{
    mlp *m = arg;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m->B, (int)m->Hl, (int)m->D, 1.0f,
                m->x, (int)m->D, m->w1, (int)m->Hl, 0.0f, m->h, (int)m->Hl);
    hb_bias_gelu(m->h, m->B, m->Hl, NULL);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m->B, (int)m->D, (int)m->Hl, 1.0f,
                m->h, (int)m->Hl, m->w2, (int)m->D, 0.0f, m->y, (int)m->D);
    MPI_Allreduce(MPI_IN_PLACE, m->y, (int)(m->B * m->D), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    const char *prog = "hand_mlp";
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    hb_opts o = {0, 0};
    int64_t B = 256, D = 1024, H = 4096; /* bench/mlp.dt */
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (hb_common_opt(prog, argc, argv, &i, &o))
            continue;
        else if ((v = hb_opt(argc, argv, &i, "--B")))
            B = hb_int(prog, v);
        else if ((v = hb_opt(argc, argv, &i, "--D")))
            D = hb_int(prog, v);
        else if ((v = hb_opt(argc, argv, &i, "--H")))
            H = hb_int(prog, v);
        else
            hb_die(prog, "unknown option ", argv[i]);
    }
    if (H % n)
        hb_die(prog, "H must be a multiple of the number of ranks", NULL);

    mlp m = {B, D, H / n, NULL, NULL, NULL, NULL, NULL};
    int64_t c0 = rank * m.Hl;
    m.x = hb_randn2(1, 1.0, B, D, 0, B, 0, D);
    m.w1 = hb_randn2(2, 0.02, D, H, 0, D, c0, m.Hl);
    m.w2 = hb_randn2(3, 0.02, H, D, c0, m.Hl, 0, D);
    m.h = hb_alloc((size_t)(B * m.Hl));
    m.y = hb_alloc((size_t)(B * D));

    double med = hb_time(step, &m, &o);
    int64_t dims[2] = {B, D};
    if (rank == 0)
        hb_report("y", 2, dims, m.y, &o, med);
    free((void *)m.x);
    free((void *)m.w1);
    free((void *)m.w2);
    free(m.h);
    free(m.y);
    MPI_Finalize();
    return 0;
}
