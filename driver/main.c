/* main.c - the dtc command: parses the command line, runs the frontend, the
 * pipeline and a backend, and owns the exit status (0 ok, 1 error in the
 * user's program or files, 2 bad command line).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "driver/driver.h"
#include "ir/ir_text.h"

#ifndef DTC_VERSION
#define DTC_VERSION "0.0.0"
#endif

static const char usage[] =
    "usage: dtc COMMAND FILE.dt [options]\n"
    "\n"
    "commands:\n"
    "  check FILE.dt           parse and check the program; report every error\n"
    "  run FILE.dt             run the unsharded program with the reference interpreter\n"
    "  compile FILE.dt         compile to a per-rank program\n"
    "  report FILE.dt          per-rank collectives, bytes, peak memory, estimated time\n"
    "\n"
    "common options:\n"
    "  --entry FN              entry function (default: main)\n"
    "  --mesh AXIS=N,...       override mesh axis sizes (e.g. --mesh dp=4,tp=2)\n"
    "\n"
    "run options:\n"
    "  --in NAME=FILE.npy      data for entry parameter NAME (else its initialiser)\n"
    "  --out NAME=FILE.npy     write result NAME (returned variable name, or out0, out1, ...)\n"
    "  --simulate              compile through partition and run every rank's program in\n"
    "                          the interpreter, in lockstep (checks the sharding passes)\n"
    "\n"
    "compile options:\n"
    "  -o FILE                 output file (default: the program's name)\n"
    "  --target=cpu|cuda       target (default cpu)\n"
    "  --emit=exe|c|llvm|obj|cu  what to write (default exe)\n"
    "  -O0 .. -O3              optimisation level (default -O2)\n"
    "  --cuda-arch=LIST        CUDA architectures (default sm_80,sm_90)\n"
    "  --print-after=PASS|all  print the IR after a pass to stderr\n"
    "                          (sema inline propagate redistribute partition optimise)\n"
    "  --dump-dir=DIR          write the IR after every pass to DIR/NN-PASS.ir\n"
    "  --alpha=SECONDS         cost model latency per collective message (all axes)\n"
    "  --beta=SECONDS          cost model seconds per byte (all axes)\n"
    "\n"
    "  --help, --version\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "dtc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see dtc --help)\n");
    return 2;
}

/* Matches "--name=value" or "--name value"; advances *i for the latter. */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *val = a + n + 1;
        return true;
    }
    if (a[n] == 0) {
        if (*i + 1 >= argc) {
            *val = NULL;
            return true;
        }
        *val = argv[++*i];
        return true;
    }
    return false;
}

static bool split_io(Arena *ar, const char *spec, const char **name, const char **path)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return false;
    *name = arena_strndup(ar, spec, (size_t)(eq - spec));
    *path = eq + 1;
    return true;
}

static bool parse_mesh(Arena *ar, const char *spec, FeOptions *fe)
{
    int n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    fe->mesh_axis = arena_alloc(ar, sizeof *fe->mesh_axis * (size_t)n);
    fe->mesh_size = arena_alloc(ar, sizeof *fe->mesh_size * (size_t)n);
    fe->nmesh_override = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || eq == p || eq + 1 == end)
            return false;
        char *num_end;
        long v = strtol(eq + 1, &num_end, 10);
        if (num_end != end)
            return false;
        fe->mesh_axis[fe->nmesh_override] = arena_strndup(ar, p, (size_t)(eq - p));
        fe->mesh_size[fe->nmesh_override] = (int)v;
        fe->nmesh_override++;
        p = *end ? end + 1 : end;
    }
    return fe->nmesh_override > 0;
}

static int parse_args(Arena *ar, int argc, char **argv, DtcOptions *o)
{
    o->emit = "exe";
    o->target = "cpu";
    o->opt_level = 2;
    o->cuda_arch = "sm_80,sm_90";
    o->cost = cost_model_default();
    o->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (a[0] != '-' || !a[1]) {
            if (o->file)
                return usage_error("more than one input file ('%s')", a);
            o->file = a;
        } else if (!strcmp(a, "-o")) {
            if (i + 1 >= argc)
                return usage_error("%s needs a file name", a);
            o->output = argv[++i];
        } else if (a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
            o->opt_level = a[2] - '0';
        } else if (!strcmp(a, "--simulate")) {
            o->simulate = true;
        } else if (opt_value(argc, argv, &i, "--entry", &v)) {
            if (!v)
                return usage_error("%s needs a function name", a);
            o->fe.entry = v;
        } else if (opt_value(argc, argv, &i, "--mesh", &v)) {
            if (!v || !parse_mesh(ar, v, &o->fe))
                return usage_error("--mesh wants AXIS=N[,AXIS=N...], got '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--in", &v)) {
            if (!v || o->nin >= DTC_MAX_IO || !split_io(ar, v, &o->in_name[o->nin], &o->in_path[o->nin]))
                return usage_error("--in wants NAME=FILE.npy, got '%s'", v ? v : "");
            o->nin++;
        } else if (opt_value(argc, argv, &i, "--out", &v)) {
            if (!v || o->nout >= DTC_MAX_IO || !split_io(ar, v, &o->out_name[o->nout], &o->out_path[o->nout]))
                return usage_error("--out wants NAME=FILE.npy, got '%s'", v ? v : "");
            o->nout++;
        } else if (opt_value(argc, argv, &i, "--target", &v)) {
            if (!v || (strcmp(v, "cpu") && strcmp(v, "cuda")))
                return usage_error("--target must be cpu or cuda, got '%s'", v ? v : "");
            o->target = v;
        } else if (opt_value(argc, argv, &i, "--emit", &v)) {
            static const char *const kinds[] = {"exe", "c", "llvm", "obj", "cu"};
            bool ok = false;
            for (size_t k = 0; v && k < sizeof kinds / sizeof kinds[0]; k++)
                ok |= !strcmp(v, kinds[k]);
            if (!ok)
                return usage_error("--emit must be exe, c, llvm, obj or cu, got '%s'", v ? v : "");
            o->emit = v;
        } else if (opt_value(argc, argv, &i, "--print-after", &v)) {
            if (!v)
                return usage_error("%s needs a pass name", a);
            o->print_after = v;
        } else if (opt_value(argc, argv, &i, "--dump-dir", &v)) {
            if (!v)
                return usage_error("%s needs a directory", a);
            o->dump_dir = v;
        } else if (opt_value(argc, argv, &i, "--stop-after", &v)) {
            if (!v)
                return usage_error("%s needs a pass name", a);
            o->stop_after = v;
        } else if (opt_value(argc, argv, &i, "--cuda-arch", &v)) {
            if (!v)
                return usage_error("%s needs a list like sm_80,sm_90", a);
            o->cuda_arch = v;
        } else if (opt_value(argc, argv, &i, "--alpha", &v) || opt_value(argc, argv, &i, "--beta", &v)) {
            char *end;
            double x = v ? strtod(v, &end) : -1;
            if (!v || *end || x < 0)
                return usage_error("--alpha/--beta want a non-negative number of seconds, got '%s'", v ? v : "");
            for (int k = 0; k < IR_MAX_AXES; k++) {
                if (a[2] == 'a')
                    o->cost.alpha[k] = x;
                else
                    o->cost.beta[k] = x;
            }
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (!o->file)
        return usage_error("%s needs an input file", o->cmd);
    return 0;
}

/* The default output: the input's base name without extension, plus the
 * suffix of what is emitted (mlp, mlp.c, mlp.ll, mlp.o, mlp.cu). */
static const char *default_output(Arena *ar, const char *file, const char *emit)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *dot = strrchr(base, '.');
    const char *name = dot && dot != base ? arena_strndup(ar, base, (size_t)(dot - base)) : base;
    static const char *const suffix[][2] = {{"c", ".c"}, {"llvm", ".ll"}, {"obj", ".o"}, {"cu", ".cu"}};
    for (size_t k = 0; k < sizeof suffix / sizeof suffix[0]; k++)
        if (!strcmp(emit, suffix[k][0]))
            return arena_printf(ar, "%s%s", name, suffix[k][1]);
    return name;
}

static const char *const pass_names[] = {"sema", "inline", "propagate", "redistribute",
                                         "partition", "optimise", "all"};

static bool known_pass(const char *p)
{
    for (size_t k = 0; k < sizeof pass_names / sizeof pass_names[0]; k++)
        if (!strcmp(p, pass_names[k]))
            return true;
    return false;
}

/* The stage named by a dump's "# after STAGE" header line; "sema" if none. */
static const char *text_stage(Arena *ar, const char *text)
{
    const char *p = strstr(text, "# after ");
    if (!p || (p != text && p[-1] != '\n'))
        return "sema";
    p += 8;
    size_t n = strcspn(p, " \t\r\n");
    return arena_strndup(ar, p, n);
}

static int cmd_ir_roundtrip(Arena *ar, const DtcOptions *o)
{
    FILE *f = fopen(o->file, "rb");
    if (!f) {
        fprintf(stderr, "dtc: error: cannot read '%s': %s\n", o->file, strerror(errno));
        return 1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (cap + 4096) * 2;
            char *t = arena_alloc(ar, cap);
            if (len)
                memcpy(t, text, len);
            text = t;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    text[len] = 0;
    IrModule *m = ir_parse(ar, o->file, text, stderr);
    if (!m)
        return 1;
    const char *stage = text_stage(ar, text);
    if (!strcmp(stage, "all") || !known_pass(stage)) {
        fprintf(stderr, "dtc: error: %s: unknown stage '%s' in its '# after' line\n", o->file, stage);
        return 1;
    }
    if (!ir_verify(m, stage, stderr))
        return 1;
    ir_print_stage(stdout, m, stage);
    return 0;
}

int dtc_cmd_run(Arena *ar, const DtcOptions *o, IrModule *m);

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dtc %s\n", DTC_VERSION);
        return 0;
    }
    static const char *const cmds[] = {"check", "run", "compile", "report", "ir-roundtrip"};
    bool known = false;
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        known |= !strcmp(argv[1], cmds[k]);
    if (!known)
        return usage_error("unknown command '%s'", argv[1]);

    Arena *ar = arena_new();
    DtcOptions o = {0};
    int rc = parse_args(ar, argc, argv, &o);
    if (rc == 0 && o.print_after && !known_pass(o.print_after))
        rc = usage_error("--print-after: unknown pass '%s'", o.print_after);
    if (rc == 0 && o.stop_after && !known_pass(o.stop_after))
        rc = usage_error("--stop-after: unknown pass '%s'", o.stop_after);
    if (rc == 0 && strcmp(o.cmd, "run") && (o.nin || o.nout || o.simulate))
        rc = usage_error("--in/--out/--simulate belong to 'dtc run' and to the compiled program, not '%s'", o.cmd);
    if (rc != 0) {
        arena_free(ar);
        return rc;
    }
    if (!strcmp(o.cmd, "ir-roundtrip")) {
        rc = cmd_ir_roundtrip(ar, &o);
        arena_free(ar);
        return rc;
    }

    Diag *d = diag_new(ar, stderr);
    IrModule *m = fe_load_file(ar, d, o.file, &o.fe);
    if (!m || diag_nerrors(d) > 0) {
        arena_free(ar);
        return 1;
    }
    PassCtx ctx = {.arena = ar, .err = stderr, .cost = o.cost};
    if (!strcmp(o.cmd, "check")) {
        rc = 0;
    } else if (!strcmp(o.cmd, "run")) {
        bool ok = o.simulate ? dtc_pipeline(&o, &ctx, m) : pass_inline(&ctx, m);
        rc = ok ? dtc_cmd_run(ar, &o, m) : 1;
    } else if (!strcmp(o.cmd, "report")) {
        rc = dtc_pipeline(&o, &ctx, m) ? (pass_report(stdout, &ctx, m), 0) : 1;
    } else { /* compile */
        rc = 1;
        if (dtc_pipeline(&o, &ctx, m)) {
            CgOptions cg = {
                .target = o.target,
                .emit = o.emit,
                .output = o.output ? o.output : default_output(ar, o.file, o.emit),
                .opt_level = o.opt_level,
                .cuda_arch = o.cuda_arch,
                .src_file = o.file,
            };
            if (o.stop_after || cg_compile(ar, m, &cg, stderr))
                rc = 0;
        }
    }
    arena_free(ar);
    return rc;
}
