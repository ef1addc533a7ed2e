#!/usr/bin/env bash
# setup.sh - installs the Debian packages dtc needs to build and test.
# Safe to run again: it asks dpkg first and calls apt-get (update, then
# install) only when something is missing.  Runs as root, or through sudo.
# CUDA is not installed here: the CUDA target uses /usr/local/cuda if present.
set -euo pipefail

pkgs=(
  build-essential cmake flex bison   # C toolchain, generators of the parser
  llvm-19-dev                        # LLVM C API for the CPU code generator
  clang libclang-rt-14-dev           # clang-14 with libFuzzer and sanitizers
  libopenmpi-dev openmpi-bin         # MPI collectives, mpirun
  libopenblas-dev                    # CBLAS for local matmul
  python3-numpy                      # the NumPy oracle tests
  graphviz                           # dot: renders dtc compile --emit=dot/svg
  libglpk-dev                        # GLPK: the placement choice as an integer program
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "setup: error: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#pkgs[@]} packages present"
fi

if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA: $(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([^,]*\).*/\1/p') at /usr/local/cuda"
else
  echo "setup: note: no CUDA at /usr/local/cuda: the CUDA target (--target=cuda) is unavailable"
fi
