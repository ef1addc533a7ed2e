/* kernels.c - the CPU kernels generated programs call (dtrt_kernels.h).
 *
 * Matmul goes to CBLAS; f32 softmax (along any axis), layernorm and
 * rmsnorm are vectorisable row kernels (see "f32 row kernels" below); the
 * rest are short loops written for clarity first, with the interpreter's
 * numerics where they matter: f64 softmax and norms keep their statistics
 * in double.  No kernel allocates.
 */
#include "runtime/dtrt_kernels.h"

#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void dtk_setup(int nranks)
{
    if (nranks > 1 && !getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
}

/* ---- matmul ------------------------------------------------------------------ */

static void matmul_i32(int64_t M, int64_t N, int64_t K, int ta, int tb, const int32_t *a, int64_t lda,
                       const int32_t *b, int64_t ldb, int32_t *c, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            uint32_t acc = 0; /* wraps like numpy int32 */
            for (int64_t k = 0; k < K; k++) {
                int32_t x = ta ? a[k * lda + i] : a[i * lda + k];
                int32_t y = tb ? b[j * ldb + k] : b[k * ldb + j];
                acc += (uint32_t)x * (uint32_t)y;
            }
            c[i * ldc + j] = (int32_t)acc;
        }
}

/* One product c = op(a) @ op(b), rows lda / ldb / ldc elements apart. */
static void gemm(rt_dtype dt, int64_t M, int64_t N, int64_t K, int ta, int tb, const void *a, int64_t lda,
                 const void *b, int64_t ldb, void *c, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    size_t es = (size_t)rt_dtype_size(dt);
    if (K == 0) {
        for (int64_t i = 0; i < M; i++)
            memset((char *)c + (size_t)(i * ldc) * es, 0, (size_t)N * es);
        return;
    }
    if (dt == RT_I32) {
        matmul_i32(M, N, K, ta, tb, a, lda, b, ldb, c, ldc);
        return;
    }
    enum CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
    if (dt == RT_F32)
        cblas_sgemm(CblasRowMajor, tra, trb, (int)M, (int)N, (int)K, 1.0f, a, (int)lda, b, (int)ldb, 0.0f,
                    c, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, tra, trb, (int)M, (int)N, (int)K, 1.0, a, (int)lda, b, (int)ldb, 0.0, c,
                    (int)ldc);
}

void dtk_matmul(rt_dtype dt, int nbatch, const int64_t *batch_dims, const int64_t *a_bstride,
                const int64_t *b_bstride, int64_t M, int64_t N, int64_t K, int ta, int tb,
                const void *a, const void *b, void *c)
{
    int64_t c_bstride[RT_MAX_RANK], dense = M * N; /* c dense [batch..., M, N] */
    for (int d = nbatch - 1; d >= 0; d--) {
        c_bstride[d] = dense;
        dense *= batch_dims[d];
    }
    dtk_matmul_strided(dt, nbatch, batch_dims, a_bstride, b_bstride, c_bstride, M, N, K, ta, tb,
                       ta ? M : K, tb ? K : N, N, a, b, c);
}

void dtk_matmul_strided(rt_dtype dt, int nbatch, const int64_t *batch_dims, const int64_t *a_bstride,
                        const int64_t *b_bstride, const int64_t *c_bstride, int64_t M, int64_t N,
                        int64_t K, int ta, int tb, int64_t lda, int64_t ldb, int64_t ldc, const void *a,
                        const void *b, void *c)
{
    size_t es = (size_t)rt_dtype_size(dt);
    int64_t batches = 1;
    for (int d = 0; d < nbatch; d++)
        batches *= batch_dims[d];
    /* A stack of row-major A's times one shared B into a stack of C's
     * (x[B, T, D] @ w[D, E]): one tall GEMM of batches*M rows instead of
     * `batches` short ones, when the stacks are evenly spaced rows. */
    bool tall = !ta;
    int64_t next_a = M * lda, next_c = M * ldc;
    for (int d = nbatch - 1; d >= 0; d--) {
        tall &= batch_dims[d] == 1 ||
                (b_bstride[d] == 0 && a_bstride[d] == next_a && c_bstride[d] == next_c);
        next_a *= batch_dims[d];
        next_c *= batch_dims[d];
    }
    if (batches > 1 && tall) {
        gemm(dt, batches * M, N, K, ta, tb, a, lda, b, ldb, c, ldc);
        return;
    }
    int64_t idx[RT_MAX_RANK] = {0}, ao = 0, bo = 0, co = 0;
    for (int64_t t = 0; t < batches; t++) {
        gemm(dt, M, N, K, ta, tb, (const char *)a + (size_t)ao * es, lda, (const char *)b + (size_t)bo * es,
             ldb, (char *)c + (size_t)co * es, ldc);
        for (int d = nbatch - 1; d >= 0; d--) { /* next batch index, row-major */
            ao += a_bstride[d];
            bo += b_bstride[d];
            co += c_bstride[d];
            if (++idx[d] < batch_dims[d])
                break;
            ao -= a_bstride[d] * batch_dims[d];
            bo -= b_bstride[d] * batch_dims[d];
            co -= c_bstride[d] * batch_dims[d];
            idx[d] = 0;
        }
    }
}

/* ---- f32 row kernels: vectorisable by lanes ---------------------------------------
 *
 * The f32 softmax and norms are the hot kernels of attention and of every
 * transformer block.  Their loops keep LANES independent f32 accumulators,
 * which the compiler turns into vector registers without -ffast-math (no
 * reordering of one sum is needed), and a branch-free expf (exp_lane) that
 * vectorises where a libm call would not.  Precision: each lane sums at
 * most BLOCK / LANES terms in f32, block sums are combined in double, so a
 * 4096-wide row stays within a few f32 ulps of the double reference
 * (tests/unit/test_kernels.c measures it).  The functions are compiled
 * twice, for x86-64-v3 (AVX2 + FMA) and for the baseline, and the loader
 * picks the clone the CPU runs (GCC's target_clones; other compilers and
 * other architectures get the baseline only). */

#define LANES 8
#define BLOCK 256 /* elements per f32 partial sum */

/* GCC keeps a conditional select of floats as a branch unless it may assume
 * that no code inspects floating-point exception flags (clang assumes so by
 * default); nothing in dtc's runtime does.  Contracting a * b + c into one
 * fma (one rounding instead of two) takes a fifth off softmax and layernorm
 * in the AVX2 clone; -std=c11 alone forbids it. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "fp-contract=fast")
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define ROW_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
#endif
#ifndef ROW_KERNEL
#define ROW_KERNEL
#endif

typedef union f32_bits {
    float f;
    uint32_t u;
} f32_bits;

/* expf(x) within 2 ulps for x in [-87.3, 88]: its callers pass x - max <= 0.
 * 0 below -87.3 (no subnormal results), +inf above 88, NaN for NaN.
 * Cody-Waite reduction x = n ln2 + r, |r| <= ln2 / 2, a degree-6 polynomial
 * for exp(r) (the Cephes expf coefficients), 2^n built in the exponent bits. */
static inline float exp_lane(float x)
{
    float c = x < -87.33654f ? -87.33654f : x; /* NaN compares false: stays NaN */
    c = c > 88.0f ? 88.0f : c;
    f32_bits t = {.f = c * 1.44269504f + 12582912.0f}; /* 0x1.8p23: rounds to an integer */
    float n = t.f - 12582912.0f;                        /* n in [-126, 127] */
    float r = c - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    f32_bits scale = {.u = (t.u - 0x4B400000u + 127u) << 23}; /* 2^n */
    float y = p * scale.f;
    y = x < -87.33654f ? 0.0f : y;
    return x > 88.0f ? INFINITY : y;
}

static inline float max_lanes(const float *restrict x, int64_t n)
{
    float acc[LANES];
    for (int j = 0; j < LANES; j++)
        acc[j] = -INFINITY;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j]; /* NaN is caught by the sum */
    float m = -INFINITY;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (int j = 0; j < LANES; j++)
        m = acc[j] > m ? acc[j] : m;
    return m;
}

/* sum of exp(x - m) over n elements, also stored in y unless y is NULL */
static inline float exp_sum_lanes(const float *restrict x, float *restrict y, int64_t n, float m)
{
    float acc[LANES] = {0};
    int64_t i = 0;
    if (y) {
        for (; i + LANES <= n; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float e = exp_lane(x[i + j] - m);
                y[i + j] = e;
                acc[j] += e;
            }
    } else {
        for (; i + LANES <= n; i += LANES)
            for (int j = 0; j < LANES; j++)
                acc[j] += exp_lane(x[i + j] - m);
    }
    float s = 0.0f;
    for (; i < n; i++) {
        float e = exp_lane(x[i] - m);
        if (y)
            y[i] = e;
        s += e;
    }
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    return s;
}

#define MAX_BLOCKS 64

/* A row's block length: BLOCK, or for long rows at most MAX_BLOCKS
 * blocks, LANES-aligned. */
static int64_t row_block(int64_t len)
{
    if (len <= BLOCK * MAX_BLOCKS)
        return BLOCK;
    return ((len + MAX_BLOCKS - 1) / MAX_BLOCKS + LANES - 1) / LANES * LANES;
}

/* The maximum *m of one f32 row and the sum *s of exp(x - m), online: a
 * block's maximum updates the running m (the sum so far rescaled by
 * exp(old m - new m)), and the block's exponentials are taken against the
 * running m, stored in y unless y is NULL, with that m in block_m[block]
 * (unless NULL).  One exp per element; a block whose m is -inf (all -inf
 * so far) sums against 0, so that its -inf give 0 and only an all -inf
 * row has s = 0 (and NaN results, as numpy); a NaN makes s NaN. */
static inline void row_max_sum(const float *restrict x, float *restrict y, int64_t len, int64_t block,
                               float *block_m, float *m_out, double *s_out)
{
    float m = -INFINITY;
    double s = 0.0;
    int nb = 0;
    for (int64_t b0 = 0; b0 < len; b0 += block, nb++) {
        int64_t n = len - b0 < block ? len - b0 : block;
        float bm = max_lanes(x + b0, n);
        if (bm > m) {
            s *= exp((double)m - (double)bm); /* 0 while m is -inf */
            m = bm;
        }
        if (block_m)
            block_m[nb] = m;
        s += exp_sum_lanes(x + b0, y ? y + b0 : NULL, n, m == -INFINITY ? 0.0f : m);
    }
    *m_out = m;
    *s_out = s;
}

/* Softmax (log_softmax) of `rows` contiguous f32 rows of len: row_max_sum
 * leaves the exponentials in y, and the last pass scales each block by
 * exp(its m - the final m) / sum.  x is read once for the statistics, once
 * more only by log_softmax. */
ROW_KERNEL static void softmax_rows_f32(int take_log, int64_t rows, int64_t len,
                                        const float *restrict x, float *restrict y)
{
    int64_t block = row_block(len);
    float block_m[MAX_BLOCKS];
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * len;
        float *restrict yr = y + r * len;
        float m;
        double s;
        row_max_sum(xr, take_log ? NULL : yr, len, block, block_m, &m, &s);
        if (take_log) {
            float ls = (float)log(s);
            for (int64_t i = 0; i < len; i++)
                yr[i] = (xr[i] - m) - ls;
            continue;
        }
        int nb = 0;
        for (int64_t b0 = 0; b0 < len; b0 += block, nb++) {
            int64_t n = len - b0 < block ? len - b0 : block;
            float f = (float)(exp((double)block_m[nb] - (double)m) / s);
            float *restrict yb = yr + b0;
            for (int64_t i = 0; i < n; i++)
                yb[i] *= f;
        }
    }
}

/* Sum over N f32 rows of V logits of logsumexp(row) - row[labels[r]]
 * (row_max_sum, no stores). */
ROW_KERNEL static double xent_rows_f32(int64_t N, int64_t V, const float *restrict x,
                                       const int32_t *restrict labels)
{
    int64_t block = row_block(V);
    double total = 0.0;
    for (int64_t r = 0; r < N; r++) {
        float m;
        double s;
        row_max_sum(x + r * V, NULL, V, block, NULL, &m, &s);
        total += (double)m + log(s) - (double)x[r * V + labels[r]];
    }
    return total;
}

#define COLS 64 /* columns of a middle-axis softmax at a time */

/* Softmax (log_softmax) along the middle axis of f32 [outer, len, inner],
 * inner > 1: the lanes run along inner (contiguous), COLS columns at a
 * time with their maxima and sums (in double) on the stack; a max pass,
 * an exp pass, a scale pass, one exp per element.  -inf and NaN as in
 * softmax_rows_f32. */
ROW_KERNEL static void softmax_cols_f32(int take_log, int64_t outer, int64_t len, int64_t inner,
                                        const float *restrict x, float *restrict y)
{
    float m[COLS], mref[COLS], f[COLS];
    double s[COLS];
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q0 = 0; q0 < inner; q0 += COLS) {
            int64_t nq = inner - q0 < COLS ? inner - q0 : COLS, base = p * len * inner + q0;
            for (int64_t q = 0; q < nq; q++) {
                m[q] = -INFINITY;
                s[q] = 0.0;
            }
            for (int64_t i = 0; i < len; i++) {
                const float *restrict xr = x + base + i * inner;
                for (int64_t q = 0; q < nq; q++)
                    m[q] = xr[q] > m[q] ? xr[q] : m[q];
            }
            for (int64_t q = 0; q < nq; q++)
                mref[q] = m[q] == -INFINITY ? 0.0f : m[q];
            for (int64_t i = 0; i < len; i++) {
                const float *restrict xr = x + base + i * inner;
                float *restrict yr = y + base + i * inner;
                for (int64_t q = 0; q < nq; q++) {
                    float e = exp_lane(xr[q] - mref[q]);
                    if (!take_log)
                        yr[q] = e;
                    s[q] += e;
                }
            }
            for (int64_t q = 0; q < nq; q++)
                f[q] = take_log ? (float)log(s[q]) : (float)(1.0 / s[q]);
            for (int64_t i = 0; i < len; i++) {
                const float *restrict xr = x + base + i * inner;
                float *restrict yr = y + base + i * inner;
                if (take_log)
                    for (int64_t q = 0; q < nq; q++)
                        yr[q] = (xr[q] - m[q]) - f[q];
                else
                    for (int64_t q = 0; q < nq; q++)
                        yr[q] *= f[q];
            }
        }
}

/* Layernorm of `rows` f32 rows of D.  The statistics in double lanes,
 * shifted by the row's first element K (sums of x - K: no cancellation
 * when the mean is large against the spread); the output in f32 as
 * ((x - K) - (mean - K)) * inv * gamma + beta. */
ROW_KERNEL static void layernorm_rows_f32(int64_t rows, int64_t D, double eps, const float *restrict x,
                                          const float *restrict g, const float *restrict b,
                                          float *restrict y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * D;
        float *restrict yr = y + r * D;
        float k = xr[0];
        double s1[LANES] = {0}, s2[LANES] = {0};
        int64_t i = 0;
        for (; i + LANES <= D; i += LANES)
            for (int j = 0; j < LANES; j++) {
                double d = (double)xr[i + j] - (double)k;
                s1[j] += d;
                s2[j] += d * d;
            }
        double t1 = 0.0, t2 = 0.0;
        for (; i < D; i++) {
            double d = (double)xr[i] - (double)k;
            t1 += d;
            t2 += d * d;
        }
        for (int j = 0; j < LANES; j++) {
            t1 += s1[j];
            t2 += s2[j];
        }
        double mean = t1 / (double)D, var = t2 / (double)D - mean * mean;
        var = var < 0.0 ? 0.0 : var; /* rounding; NaN stays */
        float md = (float)mean, inv = (float)(1.0 / sqrt(var + eps));
        for (i = 0; i < D; i++)
            yr[i] = ((xr[i] - k) - md) * inv * g[i] + b[i];
    }
}

/* Rmsnorm of `rows` f32 rows of D: the sum of squares in double lanes. */
ROW_KERNEL static void rmsnorm_rows_f32(int64_t rows, int64_t D, double eps, const float *restrict x,
                                        const float *restrict g, float *restrict y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * D;
        float *restrict yr = y + r * D;
        double s2[LANES] = {0}, t2 = 0.0;
        int64_t i = 0;
        for (; i + LANES <= D; i += LANES)
            for (int j = 0; j < LANES; j++)
                s2[j] += (double)xr[i + j] * (double)xr[i + j];
        for (; i < D; i++)
            t2 += (double)xr[i] * (double)xr[i];
        for (int j = 0; j < LANES; j++)
            t2 += s2[j];
        float inv = (float)(1.0 / sqrt(t2 / (double)D + eps));
        for (i = 0; i < D; i++)
            yr[i] = xr[i] * inv * g[i];
    }
}

/* ---- softmax ------------------------------------------------------------------ */

/* NaN-propagating running maximum (numpy.max). */
static double max_nan(double m, double v) { return isnan(m) || isnan(v) ? NAN : v > m ? v : m; }

/* One f64 row of len elements, `inner` apart; the sum of exponentials in
 * double. */
static void softmax_row_f64(int take_log, int64_t len, int64_t inner, const double *x, double *y)
{
    double m = -INFINITY, s = 0.0;
    for (int64_t i = 0; i < len; i++)
        m = max_nan(m, x[i * inner]);
    if (take_log) {
        for (int64_t i = 0; i < len; i++)
            s += exp(x[i * inner] - m);
        double ls = log(s);
        for (int64_t i = 0; i < len; i++)
            y[i * inner] = x[i * inner] - m - ls;
        return;
    }
    for (int64_t i = 0; i < len; i++) {
        double e = exp(x[i * inner] - m);
        y[i * inner] = e;
        s += e;
    }
    for (int64_t i = 0; i < len; i++)
        y[i * inner] /= s;
}

void dtk_softmax(rt_dtype dt, int take_log, int64_t outer, int64_t len, int64_t inner, const void *x,
                 void *y)
{
    if (dt == RT_F32) {
        if (inner == 1)
            softmax_rows_f32(take_log, outer, len, x, y);
        else
            softmax_cols_f32(take_log, outer, len, inner, x, y);
        return;
    }
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            int64_t base = p * len * inner + q;
            softmax_row_f64(take_log, len, inner, (const double *)x + base, (double *)y + base);
        }
}

/* ---- norms ---------------------------------------------------------------------- */

static double ld(rt_dtype dt, const void *p, int64_t i)
{
    return dt == RT_F32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void st(rt_dtype dt, void *p, int64_t i, double v)
{
    if (dt == RT_F32)
        ((float *)p)[i] = (float)v;
    else
        ((double *)p)[i] = v;
}

void dtk_layernorm(rt_dtype dt, int64_t rows, int64_t D, double eps, const void *x,
                   const void *gamma, const void *beta, void *y)
{
    if (dt == RT_F32 && D > 0) {
        layernorm_rows_f32(rows, D, eps, x, gamma, beta, y);
        return;
    }
    for (int64_t r = 0; r < rows && D > 0; r++) {
        int64_t base = r * D;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < D; i++)
            mean += ld(dt, x, base + i);
        mean /= (double)D;
        for (int64_t i = 0; i < D; i++) {
            double c = ld(dt, x, base + i) - mean;
            var += c * c;
        }
        var /= (double)D;
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t i = 0; i < D; i++)
            st(dt, y, base + i, (ld(dt, x, base + i) - mean) * inv * ld(dt, gamma, i) + ld(dt, beta, i));
    }
}

void dtk_rmsnorm(rt_dtype dt, int64_t rows, int64_t D, double eps, const void *x,
                 const void *gamma, void *y)
{
    if (dt == RT_F32 && D > 0) {
        rmsnorm_rows_f32(rows, D, eps, x, gamma, y);
        return;
    }
    for (int64_t r = 0; r < rows && D > 0; r++) {
        int64_t base = r * D;
        double ms = 0.0;
        for (int64_t i = 0; i < D; i++) {
            double v = ld(dt, x, base + i);
            ms += v * v;
        }
        ms /= (double)D;
        double inv = 1.0 / sqrt(ms + eps);
        for (int64_t i = 0; i < D; i++)
            st(dt, y, base + i, ld(dt, x, base + i) * inv * ld(dt, gamma, i));
    }
}

/* ---- lookup ------------------------------------------------------------------------ */

void dtk_embedding(rt_ctx *ctx, const char *where, rt_dtype dt, const void *table, int64_t vloc,
                   int64_t D, const int32_t *ids, int64_t n, int64_t row_off, int64_t nrows,
                   void *out)
{
    size_t es = (size_t)rt_dtype_size(dt), row = (size_t)D * es;
    for (int64_t i = 0; i < n; i++) {
        int64_t id = ids[i];
        if (id < 0 || id >= nrows)
            rt_fail(ctx, "%s: embedding: id %lld at position %lld is out of range [0, %lld)", where,
                    (long long)id, (long long)i, (long long)nrows);
        int64_t r = id - row_off;
        char *dst = (char *)out + (size_t)i * row;
        if (r < 0 || r >= vloc) /* another rank holds the row: this partial is 0 */
            memset(dst, 0, row);
        else
            memcpy(dst, (const char *)table + (size_t)r * row, row);
    }
}

void dtk_pick(rt_ctx *ctx, const char *where, rt_dtype dt, const void *logits, int64_t N,
              int64_t vloc, const int32_t *labels, int64_t col_off, int64_t ncols, void *out)
{
    for (int64_t r = 0; r < N; r++) {
        int64_t lab = labels[r];
        if (lab < 0 || lab >= ncols)
            rt_fail(ctx, "%s: pick: label %lld at row %lld is out of range [0, %lld)", where,
                    (long long)lab, (long long)r, (long long)ncols);
        int64_t c = lab - col_off;
        if (dt == RT_I32)
            ((int32_t *)out)[r] = c >= 0 && c < vloc ? ((const int32_t *)logits)[r * vloc + c] : 0;
        else
            st(dt, out, r, c >= 0 && c < vloc ? ld(dt, logits, r * vloc + c) : 0.0);
    }
}

void dtk_cross_entropy(rt_ctx *ctx, const char *where, rt_dtype dt, const void *logits,
                       int64_t N, int64_t V, const int32_t *labels, void *out)
{
    for (int64_t r = 0; r < N; r++) {
        int64_t lab = labels[r];
        if (lab < 0 || lab >= V)
            rt_fail(ctx, "%s: cross_entropy: label %lld at row %lld is out of range [0, %lld)",
                    where, (long long)lab, (long long)r, (long long)V);
    }
    if (dt == RT_F32) {
        st(dt, out, 0, xent_rows_f32(N, V, logits, labels) / (double)N);
        return;
    }
    double total = 0.0;
    for (int64_t r = 0; r < N; r++) {
        int64_t lab = labels[r];
        double m = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < V; j++)
            m = max_nan(m, ld(dt, logits, r * V + j));
        for (int64_t j = 0; j < V; j++)
            s += exp(ld(dt, logits, r * V + j) - m);
        total += m + log(s) - ld(dt, logits, r * V + lab);
    }
    st(dt, out, 0, total / (double)N); /* N == 0: NaN, like numpy's mean */
}
