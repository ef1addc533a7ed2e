/* main.c - the dtc command: parses the command line, runs the frontend, the
 * pipeline and a backend, and owns the exit status (0 ok, 1 error in the
 * user's program or files, 2 bad command line).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "driver/driver.h"
#include "ir/ir_text.h"

#ifndef DTC_VERSION
#define DTC_VERSION "0.0.0"
#endif

/* "dtc: error: ..." and a pointer to the command's help; exit status 2. */
static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dtc: error: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd && dtc_is_command(cmd))
        fprintf(stderr, " (see dtc %s --help)\n", cmd);
    else
        fprintf(stderr, " (see dtc --help)\n");
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

/* The sizes the frontend accepts (frontend/sema.c: at most 65536 ranks). */
#define DTC_MAX_MESH_RANKS 65536

/* --mesh AXIS=N,...: every N an integer in 1..65536, no axis twice, the
 * product of the given sizes at most 65536.  Returns 0, or 2 after one
 * message. */
static int parse_mesh(Arena *ar, const char *cmd, const char *spec, FeOptions *fe)
{
    if (!spec || !*spec)
        return usage_error(cmd, "--mesh wants AXIS=N[,AXIS=N...], got '%s'", spec ? spec : "");
    int n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    fe->mesh_axis = arena_alloc(ar, sizeof *fe->mesh_axis * (size_t)n);
    fe->mesh_size = arena_alloc(ar, sizeof *fe->mesh_size * (size_t)n);
    fe->nmesh_override = 0;
    long long product = 1;
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || eq == p || eq + 1 == end)
            return usage_error(cmd, "--mesh wants AXIS=N[,AXIS=N...], got '%s'", spec);
        const char *axis = arena_strndup(ar, p, (size_t)(eq - p));
        const char *num = arena_strndup(ar, eq + 1, (size_t)(end - eq - 1));
        const char *digits = num[0] == '-' ? num + 1 : num;
        bool integer = *digits != 0;
        for (const char *q = digits; *q; q++)
            integer &= *q >= '0' && *q <= '9';
        if (!integer)
            return usage_error(cmd, "--mesh: axis '%s' wants an integer size, got '%s'", axis, num);
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (num[0] == '-' || v < 1)
            return usage_error(cmd, "--mesh: axis '%s' must have a positive size, got %s", axis, num);
        if (errno == ERANGE || v > DTC_MAX_MESH_RANKS)
            return usage_error(cmd, "--mesh: axis '%s' size %s is too large (at most %d ranks)", axis,
                               num, DTC_MAX_MESH_RANKS);
        for (int k = 0; k < fe->nmesh_override; k++)
            if (!strcmp(fe->mesh_axis[k], axis))
                return usage_error(cmd, "--mesh: axis '%s' given twice", axis);
        product *= v;
        if (product > DTC_MAX_MESH_RANKS)
            return usage_error(cmd, "--mesh %s: more than %d ranks", spec, DTC_MAX_MESH_RANKS);
        fe->mesh_axis[fe->nmesh_override] = axis;
        fe->mesh_size[fe->nmesh_override] = (int)v;
        fe->nmesh_override++;
        if (!*end)
            return 0;
        p = end + 1;
    }
}

/* Appends one NAME=FILE to a growable list; false if spec is malformed. */
static bool push_io(Arena *ar, const char *spec, int *n, int *cap, const char ***names,
                    const char ***paths)
{
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (!eq || eq == spec || !eq[1])
        return false;
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 8;
        const char **nn = arena_alloc(ar, sizeof *nn * (size_t)nc);
        const char **np = arena_alloc(ar, sizeof *np * (size_t)nc);
        if (*n) {
            memcpy(nn, *names, sizeof *nn * (size_t)*n);
            memcpy(np, *paths, sizeof *np * (size_t)*n);
        }
        *names = nn;
        *paths = np;
        *cap = nc;
    }
    (*names)[*n] = arena_strndup(ar, spec, (size_t)(eq - spec));
    (*paths)[*n] = eq + 1;
    (*n)++;
    return true;
}

/* --alpha / --beta: a finite, non-negative number of seconds. */
static bool parse_seconds(const char *v, double *out)
{
    if (!v || !*v)
        return false;
    char *end;
    double x = strtod(v, &end); /* overflow gives inf, rejected below */
    if (*end || !isfinite(x) || x < 0)
        return false;
    *out = x;
    return true;
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
                return usage_error(o->cmd, "more than one input file ('%s')", a);
            o->file = a;
        } else if (!strcmp(a, "-o")) {
            if (i + 1 >= argc)
                return usage_error(o->cmd, "%s needs a file name", a);
            o->output = argv[++i];
        } else if (a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
            o->opt_level = a[2] - '0';
        } else if (!strcmp(a, "--explain")) {
            o->explain = true;
        } else if (!strcmp(a, "--simulate")) {
            o->simulate = true;
        } else if (!strcmp(a, "--no-overlap")) {
            o->no_overlap = true;
        } else if (opt_value(argc, argv, &i, "--overlap-chunks", &v)) {
            char *end = NULL;
            long k = v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || *end || k < 1 || k > 64)
                return usage_error(o->cmd, "--overlap-chunks wants a number of chunks from 1 to 64, got '%s'",
                                   v ? v : "");
            o->overlap_chunks = (int)k;
        } else if (opt_value(argc, argv, &i, "--epilogue-block", &v)) {
            char *end = NULL;
            long long k = v ? strtoll(v, &end, 10) : 0;
            if (!v || !*v || *end || k < 1 || k > (1LL << 40))
                return usage_error(o->cmd, "--epilogue-block wants a number of bytes from 1 to 2^40, got '%s'",
                                   v ? v : "");
            o->epilogue_block = k;
        } else if (!strcmp(a, "--time-passes")) {
            o->time_passes = true;
        } else if (opt_value(argc, argv, &i, "--entry", &v)) {
            if (!v)
                return usage_error(o->cmd, "%s needs a function name", a);
            o->fe.entry = v;
        } else if (opt_value(argc, argv, &i, "--mesh", &v)) {
            int rc = parse_mesh(ar, o->cmd, v, &o->fe);
            if (rc)
                return rc;
        } else if (opt_value(argc, argv, &i, "--in", &v)) {
            if (!push_io(ar, v, &o->nin, &o->in_cap, &o->in_name, &o->in_path))
                return usage_error(o->cmd, "--in wants NAME=FILE.npy, got '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--out", &v)) {
            if (!push_io(ar, v, &o->nout, &o->out_cap, &o->out_name, &o->out_path))
                return usage_error(o->cmd, "--out wants NAME=FILE.npy, got '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--target", &v)) {
            if (!v || (strcmp(v, "cpu") && strcmp(v, "cuda")))
                return usage_error(o->cmd, "--target must be cpu or cuda, got '%s'", v ? v : "");
            o->target = v;
        } else if (opt_value(argc, argv, &i, "--emit", &v)) {
            static const char *const kinds[] = {"exe", "c", "llvm", "obj", "cu", "dot", "svg"};
            bool ok = false;
            for (size_t k = 0; v && k < sizeof kinds / sizeof kinds[0]; k++)
                ok |= !strcmp(v, kinds[k]);
            if (!ok)
                return usage_error(o->cmd, "--emit must be exe, c, llvm, obj, cu, dot or svg, got '%s'", v ? v : "");
            o->emit = v;
        } else if (opt_value(argc, argv, &i, "--print-after", &v)) {
            if (!v)
                return usage_error(o->cmd, "%s needs a pass name", a);
            o->print_after = v;
        } else if (opt_value(argc, argv, &i, "--format", &v)) {
            if (!v || (strcmp(v, "text") && strcmp(v, "json")))
                return usage_error(o->cmd, "--format must be text or json, got '%s'", v ? v : "");
            o->format = v;
        } else if (opt_value(argc, argv, &i, "--dump-dir", &v)) {
            if (!v)
                return usage_error(o->cmd, "%s needs a directory", a);
            o->dump_dir = v;
        } else if (opt_value(argc, argv, &i, "--stop-after", &v)) {
            if (!v)
                return usage_error(o->cmd, "%s needs a pass name", a);
            o->stop_after = v;
        } else if (opt_value(argc, argv, &i, "--cuda-arch", &v)) {
            if (!v)
                return usage_error(o->cmd, "%s needs a list like sm_80,sm_90", a);
            o->cuda_arch = v;
        } else if (opt_value(argc, argv, &i, "--steps", &v) || opt_value(argc, argv, &i, "--log-every", &v)) {
            bool steps = a[2] == 's';
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || *end || n < 1 || n > 1000000000L)
                return usage_error(o->cmd, "%s expects a positive integer, got '%s'", steps ? "--steps" : "--log-every",
                                   v ? v : "");
            *(steps ? &o->steps : &o->log_every) = (int)n;
        } else if (opt_value(argc, argv, &i, "--beam", &v)) {
            char *end = NULL;
            long w = v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || *end || w < 1 || w > 1024)
                return usage_error(o->cmd, "--beam wants a number of states from 1 to 1024, got '%s'",
                                   v ? v : "");
            o->beam_width = (int)w;
        } else if (opt_value(argc, argv, &i, "--calibration", &v)) {
            char msg[512];
            if (!v || !*v)
                return usage_error(o->cmd, "--calibration needs a file written by dtc calibrate");
            if (!dtc_load_calibration(v, &o->cost, msg, sizeof msg))
                return usage_error(o->cmd, "--calibration: %s", msg);
        } else if (opt_value(argc, argv, &i, "--solver", &v)) {
            if (v && !strcmp(v, "best"))
                o->solver = SOLVER_BEST;
            else if (v && !strcmp(v, "beam"))
                o->solver = SOLVER_BEAM;
            else if (v && !strcmp(v, "ilp"))
                o->solver = SOLVER_ILP;
            else
                return usage_error(o->cmd, "--solver must be best, beam or ilp, got '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--memory-budget", &v)) {
            char *end = NULL;
            double x = v ? strtod(v, &end) : -1;
            double unit = end && *end == 'K' ? 1024.0 : end && *end == 'M' ? 1048576.0
                        : end && *end == 'G' ? 1073741824.0 : 1.0;
            if (end && unit > 1)
                end++;
            if (!v || !*v || *end || !(x > 0) || x * unit > 9e18)
                return usage_error(o->cmd, "--memory-budget wants a positive number of bytes "
                                   "(suffix K, M or G allowed), got '%s'", v ? v : "");
            o->memory_budget = (int64_t)(x * unit);
        } else if (opt_value(argc, argv, &i, "--alpha", &v) || opt_value(argc, argv, &i, "--beta", &v)) {
            double x;
            if (!parse_seconds(v, &x))
                return usage_error(o->cmd, "%s wants a finite, non-negative number of seconds, got '%s'",
                                   a[2] == 'a' ? "--alpha" : "--beta", v ? v : "");
            for (int k = 0; k < IR_MAX_AXES; k++) {
                if (a[2] == 'a')
                    o->cost.alpha[k] = x;
                else
                    o->cost.beta[k] = x;
            }
        } else {
            return usage_error(o->cmd, "unknown option '%s'", a);
        }
    }
    if (!o->file)
        return usage_error(o->cmd, "%s needs an input file", o->cmd);
    return 0;
}

/* The default output: the input's base name without extension, plus the
 * suffix of what is emitted (mlp, mlp.c, mlp.ll, mlp.o, mlp.cu, mlp.dot,
 * mlp.svg). */
static const char *default_output(Arena *ar, const char *file, const char *emit)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *dot = strrchr(base, '.');
    const char *name = dot && dot != base ? arena_strndup(ar, base, (size_t)(dot - base)) : base;
    static const char *const suffix[][2] = {{"c", ".c"},   {"llvm", ".ll"}, {"obj", ".o"},
                                            {"cu", ".cu"}, {"dot", ".dot"}, {"svg", ".svg"}};
    for (size_t k = 0; k < sizeof suffix / sizeof suffix[0]; k++)
        if (!strcmp(emit, suffix[k][0]))
            return arena_printf(ar, "%s%s", name, suffix[k][1]);
    return name;
}

static const char *const pass_names[] = {"sema", "inline", "propagate", "redistribute",
                                         "ring_attention", "partition", "optimise", "schedule", "fuse", "all"};

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

/* `--help` or `-h` anywhere after the command asks for its usage. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* The program loaded and run through the pipeline again with ctx (up to
 * stop_after, NULL: all of it), printing nothing but errors: the baselines
 * and explanations `dtc report` adds.  NULL if that fails. */
static IrModule *rerun(Arena *ar, const DtcOptions *o, PassCtx *ctx, const char *stop_after)
{
    Diag *d = diag_new(ar, stderr);
    IrModule *m = fe_load_file(ar, d, o->file, &o->fe);
    DtcOptions quiet = *o;
    quiet.print_after = NULL;
    quiet.dump_dir = NULL;
    quiet.time_passes = false;
    quiet.stop_after = stop_after;
    if (!m || diag_nerrors(d) > 0 || !dtc_pipeline(&quiet, ctx, m))
        return NULL;
    return m;
}

/* When dtc placed some parameters (M[auto]): the same program with those
 * replicated, compiled again, as the baseline the choice is measured by. */
static void report_baseline(Arena *ar, const DtcOptions *o, const PassCtx *ctx, const IrModule *chosen)
{
    const IrFunc *f = chosen->entry;
    bool any = false;
    for (int k = 0; f && k < f->nparams; k++)
        any |= !f->params[k]->pinned;
    if (!any)
        return;
    PassCtx base = *ctx;
    base.auto_replicated = true;
    base.memory_budget = 0;
    IrModule *m = rerun(ar, o, &base, NULL);
    if (!m)
        return;
    printf("with those parameters replicated: estimated time %.3f us, %" PRId64 " bytes of parameters "
           "on rank 0%s\n", report_estimate_us(&base, m), report_param_bytes(m),
           o->memory_budget ? " (no budget)" : "");
    if (o->memory_budget)
        printf("memory budget: %" PRId64 " bytes of parameters per rank\n", o->memory_budget);
}

/* --explain: the program again, up to propagate, and why each placement. */
static void report_explain(Arena *ar, const DtcOptions *o, const PassCtx *ctx)
{
    PassCtx c = *ctx;
    IrModule *m = rerun(ar, o, &c, "propagate");
    if (m)
        propagate_explain(&c, m, stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        dtc_print_help(stderr, NULL);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        /* dtc help COMMAND is dtc COMMAND --help */
        dtc_print_help(stdout, argc > 2 ? argv[2] : NULL);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dtc %s\n", DTC_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "calibrate"))
        return dtc_calibrate(argc, argv);
    if (!strcmp(argv[1], "checkpoint"))
        return dtc_checkpoint(argc, argv);
    if (!dtc_is_command(argv[1]))
        return usage_error(NULL, "unknown command '%s'", argv[1]);
    if (wants_help(argc, argv)) {
        dtc_print_help(stdout, argv[1]);
        return 0;
    }

    Arena *ar = arena_new();
    DtcOptions o = {0};
    int rc = parse_args(ar, argc, argv, &o);
    if (rc == 0 && o.print_after && !known_pass(o.print_after))
        rc = usage_error(o.cmd, "--print-after: unknown pass '%s'", o.print_after);
    if (rc == 0 && o.stop_after && !known_pass(o.stop_after))
        rc = usage_error(o.cmd, "--stop-after: unknown pass '%s'", o.stop_after);
    if (rc == 0 && o.stop_after && strcmp(o.cmd, "compile"))
        rc = usage_error(o.cmd, "--stop-after belongs to 'dtc compile', not '%s'", o.cmd);
    if (rc == 0 && strcmp(o.cmd, "run") && (o.nin || o.nout || o.simulate || o.steps || o.log_every))
        rc = usage_error(o.cmd, "--in/--out/--simulate/--steps/--log-every belong to 'dtc run' and to the compiled "
                         "program, not '%s'", o.cmd);
    if (rc == 0 && o.log_every && !o.steps)
        rc = usage_error(o.cmd, "--log-every needs --steps");
    if (rc == 0 && o.explain && strcmp(o.cmd, "report"))
        rc = usage_error(o.cmd, "--explain belongs to 'dtc report', not '%s'", o.cmd);
    if (rc == 0 && o.format && strcmp(o.cmd, "report"))
        rc = usage_error(o.cmd, "--format belongs to 'dtc report', not '%s'", o.cmd);
    if (rc != 0) {
        arena_free(ar);
        return rc;
    }
    if (!strcmp(o.cmd, "ir-roundtrip")) {
        rc = cmd_ir_roundtrip(ar, &o);
        arena_free(ar);
        return rc;
    }

    FILE *tp = o.time_passes ? stderr : NULL; /* --time-passes */
    PhaseClock t0 = phase_clock();
    Diag *d = diag_new(ar, stderr);
    IrModule *m = fe_load_file(ar, d, o.file, &o.fe);
    if (!m || diag_nerrors(d) > 0) {
        arena_free(ar);
        return 1;
    }
    phase_time(tp, "frontend", t0);
    PassCtx ctx = {.arena = ar, .err = stderr, .cost = o.cost, .beam_width = o.beam_width,
                   .memory_budget = o.memory_budget, .solver = o.solver,
                   /* CUDA keeps NCCL's blocking collectives: no schedule */
                   .no_overlap = o.no_overlap || (o.target && !strcmp(o.target, "cuda")),
                   .overlap_chunks = o.overlap_chunks};
    if (!strcmp(o.cmd, "check")) {
        rc = 0;
    } else if (!strcmp(o.cmd, "run")) {
        bool ok;
        if (o.simulate) {
            ok = dtc_pipeline(&o, &ctx, m);
        } else {
            PhaseClock t = phase_clock();
            ctx.inline_rules = true; /* sharding rules are about sharding: run the bodies */
            ok = pass_inline(&ctx, m);
            phase_time(tp, "inline", t);
        }
        PhaseClock t = phase_clock();
        rc = ok ? dtc_cmd_run(ar, &o, m) : 1;
        if (ok)
            phase_time(tp, "interpret", t);
    } else if (!strcmp(o.cmd, "report")) {
        bool json = o.format && !strcmp(o.format, "json");
        rc = 1;
        if (dtc_pipeline(&o, &ctx, m)) {
            PhaseClock t = phase_clock();
            (json ? pass_report_json : pass_report)(stdout, &ctx, m);
            phase_time(tp, "report", t);
            rc = 0;
            if (!json)
                report_baseline(ar, &o, &ctx, m);
            if (o.explain)
                report_explain(ar, &o, &ctx);
        }
    } else { /* compile */
        rc = 1;
        const char *output = o.output ? o.output : default_output(ar, o.file, o.emit);
        bool picture = !strcmp(o.emit, "dot") || !strcmp(o.emit, "svg");
        if (picture && dtc_pipeline(&o, &ctx, m)) {
            /* the IR after --stop-after=PASS, else the final placed IR */
            const char *stage = o.stop_after && strcmp(o.stop_after, "all") ? o.stop_after : "optimise";
            rc = dtc_emit_picture(ar, &o, m, stage, output);
        } else if (!picture && dtc_pipeline(&o, &ctx, m)) {
            CgOptions cg = {
                .target = o.target,
                .emit = o.emit,
                .output = output,
                .opt_level = o.opt_level,
                .cuda_arch = o.cuda_arch,
                .src_file = o.file,
                .time_passes = tp,
                .epilogue_block = o.epilogue_block,
            };
            if (o.stop_after || cg_compile(ar, m, &cg, stderr))
                rc = 0;
        }
    }
    if (rc == 0)
        phase_time(tp, "total", t0);
    arena_free(ar);
    return rc;
}
