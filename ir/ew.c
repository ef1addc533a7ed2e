/* ew.c - the elementwise family table (ew.h) built from ir/ops_ew.def: the
 * rows as data, the reference scalar semantics (double and exact i32) and
 * the C template expander the C and CUDA emitters share.
 */
#include "ir/ew.h"

#include <math.h>
#include <string.h>

/* ---- scalar helpers the F64 / I64 columns call ------------------------------------------- */

/* numpy.maximum / numpy.minimum: NaN wins */
static double ir_ew_fmax(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
static double ir_ew_fmin(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }

static double ir_ew_gelu_tanh(double x)
{
    const double c = 0.79788456080286535588; /* sqrt(2/pi) */
    return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x)));
}

/* numpy's npy_divmod for floats: the remainder has the divisor's sign, the
 * quotient is floor(a / b) computed without double rounding. */
static double divmod_f(double a, double b, double *modulus)
{
    double mod = fmod(a, b);
    if (b == 0.0) {
        *modulus = mod;
        return a / b;
    }
    double div = (a - mod) / b;
    if (mod != 0.0) {
        if ((b < 0) != (mod < 0)) {
            mod += b;
            div -= 1.0;
        }
    } else {
        mod = copysign(0.0, b);
    }
    double floordiv;
    if (div != 0.0) {
        floordiv = floor(div);
        if (div - floordiv > 0.5)
            floordiv += 1.0;
    } else {
        floordiv = copysign(0.0, a / b);
    }
    *modulus = mod;
    return floordiv;
}

static double ir_ew_floordiv(double a, double b)
{
    double m;
    return divmod_f(a, b, &m);
}

static double ir_ew_mod(double a, double b)
{
    double m;
    divmod_f(a, b, &m);
    return m;
}

/* i32: floor division and its remainder; by zero both give 0 (numpy: 0
 * with a warning).  Operands are int32 values, so nothing overflows int64. */
static int64_t ir_ew_floordiv_i(int64_t a, int64_t b)
{
    if (b == 0)
        return 0;
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t ir_ew_mod_i(int64_t a, int64_t b)
{
    if (b == 0)
        return 0;
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

/* ---- the rows ------------------------------------------------------------------------------ */
static const IrEwInfo rows[] = {
#define EW(id, name, nargs, flags, types, domain, surface, f64, i64, cf, ci, llf, lli, vjp) \
    {OP_##id, nargs, types, domain, surface, cf, ci},
#include "ir/ops_ew.def"
#undef EW
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

const IrEwInfo *ir_ew_info(IrOp op)
{
    /* rows are in op order, one contiguous block of the op enum */
    int k = (int)op - (int)rows[0].op;
    return k >= 0 && k < NROWS && rows[k].op == op ? &rows[k] : NULL;
}

int ir_ew_count(void) { return NROWS; }
const IrEwInfo *ir_ew_row(int k) { return k >= 0 && k < NROWS ? &rows[k] : NULL; }

const IrEwInfo *ir_ew_by_surface(const char *name)
{
    for (int k = 0; k < NROWS; k++)
        if (rows[k].surface && !strcmp(rows[k].surface, name))
            return &rows[k];
    return NULL;
}

bool ir_ew_has_int(IrOp op)
{
    const IrEwInfo *e = ir_ew_info(op);
    return e && (e->types == EWT_NUM || e->types == EWT_SELECT);
}

double ir_ew_eval(IrOp op, double x, double y, double z, double f)
{
    (void)y, (void)z, (void)f;
    switch (op) {
#define EW(id, name, nargs, flags, types, domain, surface, f64, i64, cf, ci, llf, lli, vjp) \
    case OP_##id:                                                                        \
        return (double)(f64);
#include "ir/ops_ew.def"
#undef EW
    default: DTC_BUG("ir_ew_eval: not an elementwise table op");
    }
}

int64_t ir_ew_eval_i(IrOp op, int64_t ix, int64_t iy, int64_t iz)
{
    (void)iy, (void)iz;
    switch (op) {
#define EW(id, name, nargs, flags, types, domain, surface, f64, i64, cf, ci, llf, lli, vjp) \
    case OP_##id:                                                                        \
        return (int64_t)(i64);
#include "ir/ops_ew.def"
#undef EW
    default: DTC_BUG("ir_ew_eval_i: not an elementwise table op");
    }
}

const char *ir_ew_expand(Arena *a, const char *tmpl, const char *const *x, int nx, const char *fsuf,
                         const char *tname, const char *pre, const char *ctype, const char *lit)
{
    size_t cap = strlen(tmpl) + 1;
    for (const char *p = tmpl; *p; p++)
        if (*p == '%')
            cap += 64 + (p[1] >= '0' && p[1] <= '2' && p[1] - '0' < nx ? strlen(x[p[1] - '0']) : 0) +
                   (lit ? strlen(lit) : 0);
    char *out = arena_alloc(a, cap), *o = out;
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        const char *s;
        char c = *++p;
        switch (c) {
        case '0':
        case '1':
        case '2':
            DTC_ASSERT(c - '0' < nx);
            s = x[c - '0'];
            break;
        case 'f': s = fsuf; break;
        case 't': s = tname; break;
        case 'p': s = pre; break;
        case 'T': s = ctype; break;
        case 'e':
            DTC_ASSERT(lit);
            s = lit;
            break;
        case '%': s = "%"; break;
        default: DTC_BUG("ir_ew_expand: unknown template escape");
        }
        size_t n = strlen(s);
        memcpy(o, s, n);
        o += n;
    }
    *o = 0;
    return out;
}
