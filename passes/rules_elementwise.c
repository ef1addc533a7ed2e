/* rules_elementwise.c - sharding rules of the elementwise family
 * (ir/ops_ew.def and cast), per mesh axis (rules.h).
 *
 * Every elementwise op computes shard by shard when its operands are split
 * like its result (a broadcast dim stays replicated: each rank broadcasts
 * it).  Partial values pass through where the op commutes with the
 * reduction: the flags say it for the common cases (OPF_LINEAR: P(sum) and
 * P(avg); OPF_MONO: P(max) and P(min), since a monotone f has
 * max f(x_i) = f(max x_i), and an empty shard's -inf / +inf stays the
 * identity); the cases particular to one op are spelled out below.
 */
#include "passes/rules.h"

static const RedOp all_reds[4] = {RED_SUM, RED_MAX, RED_MIN, RED_AVG};

/* Operand of type t, broadcast against a result of rank r: what it holds
 * when the result is split on dim d.  A dim the operand lacks or broadcasts
 * (size 1 against a larger size) is replicated: each rank broadcasts it. */
static PlEntry bcast_entry(const IrType *t, const IrType *res, int d)
{
    int od = d - (res->rank - t->rank);
    if (od < 0 || t->dims[od] != res->dims[d])
        return pe_r();
    return pe_s(od);
}

/* Operands past the op's count are ignored (opts_add reads nargs of them). */
static void add(Opts *o, PlEntry out, PlEntry a0, PlEntry a1, PlEntry a2)
{
    PlEntry in[3] = {a0, a1, a2};
    opts_add(o, out, in);
}

static void opts_unary(const IrInst *i, Opts *o)
{
    PlEntry R = pe_r();
    unsigned fl = ir_op_flags(i->op);
    if (fl & OPF_LINEAR) { /* f(sum x_i) = sum f(x_i) */
        add(o, pe_p(RED_SUM), pe_p(RED_SUM), R, R);
        add(o, pe_p(RED_AVG), pe_p(RED_AVG), R, R);
    }
    if (i->op == OP_NEG) { /* -(max x_i) = min(-x_i) */
        add(o, pe_p(RED_MIN), pe_p(RED_MAX), R, R);
        add(o, pe_p(RED_MAX), pe_p(RED_MIN), R, R);
    }
    if (fl & OPF_MONO) {
        add(o, pe_p(RED_MAX), pe_p(RED_MAX), R, R);
        add(o, pe_p(RED_MIN), pe_p(RED_MIN), R, R);
    }
    if (i->op == OP_CAST && ir_dtype_is_float(i->res[0]->type.dtype)) {
        /* A cast to a float type is linear (up to rounding). */
        add(o, pe_p(RED_SUM), pe_p(RED_SUM), R, R);
        add(o, pe_p(RED_AVG), pe_p(RED_AVG), R, R);
    }
}

static void opts_binary(const IrInst *i, Opts *o)
{
    PlEntry R = pe_r();
    for (int k = 0; k < 4; k++) {
        RedOp red = all_reds[k];
        PlEntry P = pe_p(red);
        bool lin = red == RED_SUM || red == RED_AVG;
        switch (i->op) {
        case OP_ADD:
            if (lin) /* sum(a_i) + sum(b_i) = sum(a_i + b_i) */
                add(o, P, P, P, R);
            else { /* max(a_i) + b = max(a_i + b) */
                add(o, P, P, R, R);
                add(o, P, R, P, R);
            }
            break;
        case OP_SUB:
            if (lin)
                add(o, P, P, P, R);
            else { /* max(a_i) - b = max(a_i - b);  a - min(b_i) = max(a - b_i) */
                add(o, P, P, R, R);
                add(o, P, R, pe_p(red == RED_MAX ? RED_MIN : RED_MAX), R);
            }
            break;
        case OP_MUL:
            if (lin) { /* bilinear: one partial factor at a time */
                add(o, P, P, R, R);
                add(o, P, R, P, R);
            }
            break;
        case OP_DIV:
            if (lin)
                add(o, P, P, R, R);
            break;
        case OP_MAXIMUM:
        case OP_MINIMUM:
            if (red == (i->op == OP_MAXIMUM ? RED_MAX : RED_MIN)) {
                add(o, P, P, P, R);
                add(o, P, P, R, R);
                add(o, P, R, P, R);
            }
            break;
        default: /* comparisons, //, %: no reduction commutes with them */
            break;
        }
    }
}

/* where(c, a, b) with c replicated picks the same side on every rank, so it
 * commutes with any reduction of a and b together; and a replicated value
 * is already a P(max) / P(min) of itself (every rank holds it), so for
 * those one side may be replicated. */
static void opts_where(Opts *o)
{
    PlEntry R = pe_r();
    for (int k = 0; k < 4; k++) {
        PlEntry P = pe_p(all_reds[k]);
        add(o, P, R, P, P);
        if (all_reds[k] == RED_MAX || all_reds[k] == RED_MIN) {
            add(o, P, R, P, R);
            add(o, P, R, R, P);
        }
    }
}

void rules_ew_options(Opts *op)
{
    Opts o = *op;
    const IrInst *i = o.i;
    const IrType *r = &i->res[0]->type;
    int n = i->nargs;
    DTC_ASSERT(n >= 1 && n <= 3);
    PlEntry R = pe_r();
    add(&o, R, R, R, R);
    for (int d = 0; d < r->rank; d++) {
        PlEntry e[3] = {R, R, R};
        bool any = false;
        for (int k = 0; k < n; k++) {
            e[k] = bcast_entry(&i->args[k]->type, r, d);
            any |= e[k].kind == PL_S;
        }
        if (any)
            add(&o, pe_s(d), e[0], e[1], e[2]);
    }
    if (n == 1)
        opts_unary(i, &o);
    else if (n == 2)
        opts_binary(i, &o);
    else if (i->op == OP_WHERE)
        opts_where(&o);
    *op = o;
}
