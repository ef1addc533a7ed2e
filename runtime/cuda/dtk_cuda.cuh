/* dtk_cuda.cuh - device code that generated CUDA programs include: the
 * scalar helpers their fused loop kernels use, warp and block reductions,
 * and the kernel templates for the ops that are not loops (softmax,
 * layernorm, rmsnorm, embedding, pick, cross_entropy).  The GPU
 * counterpart of runtime/dtrt_kernels.h, with the same semantics.
 *
 * Numerics: f32 math in float with CUDA's accurate libm (no fast-math),
 * f64 in double, i32 wrapping like numpy int32 with floor division; f16
 * and bf16 are storage types: loaded into float, every op's result
 * rounded back to the narrow type (as numpy computes them), stored narrow.
 * Row statistics (softmax, norms, cross_entropy) accumulate in float for
 * f32 / f16 / bf16 and double for f64, combined by tree reductions;
 * fused-loop reductions accumulate in double as the CPU target does.
 *
 * Data checks (ids, labels out of range) record the first failure in an
 * rt_cuda_error slot and carry on with zeros; the host turns it into the
 * run's error after the stream is done (rt_cuda_end).
 *
 * Block sizes are multiples of 32 and at most 1024 (every template says so
 * with __launch_bounds__, which caps its registers); the row kernels take
 * one block per row.
 */
#ifndef DTK_CUDA_CUH
#define DTK_CUDA_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "runtime/cuda/rt_cuda.h"
#include "runtime/core/rt_divmod.h"

/* ---- scalar helpers ---------------------------------------------------------------- */

__device__ __forceinline__ float dk_sigmoid_f32(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ double dk_sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
__device__ __forceinline__ float dk_silu_f32(float x) { return x / (1.0f + expf(-x)); }
__device__ __forceinline__ double dk_silu_f64(double x) { return x / (1.0 + exp(-x)); }
/* tanh approximation; sqrt(2/pi) */
__device__ __forceinline__ float dk_gelu_f32(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.797884560802865f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ double dk_gelu_f64(double x)
{
    return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
__device__ __forceinline__ float dk_relu_f32(float x) { return x < 0.0f ? 0.0f : x; }
__device__ __forceinline__ double dk_relu_f64(double x) { return x < 0.0 ? 0.0 : x; }
/* numpy.maximum / numpy.minimum: NaN wins */
__device__ __forceinline__ float dk_max_f32(float a, float b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
__device__ __forceinline__ float dk_min_f32(float a, float b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }
__device__ __forceinline__ double dk_max_f64(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
__device__ __forceinline__ double dk_min_f64(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }

/* i32: numpy int32 semantics (wrapping; floor division, x // 0 = 0) */
__device__ __forceinline__ int32_t dk_wrap_i32(long long v) { return (int32_t)(uint32_t)(unsigned long long)v; }
__device__ __forceinline__ int32_t dk_add_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
__device__ __forceinline__ int32_t dk_sub_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
__device__ __forceinline__ int32_t dk_mul_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
__device__ __forceinline__ int32_t dk_neg_i32(int32_t a) { return (int32_t)(0u - (uint32_t)a); }
__device__ __forceinline__ int32_t dk_abs_i32(int32_t a) { return a < 0 ? dk_neg_i32(a) : a; }
__device__ __forceinline__ int32_t dk_relu_i32(int32_t a) { return a < 0 ? 0 : a; }
__device__ __forceinline__ int32_t dk_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
__device__ __forceinline__ int32_t dk_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
__device__ __forceinline__ int32_t dk_div_i32(int32_t a, int32_t b)
{
    if (b == 0)
        return 0;
    long long q = (long long)a / b;
    if ((long long)a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return dk_wrap_i32(q);
}
/* a // b and a % b with numpy's floor semantics (runtime/core/rt_divmod.h);
 * i32 by zero gives 0 (dk_div_i32 is the i32 //). */
RT_DEFINE_DIVMOD(__device__ __forceinline__, dk, float, f32, fmodf, floorf, copysignf)
RT_DEFINE_DIVMOD(__device__ __forceinline__, dk, double, f64, fmod, floor, copysign)
__device__ __forceinline__ int32_t dk_mod_i32(int32_t a, int32_t b)
{
    if (b == 0)
        return 0;
    long long r = (long long)a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return (int32_t)r;
}

/* numpy astype(int32): truncation; NaN and out of range give INT32_MIN */
__device__ __forceinline__ int32_t dk_i32_from_double(double v)
{
    if (!(v > -2147483649.0 && v < 2147483648.0))
        return INT32_MIN;
    return (int32_t)v;
}

/* f16 / bf16 values live in float registers, rounded to the narrow type */
__device__ __forceinline__ float dk_rh(float x) { return __half2float(__float2half_rn(x)); }
__device__ __forceinline__ float dk_rb(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
__device__ __forceinline__ float dk_rh(double x) { return __half2float(__double2half(x)); }
__device__ __forceinline__ float dk_rb(double x) { return __bfloat162float(__double2bfloat16(x)); }

/* Storage <-> compute type. */
__device__ __forceinline__ float dk_ld(float x) { return x; }
__device__ __forceinline__ double dk_ld(double x) { return x; }
__device__ __forceinline__ int32_t dk_ld(int32_t x) { return x; }
__device__ __forceinline__ float dk_ld(__half x) { return __half2float(x); }
__device__ __forceinline__ float dk_ld(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> __device__ __forceinline__ T dk_st(float x);
template <class T> __device__ __forceinline__ T dk_st(double x);
template <> __device__ __forceinline__ float dk_st<float>(float x) { return x; }
template <> __device__ __forceinline__ float dk_st<float>(double x) { return (float)x; }
template <> __device__ __forceinline__ double dk_st<double>(double x) { return x; }
template <> __device__ __forceinline__ double dk_st<double>(float x) { return x; }
template <> __device__ __forceinline__ __half dk_st<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __half dk_st<__half>(double x) { return __double2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 dk_st<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 dk_st<__nv_bfloat16>(double x) { return __double2bfloat16(x); }

/* Accumulation type of row statistics. */
template <class T> struct DkAcc { typedef float type; };
template <> struct DkAcc<double> { typedef double type; };

/* ---- reductions ------------------------------------------------------------------- */

struct DkSum {
    template <class A> __device__ __forceinline__ A operator()(A a, A b) const { return a + b; }
};
struct DkMax {
    __device__ __forceinline__ float operator()(float a, float b) const { return dk_max_f32(a, b); }
    __device__ __forceinline__ double operator()(double a, double b) const { return dk_max_f64(a, b); }
    __device__ __forceinline__ int32_t operator()(int32_t a, int32_t b) const { return dk_max_i32(a, b); }
};
struct DkMin {
    __device__ __forceinline__ float operator()(float a, float b) const { return dk_min_f32(a, b); }
    __device__ __forceinline__ double operator()(double a, double b) const { return dk_min_f64(a, b); }
    __device__ __forceinline__ int32_t operator()(int32_t a, int32_t b) const { return dk_min_i32(a, b); }
};

/* Every lane of the warp gets op over the 32 lanes' v. */
template <class A, class Op>
__device__ __forceinline__ A dk_warp_reduce(A v, Op op)
{
    for (int o = 16; o > 0; o >>= 1)
        v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Every thread of the block gets op over the block's v (blockDim.x a
 * multiple of 32; every thread must call it). */
template <class A, class Op>
__device__ __forceinline__ A dk_block_reduce(A v, Op op, A identity)
{
    __shared__ A sh[33];
    v = dk_warp_reduce(v, op);
    if (blockDim.x <= 32)
        return v;
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    if (w == 0) {
        A x = lane < nw ? sh[lane] : identity;
        x = dk_warp_reduce(x, op);
        if (lane == 0)
            sh[32] = x;
    }
    __syncthreads();
    A r = sh[32];
    __syncthreads(); /* sh may be reused by the next call */
    return r;
}

/* Records the first failed data check of the run. */
__device__ __forceinline__ void dk_report(rt_cuda_error *e, int check, long long pos,
                                          long long value, long long bound)
{
    if (atomicCAS(&e->flag, 0, 1) == 0) {
        e->check = check;
        e->pos = pos;
        e->value = value;
        e->bound = bound;
    }
}

/* ---- softmax / log_softmax ------------------------------------------------------------- */

/* Rows of len contiguous elements (inner == 1): one block per row. */
template <class T, int LOG>
__global__ void __launch_bounds__(1024) dk_softmax_rows(const T *__restrict__ x, T *__restrict__ y, int64_t rows,
                                int64_t len)
{
    typedef typename DkAcc<T>::type A;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * len;
        T *yr = y + r * len;
        A m = -INFINITY;
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
            m = DkMax()(m, (A)dk_ld(xr[i]));
        m = dk_block_reduce(m, DkMax(), (A)-INFINITY);
        A s = 0;
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
            s += exp((A)dk_ld(xr[i]) - m);
        s = dk_block_reduce(s, DkSum(), (A)0);
        A ls = log(s);
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
            A v = (A)dk_ld(xr[i]) - m;
            yr[i] = dk_st<T>(LOG ? v - ls : exp(v) / s);
        }
    }
}

/* [outer, len, inner] with inner > 1: one thread per (outer, inner) column,
 * neighbouring threads on neighbouring elements. */
template <class T, int LOG>
__global__ void __launch_bounds__(1024) dk_softmax_cols(const T *__restrict__ x, T *__restrict__ y, int64_t outer,
                                int64_t len, int64_t inner)
{
    typedef typename DkAcc<T>::type A;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * inner;
         t += (int64_t)gridDim.x * blockDim.x) {
        int64_t base = t / inner * len * inner + t % inner;
        A m = -INFINITY, s = 0;
        for (int64_t i = 0; i < len; i++)
            m = DkMax()(m, (A)dk_ld(x[base + i * inner]));
        for (int64_t i = 0; i < len; i++)
            s += exp((A)dk_ld(x[base + i * inner]) - m);
        A ls = log(s);
        for (int64_t i = 0; i < len; i++) {
            A v = (A)dk_ld(x[base + i * inner]) - m;
            y[base + i * inner] = dk_st<T>(LOG ? v - ls : exp(v) / s);
        }
    }
}

/* ---- norms ------------------------------------------------------------------------------- */

/* y = (x - mean) / sqrt(var + eps) * gamma + beta over rows of D: one block per row. */
template <class T>
__global__ void __launch_bounds__(1024) dk_layernorm(const T *__restrict__ x, const T *__restrict__ gamma,
                             const T *__restrict__ beta, T *__restrict__ y, int64_t rows,
                             int64_t D, double eps)
{
    typedef typename DkAcc<T>::type A;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * D;
        T *yr = y + r * D;
        A s = 0;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
            s += (A)dk_ld(xr[i]);
        A mean = dk_block_reduce(s, DkSum(), (A)0) / (A)D;
        A q = 0;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            A c = (A)dk_ld(xr[i]) - mean;
            q += c * c;
        }
        A var = dk_block_reduce(q, DkSum(), (A)0) / (A)D;
        A inv = (A)1 / sqrt(var + (A)eps);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
            yr[i] = dk_st<T>(((A)dk_ld(xr[i]) - mean) * inv * (A)dk_ld(gamma[i]) + (A)dk_ld(beta[i]));
    }
}

/* y = x / sqrt(mean(x^2) + eps) * gamma: one block per row. */
template <class T>
__global__ void __launch_bounds__(1024) dk_rmsnorm(const T *__restrict__ x, const T *__restrict__ gamma,
                           T *__restrict__ y, int64_t rows, int64_t D, double eps)
{
    typedef typename DkAcc<T>::type A;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * D;
        T *yr = y + r * D;
        A q = 0;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            A v = (A)dk_ld(xr[i]);
            q += v * v;
        }
        A ms = dk_block_reduce(q, DkSum(), (A)0) / (A)D;
        A inv = (A)1 / sqrt(ms + (A)eps);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
            yr[i] = dk_st<T>((A)dk_ld(xr[i]) * inv * (A)dk_ld(gamma[i]));
    }
}

/* ---- lookups ---------------------------------------------------------------------------------- */

/* out[i, :] = table[ids[i] - row_off, :] when that row is local (of vloc),
 * else zeros (a partial sum); ids must lie in [0, nrows).  One block per id;
 * rows copied as T (any storage type). */
template <class T>
__global__ void __launch_bounds__(1024) dk_embedding(const T *__restrict__ table, int64_t vloc, int64_t D,
                             const int32_t *__restrict__ ids, int64_t n, int64_t row_off,
                             int64_t nrows, T *__restrict__ out, rt_cuda_error *err, int check)
{
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        int64_t id = ids[i];
        bool bad = id < 0 || id >= nrows;
        if (bad && threadIdx.x == 0)
            dk_report(err, check, i, id, nrows);
        int64_t r = id - row_off;
        bool local = !bad && r >= 0 && r < vloc;
        for (int64_t j = threadIdx.x; j < D; j += blockDim.x)
            out[i * D + j] = local ? table[r * D + j] : T(0);
    }
}

/* out[r] = logits[r, labels[r] - col_off] when that column is local (of
 * vloc), else 0; labels must lie in [0, ncols).  One thread per row. */
template <class T>
__global__ void __launch_bounds__(1024) dk_pick(const T *__restrict__ logits, int64_t N, int64_t vloc,
                        const int32_t *__restrict__ labels, int64_t col_off, int64_t ncols,
                        T *__restrict__ out, rt_cuda_error *err, int check)
{
    for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < N;
         r += (int64_t)gridDim.x * blockDim.x) {
        int64_t lab = labels[r];
        if (lab < 0 || lab >= ncols)
            dk_report(err, check, r, lab, ncols);
        int64_t c = lab - col_off;
        out[r] = lab >= 0 && lab < ncols && c >= 0 && c < vloc ? logits[r * vloc + c] : T(0);
    }
}

/* cross_entropy, step 1: loss[r] = logsumexp(logits[r]) - logits[r, labels[r]]
 * in double, one block per row. */
template <class T>
__global__ void __launch_bounds__(1024) dk_xent_rows(const T *__restrict__ logits, int64_t N, int64_t V,
                             const int32_t *__restrict__ labels, double *__restrict__ loss,
                             rt_cuda_error *err, int check)
{
    typedef typename DkAcc<T>::type A;
    for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
        const T *xr = logits + r * V;
        int64_t lab = labels[r];
        bool bad = lab < 0 || lab >= V;
        if (bad && threadIdx.x == 0)
            dk_report(err, check, r, lab, V);
        A m = -INFINITY;
        for (int64_t j = threadIdx.x; j < V; j += blockDim.x)
            m = DkMax()(m, (A)dk_ld(xr[j]));
        m = dk_block_reduce(m, DkMax(), (A)-INFINITY);
        A s = 0;
        for (int64_t j = threadIdx.x; j < V; j += blockDim.x)
            s += exp((A)dk_ld(xr[j]) - m);
        s = dk_block_reduce(s, DkSum(), (A)0);
        if (threadIdx.x == 0)
            loss[r] = (double)m + log((double)s) - (bad ? 0.0 : (double)dk_ld(xr[lab]));
    }
}

/* cross_entropy, step 2: out[0] = mean of the N row losses (one block;
 * N == 0 gives NaN, like numpy's mean). */
template <class T>
__global__ void __launch_bounds__(1024) dk_xent_mean(const double *__restrict__ loss, int64_t N, T *__restrict__ out)
{
    double s = 0;
    for (int64_t r = threadIdx.x; r < N; r += blockDim.x)
        s += loss[r];
    s = dk_block_reduce(s, DkSum(), 0.0);
    if (threadIdx.x == 0)
        out[0] = dk_st<T>(s / (double)N);
}

#endif
