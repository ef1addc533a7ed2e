"""Per-shard functions (`local fn`, docs/LANGUAGE.md section 10) against the
same math written globally and against numpy.

For each program in tests/local (mlp: Megatron MLP with an explicit
all_reduce, and returning P(sum); seqpar: all_gather / reduce_scatter;
a2a: all_to_all over one axis and over [dp, tp]; ring: ppermute both ways
and axis_index; callers: a local fn among uneven, nested and partial values
of the global program; helpers: plain functions called in a local fn, on
2 x 2 only), on three meshes (dp=1,tp=4 / 2x2 / 4x1, size-1 axes
included), with the same random inputs given by --in:
  1. `dtc run` of the local program (the interpreter runs the local fn per
     rank in lockstep) equals numpy;
  2. `dtc run` of the global program (*_global.dt), where there is one,
     equals it;
  3. `dtc run --simulate` (partitioned, every rank interpreted) equals it;
  4. the compiled program under --ranks 4 (threads) and `mpirun -np 4`
     equals it;
  5. (declared mesh) `dtc report --format=json` lists a collective at the
     source line of every explicit collective, and every pass dump
     (--dump-dir) reads back through `dtc ir-roundtrip` to the same text;
  6. (every mesh) each ppermute is one point-to-point collective_permute in
     `dtc report` (none over an axis of size 1, and no all_to_all), whose
     bytes are the local shard's.
f32 within 1e-5 relative to the result's largest magnitude.
"""
import json
import os
import re
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: shard_harness.py
from shard_harness import DTC, close, dumps_round_trip, sh  # noqa: E402
MESHES = [(1, 4), (2, 2), (4, 1)]


def gelu_tanh(x):
    x = x.astype(np.float64)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def mlp(inp, dp, tp):
    y = gelu_tanh(inp["x"] @ inp["w1"].astype(np.float64)) @ inp["w2"].astype(np.float64)
    return {"y": y, "z": y}


def seqpar(inp, dp, tp):
    x = inp["x"].astype(np.float64)
    return {"out0": gelu_tanh(x @ inp["w1"]) @ inp["w2"].astype(np.float64) + x}


def a2a(inp, dp, tp):
    return {"a": inp["x"] * 2.0 + 1.0, "b": inp["y"] - 3.0}


def ring(inp, dp, tp):
    x, z = inp["x"], inp["z"]
    n, d = x.shape
    rows, cols = np.meshgrid(np.arange(n), np.arange(d), indexing="ij")
    di, ti = rows // (n // dp), cols // (d // tp)
    return {"a": np.roll(x, n // tp, axis=0), "b": np.roll(x, -(n // tp), axis=0),
            "out2": z + 100.0 * ti + (di * tp + ti)}


def callers(inp, dp, tp):
    a, b, x = (inp[k].astype(np.float64) for k in "abx")
    y = a @ b
    w = 2.0 * x + y / np.sqrt((y * y).sum(axis=1, keepdims=True)) * (tp * (tp + 1) / 2)
    return {"w": w, "out1": w[:7] - b}


def helpers(inp, dp, tp):
    x = inp["x"].astype(np.float64)
    s = np.sqrt((x * x).sum(axis=1, keepdims=True))
    return {"y": 2.0 * x / s, "s": s}


# name, global twin or None, numpy reference, inputs (name -> shape)[, meshes]
CASES = [
    ("mlp", "mlp_global", mlp, {"x": (8, 16), "w1": (16, 32), "w2": (32, 16)}),
    ("seqpar", "seqpar_global", seqpar, {"x": (4, 8, 16), "w1": (16, 32), "w2": (32, 16)}),
    ("a2a", "a2a_global", a2a, {"x": (8, 16), "y": (8, 16)}),
    ("ring", None, ring, {"x": (8, 4), "z": (8, 4)}),
    ("callers", None, callers, {"a": (8, 7), "b": (7, 12), "x": (8, 12)}),
    ("helpers", None, helpers, {"x": (8, 4)}, [(2, 2)]),  # plain functions typed on 2 x 2's local shapes
]


EXPLICIT = re.compile(r"\b(all_reduce|all_gather|reduce_scatter|all_to_all|ppermute)\(")


def report_and_dumps(prog, tmp):
    """Problems with step 5 (a list of strings)."""
    bad = []
    rep = sh([DTC, "report", "--format=json", prog])
    if rep.returncode != 0:
        return ["report: " + rep.stderr.strip()]
    sites = {int(c["site"].split(":")[1]) for r in json.loads(rep.stdout)["ranks"] for c in r["collectives"]}
    for n, line in enumerate(open(prog), 1):
        if EXPLICIT.search(line.split("#")[0]) and n not in sites:
            bad.append("report: no collective at line %d (%s)" % (n, line.strip()))
    return bad + dumps_round_trip(prog, tmp)


PPERMUTE = re.compile(r"\bppermute\(")


def ppermute_steps(prog, mesh):
    """Problems with step 6 (a list of strings): on every rank, each distinct
    ppermute of prog (axis, shift mod the axis size; the optimiser merges
    equal ones) is exactly one collective_permute at the site of one of its
    calls, sending the local shard (bytes = numel * 4 for f32); none when the
    shift is 0 mod the axis size; and there is no all_to_all."""
    rep = sh([DTC, "report", "--format=json", prog, "--mesh", mesh])
    if rep.returncode != 0:
        return ["report: " + rep.stderr.strip()]
    sizes = {k: int(v) for k, v in (kv.split("=") for kv in mesh.split(","))}
    classes = {}  # (axis, shift mod size) -> the (line, col) of its calls
    for n, line in enumerate(open(prog), 1):
        for m in PPERMUTE.finditer(line.split("#")[0]):
            args = re.match(r"ppermute\(\w+, axis=(\w+), shift=(-?\d+)\)", line[m.start():])
            k = sizes[args.group(1)]
            if int(args.group(2)) % k:
                classes.setdefault((args.group(1), int(args.group(2)) % k), set()).add((n, m.start() + 1))
    bad = []
    for r in json.loads(rep.stdout)["ranks"]:
        perms = [c for c in r["collectives"] if c["kind"] == "collective_permute"]
        bad += ["rank %d: an all_to_all (%s)" % (r["rank"], c["site"])
                for c in r["collectives"] if c["kind"] == "all_to_all"]
        for c in perms:
            dims = [int(d) for d in re.findall(r"\d+", c["local_type"].split("[", 1)[1])]
            if c["bytes"] != 4 * int(np.prod(dims)):
                bad.append("rank %d: collective_permute at %s sends %d bytes of local %s"
                           % (r["rank"], c["site"], c["bytes"], c["local_type"]))
        for (axis, shift), sites in classes.items():
            mine = [c for c in perms if tuple(int(x) for x in c["site"].rsplit(":", 2)[1:]) in sites
                    and c["axes"] == [axis] and c["shift"] % sizes[axis] == shift]
            if len(mine) != 1:
                bad.append("rank %d: ppermute over %s by %d: %d collective_permutes" % (r["rank"], axis, shift,
                                                                                        len(mine)))
        if len(perms) != len(classes):
            bad.append("rank %d: %d collective_permutes for %d distinct ppermutes" % (r["rank"], len(perms),
                                                                                     len(classes)))
    return bad


def main():
    if not shutil.which("mpirun"):
        print("FAIL: mpirun is not installed (scripts/setup.sh installs it)")
        return 1
    tmp = tempfile.mkdtemp(prefix="dtc-local-")
    rng = np.random.default_rng(12)
    passed = failed = 0

    def check(label, outs, ref):
        nonlocal passed, failed
        for r, want in ref.items():
            got = np.load(outs[r])
            ok = close(got, np.asarray(want, dtype=np.float64))
            print("%s %s %s" % ("ok  " if ok else "FAIL", label, r))
            passed += ok
            failed += not ok

    for name, twin, numpy_ref, shapes, *only in CASES:
        problems = report_and_dumps(os.path.join(HERE, name + ".dt"), tmp)
        for p in problems:
            print("FAIL %s: %s" % (name, p))
        print("%s %s: report sites and dump round trips" % ("FAIL" if problems else "ok  ", name))
        failed += bool(problems)
        passed += not problems
        ins = []
        inp = {}
        for p, shape in shapes.items():
            inp[p] = rng.standard_normal(shape).astype(np.float32)
            path = os.path.join(tmp, "%s.%s.npy" % (name, p))
            np.save(path, inp[p])
            ins += ["--in", "%s=%s" % (p, path)]
        for dp, tp in (only[0] if only else MESHES):
            mesh = "dp=%d,tp=%d" % (dp, tp)
            ref = numpy_ref(inp, dp, tp)
            if name == "ring":
                problems = ppermute_steps(os.path.join(HERE, name + ".dt"), mesh)
                for p in problems[:8]:
                    print("FAIL %s %s: %s" % (name, mesh, p))
                print("%s %s %s: each ppermute is one collective_permute of the local shard"
                      % ("FAIL" if problems else "ok  ", name, mesh))
                failed += bool(problems)
                passed += not problems

            def outs_for(tag):
                o = {r: os.path.join(tmp, "%s.%s.%d%d.%s.npy" % (name, tag, dp, tp, r)) for r in ref}
                return o, sum((["--out", "%s=%s" % (r, p)] for r, p in o.items()), [])

            prog = os.path.join(HERE, name + ".dt")
            runs = [("run", [DTC, "run", prog, "--mesh", mesh]),
                    ("simulate", [DTC, "run", "--simulate", prog, "--mesh", mesh])]
            if twin:
                runs.append(("global", [DTC, "run", os.path.join(HERE, twin + ".dt"), "--mesh", mesh]))
            exe = os.path.join(tmp, "%s.%d%d" % (name, dp, tp))
            comp = sh([DTC, "compile", prog, "-o", exe, "--mesh", mesh])
            if comp.returncode != 0:
                print("FAIL %s %s: compile: %s" % (name, mesh, comp.stderr.strip()))
                failed += 1
            else:
                runs += [("threads", [exe, "--ranks", "4"]), ("mpirun", ["mpirun", "-np", "4", exe])]
            for tag, args in runs:
                o, outa = outs_for(tag)
                res = sh(args + ins + outa)
                if res.returncode != 0:
                    print("FAIL %s %s %s: %s" % (name, mesh, tag, (res.stderr or res.stdout).strip()[-400:]))
                    failed += 1
                    continue
                check("%s %s %s" % (name, mesh, tag), o, ref)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
