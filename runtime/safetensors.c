/* safetensors.c — safetensors checkpoint files: astrt_safetensors_write
 * (atomic) and astrt_safetensors_read (strict), after the format of the
 * Hugging Face safetensors project:
 *
 *   bytes 0..8     N, the header length, a little-endian u64
 *   bytes 8..8+N   the header: UTF-8 JSON, one object mapping each tensor
 *                  name to {"dtype": "F32", "shape": [2, 3],
 *                  "data_offsets": [BEGIN, END]} and the optional key
 *                  "__metadata__" to an object of string values; it starts
 *                  with '{' and may be padded with spaces
 *   the rest       the data: a tensor's elements (row-major, little-endian)
 *                  are bytes [BEGIN, END) of this part; the tensors cover it
 *                  exactly, without gaps or overlaps
 *
 * The writer emits the header compactly, "__metadata__" first (when there
 * is metadata), then the tensors in the order given with contiguous data,
 * and pads the header with spaces to a multiple of 8 bytes, e.g.
 *   {"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],
 *   "data_offsets":[0,8]}}
 *
 * The reader's JSON parser accepts exactly what a safetensors header needs
 * (objects, strings with every JSON escape including \uXXXX surrogate
 * pairs, integers without fraction or exponent, arrays of integers) and
 * rejects anything else, including invalid UTF-8, unknown fields in a
 * tensor entry and "\u0000" (names are C strings).
 */
#include "astrt.h"
#include "data_internal.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest header accepted (the reference implementation's limit). */
#define ST_MAX_HEADER 100000000

/* ---- dtypes ------------------------------------------------------------- */

static const struct {
  const char *name;
  size_t size;
} dtypes[ASTRT_ST_NUM_DTYPES] = {
    [ASTRT_ST_F32] = {"F32", 4},         [ASTRT_ST_F16] = {"F16", 2},
    [ASTRT_ST_BF16] = {"BF16", 2},       [ASTRT_ST_I32] = {"I32", 4},
    [ASTRT_ST_I64] = {"I64", 8},         [ASTRT_ST_U8] = {"U8", 1},
    [ASTRT_ST_F64] = {"F64", 8},         [ASTRT_ST_I8] = {"I8", 1},
    [ASTRT_ST_I16] = {"I16", 2},         [ASTRT_ST_U16] = {"U16", 2},
    [ASTRT_ST_U32] = {"U32", 4},         [ASTRT_ST_U64] = {"U64", 8},
    [ASTRT_ST_BOOL] = {"BOOL", 1},       [ASTRT_ST_F8_E5M2] = {"F8_E5M2", 1},
    [ASTRT_ST_F8_E4M3] = {"F8_E4M3", 1},
};

size_t astrt_st_dtype_size(int dtype) {
  return dtype >= 0 && dtype < ASTRT_ST_NUM_DTYPES ? dtypes[dtype].size : 0;
}

const char *astrt_st_dtype_name(int dtype) {
  return dtype >= 0 && dtype < ASTRT_ST_NUM_DTYPES ? dtypes[dtype].name : "?";
}

static int dtype_by_name(const char *name) {
  for (int i = 0; i < ASTRT_ST_NUM_DTYPES; i++)
    if (strcmp(dtypes[i].name, name) == 0) return i;
  return -1;
}

/* The product of dims[0..rank) into *n; -1 if a dim is negative or the
 * product overflows. */
static int shape_numel(int rank, const int64_t *dims, int64_t *n) {
  *n = 1;
  for (int d = 0; d < rank; d++)
    if (dims[d] < 0 || __builtin_mul_overflow(*n, dims[d], n)) return -1;
  return 0;
}

int64_t astrt_st_numel(const astrt_st_tensor *t) {
  int64_t n;
  if (t->rank < 0 || t->rank > ASTRT_MAX_RANK || shape_numel(t->rank, t->dims, &n)) return -1;
  return n;
}

/* "[2, 3]" ("[]" for rank 0). */
static void fmt_shape(int rank, const int64_t *dims, char *buf, size_t cap) {
  size_t len = (size_t)snprintf(buf, cap, "[");
  for (int d = 0; d < rank && len < cap; d++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? ", " : "", (long long)dims[d]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ---- byte order --------------------------------------------------------- */

static int host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

/* Reverses the bytes of each esize-byte element of p[0..n). */
static void swap_elements(unsigned char *p, size_t n, size_t esize) {
  for (size_t i = 0; esize > 1 && i + esize <= n; i += esize)
    for (size_t a = i, b = i + esize - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (left bytes available), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t left) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (left < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

static int utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s);
  while (left > 0) {
    size_t n = utf8_len(p, left);
    if (n == 0) return 0;
    p += n;
    left -= n;
  }
  return 1;
}

/* ---- growing strings ---------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int failed;  /* an allocation failed; the contents are incomplete */
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
      if (cap > SIZE_MAX / 2) {
        b->failed = 1;
        return;
      }
      cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
      b->failed = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_int(sbuf *b, int64_t v) {
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)v);
  sb_str(b, num);
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * other bytes (valid UTF-8) as they are. */
static void sb_json(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    const char *e = NULL;
    switch (*p) {
    case '"': e = "\\\""; break;
    case '\\': e = "\\\\"; break;
    case '\b': e = "\\b"; break;
    case '\f': e = "\\f"; break;
    case '\n': e = "\\n"; break;
    case '\r': e = "\\r"; break;
    case '\t': e = "\\t"; break;
    default:
      if (*p < 0x20) {
        snprintf(esc, sizeof esc, "\\u%04x", *p);
        e = esc;
      }
    }
    if (e) sb_str(b, e);
    else sb_put(b, p, 1);
  }
  sb_put(b, "\"", 1);
}

/* ---- unique names ------------------------------------------------------- */

typedef struct name_ix {
  const char *name;
  int ix;
} name_ix;

static int cmp_name_ix(const void *a, const void *b) {
  const name_ix *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->ix > y->ix) - (x->ix < y->ix);
}

/* Sorts v[0..n) by name; returns a name that occurs twice, or NULL. */
static const char *sort_names(name_ix *v, int n) {
  if (n > 1) qsort(v, (size_t)n, sizeof *v, cmp_name_ix);
  for (int i = 1; i < n; i++)
    if (strcmp(v[i - 1].name, v[i].name) == 0) return v[i].name;
  return NULL;
}

/* ---- writing: checks ---------------------------------------------------- */

static astrt_status bad_arg(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static astrt_status bad_arg(const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return astrt_fail(ASTRT_ERR_ARG, "cannot write safetensors file %s: %s", path, msg);
}

/* Checks tensor i and sets *bytes to the size of its data. */
static astrt_status check_tensor(const char *path, const astrt_st_tensor *t, int i,
                                 int64_t *bytes) {
  if (!t->name) return bad_arg(path, "tensor %d has no name", i);
  if (!utf8_valid(t->name)) return bad_arg(path, "tensor %d's name is not valid UTF-8", i);
  if (strcmp(t->name, "__metadata__") == 0)
    return bad_arg(path, "tensor %d is called \"__metadata__\", a name the format reserves", i);
  if (t->dtype < 0 || t->dtype >= ASTRT_ST_NUM_DTYPES)
    return bad_arg(path, "tensor '%s' has unknown dtype %d", t->name, t->dtype);
  if (t->rank < 0 || t->rank > ASTRT_MAX_RANK)
    return bad_arg(path, "tensor '%s' has rank %d (supported: 0 to %d)", t->name, t->rank,
                   ASTRT_MAX_RANK);
  int64_t n;
  char shape[160];
  fmt_shape(t->rank, t->dims, shape, sizeof shape);
  if (shape_numel(t->rank, t->dims, &n) ||
      __builtin_mul_overflow(n, (int64_t)dtypes[t->dtype].size, bytes))
    return bad_arg(path, "tensor '%s' has shape %s, with a negative dimension or more "
                   "bytes than fit in 64 bits", t->name, shape);
  if (*bytes > 0 && !t->data) return bad_arg(path, "tensor '%s' has no data", t->name);
  return ASTRT_OK;
}

/* Checks the arguments; sets bytes[i] for each tensor. */
static astrt_status check_args(const char *path, const astrt_st_tensor *tensors, int n,
                               const char *const *keys, const char *const *values, int nmeta,
                               int64_t *bytes) {
  if (n < 0 || nmeta < 0 || (n > 0 && !tensors) || (nmeta > 0 && (!keys || !values)))
    return bad_arg(path, "bad tensor or metadata list (n %d, nmeta %d)", n, nmeta);
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    astrt_status st = check_tensor(path, &tensors[i], i, &bytes[i]);
    if (st) return st;
    if (__builtin_add_overflow(total, bytes[i], &total))
      return bad_arg(path, "the tensors hold more bytes than fit in 64 bits");
  }
  for (int i = 0; i < nmeta; i++) {
    if (!keys[i] || !values[i]) return bad_arg(path, "metadata entry %d is NULL", i);
    if (!utf8_valid(keys[i]) || !utf8_valid(values[i]))
      return bad_arg(path, "metadata entry %d ('%s') is not valid UTF-8", i, keys[i]);
  }
  int most = n > nmeta ? n : nmeta;
  name_ix *v = malloc((size_t)(most > 0 ? most : 1) * sizeof *v);
  if (!v) return astrt_fail(ASTRT_ERR_NOMEM, "cannot write %s: out of memory", path);
  for (int i = 0; i < n; i++) v[i] = (name_ix){tensors[i].name, i};
  const char *dup = sort_names(v, n);
  astrt_status st = ASTRT_OK;
  if (dup) st = bad_arg(path, "two tensors are called '%s'; names must be unique", dup);
  for (int i = 0; !st && i < nmeta; i++) v[i] = (name_ix){keys[i], i};
  if (!st && (dup = sort_names(v, nmeta)))
    st = bad_arg(path, "metadata key '%s' occurs twice", dup);
  free(v);
  return st;
}

/* The header: JSON, padded with spaces to a multiple of 8 bytes. */
static void build_header(sbuf *h, const astrt_st_tensor *t, const int64_t *bytes, int n,
                         const char *const *keys, const char *const *values, int nmeta) {
  sb_str(h, "{");
  if (nmeta > 0) {
    sb_str(h, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) sb_str(h, ",");
      sb_json(h, keys[i]);
      sb_str(h, ":");
      sb_json(h, values[i]);
    }
    sb_str(h, "}");
  }
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    if (i > 0 || nmeta > 0) sb_str(h, ",");
    sb_json(h, t[i].name);
    sb_str(h, ":{\"dtype\":\"");
    sb_str(h, dtypes[t[i].dtype].name);
    sb_str(h, "\",\"shape\":[");
    for (int d = 0; d < t[i].rank; d++) {
      if (d) sb_str(h, ",");
      sb_int(h, t[i].dims[d]);
    }
    sb_str(h, "],\"data_offsets\":[");
    sb_int(h, off);
    sb_str(h, ",");
    sb_int(h, off + bytes[i]);
    sb_str(h, "]}");
    off += bytes[i];
  }
  sb_str(h, "}");
  while (!h->failed && h->len % 8 != 0) sb_str(h, " ");
}

/* ---- writing: the file -------------------------------------------------- */

#ifdef ASTRT_TEST_HOOKS
/* Test hooks, in builds with -DASTRT_TEST_HOOKS=ON only (-1: off):
 *   ASTRT_FAULT_WRITE_AFTER=N       the disk fills up once N bytes of the
 *                                   temporary file are written (ENOSPC);
 *   ASTRT_TEST_KILL_DURING_WRITE=N  SIGKILL once N bytes are written — a
 *                                   crash mid-write. */
typedef struct st_faults {
  int64_t full_after, kill_after;
} st_faults;
#endif

typedef struct st_writer {
  FILE *f;
  int64_t written;   /* bytes handed to fwrite */
  const char *what;  /* the operation that failed */
  int err;           /* its errno */
#ifdef ASTRT_TEST_HOOKS
  st_faults fault;
#endif
} st_writer;

static int w_fail(st_writer *w, const char *what, int err) {
  w->what = what;
  w->err = err ? err : EIO;
  return -1;
}

static int w_put(st_writer *w, const void *p, size_t n) {
  size_t part = n;
  int full = 0;
#ifdef ASTRT_TEST_HOOKS
  if (w->fault.full_after >= 0 && (uint64_t)w->written + n > (uint64_t)w->fault.full_after) {
    part = (size_t)(w->fault.full_after - w->written);
    full = 1;
  }
#endif
  errno = 0;
  if (part > 0 && fwrite(p, 1, part, w->f) != part) return w_fail(w, "writing", errno);
  w->written += (int64_t)part;
#ifdef ASTRT_TEST_HOOKS
  if (w->fault.kill_after >= 0 && w->written >= w->fault.kill_after) {
    fflush(w->f);
    raise(SIGKILL);
  }
#endif
  return full ? w_fail(w, "writing", ENOSPC) : 0;
}

/* Writes a tensor's elements little-endian. */
static int w_put_data(st_writer *w, const void *data, size_t n, size_t esize) {
  if (host_little_endian() || esize == 1) return w_put(w, data, n);
  unsigned char chunk[65536];
  size_t step = sizeof chunk / esize * esize;
  for (size_t at = 0; at < n; at += step) {
    size_t len = n - at < step ? n - at : step;
    memcpy(chunk, (const unsigned char *)data + at, len);
    swap_elements(chunk, len, esize);
    if (w_put(w, chunk, len)) return -1;
  }
  return 0;
}

static int w_finish(st_writer *w) {
  errno = 0;
  if (fflush(w->f) != 0) return w_fail(w, "flushing", errno);
  if (fsync(fileno(w->f)) != 0) return w_fail(w, "syncing", errno);
  FILE *f = w->f;
  w->f = NULL;
  errno = 0;
  if (fclose(f) != 0) return w_fail(w, "closing", errno);
  return 0;
}

#ifdef ASTRT_TEST_HOOKS
/* The test hooks' settings (read at every write). */
static astrt_status faults_read(const char *path, st_faults *f) {
  f->full_after = f->kill_after = -1;
  const char *kill = getenv("ASTRT_TEST_KILL_DURING_WRITE");
  if (kill && *kill) f->kill_after = atoll(kill);
  const char *s = getenv("ASTRT_FAULT_WRITE_AFTER");
  if (!s || !*s) return ASTRT_OK;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0)
    return bad_arg(path, "ASTRT_FAULT_WRITE_AFTER=%s is not a byte count (a test hook; "
                   "unset it)", s);
  f->full_after = v;
  return ASTRT_OK;
}
#endif

/* fsyncs the directory holding path; 0 or an errno. A file system that
 * cannot sync directories (EINVAL) counts as success. */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash == path ? strdup("/") : slash ? strndup(path, (size_t)(slash - path))
                                                  : strdup(".");
  if (!dir) return ENOMEM;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0 && fsync(fd) != 0 && errno != EINVAL) err = errno;
  if (fd >= 0) close(fd);
  free(dir);
  return err;
}

/* Writes the temporary file tmp with w (its fields zero, but the test
 * hooks'); on failure removes it and sets the message. */
static astrt_status write_tmp(const char *path, const char *tmp, const sbuf *h,
                              const astrt_st_tensor *t, const int64_t *bytes, int n,
                              st_writer *w) {
  struct stat sb;
  int have_old = stat(path, &sb) == 0;
  if (have_old && !S_ISREG(sb.st_mode))
    return astrt_fail(ASTRT_ERR_IO, "cannot write safetensors file %s: it exists and is not "
                      "a regular file; choose another path", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return astrt_fail(ASTRT_ERR_IO, "cannot write safetensors file %s: cannot create the "
                      "temporary file %s: %s; check that the directory exists and is "
                      "writable", path, tmp, strerror(errno));
  if (have_old) (void)fchmod(fd, sb.st_mode & 07777);  /* keep the old file's mode */
  w->f = fdopen(fd, "wb");
  int rc = 0;
  if (!w->f) {
    rc = w_fail(w, "opening", errno);
    close(fd);
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h->len >> (8 * i));
  if (!rc) rc = w_put(w, len8, 8);
  if (!rc) rc = w_put(w, h->p, h->len);
  for (int i = 0; !rc && i < n; i++)
    rc = w_put_data(w, t[i].data, (size_t)bytes[i], dtypes[t[i].dtype].size);
  if (!rc) rc = w_finish(w);
  if (!rc) return ASTRT_OK;
  if (w->f) fclose(w->f);
  unlink(tmp);
  return astrt_fail(ASTRT_ERR_IO, "cannot write safetensors file %s: %s the temporary file "
                    "%s failed after %lld bytes: %s; free some space or choose another "
                    "path (a file already at %s is unchanged)", path, w->what, tmp,
                    (long long)w->written, strerror(w->err), path);
}

astrt_status astrt_safetensors_write(const char *path, const astrt_st_tensor *tensors, int n,
                                     const char *const *meta_keys,
                                     const char *const *meta_values, int nmeta) {
  if (!path || !*path)
    return astrt_fail(ASTRT_ERR_ARG, "astrt_safetensors_write: no file name given");
  int64_t *bytes = calloc((size_t)(n > 0 ? n : 1), sizeof *bytes);
  if (!bytes) return astrt_fail(ASTRT_ERR_NOMEM, "cannot write %s: out of memory", path);
  st_writer w;
  memset(&w, 0, sizeof w);
  astrt_status st = check_args(path, tensors, n, meta_keys, meta_values, nmeta, bytes);
#ifdef ASTRT_TEST_HOOKS
  if (!st) st = faults_read(path, &w.fault);
#endif
  sbuf h = {0};
  if (!st) {
    build_header(&h, tensors, bytes, n, meta_keys, meta_values, nmeta);
    if (h.failed)
      st = astrt_fail(ASTRT_ERR_NOMEM, "cannot write %s: out of memory building the header",
                      path);
  }
  char *tmp = NULL;
  if (!st) {
    size_t cap = strlen(path) + 32;
    tmp = malloc(cap);
    if (!tmp) st = astrt_fail(ASTRT_ERR_NOMEM, "cannot write %s: out of memory", path);
    else snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
  }
  if (!st) st = write_tmp(path, tmp, &h, tensors, bytes, n, &w);
  if (!st && rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    st = astrt_fail(ASTRT_ERR_IO, "cannot write safetensors file %s: renaming the temporary "
                    "file %s over it failed: %s; choose another path", path, tmp,
                    strerror(err));
  }
  int err;
  if (!st && (err = sync_dir(path)) != 0)
    st = astrt_fail(ASTRT_ERR_IO, "safetensors file %s was written but its directory could "
                    "not be synced: %s; it may not survive a crash", path, strerror(err));
  free(tmp);
  free(h.p);
  free(bytes);
  return st;
}

/* ---- reading: errors ---------------------------------------------------- */

static astrt_status bad_file(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "PATH: <message>; the file is damaged or not a safetensors file". */
static astrt_status bad_file(const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return astrt_fail(ASTRT_ERR_FORMAT, "%s: %s; the file is damaged or not a safetensors file",
                    path, msg);
}

/* ---- reading: JSON ------------------------------------------------------ */

typedef struct jp {
  const char *start, *p, *end;  /* the header */
  const char *path;
} jp;

static astrt_status bad_json(const jp *j, const char *expected) {
  char found[32];
  if (j->p >= j->end) snprintf(found, sizeof found, "the end of the header");
  else if (*j->p >= 0x20 && *j->p < 0x7f) snprintf(found, sizeof found, "'%c'", *j->p);
  else snprintf(found, sizeof found, "byte 0x%02x", (unsigned char)*j->p);
  return bad_file(j->path, "bad JSON header at byte %lld of the header: expected %s, found %s",
                  (long long)(j->p - j->start), expected, found);
}

static void skip_ws(jp *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static int accept(jp *j, char c) {
  skip_ws(j);
  if (j->p < j->end && *j->p == c) {
    j->p++;
    return 1;
  }
  return 0;
}

static astrt_status expect(jp *j, char c, const char *what) {
  return accept(j, c) ? ASTRT_OK : bad_json(j, what);
}

static int hex4(const char *s, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                 : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                        : 16;
    if (d == 16) return -1;
    *v = *v * 16 + d;
  }
  return 0;
}

static void put_utf8(sbuf *b, unsigned cp) {
  unsigned char u[4];
  size_t n;
  if (cp < 0x80) u[0] = (unsigned char)cp, n = 1;
  else if (cp < 0x800) u[0] = (unsigned char)(0xC0 | cp >> 6), n = 2;
  else if (cp < 0x10000) u[0] = (unsigned char)(0xE0 | cp >> 12), n = 3;
  else u[0] = (unsigned char)(0xF0 | cp >> 18), n = 4;
  for (size_t i = 1; i < n; i++)
    u[i] = (unsigned char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
  sb_put(b, u, n);
}

/* The \u escape at j->p (just after the backslash and 'u'). */
static astrt_status parse_u_escape(jp *j, sbuf *b) {
  unsigned cp, lo;
  if (j->end - j->p < 4 || hex4(j->p, &cp)) return bad_json(j, "4 hex digits after \\u");
  j->p += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return bad_json(j, "a high surrogate before this low surrogate escape");
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) ||
        lo < 0xDC00 || lo > 0xDFFF)
      return bad_json(j, "a \\uDC00-\\uDFFF low surrogate after a high surrogate");
    j->p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  if (cp == 0) return bad_json(j, "no \\u0000 (NUL is not supported in names or metadata)");
  put_utf8(b, cp);
  return ASTRT_OK;
}

/* A JSON string into *out (malloc'ed, NUL-terminated). */
static astrt_status parse_string(jp *j, const char *what, char **out) {
  *out = NULL;
  skip_ws(j);
  if (j->p >= j->end || *j->p != '"') return bad_json(j, what);
  j->p++;
  sbuf b = {0};
  sb_put(&b, "", 0);
  astrt_status st = ASTRT_OK;
  for (;;) {
    if (j->p >= j->end) {
      st = bad_json(j, "a closing '\"'");
      break;
    }
    unsigned char c = (unsigned char)*j->p;
    if (c == '"') {
      j->p++;
      break;
    }
    if (c < 0x20) {
      st = bad_json(j, "no control character in a string (escape it)");
      break;
    }
    if (c == '\\') {
      if (j->end - j->p < 2) {
        j->p++;
        st = bad_json(j, "an escape after '\\'");
        break;
      }
      char e = j->p[1];
      const char *simple = strchr("\"\\/bfnrt", e);
      if (e && simple) {
        static const char decoded[] = "\"\\/\b\f\n\r\t";
        sb_put(&b, &decoded[simple - "\"\\/bfnrt"], 1);
        j->p += 2;
      } else if (e == 'u') {
        j->p += 2;
        if ((st = parse_u_escape(j, &b))) break;
      } else {
        j->p++;
        st = bad_json(j, "one of the escapes \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
        break;
      }
      continue;
    }
    size_t n = utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
    if (n == 0) {
      st = bad_json(j, "valid UTF-8");
      break;
    }
    sb_put(&b, j->p, n);
    j->p += n;
  }
  if (!st && b.failed)
    st = astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory reading the header", j->path);
  if (st) {
    free(b.p);
    return st;
  }
  *out = b.p;
  return ASTRT_OK;
}

/* A JSON integer (no fraction, no exponent) that fits in int64. */
static astrt_status parse_int(jp *j, int64_t *v) {
  skip_ws(j);
  const char *p = j->p;
  int neg = p < j->end && *p == '-';
  if (neg) p++;
  if (p >= j->end || *p < '0' || *p > '9') return bad_json(j, "an integer");
  if (*p == '0' && p + 1 < j->end && p[1] >= '0' && p[1] <= '9')
    return bad_json(j, "an integer without leading zeros");
  uint64_t m = 0;
  for (; p < j->end && *p >= '0' && *p <= '9'; p++) {
    if (m > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
      return bad_json(j, "an integer below 2^63");
    m = m * 10 + (uint64_t)(*p - '0');
  }
  if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E')) {
    j->p = p;
    return bad_json(j, "an integer (no fraction or exponent)");
  }
  j->p = p;
  *v = neg ? -(int64_t)m : (int64_t)m;
  return ASTRT_OK;
}

/* [a, b, ...] of at most max integers into v; *count gets their number
 * (max + 1 when there are more). */
static astrt_status parse_ints(jp *j, int64_t *v, int max, int *count) {
  *count = 0;
  astrt_status st = expect(j, '[', "'[' starting a list of integers");
  if (st || accept(j, ']')) return st;
  do {
    int64_t x = 0;
    if ((st = parse_int(j, &x))) return st;
    if (*count < max) v[*count] = x;
    if (*count <= max) ++*count;
  } while (accept(j, ','));
  return expect(j, ']', "',' or ']' in a list of integers");
}

/* ---- reading: the header ------------------------------------------------ */

/* What the parser collects. */
typedef struct st_parsed {
  astrt_st_tensor *t;
  int64_t (*off)[2];
  int n, cap;
  char **keys, **values;
  int nmeta, meta_cap;
  int seen_meta;
} st_parsed;

static void parsed_free(st_parsed *ps) {
  for (int i = 0; i < ps->n; i++) free((void *)ps->t[i].name);
  for (int i = 0; i < ps->nmeta; i++) {
    free(ps->keys[i]);
    free(ps->values[i]);
  }
  free(ps->t);
  free(ps->off);
  free(ps->keys);
  free(ps->values);
  memset(ps, 0, sizeof *ps);
}

static int grow_tensors(st_parsed *ps) {
  if (ps->n < ps->cap) return 0;
  int cap = ps->cap ? 2 * ps->cap : 16;
  if (cap > INT32_MAX / 2) return -1;
  astrt_st_tensor *t = realloc(ps->t, (size_t)cap * sizeof *t);
  if (t) ps->t = t;
  int64_t(*off)[2] = realloc(ps->off, (size_t)cap * sizeof *off);
  if (off) ps->off = off;
  if (!t || !off) return -1;
  ps->cap = cap;
  return 0;
}

static int grow_meta(st_parsed *ps) {
  if (ps->nmeta < ps->meta_cap) return 0;
  int cap = ps->meta_cap ? 2 * ps->meta_cap : 8;
  if (cap > INT32_MAX / 2) return -1;
  char **k = realloc(ps->keys, (size_t)cap * sizeof *k);
  if (k) ps->keys = k;
  char **v = realloc(ps->values, (size_t)cap * sizeof *v);
  if (v) ps->values = v;
  if (!k || !v) return -1;
  ps->meta_cap = cap;
  return 0;
}

static astrt_status out_of_memory(const jp *j) {
  return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory reading the header", j->path);
}

/* "__metadata__": {"key": "value", ...} */
static astrt_status parse_meta(jp *j, st_parsed *ps) {
  if (ps->seen_meta) return bad_file(j->path, "the header has two \"__metadata__\" entries");
  ps->seen_meta = 1;
  astrt_status st = expect(j, '{', "'{' starting the \"__metadata__\" object");
  if (st || accept(j, '}')) return st;
  do {
    if (grow_meta(ps)) return out_of_memory(j);
    char *key, *value;
    if ((st = parse_string(j, "a metadata key (a string)", &key))) return st;
    st = expect(j, ':', "':' after a metadata key");
    if (!st) st = parse_string(j, "a string value (metadata maps strings to strings)", &value);
    if (st) {
      free(key);
      return st;
    }
    ps->keys[ps->nmeta] = key;
    ps->values[ps->nmeta++] = value;
  } while (accept(j, ','));
  return expect(j, '}', "',' or '}' in the \"__metadata__\" object");
}

enum { FIELD_DTYPE = 1, FIELD_SHAPE = 2, FIELD_OFFSETS = 4 };

/* One field of a tensor entry; *seen collects the FIELD_* read so far. */
static astrt_status parse_field(jp *j, astrt_st_tensor *t, int64_t off[2], int *seen) {
  char *key;
  astrt_status st = parse_string(j, "a field name (\"dtype\", \"shape\" or \"data_offsets\")",
                                 &key);
  if (st) return st;
  int field = strcmp(key, "dtype") == 0          ? FIELD_DTYPE
              : strcmp(key, "shape") == 0        ? FIELD_SHAPE
              : strcmp(key, "data_offsets") == 0 ? FIELD_OFFSETS
                                                 : 0;
  if (!field)
    st = bad_file(j->path, "tensor '%s' has an unknown field \"%.64s\" (expected dtype, "
                  "shape and data_offsets)", t->name, key);
  else if (*seen & field)
    st = bad_file(j->path, "tensor '%s' has two \"%s\" fields", t->name, key);
  free(key);
  if (!st) st = expect(j, ':', "':' after a field name");
  if (st) return st;
  *seen |= field;
  int count;
  if (field == FIELD_DTYPE) {
    char *name;
    if ((st = parse_string(j, "a dtype string such as \"F32\"", &name))) return st;
    t->dtype = dtype_by_name(name);
    if (t->dtype < 0)
      st = bad_file(j->path, "tensor '%s' has dtype \"%.32s\", which this reader does not "
                    "know (known: F32 F16 BF16 F64 I8 I16 I32 I64 U8 U16 U32 U64 BOOL "
                    "F8_E5M2 F8_E4M3)", t->name, name);
    free(name);
  } else if (field == FIELD_SHAPE) {
    if ((st = parse_ints(j, t->dims, ASTRT_MAX_RANK, &count))) return st;
    if (count > ASTRT_MAX_RANK)
      return bad_file(j->path, "tensor '%s' has more than %d dimensions, more than this "
                      "reader supports", t->name, ASTRT_MAX_RANK);
    t->rank = count;
    for (int d = 0; d < count; d++)
      if (t->dims[d] < 0)
        return bad_file(j->path, "tensor '%s' has dimension %d of size %lld; sizes must not "
                        "be negative", t->name, d, (long long)t->dims[d]);
  } else {
    if ((st = parse_ints(j, off, 2, &count))) return st;
    if (count != 2)
      return bad_file(j->path, "tensor '%s' has %s%d data_offsets; expected 2 ([begin, end])",
                      t->name, count > 2 ? "more than " : "", count > 2 ? 2 : count);
    if (off[0] < 0 || off[1] < 0)
      return bad_file(j->path, "tensor '%s' has negative data_offsets [%lld, %lld]", t->name,
                      (long long)off[0], (long long)off[1]);
  }
  return st;
}

/* "NAME": {"dtype": ..., "shape": [...], "data_offsets": [b, e]}; takes name. */
static astrt_status parse_tensor(jp *j, st_parsed *ps, char *name) {
  if (grow_tensors(ps)) {
    free(name);
    return out_of_memory(j);
  }
  astrt_st_tensor *t = &ps->t[ps->n];
  int64_t *off = ps->off[ps->n];
  memset(t, 0, sizeof *t);
  t->name = name;
  ps->n++;
  astrt_status st = expect(j, '{', "'{' starting a tensor entry");
  if (st) return st;
  int seen = 0;
  if (!accept(j, '}')) {
    do {
      if ((st = parse_field(j, t, off, &seen))) return st;
    } while (accept(j, ','));
    if ((st = expect(j, '}', "',' or '}' in a tensor entry"))) return st;
  }
  if (seen != (FIELD_DTYPE | FIELD_SHAPE | FIELD_OFFSETS))
    return bad_file(j->path, "tensor '%s' lacks its \"%s\" field", t->name,
                    !(seen & FIELD_DTYPE) ? "dtype"
                    : !(seen & FIELD_SHAPE) ? "shape" : "data_offsets");
  return ASTRT_OK;
}

static astrt_status parse_header(jp *j, st_parsed *ps) {
  if (j->p >= j->end || *j->p != '{')
    return bad_json(j, "'{' as the first byte of the header");
  j->p++;
  astrt_status st = ASTRT_OK;
  if (!accept(j, '}')) {
    do {
      char *key;
      if ((st = parse_string(j, "a tensor name (a string)", &key))) return st;
      if ((st = expect(j, ':', "':' after a tensor name"))) {
        free(key);
        return st;
      }
      if (strcmp(key, "__metadata__") == 0) {
        free(key);
        st = parse_meta(j, ps);
      } else {
        st = parse_tensor(j, ps, key);
      }
      if (st) return st;
    } while (accept(j, ','));
    if ((st = expect(j, '}', "',' or '}' in the header object"))) return st;
  }
  skip_ws(j);
  if (j->p < j->end) return bad_json(j, "only spaces after the header object");
  return ASTRT_OK;
}

/* ---- reading: checks ---------------------------------------------------- */

typedef struct span {
  int64_t begin, end;
  int ix;
} span;

static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->begin != y->begin) return (x->begin > y->begin) - (x->begin < y->begin);
  if (x->end != y->end) return (x->end > y->end) - (x->end < y->end);
  return (x->ix > y->ix) - (x->ix < y->ix);
}

/* Checks each tensor's size against its offsets. */
static astrt_status check_sizes(const char *path, const st_parsed *ps, int64_t data_size) {
  int64_t max_end = 0;
  for (int i = 0; i < ps->n; i++) {
    const astrt_st_tensor *t = &ps->t[i];
    const int64_t *off = ps->off[i];
    char shape[160];
    fmt_shape(t->rank, t->dims, shape, sizeof shape);
    int64_t n, bytes;
    if (shape_numel(t->rank, t->dims, &n) ||
        __builtin_mul_overflow(n, (int64_t)dtypes[t->dtype].size, &bytes))
      return bad_file(path, "tensor '%s' has shape %s, more bytes than fit in 64 bits",
                      t->name, shape);
    if (off[1] < off[0])
      return bad_file(path, "tensor '%s' has data_offsets [%lld, %lld], which end before "
                      "they begin", t->name, (long long)off[0], (long long)off[1]);
    if (off[1] - off[0] != bytes)
      return bad_file(path, "tensor '%s' (%s %s) needs %lld bytes but its data_offsets "
                      "[%lld, %lld] hold %lld", t->name, dtypes[t->dtype].name, shape,
                      (long long)bytes, (long long)off[0], (long long)off[1],
                      (long long)(off[1] - off[0]));
    if (off[1] > max_end) max_end = off[1];
  }
  if (max_end > data_size)
    return bad_file(path, "truncated: header says %lld bytes of data, file has %lld",
                    (long long)max_end, (long long)data_size);
  return ASTRT_OK;
}

/* Checks that the offsets tile [0, data_size); order[] gets the tensors in
 * data order. */
static astrt_status check_coverage(const char *path, const st_parsed *ps, int64_t data_size,
                                   int *order) {
  span *s = malloc((size_t)(ps->n > 0 ? ps->n : 1) * sizeof *s);
  if (!s) return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory", path);
  for (int i = 0; i < ps->n; i++) s[i] = (span){ps->off[i][0], ps->off[i][1], i};
  qsort(s, (size_t)ps->n, sizeof *s, cmp_span);
  astrt_status st = ASTRT_OK;
  int64_t pos = 0;
  for (int i = 0; !st && i < ps->n; i++) {
    const char *name = ps->t[s[i].ix].name;
    if (s[i].begin > pos)
      st = bad_file(path, "gap in the data: bytes [%lld, %lld) belong to no tensor (the "
                    "next is '%s' at [%lld, %lld))", (long long)pos, (long long)s[i].begin,
                    name, (long long)s[i].begin, (long long)s[i].end);
    else if (s[i].begin < pos)
      st = bad_file(path, "tensors '%s' [%lld, %lld) and '%s' [%lld, %lld) overlap",
                    ps->t[s[i - 1].ix].name, (long long)s[i - 1].begin,
                    (long long)s[i - 1].end, name, (long long)s[i].begin,
                    (long long)s[i].end);
    pos = s[i].end;
    order[i] = s[i].ix;
  }
  if (!st && pos < data_size)
    st = bad_file(path, "the data has %lld bytes after the last tensor (the tensors cover "
                  "%lld of %lld)", (long long)(data_size - pos), (long long)pos,
                  (long long)data_size);
  free(s);
  return st;
}

/* ---- reading ------------------------------------------------------------ */

/* Moves what ps holds into out, tensors in data order, and points each
 * tensor at its data. */
static astrt_status take(st_parsed *ps, const int *order, unsigned char *data,
                         const char *path, astrt_st_file *out) {
  out->tensors = malloc((size_t)(ps->n > 0 ? ps->n : 1) * sizeof *out->tensors);
  out->by_name_ = malloc((size_t)(ps->n > 0 ? ps->n : 1) * sizeof *out->by_name_);
  name_ix *v = malloc((size_t)(ps->n > 0 ? ps->n : 1) * sizeof *v);
  if (!out->tensors || !out->by_name_ || !v) {
    free(v);
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory", path);
  }
  for (int i = 0; i < ps->n; i++) {
    astrt_st_tensor *t = &out->tensors[i];
    *t = ps->t[order[i]];
    t->data = data + ps->off[order[i]][0];
    if (!host_little_endian())
      swap_elements(data + ps->off[order[i]][0],
                    (size_t)(ps->off[order[i]][1] - ps->off[order[i]][0]),
                    dtypes[t->dtype].size);
    v[i] = (name_ix){t->name, i};
  }
  out->ntensors = ps->n;
  sort_names(v, ps->n);
  for (int i = 0; i < ps->n; i++) out->by_name_[i] = v[i].ix;
  free(v);
  out->nmeta = ps->nmeta;
  out->meta_keys = ps->keys;
  out->meta_values = ps->values;
  free(ps->t);
  free(ps->off);
  memset(ps, 0, sizeof *ps);
  return ASTRT_OK;
}

/* Checks that names and metadata keys are unique. */
static astrt_status check_unique(const char *path, const st_parsed *ps) {
  int most = ps->n > ps->nmeta ? ps->n : ps->nmeta;
  name_ix *v = malloc((size_t)(most > 0 ? most : 1) * sizeof *v);
  if (!v) return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory", path);
  for (int i = 0; i < ps->n; i++) v[i] = (name_ix){ps->t[i].name, i};
  const char *dup = sort_names(v, ps->n);
  astrt_status st = ASTRT_OK;
  if (dup) st = bad_file(path, "the header names tensor '%s' twice", dup);
  for (int i = 0; !st && i < ps->nmeta; i++) v[i] = (name_ix){ps->keys[i], i};
  if (!st && (dup = sort_names(v, ps->nmeta)))
    st = bad_file(path, "the metadata has key '%s' twice", dup);
  free(v);
  return st;
}

/* The header length from the first 8 bytes, checked against the file. */
static astrt_status header_length(const char *path, const unsigned char *buf, size_t size,
                                  uint64_t *n) {
  if (size < 8)
    return bad_file(path, "truncated: the file has %zu bytes, fewer than the 8 of the "
                    "header length", size);
  *n = 0;
  for (int i = 7; i >= 0; i--) *n = *n << 8 | buf[i];
  if (*n > ST_MAX_HEADER)
    return bad_file(path, "the header length is %llu bytes, more than the %d allowed",
                    (unsigned long long)*n, ST_MAX_HEADER);
  if (*n > size - 8)
    return bad_file(path, "truncated: the header length is %llu bytes but the file has "
                    "only %zu after it", (unsigned long long)*n, size - 8);
  if (*n < 2)
    return bad_file(path, "the header length is %llu bytes, too short for a JSON object",
                    (unsigned long long)*n);
  return ASTRT_OK;
}

astrt_status astrt_safetensors_read(const char *path, astrt_st_file *out) {
  memset(out, 0, sizeof *out);
  if (!path || !*path)
    return astrt_fail(ASTRT_ERR_ARG, "astrt_safetensors_read: no file name given");
  char *buf;
  size_t size;
  astrt_status st = astrt_data_read_file(path, &buf, &size);
  if (st) return st;
  uint64_t hlen = 0;
  st = header_length(path, (unsigned char *)buf, size, &hlen);
  st_parsed ps = {0};
  int64_t data_size = 0;
  if (!st) {
    jp j = {buf + 8, buf + 8, buf + 8 + hlen, path};
    st = parse_header(&j, &ps);
    data_size = (int64_t)(size - 8 - hlen);
  }
  if (!st) st = check_unique(path, &ps);
  if (!st) st = check_sizes(path, &ps, data_size);
  int *order = NULL;
  if (!st) {
    order = malloc((size_t)(ps.n > 0 ? ps.n : 1) * sizeof *order);
    if (!order) st = astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory", path);
  }
  if (!st) st = check_coverage(path, &ps, data_size, order);
  if (!st) st = take(&ps, order, (unsigned char *)buf + 8 + hlen, path, out);
  free(order);
  parsed_free(&ps);
  if (st) {
    astrt_st_file_free(out);
    free(buf);
    return st;
  }
  out->bytes_ = (unsigned char *)buf;
  return ASTRT_OK;
}

void astrt_st_file_free(astrt_st_file *f) {
  if (!f) return;
  for (int i = 0; f->tensors && i < f->ntensors; i++) free((void *)f->tensors[i].name);
  for (int i = 0; i < f->nmeta; i++) {
    free(f->meta_keys[i]);
    free(f->meta_values[i]);
  }
  free(f->tensors);
  free(f->meta_keys);
  free(f->meta_values);
  free(f->by_name_);
  free(f->bytes_);
  memset(f, 0, sizeof *f);
}

const astrt_st_tensor *astrt_st_find(const astrt_st_file *f, const char *name) {
  int lo = 0, hi = f->ntensors;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    const astrt_st_tensor *t = &f->tensors[f->by_name_[mid]];
    int c = strcmp(t->name, name);
    if (c == 0) return t;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const char *astrt_st_meta(const astrt_st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
  return NULL;
}
