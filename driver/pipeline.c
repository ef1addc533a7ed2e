/* pipeline.c - the whole compilation pipeline in one place.
 *
 *   parse -> sema                  (frontend: fe_load_file)
 *   -> inline -> propagate -> redistribute -> ring_attention -> partition -> optimise
 *   -> schedule                    (compile only: start / done pairs, overlap)
 *   -> fuse                        (compile only: fusion groups for codegen)
 *   -> codegen                     (codegen/, called by main.c)
 *
 * ir_verify runs after every pass; a failure there is a compiler bug.
 * pass_check_collectives runs after partition and after schedule (which
 * must keep every rank's collectives in one order).
 * --print-after=PASS|all prints the IR after that pass to stderr;
 * --dump-dir=DIR writes DIR/NN-PASS.ir for every pass.
 * --time-passes prints one "time:" line per pass to stderr (phase_time),
 * then one for all the verification (ir_verify, pass_check_collectives)
 * and the instruction count of the result.
 */
#include "driver/driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ir/ir_text.h"

typedef bool (*PassFn)(PassCtx *, IrModule *);

static const struct {
    const char *name;
    PassFn run;
    bool compile_only; /* report and run --simulate stop before it */
} passes[] = {
    {"inline", pass_inline, false},
    {"propagate", pass_propagate, false},
    {"redistribute", pass_redistribute, false},
    {"ring_attention", pass_ring_attention, false},
    {"partition", pass_partition, false},
    {"optimise", pass_optimise, false},
    {"schedule", pass_schedule, true},
    {"fuse", pass_fuse, true},
};

static bool wants(const char *opt, const char *pass)
{
    return opt && (!strcmp(opt, "all") || !strcmp(opt, pass));
}

static bool dump(const DtcOptions *o, const IrModule *m, const char *stage, int index)
{
    if (wants(o->print_after, stage))
        ir_print_stage(stderr, m, stage);
    if (!o->dump_dir)
        return true;
    if (mkdir(o->dump_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dtc: error: cannot create '%s': %s\n", o->dump_dir, strerror(errno));
        return false;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%02d-%s.ir", o->dump_dir, index, stage);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "dtc: error: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    ir_print_stage(f, m, stage);
    fclose(f);
    return true;
}

/* Instructions in every function of m (loop bodies included). */
static long count_insts(const IrModule *m)
{
    long n = 0;
    for (int k = 0; k < m->nfuncs; k++)
        for (const IrInst *i = m->funcs[k]->first; i; i = i->next)
            n++;
    return n;
}

/* Adds the time since *start to *total (the verification's share). */
static void lap(PhaseClock *total, PhaseClock *start)
{
    PhaseClock now = phase_clock();
    total->wall += now.wall - start->wall;
    total->cpu += now.cpu - start->cpu;
    *start = now;
}

static void time_summary(const DtcOptions *o, const IrModule *m, PhaseClock verify)
{
    if (!o->time_passes)
        return;
    phase_line(stderr, "verify", verify.wall, verify.cpu);
    fprintf(stderr, "size: %ld instructions\n", count_insts(m));
}

bool dtc_pipeline(const DtcOptions *o, PassCtx *ctx, IrModule *m)
{
    FILE *tp = o->time_passes ? stderr : NULL;
    PhaseClock verify = {0, 0}, t = phase_clock();
    if (!ir_verify(m, "sema", stderr))
        DTC_BUG("IR invalid after sema");
    lap(&verify, &t);
    if (!dump(o, m, "sema", 0))
        return false;
    if (o->stop_after && !strcmp(o->stop_after, "sema")) {
        time_summary(o, m, verify);
        return true;
    }
    for (size_t k = 0; k < sizeof passes / sizeof passes[0]; k++) {
        if (passes[k].compile_only && (!o->cmd || strcmp(o->cmd, "compile")))
            break;
        t = phase_clock();
        if (!passes[k].run(ctx, m))
            return false;
        t = phase_time(tp, passes[k].name, t);
        if (!ir_verify(m, passes[k].name, stderr)) {
            fprintf(stderr, "dtc: internal error: IR invalid after %s\n", passes[k].name);
            abort();
        }
        if ((!strcmp(passes[k].name, "partition") || !strcmp(passes[k].name, "schedule")) &&
            !pass_check_collectives(ctx, m))
            DTC_BUG("collective sequences differ between ranks");
        lap(&verify, &t);
        if (!dump(o, m, passes[k].name, (int)k + 1))
            return false;
        if (o->stop_after && !strcmp(o->stop_after, passes[k].name))
            break;
    }
    time_summary(o, m, verify);
    return true;
}
