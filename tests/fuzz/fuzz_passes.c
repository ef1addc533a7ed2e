/* fuzz_passes.c - libFuzzer target for the frontend and the pass pipeline:
 * arbitrary bytes go through fe_load_bytes (scan, parse, sema, lowering)
 * and, when they make a program, through the driver's pipeline
 * (dtc_pipeline: inline, propagate, redistribute, partition with its
 * collective check, optimise, ir_verify after each), with a fresh arena
 * each time; diagnostics go to /dev/null.  A user error (a pass returning
 * false) is fine; anything else but a clean return (a crash, a sanitizer
 * report, a leak, an abort from DTC_BUG or ir_verify) is a bug.
 *
 * Programs are held to 20,000 operations after inlining (the compiler's
 * limit is FE_MAX_INLINED_OPS) so that one input stays well under the
 * fuzzer's per-input timeout.
 *
 * Build: cmake -DDTC_FUZZ=ON -DCMAKE_C_COMPILER=clang ...; run:
 *   ./fuzz_passes -max_total_time=60 tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "driver/driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull; /* opened once for the whole run */
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    Arena *a = arena_new();
    Diag *d = diag_new(a, devnull);
    DtcOptions o = {.cmd = "compile", .opt_level = 2};
    o.fe.max_inlined_ops = 20000;
    IrModule *m = fe_load_bytes(a, d, "fuzz.dt", (const char *)data, size, &o.fe);
    if (m && diag_nerrors(d) > 0)
        abort(); /* a module despite errors breaks fe_load_bytes's contract */
    if (m) {
        PassCtx ctx = {.arena = a, .err = devnull, .cost = cost_model_default()};
        dtc_pipeline(&o, &ctx, m);
    }
    arena_free(a);
    return 0;
}
