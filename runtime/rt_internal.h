/* rt_internal.h - what the runtime's files share and generated code does
 * not see: the rank context, the backend table, and small helpers.
 *
 * A backend implements the collectives on tensors already reduced to the
 * shapes below (comm.c checks arguments, profiles, and dispatches):
 *   all_gather / reduce_scatter see a tensor as [outer, n, inner] around the
 *   named dim, split along n into member pieces of lens[m] rows;
 *   gather / scatter move plain bytes between member 0 and every member
 *   (program start and end only).
 * A backend call returns 0, or -1 when the run was aborted meanwhile (the
 * caller unwinds with rt_unwind).
 */
#ifndef DTRT_INTERNAL_H
#define DTRT_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>

#include "runtime/dtrt.h"

#define RT_BUG(msg) rt_bug(__FILE__, __LINE__, (msg))
#define RT_ASSERT(c) ((c) ? (void)0 : rt_bug(__FILE__, __LINE__, "assertion failed: " #c))
_Noreturn void rt_bug(const char *file, int line, const char *msg);

#define RT_ALIGN 64
#define RT_MSG 1024 /* longest message */

typedef struct rt_prof rt_prof;
typedef struct rt_block rt_block;

/* A collective started and not yet waited for (comm.c): what its wait
 * records and what messages about this rank name. */
typedef struct rt_inflight {
    bool active;
    bool in_backend;        /* the backend's start ran: its wait completes it */
    rt_coll kind;
    unsigned axes;
    const char *site;
} rt_inflight;

typedef struct rt_backend {
    const char *name; /* "threads", "mpi", "nccl" */
    int (*all_reduce)(rt_ctx *ctx, unsigned axes, rt_dtype dt, void *buf, int64_t count,
                      rt_red red);
    int (*all_gather)(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                      int64_t outer, int64_t inner, const int64_t *lens);
    int (*reduce_scatter)(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send,
                          void *recv, int64_t outer, int64_t inner, const int64_t *lens,
                          rt_red red);
    int (*all_to_all)(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                      int rank, const int64_t *send_dims, int split_dim,
                      const int64_t *split_lens, int cat_dim, const int64_t *cat_lens);
    int (*broadcast)(rt_ctx *ctx, unsigned axes, void *buf, size_t bytes, int root);
    int (*barrier)(rt_ctx *ctx, unsigned axes);
    /* Member 0 receives counts[m] bytes from member m at recv + displs[m]
     * (counts / displs / recv only read on member 0). */
    int (*gather)(rt_ctx *ctx, unsigned axes, const void *send, size_t bytes, void *recv,
                  const size_t *counts, const size_t *displs);
    /* Member m receives counts[m] == bytes bytes from send + displs[m] on
     * member 0 (send / counts / displs only read on member 0). */
    int (*scatter)(rt_ctx *ctx, unsigned axes, const void *send, const size_t *counts,
                   const size_t *displs, void *recv, size_t bytes);
    /* Ends the run on every rank with msg ("rank R: ..."); never returns. */
    void (*fail)(rt_ctx *ctx, const char *msg);
    /* Non-blocking all_reduce under handle req, completed by wait(ctx, req).
     * NULL: comm.c completes every start at once (the blocking call) and
     * its wait does nothing. */
    int (*all_reduce_start)(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, void *buf,
                            int64_t count, rt_red red);
    int (*wait)(rt_ctx *ctx, rt_req req);
    /* The same for all_gather and reduce_scatter (NULL: complete in the start). */
    int (*all_gather_start)(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                            void *recv, int64_t outer, int64_t inner, const int64_t *lens);
    int (*reduce_scatter_start)(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                                const void *send, void *recv, int64_t outer, int64_t inner,
                                const int64_t *lens, rt_red red);
    /* Point-to-point: bytes of send to member dest of its group, recv from
     * member src (every member of the group calls it; dest == src == this
     * member: a copy; send and recv do not overlap). */
    int (*collective_permute)(rt_ctx *ctx, unsigned axes, int dest, int src, const void *send,
                              void *recv, size_t bytes);
    /* The same under handle req, completed by wait(ctx, req): until then
     * send must stay as it is and recv is undefined (NULL: completes in
     * its start). */
    int (*collective_permute_start)(rt_ctx *ctx, rt_req req, unsigned axes, int dest, int src,
                                    const void *send, void *recv, size_t bytes);
} rt_backend;

extern const rt_backend rt_backend_threads;
extern const rt_backend rt_backend_mpi;
/* NCCL (CUDA target): a third rt_backend, rt_backend_nccl, built with the
 * CUDA runtime; selected by DT_COMM=nccl.  Not part of the CPU build. */

/* One rank's view of the run. */
struct rt_ctx {
    const rt_mesh *mesh;
    int rank, nranks;
    int coords[RT_MAX_AXES];
    const rt_backend *be;
    void *world;            /* the backend's state, shared by its ranks (threads) */
    jmp_buf unwind;         /* threads: where rt_fail / an aborted collective go */
    bool can_unwind;
    rt_block *blocks;       /* rt_alloc'd, freed at the end */
    void *workspace;
    rt_prof *prof;          /* NULL: neither --profile nor --trace */
    const char *site;       /* rt_site: source of the next collective */
    unsigned params_version; /* bumped when the parameters change between calls of
                                run (steps): the CUDA runtime uploads them again */
    rt_inflight *inflight;  /* by rt_req: the collectives started (rt_alloc'd) */
    int ninflight;
    /* The collective this rank is in (messages about a rank that died or
     * stopped): read by other threads, hence atomic. */
    _Atomic int in_coll;    /* rt_coll + 1, or 0: not in one */
    _Atomic unsigned in_axes;
    const char *_Atomic in_site;
};

/* "all_gather(tp) at x.dt:3:9" or "all_gather(tp)" for the collective the
 * rank is in, or "no collective" (buf of n bytes). */
char *rt_coll_where(const rt_ctx *ctx, char *buf, size_t n);

/* Called by a rank that cannot go on (after the backend has been told). */
_Noreturn void rt_unwind(rt_ctx *ctx);
/* Frees every block still held by rt_alloc. */
void rt_free_all(rt_ctx *ctx);
void rt_ctx_init(rt_ctx *ctx, const rt_mesh *mesh, int rank, const rt_backend *be,
                 void *world);

/* ---- mesh and groups: the core's arithmetic (rt_mesh.c) on an rt_mesh -- */
static inline int rt_mesh_size(const rt_mesh *m)
{
    return rt_grid_count(m->naxes, m->size, rt_grid_all(m->naxes));
}
static inline void rt_mesh_coords(const rt_mesh *m, int rank, int coords[RT_MAX_AXES])
{
    rt_grid_coords(m->naxes, m->size, rank, coords);
}
static inline int rt_mesh_rank(const rt_mesh *m, const int coords[RT_MAX_AXES])
{
    return rt_grid_rank(m->naxes, m->size, coords);
}
static inline unsigned rt_all_axes(const rt_mesh *m) { return rt_grid_all(m->naxes); }
static inline int rt_axes_size(const rt_mesh *m, unsigned axes)
{
    return rt_grid_count(m->naxes, m->size, axes);
}
/* Member index of coords in its group over axes. */
static inline int rt_member_of(const rt_mesh *m, unsigned axes, const int coords[RT_MAX_AXES])
{
    return rt_grid_member(m->naxes, m->size, axes, coords);
}
/* Index of the group of coords over axes. */
static inline int rt_group_of(const rt_mesh *m, unsigned axes, const int coords[RT_MAX_AXES])
{
    return rt_grid_group(m->naxes, m->size, axes, coords);
}
/* World rank of member `member` of the group of coords over axes. */
static inline int rt_member_rank(const rt_mesh *m, unsigned axes, const int coords[RT_MAX_AXES],
                                 int member)
{
    return rt_grid_member_rank(m->naxes, m->size, axes, coords, member);
}
/* Does the rank at c hold data of a value with placement pl when it comes
 * from a full tensor?  P(sum): only coordinate 0 along every P(sum) axis
 * (the others hold zeros, so the partials sum to the tensor); R, S and the
 * other partial kinds: every rank. */
static inline bool rt_holds_input(const rt_mesh *m, const rt_pl *pl, const int *c)
{
    for (int a = 0; a < m->naxes; a++)
        if (pl[a].kind == RT_PL_P && pl[a].red == RT_RED_SUM && c[a] != 0)
            return false;
    return true;
}
/* Is the shard of the rank at c needed to assemble the global value?  R
 * axes: coordinate 0 only. */
static inline bool rt_needed_output(const rt_mesh *m, const rt_pl *pl, const int *c)
{
    for (int a = 0; a < m->naxes; a++)
        if (pl[a].kind == RT_PL_R && c[a] != 0)
            return false;
    return true;
}
/* "dp,tp", or "self" for no axes (buf of n bytes; ctx.c). */
char *rt_axes_str(const rt_mesh *m, unsigned axes, char *buf, size_t n);

/* ---- data (comm.c) ------------------------------------------------------ */
bool rt_dtype_reducible(rt_dtype dt);              /* f32, f64, i32 */
/* acc[i] = acc[i] (red) src[i]; RT_RED_AVG sums. */
void rt_combine(rt_dtype dt, rt_red red, void *acc, const void *src, int64_t n);
/* acc[i] /= k (after an RT_RED_AVG sum). */
void rt_divide(rt_dtype dt, void *acc, int64_t n, int k);
/* Copies the box of sizes box[0..rank) from src (dims sdims, at soff) to dst
 * (dims ddims, at doff), row-major tensors of esize-byte elements. */
void rt_copy_box(size_t esize, int rank, const int64_t *box, void *dst,
                 const int64_t *ddims, const int64_t *doff, const void *src,
                 const int64_t *sdims, const int64_t *soff);

/* ---- threads backend (comm_threads.c) ---------------------------------- */
/* Seconds a rank waits in one collective before it gives up (0: forever);
 * from DT_TIMEOUT (rt_timeout_check has accepted it). */
double rt_threads_timeout(void);
/* 0 if DT_TIMEOUT is unset or a non-negative number of seconds; otherwise
 * -1 with a message. */
int rt_timeout_check(char *err, size_t errlen);

/* ---- MPI backend (comm_mpi.c) -------------------------------------------- */
/* True when started by an MPI launcher (or DT_COMM=mpi). */
bool rt_mpi_launched(void);
/* The launcher's idea of this process's rank and the world size, read from
 * its environment before MPI_Init (0 / 1 when unknown). */
void rt_mpi_env(int *rank, int *size);
void rt_mpi_init(int *rank, int *size);
/* Runs fn on this process's rank of `mesh` (world size == mesh size). */
int rt_mpi_run(const rt_mesh *mesh, const char *progname, int (*fn)(rt_ctx *ctx, void *arg),
               void *arg);

/* ---- profiling (profile.c) --------------------------------------------- */
double rt_now(void); /* seconds, monotonic */
/* table: --profile; trace: --trace. */
rt_prof *rt_prof_new(rt_ctx *ctx, bool table, bool trace);
/* Zeroes the table (after warmup); the trace keeps every event. */
void rt_prof_reset(rt_prof *p);
/* Every rank, right after a world barrier: the trace's time zero is rank
 * 0's clock now (broadcast).  0, or -1 when the run was aborted. */
int rt_prof_origin(rt_ctx *ctx);
/* Name under which a collective of `kind` over axes is recorded (with the
 * rt_site of the call when there is one). */
const char *rt_prof_coll_name(rt_ctx *ctx, const char *kind, unsigned axes);
/* Opens a collective's region (close it with rt_prof_end).  Tracing, the
 * group first meets at a barrier whose time is the collective's wait.
 * Returns 0, or -1 when the run was aborted in that barrier. */
int rt_prof_coll_begin(rt_ctx *ctx, rt_coll kind, unsigned axes, int64_t bytes);
/* The same for one part of a non-blocking collective: part "start" (traced
 * like a blocking one) or "wait" (no barrier; bytes 0). */
int rt_prof_coll_part_begin(rt_ctx *ctx, rt_coll kind, unsigned axes, int64_t bytes,
                            const char *part);
/* Bracket iteration `it` (warmup ones first) of the program's run. */
void rt_prof_iteration_begin(rt_prof *p);
void rt_prof_iteration_end(rt_prof *p, int it, bool warmup);
void rt_prof_print(FILE *out, const rt_prof *p, int iters);
/* Every rank calls it: gathers the ranks' events on rank 0, which writes
 * the Chrome trace-event file to path (temporary name, renamed).  0, or -1
 * with msg on rank 0. */
int rt_prof_write_trace(rt_ctx *ctx, const rt_prof *p, const char *path, const char *progname,
                        char *msg, size_t msglen);

/* ---- options (options.c) --------------------------------------------- */
typedef struct rt_opts {
    const char **in_path;  /* per parameter: --in FILE or NULL */
    const char **out_path; /* per result: --out FILE or NULL */
    int iters;             /* --iters K (0: not given, run once) */
    int warmup;            /* --warmup W */
    int ranks;             /* --ranks N (0: not given) */
    int steps;             /* --steps N (0: not given, one step) */
    int log_every;         /* --log-every K (0: not given, steps / 10) */
    bool profile;          /* --profile */
    const char *trace;     /* --trace FILE.json or NULL */
    bool help;             /* --help */
    const char *save;      /* --save DIR or NULL */
    const char *load;      /* --load DIR or NULL */
} rt_opts;

/* Returns 0, or -1 with a message (without the "prog: error: " prefix) in
 * err.  Free with rt_opts_free either way. */
int rt_opts_parse(rt_opts *o, int argc, char **argv, const rt_program *prog, char *err,
                  size_t errlen);
void rt_opts_free(rt_opts *o);
void rt_print_help(FILE *out, const char *progname, const rt_program *prog);
/* ---- checkpoints (ckpt.c) ---------------------------------------------- */
/* Every rank calls them; each returns 0, or 1 on every rank after one
 * message.  rt_ckpt_load (after the inputs are set up, before the first
 * step): checks that --save's DIR can be written, and with --load restores
 * every parameter the checkpoint has into params (this rank's buffers) and
 * sets *step to the checkpoint's step (0 without --load).  rt_ckpt_save
 * (after the last step): with --save writes params as the checkpoint of
 * `step` steps. */
int rt_ckpt_load(rt_ctx *ctx, const rt_program *prog, const rt_opts *o, void *const *params,
                 int64_t *step, const char *progname);
int rt_ckpt_save(rt_ctx *ctx, const rt_program *prog, const rt_opts *o, void *const *params,
                 int64_t step, const char *progname);

/* "f32[8, 512]" */
char *rt_type_str(rt_dtype dt, int rank, const int64_t *dims, char *buf, size_t n);
/* "M[S(0), R]" */
char *rt_pl_str(const rt_mesh *m, const rt_pl *pl, char *buf, size_t n);

#endif
