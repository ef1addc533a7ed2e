/* rule.c - the body of a rule fn on local shapes (ir_rule_local_body, ir.h).
 *
 * A rule fn (`fn f(...) -> T sharding { (S(0), R) -> S(0); ... } { body }`,
 * docs/LANGUAGE.md section 11) is written globally; a strategy is the user's
 * promise that the same body run on each rank's shards computes that rank's
 * shard of the declared result.  Once the placements of a call are chosen,
 * the body is copied with every value re-typed by the op's own shape rule
 * (ir_infer) on the local shapes, which the operands' even splits give.  An
 * op whose attributes fix a global shape (reshape, iota, broadcast_to ...)
 * then either still fits (it names no split dim) or fails its shape rule:
 * the failure is the message.  The copy is a local fn body (parameters at
 * the chosen placements), so ir_local_expand splices it like one.
 * Not allowed in a rule body (each needs a placement or a body of its own):
 * calls, loops, gradients, redistributes and explicit collectives.
 */
#include "ir/ir.h"

#include <string.h>

static const char *not_allowed(IrOp op)
{
    switch (op) {
    case OP_CALL:
    case OP_RULE_CALL:
    case OP_LOCAL_CALL:
    case OP_GRAD:
        return "a call";
    case OP_LOOP:
        return "a for loop";
    case OP_REDISTRIBUTE:
        return "a placement";
    default:
        return ir_op_flags(op) & OPF_COMM ? "a collective" : NULL;
    }
}

/* A slice on local shapes: a dim the split made shorter must be sliced
 * whole (x[::2], x[::-1]: the same start, stop and step on the local
 * piece); slicing part of it names global indices, which differ per rank.
 * NULL when a is rewritten, else the message. */
static const char *local_slice(Arena *ar, const IrType *g, const IrType *l, IrAttrs *a)
{
    if (a->nints != 3 * g->rank)
        return "slice: malformed bounds";
    int64_t *v = arena_alloc(ar, sizeof *v * (size_t)(a->nints + 1));
    memcpy(v, a->ints, sizeof *v * (size_t)a->nints);
    for (int d = 0; d < g->rank; d++) {
        int64_t n = g->dims[d], nl = l->dims[d], *b = &v[3 * d];
        if (n == nl)
            continue;
        if (b[2] > 0 && b[0] == 0 && b[1] == n)
            b[1] = nl;
        else if (b[2] < 0 && b[0] == n - 1 && b[1] == -1)
            b[0] = nl - 1;
        else
            return arena_printf(ar, "a slice of part of dim %d, which the strategy splits (only a whole "
                                "dim, as x[::2], slices each rank's piece alike)", d);
    }
    a->ints = v;
    return NULL;
}

const char *ir_rule_body_refuses(Arena *ar, const IrFunc *f, const IrInst **at)
{
    for (const IrInst *i = f->first; i; i = i->next) {
        const char *what = not_allowed(i->op);
        if (what || i->nres != 1) {
            *at = i;
            if (i->op == OP_CALL || i->op == OP_GRAD)
                what = arena_printf(ar, "a call of '%s'", i->a.callee ? i->a.callee : "?");
            return arena_printf(ar, "%s in the body of '%s', which has sharding rules: its body is plain "
                                "per-shard code (no calls, loops, placements or collectives)",
                                what ? what : "an op with several results", f->name);
        }
    }
    return NULL;
}

IrFunc *ir_rule_local_body(IrModule *m, const IrFunc *f, const Placement *in, const Placement *out,
                           const char **err)
{
    Arena *ar = m->arena;
    const IrMesh *mesh = &m->mesh;
    char tb[128], pb[256];
    *err = NULL;
    if (f->nresults != 1) {
        *err = arena_printf(ar, "a fn with sharding rules has one result, '%s' has %d", f->name, f->nresults);
        return NULL;
    }
    IrFunc *b = arena_alloc(ar, sizeof *b);
    b->name = f->name;
    b->loc = f->loc;
    IrValue **map = arena_alloc(ar, sizeof *map * (size_t)(f->next_id + 1));
    IrInit none;
    memset(&none, 0, sizeof none);
    int ways = 0;
    const char *e0;
    for (int k = 0; k < f->nparams; k++) {
        const IrValue *p = f->params[k];
        int d = ir_local_split_dim(mesh, &p->type, &in[k], &ways);
        if (d >= 0) {
            *err = arena_printf(ar, "parameter '%s' %s at %s: dim %d does not split evenly into %d", p->name,
                                ir_type_str(&p->type, tb, sizeof tb), pl_str(mesh, &in[k], pb, sizeof pb), d,
                                ways);
            return NULL;
        }
        map[p->id] = ir_param_new(m, b, p->name, ir_local_type(mesh, &p->type, &in[k]), in[k], none);
    }
    const IrInst *bad;
    if ((*err = ir_rule_body_refuses(ar, f, &bad)))
        return NULL;
    for (const IrInst *i = f->first; i; i = i->next) {
        IrValue **as = arena_alloc(ar, sizeof *as * (size_t)(i->nargs + 1));
        IrType *ts = arena_alloc(ar, sizeof *ts * (size_t)(i->nargs + 1));
        for (int k = 0; k < i->nargs; k++) {
            as[k] = map[i->args[k]->id];
            ts[k] = as[k]->type;
        }
        IrAttrs at = i->a;
        if (i->op == OP_SLICE && (e0 = local_slice(ar, &i->args[0]->type, &ts[0], &at))) {
            *err = e0;
            return NULL;
        }
        IrType t = i->res[0]->type; /* const and cast read their dtype from it */
        const char *e = ir_infer(ar, i->op, i->nargs, ts, &at, &t);
        if (e) {
            *err = arena_printf(ar, "on the local shapes, %s", e);
            return NULL;
        }
        IrInst *c = ir_inst_new(m, b, NULL, i->op, i->nargs, as, 1, &t);
        c->a = at;
        c->loc = i->loc;
        c->res[0]->name = i->res[0]->name;
        map[i->res[0]->id] = c->res[0];
    }
    const IrValue *r = f->results[0];
    if (ir_local_split_dim(mesh, &r->type, out, &ways) >= 0) {
        *err = arena_printf(ar, "the result %s at %s does not split evenly", ir_type_str(&r->type, tb, sizeof tb),
                            pl_str(mesh, out, pb, sizeof pb));
        return NULL;
    }
    IrType want = ir_local_type(mesh, &r->type, out);
    IrValue *got = map[r->id];
    if (memcmp(&want, &got->type, sizeof want) != 0 &&
        (want.rank != got->type.rank || want.dtype != got->type.dtype ||
         memcmp(want.dims, got->type.dims, sizeof want.dims[0] * (size_t)want.rank))) {
        char gb[128];
        *err = arena_printf(ar, "the body computes a local %s, but the result at %s is locally %s",
                            ir_type_str(&got->type, gb, sizeof gb), pl_str(mesh, out, pb, sizeof pb),
                            ir_type_str(&want, tb, sizeof tb));
        return NULL;
    }
    b->nresults = 1;
    b->results = arena_alloc(ar, sizeof *b->results);
    b->results[0] = got;
    return b;
}
