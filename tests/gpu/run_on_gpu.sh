#!/bin/bash
# run_on_gpu.sh - the CUDA target on a machine with an NVIDIA GPU.  Not a CI
# test (CI has no GPU; tests/gpu/test_cuda_build.sh is the CI part): run it
# by hand, from anywhere:
#
#   DTC=build/dtc bash tests/gpu/run_on_gpu.sh         # correctness + benchmark
#   BENCH=0 DTC=build/dtc bash tests/gpu/run_on_gpu.sh # correctness only
#
# 1. Correctness.  Every samples/*.dt is compiled for CUDA (for this GPU's
#    architecture) on meshes of 1, 2 and 4 ranks (the sample's axes resized
#    with --mesh) and run:
#      1 rank                      (NCCL mode; nothing to communicate)
#      2 and 4 ranks on one GPU    DT_COMM=mpi mpirun -np N  (host-staged)
#      2 ranks as threads          DT_COMM=threads --ranks 2 (host-staged)
#      2 / 4 ranks with NCCL       mpirun -np N and --ranks N, when there are
#                                  that many GPUs
#    Every result is written with --out and compared with `dtc run` (the
#    unsharded reference) element by element (|got - ref| <= 1e-4 * (1 +
#    max|ref|)).  Also: 3 iterations give the same results as one, --profile
#    works, an out-of-range embedding id is reported like on the CPU, and
#    asking NCCL for more ranks than GPUs is refused at start-up.
# 2. Benchmark (BENCH=1, the default), one rank on GPU 0:
#    - a pre-norm transformer block (samples/transformer.dt at B=8, T=1024,
#      D=2048, 16 heads of 128, F=8192; f32): median ms/iter, achieved
#      TFLOP/s (matmul FLOPs / time) against cuBLAS's own time for the same
#      GEMM shapes (tests/gpu/cublas_ref.cu), and the matmul share of the
#      profile;
#    - bandwidth of the generated elementwise loop, layernorm, softmax and
#      row-sum kernels on [16384, 8192] f32 (from --profile, read + write
#      bytes over time) against a device-to-device cudaMemcpy.
#    DT_TF32=1 in the environment lets both sides use TF32 tensor cores.
# Prints a summary; exits non-zero if a correctness check failed.
#
# env: DTC (default: build/dtc next to the sources), DTC_SRC, PY (python3
# with numpy), ARCH (default: this GPU's, from nvidia-smi), BENCH.
set -u
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
DTC=${DTC:-$DTC_SRC/build/dtc}
PY=${PY:-/usr/bin/python3}
BENCH=${BENCH:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe)

if ! nvidia-smi -L > /dev/null 2>&1; then
    echo "skipped: no GPU (nvidia-smi -L fails)"
    exit 0
fi
NGPU=$(nvidia-smi -L | grep -c '^GPU')
if [ -z "${ARCH:-}" ]; then
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader -i 0 2>/dev/null | tr -d ' .')
    ARCH=sm_${cc:-90}
fi
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
echo "GPUs: $NGPU ($(nvidia-smi --query-gpu=name --format=csv,noheader -i 0)), building for $ARCH"
[ -x "$DTC" ] || { echo "FAIL: no dtc at $DTC (set DTC)"; exit 1; }

tmp=$(mktemp -d /tmp/run_on_gpu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
summary=()
fail() { echo "FAIL: $*"; fails=$((fails + 1)); summary+=("FAIL  $*"); }
pass() { echo "ok: $*"; summary+=("ok    $*"); }

# compare.py REF_PREFIX GOT_PREFIX NAME... : every result within tolerance
cat > compare.py <<'EOF'
import sys
import numpy as np
ref, got, names = sys.argv[1], sys.argv[2], sys.argv[3:]
worst = 0.0
for n in names:
    r = np.load("%s_%s.npy" % (ref, n)).astype(np.float64)
    g = np.load("%s_%s.npy" % (got, n)).astype(np.float64)
    if r.shape != g.shape:
        print("  %s: shape %s, reference %s" % (n, g.shape, r.shape)); sys.exit(1)
    scale = 1.0 + (np.abs(r).max() if r.size else 0.0)
    err = (np.abs(g - r).max() if r.size else 0.0) / scale
    if not np.isfinite(g).all() and not np.array_equal(np.isnan(g), np.isnan(r)):
        err = float("inf")
    worst = max(worst, err)
    if err > 1e-4:
        print("  %s: max error %.3g of scale %.3g" % (n, err, scale)); sys.exit(1)
print("%.2e" % worst)
EOF

# The mesh of a .dt resized: mesh_spec FILE NRANKS -> "dp=1,tp=2" (the last
# axes take the ranks, 2 each; one axis takes them all).
mesh_spec() {
    "$PY" - "$1" "$2" <<'EOF'
import re, sys
src, n = open(sys.argv[1]).read(), int(sys.argv[2])
m = re.search(r'^\s*mesh\s+\w+\s*\[([^\]]*)\]', src, re.M)
axes = [a.split('=')[0].strip() for a in m.group(1).split(',')]
sizes = [1] * len(axes)
if len(axes) == 1:
    sizes[0] = n
else:
    k = len(axes) - 1
    while n > 1:
        sizes[k] *= 2; n //= 2; k = k - 1 if k > 0 else len(axes) - 1
print(",".join("%s=%d" % (a, s) for a, s in zip(axes, sizes)))
EOF
}

# run_check SAMPLE LABEL NAMES CMD...: runs CMD with --out for every name, compares
run_check() {
    local s=$1 label=$2 names=$3
    shift 3
    local outs=()
    for n in $names; do outs+=(--out "$n=$tmp/got_$n.npy"); done
    rm -f "$tmp"/got_*.npy
    timeout 300 "$@" "${outs[@]}" > run.txt 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then
        fail "$s $label: status $rc:"; tail -5 run.txt; return
    fi
    local err
    if err=$("$PY" compare.py "$tmp/ref" "$tmp/got" $names 2>&1); then
        pass "$s $label: results match dtc run (max rel. error $err)"
    else
        fail "$s $label: $err"
    fi
}

# ---- 1. correctness --------------------------------------------------------------------------
for dt in "$DTC_SRC"/samples/*.dt; do
    s=$(basename "$dt" .dt)
    if ! "$DTC" run "$dt" > ref.txt 2>&1; then
        fail "$s: dtc run failed"; continue
    fi
    names=$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\): .* sum=.*/\1/p' ref.txt | tr '\n' ' ')
    refouts=()
    for n in $names; do refouts+=(--out "$n=$tmp/ref_$n.npy"); done
    "$DTC" run "$dt" "${refouts[@]}" > /dev/null 2>&1 || { fail "$s: dtc run --out failed"; continue; }
    for nr in 1 2 4; do
        spec=$(mesh_spec "$dt" $nr)
        exe="$tmp/${s}_$nr"
        if ! "$DTC" compile "$dt" --target=cuda --cuda-arch="$ARCH" --mesh "$spec" -o "$exe" > build.txt 2>&1; then
            fail "$s on $spec: compile failed:"; tail -20 build.txt; continue
        fi
        if [ $nr = 1 ]; then
            run_check "$s" "1 rank [$spec]" "$names" "$exe"
            run_check "$s" "1 rank, --iters 3" "$names" "$exe" --iters 3 --warmup 1
            if "$exe" --profile --iters 2 > prof.txt 2>&1 && grep -q '^profile:' prof.txt; then
                pass "$s --profile: a table of $(grep -c '\.dt:[0-9]*:[0-9]* ' prof.txt) steps"
            else
                fail "$s --profile:"; tail -5 prof.txt
            fi
            continue
        fi
        run_check "$s" "$nr ranks on one GPU, DT_COMM=mpi mpirun [$spec]" "$names" \
            env DT_COMM=mpi CUDA_VISIBLE_DEVICES=0 "${MPIRUN[@]}" -np $nr "$exe"
        if [ $nr = 2 ]; then
            run_check "$s" "2 threads on one GPU, DT_COMM=threads [$spec]" "$names" \
                env DT_COMM=threads CUDA_VISIBLE_DEVICES=0 "$exe" --ranks 2
        fi
        if [ "$NGPU" -ge $nr ]; then
            run_check "$s" "$nr ranks, NCCL, mpirun [$spec]" "$names" "${MPIRUN[@]}" -np $nr "$exe"
            run_check "$s" "$nr ranks, NCCL, threads [$spec]" "$names" "$exe" --ranks $nr
        elif [ $nr = 4 ] && [ "$s" = mlp ]; then
            # NCCL with more ranks than GPUs is refused at start-up
            if "$exe" --ranks 4 > nccl.txt 2>&1; then
                fail "mlp --ranks 4 with $NGPU GPU(s) and NCCL was not refused"
            elif grep -q "ranks on this machine but $NGPU CUDA GPU" nccl.txt; then
                pass "mlp --ranks 4 on $NGPU GPU(s) with NCCL: refused at start-up ($(head -c 90 nccl.txt)...)"
            else
                fail "mlp --ranks 4 on $NGPU GPU(s): unexpected:"; cat nccl.txt
            fi
        fi
    done
done

# an out-of-range id is found on the GPU and reported like the CPU's kernels do
if [ -x "$tmp/embedding_1" ]; then
    "$PY" -c "import numpy as np; a = np.arange(16, dtype=np.int32).reshape(2, 8); a[1, 3] = 1000; np.save('bad_ids.npy', a)"
    if "$tmp/embedding_1" --in ids=bad_ids.npy > bad.txt 2>&1; then
        fail "embedding with id 1000 succeeded"
    elif grep -q "embedding: id 1000 at position 11 is out of range \[0, 96)" bad.txt; then
        pass "embedding with id 1000: $(grep -o 'error: .*' bad.txt | head -1)"
    else
        fail "embedding with id 1000: unexpected:"; cat bad.txt
    fi
fi

# ---- 2. benchmark ------------------------------------------------------------------------------
if [ "$BENCH" = 1 ]; then
    echo
    echo "---- benchmark (GPU 0) ----"
    export CUDA_VISIBLE_DEVICES=0
    if ! "$NVCC" -std=c++17 -O2 -arch="$ARCH" "$DTC_SRC/tests/gpu/cublas_ref.cu" -o cublas_ref -lcublas \
            -Xlinker -rpath="$(dirname "$(dirname "$NVCC")")/lib64" > ref_build.txt 2>&1; then
        fail "cannot build tests/gpu/cublas_ref.cu:"; tail -5 ref_build.txt
    else
        # transformer block at a compute-dominated size, one rank
        B=8 T=1024 D=2048 NH=16 DH=128 F=8192
        sed -e "s/^const B = .*/const B = $B;  const T = $T;  const D = $D;  const NH = $NH;  const DH = $DH;/" \
            -e "s/^const SCALE = .*/const SCALE = 0.08838834764831845;/" \
            "$DTC_SRC/samples/transformer.dt" > tblock.dt
        grep -q "const D = $D" tblock.dt || fail "could not resize samples/transformer.dt"
        "$DTC" compile tblock.dt --target=cuda --cuda-arch="$ARCH" --mesh dp=1,tp=1 -o tblock > build.txt 2>&1 ||
            { fail "tblock: compile failed"; tail -20 build.txt; }
        ./tblock --iters 10 --warmup 3 > tblock.txt 2>&1 || { fail "tblock run:"; tail -5 tblock.txt; }
        ./tblock --iters 3 --warmup 1 --profile > tblock_prof.txt 2>&1 || fail "tblock --profile"
        M=$((B * T))
        : > gemms.txt
        for g in "$M $D $D 1 0 0" "$M $D $D 1 0 0" "$M $D $D 1 0 0" "$T $T $DH $((B * NH)) 0 1" \
                 "$T $DH $T $((B * NH)) 0 0" "$M $D $D 1 0 0" "$M $F $D 1 0 0" "$M $D $F 1 0 0"; do
            ./cublas_ref gemm $g >> gemms.txt || fail "cublas_ref gemm $g"
        done
        # bandwidth: elementwise loop, layernorm, softmax, row sum
        cat > bw.dt <<'EOF'
const N = 16384;  const C = 8192;
mesh M[a=1];
fn main(x: f32[N, C] @ M[R] = full(0.5), g: f32[C] @ M[R] = ones(), b: f32[C] @ M[R] = zeros())
        -> f32[N] @ M[R] {
    let y = gelu(x, approximate=true) * 0.5 + x;
    let z = layernorm(y, g, b);
    let s = softmax(z, axis=-1);
    return sum(s * s, axis=1);
}
EOF
        "$DTC" compile bw.dt --target=cuda --cuda-arch="$ARCH" -o bw > build.txt 2>&1 ||
            { fail "bw: compile failed"; tail -20 build.txt; }
        ./bw --iters 5 --warmup 2 --profile > bw_prof.txt 2>&1 || { fail "bw run:"; tail -5 bw_prof.txt; }
        ./cublas_ref memcpy $((16384 * 8192 * 4)) > memcpy.txt || fail "cublas_ref memcpy"
        "$PY" - $B $T $D $NH $DH $F <<'EOF' | tee bench_summary.txt
import re, sys
B, T, D, NH, DH, F = map(int, sys.argv[1:])
def prof(path):
    rows = {}
    for l in open(path):
        m = re.match(r'^\s+(\S+(?: \S+)?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s*$', l)
        if m:
            rows[m.group(1)] = (int(m.group(2)), float(m.group(3)), float(m.group(4)))
    return rows
def med(path):
    m = re.search(r'time: median ([\d.]+) ms/iter', open(path).read())
    return float(m.group(1)) if m else float('nan')
flops = 2.0 * B * T * D * D * 4 + 2 * 2.0 * B * NH * T * T * DH + 2 * 2.0 * B * T * D * F
ms = med('tblock.txt')
gemm_ms = gemm_fl = 0.0
for l in open('gemms.txt'):
    p = l.split()
    M, N, K, nb = map(int, p[1:5])
    gemm_ms += float(p[7].split('=')[1]); gemm_fl += 2.0 * M * N * K * nb
p = prof('tblock_prof.txt')
# rows are named "FILE:LINE:COL op" (or "op %v" without a source position)
op = lambda k: k.split()[-1] if ':' in k.split()[0] else k.split()[0]
mm = sum(v[1] for k, v in p.items() if op(k) == 'matmul')
tot = sum(v[1] for k, v in p.items() if not op(k).startswith(('all_', 'reduce_')))
print("transformer block B=%d T=%d D=%d heads=%dx%d F=%d (f32, 1 rank):" % (B, T, D, NH, DH, F))
print("  program:        %8.3f ms/iter  %6.2f TFLOP/s (%.1f GFLOP of matmuls; results copied to the host each iter)" % (ms, flops / ms / 1e9, flops / 1e9))
print("  cuBLAS GEMMs:   %8.3f ms       %6.2f TFLOP/s (the same shapes, alone)" % (gemm_ms, gemm_fl / gemm_ms / 1e9))
print("  program / cuBLAS-only throughput: %.0f%%" % (100.0 * gemm_ms / ms))
if tot > 0:
    print("  profile: matmuls %.0f%% of the profiled step time (the rest: softmax, norms, fused loops)" % (100.0 * mm / tot))
N, C = 16384, 8192
nb = N * C * 4
m = re.search(r'gbps=([\d.]+)', open('memcpy.txt').read())
peak = float(m.group(1)) if m else float('nan')
b = prof('bw_prof.txt')
print("bandwidth on [%d, %d] f32 (read + write, from --profile):" % (N, C))
print("  cudaMemcpy device-to-device: %7.1f GB/s" % peak)
for op, rw in (('add', 2), ('layernorm', 2), ('softmax', 2), ('sum', 1)):
    for k, v in b.items():
        if k.split()[0] == op:
            gbps = rw * nb / (v[2] * 1e-3) / 1e9
            label = {'add': 'fused elementwise loop', 'sum': 'row-sum reduction loop'}.get(op, op)
            print("  %-24s %7.1f GB/s  (%3.0f%% of memcpy, %.3f ms)" % (label, gbps, 100 * gbps / peak, v[2]))
EOF
    fi
fi

echo
echo "---- summary ----"
for l in "${summary[@]}"; do echo "$l"; done
[ -f "$tmp/bench_summary.txt" ] && cat "$tmp/bench_summary.txt"
if [ $fails -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "all GPU checks passed"
