#!/usr/bin/env python3
"""test_report_json.py - `dtc report --format=json` parses with Python's
json module and says exactly what the text report says, for every sample
(and one --mesh override): the mesh, per rank its coordinates, every
collective in order (kind, axes, reduction, dims, local type, bytes,
result), the totals, the peak memory, and the estimate.  Also: --format
is refused outside `report`, and an unknown format is a usage error (2).

env: DTC, DTC_SRC.
"""
import glob
import json
import os
import re
import subprocess
import sys

DTC = os.environ["DTC"]
SRC = os.environ.get("DTC_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))


def run(*args):
    p = subprocess.run([DTC] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def parse_text(text):
    """The text report as the same structure as the JSON one."""
    lines = text.splitlines()
    m = re.match(r"mesh (\S+)\[(.*)\]: (\d+) ranks?$", lines[0])
    axes = [dict(name=a.split("=")[0], size=int(a.split("=")[1])) for a in m.group(2).split(", ") if a]
    out = {"mesh": {"name": m.group(1), "axes": axes, "ranks": int(m.group(3))}, "ranks": []}
    rank = None
    coll = re.compile(r"  (\d+)\. (\w+)\(([^,)]*)(?:, (sum|max|min|avg))?(?:, dim (\d+)(?: -> (\d+))?)?\) "
                      r"of local (.+): (\d+) bytes -> (\S+?)(?:, in loop @(\S+): (\d+) times)?$")
    for line in lines[1:]:
        m = re.match(r"rank (\d+) \((.*)\):$", line)
        if m:
            coords = {}
            for kv in filter(None, m.group(2).split(", ")):
                k, v = kv.split("=")
                coords[k] = int(v)
            rank = {"rank": int(m.group(1)), "coords": coords, "collectives": []}
            out["ranks"].append(rank)
            continue
        m = coll.match(line)
        if m:
            c = {"index": int(m.group(1)), "kind": m.group(2), "axes": m.group(3).split("+") if m.group(3) else []}
            if m.group(4):
                c["red"] = m.group(4)
            if m.group(5) is not None:
                c["dim"] = int(m.group(5))
            if m.group(6) is not None:
                c["dim2"] = int(m.group(6))
            c.update(local_type=m.group(7), bytes=int(m.group(8)), result=m.group(9))
            if m.group(10):
                c.update(loop=m.group(10), trips=int(m.group(11)))
            rank["collectives"].append(c)
            continue
        m = re.match(r"  total: (\d+) collectives?, (\d+) bytes$", line)
        if m:
            rank["total_collectives"], rank["total_bytes"] = int(m.group(1)), int(m.group(2))
            continue
        m = re.match(r"  peak memory: (\d+) bytes$", line)
        if m:
            rank["peak_memory_bytes"] = int(m.group(1))
            continue
        m = re.match(r"estimated time: ([\d.]+) us \(compute ([\d.]+) us, communication ([\d.]+) us\)$", line)
        if m:
            out["estimated_time_us"] = dict(total=float(m.group(1)), compute=float(m.group(2)),
                                            communication=float(m.group(3)))
            continue
        raise AssertionError("unparsed text report line: %r" % line)
    return out


def main():
    fails = 0
    cases = [[f] for f in sorted(glob.glob(os.path.join(SRC, "samples", "*.dt")))]
    cases.append([os.path.join(SRC, "samples", "mlp2d.dt"), "--mesh", "dp=3,tp=2"])
    for case in cases:
        name = " ".join(os.path.basename(a) if a.endswith(".dt") else a for a in case)
        rc1, text, e1 = run("report", *case)
        rc2, js, e2 = run("report", "--format=json", *case)
        rc3, text2, _ = run("report", "--format", "text", *case)
        if rc1 or rc2 or rc3 or text2 != text:
            print("FAIL: %s: exit %d / %d / %d: %s %s" % (name, rc1, rc2, rc3, e1, e2))
            fails += 1
            continue
        try:
            got = json.loads(js)
        except ValueError as err:
            print("FAIL: %s: --format=json is not JSON: %s" % (name, err))
            fails += 1
            continue
        want = parse_text(text)
        # the JSON has more: each collective's source position and a note on bytes
        for r in got.get("ranks", []):
            for c in r.get("collectives", []):
                if not re.match(r"^[^ ]+\.dt:\d+:\d+$", c.pop("site", "x.dt:1:1")):
                    print("FAIL: %s: rank %d collective %d: bad site" % (name, r["rank"], c["index"]))
                    fails += 1
        got.pop("bytes", None)
        if got != want:
            print("FAIL: %s: JSON and text reports differ:\n  json %s\n  text %s"
                  % (name, json.dumps(got)[:600], json.dumps(want)[:600]))
            fails += 1
            continue
        ncoll = sum(len(r["collectives"]) for r in want["ranks"])
        print("ok: %-28s JSON == text: %d ranks, %d collectives, estimate %.3f us"
              % (name, len(want["ranks"]), ncoll, want["estimated_time_us"]["total"]))
    sample = os.path.join(SRC, "samples", "mlp.dt")
    for args, what in ((["report", "--format=yaml", sample], "unknown format"),
                       (["check", "--format=json", sample], "--format outside report")):
        rc, _, err = run(*args)
        if rc != 2 or "--format" not in err:
            print("FAIL: %s: exit %d, %r (want exit 2 naming --format)" % (what, rc, err))
            fails += 1
        else:
            print("ok: %s: exit 2: %s" % (what, err.splitlines()[0]))
    if fails:
        print("FAIL: %d checks failed" % fails)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
