#!/usr/bin/env bash
# Spec section 9 on a real compiled program (samples/mlp.dt, mesh 2 x 2):
# every bad input ends the run with ONE clear message, a non-zero exit, no
# hang (each run is limited to 20 s) and no output file left behind, both
# with --ranks (threads) and under mpirun.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fails=0 n=0
"$DTC" compile "$DTC_SRC/samples/mlp.dt" -o "$tmp/mlp" || { echo "FAIL: compile"; exit 1; }

"$PY" - "$tmp" <<'PYEOF'
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/x_ok.npy", np.ones((8, 512), np.float32))
np.save(d + "/x_f64.npy", np.ones((8, 512), np.float64))
np.save(d + "/x_shape.npy", np.ones((8, 500), np.float32))
raw = open(d + "/x_ok.npy", "rb").read()
open(d + "/x_trunc.npy", "wb").write(raw[: len(raw) // 2])
open(d + "/x_garbage.npy", "wb").write(b"this is not an npy file at all")
PYEOF

# check NAME EXPECTED_WORDS LAUNCH... : runs, expects failure with one error line
check() {
  local name=$1 want=$2; shift 2
  n=$((n + 1))
  rm -f "$tmp/y.npy"
  local start=$SECONDS out rc
  out=$(timeout 20 "$@" --out "y=$tmp/y.npy" 2>&1)
  rc=$?
  local lines
  lines=$(printf '%s\n' "$out" | grep -c -i 'error')
  if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then
    echo "FAIL: $name: exit status $rc (want non-zero, no timeout)"; fails=$((fails + 1))
  elif [ "$lines" -ne 1 ]; then
    echo "FAIL: $name: $lines error lines (want exactly 1):"; printf '%s\n' "$out" | sed 's/^/    /'; fails=$((fails + 1))
  elif ! printf '%s\n' "$out" | grep -q -i -- "$want"; then
    echo "FAIL: $name: message does not mention '$want':"; printf '%s\n' "$out" | sed 's/^/    /'; fails=$((fails + 1))
  elif [ -e "$tmp/y.npy" ] || ls "$tmp" | grep -q 'y.npy.tmp'; then
    echo "FAIL: $name: an output file was left behind"; fails=$((fails + 1))
  else
    echo "ok: $name ($((SECONDS - start)) s): $(printf '%s\n' "$out" | grep -i error)"
  fi
}

for mode in threads mpi; do
  if [ $mode = threads ]; then run=("$tmp/mlp" --ranks 4); wrong=("$tmp/mlp" --ranks 3)
  else run=(mpirun -np 4 "$tmp/mlp"); wrong=(mpirun -np 2 "$tmp/mlp"); fi
  check "$mode: world size differs from the mesh" "4" "${wrong[@]}"
  check "$mode: --in file missing" "x" "${run[@]}" --in "x=$tmp/nope.npy"
  check "$mode: --in file truncated" "truncated" "${run[@]}" --in "x=$tmp/x_trunc.npy"
  check "$mode: --in file not npy" "x" "${run[@]}" --in "x=$tmp/x_garbage.npy"
  check "$mode: --in wrong dtype" "f64" "${run[@]}" --in "x=$tmp/x_f64.npy"
  check "$mode: --in wrong shape" "500" "${run[@]}" --in "x=$tmp/x_shape.npy"
  check "$mode: unknown --in name" "nosuch" "${run[@]}" --in "nosuch=$tmp/x_ok.npy"
  check "$mode: unknown --out name" "nosuch" "${run[@]}" --out "nosuch=$tmp/z.npy"
  check "$mode: bad option" "bogus" "${run[@]}" --bogus
done

# and the good run still works and writes its file
n=$((n + 1))
if timeout 20 "$tmp/mlp" --ranks 4 --in "x=$tmp/x_ok.npy" --out "y=$tmp/y.npy" >/dev/null && [ -s "$tmp/y.npy" ]; then
  echo "ok: a good run writes y.npy"
else
  echo "FAIL: the good run"; fails=$((fails + 1))
fi
echo "bad-input checks: $((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
