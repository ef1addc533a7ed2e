/* checkpoint.c - `dtc checkpoint merge DIR OUTDIR` and `dtc checkpoint info
 * DIR`: a sharded checkpoint written by a compiled program's --save, read
 * with the runtime core's reader (runtime/core/rt_ckpt.c), so the tool and
 * --load agree on the format by construction.
 *
 *   merge  checks the whole checkpoint (metadata, file sizes, every
 *          checksum), then writes OUTDIR/NAME.npy per parameter: the global
 *          tensor assembled from its shards.  OUTDIR is created if missing.
 *   info   prints the metadata: mesh, step, and per parameter its type,
 *          placement and shards.
 * Exit status: 0, 1 a bad checkpoint or file, 2 a bad command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver/driver.h"
#include "runtime/core/rt_ckpt.h"

void dtc_checkpoint_help(FILE *out)
{
    fputs("usage: dtc checkpoint merge DIR OUTDIR\n"
          "       dtc checkpoint info DIR\n"
          "A sharded checkpoint, as a compiled program's --save DIR writes it (one file per\n"
          "shard and DIR/checkpoint.json).\n"
          "  merge   check every shard (sizes, checksums) and write OUTDIR/NAME.npy, the full\n"
          "          global value of every parameter (OUTDIR is created if missing)\n"
          "  info    print the mesh, the step and every parameter's type, placement and shards\n"
          "  --help  this text\n",
          out);
}

static int usage(const char *msg)
{
    fprintf(stderr, "dtc: error: %s (see dtc checkpoint --help)\n", msg);
    return 2;
}

static char *type_str(const rt_ckpt_param *p, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s[", rt_dtype_name(p->dtype));
    for (int d = 0; d < p->rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, d ? ", " : "", p->dims[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

static int info(const char *dir)
{
    rt_ckpt c;
    char err[1024], t[256];
    if (rt_ckpt_open(dir, &c, err, sizeof err) != 0) {
        fprintf(stderr, "dtc checkpoint: error: %s\n", err);
        rt_ckpt_free(&c);
        return 1;
    }
    printf("checkpoint %s: mesh %s, %d rank%s, step %" PRId64 ", %d parameter%s\n", dir, c.mesh,
           c.ranks, c.ranks == 1 ? "" : "s", c.step, c.nparams, c.nparams == 1 ? "" : "s");
    for (int i = 0; i < c.nparams; i++) {
        const rt_ckpt_param *p = &c.params[i];
        uint64_t bytes = 0;
        for (int k = 0; k < p->nshards; k++)
            bytes += p->shards[k].bytes;
        printf("  %s: %s @ %s, %d shard%s, %" PRIu64 " bytes\n", p->name, type_str(p, t, sizeof t),
               p->placement, p->nshards, p->nshards == 1 ? "" : "s", bytes);
        for (int k = 0; k < p->nshards; k++) {
            const rt_ckpt_shard *s = &p->shards[k];
            printf("    %-24s rank %-4d box", s->file, s->rank);
            for (int d = 0; d < p->rank; d++)
                printf(" [%" PRId64 ", %" PRId64 ")", s->off[d], s->off[d] + s->len[d]);
            if (p->rank == 0)
                printf(" (scalar)");
            printf("  crc32c %08" PRIx32 "\n", s->crc);
        }
    }
    rt_ckpt_free(&c);
    return 0;
}

/* OUTDIR/NAME.npy; names that are not plain identifiers become paramI. */
static void npy_path(const char *outdir, const char *name, int i, char *buf, size_t n)
{
    bool plain = *name;
    for (const char *s = name; *s; s++)
        plain = plain && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                          (*s >= '0' && *s <= '9') || *s == '_');
    if (plain)
        snprintf(buf, n, "%s/%s.npy", outdir, name);
    else
        snprintf(buf, n, "%s/param%d.npy", outdir, i);
}

static int merge(const char *dir, const char *outdir)
{
    rt_ckpt c;
    char err[1024], path[4096], t[256];
    int rc = 1;
    if (rt_ckpt_open(dir, &c, err, sizeof err) != 0)
        goto done;
    for (int i = 0; i < c.nparams; i++)
        for (int k = 0; k < c.params[i].nshards; k++)
            if (rt_ckpt_verify(dir, &c.params[i].shards[k], err, sizeof err) != 0)
                goto done;
    struct stat st;
    if (stat(outdir, &st) != 0 && mkdir(outdir, 0777) != 0) {
        snprintf(err, sizeof err, "cannot create %s: %s", outdir, strerror(errno));
        goto done;
    }
    for (int i = 0; i < c.nparams; i++) {
        const rt_ckpt_param *p = &c.params[i];
        int64_t n = 1, zero[RT_MAX_RANK] = {0};
        for (int d = 0; d < p->rank; d++)
            n *= p->dims[d];
        void *full = calloc((size_t)n + 1, (size_t)rt_dtype_size(p->dtype));
        if (!full) {
            snprintf(err, sizeof err, "parameter %s: out of memory", p->name);
            goto done;
        }
        int bad = 0;
        for (int k = 0; !bad && k < p->nshards; k++)
            bad = rt_ckpt_read_box(dir, p, &p->shards[k], zero, p->dims, full, err, sizeof err);
        npy_path(outdir, p->name, i, path, sizeof path);
        if (!bad) {
            char e[768];
            bad = rt_npy_write(path, p->dtype, p->rank, p->dims, full, e, sizeof e);
            if (bad)
                snprintf(err, sizeof err, "parameter %s: %s", p->name, e);
        }
        free(full);
        if (bad)
            goto done;
        printf("%s: %s -> %s\n", p->name, type_str(p, t, sizeof t), path);
    }
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "dtc checkpoint: error: %s\n", err);
    rt_ckpt_free(&c);
    return rc;
}

int dtc_checkpoint(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            dtc_checkpoint_help(stdout);
            return 0;
        }
    if (argc < 3)
        return usage("dtc checkpoint needs merge or info");
    const char *what = argv[2];
    for (int i = 3; i < argc; i++)
        if (argv[i][0] == '-') {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option '%.200s'", argv[i]);
            return usage(msg);
        }
    if (!strcmp(what, "merge")) {
        if (argc != 5)
            return usage("dtc checkpoint merge takes DIR OUTDIR");
        return merge(argv[3], argv[4]);
    }
    if (!strcmp(what, "info")) {
        if (argc != 4)
            return usage("dtc checkpoint info takes DIR");
        return info(argv[3]);
    }
    char msg[256];
    snprintf(msg, sizeof msg, "unknown checkpoint command '%.200s': merge or info", what);
    return usage(msg);
}
