/* load.c - the frontend's entry points (frontend.h): read a .dt file, parse
 * it, check it and lower it to IR.
 *
 * Sema runs only on a program that parsed without errors: the parser's
 * recovery drops broken declarations and statements, and checking what is
 * left would report follow-up errors (unknown names, missing returns) that
 * are not the user's.  The result is NULL whenever any error was reported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/fe_internal.h"

IrModule *fe_load_string(Arena *a, Diag *d, const char *file, const char *text,
                         const FeOptions *opt)
{
    if (!file)
        file = "<input>";
    if (!text)
        text = "";
    diag_add_source(d, file, text);
    int before = diag_nerrors(d);
    Program *p = fe_parse(a, d, file, text);
    if (diag_nerrors(d) > before)
        return NULL;
    IrModule *m = fe_sema(a, d, p, opt);
    if (diag_nerrors(d) > before || !m)
        return NULL;
    int64_t limit = opt && opt->max_inlined_ops > 0 ? opt->max_inlined_ops : FE_MAX_INLINED_OPS;
    return fe_check_inlined_size(a, d, m, limit) ? m : NULL;
}

/* Reads the whole file into the arena (NUL-terminated); NULL with errno set. */
static char *read_file(Arena *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            char *nb = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        errno = saved ? saved : EIO;
        return NULL;
    }
    char *text = arena_strndup(a, buf, n);
    free(buf);
    return text;
}

IrModule *fe_load_file(Arena *a, Diag *d, const char *path, const FeOptions *opt)
{
    errno = 0;
    char *text = path ? read_file(a, path) : NULL;
    if (!text) {
        diag_error(d, (SrcLoc){NULL, 0, 0}, "cannot read '%s': %s", path ? path : "",
                   strerror(errno ? errno : ENOENT));
        return NULL;
    }
    return fe_load_string(a, d, path, text, opt);
}
