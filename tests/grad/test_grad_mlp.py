"""value_and_grad of an MLP: numpy formula, sharded execution, collectives.

1. tests/grad/mlp_grad.dt (tanh MLP + cross_entropy, f64) under `dtc run`
   equals the hand-derived backward in numpy (rtol 1e-10);
2. the same program compiled for its mesh dp=2,tp=2 and for dp=3,tp=2
   (uneven: 8 rows over 3), run with --ranks, equals `dtc run` (f64, 1e-12);
3. `dtc report` of the data-parallel MLP (dp_mlp_grad.dt, replicated weights)
   shows exactly one all_reduce(dp, sum) per weight gradient and nothing else;
   of the FSDP one (fsdp_mlp_grad.dt, weights S(0) over dp) one all_gather
   per weight and one reduce_scatter(dp, sum) per weight gradient; both,
   compiled for dp=4, equal `dtc run` (f32, 1e-5).
Env: DTC (the dtc binary), DTC_SRC.
"""
import json, os, subprocess, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DTC_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))
DTC = os.environ.get("DTC") or os.path.join(SRC, "build", "dtc")
failures = []

def check(ok, msg):
    print(("ok   " if ok else "FAIL ") + msg)
    if not ok:
        failures.append(msg)

def close(got, ref, rtol, atol):
    return got.shape == ref.shape and np.all(np.abs(got - ref) <= rtol * np.abs(ref) + atol * np.max(np.abs(ref)))

def numpy_grads(w1, b1, w2, x, y):
    z = x @ w1 + b1
    h = np.tanh(z)
    logits = h @ w2
    m = logits.max(axis=1, keepdims=True)
    p = np.exp(logits - m)
    p /= p.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dlogits = p.copy()
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n
    gw2 = h.T @ dlogits
    dz = (dlogits @ w2.T) * (1.0 - h * h)
    return {"l": np.array(loss), "gw1": x.T @ dz, "gb1": dz.sum(axis=0), "gw2": gw2}

def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return p.stdout

def main():
    rng = np.random.default_rng(3)
    prog = os.path.join(HERE, "mlp_grad.dt")
    ins = {"w1": rng.standard_normal((16, 32)) * 0.3, "b1": rng.standard_normal(32) * 0.1,
           "w2": rng.standard_normal((32, 10)) * 0.3, "x": rng.standard_normal((8, 16)),
           "y": rng.integers(0, 10, 8).astype(np.int32)}
    outs = ["l", "gw1", "gb1", "gw2"]
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for n, a in ins.items():
            np.save(os.path.join(tmp, n + ".npy"), a)
            args += ["--in", "%s=%s" % (n, os.path.join(tmp, n + ".npy"))]
        def outargs(tag):
            r = []
            for o in outs:
                r += ["--out", "%s=%s" % (o, os.path.join(tmp, "%s_%s.npy" % (tag, o)))]
            return r
        def load(tag):
            return {o: np.load(os.path.join(tmp, "%s_%s.npy" % (tag, o))) for o in outs}
        run([DTC, "run", prog] + args + outargs("ref"))
        ref = load("ref")
        want = numpy_grads(**ins)
        for o in outs:
            check(close(ref[o], want[o], 1e-10, 1e-12), "dtc run %s == numpy formula" % o)
        for mesh, ranks in [(None, 4), ("dp=3,tp=2", 6)]:
            exe = os.path.join(tmp, "mlp")
            run([DTC, "compile", prog, "-o", exe] + (["--mesh", mesh] if mesh else []))
            tag = "r%d" % ranks
            run([exe, "--ranks", str(ranks)] + args + outargs(tag))
            got = load(tag)
            for o in outs:
                check(close(got[o], ref[o], 1e-12, 1e-12), "compiled on %s: %s == dtc run" % (mesh or "dp=2,tp=2", o))
    for name, want in [("dp_mlp_grad.dt", {"all_reduce": 2}),
                       ("fsdp_mlp_grad.dt", {"all_gather": 2, "reduce_scatter": 2})]:
        with tempfile.TemporaryDirectory() as tmp:
            exe, names = os.path.join(tmp, "p"), ["l", "gw1", "gw2"]
            run([DTC, "run", os.path.join(HERE, name)] + sum([["--out", "%s=%s/r_%s.npy" % (o, tmp, o)] for o in names], []))
            run([DTC, "compile", os.path.join(HERE, name), "-o", exe])
            run([exe, "--ranks", "4"] + sum([["--out", "%s=%s/c_%s.npy" % (o, tmp, o)] for o in names], []))
            for o in names:
                got, ref = np.load("%s/c_%s.npy" % (tmp, o)), np.load("%s/r_%s.npy" % (tmp, o))
                check(close(got, ref, 1e-5, 1e-5), "%s compiled on dp=4: %s == dtc run (f32)" % (name, o))
        rep = json.loads(run([DTC, "report", os.path.join(HERE, name), "--format=json"]))
        for r in rep["ranks"]:
            kinds = {}
            for c in r["collectives"]:
                kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
            grads = sorted(c["result"].split(".")[0] for c in r["collectives"]
                           if c["kind"] in ("all_reduce", "reduce_scatter"))
            ok = kinds == want and grads == ["%gw1", "%gw2"] and all(
                c["axes"] == ["dp"] and c.get("red", "sum") == "sum" for c in r["collectives"])
            check(ok, "%s rank %d: collectives %s (want %s, one reduction per weight gradient)"
                  % (name, r["rank"], kinds, want))
    print("%d failures" % len(failures))
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
