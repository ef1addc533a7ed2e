/* test_npy.c - runtime/core .npy I/O: round trips for every dtype (scalars,
 * empty and 1-d shapes), every malformed-file error, atomic writes (no
 * temporary left behind, no file on failure), and, when numpy is available
 * ($PY or /usr/bin/python3), files exchanged with numpy both ways. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/rt_core.h"

#include "check_msg.h"

static char dir[256];

static const char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        printf("FAIL: cannot write fixture %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* A .npy with the given version and dict text, then `data` bytes. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data,
                          size_t ndata)
{
    unsigned char buf[4096];
    size_t hl = strlen(dict), k = 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    k = 8;
    if (major == 1) {
        buf[k++] = (unsigned char)(hl & 0xff);
        buf[k++] = (unsigned char)(hl >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            buf[k++] = (unsigned char)(hl >> (8 * i));
    }
    memcpy(buf + k, dict, hl);
    k += hl;
    if (ndata)
        memcpy(buf + k, data, ndata);
    write_bytes(path, buf, k + ndata);
}

static int count_tmp_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_round_trip(void)
{
    const rt_dtype dts[] = {RT_F32, RT_F64, RT_I32, RT_F16};
    const struct {
        int rank;
        int64_t dims[3];
    } shapes[] = {{0, {0}}, {1, {5}}, {2, {2, 3}}, {1, {0}}, {3, {3, 0, 2}}, {3, {2, 1, 4}}};
    int n = 0;
    char err[256];
    for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int64_t numel = 1;
            for (int d = 0; d < shapes[si].rank; d++)
                numel *= shapes[si].dims[d];
            unsigned char data[64 * 8];
            int es = rt_dtype_size(dts[di]);
            for (int64_t i = 0; i < numel; i++)
                rt_store_double(dts[di], data, i, (double)(i * 3 - 7) * 0.5);
            const char *p = path_in("rt.npy");
            int rc = rt_npy_write(p, dts[di], shapes[si].rank, shapes[si].dims, data, err, sizeof err);
            CHECK(rc == 0, "write: %s", err);
            /* header is 64-byte aligned and ends in '\n' (numpy's layout) */
            struct stat st;
            stat(p, &st);
            CHECK((st.st_size - numel * es) % 64 == 0, "data not 64-byte aligned");
            rt_npy t;
            rc = rt_npy_read(p, &t, err, sizeof err);
            CHECK(rc == 0, "read: %s", err);
            if (rc != 0)
                continue;
            CHECK(t.dtype == dts[di] && t.rank == shapes[si].rank, "dtype/rank");
            for (int d = 0; d < t.rank; d++)
                CHECK(t.dims[d] == shapes[si].dims[d], "dim %d", d);
            CHECK(numel == 0 || !memcmp(t.data, data, (size_t)(numel * es)), "data differs");
            rt_npy_free(&t);
            n++;
        }
    CHECK(count_tmp_files() == 0, "a temporary file was left behind");
    printf("ok: %d round trips (f32 f64 i32 f16; shapes (), (5,), (2,3), (0,), (3,0,2), (2,1,4)); "
           "no temporary file left\n",
           n);
}

/* rt_npy_read must fail with a message containing `want`. */
static void expect_error(const char *name, const char *want)
{
    char err[512] = "";
    rt_npy t;
    int rc = rt_npy_read(path_in(name), &t, err, sizeof err);
    CHECK(rc == -1, "%s: read succeeded", name);
    CHECK(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", name, err, want);
    CHECK(strchr(err, '\n') == NULL, "%s: message is not one line", name);
    CHECK(t.data == NULL, "%s: data left allocated", name);
    printf("  %-16s -> %s\n", name, err);
}

static void test_errors(void)
{
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n";
    float four[4] = {1, 2, 3, 4};
    write_npy_raw(path_in("short_data.npy"), 1, ok, four, 12);
    write_bytes(path_in("bad_magic.npy"), "PK\x03\x04 not numpy at all", 22);
    write_bytes(path_in("empty.npy"), "", 0);
    write_bytes(path_in("short_magic.npy"), "\x93NUMPY\x01", 7);
    write_bytes(path_in("short_len.npy"), "\x93NUMPY\x01\x00\x40", 9);
    /* header says 118 bytes, file has fewer */
    write_bytes(path_in("short_header.npy"), "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4'", 25);
    write_npy_raw(path_in("i8.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n",
                  four, 16);
    write_npy_raw(path_in("big_endian.npy"), 1,
                  "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }\n", four, 16);
    write_npy_raw(path_in("fortran.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", four, 16);
    write_npy_raw(path_in("version9.npy"), 9, ok, four, 16);
    write_npy_raw(path_in("bad_shape.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }\n", four, 16);
    write_npy_raw(path_in("neg_shape.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }\n", four, 16);
    write_npy_raw(path_in("rank9.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n",
                  four, 4);
    write_npy_raw(path_in("no_shape.npy"), 1, "{'descr': '<f4', 'fortran_order': False, }\n", four,
                  16);
    write_npy_raw(path_in("huge.npy"), 1,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n",
                  four, 16);
    write_npy_raw(path_in("lying.npy"), 1,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }\n", four, 16);
    write_npy_raw(path_in("not_dict.npy"), 1, "[1, 2, 3]\n", four, 16);
    printf("malformed inputs:\n");
    expect_error("missing.npy", "cannot open");
    expect_error("missing.npy", "No such file");
    expect_error("empty.npy", "bad magic");
    expect_error("bad_magic.npy", "bad magic");
    expect_error("short_magic.npy", "truncated header");
    expect_error("short_len.npy", "truncated header");
    expect_error("short_header.npy", "truncated header: expected 118 bytes");
    expect_error("short_data.npy", "truncated: expected 16 bytes of data, found 12");
    expect_error("i8.npy", "dtype <i8 is not supported");
    expect_error("big_endian.npy", "dtype >f4 is not supported");
    expect_error("fortran.npy", "Fortran-order");
    expect_error("version9.npy", "unsupported .npy version 9.0");
    expect_error("bad_shape.npy", "'shape'");
    expect_error("neg_shape.npy", "'shape'");
    expect_error("rank9.npy", "more than 8 dimensions");
    expect_error("no_shape.npy", "missing");
    expect_error("huge.npy", "too large");
    expect_error("lying.npy", "truncated");
    expect_error("not_dict.npy", "malformed header");

    /* Things that are fine: version 2.0 and 3.0 headers, trailing data,
     * double-quoted keys, a 'shape' of (3L,). */
    float five[5] = {1, 2, 3, 4, 5};
    write_npy_raw(path_in("v2.npy"), 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n",
                  four, 16);
    write_npy_raw(path_in("v3.npy"), 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3L,)}\n",
                  five, 20);
    write_npy_raw(path_in("trailing.npy"), 1, ok, five, 20);
    const char *fine[] = {"v2.npy", "v3.npy", "trailing.npy"};
    for (int i = 0; i < 3; i++) {
        char err[256];
        rt_npy t;
        int rc = rt_npy_read(path_in(fine[i]), &t, err, sizeof err);
        CHECK(rc == 0, "%s: %s", fine[i], err);
        if (rc == 0) {
            CHECK(((float *)t.data)[0] == 1 && ((float *)t.data)[2] == 3, "%s data", fine[i]);
            rt_npy_free(&t);
        }
    }
    printf("ok: every malformed file gives a one-line error; v2.0/v3.0 headers and trailing data "
           "are read\n");
}

static void test_write_failures(void)
{
    char err[512];
    float x[2] = {1, 2};
    int64_t dims[1] = {2};
    const char *p = path_in("no_such_dir/out.npy");
    int rc = rt_npy_write(p, RT_F32, 1, dims, x, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "cannot write"), "write into a missing directory: %s", err);
    printf("  missing directory -> %s\n", err);
    rc = rt_npy_write(path_in("bf.npy"), RT_BF16, 1, dims, x, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "bf16"), "bf16 write: %s", err);
    CHECK(access(path_in("bf.npy"), F_OK) != 0, "a failed write left a file");
    printf("  bf16 -> %s\n", err);
    /* Overwriting keeps the file whole: the old content is replaced only at the end. */
    rc = rt_npy_write(path_in("over.npy"), RT_F32, 1, dims, x, err, sizeof err);
    float y[2] = {3, 4};
    rc |= rt_npy_write(path_in("over.npy"), RT_F32, 1, dims, y, err, sizeof err);
    rt_npy t;
    rc |= rt_npy_read(path_in("over.npy"), &t, err, sizeof err);
    CHECK(rc == 0 && ((float *)t.data)[1] == 4, "overwrite");
    if (rc == 0)
        rt_npy_free(&t);
    CHECK(count_tmp_files() == 0, "a temporary file was left behind");
    printf("ok: failed writes report and leave nothing; overwrite is atomic\n");
}

/* numpy reads what we write and we read what numpy writes. */
static void test_numpy(void)
{
    const char *py = getenv("PY");
    if (!py || !*py)
        py = "/usr/bin/python3";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", py);
    if (system(cmd) != 0) {
        printf("ok: numpy interop not checked (no numpy at %s)\n", py);
        return;
    }
    char err[256];
    double d[6] = {0.5, -1, 2, 3.25, 1e-300, -0.0};
    int64_t dims[2] = {2, 3};
    CHECK(rt_npy_write(path_in("ours.npy"), RT_F64, 2, dims, d, err, sizeof err) == 0, "%s", err);
    int32_t s = -7;
    CHECK(rt_npy_write(path_in("scalar.npy"), RT_I32, 0, NULL, &s, err, sizeof err) == 0, "%s", err);
    snprintf(cmd, sizeof cmd,
             "cd %s && %s -c \"\n"
             "import numpy as np\n"
             "a = np.load('ours.npy'); assert a.dtype == np.float64 and a.shape == (2, 3), a\n"
             "assert (a.ravel() == [0.5, -1, 2, 3.25, 1e-300, -0.0]).all()\n"
             "s = np.load('scalar.npy'); assert s.shape == () and s.dtype == np.int32 and s == -7\n"
             "np.save('np_f32.npy', np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5)\n"
             "np.save('np_i32.npy', np.array([[-1, 2**31 - 1]], dtype=np.int32))\n"
             "np.save('np_f16.npy', np.array([0.1, 65504, -2], dtype=np.float16))\n"
             "np.save('np_empty.npy', np.zeros((0, 5), dtype=np.float32))\n"
             "np.save('np_scalar.npy', np.float64(2.5))\n"
             "np.save('np_fortran.npy', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))\n"
             "np.save('np_i64.npy', np.arange(3))\n"
             "\"",
             dir, py);
    int rc = system(cmd);
    CHECK(rc == 0, "numpy could not read our files (exit %d)", rc);
    if (rc != 0)
        return;
    rt_npy t;
    CHECK(rt_npy_read(path_in("np_f32.npy"), &t, err, sizeof err) == 0, "%s", err);
    CHECK(t.dtype == RT_F32 && t.rank == 3 && t.dims[2] == 4 && ((float *)t.data)[23] == 11.5f,
          "np_f32");
    rt_npy_free(&t);
    CHECK(rt_npy_read(path_in("np_i32.npy"), &t, err, sizeof err) == 0, "%s", err);
    CHECK(t.dtype == RT_I32 && ((int32_t *)t.data)[1] == INT32_MAX, "np_i32");
    rt_npy_free(&t);
    CHECK(rt_npy_read(path_in("np_f16.npy"), &t, err, sizeof err) == 0, "%s", err);
    CHECK(t.dtype == RT_F16 && ((uint16_t *)t.data)[0] == 0x2e66 && ((uint16_t *)t.data)[1] == 0x7bff,
          "np_f16");
    rt_npy_free(&t);
    CHECK(rt_npy_read(path_in("np_empty.npy"), &t, err, sizeof err) == 0, "%s", err);
    CHECK(t.rank == 2 && t.dims[0] == 0 && t.dims[1] == 5, "np_empty");
    rt_npy_free(&t);
    CHECK(rt_npy_read(path_in("np_scalar.npy"), &t, err, sizeof err) == 0, "%s", err);
    CHECK(t.rank == 0 && t.dtype == RT_F64 && ((double *)t.data)[0] == 2.5, "np_scalar");
    rt_npy_free(&t);
    CHECK(rt_npy_read(path_in("np_fortran.npy"), &t, err, sizeof err) == -1 &&
              strstr(err, "Fortran"),
          "np_fortran: %s", err);
    CHECK(rt_npy_read(path_in("np_i64.npy"), &t, err, sizeof err) == -1 && strstr(err, "<i8"),
          "np_i64: %s", err);
    printf("ok: numpy loads our f64 / i32 scalar files; we load numpy's f32, i32, f16, empty and "
           "scalar files and refuse its Fortran-order and int64 ones\n");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_npy.XXXXXX");
    if (!mkdtemp(dir)) {
        printf("FAIL: mkdtemp\n");
        return 1;
    }
    test_round_trip();
    test_errors();
    test_write_failures();
    test_numpy();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all npy checks passed\n");
    return 0;
}
