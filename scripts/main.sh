#!/usr/bin/env bash
# main.sh - from a fresh machine to the first sample's result: installs what is
# missing, builds dtc (build/, Release), compiles samples/mlp.dt for the CPU
# and runs it on 4 ranks as threads.  While `dtc compile` says code generation
# is not implemented, it runs the same program in the reference interpreter
# instead and says so; any other compile error fails.  Works from any
# directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"

if [ "$(id -u)" -eq 0 ]; then   # OpenMPI refuses root unless told
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

echo "== dtc compile samples/mlp.dt -o build/mlp"
rm -f build/mlp
set +e
build/dtc compile samples/mlp.dt -o build/mlp 2>build/mlp.compile.log
rc=$?
set -e
if [ $rc -eq 0 ] && [ -x build/mlp ]; then
  echo "== build/mlp --ranks 4   (compiled per-rank program, 4 ranks as threads)"
  exec build/mlp --ranks 4
fi

sed 's/^/   | /' build/mlp.compile.log >&2
if ! grep -q 'not implemented' build/mlp.compile.log; then
  echo "main.sh: error: dtc compile failed (exit $rc)" >&2
  exit $((rc ? rc : 1))
fi
echo "== dtc compile cannot generate code for the CPU yet (exit $rc)"
echo "== fallback: dtc run samples/mlp.dt   (reference interpreter, unsharded)"
exec build/dtc run samples/mlp.dt
