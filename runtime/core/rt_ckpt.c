/* rt_ckpt.c - sharded checkpoints on disk (contract in rt_ckpt.h, format in
 * runtime/README.md, "Checkpoints").
 *
 * The metadata is a small JSON document; the parser here reads JSON in
 * general (objects, arrays, strings with the usual escapes, numbers, true,
 * false, null) into a flat node table and then picks the fields it knows, so
 * a hand-edited or damaged file ends in a message, never a crash.  Shard
 * files are raw bytes: a box is read with one pread per run that is
 * contiguous in both the file and the destination.
 */
#define _GNU_SOURCE /* renameat2 */
#include "runtime/core/rt_ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_MAX (64u << 20) /* far beyond any real metadata */

/* strerror for messages; strerror_r because ranks may be threads. */
typedef struct ErrStr {
    char s[128];
} ErrStr;

static ErrStr errstr(int e)
{
    ErrStr b;
    const char *m = strerror_r(e, b.s, sizeof b.s); /* the GNU one (_GNU_SOURCE above) */
    if (m != b.s)
        snprintf(b.s, sizeof b.s, "%s", m ? m : "unknown error");
    return b;
}

/* Bitwise CRC-32C, reflected, polynomial 0x82f63b78: the table of the
 * slow path, built per call (256 entries: nothing next to the bytes). */
static uint32_t crc32c_table(uint32_t crc, const unsigned char *p, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        table[i] = c;
    }
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_CRC32_INSN 1
__attribute__((target("sse4.2"))) static uint32_t crc32c_insn(uint32_t crc, const unsigned char *p,
                                                                size_t n)
{
    for (; n && ((uintptr_t)p & 7); n--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    crc = (uint32_t)c;
    for (; n; n--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}
#endif

uint32_t rt_crc32c(uint32_t crc, const void *p, size_t n)
{
#ifdef HAVE_CRC32_INSN
    if (__builtin_cpu_supports("sse4.2"))
        return ~crc32c_insn(~crc, p, n);
#endif
    return rt_crc32c_table(crc, p, n);
}

uint32_t rt_crc32c_table(uint32_t crc, const void *p, size_t n)
{
    return ~crc32c_table(~crc, p, n);
}

static int64_t numel(int rank, const int64_t *len)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= len[d];
    return n;
}

static void path_join(const char *dir, const char *file, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", dir, file);
}

void rt_ckpt_file_name(const char *name, int i, int r, char *buf, size_t n)
{
    bool plain = *name && strlen(name) < RT_CKPT_NAME;
    for (const char *s = name; plain && *s; s++)
        plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                *s == '_';
    if (plain)
        snprintf(buf, n, "%s.r%d.bin", name, r);
    else
        snprintf(buf, n, "param%d.r%d.bin", i, r);
}

/* ---- writing the metadata --------------------------------------------------------- */

static void put_dims(rt_text *b, int rank, const int64_t *v)
{
    rt_text_put(b, "[");
    for (int d = 0; d < rank; d++)
        rt_text_put(b, "%s%" PRId64, d ? ", " : "", v[d]);
    rt_text_put(b, "]");
}

char *rt_ckpt_format(const rt_ckpt *c)
{
    rt_text b = {0};
    rt_text_put(&b, "{\n  \"format\": \"dtc-checkpoint\",\n  \"version\": 1,\n  \"mesh\": ");
    rt_text_put_json_str(&b, c->mesh);
    rt_text_put(&b, ",\n  \"ranks\": %d,\n  \"step\": %" PRId64 ",\n  \"checksum\": \"crc32c\",\n", c->ranks,
        c->step);
    rt_text_put(&b, "  \"params\": [");
    for (int i = 0; i < c->nparams; i++) {
        const rt_ckpt_param *p = &c->params[i];
        rt_text_put(&b, "%s\n    {\"name\": ", i ? "," : "");
        rt_text_put_json_str(&b, p->name);
        rt_text_put(&b, ", \"dtype\": \"%s\", \"dims\": ", rt_dtype_name(p->dtype));
        put_dims(&b, p->rank, p->dims);
        rt_text_put(&b, ", \"placement\": ");
        rt_text_put_json_str(&b, p->placement);
        rt_text_put(&b, ",\n     \"shards\": [");
        for (int k = 0; k < p->nshards; k++) {
            const rt_ckpt_shard *s = &p->shards[k];
            rt_text_put(&b, "%s\n       {\"file\": ", k ? "," : "");
            rt_text_put_json_str(&b, s->file);
            rt_text_put(&b, ", \"rank\": %d, \"offset\": ", s->rank);
            put_dims(&b, p->rank, s->off);
            rt_text_put(&b, ", \"length\": ");
            put_dims(&b, p->rank, s->len);
            rt_text_put(&b, ", \"bytes\": %" PRIu64 ", \"crc32c\": \"%08" PRIx32 "\"}", s->bytes, s->crc);
        }
        rt_text_put(&b, "%s]}", p->nshards ? "\n     " : "");
    }
    rt_text_put(&b, "%s]\n}\n", c->nparams ? "\n  " : "");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- a small JSON reader ------------------------------------------------------------ */

typedef enum JKind { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } JKind;

typedef struct JNode {
    JKind kind;
    const char *key;  /* member of an object: its name */
    const char *str;  /* J_STR: unescaped, NUL-ended */
    double num;       /* J_NUM */
    bool integer;     /* J_NUM: digits only (and a sign), value exact in int64 */
    int64_t i64;
    int first, next;  /* children (J_ARR, J_OBJ); next sibling; -1: none */
    int count;        /* children */
} JNode;

typedef struct JParser {
    char *s, *end;    /* a private copy: strings are unescaped in place */
    JNode *nodes;
    int n, cap;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} JParser;

static int jerr(JParser *p, const char *what)
{
    if (!p->failed)
        rt_errorf(p->err, p->errlen, "bad JSON: %s", what);
    p->failed = true;
    return -1;
}

static void jws(JParser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int jnew(JParser *p, JKind kind)
{
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 256;
        JNode *nodes = realloc(p->nodes, sizeof *nodes * (size_t)cap);
        if (!nodes)
            return jerr(p, "out of memory");
        p->nodes = nodes;
        p->cap = cap;
    }
    JNode *j = &p->nodes[p->n];
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->first = j->next = -1;
    return p->n++;
}

/* A string at p->s (the opening quote), unescaped in place; returns it. */
static const char *jstring(JParser *p)
{
    char *out = ++p->s, *start = out;
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s++;
        if (c < 0x20)
            return jerr(p, "control character in a string"), NULL;
        if (c != '\\') {
            *out++ = (char)c;
            continue;
        }
        if (p->s >= p->end)
            break;
        char e = *p->s++;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = strchr(from, e);
        if (e && hit) {
            *out++ = to[hit - from];
        } else if (e == 'u' && p->end - p->s >= 4) {
            unsigned v = 0;
            for (int k = 0; k < 4; k++) {
                char h = *p->s++;
                v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0'
                                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
            }
            if (v == 0 || v > 0x7f) /* the writer escapes only ASCII control characters */
                return jerr(p, "unsupported \\u escape"), NULL;
            *out++ = (char)v;
        } else {
            return jerr(p, "bad escape in a string"), NULL;
        }
    }
    if (p->s >= p->end)
        return jerr(p, "unterminated string"), NULL;
    p->s++;
    *out = 0; /* out <= the closing quote, so this stays inside the copy */
    return start;
}

static int jvalue(JParser *p);

/* The children of an array or object at node j, linked in order. */
static int jitems(JParser *p, int j, char close, bool keys)
{
    p->s++;
    jws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        return 0;
    }
    int last = -1;
    for (;;) {
        const char *key = NULL;
        jws(p);
        if (keys) {
            if (p->s >= p->end || *p->s != '"')
                return jerr(p, "expected a member name");
            if (!(key = jstring(p)))
                return -1;
            jws(p);
            if (p->s >= p->end || *p->s != ':')
                return jerr(p, "expected ':'");
            p->s++;
        }
        int v = jvalue(p);
        if (v < 0)
            return -1;
        p->nodes[v].key = key;
        if (last < 0)
            p->nodes[j].first = v;
        else
            p->nodes[last].next = v;
        last = v;
        p->nodes[j].count++;
        jws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return 0;
        }
        return jerr(p, keys ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jvalue(JParser *p)
{
    jws(p);
    if (p->s >= p->end)
        return jerr(p, "unexpected end");
    if (++p->depth > 64)
        return jerr(p, "nested too deeply");
    int j = -1;
    char c = *p->s;
    if (c == '{' || c == '[') {
        if ((j = jnew(p, c == '{' ? J_OBJ : J_ARR)) < 0 ||
            jitems(p, j, c == '{' ? '}' : ']', c == '{') < 0)
            return -1;
    } else if (c == '"') {
        const char *s;
        if ((j = jnew(p, J_STR)) < 0 || !(s = jstring(p)))
            return -1;
        p->nodes[j].str = s;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char *e;
        double v = strtod(p->s, &e);
        if (e == p->s || e > p->end)
            return jerr(p, "bad number");
        bool integer = true;
        for (const char *t = p->s + (*p->s == '-'); t < e; t++)
            integer = integer && *t >= '0' && *t <= '9';
        errno = 0;
        long long i = integer ? strtoll(p->s, NULL, 10) : 0;
        if ((j = jnew(p, J_NUM)) < 0)
            return -1;
        p->nodes[j].num = v;
        p->nodes[j].integer = integer && errno == 0;
        p->nodes[j].i64 = i;
        p->s = e;
    } else {
        static const char *const words[] = {"true", "false", "null"};
        int w = 0;
        for (; w < 3; w++)
            if ((size_t)(p->end - p->s) >= strlen(words[w]) &&
                !strncmp(p->s, words[w], strlen(words[w])))
                break;
        if (w == 3)
            return jerr(p, "unexpected character");
        if ((j = jnew(p, w == 2 ? J_NULL : J_BOOL)) < 0)
            return -1;
        p->s += strlen(words[w]);
    }
    p->depth--;
    return j;
}

static const JNode *jget(const JParser *p, const JNode *obj, const char *key)
{
    for (int k = obj->first; k >= 0; k = p->nodes[k].next)
        if (!strcmp(p->nodes[k].key, key))
            return &p->nodes[k];
    return NULL;
}

/* ---- reading the metadata ----------------------------------------------------------- */

/* Field `key` of obj as an integer in [lo, hi]. */
static int get_int(JParser *p, const JNode *obj, const char *where, const char *key, int64_t lo,
                   int64_t hi, int64_t *out)
{
    const JNode *v = jget(p, obj, key);
    if (!v || v->kind != J_NUM || !v->integer || v->i64 < lo || v->i64 > hi)
        return rt_errorf(p->err, p->errlen, "%s: \"%s\" is %s, expected an integer from %" PRId64
                         " to %" PRId64, where, key, v ? "not one" : "missing", lo, hi);
    *out = v->i64;
    return 0;
}

static int get_str(JParser *p, const JNode *obj, const char *where, const char *key, char *buf,
                   size_t n)
{
    const JNode *v = jget(p, obj, key);
    if (!v || v->kind != J_STR)
        return rt_errorf(p->err, p->errlen, "%s: \"%s\" is %s, expected a string", where, key,
                         v ? "not a string" : "missing");
    if (strlen(v->str) >= n)
        return rt_errorf(p->err, p->errlen, "%s: \"%s\" is longer than %zu bytes", where, key, n - 1);
    snprintf(buf, n, "%s", v->str);
    return 0;
}

/* An array of `rank` integers >= 0 (rank < 0: any length up to RT_MAX_RANK,
 * stored in *rank_out). */
static int get_dims(JParser *p, const JNode *obj, const char *where, const char *key, int rank,
                    int *rank_out, int64_t *out)
{
    const JNode *v = jget(p, obj, key);
    if (!v || v->kind != J_ARR || v->count > RT_MAX_RANK || (rank >= 0 && v->count != rank))
        return rt_errorf(p->err, p->errlen, "%s: \"%s\" is %s", where, key,
                         !v ? "missing"
                         : v->kind != J_ARR ? "not a list"
                         : rank >= 0 ? "not one entry per dim" : "a list of more than 8 dims");
    int d = 0;
    for (int k = v->first; k >= 0; k = p->nodes[k].next, d++) {
        const JNode *e = &p->nodes[k];
        if (e->kind != J_NUM || !e->integer || e->i64 < 0 || e->i64 > (INT64_C(1) << 48))
            return rt_errorf(p->err, p->errlen, "%s: \"%s\" has an entry that is not a size", where, key);
        out[d] = e->i64;
    }
    if (rank_out)
        *rank_out = v->count;
    return 0;
}

static int parse_dtype(const char *s, rt_dtype *out)
{
    for (int t = RT_F32; t <= RT_BF16; t++)
        if (!strcmp(s, rt_dtype_name((rt_dtype)t))) {
            *out = (rt_dtype)t;
            return 0;
        }
    return -1;
}

static int parse_shard(JParser *p, const JNode *j, const rt_ckpt_param *par, const char *where,
                       rt_ckpt_shard *s)
{
    int64_t v = 0;
    char crc[32], *end;
    if (j->kind != J_OBJ)
        return rt_errorf(p->err, p->errlen, "%s: a shard is not an object", where);
    if (get_str(p, j, where, "file", s->file, sizeof s->file) ||
        get_int(p, j, where, "rank", 0, 1 << 30, &v))
        return -1;
    s->rank = (int)v;
    if (get_dims(p, j, where, "offset", par->rank, NULL, s->off) ||
        get_dims(p, j, where, "length", par->rank, NULL, s->len) ||
        get_int(p, j, where, "bytes", 0, INT64_MAX, &v) ||
        get_str(p, j, where, "crc32c", crc, sizeof crc))
        return -1;
    s->bytes = (uint64_t)v;
    errno = 0;
    s->crc = (uint32_t)strtoul(crc, &end, 16);
    if (strlen(crc) != 8 || *end || errno)
        return rt_errorf(p->err, p->errlen, "%s: \"crc32c\" is not 8 hex digits", where);
    return 0;
}

static int parse_param(JParser *p, const JNode *j, int i, rt_ckpt_param *par)
{
    char where[RT_CKPT_NAME + 64], dt[16];
    snprintf(where, sizeof where, "parameter #%d", i);
    if (j->kind != J_OBJ)
        return rt_errorf(p->err, p->errlen, "%s is not an object", where);
    if (get_str(p, j, where, "name", par->name, sizeof par->name))
        return -1;
    snprintf(where, sizeof where, "parameter %s", par->name);
    if (get_str(p, j, where, "dtype", dt, sizeof dt))
        return -1;
    if (parse_dtype(dt, &par->dtype))
        return rt_errorf(p->err, p->errlen, "%s: unknown dtype \"%s\"", where, dt);
    if (get_dims(p, j, where, "dims", -1, &par->rank, par->dims) ||
        get_str(p, j, where, "placement", par->placement, sizeof par->placement))
        return -1;
    const JNode *sh = jget(p, j, "shards");
    if (!sh || sh->kind != J_ARR)
        return rt_errorf(p->err, p->errlen, "%s: \"shards\" is %s", where, sh ? "not a list" : "missing");
    par->shards = calloc((size_t)sh->count + 1, sizeof *par->shards);
    if (!par->shards)
        return rt_errorf(p->err, p->errlen, "out of memory");
    for (int k = sh->first; k >= 0; k = p->nodes[k].next)
        if (parse_shard(p, &p->nodes[k], par, where, &par->shards[par->nshards++]))
            return -1;
    return 0;
}

int rt_ckpt_parse(const char *text, size_t n, rt_ckpt *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    JParser p = {0};
    p.err = err;
    p.errlen = errlen;
    char *copy = malloc(n + 1);
    if (!copy)
        return rt_errorf(err, errlen, "out of memory");
    memcpy(copy, text, n);
    copy[n] = 0;
    p.s = copy;
    p.end = copy + n;
    int rc = -1;
    int root = jvalue(&p);
    if (root < 0)
        goto done;
    jws(&p);
    if (p.s != p.end) {
        jerr(&p, "text after the document");
        goto done;
    }
    const JNode *r = &p.nodes[root];
    char fmt[64];
    int64_t v = 0;
    if (r->kind != J_OBJ) {
        rt_errorf(err, errlen, "bad metadata: not a JSON object");
        goto done;
    }
    if (get_str(&p, r, "checkpoint", "format", fmt, sizeof fmt))
        goto done;
    if (strcmp(fmt, "dtc-checkpoint")) {
        rt_errorf(err, errlen, "not a dtc checkpoint (format \"%s\")", fmt);
        goto done;
    }
    if (get_int(&p, r, "checkpoint", "version", 1, 1, &v) ||
        get_str(&p, r, "checkpoint", "mesh", out->mesh, sizeof out->mesh) ||
        get_int(&p, r, "checkpoint", "ranks", 1, 1 << 30, &v))
        goto done;
    out->ranks = (int)v;
    if (get_int(&p, r, "checkpoint", "step", 0, INT64_MAX, &out->step) ||
        get_str(&p, r, "checkpoint", "checksum", fmt, sizeof fmt))
        goto done;
    if (strcmp(fmt, "crc32c")) {
        rt_errorf(err, errlen, "checkpoint: unknown checksum \"%s\"", fmt);
        goto done;
    }
    const JNode *ps = jget(&p, r, "params");
    if (!ps || ps->kind != J_ARR) {
        rt_errorf(err, errlen, "checkpoint: \"params\" is %s", ps ? "not a list" : "missing");
        goto done;
    }
    out->params = calloc((size_t)ps->count + 1, sizeof *out->params);
    if (!out->params) {
        rt_errorf(err, errlen, "out of memory");
        goto done;
    }
    int i = 0;
    for (int k = ps->first; k >= 0; k = p.nodes[k].next, i++) {
        out->nparams++;
        if (parse_param(&p, &p.nodes[k], i, &out->params[i]))
            goto done;
    }
    rc = 0;
done:
    free(p.nodes);
    free(copy);
    return rc;
}

void rt_ckpt_free(rt_ckpt *c)
{
    for (int i = 0; i < c->nparams; i++)
        free(c->params[i].shards);
    free(c->params);
    memset(c, 0, sizeof *c);
}

const rt_ckpt_param *rt_ckpt_find(const rt_ckpt *c, const char *name)
{
    for (int i = 0; i < c->nparams; i++)
        if (!strcmp(c->params[i].name, name))
            return &c->params[i];
    return NULL;
}

/* Opens a regular file for reading (never blocks on a FIFO); its size in
 * *size.  -1 with a message. */
static int open_regular(const char *path, off_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return rt_errorf(err, errlen, "cannot open %s: %s", path, errstr(errno).s);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rt_errorf(err, errlen, "%s is not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *size = st.st_size;
    return fd;
}

/* The file of shard s in dir (its path in path), open for reading. */
static int open_shard(const char *dir, const rt_ckpt_shard *s, char *path, size_t n, off_t *size, char *err,
                      size_t errlen)
{
    path_join(dir, s->file, path, n);
    return open_regular(path, size, err, errlen);
}

int rt_ckpt_read_text(const char *dir, char **text, size_t *len, char *err, size_t errlen)
{
    char path[4096];
    path_join(dir, RT_CKPT_META, path, sizeof path);
    *text = NULL;
    struct stat st;
    if (stat(dir, &st) != 0)
        return rt_errorf(err, errlen, "%s: %s", dir, errstr(errno).s);
    if (!S_ISDIR(st.st_mode))
        return rt_errorf(err, errlen, "%s is not a directory", dir);
    off_t size;
    int fd = open_regular(path, &size, err, errlen);
    if (fd < 0)
        return -1;
    if ((uint64_t)size > META_MAX) {
        close(fd);
        return rt_errorf(err, errlen, "%s is larger than %u MiB", path, META_MAX >> 20);
    }
    char *buf = malloc((size_t)size + 1);
    size_t got = 0;
    while (buf && got < (size_t)size) {
        ssize_t k = read(fd, buf + got, (size_t)size - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (!buf || got != (size_t)size) {
        free(buf);
        return rt_errorf(err, errlen, "cannot read %s", path);
    }
    buf[got] = 0;
    *text = buf;
    *len = got;
    return 0;
}

int rt_ckpt_open(const char *dir, rt_ckpt *out, char *err, size_t errlen)
{
    char *text, e[768];
    size_t len;
    memset(out, 0, sizeof *out);
    if (rt_ckpt_read_text(dir, &text, &len, err, errlen))
        return -1;
    int rc = rt_ckpt_parse(text, len, out, e, sizeof e);
    free(text);
    if (rc)
        return rt_errorf(err, errlen, "%s/%s: %s", dir, RT_CKPT_META, e);
    return rt_ckpt_check(dir, out, err, errlen);
}

/* ---- checks ------------------------------------------------------------------------- */

static bool boxes_overlap(int rank, const rt_ckpt_shard *a, const rt_ckpt_shard *b)
{
    for (int d = 0; d < rank; d++)
        if (a->off[d] + a->len[d] <= b->off[d] || b->off[d] + b->len[d] <= a->off[d])
            return false;
    return true;
}

static int check_param(const char *dir, const rt_ckpt_param *p, char *err, size_t errlen)
{
    int64_t es = rt_dtype_size(p->dtype), total = 1, covered = 0;
    for (int d = 0; d < p->rank; d++) /* boxes lie inside dims, so theirs cannot overflow */
        if (p->dims[d] && total > (INT64_MAX / es) / p->dims[d])
            return rt_errorf(err, errlen, "parameter %s: dims too large", p->name);
        else
            total *= p->dims[d];
    for (int k = 0; k < p->nshards; k++) {
        const rt_ckpt_shard *s = &p->shards[k];
        for (int d = 0; d < p->rank; d++)
            if (s->off[d] + s->len[d] > p->dims[d])
                return rt_errorf(err, errlen, "parameter %s: shard %s lies outside its dims", p->name,
                                 s->file);
        int64_t n = numel(p->rank, s->len);
        if (n == 0)
            return rt_errorf(err, errlen, "parameter %s: shard %s is empty", p->name, s->file);
        if (s->bytes != (uint64_t)(n * es))
            return rt_errorf(err, errlen, "parameter %s: shard %s records %" PRIu64
                             " bytes, its box holds %" PRId64, p->name, s->file, s->bytes, n * es);
        if (!*s->file || strchr(s->file, '/') || !strcmp(s->file, ".") || !strcmp(s->file, ".."))
            return rt_errorf(err, errlen, "parameter %s: shard file \"%s\" is not a plain name", p->name,
                             s->file);
        for (int j = 0; j < k; j++)
            if (boxes_overlap(p->rank, s, &p->shards[j]))
                return rt_errorf(err, errlen, "parameter %s: shards %s and %s overlap", p->name,
                                 p->shards[j].file, s->file);
        covered += n;
        char path[4096];
        off_t size;
        int fd = open_shard(dir, s, path, sizeof path, &size, err, errlen);
        if (fd < 0)
            return -1;
        close(fd);
        if ((uint64_t)size != s->bytes)
            return rt_errorf(err, errlen, "%s is %s: %lld bytes, expected %" PRIu64, path,
                             (uint64_t)size < s->bytes ? "truncated" : "too long", (long long)size,
                             s->bytes);
    }
    /* disjoint boxes inside the tensor whose sizes add up to it tile it */
    if (covered != total)
        return rt_errorf(err, errlen, "parameter %s: its shards hold %" PRId64 " of %" PRId64
                         " elements", p->name, covered, total);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two entries of n names (sorted in place) that are equal, or NULL. */
static const char *duplicate(const char **names, size_t n)
{
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i]))
            return names[i];
    return NULL;
}

int rt_ckpt_check(const char *dir, const rt_ckpt *c, char *err, size_t errlen)
{
    size_t nfiles = 0;
    for (int i = 0; i < c->nparams; i++)
        nfiles += (size_t)c->params[i].nshards;
    const char **names = malloc(sizeof *names * (nfiles + (size_t)c->nparams + 1));
    if (!names)
        return rt_errorf(err, errlen, "out of memory");
    for (int i = 0; i < c->nparams; i++)
        names[i] = c->params[i].name;
    const char *twice = duplicate(names, (size_t)c->nparams);
    if (twice) {
        rt_errorf(err, errlen, "parameter %s appears twice", twice);
        free(names);
        return -1;
    }
    size_t k = 0;
    for (int i = 0; i < c->nparams; i++)
        for (int j = 0; j < c->params[i].nshards; j++)
            names[k++] = c->params[i].shards[j].file;
    twice = duplicate(names, nfiles);
    if (twice) {
        rt_errorf(err, errlen, "shard file %s appears twice", twice);
        free(names);
        return -1;
    }
    free(names);
    for (int i = 0; i < c->nparams; i++)
        if (check_param(dir, &c->params[i], err, errlen))
            return -1;
    return 0;
}

/* ---- shard files -------------------------------------------------------------------- */

static int read_all(int fd, void *buf, size_t n, off_t at)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - got, at + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

int rt_ckpt_verify(const char *dir, const rt_ckpt_shard *s, char *err, size_t errlen)
{
    char path[4096];
    off_t size;
    int fd = open_shard(dir, s, path, sizeof path, &size, err, errlen);
    if (fd < 0)
        return -1;
    enum { BLOCK = 1 << 20 };
    char *buf = malloc(BLOCK);
    uint64_t at = 0;
    uint32_t h = 0;
    int rc = 0;
    if (!buf)
        rc = rt_errorf(err, errlen, "out of memory");
    while (rc == 0 && at < (uint64_t)size) {
        size_t n = (uint64_t)size - at < BLOCK ? (size_t)((uint64_t)size - at) : BLOCK;
        if (read_all(fd, buf, n, (off_t)at))
            rc = rt_errorf(err, errlen, "cannot read %s", path);
        h = rt_crc32c(h, buf, n);
        at += n;
    }
    free(buf);
    close(fd);
    if (rc == 0 && (uint64_t)size != s->bytes)
        rc = rt_errorf(err, errlen, "%s is %s: %lld bytes, expected %" PRIu64, path,
                       (uint64_t)size < s->bytes ? "truncated" : "too long", (long long)size, s->bytes);
    if (rc == 0 && h != s->crc)
        rc = rt_errorf(err, errlen, "%s is damaged: checksum %08" PRIx32 ", expected %08" PRIx32, path,
                       h, s->crc);
    return rc;
}

int rt_ckpt_read_box(const char *dir, const rt_ckpt_param *p, const rt_ckpt_shard *s,
                     const int64_t *off, const int64_t *len, void *dst, char *err, size_t errlen)
{
    int r = p->rank;
    int64_t lo[RT_MAX_RANK], n[RT_MAX_RANK];
    for (int d = 0; d < r; d++) {
        int64_t a = off[d] > s->off[d] ? off[d] : s->off[d];
        int64_t b = off[d] + len[d] < s->off[d] + s->len[d] ? off[d] + len[d] : s->off[d] + s->len[d];
        if (b <= a)
            return 0; /* no intersection */
        lo[d] = a;
        n[d] = b - a;
    }
    /* A run covers the last dim and every dim before it whose later dims
     * are whole in both the shard and the destination. */
    int outer = r > 0 ? r - 1 : 0;
    int64_t run = r > 0 ? n[r - 1] : 1;
    while (outer > 0 && n[outer] == s->len[outer] && n[outer] == len[outer]) {
        run *= n[outer - 1];
        outer--;
    }
    char path[4096];
    off_t size;
    int fd = open_shard(dir, s, path, sizeof path, &size, err, errlen);
    if (fd < 0)
        return -1;
    size_t es = (size_t)rt_dtype_size(p->dtype);
    int64_t idx[RT_MAX_RANK] = {0};
    int rc = 0;
    for (;;) {
        int64_t src = 0, dsti = 0;
        for (int d = 0; d < r; d++) {
            int64_t g = lo[d] + (d < outer ? idx[d] : 0);
            src = src * s->len[d] + (g - s->off[d]);
            dsti = dsti * len[d] + (g - off[d]);
        }
        if (read_all(fd, (char *)dst + (size_t)dsti * es, (size_t)run * es, (off_t)((size_t)src * es))) {
            rc = rt_errorf(err, errlen, "%s is truncated: cannot read %" PRId64 " bytes at %" PRId64, path,
                           run * (int64_t)es, src * (int64_t)es);
            break;
        }
        int d = outer - 1;
        while (d >= 0 && ++idx[d] == n[d])
            idx[d--] = 0;
        if (d < 0)
            break;
    }
    close(fd);
    return rc;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int rt_ckpt_write_file(const char *dir, const char *file, const void *data, size_t bytes,
                       uint32_t *crc, char *err, size_t errlen)
{
    char path[4096];
    path_join(dir, file, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return rt_errorf(err, errlen, "cannot create %s: %s", path, errstr(errno).s);
    size_t done = 0;
    while (done < bytes) {
        ssize_t k = write(fd, (const char *)data + done, bytes - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : ENOSPC;
            close(fd);
            return rt_errorf(err, errlen, "cannot write %s: %s", path, errstr(e).s);
        }
        done += (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0)
        return rt_errorf(err, errlen, "cannot write %s: %s", path, errstr(errno).s);
    *crc = rt_crc32c(0, data, bytes);
    return 0;
}

int rt_ckpt_write_meta(const char *dir, const rt_ckpt *c, char *err, size_t errlen)
{
    char *text = rt_ckpt_format(c);
    if (!text)
        return rt_errorf(err, errlen, "out of memory");
    uint32_t h;
    int rc = rt_ckpt_write_file(dir, RT_CKPT_META, text, strlen(text), &h, err, errlen);
    free(text);
    if (rc == 0 && fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0)
        rc = rt_errorf(err, errlen, "cannot sync %s: %s", dir, errstr(errno).s);
    return rc;
}

/* ---- the directory ------------------------------------------------------------------ */

static void parent_of(const char *path, char *dir, size_t n)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') /* "ck/" is "ck" */
        len--;
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/')
            slash = path + i;
    if (!slash)
        snprintf(dir, n, ".");
    else
        snprintf(dir, n, "%.*s", (int)(slash == path ? 1 : slash - path), path);
}

int rt_ckpt_check_target(const char *dir, char *err, size_t errlen)
{
    char parent[4096], meta[4096];
    parent_of(dir, parent, sizeof parent);
    struct stat st;
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return rt_errorf(err, errlen, "cannot create %s: %s is not a directory", dir, parent);
    if (access(parent, W_OK | X_OK) != 0)
        return rt_errorf(err, errlen, "cannot create %s: %s: %s", dir, parent, errstr(errno).s);
    if (lstat(dir, &st) != 0)
        return errno == ENOENT ? 0 : rt_errorf(err, errlen, "%s: %s", dir, errstr(errno).s);
    if (!S_ISDIR(st.st_mode))
        return rt_errorf(err, errlen, "%s exists and is not a directory: it is not replaced", dir);
    path_join(dir, RT_CKPT_META, meta, sizeof meta);
    if (lstat(meta, &st) != 0)
        return rt_errorf(err, errlen, "%s exists and is not a checkpoint (no %s): it is not replaced", dir,
                         RT_CKPT_META);
    return 0;
}

int rt_ckpt_make_tmp(const char *dir, char *tmp, size_t n, char *err, size_t errlen)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if ((size_t)snprintf(tmp, n, "%.*s.tmp-XXXXXX", (int)len, dir) >= n)
        return rt_errorf(err, errlen, "%s: name too long", dir);
    if (!mkdtemp(tmp))
        return rt_errorf(err, errlen, "cannot create %s: %s", tmp, errstr(errno).s);
    return 0;
}

void rt_ckpt_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                path_join(dir, e->d_name, path, sizeof path);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(dir);
}

int rt_ckpt_commit(const char *tmp, const char *dir, char *err, size_t errlen)
{
    char parent[4096], old[4096];
    parent_of(dir, parent, sizeof parent);
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (rename(tmp, dir) != 0)
            return rt_errorf(err, errlen, "cannot rename %s to %s: %s", tmp, dir, errstr(errno).s);
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
        rt_ckpt_remove(tmp); /* now the old checkpoint */
    } else {
        /* no atomic exchange here: the old one steps aside first */
        snprintf(old, sizeof old, "%s.old", tmp);
        if (rename(dir, old) != 0)
            return rt_errorf(err, errlen, "cannot rename %s to %s: %s", dir, old, errstr(errno).s);
        if (rename(tmp, dir) != 0) {
            int e = errno;
            rename(old, dir);
            return rt_errorf(err, errlen, "cannot rename %s to %s: %s", tmp, dir, errstr(e).s);
        }
        rt_ckpt_remove(old);
    }
    if (fsync_path(parent, O_RDONLY | O_DIRECTORY) != 0)
        return rt_errorf(err, errlen, "cannot sync %s: %s", parent, errstr(errno).s);
    return 0;
}
