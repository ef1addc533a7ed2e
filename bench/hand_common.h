/* hand_common.h - what the hand-written benchmark programs share: options,
 * initial data, the timing loop and the output lines.
 *
 * The timing loop is the one a compiled dt program runs (runtime/program.c):
 * per iteration MPI_Barrier, t0, the work, MPI_Barrier, t1; W untimed
 * iterations, then the median of K timed ones, printed by rank 0 as
 *   time: median X ms/iter over K iters
 * Initial data comes from the runtime core's initialisers (rt_init_fill,
 * the counter-based generator that `dtc run` and compiled programs use), so
 * checksums can be compared with `dtc run` of the same .dt.  Filling is
 * outside the timed region, as it is in compiled programs.
 *
 * Header-only (static functions): each hand program is one translation unit
 * plus the runtime core sources (runtime/core).  Build with -fopenmp-simd
 * (the `omp simd` loops) and -lmvec (vector expf), as bench/run.sh does.
 */
#ifndef HAND_COMMON_H
#define HAND_COMMON_H

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/core/rt_core.h"

/* Options shared by every hand program; sizes are program-specific. */
typedef struct hb_opts {
    int iters;  /* --iters K: timed iterations (0: run once, untimed) */
    int warmup; /* --warmup W: untimed iterations first */
} hb_opts;

/* Ends every rank with one message from rank 0. */
static inline void hb_die(const char *prog, const char *msg, const char *arg)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
        fprintf(stderr, "%s: error: %s%s\n", prog, msg, arg ? arg : "");
    MPI_Finalize();
    exit(2);
}

/* Parses "--NAME V" / "--NAME=V" at argv[*i]; returns the value or NULL if
 * argv[*i] is not --NAME. */
static inline const char *hb_opt(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != 0 || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static inline long hb_int(const char *prog, const char *v)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < 0)
        hb_die(prog, "expected a non-negative integer, got ", v);
    return x;
}

/* Handles --iters and --warmup; returns 1 if argv[*i] was one of them. */
static inline int hb_common_opt(const char *prog, int argc, char **argv, int *i, hb_opts *o)
{
    const char *v;
    if ((v = hb_opt(argc, argv, i, "--iters"))) {
        o->iters = (int)hb_int(prog, v);
        return 1;
    }
    if ((v = hb_opt(argc, argv, i, "--warmup"))) {
        o->warmup = (int)hb_int(prog, v);
        return 1;
    }
    return 0;
}

static inline float *hb_alloc(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(p, 0, bytes);
    return p;
}

/* The box [off, off+len) of a rank-2 global tensor rows x cols filled by an
 * initialiser (kind, seed, a, b as in rt_core.h). */
static inline float *hb_init2(rt_init_kind kind, uint64_t seed, double a, double b, int64_t rows,
                       int64_t cols, int64_t r0, int64_t nr, int64_t c0, int64_t nc)
{
    rt_init in = {kind, seed, a, b, NULL};
    int64_t g[2] = {rows, cols}, off[2] = {r0, c0}, len[2] = {nr, nc};
    float *p = hb_alloc((size_t)(nr * nc));
    rt_init_fill(&in, RT_F32, 2, g, off, len, p);
    return p;
}

/* randn(seed, std) over the box; the helpers below are the usual cases. */
static inline float *hb_randn2(uint64_t seed, double std, int64_t rows, int64_t cols, int64_t r0,
                        int64_t nr, int64_t c0, int64_t nc)
{
    return hb_init2(RT_INIT_RANDN, seed, std, 0.0, rows, cols, r0, nr, c0, nc);
}

/* A rank-1 tensor's piece [off, off+len) of n elements. */
static inline float *hb_init1(rt_init_kind kind, uint64_t seed, double a, double b, int64_t n,
                       int64_t off, int64_t len)
{
    return hb_init2(kind, seed, a, b, 1, n, 0, 1, off, len);
}

/* Runs work(arg) W + K times as compiled programs do; returns the median of
 * the K timed iterations in seconds (every rank gets the same value only by
 * coincidence: rank 0's is printed). */
static inline double hb_time(void (*work)(void *), void *arg, const hb_opts *o)
{
    int iters = o->iters ? o->iters : 1, warmup = o->iters ? o->warmup : 0;
    double *t = malloc(sizeof *t * (size_t)iters);
    for (int it = 0; it < warmup + iters; it++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        work(arg);
        MPI_Barrier(MPI_COMM_WORLD);
        if (it >= warmup)
            t[it - warmup] = MPI_Wtime() - t0;
    }
    /* insertion sort: K is small */
    for (int i = 1; i < iters; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double s = t[j];
            t[j] = t[j - 1];
            t[j - 1] = s;
        }
    double med = iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
    free(t);
    return med;
}

/* Rank 0's output lines, in the format of compiled programs. */
static inline void hb_report(const char *name, int rank, const int64_t *dims, const float *data,
                      const hb_opts *o, double median)
{
    int64_t n = 1;
    printf("%s: f32[", name);
    for (int d = 0; d < rank; d++) {
        printf("%s%lld", d ? ", " : "", (long long)dims[d]);
        n *= dims[d];
    }
    double s, l2;
    rt_checksum(RT_F32, n, data, &s, &l2);
    printf("] sum=%.6e l2=%.6e\n", s, l2);
    if (o->iters)
        printf("time: median %.3f ms/iter over %d iter%s\n", median * 1e3, o->iters,
               o->iters == 1 ? "" : "s");
    fflush(stdout);
}

/* Vector expf: glibc's libmvec has it (x86_64 vector function ABI), but
 * math.h declares it only under -ffast-math; declaring it here lets
 * `#pragma omp simd` loops (-fopenmp-simd) call the 8-wide AVX2 variant
 * without fast-math's other effects.  Link with -lmvec; define HB_NO_MVEC
 * where there is none (the loops then call scalar expf). */
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(HB_NO_MVEC) && !defined(__FAST_MATH__)
__attribute__((simd("notinbranch"))) float expf(float);
#endif

/* x = gelu(x + bias) over a rows x cols matrix, in place; bias (one per
 * column) may be NULL.  gelu is the spec's tanh approximation, computed as
 *   0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)),  u = sqrt(2/pi) (v + 0.044715 v^3)
 * (the same function), since libmvec has a vector expf but glibc's scalar
 * tanhf costs several times expf. */
static inline void hb_bias_gelu(float *x, int64_t rows, int64_t cols, const float *bias)
{
    const float c2 = -2.0f * 0.79788456080286535588f; /* -2 sqrt(2/pi) */
    for (int64_t r = 0; r < rows; r++) {
        float *restrict row = x + r * cols;
        if (bias) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                float v = row[j] + bias[j];
                row[j] = v / (1.0f + expf(c2 * (v + 0.044715f * v * v * v)));
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                float v = row[j];
                row[j] = v / (1.0f + expf(c2 * (v + 0.044715f * v * v * v)));
            }
        }
    }
}

#endif
