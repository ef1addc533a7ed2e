/* rt_rng.c - the initialisers: Philox4x32-10 and the element values of
 * randn / rand / zeros / ones / full / arange.
 *
 * Determinism: an element's value depends only on (init, global flat index).
 * Philox is integer arithmetic; the conversion to doubles uses exact scalings
 * by powers of two, and randn uses only sqrt, log and cos in double, so the
 * value is the same on every rank, for every placement and every number of
 * ranks, and on every platform whose libm gives the same log and cos (glibc
 * on x86-64 and aarch64 does).
 */
#include "runtime/core/rt_core.h"

#include <math.h>
#include <string.h>

/* Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC'11). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

void rt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) { /* the key schedule bumps before rounds 2..10 */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void rt_philox(uint64_t seed, uint64_t index, uint32_t out[4])
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), 0, 0};
    rt_philox4x32_10(ctr, key, out);
}

uint64_t rt_step_seed(uint64_t seed, int64_t step)
{
    if (step == 0)
        return seed;
    uint32_t w[4];
    /* the counter's high words mark the stream apart from the data's (0, 0) */
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)step, (uint32_t)((uint64_t)step >> 32), 0x73746570u /* "step" */, 0};
    rt_philox4x32_10(ctr, key, w);
    return (uint64_t)w[0] | (uint64_t)w[1] << 32;
}

/* 2^-32: u * 2^-32 is exact in double for any 33-bit integer u. */
#define TWO_M32 (1.0 / 4294967296.0)
#define TWO_PI 6.283185307179586476925286766559

double rt_init_value(const rt_init *init, uint64_t index)
{
    uint32_t w[4];
    switch (init->kind) {
    case RT_INIT_RANDN: {
        /* Box-Muller on u1, u2 in (0, 1]: log(u1) is finite. */
        rt_philox(init->seed, index, w);
        double u1 = ((double)w[0] + 1.0) * TWO_M32;
        double u2 = ((double)w[1] + 1.0) * TWO_M32;
        double z = sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
        return init->b + init->a * z;
    }
    case RT_INIT_RAND: {
        /* u in [0, 1), so the double lies in [lo, hi); rounding to f32 may
         * still give hi for u within 2^-25 of 1. */
        rt_philox(init->seed, index, w);
        double u = (double)w[0] * TWO_M32;
        return init->a + (init->b - init->a) * u;
    }
    case RT_INIT_ZEROS:
        return 0.0;
    case RT_INIT_ONES:
        return 1.0;
    case RT_INIT_FULL:
        return init->a;
    case RT_INIT_ARANGE:
        return (double)index;
    case RT_INIT_NONE:
    case RT_INIT_LOAD:
        break;
    }
    return 0.0; /* not an element-wise initialiser: callers do not ask */
}

static void store(rt_dtype dt, void *out, int64_t i, double v)
{
    switch (dt) {
    case RT_F32:
        ((float *)out)[i] = (float)v;
        break;
    case RT_F64:
        ((double *)out)[i] = v;
        break;
    case RT_I32:
        ((int32_t *)out)[i] = rt_i32_from_double(v);
        break;
    case RT_F16:
        ((uint16_t *)out)[i] = rt_f16_from_double(v);
        break;
    case RT_BF16:
        ((uint16_t *)out)[i] = rt_bf16_from_double(v);
        break;
    }
}

void rt_init_fill(const rt_init *init, rt_dtype dt, int rank, const int64_t *gdims,
                  const int64_t *off, const int64_t *len, void *out)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= len[d];
    if (n == 0)
        return;
    /* Walk the box row-major with an odometer over all dims but the last;
     * the last dim is contiguous in both the box and the global tensor. */
    int64_t gstride[RT_MAX_RANK], idx[RT_MAX_RANK];
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        gstride[d] = s;
        s *= gdims[d];
        idx[d] = 0;
    }
    int64_t inner = rank > 0 ? len[rank - 1] : 1;
    int64_t pos = 0;
    for (;;) {
        int64_t g = 0;
        for (int d = 0; d < rank; d++)
            g += (off[d] + idx[d]) * gstride[d];
        for (int64_t j = 0; j < inner; j++)
            store(dt, out, pos++, rt_init_value(init, (uint64_t)(g + j)));
        int d = rank - 2;
        while (d >= 0 && ++idx[d] == len[d])
            idx[d--] = 0;
        if (d < 0)
            break;
    }
}
