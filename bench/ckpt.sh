#!/bin/bash
# ckpt.sh - what --save and --load cost, as ratios to copying the same
# bytes with cp (the file system's own speed on this machine, page cache
# included).  A 2x2 program holds W: f32[R, C] @ M[S(0), S(1)] (default
# 4096 x 8192 = 128 MiB); it saves on 2x2 (threads) and loads on 1x4 with
# another placement (every rank reads parts of two shards) and on one rank.
# (arange(), not randn(): a cheap initialiser keeps the run it is compared
# with short, so the difference is not lost in its noise.)
#   save ratio = (run with --save - run without) / (cp -r of the checkpoint
#                + sync of the copies: --save fsyncs every file)
#   load ratio = (run with --load - run without) / cat of the checkpoint
#                (--load also checksums every shard file a rank reads from)
# Medians of N rounds (default 5).  usage: bench/ckpt.sh [ROWS COLS [ROUNDS]]
# env: DTC_BUILD (default build).
set -eu
ROWS=${1:-4096} COLS=${2:-8192} ROUNDS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DTC=${DTC_BUILD:-$SRC/build}/dtc
tmp=$(mktemp -d /tmp/bench_ckpt.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat > save.dt <<DT
mesh M[x=2, y=2];
fn main(w: f32[$ROWS, $COLS] @ M[S(0), S(1)] = arange()) -> f32[] @ M[R, R] { return sum(w); }
DT
cat > load.dt <<DT
mesh M[x=1, y=4];
fn main(w: f32[$ROWS, $COLS] @ M[R, S(0)] = zeros()) -> f32[] @ M[R, R] { return sum(w); }
DT
cat > one.dt <<DT
mesh M[x=1];
fn main(w: f32[$ROWS, $COLS] @ M[R] = zeros()) -> f32[] @ M[R] { return sum(w); }
DT
for p in save load one; do "$DTC" compile $p.dt -o $p; done
now() { date +%s.%N; }
t() { local t0; t0=$(now); "$@" > /dev/null; echo "$(now) - $t0" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
./save --ranks 4 --save ck > /dev/null
for r in $(seq "$ROUNDS"); do
    rm -rf ck2 cpy
    base=$(t ./save --ranks 4)
    save=$(t ./save --ranks 4 --save ck2)
    cp=$(t sh -c 'cp -r ck cpy && sync cpy/* cpy')
    cat=$(t sh -c 'cat ck/* > /dev/null')
    lbase=$(t ./load --ranks 4)
    load=$(t ./load --ranks 4 --load ck)
    obase=$(t ./one)
    one=$(t ./one --load ck)
    echo "$save $base $cp $load $lbase $one $obase $cat" >> times.txt
done
col() { awk -v c="$1" '{print $c}' times.txt | median; }
save=$(col 1) base=$(col 2) cp=$(col 3) load=$(col 4) lbase=$(col 5) one=$(col 6) obase=$(col 7) cat=$(col 8)
mib=$(echo "$ROWS * $COLS * 4 / 1048576" | bc)
printf "checkpoint of %d MiB (f32[%d, %d], 2x2 S(0),S(1)), medians of %d rounds\n" "$mib" "$ROWS" "$COLS" "$ROUNDS"
printf "  save 2x2:             %.3f s; cp -r + sync %.3f s; ratio %.2f\n" \
    "$(echo "$save - $base" | bc -l)" "$cp" "$(echo "($save - $base) / $cp" | bc -l)"
printf "  load 1x4 (S(0) on y): %.3f s; cat %.3f s;          ratio %.2f\n" \
    "$(echo "$load - $lbase" | bc -l)" "$cat" "$(echo "($load - $lbase) / $cat" | bc -l)"
printf "  load 1 rank:          %.3f s;                         ratio %.2f\n" \
    "$(echo "$one - $obase" | bc -l)" "$(echo "($one - $obase) / $cat" | bc -l)"
