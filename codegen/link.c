/* link.c - building a generated program: finds the runtime (header and
 * static libraries) and runs the system C compiler on the generated C.
 *
 * Where the runtime is, in order:
 *   $DTC_RUNTIME_DIR      an installed layout: DIR/runtime/dtrt.h (and
 *                         DIR/runtime/core/rt_core.h, dtrt_kernels.h),
 *                         DIR/lib/libdtrt.a or DIR/libdtrt.a (+ libdtrt_core.a);
 *   DTC_SOURCE_DIR / DTC_BINARY_DIR, when this file is compiled with them;
 *   the build tree dtc runs from: libdtrt.a next to the dtc executable,
 *                         the source tree named by that tree's CMakeCache.txt.
 * The compiler is $CC (default cc); MPI's link flags come from
 * `mpicc --showme:link`, else `pkg-config --libs ompi-c`, else -lmpi.
 */
#include "codegen/cg_internal.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool has_headers(Arena *a, const char *inc)
{
    return inc && exists(arena_printf(a, "%s/runtime/dtrt.h", inc)) &&
           exists(arena_printf(a, "%s/runtime/dtrt_kernels.h", inc)) &&
           exists(arena_printf(a, "%s/runtime/core/rt_core.h", inc));
}

static bool has_libs(Arena *a, const char *lib)
{
    return lib && exists(arena_printf(a, "%s/libdtrt.a", lib)) &&
           exists(arena_printf(a, "%s/libdtrt_core.a", lib));
}

/* The source tree recorded in a CMake build tree, or NULL. */
static const char *cmake_source(Arena *a, const char *build)
{
    FILE *f = fopen(arena_printf(a, "%s/CMakeCache.txt", build), "r");
    if (!f)
        return NULL;
    char line[4096];
    const char *src = NULL;
    static const char key[] = "CMAKE_HOME_DIRECTORY:INTERNAL=";
    while (!src && fgets(line, sizeof line, f))
        if (!strncmp(line, key, sizeof key - 1)) {
            line[strcspn(line, "\r\n")] = 0;
            src = arena_strdup(a, line + sizeof key - 1);
        }
    fclose(f);
    return src;
}

bool cg_find_runtime(Arena *a, CgRuntime *rt, FILE *err)
{
    const char *env = getenv("DTC_RUNTIME_DIR");
    if (env && *env) {
        rt->include_dir = env;
        rt->lib_dir = arena_printf(a, "%s/lib", env);
        if (!has_libs(a, rt->lib_dir))
            rt->lib_dir = env;
        if (has_headers(a, rt->include_dir) && has_libs(a, rt->lib_dir))
            return true;
        fprintf(err, "dtc: error: DTC_RUNTIME_DIR=%s does not hold runtime/dtrt.h, "
                     "runtime/dtrt_kernels.h, runtime/core/rt_core.h and libdtrt.a, libdtrt_core.a "
                     "(in it or in its lib/)\n", env);
        return false;
    }
#if defined(DTC_SOURCE_DIR) && defined(DTC_BINARY_DIR)
    rt->include_dir = DTC_SOURCE_DIR;
    rt->lib_dir = DTC_BINARY_DIR;
    if (has_headers(a, rt->include_dir) && has_libs(a, rt->lib_dir))
        return true;
#endif
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        rt->lib_dir = arena_strdup(a, exe);
        rt->include_dir = cmake_source(a, exe);
        if (has_headers(a, rt->include_dir) && has_libs(a, rt->lib_dir))
            return true;
    }
    fprintf(err, "dtc: error: cannot find the dt runtime (runtime/dtrt.h and libdtrt.a): build the "
                 "dtrt target next to dtc, or set DTC_RUNTIME_DIR\n");
    return false;
}

/* ---- running commands ------------------------------------------------------------ */

typedef struct Argv {
    int n, cap;
    char **v;
} Argv;

static void push(Arena *a, Argv *av, const char *s)
{
    if (av->n + 2 > av->cap) {
        int nc = av->cap ? av->cap * 2 : 32;
        char **v = arena_alloc(a, sizeof *v * (size_t)nc);
        if (av->n)
            memcpy(v, av->v, sizeof *v * (size_t)av->n);
        av->v = v;
        av->cap = nc;
    }
    av->v[av->n++] = arena_strdup(a, s);
    av->v[av->n] = NULL;
}

/* Appends the whitespace-separated words of s. */
static void push_words(Arena *a, Argv *av, const char *s)
{
    while (*s) {
        size_t k = strspn(s, " \t\r\n");
        s += k;
        size_t w = strcspn(s, " \t\r\n");
        if (w)
            push(a, av, arena_strndup(a, s, w));
        s += w;
    }
}

/* stdout of a shell command, or NULL when it fails. */
static const char *capture(Arena *a, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int st = pclose(p);
    if (st != 0 || n == 0)
        return NULL;
    return arena_strdup(a, buf);
}

static int run(Argv *av, FILE *err)
{
    pid_t pid;
    fflush(NULL);
    int e = posix_spawnp(&pid, av->v[0], NULL, NULL, av->v, environ);
    if (e != 0) {
        fprintf(err, "dtc: error: cannot run '%s': %s\n", av->v[0], strerror(e));
        return -1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

bool cg_link_exe(Arena *a, const char *c_path, const CgOptions *opt, FILE *err)
{
    CgRuntime rt;
    if (!cg_find_runtime(a, &rt, err))
        return false;
    Argv av = {0, 0, NULL};
    const char *cc = getenv("CC");
    push_words(a, &av, cc && *cc ? cc : "cc");
    push(a, &av, "-std=c11");
    push(a, &av, arena_printf(a, "-O%d", opt->opt_level));
    if (opt->opt_level >= 2)
        push(a, &av, "-march=native");
    push(a, &av, "-I");
    push(a, &av, rt.include_dir);
    push(a, &av, c_path);
    push(a, &av, "-o");
    push(a, &av, opt->output);
    push(a, &av, arena_printf(a, "%s/libdtrt.a", rt.lib_dir));
    push(a, &av, arena_printf(a, "%s/libdtrt_core.a", rt.lib_dir));
    const char *mpi = capture(a, "mpicc --showme:link 2>/dev/null");
    if (!mpi)
        mpi = capture(a, "pkg-config --libs ompi-c 2>/dev/null");
    push_words(a, &av, mpi ? mpi : "-lmpi");
    push(a, &av, "-lopenblas");
    push(a, &av, "-lm");
    push(a, &av, "-lpthread");
    int st = run(&av, err);
    if (st == 0)
        return true;
    fprintf(err, "dtc: error: the C compiler failed (status %d):", st);
    for (int k = 0; k < av.n; k++)
        fprintf(err, " %s", av.v[k]);
    fputc('\n', err);
    return false;
}
