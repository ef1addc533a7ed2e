"""CUDA-target programs under random layouts, run on the host emulation.

The layouts of tests/sharding/test_simulate_samples.py (entry parameters
rewritten to random R / S(d) / nested S / P(sum|max|min|avg) placements, on
meshes with size-1 axes, uneven and empty shards) compiled with
`dtc compile --target=cuda --emit=cu`, built with g++ against the emulation
of tests/gpu/emu (see test_cuda_emu.sh) and run with --ranks N, alternately
with NCCL (N emulated GPUs) and host-staged collectives (DT_COMM=threads).
Every result must equal `dtc run` within 1e-5 relative (f32) / 1e-12 (f64).
This exercises the CUDA runtime's collectives on many uneven piece layouts
(packing, grouped broadcasts / reduces, send / recv) and the generated
kernels on many local shapes.  DTC_CUDA_EMU_VARIANTS sets the number of
layouts per sample (default 2: the declared one and one random).
"""
import importlib.util
import os
import re
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
BUILD = os.environ.get("DTC_BUILD", os.path.dirname(DTC))
EMU = os.path.join(HERE, "emu")
VARIANTS = int(os.environ.get("DTC_CUDA_EMU_VARIANTS", "2"))
CXX = os.environ.get("CXX", "g++")
PY = sys.executable


def sh(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})))


def mpi_libs():
    p = sh(["mpicc", "--showme:link"])
    return p.stdout.split() if p.returncode == 0 and p.stdout.strip() else ["-lmpi"]


def main():
    for lib in ("libdtrt.a", "libdtrt_core.a"):
        if not os.path.exists(os.path.join(BUILD, lib)):
            print("FAIL: %s is not built in %s" % (lib, BUILD))
            return 1
    tmp = tempfile.mkdtemp(prefix="dtc-cuda-emu-")
    cxx = [CXX, "-std=c++17", "-O1", "-w", "-I" + EMU, "-I" + SRC]
    rtk = os.path.join(tmp, "rtk")
    steps = [
        [PY, os.path.join(EMU, "emu_cu.py"), os.path.join(SRC, "runtime/cuda/rt_cuda_kernels.cu"), rtk + ".cc"],
        cxx + ["-c", rtk + ".cc", "-o", rtk + ".o"],
        cxx + ["-c", os.path.join(EMU, "emu.cc"), "-o", os.path.join(tmp, "emu.o")],
        ["cc", "-std=c11", "-O1", "-D_POSIX_C_SOURCE=200809L", "-I" + EMU, "-I" + SRC, "-c",
         os.path.join(SRC, "runtime/cuda/rt_cuda.c"), "-o", os.path.join(tmp, "rt_cuda.o")],
    ]
    for s in steps:
        p = sh(s)
        if p.returncode != 0:
            print("FAIL: building the emulation: %s\n%s" % (" ".join(s), p.stderr[-2000:]))
            return 1
    objs = [rtk + ".o", os.path.join(tmp, "rt_cuda.o"), os.path.join(tmp, "emu.o"),
            os.path.join(BUILD, "libdtrt.a"), os.path.join(BUILD, "libdtrt_core.a")]
    link = mpi_libs() + ["-lpthread", "-lm"]

    rng = random.Random(1123)
    passed = failed = 0
    for name in sim.SAMPLES:
        path = os.path.join(SRC, "samples", name + ".dt")
        src = open(path).read()
        if re.search(r"\b(argmax|argmin|one_hot|cumsum|take_along_axis|gather|topk|scatter_add|repeat)\(", src):
            print("ok: %s: uses the routing family, refused on the CUDA target (test_cuda_build.sh checks how)" % name)
            continue
        axes = [a.split("=")[0].strip() for a in sim.MESH.search(src).group(2).split(",")]
        meshes = [None, ",".join("%s=%d" % (a, [2, 3, 1, 2][j % 4]) for j, a in enumerate(axes))]
        ref = sh([DTC, "run", path])
        names = sim.result_names(ref.stdout)
        refs = {}
        args = [DTC, "run", path]
        for r in names:
            refs[r] = os.path.join(tmp, "%s.ref.%s.npy" % (name, r))
            args += ["--out", "%s=%s" % (r, refs[r])]
        if sh(args).returncode != 0:
            print("FAIL %s: dtc run" % name)
            failed += 1
            continue
        dt = os.path.join(tmp, name + ".dt")
        for v in range(VARIANTS):
            text = sim.random_layout(src, rng, len(axes)) if v > 0 else src
            open(dt, "w").write(text)
            for mi, mesh in enumerate(meshes):
                what = "%s layout %d mesh %s" % (name, v, mesh or "declared")
                cu, cc, exe = (os.path.join(tmp, name + x) for x in (".cu", ".cc", ""))
                p = sh([DTC, "compile", dt, "--target=cuda", "--emit=cu", "-o", cu] +
                       (["--mesh", mesh] if mesh else []))
                if p.returncode == 0:
                    p = sh([PY, os.path.join(EMU, "emu_cu.py"), cu, cc])
                if p.returncode == 0:
                    p = sh(cxx + [cc, "-o", exe] + objs + link)
                if p.returncode != 0:
                    print("FAIL %s: build: %s" % (what, (p.stdout + p.stderr).strip()[-2000:]))
                    failed += 1
                    continue
                n = sim.mesh_ranks(src, mesh)
                nccl = (v + mi) % 2 == 0
                env = {"EMU_GPUS": str(n)} if nccl else {"DT_COMM": "threads"}
                run = sh([exe, "--ranks", str(n)] + sim.out_args(names, tmp), env)
                how = "%s (%s)" % (what, "NCCL" if nccl else "host-staged")
                if sim.verdict(how, run.returncode, run.stdout + run.stderr, names, refs, tmp, text):
                    passed += 1
                else:
                    failed += 1
        print("ok: %s: %d layouts x %d meshes on the CUDA emulation" % (name, VARIANTS, len(meshes)))
    print("CUDA-target samples under random layouts (emulated GPU): %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
