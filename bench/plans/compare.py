#!/usr/bin/env python3
"""bench/plans/compare.py - dtc's plans against the plans an expert writes.

For each row (a model in bench/plans/, a mesh), runs `dtc report
--format=json` and prints, per rank (the most loaded one), dtc's collectives
and bytes, the expert plan's, and `dtc bytes / expert bytes`; also the
greedy placement choice (`--beam=1`, one instruction at a time, what dtc did
before the whole-function search) for comparison, and how many collectives
move an entry parameter (an annotated weight or input) as it is, which an
expert never does: `moved` must be 0.

Bytes follow `dtc report`'s convention (passes/cost.c): the largest number
of bytes a rank sends in the collective, exact for uneven pieces:
  all_reduce of n local elements over k ranks   2 (n - floor(n / k))
  all_gather to n elements / reduce_scatter of n  n - (smallest piece)
  all_to_all of an n-element block               n - (the part it keeps)
times the element size.  The expert plans below are written out by hand from
the models' math (Megatron-LM for tensor and sequence parallelism, one
all_reduce per gradient for data parallelism, loss_parallel for the
vocabulary-parallel cross-entropy, GShard for the mixture of experts).

usage: compare.py [--check]   (--check: exit 1 unless every ratio <= 1.00
                               and no row moves a parameter)
env: DTC (default build/dtc), DTC_SRC (default: two levels up).
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DTC_SRC", os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC", os.path.join(SRC, "build", "dtc"))


def chunks(n, k):
    """torch.chunk piece lengths of n over k."""
    c = -(-n // k) if n else 0
    return [max(0, min(n, (i + 1) * c) - min(n, i * c)) for i in range(k)]


def all_reduce(n, k, es=4):
    return 2 * (n - n // k) * es


def all_gather(n_full, k, es=4):        # also reduce_scatter of n_full elements
    return (n_full - min(chunks(n_full, k))) * es


def all_to_all(n_block, k, es=4):
    return (n_block - min(chunks(n_block, k))) * es


reduce_scatter = all_gather

# (label, file, --mesh or None, [(kind, bytes)] of the expert plan, per rank)
B, T, D = 1, 512, 512                    # gpt2_block*.dt
ACT = B * T * D
N_CE = 512                               # vocab_ce.dt
TB, TD, TH = 2048, 64, 256               # train_*.dt
ROWS = [
    ("GPT-2 block, Megatron TP", "gpt2_block.dt", "tp=2",
     [("all_reduce", all_reduce(ACT, 2))] * 2),
    ("GPT-2 block, Megatron TP", "gpt2_block.dt", "tp=4",
     [("all_reduce", all_reduce(ACT, 4))] * 2),
    ("GPT-2 block, sequence parallel", "gpt2_block_sp.dt", "tp=2",
     [("all_gather", all_gather(ACT, 2)), ("reduce_scatter", reduce_scatter(ACT, 2))] * 2),
    ("GPT-2 block, sequence parallel", "gpt2_block_sp.dt", "tp=4",
     [("all_gather", all_gather(ACT, 4)), ("reduce_scatter", reduce_scatter(ACT, 4))] * 2),
    ("Llama block, GQA (NKV = tp)", "llama_block.dt", "tp=2",
     [("all_reduce", all_reduce(1 * 256 * 512, 2))] * 2),
    ("vocab-parallel cross-entropy", "vocab_ce.dt", "tp=4",
     [("all_reduce", all_reduce(N_CE, 4))] * 3),
    ("training step, DP x TP", "train_dp_tp.dt", "dp=2,tp=2",
     [("all_reduce", all_reduce(TB // 2 * TD, 2)),          # y over tp
      ("all_reduce", all_reduce(TD * TH // 2, 2)),          # dw1 shard over dp
      ("all_reduce", all_reduce(TH // 2 * TD, 2)),          # dw2 shard over dp
      ("all_reduce", all_reduce(1, 2))]),                   # the loss
    ("training step, DP x TP, value_and_grad", "train_grad_dp_tp.dt", "dp=2,tp=2",
     [("all_reduce", all_reduce(TB // 2 * TD, 2)),
      ("all_reduce", all_reduce(TD * TH // 2, 2)),
      ("all_reduce", all_reduce(TH // 2 * TD, 2)),
      ("all_reduce", all_reduce(1, 2))]),
    ("expert-parallel MoE (GShard)", os.path.abspath(os.path.join(SRC, "samples", "moe.dt")), "ep=2",
     [("all_to_all", all_to_all(2 * 4 * 3 * 16, 2))] * 2),   # [G, E, C, D] groups <-> experts
    ("training step, pure DP, value_and_grad", "train_grad_dp.dt", "dp=4",
     [("all_reduce", all_reduce(TD * TH, 4)),
      ("all_reduce", all_reduce(TH * TD, 4)),
      ("all_reduce", all_reduce(1, 4))]),
    ("training step, FSDP, value_and_grad", "train_grad_fsdp.dt", "dp=4",
     [("all_gather", all_gather(TD * TH, 4)),               # each weight, gathered for use
      ("all_gather", all_gather(TH * TD, 4)),
      ("reduce_scatter", reduce_scatter(TD * TH, 4)),       # each gradient, to its shards
      ("reduce_scatter", reduce_scatter(TH * TD, 4)),
      ("all_reduce", all_reduce(1, 4))]),
    ("training step, pure DP", "train_dp.dt", "dp=4",
     [("all_reduce", all_reduce(TD * TH, 4)),
      ("all_reduce", all_reduce(TH * TD, 4)),
      ("all_reduce", all_reduce(1, 4))]),
]
EXTRA = os.path.join(HERE, "rows_extra.py")   # rows of models that live elsewhere
if os.path.exists(EXTRA):
    exec(open(EXTRA).read())

COMM = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")


def report(path, mesh, beam=None):
    args = [DTC, "report", path, "--format=json"]
    if mesh:
        args += ["--mesh", mesh]
    if beam:
        args += [f"--beam={beam}"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if p.returncode:
        raise SystemExit(f"{' '.join(args)}: {p.stderr}")
    rep = json.loads(p.stdout)
    worst = max(rep["ranks"], key=lambda r: r["total_bytes"])
    return worst["total_collectives"], worst["total_bytes"]


def moved_params(path, mesh):
    """Collectives whose operand is an entry parameter as it is (or after a
    local shard / to_partial of it), in the per-rank program."""
    args = [DTC, "compile", path, "--stop-after=optimise", "--print-after=optimise", "-o", os.devnull]
    if mesh:
        args += ["--mesh", mesh]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if p.returncode:
        raise SystemExit(f"{' '.join(args)}: {p.stderr}")
    text = p.stderr
    sig = text[text.index("func @main("):]
    sig = sig[:sig.index("{\n")]
    params = set(re.findall(r"(%[\w.]+): ", sig))
    moved = []
    for line in text.splitlines():
        m = re.match(r"\s+(%[\w.]+): .* = (\w+) (%[\w.]+)", line)
        if not m:
            continue
        res, op, arg = m.groups()
        if arg in params and op in ("shard", "to_partial"):
            params.add(res)
        elif arg in params and op in COMM:
            moved.append(f"{op} {arg}")
    return moved


def main():
    check = "--check" in sys.argv[1:]
    print(f"{'model':40} {'mesh':10} {'dtc':>16} {'expert':>16} {'dtc/expert':>10} "
          f"{'greedy/expert':>13} {'moved':>5}")
    bad = 0
    for label, fname, mesh, expert in ROWS:
        path = fname if os.path.isabs(fname) else os.path.join(HERE, fname)
        n, b = report(path, mesh)
        gn, gb = report(path, mesh, beam=1)
        eb = sum(x for _, x in expert)
        ratio = b / eb if eb else (0.0 if b == 0 else float("inf"))
        gratio = gb / eb if eb else float("inf")
        moved = moved_params(path, mesh)
        if "FSDP" in label:   # the expert gathers each weight: that is the plan
            moved = [m for m in moved if not m.startswith("all_gather")]
        flag = ""
        if ratio > 1.0 + 1e-9 or moved:
            bad += 1
            flag = "  <- " + ("; ".join(moved) if moved else "more bytes than the expert")
        print(f"{label:40} {mesh or '':10} {n:3d} / {b:10d} {len(expert):3d} / {eb:10d} "
              f"{ratio:10.2f} {gratio:13.2f} {len(moved):5d}{flag}")
    print(f"{len(ROWS) - bad} rows at or below the expert, {bad} above")
    return 1 if check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
