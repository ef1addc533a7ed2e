/* fuzz_parser.c - libFuzzer target for the frontend: arbitrary bytes go
 * through fe_load_bytes (scan, parse, sema, lowering; NUL bytes included)
 * with a fresh arena each time; diagnostics go to /dev/null.  fuzz_passes.c
 * goes on through the pass pipeline.  Anything but a clean return
 * (a crash, a sanitizer report, a leak, an abort from DTC_BUG) is a bug.
 *
 * Build: cmake -DDTC_FUZZ=ON -DCMAKE_C_COMPILER=clang ...; run:
 *   ./fuzz_parser -max_total_time=60 tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "frontend/frontend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull; /* opened once for the whole run */
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    Arena *a = arena_new();
    Diag *d = diag_new(a, devnull);
    FeOptions opt = {0};
    IrModule *m = fe_load_bytes(a, d, "fuzz.dt", (const char *)data, size, &opt);
    if (m && diag_nerrors(d) > 0)
        abort(); /* a module despite errors breaks fe_load_bytes's contract */
    arena_free(a);
    return 0;
}
