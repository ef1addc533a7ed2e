#!/usr/bin/env python3
"""bench/plans/auto.py - auto-sharding against the Megatron plan.

For each model with every weight `@ M[auto]` and its twin with the Megatron
placements written by hand, on each mesh: the per-rank bytes of entry
parameters the Megatron plan holds become the memory budget
(`--memory-budget`), and dtc's estimated time (`dtc report`) for the auto
plan must be no worse than the Megatron plan's.  Prints both estimates, the
collectives, and the placements dtc chose.

usage: auto.py [--check]    (--check: exit 1 if an auto plan is slower)
env: DTC (default build/dtc), DTC_SRC.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DTC_SRC", os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC", os.path.join(SRC, "build", "dtc"))
PAIRS = [("GPT-2 block", "gpt2_block_2d.dt", "gpt2_block_2d_auto.dt"),
         ("training step (DP x TP MLP)", "train_dp_tp.dt", "train_dp_tp_auto.dt")]
MESHES = ["dp=2,tp=2", "dp=1,tp=4"]
ESIZE = {"f32": 4, "i32": 4, "f64": 8}


def run(args):
    p = subprocess.run([DTC] + args, capture_output=True, text=True, timeout=300)
    if p.returncode:
        raise SystemExit(f"dtc {' '.join(args)}: {p.stderr}")
    return p.stdout, p.stderr


def param_bytes(path, mesh, *extra):
    """Bytes of the entry parameters on the most loaded rank (local shapes of the dump)."""
    _, err = run(["compile", path, "--mesh", mesh, "--stop-after=optimise",
                  "--print-after=optimise", "-o", os.devnull] + list(extra))
    sig = err[err.index("func @main("):]
    sig = sig[:sig.index("{\n")]
    total = 0
    for dt, local in re.findall(r": (f32|i32|f64)\[[^]]*\] @ M\[[^]]*\](?: pinned)? local=\[([^]]*)\]", sig):
        n = 1
        for d in filter(None, local.split(", ")):
            n *= max(int(x) for x in d.split("|"))
        total += n * ESIZE[dt]
    return total


def estimate(out):
    m = re.search(r"^estimated time: ([\d.]+) us", out, re.M)
    t = re.findall(r"^  total: (\d+) collectives?, (\d+) bytes", out, re.M)
    return float(m.group(1)), max(t, key=lambda x: int(x[1]))


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    for label, manual, auto in PAIRS:
        for mesh in MESHES:
            mp, ap = os.path.join(HERE, manual), os.path.join(HERE, auto)
            budget = param_bytes(mp, mesh)
            mt, (mn, mb) = estimate(run(["report", mp, "--mesh", mesh])[0])
            out, _ = run(["report", ap, "--mesh", mesh, f"--memory-budget={budget}"])
            at, (an, ab) = estimate(out)
            got = param_bytes(ap, mesh, f"--memory-budget={budget}")
            ok = at <= mt * (1 + 1e-9) and got <= budget
            bad += not ok
            print(f"{label} on {mesh}: Megatron {mt:.3f} us ({mn} collectives, {mb} bytes), "
                  f"auto {at:.3f} us ({an} collectives, {ab} bytes), auto / Megatron = {at / mt:.4f}; "
                  f"parameters {got} of budget {budget} bytes{'' if ok else '  <- WORSE'}")
            for line in out.splitlines():
                if line.startswith("  %") and "@ M[" in line:
                    print("    " + line.strip())
    print(f"{len(PAIRS) * len(MESHES) - bad} auto plans no worse than Megatron, {bad} worse")
    return 1 if check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
