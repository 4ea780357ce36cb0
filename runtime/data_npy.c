/* data_npy.c — NumPy .npy files (astrt_load_npy_array, astrt_load_npy).
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length
 * (little-endian u16 for 1.0, u32 for 2.0 and 3.0), then the header, a
 * Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
 * and then the data. Accepted: C order, little-endian (or byte-order-free)
 * dtypes b1 u1 i1 i2 u2 i4 u4 i8 u8 f4 f8 ('=' is read as little-endian).
 * u1 and b1 become U8 (scale 1), the other integers I32 (range-checked),
 * the floats F32 (finite values in float range only). The first dimension
 * counts the examples. Bytes after the data are rejected. The labels of
 * astrt_load_npy_classes (a data set of classes) may be floats too: whole
 * numbers (2.0 is the class 2), checked as the file holds them, become I32;
 * anything else is refused naming the dtype.
 */
#include "astrt.h"
#include "data_internal.h"

#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_RANK (ASTRT_MAX_RANK + 1)

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

typedef struct npy_header {
  char descr[16];
  char kind;                    /* 'b', 'i', 'u' or 'f'      */
  int size;                     /* bytes per element         */
  int fortran;
  int ndim;
  int64_t shape[NPY_MAX_RANK];
  uint64_t count;               /* elements                  */
  int seen;                     /* KEY_* found in the header */
} npy_header;

typedef struct cursor {
  const char *start, *p, *end;  /* the header text */
  const char *path;
} cursor;

/* ---- header dict -------------------------------------------------------- */

static astrt_status syntax(const cursor *c, const char *expected) {
  int len = (int)(c->end - c->start);
  return astrt_fail(ASTRT_ERR_FORMAT,
                    "%s: bad .npy header at byte %d: expected %s (header: "
                    "%.*s); re-create the file with numpy.save",
                    c->path, (int)(c->p - c->start), expected,
                    len > 120 ? 120 : len, c->start);
}

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
                           *c->p == '\r'))
    c->p++;
}

static int accept(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* Is the next non-blank character ch? (Does not consume it.) */
static int peek(cursor *c, char ch) {
  skip_ws(c);
  return c->p < c->end && *c->p == ch;
}

static astrt_status parse_string(cursor *c, char *buf, size_t cap) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
    return syntax(c, "a quoted string");
  char quote = *c->p++;
  const char *s = c->p;
  while (c->p < c->end && *c->p != quote) c->p++;
  if (c->p >= c->end) return syntax(c, "a closing quote");
  size_t len = (size_t)(c->p - s);
  c->p++;
  if (len >= cap) return syntax(c, "a shorter string");
  memcpy(buf, s, len);
  buf[len] = '\0';
  return ASTRT_OK;
}

static astrt_status parse_bool(cursor *c, int *v) {
  skip_ws(c);
  size_t left = (size_t)(c->end - c->p);
  if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
    *v = 1;
    c->p += 4;
  } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
    *v = 0;
    c->p += 5;
  } else {
    return syntax(c, "True or False");
  }
  return ASTRT_OK;
}

static astrt_status parse_dim(cursor *c, int64_t *v) {
  skip_ws(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9')
    return syntax(c, "a dimension (a non-negative integer)");
  *v = 0;
  for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
    *v = *v * 10 + (*c->p - '0');
    if (*v > ASTRT_DATA_MAX_ELEMS) return syntax(c, "a smaller dimension");
  }
  if (c->p < c->end && *c->p == 'L') c->p++;  /* Python 2 long */
  return ASTRT_OK;
}

static astrt_status parse_shape(cursor *c, npy_header *h) {
  if (!accept(c, '(')) return syntax(c, "'(' starting the shape");
  while (!accept(c, ')')) {
    if (h->ndim == NPY_MAX_RANK)
      return astrt_fail(ASTRT_ERR_FORMAT,
                        "%s: the array has more than %d dimensions "
                        "(supported: 1 to %d)",
                        c->path, NPY_MAX_RANK, NPY_MAX_RANK);
    astrt_status st = parse_dim(c, &h->shape[h->ndim++]);
    if (st) return st;
    if (!accept(c, ',') && !peek(c, ')'))
      return syntax(c, "',' or ')' in the shape");
  }
  return ASTRT_OK;
}

static astrt_status parse_value(cursor *c, const char *key, npy_header *h) {
  int bit = strcmp(key, "descr") == 0           ? KEY_DESCR
            : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
            : strcmp(key, "shape") == 0         ? KEY_SHAPE
                                                : 0;
  if (!bit || (h->seen & bit))
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: bad .npy header: %s key '%s' (expected exactly "
                      "'descr', 'fortran_order' and 'shape')",
                      c->path, bit ? "repeated" : "unexpected", key);
  h->seen |= bit;
  if (bit == KEY_FORTRAN) return parse_bool(c, &h->fortran);
  if (bit == KEY_SHAPE) return parse_shape(c, h);
  if (peek(c, '['))
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: structured dtypes are not supported; save a plain "
                      "numeric array",
                      c->path);
  return parse_string(c, h->descr, sizeof h->descr);
}

static astrt_status parse_dict(cursor *c, npy_header *h) {
  if (!accept(c, '{')) return syntax(c, "'{'");
  while (!accept(c, '}')) {
    char key[32];
    astrt_status st = parse_string(c, key, sizeof key);
    if (!st && !accept(c, ':')) st = syntax(c, "':'");
    if (!st) st = parse_value(c, key, h);
    if (st) return st;
    if (!accept(c, ',') && !peek(c, '}'))
      return syntax(c, "',' or '}'");
  }
  skip_ws(c);
  if (c->p != c->end) return syntax(c, "the end of the header after '}'");
  static const char *const names[3] = {"descr", "fortran_order", "shape"};
  for (int i = 0; i < 3; i++)
    if (!(h->seen & (1 << i)))
      return astrt_fail(ASTRT_ERR_FORMAT, "%s: bad .npy header: no '%s' key",
                        c->path, names[i]);
  return ASTRT_OK;
}

/* ---- header checks ------------------------------------------------------ */

static int supported_dtype(char kind, int size) {
  switch (kind) {
  case 'b': return size == 1;
  case 'u': case 'i': return size == 1 || size == 2 || size == 4 || size == 8;
  case 'f': return size == 4 || size == 8;
  default: return 0;
  }
}

static astrt_status check_dtype(const char *path, npy_header *h) {
  const char *d = h->descr;
  char order = d[0];
  char *end = NULL;
  long size = order && d[1] && d[2] >= '0' && d[2] <= '9'
                  ? strtol(d + 2, &end, 10)
                  : 0;
  if (!strchr("<>|=", order) || !order || !end || *end ||
      !supported_dtype(d[1], (int)size))
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: unsupported dtype '%s' (supported: |u1 |i1 |b1 "
                      "<i2 <u2 <i4 <u4 <i8 <u8 <f4 <f8); convert it, e.g. "
                      "a.astype('<f4')",
                      path, d);
  if (order == '>' && size > 1)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: big-endian dtype '%s' is not supported; save it "
                      "little-endian: a.astype(a.dtype.newbyteorder('<'))",
                      path, d);
  h->kind = d[1];
  h->size = (int)size;
  return ASTRT_OK;
}

static astrt_status check_shape(const char *path, npy_header *h) {
  if (h->fortran)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: fortran_order is True; save the array in C order: "
                      "numpy.save(path, numpy.ascontiguousarray(a))",
                      path);
  if (h->ndim == 0)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: the array is a scalar (shape ()); the first "
                      "dimension must count the examples",
                      path);
  /* the non-zero dimensions are bounded too: an array with no examples must
   * still have examples whose size can be computed */
  uint64_t nonzero = 1;
  int empty = 0;
  for (int i = 0; i < h->ndim; i++) {
    uint64_t d = (uint64_t)h->shape[i];
    if (d && nonzero > (uint64_t)ASTRT_DATA_MAX_ELEMS / d)
      return astrt_fail(ASTRT_ERR_FORMAT,
                        "%s: the shape in the header gives more than 2^40 "
                        "elements; the header is corrupt",
                        path);
    if (d) nonzero *= d;
    else empty = 1;
  }
  h->count = empty ? 0 : nonzero;
  return ASTRT_OK;
}

/* ---- file layout -------------------------------------------------------- */

static uint64_t le(const unsigned char *p, int size) {
  uint64_t v = 0;
  for (int i = size - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* Checks magic and version; sets the header's offset and length. */
static astrt_status read_preamble(const char *path, const unsigned char *buf,
                                  size_t len, size_t *off, size_t *hlen) {
  if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0)  /* a zip archive: numpy.savez */
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: a .npz archive (numpy.savez), which astc does not read; save each array "
                      "with numpy.save to a .npy file of its own",
                      path);
  if (len < 6 || memcmp(buf, "\x93NUMPY", 6) != 0)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: not a NumPy .npy file (it does not start with "
                      "\\x93NUMPY)",
                      path);
  if (len < 10)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: truncated: %zu bytes, too short for a .npy header",
                      path, len);
  int major = buf[6], minor = buf[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: unsupported .npy format version %d.%d (supported: "
                      "1.0, 2.0, 3.0)",
                      path, major, minor);
  *off = major >= 2 ? 12 : 10;
  if (len < *off)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: truncated: %zu bytes, too short for a .npy header",
                      path, len);
  *hlen = (size_t)le(buf + 8, major >= 2 ? 4 : 2);
  if (*hlen > len - *off)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: truncated: the header claims %zu bytes, the file "
                      "has %zu after the preamble",
                      path, *hlen, len - *off);
  return ASTRT_OK;
}

static astrt_status check_data_size(const char *path, const npy_header *h,
                                    size_t avail) {
  uint64_t want = h->count * (uint64_t)h->size;
  if (avail == want) return ASTRT_OK;
  char hint[128];
  astrt_data_fix_hint(path, hint, sizeof hint);
  if (avail < want)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: truncated: header promises %llu bytes of data, "
                      "file has %zu (%s)",
                      path, (unsigned long long)want, avail, hint);
  return astrt_fail(ASTRT_ERR_FORMAT,
                    "%s: %zu bytes of data follow the header, which promises "
                    "%llu; the header and the file disagree",
                    path, avail, (unsigned long long)want);
}

/* Parses and checks everything before the data; *data_off is where the
 * data starts. */
static astrt_status parse_file(const char *path, const unsigned char *buf,
                               size_t len, npy_header *h, size_t *data_off) {
  memset(h, 0, sizeof *h);
  size_t off = 0, hlen = 0;
  astrt_status st = read_preamble(path, buf, len, &off, &hlen);
  if (st) return st;
  const char *text = (const char *)buf + off;
  cursor c = {text, text, text + hlen, path};
  if ((st = parse_dict(&c, h))) return st;
  if ((st = check_dtype(path, h))) return st;
  if ((st = check_shape(path, h))) return st;
  *data_off = off + hlen;
  return check_data_size(path, h, len - *data_off);
}

/* ---- conversion --------------------------------------------------------- */

static astrt_status convert_floats(const npy_header *h,
                                   const unsigned char *src, float *dst,
                                   const char *path) {
  for (uint64_t i = 0; i < h->count; i++) {
    uint64_t bits = le(src + i * (uint64_t)h->size, h->size);
    double v;
    if (h->size == 4) {
      uint32_t b32 = (uint32_t)bits;
      float f;
      memcpy(&f, &b32, 4);
      v = f;
    } else {
      memcpy(&v, &bits, 8);
    }
    if (!isfinite(v) || fabs(v) > FLT_MAX)
      return astrt_fail(ASTRT_ERR_FORMAT,
                        "%s: element %llu is %g; data sets must hold finite "
                        "float32 values",
                        path, (unsigned long long)i, v);
    dst[i] = (float)v;
  }
  return ASTRT_OK;
}

/* The element at p as a signed value; *ok = 0 if it exceeds int64. */
static int64_t int_at(const unsigned char *p, const npy_header *h, int *ok) {
  uint64_t u = le(p, h->size);
  int bits = 8 * h->size;
  *ok = 1;
  if (h->kind != 'i') {
    if (u > INT64_MAX) *ok = 0;
    return (int64_t)(u & INT64_MAX);
  }
  if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~(uint64_t)0 << bits;
  return (int64_t)u;
}

static astrt_status convert_ints(const npy_header *h, const unsigned char *src,
                                 int32_t *dst, const char *path) {
  for (uint64_t i = 0; i < h->count; i++) {
    int ok;
    int64_t v = int_at(src + i * (uint64_t)h->size, h, &ok);
    if (!ok || v < INT32_MIN || v > INT32_MAX)
      return astrt_fail(ASTRT_ERR_FORMAT,
                        "%s: element %llu does not fit in a 32-bit integer",
                        path, (unsigned long long)i);
    dst[i] = (int32_t)v;
  }
  return ASTRT_OK;
}

/* "'<f8' (float64)" */
static const char *dtype_text(const npy_header *h, char *buf, size_t cap) {
  const char *kind = h->kind == 'f' ? "float" : h->kind == 'i' ? "int" : h->kind == 'u' ? "uint" : "bool";
  if (h->kind == 'b') snprintf(buf, cap, "'%s' (bool)", h->descr);
  else snprintf(buf, cap, "'%s' (%s%d)", h->descr, kind, 8 * h->size);
  return buf;
}

/* Float class labels: each must be a whole number in [0, 2^31), as 2.0 is
 * the class 2; checked on the values in the file, before any rounding to
 * float32. */
static astrt_status convert_float_labels(const npy_header *h, const unsigned char *src, int32_t *dst,
                                         const char *path) {
  for (uint64_t i = 0; i < h->count; i++) {
    uint64_t bits = le(src + i * (uint64_t)h->size, h->size);
    double v;
    if (h->size == 4) {
      uint32_t b32 = (uint32_t)bits;
      float f;
      memcpy(&f, &b32, 4);
      v = f;
    } else {
      memcpy(&v, &bits, 8);
    }
    if (!(v >= 0 && v <= INT32_MAX && v == floor(v))) {
      char dt[48];
      return astrt_fail(ASTRT_ERR_FORMAT,
                        "%s: the labels are of dtype %s, and label %llu is %.17g, which is not a class: class "
                        "labels are whole numbers 0, 1, 2, ... (floats such as 2.0 are read as the class 2); "
                        "%s",
                        path, dtype_text(h, dt, sizeof dt), (unsigned long long)i, v,
                        v == floor(v) || !isfinite(v)
                            ? "fix the labels, e.g. numpy.save(path, y.astype('int64'))"
                            : "for real-valued targets (a regression) declare the data without classes");
    }
    dst[i] = (int32_t)v;
  }
  return ASTRT_OK;
}

/* labels: float dtypes hold class labels and become I32 */
static astrt_status convert(const npy_header *h, const unsigned char *src,
                            astrt_array *out, const char *path, int labels) {
  astrt_elem elem = h->kind == 'f' && !labels ? ASTRT_ELEM_F32
                    : h->size == 1 && h->kind != 'i' && h->kind != 'f' ? ASTRT_ELEM_U8
                                                                         : ASTRT_ELEM_I32;
  astrt_status st = astrt_data_alloc(out, elem, h->ndim - 1, h->shape + 1,
                                     h->shape[0], path);
  if (st) return st;
  if (elem == ASTRT_ELEM_U8) memcpy(out->data, src, (size_t)h->count);
  else if (elem == ASTRT_ELEM_F32) st = convert_floats(h, src, out->data, path);
  else if (h->kind == 'f') st = convert_float_labels(h, src, out->data, path);
  else st = convert_ints(h, src, out->data, path);
  if (st) astrt_array_free(out);
  return st;
}

/* ---- public ------------------------------------------------------------- */

/* A file too large for memory whose data is already uint8 or float32:
 * mapped once, parsed and its floats checked there (one pass over the
 * file), and kept mapped as the array. *done = 0 when the
 * file is read as usual instead. */
static astrt_status map_file(const char *path, astrt_array *out, int *done) {
  *done = 0;
  FILE *f;
  astrt_status st = astrt_data_open(path, &f);
  if (st) return st;
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 10 ||
      (uint64_t)sb.st_size > SIZE_MAX / 2 || !astrt_data_should_map((int64_t)sb.st_size)) {
    fclose(f);
    return ASTRT_OK;
  }
  size_t len = (size_t)sb.st_size, off = 0;
  void *map;
  st = astrt_data_map(f, path, len, &map);
  fclose(f);
  if (st) return ASTRT_OK;  /* read it: the memory check says what is wrong */
  npy_header h;
  st = parse_file(path, map, len, &h, &off);
  bool zero_copy = !st && (h.kind == 'f' ? h.size == 4 : h.size == 1 && h.kind != 'i') && off % 4 == 0;
  if (!st && h.kind == 'f' && zero_copy) {
    const unsigned char *src = (const unsigned char *)map + off;
    for (uint64_t i = 0; i < h.count && !st; i++) {
      float v;
      memcpy(&v, src + 4 * i, 4);
      if (!isfinite(v))
        st = astrt_fail(ASTRT_ERR_FORMAT, "%s: element %llu is %g; data sets must hold finite float32 values", path,
                        (unsigned long long)i, (double)v);
    }
  }
  if (st || !zero_copy) {
    astrt_data_release(map);
    return st;
  }
  astrt_data_mapped_note(path, len);
  out->elem = h.kind == 'f' ? ASTRT_ELEM_F32 : ASTRT_ELEM_U8;
  out->rank = h.ndim - 1;
  for (int i = 1; i < h.ndim; i++) out->dims[i - 1] = h.shape[i];
  out->n = h.shape[0];
  out->data = (unsigned char *)map + off;
  out->scale = 1.0f;
  out->shift = 0.0f;
  *done = 1;
  return ASTRT_OK;
}

/* labels: the array holds class labels (float dtypes become I32) */
static astrt_status load_array(const char *path, astrt_array *out, int labels) {
  memset(out, 0, sizeof *out);
  int mapped = 0;
  astrt_status st0 = labels ? ASTRT_OK : map_file(path, out, &mapped);
  if (st0 || mapped) return st0;
  char *buf;
  size_t len, off = 0;
  astrt_status st = astrt_data_read_file(path, &buf, &len);
  if (st) return st;
  npy_header h;
  const unsigned char *bytes = (const unsigned char *)buf;
  st = parse_file(path, bytes, len, &h, &off);
  if (!st) st = convert(&h, bytes + off, out, path, labels);
  free(buf);
  return st;
}

astrt_status astrt_load_npy_array(const char *path, astrt_array *out) { return load_array(path, out, 0); }

/* labels: y holds class labels, float dtypes included */
static astrt_status load_split(const char *x_path, const char *y_path, astrt_split *out, int labels) {
  memset(out, 0, sizeof *out);
  astrt_status st = astrt_load_npy_array(x_path, &out->x);
  if (!st) st = load_array(y_path, &out->y, labels);
  if (!st) st = astrt_data_same_count(&out->x, x_path, &out->y, y_path);
  if (!st) st = astrt_data_features(&out->x, x_path);
  if (!st) st = astrt_data_labels(&out->y, y_path, &out->num_classes);
  if (st) astrt_split_free(out);
  return st;
}

astrt_status astrt_load_npy(const char *x_path, const char *y_path, astrt_split *out) {
  return load_split(x_path, y_path, out, 0);
}

astrt_status astrt_load_npy_classes(const char *x_path, const char *y_path, astrt_split *out) {
  return load_split(x_path, y_path, out, 1);
}
