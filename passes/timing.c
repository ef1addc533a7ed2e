/* timing.c - the clock behind --time-passes, shared by the driver's pass
 * pipeline and code generation: wall time (monotonic) and the CPU time of
 * this process and of the children it waited for (cc, the linker).
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#include "passes/passes.h"

static double tv_seconds(struct timeval t) { return (double)t.tv_sec + 1e-6 * (double)t.tv_usec; }

PhaseClock phase_clock(void)
{
    PhaseClock c = {0, 0};
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
        c.wall = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    struct rusage self, kids;
    if (getrusage(RUSAGE_SELF, &self) == 0 && getrusage(RUSAGE_CHILDREN, &kids) == 0)
        c.cpu = tv_seconds(self.ru_utime) + tv_seconds(self.ru_stime) + tv_seconds(kids.ru_utime) +
                tv_seconds(kids.ru_stime);
    return c;
}

void phase_line(FILE *out, const char *phase, double wall, double cpu)
{
    if (out)
        fprintf(out, "time: %-18s %9.4f s wall %9.4f s cpu\n", phase, wall, cpu);
}

PhaseClock phase_time(FILE *out, const char *phase, PhaseClock start)
{
    PhaseClock now = phase_clock();
    phase_line(out, phase, now.wall - start.wall, now.cpu - start.cpu);
    return now;
}
