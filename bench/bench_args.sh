# bench/bench_args.sh - sourced by bench/run.sh and bench/threads.sh: the
# benchmark list, their command line ([--rounds R] [--quick] [--no-verify]
# [BENCH...]; --help prints the calling script's header comment) and the
# iterations per run.  Sets ROOT, ROUNDS, QUICK, VERIFY, BENCHES.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=5
VERIFY=1
QUICK=0
BENCHES=()
ALL=(mlp mlp_small transformer coll_all_reduce coll_all_gather coll_reduce_scatter coll_all_to_all)
bench_script=$(basename "$0")
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    --quick) QUICK=1; ROUNDS=1; shift ;;
    --no-verify) VERIFY=0; shift ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$bench_script: unknown option $1" >&2; exit 2 ;;
    *) BENCHES+=("$1"); shift ;;
    esac
done
[ ${#BENCHES[@]} -gt 0 ] || BENCHES=("${ALL[@]}")
for b in "${BENCHES[@]}"; do
    [ -f "$ROOT/bench/$b.dt" ] || { echo "$bench_script: no benchmark $b (bench/$b.dt)" >&2; exit 2; }
done

# iterations per run: compute-bound programs take tens of ms per iteration,
# the collectives a few ms
iters_of() {
    case "$1" in
    mlp|transformer) [ "$QUICK" = 1 ] && echo "--iters 2 --warmup 1" || echo "--iters 5 --warmup 2" ;;
    mlp_small) [ "$QUICK" = 1 ] && echo "--iters 50 --warmup 10" || echo "--iters 400 --warmup 50" ;;
    *) [ "$QUICK" = 1 ] && echo "--iters 5 --warmup 2" || echo "--iters 20 --warmup 5" ;;
    esac
}
