"""bench/train_dtensor.py - the training step of bench/train_mlp_step.dt in
PyTorch DTensor on CPU, timed the way a dtc program times --iters.

4 processes (torch.multiprocessing.spawn, gloo, one thread each), a 2x2
DeviceMesh (dp, tp), the same placements through distribute_tensor (x, y:
[Shard(0), Replicate()]; w1: [Replicate(), Shard(1)]; w2: [Replicate(),
Shard(0)]), the same data (dt's Philox initialisers from tests/philox.py),
the same loss (mean squared error of gelu_tanh(x @ w1) @ w2 against y,
replicated as dtc returns it), loss.backward(), and a manual SGD update of
both weights.  Each iteration is `barrier; t0; step; barrier; t1` like
runtime/program.c; a round's time is rank 0's median over K iterations.

Rounds are interleaved with the dtc programs: after each DTensor round, rank 0
runs every `--dtc NAME=COMMAND` (a compiled bench/train_mlp_step.dt with
--iters K --warmup W) while the other ranks wait in a barrier, and reads its
`time: median` line and its loss.  At the end it prints the median over the
rounds of each, in steps/s, the ratios, and checks that every program's
loss equals DTensor's first-step loss (exit 1 if not).

Usage: PYTHON bench/train_dtensor.py [--iters K] [--warmup W] [--rounds R]
       [--dtc NAME=COMMAND ...]       (bench/train.sh is the driver)
"""
import argparse
import logging
import os
import re
import shlex
import socket
import subprocess
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import philox  # noqa: E402

# Must match bench/train_mlp_step.dt.
B, D, H, LR = 64, 256, 1024, 0.01
WORLD = 4


def data():
    return {"w1": philox.randn(1, (D, H), std=0.05), "w2": philox.randn(2, (H, D), std=0.03),
            "x": philox.randn(3, (B, D)), "y": philox.randn(4, (B, D), std=0.5)}


def run_dtc(cmd):
    """(median ms/iter, loss) of one compiled dtc program's timed run."""
    p = subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=600)
    t = re.search(r"^time: median ([0-9.]+) ms/iter", p.stdout, re.M)
    loss = re.search(r"^loss: f32\[\] sum=(\S+)", p.stdout, re.M)
    if p.returncode != 0 or not t or not loss:
        raise RuntimeError("%s failed:\n%s%s" % (cmd, p.stdout, p.stderr))
    return float(t.group(1)), float(loss.group(1))


def worker(rank, port, a, out):
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    torch.set_num_threads(1)
    logging.getLogger("torch.distributed.tensor").setLevel(logging.ERROR)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    full = {k: torch.from_numpy(v) for k, v in data().items()}
    x = distribute_tensor(full["x"], mesh, [Shard(0), Replicate()])
    y = distribute_tensor(full["y"], mesh, [Shard(0), Replicate()])
    w1 = distribute_tensor(full["w1"], mesh, [Replicate(), Shard(1)]).requires_grad_()
    w2 = distribute_tensor(full["w2"], mesh, [Replicate(), Shard(0)]).requires_grad_()

    def step():
        err = torch.nn.functional.gelu(x @ w1, approximate="tanh") @ w2 - y
        loss = (err * err).mean()
        loss.backward()
        loss = loss.redistribute(mesh, [Replicate(), Replicate()])
        with torch.no_grad():
            for w in (w1, w2):
                # the gradient as the weight is placed (a partial sum over dp is reduced)
                w -= LR * w.grad.redistribute(mesh, w.placements)
                w.grad = None
        return loss

    first = step().to_local().item()
    rounds = {"DTensor": []}
    losses = {"DTensor": first}
    for r in range(a.rounds):
        times = []
        for i in range(a.warmup + a.iters):
            dist.barrier()
            t0 = time.perf_counter()
            step()
            dist.barrier()
            if i >= a.warmup:
                times.append((time.perf_counter() - t0) * 1e3)
        if rank == 0:
            rounds["DTensor"].append(statistics.median(times))
            for spec in a.dtc:
                name, cmd = spec.split("=", 1)
                ms, losses[name] = run_dtc(cmd)
                rounds.setdefault(name, []).append(ms)
            print("round %d: %s" % (r + 1, ", ".join("%s %.3f ms" % (k, v[-1]) for k, v in rounds.items())),
                  flush=True)
        dist.barrier()
    if rank == 0:
        out.put((rounds, losses))
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dtc", action="append", default=[], metavar="NAME=COMMAND")
    a = ap.parse_args()
    import torch.multiprocessing as mp
    out = mp.get_context("spawn").SimpleQueue()
    mp.spawn(worker, args=(free_port(), a, out), nprocs=WORLD, join=True)
    rounds, losses = out.get()
    steps = {k: 1e3 / statistics.median(v) for k, v in rounds.items()}
    print("median over %d rounds of the per-round medians (%d iters, %d warm-up each):"
          % (a.rounds, a.iters, a.warmup))
    for k, v in steps.items():
        print("  %-28s %8.1f steps/s  (%.3f ms/step, first loss %.7g)" % (k, v, 1e3 / v, losses[k]))
    for k in rounds:
        if k != "DTensor":
            print("%s steps/s, DTensor steps/s, ratio: %.1f, %.1f, %.2f" % (k, steps[k], steps["DTensor"],
                                                                          steps[k] / steps["DTensor"]))
    want = losses["DTensor"]
    bad = [k for k in losses if abs(losses[k] - want) > 1e-5 * abs(want)]
    if bad:
        print("FAIL: the first-step loss differs from DTensor's: %s" % ", ".join(bad))
        return 1
    print("ok: every first-step loss equals DTensor's (%.7g)" % want)
    return 0


if __name__ == "__main__":
    sys.exit(main())
