#!/bin/bash
# test_loop_scaling.sh - a loop over layers is kept a loop in the generated
# code: samples/stack.dt with L = 2 and L = 24 compiled at -O2 gives
# executables whose sizes differ by less than 20% (bench/loop_scaling.sh;
# the compile times are printed, not asserted: the machine is shared), and
# the C for L = 24 has one body function called from one `for` over 24
# layers.
set -u
: "${DTC:?DTC must name the dtc binary}"
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

if ! out=$(DTC=$DTC DTC_SRC=$DTC_SRC bash "$DTC_SRC/bench/loop_scaling.sh" 2 24 2>&1); then
    fail "bench/loop_scaling.sh failed:"; echo "$out"
else
    echo "$out"
    ratio=$(echo "$out" | sed -n 's/.*executable size \([0-9.]*\)$/\1/p')
    if [ -z "$ratio" ]; then
        fail "no size ratio in the bench output"
    elif [ "$(echo "$ratio < 1.2 && $ratio > 0.8333" | bc -l)" != 1 ]; then
        fail "executable size ratio L=24 / L=2 is $ratio (want within 20%)"
    else
        echo "ok: executable size ratio $ratio is within 20%"
    fi
fi

sed 's/^const L = [0-9]*;/const L = 24;/' "$DTC_SRC/samples/stack.dt" > "$tmp/stack.dt"
if ! "$DTC" compile "$tmp/stack.dt" --emit=c -o "$tmp/stack.c" > "$tmp/err" 2>&1; then
    fail "--emit=c failed:"; cat "$tmp/err"
else
    nbody=$(grep -c '^static int loop_body[0-9]*(' "$tmp/stack.c")
    nfor=$(grep -c 'for (int64_t l = 0; l < 24; l++)' "$tmp/stack.c")
    nmm=$(grep -c 'dtk_matmul(' "$tmp/stack.c")
    if [ "$nbody" -ne 1 ] || [ "$nfor" -ne 1 ]; then
        fail "L=24: $nbody body function(s) and $nfor layer loop(s) in the C, want 1 and 1"
    elif [ "$nmm" -gt 12 ]; then
        fail "L=24: $nmm matmul calls in the C: the block looks unrolled"
    else
        echo "ok: L=24 in C: one body function ($nmm matmul calls), called from one loop over 24 layers"
    fi
fi
[ "$fails" -eq 0 ] && echo "PASS" || echo "FAIL: $fails check(s)"
exit $((fails > 0))
