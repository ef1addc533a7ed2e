/* golden_pass.h - what the one-pass golden tests share (test_fuse.c,
 * test_schedule.c, test_ring_attention.c): read a hand-written
 * DIR/NAME.in.ir, let the test run its pass, print the module at the pass's
 * stage and compare it with the golden DIR/NAME.ir (DTC_REGEN=1 rewrites
 * the golden first), then read the golden back: it must verify at that
 * stage and print the same.  Also the verifier's refusal of a malformed
 * module, with the message it must give.
 * Header-only (static functions); include after unit_check.h, whose CHECK
 * counters it uses.  Texts live in the caller's arena: the IR parsed from
 * them may point into them.
 */
#ifndef DTC_GOLDEN_PASS_H
#define DTC_GOLDEN_PASS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir_text.h"
#include "unit_check.h"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

/* The whole file at path in ar, or NULL when it cannot be read. */
static char *golden_slurp(Arena *ar, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? arena_alloc(ar, (size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
        s = NULL;
    fclose(f);
    return s;
}

/* m as text at stage, in ar. */
static char *golden_print(Arena *ar, const IrModule *m, const char *stage)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ir_print_stage(f, m, stage);
    fclose(f);
    char *s = arena_strdup(ar, out ? out : "");
    free(out);
    return s;
}

/* DIR/NAME.in.ir parsed and checked to verify at in_stage; NULL (a failed
 * check) when it cannot be read or parsed. */
static IrModule *golden_input(Arena *ar, const char *dir, const char *name, const char *in_stage)
{
    const char *path = arena_printf(ar, "%s/%s.in.ir", dir, name);
    char *in = golden_slurp(ar, path);
    CHECK(in != NULL);
    if (!in)
        return NULL;
    IrModule *m = ir_parse(ar, path, in, stderr);
    CHECK(m && ir_verify(m, in_stage, stderr));
    return m;
}

/* m printed at stage must be DIR/NAME.ir exactly (pass names what made m,
 * for the failure message).  On a match, the golden read back must verify
 * at stage and print the same; returns that module read back, or NULL on a
 * mismatch.  *want (when want is not NULL) gets the golden's text. */
static IrModule *golden_compare(Arena *ar, const IrModule *m, const char *stage, const char *dir,
                                const char *name, const char *pass, const char **want)
{
    const char *want_path = arena_printf(ar, "%s/%s.ir", dir, name);
    char *got = golden_print(ar, m, stage);
    if (getenv("DTC_REGEN")) {
        FILE *f = fopen(want_path, "w");
        if (f) {
            fputs(got, f);
            fclose(f);
        }
    }
    char *want_text = golden_slurp(ar, want_path);
    if (want)
        *want = want_text;
    CHECK(want_text != NULL);
    nchecks++;
    if (!want_text)
        return NULL;
    if (strcmp(got, want_text)) {
        fprintf(stderr, "FAIL golden %s: %s printed\n%s\nwant (%s)\n%s\n", name, pass, got, want_path,
                want_text);
        nfail++;
        return NULL;
    }
    IrModule *back = ir_parse(ar, want_path, want_text, stderr);
    CHECK(back && ir_verify(back, stage, stderr));
    if (back)
        CHECK_STR(golden_print(ar, back, stage), want_text);
    return back;
}

/* A one-function module on mesh M[tp=2] whose parameter %x.0 is
 * f32[4, 4] at placement pl ("M[R]"), with body as its instructions. */
static const char *golden_module(Arena *ar, const char *pl, const char *body)
{
    return arena_printf(ar, "mesh M[tp=2]\nentry @main\n\nfunc @main(%%x.0: f32[4, 4] @ %s = zeros()) {\n%s}\n",
                        pl, body);
}

/* The module `text` must be refused by ir_verify at stage with a message
 * containing want_msg (what names the case). */
static void golden_refused(Arena *ar, const char *what, const char *text, const char *stage,
                           const char *want_msg)
{
    IrModule *m = ir_parse(ar, "t.ir", text, stderr);
    CHECK(m != NULL);
    if (!m)
        return;
    char *msgs = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&msgs, &len);
    bool ok = ir_verify(m, stage, err);
    fclose(err);
    nchecks++;
    if (ok || !msgs || !strstr(msgs, want_msg)) {
        fprintf(stderr, "FAIL %s: verify says %s, want the message '%s': %s\n", what, ok ? "ok" : "bad",
                want_msg, msgs ? msgs : "");
        nfail++;
    } else {
        printf("ok: %s is refused: %s", what, msgs);
    }
    free(msgs);
}

#endif
