#!/bin/bash
# test_trace.sh - the compiled program's --trace FILE.json and --profile
# against `dtc report`: samples/transformer.dt on 4 ranks (--ranks 4 and
# mpirun -np 4), samples/embedding.dt (all four collective kinds) and
# samples/uneven.dt (6 ranks, uneven pieces, 1 warmup + 2 timed
# iterations), and tests/local/ring.dt on tp=4 (ppermute's point-to-point
# collective_permute, threads and mpirun).  Every trace passes trace_check.py (the trace-event format's
# schema; every collective's kind, axes, bytes and source equal dtc
# report's for that rank, in order; --profile's bytes too); the file is
# renamed into place (no temporary left) and a failed run writes none.
#
# env: DTC, DTC_SRC, PY.
set -u
DTC=${DTC:?DTC must name the dtc binary}
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PY:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
CHECK="$DTC_SRC/tests/runtime/trace_check.py"

tmp=$(mktemp -d /tmp/test_trace.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for s in transformer embedding uneven; do
    "$DTC" compile "$DTC_SRC/samples/$s.dt" -o "$s" || { echo "FAIL: cannot compile $s.dt"; exit 1; }
    "$DTC" report --format=json "$DTC_SRC/samples/$s.dt" > "$s.report.json" ||
        { echo "FAIL: dtc report --format=json $s.dt"; exit 1; }
done

# trace NAME RANKS ITERS SAMPLE LAUNCH... : runs LAUNCH with --trace and --profile,
# checks both against SAMPLE's report
trace() {
    local name=$1 ranks=$2 iters=$3 s=$4
    shift 4
    rm -f "$name.json" ./*.tmp.*
    if ! timeout 120 "$@" --trace "$name.json" --profile > "$name.out" 2>&1; then
        fail "$name: the run failed:"
        cat "$name.out"
        return
    fi
    if ls | grep -q '\.tmp\.'; then
        fail "$name: a temporary file was left: $(ls)"
    fi
    "$PY" "$CHECK" "$name.json" "$s.report.json" "$ranks" "$iters" "$name.out" || fail "$name: trace_check.py"
}

trace transformer-threads 4 1 transformer ./transformer --ranks 4
if command -v mpirun > /dev/null; then
    trace transformer-mpi 4 1 transformer mpirun --oversubscribe -np 4 ./transformer
else
    fail "mpirun not found: the MPI trace is not checked"
fi
trace embedding-threads 4 1 embedding ./embedding --ranks 4
trace uneven-threads 6 3 uneven ./uneven --ranks 6 --iters 2 --warmup 1
"$DTC" compile "$DTC_SRC/tests/local/ring.dt" --mesh dp=1,tp=4 -o ring || { echo "FAIL: cannot compile ring.dt"; exit 1; }
"$DTC" report --format=json "$DTC_SRC/tests/local/ring.dt" --mesh dp=1,tp=4 > ring.report.json ||
    { echo "FAIL: dtc report --format=json ring.dt"; exit 1; }
grep -q '"kind": "collective_permute"' ring.report.json || fail "ring.dt: no collective_permute in dtc report"
trace ring-threads 4 2 ring ./ring --ranks 4 --iters 2
if command -v mpirun > /dev/null; then
    trace ring-mpi 4 2 ring mpirun --oversubscribe -np 4 ./ring --iters 2
fi
grep -q 'collective_permute(tp)' ring-threads.out || fail "ring.dt: --profile has no collective_permute(tp) row"
grep -Eq '^  compute: [0-9.]+ ms/iter wall, [0-9.]+ ms/iter CPU' ring-mpi.out ||
    fail "ring.dt: --profile under mpirun has no compute wall / CPU line"

# every rank's collectives carry their wait (test_mpi.sh checks its value
# with a rank made slow on purpose)
"$PY" - transformer-threads.json << 'EOF' || fail "waits"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
waits = [e for e in ev if e.get("cat") == "collective"]
assert waits and all("wait_us" in e["args"] for e in waits)
tids = {e["tid"] for e in waits}
assert tids == {0, 1, 2, 3}, tids
print("ok: every rank's collectives carry wait_us (%d collectives, max wait %.1f us)"
      % (len(waits), max(e["args"]["wait_us"] for e in waits)))
EOF

# a failed run leaves no trace
rm -f bad.json
if ./transformer --ranks 4 --in x=nope.npy --trace bad.json > bad.out 2>&1; then
    fail "a run with a missing --in file succeeded"
elif [ -e bad.json ] || ls | grep -q 'bad.json.tmp'; then
    fail "a failed run left a trace file"
else
    echo "ok: a failed run writes no trace ($(head -1 bad.out))"
fi
# --trace into a directory that does not exist: one error before computing
if ./transformer --ranks 4 --trace nodir/t.json > nodir.out 2>&1 || ! grep -q -- "--trace: cannot write nodir/t.json" nodir.out; then
    fail "--trace nodir/t.json: $(cat nodir.out)"
else
    echo "ok: $(cat nodir.out)"
fi

if [ $fails -ne 0 ]; then
    echo "FAIL: $fails checks failed"
    exit 1
fi
echo "ok"
