"""What the per-shard tests (tests/local, tests/rules, tests/ring) share: the
dtc binary, an environment that lets mpirun run as root and oversubscribe,
a command runner, and the float32 comparison they hold results to (1e-5
relative to the reference's largest magnitude)."""
import json
import os
import shutil
import subprocess

import numpy as np

DTC = os.environ.get("DTC") or os.path.join(os.environ.get("DTC_BUILD", "build"), "dtc")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def sh(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)


class Verdicts:
    """Prints each check as `ok  LABEL` or `FAIL LABEL` and counts them;
    exit() prints "N passed, M failed" and gives the exit status."""

    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok, label):
        print("%s %s" % ("ok  " if ok else "FAIL", label))
        self.passed += bool(ok)
        self.failed += not ok

    def exit(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def have_mpirun():
    """Whether mpirun is on the PATH; says so as a failure when not."""
    if shutil.which("mpirun"):
        return True
    print("FAIL: mpirun is not installed (scripts/setup.sh installs it)")
    return False


def close(got, ref):
    scale = float(np.abs(ref).max(initial=0.0))
    return got.shape == ref.shape and got.dtype == np.float32 and \
        bool(np.allclose(got.astype(np.float64), ref, rtol=1e-5, atol=1e-5 * scale))


def dumps_round_trip(prog, tmp):
    """Problems (empty: none) with prog's IR dumps after every pass up to
    optimise: each must read back through `dtc ir-roundtrip` to the same
    text (comment lines aside)."""
    bad = []
    dump = os.path.join(tmp, "dump-" + os.path.basename(prog))
    comp = sh([DTC, "compile", prog, "--dump-dir", dump, "--stop-after=optimise"])
    if comp.returncode != 0:
        return ["dump: " + comp.stderr.strip()]
    for f in sorted(os.listdir(dump)):
        rt = sh([DTC, "ir-roundtrip", os.path.join(dump, f)])
        text = [l for l in open(os.path.join(dump, f)).read().splitlines() if not l.startswith("#")]
        if rt.returncode != 0 or [l for l in rt.stdout.splitlines() if not l.startswith("#")] != text:
            bad.append("ir-roundtrip %s: %s" % (f, rt.stderr.strip()[-300:] or "the text differs"))
    return bad


def traced(args, trace):
    """Runs args with --trace; each rank's "X" events sorted by time, or None."""
    res = sh(args + ["--trace", trace])
    if res.returncode:
        print(res.stderr.strip()[-400:])
        return None
    ev = json.load(open(trace))
    ev = ev["traceEvents"] if isinstance(ev, dict) else ev
    per = {}
    for e in ev:
        if e.get("ph") == "X":
            per.setdefault((e["pid"], e["tid"]), []).append(e)
    return [sorted(evs, key=lambda e: e["ts"]) for evs in per.values()]


def permute_overlap(per):
    """Of the collective_permute starts on every rank: how many there are,
    whether each has operations traced before its wait, and the waits'
    durations (us)."""
    pairs = [p for evs in per for p in _permute_waits(evs)]
    return len(pairs), all(ok for ok, _ in pairs), [w["dur"] for ok, w in pairs if ok]


def permute_ahead(per):
    """Per rank, for each collective_permute start: whether operations are
    traced between it and its wait (the transfer in flight meanwhile)."""
    return [[ok for ok, _ in _permute_waits(evs)] for evs in per]


def _permute_waits(evs):
    """(operations before the wait?, the wait event or None) for each
    collective_permute start among one rank's sorted events."""
    out = []
    for i, e in enumerate(evs):
        if e["cat"] != "collective" or "collective_permute" not in e["name"]:
            continue
        j = next((j for j in range(i + 1, len(evs)) if evs[j]["cat"] == "collective_wait"
                  and evs[j]["name"] == e["name"] + " wait"), None)
        out.append((j is not None and any(x["cat"] == "op" for x in evs[i + 1:j]),
                    evs[j] if j is not None else None))
    return out
