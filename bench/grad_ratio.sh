#!/bin/bash
# bench/grad_ratio.sh - the cost of a gradient: the compiled data-parallel
# MLP loss (B=256, D=512, H=2048, C=512, f32, M[dp=4], weights replicated)
# with value_and_grad of both weights, against the loss alone, both run
# with --ranks 4 --iters ITERS.  Prints both medians and the ratio
# grad / forward (reverse mode's textbook cost is 2 to 3 forwards: the
# backward runs two matmuls per forward matmul, plus one all_reduce per
# weight gradient).  Numbers are for reading, not asserting.
#   bench/grad_ratio.sh [ITERS]        (default 20)
# Env: DTC (default build/dtc).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
DTC=${DTC:-$src/build/dtc}
iters=${1:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head='const B = 256;  const D = 512;  const H = 2048;  const C = 512;
mesh M[dp=4];
fn loss(w1: f32[D, H], w2: f32[H, C], x: f32[B, D], y: i32[B]) -> f32[] {
    return cross_entropy(gelu(x @ w1, approximate=true) @ w2, y);
}
fn main(w1: f32[D, H] @ M[R] = randn(seed=1, std=0.02), w2: f32[H, C] @ M[R] = randn(seed=2, std=0.02),
        x: f32[B, D] @ M[S(0)] = randn(seed=3), y: i32[B] @ M[S(0)] = zeros())'
printf '%s -> f32[] {\n    return loss(w1, w2, x, y);\n}\n' "$head" > "$tmp/fwd.dt"
printf '%s -> (f32[], f32[D, H] @ M[R], f32[H, C] @ M[R]) {\n    let l, g1, g2 = value_and_grad(loss, w1, w2, x, y, wrt=[0, 1]);\n    return l, g1, g2;\n}\n' \
    "$head" > "$tmp/grad.dt"
median() { "$1" --ranks 4 --iters "$iters" --warmup 3 | sed -n 's/^time: median \([0-9.]*\) ms.*/\1/p'; }
for p in fwd grad; do
    "$DTC" compile "$tmp/$p.dt" -o "$tmp/$p"
done
f=$(median "$tmp/fwd") g=$(median "$tmp/grad")
echo "forward (loss only): $f ms/iter"
echo "value_and_grad:      $g ms/iter"
awk -v f="$f" -v g="$g" 'BEGIN { printf "ratio grad / forward: %.2f\n", g / f }'
