/* rt_npy.c - reading and writing NumPy .npy files.
 *
 * Format (numpy/lib/format.py): "\x93NUMPY", major, minor, header length
 * (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), then an
 * ASCII Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } padded with spaces and ended by '\n', then the raw
 * data.  We read versions 1.0, 2.0 and 3.0 and write 1.0.  Supported dtypes:
 * '<f4', '<f8', '<i4', '<f2'; C order only.  Data after the array is
 * ignored.  The host is assumed little-endian (x86-64, aarch64).
 *
 * Every malformed input ends in a one-line message in err and a -1 return;
 * nothing here aborts or exits.
 */
#include "runtime/core/rt_core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAX_HEADER (1u << 20) /* far beyond any real header */

static const char *errno_str(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

static const struct {
    const char *descr;
    rt_dtype dt;
} npy_dtypes[] = {
    {"<f4", RT_F32},
    {"<f8", RT_F64},
    {"<i4", RT_I32},
    {"<f2", RT_F16},
};

/* ---- header dict parsing ------------------------------------------------------ */

typedef struct Hdr {
    const char *s, *end;
} Hdr;

static void skip_ws(Hdr *h)
{
    while (h->s < h->end && (*h->s == ' ' || *h->s == '\t' || *h->s == '\n' || *h->s == '\r'))
        h->s++;
}

static int eat(Hdr *h, char c)
{
    skip_ws(h);
    if (h->s < h->end && *h->s == c) {
        h->s++;
        return 1;
    }
    return 0;
}

/* A quoted Python string literal (no escapes needed here) into buf. */
static int parse_str(Hdr *h, char *buf, size_t n)
{
    skip_ws(h);
    if (h->s >= h->end || (*h->s != '\'' && *h->s != '"'))
        return 0;
    char q = *h->s++;
    size_t k = 0;
    while (h->s < h->end && *h->s != q) {
        if (k + 1 >= n)
            return 0;
        buf[k++] = *h->s++;
    }
    if (h->s >= h->end)
        return 0;
    h->s++;
    buf[k] = 0;
    return 1;
}

static int parse_word(Hdr *h, const char *w)
{
    skip_ws(h);
    size_t n = strlen(w);
    if ((size_t)(h->end - h->s) >= n && !memcmp(h->s, w, n)) {
        h->s += n;
        return 1;
    }
    return 0;
}

/* "(2, 3)", "(4,)", "()"; 1 on success, 0 on bad syntax, -1 on too many dims. */
static int parse_shape(Hdr *h, int *rank, int64_t *dims)
{
    if (!eat(h, '('))
        return 0;
    *rank = 0;
    for (;;) {
        if (eat(h, ')'))
            return 1;
        skip_ws(h);
        if (h->s >= h->end || *h->s < '0' || *h->s > '9')
            return 0;
        int64_t v = 0;
        while (h->s < h->end && *h->s >= '0' && *h->s <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return 0;
            v = v * 10 + (*h->s++ - '0');
        }
        skip_ws(h);
        if (h->s < h->end && *h->s == 'L') /* Python 2 longs */
            h->s++;
        if (*rank == RT_MAX_RANK)
            return -1;
        dims[(*rank)++] = v;
        if (!eat(h, ',')) {
            if (eat(h, ')'))
                return 1;
            return 0;
        }
    }
}

/* Parses the dict; fills descr, fortran and the shape.  Returns NULL or a
 * reason. */
static const char *parse_header(const char *text, size_t n, char *descr, size_t dn,
                                int *fortran, int *rank, int64_t *dims)
{
    Hdr h = {text, text + n};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (!eat(&h, '{'))
        return "malformed header: expected '{'";
    for (;;) {
        if (eat(&h, '}'))
            break;
        char key[32];
        if (!parse_str(&h, key, sizeof key))
            return "malformed header: expected a quoted key";
        if (!eat(&h, ':'))
            return "malformed header: expected ':'";
        if (!strcmp(key, "descr")) {
            if (!parse_str(&h, descr, dn))
                return "malformed header: 'descr' is not a simple dtype string";
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (parse_word(&h, "True"))
                *fortran = 1;
            else if (parse_word(&h, "False"))
                *fortran = 0;
            else
                return "malformed header: 'fortran_order' is not True or False";
            have_fortran = 1;
        } else if (!strcmp(key, "shape")) {
            int r = parse_shape(&h, rank, dims);
            if (r < 0)
                return "arrays of more than 8 dimensions are not supported";
            if (r == 0)
                return "malformed header: 'shape' is not a tuple of integers";
            have_shape = 1;
        } else {
            return "malformed header: unknown key";
        }
        if (!eat(&h, ',')) {
            if (eat(&h, '}'))
                break;
            return "malformed header: expected ',' or '}'";
        }
    }
    if (!have_descr || !have_fortran || !have_shape)
        return "malformed header: missing 'descr', 'fortran_order' or 'shape'";
    return NULL;
}

/* ---- reading ------------------------------------------------------------------- */

/* rt_npy_read, or with data_off only the header (checked against the file's
 * size) and where the data starts. */
static int read_npy(const char *path, rt_npy *out, int64_t *data_off, char *err, size_t errlen)
{
    char eb[128];
    memset(out, 0, sizeof *out);
    /* Opened without blocking and checked before reading: a FIFO with no
     * writer, a directory or a device is refused instead of hanging. */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return rt_errorf(err, errlen, "cannot open %s: %s", path, errno_str(errno, eb, sizeof eb));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *what = S_ISFIFO(st.st_mode)  ? "a FIFO"
                           : S_ISDIR(st.st_mode) ? "a directory"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "not a regular file";
        close(fd);
        return rt_errorf(err, errlen, "%s is %s, not a regular .npy file", path, what);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return rt_errorf(err, errlen, "cannot open %s: %s", path, errno_str(e, eb, sizeof eb));
    }
    int rc = -1;
    char *hdr = NULL;
    void *data = NULL;
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rt_errorf(err, errlen, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (got < 8) {
        rt_errorf(err, errlen, "%s: truncated header", path);
        goto done;
    }
    int major = pre[6], minor = pre[7];
    size_t lenbytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
    if (!lenbytes) {
        rt_errorf(err, errlen, "%s: unsupported .npy version %d.%d", path, major, minor);
        goto done;
    }
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
        rt_errorf(err, errlen, "%s: truncated header", path);
        goto done;
    }
    uint32_t hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    if (lenbytes == 4)
        hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER) {
        rt_errorf(err, errlen, "%s: header of %u bytes is too large", path, (unsigned)hlen);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        rt_errorf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    got = fread(hdr, 1, hlen, f);
    if (got != hlen) {
        rt_errorf(err, errlen, "%s: truncated header: expected %u bytes, found %zu", path,
                  (unsigned)hlen, got);
        goto done;
    }
    hdr[hlen] = 0;

    char descr[32];
    int fortran = 0;
    const char *why = parse_header(hdr, hlen, descr, sizeof descr, &fortran, &out->rank, out->dims);
    if (why) {
        rt_errorf(err, errlen, "%s: %s", path, why);
        goto done;
    }
    int found = 0;
    for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
        if (!strcmp(descr, npy_dtypes[i].descr)) {
            out->dtype = npy_dtypes[i].dt;
            found = 1;
        }
    if (!found) {
        rt_errorf(err, errlen, "%s: dtype %s is not supported (expected <f4, <f8, <i4 or <f2)", path,
                  descr);
        goto done;
    }
    if (fortran) {
        rt_errorf(err, errlen, "%s: Fortran-order arrays are not supported (save a C-order array)",
                  path);
        goto done;
    }
    /* Size with overflow checks: a hostile header must not make us allocate
     * or multiply past 2^62. */
    int64_t numel = 1;
    for (int d = 0; d < out->rank; d++) {
        int64_t n = out->dims[d];
        if (n != 0 && numel > ((int64_t)1 << 62) / n) {
            rt_errorf(err, errlen, "%s: shape is too large", path);
            goto done;
        }
        numel *= n;
    }
    int64_t nbytes = numel * rt_dtype_size(out->dtype);
    if (nbytes / rt_dtype_size(out->dtype) != numel || nbytes > ((int64_t)1 << 62)) {
        rt_errorf(err, errlen, "%s: shape is too large", path);
        goto done;
    }
    /* Compare with the file size first, so a lying header costs no memory. */
    long pos = ftell(f);
    if (pos >= 0 && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
        (int64_t)st.st_size - pos < nbytes) {
        rt_errorf(err, errlen, "%s: truncated: expected %lld bytes of data, found %lld", path,
                  (long long)nbytes, (long long)((int64_t)st.st_size - pos));
        goto done;
    }
    if (data_off) {
        if (pos < 0 || !S_ISREG(st.st_mode)) {
            rt_errorf(err, errlen, "%s: cannot tell where its data starts", path);
            goto done;
        }
        *data_off = pos;
        rc = 0;
        goto done;
    }
    data = malloc(nbytes > 0 ? (size_t)nbytes : 1);
    if (!data) {
        rt_errorf(err, errlen, "%s: out of memory reading %lld bytes", path, (long long)nbytes);
        goto done;
    }
    got = fread(data, 1, (size_t)nbytes, f);
    if ((int64_t)got != nbytes) {
        if (ferror(f))
            rt_errorf(err, errlen, "%s: read error: %s", path, errno_str(errno, eb, sizeof eb));
        else
            rt_errorf(err, errlen, "%s: truncated: expected %lld bytes of data, found %zu", path,
                      (long long)nbytes, got);
        goto done;
    }
    out->data = data;
    data = NULL;
    rc = 0;
done:
    if (rc != 0)
        memset(out, 0, sizeof *out);
    free(hdr);
    free(data);
    fclose(f);
    return rc;
}

int rt_npy_read(const char *path, rt_npy *out, char *err, size_t errlen)
{
    return read_npy(path, out, NULL, err, errlen);
}

int rt_npy_read_header(const char *path, rt_npy *out, int64_t *data_off, char *err, size_t errlen)
{
    return read_npy(path, out, data_off, err, errlen);
}

int rt_npy_read_box(const char *path, const rt_npy *hdr, int64_t data_off, const int64_t *off,
                    const int64_t *len, void *out, char *err, size_t errlen)
{
    char eb[128];
    int rank = hdr->rank;
    int64_t es = rt_dtype_size(hdr->dtype), n = 1;
    for (int d = 0; d < rank; d++)
        n *= len[d];
    if (n == 0)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rt_errorf(err, errlen, "cannot open %s: %s", path, errno_str(errno, eb, sizeof eb));
    /* row by row: the last dim is contiguous in the file and in the box */
    int64_t stride[RT_MAX_RANK], idx[RT_MAX_RANK];
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = s;
        s *= hdr->dims[d];
        idx[d] = 0;
    }
    int64_t inner = rank > 0 ? len[rank - 1] : 1;
    char *at = out;
    int rc = 0;
    for (;;) {
        int64_t g = 0;
        for (int d = 0; d < rank; d++)
            g += (off[d] + idx[d]) * stride[d];
        if (fseeko(f, (off_t)(data_off + g * es), SEEK_SET) != 0 ||
            fread(at, (size_t)es, (size_t)inner, f) != (size_t)inner) {
            rc = rt_errorf(err, errlen, "%s: read error (the file changed while it was read?)", path);
            break;
        }
        at += inner * es;
        int d = rank - 2;
        while (d >= 0 && ++idx[d] == len[d])
            idx[d--] = 0;
        if (d < 0)
            break;
    }
    fclose(f);
    return rc;
}

void rt_npy_free(rt_npy *t)
{
    if (!t)
        return;
    free(t->data);
    t->data = NULL;
}

/* ---- writing ------------------------------------------------------------------- */

static const char *npy_descr(rt_dtype dt)
{
    for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
        if (npy_dtypes[i].dt == dt)
            return npy_dtypes[i].descr;
    return NULL;
}

int rt_npy_write(const char *path, rt_dtype dt, int rank, const int64_t *dims,
                 const void *data, char *err, size_t errlen)
{
    char eb[128];
    const char *descr = npy_descr(dt);
    if (!descr)
        return rt_errorf(err, errlen, "cannot write %s: dtype %s has no .npy equivalent (convert to f32)",
                         path, rt_dtype_name(dt));
    if (rank < 0 || rank > RT_MAX_RANK)
        return rt_errorf(err, errlen, "cannot write %s: rank %d is not supported", path, rank);

    /* Header: magic, version 1.0, length, dict padded with spaces so that
     * the data starts at a multiple of 64 bytes, then '\n'. */
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%lld", d ? ", " : "",
                      (long long)dims[d]);
        numel *= dims[d];
    }
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", rank == 1 ? "," : "");
    size_t total = 10 + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)k + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    memset(dict + k, ' ', pad);
    dict[k + (int)pad] = '\n';

    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return rt_errorf(err, errlen, "cannot write %s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return rt_errorf(err, errlen, "cannot write %s: %s", path, errno_str(errno, eb, sizeof eb));
    size_t nbytes = (size_t)numel * (size_t)rt_dtype_size(dt);
    int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(dict, 1, hlen, f) == hlen &&
             (nbytes == 0 || fwrite(data, 1, nbytes, f) == nbytes);
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return rt_errorf(err, errlen, "cannot write %s: %s", path, errno_str(e, eb, sizeof eb));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return rt_errorf(err, errlen, "cannot write %s: %s", path, errno_str(e, eb, sizeof eb));
    }
    return 0;
}
