/* test_partition.c - the sharding pipeline end to end, per op family and per
 * placement kind: each program goes through inline -> propagate ->
 * redistribute -> partition -> optimise with ir_verify after every pass and
 * the collective-matching check, then the per-rank program runs on every
 * rank in lockstep (interp_run_sharded) and must agree with the global
 * interpreter (1e-5 relative).  Where the choice is forced or the point of
 * the test, the inserted collectives are asserted too.
 *
 * Meshes: 1-D, 2-D, 2-D with a size-1 axis, 3-D.  Placements: R, S, nested
 * S, P(sum|max|min|avg) parameters, uneven and empty shards.
 */
#include "sharding_harness.h"

typedef struct Case {
    const char *name;
    const char *src;
} Case;

/* Programs that must compute the same thing sharded as globally. */
static const Case cases[] = {
    {"mlp",
     "mesh M[dp=2, tp=2];\n"
     "fn main(x: f32[8, 16] @ M[S(0), R] = randn(seed=1),\n"
     "        w1: f32[16, 32] @ M[R, S(1)] = randn(seed=2, std=0.2),\n"
     "        w2: f32[32, 16] @ M[R, S(0)] = randn(seed=3, std=0.2)) -> f32[8, 16] @ M[S(0), R] {\n"
     "    let h = gelu(x @ w1);\n"
     "    let y = h @ w2;\n"
     "    return y;\n"
     "}\n"},
    /* elementwise with broadcasting: a bias split like the columns, a
     * size-1 dim broadcast against a split dim, a scalar */
    {"ew_broadcast",
     "mesh M[a=2, b=3];\n"
     "fn main(x: f32[5, 7] @ M[S(0), S(1)] = randn(seed=1),\n"
     "        bias: f32[7] @ M[R, S(0)] = randn(seed=2),\n"
     "        col: f32[5, 1] @ M[S(0), R] = randn(seed=3)) -> f32[5, 7] {\n"
     "    let y = (x + bias) * col;\n"
     "    let z = maximum(exp(y) - 2.0, minimum(y, col));\n"
     "    return sigmoid(z) / (abs(z) + 1.0);\n"
     "}\n"},
    {"ew_unary_all",
     "mesh M[a=3];\n"
     "fn main(x: f32[4, 5] @ M[S(1)] = rand(seed=1, lo=0.5, hi=2)) -> f32[4, 5] {\n"
     "    let a = neg(x) + exp(x) + log(x) + sqrt(x) + rsqrt(x) + abs(x);\n"
     "    let b = tanh(x) + sigmoid(x) + relu(x) + silu(x) + gelu(x) + pow(x, 3.0);\n"
     "    return a * b + cast(cast(x, f64), f32);\n"
     "}\n"},
    /* the elementwise table's ops on split (uneven), empty and partial
     * operands, and the sources (iota, causal_mask) placed where they are used */
    {"ew_table_split_uneven",
     "mesh M[a=3, b=2];\n"
     "fn main(x: f64[5, 7] @ M[S(1), S(0)] = randn(seed=1),\n"
     "        y: f64[7] @ M[S(0), R] = rand(seed=2, lo=0.5, hi=2),\n"
     "        k: i32[5, 1] @ M[R, S(0)] = arange()) -> (f64[5, 7], f64[5, 7], i32[5, 1]) {\n"
     "    let a = sin(x) + cos(x) * erf(x) + floor(x * 3.0) + ceil(x) + round(x * 2.0) + gelu(x);\n"
     "    let b = where(x > y, x // y, x % y) + (x <= 0.5) - (x == y) + (x != y) * (x >= y);\n"
     "    let c = (k * 7 - 11) // (k - 2) + (k * 7 - 11) % (k - 2) + (k < 3);\n"
     "    return a, b, c;\n"
     "}\n"},
    {"ew_table_empty_shards",
     "mesh M[a=4];\n"
     "fn main(x: f32[3, 2] @ M[S(0)] = randn(seed=1),\n"
     "        c: f32[2] @ M[S(0)] = randn(seed=2)) -> (f32[3, 2], f32[2]) {\n"
     "    let w = where(c, floor(x * 2.0), x % 0.5);\n"
     "    return w, max(round(x), axis=0);\n"
     "}\n"},
    {"ew_table_partial",
     "mesh M[a=2, b=2];\n"
     "fn main(p: f32[3, 5] @ M[P(max), R] = randn(seed=1),\n"
     "        q: f32[3, 5] @ M[R, P(min)] = randn(seed=2),\n"
     "        s: f32[3, 5] @ M[P(sum), R] = randn(seed=3),\n"
     "        t: f32[3, 5] @ M[P(sum), R] = randn(seed=4),\n"
     "        c: f32[5] @ M[R, R] = randn(seed=5)) -> (f32[3, 5], f32[3, 5], f32[3, 5]) {\n"
     "    let a = floor(p) + ceil(p) + round(p) + erf(p);\n"
     "    let b = where(c > 0.0, floor(q), erf(q));\n"
     "    let d = where(c > 0.0, s, t);\n"
     "    return a, b, d;\n"
     "}\n"},
    {"sources_placed",
     "mesh M[a=3, b=2];\n"
     "fn main(x: f32[2, 7, 7] @ M[S(1), S(0)] = randn(seed=1)) -> (f32[2, 7, 7], f32[2, 7, 7], i32[7]) {\n"
     "    let s = softmax(x + causal_mask(7), axis=-1);\n"
     "    let t = tril(x, k=1) - triu(x, k=-2) + iota(f32[7, 7], axis=0) * 0.5;\n"
     "    return s, t, arange(7) * 2;\n"
     "}\n"},
    /* partial values: linear ops keep P(sum), a product with a replicated
     * factor keeps it, monotone ops keep P(max) */
    {"partial_sum_linear",
     "mesh M[a=2, b=2];\n"
     "fn main(p: f32[4, 6] @ M[P(sum), R] = randn(seed=1),\n"
     "        q: f32[4, 6] @ M[P(sum), S(1)] = randn(seed=2),\n"
     "        r: f32[6] @ M[R, R] = randn(seed=3)) -> f32[4, 6] @ M[R, R] {\n"
     "    let s = (p + q) * r - neg(p) / 2.0;\n"
     "    return s;\n"
     "}\n"},
    {"partial_max_min",
     "mesh M[a=2, b=2];\n"
     "fn main(p: f32[3, 5] @ M[P(max), R] = randn(seed=1),\n"
     "        q: f32[3, 5] @ M[R, P(min)] = randn(seed=2),\n"
     "        c: f32[5] @ M[R, R] = randn(seed=3)) -> (f32[3, 5], f32[3, 5]) {\n"
     "    let a = exp(p) + c;\n"
     "    let b = maximum(relu(p), c);\n"
     "    let d = c - q;\n"
     "    return a * b, neg(q) + d;\n"
     "}\n"},
    {"partial_avg",
     "mesh M[a=2, b=3];\n"
     "fn main(p: f32[4, 5] @ M[P(avg), S(1)] = randn(seed=1),\n"
     "        w: f32[5, 3] @ M[R, S(0)] = randn(seed=2)) -> f32[4, 3] {\n"
     "    return (p * 3.0 + p) @ w;\n"
     "}\n"},
    /* matmul: batch dims with broadcasting, rows, columns, contraction */
    {"matmul_batch",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[3, 5, 6] @ M[S(0), S(2)] = randn(seed=1),\n"
     "        w: f32[6, 7] @ M[R, S(0)] = randn(seed=2),\n"
     "        v: f32[1, 7, 4] @ M[R, S(2)] = randn(seed=3)) -> f32[3, 5, 4] {\n"
     "    return (x @ w) @ v;\n"
     "}\n"},
    {"matmul_contraction_uneven",
     "mesh M[a=4];\n"
     "fn main(x: f32[5, 7] @ M[S(1)] = randn(seed=1),\n"
     "        w: f32[7, 3] @ M[R] = randn(seed=2)) -> f32[5, 3] @ M[R] {\n"
     "    return x @ w;\n"
     "}\n"},
    /* reductions over split dims -> partials; mean over an uneven split */
    {"reduce_split",
     "mesh M[a=4, b=2];\n"
     "fn main(x: f32[7, 6] @ M[S(0), S(1)] = randn(seed=1)) -> (f32[6], f32[7], f32[], f32[7, 1], f32[]) {\n"
     "    let s = sum(x, axis=0);\n"
     "    let m = max(x, axis=1);\n"
     "    let n = min(x);\n"
     "    let a = mean(x, axis=1, keepdims=true);\n"
     "    let b = mean(x);\n"
     "    return s, m, n, a, b;\n"
     "}\n"},
    {"reduce_partial_input",
     "mesh M[a=2, b=2];\n"
     "fn main(p: f32[4, 6] @ M[P(sum), S(0)] = randn(seed=1),\n"
     "        q: f32[4, 6] @ M[S(1), P(max)] = randn(seed=2)) -> (f32[6], f32[4]) {\n"
     "    return mean(p, axis=0), max(q, axis=1);\n"
     "}\n"},
    /* softmax / log_softmax along a split dim: cross-rank max and sum */
    {"softmax_split",
     "mesh M[a=2, b=3];\n"
     "fn main(x: f32[4, 10] @ M[S(0), S(1)] = randn(seed=1),\n"
     "        v: f32[11] @ M[R, S(0)] = randn(seed=2)) -> (f32[4, 10], f32[4, 10], f32[11]) {\n"
     "    let s @ M[S(0), S(1)] = softmax(x, axis=1);\n"
     "    let l @ M[S(0), S(1)] = log_softmax(x, axis=-1);\n"
     "    let w @ M[R, S(0)] = softmax(v, axis=0);\n"
     "    return s, l, w;\n"
     "}\n"},
    {"norms_split",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[3, 4, 10] @ M[S(0), S(2)] = randn(seed=1),\n"
     "        g: f32[10] @ M[R, S(0)] = randn(seed=2),\n"
     "        b: f32[10] @ M[R, S(0)] = randn(seed=3)) -> (f32[3, 4, 10], f32[3, 4, 10]) {\n"
     "    let y @ M[S(0), S(2)] = layernorm(x, g, b);\n"
     "    let z @ M[S(0), S(2)] = rmsnorm(x, g, eps=1e-5);\n"
     "    return y, z;\n"
     "}\n"},
    {"norms_rows",
     "mesh M[a=3];\n"
     "fn main(x: f32[5, 8] @ M[S(0)] = randn(seed=1),\n"
     "        g: f32[8] @ M[R] = randn(seed=2), b: f32[8] @ M[R] = randn(seed=3)) -> f32[5, 8] {\n"
     "    return layernorm(x, g, b) + rmsnorm(x, g);\n"
     "}\n"},
    /* shape ops */
    {"transpose",
     "mesh M[a=2, b=3];\n"
     "fn main(x: f32[4, 5, 6] @ M[S(0), S(2)] = randn(seed=1)) -> f32[6, 4, 5] {\n"
     "    return transpose(x, [2, 0, 1]) * 2.0;\n"
     "}\n"},
    {"reshape",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[4, 3, 6] @ M[S(0), S(2)] = randn(seed=1),\n"
     "        y: f32[12, 6] @ M[S(0), R] = randn(seed=2),\n"
     "        z: f32[5, 4] @ M[S(0), R] = randn(seed=3)) -> (f32[12, 6], f32[4, 3, 6], f32[20], f32[2, 2, 5]) {\n"
     "    let a = reshape(x, [12, 6]);\n"
     "    let b = reshape(y, [4, 3, 6]);\n"
     "    return a + y, b + x, reshape(z, [20]), reshape(z, [2, 2, 5]);\n"
     "}\n"},
    /* lookup */
    {"embedding",
     "mesh M[a=2, b=2];\n"
     "fn main(t: f32[10, 6] @ M[S(0), S(1)] = randn(seed=1),\n"
     "        fids: f32[3, 5] @ M[R, R] = rand(seed=2, lo=0, hi=10),\n"
     "        u: f32[9, 4] @ M[R, S(0)] = randn(seed=3),\n"
     "        fjd: f32[7] @ M[S(0), R] = rand(seed=4, lo=0, hi=9)) -> (f32[3, 5, 6], f32[7, 4]) {\n"
     "    return embedding(t, cast(fids, i32)), embedding(u, cast(fjd, i32));\n"
     "}\n"},
    {"cross_entropy_vocab",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[6, 11] @ M[S(0), S(1)] = randn(seed=1),\n"
     "        flab: f32[6] @ M[S(0), R] = rand(seed=2, lo=0, hi=11)) -> f32[] {\n"
     "    return cross_entropy(x, cast(flab, i32));\n"
     "}\n"},
    {"cross_entropy_rows",
     "mesh M[a=4];\n"
     "fn main(x: f32[7, 5] @ M[S(0)] = randn(seed=1),\n"
     "        flab: f32[7] @ M[S(0)] = rand(seed=2, lo=0, hi=5)) -> f32[] {\n"
     "    return cross_entropy(x, cast(flab, i32));\n"
     "}\n"},
    {"cross_entropy_vocab_3d",
     "mesh M[a=2, b=1, c=3];\n"
     "fn main(x: f32[5, 13] @ M[S(1), R, S(1)] = randn(seed=1),\n"
     "        flab: f32[5] @ M[R, R, R] = rand(seed=2, lo=0, hi=13)) -> f32[] @ M[R, R, R] {\n"
     "    return cross_entropy(x, cast(flab, i32));\n"
     "}\n"},
    /* layout: explicit redistributes and pinned lets */
    {"redistribute_explicit",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[6, 5] @ M[S(0), S(1)] = randn(seed=1)) -> (f32[6, 5], f32[6, 5]) {\n"
     "    let y = redistribute(x, M[S(1), S(0)]);\n"
     "    let z @ M[P(sum), R] = y * 2.0;\n"
     "    let w = redistribute(z, M[R, S(0)]);\n"
     "    return y, w;\n"
     "}\n"},
    /* placements: nested splits, empty shards, size-1 axis, 3-D mesh */
    {"nested_split",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[7, 6] @ M[S(0), S(0)] = randn(seed=1),\n"
     "        w: f32[6, 6] @ M[R, R] = randn(seed=2)) -> (f32[7, 6], f32[6]) {\n"
     "    let y = relu(x @ w);\n"
     "    return y, sum(y, axis=0);\n"
     "}\n"},
    {"empty_shards",
     "mesh M[a=4];\n"
     "fn main(x: f32[3, 2] @ M[S(0)] = randn(seed=1),\n"
     "        v: f32[2] @ M[S(0)] = randn(seed=2)) -> (f32[3, 2], f32[2], f32[3]) {\n"
     "    let y = x * v;\n"
     "    return y, max(y, axis=0), softmax(sum(y, axis=1), axis=0);\n"
     "}\n"},
    {"size1_axis",
     "mesh M[a=1, b=2];\n"
     "fn main(x: f32[4, 6] @ M[S(0), S(1)] = randn(seed=1),\n"
     "        w: f32[6, 3] @ M[P(sum), S(0)] = randn(seed=2)) -> f32[4, 3] @ M[R, R] {\n"
     "    return x @ w;\n"
     "}\n"},
    {"mesh_3d",
     "mesh M[a=2, b=2, c=2];\n"
     "fn main(x: f32[4, 6, 8] @ M[S(0), S(1), S(2)] = randn(seed=1),\n"
     "        w: f32[8, 5] @ M[R, R, S(0)] = randn(seed=2),\n"
     "        g: f32[5] @ M[R, R, R] = ones()) -> f32[4, 6, 5] @ M[S(0), R, R] {\n"
     "    let h = x @ w;\n"
     "    return layernorm(h, g, g) + softmax(h, axis=1);\n"
     "}\n"},
    {"call_inlined",
     "mesh M[a=2];\n"
     "fn f(u: f32[4, 4] @ M[S(1)], v: f32[4, 4]) -> f32[4, 4] { return u @ v; }\n"
     "fn main(x: f32[4, 4] @ M[S(0)] = randn(seed=1)) -> f32[4, 4] {\n"
     "    return f(x, x) + f(transpose(x, [1, 0]), x);\n"
     "}\n"},
};

/* The elementwise table's sharding rules: monotone ops keep P(max) and
 * P(min), where() with a replicated condition keeps any partial, and the
 * sources are produced in the consumers' placement without communication. */
static void ew_table_checks(void)
{
    Arena *ar = arena_new();
    const char *src2 =
        "mesh M[a=2, b=3];\n"
        "fn main(p: f32[3, 5] @ M[P(max), R] = randn(seed=1),\n"
        "        s: f32[3, 5] @ M[R, P(sum)] = randn(seed=2),\n"
        "        c: f32[5] @ M[R, R] = randn(seed=3),\n"
        "        x: f32[5, 7] @ M[S(0), S(1)] = randn(seed=4))\n"
        "        -> (f32[3, 5] @ M[P(max), R], f32[3, 5] @ M[R, P(sum)], f32[5, 7] @ M[S(0), S(1)]) {\n"
        "    let f = floor(p) + 1.0;\n"
        "    let r = round(erf(f));\n"
        "    let w = where(c > 0.0, s, s * 2.0);\n"
        "    let m = tril(x, k=2) + iota(f32[5, 7], axis=1) + cast(arange(7) > 3, f32);\n"
        "    return r, w, m;\n"
        "}\n";
    IrModule *m = h_full(ar, "ew_table_rules", src2);
    if (m) {
        h_expect_pl(m, "f", "M[P(max), R]", "floor keeps P(max)");
        h_expect_pl(m, "r", "M[P(max), R]", "erf and round keep P(max)");
        h_expect_pl(m, "w", "M[R, P(sum)]", "where with a replicated condition keeps P(sum)");
        h_expect_pl(m, "m", "M[S(0), S(1)]", "tril / iota / arange follow x's split");
        h_check(h_count_comm(m) == 0, "ew_table_rules: %d collectives, expected none", h_count_comm(m));
        printf("ok: ew_table_rules: partials pass through floor/round/erf/where, sources split, no collectives\n");
    }
    arena_free(ar);
}

/* Checks on the decided placements and inserted collectives. */
static void specific_checks(void)
{
    Arena *ar = arena_new();
    /* spec section 1: one all_reduce over tp, 8192 bytes of f32[4, 512] */
    const char *mlp =
        "const B = 8;  const D = 512;  const H = 2048;\n"
        "mesh M[dp=2, tp=2];\n"
        "fn main(x:  f32[B, D] @ M[S(0), R]  = randn(seed=1),\n"
        "        w1: f32[D, H] @ M[R, S(1)]  = randn(seed=2, std=0.02),\n"
        "        w2: f32[H, D] @ M[R, S(0)]  = randn(seed=3, std=0.02))\n"
        "        -> f32[B, D] @ M[S(0), R] {\n"
        "    let h = gelu(x @ w1);\n"
        "    let y = h @ w2;\n"
        "    return y;\n"
        "}\n";
    IrModule *m = h_load(ar, "mlp.dt", mlp);
    if (m && h_passes(ar, m, "mlp.dt", "partition")) {
        h_expect_pl(m, "h", "M[S(0), S(1)]", "mlp");
        IrValue *y = NULL;
        for (IrInst *i = m->entry->first; i; i = i->next)
            if (i->op == OP_MATMUL)
                y = i->res[0];
        h_check(y && !strcmp(h_pl(m, y), "M[S(0), P(sum)]"), "mlp: h @ w2 is %s, expected M[S(0), P(sum)]",
                h_pl(m, y));
        h_check(h_count_comm(m) == 1, "mlp: %d collectives, expected 1", h_count_comm(m));
        h_check(h_count(m, OP_ALL_REDUCE, 2) == 1, "mlp: no all_reduce over tp");
        for (IrInst *i = m->entry->first; i; i = i->next)
            if (i->op == OP_ALL_REDUCE)
                h_check(i->a.bytes == 8192, "mlp: all_reduce of %lld bytes, expected 8192",
                        (long long)i->a.bytes);
        printf("mlp: h at M[S(0), S(1)], y partial, one all_reduce over tp of 8192 bytes\n");
        /* dtc report shows the same figures, once per rank */
        PassCtx c = h_ctx(ar);
        FILE *f = tmpfile();
        char text[8192] = "";
        if (f) {
            pass_report(f, &c, m);
            rewind(f);
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = 0;
            fclose(f);
        }
        int nlines = 0, ntotal = 0;
        for (const char *p = text; (p = strstr(p, "1. all_reduce(tp, sum) of local f32[4, 512]: 8192 bytes")); p++)
            nlines++;
        for (const char *p = text; (p = strstr(p, "total: 1 collective, 8192 bytes")); p++)
            ntotal++;
        h_check(nlines == 4 && ntotal == 4 && !strstr(text, "2. "),
                "mlp: report does not show one all_reduce of f32[4, 512] (8192 bytes) per rank:\n%s", text);
        printf("mlp: report shows per rank: 1. all_reduce(tp, sum) of local f32[4, 512]: 8192 bytes\n");
    }
    arena_free(ar);

    /* mean over an uneven split: local sum, scale by 1/global count */
    ar = arena_new();
    m = h_full(ar, "mean_uneven",
               "mesh M[a=4];\n"
               "fn main(x: f32[7, 3] @ M[S(0)] = randn(seed=1)) -> f32[3] {\n"
               "    let m = mean(x, axis=0);\n"
               "    return m;\n"
               "}\n");
    if (m) {
        h_expect_pl(m, "m", "M[P(sum)]", "mean_uneven");
        h_check(h_count(m, OP_MEAN, 0) == 0 && h_count(m, OP_SUM, 0) == 1,
                "mean_uneven: mean not rewritten to sum * 1/7");
        printf("mean_uneven: mean over S(0) of 7 rows on 4 ranks -> sum * 1/7, P(sum)\n");
    }
    arena_free(ar);

    /* softmax along the only (split) dim: the cross-rank decomposition */
    ar = arena_new();
    h_bandwidth_only(true);
    m = h_full(ar, "softmax_1d",
               "mesh M[a=4];\n"
               "fn main(x: f32[10] @ M[S(0)] = randn(seed=1)) -> f32[10] @ M[S(0)] {\n"
               "    return softmax(x, axis=0);\n"
               "}\n");
    if (m) {
        h_check(h_count(m, OP_SOFTMAX, 0) == 0, "softmax_1d: softmax not decomposed");
        h_check(h_count(m, OP_ALL_REDUCE, 1) == 2 && h_count_comm(m) == 2,
                "softmax_1d: expected exactly a max and a sum all_reduce");
        printf("softmax_1d: split softmax -> max, all_reduce(max), exp, sum, all_reduce(sum)\n");
    }
    h_bandwidth_only(false);
    arena_free(ar);

    /* embedding with a vocab-split table: masked local lookup -> P(sum) */
    ar = arena_new();
    m = h_full(ar, "embedding_vocab",
               "mesh M[a=3];\n"
               "fn main(t: f32[10, 4] @ M[S(0)] = randn(seed=1),\n"
               "        fids: f32[6] @ M[R] = rand(seed=2, lo=0, hi=10)) -> f32[6, 4] {\n"
               "    let e = embedding(t, cast(fids, i32));\n"
               "    return e;\n"
               "}\n");
    if (m) {
        h_expect_pl(m, "e", "M[P(sum)]", "embedding_vocab");
        printf("embedding_vocab: table S(0) -> masked lookup, result P(sum)\n");
    }
    arena_free(ar);

    /* cross_entropy over split vocab: decomposed, uses pick */
    ar = arena_new();
    h_bandwidth_only(true);
    m = h_full(ar, "ce_vocab",
               "mesh M[a=4];\n"
               "fn main(x: f32[3, 9] @ M[S(1)] = randn(seed=1),\n"
               "        flab: f32[3] @ M[R] = rand(seed=2, lo=0, hi=9)) -> f32[] {\n"
               "    let l = cross_entropy(x, cast(flab, i32));\n"
               "    return l;\n"
               "}\n");
    if (m) {
        h_check(h_count(m, OP_CROSS_ENTROPY, 0) == 0 && h_count(m, OP_PICK, 0) == 1,
                "ce_vocab: cross_entropy not decomposed");
        h_expect_pl(m, "l", "M[P(sum)]", "ce_vocab");
        printf("ce_vocab: vocab-split cross_entropy -> logsumexp pieces + pick, P(sum)\n");
    }
    h_bandwidth_only(false);
    arena_free(ar);

    /* x split on the contraction, w replicated: w is sharded locally */
    ar = arena_new();
    m = h_full(ar, "shard_step",
               "mesh M[a=2];\n"
               "fn main(x: f32[4, 64] @ M[S(1)] = randn(seed=1),\n"
               "        w: f32[64, 64] @ M[R] = randn(seed=2)) -> f32[4, 64] {\n"
               "    let y = x @ w;\n"
               "    return y;\n"
               "}\n");
    if (m) {
        h_expect_pl(m, "y", "M[P(sum)]", "shard_step");
        h_check(h_count(m, OP_SHARD, 1) == 1, "shard_step: w not sharded locally");
        printf("shard_step: x S(1) @ w R -> shard w on dim 0, result P(sum)\n");
    }
    arena_free(ar);
}

/* pass_check_collectives must reject broken per-rank programs. */
static void check_collectives_rejects(void)
{
    const char *src = "mesh M[dp=2, tp=2];\n"
                      "fn main(x: f32[8, 6] @ M[S(0), S(1)] = randn(seed=1)) -> (f32[8, 6] @ M[S(0), R], f32[6]) {\n"
                      "    let s = sum(x, axis=0);\n"
                      "    return x, s;\n"
                      "}\n";
    for (int mode = 0; mode < 3; mode++) {
        Arena *ar = arena_new();
        IrModule *m = h_load(ar, "broken", src);
        if (!m || !h_passes(ar, m, "broken", "partition")) {
            arena_free(ar);
            continue;
        }
        IrInst *g = NULL;
        for (IrInst *i = m->entry->first; i; i = i->next)
            if (i->op == OP_ALL_GATHER && !g)
                g = i;
        h_check(g != NULL, "broken: no all_gather to break");
        if (!g) {
            arena_free(ar);
            continue;
        }
        const char *what;
        if (mode == 0) {
            g->a.axes = 1; /* gathers over dp but the placements change tp */
            what = "all_gather over the wrong axis";
        } else if (mode == 1) {
            g->res[0]->type.dims[1] = 5; /* the pieces no longer add up */
            what = "all_gather whose result does not hold the pieces";
        } else {
            g->op = OP_ALL_REDUCE; /* an all_reduce of a split value */
            what = "all_reduce of a split value";
        }
        PassCtx c = h_ctx(ar);
        FILE *sink = tmpfile();
        c.err = sink ? sink : stderr;
        bool ok = pass_check_collectives(&c, m);
        long said = sink ? ftell(sink) : 1;
        if (sink)
            fclose(sink);
        h_check(!ok && said > 0, "check_collectives accepted an %s", what);
        if (!ok)
            printf("check_collectives: rejects an %s\n", what);
        arena_free(ar);
    }
}

int main(void)
{
    /* once with the default cost model, once with free latency (which
     * favours the decompositions that move the least data) */
    for (int model = 0; model < 2; model++) {
        h_bandwidth_only(model == 1);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            Arena *ar = arena_new();
            int before = h_failures;
            IrModule *m = h_full(ar, cases[k].name, cases[k].src);
            if (m && h_failures == before)
                printf("ok: %-26s %-10s sharded == global (%d collectives, %d decomposed ops)\n",
                       cases[k].name, model ? "alpha=0" : "default", h_count_comm(m), h_ndecomposed);
            arena_free(ar);
        }
    }
    h_bandwidth_only(false);
    specific_checks();
    ew_table_checks();
    check_collectives_rejects();
    return h_report("test_partition");
}
