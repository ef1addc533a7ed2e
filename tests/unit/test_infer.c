/* test_infer.c - the shape and dtype rules of ir_infer (ir/infer.c).
 *
 * Table-driven: each row is an op, its operand types, its attributes and
 * either the expected result type or a piece of the expected message.
 * Every op family of ops.def has good and bad rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

/* "f32[8, 512]" -> IrType (test inputs are well formed). */
static IrType T(const char *s)
{
    IrType t;
    memset(&t, 0, sizeof t);
    char name[8];
    size_t n = strcspn(s, "[");
    memcpy(name, s, n);
    name[n] = 0;
    if (!ir_dtype_parse(name, &t.dtype)) {
        fprintf(stderr, "bad test type %s\n", s);
        exit(2);
    }
    const char *p = s + n + 1;
    while (*p && *p != ']') {
        t.dims[t.rank++] = strtoll(p, (char **)&p, 10);
        while (*p == ',' || *p == ' ')
            p++;
    }
    return t;
}

typedef struct Case {
    IrOp op;
    const char *args[3];   /* operand types; NULL ends */
    int nints;
    int64_t ints[3 * IR_MAX_RANK];
    bool keepdims;
    const char *dtype;     /* const / cast target; NULL: f32 */
    const char *want;      /* result type, or "!" + a substring of the message */
} Case;

static const Case cases[] = {
    /* const and cast read the target dtype from *out */
    {OP_CONST, {NULL}, 0, {0}, false, "f64", "f64[]"},
    {OP_CAST, {"f32[4, 3]"}, 0, {0}, false, "i32", "i32[4, 3]"},
    {OP_CAST, {"i32[7]"}, 0, {0}, false, "bf16", "bf16[7]"},
    /* unary */
    {OP_EXP, {"f32[2, 3]"}, 0, {0}, false, NULL, "f32[2, 3]"},
    {OP_GELU, {"f64[]"}, 0, {0}, false, NULL, "f64[]"},
    {OP_EXP, {"i32[4]"}, 0, {0}, false, NULL, "!exp: needs a floating-point operand, got i32[4]"},
    {OP_RELU, {"i32[4]"}, 0, {0}, false, NULL, "!relu: needs a floating-point"},
    {OP_NEG, {"i32[4]"}, 0, {0}, false, NULL, "i32[4]"},
    {OP_ABS, {"i32[4]"}, 0, {0}, false, NULL, "i32[4]"},
    {OP_POW, {"f16[4]"}, 0, {0}, false, NULL, "f16[4]"},
    {OP_POW, {"i32[4]"}, 0, {0}, false, NULL, "!pow: needs a floating-point"},
    {OP_EXP, {"f32[4]", "f32[4]"}, 0, {0}, false, NULL, "!exp: takes 1 operand, got 2"},
    /* binary with broadcasting */
    {OP_ADD, {"f32[4, 3]", "f32[3]"}, 0, {0}, false, NULL, "f32[4, 3]"},
    {OP_MUL, {"f32[4, 1]", "f32[1, 5]"}, 0, {0}, false, NULL, "f32[4, 5]"},
    {OP_SUB, {"f32[]", "f32[2, 3, 4]"}, 0, {0}, false, NULL, "f32[2, 3, 4]"},
    {OP_MAXIMUM, {"i32[8]", "i32[]"}, 0, {0}, false, NULL, "i32[8]"},
    {OP_ADD, {"f32[0, 3]", "f32[1, 3]"}, 0, {0}, false, NULL, "f32[0, 3]"},
    {OP_ADD, {"f32[4, 3]", "f32[5]"}, 0, {0}, false, NULL, "!cannot broadcast f32[4, 3] with f32[5]"},
    {OP_ADD, {"f32[0]", "f32[5]"}, 0, {0}, false, NULL, "!cannot broadcast"},
    {OP_MINIMUM, {"f32[4]", "i32[4]"}, 0, {0}, false, NULL, "!operand dtypes differ: f32[4] vs i32[4]"},
    {OP_DIV, {"f32[4]", "f32[4]"}, 0, {0}, false, NULL, "f32[4]"},
    {OP_DIV, {"i32[4]", "i32[]"}, 0, {0}, false, NULL, "!div: needs floating-point operands"},
    {OP_ADD, {"f32[4]"}, 0, {0}, false, NULL, "!add: takes 2 operands, got 1"},
    /* the elementwise table's newer rows */
    {OP_SIN, {"f32[2, 3]"}, 0, {0}, false, NULL, "f32[2, 3]"},
    {OP_FLOOR, {"i32[3]"}, 0, {0}, false, NULL, "!floor: needs a floating-point operand"},
    {OP_LT, {"f32[4, 1]", "f32[3]"}, 0, {0}, false, NULL, "f32[4, 3]"},
    {OP_EQ, {"i32[4]", "i32[]"}, 0, {0}, false, NULL, "i32[4]"},
    {OP_NE, {"f32[4]", "f64[4]"}, 0, {0}, false, NULL, "!operand dtypes differ"},
    {OP_FLOORDIV, {"i32[4]", "i32[4]"}, 0, {0}, false, NULL, "i32[4]"},
    {OP_MOD, {"f64[2, 1]", "f64[5]"}, 0, {0}, false, NULL, "f64[2, 5]"},
    {OP_WHERE, {"i32[4, 1]", "f32[3]", "f32[]"}, 0, {0}, false, NULL, "f32[4, 3]"},
    {OP_WHERE, {"f64[2]", "f32[2]", "i32[2]"}, 0, {0}, false, NULL, "!operand dtypes differ: f32[2] vs i32[2]"},
    {OP_WHERE, {"f32[3]", "f32[2]", "f32[2]"}, 0, {0}, false, NULL, "!cannot broadcast"},
    {OP_WHERE, {"f32[2]", "f32[2]"}, 0, {0}, false, NULL, "!where: takes 3 operands, got 2"},
    /* iota: the shape in ints, the axis in dim (0 here), the dtype from out */
    {OP_IOTA, {NULL}, 2, {3, 4}, false, "f32", "f32[3, 4]"},
    {OP_IOTA, {NULL}, 1, {0}, false, "i32", "i32[0]"},
    {OP_IOTA, {NULL}, 0, {0}, false, "i32", "!iota: needs a shape of rank 1"},
    /* reductions */
    {OP_SUM, {"f32[8, 4, 2]"}, 2, {0, 2}, false, NULL, "f32[4]"},
    {OP_SUM, {"f32[8, 4, 2]"}, 2, {0, 2}, true, NULL, "f32[1, 4, 1]"},
    {OP_MAX, {"f32[8, 4]"}, 2, {0, 1}, false, NULL, "f32[]"},
    {OP_MIN, {"i32[8, 4]"}, 1, {1}, false, NULL, "i32[8]"},
    {OP_MEAN, {"f32[8, 4]"}, 0, {0}, false, NULL, "f32[8, 4]"},
    {OP_MEAN, {"i32[8]"}, 1, {0}, false, NULL, "!mean: needs a floating-point"},
    {OP_SUM, {"f32[8, 4]"}, 1, {2}, false, NULL, "!sum: axis 2 out of range for f32[8, 4]"},
    {OP_SUM, {"f32[8, 4]"}, 1, {-1}, false, NULL, "!axis -1 out of range"},
    {OP_SUM, {"f32[8, 4]"}, 2, {1, 0}, false, NULL, "!axes must be sorted and distinct"},
    {OP_SUM, {"f32[8, 4]"}, 2, {1, 1}, false, NULL, "!axes must be sorted and distinct"},
    {OP_SUM, {"f32[8]"}, 2, {0, 1}, false, NULL, "!sum: 2 axes for an operand of rank 1"},
    /* softmax */
    {OP_SOFTMAX, {"f32[8, 4]"}, 1, {1}, false, NULL, "f32[8, 4]"},
    {OP_LOG_SOFTMAX, {"f64[8, 4]"}, 1, {0}, false, NULL, "f64[8, 4]"},
    {OP_SOFTMAX, {"f32[8, 4]"}, 1, {2}, false, NULL, "!softmax: axis 2 out of range"},
    {OP_SOFTMAX, {"f32[8, 4]"}, 0, {0}, false, NULL, "!softmax: needs exactly one axis"},
    {OP_SOFTMAX, {"f32[]"}, 1, {0}, false, NULL, "!rank >= 1"},
    {OP_LOG_SOFTMAX, {"i32[8]"}, 1, {0}, false, NULL, "!log_softmax: needs a floating-point"},
    /* normalisation */
    {OP_LAYERNORM, {"f32[8, 64]", "f32[64]", "f32[64]"}, 0, {0}, false, NULL, "f32[8, 64]"},
    {OP_RMSNORM, {"f32[2, 8, 64]", "f32[64]"}, 0, {0}, false, NULL, "f32[2, 8, 64]"},
    {OP_LAYERNORM, {"f32[8, 64]", "f32[32]", "f32[64]"}, 0, {0}, false, NULL, "!layernorm: gamma must be f32[64]"},
    {OP_LAYERNORM, {"f32[8, 64]", "f32[64]", "f32[8, 64]"}, 0, {0}, false, NULL, "!layernorm: beta must be f32[64]"},
    {OP_LAYERNORM, {"f32[8, 64]", "f32[64]", "f64[64]"}, 0, {0}, false, NULL, "!beta must have the dtype of x"},
    {OP_RMSNORM, {"i32[8, 64]", "i32[64]"}, 0, {0}, false, NULL, "!rmsnorm: needs a floating-point"},
    {OP_RMSNORM, {"f32[]", "f32[1]"}, 0, {0}, false, NULL, "!rmsnorm: operand must have rank >= 1"},
    /* transpose, reshape */
    {OP_TRANSPOSE, {"f32[2, 3, 4]"}, 3, {2, 0, 1}, false, NULL, "f32[4, 2, 3]"},
    {OP_TRANSPOSE, {"f32[2, 3, 4]"}, 2, {1, 0}, false, NULL, "!permutation has 2 entries but the operand f32[2, 3, 4] has rank 3"},
    {OP_TRANSPOSE, {"f32[2, 3]"}, 2, {1, 1}, false, NULL, "!permutation repeats axis 1"},
    {OP_TRANSPOSE, {"f32[2, 3]"}, 2, {0, 2}, false, NULL, "!permutation entry 2 out of range"},
    {OP_RESHAPE, {"f32[6, 4]"}, 3, {2, 3, 4}, false, NULL, "f32[2, 3, 4]"},
    {OP_RESHAPE, {"f32[]"}, 2, {1, 1}, false, NULL, "f32[1, 1]"},
    {OP_RESHAPE, {"f32[6, 4]"}, 2, {5, 5}, false, NULL, "!cannot reshape f32[6, 4] (24 elements) to f32[5, 5]"},
    {OP_RESHAPE, {"f32[6, 4]"}, 2, {-1, 24}, false, NULL, "!size -1 is negative"},
    /* slice, concat, pad, broadcast_to */
    {OP_SLICE, {"f32[8, 6]"}, 6, {2, 5, 1, 0, 6, 2}, false, NULL, "f32[3, 3]"},
    {OP_SLICE, {"f32[8, 6]"}, 6, {7, -1, -1, 5, 0, -2}, false, NULL, "f32[8, 3]"},
    {OP_SLICE, {"f32[0]"}, 3, {-1, -1, -1}, false, NULL, "f32[0]"},
    {OP_SLICE, {"f32[8]"}, 3, {4, 4, 1}, false, NULL, "f32[0]"},
    {OP_SLICE, {"f32[8]"}, 3, {0, 9, 1}, false, NULL, "!not a normalised slice of dim 0 (size 8)"},
    {OP_SLICE, {"f32[8]"}, 3, {0, 8, 0}, false, NULL, "!not a normalised slice"},
    {OP_SLICE, {"f32[8, 2]"}, 3, {0, 8, 1}, false, NULL, "!needs [start, stop, step] for each of the 2 dims"},
    {OP_CONCAT, {"f32[2, 3]", "f32[4, 3]", "f32[0, 3]"}, 1, {0}, false, NULL, "f32[6, 3]"},
    {OP_CONCAT, {"i32[2, 3]", "i32[2, 1]"}, 1, {1}, false, NULL, "i32[2, 4]"},
    {OP_CONCAT, {"f32[2, 3]", "f32[4, 2]"}, 1, {0}, false, NULL, "!differ in dim 1 (only the concat axis 0 may differ)"},
    {OP_CONCAT, {"f32[2, 3]", "f64[2, 3]"}, 1, {0}, false, NULL, "!concat: operand dtypes differ"},
    {OP_CONCAT, {"f32[2, 3]", "f32[6]"}, 1, {0}, false, NULL, "!concat: operand ranks differ"},
    {OP_CONCAT, {"f32[]"}, 1, {0}, false, NULL, "!rank >= 1"},
    {OP_CONCAT, {"f32[2]"}, 1, {1}, false, NULL, "!needs one axis in 0..0"},
    {OP_PAD, {"f32[2, 3]"}, 4, {1, 0, 2, 2}, false, NULL, "f32[3, 7]"},
    {OP_PAD, {"f32[2, 3]"}, 4, {1, -1, 0, 0}, false, NULL, "!widths must be >= 0"},
    {OP_PAD, {"f32[2, 3]"}, 2, {1, 1}, false, NULL, "!needs [lo, hi] for each of the 2 dims"},
    {OP_BROADCAST_TO, {"f32[3, 1]"}, 3, {2, 3, 4}, false, NULL, "f32[2, 3, 4]"},
    {OP_BROADCAST_TO, {"f32[3]"}, 2, {0, 3}, false, NULL, "f32[0, 3]"},
    {OP_BROADCAST_TO, {"f32[3]"}, 2, {2, 4}, false, NULL, "!cannot broadcast f32[3] to size 4 in dim 1"},
    {OP_BROADCAST_TO, {"f32[3, 3]"}, 1, {3}, false, NULL, "!to rank 1"},
    /* matmul */
    {OP_MATMUL, {"f32[8, 512]", "f32[512, 64]"}, 0, {0}, false, NULL, "f32[8, 64]"},
    {OP_MATMUL, {"f32[3, 8, 16]", "f32[16, 4]"}, 0, {0}, false, NULL, "f32[3, 8, 4]"},
    {OP_MATMUL, {"f32[2, 1, 8, 16]", "f32[5, 16, 4]"}, 0, {0}, false, NULL, "f32[2, 5, 8, 4]"},
    {OP_MATMUL, {"f32[8, 512]", "f32[256, 64]"}, 0, {0}, false, NULL,
     "!matmul: contraction sizes differ: 512 vs 256 (lhs is f32[8, 512], rhs is f32[256, 64])"},
    {OP_MATMUL, {"f32[3, 8, 16]", "f32[4, 16, 4]"}, 0, {0}, false, NULL, "!batch dims do not broadcast: 3 vs 4"},
    {OP_MATMUL, {"f32[512]", "f32[512, 64]"}, 0, {0}, false, NULL, "!operands need rank >= 2"},
    {OP_MATMUL, {"f32[8, 4]", "f64[4, 2]"}, 0, {0}, false, NULL, "!matmul: operand dtypes differ"},
    {OP_MATMUL, {"i32[8, 4]", "i32[4, 2]"}, 0, {0}, false, NULL, "!matmul: needs a floating-point"},
    /* embedding, cross_entropy */
    {OP_EMBEDDING, {"f32[100, 16]", "i32[4, 8]"}, 0, {0}, false, NULL, "f32[4, 8, 16]"},
    {OP_EMBEDDING, {"f32[100, 16]", "i32[]"}, 0, {0}, false, NULL, "f32[16]"},
    {OP_EMBEDDING, {"f32[100, 16]", "f32[4]"}, 0, {0}, false, NULL, "!embedding: ids must be i32, got f32[4]"},
    {OP_EMBEDDING, {"f32[100]", "i32[4]"}, 0, {0}, false, NULL, "!table must be a float [V, D] matrix"},
    {OP_EMBEDDING, {"i32[100, 16]", "i32[4]"}, 0, {0}, false, NULL, "!table must be a float [V, D] matrix"},
    {OP_EMBEDDING, {"f32[10, 4]", "i32[1, 1, 1, 1, 1, 1, 1, 1]"}, 0, {0}, false, NULL, "!result rank exceeds"},
    {OP_CROSS_ENTROPY, {"f32[8, 100]", "i32[8]"}, 0, {0}, false, NULL, "f32[]"},
    {OP_CROSS_ENTROPY, {"f64[8, 100]", "i32[8]"}, 0, {0}, false, NULL, "f64[]"},
    {OP_CROSS_ENTROPY, {"f32[8, 100]", "f32[8]"}, 0, {0}, false, NULL, "!labels must be i32, got f32[8]"},
    {OP_CROSS_ENTROPY, {"f32[8, 100]", "i32[4]"}, 0, {0}, false, NULL, "!labels must be i32[8]"},
    {OP_CROSS_ENTROPY, {"f32[2, 8, 100]", "i32[8]"}, 0, {0}, false, NULL, "!logits must be a float [N, V] matrix"},
    /* layout: same global type */
    {OP_REDISTRIBUTE, {"f32[8, 4]"}, 0, {0}, false, NULL, "f32[8, 4]"},
    {OP_ALL_REDUCE, {"f32[8, 4]"}, 0, {0}, false, NULL, "f32[8, 4]"},
    {OP_ALL_GATHER, {"f32[8, 4]"}, 0, {0}, false, NULL, "f32[8, 4]"},
    {OP_SHARD, {"f32[8, 4]"}, 0, {0}, false, NULL, "f32[8, 4]"},
    {OP_TO_PARTIAL, {"i32[8]"}, 0, {0}, false, NULL, "i32[8]"},
    {OP_ALL_TO_ALL, {"f32[8, 4]"}, 0, {0}, false, NULL, "f32[8, 4]"},
};

int main(void)
{
    Arena *ar = arena_new();
    int nfail = 0, n = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < n; k++) {
        const Case *c = &cases[k];
        IrType args[3];
        int nargs = 0;
        while (nargs < 3 && c->args[nargs]) {
            args[nargs] = T(c->args[nargs]);
            nargs++;
        }
        IrAttrs at;
        memset(&at, 0, sizeof at);
        int64_t ints[3 * IR_MAX_RANK];
        memcpy(ints, c->ints, sizeof ints);
        at.nints = c->nints;
        at.ints = ints;
        at.keepdims = c->keepdims;
        IrType out;
        memset(&out, 0, sizeof out);
        if (c->dtype)
            ir_dtype_parse(c->dtype, &out.dtype);
        const char *msg = ir_infer(ar, c->op, nargs, args, &at, &out);
        char buf[160];
        bool ok;
        if (c->want[0] == '!')
            ok = msg && strstr(msg, c->want + 1);
        else
            ok = !msg && !strcmp(ir_type_str(&out, buf, sizeof buf), c->want);
        if (!ok) {
            fprintf(stderr, "FAIL row %d (%s): want %s, got %s\n", k, ir_op_name(c->op), c->want,
                    msg ? msg : ir_type_str(&out, buf, sizeof buf));
            nfail++;
        }
    }

    /* collectives with a dim attribute check it */
    {
        IrType x = T("f32[8, 4]"), out;
        IrAttrs at;
        memset(&at, 0, sizeof at);
        at.dim = 2;
        const char *msg = ir_infer(ar, OP_ALL_GATHER, 1, &x, &at, &out);
        if (!msg || !strstr(msg, "dim 2 out of range")) {
            fprintf(stderr, "FAIL all_gather dim 2: %s\n", msg ? msg : "accepted");
            nfail++;
        }
        at.dim = 1;
        at.dim2 = 5;
        msg = ir_infer(ar, OP_ALL_TO_ALL, 1, &x, &at, &out);
        if (!msg || !strstr(msg, "dim2 5 out of range")) {
            fprintf(stderr, "FAIL all_to_all dim2 5: %s\n", msg ? msg : "accepted");
            nfail++;
        }
        n += 2;
    }

    /* call: operands against the callee's parameters, first result type */
    {
        IrModule *m = ir_module_new(ar);
        IrFunc *f = ir_func_new(m, "f");
        IrInit none;
        memset(&none, 0, sizeof none);
        IrValue *p = ir_param_new(m, f, "x", T("f32[4]"), pl_replicated(0), none);
        IrType rt = T("f32[2, 2]");
        IrInst *i = ir_inst_new(m, f, NULL, OP_RESHAPE, 1, &p, 1, &rt);
        f->nresults = 1;
        f->results = i->res;
        IrAttrs at;
        memset(&at, 0, sizeof at);
        at.fn = f;
        at.callee = "f";
        IrType arg = T("f32[4]"), out;
        char buf[64];
        const char *msg = ir_infer(ar, OP_CALL, 1, &arg, &at, &out);
        if (msg || strcmp(ir_type_str(&out, buf, sizeof buf), "f32[2, 2]")) {
            fprintf(stderr, "FAIL call: %s\n", msg ? msg : buf);
            nfail++;
        }
        arg = T("f32[5]");
        msg = ir_infer(ar, OP_CALL, 1, &arg, &at, &out);
        if (!msg || !strstr(msg, "argument 1 of 'f' must be f32[4], got f32[5]")) {
            fprintf(stderr, "FAIL call with f32[5]: %s\n", msg ? msg : "accepted");
            nfail++;
        }
        msg = ir_infer(ar, OP_CALL, 0, NULL, &at, &out);
        if (!msg || !strstr(msg, "takes 1 argument, got 0")) {
            fprintf(stderr, "FAIL call with no argument: %s\n", msg ? msg : "accepted");
            nfail++;
        }
        n += 3;
    }

    /* malformed operand types are refused, not indexed */
    {
        IrType bad = T("f32[4]"), out;
        bad.rank = 99;
        const char *msg = ir_infer(ar, OP_EXP, 1, &bad, NULL, &out);
        if (!msg) {
            fprintf(stderr, "FAIL rank 99 accepted\n");
            nfail++;
        }
        n++;
    }

    arena_free(ar);
    printf("test_infer: %d rule checks over every op family, %d failed\n", n, nfail);
    return nfail ? 1 : 0;
}
