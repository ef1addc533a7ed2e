#!/usr/bin/env bash
# bench/epilogue.sh - matmul epilogues in row blocks (passes/fuse.c,
# codegen/lower.c): bench/epilogue.dt (per rank a 64 MiB GEMM result plus a
# bias and a residual add) compiled two ways:
#   blocked  dtc compile                          (the default: 4 MiB blocks
#            of rows, each GEMM block followed by the add loop over it)
#   whole    dtc compile --epilogue-block=2^40    (one GEMM, then one loop
#            over the whole result, as before the epilogue existed)
# each run with --ranks 2 (threads), R interleaved rounds, each printing
# the median of its timed iterations; prints per variant the median and the
# best over rounds and blocked / whole.  Both must print the same checksum.
#
#   bench/epilogue.sh [--rounds R]
#
# Uses $DTC_BUILD (default build/).  Exit status 1 if the checksums differ.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=5
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "epilogue.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
BUILD=${DTC_BUILD:-$ROOT/build}
DTC=$BUILD/dtc
[ -x "$DTC" ] || { echo "epilogue.sh: no $DTC (build first or set DTC_BUILD)" >&2; exit 2; }
NCPU=$(nproc) # before OMP_NUM_THREADS=1, which nproc obeys
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
W=$(mktemp -d /tmp/bench_epilogue.XXXXXX)
trap 'rm -rf "$W"' EXIT

"$DTC" compile "$ROOT/bench/epilogue.dt" -o "$W/blocked"
"$DTC" compile "$ROOT/bench/epilogue.dt" --epilogue-block=1099511627776 -o "$W/whole"
echo "machine: $NCPU cores, $(uptime | sed 's/.*load average/load average/')"
for r in $(seq "$ROUNDS"); do
    order="blocked whole"
    [ $((r % 2)) = 0 ] && order="whole blocked"
    for v in $order; do
        "$W/$v" --ranks 2 --iters 5 --warmup 2 > "$W/out" 2>&1
        t=$(sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' "$W/out")
        sum=$(grep -m1 'sum=' "$W/out")
        echo "$v $t $sum" >> "$W/times"
        echo "   round $r: $v $t ms"
    done
done
echo "after: $(uptime | sed 's/.*load average/load average/')"
python3 - "$W/times" <<'PY'
import statistics, sys
t, sums = {}, {}
for line in open(sys.argv[1]):
    v, ms, rest = line.split(None, 2)
    t.setdefault(v, []).append(float(ms))
    sums.setdefault(v, set()).add(rest.strip())
print("variant   median ms   best ms")
for v in ("blocked", "whole"):
    print("%-9s %9.3f %9.3f" % (v, statistics.median(t[v]), min(t[v])))
print("blocked / whole: median %.3f, best %.3f" % (statistics.median(t["blocked"]) / statistics.median(t["whole"]),
                                                   min(t["blocked"]) / min(t["whole"])))
same = sums["blocked"] == sums["whole"] and len(sums["blocked"]) == 1
print("checksums: %s" % ("equal" if same else "DIFFER: %s" % sums))
sys.exit(0 if same else 1)
PY
