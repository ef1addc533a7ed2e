#!/usr/bin/env python3
"""Issue 11: a diagnostic in a 1 MB source line quotes about 100 columns around
the caret, cut with "...", and the caret stays under the spot: at the start,
in the middle and at the end of the line, with tabs and UTF-8 in a comment
before the spot.  A message naming a 1 MB identifier is cut in its middle."""
import os, subprocess, sys, tempfile

dtc = os.environ["DTC"]
fails = 0
HEAD = "mesh M[x=2];\nfn main(a: f32[4] @ M[R] = ones()) -> f32[4] @ M[R] {\n"


def check(name, line, bad):
    """line: the source line (line 3); bad: the unknown name in it, once."""
    global fails
    col = len(line[: line.index(bad)].encode()) + 1  # dtc's columns count bytes
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.dt")
        with open(path, "w") as f:
            f.write(HEAD + line + "\n    return a;\n}\n")
        p = subprocess.run([dtc, "check", path], capture_output=True, timeout=60)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    lines = out.split("\n")
    i = next((k for k, l in enumerate(lines) if f"p.dt:3:{col}: error: unknown name '{bad}'" in l), None)
    ok = p.returncode == 1 and i is not None and len(out) < 1000
    if ok:
        quote, caret = lines[i + 1], lines[i + 2]
        ok = len(quote.encode()) <= 110 and caret.rstrip("\t ").endswith("^")
        # the caret line copies tabs; expand both the same way to find the column
        pos = len(caret.expandtabs(8)) - 1
        ok = ok and quote.expandtabs(8)[pos:].startswith(bad)
        cut_left, cut_right = col > 100, len(line.encode()) - col > 100
        ok = ok and quote.startswith("...") == cut_left and quote.endswith("...") == cut_right
    print(("ok" if ok else "FAIL") + f": {name}: {len(out)} bytes of output")
    if not ok:
        print(out[:2000])
        fails += 1


pad = "a + " * 250000  # 1 MB
check("1 MB line, error in the middle", "    let y = " + pad + "zz" + " + a" * 250000 + ";", "zz")
check("1 MB line, error at the start", "    let y = zz + " + pad + "a;", "zz")
check("1 MB line, error at the end", "    let y = " + pad + "zz;", "zz")
check("tabs before the error", "\tlet z = " + "a +\t" * 40 + "zz + a;\t# " + "x" * 300, "zz")
check("UTF-8 where the quote is cut", '    let s = "' + "\u00e9" * 200 + '" + zz; # caf\u00e9' + "\u00e9" * 100, "zz")
# a message that names a 1 MB identifier loses its middle, not the line
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "p.dt")
    with open(path, "w") as f:
        f.write(HEAD + "    let y = a + " + "q" * 1000000 + ";\n    return a;\n}\n")
    p = subprocess.run([dtc, "check", path], capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    ok = p.returncode == 1 and len(out) < 1200 and "unknown name 'qqq" in out and "qqq...qqq" in out
    print(("ok" if ok else "FAIL") + f": a 1 MB name: {len(out)} bytes of output")
    if not ok:
        print(out[:2000])
        fails += 1
sys.exit(1 if fails else 0)
