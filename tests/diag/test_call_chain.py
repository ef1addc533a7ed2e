#!/usr/bin/env python3
"""Issue 11: a call chain 1,002 (and 20,000) functions deep, which `dtc check`
accepts, must also run and compile: the inliner has no depth limit (it used
to abort with "internal error at passes/inline.c: call nesting too deep").
And a program that doubles per level (f_i(a) = f_{i-1}(a) + f_{i-1}(a), 25
levels; compile used to run forever) gets the same one diagnostic, quickly,
from check, run and compile."""
import os, resource, subprocess, sys, tempfile

dtc = os.environ["DTC"]
fails = 0


def program(depth):
    s = ["mesh M[x=2];", "fn f0(a: f32[4]) -> f32[4] { return a * 2.0; }"]
    for i in range(1, depth):
        s.append(f"fn f{i}(a: f32[4]) -> f32[4] {{ return f{i - 1}(a); }}")
    s.append(f"fn main(x: f32[4] @ M[R] = ones()) -> f32[4] @ M[R] {{ return f{depth - 1}(x); }}")
    return "\n".join(s) + "\n"


def run(*args, timeout=120):
    p = subprocess.run([dtc, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


with tempfile.TemporaryDirectory() as tmp:
    for depth in (1002, 20000):
        path = os.path.join(tmp, f"chain{depth}.dt")
        with open(path, "w") as f:
            f.write(program(depth))
        for cmd in (["check", path], ["run", path],
                    ["compile", path, "--emit=c", "-o", os.path.join(tmp, f"c{depth}.c")]):
            rc, out = run(*cmd)
            ok = rc == 0 and "internal error" not in out
            if cmd[0] == "run":
                ok = ok and "sum=8.000000e+00" in out
            print(("ok" if ok else "FAIL") + f": depth {depth}: dtc {cmd[0]} -> {rc}")
            if not ok:
                print(out[-2000:])
                fails += 1
    lines = ["mesh M[x=2];", "fn f0(a: f32[4]) -> f32[4] { return a * 2.0; }"]
    for i in range(1, 26):
        lines.append(f"fn f{i}(a: f32[4]) -> f32[4] {{ return f{i - 1}(a) + f{i - 1}(a); }}")
    lines.append("fn main(x: f32[4] @ M[R] = ones()) -> f32[4] @ M[R] { return f25(x); }")
    path = os.path.join(tmp, "doubling.dt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    want = "doubling.dt:19:47: error: inlining every call makes 'f17' 393215 operations"
    for cmd in (["check", path], ["run", path], ["compile", path, "-o", os.path.join(tmp, "d")]):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rc, out = run(*cmd, timeout=120)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        dt = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
        ok = rc == 1 and want in out and out.count("error:") == 1 and dt < 10
        print(("ok" if ok else "FAIL") + f": doubling: dtc {cmd[0]} -> {rc} in {dt:.2f} CPU s, one diagnostic")
        if not ok:
            print(out[-2000:])
            fails += 1
    # the same doubling called from inside a loop body is counted there too
    lines[-1] = ("fn main(x: f32[4] @ M[R] = ones()) -> f32[4] @ M[R] {\n"
                 "    let h = x;\n    for l in 0..3 carry (h) {\n        h = f25(h);\n    }\n    return h;\n}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    rc, out = run("check", path)
    ok = rc == 1 and want in out and "through main -> main.loop0 -> f25" in out
    print(("ok" if ok else "FAIL") + ": doubling inside a loop body: one diagnostic")
    if not ok:
        print(out[-2000:])
        fails += 1
sys.exit(1 if fails else 0)
