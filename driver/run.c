/* run.c - `dtc run`: the unsharded program through the reference
 * interpreter, with the same input/output options and result lines as a
 * compiled program (spec section 8), so their outputs can be compared.
 * `dtc run --simulate` instead compiles the program through partition and
 * runs every rank's per-rank program in lockstep in the interpreter
 * (interp_run_sharded): a differential check of the sharding passes that
 * needs no code generation.
 *
 * Before computing anything it checks what it was handed: every --in and
 * --out name exists, no parameter is given twice, no two results go to one
 * file (same path string, same file after realpath, or same inode: the
 * second write would silently replace the first), and every file it will
 * read (--in, load("...")) is a regular file (a FIFO with no writer would
 * block forever in open()).
 *
 * `--steps N` runs the entry N times as a compiled program does: after each
 * step every result that `feeds` a parameter is that parameter's value in
 * the next; per_step initialisers draw from seed rt_step_seed(seed, step);
 * an --in file with one more leading dim than its parameter is a stack of
 * values, step s taking value s mod count; the same progress lines
 * (`step S/N  NAME VALUE  (R steps/s)`) for the scalar results that feed
 * nothing; the result lines and --out files are the last step's. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <time.h>

#include "driver/driver.h"
#include "interp/interp.h"
#include "runtime/core/rt_core.h"

/* The name a result is known by: the returned variable, else out<i>. */
static const char *result_name(Arena *ar, const IrFunc *f, int i)
{
    if (f->result_names && f->result_names[i])
        return f->result_names[i];
    return arena_printf(ar, "out%d", i);
}

static void list_names(Arena *ar, char *buf, size_t n, const IrFunc *f, bool params)
{
    size_t k = 0;
    int count = params ? f->nparams : f->nresults;
    buf[0] = 0;
    for (int i = 0; i < count && k < n; i++) {
        const char *name = params ? f->params[i]->name : result_name(ar, f, i);
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", name);
    }
}

/* The same line a compiled program prints (runtime/program.c). */
static void print_result(const char *name, const Tensor *t)
{
    double sum, l2;
    rt_checksum((rt_dtype)t->dtype, interp_numel(t), t->data, &sum, &l2);
    IrType ty = interp_tensor_type(t);
    char tbuf[128];
    printf("%s: %s sum=%.6e l2=%.6e\n", name, ir_type_str(&ty, tbuf, sizeof tbuf), sum, l2);
}

/* ---- steps ------------------------------------------------------------------------ */

/* The result that feeds parameter i, or -1. */
static int fed_by(const IrFunc *f, int i)
{
    for (int j = 0; f->result_feeds && j < f->nresults; j++)
        if (f->result_feeds[j] == i)
            return j;
    return -1;
}

/* Is t a stack of values of type pt: one more leading dim (count >= 1)? */
static bool is_stack(const IrType *pt, const Tensor *t)
{
    if (t->dtype != pt->dtype || t->rank != pt->rank + 1 || t->dims[0] < 1)
        return false;
    for (int d = 0; d < pt->rank; d++)
        if (t->dims[d + 1] != pt->dims[d])
            return false;
    return true;
}

/* Value s mod count of a stack (a view into its data). */
static Tensor stack_value(const Tensor *t, int64_t s)
{
    Tensor v = *t;
    v.rank = t->rank - 1;
    for (int d = 0; d < v.rank; d++)
        v.dims[d] = t->dims[d + 1];
    int64_t n = interp_numel(&v);
    v.data = (char *)t->data + (size_t)((s % t->dims[0]) * n * ir_dtype_size(t->dtype));
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The compiled program's progress line (rt_format_step). */
static void log_step(Arena *ar, const IrFunc *f, const Tensor *results, int step, int nsteps, double rate)
{
    const char **names = arena_alloc(ar, sizeof *names * (size_t)(f->nresults + 1));
    double *vals = arena_alloc(ar, sizeof *vals * (size_t)(f->nresults + 1));
    int k = 0;
    for (int j = 0; j < f->nresults; j++)
        if (results[j].rank == 0 && (!f->result_feeds || f->result_feeds[j] < 0)) {
            names[k] = result_name(ar, f, j);
            vals[k++] = interp_get(&results[j], 0);
        }
    char line[1024];
    rt_format_step(line, sizeof line, step, nsteps, k, names, vals, rate);
    printf("%s\n", line);
    fflush(stdout);
}

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

/* A file about to be read must be a regular file (symlinks followed).  One
 * that does not exist passes: the reader names that error. */
static bool readable_kind(const char *what, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return true;
    fprintf(stderr, "dtc: error: %s: '%s' is %s, not a regular .npy file\n", what, path,
            file_kind(st.st_mode));
    return false;
}

/* Where an output path will land: realpath of the file, else of its
 * directory plus the base name (the file need not exist yet), else the
 * string as given. */
static const char *canonical_path(Arena *ar, const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf))
        return arena_strdup(ar, buf);
    const char *slash = strrchr(path, '/');
    const char *dir = slash ? (slash == path ? "/" : arena_strndup(ar, path, (size_t)(slash - path))) : ".";
    const char *base = slash ? slash + 1 : path;
    if (*base && realpath(dir, buf))
        return arena_printf(ar, "%s%s%s", buf, strcmp(buf, "/") ? "/" : "", base);
    return path;
}

/* No two --out options write one file. */
static bool distinct_outputs(Arena *ar, const DtcOptions *o)
{
    const char **canon = arena_alloc(ar, sizeof *canon * (size_t)(o->nout + 1));
    struct stat *st = arena_alloc(ar, sizeof *st * (size_t)(o->nout + 1));
    bool *exists = arena_alloc(ar, sizeof *exists * (size_t)(o->nout + 1));
    for (int k = 0; k < o->nout; k++) {
        canon[k] = canonical_path(ar, o->out_path[k]);
        exists[k] = stat(o->out_path[k], &st[k]) == 0;
    }
    for (int k = 0; k < o->nout; k++)
        for (int j = 0; j < k; j++) {
            bool same = !strcmp(o->out_path[j], o->out_path[k]) || !strcmp(canon[j], canon[k]) ||
                        (exists[j] && exists[k] && st[j].st_dev == st[k].st_dev &&
                         st[j].st_ino == st[k].st_ino && S_ISREG(st[k].st_mode));
            if (same) {
                fprintf(stderr,
                        "dtc: error: --out %s and --out %s both write '%s': one result would be lost\n",
                        o->out_name[j], o->out_name[k], o->out_path[k]);
                return false;
            }
        }
    return true;
}

int dtc_cmd_run(Arena *ar, const DtcOptions *o, IrModule *m)
{
    const IrFunc *f = m->entry;
    char err[1024], names[512];
    const Tensor **given = arena_alloc(ar, sizeof *given * (size_t)(f->nparams + 1));
    const char **what = arena_alloc(ar, sizeof *what * (size_t)(f->nparams + 1));
    int *out_index = arena_alloc(ar, sizeof *out_index * (size_t)(o->nout + 1));

    /* Check every name before reading any file or computing. */
    for (int k = 0; k < o->nin; k++) {
        int p = -1;
        for (int i = 0; i < f->nparams; i++)
            if (!strcmp(f->params[i]->name, o->in_name[k]))
                p = i;
        if (p < 0) {
            list_names(ar, names, sizeof names, f, true);
            fprintf(stderr, "dtc: error: --in %s: '%s' has no parameter '%s' (parameters: %s)\n",
                    o->in_name[k], f->name, o->in_name[k], names);
            return 1;
        }
        if (given[p]) {
            fprintf(stderr, "dtc: error: --in %s given twice\n", o->in_name[k]);
            return 1;
        }
        given[p] = (const Tensor *)1; /* placeholder until read */
    }
    for (int k = 0; k < o->nout; k++) {
        out_index[k] = -1;
        for (int i = 0; i < f->nresults; i++)
            if (!strcmp(result_name(ar, f, i), o->out_name[k]))
                out_index[k] = i;
        if (out_index[k] < 0) {
            list_names(ar, names, sizeof names, f, false);
            fprintf(stderr, "dtc: error: --out %s: '%s' has no result '%s' (results: %s)\n",
                    o->out_name[k], f->name, o->out_name[k], names);
            return 1;
        }
    }
    if (!distinct_outputs(ar, o))
        return 1;

    /* load("x.npy") is relative to the program's directory. */
    const char *slash = strrchr(o->file, '/');
    const char *base = slash ? arena_strndup(ar, o->file, (size_t)(slash - o->file)) : ".";
    for (int k = 0; k < o->nin; k++)
        if (!readable_kind(arena_printf(ar, "--in %s", o->in_name[k]), o->in_path[k]))
            return 1;
    for (int i = 0; f->inits && i < f->nparams; i++) {
        const IrInit *init = &f->inits[i];
        if (given[i] || init->kind != INIT_LOAD || !init->path)
            continue;
        const char *path = init->path[0] == '/' ? init->path : arena_printf(ar, "%s/%s", base, init->path);
        if (!readable_kind(arena_printf(ar, "%s = load(\"%s\")", f->params[i]->name, init->path), path))
            return 1;
    }

    const Tensor **stack = arena_alloc(ar, sizeof *stack * (size_t)(f->nparams + 1));
    for (int k = 0; k < o->nin; k++) {
        for (int i = 0; i < f->nparams; i++) {
            if (strcmp(f->params[i]->name, o->in_name[k]))
                continue;
            Tensor *t = arena_alloc(ar, sizeof *t);
            if (interp_read_npy(ar, o->in_path[k], t, err, sizeof err) != 0) {
                fprintf(stderr, "dtc: error: --in %s: %s\n", o->in_name[k], err);
                return 1;
            }
            given[i] = t;
            what[i] = arena_printf(ar, "--in %s", o->in_name[k]);
            if (is_stack(&f->params[i]->type, t)) {
                if (fed_by(f, i) >= 0) {
                    fprintf(stderr, "dtc: error: --in %s: %s is a stack of %lld values, but a result feeds "
                            "%s: only data that no result feeds comes one value per step\n", o->in_name[k],
                            o->in_path[k], (long long)t->dims[0], o->in_name[k]);
                    return 1;
                }
                stack[i] = t;
            }
        }
    }

    /* The steps: results of one step live in their own arena until the
     * next step has read its fed parameters from them. */
    int nsteps = o->steps ? o->steps : 1;
    int log_every = o->log_every ? o->log_every : nsteps / 10 > 0 ? nsteps / 10 : 1;
    Tensor *views = arena_alloc(ar, sizeof *views * (size_t)(f->nparams + 1));
    Arena *prev = NULL, *cur = NULL;
    Tensor *results = NULL;
    double t_log = now_s();
    int step_log = 0;
    for (int s = 0; s < nsteps; s++) {
        for (int i = 0; i < f->nparams; i++) {
            int j = fed_by(f, i);
            if (stack[i]) {
                views[i] = stack_value(stack[i], s);
                given[i] = &views[i];
            } else if (s > 0 && j >= 0) {
                given[i] = &results[j];
                what[i] = arena_printf(ar, "the result that feeds %s", f->params[i]->name);
            }
        }
        cur = arena_new();
        InterpInputs in = {.given = given, .given_what = what, .base_dir = base, .step = s};
        int rc = o->simulate ? interp_run_sharded(cur, m, f, &in, &results, err, sizeof err)
                             : interp_run(cur, m, f, &in, &results, err, sizeof err);
        if (prev)
            arena_free(prev);
        prev = cur;
        if (rc != 0) {
            arena_free(cur);
            fprintf(stderr, "dtc: error: %s%s\n", err,
                    nsteps > 1 ? arena_printf(ar, " (at step %d)", s + 1) : "");
            return 1;
        }
        if (o->steps && (s == 0 || (s + 1) % log_every == 0 || s + 1 == nsteps)) {
            double t = now_s();
            log_step(ar, f, results, s + 1, nsteps, (s + 1 - step_log) / (t - t_log > 0 ? t - t_log : 1e-9));
            t_log = now_s();
            step_log = s + 1;
        }
    }
    for (int k = 0; k < o->nout; k++) {
        if (interp_write_npy(o->out_path[k], &results[out_index[k]], err, sizeof err) != 0) {
            fprintf(stderr, "dtc: error: --out %s: %s\n", o->out_name[k], err);
            arena_free(cur);
            return 1;
        }
    }
    for (int i = 0; i < f->nresults; i++)
        print_result(result_name(ar, f, i), &results[i]);
    arena_free(cur);
    return 0;
}
