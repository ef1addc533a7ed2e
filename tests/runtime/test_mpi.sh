#!/bin/bash
# test_mpi.sh - the runtime's MPI backend under mpirun, against the threads
# backend: builds the mock program of tests/unit/test_rt_program.c (a
# hand-written per-rank program on mesh M[dp=2, tp=2]) against libdtrt.a,
# runs it with `mpirun -np 4` and with `--ranks 4`, and compares the output
# .npy files byte for byte and the checksum lines.  Before that, the
# collective checks of tests/unit/test_rt_comm.c with the MPI backend on
# meshes of 4, 6 and 8 ranks.  Then the bad-input
# behaviours under mpirun: wrong -np, missing / truncated / wrong-dtype /
# wrong-shape .npy, unknown --in / --out names, a rank that fails and a rank
# that is killed: non-zero exit (on every rank where the run stops itself),
# exactly one error line, done within seconds, no output file.
#
# env: DTC_SRC (source tree), DTC_BUILD (build tree with libdtrt.a and
# libdtrt_core.a), PY (python3 with numpy).
set -u
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
DTC_BUILD=${DTC_BUILD:?DTC_BUILD must name the build directory}
PY=${PY:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe)

for tool in mpicc mpirun; do
    if ! command -v $tool > /dev/null; then
        echo "skipped: $tool not found"
        exit 1
    fi
done
for lib in libdtrt.a libdtrt_core.a; do
    if [ ! -f "$DTC_BUILD/$lib" ]; then
        echo "skipped: $DTC_BUILD/$lib not built"
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/test_mpi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

mpicc -std=c11 -O1 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -DRT_MOCK_MAIN -I"$DTC_SRC" \
    "$DTC_SRC/tests/unit/test_rt_program.c" "$DTC_BUILD/libdtrt.a" "$DTC_BUILD/libdtrt_core.a" \
    -lpthread -lm -o mock || { echo "FAIL: cannot build the mock program"; exit 1; }
echo "built the mock program against $DTC_BUILD/libdtrt.a with mpicc"

# ---- 0. every collective with the MPI backend -----------------------------------------
mpicc -std=c11 -O1 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -DRT_TEST_MPI -I"$DTC_SRC" \
    "$DTC_SRC/tests/unit/test_rt_comm.c" "$DTC_BUILD/libdtrt.a" "$DTC_BUILD/libdtrt_core.a" \
    -lpthread -lm -o commtest || { echo "FAIL: cannot build test_rt_comm.c for MPI"; exit 1; }
for run in "4 L Q" "6 M" "8 C"; do
    set -- $run
    np=$1
    shift
    if timeout 120 "${MPIRUN[@]}" -np "$np" ./commtest "$@" > comm.txt 2>&1; then
        grep '^MPI mesh' comm.txt
    else
        fail "collectives under mpirun -np $np on mesh $*:"
        head -20 comm.txt
    fi
done

"$PY" - << 'EOF' || { echo "FAIL: cannot write the inputs"; exit 1; }
import numpy as np
np.save("b.npy", np.array([0.5, -1, 2, 3.25], dtype=np.float32))
np.save("b64.npy", np.array([0.5, -1, 2, 3.25], dtype=np.float64))
np.save("b5.npy", np.zeros(5, dtype=np.float32))
np.save("x.npy", (np.arange(30, dtype=np.float32) * -3 + 7).reshape(5, 6))
data = open("b.npy", "rb").read()
open("trunc.npy", "wb").write(data[:-6])
EOF

results="y yp ya xg xa kmax"
outs() { for r in $results; do printf -- "--out %s=%s/%s.npy " "$r" "$1" "$r"; done; }

# ---- 1. same results as --ranks 4 -------------------------------------------------
for inx in "" "--in x=x.npy"; do
    mkdir -p thr mpi
    rm -f thr/* mpi/*
    # shellcheck disable=SC2046
    ./mock --ranks 4 --in b=b.npy $inx $(outs thr) > thr.txt 2>&1 || fail "--ranks 4 $inx: $(cat thr.txt)"
    # shellcheck disable=SC2046
    timeout 60 "${MPIRUN[@]}" -np 4 ./mock --in b=b.npy $inx $(outs mpi) > mpi.txt 2> mpi.err ||
        fail "mpirun -np 4 $inx: $(cat mpi.txt mpi.err)"
    for r in $results; do
        cmp -s "thr/$r.npy" "mpi/$r.npy" || fail "$r.npy differs between --ranks 4 and mpirun -np 4 ($inx)"
    done
    cmp -s thr.txt mpi.txt || fail "checksum lines differ: $(cat thr.txt) vs $(cat mpi.txt)"
    "$PY" - "$inx" << 'EOF' || fail "mpirun results are not the reference ($inx)"
import sys, numpy as np
x = np.load("x.npy") if sys.argv[1] else np.arange(30, dtype=np.float32).reshape(5, 6)
w = np.arange(24, dtype=np.float32).reshape(6, 4)
b = np.load("b.npy")
ref = {"y": x @ w + b, "yp": x @ w, "ya": x @ w, "xg": x, "xa": x,
       "kmax": np.arange(3, dtype=np.int32)}
for k, v in ref.items():
    got = np.load("mpi/%s.npy" % k)
    assert got.dtype == v.dtype and got.shape == v.shape, k
    assert np.array_equal(got, v), (k, got, v)
EOF
    echo "mpirun -np 4 ${inx:+($inx) }== --ranks 4, byte for byte, 6 results == numpy reference; checksums:"
    sed 's/^/    /' mpi.txt
done

# ---- 2. bad input under mpirun ---------------------------------------------------------
# Every rank records its exit status; mpirun is told not to kill the others
# when one exits non-zero, so each rank must stop by itself.
expect_error() { # what, expected message, -np N, program arguments...
    local what=$1 want=$2 np=$3
    shift 3
    rm -f out.npy exit.*
    local t0=$SECONDS
    timeout 20 "${MPIRUN[@]}" -np "$np" --mca orte_abort_on_non_zero_status 0 \
        sh -c './mock "$@"; echo $? > exit.$OMPI_COMM_WORLD_RANK' sh "$@" > log.txt 2>&1
    local rc=$? dt=$((SECONDS - t0))
    local lines nexit nbad
    lines=$(grep -c '^mock: error: ' log.txt)
    nexit=$(cat exit.* 2> /dev/null | wc -l)
    nbad=$(cat exit.* 2> /dev/null | grep -vc '^0$')
    if [ $rc -eq 124 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" log.txt ||
        [ "$nexit" -ne "$np" ] || [ "$nbad" -ne "$np" ] || [ -e out.npy ]; then
        fail "$what: timeout rc $rc, $lines error lines, $nbad/$nexit of $np ranks non-zero," \
            "out.npy $([ -e out.npy ] && echo written || echo absent), log:"
        cat log.txt
    else
        printf "  %-28s %d/%d ranks exit non-zero in %ds: %s\n" "$what" "$nbad" "$np" "$dt" \
            "$(grep '^mock: error: ' log.txt)"
    fi
}
echo "bad input under mpirun: one message, every rank non-zero, no output:"
expect_error "mpirun -np 3" "mpirun started 3 processes but mesh M[dp=2, tp=2] has 4 ranks" 3 \
    --in b=b.npy --out y=out.npy
expect_error "mpirun -np 2 with --ranks 4" "--ranks cannot be combined with mpirun" 2 \
    --ranks 4 --in b=b.npy --out y=out.npy
expect_error "missing .npy" "--in b: cannot open nope.npy" 4 --in b=nope.npy --out y=out.npy
expect_error "truncated .npy" "--in b: trunc.npy: truncated" 4 --in b=trunc.npy --out y=out.npy
expect_error "wrong dtype" "--in b: b64.npy has dtype f64, expected f32" 4 --in b=b64.npy --out y=out.npy
expect_error "wrong shape" "--in b: b5.npy has shape [5], expected [4]" 4 --in b=b5.npy --out y=out.npy
expect_error "unknown --in name" "unknown parameter 'q'" 4 --in b=b.npy --in q=b.npy --out y=out.npy
expect_error "unknown --out name" "unknown result 'q'" 4 --in b=b.npy --out q=out.npy
expect_error "missing parameter data" "parameter b has no initialiser" 4 --out y=out.npy
expect_error "bad option" "unknown option '--bogus'" 4 --bogus

# ---- 3. a rank that stops during the run ------------------------------------------------
expect_stop() { # what, env setting, expected text in mpirun's output
    local what=$1 env=$2 want=$3
    rm -f out.npy
    local t0=$SECONDS
    timeout 20 "${MPIRUN[@]}" -np 4 -x "$env" ./mock --in b=b.npy --out y=out.npy > log.txt 2>&1
    local rc=$? dt=$((SECONDS - t0))
    if [ $rc -eq 0 ] || [ $rc -eq 124 ] || ! grep -qF -- "$want" log.txt || [ -e out.npy ] ||
        [ "$(grep -c '^mock: error: ' log.txt)" -gt 1 ]; then
        fail "$what: rc $rc after ${dt}s, log:"
        cat log.txt
    else
        printf "  %-28s mpirun rc %d in %ds: %s\n" "$what" $rc "$dt" "$(grep -F -- "$want" log.txt | head -1)"
    fi
}
echo "a rank that stops during the run: the others end, no output:"
expect_stop "rank 2 fails (rt_fail)" MOCK_FAIL=2 "mock: error: rank 2: mock failure"
# the survivors name the dead rank and where each of them waited (the
# watchdog of comm_mpi.c), in one line
expect_stop "rank 1 killed (SIGKILL)" MOCK_DIE=1 \
    "ended without a message (killed?) while rank 0 waited in all_reduce(tp) at mock.dt:7:10; rank 2 waited in all_gather(dp) at mock.dt:9:10; rank 3 waited in all_gather(dp) at mock.dt:9:10"
grep -q '^mock: error: rank 1 (pid [0-9]*) ended' log.txt || fail "the killed rank's message does not start with 'rank 1 (pid N)': $(cat log.txt)"

# ---- 4. --trace under mpirun: a slow rank shows as its partner's wait -------------------
rm -f slow.json
if timeout 60 "${MPIRUN[@]}" -np 4 -x MOCK_SLOW=1 ./mock --in b=b.npy --trace slow.json > slow.txt 2>&1; then
    "$PY" - slow.json << 'EOF' || fail "--trace with rank 1 slow: the waits do not show it"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
first = {}
for e in sorted((e for e in ev if e.get("cat") == "collective"), key=lambda e: e["ts"]):
    first.setdefault(e["tid"], e)
w = {t: e["args"]["wait_us"] for t, e in first.items()}
assert first[0]["name"] == "mock.dt:7:10 all_reduce(tp)", first[0]["name"]
assert first[0]["args"]["group"] == [0, 1] and first[0]["args"]["kind"] == "all_reduce"
# rank 0 waits for the slow rank 1 (0.2 s); rank 1 itself hardly waits
assert w[0] > 150000 and w[1] < 50000, w
print("  rank 1 sleeps 0.2 s: rank 0 waits %.0f us in all_reduce(tp), rank 1 %.0f us" % (w[0], w[1]))
EOF
else
    fail "mpirun --trace with MOCK_SLOW=1: $(cat slow.txt)"
fi

if [ $fails -ne 0 ]; then
    echo "FAIL: $fails checks failed"
    exit 1
fi
echo "ok"
