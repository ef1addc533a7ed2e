/* test_kernels.c - the f32 row kernels of runtime/kernels.c (dtk_softmax,
 * dtk_layernorm, dtk_rmsnorm, dtk_cross_entropy) against a double reference computed the way
 * the interpreter computes them (interp/kernels.c), on rows of 1, 3, 7, 8,
 * 9, 1000 and 4096 elements (under, at and over the vector width; more
 * than one block) and several rows at once, softmax also along the first
 * axis of [len, 3] and [len, 70]: random rows, rows with a large
 * offset (1e4), rows with -inf entries, a row of -inf only (NaN, as
 * numpy), a row with a NaN (NaN).  Prints the largest error seen per
 * kernel, relative to the row's largest |reference|; fails over 2e-6 (the
 * exec tests allow 1e-5).  Also dtk_matmul_strided on attention-head views
 * (operands and result inside wider rows, two batch dims, a broadcast
 * batch, the transposed operand, K = 0 and the one-tall-GEMM path with
 * ldc) in f32, f64 and i32 against a plain triple loop.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/dtrt_kernels.h"
#include "unit_check.h"

#define ROWS 3
#define TOL 2e-6

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static double uniform(void) /* xorshift64*: [0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53;
}

static double normal(void)
{
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void softmax_ref(int take_log, int64_t len, const float *x, double *y)
{
    double m = -INFINITY, s = 0.0;
    for (int64_t i = 0; i < len; i++)
        m = isnan(m) || isnan(x[i]) ? NAN : x[i] > m ? x[i] : m;
    for (int64_t i = 0; i < len; i++)
        s += exp(x[i] - m);
    for (int64_t i = 0; i < len; i++)
        y[i] = take_log ? x[i] - m - log(s) : exp(x[i] - m) / s;
}

static void norm_ref(int layer, int64_t D, double eps, const float *x, const float *g, const float *b,
                     double *y)
{
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < D; i++)
        mean += layer ? x[i] : 0.0;
    mean /= (double)D;
    for (int64_t i = 0; i < D; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (double)D;
    double inv = 1.0 / sqrt(var + eps);
    for (int64_t i = 0; i < D; i++)
        y[i] = layer ? (x[i] - mean) * inv * g[i] + b[i] : x[i] * inv * g[i];
}

/* The largest |got - ref| / max|ref| of one row; NaN must match NaN.
 * Returns INFINITY on a NaN mismatch. */
static double row_error(int64_t len, const float *got, const double *ref)
{
    double scale = 0.0, err = 0.0;
    for (int64_t i = 0; i < len; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > scale)
            scale = fabs(ref[i]);
    for (int64_t i = 0; i < len; i++) {
        if (isnan(ref[i]) != isnan(got[i]))
            return INFINITY;
        if (isnan(ref[i]))
            continue;
        if (isinf(ref[i])) {
            if (got[i] != ref[i])
                return INFINITY;
            continue;
        }
        double e = fabs(got[i] - ref[i]) / (scale > 0 ? scale : 1.0);
        if (e > err)
            err = e;
    }
    return err;
}

enum fill { F_NORMAL, F_OFFSET, F_NEG_INF, F_ALL_NEG_INF, F_NAN, NFILL };
static const char *const fill_names[NFILL] = {"normal", "offset 1e4", "some -inf", "all -inf", "a NaN"};

static void fill_row(enum fill f, int64_t len, float *x)
{
    for (int64_t i = 0; i < len; i++) {
        double v = 3.0 * normal();
        if (f == F_OFFSET)
            v += 1e4;
        if ((f == F_NEG_INF && i % 3 == 1) || f == F_ALL_NEG_INF)
            v = -INFINITY;
        x[i] = (float)v;
    }
    if (f == F_NAN)
        x[len / 2] = NAN;
}

/* Softmax along the first axis of [len, inner] (the middle-axis kernel):
 * column 1 holds the special values of `f`, the others normal rows.
 * Returns the largest error of any column. */
static double softmax_cols_error(int take_log, enum fill f, int64_t len, int64_t inner)
{
    int64_t n = len * inner;
    float *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)n);
    float *col = malloc(sizeof *col * (size_t)len), *got = malloc(sizeof *got * (size_t)len);
    double *ref = malloc(sizeof *ref * (size_t)len), worst = 0.0;
    for (int64_t q = 0; q < inner; q++) {
        fill_row(q == 1 ? f : F_NORMAL, len, col);
        for (int64_t i = 0; i < len; i++)
            x[i * inner + q] = col[i];
    }
    dtk_softmax(RT_F32, take_log, 1, len, inner, x, y);
    for (int64_t q = 0; q < inner; q++) {
        for (int64_t i = 0; i < len; i++) {
            col[i] = x[i * inner + q];
            got[i] = y[i * inner + q];
        }
        softmax_ref(take_log, len, col, ref);
        double e = row_error(len, got, ref);
        worst = e > worst || isnan(e) ? e : worst;
    }
    free(x);
    free(y);
    free(col);
    free(got);
    free(ref);
    return worst;
}

/* ---- dtk_matmul_strided ---------------------------------------------------------- */

/* element of a strided view as double (dt RT_F32, RT_F64 or RT_I32) */
static double at(rt_dtype dt, const void *p, int64_t i)
{
    return dt == RT_F32 ? ((const float *)p)[i] : dt == RT_F64 ? ((const double *)p)[i] : ((const int32_t *)p)[i];
}

typedef struct mm_case {
    const char *what;
    int nbatch;
    int64_t batch[2], as[2], bs[2], cs[2];
    int64_t M, N, K;
    int ta, tb;
    int64_t lda, ldb, ldc;
} mm_case;

/* c = op(a) @ op(b) per batch through dtk_matmul_strided, against a
 * triple loop; elements of c outside the views must stay as they were. */
static void check_matmul(rt_dtype dt, const mm_case *m)
{
    enum { CAP = 4096 };
    size_t es = (size_t)rt_dtype_size(dt);
    char *a = malloc(CAP * es), *b = malloc(CAP * es), *c = malloc(CAP * es);
    for (int64_t i = 0; i < CAP; i++) {
        double va = (double)((i * 7) % 11) - 5.0, vb = (double)((i * 5) % 13) - 6.0;
        if (dt == RT_F32) {
            ((float *)a)[i] = (float)va, ((float *)b)[i] = (float)vb, ((float *)c)[i] = -99.0f;
        } else if (dt == RT_F64) {
            ((double *)a)[i] = va, ((double *)b)[i] = vb, ((double *)c)[i] = -99.0;
        } else {
            ((int32_t *)a)[i] = (int32_t)va, ((int32_t *)b)[i] = (int32_t)vb, ((int32_t *)c)[i] = -99;
        }
    }
    static const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
    const int64_t *batch = m->nbatch ? m->batch : one;
    dtk_matmul_strided(dt, m->nbatch, m->batch, m->as, m->bs, m->cs, m->M, m->N, m->K, m->ta, m->tb,
                       m->lda, m->ldb, m->ldc, a, b, c);
    /* which elements of c the views cover */
    char *hit = calloc(CAP, 1);
    int bad = 0;
    const int64_t *as = m->nbatch ? m->as : zero, *bs = m->nbatch ? m->bs : zero, *cs = m->nbatch ? m->cs : zero;
    for (int64_t p = 0; p < batch[0]; p++)
        for (int64_t q = 0; q < (m->nbatch > 1 ? batch[1] : 1); q++) {
            int64_t ao = p * as[0] + (m->nbatch > 1 ? q * as[1] : 0);
            int64_t bo = p * bs[0] + (m->nbatch > 1 ? q * bs[1] : 0);
            int64_t co = p * cs[0] + (m->nbatch > 1 ? q * cs[1] : 0);
            for (int64_t i = 0; i < m->M; i++)
                for (int64_t j = 0; j < m->N; j++) {
                    double want = 0.0;
                    for (int64_t k = 0; k < m->K; k++)
                        want += at(dt, a, ao + (m->ta ? k * m->lda + i : i * m->lda + k)) *
                                at(dt, b, bo + (m->tb ? j * m->ldb + k : k * m->ldb + j));
                    int64_t ci = co + i * m->ldc + j;
                    hit[ci] = 1;
                    bad += fabs(at(dt, c, ci) - want) > 1e-4 * (1.0 + fabs(want));
                }
        }
    for (int64_t i = 0; i < CAP; i++)
        bad += !hit[i] && at(dt, c, i) != -99.0;
    if (bad)
        fprintf(stderr, "FAIL matmul %s (%s): %d wrong elements\n", m->what,
                dt == RT_F32 ? "f32" : dt == RT_F64 ? "f64" : "i32", bad);
    CHECK(bad == 0);
    free(a);
    free(b);
    free(c);
    free(hit);
}

static void check_matmuls(void)
{
    /* [B=2, T=5, NH=3, DH=4] heads: row stride 12, head stride 4 */
    static const mm_case cases[] = {
        {"q @ k^T, heads in place", 2, {2, 3}, {60, 4}, {60, 4}, {75, 25}, 5, 5, 4, 0, 1, 12, 12, 5},
        {"s @ v into the heads", 2, {2, 3}, {75, 25}, {60, 4}, {60, 4}, 5, 4, 5, 0, 0, 5, 12, 12},
        {"transposed a, shared b", 1, {3}, {4, 0}, {0, 0}, {100, 0}, 4, 6, 5, 1, 0, 12, 7, 9},
        {"one tall GEMM with ldc", 2, {2, 3}, {3 * 4 * 10, 4 * 10}, {0, 0}, {3 * 4 * 9, 4 * 9}, 4, 6, 5, 0, 0,
         10, 8, 9},
        {"K = 0 zeroes the view", 1, {2}, {0, 0}, {0, 0}, {40, 0}, 3, 4, 0, 0, 0, 1, 4, 6},
        {"no batch", 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 6, 3, 7, 0, 1, 9, 10, 5},
    };
    static const rt_dtype dts[] = {RT_F32, RT_F64, RT_I32};
    for (size_t d = 0; d < 3; d++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
            check_matmul(dts[d], &cases[k]);
}

int main(void)
{
    check_matmuls();
    static const int64_t lens[] = {1, 3, 7, 8, 9, 1000, 4096};
    double worst[5] = {0}; /* softmax, log_softmax, layernorm, rmsnorm, cross_entropy */
    static const char *const names[5] = {"softmax", "log_softmax", "layernorm", "rmsnorm", "cross_entropy"};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t len = lens[li], n = ROWS * len;
        float *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)n);
        float *g = malloc(sizeof *g * (size_t)len), *b = malloc(sizeof *b * (size_t)len);
        double *ref = malloc(sizeof *ref * (size_t)len);
        for (int64_t i = 0; i < len; i++) {
            g[i] = (float)(1.0 + 0.5 * normal());
            b[i] = (float)(0.1 * normal());
        }
        for (int f = 0; f < NFILL; f++) {
            for (int r = 0; r < ROWS; r++) /* row 1 has the special values */
                fill_row(r == 1 ? (enum fill)f : f == F_OFFSET ? F_OFFSET : F_NORMAL, len, x + r * len);
            for (int k = 0; k < 4; k++) {
                if (k >= 2 && (f == F_NEG_INF || f == F_ALL_NEG_INF))
                    continue; /* the norms of -inf rows are NaN rows, checked by the NaN case */
                if (k < 2)
                    dtk_softmax(RT_F32, k, ROWS, len, 1, x, y);
                else if (k == 2)
                    dtk_layernorm(RT_F32, ROWS, len, 1e-5, x, g, b, y);
                else
                    dtk_rmsnorm(RT_F32, ROWS, len, 1e-5, x, g, y);
                for (int r = 0; r < ROWS; r++) {
                    if (k < 2)
                        softmax_ref(k, len, x + r * len, ref);
                    else
                        norm_ref(k == 2, len, 1e-5, x + r * len, g, b, ref);
                    double e = row_error(len, y + r * len, ref);
                    if (e > worst[k])
                        worst[k] = e;
                    if (!(e <= TOL))
                        fprintf(stderr, "FAIL %s, len %lld, row %d (%s): error %.3g\n", names[k],
                                (long long)len, r, r == 1 ? fill_names[f] : "plain", e);
                    CHECK(e <= TOL);
                }
            }
        }
        for (int f = 0; f < NFILL; f++) { /* cross_entropy: the mean of logsumexp - label logit */
            for (int r = 0; r < ROWS; r++)
                fill_row(r == 1 ? (enum fill)f : F_NORMAL, len, x + r * len);
            int32_t labels[ROWS];
            double want = 0.0;
            for (int r = 0; r < ROWS; r++) {
                labels[r] = (int32_t)((r * 7 + 2) % len);
                double m = -INFINITY, sum = 0.0;
                for (int64_t i = 0; i < len; i++)
                    m = isnan(m) || isnan(x[r * len + i]) ? NAN : x[r * len + i] > m ? x[r * len + i] : m;
                for (int64_t i = 0; i < len; i++)
                    sum += exp(x[r * len + i] - m);
                want += m + log(sum) - x[r * len + labels[r]];
            }
            want /= ROWS;
            float got;
            dtk_cross_entropy(NULL, "test", RT_F32, x, ROWS, len, labels, &got);
            double e = row_error(1, &got, &want);
            if (e > worst[4])
                worst[4] = e;
            if (!(e <= TOL))
                fprintf(stderr, "FAIL cross_entropy, len %lld (%s): got %.9g, want %.9g\n", (long long)len,
                        fill_names[f], got, want);
            CHECK(e <= TOL);
        }
        for (int f = 0; f < NFILL; f++) /* softmax along a middle axis: 3 and 70 (> 64) columns */
            for (int k = 0; k < 2; k++)
                for (int64_t inner = 3; inner <= 70; inner += 67) {
                    double e = softmax_cols_error(k, (enum fill)f, len, inner);
                    if (e > worst[k])
                        worst[k] = e;
                    if (!(e <= TOL))
                        fprintf(stderr, "FAIL %s along axis 0 of [%lld, %lld] (%s): error %.3g\n", names[k],
                                (long long)len, (long long)inner, fill_names[f], e);
                    CHECK(e <= TOL);
                }
        free(x);
        free(y);
        free(g);
        free(b);
        free(ref);
    }
    /* an all -inf softmax row is NaN throughout, as numpy's */
    float ninf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, out[4];
    dtk_softmax(RT_F32, 0, 1, 4, 1, ninf, out);
    CHECK(isnan(out[0]) && isnan(out[3]));
    /* -inf beside a finite maximum gives exactly 0; a single element 1 */
    float mixed[3] = {-INFINITY, 2.0f, -INFINITY};
    dtk_softmax(RT_F32, 0, 1, 3, 1, mixed, out);
    CHECK(out[0] == 0.0f && out[1] == 1.0f && out[2] == 0.0f);
    for (int k = 0; k < 5; k++)
        printf("%-13s largest error / max|ref| over rows of 1..4096: %.3g\n", names[k], worst[k]);
    (void)mlp;
    printf("%d checks, %d failures\n", nchecks, nfail);
    return nfail != 0;
}
