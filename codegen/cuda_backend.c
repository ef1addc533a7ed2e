/* cuda_backend.c - the CUDA backend: prints a lowered program (lower.c) as
 * one CUDA C++ file (--emit=cu) and, for --emit=exe, builds it with nvcc
 * against the runtime (runtime/dtrt.h) and its CUDA piece (runtime/cuda/).
 *
 * The file: the parameter and result descriptions (as the C backend's),
 * per variant its kernels and a host function that launches them in step
 * order on the rank's stream, a dispatcher on rt_rank(), and main() calling
 * rt_cuda_main.  What each step becomes:
 *   CG_LOOP      a generated kernel: the fused expression per element over
 *                strided loads, one thread per element (grid-stride); with a
 *                reduction one thread, warp or block per output element
 *                (warp shuffles), accumulating in double (i32 sums in int64)
 *   CG_MATMUL    rt_cuda_matmul: cuBLAS (Sgemm / Dgemm / GemmEx with f32
 *                accumulation for f16 and bf16), strided-batched
 *   CG_SOFTMAX, CG_NORM, CG_EMBEDDING, CG_PICK, CG_XENT
 *                kernel templates of runtime/cuda/dtk_cuda.cuh, one block per
 *                row with warp-shuffle reductions
 *   CG_COPY      cudaMemcpyAsync; CG_RESHAPE nothing
 *   CG_SCAN      a host for loop calling the body's own host function
 *                (loop_body<k>: its kernels, launched in order) once per
 *                layer, with slice pointers base + l * slice bytes and a
 *                device copy of each trip's carried values
 *   collectives  rt_cuda_* (NCCL, or host-staged under DT_COMM=mpi|threads)
 * Device memory (parameters, results, lower.c's workspace layout, scratch)
 * is one allocation made on a rank's first call; parameters are copied up
 * once, results down after every call.
 *
 * The build: the runtime's CUDA piece (rt_cuda.c with the C compiler,
 * rt_cuda_kernels.cu with nvcc) is compiled once per architecture list into
 * a cache (next to libdtrt.a when that directory is writable, else
 * $XDG_CACHE_HOME or ~/.cache, dtc/cuda-rt/ARCHS) and reused while newer
 * than its sources; the program is one nvcc call that compiles the .cu and
 * links it with those objects, libdtrt.a, libdtrt_core.a, MPI, cuBLAS and
 * NCCL.  nvcc is $NVCC, else $CUDA_HOME/bin/nvcc, /usr/local/cuda/bin/nvcc,
 * or nvcc on PATH; NCCL is looked for in the CUDA tree and $NCCL_HOME.
 */
#include "codegen/c_common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir/ir_text.h"
#include "runtime/core/rt_core.h"

#define THREADS 256           /* threads per block of elementwise kernels */
#define MAX_BLOCKS (1 << 20)  /* grid size cap (kernels loop grid-stride) */
#define SMALL_IDX (1LL << 30) /* below this every index fits an int */

typedef struct Cu {
    FILE *o;
    Arena *ar;
    const CgProgram *p;
    const CgOptions *opt;
    const CgFunc *fn;
    int vi;                    /* variant being printed */
    const char **bname;        /* by buffer: C identifier */
    int nchecks;               /* data checks so far */
    const char **checks;       /* their table rows */
    int capchecks;
    uint32_t comm_sets;        /* bit s: a collective over axes mask s */
    int64_t scratch;           /* device scratch bytes needed */
    int nbodies, capbodies;    /* loop bodies printed so far: body k is loop_body<k> */
    const CgFunc **bodies;
} Cu;

static int body_index(const Cu *E, const CgFunc *fn)
{
    for (int k = 0; k < E->nbodies; k++)
        if (E->bodies[k] == fn)
            return k;
    DTC_BUG("cuda backend: a loop body was not emitted");
}

/* ---- names and literals ------------------------------------------------------------- */

/* The type elements are stored as. */
static const char *stype(DType t)
{
    switch (t) {
    case DT_F32: return "float";
    case DT_F64: return "double";
    case DT_I32: return "int32_t";
    case DT_F16: return "__half";
    case DT_BF16: return "__nv_bfloat16";
    default: DTC_BUG("cuda backend: unknown dtype");
    }
}

/* The type values are computed in (f16 / bf16 in float registers). */
static const char *ctype(DType t)
{
    return t == DT_F64 ? "double" : t == DT_I32 ? "int32_t" : "float";
}

static bool narrow(DType t) { return t == DT_F16 || t == DT_BF16; }

/* A literal of compute type for a value of dtype t (rounded to t first). */
static const char *literal(Arena *a, DType t, double x)
{
    if (t == DT_I32)
        return cg_c_i32_literal(a, x);
    if (t == DT_F16)
        x = rt_f16_to_double(rt_f16_from_double(x));
    else if (t == DT_BF16)
        x = rt_bf16_to_double(rt_bf16_from_double(x));
    bool f = t != DT_F64;
    if (isnan(x))
        return f ? "(float)NAN" : "(double)NAN";
    if (isinf(x))
        return x > 0 ? (f ? "(float)INFINITY" : "(double)INFINITY")
                     : (f ? "(-(float)INFINITY)" : "(-(double)INFINITY)");
    return cg_c_float_digits(a, x, f);
}

/* A string literal for s that nvcc's C++ reads the same. */
static const char *cstr(Arena *a, const char *s) { return cg_c_string(a, s, true); }

static const char *local_of(Cu *E, const IrValue *v) { return cg_c_shape(E->ar, &E->fn->lt[v->id]); }

/* An identifier for a value; none starts with '_' (reserved names in C++). */
static const char *ident(Arena *a, const IrValue *v)
{
    const char *s = cg_c_ident(a, v);
    return s[0] == '_' ? arena_printf(a, "v_%s", s) : s;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int64_t grid(int64_t work, int64_t per_block)
{
    int64_t g = ceil_div(work, per_block);
    return g < 1 ? 1 : g > MAX_BLOCKS ? MAX_BLOCKS : g;
}

/* Threads per block of a row kernel: about four elements per thread. */
static int row_block(int64_t len)
{
    int b = 32;
    while (b < 1024 && (int64_t)b * 4 < len)
        b *= 2;
    return b;
}

/* ---- expressions ---------------------------------------------------------------------------- */

static const char *node_ref(Cu *E, const CgLoop *lp, int k)
{
    const CgNode *n = &lp->nodes[k];
    if (n->kind == CG_N_CONST)
        return literal(E->ar, n->dtype, n->f);
    return arena_printf(E->ar, "e%d", k);
}

/* Rounds a float / double expression to the narrow type t. */
static const char *round_to(Arena *a, DType t, const char *x)
{
    return arena_printf(a, "%s(%s)", t == DT_F16 ? "dk_rh" : "dk_rb", x);
}

/* The device expression of an OP node (of compute type). */
static const char *op_expr(Cu *E, const CgLoop *lp, const CgNode *n)
{
    Arena *a = E->ar;
    const char *x[3];
    int nx = 0;
    for (const int *k = &n->a; k <= &n->c && *k >= 0; k++)
        x[nx++] = node_ref(E, lp, *k);
    DType t = n->dtype;
    if (n->op == OP_CAST) {
        DType from = lp->nodes[n->a].dtype;
        if (t == DT_I32)
            return from == DT_I32 ? x[0] : arena_printf(a, "dk_i32_from_double((double)%s)", x[0]);
        if (narrow(t)) /* one rounding from the source value */
            return round_to(a, t, from == DT_F64 || from == DT_I32 ? arena_printf(a, "(double)%s", x[0])
                                                                   : x[0]);
        return arena_printf(a, "(%s)%s", ctype(t), x[0]);
    }
    DType compute = t == DT_F64 || t == DT_I32 ? t : DT_F32;
    const char *v = cg_c_ew_op(a, "dk", n->op, compute, x, nx,
                               n->op == OP_POW ? literal(a, compute, n->f) : NULL);
    if (!v)
        DTC_BUG("cuda backend: elementwise op without a form for this dtype");
    return narrow(t) ? round_to(a, t, v) : v;
}

/* ---- loop kernels ------------------------------------------------------------------------------ */

/* What a loop reads: use counts of its nodes and its distinct buffers. */
typedef struct LoopIo {
    int *uses;                 /* by node */
    int *xbuf;                 /* distinct buffers loaded: x0, x1, ... */
    int nx;
} LoopIo;

static LoopIo loop_io(Cu *E, const CgLoop *lp)
{
    LoopIo io;
    io.uses = arena_alloc(E->ar, sizeof *io.uses * (size_t)(lp->nnodes + 1));
    io.xbuf = arena_alloc(E->ar, sizeof *io.xbuf * (size_t)(lp->nnodes + 1));
    io.nx = 0;
    for (int k = 0; k < lp->nnodes; k++) {
        if (lp->nodes[k].a >= 0)
            io.uses[lp->nodes[k].a]++;
        if (lp->nodes[k].b >= 0)
            io.uses[lp->nodes[k].b]++;
        if (lp->nodes[k].c >= 0)
            io.uses[lp->nodes[k].c]++;
    }
    io.uses[lp->nnodes - 1]++;
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind != CG_N_LOAD || !io.uses[k])
            continue;
        int j = 0;
        while (j < io.nx && io.xbuf[j] != n->buf)
            j++;
        if (j == io.nx)
            io.xbuf[io.nx++] = n->buf;
    }
    return io;
}

static int xindex(const LoopIo *io, int buf)
{
    int j = 0;
    while (io->xbuf[j] != buf)
        j++;
    return j;
}

/* Does every index of the loop fit an int (with room for grid strides)? */
static bool small_indices(const CgLoop *lp)
{
    int64_t total = 1, omax = lp->out_base;
    for (int l = 0; l < lp->nloops; l++) {
        total *= lp->n[l];
        if (l < lp->nkeep)
            omax += (lp->n[l] - 1) * lp->out_stride[l];
    }
    if (total >= SMALL_IDX || omax >= SMALL_IDX)
        return false;
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind != CG_N_LOAD)
            continue;
        int64_t m = n->base; /* the largest index: negative strides (reversed slices) add nothing */
        for (int l = 0; l < lp->nloops; l++)
            if (n->stride[l] > 0)
                m += (lp->n[l] - 1) * n->stride[l];
        if (m >= SMALL_IDX)
            return false;
    }
    return true;
}

/* Statements computing loop indices i[from..to) from the flat index `flat`. */
static void emit_decompose(FILE *o, const CgLoop *lp, const char *idx, const char *flat, int from,
                           int to, int depth)
{
    if (to <= from)
        return;
    if (to - from == 1) {
        cg_c_indent(o, depth);
        fprintf(o, "const %s i%d = %s;\n", idx, from, flat);
        return;
    }
    cg_c_indent(o, depth);
    fprintf(o, "%s q = %s;\n", idx, flat);
    for (int l = to - 1; l > from; l--) {
        cg_c_indent(o, depth);
        fprintf(o, "const %s i%d = q %% %lld;\n", idx, l, (long long)lp->n[l]);
        cg_c_indent(o, depth);
        fprintf(o, "q /= %lld;\n", (long long)lp->n[l]);
    }
    cg_c_indent(o, depth);
    fprintf(o, "const %s i%d = q;\n", idx, from);
}

/* The node statements; returns the element's value. */
static const char *emit_nodes(Cu *E, const CgLoop *lp, const LoopIo *io, int depth)
{
    FILE *o = E->o;
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind == CG_N_CONST || !io->uses[k])
            continue;
        cg_c_indent(o, depth);
        if (n->kind == CG_N_LOAD)
            fprintf(o, "const %s e%d = dk_ld(x%d[%s]); /* %s */\n", ctype(n->dtype), k,
                    xindex(io, n->buf), cg_c_index(E->ar, n->base, n->stride, 0, lp->nloops),
                    cg_c_comment(E->ar, cg_c_vname(E->ar, n->value)));
        else if (n->kind == CG_N_IOTA) {
            const char *v = arena_printf(E->ar, "(%s)(%s)", ctype(n->dtype),
                                         cg_c_index(E->ar, n->base, n->stride, 0, lp->nloops));
            fprintf(o, "const %s e%d = %s; /* %s */\n", ctype(n->dtype), k,
                    narrow(n->dtype) ? round_to(E->ar, n->dtype, v) : v,
                    cg_c_comment(E->ar, cg_c_vname(E->ar, n->value)));
        } else
            fprintf(o, "const %s e%d = %s;\n", ctype(n->dtype), k, op_expr(E, lp, n));
    }
    return node_ref(E, lp, lp->nnodes - 1);
}

/* A compute-type value stored as dtype t. */
static const char *store(Arena *a, DType t, const char *v)
{
    if (t == DT_F16)
        return arena_printf(a, "__float2half_rn(%s)", v);
    if (t == DT_BF16)
        return arena_printf(a, "__float2bfloat16_rn(%s)", v);
    return v;
}

typedef struct RedForm {
    const char *acc_t, *init, *op; /* accumulator type, initial value, functor */
} RedForm;

static RedForm red_form(const CgLoop *lp)
{
    RedForm r;
    DType od = lp->out_dtype;
    bool i32 = od == DT_I32;
    r.acc_t = i32 && lp->red == OP_SUM ? "long long" : i32 && lp->red != OP_MEAN ? "int32_t" : "double";
    r.init = lp->red == OP_MAX   ? (i32 ? "INT32_MIN" : "-(double)INFINITY")
             : lp->red == OP_MIN ? (i32 ? "INT32_MAX" : "(double)INFINITY")
             : !strcmp(r.acc_t, "double") ? "0.0"
                                          : "0LL";
    r.op = lp->red == OP_MAX ? "DkMax()" : lp->red == OP_MIN ? "DkMin()" : "DkSum()";
    return r;
}

/* acc (op)= value */
static const char *red_step(Arena *a, const CgLoop *lp, const char *v)
{
    bool i32 = lp->out_dtype == DT_I32;
    if (lp->red == OP_SUM || lp->red == OP_MEAN)
        return arena_printf(a, "acc += %s;", v);
    return arena_printf(a, "acc = dk_%s_%s(acc, %s);", lp->red == OP_MAX ? "max" : "min",
                        i32 ? "i32" : "f64", i32 ? v : arena_printf(a, "(double)%s", v));
}

/* The stored result from acc. */
static const char *red_final(Arena *a, const CgLoop *lp)
{
    DType od = lp->out_dtype;
    const char *r = lp->red == OP_MEAN ? arena_printf(a, "acc / %lld.0", (long long)lp->red_count) : "acc";
    switch (od) {
    case DT_I32:
        return lp->red == OP_MEAN ? arena_printf(a, "dk_i32_from_double(%s)", r)
               : lp->red == OP_SUM ? "dk_wrap_i32(acc)"
                                   : "acc";
    case DT_F32: return arena_printf(a, "(float)(%s)", r);
    case DT_F16: return arena_printf(a, "__double2half(%s)", r);
    case DT_BF16: return arena_printf(a, "__double2bfloat16(%s)", r);
    default: return r;
    }
}

/* How a reduction is spread: threads per output element (1, 32 or 256). */
static int red_group(const CgLoop *lp, int64_t nout)
{
    int64_t R = lp->red_count;
    if (R < 32)
        return 1;
    /* neighbouring outputs read neighbouring elements while the reduced
     * loop strides: a thread per output keeps the loads coalesced */
    bool across = lp->nkeep > 0;
    for (int k = 0; k < lp->nnodes && across; k++) {
        const CgNode *n = &lp->nodes[k];
        if (n->kind == CG_N_LOAD && (n->stride[lp->nkeep - 1] != 1 || n->stride[lp->nloops - 1] == 1))
            across = false;
    }
    if (across && nout >= 2048)
        return 1;
    if (nout >= 256 || R < 4096)
        return 32;
    return 256;
}

static void emit_kernel_params(Cu *E, const CgLoop *lp, const LoopIo *io)
{
    for (int j = 0; j < io->nx; j++)
        fprintf(E->o, "const %s *__restrict__ x%d, ", stype(E->fn->bufs[io->xbuf[j]].dtype), j);
    fprintf(E->o, "%s *__restrict__ y)\n{\n", stype(lp->out_dtype));
}

/* for (t = this thread; t < n; t += all threads) { */
static void emit_thread_loop(FILE *o, const char *idx, int64_t n)
{
    fprintf(o, "    for (%s t = (%s)blockIdx.x * (%s)blockDim.x + (%s)threadIdx.x; t < %lld;\n", idx, idx,
            idx, idx, (long long)n);
    fprintf(o, "         t += (%s)gridDim.x * (%s)blockDim.x) {\n", idx, idx);
}

/* Prints the kernel of a loop step; returns its launch configuration. */
static void emit_loop_kernel(Cu *E, const CgStep *s, const char *kname, int64_t *blocks, int *threads)
{
    FILE *o = E->o;
    Arena *a = E->ar;
    const CgLoop *lp = &s->loop;
    LoopIo io = loop_io(E, lp);
    const char *idx = small_indices(lp) ? "int" : "long long";
    int64_t nout = 1;
    for (int l = 0; l < lp->nkeep; l++)
        nout *= lp->n[l];
    const char *oidx = cg_c_index(a, lp->out_base, lp->out_stride, 0, lp->nkeep);
    if (nout == 0) { /* an empty result: no kernel, no launch */
        *blocks = 0;
        *threads = 0;
        fprintf(o, "/* (empty: no kernel) */\n\n");
        return;
    }
    fprintf(o, "__global__ void __launch_bounds__(%d) %s(", THREADS, kname);
    emit_kernel_params(E, lp, &io);
    *threads = THREADS;
    if (lp->red == OP_COUNT) { /* one thread per element */
        *blocks = grid(nout, THREADS);
        emit_thread_loop(o, idx, nout);
        emit_decompose(o, lp, idx, "t", 0, lp->nloops, 2);
        const char *v = emit_nodes(E, lp, &io, 2);
        fprintf(o, "        y[%s] = %s;\n    }\n}\n\n", oidx, store(a, lp->out_dtype, v));
        return;
    }
    RedForm rf = red_form(lp);
    int g = red_group(lp, nout);
    int64_t R = lp->red_count;
    fprintf(o, "    /* %lld outputs, each reducing %lld elements: %s per output */\n", (long long)nout,
            (long long)R, g == 1 ? "a thread" : g == 32 ? "a warp" : "a block");
    if (g == 1) {
        *blocks = grid(nout, THREADS);
        emit_thread_loop(o, idx, nout);
        emit_decompose(o, lp, idx, "t", 0, lp->nkeep, 2);
        fprintf(o, "        %s acc = %s;\n", rf.acc_t, rf.init);
        int depth = 2;
        for (int l = lp->nkeep; l < lp->nloops; l++) {
            cg_c_indent(o, depth++);
            fprintf(o, "for (%s i%d = 0; i%d < %lld; i%d++) {\n", idx, l, l, (long long)lp->n[l], l);
        }
        const char *v = emit_nodes(E, lp, &io, depth);
        cg_c_indent(o, depth);
        fprintf(o, "%s\n", red_step(a, lp, v));
        while (depth > 2) {
            cg_c_indent(o, --depth);
            fprintf(o, "}\n");
        }
        fprintf(o, "        y[%s] = %s;\n    }\n}\n\n", oidx, red_final(a, lp));
        return;
    }
    if (g == 32) {
        *blocks = grid(nout, THREADS / 32);
        fprintf(o, "    const int lane = threadIdx.x & 31;\n");
        fprintf(o, "    for (%s t = (%s)blockIdx.x * %d + (threadIdx.x >> 5); t < %lld; t += (%s)gridDim.x * %d) {\n",
                idx, idx, THREADS / 32, (long long)nout, idx, THREADS / 32);
    } else {
        *blocks = grid(nout, 1);
        fprintf(o, "    for (%s t = blockIdx.x; t < %lld; t += gridDim.x) {\n", idx, (long long)nout);
    }
    emit_decompose(o, lp, idx, "t", 0, lp->nkeep, 2);
    fprintf(o, "        %s acc = %s;\n", rf.acc_t, rf.init);
    fprintf(o, "        for (%s r = %s; r < %lld; r += %d) {\n", idx, g == 32 ? "lane" : "threadIdx.x",
            (long long)R, g);
    emit_decompose(o, lp, idx, "r", lp->nkeep, lp->nloops, 3);
    const char *v = emit_nodes(E, lp, &io, 3);
    fprintf(o, "            %s\n        }\n", red_step(a, lp, v));
    if (g == 32) {
        fprintf(o, "        acc = dk_warp_reduce(acc, %s);\n", rf.op);
        fprintf(o, "        if (lane == 0)\n");
    } else {
        fprintf(o, "        acc = dk_block_reduce(acc, %s, (%s)%s);\n", rf.op, rf.acc_t, rf.init);
        fprintf(o, "        if (threadIdx.x == 0)\n");
    }
    fprintf(o, "            y[%s] = %s;\n    }\n}\n\n", oidx, red_final(a, lp));
}

/* ---- steps ----------------------------------------------------------------------------------------- */

static const char *where_of(Cu *E, const IrInst *i)
{
    if (!i || !i->loc.file || i->loc.line <= 0)
        return "";
    return arena_printf(E->ar, " (%s:%d:%d)", i->loc.file, i->loc.line, i->loc.col);
}

/* "matmul %3 (mlp.dt:10:20)": names a step in messages. */
static const char *step_what(Cu *E, const CgStep *s)
{
    return arena_printf(E->ar, "%s%s", cg_c_step_name(E->ar, E->p, E->fn, s), where_of(E, s->inst));
}

static const char *kernel_name(Cu *E, int si, const CgStep *s)
{
    const char *op = s->inst ? ir_op_name(s->inst->op) : "copy";
    char *n = arena_printf(E->ar, "k%d_%d_%s", E->vi, si, op);
    for (char *q = n; *q; q++)
        if (!isalnum((unsigned char)*q))
            *q = '_';
    return n;
}

static int add_check(Cu *E, const CgStep *s, const char *op, const char *what, const char *at)
{
    if (E->nchecks == E->capchecks) {
        int nc = E->capchecks ? E->capchecks * 2 : 8;
        const char **c = arena_alloc(E->ar, sizeof *c * (size_t)nc);
        if (E->nchecks)
            memcpy(c, E->checks, sizeof *c * (size_t)E->nchecks);
        E->checks = c;
        E->capchecks = nc;
    }
    E->checks[E->nchecks] = arena_printf(E->ar, "{%s, \"%s\", \"%s\", \"%s\"}",
                                         cstr(E->ar, s->where ? s->where : "?"), op, what, at);
    return E->nchecks++;
}

static void need_scratch(Cu *E, int64_t bytes)
{
    if (bytes > E->scratch)
        E->scratch = bytes;
}

static int64_t numel_of(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    return n;
}

/* Kernels of a variant, before its host function. */
static void emit_step_kernel(Cu *E, int si, const CgStep *s, int64_t *blocks, int *threads)
{
    if (s->kind != CG_LOOP)
        return;
    const IrInst *i = s->inst;
    fprintf(E->o, "/* [%d] %s = %s%s%s */\n", si, cg_c_comment(E->ar, cg_c_vname(E->ar, i ? i->res[0] : NULL)),
            i ? ir_op_name(i->op) : "copy", cg_c_comment(E->ar, cg_c_args(E->ar, i)),
            cg_c_comment(E->ar, where_of(E, i)));
    emit_loop_kernel(E, s, kernel_name(E, si, s), blocks, threads);
}

static void emit_launch_check(Cu *E, const CgStep *s)
{
    fprintf(E->o, "    rt_cuda_launched(ctx, %s);\n", cstr(E->ar, step_what(E, s)));
}

static void emit_step(Cu *E, int si, const CgStep *s, int64_t blocks, int threads)
{
    FILE *o = E->o;
    Arena *a = E->ar;
    const IrInst *i = s->inst;
    const IrValue *v = i ? i->res[0] : NULL;
    const char *out = E->bname[s->out];
    const char *in0 = s->nin > 0 ? E->bname[s->in[0]] : "?", *in1 = s->nin > 1 ? E->bname[s->in[1]] : "?",
               *in2 = s->nin > 2 ? E->bname[s->in[2]] : "?";
    const char *st = cg_c_rtype(s->dtype), *T = stype(s->dtype);

    fprintf(o, "\n    /* [%d] ", si);
    if (s->kind == CG_COPY && !i) {
        const CgBuf *b = &E->fn->bufs[s->out];
        fprintf(o, "%s %s: copy of %s, %lld bytes */\n", E->fn->is_body ? "carried value" : "result",
                E->fn->is_body ? arena_printf(a, "%d", b->index) : cg_c_comment(a, E->p->results[b->index].name),
                cg_c_comment(a, cg_c_vname(E->ar, b->value)), (long long)s->count);
        fprintf(o, "    rt_cuda_copy(ctx, cu, %s, %s, %lld);\n", out, in0, (long long)s->count);
        return;
    }
    fprintf(o, "%s = %s%s%s\n", cg_c_comment(a, cg_c_vname(E->ar, v)), ir_op_name(i->op), cg_c_comment(a, cg_c_args(E->ar, i)),
            cg_c_comment(a, where_of(E, i)));
    fprintf(o, "     *     %s, local %s", cg_c_comment(a, cg_c_type_pl(E->ar, &E->p->m->mesh, v)), local_of(E, v));
    if (s->kind == CG_MATMUL)
        fprintf(o, " = %s%s x %s%s", local_of(E, i->args[0]), s->ta ? " (transposed in the call)" : "",
                local_of(E, i->args[1]), s->tb ? " (transposed in the call)" : "");
    if (s->kind >= CG_ALL_REDUCE) {
        char p1[128];
        fprintf(o, "\n     *     over %s: %s -> %s", cg_c_axes(E->ar, &E->p->m->mesh, s->axes),
                pl_str(&E->p->m->mesh, &i->args[0]->pl, p1, sizeof p1), cg_c_comment(a, cg_c_type_pl(E->ar, &E->p->m->mesh, v)));
        if (i->why)
            fprintf(o, "\n     *     why: %s", cg_c_comment(a, i->why));
        if (i->plan)
            fprintf(o, "\n     *     plan: %s", cg_c_comment(a, i->plan));
    }
    fprintf(o, " */\n");

    bool prof = s->kind != CG_RESHAPE && s->kind != CG_SCAN && s->kind < CG_ALL_REDUCE; /* collectives and
                                                                                       loop bodies profile themselves */
    if (prof)
        fprintf(o, "    rt_cuda_prof_begin(ctx, cu, %s, %lld);\n", cstr(a, cg_c_step_name(a, E->p, E->fn, s)),
                (long long)s->bytes);
    const char *what = cstr(a, step_what(E, s));
    switch (s->kind) {
    case CG_SCAN:
        cg_c_emit_scan(o, s->scan, E->bname, "rt_cuda_copy(ctx, cu, ",
                       arena_printf(a, "loop_body%d(ctx, cu, bp, br, (char *)%s);", body_index(E, s->scan->fn),
                                    E->bname[s->scan->ws]));
        break;
    case CG_LOOP: {
        if (blocks == 0) {
            fprintf(o, "    /* empty: nothing to compute */\n");
            break;
        }
        LoopIo io = loop_io(E, &s->loop);
        fprintf(o, "    %s<<<%lld, %d, 0, cu->stream>>>(", kernel_name(E, si, s), (long long)blocks, threads);
        for (int j = 0; j < io.nx; j++)
            fprintf(o, "%s, ", E->bname[io.xbuf[j]]);
        fprintf(o, "%s);\n", out);
        emit_launch_check(E, s);
        break;
    }
    case CG_MATMUL:
        DTC_ASSERT(s->a_offset == 0); /* lowering blocks no GEMM for CUDA */
        if (s->strided) /* lowering folds views only for the CPU target */
            DTC_BUG("cuda: a strided matmul step");
        if (s->nbatch) {
            fprintf(o, "    {\n");
            cg_c_emit_batch_arrays(o, a, s);
            fprintf(o, "        rt_cuda_matmul(ctx, cu, %s, %s, %d, batch, astride, bstride, %lld, %lld, %lld, %d, %d, %s, %s, %s);\n",
                    what, st, s->nbatch, (long long)s->M, (long long)s->N, (long long)s->K, s->ta, s->tb, in0, in1, out);
            fprintf(o, "    }\n");
        } else {
            fprintf(o, "    rt_cuda_matmul(ctx, cu, %s, %s, 0, NULL, NULL, NULL, %lld, %lld, %lld, %d, %d, %s, %s, %s);\n",
                    what, st, (long long)s->M, (long long)s->N, (long long)s->K, s->ta, s->tb, in0, in1, out);
        }
        break;
    case CG_SOFTMAX:
        if (s->outer * s->len * s->inner == 0) {
            fprintf(o, "    /* empty: nothing to compute */\n");
        } else if (s->inner == 1) {
            fprintf(o, "    dk_softmax_rows<%s, %d><<<%lld, %d, 0, cu->stream>>>(%s, %s, %lld, %lld);\n", T,
                    s->take_log, (long long)grid(s->outer, 1), row_block(s->len), in0, out,
                    (long long)s->outer, (long long)s->len);
            emit_launch_check(E, s);
        } else {
            fprintf(o, "    dk_softmax_cols<%s, %d><<<%lld, %d, 0, cu->stream>>>(%s, %s, %lld, %lld, %lld);\n", T,
                    s->take_log, (long long)grid(s->outer * s->inner, THREADS), THREADS, in0, out,
                    (long long)s->outer, (long long)s->len, (long long)s->inner);
            emit_launch_check(E, s);
        }
        break;
    case CG_NORM:
        if (s->outer * s->len == 0) {
            fprintf(o, "    /* empty: nothing to compute */\n");
            break;
        }
        if (s->layernorm)
            fprintf(o, "    dk_layernorm<%s><<<%lld, %d, 0, cu->stream>>>(%s, %s, %s, %s, %lld, %lld, %s);\n", T,
                    (long long)grid(s->outer, 1), row_block(s->len), in0, in1, in2, out,
                    (long long)s->outer, (long long)s->len, literal(a, DT_F64, s->eps));
        else
            fprintf(o, "    dk_rmsnorm<%s><<<%lld, %d, 0, cu->stream>>>(%s, %s, %s, %lld, %lld, %s);\n", T,
                    (long long)grid(s->outer, 1), row_block(s->len), in0, in1, out, (long long)s->outer,
                    (long long)s->len, literal(a, DT_F64, s->eps));
        emit_launch_check(E, s);
        break;
    case CG_EMBEDDING: {
        int c = add_check(E, s, "embedding", "id", "position");
        fprintf(o, "    /* this rank holds table rows [%lld, %lld) of %lld: other ids give 0 rows */\n",
                (long long)s->off, (long long)(s->off + s->len), (long long)s->total);
        if (s->outer == 0) {
            fprintf(o, "    /* no ids */\n");
            break;
        }
        int b = 32;
        while (b < THREADS && b < s->inner)
            b *= 2;
        fprintf(o, "    dk_embedding<%s><<<%lld, %d, 0, cu->stream>>>(%s, %lld, %lld, %s, %lld, %lld, %lld, %s, cu->error, %d);\n",
                T, (long long)grid(s->outer, 1), b, in0, (long long)s->len, (long long)s->inner, in1,
                (long long)s->outer, (long long)s->off, (long long)s->total, out, c);
        emit_launch_check(E, s);
        break;
    }
    case CG_PICK: {
        int c = add_check(E, s, "pick", "label", "row");
        fprintf(o, "    /* this rank holds logit columns [%lld, %lld) of %lld: other labels give 0 */\n",
                (long long)s->off, (long long)(s->off + s->len), (long long)s->total);
        if (s->outer == 0) {
            fprintf(o, "    /* no rows */\n");
            break;
        }
        fprintf(o, "    dk_pick<%s><<<%lld, %d, 0, cu->stream>>>(%s, %lld, %lld, %s, %lld, %lld, %s, cu->error, %d);\n",
                T, (long long)grid(s->outer, THREADS), THREADS, in0, (long long)s->outer, (long long)s->len,
                in1, (long long)s->off, (long long)s->total, out, c);
        emit_launch_check(E, s);
        break;
    }
    case CG_XENT: {
        int c = add_check(E, s, "cross_entropy", "label", "row");
        need_scratch(E, s->outer * 8);
        fprintf(o, "    /* row losses in scratch, then their mean */\n");
        if (s->outer > 0)
            fprintf(o, "    dk_xent_rows<%s><<<%lld, %d, 0, cu->stream>>>(%s, %lld, %lld, %s, (double *)cu->scratch, cu->error, %d);\n",
                    T, (long long)grid(s->outer, 1), row_block(s->len), in0, (long long)s->outer,
                    (long long)s->len, in1, c);
        fprintf(o, "    dk_xent_mean<%s><<<1, %d, 0, cu->stream>>>((const double *)cu->scratch, %lld, %s);\n", T,
                THREADS, (long long)s->outer, out);
        emit_launch_check(E, s);
        break;
    }
    case CG_ROUTE:
        DTC_BUG("cuda: routing ops are refused before emission");
    case CG_COPY:
        fprintf(o, "    rt_cuda_copy(ctx, cu, %s, %s, %lld); /* the operand is read again later: reduce a copy */\n",
                out, in0, (long long)s->count);
        break;
    case CG_RESHAPE:
        fprintf(o, "    /* no code: %s is %s's buffer (%s) under the new shape */\n",
                cg_c_comment(a, cg_c_vname(E->ar, v)), cg_c_comment(a, cg_c_vname(E->ar, i->args[0])), out);
        break;
    case CG_ALL_REDUCE:
        E->comm_sets |= 1u << s->axes;
        need_scratch(E, 2 * s->count * ir_dtype_size(s->dtype) + 256);
        cg_c_emit_collective(o, a, s, "rt_cuda_", "ctx, cu", in0, out);
        break;
    case CG_ALL_GATHER:
    case CG_REDUCE_SCATTER:
    case CG_ALL_TO_ALL:
        E->comm_sets |= 1u << s->axes;
        need_scratch(E, numel_of(s->rank, s->dims) * ir_dtype_size(s->dtype) + s->bytes + 256);
        cg_c_emit_collective(o, a, s, "rt_cuda_", "ctx, cu", in0, out);
        break;
    case CG_COLLECTIVE_PERMUTE:
        E->comm_sets |= 1u << s->axes;
        cg_c_emit_collective(o, a, s, "rt_cuda_", "ctx, cu", in0, out);
        break;
    case CG_WAIT: /* the driver does not schedule for CUDA: NCCL's collectives stay blocking */
        DTC_BUG("cuda: an async collective reached emission");
    }
    if (prof)
        fprintf(o, "    rt_cuda_prof_end(ctx, cu);\n");
}

/* ---- functions ---------------------------------------------------------------------------------------- */

static void emit_cu_func(Cu *E, const CgFunc *fn, int vi, int body);

/* The bodies of fn's loops (theirs first), each once; their kernels are
 * named as a variant's numbered after the real ones. */
static void emit_bodies(Cu *E, const CgFunc *fn)
{
    for (int k = 0; k < fn->nsteps; k++) {
        if (fn->steps[k].kind != CG_SCAN)
            continue;
        const CgFunc *b = fn->steps[k].scan->fn;
        emit_bodies(E, b);
        if (E->nbodies == E->capbodies) {
            E->capbodies = E->capbodies ? 2 * E->capbodies : 8;
            const CgFunc **nb = arena_alloc(E->ar, sizeof *nb * (size_t)E->capbodies);
            if (E->nbodies)
                memcpy(nb, E->bodies, sizeof *nb * (size_t)E->nbodies);
            E->bodies = nb;
        }
        E->bodies[E->nbodies] = b;
        emit_cu_func(E, b, E->p->nvariants + E->nbodies, E->nbodies);
        E->nbodies++;
    }
}

static void emit_func(Cu *E, int vi)
{
    emit_bodies(E, &E->p->variants[vi]);
    emit_cu_func(E, &E->p->variants[vi], vi, -1);
}

/* A variant (body < 0) or loop body number `body` (vi: a number for its
 * kernels' names). */
static void emit_cu_func(Cu *E, const CgFunc *fn, int vi, int body)
{
    FILE *o = E->o;
    E->fn = fn;
    E->vi = vi;
    E->bname = arena_alloc(E->ar, sizeof *E->bname * (size_t)(fn->nbufs + 1));
    bool *used = arena_alloc(E->ar, sizeof *used * (size_t)(fn->nbufs + 1));
    int64_t *blocks = arena_alloc(E->ar, sizeof *blocks * (size_t)(fn->nsteps + 1));
    int *threads = arena_alloc(E->ar, sizeof *threads * (size_t)(fn->nsteps + 1));
    for (int k = 0; k < fn->nsteps; k++) {
        const CgStep *s = &fn->steps[k];
        blocks[k] = 1;
        if (s->kind == CG_LOOP) {
            int64_t n = 1;
            for (int l = 0; l < s->loop.nkeep; l++)
                n *= s->loop.n[l];
            blocks[k] = n; /* 0: an empty loop, no kernel */
        }
        if (s->kind == CG_RESHAPE || blocks[k] == 0)
            continue;
        used[s->out] = true;
        for (int j = 0; j < s->nin; j++)
            used[s->in[j]] = true;
        for (int j = 0; s->kind == CG_LOOP && j < s->loop.nnodes; j++)
            if (s->loop.nodes[j].kind == CG_N_LOAD)
                used[s->loop.nodes[j].buf] = true;
        if (s->kind == CG_SCAN) {
            for (int j = 0; j < s->scan->nargs; j++)
                used[s->scan->args[j]] = true;
            for (int j = 0; j < s->scan->ncarry; j++)
                used[s->scan->outs[j]] = used[s->scan->next[j]] = true;
            used[s->scan->ws] = true;
        }
    }
    CgStrMap names = {0, 0, NULL, NULL};
    for (int b = 0; b < fn->nbufs; b++) {
        const CgBuf *x = &fn->bufs[b];
        const char *n = ident(E->ar, x->value);
        if (x->kind == CG_BUF_RESULT && fn->is_body)
            n = arena_printf(E->ar, "carry%d", x->index);
        else if (x->kind == CG_BUF_RESULT && x->value != E->p->f->results[x->index])
            n = arena_printf(E->ar, "result%d", x->index);
        E->bname[b] = cg_unique_name(E->ar, &names, n, b);
    }

    if (body >= 0)
        fprintf(o, "/* ---- loop body %d: one trip; params = carried values, this layer's slices, captures;\n"
                   " * results = the next carried values; ws = its device workspace", body);
    else
        cg_c_emit_variant_title(o, E->ar, &E->p->m->mesh, fn, vi);
    fprintf(o, "\n * %d steps; device workspace %lld bytes */\n\n", fn->nsteps, (long long)fn->workspace);
    for (int k = 0; k < fn->nsteps; k++)
        emit_step_kernel(E, k, &fn->steps[k], &blocks[k], &threads[k]);

    if (body >= 0) {
        fprintf(o, "static void loop_body%d(rt_ctx *ctx, rt_cuda *cu, void *const *params, void *const *results, "
                   "char *ws)\n{\n", body);
        fprintf(o, "    (void)ctx;\n    (void)cu;\n    (void)params;\n    (void)results;\n    (void)ws;\n");
    } else {
        fprintf(o, "static void run_v%d(rt_ctx *ctx, rt_cuda *cu)\n{\n", vi);
        if (cg_c_uses_workspace(fn, used))
            fprintf(o, "    char *ws = cu->workspace;\n");
        fprintf(o, "    (void)ctx;\n    (void)cu;\n");
    }
    fprintf(o, "    /* device buffers: local shards on these ranks */\n");
    for (int b = 0; b < fn->nbufs; b++) {
        const CgBuf *x = &fn->bufs[b];
        if (!used[b])
            continue;
        const char *t = stype(x->dtype);
        const IrValue *v = x->value;
        switch (x->kind) {
        case CG_BUF_PARAM:
            fprintf(o, "    const %s *%s = (const %s *)%s[%d]; /* %s %s, local %s */\n", t, E->bname[b], t,
                    fn->is_body ? "params" : "cu->params", x->index, cg_c_comment(E->ar, cg_c_vname(E->ar, v)),
                    cg_c_comment(E->ar, cg_c_type_pl(E->ar, &E->p->m->mesh, v)), local_of(E, v));
            break;
        case CG_BUF_RESULT:
            if (fn->is_body) {
                fprintf(o, "    %s *%s = (%s *)results[%d]; /* next carried value %d: %s, local %s */\n", t,
                        E->bname[b], t, x->index, x->index, cg_c_comment(E->ar, cg_c_type_pl(E->ar, &E->p->m->mesh, v)),
                        local_of(E, v));
                break;
            }
            fprintf(o, "    %s *%s = (%s *)cu->results[%d]; /* result %s: %s, local %s */\n", t, E->bname[b], t,
                    x->index, cg_c_comment(E->ar, E->p->results[x->index].name),
                    cg_c_comment(E->ar, cg_c_type_pl(E->ar, &E->p->m->mesh, E->p->f->results[x->index])),
                    local_of(E, v));
            break;
        case CG_BUF_WORK:
            fprintf(o, "    %s *%s = (%s *)(ws + %lld); /* %s, local %s, %lld bytes, steps %d..%d */\n", t,
                    E->bname[b], t, (long long)x->offset, cg_c_comment(E->ar, cg_c_vname(E->ar, v)), local_of(E, v),
                    (long long)x->bytes, x->first, x->last);
            break;
        }
    }
    for (int k = 0; k < fn->nsteps; k++)
        emit_step(E, k, &fn->steps[k], blocks[k], threads[k]);
    fprintf(o, "}\n\n");
}

/* The --cuda-arch list as nvcc -gencode options: sm_NN gives code for
 * NN, the last entry also PTX (so newer GPUs can JIT it); compute_NN PTX
 * only.  NULL with a message for a malformed entry. */
static const char **gencode(Arena *a, const char *list, int *n, FILE *err)
{
    *n = 0;
    size_t len = strlen(list ? list : "");
    const char **v = arena_alloc(a, sizeof *v * (len + 2));
    const char *p = list ? list : "", *last_num = NULL;
    while (*p) {
        size_t w = strcspn(p, ",");
        char *e = arena_strndup(a, p, w);
        bool sm = !strncmp(e, "sm_", 3), cp = !strncmp(e, "compute_", 8);
        const char *num = e + (sm ? 3 : cp ? 8 : 0);
        bool ok = (sm || cp) && isdigit((unsigned char)num[0]);
        for (const char *q = num; ok && *q; q++)
            ok = isalnum((unsigned char)*q);
        if (!ok) {
            fprintf(err, "dtc: error: --cuda-arch: '%s' is not an architecture like sm_80 or compute_90\n", e);
            return NULL;
        }
        v[(*n)++] = arena_printf(a, "-gencode=arch=compute_%s,code=%s_%s", num, sm ? "sm" : "compute", num);
        if (sm)
            last_num = num;
        p += w;
        if (*p == ',')
            p++;
    }
    if (*n == 0) {
        fprintf(err, "dtc: error: --cuda-arch is empty\n");
        return NULL;
    }
    if (last_num)
        v[(*n)++] = arena_printf(a, "-gencode=arch=compute_%s,code=compute_%s", last_num, last_num);
    return v;
}

static void cu_emit(FILE *o, Arena *a, const CgProgram *p, const CgOptions *opt)
{
    Cu E;
    memset(&E, 0, sizeof E);
    E.o = o;
    E.ar = a;
    E.p = p;
    E.opt = opt;
    const IrMesh *m = &p->m->mesh;
    int nranks = ir_mesh_nranks(m);
    const char *arch = opt->cuda_arch && *opt->cuda_arch ? opt->cuda_arch : "sm_80,sm_90";

    fprintf(o, "/* %s.cu - generated by dtc from %s; the per-rank program for the CUDA target.\n",
            cg_c_comment(a, p->name), cg_c_comment(a, p->src_file ? p->src_file : "?"));
    fprintf(o, " *\n * mesh %s: %d rank%s, %d variant%s (ranks with the same local shapes share one).\n",
            cg_c_comment(a, cg_c_mesh(a, m)), nranks, nranks == 1 ? "" : "s", p->nvariants,
            p->nvariants == 1 ? "" : "s");
    fprintf(o, " * Every step works on this rank's local shards in GPU memory, in order on the\n"
               " * rank's stream: generated kernels for fused elementwise loops and reductions,\n"
               " * kernel templates (runtime/cuda/dtk_cuda.cuh) for softmax, norms and lookups,\n"
               " * cuBLAS for matmuls, and the collectives of runtime/cuda/rt_cuda.h (NCCL, or\n"
               " * host-staged with DT_COMM=mpi / DT_COMM=threads).  The runtime (runtime/dtrt.h)\n"
               " * scatters the parameters, assembles the results and prints them.\n *\n"
               " * Built by `dtc compile --target=cuda` (nvcc, for %s); by hand:\n", cg_c_comment(a, arch));
    const char *inc, *lib;
    cg_c_runtime_dirs(a, &inc, &lib);
    fprintf(o, " *   nvcc -std=c++17 -O2 -arch=sm_90 -I%s %s.cu \\\n", cg_c_comment(a, inc), cg_c_comment(a, p->name));
    fprintf(o, " *      %s/cuda-rt/sm_90/rt_cuda.o %s/cuda-rt/sm_90/rt_cuda_kernels.o \\\n", cg_c_comment(a, lib),
            cg_c_comment(a, lib));
    fprintf(o, " *      %s/libdtrt.a %s/libdtrt_core.a $(mpicc --showme:link) -lcublas -lnccl -o %s\n",
            cg_c_comment(a, lib), cg_c_comment(a, lib), cg_c_comment(a, p->name));
    fprintf(o, " *   (dtc builds and caches the runtime's CUDA objects per architecture list)\n");
    fprintf(o, " * Run: ./%s --ranks %d   or   mpirun -np %d ./%s   (--help for options)\n */\n",
            cg_c_comment(a, p->name), nranks, nranks, cg_c_comment(a, p->name));
    fprintf(o, "#include <math.h>\n#include <stdint.h>\n\n");
    fprintf(o, "#include \"runtime/cuda/rt_cuda.h\"\n#include \"runtime/cuda/dtk_cuda.cuh\"\n\n");
    fprintf(o, "/* Parameters and results: global type and placement.  The runtime gives\n"
               " * `run` each rank's local shard of every parameter and takes its local\n"
               " * shard of every result (the placement of the value returned). */\n");
    cg_c_emit_descs(o, a, p, true);
    fprintf(o, "/* Does this GPU have code of this build?  (checked at start-up) */\n"
               "__global__ void dt_probe(void) {}\n\n");
    for (int v = 0; v < p->nvariants; v++)
        emit_func(&E, v);

    fprintf(o, "static int run(rt_ctx *ctx, void *const *params, void *const *results);\n\n");
    fprintf(o, "static const rt_program dt_program = {\n");
    fprintf(o, "    NULL, /* name: messages use the executable's */\n");
    fprintf(o, "    %s,\n", cg_c_mesh_init(a, m, true));
    fprintf(o, "    %d, %s,\n    %d, %s,\n", p->nparams, p->nparams ? "dt_params" : "NULL", p->nresults,
            p->nresults ? "dt_results" : "NULL");
    fprintf(o, "    RT_CUDA_HOST_WORKSPACE, /* holds the rank's device state */\n    run,\n};\n\n");
    if (E.nchecks) {
        fprintf(o, "/* Data checks on the GPU (where, op, what, at): their messages. */\n");
        fprintf(o, "static const rt_cuda_datacheck dt_checks[%d] = {\n", E.nchecks);
        for (int k = 0; k < E.nchecks; k++)
            fprintf(o, "    %s,\n", E.checks[k]);
        fprintf(o, "};\n\n");
    }
    fprintf(o, "static const rt_cuda_program dt_cuda = {\n");
    fprintf(o, "    &dt_program,\n    %s,\n    (const void *)dt_probe,\n", cstr(a, arch));
    fprintf(o, "    %lld, /* device workspace bytes */\n", (long long)p->workspace);
    fprintf(o, "    %lld, /* device scratch bytes (collectives, cross_entropy) */\n", (long long)E.scratch);
    fprintf(o, "    0x%xu, /* the axis sets of the collectives (bit = mask) */\n", E.comm_sets);
    fprintf(o, "    %d, %s,\n};\n\n", E.nchecks, E.nchecks ? "dt_checks" : "NULL");

    fprintf(o, "/* Every rank runs its variant on its GPU. */\n");
    fprintf(o, "static int run(rt_ctx *ctx, void *const *params, void *const *results)\n{\n");
    fprintf(o, "    rt_cuda *cu = rt_cuda_begin(ctx, &dt_cuda, params);\n");
    if (p->nvariants == 1) {
        fprintf(o, "    run_v0(ctx, cu);\n");
    } else {
        cg_c_emit_rank_switch(o, p, "ctx, cu", false);
    }
    fprintf(o, "    rt_cuda_end(ctx, cu, results);\n    return 0;\n}\n\n");
    fprintf(o, "int main(int argc, char **argv)\n{\n    return rt_cuda_main(argc, argv, &dt_cuda);\n}\n");
}

/* ---- the build --------------------------------------------------------------------------------------------- */

/* Runs av; true when it exits 0 (else a message naming the command). */
static bool run_cmd(const CgArgv *av, const char *what, FILE *err)
{
    int st = cg_run(av, err);
    if (st > 0)
        cg_run_failed(av, what, st, err);
    return st == 0;
}

static double mtime(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec * 1e-9;
}

/* Where CUDA lives: the root holding bin/nvcc, include/, lib64 or lib. */
typedef struct CudaTools {
    const char *nvcc;
    const char *root;          /* NULL: nvcc from PATH, headers where it finds them */
    const char *libdir;        /* for -L and the rpath, or NULL */
    const char *nccl_inc, *nccl_lib; /* $NCCL_HOME, when set */
} CudaTools;

static bool find_cuda(Arena *a, CudaTools *t, FILE *err)
{
    memset(t, 0, sizeof *t);
    const char *nv = getenv("NVCC");
    const char *homes[] = {getenv("CUDA_HOME"), getenv("CUDA_PATH"), "/usr/local/cuda"};
    for (size_t k = 0; k < sizeof homes / sizeof homes[0] && !t->root; k++)
        if (homes[k] && *homes[k] && cg_file_exists(arena_printf(a, "%s/bin/nvcc", homes[k])))
            t->root = homes[k];
    if (nv && *nv)
        t->nvcc = nv;
    else if (t->root)
        t->nvcc = arena_printf(a, "%s/bin/nvcc", t->root);
    else if (cg_capture(a, "command -v nvcc 2>/dev/null"))
        t->nvcc = "nvcc";
    if (!t->nvcc) {
        fprintf(err, "dtc: error: --target=cuda needs the CUDA toolkit: no nvcc in $NVCC, "
                     "$CUDA_HOME/bin, /usr/local/cuda/bin or on PATH\n");
        return false;
    }
    if (t->root) {
        const char *l64 = arena_printf(a, "%s/lib64", t->root), *l = arena_printf(a, "%s/lib", t->root);
        t->libdir = cg_file_exists(arena_printf(a, "%s/libcudart_static.a", l64)) ||
                            cg_file_exists(arena_printf(a, "%s/libcublas.so", l64))
                        ? l64
                        : l;
    }
    const char *nh = getenv("NCCL_HOME");
    if (nh && *nh) {
        t->nccl_inc = arena_printf(a, "%s/include", nh);
        t->nccl_lib = arena_printf(a, "%s/lib", nh);
    }
    return true;
}

/* A writable cache directory for the runtime's CUDA objects of one
 * architecture list (made if needed), or NULL. */
static const char *cache_dir(Arena *a, const CgRuntime *rt, const char *arch)
{
    char *key = arena_strdup(a, arch);
    for (char *q = key; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '_')
            *q = '-';
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME"), *tmp = getenv("TMPDIR");
    const char *bases[] = {
        access(rt->lib_dir, W_OK) == 0 ? arena_printf(a, "%s/cuda-rt", rt->lib_dir) : NULL,
        xdg && *xdg ? arena_printf(a, "%s/dtc/cuda-rt", xdg) : NULL,
        home && *home ? arena_printf(a, "%s/.cache/dtc/cuda-rt", home) : NULL,
        arena_printf(a, "%s/dtc-cuda-rt-%ld", tmp && *tmp ? tmp : "/tmp", (long)getuid()),
    };
    for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++) {
        if (!bases[k])
            continue;
        /* mkdir -p of base/key */
        char *path = arena_printf(a, "%s/%s", bases[k], key);
        for (char *q = path + 1; *q; q++)
            if (*q == '/') {
                *q = 0;
                mkdir(path, 0777);
                *q = '/';
            }
        mkdir(path, 0777);
        if (access(path, W_OK) == 0)
            return path;
    }
    return NULL;
}

/* The runtime's CUDA objects for arch, built when missing or older than a
 * source; their paths in obj[0..1]. */
static bool runtime_objects(Arena *a, const CgRuntime *rt, const CudaTools *t, const char *arch,
                            const char **gen, int ngen, const char **obj, FILE *err)
{
    const char *src = rt->include_dir;
    const char *csrc = arena_printf(a, "%s/runtime/cuda/rt_cuda.c", src);
    const char *cusrc = arena_printf(a, "%s/runtime/cuda/rt_cuda_kernels.cu", src);
    const char *deps[] = {csrc, cusrc, arena_printf(a, "%s/runtime/cuda/rt_cuda.h", src),
                          arena_printf(a, "%s/runtime/dtrt.h", src),
                          arena_printf(a, "%s/runtime/rt_internal.h", src),
                          arena_printf(a, "%s/runtime/core/rt_core.h", src)};
    if (!cg_file_exists(csrc) || !cg_file_exists(cusrc)) {
        fprintf(err, "dtc: error: the CUDA runtime sources are not in %s/runtime/cuda\n", src);
        return false;
    }
    const char *dir = cache_dir(a, rt, arch);
    if (!dir) {
        fprintf(err, "dtc: error: no writable directory to build the CUDA runtime in\n");
        return false;
    }
    obj[0] = arena_printf(a, "%s/rt_cuda.o", dir);
    obj[1] = arena_printf(a, "%s/rt_cuda_kernels.o", dir);
    double newest = 0;
    for (size_t k = 0; k < sizeof deps / sizeof deps[0]; k++)
        if (mtime(deps[k]) > newest)
            newest = mtime(deps[k]);
    long pid = (long)getpid();
    for (int k = 0; k < 2; k++) {
        if (mtime(obj[k]) >= newest)
            continue;
        const char *tmp = arena_printf(a, "%s.tmp.%ld", obj[k], pid);
        CgArgv av = {0, 0, NULL};
        if (k == 0) {
            const char *cc = getenv("CC");
            cg_argv_push_words(a, &av, cc && *cc ? cc : "cc");
            cg_argv_push(a, &av, "-std=c11");
            cg_argv_push(a, &av, "-O2");
            cg_argv_push(a, &av, "-D_POSIX_C_SOURCE=200809L");
        } else {
            cg_argv_push(a, &av, t->nvcc);
            cg_argv_push(a, &av, "-std=c++17");
            cg_argv_push(a, &av, "-O2");
            for (int g = 0; g < ngen; g++)
                cg_argv_push(a, &av, gen[g]);
        }
        cg_argv_push(a, &av, "-I");
        cg_argv_push(a, &av, src);
        if (t->root) {
            cg_argv_push(a, &av, "-I");
            cg_argv_push(a, &av, arena_printf(a, "%s/include", t->root));
        }
        if (t->nccl_inc) {
            cg_argv_push(a, &av, "-I");
            cg_argv_push(a, &av, t->nccl_inc);
        }
        cg_argv_push(a, &av, "-c");
        cg_argv_push(a, &av, k == 0 ? csrc : cusrc);
        cg_argv_push(a, &av, "-o");
        cg_argv_push(a, &av, tmp);
        if (!run_cmd(&av, k == 0 ? "building the CUDA runtime (C compiler)" : "building the CUDA runtime (nvcc)",
                     err)) {
            unlink(tmp);
            return false;
        }
        if (rename(tmp, obj[k]) != 0) {
            fprintf(err, "dtc: error: cannot write %s: %s\n", obj[k], strerror(errno));
            unlink(tmp);
            return false;
        }
    }
    return true;
}

/* Compiles the .cu at cu_path into the executable opt->output. */
static bool cu_link_exe(Arena *a, const char *cu_path, const CgOptions *opt, FILE *err)
{
    CgRuntime rt;
    CudaTools t;
    if (!cg_find_runtime(a, &rt, err) || !find_cuda(a, &t, err))
        return false;
    const char *arch = opt->cuda_arch && *opt->cuda_arch ? opt->cuda_arch : "sm_80,sm_90";
    int ngen;
    const char **gen = gencode(a, arch, &ngen, err);
    const char *obj[2];
    if (!gen || !runtime_objects(a, &rt, &t, arch, gen, ngen, obj, err))
        return false;
    CgArgv av = {0, 0, NULL};
    cg_argv_push(a, &av, t.nvcc);
    const char *hcc = getenv("CUDAHOSTCXX");
    if (hcc && *hcc) {
        cg_argv_push(a, &av, "-ccbin");
        cg_argv_push(a, &av, hcc);
    }
    cg_argv_push(a, &av, "-std=c++17");
    cg_argv_push(a, &av, arena_printf(a, "-O%d", opt->opt_level));
    for (int g = 0; g < ngen; g++)
        cg_argv_push(a, &av, gen[g]);
    cg_argv_push(a, &av, "-I");
    cg_argv_push(a, &av, rt.include_dir);
    if (t.nccl_inc) {
        cg_argv_push(a, &av, "-I");
        cg_argv_push(a, &av, t.nccl_inc);
    }
    cg_argv_push(a, &av, cu_path);
    cg_argv_push(a, &av, obj[0]);
    cg_argv_push(a, &av, obj[1]);
    cg_argv_push(a, &av, "-o");
    cg_argv_push(a, &av, opt->output);
    cg_argv_push(a, &av, arena_printf(a, "%s/libdtrt.a", rt.lib_dir));
    cg_argv_push(a, &av, arena_printf(a, "%s/libdtrt_core.a", rt.lib_dir));
    /* MPI's link words, in nvcc's spelling */
    CgArgv mw = {0, 0, NULL};
    cg_argv_push_words(a, &mw, cg_mpi_link_words(a));
    for (int k = 0; k < mw.n; k++) {
        const char *w = mw.v[k];
        if (!strncmp(w, "-Wl,", 4)) {
            cg_argv_push(a, &av, "-Xlinker");
            cg_argv_push(a, &av, w + 4);
        } else if (!strcmp(w, "-pthread")) {
            cg_argv_push(a, &av, "-lpthread");
        } else if (w[0] != '-' || w[1] == 'L' || w[1] == 'l') {
            cg_argv_push(a, &av, w);
        } /* other compiler flags do not matter for linking */
    }
    if (t.nccl_lib) {
        cg_argv_push(a, &av, arena_printf(a, "-L%s", t.nccl_lib));
        cg_argv_push(a, &av, "-Xlinker");
        cg_argv_push(a, &av, arena_printf(a, "-rpath=%s", t.nccl_lib));
    }
    if (t.libdir) {
        cg_argv_push(a, &av, arena_printf(a, "-L%s", t.libdir));
        cg_argv_push(a, &av, "-Xlinker");
        cg_argv_push(a, &av, arena_printf(a, "-rpath=%s", t.libdir));
    }
    cg_argv_push(a, &av, "-lcublas");
    cg_argv_push(a, &av, "-lnccl");
    cg_argv_push(a, &av, "-lpthread");
    cg_argv_push(a, &av, "-lm");
    return run_cmd(&av, "nvcc", err);
}

/* The routing family (CG_ROUTE) has no device kernels yet: a clear error
 * at the op instead of wrong code (loop bodies included). */
static bool no_route_steps(const CgFunc *fn, FILE *err)
{
    for (int k = 0; k < fn->nsteps; k++) {
        const CgStep *s = &fn->steps[k];
        if (s->kind == CG_SCAN && s->scan && !no_route_steps(s->scan->fn, err))
            return false;
        if (s->kind == CG_ROUTE) {
            fprintf(err, "%s: error: %s is not supported on the cuda target (use the CPU target)\n",
                    s->where ? s->where : "dtc", ir_op_name(s->inst->op));
            return false;
        }
    }
    return true;
}

bool cg_cuda_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err)
{
    CgProgram *p = cg_lower(a, m, opt, err);
    if (!p)
        return false;
    bool ok = true;
    for (int v = 0; v < p->nvariants && ok; v++) /* no device kernels for the routing family yet */
        ok = no_route_steps(&p->variants[v], err);
    if (ok)
        ok = !strcmp(opt->emit, "cu") ? cg_c_write(a, p, opt, cu_emit, opt->output, err)
                                      : cg_c_build_exe(a, p, opt, cu_emit, "cu", cu_link_exe, err);
    cg_program_free(p);
    return ok;
}
