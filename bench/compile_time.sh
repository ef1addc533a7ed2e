#!/bin/bash
# bench/compile_time.sh - compile time against program size (issue 14).
# Generates dt programs of N operations with bench/compile_gen.py (a chain
# and a wide DAG on the mesh M[dp=2, tp=2], with split placements, so
# partition and the collectives are exercised), compiles each with
# `dtc compile -O2` (the LLVM backend, an executable) and prints per
# program: the IR instructions after optimise, CPU seconds (user + sys of
# dtc and of the linker it waits for), wall seconds, peak RSS, and the phase
# that took longest (--time-passes).  Then, per shape, the growth ratio
# t(big) / (big/mid * t(mid)): 1.0 is linear.  Targets: the 10k-op programs
# in under 2 s CPU, the ratio from 10k to 100k within 1.3.
#
#   bench/compile_time.sh [SIZES...]        (default 1000 10000 100000)
# Env: DTC (default build/dtc), DTC_SRC (default: this file's tree),
#      DTC_FLAGS (default -O2), KEEP=1 keeps the generated files.
# Exit status 0 unless a compile fails.  Numbers are for reading, not
# asserting: tests/driver/test_time_passes.sh checks what can be checked.
set -eu
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
DTC=${DTC:-$DTC_SRC/build/dtc}
FLAGS=${DTC_FLAGS:--O2}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
tmp=$(mktemp -d)
[ "${KEEP:-0}" = 1 ] && echo "files in $tmp" || trap 'rm -rf "$tmp"' EXIT

printf '%-6s %7s %8s %9s %9s %9s  %s\n' shape N insts "cpu s" "wall s" "peak MiB" "slowest phase (cpu s)"
for shape in chain wide; do
    prev_n="" prev_t=""
    for n in "${sizes[@]}"; do
        dt=$tmp/${shape}_$n.dt
        python3 "$DTC_SRC/bench/compile_gen.py" "$shape" "$n" > "$dt"
        # GNU time: user, system, wall seconds and max RSS (KiB) of dtc and its children
        if ! /usr/bin/time -f '%U %S %e %M' -o "$tmp/time" \
                "$DTC" compile "$dt" $FLAGS --time-passes -o "$tmp/${shape}_$n.exe" 2>"$tmp/err"; then
            cat "$tmp/err" >&2
            echo "bench: dtc compile $shape $n failed" >&2
            exit 1
        fi
        read -r user sys wall rss < "$tmp/time"
        cpu=$(echo "$user + $sys" | bc -l)
        insts=$(sed -n 's/^size: \([0-9]*\) instructions$/\1/p' "$tmp/err")
        slow=$(grep '^time:' "$tmp/err" | grep -v ' total ' |
               awk '{cpu = $(NF-2); name = $2; for (i = 3; i <= NF - 6; i++) name = name " " $i;
                     if (cpu > best) { best = cpu; nm = name } } END { printf "%s %.2f", nm, best }')
        printf '%-6s %7d %8s %9.2f %9.2f %9.1f  %s\n' "$shape" "$n" "$insts" "$cpu" "$wall" \
            "$(echo "$rss / 1024" | bc -l)" "$slow"
        if [ -n "$prev_t" ]; then
            printf '%-6s growth %d -> %d: t ratio %.2f for %.0fx the ops: %.2f of linear\n' "$shape" "$prev_n" "$n" \
                "$(echo "$cpu / $prev_t" | bc -l)" "$(echo "$n / $prev_n" | bc -l)" \
                "$(echo "$cpu / ($n / $prev_n * $prev_t)" | bc -l)"
        fi
        prev_n=$n prev_t=$cpu
    done
done
