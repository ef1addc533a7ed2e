/* test_random_programs.c - random dt programs through the sharding pipeline.
 *
 * Each program has a random mesh (1-3 axes of size 1-4), parameters with
 * random shapes (sizes 1-5, so most splits are uneven and some shards are
 * empty) and random placements (R, S, nested S, P of every kind), and a
 * random chain of operations: elementwise with broadcasting, matmul,
 * reductions, softmax, layernorm / rmsnorm, transpose, reshape, embedding,
 * cross_entropy, the shape family (slicing with negative bounds and steps,
 * integer indexing, concat, stack, split, pad with and without a fill,
 * broadcast_to, expand), the routing family (argmax, argmin, one_hot,
 * cumsum, take_along_axis / gather, topk, scatter_add: gen_route, drawn
 * from the op table), explicit redistributes and pinned lets, and results with
 * or without a declared placement.  Each goes through inline -> propagate
 * -> redistribute -> partition -> optimise with ir_verify after every pass
 * and the collective-matching check after partition, and the per-rank
 * program (interp_run_sharded) must agree with the global interpreter.
 * Every other program uses a latency-free cost model, which makes propagate
 * prefer the decompositions that move the fewest bytes (cross-rank softmax
 * and norms, split cross_entropy) over gathering first.
 * Most programs compute in f64 so that any difference is a real bug; some
 * in f32 (tolerance 1e-5 of the result's scale).
 *
 * Usage: test_random_programs [COUNT [SEED]]; or the environment
 * DTC_RANDOM_PROGRAMS=COUNT, DTC_RANDOM_SEED=SEED.  Default: 3000 programs,
 * seed 1.  DTC_RANDOM_ONLY=K runs (and prints) only program K of the
 * sequence.  A failure prints the program and how to rerun it.
 * DTC_RANDOM_DUMP=DIR also writes program K to DIR/prog_K.dt (prog_K.bw.dt
 * when it was planned with the latency-free cost model, `--alpha=0`), so
 * tests/exec/ can compile and execute the same programs.
 */
#include "sharding_harness.h"

#include "ir/ew.h"

#include <inttypes.h>
#include <time.h>

#define MAX_VALS 48

typedef struct Val {
    char name[16];
    int rank;
    int64_t dims[IR_MAX_RANK];
} Val;

typedef struct Gen {
    uint64_t s;       /* xorshift state */
    const char *dt;   /* "f64" or "f32" */
    int naxes, size[3];
    char params[8192], body[16384];
    size_t np, nb;
    int nparams, nlets;
    Val vals[MAX_VALS];
    int nvals;
} Gen;

static uint64_t rnd(Gen *g)
{
    g->s ^= g->s << 13;
    g->s ^= g->s >> 7;
    g->s ^= g->s << 17;
    return g->s;
}

static int rn(Gen *g, int n) { return (int)(rnd(g) % (uint64_t)n); }

static void __attribute__((format(printf, 3, 4))) put(char *buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, 16384 - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}
#define PARAM(...) put(g->params, &g->np, __VA_ARGS__)
#define BODY(...) put(g->body, &g->nb, __VA_ARGS__)

static void shape_str(const Val *v, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int d = 0; d < v->rank; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, d ? ", " : "", v->dims[d]);
    snprintf(buf + k, n - k, "]");
}

/* A random placement for rank r; partial entries only if `partial`. */
static void placement(Gen *g, int rank, bool partial, char *buf, size_t n)
{
    static const char *const reds[] = {"P(sum)", "P(max)", "P(min)", "P(avg)"};
    size_t k = (size_t)snprintf(buf, n, "M[");
    /* a placement mixes at most one partial kind */
    int red = rn(g, 4);
    for (int a = 0; a < g->naxes; a++) {
        int c = rn(g, 10);
        const char *sep = a ? ", " : "";
        if (c < 4 || (c < 8 && rank == 0) || (c >= 8 && !partial))
            k += (size_t)snprintf(buf + k, n - k, "%sR", sep);
        else if (c < 8)
            k += (size_t)snprintf(buf + k, n - k, "%sS(%d)", sep, rn(g, rank));
        else
            k += (size_t)snprintf(buf + k, n - k, "%s%s", sep, reds[red]);
    }
    snprintf(buf + k, n - k, "]");
}

static Val *add_val(Gen *g, const char *prefix, int rank, const int64_t *dims)
{
    if (g->nvals == MAX_VALS)
        g->nvals--; /* forget the newest: programs stay short anyway */
    Val *v = &g->vals[g->nvals++];
    snprintf(v->name, sizeof v->name, "%s%d", prefix, prefix[0] == 'p' ? g->nparams : g->nlets);
    v->rank = rank;
    for (int d = 0; d < rank; d++)
        v->dims[d] = dims[d];
    return v;
}

/* A new float parameter of the given shape with a random placement (dim 0
 * split on at least one axis if split0) and a random initialiser (`lo`..`hi`
 * uniform when hi > lo). */
static Val *new_param_pl(Gen *g, int rank, const int64_t *dims, double lo, double hi, bool split0)
{
    Val *v = add_val(g, "p", rank, dims);
    g->nparams++;
    char sh[64], pl[128];
    shape_str(v, sh, sizeof sh);
    placement(g, rank, hi <= lo && !split0, pl, sizeof pl);
    if (split0) { /* entry k of "M[e0, e1, ...]" becomes S(0) */
        int k = rn(g, g->naxes);
        char out[128], *p = pl + 2;
        size_t o = 2;
        memcpy(out, "M[", 2);
        for (int a = 0; a < g->naxes; a++) {
            char *end = strchr(p, a + 1 < g->naxes ? ',' : ']');
            if (a == k)
                o += (size_t)snprintf(out + o, sizeof out - o, "S(0)");
            else
                o += (size_t)snprintf(out + o, sizeof out - o, "%.*s", (int)(end - p), p);
            o += (size_t)snprintf(out + o, sizeof out - o, "%s", a + 1 < g->naxes ? ", " : "]");
            p = end + (a + 1 < g->naxes ? 2 : 1);
        }
        snprintf(pl, sizeof pl, "%s", out);
    }
    if (hi > lo)
        PARAM("%s    %s: %s%s @ %s = rand(seed=%d, lo=%g, hi=%g)", g->np ? ",\n" : "", v->name, g->dt, sh, pl,
              g->nparams, lo, hi);
    else
        PARAM("%s    %s: %s%s @ %s = randn(seed=%d)", g->np ? ",\n" : "", v->name, g->dt, sh, pl, g->nparams);
    return v;
}

static Val *new_param(Gen *g, int rank, const int64_t *dims, double lo, double hi)
{
    return new_param_pl(g, rank, dims, lo, hi, false);
}

static Val *random_param(Gen *g)
{
    int64_t dims[3];
    int rank = 1 + rn(g, 3);
    for (int d = 0; d < rank; d++)
        dims[d] = 1 + rn(g, 5);
    return new_param(g, rank, dims, 0, 0);
}

/* let NAME [@ PL] = EXPR; with the given result shape. */
static Val *let(Gen *g, int rank, const int64_t *dims, const char *expr)
{
    Val *v = add_val(g, "v", rank, dims);
    g->nlets++;
    char pl[128] = "";
    if (rn(g, 8) == 0) {
        char p[120];
        placement(g, rank, rn(g, 3) == 0, p, sizeof p);
        snprintf(pl, sizeof pl, " @ %s", p);
    }
    BODY("    let %s%s = %s;\n", v->name, pl, expr);
    return v;
}

static Val *pick(Gen *g, int min_rank)
{
    int tries = 0;
    for (;;) {
        Val *v = &g->vals[g->nvals - 1 - (rn(g, 3) ? rn(g, g->nvals < 3 ? g->nvals : 3) : rn(g, g->nvals))];
        if (v->rank >= min_rank)
            return v;
        if (++tries > 20)
            return NULL;
    }
}

/* An operand broadcastable to x: x's trailing dims, some set to 1 (an
 * existing value of that shape, or a new parameter), or a literal.  fresh:
 * always a new uniform parameter (never partial), which no computation
 * correlates with x. */
static void partner(Gen *g, const Val *x, char *out, size_t n, bool fresh)
{
    int c = fresh ? 1 + rn(g, 2) : rn(g, 4);
    if (c == 3 && x->rank > 0) { /* a source: x's shape, the index along one dim, scaled */
        char sh[64];
        shape_str(x, sh, sizeof sh);
        snprintf(out, n, "(iota(%s%s, axis=%d) * 0.25)", g->dt, sh, rn(g, x->rank));
        return;
    }
    if (c == 3)
        c = 0;
    if (c == 0) {
        snprintf(out, n, "%.2f", (double)(rn(g, 9) + 1) / 4);
        return;
    }
    int64_t dims[IR_MAX_RANK];
    int r = c == 1 ? x->rank : rn(g, x->rank + 1);
    for (int d = 0; d < r; d++)
        dims[d] = rn(g, 4) ? x->dims[x->rank - r + d] : 1;
    Val *o = NULL;
    for (int k = g->nvals - 1; k >= 0 && !o && !fresh; k--)
        if (g->vals[k].rank == r && !memcmp(g->vals[k].dims, dims, sizeof dims[0] * (size_t)r) && rn(g, 4))
            o = &g->vals[k];
    if (!o)
        o = fresh ? new_param(g, r, dims, -2.0, 2.0) : new_param(g, r, dims, 0, 0);
    snprintf(out, n, "%s", o->name);
}

/* One op of the elementwise table (ir/ops_ew.def), drawn from the table
 * itself so that every new row runs here: its operands are x and partners,
 * moved into the op's domain (positive, nonzero divisor) and, for the
 * piecewise-constant ops (floor, comparisons, where's condition), off the
 * steps so that rounding differences between the sharded and the global run
 * cannot flip a result. */
static void ew_step(Gen *g, Val *x)
{
    const IrEwInfo *r = ir_ew_row(rn(g, ir_ew_count()));
    static const struct {
        IrOp op;
        const char *sym;
    } infix[] = {{OP_LT, "<"}, {OP_LE, "<="}, {OP_GT, ">"}, {OP_GE, ">="}, {OP_EQ, "=="},
                 {OP_NE, "!="}, {OP_FLOORDIV, "//"}, {OP_MOD, "%"}};
    const char *sym = NULL;
    for (size_t k = 0; k < sizeof infix / sizeof infix[0]; k++)
        if (infix[k].op == r->op && rn(g, 2))
            sym = infix[k].sym;
    const char *name = r->surface;
    if (!name && r->op == OP_GELU_TANH)
        name = "gelu";
    if (!name && r->op == OP_GELU)
        name = "gelu";
    if (!name && !sym)
        return; /* + - * / and pow: the hand-written steps */
    char a[3][160];
    int at = rn(g, r->nargs); /* which operand is x */
    for (int k = 0; k < r->nargs; k++) {
        char raw[128];
        if (k == at)
            snprintf(raw, sizeof raw, "%s", x->name);
        else /* a comparison of x with a value correlated with it could tie */
            partner(g, x, raw, sizeof raw, r->domain == EWD_STEP);
        bool step = r->domain == EWD_STEP || (r->types == EWT_SELECT && k == 0);
        if (r->domain == EWD_POS || (r->domain == EWD_NZ1 && k == 1))
            snprintf(a[k], sizeof a[k], "(abs(%s) + 0.5)", raw);
        else if (step)
            snprintf(a[k], sizeof a[k], "(%s * 1.37 + 0.29)", raw);
        else
            snprintf(a[k], sizeof a[k], "%s", raw);
    }
    char e[1400];
    if (sym)
        snprintf(e, sizeof e, "%s %s %s", a[0], sym, a[1]);
    else if (r->nargs == 1)
        snprintf(e, sizeof e, "%s(%s%s)", name, a[0], r->op == OP_GELU_TANH ? ", approximate=true" : "");
    else if (r->nargs == 2)
        snprintf(e, sizeof e, "%s(%s, %s)", name, a[0], a[1]);
    else
        snprintf(e, sizeof e, "%s(%s, %s, %s)", name, a[0], a[1], a[2]);
    /* all literals: a number, not a tensor; add x to keep the shape */
    bool any = false;
    for (int k = 0; k < r->nargs; k++)
        any |= strchr(a[k], 'p') || strchr(a[k], 'v') || strchr(a[k], 'i');
    if (!any) {
        char t[sizeof e];
        snprintf(t, sizeof t, "%s", e);
        snprintf(e, sizeof e, "%s + (%.1300s)", x->name, t);
    }
    let(g, x->rank, x->dims, e);
}

/* ---- the shape / indexing family ------------------------------------------------ */

/* Python's slice length of [start:stop:step] over n (the bounds clamped). */
static int64_t py_slice_len(int64_t n, int64_t start, int64_t stop, int64_t step)
{
    int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? n - 1 : n;
    start = start < 0 ? (start + n < lo ? lo : start + n) : (start > hi ? hi : start);
    stop = stop < 0 ? (stop + n < lo ? lo : stop + n) : (stop > hi ? hi : stop);
    if (step > 0)
        return stop > start ? (stop - start + step - 1) / step : 0;
    return start > stop ? (start - stop - step - 1) / -step : 0;
}

/* x[...]: per dim a full ':', a random slice (negative bounds, clamping,
 * negative steps; never empty) or, while more than one dim is left, an
 * integer index that drops the dim. */
static void gen_index(Gen *g, Val *x, char *e, size_t n)
{
    int64_t dims[IR_MAX_RANK];
    int rank = 0, kept = x->rank;
    size_t k = (size_t)snprintf(e, n, "%s[", x->name);
    int nsub = rn(g, 4) ? x->rank : rn(g, x->rank) + 1; /* trailing dims may be left out */
    for (int d = 0; d < x->rank; d++) {
        int64_t len = x->dims[d];
        const char *sep = d ? ", " : "";
        int c = rn(g, 5);
        if (d >= nsub) {
            dims[rank++] = len;
            continue;
        }
        if (c == 0 && kept > 1) {
            int64_t i = rn(g, (int)len);
            k += (size_t)snprintf(e + k, n - k, "%s%" PRId64, sep, rn(g, 2) ? i : i - len);
            kept--;
            continue;
        }
        if (c == 1) {
            k += (size_t)snprintf(e + k, n - k, "%s:", sep);
            dims[rank++] = len;
            continue;
        }
        static const int steps[] = {1, 1, 2, -1, -2, 3};
        for (int tries = 0;; tries++) {
            int64_t st = steps[rn(g, 6)];
            int64_t a = rn(g, (int)len + 3) - 1 - (rn(g, 2) ? len : 0);
            int64_t b = rn(g, (int)len + 3) - 1 - (rn(g, 2) ? len : 0);
            int form = rn(g, 4); /* 0: a:b:st, 1: a:, 2: :b, 3: ::st */
            if (form == 1 || form == 2)
                st = 1;
            int64_t A = form == 2 || form == 3 ? (st < 0 ? len - 1 : 0) : a;
            int64_t B = form == 1 || form == 3 ? (st < 0 ? -len - 1 : len) : b;
            int64_t m = py_slice_len(len, A, B, st);
            if (m == 0 && tries < 8)
                continue;
            if (m == 0) {
                k += (size_t)snprintf(e + k, n - k, "%s:", sep);
                dims[rank++] = len;
                break;
            }
            if (form == 0)
                k += (size_t)snprintf(e + k, n - k, "%s%" PRId64 ":%" PRId64 ":%" PRId64, sep, a, b, st);
            else if (form == 1)
                k += (size_t)snprintf(e + k, n - k, "%s%" PRId64 ":", sep, a);
            else if (form == 2)
                k += (size_t)snprintf(e + k, n - k, "%s:%" PRId64, sep, b);
            else
                k += (size_t)snprintf(e + k, n - k, "%s::%" PRId64, sep, st);
            dims[rank++] = m;
            break;
        }
    }
    snprintf(e + k, n - k, "]");
    if (nsub == 0)
        snprintf(e, n, "%s", x->name);
    let(g, rank, dims, e);
}

/* concat / stack of x with itself or new parameters of fitting shapes. */
static void gen_concat(Gen *g, Val *x, char *e, size_t n)
{
    int64_t dims[IR_MAX_RANK];
    bool stack = rn(g, 4) == 0;
    if (x->rank == 0 || (stack && x->rank >= 3))
        stack = x->rank < 3;
    int r = stack ? x->rank + 1 : x->rank;
    int ax = rn(g, r);
    int nops = 2 + rn(g, 2);
    int64_t total = 0;
    size_t k = (size_t)snprintf(e, n, "%s([", stack ? "stack" : "concat");
    for (int j = 0; j < nops; j++) {
        const Val *o = x;
        if (j > 0 && rn(g, 2)) {
            int64_t od[IR_MAX_RANK];
            memcpy(od, x->dims, sizeof od[0] * (size_t)x->rank);
            if (!stack)
                od[ax] = 1 + rn(g, 4);
            o = new_param(g, x->rank, od, 0, 0);
        }
        total += stack ? 1 : o->dims[ax];
        k += (size_t)snprintf(e + k, n - k, "%s%s", j ? ", " : "", o->name);
    }
    snprintf(e + k, n - k, "], axis=%d)", rn(g, 2) ? ax : ax - r);
    if (stack)
        for (int d = 0, i = 0; d < r; d++)
            dims[d] = d == ax ? total : x->dims[i++];
    else {
        memcpy(dims, x->dims, sizeof dims[0] * (size_t)r);
        dims[ax] = total;
    }
    let(g, r, dims, e);
}

/* pad with random widths and fill (0 lets P(sum) through, others do not). */
static void gen_pad(Gen *g, Val *x, char *e, size_t n)
{
    int64_t dims[IR_MAX_RANK];
    static const char *const fills[] = {"", ", value=0", ", value=1.5", ", value=-2"};
    size_t k = (size_t)snprintf(e, n, "pad(%s, [", x->name);
    for (int d = 0; d < x->rank; d++) {
        int lo = rn(g, 3) ? rn(g, 3) : 0, hi = rn(g, 3) ? rn(g, 3) : 0;
        k += (size_t)snprintf(e + k, n - k, "%s[%d, %d]", d ? ", " : "", lo, hi);
        dims[d] = x->dims[d] + lo + hi;
    }
    snprintf(e + k, n - k, "]%s)", fills[rn(g, 4)]);
    let(g, x->rank, dims, e);
}

/* broadcast_to / expand: size-1 dims stretch, a new leading dim. */
static void gen_broadcast(Gen *g, Val *x, char *e, size_t n)
{
    int64_t dims[IR_MAX_RANK];
    bool expand = rn(g, 2);
    int lead = x->rank < 3 && rn(g, 2) ? 1 : 0, r = x->rank + lead;
    size_t k = (size_t)snprintf(e, n, "%s(%s, [", expand ? "expand" : "broadcast_to", x->name);
    for (int d = 0; d < r; d++) {
        int xd = d - lead;
        int64_t want = xd < 0 || x->dims[xd] == 1 ? 1 + rn(g, 4) : x->dims[xd];
        dims[d] = want;
        if (expand && xd >= 0 && want == x->dims[xd] && rn(g, 2))
            k += (size_t)snprintf(e + k, n - k, "%s-1", d ? ", " : "");
        else
            k += (size_t)snprintf(e + k, n - k, "%s%" PRId64, d ? ", " : "", want);
    }
    snprintf(e + k, n - k, "])");
    let(g, r, dims, e);
}

/* let a, b = split(x, ...): equal pieces or sizes along a dim of size >= 2. */
static void gen_split(Gen *g, Val *x)
{
    int ax = -1;
    for (int d = 0; d < x->rank; d++)
        if (x->dims[d] >= 2 && (ax < 0 || rn(g, 2)))
            ax = d;
    if (ax < 0)
        return;
    int64_t len = x->dims[ax], a = 1 + rn(g, (int)len - 1);
    char e[256];
    bool equal = len % 2 == 0 && rn(g, 2);
    if (equal)
        snprintf(e, sizeof e, "split(%s, 2, axis=%d)", x->name, rn(g, 2) ? ax : ax - x->rank);
    else
        snprintf(e, sizeof e, "split(%s, [%" PRId64 ", %" PRId64 "], axis=%d)", x->name, a, len - a, ax);
    if (equal)
        a = len / 2;
    Val *p = add_val(g, "v", x->rank, x->dims);
    g->nlets++;
    p->dims[ax] = a;
    Val *q = add_val(g, "v", x->rank, x->dims);
    g->nlets++;
    q->dims[ax] = len - a;
    BODY("    let %s, %s = %s;\n", p->name, q->name, e);
    if (rn(g, 2)) { /* use the first piece too, so that both are live */
        char e2[128];
        snprintf(e2, sizeof e2, "concat([%s, %s], axis=%d)", q->name, p->name, ax);
        let(g, x->rank, x->dims, e2);
    }
}

/* ---- the lookup / routing family ------------------------------------------------ */

/* An op of the routing family, drawn from the op table (ir_op_is_route), so
 * that a new row without a case here fails loudly.  Index operands are new
 * uniform parameters cast to i32 (in range; one_hot's ids also one past it:
 * a zero row).  argmax / argmin / topk compare values, so in f32 programs
 * they search a fresh parameter (computed values differ by rounding between
 * the sharded and the global run and could flip a near tie); in f64 they
 * search x. */
static void gen_route(Gen *g, Val *x)
{
    int nroute = 0;
    IrOp route[OP_COUNT];
    for (int op = 0; op < OP_COUNT; op++)
        if (ir_op_is_route((IrOp)op))
            route[nroute++] = (IrOp)op;
    IrOp op = route[rn(g, nroute)];
    if (x->rank == 0 || x->rank > 3)
        return;
    char e[512], name[32];
    int64_t dims[IR_MAX_RANK];
    int ax = rn(g, x->rank), sax = rn(g, 2) ? ax : ax - x->rank;
    Val *s = x;
    if ((op == OP_ARGMAX || op == OP_ARGMIN || op == OP_TOPK) && !strcmp(g->dt, "f32"))
        s = new_param(g, x->rank, x->dims, 0, 0);
    memcpy(dims, x->dims, sizeof dims[0] * (size_t)x->rank);
    switch (op) {
    case OP_ARGMAX:
    case OP_ARGMIN: {
        snprintf(e, sizeof e, "cast(%s(%s, axis=%d), %s)", op == OP_ARGMAX ? "argmax" : "argmin", s->name, sax,
                 g->dt);
        for (int d = ax; d < x->rank - 1; d++)
            dims[d] = dims[d + 1];
        let(g, x->rank - 1, dims, e);
        return;
    }
    case OP_CUMSUM:
        snprintf(e, sizeof e, "cumsum(%s, %d)", x->name, sax);
        let(g, x->rank, dims, e);
        return;
    case OP_ONE_HOT: {
        int64_t n = 1 + rn(g, 4);
        Val *ids = new_param(g, x->rank, x->dims, 0, (double)n + 0.9);
        snprintf(e, sizeof e, "one_hot(cast(%s, i32), %" PRId64 ", dtype=%s)", ids->name, n, g->dt);
        dims[x->rank] = n;
        let(g, x->rank + 1, dims, e);
        return;
    }
    case OP_TOPK: {
        int64_t k = 1 + rn(g, (int)x->dims[ax]); /* a type has no 0 dims */
        Val *v = add_val(g, "v", x->rank, x->dims);
        g->nlets++;
        v->dims[ax] = k;
        snprintf(name, sizeof name, "%s", v->name);
        BODY("    let %s, %s_i = topk(%s, %" PRId64 ", axis=%d);\n", name, name, s->name, k, sax);
        dims[ax] = k;
        snprintf(e, sizeof e, "%s + cast(%s_i, %s)", name, name, g->dt);
        let(g, x->rank, dims, e);
        return;
    }
    case OP_TAKE_ALONG:
    case OP_SCATTER_ADD: {
        dims[ax] = 1 + rn(g, 4);
        Val *idx = new_param(g, x->rank, dims, 0, (double)x->dims[ax]);
        if (op == OP_TAKE_ALONG) {
            snprintf(e, sizeof e, "%s(%s, cast(%s, i32), %d)", rn(g, 2) ? "take_along_axis" : "gather", x->name,
                     idx->name, sax);
            let(g, x->rank, dims, e);
        } else {
            Val *u = new_param(g, x->rank, dims, 0, 0);
            snprintf(e, sizeof e, "scatter_add(%s, cast(%s, i32), %s, axis=%d)", x->name, idx->name, u->name, sax);
            let(g, x->rank, x->dims, e);
        }
        return;
    }
    case OP_REPEAT: { /* np.repeat along ax: splits of ax kept when even, gathered when not */
        int64_t n = 1 + rn(g, 3);
        dims[ax] *= n;
        if (rn(g, 2))
            snprintf(e, sizeof e, "repeat(%s, %" PRId64 ", axis=%d)", x->name, n, sax);
        else
            snprintf(e, sizeof e, "repeat(%s, %" PRId64 ", %d)", x->name, n, sax);
        let(g, x->rank, dims, e);
        return;
    }
    default:
        h_check(false, "gen_route: the routing op %s has no generator case", ir_op_name(op));
        return;
    }
}

static void step(Gen *g)
{
    Val *x = pick(g, 0);
    char e[512], sh[64], pl[128];
    int64_t dims[IR_MAX_RANK];
    int rank;
    switch (rn(g, 25)) {
    case 23:
    case 24:
        gen_route(g, x);
        return;
    case 16:
    case 17:
        ew_step(g, x);
        return;
    case 18:
        if (x->rank > 0)
            gen_index(g, x, e, sizeof e);
        return;
    case 19:
        gen_concat(g, x, e, sizeof e);
        return;
    case 20:
        gen_pad(g, x, e, sizeof e);
        return;
    case 21:
        gen_broadcast(g, x, e, sizeof e);
        return;
    case 22:
        gen_split(g, x);
        return;
    case 14:
    case 15: { /* a genuinely spread partial: reduce a new parameter over a dim
                * split on some axis (scattered partial parameters are
                * degenerate: one rank holds the value, or all do) */
        static const char *const red[] = {"sum", "mean", "max", "min"};
        int64_t ud[IR_MAX_RANK];
        ud[0] = 1 + rn(g, 5);
        for (int d = 0; d < x->rank; d++)
            ud[d + 1] = x->dims[d];
        Val *u = new_param_pl(g, x->rank + 1, ud, 0, 0, true);
        snprintf(e, sizeof e, "%s(%s, axis=0)", red[rn(g, 4)], u->name);
        let(g, x->rank, x->dims, e);
        /* and combine it with x right away */
        static const char *const bin[] = {"%s + %s", "%s - %s", "%s * %s", "maximum(%s, %s)",
                                          "minimum(%s, %s)"};
        char e2[128];
        const char *v = g->vals[g->nvals - 1].name;
        snprintf(e2, sizeof e2, bin[rn(g, 5)], v, rn(g, 3) ? x->name : v);
        let(g, x->rank, x->dims, e2);
        return;
    }
    case 0:
    case 1: { /* unary, kept finite */
        static const char *const un[] = {"neg(%s)", "abs(%s)", "tanh(%s)", "sigmoid(%s)", "relu(%s)",
                                         "silu(%s)", "gelu(%s)", "exp(tanh(%s))", "log(abs(%s) + 1.0)",
                                         "sqrt(abs(%s))", "rsqrt(abs(%s) + 1.0)", "pow(%s, 2.0)",
                                         "cast(cast(%s, i32), %s)", "log(%s)", "sqrt(%s)"};
        int k = rn(g, 15);
        snprintf(e, sizeof e, un[k], x->name, g->dt);
        let(g, x->rank, x->dims, e);
        return;
    }
    case 2:
    case 3: { /* binary with broadcasting */
        int c = rn(g, 3);
        char other[64];
        if (c == 0) {
            snprintf(other, sizeof other, "%.2f", (double)(rn(g, 9) + 1) / 4);
        } else {
            /* the other operand: x's trailing dims, some set to 1 */
            int r = c == 1 ? x->rank : rn(g, x->rank + 1);
            for (int d = 0; d < r; d++)
                dims[d] = rn(g, 4) ? x->dims[x->rank - r + d] : 1;
            Val *o = NULL;
            for (int k = g->nvals - 1; k >= 0 && !o; k--) /* an existing value of that shape? */
                if (g->vals[k].rank == r && !memcmp(g->vals[k].dims, dims, sizeof dims[0] * (size_t)r) &&
                    rn(g, 4))
                    o = &g->vals[k];
            if (!o)
                o = new_param(g, r, dims, 0, 0);
            snprintf(other, sizeof other, "%s", o->name);
        }
        static const char *const bin[] = {"%s + %s", "%s - %s", "%s * %s", "maximum(%s, %s)",
                                          "minimum(%s, %s)", "%s / (abs(%s) + 1.0)"};
        int k = rn(g, 6);
        bool swap = rn(g, 2) && k != 5;
        if (k == 5 && c == 0) /* a literal is f32 on its own: divide by it directly */
            snprintf(e, sizeof e, "%s / %s", x->name, other);
        else
            snprintf(e, sizeof e, bin[k], swap ? other : x->name, swap ? x->name : other);
        let(g, x->rank, x->dims, e);
        return;
    }
    case 4:
    case 5: { /* matmul with a new weight */
        if (x->rank < 2)
            x = pick(g, 2);
        if (!x)
            return;
        int64_t K = x->dims[x->rank - 1], N = 1 + rn(g, 5);
        int wr = rn(g, 3) ? 2 : x->rank;
        for (int d = 0; d < wr - 2; d++)
            dims[d] = rn(g, 3) ? x->dims[x->rank - wr + d] : 1;
        dims[wr - 2] = K;
        dims[wr - 1] = N;
        Val *w = new_param(g, wr, dims, 0, 0);
        snprintf(e, sizeof e, "%s @ %s", x->name, w->name);
        memcpy(dims, x->dims, sizeof dims[0] * (size_t)x->rank);
        dims[x->rank - 1] = N;
        let(g, x->rank, dims, e);
        return;
    }
    case 6: { /* reduction */
        static const char *const red[] = {"sum", "mean", "max", "min"};
        if (x->rank == 0)
            return;
        bool keep = rn(g, 2);
        unsigned mask = 0;
        char axes[64] = "";
        size_t k = 0;
        if (rn(g, 4)) {
            mask = (unsigned)(1 + rn(g, (1 << x->rank) - 1));
            k += (size_t)snprintf(axes, sizeof axes, ", axis=[");
            int n = 0;
            for (int d = 0; d < x->rank; d++)
                if (mask & (1u << d))
                    k += (size_t)snprintf(axes + k, sizeof axes - k, "%s%d", n++ ? ", " : "",
                                          rn(g, 2) ? d : d - x->rank);
            snprintf(axes + k, sizeof axes - k, "]");
        } else
            mask = (1u << x->rank) - 1;
        snprintf(e, sizeof e, "%s(%s%s%s)", red[rn(g, 4)], x->name, axes, keep ? ", keepdims=true" : "");
        rank = 0;
        for (int d = 0; d < x->rank; d++)
            if (!(mask & (1u << d)))
                dims[rank++] = x->dims[d];
            else if (keep)
                dims[rank++] = 1;
        let(g, rank, dims, e);
        return;
    }
    case 7: /* softmax */
        if (x->rank == 0)
            return;
        snprintf(e, sizeof e, "%s(%s, axis=%d)", rn(g, 2) ? "softmax" : "log_softmax", x->name,
                 rn(g, x->rank) - (rn(g, 2) ? x->rank : 0));
        let(g, x->rank, x->dims, e);
        return;
    case 8: { /* layernorm / rmsnorm with new parameters */
        if (x->rank == 0)
            return;
        int64_t D = x->dims[x->rank - 1];
        Val *gm = new_param(g, 1, &D, 0, 0);
        if (rn(g, 2)) {
            Val *bt = new_param(g, 1, &D, 0, 0);
            snprintf(e, sizeof e, "layernorm(%s, %s, %s)", x->name, gm->name, bt->name);
        } else
            snprintf(e, sizeof e, "rmsnorm(%s, %s)", x->name, gm->name);
        let(g, x->rank, x->dims, e);
        return;
    }
    case 9: { /* transpose */
        if (x->rank < 2)
            return;
        int perm[IR_MAX_RANK];
        for (int d = 0; d < x->rank; d++)
            perm[d] = d;
        for (int d = x->rank - 1; d > 0; d--) {
            int j = rn(g, d + 1), t = perm[d];
            perm[d] = perm[j];
            perm[j] = t;
        }
        size_t k = (size_t)snprintf(e, sizeof e, "transpose(%s, [", x->name);
        for (int d = 0; d < x->rank; d++) {
            k += (size_t)snprintf(e + k, sizeof e - k, "%s%d", d ? ", " : "", perm[d]);
            dims[d] = x->dims[perm[d]];
        }
        snprintf(e + k, sizeof e - k, "])");
        let(g, x->rank, dims, e);
        return;
    }
    case 10: { /* reshape: flatten, merge two adjacent dims, or split one */
        if (x->rank == 0)
            return;
        int c = rn(g, 3);
        rank = 0;
        if (c == 0 || x->rank == 1) {
            int64_t n = 1;
            for (int d = 0; d < x->rank; d++)
                n *= x->dims[d];
            if (n % 2 == 0 && n > 2 && rn(g, 2)) {
                dims[rank++] = 2;
                dims[rank++] = n / 2;
            } else
                dims[rank++] = n;
        } else if (c == 1) {
            int at = rn(g, x->rank - 1);
            for (int d = 0; d < x->rank; d++) {
                if (d == at + 1)
                    dims[rank - 1] *= x->dims[d];
                else
                    dims[rank++] = x->dims[d];
            }
        } else {
            for (int d = 0; d < x->rank; d++) {
                if (rank + 2 <= 4 && x->dims[d] % 2 == 0 && x->dims[d] > 2) {
                    dims[rank++] = 2;
                    dims[rank++] = x->dims[d] / 2;
                } else
                    dims[rank++] = x->dims[d];
            }
        }
        Val tmp = {"", rank, {0}};
        memcpy(tmp.dims, dims, sizeof dims[0] * (size_t)rank);
        shape_str(&tmp, sh, sizeof sh);
        if (rank > 1 && rn(g, 3) == 0) { /* one -1 */
            char *p = strchr(sh, '[') + 1;
            char rest[64];
            snprintf(rest, sizeof rest, "%s", strchr(p, ','));
            memcpy(p, "-1", 2);
            memmove(p + 2, rest, strlen(rest) + 1);
        }
        snprintf(e, sizeof e, "reshape(%s, %s)", x->name, sh);
        let(g, rank, dims, e);
        return;
    }
    case 11: /* explicit redistribute */
        placement(g, x->rank, rn(g, 3) == 0, pl, sizeof pl);
        snprintf(e, sizeof e, "redistribute(%s, %s)", x->name, pl);
        let(g, x->rank, x->dims, e);
        return;
    case 12: { /* embedding: a new table, ids from a new parameter */
        int64_t td[2] = {1 + rn(g, 6), 1 + rn(g, 4)};
        Val *t = new_param(g, 2, td, 0, 0);
        int64_t id[2] = {1 + rn(g, 4), 1 + rn(g, 3)};
        int ir = 1 + rn(g, 2);
        Val *ids = new_param(g, ir, id, 0, (double)td[0]);
        snprintf(e, sizeof e, "embedding(%s, cast(%s, i32))", t->name, ids->name);
        dims[0] = id[0];
        dims[ir - 1] = id[ir - 1];
        dims[ir] = td[1];
        let(g, ir + 1, dims, e);
        return;
    }
    case 13: { /* cross_entropy over a [N, V] value */
        if (x->rank != 2)
            x = pick(g, 2);
        if (!x || x->rank != 2)
            return;
        Val *lab = new_param(g, 1, x->dims, 0, (double)x->dims[1]);
        snprintf(e, sizeof e, "cross_entropy(%s, cast(%s, i32))", x->name, lab->name);
        let(g, 0, dims, e);
        return;
    }
    }
}

/* Writes a whole random program into out. */
static void generate(Gen *g, char *out, size_t n)
{
    g->np = g->nb = 0;
    g->nparams = g->nlets = g->nvals = 0;
    g->params[0] = g->body[0] = 0;
    g->dt = rn(g, 4) ? "f64" : "f32";
    g->naxes = 1 + rn(g, 3);
    for (int a = 0; a < g->naxes; a++)
        g->size[a] = 1 + rn(g, 4);
    random_param(g);
    if (rn(g, 2))
        random_param(g);
    int nsteps = 2 + rn(g, 6);
    for (int k = 0; k < nsteps; k++)
        step(g);
    /* results: the last value, and sometimes another */
    int nres = g->nvals > 1 && rn(g, 3) == 0 ? 2 : 1;
    const Val *res[2] = {&g->vals[g->nvals - 1], &g->vals[rn(g, g->nvals - 1 > 0 ? g->nvals - 1 : 1)]};
    char sig[512];
    size_t k = 0;
    k += (size_t)snprintf(sig, sizeof sig, "%s", nres > 1 ? "(" : "");
    for (int r = 0; r < nres; r++) {
        char sh[64], pl[128] = "";
        shape_str(res[r], sh, sizeof sh);
        if (rn(g, 2)) {
            char p[120];
            placement(g, res[r]->rank, false, p, sizeof p);
            snprintf(pl, sizeof pl, " @ %s", p);
        }
        k += (size_t)snprintf(sig + k, sizeof sig - k, "%s%s%s%s", r ? ", " : "", g->dt, sh, pl);
    }
    snprintf(sig + k, sizeof sig - k, "%s", nres > 1 ? ")" : "");
    size_t o = (size_t)snprintf(out, n, "mesh M[");
    for (int a = 0; a < g->naxes; a++)
        o += (size_t)snprintf(out + o, n - o, "%s%c=%d", a ? ", " : "", 'a' + a, g->size[a]);
    o += (size_t)snprintf(out + o, n - o, "];\nfn main(\n%s) -> %s {\n%s    return %s", g->params, sig,
                          g->body, res[0]->name);
    if (nres > 1)
        o += (size_t)snprintf(out + o, n - o, ", %s", res[1]->name);
    snprintf(out + o, n - o, ";\n}\n");
}

int main(int argc, char **argv)
{
    long count = 3000;
    uint64_t seed = 1;
    if (getenv("DTC_RANDOM_PROGRAMS"))
        count = atol(getenv("DTC_RANDOM_PROGRAMS"));
    if (getenv("DTC_RANDOM_SEED"))
        seed = strtoull(getenv("DTC_RANDOM_SEED"), NULL, 10);
    if (argc > 1)
        count = atol(argv[1]);
    if (argc > 2)
        seed = strtoull(argv[2], NULL, 10);
    long only = getenv("DTC_RANDOM_ONLY") ? atol(getenv("DTC_RANDOM_ONLY")) : -1;
    clock_t t0 = clock();
    long ncomm = 0, ndecomp = 0, nfail = 0;
    static char src[32768];
    for (long k = 0; k < count; k++) {
        Gen g;
        memset(&g, 0, sizeof g);
        g.s = (seed * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(k + 1) * 0xD1B54A32D192ED03ull;
        if (!g.s)
            g.s = 1;
        for (int w = 0; w < 4; w++)
            rnd(&g);
        generate(&g, src, sizeof src);
        /* every other program with free latency: propagate then prefers the
         * decompositions (cross-rank softmax, norms, cross_entropy) that
         * move the fewest bytes */
        h_bandwidth_only(k % 2 == 1);
        if (only >= 0 && k != only)
            continue;
        if (only >= 0)
            printf("%s", src);
        if (getenv("DTC_RANDOM_DUMP")) {
            char path[4096];
            snprintf(path, sizeof path, "%s/prog_%ld%s.dt", getenv("DTC_RANDOM_DUMP"), k,
                     k % 2 == 1 ? ".bw" : "");
            FILE *f = fopen(path, "w");
            h_check(f != NULL, "cannot write %s", path);
            if (f) {
                fputs(src, f);
                fclose(f);
            }
        }
        Arena *ar = arena_new();
        char name[64];
        snprintf(name, sizeof name, "random-%" PRIu64 "-%ld", seed, k);
        int before = h_failures;
        IrModule *m = h_full(ar, name, src);
        if (m) {
            ncomm += h_count_comm(m);
            ndecomp += h_ndecomposed;
        }
        if (!m || h_failures != before) {
            nfail++;
            fprintf(stderr, "---- program %ld of seed %" PRIu64 " (rerun alone: DTC_RANDOM_ONLY=%ld) ----\n"
                            "%s----\n", k, seed, k, src);
            if (nfail >= 5)
                break;
        }
        arena_free(ar);
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("random programs: %ld (seed %" PRIu64 ") in %.1f s: %ld collectives, %ld decomposed ops, "
           "%ld failed\n",
           count, seed, secs, ncomm, ndecomp, nfail);
    return h_report("test_random_programs");
}
