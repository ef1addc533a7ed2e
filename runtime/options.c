/* options.c - the compiled program's command line (spec section 8):
 * parsing and checking against the program's parameters and results, and
 * --help.  Pure: no I/O besides printing help. */
#include "runtime/rt_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

char *rt_type_str(rt_dtype dt, int rank, const int64_t *dims, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s[", rt_dtype_name(dt));
    for (int d = 0; d < rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)dims[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

char *rt_pl_str(const rt_mesh *m, const rt_pl *pl, char *buf, size_t n)
{
    static const char *const reds[] = {"sum", "max", "min", "avg"};
    size_t k = (size_t)snprintf(buf, n, "%s[", m->name ? m->name : "mesh");
    for (int a = 0; a < m->naxes && k < n; a++) {
        const char *sep = a ? ", " : "";
        if (pl[a].kind == RT_PL_S)
            k += (size_t)snprintf(buf + k, n - k, "%sS(%d)", sep, pl[a].dim);
        else if (pl[a].kind == RT_PL_P)
            k += (size_t)snprintf(buf + k, n - k, "%sP(%s)", sep,
                                  (unsigned)pl[a].red <= RT_RED_AVG ? reds[pl[a].red] : "?");
        else
            k += (size_t)snprintf(buf + k, n - k, "%sR", sep);
    }
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

/* "x, w, b" */
static void names(const rt_tensor_desc *d, int n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", d[i].name);
    if (n == 0)
        snprintf(buf, len, "none");
}

static int find(const rt_tensor_desc *d, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(d[i].name) == len && !strncmp(d[i].name, name, len))
            return i;
    return -1;
}

/* --in / --out NAME=FILE into paths[index of NAME in d]. */
static int name_file(const char *opt, const char *v, const rt_tensor_desc *d, int n,
                     const char *what, const char **paths, char *err, size_t errlen)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1])
        return rt_errorf(err, errlen, "%s expects NAME=FILE.npy, got '%s'", opt, v);
    int i = find(d, n, v, (size_t)(eq - v));
    if (i < 0) {
        char all[256];
        names(d, n, all, sizeof all);
        return rt_errorf(err, errlen, "%s %s: unknown %s '%.*s' (%ss: %s)", opt, v, what,
                         (int)(eq - v), v, what, all);
    }
    if (paths[i])
        return rt_errorf(err, errlen, "%s %s given twice", opt, d[i].name);
    paths[i] = eq + 1;
    return 0;
}

static int count(const char *opt, const char *v, int min, int *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < min || x > 1000000000L)
        return rt_errorf(err, errlen, "%s expects %s integer, got '%s'", opt,
                         min > 0 ? "a positive" : "a non-negative", v);
    *out = (int)x;
    return 0;
}

int rt_opts_parse(rt_opts *o, int argc, char **argv, const rt_program *prog, char *err,
                  size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->in_path = calloc((size_t)prog->nparams + 1, sizeof *o->in_path);
    o->out_path = calloc((size_t)prog->nresults + 1, sizeof *o->out_path);
    if (!o->in_path || !o->out_path)
        return rt_errorf(err, errlen, "out of memory");
    bool warmup = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = true;
            continue;
        }
        if (!strcmp(a, "--profile")) {
            o->profile = true;
            continue;
        }
        static const char *const valued[] = {"--in",    "--out",   "--iters", "--warmup",    "--ranks",
                                             "--trace", "--steps", "--log-every", "--save", "--load"};
        enum { NVALUED = sizeof valued / sizeof valued[0] };
        int k = 0;
        size_t len = 0;
        for (; k < NVALUED; k++) {
            len = strlen(valued[k]);
            if (!strncmp(a, valued[k], len) && (a[len] == 0 || a[len] == '='))
                break;
        }
        if (k == NVALUED) {
            if (a[0] == '-')
                return rt_errorf(err, errlen, "unknown option '%s' (see --help)", a);
            return rt_errorf(err, errlen, "unexpected argument '%s' (see --help)", a);
        }
        const char *v;
        if (a[len] == '=') {
            v = a + len + 1;
        } else {
            if (i + 1 >= argc)
                return rt_errorf(err, errlen, "%s needs a value (see --help)", valued[k]);
            v = argv[++i];
        }
        int rc = 0;
        switch (k) {
        case 0:
            rc = name_file("--in", v, prog->params, prog->nparams, "parameter", o->in_path, err,
                           errlen);
            break;
        case 1:
            rc = name_file("--out", v, prog->results, prog->nresults, "result", o->out_path, err,
                           errlen);
            break;
        case 2:
            rc = count("--iters", v, 1, &o->iters, err, errlen);
            break;
        case 3:
            rc = count("--warmup", v, 0, &o->warmup, err, errlen);
            warmup = true;
            break;
        case 4:
            rc = count("--ranks", v, 1, &o->ranks, err, errlen);
            break;
        case 5:
            if (o->trace)
                return rt_errorf(err, errlen, "--trace given twice");
            if (!*v)
                return rt_errorf(err, errlen, "--trace expects FILE.json");
            o->trace = v;
            break;
        case 6:
            rc = count("--steps", v, 1, &o->steps, err, errlen);
            break;
        case 7:
            rc = count("--log-every", v, 1, &o->log_every, err, errlen);
            break;
        case 8:
        case 9: {
            const char **dir = k == 8 ? &o->save : &o->load;
            if (*dir)
                return rt_errorf(err, errlen, "%s given twice", valued[k]);
            if (!*v)
                return rt_errorf(err, errlen, "%s expects a directory", valued[k]);
            *dir = v;
            break;
        }
        }
        if (rc)
            return rc;
    }
    if (warmup && !o->iters && o->warmup)
        return rt_errorf(err, errlen, "--warmup needs --iters");
    /* --iters repeats one step to time it; a run of steps times itself */
    if (o->iters && o->steps > 1)
        return rt_errorf(err, errlen, "--iters times one step and cannot be combined with --steps %d "
                         "(the progress lines give steps/s)", o->steps);
    if (o->log_every && o->steps == 0)
        return rt_errorf(err, errlen, "--log-every needs --steps");
    /* Two files written to one path: one would be lost (rank 0 also
     * compares the files themselves before computing). */
    for (int i = 0; i < prog->nresults; i++)
        for (int j = 0; j < i; j++)
            if (o->out_path[i] && o->out_path[j] && !strcmp(o->out_path[i], o->out_path[j]))
                return rt_errorf(err, errlen, "--out %s and --out %s both write %s: one would be lost",
                                 prog->results[j].name, prog->results[i].name, o->out_path[i]);
    for (int i = 0; o->trace && i < prog->nresults; i++)
        if (o->out_path[i] && !strcmp(o->out_path[i], o->trace))
            return rt_errorf(err, errlen, "--out %s and --trace both write %s", prog->results[i].name,
                             o->trace);
    return 0;
}

void rt_opts_free(rt_opts *o)
{
    free(o->in_path);
    free(o->out_path);
    o->in_path = o->out_path = NULL;
}

static void print_init(FILE *out, const rt_init *in)
{
    switch (in->kind) {
    case RT_INIT_NONE:
        fprintf(out, "  (give it with --in)");
        break;
    case RT_INIT_RANDN:
        fprintf(out, " = randn(seed=%llu, std=%g, mean=%g%s)", (unsigned long long)in->seed, in->a,
                in->b, in->per_step ? ", per_step=true" : "");
        break;
    case RT_INIT_RAND:
        fprintf(out, " = rand(seed=%llu, lo=%g, hi=%g%s)", (unsigned long long)in->seed, in->a,
                in->b, in->per_step ? ", per_step=true" : "");
        break;
    case RT_INIT_ZEROS:
        fprintf(out, " = zeros()");
        break;
    case RT_INIT_ONES:
        fprintf(out, " = ones()");
        break;
    case RT_INIT_FULL:
        fprintf(out, " = full(%g)", in->a);
        break;
    case RT_INIT_ARANGE:
        fprintf(out, " = arange()");
        break;
    case RT_INIT_LOAD:
        fprintf(out, " = load(\"%s\")", in->path ? in->path : "");
        break;
    }
}

void rt_print_help(FILE *out, const char *progname, const rt_program *prog)
{
    const rt_mesh *m = &prog->mesh;
    char t[256], p[256];
    int n = rt_mesh_size(m);
    fprintf(out,
            "usage: %s [--ranks N] [--in NAME=FILE.npy]... [--out NAME=FILE.npy]...\n"
            "       %*s [--steps N [--log-every K]] [--iters K [--warmup W]] [--profile]\n"
            "       %*s [--trace FILE.json] [--load DIR] [--save DIR] [--help]\n",
            progname, (int)strlen(progname), "", (int)strlen(progname), "");
    fprintf(out, "mesh %s[", m->name ? m->name : "mesh");
    for (int a = 0; a < m->naxes; a++)
        fprintf(out, "%s%s=%d", a ? ", " : "", m->axis_name[a] ? m->axis_name[a] : "?", m->size[a]);
    fprintf(out, "]: %d rank%s: run with --ranks %d or under mpirun -np %d\n", n, n == 1 ? "" : "s",
            n, n);
    fprintf(out, "parameters:\n");
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        fprintf(out, "  %s: %s @ %s", d->name, rt_type_str(d->dtype, d->rank, d->dims, t, sizeof t),
                rt_pl_str(m, d->pl, p, sizeof p));
        print_init(out, &d->init);
        fprintf(out, "\n");
    }
    fprintf(out, "results:\n");
    for (int i = 0; i < prog->nresults; i++) {
        const rt_tensor_desc *d = &prog->results[i];
        fprintf(out, "  %s: %s @ %s", d->name, rt_type_str(d->dtype, d->rank, d->dims, t, sizeof t),
                rt_pl_str(m, d->pl, p, sizeof p));
        if (d->feeds >= 0 && d->feeds < prog->nparams)
            fprintf(out, " feeds %s", prog->params[d->feeds].name);
        fprintf(out, "\n");
    }
    fprintf(out,
            "options:\n"
            "  --ranks N             run N ranks as threads of this process (N = mesh size);\n"
            "                        without it the program expects mpirun -np N\n"
            "  --in NAME=FILE.npy    the full global value of parameter NAME, or a stack of\n"
            "                        values (one more leading dim): step s uses s mod count\n"
            "  --out NAME=FILE.npy   write the full global value of result NAME (last step)\n"
            "  --steps N             run N steps (default 1); after each, every result that\n"
            "                        `feeds` a parameter becomes it\n"
            "  --log-every K         print the scalar results that feed nothing every K\n"
            "                        steps (default N / 10) and at the first and last\n"
            "  --iters K             run K timed iterations, print the median time\n"
            "  --warmup W            run W untimed iterations first (default 0)\n"
            "  --profile             print time and bytes per operation and collective\n"
            "                        (rank 0, timed iterations; bytes as dtc report)\n"
            "  --trace FILE.json     write every rank's operations and collectives (kind,\n"
            "                        axes, bytes, wait) as a Chrome trace-event file: open\n"
            "                        it in https://ui.perfetto.dev or chrome://tracing\n"
            "  --load DIR            before the run, restore every parameter that checkpoint\n"
            "                        DIR holds (saved on any mesh, with any placements); the\n"
            "                        others keep --in or their initialiser\n"
            "  --save DIR            after the run, write every parameter to checkpoint DIR\n"
            "                        (one file per shard, DIR/checkpoint.json; an existing\n"
            "                        checkpoint DIR is replaced once the new one is complete)\n"
            "  --help                this text\n"
            "environment: DT_COMM=threads|mpi picks the backend; DT_TIMEOUT=S makes a\n"
            "threads-backend rank give up after S seconds in one collective\n"
            "exit status: 0 success, 1 an error in the run or its files, 2 a bad command\n"
            "line or environment\n");
}
