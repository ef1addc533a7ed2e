#!/bin/bash
# test_calibrate.sh - `dtc calibrate` writes the cost model it measured
# (alpha, beta, flop_time, elem_time, copy_time, op_time, each a finite
# number > 0 but op_time and alpha >= 0) and `--calibration=FILE` makes
# `dtc report` use it (the estimate changes; --alpha after it still wins);
# a malformed file is a command-line error naming the line.  How good the
# estimate is lives in bench/estimate.sh (a measurement, not a test).
# env: DTC, DTC_SRC.
set -u
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d /tmp/test_calibrate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0
ok() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }

if "$DTC" calibrate --ranks 2 --iters 3 -o "$tmp/cal.txt" > "$tmp/out.txt" 2>&1; then
    ok "calibrate: $(cat "$tmp/out.txt")"
else
    fail "calibrate failed: $(cat "$tmp/out.txt")"
fi
for key in alpha beta flop_time elem_time copy_time op_time; do
    v=$(awk -v k=$key '$1 == k { print $2 }' "$tmp/cal.txt")
    if [ -n "$v" ] && python3 -c "import math,sys; v=float('$v'); sys.exit(0 if math.isfinite(v) and (v > 0 or ('$key' in ('op_time','alpha') and v >= 0)) else 1)"; then
        ok "$key = $v"
    else
        fail "$key missing or out of range: '$v'"
    fi
done
est() { "$DTC" report "$DTC_SRC/samples/mlp.dt" "$@" | sed -n 's/^estimated time: \([0-9.]*\) us.*/\1/p'; }
d=$(est) c=$(est --calibration="$tmp/cal.txt") a=$(est --calibration="$tmp/cal.txt" --alpha=1)
[ -n "$c" ] && [ "$c" != "$d" ] && ok "report --calibration: $c us (defaults: $d us)" || fail "estimate $c vs default $d"
python3 -c "import sys; sys.exit(0 if float('$a') > 1e5 else 1)" && ok "--alpha after --calibration wins ($a us)" \
    || fail "--alpha=1 after --calibration: $a us"
printf 'alpha 1e-6\nbeta fast\n' > "$tmp/bad.txt"
msg=$("$DTC" report "$DTC_SRC/samples/mlp.dt" --calibration="$tmp/bad.txt" 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$msg" == *"bad.txt:2: expected 'KEY VALUE'"* ]] && ok "bad file: $msg" || fail "bad file: rc $rc: $msg"
echo "$((checks - fails)) passed, $fails failed"
[ $fails -eq 0 ]
