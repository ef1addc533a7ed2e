"""Causal ring attention written with a `for` loop over the ring steps in a
local fn body (tests/ring/gen_ring.py --loop; the compiler unrolls it,
docs/LANGUAGE.md section 10), on cp = 2 and 4 with the head-tail layout and
the same random q, k, v given by --in:
  1. `dtc run` of the loop equals `dtc run` of the hand-unrolled ring
     (gen_ring.py without --loop) and numpy; `dtc run --simulate`, the
     compiled program under --ranks cp (threads) and `mpirun -np cp` equal
     numpy, and so does the C backend's program (`--emit=c`, built with cc)
     under --ranks cp;
  2. `dtc report` of the loop lists exactly what the unrolled ring's does:
     2 (cp - 1) collective_permutes per rank of one K/V block each (the last
     trip's ppermutes, whose results nothing reads, are dropped);
  3. (threads --trace) every collective_permute start has operations
     before its wait: the block is in flight while the trip computes;
  4. tests/local/ring_loop.dt is gen_ring.py's cp = 4 --loop text, and
     every pass dump of it (--dump-dir) reads back through
     `dtc ir-roundtrip` to the same text.
f32 within 1e-5 relative to the result's largest magnitude.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: shard_harness.py
from shard_harness import close, DTC, dumps_round_trip, have_mpirun, permute_overlap, sh, traced, Verdicts  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ring"))
from gen_ring import causal_attention, headtail_order, ring  # noqa: E402

B, T, D = 2, 64, 8


def permutes(prog):
    """Per rank, the (kind, bytes, shift) of each collective in `dtc report`; None: it failed."""
    rep = sh([DTC, "report", "--format=json", prog])
    if rep.returncode:
        return None
    return [[(c["kind"], c["bytes"], c.get("shift")) for c in r["collectives"]]
            for r in json.loads(rep.stdout)["ranks"]]


def c_backend(prog, tmp):
    """prog through `dtc compile --emit=c`, built as tests/exec/test_emit_c.sh
    builds it: the command to run it, or what went wrong (a string)."""
    c, exe = prog[:-3] + ".c", prog[:-3] + "_c"
    res = sh([DTC, "compile", prog, "--emit=c", "-o", c])
    if res.returncode:
        return "dtc compile --emit=c: " + res.stderr
    build = os.path.dirname(os.path.abspath(DTC))
    link = subprocess.run(["mpicc", "--showme:link"], capture_output=True, text=True)
    mpi = link.stdout.split() if link.returncode == 0 else ["-lmpi"]
    res = subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-Wall", "-Werror", "-O2",
                          "-I" + os.path.dirname(os.path.dirname(HERE)), c, os.path.join(build, "libdtrt.a"),
                          os.path.join(build, "libdtrt_core.a")] + mpi + ["-lopenblas", "-lm", "-lpthread", "-o", exe],
                         capture_output=True, text=True)
    return [exe] if res.returncode == 0 else "cc: " + res.stderr


def main():
    if not have_mpirun():
        return 1
    tmp = tempfile.mkdtemp(prefix="dtc-ring-loop-")
    rng = np.random.default_rng(5)
    inp = {n: rng.standard_normal((B, T, D)).astype(np.float32) for n in "qkv"}
    ref = causal_attention(inp["q"], inp["k"], inp["v"])
    verdict = Verdicts()
    want = ring(4, T, B, D, "headtail", loop=True)
    verdict(open(os.path.join(HERE, "ring_loop.dt")).read() == want,
            "tests/local/ring_loop.dt is gen_ring.py 4 --loop")
    bad = dumps_round_trip(os.path.join(HERE, "ring_loop.dt"), tmp)
    verdict(not bad, "ring_loop.dt: every pass dump reads back through ir-roundtrip %s" % (bad or ""))
    for cp in (2, 4):
        order = headtail_order(T, cp)
        ins = []
        for n in "qkv":
            path = os.path.join(tmp, "%s.%d.npy" % (n, cp))
            np.save(path, inp[n][:, order])
            ins += ["--in", "%s=%s" % (n, path)]
        progs = {}
        for tag, loop in (("loop", True), ("unrolled", False)):
            progs[tag] = os.path.join(tmp, "ring%d_%s.dt" % (cp, tag))
            open(progs[tag], "w").write(ring(cp, T, B, D, "headtail", loop=loop))
        prog = progs["loop"]
        exe = prog[:-3]
        comp = sh([DTC, "compile", prog, "-o", exe])
        runs = [("run", [DTC, "run", prog]), ("unrolled run", [DTC, "run", progs["unrolled"]]),
                ("simulate", [DTC, "run", "--simulate", prog])]
        if comp.returncode:
            verdict(False, "cp=%d loop compile: %s" % (cp, comp.stderr.strip()[-400:]))
        else:
            runs += [("threads", [exe, "--ranks", str(cp)]), ("mpirun", ["mpirun", "-np", str(cp), exe])]
        cexe = c_backend(prog, tmp)
        if isinstance(cexe, str):
            verdict(False, "cp=%d loop, C backend: %s" % (cp, cexe[-400:]))
        else:
            runs.append(("C backend, threads", cexe + ["--ranks", str(cp)]))
        got = {}
        for how, args in runs:
            out = os.path.join(tmp, "out.%d.%s.npy" % (cp, how.replace(" ", "_").replace(",", "")))
            res = sh(args + ins + ["--out", "out0=" + out])
            if res.returncode:
                verdict(False, "cp=%d %s: %s" % (cp, how, (res.stderr or res.stdout).strip()[-400:]))
                continue
            got[how] = np.empty_like(np.load(out))
            got[how][:, order] = np.load(out)  # back to the natural order
            verdict(close(got[how], ref), "cp=%d %s == numpy" % (cp, how))
        if "run" in got and "unrolled run" in got:
            verdict(close(got["run"], got["unrolled run"].astype(np.float64)),
                    "cp=%d dtc run: loop == unrolled" % cp)
        mine, theirs = permutes(progs["loop"]), permutes(progs["unrolled"])
        block = 4 * B * (T // cp) * D
        verdict(mine is not None and mine == theirs and all(
            r == [("collective_permute", block, 1)] * (2 * (cp - 1)) for r in mine),
            "cp=%d report: the loop's collectives are the unrolled ring's, 2 (cp - 1) collective_permutes "
            "of one %d-byte block per rank (%s)" % (cp, block, mine and mine[0]))
        if not comp.returncode:
            per = traced([exe, "--ranks", str(cp)] + ins, os.path.join(tmp, "trace%d.json" % cp))
            starts, ok, _ = permute_overlap(per) if per is not None else (0, False, None)
            verdict(ok and starts == cp * 2 * (cp - 1), "cp=%d threads --trace: every collective_permute "
                    "start has operations before its wait (%d starts)" % (cp, starts))
    return verdict.exit()


if __name__ == "__main__":
    sys.exit(main())
