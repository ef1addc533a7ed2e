#!/bin/bash
# test_loop_scaling.sh - a loop over layers is kept a loop in the generated
# code: samples/stack.dt and samples/gpt2.dt with L = 2 and L = 24 compiled
# at -O2 give executables whose sizes differ by less than 20%
# (bench/loop_scaling.sh), the 24-layer gpt2 compiles in under 5 s of CPU
# time (user + sys of dtc and its children: the machine is shared, so wall
# time is printed, not asserted), and the C for L = 24 has one body function
# called from one `for` over 24 layers per rank variant.
set -u
: "${DTC:?DTC must name the dtc binary}"
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
CPU_LIMIT=5

if ! out=$(DTC=$DTC DTC_SRC=$DTC_SRC bash "$DTC_SRC/bench/loop_scaling.sh" 2 24 stack gpt2 2>&1); then
    fail "bench/loop_scaling.sh failed:"; echo "$out"
else
    echo "$out"
    for s in stack gpt2; do
        ratio=$(echo "$out" | sed -n "s/^$s ratio .*executable size \([0-9.]*\)$/\1/p")
        if [ -z "$ratio" ]; then
            fail "$s: no size ratio in the bench output"
        elif [ "$(echo "$ratio < 1.2 && $ratio > 0.8333" | bc -l)" != 1 ]; then
            fail "$s: executable size ratio L=24 / L=2 is $ratio (want within 20%)"
        else
            echo "ok: $s: executable size ratio $ratio is within 20%"
        fi
    done
    cpu=$(echo "$out" | sed -n 's/^gpt2 L=24 .* s wall, \([0-9.]*\) s CPU,.*/\1/p')
    if [ -z "$cpu" ]; then
        fail "gpt2: no L=24 CPU time in the bench output"
    elif [ "$(echo "$cpu < $CPU_LIMIT" | bc -l)" != 1 ]; then
        fail "gpt2: the L=24 compile at -O2 took $cpu s of CPU time (want < $CPU_LIMIT s)"
    else
        echo "ok: gpt2: the L=24 compile at -O2 took $cpu s of CPU time (< $CPU_LIMIT s)"
    fi
fi

# matmul calls allowed per variant: a block (stack 7, gpt2 8) plus the head, with room
for s in stack:12 gpt2:12; do
    name=${s%%:*} per=${s##*:}
    sed 's/^const L = [0-9]*;/const L = 24;/' "$DTC_SRC/samples/$name.dt" > "$tmp/$name.dt"
    if ! "$DTC" compile "$tmp/$name.dt" --emit=c -o "$tmp/$name.c" > "$tmp/err" 2>&1; then
        fail "$name: --emit=c failed:"; cat "$tmp/err"; continue
    fi
    # one program variant per distinct set of shard shapes (uneven splits)
    nvar=$(grep -c '^static int run_v[0-9]*(' "$tmp/$name.c")
    nbody=$(grep -c '^static int loop_body[0-9]*(' "$tmp/$name.c")
    nfor=$(grep -c 'for (int64_t l = 0; l < 24; l++)' "$tmp/$name.c")
    nmm=$(grep -c 'dtk_matmul(' "$tmp/$name.c")
    if [ "$nvar" -lt 1 ] || [ "$nbody" -ne "$nvar" ] || [ "$nfor" -ne "$nvar" ]; then
        fail "$name L=24: $nbody body function(s) and $nfor layer loop(s) in the C for $nvar variant(s), want one each per variant"
    elif [ "$nmm" -gt $((per * nvar)) ]; then
        fail "$name L=24: $nmm matmul calls in the C for $nvar variant(s): the block looks unrolled"
    else
        echo "ok: $name L=24 in C: $nvar variant(s), each one body function called from one loop over 24 layers ($nmm matmul calls in all)"
    fi
done
[ "$fails" -eq 0 ] && echo "PASS" || echo "FAIL: $fails check(s)"
exit $((fails > 0))
