/* rt_ckpt.h - sharded checkpoints on disk: the one reader and writer of the
 * format (runtime/README.md, "Checkpoints"), shared by compiled programs
 * (--save / --load, runtime/ckpt.c) and the compiler (`dtc checkpoint`).
 *
 * A checkpoint is a directory: DIR/checkpoint.json (mesh, step, and per
 * parameter its name, dtype, global dims, placement and shards) and one file
 * per shard: the raw little-endian row-major bytes of one box of the global
 * tensor, with its CRC-32C checksum in the metadata.  The shards of a
 * parameter tile its global tensor exactly (no overlap, no gap), so any
 * reader can cut any box out of them.
 *
 * No MPI, no threads, no global state; every failure is a one-line message
 * in err and a -1 return.
 */
#ifndef DTRT_CKPT_H
#define DTRT_CKPT_H

#include "runtime/core/rt_core.h"

#define RT_CKPT_META "checkpoint.json"
#define RT_CKPT_NAME 128 /* longest parameter name + 1 */
#define RT_CKPT_FILE 192 /* longest shard file name + 1 */

typedef struct rt_ckpt_shard {
    char file[RT_CKPT_FILE];          /* base name inside the directory */
    int rank;                         /* the rank that saved it */
    int64_t off[RT_MAX_RANK];         /* box: offset and length per dim */
    int64_t len[RT_MAX_RANK];
    uint64_t bytes;                   /* numel(len) * dtype size */
    uint32_t crc;                     /* CRC-32C of the file's bytes */
} rt_ckpt_shard;

typedef struct rt_ckpt_param {
    char name[RT_CKPT_NAME];
    rt_dtype dtype;
    int rank;
    int64_t dims[RT_MAX_RANK];
    char placement[256];              /* as saved, e.g. "M[S(0), R]" (information) */
    int nshards;
    rt_ckpt_shard *shards;            /* malloc'd */
} rt_ckpt_param;

typedef struct rt_ckpt {
    char mesh[256];                   /* as saved, e.g. "M[x=2, y=2]" (information) */
    int ranks;                        /* ranks of the saving run */
    int64_t step;                     /* steps done when saved */
    int nparams;
    rt_ckpt_param *params;            /* malloc'd */
} rt_ckpt;

/* CRC-32C (Castagnoli, as iSCSI and ext4 use it) of n bytes at p, going on
 * from crc, the value of the bytes before (0 for none): rt_crc32c(0,
 * "123456789", 9) == 0xe3069283.  The SSE 4.2 instruction where the CPU has
 * it, else a table. */
uint32_t rt_crc32c(uint32_t crc, const void *p, size_t n);
/* The same through the table alone (what a CPU without the instruction
 * runs; tests compare the two). */
uint32_t rt_crc32c_table(uint32_t crc, const void *p, size_t n);

/* "NAME.rR.bin" for parameter index i saved by rank r (NAME when it is made
 * of letters, digits and '_' only, else "param<i>"). */
void rt_ckpt_file_name(const char *name, int i, int r, char *buf, size_t n);

/* The metadata as JSON text (malloc'd; NULL when out of memory). */
char *rt_ckpt_format(const rt_ckpt *c);
/* Parses metadata text into out (free with rt_ckpt_free either way). */
int rt_ckpt_parse(const char *text, size_t n, rt_ckpt *out, char *err, size_t errlen);
/* Reads DIR/checkpoint.json (at most 64 MiB) into a malloc'd, NUL-ended
 * *text of *len bytes. */
int rt_ckpt_read_text(const char *dir, char **text, size_t *len, char *err, size_t errlen);
/* rt_ckpt_read_text + rt_ckpt_parse + rt_ckpt_check. */
int rt_ckpt_open(const char *dir, rt_ckpt *out, char *err, size_t errlen);
void rt_ckpt_free(rt_ckpt *c);
const rt_ckpt_param *rt_ckpt_find(const rt_ckpt *c, const char *name);

/* Everything about c that needs no file contents: names unique, dims and
 * boxes in range, each parameter's shards tile it exactly, sizes add up,
 * shard files plain names, present, regular and of the recorded size. */
int rt_ckpt_check(const char *dir, const rt_ckpt *c, char *err, size_t errlen);
/* Reads the whole shard file and compares its checksum. */
int rt_ckpt_verify(const char *dir, const rt_ckpt_shard *s, char *err, size_t errlen);
/* Copies the part of shard s (of parameter p) inside the box [off, off+len)
 * into dst, a row-major tensor of shape len; reads only that part, one
 * pread per contiguous run. */
int rt_ckpt_read_box(const char *dir, const rt_ckpt_param *p, const rt_ckpt_shard *s,
                     const int64_t *off, const int64_t *len, void *dst, char *err, size_t errlen);

/* Creates DIR/file (it must not exist), writes bytes from data, fsyncs;
 * *crc = its checksum. */
int rt_ckpt_write_file(const char *dir, const char *file, const void *data, size_t bytes,
                       uint32_t *crc, char *err, size_t errlen);
/* Writes DIR/checkpoint.json and fsyncs it and DIR. */
int rt_ckpt_write_meta(const char *dir, const rt_ckpt *c, char *err, size_t errlen);

/* DIR may become a checkpoint: its parent is a writable directory, and DIR
 * is absent or a checkpoint (a directory holding checkpoint.json): any
 * other directory or file is never replaced. */
int rt_ckpt_check_target(const char *dir, char *err, size_t errlen);
/* mkdtemp "DIR.tmp-XXXXXX" next to DIR into tmp (n bytes). */
int rt_ckpt_make_tmp(const char *dir, char *tmp, size_t n, char *err, size_t errlen);
/* Puts the complete checkpoint tmp in DIR's place: an existing DIR is
 * swapped with it in one step (renameat2 RENAME_EXCHANGE; where the file
 * system cannot, DIR is renamed aside first) and then removed.  Fsyncs the
 * parent. */
int rt_ckpt_commit(const char *tmp, const char *dir, char *err, size_t errlen);
/* Removes a directory of plain files (a checkpoint or a temporary one). */
void rt_ckpt_remove(const char *dir);

#endif
