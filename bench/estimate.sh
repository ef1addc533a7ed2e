#!/bin/bash
# bench/estimate.sh - how close `dtc report`'s estimate is to the measured
# time: `dtc calibrate` on this machine, then every sample compiled, run on
# its mesh's ranks (threads) for --iters iterations, and its median time per
# iteration beside the estimate with that calibration.  Prints
# `estimate / measured` per sample.  A measurement, so run it on an idle
# machine; the issue's aim is every ratio within 0.7 .. 1.3.
# usage: bench/estimate.sh [--iters K]      env: DTC (default build/dtc)
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DTC=${DTC:-build/dtc}
ITERS=30
[ "${1:-}" = --iters ] && ITERS=$2
tmp=$(mktemp -d /tmp/dtc-estimate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$DTC" calibrate --ranks 4 -o "$tmp/cal.txt" || exit 1
printf '%-22s %6s %12s %12s %10s\n' sample ranks measured_us estimate_us ratio
for dt in samples/*.dt; do
    s=$(basename "$dt" .dt)
    "$DTC" compile "$dt" -o "$tmp/$s" >/dev/null 2>&1 || { echo "$s: compile failed"; continue; }
    n=$("$DTC" report "$dt" | sed -n '1s/.*: \([0-9]*\) ranks\{0,1\}$/\1/p')
    meas=$("$tmp/$s" --ranks "$n" --iters "$ITERS" --warmup 3 | sed -n 's/^time: median \([0-9.]*\) ms.*/\1/p')
    est=$("$DTC" report "$dt" --calibration="$tmp/cal.txt" | sed -n 's/^estimated time: \([0-9.]*\) us.*/\1/p')
    python3 -c "m=float('$meas')*1000; e=float('$est'); print(f'{\"$s\":22} {$n:6d} {m:12.1f} {e:12.1f} {e/m:10.2f}')"
done
