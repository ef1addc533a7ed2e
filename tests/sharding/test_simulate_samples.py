"""Differential test of the sharding passes on every sample.

For each sample, for several meshes (the declared one, 1-D-like with a size-1
axis, uneven sizes, more ranks than some dims so shards are empty) and for
random placements of the entry parameters (R, S(d) including nested splits,
P(sum|max|min|avg)), the per-rank program run in lockstep by
`dtc run --simulate` must give the global results of `dtc run` (the
unsharded reference) within 1e-5 relative (f32) / 1e-12 (f64).
Placements are rewritten in the source text, so the same program text is
compiled under every layout.
"""
import os
import random
import re
import subprocess
import sys
import tempfile

import numpy as np

DTC = os.environ["DTC"]
SRC = os.environ["DTC_SRC"]
SAMPLES = ["mlp", "mlp2d", "transformer", "embedding", "uneven", "stack", "rope", "gpt2", "llama", "moe"]
LOOP = re.compile(r"\bfor\s+(\w+)\s+in\b")
PARAM = re.compile(r"(\w+)\s*:\s*(f32|f64|i32)\[([^\]]*)\]\s*@\s*(\w+)\[([^\]]*)\]")
MESH = re.compile(r"mesh\s+(\w+)\s*\[([^\]]*)\]")


def run(args):
    p = subprocess.run([DTC] + args, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def rank_of(dims):
    return 0 if not dims.strip() else len(dims.split(","))


def random_placement(rng, naxes, rank, dtype):
    out = []
    for _ in range(naxes):
        r = rng.random()
        if r < 0.35 or (rank == 0 and r < 0.7):
            out.append("R")
        elif r < 0.75 and rank > 0:
            out.append("S(%d)" % rng.randrange(-rank, rank))
        elif dtype == "i32":
            out.append("R")
        else:
            out.append("P(%s)" % rng.choice(["sum", "max", "min", "avg"]))
    return ", ".join(out)


def stacked_names(text):
    """Names indexed by a loop counter (w[l]): their dim 0 is the layer dim."""
    out = set()
    for counter in LOOP.findall(text):
        out |= set(re.findall(r"(\w+)\[\s*%s\s*\]" % counter, text))
    return out


def random_layout(text, rng, naxes):
    """The program with its entry parameters' placements drawn at random.
    A stacked value's layer dim stays unsplit (pipeline-style placement is
    refused by the compiler)."""
    stacked = stacked_names(text)

    def repl(m):
        rank = rank_of(m.group(3))
        pl = random_placement(rng, naxes, rank, m.group(2))
        if m.group(1) in stacked:
            pl = ", ".join("R" if e in ("S(0)", "S(%d)" % -rank) else e for e in pl.split(", "))
        return "%s: %s[%s] @ %s[%s]" % (m.group(1), m.group(2), m.group(3), m.group(4), pl)
    start = text.find("fn main")
    end = text.find("{", start)
    return text[:start] + PARAM.sub(repl, text[start:end]) + text[end:]


def mesh_ranks(src, mesh_opt):
    """Number of ranks of the program's mesh, or of the --mesh override."""
    spec = mesh_opt if mesh_opt else MESH.search(src).group(2)
    n = 1
    for a in spec.split(","):
        n *= int(a.split("=")[1])
    return n


def mismatches(names, refs, got_dir):
    """(result, problem) for every result in got_dir/got.NAME.npy that differs."""
    return [(r, e) for r in names
            for e in [compare(refs[r], os.path.join(got_dir, "got.%s.npy" % r))] if e]


def out_args(names, got_dir):
    """--out NAME=got_dir/got.NAME.npy for every result."""
    args = []
    for r in names:
        args += ["--out", "%s=%s" % (r, os.path.join(got_dir, "got.%s.npy" % r))]
    return args


def verdict(how, code, output, names, refs, got_dir, text):
    """True if the run succeeded and every result matches; else prints why."""
    if code != 0:
        bad = "exit status %d: %s" % (code, output.strip())
    else:
        bad = mismatches(names, refs, got_dir)
    if bad:
        print("FAIL %s: %s" % (how, bad))
        print(params_line(text))
    return not bad


def params_line(text):
    return "  params: %s" % "; ".join(m.group(0) for m in PARAM.finditer(text))


def compare(ref_path, got_path):
    a, b = np.load(ref_path), np.load(got_path)
    if a.shape != b.shape or a.dtype != b.dtype:
        return "shape/dtype %s %s vs %s %s" % (a.shape, a.dtype, b.shape, b.dtype)
    if a.size == 0:
        return None
    tol = 1e-12 if a.dtype == np.float64 else 1e-5
    scale = max(1.0, float(np.max(np.abs(a))))
    err = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    return None if err <= tol * scale else "max abs error %.3e (scale %.3e)" % (err, scale)


def result_names(text):
    out = re.findall(r"^(\w+): \w+\[", text, re.M)
    return out


def main():
    rng = random.Random(20261123)
    variants = int(os.environ.get("DTC_SIM_VARIANTS", "6"))
    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="dtc-sim-")
    for name in sys.argv[1:] or SAMPLES:  # names on the command line pick samples
        src = open(os.path.join(SRC, "samples", name + ".dt")).read()
        mesh = MESH.search(src)
        axes = [a.split("=")[0].strip() for a in mesh.group(2).split(",")]
        # meshes to try: declared, each axis alone (others 1), uneven, bigger
        meshes = [None]
        for i in range(len(axes)):
            meshes.append(",".join("%s=%d" % (a, 3 if j == i else 1) for j, a in enumerate(axes)))
        meshes.append(",".join("%s=%d" % (a, [2, 3, 1, 2][j % 4]) for j, a in enumerate(axes)))
        meshes.append(",".join("%s=%d" % (a, [4, 2, 1, 1][j % 4]) for j, a in enumerate(axes)))
        dt = os.path.join(tmp, name + ".dt")
        code, out = run(["run", os.path.join(SRC, "samples", name + ".dt")])
        if code != 0:
            print("FAIL %s: dtc run: %s" % (name, out))
            failed += 1
            continue
        names = result_names(out)
        ref = {}
        # the reference does not depend on placements or meshes: run it once
        args = ["run", os.path.join(SRC, "samples", name + ".dt")]
        for r in names:
            ref[r] = os.path.join(tmp, "%s.ref.%s.npy" % (name, r))
            args += ["--out", "%s=%s" % (r, ref[r])]
        code, out = run(args)
        assert code == 0, out
        for v in range(variants):
            text = random_layout(src, rng, len(axes)) if v > 0 else src
            open(dt, "w").write(text)
            for mesh_opt in meshes:
                args = ["run", "--simulate", dt] + (["--mesh", mesh_opt] if mesh_opt else [])
                code, out = run(args + out_args(names, tmp))
                what = "%s variant %d mesh %s" % (name, v, mesh_opt or "declared")
                if verdict(what, code, out, names, ref, tmp, text):
                    passed += 1
                else:
                    failed += 1
        print("ok: %s: %d layouts x %d meshes checked" % (name, variants, len(meshes)))
    print("simulate vs reference: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
