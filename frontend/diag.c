/* diag.c - compiler diagnostics (frontend.h): one error or note per call,
 *
 *     FILE:LINE:COL: error: MESSAGE
 *     <the source line as written>
 *     <blanks up to the column>^
 *
 * Columns are 1-based byte columns.  The caret line copies the tabs of the
 * source line (and skips UTF-8 continuation bytes) so the caret sits under
 * the spot whatever the terminal's tab width.  A line longer than
 * DIAG_QUOTE_COLS bytes is quoted as a window of that many around the caret,
 * with "..." where it was cut (a minified 1 MB line is not printed whole); a
 * NUL byte in the line is shown as a blank.  A message longer than
 * DIAG_MAX_MESSAGE bytes (one naming a huge identifier) loses its middle.  A location without a line
 * prints "FILE: error: MESSAGE" (or "dtc: error: MESSAGE" without a file)
 * and no quote.  After DIAG_MAX_SHOWN errors the rest are counted but not
 * shown, and one line says so.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"

#define DIAG_MAX_SHOWN 50
#define DIAG_QUOTE_COLS 100 /* most bytes of a source line quoted */
#define DIAG_QUOTE_BEFORE 60 /* of which before the caret, when cut */
#define DIAG_MAX_MESSAGE 600 /* longer messages lose their middle */

typedef struct DiagSource {
    struct DiagSource *next;
    const char *file;
    const char *text;
    size_t len;
} DiagSource;

struct Diag {
    Arena *a;
    FILE *out;
    DiagSource *sources;
    int nerrors;
    int muted; /* past the cap: notes of hidden errors are hidden too */
};

Diag *diag_new(Arena *a, FILE *out)
{
    Diag *d = arena_alloc(a, sizeof *d);
    d->a = a;
    d->out = out ? out : stderr;
    return d;
}

void diag_add_source_bytes(Diag *d, const char *file, const char *text, size_t len)
{
    if (!file || !text)
        return;
    for (DiagSource *s = d->sources; s; s = s->next)
        if (strcmp(s->file, file) == 0) {
            s->text = text;
            s->len = len;
            return;
        }
    DiagSource *s = arena_alloc(d->a, sizeof *s);
    s->file = arena_strdup(d->a, file);
    s->text = text;
    s->len = len;
    s->next = d->sources;
    d->sources = s;
}

void diag_add_source(Diag *d, const char *file, const char *text)
{
    diag_add_source_bytes(d, file, text, text ? strlen(text) : 0);
}

int diag_nerrors(const Diag *d)
{
    return d->nerrors;
}

/* Line `line` of the file's text (start and length without the newline),
 * or NULL if unknown. */
static const char *find_line(const Diag *d, const char *file, int line, size_t *n)
{
    const DiagSource *s = d->sources;
    while (s && strcmp(s->file, file) != 0)
        s = s->next;
    if (!s)
        return NULL;
    const char *p = s->text, *end = s->text + s->len;
    for (int l = 1; l < line; l++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p)
            return NULL;
        p++;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *n = (size_t)((nl ? nl : end) - p);
    return p;
}

static bool utf8_tail(const char *p, size_t i)
{
    return ((unsigned char)p[i] & 0xC0) == 0x80;
}

static void quote_line(Diag *d, const char *file, int line, int col)
{
    size_t n;
    const char *p = find_line(d, file, line, &n);
    if (!p)
        return;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    size_t caret = (size_t)col - 1, from = 0, to = n;
    if (n > DIAG_QUOTE_COLS) {
        from = caret > DIAG_QUOTE_BEFORE ? caret - DIAG_QUOTE_BEFORE : 0;
        if (from > n - DIAG_QUOTE_COLS)
            from = n - DIAG_QUOTE_COLS;
        to = from + DIAG_QUOTE_COLS;
        while (from > 0 && from < n && utf8_tail(p, from)) /* whole characters only */
            from++;
        while (to < n && to > from && utf8_tail(p, to))
            to--;
    }
    const char *cut = "...";
    if (from > 0)
        fputs(cut, d->out);
    for (size_t i = from; i < to; i++)
        fputc(p[i] ? p[i] : ' ', d->out);
    if (to < n)
        fputs(cut, d->out);
    fputc('\n', d->out);
    if (from > 0)
        fprintf(d->out, "%*s", (int)strlen(cut), "");
    for (size_t i = from; i < caret; i++) {
        unsigned char c = i < n ? (unsigned char)p[i] : ' ';
        if (c == '\t')
            fputc('\t', d->out);
        else if ((c & 0xC0) != 0x80)
            fputc(' ', d->out);
    }
    fputs("^\n", d->out);
}

/* The message, its middle cut when it is very long (it may quote a name
 * of a million characters). */
static void put_message(FILE *out, const char *fmt, va_list ap)
{
    char buf[DIAG_MAX_MESSAGE + 1];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n >= 0 && n <= DIAG_MAX_MESSAGE) {
        fputs(buf, out);
        va_end(again);
        return;
    }
    char *all = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!all) {
        fputs(buf, out);
        va_end(again);
        return;
    }
    vsnprintf(all, (size_t)n + 1, fmt, again);
    va_end(again);
    size_t head = DIAG_MAX_MESSAGE * 2 / 3, tail = DIAG_MAX_MESSAGE / 4;
    while (head > 0 && ((unsigned char)all[head] & 0xC0) == 0x80) /* whole characters */
        head--;
    size_t from = (size_t)n - tail;
    while (from < (size_t)n && ((unsigned char)all[from] & 0xC0) == 0x80)
        from++;
    fprintf(out, "%.*s...%s", (int)head, all, all + from);
    free(all);
}

static void report(Diag *d, SrcLoc loc, const char *kind, const char *fmt, va_list ap)
{
    if (loc.file && loc.line > 0)
        fprintf(d->out, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col > 0 ? loc.col : 1, kind);
    else
        fprintf(d->out, "%s: %s: ", loc.file ? loc.file : "dtc", kind);
    put_message(d->out, fmt, ap);
    fputc('\n', d->out);
    if (loc.file && loc.line > 0)
        quote_line(d, loc.file, loc.line, loc.col > 0 ? loc.col : 1);
    fflush(d->out);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    d->nerrors++;
    if (d->nerrors > DIAG_MAX_SHOWN) {
        if (!d->muted)
            fprintf(d->out, "dtc: error: too many errors (%d); not showing the rest\n",
                    DIAG_MAX_SHOWN);
        d->muted = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "error", fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    if (d->muted)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "note", fmt, ap);
    va_end(ap);
}
