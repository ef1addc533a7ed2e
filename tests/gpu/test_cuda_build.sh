#!/bin/bash
# test_cuda_build.sh - the CUDA target builds wherever dtc is tested (the
# toolkit at /usr/local/cuda is required; its absence fails the test):
# every samples/*.dt compiles to readable CUDA (--emit=cu: kernels, cuBLAS,
# the runtime's entry point) and to an executable with nvcc (one
# architecture, sm_90, to keep it fast); a malformed --cuda-arch is a clear
# compile error.  Then each program is run:
#   - on a machine without a usable GPU (CI) it must refuse to start with
#     one clear line "PROG: error: no usable CUDA GPU: <reason>" and a
#     non-zero exit, both alone and under `mpirun -np N` (one message, not
#     N);
#   - on a machine with a GPU it must succeed and print the same result
#     lines (name, type, checksums within 1e-4) as `dtc run`.
# The full GPU check (NCCL and host-staged ranks, .npy outputs, benchmark)
# is tests/gpu/run_on_gpu.sh.
#
# env: DTC (the compiler), DTC_SRC (source tree), DTC_BUILD (build tree with
# libdtrt.a), PY (python3).
set -u
DTC=${DTC:?DTC must name the dtc executable}
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
DTC_BUILD=${DTC_BUILD:-$(dirname "$DTC")}
PY=${PY:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

NVCC=${NVCC:-}
if [ -z "$NVCC" ]; then
    for c in "${CUDA_HOME:-/nonexistent}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
        [ -x "$c" ] && NVCC=$c && break
    done
    [ -z "$NVCC" ] && NVCC=$(command -v nvcc || true)
fi
if [ -z "$NVCC" ]; then
    # The CUDA target must compile and link in CI, GPU or not: no toolkit is a failure.
    echo "FAIL: nvcc not found (the CUDA toolkit is expected at /usr/local/cuda)"
    exit 1
fi
for lib in libdtrt.a libdtrt_core.a; do
    if [ ! -f "$DTC_BUILD/$lib" ]; then
        echo "FAIL: $DTC_BUILD/$lib is not built (build the dtrt target)"
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/test_cuda_build.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ARCH=sm_90

# ---- a bad architecture list is a compile error -----------------------------------------
if "$DTC" compile "$DTC_SRC/samples/mlp.dt" --target=cuda --cuda-arch=volta -o "$tmp/bad" > "$tmp/bad.txt" 2>&1; then
    fail "--cuda-arch=volta was accepted"
elif ! grep -q "cuda-arch: 'volta' is not an architecture" "$tmp/bad.txt"; then
    fail "--cuda-arch=volta: unexpected message:"; cat "$tmp/bad.txt"
else
    echo "ok: --cuda-arch=volta is refused with a clear message"
fi

for dt in "$DTC_SRC"/samples/*.dt; do
    name=$(basename "$dt" .dt)
    # the routing family (argmax, topk, one_hot, ...) is refused on the CUDA target for now,
    # and so is a gradient through embedding or cross_entropy (scatter_add, one_hot)
    if grep -Eq '(argmax|argmin|one_hot|cumsum|take_along_axis|gather|topk|scatter_add|repeat)\(' "$dt" ||
       { grep -q 'value_and_grad(' "$dt" && grep -Eq '(embedding|cross_entropy)\(' "$dt"; }; then
        if "$DTC" compile "$dt" --target=cuda --emit=cu -o "$tmp/route.cu" > "$tmp/emit.txt" 2>&1 ||
           ! grep -q 'is not supported on the cuda target' "$tmp/emit.txt"; then
            fail "$name: a routing op should be refused on --target=cuda with a clear message:"; cat "$tmp/emit.txt"
        else
            echo "ok: $name: its routing ops are refused on --target=cuda with a clear message"
        fi
        continue
    fi
    cu="$tmp/$name.cu"
    exe="$tmp/$name"

    # ---- --emit=cu ------------------------------------------------------------------
    if ! "$DTC" compile "$dt" --target=cuda --emit=cu -o "$cu" > "$tmp/emit.txt" 2>&1; then
        fail "$name: --emit=cu failed:"; cat "$tmp/emit.txt"; continue
    fi
    nk=$(grep -c '^__global__ void' "$cu")
    for want in 'rt_cuda_main(argc, argv, &dt_cuda)' 'rt_cuda_begin(ctx, &dt_cuda, params)' \
                'rt_cuda_end(ctx, cu, results)' '#include "runtime/cuda/dtk_cuda.cuh"'; do
        grep -qF "$want" "$cu" || fail "$name.cu lacks '$want'"
    done
    # every matmul of the IR goes to cuBLAS, every collective to the CUDA runtime
    nmm=$(grep -c 'rt_cuda_matmul(ctx' "$cu")
    ncoll=$(grep -cE 'rt_cuda_(all_reduce|all_gather|reduce_scatter|all_to_all)\(ctx' "$cu")
    if grep -qE '(^|[^_])(dtk_matmul|rt_all_reduce|rt_all_gather|memcpy)\(' "$cu"; then
        fail "$name.cu calls a CPU kernel or host collective"
    fi

    # ---- the executable -----------------------------------------------------------------
    t0=$(date +%s.%N)
    if ! "$DTC" compile "$dt" --target=cuda --cuda-arch=$ARCH -o "$exe" > "$tmp/build.txt" 2>&1; then
        fail "$name: --target=cuda failed:"; cat "$tmp/build.txt"; continue
    fi
    secs=$("$PY" -c "import time; print('%.1f' % (time.time() - $t0))" 2>/dev/null || echo "?")
    if [ ! -x "$exe" ]; then
        fail "$name: no executable written"; continue
    fi
    echo "ok: $name: --emit=cu ($nk kernels, $nmm cuBLAS matmul calls, $ncoll collectives) and an nvcc build for $ARCH in ${secs}s"

    nranks=$("$exe" --help 2>/dev/null | sed -n 's/^mesh .*: \([0-9]*\) rank.*/\1/p' | head -1)
    if [ -z "$nranks" ]; then
        fail "$name: --help does not name the mesh size:"; "$exe" --help 2>&1 | head -5; continue
    fi

    # ---- running it --------------------------------------------------------------------------
    # host-staged collectives over threads: any number of GPUs will do
    DT_COMM=threads "$exe" --ranks "$nranks" > "$tmp/out.txt" 2> "$tmp/err.txt"
    rc=$?
    if [ $rc -ne 0 ]; then
        # no GPU: exactly one clear line on stderr, nothing on stdout
        if ! grep -q "^$name: error: no usable CUDA GPU: ." "$tmp/err.txt"; then
            fail "$name: exit status $rc without the no-GPU message:"; cat "$tmp/err.txt"; continue
        fi
        if [ "$(wc -l < "$tmp/err.txt")" -ne 1 ] || [ -s "$tmp/out.txt" ]; then
            fail "$name: expected one line of output, got:"; cat "$tmp/out.txt" "$tmp/err.txt"; continue
        fi
        echo "ok: $name --ranks $nranks: exit $rc, '$(cut -c1-110 < "$tmp/err.txt")' (no GPU here: the program refused to start with a clear message)"
        if command -v mpirun > /dev/null && [ "$name" = mlp ]; then
            timeout 120 mpirun --oversubscribe -np "$nranks" "$exe" > "$tmp/mpi.txt" 2>&1
            mrc=$?
            n=$(grep -c "error: no usable CUDA GPU" "$tmp/mpi.txt")
            if [ $mrc -eq 0 ] || [ "$n" -ne 1 ]; then
                fail "$name under mpirun -np $nranks: status $mrc, $n no-GPU messages:"; cat "$tmp/mpi.txt"
            else
                echo "ok: $name under mpirun -np $nranks exits $mrc with one no-GPU message (no GPU here)"
            fi
        fi
    else
        # a GPU: the same results as the reference interpreter
        "$DTC" run "$dt" > "$tmp/ref.txt" 2>&1 || { fail "$name: dtc run failed"; continue; }
        if "$PY" - "$tmp/ref.txt" "$tmp/out.txt" <<'EOF'
import re, sys
def lines(p):
    out = {}
    for l in open(p):
        m = re.match(r'^(\w+): (\S+\[[^\]]*\]) sum=(\S+) l2=(\S+)', l)
        if m:
            out[m.group(1)] = (m.group(2), float(m.group(3)), float(m.group(4)))
    return out
ref, got = lines(sys.argv[1]), lines(sys.argv[2])
ok = ref.keys() == got.keys() and len(ref) > 0
for k in ref:
    if k not in got: continue
    (t1, s1, q1), (t2, s2, q2) = ref[k], got[k]
    if t1 != t2 or abs(s1 - s2) > 1e-4 * max(1.0, abs(q1)) or abs(q1 - q2) > 1e-4 * max(1.0, abs(q1)):
        print("  %s: reference %s sum=%g l2=%g, CUDA %s sum=%g l2=%g" % (k, t1, s1, q1, t2, s2, q2)); ok = False
sys.exit(0 if ok else 1)
EOF
        then
            echo "ok: $name --ranks $nranks ran on the GPU: results match dtc run"
        else
            fail "$name on the GPU differs from dtc run:"; cat "$tmp/out.txt"
        fi
    fi
done

if [ $fails -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "all CUDA build checks passed"
