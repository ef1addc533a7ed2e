/* test_route_ops.c - the lookup / routing family's sharding rules
 * (passes/rules_route.c) on split, uneven, empty and partial operands.
 * Every program runs the whole sharding pipeline and the per-rank program
 * must equal the global run (h_full); the placements chosen and the
 * collectives inserted are asserted where the rule decides them: a dim the
 * op works along is made whole first (gathered, or the split moved), the
 * other dims stay split with no communication, one_hot's class dim and
 * scatter_add's target rows may be produced split, partial operands pass
 * where the op is linear; repeat keeps its axis split exactly when every
 * rank's result rows are its own operand rows repeated (uneven and empty
 * chunks included), else gathers.  cumsum, argmax and argmin along a split
 * dim may instead exchange one summary element per rank (STRAT_SPLIT_SCAN /
 * STRAT_SPLIT_SELECT): chosen by the cost model, so the cases that need
 * them run with a latency-free model (only bytes count), and the default
 * model keeps gathering small operands.  (The values themselves are
 * checked against NumPy in tests/exec/test_route_numpy.py.)
 */
#include "sharding_harness.h"
#include "runtime/core/rt_core.h"

typedef struct Case {
    const char *name;
    const char *src;
    const char *value; /* a value whose placement is asserted (NULL: none) */
    const char *pl;
    int gathers;       /* all_gathers expected (-1: not checked) */
    int comms;         /* collectives expected in all (-1: not checked) */
    bool bandwidth;    /* latency-free cost model: small summaries beat moving x */
} Case;

static const Case cases[] = {
    /* argmax along an unsplit dim: local, the split dim stays (uneven: 7 over 4) */
    {"argmax_local_uneven",
     "mesh M[a=4];\n"
     "fn main(x: f32[7, 5] @ M[S(0)] = randn(seed=1)) -> i32[7] {\n"
     "    let i = argmax(x, axis=1);\n"
     "    return i;\n"
     "}\n",
     "i", "M[S(0)]", 0, 0, false},
    /* along the split dim, 1-D: nowhere to move the split: gathered */
    {"argmin_split_1d",
     "mesh M[a=4];\n"
     "fn main(x: f32[3] @ M[S(0)] = randn(seed=1)) -> i32[] {\n"
     "    let i = argmin(x, 0);\n"
     "    return i;\n"
     "}\n",
     "i", "M[R]", 1, -1, false},
    /* along the split dim of a matrix: the split moves to the other dim */
    {"argmax_split_dim",
     "mesh M[a=3];\n"
     "fn main(x: f32[7, 4] @ M[S(0)] = randn(seed=1)) -> i32[4] {\n"
     "    let i = argmax(x, 0);\n"
     "    return i;\n"
     "}\n",
     NULL, NULL, -1, -1, false},
    /* a partial operand is reduced first (argmax does not commute with sums) */
    {"argmax_partial",
     "mesh M[a=2];\n"
     "fn main(p: f32[4, 3] @ M[P(sum)] = randn(seed=1)) -> i32[4] {\n"
     "    let i = argmax(p, 1);\n"
     "    return i;\n"
     "}\n",
     NULL, NULL, -1, -1, false},
    /* empty shards: 3 rows over 4 ranks, on a 2-D mesh */
    {"argmax_empty_2d",
     "mesh M[a=4, b=2];\n"
     "fn main(x: f32[3, 6] @ M[S(0), S(1)] = randn(seed=1)) -> i32[3] {\n"
     "    let i = argmax(x, 1);\n"
     "    return i;\n"
     "}\n",
     NULL, NULL, -1, -1, false},
    /* cumsum: local off its axis; P(sum) passes (linear) */
    {"cumsum_local",
     "mesh M[a=3];\n"
     "fn main(x: f32[5, 4] @ M[S(0)] = randn(seed=1)) -> f32[5, 4] {\n"
     "    let c = cumsum(x, axis=1);\n"
     "    return c;\n"
     "}\n",
     "c", "M[S(0)]", 0, 0, false},
    {"cumsum_split_axis",
     "mesh M[a=4];\n"
     "fn main(x: f32[6] @ M[S(0)] = randn(seed=1)) -> f32[6] {\n"
     "    let c = cumsum(x);\n"
     "    return c;\n"
     "}\n",
     NULL, NULL, 1, -1, false},
    {"cumsum_partial",
     "mesh M[a=2, b=2];\n"
     "fn main(p: f32[4, 3] @ M[P(sum), S(0)] = randn(seed=1)) -> f32[4, 3] {\n"
     "    let c = cumsum(p, axis=1);\n"
     "    return c * 1.0;\n"
     "}\n",
     "c", "M[P(sum), S(0)]", -1, -1, false},
    {"cumsum_i32_empty",
     "mesh M[a=4];\n"
     "fn main(k: i32[3, 5] @ M[S(0)] = arange()) -> i32[3, 5] {\n"
     "    let c = cumsum(k, 1);\n"
     "    return c;\n"
     "}\n",
     "c", "M[S(0)]", 0, 0, false},
    /* one_hot: split ids stay split; replicated ids give a split class dim
     * (each rank its own classes: uneven, 5 classes over 2 x 2) */
    {"one_hot_split_ids",
     "mesh M[a=3];\n"
     "fn main(ids: i32[7] @ M[S(0)] = arange()) -> f32[7, 4] {\n"
     "    let o = one_hot(ids, 4);\n"
     "    return o;\n"
     "}\n",
     "o", "M[S(0)]", 0, 0, false},
    {"one_hot_split_classes",
     "mesh M[a=2, b=2];\n"
     "fn main(ids: i32[6] @ M[R, R] = arange()) -> f64[6, 5] @ M[S(1), S(1)] {\n"
     "    let o = one_hot(ids, 5, dtype=f64);\n"
     "    return o;\n"
     "}\n",
     "o", "M[S(1), S(1)]", 0, 0, false},
    /* take_along_axis: the indexed dim of x whole; the index rows may be split */
    {"take_along_index_split",
     "mesh M[a=3];\n"
     "fn main(x: f32[4, 6] @ M[R] = randn(seed=1), i: i32[4, 5] @ M[S(1)] = arange()) -> f32[4, 5] {\n"
     "    let t = take_along_axis(x, i % 6, 1);\n"
     "    return t;\n"
     "}\n",
     "t", "M[S(1)]", 0, 0, false},
    {"take_along_both_split",
     "mesh M[a=4];\n"
     "fn main(x: f32[5, 6] @ M[S(0)] = randn(seed=1), i: i32[5, 2] @ M[S(0)] = arange()) -> f32[5, 2] {\n"
     "    let t = take_along_axis(x, i % 6, 1);\n"
     "    return t;\n"
     "}\n",
     "t", "M[S(0)]", 0, 0, false},
    {"take_along_partial_max",
     "mesh M[a=2];\n"
     "fn main(p: f32[3, 4] @ M[P(max)] = randn(seed=1), i: i32[3, 2] @ M[R] = arange()) -> f32[3, 2] {\n"
     "    let t = take_along_axis(p, i % 4, 1);\n"
     "    return t;\n"
     "}\n",
     "t", "M[P(max)]", -1, -1, false},
    /* topk: local off the axis (uneven, empty), gathered along it */
    {"topk_local_empty",
     "mesh M[a=4];\n"
     "fn main(x: f32[3, 6] @ M[S(0)] = randn(seed=1)) -> (f32[3, 2], i32[3, 2]) {\n"
     "    let v, i = topk(x, 2);\n"
     "    return v, i;\n"
     "}\n",
     "i", "M[S(0)]", 0, 0, false},
    {"topk_split_axis",
     "mesh M[a=3];\n"
     "fn main(x: f32[7] @ M[S(0)] = randn(seed=1)) -> (f32[3], i32[3]) {\n"
     "    let v, i = topk(x, 3, axis=0);\n"
     "    return v, i;\n"
     "}\n",
     NULL, NULL, 1, -1, false},
    /* scatter_add: target rows split (each rank adds the rows it holds) */
    {"scatter_target_split",
     "mesh M[a=3];\n"
     "fn main(t: f32[7, 2] @ M[S(0)] = randn(seed=1), i: i32[5, 2] @ M[R] = arange(),\n"
     "        u: f32[5, 2] @ M[R] = randn(seed=2)) -> f32[7, 2] {\n"
     "    let s = scatter_add(t, i % 7, u, 0);\n"
     "    return s;\n"
     "}\n",
     "s", "M[S(0)]", 0, 0, false},
    /* updates split along the axis: partial sums into a partial target, reduced once */
    {"scatter_updates_split",
     "mesh M[a=4];\n"
     "fn main(t: f32[3, 2] @ M[R] = randn(seed=1), i: i32[9, 2] @ M[S(0)] = arange(),\n"
     "        u: f32[9, 2] @ M[S(0)] = randn(seed=2)) -> f32[3, 2] @ M[R] {\n"
     "    let s = scatter_add(t, i % 3, u, axis=0);\n"
     "    return s;\n"
     "}\n",
     "s", "M[P(sum)]", 0, 1, false},
    {"scatter_off_axis_split",
     "mesh M[a=2, b=2];\n"
     "fn main(t: f32[5, 4] @ M[S(0), R] = randn(seed=1), i: i32[5, 3] @ M[S(0), R] = arange(),\n"
     "        u: f32[5, 3] @ M[S(0), R] = randn(seed=2)) -> f32[5, 4] {\n"
     "    let s = scatter_add(t, i % 4, u, 1);\n"
     "    return s;\n"
     "}\n",
     NULL, NULL, 0, -1, false},
    {"scatter_partial",
     "mesh M[a=2];\n"
     "fn main(t: f32[4, 3] @ M[P(sum)] = randn(seed=1), i: i32[4, 2] @ M[R] = arange(),\n"
     "        u: f32[4, 2] @ M[P(sum)] = randn(seed=2)) -> f32[4, 3] {\n"
     "    let s = scatter_add(t, i % 3, u, 1);\n"
     "    return s;\n"
     "}\n",
     "s", "M[P(sum)]", -1, -1, false},
    /* ---- the split-axis strategies (latency-free cost model) ---- */
    /* cumsum along the split dim, uneven and empty (9 over 4: 3, 3, 3, 0):
     * local scan, one gather of the 4 totals, the result stays split */
    {"scan_split_empty",
     "mesh M[a=4];\n"
     "fn main(x: f32[9] @ M[S(0)] = randn(seed=1)) -> f32[9] @ M[S(0)] {\n"
     "    let c = cumsum(x);\n"
     "    return c;\n"
     "}\n",
     "c", "M[S(0)]", 1, 1, true},
    /* nested split, uneven (50 over 2 x 3): one summary gather over a+b */
    {"scan_split_nested",
     "mesh M[a=2, b=3];\n"
     "fn main(x: f32[50] @ M[S(0), S(0)] = randn(seed=1)) -> f32[50] @ M[S(0), S(0)] {\n"
     "    let c = cumsum(x);\n"
     "    return c;\n"
     "}\n",
     "c", "M[S(0), S(0)]", 1, 1, true},
    /* partial on another axis: the totals stay partial there (linear) */
    {"scan_split_partial",
     "mesh M[a=2, b=3];\n"
     "fn main(p: f32[8] @ M[P(sum), S(0)] = randn(seed=1)) -> f32[8] {\n"
     "    let c = cumsum(p);\n"
     "    return c * 1.0;\n"
     "}\n",
     "c", "M[P(sum), S(0)]", -1, -1, true},
    /* i32 (wrapping adds), the other dim split too */
    {"scan_split_i32",
     "mesh M[a=3, b=2];\n"
     "fn main(k: i32[5, 7] @ M[S(1), S(0)] = arange()) -> i32[5, 7] @ M[S(1), S(0)] {\n"
     "    let c = cumsum(k, 1);\n"
     "    return c;\n"
     "}\n",
     "c", "M[S(1), S(0)]", 1, 1, true},
    /* argmax along the split dim with an empty shard (9 over 4): candidates
     * (value, global index) gathered as pairs in one all_gather, the pick
     * replicated */
    {"select_split_empty",
     "mesh M[a=4];\n"
     "fn main(x: f32[9] @ M[S(0)] = randn(seed=1)) -> i32[] {\n"
     "    let i = argmax(x, 0);\n"
     "    return i;\n"
     "}\n",
     "i", "M[R]", 1, 1, true},
    /* argmin, nested split of the axis (uneven: 400 over 2 x 3) */
    {"select_split_nested",
     "mesh M[a=2, b=3];\n"
     "fn main(x: f32[400] @ M[S(0), S(0)] = randn(seed=1)) -> i32[] {\n"
     "    let i = argmin(x, axis=0);\n"
     "    return i;\n"
     "}\n",
     "i", "M[R, R]", 1, 1, true},
    /* the default model keeps gathering a small operand */
    {"select_small_gathers",
     "mesh M[a=4];\n"
     "fn main(x: f32[5] @ M[S(0)] = randn(seed=1)) -> i32[] {\n"
     "    let i = argmax(x, 0);\n"
     "    return i;\n"
     "}\n",
     "i", "M[R]", 1, 1, false},
    /* repeat along a split axis, even chunks: each rank repeats its own rows */
    {"repeat_split_even",
     "mesh M[a=4];\n"
     "fn main(x: f32[8, 3] @ M[S(0)] = randn(seed=1)) -> f32[16, 3] {\n"
     "    let r = repeat(x, 2, axis=0);\n"
     "    return r;\n"
     "}\n",
     "r", "M[S(0)]", 0, 0, false},
    /* uneven (7 over 4: 2, 2, 2, 1) but aligned: 14 over 4 is 4, 4, 4, 2 */
    {"repeat_split_uneven_aligned",
     "mesh M[a=4];\n"
     "fn main(x: f32[7, 3] @ M[S(0)] = randn(seed=1)) -> f32[14, 3] {\n"
     "    let r = repeat(x, 2, 0);\n"
     "    return r;\n"
     "}\n",
     "r", "M[S(0)]", 0, 0, false},
    /* an empty shard, aligned (3 over 4: 1, 1, 1, 0; 9 over 4: 3, 3, 3, 0) */
    {"repeat_split_empty_aligned",
     "mesh M[a=4];\n"
     "fn main(x: f32[3, 2] @ M[S(0)] = randn(seed=1)) -> f32[9, 2] {\n"
     "    let r = repeat(x, 3, axis=0);\n"
     "    return r;\n"
     "}\n",
     "r", "M[S(0)]", 0, 0, false},
    /* not aligned (5 over 2: 3, 2; 10 over 2: 5, 5): the axis is made whole first */
    {"repeat_split_uneven_1d",
     "mesh M[a=2];\n"
     "fn main(x: f32[5] @ M[S(0)] = randn(seed=1)) -> f32[10] {\n"
     "    let r = repeat(x, 2, axis=0);\n"
     "    return r;\n"
     "}\n",
     "r", "M[R]", 1, -1, false},
    /* not aligned, empty shards (2 over 4: 1, 1, 0, 0; 4 over 4: 1, 1, 1, 1) */
    {"repeat_split_empty_gathered",
     "mesh M[a=4];\n"
     "fn main(x: f32[2] @ M[S(0)] = randn(seed=1)) -> f32[4] {\n"
     "    let r = repeat(x, 2, -1);\n"
     "    return r;\n"
     "}\n",
     "r", "M[R]", 1, -1, false},
    /* another dim split (uneven, nested over two mesh axes): local */
    {"repeat_off_axis_split",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[4, 5] @ M[S(1), S(1)] = randn(seed=1)) -> f32[12, 5] {\n"
     "    let r = repeat(x, 3, axis=0);\n"
     "    return r;\n"
     "}\n",
     "r", "M[S(1), S(1)]", 0, 0, false},
    /* partial operands stay partial (a copy commutes with every reduction) */
    {"repeat_partial_sum",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[3, 2] @ M[P(sum), S(0)] = randn(seed=1)) -> f32[3, 4] {\n"
     "    let r = repeat(x, 2, axis=1);\n"
     "    return r;\n"
     "}\n",
     "r", "M[P(sum), S(0)]", 0, -1, false},
    {"repeat_partial_max",
     "mesh M[a=2];\n"
     "fn main(x: f32[3, 2] @ M[P(max)] = randn(seed=1)) -> f32[6, 2] {\n"
     "    let r = repeat(x, 2, axis=0);\n"
     "    return r;\n"
     "}\n",
     "r", "M[P(max)]", 0, -1, false},
};

/* ir_route_view's kernel is the op's place among the routing ops of
 * ops.def: it must be the rt_route_op of the same name. */
static void kernel_order(void)
{
    static const struct { IrOp op; rt_route_op k; } want[] = {
        {OP_ARGMAX, RT_ROUTE_ARGMAX},         {OP_ARGMIN, RT_ROUTE_ARGMIN},
        {OP_ONE_HOT, RT_ROUTE_ONE_HOT},       {OP_CUMSUM, RT_ROUTE_CUMSUM},
        {OP_TAKE_ALONG, RT_ROUTE_TAKE_ALONG}, {OP_TOPK, RT_ROUTE_TOPK},
        {OP_SCATTER_ADD, RT_ROUTE_SCATTER_ADD}, {OP_REPEAT, RT_ROUTE_REPEAT},
    };
    int nroute = 0;
    for (int op = 0; op < OP_COUNT; op++)
        nroute += ir_op_is_route((IrOp)op);
    h_check(nroute == (int)(sizeof want / sizeof want[0]), "%d routing ops, %d kernels listed here", nroute,
            (int)(sizeof want / sizeof want[0]));
    IrType t = {DT_F32, 1, {4}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        IrInst i;
        memset(&i, 0, sizeof i);
        i.op = want[k].op;
        int64_t one = 1;
        i.a.ints = &one;
        i.a.nints = 1;
        IrRouteView v = ir_route_view(&i, &t, &t, &t);
        h_check(v.kernel == (int)want[k].k, "%s: kernel %d, rt_route_op %d", ir_op_name(want[k].op), v.kernel,
                (int)want[k].k);
    }
}

int main(void)
{
    kernel_order();
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < n; k++) {
        const Case *c = &cases[k];
        Arena *ar = arena_new();
        h_bandwidth_only(c->bandwidth);
        IrModule *m = h_full(ar, c->name, c->src);
        if (m && c->value)
            h_expect_pl(m, c->value, c->pl, c->name);
        if (m && c->gathers >= 0)
            h_check(h_count(m, OP_ALL_GATHER, 0) == c->gathers, "%s: %d all_gathers, expected %d", c->name,
                    h_count(m, OP_ALL_GATHER, 0), c->gathers);
        if (m && c->comms >= 0)
            h_check(h_count_comm(m) == c->comms, "%s: %d collectives, expected %d", c->name, h_count_comm(m),
                    c->comms);
        arena_free(ar);
    }
    printf("sharding: %d routing programs on split, uneven, empty and partial operands\n", n);
    return h_report("test_route_ops");
}
