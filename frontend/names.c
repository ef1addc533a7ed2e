/* names.c - FeNames, a name -> pointer hash table in the arena (fe_internal.h).
 *
 * Sema looks every name up in one of these (globals, a function's locals),
 * so that checking is linear in the number of declarations.  Open addressing
 * with linear probing, kept at most half full; growing abandons the old
 * slots to the arena.  Keys are not copied: they must live as long as the
 * table (they are the AST's names, in the same arena).
 */
#include <string.h>

#include "frontend/fe_internal.h"

typedef struct NameSlot {
    const char *name; /* NULL: empty */
    void *val;
} NameSlot;

struct FeNames {
    Arena *a;
    size_t n, cap; /* cap: a power of two */
    NameSlot *slots;
};

/* FNV-1a */
static size_t hash_name(const char *s)
{
    size_t h = (size_t)14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * (size_t)1099511628211ull;
    return h;
}

FeNames *fe_names_new(Arena *a)
{
    FeNames *t = arena_alloc(a, sizeof *t);
    t->a = a;
    t->cap = 16;
    t->slots = arena_alloc(a, sizeof *t->slots * t->cap);
    return t;
}

static NameSlot *find_slot(NameSlot *slots, size_t cap, const char *name)
{
    size_t i = hash_name(name) & (cap - 1);
    while (slots[i].name && strcmp(slots[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

void *fe_names_get(const FeNames *t, const char *name)
{
    if (!t || !name)
        return NULL;
    return find_slot(t->slots, t->cap, name)->val;
}

void fe_names_put(FeNames *t, const char *name, void *val)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = 2 * t->cap;
        NameSlot *slots = arena_alloc(t->a, sizeof *slots * cap);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].name)
                *find_slot(slots, cap, t->slots[i].name) = t->slots[i];
        t->slots = slots;
        t->cap = cap;
    }
    NameSlot *s = find_slot(t->slots, t->cap, name);
    if (!s->name) {
        s->name = name;
        t->n++;
    }
    s->val = val;
}
