/* test_rt_comm.c - the threads backend's collectives against values worked
 * out here by hand: every collective, dtype and reduction, uneven and empty
 * member lengths, every group of axes on 1-D, 2x3 and 2x2x2 meshes (and
 * collective_permute with shifts of either sign and multiples of the group); group
 * bookkeeping; bit-identical reductions across ranks and reruns; and that a
 * failing or vanishing rank ends the run with a message instead of a hang.
 */
#include "runtime/dtrt.h"
#include "runtime/core/rt_core.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int failures;
static atomic_long checks;

#define CHECK(c, ...)                                                                             \
    do {                                                                                          \
        atomic_fetch_add(&checks, 1);                                                             \
        if (!(c)) {                                                                               \
            atomic_fetch_add(&failures, 1);                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                  \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
        }                                                                                         \
    } while (0)

/* ---- independent bookkeeping ------------------------------------------------------ */

static int mesh_size(const rt_mesh *m)
{
    int n = 1;
    for (int a = 0; a < m->naxes; a++)
        n *= m->size[a];
    return n;
}

static void coords_of(const rt_mesh *m, int r, int *c)
{
    for (int a = m->naxes - 1; a >= 0; a--) {
        c[a] = r % m->size[a];
        r /= m->size[a];
    }
}

/* World ranks of the group of `rank` over `axes`, in member order (which is
 * increasing world rank: the other coordinates are fixed). */
static int members_of(const rt_mesh *m, unsigned axes, int rank, int *out)
{
    int c[RT_MAX_AXES], d[RT_MAX_AXES], k = 0;
    coords_of(m, rank, c);
    for (int r = 0; r < mesh_size(m); r++) {
        coords_of(m, r, d);
        int same = 1;
        for (int a = 0; a < m->naxes; a++)
            if (!(axes >> a & 1) && c[a] != d[a])
                same = 0;
        if (same)
            out[k++] = r;
    }
    return k;
}

static const rt_dtype dtypes[] = {RT_F32, RT_F64, RT_I32};
static const rt_red reds[] = {RT_RED_SUM, RT_RED_MAX, RT_RED_MIN, RT_RED_AVG};

static void put(rt_dtype dt, void *p, int64_t i, double v)
{
    if (dt == RT_F32)
        ((float *)p)[i] = (float)v;
    else if (dt == RT_F64)
        ((double *)p)[i] = v;
    else
        ((int32_t *)p)[i] = (int32_t)v;
}

static double get(rt_dtype dt, const void *p, int64_t i)
{
    if (dt == RT_F32)
        return ((const float *)p)[i];
    if (dt == RT_F64)
        return ((const double *)p)[i];
    return ((const int32_t *)p)[i];
}

/* Small integers, signs mixed, so max and min depend on the rank. */
static double val(int rank, int64_t i) { return (double)((rank * 37 + i * 11) % 23 - 11); }

/* Reduction of vals[0..k) in the dtype's own arithmetic. */
static double reduce_by_hand(rt_dtype dt, rt_red red, const double *v, int k)
{
    double acc = v[0];
    for (int i = 1; i < k; i++) {
        if (red == RT_RED_MAX)
            acc = v[i] > acc ? v[i] : acc;
        else if (red == RT_RED_MIN)
            acc = v[i] < acc ? v[i] : acc;
        else
            acc += v[i]; /* exact: small integers */
    }
    if (red == RT_RED_AVG) {
        if (dt == RT_F32)
            acc = (float)acc / (float)k;
        else if (dt == RT_F64)
            acc = acc / k;
        else
            acc = (double)((int32_t)acc / k);
    }
    return acc;
}

static void *xcalloc(size_t n) { return calloc(n ? n : 1, 1); }

/* ---- the collectives, per rank ---------------------------------------------------- */

static void test_group(rt_ctx *ctx, unsigned axes)
{
    const rt_mesh *m = rt_ctx_mesh(ctx);
    int mem[64];
    int k = members_of(m, axes, rt_rank(ctx), mem);
    CHECK(rt_group_size(ctx, axes) == k, "group size over 0x%x: %d, expected %d", axes,
          rt_group_size(ctx, axes), k);
    int me = -1;
    for (int i = 0; i < k; i++)
        if (mem[i] == rt_rank(ctx))
            me = i;
    CHECK(rt_group_index(ctx, axes) == me, "member index over 0x%x: %d, expected %d", axes,
          rt_group_index(ctx, axes), me);
}

static void test_all_reduce(rt_ctx *ctx, unsigned axes, rt_dtype dt, rt_red red, int64_t count)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    void *buf = xcalloc((size_t)count * 8);
    for (int64_t i = 0; i < count; i++)
        put(dt, buf, i, val(rt_rank(ctx), i));
    rt_all_reduce(ctx, axes, dt, buf, count, red);
    int bad = 0;
    for (int64_t i = 0; i < count && !bad; i++) {
        double v[64] = {0};
        for (int j = 0; j < k; j++)
            v[j] = val(mem[j], i);
        double want = reduce_by_hand(dt, red, v, k), got = get(dt, buf, i);
        if (got != want) {
            bad = 1;
            CHECK(0, "rank %d all_reduce axes 0x%x %s red %d count %lld: [%lld] = %g, expected %g",
                  rt_rank(ctx), axes, rt_dtype_name(dt), red, (long long)count, (long long)i, got,
                  want);
        }
    }
    CHECK(!bad, "all_reduce");
    free(buf);
}

/* Member m's length along the gathered / scattered dim: uneven, some 0. */
static int64_t len_of(int m, int salt) { return (m * 5 + 2 + salt) % 4; }

static void test_all_gather(rt_ctx *ctx, unsigned axes, rt_dtype dt, int dim)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    int me = rt_group_index(ctx, axes);
    int64_t lens[64], total = 0;
    for (int j = 0; j < k; j++)
        total += lens[j] = len_of(j, dim);
    int64_t ld[3] = {2, 3, 2}, rd[3] = {2, 3, 2};
    ld[dim] = lens[me];
    rd[dim] = total;
    int64_t ln = ld[0] * ld[1] * ld[2], rn = rd[0] * rd[1] * rd[2];
    void *send = xcalloc((size_t)ln * 8), *recv = xcalloc((size_t)rn * 8);
    for (int64_t i = 0; i < ln; i++)
        put(dt, send, i, rt_rank(ctx) * 100 + i);
    rt_all_gather(ctx, axes, dt, send, recv, 3, ld, dim, lens);
    int bad = 0;
    for (int64_t i0 = 0; i0 < rd[0]; i0++)
        for (int64_t i1 = 0; i1 < rd[1]; i1++)
            for (int64_t i2 = 0; i2 < rd[2]; i2++) {
                int64_t idx[3] = {i0, i1, i2}, pos = idx[dim];
                int j = 0;
                while (pos >= lens[j])
                    pos -= lens[j++];
                int64_t sd[3] = {2, 3, 2};
                sd[dim] = lens[j];
                idx[dim] = pos;
                double want = mem[j] * 100 + (idx[0] * sd[1] + idx[1]) * sd[2] + idx[2];
                double got = get(dt, recv, (i0 * rd[1] + i1) * rd[2] + i2);
                if (got != want && !bad++)
                    CHECK(0, "rank %d all_gather axes 0x%x dim %d: [%lld,%lld,%lld] = %g, expected %g",
                          rt_rank(ctx), axes, dim, (long long)i0, (long long)i1, (long long)i2, got,
                          want);
            }
    CHECK(!bad, "all_gather");
    free(send);
    free(recv);
}

static void test_reduce_scatter(rt_ctx *ctx, unsigned axes, rt_dtype dt, rt_red red, int dim)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    int me = rt_group_index(ctx, axes);
    int64_t lens[64], total = 0, at = 0;
    for (int j = 0; j < k; j++) {
        lens[j] = len_of(j, dim + 1);
        if (j < me)
            at += lens[j];
        total += lens[j];
    }
    int64_t sd[3] = {3, 2, 2}, rd[3] = {3, 2, 2};
    sd[dim] = total;
    rd[dim] = lens[me];
    int64_t sn = sd[0] * sd[1] * sd[2], rn = rd[0] * rd[1] * rd[2];
    void *send = xcalloc((size_t)sn * 8), *recv = xcalloc((size_t)rn * 8);
    for (int64_t i = 0; i < sn; i++)
        put(dt, send, i, val(rt_rank(ctx), i));
    rt_reduce_scatter(ctx, axes, dt, send, recv, 3, sd, dim, lens, red);
    int bad = 0;
    for (int64_t i0 = 0; i0 < rd[0]; i0++)
        for (int64_t i1 = 0; i1 < rd[1]; i1++)
            for (int64_t i2 = 0; i2 < rd[2]; i2++) {
                int64_t idx[3] = {i0, i1, i2};
                idx[dim] += at;
                int64_t f = (idx[0] * sd[1] + idx[1]) * sd[2] + idx[2];
                double v[64] = {0};
                for (int j = 0; j < k; j++)
                    v[j] = val(mem[j], f);
                double want = reduce_by_hand(dt, red, v, k);
                double got = get(dt, recv, (i0 * rd[1] + i1) * rd[2] + i2);
                if (got != want && !bad++)
                    CHECK(0, "rank %d reduce_scatter axes 0x%x dim %d red %d: %g, expected %g",
                          rt_rank(ctx), axes, dim, red, got, want);
            }
    CHECK(!bad, "reduce_scatter");
    free(send);
    free(recv);
}

static void test_all_to_all(rt_ctx *ctx, unsigned axes, rt_dtype dt, int s, int c)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    int me = rt_group_index(ctx, axes);
    int64_t sl[64], cl[64], stot = 0, ctot = 0, sat = 0;
    for (int j = 0; j < k; j++) {
        sl[j] = len_of(j, 1);
        cl[j] = len_of(j, 3);
        if (j < me)
            sat += sl[j];
        stot += sl[j];
        ctot += cl[j];
    }
    int64_t sd[3] = {2, 2, 2}, rd[3] = {2, 2, 2};
    sd[s] = stot;
    sd[c] = cl[me];
    rd[s] = sl[me];
    rd[c] = ctot;
    int64_t sn = sd[0] * sd[1] * sd[2], rn = rd[0] * rd[1] * rd[2];
    void *send = xcalloc((size_t)sn * 8), *recv = xcalloc((size_t)rn * 8);
    for (int64_t i = 0; i < sn; i++)
        put(dt, send, i, rt_rank(ctx) * 1000 + i);
    rt_all_to_all(ctx, axes, dt, send, recv, 3, sd, s, sl, c, cl);
    int bad = 0;
    for (int64_t i0 = 0; i0 < rd[0]; i0++)
        for (int64_t i1 = 0; i1 < rd[1]; i1++)
            for (int64_t i2 = 0; i2 < rd[2]; i2++) {
                int64_t idx[3] = {i0, i1, i2}, pos = idx[c];
                int j = 0;
                while (pos >= cl[j])
                    pos -= cl[j++];
                int64_t jd[3] = {2, 2, 2}; /* member j's send dims */
                jd[s] = stot;
                jd[c] = cl[j];
                idx[c] = pos;
                idx[s] += sat;
                double want = mem[j] * 1000 + (idx[0] * jd[1] + idx[1]) * jd[2] + idx[2];
                double got = get(dt, recv, (i0 * rd[1] + i1) * rd[2] + i2);
                if (got != want && !bad++)
                    CHECK(0, "rank %d all_to_all axes 0x%x split %d cat %d: %g, expected %g",
                          rt_rank(ctx), axes, s, c, got, want);
            }
    CHECK(!bad, "all_to_all");
    free(send);
    free(recv);
}

static void test_broadcast(rt_ctx *ctx, unsigned axes, rt_dtype dt)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    double buf[9];
    void *b = buf;
    for (int i = 0; i < 9; i++)
        put(dt, b, i, rt_rank(ctx) * 10 + i);
    rt_broadcast(ctx, axes, dt, b, 9, k - 1);
    int bad = 0;
    for (int i = 0; i < 9; i++)
        if (get(dt, b, i) != mem[k - 1] * 10 + i)
            bad = 1;
    CHECK(!bad, "rank %d broadcast axes 0x%x from member %d", rt_rank(ctx), axes, k - 1);
}

/* Member m receives the buffer of member (m - shift) mod k, for shifts
 * positive, negative, 0 and multiples of the group (a local copy), dest and
 * src from rt_permute_pair; then a permutation that is no shift (members
 * swapped in pairs, the last one of an odd group keeping its own data). */
static void test_collective_permute(rt_ctx *ctx, unsigned axes, rt_dtype dt, int64_t count)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    int me = rt_group_index(ctx, axes);
    static const int64_t shifts[] = {1, -1, 0, 2, 3, -5, 7, 12, -24};
    size_t es = (size_t)rt_dtype_size(dt);
    void *send = xcalloc((size_t)count * es), *recv = xcalloc((size_t)count * es);
    for (int64_t i = 0; i < count; i++)
        put(dt, send, i, val(rt_rank(ctx), i));
    for (size_t s = 0; s < sizeof shifts / sizeof *shifts; s++) {
        memset(recv, 0xff, (size_t)count * es);
        int dest, src;
        CHECK(rt_permute_pair(k, me, &shifts[s], 1, &dest, &src), "rt_permute_pair of shift %lld",
              (long long)shifts[s]);
        rt_collective_permute(ctx, axes, dt, send, recv, count, dest, src);
        int from = mem[(int)(((me - shifts[s]) % k + k) % k)], bad = 0;
        for (int64_t i = 0; i < count; i++)
            if (get(dt, recv, i) != val(from, i))
                bad = 1;
        CHECK(!bad, "rank %d collective_permute axes 0x%x shift %lld count %lld: not rank %d's data",
              rt_rank(ctx), axes, (long long)shifts[s], (long long)count, from);
    }
    int64_t perm[64];
    for (int j = 0; j < k; j++)
        perm[j] = (j ^ 1) < k ? (j ^ 1) : j;
    int dest, src, bad = 0;
    CHECK(rt_permute_pair(k, me, perm, k, &dest, &src), "rt_permute_pair of a pair swap over %d", k);
    memset(recv, 0xff, (size_t)count * es);
    rt_collective_permute(ctx, axes, dt, send, recv, count, dest, src);
    for (int64_t i = 0; i < count; i++)
        if (get(dt, recv, i) != val(mem[perm[me]], i))
            bad = 1;
    CHECK(!bad, "rank %d collective_permute axes 0x%x pair swap: not member %lld's data", rt_rank(ctx), axes,
          (long long)perm[me]);
    free(send);
    free(recv);
}

/* Non-blocking collective_permute as ring attention uses it: two in
 * flight at once under handles 0 and 1 (K and V, opposite directions here),
 * computation between the starts and the waits, the waits in either order,
 * and each round's receive buffer the next round's send buffer (the
 * sender's buffer is reused only after its wait), k + 1 rounds, so every
 * member sees every other member's data and then its neighbour's again.
 * The send buffers are unchanged by the step; a handle past the backends'
 * per-handle slots (40) works the same. */
static void test_collective_permute_async(rt_ctx *ctx, unsigned axes, rt_dtype dt, int64_t count)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    int me = rt_group_index(ctx, axes);
    size_t es = (size_t)rt_dtype_size(dt), nb = (size_t)count * es;
    char *buf[4];
    for (int b = 0; b < 4; b++)
        buf[b] = xcalloc(nb);
    char *ks = buf[0], *kr = buf[1], *vs = buf[2], *vr = buf[3];
    for (int64_t i = 0; i < count; i++) {
        put(dt, ks, i, val(rt_rank(ctx), i));
        put(dt, vs, i, val(rt_rank(ctx), i + 1));
    }
    double sink = 0;
    int bad = 0;
    for (int round = 1; round <= k + 1; round++) {
        memset(kr, 0xff, nb);
        memset(vr, 0xff, nb);
        rt_req hk = round == k ? 40 : 0;
        int kd, ksrc, vd, vsrc;
        const int64_t up = 1, down = -1;
        CHECK(rt_permute_pair(k, me, &up, 1, &kd, &ksrc) && rt_permute_pair(k, me, &down, 1, &vd, &vsrc),
              "rt_permute_pair of shifts 1 and -1 over %d", k);
        rt_collective_permute_start(ctx, hk, axes, dt, ks, kr, count, kd, ksrc);
        rt_collective_permute_start(ctx, 1, axes, dt, vs, vr, count, vd, vsrc);
        for (int i = 0; i < 20000; i++) /* the block computed while both are in flight */
            sink += (double)i * 1e-9;
        if (round % 2) {
            rt_wait(ctx, hk);
            rt_wait(ctx, 1);
        } else {
            rt_wait(ctx, 1);
            rt_wait(ctx, hk);
        }
        int kfrom = mem[((me - round) % k + k) % k], vfrom = mem[(me + round) % k];
        for (int64_t i = 0; i < count; i++)
            if (get(dt, kr, i) != val(kfrom, i) || get(dt, vr, i) != val(vfrom, i + 1))
                bad = 1;
        /* the block just received is the next round's to send */
        char *t = ks;
        ks = kr;
        kr = t;
        t = vs;
        vs = vr;
        vr = t;
    }
    CHECK(!bad && sink > 0, "rank %d collective_permute_start axes 0x%x count %lld: wrong blocks",
          rt_rank(ctx), axes, (long long)count);
    for (int b = 0; b < 4; b++)
        free(buf[b]);
}

/* max / min propagate NaN whichever member holds it. */
static void test_nan(rt_ctx *ctx, unsigned axes, rt_dtype dt, rt_red red)
{
    int mem[64], k = members_of(rt_ctx_mesh(ctx), axes, rt_rank(ctx), mem);
    int r = rt_rank(ctx), last = rt_nranks(ctx) - 1, has1 = 0, haslast = 0;
    for (int j = 0; j < k; j++) {
        has1 |= mem[j] == 1;
        haslast |= mem[j] == last;
    }
    double buf[3];
    put(dt, buf, 0, r == 1 ? NAN : r);
    put(dt, buf, 1, r);
    put(dt, buf, 2, r == last ? NAN : -r);
    rt_all_reduce(ctx, axes, dt, buf, 3, red);
    CHECK(isnan(get(dt, buf, 0)) == has1 && !isnan(get(dt, buf, 1)) &&
              isnan(get(dt, buf, 2)) == haslast,
          "rank %d: NaN through %s over 0x%x: %g %g %g", r, red == RT_RED_MAX ? "max" : "min",
          axes, get(dt, buf, 0), get(dt, buf, 1), get(dt, buf, 2));
}

static int all_collectives(rt_ctx *ctx, void *arg)
{
    (void)arg;
    const rt_mesh *m = rt_ctx_mesh(ctx);
    for (unsigned axes = 0; axes < (1u << m->naxes); axes++) {
        test_group(ctx, axes);
        rt_barrier(ctx, axes);
        for (int t = 0; t < 3; t++) {
            rt_dtype dt = dtypes[t];
            for (int r = 0; r < 4; r++) {
                static const int64_t counts[] = {0, 1, 7, 5000};
                for (int c = 0; c < 4; c++)
                    test_all_reduce(ctx, axes, dt, reds[r], counts[c]);
                for (int dim = 0; dim < 3; dim++)
                    test_reduce_scatter(ctx, axes, dt, reds[r], dim);
            }
            for (int dim = 0; dim < 3; dim++)
                test_all_gather(ctx, axes, dt, dim);
            for (int s = 0; s < 3; s++)
                for (int c = 0; c < 3; c++)
                    if (s != c)
                        test_all_to_all(ctx, axes, dt, s, c);
            test_broadcast(ctx, axes, dt);
            static const int64_t pcounts[] = {0, 1, 7, 5000};
            for (int c = 0; c < 4; c++) {
                test_collective_permute(ctx, axes, dt, pcounts[c]);
                test_collective_permute_async(ctx, axes, dt, pcounts[c]);
            }
            if (dt != RT_I32) {
                test_nan(ctx, axes, dt, RT_RED_MAX);
                test_nan(ctx, axes, dt, RT_RED_MIN);
            }
        }
    }
    return 0;
}

/* ---- local shapes ------------------------------------------------------------------ */

static int local_shapes(rt_ctx *ctx, void *arg)
{
    (void)arg;
    /* mesh [dp=2, tp=2], dim 0 of size 7 split by both: dp gives 4 | 3,
     * then tp splits each: 2 2 | 2 1 (torch.chunk) */
    rt_pl pl[2] = {{RT_PL_S, 0, RT_RED_SUM}, {RT_PL_S, 0, RT_RED_SUM}};
    static const int64_t off[4] = {0, 2, 4, 6}, len[4] = {2, 2, 2, 1};
    int r = rt_rank(ctx);
    int64_t o, l, lens[4];
    rt_local_range(ctx, pl, 0, 7, &o, &l);
    CHECK(o == off[r] && l == len[r], "rank %d: nested split [%lld, +%lld)", r, (long long)o,
          (long long)l);
    rt_member_lens(ctx, 2u, pl, 0, 7, lens);
    CHECK(lens[0] == (r < 2 ? 2 : 2) && lens[1] == (r < 2 ? 2 : 1), "rank %d: tp lens %lld %lld", r,
          (long long)lens[0], (long long)lens[1]);
    rt_member_lens(ctx, 3u, pl, 0, 7, lens);
    CHECK(lens[0] == 2 && lens[1] == 2 && lens[2] == 2 && lens[3] == 1, "rank %d: dp,tp lens", r);
    /* a [5, 3] tensor @ [S(1), P(sum)]: dim 1 over dp: 2 | 1 */
    rt_tensor_desc d = {.name = "t", .dtype = RT_F32, .rank = 2, .dims = {5, 3},
                        .pl = {{RT_PL_S, 1, RT_RED_SUM}, {RT_PL_P, 0, RT_RED_SUM}}};
    int64_t dims[2];
    rt_local_dims(ctx, &d, dims);
    CHECK(dims[0] == 5 && dims[1] == (r < 2 ? 2 : 1), "rank %d: local dims [%lld, %lld]", r,
          (long long)dims[0], (long long)dims[1]);
    /* rt_alloc: aligned and zeroed */
    unsigned char *p = rt_alloc(ctx, 1000);
    int zero = 1;
    for (int i = 0; i < 1000; i++)
        zero &= p[i] == 0;
    CHECK(zero && (uintptr_t)p % 64 == 0, "rt_alloc");
    rt_free(ctx, p);
    rt_alloc(ctx, 10); /* left for the runtime to free */
    return 0;
}

#ifndef RT_TEST_MPI /* the threads backend only */

/* ---- determinism -------------------------------------------------------------------- */

typedef struct det_arg {
    float out[8][1000];
} det_arg;

static int determinism(rt_ctx *ctx, void *arg)
{
    det_arg *d = arg;
    float *b = d->out[rt_rank(ctx)];
    for (int i = 0; i < 1000; i++)
        b[i] = (float)sin(rt_rank(ctx) * 1.3 + i * 0.7) * 1e3f + (float)cos(i * 0.11);
    rt_all_reduce(ctx, 7u, RT_F32, b, 1000, RT_RED_SUM);
    return 0;
}

/* ---- barriers ---------------------------------------------------------------------- */

/* Nobody leaves a barrier before every member of its group has arrived,
 * round after round, on every group of the mesh at once (the futex
 * barrier's generation counting, under more ranks than cores). */
typedef struct bar_arg {
    atomic_int arrived[1 << RT_MAX_AXES][64]; /* [axes][group]: arrivals so far */
} bar_arg;

static int barrier_rounds(rt_ctx *ctx, void *arg)
{
    bar_arg *a = arg;
    const rt_mesh *m = rt_ctx_mesh(ctx);
    int c[RT_MAX_AXES];
    coords_of(m, rt_rank(ctx), c);
    for (int round = 0; round < 300; round++)
        for (unsigned axes = 1; axes < (1u << m->naxes); axes++) {
            int k = rt_group_size(ctx, axes), g = rt_grid_group(m->naxes, m->size, axes, c);
            atomic_fetch_add(&a->arrived[axes][g], 1);
            rt_barrier(ctx, axes);
            int seen = atomic_load(&a->arrived[axes][g]);
            CHECK(seen == (round + 1) * k,
                  "rank %d round %d axes 0x%x: %d arrivals after the barrier, expected %d", rt_rank(ctx),
                  round, axes, seen, (round + 1) * k);
            rt_barrier(ctx, axes);
        }
    return 0;
}

/* Every rank leaves right after a barrier: a rank still waking from it
 * must not take a member that completed it and returned for one that
 * stopped before arriving. */
static int barrier_then_return(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x = (float)rt_rank(ctx);
    rt_all_reduce(ctx, (1u << rt_ctx_mesh(ctx)->naxes) - 1, RT_F32, &x, 1, RT_RED_SUM);
    rt_barrier(ctx, (1u << rt_ctx_mesh(ctx)->naxes) - 1);
    return 0;
}

/* ---- failures ----------------------------------------------------------------------- */

static int fail_rank2(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x = 1;
    if (rt_rank(ctx) == 2)
        rt_fail(ctx, "boom");
    rt_all_reduce(ctx, 3u, RT_F32, &x, 1, RT_RED_SUM);
    return 0;
}

static int leave_rank1(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x = 1;
    if (rt_rank(ctx) == 1)
        return 7;
    rt_site(ctx, "t.dt:4:2"); /* names the collective in the message */
    rt_all_reduce(ctx, 3u, RT_F32, &x, 1, RT_RED_SUM);
    rt_all_reduce(ctx, 3u, RT_F32, &x, 1, RT_RED_SUM);
    return 0;
}

static int all_return_3(rt_ctx *ctx, void *arg)
{
    (void)arg;
    rt_barrier(ctx, 3u);
    return 3;
}

static int bad_gather(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x[4] = {0}, y[8];
    int64_t dims[1] = {2}, lens[2] = {1, 1};
    rt_all_gather(ctx, 2u, RT_F32, x, y, 1, dims, 0, lens);
    return 0;
}

static int slow_rank1(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x = 1;
    if (rt_rank(ctx) == 1) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    rt_site(ctx, "t.dt:9:5");
    rt_all_reduce(ctx, 3u, RT_F32, &x, 1, RT_RED_SUM);
    return 0;
}

/* The other member of this rank's tp group of two: a shift of 1. */
static int other_tp(rt_ctx *ctx) { return 1 - rt_group_index(ctx, 2u); }

/* Non-blocking collective_permute over tp (m22: members 0, 1 of each dp
 * group): rank 1 returns before it starts, so rank 0 waits in vain for its
 * block; or (slow_permute) rank 1 sleeps a second before it starts. */
static int leave_permute(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x = 1, y = 0;
    if (rt_rank(ctx) == 1)
        return 7;
    rt_site(ctx, "t.dt:6:3");
    rt_collective_permute_start(ctx, 0, 2u, RT_F32, &x, &y, 1, other_tp(ctx), other_tp(ctx));
    rt_wait(ctx, 0);
    return 0;
}

static int slow_permute(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x = 1, y = 0;
    if (rt_rank(ctx) == 1) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    rt_site(ctx, "t.dt:7:3");
    rt_collective_permute_start(ctx, 3, 2u, RT_F32, &x, &y, 1, other_tp(ctx), other_tp(ctx));
    rt_wait(ctx, 3);
    return y == 1 ? 0 : 5;
}

/* The two members of a permute disagree on its size. */
static int bad_permute(rt_ctx *ctx, void *arg)
{
    (void)arg;
    float x[2] = {1, 2}, y[2];
    rt_collective_permute_start(ctx, 0, 2u, RT_F32, x, y, rt_rank(ctx) % 2 ? 2 : 1, other_tp(ctx),
                                other_tp(ctx));
    rt_wait(ctx, 0);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void expect_failure(const rt_mesh *m, int (*fn)(rt_ctx *, void *), int want_rc,
                           const char *want_msg, const char *what)
{
    char err[1024] = "";
    double t0 = now();
    int rc = rt_run_threads(m, fn, NULL, err, sizeof err);
    double dt = now() - t0;
    CHECK(rc == want_rc && (!want_msg || strstr(err, want_msg)) && dt < 10,
          "%s: rc %d (expected %d), %.1f s, message '%s' (expected '%s')", what, rc, want_rc, dt,
          err, want_msg ? want_msg : "");
    printf("  %-44s rc %d in %.2f s: %s\n", what, rc, dt, err[0] ? err : "(no message)");
}

#endif

static const rt_mesh meshes[] = {
    {"L", 1, {"x"}, {4}},
    {"M", 2, {"dp", "tp"}, {2, 3}},
    {"C", 3, {"a", "b", "c"}, {2, 2, 2}},
    {"S", 0, {0}, {0}},
    {"Q", 2, {"dp", "tp"}, {2, 2}},
    {"P", 1, {"x"}, {7}},               /* more ranks than cores, odd */
    {"D", 2, {"dp", "tp"}, {3, 4}},     /* 12 ranks, groups of 3 and 4 */
};
enum { NMESHES = sizeof meshes / sizeof *meshes };

#ifdef RT_TEST_MPI

/* Built with -DRT_TEST_MPI (tests/runtime/test_mpi.sh): the same checks of
 * every collective with the MPI backend, under mpirun, on the meshes named
 * on the command line (each must have as many ranks as processes). */
static int rank0;

static int mpi_collectives(rt_ctx *ctx, void *arg)
{
    rank0 = rt_rank(ctx) == 0;
    return all_collectives(ctx, arg);
}

int main(int argc, char **argv)
{
    char err[1024];
    for (int i = 1; i < argc; i++)
        for (size_t k = 0; k < sizeof meshes / sizeof *meshes; k++) {
            if (strcmp(meshes[k].name, argv[i]))
                continue;
            long before = atomic_load(&checks);
            int rc = rt_run_mpi(&meshes[k], mpi_collectives, NULL, err, sizeof err);
            CHECK(rc == 0, "mesh %s: rc %d: %s", meshes[k].name, rc, err);
            if (!strcmp(argv[i], "Q")) {
                rc = rt_run_mpi(&meshes[k], local_shapes, NULL, err, sizeof err);
                CHECK(rc == 0, "local shapes: rc %d: %s", rc, err);
            }
            if (rank0)
                printf("MPI mesh %s (%d ranks): every collective x dtype x reduction x group: "
                       "%ld checks on rank 0\n",
                       meshes[k].name, mesh_size(&meshes[k]), atomic_load(&checks) - before);
        }
    rt_mpi_finalize();
    int f = atomic_load(&failures);
    if (f || rank0)
        printf("%s: %ld checks, %d failed\n", f ? "FAIL" : "ok", atomic_load(&checks), f);
    return f != 0;
}

#else

int main(void)
{
    char err[1024];
    for (int i = 0; i < NMESHES; i++) {
        long before = atomic_load(&checks);
        int rc = rt_run_threads(&meshes[i], all_collectives, NULL, err, sizeof err);
        CHECK(rc == 0, "mesh %s: rc %d: %s", meshes[i].name, rc, err);
        printf("mesh %s (%d ranks): every collective x dtype x reduction x group: %ld checks\n",
               meshes[i].name, mesh_size(&meshes[i]), atomic_load(&checks) - before);
    }

    const rt_mesh m22 = meshes[4];
    int rc = rt_run_threads(&m22, local_shapes, NULL, err, sizeof err);
    CHECK(rc == 0, "local shapes: %s", err);
    printf("local shapes, member lens, rt_alloc: ok\n");

    det_arg *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    rt_run_threads(&meshes[2], determinism, a, err, sizeof err);
    rt_run_threads(&meshes[2], determinism, b, err, sizeof err);
    int same = 1;
    for (int r = 0; r < 8; r++)
        same &= !memcmp(a->out[r], a->out[0], sizeof a->out[0]) &&
                !memcmp(b->out[r], a->out[0], sizeof a->out[0]);
    CHECK(same, "f32 all_reduce not bit-identical across ranks and reruns");
    printf("f32 sum of 8 ranks: bit-identical on every rank and across reruns\n");
    free(a);
    free(b);

    for (int i = 0; i < NMESHES; i++) {
        bar_arg *ba = calloc(1, sizeof *ba);
        int brc = rt_run_threads(&meshes[i], barrier_rounds, ba, err, sizeof err);
        CHECK(brc == 0, "barrier rounds on mesh %s: %s", meshes[i].name, err);
        free(ba);
    }
    printf("barriers: 300 rounds on every group of every mesh, none left early\n");
    int spurious = 0;
    for (int run = 0; run < 400; run++) {
        const rt_mesh *bm = &meshes[run % 2 ? 6 : 2]; /* 12 and 8 ranks */
        if (rt_run_threads(bm, barrier_then_return, NULL, err, sizeof err) != 0 && !spurious++)
            CHECK(0, "run %d: ranks returning after a barrier: %s", run, err);
    }
    printf("400 runs whose ranks return right after a barrier: %d failed\n", spurious);

    printf("failures end the run with one message, no hang:\n");
    expect_failure(&m22, fail_rank2, -1, "rank 2: boom", "rank 2 calls rt_fail");
    expect_failure(&m22, leave_rank1, -1, "rank 1 stopped", "rank 1 returns before a collective");
    expect_failure(&m22, leave_rank1, -1, "waits for it in all_reduce(",
                   "the message names the collective");
    expect_failure(&m22, leave_rank1, -1, ") at t.dt:4:2", "the message names its source");
    expect_failure(&m22, all_return_3, 3, NULL, "every rank returns 3");
    expect_failure(&m22, bad_gather, -1, "all_gather: local size 2", "all_gather with bad lengths");
    setenv("DT_TIMEOUT", "0.3", 1);
    expect_failure(&m22, slow_rank1, -1, "timed out", "DT_TIMEOUT=0.3, rank 1 sleeps 1 s");
    expect_failure(&m22, slow_rank1, -1, "s in all_reduce(", "the timeout names the collective");
    expect_failure(&m22, slow_permute, -1, "timed out after 0.3 s in collective_permute(tp) at t.dt:7:3 waiting for rank 1",
                   "DT_TIMEOUT=0.3, collective_permute_start late");
    unsetenv("DT_TIMEOUT");
    expect_failure(&m22, slow_rank1, 0, NULL, "no DT_TIMEOUT, rank 1 sleeps 1 s");
    expect_failure(&m22, slow_permute, 0, NULL, "no DT_TIMEOUT, permute_start 1 s late");
    expect_failure(&m22, leave_permute, -1,
                   "rank 1 stopped while rank 0 waits for it in collective_permute(tp) at t.dt:6:3",
                   "rank 1 returns before a permute's start");
    /* either member may notice first */
    expect_failure(&m22, bad_permute, -1, ": collective_permute: rank ", "permute members disagree on the size");

    int f = atomic_load(&failures);
    printf("%s: %ld checks, %d failed\n", f ? "FAIL" : "ok", atomic_load(&checks), f);
    return f != 0;
}

#endif
