#!/bin/bash
# test_time_passes.sh - `--time-passes` prints one line per pass and code
# generation phase; the LLVM (and C) code of a program is cut into functions
# of at most CG_CHUNK_STEPS (32) steps whose number grows with the program
# while the largest stays the same size; and large-ish generated programs
# (bench/compile_gen.py: a chain with matmuls and all_reduces, a chain of
# elementwise ops longer than one fused loop may hold, a wide DAG) give the
# results of `dtc run` when compiled and run on 4 ranks.
set -u
: "${DTC:?DTC must name the dtc binary}"
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PY:-python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
CHUNK=32

# want_phases NAME FILE PHASE... : every PHASE has a "time: PHASE ... s wall ... s cpu" line
want_phases() {
    local name=$1 file=$2 missing=""
    shift 2
    for p in "$@"; do
        grep -Eq "^time: $p +[0-9.]+ s wall +[0-9.]+ s cpu$" "$file" || missing="$missing '$p'"
    done
    if [ -n "$missing" ]; then fail "$name: no time line for$missing:"; cat "$file"; else echo "ok: $name: $# phases timed"; fi
}

mlp=$DTC_SRC/samples/mlp.dt
if "$DTC" compile "$mlp" --time-passes -o "$tmp/mlp" 2>"$tmp/err"; then
    want_phases "compile (LLVM, exe)" "$tmp/err" frontend inline propagate redistribute partition optimise schedule fuse \
        verify lower emit "LLVM optimise" "LLVM object" link total
    grep -Eq '^size: [0-9]+ instructions$' "$tmp/err" || fail "compile: no 'size: N instructions' line"
else
    fail "dtc compile --time-passes failed: $(cat "$tmp/err")"
fi
"$DTC" compile "$mlp" --time-passes --emit=c -o "$tmp/mlp.c" 2>"$tmp/err" &&
    want_phases "compile --emit=c" "$tmp/err" frontend optimise lower emit total || fail "--emit=c --time-passes failed"
"$DTC" check "$mlp" --time-passes 2>"$tmp/err" && want_phases check "$tmp/err" frontend total ||
    fail "check --time-passes failed"
"$DTC" run "$mlp" --time-passes >/dev/null 2>"$tmp/err" && want_phases run "$tmp/err" frontend inline interpret total ||
    fail "run --time-passes failed"
"$DTC" report "$mlp" --time-passes >/dev/null 2>"$tmp/err" &&
    want_phases report "$tmp/err" frontend partition optimise report total || fail "report --time-passes failed"
"$DTC" compile "$mlp" -o "$tmp/mlp2" 2>"$tmp/err" && [ ! -s "$tmp/err" ] && echo "ok: no time lines without the option" ||
    fail "compile without --time-passes wrote to stderr: $(cat "$tmp/err")"

# functions: chunks of at most CHUNK steps (a step: one profile region or
# one collective site), more chunks for a longer program, largest the same
chunk_stats() { # FILE.ll -> "chunks max_steps_per_chunk max_lines_per_function"
    awk '/^define/ { fn = $0; chunk = ($0 ~ /_c[0-9]+\(/); nchunks += chunk; lines = 0; steps = 0; next }
         /^}/ { if (lines > maxl) maxl = lines; fn = ""; next }
         fn != "" { lines++ }
         fn != "" && chunk && /call .*@(rt_prof_begin|rt_site)\(/ { steps++; if (steps > maxs) maxs = steps }
         END { printf "%d %d %d\n", nchunks, maxs, maxl }' "$1"
}
for n in 300 3000; do
    $PY "$DTC_SRC/bench/compile_gen.py" wide $n > "$tmp/wide$n.dt"
    "$DTC" compile "$tmp/wide$n.dt" -O2 --emit=llvm -o "$tmp/wide$n.ll" 2>"$tmp/err" ||
        fail "compile wide $n --emit=llvm: $(cat "$tmp/err")"
done
read -r c1 s1 l1 < <(chunk_stats "$tmp/wide300.ll")
read -r c2 s2 l2 < <(chunk_stats "$tmp/wide3000.ll")
echo "wide 300: $c1 chunks, at most $s1 steps each, largest function $l1 lines"
echo "wide 3000: $c2 chunks, at most $s2 steps each, largest function $l2 lines"
[ "$c1" -ge 2 ] && [ "$c2" -ge $((5 * c1)) ] && echo "ok: the number of chunks grows with the program" ||
    fail "chunks: $c1 for 300 ops, $c2 for 3000 (want >= 2, and 5x more)"
[ "$s1" -ge 1 ] && [ "$s1" -le $CHUNK ] && [ "$s2" -le $CHUNK ] && echo "ok: at most $CHUNK steps per chunk" ||
    fail "steps per chunk: $s1, $s2 (want 1..$CHUNK)"
[ "$l2" -le $((l1 * 3 / 2 + 50)) ] && echo "ok: the largest function does not grow with the program" ||
    fail "largest function: $l1 lines for 300 ops, $l2 for 3000"

# the C backend cuts its functions the same way
c_stats() { # FILE.c -> "chunks max_lines_per_function"
    awk '/^static int .*\(rt_ctx \*ctx/ { infn = 1; lines = 0; nchunks += ($0 ~ /_c[0-9]+\(rt_ctx/); next }
         infn && /^}/ { if (lines > maxl) maxl = lines; infn = 0; next }
         infn { lines++ }
         END { printf "%d %d\n", nchunks, maxl }' "$1"
}
for n in 300 3000; do
    "$DTC" compile "$tmp/wide$n.dt" --emit=c -o "$tmp/wide$n.c" 2>"$tmp/err" || fail "compile wide $n --emit=c: $(cat "$tmp/err")"
done
read -r c1 l1 < <(c_stats "$tmp/wide300.c")
read -r c2 l2 < <(c_stats "$tmp/wide3000.c")
echo "C, wide 300: $c1 chunks, largest function $l1 lines; wide 3000: $c2 chunks, largest $l2 lines"
[ "$c1" -ge 2 ] && [ "$c2" -ge $((5 * c1)) ] && [ "$l2" -le $((l1 * 3 / 2 + 50)) ] &&
    echo "ok: C functions: more chunks for a longer program, the largest the same size" ||
    fail "C functions: $c1 / $c2 chunks, largest $l1 / $l2 lines"

# results: compiled on 4 ranks == dtc run
for prog in "chain 3000" "ew 500" "wide 3000"; do
    set -- $prog
    dt=$tmp/$1_$2.dt
    $PY "$DTC_SRC/bench/compile_gen.py" "$1" "$2" > "$dt"
    if ! "$DTC" run "$dt" > "$tmp/ref" 2>"$tmp/err"; then fail "$prog: dtc run: $(cat "$tmp/err")"; continue; fi
    if ! "$DTC" compile "$dt" -O2 -o "$tmp/exe" 2>"$tmp/err"; then fail "$prog: dtc compile: $(cat "$tmp/err")"; continue; fi
    if ! "$tmp/exe" --ranks 4 > "$tmp/got" 2>"$tmp/err"; then fail "$prog: the program failed: $(cat "$tmp/err")"; continue; fi
    if $PY - "$tmp/ref" "$tmp/got" <<'PYEOF'
import re, sys
def sums(path):
    out = {}
    for line in open(path):
        m = re.match(r"(\S+): \S+\[[^]]*\] sum=(\S+) l2=(\S+)", line)
        if m:
            out[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return out
ref, got = sums(sys.argv[1]), sums(sys.argv[2])
ok = bool(ref) and ref.keys() == got.keys() and all(
    abs(r - g) <= 1e-4 * max(1.0, abs(r)) for k in ref for r, g in zip(ref[k], got[k]))
print("   ", ref, "vs", got)
sys.exit(0 if ok else 1)
PYEOF
    then echo "ok: $prog: compiled on 4 ranks == dtc run"; else fail "$prog: results differ from dtc run"; fi
done

[ $fails -eq 0 ] && echo "test_time_passes: all ok" || echo "test_time_passes: $fails failed"
[ $fails -eq 0 ]
