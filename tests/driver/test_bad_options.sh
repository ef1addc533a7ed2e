#!/usr/bin/env bash
# Every bad command-line option exits 2 with exactly one error line that
# names the problem, before the program is compiled or run: --mesh sizes
# that overflow, are zero, negative or not integers, an axis given twice,
# more than 65536 ranks; --alpha/--beta that are NaN, infinite, negative or
# empty; bad --emit/--target/--print-after values, unknown options.  Good
# values still work.
set -u
fails=0 n=0
mlp="$DTC_SRC/samples/mlp.dt"

# bad NAME WANT_WORDS ARGS... : exit 2, one "error" line containing WANT_WORDS
bad() {
  local name=$1 want=$2; shift 2
  n=$((n + 1))
  local out rc lines
  out=$(timeout 20 "$DTC" "$@" 2>&1 >/dev/null); rc=$?
  lines=$(printf '%s\n' "$out" | grep -c -i 'error')
  if [ $rc -ne 2 ]; then
    echo "FAIL: $name: exit $rc (want 2): $out"; fails=$((fails + 1))
  elif [ "$lines" -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
    echo "FAIL: $name: want exactly one line, got:"; printf '%s\n' "$out" | sed 's/^/    /'; fails=$((fails + 1))
  elif ! printf '%s\n' "$out" | grep -q -F -- "$want"; then
    echo "FAIL: $name: message lacks '$want': $out"; fails=$((fails + 1))
  else
    echo "ok: $name: $out"
  fi
}

good() {
  local name=$1; shift
  n=$((n + 1))
  local out rc
  out=$(timeout 60 "$DTC" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -eq 0 ]; then echo "ok: $name"; else echo "FAIL: $name: exit $rc: $out"; fails=$((fails + 1)); fi
}

for cmd in check report; do
  bad "$cmd --mesh overflow" "99999999999999999999999 is too large" $cmd "$mlp" --mesh dp=99999999999999999999999
  bad "$cmd --mesh dp=0" "positive size, got 0" $cmd "$mlp" --mesh dp=0
  bad "$cmd --mesh dp=-3" "positive size, got -3" $cmd "$mlp" --mesh dp=-3
  bad "$cmd --mesh dp=2x" "integer size, got '2x'" $cmd "$mlp" --mesh dp=2x
  bad "$cmd --mesh dp=70000" "too large" $cmd "$mlp" --mesh dp=70000
  bad "$cmd --mesh dp=256,tp=512" "more than 65536 ranks" $cmd "$mlp" --mesh dp=256,tp=512
  bad "$cmd --mesh dp=2,dp=4" "given twice" $cmd "$mlp" --mesh dp=2,dp=4
  bad "$cmd --mesh dp=" "AXIS=N" $cmd "$mlp" --mesh dp=
  bad "$cmd --mesh (no value)" "AXIS=N" $cmd "$mlp" --mesh
done
for cmd in report compile; do
  bad "$cmd --alpha=nan" "--alpha wants a finite" $cmd "$mlp" --alpha=nan
  bad "$cmd --alpha=-nan" "--alpha wants a finite" $cmd "$mlp" --alpha=-nan
  bad "$cmd --beta=inf" "--beta wants a finite" $cmd "$mlp" --beta=inf
  bad "$cmd --beta=1e999" "--beta wants a finite" $cmd "$mlp" --beta=1e999
  bad "$cmd --alpha=-1e-6" "--alpha wants a finite, non-negative" $cmd "$mlp" --alpha=-1e-6
  bad "$cmd --beta=" "--beta wants" $cmd "$mlp" --beta=
  bad "$cmd --beta 1e-9x" "got '1e-9x'" $cmd "$mlp" --beta 1e-9x
done
bad "--emit=png" "--emit must be" compile "$mlp" --emit=png
bad "--target=tpu" "--target must be" compile "$mlp" --target=tpu
bad "--print-after=bogus" "unknown pass 'bogus'" compile "$mlp" --print-after=bogus
bad "--stop-after=bogus" "unknown pass 'bogus'" compile "$mlp" --stop-after=bogus
bad "unknown option" "unknown option '--bogus'" check "$mlp" --bogus
bad "unknown command" "unknown command 'frobnicate'" frobnicate "$mlp"
bad "two input files" "more than one input file" check "$mlp" "$mlp"
bad "-o without a file" "-o needs a file name" compile "$mlp" -o
bad "--in for compile" "belong to 'dtc run'" compile "$mlp" --in x=x.npy
bad "--stop-after for report" "belongs to 'dtc compile'" report "$mlp" --stop-after=sema

good "--mesh dp=4,tp=1" check "$mlp" --mesh dp=4,tp=1
good "--mesh dp=64,tp=128 (8192 ranks)" report "$mlp" --mesh dp=64,tp=128
good "--alpha=0 --beta 1e-9" report "$mlp" --alpha=0 --beta 1e-9
good "--alpha=2.5e-6 --beta=0" report "$mlp" --alpha=2.5e-6 --beta=0

echo "bad-option checks: $((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
