/* hand_transformer.c - bench/transformer.dt written by hand: C + CBLAS +
 * MPI, one process per rank of the tp axis (mpirun -np 2).
 *
 * Rank r of n holds x and the norms' gamma/beta whole, the column block r
 * of wq, wk, wv and w1 (and b1's matching piece), the row block r of wo and
 * w2: NH/n whole heads and F/n hidden units.  Per iteration, on [B*T, D]
 * row-major activations:
 *   xn = layernorm(x)                         one pass per row
 *   q, k, v = xn @ wq_r, xn @ wk_r, xn @ wv_r three sgemms, [B*T, D/n]
 *   per batch b and local head j (no transposes: a head is a column block
 *   of q, k, v with leading dimension D/n):
 *     s = SCALE * q_bj @ k_bj^T               sgemm (scale in alpha)
 *     s = softmax(s) by rows                  max, exp + sum, scale per row
 *     o_bj = s @ v_bj                         sgemm, straight into o
 *   a = o @ wo_r                              sgemm, partial sum
 *   MPI_Allreduce(a)                          1st collective (2 MiB)
 *   h = x + a; hn = layernorm(h)              fused, one pass per row
 *   u = gelu(hn @ w1_r + b1_r)                sgemm, then bias + gelu fused
 *   m = u @ w2_r                              sgemm, partial sum
 *   MPI_Allreduce(m)                          2nd collective (2 MiB)
 *   y = h + (m + b2)                          one pass
 * The same collectives as dtc's program (two all_reduces over tp; see
 * `dtc report bench/transformer.dt`).  Data and timing loop as in
 * hand_common.h: the checksum equals `dtc run` up to rounding.
 *
 * usage: mpirun -np N hand_transformer [--iters K --warmup W]
 *                                      [--B b --T t --D d --NH heads]
 */
#include <cblas.h>

#include "bench/hand_common.h"

typedef struct block {
    int B, T, D, NH, DH, Dl, Fl; /* Dl = D/n, Fl = F/n: local columns */
    float scale, eps;
    const float *x, *g1, *be1, *wq, *wk, *wv, *wo, *g2, *be2, *w1, *b1, *w2, *b2;
    float *xn, *q, *k, *v, *s, *o, *a, *h, *u, *y;
} block;

/* One row of layernorm over D floats (two passes for the statistics). */
static void ln_row(float *restrict out, const float *restrict in, const float *restrict g,
                   const float *restrict b, int D, float eps)
{
    float mean = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ : mean)
    for (int i = 0; i < D; i++)
        mean += in[i];
    mean /= (float)D;
#pragma omp simd reduction(+ : var)
    for (int i = 0; i < D; i++) {
        float c = in[i] - mean;
        var += c * c;
    }
    float inv = 1.0f / sqrtf(var / (float)D + eps);
#pragma omp simd
    for (int i = 0; i < D; i++)
        out[i] = (in[i] - mean) * inv * g[i] + b[i];
}

/* Softmax of each of the rows of s (cols wide), in place. */
static void softmax_rows(float *s, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        float *restrict row = s + (size_t)r * cols;
        float mx = row[0], sum = 0.0f;
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < cols; j++)
            mx = row[j] > mx ? row[j] : mx;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < cols; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < cols; j++)
            row[j] *= inv;
    }
}

static void mm(int M, int N, int K, float alpha, const float *A, int lda, CBLAS_TRANSPOSE tb,
               const float *Bm, int ldb, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, M, N, K, alpha, A, lda, Bm, ldb, 0.0f, C, ldc);
}

static void step(void *arg)
{
    block *p = arg;
    int BT = p->B * p->T, D = p->D, Dl = p->Dl, T = p->T, DH = p->DH;
    int nhl = Dl / DH;
    for (int r = 0; r < BT; r++)
        ln_row(p->xn + (size_t)r * D, p->x + (size_t)r * D, p->g1, p->be1, D, p->eps);
    mm(BT, Dl, D, 1.0f, p->xn, D, CblasNoTrans, p->wq, Dl, p->q, Dl);
    mm(BT, Dl, D, 1.0f, p->xn, D, CblasNoTrans, p->wk, Dl, p->k, Dl);
    mm(BT, Dl, D, 1.0f, p->xn, D, CblasNoTrans, p->wv, Dl, p->v, Dl);
    for (int b = 0; b < p->B; b++)
        for (int j = 0; j < nhl; j++) {
            size_t at = (size_t)b * T * Dl + (size_t)j * DH;
            mm(T, T, DH, p->scale, p->q + at, Dl, CblasTrans, p->k + at, Dl, p->s, T);
            softmax_rows(p->s, T, T);
            mm(T, DH, T, 1.0f, p->s, T, CblasNoTrans, p->v + at, Dl, p->o + at, Dl);
        }
    mm(BT, D, Dl, 1.0f, p->o, Dl, CblasNoTrans, p->wo, D, p->a, D);
    MPI_Allreduce(MPI_IN_PLACE, p->a, BT * D, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int r = 0; r < BT; r++) {
        float *restrict h = p->h + (size_t)r * D;
        const float *restrict x = p->x + (size_t)r * D, *restrict a = p->a + (size_t)r * D;
#pragma omp simd
        for (int i = 0; i < D; i++)
            h[i] = x[i] + a[i];
        ln_row(p->xn + (size_t)r * D, h, p->g2, p->be2, D, p->eps);
    }
    mm(BT, p->Fl, D, 1.0f, p->xn, D, CblasNoTrans, p->w1, p->Fl, p->u, p->Fl);
    hb_bias_gelu(p->u, BT, p->Fl, p->b1);
    mm(BT, D, p->Fl, 1.0f, p->u, p->Fl, CblasNoTrans, p->w2, D, p->a, D);
    MPI_Allreduce(MPI_IN_PLACE, p->a, BT * D, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int r = 0; r < BT; r++) {
        float *restrict y = p->y + (size_t)r * D;
        const float *restrict h = p->h + (size_t)r * D, *restrict m = p->a + (size_t)r * D;
#pragma omp simd
        for (int i = 0; i < D; i++)
            y[i] = h[i] + (m[i] + p->b2[i]);
    }
}

int main(int argc, char **argv)
{
    const char *prog = "hand_transformer";
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    hb_opts o = {0, 0};
    int64_t B = 4, T = 128, D = 1024, NH = 16; /* bench/transformer.dt */
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (hb_common_opt(prog, argc, argv, &i, &o))
            continue;
        else if ((v = hb_opt(argc, argv, &i, "--B")))
            B = hb_int(prog, v);
        else if ((v = hb_opt(argc, argv, &i, "--T")))
            T = hb_int(prog, v);
        else if ((v = hb_opt(argc, argv, &i, "--D")))
            D = hb_int(prog, v);
        else if ((v = hb_opt(argc, argv, &i, "--NH")))
            NH = hb_int(prog, v);
        else
            hb_die(prog, "unknown option ", argv[i]);
    }
    if (NH < 1 || D % NH || NH % n)
        hb_die(prog, "D must be a multiple of NH, and NH of the number of ranks", NULL);
    int64_t F = 4 * D, BT = B * T;

    block p = {0};
    p.B = (int)B, p.T = (int)T, p.D = (int)D, p.NH = (int)NH, p.DH = (int)(D / NH);
    p.Dl = (int)(D / n), p.Fl = (int)(F / n);
    p.scale = 1.0f / sqrtf((float)p.DH);
    p.eps = 1e-5f;
    int64_t dc = (int64_t)rank * p.Dl, fc = (int64_t)rank * p.Fl;
    p.x = hb_randn2(1, 1.0, BT, D, 0, BT, 0, D);
    p.g1 = hb_init1(RT_INIT_ONES, 0, 0, 0, D, 0, D);
    p.be1 = hb_init1(RT_INIT_ZEROS, 0, 0, 0, D, 0, D);
    p.wq = hb_randn2(2, 0.03, D, D, 0, D, dc, p.Dl);
    p.wk = hb_randn2(3, 0.03, D, D, 0, D, dc, p.Dl);
    p.wv = hb_randn2(4, 0.03, D, D, 0, D, dc, p.Dl);
    p.wo = hb_randn2(5, 0.03, D, D, dc, p.Dl, 0, D);
    p.g2 = hb_init1(RT_INIT_ONES, 0, 0, 0, D, 0, D);
    p.be2 = hb_init1(RT_INIT_ZEROS, 0, 0, 0, D, 0, D);
    p.w1 = hb_randn2(6, 0.03, D, F, 0, D, fc, p.Fl);
    p.b1 = hb_init1(RT_INIT_RAND, 8, -0.1, 0.1, F, fc, p.Fl);
    p.w2 = hb_randn2(7, 0.015, F, D, fc, p.Fl, 0, D);
    p.b2 = hb_init1(RT_INIT_RAND, 9, -0.1, 0.1, D, 0, D);
    p.xn = hb_alloc((size_t)(BT * D));
    p.q = hb_alloc((size_t)(BT * p.Dl));
    p.k = hb_alloc((size_t)(BT * p.Dl));
    p.v = hb_alloc((size_t)(BT * p.Dl));
    p.s = hb_alloc((size_t)(T * T));
    p.o = hb_alloc((size_t)(BT * p.Dl));
    p.a = hb_alloc((size_t)(BT * D));
    p.h = hb_alloc((size_t)(BT * D));
    p.u = hb_alloc((size_t)(BT * p.Fl));
    p.y = hb_alloc((size_t)(BT * D));

    double med = hb_time(step, &p, &o);
    int64_t dims[3] = {B, T, D};
    if (rank == 0)
        hb_report("y", 3, dims, p.y, &o, med);
    const float *owned[] = {p.x,  p.g1, p.be1, p.wq, p.wk, p.wv, p.wo, p.g2, p.be2, p.w1,
                            p.b1, p.w2, p.b2,  p.xn, p.q,  p.k,  p.v,  p.s,  p.o,   p.a,
                            p.h,  p.u,  p.y};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        free((void *)owned[i]);
    MPI_Finalize();
    return 0;
}
