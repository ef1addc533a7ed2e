#!/usr/bin/env python3
"""Issue 8: the runtime's files are layered without a cycle (runtime/README.md,
"Layers").  Reads the symbols each object of libdtrt_core.a and libdtrt.a
defines and uses (nm) and checks that every reference from one file to
another goes to a strictly lower layer.  A file missing from LAYERS fails the
test: place it in the table.  env: DTC_BUILD."""
import os, subprocess, sys

# the order of runtime/README.md: the core at the bottom, rt_main on top
LAYERS = {
    "rt_util": 0,                                        # core: dtypes, conversions
    "rt_mesh": 1, "rt_coll": 1, "rt_npy": 1, "rt_rng": 1, "rt_route": 1, "rt_ckpt": 1,  # core
    "ctx": 2, "options": 2,                              # rank context; command line
    "profile": 3, "kernels": 3, "kernels_route": 3,      # on the context
    "comm": 4,                                           # collectives (profiled)
    "comm_threads": 5, "comm_mpi": 5,                    # backends
    "ckpt": 5,                                           # --save / --load
    "program": 6,                                        # rt_main
}

build = os.environ.get("DTC_BUILD") or sys.exit("DTC_BUILD must name the build directory")
defined, used = {}, {}
for lib in ("libdtrt_core.a", "libdtrt.a"):
    path = os.path.join(build, lib)
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    obj = None
    for line in out.splitlines():
        if line.endswith(".o:"):
            obj = line[:-1].split(".")[0]
            used.setdefault(obj, set())
            continue
        f = line.split()
        if len(f) == 3 and f[1] in "TDBRC":
            defined[f[2]] = obj
        elif len(f) == 2 and f[0] == "U":
            used[obj].add(f[1])

fails = 0
edges = 0
for obj in sorted(used):
    if obj not in LAYERS:
        print(f"FAIL: runtime file {obj}.c has no layer in tests/runtime/test_layers.py")
        fails += 1
        continue
    for sym in sorted(used[obj]):
        to = defined.get(sym)
        if to is None or to == obj:
            continue
        edges += 1
        if to not in LAYERS or LAYERS[to] >= LAYERS[obj]:
            print(f"FAIL: {obj}.c (layer {LAYERS[obj]}) calls {sym} of {to}.c "
                  f"(layer {LAYERS.get(to, '?')}): the runtime's layers would form a cycle")
            fails += 1
if fails:
    sys.exit(1)
print(f"ok: {len(used)} runtime files, {edges} references between them, each to a lower layer")
