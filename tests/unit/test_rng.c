/* test_rng.c - runtime/core: Philox4x32-10 against the Random123 known-answer
 * vectors, initialiser values, sharded fills equal to the full fill bit for
 * bit (uneven and empty boxes), narrow-float and i32 conversions (rt_chunk:
 * test_rt_mesh.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/core/rt_core.h"

#include "check_msg.h"

/* Random123 kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> out[4]. */
static void test_kat(void)
{
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        rt_philox4x32_10(kat[i], kat[i] + 4, out);
        for (int j = 0; j < 4; j++)
            CHECK(out[j] == kat[i][6 + j], "vector %d word %d: got %08x want %08x", i, j, out[j],
                  kat[i][6 + j]);
    }
    /* rt_philox: key = seed (low word first), counter = (index lo, index hi, 0, 0). */
    uint32_t a[4], b[4];
    uint64_t seed = 0x299f31d0a4093822ull, index = 0x85a308d3243f6a88ull;
    rt_philox(seed, index, a);
    uint32_t ctr[4] = {0x243f6a88, 0x85a308d3, 0, 0}, key[2] = {0xa4093822, 0x299f31d0};
    rt_philox4x32_10(ctr, key, b);
    CHECK(!memcmp(a, b, sizeof a), "rt_philox does not split seed/index as documented");
    printf("ok: Philox4x32-10 matches the 3 Random123 known-answer vectors; seed/index layout\n");
}

static void test_values(void)
{
    rt_init rn = {RT_INIT_RANDN, 42, 1.0, 0.0, NULL, 0};
    double s = 0, q = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double v = rt_init_value(&rn, (uint64_t)i);
        CHECK(isfinite(v), "randn not finite at %d", i);
        s += v;
        q += v * v;
    }
    double mean = s / n, sd = sqrt(q / n - mean * mean);
    CHECK(fabs(mean) < 0.01 && fabs(sd - 1.0) < 0.01, "randn mean %g std %g", mean, sd);
    /* same (seed, index) -> same value; other seeds differ */
    CHECK(rt_init_value(&rn, 12345) == rt_init_value(&rn, 12345), "randn not deterministic");
    rt_init rn2 = rn;
    rn2.seed = 43;
    CHECK(rt_init_value(&rn, 7) != rt_init_value(&rn2, 7), "seed ignored");
    /* mean / std scaling */
    rt_init rs = {RT_INIT_RANDN, 42, 0.02, 3.0, NULL, 0};
    CHECK(rt_init_value(&rs, 9) == 3.0 + 0.02 * rt_init_value(&rn, 9), "randn std/mean scaling");

    rt_init ru = {RT_INIT_RAND, 7, -2.0, 5.0, NULL, 0};
    double lo = 1e9, hi = -1e9;
    s = 0;
    for (int i = 0; i < n; i++) {
        double v = rt_init_value(&ru, (uint64_t)i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        s += v;
    }
    CHECK(lo >= -2.0 && hi < 5.0 && fabs(s / n - 1.5) < 0.03, "rand range [%g, %g] mean %g", lo, hi,
          s / n);
    rt_init z = {RT_INIT_ZEROS, 0, 0, 0, NULL, 0}, o = {RT_INIT_ONES, 0, 0, 0, NULL, 0};
    rt_init fu = {RT_INIT_FULL, 0, 2.5, 0, NULL, 0}, ar = {RT_INIT_ARANGE, 0, 0, 0, NULL, 0};
    CHECK(rt_init_value(&z, 5) == 0.0 && rt_init_value(&o, 5) == 1.0 &&
              rt_init_value(&fu, 5) == 2.5 && rt_init_value(&ar, 123456789) == 123456789.0,
          "zeros/ones/full/arange");
    printf("ok: randn mean %.4f std %.4f over %d; rand in [%.3f, %.3f); zeros/ones/full/arange\n",
           mean, sd, n, lo, hi);
}

/* Fills a [7, 5, 3] tensor whole, then as boxes cut by rt_chunk along every
 * dim (k0 x k1 x k2 pieces, uneven and empty), and compares bytes. */
static void test_sharded_fill(void)
{
    const int64_t g[3] = {7, 5, 3};
    const rt_dtype dts[] = {RT_F32, RT_F64, RT_I32, RT_F16, RT_BF16};
    const rt_init inits[] = {
        {RT_INIT_RANDN, 1, 0.02, 0.5, NULL, 0}, {RT_INIT_RAND, 2, -1, 1, NULL, 0},
        {RT_INIT_ARANGE, 0, 0, 0, NULL, 0},     {RT_INIT_FULL, 0, 3.25, 0, NULL, 0},
    };
    const int ks[][3] = {{1, 1, 1}, {2, 3, 1}, {4, 2, 2}, {3, 4, 5}, {8, 6, 4}};
    int boxes = 0;
    for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++)
        for (size_t ii = 0; ii < sizeof inits / sizeof inits[0]; ii++) {
            int es = rt_dtype_size(dts[di]);
            unsigned char full[7 * 5 * 3 * 8], piece[7 * 5 * 3 * 8 + 8];
            int64_t zero[3] = {0, 0, 0};
            rt_init_fill(&inits[ii], dts[di], 3, g, zero, g, full);
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
                for (int a = 0; a < ks[ki][0]; a++)
                    for (int b = 0; b < ks[ki][1]; b++)
                        for (int c = 0; c < ks[ki][2]; c++) {
                            int64_t off[3], len[3];
                            rt_chunk(g[0], ks[ki][0], a, &off[0], &len[0]);
                            rt_chunk(g[1], ks[ki][1], b, &off[1], &len[1]);
                            rt_chunk(g[2], ks[ki][2], c, &off[2], &len[2]);
                            memset(piece, 0xab, sizeof piece);
                            rt_init_fill(&inits[ii], dts[di], 3, g, off, len, piece);
                            int64_t p = 0;
                            for (int64_t i = 0; i < len[0]; i++)
                                for (int64_t j = 0; j < len[1]; j++)
                                    for (int64_t l = 0; l < len[2]; l++, p++) {
                                        int64_t gi = ((off[0] + i) * g[1] + off[1] + j) * g[2] + off[2] + l;
                                        CHECK(!memcmp(piece + p * es, full + gi * es, (size_t)es),
                                              "dtype %s init %zu box (%d,%d,%d) elem %lld",
                                              rt_dtype_name(dts[di]), ii, a, b, c, (long long)p);
                                    }
                            /* nothing written past the box */
                            CHECK(piece[p * es] == 0xab, "fill wrote past the box");
                            boxes++;
                        }
        }
    /* A scalar and a 1-d fill. */
    float sc;
    rt_init ar = {RT_INIT_ARANGE, 0, 0, 0, NULL, 0};
    rt_init_fill(&ar, RT_F32, 0, NULL, NULL, NULL, &sc);
    CHECK(sc == 0.0f, "scalar arange");
    printf("ok: %d sharded boxes (uneven and empty, 5 dtypes, 4 initialisers) equal the full fill "
           "bit for bit\n",
           boxes);
}

static void test_conversions(void)
{
    CHECK(rt_f16_from_double(1.0) == 0x3c00, "f16 1.0");
    CHECK(rt_f16_from_double(0.1) == 0x2e66, "f16 0.1");
    CHECK(rt_f16_from_double(65504.0) == 0x7bff, "f16 max");
    CHECK(rt_f16_from_double(65519.99) == 0x7bff, "f16 below overflow threshold");
    CHECK(rt_f16_from_double(65520.0) == 0x7c00, "f16 overflow -> inf");
    CHECK(rt_f16_from_double(-INFINITY) == 0xfc00, "f16 -inf");
    CHECK((rt_f16_from_double(NAN) & 0x7fff) > 0x7c00, "f16 nan");
    CHECK(rt_f16_from_double(ldexp(1, -24)) == 0x0001, "f16 smallest subnormal");
    CHECK(rt_f16_from_double(ldexp(1, -25)) == 0x0000, "f16 tie to even -> 0");
    CHECK(rt_f16_from_double(ldexp(3, -25)) == 0x0002, "f16 subnormal tie to even up");
    CHECK(rt_f16_from_double(1.0 + ldexp(1, -11)) == 0x3c00, "f16 tie to even (down)");
    CHECK(rt_f16_from_double(1.0 + ldexp(3, -11)) == 0x3c02, "f16 tie to even (up)");
    CHECK(rt_f16_from_double(-0.0) == 0x8000, "f16 -0");
    CHECK(rt_bf16_from_double(1.0) == 0x3f80, "bf16 1.0");
    CHECK(rt_bf16_from_double(3.14159265358979) == 0x4049, "bf16 pi");
    CHECK(rt_bf16_from_double(1e39) == 0x7f80, "bf16 overflow");
    int rt = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t x = (uint16_t)h;
        double v = rt_f16_to_double(x);
        if (!isnan(v) && rt_f16_from_double(v) != x)
            rt++;
        v = rt_bf16_to_double(x);
        if (!isnan(v) && rt_bf16_from_double(v) != x)
            rt++;
    }
    CHECK(rt == 0, "%d f16/bf16 patterns do not round-trip", rt);
    CHECK(rt_i32_from_double(2.7) == 2 && rt_i32_from_double(-2.7) == -2, "i32 truncation");
    CHECK(rt_i32_from_double(NAN) == INT32_MIN && rt_i32_from_double(3e9) == INT32_MIN &&
              rt_i32_from_double(2147483647.0) == INT32_MAX &&
              rt_i32_from_double(-2147483648.9) == INT32_MIN,
          "i32 out of range");
    float f[3] = {1.5f, -2.5f, 1e10f};
    int32_t i[3];
    rt_convert(RT_I32, i, RT_F32, f, 3);
    CHECK(i[0] == 1 && i[1] == -2 && i[2] == INT32_MIN, "rt_convert f32->i32");
    double sum, l2;
    float c[4] = {1, 2, 2, -1};
    rt_checksum(RT_F32, 4, c, &sum, &l2);
    CHECK(sum == 4.0 && fabs(l2 - sqrt(10.0)) < 1e-15, "checksum");
    printf("ok: f16/bf16 rounding (ties, subnormals, overflow), all 65536 patterns round-trip; "
           "i32 truncation; checksum\n");
}

/* rt_step_seed: the seed itself at step 0; otherwise words 0 and 1 of
 * Philox of counter (step, 0, "step", 0) under the seed, so steps do not
 * repeat and do not run into a neighbouring seed. */
static void test_step_seed(void)
{
    CHECK(rt_step_seed(42, 0) == 42, "step 0 keeps the seed");
    uint32_t w[4], key[2] = {42, 0}, ctr[4] = {3, 0, 0x73746570u, 0};
    rt_philox4x32_10(ctr, key, w);
    CHECK(rt_step_seed(42, 3) == ((uint64_t)w[0] | (uint64_t)w[1] << 32), "step 3 is Philox of (3, 0, step, 0)");
    int clash = 0;
    for (int64_t s = 1; s < 1000; s++) {
        uint64_t k = rt_step_seed(42, s);
        if (k == rt_step_seed(42, s - 1) || k < 1000 || k == rt_step_seed(43, s))
            clash++;
    }
    CHECK(clash == 0, "%d step seeds repeat or fall among small seeds", clash);
    printf("ok: rt_step_seed\n");
}

int main(void)
{
    test_kat();
    test_step_seed();
    test_values();
    test_sharded_fill();
    test_conversions();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all rng checks passed\n");
    return 0;
}
