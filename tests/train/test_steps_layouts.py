"""test_steps_layouts.py - the step loop on uneven, nested, empty and partial
shards (steps_layouts.dt): per_step rand / randn parameters split unevenly
and nested (each rank draws its own box of step s's values), a stacked --in
for a P(sum) parameter (rank 0 of the partial axis reads its box, the
others hold zeros), fed parameters that are nested-split, uneven and P(sum)
(their buffers swap with the results'), and a fed scalar counter.  4 steps
(3 stacked values, so step 4 takes value 0 again): `dtc run`, the compiled
program with --ranks 4 and under mpirun -np 4 all equal a NumPy model that
makes the per-step data from tests/philox.py; the progress lines name the one
scalar result that feeds nothing (total).
Env: DTC, DTC_SRC.
"""
import os, re, subprocess, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: philox.py, shard_harness.py
from shard_harness import Verdicts  # noqa: E402
from philox import rand, randn, step_seed  # noqa: E402

SRC = os.environ.get("DTC_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC") or os.path.join(SRC, "build", "dtc")
PROG = os.path.join(HERE, "steps_layouts.dt")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
OUTS = ["total", "acc2", "q2", "v2", "n2", "last_e"]
STEPS = 4


check = Verdicts()  # prints and counts each check

def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return p.stdout


def model(ps):
    acc, q, v, n = np.zeros((5, 3)), np.ones(5), np.zeros((3, 7)), 0.0
    for st in range(STEPS):
        s = rand(step_seed(7, st), (5, 3), -1.0, 1.0).astype(np.float64)
        u = randn(step_seed(8, st), (3, 7), 0.5).astype(np.float64)
        e = randn(step_seed(9, st), (1, 4))
        acc = acc + s * (n + 1.0)
        q = q * 0.5 + ps[st % len(ps)]
        v = v + u * u
        n = n + 1.0
    total = acc.sum() + q.sum() + v.sum()
    return {"total": np.array(total), "acc2": acc, "q2": q, "v2": v, "n2": np.array(n), "last_e": e}


def main():
    ps = np.random.default_rng(5).standard_normal((3, 5)).astype(np.float32)
    want = model(ps.astype(np.float64))
    with tempfile.TemporaryDirectory() as tmp:
        stack = os.path.join(tmp, "ps.npy")
        np.save(stack, ps)
        exe = os.path.join(tmp, "layouts")
        run([DTC, "compile", PROG, "-o", exe])
        runs = {"dtc run": [DTC, "run", PROG], "--ranks 4": [exe, "--ranks", "4"],
                "mpirun -np 4": ["mpirun", "-np", "4", "--oversubscribe", exe]}
        for label, cmd in runs.items():
            tag = label.split()[-1]
            outs = []
            for o in OUTS:
                outs += ["--out", "%s=%s" % (o, os.path.join(tmp, "%s_%s.npy" % (tag, o)))]
            out = run(cmd + ["--steps", str(STEPS), "--log-every", "2", "--in", "p=" + stack] + outs)
            lines = re.findall(r"^step (\d+)/4  total (\S+)  \(\S+ steps/s\)$", out, re.M)
            check([int(s) for s, _ in lines] == [1, 2, 4], "%s: progress lines at steps 1, 2, 4 naming total" % label)
            for o in OUTS:
                got = np.load(os.path.join(tmp, "%s_%s.npy" % (tag, o)))
                ok = got.shape == want[o].shape and np.allclose(got, want[o], rtol=1e-5, atol=1e-5)
                check(ok, "%s --steps 4: %s == numpy" % (label, o))
    sys.exit(check.exit())


if __name__ == "__main__":
    main()
