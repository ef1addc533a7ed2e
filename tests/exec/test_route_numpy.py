"""test_route_numpy.py - the lookup / routing family against NumPy itself.

Inputs with ties, NaNs, negative and repeated indices go in with --in; the
results of `dtc run`, `dtc run --simulate` (every rank in the interpreter)
and the compiled program (--ranks N, on a mesh with uneven and empty shards
along the split axes) must equal an independent NumPy implementation:
argmax / argmin (first index on ties, NaN wins), cumsum, one_hot (jax:
out-of-range ids give zero rows), take_along_axis (negative indices),
topk (np.argsort of -x, stable: ties by lower index), scatter_add
(np.add.at, repeated indices accumulate), repeat (np.repeat, NaNs and i32
included, along split axes).
Env: DTC, DTC_BUILD.  Prints one line per check; exits 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

DTC = os.environ.get("DTC") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "dtc")
PROG = """mesh M[a=2, b=3];
fn main(x: f32[5, 7] @ M[S(1), S(0)], n: f32[4, 3] @ M[R, S(1)], ids: i32[5] @ M[S(0), R],
        ti: i32[5, 4] @ M[R, S(0)], si: i32[5, 9] @ M[S(1), R], su: f32[5, 9] @ M[S(1), R])
        -> (i32[7], i32[5], i32[4], i32[3], f32[5, 7], f32[5, 6], f32[5, 4], f32[5, 3], i32[5, 3],
            f32[5, 7], f32[10, 7], f32[4, 9], i32[5, 8]) {
    let a = argmax(x, 0);
    let b = argmin(x, axis=1);
    let an = argmax(n, 1);
    let bn = argmin(n, 0);
    let c = cumsum(x, axis=1);
    let o = one_hot(ids, 6);
    let t = take_along_axis(x, ti, 1);
    let v, i = topk(x, 3);
    let s = scatter_add(x, si, su, axis=1);
    let r0 = repeat(x, 2, 0);
    let rn = repeat(n, 3, axis=-1);
    let ri = repeat(ti, 2, 1);
    return a, b, an, bn, c, o, t, v, i, s, r0, rn, ri;
}
"""

failures = 0


def check(ok, msg):
    global failures
    print(("ok    " if ok else "FAIL  ") + msg, flush=True)
    failures += 0 if ok else 1


def main():
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, size=(5, 7)).astype(np.float32)  # many ties
    n = rng.standard_normal((4, 3)).astype(np.float32)
    n[1, 2] = np.nan
    n[2, 0] = np.nan
    n[2, 2] = np.nan
    ids = np.array([0, 5, -1, 6, 3], dtype=np.int32)
    ti = rng.integers(-7, 7, size=(5, 4)).astype(np.int32)
    si = rng.integers(-7, 7, size=(5, 9)).astype(np.int32)
    su = rng.standard_normal((5, 9)).astype(np.float32)
    ins = {"x": x, "n": n, "ids": ids, "ti": ti, "si": si, "su": su}

    rows = np.arange(5)[:, None]
    ref = {"a": x.argmax(0), "b": x.argmin(1), "an": n.argmax(1), "bn": n.argmin(0),
           "c": np.cumsum(x, 1),
           "o": np.array([[1.0 if j == k else 0.0 for j in range(6)] for k in ids], np.float32),
           "t": np.take_along_axis(x, ti, 1)}
    order = np.argsort(-x, axis=1, kind="stable")[:, :3]
    ref["i"] = order
    ref["v"] = np.take_along_axis(x, order, 1)
    s = x.astype(np.float64)
    np.add.at(s, (np.broadcast_to(rows, si.shape), si), su.astype(np.float64))
    ref["s"] = s
    ref["r0"] = np.repeat(x, 2, axis=0)
    ref["rn"] = np.repeat(n, 3, axis=-1)
    ref["ri"] = np.repeat(ti, 2, axis=1)

    tmp = tempfile.mkdtemp(prefix="dtc-route-")
    dt = os.path.join(tmp, "route.dt")
    with open(dt, "w") as f:
        f.write(PROG)
    inargs = []
    for k, v in ins.items():
        p = os.path.join(tmp, k + ".npy")
        np.save(p, v)
        inargs += ["--in", "%s=%s" % (k, p)]
    exe = os.path.join(tmp, "route")
    p = subprocess.run([DTC, "compile", dt, "--mesh", "a=3,b=4", "-o", exe], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    check(p.returncode == 0, "compile on a=3,b=4 (uneven and empty shards) " + p.stdout.strip())
    runs = {"dtc run": [DTC, "run", dt], "dtc run --simulate": [DTC, "run", dt, "--simulate"],
            "compiled --ranks 12": [exe, "--ranks", "12"]}
    for what, cmd in runs.items():
        outs = []
        for k in ref:
            outs += ["--out", "%s=%s" % (k, os.path.join(tmp, "%s.%d.npy" % (k, len(what))))]
        p = subprocess.run(cmd + inargs + outs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"))
        if not check(p.returncode == 0, "%s runs %s" % (what, p.stdout.strip()[-300:] if p.returncode else "")):
            continue
        for k, r in ref.items():
            got = np.load(os.path.join(tmp, "%s.%d.npy" % (k, len(what))))
            if r.dtype.kind in "iu":
                ok = got.dtype == np.int32 and np.array_equal(got, r)
            else:
                ok = got.shape == r.shape and np.allclose(got, r, rtol=1e-5, atol=1e-5, equal_nan=True)
            check(ok, "%s: %s %s" % (what, k, "" if ok else "got %s want %s" % (got.tolist(), r.tolist())))

    # a bad index is an error with the op's position, not garbage
    bad = dict(ins, ti=np.full((5, 4), 7, np.int32))
    np.save(os.path.join(tmp, "ti.npy"), bad["ti"])
    for what, cmd in (("dtc run", [DTC, "run", dt]), ("compiled", [exe, "--ranks", "12"])):
        p = subprocess.run(cmd + inargs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(p.returncode != 0 and "route.dt:12:13: take_along_axis" in p.stdout and "out of bounds" in p.stdout,
              "%s: index 7 for an axis of 7 is refused: %s" % (what, p.stdout.strip()[-200:]))
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
