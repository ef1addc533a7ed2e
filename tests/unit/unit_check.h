/* unit_check.h - what the frontend unit tests share: CHECK / CHECK_STR
 * (count checks and failures, print "FAIL file:line: ..." and go on) and the
 * text of the spec's first program (samples/mlp.dt), whose source positions
 * the tests assert.  Header-only; include once per test program.
 */
#ifndef DTC_UNIT_CHECK_H
#define DTC_UNIT_CHECK_H

#include <stdio.h>
#include <string.h>

static int nfail, nchecks;

#define CHECK(c)                                                              \
    do {                                                                      \
        nchecks++;                                                            \
        if (!(c)) {                                                           \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);      \
            nfail++;                                                          \
        }                                                                     \
    } while (0)

#define CHECK_STR(got, want)                                                  \
    do {                                                                      \
        const char *g_ = (got), *w_ = (want);                                 \
        nchecks++;                                                            \
        if (!g_ || strcmp(g_, w_) != 0) {                                     \
            fprintf(stderr, "FAIL %s:%d: got \"%s\", want \"%s\"\n", __FILE__, \
                    __LINE__, g_ ? g_ : "(null)", w_);                        \
            nfail++;                                                          \
        }                                                                     \
    } while (0)

static const char *mlp =
    "# samples/mlp.dt : Megatron-style tensor-parallel MLP on a 2 x 2 mesh\n"
    "const B = 8;  const D = 512;  const H = 2048;\n"
    "\n"
    "mesh M[dp=2, tp=2];                     # 4 ranks, row-major: rank = dp*2 + tp\n"
    "\n"
    "fn main(x:  f32[B, D] @ M[S(0), R]  = randn(seed=1),\n"
    "        w1: f32[D, H] @ M[R, S(1)]  = randn(seed=2, std=0.02),\n"
    "        w2: f32[H, D] @ M[R, S(0)]  = randn(seed=3, std=0.02))\n"
    "        -> f32[B, D] @ M[S(0), R] {\n"
    "    let h = gelu(x @ w1);               # propagated: M[S(0), S(1)], no communication\n"
    "    let y = h @ w2;                     # M[S(0), P(sum)]\n"
    "    return y;                           # P(sum) -> R over tp: one all_reduce, inserted\n"
    "}\n";

#endif
