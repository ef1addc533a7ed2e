/* dtrt.h - the runtime that compiled dt programs link against: the one
 * public header.
 *
 * A compiled program is SPMD: generated code fills an rt_program statically
 * (mesh, parameters, results, and the per-rank function `run`) and its main
 * is `return rt_main(argc, argv, &prog);`.  rt_main does everything else
 * (spec sections 8 and 9): options, choice of backend, checks of everything
 * it is handed before computing, inputs, running, outputs, checksums, timing
 * and profiling.
 *
 *   static int run(rt_ctx *ctx, void *const *params, void *const *results)
 *   {   ... local compute on params[i] / results[j] (local shards) ...
 *       rt_all_reduce(ctx, 1u << 1, RT_F32, y, n, RT_RED_SUM);  // over axis 1
 *       return 0; }
 *
 * Backends (chosen at start-up, one table of functions behind them):
 *   threads  `--ranks N`: N threads in one process; deterministic collectives
 *            (every reduction runs in group-member order, so all members get
 *            bit-identical values and reruns are identical).
 *   MPI      under mpirun (or DT_COMM=mpi): one process per rank.
 *   NCCL     slot reserved for the CUDA target (not built on the CPU).
 * Without mpirun and without --ranks, a program whose mesh has one rank runs
 * on the threads backend with one thread; otherwise that is an error.
 *
 * Groups: every collective runs over a set of mesh axes given as a bit mask
 * (bit i = mesh axis i).  The group of a rank is the ranks that differ from
 * it only in those axes; members are ordered row-major over those axes (the
 * lowest axis slowest), and a rank's index in that order is its member
 * index.  axes == 0 is the group of the rank alone.
 *
 * Local shards: a value of global shape dims with placement pl holds, on the
 * rank at coords, the box given by torch.chunk splits nested in axis order
 * (rt_local_box: rt_chunk_nested of runtime/core, which the compiler's
 * pl_local_range calls too).
 *
 * Sizes are exact: uneven and empty pieces are legal everywhere, nothing is
 * padded on the wire.  Collectives work on RT_F32, RT_F64 and RT_I32 (the
 * data movement ones on any dtype).  P(avg) is a sum divided by the group
 * size (truncating for i32); max and min propagate NaN.
 *
 * Failures: a rank whose `run` returns non-zero or that calls rt_fail ends
 * the whole run with one message naming it; no rank waits forever (threads:
 * an abort flag that waiting ranks check; MPI: MPI_Abort).  Collectives
 * called with inconsistent arguments are a bug in the caller and fail the
 * same way.
 */
#ifndef DTRT_H
#define DTRT_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/core/rt_core.h"

/* Same numbering as the compiler's PlKind. */
typedef enum rt_pl_kind {
    RT_PL_R, /* replicated along the axis */
    RT_PL_S, /* tensor dim `dim` split along the axis (torch.chunk) */
    RT_PL_P  /* partial: the global value is reduction `red` of the ranks' values */
} rt_pl_kind;

/* Same numbering as the compiler's RedOp. */
typedef enum rt_red {
    RT_RED_SUM, /* sum */
    RT_RED_MAX, /* maximum */
    RT_RED_MIN, /* minimum */
    RT_RED_AVG  /* mean: sum / group size */
} rt_red;

/* One placement entry per mesh axis, in axis order. */
typedef struct rt_pl {
    rt_pl_kind kind;
    int dim;    /* RT_PL_S: tensor dim, 0..rank-1 */
    rt_red red; /* RT_PL_P: reduction */
} rt_pl;

typedef struct rt_mesh {
    const char *name;                 /* e.g. "M" (messages only) */
    int naxes;                        /* 0..RT_MAX_AXES; 0: one rank */
    const char *axis_name[RT_MAX_AXES];
    int size[RT_MAX_AXES];            /* > 0 */
} rt_mesh;

/* A parameter or result of the program: global type and placement. */
typedef struct rt_tensor_desc {
    const char *name;                 /* --in / --out name */
    rt_dtype dtype;
    int rank;                         /* 0: scalar */
    int64_t dims[RT_MAX_RANK];        /* global sizes */
    rt_pl pl[RT_MAX_AXES];            /* mesh naxes entries */
    rt_init init;                     /* parameters only: data without --in;
                                         RT_INIT_LOAD paths are relative to
                                         the working directory */
    int feeds;                        /* results only: the parameter index this
                                         result becomes on the next step (same
                                         dtype, dims and placement), or -1 */
} rt_tensor_desc;

typedef struct rt_ctx rt_ctx;

/* What generated code fills in, statically. */
typedef struct rt_program {
    const char *name;                 /* program name, prefixes messages */
    rt_mesh mesh;
    int nparams;
    const rt_tensor_desc *params;
    int nresults;
    const rt_tensor_desc *results;
    size_t workspace_bytes;           /* per rank, from rt_workspace; may be 0 */
    /* The per-rank computation.  params[i] / results[j] are this rank's
     * local buffers (64-byte aligned, local shapes of the descriptions;
     * results zero-filled before the first call).  run may be called several
     * times (--iters): it must not write its params.  Returns 0, or
     * non-zero to fail the run (or call rt_fail). */
    int (*run)(rt_ctx *ctx, void *const *params, void *const *results);
} rt_program;

/* The whole program: parses argv, runs, prints.  Returns the process exit
 * status (0 on success).  Safe to call several times in one process. */
int rt_main(int argc, char **argv, const rt_program *prog);

/* Runs fn(ctx, arg) on every rank of `mesh` with the threads backend (one
 * thread per rank) and joins them.  Returns -1 with one message (naming the
 * rank responsible) in err if a rank failed (rt_fail, or it returned while
 * others waited for it in a collective); otherwise the first non-zero value
 * a rank returned, by rank, or 0.  Used by tests and by rt_main. */
int rt_run_threads(const rt_mesh *mesh, int (*fn)(rt_ctx *ctx, void *arg), void *arg,
                   char *err, size_t errlen);

/* The same with the MPI backend, for this process's rank: run under mpirun
 * with as many processes as the mesh has ranks.  Initialises MPI if needed
 * (finalise with rt_mpi_finalize once done).  Returns fn's value, or -1
 * with a message in err if the world size is not the mesh size; a failing
 * rank ends the job (MPI_Abort). */
int rt_run_mpi(const rt_mesh *mesh, int (*fn)(rt_ctx *ctx, void *arg), void *arg, char *err,
               size_t errlen);
void rt_mpi_finalize(void);

/* ---- where this rank is ------------------------------------------------- */
int rt_rank(const rt_ctx *ctx);                        /* row-major world rank */
int rt_nranks(const rt_ctx *ctx);
const rt_mesh *rt_ctx_mesh(const rt_ctx *ctx);
void rt_coords(const rt_ctx *ctx, int coords[RT_MAX_AXES]);
int rt_group_size(const rt_ctx *ctx, unsigned axes);
int rt_group_index(const rt_ctx *ctx, unsigned axes);  /* member index */

/* ---- local shards --------------------------------------------------------- */
/* The box [off, off+len) of global dims[0..rank) that the rank at coords
 * holds under placement pl (mesh->naxes entries). */
void rt_local_box(const rt_mesh *mesh, const rt_pl *pl, const int coords[RT_MAX_AXES],
                  int rank, const int64_t *dims, int64_t *off, int64_t *len);
/* Range of global dim `dim` (size n) on this rank under pl. */
void rt_local_range(const rt_ctx *ctx, const rt_pl *pl, int dim, int64_t n,
                    int64_t *off, int64_t *len);
/* Local shape of a parameter / result on this rank. */
void rt_local_dims(const rt_ctx *ctx, const rt_tensor_desc *desc, int64_t *dims_out);
/* Length along dim `dim` (global size n, placement pl) of every member of
 * this rank's group over `axes`, in member order: the member_lens that
 * rt_all_gather (pl = placement before) and rt_reduce_scatter (pl = after)
 * take. */
void rt_member_lens(const rt_ctx *ctx, unsigned axes, const rt_pl *pl, int dim, int64_t n,
                    int64_t *lens_out);
int64_t rt_numel(int rank, const int64_t *dims);

/* ---- memory ----------------------------------------------------------------- */
/* 64-byte aligned, zeroed; failure ends the run.  Blocks still held when the
 * run ends are freed then. */
void *rt_alloc(rt_ctx *ctx, size_t bytes);
void rt_free(rt_ctx *ctx, void *p);
/* The program's workspace (workspace_bytes, 64-byte aligned, per rank). */
void *rt_workspace(rt_ctx *ctx);

/* ---- failure ------------------------------------------------------------------ */
/* Ends the run: every rank stops, one message "rank R: MESSAGE" is printed,
 * the exit status is non-zero.  Does not return. */
_Noreturn void rt_fail(rt_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- profiling (no-ops without --profile) ---------------------------------------- */
/* Brackets an operation: time and bytes add up under `name` (a string that
 * lives as long as the program, compared by content).  Regions nest; times
 * are inclusive.  Collectives record themselves as e.g. "all_reduce(tp)"
 * with the bytes this rank sends (rt_coll_bytes, as `dtc report` counts
 * them), so callers need not bracket them.  --trace records every region
 * as an event. */
void rt_prof_begin(rt_ctx *ctx, const char *name, int64_t bytes);
void rt_prof_end(rt_ctx *ctx);
/* The source of the next collective this rank calls, "FILE:LINE:COL" (a
 * string that lives as long as the program): names it in the profile, the
 * trace and in messages about a rank that died while others waited. */
void rt_site(rt_ctx *ctx, const char *site);

/* ---- collectives over the group of `axes` -------------------------------------------
 * Every member of the group must make the same call in the same order.
 * rank/dims describe row-major tensors; member_lens[m] is member m's length
 * along the named dim (group order). */

/* buf[0..count) reduced over the group, in place. */
void rt_all_reduce(rt_ctx *ctx, unsigned axes, rt_dtype dt, void *buf, int64_t count, rt_red red);
/* send has shape local_dims (local_dims[dim] == member_lens[me]); recv
 * gets the concatenation of every member's send along dim (shape local_dims
 * with dim = sum of member_lens). */
void rt_all_gather(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                   int rank, const int64_t *local_dims, int dim, const int64_t *member_lens);
/* send has shape send_dims (send_dims[dim] == sum of member_lens, same on
 * every member); recv gets this member's piece along dim of the reduction
 * over the group (shape send_dims with dim = member_lens[me]). */
void rt_reduce_scatter(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                       int rank, const int64_t *send_dims, int dim, const int64_t *member_lens,
                       rt_red red);
/* send has shape send_dims with send_dims[split_dim] == sum of split_lens and
 * send_dims[cat_dim] == cat_lens[me].  Member m gets piece m of every
 * member's send split along split_dim, concatenated along cat_dim in member
 * order: recv has shape send_dims with split_dim = split_lens[me] and
 * cat_dim = sum of cat_lens.  split_dim != cat_dim. */
void rt_all_to_all(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                   int rank, const int64_t *send_dims, int split_dim, const int64_t *split_lens,
                   int cat_dim, const int64_t *cat_lens);
/* Point-to-point step (ppermute): this member of the group sends
 * send[0..count) to member `dest` and receives into recv[0..count) from
 * member `src` (member indices, 0 <= dest, src < n); the members' dests form
 * a permutation of the group and each src is the member whose dest is this
 * one (a shift k: dest = m + k, src = m - k mod n; the generated code
 * computes them, rt_permute_pair).  Every member passes the same count and
 * takes part, those that keep their data (dest == itself: a local copy)
 * too.  send and recv must not overlap.  MPI: one MPI_Sendrecv on the
 * group's communicator; threads: through the shared exchange, one copy. */
void rt_collective_permute(rt_ctx *ctx, unsigned axes, rt_dtype dt, const void *send, void *recv,
                           int64_t count, int dest, int src);
/* ---- non-blocking collectives ---------------------------------------------------------
 * rt_*_start begins the collective of the same name and returns; rt_wait(ctx,
 * req) returns once it is complete.  req names the collective in flight: a
 * number >= 0 the caller picks (generated code: the lowest one free at that
 * point of the program), not in flight already.  Between start and wait the
 * caller neither reads nor writes the buffers (all_reduce: buf; the others:
 * send and recv).  Starts follow the ordering rule of the blocking calls:
 * every member starts the same collectives in the same order.  The MPI
 * backend starts MPI_Iallreduce / MPI_Iallgatherv / MPI_Ireduce_scatter and
 * a progress thread moves them on while the rank computes; the threads
 * backend (but for collective_permute) and the MPI backend for all_to_all
 * complete the collective in its start, where its time is exposed as in the blocking call.  Profiling records the start as
 * the collective ("... all_reduce(tp)") and the wait as a region of its own
 * ("... all_reduce(tp) wait"); --profile's summary adds up the time spent in
 * collectives, blocking, starting or waiting: the exposed communication. */
typedef int rt_req;
void rt_all_reduce_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, void *buf,
                         int64_t count, rt_red red);
void rt_all_gather_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                         void *recv, int rank, const int64_t *local_dims, int dim,
                         const int64_t *member_lens);
void rt_reduce_scatter_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                             const void *send, void *recv, int rank, const int64_t *send_dims,
                             int dim, const int64_t *member_lens, rt_red red);
void rt_all_to_all_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt, const void *send,
                         void *recv, int rank, const int64_t *send_dims, int split_dim,
                         const int64_t *split_lens, int cat_dim, const int64_t *cat_lens);
/* Asynchronous on both CPU backends: MPI_Irecv + MPI_Isend tested by the
 * progress thread; threads: the start posts send, the wait copies from the
 * source member's posted buffer and returns once the receiver has copied
 * this member's (so send may be reused after the wait). */
void rt_collective_permute_start(rt_ctx *ctx, rt_req req, unsigned axes, rt_dtype dt,
                                 const void *send, void *recv, int64_t count, int dest, int src);
void rt_wait(rt_ctx *ctx, rt_req req);
/* buf[0..count) of member `root` copied to every member. */
void rt_broadcast(rt_ctx *ctx, unsigned axes, rt_dtype dt, void *buf, int64_t count, int root);
void rt_barrier(rt_ctx *ctx, unsigned axes);

#endif
