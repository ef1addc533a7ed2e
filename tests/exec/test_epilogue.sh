# test_epilogue.sh - matmul epilogues (passes/fuse.c, codegen/lower.c) in
# many row blocks: tests/exec/exec_epilogue.dt compiled with
# --epilogue-block=65536 (32 blocks of a few rows, the last one short;
# by default these sizes run as one block, which test_exec_samples.py
# checks), by the LLVM backend and by the C backend (cc -Wall -Werror),
# each run with --ranks 4 and every result compared with `dtc run` (f32
# 1e-5, f64 1e-12 relative); the C must show the blocked GEMMs (a_offset)
# and the fuse dump the GEMM as a group member.
set -eu
DTC=${DTC:?} DTC_SRC=${DTC_SRC:?} DTC_BUILD=${DTC_BUILD:?} PY=${PY:-/usr/bin/python3}
W=$(mktemp -d /tmp/test_epilogue.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
fail=0
dt=$DTC_SRC/tests/exec/exec_epilogue.dt
names="h rb s d t m"

outs=""
for n in $names; do outs="$outs --out $n=ref_$n.npy"; done
# shellcheck disable=SC2086
if ! "$DTC" run "$dt" $outs > ref.txt 2> err.txt; then
    echo "FAIL: dtc run"; cat err.txt; exit 1
fi

if "$DTC" compile "$dt" --print-after=fuse --stop-after=fuse -o x 2> fuse.ir &&
        grep -q '= matmul %x.0, %w.1 {.*group=%h\.[0-9]*}' fuse.ir; then
    echo "ok   the fuse dump makes x @ w a member of h's group"
else
    echo "FAIL the fuse dump has no group for x @ w"; grep matmul fuse.ir | head -5; fail=1
fi

# run_check LABEL EXE
run_check() {
    gots="" pairs=""
    for n in $names; do
        gots="$gots --out $n=got_$n.npy"
        pairs="$pairs $n got_$n.npy ref_$n.npy"
    done
    # shellcheck disable=SC2086
    if ! "$2" --ranks 4 $gots > run.txt 2>&1; then
        echo "FAIL $1: run"; cat run.txt; fail=1; return
    fi
    # shellcheck disable=SC2086
    "$PY" "$DTC_SRC/tests/exec/npy_compare.py" "$1" $pairs || fail=1
}

if "$DTC" compile "$dt" --epilogue-block=65536 -o prog_llvm 2> err.txt; then
    run_check "LLVM, 64 KiB blocks" ./prog_llvm
else
    echo "FAIL LLVM compile"; cat err.txt; fail=1
fi

if "$DTC" compile "$dt" --epilogue-block=65536 --emit=c -o prog.c 2> err.txt; then
    nblk=$(grep -c 'dtk_matmul(RT_F32, 0, NULL, NULL, NULL, [0-9]*, 512, 8, 0, 0, (const char \*)x_0 + ' prog.c || true)
    if [ "$nblk" -ge 31 ]; then
        echo "ok   the C runs x @ w in blocks ($nblk GEMMs at a row offset of x)"
    else
        echo "FAIL the C has $nblk blocked GEMMs of x"; fail=1
    fi
    link=$(mpicc --showme:link 2>/dev/null || echo -lmpi)
    # shellcheck disable=SC2086
    if cc -std=c11 -Wall -Werror -O2 -I"$DTC_SRC" prog.c "$DTC_BUILD/libdtrt.a" "$DTC_BUILD/libdtrt_core.a" \
            $link -lopenblas -lm -lpthread -o prog_c 2> err.txt; then
        run_check "C, 64 KiB blocks" ./prog_c
    else
        echo "FAIL cc prog.c"; head -20 err.txt; fail=1
    fi
else
    echo "FAIL --emit=c"; cat err.txt; fail=1
fi
[ "$fail" = 0 ] && echo "ok: matmul epilogues in blocks match dtc run" || exit 1
