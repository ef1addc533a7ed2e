#!/usr/bin/env bash
# bench/overlap.sh - communication / computation overlap (issue 14): a
# row-parallel block with a large all_reduce (bench/overlap.dt: B=2048,
# D=1024, H=4096 on M[tp=2], an 8 MiB all_reduce) compiled three ways:
#   sync     dtc compile --no-overlap        (blocking collectives; plain
#            `dtc compile` is the same program here: the all_reduce's
#            result is returned at once, nothing can overlap it, and a
#            pair with nothing between start and done stays blocking)
#   chunks2  dtc compile --overlap-chunks=2  (collective matmul, 2 chunks)
#   chunks   dtc compile --overlap-chunks=K  (K chunks, default 4)
# each run under `mpirun -np 2` with --profile and --trace, R interleaved
# rounds (the order rotating between rounds).  Exposed communication is the
# time a rank spends inside collectives, blocking, starting or waiting:
#   profile  --profile's "exposed communication" (rank 0, ms/iter);
#   last     from the trace, per timed iteration, the smaller of the two
#            ranks' exposed times (a blocking collective's time less its
#            traced barrier, plus every start and wait): the rank that
#            arrives last waits for the transfer only, not for the other
#            rank's computation, so this is the communication the schedule
#            leaves exposed without the skew between ranks that a shared
#            machine adds (the barrier the trace adds before a blocking
#            collective absorbs that skew).
# Per variant: medians over rounds (profile, ms/iter) and over all timed
# iterations (last), and their ratios to sync.  Results must be identical:
# every variant's --out file equals sync's bit for bit (np.array_equal; the
# chunks start on BLAS row tiles, passes/split_matmul.c) and `dtc run`'s
# within float32 tolerance.
#
#   bench/overlap.sh [--rounds R] [--chunks K] [--iters N] [--tcp] [--quick]
#
# --tcp: Open MPI's TCP transport over loopback (--mca btl self,tcp) instead
# of shared memory, a stand-in for a link between hosts: on one host the
# shared-memory all_reduce is a memcpy of a few ms, next to which a start's
# and a wait's own cost is not small.
#
# Uses $DTC_BUILD (default build/).  Exit status 1 if results differ.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=5
CHUNKS=4
ITERS=3
WARMUP=1
TCP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    --chunks) CHUNKS=$2; shift 2 ;;
    --chunks=*) CHUNKS=${1#*=}; shift ;;
    --iters) ITERS=$2; shift 2 ;;
    --iters=*) ITERS=${1#*=}; shift ;;
    --quick) ROUNDS=1; ITERS=1; WARMUP=0; shift ;;
    --tcp) TCP=1; shift ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "overlap.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun -np 2 --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$(nproc)" -ge 2 ] || MPIRUN+=(--oversubscribe)
[ $TCP = 0 ] || MPIRUN+=(--mca btl self,tcp)

BUILD=$(cd "${DTC_BUILD:-$ROOT/build}" 2>/dev/null && pwd || echo "$ROOT/build")
if [ ! -x "$BUILD/dtc" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target dtc dtrt >/dev/null
fi
OUT=$BUILD/bench-overlap
mkdir -p "$OUT"
DT=$ROOT/bench/overlap.dt
VARIANTS=(sync chunks2 chunks)
"$BUILD/dtc" compile "$DT" -o "$OUT/sync" --no-overlap
"$BUILD/dtc" compile "$DT" -o "$OUT/chunks2" --overlap-chunks=2
"$BUILD/dtc" compile "$DT" -o "$OUT/chunks" --overlap-chunks="$CHUNKS"
"$BUILD/dtc" run "$DT" --out out0="$OUT/ref.npy" >/dev/null

REC=$OUT/records.txt
: >"$REC"
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
        v=${VARIANTS[$(((k + r) % ${#VARIANTS[@]}))]}
        log=$OUT/$v.$r.log
        "${MPIRUN[@]}" "$OUT/$v" --iters "$ITERS" --warmup "$WARMUP" --profile --trace "$OUT/$v.$r.json" \
            --out out0="$OUT/$v.npy" >"$log"
        exposed=$(sed -n 's/^  exposed communication: \([0-9.]*\) ms.*/\1/p' "$log")
        ms=$(sed -n 's/^time: median \([0-9.]*\) ms.*/\1/p' "$log")
        [ -n "$ms" ] || ms=$(sed -n 's/^time: \([0-9.]*\) ms.*/\1/p' "$log")
        echo "$v $r $exposed ${ms:-nan}" >>"$REC"
        echo "round $r $v: exposed $exposed ms/iter, ${ms:-?} ms/iter"
    done
done

"${PY:-/usr/bin/python3}" - "$OUT" "$REC" "$ROUNDS" "$WARMUP" "${VARIANTS[@]}" <<'PY'
import json, sys, statistics
import numpy as np
out, rec, rounds, warmup, variants = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
rows = [l.split() for l in open(rec) if l.strip()]

def last_rank_exposed(path):
    """Per timed iteration: min over ranks of the time in collectives (ms)."""
    ev = [e for e in json.load(open(path))["traceEvents"] if e.get("ph") == "X"]
    per = {}
    for e in ev:
        a = e.get("args", {})
        it = a.get("iteration", -1)
        if it < warmup:
            continue
        if e.get("cat") == "collective":
            t = e["dur"] - a.get("wait_us", 0)
        elif e.get("cat") == "collective_wait":
            t = e["dur"]
        else:
            continue
        per.setdefault(it, {}).setdefault(e["tid"], 0.0)
        per[it][e["tid"]] += t / 1e3
    return [min(r.values()) for r in per.values()]

med = {}
for v in variants:
    ex = [float(r[2]) for r in rows if r[0] == v]
    ms = [float(r[3]) for r in rows if r[0] == v]
    last = [x for r in range(rounds) for x in last_rank_exposed("%s/%s.%d.json" % (out, v, r))]
    med[v] = (statistics.median(ex), statistics.median(last), statistics.median(ms), min(last))
print("ms per iteration, medians (profile: over %d rounds; last: over every timed iteration)" % rounds)
print("%-8s %12s %8s %12s %8s %10s %8s %10s" % ("variant", "profile", "/ sync", "last", "/ sync",
                                              "ms/iter", "/ sync", "best last"))
s = med["sync"]
for v in variants:
    e, l, t, b = med[v]
    print("%-8s %12.2f %8.2f %12.2f %8.2f %10.1f %8.2f %10.2f" % (v, e, e / s[0], l, l / s[1], t, t / s[2], b))
ref = np.load(out + "/ref.npy")
sync = np.load(out + "/sync.npy")
bad = 0
for v in variants:
    a = np.load("%s/%s.npy" % (out, v))
    same = np.array_equal(a, sync)
    d = np.abs(a.astype(np.float64) - ref)
    close = np.allclose(a, ref, rtol=1e-4, atol=1e-4)
    print("%s: %s sync (max |diff| %.3g), %s dtc run (max |diff| %.3g)" % (v, "identical to" if same else "differs from",
          float(np.max(np.abs(a.astype(np.float64) - sync))), "matches" if close else "DIFFERS from", float(np.max(d))))
    bad += not (close and same)
sys.exit(1 if bad else 0)
PY
