/* load.c - the frontend's entry points (frontend.h): read a .dt file and
 * the files it imports, parse them, check them and lower them to IR.
 *
 * Sema runs only on a program that parsed without errors: the parser's
 * recovery drops broken declarations and statements, and checking what is
 * left would report follow-up errors (unknown names, missing returns) that
 * are not the user's.  The result is NULL whenever any error was reported.
 *
 * `import "F";` (spec section 3) is resolved here, before sema: F is looked
 * for relative to the importing file's directory, then among dtc's own
 * standard library (std/ in the source tree, embedded in the binary by the
 * build as fe_std_files, so a copied dtc still finds it); a file imported
 * by the standard library is looked for there only.  Each file joins the
 * program once, whoever imports it and however often (a cycle is no
 * error), identified by its real path.  The imported files' declarations
 * come first, in the order the imports finish (a file's own imports before
 * it), then the importing file's, so a name the user defines again is
 * reported at the user's definition with a note at the library's.  An
 * imported file may not declare a mesh: the program's mesh is its own.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/fe_internal.h"

/* Imports nested deeper than this are reported (a chain, not a cycle:
 * cycles end at the first file seen twice). */
#define FE_MAX_IMPORT_DEPTH 64

static char *read_file(Arena *a, const char *path, size_t *len);

/* One resolution of the import tree. */
typedef struct Importer {
    Arena *a;
    Diag *d;
    FeNames *seen;   /* file key -> (void *)1 */
    FeList *decls;   /* Decl*, the program's order */
    FeList *files;   /* const char*, display names, the main file first */
} Importer;

/* The key that identifies a file: its real path, else the name. */
static const char *file_key(Arena *a, const char *path)
{
    char buf[PATH_MAX];
    return arena_strdup(a, realpath(path, buf) ? buf : path);
}

static const FeStdFile *std_file(const char *name)
{
    for (const FeStdFile *f = fe_std_files; f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

static void add_program(Importer *im, Program *p, int depth, bool is_std);

/* `import "path";` in a file named `from`: finds, reads, parses and adds
 * the file (and its imports), or reports why not. */
static void resolve_import(Importer *im, const char *from, bool from_std, const Decl *d, int depth)
{
    const char *path = d->value->str;
    SrcLoc at = d->value->loc;
    if (!*path) {
        diag_error(im->d, at, "import needs a file name, as in import \"std/optim.dt\";");
        return;
    }
    if (depth >= FE_MAX_IMPORT_DEPTH) {
        diag_error(im->d, at, "imports nested more than %d files deep", FE_MAX_IMPORT_DEPTH);
        return;
    }
    const char *disk = NULL; /* the path on disk to try */
    if (!from_std) {
        const char *slash = from ? strrchr(from, '/') : NULL;
        if (path[0] == '/' || !slash)
            disk = path;
        else
            disk = arena_printf(im->a, "%.*s/%s", (int)(slash - from), from, path);
    }
    const char *name, *key, *text;
    size_t len = 0;
    struct stat st;
    bool on_disk = disk && stat(disk, &st) == 0;
    const FeStdFile *sf = on_disk ? NULL : std_file(path);
    if (on_disk) {
        if (!S_ISREG(st.st_mode)) {
            /* a directory, or a device that might never end (/dev/zero) */
            diag_error(im->d, at, "cannot import '%s': %s is not a regular file", path, disk);
            return;
        }
        errno = 0;
        name = disk;
        key = file_key(im->a, disk);
        if (fe_names_get(im->seen, key))
            return;
        text = read_file(im->a, disk, &len);
        if (!text) {
            diag_error(im->d, at, "cannot read '%s': %s", disk, strerror(errno ? errno : EIO));
            return;
        }
    } else if (sf) {
        name = sf->name;
        key = arena_printf(im->a, "<std>/%s", sf->name);
        if (fe_names_get(im->seen, key))
            return;
        text = sf->text;
        len = sf->len;
    } else {
        if (disk)
            diag_error(im->d, at, "cannot find '%s': there is no file %s, and dtc's standard library "
                       "has no such file", path, disk);
        else
            diag_error(im->d, at, "cannot find '%s' in dtc's standard library", path);
        return;
    }
    fe_names_put(im->seen, key, (void *)1);
    fe_list_push(im->a, im->files, (void *)name);
    int before = diag_nerrors(im->d);
    Program *p = fe_parse_bytes(im->a, im->d, name, text, len);
    if (diag_nerrors(im->d) > before)
        return;
    for (int k = 0; k < p->ndecls; k++)
        if (p->decls[k]->kind == D_MESH) {
            diag_error(im->d, p->decls[k]->loc, "an imported file may not declare a mesh: the mesh is "
                       "the importing program's");
            diag_note(im->d, at, "'%s' is imported here", path);
        }
    add_program(im, p, depth + 1, sf != NULL);
}

/* p's imports (each before anything of p), then p's own declarations. */
static void add_program(Importer *im, Program *p, int depth, bool is_std)
{
    for (int k = 0; k < p->ndecls; k++)
        if (p->decls[k]->kind == D_IMPORT)
            resolve_import(im, p->file, is_std, p->decls[k], depth);
    for (int k = 0; k < p->ndecls; k++)
        if (p->decls[k]->kind != D_IMPORT)
            fe_list_push(im->a, im->decls, p->decls[k]);
}

/* Replaces p's declarations by those of the whole program, imports
 * resolved.  False if an error was reported. */
static bool resolve_imports(Arena *a, Diag *d, Program *p)
{
    bool any = false;
    for (int k = 0; k < p->ndecls && !any; k++)
        any = p->decls[k]->kind == D_IMPORT;
    if (!any)
        return true;
    Importer im = {a, d, fe_names_new(a), fe_list_new(a), fe_list_new(a)};
    fe_names_put(im.seen, file_key(a, p->file), (void *)1);
    fe_list_push(a, im.files, (void *)p->file);
    int before = diag_nerrors(d);
    add_program(&im, p, 0, false);
    p->ndecls = im.decls->n;
    p->decls = (Decl **)im.decls->items;
    p->nfiles = im.files->n;
    p->files = (const char **)im.files->items;
    return diag_nerrors(d) == before;
}

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
    if (diag_nerrors(d) > before || !resolve_imports(a, d, p))
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
