#!/bin/bash
# bench/loop_scaling.sh - a loop over layers stays a loop: compiling
# samples/stack.dt with L = 2 and with L = 24 layers (stacked weights, one
# `for` over them) at -O2 must cost about the same compile time and give
# about the same executable size, since the block is compiled once and called
# L times.  Prints both figures for each L and their ratios.
#
#   bench/loop_scaling.sh [SMALL_L BIG_L]      (default 2 24)
# Env: DTC (default build/dtc), DTC_SRC (default: this file's tree).
# Exit status 0; tests/exec/test_loop_scaling.sh asserts the size ratio.
set -eu
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
DTC=${DTC:-$DTC_SRC/build/dtc}
small=${1:-2} big=${2:-24}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

measure() { # L -> "seconds bytes"
    local l=$1 dt=$tmp/stack_$1.dt
    sed "s/^const L = [0-9]*;/const L = $l;/" "$DTC_SRC/samples/stack.dt" > "$dt"
    grep -q "^const L = $l;" "$dt" || { echo "bench: could not set L in samples/stack.dt" >&2; exit 1; }
    local t0 t1
    t0=$(date +%s.%N)
    "$DTC" compile "$dt" -O2 -o "$tmp/stack_$l" >/dev/null
    t1=$(date +%s.%N)
    echo "$(echo "$t1 - $t0" | bc -l) $(stat -c %s "$tmp/stack_$l")"
}

read -r ts ss <<<"$(measure "$small")"
read -r tb sb <<<"$(measure "$big")"
printf 'L=%-3d compile %.2f s, executable %d bytes\n' "$small" "$ts" "$ss"
printf 'L=%-3d compile %.2f s, executable %d bytes\n' "$big" "$tb" "$sb"
printf 'ratio L=%d / L=%d: compile time %.3f, executable size %.4f\n' "$big" "$small" \
    "$(echo "$tb / $ts" | bc -l)" "$(echo "$sb / $ss" | bc -l)"
