#!/bin/bash
# bench/train.sh - steps/s of a compiled dtc training step against the same
# step in PyTorch DTensor on CPU.  The step: bench/train_mlp_step.dt, a DP x TP
# MLP regression (B=64, D=256, H=1024, f32) on a 2x2 mesh, value_and_grad and
# SGD; DTensor: bench/train_dtensor.py (gloo, 4 processes, one thread each,
# the same placements, data and loss).  dtc runs twice per round: as 4 MPI
# processes (mpirun -np 4, like DTensor's 4 processes) and as 4 threads of one
# process (--ranks 4); each timed with --iters K --warmup W, one BLAS thread.
# Rounds are interleaved (DTensor, then both dtc runs); the summary is the
# median over rounds, as steps/s and the ratio dtc / DTensor.  Numbers are for
# reading (bench/README.md), not asserting; not run in CI.
#   DTC_TORCH_PYTHON=/path/to/python bench/train.sh [--rounds R] [--iters K] [--warmup W]
# Env: DTC_TORCH_PYTHON (a python with torch; required), DTC (default build/dtc).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
DTC=${DTC:-$src/build/dtc}
rounds=3 iters=20 warmup=3
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    *) echo "usage: DTC_TORCH_PYTHON=PY $0 [--rounds R] [--iters K] [--warmup W]" >&2; exit 2 ;;
    esac
done
py=${DTC_TORCH_PYTHON:-}
if [ -z "$py" ] || ! "$py" -c 'import torch.distributed.tensor' 2> /dev/null; then
    echo "bench/train.sh: set DTC_TORCH_PYTHON to a python with torch (CPU is enough), e.g." >&2
    echo "  python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch numpy" >&2
    echo "  DTC_TORCH_PYTHON=/work/venv-torch/bin/python bench/train.sh" >&2
    exit 2
fi
[ -x "$DTC" ] || { echo "bench/train.sh: no dtc at $DTC (build first, or set DTC)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$DTC" compile "$src/bench/train_mlp_step.dt" -o "$tmp/train_mlp_step"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
timed="--iters $iters --warmup $warmup"
# --oversubscribe and yielding when idle: the ranks may outnumber the cores
"$py" "$src/bench/train_dtensor.py" --rounds "$rounds" --iters "$iters" --warmup "$warmup" \
    --dtc "dtc mpirun -np 4=mpirun --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 -np 4 $tmp/train_mlp_step $timed" \
    --dtc "dtc --ranks 4 (threads)=$tmp/train_mlp_step --ranks 4 $timed"
