#!/bin/bash
# value_and_grad through a for loop (unrolled in the gradient's copy) equals
# the loop unrolled by hand, and compiles for dp=2,tp=2; a loss that calls
# helpers, differentiated from inside a helper, gives the same value and
# gradients as the same loss written flat; a loop too long to unroll within
# the size limit of spec 9 is an error at the loop; a second derivative
# (value_and_grad of a function using value_and_grad) matches the formula.
set -u
DTC=$(realpath "${DTC:-$(dirname "$0")/../../build/dtc}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

cat > "$tmp/loop.dt" <<'DT'
mesh M[dp=2, tp=2];
fn block(h: f64[6, 4], w: f64[4, 4], b: f64[4]) -> f64[6, 4] { return h + tanh(h @ w + b); }
fn loss(w: f64[3, 4, 4], b: f64[3, 4], x: f64[6, 4]) -> f64[] {
    let h = x;
    for l in 0..3 carry (h) {
        h = block(h, w[l], b[l]);
    }
    return mean(h * h);
}
fn main(w: f64[3, 4, 4] @ M[R, S(2)] = randn(seed=1, std=0.5), b: f64[3, 4] @ M[R, R] = randn(seed=2),
        x: f64[6, 4] @ M[S(0), R] = randn(seed=3)) -> (f64[], f64[3, 4, 4], f64[3, 4], f64[6, 4]) {
    let l, gw, gb, gx = value_and_grad(loss, w, b, x, wrt=[0, 1, 2]);
    return l, gw, gb, gx;
}
DT
sed -e 's|    for l in 0..3 carry (h) {|    let h1 = block(h, w[0], b[0]); let h2 = block(h1, w[1], b[1]); let h3 = block(h2, w[2], b[2]);|' \
    -e 's|        h = block(h, w\[l\], b\[l\]);||' -e 's|^    }$||' -e 's|mean(h \* h)|mean(h3 * h3)|' \
    "$tmp/loop.dt" > "$tmp/unrolled.dt"
a=$("$DTC" run "$tmp/loop.dt" 2>&1); b=$("$DTC" run "$tmp/unrolled.dt" 2>&1)
if [ "$a" != "$b" ] || [ -z "$a" ]; then
    echo "FAIL: a loop under value_and_grad differs from the loop unrolled by hand:"; echo "$a"; echo "$b"; fail=1
else
    echo "ok: value_and_grad through a for loop equals the loop unrolled by hand"
fi
outs="" cmp=""
for n in l gw gb gx; do
    outs="$outs --out $n=$tmp/c_$n.npy"; cmp="$cmp $n $tmp/c_$n.npy $tmp/r_$n.npy"
done
if "$DTC" run "$tmp/loop.dt" $(echo $outs | sed "s|/c_|/r_|g") >/dev/null && "$DTC" compile "$tmp/loop.dt" -o "$tmp/loop" \
    && "$tmp/loop" --ranks 4 $outs >/dev/null && /usr/bin/python3 "$(dirname "$0")/../exec/npy_compare.py" "loop grad dp=2,tp=2" $cmp; then
    echo "ok: compiled on dp=2,tp=2, the loop's gradients equal dtc run"
else
    echo "FAIL: compiled loop gradient differs from dtc run"; fail=1
fi

sed -e 's|0\.\.3|0..100000|' -e 's|w\[l\], b\[l\]|w[0], b[0]|' "$tmp/loop.dt" > "$tmp/big.dt"
want="big.dt:5:5: error: grad: this loop unrolled for the gradient would make it more than 250000 operations"
out=$(cd "$tmp" && "$DTC" run big.dt 2>&1)
if [ $? -ne 1 ] || [ "$out" != "$want" ]; then
    echo "FAIL: a loop too long to unroll for the gradient: got: $out"; fail=1
else
    echo "ok: a loop too long to unroll is an error at the loop: $out"
fi

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
a=$("$DTC" run "$tmp/flat.dt" 2>&1); b=$("$DTC" run "$tmp/nested.dt" 2>&1)
if [ "$a" != "$b" ] || [ -z "$a" ]; then
    echo "FAIL: nested calls differ from the flat loss:"; echo "$a"; echo "$b"; fail=1
else
    echo "ok: value_and_grad inside a helper, of a loss calling a helper, equals the flat loss"
fi
# a second derivative: value_and_grad of a function that calls value_and_grad
cat > "$tmp/second.dt" <<'DT'
mesh M[dp=2];
fn f(x: f64[5]) -> f64[] { return sum(x * x * x); }
fn gsum(x: f64[5], c: f64[5]) -> f64[] {
    let v, gx = value_and_grad(f, x);
    return sum(gx * c);
}
fn main(x: f64[5] @ M[S(0)] = randn(seed=1), c: f64[5] @ M[R] = randn(seed=2))
        -> (f64[], f64[5], f64[5], f64[5], f64[5]) {
    let v, g, gc = value_and_grad(gsum, x, c, wrt=[0, 1]);
    return v, g, gc, x, c;
}
DT
if (cd "$tmp" && "$DTC" run second.dt --out v=v.npy --out g=g.npy --out gc=gc.npy --out x=x.npy --out c=c.npy >/dev/null) \
    && /usr/bin/python3 -c "
import numpy as np, sys
x, c, g, gc, v = [np.load('$tmp/%s.npy' % n) for n in ('x', 'c', 'g', 'gc', 'v')]
ok = np.allclose(g, 6 * x * c, rtol=1e-12, atol=1e-12) and np.allclose(gc, 3 * x * x, rtol=1e-12, atol=1e-12) \
    and np.allclose(v, np.sum(3 * x * x * c), rtol=1e-12)
sys.exit(0 if ok else 1)"; then
    echo "ok: second derivative: d/dx sum(grad(sum x^3) * c) == 6 x c, d/dc == 3 x^2"
else
    echo "FAIL: second derivative of sum(x^3)"; fail=1
fi
exit $fail
