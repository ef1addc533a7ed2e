"""std/optim.dt (sgd, sgd_momentum, adamw) against numpy's PyTorch formulas.

test_optim.dt imports "std/optim.dt" and runs three steps of each optimiser
on a rank-2 weight [5, 6] and a rank-1 weight [7] (uneven over the 2x2 mesh;
weights and the three gradients of each in different placements), returning
the weight and state after step 1 and after step 3 (t = 1 and t = 3), and
value_and_grad of a function with shape variables that calls std's sgd.
Checked:
1. `dtc run` equals the numpy implementation below, written from the
   torch.optim documentation (SGD, SGD momentum=0.9, AdamW), to f32
   tolerance (2e-6 of each result's largest magnitude; f32 rounding gives ~1e-7);
2. the program compiled for its mesh and run with --ranks 4 equals numpy
   just as closely;
3. a copy of the dtc binary in another directory, away from the source
   tree, still finds std/optim.dt (it is embedded in the binary).
Env: DTC (the dtc binary), DTC_SRC.
"""
import os, shutil, subprocess, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: shard_harness.py
from shard_harness import Verdicts  # noqa: E402
SRC = os.environ.get("DTC_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC") or os.path.join(SRC, "build", "dtc")
PROG = os.path.join(HERE, "test_optim.dt")


check = Verdicts()  # prints and counts each check

def rel_err(got, ref):
    """Largest difference over ref's largest magnitude (inf: shapes differ)."""
    if got.shape != ref.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    return float(np.max(np.abs(got - ref), initial=0.0)) / scale


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


# ---- torch.optim's update rules, in float64 --------------------------------
def sgd(w, g, lr):
    return w - lr * g


def sgd_momentum(w, g, buf, lr, momentum, first):
    # torch: buf = clone(g) on the first step, else buf * momentum + g (dampening 0)
    buf = g.copy() if first else buf * momentum + g
    return w - lr * buf, buf


def adamw(w, g, m, v, step, lr, beta1, beta2, eps, wd):
    w = w * (1 - lr * wd)
    m = m + (g - m) * (1 - beta1)            # exp_avg.lerp_(grad, 1 - beta1)
    v = v * beta2 + g * g * (1 - beta2)      # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
    step_size = lr / (1 - beta1 ** step)
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** step) + eps
    return w - step_size * m / denom, m, v


def reference(w, gs, suffix):
    f32 = lambda x: float(np.float32(x))     # the program's hyper-parameters are f32
    out = {}
    x = w
    for t, g in enumerate(gs, 1):
        x = sgd(x, g, f32(0.1))
        if t in (1, 3):
            out["sgd_%s%d" % (suffix, t)] = x
    x, buf = w, None
    for t, g in enumerate(gs, 1):
        x, buf = sgd_momentum(x, g, buf, f32(0.1), f32(0.9), t == 1)
        if t in (1, 3):
            out["mom_%s%d" % (suffix, t)], out["buf_%s%d" % (suffix, t)] = x, buf
    x, m, v = w, np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gs, 1):
        x, m, v = adamw(x, g, m, v, t, f32(0.01), f32(0.9), f32(0.999), f32(1e-8), f32(0.1))
        if t in (1, 3):
            out["adam_%s%d" % (suffix, t)], out["m_%s%d" % (suffix, t)], out["v_%s%d" % (suffix, t)] = x, m, v
    out["loss_" + suffix] = np.array(np.sum((w - 0.5 * gs[0]) * w))
    out["grad_" + suffix] = 2 * w - 0.5 * gs[0]
    return out


def main():
    rng = np.random.default_rng(10)
    ins = {}
    for suffix, shape in (("a", (5, 6)), ("b", (7,))):
        ins["w" + suffix] = rng.standard_normal(shape).astype(np.float32)
        for t in (1, 2, 3):
            ins["g%s%d" % (suffix, t)] = (rng.standard_normal(shape) * 0.5).astype(np.float32)
    want = {}
    for suffix in "ab":
        w = ins["w" + suffix].astype(np.float64)
        gs = [ins["g%s%d" % (suffix, t)].astype(np.float64) for t in (1, 2, 3)]
        want.update(reference(w, gs, suffix))
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for n, a in ins.items():
            np.save(os.path.join(tmp, n + ".npy"), a)
            args += ["--in", "%s=%s" % (n, os.path.join(tmp, n + ".npy"))]

        def outs(tag):
            r = []
            for o in want:
                r += ["--out", "%s=%s" % (o, os.path.join(tmp, "%s_%s.npy" % (tag, o)))]
            return r

        def compare(tag, what):
            for o, ref in want.items():
                got = np.load(os.path.join(tmp, "%s_%s.npy" % (tag, o)))
                err = rel_err(got.astype(np.float64), ref)
                check(err <= 2e-6, "%s: %s %s == numpy (torch.optim formula; error %.1e of its largest value)"
                      % (what, o, "x".join(map(str, ref.shape)) or "scalar", err))

        run([DTC, "run", PROG] + args + outs("run"))
        compare("run", "dtc run")
        exe = os.path.join(tmp, "optim")
        run([DTC, "compile", PROG, "-o", exe])
        run([exe, "--ranks", "4"] + args + outs("ranks4"))
        compare("ranks4", "compiled, --ranks 4")
        # the standard library travels inside the binary
        alone = os.path.join(tmp, "elsewhere")
        os.mkdir(alone)
        shutil.copy(DTC, os.path.join(alone, "dtc"))
        shutil.copy(PROG, os.path.join(alone, "prog.dt"))
        p = subprocess.run([os.path.join(alone, "dtc"), "check", "prog.dt"], cwd=alone,
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0 and not os.path.exists(os.path.join(alone, "std")),
              "a copied dtc in %s finds std/optim.dt without the source tree %s" % ("elsewhere/", p.stderr.strip()))
    return check.exit()


if __name__ == "__main__":
    sys.exit(main())
