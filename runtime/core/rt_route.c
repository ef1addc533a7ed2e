/* rt_route.c - the lookup / routing kernels (rt_core.h: rt_route), written
 * once for the reference interpreter and every compiled CPU program.
 * Elements go through double (rt_load_double / rt_store_double: exact for
 * f32, f64 and i32), so one loop serves every dtype; i32 sums are kept in
 * int64 and wrapped like numpy int32.
 */
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/core/rt_core.h"

static int rfail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int rfail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int32_t wrap32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

/* Does (a at index ia) beat (b) for argmax (sign 1) / argmin (sign -1)?
 * A NaN beats every number; between equals the earlier index stays. */
static bool beats(double a, double b, int sign)
{
    if (isnan(b))
        return false;
    if (isnan(a))
        return true;
    return sign > 0 ? a > b : a < b;
}

static int arg_best(const rt_route_args *a, int sign, char *err, size_t errlen)
{
    if (a->len == 0 && a->outer * a->inner > 0)
        return rfail(err, errlen, "attempt to get %s of an empty sequence", sign > 0 ? "argmax" : "argmin");
    int32_t *out = a->out;
    for (int64_t o = 0; o < a->outer; o++)
        for (int64_t i = 0; i < a->inner; i++) {
            int64_t base = o * a->len * a->inner + i, best = 0;
            double bv = rt_load_double(a->dt, a->in0, base);
            for (int64_t j = 1; j < a->len; j++) {
                double v = rt_load_double(a->dt, a->in0, base + j * a->inner);
                if (beats(v, bv, sign)) {
                    bv = v;
                    best = j;
                }
            }
            out[o * a->inner + i] = (int32_t)best;
        }
    return 0;
}

static void one_hot(const rt_route_args *a)
{
    const int32_t *ids = a->in0;
    for (int64_t o = 0; o < a->outer; o++) {
        int64_t c = (int64_t)ids[o] - a->off;
        for (int64_t j = 0; j < a->len; j++)
            rt_store_double(a->odt, a->out, o * a->len + j, j == c ? 1.0 : 0.0);
    }
}

static void cumsum(const rt_route_args *a)
{
    for (int64_t o = 0; o < a->outer; o++)
        for (int64_t i = 0; i < a->inner; i++) {
            int64_t base = o * a->len * a->inner + i;
            double s = 0.0;
            int64_t si = 0;
            for (int64_t j = 0; j < a->len; j++) {
                int64_t at = base + j * a->inner;
                if (a->dt == RT_I32) {
                    si += ((const int32_t *)a->in0)[at];
                    ((int32_t *)a->out)[at] = wrap32(si);
                } else {
                    s += rt_load_double(a->dt, a->in0, at);
                    rt_store_double(a->dt, a->out, at, s);
                }
            }
        }
}

static int take_along(const rt_route_args *a, char *err, size_t errlen)
{
    const int32_t *idx = a->in1;
    for (int64_t o = 0; o < a->outer; o++)
        for (int64_t j = 0; j < a->len2; j++)
            for (int64_t i = 0; i < a->inner; i++) {
                int64_t at = (o * a->len2 + j) * a->inner + i, k = idx[at];
                if (k < -a->len || k >= a->len)
                    return rfail(err, errlen, "index %lld is out of bounds for an axis of size %lld",
                                 (long long)k, (long long)a->len);
                if (k < 0)
                    k += a->len;
                rt_store_double(a->dt, a->out, at,
                                rt_load_double(a->dt, a->in0, (o * a->len + k) * a->inner + i));
            }
    return 0;
}

static int topk(const rt_route_args *a, char *err, size_t errlen)
{
    int64_t k = a->len2;
    if (k > a->len)
        return rfail(err, errlen, "k = %lld is larger than the axis (%lld)", (long long)k, (long long)a->len);
    if (k == 0 || a->outer * a->inner == 0)
        return 0;
    double *bv = malloc(sizeof *bv * (size_t)k);
    int64_t *bi = malloc(sizeof *bi * (size_t)k);
    if (!bv || !bi) {
        free(bv);
        free(bi);
        return rfail(err, errlen, "out of memory");
    }
    int32_t *out = a->out;
    for (int64_t o = 0; o < a->outer; o++)
        for (int64_t i = 0; i < a->inner; i++) {
            int64_t base = o * a->len * a->inner + i, n = 0;
            for (int64_t j = 0; j < a->len; j++) {
                double v = rt_load_double(a->dt, a->in0, base + j * a->inner);
                if (n == k && !beats(v, bv[k - 1], 1))
                    continue;
                int64_t p = n < k ? n++ : k - 1; /* insert keeping the order: later equals go after */
                while (p > 0 && beats(v, bv[p - 1], 1)) {
                    bv[p] = bv[p - 1];
                    bi[p] = bi[p - 1];
                    p--;
                }
                bv[p] = v;
                bi[p] = j;
            }
            for (int64_t j = 0; j < k; j++)
                out[(o * k + j) * a->inner + i] = (int32_t)bi[j];
        }
    free(bv);
    free(bi);
    return 0;
}

static int scatter_add(const rt_route_args *a, char *err, size_t errlen)
{
    int64_t n = a->outer * a->len * a->inner;
    if (n > 0 && a->out != a->in0)
        memcpy(a->out, a->in0, (size_t)n * (size_t)rt_dtype_size(a->dt));
    const int32_t *idx = a->in1;
    for (int64_t o = 0; o < a->outer; o++)
        for (int64_t j = 0; j < a->len2; j++)
            for (int64_t i = 0; i < a->inner; i++) {
                int64_t at = (o * a->len2 + j) * a->inner + i, k = idx[at];
                if (k < -a->total || k >= a->total)
                    return rfail(err, errlen, "index %lld is out of bounds for an axis of size %lld",
                                 (long long)k, (long long)a->total);
                if (k < 0)
                    k += a->total;
                k -= a->off;
                if (k < 0 || k >= a->len) /* another rank holds that row */
                    continue;
                int64_t t = (o * a->len + k) * a->inner + i;
                if (a->dt == RT_I32)
                    ((int32_t *)a->out)[t] = wrap32((int64_t)((int32_t *)a->out)[t] + ((const int32_t *)a->in2)[at]);
                else
                    rt_store_double(a->dt, a->out, t,
                                    rt_load_double(a->dt, a->out, t) + rt_load_double(a->dt, a->in2, at));
            }
    return 0;
}

/* np.repeat: every entry along the axis len2 times, in place. */
static void repeat(const rt_route_args *a)
{
    size_t es = (size_t)rt_dtype_size(a->dt);
    const char *x = a->in0;
    char *out = a->out;
    for (int64_t o = 0; o < a->outer; o++)
        for (int64_t j = 0; j < a->len * a->len2; j++)
            memcpy(out + (size_t)((o * a->len * a->len2 + j) * a->inner) * es,
                   x + (size_t)((o * a->len + j / a->len2) * a->inner) * es, (size_t)a->inner * es);
}

static const char *const route_names[] = {"argmax", "argmin", "one_hot", "cumsum",
                                           "take_along_axis", "topk", "scatter_add", "repeat"};

int rt_route(const rt_route_args *a, char *err, size_t errlen)
{
    if ((unsigned)a->op < sizeof route_names / sizeof route_names[0]) {
        int n = snprintf(err, errlen, "%s: ", route_names[a->op]);
        if (n > 0 && (size_t)n < errlen) {
            err += n;
            errlen -= (size_t)n;
        }
    }
    switch (a->op) {
    case RT_ROUTE_ARGMAX:
        return arg_best(a, 1, err, errlen);
    case RT_ROUTE_ARGMIN:
        return arg_best(a, -1, err, errlen);
    case RT_ROUTE_ONE_HOT:
        one_hot(a);
        return 0;
    case RT_ROUTE_CUMSUM:
        cumsum(a);
        return 0;
    case RT_ROUTE_TAKE_ALONG:
        return take_along(a, err, errlen);
    case RT_ROUTE_TOPK:
        return topk(a, err, errlen);
    case RT_ROUTE_SCATTER_ADD:
        return scatter_add(a, err, errlen);
    case RT_ROUTE_REPEAT:
        repeat(a);
        return 0;
    }
    return rfail(err, errlen, "unknown routing op %d", (int)a->op);
}
