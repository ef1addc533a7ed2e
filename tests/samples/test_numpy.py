"""test_numpy.py - every sample through `dtc run` (the reference interpreter)
against an independent NumPy implementation (samples_ref.py).

For each samples/X.dt:
  1. `dtc check X.dt` exits 0;
  2. random inputs for every entry parameter (fixed seed, the declared dtypes,
     ids and labels in range) go in with --in, every result comes out with
     --out, and each result must have the declared dtype and shape and match
     NumPy: |got - ref| <= rtol*|ref| + atol*max|ref| with rtol = atol = 1e-5
     for f32 results and 1e-12 for f64 results (the reference computes in
     f64 from the same inputs);
  3. a run with no --in (the initialisers) succeeds and gives finite results
     of the declared shapes.
Prints one line per check; exits 1 on any failure.

Env: DTC (the dtc binary; else $DTC_BUILD/dtc, else build/dtc),
DTC_SRC (the source tree; else found from this file's path).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import samples_ref  # noqa: E402

SRC = os.environ.get("DTC_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))
TOL = {"f32": (1e-5, 1e-5), "f64": (1e-12, 1e-12), "i32": (0.0, 0.0)}  # (rtol, atol relative to max|ref|); i32 exact
TIMEOUT = 300


def find_dtc():
    for cand in (os.environ.get("DTC"),
                 os.environ.get("DTC_BUILD") and os.path.join(os.environ["DTC_BUILD"], "dtc"),
                 os.path.join(SRC, "build", "dtc")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def run(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=TIMEOUT)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return -1, "timed out after %d s" % TIMEOUT


def compare(rname, want_dt, want_shape, got, ref):
    """Returns (ok, message) for one result."""
    what = "%s %s%s" % (rname, want_dt, list(want_shape))
    np_dt = samples_ref.NP_DTYPE[want_dt]
    if got.dtype != np_dt:
        return False, "%s: dtype %s, expected %s" % (what, got.dtype, np.dtype(np_dt))
    if got.shape != tuple(want_shape):
        return False, "%s: shape %s, expected %s" % (what, got.shape, tuple(want_shape))
    ref = np.asarray(ref, dtype=np.float64)
    g = got.astype(np.float64)
    if not np.all(np.isfinite(g)):
        return False, "%s: %d non-finite values" % (what, int(np.sum(~np.isfinite(g))))
    rtol, atol = TOL[want_dt]
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    err = np.abs(g - ref)
    bound = rtol * np.abs(ref) + atol * scale
    bad = err > bound
    maxerr = float(np.max(err)) if err.size else 0.0
    relerr = maxerr / scale if scale > 0 else maxerr
    if np.any(bad):
        i = np.unravel_index(int(np.argmax(err - bound)), err.shape) if err.ndim else ()
        return False, ("%s: %d of %d elements differ; max abs err %.3g (%.3g of max|ref| %.3g); "
                       "worst at %s: got %.9g, numpy %.9g"
                       % (what, int(np.sum(bad)), bad.size, maxerr, relerr, scale,
                          list(i), float(g[i]), float(ref[i])))
    return True, "%s: max abs err %.3g (%.3g of max|ref| %.3g)" % (what, maxerr, relerr, scale)


def check_sample(dtc, name, tmp):
    """Returns the number of failed checks for samples/<name>.dt."""
    params, _, results = samples_ref.SAMPLES[name]
    dt = os.path.join(SRC, "samples", name + ".dt")
    fails = 0

    rc, out = run([dtc, "check", dt])
    if rc != 0:
        print("FAIL %s.dt: dtc check exited %d:\n%s" % (name, rc, out.rstrip()))
        fails += 1
    else:
        print("ok   %s.dt: dtc check passes" % name)

    # against numpy, on random inputs
    ins = samples_ref.inputs(name)
    cmd = [dtc, "run", dt]
    for pname, arr in ins.items():
        path = os.path.join(tmp, "%s.in.%s.npy" % (name, pname))
        np.save(path, arr)
        cmd += ["--in", "%s=%s" % (pname, path)]
    outs = {}
    for rname in results:
        outs[rname] = os.path.join(tmp, "%s.out.%s.npy" % (name, rname))
        cmd += ["--out", "%s=%s" % (rname, outs[rname])]
    rc, out = run(cmd)
    if rc != 0:
        print("FAIL %s.dt: dtc run exited %d:\n%s" % (name, rc, out.rstrip()))
        print("     command: %s" % " ".join(cmd))
        return fails + 1
    ref = samples_ref.reference(name, ins)
    for rname, (want_dt, want_shape) in results.items():
        if not os.path.exists(outs[rname]):
            print("FAIL %s.dt: --out %s wrote no file" % (name, rname))
            fails += 1
            continue
        ok, msg = compare(rname, want_dt, want_shape, np.load(outs[rname]), ref[rname])
        print("%s %s.dt vs numpy: %s" % ("ok  " if ok else "FAIL", name, msg))
        fails += not ok

    # the initialisers alone
    cmd = [dtc, "run", dt]
    for rname in results:
        cmd += ["--out", "%s=%s" % (rname, outs[rname] + ".init.npy")]
    rc, out = run(cmd)
    if rc != 0:
        print("FAIL %s.dt: dtc run with initialisers exited %d:\n%s" % (name, rc, out.rstrip()))
        return fails + 1
    for rname, (want_dt, want_shape) in results.items():
        got = np.load(outs[rname] + ".init.npy")
        good = (got.shape == tuple(want_shape) and got.dtype == samples_ref.NP_DTYPE[want_dt]
                and bool(np.all(np.isfinite(got))))
        if not good:
            print("FAIL %s.dt with initialisers: %s is %s%s, expected finite %s%s"
                  % (name, rname, got.dtype, list(got.shape), want_dt, list(want_shape)))
            fails += 1
    if not fails:
        print("ok   %s.dt with initialisers: %s finite, of the declared types"
              % (name, ", ".join(results)))
    return fails


def main():
    dtc = find_dtc()
    if not dtc:
        print("skipped: no dtc binary (set DTC)")
        return 1
    names = sys.argv[1:] or list(samples_ref.SAMPLES)
    # train_gpt2 (AdamW) has its numpy implementation in tests/train/ref_gpt2.py
    missing = sorted(set(f[:-3] for f in os.listdir(os.path.join(SRC, "samples"))
                         if f.endswith(".dt") and f != "train_gpt2.dt") - set(samples_ref.SAMPLES))
    fails = 0
    if missing:
        print("FAIL: samples without a NumPy reference in samples_ref.py: %s" % ", ".join(missing))
        fails += 1
    with tempfile.TemporaryDirectory(prefix="dtc-samples-") as tmp:
        for name in names:
            fails += check_sample(dtc, name, tmp)
    print("%s: %d sample(s), %d failed check(s)" % ("FAIL" if fails else "PASS", len(names), fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
