"""test_train_mlp.py - multi-step runs of samples/train_mlp.dt (issue 10 B).

1. 200 steps (--steps 200) compiled for the sample's mesh dp=2,tp=2 and for
   dp=1,tp=4 (--mesh), 4 ranks as threads: the loss of step 200 is below
   12% of step 1's (measured: 0.8987 -> 0.0493, 5.5%, on both meshes), and
   the two meshes end with the same weights (f32 reassociation only);
2. 5 steps against an independent NumPy implementation of the same model,
   data and optimiser: Philox4x32-10, rt_step_seed and Box-Muller written
   again from their definitions (tests/philox.py),
   the teacher target, the hand-derived backward, SGD with momentum; every
   fed result (--out) and the loss of every step (the progress lines) of
   `dtc run --steps 5`, of the compiled program (--ranks 4) and under
   `mpirun -np 4` agree with it to f32 tolerance, and compiled == `dtc run`;
3. a stacked --in (x given as 3 batches, step s takes batch s mod 3; each
   rank reads its own box of the file): compiled, `dtc run` and NumPy agree;
4. bad combinations are one clear error: --steps 0, --iters with --steps,
   --log-every without --steps, a stack for a fed parameter.
Env: DTC (the dtc binary), DTC_SRC.
"""
import os, re, subprocess, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: philox.py, shard_harness.py
from shard_harness import Verdicts  # noqa: E402
SRC = os.environ.get("DTC_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC") or os.path.join(SRC, "build", "dtc")
PROG = os.path.join(SRC, "samples", "train_mlp.dt")
B, D, H, LR, MOMENTUM = 64, 32, 64, 0.1, 0.9
FED = ["new_w1", "new_w2", "buf1", "buf2"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


check = Verdicts()  # prints and counts each check

def close(got, ref, rtol, atol):
    return got.shape == ref.shape and bool(np.all(np.abs(got - ref) <= rtol * np.abs(ref) + atol * np.max(np.abs(ref))))


def run(cmd, ok=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV)
    if ok and p.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return p


def losses(stdout):
    """{step: loss} from the progress lines `step S/N  loss V  (R steps/s)`."""
    return {int(m.group(1)): float(m.group(2))
            for m in re.finditer(r"^step (\d+)/\d+  loss (\S+)  \(\S+ steps/s\)$", stdout, re.M)}


from philox import randn, step_seed  # noqa: E402


# ---- the model, in float64 from the f32 initial values ----------------------------------
def numpy_train(steps, xs=None):
    """Runs the sample's steps; returns (losses by step, final fed results)."""
    f = lambda a: a.astype(np.float64)
    wt1, wt2 = f(randn(2, (D, H), 0.2)), f(randn(3, (H, D), 0.125))
    w1, w2 = f(randn(4, (D, H), 0.2)), f(randn(5, (H, D), 0.125))
    m1, m2 = np.zeros((D, H)), np.zeros((H, D))
    out = {}
    for s in range(steps):
        x = f(xs[s % len(xs)]) if xs is not None else f(randn(step_seed(1, s), (B, D)))
        t = np.tanh(x @ wt1) @ wt2
        h = np.tanh(x @ w1)
        d = h @ w2 - t
        out[s + 1] = np.mean(d * d)
        dy = 2.0 * d / d.size
        g2 = h.T @ dy
        g1 = x.T @ ((dy @ w2.T) * (1.0 - h * h))
        m1, m2 = MOMENTUM * m1 + g1, MOMENTUM * m2 + g2
        w1, w2 = w1 - LR * m1, w2 - LR * m2
    return out, {"new_w1": w1, "new_w2": w2, "buf1": m1, "buf2": m2}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        def outs(tag):
            r = []
            for n in FED:
                r += ["--out", "%s=%s" % (n, os.path.join(tmp, "%s_%s.npy" % (tag, n)))]
            return r

        def load(tag):
            return {n: np.load(os.path.join(tmp, "%s_%s.npy" % (tag, n))) for n in FED}

        exe = {}
        for mesh in ["dp=2,tp=2", "dp=1,tp=4"]:
            exe[mesh] = os.path.join(tmp, "train_" + mesh.replace(",", "_").replace("=", ""))
            run([DTC, "compile", PROG, "--mesh", mesh, "-o", exe[mesh]])

        # 1. 200 steps learn, on both meshes alike
        for mesh, e in exe.items():
            tag = "long" + mesh[3]
            p = run([e, "--ranks", "4", "--steps", "200", "--log-every", "50"] + outs(tag))
            ls = losses(p.stdout)
            check(sorted(ls) == [1, 50, 100, 150, 200], "%s: progress lines at steps 1, 50, 100, 150, 200 (got %s)" % (mesh, sorted(ls)))
            first, last = ls.get(1, np.nan), ls.get(200, np.nan)
            check(np.isfinite(first) and np.isfinite(last) and last < 0.12 * first,
                  "%s: loss of step 200 (%g) below 12%% of step 1's (%g)" % (mesh, last, first))
            check(re.search(r"^loss: f32\[\] sum=", p.stdout, re.M) is not None, "%s: result lines after the steps" % mesh)
        a, b = load("long2"), load("long1")
        for n in FED:
            check(close(a[n], b[n], 1e-3, 1e-4), "200 steps: %s on dp=2,tp=2 == on dp=1,tp=4" % n)

        # 2. 5 steps == numpy, through the interpreter, threads and MPI
        want_loss, want = numpy_train(5)
        runs = {"dtc run": [DTC, "run", PROG],
                "compiled --ranks 4": [exe["dp=2,tp=2"], "--ranks", "4"],
                "mpirun -np 4": ["mpirun", "-np", "4", "--oversubscribe", exe["dp=2,tp=2"]]}
        got = {}
        for label, cmd in runs.items():
            tag = "s5_" + label.split()[0].replace("-", "")
            p = run(cmd + ["--steps", "5", "--log-every", "1"] + outs(tag))
            got[label] = load(tag)
            ls = losses(p.stdout)
            check(sorted(ls) == [1, 2, 3, 4, 5] and all(abs(ls[s] - want_loss[s]) <= 1e-3 * want_loss[s] for s in ls),
                  "%s: the loss of every step == numpy (%s vs %s)" % (label, [ls.get(s) for s in range(1, 6)],
                                                                      ["%.4g" % want_loss[s] for s in range(1, 6)]))
            for n in FED:
                check(close(got[label][n], want[n], 1e-4, 1e-5), "%s --steps 5: %s == numpy" % (label, n))
        for label in ["compiled --ranks 4", "mpirun -np 4"]:
            for n in FED:
                check(close(got[label][n], got["dtc run"][n], 1e-5, 1e-6), "%s --steps 5: %s == dtc run" % (label, n))

        # 3. a stack of 3 batches for x
        xs = np.random.default_rng(7).standard_normal((3, B, D)).astype(np.float32)
        stack = os.path.join(tmp, "xs.npy")
        np.save(stack, xs)
        _, want = numpy_train(5, xs)
        for label, cmd in [("dtc run", [DTC, "run", PROG]), ("compiled", [exe["dp=2,tp=2"], "--ranks", "4"])]:
            tag = "stack_" + label.split()[0]
            run(cmd + ["--steps", "5", "--in", "x=" + stack] + outs(tag))
            g = load(tag)
            for n in FED:
                check(close(g[n], want[n], 1e-4, 1e-5), "%s --in x=stack of 3 --steps 5: %s == numpy" % (label, n))

        # 4. clear errors
        e = exe["dp=2,tp=2"]
        bad_w = os.path.join(tmp, "w1s.npy")
        np.save(bad_w, np.zeros((2, D, H), np.float32))
        for args, want_msg in [(["--steps", "0"], "--steps expects a positive integer, got '0'"),
                               (["--steps", "3", "--iters", "2"], "cannot be combined with --steps 3"),
                               (["--log-every", "2"], "--log-every needs --steps"),
                               (["--steps", "2", "--in", "w1=" + bad_w], "a result feeds w1")]:
            p = run([e, "--ranks", "4"] + args, ok=False)
            lines = p.stderr.strip().splitlines()
            check(p.returncode != 0 and len(lines) == 1 and want_msg in lines[0],
                  "%s: one clear error (%s)" % (" ".join(args), p.stderr.strip()))
        p = run([DTC, "run", PROG, "--steps", "2", "--in", "w1=" + bad_w], ok=False)
        check(p.returncode != 0 and "a result feeds w1" in p.stderr, "dtc run: a stack for a fed parameter is refused")
        p = run([DTC, "run", PROG, "--steps", "0"], ok=False)
        check(p.returncode == 2 and "--steps expects a positive integer" in p.stderr, "dtc run --steps 0 is refused")

    sys.exit(check.exit())


if __name__ == "__main__":
    main()
