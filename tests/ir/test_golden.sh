#!/bin/bash
# test_golden.sh - golden IR dumps of the sharding passes.
#
# For every tests/ir/NAME.dt and every PASS in propagate, redistribute,
# partition, `dtc compile NAME.dt --print-after=PASS --stop-after=PASS`
# (run in tests/ir, so positions name NAME.dt) must print exactly
# tests/ir/NAME.PASS.ir.  A line "# flags: ..." in NAME.dt adds options
# (e.g. --alpha=0).  REGEN=1 rewrites the expected files instead; check every
# change by eye before committing it.
set -u
: "${DTC:?DTC must name the dtc binary}"
dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir" || exit 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nfail=0
ncheck=0
for dt in *.dt; do
    name=${dt%.dt}
    flags=$(sed -n 's/^# flags: //p' "$dt")
    for pass in propagate redistribute partition; do
        want=$name.$pass.ir
        ncheck=$((ncheck + 1))
        # shellcheck disable=SC2086
        if ! "$DTC" compile "$dt" $flags --print-after="$pass" --stop-after="$pass" -o "$tmp/out" \
            >"$tmp/stdout" 2>"$tmp/got"; then
            echo "FAIL: dtc compile $dt --print-after=$pass failed:"
            head -20 "$tmp/got"
            nfail=$((nfail + 1))
            continue
        fi
        if [ "${REGEN:-0}" = 1 ]; then
            cp "$tmp/got" "$want"
            echo "wrote $want"
            continue
        fi
        if [ ! -f "$want" ]; then
            echo "FAIL: $want is missing (REGEN=1 writes it)"
            nfail=$((nfail + 1))
            continue
        fi
        if ! diff -u "$want" "$tmp/got"; then
            echo "FAIL: $dt after $pass differs from $want"
            nfail=$((nfail + 1))
        fi
    done
done
if [ "${REGEN:-0}" = 1 ]; then
    echo "rewrote the expected dumps: check every change by eye (git diff tests/ir)"
    exit "$((nfail != 0))"
fi
if [ "$nfail" -ne 0 ]; then
    echo "$nfail of $ncheck golden dumps differ"
    exit 1
fi
echo "ok: $ncheck golden dumps (propagate, redistribute, partition of $(ls *.dt | wc -l) programs) match"
