#!/usr/bin/env bash
# `dtc compile --emit=dot|svg`: a Graphviz picture of the placed IR.
# samples/mlp2d.dt renders to SVG with `dot -Tsvg` (graphviz is installed by
# scripts/setup.sh, so a missing `dot` FAILS this test), the SVG is valid
# XML and shows: both all_reduce collectives with their axis, bytes (equal
# to `dtc report`'s) and why; values with global type, placement and local
# shape; ops with file:line; source lines as tooltips.  --stop-after=PASS
# pictures an earlier IR (redistribute: the planned hexagons, no local
# shapes).  --emit=svg renders itself, and without `dot` on PATH it fails
# with one clear message.  Odd source text (quotes, backslashes, invalid
# UTF-8 in a comment) still gives a valid graph.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
DTC=$(realpath "$DTC")
mlp2d=$(realpath "$DTC_SRC/samples/mlp2d.dt")

n=$((n + 1))
if ! command -v dot >/dev/null 2>&1; then
  fail "Graphviz's dot is not installed (scripts/setup.sh installs graphviz)"
  echo "dot checks: $((n - fails)) passed, $fails failed"; exit 1
fi
pass "dot is installed: $(dot -V 2>&1)"

# check_svg NAME SVG WORDS... : valid XML containing every WORD (in text or tooltips)
check_svg() {
  local name=$1 svg=$2; shift 2
  n=$((n + 1))
  if "$PY" - "$svg" "$@" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
path, words = sys.argv[1], sys.argv[2:]
root = ET.parse(path).getroot()
assert root.tag.endswith("svg"), root.tag
texts = []
for el in root.iter():
    if el.text: texts.append(el.text)
    for k, v in el.attrib.items():
        if k.endswith("title"): texts.append(v)
blob = "\n".join(texts)
missing = [w for w in words if w not in blob]
if missing:
    print("missing:", missing); sys.exit(1)
PYEOF
  then pass "$name"; else fail "$name"; fi
}

# 1. --emit=dot, rendered with dot -Tsvg
n=$((n + 1))
if out=$("$DTC" compile "$mlp2d" --emit=dot -o "$tmp/mlp2d.dot" 2>&1) && [ -s "$tmp/mlp2d.dot" ]; then
  pass "dtc compile --emit=dot"
else fail "dtc compile --emit=dot: $out"; fi
n=$((n + 1))
if err=$(dot -Tsvg "$tmp/mlp2d.dot" -o "$tmp/mlp2d.svg" 2>&1) && [ -z "$err" ] && [ -s "$tmp/mlp2d.svg" ]; then
  pass "dot -Tsvg renders it without a warning"
else fail "dot -Tsvg: $err"; fi
report_bytes=$("$DTC" report "$mlp2d" | sed -n 's/.*all_reduce(tp, sum) of local.*: \([0-9]*\) bytes.*/\1/p' | sort -u)
n=$((n + 1))
if [ "$(printf '%s\n' "$report_bytes" | wc -l)" -eq 1 ] && [ -n "$report_bytes" ]; then
  pass "dtc report: every all_reduce sends $report_bytes bytes"
else fail "could not read the all_reduce bytes from dtc report: '$report_bytes'"; fi
n=$((n + 1))
count=$(grep -c "label=\"all_reduce over tp (sum)\\\\n$report_bytes bytes" "$tmp/mlp2d.dot")
if [ "$count" -eq 2 ]; then pass "two all_reduce nodes with the report's bytes"; else fail "$count all_reduce nodes labelled with $report_bytes bytes (want 2)"; fi
check_svg "the SVG shows the collectives, placements, local shapes, sources" "$tmp/mlp2d.svg" \
  "all_reduce over tp (sum)" "$report_bytes bytes (most any rank sends)" "why: add %26 needs operand 0 (%25) at M[S(0), R]; it" \
  "f32[16, 64] @ M[S(0), P(sum)]" "local f32[8, 64]" "local f32[64, 128]" "matmul" "mlp2d.dt:14" \
  "let h = relu(x @ w1 + b1);" "return x + (h @ w2 + b2);" "mesh M[dp=2, tp=2]: 4 ranks"
n=$((n + 1))
if grep -q 'fillcolor="#ffd8a8"' "$tmp/mlp2d.dot" && [ "$(grep -c 'shape=ellipse' "$tmp/mlp2d.dot")" -gt 5 ]; then
  pass "collectives are drawn unlike ordinary ops"
else fail "collectives not drawn distinctly"; fi

# 2. --emit=svg, default output name
n=$((n + 1))
if (cd "$tmp" && "$DTC" compile "$mlp2d" --emit=svg) && [ -s "$tmp/mlp2d.svg" ]; then
  pass "dtc compile --emit=svg writes mlp2d.svg"
else fail "--emit=svg"; fi
check_svg "--emit=svg shows the collectives" "$tmp/mlp2d.svg" "all_reduce over tp (sum)" "local f32[8, 64]"

# 3. an earlier pass
"$DTC" compile "$mlp2d" --emit=svg --stop-after=redistribute -o "$tmp/red.svg" 2>"$tmp/err"
n=$((n + 1))
if [ -s "$tmp/red.svg" ] && ! grep -q "local f32" "$tmp/red.svg"; then
  pass "--stop-after=redistribute: no local shapes yet"
else fail "--stop-after=redistribute: $(cat "$tmp/err")"; fi
check_svg "--stop-after=redistribute shows the planned redistributions" "$tmp/red.svg" \
  "after redistribute" "plan: all_reduce(tp, sum) -> M[S(0), R]" "M[S(0), P(sum)] -> M[S(0), R]"
"$DTC" compile "$mlp2d" --emit=dot --stop-after=sema -o "$tmp/sema.dot"
n=$((n + 1))
if dot -Tsvg "$tmp/sema.dot" -o "$tmp/sema.svg" 2>/dev/null && grep -q "relu_block" "$tmp/sema.svg"; then
  pass "--stop-after=sema: calls not yet inlined"
else fail "--stop-after=sema"; fi

# 4. a big mesh, and odd text in the source
n=$((n + 1))
if "$DTC" compile "$DTC_SRC/samples/transformer.dt" --mesh dp=64,tp=128 --emit=dot -o "$tmp/t.dot" &&
   dot -Tsvg "$tmp/t.dot" -o "$tmp/t.svg" 2>/dev/null && grep -q "8192 ranks" "$tmp/t.svg"; then
  pass "transformer on 8192 ranks renders"
else fail "transformer on 8192 ranks"; fi
printf 'mesh M[dp=2];\nfn main(x: f32[4, 4] @ M[S(0)] = ones()) -> f32[4, 4] @ M[R] {\n    let y = x * 2.0;   # "quoted" \\ back \\n \xff\xfe <b>&amp;\n    return y;\n}\n' > "$tmp/odd.dt"
n=$((n + 1))
if "$DTC" compile "$tmp/odd.dt" --emit=svg -o "$tmp/odd.svg" 2>"$tmp/err" && [ -s "$tmp/odd.svg" ]; then
  pass "odd source text renders"
else fail "odd source text: $(cat "$tmp/err")"; fi
check_svg "odd source text in the tooltip, escaped" "$tmp/odd.svg" '"quoted" \ back \n ?? <b>&amp;'

# 5. no dot on PATH: one clear error, exit 1
n=$((n + 1))
out=$(PATH=/nonexistent "$DTC" compile "$mlp2d" --emit=svg -o "$tmp/none.svg" 2>&1); rc=$?
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "needs Graphviz's 'dot' on PATH" && [ ! -e "$tmp/none.svg" ]; then
  pass "without dot: $out"
else fail "without dot: exit $rc: $out"; fi

echo "dot checks: $((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
