/* calibrate.c - `dtc calibrate`: measure the cost model on this machine, and
 * read what it wrote (`--calibration=FILE` of the other commands).
 *
 * The cost model (passes/cost.c, rules.c, report.c) prices a collective as
 * msgs * alpha + bytes * beta, a matmul as flops * flop_time, an elementwise
 * op, reduction or norm as elements * elem_time, a copy as bytes * copy_time,
 * and every instruction run as op_time.  Its defaults are round numbers.
 * calibrate compiles small dt programs with this dtc, runs each with
 * `--ranks N --iters K` (N ranks at once, as a sharded program runs, so the
 * figures include their contention for cores and memory) and fits:
 *   alpha, beta    all_reduce P -> R of 256 .. 1M f32 over N ranks: least
 *                  squares of time against (messages, bytes) as cost.c counts
 *                  them, alpha clamped at >= 0;
 *   flop_time      a 384 x 384 x 384 matmul per rank;
 *   elem_time      exp over 2M f32;
 *   copy_time      a 1024 x 1024 transpose;
 *   op_time        a chain of 256 dependent ops on 16 f32, per op.
 * Each time is the compiled program's median per iteration, less the time of
 * an empty program (the loop and its barrier).  The file is `key value`
 * lines; `--calibration=FILE` loads it before later options (--alpha,
 * --beta) override.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"

typedef struct Cal {
    const char *self;   /* this dtc */
    const char *dir;    /* scratch */
    int ranks, iters;
    bool verbose;
} Cal;

/* Compiles SRC with this dtc and runs it; the median seconds per iteration
 * (negative on failure, said on stderr). */
static double measure(const Cal *c, const char *name, const char *src)
{
    char dt[4096], exe[4096], cmd[12288], line[512];
    snprintf(dt, sizeof dt, "%s/%s.dt", c->dir, name);
    snprintf(exe, sizeof exe, "%s/%s", c->dir, name);
    FILE *f = fopen(dt, "w");
    if (!f) {
        fprintf(stderr, "dtc calibrate: error: cannot write %s: %s\n", dt, strerror(errno));
        return -1;
    }
    fputs(src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' compile '%s' -o '%s' 2>&1", c->self, dt, exe);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof line, p))
        fputs(line, stderr);
    if (pclose(p) != 0) {
        fprintf(stderr, "dtc calibrate: error: compiling the %s benchmark failed\n", name);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "'%s' --ranks %d --iters %d --warmup 3 2>&1", exe, c->ranks, c->iters);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    double ms = -1;
    while (fgets(line, sizeof line, p)) {
        double v;
        if (sscanf(line, "time: median %lf ms/iter", &v) == 1)
            ms = v;
    }
    if (pclose(p) != 0 || ms < 0) {
        fprintf(stderr, "dtc calibrate: error: running the %s benchmark failed\n", name);
        return -1;
    }
    if (c->verbose)
        fprintf(stderr, "calibrate: %-12s %10.4f ms/iter\n", name, ms);
    return ms * 1e-3;
}

static int ceil_log2(int k)
{
    int r = 0;
    while ((1 << r) < k)
        r++;
    return r;
}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "dtc calibrate: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see dtc calibrate --help)\n");
    return 2;
}

/* The value of --name=V or --name V (advancing *i), else NULL. */
static const char *opt_arg(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (!strcmp(argv[*i], name) && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* A decimal integer in [lo, hi]. */
static bool int_in(const char *v, long lo, long hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return false;
    *out = (int)n;
    return true;
}

int dtc_calibrate(int argc, char **argv)
{
    Cal c = {NULL, NULL, 2, 20, false};
    const char *out = "dtc-calibration.txt";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: dtc calibrate [--ranks N] [--iters K] [-o FILE] [--verbose]\n"
                   "Measure the cost model on this machine: compile and run small programs on N\n"
                   "ranks (threads; default 2), K timed iterations each (default 20), and write\n"
                   "alpha, beta, flop_time, elem_time, copy_time and op_time to FILE (default\n"
                   "dtc-calibration.txt), which check, run, compile and report read with\n"
                   "--calibration=FILE.\n");
            return 0;
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if ((v = opt_arg(argc, argv, &i, "--ranks"))) {
            if (!int_in(v, 2, 64, &c.ranks))
                return usage("--ranks wants 2 to 64, got '%s'", v);
        } else if ((v = opt_arg(argc, argv, &i, "--iters"))) {
            if (!int_in(v, 1, 100000, &c.iters))
                return usage("--iters wants 1 to 100000, got '%s'", v);
        } else if (!strcmp(a, "--verbose")) {
            c.verbose = true;
        } else {
            return usage("unknown option '%s'", a);
        }
    }
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "dtc calibrate: error: cannot find this dtc (/proc/self/exe)\n");
        return 1;
    }
    self[n] = 0;
    c.self = self;
    char tmpl[] = "/tmp/dtc-calibrate.XXXXXX";
    c.dir = mkdtemp(tmpl);
    if (!c.dir) {
        fprintf(stderr, "dtc calibrate: error: no scratch directory: %s\n", strerror(errno));
        return 1;
    }
    static char src[16384];
    int k = c.ranks;
    int rc = 1;
    double t_empty, t_mm, t_exp, t_tr, t_chain;
    /* the program's own loop and barrier */
    snprintf(src, sizeof src,
             "mesh M[x=%d];\nfn main(a: f32[1] @ M[R] = ones()) -> f32[1] @ M[R] { return a; }\n", k);
    if ((t_empty = measure(&c, "empty", src)) < 0)
        goto done;
    /* all_reduce over the sizes */
    const int sizes[] = {256, 4096, 65536, 262144, 1048576};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    double tx[8], bx[8];
    for (int s = 0; s < nsizes; s++) {
        snprintf(src, sizeof src,
                 "mesh M[x=%d];\nfn main(a: f32[%d] @ M[P] = ones()) -> f32[%d] @ M[R] { return a; }\n",
                 k, sizes[s], sizes[s]);
        char name[32];
        snprintf(name, sizeof name, "allreduce%d", sizes[s]);
        double t = measure(&c, name, src);
        if (t < 0)
            goto done;
        tx[s] = fmax(t - t_empty, 0);
        bx[s] = 2.0 * (double)(sizes[s] - sizes[s] / k) * 4; /* cost.c's bytes */
    }
    /* least squares t = msgs alpha + bytes beta */
    double msgs = 1 + 2.0 * ceil_log2(k);
    double sxx = 0, sxy = 0, sx = 0, sy = 0;
    for (int s = 0; s < nsizes; s++) {
        sx += bx[s];
        sy += tx[s];
        sxx += bx[s] * bx[s];
        sxy += bx[s] * tx[s];
    }
    double beta = (nsizes * sxy - sx * sy) / (nsizes * sxx - sx * sx);
    double icpt = (sy - beta * sx) / nsizes;
    if (!(beta > 0))
        beta = tx[nsizes - 1] / bx[nsizes - 1];
    double alpha = fmax(icpt / msgs, 0);
    /* compute */
    snprintf(src, sizeof src,
             "mesh M[x=%d];\nfn main(a: f32[384, 384] @ M[R] = randn(seed=1), b: f32[384, 384] @ M[R] = "
             "randn(seed=2)) -> f32[384, 384] @ M[R] { return a @ b; }\n", k);
    if ((t_mm = measure(&c, "matmul", src)) < 0)
        goto done;
    snprintf(src, sizeof src,
             "mesh M[x=%d];\nfn main(a: f32[2097152] @ M[R] = randn(seed=1)) -> f32[2097152] @ M[R] "
             "{ return exp(a); }\n", k);
    if ((t_exp = measure(&c, "exp", src)) < 0)
        goto done;
    snprintf(src, sizeof src,
             "mesh M[x=%d];\nfn main(a: f32[1024, 1024] @ M[R] = randn(seed=1)) -> f32[1024, 1024] @ M[R] "
             "{ return transpose(a, [1, 0]); }\n", k);
    if ((t_tr = measure(&c, "transpose", src)) < 0)
        goto done;
    {
        /* dependent, unfusable steps: a matmul each, on tiny operands */
        size_t len = 0;
        len += (size_t)snprintf(src + len, sizeof src - len,
                                "mesh M[x=%d];\nfn main(a: f32[4, 4] @ M[R] = randn(seed=1)) -> f32[4, 4] @ M[R] {\n"
                                "    let h0 = a;\n", k);
        for (int q = 0; q < 64 && len < sizeof src - 64; q++)
            len += (size_t)snprintf(src + len, sizeof src - len, "    let h%d = h%d @ a * 0.5;\n", q + 1, q);
        snprintf(src + len, sizeof src - len, "    return h64;\n}\n");
    }
    if ((t_chain = measure(&c, "chain", src)) < 0)
        goto done;
    double flop_time = fmax(t_mm - t_empty, 1e-9) / (2.0 * 384 * 384 * 384);
    double elem_time = fmax(t_exp - t_empty, 1e-9) / 2097152.0;
    double copy_time = fmax(t_tr - t_empty, 1e-9) / (1024.0 * 1024 * 4);
    double op_time = fmax(t_chain - t_empty, 0) / 128.0; /* a matmul and a mul each */
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "dtc calibrate: error: cannot write %s: %s\n", out, strerror(errno));
        goto done;
    }
    fprintf(f, "# dtc calibrate --ranks %d --iters %d: the cost model measured on this machine\n", k,
            c.iters);
    fprintf(f, "alpha %.6g\nbeta %.6g\nflop_time %.6g\nelem_time %.6g\ncopy_time %.6g\nop_time %.6g\n",
            alpha, beta, flop_time, elem_time, copy_time, op_time);
    fclose(f);
    printf("alpha %.3g s (latency per message), beta %.3g s/byte (%.2f GB/s), %.2f GFLOP/s, "
           "%.3g s per element, %.2f GB/s copies, %.3g s per op: written to %s\n",
           alpha, beta, beta > 0 ? 1e-9 / beta : 0, 1e-9 / flop_time, elem_time, 1e-9 / copy_time, op_time,
           out);
    rc = 0;
done:
    if (c.dir) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "dtc calibrate: note: could not remove %s\n", c.dir);
    }
    return rc;
}

bool dtc_load_calibration(const char *path, CostModel *cm, char *msg, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, n, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    char line[256], key[64];
    int lineno = 0;
    double v;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char extra[2];
        if (sscanf(line, "%63s %lf %1s", key, &v, extra) != 2 || !isfinite(v) || v < 0) {
            snprintf(msg, n, "%s:%d: expected 'KEY VALUE' with a finite value >= 0", path, lineno);
            ok = false;
        } else if (!strcmp(key, "alpha") || !strcmp(key, "beta")) {
            for (int a = 0; a < IR_MAX_AXES; a++)
                (key[0] == 'a' ? cm->alpha : cm->beta)[a] = v;
        } else if (!strcmp(key, "flop_time")) {
            cm->flop_time = v;
        } else if (!strcmp(key, "elem_time")) {
            cm->elem_time = v;
        } else if (!strcmp(key, "copy_time")) {
            cm->copy_time = v;
        } else if (!strcmp(key, "op_time")) {
            cm->op_time = v;
        } else {
            snprintf(msg, n, "%s:%d: unknown key '%s'", path, lineno, key);
            ok = false;
        }
    }
    fclose(f);
    return ok;
}
