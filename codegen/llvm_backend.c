/* llvm_backend.c - the CPU target through the LLVM C API: --emit=llvm, obj
 * and exe (the default).
 *
 * Requires: a CgProgram from cg_lower (every shape a constant of the
 *           variant), and LLVM 19 with a native target.
 * Produces: one module holding the whole program, so that an object file
 *           is complete and only needs the runtime to link:
 *   dt_v<k>_s<j>  one function per distinct fused loop (CG_LOOP; loops
 *                 that differ only in their buffers share one): real loop
 *                 nests with constant trip counts over noalias, 64-byte
 *                 aligned buffers (a loop body's parameters: element-aligned,
 *                 they may be layer slices), inbounds GEPs, one store per
 *                 output element, for LLVM's loop vectoriser; noinline, so
 *                 each is optimised once however often it is called;
 *   dt_v<k>       one function per variant: the steps in order, kernels,
 *                 CBLAS (through dtk_matmul) and collectives as calls;
 *                 past CG_CHUNK_STEPS steps, chunks dt_v<k>_c<j> of that
 *                 many steps (optnone: straight-line calls) that dt_v<k>
 *                 calls in order from a table, so that no function, and
 *                 LLVM's time per function, grows with the program;
 *   dt_run        the dispatcher on rt_rank();
 *   dt_program    the rt_program descriptor (runtime/dtrt.h) as constants
 *                 whose layout is checked against the C structs;
 *   main          dtk_setup, then rt_main.
 * The module gets the host's triple, CPU and features, runs LLVM's
 * default<O0..3> pipeline (-O level of the driver), and is written as text
 * (llvm), an object (obj), or an object linked with the runtime (exe).
 *
 * Numerics are those of cg_internal.h: f32 in float, f64 in double, i32
 * wrapping with floor division.  No fast-math flags on element arithmetic;
 * the one exception is `reassoc` on the double accumulator of sum / mean,
 * so that reductions vectorise (they still accumulate in double).  On
 * x86-64 glibc the float libm calls carry libmvec vector variants
 * (vector-function-abi-variant), so loops with exp / log / tanh / pow
 * vectorise too; glibc documents those as within 4 ulp.  DTC_NO_VECLIB=1
 * in the environment of dtc turns that off (plain libm calls).
 */
#include "codegen/c_common.h"
#include "codegen/cg_internal.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "runtime/dtrt.h"


typedef struct Ll {
    Arena *a;
    const CgProgram *p;
    const CgOptions *opt;
    FILE *err;
    LLVMContextRef c;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTargetMachineRef tm;
    LLVMTargetDataRef td;
    char *triple, *cpu, *features;
    LLVMTypeRef tvoid, ti8, ti32, ti64, tf32, tf64, tptr;
    /* libmvec: x86 vector ABI letters usable on this host ('b' SSE, 'c'
     * AVX, 'd' AVX2, 'e' AVX-512), and which functions have variants */
    char isa[4];
    int nisa;
    int glibc;             /* glibc major * 100 + minor when libmvec is usable, else 0 */
    LLVMValueRef used[64]; /* vector variants kept alive (llvm.compiler.used) */
    int nused;
    int nstr;              /* private string constants made so far */
    CgStrMap strs;         /* their texts -> index into str_val (made once each) */
    LLVMValueRef *str_val;
    int str_cap;
    /* the function being built */
    LLVMValueRef fn;
    LLVMValueRef ctx;      /* rt_ctx * of a variant */
    /* loop bodies made so far (CG_SCAN): bodies[k] is function body_fn[k] */
    int nbodies, capbodies;
    const CgFunc **bodies;
    LLVMValueRef *body_fn;
    /* fused-loop functions made so far, by loop_key(): loop_fn[k] */
    CgStrMap loops;
    int nloop_fns, caploop_fns;
    LLVMValueRef *loop_fn;
} Ll;

/* ---- small helpers ------------------------------------------------------------ */

static LLVMValueRef c32(Ll *L, int64_t v) { return LLVMConstInt(L->ti32, (unsigned long long)v, 1); }
static LLVMValueRef c64(Ll *L, int64_t v) { return LLVMConstInt(L->ti64, (unsigned long long)v, 1); }

static LLVMTypeRef lltype(Ll *L, DType t)
{
    switch (t) {
    case DT_F32: return L->tf32;
    case DT_F64: return L->tf64;
    case DT_I32: return L->ti32;
    default: DTC_BUG("llvm: f16 / bf16 reached the CPU backend");
    }
}

static LLVMValueRef fconst(Ll *L, DType t, double v) { return LLVMConstReal(lltype(L, t), v); }

static void fn_attr(Ll *L, LLVMValueRef f, LLVMAttributeIndex idx, const char *name, uint64_t val)
{
    unsigned k = LLVMGetEnumAttributeKindForName(name, strlen(name));
    DTC_ASSERT(k != 0);
    LLVMAddAttributeAtIndex(f, idx, LLVMCreateEnumAttribute(L->c, k, val));
}

static void str_attr(Ll *L, LLVMValueRef f, const char *name, const char *val)
{
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(L->c, name, (unsigned)strlen(name), val,
                                                      (unsigned)strlen(val)));
}

/* Attributes every function we define gets: the host CPU (so the vectoriser
 * knows the vector width even when the .ll is compiled elsewhere). */
static void def_attrs(Ll *L, LLVMValueRef f)
{
    fn_attr(L, f, LLVMAttributeFunctionIndex, "nounwind", 0);
    str_attr(L, f, "target-cpu", L->cpu);
    str_attr(L, f, "target-features", L->features);
}

/* The declaration of an external function (made once). */
static LLVMValueRef ext_fn(Ll *L, const char *name, LLVMTypeRef ret, LLVMTypeRef *args, int n)
{
    LLVMValueRef f = LLVMGetNamedFunction(L->mod, name);
    if (f)
        return f;
    f = LLVMAddFunction(L->mod, name, LLVMFunctionType(ret, args, (unsigned)n, 0));
    fn_attr(L, f, LLVMAttributeFunctionIndex, "nounwind", 0);
    return f;
}

static LLVMValueRef call(Ll *L, LLVMValueRef f, LLVMValueRef *args, int n, const char *name)
{
    return LLVMBuildCall2(L->b, LLVMGlobalGetValueType(f), f, args, (unsigned)n, name);
}

/* A unary or binary intrinsic on type t, e.g. ("llvm.sqrt", f32). */
static LLVMValueRef intrinsic(Ll *L, const char *base, LLVMTypeRef t, int nargs)
{
    const char *sfx = t == L->tf32 ? "f32" : t == L->tf64 ? "f64" : t == L->ti32 ? "i32" : "i64";
    char name[64];
    snprintf(name, sizeof name, "%s.%s", base, sfx);
    LLVMTypeRef args[2] = {t, t};
    return ext_fn(L, name, t, args, nargs);
}

static LLVMValueRef call_intr(Ll *L, const char *base, LLVMValueRef x, LLVMValueRef y)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef args[2] = {x, y};
    return call(L, intrinsic(L, base, t, y ? 2 : 1), args, y ? 2 : 1, "");
}

/* Room for one more in an arena array of values. */
static LLVMValueRef *grow_values(Ll *L, LLVMValueRef *v, int n, int *cap)
{
    if (n < *cap)
        return v;
    *cap = *cap ? 2 * *cap : 32;
    LLVMValueRef *w = arena_alloc(L->a, sizeof *w * (size_t)*cap);
    if (n)
        memcpy(w, v, sizeof *w * (size_t)n);
    return w;
}

/* A private constant: a NUL-terminated string. */
static LLVMValueRef cstr(Ll *L, const char *s)
{
    if (!s)
        return LLVMConstPointerNull(L->tptr);
    int k = cg_strmap_get(&L->strs, s);
    if (k >= 0)
        return L->str_val[k];
    L->str_val = grow_values(L, L->str_val, L->nstr, &L->str_cap);
    LLVMValueRef init = LLVMConstStringInContext(L->c, s, (unsigned)strlen(s), 0);
    char name[32];
    snprintf(name, sizeof name, ".str.%d", L->nstr);
    LLVMValueRef g = LLVMAddGlobal(L->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, 1);
    cg_strmap_put(L->a, &L->strs, arena_strdup(L->a, s), L->nstr);
    L->str_val[L->nstr++] = g;
    return g;
}

/* A private constant i64 array (at least one element, so the pointer is
 * always valid). */
static LLVMValueRef carray64(Ll *L, const int64_t *x, int n, const char *name)
{
    int m = n > 0 ? n : 1;
    LLVMValueRef *el = arena_alloc(L->a, sizeof *el * (size_t)m);
    for (int k = 0; k < m; k++)
        el[k] = c64(L, k < n ? x[k] : 0);
    LLVMValueRef init = LLVMConstArray2(L->ti64, el, (uint64_t)m);
    LLVMValueRef g = LLVMAddGlobal(L->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, 8);
    return g;
}

static LLVMBasicBlockRef new_block(Ll *L, const char *name)
{
    return LLVMAppendBasicBlockInContext(L->c, L->fn, name);
}

/* An LLVM name for a buffer: its first value's ("h.4", "v12"). */
static const char *buf_name(Ll *L, const CgBuf *bf)
{
    if (!bf->value)
        return "";
    const char *n = cg_value_name(L->a, bf->value) + 1; /* no '%' */
    return n[0] >= '0' && n[0] <= '9' ? arena_printf(L->a, "v%s", n) : n;
}

/* ---- scalar arithmetic ------------------------------------------------------------ */

/* v from dtype `from` to dtype `to` as cast() does: float -> i32
 * truncates, NaN and out-of-range give INT32_MIN (rt_i32_from_double). */
static LLVMValueRef convert(Ll *L, LLVMValueRef v, DType from, DType to)
{
    if (from == to)
        return v;
    LLVMTypeRef tt = lltype(L, to);
    if (from == DT_I32)
        return LLVMBuildSIToFP(L->b, v, tt, "");
    if (to != DT_I32)
        return from == DT_F32 ? LLVMBuildFPExt(L->b, v, tt, "") : LLVMBuildFPTrunc(L->b, v, tt, "");
    LLVMValueRef d = from == DT_F64 ? v : LLVMBuildFPExt(L->b, v, L->tf64, "");
    LLVMValueRef lo = LLVMBuildFCmp(L->b, LLVMRealOGT, d, fconst(L, DT_F64, -2147483649.0), "");
    LLVMValueRef hi = LLVMBuildFCmp(L->b, LLVMRealOLT, d, fconst(L, DT_F64, 2147483648.0), "");
    LLVMValueRef ok = LLVMBuildAnd(L->b, lo, hi, "");
    LLVMValueRef safe = LLVMBuildSelect(L->b, ok, d, fconst(L, DT_F64, 0.0), "");
    LLVMValueRef t = LLVMBuildFPToSI(L->b, safe, L->ti32, "");
    return LLVMBuildSelect(L->b, ok, t, c32(L, INT32_MIN), "");
}

/* A call to the libm function `base` on x (and y: pow), with the libmvec
 * variants this host can run attached when its glibc is at least
 * `mvec_since` (major * 100 + minor; the LL_F column of ir/ops_ew.def says
 * which), so loops around it vectorise. */
static LLVMValueRef call_math(Ll *L, const char *base, int mvec_since, DType t, LLVMValueRef x,
                              LLVMValueRef y)
{
    bool f32 = t == DT_F32;
    LLVMTypeRef ft = lltype(L, t);
    int nargs = y ? 2 : 1;
    char name[16];
    snprintf(name, sizeof name, "%s%s", base, f32 ? "f" : "");
    LLVMValueRef f = LLVMGetNamedFunction(L->mod, name);
    if (!f) {
        LLVMTypeRef args[2] = {ft, ft};
        f = ext_fn(L, name, ft, args, nargs);
        /* errno is never read: the call has no side effect to keep */
        fn_attr(L, f, LLVMAttributeFunctionIndex, "memory", 0);
        fn_attr(L, f, LLVMAttributeFunctionIndex, "willreturn", 0);
        fn_attr(L, f, LLVMAttributeFunctionIndex, "nosync", 0);
        fn_attr(L, f, LLVMAttributeFunctionIndex, "nofree", 0);
    }
    LLVMValueRef args[2] = {x, y};
    LLVMValueRef r = call(L, f, args, nargs, "");
    if (L->glibc < mvec_since || L->glibc == 0 || L->nisa == 0)
        return r;
    /* "_ZGV_LLVM_N8v_expf(_ZGVdN8v_expf),..." one entry per vector width */
    char attr[512] = "";
    size_t len = 0;
    const char *params = nargs == 2 ? "vv" : "v";
    for (int k = 0; k < L->nisa; k++) {
        int bits = L->isa[k] == 'b' ? 128 : L->isa[k] == 'e' ? 512 : 256;
        int vf = bits / (f32 ? 32 : 64);
        char vname[48];
        snprintf(vname, sizeof vname, "_ZGV%cN%d%s_%s", L->isa[k], vf, params, name);
        len += (size_t)snprintf(attr + len, sizeof attr - len, "%s_ZGV_LLVM_N%d%s_%s(%s)",
                                len ? "," : "", vf, params, name, vname);
        if (!LLVMGetNamedFunction(L->mod, vname)) {
            LLVMTypeRef vt = LLVMVectorType(ft, (unsigned)vf);
            LLVMTypeRef vargs[2] = {vt, vt};
            LLVMValueRef vf_decl = ext_fn(L, vname, vt, vargs, nargs);
            fn_attr(L, vf_decl, LLVMAttributeFunctionIndex, "memory", 0);
            fn_attr(L, vf_decl, LLVMAttributeFunctionIndex, "willreturn", 0);
            DTC_ASSERT(L->nused < (int)(sizeof L->used / sizeof L->used[0]));
            L->used[L->nused++] = vf_decl;
        }
    }
    LLVMAddCallSiteAttribute(r, LLVMAttributeFunctionIndex,
                             LLVMCreateStringAttribute(L->c, "vector-function-abi-variant", 27,
                                                       attr, (unsigned)len));
    return r;
}

/* ---- the elementwise family's builders (the LL_F / LL_I columns) ------------------- */

static LLVMValueRef ll_abs_i(Ll *L, LLVMValueRef x)
{
    LLVMValueRef zero = c32(L, 0);
    return LLVMBuildSelect(L->b, LLVMBuildICmp(L->b, LLVMIntSLT, x, zero, ""), LLVMBuildSub(L->b, zero, x, ""),
                           x, "");
}

/* sigmoid 1 / (1 + exp(-x)); silu x / (1 + exp(-x)) */
static LLVMValueRef ll_sigmoid(Ll *L, DType t, LLVMValueRef x, bool times_x)
{
    LLVMValueRef e = call_math(L, "exp", 222, t, LLVMBuildFNeg(L->b, x, ""), NULL);
    LLVMValueRef d = LLVMBuildFAdd(L->b, fconst(L, t, 1.0), e, "");
    return LLVMBuildFDiv(L->b, times_x ? x : fconst(L, t, 1.0), d, "");
}

static LLVMValueRef ll_relu_f(Ll *L, DType t, LLVMValueRef x)
{
    LLVMValueRef neg = LLVMBuildFCmp(L->b, LLVMRealOLT, x, fconst(L, t, 0.0), "");
    return LLVMBuildSelect(L->b, neg, fconst(L, t, 0.0), x, "");
}

/* 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x))) */
static LLVMValueRef ll_gelu_tanh(Ll *L, DType t, LLVMValueRef x)
{
    LLVMBuilderRef b = L->b;
    double c = t == DT_F32 ? (double)0.797884560802865f : 0.79788456080286535588;
    LLVMValueRef x3 = LLVMBuildFMul(b, LLVMBuildFMul(b, fconst(L, t, 0.044715), x, ""), x, "");
    x3 = LLVMBuildFMul(b, x3, x, "");
    LLVMValueRef in = LLVMBuildFMul(b, fconst(L, t, c), LLVMBuildFAdd(b, x, x3, ""), "");
    LLVMValueRef th = LLVMBuildFAdd(b, fconst(L, t, 1.0), call_math(L, "tanh", 235, t, in, NULL), "");
    return LLVMBuildFMul(b, LLVMBuildFMul(b, fconst(L, t, 0.5), x, ""), th, "");
}

/* 0.5 * x * (1 + erf(x / sqrt(2))) */
static LLVMValueRef ll_gelu_erf(Ll *L, DType t, LLVMValueRef x)
{
    LLVMBuilderRef b = L->b;
    LLVMValueRef u = LLVMBuildFMul(b, x, fconst(L, t, 0.70710678118654752440), "");
    LLVMValueRef e = LLVMBuildFAdd(b, fconst(L, t, 1.0), call_math(L, "erf", 235, t, u, NULL), "");
    return LLVMBuildFMul(b, LLVMBuildFMul(b, fconst(L, t, 0.5), x, ""), e, "");
}

/* numpy's float divmod (ir/ew.c divmod_f): // (floor) or % (mod) */
static LLVMValueRef ll_divmod_f(Ll *L, DType t, LLVMValueRef a, LLVMValueRef d, bool floor)
{
    LLVMBuilderRef b = L->b;
    LLVMValueRef zero = fconst(L, t, 0.0), one = fconst(L, t, 1.0);
    LLVMValueRef mod = LLVMBuildFRem(b, a, d, "");
    LLVMValueRef quot = LLVMBuildFDiv(b, a, d, "");
    LLVMValueRef div = LLVMBuildFDiv(b, LLVMBuildFSub(b, a, mod, ""), d, "");
    LLVMValueRef mod_nz = LLVMBuildFCmp(b, LLVMRealUNE, mod, zero, "");
    LLVMValueRef dneg = LLVMBuildFCmp(b, LLVMRealOLT, d, zero, "");
    LLVMValueRef mneg = LLVMBuildFCmp(b, LLVMRealOLT, mod, zero, "");
    LLVMValueRef fix = LLVMBuildAnd(b, mod_nz, LLVMBuildXor(b, dneg, mneg, ""), "");
    LLVMValueRef d_zero = LLVMBuildFCmp(b, LLVMRealOEQ, d, zero, "");
    if (!floor) {
        LLVMValueRef m = LLVMBuildSelect(b, fix, LLVMBuildFAdd(b, mod, d, ""), mod, "");
        m = LLVMBuildSelect(b, mod_nz, m, call_intr(L, "llvm.copysign", zero, d), "");
        return LLVMBuildSelect(b, d_zero, mod, m, "");
    }
    div = LLVMBuildSelect(b, fix, LLVMBuildFSub(b, div, one, ""), div, "");
    LLVMValueRef fl = call_intr(L, "llvm.floor", div, NULL);
    LLVMValueRef up = LLVMBuildFCmp(b, LLVMRealOGT, LLVMBuildFSub(b, div, fl, ""), fconst(L, t, 0.5), "");
    fl = LLVMBuildSelect(b, up, LLVMBuildFAdd(b, fl, one, ""), fl, "");
    LLVMValueRef div_nz = LLVMBuildFCmp(b, LLVMRealUNE, div, zero, "");
    LLVMValueRef q = LLVMBuildSelect(b, div_nz, fl, call_intr(L, "llvm.copysign", zero, quot), "");
    return LLVMBuildSelect(b, d_zero, quot, q, "");
}

/* i32 // and % in 64 bits, floor semantics; by zero 0 */
static LLVMValueRef ll_divmod_i(Ll *L, LLVMValueRef x, LLVMValueRef y, bool floor)
{
    LLVMBuilderRef b = L->b;
    LLVMValueRef a = LLVMBuildSExt(b, x, L->ti64, ""), d = LLVMBuildSExt(b, y, L->ti64, "");
    LLVMValueRef z = LLVMBuildICmp(b, LLVMIntEQ, d, c64(L, 0), "");
    LLVMValueRef ds = LLVMBuildSelect(b, z, c64(L, 1), d, "");
    LLVMValueRef q = LLVMBuildSDiv(b, a, ds, ""), r = LLVMBuildSRem(b, a, ds, "");
    LLVMValueRef inexact = LLVMBuildICmp(b, LLVMIntNE, r, c64(L, 0), "");
    LLVMValueRef signs = LLVMBuildICmp(b, LLVMIntSLT, LLVMBuildXor(b, r, ds, ""), c64(L, 0), "");
    LLVMValueRef adjust = LLVMBuildAnd(b, inexact, signs, "");
    LLVMValueRef v;
    if (floor)
        v = LLVMBuildSub(b, q, LLVMBuildZExt(b, adjust, L->ti64, ""), "");
    else
        v = LLVMBuildSelect(b, adjust, LLVMBuildAdd(b, r, ds, ""), r, "");
    return LLVMBuildSelect(b, z, c32(L, 0), LLVMBuildTrunc(b, v, L->ti32, ""), "");
}

/* comparisons: 1 or 0 in the operands' dtype */
static LLVMValueRef ll_cmp_f(Ll *L, DType t, LLVMRealPredicate p, LLVMValueRef x, LLVMValueRef y)
{
    return LLVMBuildUIToFP(L->b, LLVMBuildFCmp(L->b, p, x, y, ""), lltype(L, t), "");
}

static LLVMValueRef ll_cmp_i(Ll *L, LLVMIntPredicate p, LLVMValueRef x, LLVMValueRef y)
{
    return LLVMBuildZExt(L->b, LLVMBuildICmp(L->b, p, x, y, ""), L->ti32, "");
}

/* where(c, a, b): c nonzero (NaN included) picks a; c has dtype tc */
static LLVMValueRef ll_where(Ll *L, DType tc, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef nz = tc == DT_I32 ? LLVMBuildICmp(L->b, LLVMIntNE, c, c32(L, 0), "")
                                   : LLVMBuildFCmp(L->b, LLVMRealUNE, c, fconst(L, tc, 0.0), "");
    return LLVMBuildSelect(L->b, nz, a, b, "");
}

/* An elementwise-table op on float operands computed in t (f32 / f64); ta is
 * operand 0's dtype (where's condition keeps its own). */
static LLVMValueRef float_op(Ll *L, IrOp op, DType t, DType ta, LLVMValueRef x, LLVMValueRef y,
                             LLVMValueRef z, double f)
{
    LLVMBuilderRef b = L->b;
    (void)b, (void)y, (void)z, (void)f, (void)ta;
    switch (op) {
#define EW(id, name, nargs, flags, types, domain, surface, f64, i64, cf, ci, llf, lli, vjp) \
    case OP_##id:                                                                        \
        return llf;
#include "ir/ops_ew.def"
#undef EW
    default: break;
    }
    char msg[80];
    snprintf(msg, sizeof msg, "llvm: no float code for op '%s'", ir_op_name(op));
    DTC_BUG(arena_strdup(L->a, msg));
}

/* The same on i32 operands (numpy int32 semantics); NULL when the op has no
 * integer form. */
static LLVMValueRef int_op(Ll *L, IrOp op, DType ta, LLVMValueRef x, LLVMValueRef y, LLVMValueRef z)
{
    LLVMBuilderRef b = L->b;
    (void)b, (void)y, (void)z, (void)ta;
    switch (op) {
#define EW(id, name, nargs, flags, types, domain, surface, f64, i64, cf, ci, llf, lli, vjp) \
    case OP_##id:                                                                        \
        return lli;
#include "ir/ops_ew.def"
#undef EW
    default: return NULL;
    }
}

/* ---- fused loops --------------------------------------------------------------------- */

typedef struct LlLoop {
    LLVMBasicBlockRef head;
    LLVMValueRef iv;
    int64_t n;
} LlLoop;

/* Opens `for (iv = 0; iv < n; iv++)` (n >= 1, a do-while). */
static LLVMValueRef loop_open(Ll *L, LlLoop *lp, int64_t n, const char *name)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(L->b);
    lp->head = new_block(L, name);
    lp->n = n;
    LLVMBuildBr(L->b, lp->head);
    LLVMPositionBuilderAtEnd(L->b, lp->head);
    lp->iv = LLVMBuildPhi(L->b, L->ti64, name);
    LLVMValueRef zero = c64(L, 0);
    LLVMAddIncoming(lp->iv, &zero, &pre, 1);
    return lp->iv;
}

static void loop_close(Ll *L, LlLoop *lp)
{
    LLVMValueRef next = LLVMBuildAdd(L->b, lp->iv, c64(L, 1), "");
    LLVMSetNUW(next, 1);
    LLVMSetNSW(next, 1);
    LLVMValueRef more = LLVMBuildICmp(L->b, LLVMIntULT, next, c64(L, lp->n), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(L->b);
    LLVMBasicBlockRef exit = new_block(L, "done");
    LLVMBuildCondBr(L->b, more, lp->head, exit);
    LLVMAddIncoming(lp->iv, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(L->b, exit);
}

/* base + sum_l iv[l] * stride[l] (in elements). */
static LLVMValueRef index_of(Ll *L, int64_t base, const int64_t *stride, const LLVMValueRef *iv,
                             int nloops)
{
    LLVMValueRef off = c64(L, base);
    bool nonneg = base >= 0; /* every partial sum so far is >= 0 */
    for (int l = 0; l < nloops; l++) {
        if (stride[l] == 0)
            continue;
        /* a negative stride (a reversed slice) wraps as unsigned: no NUW then */
        LLVMValueRef t = stride[l] == 1 ? iv[l] : LLVMBuildMul(L->b, iv[l], c64(L, stride[l]), "");
        if (stride[l] != 1) {
            LLVMSetNUW(t, stride[l] > 0);
            LLVMSetNSW(t, 1);
        }
        if (LLVMIsConstant(off) && LLVMConstIntGetSExtValue(off) == 0) {
            off = t;
            nonneg = stride[l] > 0;
            continue;
        }
        nonneg = nonneg && stride[l] > 0;
        off = LLVMBuildAdd(L->b, off, t, "");
        LLVMSetNUW(off, nonneg);
        LLVMSetNSW(off, 1);
    }
    return off;
}

static LLVMValueRef elem_ptr(Ll *L, LLVMValueRef base, DType t, LLVMValueRef idx)
{
    return LLVMBuildInBoundsGEP2(L->b, lltype(L, t), base, &idx, 1, "");
}

/* The value of one element: the loop's nodes in order at indices iv. */
static LLVMValueRef eval_nodes(Ll *L, const CgFunc *fn, const CgLoop *lp, LLVMValueRef *bufp,
                               const LLVMValueRef *iv)
{
    LLVMValueRef *val = arena_alloc(L->a, sizeof *val * (size_t)lp->nnodes);
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *nd = &lp->nodes[k];
        switch (nd->kind) {
        case CG_N_CONST:
            if (nd->dtype != DT_I32)
                val[k] = fconst(L, nd->dtype, nd->f);
            else /* as rt_i32_from_double stores it */
                val[k] = c32(L, nd->f > -2147483649.0 && nd->f < 2147483648.0 ? (int64_t)nd->f
                                                                             : INT32_MIN);
            break;
        case CG_N_LOAD: {
            DType bt = fn->bufs[nd->buf].dtype;
            LLVMValueRef idx = index_of(L, nd->base, nd->stride, iv, lp->nloops);
            LLVMValueRef ld = LLVMBuildLoad2(L->b, lltype(L, bt), elem_ptr(L, bufp[nd->buf], bt, idx), "");
            LLVMSetAlignment(ld, (unsigned)ir_dtype_size(bt));
            val[k] = convert(L, ld, bt, nd->dtype);
            break;
        }
        case CG_N_IOTA: {
            LLVMValueRef idx = index_of(L, nd->base, nd->stride, iv, lp->nloops);
            val[k] = nd->dtype == DT_I32 ? LLVMBuildTrunc(L->b, idx, L->ti32, "")
                                         : LLVMBuildSIToFP(L->b, idx, lltype(L, nd->dtype), "");
            break;
        }
        case CG_N_OP: {
            const int opnd[3] = {nd->a, nd->b, nd->c};
            LLVMValueRef v[3] = {NULL, NULL, NULL};
            DType dt[3] = {DT_COUNT, DT_COUNT, DT_COUNT};
            bool all_i32 = true;
            for (int j = 0; j < 3 && opnd[j] >= 0; j++) {
                v[j] = val[opnd[j]];
                dt[j] = lp->nodes[opnd[j]].dtype;
                all_i32 = all_i32 && dt[j] == DT_I32;
            }
            DType ta = dt[0];
            if (nd->op == OP_CAST) {
                val[k] = convert(L, v[0], ta, nd->dtype);
                break;
            }
            bool where = nd->op == OP_WHERE; /* its condition keeps its dtype */
            if (nd->dtype == DT_I32 && (all_i32 || where)) {
                LLVMValueRef r = int_op(L, nd->op, ta, v[0], v[1], v[2]);
                DTC_ASSERT(r); /* infer admits i32 only for ops with an integer form */
                val[k] = r;
                break;
            }
            DType ct = nd->dtype;
            for (int j = where ? 1 : 0; j < 3 && v[j]; j++)
                v[j] = convert(L, v[j], dt[j], ct);
            val[k] = float_op(L, nd->op, ct, ta, v[0], v[1], v[2], nd->f);
            break;
        }
        }
    }
    return val[lp->nnodes - 1];
}

/* The buffers a fused loop's function takes, in order: the output, then
 * each buffer its loads read, once.  Returns how many. */
static int loop_args(const CgLoop *lp, int *args)
{
    int n = 0;
    args[n++] = lp->out;
    for (int k = 0; k < lp->nnodes; k++) {
        if (lp->nodes[k].kind != CG_N_LOAD)
            continue;
        bool seen = false;
        for (int j = 0; j < n; j++)
            seen |= args[j] == lp->nodes[k].buf;
        if (!seen)
            args[n++] = lp->nodes[k].buf;
    }
    return n;
}

/* Whether a loop function's parameter is 64-byte aligned (a loop body's
 * parameter may be a layer slice: base + l * slice bytes). */
static bool arg_aligned(const CgFunc *fn, int b)
{
    return !(fn->is_body && fn->bufs[b].kind == CG_BUF_PARAM);
}

/* Everything emit_loop_fn's code depends on, buffers as argument positions:
 * loops that print the same share one function. */
static char *loop_key(Arena *a, const CgFunc *fn, const CgLoop *lp, const int *args, int nargs)
{
    char *text = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&text, &len);
    if (!o)
        DTC_BUG("llvm: open_memstream failed");
    fprintf(o, "%d %d %d %d %lld %lld %lld|", lp->nloops, lp->nkeep, lp->out_dtype, lp->red, (long long)lp->red_count,
            (long long)lp->out_base, (long long)lp->nnodes);
    for (int l = 0; l < lp->nloops; l++)
        fprintf(o, "%lld,%lld ", (long long)lp->n[l], (long long)lp->out_stride[l]);
    for (int k = 0; k < nargs; k++)
        fprintf(o, "|%d %d", fn->bufs[args[k]].dtype, arg_aligned(fn, args[k]));
    for (int k = 0; k < lp->nnodes; k++) {
        const CgNode *nd = &lp->nodes[k];
        int arg = -1;
        for (int j = 0; nd->kind == CG_N_LOAD && j < nargs; j++)
            if (args[j] == nd->buf)
                arg = j;
        fprintf(o, "|%d %d %d %d %d %d %a %d %lld", nd->kind, nd->dtype, nd->op, nd->a, nd->b, nd->c, nd->f, arg,
                (long long)nd->base);
        for (int l = 0; l < lp->nloops; l++)
            fprintf(o, " %lld", (long long)nd->stride[l]);
    }
    fclose(o);
    char *key = arena_strdup(a, text);
    free(text);
    return key;
}

/* One function per distinct fused loop:
 *   void dt_vK_sJ(ptr noalias out, ptr noalias in...)
 * over the distinct buffers the step touches (a step never writes memory
 * that one of its inputs occupies, so noalias holds), never inlined, so
 * that LLVM optimises each distinct loop once however often it is called. */
static LLVMValueRef emit_loop_fn(Ll *L, const CgFunc *fn, const CgStep *s, const char *name,
                                 const int *args, int n)
{
    const CgLoop *lp = &s->loop;
    LLVMTypeRef *pt = arena_alloc(L->a, sizeof *pt * (size_t)n);
    for (int k = 0; k < n; k++)
        pt[k] = L->tptr;
    LLVMValueRef f = LLVMAddFunction(L->mod, name, LLVMFunctionType(L->tvoid, pt, (unsigned)n, 0));
    LLVMSetLinkage(f, LLVMInternalLinkage);
    def_attrs(L, f);
    fn_attr(L, f, LLVMAttributeFunctionIndex, "noinline", 0);
    for (int k = 0; k < n; k++) {
        LLVMAttributeIndex ai = (LLVMAttributeIndex)(k + 1);
        fn_attr(L, f, ai, "noalias", 0);
        fn_attr(L, f, ai, "nocapture", 0);
        if (arg_aligned(fn, args[k]))
            fn_attr(L, f, ai, "align", 64);
        fn_attr(L, f, ai, k == 0 ? "writeonly" : "readonly", 0);
        const char *bn = buf_name(L, &fn->bufs[args[k]]);
        LLVMSetValueName2(LLVMGetParam(f, (unsigned)k), bn, strlen(bn));
    }
    LLVMValueRef saved = L->fn;
    L->fn = f;
    LLVMBasicBlockRef entry = new_block(L, "entry");
    LLVMPositionBuilderAtEnd(L->b, entry);

    LLVMValueRef *bufp = arena_alloc(L->a, sizeof *bufp * (size_t)fn->nbufs);
    for (int k = 0; k < n; k++)
        bufp[args[k]] = LLVMGetParam(f, (unsigned)k);
    LLVMValueRef outp = bufp[lp->out];
    DType ot = lp->out_dtype;
    DType vt = lp->nnodes > 0 ? lp->nodes[lp->nnodes - 1].dtype : ot;
    bool empty = false; /* an output loop of trip count 0: nothing to write */
    for (int l = 0; l < lp->nkeep; l++)
        empty |= lp->n[l] <= 0;
    bool red_empty = false;
    for (int l = lp->nkeep; l < lp->nloops; l++)
        red_empty |= lp->n[l] <= 0;

    /* the accumulator: integers in i64 (sum) or i32 (max / min), floats in
     * double (sum / mean) or their own type (max / min, exact either way) */
    bool red = lp->red != OP_COUNT;
    bool ired = red && vt == DT_I32 && ot == DT_I32 && lp->red != OP_MEAN;
    bool sum = lp->red == OP_SUM || lp->red == OP_MEAN;
    LLVMTypeRef at = NULL;
    DType adt = DT_F64;
    LLVMValueRef acc = NULL, init = NULL;
    if (red) {
        if (ired) {
            at = sum ? L->ti64 : L->ti32;
            int64_t iv = lp->red == OP_MAX ? INT32_MIN : lp->red == OP_MIN ? INT32_MAX : 0;
            init = LLVMConstInt(at, (unsigned long long)iv, 1);
        } else {
            adt = sum || vt == DT_I32 ? DT_F64 : vt;
            at = lltype(L, adt);
            init = fconst(L, adt, lp->red == OP_MAX ? -INFINITY : lp->red == OP_MIN ? INFINITY : 0.0);
        }
        acc = LLVMBuildAlloca(L->b, at, "acc");
    }

    LlLoop loops[CG_MAX_LOOPS];
    LLVMValueRef iv[CG_MAX_LOOPS];
    if (!empty) {
        char nm[16];
        for (int l = 0; l < lp->nkeep; l++) {
            snprintf(nm, sizeof nm, "i%d", l);
            iv[l] = loop_open(L, &loops[l], lp->n[l], nm);
        }
        LLVMValueRef v;
        if (!red) {
            v = lp->nnodes > 0 ? eval_nodes(L, fn, lp, bufp, iv) : fconst(L, DT_F32, 0.0);
            v = convert(L, v, vt, ot);
        } else {
            LLVMBuildStore(L->b, init, acc);
            if (!red_empty) {
                for (int l = lp->nkeep; l < lp->nloops; l++) {
                    snprintf(nm, sizeof nm, "r%d", l);
                    iv[l] = loop_open(L, &loops[l], lp->n[l], nm);
                }
                LLVMValueRef x = eval_nodes(L, fn, lp, bufp, iv);
                LLVMValueRef a = LLVMBuildLoad2(L->b, at, acc, "");
                LLVMValueRef r;
                if (ired) {
                    r = sum ? LLVMBuildAdd(L->b, a, LLVMBuildSExt(L->b, x, L->ti64, ""), "")
                            : call_intr(L, lp->red == OP_MAX ? "llvm.smax" : "llvm.smin", a, x);
                } else {
                    x = convert(L, x, vt, adt);
                    if (sum) {
                        r = LLVMBuildFAdd(L->b, a, x, "");
                        LLVMSetFastMathFlags(r, LLVMFastMathAllowReassoc);
                    } else {
                        r = call_intr(L, lp->red == OP_MAX ? "llvm.maximum" : "llvm.minimum", a, x);
                    }
                }
                LLVMBuildStore(L->b, r, acc);
                for (int l = lp->nloops - 1; l >= lp->nkeep; l--)
                    loop_close(L, &loops[l]);
            }
            v = LLVMBuildLoad2(L->b, at, acc, "");
            if (ired) {
                if (sum)
                    v = LLVMBuildTrunc(L->b, v, L->ti32, ""); /* wraps */
            } else {
                if (lp->red == OP_MEAN)
                    v = LLVMBuildFDiv(L->b, v, fconst(L, DT_F64, (double)lp->red_count), "");
                v = convert(L, v, adt, ot);
            }
        }
        LLVMValueRef oi = index_of(L, lp->out_base, lp->out_stride, iv, lp->nkeep);
        LLVMValueRef st = LLVMBuildStore(L->b, v, elem_ptr(L, outp, ot, oi));
        LLVMSetAlignment(st, (unsigned)ir_dtype_size(ot));
        for (int l = lp->nkeep - 1; l >= 0; l--)
            loop_close(L, &loops[l]);
    }
    LLVMBuildRetVoid(L->b);
    L->fn = saved;
    return f;
}

/* ---- variants ------------------------------------------------------------------------------ */

static LLVMValueRef rt_fn(Ll *L, const char *name)
{
    LLVMTypeRef P = L->tptr, I = L->ti32, J = L->ti64, D = L->tf64, V = L->tvoid;
    struct {
        const char *name;
        LLVMTypeRef ret;
        int n;
        LLVMTypeRef args[17];
    } sigs[] = {
        {"rt_workspace", P, 1, {P}},
        {"rt_rank", I, 1, {P}},
        {"rt_prof_begin", V, 3, {P, P, J}},
        {"rt_prof_end", V, 1, {P}},
        {"rt_site", V, 2, {P, P}},
        {"rt_all_reduce", V, 6, {P, I, I, P, J, I}},
        {"rt_all_gather", V, 9, {P, I, I, P, P, I, P, I, P}},
        {"rt_reduce_scatter", V, 10, {P, I, I, P, P, I, P, I, P, I}},
        {"rt_all_to_all", V, 11, {P, I, I, P, P, I, P, I, P, I, P}},
        {"rt_all_reduce_start", V, 7, {P, I, I, I, P, J, I}},
        {"rt_all_gather_start", V, 10, {P, I, I, I, P, P, I, P, I, P}},
        {"rt_reduce_scatter_start", V, 11, {P, I, I, I, P, P, I, P, I, P, I}},
        {"rt_all_to_all_start", V, 12, {P, I, I, I, P, P, I, P, I, P, I, P}},
        {"rt_collective_permute", V, 8, {P, I, I, P, P, J, I, I}},
        {"rt_collective_permute_start", V, 9, {P, I, I, I, P, P, J, I, I}},
        {"rt_wait", V, 2, {P, I}},
        {"dtk_matmul", V, 13, {I, I, P, P, P, J, J, J, I, I, P, P, P}},
        {"dtk_matmul_strided", V, 17, {I, I, P, P, P, P, J, J, J, I, I, J, J, J, P, P, P}},
        {"dtk_softmax", V, 7, {I, I, J, J, J, P, P}},
        {"dtk_layernorm", V, 8, {I, J, J, D, P, P, P, P}},
        {"dtk_rmsnorm", V, 7, {I, J, J, D, P, P, P}},
        {"dtk_embedding", V, 11, {P, P, I, P, J, J, P, J, J, J, P}},
        {"dtk_pick", V, 10, {P, P, I, P, J, J, P, J, J, P}},
        {"dtk_cross_entropy", V, 8, {P, P, I, P, J, J, P, P}},
        {"dtk_route", V, 15, {P, P, I, I, I, J, J, J, J, J, J, P, P, P, P}},
        {"dtk_setup", V, 1, {I}},
        {"rt_main", I, 3, {I, P, P}},
    };
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
        if (!strcmp(sigs[k].name, name))
            return ext_fn(L, name, sigs[k].ret, sigs[k].args, sigs[k].n);
    DTC_BUG("llvm: unknown runtime function");
}

static LLVMValueRef call_rt(Ll *L, const char *name, LLVMValueRef *args, int n)
{
    return call(L, rt_fn(L, name), args, n, "");
}

/* A profile region's name, as the C backend names it: "mlp.dt:12:9 matmul",
 * or "copy to result y". */
static const char *prof_name(Ll *L, const CgFunc *fn, const CgStep *s)
{
    return cg_c_step_name(L->a, L->p, fn, s);
}

static LLVMValueRef body_of(Ll *L, const CgFunc *fn)
{
    for (int k = 0; k < L->nbodies; k++)
        if (L->bodies[k] == fn)
            return L->body_fn[k];
    DTC_BUG("llvm backend: a loop body was not emitted");
}

/* for (l = 0; l < trip; l++) { body(ctx, params, results, ws); carried = results } */
static void emit_scan(Ll *L, const CgStep *s, LLVMValueRef *bufp)
{
    const CgScan *sc = s->scan;
    LLVMValueRef body = body_of(L, sc->fn);
    for (int k = 0; k < sc->ncarry; k++)
        if (sc->carry_bytes[k] > 0)
            LLVMBuildMemCpy(L->b, bufp[sc->outs[k]], 4, bufp[sc->args[k]], 4, c64(L, sc->carry_bytes[k]));
    if (sc->trip <= 0)
        return;
    LLVMTypeRef pa = LLVMArrayType2(L->tptr, (uint64_t)(sc->nargs ? sc->nargs : 1));
    LLVMTypeRef ra = LLVMArrayType2(L->tptr, (uint64_t)(sc->ncarry ? sc->ncarry : 1));
    LLVMValueRef params = LLVMBuildAlloca(L->b, pa, "loop.params");
    LLVMValueRef results = LLVMBuildAlloca(L->b, ra, "loop.results");
    /* what does not change from trip to trip */
    for (int k = 0; k < sc->nargs; k++) {
        if (k >= sc->ncarry && k < sc->ncarry + sc->nstack)
            continue;
        LLVMValueRef idx = c64(L, k);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(L->b, L->tptr, params, &idx, 1, "");
        LLVMBuildStore(L->b, k < sc->ncarry ? bufp[sc->outs[k]] : bufp[sc->args[k]], slot);
    }
    for (int k = 0; k < sc->ncarry; k++) {
        LLVMValueRef idx = c64(L, k);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(L->b, L->tptr, results, &idx, 1, "");
        LLVMBuildStore(L->b, bufp[sc->next[k]], slot);
    }
    LlLoop lp;
    LLVMValueRef l = loop_open(L, &lp, sc->trip, "layer");
    for (int k = sc->ncarry; k < sc->ncarry + sc->nstack; k++) {
        LLVMValueRef off = LLVMBuildMul(L->b, l, c64(L, sc->slice_bytes[k]), "");
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(L->b, L->ti8, bufp[sc->args[k]], &off, 1, "layer.slice");
        LLVMValueRef idx = c64(L, k);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(L->b, L->tptr, params, &idx, 1, "");
        LLVMBuildStore(L->b, ptr, slot);
    }
    LLVMValueRef a[4] = {L->ctx, params, results, bufp[sc->ws]};
    call(L, body, a, 4, "");
    for (int k = 0; k < sc->ncarry; k++)
        if (sc->carry_bytes[k] > 0)
            LLVMBuildMemCpy(L->b, bufp[sc->outs[k]], 4, bufp[sc->next[k]], 4, c64(L, sc->carry_bytes[k]));
    loop_close(L, &lp);
}

/* A collective's call a[0..n) (a[0] the context): blocking (req < 0), or
 * NAME_start with the handle req after the context. */
static void call_coll(Ll *L, const char *name, LLVMValueRef *a, int n, int req)
{
    if (req < 0) {
        call_rt(L, name, a, n);
        return;
    }
    LLVMValueRef b[16];
    DTC_ASSERT(n < 16);
    b[0] = a[0];
    b[1] = c32(L, req);
    memcpy(b + 2, a + 1, sizeof *b * (size_t)(n - 1));
    call_rt(L, arena_printf(L->a, "%s_start", name), b, n + 1);
}

static void emit_step(Ll *L, int vi, int si, const CgFunc *fn, const CgStep *s, LLVMValueRef *bufp)
{
    LLVMValueRef ctx = L->ctx;
    LLVMValueRef out = s->out >= 0 ? bufp[s->out] : NULL;
    LLVMValueRef in0 = s->nin > 0 ? bufp[s->in[0]] : NULL;
    LLVMValueRef in1 = s->nin > 1 ? bufp[s->in[1]] : NULL;
    LLVMValueRef in2 = s->nin > 2 ? bufp[s->in[2]] : NULL;
    LLVMValueRef dt = c32(L, s->dtype);
    char nm[64];
    bool prof = s->kind != CG_RESHAPE && s->kind != CG_SCAN && s->kind < CG_ALL_REDUCE; /* collectives and
                                                                                           waits profile themselves */
    if (prof) {
        LLVMValueRef a[3] = {ctx, cstr(L, prof_name(L, fn, s)), c64(L, s->bytes)};
        call_rt(L, "rt_prof_begin", a, 3);
    }
    const char *site = s->kind >= CG_ALL_REDUCE && s->kind != CG_WAIT ? cg_site(L->a, s->inst) : NULL;
    if (site) { /* names the collective in the profile, the trace and messages */
        LLVMValueRef a[2] = {ctx, cstr(L, site)};
        call_rt(L, "rt_site", a, 2);
    }
    switch (s->kind) {
    case CG_LOOP: {
        snprintf(nm, sizeof nm, "dt_v%d_s%d", vi, si);
        int *args = arena_alloc(L->a, sizeof *args * (size_t)(s->loop.nnodes + 1));
        int nargs = loop_args(&s->loop, args);
        const char *key = loop_key(L->a, fn, &s->loop, args, nargs);
        int id = cg_strmap_get(&L->loops, key);
        if (id < 0) {
            LLVMBasicBlockRef here = LLVMGetInsertBlock(L->b);
            LLVMValueRef made = emit_loop_fn(L, fn, s, nm, args, nargs);
            LLVMPositionBuilderAtEnd(L->b, here);
            L->loop_fn = grow_values(L, L->loop_fn, L->nloop_fns, &L->caploop_fns);
            id = L->nloop_fns++;
            L->loop_fn[id] = made;
            cg_strmap_put(L->a, &L->loops, key, id);
        }
        LLVMValueRef f = L->loop_fn[id];
        LLVMValueRef *av = arena_alloc(L->a, sizeof *av * (size_t)nargs);
        for (int k = 0; k < nargs; k++)
            av[k] = bufp[args[k]];
        call(L, f, av, nargs, "");
        break;
    }
    case CG_MATMUL: {
        if (s->a_offset) { /* a block of rows (a matmul epilogue) */
            LLVMValueRef off = c64(L, s->a_offset);
            in0 = LLVMBuildGEP2(L->b, L->ti8, in0, &off, 1, "");
        }
        snprintf(nm, sizeof nm, "dt_v%d_s%d.batch", vi, si);
        LLVMValueRef batch = carray64(L, s->batch, s->nbatch, nm);
        snprintf(nm, sizeof nm, "dt_v%d_s%d.astride", vi, si);
        LLVMValueRef as = carray64(L, s->astride, s->nbatch, nm);
        snprintf(nm, sizeof nm, "dt_v%d_s%d.bstride", vi, si);
        LLVMValueRef bs = carray64(L, s->bstride, s->nbatch, nm);
        if (s->strided) { /* views: dtk_matmul_strided */
            snprintf(nm, sizeof nm, "dt_v%d_s%d.cstride", vi, si);
            LLVMValueRef cs = carray64(L, s->cstride, s->nbatch, nm);
            LLVMValueRef a[17] = {dt,  c32(L, s->nbatch), batch, as, bs, cs, c64(L, s->M), c64(L, s->N),
                                  c64(L, s->K), c32(L, s->ta), c32(L, s->tb), c64(L, s->lda),
                                  c64(L, s->ldb), c64(L, s->ldc), in0, in1, out};
            call_rt(L, "dtk_matmul_strided", a, 17);
            break;
        }
        LLVMValueRef a[13] = {dt,           c32(L, s->nbatch), batch,       as,  bs,  c64(L, s->M),
                              c64(L, s->N), c64(L, s->K),      c32(L, s->ta), c32(L, s->tb), in0, in1,
                              out};
        call_rt(L, "dtk_matmul", a, 13);
        break;
    }
    case CG_SOFTMAX: {
        LLVMValueRef a[7] = {dt, c32(L, s->take_log), c64(L, s->outer), c64(L, s->len), c64(L, s->inner),
                             in0, out};
        call_rt(L, "dtk_softmax", a, 7);
        break;
    }
    case CG_NORM:
        if (s->layernorm) {
            LLVMValueRef a[8] = {dt, c64(L, s->outer), c64(L, s->len), fconst(L, DT_F64, s->eps),
                                 in0, in1, in2, out};
            call_rt(L, "dtk_layernorm", a, 8);
        } else {
            LLVMValueRef a[7] = {dt, c64(L, s->outer), c64(L, s->len), fconst(L, DT_F64, s->eps),
                                 in0, in1, out};
            call_rt(L, "dtk_rmsnorm", a, 7);
        }
        break;
    case CG_EMBEDDING: {
        LLVMValueRef a[11] = {ctx, cstr(L, s->where), dt, in0, c64(L, s->len), c64(L, s->inner), in1,
                              c64(L, s->outer), c64(L, s->off), c64(L, s->total), out};
        call_rt(L, "dtk_embedding", a, 11);
        break;
    }
    case CG_PICK: {
        LLVMValueRef a[10] = {ctx, cstr(L, s->where), dt, in0, c64(L, s->outer), c64(L, s->len), in1,
                              c64(L, s->off), c64(L, s->total), out};
        call_rt(L, "dtk_pick", a, 10);
        break;
    }
    case CG_XENT: {
        LLVMValueRef a[8] = {ctx, cstr(L, s->where), dt, in0, c64(L, s->outer), c64(L, s->len), in1, out};
        call_rt(L, "dtk_cross_entropy", a, 8);
        break;
    }
    case CG_ROUTE: {
        LLVMValueRef nul = LLVMConstNull(L->tptr);
        LLVMValueRef a[15] = {ctx, cstr(L, s->where), c32(L, s->route), c32(L, s->dtype2), dt,
                              c64(L, s->outer), c64(L, s->len), c64(L, s->len2), c64(L, s->inner),
                              c64(L, s->off), c64(L, s->total), in0, in1 ? in1 : nul, in2 ? in2 : nul, out};
        call_rt(L, "dtk_route", a, 15);
        break;
    }
    case CG_COPY: {
        unsigned al = fn->is_body ? 4 : 64; /* a body's parameters may be layer slices */
        if (s->count > 0 && in0 != out)
            LLVMBuildMemCpy(L->b, out, al, in0, al, c64(L, s->count));
        break;
    }
    case CG_RESHAPE:
        break;
    case CG_SCAN:
        emit_scan(L, s, bufp);
        break;
    case CG_ALL_REDUCE: {
        LLVMValueRef a[6] = {ctx, c32(L, s->axes), dt, out, c64(L, s->count), c32(L, s->red)};
        call_coll(L, "rt_all_reduce", a, 6, s->req);
        break;
    }
    case CG_ALL_GATHER:
    case CG_REDUCE_SCATTER: {
        snprintf(nm, sizeof nm, "dt_v%d_s%d.dims", vi, si);
        LLVMValueRef dims = carray64(L, s->dims, s->rank, nm);
        snprintf(nm, sizeof nm, "dt_v%d_s%d.lens", vi, si);
        LLVMValueRef lens = carray64(L, s->lens, s->nmembers, nm);
        LLVMValueRef a[10] = {ctx, c32(L, s->axes), dt,          in0,  out,
                              c32(L, s->rank), dims, c32(L, s->dim), lens, c32(L, s->red)};
        if (s->kind == CG_ALL_GATHER)
            call_coll(L, "rt_all_gather", a, 9, s->req);
        else
            call_coll(L, "rt_reduce_scatter", a, 10, s->req);
        break;
    }
    case CG_ALL_TO_ALL: {
        snprintf(nm, sizeof nm, "dt_v%d_s%d.dims", vi, si);
        LLVMValueRef dims = carray64(L, s->dims, s->rank, nm);
        snprintf(nm, sizeof nm, "dt_v%d_s%d.split", vi, si);
        LLVMValueRef split = carray64(L, s->lens, s->nmembers, nm);
        snprintf(nm, sizeof nm, "dt_v%d_s%d.cat", vi, si);
        LLVMValueRef cat = carray64(L, s->lens2, s->nmembers, nm);
        LLVMValueRef a[11] = {ctx,  c32(L, s->axes), dt,    in0,           out, c32(L, s->rank),
                              dims, c32(L, s->dim2), split, c32(L, s->dim), cat};
        call_coll(L, "rt_all_to_all", a, 11, s->req);
        break;
    }
    case CG_COLLECTIVE_PERMUTE: {
        LLVMValueRef a[8] = {ctx, c32(L, s->axes), dt, in0, out, c64(L, s->count), c32(L, s->dest), c32(L, s->src)};
        call_coll(L, "rt_collective_permute", a, 8, s->req);
        break;
    }
    case CG_WAIT: {
        LLVMValueRef a[2] = {ctx, c32(L, s->req)};
        call_rt(L, "rt_wait", a, 2);
        break;
    }
    }
    if (prof) {
        LLVMValueRef a[1] = {ctx};
        call_rt(L, "rt_prof_end", a, 1);
    }
}

static LLVMValueRef emit_func(Ll *L, int vi, const CgFunc *fn, const char *nm);

/* The bodies of fn's loops (theirs first), each once, as
 * int dt_loopK(rt_ctx *ctx, void *const *params, void *const *results, char *ws);
 * their steps are named as those of a variant numbered after the real ones. */
static void emit_bodies(Ll *L, const CgFunc *fn)
{
    for (int k = 0; k < fn->nsteps; k++) {
        if (fn->steps[k].kind != CG_SCAN)
            continue;
        const CgFunc *b = fn->steps[k].scan->fn;
        emit_bodies(L, b);
        if (L->nbodies == L->capbodies) {
            L->capbodies = L->capbodies ? 2 * L->capbodies : 8;
            const CgFunc **nb = arena_alloc(L->a, sizeof *nb * (size_t)L->capbodies);
            LLVMValueRef *nf = arena_alloc(L->a, sizeof *nf * (size_t)L->capbodies);
            if (L->nbodies) {
                memcpy(nb, L->bodies, sizeof *nb * (size_t)L->nbodies);
                memcpy(nf, L->body_fn, sizeof *nf * (size_t)L->nbodies);
            }
            L->bodies = nb;
            L->body_fn = nf;
        }
        int id = L->nbodies;
        L->bodies[id] = b;
        L->body_fn[id] = emit_func(L, L->p->nvariants + id, b, arena_printf(L->a, "dt_loop%d", id));
        L->nbodies++;
    }
}

/* int dt_vK(rt_ctx *ctx, void *const *params, void *const *results) */
static LLVMValueRef emit_variant(Ll *L, int vi, const CgFunc *fn)
{
    emit_bodies(L, fn);
    return emit_func(L, vi, fn, arena_printf(L->a, "dt_v%d", vi));
}

/* Calls visit(L, b, ...) for every buffer step s touches. */
static void step_buffers(const CgStep *s, void (*visit)(Ll *, const CgFunc *, int, void *), Ll *L,
                         const CgFunc *fn, void *arg)
{
    if (s->out >= 0)
        visit(L, fn, s->out, arg);
    for (int k = 0; k < s->nin; k++)
        visit(L, fn, s->in[k], arg);
    if (s->kind == CG_SCAN) {
        const CgScan *sc = s->scan;
        for (int k = 0; k < sc->nargs; k++)
            visit(L, fn, sc->args[k], arg);
        for (int k = 0; k < sc->ncarry; k++) {
            visit(L, fn, sc->outs[k], arg);
            visit(L, fn, sc->next[k], arg);
        }
        visit(L, fn, sc->ws, arg);
    }
}

/* Where a function finds its buffers: ctx, params, results, the workspace
 * (NULL until first needed: then rt_workspace(ctx)), and by buffer its
 * address once made (NULL before). */
typedef struct LlFrame {
    LLVMValueRef ctx, params, results, ws;
    LLVMValueRef *bufp;
} LlFrame;

static void make_buffer(Ll *L, const CgFunc *fn, int b, void *arg)
{
    LlFrame *fr = arg;
    if (fr->bufp[b])
        return;
    const CgBuf *bf = &fn->bufs[b];
    const char *name = buf_name(L, bf);
    if (bf->kind == CG_BUF_WORK) {
        if (!fr->ws) {
            LLVMValueRef a[1] = {fr->ctx};
            fr->ws = call_rt(L, "rt_workspace", a, 1);
            LLVMSetValueName2(fr->ws, "ws", 2);
        }
        LLVMValueRef off = c64(L, bf->offset);
        fr->bufp[b] = LLVMBuildInBoundsGEP2(L->b, L->ti8, fr->ws, &off, 1, name);
    } else {
        LLVMValueRef idx = c64(L, bf->index);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(L->b, L->tptr, bf->kind == CG_BUF_PARAM ? fr->params : fr->results,
                                                  &idx, 1, "");
        fr->bufp[b] = LLVMBuildLoad2(L->b, L->tptr, slot, name);
    }
}

static void forget_buffer(Ll *L, const CgFunc *fn, int b, void *arg)
{
    (void)L, (void)fn;
    ((LlFrame *)arg)->bufp[b] = NULL;
}

/* Steps [from, to) of fn into the current block, each after the addresses
 * of the buffers it touches (made per step, so that no address lives
 * across many calls: a chunk's register allocation stays linear). */
static void emit_steps(Ll *L, int vi, const CgFunc *fn, int from, int to, LlFrame *fr)
{
    L->ctx = fr->ctx;
    for (int k = from; k < to; k++) {
        step_buffers(&fn->steps[k], make_buffer, L, fn, fr);
        emit_step(L, vi, k, fn, &fn->steps[k], fr->bufp);
        step_buffers(&fn->steps[k], forget_buffer, L, fn, fr);
    }
}

static void name_params(LLVMValueRef f, int n)
{
    static const char *const names[] = {"ctx", "params", "results", "ws"};
    for (int k = 0; k < n; k++)
        LLVMSetValueName2(LLVMGetParam(f, (unsigned)k), names[k], strlen(names[k]));
}

/* A variant (3 parameters) or a loop body (4: its workspace is passed in).
 * Up to CG_CHUNK_STEPS steps are emitted in the function itself; more are
 * cut into chunks of that many, each its own function
 *   int NAME_cJ(rt_ctx *ctx, void *const *params, void *const *results, char *ws)
 * (noinline, optnone) listed in the constant table NAME.chunks, which the
 * function walks in a loop: no function LLVM compiles grows with the
 * program.  Values pass between chunks in the workspace, as between steps. */
static LLVMValueRef emit_func(Ll *L, int vi, const CgFunc *fn, const char *nm)
{
    int nargs = fn->is_body ? 4 : 3;
    LLVMTypeRef args[4] = {L->tptr, L->tptr, L->tptr, L->tptr};
    LLVMValueRef f = LLVMAddFunction(L->mod, nm, LLVMFunctionType(L->ti32, args, (unsigned)nargs, 0));
    LLVMSetLinkage(f, LLVMInternalLinkage);
    def_attrs(L, f);
    name_params(f, nargs);
    L->fn = f;
    LLVMPositionBuilderAtEnd(L->b, new_block(L, "entry"));
    LlFrame fr = {LLVMGetParam(f, 0), LLVMGetParam(f, 1), LLVMGetParam(f, 2),
                  fn->is_body ? LLVMGetParam(f, 3) : NULL, NULL};
    fr.bufp = arena_alloc(L->a, sizeof *fr.bufp * (size_t)(fn->nbufs + 1));
    memset(fr.bufp, 0, sizeof *fr.bufp * (size_t)(fn->nbufs + 1));
    if (fn->nsteps <= CG_CHUNK_STEPS) {
        emit_steps(L, vi, fn, 0, fn->nsteps, &fr);
        LLVMBuildRet(L->b, c32(L, 0));
        return f;
    }
    bool work = false;
    for (int k = 0; k < fn->nbufs && !work; k++)
        work = fn->bufs[k].kind == CG_BUF_WORK;
    if (!fr.ws) {
        LLVMValueRef a[1] = {fr.ctx};
        fr.ws = work ? call_rt(L, "rt_workspace", a, 1) : LLVMConstPointerNull(L->tptr);
    }
    /* the chunks, then a loop calling them in order through a constant
     * table, so that this function stays the same size however many */
    int nchunks = (fn->nsteps + CG_CHUNK_STEPS - 1) / CG_CHUNK_STEPS;
    LLVMValueRef *chunk = arena_alloc(L->a, sizeof *chunk * (size_t)nchunks);
    LLVMTypeRef ct = LLVMFunctionType(L->ti32, args, 4, 0);
    LLVMBasicBlockRef main_block = LLVMGetInsertBlock(L->b);
    for (int j = 0; j < nchunks; j++) {
        int from = j * CG_CHUNK_STEPS;
        int to = from + CG_CHUNK_STEPS < fn->nsteps ? from + CG_CHUNK_STEPS : fn->nsteps;
        LLVMValueRef cf = LLVMAddFunction(L->mod, arena_printf(L->a, "%s_c%d", nm, j), ct);
        LLVMSetLinkage(cf, LLVMInternalLinkage);
        def_attrs(L, cf);
        /* a chunk is a straight run of calls: nothing for LLVM to improve */
        fn_attr(L, cf, LLVMAttributeFunctionIndex, "noinline", 0);
        fn_attr(L, cf, LLVMAttributeFunctionIndex, "optnone", 0);
        name_params(cf, 4);
        L->fn = cf;
        LLVMPositionBuilderAtEnd(L->b, new_block(L, "entry"));
        LlFrame cfr = {LLVMGetParam(cf, 0), LLVMGetParam(cf, 1), LLVMGetParam(cf, 2), LLVMGetParam(cf, 3),
                       fr.bufp};
        emit_steps(L, vi, fn, from, to, &cfr);
        LLVMBuildRet(L->b, c32(L, 0));
        chunk[j] = cf;
    }
    LLVMValueRef tinit = LLVMConstArray2(L->tptr, chunk, (uint64_t)nchunks);
    LLVMValueRef table = LLVMAddGlobal(L->mod, LLVMTypeOf(tinit), arena_printf(L->a, "%s.chunks", nm));
    LLVMSetInitializer(table, tinit);
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
    L->fn = f;
    LLVMPositionBuilderAtEnd(L->b, main_block);
    LlLoop lp;
    LLVMValueRef j = loop_open(L, &lp, nchunks, "chunk");
    LLVMValueRef slot = LLVMBuildInBoundsGEP2(L->b, L->tptr, table, &j, 1, "");
    LLVMValueRef cf = LLVMBuildLoad2(L->b, L->tptr, slot, "");
    LLVMValueRef a[4] = {fr.ctx, fr.params, fr.results, fr.ws};
    LLVMBuildCall2(L->b, ct, cf, a, 4, "");
    loop_close(L, &lp);
    LLVMBuildRet(L->b, c32(L, 0));
    return f;
}

/* int dt_run(ctx, params, results): the variant of this rank. */
static LLVMValueRef emit_dispatch(Ll *L, LLVMValueRef *vfn)
{
    const CgProgram *p = L->p;
    LLVMTypeRef args[3] = {L->tptr, L->tptr, L->tptr};
    LLVMValueRef f = LLVMAddFunction(L->mod, "dt_run", LLVMFunctionType(L->ti32, args, 3, 0));
    LLVMSetLinkage(f, LLVMInternalLinkage);
    def_attrs(L, f);
    L->fn = f;
    LLVMValueRef av[3] = {LLVMGetParam(f, 0), LLVMGetParam(f, 1), LLVMGetParam(f, 2)};
    LLVMPositionBuilderAtEnd(L->b, new_block(L, "entry"));
    if (p->nvariants == 1) {
        LLVMBuildRet(L->b, call(L, vfn[0], av, 3, ""));
        return f;
    }
    LLVMValueRef a[1] = {av[0]};
    LLVMValueRef rank = call_rt(L, "rt_rank", a, 1);
    LLVMBasicBlockRef bad = new_block(L, "bad_rank");
    int nranks = ir_mesh_nranks(&p->m->mesh);
    LLVMValueRef sw = LLVMBuildSwitch(L->b, rank, bad, (unsigned)nranks);
    LLVMBasicBlockRef *vb = arena_alloc(L->a, sizeof *vb * (size_t)p->nvariants);
    for (int v = 0; v < p->nvariants; v++) {
        char nm[32];
        snprintf(nm, sizeof nm, "variant%d", v);
        vb[v] = new_block(L, nm);
        LLVMPositionBuilderAtEnd(L->b, vb[v]);
        LLVMBuildRet(L->b, call(L, vfn[v], av, 3, ""));
    }
    for (int r = 0; r < nranks; r++)
        LLVMAddCase(sw, c32(L, r), vb[p->variant_of[r]]);
    LLVMPositionBuilderAtEnd(L->b, bad);
    LLVMBuildRet(L->b, c32(L, 1));
    return f;
}

/* ---- the program descriptor -------------------------------------------------------------- */

typedef struct LlTypes {
    LLVMTypeRef init, pl, desc, mesh, prog;
} LlTypes;

/* LLVM struct types with the layout of runtime/dtrt.h's structs (enums
 * are int); checked against the C compiler's offsets. */
static LlTypes desc_types(Ll *L)
{
    LlTypes T;
    LLVMTypeRef P = L->tptr, I = L->ti32, J = L->ti64, D = L->tf64;
    T.init = LLVMStructCreateNamed(L->c, "rt_init");
    LLVMTypeRef ie[6] = {I, J, D, D, P, I};
    LLVMStructSetBody(T.init, ie, 6, 0);
    T.pl = LLVMStructCreateNamed(L->c, "rt_pl");
    LLVMTypeRef pe[3] = {I, I, I};
    LLVMStructSetBody(T.pl, pe, 3, 0);
    T.desc = LLVMStructCreateNamed(L->c, "rt_tensor_desc");
    LLVMTypeRef de[7] = {P, I, I, LLVMArrayType2(J, RT_MAX_RANK), LLVMArrayType2(T.pl, RT_MAX_AXES),
                         T.init, I};
    LLVMStructSetBody(T.desc, de, 7, 0);
    T.mesh = LLVMStructCreateNamed(L->c, "rt_mesh");
    LLVMTypeRef me[4] = {P, I, LLVMArrayType2(P, RT_MAX_AXES), LLVMArrayType2(I, RT_MAX_AXES)};
    LLVMStructSetBody(T.mesh, me, 4, 0);
    T.prog = LLVMStructCreateNamed(L->c, "rt_program");
    LLVMTypeRef ge[8] = {P, T.mesh, I, P, I, P, J, P};
    LLVMStructSetBody(T.prog, ge, 8, 0);

    struct {
        LLVMTypeRef t;
        unsigned idx;
        size_t off;
    } chk[] = {
        {T.init, 1, offsetof(rt_init, seed)},
        {T.init, 4, offsetof(rt_init, path)},
        {T.init, 5, offsetof(rt_init, per_step)},
        {T.pl, 2, offsetof(rt_pl, red)},
        {T.desc, 1, offsetof(rt_tensor_desc, dtype)},
        {T.desc, 3, offsetof(rt_tensor_desc, dims)},
        {T.desc, 4, offsetof(rt_tensor_desc, pl)},
        {T.desc, 5, offsetof(rt_tensor_desc, init)},
        {T.desc, 6, offsetof(rt_tensor_desc, feeds)},
        {T.mesh, 2, offsetof(rt_mesh, axis_name)},
        {T.mesh, 3, offsetof(rt_mesh, size)},
        {T.prog, 1, offsetof(rt_program, mesh)},
        {T.prog, 2, offsetof(rt_program, nparams)},
        {T.prog, 3, offsetof(rt_program, params)},
        {T.prog, 5, offsetof(rt_program, results)},
        {T.prog, 6, offsetof(rt_program, workspace_bytes)},
        {T.prog, 7, offsetof(rt_program, run)},
    };
    for (size_t k = 0; k < sizeof chk / sizeof chk[0]; k++)
        if (LLVMOffsetOfElement(L->td, chk[k].t, chk[k].idx) != chk[k].off)
            DTC_BUG("llvm: descriptor layout differs from runtime/dtrt.h");
    DTC_ASSERT(LLVMABISizeOfType(L->td, T.desc) == sizeof(rt_tensor_desc));
    DTC_ASSERT(LLVMABISizeOfType(L->td, T.prog) == sizeof(rt_program));
    DTC_ASSERT(LLVMABISizeOfType(L->td, T.mesh) == sizeof(rt_mesh));
    return T;
}

static LLVMValueRef desc_value(Ll *L, const LlTypes *T, const CgIo *io, bool param)
{
    int naxes = L->p->m->mesh.naxes;
    LLVMValueRef dims[RT_MAX_RANK], pls[RT_MAX_AXES];
    for (int d = 0; d < RT_MAX_RANK; d++)
        dims[d] = c64(L, d < io->type.rank ? io->type.dims[d] : 0);
    for (int a = 0; a < RT_MAX_AXES; a++) {
        PlEntry e = a < naxes && a < io->pl.naxes ? io->pl.e[a] : (PlEntry){PL_R, 0, RED_SUM};
        LLVMValueRef f[3] = {c32(L, e.kind), c32(L, e.kind == PL_S ? e.dim : 0),
                             c32(L, e.kind == PL_P ? e.red : 0)};
        pls[a] = LLVMConstNamedStruct(T->pl, f, 3);
    }
    IrInit in = param ? io->init : (IrInit){.kind = INIT_NONE};
    LLVMValueRef iv[6] = {c32(L, in.kind), LLVMConstInt(L->ti64, in.seed, 0), fconst(L, DT_F64, in.a),
                          fconst(L, DT_F64, in.b),
                          in.kind == INIT_LOAD ? cstr(L, in.path) : LLVMConstPointerNull(L->tptr),
                          c32(L, in.per_step)};
    LLVMValueRef f[7] = {cstr(L, io->name),
                         c32(L, io->type.dtype),
                         c32(L, io->type.rank),
                         LLVMConstArray2(L->ti64, dims, RT_MAX_RANK),
                         LLVMConstArray2(T->pl, pls, RT_MAX_AXES),
                         LLVMConstNamedStruct(T->init, iv, 6),
                         c32(L, param ? -1 : io->feeds)};
    return LLVMConstNamedStruct(T->desc, f, 7);
}

static LLVMValueRef desc_array(Ll *L, const LlTypes *T, const CgIo *io, int n, bool param,
                               const char *name)
{
    if (n == 0)
        return LLVMConstPointerNull(L->tptr);
    LLVMValueRef *el = arena_alloc(L->a, sizeof *el * (size_t)n);
    for (int k = 0; k < n; k++)
        el[k] = desc_value(L, T, &io[k], param);
    LLVMValueRef init = LLVMConstArray2(T->desc, el, (uint64_t)n);
    LLVMValueRef g = LLVMAddGlobal(L->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMInternalLinkage);
    return g;
}

/* The rt_program and main(). */
static void emit_program(Ll *L, LLVMValueRef run)
{
    const CgProgram *p = L->p;
    const IrMesh *ms = &p->m->mesh;
    LlTypes T = desc_types(L);
    LLVMValueRef an[RT_MAX_AXES], sz[RT_MAX_AXES];
    for (int a = 0; a < RT_MAX_AXES; a++) {
        an[a] = a < ms->naxes ? cstr(L, ms->axis_name[a]) : LLVMConstPointerNull(L->tptr);
        sz[a] = c32(L, a < ms->naxes ? ms->size[a] : 0);
    }
    LLVMValueRef mf[4] = {cstr(L, ms->name ? ms->name : "M"), c32(L, ms->naxes),
                          LLVMConstArray2(L->tptr, an, RT_MAX_AXES),
                          LLVMConstArray2(L->ti32, sz, RT_MAX_AXES)};
    LLVMValueRef pf[8] = {cstr(L, p->name),
                          LLVMConstNamedStruct(T.mesh, mf, 4),
                          c32(L, p->nparams),
                          desc_array(L, &T, p->params, p->nparams, true, "dt_params"),
                          c32(L, p->nresults),
                          desc_array(L, &T, p->results, p->nresults, false, "dt_results"),
                          c64(L, p->workspace),
                          run};
    LLVMValueRef prog = LLVMAddGlobal(L->mod, T.prog, "dt_program");
    LLVMSetInitializer(prog, LLVMConstNamedStruct(T.prog, pf, 8));
    LLVMSetGlobalConstant(prog, 1);
    LLVMSetLinkage(prog, LLVMInternalLinkage);

    LLVMTypeRef margs[2] = {L->ti32, L->tptr};
    LLVMValueRef f = LLVMAddFunction(L->mod, "main", LLVMFunctionType(L->ti32, margs, 2, 0));
    def_attrs(L, f);
    L->fn = f;
    LLVMPositionBuilderAtEnd(L->b, new_block(L, "entry"));
    LLVMValueRef a1[1] = {c32(L, ir_mesh_nranks(ms))};
    call_rt(L, "dtk_setup", a1, 1);
    LLVMValueRef a3[3] = {LLVMGetParam(f, 0), LLVMGetParam(f, 1), prog};
    LLVMBuildRet(L->b, call_rt(L, "rt_main", a3, 3));
}

/* Keeps the libmvec declarations alive until the vectoriser runs. */
static void emit_used(Ll *L)
{
    if (L->nused == 0)
        return;
    LLVMValueRef init = LLVMConstArray2(L->tptr, L->used, (uint64_t)L->nused);
    LLVMValueRef g = LLVMAddGlobal(L->mod, LLVMTypeOf(init), "llvm.compiler.used");
    LLVMSetInitializer(g, init);
    LLVMSetLinkage(g, LLVMAppendingLinkage);
    LLVMSetSection(g, "llvm.metadata");
}

/* ---- target, passes, output -------------------------------------------------------------- */

/* Is "+f" one of the comma-separated host features? */
static bool has_feature(const char *features, const char *f)
{
    size_t n = strlen(f);
    for (const char *p = features; (p = strstr(p, f)); p += n)
        if ((p == features || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return true;
    return false;
}

/* libmvec variants this host can call (x86-64 glibc only). */
static void pick_vector_math(Ll *L)
{
    L->nisa = 0;
    L->glibc = 0;
#ifdef __GLIBC__
    if (strncmp(L->triple, "x86_64", 6) != 0 || getenv("DTC_NO_VECLIB"))
        return;
    int major = 0, minor = 0;
    if (sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2)
        return;
    int v = major * 100 + minor;
    if (v < 222)
        return;
    L->glibc = v;
    L->isa[L->nisa++] = 'b'; /* SSE2: every x86-64 has it */
    if (has_feature(L->features, "+avx2"))
        L->isa[L->nisa++] = 'd';
    else if (has_feature(L->features, "+avx"))
        L->isa[L->nisa++] = 'c';
    if (has_feature(L->features, "+avx512f"))
        L->isa[L->nisa++] = 'e';
#endif
}

static bool setup_target(Ll *L)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    char *msg = NULL;
    char *triple = LLVMGetDefaultTargetTriple();
    L->triple = arena_strdup(L->a, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(L->triple, &target, &msg)) {
        fprintf(L->err, "dtc: error: LLVM has no target for %s: %s\n", L->triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return false;
    }
    char *cpu = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
    L->cpu = arena_strdup(L->a, cpu);
    L->features = arena_strdup(L->a, feat);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(feat);
    LLVMCodeGenOptLevel lvl = L->opt->opt_level <= 0   ? LLVMCodeGenLevelNone
                              : L->opt->opt_level == 1 ? LLVMCodeGenLevelLess
                              : L->opt->opt_level == 2 ? LLVMCodeGenLevelDefault
                                                       : LLVMCodeGenLevelAggressive;
    L->tm = LLVMCreateTargetMachine(target, L->triple, L->cpu, L->features, lvl, LLVMRelocPIC,
                                    LLVMCodeModelDefault);
    if (!L->tm) {
        fprintf(L->err, "dtc: error: LLVM cannot make a target machine for %s (%s)\n", L->triple,
                L->cpu);
        return false;
    }
    L->td = LLVMCreateTargetDataLayout(L->tm);
    pick_vector_math(L);
    return true;
}

static bool optimise(Ll *L)
{
    char *msg = NULL;
    if (LLVMVerifyModule(L->mod, LLVMReturnStatusAction, &msg)) {
        fprintf(L->err, "dtc: internal error: generated LLVM IR does not verify:\n%s\n", msg);
        LLVMDisposeMessage(msg);
        DTC_BUG("llvm: invalid module");
    }
    LLVMDisposeMessage(msg);
    int lvl = L->opt->opt_level < 0 ? 0 : L->opt->opt_level > 3 ? 3 : L->opt->opt_level;
    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", lvl);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, lvl >= 2);
    LLVMPassBuilderOptionsSetSLPVectorization(po, lvl >= 2);
    LLVMPassBuilderOptionsSetLoopInterleaving(po, lvl >= 2);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, lvl >= 2);
    LLVMErrorRef e = LLVMRunPasses(L->mod, pipeline, L->tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) {
        char *m = LLVMGetErrorMessage(e);
        fprintf(L->err, "dtc: error: LLVM passes failed: %s\n", m);
        LLVMDisposeErrorMessage(m);
        return false;
    }
    return true;
}

static bool write_object(Ll *L, const char *path)
{
    char *msg = NULL;
    if (LLVMTargetMachineEmitToFile(L->tm, L->mod, path, LLVMObjectFile, &msg)) {
        fprintf(L->err, "dtc: error: cannot write %s: %s\n", path, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return false;
    }
    return true;
}

/* Builds the whole module for p. */
static void build_module(Ll *L)
{
    const CgProgram *p = L->p;
    L->mod = LLVMModuleCreateWithNameInContext(p->name, L->c);
    LLVMSetTarget(L->mod, L->triple);
    LLVMSetModuleDataLayout(L->mod, L->td);
    if (p->src_file)
        LLVMSetSourceFileName(L->mod, p->src_file, strlen(p->src_file));
    L->b = LLVMCreateBuilderInContext(L->c);
    L->tvoid = LLVMVoidTypeInContext(L->c);
    L->ti8 = LLVMInt8TypeInContext(L->c);
    L->ti32 = LLVMInt32TypeInContext(L->c);
    L->ti64 = LLVMInt64TypeInContext(L->c);
    L->tf32 = LLVMFloatTypeInContext(L->c);
    L->tf64 = LLVMDoubleTypeInContext(L->c);
    L->tptr = LLVMPointerTypeInContext(L->c, 0);

    LLVMValueRef *vfn = arena_alloc(L->a, sizeof *vfn * (size_t)(p->nvariants + 1));
    for (int v = 0; v < p->nvariants; v++)
        vfn[v] = emit_variant(L, v, &p->variants[v]);
    LLVMValueRef run = emit_dispatch(L, vfn);
    emit_program(L, run);
    emit_used(L);
    LLVMDisposeBuilder(L->b);
}

/* ---- linking ---------------------------------------------------------------------------- */

static bool link_exe(Ll *L, const char *obj)
{
    return cg_link_exe(L->a, obj, L->opt, L->err);
}

/* ---- entry ------------------------------------------------------------------------------- */

bool cg_llvm_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err)
{
    CgProgram *p = cg_lower(a, m, opt, err);
    if (!p)
        return false;
    Ll L;
    memset(&L, 0, sizeof L);
    L.a = a;
    L.p = p;
    L.opt = opt;
    L.err = err;
    if (!setup_target(&L)) {
        cg_program_free(p);
        return false;
    }
    L.c = LLVMContextCreate();
    PhaseClock t = phase_clock();
    build_module(&L);
    t = phase_time(opt->time_passes, "emit", t);
    bool ok = optimise(&L);
    t = phase_time(opt->time_passes, "LLVM optimise", t);
    if (ok && !strcmp(opt->emit, "llvm")) {
        char *msg = NULL;
        if (LLVMPrintModuleToFile(L.mod, opt->output, &msg)) {
            fprintf(err, "dtc: error: cannot write %s: %s\n", opt->output, msg ? msg : "?");
            ok = false;
        }
        LLVMDisposeMessage(msg);
    } else if (ok && !strcmp(opt->emit, "obj")) {
        ok = write_object(&L, opt->output);
        phase_time(opt->time_passes, "LLVM object", t);
    } else if (ok) {
        const char *obj = arena_printf(a, "%s.%ld.o", opt->output, (long)getpid());
        ok = write_object(&L, obj);
        t = phase_time(opt->time_passes, "LLVM object", t);
        ok = ok && link_exe(&L, obj);
        if (ok)
            phase_time(opt->time_passes, "link", t);
        unlink(obj);
    }
    LLVMDisposeModule(L.mod);
    LLVMContextDispose(L.c);
    LLVMDisposeTargetData(L.td);
    LLVMDisposeTargetMachine(L.tm);
    cg_program_free(p);
    return ok;
}
