#!/usr/bin/env bash
# bench/local.sh - local fn programs against their global twins, as ratios:
#   mlp_local  / mlp             (the same Megatron MLP, all_reduce by hand)
#   ring_local / coll_all_to_all (a ppermute, one collective_permute step, against one
#                                 all_to_all of the same tensor)
# each on 2 ranks, threads (--ranks 2) and mpirun -np 2, R interleaved rounds
# (default 5), medians of each program's median time per iteration.
#
#   bench/local.sh [--rounds R]
#
# Uses the build tree in $DTC_BUILD (default build/).  Exit status 1 if a
# run fails or a local program's checksum differs from its twin's (mlp).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DTC_BUILD:-$ROOT/build}
ROUNDS=5
[ "${1:-}" = --rounds ] && ROUNDS=$2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=$BUILD/bench-local
mkdir -p "$OUT"
for p in mlp mlp_local coll_all_to_all ring_local; do
    "$BUILD/dtc" compile "$ROOT/bench/$p.dt" -o "$OUT/$p"
done
ms() { # median ms per iteration printed by the program
    "$@" --iters 10 --warmup 3 | sed -n 's/.*median \([0-9.e+-]*\) *ms.*/\1/p' | head -1
}
declare -A T
for r in $(seq "$ROUNDS"); do
    for p in mlp mlp_local coll_all_to_all ring_local; do
        T[$p.threads]+="$(ms "$OUT/$p" --ranks 2) "
        T[$p.mpi]+="$(ms mpirun --oversubscribe -np 2 "$OUT/$p") "
    done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
sum_of() { "$OUT/$1" --ranks 2 | sed -n 's/.* sum=\([^ ]*\).*/\1/p'; }
[ "$(sum_of mlp)" = "$(sum_of mlp_local)" ] || { echo "local.sh: mlp_local's checksum differs from mlp's"; exit 1; }
printf '%-28s %10s %10s %8s\n' pair backend "ms local" ratio
for pair in "mlp_local mlp" "ring_local coll_all_to_all"; do
    set -- $pair
    for be in threads mpi; do
        a=$(echo "${T[$1.$be]}" | med) b=$(echo "${T[$2.$be]}" | med)
        printf '%-28s %10s %10.3f %8.3f\n' "$1 / $2" "$be" "$a" "$(echo "$a / $b" | bc -l)"
    done
done
