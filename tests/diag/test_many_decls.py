#!/usr/bin/env python3
"""Issue 11: declaration handling is linear.  `dtc check` on 100,000 consts
(20,000 took 29 s before), on a chain of 100,000 consts each naming the next
(it overflowed the stack), on a chain of 100,000 functions and on 30,000 redefinitions
must each take a few seconds of CPU at most, with the right verdict."""
import os, resource, subprocess, sys, tempfile

dtc = os.environ["DTC"]
LIMIT = 10.0  # CPU seconds (not wall time: the machine may be loaded); generous for ASan
MAIN = "fn main(x: f32[4] @ M[R] = ones()) -> f32[4] @ M[R] { return x; }\n"
N = 100000

cases = {
    "100000 consts": ("mesh M[x=2];\n" + "".join(f"const C{i} = {i} + 1;\n" for i in range(N)) + MAIN, 0, None),
    "a chain of 100000 consts": (
        "mesh M[x=C0];\n" + "".join(f"const C{i} = C{i + 1};\n" for i in range(N)) + f"const C{N} = 2;\n" + MAIN,
        0, None),
    "a chain of 100000 functions": (
        "mesh M[x=2];\nfn g0(a: f32[4]) -> f32[4] { return a; }\n"
        + "".join(f"fn g{i}(a: f32[4]) -> f32[4] {{ return g{i - 1}(a); }}\n" for i in range(1, N)) + MAIN,
        0, None),
    "30000 redefinitions": ("mesh M[x=2];\n" + "const C = 1;\n" * 30000 + MAIN, 1, "'C' is already defined"),
}

fails = 0
with tempfile.TemporaryDirectory() as tmp:
    for name, (text, want_rc, want_msg) in cases.items():
        path = os.path.join(tmp, "p.dt")
        with open(path, "w") as f:
            f.write(text)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            p = subprocess.run([dtc, "check", path], capture_output=True, text=True, timeout=120)
            rc, out = p.returncode, p.stdout + p.stderr
        except subprocess.TimeoutExpired:
            rc, out = "timeout", ""
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        dt = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        ok = rc == want_rc and dt < LIMIT and (want_msg is None or want_msg in out)
        print(f"{'ok' if ok else 'FAIL'}: {name}: exit {rc} (want {want_rc}) in {dt:.2f} CPU s (limit {LIMIT} s)")
        if not ok:
            print(out[-1500:])
            fails += 1
sys.exit(1 if fails else 0)
