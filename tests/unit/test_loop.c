/* test_loop.c - loops over layers through the whole sharding pipeline:
 * inline keeps a loop a loop (one body per loop instruction, calls inside
 * it inlined), propagate settles the carried placement at the back edge
 * (carried parameter == carried result), partition and the collective check
 * cover the body, and the sharded run (every trip, every rank) equals the
 * global one; verify rejects a malformed loop.
 */
#include "sharding_harness.h"

static int count_op(const IrFunc *f, IrOp op)
{
    int n = 0;
    for (const IrInst *i = f->first; i; i = i->next)
        n += i->op == op;
    return n;
}

static const IrInst *first_loop(const IrFunc *f)
{
    for (const IrInst *i = f->first; i; i = i->next)
        if (i->op == OP_LOOP)
            return i;
    return NULL;
}

/* After propagate: every loop's carried values agree at the back edge. */
static void check_back_edges(const IrModule *m, const char *name)
{
    for (int k = 0; k < m->nfuncs; k++)
        for (const IrInst *i = m->funcs[k]->first; i; i = i->next) {
            if (i->op != OP_LOOP)
                continue;
            const IrFunc *b = i->a.fn;
            for (int c = 0; c < i->a.ncarry; c++) {
                h_check(pl_eq(&b->params[c]->pl, &b->results[c]->pl),
                        "%s: carried value %d of @%s differs at the back edge", name, c, b->name);
                h_check(pl_eq(&i->res[c]->pl, &b->params[c]->pl) && pl_eq(&i->in_pl[c], &b->params[c]->pl),
                        "%s: loop result / operand %d not at the carried placement", name, c);
            }
        }
}

typedef struct Case {
    const char *name;
    const char *src;
    int nbodies;      /* loop bodies after inline */
    int body_comm;    /* collectives in the first body after optimise; -1: any */
} Case;

static const Case cases[] = {
    {"residual_mlp_megatron",
     "const L = 4;\n"
     "mesh M[dp=2, tp=2];\n"
     "fn block(h: f32[8, 6], a: f32[6, 10], b: f32[10, 6]) -> f32[8, 6] { return h + gelu(h @ a) @ b; }\n"
     "fn main(x: f32[8, 6] @ M[S(0), R] = randn(seed=1),\n"
     "        w1: f32[L, 6, 10] @ M[R, S(2)] = randn(seed=2, std=0.3),\n"
     "        w2: f32[L, 10, 6] @ M[R, S(1)] = randn(seed=3, std=0.3)) -> f32[8, 6] @ M[S(0), R] {\n"
     "    let h = x;\n"
     "    for l in 0..L carry (h) { h = block(h, w1[l], w2[l]); }\n"
     "    return h;\n"
     "}\n",
     1, 1},
    {"uneven_mesh_pinned_carry",
     "const L = 3;\n"
     "mesh M[a=3];\n"
     "fn main(x: f32[7, 5] @ M[S(1)] = randn(seed=1),\n"
     "        w: f32[L, 5, 5] @ M[S(2)] = randn(seed=2, std=0.4),\n"
     "        g: f32[5] @ M[S(0)] = rand(seed=3)) -> f32[7, 5] {\n"
     "    let h = x;\n"
     "    for l in 0..L carry (h @ M[S(0)]) { h = tanh(h @ w[l]) * g + h; }\n"
     "    return h;\n"
     "}\n",
     1, -1},
    {"partial_stacked_two_carries",
     "const L = 2;\n"
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[4, 6] @ M[R, S(1)] = randn(seed=1),\n"
     "        w: f32[L, 6, 6] @ M[P(sum), R] = randn(seed=2, std=0.3),\n"
     "        v: f32[L, 6] @ M[R, P(max)] = randn(seed=3)) -> (f32[4, 6], f32[4]) {\n"
     "    let h = x;\n"
     "    let s = sum(x, axis=1);\n"
     "    for l in 0..L carry (h, s) {\n"
     "        h = relu(h @ w[l]) + v[l];\n"
     "        s = s + max(h, axis=1);\n"
     "    }\n"
     "    return h, s;\n"
     "}\n",
     1, -1},
    {"nested_and_called_twice",
     "const L = 2; const K = 3;\n"
     "mesh M[a=2, b=3];\n"
     "fn layers(h: f32[6, 4], w: f32[L, K, 4, 4]) -> f32[6, 4] {\n"
     "    for l in 0..L carry (h) {\n"
     "        let wl = w[l];\n"
     "        for k in 0..K carry (h) { h = sigmoid(h @ wl[k]) + h; }\n"
     "    }\n"
     "    return h;\n"
     "}\n"
     "fn main(x: f32[6, 4] @ M[S(0), S(1)] = randn(seed=1),\n"
     "        w: f32[L, K, 4, 4] @ M[R, S(3)] = randn(seed=2, std=0.5)) -> f32[6, 4] {\n"
     "    return layers(layers(x, w), w);\n"
     "}\n",
     4, -1},
    {"zero_trips_and_capture",
     "const L = 0;\n"
     "mesh M[a=2];\n"
     "fn main(x: f32[4, 4] @ M[S(0)] = randn(seed=1),\n"
     "        c: f32[4, 4] @ M[S(1)] = randn(seed=2)) -> f32[4, 4] {\n"
     "    let h = x;\n"
     "    for l in 0..L carry (h) { h = h @ c + c; }\n"
     "    return h + c;\n"
     "}\n",
     1, -1},
};

static void run_case(const Case *c)
{
    Arena *ar = arena_new();
    IrModule *m = h_load(ar, c->name, c->src);
    if (m) {
        h_check(m->nfuncs == 1 + c->nbodies, "%s: %d functions after inline, want 1 + %d bodies", c->name,
                m->nfuncs, c->nbodies);
        int calls = 0;
        for (int k = 0; k < m->nfuncs; k++)
            calls += count_op(m->funcs[k], OP_CALL);
        h_check(calls == 0, "%s: %d calls left after inline (inside loop bodies too)", c->name, calls);
        for (int k = 1; k < m->nfuncs; k++)
            for (int j = 1; j < k; j++)
                h_check(m->funcs[j] != m->funcs[k], "%s: two loops share a body", c->name);
        Tensor *ref = h_run_global(ar, m, c->name);
        if (ref && h_passes(ar, m, c->name, "propagate"))
            check_back_edges(m, c->name);
    }
    arena_free(ar);

    /* the whole pipeline once more, from scratch, with the sharded run */
    ar = arena_new();
    m = h_full(ar, c->name, c->src);
    if (m) {
        check_back_edges(m, c->name);
        const IrInst *lp = first_loop(m->entry);
        if (lp && c->body_comm >= 0) {
            int n = 0;
            for (const IrInst *i = lp->a.fn->first; i; i = i->next)
                n += (ir_op_flags(i->op) & OPF_COMM) != 0;
            h_check(n == c->body_comm, "%s: %d collectives in the body, want %d", c->name, n, c->body_comm);
        }
        printf("ok: %s: %d function(s), sharded run equals the global one\n", c->name, m->nfuncs);
    }
    arena_free(ar);
}

/* A loop whose body does not take what it is given is refused. */
static void verify_rejects(void)
{
    Arena *ar = arena_new();
    IrModule *m = h_load(ar, "verify", cases[0].src);
    if (m) {
        h_check(ir_verify(m, "inline", stderr), "verify: a good loop is refused");
        IrInst *lp = (IrInst *)first_loop(m->entry);
        IrFunc *b = lp->a.fn;
        IrType saved = b->params[1]->type;
        b->params[1]->type.dims[0] += 1; /* the slice of w1 no longer fits */
        FILE *sink = tmpfile();
        h_check(!ir_verify(m, "inline", sink), "verify: a body parameter of the wrong type is accepted");
        b->params[1]->type = saved;
        lp->a.trip += 1; /* stacked dim 0 != trip */
        h_check(!ir_verify(m, "inline", sink), "verify: a trip count other than the stacked dim is accepted");
        lp->a.trip -= 1;
        h_check(ir_verify(m, "inline", stderr), "verify: the restored loop is refused");
        if (sink)
            fclose(sink);
        printf("ok: verify refuses a mistyped body parameter and a wrong trip count\n");
    }
    arena_free(ar);
}

int main(void)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        run_case(&cases[k]);
    verify_rejects();
    return h_report("test_loop");
}
