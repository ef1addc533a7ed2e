/* test_propagate.c - placements that pass_propagate decides and the
 * redistributions pass_redistribute inserts, per op family and placement
 * kind (spec section 6), on small programs whose answer is known.  Each
 * program also goes through partition and the sharded interpreter, so a
 * decision is only accepted if it computes the right numbers.
 */
#include "passes/rules.h"
#include "sharding_harness.h"

typedef struct Expect {
    const char *value; /* source name of a value */
    const char *pl;    /* its placement after propagate */
} Expect;

typedef struct Case {
    const char *name;
    const char *src;
    bool bandwidth_only; /* free latency: prefer moving fewer bytes */
    int ncomm;           /* collectives after partition; -1: don't care */
    Expect expect[6];
    const char *strategy_of; /* value whose defining op's strategy is checked */
    int strategy;
} Case;

static const Case cases[] = {
    {"ew_same_split",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[4, 6] @ M[S(0), S(1)] = randn(seed=1),\n"
     "        y: f32[4, 6] @ M[S(0), S(1)] = randn(seed=2)) -> f32[4, 6] {\n"
     "    let z = tanh(x + y) * y;\n"
     "    return z;\n"
     "}\n",
     false, 0, {{"z", "M[S(0), S(1)]"}}, NULL, 0},
    {"ew_broadcast_bias",
     "mesh M[a=2];\n"
     "fn main(x: f32[4, 6] @ M[S(1)] = randn(seed=1),\n"
     "        b: f32[6] @ M[R] = randn(seed=2)) -> f32[4, 6] {\n"
     "    let z = x + b;\n"
     "    return z;\n"
     "}\n",
     false, 0, {{"z", "M[S(1)]"}}, NULL, 0},
    {"ew_broadcast_size1",
     "mesh M[a=2];\n"
     "fn main(x: f32[4, 6] @ M[S(0)] = randn(seed=1),\n"
     "        c: f32[1, 6] @ M[R] = randn(seed=2)) -> f32[4, 6] {\n"
     "    let z = x * c;\n"
     "    return z;\n"
     "}\n",
     false, 0, {{"z", "M[S(0)]"}}, NULL, 0},
    {"partial_add",
     "mesh M[a=2];\n"
     "fn main(p: f32[4] @ M[P(sum)] = randn(seed=1),\n"
     "        q: f32[4] @ M[P(sum)] = randn(seed=2)) -> f32[4] {\n"
     "    let s = p + q;\n"
     "    let t = s - neg(q);\n"
     "    return t;\n"
     "}\n",
     false, 0, {{"s", "M[P(sum)]"}, {"t", "M[P(sum)]"}}, NULL, 0},
    {"partial_times_replicated",
     "mesh M[a=2];\n"
     "fn main(p: f32[4] @ M[P(sum)] = randn(seed=1),\n"
     "        r: f32[4] @ M[R] = randn(seed=2)) -> f32[4] {\n"
     "    let s = p * r;\n"
     "    let t = s / 3.0;\n"
     "    return t;\n"
     "}\n",
     false, 0, {{"s", "M[P(sum)]"}, {"t", "M[P(sum)]"}}, NULL, 0},
    {"partial_product_needs_reduce",
     "mesh M[a=2];\n"
     "fn main(p: f32[4] @ M[P(sum)] = randn(seed=1),\n"
     "        q: f32[4] @ M[P(sum)] = randn(seed=2)) -> f32[4] {\n"
     "    let s = p * q;\n"
     "    return s;\n"
     "}\n",
     false, 1, {{"s", "M[P(sum)]"}}, NULL, 0},
    {"partial_max_monotone",
     "mesh M[a=2];\n"
     "fn main(p: f32[4] @ M[P(max)] = randn(seed=1)) -> f32[4] {\n"
     "    let e = exp(p);\n"
     "    let r = relu(e) + 1.0;\n"
     "    return r;\n"
     "}\n",
     false, 0, {{"e", "M[P(max)]"}, {"r", "M[P(max)]"}}, NULL, 0},
    {"partial_sum_nonlinear",
     "mesh M[a=2];\n"
     "fn main(p: f32[4] @ M[P(sum)] = randn(seed=1)) -> f32[4] {\n"
     "    let e = exp(p);\n"
     "    return e;\n"
     "}\n",
     false, 1, {{"e", "M[S(0)]"}}, NULL, 0}, /* reduce_scatter beats all_reduce */
    {"neg_max_to_min",
     "mesh M[a=2];\n"
     "fn main(p: f32[4] @ M[P(max)] = randn(seed=1)) -> f32[4] {\n"
     "    let n = neg(p);\n"
     "    return n;\n"
     "}\n",
     false, 0, {{"n", "M[P(min)]"}}, NULL, 0},
    {"matmul_rows_cols",
     "mesh M[dp=2, tp=2];\n"
     "fn main(x: f32[8, 16] @ M[S(0), R] = randn(seed=1),\n"
     "        w: f32[16, 32] @ M[R, S(1)] = randn(seed=2)) -> f32[8, 32] {\n"
     "    let h = x @ w;\n"
     "    return h;\n"
     "}\n",
     false, 0, {{"h", "M[S(0), S(1)]"}}, NULL, 0},
    {"matmul_contraction",
     "mesh M[a=2];\n"
     "fn main(x: f32[8, 16] @ M[S(1)] = randn(seed=1),\n"
     "        w: f32[16, 32] @ M[S(0)] = randn(seed=2)) -> f32[8, 32] {\n"
     "    let h = x @ w;\n"
     "    return h;\n"
     "}\n",
     false, 0, {{"h", "M[P(sum)]"}}, NULL, 0},
    {"matmul_batch",
     "mesh M[a=3];\n"
     "fn main(x: f32[3, 4, 5] @ M[S(0)] = randn(seed=1),\n"
     "        w: f32[5, 2] @ M[R] = randn(seed=2)) -> f32[3, 4, 2] {\n"
     "    let h = x @ w;\n"
     "    return h;\n"
     "}\n",
     false, 0, {{"h", "M[S(0)]"}}, NULL, 0},
    {"mlp_hint",
     "mesh M[dp=2, tp=2];\n"
     "fn main(x: f32[8, 16] @ M[S(0), R] = randn(seed=1),\n"
     "        w1: f32[16, 32] @ M[R, S(1)] = randn(seed=2),\n"
     "        w2: f32[32, 16] @ M[R, S(0)] = randn(seed=3)) -> f32[8, 16] @ M[S(0), R] {\n"
     "    let h = gelu(x @ w1);\n"
     "    let y = h @ w2;\n"
     "    return y;\n"
     "}\n",
     false, 1, {{"h", "M[S(0), S(1)]"}}, NULL, 0},
    {"sum_split",
     "mesh M[a=4];\n"
     "fn main(x: f32[7, 3] @ M[S(0)] = randn(seed=1)) -> f32[3] {\n"
     "    let s = sum(x, axis=0);\n"
     "    return s;\n"
     "}\n",
     false, 0, {{"s", "M[P(sum)]"}}, "s", STRAT_LOCAL},
    {"max_min_split",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[6, 4] @ M[S(0), S(1)] = randn(seed=1)) -> (f32[4], f32[6]) {\n"
     "    let a = max(x, axis=0);\n"
     "    let b = min(x, axis=1);\n"
     "    return a, b;\n"
     "}\n",
     false, 0, {{"a", "M[P(max), S(0)]"}, {"b", "M[S(0), P(min)]"}}, NULL, 0},
    {"mean_split_uneven",
     "mesh M[a=4];\n"
     "fn main(x: f32[7, 3] @ M[S(0)] = randn(seed=1)) -> f32[3] {\n"
     "    let m = mean(x, axis=0);\n"
     "    return m;\n"
     "}\n",
     false, 0, {{"m", "M[P(sum)]"}}, "m", STRAT_MEAN_SUM},
    {"sum_of_partial",
     "mesh M[a=2];\n"
     "fn main(p: f32[4, 5] @ M[P(sum)] = randn(seed=1)) -> f32[5] {\n"
     "    let s = sum(p, axis=0);\n"
     "    return s;\n"
     "}\n",
     false, 0, {{"s", "M[P(sum)]"}}, NULL, 0},
    {"softmax_other_dim",
     "mesh M[a=2];\n"
     "fn main(x: f32[4, 6] @ M[S(0)] = randn(seed=1)) -> f32[4, 6] {\n"
     "    let s = softmax(x, axis=1);\n"
     "    return s;\n"
     "}\n",
     false, 0, {{"s", "M[S(0)]"}}, "s", STRAT_LOCAL},
    {"softmax_split_dim",
     "mesh M[a=2];\n"
     "fn main(x: f32[64] @ M[S(0)] = randn(seed=1)) -> f32[64] @ M[S(0)] {\n"
     "    let s = softmax(x, axis=0);\n"
     "    return s;\n"
     "}\n",
     true, 2, {{"s", "M[S(0)]"}}, "s", STRAT_XRANK},
    {"layernorm_split_last",
     "mesh M[a=2];\n"
     "fn main(x: f32[3, 8] @ M[S(1)] = randn(seed=1),\n"
     "        g: f32[8] @ M[S(0)] = randn(seed=2), b: f32[8] @ M[S(0)] = randn(seed=3)) -> f32[3, 8] @ M[S(1)] {\n"
     "    let y = layernorm(x, g, b);\n"
     "    return y;\n"
     "}\n",
     true, 2, {{"y", "M[S(1)]"}}, "y", STRAT_XRANK},
    {"transpose_permutes",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[4, 5, 6] @ M[S(0), S(2)] = randn(seed=1)) -> f32[6, 4, 5] {\n"
     "    let t = transpose(x, [2, 0, 1]);\n"
     "    return t;\n"
     "}\n",
     false, 0, {{"t", "M[S(1), S(0)]"}}, NULL, 0},
    {"reshape_keeps_even",
     "mesh M[a=2];\n"
     "fn main(x: f32[8, 3] @ M[S(0)] = randn(seed=1)) -> f32[24] {\n"
     "    let r = reshape(x, [24]);\n"
     "    return r;\n"
     "}\n",
     false, 0, {{"r", "M[S(0)]"}}, NULL, 0},
    {"reshape_uneven_gathers",
     "mesh M[a=2];\n"
     "fn main(x: f32[7, 3] @ M[S(0)] = randn(seed=1)) -> f32[21] {\n"
     "    let r = reshape(x, [21]);\n"
     "    return r;\n"
     "}\n",
     false, 1, {{"r", "M[R]"}}, NULL, 0},
    {"embedding_vocab_split",
     "mesh M[a=2];\n"
     "fn main(t: f32[10, 4] @ M[S(0)] = randn(seed=1),\n"
     "        f: f32[3] @ M[R] = rand(seed=2, lo=0, hi=10)) -> f32[3, 4] {\n"
     "    let e = embedding(t, cast(f, i32));\n"
     "    return e;\n"
     "}\n",
     false, 0, {{"e", "M[P(sum)]"}}, NULL, 0},
    {"embedding_dim_split",
     "mesh M[a=2, b=3];\n"
     "fn main(t: f32[10, 4] @ M[S(1), R] = randn(seed=1),\n"
     "        f: f32[6] @ M[R, S(0)] = rand(seed=2, lo=0, hi=10)) -> f32[6, 4] {\n"
     "    let e = embedding(t, cast(f, i32));\n"
     "    return e;\n"
     "}\n",
     false, 0, {{"e", "M[S(1), S(0)]"}}, NULL, 0},
    {"cross_entropy_vocab",
     "mesh M[a=2];\n"
     "fn main(x: f32[4, 9] @ M[S(1)] = randn(seed=1),\n"
     "        f: f32[4] @ M[R] = rand(seed=2, lo=0, hi=9)) -> f32[] {\n"
     "    let l = cross_entropy(x, cast(f, i32));\n"
     "    return l;\n"
     "}\n",
     true, 2, {{"l", "M[P(sum)]"}}, "l", STRAT_CE_SPLIT},
    {"pinned_let",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[4, 6] @ M[S(0), S(1)] = randn(seed=1)) -> f32[4, 6] {\n"
     "    let y @ M[R, S(1)] = x * 2.0;\n"
     "    return y;\n"
     "}\n",
     false, 1, {{"y", "M[R, S(1)]"}}, NULL, 0},
    {"nested_split_kept",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[7, 6] @ M[S(0), S(0)] = randn(seed=1),\n"
     "        w: f32[6, 5] @ M[R, R] = randn(seed=2)) -> f32[7, 5] {\n"
     "    let y = x @ w;\n"
     "    return y;\n"
     "}\n",
     false, 0, {{"y", "M[S(0), S(0)]"}}, NULL, 0},
    /* a pinned broadcast_to's placement is a hint for the ops before it:
     * without it the reshape split the replicated value to save compute and
     * the broadcast gathered it back (samples/llama.dt's KV heads on tp=4) */
    {"hint_through_broadcast_to",
     "mesh M[a=4];\n"
     "fn main(x: f32[3, 8, 16] @ M[R] = randn(seed=1)) -> f32[3, 2, 4, 8, 8] {\n"
     "    let h = transpose(reshape(x, [3, 8, 2, 8]), [0, 2, 1, 3]);\n"
     "    let r @ M[R] = broadcast_to(reshape(h, [3, 2, 1, 8, 8]), [3, 2, 4, 8, 8]);\n"
     "    return r;\n"
     "}\n",
     false, 0, {{"h", "M[R]"}, {"r", "M[R]"}}, NULL, 0},
    /* a captured value the loop body wants elsewhere moves once, before the
     * loop (the collective is in main), not on every trip */
    {"capture_moved_before_loop",
     "mesh M[a=2];\n"
     "fn main(x: f32[4, 6] @ M[R] = randn(seed=1), c: f32[6] @ M[S(0)] = randn(seed=2),\n"
     "        w: f32[3, 6, 6] @ M[R] = randn(seed=3, std=0.3)) -> f32[4, 6] {\n"
     "    let h = x;\n"
     "    for l in 0..3 carry (h @ M[R]) {\n"
     "        h = tanh(h @ w[l]) * c;\n"
     "    }\n"
     "    return h;\n"
     "}\n",
     false, 1, {{"c", "M[S(0)]"}}, NULL, 0},
};

/* The value named `name` before partition rewrote it: find it by name. */
static void run_case(const Case *c)
{
    Arena *ar = arena_new();
    h_bandwidth_only(c->bandwidth_only);
    IrModule *m = h_load(ar, c->name, c->src);
    if (!m)
        goto out;
    Tensor *ref = h_run_global(ar, m, c->name);
    if (!ref || !h_passes(ar, m, c->name, "propagate"))
        goto out;
    int before = h_failures;
    for (int k = 0; k < 6 && c->expect[k].value; k++)
        h_expect_pl(m, c->expect[k].value, c->expect[k].pl, c->name);
    if (c->strategy_of) {
        IrValue *v = h_value(m, c->strategy_of);
        h_check(v && v->def && v->def->strategy == c->strategy, "%s: %%%s has strategy %d, expected %d",
                c->name, c->strategy_of, v && v->def ? v->def->strategy : -1, c->strategy);
    }
    /* the rest of the pipeline, then the numbers */
    PassCtx ctx = h_ctx(ar);
    if (!pass_redistribute(&ctx, m) || !ir_verify(m, "redistribute", stderr) ||
        !pass_partition(&ctx, m) || !ir_verify(m, "partition", stderr) ||
        !pass_check_collectives(&ctx, m)) {
        h_check(false, "%s: redistribute / partition failed", c->name);
        goto out;
    }
    if (c->ncomm >= 0)
        h_check(h_count_comm(m) == c->ncomm, "%s: %d collectives, expected %d", c->name, h_count_comm(m),
                c->ncomm);
    h_compare_sharded(ar, m, c->name, ref);
    if (h_failures == before) {
        printf("ok: %-28s", c->name);
        for (int k = 0; k < 6 && c->expect[k].value; k++)
            printf(" %s@%s", c->expect[k].value, c->expect[k].pl);
        printf(" (%d collectives)\n", h_count_comm(m));
    }
out:
    h_bandwidth_only(false);
    arena_free(ar);
}

/* The per-op rule tables themselves: every option must be well formed. */
static void rule_tables(void)
{
    const char *src = "mesh M[a=2];\n"
                      "fn main(x: f32[2, 3, 4] @ M[R] = randn(seed=1), g: f32[4] @ M[R] = ones(),\n"
                      "        t: f32[5, 4] @ M[R] = randn(seed=2), f: f32[3] @ M[R] = zeros()) -> f32[] {\n"
                      "    let a = sum(exp(-x) + x * x - x / 2.0, axis=[0, 2]);\n"
                      "    let b = mean(max(x, axis=1), axis=0, keepdims=true);\n"
                      "    let c = softmax(reshape(transpose(x, [0, 2, 1]), [8, 3]), axis=0);\n"
                      "    let d = layernorm(x, g, g) @ transpose(x, [0, 2, 1]);\n"
                      "    let e = embedding(t, cast(f, i32));\n"
                      "    let l = cross_entropy(e, cast(f, i32));\n"
                      "    return sum(a) + sum(b) + sum(c) + sum(d) + l + sum(rmsnorm(x, g));\n"
                      "}\n";
    Arena *ar = arena_new();
    IrModule *m = h_load(ar, "rules", src);
    int nops = 0;
    for (IrInst *i = m ? m->entry->first : NULL; i; i = i->next) {
        if (i->op == OP_REDISTRIBUTE)
            continue;
        AxisOpt o[RULE_MAX_OPTS];
        int n = rules_options(ar, i, o);
        h_check(n > 0, "rules: %s has no options", ir_op_name(i->op));
        if (n == 0)
            continue;
        nops++;
        /* option 0 is all-replicated */
        bool r0 = o[0].out.kind == PL_R;
        for (int k = 0; k < i->nargs; k++)
            r0 = r0 && o[0].in[k].kind == PL_R;
        h_check(r0, "rules: %s: option 0 is not all-replicated", ir_op_name(i->op));
        for (int j = 0; j < n; j++) {
            h_check(o[j].out.kind != PL_S || o[j].out.dim < i->res[0]->type.rank,
                    "rules: %s: option %d splits a result dim out of range", ir_op_name(i->op), j);
            for (int k = 0; k < i->nargs; k++)
                h_check(o[j].in[k].kind != PL_S || o[j].in[k].dim < i->args[k]->type.rank,
                        "rules: %s: option %d splits operand %d out of range", ir_op_name(i->op), j, k);
        }
    }
    printf("rules: %d instructions, every option well formed, option 0 replicated\n", nops);
    arena_free(ar);
}

int main(void)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        run_case(&cases[k]);
    rule_tables();
    return h_report("test_propagate");
}
