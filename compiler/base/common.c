/* common.c — checked allocation, arenas, string buffers, file reading, and
 * name suggestions for diagnostics. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static _Noreturn void out_of_memory(size_t n) {
  fprintf(stderr, "astc: out of memory (allocating %zu bytes)\n", n);
  exit(70);
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) out_of_memory(n);
  return p;
}

void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) out_of_memory(n * size);
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) out_of_memory(n);
  return q;
}

char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}

char *xvprintf(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  char *s = xmalloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

char *xprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = xvprintf(fmt, ap);
  va_end(ap);
  return s;
}

/* ---- arenas: a list of blocks, each at least 64 KiB ------------------------ */

typedef struct Block {
  struct Block *next;
  size_t used, cap;
  _Alignas(16) unsigned char mem[];
} Block;

struct Arena {
  Block *head;
};

Arena *arena_new(void) { return xcalloc(1, sizeof(Arena)); }

void arena_free(Arena *a) {
  if (!a) return;
  for (Block *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(a);
}

void *arena_alloc(Arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  Block *b = a->head;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    b = xmalloc(sizeof(Block) + cap);
    b->used = 0;
    b->cap = cap;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->mem + b->used;
  b->used += n;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *arena_strdup(Arena *a, const char *s) {
  return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *tmp = xvprintf(fmt, ap);
  va_end(ap);
  char *s = arena_strdup(a, tmp);
  free(tmp);
  return s;
}

_Noreturn void internal_error(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "astc: internal error at %s:%d: ", file, line);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(this is a bug in astc, not in your program; please report it)\n");
  va_end(ap);
  abort();
}

/* ---- string buffers ---------------------------------------------------- */

static void sb_reserve(StrBuf *sb, size_t extra) {
  if (sb->len + extra + 1 <= sb->cap) return;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < sb->len + extra + 1) cap *= 2;
  sb->data = xrealloc(sb->data, cap);
  sb->cap = cap;
}

void sb_putc(StrBuf *sb, char c) {
  sb_reserve(sb, 1);
  sb->data[sb->len++] = c;
  sb->data[sb->len] = 0;
}

void sb_puts(StrBuf *sb, const char *s) {
  size_t n = strlen(s);
  sb_reserve(sb, n);
  memcpy(sb->data + sb->len, s, n + 1);
  sb->len += n;
}

void sb_printf(StrBuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = xvprintf(fmt, ap);
  va_end(ap);
  sb_puts(sb, s);
  free(s);
}

void sb_free(StrBuf *sb) {
  free(sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
}

/* ---- files ---------------------------------------------------------------- */

char *read_file(const char *path, size_t *len, const char **err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    *err = strerror(errno);
    return NULL;
  }
  StrBuf sb = {0};
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    sb_reserve(&sb, n);
    memcpy(sb.data + sb.len, buf, n);
    sb.len += n;
    sb.data[sb.len] = 0;
    if (sb.len > ((size_t)64 << 20)) {
      fclose(f);
      sb_free(&sb);
      *err = "file is larger than 64 MiB; is this really a .train program?";
      return NULL;
    }
  }
  if (ferror(f)) {
    *err = strerror(errno);
    fclose(f);
    sb_free(&sb);
    return NULL;
  }
  fclose(f);
  if (!sb.data) sb_reserve(&sb, 0), sb.data[0] = 0;
  *len = sb.len;
  return sb.data;
}

/* Edit distance with adjacent transpositions (optimal string alignment):
 * "rleu" is one edit from "relu". */
static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 40 || lb > 40) return 99;
  int d[41][41];
  for (int i = 0; i <= la; i++) d[i][0] = i;
  for (int j = 0; j <= lb; j++) d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      c = MIN(c, d[i - 1][j] + 1);
      c = MIN(c, d[i][j - 1] + 1);
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        c = MIN(c, d[i - 2][j - 2] + 1);
      d[i][j] = c;
    }
  return d[la][lb];
}

/* A suggestion must keep part of the name: replacing every character of a
 * one-letter name ('s' -> 'B') is no suggestion; a different case is. Two
 * different names equally close are no suggestion either ('dense4' is as
 * close to dense_1 as to dense_2). */
const char *suggest_name(const char *name, const char *const *candidates, int n) {
  const char *best = NULL;
  int best_d = 3;
  bool tie = false;
  int len = (int)strlen(name);
  int limit = len <= 3 ? 1 : 2;
  for (int i = 0; i < n; i++) {
    if (!candidates[i] || strcmp(name, candidates[i]) == 0) continue;
    int d = strcasecmp(name, candidates[i]) == 0 ? 0 : edit_distance(name, candidates[i]);
    if (d > 0 && (d >= len || d >= (int)strlen(candidates[i]))) continue;
    if (d > limit) continue;
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
      tie = false;
    } else if (d == best_d && strcmp(best, candidates[i]) != 0) {
      tie = true;
    }
  }
  return tie ? NULL : best;
}

double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
