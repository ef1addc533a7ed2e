#!/usr/bin/env python3
"""Issue 11: a call chain 1,002 (and 20,000) functions deep, which `dtc check`
accepts, must also run and compile: the inliner has no depth limit (it used
to abort with "internal error at passes/inline.c: call nesting too deep")."""
import os, subprocess, sys, tempfile

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
sys.exit(1 if fails else 0)
