#!/usr/bin/env python3
"""trace_check.py - checks a compiled program's --trace file against the
Chrome trace-event format (the JSON object form that Perfetto and
chrome://tracing open) and against `dtc report --format=json`.

usage: trace_check.py TRACE.json REPORT.json NRANKS ITERS [PROFILE.txt]

Schema (the trace-event format's rules, no extra packages):
  - the top level is an object with a list "traceEvents";
  - every event is an object with ph (string), ts (number), pid and tid
    (integers) and name (string); "X" events have a number dur >= 0 and
    an object args if any; "M" events are metadata whose name is one of
    process_name / thread_name / process_sort_index / thread_sort_index,
    with args.name (string) or args.sort_index (integer);
  - every rank 0..N-1 has one track (tid = rank) named "rank N ..." by a
    thread_name event, and X events on one track nest (no partial overlap).
Content:
  - every operation is named "FILE:LINE:COL op" (or "copy to result NAME")
    and has args cpu_us, its thread's CPU time, within its duration (100 us
    of slack: the two clocks are read one after the other); every
    iteration has a cpu_us;
  - every collective has args kind, axes, group, bytes, wait_us (numbers
    where numbers belong, 0 <= wait_us <= dur), and per rank, in order, the
    collectives of each iteration are exactly `dtc report`'s: kind, axes,
    bytes and source position (a non-blocking collective's start is the
    collective; its wait is an event of category collective_wait, named
    "... wait", bytes 0);
  - with PROFILE.txt (rank 0's --profile table, over the timed iterations):
    each collective's bytes equal the report's, summed per name.
Prints what it checked; exits 1 with the first problems otherwise.
"""
import json
import re
import sys

problems = []


def bad(msg):
    problems.append(msg)


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def main():
    trace_path, report_path, nranks, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    profile_path = sys.argv[5] if len(sys.argv) > 5 else None
    with open(trace_path) as f:
        doc = json.load(f)
    with open(report_path) as f:
        report = json.load(f)

    # ---- schema ----
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        print("FAIL: the top level is not an object with a list traceEvents")
        return 1
    events = doc["traceEvents"]
    names = {}
    by_tid = {}
    for k, e in enumerate(events):
        where = "event %d (%s)" % (k, json.dumps(e)[:120])
        if not isinstance(e, dict):
            bad(where + ": not an object")
            continue
        for field in ("ph", "name"):
            if not isinstance(e.get(field), str):
                bad(where + ": %s missing or not a string" % field)
        if not is_num(e.get("ts")):
            bad(where + ": ts missing or not a number")
        for field in ("pid", "tid"):
            if not is_int(e.get(field)):
                bad(where + ": %s missing or not an integer" % field)
        if "args" in e and not isinstance(e["args"], dict):
            bad(where + ": args is not an object")
        ph = e.get("ph")
        if ph == "X":
            if not is_num(e.get("dur")) or e["dur"] < 0:
                bad(where + ": X event without a number dur >= 0")
            else:
                by_tid.setdefault(e.get("tid"), []).append(e)
        elif ph == "M":
            a = e.get("args", {})
            if e.get("name") in ("process_name", "thread_name"):
                if not isinstance(a.get("name"), str):
                    bad(where + ": %s without a string args.name" % e["name"])
                elif e["name"] == "thread_name":
                    names.setdefault(e["tid"], []).append(a["name"])
            elif e.get("name") in ("process_sort_index", "thread_sort_index"):
                if not is_int(a.get("sort_index")):
                    bad(where + ": %s without an integer args.sort_index" % e["name"])
            else:
                bad(where + ": unknown metadata event")
        else:
            bad(where + ": phase %r (the trace writes only X and M)" % ph)
    for r in range(nranks):
        n = names.get(r, [])
        if len(n) != 1 or not re.match(r"rank %d( |$)" % r, n[0]):
            bad("rank %d: track names %r, expected one 'rank %d ...'" % (r, n, r))
    if set(by_tid) - set(range(nranks)):
        bad("events on tracks %r that are no rank" % sorted(set(by_tid) - set(range(nranks))))
    # nesting: sort by start, longer first; a stack of open ends
    eps = 0.002  # microseconds: the three decimals written
    for tid, evs in by_tid.items():
        stack = []
        for e in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
            while stack and stack[-1] <= e["ts"] + eps:
                stack.pop()
            end = e["ts"] + e["dur"]
            if stack and end > stack[-1] + eps:
                bad("rank %d: %s [%g, %g] overlaps its enclosing event partially" % (tid, e["name"], e["ts"], end))
                break
            stack.append(end)

    # ---- content ----
    op_name = re.compile(r"^[^ ]+:\d+:\d+ [a-z_0-9]+$|^copy to result ")
    ncoll = nops = 0
    for r in range(nranks):
        evs = sorted(by_tid.get(r, []), key=lambda e: (e["ts"], -e["dur"]))
        colls = []
        for e in evs:
            cat, a = e.get("cat"), e.get("args", {})
            if cat == "op":
                nops += 1
                if not op_name.match(e["name"]):
                    bad("rank %d: operation named %r, not 'FILE:LINE:COL op'" % (r, e["name"]))
                if not is_int(a.get("bytes")):
                    bad("rank %d: %s without integer bytes" % (r, e["name"]))
                if not (is_num(a.get("cpu_us")) and 0 <= a["cpu_us"] <= e["dur"] + 100):
                    bad("rank %d: %s with cpu_us %r, not a number in [0, dur %g + 100 us]"
                        % (r, e["name"], a.get("cpu_us"), e["dur"]))
            elif cat == "collective":
                ok = (isinstance(a.get("kind"), str) and isinstance(a.get("axes"), str) and is_int(a.get("bytes"))
                      and is_num(a.get("wait_us")) and isinstance(a.get("group"), list)
                      and all(is_int(g) for g in a["group"]) and r in a["group"])
                if not ok:
                    bad("rank %d: collective %s without kind/axes/group/bytes/wait_us: %r" % (r, e["name"], a))
                    continue
                if not (0 <= a["wait_us"] <= e["dur"] + eps):
                    bad("rank %d: %s waits %g us of %g" % (r, e["name"], a["wait_us"], e["dur"]))
                colls.append(e)
            elif cat == "collective_wait":  # a non-blocking collective's wait (its start is the collective)
                if not (isinstance(a.get("kind"), str) and a.get("bytes") == 0):
                    bad("rank %d: collective_wait %s without kind or with bytes: %r" % (r, e["name"], a))
                if not e["name"].endswith(" wait"):
                    bad("rank %d: collective_wait named %r" % (r, e["name"]))
            elif cat == "iteration" and not is_num(a.get("cpu_us")):
                bad("rank %d: iteration without a number cpu_us" % r)
            elif cat not in ("wait", "iteration"):
                bad("rank %d: event %s of unknown category %r" % (r, e["name"], cat))
        want = report["ranks"][r]["collectives"]
        got_iters = {}
        for e in colls:
            got_iters.setdefault(e["args"].get("iteration"), []).append(e)
        if sorted(got_iters) != list(range(iters)) and want:
            bad("rank %d: collectives in iterations %r, expected 0..%d" % (r, sorted(got_iters), iters - 1))
        for it, got in sorted(got_iters.items()):
            if len(got) != len(want):
                bad("rank %d iteration %s: %d collectives in the trace, %d in dtc report" % (r, it, len(got), len(want)))
                continue
            for k, (g, w) in enumerate(zip(got, want)):
                ga = g["args"]
                gw = (ga["kind"], ga["axes"], ga["bytes"], ga.get("site"))
                ww = (w["kind"], ",".join(w["axes"]), w["bytes"], w.get("site"))
                if gw != ww:
                    bad("rank %d iteration %s collective %d: trace %r, dtc report %r" % (r, it, k + 1, gw, ww))
                if w.get("site") and not g["name"].startswith(w["site"] + " "):
                    bad("rank %d: collective named %r, not after its source %s" % (r, g["name"], w["site"]))
                ncoll += 1
    nprof = 0
    if profile_path:
        sums = {}
        for w in report["ranks"][0]["collectives"]:
            key = "%s %s(%s)" % (w["site"], w["kind"], ",".join(w["axes"]))
            sums[key] = sums.get(key, 0) + w["bytes"]
        rows = {}
        for line in open(profile_path):
            m = re.match(r"^  (.+?)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+(\d+)$", line)
            if m:
                rows[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        timed = int(re.search(r"profile: rank 0, (\d+) iter", open(profile_path).read()).group(1))
        for key, b in sums.items():
            if key not in rows:
                bad("profile: no row %r" % key)
            elif rows[key][1] != b * timed:
                bad("profile: %s has %d bytes, dtc report %d x %d iterations" % (key, rows[key][1], b, timed))
            else:
                nprof += 1
    if problems:
        for p in problems[:20]:
            print("FAIL: " + p)
        print("FAIL: %d problems in %s" % (len(problems), trace_path))
        return 1
    print("ok: %s: %d events, %d ranks with tracks, %d operations named FILE:LINE:COL op, "
          "%d collectives over %d iteration%s equal to dtc report (kind, axes, bytes, site)%s"
          % (trace_path, len(events), nranks, nops, ncoll, iters, "" if iters == 1 else "s",
             ", %d profile rows agree" % nprof if profile_path else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
