#!/bin/bash
# test_overlap.sh - communication / computation overlap (pass_schedule,
# rt_*_start / rt_wait) computes exactly what the synchronous schedule does.
#
# For each program and mesh below, three compilations: sync (--no-overlap),
# overlap (the default schedule) and chunks (--overlap-chunks=3: the
# row-parallel matmul + all_reduce cut into chunks of rows).  Each runs on
# the threads backend (--ranks N) and under mpirun -np N, writing every
# result with --out, and:
#   - on threads, overlap's and chunks' results are bit-identical to sync's
#     (the threads backend reduces in member order whatever the schedule);
#   - under MPI (MPI_Iallreduce against MPI_Allreduce may sum a group of 3
#     in another order) and everywhere, every result equals `dtc run`'s
#     within 1e-5 relative (npy_compare.py);
#   - the scheduled IR really has async collectives (and, with chunks, a
#     cut matmul: 3 all_reduces where sync has 1); a pair with nothing
#     between start and done is blocking again (samples/mlp.dt: none).
# Programs: tests/exec/overlap_block.dt (row-parallel block with uneven rows
# beside an all_gather with independent work) on M[dp=2, tp=2] and on
# M[dp=1, tp=3] (uneven H); tests/exec/overlap_gather.dt (non-blocking
# all_gather and reduce_scatter, inner dims packed, P(avg));
# tests/exec/overlap_loop.dt (starts and waits inside a loop body);
# samples/uneven.dt (6 ranks, uneven shards, six pairs).
set -u
: "${DTC:?DTC must name the dtc binary}"
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PY:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/checks.sh
. "$DTC_SRC/tests/checks.sh"
if ! command -v mpirun >/dev/null; then
    echo "FAIL: mpirun not found (scripts/setup.sh installs it)"
    exit 1
fi

# check LABEL FILE.dt RANKS [--mesh SPEC]
check() {
    local label=$1 dt=$2 n=$3
    shift 3
    local d=$tmp/$label
    mkdir -p "$d"
    if ! "$DTC" run "$dt" "$@" >"$d/run.txt" 2>&1; then
        fail "$label: dtc run: $(head -3 "$d/run.txt")"
        return
    fi
    local names
    names=$(sed -n 's/^\([A-Za-z_0-9]*\): .*/\1/p' "$d/run.txt")
    local refout=()
    for nm in $names; do refout+=(--out "$nm=$d/ref.$nm.npy"); done
    "$DTC" run "$dt" "$@" "${refout[@]}" >/dev/null
    local v flags
    for v in sync overlap chunks; do
        case $v in
        sync) flags=(--no-overlap) ;;
        overlap) flags=() ;;
        chunks) flags=(--overlap-chunks=3) ;;
        esac
        if ! "$DTC" compile "$dt" "$@" "${flags[@]}" -o "$d/$v" 2>"$d/$v.err"; then
            fail "$label $v: dtc compile: $(head -3 "$d/$v.err")"
            continue
        fi
        "$DTC" compile "$dt" "$@" "${flags[@]}" --stop-after=schedule --print-after=schedule 2>"$d/$v.ir"
        local nasync nar
        nasync=$(grep -c "async=true" "$d/$v.ir")
        nar=$(grep -c "= all_reduce " "$d/$v.ir")
        echo "$nar" >"$d/$v.nar"
        if [ "$v" = sync ] && [ "$nasync" != 0 ]; then
            fail "$label sync: $nasync async collectives with --no-overlap"
        elif [ "$v" != sync ] && [ "$nasync" = 0 ]; then
            fail "$label $v: no async collective after schedule"
        fi
        local be
        for be in threads mpi; do
            local outs=() cmpargs=()
            for nm in $names; do
                outs+=(--out "$nm=$d/$v.$be.$nm.npy")
                cmpargs+=("$nm" "$d/$v.$be.$nm.npy" "$d/ref.$nm.npy")
            done
            local rc
            if [ $be = threads ]; then
                timeout 120 "$d/$v" --ranks "$n" "${outs[@]}" >"$d/$v.$be.log" 2>&1
                rc=$?
            else
                timeout 120 mpirun --oversubscribe -np "$n" --bind-to none -x OPENBLAS_NUM_THREADS "$d/$v" "${outs[@]}" \
                    >"$d/$v.$be.log" 2>&1
                rc=$?
            fi
            if [ $rc != 0 ]; then
                fail "$label $v $be: exit $rc: $(tail -3 "$d/$v.$be.log")"
                continue
            fi
            if "$PY" "$DTC_SRC/tests/exec/npy_compare.py" "$label $v $be" "${cmpargs[@]}" >"$d/$v.$be.cmp"; then
                ok "$label $v $be: every result equals dtc run's ($(echo $names))"
            else
                fail "$label $v $be: $(grep FAIL "$d/$v.$be.cmp" | head -3)"
            fi
            if [ $be = threads ] && [ $v != sync ]; then
                local same=1
                for nm in $names; do
                    cmp -s "$d/$v.$be.$nm.npy" "$d/sync.$be.$nm.npy" || same=0
                done
                if [ $same = 1 ]; then
                    ok "$label $v threads: bit-identical to sync ($nasync async collectives)"
                else
                    fail "$label $v threads: results differ from sync's"
                fi
            fi
        done
    done
    if [ -f "$d/chunks.nar" ] && [ -f "$d/sync.nar" ] && [ "$label" != "${label#block}" ]; then
        if [ "$(cat "$d/chunks.nar")" -gt "$(cat "$d/sync.nar")" ]; then
            ok "$label chunks: $(cat "$d/chunks.nar") all_reduces where sync has $(cat "$d/sync.nar") (the matmul cut into chunks)"
        else
            fail "$label chunks: the row-parallel matmul was not cut ($(cat "$d/chunks.nar") all_reduces)"
        fi
    fi
}

check block-2x2 "$DTC_SRC/tests/exec/overlap_block.dt" 4 --mesh dp=2,tp=2
check block-1x3 "$DTC_SRC/tests/exec/overlap_block.dt" 3 --mesh dp=1,tp=3
check gather "$DTC_SRC/tests/exec/overlap_gather.dt" 4
check loop "$DTC_SRC/tests/exec/overlap_loop.dt" 4
check uneven "$DTC_SRC/samples/uneven.dt" 6
n=$("$DTC" compile "$DTC_SRC/samples/mlp.dt" --stop-after=schedule --print-after=schedule 2>&1 | grep -c "async=true")
if [ "$n" = 0 ]; then
    ok "mlp: its one all_reduce has nothing to overlap and stays blocking"
else
    fail "mlp: $n async collectives with nothing between start and done"
fi
finish
