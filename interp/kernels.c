/* kernels.c - one function per op family, with the global (NumPy) semantics
 * of ir/ops.def on whatever shapes the operands have.  The caller sets the
 * result's dtype and shape (the global type, or on a rank the local type);
 * each kernel checks that the operands agree with it and fills the data.
 *
 * Numerics: floats compute in double and round once to the result dtype;
 * i32 computes in int64 and wraps to 32 bits (numpy int32).
 *
 * Adding an op: an elementwise op is one row of ir/ops_ew.def (its F64 and
 * I64 columns are what k_elementwise computes); a reduction one case in
 * reduce; anything else one case in interp_kernel.
 */
#include "interp/interp_internal.h"
#include "ir/ew.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int interp_kernel_fail(KernelCtx *k, const char *fmt, ...)
{
    int n = snprintf(k->err, k->errlen, "%s: ", ir_op_name(k->in->op));
    if (n < 0 || (size_t)n >= k->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->err + n, k->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *tstr(const Tensor *t, char *buf, size_t n)
{
    IrType ty = interp_tensor_type(t);
    return ir_type_str(&ty, buf, n);
}

static double ld(const Tensor *t, int64_t i) { return rt_load_double((rt_dtype)t->dtype, t->data, i); }
static void st(Tensor *t, int64_t i, double v) { rt_store_double((rt_dtype)t->dtype, t->data, i, v); }

/* Wraps to int32 the way numpy int32 arithmetic does (modulo 2^32). */
static int32_t wrap32(int64_t v)
{
    uint32_t u = (uint32_t)v;
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) + INT32_MIN;
}

void interp_row_major_strides(int rank, const int64_t *dims, int64_t *stride)
{
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = s;
        s *= dims[d];
    }
}

static int norm_axis(int64_t ax, int rank, int *out)
{
    if (ax < 0)
        ax += rank;
    if (ax < 0 || ax >= rank)
        return -1;
    *out = (int)ax;
    return 0;
}

/* NaN-propagating max / min (numpy.max / numpy.min). */
static double fmax_nan(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
static double fmin_nan(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }

/* Broadcast iteration: the offsets of up to three operands while walking the
 * result row-major. */
#define BC_MAX_OPS 3
typedef struct Bcast {
    int rank, nops;
    int64_t dims[IR_MAX_RANK];
    int64_t st[BC_MAX_OPS][IR_MAX_RANK];
    int64_t idx[IR_MAX_RANK];
    int64_t off[BC_MAX_OPS];
} Bcast;

static void bc_next(Bcast *b)
{
    for (int d = b->rank - 1; d >= 0; d--) {
        b->idx[d]++;
        for (int j = 0; j < b->nops; j++)
            b->off[j] += b->st[j][d];
        if (b->idx[d] < b->dims[d])
            return;
        for (int j = 0; j < b->nops; j++)
            b->off[j] -= b->st[j][d] * b->dims[d];
        b->idx[d] = 0;
    }
}

/* NumPy broadcasting of the operands to k->out's shape, which must be exactly
 * their broadcast shape. */
static int bc_setup(KernelCtx *k, Bcast *b)
{
    const Tensor *o = k->out;
    memset(b, 0, sizeof *b);
    b->rank = o->rank;
    b->nops = k->in->nargs;
    for (int d = 0; d < o->rank; d++)
        b->dims[d] = o->dims[d];
    int64_t want[IR_MAX_RANK];
    int wrank = 0;
    for (int j = 0; j < b->nops; j++)
        if (k->args[j].rank > wrank)
            wrank = k->args[j].rank;
    for (int d = 0; d < wrank; d++)
        want[d] = 1;
    for (int j = 0; j < b->nops; j++) {
        const Tensor *a = &k->args[j];
        for (int d = 0; d < a->rank; d++) {
            int64_t *w = &want[wrank - a->rank + d];
            if (*w == 1)
                *w = a->dims[d];
            else if (a->dims[d] != 1 && a->dims[d] != *w)
                goto bad;
        }
    }
    if (wrank != o->rank)
        goto bad;
    for (int d = 0; d < o->rank; d++)
        if (want[d] != o->dims[d])
            goto bad;
    for (int j = 0; j < b->nops; j++) {
        const Tensor *a = &k->args[j];
        int64_t stride[IR_MAX_RANK];
        interp_row_major_strides(a->rank, a->dims, stride);
        for (int d = 0; d < a->rank; d++)
            b->st[j][o->rank - a->rank + d] = a->dims[d] == 1 ? 0 : stride[d];
    }
    return 0;
bad:;
    char s0[96], s1[96] = "", s2[96];
    return interp_kernel_fail(k, "operands %s%s%s do not broadcast to %s", tstr(&k->args[0], s0, sizeof s0),
                 b->nops > 1 ? " and " : "", b->nops > 1 ? tstr(&k->args[1], s1, sizeof s1) : "",
                 tstr(o, s2, sizeof s2));
}

/* The elementwise family: the table's reference semantics (ir/ew.h) per
 * element; i32 operands exactly when the op has an integer form, else in
 * double rounded once to the result dtype.  cast is the identity here (the
 * store converts). */
static int k_elementwise(KernelCtx *k)
{
    const IrInst *in = k->in;
    Tensor *o = k->out;
    int nops = in->nargs;
    if (nops < 1 || nops > BC_MAX_OPS)
        return interp_kernel_fail(k, "expected 1 to %d operands, got %d", BC_MAX_OPS, nops);
    bool cast = in->op == OP_CAST;
    if (!cast && !ir_ew_info(in->op))
        return interp_kernel_fail(k, "not implemented by the interpreter");
    Bcast b;
    if (bc_setup(k, &b) != 0)
        return -1;
    int64_t n = interp_numel(o);
    bool ints = o->dtype == DT_I32 && (cast || ir_ew_has_int(in->op));
    for (int j = 0; j < nops; j++)
        ints = ints && k->args[j].dtype == DT_I32;
    if (ints) {
        const int32_t *x[BC_MAX_OPS] = {NULL, NULL, NULL};
        for (int j = 0; j < nops; j++)
            x[j] = k->args[j].data;
        int32_t *r = o->data;
        for (int64_t i = 0; i < n; i++, bc_next(&b)) {
            int64_t v[BC_MAX_OPS] = {0, 0, 0};
            for (int j = 0; j < nops; j++)
                v[j] = x[j][b.off[j]];
            r[i] = wrap32(cast ? v[0] : ir_ew_eval_i(in->op, v[0], v[1], v[2]));
        }
        return 0;
    }
    for (int64_t i = 0; i < n; i++, bc_next(&b)) {
        double v[BC_MAX_OPS] = {0, 0, 0};
        for (int j = 0; j < nops; j++)
            v[j] = ld(&k->args[j], b.off[j]);
        st(o, i, cast ? v[0] : ir_ew_eval(in->op, v[0], v[1], v[2], in->a.f));
    }
    return 0;
}

/* iota: the global index along dim `dim`; row_off is the global offset of
 * this piece along it (0 in the global run). */
static int k_iota(KernelCtx *k)
{
    Tensor *o = k->out;
    int d = k->in->a.dim;
    if (d < 0 || d >= o->rank)
        return interp_kernel_fail(k, "axis %d out of range for rank %d", d, o->rank);
    int64_t stride[IR_MAX_RANK];
    interp_row_major_strides(o->rank, o->dims, stride);
    int64_t n = interp_numel(o);
    for (int64_t i = 0; i < n; i++)
        st(o, i, (double)(k->row_off + (i / stride[d]) % o->dims[d]));
    return 0;
}

static int k_const(KernelCtx *k)
{
    int64_t n = interp_numel(k->out);
    for (int64_t i = 0; i < n; i++)
        st(k->out, i, k->in->a.f);
    return 0;
}

/* ---- reductions ---------------------------------------------------------------- */

static int k_reduce(KernelCtx *k)
{
    const IrInst *in = k->in;
    const Tensor *x = &k->args[0];
    Tensor *o = k->out;
    /* The IR lists the reduced axes explicitly (sema expands the default
     * "all axes"); none listed reduces nothing, as numpy's axis=(). */
    bool red[IR_MAX_RANK] = {false};
    for (int i = 0; i < in->a.nints; i++) {
        int ax;
        if (norm_axis(in->a.ints[i], x->rank, &ax) != 0)
            return interp_kernel_fail(k, "axis %lld out of range for rank %d", (long long)in->a.ints[i], x->rank);
        red[ax] = true;
    }
    /* The result shape: kept dims, and 1 for reduced ones with keepdims. */
    int64_t want[IR_MAX_RANK], cnt = 1;
    int wrank = 0;
    for (int d = 0; d < x->rank; d++) {
        if (!red[d])
            want[wrank++] = x->dims[d];
        else {
            cnt *= x->dims[d];
            if (in->a.keepdims)
                want[wrank++] = 1;
        }
    }
    bool ok = wrank == o->rank;
    for (int d = 0; ok && d < wrank; d++)
        ok = want[d] == o->dims[d];
    if (!ok) {
        char s0[96], s1[96];
        return interp_kernel_fail(k, "reducing %s cannot give %s", tstr(x, s0, sizeof s0), tstr(o, s1, sizeof s1));
    }
    int64_t on = interp_numel(o), xn = interp_numel(x);
    if (cnt == 0 && on > 0 && k->global && (in->op == OP_MAX || in->op == OP_MIN))
        return interp_kernel_fail(k, "zero-size reduction has no identity");

    /* ostride[d]: the output step for input dim d (0 when reduced). */
    int64_t ostride[IR_MAX_RANK], s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        ostride[d] = red[d] ? 0 : s;
        if (!red[d])
            s *= x->dims[d];
    }
    bool ints = o->dtype == DT_I32 && x->dtype == DT_I32 && in->op != OP_MEAN;
    double init = in->op == OP_MAX ? -INFINITY : in->op == OP_MIN ? INFINITY : 0.0;
    double *acc = malloc(sizeof *acc * (size_t)(on ? on : 1));
    int64_t *iacc = malloc(sizeof *iacc * (size_t)(on ? on : 1));
    if (!acc || !iacc) {
        free(acc);
        free(iacc);
        return interp_kernel_fail(k, "out of memory");
    }
    int64_t iinit = in->op == OP_MAX ? INT32_MIN : in->op == OP_MIN ? INT32_MAX : 0;
    for (int64_t i = 0; i < on; i++) {
        acc[i] = init;
        iacc[i] = iinit;
    }
    int64_t idx[IR_MAX_RANK] = {0}, oo = 0;
    for (int64_t i = 0; i < xn; i++) {
        if (ints) {
            int64_t v = ((const int32_t *)x->data)[i];
            int64_t *a = &iacc[oo];
            if (in->op == OP_SUM)
                *a = (int64_t)((uint64_t)*a + (uint64_t)v);
            else if (in->op == OP_MAX)
                *a = v > *a ? v : *a;
            else if (in->op == OP_MIN)
                *a = v < *a ? v : *a;
        } else {
            double v = ld(x, i);
            double *a = &acc[oo];
            if (in->op == OP_SUM || in->op == OP_MEAN)
                *a += v;
            else if (in->op == OP_MAX)
                *a = fmax_nan(*a, v);
            else if (in->op == OP_MIN)
                *a = fmin_nan(*a, v);
        }
        for (int d = x->rank - 1; d >= 0; d--) {
            oo += ostride[d];
            if (++idx[d] < x->dims[d])
                break;
            oo -= ostride[d] * x->dims[d];
            idx[d] = 0;
        }
    }
    int rc = 0;
    if (in->op != OP_SUM && in->op != OP_MEAN && in->op != OP_MAX && in->op != OP_MIN)
        rc = interp_kernel_fail(k, "not implemented by the interpreter");
    for (int64_t i = 0; rc == 0 && i < on; i++) {
        if (ints)
            ((int32_t *)o->data)[i] = wrap32(iacc[i]);
        else
            st(o, i, in->op == OP_MEAN ? acc[i] / (double)cnt : acc[i]);
    }
    free(acc);
    free(iacc);
    return rc;
}

/* ---- softmax, norms ------------------------------------------------------------- */

static int same_shape(const Tensor *a, const Tensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return 1;
}

static int k_softmax(KernelCtx *k)
{
    const Tensor *x = &k->args[0];
    Tensor *o = k->out;
    if (!same_shape(x, o)) {
        char s0[96], s1[96];
        return interp_kernel_fail(k, "operand %s but result %s", tstr(x, s0, sizeof s0), tstr(o, s1, sizeof s1));
    }
    if (x->rank == 0)
        return interp_kernel_fail(k, "needs at least one dimension");
    int ax;
    int64_t a0 = k->in->a.nints ? k->in->a.ints[0] : -1;
    if (norm_axis(a0, x->rank, &ax) != 0)
        return interp_kernel_fail(k, "axis %lld out of range for rank %d", (long long)a0, x->rank);
    int64_t outer = 1, len = x->dims[ax], inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= x->dims[d];
    for (int d = ax + 1; d < x->rank; d++)
        inner *= x->dims[d];
    bool lg = k->in->op == OP_LOG_SOFTMAX;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            int64_t base = p * len * inner + q;
            double m = -INFINITY, s = 0.0;
            for (int64_t i = 0; i < len; i++)
                m = fmax_nan(m, ld(x, base + i * inner));
            for (int64_t i = 0; i < len; i++)
                s += exp(ld(x, base + i * inner) - m);
            double ls = log(s);
            for (int64_t i = 0; i < len; i++) {
                double v = ld(x, base + i * inner) - m;
                st(o, base + i * inner, lg ? v - ls : exp(v) / s);
            }
        }
    return 0;
}

static int k_norm(KernelCtx *k)
{
    const Tensor *x = &k->args[0];
    Tensor *o = k->out;
    bool ln = k->in->op == OP_LAYERNORM;
    int want = ln ? 3 : 2;
    if (k->in->nargs != want)
        return interp_kernel_fail(k, "expected %d operands, got %d", want, k->in->nargs);
    if (!same_shape(x, o) || x->rank == 0) {
        char s0[96], s1[96];
        return interp_kernel_fail(k, "operand %s but result %s", tstr(x, s0, sizeof s0), tstr(o, s1, sizeof s1));
    }
    int64_t D = x->dims[x->rank - 1];
    for (int j = 1; j < want; j++)
        if (interp_numel(&k->args[j]) != D) {
            char s0[96], s1[96];
            return interp_kernel_fail(k, "%s %s does not match the last axis of %s", j == 1 ? "gamma" : "beta",
                         tstr(&k->args[j], s0, sizeof s0), tstr(x, s1, sizeof s1));
        }
    if (D == 0)
        return 0;
    int64_t rows = interp_numel(x) / D;
    double eps = k->in->a.f;
    const Tensor *g = &k->args[1], *b = ln ? &k->args[2] : NULL;
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = r * D;
        if (ln) {
            double mean = 0.0, var = 0.0;
            for (int64_t i = 0; i < D; i++)
                mean += ld(x, base + i);
            mean /= (double)D;
            for (int64_t i = 0; i < D; i++) {
                double c = ld(x, base + i) - mean;
                var += c * c;
            }
            var /= (double)D;
            double inv = 1.0 / sqrt(var + eps);
            for (int64_t i = 0; i < D; i++)
                st(o, base + i, (ld(x, base + i) - mean) * inv * ld(g, i) + ld(b, i));
        } else {
            double ms = 0.0;
            for (int64_t i = 0; i < D; i++) {
                double v = ld(x, base + i);
                ms += v * v;
            }
            ms /= (double)D;
            double inv = 1.0 / sqrt(ms + eps);
            for (int64_t i = 0; i < D; i++)
                st(o, base + i, ld(x, base + i) * inv * ld(g, i));
        }
    }
    return 0;
}

/* ---- shape ------------------------------------------------------------------------ */

static int k_transpose(KernelCtx *k)
{
    const Tensor *x = &k->args[0];
    Tensor *o = k->out;
    const IrAttrs *a = &k->in->a;
    if (a->nints != x->rank || o->rank != x->rank)
        return interp_kernel_fail(k, "permutation of %d axes for a rank-%d operand", a->nints, x->rank);
    bool seen[IR_MAX_RANK] = {false};
    int perm[IR_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        int p;
        if (norm_axis(a->ints[d], x->rank, &p) != 0 || seen[p])
            return interp_kernel_fail(k, "invalid permutation");
        seen[p] = true;
        perm[d] = p;
        if (o->dims[d] != x->dims[p]) {
            char s0[96], s1[96];
            return interp_kernel_fail(k, "transposing %s cannot give %s", tstr(x, s0, sizeof s0),
                         tstr(o, s1, sizeof s1));
        }
    }
    if (o->dtype != x->dtype)
        return interp_kernel_fail(k, "dtype changes");
    int64_t xs[IR_MAX_RANK], ps[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
    interp_row_major_strides(x->rank, x->dims, xs);
    for (int d = 0; d < x->rank; d++)
        ps[d] = xs[perm[d]];
    int64_t n = interp_numel(o), off = 0;
    size_t es = (size_t)ir_dtype_size(o->dtype);
    char *dst = o->data;
    const char *src = x->data;
    for (int64_t i = 0; i < n; i++) {
        memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
        for (int d = o->rank - 1; d >= 0; d--) {
            off += ps[d];
            if (++idx[d] < o->dims[d])
                break;
            off -= ps[d] * o->dims[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* Reshape, and the identity of layout ops on global values: same elements,
 * the result's shape. */
static int k_copy(KernelCtx *k)
{
    const Tensor *x = &k->args[0];
    if (interp_numel(x) != interp_numel(k->out) || x->dtype != k->out->dtype) {
        char s0[96], s1[96];
        return interp_kernel_fail(k, "%s cannot become %s", tstr(x, s0, sizeof s0), tstr(k->out, s1, sizeof s1));
    }
    if (k->in->op != OP_RESHAPE && k->in->op != OP_LOCAL_VIEW && !same_shape(x, k->out)) {
        char s0[96], s1[96];
        return interp_kernel_fail(k, "%s cannot become %s", tstr(x, s0, sizeof s0), tstr(k->out, s1, sizeof s1));
    }
    size_t nb = interp_nbytes(x);
    if (nb)
        memcpy(k->out->data, x->data, nb);
    return 0;
}

/* ---- matmul -------------------------------------------------------------------------- */

/* acc[0..N) += a * b[0..N): restrict lets the compiler vectorise. */
static void axpy(int64_t N, double a, const double *restrict b, double *restrict acc)
{
    for (int64_t j = 0; j < N; j++)
        acc[j] += a * b[j];
}

/* attention (ir/attention.c): per batch and query row, the scores against
 * every key (a hidden one: the causal mask's value), softmax, weighted sum of
 * v's rows; in double. */
static int k_attention(KernelCtx *k)
{
    const Tensor *Q = &k->args[0], *K = &k->args[1], *V = &k->args[2];
    Tensor *o = k->out;
    int r = Q->rank;
    if (r < 2 || K->rank != r || V->rank != r || o->rank != r)
        return interp_kernel_fail(k, "operands of unequal rank");
    int64_t tq = Q->dims[r - 2], d = Q->dims[r - 1], tk = K->dims[r - 2], dv = V->dims[r - 1], nb = 1;
    if (K->dims[r - 1] != d || V->dims[r - 2] != tk || o->dims[r - 2] != tq || o->dims[r - 1] != dv)
        return interp_kernel_fail(k, "operand shapes do not fit");
    for (int x = 0; x < r - 2; x++)
        nb *= Q->dims[x];
    double scale = k->in->a.f, hidden = ir_attention_masked(Q->dtype);
    bool causal = k->in->a.keepdims;
    double *p = malloc(sizeof *p * (size_t)(tk ? tk : 1));
    if (!p)
        return interp_kernel_fail(k, "out of memory");
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < tq; i++) {
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j < tk; j++) {
                double s = 0;
                for (int64_t c = 0; c < d; c++)
                    s += ld(Q, (b * tq + i) * d + c) * ld(K, (b * tk + j) * d + c);
                p[j] = causal && j > i ? hidden : s * scale;
                m = fmax_nan(m, p[j]);
            }
            for (int64_t j = 0; j < tk; j++)
                sum += (p[j] = exp(p[j] - m));
            for (int64_t c = 0; c < dv; c++) {
                double acc = 0;
                for (int64_t j = 0; j < tk; j++)
                    acc += p[j] * ld(V, (b * tk + j) * dv + c);
                st(o, (b * tq + i) * dv + c, acc / sum);
            }
        }
    free(p);
    return 0;
}

static int k_matmul(KernelCtx *k)
{
    const Tensor *A = &k->args[0], *B = &k->args[1];
    Tensor *o = k->out;
    char s0[96], s1[96], s2[96];
    if (A->rank < 2 || B->rank < 2)
        return interp_kernel_fail(k, "operands must have rank >= 2, got %s and %s", tstr(A, s0, sizeof s0),
                     tstr(B, s1, sizeof s1));
    int ra = A->rank, rb = B->rank, ro = o->rank;
    int64_t M = A->dims[ra - 2], K = A->dims[ra - 1], N = B->dims[rb - 1];
    bool ok = B->dims[rb - 2] == K && ro == (ra > rb ? ra : rb) && o->dims[ro - 2] == M &&
              o->dims[ro - 1] == N;
    /* Batch dims broadcast like elementwise operands. */
    int nb = ro - 2;
    int64_t as[IR_MAX_RANK] = {0}, bs[IR_MAX_RANK] = {0};
    int64_t amat = M * K, bmat = K * N;
    for (int d = 0; ok && d < nb; d++) {
        int da = d - (nb - (ra - 2)), db = d - (nb - (rb - 2));
        int64_t sa = da >= 0 ? A->dims[da] : 1, sb = db >= 0 ? B->dims[db] : 1;
        int64_t want = sa == 1 ? sb : sa;
        ok = (sa == sb || sa == 1 || sb == 1) && o->dims[d] == want;
        int64_t stride = amat;
        for (int e = da + 1; e >= 0 && e < ra - 2; e++)
            stride *= A->dims[e];
        as[d] = sa == 1 ? 0 : stride;
        stride = bmat;
        for (int e = db + 1; e >= 0 && e < rb - 2; e++)
            stride *= B->dims[e];
        bs[d] = sb == 1 ? 0 : stride;
    }
    if (!ok)
        return interp_kernel_fail(k, "%s @ %s cannot give %s", tstr(A, s0, sizeof s0), tstr(B, s1, sizeof s1),
                     tstr(o, s2, sizeof s2));
    int64_t an = interp_numel(A), bn = interp_numel(B), batches = 1;
    for (int d = 0; d < nb; d++)
        batches *= o->dims[d];
    bool ints = o->dtype == DT_I32;
    /* Operands as doubles (ints: as int64 bit patterns in a uint64 array). */
    double *ad = malloc(sizeof *ad * (size_t)(an ? an : 1));
    double *bd = malloc(sizeof *bd * (size_t)(bn ? bn : 1));
    double *acc = malloc(sizeof *acc * (size_t)(N ? N : 1));
    uint64_t *iacc = malloc(sizeof *iacc * (size_t)(N ? N : 1));
    if (!ad || !bd || !acc || !iacc) {
        free(ad), free(bd), free(acc), free(iacc);
        return interp_kernel_fail(k, "out of memory");
    }
    for (int64_t i = 0; i < an; i++)
        ad[i] = ld(A, i);
    for (int64_t i = 0; i < bn; i++)
        bd[i] = ld(B, i);
    int64_t idx[IR_MAX_RANK] = {0}, ao = 0, bo = 0;
    for (int64_t t = 0; t < batches; t++) {
        const double *a = ad + ao, *b = bd + bo;
        for (int64_t i = 0; i < M; i++) {
            int64_t orow = (t * M + i) * N;
            if (ints) {
                /* i-k-j in wrapping integer arithmetic (numpy int32 matmul) */
                for (int64_t j = 0; j < N; j++)
                    iacc[j] = 0;
                for (int64_t kk = 0; kk < K; kk++) {
                    uint64_t x = (uint64_t)(int64_t)a[i * K + kk];
                    for (int64_t j = 0; j < N; j++)
                        iacc[j] += x * (uint64_t)(int64_t)b[kk * N + j];
                }
                for (int64_t j = 0; j < N; j++)
                    ((int32_t *)o->data)[orow + j] = wrap32((int64_t)(uint32_t)iacc[j]);
            } else {
                for (int64_t j = 0; j < N; j++)
                    acc[j] = 0.0;
                for (int64_t kk = 0; kk < K; kk++)
                    axpy(N, a[i * K + kk], b + kk * N, acc);
                for (int64_t j = 0; j < N; j++)
                    st(o, orow + j, acc[j]);
            }
        }
        for (int d = nb - 1; d >= 0; d--) {
            ao += as[d];
            bo += bs[d];
            if (++idx[d] < o->dims[d])
                break;
            ao -= as[d] * o->dims[d];
            bo -= bs[d] * o->dims[d];
            idx[d] = 0;
        }
    }
    free(ad), free(bd), free(acc), free(iacc);
    return 0;
}

/* ---- lookup ---------------------------------------------------------------------------- */

static int k_embedding(KernelCtx *k)
{
    const Tensor *tab = &k->args[0], *ids = &k->args[1];
    Tensor *o = k->out;
    char s0[96], s1[96], s2[96];
    bool ok = tab->rank == 2 && ids->dtype == DT_I32 && o->rank == ids->rank + 1 &&
              o->dims[o->rank - 1] == tab->dims[1] && o->dtype == tab->dtype;
    for (int d = 0; ok && d < ids->rank; d++)
        ok = o->dims[d] == ids->dims[d];
    if (!ok)
        return interp_kernel_fail(k, "table %s and ids %s cannot give %s", tstr(tab, s0, sizeof s0),
                     tstr(ids, s1, sizeof s1), tstr(o, s2, sizeof s2));
    int64_t n = interp_numel(ids), V = tab->dims[0], D = tab->dims[1];
    size_t es = (size_t)ir_dtype_size(o->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = ((const int32_t *)ids->data)[i];
        if (id < 0 || id >= k->nrows)
            return interp_kernel_fail(k, "id %lld at position %lld is out of range [0, %lld)", (long long)id,
                         (long long)i, (long long)k->nrows);
        int64_t r = id - k->row_off;
        if (r < 0 || r >= V) /* another rank holds the row: this partial is 0 */
            continue;
        memcpy((char *)o->data + (size_t)(i * D) * es, (const char *)tab->data + (size_t)(r * D) * es,
               (size_t)D * es);
    }
    return 0;
}

static int k_cross_entropy(KernelCtx *k)
{
    const Tensor *lg = &k->args[0], *lb = &k->args[1];
    char s0[96], s1[96];
    if (lg->rank != 2 || lb->rank != 1 || lb->dims[0] != lg->dims[0] || lb->dtype != DT_I32 ||
        interp_numel(k->out) != 1)
        return interp_kernel_fail(k, "logits %s and labels %s: expected [N, V] and i32[N]",
                     tstr(lg, s0, sizeof s0), tstr(lb, s1, sizeof s1));
    int64_t N = lg->dims[0], V = lg->dims[1];
    double total = 0.0;
    for (int64_t r = 0; r < N; r++) {
        int64_t lab = ((const int32_t *)lb->data)[r];
        if (lab < 0 || lab >= V)
            return interp_kernel_fail(k, "label %lld at row %lld is out of range [0, %lld)", (long long)lab,
                         (long long)r, (long long)V);
        double m = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < V; j++)
            m = fmax_nan(m, ld(lg, r * V + j));
        for (int64_t j = 0; j < V; j++)
            s += exp(ld(lg, r * V + j) - m);
        total += m + log(s) - ld(lg, r * V + lab);
    }
    st(k->out, 0, total / (double)N); /* N == 0: NaN, like numpy's mean */
    return 0;
}

/* pick (partition.c's cross_entropy pieces): out[n] = logits[n, labels[n]]
 * with the label taken relative to the logits' first local column (row_off)
 * out of nrows global columns; a label another rank holds gives 0. */
static int k_pick(KernelCtx *k)
{
    const Tensor *lg = &k->args[0], *lb = &k->args[1];
    Tensor *o = k->out;
    char s0[96], s1[96];
    if (lg->rank != 2 || lb->rank != 1 || lb->dims[0] != lg->dims[0] || lb->dtype != DT_I32 ||
        o->rank != 1 || o->dims[0] != lg->dims[0])
        return interp_kernel_fail(k, "logits %s and labels %s: expected [N, V] and i32[N]",
                     tstr(lg, s0, sizeof s0), tstr(lb, s1, sizeof s1));
    int64_t N = lg->dims[0], V = lg->dims[1];
    for (int64_t r = 0; r < N; r++) {
        int64_t lab = ((const int32_t *)lb->data)[r];
        if (lab < 0 || lab >= k->nrows)
            return interp_kernel_fail(k, "label %lld at row %lld is out of range [0, %lld)", (long long)lab,
                         (long long)r, (long long)k->nrows);
        int64_t c = lab - k->row_off;
        st(o, r, c >= 0 && c < V ? ld(lg, r * V + c) : 0.0);
    }
    return 0;
}

/* ---- dispatch ---------------------------------------------------------------------- */

bool interp_is_layout_op(IrOp op)
{
    return op == OP_REDISTRIBUTE || (ir_op_flags(op) & (OPF_COMM | OPF_LOCAL));
}

int interp_kernel(KernelCtx *k)
{
    IrOp op = k->in->op;
    int want = ir_op_nargs(op);
    if (want >= 0 && k->in->nargs != want)
        return interp_kernel_fail(k, "expected %d operands, got %d", want, k->in->nargs);
    if (interp_is_layout_op(op)) /* global values do not change */
        return k_copy(k);
    unsigned fl = ir_op_flags(op);
    if (fl & OPF_EW)
        return k_elementwise(k);
    if (fl & OPF_REDUCE)
        return k_reduce(k);
    if (ir_op_is_route(op))
        return interp_route_kernel(k);
    switch (op) {
    case OP_CONST:
        return k_const(k);
    case OP_IOTA:
        return k_iota(k);
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX:
        return k_softmax(k);
    case OP_LAYERNORM:
    case OP_RMSNORM:
        return k_norm(k);
    case OP_TRANSPOSE:
        return k_transpose(k);
    case OP_RESHAPE:
    case OP_LOCAL_VIEW: /* a local fn's relabelled value (ir/local.c): the same local data */
        return k_copy(k);
    case OP_SLICE:
    case OP_CONCAT:
    case OP_PAD:
    case OP_BROADCAST_TO:
        return interp_shape_kernel(k);
    case OP_MATMUL:
        return k_matmul(k);
    case OP_ATTENTION:
        return k_attention(k);
    case OP_EMBEDDING:
        return k_embedding(k);
    case OP_CROSS_ENTROPY:
        return k_cross_entropy(k);
    case OP_PICK: /* partition.c's cross_entropy pieces */
        return k_pick(k);
    case OP_CALL:
        return interp_kernel_fail(k, "call to %s must be inlined before interpretation",
                     k->in->a.callee ? k->in->a.callee : "?");
    default:
        return interp_kernel_fail(k, "not implemented by the interpreter");
    }
}
