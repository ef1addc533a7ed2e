/* kernels.c - the CPU kernels generated programs call (dtrt_kernels.h).
 *
 * Matmul goes to CBLAS; the rest are short loops written for clarity first,
 * with the interpreter's numerics where they matter: softmax and the norms
 * keep their statistics in double, so f32 results stay within an ulp or two
 * of the reference.  No kernel allocates.
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

static void matmul_i32(int64_t M, int64_t N, int64_t K, int ta, int tb, const int32_t *a,
                       const int32_t *b, int32_t *c)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            uint32_t acc = 0; /* wraps like numpy int32 */
            for (int64_t k = 0; k < K; k++) {
                int32_t x = ta ? a[k * M + i] : a[i * K + k];
                int32_t y = tb ? b[j * K + k] : b[k * N + j];
                acc += (uint32_t)x * (uint32_t)y;
            }
            c[i * N + j] = (int32_t)acc;
        }
}

/* One product c = op(a) @ op(b), all dense. */
static void gemm(rt_dtype dt, int64_t M, int64_t N, int64_t K, int ta, int tb, const void *a,
                 const void *b, void *c)
{
    if (M == 0 || N == 0)
        return;
    size_t es = (size_t)rt_dtype_size(dt);
    if (K == 0) {
        memset(c, 0, (size_t)(M * N) * es);
        return;
    }
    if (dt == RT_I32) {
        matmul_i32(M, N, K, ta, tb, a, b, c);
        return;
    }
    /* row-major leading dimensions: the stored row lengths */
    int lda = (int)(ta ? M : K), ldb = (int)(tb ? K : N), ldc = (int)N;
    enum CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
    if (dt == RT_F32)
        cblas_sgemm(CblasRowMajor, tra, trb, (int)M, (int)N, (int)K, 1.0f, a, lda, b, ldb, 0.0f, c,
                    ldc);
    else
        cblas_dgemm(CblasRowMajor, tra, trb, (int)M, (int)N, (int)K, 1.0, a, lda, b, ldb, 0.0, c,
                    ldc);
}

void dtk_matmul(rt_dtype dt, int nbatch, const int64_t *batch_dims, const int64_t *a_bstride,
                const int64_t *b_bstride, int64_t M, int64_t N, int64_t K, int ta, int tb,
                const void *a, const void *b, void *c)
{
    size_t es = (size_t)rt_dtype_size(dt);
    int64_t batches = 1;
    for (int d = 0; d < nbatch; d++)
        batches *= batch_dims[d];
    /* A stack of row-major A's times one shared B (x[B, T, D] @ w[D, E]):
     * one tall GEMM of batches*M rows instead of `batches` short ones. */
    bool shared_b = !ta, stacked_a = !ta;
    int64_t expect = M * K;
    for (int d = nbatch - 1; d >= 0; d--) {
        shared_b &= b_bstride[d] == 0 || batch_dims[d] == 1;
        stacked_a &= a_bstride[d] == expect || batch_dims[d] == 1;
        expect *= batch_dims[d];
    }
    if (batches > 1 && shared_b && stacked_a) {
        gemm(dt, batches * M, N, K, ta, tb, a, b, c);
        return;
    }
    int64_t idx[RT_MAX_RANK] = {0}, ao = 0, bo = 0;
    for (int64_t t = 0; t < batches; t++) {
        gemm(dt, M, N, K, ta, tb, (const char *)a + (size_t)ao * es, (const char *)b + (size_t)bo * es,
             (char *)c + (size_t)(t * M * N) * es);
        for (int d = nbatch - 1; d >= 0; d--) { /* next batch index, row-major */
            ao += a_bstride[d];
            bo += b_bstride[d];
            if (++idx[d] < batch_dims[d])
                break;
            ao -= a_bstride[d] * batch_dims[d];
            bo -= b_bstride[d] * batch_dims[d];
            idx[d] = 0;
        }
    }
}

/* ---- softmax ------------------------------------------------------------------ */

/* NaN-propagating running maximum (numpy.max). */
static double max_nan(double m, double v) { return isnan(m) || isnan(v) ? NAN : v > m ? v : m; }

/* One row of len elements, `inner` apart; the sum of exponentials in double. */
static void softmax_row_f32(int take_log, int64_t len, int64_t inner, const float *x, float *y)
{
    double m = -INFINITY, s = 0.0;
    for (int64_t i = 0; i < len; i++)
        m = max_nan(m, x[i * inner]);
    float mf = (float)m;
    if (take_log) {
        for (int64_t i = 0; i < len; i++)
            s += expf(x[i * inner] - mf);
        double ls = log(s);
        for (int64_t i = 0; i < len; i++)
            y[i * inner] = (float)((double)(x[i * inner] - mf) - ls);
        return;
    }
    for (int64_t i = 0; i < len; i++) { /* each exponential once: kept in y */
        float e = expf(x[i * inner] - mf);
        y[i * inner] = e;
        s += e;
    }
    for (int64_t i = 0; i < len; i++)
        y[i * inner] = (float)(y[i * inner] / s);
}

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
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            int64_t base = p * len * inner + q;
            if (dt == RT_F32)
                softmax_row_f32(take_log, len, inner, (const float *)x + base, (float *)y + base);
            else
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
    double total = 0.0;
    for (int64_t r = 0; r < N; r++) {
        int64_t lab = labels[r];
        if (lab < 0 || lab >= V)
            rt_fail(ctx, "%s: cross_entropy: label %lld at row %lld is out of range [0, %lld)",
                    where, (long long)lab, (long long)r, (long long)V);
        double m = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < V; j++)
            m = max_nan(m, ld(dt, logits, r * V + j));
        for (int64_t j = 0; j < V; j++)
            s += exp(ld(dt, logits, r * V + j) - m);
        total += m + log(s) - ld(dt, logits, r * V + lab);
    }
    st(dt, out, 0, total / (double)N); /* N == 0: NaN, like numpy's mean */
}
