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

IrModule *fe_load_bytes(Arena *a, Diag *d, const char *file, const char *text, size_t len,
                        const FeOptions *opt)
{
    if (!file)
        file = "<input>";
    if (!text)
        text = "", len = 0;
    diag_add_source_bytes(d, file, text, len);
    int before = diag_nerrors(d);
    Program *p = fe_parse_bytes(a, d, file, text, len);
    if (diag_nerrors(d) > before)
        return NULL;
    IrModule *m = fe_sema(a, d, p, opt);
    if (diag_nerrors(d) > before || !m)
        return NULL;
    int64_t limit = opt && opt->max_inlined_ops > 0 ? opt->max_inlined_ops : FE_MAX_INLINED_OPS;
    return fe_check_inlined_size(a, d, m, limit) ? m : NULL;
}

IrModule *fe_load_string(Arena *a, Diag *d, const char *file, const char *text,
                         const FeOptions *opt)
{
    return fe_load_bytes(a, d, file, text, text ? strlen(text) : 0, opt);
}

/* Reads the whole file into the arena (its *len bytes, which may hold NULs,
 * and a NUL after them); NULL with errno set. */
static char *read_file(Arena *a, const char *path, size_t *len)
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
    char *text = arena_alloc(a, n + 1);
    memcpy(text, buf, n);
    free(buf);
    *len = n;
    return text;
}

IrModule *fe_load_file(Arena *a, Diag *d, const char *path, const FeOptions *opt)
{
    errno = 0;
    size_t len = 0;
    char *text = path ? read_file(a, path, &len) : NULL;
    if (!text) {
        diag_error(d, (SrcLoc){NULL, 0, 0}, "cannot read '%s': %s", path ? path : "",
                   strerror(errno ? errno : ENOENT));
        return NULL;
    }
    return fe_load_bytes(a, d, path, text, len, opt);
}
