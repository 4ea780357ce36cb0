/* common.h — memory, growable arrays and small helpers shared by every part
 * of the compiler.
 *
 * Allocation policy: the compiler allocates AST and IR objects from arenas
 * that are released in one call, so no input can make it leak; the x*
 * allocators stop the compiler with "out of memory" instead of returning
 * NULL (a compiler bug or a machine limit, never a user error).
 */
#ifndef ASTC_COMMON_H
#define ASTC_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define ASTC_VERSION "0.1.0"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- checked allocation ---------------------------------------------------- */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvprintf(const char *fmt, va_list ap);

/* Growable array: VEC(T) v = {0}; vec_push(&v, x); ... free(v.data). */
#define VEC(T) struct { T *data; int len, cap; }
#define vec_push(v, x)                                                         \
  do {                                                                         \
    if ((v)->len == (v)->cap) {                                                \
      (v)->cap = (v)->cap ? 2 * (v)->cap : 8;                                  \
      (v)->data = xrealloc((v)->data, sizeof(*(v)->data) * (size_t)(v)->cap);  \
    }                                                                          \
    (v)->data[(v)->len++] = (x);                                               \
  } while (0)
typedef VEC(const char *) StrVec;
#define vec_free(v) (free((v)->data), (v)->data = NULL, (v)->len = (v)->cap = 0)

/* ---- arenas ------------------------------------------------------------ */

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t n);  /* zeroed, 16-byte aligned */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Internal compiler error: a bug in astc, never the user's input. */
_Noreturn void internal_error(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define unreachable() internal_error(__FILE__, __LINE__, "unreachable")
#define ASTC_ASSERT(c)                                                         \
  ((c) ? (void)0 : internal_error(__FILE__, __LINE__, "assertion failed: %s", #c))

/* Growable string buffer. */
typedef struct StrBuf {
  char *data;
  size_t len, cap;
} StrBuf;
void sb_putc(StrBuf *sb, char c);
void sb_puts(StrBuf *sb, const char *s);
void sb_printf(StrBuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb_free(StrBuf *sb);

/* Reads a whole file; returns NULL and sets *err (static string from
 * strerror or a reason) on failure. *len receives the byte count. */
char *read_file(const char *path, size_t *len, const char **err);

/* Suggests the closest of `candidates` to `name` (edit distance <= 2), or NULL. */
const char *suggest_name(const char *name, const char *const *candidates, int n);

/* Seconds on the monotonic clock (differences are elapsed time). */
double now_seconds(void);

#endif
