#!/usr/bin/env bash
# bench/threads.sh - the same compiled programs on the two CPU backends, side
# by side: threads (`PROG --ranks 2`, ranks are threads of one process) and
# MPI (`mpirun -np 2 PROG`).  The aim (issue 14): threads / mpirun <= 1.00.
#
#   bench/threads.sh [--rounds R] [--quick] [BENCH...]
#
# BENCH: as bench/run.sh (default: all).  Uses the build tree in $DTC_BUILD
# (default build/, built with cmake Release if dtc is missing).  R rounds
# (default 5); in each, every benchmark runs once per backend, the order
# alternating between rounds; each run prints the median of K timed
# iterations after W warm-ups (the same K/W as run.sh).  The table: per
# benchmark the median over rounds of each backend's median, their ratio,
# and the ratio of the best rounds (what is left when other processes share
# the cores).  Exit status 1 if a run fails or the two backends' checksums
# differ beyond float32 reduction order.
set -euo pipefail

# shellcheck source=bench/bench_args.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_args.sh"

NCPU=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun -np 2 --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$NCPU" -ge 2 ] || MPIRUN+=(--oversubscribe)

BUILD=$(cd "${DTC_BUILD:-$ROOT/build}" 2>/dev/null && pwd || echo "$ROOT/build")
if [ ! -x "$BUILD/dtc" ]; then
    echo "== building dtc and dtrt in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target dtc dtrt >/dev/null
fi
OUT=$BUILD/bench-threads
mkdir -p "$OUT"
REC=$OUT/records.txt
: >"$REC"
echo "== dtc compile"
for b in "${BENCHES[@]}"; do
    "$BUILD/dtc" compile "$ROOT/bench/$b.dt" -o "$OUT/$b"
done

# run BENCH SIDE ROUND
run() {
    local b=$1 side=$2 r=$3 log=$OUT/$1.$2.$3.log st=0 ms
    # shellcheck disable=SC2046
    if [ "$side" = threads ]; then
        timeout 300 "$OUT/$b" --ranks 2 $(iters_of "$b") >"$log" 2>&1 || st=$?
    else
        timeout 300 "${MPIRUN[@]}" "$OUT/$b" $(iters_of "$b") >"$log" 2>&1 || st=$?
    fi
    ms=$(sed -n 's/^time: median \([0-9.]*\) ms\/iter.*/\1/p' "$log" | head -1)
    if [ $st != 0 ] || [ -z "$ms" ]; then
        echo "fail $b $side $r exit status $st" >>"$REC"
        printf ' %s/%s FAILED' "$b" "$side"
        return 0
    fi
    echo "time $b $side $r $ms" >>"$REC"
    sed -n 's/^[A-Za-z_0-9]*: [a-z0-9]*\[.*\] sum=\([^ ]*\) l2=\([^ ]*\)$/sum '"$b $side"' \1 \2/p' \
        "$log" | head -1 >>"$REC"
    printf ' %s/%s %s' "$b" "$side" "$ms"
}

echo "== $ROUNDS round(s), 2 ranks, OPENBLAS_NUM_THREADS=1, load average $(cut -d' ' -f1 /proc/loadavg) on $NCPU cores"
for r in $(seq 1 "$ROUNDS"); do
    printf '   round %d:' "$r"
    for b in "${BENCHES[@]}"; do
        if [ $((r % 2)) = 1 ]; then run "$b" threads "$r"; run "$b" mpi "$r"
        else run "$b" mpi "$r"; run "$b" threads "$r"; fi
    done
    echo
done
echo "   load average after: $(cut -d' ' -f1 /proc/loadavg)"

python3 - "$REC" <<'PY'
import statistics, sys
t, s, bad = {}, {}, False
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "time":
        t.setdefault(f[1], {}).setdefault(f[2], []).append(float(f[4]))
    elif f[0] == "sum":
        s.setdefault(f[1], {})[f[2]] = (float(f[3]), float(f[4]))
    elif f[0] == "fail":
        print("FAILED:", line.strip()); bad = True
print(f"\n{'benchmark':<22}{'threads ms':>11}{'mpirun ms':>11}{'thr/mpi':>9}{'best':>7}  checksums")
for b, sides in t.items():
    th, mp = sides.get("threads", []), sides.get("mpi", [])
    if not th or not mp:
        continue
    mt, mm = statistics.median(th), statistics.median(mp)
    note = ""
    if "threads" in s.get(b, {}) and "mpi" in s[b]:
        (s1, q1), (s2, q2) = s[b]["threads"], s[b]["mpi"]
        same = abs(q1 - q2) <= 1e-4 * max(q2, 1e-30) and abs(s1 - s2) <= 1e-4 * max(abs(s2), q2, 1e-30)
        note = "agree" if same else "DIFFER"
        bad |= not same
    print(f"{b:<22}{mt:>11.3f}{mm:>11.3f}{mt / mm:>9.2f}{min(th) / min(mp):>7.2f}  {note}")
sys.exit(1 if bad else 0)
PY
