#!/usr/bin/env python3
"""test_size1_axes.py - no collective over a mesh axis of size 1.

On an axis of size 1 every placement (S, P) holds the whole tensor on the
one member, so the compiler must treat it as R: no all_gather, all_reduce,
reduce_scatter or all_to_all over such an axis, none with 0 bytes counted.
For every sample and every way of setting one or more (not all) axes of its
mesh to 1 (the others keep their declared size), `dtc report --format=json`
must list no collective whose axes include a size-1 axis.  (That the
programs still compute the right thing on such meshes is checked by the
exec and simulate tests, whose meshes include size-1 axes.)

env: DTC, DTC_SRC.
"""
import glob
import itertools
import json
import os
import subprocess
import sys

DTC = os.environ["DTC"]
SRC = os.environ.get("DTC_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))


def report(dt, mesh=None):
    args = [DTC, "report", dt, "--format=json"] + (["--mesh", mesh] if mesh else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr}")
    return json.loads(p.stdout)


def main():
    checks = fails = 0
    for dt in sorted(glob.glob(os.path.join(SRC, "samples", "*.dt"))):
        axes = [(a["name"], a["size"]) for a in report(dt)["mesh"]["axes"]]
        for r in range(1, len(axes)):
            for ones in itertools.combinations(range(len(axes)), r):
                mesh = ",".join(f"{n}={1 if k in ones else s}" for k, (n, s) in enumerate(axes))
                size1 = {axes[k][0] for k in ones}
                rep = report(dt, mesh)
                bad = [c for rk in rep["ranks"] for c in rk["collectives"]
                       if size1 & set(c["axes"])]
                checks += 1
                name = f"{os.path.basename(dt)} --mesh {mesh}"
                if bad:
                    fails += 1
                    c = bad[0]
                    print(f"FAIL: {name}: {c['kind']} over {'+'.join(c['axes'])} "
                          f"({c['bytes']} bytes) at {c.get('site')}")
                else:
                    n = len(rep["ranks"][0]["collectives"])
                    print(f"ok: {name}: {n} collectives on rank 0, none over {'/'.join(sorted(size1))}")
    print(f"{checks - fails} passed, {fails} failed")
    return 1 if fails or checks == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
