#!/bin/bash
# test_roundtrip.sh - the IR text form round-trips exactly through dtc.
#
# For every golden file tests/ir/*.ir and tests/ir/roundtrip/*.ir, and for
# every pass dump of every sample (samples/*.dt compiled with --dump-dir),
# `dtc ir-roundtrip FILE.ir` (parse, verify at the file's "# after STAGE",
# print) must reproduce the file byte for byte.  A dtc without the
# ir-roundtrip subcommand fails this test; it never skips.
set -u
: "${DTC:?DTC must name the dtc binary}"
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nfiles=0
nfail=0

fail() {
    echo "FAIL: $*"
    nfail=$((nfail + 1))
}

roundtrip() {
    local f=$1
    nfiles=$((nfiles + 1))
    local rc=0
    "$DTC" ir-roundtrip "$f" >"$tmp/out.ir" 2>"$tmp/err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "dtc ir-roundtrip $f exited with status $rc:"
        head -20 "$tmp/err"
        return
    fi
    if ! diff -u "$f" "$tmp/out.ir" >"$tmp/diff"; then
        fail "$f does not print back identically:"
        head -40 "$tmp/diff"
        return
    fi
    echo "ok: $f ($(wc -l <"$f") lines round-trip)"
}

shopt -s nullglob
for f in "$DTC_SRC"/tests/ir/*.ir "$DTC_SRC"/tests/ir/roundtrip/*.ir; do
    roundtrip "$f"
done

for s in "$DTC_SRC"/samples/*.dt; do
    name=$(basename "$s" .dt)
    d="$tmp/dump-$name"
    if ! "$DTC" compile "$s" --dump-dir="$d" --stop-after=optimise >"$tmp/err" 2>&1; then
        fail "dtc compile $s --dump-dir did not succeed:"
        head -20 "$tmp/err"
        continue
    fi
    dumps=("$d"/*.ir)
    if [ ${#dumps[@]} -eq 0 ]; then
        fail "dtc compile $s --dump-dir wrote no dumps"
        continue
    fi
    for f in "${dumps[@]}"; do
        roundtrip "$f"
    done
done

if [ "$nfiles" -eq 0 ]; then
    fail "no .ir files found to round-trip"
fi
echo "checked $nfiles IR files, $nfail failures"
[ "$nfail" -eq 0 ]
