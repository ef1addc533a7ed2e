"""Save, load elsewhere, go on training: the losses continue as an
uninterrupted run's (issue 10, sharded checkpoints).

samples/train_gpt2.dt (AdamW, per-step batches, every weight, moment and the
step counter t fed from step to step) runs 10 steps on its 2x2 mesh without
a break.  Then 5 steps on 2x2 save a checkpoint (--save), and the remaining
5 steps run from it (--load) on:
  - the same 2x2 mesh (threads, and mpirun -np 4): every logged line and
    every --out file is bit for bit the uninterrupted run's on the same
    backend (MPI may add partial sums in another order than threads, so
    under mpirun both halves and the reference run under mpirun);
  - 1x4 (--mesh dp=1,tp=4) and one rank (--mesh dp=1,tp=1), where the
    shards are cut differently and sums run in another order: the logged
    steps are 6..10, the losses equal the uninterrupted ones to the log's 4
    digits, the final loss to 1e-5, and every weight to 2% of its update
    (AdamW divides by |g|, so elements whose gradient is rounding noise may
    move by a step's worth; see test_gpt2_step.py).
`dtc checkpoint merge` of the 5-step checkpoint equals the 5-step run's
--out state.
Env: DTC, DTC_SRC.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: shard_harness.py
from shard_harness import Verdicts  # noqa: E402
SRC = os.environ.get("DTC_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC") or os.path.join(SRC, "build", "dtc")
PROG = os.path.join(SRC, "samples", "train_gpt2.dt")
WEIGHTS = ["wte", "wpe", "ln1_g", "ln1_b", "wq", "bq", "wk", "wv", "bv", "wo", "bo", "ln2_g", "ln2_b",
           "fc1", "b1", "fc2", "b2", "lnf_g", "lnf_b"]
STATE = WEIGHTS + ["m_" + n for n in WEIGHTS] + ["v_" + n for n in WEIGHTS] + ["t"]
LR = 0.003
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


check = Verdicts()  # prints and counts each check

def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


def log_lines(out):
    """The progress lines without their rate: 'step 6/10  loss 3.1'."""
    return [m.group(1) for m in re.finditer(r"^(step \d+/\d+  loss \S+)  \(", out, re.M)]


def without_total(lines):
    """'step 3/5  loss 3.7' -> 'step 3  loss 3.7'."""
    return [re.sub(r"/\d+", "", l, count=1) for l in lines]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        exe = {}
        for label, mesh in [("2x2", None), ("1x4", "dp=1,tp=4"), ("1", "dp=1,tp=1")]:
            exe[label] = os.path.join(tmp, "gpt2_" + label)
            run([DTC, "compile", PROG, "-o", exe[label]] + (["--mesh", mesh] if mesh else []))
        ranks = {"2x2": 4, "1x4": 4, "1": 1}

        def outs(tag, names):
            files = {n: os.path.join(tmp, "%s_%s.npy" % (tag, n)) for n in names}
            return files, [a for n, f in files.items() for a in ("--out", "%s=%s" % (n, f))]

        # 10 steps without a break
        full, args = outs("full", ["loss"] + [n + "_next" for n in STATE])
        ref_log = log_lines(run([exe["2x2"], "--ranks", "4", "--steps", "10", "--log-every", "1"] + args))
        check(len(ref_log) == 10, "uninterrupted: 10 logged steps")
        ref = {n: np.load(f) for n, f in full.items()}
        have_mpi = shutil.which("mpirun") is not None
        check(have_mpi, "mpirun is installed")
        ref_mpi, ref_mpi_log = None, None
        if have_mpi:   # MPI's reductions may add in another order than threads': its own reference
            full_mpi, args = outs("full_mpi", ["loss"] + [n + "_next" for n in STATE])
            ref_mpi_log = log_lines(run(["mpirun", "--oversubscribe", "-np", "4", exe["2x2"], "--steps", "10",
                                         "--log-every", "1"] + args, MPI_ENV))
            ref_mpi = {n: np.load(f) for n, f in full_mpi.items()}
            ck_mpi = os.path.join(tmp, "ckpt_mpi")   # the first 5 steps under MPI too
            run(["mpirun", "--oversubscribe", "-np", "4", exe["2x2"], "--steps", "5", "--save", ck_mpi], MPI_ENV)

        # 5 steps, saved
        ck = os.path.join(tmp, "ckpt")
        half, args = outs("half", [n + "_next" for n in STATE])
        first = log_lines(run([exe["2x2"], "--ranks", "4", "--steps", "5", "--log-every", "1", "--save", ck] + args))
        check(without_total(first) == without_total(ref_log[:5]),
              "5 steps then --save: the first 5 lines equal the uninterrupted run's")
        merged = os.path.join(tmp, "merged")
        run([DTC, "checkpoint", "merge", ck, merged])
        same = all(np.array_equal(np.load(os.path.join(merged, n + ".npy")), np.load(half[n + "_next"]))
                   for n in STATE)
        check(same, "dtc checkpoint merge == the 5-step run's state (%d tensors, bit for bit)" % len(STATE))

        # 5 more from the checkpoint, on three meshes
        cases = [("2x2", "threads"), ("2x2", "mpi"), ("1x4", "threads"), ("1", "threads")]
        for label, how in cases:
            tag = "resume_%s_%s" % (label, how)
            got_files, args = outs(tag, ["loss"] + [n + "_next" for n in STATE])
            cmd = [exe[label], "--load", ck_mpi if how == "mpi" else ck, "--steps", "5", "--log-every", "1"] + args
            if how == "mpi":
                if not have_mpi:
                    continue
                out = run(["mpirun", "--oversubscribe", "-np", "4"] + cmd, MPI_ENV)
            else:
                out = run(cmd[:1] + ["--ranks", str(ranks[label])] + cmd[1:])
            lines = log_lines(out)
            got = {n: np.load(f) for n, f in got_files.items()}
            name = "--load on %s (%s)" % (label, how)
            if label == "2x2":
                want_log, want = (ref_mpi_log, ref_mpi) if how == "mpi" else (ref_log, ref)
                check(lines == want_log[5:], "%s: steps 6..10 log exactly the uninterrupted lines" % name)
                exact = all(np.array_equal(got[n], want[n]) for n in want)
                check(exact, "%s: the final loss and all %d state tensors are bit for bit the "
                      "uninterrupted run's" % (name, len(STATE)))
                continue
            steps = [l.split()[1] for l in lines]
            check(steps == ["%d/10" % s for s in range(6, 11)], "%s: the log counts steps 6..10 (%s)"
                  % (name, " ".join(steps)))
            want = [float(l.split()[3]) for l in ref_log[5:]]
            have = [float(l.split()[3]) for l in lines]
            close = len(have) == 5 and all(abs(a - b) <= 1.5e-3 * abs(b) for a, b in zip(have, want))
            check(close, "%s: losses %s == uninterrupted %s" % (name, " ".join("%.4g" % x for x in have),
                                                                 " ".join("%.4g" % x for x in want)))
            lerr = abs(float(got["loss"]) - float(ref["loss"])) / float(ref["loss"])
            check(lerr < 1e-5, "%s: final loss %.7g == %.7g (relative %.1e)"
                  % (name, float(got["loss"]), float(ref["loss"]), lerr))
            worst = max(float(np.max(np.abs(got[n + "_next"].astype(np.float64) - ref[n + "_next"])))
                        for n in WEIGHTS) / (LR * 10)
            check(worst < 2e-2, "%s: every weight == the uninterrupted run's (worst %.1e x LR x steps)"
                  % (name, worst))
            check(float(got["t_next"]) == 10.0, "%s: t == 10" % name)
    return check.exit()


if __name__ == "__main__":
    sys.exit(main())
