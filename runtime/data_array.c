/* data_array.c — astrt_array and astrt_split basics (example size, freeing)
 * and the helpers the data-set loaders share (data_internal.h): checked
 * allocation, opening and reading files, count checks and the conversion
 * of features and labels into the element types the runtime trains on.
 */
#include "astrt.h"
#include "data_internal.h"
#include "robust.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- public ------------------------------------------------------------- */

int64_t astrt_array_example_size(const astrt_array *a) {
  if (a->rank < 0 || a->rank > ASTRT_MAX_RANK) return -1;
  int64_t size = 1;
  for (int i = 0; i < a->rank; i++) {
    if (a->dims[i] < 0 || __builtin_mul_overflow(size, a->dims[i], &size))
      return -1;
  }
  return size;
}

void astrt_array_free(astrt_array *a) {
  if (!a) return;
  astrt_data_release(a->data);
  memset(a, 0, sizeof *a);
}

void astrt_split_free(astrt_split *s) {
  if (!s) return;
  astrt_array_free(&s->x);
  astrt_array_free(&s->y);
  s->num_classes = 0;
}

/* ---- file mappings ------------------------------------------------------ */

#define MAX_MAPS 64
static struct {
  void *base;
  size_t len;
} maps[MAX_MAPS];
static int nmaps;
static pthread_mutex_t maps_mu = PTHREAD_MUTEX_INITIALIZER;

int astrt_data_should_map(int64_t bytes) {
  const char *mode = getenv("ASTRT_DATA_MAP");
  if (mode && !strcmp(mode, "off")) return 0;
  if (mode && !strcmp(mode, "always")) return 1;
  int64_t avail;
  const char *why;
  return astrt_mem_available(&avail, &why) && bytes > avail;
}

astrt_status astrt_data_map(FILE *f, const char *path, size_t len, void **base) {
  *base = NULL;
  void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fileno(f), 0) : MAP_FAILED;
  if (map == MAP_FAILED)
    return astrt_fail(ASTRT_ERR_IO, "%s: cannot map the file (%s); %s", path, len ? strerror(errno) : "empty",
                      ASTRT_DATA_FIT_HINT);
  pthread_mutex_lock(&maps_mu);
  int slot = nmaps < MAX_MAPS ? nmaps++ : -1;
  if (slot >= 0) maps[slot].base = map, maps[slot].len = len;
  pthread_mutex_unlock(&maps_mu);
  if (slot < 0) {
    munmap(map, len);
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: more than %d data files mapped at once", path, MAX_MAPS);
  }
  madvise(map, len, MADV_RANDOM);  /* batches gather examples in shuffled order */
  *base = map;
  return ASTRT_OK;
}

void astrt_data_mapped_note(const char *path, size_t len) {
  char size[32];
  astrt_fmt_bytes((double)len, size, sizeof size);
  const char *mode = getenv("ASTRT_DATA_MAP");
  fprintf(stderr, "astrt: %s (%s) %s: it is read from the file as training goes "
          "(memory-mapped; slower when examples must come from disk)\n", path, size,
          mode && !strcmp(mode, "always") ? "is mapped (ASTRT_DATA_MAP=always)" : "does not fit in memory");
}

void astrt_data_release(void *data) {
  if (!data) return;
  pthread_mutex_lock(&maps_mu);
  for (int i = 0; i < nmaps; i++) {
    char *base = maps[i].base;
    if ((char *)data >= base && (char *)data <= base + maps[i].len) {  /* data points into the mapping */
      munmap(maps[i].base, maps[i].len);
      maps[i] = maps[--nmaps];
      pthread_mutex_unlock(&maps_mu);
      return;
    }
  }
  pthread_mutex_unlock(&maps_mu);
  free(data);
}

/* ---- allocation --------------------------------------------------------- */

size_t astrt_data_elem_size(astrt_elem e) {
  return e == ASTRT_ELEM_U8 ? 1 : 4;
}

/* n * prod(dims), or -1 if negative or over ASTRT_DATA_MAX_ELEMS. The
 * product of the non-zero factors must be within the limit too, so that an
 * array of no examples still has an example size (astrt_array_example_size). */
static int64_t element_count(int rank, const int64_t *dims, int64_t n) {
  if (n < 0 || rank < 0 || rank > ASTRT_MAX_RANK) return -1;
  int64_t nonzero = n ? n : 1;
  int empty = n == 0;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) return -1;
    if (dims[i] == 0) empty = 1;
    else if (__builtin_mul_overflow(nonzero, dims[i], &nonzero) ||
             nonzero > ASTRT_DATA_MAX_ELEMS)
      return -1;
  }
  return nonzero > ASTRT_DATA_MAX_ELEMS ? -1 : empty ? 0 : nonzero;
}

astrt_status astrt_data_alloc(astrt_array *a, astrt_elem elem, int rank,
                              const int64_t *dims, int64_t n,
                              const char *path) {
  memset(a, 0, sizeof *a);
  int64_t count = element_count(rank, dims, n);
  size_t esize = astrt_data_elem_size(elem);
  if (count < 0 || (uint64_t)count > SIZE_MAX / esize)
    return astrt_fail(ASTRT_ERR_NOMEM,
                      "%s: an array of %lld examples of rank %d is too large "
                      "(limit 2^40 elements; corrupt file?)",
                      path, (long long)n, rank);
  size_t bytes = (size_t)count * esize;
  char what[512];
  snprintf(what, sizeof what, "%s: holding its %lld examples", path, (long long)n);
  astrt_status st = astrt_mem_check((int64_t)bytes, what, ASTRT_DATA_FIT_HINT);
  if (st) return st;
  a->data = malloc(bytes ? bytes : 1);
  if (!a->data)
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory allocating %zu bytes",
                      path, bytes);
  a->elem = elem;
  a->rank = rank;
  for (int i = 0; i < rank; i++) a->dims[i] = dims[i];
  a->n = n;
  a->scale = 1.0f;
  a->shift = 0.0f;
  return ASTRT_OK;
}

/* ---- files -------------------------------------------------------------- */

astrt_status astrt_data_open(const char *path, FILE **out) {
  /* a device or a pipe has no end to read to (/dev/zero), or cannot be read
   * twice (a FIFO: a format is sniffed, then the file read; opening one
   * waits for a writer): refused before it is opened */
  struct stat sb;
  *out = NULL;
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
    return astrt_fail(ASTRT_ERR_IO, "%s: not a regular file (a %s); astc reads data, checkpoints and "
                      "variables from files: save it to a file first", path,
                      S_ISFIFO(sb.st_mode) ? "pipe" : S_ISSOCK(sb.st_mode) ? "socket" : "device");
  *out = fopen(path, "rb");
  if (*out) return ASTRT_OK;
  int err = errno;
  char cwd[PATH_MAX];
  if (err == ENOENT && path[0] != '/')  /* relative to what, and how to change it */
    return astrt_fail(ASTRT_ERR_NOTFOUND,
                      "%s: cannot open: %s (a relative path is taken from the current "
                      "directory, %s, or from the directory given with --data DIR)",
                      path, strerror(err), getcwd(cwd, sizeof cwd) ? cwd : "unknown");
  return astrt_fail(err == ENOENT ? ASTRT_ERR_NOTFOUND : ASTRT_ERR_IO,
                    "%s: cannot open: %s", path, strerror(err));
}

/* Grows *buf so it can hold at least need + 1 bytes. */
static astrt_status grow(char **buf, size_t *cap, size_t need,
                         const char *path) {
  if (need < *cap) return ASTRT_OK;
  size_t ncap = *cap ? *cap : 4096;
  while (ncap <= need) {
    if (ncap > SIZE_MAX / 2)
      return astrt_fail(ASTRT_ERR_NOMEM, "%s: file too large", path);
    ncap *= 2;
  }
  char *nbuf = realloc(*buf, ncap);
  if (!nbuf)
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory reading %zu bytes",
                      path, need);
  *buf = nbuf;
  *cap = ncap;
  return ASTRT_OK;
}

/* Reads f to its end into *buf (capacity *cap), setting *len. */
static astrt_status read_all(FILE *f, const char *path, char **buf,
                             size_t *cap, size_t *len) {
  for (;;) {
    astrt_status st = grow(buf, cap, *len + 65536, path);
    if (st) return st;
    size_t got = fread(*buf + *len, 1, *cap - *len - 1, f);
    *len += got;
    if (got > 0) continue;
    if (ferror(f))
      return astrt_fail(ASTRT_ERR_IO, "%s: read error: %s", path,
                        strerror(errno));
    return ASTRT_OK;
  }
}

astrt_status astrt_data_read_file(const char *path, char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f;
  astrt_status st = astrt_data_open(path, &f);
  if (st) return st;
  size_t cap = 0;
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) &&
      (uint64_t)sb.st_size < SIZE_MAX / 2) {
    char what[512];
    snprintf(what, sizeof what, "%s: reading the file", path);
    st = astrt_mem_check((int64_t)sb.st_size, what, ASTRT_DATA_FIT_HINT);
    if (!st) st = grow(buf, &cap, (size_t)sb.st_size, path);
  }
  if (!st) st = read_all(f, path, buf, &cap, len);
  fclose(f);
  if (st) {
    free(*buf);
    *buf = NULL;
    *len = 0;
    return st;
  }
  (*buf)[*len] = '\0';
  return ASTRT_OK;
}

/* ---- features and labels ------------------------------------------------ */

astrt_status astrt_data_same_count(const astrt_array *x, const char *x_path,
                                   const astrt_array *y, const char *y_path) {
  if (x->n == y->n) return ASTRT_OK;
  return astrt_fail(ASTRT_ERR_MISMATCH,
                    "%s holds %lld examples but %s holds %lld; features and "
                    "labels must come from the same split",
                    x_path, (long long)x->n, y_path, (long long)y->n);
}

/* Number of elements of the whole array (valid arrays only). */
static size_t total_elems(const astrt_array *a) {
  return (size_t)a->n * (size_t)astrt_array_example_size(a);
}

astrt_status astrt_data_features(astrt_array *x, const char *path) {
  (void)path;
  if (x->elem != ASTRT_ELEM_I32) return ASTRT_OK;
  unsigned char *p = x->data;  /* int32 -> float in place, same size */
  for (size_t i = 0, n = total_elems(x); i < n; i++) {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    float f = (float)v;
    memcpy(p + 4 * i, &f, 4);
  }
  x->elem = ASTRT_ELEM_F32;
  x->scale = 1.0f;
  x->shift = 0.0f;
  return ASTRT_OK;
}

static astrt_status u8_to_i32(astrt_array *y, const char *path) {
  size_t n = total_elems(y);
  int32_t *out = malloc(n ? n * sizeof *out : 1);
  if (!out)
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory converting labels",
                      path);
  const uint8_t *in = y->data;
  for (size_t i = 0; i < n; i++) out[i] = in[i];
  astrt_data_release(y->data);
  y->data = out;
  y->elem = ASTRT_ELEM_I32;
  return ASTRT_OK;
}

static astrt_status count_classes(const astrt_array *y, const char *path,
                                  int64_t *num_classes) {
  const int32_t *label = y->data;
  int64_t max = -1;
  for (int64_t i = 0; i < y->n; i++) {
    if (label[i] < 0)
      return astrt_fail(ASTRT_ERR_FORMAT,
                        "%s: example %lld has label %d; class labels must be "
                        "0, 1, 2, ... (non-negative integers)",
                        path, (long long)i, label[i]);
    if (label[i] > max) max = label[i];
  }
  *num_classes = max + 1;
  return ASTRT_OK;
}

astrt_status astrt_data_labels(astrt_array *y, const char *path,
                               int64_t *num_classes) {
  *num_classes = 0;
  if (y->elem == ASTRT_ELEM_F32) return ASTRT_OK;
  int64_t per = astrt_array_example_size(y);
  if (per != 1)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: class labels must be one integer per example, but "
                      "each example here holds %lld values",
                      path, (long long)per);
  y->rank = 0;
  memset(y->dims, 0, sizeof y->dims);
  if (y->elem == ASTRT_ELEM_U8) {
    astrt_status st = u8_to_i32(y, path);
    if (st) return st;
  }
  y->scale = 1.0f;
  y->shift = 0.0f;
  return count_classes(y, path, num_classes);
}
