/* rt_util.c - dtypes, element conversions (including the narrow floats
 * f16 / bf16, rounded to nearest even without depending on the FPU's
 * rounding mode), result checksums, the error-message helper and the
 * growable text the runtime's JSON writers share. */
#include "runtime/core/rt_core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dtype_names[] = {"f32", "f64", "i32", "f16", "bf16"};
static const int dtype_sizes[] = {4, 8, 4, 2, 2};

int rt_dtype_size(rt_dtype t) { return (unsigned)t <= RT_BF16 ? dtype_sizes[t] : 0; }
const char *rt_dtype_name(rt_dtype t) { return (unsigned)t <= RT_BF16 ? dtype_names[t] : "?"; }

/* ---- conversions ----------------------------------------------------------- */

int32_t rt_i32_from_double(double v)
{
    /* numpy's astype(int32) truncates toward zero; NaN and out-of-range
     * values give INT32_MIN, as numpy does on x86-64. */
    if (!(v > -2147483649.0 && v < 2147483648.0))
        return INT32_MIN;
    return (int32_t)v;
}

/* Rounds x to a binary float with `ebits` exponent and `mbits` mantissa bits
 * (round to nearest, ties to even) and returns its bit pattern. */
static uint16_t narrow_float(double x, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    uint32_t sign = signbit(x) ? 1u << (ebits + mbits) : 0;
    uint32_t expmask = ((1u << ebits) - 1) << mbits;
    if (isnan(x))
        return (uint16_t)(sign | expmask | (1u << (mbits - 1)));
    double a = fabs(x);
    if (isinf(a))
        return (uint16_t)(sign | expmask);
    if (a == 0.0)
        return (uint16_t)sign;
    int e;
    frexp(a, &e); /* a = f * 2^e, f in [0.5, 1) */
    int E = e - 1;
    if (E < 1 - bias)
        E = 1 - bias; /* subnormal: fixed scale */
    double q = ldexp(a, mbits - E); /* exact: a power-of-two scaling */
    double fl = floor(q), frac = q - fl;
    uint64_t mant = (uint64_t)fl;
    if (frac > 0.5 || (frac == 0.5 && (mant & 1)))
        mant++;
    if (mant >= (1u << (mbits + 1))) { /* rounded up to the next binade */
        mant >>= 1;
        E++;
    }
    if (mant < (1u << mbits)) /* subnormal (or rounded to zero) */
        return (uint16_t)(sign | mant);
    if (E > bias)
        return (uint16_t)(sign | expmask); /* overflow: infinity */
    return (uint16_t)(sign | ((uint32_t)(E + bias) << mbits) | (uint32_t)(mant - (1u << mbits)));
}

static double widen_float(uint16_t h, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    uint32_t bits = h;
    int sign = (bits >> (ebits + mbits)) & 1;
    uint32_t ex = (bits >> mbits) & ((1u << ebits) - 1);
    uint32_t mant = bits & ((1u << mbits) - 1);
    double v;
    if (ex == 0)
        v = ldexp((double)mant, 1 - bias - mbits);
    else if (ex == (1u << ebits) - 1)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp((double)(mant | (1u << mbits)), (int)ex - bias - mbits);
    return sign ? -v : v;
}

uint16_t rt_f16_from_double(double v) { return narrow_float(v, 5, 10); }
double rt_f16_to_double(uint16_t h) { return widen_float(h, 5, 10); }
uint16_t rt_bf16_from_double(double v) { return narrow_float(v, 8, 7); }
double rt_bf16_to_double(uint16_t h) { return widen_float(h, 8, 7); }

double rt_load_double(rt_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case RT_F32:
        return ((const float *)p)[i];
    case RT_F64:
        return ((const double *)p)[i];
    case RT_I32:
        return ((const int32_t *)p)[i];
    case RT_F16:
        return rt_f16_to_double(((const uint16_t *)p)[i]);
    case RT_BF16:
        return rt_bf16_to_double(((const uint16_t *)p)[i]);
    }
    return 0.0;
}

void rt_store_double(rt_dtype dt, void *p, int64_t i, double v)
{
    switch (dt) {
    case RT_F32:
        ((float *)p)[i] = (float)v;
        break;
    case RT_F64:
        ((double *)p)[i] = v;
        break;
    case RT_I32:
        ((int32_t *)p)[i] = rt_i32_from_double(v);
        break;
    case RT_F16:
        ((uint16_t *)p)[i] = rt_f16_from_double(v);
        break;
    case RT_BF16:
        ((uint16_t *)p)[i] = rt_bf16_from_double(v);
        break;
    }
}

void rt_convert(rt_dtype to, void *dst, rt_dtype from, const void *src, int64_t n)
{
    if (to == from) {
        if (n > 0)
            memmove(dst, src, (size_t)n * (size_t)rt_dtype_size(to));
        return;
    }
    /* Every dtype converts exactly to double, so one rounding happens. */
    for (int64_t i = 0; i < n; i++)
        rt_store_double(to, dst, i, rt_load_double(from, src, i));
}

void rt_checksum(rt_dtype dt, int64_t n, const void *data, double *sum, double *l2)
{
    double s = 0.0, q = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = rt_load_double(dt, data, i);
        s += v;
        q += v * v;
    }
    *sum = s;
    *l2 = sqrt(q);
}

int rt_errorf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void rt_text_put(rt_text *b, const char *fmt, ...)
{
    for (;;) {
        if (b->oom)
            return;
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)k)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

void rt_text_put_json_str(rt_text *b, const char *s)
{
    rt_text_put(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rt_text_put(b, "\\%c", c);
        else if (c < 0x20)
            rt_text_put(b, "\\u%04x", c);
        else
            rt_text_put(b, "%c", c);
    }
    rt_text_put(b, "\"");
}

void rt_format_step(char *buf, size_t n, int64_t step, int64_t last, int nvals, const char *const *names,
                    const double *vals, double rate)
{
    size_t k = (size_t)snprintf(buf, n, "step %lld/%lld", (long long)step, (long long)last);
    for (int j = 0; j < nvals && k < n; j++)
        k += (size_t)snprintf(buf + k, n - k, "  %s %.4g", names[j], vals[j]);
    if (k < n)
        snprintf(buf + k, n - k, "  (%.1f steps/s)", rate);
}
