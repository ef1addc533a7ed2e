/* arena.h - one bump allocator per compilation.
 *
 * Everything the compiler allocates for a compilation (AST, IR, strings,
 * diagnostics) comes from one arena and is released at once by arena_free.
 * No scattered frees.  Allocation failure aborts (an internal error).
 */
#ifndef DTC_ARENA_H
#define DTC_ARENA_H

#include <stddef.h>

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t n);            /* zeroed, 16-byte aligned */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy of an array of n elements of size sz (NULL when n == 0). */
void *arena_dup(Arena *a, const void *p, size_t n, size_t sz);

/* Internal compiler bugs: print file and line, then abort. */
#define DTC_BUG(msg) dtc_bug(__FILE__, __LINE__, (msg))
#define DTC_ASSERT(c) ((c) ? (void)0 : dtc_bug(__FILE__, __LINE__, "assertion failed: " #c))
_Noreturn void dtc_bug(const char *file, int line, const char *msg);

#endif
