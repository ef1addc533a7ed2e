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

PROG_SPLIT = """mesh M[a=2, b=3];
fn main(x: f32[30] @ M[S(0), R], n: f32[25] @ M[S(0), S(0)], e: f32[9] @ M[R, S(0)],
        w: f32[4, 13] @ M[R, S(1)], k: i32[40] @ M[S(0), S(0)])
        -> (i32[], i32[], i32[], i32[], i32[], i32[], f32[30], f32[4, 13], i32[40]) {
    let ax = argmax(x, 0);
    let bx = argmin(x, 0);
    let an = argmax(n, 0);
    let bn = argmin(n, axis=0);
    let ae = argmax(e, 0);
    let be = argmin(e, 0);
    let c = cumsum(x);
    let cw = cumsum(w, axis=1);
    let ck = cumsum(k);
    return ax, bx, an, bn, ae, be, c, cw, ck;
}
"""

failures = 0


def check(ok, msg):
    global failures
    print(("ok    " if ok else "FAIL  ") + msg, flush=True)
    failures += 0 if ok else 1
    return ok


def run_all(tmp, name, prog, mesh, nranks, ins, ref, cost):
    """prog on `mesh` through `dtc run`, `dtc run --simulate` and the compiled
    program (cost: cost-model options for the sharded builds), every result
    against ref.  Returns (source path, executable, --in arguments)."""
    dt = os.path.join(tmp, name + ".dt")
    with open(dt, "w") as f:
        f.write(prog)
    inargs = []
    for k, v in ins.items():
        p = os.path.join(tmp, "%s.%s.npy" % (name, k))
        np.save(p, v)
        inargs += ["--in", "%s=%s" % (k, p)]
    exe = os.path.join(tmp, name)
    p = subprocess.run([DTC, "compile", dt, "--mesh", mesh, "-o", exe] + cost, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    check(p.returncode == 0, "%s: compile on %s (uneven and empty shards) %s" % (name, mesh, p.stdout.strip()))
    runs = {"dtc run": [DTC, "run", dt],
            "dtc run --simulate": [DTC, "run", dt, "--simulate", "--mesh", mesh] + cost,
            "compiled --ranks %d" % nranks: [exe, "--ranks", str(nranks)]}
    for what, cmd in runs.items():
        outs = []
        for k in ref:
            outs += ["--out", "%s=%s" % (k, os.path.join(tmp, "%s.%s.%d.npy" % (name, k, len(what))))]
        p = subprocess.run(cmd + inargs + outs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"))
        if not check(p.returncode == 0, "%s: %s runs %s" % (name, what,
                                                            p.stdout.strip()[-300:] if p.returncode else "")):
            continue
        for k, r in ref.items():
            got = np.load(os.path.join(tmp, "%s.%s.%d.npy" % (name, k, len(what))))
            if r.dtype.kind in "iu":
                ok = got.dtype == np.int32 and np.array_equal(got, r)
            else:
                ok = got.shape == r.shape and np.allclose(got, r, rtol=1e-5, atol=1e-5, equal_nan=True)
            check(ok, "%s: %s: %s %s" % (name, what, k, "" if ok else "got %s want %s" % (got.tolist(), r.tolist())))
    return dt, exe, inargs


def split_axes(tmp):
    """cumsum / argmax / argmin along a split axis by per-rank summaries
    (STRAT_SPLIT_SCAN / STRAT_SPLIT_SELECT, one all_gather of (value, index)
    pairs per axis group): a latency-free cost model
    (--alpha=0) makes them win on these small operands; ties, NaNs, -inf,
    empty shards (25 over 3 x 4, 9 over 4), nested splits, a partial
    operand and i32."""
    rng = np.random.default_rng(11)
    x = rng.integers(-2, 3, size=30).astype(np.float32)  # ties across ranks
    x[[4, 17, 29]] = 3.0                                   # the max, three times
    n = rng.standard_normal(25).astype(np.float32)
    n[[13, 20]] = np.nan                                   # NaN wins, first one
    e = np.full(9, -np.inf, np.float32)                    # all -inf: index 0
    e[[5, 7]] = np.float32(-1e30)
    w = rng.standard_normal((4, 13)).astype(np.float32)
    w[1, 6] = np.inf
    k = rng.integers(-2**31, 2**31 - 1, size=40, dtype=np.int64).astype(np.int32)  # wraps
    ins = {"x": x, "n": n, "e": e, "w": w, "k": k}
    with np.errstate(over="ignore"):
        ref = {"ax": np.int32(x.argmax()), "bx": np.int32(x.argmin()), "an": np.int32(n.argmax()),
               "bn": np.int32(n.argmin()), "ae": np.int32(e.argmax()), "be": np.int32(e.argmin()),
               "c": np.cumsum(x.astype(np.float64)).astype(np.float32),
               "cw": np.cumsum(w.astype(np.float64), axis=1).astype(np.float32),
               "ck": np.cumsum(k, dtype=np.int32)}
    run_all(tmp, "split", PROG_SPLIT, "a=3,b=4", 12, ins, ref, ["--alpha=0"])
    # the greedy choice (--beam=1): the whole-function choice may gather x
    # once for its argmax and its argmin together, cheaper than two summaries
    p = subprocess.run([DTC, "report", "--alpha=0", "--beam=1", "--solver=beam", "--mesh", "a=3,b=4",
                        os.path.join(tmp, "split.dt")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pairs = p.stdout.split("rank 1 ")[0].count("of local f32[2]:")
    check(pairs == 6, "split: each of the 6 split argmax / argmin gathers (value, index) pairs (%d)" % pairs)


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
    dt, exe, inargs = run_all(tmp, "route", PROG, "a=3,b=4", 12, ins, ref, [])
    # a bad index is an error with the op's position, not garbage
    bad = dict(ins, ti=np.full((5, 4), 7, np.int32))
    np.save(os.path.join(tmp, "route.ti.npy"), bad["ti"])
    for what, cmd in (("dtc run", [DTC, "run", dt]), ("compiled", [exe, "--ranks", "12"])):
        p = subprocess.run(cmd + inargs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(p.returncode != 0 and "route.dt:12:13: take_along_axis" in p.stdout and "out of bounds" in p.stdout,
              "%s: index 7 for an axis of 7 is refused: %s" % (what, p.stdout.strip()[-200:]))
    split_axes(tmp)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
