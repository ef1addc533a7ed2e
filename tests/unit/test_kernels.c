/* test_kernels.c - the f32 row kernels of runtime/kernels.c (dtk_softmax,
 * dtk_layernorm, dtk_rmsnorm) against a double reference computed the way
 * the interpreter computes them (interp/kernels.c), on rows of 1, 3, 7, 8,
 * 9, 1000 and 4096 elements (under, at and over the vector width; more
 * than one block) and several rows at once: random rows, rows with a large
 * offset (1e4), rows with -inf entries, a row of -inf only (NaN, as
 * numpy), a row with a NaN (NaN).  Prints the largest error seen per
 * kernel, relative to the row's largest |reference|; fails over 2e-6 (the
 * exec tests allow 1e-5).
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

int main(void)
{
    static const int64_t lens[] = {1, 3, 7, 8, 9, 1000, 4096};
    double worst[4] = {0}; /* softmax, log_softmax, layernorm, rmsnorm */
    static const char *const names[4] = {"softmax", "log_softmax", "layernorm", "rmsnorm"};
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
    for (int k = 0; k < 4; k++)
        printf("%-12s largest error / max|ref| over rows of 1..4096: %.3g\n", names[k], worst[k]);
    (void)mlp;
    printf("%d checks, %d failures\n", nchecks, nfail);
    return nfail != 0;
}
