/* test_plan.c - the redistribution planner (passes/plan.c) and the cost
 * model (passes/cost.c).
 *
 * 1. cost formulas and plan_str on hand-computed cases;
 * 2. legality of steps with nested splits and mixed partials;
 * 3. a brute-force data checker: every planned step is executed as a group
 *    collective on simulated per-rank local data (built from a global tensor
 *    of distinct integers; partials split into random parts) and each
 *    intermediate state must hold exactly the data its placement says, on
 *    thousands of random (mesh, shape, from, to), uneven, empty and nested;
 *    each step's volume must equal a count over every rank (pl_local_type);
 * 4. optimality against an independent exhaustive search on small cases and
 *    against the naive "replicate, then rebuild" plan on all random cases;
 * 5. planning time over many random pairs (median and max < 10 ms);
 * 6. the comparison table with PyTorch DTensor's default (greedy) planner,
 *    re-derived here from its description, on a latency-bound and a
 *    bandwidth-bound tensor (passes/PLANNER.md has the table).
 */
#include "passes/plan.h"
#include "runtime/core/rt_core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fails;
#define CHECK(c, ...)                                                  \
    do {                                                               \
        if (!(c)) {                                                    \
            fails++;                                                   \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);       \
            fprintf(stderr, __VA_ARGS__);                              \
            fprintf(stderr, "\n");                                     \
        }                                                              \
    } while (0)

/* ---- helpers ------------------------------------------------------------------ */

typedef struct Rng {
    uint64_t s;
} Rng;

static uint64_t rnd(Rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static int rndi(Rng *r, int n) { return (int)(rnd(r) % (uint64_t)n); }

static const char *const axis_names[IR_MAX_AXES] = {"dp", "tp", "pp", "ep"};

static IrMesh mk_mesh(int n, const int *sizes)
{
    IrMesh m;
    memset(&m, 0, sizeof m);
    m.name = "M";
    m.naxes = n;
    for (int i = 0; i < n; i++) {
        m.axis_name[i] = axis_names[i];
        m.size[i] = sizes[i];
    }
    return m;
}

static IrType mk_type(int rank, const int64_t *dims)
{
    IrType t;
    memset(&t, 0, sizeof t);
    t.dtype = DT_F32;
    t.rank = rank;
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    return t;
}

/* "S0,P,Pmax,R" -> placement */
static Placement pl_parse(const char *s)
{
    Placement p = pl_replicated(0);
    while (*s) {
        PlEntry e = {PL_R, 0, RED_SUM};
        if (*s == 'S') {
            e.kind = PL_S;
            e.dim = (int)strtol(s + 1, (char **)&s, 10);
        } else if (*s == 'P') {
            e.kind = PL_P;
            s++;
            if (!strncmp(s, "max", 3))
                e.red = RED_MAX, s += 3;
            else if (!strncmp(s, "min", 3))
                e.red = RED_MIN, s += 3;
            else if (!strncmp(s, "avg", 3))
                e.red = RED_AVG, s += 3;
            else if (!strncmp(s, "sum", 3))
                s += 3;
        } else {
            s++;
        }
        p.e[p.naxes++] = e;
        while (*s == ',' || *s == ' ')
            s++;
    }
    return p;
}

static const char *pls(const IrMesh *m, const Placement *p, char *buf)
{
    return pl_str(m, p, buf, 128);
}

static double now_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the data checker ----------------------------------------------------------- */

/* One rank's local block: its box in the global tensor and row-major data. */
typedef struct Local {
    int64_t off[IR_MAX_RANK], len[IR_MAX_RANK];
    double *v;
} Local;

typedef struct Sim {
    const IrMesh *m;
    const IrType *t;
    int nranks;
    const double *g; /* the global tensor */
    Rng *rng;
} Sim;

static int64_t box_numel(int rank, const int64_t *len)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= len[i];
    return n;
}

static void box_of(const Sim *s, const Placement *p, int r, int64_t *off, int64_t *len)
{
    int c[IR_MAX_AXES];
    ir_mesh_coords(s->m, r, c);
    for (int d = 0; d < s->t->rank; d++)
        pl_local_range(s->m, p, c, d, s->t->dims[d], &off[d], &len[d]);
}

/* Copies the ext-shaped region at src position so (src box lens sl) to dst
 * position do (dst box lens dl). */
static void copy_region(int rank, const double *src, const int64_t *sl, const int64_t *so,
                        double *dst, const int64_t *dl, const int64_t *dof, const int64_t *ext)
{
    if (box_numel(rank, ext) == 0)
        return;
    int64_t i[IR_MAX_RANK] = {0};
    for (;;) {
        int64_t si = 0, di = 0;
        for (int d = 0; d < rank; d++) {
            si = si * sl[d] + so[d] + i[d];
            di = di * dl[d] + dof[d] + i[d];
        }
        dst[di] = src[si];
        int d = rank - 1;
        while (d >= 0 && ++i[d] == ext[d])
            i[d--] = 0;
        if (d < 0)
            break;
    }
}

static double *alloc_box(int rank, const int64_t *len)
{
    int64_t n = box_numel(rank, len);
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

/* Global flat index of element e of a box. */
static int64_t global_index(const IrType *t, const int64_t *off, const int64_t *len, int64_t e)
{
    int64_t idx[IR_MAX_RANK], g = 0;
    for (int d = t->rank - 1; d >= 0; d--) {
        idx[d] = e % len[d];
        e /= len[d];
    }
    for (int d = 0; d < t->rank; d++)
        g = g * t->dims[d] + off[d] + idx[d];
    return g;
}

/* Partial axes in ascending order. */
static int p_axes(const Sim *s, const Placement *p, int *ax)
{
    int n = 0;
    for (int a = 0; a < s->m->naxes; a++)
        if (p->e[a].kind == PL_P)
            ax[n++] = a;
    return n;
}

static unsigned axes_mask(const int *ax, int n)
{
    unsigned mask = 0;
    for (int i = 0; i < n; i++)
        mask |= 1u << ax[i];
    return mask;
}

/* Combinations of the partial axes' coordinates: r's member index in its
 * group over them (row-major over the partial axes in ascending order). */
static int ncombos(const Sim *s, const int *ax, int np)
{
    return rt_grid_count(s->m->naxes, s->m->size, axes_mask(ax, np));
}

/* Rank r with its coordinates on the partial axes replaced by combo. */
static int rank_with_combo(const Sim *s, int r, const int *ax, int np, int combo)
{
    int c[IR_MAX_AXES];
    ir_mesh_coords(s->m, r, c);
    return rt_grid_member_rank(s->m->naxes, s->m->size, axes_mask(ax, np), c, combo);
}

static int combo_of(const Sim *s, int r, const int *ax, int np)
{
    int c[IR_MAX_AXES];
    ir_mesh_coords(s->m, r, c);
    return rt_grid_member(s->m->naxes, s->m->size, axes_mask(ax, np), c);
}

/* Rank r with every coordinate on a non-split axis set to 0. */
static int s_only(const Sim *s, const Placement *p, int r)
{
    int c[IR_MAX_AXES];
    ir_mesh_coords(s->m, r, c);
    for (int a = 0; a < s->m->naxes; a++)
        if (p->e[a].kind != PL_S)
            c[a] = 0;
    return ir_mesh_rank(s->m, c);
}

/* Splits u into k partials of kind red (integers, exact in double). */
static void split_value(Rng *rng, RedOp red, double u, int k, double *parts)
{
    double acc = 0;
    int keep = rndi(rng, k);
    for (int i = 0; i < k; i++) {
        switch (red) {
        case RED_SUM:
        case RED_AVG:
            parts[i] = (double)(rndi(rng, 41) - 20);
            acc += parts[i];
            break;
        case RED_MAX:
            parts[i] = i == keep ? u : u - rndi(rng, 10);
            break;
        case RED_MIN:
            parts[i] = i == keep ? u : u + rndi(rng, 10);
            break;
        }
    }
    if (red == RED_SUM)
        parts[k - 1] += u - acc;
    else if (red == RED_AVG)
        parts[k - 1] += k * u - acc;
}

/* Recursively splits u over partial axes level.. (outermost first). */
static void split_levels(const Sim *s, const Placement *p, const int *ax, int np, int level,
                         double u, int prefix, double *vals)
{
    if (level == np) {
        vals[prefix] = u;
        return;
    }
    int k = s->m->size[ax[level]];
    double parts[64];
    split_value(s->rng, p->e[ax[level]].red, u, k, parts);
    for (int c = 0; c < k; c++)
        split_levels(s, p, ax, np, level + 1, parts[c], prefix * k + c, vals);
}

static double reduce_levels(const Sim *s, const Placement *p, const int *ax, int np, int level,
                            int prefix, const double *vals)
{
    if (level == np)
        return vals[prefix];
    int k = s->m->size[ax[level]];
    RedOp red = p->e[ax[level]].red;
    double acc = 0;
    for (int c = 0; c < k; c++) {
        double v = reduce_levels(s, p, ax, np, level + 1, prefix * k + c, vals);
        if (c == 0)
            acc = v;
        else if (red == RED_SUM || red == RED_AVG)
            acc += v;
        else if (red == RED_MAX)
            acc = v > acc ? v : acc;
        else
            acc = v < acc ? v : acc;
    }
    return red == RED_AVG ? acc / k : acc;
}

/* Local data of every rank for placement p. */
static Local *gen_state(const Sim *s, const Placement *p)
{
    Local *loc = calloc((size_t)s->nranks, sizeof *loc);
    int ax[IR_MAX_AXES], np = p_axes(s, p, ax), ncombo = ncombos(s, ax, np);
    for (int r = 0; r < s->nranks; r++) {
        box_of(s, p, r, loc[r].off, loc[r].len);
        loc[r].v = alloc_box(s->t->rank, loc[r].len);
    }
    double *vals = malloc(sizeof(double) * (size_t)ncombo);
    int *shape_of = malloc(sizeof(int) * (size_t)s->nranks);
    for (int r = 0; r < s->nranks; r++)
        shape_of[r] = s_only(s, p, r);
    for (int r = 0; r < s->nranks; r++) {
        if (shape_of[r] != r)
            continue; /* one representative per box: partial and R coordinates 0 */
        int64_t n = box_numel(s->t->rank, loc[r].len);
        for (int64_t e = 0; e < n; e++) {
            double g = s->g[global_index(s->t, loc[r].off, loc[r].len, e)];
            split_levels(s, p, ax, np, 0, g, 0, vals);
            /* replicas along R axes hold the same partial */
            for (int q = 0; q < s->nranks; q++)
                if (shape_of[q] == r)
                    loc[q].v[e] = vals[combo_of(s, q, ax, np)];
        }
    }
    free(shape_of);
    free(vals);
    return loc;
}

static void free_state(const Sim *s, Local *loc)
{
    for (int r = 0; r < s->nranks; r++)
        free(loc[r].v);
    free(loc);
}

/* Does every rank hold exactly what placement p says? */
static bool check_state(const Sim *s, const Placement *p, const Local *loc, char *why, size_t nwhy)
{
    int ax[IR_MAX_AXES], np = p_axes(s, p, ax), ncombo = ncombos(s, ax, np);
    double *vals = malloc(sizeof(double) * (size_t)ncombo);
    bool ok = true;
    for (int r = 0; r < s->nranks && ok; r++) {
        int64_t off[IR_MAX_RANK], len[IR_MAX_RANK];
        box_of(s, p, r, off, len);
        for (int d = 0; d < s->t->rank; d++)
            if (loc[r].len[d] != len[d]) {
                snprintf(why, nwhy, "rank %d dim %d: local length %lld, placement says %lld", r, d,
                         (long long)loc[r].len[d], (long long)len[d]);
                ok = false;
            }
        if (!ok)
            break;
        int64_t n = box_numel(s->t->rank, len);
        /* replicated along every R axis: the same data as coordinate 0 */
        int c[IR_MAX_AXES];
        ir_mesh_coords(s->m, r, c);
        for (int a = 0; a < s->m->naxes && ok; a++) {
            if (p->e[a].kind != PL_R || c[a] == 0)
                continue;
            int c0[IR_MAX_AXES];
            memcpy(c0, c, sizeof c0);
            c0[a] = 0;
            const Local *q = &loc[ir_mesh_rank(s->m, c0)];
            for (int64_t e = 0; e < n && ok; e++)
                if (q->v[e] != loc[r].v[e]) {
                    snprintf(why, nwhy, "rank %d differs from its replica along axis %d", r, a);
                    ok = false;
                }
        }
        for (int64_t e = 0; e < n && ok; e++) {
            for (int c = 0; c < ncombo; c++)
                vals[c] = loc[rank_with_combo(s, r, ax, np, c)].v[e];
            double got = reduce_levels(s, p, ax, np, 0, 0, vals);
            double want = s->g[global_index(s->t, off, len, e)];
            /* integers throughout, but avg of partial sums may round */
            if (fabs(got - want) > 1e-9 * (1 + fabs(want))) {
                snprintf(why, nwhy, "rank %d element %lld: %g, expected %g", r, (long long)e, got, want);
                ok = false;
            }
        }
    }
    free(vals);
    return ok;
}

/* Group members of rank r over `axes`, in row-major order of their
 * coordinates on those axes; returns the count and r's index. */
static int group_of(const Sim *s, int r, unsigned axes, int *mem, int *me)
{
    int c[IR_MAX_AXES], n = 0;
    *me = -1;
    ir_mesh_coords(s->m, r, c);
    int gc[IR_MAX_AXES];
    memcpy(gc, c, sizeof gc);
    for (int a = 0; a < s->m->naxes; a++)
        if (axes & (1u << a))
            gc[a] = 0;
    for (;;) {
        int q = ir_mesh_rank(s->m, gc);
        if (q == r)
            *me = n;
        mem[n++] = q;
        if (!ir_mesh_next_coords(s->m, axes, gc))
            break;
    }
    return n;
}

static bool same_len(int rank, const int64_t *a, const int64_t *b)
{
    for (int d = 0; d < rank; d++)
        if (a[d] != b[d])
            return false;
    return true;
}

/* Executes one step on local data only (the placements give each rank's box
 * geometry, as they do to the runtime).  Returns NULL with why on a step
 * that cannot run (shape mismatch in a group). */
static Local *apply_step(const Sim *s, const Local *in, const PlanStep *st, char *why, size_t nwhy)
{
    int rank = s->t->rank;
    Local *out = calloc((size_t)s->nranks, sizeof *out);
    int mem[4096], me = 0;
    bool ok = true;
    for (int r = 0; r < s->nranks && ok; r++) {
        Local *o = &out[r];
        box_of(s, &st->after, r, o->off, o->len);
        int k = group_of(s, r, st->axes, mem, &me);
        const Local *mine = &in[r];
        int64_t zero[IR_MAX_RANK] = {0};
        switch (st->kind) {
        case STEP_ALL_REDUCE:
        case STEP_REDUCE_SCATTER: {
            int64_t n = box_numel(rank, mine->len);
            double *acc = alloc_box(rank, mine->len);
            for (int j = 0; j < k && ok; j++) {
                const Local *q = &in[mem[j]];
                if (!same_len(rank, q->len, mine->len)) {
                    snprintf(why, nwhy, "reduce: group blocks differ in shape");
                    ok = false;
                    break;
                }
                for (int64_t e = 0; e < n; e++) {
                    double v = q->v[e];
                    if (j == 0 || st->red == RED_SUM || st->red == RED_AVG)
                        acc[e] = j == 0 ? v : acc[e] + v;
                    else if (st->red == RED_MAX)
                        acc[e] = v > acc[e] ? v : acc[e];
                    else
                        acc[e] = v < acc[e] ? v : acc[e];
                }
            }
            if (st->red == RED_AVG)
                for (int64_t e = 0; e < n; e++)
                    acc[e] /= k;
            if (st->kind == STEP_ALL_REDUCE) {
                o->v = acc;
                break;
            }
            /* keep this rank's range of dim; the before box is the group's */
            int64_t so[IR_MAX_RANK];
            for (int d = 0; d < rank; d++)
                so[d] = o->off[d] - mine->off[d];
            o->v = alloc_box(rank, o->len);
            copy_region(rank, acc, mine->len, so, o->v, o->len, zero, o->len);
            free(acc);
            break;
        }
        case STEP_ALL_GATHER: {
            int64_t len[IR_MAX_RANK];
            memcpy(len, mine->len, sizeof len);
            len[st->dim] = 0;
            for (int j = 0; j < k; j++)
                len[st->dim] += in[mem[j]].len[st->dim];
            if (!same_len(rank, len, o->len)) {
                snprintf(why, nwhy, "all_gather: gathered length %lld, placement says %lld",
                         (long long)len[st->dim], (long long)o->len[st->dim]);
                ok = false;
                break;
            }
            o->v = alloc_box(rank, o->len);
            int64_t at[IR_MAX_RANK] = {0};
            for (int j = 0; j < k; j++) {
                const Local *q = &in[mem[j]];
                copy_region(rank, q->v, q->len, zero, o->v, o->len, at, q->len);
                at[st->dim] += q->len[st->dim];
            }
            break;
        }
        case STEP_ALL_TO_ALL: {
            int64_t len[IR_MAX_RANK];
            memcpy(len, mine->len, sizeof len);
            len[st->dim] = 0;
            for (int j = 0; j < k; j++)
                len[st->dim] += in[mem[j]].len[st->dim];
            len[st->dim2] = o->len[st->dim2];
            if (!same_len(rank, len, o->len)) {
                snprintf(why, nwhy, "all_to_all: received block does not match the placement");
                ok = false;
                break;
            }
            o->v = alloc_box(rank, o->len);
            int64_t at[IR_MAX_RANK] = {0};
            for (int j = 0; j < k; j++) {
                const Local *q = &in[mem[j]];
                /* sender j cuts my after-range of dim2 out of its block */
                int64_t so[IR_MAX_RANK] = {0}, ext[IR_MAX_RANK];
                memcpy(ext, q->len, sizeof ext);
                so[st->dim2] = o->off[st->dim2] - q->off[st->dim2];
                ext[st->dim2] = o->len[st->dim2];
                if (so[st->dim2] < 0 || so[st->dim2] + ext[st->dim2] > q->len[st->dim2]) {
                    snprintf(why, nwhy, "all_to_all: piece outside the sender's block");
                    ok = false;
                    break;
                }
                copy_region(rank, q->v, q->len, so, o->v, o->len, at, ext);
                at[st->dim] += q->len[st->dim];
            }
            break;
        }
        case STEP_SHARD: {
            int64_t so[IR_MAX_RANK];
            for (int d = 0; d < rank; d++)
                so[d] = o->off[d] - mine->off[d];
            if (so[st->dim] < 0 || so[st->dim] + o->len[st->dim] > mine->len[st->dim]) {
                snprintf(why, nwhy, "shard: range outside the local block");
                ok = false;
                break;
            }
            o->v = alloc_box(rank, o->len);
            copy_region(rank, mine->v, mine->len, so, o->v, o->len, zero, o->len);
            break;
        }
        case STEP_TO_PARTIAL: {
            int64_t n = box_numel(rank, mine->len);
            o->v = alloc_box(rank, o->len);
            bool keep = st->red != RED_SUM || me == 0;
            for (int64_t e = 0; e < n; e++)
                o->v[e] = keep ? mine->v[e] : 0;
            break;
        }
        }
    }
    if (!ok) {
        for (int r = 0; r < s->nranks; r++)
            free(out[r].v);
        free(out);
        return NULL;
    }
    return out;
}

/* Runs steps from `from` on fresh data; true if every state checks. */
static bool run_checked(const IrMesh *m, const IrType *t, Rng *rng, const Placement *from,
                        const PlanStep *steps, int nsteps, char *why, size_t nwhy)
{
    int64_t n = ir_type_numel(t);
    double *g = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        g[i] = (double)(3 * i + 1) * ((i & 1) ? -1 : 1);
    Sim s = {m, t, ir_mesh_nranks(m), g, rng};
    Local *cur = gen_state(&s, from);
    bool ok = check_state(&s, from, cur, why, nwhy);
    Placement p = *from;
    for (int i = 0; i < nsteps && ok; i++) {
        Local *nx = apply_step(&s, cur, &steps[i], why, nwhy);
        free_state(&s, cur);
        cur = nx;
        if (!nx) {
            ok = false;
            break;
        }
        p = steps[i].after;
        ok = check_state(&s, &p, cur, why, nwhy);
        if (!ok) {
            size_t k = strlen(why);
            snprintf(why + k, nwhy - k, " (after step %d, %s)", i, plan_step_name(steps[i].kind));
        }
    }
    if (cur)
        free_state(&s, cur);
    free(g);
    return ok;
}

/* ---- step volumes by brute force over every rank ---------------------------------- */

static int64_t numel_at(const IrMesh *m, const IrType *t, const Placement *p, int r)
{
    int c[IR_MAX_AXES];
    ir_mesh_coords(m, r, c);
    IrType lt = pl_local_type(m, t, p, c);
    return ir_type_numel(&lt);
}

/* The largest number of elements any rank sends in the step, from the
 * definitions (ring all_gather: B_full - successor's piece, ring
 * reduce_scatter: input - own piece, all_to_all: block - kept part). */
static int64_t brute_elems(const IrMesh *m, const IrType *t, const Placement *before, const PlanStep *st)
{
    int nr = ir_mesh_nranks(m), mem[4096], me;
    Sim s = {m, t, nr, NULL, NULL};
    int64_t best = 0;
    for (int r = 0; r < nr; r++) {
        int k = group_of(&s, r, st->axes, mem, &me);
        int succ = mem[(me + 1) % k];
        int64_t v = 0, nb = numel_at(m, t, before, r), na = numel_at(m, t, &st->after, r);
        switch (st->kind) {
        case STEP_ALL_REDUCE:
            v = 2 * (nb - nb / k);
            break;
        case STEP_ALL_GATHER:
            v = na - numel_at(m, t, before, succ);
            break;
        case STEP_REDUCE_SCATTER:
            v = nb - na;
            break;
        case STEP_ALL_TO_ALL: {
            int c[IR_MAX_AXES];
            ir_mesh_coords(m, r, c);
            IrType lb = pl_local_type(m, t, before, c), la = pl_local_type(m, t, &st->after, c);
            lb.dims[st->dim2] = la.dims[st->dim2];
            v = nb - ir_type_numel(&lb);
            break;
        }
        default:
            break;
        }
        if (v > best)
            best = v;
    }
    return best;
}

/* ---- plans built by hand ---------------------------------------------------------- */

static PlanStep step(StepKind k, unsigned axes, RedOp red, int dim, int dim2)
{
    PlanStep st;
    memset(&st, 0, sizeof st);
    st.kind = k;
    st.axes = axes;
    st.red = red;
    st.dim = dim;
    st.dim2 = dim2;
    return st;
}

/* Replicate everything (innermost first), then build the target: always legal. */
static int naive_plan(const CostModel *cm, const IrMesh *m, const IrType *t, const Placement *from,
                      const Placement *to, PlanStep *out, double *cost)
{
    int n = 0;
    Placement cur = *from;
    *cost = 0;
    for (int a = m->naxes - 1; a >= 0; a--) {
        PlanStep st;
        if (cur.e[a].kind == PL_P)
            st = step(STEP_ALL_REDUCE, 1u << a, cur.e[a].red, -1, -1);
        else if (cur.e[a].kind == PL_S)
            st = step(STEP_ALL_GATHER, 1u << a, RED_SUM, cur.e[a].dim, -1);
        else
            continue;
        if (!plan_step_make(cm, m, t, &cur, &st))
            return -1;
        out[n++] = st;
        *cost += st.cost;
        cur = st.after;
    }
    for (int a = 0; a < m->naxes; a++) {
        PlanStep st;
        if (to->e[a].kind == PL_P)
            st = step(STEP_TO_PARTIAL, 1u << a, to->e[a].red, -1, -1);
        else if (to->e[a].kind == PL_S)
            st = step(STEP_SHARD, 1u << a, RED_SUM, to->e[a].dim, -1);
        else
            continue;
        if (!plan_step_make(cm, m, t, &cur, &st))
            return -1;
        out[n++] = st;
        *cost += st.cost;
        cur = st.after;
    }
    return n;
}

/* ---- 1. cost formulas, names, plan_str ------------------------------------------- */

static void test_basics(void)
{
    Arena *ar = arena_new();
    CostModel cm = cost_model_default();
    CHECK(cm.alpha[0] == 5e-6 && fabs(cm.beta[3] - 1e-10) < 1e-22, "default alpha/beta");
    CHECK(fabs(cm.copy_time - 5e-11) < 1e-22 && fabs(cm.flop_time - 2e-11) < 1e-22, "default copy/flop");

    static const StepKind kinds[] = {STEP_ALL_REDUCE, STEP_REDUCE_SCATTER, STEP_ALL_GATHER,
                                     STEP_ALL_TO_ALL, STEP_SHARD, STEP_TO_PARTIAL};
    static const char *const names[] = {"all_reduce", "reduce_scatter", "all_gather", "all_to_all",
                                        "shard", "to_partial"};
    for (int i = 0; i < 6; i++) {
        CHECK(!strcmp(plan_step_name(kinds[i]), names[i]), "plan_step_name %d", i);
        CHECK(!strcmp(ir_op_name(plan_step_op(kinds[i])), names[i]), "plan_step_op %d", i);
    }

    /* the MLP of the spec: y = h @ w2 is [S(0), P(sum)] -> [S(0), R] */
    int sz[2] = {2, 2};
    IrMesh m = mk_mesh(2, sz);
    int64_t d1[2] = {8, 512};
    IrType t = mk_type(2, d1);
    Placement from = pl_parse("S0,P"), to = pl_parse("S0,R");
    Plan p;
    CHECK(plan_redistribute(&cm, &m, &t, &from, &to, &p), "mlp plan");
    const char *s = plan_str(ar, &m, &p);
    CHECK(!strcmp(s, "all_reduce(tp, sum) -> M[S(0), R]"), "mlp plan_str: %s", s);
    /* local 4 x 512 f32 = 8192 B; ring: 2 (n - n/2) elements = 8192 B */
    CHECK(p.nsteps == 1 && p.ncollectives == 1 && p.bytes == 8192, "mlp bytes %lld", (long long)p.bytes);
    CHECK(fabs(p.cost - (3 * 5e-6 + 8192e-10)) < 1e-11, "mlp cost %g", p.cost);
    CHECK(fabs(plan_cost(&cm, &m, &t, &from, &to) - p.cost) < 1e-15, "plan_cost");
    CHECK(plan_cost(&cm, &m, &t, &from, &from) == 0, "plan_cost of no change");
    printf("basics: %s  bytes %lld  cost %.3g s\n", s, (long long)p.bytes, p.cost);

    /* all_gather of dim 1 over tp, 8 x 8: a rank sends its 8x4 half */
    int64_t d2[2] = {8, 8};
    IrType t2 = mk_type(2, d2);
    from = pl_parse("R,S1"), to = pl_parse("R,R");
    CHECK(plan_redistribute(&cm, &m, &t2, &from, &to, &p) && p.nsteps == 1 &&
              p.steps[0].kind == STEP_ALL_GATHER && p.bytes == 128,
          "all_gather bytes %lld", (long long)p.bytes);
    CHECK(fabs(p.cost - (2 * 5e-6 + 128e-10)) < 1e-11, "all_gather cost");
    s = plan_str(ar, &m, &p);
    CHECK(!strcmp(s, "all_gather(tp, dim 1) -> M[R, R]"), "plan_str %s", s);

    /* all_to_all dim 0 -> 1 over dp: a rank keeps a 4x4 quarter of its 4x8 */
    from = pl_parse("S0,R"), to = pl_parse("S1,R");
    CHECK(plan_redistribute(&cm, &m, &t2, &from, &to, &p) && p.nsteps == 1 &&
              p.steps[0].kind == STEP_ALL_TO_ALL && p.bytes == 64,
          "all_to_all bytes %lld", (long long)p.bytes);
    s = plan_str(ar, &m, &p);
    CHECK(!strcmp(s, "all_to_all(dp, dim 0 -> 1) -> M[S(1), R]"), "plan_str %s", s);

    /* reduce_scatter: P -> S(0) over tp: a rank sends its 8x8 minus its 4x8 */
    from = pl_parse("R,P"), to = pl_parse("R,S0");
    CHECK(plan_redistribute(&cm, &m, &t2, &from, &to, &p) && p.nsteps == 1 &&
              p.steps[0].kind == STEP_REDUCE_SCATTER && p.bytes == 128,
          "reduce_scatter bytes %lld", (long long)p.bytes);
    CHECK(fabs(p.cost - (2 * 5e-6 + 128e-10)) < 1e-11, "reduce_scatter cost");

    /* local steps: no collective, copy_time * bytes */
    from = pl_parse("R,R"), to = pl_parse("S0,R");
    CHECK(plan_redistribute(&cm, &m, &t2, &from, &to, &p) && p.nsteps == 1 && p.ncollectives == 0 &&
              p.steps[0].kind == STEP_SHARD && p.bytes == 0,
          "shard");
    CHECK(fabs(p.cost - 128 * 5e-11) < 2e-12 && p.cost > 0, "shard cost %g", p.cost);

    /* uneven: 5 elements over 4 ranks are 2,2,1,0: a rank sends at most 5 - 0 */
    int sz4[1] = {4};
    IrMesh m4 = mk_mesh(1, sz4);
    int64_t d5[1] = {5};
    IrType t5 = mk_type(1, d5);
    from = pl_parse("S0"), to = pl_parse("R");
    CHECK(plan_redistribute(&cm, &m4, &t5, &from, &to, &p) && p.bytes == 20, "uneven gather %lld",
          (long long)p.bytes);
    CHECK(fabs(p.cost - (4 * 5e-6 + 20e-10)) < 1e-11, "uneven gather cost: call + (k-1) alpha");
    /* all_reduce of 5 elements over 4 ranks: 2 (5 - 1) elements */
    from = pl_parse("P"), to = pl_parse("R");
    CHECK(plan_redistribute(&cm, &m4, &t5, &from, &to, &p) && p.bytes == 32, "uneven all_reduce %lld",
          (long long)p.bytes);
    CHECK(fabs(p.cost - (5 * 5e-6 + 32e-10)) < 1e-11, "all_reduce cost: call + 2 log2(k) alpha");
    int64_t d0[1] = {0};
    IrType t0 = mk_type(1, d0);
    CHECK(plan_redistribute(&cm, &m4, &t0, &from, &to, &p) && p.bytes == 0, "empty tensor");

    /* the slowest axis's alpha and beta on a merged group */
    CostModel slow = cm;
    slow.alpha[0] = 1e-3;
    slow.beta[1] = 1e-8;
    int64_t dbig[2] = {1024, 1024};
    IrType tb = mk_type(2, dbig);
    from = pl_parse("P,P"), to = pl_parse("R,R");
    PlanStep st = step(STEP_ALL_REDUCE, 3, RED_SUM, -1, -1);
    CHECK(plan_step_make(&slow, &m, &tb, &from, &st), "merged all_reduce legal");
    /* k = 4: call + 2 log2(4) alpha + 2 * 3/4 * 4 MiB */
    CHECK(st.bytes == 6291456 && fabs(st.cost - (5e-3 + 6291456e-8)) < 1e-9, "merged cost %g", st.cost);

    /* a merged all_reduce that moves fewer bytes than one per axis wins
     * (issue 9: 4 x 2 mesh, P,P -> R,R: 2688 B in one call, not 3840 B in two) */
    int sz42[2] = {4, 2};
    IrMesh m42 = mk_mesh(2, sz42);
    int64_t d256[1] = {256};
    IrType t256 = mk_type(1, d256);
    from = pl_parse("P,P"), to = pl_parse("R,R");
    CHECK(plan_redistribute(&cm, &m42, &t256, &from, &to, &p) && p.ncollectives == 1 &&
              p.bytes == 1792,
          "4x2 P,P -> R,R: %d collectives, %lld bytes (%s)", p.ncollectives, (long long)p.bytes,
          plan_str(ar, &m42, &p));
    printf("basics: cost formulas, uneven and empty volumes, names, plan_str ok\n");
    arena_free(ar);
}

/* ---- 2. legality ----------------------------------------------------------------------- */

static void test_legality(void)
{
    CostModel cm = cost_model_default();
    int sz[3] = {2, 2, 2};
    IrMesh m2 = mk_mesh(2, sz), m3 = mk_mesh(3, sz);
    int64_t d[3] = {8, 8, 8};
    IrType t = mk_type(3, d);
    struct {
        const IrMesh *m;
        const char *from;
        StepKind k;
        unsigned axes;
        RedOp red;
        int dim, dim2;
        bool legal;
        const char *why;
    } cases[] = {
        {&m2, "S0,S0", STEP_ALL_GATHER, 1, RED_SUM, 0, -1, false, "outer split of a nested dim"},
        {&m2, "S0,S0", STEP_ALL_GATHER, 2, RED_SUM, 0, -1, true, "innermost split"},
        {&m2, "S0,S0", STEP_ALL_GATHER, 3, RED_SUM, 0, -1, true, "both splits at once"},
        {&m2, "S0,S1", STEP_ALL_GATHER, 3, RED_SUM, 0, -1, false, "tp does not split dim 0"},
        {&m2, "R,S0", STEP_SHARD, 1, RED_SUM, 0, -1, false, "shard under an inner split"},
        {&m2, "S0,R", STEP_SHARD, 2, RED_SUM, 0, -1, true, "shard inside an outer split"},
        {&m2, "S0,S1", STEP_ALL_TO_ALL, 1, RED_SUM, 0, 1, false, "into a dim split by tp"},
        {&m2, "S0,S1", STEP_ALL_TO_ALL, 2, RED_SUM, 1, 0, true, "tp: dim 1 -> 0 (nests in dp)"},
        {&m2, "S0,S1", STEP_ALL_TO_ALL, 1, RED_SUM, 0, 2, true, "dp: dim 0 -> 2"},
        {&m2, "S0,S0", STEP_ALL_TO_ALL, 3, RED_SUM, 0, 1, true, "merged all_to_all of a nested dim"},
        {&m2, "R,P", STEP_REDUCE_SCATTER, 2, RED_SUM, 0, -1, true, "reduce_scatter"},
        {&m2, "P,S0", STEP_REDUCE_SCATTER, 1, RED_SUM, 0, -1, false, "reduce_scatter under a split"},
        {&m2, "P,Pmax", STEP_ALL_REDUCE, 1, RED_SUM, -1, -1, false, "sum past an inner max"},
        {&m2, "P,Pmax", STEP_ALL_REDUCE, 2, RED_MAX, -1, -1, true, "innermost partial first"},
        {&m2, "P,Pavg", STEP_ALL_REDUCE, 1, RED_SUM, -1, -1, true, "sum and avg commute"},
        {&m2, "P,Pmax", STEP_ALL_REDUCE, 3, RED_SUM, -1, -1, false, "merge needs one kind"},
        {&m2, "P,S0", STEP_TO_PARTIAL, 1, RED_MAX, -1, -1, false, "partial -> partial"},
        {&m3, "S0,S1,S0", STEP_ALL_GATHER, 5, RED_SUM, 0, -1, true, "merged over dp+pp"},
        {&m3, "S0,S0,S0", STEP_ALL_GATHER, 5, RED_SUM, 0, -1, false, "dp+pp not consecutive"},
        {&m3, "S0,S0,S0", STEP_ALL_GATHER, 6, RED_SUM, 0, -1, true, "tp+pp innermost"},
        {&m3, "R,R,S0", STEP_SHARD, 3, RED_SUM, 0, -1, false, "merged shard under pp"},
        {&m3, "R,R,S1", STEP_SHARD, 3, RED_SUM, 0, -1, true, "merged shard"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        Placement from = pl_parse(cases[i].from);
        PlanStep st = step(cases[i].k, cases[i].axes, cases[i].red, cases[i].dim, cases[i].dim2);
        bool legal = plan_step_make(&cm, cases[i].m, &t, &from, &st);
        CHECK(legal == cases[i].legal, "legality %d (%s): got %d", i, cases[i].why, legal);
        if (legal) {
            /* a legal step must also be right on data */
            Rng rng = {0x9e3779b97f4a7c15ull + (uint64_t)i};
            char why[256] = "";
            int64_t ds[3] = {5, 3, 7};
            IrType tu = mk_type(3, ds);
            PlanStep su = step(cases[i].k, cases[i].axes, cases[i].red, cases[i].dim, cases[i].dim2);
            CHECK(plan_step_make(&cm, cases[i].m, &tu, &from, &su), "legal on uneven");
            CHECK(run_checked(cases[i].m, &tu, &rng, &from, &su, 1, why, sizeof why), "legal step %d wrong: %s",
                  i, why);
        }
    }
    printf("legality: %d step cases ok (nested splits, merged axes, mixed partials)\n", n);
}

/* ---- 3./4. random pairs: data checker and optimality ---------------------------------- */

static Placement rand_pl(Rng *rng, int naxes, int rank)
{
    Placement p = pl_replicated(naxes);
    for (int a = 0; a < naxes; a++) {
        int x = rndi(rng, 20);
        if (rank > 0 && x < 9) {
            p.e[a].kind = PL_S;
            /* few distinct dims, so that splits nest often */
            p.e[a].dim = rndi(rng, rank < 2 ? rank : 2 + rndi(rng, rank - 1));
        } else if (x < 15) {
            p.e[a].kind = PL_R;
        } else {
            p.e[a].kind = PL_P;
            p.e[a].red = rndi(rng, 3) ? RED_SUM : (RedOp)(1 + rndi(rng, 3));
        }
    }
    return p;
}

static void rand_case(Rng *rng, IrMesh *m, IrType *t, int maxsize, int maxranks)
{
    int sizes[IR_MAX_AXES], n = 1 + rndi(rng, 4), nr = 1;
    for (int a = 0; a < n; a++) {
        sizes[a] = 1 + rndi(rng, maxsize);
        if (nr * sizes[a] > maxranks)
            sizes[a] = 1 + (maxranks / nr > 1 ? rndi(rng, maxranks / nr) : 0);
        nr *= sizes[a];
    }
    *m = mk_mesh(n, sizes);
    int64_t dims[IR_MAX_RANK];
    /* rank 5 now and then: the search then leaves some dims out */
    int rank = rndi(rng, 10) == 0 ? 5 : rndi(rng, 4);
    for (int d = 0; d < rank; d++)
        dims[d] = rndi(rng, 12) == 0 ? 0 : 1 + rndi(rng, rank == 5 ? 3 : rndi(rng, 2) ? 4 : 9);
    *t = mk_type(rank, dims);
}

/* Cheapest cost over every step sequence of length <= depth (independent
 * enumeration of all steps through plan_step_make). */
static double exhaustive(const CostModel *cm, const IrMesh *m, const IrType *t, const Placement *cur,
                         const Placement *to, int depth, double spent, double best)
{
    if (pl_eq(cur, to))
        return spent < best ? spent : best;
    if (depth == 0 || spent >= best)
        return best;
    unsigned all = (1u << m->naxes) - 1;
    for (int k = 0; k < 6; k++)
        for (unsigned A = 1; A <= all; A++)
            for (int r = 0; r < 4; r++)
                for (int d = -1; d < t->rank; d++)
                    for (int d2 = -1; d2 < t->rank; d2++) {
                        PlanStep st = step((StepKind)k, A, (RedOp)r, d, d2);
                        if (!plan_step_make(cm, m, t, cur, &st))
                            continue;
                        /* normalised fields: count each step once */
                        if (st.dim != d || st.dim2 != d2 || st.red != (RedOp)r)
                            continue;
                        best = exhaustive(cm, m, t, &st.after, to, depth - 1, spent + st.cost, best);
                    }
    return best;
}

static void test_random(void)
{
    CostModel cm = cost_model_default();
    Rng rng = {0x243f6a8885a308d3ull};
    int npairs = 4000, nsteps = 0, maxsteps = 0, nbytes_checked = 0, nnested = 0, nuneven = 0, nmerged = 0, nempty = 0, nnaive_worse = 0;
    char why[512];
    for (int i = 0; i < npairs; i++) {
        IrMesh m;
        IrType t;
        rand_case(&rng, &m, &t, 4, 48);
        /* small tensors are latency bound, big ones bandwidth bound: vary beta */
        CostModel c = cm;
        if (i & 1)
            for (int a = 0; a < IR_MAX_AXES; a++)
                c.beta[a] = 1e-5 * (1 + rndi(&rng, 3)), c.alpha[a] = 5e-6 * (1 + rndi(&rng, 2));
        Placement from = rand_pl(&rng, m.naxes, t.rank), to = rand_pl(&rng, m.naxes, t.rank);
        Plan p;
        bool ok = plan_redistribute(&c, &m, &t, &from, &to, &p);
        char a[128], b[128];
        CHECK(ok, "no plan %s -> %s", pls(&m, &from, a), pls(&m, &to, b));
        if (!ok)
            continue;
        /* the plan's own bookkeeping */
        double cost = 0;
        int64_t bytes = 0;
        int ncoll = 0;
        Placement cur = from;
        for (int j = 0; j < p.nsteps; j++) {
            PlanStep again = p.steps[j];
            CHECK(plan_step_make(&c, &m, &t, &cur, &again) && pl_eq(&again.after, &p.steps[j].after) &&
                      again.bytes == p.steps[j].bytes,
                  "step %d not legal or not reproducible", j);
            int64_t be = brute_elems(&m, &t, &cur, &p.steps[j]);
            CHECK(be * 4 == p.steps[j].bytes, "step %d (%s) bytes %lld, every-rank count %lld", j,
                  plan_step_name(p.steps[j].kind), (long long)p.steps[j].bytes, (long long)be * 4);
            nbytes_checked++;
            cost += p.steps[j].cost;
            bytes += p.steps[j].bytes;
            ncoll += p.steps[j].kind != STEP_SHARD && p.steps[j].kind != STEP_TO_PARTIAL;
            if (__builtin_popcount(p.steps[j].axes) > 1)
                nmerged++;
            cur = p.steps[j].after;
        }
        CHECK(pl_eq(&cur, &to), "plan does not end at the target");
        CHECK(fabs(cost - p.cost) <= 1e-12 * cost && bytes == p.bytes && ncoll == p.ncollectives,
              "plan totals");
        /* the data */
        ok = run_checked(&m, &t, &rng, &from, p.steps, p.nsteps, why, sizeof why);
        CHECK(ok, "data wrong for %s -> %s on %d axes, type %lld,%lld,%lld (rank %d): %s\n  plan: %s",
              pls(&m, &from, a), pls(&m, &to, b), m.naxes, (long long)t.dims[0], (long long)t.dims[1],
              (long long)t.dims[2], t.rank, why, plan_str(arena_new(), &m, &p));
        /* never worse than replicate-then-rebuild, which must be right too */
        PlanStep nv[2 * IR_MAX_AXES];
        double ncost;
        int nn = naive_plan(&c, &m, &t, &from, &to, nv, &ncost);
        CHECK(nn >= 0, "naive plan illegal");
        CHECK(p.cost <= ncost * (1 + 1e-12), "plan dearer than the naive plan");
        nnaive_worse += p.cost < ncost * (1 - 1e-9);
        CHECK(run_checked(&m, &t, &rng, &from, nv, nn, why, sizeof why), "naive plan data: %s", why);
        nsteps += p.nsteps;
        if (p.nsteps > maxsteps)
            maxsteps = p.nsteps;
        for (int d = 0; d < t.rank; d++) {
            int nf = 0, nt = 0;
            for (int x = 0; x < m.naxes; x++) {
                nf += from.e[x].kind == PL_S && from.e[x].dim == d;
                nt += to.e[x].kind == PL_S && to.e[x].dim == d;
            }
            nnested += nf > 1 || nt > 1;
            for (int x = 0; x < m.naxes; x++)
                if (m.size[x] > 1 && t.dims[d] % m.size[x]) {
                    nuneven++;
                    break;
                }
            for (int x = 0; x < m.naxes; x++)
                if (t.dims[d] < m.size[x]) {
                    nempty++;
                    break;
                }
        }
    }
    printf("random: the volume of %d steps equals the per-rank count over every rank\n", nbytes_checked);
    printf("random: %d pairs, %d steps executed on data and checked on every rank "
           "(%d dims split nested, %d uneven dims, %d dims with empty shards, %d merged steps); "
           "%d plans strictly cheaper than replicate-then-rebuild; longest plan %d steps\n",
           npairs, nsteps, nnested, nuneven, nempty, nmerged, nnaive_worse, maxsteps);

    /* optimality against an exhaustive search of every step sequence */
    int nex = 0;
    for (int i = 0; i < 150; i++) {
        int sizes[2] = {1 + rndi(&rng, 3), 1 + rndi(&rng, 3)};
        IrMesh m = mk_mesh(1 + rndi(&rng, 2), sizes);
        int64_t dims[2] = {1 + rndi(&rng, 7), 1 + rndi(&rng, 7)};
        IrType t = mk_type(rndi(&rng, 3), dims);
        CostModel c = cm;
        if (i & 1)
            for (int a = 0; a < IR_MAX_AXES; a++)
                c.beta[a] = 1e-5;
        Placement from = rand_pl(&rng, m.naxes, t.rank), to = rand_pl(&rng, m.naxes, t.rank);
        Plan p;
        if (!plan_redistribute(&c, &m, &t, &from, &to, &p))
            continue;
        double best = exhaustive(&c, &m, &t, &from, &to, p.nsteps + 1, 0, p.cost * (1 + 1e-9) + 1e-15);
        char a[128], b[128];
        CHECK(best >= p.cost * (1 - 1e-9), "exhaustive search found a cheaper plan (%g < %g) for %s -> %s, "
              "dims %lld,%lld rank %d sizes %d,%d: %s", best, p.cost, pls(&m, &from, a), pls(&m, &to, b),
              (long long)t.dims[0], (long long)t.dims[1], t.rank, m.size[0], m.naxes > 1 ? m.size[1] : 0,
              plan_str(arena_new(), &m, &p));
        nex++;
    }
    printf("optimality: %d small cases match an exhaustive search over all legal step sequences\n", nex);
}

/* ---- 5. planning time ----------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_timing(void)
{
    CostModel cm = cost_model_default();
    Rng rng = {0x13198a2e03707344ull};
    enum { N = 1500 };
    static double ts[N];
    Plan p;
    int nbig = 0;
    for (int i = 0; i < N; i++) {
        IrMesh m;
        IrType t;
        int sizes[IR_MAX_AXES];
        if (i % 3 == 0) {
            /* the worst shape of the search: 4 axes and high-rank tensors */
            for (int a = 0; a < 4; a++)
                sizes[a] = 2 + rndi(&rng, 7);
            m = mk_mesh(4, sizes);
            /* sizes up to 2^32 elements in all */
            int64_t dims[IR_MAX_RANK];
            int rank = 3 + rndi(&rng, IR_MAX_RANK - 2);
            for (int d = 0; d < rank; d++)
                dims[d] = 1 + rndi(&rng, 1 << (32 / rank));
            t = mk_type(rank, dims);
            nbig++;
        } else {
            rand_case(&rng, &m, &t, 8, 4096);
            for (int d = 0; d < t.rank; d++)
                t.dims[d] *= 1 + rndi(&rng, 500);
        }
        Placement from = rand_pl(&rng, m.naxes, t.rank), to = rand_pl(&rng, m.naxes, t.rank);
        double t0 = now_cpu();
        bool ok = plan_redistribute(&cm, &m, &t, &from, &to, &p);
        ts[i] = now_cpu() - t0;
        char a[128], b[128];
        CHECK(ok, "timing: no plan for %s -> %s (rank %d, sizes %d,%d,%d,%d)", pls(&m, &from, a), pls(&m, &to, b),
              t.rank, m.size[0], m.size[1], m.size[2], m.size[3]);
    }
    qsort(ts, N, sizeof ts[0], cmp_double);
    printf("timing: %d calls (%d on 4-axis meshes with rank 3..8 tensors): median %.3f ms, "
           "p99 %.3f ms, max %.3f ms (CPU time)\n",
           N, nbig, ts[N / 2] * 1e3, ts[N * 99 / 100] * 1e3, ts[N - 1] * 1e3);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
    CHECK(ts[N / 2] < 10e-3, "median planning time %.3f ms >= 10 ms", ts[N / 2] * 1e3);
    CHECK(ts[N - 1] < 10e-3, "max planning time %.3f ms >= 10 ms", ts[N - 1] * 1e3);
#else
    printf("timing: bound of 10 ms not asserted in an unoptimised or sanitised build\n");
#endif
}

/* ---- 6. DTensor comparison --------------------------------------------------------------- */

/* DTensor's default planner (torch/distributed/tensor/_redistribute.py,
 * generate_greedy_transform_infos), rewritten from its description: if the
 * source is sharded, walk mesh dims from last to first; a target S(d) whose
 * splits of d on lower mesh dims differ between the current and the target
 * placement becomes R; emit current -> target where they differ.  Then walk
 * mesh dims from first to last and emit what still differs.  Each (mesh dim,
 * src -> dst) is one step: S->R all_gather, P->R all_reduce, P->S
 * reduce_scatter, R->S local chunk, S(a)->S(b) all_to_all, R->P local;
 * P->P of another kind is a silent no-op in DTensor.  Returns the count, or
 * -1 when DTensor has no correct plan. */
static int dtensor_plan(const CostModel *cm, const IrMesh *m, const IrType *t, const Placement *src,
                        const Placement *dst, PlanStep *out)
{
    Placement cur = *src;
    struct {
        int axis;
        PlEntry to;
    } tr[2 * IR_MAX_AXES];
    unsigned split = 0;
    for (int a = 0; a < m->naxes; a++)
        if (src->e[a].kind == PL_S)
            split |= 1u << a;
    int n = 0, nshards = rt_grid_count(m->naxes, m->size, split);
    if (m->naxes > 1 && nshards > 1)
        for (int md = m->naxes - 1; md >= 0; md--) {
            PlEntry target = dst->e[md];
            if (target.kind == PL_S) {
                bool same = true;
                for (int i = 0; i < md; i++) {
                    bool cs = cur.e[i].kind == PL_S && cur.e[i].dim == target.dim;
                    bool ts = dst->e[i].kind == PL_S && dst->e[i].dim == target.dim;
                    same &= cs == ts;
                }
                if (!same)
                    target = (PlEntry){PL_R, 0, RED_SUM};
            }
            Placement one = pl_replicated(1), two = pl_replicated(1);
            one.e[0] = cur.e[md];
            two.e[0] = target;
            if (!pl_eq(&one, &two)) {
                tr[n].axis = md;
                tr[n++].to = target;
                cur.e[md] = target;
            }
        }
    for (int md = 0; md < m->naxes; md++) {
        Placement one = pl_replicated(1), two = pl_replicated(1);
        one.e[0] = cur.e[md];
        two.e[0] = dst->e[md];
        if (!pl_eq(&one, &two)) {
            tr[n].axis = md;
            tr[n++].to = dst->e[md];
            cur.e[md] = dst->e[md];
        }
    }
    cur = *src;
    for (int i = 0; i < n; i++) {
        PlEntry f = cur.e[tr[i].axis], to = tr[i].to;
        unsigned ax = 1u << tr[i].axis;
        PlanStep st;
        if (f.kind == PL_S && to.kind == PL_R)
            st = step(STEP_ALL_GATHER, ax, RED_SUM, f.dim, -1);
        else if (f.kind == PL_P && to.kind == PL_R)
            st = step(STEP_ALL_REDUCE, ax, f.red, -1, -1);
        else if (f.kind == PL_P && to.kind == PL_S)
            st = step(STEP_REDUCE_SCATTER, ax, f.red, to.dim, -1);
        else if (f.kind == PL_R && to.kind == PL_S)
            st = step(STEP_SHARD, ax, RED_SUM, to.dim, -1);
        else if (f.kind == PL_S && to.kind == PL_S)
            st = step(STEP_ALL_TO_ALL, ax, RED_SUM, f.dim, to.dim);
        else if (f.kind == PL_R && to.kind == PL_P)
            st = step(STEP_TO_PARTIAL, ax, to.red, -1, -1);
        else
            return -1; /* P -> P': no-op (wrong data); S -> P: error */
        if (!plan_step_make(cm, m, t, &cur, &st))
            return -1;
        out[i] = st;
        cur = st.after;
    }
    return n;
}

static void steps_str(const IrMesh *m, const PlanStep *st, int n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    if (n == 0)
        snprintf(buf, len, "none");
    for (int i = 0; i < n && k < len; i++) {
        char axes[64] = "";
        size_t q = 0;
        for (int a = 0; a < m->naxes; a++)
            if (st[i].axes & (1u << a))
                q += (size_t)snprintf(axes + q, sizeof axes - q, "%s%s", q ? "+" : "", m->axis_name[a]);
        const char *nm = plan_step_name(st[i].kind);
        char arg[32] = "";
        if (st[i].kind == STEP_ALL_TO_ALL)
            snprintf(arg, sizeof arg, " %d>%d", st[i].dim, st[i].dim2);
        else if (st[i].dim >= 0)
            snprintf(arg, sizeof arg, " %d", st[i].dim);
        else if (st[i].kind == STEP_ALL_REDUCE || st[i].kind == STEP_TO_PARTIAL)
            snprintf(arg, sizeof arg, " %s", ir_red_name(st[i].red));
        k += (size_t)snprintf(buf + k, len - k, "%s%s(%s%s)", i ? " " : "", nm, axes, arg);
    }
}

typedef struct Row {
    int naxes;
    const char *from, *to;
    /* DTensor's plan as derived by hand from its algorithm (kinds in order,
     * "-" = no correct plan); the test checks dtensor_plan agrees */
    const char *dtensor;
} Row;

static const Row rows[] = {
    {2, "S0,S1", "S0,S0", "a2a"},
    {2, "S0,S1", "S1,S0", "ag a2a sh"},
    {2, "S0,S0", "S1,S1", "ag a2a sh"},
    {3, "S0,S0,S0", "S1,S1,S1", "ag ag a2a sh sh"},
    {3, "S0,S1,S0", "S1,S0,S0", "ag ag a2a sh sh"},
    {3, "S0,S1,S2", "S2,S1,S0", "ag a2a sh"},
    {3, "S1,S0,S0", "R,S0,S0", "ag"},
    {3, "S1,R,S0", "R,S0,S0", "ag sh ag sh"},
    {3, "S0,S0,S1", "S0,S1,S2", "a2a a2a"},
    {2, "S0,S0", "R,S0", "ag ag sh"},
    {1, "P", "R", "ar"},
    {1, "P", "S0", "rs"},
    {2, "P,P", "R,R", "ar ar"},
    {2, "P,P", "S0,S0", "rs rs"},
    {2, "S0,P", "S0,R", "ar"},
    {1, "Pmax", "R", "ar"},
    {1, "P", "Pmax", "-"},
};

static const char *short_kind(StepKind k)
{
    static const char *const s[] = {"ar", "rs", "ag", "a2a", "sh", "tp"};
    return s[k];
}

/* Plans every row for a tensor of shape dims; checks both plans on data
 * (on the small shape `check`: legality does not depend on sizes); prints
 * the table when asked.  Returns the rows where dtc uses more collectives
 * (*more_coll) or more bytes (*more_bytes) than DTensor. */
static void run_table(const CostModel *cm, const int64_t *dims, const int64_t *check, int *more_coll,
                      int *more_bytes, char *better, size_t nbetter, char *traded, size_t ntraded)
{
    int sz[3] = {2, 2, 2};
    IrType t = mk_type(3, dims), tc = mk_type(3, check);
    int n = (int)(sizeof rows / sizeof rows[0]);
    size_t bl = 0, tl = 0;
    *more_coll = *more_bytes = 0;
    better[0] = traded[0] = 0;
    printf("  %-9s %-9s | %-62s %-9s | %-52s %s\n", "from", "to", "dtc plan", "coll/bytes", "DTensor plan",
           "coll/bytes");
    for (int i = 0; i < n; i++) {
        IrMesh m = mk_mesh(rows[i].naxes, sz);
        Placement from = pl_parse(rows[i].from), to = pl_parse(rows[i].to);
        Plan p;
        PlanStep dt[2 * IR_MAX_AXES];
        CHECK(plan_redistribute(cm, &m, &t, &from, &to, &p), "table row %d: no plan", i);
        int nd = dtensor_plan(cm, &m, &t, &from, &to, dt);
        /* the hand-derived DTensor plan agrees with the algorithm */
        char kinds[128] = "";
        size_t k = 0;
        for (int j = 0; j < nd; j++)
            k += (size_t)snprintf(kinds + k, sizeof kinds - k, "%s%s", j ? " " : "", short_kind(dt[j].kind));
        if (nd < 0)
            snprintf(kinds, sizeof kinds, "-");
        CHECK(!strcmp(kinds, rows[i].dtensor), "row %d: DTensor plan %s, table says %s", i, kinds,
              rows[i].dtensor);
        /* both plans on data */
        char why[256];
        Rng rng = {0x452821e638d01377ull + (uint64_t)i};
        CHECK(run_checked(&m, &tc, &rng, &from, p.steps, p.nsteps, why, sizeof why), "row %d dtc data: %s", i,
              why);
        if (nd >= 0)
            CHECK(run_checked(&m, &tc, &rng, &from, dt, nd, why, sizeof why), "row %d DTensor data: %s", i, why);
        int64_t dbytes = 0;
        int dcoll = 0;
        double dcost = 0;
        for (int j = 0; j < nd; j++) {
            dbytes += dt[j].bytes;
            dcoll += dt[j].kind != STEP_SHARD && dt[j].kind != STEP_TO_PARTIAL;
            dcost += dt[j].cost;
        }
        char ds[256], dtc[256], row[64];
        steps_str(&m, dt, nd, ds, sizeof ds);
        if (nd < 0)
            snprintf(ds, sizeof ds, "none correct (P(sum)->P(max) is a no-op)");
        steps_str(&m, p.steps, p.nsteps, dtc, sizeof dtc);
        snprintf(row, sizeof row, "[%s]->[%s]", rows[i].from, rows[i].to);
        const char *mark = "";
        if (nd >= 0) {
            CHECK(p.cost <= dcost * (1 + 1e-12), "row %d: dtc dearer than DTensor under the cost model", i);
            bool mc = p.ncollectives > dcoll, mb = p.bytes > dbytes;
            *more_coll += mc;
            *more_bytes += mb;
            if (!mc && !mb && (p.ncollectives < dcoll || p.bytes < dbytes)) {
                mark = "  <- dtc cheaper";
                bl += (size_t)snprintf(better + bl, nbetter - bl, "%s%s", bl ? ", " : "", row);
            } else if (mc && !mb) {
                mark = "  <- traded";
                tl += (size_t)snprintf(traded + tl, ntraded - tl, "%s%s (+%d collective, -%.0f%% bytes)",
                                       tl ? ", " : "", row, p.ncollectives - dcoll,
                                       100.0 * (double)(dbytes - p.bytes) / (double)dbytes);
            }
        }
        printf("  %-9s %-9s | %-62s %d/%-7lld | %-52s %d/%lld%s\n", rows[i].from, rows[i].to, dtc,
               p.ncollectives, (long long)p.bytes, ds, nd >= 0 ? dcoll : 0, (long long)(nd >= 0 ? dbytes : 0),
               mark);
    }
}

static void test_dtensor_table(void)
{
    CostModel cm = cost_model_default();
    char better[1024], traded[1024];
    int mc, mb;
    int64_t small[3] = {8, 8, 8}, big[3] = {128, 128, 128}, check[3] = {6, 5, 7};
    printf("DTensor table, f32[8, 8, 8] (2 KiB, latency bound); plans also run on data, f32[6, 5, 7]:\n");
    run_table(&cm, small, check, &mc, &mb, better, sizeof better, traded, sizeof traded);
    printf("  dtc strictly cheaper (never more collectives nor bytes, fewer of one): %s\n", better);
    CHECK(mc == 0 && mb == 0, "f32[8,8,8]: %d rows with more collectives, %d with more bytes than DTensor", mc, mb);
    printf("DTensor table, f32[128, 128, 128] (8 MiB, bandwidth bound):\n");
    run_table(&cm, big, check, &mc, &mb, better, sizeof better, traded, sizeof traded);
    printf("  dtc strictly cheaper: %s\n", better);
    printf("  dtc trades a collective for bytes (cheaper under the cost model): %s\n", traded[0] ? traded : "none");
    CHECK(mb == 0, "f32[128,128,128]: %d rows with more bytes than DTensor", mb);
}

int main(void)
{
    double t0 = now_cpu();
    test_basics();
    test_legality();
    test_random();
    double t1 = now_cpu();
    test_timing();
    double t2 = now_cpu();
    test_dtensor_table();
    printf("test time: checks %.1f s, timing %.1f s, table %.1f s\n", t1 - t0, t2 - t1, now_cpu() - t2);
    if (fails) {
        printf("test_plan: %d checks FAILED\n", fails);
        return 1;
    }
    printf("test_plan: all checks passed\n");
    return 0;
}
