/* rt_core.h - the part of the runtime that the compiler shares: the
 * counter-based random generator behind the initialisers, .npy I/O,
 * torch.chunk and the mesh / group arithmetic.  No MPI, no threads, no
 * global state.
 *
 * The reference interpreter (`dtc run`) and every compiled program call the
 * same functions, so a sharded initialiser equals the unsharded one bit for
 * bit: each element's value depends only on (seed, global flat index).
 */
#ifndef DTRT_CORE_H
#define DTRT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_MAX_RANK 8 /* tensor dims */
#define RT_MAX_AXES 4 /* mesh axes */

/* Same numbering as the compiler's DType. */
typedef enum rt_dtype {
    RT_F32,  /* float */
    RT_F64,  /* double */
    RT_I32,  /* int32_t */
    RT_F16,  /* IEEE half (storage only on the CPU) */
    RT_BF16  /* bfloat16 (storage only on the CPU) */
} rt_dtype;

int rt_dtype_size(rt_dtype t);
const char *rt_dtype_name(rt_dtype t);

/* Same numbering as the compiler's InitKind. */
typedef enum rt_init_kind {
    RT_INIT_NONE,   /* no initialiser: data must come from --in */
    RT_INIT_RANDN,  /* normal(mean b, std a) */
    RT_INIT_RAND,   /* uniform [a, b) */
    RT_INIT_ZEROS,
    RT_INIT_ONES,
    RT_INIT_FULL,   /* a */
    RT_INIT_ARANGE, /* flat row-major global index */
    RT_INIT_LOAD    /* .npy file at path (handled by the caller) */
} rt_init_kind;

typedef struct rt_init {
    rt_init_kind kind;
    uint64_t seed;
    double a, b;
    const char *path;
    int per_step;   /* randn / rand: new data every step s of a multi-step
                       run, from seed rt_step_seed(seed, s) */
} rt_init;

/* The seed of a per-step initialiser at step s (0-based, global: it goes on
 * counting after a checkpoint is loaded): the seed itself at step 0 (so a
 * one-step run equals the same program without per_step), else a Philox
 * hash of (seed, s), so the steps' streams neither repeat nor follow the
 * neighbouring seeds K + 1, K + 2 of other parameters. */
uint64_t rt_step_seed(uint64_t seed, int64_t step);

/* Philox4x32-10 (Salmon et al. 2011) with key = (seed low 32 bits, seed
 * high 32 bits) and counter = (index low, index high, 0, 0): 4 random
 * 32-bit words w[0..3]. */
void rt_philox(uint64_t seed, uint64_t index, uint32_t out[4]);
/* The initialiser's value of the element at global flat index `index`
 * (as double; the caller converts to the dtype).  It depends only on
 * (init, index), never on placements or the number of ranks:
 *   randn:  u1 = (w[0] + 1) / 2^32, u2 = (w[1] + 1) / 2^32, both in (0, 1];
 *           mean + std * sqrt(-2 log u1) * cos(2 pi u2)   (Box-Muller)
 *   rand:   lo + (hi - lo) * w[0] / 2^32                  (u in [0, 1))
 *   zeros, ones, full(a): the constant;  arange: (double)index.
 * Only +, -, *, /, sqrt, log and cos in double are used, so values agree
 * across platforms whose libm agrees on log and cos. */
double rt_init_value(const rt_init *init, uint64_t index);
/* Fills the box [off[d], off[d]+len[d]) of a global tensor with dims
 * gdims[0..rank) (row-major), writing len-shaped row-major data to out in
 * dtype dt.  Not for RT_INIT_LOAD / RT_INIT_NONE. */
void rt_init_fill(const rt_init *init, rt_dtype dt, int rank, const int64_t *gdims,
                  const int64_t *off, const int64_t *len, void *out);

/* The bare block function: Philox4x32-10 of counter ctr under key (the
 * Random123 known-answer vectors test this). */
void rt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Element conversions shared by the interpreter and generated programs.
 * Float -> i32 truncates toward zero (numpy astype); NaN and out-of-range
 * values give INT32_MIN.  f16 / bf16 round to nearest even. */
int32_t rt_i32_from_double(double v);
uint16_t rt_f16_from_double(double v);
double rt_f16_to_double(uint16_t h);
uint16_t rt_bf16_from_double(double v);
double rt_bf16_to_double(uint16_t h);
double rt_load_double(rt_dtype dt, const void *p, int64_t i);   /* exact */
void rt_store_double(rt_dtype dt, void *p, int64_t i, double v); /* one rounding */
/* n elements from src (dtype from) to dst (dtype to); dst may equal src only
 * when the dtypes are equal. */
void rt_convert(rt_dtype to, void *dst, rt_dtype from, const void *src, int64_t n);
/* Sum and L2 norm of n elements, accumulated in double in index order: the
 * checksum line that `dtc run` and compiled programs print. */
void rt_checksum(rt_dtype dt, int64_t n, const void *data, double *sum, double *l2);

/* The progress line of a multi-step run, the one format of compiled programs
 * and `dtc run --steps`: "step 20/200  loss 0.4213  (153.2 steps/s)", with
 * value k named names[k] (the scalar results that feed nothing).  Written
 * into buf (n bytes, cut if short), no newline. */
void rt_format_step(char *buf, size_t n, int64_t step, int64_t last, int nvals, const char *const *names,
                    const double *vals, double rate);

/* Formats a message into err (when err and errlen are set) and returns -1:
 * the one error helper of the readers and checkers that report "-1 with a
 * message". */
int rt_errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A growable text (JSON the runtime writes: checkpoint metadata, traces).
 * Zero-initialise; s is malloc'd (free it); once an allocation fails oom is
 * set and later puts do nothing. */
typedef struct rt_text {
    char *s;
    size_t len, cap;
    bool oom;
} rt_text;
void rt_text_put(rt_text *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string literal (quotes, backslashes and control characters
 * escaped; NULL as ""). */
void rt_text_put_json_str(rt_text *b, const char *s);

/* The lookup / routing kernels (rt_route.c), shared by the interpreter and
 * compiled programs, on row-major [outer, len, inner] views split at the
 * op's axis (len: the operand's extent along it on this rank):
 *   ARGMAX / ARGMIN  x dt [outer, len, inner] -> i32 [outer, inner]: the
 *                    first index of the max / min; a NaN wins (numpy);
 *                    len == 0 is an error (numpy raises).
 *   ONE_HOT          i32 ids [outer] -> odt [outer, len]: 1 where
 *                    id == off + c (this rank holds classes [off, off+len)),
 *                    else 0; ids outside [0, total) give zero rows (jax).
 *   CUMSUM           x [outer, len, inner] -> the same: inclusive prefix
 *                    sums in double (i32: int64, wrapped to 32 bits).
 *   TAKE_ALONG       x [outer, len, inner], i32 idx [outer, len2, inner] ->
 *                    dt [outer, len2, inner]: x[o, idx, i]; idx in
 *                    [-len, len), negative counting from the end.
 *   TOPK             x [outer, len, inner] -> i32 [outer, len2, inner]: the
 *                    indices of the len2 largest, descending, ties to the
 *                    lower index, NaN above everything (torch.topk).
 *   SCATTER_ADD      target [outer, len, inner] (rows [off, off+len) of
 *                    total), i32 idx and src [outer, len2, inner] -> out
 *                    (target's shape) = target with src[o, j, i] added at
 *                    row idx[o, j, i] (idx in [-total, total); rows held by
 *                    other ranks are skipped), in index order (np.add.at).
 *   REPEAT           x [outer, len, inner] -> [outer, len * len2, inner]:
 *                    out[o, j, i] = x[o, j / len2, i] (np.repeat, len2 the
 *                    count), copied element by element (any dtype).
 * Returns 0, or -1 with a one-line message ("argmax: ...", no position) in
 * err. */
typedef enum rt_route_op {
    RT_ROUTE_ARGMAX,
    RT_ROUTE_ARGMIN,
    RT_ROUTE_ONE_HOT,
    RT_ROUTE_CUMSUM,
    RT_ROUTE_TAKE_ALONG,
    RT_ROUTE_TOPK,
    RT_ROUTE_SCATTER_ADD,
    RT_ROUTE_REPEAT
} rt_route_op;

typedef struct rt_route_args {
    rt_route_op op;
    rt_dtype dt, odt;          /* operand 0's and the result's dtype */
    int64_t outer, len, len2, inner;
    int64_t off, total;        /* ONE_HOT, SCATTER_ADD: local offset, global extent */
    const void *in0, *in1, *in2;
    void *out;
} rt_route_args;

int rt_route(const rt_route_args *a, char *err, size_t errlen);

/* ---- mesh arithmetic (rt_mesh.c): the one copy -------------------------------
 * Used by the compiler (ir, interp, passes, codegen) and the runtime
 * (threads, MPI, CUDA) alike; their mesh types pass (naxes, size).
 *
 * torch.chunk: n elements over k pieces, chunk = ceil(n / k) (rt_chunk_size);
 * piece i is [min(i * chunk, n), min((i + 1) * chunk, n)): the last pieces
 * may be short or empty.  k <= 0 means no split (one piece of n).
 *
 * A mesh is naxes (0..RT_MAX_AXES; 0: one rank) axis sizes size[a] > 0.  A
 * set of axes is a bit mask (bit a = axis a; bits at or above naxes are
 * ignored).  Coordinate arrays have RT_MAX_AXES entries: those at or above
 * naxes are written 0 and never read.
 *   rank:   row-major over the coordinates (the last axis fastest).
 *   group:  the group of a rank over a set of axes is the ranks with its
 *           coordinates off the set; the empty set: the rank alone.
 *   member: members are ordered row-major over the set's axes (the lowest
 *           axis slowest); a rank's position is its member index.
 *   groups: the groups over a set are numbered row-major over the other
 *           axes (the member index over the complement).
 * A split of one tensor dim over several axes nests in axis order: the
 * lowest axis splits the dim, the next one splits that piece, and so on. */
int64_t rt_chunk_size(int64_t n, int k);
void rt_chunk(int64_t n, int k, int i, int64_t *off, int64_t *len);
/* The piece [off, off + len) of n elements at coords, split over the axes in
 * `split` (nested in axis order). */
void rt_chunk_nested(int64_t n, int naxes, const int *size, unsigned split,
                     const int coords[RT_MAX_AXES], int64_t *off, int64_t *len);
unsigned rt_grid_all(int naxes);                              /* every axis */
int rt_grid_count(int naxes, const int *size, unsigned axes); /* ranks in a group */
void rt_grid_coords(int naxes, const int *size, int rank, int coords[RT_MAX_AXES]);
int rt_grid_rank(int naxes, const int *size, const int coords[RT_MAX_AXES]);
/* The member index of the rank at coords in its group over axes. */
int rt_grid_member(int naxes, const int *size, unsigned axes, const int coords[RT_MAX_AXES]);
/* The index of the group over axes that holds the rank at coords. */
int rt_grid_group(int naxes, const int *size, unsigned axes, const int coords[RT_MAX_AXES]);
/* Coordinates / world rank of member `member` of the group of coords over
 * axes. */
void rt_grid_member_coords(int naxes, const int *size, unsigned axes,
                           const int coords[RT_MAX_AXES], int member, int out[RT_MAX_AXES]);
int rt_grid_member_rank(int naxes, const int *size, unsigned axes, const int coords[RT_MAX_AXES],
                        int member);
/* A point-to-point step's partners for member `member` of a group of n:
 * nperm == 1: perm[0] is a shift (to member + shift, from member - shift,
 * cyclic); nperm == n: perm[k] is the member that member k sends to (a
 * permutation).  *dest: the member this one sends to, *src: the member it
 * receives from.  false when perm is neither. */
bool rt_permute_pair(int n, int member, const int64_t *perm, int nperm, int *dest, int *src);
/* Steps coords to the next member of its group over axes (member order);
 * false after the last one, with those coordinates back at 0. */
bool rt_grid_next(int naxes, const int *size, unsigned axes, int coords[RT_MAX_AXES]);

/* Collectives, numbered as the runtime's profile and trace name them. */
typedef enum rt_coll {
    RT_COLL_ALL_REDUCE,
    RT_COLL_ALL_GATHER,
    RT_COLL_REDUCE_SCATTER,
    RT_COLL_ALL_TO_ALL,
    RT_COLL_BROADCAST,
    RT_COLL_COLLECTIVE_PERMUTE /* point-to-point: to one member, from one member */
} rt_coll;

const char *rt_coll_name(rt_coll kind); /* "all_gather" */
/* The bytes a collective moves on one rank: the one definition behind
 * `dtc report`, --profile and --trace (rt_coll.c): what the rank sends
 * under ring algorithms.  in / out: elements of the rank's local input and
 * output; kept (all_to_all, collective_permute): elements of its input it
 * keeps; group: members; esize: bytes per element.
 *   all_reduce 2 (in - floor(in / group)); all_gather out - in;
 *   reduce_scatter in - out; all_to_all in - kept; broadcast in;
 *   collective_permute in - kept (kept = in when it sends to itself);
 *   (times esize; 0 for a group of one). */
int64_t rt_coll_bytes(rt_coll kind, int group, int64_t in, int64_t out, int64_t kept, int esize);

/* A host tensor read from / written to .npy (C order, little-endian). */
typedef struct rt_npy {
    rt_dtype dtype;
    int rank;
    int64_t dims[RT_MAX_RANK];
    void *data;        /* malloc'd; free with rt_npy_free */
} rt_npy;

/* Reads .npy versions 1.0, 2.0 and 3.0 with dtype '<f4', '<f8', '<i4' or
 * '<f2', C order, any shape (rank <= 8, () scalars, 0-sized dims); data
 * after the array is ignored.
 * Returns 0 on success; otherwise writes a one-line reason ("cannot open
 * x.npy: No such file", "x.npy: truncated: expected 4096 bytes of data, found
 * 100", "x.npy: dtype <f8 is not supported") into err and returns -1. */
int rt_npy_read(const char *path, rt_npy *out, char *err, size_t errlen);
void rt_npy_free(rt_npy *t);
/* The same checks without reading the data: out gets dtype, rank and dims
 * (data NULL), *data_off the file offset where the data starts; the file
 * holds all of it. */
int rt_npy_read_header(const char *path, rt_npy *out, int64_t *data_off, char *err, size_t errlen);
/* Reads the box [off[d], off[d] + len[d]) of the array that hdr and data_off
 * (from rt_npy_read_header) describe into out, row-major with dims len:
 * one rank's shard, without reading the rest of the file.  0 or -1 with
 * err. */
int rt_npy_read_box(const char *path, const rt_npy *hdr, int64_t data_off, const int64_t *off,
                    const int64_t *len, void *out, char *err, size_t errlen);
/* Writes to "<path>.tmp.<pid>" and renames it to path once complete, so a
 * failed run never leaves a truncated file.  Returns 0 or -1 with err.
 * RT_BF16 has no .npy dtype and is refused (convert with rt_convert). */
int rt_npy_write(const char *path, rt_dtype dt, int rank, const int64_t *dims,
                 const void *data, char *err, size_t errlen);

#endif
