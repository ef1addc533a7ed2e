/* test_shape_ops.c - the shape / indexing family (slicing, integer
 * indexing, concat, stack, split, pad, broadcast_to, expand).
 *
 * 1. The reference interpreter against values computed by hand (arange
 *    inputs, so every element is known).
 * 2. The sharding rules (passes/rules_shape.c) on split, uneven, empty and
 *    partial operands: every program runs the whole sharding pipeline and
 *    the per-rank program must equal the global run; the placements chosen
 *    and the collectives inserted are asserted where the rule decides them
 *    (a dim the op leaves alone stays split with no communication; a dim it
 *    changes is gathered; partials pass through the linear ops, and through
 *    pad only when the fill allows it).
 */
#include "sharding_harness.h"

/* ---- 1. known values ------------------------------------------------------------ */

static void expect_values(Arena *ar, const char *name, const char *src, int result, const double *want,
                          int n)
{
    IrModule *m = h_load(ar, name, src);
    Tensor *r = m ? h_run_global(ar, m, name) : NULL;
    if (!r)
        return;
    const Tensor *t = &r[result];
    h_check(interp_numel(t) == n, "%s: result %d has %lld elements, expected %d", name, result,
            (long long)interp_numel(t), n);
    for (int k = 0; k < n && k < interp_numel(t); k++)
        h_check(interp_get(t, k) == want[k], "%s: result %d element %d is %g, expected %g", name, result, k,
                interp_get(t, k), want[k]);
}

/* x = arange(30).reshape(5, 6): x[i, j] = 6 i + j. */
#define X56 "mesh M[a=1];\nfn main(x: f32[5, 6] @ M[R] = arange()) -> "

static void test_values(void)
{
    Arena *ar = arena_new();
    /* slicing with a step, negative bounds, clamping, a reversed step */
    static const double a[] = {6, 9, 12, 15, 18, 21};
    expect_values(ar, "slice_step", X56 "f32[3, 2] { return x[1:4, ::3]; }", 0, a, 6);
    static const double b[] = {26, 20, 14, 8, 2};
    expect_values(ar, "slice_reverse", X56 "f32[5] { return x[::-1, 2]; }", 0, b, 5);
    static const double c[] = {28, 29, 22, 23};
    expect_values(ar, "slice_negative", X56 "f32[2, 2] { return x[-1:-3:-1, -2:100]; }", 0, c, 4);
    static const double d[] = {24, 25, 26, 27, 28, 29};
    expect_values(ar, "index_last", X56 "f32[6] { return x[-1]; }", 0, d, 6);
    static const double e[] = {9};
    expect_values(ar, "index_both", X56 "f32[] { return x[1, 3]; }", 0, e, 1);
    static const double z[] = {0, 0, 0, 0, 0, 0};
    expect_values(ar, "slice_empty", X56 "f32[6] { return sum(x[4:2], axis=0); }", 0, z, 6);
    expect_values(ar, "slice_clamped_empty", X56 "f32[6] { return sum(x[7:], axis=0) + sum(x[-9:-7], axis=0); }", 0, z, 6);
    /* concat, stack, split */
    static const double f[] = {0, 1, 0, 1, 6, 7, 6, 7};
    expect_values(ar, "concat_axis1", X56 "f32[2, 4] { let y = x[0:2, 0:2]; return concat([y, y], axis=1); }",
                  0, f, 8);
    static const double g[] = {0, 1, 6, 7, 0, 1, 6, 7};
    expect_values(ar, "concat_axis0", X56 "f32[4, 2] { let y = x[0:2, 0:2]; return concat([y, y]); }", 0, g, 8);
    static const double h[] = {0, 6, 1, 7};
    expect_values(ar, "stack_last", X56 "f32[2, 2] { return stack([x[0, 0:2], x[1, 0:2]], axis=-1); }", 0, h,
                  4);
    static const double s1[] = {4, 5, 10, 11, 16, 17, 22, 23, 28, 29};
    expect_values(ar, "split_sizes",
                  X56 "(f32[5, 4], f32[5, 2]) { let a, b = split(x, [4, 2], axis=1); return a, b; }", 1,
                  s1, 10);
    static const double s2[] = {2, 3, 8, 9, 14, 15, 20, 21, 26, 27};
    expect_values(ar, "split_equal",
                  X56 "f32[5, 2] { let a, b, c = split(x, 3, axis=-1); return b; }", 0, s2, 10);
    /* pad (a fill value), broadcast_to, expand */
    static const double p[] = {-1, -1, -1, -1, 0, 1, -1, -1, -1};
    expect_values(ar, "pad", X56 "f32[3, 3] { return pad(x[0:1, 0:2], [[1, 1], [1, 0]], value=-1); }", 0, p,
                  9);
    static const double p2[] = {0, 3, 0};
    expect_values(ar, "pad_all_dims", X56 "f32[3] { return pad(x[0, 3:4], 2 - 1) * 2.0 - pad(x[0, 3:4], [1, 1]); }",
                  0, p2, 3);
    static const double q[] = {0, 1, 0, 1, 0, 1};
    expect_values(ar, "broadcast_to", X56 "f32[3, 2] { return broadcast_to(x[0, 0:2], [3, 2]); }", 0, q, 6);
    static const double q2[] = {0, 0, 0, 6, 6, 6};
    expect_values(ar, "expand", X56 "f32[2, 3] { return expand(x[0:2, 0:1], [-1, 3]); }", 0, q2, 6);
    /* i32 data */
    static const double iv[] = {0, 2, 4, 7};
    expect_values(ar, "i32", "mesh M[a=1];\nfn main(k: i32[5] @ M[R] = arange()) -> i32[4] { return pad(k[::2], [0, 1], value=7)[0:4] + 0 * pad(k[0:3], [0, 1]); }",
                  0, iv, 4);
    arena_free(ar);
    printf("values: slicing, indexing, concat, stack, split, pad, broadcast_to, expand\n");
}

/* ---- 2. sharding ----------------------------------------------------------------- */

typedef struct Case {
    const char *name;
    const char *src;
    const char *value; /* a value whose placement is asserted (NULL: none) */
    const char *pl;
    int gathers;       /* all_gathers expected (-1: not checked) */
} Case;

static const Case cases[] = {
    /* a slice of a dim that is not split stays split and local; uneven and
     * empty shards (7 rows over 4 ranks: 2, 2, 2, 1; 3 rows: 1, 1, 1, 0) */
    {"slice_local_uneven",
     "mesh M[a=4];\n"
     "fn main(x: f32[7, 9] @ M[S(0)] = randn(seed=1)) -> f32[7, 3] {\n"
     "    let y = x[:, 1:-1:3];\n"
     "    return y;\n"
     "}\n",
     "y", "M[S(0)]", 0},
    {"slice_local_empty",
     "mesh M[a=4];\n"
     "fn main(x: f32[3, 5] @ M[S(0)] = randn(seed=1)) -> f32[3, 2] {\n"
     "    let y = x[:, ::-3] * 2.0;\n"
     "    return y;\n"
     "}\n",
     "y", "M[S(0)]", 0},
    /* a slice of the split dim: that dim must be whole first (the
     * intersections are not torch.chunk pieces of the result); here the
     * planner moves the split to the other dim (all_to_all), no gather */
    {"slice_split_dim",
     "mesh M[a=3];\n"
     "fn main(x: f32[7, 4] @ M[S(0)] = randn(seed=1)) -> f32[3, 4] {\n"
     "    let y = x[5:0:-2];\n"
     "    return y;\n"
     "}\n",
     "y", "M[S(1)]", 0},
    /* 1-D: nowhere else to put the split, so it is gathered */
    {"slice_split_1d",
     "mesh M[a=4];\n"
     "fn main(x: f32[7] @ M[S(0)] = randn(seed=1)) -> f32[4] {\n"
     "    let y = x[::-2] * 3.0 + concat([x[0:1], x[3:6]]);\n"
     "    return y;\n"
     "}\n",
     "y", "M[R]", 1},
    /* integer indexing of a non-split dim on a 2-D mesh with nested splits */
    {"index_nested",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[9, 4, 3] @ M[S(0), S(0)] = randn(seed=1)) -> f32[9, 3] {\n"
     "    let y = x[:, 2];\n"
     "    return y;\n"
     "}\n",
     "y", "M[S(0), S(0)]", 0},
    /* concat off the split dim: local; along it: gathered */
    {"concat_local",
     "mesh M[a=2, b=3];\n"
     "fn main(x: f32[5, 7] @ M[S(0), S(1)] = randn(seed=1), y: f32[5, 7] @ M[S(0), S(1)] = randn(seed=2),\n"
     "        z: f32[5, 7] @ M[S(0), S(1)] = randn(seed=3), u: f32[5, 7] @ M[S(0), S(1)] = randn(seed=4)) -> f32[20, 7] {\n"
     "    let c = concat([x, y, z, u], axis=0);\n"
     "    return c;\n"
     "}\n",
     "c", "M[R, S(1)]", 4},
    {"concat_keeps_split",
     "mesh M[a=4];\n"
     "fn main(x: f32[6, 2] @ M[S(0)] = randn(seed=1), y: f32[6, 3] @ M[S(0)] = randn(seed=2)) -> f32[6, 5] {\n"
     "    let c = concat([x, y, x], axis=1)[:, 0:5];\n"
     "    return c;\n"
     "}\n",
     "c", "M[S(0)]", 0},
    {"stack_split",
     "mesh M[a=3];\n"
     "fn main(x: f32[4, 5] @ M[S(1)] = randn(seed=1), y: f32[4, 5] @ M[S(1)] = randn(seed=2)) -> f32[4, 2, 5] {\n"
     "    let s = stack([x, y], axis=1);\n"
     "    return s;\n"
     "}\n",
     "s", "M[S(2)]", 0},
    /* split into pieces along a non-split dim: local; along the split dim: gathered */
    {"split_local",
     "mesh M[a=2, b=2];\n"
     "fn main(x: f32[5, 6] @ M[S(0), R] = randn(seed=1)) -> (f32[5, 1], f32[5, 5]) {\n"
     "    let a, b = split(x, [1, 5], axis=1);\n"
     "    return a, b;\n"
     "}\n",
     "b", "M[S(0), R]", 0},
    {"split_split_dim",
     "mesh M[a=4];\n"
     "fn main(x: f32[6, 3] @ M[S(0)] = randn(seed=1)) -> (f32[3, 3], f32[3, 3]) {\n"
     "    let a, b = split(x, 2);\n"
     "    return b, a;\n"
     "}\n",
     NULL, NULL, -1},
    /* pad off the split dim: local */
    {"pad_local",
     "mesh M[a=3];\n"
     "fn main(x: f32[4, 5] @ M[S(1)] = randn(seed=1)) -> f32[7, 5] {\n"
     "    let p = pad(x, [[2, 1], [0, 0]], value=3);\n"
     "    return p;\n"
     "}\n",
     "p", "M[S(1)]", 0},
    {"pad_split_dim",
     "mesh M[a=3];\n"
     "fn main(x: f32[4, 5] @ M[S(1)] = randn(seed=1)) -> f32[4, 8] {\n"
     "    let p = pad(x, [[0, 0], [1, 2]], value=3);\n"
     "    return p;\n"
     "}\n",
     "p", "M[S(0)]", 0},
    /* broadcast_to: a split dim stays split; a stretched or new dim may be
     * split from a replicated operand (a pinned result asks for it) */
    {"broadcast_split",
     "mesh M[a=3];\n"
     "fn main(x: f32[5, 1] @ M[S(0)] = randn(seed=1)) -> f32[2, 5, 4] {\n"
     "    let b = broadcast_to(x, [2, 5, 4]);\n"
     "    return b;\n"
     "}\n",
     "b", "M[S(1)]", 0},
    {"broadcast_into_split",
     "mesh M[a=4];\n"
     "fn main(x: f32[1, 3] @ M[R] = randn(seed=1)) -> f32[6, 3] @ M[S(0)] {\n"
     "    let b = expand(x, [6, -1]);\n"
     "    return b;\n"
     "}\n",
     "b", "M[S(0)]", 0},
    /* partial operands: slice, concat, broadcast_to, pad with 0 keep
     * P(sum); pad keeps P(max) for any fill; P(sum) with a fill of 1 is
     * reduced first */
    {"partial_sum_linear",
     "mesh M[a=2, b=2];\n"
     "fn main(p: f32[4, 6] @ M[P(sum), R] = randn(seed=1), q: f32[4, 6] @ M[P(sum), S(0)] = randn(seed=2)) -> f32[2, 7, 6] {\n"
     "    let s = concat([p[1:3], q[::-2]], axis=0);\n"
     "    let t = pad(s, [[1, 2], [0, 0]]);\n"
     "    let u = broadcast_to(t, [2, 7, 6]);\n"
     "    return u;\n"
     "}\n",
     "t", "M[P(sum), S(1)]", -1},
    {"partial_max_pad",
     "mesh M[a=3];\n"
     "fn main(p: f32[4, 5] @ M[P(max)] = randn(seed=1)) -> f32[6, 5] {\n"
     "    let t = pad(p, [[1, 1], [0, 0]], value=5);\n"
     "    return t;\n"
     "}\n",
     "t", "M[P(max)]", 0},
    {"partial_sum_pad_fill",
     "mesh M[a=2];\n"
     "fn main(p: f32[3, 2] @ M[P(sum)] = randn(seed=1)) -> f32[5, 2] {\n"
     "    let t = pad(p, [[1, 1], [0, 0]], value=1);\n"
     "    return t;\n"
     "}\n",
     "t", "M[S(1)]", 0},
    {"partial_avg_min_slice",
     "mesh M[a=2, b=2];\n"
     "fn main(p: f32[6, 5] @ M[P(avg), R] = randn(seed=1), q: f32[6, 5] @ M[R, P(min)] = randn(seed=2)) -> (f32[3, 5], f32[5]) {\n"
     "    let a = p[::2];\n"
     "    let b = q[-1];\n"
     "    return a, b;\n"
     "}\n",
     "a", "M[P(avg), R]", 0},
    /* i32 through the family, on a 3-D mesh with a size-1 axis */
    {"i32_3d",
     "mesh M[a=2, b=1, c=2];\n"
     "fn main(k: i32[5, 4] @ M[S(0), R, S(1)] = arange()) -> i32[5, 6] {\n"
     "    let c = concat([k, pad(k[:, 1:3], [[0, 0], [0, 0]])], axis=1);\n"
     "    return c;\n"
     "}\n",
     NULL, NULL, -1},
};

static void test_sharding(void)
{
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < n; k++) {
        const Case *c = &cases[k];
        Arena *ar = arena_new();
        IrModule *m = h_full(ar, c->name, c->src);
        if (m && c->value)
            h_expect_pl(m, c->value, c->pl, c->name);
        if (m && c->gathers >= 0)
            h_check(h_count(m, OP_ALL_GATHER, 0) == c->gathers, "%s: %d all_gathers, expected %d", c->name,
                    h_count(m, OP_ALL_GATHER, 0), c->gathers);
        arena_free(ar);
    }
    printf("sharding: %d programs on split, uneven, empty and partial operands\n", n);
}

int main(void)
{
    test_values();
    test_sharding();
    return h_report("test_shape_ops");
}
