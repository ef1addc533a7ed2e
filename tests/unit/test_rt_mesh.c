/* test_rt_mesh.c - runtime/core/rt_mesh.c, the one copy of the mesh
 * arithmetic, against brute-force enumeration:
 *   torch.chunk    every n in [0, 40] over every k in [1, 9] against pieces
 *                  filled element by element (uneven and empty pieces), and
 *                  known torch.chunk answers;
 *   nested splits  every split mask of every dim size in [0, 13] on meshes
 *                  of up to 4 axes (size-1 axes included) against splitting
 *                  an explicit element list axis by axis, and the pieces of a
 *                  group tiling the dim in member order;
 *   ranks, groups  rank <-> coordinates against an odometer count; for every
 *                  axis set, member lists, member index, group index, member
 *                  rank / coordinates and stepping against the ranks that
 *                  share the coordinates off the set, in world-rank order;
 *   the callers    the compiler's ir_mesh_* / pl_local_range and the
 *                  runtime's rt_local_box give the same answers.
 * Prints what it checked; exit 0 = pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "runtime/dtrt.h"

#include "check_msg.h"

/* ---- brute force ----------------------------------------------------------------- */

/* torch.chunk by filling: the smallest chunk c with c * k >= n, found by
 * counting up, then pieces filled element by element, c at most each; an
 * empty piece starts at the end.  Returns c. */
static int64_t brute_chunk(int64_t n, int k, int64_t *off, int64_t *len)
{
    int64_t c = 0;
    while (c * k < n)
        c++;
    for (int i = 0; i < k; i++)
        off[i] = n, len[i] = 0;
    int piece = 0;
    for (int64_t e = 0; e < n; e++) {
        if (len[piece] == c)
            piece++;
        if (len[piece] == 0)
            off[piece] = e;
        len[piece]++;
    }
    return c;
}

typedef struct Mesh {
    int naxes;
    int size[RT_MAX_AXES];
} Mesh;

static int mesh_ranks(const Mesh *m)
{
    int n = 1;
    for (int a = 0; a < m->naxes; a++)
        n *= m->size[a];
    return n;
}

/* coords[r] for every rank r, by counting with an odometer (last axis
 * fastest). */
static void enumerate(const Mesh *m, int (*coords)[RT_MAX_AXES])
{
    int c[RT_MAX_AXES] = {0};
    int n = mesh_ranks(m);
    for (int r = 0; r < n; r++) {
        memcpy(coords[r], c, sizeof c);
        for (int a = m->naxes - 1; a >= 0; a--) {
            if (++c[a] < m->size[a])
                break;
            c[a] = 0;
        }
    }
}

static bool same_off(const Mesh *m, unsigned axes, const int *x, const int *y)
{
    for (int a = 0; a < m->naxes; a++)
        if (!(axes >> a & 1) && x[a] != y[a])
            return false;
    return true;
}

/* The piece of n elements that coords hold when the axes in split (in axis
 * order) each chunk an explicit list of the elements the previous one left. */
static void brute_nested(const Mesh *m, unsigned split, const int *coords, int64_t n,
                         int64_t *off, int64_t *len)
{
    int64_t *el = malloc(sizeof *el * (size_t)(n + 1)), cnt = n;
    for (int64_t e = 0; e < n; e++)
        el[e] = e;
    for (int a = 0; a < m->naxes; a++) {
        if (!(split >> a & 1))
            continue;
        int64_t po[16], pl[16];
        brute_chunk(cnt, m->size[a], po, pl);
        memmove(el, el + po[coords[a]], sizeof *el * (size_t)pl[coords[a]]);
        cnt = pl[coords[a]];
    }
    /* the offset of an empty piece: where it would start in the element
     * list of the level that emptied it; compare lengths and, when
     * non-empty, the first element */
    *len = cnt;
    *off = cnt > 0 ? el[0] : -1;
    free(el);
}

/* ---- checks ------------------------------------------------------------------------ */

static void test_chunk(void)
{
    int cases = 0;
    for (int64_t n = 0; n <= 40; n++)
        for (int k = 1; k <= 9; k++) {
            int64_t bo[16], bl[16], c = brute_chunk(n, k, bo, bl);
            CHECK(rt_chunk_size(n, k) == c, "chunk size of %lld over %d", (long long)n, k);
            for (int i = 0; i < k; i++) {
                int64_t o, l;
                rt_chunk(n, k, i, &o, &l);
                CHECK(l == bl[i] && o == bo[i],
                      "chunk(%lld, %d, %d) = [%lld, +%lld), brute [%lld, +%lld)", (long long)n, k,
                      i, (long long)o, (long long)l, (long long)bo[i], (long long)bl[i]);
                CHECK(o >= 0 && o + l <= n, "chunk(%lld, %d, %d) out of range", (long long)n, k,
                      i);
                cases++;
            }
        }
    /* torch.chunk's own answers */
    static const struct {
        int64_t n;
        int k, i;
        int64_t off, len;
    } known[] = {
        {10, 4, 0, 0, 3}, {10, 4, 1, 3, 3}, {10, 4, 2, 6, 3}, {10, 4, 3, 9, 1},
        {5, 4, 3, 5, 0},  {2, 3, 2, 2, 0},  {0, 3, 1, 0, 0},  {7, 1, 0, 0, 7},
    };
    for (size_t j = 0; j < sizeof known / sizeof known[0]; j++) {
        int64_t o, l;
        rt_chunk(known[j].n, known[j].k, known[j].i, &o, &l);
        CHECK(o == known[j].off && l == known[j].len, "chunk(%lld, %d, %d) = [%lld, +%lld)",
              (long long)known[j].n, known[j].k, known[j].i, (long long)o, (long long)l);
    }
    int64_t o, l;
    rt_chunk(9, 0, 0, &o, &l);
    CHECK(o == 0 && l == 9, "k = 0: no split");
    printf("ok: rt_chunk = torch.chunk filled element by element (%d pieces, n 0..40, k 1..9, "
           "uneven and empty)\n", cases);
}

/* The meshes: every size vector over {1, 2, 3} for 0..4 axes, and a few
 * with larger or lopsided axes. */
static int meshes(Mesh *out)
{
    int n = 0;
    for (int na = 0; na <= RT_MAX_AXES; na++) {
        int total = 1;
        for (int a = 0; a < na; a++)
            total *= 3;
        for (int v = 0; v < total; v++) {
            Mesh m = {na, {1, 1, 1, 1}};
            for (int a = 0, x = v; a < na; a++, x /= 3)
                m.size[a] = 1 + x % 3;
            out[n++] = m;
        }
    }
    static const Mesh extra[] = {{1, {7}},          {2, {5, 1}},        {3, {1, 4, 1}},
                                 {4, {2, 1, 5, 3}}, {4, {1, 1, 1, 1}}, {2, {8, 6}}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        out[n++] = extra[i];
    return n;
}

static void test_ranks_and_groups(const Mesh *ms, int nm)
{
    long checks = 0;
    for (int mi = 0; mi < nm; mi++) {
        const Mesh *m = &ms[mi];
        int n = mesh_ranks(m);
        int(*co)[RT_MAX_AXES] = malloc(sizeof *co * (size_t)n);
        int *mem = malloc(sizeof *mem * (size_t)n);
        enumerate(m, co);
        CHECK(rt_grid_count(m->naxes, m->size, rt_grid_all(m->naxes)) == n, "mesh size");
        for (int r = 0; r < n; r++) {
            int c[RT_MAX_AXES] = {9, 9, 9, 9};
            rt_grid_coords(m->naxes, m->size, r, c);
            for (int a = 0; a < RT_MAX_AXES; a++)
                CHECK(c[a] == (a < m->naxes ? co[r][a] : 0), "mesh %d rank %d axis %d", mi, r, a);
            CHECK(rt_grid_rank(m->naxes, m->size, co[r]) == r, "mesh %d rank of rank %d", mi, r);
        }
        for (unsigned axes = 0; axes <= rt_grid_all(m->naxes); axes++) {
            int ngroups = 0;
            for (int r = 0; r < n; r++) {
                /* the members: every rank with r's coordinates off axes, in
                 * world-rank order */
                int k = 0, me = -1, lead = -1;
                for (int q = 0; q < n; q++)
                    if (same_off(m, axes, co[q], co[r])) {
                        if (q == r)
                            me = k;
                        if (lead < 0)
                            lead = q;
                        mem[k++] = q;
                    }
                if (lead == r)
                    ngroups++;
                /* groups numbered in the order of their lowest rank */
                int gidx = 0;
                for (int q = 0; q < lead; q++) {
                    bool first = true;
                    for (int p = 0; p < q && first; p++)
                        first = !same_off(m, axes, co[p], co[q]);
                    gidx += first;
                }
                CHECK(rt_grid_count(m->naxes, m->size, axes) == k, "mesh %d axes %x: group size",
                      mi, axes);
                CHECK(rt_grid_member(m->naxes, m->size, axes, co[r]) == me,
                      "mesh %d axes %x rank %d: member %d, brute %d", mi, axes, r,
                      rt_grid_member(m->naxes, m->size, axes, co[r]), me);
                CHECK(rt_grid_group(m->naxes, m->size, axes, co[r]) == gidx,
                      "mesh %d axes %x rank %d: group %d, brute %d", mi, axes, r,
                      rt_grid_group(m->naxes, m->size, axes, co[r]), gidx);
                int step[RT_MAX_AXES];
                memcpy(step, co[mem[0]], sizeof step);
                for (int i = 0; i < k; i++) {
                    int mc[RT_MAX_AXES];
                    rt_grid_member_coords(m->naxes, m->size, axes, co[r], i, mc);
                    CHECK(rt_grid_member_rank(m->naxes, m->size, axes, co[r], i) == mem[i] &&
                              rt_grid_rank(m->naxes, m->size, mc) == mem[i],
                          "mesh %d axes %x rank %d: member %d", mi, axes, r, i);
                    CHECK(rt_grid_rank(m->naxes, m->size, step) == mem[i],
                          "mesh %d axes %x: stepping to member %d", mi, axes, i);
                    bool more = rt_grid_next(m->naxes, m->size, axes, step);
                    CHECK(more == (i + 1 < k), "mesh %d axes %x: next after member %d", mi, axes,
                          i);
                    checks++;
                }
                CHECK(rt_grid_rank(m->naxes, m->size, step) == mem[0],
                      "mesh %d axes %x: stepping ends at member 0", mi, axes);
            }
            CHECK(ngroups * rt_grid_count(m->naxes, m->size, axes) == n,
                  "mesh %d axes %x: groups partition the mesh", mi, axes);
        }
        free(co);
        free(mem);
    }
    printf("ok: rank <-> coordinates and groups (size, member, group index, member ranks, "
           "stepping) on %d meshes of 0..4 axes with size-1 axes, every axis set (%ld members)\n",
           nm, checks);
}

static void test_nested(const Mesh *ms, int nm)
{
    long checks = 0;
    for (int mi = 0; mi < nm; mi++) {
        const Mesh *m = &ms[mi];
        int n = mesh_ranks(m);
        int(*co)[RT_MAX_AXES] = malloc(sizeof *co * (size_t)n);
        enumerate(m, co);
        for (unsigned split = 0; split <= rt_grid_all(m->naxes); split++)
            for (int64_t len = 0; len <= 13; len++) {
                for (int r = 0; r < n; r++) {
                    int64_t o, l, bo, bl;
                    rt_chunk_nested(len, m->naxes, m->size, split, co[r], &o, &l);
                    brute_nested(m, split, co[r], len, &bo, &bl);
                    CHECK(l == bl && (l == 0 || o == bo) && o >= 0 && o + l <= len,
                          "mesh %d split %x n %lld rank %d: [%lld, +%lld), brute [%lld, +%lld)", mi,
                          split, (long long)len, r, (long long)o, (long long)l, (long long)bo,
                          (long long)bl);
                    checks++;
                    /* the group over the split axes tiles [0, len) in member
                     * order (what all_gather concatenates) */
                    if (rt_grid_member(m->naxes, m->size, split, co[r]) != 0)
                        continue;
                    int64_t cur = 0;
                    for (int i = 0; i < rt_grid_count(m->naxes, m->size, split); i++) {
                        int c[RT_MAX_AXES];
                        rt_grid_member_coords(m->naxes, m->size, split, co[r], i, c);
                        rt_chunk_nested(len, m->naxes, m->size, split, c, &o, &l);
                        CHECK(l == 0 || o == cur, "mesh %d split %x n %lld: member %d at %lld, "
                              "expected %lld", mi, split, (long long)len, i, (long long)o,
                              (long long)cur);
                        cur += l;
                    }
                    CHECK(cur == len, "mesh %d split %x n %lld: members cover %lld", mi, split,
                          (long long)len, (long long)cur);
                }
            }
        free(co);
    }
    printf("ok: nested splits over every axis set (uneven, empty) against element lists, and "
           "each group's pieces tile the dim in member order (%ld pieces)\n", checks);
}

/* The compiler's and the runtime's entry points call the core: the same
 * boxes and ranks on a 4-axis mesh with size-1 axes and two dims each split
 * over two axes. */
static void test_callers(void)
{
    IrMesh im;
    memset(&im, 0, sizeof im);
    rt_mesh rm;
    memset(&rm, 0, sizeof rm);
    const int sz[4] = {2, 1, 3, 2};
    im.naxes = rm.naxes = 4;
    for (int a = 0; a < 4; a++)
        im.size[a] = rm.size[a] = sz[a];
    /* dim 0 split by axes 0 and 2, dim 2 by axes 1 and 3 */
    Placement p = pl_replicated(4);
    rt_pl rp[RT_MAX_AXES];
    const int dim_of[4] = {0, 2, 0, 2};
    for (int a = 0; a < 4; a++) {
        p.e[a].kind = PL_S;
        p.e[a].dim = dim_of[a];
        rp[a].kind = RT_PL_S;
        rp[a].dim = dim_of[a];
        rp[a].red = RT_RED_SUM;
    }
    const int64_t dims[3] = {7, 4, 5};
    int n = ir_mesh_nranks(&im), checks = 0;
    CHECK(n == 12, "ir_mesh_nranks");
    for (int r = 0; r < n; r++) {
        int c[IR_MAX_AXES], c2[IR_MAX_AXES];
        ir_mesh_coords(&im, r, c);
        rt_grid_coords(4, sz, r, c2);
        CHECK(!memcmp(c, c2, sizeof c) && ir_mesh_rank(&im, c) == r, "ir_mesh rank %d", r);
        int64_t ro[3], rl[3];
        rt_local_box(&rm, rp, c, 3, dims, ro, rl);
        for (int d = 0; d < 3; d++) {
            int64_t o, l;
            pl_local_range(&im, &p, c, d, dims[d], &o, &l);
            CHECK(o == ro[d] && l == rl[d], "rank %d dim %d: pl_local_range [%lld, +%lld), "
                  "rt_local_box [%lld, +%lld)", r, d, (long long)o, (long long)l,
                  (long long)ro[d], (long long)rl[d]);
            checks++;
        }
    }
    printf("ok: ir_mesh_*, pl_local_range (compiler) and rt_local_box (runtime) agree (%d "
           "ranges)\n", checks);
}

int main(void)
{
    Mesh *ms = malloc(sizeof *ms * 200);
    int nm = meshes(ms);
    test_chunk();
    test_ranks_and_groups(ms, nm);
    test_nested(ms, nm);
    test_callers();
    free(ms);
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    return 0;
}
