#!/bin/bash
# bench/loop_scaling.sh - a loop over layers stays a loop: compiling a
# sample with stacked weights and one `for` over them (samples/stack.dt,
# samples/gpt2.dt) with L = 2 and with L = 24 layers at -O2 must cost about
# the same compile time and give about the same executable size, since the
# block is compiled once and called L times.  Prints, for each sample and L,
# the wall time, the CPU time (user + sys of dtc and every process it waits
# for: the machine may be shared, so this is the figure to compare) and the
# executable size, then the ratios.
#
#   bench/loop_scaling.sh [SMALL_L BIG_L [SAMPLE ...]]   (default 2 24 stack gpt2)
# Env: DTC (default build/dtc), DTC_SRC (default: this file's tree).
# Exit status 0 unless a compile fails; tests/exec/test_loop_scaling.sh
# asserts the size ratios and the CPU time.
set -eu
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
DTC=${DTC:-$DTC_SRC/build/dtc}
small=${1:-2} big=${2:-24}
shift $(($# < 2 ? $# : 2))
samples=("$@")
[ ${#samples[@]} -gt 0 ] || samples=(stack gpt2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

measure() { # SAMPLE L -> sets wall (s), cpu (s), bytes
    local s=$1 l=$2 dt=$tmp/$1_$2.dt exe=$tmp/$1_$2.exe
    sed "s/^const L = [0-9]*;/const L = $l;/" "$DTC_SRC/samples/$s.dt" > "$dt"
    grep -q "^const L = $l;" "$dt" || { echo "bench: could not set L in samples/$s.dt" >&2; exit 1; }
    # bash's `time` reports the rusage of the command and of the children it waited for
    local TIMEFORMAT='%R %U %S'
    if ! { time "$DTC" compile "$dt" -O2 -o "$exe" >"$tmp/err" 2>&1; } 2>"$tmp/time"; then
        cat "$tmp/err" >&2; echo "bench: dtc compile samples/$s.dt (L=$l) failed" >&2; exit 1
    fi
    local user sys
    read -r wall user sys < "$tmp/time"
    cpu=$(echo "$user + $sys" | bc -l)
    bytes=$(stat -c %s "$exe")
}

for s in "${samples[@]}"; do
    measure "$s" "$small"; ws=$wall cs=$cpu ss=$bytes
    measure "$s" "$big"; wb=$wall cb=$cpu sb=$bytes
    printf '%s L=%-3d compile %.2f s wall, %.2f s CPU, executable %d bytes\n' "$s" "$small" "$ws" "$cs" "$ss"
    printf '%s L=%-3d compile %.2f s wall, %.2f s CPU, executable %d bytes\n' "$s" "$big" "$wb" "$cb" "$sb"
    printf '%s ratio L=%d / L=%d: compile CPU time %.3f, executable size %.4f\n' "$s" "$big" "$small" \
        "$(echo "$cb / ($cs + 0.001)" | bc -l)" "$(echo "$sb / $ss" | bc -l)"
done
