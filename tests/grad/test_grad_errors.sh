#!/bin/bash
# value_and_grad: what the backward refuses (a loop in the differentiated
# function) is an error at the loop, from run and compile alike; a loss
# that calls helpers, differentiated from inside a helper, gives the same
# value and gradients as the same loss written flat.
set -u
DTC=$(realpath "${DTC:-$(dirname "$0")/../../build/dtc}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

cat > "$tmp/loop.dt" <<'DT'
mesh M[dp=2];
fn loss(w: f32[4, 4], x: f32[2, 4]) -> f32[] {
    let h = x;
    for l in 0..3 carry (h) {
        h = tanh(h @ w);
    }
    return sum(h);
}
fn main(w: f32[4, 4] @ M[R] = randn(seed=1), x: f32[2, 4] @ M[R] = randn(seed=2)) -> f32[4, 4] {
    let l, g = value_and_grad(loss, w, x);
    return g;
}
DT
want="loop.dt:4:5: error: grad: a loop cannot be differentiated yet (unroll it by hand)"
for cmd in run compile; do
    out=$(cd "$tmp" && "$DTC" $cmd loop.dt -o "$tmp/x" 2>&1)
    rc=$?
    if [ $rc -ne 1 ] || [ "$out" != "$want" ]; then
        echo "FAIL: dtc $cmd of a loop under value_and_grad: rc=$rc, got: $out"
        fail=1
    else
        echo "ok: dtc $cmd refuses the loop: $out"
    fi
done

cat > "$tmp/flat.dt" <<'DT'
mesh M[dp=2];
fn loss(w: f64[3, 5], b: f64[5], x: f64[6, 3]) -> f64[] {
    return mean(softmax(relu(x @ w + b)) * x[:, 0:1]);
}
fn main(w: f64[3, 5] @ M[R] = randn(seed=1), b: f64[5] @ M[R] = randn(seed=2),
        x: f64[6, 3] @ M[S(0)] = randn(seed=3)) -> (f64[], f64[3, 5], f64[5]) {
    let l, gw, gb = value_and_grad(loss, w, b, x, wrt=[0, 1]);
    return l, gw, gb;
}
DT
cat > "$tmp/nested.dt" <<'DT'
mesh M[dp=2];
fn layer(w: f64[3, 5], b: f64[5], x: f64[6, 3]) -> f64[6, 5] { return relu(x @ w + b); }
fn loss(w: f64[3, 5], b: f64[5], x: f64[6, 3]) -> f64[] {
    return mean(softmax(layer(w, b, x)) * x[:, 0:1]);
}
fn step(w: f64[3, 5], b: f64[5], x: f64[6, 3]) -> (f64[], f64[3, 5], f64[5]) {
    let l, gw, gb = value_and_grad(loss, w, b, x, wrt=[0, 1]);
    return l, gw, gb;
}
fn main(w: f64[3, 5] @ M[R] = randn(seed=1), b: f64[5] @ M[R] = randn(seed=2),
        x: f64[6, 3] @ M[S(0)] = randn(seed=3)) -> (f64[], f64[3, 5], f64[5]) {
    let l, gw, gb = step(w, b, x);
    return l, gw, gb;
}
DT
a=$("$DTC" run "$tmp/flat.dt" 2>&1) && b=$("$DTC" run "$tmp/nested.dt" 2>&1)
if [ "$a" != "$b" ] || [ -z "$a" ]; then
    echo "FAIL: nested calls differ from the flat loss:"; echo "$a"; echo "$b"; fail=1
else
    echo "ok: value_and_grad inside a helper, of a loss calling a helper, equals the flat loss"
fi
exit $fail
