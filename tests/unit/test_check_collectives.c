/* test_check_collectives.c - pass_check_collectives on meshes beyond 4,096
 * ranks, where it used to return true without looking.
 *
 * Hand-built partitioned IR on M[dp=64, tp=128] (8192 ranks) and
 * M[dp=256, tp=256] (65536): collectives whose members fit must pass;
 * collectives whose members would disagree (an all_gather whose pieces do
 * not make its result, an all_reduce whose result is not its operand, an
 * all_to_all that loses rows, a placement that is not the op's transition,
 * a collective_permute of a split value or one that changes the shape)
 * must be caught with a message.  Then samples/mlp2d.dt and
 * samples/transformer.dt through the real pipeline on 8192 ranks pass, and
 * the same module with one all_reduce's result shape broken fails.
 */
#include <stdlib.h>

#include "frontend/frontend.h"
#include "ir/ir_text.h"
#include "passes/passes.h"
#include "unit_check.h"

/* unit_check.h's sample text is for the frontend tests */
static const char *const *unused_mlp = &mlp;

/* Runs the check on IR text; returns its verdict, its messages in *msgs. */
static bool check_text(Arena *ar, const char *text, char **msgs)
{
    IrModule *m = ir_parse(ar, "t.ir", text, stderr);
    if (!m) {
        fprintf(stderr, "FAIL: does not parse:\n%s\n", text);
        nfail++;
        return false;
    }
    size_t len = 0;
    FILE *err = open_memstream(msgs, &len);
    PassCtx ctx = {.arena = ar, .err = err, .cost = cost_model_default()};
    bool ok = pass_check_collectives(&ctx, m);
    fclose(err);
    return ok;
}

static void expect(Arena *ar, const char *what, const char *mesh, const char *body, bool want,
                   const char *want_msg)
{
    char *text = arena_printf(ar, "mesh M[%s]\nentry @main\n\n%s", mesh, body);
    char *msgs = NULL;
    bool got = check_text(ar, text, &msgs);
    nchecks++;
    if (got != want) {
        fprintf(stderr, "FAIL %s on %s: check says %s, want %s\n%s", what, mesh, got ? "ok" : "bad",
                want ? "ok" : "bad", msgs ? msgs : "");
        nfail++;
    } else if (!want && (!msgs || !strstr(msgs, want_msg))) {
        fprintf(stderr, "FAIL %s on %s: message lacks '%s': %s\n", what, mesh, want_msg, msgs ? msgs : "");
        nfail++;
    } else {
        printf("ok: %s on M[%s]%s%s", what, mesh, want ? "\n" : ": ", want ? "" : msgs);
    }
    free(msgs);
}

/* A program through the frontend and the passes up to partition. */
static IrModule *partitioned(Arena *ar, const char *path, const char *dp, const char *tp)
{
    const char *axes[2] = {"dp", "tp"};
    int sizes[2] = {atoi(dp), atoi(tp)};
    FeOptions fe = {.nmesh_override = 2, .mesh_axis = axes, .mesh_size = sizes};
    Diag *d = diag_new(ar, stderr);
    IrModule *m = fe_load_file(ar, d, path, &fe);
    PassCtx ctx = {.arena = ar, .err = stderr, .cost = cost_model_default()};
    if (!m || diag_nerrors(d) || !pass_inline(&ctx, m) || !pass_propagate(&ctx, m) ||
        !pass_redistribute(&ctx, m) || !pass_partition(&ctx, m)) {
        fprintf(stderr, "FAIL: %s does not compile on dp=%s, tp=%s\n", path, dp, tp);
        nfail++;
        return NULL;
    }
    return m;
}

static void samples(Arena *ar)
{
    const char *src = getenv("DTC_SRC");
    if (!src)
        src = ".";
    const char *names[] = {"mlp2d", "transformer"};
    for (int k = 0; k < 2; k++) {
        const char *path = arena_printf(ar, "%s/samples/%s.dt", src, names[k]);
        IrModule *m = partitioned(ar, path, "64", "128");
        if (!m)
            continue;
        PassCtx ctx = {.arena = ar, .err = stderr, .cost = cost_model_default()};
        CHECK(ir_mesh_nranks(&m->mesh) == 8192);
        bool ok = pass_check_collectives(&ctx, m);
        CHECK(ok);
        printf("%s: %s on 8192 ranks passes\n", ok ? "ok" : "FAIL", names[k]);
        /* break one all_reduce: its result one column short */
        IrInst *ar_inst = NULL;
        for (IrInst *i = m->entry->first; i && !ar_inst; i = i->next)
            if (i->op == OP_ALL_REDUCE)
                ar_inst = i;
        CHECK(ar_inst != NULL);
        if (!ar_inst)
            continue;
        IrType *t = &ar_inst->res[0]->type;
        t->dims[t->rank - 1]--;
        char *msgs = NULL;
        size_t len = 0;
        FILE *err = open_memstream(&msgs, &len);
        ctx.err = err;
        bool bad = pass_check_collectives(&ctx, m);
        fclose(err);
        CHECK(!bad);
        CHECK(msgs && strstr(msgs, "do not fit"));
        printf("%s: %s on 8192 ranks with a broken all_reduce is caught: %s", !bad ? "ok" : "FAIL",
               names[k], msgs ? msgs : "\n");
        free(msgs);
    }
}

int main(void)
{
    (void)unused_mlp;
    Arena *ar = arena_new();
    const char *meshes[] = {"dp=64, tp=128", "dp=256, tp=256"};
    for (int k = 0; k < 2; k++) {
        const char *mesh = meshes[k];
        expect(ar, "all_reduce then all_gather", mesh,
               "func @main(%x.0: f32[512, 256] @ M[S(0), P(sum)] = zeros()) {\n"
               "  %1: f32[512, 256] @ M[S(0), R] = all_reduce %x.0 {axes=[tp], red=sum, bytes=0}\n"
               "  %2: f32[512, 256] @ M[R, R] = all_gather %1 {axes=[dp], dim=0, bytes=0}\n"
               "  return %2\n}\n",
               true, NULL);
        expect(ar, "uneven and empty pieces", mesh,
               "func @main(%x.0: f32[100, 250] @ M[S(0), S(1)] = zeros()) {\n"
               "  %1: f32[100, 250] @ M[R, S(1)] = all_gather %x.0 {axes=[dp], dim=0, bytes=0}\n"
               "  %2: f32[100, 250] @ M[R, R] = all_gather %1 {axes=[tp], dim=1, bytes=0}\n"
               "  return %2\n}\n",
               true, NULL);
        expect(ar, "uneven all_to_all", mesh,
               "func @main(%x.0: f32[100, 250] @ M[S(0), R] = zeros()) {\n"
               "  %1: f32[100, 250] @ M[S(1), R] = all_to_all %x.0 {axes=[dp], dim=0, dim2=1, bytes=0}\n"
               "  return %1\n}\n",
               true, NULL);
        expect(ar, "reduce_scatter over both axes", mesh,
               "func @main(%x.0: f32[1000, 3] @ M[P(sum), P(sum)] = zeros()) {\n"
               "  %1: f32[1000, 3] @ M[S(0), S(0)] = reduce_scatter %x.0 {axes=[dp, tp], red=sum, dim=0, bytes=0}\n"
               "  return %1\n}\n",
               true, NULL);
        expect(ar, "all_gather whose pieces do not make its result", mesh,
               "func @main(%x.0: f32[512, 256] @ M[S(0), R] = zeros()) {\n"
               "  %1: f32[520, 256] @ M[R, R] = all_gather %x.0 {axes=[dp], dim=0, bytes=0}\n"
               "  return %1\n}\n",
               false, "do not fit");
        expect(ar, "all_reduce whose result is not its operand", mesh,
               "func @main(%x.0: f32[512, 256] @ M[S(0), P(sum)] = zeros()) {\n"
               "  %1: f32[512, 256] @ M[S(0), R] = all_reduce %x.0 {axes=[tp], red=sum, bytes=0}\n"
               "  %2: f64[512, 256] @ M[S(0), R] = all_reduce %x.0 {axes=[tp], red=sum, bytes=0}\n"
               "  return %1, %2\n}\n",
               false, "do not fit");
        expect(ar, "all_to_all that loses rows", mesh,
               "func @main(%x.0: f32[100, 250] @ M[S(0), R] = zeros()) {\n"
               "  %1: f32[90, 250] @ M[S(1), R] = all_to_all %x.0 {axes=[dp], dim=0, dim2=1, bytes=0}\n"
               "  return %1\n}\n",
               false, "do not fit");
        expect(ar, "collective_permute over tp, then over both axes", mesh,
               "func @main(%x.0: f32[512, 256] @ M[S(0), R] = zeros()) {\n"
               "  %1: f32[512, 256] @ M[S(0), R] = collective_permute %x.0 {axes=[tp], shift=1, bytes=0}\n"
               "  %2: f32[7, 3] @ M[R, R] = const {value=1}\n"
               "  %3: f32[7, 3] @ M[R, R] = collective_permute %2 {axes=[dp, tp], shift=-5, bytes=84}\n"
               "  return %1, %3\n}\n",
               true, NULL);
        expect(ar, "collective_permute of a value split on its axis", mesh,
               "func @main(%x.0: f32[512, 250] @ M[R, S(1)] = zeros()) {\n"
               "  %1: f32[512, 250] @ M[R, S(1)] = collective_permute %x.0 {axes=[tp], shift=1, bytes=0}\n"
               "  return %1\n}\n",
               false, "placements do not match");
        expect(ar, "collective_permute that changes the shape", mesh,
               "func @main(%x.0: f32[512, 256] @ M[S(0), R] = zeros()) {\n"
               "  %1: f64[512, 256] @ M[S(0), R] = collective_permute %x.0 {axes=[tp], shift=1, bytes=0}\n"
               "  return %1\n}\n",
               false, "do not fit");
        expect(ar, "all_reduce of a split value", mesh,
               "func @main(%x.0: f32[512, 256] @ M[S(0), S(1)] = zeros()) {\n"
               "  %1: f32[512, 256] @ M[S(0), R] = all_reduce %x.0 {axes=[tp], red=sum, bytes=0}\n"
               "  return %1\n}\n",
               false, "placements do not match");
    }
    samples(ar);
    arena_free(ar);
    printf("check_collectives: %d checks, %d failed\n", nchecks, nfail);
    return nfail != 0;
}
