/* ckpt.c - a compiled program's --save DIR and --load DIR: sharded
 * checkpoints (format and decisions: runtime/README.md, "Checkpoints"; the
 * files themselves: core/rt_ckpt.c).
 *
 *   load (before the first step): rank 0 reads and checks the metadata
 *   against this program (names, dtypes, global dims, files and sizes) and
 *   sends it to every rank; each rank then reads, for every parameter the
 *   checkpoint has, the intersection of its own box with every saved shard.
 *   Any mesh, any placement: boxes are the runtime's rt_local_box.  Each
 *   shard file is checksummed once, by one of the ranks that read from it.
 *   save (after the last step): rank 0 makes DIR.tmp-XXXXXX; every rank
 *   whose shard is needed (coordinate 0 along R and P axes) writes it; all
 *   agree; rank 0 writes the metadata and puts the directory in DIR's place.
 *
 * Every failure is one message from one rank (the lowest that failed) and a
 * non-zero return on every rank, which rank_main turns into exit status 1.
 */
#include "runtime/rt_internal.h"
#include "runtime/core/rt_ckpt.h"

#include <stdlib.h>
#include <string.h>

static void check(rt_ctx *ctx, int rc)
{
    if (rc != 0)
        rt_unwind(ctx);
}

static void print_line(const char *progname, const char *kind, const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "%s: %s: %s\n", progname, kind, msg);
    fflush(stderr);
}

/* Every rank learns whether every rank is ok; the lowest rank that is not
 * prints its msg, so there is one message whichever ranks failed. */
static bool all_ok(rt_ctx *ctx, bool ok, const char *progname, const char *msg)
{
    int32_t first = ok ? ctx->nranks : ctx->rank;
    check(ctx, ctx->be->all_reduce(ctx, rt_all_axes(ctx->mesh), RT_I32, &first, 1, RT_RED_MIN));
    if (first == ctx->rank)
        print_line(progname, "error", msg);
    return first == ctx->nranks;
}

/* Does the rank at c write its shard of a value with placement pl?  One
 * rank per distinct box: coordinate 0 along R axes, and along P axes once
 * the partials are reduced. */
static bool saves_shard(const rt_mesh *m, const rt_pl *pl, const int *c)
{
    for (int a = 0; a < m->naxes; a++)
        if (pl[a].kind == RT_PL_P && c[a] != 0)
            return false;
    return rt_needed_output(m, pl, c);
}

static bool has_partial(const rt_mesh *m, const rt_pl *pl)
{
    for (int a = 0; a < m->naxes; a++)
        if (pl[a].kind == RT_PL_P && m->size[a] > 1)
            return true;
    return false;
}

/* ---- save ------------------------------------------------------------------------------ */

/* The global value of a partial parameter, reduced axis by axis (the last
 * axis first, as outputs are assembled), in a new buffer. */
static void *reduced_copy(rt_ctx *ctx, const rt_tensor_desc *d, const void *local, int64_t n)
{
    const rt_mesh *m = ctx->mesh;
    size_t bytes = (size_t)n * (size_t)rt_dtype_size(d->dtype);
    void *buf = rt_alloc(ctx, bytes);
    if (bytes)
        memcpy(buf, local, bytes);
    for (int a = m->naxes - 1; a >= 0; a--)
        if (d->pl[a].kind == RT_PL_P && m->size[a] > 1)
            check(ctx, ctx->be->all_reduce(ctx, 1u << a, d->dtype, buf, n, d->pl[a].red));
    return buf;
}

/* Rank 0: the metadata of what every rank wrote (crc: nparams checksums
 * per rank, rank-major). */
static int write_meta(rt_ctx *ctx, const rt_program *prog, const char *tmp, int64_t step,
                      const uint32_t *crc, char *err, size_t errlen)
{
    const rt_mesh *m = ctx->mesh;
    rt_ckpt c = {0};
    char ms[256];
    size_t k = (size_t)snprintf(ms, sizeof ms, "%s[", m->name ? m->name : "mesh");
    for (int a = 0; a < m->naxes && k < sizeof ms; a++)
        k += (size_t)snprintf(ms + k, sizeof ms - k, "%s%s=%d", a ? ", " : "",
                              m->axis_name[a] ? m->axis_name[a] : "?", m->size[a]);
    snprintf(c.mesh, sizeof c.mesh, "%.254s]", ms);
    c.ranks = ctx->nranks;
    c.step = step;
    c.nparams = prog->nparams;
    c.params = rt_alloc(ctx, sizeof *c.params * ((size_t)prog->nparams + 1));
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        rt_ckpt_param *p = &c.params[i];
        snprintf(p->name, sizeof p->name, "%s", d->name);
        p->dtype = d->dtype;
        p->rank = d->rank;
        memcpy(p->dims, d->dims, sizeof p->dims);
        rt_pl_str(m, d->pl, p->placement, sizeof p->placement);
        p->shards = rt_alloc(ctx, sizeof *p->shards * ((size_t)ctx->nranks + 1));
        for (int r = 0; r < ctx->nranks; r++) {
            int cr[RT_MAX_AXES];
            rt_mesh_coords(m, r, cr);
            rt_ckpt_shard *s = &p->shards[p->nshards];
            rt_local_box(m, d->pl, cr, d->rank, d->dims, s->off, s->len);
            int64_t n = rt_numel(d->rank, s->len);
            if (!saves_shard(m, d->pl, cr) || n == 0)
                continue;
            rt_ckpt_file_name(d->name, i, r, s->file, sizeof s->file);
            s->rank = r;
            s->bytes = (uint64_t)n * (uint64_t)rt_dtype_size(d->dtype);
            s->crc = crc[(size_t)r * (size_t)prog->nparams + (size_t)i];
            p->nshards++;
        }
    }
    return rt_ckpt_write_meta(tmp, &c, err, errlen);
}

int rt_ckpt_save(rt_ctx *ctx, const rt_program *prog, const rt_opts *o, void *const *params,
                 int64_t step, const char *progname)
{
    if (!o->save)
        return 0;
    const rt_mesh *m = ctx->mesh;
    bool r0 = ctx->rank == 0, ok = true;
    char msg[RT_MSG], err[RT_MSG - 256], tmp[4096] = "";
    if (r0) {
        ok = rt_ckpt_check_target(o->save, err, sizeof err) == 0 &&
             rt_ckpt_make_tmp(o->save, tmp, sizeof tmp, err, sizeof err) == 0;
        if (!ok)
            snprintf(msg, sizeof msg, "--save %s: %s", o->save, err);
    }
    for (int i = 0; ok && i < prog->nparams; i++) { /* the same on every rank */
        const rt_tensor_desc *d = &prog->params[i];
        if (has_partial(m, d->pl) && !rt_dtype_reducible(d->dtype)) {
            snprintf(msg, sizeof msg, "--save %s: parameter %s: partial %s values cannot be reduced",
                     o->save, d->name, rt_dtype_name(d->dtype));
            ok = false;
        }
    }
    if (!all_ok(ctx, ok, progname, msg)) {
        if (r0 && *tmp)
            rt_ckpt_remove(tmp);
        return 1;
    }
    check(ctx, ctx->be->broadcast(ctx, rt_all_axes(m), tmp, sizeof tmp, 0));

    /* every rank writes its shards */
    size_t np = (size_t)prog->nparams;
    uint32_t *mine = rt_alloc(ctx, sizeof(uint32_t) * (np + 1));
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        int64_t off[RT_MAX_RANK], len[RT_MAX_RANK];
        rt_local_box(m, d->pl, ctx->coords, d->rank, d->dims, off, len);
        int64_t n = rt_numel(d->rank, len);
        const void *data = params[i];
        void *reduced = has_partial(m, d->pl) ? reduced_copy(ctx, d, params[i], n) : NULL;
        if (reduced)
            data = reduced;
        if (ok && n > 0 && saves_shard(m, d->pl, ctx->coords)) {
            char file[RT_CKPT_FILE];
            rt_ckpt_file_name(d->name, i, ctx->rank, file, sizeof file);
            if (rt_ckpt_write_file(tmp, file, data, (size_t)n * (size_t)rt_dtype_size(d->dtype),
                                   &mine[i], err, sizeof err) != 0) {
                snprintf(msg, sizeof msg, "--save %s: rank %d: %s", o->save, ctx->rank, err);
                ok = false;
            }
        }
        rt_free(ctx, reduced);
    }
    if (!all_ok(ctx, ok, progname, msg)) {
        if (r0) /* every rank is done with it */
            rt_ckpt_remove(tmp);
        return 1;
    }

    /* rank 0: the metadata, then DIR */
    size_t *counts = NULL, *displs = NULL;
    uint32_t *all = NULL;
    if (r0) {
        counts = rt_alloc(ctx, sizeof(size_t) * 2 * (size_t)ctx->nranks);
        displs = counts + ctx->nranks;
        for (int r = 0; r < ctx->nranks; r++) {
            counts[r] = np * sizeof(uint32_t);
            displs[r] = (size_t)r * np * sizeof(uint32_t);
        }
        all = rt_alloc(ctx, np * sizeof(uint32_t) * (size_t)ctx->nranks + 1);
    }
    check(ctx, ctx->be->gather(ctx, rt_all_axes(m), mine, np * sizeof(uint32_t), all, counts,
                               displs));
    if (r0) {
        ok = write_meta(ctx, prog, tmp, step, all, err, sizeof err) == 0 &&
             rt_ckpt_commit(tmp, o->save, err, sizeof err) == 0;
        if (!ok) {
            snprintf(msg, sizeof msg, "--save %s: %s", o->save, err);
            rt_ckpt_remove(tmp);
        }
    }
    rt_free(ctx, all);
    rt_free(ctx, counts);
    rt_free(ctx, mine);
    return all_ok(ctx, ok, progname, msg) ? 0 : 1;
}

/* ---- load ------------------------------------------------------------------------------ */

/* Rank 0: the checkpoint c fits this program.  Notes (on stderr) name the
 * checkpoint's parameters that the program does not have. */
static int match_program(const rt_program *prog, const rt_opts *o, const rt_ckpt *c,
                         const char *progname, char *err, size_t errlen)
{
    char a[256], b[256];
    for (int i = 0; i < prog->nparams; i++) {
        const rt_tensor_desc *d = &prog->params[i];
        const rt_ckpt_param *p = rt_ckpt_find(c, d->name);
        if (!p) {
            if (d->init.kind == RT_INIT_NONE && !o->in_path[i])
                return snprintf(err, errlen,
                                "parameter %s is not in the checkpoint and has no initialiser: "
                                "give it with --in %s=FILE.npy", d->name, d->name), -1;
            continue;
        }
        bool same = p->rank == d->rank && p->dtype == d->dtype;
        for (int k = 0; same && k < d->rank; k++)
            same = p->dims[k] == d->dims[k];
        if (!same)
            return snprintf(err, errlen, "parameter %s is %s in the checkpoint, %s in this program",
                            d->name, rt_type_str(p->dtype, p->rank, p->dims, a, sizeof a),
                            rt_type_str(d->dtype, d->rank, d->dims, b, sizeof b)), -1;
    }
    for (int i = 0; i < c->nparams; i++) {
        bool known = false;
        for (int k = 0; !known && k < prog->nparams; k++)
            known = !strcmp(prog->params[k].name, c->params[i].name);
        if (!known) {
            char note[RT_MSG];
            snprintf(note, sizeof note, "--load %s: checkpoint parameter %s is not a parameter of "
                     "this program: ignored", o->load, c->params[i].name);
            print_line(progname, "note", note);
        }
    }
    return 0;
}

static bool intersects(int rank, const int64_t *off, const int64_t *len, const rt_ckpt_shard *s)
{
    for (int d = 0; d < rank; d++)
        if (off[d] + len[d] <= s->off[d] || s->off[d] + s->len[d] <= off[d])
            return false;
    return true;
}

/* Does the rank at c read from shard s of a parameter with description d?
 * Its box (under this program's placement) meets the shard's. */
static bool reads_shard(const rt_mesh *m, const rt_tensor_desc *d, const int *c,
                        const rt_ckpt_shard *s)
{
    int64_t off[RT_MAX_RANK], len[RT_MAX_RANK];
    rt_local_box(m, d->pl, c, d->rank, d->dims, off, len);
    return rt_holds_input(m, d->pl, c) && rt_numel(d->rank, len) > 0 &&
           intersects(d->rank, off, len, s);
}

/* The rank that checksums shard k (of a parameter with description d):
 * one of the ranks that read from it, spread by k, so every file is
 * verified once and the work is shared. */
static int verifier(const rt_mesh *m, const rt_tensor_desc *d, const rt_ckpt_shard *s, int k,
                    int nranks)
{
    int readers = 0, c[RT_MAX_AXES];
    for (int r = 0; r < nranks; r++) {
        rt_mesh_coords(m, r, c);
        readers += reads_shard(m, d, c, s);
    }
    for (int r = 0, seen = 0; r < nranks; r++) {
        rt_mesh_coords(m, r, c);
        if (reads_shard(m, d, c, s) && seen++ == k % readers)
            return r;
    }
    return 0; /* no reader: an empty tensor */
}

/* This rank's box of parameter d from the checkpoint's p into local.  Each
 * file read is checksummed by one of its readers; a damaged one stops every
 * rank at the agreement that follows, before the run. */
static int restore(rt_ctx *ctx, const char *dir, const rt_tensor_desc *d, const rt_ckpt_param *p,
                   void *local, char *err, size_t errlen)
{
    const rt_mesh *m = ctx->mesh;
    int64_t off[RT_MAX_RANK], len[RT_MAX_RANK];
    rt_local_box(m, d->pl, ctx->coords, d->rank, d->dims, off, len);
    int64_t n = rt_numel(d->rank, len);
    if (!rt_holds_input(m, d->pl, ctx->coords)) { /* a P(sum) rank that holds zeros */
        memset(local, 0, (size_t)n * (size_t)rt_dtype_size(d->dtype));
        return 0;
    }
    for (int k = 0; n > 0 && k < p->nshards; k++) {
        const rt_ckpt_shard *s = &p->shards[k];
        if (!intersects(d->rank, off, len, s))
            continue;
        if (verifier(m, d, s, k, ctx->nranks) == ctx->rank && rt_ckpt_verify(dir, s, err, errlen))
            return -1;
        if (rt_ckpt_read_box(dir, p, s, off, len, local, err, errlen))
            return -1;
    }
    return 0;
}

int rt_ckpt_load(rt_ctx *ctx, const rt_program *prog, const rt_opts *o, void *const *params,
                 int64_t *step, const char *progname)
{
    *step = 0;
    if (!o->save && !o->load)
        return 0;
    const rt_mesh *m = ctx->mesh;
    bool r0 = ctx->rank == 0, ok = true;
    char msg[RT_MSG], err[RT_MSG - 256];
    char *text = NULL;
    size_t tlen = 0;
    rt_ckpt c = {0};
    /* rank 0: a bad --save target fails now, not after the run */
    if (r0 && o->save && rt_ckpt_check_target(o->save, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "--save %s: %s", o->save, err);
        ok = false;
    }
    if (r0 && ok && o->load) {
        ok = rt_ckpt_read_text(o->load, &text, &tlen, err, sizeof err) == 0;
        if (!ok)
            snprintf(msg, sizeof msg, "--load %s: %s", o->load, err);
        else if (rt_ckpt_parse(text, tlen, &c, err, sizeof err) != 0)
            snprintf(msg, sizeof msg, "--load %s: %s/%s: %s", o->load, o->load, RT_CKPT_META, err);
        else if (rt_ckpt_check(o->load, &c, err, sizeof err) != 0 ||
                 match_program(prog, o, &c, progname, err, sizeof err) != 0)
            snprintf(msg, sizeof msg, "--load %s: %s", o->load, err);
        else
            msg[0] = 0;
        ok = !msg[0];
    }
    bool good = all_ok(ctx, ok, progname, msg);
    if (!good || !o->load) {
        free(text);
        rt_ckpt_free(&c);
        return good ? 0 : 1;
    }

    /* every rank: the metadata rank 0 checked */
    int64_t n = (int64_t)tlen;
    check(ctx, ctx->be->broadcast(ctx, rt_all_axes(m), &n, sizeof n, 0));
    char *shared = rt_alloc(ctx, (size_t)n + 1);
    if (r0)
        memcpy(shared, text, (size_t)n);
    free(text);
    check(ctx, ctx->be->broadcast(ctx, rt_all_axes(m), shared, (size_t)n, 0));
    if (!r0 && rt_ckpt_parse(shared, (size_t)n, &c, err, sizeof err) != 0)
        RT_BUG("the checkpoint's metadata does not parse on every rank");
    rt_free(ctx, shared);

    for (int i = 0; ok && i < prog->nparams; i++) {
        const rt_ckpt_param *p = rt_ckpt_find(&c, prog->params[i].name);
        if (p && restore(ctx, o->load, &prog->params[i], p, params[i], err, sizeof err) != 0) {
            snprintf(msg, sizeof msg, "--load %s: rank %d: %s", o->load, ctx->rank, err);
            ok = false;
        }
    }
    *step = c.step;
    rt_ckpt_free(&c);
    return all_ok(ctx, ok, progname, msg) ? 0 : 1;
}
