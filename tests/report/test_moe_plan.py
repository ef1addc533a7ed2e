#!/usr/bin/env python3
"""test_moe_plan.py - samples/moe.dt is planned the way an expert writes an
expert-parallel MoE layer (GShard / Switch): routing, capacity, dispatch and
combine local to each rank's groups, and exactly two all_to_alls per rank,
[G, E, C, D] from S(0) to S(1) (groups -> experts) and back, nothing else.

For the declared mesh (ep=2), ep=4 and an uneven ep=3 (G = 4 groups over 3
ranks: one rank holds none), `dtc report --format=json` must list on every
rank exactly those two collectives, and each one's bytes must be what the
rank sends: its groups' buffers for the experts of every other rank,
computed here from the chunking rule (ceil-sized leading chunks).

env: DTC, DTC_SRC.
"""
import json
import os
import re
import subprocess
import sys

DTC = os.environ["DTC"]
SRC = os.environ.get("DTC_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
MOE = os.path.join(SRC, "samples", "moe.dt")


def chunk(n, parts, r):
    """Length of piece r of n split in `parts` (ceil-sized leading pieces)."""
    size = -(-n // parts)
    return max(0, min(n, (r + 1) * size) - r * size)


def consts(text):
    return {k: int(v) for k, v in re.findall(r"const (\w+) = (\d+);", text)}


def main():
    k = consts(open(MOE).read())
    G, E, C, D = k["G"], k["E"], k["C"], k["D"]
    failed = 0
    for mesh, n in (("", 2), ("ep=4", 4), ("ep=3", 3)):
        args = [DTC, "report", MOE, "--format=json"] + (["--mesh", mesh] if mesh else [])
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        what = "moe mesh %s" % (mesh or "declared (ep=2)")
        if p.returncode != 0:
            print("FAIL %s: dtc report exit %d: %s" % (what, p.returncode, p.stderr))
            failed += 1
            continue
        rep = json.loads(p.stdout)
        before = failed
        for rk in rep["ranks"]:
            r = rk["rank"]
            colls = [(c["kind"], c["dim"], c["dim2"]) for c in rk["collectives"]]
            want = [("all_to_all", 0, 1), ("all_to_all", 1, 0)]
            # out: my groups x the other ranks' experts; back: my experts x the others' groups
            sent_out = 4 * C * D * sum(chunk(G, n, r) * chunk(E, n, o) for o in range(n) if o != r)
            sent_back = 4 * C * D * sum(chunk(E, n, r) * chunk(G, n, o) for o in range(n) if o != r)
            got_bytes = [c["bytes"] for c in rk["collectives"]]
            if colls != want or got_bytes != [sent_out, sent_back]:
                print("FAIL %s rank %d: collectives %s bytes %s, expected %s bytes %s"
                      % (what, r, colls, got_bytes, want, [sent_out, sent_back]))
                failed += 1
        totals = sorted({rk["total_bytes"] for rk in rep["ranks"]})
        if failed == before:
            print("ok   %s: 2 all_to_alls per rank, bytes per rank %s" % (what, totals))
    print("test_moe_plan: %s" % ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
