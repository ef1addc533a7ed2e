"""samples/train_gpt2.dt against its independent numpy implementation
(tests/train/ref_gpt2.py, float64, hand-written backward and AdamW).

1. The numpy backward itself agrees with central finite differences.
2. `--entry grads` (the loss and the gradient of every weight) under
   `dtc run`, compiled with --ranks 4 (threads), compiled under
   `mpirun -np 4`, and compiled for the uneven meshes dp=3,tp=2 and
   dp=1,tp=3 (threads), equals numpy.
3. `main` (one AdamW step: the loss, every updated weight and both moments,
   t + 1) equals numpy in the same five runs; the initial data comes from
   the program's own Philox initialisers (tests/philox.py), no --in.
4. Five steps in one run (--steps 5: the state fed back in memory, a new
   batch every step from per_step=true), under `dtc run`, compiled
   (--ranks 4) and under mpirun: every step's logged loss and the final
   weights and moments equal numpy's five steps, and the loss falls.
5. 200 steps on 2x2 and on 1x4 (--mesh dp=1,tp=4): the loss falls below
   1% of the first step's.
The program is float32 and numpy float64, so values are held to float32
tolerances, relative to each tensor's largest entry.  Adam's first steps
divide by |g|, so an updated weight is compared through its update, which
may differ by a whole step where |g| is within float32 noise of 0.
Env: DTC (the dtc binary), DTC_SRC.
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
sys.path.insert(0, HERE)
import ref_gpt2 as ref  # noqa: E402

SRC = os.environ.get("DTC_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC") or os.path.join(SRC, "build", "dtc")
PROG = os.path.join(SRC, "samples", "train_gpt2.dt")
STATE = ref.NAMES + ["m_" + n for n in ref.NAMES] + ["v_" + n for n in ref.NAMES] + ["t"]


check = Verdicts()  # prints and counts each check

def max_err(got, want, floor):
    """Largest error relative to the tensor's largest entry, or to `floor` if
    that is larger: a tensor that is nearly 0 (a moment of a weight whose
    gradient is tiny) is held to the scale of its family, not to its own
    rounding."""
    if got.shape != want.shape:
        return np.inf
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), floor))


def family_floor(tensors):
    """1e-3 of the largest entry among tensors of one kind (all gradients, ...)."""
    return 1e-3 * max(float(np.max(np.abs(t))) for t in tensors)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return p.stdout


class Runner:
    """One way of running the program: dtc run, compiled with threads, or mpirun."""

    def __init__(self, tmp, how, mesh=None, ranks=4):
        self.tmp, self.how, self.mesh, self.ranks, self.exe = tmp, how, mesh, ranks, {}
        self.label = how + (" on " + mesh if mesh else "")

    def __call__(self, entry, outs, ins=None, tag="x", extra=()):
        args = list(extra)
        for name, path in (ins or {}).items():
            args += ["--in", "%s=%s" % (name, path)]
        files = {o: os.path.join(self.tmp, "%s%d_%s_%s.npy" % (self.how, self.ranks, tag, o)) for o in outs}
        for o, path in files.items():
            args += ["--out", "%s=%s" % (o, path)]
        if self.how == "interp":
            self.stdout = run([DTC, "run", PROG, "--entry", entry] + args)
        else:
            if entry not in self.exe:
                self.exe[entry] = os.path.join(self.tmp, "gpt2_%s_%d" % (entry, self.ranks))
                run([DTC, "compile", PROG, "--entry", entry, "-o", self.exe[entry]] +
                    (["--mesh", self.mesh] if self.mesh else []))
            if self.how == "threads":
                self.stdout = run([self.exe[entry], "--ranks", str(self.ranks)] + args)
            else:
                env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
                self.stdout = run(["mpirun", "--oversubscribe", "-np", "4", self.exe[entry]] + args, env)
        return {o: np.load(path) for o, path in files.items()}


def check_step(label, got, p0, want_p, want_m, want_v, steps):
    """Weights through their update (see the top), moments directly."""
    worst_w = worst_m = worst_v = 0.0
    floor_m, floor_v = family_floor(want_m.values()), family_floor(want_v.values())
    for n in ref.NAMES:
        upd_got = got[n + "_next"].astype(np.float64) - p0[n]
        upd_want = want_p[n] - p0[n]
        # Where |g| is not within noise of 0, the update is a smooth function
        # of g: compare it to 1e-3 of the update's scale (LR per step).
        worst_w = max(worst_w, float(np.max(np.abs(upd_got - upd_want))) / (ref.LR * steps))
        worst_m = max(worst_m, max_err(got["m_" + n + "_next"], want_m[n], floor_m))
        worst_v = max(worst_v, max_err(got["v_" + n + "_next"], want_v[n], floor_v))
    check(worst_w < 2e-2, "%s: every updated weight == numpy (worst |update error| = %.2e x LR x steps)"
          % (label, worst_w))
    # rounding differences in the weights grow the moments' error step by step
    check(worst_m < 1e-5 * steps and worst_v < 1e-5 * steps, "%s: every first and second moment == numpy "
          "(worst error %.2e, %.2e of the largest)" % (label, worst_m, worst_v))
    check(float(got["t_next"]) == steps, "%s: t_next == %d" % (label, steps))


def main():
    fd = ref.finite_difference_check()
    check(fd < 1e-5, "numpy backward == central differences (worst relative error %.1e)" % fd)
    p0 = {k: v.astype(np.float64) for k, v in ref.initial_weights().items()}
    ids, labels = ref.batch(ref.initial_start())
    loss0, grads = ref.loss_and_grads(p0, ids, labels)
    _, p1, m1, v1 = ref.train(1)
    have_mpi = shutil.which("mpirun") is not None
    check(have_mpi, "mpirun is installed")
    with tempfile.TemporaryDirectory() as tmp:
        # the declared 2x2 mesh three ways, then uneven ones: 8 sequences over
        # 3 ranks, and 4 heads, 64 features and 64 vocabulary rows over 3
        runners = [Runner(tmp, "interp"), Runner(tmp, "threads")] + ([Runner(tmp, "mpi")] if have_mpi else []) + \
            [Runner(tmp, "threads", "dp=3,tp=2", 6), Runner(tmp, "threads", "dp=1,tp=3", 3)]
        for runner in runners:
            how = runner.label
            got = runner("grads", ["loss"] + ["g_" + n for n in ref.NAMES])
            check(abs(float(got["loss"]) - loss0) < 1e-5 * loss0,
                  "%s: loss %.6f == numpy %.6f" % (how, float(got["loss"]), loss0))
            floor = family_floor(grads.values())
            errs = {n: max_err(got["g_" + n], grads[n], floor) for n in ref.NAMES}
            worst = max(errs, key=errs.get)
            check(errs[worst] < 1e-5, "%s: all %d gradients == numpy (worst %s: %.2e of its largest entry)"
                  % (how, len(errs), worst, errs[worst]))
            got = runner("main", ["loss"] + [s + "_next" for s in STATE])
            check(abs(float(got["loss"]) - loss0) < 1e-5 * loss0, "%s: step 1 loss == numpy" % how)
            check_step("%s, 1 step" % how, got, p0, p1, m1, v1, 1)

        steps = 5
        losses, p5, m5, v5 = ref.train(steps)
        for how in ["interp", "threads"] + (["mpi"] if have_mpi else []):
            runner = Runner(tmp, how)
            got = runner("main", ["loss"] + [n + "_next" for n in STATE], tag="steps",
                         extra=["--steps", str(steps), "--log-every", "1"])
            got_losses = [float(x) for x in re.findall(r"^step \d+/%d  loss (\S+)  \(" % steps, runner.stdout, re.M)]
            check(len(got_losses) == steps, "%s: --steps %d logs %d losses" % (how, steps, len(got_losses)))
            # the log prints 4 digits; the last step's loss is also a result
            err = max([abs(a - b) / b for a, b in zip(got_losses, losses)] or [np.inf])
            check(err < 1e-3 and abs(float(got["loss"]) - losses[-1]) < 1e-5 * losses[-1],
                  "%s, --steps %d: losses %s == numpy %s" % (how, steps, " ".join("%.4g" % x for x in got_losses),
                                                            " ".join("%.4g" % x for x in losses)))
            check(got_losses[-1] < got_losses[0] - 0.5, "%s: the loss falls over %d steps" % (how, steps))
            check_step("%s, --steps %d" % (how, steps), got, p0, p5, m5, v5, steps)

        for mesh in [None, "dp=1,tp=4"]:
            runner = Runner(tmp, "threads", mesh)
            runner("main", [], tag="long", extra=["--steps", "200", "--log-every", "200"])
            got_losses = [float(x) for x in re.findall(r"^step \d+/200  loss (\S+)  \(", runner.stdout, re.M)]
            check(len(got_losses) == 2 and got_losses[1] < 0.01 * got_losses[0],
                  "%s, --steps 200: loss %s -> %s (below 1%% of the first)"
                  % (runner.label, got_losses[0] if got_losses else "?", got_losses[-1] if got_losses else "?"))
    return check.exit()


if __name__ == "__main__":
    sys.exit(main())
