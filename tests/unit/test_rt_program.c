/* test_rt_program.c - rt_main end to end on a hand-written per-rank program
 * (what the compiler will generate), with the threads backend (--ranks 4):
 * inputs from initialisers and --in (including a P(sum) parameter), the
 * collectives, assembly of S / P(sum) / P(avg) / P(max) / nested-S results,
 * --out files, checksum lines, --iters / --profile / --help, and every
 * user error of spec section 9: one message, non-zero exit, no output file.
 *
 * Built with -DRT_MOCK_MAIN this file is the mock program itself
 * (tests/runtime/test_mpi.sh runs it under mpirun).
 *
 * The mock, on mesh M[dp=2, tp=2]:
 *   x: f32[5, 6] @ [S(0), S(1)] = arange     w: f32[6, 4] @ [R, S(0)] = arange
 *   b: f32[4] @ [R, P(sum)] (no initialiser)  k: i32[3] @ [P(max), R] = arange
 *   yp = x @ w      (local matmul: partial over tp)     @ [S(0), P(sum)]
 *   ya = 2 * yp                                          @ [S(0), P(avg)]
 *   y  = all_reduce_tp(yp) + all_reduce_tp(b)            @ [S(0), R]
 *   xg = all_gather_dp(x, dim 0)                         @ [R, S(1)]
 *   xa = all_to_all_tp(x, split dim 0, cat dim 1)        @ [S(0), S(0)]
 *   kmax = k - dp coordinate                             @ [P(max), R]
 * All values are small integers, so every backend gives exact results.
 */
#include "runtime/dtrt.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PL_R {RT_PL_R, 0, RT_RED_SUM}
#define PL_S(d) {RT_PL_S, d, RT_RED_SUM}
#define PL_P(r) {RT_PL_P, 0, r}

static const rt_tensor_desc mock_params[] = {
    {"x", RT_F32, 2, {5, 6}, {PL_S(0), PL_S(1)}, {RT_INIT_ARANGE, 0, 0, 0, NULL, 0}, -1},
    {"w", RT_F32, 2, {6, 4}, {PL_R, PL_S(0)}, {RT_INIT_ARANGE, 0, 0, 0, NULL, 0}, -1},
    {"b", RT_F32, 1, {4}, {PL_R, PL_P(RT_RED_SUM)}, {RT_INIT_NONE, 0, 0, 0, NULL, 0}, -1},
    {"k", RT_I32, 1, {3}, {PL_P(RT_RED_MAX), PL_R}, {RT_INIT_ARANGE, 0, 0, 0, NULL, 0}, -1},
};

static const rt_tensor_desc mock_results[] = {
    {"y", RT_F32, 2, {5, 4}, {PL_S(0), PL_R}, {0}, -1},
    {"yp", RT_F32, 2, {5, 4}, {PL_S(0), PL_P(RT_RED_SUM)}, {0}, -1},
    {"ya", RT_F32, 2, {5, 4}, {PL_S(0), PL_P(RT_RED_AVG)}, {0}, -1},
    {"xg", RT_F32, 2, {5, 6}, {PL_R, PL_S(1)}, {0}, -1},
    {"xa", RT_F32, 2, {5, 6}, {PL_S(0), PL_S(0)}, {0}, -1},
    {"kmax", RT_I32, 1, {3}, {PL_P(RT_RED_MAX), PL_R}, {0}, -1},
};

static int env_rank(const char *name)
{
    const char *s = getenv(name);
    return s && *s ? atoi(s) : -1;
}

static int mock_run(rt_ctx *ctx, void *const *params, void *const *results)
{
    const float *x = params[0], *w = params[1], *b = params[2];
    const int32_t *k = params[3];
    float *y = results[0], *yp = results[1], *ya = results[2], *xg = results[3], *xa = results[4];
    int32_t *kmax = results[5];
    int64_t xd[2], wd[2], yd[2];
    rt_local_dims(ctx, &mock_params[0], xd);
    rt_local_dims(ctx, &mock_params[1], wd);
    rt_local_dims(ctx, &mock_results[0], yd);
    if (xd[1] != wd[0] || yd[0] != xd[0] || wd[1] != 4)
        rt_fail(ctx, "mock: local shapes do not fit");

    rt_prof_begin(ctx, "matmul", (xd[0] * xd[1] + wd[0] * wd[1]) * 4);
    for (int64_t i = 0; i < xd[0]; i++)
        for (int64_t j = 0; j < 4; j++) {
            float acc = 0;
            for (int64_t l = 0; l < xd[1]; l++)
                acc += x[i * xd[1] + l] * w[l * 4 + j];
            yp[i * 4 + j] = acc;
            ya[i * 4 + j] = 2 * acc;
        }
    rt_prof_end(ctx);

    if (rt_rank(ctx) == env_rank("MOCK_FAIL"))
        rt_fail(ctx, "mock failure");
    if (rt_rank(ctx) == env_rank("MOCK_DIE"))
        raise(SIGKILL);
    if (rt_rank(ctx) == env_rank("MOCK_SLOW")) { /* its tp partner waits 0.2 s (--trace) */
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }

    memcpy(y, yp, sizeof(float) * (size_t)(yd[0] * 4));
    rt_site(ctx, "mock.dt:7:10");
    rt_all_reduce(ctx, 2u, RT_F32, y, yd[0] * 4, RT_RED_SUM);
    float *bb = rt_workspace(ctx);
    memcpy(bb, b, 4 * sizeof(float));
    rt_all_reduce(ctx, 2u, RT_F32, bb, 4, RT_RED_SUM);
    for (int64_t i = 0; i < yd[0]; i++)
        for (int j = 0; j < 4; j++)
            y[i * 4 + j] += bb[j];

    int64_t lens[2], sl[2], cl[2];
    rt_member_lens(ctx, 1u, mock_params[0].pl, 0, 5, lens);
    rt_site(ctx, "mock.dt:9:10");
    rt_all_gather(ctx, 1u, RT_F32, x, xg, 2, xd, 0, lens);
    rt_member_lens(ctx, 2u, mock_results[4].pl, 0, 5, sl);
    rt_member_lens(ctx, 2u, mock_params[0].pl, 1, 6, cl);
    rt_all_to_all(ctx, 2u, RT_F32, x, xa, 2, xd, 0, sl, 1, cl);

    int c[RT_MAX_AXES];
    rt_coords(ctx, c);
    for (int i = 0; i < 3; i++)
        kmax[i] = k[i] - c[0];
    return 0;
}

static const rt_program mock_prog = {
    .name = "mock",
    .mesh = {"M", 2, {"dp", "tp"}, {2, 2}},
    .nparams = 4,
    .params = mock_params,
    .nresults = 6,
    .results = mock_results,
    .workspace_bytes = 64,
    .run = mock_run,
};

#ifdef RT_MOCK_MAIN

int main(int argc, char **argv) { return rt_main(argc, argv, &mock_prog); }

#else

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(c, ...)                                                                             \
    do {                                                                                          \
        checks++;                                                                                 \
        if (!(c)) {                                                                               \
            failures++;                                                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                  \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
        }                                                                                         \
    } while (0)

static char out_text[1 << 16], err_text[1 << 16];

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t k = f ? fread(buf, 1, n - 1, f) : 0;
    buf[k] = 0;
    if (f)
        fclose(f);
}

/* rt_main with argv = {"mock", args..., NULL}, stdout / stderr captured. */
static int run_main(const rt_program *prog, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "mock";
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open("stdout.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = rt_main(argc, argv, prog);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    close(fo);
    close(fe);
    slurp("stdout.txt", out_text, sizeof out_text);
    slurp("stderr.txt", err_text, sizeof err_text);
    return rc;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- the reference, computed here ------------------------------------------------ */

static float X[5][6], W[6][4], Y[5][4], YP[5][4];
static const float B[4] = {0.5f, -1.0f, 2.0f, 3.25f};

static void reference(float xscale)
{
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 6; j++)
            X[i][j] = xscale * (float)(i * 6 + j);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            W[i][j] = (float)(i * 4 + j);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) {
            float acc = 0;
            for (int l = 0; l < 6; l++)
                acc += X[i][l] * W[l][j];
            YP[i][j] = acc;
            Y[i][j] = acc + B[j];
        }
}

static void expect_npy(const char *path, rt_dtype dt, int rank, const int64_t *dims,
                       const void *want)
{
    rt_npy t;
    char err[256];
    if (rt_npy_read(path, &t, err, sizeof err) != 0) {
        CHECK(0, "%s: %s", path, err);
        return;
    }
    int64_t n = 1;
    bool ok = t.dtype == dt && t.rank == rank;
    for (int d = 0; ok && d < rank; d++) {
        ok = t.dims[d] == dims[d];
        n *= dims[d];
    }
    ok = ok && !memcmp(t.data, want, (size_t)n * (size_t)rt_dtype_size(dt));
    CHECK(ok, "%s: wrong type or contents", path);
    rt_npy_free(&t);
}

static void checksum_line(char *buf, size_t n, const char *name, const char *type,
                          const float *v, int count)
{
    double s = 0, q = 0;
    for (int i = 0; i < count; i++) {
        s += v[i];
        q += (double)v[i] * v[i];
    }
    snprintf(buf, n, "%s: %s sum=%.6e l2=%.6e\n", name, type, s, sqrt(q));
}

static void write_npy(const char *path, rt_dtype dt, int rank, const int64_t *dims,
                      const void *data)
{
    char err[256];
    if (rt_npy_write(path, dt, rank, dims, data, err, sizeof err) != 0)
        CHECK(0, "cannot write %s: %s", path, err);
}

/* One user error: non-zero exit, exactly one message line with `want`, no
 * output, out.npy not created. */
static void expect_error(const char *what, const char *const *args, const char *want)
{
    remove("out.npy");
    int rc = run_main(&mock_prog, args);
    bool one = count_lines(err_text) == 1 && !strncmp(err_text, "mock: error: ", 13);
    CHECK(rc != 0 && one && strstr(err_text, want) && !out_text[0] && !exists("out.npy"),
          "%s: rc %d, stderr '%s' (expected one line with '%s'), stdout '%s'", what, rc, err_text,
          want, out_text);
    printf("  %-34s rc %d: %s", what, rc, err_text);
}

/* ---- a one-rank program: no mesh, load() initialiser, scalar result ------------ */

static const rt_tensor_desc one_params[] = {
    {"v", RT_F64, 1, {3}, {{0}}, {RT_INIT_LOAD, 0, 0, 0, "v.npy", 0}, -1},
};
static const rt_tensor_desc one_results[] = {
    {"total", RT_F64, 0, {0}, {{0}}, {0}, -1},
};

static int one_run(rt_ctx *ctx, void *const *params, void *const *results)
{
    (void)ctx;
    const double *v = params[0];
    *(double *)results[0] = v[0] + v[1] + v[2];
    return 0;
}

static const rt_program one_prog = {
    .name = "one", .mesh = {"M", 0, {0}, {0}}, .nparams = 1, .params = one_params,
    .nresults = 1, .results = one_results, .run = one_run,
};

int main(void)
{
    char dir[] = "/tmp/test_rt_program.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror("mkdtemp");
        return 1;
    }
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("PMIX_RANK");
    unsetenv("DT_COMM");
    const int64_t d4[1] = {4}, d5[1] = {5}, d3[1] = {3}, d54[2] = {5, 4}, d56[2] = {5, 6};
    write_npy("b.npy", RT_F32, 1, d4, B);
    double b64[4] = {0.5, -1, 2, 3.25};
    write_npy("b64.npy", RT_F64, 1, d4, b64);
    float b5[5] = {0};
    write_npy("b5.npy", RT_F32, 1, d5, b5);
    /* truncated: a valid file cut short */
    write_npy("trunc.npy", RT_F32, 1, d4, B);
    if (truncate("trunc.npy", 130) != 0)
        perror("truncate");

    /* 1. the full run */
    reference(1.0f);
    const char *full[] = {"--ranks", "4", "--in", "b=b.npy", "--out", "y=y.npy", "--out=yp=yp.npy",
                          "--out", "ya=ya.npy", "--out", "xg=xg.npy", "--out", "xa=xa.npy",
                          "--out", "kmax=kmax.npy", NULL};
    int rc = run_main(&mock_prog, full);
    CHECK(rc == 0 && !err_text[0], "full run: rc %d, stderr '%s'", rc, err_text);
    expect_npy("y.npy", RT_F32, 2, d54, Y);
    expect_npy("yp.npy", RT_F32, 2, d54, YP);
    expect_npy("ya.npy", RT_F32, 2, d54, YP); /* avg of 2 * partials */
    expect_npy("xg.npy", RT_F32, 2, d56, X);
    expect_npy("xa.npy", RT_F32, 2, d56, X);
    int32_t K[3] = {0, 1, 2};
    expect_npy("kmax.npy", RT_I32, 1, d3, K);
    char want[4096], line[256];
    want[0] = 0;
    checksum_line(line, sizeof line, "y", "f32[5, 4]", &Y[0][0], 20);
    strcat(want, line);
    checksum_line(line, sizeof line, "yp", "f32[5, 4]", &YP[0][0], 20);
    strcat(want, line);
    checksum_line(line, sizeof line, "ya", "f32[5, 4]", &YP[0][0], 20);
    strcat(want, line);
    checksum_line(line, sizeof line, "xg", "f32[5, 6]", &X[0][0], 30);
    strcat(want, line);
    checksum_line(line, sizeof line, "xa", "f32[5, 6]", &X[0][0], 30);
    strcat(want, line);
    strcat(want, "kmax: i32[3] sum=3.000000e+00 l2=2.236068e+00\n");
    CHECK(!strcmp(out_text, want), "checksum lines:\n%s\nexpected:\n%s", out_text, want);
    printf("--ranks 4: 6 results (S, P(sum), P(avg), R+S, nested S, P(max)) exact; output:\n%s",
           out_text);

    /* 2. --in overrides an initialiser */
    reference(-2.0f);
    float x2[30];
    memcpy(x2, X, sizeof x2);
    write_npy("x2.npy", RT_F32, 2, d56, x2);
    const char *over[] = {"--ranks", "4", "--in", "b=b.npy", "--in", "x=x2.npy", "--out", "y=y2.npy",
                          "--out", "xa=xa2.npy", NULL};
    rc = run_main(&mock_prog, over);
    CHECK(rc == 0, "--in x: rc %d: %s", rc, err_text);
    expect_npy("y2.npy", RT_F32, 2, d54, Y);
    expect_npy("xa2.npy", RT_F32, 2, d56, X);
    printf("--in x=x2.npy overrides arange(): y and xa exact\n");

    /* 3. --iters, --warmup, --profile */
    const char *timed[] = {"--ranks", "4", "--in", "b=b.npy", "--iters", "3", "--warmup", "2",
                           "--profile", NULL};
    rc = run_main(&mock_prog, timed);
    const char *mm = strstr(out_text, "  matmul ");
    long calls = 0;
    if (mm)
        sscanf(mm, " matmul %ld", &calls);
    CHECK(rc == 0 && strstr(out_text, "time: median ") && strstr(out_text, "over 3 iters") &&
              strstr(out_text, "profile: rank 0, 3 iters") && calls == 3 &&
              strstr(out_text, "all_reduce(tp) ") && strstr(out_text, "all_gather(dp) ") &&
              strstr(out_text, "all_to_all(tp) "),
          "--iters/--profile: rc %d, output:\n%s", rc, out_text);
    printf("--iters 3 --warmup 2 --profile:\n%s", strstr(out_text, "time:") ? strstr(out_text, "time:") : "");

    /* 4. --help */
    const char *help[] = {"--help", NULL};
    rc = run_main(&mock_prog, help);
    CHECK(rc == 0 && strstr(out_text, "usage: mock") &&
              strstr(out_text, "b: f32[4] @ M[R, P(sum)]  (give it with --in)") &&
              strstr(out_text, "x: f32[5, 6] @ M[S(0), S(1)] = arange()"),
          "--help: rc %d:\n%s", rc, out_text);
    printf("--help: usage with the parameters and results\n");

    /* 5. user errors: one message, non-zero, nothing written */
    printf("errors:\n");
    const char *e1[] = {"--ranks", "3", "--in", "b=b.npy", "--out", "y=out.npy", NULL};
    expect_error("--ranks 3", e1, "--ranks 3 does not match mesh M[dp=2, tp=2]: it has 4 ranks");
    const char *e2[] = {"--in", "b=b.npy", "--out", "y=out.npy", NULL};
    expect_error("no --ranks, no mpirun", e2, "mesh M[dp=2, tp=2] has 4 ranks: run with --ranks 4");
    const char *e3[] = {"--ranks", "4", "--in", "b=nope.npy", "--out", "y=out.npy", NULL};
    expect_error("missing file", e3, "--in b: cannot open nope.npy");
    const char *e4[] = {"--ranks", "4", "--in", "b=trunc.npy", "--out", "y=out.npy", NULL};
    expect_error("truncated file", e4, "--in b: trunc.npy");
    const char *e5[] = {"--ranks", "4", "--in", "b=b64.npy", "--out", "y=out.npy", NULL};
    expect_error("wrong dtype", e5, "--in b: b64.npy has dtype f64, expected f32");
    const char *e6[] = {"--ranks", "4", "--in", "b=b5.npy", "--out", "y=out.npy", NULL};
    expect_error("wrong shape", e6, "--in b: b5.npy has shape [5], expected [4]");
    const char *e7[] = {"--ranks", "4", "--in", "b=b.npy", "--in", "z=b.npy", "--out", "y=out.npy",
                        NULL};
    expect_error("unknown --in name", e7, "unknown parameter 'z' (parameters: x, w, b, k)");
    const char *e8[] = {"--ranks", "4", "--in", "b=b.npy", "--out", "q=out.npy", NULL};
    expect_error("unknown --out name", e8, "unknown result 'q' (results: y, yp, ya, xg, xa, kmax)");
    const char *e9[] = {"--ranks", "4", "--in", "b", "--out", "y=out.npy", NULL};
    expect_error("--in without =", e9, "--in expects NAME=FILE.npy, got 'b'");
    const char *e10[] = {"--ranks", "4", "--out", "y=out.npy", NULL};
    expect_error("parameter without data", e10, "parameter b has no initialiser");
    const char *e11[] = {"--ranks", "4", "--in", "b=b.npy", "--iters", "0", "--out", "y=out.npy",
                         NULL};
    expect_error("--iters 0", e11, "--iters expects a positive integer, got '0'");
    const char *e12[] = {"--ranks", "4", "--frob", NULL};
    expect_error("unknown option", e12, "unknown option '--frob'");
    const char *e13[] = {"--ranks", "4", "--in", "b=b.npy", "--out", "y=nodir/out.npy", NULL};
    expect_error("--out into a missing dir", e13, "--out y: cannot write nodir/out.npy");
    const char *e14[] = {"--ranks", "4", "--in", "b=b.npy", "--in", "b=b.npy", NULL};
    expect_error("--in twice", e14, "--in b given twice");
    const char *e15[] = {"--ranks", NULL};
    expect_error("--ranks without value", e15, "--ranks needs a value");
    setenv("MOCK_FAIL", "2", 1);
    const char *e16[] = {"--ranks", "4", "--in", "b=b.npy", "--out", "y=out.npy", NULL};
    expect_error("rank 2 fails in run", e16, "rank 2: mock failure");
    unsetenv("MOCK_FAIL");

    /* 6. one rank, no mesh: no --ranks needed; load() initialiser; scalar */
    double v[3] = {1.5, 2.25, -0.75}, total = 3.0;
    write_npy("v.npy", RT_F64, 1, d3, v);
    const char *one[] = {"--out", "total=total.npy", NULL};
    rc = run_main(&one_prog, one);
    CHECK(rc == 0 && !strcmp(out_text, "total: f64[] sum=3.000000e+00 l2=3.000000e+00\n"),
          "one-rank program: rc %d, out '%s', err '%s'", rc, out_text, err_text);
    expect_npy("total.npy", RT_F64, 0, NULL, &total);
    remove("v.npy");
    rc = run_main(&one_prog, one + 2);
    CHECK(rc != 0 && strstr(err_text, "one: error: parameter v = load(\"v.npy\"): cannot open v.npy"),
          "load() of a missing file: rc %d, '%s'", rc, err_text);
    printf("mesh-less program: runs without --ranks, load() initialiser, f64[] result; "
           "missing load file: %s",
           err_text);

    /* clean up */
    static const char *const files[] = {"b.npy", "b64.npy", "b5.npy", "trunc.npy", "y.npy", "yp.npy",
                                        "ya.npy", "xg.npy", "xa.npy", "kmax.npy", "x2.npy", "y2.npy",
                                        "xa2.npy", "total.npy", "stdout.txt", "stderr.txt", "out.npy"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        remove(files[i]);
    if (chdir("/") == 0)
        rmdir(dir);
    printf("%s: %d checks, %d failed\n", failures ? "FAIL" : "ok", checks, failures);
    return failures != 0;
}

#endif
