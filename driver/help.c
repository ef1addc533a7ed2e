/* help.c - the text of `dtc --help` and of every subcommand's `--help`.
 *
 * One usage text per command, each listing only the options that command
 * reads, so `dtc compile --help` answers "what can compile do".  The cost
 * model's defaults are printed from cost_model_default(), never copied into
 * the text, so the help cannot drift from passes/cost.c.
 */
#include <stdio.h>
#include <string.h>

#include "driver/driver.h"

static const char overview[] =
    "usage: dtc COMMAND FILE.dt [options]\n"
    "\n"
    "commands:\n"
    "  check FILE.dt           parse and check the program; report every error\n"
    "  run FILE.dt             run the unsharded program with the reference interpreter\n"
    "  compile FILE.dt         compile to a per-rank program (or a picture of it: --emit=dot|svg)\n"
    "  report FILE.dt          per-rank collectives, bytes, peak memory, estimated time\n"
    "  ir-roundtrip FILE.ir    parse, verify and print back an IR dump\n"
    "  calibrate               measure the cost model on this machine (--calibration=FILE)\n"
    "  checkpoint merge|info   a compiled program's --save checkpoint: one .npy per parameter,\n"
    "                          or its metadata\n"
    "\n"
    "`dtc COMMAND --help` lists the options of COMMAND.\n"
    "  --help, --version\n"
    "\n"
    "exit status: 0 success, 1 an error in the program or its files, 2 a bad command line\n";

static const char common_opts[] =
    "  --entry FN              entry function (default: main)\n"
    "  --mesh AXIS=N,...       override mesh axis sizes (e.g. --mesh dp=4,tp=2);\n"
    "                          each N from 1 to 65536, at most 65536 ranks in all\n";

static const char pipeline_opts[] =
    "  --print-after=PASS|all  print the IR after a pass to stderr\n"
    "                          (sema inline propagate redistribute partition optimise;\n"
    "                          compile only: schedule fuse)\n"
    "  --dump-dir=DIR          write the IR after every pass to DIR/NN-PASS.ir\n"
    "  --time-passes           print the time of every pass and code generation phase\n"
    "                          to stderr, one 'time: PHASE W s wall C s cpu' line each\n";

static void cost_opts(FILE *out)
{
    CostModel cm = cost_model_default();
    fprintf(out,
            "  --alpha=SECONDS         cost model: latency per collective message, all mesh axes\n"
            "                          (default %g s); finite, >= 0\n"
            "  --beta=SECONDS          cost model: seconds per byte sent, all mesh axes\n"
            "                          (default %g s/byte = %g GB/s); finite, >= 0\n"
            "  --beam=N                placement choice: partial assignments the whole-function\n"
            "                          search keeps (default 16); 1 = greedy, one instruction at a time\n"
            "  --memory-budget=BYTES   bytes of entry parameters a rank may hold (K, M, G suffixes);\n"
            "                          bounds the placements chosen for M[auto] parameters\n"
            "  --calibration=FILE      the cost model measured by dtc calibrate (later --alpha,\n"
            "                          --beta override it)\n"
            "  --solver=best|beam|ilp  placement choice: the cheapest of the greedy choice, the beam\n"
            "                          search and the integer program (GLPK) (default best); beam:\n"
            "                          no integer program; ilp: its plan wherever it finds one\n",
            cm.alpha[0], cm.beta[0], cm.beta[0] > 0 ? 1e-9 / cm.beta[0] : 0.0);
}

bool dtc_is_command(const char *cmd)
{
    static const char *const cmds[] = {"check", "run", "compile", "report", "ir-roundtrip"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        if (!strcmp(cmd, cmds[k]))
            return true;
    return false;
}

void dtc_print_help(FILE *out, const char *cmd)
{
    if (cmd && !strcmp(cmd, "checkpoint")) {
        dtc_checkpoint_help(out);
        return;
    }
    if (!cmd || !dtc_is_command(cmd)) {
        fputs(overview, out);
        return;
    }
    if (!strcmp(cmd, "check")) {
        fputs("usage: dtc check FILE.dt [options]\n"
              "Parse and check the program (names, shapes, dtypes, broadcasting, placements);\n"
              "print every error as FILE:LINE:COL: error: MESSAGE; exit 1 on errors.\n\n"
              "options:\n",
              out);
        fputs(common_opts, out);
        fputs("  --time-passes           print the frontend's time to stderr\n", out);
    } else if (!strcmp(cmd, "run")) {
        fputs("usage: dtc run FILE.dt [options]\n"
              "Run the unsharded program in the reference interpreter (the oracle); print one\n"
              "line per result (name, global type, checksum).\n\n"
              "options:\n",
              out);
        fputs(common_opts, out);
        fputs("  --in NAME=FILE.npy      data for entry parameter NAME (else its initialiser);\n"
              "                          FILE must be a regular file\n"
              "  --out NAME=FILE.npy     write result NAME (returned variable name, or out0, out1, ...);\n"
              "                          two results may not go to one file\n"
              "  --simulate              compile through partition and run every rank's program in\n"
              "                          the interpreter, in lockstep (checks the sharding passes)\n"
              "  --steps N               run N steps (default 1): after each, every result that\n"
              "                          `feeds` a parameter becomes it; per_step data and a stacked\n"
              "                          --in (one more leading dim) change every step\n"
              "  --log-every K           print `step S/N  NAME VALUE ...` for the scalar results that\n"
              "                          feed nothing every K steps (default N / 10), first and last\n",
              out);
        fputs(pipeline_opts, out);
        cost_opts(out);
    } else if (!strcmp(cmd, "compile")) {
        fputs("usage: dtc compile FILE.dt [options]\n"
              "Run the pass pipeline and generate the per-rank program.\n\n"
              "options:\n",
              out);
        fputs(common_opts, out);
        fputs("  -o FILE                 output file (default: the input's name, with the emit's suffix)\n"
              "  --target=cpu|cuda       target (default cpu)\n"
              "  --emit=exe|c|llvm|obj|cu|dot|svg\n"
              "                          what to write (default exe); dot: a Graphviz picture of the\n"
              "                          placed IR (values with global shape, placement and local\n"
              "                          shape; collectives with bytes and why); svg: the same\n"
              "                          rendered by Graphviz's `dot`, which must be on PATH\n"
              "  --stop-after=PASS       run the pipeline up to PASS only, no code generation;\n"
              "                          with --emit=dot|svg: picture the IR after PASS\n"
              "                          (default for dot/svg: optimise, the final placed IR)\n"
              "  -O0 .. -O3              optimisation level (default -O2)\n"
              "  --cuda-arch=LIST        CUDA architectures (default sm_80,sm_90)\n"
              "  --no-overlap            blocking collectives where they were planned (the schedule\n"
              "                          pass otherwise starts each as early as its operand allows\n"
              "                          and waits for it as late as its first use)\n"
              "  --overlap-chunks=K      cut each row-parallel matmul + all_reduce into K chunks of\n"
              "                          rows, so one chunk's all_reduce overlaps the next one's\n"
              "                          matmul (default 1: no cut)\n"
              "  --epilogue-block=BYTES  run every matmul epilogue (a GEMM and the elementwise work\n"
              "                          after it, passes/fuse.c) in blocks of rows of about BYTES of\n"
              "                          the result (default: one block unless the result is larger\n"
              "                          than the cache, then 4 MiB blocks)\n",
              out);
        fputs(pipeline_opts, out);
        cost_opts(out);
    } else if (!strcmp(cmd, "report")) {
        fputs("usage: dtc report FILE.dt [options]\n"
              "Per rank: the collectives in order (kind, mesh axis, bytes), total bytes moved,\n"
              "peak memory, and the cost model's estimate of the run time.\n\n"
              "options:\n"
              "  --format=text|json      the text report (default) or the same as JSON, with\n"
              "                          each collective's source position\n"
              "  --explain               then why each placement: every instruction's chosen\n"
              "                          strategy and cost, and the best other one\n",
              out);
        fputs(common_opts, out);
        fputs(pipeline_opts, out);
        cost_opts(out);
    } else { /* ir-roundtrip */
        fputs("usage: dtc ir-roundtrip FILE.ir\n"
              "Parse an IR dump (from --print-after or --dump-dir), verify it against the\n"
              "invariants of the stage its '# after STAGE' line names, and print it back.\n"
              "No options.\n",
              out);
    }
    fputs("  --help                  this text\n", out);
}
