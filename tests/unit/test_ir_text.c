/* test_ir_text.c - the IR text form and the verifier.
 *
 * 1. A module built by hand through ir.h (every op and attribute kind, two
 *    functions, a multi-result call, every initialiser, uneven and nested
 *    splits) prints, parses back to an equal module (deep comparison), and
 *    prints to the same text again, with and without local shapes.
 * 2. Hand-written snippets parse; broken ones fail with FILE:LINE:COL.
 * 3. The verifier accepts good modules at their stages and names the
 *    problem in broken ones.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ir/ir.h"
#include "ir/ir_text.h"

static int nfail, ncheck;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        ncheck++;                                                            \
        if (!(cond)) {                                                       \
            nfail++;                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                      \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
        }                                                                    \
    } while (0)

/* ---- helpers ---------------------------------------------------------------- */
static char *print_str(const IrModule *m, const char *stage, bool no_locs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    IrPrintOpts o = {stage, ir_stage_is_partitioned(stage), no_locs};
    ir_print_opts(f, m, &o);
    fclose(f);
    return buf;
}

/* Parses text; returns the module (or NULL) and the error output in *err. */
static IrModule *parse_str(Arena *ar, const char *text, char **err)
{
    size_t len = 0;
    FILE *f = open_memstream(err, &len);
    IrModule *m = ir_parse(ar, "t.ir", text, f);
    fclose(f);
    return m;
}

static bool verify_str(const IrModule *m, const char *stage, char **out)
{
    size_t len = 0;
    FILE *f = open_memstream(out, &len);
    bool ok = ir_verify(m, stage, f);
    fclose(f);
    return ok;
}

static IrType ty(DType dt, int rank, int64_t d0, int64_t d1, int64_t d2)
{
    IrType t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    t.dims[0] = d0;
    t.dims[1] = d1;
    t.dims[2] = d2;
    return t;
}

static const PlEntry R_ = {PL_R, 0, RED_SUM};
static PlEntry S_(int d) { return (PlEntry){PL_S, d, RED_SUM}; }
static PlEntry P_(RedOp r) { return (PlEntry){PL_P, 0, r}; }
static Placement PL(PlEntry a, PlEntry b)
{
    Placement p;
    memset(&p, 0, sizeof p);
    p.naxes = 2;
    p.e[0] = a;
    p.e[1] = b;
    return p;
}
static const Placement NOPL = {0};
static const IrInit NOINIT = {INIT_NONE, 0, 0, 0, NULL, 0};

static IrInst *inst1(IrModule *m, IrFunc *f, IrOp op, IrType t, IrValue *a, IrValue *b, IrValue *c)
{
    IrValue *args[3] = {a, b, c};
    int n = c ? 3 : b ? 2 : a ? 1 : 0;
    return ir_inst_new(m, f, NULL, op, n, args, 1, &t);
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* ---- deep comparison of two modules ------------------------------------------- */
static bool same_value(const IrValue *a, const IrValue *b)
{
    return a->id == b->id && same_str(a->name, b->name) && ir_type_eq(&a->type, &b->type) &&
           pl_eq(&a->pl, &b->pl) && a->pinned == b->pinned && a->param_index == b->param_index &&
           (a->def == NULL) == (b->def == NULL);
}

static bool same_double(double a, double b) { return !memcmp(&a, &b, sizeof a); }

static bool same_loc(SrcLoc a, SrcLoc b)
{
    return same_str(a.file, b.file) && a.line == b.line && a.col == b.col;
}

static bool same_inst(const IrInst *a, const IrInst *b)
{
    if (a->op != b->op || a->nargs != b->nargs || a->nres != b->nres)
        return false;
    for (int k = 0; k < a->nargs; k++)
        if (a->args[k]->id != b->args[k]->id)
            return false;
    for (int k = 0; k < a->nres; k++)
        if (!same_value(a->res[k], b->res[k]))
            return false;
    const IrAttrs *x = &a->a, *y = &b->a;
    if (!same_double(x->f, y->f) || x->nints != y->nints || x->keepdims != y->keepdims ||
        x->axes != y->axes || x->red != y->red || x->dim != y->dim || x->dim2 != y->dim2 ||
        x->bytes != y->bytes || !same_str(x->callee, y->callee))
        return false;
    for (int k = 0; k < x->nints; k++)
        if (x->ints[k] != y->ints[k])
            return false;
    if ((x->fn == NULL) != (y->fn == NULL) || (x->fn && strcmp(x->fn->name, y->fn->name)))
        return false;
    if (!same_loc(a->loc, b->loc) || !same_str(a->why, b->why) || !same_str(a->plan, b->plan) ||
        a->strategy != b->strategy || (a->in_pl == NULL) != (b->in_pl == NULL))
        return false;
    for (int k = 0; a->in_pl && k < a->nargs; k++)
        if (!pl_eq(&a->in_pl[k], &b->in_pl[k]))
            return false;
    return true;
}

static bool same_func(const IrFunc *a, const IrFunc *b)
{
    if (strcmp(a->name, b->name) || !same_loc(a->loc, b->loc) || a->nparams != b->nparams ||
        a->nresults != b->nresults || a->next_id != b->next_id)
        return false;
    for (int k = 0; k < a->nparams; k++) {
        const IrInit *x = &a->inits[k], *y = &b->inits[k];
        if (!same_value(a->params[k], b->params[k]) || x->kind != y->kind || x->seed != y->seed ||
            !same_double(x->a, y->a) || !same_double(x->b, y->b) || !same_str(x->path, y->path) ||
            x->per_step != y->per_step)
            return false;
    }
    if ((a->result_feeds == NULL) != (b->result_feeds == NULL))
        return false;
    for (int k = 0; a->result_feeds && k < a->nresults; k++)
        if (a->result_feeds[k] != b->result_feeds[k])
            return false;
    for (int k = 0; k < a->nresults; k++)
        if (a->results[k]->id != b->results[k]->id ||
            !same_str(a->result_names ? a->result_names[k] : NULL, b->result_names ? b->result_names[k] : NULL))
            return false;
    const IrInst *i = a->first, *j = b->first;
    for (; i && j; i = i->next, j = j->next)
        if (!same_inst(i, j)) {
            printf("  instructions differ: %s vs %s\n", ir_op_name(i->op), ir_op_name(j->op));
            return false;
        }
    return !i && !j;
}

static bool same_module(const IrModule *a, const IrModule *b)
{
    const IrMesh *x = &a->mesh, *y = &b->mesh;
    if (!same_str(x->name, y->name) || x->naxes != y->naxes || a->nfuncs != b->nfuncs)
        return false;
    for (int k = 0; k < x->naxes; k++)
        if (strcmp(x->axis_name[k], y->axis_name[k]) || x->size[k] != y->size[k])
            return false;
    if ((a->entry == NULL) != (b->entry == NULL) || (a->entry && strcmp(a->entry->name, b->entry->name)))
        return false;
    for (int k = 0; k < a->nfuncs; k++)
        if (!same_func(a->funcs[k], b->funcs[k])) {
            printf("  function @%s differs\n", a->funcs[k]->name);
            return false;
        }
    return true;
}

/* ---- 1. a module with everything, round trip ------------------------------------- */
static IrModule *build_everything(Arena *ar)
{
    IrModule *m = ir_module_new(ar);
    m->mesh.name = "M";
    m->mesh.naxes = 2;
    m->mesh.axis_name[0] = "dp";
    m->mesh.axis_name[1] = "tp";
    m->mesh.size[0] = 2;
    m->mesh.size[1] = 2;

    /* @helper(a, b) -> (sum, s): two results, the second named */
    IrFunc *h = ir_func_new(m, "helper");
    h->loc = (SrcLoc){"model.dt", 3, 1};
    IrValue *ha = ir_param_new(m, h, "a", ty(DT_F32, 2, 6, 4, 0), PL(S_(0), R_), NOINIT);
    IrValue *hb = ir_param_new(m, h, "b", ty(DT_F32, 1, 4, 0, 0), NOPL, NOINIT);
    IrInst *hadd = inst1(m, h, OP_ADD, ty(DT_F32, 2, 6, 4, 0), ha, hb, NULL);
    hadd->loc = (SrcLoc){"model.dt", 4, 13};
    IrInst *hsum = inst1(m, h, OP_SUM, ty(DT_F32, 1, 6, 0, 0), hadd->res[0], NULL, NULL);
    ir_attrs_ints(ar, &hsum->a, 1)[0] = 1;
    hsum->res[0]->name = "s";
    h->nresults = 2;
    h->results = arena_alloc(ar, 2 * sizeof *h->results);
    h->results[0] = hadd->res[0];
    h->results[1] = hsum->res[0];
    h->result_names = arena_alloc(ar, 2 * sizeof *h->result_names);
    h->result_names[1] = "s";

    IrFunc *f = ir_func_new(m, "main");
    m->entry = f;
    f->loc = (SrcLoc){"model.dt", 8, 1};
    IrValue *x = ir_param_new(m, f, "x", ty(DT_F32, 2, 8, 512, 0), PL(S_(0), R_),
                              (IrInit){INIT_RANDN, 1, 1.0, 0.0, NULL, true});
    IrValue *w = ir_param_new(m, f, "w", ty(DT_F32, 2, 512, 6, 0), PL(R_, S_(1)),
                              (IrInit){INIT_RAND, UINT64_MAX, -0.5, 0.5, NULL, 0});
    IrValue *z = ir_param_new(m, f, "z", ty(DT_F32, 2, 7, 5, 0), NOPL, (IrInit){INIT_ZEROS, 0, 0, 0, NULL, 0});
    IrValue *o = ir_param_new(m, f, "o", ty(DT_F64, 1, 3, 0, 0), PL(S_(0), S_(0)),
                              (IrInit){INIT_ONES, 0, 0, 0, NULL, 0});
    IrValue *fl = ir_param_new(m, f, "fl", ty(DT_F32, 2, 6, 4, 0), PL(S_(0), R_),
                               (IrInit){INIT_FULL, 0, 0.1, 0, NULL, 0});
    IrValue *ids = ir_param_new(m, f, "ids", ty(DT_I32, 1, 6, 0, 0), PL(R_, R_),
                                (IrInit){INIT_ARANGE, 0, 0, 0, NULL, 0});
    IrValue *ld = ir_param_new(m, f, "ld", ty(DT_F32, 1, 4, 0, 0), PL(R_, R_),
                               (IrInit){INIT_LOAD, 0, 0, 0, "data/w \"q\"\\.npy", 0});
    IrValue *n = ir_param_new(m, f, "n", ty(DT_F32, 2, 6, 4, 0), PL(S_(0), R_), NOINIT);
    n->pinned = false;
    IrValue *lbl = ir_param_new(m, f, "lbl", ty(DT_I32, 1, 6, 0, 0), NOPL, NOINIT);

    IrType t85 = ty(DT_F32, 2, 8, 512, 0), t64 = ty(DT_F32, 2, 6, 4, 0);
    IrInst *c = inst1(m, f, OP_CONST, ty(DT_F32, 0, 0, 0, 0), NULL, NULL, NULL);
    c->a.f = 0.1;
    c->loc = (SrcLoc){"model.dt", 12, 5};
    IrInst *e = inst1(m, f, OP_EXP, t85, x, NULL, NULL);
    e->res[0]->name = "e";
    e->res[0]->pl = PL(S_(0), R_);
    IrInst *p = inst1(m, f, OP_POW, t85, e->res[0], NULL, NULL);
    p->a.f = 1.0 / 3.0;
    p->loc = (SrcLoc){"lib.dt", 2, 3};
    inst1(m, f, OP_CAST, ty(DT_F64, 2, 8, 512, 0), p->res[0], NULL, NULL);
    IrInst *add = inst1(m, f, OP_ADD, t85, x, c->res[0], NULL);
    static const IrOp binops[] = {OP_SUB, OP_MUL, OP_DIV, OP_MAXIMUM, OP_MINIMUM};
    for (int k = 0; k < 5; k++)
        inst1(m, f, binops[k], t85, add->res[0], x, NULL);
    static const IrOp unops[] = {OP_NEG, OP_LOG, OP_SQRT, OP_RSQRT, OP_ABS, OP_TANH,
                                 OP_SIGMOID, OP_RELU, OP_SILU, OP_GELU};
    for (int k = 0; k < 10; k++)
        inst1(m, f, unops[k], t85, x, NULL, NULL);
    static const IrOp reds[] = {OP_SUM, OP_MEAN, OP_MAX, OP_MIN};
    for (int k = 0; k < 4; k++) {
        IrInst *r = inst1(m, f, reds[k], k == 0 ? ty(DT_F32, 2, 1, 1, 0) : ty(DT_F32, 2, 8, 512, 0), x,
                          NULL, NULL);
        if (k == 0) {
            int64_t *ax = ir_attrs_ints(ar, &r->a, 2);
            ax[0] = 0;
            ax[1] = 1;
            r->a.keepdims = true;
        }
    }
    IrInst *sm = inst1(m, f, OP_SOFTMAX, t85, x, NULL, NULL);
    ir_attrs_ints(ar, &sm->a, 1)[0] = 1;
    inst1(m, f, OP_LOG_SOFTMAX, t85, x, NULL, NULL); /* nints 0: prints axis=[] */
    IrInst *lnorm = inst1(m, f, OP_LAYERNORM, t64, fl, ld, ld);
    lnorm->a.f = 1e-5;
    IrInst *rms = inst1(m, f, OP_RMSNORM, t64, fl, ld, NULL);
    rms->a.f = 1e-6;
    IrInst *tr = inst1(m, f, OP_TRANSPOSE, ty(DT_F32, 2, 4, 6, 0), fl, NULL, NULL);
    int64_t *perm = ir_attrs_ints(ar, &tr->a, 2);
    perm[0] = 1;
    perm[1] = 0;
    IrInst *rs = inst1(m, f, OP_RESHAPE, ty(DT_F32, 3, 2, 3, 4), fl, NULL, NULL);
    int64_t *sz = ir_attrs_ints(ar, &rs->a, 3);
    sz[0] = 2;
    sz[1] = 3;
    sz[2] = 4;
    /* the shape family: per-dim lists longer than IR_MAX_RANK, four operands */
    IrInst *sl = inst1(m, f, OP_SLICE, ty(DT_F32, 3, 2, 3, 2), rs->res[0], NULL, NULL);
    static const int64_t sl_v[9] = {0, 2, 1, 2, -1, -1, 1, 4, 2};
    memcpy(ir_attrs_ints(ar, &sl->a, 9), sl_v, sizeof sl_v);
    IrValue *four[4] = {fl, fl, fl, fl};
    IrType t244 = ty(DT_F32, 2, 24, 4, 0);
    IrInst *cat = ir_inst_new(m, f, NULL, OP_CONCAT, 4, four, 1, &t244);
    ir_attrs_ints(ar, &cat->a, 1)[0] = 0;
    IrInst *pd = inst1(m, f, OP_PAD, ty(DT_F32, 2, 7, 6, 0), fl, NULL, NULL);
    static const int64_t pd_v[4] = {1, 0, 0, 2};
    memcpy(ir_attrs_ints(ar, &pd->a, 4), pd_v, sizeof pd_v);
    pd->a.f = -0.5;
    IrInst *bc = inst1(m, f, OP_BROADCAST_TO, ty(DT_F32, 2, 3, 4, 0), ld, NULL, NULL);
    int64_t *bs = ir_attrs_ints(ar, &bc->a, 2);
    bs[0] = 3;
    bs[1] = 4;
    IrInst *mm = inst1(m, f, OP_MATMUL, ty(DT_F32, 2, 8, 6, 0), x, w, NULL);
    mm->res[0]->pl = PL(S_(0), S_(1));
    mm->in_pl = arena_alloc(ar, 2 * sizeof *mm->in_pl);
    mm->in_pl[0] = PL(S_(0), R_);
    mm->in_pl[1] = PL(R_, S_(1));
    mm->strategy = 2;
    IrInst *emb = inst1(m, f, OP_EMBEDDING, ty(DT_F32, 2, 6, 4, 0), fl, ids, NULL);
    emb->in_pl = arena_alloc(ar, 2 * sizeof *emb->in_pl); /* first entry undecided */
    emb->in_pl[1] = PL(R_, R_);
    inst1(m, f, OP_CROSS_ENTROPY, ty(DT_F32, 0, 0, 0, 0), fl, lbl, NULL);
    inst1(m, f, OP_PICK, ty(DT_F32, 1, 6, 0, 0), fl, lbl, NULL);
    IrInst *rd = inst1(m, f, OP_REDISTRIBUTE, ty(DT_F32, 2, 7, 5, 0), z, NULL, NULL);
    rd->res[0]->pl = PL(S_(0), S_(1)); /* uneven: local [4|4|3|3, 3|2|3|2] */
    rd->res[0]->pinned = true;
    rd->res[0]->name = "a.b"; /* not an identifier: printed quoted */
    rd->why = "user asked \"x\"\nline\t2 \x01";
    rd->plan = "shard(dp, dim 0) -> M[S(0), R]; shard(tp, dim 1) -> M[S(0), S(1)]";

    IrValue *cargs[2] = {fl, ld};
    IrType cres[2] = {t64, ty(DT_F32, 1, 6, 0, 0)};
    IrInst *call = ir_inst_new(m, f, NULL, OP_CALL, 2, cargs, 2, cres);
    call->a.callee = "helper";
    call->a.fn = h;
    call->res[0]->name = "h1";
    call->loc = (SrcLoc){"model.dt", 20, 9};

    IrInst *ar_ = inst1(m, f, OP_ALL_REDUCE, t64, fl, NULL, NULL);
    ar_->a.axes = 2;
    ar_->a.red = RED_SUM;
    ar_->a.bytes = 8192;
    ar_->in_pl = arena_alloc(ar, sizeof *ar_->in_pl);
    ar_->in_pl[0] = PL(S_(0), P_(RED_SUM));
    ar_->why = "P(sum) -> R for the return";
    IrInst *rsc = inst1(m, f, OP_REDUCE_SCATTER, t64, fl, NULL, NULL);
    rsc->a.axes = 1;
    rsc->a.red = RED_MAX;
    rsc->a.dim = 0;
    rsc->a.bytes = 12;
    IrInst *ag = inst1(m, f, OP_ALL_GATHER, t64, fl, NULL, NULL);
    ag->a.axes = 3;
    ag->a.dim = 1;
    ag->a.bytes = 3;
    IrInst *a2a = inst1(m, f, OP_ALL_TO_ALL, t64, fl, NULL, NULL);
    a2a->a.axes = 2;
    a2a->a.dim = 0;
    a2a->a.dim2 = 1;
    a2a->a.bytes = 100;
    IrInst *sh = inst1(m, f, OP_SHARD, t64, fl, NULL, NULL);
    sh->a.axes = 1;
    sh->a.dim = 0;
    IrInst *tp = inst1(m, f, OP_TO_PARTIAL, t64, fl, NULL, NULL);
    tp->a.axes = 2;
    tp->a.red = RED_AVG;
    tp->a.bytes = 4;
    IrInst *ng = inst1(m, f, OP_NEG, ty(DT_F64, 1, 3, 0, 0), o, NULL, NULL);
    ng->strategy = 3;
    ng->res[0]->pl = PL(S_(0), S_(0)); /* nested: local [1|1|1|0] */

    f->nresults = 3;
    f->results = arena_alloc(ar, 3 * sizeof *f->results);
    f->results[0] = e->res[0];
    f->results[1] = call->res[1];
    f->results[2] = ng->res[0];
    f->result_names = arena_alloc(ar, 3 * sizeof *f->result_names);
    f->result_names[0] = "y";
    f->result_names[2] = "out 2"; /* not an identifier */
    f->result_feeds = arena_alloc(ar, 3 * sizeof *f->result_feeds);
    f->result_feeds[0] = f->result_feeds[1] = -1;
    f->result_feeds[2] = o->param_index; /* `feeds %o`: same type f64[3] */
    return m;
}

static void test_roundtrip(void)
{
    Arena *ar = arena_new();
    IrModule *m = build_everything(ar);
    static const char *const stages[] = {NULL, "sema", "partition"};
    for (int s = 0; s < 3; s++)
        for (int nl = 0; nl < 2; nl++) {
            const char *st = stages[s];
            char *t1 = print_str(m, st, nl), *err = NULL;
            IrModule *m2 = parse_str(ar, t1, &err);
            CHECK(m2, "the printed module parses (stage %s): %s", st ? st : "-", err);
            if (!m2) {
                printf("%s", t1);
                free(t1);
                free(err);
                continue;
            }
            char *t2 = print_str(m2, st, nl);
            CHECK(!strcmp(t1, t2), "print -> parse -> print is the identity (stage %s, locs %s)",
                  st ? st : "-", nl ? "off" : "on");
            if (strcmp(t1, t2))
                printf("---- first\n%s---- second\n%s", t1, t2);
            if (!nl)
                CHECK(same_module(m, m2), "the parsed module equals the built one (stage %s)",
                      st ? st : "-");
            if (s == 2 && !nl) {
                printf("---- the everything module after partition:\n%s----\n", t1);
                CHECK(strstr(t1, "# after partition\n") == t1, "dump starts with the stage header");
                CHECK(strstr(t1, "local=[4|4|3|3, 3|2|3|2]"), "uneven local shape printed per rank");
                CHECK(strstr(t1, "local=[1|1|1|0]"), "nested split with an empty shard printed");
                CHECK(strstr(t1, "local=[4, 512]"), "even local shape printed once");
                CHECK(strstr(t1, "\"lib.dt\":2:3"), "position in another file names it");
                CHECK(strstr(t1, "{value=0.1} !12:5"), "short float and bare position");
                CHECK(strstr(t1, "{exp=0.3333333333333333}"), "1/3 printed to round-trip");
                CHECK(strstr(t1, "seed=18446744073709551615"), "64-bit seed");
                CHECK(strstr(t1, "in=[_, M[R, R]]"), "undecided in_pl entry");
            }
            if (s == 0 && nl)
                CHECK(!strstr(t1, "local=") && !strstr(t1, "!12:5") && !strstr(t1, "source"),
                      "ir_print without locs has no local shapes and no positions");
            free(t1);
            free(t2);
            free(err);
        }
    /* a position without a file refers to the source file once printed */
    IrInst *i = m->funcs[1]->first;
    i->loc.file = NULL;
    char *t1 = print_str(m, NULL, false), *err = NULL;
    IrModule *m2 = parse_str(ar, t1, &err);
    char *t2 = m2 ? print_str(m2, NULL, false) : NULL;
    CHECK(m2 && !strcmp(t1, t2), "a file-less position round-trips as text");
    CHECK(m2 && same_str(m2->funcs[1]->first->loc.file, "model.dt") && m2->funcs[1]->first->loc.line == 12,
          "a bare !L:C position gets the source file");
    free(t1);
    free(t2);
    free(err);
    arena_free(ar);
}

/* ---- 2. hand-written text ----------------------------------------------------------- */
static void test_parse_snippets(void)
{
    Arena *ar = arena_new();
    const char *good =
        "# after sema\n"
        "mesh M[dp=2, tp=4]   # a comment\n"
        "entry @main\n"
        "func @main(%x.0: f32[8, 6] @ M[S(-1), P] = randn(mean=0.5, seed=7),\n"
        "           %1: i32[] ) {\n"
        "  %y.2: f32[8, 6] @ M[R, P(max)] pinned local=[whatever] = neg %0 {strategy=4}\n"
        "  %3: f32[8] = sum %y.2 {axis=1, keepdims=false}\n"
        "  return out: %3, %x.0\n"
        "}\n";
    char *err = NULL;
    IrModule *m = parse_str(ar, good, &err);
    CHECK(m, "hand-written module parses: %s", err);
    if (m) {
        IrFunc *f = m->entry;
        CHECK(f && f->nparams == 2 && f->next_id == 4, "entry, params, next_id = max id + 1");
        CHECK(f && f->params[0]->pl.e[0].kind == PL_S && f->params[0]->pl.e[0].dim == 1,
              "S(-1) normalised to S(1)");
        CHECK(f && f->params[0]->pl.e[1].kind == PL_P && f->params[0]->pl.e[1].red == RED_SUM,
              "bare P means P(sum)");
        CHECK(f && f->inits[0].kind == INIT_RANDN && f->inits[0].seed == 7 && f->inits[0].a == 1.0 &&
                  f->inits[0].b == 0.5,
              "randn arguments in any order, std defaults to 1");
        CHECK(f && !f->params[0]->pinned && f->params[1]->name == NULL, "pinned flag and unnamed param");
        CHECK(f && f->first->args[0] == f->params[0] && f->first->strategy == 4 && f->first->res[0]->pinned,
              "%%0 refers to the named value x.0");
        CHECK(f && f->first->next->a.nints == 1 && f->first->next->a.ints[0] == 1, "axis=1 is one int");
        CHECK(f && f->nresults == 2 && !strcmp(f->result_names[0], "out") && !f->result_names[1],
              "result names");
        char *v = NULL;
        CHECK(m && verify_str(m, "sema", &v), "the hand-written module verifies: %s", v);
        free(v);
    }
    free(err);

    /* an empty module is fine */
    m = parse_str(ar, "  # nothing\n", &err);
    CHECK(m && m->nfuncs == 0, "empty input parses to an empty module");
    free(err);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"mesh M[a=2]\nfunc @f(%x.0: f32[4]) {\n  %1: f32[4] = frob %x.0\n  return %1\n}\n",
         "t.ir:3:16: error: unknown op 'frob'"},
        {"func @f(%x.0: f32[4]) {\n  %1: f32[4] = neg %2\n  return %1\n}\n",
         "t.ir:2:20: error: undefined value %2"},
        {"func @f(%x.0: f32[4]) {\n  %1: f32[4] = neg %y.0\n  return %1\n}\n",
         "t.ir:2:20: error: value %0 is named 'x', not 'y'"},
        {"mesh M[a=2, b=2]\nfunc @f(%x.0: f32[4] @ M[R]) {\n  return %x.0\n}\n",
         "t.ir:2:24: error: placement has 1 entry but mesh 'M' has 2 axes"},
        {"mesh M[a=2]\nfunc @f(%x.0: f32[4] @ M[S(1)]) {\n  return %x.0\n}\n",
         "t.ir:2:28: error: S(1) is out of range for a value of rank 1"},
        {"mesh M[a=2]\nfunc @f(%x.0: f32[4] @ M[P(prod)]) {\n  return %x.0\n}\n",
         "t.ir:2:28: error: unknown partial kind 'prod'"},
        {"mesh M[a=2]\nfunc @f(%x.0: f32[4] @ N[R]) {\n  return %x.0\n}\n",
         "t.ir:2:24: error: unknown mesh 'N'"},
        {"mesh M[a=2]\nfunc @f(%x.0: f32[4] @ M[Q]) {\n  return %x.0\n}\n",
         "t.ir:2:26: error: expected a placement entry R, S(d) or P(red), got 'Q'"},
        {"func @f(%x.0: f32[4]) {\n  %0: f32[4] = neg %x.0\n  return %0\n}\n",
         "t.ir:2:3: error: value %0 is defined twice"},
        {"func @f(%x.0: f32[4]) {\n  %1: f32[4] = add %x.0\n  return %1\n}\n",
         "t.ir:3:3: error: 'add' takes 2 operands, got 1"},
        {"func @f(%x.0: f32[4]) {\n  %1: f32[4] = neg %x.0 {axis=[0]}\n  return %1\n}\n",
         "t.ir:2:26: error: 'neg' has no attribute 'axis'"},
        {"func @f(%x.0: f32[4]) {\n  %1: f32[4] = neg %x.0\n}\n",
         "t.ir:3:1: error: function @f has no 'return'"},
        {"func @f(%x.0: f33[4]) {\n  return %x.0\n}\n", "t.ir:1:15: error: unknown dtype 'f33'"},
        {"func @f(%x.0: f32[4]) {\n  %1: f32[4] = call @g(%x.0)\n  return %1\n}\n",
         "t.ir:2:22: error: call to unknown function @g"},
        {"func @f(%x.0: f32[4] = load(\"a.npy)) {\n  return %x.0\n}\n",
         "t.ir:1:29: error: unterminated string"},
        {"func @f(%x.0: f32[4]) {\n  return %x.0\n", "t.ir:3:1: error: expected '}', got end of input"},
        {"func @f(%x.0: f32[4] @ M[R]) {\n  return %x.0\n}\n",
         "t.ir:1:24: error: placement on mesh 'M' but no mesh is declared"},
        {"entry @nope\n", "t.ir:1:8: error: entry function @nope is not defined"},
        {"func @f() {\n  return\n}\nfunc @f() {\n  return\n}\n",
         "t.ir:4:7: error: function @f is defined twice"},
        {"%", "t.ir:1:1: error: expected 'func', 'mesh', 'source' or 'entry', got '%'"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err = NULL;
        m = parse_str(ar, bad[k].text, &err);
        CHECK(!m && err && strstr(err, bad[k].want), "bad input %zu: want \"%s\", got \"%s\"", k,
              bad[k].want, err ? err : "(nothing)");
        free(err);
    }
    printf("checked %zu malformed inputs for FILE:LINE:COL errors\n", sizeof bad / sizeof bad[0]);

    /* every prefix of a valid module fails cleanly or parses (no crash) */
    Arena *a2 = arena_new();
    IrModule *em = build_everything(a2);
    char *t = print_str(em, "partition", false);
    size_t len = strlen(t);
    int nok = 0;
    for (size_t cut = 0; cut < len; cut += 7) {
        char *pre = strndup(t, cut);
        err = NULL;
        if (parse_str(ar, pre, &err))
            nok++;
        free(pre);
        free(err);
    }
    CHECK(nok >= 1, "prefixes of a dump parse or fail without crashing (%d parsed)", nok);
    free(t);
    arena_free(a2);
    arena_free(ar);
}

/* ---- 3. the verifier ------------------------------------------------------------------ */
static const char *sema_text =
    "mesh M[dp=2, tp=2]\n"
    "entry @main\n"
    "func @f(%a.0: f32[4, 4]) {\n"
    "  %1: f32[4, 4] = neg %a.0\n"
    "  return %1\n"
    "}\n"
    "func @main(%x.0: f32[4, 4] @ M[S(0), R] pinned = randn(seed=1, std=1, mean=0)) {\n"
    "  %1: f32[4, 4] = call @f(%x.0)\n"
    "  %y.2: f32[4, 4] = add %1, %x.0\n"
    "  %3: f32[] = const {value=2}\n"
    "  %4: f32[4, 4] = mul %y.2, %3\n"
    "  %5: f64[4, 4] = cast %4\n"
    "  return y: %4, %5\n"
    "}\n";

static const char *propagate_text =
    "mesh M[dp=2, tp=2]\n"
    "entry @main\n"
    "func @main(%x.0: f32[8, 16] @ M[S(0), R] pinned = randn(seed=1, std=1, mean=0),\n"
    "    %w.1: f32[16, 32] @ M[R, S(1)] pinned = randn(seed=2, std=0.02, mean=0)) {\n"
    "  %h.2: f32[8, 32] @ M[S(0), S(1)] = matmul %x.0, %w.1 {in=[M[S(0), R], M[R, S(1)]], strategy=1}\n"
    "  %3: f32[8, 32] @ M[S(0), R] pinned = redistribute %h.2 {in=[M[S(0), S(1)]], strategy=0}\n"
    "  return y: %3\n"
    "}\n";

static const char *partition_text =
    "mesh M[dp=2, tp=2]\n"
    "entry @main\n"
    "func @main(%x.0: f32[8, 16] @ M[S(0), S(1)] pinned = randn(seed=1, std=1, mean=0),\n"
    "    %w.1: f32[16, 32] @ M[R, S(0)] pinned = randn(seed=2, std=0.02, mean=0)) {\n"
    "  %2: f32[8, 32] @ M[S(0), P(sum)] = matmul %x.0, %w.1 {in=[M[S(0), S(1)], M[R, S(0)]], strategy=2}\n"
    "  %3: f32[8, 32] @ M[S(0), R] = all_reduce %2 {axes=[tp], red=sum, bytes=512, in=[M[S(0), P(sum)]], strategy=0}\n"
    "  %4: f32[8, 32] @ M[R, R] = all_gather %3 {axes=[dp], dim=0, bytes=512, in=[M[S(0), R]], strategy=0}\n"
    "  %5: f32[8, 32] @ M[R, S(1)] = shard %4 {axes=[tp], dim=1, in=[M[R, R]], strategy=0}\n"
    "  %6: f32[8, 32] @ M[P(sum), S(1)] = to_partial %5 {axes=[dp], red=sum, in=[M[R, S(1)]], strategy=0}\n"
    "  %7: f32[8, 32] @ M[S(0), S(1)] = reduce_scatter %6 {axes=[dp], red=sum, dim=0, bytes=256, in=[M[P(sum), S(1)]], strategy=0}\n"
    "  %8: f32[8, 32] @ M[S(0), S(0)] = all_to_all %7 {axes=[tp], dim=1, dim2=0, bytes=128, in=[M[S(0), S(1)]], strategy=0}\n"
    "  %9: f32[8, 32] @ M[R, R] = all_gather %8 {axes=[dp, tp], dim=0, bytes=128, in=[M[S(0), S(0)]], strategy=0}\n"
    "  return y: %9\n"
    "}\n";

/* Parses text, replacing the first `from` by `to`; the module must parse. */
static IrModule *parse_edit(Arena *ar, const char *text, const char *from, const char *to)
{
    char buf[8192];
    const char *p = from ? strstr(text, from) : NULL;
    if (from && !p) {
        printf("FAIL: edit target '%s' not found\n", from);
        nfail++;
        return NULL;
    }
    if (p)
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
    else
        snprintf(buf, sizeof buf, "%s", text);
    char *err = NULL;
    IrModule *m = parse_str(ar, buf, &err);
    if (!m) {
        printf("FAIL: edited module does not parse: %s", err);
        nfail++;
    }
    free(err);
    return m;
}

/* The verifier fails m at `stage` with a message containing `want`. */
static void expect_problem(const IrModule *m, const char *stage, const char *want, const char *what)
{
    if (!m)
        return;
    char *out = NULL;
    bool ok = verify_str(m, stage, &out);
    CHECK(!ok && strstr(out, want), "verifier catches %s after %s: want \"%s\", got \"%s\"", what, stage,
          want, out);
    if (!ok && strstr(out, want))
        printf("caught %s: %s", what, out);
    free(out);
}

static void expect_ok(const IrModule *m, const char *stage, const char *what)
{
    if (!m)
        return;
    char *out = NULL;
    CHECK(verify_str(m, stage, &out), "verifier accepts %s after %s: %s", what, stage, out);
    free(out);
}

static void test_verify(void)
{
    Arena *ar = arena_new();
    IrModule *m = parse_edit(ar, sema_text, NULL, NULL);
    expect_ok(m, "sema", "a module with a call");
    expect_problem(m, "inline", "%1 in @main: call to @f remains after inline", "a call after inline");
    expect_problem(m, "propagate", "%y.2 in @main: has no placement after propagate", "undecided placement");

    m = parse_edit(ar, propagate_text, NULL, NULL);
    expect_ok(m, "inline", "a placed module");
    expect_ok(m, "propagate", "a placed module");
    expect_ok(m, "redistribute", "a placed module");
    expect_problem(m, "partition", "%3 in @main: redistribute remains after partition",
                   "a redistribute after partition");
    m = parse_edit(ar, propagate_text, " {in=[M[S(0), S(1)]], strategy=0}", "");
    expect_problem(m, "propagate", "%3 in @main: redistribute has no in_pl after propagate", "missing in_pl");
    m = parse_edit(ar, propagate_text, "in=[M[S(0), R], M[R, S(1)]]", "in=[M[R, R], M[R, S(1)]]");
    expect_ok(m, "propagate", "in_pl that differs from the operand before redistribute");
    expect_problem(m, "redistribute", "operand 0 (%x.0) is M[S(0), R] but matmul needs M[R, R]",
                   "an operand placement that differs from in_pl");

    m = parse_edit(ar, partition_text, NULL, NULL);
    expect_ok(m, "partition", "every collective kind");
    expect_ok(m, "optimise", "every collective kind");
    expect_problem(m, "redistribute", "all_reduce before partition", "a collective before partition");
    m = parse_edit(ar, partition_text, "all_reduce %2", "all_reduce %x.0");
    expect_problem(m, "partition", "on axis tp all_reduce must turn P(sum) into R, but turns S(1) into R",
                   "a bad all_reduce transition");
    m = parse_edit(ar, partition_text, "all_gather %3 {axes=[dp]", "all_gather %3 {axes=[tp]");
    expect_problem(m, "partition", "axis dp is not in axes but all_gather changes it from S(0) to R",
                   "an all_gather that changes an axis outside its axes");
    m = parse_edit(ar, partition_text,
                   "%9: f32[8, 32] @ M[R, R] = all_gather %8 {axes=[dp, tp]",
                   "%9: f32[8, 32] @ M[R, S(0)] = all_gather %8 {axes=[dp]");
    expect_problem(m, "partition", "only the innermost split can be gathered", "gathering an outer split");
    m = parse_edit(ar, partition_text, "red=sum, dim=0, bytes=256", "red=max, dim=0, bytes=256");
    expect_problem(m, "partition", "reduce_scatter must turn P(max) into S(0), but turns P(sum) into S(0)",
                   "a reduce_scatter with the wrong reduction");

    m = parse_edit(ar, sema_text, "%1: f32[4, 4] = neg %a.0", "%1: f32[4, 5] = neg %a.0");
    expect_problem(m, "sema", "%1 in @f: has type f32[4, 5] but neg of its operands gives f32[4, 4]",
                   "a wrong result type");
    m = parse_edit(ar, sema_text, "%5: f64[4, 4] = cast %4", "%5: f64[4, 3] = cast %4");
    expect_problem(m, "sema", "has type f64[4, 3] but cast of its operands gives f64[4, 4]", "a bad cast");
    m = parse_edit(ar, sema_text, "%1: f32[4, 4] = call @f", "%1: f32[4, 2] = call @f");
    expect_problem(m, "sema", "result 0 is f32[4, 2], @f returns f32[4, 4]", "a call result of the wrong type");

    /* broken through the API */
    m = parse_edit(ar, sema_text, NULL, NULL);
    if (m) {
        IrFunc *f = m->entry;
        IrInst *add = f->first->next;
        /* use before def: an exp of %y.2 inserted before the add */
        IrValue *y = add->res[0];
        IrInst *bad = ir_inst_new(m, f, add, OP_EXP, 1, &y, 1, &y->type);
        expect_problem(m, "sema", "operand 0 (%y.2) is used before its definition", "a use before definition");
        ir_inst_remove(f, bad);
        expect_ok(m, "sema", "the module once the bad use is removed");

        /* a value of another function */
        IrValue *other = m->funcs[0]->params[0];
        IrInst *bad2 = ir_inst_new(m, f, NULL, OP_NEG, 1, &other, 1, &other->type);
        expect_problem(m, "sema", "operand 0 (%a.0) is not defined in @main", "a value of another function");
        ir_inst_remove(f, bad2);

        /* duplicate id */
        int old = f->first->next->next->res[0]->id;
        f->first->next->next->res[0]->id = 2;
        expect_problem(m, "sema", "id 2 is already used by %y.2", "a duplicate id");
        f->first->next->next->res[0]->id = old;

        /* id at or beyond next_id */
        f->next_id = 3;
        expect_problem(m, "sema", "id 4 is not in [0, next_id = 3)", "an id beyond next_id");
        f->next_id = 6;

        /* wrong operand count */
        add->nargs = 1;
        expect_problem(m, "sema", "add takes 2 operands, has 1", "a wrong operand count");
        add->nargs = 2;

        /* placement out of range / wrong length */
        f->params[0]->pl.e[0].dim = 2;
        expect_problem(m, "sema", "%x.0 in @main: placement: S(2) on axis dp is out of range for rank 2",
                       "a split dim out of range");
        f->params[0]->pl.naxes = 1;
        expect_problem(m, "sema", "placement has 1 entry but the mesh has 2 axes", "a short placement");
        f->params[0]->pl.naxes = 0;
        expect_problem(m, "sema", "%x.0 in @main: is pinned but has no placement", "a pinned undecided value");
        f->params[0]->pl = PL(S_(0), R_);

        /* result not defined in the function */
        f->results[0] = other;
        expect_problem(m, "sema", "@main: result 0 (%a.0) is not defined in @main", "a foreign result");
        f->results[0] = add->res[0];
        expect_ok(m, "sema", "the repaired module");
    }

    /* unknown stage names are a compiler bug: abort */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *null = fopen("/dev/null", "w");
        if (null)
            dup2(fileno(null), 2);
        ir_verify(m, "partitioning", stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status), "an unknown stage name aborts (DTC_BUG)");
    arena_free(ar);
}

/* ---- floats ------------------------------------------------------------------------------ */
static void test_floats(void)
{
    static const double xs[] = {0.1, 1e-5, 1e-6, 0.02, 1.0 / 3.0, 2.5, -0.0, 0.0, 1e300, 5e-324,
                                9007199254740993.0, 123456789.125, 3.4028234663852886e38};
    for (size_t k = 0; k < sizeof xs / sizeof xs[0]; k++) {
        char buf[64];
        ir_float_str(xs[k], buf, sizeof buf);
        double y = strtod(buf, NULL);
        CHECK(!memcmp(&y, &xs[k], sizeof y), "float %s reads back bit for bit", buf);
    }
    char buf[64];
    CHECK(!strcmp(ir_float_str(0.1, buf, sizeof buf), "0.1"), "0.1 is short: %s", buf);
    CHECK(!strcmp(ir_float_str(1e-5, buf, sizeof buf), "1e-05"), "1e-5 is short: %s", buf);
    CHECK(!strcmp(ir_float_str(-0.0, buf, sizeof buf), "-0"), "-0 keeps its sign: %s", buf);
    CHECK(!strcmp(ir_float_str(-INFINITY, buf, sizeof buf), "-inf"), "-inf: %s", buf);
    CHECK(!strcmp(ir_float_str(NAN, buf, sizeof buf), "nan"), "nan: %s", buf);
}

int main(void)
{
    test_floats();
    test_roundtrip();
    test_parse_snippets();
    test_verify();
    printf("%d checks, %d failed\n", ncheck, nfail);
    return nfail ? 1 : 0;
}
