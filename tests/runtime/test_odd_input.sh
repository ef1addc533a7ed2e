#!/bin/bash
# test_odd_input.sh - odd input to a compiled program (issue 11): each case
# ends with one clear message, the right exit status, within seconds, and
# no output file; and what used to be silently wrong is now an error:
#   DT_TIMEOUT=abc (and nan, -1)        -> exit 2 (a bad environment)
#   --out a=y.npy --out b=y.npy         -> exit 2 before computing
#   --out a=y.npy --out b=./y.npy       -> exit 1 before computing (same file)
#   --out y=t.json --trace t.json       -> exit 2
#   a FIFO (no writer), a directory, /dev/zero as --in -> exit 1, no hang
#   70 parameters and 70 results on the command line -> no fixed cap
# Threads (--ranks) and, for the FIFO, mpirun.
#
# env: DTC, DTC_SRC, PY.
set -u
DTC=${DTC:?DTC must name the dtc binary}
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PY:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

tmp=$(mktemp -d /tmp/test_odd_input.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
n=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$DTC" compile "$DTC_SRC/samples/mlp2d.dt" -o mlp2d || { echo "FAIL: cannot compile mlp2d.dt"; exit 1; }

# expect WHAT STATUS WORDS COMMAND... : exit status STATUS, one error line
# containing WORDS, no y.npy / norm.npy / t.json left, done within 20 s
expect() {
    local what=$1 want_rc=$2 want=$3
    shift 3
    n=$((n + 1))
    rm -f y.npy norm.npy t.json ./*.tmp.*
    local t0=$SECONDS
    timeout 20 "$@" > out.txt 2>&1
    local rc=$? lines
    lines=$(grep -c 'error' out.txt)
    if [ $rc -eq 124 ]; then
        fail "$what: hangs (killed after 20 s)"
    elif [ $rc -ne "$want_rc" ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" out.txt; then
        fail "$what: exit $rc (want $want_rc), $lines error lines, want '$want':"
        sed 's/^/    /' out.txt
    elif ls | grep -qE '^(y|norm)\.npy|^t\.json|\.tmp\.'; then
        fail "$what: an output file was left: $(ls)"
    else
        printf "ok: %-40s exit %d in %ds: %s\n" "$what" $rc $((SECONDS - t0)) "$(grep error out.txt)"
    fi
}

run=(./mlp2d --ranks 4)
expect "DT_TIMEOUT=abc" 2 "DT_TIMEOUT=abc: expected a number of seconds" env DT_TIMEOUT=abc "${run[@]}" --out y=y.npy
expect "DT_TIMEOUT=nan" 2 "DT_TIMEOUT=nan: expected" env DT_TIMEOUT=nan "${run[@]}" --out y=y.npy
expect "DT_TIMEOUT=-1" 2 "DT_TIMEOUT=-1: expected" env DT_TIMEOUT=-1 "${run[@]}" --out y=y.npy
expect "two results to one path" 2 "--out y and --out norm both write y.npy: one would be lost" \
    "${run[@]}" --out y=y.npy --out norm=y.npy
expect "two results to one file, two spellings" 1 "--out y=y.npy and --out norm=./y.npy are the same file" \
    "${run[@]}" --out y=y.npy --out norm=./y.npy
expect "a result and the trace to one path" 2 "--out y and --trace both write t.json" \
    "${run[@]}" --out y=t.json --trace t.json
expect "--trace into a directory" 1 "--trace: cannot write $tmp: it is a directory" \
    "${run[@]}" --out y=y.npy --trace "$tmp"
mkfifo fifo.npy
mkdir dir.npy
expect "a FIFO with no writer as --in" 1 "--in x: fifo.npy is a FIFO, not a regular .npy file" \
    "${run[@]}" --in x=fifo.npy --out y=y.npy
expect "a directory as --in" 1 "--in x: dir.npy is a directory, not a regular .npy file" \
    "${run[@]}" --in x=dir.npy --out y=y.npy
expect "/dev/zero as --in" 1 "--in x: /dev/zero is a device, not a regular .npy file" \
    "${run[@]}" --in x=/dev/zero --out y=y.npy
if command -v mpirun > /dev/null; then
    expect "mpirun: a FIFO as --in" 1 "--in x: fifo.npy is a FIFO" \
        mpirun --oversubscribe -np 4 ./mlp2d --in x=fifo.npy --out y=y.npy
else
    fail "mpirun not found"
fi

# no fixed cap on --in / --out: 70 parameters, 70 results
n=$((n + 1))
"$PY" - << 'EOF' || fail "cannot write many.dt"
k = 70
params = ",\n        ".join("p%d: f32[4] @ M[S(0)]" % i for i in range(k))
types = ", ".join("f32[4] @ M[S(0)]" for i in range(k))
rets = ", ".join("p%d + %d.0" % (i, i) for i in range(k))
open("many.dt", "w").write("mesh M[x=2];\nfn main(%s)\n        -> (%s) {\n    return %s;\n}\n" % (params, types, rets))
import numpy as np
for i in range(k):
    np.save("p%d.npy" % i, np.arange(4, dtype=np.float32) * i)
EOF
if "$DTC" compile many.dt -o many > build.txt 2>&1; then
    args=()
    for i in $(seq 0 69); do args+=(--in "p$i=p$i.npy" --out "out$i=o$i.npy"); done
    if timeout 60 ./many --ranks 2 "${args[@]}" > many.txt 2>&1 && "$PY" - << 'EOF'; then
import numpy as np
for i in range(70):
    got = np.load("o%d.npy" % i)
    assert np.array_equal(got, np.arange(4, dtype=np.float32) * i + i), i
EOF
        echo "ok: 70 --in and 70 --out on one command line, every result right"
    else
        fail "70 --in / --out:"
        head -5 many.txt
    fi
else
    fail "cannot compile many.dt: $(head -5 build.txt)"
fi

echo "odd-input checks: $((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
