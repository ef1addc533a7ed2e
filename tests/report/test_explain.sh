#!/bin/bash
# test_explain.sh - `dtc report --explain` says why each placement: on the
# GPT-2 block (bench/plans/gpt2_block.dt, tp=4) the first layernorm stays
# replicated although splitting it over the tokens is cheaper on its own
# ("dearer later": the whole-function choice saw what that split costs the
# projections), q, k, v and fc1 are column-parallel with no operand moved,
# and --explain is refused outside report.
# env: DTC, DTC_SRC.
set -u
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
out=$("$DTC" report "$DTC_SRC/bench/plans/gpt2_block.dt" --explain) || fail "report --explain failed"
ln=$(grep -m1 ': layernorm %a' <<<"$out")
if [[ "$ln" == *"(M[R], M[R], M[R]) -> M[R]"*"runner-up (M[S(1)]"*"dearer later"* ]]; then
    echo "ok: $ln"
else
    fail "layernorm line: '$ln'"
fi
n=$(grep -c ': matmul .*(M\[R\], M\[S(1)\]) -> M\[S(2)\]' <<<"$out")
[ "$n" -eq 4 ] && echo "ok: q, k, v and fc1 column-parallel in place ($n)" || fail "$n column-parallel projections, expected 4 (q, k, v, fc1)"
grep -q '^note: the annotated parameter' <<<"$out" && fail "an annotated weight is moved: $(grep '^note:' <<<"$out")" \
    || echo "ok: no annotated weight moved"
if "$DTC" compile "$DTC_SRC/samples/mlp.dt" --explain -o /dev/null 2>/dev/null; then
    fail "compile --explain accepted"
else
    echo "ok: --explain refused outside report"
fi
[ $fails -eq 0 ] && echo "1 passed, 0 failed" || { echo "0 passed, 1 failed"; exit 1; }
