# test_llvm_ops.sh - the LLVM backend's fused loops op by op: every
# elementwise op in f32 and f64, i32 arithmetic that wraps, casts (float ->
# i32 out of range gives INT32_MIN), sum / mean / max / min over inner,
# outer and all axes, transposed reads, odd sizes (vector remainders) split
# unevenly; then the small programs of tests/ir/*.dt.  Each runs with
# --ranks N and is compared with `dtc run` (f32 1e-5, f64 1e-12 relative
# with atol = rtol * max|ref|, i32 exact), at -O2 and, for the two
# op programs, -O1 and -O3 too.
set -eu
DTC=${DTC:?} DTC_SRC=${DTC_SRC:?} PY=${PY:-/usr/bin/python3}
W=$(mktemp -d /tmp/test_llvm_ops.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
fail=0
checks=0


cat > ew.dt <<'EOF'
# elementwise ops and reductions, f32 and f64, odd sizes (vector remainders)
const N = 37;  const K = 131;

mesh M[a=2, b=2];

fn main(x: f32[N, K] @ M[S(0), S(1)] = randn(seed=1),
        y: f64[N, K] @ M[R, S(0)]    = rand(seed=2, lo=-2.0, hi=2.0),
        v: f32[K]    @ M[R, S(0)]    = rand(seed=3, lo=0.5, hi=1.5))
        -> (f32[N, K] @ M[S(0), R], f32[N, K] @ M[S(0), R], f64[N, K] @ M[R, R],
            f32[K] @ M[R, R], f32[N] @ M[R, R], f64[N] @ M[R, R], f64[K] @ M[R, R],
            f32[] @ M[R, R], f64[N, 1] @ M[R, R]) {
    let ax = abs(x) + 0.5;
    let e1 = exp(x) + log(ax) * sqrt(ax) - rsqrt(ax) + pow(ax, 1.7) / v;
    let e2 = tanh(x) * sigmoid(x) + relu(x) - silu(x) + gelu(x) + neg(x) / ax
             + maximum(x, 0.25) + minimum(x, v - 1.0);
    let ay = abs(y) + 0.25;
    let e3 = exp(y) + log(ay) * sqrt(ay) - rsqrt(ay) + pow(ay, 2.5) + tanh(y) * sigmoid(y)
             + relu(y) - silu(y) + gelu(y) + maximum(y, 0.5) + minimum(y, -0.5) + cast(x, f64);
    let r1 = sum(e1 * e2, axis=0);
    let r2 = max(e2, axis=1);
    let r3 = mean(e3, axis=1);
    let r4 = min(e3, axis=0);
    let r5 = mean(x * x);
    let r6 = sum(transpose(e3, [1, 0]), axis=0, keepdims=true);
    return e1, e2, e3, r1, r2, r3, r4, r5, transpose(r6, [1, 0]);
}
EOF

cat > ints.dt <<'EOF'
# i32 arithmetic (wrapping), casts both ways, integer reductions
const N = 23;  const K = 45;

mesh M[a=2, b=3];

fn main(k: i32[N, K] @ M[S(0), S(1)] = arange(),
        j: i32[K]    @ M[R, S(0)]    = arange(),
        x: f32[N, K] @ M[S(1), R]    = randn(seed=5, std=3.0))
        -> (i32[N, K] @ M[R, R], i32[N, K] @ M[R, R], i32[N] @ M[R, R], i32[K] @ M[R, R],
            i32[] @ M[R, R], f32[N, K] @ M[R, R], i32[N, K] @ M[R, R]) {
    let d = (k - 500) * (j - 20) + (k * 7 - j) - neg(k) * 4;
    let w = k * 100000 * 100000 + abs(neg(k) + 17) + maximum(k, j * 20) - minimum(k, j);
    let s = sum(w, axis=1);
    let m = max(d, axis=0);
    let n = min(k - j * 30);
    let c = cast(k, f32) * 0.5 + cast(d, f32);
    let t = cast(x * 1e9, i32) + cast(x, i32);
    return d, w, s, m, n, c, t;
}
EOF

cat > table.dt <<'EOF'
# the elementwise table's newer rows: sin cos erf floor ceil round, exact
# gelu, // and % (f32, f64, i32), comparisons, where, iota / causal_mask
const N = 19;  const K = 67;

mesh M[a=2, b=3];

fn main(x: f32[N, K] @ M[S(0), S(1)] = randn(seed=7, std=2.0),
        y: f64[N, K] @ M[R, S(0)]    = rand(seed=8, lo=-3.0, hi=3.0),
        d: f64[K]    @ M[S(0), R]    = rand(seed=9, lo=0.5, hi=2.0),
        k: i32[N, K] @ M[S(1), R]    = arange())
        -> (f32[N, K] @ M[R, R], f64[N, K] @ M[R, R], i32[N, K] @ M[R, R], f32[K, K] @ M[R, R]) {
    let a = sin(x) + cos(x) * erf(x) + gelu(x) + floor(x * 3.0) + ceil(x) + round(x * 2.0)
            + x // 0.75 + x % 0.75 + where(x > 0.5, x, -x) + (x <= -1.0) + (x == x) - (x != 0.0);
    let b = erf(y) + gelu(y) + y // d - y % d + floor(y) * ceil(y) + round(y * 4.0)
            + where(y >= d, y, d) + (y < 0.0) + iota(f64[N, K], axis=0) * 0.01;
    let c = (k - 600) // 7 + (k - 600) % 7 * 1000 + (k - 600) // -3 + (k - 600) % -3 * 100000
            + where(k % 2, k, -k) + (k >= 400) + (k > 500) * 2 + k // 0 + k % 0;
    let m = softmax(causal_mask(K) + tril(iota(f32[K, K], axis=1) * 0.01, k=2), axis=-1);
    return a, b, c, m;
}
EOF

names() { sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\): .*sum=.*/\1/p' "$1"; }
# rank count of the first `mesh NAME[a=2, b=3]` declaration
mesh_ranks() {
    sed -n 's/^ *mesh *[A-Za-z_][A-Za-z0-9_]* *\[\([^]]*\)\].*/\1/p' "$1" | head -1 |
        tr ',' '\n' | sed 's/.*=//' | awk 'BEGIN{n=1}{n*=$1}END{print n}'
}

# check FILE.dt LABEL [dtc compile options]
check() {
    dt=$1 label=$2
    shift 2
    s=$(basename "$dt" .dt)
    if ! "$DTC" run "$dt" > "ref_$s.txt" 2> err.txt; then
        echo "FAIL $label: dtc run"; cat err.txt; fail=1; return
    fi
    outs="" gots=""
    for n in $(names "ref_$s.txt"); do
        outs="$outs --out $n=ref_${s}_$n.npy"
        gots="$gots --out $n=got_${s}_$n.npy"
    done
    # shellcheck disable=SC2086
    "$DTC" run "$dt" $outs > /dev/null
    if ! "$DTC" compile "$dt" "$@" -o "prog_$s" 2> err.txt; then
        echo "FAIL $label: compile"; cat err.txt; fail=1; return
    fi
    # shellcheck disable=SC2086
    if ! "./prog_$s" --ranks "$(mesh_ranks "$dt")" $gots > run.txt 2>&1; then
        echo "FAIL $label: run"; cat run.txt; fail=1; return
    fi
    pairs=""
    for n in $(names "ref_$s.txt"); do
        checks=$((checks + 1))
        pairs="$pairs $n got_${s}_$n.npy ref_${s}_$n.npy"
    done
    # shellcheck disable=SC2086
    "$PY" "$DTC_SRC/tests/exec/npy_compare.py" "$label" $pairs || fail=1
}

for o in -O2 -O1 -O3; do
    check ew.dt "ew $o" "$o"
    check ints.dt "ints $o" "$o"
    check table.dt "table $o" "$o"
done
for dt in "$DTC_SRC"/tests/ir/*.dt; do
    check "$dt" "tests/ir/$(basename "$dt")"
done

if [ "$fail" -ne 0 ]; then
    echo "test_llvm_ops: FAILED"
    exit 1
fi
echo "test_llvm_ops: $checks checks passed"
