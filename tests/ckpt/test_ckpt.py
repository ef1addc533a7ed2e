#!/usr/bin/env python3
"""Issue 10 C: sharded checkpoints (--save / --load, `dtc checkpoint`).

A program with parameters of many placements (S(0), S(1), R, S on both axes,
two splits of one dim, uneven sizes: 7 over 2 and over 4, empty shards, a
scalar, an i32, an f64, a P(sum) partial) initialised by randn, whose body
returns them, is saved on a 2x2 mesh (threads --ranks 4 and mpirun -np 4:
the same checkpoint byte for byte) and loaded into
  - the same program compiled with --mesh x=1,y=4 (data: a checkpoint saved
    from --in files, so the initialisers would give other values),
  - a 4x1 program with other placements (P(max) included), zeros()
    initialisers, one parameter more (keeps its initialiser) and one fewer
    (a note), under threads and mpirun,
  - a one-rank program whose parameters have no initialiser;
each --out equals the 2x2 program's --out (numpy, bit for bit), the step
counts on, and `dtc checkpoint merge` gives the originals.  Bad checkpoints
(truncated shard, flipped byte, wrong global shape, missing metadata,
missing shard) end with one error line and exit 1 on every rank; a save that
fails (a file-size limit) leaves no DIR and no temporary directory, and an
existing checkpoint survives it; --save to a directory that is not a
checkpoint is refused before the run.  env: DTC, PY."""
import json, os, resource, shutil, signal, subprocess, sys, tempfile
import numpy as np

DTC = os.environ.get("DTC") or sys.exit("DTC must name the dtc binary")
os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                  OPENBLAS_NUM_THREADS="1")
MPI = shutil.which("mpirun")
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


NAMES = ["a", "b", "c", "d", "e", "s", "i", "p", "big"]
TYPES = {"a": "f32[7, 5]", "b": "f32[6, 9]", "c": "f64[4, 3]", "d": "f32[7, 10]",
         "e": "f32[3, 2]", "s": "f32[]", "i": "i32[5]", "p": "f32[4]", "big": "f32[64, 64]"}
INITS = {"a": "randn(seed=1)", "b": "randn(seed=2)", "c": "randn(seed=3)", "d": "randn(seed=4)",
         "e": "randn(seed=5)", "s": "randn(seed=6)", "i": "arange()", "p": "randn(seed=7)",
         "big": "randn(seed=8)"}


def program(mesh, placements, inits, extra=""):
    """mesh text, {name: placement or None (absent)}, {name: init or None}."""
    ps, rs, names = [], [], []
    for n in NAMES + (["z"] if extra else []):
        pl = placements.get(n)
        if pl is None:
            continue
        t = "f32[3]" if n == "z" else TYPES[n]
        init = extra if n == "z" else inits.get(n)
        ps.append(f"{n}: {t} @ {pl}" + (f" = {init}" if init else ""))
        rs.append(f"{t} @ {pl}")
        names.append(n)
    return (f"mesh {mesh};\nfn main({', '.join(ps)})\n    -> ({', '.join(rs)}) {{\n"
            f"    return {', '.join(names)};\n}}\n")


SAVE_PL = {"a": "M[S(0), R]", "b": "M[R, S(1)]", "c": "M[R, R]", "d": "M[S(0), S(1)]",
           "e": "M[S(0), S(0)]", "s": "M[R, R]", "i": "M[S(0), R]", "p": "M[P(sum), R]",
           "big": "M[S(0), R]"}
# 4x1, other placements: 5 over 4 (2, 2, 1, 0), 2 over 4 (1, 1, 0, 0), P(max)
OTHER_PL = {"a": "M[S(1), R]", "b": "M[S(0), R]", "c": "M[S(1), S(0)]", "d": "M[S(0), S(0)]",
            "e": "M[S(1), R]", "s": "M[R, R]", "p": "M[P(max), R]", "big": "M[R, S(1)]",
            "z": "M[R, R]"}
ONE_PL = {n: "M[R]" for n in NAMES}


def sh(cmd, want_rc=0, what=None, limit=None, timeout=120):
    def pre():
        if limit:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=pre)
    except subprocess.TimeoutExpired:
        fail(f"{what or cmd}: hangs")
        return None
    if want_rc is not None and r.returncode != want_rc:
        fail(f"{what or ' '.join(cmd)}: exit {r.returncode}, want {want_rc}:\n{r.stdout}{r.stderr}")
    return r


def compile_dt(name, text, *flags):
    with open(name + ".dt", "w") as f:
        f.write(text)
    r = sh([DTC, "compile", name + ".dt", "-o", name, *flags], what=f"compile {name}")
    return r is not None and r.returncode == 0


def outs(prefix, names):
    args = []
    for n in names:
        args += ["--out", f"{n}={prefix}_{n}.npy"]
    return args


def load_outs(prefix, names):
    return {n: np.load(f"{prefix}_{n}.npy") for n in names}


def same(what, got, want, names):
    bad = [n for n in names
           if got[n].dtype != want[n].dtype or got[n].shape != want[n].shape
           or got[n].tobytes() != want[n].tobytes()]
    if bad:
        fail(f"{what}: {', '.join(bad)} differ from the originals")
    else:
        print(f"ok: {what}: {len(names)} parameters equal the originals bit for bit")


def meta(d):
    with open(os.path.join(d, "checkpoint.json")) as f:
        return json.load(f)


def one_error(what, r, words, want_rc=1):
    if r is None:
        return
    errs = [l for l in (r.stdout + r.stderr).splitlines() if "error" in l]
    if r.returncode != want_rc or len(errs) != 1 or words not in errs[0]:
        fail(f"{what}: exit {r.returncode} (want {want_rc}), {len(errs)} error lines, "
             f"want '{words}':\n{r.stdout}{r.stderr}")
    else:
        print(f"ok: {what}: exit {r.returncode}: {errs[0]}")


def main():
    tmp = tempfile.mkdtemp(prefix="test_ckpt.")
    os.chdir(tmp)
    try:
        run_all()
    finally:
        os.chdir("/")
        shutil.rmtree(tmp, ignore_errors=True)
    if fails:
        print(f"FAIL: {fails} failures")
        sys.exit(1)
    print("ok: all checkpoint checks passed")


def run_all():
    save_src = program("M[x=2, y=2]", SAVE_PL, INITS)
    ok = compile_dt("save", save_src) and compile_dt("same14", save_src, "--mesh", "x=1,y=4")
    other = {n: ("zeros()" if n != "i" else None) for n in NAMES}
    ok = ok and compile_dt("other", program("M[x=4, y=1]", OTHER_PL, other, extra="ones()"))
    ok = ok and compile_dt("one", program("M[x=1]", ONE_PL, {}))
    if not ok:
        fail("cannot compile the test programs")
        return

    # ---- the help texts name the options -------------------------------------------
    r = sh(["./save", "--help"], what="./save --help")
    h = sh([DTC, "checkpoint", "--help"], what="dtc checkpoint --help")
    u = sh([DTC, "checkpoint", "split", "ck"], want_rc=2, what="dtc checkpoint split")
    if r and h and u and ("--load DIR" in r.stdout and "--save DIR" in r.stdout
                          and "dtc checkpoint merge DIR OUTDIR" in h.stdout
                          and "unknown checkpoint command 'split'" in u.stderr):
        print("ok: --help of a program and of dtc checkpoint; a bad subcommand exits 2")
    else:
        fail("help texts or the usage error")

    # ---- save on 2x2: threads and MPI write the same checkpoint ----------------------
    sh(["./save", "--ranks", "4", "--save", "ck", *outs("orig", NAMES)], what="save --ranks 4")
    orig = load_outs("orig", NAMES)
    m = meta("ck")
    files = sorted(os.listdir("ck"))
    shards = {p["name"]: len(p["shards"]) for p in m["params"]}
    # e: 3 rows over x then y: [0,1) [1,2) [2,3) and one empty box (no file);
    # p: P(sum) over x, reduced and stored once
    want = {"a": 2, "b": 2, "c": 1, "d": 4, "e": 3, "s": 1, "i": 2, "p": 1, "big": 2}
    if m["step"] != 1 or shards != want or len(files) != sum(want.values()) + 1:
        fail(f"the 2x2 checkpoint: step {m['step']}, shards {shards}, files {files}")
    else:
        print(f"ok: 2x2 save: step 1, {len(files) - 1} shard files (R stored once, empty "
              f"boxes none), shards per parameter {shards}")
    if MPI:
        sh([MPI, "--oversubscribe", "-np", "4", "./save", "--save", "ck_mpi"], what="save mpirun")
        same_files = all(open(f"ck/{f}", "rb").read() == open(f"ck_mpi/{f}", "rb").read()
                         for f in files if os.path.exists(f"ck_mpi/{f}"))
        if sorted(os.listdir("ck_mpi")) != files or not same_files:
            fail("mpirun -np 4 --save differs from --ranks 4 --save")
        else:
            print("ok: mpirun -np 4 --save writes the same checkpoint byte for byte")
    else:
        fail("mpirun not found")

    # ---- merge ------------------------------------------------------------------------
    r = sh([DTC, "checkpoint", "merge", "ck", "merged"], what="dtc checkpoint merge")
    if r and r.returncode == 0:
        same("dtc checkpoint merge", {n: np.load(f"merged/{n}.npy") for n in NAMES}, orig, NAMES)
    r = sh([DTC, "checkpoint", "info", "ck"], what="dtc checkpoint info")
    if r and ("step 1" not in r.stdout or "d: f32[7, 10] @ M[S(0), S(1)], 4 shards" not in r.stdout):
        fail(f"dtc checkpoint info:\n{r.stdout}")

    # ---- load on other meshes ---------------------------------------------------------
    # 1x4 (same program, --mesh): from a checkpoint of --in data, not the initialisers
    rng = np.random.default_rng(0)
    given = {}
    for n in NAMES:
        given[n] = (rng.integers(-9, 9, orig[n].shape).astype(np.int32) if n == "i" else
                    rng.standard_normal(orig[n].shape).astype(orig[n].dtype))
        np.save(f"in_{n}.npy", given[n])
    ins = [a for n in NAMES for a in ("--in", f"{n}=in_{n}.npy")]
    sh(["./save", "--ranks", "4", "--save", "ck_in", *ins], what="save from --in")
    sh(["./same14", "--ranks", "4", "--load", "ck_in", *outs("same14", NAMES)],
       what="load 1x4")
    same("2x2 -> 1x4 (same program, --mesh x=1,y=4)", load_outs("same14", NAMES), given, NAMES)

    # 4x1, other placements, zeros() initialisers; z only in the program, i only in ck
    loaded = [n for n in NAMES if n != "i"]
    r = sh(["./other", "--ranks", "4", "--load", "ck", *outs("other", loaded + ["z"])],
           what="load 4x1")
    got = load_outs("other", loaded + ["z"])
    same("2x2 -> 4x1 (other placements, P(max))", got, orig, loaded)
    if not np.array_equal(got["z"], np.ones(3, np.float32)):
        fail("z, not in the checkpoint, lost its initialiser")
    if r and "note: --load ck: checkpoint parameter i is not a parameter of this program: ignored" \
            not in r.stderr:
        fail(f"no note about i:\n{r.stderr}")
    else:
        print("ok: z keeps ones(); i (only in the checkpoint) is ignored with a note")
    if MPI:
        sh([MPI, "--oversubscribe", "-np", "4", "./other", "--load", "ck",
            *outs("other_mpi", loaded)], what="load 4x1 under mpirun")
        same("2x2 -> 4x1 under mpirun", load_outs("other_mpi", loaded), orig, loaded)

    # one rank, no initialisers: the data can only come from the checkpoint
    r = sh(["./one", "--load", "ck", "--save", "ck1", *outs("one", NAMES)], what="load 1 rank")
    same("2x2 -> 1 rank without initialisers", load_outs("one", NAMES), orig, NAMES)
    if meta("ck1")["step"] != 2:
        fail(f"step after a load and one run: {meta('ck1')['step']}, want 2")
    # and back again: 1 rank -> 2x2, step 3
    sh(["./save", "--ranks", "4", "--load", "ck1", "--save", "ck1", *outs("back", NAMES)],
       what="1 rank -> 2x2 (--save replaces --load's DIR)")
    same("1 rank -> 2x2, saved over the loaded checkpoint", load_outs("back", NAMES), orig, NAMES)
    if meta("ck1")["step"] != 3 or [d for d in os.listdir(".") if ".tmp-" in d]:
        fail(f"step {meta('ck1')['step']} (want 3) or a temporary directory left: {os.listdir('.')}")
    else:
        print("ok: steps 1 -> 2 -> 3 across loads; a replaced checkpoint leaves no temporary")
    one_error("one rank without --load", sh(["./one"], want_rc=None), "has no initialiser")

    # ---- bad checkpoints: one message, exit 1 on every rank ---------------------------
    def damaged(name, how):
        shutil.rmtree(name, ignore_errors=True)
        shutil.copytree("ck", name)
        how(name)
        return name

    def truncate(d):
        with open(f"{d}/d.r3.bin", "r+b") as f:
            f.truncate(40)

    def flip(d):  # a shard only rank 3 of the 4x1 program reads
        with open(f"{d}/d.r3.bin", "r+b") as f:
            b = bytearray(f.read())
            b[17] ^= 0x10
            f.seek(0)
            f.write(b)

    def no_meta(d):
        os.remove(f"{d}/checkpoint.json")

    def no_shard(d):
        os.remove(f"{d}/b.r1.bin")

    cases = [("truncated shard", damaged("ck_trunc", truncate), "d.r3.bin is truncated: 40 bytes"),
             ("flipped byte", damaged("ck_flip", flip), "d.r3.bin is damaged: checksum"),
             ("missing metadata", damaged("ck_nometa", no_meta), "cannot open ck_nometa/checkpoint.json"),
             ("missing shard", damaged("ck_noshard", no_shard), "cannot open ck_noshard/b.r1.bin")]
    for what, d, words in cases:
        one_error(f"{what}, threads", sh(["./other", "--ranks", "4", "--load", d, "--out",
                                          "a=bad.npy"], want_rc=None), words)
        if os.path.exists("bad.npy"):
            fail(f"{what}: an output file was written")
        if MPI and what in ("flipped byte", "truncated shard"):
            one_error(f"{what}, mpirun", sh([MPI, "--oversubscribe", "-np", "4", "./other",
                                             "--load", d], want_rc=None, timeout=60), words)
    one_error("dtc checkpoint merge of a flipped byte",
              sh([DTC, "checkpoint", "merge", "ck_flip", "m2"], want_rc=None), "checksum")
    wrong = program("M[x=2, y=2]", dict(SAVE_PL), dict(INITS)).replace(
        "a: f32[7, 5]", "a: f32[7, 6]").replace("-> (f32[7, 5]", "-> (f32[7, 6]")
    if compile_dt("wrong", wrong):
        one_error("wrong global shape", sh(["./wrong", "--ranks", "4", "--load", "ck"], want_rc=None),
                  "parameter a is f32[7, 5] in the checkpoint, f32[7, 6] in this program")
    wrongdt = program("M[x=2, y=2]", dict(SAVE_PL), dict(INITS)).replace(
        "c: f64[4, 3]", "c: f32[4, 3]").replace("f64[4, 3] @", "f32[4, 3] @")
    if compile_dt("wrongdt", wrongdt):
        one_error("wrong dtype", sh(["./wrongdt", "--ranks", "4", "--load", "ck"], want_rc=None),
                  "parameter c is f64[4, 3] in the checkpoint, f32[4, 3] in this program")

    # ---- saves that fail ----------------------------------------------------------------
    os.mkdir("notck")
    open("notck/keep.txt", "w").write("mine")
    one_error("--save to a directory that is not a checkpoint",
              sh(["./save", "--ranks", "4", "--save", "notck", "--out", "a=bad.npy"],
                 want_rc=None), "notck exists and is not a checkpoint")
    if os.listdir("notck") != ["keep.txt"] or os.path.exists("bad.npy"):
        fail("the directory that is not a checkpoint was touched, or an output written")
    # a file-size limit: shards of `big` (8 KiB) cannot be written
    one_error("a save that fails (file size limit)",
              sh(["./save", "--ranks", "4", "--save", "ck_fail"], want_rc=None, limit=4096),
              "--save ck_fail: rank 0: cannot write")
    before = open("ck/checkpoint.json").read()
    one_error("a failed save over an existing checkpoint",
              sh(["./save", "--ranks", "4", "--load", "ck", "--save", "ck"], want_rc=None,
                 limit=4096), "cannot write")
    left = [d for d in os.listdir(".") if ".tmp-" in d or d == "ck_fail"]
    if left or open("ck/checkpoint.json").read() != before:
        fail(f"a failed save left {left} or changed the old checkpoint")
    else:
        print("ok: failed saves leave no DIR, no temporary directory, and the old checkpoint")
    # (not under mpirun: the limit would stop mpirun's own files, and it resets the
    # signal the ranks would need to ignore)


main()
