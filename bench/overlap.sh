#!/usr/bin/env bash
# bench/overlap.sh - communication / computation overlap (issue 14): a
# row-parallel block with a large all_reduce (bench/overlap.dt: B=2048,
# D=1024, H=4096 on M[tp=2], an 8 MiB all_reduce) compiled three ways:
#   sync     dtc compile --no-overlap        (blocking collectives)
#   overlap  dtc compile                      (start / done pairs, schedule)
#   chunks   dtc compile --overlap-chunks=K   (collective matmul, K chunks)
# each run under `mpirun -np 2` with --profile, R interleaved rounds (the
# order rotating between rounds).  Per variant: the median over rounds of
# the exposed communication (--profile's "exposed communication", ms/iter:
# time rank 0 spends inside collectives, blocking or waiting) and of the
# time per iteration, and their ratios to sync.  Results must be identical:
# every variant's --out file is compared with sync's (np.array_equal) and
# with `dtc run`'s (float32 tolerance).
#
#   bench/overlap.sh [--rounds R] [--chunks K] [--iters N] [--quick]
#
# Uses $DTC_BUILD (default build/).  Exit status 1 if results differ.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=5
CHUNKS=4
ITERS=3
WARMUP=1
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    --chunks) CHUNKS=$2; shift 2 ;;
    --chunks=*) CHUNKS=${1#*=}; shift ;;
    --iters) ITERS=$2; shift 2 ;;
    --iters=*) ITERS=${1#*=}; shift ;;
    --quick) ROUNDS=1; ITERS=1; WARMUP=0; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "overlap.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun -np 2 --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$(nproc)" -ge 2 ] || MPIRUN+=(--oversubscribe)

BUILD=$(cd "${DTC_BUILD:-$ROOT/build}" 2>/dev/null && pwd || echo "$ROOT/build")
if [ ! -x "$BUILD/dtc" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target dtc dtrt >/dev/null
fi
OUT=$BUILD/bench-overlap
mkdir -p "$OUT"
DT=$ROOT/bench/overlap.dt
VARIANTS=(sync overlap chunks)
"$BUILD/dtc" compile "$DT" -o "$OUT/sync" --no-overlap
"$BUILD/dtc" compile "$DT" -o "$OUT/overlap"
"$BUILD/dtc" compile "$DT" -o "$OUT/chunks" --overlap-chunks="$CHUNKS"
"$BUILD/dtc" run "$DT" --out out0="$OUT/ref.npy" >/dev/null

REC=$OUT/records.txt
: >"$REC"
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
        v=${VARIANTS[$(((k + r) % ${#VARIANTS[@]}))]}
        log=$OUT/$v.$r.log
        "${MPIRUN[@]}" "$OUT/$v" --iters "$ITERS" --warmup "$WARMUP" --profile --out out0="$OUT/$v.npy" >"$log"
        exposed=$(sed -n 's/^  exposed communication: \([0-9.]*\) ms.*/\1/p' "$log")
        ms=$(sed -n 's/^time: median \([0-9.]*\) ms.*/\1/p' "$log")
        [ -n "$ms" ] || ms=$(sed -n 's/^time: \([0-9.]*\) ms.*/\1/p' "$log")
        echo "$v $r $exposed ${ms:-nan}" >>"$REC"
        echo "round $r $v: exposed $exposed ms/iter, ${ms:-?} ms/iter"
    done
done

"${PY:-/usr/bin/python3}" - "$OUT" "$REC" "${VARIANTS[@]}" <<'PY'
import sys, statistics
import numpy as np
out, rec, variants = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [l.split() for l in open(rec) if l.strip()]
med = {}
for v in variants:
    ex = [float(r[2]) for r in rows if r[0] == v]
    ms = [float(r[3]) for r in rows if r[0] == v]
    med[v] = (statistics.median(ex), statistics.median(ms), min(ex))
print("%-8s %14s %10s %14s %10s %12s" % ("variant", "exposed ms", "/ sync", "ms/iter", "/ sync", "best exposed"))
for v in variants:
    e, t, b = med[v]
    print("%-8s %14.2f %10.2f %14.1f %10.2f %12.2f" % (v, e, e / med["sync"][0], t, t / med["sync"][1], b))
ref = np.load(out + "/ref.npy")
sync = np.load(out + "/sync.npy")
bad = 0
for v in variants:
    a = np.load("%s/%s.npy" % (out, v))
    same = np.array_equal(a, sync)
    close = np.allclose(a, ref, rtol=1e-4, atol=1e-4)
    print("%s: %s sync, %s dtc run (max |diff| %.3g)" % (v, "identical to" if same else "DIFFERS from",
          "matches" if close else "DIFFERS from", float(np.max(np.abs(a.astype(np.float64) - ref)))))
    bad += not (close and (same or v == "chunks"))
sys.exit(1 if bad else 0)
PY
