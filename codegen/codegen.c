/* codegen.c - the backend table and cg_compile's dispatch. */
#include "codegen/codegen.h"

#include "codegen/cg_internal.h"

#include <string.h>

typedef struct CgBackend {
    const char *target;  /* --target */
    const char *emit;    /* --emit kinds it handles, space separated */
    bool (*compile)(Arena *, const IrModule *, const CgOptions *, FILE *);
} CgBackend;

static const CgBackend backends[] = {
    {"cpu", "exe llvm obj", cg_llvm_compile}, /* LLVM C API (llvm_backend.c); first: the default exe */
    {"cpu", "exe c", cg_c_compile}, /* C through the system compiler (c_backend.c) */
    {"cuda", "exe cu", cg_cuda_compile}, /* CUDA C++ through nvcc (cuda_backend.c) */
    {NULL, NULL, NULL},
};

static bool emits(const char *list, const char *kind)
{
    size_t n = strlen(kind);
    for (const char *p = list; (p = strstr(p, kind)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
            return true;
    return false;
}

bool cg_compile(Arena *a, const IrModule *m, const CgOptions *opt, FILE *err)
{
    for (const CgBackend *b = backends; b->target; b++)
        if (!strcmp(b->target, opt->target) && emits(b->emit, opt->emit))
            return b->compile(a, m, opt, err);
    fprintf(err, "dtc: error: code generation for --target=%s --emit=%s is not implemented yet\n",
            opt->target, opt->emit);
    return false;
}

/* ---- CgStrMap ---------------------------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int cg_strmap_get(const CgStrMap *m, const char *key)
{
    if (!m->cap)
        return -1;
    for (uint64_t k = str_hash(key) & (uint64_t)(m->cap - 1);; k = (k + 1) & (uint64_t)(m->cap - 1)) {
        if (!m->key[k])
            return -1;
        if (!strcmp(m->key[k], key))
            return m->val[k];
    }
}

void cg_strmap_put(Arena *a, CgStrMap *m, const char *key, int val)
{
    if (2 * (m->n + 1) > m->cap) { /* at most half full */
        CgStrMap g = {0, m->cap ? 2 * m->cap : 64, NULL, NULL};
        g.key = arena_alloc(a, sizeof *g.key * (size_t)g.cap);
        g.val = arena_alloc(a, sizeof *g.val * (size_t)g.cap);
        memset(g.key, 0, sizeof *g.key * (size_t)g.cap);
        for (int k = 0; k < m->cap; k++)
            if (m->key[k])
                cg_strmap_put(a, &g, m->key[k], m->val[k]);
        *m = g;
    }
    uint64_t k = str_hash(key) & (uint64_t)(m->cap - 1);
    while (m->key[k] && strcmp(m->key[k], key))
        k = (k + 1) & (uint64_t)(m->cap - 1);
    if (!m->key[k])
        m->n++;
    m->key[k] = key;
    m->val[k] = val;
}

const char *cg_unique_name(Arena *a, CgStrMap *names, const char *name, int b)
{
    while (cg_strmap_get(names, name) >= 0)
        name = arena_printf(a, "%s_b%d", name, b);
    cg_strmap_put(a, names, name, b);
    return name;
}
