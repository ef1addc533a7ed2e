"""attention(q, k, v, causal, scale) (ir/attention.c) against numpy in f64,
globally and sharded.

  1. `dtc run` (the interpreter's kernel) on odd leading dims, causal and
     not, Tq != Tk, an explicit scale;
  2. each strategy of passes/rules.c forced by pinned placements, on
     M[cp=4], M[dp=2, tp=2] and M[cp=3] with uneven splits where the
     strategy allows them: leading dims split alike, query rows split with
     k and v whole (causal: the mask's rows are global positions), v's
     columns split, and nested splits of the rows over two axes; under
     `dtc run`, `dtc run --simulate`, the compiled program on threads
     (--ranks) and `mpirun -np N`;
  3. the ring (q, k, v split on the sequence over one axis): see CASES
     marked ring; `dtc report` shows only collective_permutes of one K or V
     block each (2 (n - 1) of them, no all_gather).
f32 within 1e-5 relative to the result's largest magnitude.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: shard_harness.py
from shard_harness import DTC, close, sh  # noqa: E402


def attention(q, k, v, causal, scale=None):
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if causal:  # top-left aligned: query i sees keys j <= i
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v


def ty(shape):
    return "f32[%s]" % ", ".join(map(str, shape))


def program(mesh, shapes, pls, out_pl, causal, scale):
    """dt text of main(q, k, v) -> attention(q, k, v, ...) at placements."""
    q, k, v = shapes
    out = list(q[:-1]) + [v[-1]]
    extra = (", causal=true" if causal else "") + (", scale=%r" % scale if scale is not None else "")
    return "\n".join([
        "mesh %s;" % mesh,
        "fn main(q: %s @ M[%s], k: %s @ M[%s], v: %s @ M[%s]) -> %s @ M[%s] {"
        % (ty(q), pls[0], ty(k), pls[1], ty(v), pls[2], ty(out), out_pl),
        "    return attention(q, k, v%s);" % extra,
        "}"]) + "\n"


# (label, mesh, (q, k, v shapes), (q, k, v placements), out placement, causal, scale, ring)
CASES = [
    ("global non-causal Tq != Tk", "M[x=1]", ((3, 5, 7), (3, 9, 7), (3, 9, 4)), ("R", "R", "R"), "R", False, None, False),
    ("global causal, odd leading dims", "M[x=1]", ((3, 1, 5, 11, 6),) * 3, ("R", "R", "R"), "R", True, None, False),
    ("global causal Tq > Tk, scale", "M[x=1]", ((2, 9, 4), (2, 6, 4), (2, 6, 3)), ("R", "R", "R"), "R", True, 0.3, False),
    ("cp=4 batch split (uneven 5)", "M[cp=4]", ((5, 12, 8),) * 3, ("S(0)", "S(0)", "S(0)"), "S(0)", True, None, False),
    ("cp=4 query rows split (uneven 18), causal", "M[cp=4]", ((2, 3, 18, 8),) * 3, ("S(2)", "R", "R"), "S(2)", True, None, False),
    ("cp=3 query rows split, Tq != Tk", "M[cp=3]", ((2, 10, 8), (2, 7, 8), (2, 7, 5)), ("S(1)", "R", "R"), "S(1)", False, None, False),
    ("2x2 batch and v columns split, Tq != Tk", "M[dp=2, tp=2]", ((2, 12, 8), (2, 10, 8), (2, 10, 6)),
     ("S(0), R", "S(0), R", "S(0), S(2)"), "S(0), S(2)", False, None, False),
    ("2x2 query rows split nested (uneven 14), causal", "M[dp=2, tp=2]", ((2, 14, 8),) * 3,
     ("S(1), S(1)", "R, R", "R, R"), "S(1), S(1)", True, None, False),
]


def main():
    if not shutil.which("mpirun"):
        print("FAIL: mpirun is not installed (scripts/setup.sh installs it)")
        return 1
    tmp = tempfile.mkdtemp(prefix="dtc-attention-")
    rng = np.random.default_rng(11)
    passed = failed = 0

    def verdict(ok, label):
        nonlocal passed, failed
        print("%s %s" % ("ok  " if ok else "FAIL", label))
        passed += bool(ok)
        failed += not ok

    for n, (label, mesh, shapes, pls, out_pl, causal, scale, ring) in enumerate(CASES):
        prog = os.path.join(tmp, "case%d.dt" % n)
        open(prog, "w").write(program(mesh, shapes, pls, out_pl, causal, scale))
        inp = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        ref = attention(*inp, causal, scale)
        ins = []
        for name, a in zip("qkv", inp):
            path = os.path.join(tmp, "%s%d.npy" % (name, n))
            np.save(path, a)
            ins += ["--in", "%s=%s" % (name, path)]
        nranks = int(np.prod([int(p.split("=")[1]) for p in mesh[2:-1].split(",")]))
        runs = [("run", [DTC, "run", prog]), ("simulate", [DTC, "run", "--simulate", prog])]
        if nranks > 1:
            exe = prog[:-3]
            comp = sh([DTC, "compile", prog, "-o", exe])
            if comp.returncode:
                verdict(False, "%s compile: %s" % (label, comp.stderr.strip()[-400:]))
            else:
                runs += [("threads", [exe, "--ranks", str(nranks)]),
                         ("mpirun", ["mpirun", "-np", str(nranks), exe])]
        for how, args in runs:
            out = os.path.join(tmp, "out%d.%s.npy" % (n, how))
            res = sh(args + ins + ["--out", "out0=" + out])
            if res.returncode:
                verdict(False, "%s %s: %s" % (label, how, (res.stderr or res.stdout).strip()[-400:]))
                continue
            verdict(close(np.load(out), ref), "%s: %s == numpy" % (label, how))
        if nranks > 1:
            rep = sh([DTC, "report", "--format=json", prog])
            if rep.returncode:
                verdict(False, "%s report: %s" % (label, rep.stderr.strip()[-400:]))
                continue
            kinds = sorted({c["kind"] for r in json.loads(rep.stdout)["ranks"] for c in r["collectives"]})
            if not ring:
                verdict(kinds == [], "%s: no communication (%s)" % (label, ", ".join(kinds)))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
