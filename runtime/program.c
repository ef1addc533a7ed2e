/* program.c - rt_main: the life of a compiled program (spec sections 8, 9).
 *
 *   parse options -> choose the backend (--ranks: threads; mpirun: MPI)
 *   -> check everything before computing (options, world size, inputs,
 *   output paths: one message from one rank, the same non-zero exit on all)
 *   -> inputs (rank 0 reads each .npy and scatters the pieces; initialisers
 *   fill each rank's own box) -> run (K + W times under --iters; N steps
 *   under --steps) -> outputs (rank 0 gathers the shards, assembles each
 *   global tensor, writes --out files, prints checksums, timing and the
 *   profile).
 *
 * Steps: after each step every result that `feeds` a parameter swaps its
 * local buffer with the parameter's (sema gave them one placement, so no
 * data moves), then the per-step inputs of the next step are made in place:
 * per_step initialisers from seed rt_step_seed(seed, step), and a stacked
 * --in (one more leading dim: S values) from value step mod S, each rank
 * reading its own box of the file.  Rank 0 prints a progress line with the
 * scalar results that feed nothing every --log-every steps.
 *
 * The same rank_main runs on every rank under either backend; the checks
 * that need no data happen before any rank starts, the rest on rank 0
 * followed by an agreement (all_reduce of an ok flag) so that all ranks
 * stop together.
 */
#include "runtime/rt_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct rt_job {
    const rt_program *prog;
    const rt_opts *opts;
    const char *progname;
} rt_job;

static void print_error(const char *progname, const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "%s: error: %s\n", progname, msg);
    fflush(stderr);
}

static char *mesh_str(const rt_mesh *m, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s[", m->name ? m->name : "mesh");
    for (int a = 0; a < m->naxes && k < n; a++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s=%d", a ? ", " : "",
                              m->axis_name[a] ? m->axis_name[a] : "?", m->size[a]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

static char *shape_str(int rank, const int64_t *dims, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)dims[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---- placement bookkeeping ------------------------------------------------------- */

static size_t box_bytes(const rt_mesh *m, const rt_tensor_desc *d, const int *c, int64_t *off,
                        int64_t *len)
{
    rt_local_box(m, d->pl, c, d->rank, d->dims, off, len);
    return (size_t)rt_numel(d->rank, len) * (size_t)rt_dtype_size(d->dtype);
}

static void check(rt_ctx *ctx, int rc)
{
    if (rc != 0)
        rt_unwind(ctx);
}

/* Every rank learns whether every rank is ok. */
static bool agree(rt_ctx *ctx, bool ok)
{
    int32_t v = ok;
    check(ctx, ctx->be->all_reduce(ctx, rt_all_axes(ctx->mesh), RT_I32, &v, 1, RT_RED_MIN));
    return v != 0;
}

/* ---- inputs ------------------------------------------------------------------------- */

static const char *in_path(const rt_job *job, int i)
{
    const rt_tensor_desc *d = &job->prog->params[i];
    if (job->opts->in_path[i])
        return job->opts->in_path[i];
    return d->init.kind == RT_INIT_LOAD ? d->init.path : NULL;
}

/* Does a result feed parameter i? */
static bool fed_param(const rt_program *p, int i)
{
    for (int j = 0; j < p->nresults; j++)
        if (p->results[j].feeds == i)
            return true;
    return false;
}

/* Is file h a stack of values of d: one more leading dim (S >= 1)? */
static bool is_stack(const rt_tensor_desc *d, const rt_npy *h)
{
    if (h->dtype != d->dtype || h->rank != d->rank + 1 || h->dims[0] < 1)
        return false;
    for (int k = 0; k < d->rank; k++)
        if (h->dims[k + 1] != d->dims[k])
            return false;
    return true;
}

/* Rank 0: reads and checks every parameter that comes from a file into
 * globals[i] (a stack stays in its file).  0, or -1 with the message in
 * msg. */
static int load_inputs(rt_ctx *ctx, const rt_job *job, void **globals, char *msg, size_t n)
{
    const rt_program *prog = job->prog;
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        const char *path = in_path(job, i);
        if (!path)
            continue;
        char label[256], err[256], a[128], b[128];
        if (job->opts->in_path[i])
            snprintf(label, sizeof label, "--in %s", d->name);
        else
            snprintf(label, sizeof label, "parameter %s = load(\"%s\")", d->name, path);
        rt_npy t;
        int64_t data_off;
        if (rt_npy_read_header(path, &t, &data_off, err, sizeof err) != 0) {
            snprintf(msg, n, "%s: %s", label, err);
            return -1;
        }
        if (job->opts->in_path[i] && is_stack(d, &t)) {
            if (fed_param(prog, i)) {
                snprintf(msg, n, "%s: %s is a stack of %lld values, but a result feeds %s: only "
                         "data that no result feeds comes one value per step", label, path,
                         (long long)t.dims[0], d->name);
                return -1;
            }
            continue; /* each rank reads its own box, step by step (fill_step) */
        }
        if (rt_npy_read(path, &t, err, sizeof err) != 0) {
            snprintf(msg, n, "%s: %s", label, err);
            return -1;
        }
        bool same = t.rank == d->rank;
        for (int k = 0; same && k < d->rank; k++)
            same = t.dims[k] == d->dims[k];
        if (t.dtype != d->dtype)
            snprintf(msg, n, "%s: %s has dtype %s, expected %s", label, path,
                     rt_dtype_name(t.dtype), rt_dtype_name(d->dtype));
        else if (!same)
            snprintf(msg, n, "%s: %s has shape %s, expected %s", label, path,
                     shape_str(t.rank, t.dims, a, sizeof a), shape_str(d->rank, d->dims, b, sizeof b));
        if (t.dtype != d->dtype || !same) {
            rt_npy_free(&t);
            return -1;
        }
        size_t bytes = (size_t)rt_numel(d->rank, d->dims) * (size_t)rt_dtype_size(d->dtype);
        globals[i] = rt_alloc(ctx, bytes);
        if (bytes)
            memcpy(globals[i], t.data, bytes);
        rt_npy_free(&t);
    }
    return 0;
}

/* Where a file will be: its directory's device and inode and its base
 * name.  false if the directory cannot be examined. */
typedef struct file_id {
    dev_t dev;
    ino_t ino;
    const char *base;
} file_id;

static bool dir_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, n, ".");
    else
        snprintf(dir, n, "%.*s", (int)(slash == path ? 1 : slash - path), path);
    return true;
}

static bool file_id_of(const char *path, file_id *id)
{
    char dir[4096];
    struct stat st;
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &st) != 0)
        return false;
    const char *slash = strrchr(path, '/');
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->base = slash ? slash + 1 : path;
    return true;
}

/* Rank 0: path can be written (what is "--out y" or "--trace"). */
static int check_writable(const char *what, const char *path, char *msg, size_t n)
{
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    if (access(dir, W_OK) != 0) {
        snprintf(msg, n, "%s: cannot write %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(msg, n, "%s: cannot write %s: it is a directory", what, path);
        return -1;
    }
    return 0;
}

/* Rank 0: every --out file (and --trace) can be created, and no two name
 * the same file. */
static int check_outputs(const rt_job *job, char *msg, size_t n)
{
    const rt_program *prog = job->prog;
    int k = prog->nresults;
    for (int i = 0; i < k; i++) {
        const char *path = job->opts->out_path[i];
        char what[256];
        snprintf(what, sizeof what, "--out %s", prog->results[i].name);
        if (path && check_writable(what, path, msg, n) != 0)
            return -1;
    }
    if (job->opts->trace && check_writable("--trace", job->opts->trace, msg, n) != 0)
        return -1;
    /* slot k: the trace */
    for (int i = 0; i <= k; i++) {
        const char *pi = i < k ? job->opts->out_path[i] : job->opts->trace;
        file_id a, b;
        if (!pi || !file_id_of(pi, &a))
            continue;
        for (int j = 0; j < i; j++) {
            const char *pj = job->opts->out_path[j];
            if (!pj || !file_id_of(pj, &b) || a.dev != b.dev || a.ino != b.ino ||
                strcmp(a.base, b.base))
                continue;
            if (i < k)
                snprintf(msg, n, "--out %s=%s and --out %s=%s are the same file: one would be lost",
                         prog->results[j].name, pj, prog->results[i].name, pi);
            else
                snprintf(msg, n, "--out %s=%s and --trace %s are the same file", prog->results[j].name,
                         pj, pi);
            return -1;
        }
    }
    return 0;
}

/* Rank 0 sends every rank its box of the global tensor (NULL elsewhere). */
static void scatter_input(rt_ctx *ctx, const rt_tensor_desc *d, const void *global, void *local)
{
    const rt_mesh *m = ctx->mesh;
    size_t es = (size_t)rt_dtype_size(d->dtype);
    int64_t off[RT_MAX_RANK], len[RT_MAX_RANK], zero[RT_MAX_RANK] = {0};
    size_t mine = rt_holds_input(m, d->pl, ctx->coords) ? box_bytes(m, d, ctx->coords, off, len) : 0;
    size_t *counts = NULL, *displs = NULL;
    char *pack = NULL;
    if (ctx->rank == 0) {
        counts = rt_alloc(ctx, sizeof(size_t) * 2 * (size_t)ctx->nranks);
        displs = counts + ctx->nranks;
        size_t total = 0;
        for (int r = 0; r < ctx->nranks; r++) {
            int c[RT_MAX_AXES];
            rt_mesh_coords(m, r, c);
            counts[r] = rt_holds_input(m, d->pl, c) ? box_bytes(m, d, c, off, len) : 0;
            displs[r] = total;
            total += counts[r];
        }
        pack = rt_alloc(ctx, total);
        for (int r = 0; r < ctx->nranks; r++) {
            int c[RT_MAX_AXES];
            rt_mesh_coords(m, r, c);
            if (!counts[r])
                continue;
            box_bytes(m, d, c, off, len);
            rt_copy_box(es, d->rank, len, pack + displs[r], len, zero, global, d->dims, off);
        }
    }
    check(ctx, ctx->be->scatter(ctx, rt_all_axes(m), pack, counts, displs, local, mine));
    rt_free(ctx, pack);
    rt_free(ctx, counts);
}

/* ---- outputs ------------------------------------------------------------------------ */

/* Gathers result d's shards on rank 0 and returns the global tensor there
 * (NULL elsewhere). */
static void *assemble_output(rt_ctx *ctx, const rt_tensor_desc *d, const void *local)
{
    const rt_mesh *m = ctx->mesh;
    size_t es = (size_t)rt_dtype_size(d->dtype);
    int n = ctx->nranks;
    int64_t off[RT_MAX_RANK], len[RT_MAX_RANK], zero[RT_MAX_RANK] = {0};
    size_t mine = rt_needed_output(m, d->pl, ctx->coords) ? box_bytes(m, d, ctx->coords, off, len) : 0;
    size_t *counts = NULL, *displs = NULL;
    char *pieces = NULL;
    if (ctx->rank == 0) {
        counts = rt_alloc(ctx, sizeof(size_t) * 2 * (size_t)n);
        displs = counts + n;
        size_t total = 0;
        for (int r = 0; r < n; r++) {
            int c[RT_MAX_AXES];
            rt_mesh_coords(m, r, c);
            counts[r] = rt_needed_output(m, d->pl, c) ? box_bytes(m, d, c, off, len) : 0;
            displs[r] = total;
            total += counts[r];
        }
        pieces = rt_alloc(ctx, total);
    }
    check(ctx, ctx->be->gather(ctx, rt_all_axes(m), local, mine, pieces, counts, displs));
    if (ctx->rank != 0)
        return NULL;

    /* Reduce the partials axis by axis, the last axis first: ranks that
     * differ only in a P axis hold equally shaped pieces, folded into the
     * one at coordinate 0 in coordinate order. */
    for (int a = m->naxes - 1; a >= 0; a--) {
        if (d->pl[a].kind != RT_PL_P)
            continue;
        if (!rt_dtype_reducible(d->dtype))
            rt_fail(ctx, "result %s: partial %s values cannot be reduced", d->name,
                    rt_dtype_name(d->dtype));
        for (int r = 0; r < n; r++) {
            int c[RT_MAX_AXES];
            rt_mesh_coords(m, r, c);
            bool base = rt_needed_output(m, d->pl, c) && c[a] == 0;
            for (int b = a + 1; b < m->naxes; b++)
                if (d->pl[b].kind == RT_PL_P && c[b] != 0)
                    base = false;
            if (!base)
                continue;
            int64_t cnt = (int64_t)(counts[r] / es);
            for (int k = 1; k < m->size[a]; k++) {
                c[a] = k;
                rt_combine(d->dtype, d->pl[a].red, pieces + displs[r],
                           pieces + displs[rt_mesh_rank(m, c)], cnt);
            }
            if (d->pl[a].red == RT_RED_AVG)
                rt_divide(d->dtype, pieces + displs[r], cnt, m->size[a]);
        }
    }
    char *global = rt_alloc(ctx, (size_t)rt_numel(d->rank, d->dims) * es);
    for (int r = 0; r < n; r++) {
        int c[RT_MAX_AXES];
        rt_mesh_coords(m, r, c);
        bool place = rt_needed_output(m, d->pl, c);
        for (int a = 0; a < m->naxes; a++)
            if (d->pl[a].kind == RT_PL_P && c[a] != 0)
                place = false;
        if (!place)
            continue;
        box_bytes(m, d, c, off, len);
        rt_copy_box(es, d->rank, len, global, d->dims, off, pieces + displs[r], len, zero);
    }
    rt_free(ctx, pieces);
    rt_free(ctx, counts);
    return global;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- steps ---------------------------------------------------------------------------- */

/* A stacked --in on this rank: the file's header and where its data starts
 * (count 0: not stacked). */
typedef struct stack_file {
    int64_t count;
    int64_t data_off;
    rt_npy hdr;
} stack_file;

/* Every rank finds the stacked --in files itself (rank 0 checked them). */
static stack_file *find_stacks(rt_ctx *ctx, const rt_job *job)
{
    const rt_program *prog = job->prog;
    stack_file *st = rt_alloc(ctx, sizeof *st * ((size_t)prog->nparams + 1));
    char err[512];
    for (int i = 0; i < prog->nparams; i++) {
        const char *path = job->opts->in_path[i];
        rt_npy h;
        if (!path)
            continue;
        if (rt_npy_read_header(path, &h, &st[i].data_off, err, sizeof err) != 0)
            rt_fail(ctx, "--in %s: %s", prog->params[i].name, err);
        if (is_stack(&prog->params[i], &h)) {
            st[i].count = h.dims[0];
            st[i].hdr = h;
        }
    }
    return st;
}

static bool per_step_init(const rt_tensor_desc *d)
{
    return d->init.per_step && (d->init.kind == RT_INIT_RANDN || d->init.kind == RT_INIT_RAND);
}

/* The inputs of step `step` that change from step to step, made in place on
 * this rank: per_step initialisers (not given with --in) and stacked --in
 * files.  Everything else stays. */
static void fill_step(rt_ctx *ctx, const rt_job *job, const stack_file *st, void *const *params,
                      int64_t step)
{
    const rt_program *prog = job->prog;
    const rt_mesh *m = ctx->mesh;
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        bool stacked = st[i].count > 0, fresh = !job->opts->in_path[i] && per_step_init(d);
        if (!stacked && !fresh)
            continue;
        int64_t off[RT_MAX_RANK + 1], len[RT_MAX_RANK + 1];
        box_bytes(m, d, ctx->coords, off + 1, len + 1);
        if (!rt_holds_input(m, d->pl, ctx->coords) || rt_numel(d->rank, len + 1) == 0)
            continue;
        if (fresh) {
            rt_init in = d->init;
            in.seed = rt_step_seed(d->init.seed, step);
            rt_init_fill(&in, d->dtype, d->rank, d->dims, off + 1, len + 1, params[i]);
            continue;
        }
        char err[512];
        off[0] = step % st[i].count;
        len[0] = 1;
        if (rt_npy_read_box(job->opts->in_path[i], &st[i].hdr, st[i].data_off, off, len, params[i], err,
                            sizeof err) != 0)
            rt_fail(ctx, "--in %s: %s", d->name, err);
    }
}

/* Rank 0 (all ranks take part in assembling): "step 20/200  loss 0.4213
 * (153.2 steps/s)" with every scalar result that feeds nothing. */
static void log_step(rt_ctx *ctx, const rt_job *job, void *const *results, int64_t step,
                     int64_t last, double rate)
{
    const rt_program *prog = job->prog;
    const char **names = rt_alloc(ctx, sizeof *names * ((size_t)prog->nresults + 1));
    double *vals = rt_alloc(ctx, sizeof *vals * ((size_t)prog->nresults + 1));
    int k = 0;
    for (int j = 0; j < prog->nresults; j++) {
        const rt_tensor_desc *d = &prog->results[j];
        if (d->rank != 0 || d->feeds >= 0)
            continue;
        void *g = assemble_output(ctx, d, results[j]);
        if (g) {
            names[k] = d->name;
            vals[k++] = rt_load_double(d->dtype, g, 0);
        }
        rt_free(ctx, g);
    }
    if (ctx->rank == 0) {
        char line[1024];
        rt_format_step(line, sizeof line, step, last, k, names, vals, rate);
        printf("%s\n", line);
        fflush(stdout);
    }
    rt_free(ctx, names);
    rt_free(ctx, vals);
}

/* ---- one rank's life ---------------------------------------------------------------- */

static int rank_main(rt_ctx *ctx, void *arg)
{
    const rt_job *job = arg;
    const rt_program *prog = job->prog;
    const rt_opts *o = job->opts;
    const rt_mesh *m = ctx->mesh;
    unsigned world = rt_all_axes(m);
    bool r0 = ctx->rank == 0;
    char msg[RT_MSG];

    /* 1. rank 0 checks every file it is handed, then all agree */
    void **globals = rt_alloc(ctx, sizeof(void *) * ((size_t)prog->nparams + 1));
    bool ok = true;
    if (r0) {
        ok = load_inputs(ctx, job, globals, msg, sizeof msg) == 0 &&
             check_outputs(job, msg, sizeof msg) == 0;
        if (!ok)
            print_error(job->progname, msg);
    }
    if (!agree(ctx, ok))
        return 1;

    /* The run's first step (0-based, global): 0, or the checkpoint's step
     * after --load (which restores the parameters after step 2 below and
     * before fill_step makes the first step's inputs). */
    int64_t first_step = 0;
    int nsteps = o->steps ? o->steps : 1;
    stack_file *stacks = find_stacks(ctx, job);

    /* 2. this rank's parameters and results */
    void **params = rt_alloc(ctx, sizeof(void *) * ((size_t)prog->nparams + 1));
    void **results = rt_alloc(ctx, sizeof(void *) * ((size_t)prog->nresults + 1));
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        int64_t off[RT_MAX_RANK], len[RT_MAX_RANK];
        params[i] = rt_alloc(ctx, box_bytes(m, d, ctx->coords, off, len));
        if (stacks[i].count > 0 || (!o->in_path[i] && per_step_init(d)))
            ; /* fill_step makes them, step by step */
        else if (in_path(job, i))
            scatter_input(ctx, d, globals[i], params[i]);
        else if (rt_holds_input(m, d->pl, ctx->coords) && rt_numel(d->rank, len) > 0)
            rt_init_fill(&d->init, d->dtype, d->rank, d->dims, off, len, params[i]);
        rt_free(ctx, globals[i]);
    }
    for (int i = 0; i < prog->nresults; i++) {
        int64_t off[RT_MAX_RANK], len[RT_MAX_RANK];
        results[i] = rt_alloc(ctx, box_bytes(m, &prog->results[i], ctx->coords, off, len));
    }
    if (prog->workspace_bytes)
        ctx->workspace = rt_alloc(ctx, prog->workspace_bytes);
    if (o->profile || o->trace)
        ctx->prof = rt_prof_new(ctx, o->profile, o->trace != NULL);
    if (rt_ckpt_load(ctx, prog, o, params, &first_step, job->progname) != 0)
        return 1;

    /* 3. run: W untimed then K timed iterations of one step (--iters), or
     * the steps one after the other (once without either) */
    int iters = o->iters ? o->iters : nsteps, warmup = o->iters ? o->warmup : 0;
    int log_every = o->log_every ? o->log_every : nsteps / 10 > 0 ? nsteps / 10 : 1;
    bool stepping = !o->iters && o->steps > 0;
    int64_t last_step = first_step + nsteps;
    double *times = rt_alloc(ctx, sizeof(double) * (size_t)(o->iters ? iters : 1)); /* --iters only */
    double t_log = rt_now();
    int64_t step_log = first_step;
    fill_step(ctx, job, stacks, params, first_step);
    for (int it = 0; it < warmup + iters; it++) {
        int64_t step = first_step + (stepping ? it : 0);
        if (stepping && it > 0) {
            /* each fed result becomes its parameter: swap the local buffers */
            for (int j = 0; j < prog->nresults; j++) {
                int p = prog->results[j].feeds;
                if (p < 0)
                    continue;
                void *t = params[p];
                params[p] = results[j];
                results[j] = t;
            }
            fill_step(ctx, job, stacks, params, step);
            ctx->params_version++;
        }
        if (ctx->prof && it == warmup)
            rt_prof_reset(ctx->prof);
        check(ctx, ctx->be->barrier(ctx, world));
        if (ctx->prof && it == 0) { /* the trace's zero, then line up again */
            check(ctx, rt_prof_origin(ctx));
            check(ctx, ctx->be->barrier(ctx, world));
        }
        double t0 = rt_now();
        if (ctx->prof)
            rt_prof_iteration_begin(ctx->prof);
        int st = prog->run(ctx, params, results);
        if (st != 0)
            rt_fail(ctx, "the program failed (status %d)", st);
        if (ctx->prof)
            rt_prof_iteration_end(ctx->prof, it, it < warmup);
        check(ctx, ctx->be->barrier(ctx, world));
        if (o->iters && it >= warmup)
            times[it - warmup] = rt_now() - t0;
        if (stepping && (step == first_step || (step + 1 - first_step) % log_every == 0 ||
                         step + 1 == last_step)) {
            double now = rt_now();
            log_step(ctx, job, results, step + 1, last_step,
                     (double)(step + 1 - step_log) / (now - t_log > 0 ? now - t_log : 1e-9));
            t_log = rt_now();
            step_log = step + 1;
        }
    }
    /* A fed parameter holds its latest value after the run (the results keep
     * theirs for the output), and --save writes the parameters at step
     * last_step.  --iters repeats one step from the same parameters: nothing
     * is fed, and a save records the state before it (first_step). */
    for (int j = 0; !o->iters && j < prog->nresults; j++) {
        const rt_tensor_desc *d = &prog->results[j];
        int64_t off[RT_MAX_RANK], len[RT_MAX_RANK];
        size_t bytes = box_bytes(m, d, ctx->coords, off, len);
        if (d->feeds >= 0 && bytes)
            memcpy(params[d->feeds], results[j], bytes);
    }

    if (rt_ckpt_save(ctx, prog, o, params, o->iters ? first_step : last_step, job->progname) != 0)
        return 1;

    /* 4. outputs: assemble on rank 0, write, checksum */
    double *sum = rt_alloc(ctx, sizeof(double) * 2 * ((size_t)prog->nresults + 1));
    double *l2 = sum + prog->nresults + 1;
    ok = true;
    for (int i = 0; i < prog->nresults; i++) {
        const rt_tensor_desc *d = &prog->results[i];
        void *g = assemble_output(ctx, d, results[i]);
        if (!r0)
            continue;
        int64_t numel = rt_numel(d->rank, d->dims);
        double s = 0, q = 0;
        for (int64_t k = 0; k < numel; k++) {
            double v = rt_load_double(d->dtype, g, k);
            s += v;
            q += v * v;
        }
        sum[i] = s;
        l2[i] = sqrt(q);
        char err[256];
        const char *path = o->out_path[i];
        if (ok && path && rt_npy_write(path, d->dtype, d->rank, d->dims, g, err, sizeof err) != 0) {
            snprintf(msg, sizeof msg, "--out %s: %s", d->name, err);
            print_error(job->progname, msg);
            ok = false;
        }
        rt_free(ctx, g);
    }
    if (!agree(ctx, ok))
        return 1;
    if (o->trace) {
        ok = rt_prof_write_trace(ctx, ctx->prof, o->trace, job->progname, msg, sizeof msg) == 0;
        if (!ok)
            print_error(job->progname, msg);
        if (!agree(ctx, ok))
            return 1;
    }
    if (r0) {
        char t[256];
        for (int i = 0; i < prog->nresults; i++) {
            const rt_tensor_desc *d = &prog->results[i];
            printf("%s: %s sum=%.6e l2=%.6e\n", d->name, rt_type_str(d->dtype, d->rank, d->dims, t, sizeof t),
                   sum[i], l2[i]);
        }
        if (o->iters) {
            qsort(times, (size_t)iters, sizeof *times, cmp_double);
            double med = iters % 2 ? times[iters / 2] : (times[iters / 2 - 1] + times[iters / 2]) / 2;
            printf("time: median %.3f ms/iter over %d iter%s\n", med * 1e3, iters,
                   iters == 1 ? "" : "s");
        }
        if (ctx->prof)
            rt_prof_print(stdout, ctx->prof, iters);
        fflush(stdout);
    }
    return 0;
}

/* ---- start-up ------------------------------------------------------------------------- */

/* The description generated code filled in is sane.  0, or -1 with msg. */
static int check_program(const rt_program *p, char *msg, size_t n)
{
    const rt_mesh *m = &p->mesh;
    if (m->naxes < 0 || m->naxes > RT_MAX_AXES)
        return snprintf(msg, n, "invalid program: mesh with %d axes", m->naxes), -1;
    for (int a = 0; a < m->naxes; a++)
        if (m->size[a] <= 0)
            return snprintf(msg, n, "invalid program: mesh axis %d has size %d", a, m->size[a]), -1;
    if (!p->run || p->nparams < 0 || p->nresults < 0)
        return snprintf(msg, n, "invalid program: no run function"), -1;
    for (int k = 0; k < p->nparams + p->nresults; k++) {
        const rt_tensor_desc *d = k < p->nparams ? &p->params[k] : &p->results[k - p->nparams];
        if (!d->name || d->rank < 0 || d->rank > RT_MAX_RANK || rt_dtype_size(d->dtype) <= 0)
            return snprintf(msg, n, "invalid program: bad tensor #%d", k), -1;
        for (int i = 0; i < d->rank; i++)
            if (d->dims[i] < 0)
                return snprintf(msg, n, "invalid program: %s has a negative size", d->name), -1;
        for (int a = 0; a < m->naxes; a++)
            if ((unsigned)d->pl[a].kind > RT_PL_P ||
                (d->pl[a].kind == RT_PL_S && (d->pl[a].dim < 0 || d->pl[a].dim >= d->rank)) ||
                (d->pl[a].kind == RT_PL_P && (unsigned)d->pl[a].red > RT_RED_AVG))
                return snprintf(msg, n, "invalid program: %s has a bad placement on axis %d",
                                d->name, a), -1;
    }
    /* a fed result swaps buffers with its parameter: the same local boxes */
    for (int j = 0; j < p->nresults; j++) {
        const rt_tensor_desc *r = &p->results[j];
        if (r->feeds < 0)
            continue;
        if (r->feeds >= p->nparams)
            return snprintf(msg, n, "invalid program: %s feeds parameter #%d of %d", r->name, r->feeds,
                            p->nparams), -1;
        const rt_tensor_desc *q = &p->params[r->feeds];
        bool same = r->dtype == q->dtype && r->rank == q->rank;
        for (int i = 0; same && i < r->rank; i++)
            same = r->dims[i] == q->dims[i];
        for (int a = 0; same && a < m->naxes; a++)
            same = m->size[a] == 1 || (r->pl[a].kind == q->pl[a].kind &&
                                       (r->pl[a].kind != RT_PL_S || r->pl[a].dim == q->pl[a].dim) &&
                                       (r->pl[a].kind != RT_PL_P || r->pl[a].red == q->pl[a].red));
        for (int i = 0; same && i < j; i++)
            same = p->results[i].feeds != r->feeds;
        if (!same)
            return snprintf(msg, n, "invalid program: %s feeds parameter #%d of another type or "
                            "placement", r->name, r->feeds), -1;
    }
    return 0;
}

int rt_main(int argc, char **argv, const rt_program *prog)
{
    const char *progname = prog->name && *prog->name ? prog->name : "program";
    if ((!prog->name || !*prog->name) && argc > 0 && argv[0]) {
        const char *s = strrchr(argv[0], '/');
        progname = s ? s + 1 : argv[0];
    }
    char msg[RT_MSG], ms[256];
    rt_opts o;
    /* A bad command line or environment exits 2, as dtc does; everything
     * else that stops the run exits 1. */
    int perr = rt_opts_parse(&o, argc, argv, prog, msg, sizeof msg);
    if (perr == 0)
        perr = rt_timeout_check(msg, sizeof msg);
    int perr_rc = 2;
    if (perr == 0 && check_program(prog, msg, sizeof msg) != 0) {
        perr = -1;
        perr_rc = 1;
    }
    const rt_mesh *mesh = &prog->mesh;

    /* The backend: --ranks -> threads; a launcher (or DT_COMM=mpi) -> MPI;
     * neither -> threads with one rank. */
    const char *comm = getenv("DT_COMM");
    bool mpi = false;
    int wrank = 0, wsize = 1, rc = 1;
    if (comm && *comm && strcmp(comm, "mpi") && strcmp(comm, "threads")) {
        if (!strcmp(comm, "nccl"))
            snprintf(msg, sizeof msg, "DT_COMM=nccl: this runtime was built without NCCL");
        else
            snprintf(msg, sizeof msg, "DT_COMM=%s: expected threads, mpi or nccl", comm);
        rt_mpi_env(&wrank, &wsize);
        if (wrank == 0)
            print_error(progname, msg);
        rt_opts_free(&o);
        return 2;
    }
    if (rt_mpi_launched()) {
        rt_mpi_env(&wrank, &wsize);
        if (o.ranks > 0 && wsize > 1) {
            if (wrank == 0)
                print_error(progname, "--ranks cannot be combined with mpirun -np N: use one or the other");
            rt_opts_free(&o);
            return 2;
        }
        mpi = o.ranks == 0;
    }
    if (mpi)
        rt_mpi_init(&wrank, &wsize);
    bool printer = wrank == 0;

    if (perr) {
        if (printer)
            print_error(progname, msg);
        rc = perr_rc;
        goto out;
    }
    if (o.help) {
        if (printer)
            rt_print_help(stdout, progname, prog);
        fflush(stdout);
        rc = 0;
        goto out;
    }
    int n = rt_mesh_size(mesh), want = mpi ? wsize : o.ranks ? o.ranks : 1;
    mesh_str(mesh, ms, sizeof ms);
    if (want != n) {
        if (mpi)
            snprintf(msg, sizeof msg,
                     "mpirun started %d process%s but mesh %s has %d rank%s: use mpirun -np %d "
                     "(or --ranks %d without mpirun)",
                     wsize, wsize == 1 ? "" : "es", ms, n, n == 1 ? "" : "s", n, n);
        else if (o.ranks)
            snprintf(msg, sizeof msg, "--ranks %d does not match mesh %s: it has %d rank%s", o.ranks,
                     ms, n, n == 1 ? "" : "s");
        else
            snprintf(msg, sizeof msg,
                     "mesh %s has %d ranks: run with --ranks %d or under mpirun -np %d", ms, n, n, n);
        if (printer)
            print_error(progname, msg);
        goto out;
    }
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        if (d->init.kind == RT_INIT_NONE && !o.in_path[i] && !o.load) { /* else: rt_ckpt_load */
            snprintf(msg, sizeof msg, "parameter %s has no initialiser: give it with --in %s=FILE.npy",
                     d->name, d->name);
            if (printer)
                print_error(progname, msg);
            goto out;
        }
    }

    rt_job job = {prog, &o, progname};
    if (mpi) {
        rc = rt_mpi_run(mesh, progname, rank_main, &job) != 0;
    } else {
        int r = rt_run_threads(mesh, rank_main, &job, msg, sizeof msg);
        if (r < 0)
            print_error(progname, msg);
        rc = r != 0;
    }
out:
    rt_opts_free(&o);
    fflush(stdout);
    if (mpi)
        rt_mpi_finalize();
    return rc;
}
