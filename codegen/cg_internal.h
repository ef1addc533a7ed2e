/* cg_internal.h - what the code generators share: the lowered per-rank
 * program (lower.c) that every CPU backend prints, and the linker helpers.
 *
 * Lowering (cg_lower) takes the partitioned, optimised IR and, for every
 * rank of the mesh, turns the instructions into a flat list of STEPS over
 * BUFFERS, with every shape, offset and length a constant for that rank.
 * Ranks whose lowered functions come out identical (usually all of them;
 * uneven shards make more) share one VARIANT; a backend emits one function
 * per variant and a dispatcher on rt_rank().  A function of more than
 * CG_CHUNK_STEPS steps is emitted as chunks of that many steps, each a
 * function of its own called in order (values pass between them in the
 * workspace, as between any two steps), so that compile time stays
 * proportional to the program.  A backend needs nothing from
 * the IR but names and source positions for its comments.
 *
 * Buffers.  Every value the program materialises lives in a buffer: a
 * parameter's (params[i], read-only), a result's (results[j]) or a piece of
 * the per-rank workspace (rt_workspace(ctx) + offset, 64-byte aligned).
 * Several values may share one buffer: a reshape is the same bytes under a
 * new shape, and an all_reduce works in place on its operand's buffer when
 * nothing else reads the operand.  Workspace buffers whose lifetimes (the
 * steps from the first write to the last read) do not overlap share memory
 * (first-fit linear scan); a step never writes memory that one of its
 * inputs occupies.  Nothing is allocated while the program runs.
 *
 * Steps, in program order (the IR's order, so every rank issues the same
 * collectives in the same order):
 *   CG_LOOP        a fused loop nest (CgLoop): elementwise ops with
 *                  broadcasting, constants, transposes, local slices
 *                  (shard, slice), broadcast_to, to_partial and at most one
 *                  reduction, or one piece of a concat / pad, as one
 *                  expression per element over strided loads; no
 *                  intermediate buffers.
 *   CG_MATMUL      dtk_matmul (CBLAS), with batch broadcasting and a
 *                  transpose of the last two dims folded into the call; on
 *                  the CPU target also chains of transposes and reshapes
 *                  that are views (attention heads), read and written in
 *                  place through lda / ldb / ldc and batch strides.
 *   CG_SOFTMAX     dtk_softmax (also log_softmax) on [outer, len, inner].
 *   CG_NORM        dtk_layernorm / dtk_rmsnorm on [rows, D].
 *   CG_EMBEDDING   dtk_embedding, masked by the table's local row offset.
 *   CG_PICK        dtk_pick, masked by the logits' local column offset.
 *   CG_XENT        dtk_cross_entropy on local data.
 *   CG_ROUTE       dtk_route: argmax, argmin, one_hot, cumsum, take_along_axis,
 *                  topk, scatter_add on [outer, len, inner] views, with the
 *                  local class / row offset of one_hot / scatter_add.
 *   CG_COPY        memcpy of a whole buffer (a result that is a parameter,
 *                  an alias, or returned twice; an all_reduce operand that
 *                  cannot be overwritten).
 *   CG_RESHAPE     no code (documents a reshape: the result is the operand's
 *                  buffer).
 *   CG_SCAN        a loop over layers (CgScan): the body, lowered once as a
 *                  function of its own (params: carried, slices, captures;
 *                  results: the next carried values; its workspace a piece
 *                  of the caller's), is called `trip` times; the carried
 *                  values live in the loop's result buffers, each trip's
 *                  results are copied back there, and slice l of a stacked
 *                  operand is its buffer + l * slice bytes (dim 0 is whole
 *                  on every rank).  Nothing is unrolled.
 *   CG_ALL_REDUCE, CG_ALL_GATHER, CG_REDUCE_SCATTER, CG_ALL_TO_ALL,
 *   CG_COLLECTIVE_PERMUTE
 *                  the runtime's collectives (runtime/dtrt.h) with this
 *                  rank's exact member lengths; an async one (req >= 0,
 *                  pass_schedule) is rt_*_start under handle req.
 *   CG_WAIT        rt_wait(ctx, req): completes the async collective started
 *                  under req; it reads and writes that collective's buffers
 *                  (in: its receive and send buffers), so they stay live and
 *                  untouched from the start to here.  Handles are the
 *                  lowest free at the start (a loop body's above every
 *                  handle its caller has in flight).
 *
 * Fusion: lowering reads the groups of pass_fuse (passes/fuse.c, the
 * rules there): a member of a group is folded into its root's loop (no
 * buffer), a const / iota marked `each` into every loop that reads it, a
 * transpose member read by a matmul becomes that matmul's transpose flag.
 * A matmul member is its group's GEMM (a matmul epilogue: bias, activation,
 * scale, residual): on the CPU targets the GEMM runs in blocks of rows of
 * about CG_EPILOGUE_BYTES of the result (when it is over CG_EPILOGUE_CACHE;
 * else one block), into a block buffer, each block
 * followed by the group's loop over those rows (a CG_MATMUL with a_offset,
 * then a CG_LOOP with out_base), so the block is read back while in cache;
 * every operand the loop reads from outside is then seen as [rows, N], a
 * row [N] or a scalar.  Where a rank cannot block it (an operand of
 * another shape, a transposed left operand) and on CUDA, the GEMM is
 * computed whole into a buffer of its own and the loop follows.
 * On the CPU target a chain of transposes and reshapes that is a strided
 * view BLAS can read (lda and batch strides: attention heads) is also
 * folded into the matmul reading it, and a transpose that is a matmul's
 * only use is written by it in place (ldc): lower.c mm_fold_views.
 *
 * Numerics (what the generated code computes, per element): f32 ops in
 * float with the float libm functions, f64 in double, i32 wrapping like
 * numpy int32 with floor division; reductions accumulate f32 / f64 in
 * double (i32 sum in int64, wrapped at the end); mean divides by the count.
 * This differs from the reference interpreter (double everywhere) only by
 * float rounding.
 */
#ifndef DTC_CG_INTERNAL_H
#define DTC_CG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "codegen/codegen.h"
#include "ir/ir.h"

#define CG_MAX_LOOPS IR_MAX_RANK
/* A backend emits at most this many steps in one function: a longer
 * function is cut into chunks of this many, called in order. */
#define CG_CHUNK_STEPS 32
/* A matmul epilogue (pass_fuse's GEMM member) whose result is larger than
 * CG_EPILOGUE_CACHE runs in blocks of rows of about CG_EPILOGUE_BYTES of the
 * result (at least CG_EPILOGUE_MIN_ROWS rows), each block's loop right
 * after its GEMM, while the block is in cache; a smaller one is one GEMM
 * and one loop.  Measured on the 2-core EPYC (2 MiB L2 per core, 32 MiB
 * L3) with single-threaded OpenBLAS: each extra block re-packs the right
 * operand, 2-5% of a 256..512 x 1024 x 2048 GEMM + gelu, for no gain while
 * C stays in cache; on a 64 MiB result a memory-bound epilogue (bias,
 * residual) gains 4-15% with blocks of 4-8 MiB.  --epilogue-block=BYTES
 * (CgOptions.epilogue_block) sets the block size for every epilogue.  At
 * most CG_EPILOGUE_BLOCKS blocks (bigger ones past that). */
#define CG_EPILOGUE_CACHE (16 << 20)
#define CG_EPILOGUE_BYTES (4 << 20)
#define CG_EPILOGUE_MIN_ROWS 256
#define CG_EPILOGUE_BLOCKS 32

/* ---- buffers ---------------------------------------------------------------- */
typedef enum CgBufKind {
    CG_BUF_PARAM,  /* params[index]: a parameter's local shard, read-only */
    CG_BUF_RESULT, /* results[index]: the runtime's buffer for a result */
    CG_BUF_WORK    /* workspace + offset */
} CgBufKind;

typedef struct CgBuf {
    CgBufKind kind;
    int index;             /* PARAM / RESULT: parameter or result index */
    int64_t offset;        /* WORK: byte offset in the workspace (64-aligned) */
    int64_t bytes;         /* size of the largest value it holds */
    DType dtype;           /* element type of every value in it */
    const IrValue *value;  /* the first value stored in it (names, comments) */
    int first, last;       /* steps of its first write and last access (-1: none) */
} CgBuf;

/* ---- fused loops ---------------------------------------------------------------- */
typedef enum CgNodeKind {
    CG_N_LOAD,  /* buf[base + sum_l i_l * stride[l]] (elements of the buffer's dtype) */
    CG_N_CONST, /* the scalar f */
    CG_N_OP,    /* elementwise IR op `op` (OPF_EW) on nodes a (and b, c) */
    CG_N_IOTA   /* base + sum_l i_l * stride[l], converted to dtype (iota's global index) */
} CgNodeKind;

/* One node of a loop's expression.  Nodes are in evaluation order: a, b and
 * c refer to earlier nodes, and the last node is the value of the element. */
typedef struct CgNode {
    CgNodeKind kind;
    DType dtype;                   /* dtype of this node's value */
    IrOp op;                       /* OP: OP_ADD, OP_EXP, OP_CAST (to dtype), ... */
    int a, b, c;                   /* OP: operand nodes (-1 past the op's arity) */
    double f;                      /* CONST: value; OP_POW: exponent */
    int buf;                       /* LOAD: buffer */
    int64_t base;                  /* LOAD: first element; IOTA: index at i = 0 */
    int64_t stride[CG_MAX_LOOPS];  /* LOAD: element stride per loop (0: broadcast);
                                      IOTA: 1 on the loop walking the axis, else 0 */
    const IrValue *value;          /* the IR value it computes or loads (comments) */
} CgNode;

/* A loop nest: loops 0..nloops-1, outermost first, with trip counts n[].
 * The first nkeep loops index the output; the remaining ones (if any)
 * are reduced with `red` (OP_SUM, OP_MEAN, OP_MAX, OP_MIN; the mean
 * divides by red_count).  Without reduction (nkeep == nloops, red ==
 * OP_COUNT) out[sum_l i_l * out_stride[l]] = value; with it the value is
 * accumulated over the inner loops and stored once per output element.
 * Outputs are written at out_base + sum_l i_l * out_stride[l]: concat and
 * pad are several loops (pieces) writing one buffer.
 * nloops == 0 is a single element; a trip count of 0 runs nothing (a
 * reduction over nothing stores its identity: 0, -inf, +inf; a mean NaN).
 * Loops of trip count 1 are removed and adjacent loops that walk every
 * buffer contiguously are merged.  The accumulator is double for f32 / f64,
 * int64 for an i32 sum (wrapped to 32 bits when stored), int32 for i32
 * max / min and double for an i32 mean (truncated like a cast). */
typedef struct CgLoop {
    int nloops, nkeep;
    int64_t n[CG_MAX_LOOPS];
    int64_t out_stride[CG_MAX_LOOPS];
    int64_t out_base;              /* first output element (concat / pad pieces) */
    int out;                       /* output buffer (elements of out_dtype) */
    DType out_dtype;
    IrOp red;                      /* OP_COUNT: none */
    int64_t red_count;             /* elements reduced per output element */
    int nnodes;
    CgNode *nodes;
} CgLoop;

/* ---- steps --------------------------------------------------------------------------- */
typedef enum CgStepKind {
    CG_LOOP,           /* fused loop nest (loop) */
    CG_MATMUL,         /* dtk_matmul(dtype, nbatch, batch, astride, bstride, M, N, K, ta, tb, in0, in1, out);
                          strided: dtk_matmul_strided(dtype, nbatch, batch, astride, bstride,
                          cstride, M, N, K, ta, tb, lda, ldb, ldc, in0, in1, out) */
    CG_SOFTMAX,        /* dtk_softmax(dtype, take_log, outer, len, inner, in0, out) */
    CG_NORM,           /* dtk_layernorm(dtype, rows, D, eps, in0, in1, in2, out) / dtk_rmsnorm (no in2) */
    CG_EMBEDDING,      /* dtk_embedding(ctx, where, dtype, in0, V, D, in1, n, off, total, out) */
    CG_PICK,           /* dtk_pick(ctx, where, dtype, in0, N, V, in1, off, total, out) */
    CG_XENT,           /* dtk_cross_entropy(ctx, where, dtype, in0, N, V, in1, out) */
    CG_ROUTE,          /* dtk_route(ctx, where, route, dtype2, dtype, outer, len, len2, inner, off,
                          total, in0, in1, in2, out): the lookup / routing family
                          (runtime/core rt_route: argmax ... scatter_add) */
    CG_COPY,           /* memcpy(out, in0, count bytes) */
    CG_RESHAPE,        /* no code: out == in0, the same bytes under the result's shape */
    CG_SCAN,           /* a loop over layers: scan (calls scan->fn trip times) */
    CG_ALL_REDUCE,     /* rt_all_reduce(ctx, axes, dtype, out, count, red): in place on out */
    CG_ALL_GATHER,     /* rt_all_gather(ctx, axes, dtype, in0, out, rank, dims, dim, lens) */
    CG_REDUCE_SCATTER, /* rt_reduce_scatter(ctx, axes, dtype, in0, out, rank, dims, dim, lens, red) */
    CG_ALL_TO_ALL,     /* rt_all_to_all(ctx, axes, dtype, in0, out, rank, dims, dim2, lens, dim, lens2) */
    CG_COLLECTIVE_PERMUTE, /* rt_collective_permute(ctx, axes, dtype, in0, out, count, dest, src) */
    CG_WAIT            /* rt_wait(ctx, req); kept last: kind >= CG_ALL_REDUCE is communication */
} CgStepKind;

typedef struct CgFunc CgFunc;

/* CG_SCAN: buffers of the caller.  Body parameter k is args[k] (carried:
 * outs[k]; stacked: args[k] + l * slice_bytes[k]); body result k goes to
 * next[k] and is then copied to outs[k] (carry_bytes[k]). */
typedef struct CgScan {
    int64_t trip;
    int ncarry, nstack, nargs;
    int *args;              /* nargs: the loop's operands */
    int *outs, *next;       /* ncarry: the carried values; a trip's results */
    int64_t *slice_bytes;   /* nargs: one slice of a stacked operand, else 0 */
    int64_t *carry_bytes;   /* ncarry */
    int ws;                 /* the body's workspace (a work buffer of the caller) */
    CgFunc *fn;             /* the body, lowered for these ranks */
} CgScan;

typedef struct CgStep {
    CgStepKind kind;
    const IrInst *inst;        /* the instruction it implements (comments, profile
                                  names); NULL for the copy of a result at the end */
    int out;                   /* buffer written */
    int nin;
    int *in;                   /* nin buffers read, in kernel argument order (CG_LOOP:
                                  every distinct buffer its loads read) */
    DType dtype;               /* element type of the data moved or computed */
    int64_t bytes;             /* bytes written (profile) */

    CgLoop loop;               /* CG_LOOP */

    /* CG_MATMUL: batch dims of the result (broadcast and size-1 dims
     * folded), element strides of the operands per batch dim.  strided:
     * operands or result are views of their buffers (transposes and
     * reshapes folded on the CPU target, lower.c mm_view): rows lda / ldb /
     * ldc apart and the result's batch strides cstride
     * (dtk_matmul_strided); otherwise all dense (dtk_matmul). */
    int nbatch;
    int64_t batch[CG_MAX_LOOPS], astride[CG_MAX_LOOPS], bstride[CG_MAX_LOOPS], cstride[CG_MAX_LOOPS];
    int64_t M, N, K;
    int64_t lda, ldb, ldc;
    bool ta, tb, strided;
    int64_t a_offset;          /* bytes into in0 where A starts (a block of rows) */

    /* CG_SOFTMAX [outer, len, inner], take_log; CG_NORM rows = outer, D = len;
     * CG_EMBEDDING n = outer (ids), V = len (local rows), D = inner;
     * CG_PICK / CG_XENT N = outer, V = len (local columns) */
    int64_t outer, len, inner;
    bool take_log;
    double eps;                /* CG_NORM */
    bool layernorm;            /* CG_NORM: layernorm (else rmsnorm) */
    int64_t off, total;        /* CG_EMBEDDING / CG_PICK: global offset of the local
                                  rows / columns, global row / column count */
    const char *where;         /* "FILE:LINE:COL" of the op, for runtime messages */
    int route;                 /* CG_ROUTE: rt_route_op; dtype2 operand 0's dtype (dtype:
                                  the result's); len2 as rt_route_args */
    DType dtype2;
    int64_t len2;

    /* collectives */
    int req;                   /* async collective / CG_WAIT: the rt_req handle; -1: blocking */
    unsigned axes;             /* mesh axes (bit i = axis i) */
    RedOp red;
    int64_t count;             /* CG_ALL_REDUCE, CG_COLLECTIVE_PERMUTE elements; CG_COPY bytes */
    int dest, src;             /* CG_COLLECTIVE_PERMUTE: to member dest, from member src (this rank's) */
    int rank;                  /* tensor rank of the local shard */
    int64_t dims[IR_MAX_RANK]; /* send shape (all_gather: this rank's shard) */
    int dim, dim2;             /* all_gather / reduce_scatter: dim; all_to_all:
                                  concatenated dim (the old split) and split dim2 */
    int nmembers;
    int64_t *lens, *lens2;     /* member lengths along dim (all_to_all: lens along
                                  dim2 = split_lens, lens2 along dim = cat_lens) */
    CgScan *scan;              /* CG_SCAN */
} CgStep;

/* ---- functions, variants, the program --------------------------------------------- */
struct CgFunc {
    int nbufs;
    CgBuf *bufs;
    int nsteps;
    CgStep *steps;
    int64_t workspace;         /* bytes of workspace this function uses */
    const IrType *lt;          /* by IR value id: local type on these ranks (comments) */
    int nranks;                /* the ranks that run it (a variant) */
    int *ranks;
    bool is_body;              /* a loop body (CG_SCAN): its workspace is passed in,
                                  its results are the next carried values */
};


/* A parameter or result as the runtime sees it (rt_tensor_desc). */
typedef struct CgIo {
    const char *name;          /* --in / --out name */
    IrType type;               /* global */
    Placement pl;              /* parameter: declared; result: the returned value's */
    IrInit init;               /* parameters; a load() path is made absolute */
    int feeds;                 /* results: the parameter index it feeds, or -1 */
} CgIo;

typedef struct CgProgram {
    const IrModule *m;
    const IrFunc *f;           /* the entry function */
    const char *name;          /* program name (the source's base name) */
    const char *src_file;
    int nparams, nresults;
    CgIo *params, *results;
    int nvariants;
    CgFunc *variants;
    int *variant_of;           /* by rank: index into variants */
    int64_t workspace;         /* max over the variants */
    int narenas;               /* the variants' own arenas (cg_program_free) */
    Arena **arenas;
} CgProgram;

/* Lowers m's entry function (partitioned, optimised) for every rank.
 * Returns NULL after printing "FILE:LINE:COL: error: ..." (or
 * "dtc: error: ...") to err, e.g. for f16 on the CPU target. */
CgProgram *cg_lower(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err);
/* Releases the variants' memory: each rank is lowered in an arena of its
 * own, dropped at once when the rank turns out to share a variant, kept
 * until here otherwise (so memory holds one lowering per variant, not one
 * per rank).  p itself lives in cg_lower's arena. */
void cg_program_free(CgProgram *p);

/* Writes a lowered function in a plain text form (every field that matters;
 * lowering compares these to group ranks into variants; handy to debug). */
void cg_func_dump(FILE *out, const IrModule *m, const CgFunc *fn);

/* Names for comments and identifiers. */
const char *cg_value_name(Arena *a, const IrValue *v); /* "%h.4" */
const char *cg_step_name(CgStepKind k);              /* "loop", "matmul", ... */

/* ---- a string -> int map (open addressing), for names made once each ------------------ */
typedef struct CgStrMap {
    int n, cap;          /* cap: a power of two, or 0 */
    const char **key;
    int *val;
} CgStrMap;

/* The value stored for key, or -1. */
int cg_strmap_get(const CgStrMap *m, const char *key);
/* Stores val for key (key is kept, not copied). */
void cg_strmap_put(Arena *a, CgStrMap *m, const char *key, int val);
/* A name for buffer b not yet in *names (name, else name_b<b>, ...), added to it. */
const char *cg_unique_name(Arena *a, CgStrMap *names, const char *name, int b);

/* ---- backends ------------------------------------------------------------------------ */
bool cg_c_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err);
/* The LLVM backend (llvm_backend.c): --emit=exe (the default), llvm, obj. */
bool cg_llvm_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err);
/* The CUDA backend (cuda_backend.c): --target=cuda, --emit=exe or cu. */
bool cg_cuda_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err);
/* Writes the C for p to out (the --emit=c text). */
void cg_c_emit(FILE *out, Arena *a, const CgProgram *p, const CgOptions *opt);

/* ---- link.c: the system C compiler and the runtime ---------------------------------- */
typedef struct CgRuntime {
    const char *include_dir;   /* -I: holds runtime/dtrt.h */
    const char *lib_dir;       /* holds libdtrt.a and libdtrt_core.a */
} CgRuntime;

/* Finds the runtime: $DTC_RUNTIME_DIR (headers under DIR, libraries in DIR
 * or DIR/lib), else the source and build trees dtc was built from.  false
 * with a message on err when it is not there. */
bool cg_find_runtime(Arena *a, CgRuntime *rt, FILE *err);
/* Compiles the C file c_path and links the executable opt->output against
 * the runtime, MPI, OpenBLAS, libm and pthreads with $CC (default cc) at
 * -O<opt_level> (-march=native from -O2).  false with a message on err on
 * failure (the compiler's own diagnostics go to stderr). */
bool cg_link_exe(Arena *a, const char *c_path, const CgOptions *opt, FILE *err);

/* What the CUDA backend's build shares with cg_link_exe. */
bool cg_file_exists(const char *path);
/* stdout of a shell command, or NULL when it fails. */
const char *cg_capture(Arena *a, const char *cmd);
/* MPI's link flags: `mpicc --showme:link`, else `pkg-config --libs ompi-c`, else -lmpi. */
const char *cg_mpi_link_words(Arena *a);

/* A command line being built: v[0..n-1], NULL-terminated. */
typedef struct CgArgv {
    int n, cap;
    char **v;
} CgArgv;

void cg_argv_push(Arena *a, CgArgv *av, const char *s);
/* Appends the whitespace-separated words of s. */
void cg_argv_push_words(Arena *a, CgArgv *av, const char *s);
/* Runs av (PATH lookup); its exit status (128 + signal when killed), or -1
 * when it cannot run (with a message on err). */
int cg_run(const CgArgv *av, FILE *err);
/* "dtc: error: WHAT failed (status N): the command" on err. */
void cg_run_failed(const CgArgv *av, const char *what, int status, FILE *err);

#endif
