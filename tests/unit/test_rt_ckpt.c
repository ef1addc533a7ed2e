/* test_rt_ckpt.c - runtime/core/rt_ckpt.c, the checkpoint files, without a
 * compiled program:
 *   CRC-32C        the published check value ("123456789"), the RFC 3720
 *                  vectors (32 zeros, 32 0xff, 0..31), and any split of the
 *                  bytes into two calls equal to one call (the unaligned
 *                  head and tail around 8-byte words), the table path equal
 *                  to the one the CPU takes;
 *   round trip     metadata written by rt_ckpt_format parses back equal
 *                  (names needing escapes, a scalar, a parameter with no
 *                  shards because it is empty);
 *   boxes          a 3-D f64 tensor of 7 x 5 x 4 (and a 1-D i32 one) cut
 *                  into shards by every split of every dim over 1..4 pieces
 *                  (uneven, empty pieces skipped), written with
 *                  rt_ckpt_write_file, checked, and then every box of a
 *                  different split read back through rt_ckpt_read_box from
 *                  every shard equals the box cut from the tensor directly;
 *   bad files      rt_ckpt_check and rt_ckpt_verify refuse a truncated file,
 *                  a longer one, a flipped byte, a missing file, overlapping
 *                  shards, a gap, a box outside the dims, a file name with a
 *                  '/', a duplicate name; rt_ckpt_parse refuses broken JSON
 *                  (each with a message, no crash);
 *   target, commit rt_ckpt_check_target refuses a file and a directory that is
 *                  not a checkpoint; rt_ckpt_commit replaces an existing one.
 * Prints what it checked; exit 0 = pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/rt_ckpt.h"

#include "check_msg.h"

static char root[256];

static void fresh_dir(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", root, name);
    rt_ckpt_remove(out);
    mkdir(out, 0755);
}

/* The pieces of n over k (torch.chunk). */
static void chunk(int64_t n, int k, int i, int64_t *off, int64_t *len)
{
    int64_t c = (n + k - 1) / k, s = i * c < n ? i * c : n, e = s + c < n ? s + c : n;
    *off = s;
    *len = e - s;
}

/* Shards of p cutting dim d into k[d] pieces; each written from full. */
static void make_shards(const char *dir, rt_ckpt_param *p, const int *k, const void *full)
{
    size_t es = (size_t)rt_dtype_size(p->dtype);
    int idx[RT_MAX_RANK] = {0}, total = 1;
    for (int d = 0; d < p->rank; d++)
        total *= k[d];
    p->shards = calloc((size_t)total + 1, sizeof *p->shards);
    p->nshards = 0;
    for (int t = 0; t < total; t++) {
        rt_ckpt_shard *s = &p->shards[p->nshards];
        int64_t n = 1;
        for (int d = 0; d < p->rank; d++) {
            chunk(p->dims[d], k[d], idx[d], &s->off[d], &s->len[d]);
            n *= s->len[d];
        }
        for (int d = p->rank - 1; d >= 0; d--) {
            if (++idx[d] < k[d])
                break;
            idx[d] = 0;
        }
        if (n == 0)
            continue;
        /* the box, cut element by element */
        char *box = malloc((size_t)n * es);
        int64_t e[RT_MAX_RANK] = {0};
        for (int64_t j = 0; j < n; j++) {
            int64_t g = 0;
            for (int d = 0; d < p->rank; d++)
                g = g * p->dims[d] + s->off[d] + e[d];
            memcpy(box + (size_t)j * es, (const char *)full + (size_t)g * es, es);
            for (int d = p->rank - 1; d >= 0; d--) {
                if (++e[d] < s->len[d])
                    break;
                e[d] = 0;
            }
        }
        s->rank = t;
        s->bytes = (uint64_t)n * es;
        rt_ckpt_file_name(p->name, 0, t, s->file, sizeof s->file);
        char err[512];
        CHECK(rt_ckpt_write_file(dir, s->file, box, (size_t)n * es, &s->crc, err, sizeof err) == 0,
              "%s", err);
        free(box);
        p->nshards++;
    }
}

/* Every box of split kb read from the shards equals the tensor's. */
static void read_back(const char *dir, const rt_ckpt_param *p, const int *kb, const void *full)
{
    size_t es = (size_t)rt_dtype_size(p->dtype);
    int idx[RT_MAX_RANK] = {0}, total = 1;
    for (int d = 0; d < p->rank; d++)
        total *= kb[d];
    for (int t = 0; t < total; t++) {
        int64_t off[RT_MAX_RANK], len[RT_MAX_RANK], n = 1;
        for (int d = 0; d < p->rank; d++) {
            chunk(p->dims[d], kb[d], idx[d], &off[d], &len[d]);
            n *= len[d];
        }
        for (int d = p->rank - 1; d >= 0; d--) {
            if (++idx[d] < kb[d])
                break;
            idx[d] = 0;
        }
        char *got = calloc((size_t)n + 1, es), err[512];
        for (int s = 0; s < p->nshards; s++)
            CHECK(rt_ckpt_read_box(dir, p, &p->shards[s], off, len, got, err, sizeof err) == 0, "%s",
                  err);
        int64_t e[RT_MAX_RANK] = {0};
        int bad = 0;
        for (int64_t j = 0; j < n; j++) {
            int64_t g = 0;
            for (int d = 0; d < p->rank; d++)
                g = g * p->dims[d] + off[d] + e[d];
            bad += memcmp(got + (size_t)j * es, (const char *)full + (size_t)g * es, es) != 0;
            for (int d = p->rank - 1; d >= 0; d--) {
                if (++e[d] < len[d])
                    break;
                e[d] = 0;
            }
        }
        CHECK(bad == 0, "%s: %d wrong elements in box %d", p->name, bad, t);
        free(got);
    }
}

static void test_crc(void)
{
    unsigned char z[32] = {0}, f[32], inc[32], big[1000];
    for (int i = 0; i < 32; i++) {
        f[i] = 0xff;
        inc[i] = (unsigned char)i;
    }
    CHECK(rt_crc32c(0, "", 0) == 0, "empty");
    CHECK(rt_crc32c(0, "123456789", 9) == 0xe3069283u, "check value %08x",
          rt_crc32c(0, "123456789", 9));
    CHECK(rt_crc32c(0, z, 32) == 0x8a9136aau, "zeros");
    CHECK(rt_crc32c(0, f, 32) == 0x62a8ab43u, "ones");
    CHECK(rt_crc32c(0, inc, 32) == 0x46dd794eu, "incrementing");
    for (int i = 0; i < 1000; i++)
        big[i] = (unsigned char)(i * 131 + 7);
    int bad = 0;
    for (int start = 0; start < 9; start++) { /* every alignment of head and tail */
        size_t len = 1000u - (size_t)start;
        const unsigned char *p = big + start;
        uint32_t whole = rt_crc32c(0, p, len);
        bad += whole != rt_crc32c_table(0, p, len);
        for (size_t at = 0; at <= len; at += 3)
            bad += rt_crc32c(rt_crc32c(0, p, at), p + at, len - at) != whole;
    }
    CHECK(bad == 0, "%d splits differ", bad);
    CHECK(rt_crc32c_table(0, "123456789", 9) == 0xe3069283u, "the table's check value");
    printf("ok: CRC-32C check value, RFC 3720 vectors, split calls, table == instruction\n");
}

static void test_boxes(rt_dtype dt, int rank, const int64_t *dims)
{
    char dir[512];
    fresh_dir("boxes", dir, sizeof dir);
    rt_ckpt_param p = {.dtype = dt, .rank = rank};
    snprintf(p.name, sizeof p.name, "t");
    memcpy(p.dims, dims, sizeof(int64_t) * (size_t)rank);
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    size_t es = (size_t)rt_dtype_size(dt);
    char *full = malloc((size_t)n * es);
    for (int64_t j = 0; j < n; j++)
        rt_store_double(dt, full, j, (double)(j * 7 % 101) - 50.5 * (dt != RT_I32));
    int ka[RT_MAX_RANK] = {0}, kb[RT_MAX_RANK] = {0};
    int splits = 1, cases = 0;
    for (int d = 0; d < rank; d++)
        splits *= 4;
    for (int a = 0; a < splits; a++) {
        for (int d = 0, v = a; d < rank; d++, v /= 4)
            ka[d] = 1 + v % 4;
        rt_ckpt_remove(dir);
        mkdir(dir, 0755);
        make_shards(dir, &p, ka, full);
        rt_ckpt c = {.ranks = 1, .nparams = 1, .params = &p};
        char err[512];
        CHECK(rt_ckpt_check(dir, &c, err, sizeof err) == 0, "%s", err);
        for (int s = 0; s < p.nshards; s++)
            CHECK(rt_ckpt_verify(dir, &p.shards[s], err, sizeof err) == 0, "%s", err);
        for (int b = 0; b < splits; b += 3) {
            for (int d = 0, v = b; d < rank; d++, v /= 4)
                kb[d] = 1 + v % 4;
            read_back(dir, &p, kb, full);
            cases++;
        }
        free(p.shards);
    }
    free(full);
    printf("ok: %s rank %d: %d saved splits x read splits (%d cases) read back exactly\n",
           rt_dtype_name(dt), rank, splits, cases);
}

static void test_round_trip(void)
{
    rt_ckpt_shard s1[2] = {{.file = "w.r0.bin", .rank = 0, .off = {0, 0}, .len = {4, 5},
                            .bytes = 80, .crc = 0x01234567u},
                           {.file = "w.r2.bin", .rank = 2, .off = {4, 0}, .len = {3, 5},
                            .bytes = 60, .crc = 0xfedcba98u}};
    rt_ckpt_shard s2[1] = {{.file = "s.r0.bin", .bytes = 4, .crc = 1}};
    rt_ckpt_param ps[3] = {
        {.name = "w", .dtype = RT_F32, .rank = 2, .dims = {7, 5}, .placement = "M[S(0), R]",
         .nshards = 2, .shards = s1},
        {.name = "odd \"name\"\\\t", .dtype = RT_F64, .rank = 0, .placement = "M[R, R]",
         .nshards = 1, .shards = s2},
        {.name = "empty", .dtype = RT_I32, .rank = 1, .dims = {0}, .placement = "M[R, S(0)]"}};
    rt_ckpt c = {.mesh = "M[x=2, y=2]", .ranks = 4, .step = 123456789012345, .nparams = 3,
                 .params = ps};
    char *text = rt_ckpt_format(&c), err[512];
    rt_ckpt back;
    CHECK(text && rt_ckpt_parse(text, strlen(text), &back, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(back.mesh, c.mesh) && back.ranks == 4 && back.step == c.step &&
              back.nparams == 3, "header");
    for (int i = 0; i < 3 && back.nparams == 3; i++) {
        const rt_ckpt_param *a = &ps[i], *b = &back.params[i];
        CHECK(!strcmp(a->name, b->name) && a->dtype == b->dtype && a->rank == b->rank &&
                  !memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) &&
                  !strcmp(a->placement, b->placement) && a->nshards == b->nshards,
              "parameter %d", i);
        for (int k = 0; k < a->nshards && a->nshards == b->nshards; k++) {
            const rt_ckpt_shard *x = &a->shards[k], *y = &b->shards[k];
            CHECK(!strcmp(x->file, y->file) && x->rank == y->rank && x->bytes == y->bytes &&
                      x->crc == y->crc &&
                      !memcmp(x->off, y->off, sizeof(int64_t) * (size_t)a->rank) &&
                      !memcmp(x->len, y->len, sizeof(int64_t) * (size_t)a->rank),
                  "parameter %d shard %d", i, k);
        }
    }
    CHECK(rt_ckpt_find(&back, "w") == &back.params[0] && !rt_ckpt_find(&back, "v"), "find");
    rt_ckpt_free(&back);
    /* broken documents: a message each */
    static const char *const bad[] = {
        "", "{", "[]", "{\"format\": \"other\"}", "{\"format\": \"dtc-checkpoint\"}",
        "{\"format\": \"dtc-checkpoint\", \"version\": 2}",
        "{\"format\": \"dtc-checkpoint\", \"version\": 1, \"mesh\": \"M\", \"ranks\": 1, "
        "\"step\": -1, \"checksum\": \"crc32c\", \"params\": []}",
        "{\"format\": \"dtc-checkpoint\", \"version\": 1, \"mesh\": \"M\", \"ranks\": 1, "
        "\"step\": 0, \"checksum\": \"crc32c\", \"params\": [{\"name\": \"x\", \"dtype\": "
        "\"f32\", \"dims\": [2], \"placement\": \"M[R]\", \"shards\": [{\"file\": \"x\", "
        "\"rank\": 0, \"offset\": [0, 0], \"length\": [2], \"bytes\": 8, \"crc32c\": \"0\"}]}]}",
        "{\"format\": \"dtc-checkpoint\",, }", "{\"a\": \"\\u00e9\"}", "{\"a\": tru}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(rt_ckpt_parse(bad[i], strlen(bad[i]), &back, err, sizeof err) != 0 && err[0],
              "document %zu parsed", i);
        rt_ckpt_free(&back);
    }
    /* the writer's own text again, cut short anywhere: an error, never a crash */
    size_t len = strlen(text);
    int refused = 0, cuts = 0;
    for (size_t cut = 0; cut + 1 < len; cut += 7, cuts++) { /* the last '}' goes */
        refused += rt_ckpt_parse(text, cut, &back, err, sizeof err) != 0;
        rt_ckpt_free(&back);
    }
    CHECK(refused == cuts, "%d of %d cut documents parsed", cuts - refused, cuts);
    free(text);
    printf("ok: metadata round trip; %zu broken documents and %d cut ones refused\n",
           sizeof bad / sizeof bad[0], refused);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static void test_bad_files(void)
{
    char dir[512], path[800], err[512];
    fresh_dir("bad", dir, sizeof dir);
    float full[12];
    for (int i = 0; i < 12; i++)
        full[i] = (float)i;
    rt_ckpt_param p = {.name = "x", .dtype = RT_F32, .rank = 2, .dims = {3, 4}};
    int k[2] = {2, 1};
    make_shards(dir, &p, k, full); /* rows [0, 2) and [2, 3) */
    rt_ckpt c = {.ranks = 2, .nparams = 1, .params = &p};
    CHECK(rt_ckpt_check(dir, &c, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/%s", dir, p.shards[1].file);
    int cases = 0;
#define EXPECT_BAD(what, call, words)                                                     \
    do {                                                                                  \
        err[0] = 0;                                                                       \
        CHECK((call) != 0 && strstr(err, words), "%s: '%s' lacks '%s'", what, err, words); \
        cases++;                                                                          \
    } while (0)
    write_bytes(path, full + 8, 12); /* 4 bytes short */
    EXPECT_BAD("truncated", rt_ckpt_check(dir, &c, err, sizeof err), "truncated");
    EXPECT_BAD("truncated", rt_ckpt_verify(dir, &p.shards[1], err, sizeof err), "truncated");
    int64_t off[2] = {0, 0}, len[2] = {3, 4};
    float got[12];
    EXPECT_BAD("truncated", rt_ckpt_read_box(dir, &p, &p.shards[1], off, len, got, err, sizeof err),
               "truncated");
    float longer[5] = {8, 9, 10, 11, 12};
    write_bytes(path, longer, sizeof longer);
    EXPECT_BAD("too long", rt_ckpt_check(dir, &c, err, sizeof err), "too long");
    float flipped[4] = {8, 9, 10.5f, 11};
    write_bytes(path, flipped, sizeof flipped);
    CHECK(rt_ckpt_check(dir, &c, err, sizeof err) == 0, "sizes are right: %s", err);
    EXPECT_BAD("flipped", rt_ckpt_verify(dir, &p.shards[1], err, sizeof err), "checksum");
    unlink(path);
    EXPECT_BAD("missing", rt_ckpt_check(dir, &c, err, sizeof err), "cannot open");
    write_bytes(path, full + 8, 16);
    CHECK(rt_ckpt_check(dir, &c, err, sizeof err) == 0, "restored: %s", err);
    p.shards[1].off[0] = 1;
    EXPECT_BAD("overlap", rt_ckpt_check(dir, &c, err, sizeof err), "overlap");
    p.shards[1].off[0] = 3;
    EXPECT_BAD("outside", rt_ckpt_check(dir, &c, err, sizeof err), "outside");
    p.shards[1].off[0] = 2;
    p.nshards = 1;
    EXPECT_BAD("gap", rt_ckpt_check(dir, &c, err, sizeof err), "elements");
    p.nshards = 2;
    snprintf(p.shards[1].file, sizeof p.shards[1].file, "../x.bin");
    EXPECT_BAD("slash", rt_ckpt_check(dir, &c, err, sizeof err), "plain name");
    rt_ckpt_file_name("x", 0, 1, p.shards[1].file, sizeof p.shards[1].file);
    rt_ckpt_param two[2] = {p, p};
    rt_ckpt c2 = {.ranks = 2, .nparams = 2, .params = two};
    EXPECT_BAD("twice", rt_ckpt_check(dir, &c2, err, sizeof err), "parameter x appears twice");
    snprintf(two[1].name, sizeof two[1].name, "y");
    EXPECT_BAD("a file twice", rt_ckpt_check(dir, &c2, err, sizeof err),
               "shard file x.r0.bin appears twice");
    CHECK(rt_ckpt_check(dir, &c, err, sizeof err) == 0, "restored: %s", err);
    free(p.shards);
    printf("ok: %d damaged checkpoints refused with a message\n", cases);
}

static void test_target(void)
{
    char dir[512], tmp[600], file[600], err[512];
    fresh_dir("target", dir, sizeof dir);
    snprintf(file, sizeof file, "%s/plain", dir);
    write_bytes(file, "x", 1);
    CHECK(rt_ckpt_check_target(file, err, sizeof err) != 0 && strstr(err, "not a directory"),
          "a file: %s", err);
    char other[600];
    snprintf(other, sizeof other, "%s/other", dir);
    mkdir(other, 0755);
    CHECK(rt_ckpt_check_target(other, err, sizeof err) != 0 && strstr(err, "not a checkpoint"),
          "a directory: %s", err);
    char ck[600];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    CHECK(rt_ckpt_check_target(ck, err, sizeof err) == 0, "absent: %s", err);
    for (int round = 0; round < 2; round++) { /* create, then replace */
        CHECK(rt_ckpt_make_tmp(ck, tmp, sizeof tmp, err, sizeof err) == 0, "%s", err);
        rt_ckpt c = {.mesh = "M[x=1]", .ranks = 1, .step = round};
        CHECK(rt_ckpt_write_meta(tmp, &c, err, sizeof err) == 0, "%s", err);
        CHECK(rt_ckpt_check_target(ck, err, sizeof err) == 0, "a checkpoint: %s", err);
        CHECK(rt_ckpt_commit(tmp, ck, err, sizeof err) == 0, "%s", err);
        rt_ckpt back;
        CHECK(rt_ckpt_open(ck, &back, err, sizeof err) == 0 && back.step == round, "%s", err);
        rt_ckpt_free(&back);
        struct stat st;
        CHECK(stat(tmp, &st) != 0, "%s left behind", tmp);
    }
    printf("ok: targets checked; a checkpoint created and replaced\n");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_rt_ckpt.XXXXXX");
    if (!mkdtemp(root)) {
        printf("FAIL: no temporary directory\n");
        return 1;
    }
    test_crc();
    test_round_trip();
    int64_t d3[3] = {7, 5, 4}, d1[1] = {9};
    test_boxes(RT_F64, 3, d3);
    test_boxes(RT_I32, 1, d1);
    test_bad_files();
    test_target();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", root);
    printf("%s: %d checks, %d failures\n", failures ? "FAIL" : "ok", checks, failures);
    return failures != 0;
}
