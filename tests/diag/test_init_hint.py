#!/usr/bin/env python3
"""Issue 11: the hint for an initialiser (randn, zeros, full, ...) called
inside a function body suggests a parameter declaration that compiles: the
test takes the text between backquotes from the message, puts it where the
message says (a parameter of that function, the let removed) and checks that
the program then passes `dtc check` and `dtc run`.  `arange` inside a body is
the operation arange(N, dtype=i32): the usage its message shows compiles."""
import os, re, subprocess, sys, tempfile

dtc = os.environ["DTC"]
fails = 0

# (the let in main's body, what returns its value, words the message must have)
CASES = [
    ("let i: i32[4] = zeros();", "cast(i, f32)", "make 'i' a parameter of 'main'"),
    ("let w = randn(seed=3, std=0.5);", "w", "make 'w' a parameter of 'main'"),
    ("let w = randn();", "w", "make 'w' a parameter of 'main'"),
    ("let z = zeros(4);", "z", "make 'z' a parameter of 'main'"),
    ("let f = full(2.5);", "f", "make 'f' a parameter of 'main'"),
    ("let y = x + ones();", "init", "add a parameter to 'main'"),
]


def program(params, let, use):
    return ("mesh M[dp=2, tp=2];\n"
            f"fn main(x: f32[4] @ M[R, R] = ones(){params}) -> f32[4] @ M[R, R] {{\n"
            f"    {let}\n"
            f"    return x + {use};\n"
            "}\n")


def dtc_run(cmd, text, tmp):
    path = os.path.join(tmp, "p.dt")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([dtc, cmd, path], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


with tempfile.TemporaryDirectory() as tmp:
    for let, use, words in CASES:
        rc, out = dtc_run("check", program("", let, use), tmp)
        m = re.search(r"is an initialiser: .*`([^`]*)`", out)
        ok = rc == 1 and m is not None and words in out
        if ok:
            fixed = program(", " + m.group(1), "", use)
            rc2, out2 = dtc_run("check", fixed, tmp)
            rc3, out3 = dtc_run("run", fixed, tmp)
            ok = rc2 == 0 and rc3 == 0 and "sum=" in out3
            out += "\nfixed program:\n" + fixed + out2 + out3
        print(("ok" if ok else "FAIL") + f": `{let}` -> " + (f"`{m.group(1)}` compiles" if m else "no suggestion"))
        if not ok:
            print(out[-2000:])
            fails += 1

    # arange in a body: the usage in the message, with N = 4, compiles
    rc, out = dtc_run("check", program("", "let i = arange();", "cast(i, f32)"), tmp)
    m = re.search(r"usage: (arange\(N[^)]*\))", out)
    ok = rc == 1 and m is not None
    if ok:
        fixed = program("", f"let i = {m.group(1).replace('N', '4')};", "cast(i, f32)")
        rc3, out3 = dtc_run("run", fixed, tmp)
        ok = rc3 == 0 and "sum=1.000000e+01" in out3
        out += fixed + out3
    print(("ok" if ok else "FAIL") + ": `let i = arange();` -> " + (f"`{m.group(1)}` with N = 4 runs" if m else "no usage"))
    if not ok:
        print(out[-2000:])
        fails += 1

    # in a helper function the hint names that function, and compiles there
    helper = ("mesh M[dp=2];\n"
              "fn helper(x: f32[4]{params}) -> f32[4] {{\n    {let}\n    return x + {use};\n}}\n"
              "fn main(x: f32[4] @ M[R] = ones()) -> f32[4] @ M[R] {{ return helper(x); }}\n")
    rc, out = dtc_run("check", helper.format(params="", let="let r = rand(seed=2);", use="r"), tmp)
    m = re.search(r"make 'r' a parameter of 'helper' instead, as in `([^`]*)`", out)
    ok = rc == 1 and m is not None
    if ok:
        fixed = helper.format(params=", " + m.group(1), let="", use="r")
        fixed = fixed.replace("return helper(x);", "return helper(x, x);")
        rc2, out2 = dtc_run("check", fixed, tmp)
        ok = rc2 == 0
        out += fixed + out2
    print(("ok" if ok else "FAIL") + ": in a helper: " + (f"`{m.group(1)}` compiles" if m else "no suggestion"))
    if not ok:
        print(out[-2000:])
        fails += 1
sys.exit(1 if fails else 0)
