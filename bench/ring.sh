#!/usr/bin/env bash
# bench/ring.sh - causal ring attention (tests/ring/gen_ring.py, head-tail
# layout) at T=4096, D=64, B=1 on cp = 1, 2, 4 under mpirun -np cp:
#   report MiB    `dtc report`'s peak memory per rank (the largest rank's)
#   RSS MiB       measured max RSS per rank (/usr/bin/time %M, the largest
#                 rank's; it includes the MPI runtime's own, about `base`,
#                 the max RSS of the cp=1 program on a T=64 input)
#   ratios        of both to cp=1 (ideal for the K/V and q blocks is 1/cp;
#                 the score block [T/cp, T/cp] falls as 1/cp^2)
#   ms            median time per iteration (--iters, rank 0)
#   max err       of one run on random q, k, v (--in, permuted into the
#                 head-tail order, the output permuted back) against numpy's
#                 causal attention in f64, relative to its largest magnitude
#   busy max/min  from --trace: per rank, the summed duration (wall) of
#                 the operations (collectives excluded) of the timed
#                 iterations; the most loaded rank's over the least loaded's.
#                 With more ranks than cores this counts a rank's waits for
#                 a core too, so it is noise on a small machine
#   work max/min  the work balance: per rank, the median over the timed
#                 iterations of the operations' CPU time in the iteration
#                 (cpu_us: the rank's thread, without its waits for a
#                 core); the most loaded rank's over the least loaded's.
#                 The median, since one iteration's CPU time still varies
#                 by about 15% on a shared machine (a busy sibling
#                 hyperthread, cache contention, a VM's stolen time)
#   exposed ms    rank 0's --profile "exposed communication" per iteration
#                 (time inside collective calls: starts and waits), and
#                 after the slash the same program compiled --no-overlap
#                 (blocking collective_permutes)
#   overlap       from --trace: of the rank's collective_permutes, how many
#                 ran as a start with operations traced before their wait
#                 (the send in flight while the block computes), and the
#                 time spent in those waits (exposed: ms per iteration,
#                 largest rank)
# The first line is the load average (uptime) before the runs: with a
# load near the core count the timings are noisy.
# Variant `op` (rows "op CP"): the same attention written as the built-in
# attention(q, k, v, causal=true) with q, k, v split S(1) over cp, which the
# compiler lowers to ring attention itself (passes/ring_attention.c: the
# head-tail zigzag ring, the layout changed inside); report MiB, RSS MiB,
# ms and max err as above.
# The ring computes every score block, masked or not (dt has no branches),
# so busy time is balanced in both layouts; the head-tail layout balances
# the causally visible (useful) entries, which tests/ring/test_ring.py counts.
#
#   bench/ring.sh [--iters N] [--t T]
#
# Uses the build tree in $DTC_BUILD (default build/).  Exit status 1 if a
# result's max err exceeds 1e-5.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DTC_BUILD:-$ROOT/build}
ITERS=5 T=4096 FAIL=0
while [ $# -gt 0 ]; do
    case $1 in --iters) ITERS=$2; shift 2;; --t) T=$2; shift 2;; *) echo "usage: $0 [--iters N] [--t T]"; exit 2;; esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
PY=/usr/bin/python3
OUT=$BUILD/bench-ring
mkdir -p "$OUT"
maxrss() { # the largest rank's max RSS in KiB of: mpirun -np N PROG ARGS...
    local np=$1 kib="" try; shift
    for try in 1 2 3; do # a rank's line can come back mangled in mpirun's forwarded stderr
        kib=$(mpirun --oversubscribe -np "$np" /usr/bin/time -f 'maxrss %M' "$@" 2>&1 >/dev/null |
              sed -n 's/^maxrss \([0-9]*\)$/\1/p' | sort -n | tail -1)
        [ -n "$kib" ] && break
    done
    echo "${kib:?no max RSS from /usr/bin/time under mpirun}"
}
$PY "$ROOT/tests/ring/gen_ring.py" 1 --t 64 --b 1 --d 64 > "$OUT/base.dt"
"$BUILD/dtc" compile "$OUT/base.dt" -o "$OUT/base"
BASE=$(maxrss 1 "$OUT/base")
$PY - "$OUT" "$T" <<'PYEOF'
import sys, numpy as np
rng = np.random.default_rng(7)
for n in "qkv":
    np.save("%s/%s.npy" % (sys.argv[1], n), rng.standard_normal((1, int(sys.argv[2]), 64)).astype(np.float32))
PYEOF
echo "load before the runs: $(uptime | sed 's/.*load average/load average/') on $(nproc) cores"
exposed() { # rank 0's exposed communication, ms/iter, of program $1 on $cp ranks
    mpirun --oversubscribe -np $cp "$1" --iters "$ITERS" --warmup 1 --profile |
        sed -n 's/.*exposed communication: \([0-9.]*\) ms.*/\1/p'
}
trace_stats() { # busy max/min, work max/min and the permutes' overlap from trace $1
    $PY - "$1" "$ITERS" <<'PYEOF'
import json, sys
ev = json.load(open(sys.argv[1]))
ev = ev["traceEvents"] if isinstance(ev, dict) else ev
iters = int(sys.argv[2])
per = {}
for e in ev:
    if e.get("ph") == "X":
        per.setdefault((e["pid"], e["tid"]), []).append(e)
busy, work, overlapped, total, wait = [], [], 0, 0, []
for evs in per.values():
    evs.sort(key=lambda e: e["ts"])
    its = [e for e in evs if e["cat"] == "iteration"][-iters:]
    lo, hi = its[0]["ts"], its[-1]["ts"] + its[-1]["dur"]
    evs = [e for e in evs if lo <= e["ts"] <= hi and e["cat"] != "iteration"]
    busy.append(sum(e["dur"] for e in evs if e["cat"] == "op"))
    per_iter = {}
    for e in evs:
        if e["cat"] == "op":
            per_iter[e["args"]["iteration"]] = per_iter.get(e["args"]["iteration"], 0) + e["args"]["cpu_us"]
    work.append(sorted(per_iter.values())[len(per_iter) // 2])
    w = 0.0
    for i, e in enumerate(evs):
        if e["cat"] != "collective" or "collective_permute" not in e["name"]:
            continue
        total += 1
        j = next((j for j in range(i + 1, len(evs)) if evs[j]["cat"] == "collective_wait"
                  and evs[j]["name"] == e["name"] + " wait"), None)
        if j is not None and any(x["cat"] == "op" for x in evs[i + 1:j]):
            overlapped += 1
            w += evs[j]["dur"]
    wait.append(w / iters / 1000.0)
print("%.3f %.3f %d/%d starts overlapped, waits %.3f ms/iter" % (max(busy) / min(busy), max(work) / min(work),
                                                                  overlapped, total, max(wait)))
PYEOF
}
measure() { # compiles $1.dt on $cp ranks; sets peak, rss, ms (with trace $1.json), exposed
    "$BUILD/dtc" compile "$1.dt" -o "$1"
    peak=$("$BUILD/dtc" report --format=json "$1.dt" |
           $PY -c 'import json,sys; print(max(r["peak_memory_bytes"] for r in json.load(sys.stdin)["ranks"]))')
    rss=$(maxrss $cp "$1")
    ms=$(mpirun --oversubscribe -np $cp "$1" --iters "$ITERS" --warmup 1 --trace "$1.json" |
         sed -n 's/.*median \([0-9.e+-]*\) *ms.*/\1/p' | head -1)
    "$BUILD/dtc" compile "$1.dt" --no-overlap -o "$1.blocking"
    exposed="$(exposed "$1")/$(exposed "$1.blocking")"
}
max_err() { # relative max error of result $1 against numpy; $2: headtail (rows in head-tail order) or natural
    $PY - "$OUT" "$1" "$T" "$cp" "$2" "$ROOT/tests/ring" <<'PYEOF'
import sys, numpy as np
out, res, t, cp, layout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, sys.argv[6])
from gen_ring import causal_attention, headtail_order
ref = causal_attention(*(np.load("%s/%s.npy" % (out, n)) for n in "qkv"))[0]
got = np.load(res)[0].astype(np.float64)
if layout == "headtail":
    got[headtail_order(t, cp)] = got.copy()
print("%.1e" % (np.abs(got - ref).max() / np.abs(ref).max()))
PYEOF
}
row() { # checks err, then prints one table row labelled $1 from the measured globals
    $PY -c "import sys; sys.exit(float('$err') > 1e-5)" || { echo "ring.sh: $1 differs from numpy ($err)"; FAIL=1; }
    if [ "$cp" = 1 ]; then peak1=$peak rss1=$rss; fi
    printf '%-4s %10.1f %10.3f %10.1f %10.3f %10s %9s %12s %12s %14s %s\n' "$1" "$(echo "$peak / 1048576" | bc -l)" \
        "$(echo "$peak / $peak1" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
        "$(echo "($rss - $BASE) / ($rss1 - $BASE)" | bc -l)" "$ms" "$err" "$busy" "$work" "$exposed" "$over"
}
printf '%-4s %10s %10s %10s %10s %10s %9s %12s %12s %14s %s\n' cp "report MiB" ratio "RSS MiB" ratio ms "max err" "busy max/min" "work max/min" "exposed ms" overlap
for cp in 1 2 4; do
    prog=$OUT/ring$cp
    $PY "$ROOT/tests/ring/gen_ring.py" $cp --t "$T" --b 1 --d 64 > "$prog.dt"
    measure "$prog"
    read -r busy work over <<< "$(trace_stats "$prog.json")"
    ins=()
    for n in q k v; do
        $PY -c "import sys; sys.path.insert(0, '$ROOT/tests/ring'); import numpy as np; from gen_ring import headtail_order
np.save('$prog.$n.npy', np.load('$OUT/$n.npy')[:, headtail_order($T, $cp)])"
        ins+=(--in "$n=$prog.$n.npy")
    done
    mpirun --oversubscribe -np $cp "$prog" "${ins[@]}" --out "out0=$prog.out.npy" >/dev/null
    err=$(max_err "$prog.out.npy" headtail)
    row "$cp"
done
for cp in 1 2 4; do # variant op: the compiler's ring (natural order in and out)
    prog=$OUT/op$cp
    cat > "$prog.dt" <<EOF
mesh M[cp=$cp];
fn main(q: f32[1, $T, 64] @ M[S(1)] = randn(seed=1), k: f32[1, $T, 64] @ M[S(1)] = randn(seed=2),
        v: f32[1, $T, 64] @ M[S(1)] = randn(seed=3)) -> f32[1, $T, 64] @ M[S(1)] {
    return attention(q, k, v, causal=true);
}
EOF
    measure "$prog"
    read -r busy work over <<< "$(trace_stats "$prog.json")"
    mpirun --oversubscribe -np $cp "$prog" --in q=$OUT/q.npy --in k=$OUT/k.npy --in v=$OUT/v.npy \
        --out "out0=$prog.out.npy" >/dev/null
    err=$(max_err "$prog.out.npy" natural)
    row "op $cp"
done
printf 'base RSS (cp=1, T=64): %.1f MiB; the RSS ratio is of RSS - base\n' "$(echo "$BASE / 1024" | bc -l)"
exit $FAIL
