"""User sharding rules (`fn ... sharding { }`, docs/LANGUAGE.md section 11).

Programs in tests/rules:
  strided: every other row, then a row normalisation; the rule (S(0), R) ->
           S(0) keeps the rows split where the built-in rules gather them;
  mm:      a matmul rule fn with three strategies, chosen per mesh axis (rows
           over dp, the contraction as P(sum) over tp), and B = 6 rows, which
           do not split over 4 ranks: there only (R, R) -> R holds;
  loop:    a rule fn in a loop body and under value_and_grad (differentiated
           as inlined code);
  wrong:   a wrong rule (a row normalisation declared on column pieces).

Checks:
  1. on three meshes (2x2, 4x1, 1x4), with the same random --in inputs:
     `dtc run`, `dtc run --simulate`, the compiled program under --ranks 4
     (threads) and `mpirun -np 4` all equal numpy (f32 within 1e-5 relative
     to the largest magnitude);
  2. the rule changes the plan: `dtc report --format=json` of strided moves
     no bytes, of the same program without its sharding clause some; and
     every solver (best, beam, ilp) picks the declared strategy, which
     `dtc report --explain` names (rule_call @NAME with its placements);
  3. mm on 2x2: the explained choice is the per-axis mix
     (M[S(0), S(1)], M[R, S(0)]) -> M[S(0), P(sum)];
  4. every pass dump of strided, mm and loop reads back through `dtc ir-roundtrip`
     to the same text;
  5. wrong: the compiled program differs from `dtc run` (a wrong rule is a
     mismatch, not a silent pass).
"""
import json
import os
import re
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: shard_harness.py
from shard_harness import close, DTC, dumps_round_trip, have_mpirun, sh, Verdicts  # noqa: E402
MESHES = [(2, 2), (4, 1), (1, 4)]


def strided(inp):
    x, g = (inp[k].astype(np.float64) for k in "xg")
    y = (2.0 * x)[::2, :] * g
    return y / np.sqrt((y * y).sum(axis=1, keepdims=True) + 1.0) + 1.0


def mm(inp):
    return inp["x"].astype(np.float64) @ inp["w"].astype(np.float64) * 0.5 - 1.0


def loop(inp):
    def norm(v):
        return v / np.sqrt((v * v).sum(axis=1, keepdims=True) + 1.0)
    x = inp["x"].astype(np.float64)
    y = x
    for _ in range(3):
        y = norm(y) + 1.0
    # d/dx sum(x^2 / sqrt(s + 1)), s = row sum of x^2
    s = (x * x).sum(axis=1, keepdims=True) + 1.0
    grad = 2.0 * x / np.sqrt(s) - x * (x * x).sum(axis=1, keepdims=True) / s ** 1.5
    return {"out0": y, "out1": grad + (norm(x) * x).sum()}


CASES = [("strided", strided, {"x": (16, 12), "g": (12,)}),
         ("mm", mm, {"x": (6, 8), "w": (8, 4)}),
         ("loop", loop, {"x": (8, 16)})]


def total_bytes(prog, *extra):
    rep = sh([DTC, "report", "--format=json", prog] + list(extra))
    if rep.returncode != 0:
        raise RuntimeError("report: " + rep.stderr.strip())
    return sum(c["bytes"] for r in json.loads(rep.stdout)["ranks"] for c in r["collectives"])


def explained(prog, fn, *extra):
    """The --explain line of the rule_call of fn, or the error."""
    rep = sh([DTC, "report", "--explain", prog] + list(extra))
    for line in rep.stdout.splitlines():
        if "rule_call @%s " % fn in line:
            return line
    return "no rule_call @%s line: %s" % (fn, (rep.stderr or rep.stdout).strip()[-300:])


def main():
    if not have_mpirun():
        return 1
    tmp = tempfile.mkdtemp(prefix="dtc-rules-")
    rng = np.random.default_rng(7)
    verdict = Verdicts()

    # 1. numbers
    for name, ref_of, shapes in CASES:
        prog = os.path.join(HERE, name + ".dt")
        ins, inp = [], {}
        for p, shape in shapes.items():
            inp[p] = rng.standard_normal(shape).astype(np.float32)
            path = os.path.join(tmp, "%s.%s.npy" % (name, p))
            np.save(path, inp[p])
            ins += ["--in", "%s=%s" % (p, path)]
        ref = ref_of(inp)
        for dp, tp in MESHES:
            mesh = "dp=%d,tp=%d" % (dp, tp)
            runs = [("run", [DTC, "run", prog, "--mesh", mesh]),
                    ("simulate", [DTC, "run", "--simulate", prog, "--mesh", mesh])]
            exe = os.path.join(tmp, "%s.%d%d" % (name, dp, tp))
            comp = sh([DTC, "compile", prog, "-o", exe, "--mesh", mesh])
            if comp.returncode != 0:
                verdict(False, "%s %s compile: %s" % (name, mesh, comp.stderr.strip()))
            else:
                runs += [("threads", [exe, "--ranks", "4"]), ("mpirun", ["mpirun", "-np", "4", exe])]
            for tag, args in runs:
                refs = ref if isinstance(ref, dict) else {"out0": ref}
                outs = {r: os.path.join(tmp, "%s.%s.%d%d.%s.npy" % (name, tag, dp, tp, r)) for r in refs}
                res = sh(args + ins + sum((["--out", "%s=%s" % (r, o)] for r, o in outs.items()), []))
                if res.returncode != 0:
                    verdict(False, "%s %s %s: %s" % (name, mesh, tag, (res.stderr or res.stdout).strip()[-400:]))
                    continue
                for r, want in refs.items():
                    verdict(close(np.load(outs[r]), want), "%s %s %s %s == numpy" % (name, mesh, tag, r))

    # 2. the plan, with and without the rule; every solver honours it
    prog = os.path.join(HERE, "strided.dt")
    plain = os.path.join(tmp, "strided_norule.dt")
    with open(plain, "w") as f:
        f.write(re.sub(r"sharding \{[^}]*\}", "", open(prog).read()))
    with_rule, without = total_bytes(prog), total_bytes(plain)
    print("strided: %d bytes moved with the rule, %d without" % (with_rule, without))
    verdict(with_rule == 0 and without > 0, "strided: the rule removes the gather")
    for solver in ("best", "beam", "ilp"):
        line = explained(prog, "evens", "--solver=" + solver)
        verdict("(M[S(0), S(0)], M[R, R]) -> M[S(0), S(0)]" in line and
                total_bytes(prog, "--solver=" + solver) == 0,
                "strided --solver=%s picks the rule: %s" % (solver, line))
    # 3. per-axis choice
    line = explained(os.path.join(HERE, "mm.dt"), "scaled_mm")
    verdict("(M[S(0), S(1)], M[R, S(0)]) -> M[S(0), P(sum)]" in line, "mm per-axis strategy: " + line)
    # 4. dumps
    for name in ("strided", "mm", "loop"):
        bad = dumps_round_trip(os.path.join(HERE, name + ".dt"), tmp)
        for b in bad:
            print("     " + b)
        verdict(not bad, "%s: every pass dump round-trips" % name)
    # 5. a wrong rule is a mismatch
    prog = os.path.join(HERE, "wrong.dt")
    exe = os.path.join(tmp, "wrong")
    outs = {}
    for tag, args in (("run", [DTC, "run", prog]), ("compiled", None)):
        if args is None:
            comp = sh([DTC, "compile", prog, "-o", exe])
            args = [exe, "--ranks", "4"] if comp.returncode == 0 else None
        out = os.path.join(tmp, "wrong.%s.npy" % tag)
        res = sh(args + ["--out", "out0=" + out]) if args else None
        if res is not None and res.returncode == 0:
            outs[tag] = np.load(out)
    verdict(len(outs) == 2 and not close(outs["compiled"], outs["run"].astype(np.float64)),
            "wrong: a wrong rule makes compiled differ from dtc run")
    return verdict.exit()


if __name__ == "__main__":
    sys.exit(main())
