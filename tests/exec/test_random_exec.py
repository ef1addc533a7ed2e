"""Random programs of the sharding tests, compiled and executed.

tests/unit/test_random_programs writes its programs as .dt files
(DTC_RANDOM_DUMP); each is compiled with `dtc compile` (the default LLVM
backend; programs the generator planned with a latency-free cost model are
compiled with --alpha=0 too), run with `--ranks N` (threads backend, N =
the program's mesh size), and every result is compared with `dtc run` (the
unsharded reference): f64 within 1e-12 and f32 within 1e-5 of the result's
scale.  DTC_RANDOM_EXEC=COUNT sets how many (default 300).
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

DTC = os.environ["DTC"]
BUILD = os.environ["DTC_BUILD"]
COUNT = int(os.environ.get("DTC_RANDOM_EXEC", "300"))


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def main():
    tmp = tempfile.mkdtemp(prefix="dtc-rand-")
    env = dict(os.environ, DTC_RANDOM_DUMP=tmp, DTC_RANDOM_PROGRAMS=str(COUNT))
    gen = sh([os.path.join(BUILD, "tests", "test_random_programs")], env=env)
    if gen.returncode != 0:
        print("FAIL: the generator failed:\n" + gen.stdout + gen.stderr)
        return 1
    passed = failed = 0
    for k in range(COUNT):
        bw = os.path.exists(os.path.join(tmp, "prog_%d.bw.dt" % k))
        src = os.path.join(tmp, "prog_%d%s.dt" % (k, ".bw" if bw else ""))
        text = open(src).read()
        sizes = [int(x) for x in re.findall(r"=(\d+)", re.search(r"mesh M\[([^\]]*)\]", text).group(1))]
        nranks = int(np.prod(sizes))
        ref = sh([DTC, "run", src])
        if ref.returncode != 0:
            print("FAIL prog %d: dtc run: %s" % (k, ref.stderr.strip()))
            failed += 1
            continue
        names = re.findall(r"^(\w+): ", ref.stdout, re.M)
        exe = os.path.join(tmp, "prog_%d" % k)
        opts = ["--alpha=0"] if bw else []
        comp = sh([DTC, "compile", src, "-o", exe] + opts)
        if comp.returncode != 0:
            print("FAIL prog %d: dtc compile: %s" % (k, comp.stderr.strip()))
            failed += 1
            continue
        ref_args, got_args = [], []
        for n in names:
            ref_args += ["--out", "%s=%s/r_%s.npy" % (n, tmp, n)]
            got_args += ["--out", "%s=%s/g_%s.npy" % (n, tmp, n)]
        ref = sh([DTC, "run", src] + ref_args)
        run = sh([exe, "--ranks", str(nranks)] + got_args)
        if ref.returncode != 0 or run.returncode != 0:
            print("FAIL prog %d: run: %s %s" % (k, ref.stderr.strip(), run.stderr.strip()))
            failed += 1
            continue
        bad = []
        for n in names:
            a = np.load("%s/r_%s.npy" % (tmp, n))
            b = np.load("%s/g_%s.npy" % (tmp, n))
            if a.shape != b.shape or a.dtype != b.dtype:
                bad.append("%s: %s %s vs %s %s" % (n, a.shape, a.dtype, b.shape, b.dtype))
                continue
            if a.size == 0:
                continue
            tol = 1e-12 if a.dtype == np.float64 else 1e-5
            a, b = a.astype(np.float64), b.astype(np.float64)
            # log/sqrt of negatives: NaN (and inf) must appear in the same places
            if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.array_equal(a[np.isinf(a)], b[np.isinf(a)]):
                bad.append("%s: NaN/inf differ" % n)
                continue
            fin = np.isfinite(a)
            if not fin.any():
                continue
            a, b = a[fin], b[fin]
            scale = max(1.0, float(np.max(np.abs(a))))
            err = float(np.max(np.abs(a - b)))
            if not err <= tol * scale:
                bad.append("%s: max error %.3e (scale %.3e)" % (n, err, scale))
        if bad:
            print("FAIL prog %d (%s, %d ranks): %s" % (k, src, nranks, "; ".join(bad)))
            print(text)
            failed += 1
        else:
            passed += 1
    print("random programs compiled and executed (--ranks): %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
