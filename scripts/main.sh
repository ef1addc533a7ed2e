#!/usr/bin/env bash
# main.sh - from a fresh machine to the first sample's result: installs what is
# missing, builds dtc (build/, Release), compiles samples/mlp.dt for the CPU
# and runs it on 4 ranks as threads (no MPI needed).  Works from any
# directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"

echo "== dtc compile samples/mlp.dt -o build/mlp"
build/dtc compile samples/mlp.dt -o build/mlp
echo "== build/mlp --ranks 4   (the per-rank program, 4 ranks as threads)"
exec build/mlp --ranks 4
