/* picture.c - `dtc compile --emit=dot|svg`: the IR after a pass (by
 * default optimise: the final placed program) as a Graphviz picture.
 *
 * dot: the text of ir_print_dot (ir/dot.c), written to the output.
 * svg: the same text rendered by Graphviz's `dot -Tsvg`, which must be on
 * PATH; when it is not, one clear error (exit 1) says so and how to get it.
 * The dot text goes through a temporary file, so a failing `dot` cannot
 * stop dtc with SIGPIPE; a partial SVG is removed.
 */
#define _XOPEN_SOURCE 700 /* mkstemp */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/driver.h"
#include "ir/dot.h"

/* The source text for tooltips; NULL if it cannot be read (no tooltips). */
static const char *read_source(Arena *ar, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = arena_alloc(ar, cap + 1);
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        char *bigger = arena_alloc(ar, cap * 2 + 1);
        memcpy(bigger, buf, len);
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    buf[len] = 0;
    return buf;
}

/* A program named `name` on PATH (no '/' in name). */
static bool on_path(Arena *ar, const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        const char *dir = n ? arena_strndup(ar, path, n) : ".";
        const char *full = arena_printf(ar, "%s/%s", dir, name);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

static bool write_dot(FILE *f, const DtcOptions *o, const IrModule *m, const char *stage, Arena *ar)
{
    IrDotOpts dopts = {.stage = stage, .src_file = o->file, .src_text = read_source(ar, o->file)};
    ir_print_dot(f, m, &dopts);
    return !ferror(f);
}

/* Runs dot -Tsvg -o out in; returns its exit status (127: could not run). */
static int run_dot(const char *in, const char *out)
{
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        execlp("dot", "dot", "-Tsvg", "-o", out, in, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int dtc_emit_picture(Arena *ar, const DtcOptions *o, const IrModule *m, const char *stage,
                     const char *output)
{
    bool svg = !strcmp(o->emit, "svg");
    if (!svg) {
        FILE *f = !strcmp(output, "-") ? stdout : fopen(output, "w");
        if (!f) {
            fprintf(stderr, "dtc: error: cannot write '%s': %s\n", output, strerror(errno));
            return 1;
        }
        bool ok = write_dot(f, o, m, stage, ar);
        if ((f != stdout && fclose(f) != 0) || !ok) {
            fprintf(stderr, "dtc: error: cannot write '%s'\n", output);
            return 1;
        }
        return 0;
    }
    if (!on_path(ar, "dot")) {
        fprintf(stderr, "dtc: error: --emit=svg needs Graphviz's 'dot' on PATH (Debian: apt-get install "
                        "graphviz; scripts/setup.sh installs it); --emit=dot writes the dot text without it\n");
        return 1;
    }
    const char *tmpdir = getenv("TMPDIR");
    char *tmp = arena_printf(ar, "%s/dtc-dot-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "dtc: error: cannot create a temporary file in '%s': %s\n",
                tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return 1;
    }
    bool ok = write_dot(f, o, m, stage, ar);
    ok &= fclose(f) == 0;
    if (!ok) {
        fprintf(stderr, "dtc: error: cannot write the temporary file '%s'\n", tmp);
        unlink(tmp);
        return 1;
    }
    int rc = run_dot(tmp, output);
    unlink(tmp);
    if (rc != 0) {
        fprintf(stderr, "dtc: error: 'dot -Tsvg -o %s' failed (exit status %d)\n", output, rc);
        unlink(output);
        return 1;
    }
    return 0;
}
