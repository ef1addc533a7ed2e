"""value_and_grad against central differences in f64, over the op table.

For every op with a vector-Jacobian product, a small program
    loss(args) = sum(OP(args) * c)           (c: a fixed random weight)
is run with `dtc run`; its gradient with respect to each float argument,
dotted with a random direction v, must equal (loss(a + e v) - loss(a - e v)) / 2e
(e = 1e-6) within rtol 1e-6.  The elementwise rows are read from
ir/ops_ew.def and the op list from ir/ops.def, so a new op joins by itself
(an elementwise row) or makes this test fail until it is listed below.
"""
import os, re, subprocess, sys, tempfile
import numpy as np

SRC = os.environ.get("DTC_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
DTC = os.environ.get("DTC", os.path.join(SRC, "build", "dtc"))
rng = np.random.default_rng(7)

def ew_rows():
    text = open(os.path.join(SRC, "ir", "ops_ew.def")).read()
    rows = []
    for m in re.finditer(r'^EW\((\w+), "(\w+)", (\d), [^,]+, (\w+), (\w+), (NULL|"\w+")', text, re.M):
        ident, name, nargs, types, domain, surf = m.groups()
        rows.append((ident, name, int(nargs), domain, None if surf == "NULL" else surf.strip('"')))
    return rows

def all_ops():
    text = open(os.path.join(SRC, "ir", "ops.def")).read()
    ops = set(re.findall(r'^OP\(\s*\w+,\s*"(\w+)"', text, re.M))
    return ops | {name for _, name, _, _, _ in ew_rows()}

# elementwise ops whose dt spelling is not their surface name
SPELL = {"add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
         "floordiv": "{0} // {1}", "mod": "{0} % {1}", "gelu": "gelu({0})",
         "gelu_tanh": "gelu({0}, approximate=true)", "pow": "pow({0}, 3.0)"}
# ops with no float operand to differentiate, or that never reach grad
NOT_DIFF = {"const", "iota", "argmax", "argmin", "one_hot", "topk", "call", "loop", "grad",
            "all_reduce", "reduce_scatter", "all_gather", "all_to_all", "collective_permute", "done", "shard", "to_partial", "pick",
            # local fn (docs/LANGUAGE.md section 10): value_and_grad through it is refused (v0)
            "local_call", "axis_index", "ppermute", "local_view",
            # rule fn (section 11): value_and_grad inlines its body, tests/rules/loop.dt
            "rule_call"}

def f64(*shape, pos=False, nz=False):
    a = rng.standard_normal(shape)
    if pos:
        a = np.abs(a) + 0.5
    if nz:
        a = np.sign(a) * (np.abs(a) + 0.5)
    return a

# name -> list of (expr, {arg: array}); args named a, b, ... ; i32 arrays are not differentiated
CASES = {
    "sum": [("sum(a, axis=1)", {"a": f64(3, 4)}), ("sum(a, axis=[0, 2], keepdims=true)", {"a": f64(2, 3, 4)})],
    "mean": [("mean(a, axis=0)", {"a": f64(3, 4)}), ("mean(a)", {"a": f64(3, 4)})],
    "max": [("max(a, axis=1)", {"a": f64(3, 4)})],
    "min": [("min(a, axis=0, keepdims=true)", {"a": f64(3, 4)})],
    "softmax": [("softmax(a, axis=0)", {"a": f64(3, 4)}), ("softmax(a)", {"a": f64(2, 5)})],
    "log_softmax": [("log_softmax(a)", {"a": f64(3, 4)})],
    "layernorm": [("layernorm(a, b, c)", {"a": f64(3, 5), "b": f64(5), "c": f64(5)})],
    "rmsnorm": [("rmsnorm(a, b)", {"a": f64(2, 3, 5), "b": f64(5)})],
    "transpose": [("transpose(a, [1, 2, 0])", {"a": f64(2, 3, 4)})],
    "reshape": [("reshape(a, [4, -1])", {"a": f64(2, 3, 4)})],
    "broadcast_to": [("broadcast_to(a, [2, 3, 4])", {"a": f64(3, 1)})],
    "matmul": [("a @ b", {"a": f64(2, 3, 4), "b": f64(4, 5)}), ("a @ b", {"a": f64(3, 4), "b": f64(2, 4, 5)}),
               ("a @ b", {"a": f64(2, 1, 3, 4), "b": f64(3, 4, 2)})],
    "slice": [("a[1:3, ::-2]", {"a": f64(4, 5)}), ("a[::2, 1:]", {"a": f64(5, 3)}), ("a[-1, ::3]", {"a": f64(3, 7)}),
              ("a[:, 4:0:-3, 1:4:2]", {"a": f64(2, 6, 5)}), ("sum(a[7:], axis=0) + a[0]", {"a": f64(3, 2)}),
              ("a[:, :, :, :, :, :, :, ::2]", {"a": f64(1, 2, 1, 2, 1, 1, 2, 5)})],
    "concat": [("concat([a, b], axis=1)", {"a": f64(2, 3), "b": f64(2, 2)}),
               ("stack([a, b], axis=0)", {"a": f64(2, 3), "b": f64(2, 3)})],
    "pad": [("pad(a, [[1, 0], [0, 2]], value=1.5)", {"a": f64(2, 3)})],
    "embedding": [("embedding(a, i)", {"a": f64(5, 3), "i": np.array([[1, 4], [1, 0], [3, 1]], np.int32)})],
    "attention": [("attention(a, b, c)", {"a": f64(2, 3, 4), "b": f64(2, 5, 4), "c": f64(2, 5, 3)}),
                  ("attention(a, b, c, causal=true, scale=0.7)", {"a": f64(4, 4), "b": f64(4, 4), "c": f64(4, 2)})],
    "cross_entropy": [("cross_entropy(a, i)", {"a": f64(4, 6), "i": np.array([5, 0, 2, 5], np.int32)})],
    "cumsum": [("cumsum(a, axis=0)", {"a": f64(4, 3)})],
    "take_along_axis": [("take_along_axis(a, i, axis=1)", {"a": f64(3, 4),
                         "i": np.array([[0, 3, 3], [1, 1, 2], [2, 0, 0]], np.int32)})],
    "scatter_add": [("scatter_add(a, i, b, axis=0)", {"a": f64(4, 2), "i": np.array([[3, 1], [3, 0], [0, 0]], np.int32),
                     "b": f64(3, 2)})],
    "repeat": [("repeat(a, 3, axis=1)", {"a": f64(2, 3)}),
               ("repeat(a, 2, axis=7)", {"a": f64(1, 2, 1, 2, 1, 1, 2, 3)})],
    "cast": [("cast(a, f64)", {"a": f64(3)})],
    "redistribute": [("redistribute(a, M[S(0)])", {"a": f64(3, 2)})],
}

def ew_case(ident, name, nargs, domain, surf):
    if name in ("gelu", "gelu_tanh", "pow") or surf is None:
        spell = SPELL[name]
    elif nargs == 1:
        spell = surf + "({0})"
    else:
        spell = surf + "(" + ", ".join("{%d}" % k for k in range(nargs)) + ")"
    if name in SPELL:
        spell = SPELL[name]
    names = "abc"[:nargs]
    shapes = [(3, 4), (4,), (3, 1)][:nargs]
    args = {}
    for k, n in enumerate(names):
        args[n] = f64(*shapes[k], pos=domain == "EWD_POS" or (domain == "EWD_NZ1" and k == 1),
                      nz=domain == "EWD_NZ1" and k == 1)
        if domain == "EWD_STEP":  # off the steps: round / floor / ceil
            args[n] = np.round(args[n] * 2) / 2 + 0.25 + 0.125 * k
    cases = [(spell.format(*names), args)]
    if name == "pow":
        cases.append(("pow(a, 2.5)", {"a": f64(3, 4, pos=True)}))
        cases.append(("pow(a, 0.0)", {"a": f64(3, 4, pos=True)}))
    return cases

def program(expr, args, wrt):
    params = ", ".join("%s: %s[%s]" % (n, "i32" if a.dtype == np.int32 else "f64", ", ".join(map(str, a.shape)))
                       for n, a in args.items())
    main_params = ", ".join("%s: %s[%s] @ M[R]" % (n, "i32" if a.dtype == np.int32 else "f64",
                                                   ", ".join(map(str, a.shape))) for n, a in args.items())
    names = ", ".join(args)
    outs = ", ".join("g%d" % k for k in range(len(wrt)))
    return ("mesh M[dp=1];\n"
            "fn f(%s, cw: f64[%s]) -> f64[] {\n  return sum((%s) * cw);\n}\n"
            "fn main(%s, cw: f64[%s] @ M[R]) -> (%s) {\n"
            "  let l, %s = value_and_grad(f, %s, cw, wrt=[%s]);\n  return l, %s;\n}\n"
            % (params, "{cw}", expr, main_params, "{cw}", ", ".join(["f64[]"] + ["f64[%s]" % ", ".join(map(str, args[n].shape)) for n in wrt]),
               outs, names, ", ".join(str(list(args).index(n)) for n in wrt), outs))

def run(tmp, src, args, outs):
    path = os.path.join(tmp, "p.dt")
    open(path, "w").write(src)
    cmd = [DTC, "run", path]
    for n, a in args.items():
        np.save(os.path.join(tmp, n + ".npy"), a)
        cmd += ["--in", "%s=%s" % (n, os.path.join(tmp, n + ".npy"))]
    for o in outs:
        cmd += ["--out", "%s=%s" % (o, os.path.join(tmp, o + ".npy"))]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("dtc run failed:\n%s\n%s" % (src, p.stderr))
    return [np.load(os.path.join(tmp, o + ".npy")) for o in outs]

def check(tmp, expr, args):
    wrt = [n for n, a in args.items() if a.dtype != np.int32]
    # the op's result shape (for the weight cw), from the sema dump of a helper program
    helper = ("mesh M[dp=1];\nfn main(%s) -> f64[] { let r = %s; return sum(r * 0.0); }\n" %
              (", ".join("%s: %s[%s] @ M[R]" % (n, "i32" if a.dtype == np.int32 else "f64",
                                                ", ".join(map(str, a.shape))) for n, a in args.items()), expr))
    hp = os.path.join(tmp, "h.dt")
    open(hp, "w").write(helper)
    p = subprocess.run([DTC, "compile", hp, "--stop-after=sema", "--print-after=sema"], capture_output=True, text=True)
    m = None
    for line in p.stderr.splitlines():
        if "= mul" in line:
            m = re.search(r":\s*f64\[([^\]]*)\]", line)
    if m is None:
        raise RuntimeError("cannot find the result shape of %s:\n%s" % (expr, p.stderr))
    shape = tuple(int(s) for s in m.group(1).split(",") if s.strip())
    args = dict(args)
    args["cw"] = f64(*shape)
    src = program(expr, {k: v for k, v in args.items() if k != "cw"}, wrt).replace("{cw}", ", ".join(map(str, shape)))
    outs = ["l"] + ["g%d" % k for k in range(len(wrt))]
    res = run(tmp, src, args, outs)
    bad = []
    eps = 1e-6
    for k, n in enumerate(wrt):
        v = rng.standard_normal(args[n].shape)
        plus = dict(args); plus[n] = args[n] + eps * v
        minus = dict(args); minus[n] = args[n] - eps * v
        lp = run(tmp, src, plus, ["l"])[0]
        lm = run(tmp, src, minus, ["l"])[0]
        fd = float((lp - lm) / (2 * eps))
        an = float(np.sum(res[k + 1] * v))
        scale = max(1.0, abs(fd), float(np.sum(np.abs(res[k + 1] * v))))
        if not abs(fd - an) <= 1e-6 * scale:
            bad.append("%s: d/d%s: analytic %.12g, central difference %.12g" % (expr, n, an, fd))
    return bad

def main():
    covered = set(CASES)
    cases = []
    for row in ew_rows():
        cases += [(row[1], e, a) for e, a in ew_case(*row)]
        covered.add(row[1])
    for name, lst in CASES.items():
        cases += [(name, e, a) for e, a in lst]
    missing = all_ops() - covered - NOT_DIFF
    failures = []
    if missing:
        failures.append("ops with no finite-difference case (add one, or list them in NOT_DIFF): %s"
                        % ", ".join(sorted(missing)))
    with tempfile.TemporaryDirectory() as tmp:
        for name, expr, args in cases:
            try:
                failures += check(tmp, expr, args)
            except RuntimeError as e:
                failures.append("%s: %s" % (name, e))
    for f in failures:
        print("FAIL", f)
    print("%d cases, %d failures" % (len(cases), len(failures)))
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
