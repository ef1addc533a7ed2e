"""Compiled samples under random input placements, meshes and launchers.

The layouts of tests/sharding/test_simulate_samples.py (entry parameters
rewritten to random R / S(d) / nested S / P(sum|max|min|avg) placements, on
meshes with size-1 axes, uneven and empty shards), this time compiled with
`dtc compile` and run as real programs: with --ranks N (threads) for every
layout and mesh, and under `mpirun -np N` for some.  Every result must equal
`dtc run` within 1e-5 relative (f32) / 1e-12 (f64).  Inputs come from the
initialisers, so this also checks that sharded initialisers equal the
unsharded ones on every layout.
"""
import importlib.util
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "sim", os.path.join(HERE, "..", "sharding", "test_simulate_samples.py"))
sim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sim)

DTC, SRC = sim.DTC, sim.SRC
VARIANTS = int(os.environ.get("DTC_EXEC_VARIANTS", "4"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def sh(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)


def main():
    rng = random.Random(4242)
    tmp = tempfile.mkdtemp(prefix="dtc-exec-pl-")
    passed = failed = 0
    for name in sim.SAMPLES:
        path = os.path.join(SRC, "samples", name + ".dt")
        src = open(path).read()
        axes = [a.split("=")[0].strip() for a in sim.MESH.search(src).group(2).split(",")]
        meshes = [None,
                  ",".join("%s=%d" % (a, 3 if j == 0 else 1) for j, a in enumerate(axes)),
                  ",".join("%s=%d" % (a, [2, 3, 1, 2][j % 4]) for j, a in enumerate(axes))]
        ref = sh([DTC, "run", path])
        names = sim.result_names(ref.stdout)
        refs = {}
        args = [DTC, "run", path]
        for r in names:
            refs[r] = os.path.join(tmp, "%s.ref.%s.npy" % (name, r))
            args += ["--out", "%s=%s" % (r, refs[r])]
        assert sh(args).returncode == 0
        dt = os.path.join(tmp, name + ".dt")
        for v in range(VARIANTS):
            text = sim.random_layout(src, rng, len(axes)) if v > 0 else src
            open(dt, "w").write(text)
            for mi, mesh in enumerate(meshes):
                exe = os.path.join(tmp, name)
                comp = sh([DTC, "compile", dt, "-o", exe] + (["--mesh", mesh] if mesh else []))
                what = "%s layout %d mesh %s" % (name, v, mesh or "declared")
                if comp.returncode != 0:
                    print("FAIL %s: compile: %s" % (what, comp.stderr.strip()))
                    failed += 1
                    continue
                n = sim.mesh_ranks(src, mesh)
                launchers = [[exe, "--ranks", str(n)]]
                if (v + mi) % 4 == 0 and n <= 6:
                    launchers.append(["mpirun", "-np", str(n), exe])
                for launch in launchers:
                    run = sh(launch + sim.out_args(names, tmp))
                    how = "%s (%s)" % (what, launch[0] if launch[0] == "mpirun" else "--ranks")
                    if sim.verdict(how, run.returncode, run.stdout + run.stderr, names, refs, tmp, text):
                        passed += 1
                    else:
                        failed += 1
        print("ok: %s: %d layouts x %d meshes" % (name, VARIANTS, len(meshes)))
    print("compiled samples under random layouts: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
