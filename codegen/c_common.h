/* c_common.h - the C-text helpers shared by the C and CUDA emitters
 * (c_backend.c, cuda_backend.c): C names of dtypes and runtime enums,
 * string and number literals, comment-safe text, names of values, shapes,
 * placements and steps, the parameter / result descriptions and mesh the
 * runtime reads, scalar expressions and index arithmetic, and writing and
 * building a generated file.
 *
 * Everything returned is arena memory.  `pre` arguments name the family of
 * scalar helpers the generated code calls: "dtk" (runtime/dtrt_kernels.h)
 * or "dk" (runtime/cuda/dtk_cuda.cuh).  `cxx` asks for text that is also
 * valid C++ for nvcc (every '?' escaped in string literals: no trigraphs).
 */
#ifndef DTC_C_COMMON_H
#define DTC_C_COMMON_H

#include "codegen/cg_internal.h"

/* ---- names and literals ---------------------------------------------------------- */
const char *cg_c_rtype(DType t);  /* "RT_F32", ... (rt_dtype) */
const char *cg_c_rred(RedOp r);   /* "RT_RED_SUM", ... (rt_red) */
/* A string literal for s ("NULL" for NULL); cxx: '?' escaped too. */
const char *cg_c_string(Arena *a, const char *s, bool cxx);
/* s made safe inside a comment: no early end. */
const char *cg_c_comment(Arena *a, const char *s);
/* An int32 literal for x converted as rt_i32_from_double does. */
const char *cg_c_i32_literal(Arena *a, double x);
/* A finite x as a float ("1.5f", f32: rounded to float) or double ("1.5") literal. */
const char *cg_c_float_digits(Arena *a, double x, bool f32);
/* An identifier for a value: its source name and id, or v<id> (may start with '_'). */
const char *cg_c_ident(Arena *a, const IrValue *v);
const char *cg_c_int_array(Arena *a, const int64_t *x, int n); /* "{1, 2}" */

/* ---- text for comments --------------------------------------------------------------- */
const char *cg_c_vname(Arena *a, const IrValue *v);                     /* "%h.4", "-" for NULL */
const char *cg_c_shape(Arena *a, const IrType *t);                      /* "[4, 8]" */
const char *cg_c_type_pl(Arena *a, const IrMesh *m, const IrValue *v);  /* "f32[4, 8] @ {...}" */
const char *cg_c_axes(Arena *a, const IrMesh *m, unsigned axes);        /* "x,y" */
const char *cg_c_mesh(Arena *a, const IrMesh *m);                       /* "M[x=2, y=2]" */
const char *cg_c_coords(Arena *a, const IrMesh *m, int rank);           /* "3 (x=1, y=1)" */
const char *cg_c_args(Arena *a, const IrInst *i);                       /* " %a, %b" */
/* Where an instruction came from, "mlp.dt:12:9" (the file's base name), or
 * NULL when unknown. */
const char *cg_site(Arena *a, const IrInst *i);
/* A step for profiles and traces: "mlp.dt:12:9 matmul" ("matmul %3" without
 * a source position), or "copy to result NAME". */
const char *cg_c_step_name(Arena *a, const CgProgram *p, const CgFunc *fn, const CgStep *s);
void cg_c_indent(FILE *o, int n); /* n levels of four spaces */
/* The start of a variant's comment: "---- variant VI: ranks 0 (x=0), 1 (x=1)". */
void cg_c_emit_variant_title(FILE *o, Arena *a, const IrMesh *m, const CgFunc *fn, int vi);
/* Does a variant use a workspace buffer (used: by buffer)? */
bool cg_c_uses_workspace(const CgFunc *fn, const bool *used);

/* ---- what the runtime reads ------------------------------------------------------------- */
/* The rt_tensor_desc tables dt_params and dt_results (none when empty). */
void cg_c_emit_descs(FILE *o, Arena *a, const CgProgram *p, bool cxx);
/* The rt_mesh initializer: {name, naxes, {axis names}, {sizes}}. */
const char *cg_c_mesh_init(Arena *a, const IrMesh *m, bool cxx);
/* The three `static const int64_t` arrays (batch, astride, bstride) of a
 * batched CG_MATMUL, inside the block that calls the kernel; a strided one
 * also cstride. */
void cg_c_emit_batch_arrays(FILE *o, Arena *a, const CgStep *s);
/* A collective step as a call of the runtime's PRE all_reduce, all_gather,
 * reduce_scatter or all_to_all ("rt_" or "rt_cuda_") with ctx_args first
 * ("ctx" or "ctx, cu"), reading in0 and writing out. */
void cg_c_emit_collective(FILE *o, Arena *a, const CgStep *s, const char *pre, const char *ctx_args,
                          const char *in0, const char *out);
/* The body of `run` for several variants: a switch on rt_rank(ctx) calling
 * run_v<N>(args) (returning its result, or then breaking). */
/* A loop step (CG_SCAN): the carried values start as the operands, then per
 * layer the body's parameter and result pointer arrays bp / br (stacked
 * operands offset to layer l) and `call`, then the carried values are copied
 * back.  `copy` opens a copy call taking (dst, src, bytes): "memcpy(". */
void cg_c_emit_scan(FILE *o, const CgScan *sc, const char *const *bname, const char *copy, const char *call);
void cg_c_emit_rank_switch(FILE *o, const CgProgram *p, const char *args, bool returns);
/* Where the runtime is, for the build-by-hand comment (placeholders
 * DTC_SOURCE / DTC_BUILD when it is not found). */
void cg_c_runtime_dirs(Arena *a, const char **inc, const char **lib);

/* ---- expressions ------------------------------------------------------------------------ */
/* An elementwise-table op (ir/ops_ew.def) on the operand expressions x[0..nx)
 * computed in `compute` (DT_F32 or DT_F64: the float template; DT_I32: the
 * integer one); lit: the op's f attribute as a literal (pow).  NULL when the
 * op has no form for that dtype. */
const char *cg_c_ew_op(Arena *a, const char *pre, IrOp op, DType compute, const char *const *x, int nx,
                       const char *lit);
/* base + i<from> * stride[from] + ... up to loop to-1, skipping zero strides. */
const char *cg_c_index(Arena *a, int64_t base, const int64_t *stride, int from, int to);

/* ---- files ------------------------------------------------------------------------------ */
typedef void CgEmitFn(FILE *o, Arena *a, const CgProgram *p, const CgOptions *opt);
/* Writes emit's text for p to path; false with a message on err. */
bool cg_c_write(Arena *a, const CgProgram *p, const CgOptions *opt, CgEmitFn *emit, const char *path,
                FILE *err);
typedef bool CgLinkFn(Arena *a, const char *src_path, const CgOptions *opt, FILE *err);
/* --emit=exe: writes emit's text to NAME.EXT in a new temporary directory
 * ($TMPDIR or /tmp), builds opt->output from it with link, and removes both. */
bool cg_c_build_exe(Arena *a, const CgProgram *p, const CgOptions *opt, CgEmitFn *emit, const char *ext,
                    CgLinkFn *link, FILE *err);

#endif
