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
 * The command helpers (cg_argv_*, cg_run, cg_capture, cg_mpi_link_words)
 * also build the CUDA target (cuda_backend.c).
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

bool cg_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool has_headers(Arena *a, const char *inc)
{
    return inc && cg_file_exists(arena_printf(a, "%s/runtime/dtrt.h", inc)) &&
           cg_file_exists(arena_printf(a, "%s/runtime/dtrt_kernels.h", inc)) &&
           cg_file_exists(arena_printf(a, "%s/runtime/core/rt_core.h", inc));
}

static bool has_libs(Arena *a, const char *lib)
{
    return lib && cg_file_exists(arena_printf(a, "%s/libdtrt.a", lib)) &&
           cg_file_exists(arena_printf(a, "%s/libdtrt_core.a", lib));
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

void cg_argv_push(Arena *a, CgArgv *av, const char *s)
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

void cg_argv_push_words(Arena *a, CgArgv *av, const char *s)
{
    while (*s) {
        size_t k = strspn(s, " \t\r\n");
        s += k;
        size_t w = strcspn(s, " \t\r\n");
        if (w)
            cg_argv_push(a, av, arena_strndup(a, s, w));
        s += w;
    }
}

const char *cg_capture(Arena *a, const char *cmd)
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

int cg_run(const CgArgv *av, FILE *err)
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

void cg_run_failed(const CgArgv *av, const char *what, int status, FILE *err)
{
    fprintf(err, "dtc: error: %s failed (status %d):", what, status);
    for (int k = 0; k < av->n; k++)
        fprintf(err, " %s", av->v[k]);
    fputc('\n', err);
}

const char *cg_mpi_link_words(Arena *a)
{
    const char *mpi = cg_capture(a, "mpicc --showme:link 2>/dev/null");
    if (!mpi)
        mpi = cg_capture(a, "pkg-config --libs ompi-c 2>/dev/null");
    return mpi ? mpi : "-lmpi";
}

bool cg_link_exe(Arena *a, const char *c_path, const CgOptions *opt, FILE *err)
{
    CgRuntime rt;
    if (!cg_find_runtime(a, &rt, err))
        return false;
    CgArgv av = {0, 0, NULL};
    const char *cc = getenv("CC");
    cg_argv_push_words(a, &av, cc && *cc ? cc : "cc");
    cg_argv_push(a, &av, "-std=c11");
    cg_argv_push(a, &av, arena_printf(a, "-O%d", opt->opt_level));
    if (opt->opt_level >= 2)
        cg_argv_push(a, &av, "-march=native");
    cg_argv_push(a, &av, "-I");
    cg_argv_push(a, &av, rt.include_dir);
    cg_argv_push(a, &av, c_path);
    cg_argv_push(a, &av, "-o");
    cg_argv_push(a, &av, opt->output);
    cg_argv_push(a, &av, arena_printf(a, "%s/libdtrt.a", rt.lib_dir));
    cg_argv_push(a, &av, arena_printf(a, "%s/libdtrt_core.a", rt.lib_dir));
    cg_argv_push_words(a, &av, cg_mpi_link_words(a));
    cg_argv_push(a, &av, "-lopenblas");
    cg_argv_push(a, &av, "-lm");
    cg_argv_push(a, &av, "-lpthread");
    int st = cg_run(&av, err);
    if (st == 0)
        return true;
    cg_run_failed(&av, "the C compiler", st, err);
    return false;
}
