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
  3. the ring (q, k, v split on the sequence over one axis, passes/
     ring_attention.c) on cp = 2, 3, 4 and over one axis of a 2x2 mesh,
     causal and not, the same four ways; `dtc report` shows only
     collective_permutes: 2 (n - 1) ring steps of one K or V block each,
     and for causal with an even number of rows a rank (head-tail) up to 8
     permutations of half blocks (those that move data) (q, k, v into head-tail order, the output
     back); no all_gather.  Causal with an odd number of rows a rank
     (T = 9 over 3) runs the contiguous ring; a sequence that does not
     split evenly (T = 18 over 4) falls back to gathering K and V (the
     ring needs one local shape);
  4. memory: at T = 1024, D = 64 the default cost model picks the ring on
     cp = 2, 4, and `dtc report`'s peak per rank is at most 1.05 / cp of
     cp = 1's;
  5. overlap: the compiled T = 1024 ring on cp = 4 (threads, --trace)
     has, on every rank, each of its 2 (cp - 1) K/V steps' collective_
     permute start traced before operations and then its wait.
f32 within 1e-5 relative to the result's largest magnitude.
"""
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: shard_harness.py
from shard_harness import close, DTC, have_mpirun, permute_ahead, sh, traced, Verdicts  # noqa: E402


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
    # the ring: q, k, v split on the sequence over one axis, T a multiple of n
    ("ring cp=2 causal", "M[cp=2]", ((2, 12, 8),) * 3, ("S(1)",) * 3, "S(1)", True, None, True),
    ("ring cp=3 causal", "M[cp=3]", ((3, 2, 12, 4),) * 3, ("S(2)",) * 3, "S(2)", True, None, True),
    ("ring cp=4 causal", "M[cp=4]", ((2, 16, 8),) * 3, ("S(1)",) * 3, "S(1)", True, None, True),
    # 9 rows over 3: 3 rows a rank, no head-tail halves: the contiguous ring, every block masked
    ("ring cp=3 causal, T=9 (contiguous)", "M[cp=3]", ((2, 9, 4),) * 3, ("S(1)",) * 3, "S(1)", True, None, True),
    ("ring cp=4 non-causal, Dv != D, scale", "M[cp=4]", ((2, 16, 8), (2, 16, 8), (2, 16, 5)), ("S(1)",) * 3,
     "S(1)", False, 0.2, True),
    ("ring 2x2: batch over dp, ring over cp, causal", "M[dp=2, cp=2]", ((4, 2, 8, 4),) * 3, ("S(0), S(2)",) * 3,
     "S(0), S(2)", True, None, True),
    # T = 18 does not split evenly over 4: no ring; K and V are gathered
    ("cp=4 sequence split, uneven T=18: all_gather", "M[cp=4]", ((2, 18, 8),) * 3, ("S(1)",) * 3, "S(1)", True,
     None, False),
]


def main():
    if not have_mpirun():
        return 1
    tmp = tempfile.mkdtemp(prefix="dtc-attention-")
    rng = np.random.default_rng(11)
    verdict = Verdicts()

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
        # at these toy sizes gathering K and V costs less than the ring's
        # 2 (n - 1) + 8 messages and its head-tail half blocks (the arithmetic
        # it saves is tiny): the ring cases price communication at 0 (at
        # T = 1024 below and T = 4096 in bench/ring.sh the default cost model
        # picks the ring)
        flags = ["--alpha=0", "--beta=0"] if ring else []
        runs = [("run", [DTC, "run", prog]), ("simulate", [DTC, "run", "--simulate", prog] + flags)]
        if nranks > 1:
            exe = prog[:-3]
            comp = sh([DTC, "compile", prog, "-o", exe] + flags)
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
            rep = sh([DTC, "report", "--format=json", prog] + flags)
            if rep.returncode:
                verdict(False, "%s report: %s" % (label, rep.stderr.strip()[-400:]))
                continue
            ranks = json.loads(rep.stdout)["ranks"]
            kinds = sorted({c["kind"] for r in ranks for c in r["collectives"]})
            if ring:
                ax = [p.strip() for p in pls[0].split(",")].index("S(%d)" % (len(shapes[0]) - 2))
                size = [int(p.split("=")[1]) for p in mesh[2:-1].split(",")]
                n_ring, local = size[ax], nranks
                kblock = 4 * int(np.prod(shapes[1])) // nranks
                vblock = 4 * int(np.prod(shapes[2])) // nranks
                # head-tail (causal, an even number of rows a rank): q, k, v and the
                # result change order by permutations of half blocks
                headtail = causal and (shapes[0][-2] // n_ring) % 2 == 0
                for r in ranks:
                    cs = r["collectives"]
                    steps = [c for c in cs if "shift" in c]
                    perms = [c for c in cs if "perm" in c]
                    ok = all(c["kind"] == "collective_permute" for c in cs) and \
                        [c["bytes"] for c in steps] == [kblock, vblock] * (n_ring - 1) and \
                        (0 < len(perms) <= 8 if headtail else not perms) and all(
                            c["bytes"] * 2 in (0, kblock, vblock, 4 * int(np.prod(shapes[0])) // nranks,
                                               4 * int(np.prod(shapes[2])) // nranks) for c in perms)
                    verdict(ok, "%s rank %d report: %d collective_permutes of one K or V block (%d, %d bytes)%s, "
                            "nothing else (%s)" % (label, r["rank"], 2 * (n_ring - 1), kblock, vblock,
                                                   " and up to 8 half-block permutations (head-tail; an identity is no step)" if headtail else "",
                                                   ", ".join("%s %d" % (c["kind"], c["bytes"]) for c in cs)))
            elif "uneven" in label and "all_gather" in label:
                verdict(kinds == ["all_gather"], "%s: K and V gathered (%s)" % (label, ", ".join(kinds)))
            else:
                verdict(kinds == [], "%s: no communication (%s)" % (label, ", ".join(kinds)))
    # memory: the ring's peak per rank from `dtc report` at T = 1024, D = 64
    peaks = {}
    for cp in (1, 2, 4):
        prog = os.path.join(tmp, "mem%d.dt" % cp)
        open(prog, "w").write(program("M[cp=%d]" % cp, ((1, 1024, 64),) * 3, ("S(1)",) * 3, "S(1)", True, None))
        rep = sh([DTC, "report", "--format=json", prog])
        ranks = json.loads(rep.stdout)["ranks"] if not rep.returncode else []
        peaks[cp] = max(r["peak_memory_bytes"] for r in ranks) if ranks else 0
        if cp > 1:
            kinds = sorted({c["kind"] for r in ranks for c in r["collectives"]})
            verdict(kinds == ["collective_permute"], "T=1024 cp=%d: the default cost model picks the ring (%s)"
                    % (cp, ", ".join(kinds)))
    # overlap: the compiled ring (cp = 4, threads, --trace) starts each K/V
    # step's collective_permute before the block it computes meanwhile; the
    # layout permutations of head-tail have nothing to overlap and are not
    # counted
    exe = os.path.join(tmp, "mem4")
    comp = sh([DTC, "compile", os.path.join(tmp, "mem4.dt"), "-o", exe])
    ins = []
    for name in "qkv":
        np.save(os.path.join(tmp, "t_%s.npy" % name), rng.standard_normal((1, 1024, 64)).astype(np.float32))
        ins += ["--in", "%s=%s" % (name, os.path.join(tmp, "t_%s.npy" % name))]
    per = traced([exe, "--ranks", "4"] + ins, os.path.join(tmp, "ring_trace.json")) if not comp.returncode else None
    if per is None:
        verdict(False, "T=1024 cp=4 ring compile or --trace failed")
    else:
        ahead = [sum(1 for ok in r if ok) for r in permute_ahead(per)]
        verdict(len(ahead) == 4 and all(n >= 2 * 3 for n in ahead),
                "T=1024 cp=4 ring --trace: on every rank at least 2(cp-1) = 6 collective_permute starts have "
                "operations traced before their wait (%s)" % ahead)
    for cp in (2, 4):
        verdict(peaks[1] and 0 < peaks[cp] <= 1.05 * peaks[1] / cp, "T=1024 ring report peak memory per rank "
                "cp=%d %d bytes, cp=1 %d bytes (ratio %.3f)" % (cp, peaks[cp], peaks[1], peaks[cp] / max(peaks[1], 1)))
    return verdict.exit()


if __name__ == "__main__":
    sys.exit(main())
