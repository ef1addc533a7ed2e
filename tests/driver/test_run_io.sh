#!/usr/bin/env bash
# `dtc run`'s files: any number of --in/--out (there was a cap of 64);
# two results to one file is an error before computing (same string, same
# file through another path, a hard link, a symlink), and nothing is
# written; a FIFO, a directory or a device given as --in, or named by
# load("..."), is rejected with one message instead of blocking in open().
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
DTC=$(realpath "$DTC")
mlp2d=$(realpath "$DTC_SRC/samples/mlp2d.dt")

# 100 parameters, each given by --in; the result written to 100 files.
nparam=100
{
  echo "mesh M[dp=1];"
  printf 'fn main('
  for i in $(seq 0 $((nparam - 1))); do
    [ $i -gt 0 ] && printf ', '
    printf 'p%d: f32[3] @ M[R]' $i
  done
  printf ') -> f32[3] @ M[R] {\n    let s = p0'
  for i in $(seq 1 $((nparam - 1))); do printf ' + p%d' $i; done
  printf ';\n    return s;\n}\n'
} > "$tmp/many.dt"
"$PY" - "$tmp" $nparam <<'PYEOF'
import sys, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    np.save(f"{d}/p{i}.npy", np.full(3, i + 1, np.float32))
PYEOF
args=()
for i in $(seq 0 $((nparam - 1))); do args+=(--in "p$i=$tmp/p$i.npy"); done
for i in $(seq 0 $((nparam - 1))); do args+=(--out "s=$tmp/s$i.npy"); done
n=$((n + 1))
out=$(timeout 60 "$DTC" run "$tmp/many.dt" "${args[@]}" 2>&1); rc=$?
if [ $rc -ne 0 ]; then
  fail "$nparam --in and $nparam --out: exit $rc: $out"
elif "$PY" - "$tmp" $nparam <<'PYEOF'
import sys, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
want = n * (n + 1) / 2
for i in range(n):
    y = np.load(f"{d}/s{i}.npy")
    assert y.shape == (3,) and np.all(y == want), (i, y)
PYEOF
then pass "$nparam --in and $nparam --out: every result file holds the sum ($out)"
else fail "$nparam --in and $nparam --out: wrong files"; fi

# expect_error NAME WORDS ARGS... : exit 1 within 20 s, one error line with WORDS, no y/norm files
expect_error() {
  local name=$1 want=$2; shift 2
  n=$((n + 1))
  local out rc lines
  out=$(timeout 20 "$DTC" run "$@" 2>&1); rc=$?
  lines=$(printf '%s\n' "$out" | grep -c -i 'error')
  if [ $rc -ne 1 ]; then
    fail "$name: exit $rc (want 1; 124 is a hang): $out"
  elif [ "$lines" -ne 1 ]; then
    fail "$name: $lines error lines (want 1): $out"
  elif ! printf '%s\n' "$out" | grep -q -F -- "$want"; then
    fail "$name: message lacks '$want': $out"
  elif printf '%s\n' "$out" | grep -q 'sum='; then
    fail "$name: it computed and printed results: $out"
  elif ls "$tmp/out" 2>/dev/null | grep -q .; then
    fail "$name: wrote $(ls "$tmp/out")"
  else
    pass "$name: $out"
  fi
  rm -rf "$tmp/out"; mkdir -p "$tmp/out"
}
mkdir -p "$tmp/out"
expect_error "two results, one path" "both write" "$mlp2d" --out "y=$tmp/out/r.npy" --out "norm=$tmp/out/r.npy"
expect_error "two results, one file by two paths" "both write" "$mlp2d" --out "y=$tmp/out/r.npy" --out "norm=$tmp/out/../out/./r.npy"
cd "$tmp"
expect_error "relative and absolute path" "both write" "$mlp2d" --out "y=out/r.npy" --out "norm=$tmp/out/r.npy"
cd - >/dev/null
touch "$tmp/existing.npy"; ln "$tmp/existing.npy" "$tmp/hardlink.npy"; ln -s "$tmp/existing.npy" "$tmp/symlink.npy"
expect_error "two results, hard links to one file" "both write" "$mlp2d" --out "y=$tmp/existing.npy" --out "norm=$tmp/hardlink.npy"
expect_error "two results, a symlink to one file" "both write" "$mlp2d" --out "y=$tmp/symlink.npy" --out "norm=$tmp/existing.npy"
n=$((n + 1))
if [ -s "$tmp/existing.npy" ]; then fail "the existing file was written to"; else pass "the existing file is untouched"; fi

mkfifo "$tmp/fifo.npy"
expect_error "--in a FIFO with no writer" "is a FIFO" "$mlp2d" --in "x=$tmp/fifo.npy" --out "y=$tmp/out/y.npy"
expect_error "--in a directory" "is a directory" "$mlp2d" --in "x=$tmp" --out "y=$tmp/out/y.npy"
expect_error "--in a character device" "is a character device" "$mlp2d" --in "x=/dev/zero"
cat > "$tmp/loads.dt" <<'DT'
mesh M[dp=2];
fn main(x: f32[4] @ M[S(0)] = load("fifo.npy")) -> f32[4] @ M[R] { return x * 2.0; }
DT
expect_error "load() of a FIFO" "is a FIFO" "$tmp/loads.dt"

# the same result to two different files is fine, and --in of a regular file works
n=$((n + 1))
"$PY" -c "import numpy as np; np.save('$tmp/x.npy', np.ones((16, 64), np.float32))"
if out=$(timeout 20 "$DTC" run "$mlp2d" --in "x=$tmp/x.npy" --out "y=$tmp/out/a.npy" --out "y=$tmp/out/b.npy" 2>&1) &&
   cmp -s "$tmp/out/a.npy" "$tmp/out/b.npy"; then
  pass "one result to two files; --in of a regular file"
else fail "one result to two files: $out"; fi

echo "run file checks: $((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
