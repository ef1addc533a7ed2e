/* dtrt_kernels.h - the CPU kernels that generated code calls, and the
 * scalar helpers its fused loops use.
 *
 * Code generation (codegen/lower.c) turns elementwise chains, transposes,
 * local slices and reductions into loops of its own; everything else that
 * is not a collective is one call here.  Every kernel works on one rank's
 * local, row-major, densely packed buffers with the shapes it is given,
 * and has the semantics of the op in ir/ops.def applied to those shapes
 * (the sharded interpreter, interp/kernels.c, is the reference):
 *
 *   dtk_matmul         numpy.matmul: (batched, broadcast) products through
 *                      CBLAS sgemm / dgemm; i32 with a plain wrapping loop
 *   dtk_matmul_strided the same on strided operands and result (lda, ldb,
 *                      ldc and per-batch strides: attention heads in place)
 *   dtk_softmax        softmax / log_softmax along one axis (outer, len,
 *                      inner view); f32 in vector lanes (the last axis: one
 *                      online pass for max and sum, f32 block sums combined
 *                      in double; another axis: lanes along inner, sums in
 *                      double); f64 scalar, in double
 *   dtk_layernorm      over the last axis, statistics in double (f32:
 *                      in double vector lanes, output in f32 lanes)
 *   dtk_rmsnorm        over the last axis, statistics in double (likewise)
 *   dtk_embedding      masked row lookup into a (possibly vocab-split) table
 *   dtk_pick           logits[n, labels[n]] of (possibly vocab-split) logits
 *   dtk_cross_entropy  mean over rows of logsumexp - label logit (f32: the
 *                      softmax kernel's online max and sum in vector lanes)
 *   dtk_route          argmax, argmin, one_hot, cumsum, take_along_axis, topk,
 *                      scatter_add (runtime/core rt_route, the interpreter's code)
 *
 * The kernels that check data (ids, labels) end the run with rt_fail and a
 * message that starts with `where` (the source position of the op).
 *
 * Scalar helpers (static inline) follow the interpreter's numerics: NaN
 * propagating maximum / minimum, i32 arithmetic that wraps like numpy
 * int32, i32 division that floors (x // 0 = 0).
 */
#ifndef DTRT_KERNELS_H
#define DTRT_KERNELS_H

#include <math.h>
#include <stdint.h>

#include "runtime/dtrt.h"
#include "runtime/core/rt_divmod.h"

/* ---- set-up ---------------------------------------------------------------- */

/* Called by generated main() before rt_main: with more than one rank per
 * mesh, BLAS runs one thread per rank (unless OPENBLAS_NUM_THREADS says
 * otherwise), so N ranks on one machine do not start N * cores threads. */
void dtk_setup(int nranks);

/* ---- kernels ---------------------------------------------------------------- */

/* c[t] = op(a[t]) @ op(b[t]) for every batch index t (row-major over
 * batch_dims[0..nbatch)), op = transpose of the last two dims when ta / tb.
 * a[t] starts at sum_d idx[d] * a_bstride[d] elements (0 for a broadcast
 * dim), b[t] likewise; c is dense [batch..., M, N].  a is [M, K] ([K, M]
 * when ta), b is [K, N] ([N, K] when tb).  Empty sizes are fine (K == 0
 * gives zeros).  dt: RT_F32, RT_F64 or RT_I32. */
void dtk_matmul(rt_dtype dt, int nbatch, const int64_t *batch_dims, const int64_t *a_bstride,
                const int64_t *b_bstride, int64_t M, int64_t N, int64_t K, int ta, int tb,
                const void *a, const void *b, void *c);
/* dtk_matmul on strided views (a head of q[B, T, NH, DH] read in place as
 * [B, NH][T, DH], written back likewise): a[t], b[t], c[t] start at
 * sum_d idx[d] * {a,b,c}_bstride[d] elements; within one, rows (the stored
 * rows: [K, M] when ta) are lda / ldb / ldc elements apart, elements 1
 * apart.  dtk_matmul is this with the dense strides. */
void dtk_matmul_strided(rt_dtype dt, int nbatch, const int64_t *batch_dims, const int64_t *a_bstride,
                        const int64_t *b_bstride, const int64_t *c_bstride, int64_t M, int64_t N,
                        int64_t K, int ta, int tb, int64_t lda, int64_t ldb, int64_t ldc, const void *a,
                        const void *b, void *c);

/* y = softmax(x) (log_softmax when take_log != 0) along the middle axis of x
 * seen as [outer, len, inner]. */
void dtk_softmax(rt_dtype dt, int take_log, int64_t outer, int64_t len, int64_t inner,
                 const void *x, void *y);

/* y = (x - mean) / sqrt(var + eps) * gamma + beta over rows of length D. */
void dtk_layernorm(rt_dtype dt, int64_t rows, int64_t D, double eps, const void *x,
                   const void *gamma, const void *beta, void *y);
/* y = x / sqrt(mean(x^2) + eps) * gamma over rows of length D. */
void dtk_rmsnorm(rt_dtype dt, int64_t rows, int64_t D, double eps, const void *x,
                 const void *gamma, void *y);

/* out[i, :] = table[ids[i] - row_off, :] for the n ids; a row outside the
 * local rows [0, vloc) gives zeros (another rank holds it: the result is a
 * partial sum).  Every id must lie in [0, nrows), nrows the global row
 * count.  dt is the table's dtype (any; rows are copied). */
void dtk_embedding(rt_ctx *ctx, const char *where, rt_dtype dt, const void *table, int64_t vloc,
                   int64_t D, const int32_t *ids, int64_t n, int64_t row_off, int64_t nrows,
                   void *out);

/* out[r] = logits[r, labels[r] - col_off] when that column is local (of
 * vloc), else 0; labels must lie in [0, ncols). */
void dtk_pick(rt_ctx *ctx, const char *where, rt_dtype dt, const void *logits, int64_t N,
              int64_t vloc, const int32_t *labels, int64_t col_off, int64_t ncols, void *out);

/* out[0] = mean over the N rows of logsumexp(logits[r]) - logits[r, labels[r]];
 * labels must lie in [0, V). */
void dtk_cross_entropy(rt_ctx *ctx, const char *where, rt_dtype dt, const void *logits,
                       int64_t N, int64_t V, const int32_t *labels, void *out);

/* The lookup / routing op `op` (rt_route_op) on [outer, len, inner] views:
 * rt_route (rt_core.h) with these arguments; a bad index ends the run with
 * rt_fail.  dt: operand 0's dtype, odt: the result's. */
void dtk_route(rt_ctx *ctx, const char *where, int op, rt_dtype dt, rt_dtype odt, int64_t outer,
               int64_t len, int64_t len2, int64_t inner, int64_t off, int64_t total, const void *in0,
               const void *in1, const void *in2, void *out);

/* ---- scalar helpers for fused loops ------------------------------------------ */

static inline float dtk_sigmoid_f32(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline double dtk_sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline float dtk_silu_f32(float x) { return x / (1.0f + expf(-x)); }
static inline double dtk_silu_f64(double x) { return x / (1.0 + exp(-x)); }
/* gelu, tanh approximation: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
 * In f32 as the equal x / (1 + exp(-2u)): one expf instead of tanhf, several
 * times faster, and no cancellation in 1 + tanh(u) for negative x. */
static inline float dtk_gelu_f32(float x)
{
    float u = 0.797884560802865f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}
static inline double dtk_gelu_f64(double x)
{
    return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
static inline float dtk_relu_f32(float x) { return x < 0.0f ? 0.0f : x; }
static inline double dtk_relu_f64(double x) { return x < 0.0 ? 0.0 : x; }
/* numpy.maximum / numpy.minimum: NaN wins */
static inline float dtk_max_f32(float a, float b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
static inline float dtk_min_f32(float a, float b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }
static inline double dtk_max_f64(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
static inline double dtk_min_f64(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }

/* i32: numpy int32 semantics (wrapping; floor division, x // 0 = 0) */
static inline int32_t dtk_wrap_i32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }
static inline int32_t dtk_add_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t dtk_sub_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t dtk_mul_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
static inline int32_t dtk_neg_i32(int32_t a) { return (int32_t)(0u - (uint32_t)a); }
static inline int32_t dtk_abs_i32(int32_t a) { return a < 0 ? dtk_neg_i32(a) : a; }
static inline int32_t dtk_relu_i32(int32_t a) { return a < 0 ? 0 : a; }
static inline int32_t dtk_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t dtk_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t dtk_div_i32(int32_t a, int32_t b)
{
    if (b == 0)
        return 0;
    int64_t q = (int64_t)a / b;
    if ((int64_t)a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return dtk_wrap_i32(q);
}

/* a // b and a % b with numpy's floor semantics (runtime/core/rt_divmod.h);
 * i32 by zero gives 0 (dtk_div_i32 is the i32 //). */
RT_DEFINE_DIVMOD(static inline, dtk, float, f32, fmodf, floorf, copysignf)
RT_DEFINE_DIVMOD(static inline, dtk, double, f64, fmod, floor, copysign)
static inline int32_t dtk_mod_i32(int32_t a, int32_t b)
{
    if (b == 0)
        return 0;
    int64_t r = (int64_t)a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return (int32_t)r;
}

#endif
