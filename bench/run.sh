#!/usr/bin/env bash
# bench/run.sh - dtc's compiled programs against hand-written C + OpenBLAS +
# MPI programs doing the same work with the same collectives, on 2 ranks
# (mpirun -np 2).  Prints a table: benchmark, dtc ms, hand ms, dtc / hand,
# and the same dtc program on the threads backend (`--ranks 2`, no mpirun):
# threads ms, threads / mpirun (aim: <= 1.00).
#
#   bench/run.sh [--rounds R] [--quick] [--no-verify] [BENCH...]
#
# BENCH: mlp mlp_small transformer coll_all_reduce coll_all_gather coll_reduce_scatter
# coll_all_to_all (default: all).  Steps:
#  1. build dtc and the runtime (cmake, Release) into build-bench/, or use
#     the build tree in $DTC_BUILD as it is;
#  2. dtc compile bench/BENCH.dt; if that fails (e.g. before the CPU code
#     generator exists) the dtc column says why and the hand side still runs;
#  3. mpicc -O2 -march=native -fopenmp-simd the hand programs (hand_*.c +
#     runtime/core; -lmvec for a vector expf);
#  4. R rounds (default 5); in each, every benchmark runs its dtc program and
#     its hand program back to back, the order alternating between rounds;
#     each run prints the median of K timed iterations after W warm-ups;
#  5. the table (compare.py): the median over rounds of those medians, and
#     whether each side's checksum equals `dtc run` (the reference
#     interpreter) of the same .dt.  Exit status 1 if a checksum differs or
#     a hand program fails.
# Both sides run with OPENBLAS_NUM_THREADS=1 (one core per rank).
set -euo pipefail

# shellcheck source=bench/bench_args.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_args.sh"

# the hand program (and its arguments) for a benchmark
hand_of() {
    case "$1" in
    mlp) echo "hand_mlp" ;;
    mlp_small) echo "hand_mlp --B 8 --D 512 --H 2048" ;;
    transformer) echo "hand_transformer" ;;
    coll_*) echo "hand_collectives ${1#coll_}" ;;
    esac
}
# the collectives, in order, that the hand program performs on each rank
# (compared with `dtc report`, so that both sides do the same communication)
colls_of() {
    case "$1" in
    mlp|mlp_small) echo "all_reduce" ;;
    transformer) echo "all_reduce all_reduce" ;;
    coll_*) echo "${1#coll_}" ;;
    esac
}

NCPU=$(nproc) # before OMP_NUM_THREADS=1, which nproc obeys
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun -np 2 --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$NCPU" -ge 2 ] || MPIRUN+=(--oversubscribe)

# ---- 1. dtc and the runtime ---------------------------------------------------
if [ -n "${DTC_BUILD:-}" ]; then
    BUILD=$(cd "$DTC_BUILD" && pwd)
else
    BUILD=$ROOT/build-bench
    echo "== building dtc and dtrt in $BUILD"
    mkdir -p "$BUILD"
    if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release &&
           cmake --build "$BUILD" -j2 --target dtc dtrt; } >"$BUILD/bench-build.log" 2>&1; then
        echo "   build failed (see $BUILD/bench-build.log); using what is there"
    fi
fi
OUT=$BUILD/bench
mkdir -p "$OUT"
DTC=$BUILD/dtc
REC=$OUT/records.txt
: >"$REC"

# ---- 2. dtc's programs -----------------------------------------------------------
declare -A DTC_OK
echo "== dtc compile"
for b in "${BENCHES[@]}"; do
    DTC_OK[$b]=0
    if [ ! -x "$DTC" ]; then
        echo "na $b dtc dtc compile: not available yet (no dtc binary)" >>"$REC"
        continue
    fi
    if "$DTC" compile "$ROOT/bench/$b.dt" -o "$OUT/dtc_$b" 2>"$OUT/dtc_$b.err"; then
        DTC_OK[$b]=1
        echo "   $b: ok"
    elif grep -q "not implemented" "$OUT/dtc_$b.err"; then
        echo "   $b: $(head -1 "$OUT/dtc_$b.err")"
        echo "na $b dtc dtc compile: not available yet" >>"$REC"
    else
        echo "   $b: $(head -1 "$OUT/dtc_$b.err")"
        echo "na $b dtc dtc compile failed: $(head -1 "$OUT/dtc_$b.err")" >>"$REC"
    fi
    # same collectives on both sides?
    if "$DTC" report "$ROOT/bench/$b.dt" >"$OUT/report_$b.txt" 2>&1; then
        got=$(awk '/^rank 0/{r=1; next} /^rank /{r=0} r && $1 ~ /^[0-9]+\.$/{sub(/[^a-z_].*/, "", $2); printf "%s ", $2}' \
              "$OUT/report_$b.txt" | sed 's/ $//')
        if [ "$got" != "$(colls_of "$b")" ]; then
            echo "   WARNING: $b: dtc plans '$got' but the hand program does '$(colls_of "$b")'"
        fi
    fi
done

# ---- 3. the hand-written programs ------------------------------------------------------
echo "== mpicc hand programs"
# libmvec (glibc's vector math, x86_64) gives the omp simd loops a vector expf
MVEC=(-lmvec)
echo 'int main(void) { return 0; }' >"$OUT/mvec.c"
mpicc "$OUT/mvec.c" -o "$OUT/mvec" -lmvec -lm 2>/dev/null || MVEC=(-DHB_NO_MVEC)
for h in hand_mlp hand_transformer hand_collectives; do
    mpicc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -march=native -fopenmp-simd -Wall -Wextra \
        -I"$ROOT" "$ROOT/bench/$h.c" "$ROOT"/runtime/core/*.c -o "$OUT/$h" -lopenblas "${MVEC[@]}" -lm
done

# ---- 4. runs ------------------------------------------------------------------------------------
# run BENCH SIDE ROUND: one mpirun; records its time, checksum, self-check
run() {
    local b=$1 side=$2 r=$3 log=$OUT/$1.$2.$3.log cmd
    local launch=("${MPIRUN[@]}")
    case $side in
    dtc) cmd=("$OUT/dtc_$b") ;;
    threads) cmd=("$OUT/dtc_$b" --ranks 2); launch=() ;; # ranks are threads of one process
    *) read -ra cmd <<<"$(hand_of "$b")"; cmd[0]=$OUT/${cmd[0]} ;;
    esac
    local st=0 ms
    # shellcheck disable=SC2046
    timeout 300 "${launch[@]}" "${cmd[@]}" $(iters_of "$b") >"$log" 2>&1 || st=$?
    if [ $st != 0 ]; then
        echo "fail $b $side $r exit status $st: $(grep -m1 -i error "$log" || true)" >>"$REC"
        printf ' %s/%s FAILED' "$b" "$side"
        return 0
    fi
    ms=$(sed -n 's/^time: median \([0-9.]*\) ms\/iter.*/\1/p' "$log" | head -1)
    if [ -z "$ms" ]; then
        echo "fail $b $side $r no time line" >>"$REC"
        return 0
    fi
    {
        echo "time $b $side $r $ms"
        sed -n 's/^[A-Za-z_0-9]*: [a-z0-9]*\[.*\] sum=\([^ ]*\) l2=\([^ ]*\)$/sum '"$b $side"' \1 \2/p' \
            "$log" | head -1
        sed -n 's/^check: \(.*\)/check '"$b $side"' \1/p' "$log"
    } >>"$REC"
    printf ' %s/%s %s' "$b" "$side" "$ms"
}

LOAD=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$LOAD" -v n="$NCPU" 'BEGIN { exit !(l > n / 2) }'; then
    echo "   note: load average $LOAD on $NCPU cores: other processes compete with the" \
         "2 ranks, so timings will be noisy (see the 'noisy' notes)"
fi
echo "== $ROUNDS round(s), mpirun -np 2, OPENBLAS_NUM_THREADS=1 (ms/iter, median per run)"
for r in $(seq 1 "$ROUNDS"); do
    printf '   round %d:' "$r"
    for b in "${BENCHES[@]}"; do
        if [ "${DTC_OK[$b]}" = 1 ] && [ $((r % 2)) = 1 ]; then run "$b" dtc "$r"; run "$b" threads "$r"; fi
        run "$b" hand "$r"
        if [ "${DTC_OK[$b]}" = 1 ] && [ $((r % 2)) = 0 ]; then run "$b" threads "$r"; run "$b" dtc "$r"; fi
    done
    echo
done

# ---- 5. reference checksums and the table -------------------------------------------------
if [ $VERIFY = 1 ] && [ -x "$DTC" ]; then
    echo "== dtc run (reference interpreter) for the checksums"
    for b in "${BENCHES[@]}"; do
        "$DTC" run "$ROOT/bench/$b.dt" 2>&1 |
            sed -n 's/^[A-Za-z_0-9]*: [a-z0-9]*\[.*\] sum=\([^ ]*\) l2=\([^ ]*\)$/ref '"$b"' - \1 \2/p' |
            head -1 >>"$REC"
    done
fi

echo
echo "machine: $NCPU cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
python3 "$ROOT/bench/compare.py" "$REC"
