/* layout.c - the layout engine of the sharded interpreter: what a group of
 * ranks holds together (interp_combine), what one rank keeps of it
 * (interp_extract), and on top of them scatter / assemble.  Every
 * collective, local layout op and redistribute is these two steps, so the
 * engine needs no code per collective.
 *
 * Everything is in global coordinates: a rank's piece of dim d is
 * pl_local_range(...) (nested splits in axis order, torch.chunk); the group's
 * view is the box the members hold when the group's axes are taken as R.  A
 * piece that falls outside that box means an illegal step (gathering an
 * outer split of a nested dim) and is reported, not guessed at.
 */
#include "interp/interp_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lfail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int lfail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

Placement interp_pl_or_r(const IrMesh *m, const Placement *pl)
{
    return pl->naxes == 0 ? pl_replicated(m->naxes) : *pl;
}

int interp_check_pl(const IrMesh *m, const IrType *t, const Placement *pl, char *err, size_t errlen)
{
    char b[128];
    if (pl->naxes == 0)
        return 0;
    if (pl->naxes != m->naxes)
        return lfail(err, errlen, "placement %s has %d entries for a mesh of %d axes",
                     pl_str(m, pl, b, sizeof b), pl->naxes, m->naxes);
    for (int a = 0; a < pl->naxes; a++)
        if (pl->e[a].kind == PL_S && (pl->e[a].dim < 0 || pl->e[a].dim >= t->rank))
            return lfail(err, errlen, "placement %s splits dim %d of a rank-%d tensor",
                         pl_str(m, pl, b, sizeof b), pl->e[a].dim, t->rank);
    return 0;
}

/* Is the rank at c in the group of g over `axes` (same coordinates off them)? */
static bool in_group(const IrMesh *m, unsigned axes, const int *g, const int *c)
{
    return rt_grid_group(m->naxes, m->size, axes, g) == rt_grid_group(m->naxes, m->size, axes, c);
}

/* The box that the group of `coords` holds together under pl. */
static void group_box(const IrMesh *m, const IrType *t, const Placement *pl, unsigned axes,
                      const int *coords, int64_t *off, int64_t *len)
{
    Placement q = *pl;
    for (int a = 0; a < q.naxes; a++)
        if (axes >> a & 1)
            q.e[a].kind = PL_R;
    for (int d = 0; d < t->rank; d++)
        pl_local_range(m, &q, coords, d, t->dims[d], &off[d], &len[d]);
}

/* Partial reductions that may be applied in either order. */
static bool commute(RedOp x, RedOp y)
{
    bool lx = x == RED_SUM || x == RED_AVG, ly = y == RED_SUM || y == RED_AVG;
    return x == y || (lx && ly);
}

static double reduce2(RedOp r, double acc, double v)
{
    switch (r) {
    case RED_SUM:
    case RED_AVG:
        return acc + v;
    case RED_MAX:
        return isnan(acc) || isnan(v) ? NAN : v > acc ? v : acc;
    case RED_MIN:
        return isnan(acc) || isnan(v) ? NAN : v < acc ? v : acc;
    }
    return acc;
}

int interp_combine(Arena *ar, const IrMesh *m, const IrType *t, const Placement *pl0, unsigned axes,
                   const int coords[IR_MAX_AXES], const Tensor *pieces, Tensor *box,
                   int64_t boxoff[IR_MAX_RANK], char *err, size_t errlen)
{
    char b1[128], b2[96], b3[96], b4[96];
    Placement pl = interp_pl_or_r(m, pl0);
    memset(box, 0, sizeof *box);
    if (interp_check_pl(m, t, &pl, err, errlen) != 0)
        return -1;
    /* The group's partial axes, innermost first: the global value of
     * [P(a), P(b)] is a-reduce over axis 0 of (b-reduce over axis 1), as
     * nested splits are outer then inner.  Kinds that do not commute must be
     * reduced in that order, so a group may not skip an inner one. */
    int pa[IR_MAX_AXES], npa = 0;
    unsigned pmask = 0;
    for (int a = m->naxes - 1; a >= 0; a--)
        if ((axes >> a & 1) && pl.e[a].kind == PL_P) {
            pa[npa++] = a;
            pmask |= 1u << a;
        }
    for (int i = 0; i < npa; i++)
        for (int b = pa[i] + 1; b < m->naxes; b++)
            if (!(axes >> b & 1) && pl.e[b].kind == PL_P && !commute(pl.e[b].red, pl.e[pa[i]].red))
                return lfail(err, errlen,
                             "%s: the partial over mesh axis %d must be reduced before the one "
                             "over axis %d",
                             pl_str(m, &pl, b1, sizeof b1), b, pa[i]);

    int64_t blen[IR_MAX_RANK], bstride[IR_MAX_RANK];
    group_box(m, t, &pl, axes, coords, boxoff, blen);
    box->dtype = t->dtype;
    box->rank = t->rank;
    int64_t bn = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        box->dims[d] = blen[d];
        bstride[d] = bn;
        bn *= blen[d];
    }
    /* One box per member of the group over the partial axes (member order:
     * pa[0], the innermost, the fastest digit); the pieces are placed into
     * them, then the boxes are reduced one axis at a time. */
    int64_t nbuf = rt_grid_count(m->naxes, m->size, pmask);
    double *buf = calloc(nbuf * bn > 0 ? (size_t)(nbuf * bn) : 1, sizeof *buf);
    if (!buf)
        return lfail(err, errlen, "out of memory");

    int nranks = ir_mesh_nranks(m);
    for (int r = 0; r < nranks; r++) {
        int c[IR_MAX_AXES];
        ir_mesh_coords(m, r, c);
        if (!in_group(m, axes, coords, c))
            continue;
        bool skip = false; /* R along a group axis: take coordinate 0's copy */
        for (int a = 0; a < m->naxes; a++)
            if ((axes >> a & 1) && pl.e[a].kind == PL_R && c[a] != 0)
                skip = true;
        if (skip)
            continue;
        const Tensor *p = &pieces[r];
        IrType lt = pl_local_type(m, t, &pl, c);
        IrType pt = interp_tensor_type(p);
        if (!ir_type_eq(&lt, &pt)) {
            free(buf);
            return lfail(err, errlen, "rank %d holds %s where %s of %s expects %s", r,
                         ir_type_str(&pt, b2, sizeof b2), pl_str(m, &pl, b1, sizeof b1),
                         ir_type_str(t, b3, sizeof b3), ir_type_str(&lt, b4, sizeof b4));
        }
        int64_t key = rt_grid_member(m->naxes, m->size, pmask, c);
        int64_t off[IR_MAX_RANK], len[IR_MAX_RANK], base = key * bn, pn = 1;
        for (int d = 0; d < t->rank; d++) {
            pl_local_range(m, &pl, c, d, t->dims[d], &off[d], &len[d]);
            pn *= len[d];
            if (len[d] > 0 && (off[d] < boxoff[d] || off[d] + len[d] > boxoff[d] + blen[d])) {
                free(buf);
                return lfail(err, errlen,
                             "%s cannot be combined over the given mesh axes: an outer split of "
                             "dim %d is gathered under an inner one",
                             pl_str(m, &pl, b1, sizeof b1), d);
            }
            base += (off[d] - boxoff[d]) * bstride[d];
        }
        if (pn == 0)
            continue;
        int64_t idx[IR_MAX_RANK] = {0}, bo = base;
        for (int64_t i = 0; i < pn; i++) {
            buf[bo] = rt_load_double((rt_dtype)p->dtype, p->data, i);
            for (int d = t->rank - 1; d >= 0; d--) {
                bo += bstride[d];
                if (++idx[d] < len[d])
                    break;
                bo -= bstride[d] * len[d];
                idx[d] = 0;
            }
        }
    }
    /* Reduce the fastest digit (the innermost partial axis) away, npa times. */
    for (int i = 0; i < npa; i++) {
        RedOp red = pl.e[pa[i]].red;
        int64_t k = m->size[pa[i]], nout = nbuf / k;
        for (int64_t o = 0; o < nout; o++)
            for (int64_t e = 0; e < bn; e++) {
                double acc = buf[(o * k) * bn + e];
                for (int64_t j = 1; j < k; j++)
                    acc = reduce2(red, acc, buf[(o * k + j) * bn + e]);
                if (red == RED_AVG)
                    acc /= (double)k;
                buf[o * bn + e] = acc; /* slot o <= o * k: already consumed */
            }
        nbuf = nout;
    }
    box->data = interp_alloc(ar, interp_nbytes(box));
    if (!box->data) {
        free(buf);
        return lfail(err, errlen, "out of memory");
    }
    bool wrap = box->dtype == DT_I32 && npa > 0;
    for (int64_t i = 0; i < bn; i++) {
        if (wrap && buf[i] == floor(buf[i]) && fabs(buf[i]) < 0x1p62) /* int32 sums wrap */
            ((int32_t *)box->data)[i] = (int32_t)(uint32_t)(uint64_t)(int64_t)buf[i];
        else
            rt_store_double((rt_dtype)box->dtype, box->data, i, buf[i]);
    }
    free(buf);
    return 0;
}

int interp_extract(Arena *ar, const IrMesh *m, const IrType *t, const Placement *pl0,
                   unsigned axes, const int coords[IR_MAX_AXES], const Tensor *box,
                   const int64_t boxoff[IR_MAX_RANK], Tensor *local, char *err, size_t errlen)
{
    char b1[128];
    Placement pl = interp_pl_or_r(m, pl0);
    if (interp_check_pl(m, t, &pl, err, errlen) != 0)
        return -1;
    memset(local, 0, sizeof *local);
    local->dtype = t->dtype;
    local->rank = t->rank;
    int64_t off[IR_MAX_RANK], n = 1;
    for (int d = 0; d < t->rank; d++) {
        pl_local_range(m, &pl, coords, d, t->dims[d], &off[d], &local->dims[d]);
        n *= local->dims[d];
        if (local->dims[d] > 0 &&
            (off[d] < boxoff[d] || off[d] + local->dims[d] > boxoff[d] + box->dims[d]))
            return lfail(err, errlen,
                         "%s cannot be produced over the given mesh axes: an outer split of dim %d "
                         "is created under an inner one",
                         pl_str(m, &pl, b1, sizeof b1), d);
    }
    local->data = interp_alloc(ar, interp_nbytes(local));
    if (!local->data)
        return lfail(err, errlen, "out of memory");
    for (int a = 0; a < m->naxes; a++) /* P(sum) off coordinate 0: zeros */
        if ((axes >> a & 1) && pl.e[a].kind == PL_P && pl.e[a].red == RED_SUM && coords[a] != 0)
            return 0;
    if (n == 0)
        return 0;
    /* Copy rows of the last dim (contiguous in both). */
    int64_t bstride[IR_MAX_RANK], s = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        bstride[d] = s;
        s *= box->dims[d];
    }
    size_t es = (size_t)ir_dtype_size(t->dtype);
    int64_t inner = t->rank ? local->dims[t->rank - 1] : 1;
    int64_t idx[IR_MAX_RANK] = {0}, pos = 0;
    for (;;) {
        int64_t bo = 0;
        for (int d = 0; d < t->rank; d++)
            bo += (off[d] - boxoff[d] + idx[d]) * bstride[d];
        memcpy((char *)local->data + (size_t)pos * es, (const char *)box->data + (size_t)bo * es,
               (size_t)inner * es);
        pos += inner;
        int d = t->rank - 2;
        while (d >= 0 && ++idx[d] == local->dims[d])
            idx[d--] = 0;
        if (d < 0)
            break;
    }
    return 0;
}

static unsigned all_axes(const IrMesh *m) { return (1u << m->naxes) - 1u; }

int interp_scatter(Arena *ar, const IrMesh *m, const Placement *pl, const Tensor *global, int rank,
                   Tensor *local, char *err, size_t errlen)
{
    IrType t = interp_tensor_type(global);
    int coords[IR_MAX_AXES];
    int64_t zero[IR_MAX_RANK] = {0};
    if (rank < 0 || rank >= ir_mesh_nranks(m))
        return lfail(err, errlen, "rank %d is not on the mesh", rank);
    ir_mesh_coords(m, rank, coords);
    return interp_extract(ar, m, &t, pl, all_axes(m), coords, global, zero, local, err, errlen);
}

int interp_assemble(Arena *ar, const IrMesh *m, const IrType *t, const Placement *pl,
                    const Tensor *locals, Tensor *global, char *err, size_t errlen)
{
    int coords[IR_MAX_AXES] = {0};
    int64_t off[IR_MAX_RANK];
    return interp_combine(ar, m, t, pl, all_axes(m), coords, locals, global, off, err, errlen);
}
