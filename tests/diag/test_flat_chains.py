#!/usr/bin/env python3
"""Issue 11: a flat chain of operators (a + a + ... + a, 1,001 terms used to be
"nested too deeply") is not nesting: 5,000 and 100,000 terms check, and 5,000
run with the right result, in tensors and in consts.  Real nesting (parentheses,
calls, unary minus) past 1,000 levels is one clear error at the innermost
place past the limit, from check and run alike, and never a crash."""
import os, re, subprocess, sys, tempfile

dtc = os.environ["DTC"]
fails = 0


def run(args, text, tmp):
    path = os.path.join(tmp, "p.dt")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([dtc, *args, path], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def main_fn(body, result="f32[4]"):
    return f"mesh M[x=2];\nfn main(a: f32[4] @ M[R] = ones()) -> {result} @ M[R] {{\n    return {body};\n}}\n"


def expect(name, ok, out):
    global fails
    print(("ok" if ok else "FAIL") + ": " + name)
    if not ok:
        print(out[-1500:])
        fails += 1


with tempfile.TemporaryDirectory() as tmp:
    flat = " + ".join(["a"] * 5000)
    rc, out = run(["run"], main_fn(flat), tmp)
    expect("5000-term sum runs: sum 20000", rc == 0 and "sum=2.000000e+04" in out, out)
    mixed = " + ".join(["a * 2.0 - a / 2.0"] * 2000)  # 8000 operators, one left-leaning chain
    rc, out = run(["run"], main_fn(mixed), tmp)
    expect("mixed 8000-operator chain runs: sum 12000", rc == 0 and "sum=1.200000e+04" in out, out)
    rc, out = run(["check"], main_fn(" + ".join(["a"] * 100000)), tmp)
    expect("100000-term sum checks", rc == 0, out)
    consts = "const N = " + " + ".join(["1"] * 5000) + ";\n"
    rc, out = run(["run"], consts + main_fn("a * (N - 4996)"), tmp)
    expect("5000-term const folds to 5000", rc == 0 and "sum=1.600000e+01" in out, out)

    for what, deep in [("parenthesised operands", "(a * " * 1001 + "a" + ")" * 1001),
                       ("calls", "exp(" * 1001 + "a" + ")" * 1001),
                       ("unary minus", "- " * 1001 + "a"),
                       ("right operands", "a + (" * 1001 + "a" + ")" * 1001)]:
        for cmd in ("check", "run"):
            rc, out = run([cmd], main_fn(deep), tmp)
            m = re.search(r"p\.dt:3:(\d+): error: expression is nested too deeply", out)
            one = out.count("error:") == 1 and "internal error" not in out
            expect(f"1001 levels of {what}: dtc {cmd} gives one 'nested too deeply' error", rc == 1 and m and one, out)
    ok_deep = "(a * " * 998 + "a" + ")" * 998
    rc, out = run(["run"], main_fn(ok_deep), tmp)
    expect("999 levels of parenthesised operands are fine", rc == 0 and "sum=4.000000e+00" in out, out)
    parens = "(" * 5000 + "a" + ")" * 5000 + " + " + "(" * 3000 + "a + a" + ")" * 3000
    rc, out = run(["run"], main_fn(parens), tmp)
    expect("5000 redundant parentheses are no nesting", rc == 0 and "sum=1.200000e+01" in out, out)
sys.exit(1 if fails else 0)
