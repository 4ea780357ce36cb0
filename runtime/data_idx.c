/* data_idx.c — IDX files, the format of MNIST and its relatives:
 * astrt_load_idx_array, astrt_load_idx and astrt_load_idx_dir.
 *
 * Format (big-endian): magic 00 00 TT RR (element type TT, rank RR), RR
 * unsigned 32-bit dimensions, then the elements in row-major order. The
 * first dimension counts the examples. Types: 0x08 u8, 0x09 i8, 0x0B i16,
 * 0x0C i32, 0x0D f32, 0x0E f64. u8 becomes U8, the integer types I32 and
 * the float types F32 (non-finite values are rejected).
 *
 * A file starting with the gzip magic 1f 8b is read through zlib, any other
 * file directly; an uncompressed u8 file too large for memory is mapped
 * instead (astrt_data_map). The data is read into a buffer that grows as it arrives,
 * so a corrupt header cannot make us allocate more than the file holds.
 * Bytes after the data the header promises are rejected: they mean the
 * header and the file disagree.
 */
#include "astrt.h"
#include "data_internal.h"
#include "robust.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAX_RANK (ASTRT_MAX_RANK + 1)

typedef struct idx_file {
  const char *path;
  FILE *raw;        /* set for uncompressed files  */
  gzFile gz;        /* set for gzip-compressed ones */
  int gz_cut;       /* the gzip stream ended early  */
} idx_file;

typedef struct idx_header {
  int type;
  int rank;                       /* file rank, including the example dim */
  int64_t dims[IDX_MAX_RANK];
  size_t type_size;
  uint64_t count;                 /* elements in the file  */
  uint64_t bytes;                 /* bytes of data promised */
} idx_header;

/* ---- reading ------------------------------------------------------------ */

static astrt_status idx_open(idx_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  f->path = path;
  astrt_status st = astrt_data_open(path, &f->raw);
  if (st) return st;
  unsigned char magic[2] = {0, 0};
  size_t got = fread(magic, 1, 2, f->raw);
  if (got < 2 || magic[0] != 0x1f || magic[1] != 0x8b) {
    rewind(f->raw);
    return ASTRT_OK;
  }
  fclose(f->raw);
  f->raw = NULL;
  errno = 0;
  f->gz = gzopen(path, "rb");
  if (!f->gz)
    return astrt_fail(ASTRT_ERR_IO, "%s: cannot open: %s", path,
                      errno ? strerror(errno) : "out of memory");
  gzbuffer(f->gz, 1 << 17);
  return ASTRT_OK;
}

static void idx_close(idx_file *f) {
  if (f->raw) fclose(f->raw);
  if (f->gz) gzclose(f->gz);
  f->raw = NULL;
  f->gz = NULL;
}

static astrt_status gz_error(idx_file *f) {
  int code = Z_OK;
  const char *msg = gzerror(f->gz, &code);
  if (code == Z_ERRNO)
    return astrt_fail(ASTRT_ERR_IO, "%s: read error: %s", f->path,
                      strerror(errno));
  char hint[128];
  astrt_data_fix_hint(f->path, hint, sizeof hint);
  return astrt_fail(ASTRT_ERR_FORMAT, "%s: corrupt gzip data (%s); %s",
                    f->path, msg, hint);
}

/* One read of at most len bytes; *got = 0 at the end of the file. */
static astrt_status idx_read_some(idx_file *f, void *buf, size_t len,
                                  size_t *got) {
  *got = 0;
  if (f->raw) {
    *got = fread(buf, 1, len, f->raw);
    if (*got == 0 && ferror(f->raw))
      return astrt_fail(ASTRT_ERR_IO, "%s: read error: %s", f->path,
                        strerror(errno));
    return ASTRT_OK;
  }
  int n = gzread(f->gz, buf, (unsigned)(len < (1u << 30) ? len : 1u << 30));
  if (n < 0) return gz_error(f);
  *got = (size_t)n;
  if (n == 0) {
    int code = Z_OK;
    gzerror(f->gz, &code);
    if (code == Z_BUF_ERROR) f->gz_cut = 1;
    else if (code != Z_OK) return gz_error(f);
  }
  return ASTRT_OK;
}

/* Reads up to len bytes, stopping early only at the end of the file. */
static astrt_status idx_read(idx_file *f, void *buf, size_t len,
                             size_t *got) {
  *got = 0;
  while (*got < len) {
    size_t n = 0;
    astrt_status st = idx_read_some(f, (char *)buf + *got, len - *got, &n);
    if (st) return st;
    if (n == 0) break;
    *got += n;
  }
  return ASTRT_OK;
}

/* ---- header ------------------------------------------------------------- */

static size_t type_size(int type) {
  switch (type) {
  case 0x08: case 0x09: return 1;
  case 0x0B: return 2;
  case 0x0C: case 0x0D: return 4;
  case 0x0E: return 8;
  default: return 0;
  }
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static void dims_string(const idx_header *h, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < h->rank && used < cap; i++) {
    int w = snprintf(buf + used, cap - used, "%s%lld", i ? "x" : "",
                     (long long)h->dims[i]);
    if (w < 0) return;
    used += (size_t)w;
  }
}

static astrt_status truncated_header(idx_file *f, size_t have, size_t need) {
  char hint[128];
  astrt_data_fix_hint(f->path, hint, sizeof hint);
  return astrt_fail(ASTRT_ERR_FORMAT,
                    "%s: truncated: the file has %zu bytes, its IDX header "
                    "needs %zu (%s)",
                    f->path, have, need, hint);
}

static astrt_status check_magic(idx_file *f, const unsigned char *m,
                                idx_header *h) {
  if (m[0] != 0 || m[1] != 0)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: not an IDX file: magic %02x %02x %02x %02x, "
                      "expected 00 00 <type> <rank> (is this the right file?)",
                      f->path, m[0], m[1], m[2], m[3]);
  h->type = m[2];
  h->rank = m[3];
  h->type_size = type_size(h->type);
  if (!h->type_size)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: unsupported IDX element type 0x%02x (supported: "
                      "0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, "
                      "0x0E f64)",
                      f->path, h->type);
  if (h->rank < 1 || h->rank > IDX_MAX_RANK)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: unsupported IDX rank %d (supported: 1 to %d)",
                      f->path, h->rank, IDX_MAX_RANK);
  return ASTRT_OK;
}

/* The product of the non-zero dimensions is bounded too: a file with no
 * examples must still have examples whose size can be computed. */
static astrt_status check_size(idx_file *f, idx_header *h) {
  uint64_t count = 1, nonzero = 1;
  int too_big = 0;
  for (int i = 0; i < h->rank; i++) {
    uint64_t d = (uint64_t)h->dims[i];
    if (d && nonzero > (uint64_t)ASTRT_DATA_MAX_ELEMS / d) too_big = 1;
    else if (d) nonzero *= d;
    else count = 0;
  }
  if (count) count = nonzero;
  if (too_big) {
    char dims[128];
    dims_string(h, dims, sizeof dims);
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: header dimensions %s give more than 2^40 "
                      "elements; the header is corrupt",
                      f->path, dims);
  }
  h->count = count;
  h->bytes = count * h->type_size;
  if ((uint64_t)(size_t)h->bytes != h->bytes)
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: %llu bytes of data do not fit "
                      "in memory on this machine", f->path,
                      (unsigned long long)h->bytes);
  return ASTRT_OK;
}

static astrt_status read_header(idx_file *f, idx_header *h) {
  memset(h, 0, sizeof *h);
  unsigned char buf[4 * IDX_MAX_RANK];
  size_t got = 0;
  astrt_status st = idx_read(f, buf, 4, &got);
  if (st) return st;
  if (got < 4) return truncated_header(f, got, 4);
  if ((st = check_magic(f, buf, h))) return st;
  size_t need = 4 * (size_t)h->rank;
  if ((st = idx_read(f, buf, need, &got))) return st;
  if (got < need) return truncated_header(f, 4 + got, 4 + need);
  for (int i = 0; i < h->rank; i++) h->dims[i] = be32(buf + 4 * i);
  return check_size(f, h);
}

/* ---- data --------------------------------------------------------------- */

static astrt_status truncated_data(idx_file *f, uint64_t want, uint64_t got) {
  char hint[128];
  astrt_data_fix_hint(f->path, hint, sizeof hint);
  return astrt_fail(ASTRT_ERR_FORMAT,
                    "%s: truncated: header promises %llu bytes of data, file "
                    "has %llu%s (%s)",
                    f->path, (unsigned long long)want,
                    (unsigned long long)got,
                    f->gz_cut ? "; its gzip stream is cut short" : "", hint);
}

static astrt_status check_no_trailing(idx_file *f, uint64_t want) {
  unsigned char extra;
  size_t got = 0;
  astrt_status st = idx_read(f, &extra, 1, &got);
  if (st) return st;
  if (got == 0) return ASTRT_OK;
  return astrt_fail(ASTRT_ERR_FORMAT,
                    "%s: more data follows the %llu bytes its header "
                    "promises; the header and the file disagree (is this "
                    "the right file?)",
                    f->path, (unsigned long long)want);
}

/* Grows the data buffer towards want bytes: 1 MiB first, then doubling. */
static astrt_status grow_data(idx_file *f, unsigned char **buf, size_t *cap,
                              size_t want) {
  size_t ncap = *cap ? (*cap > want / 2 ? want : 2 * *cap)
                     : (want < ((size_t)1 << 20) ? want : (size_t)1 << 20);
  if (ncap > ((size_t)1 << 24)) {  /* over 8 MB of data has come: the rest is likely real */
    char what[512];
    snprintf(what, sizeof what, "%s: reading its %zu bytes of data", f->path, want);
    astrt_status st = astrt_mem_check((int64_t)want, what, ASTRT_DATA_FIT_HINT);
    if (st) return st;
  }
  unsigned char *nbuf = realloc(*buf, ncap ? ncap : 1);
  if (!nbuf)
    return astrt_fail(ASTRT_ERR_NOMEM,
                      "%s: out of memory reading %zu bytes of data", f->path,
                      want);
  *buf = nbuf;
  *cap = ncap;
  return ASTRT_OK;
}

/* Reads exactly h->bytes of data into a new buffer *out, growing it as the
 * data arrives, and checks that nothing follows. */
static astrt_status read_data(idx_file *f, const idx_header *h,
                              unsigned char **out) {
  size_t want = (size_t)h->bytes, have = 0, cap = 0;
  unsigned char *buf = NULL;
  astrt_status st;
  struct stat sb;
  uint64_t header = 4 + 4 * (uint64_t)h->rank;
  if (f->raw && h->type == 0x08 && fstat(fileno(f->raw), &sb) == 0 && S_ISREG(sb.st_mode) &&
      (uint64_t)sb.st_size == header + h->bytes && astrt_data_should_map((int64_t)h->bytes)) {
    /* u8 bytes are the array itself: map them rather than read them */
    void *base;
    if ((st = astrt_data_map(f->raw, f->path, (size_t)sb.st_size, &base))) return st;
    astrt_data_mapped_note(f->path, (size_t)sb.st_size);
    *out = (unsigned char *)base + header;
    return ASTRT_OK;
  }
  if (f->raw && fstat(fileno(f->raw), &sb) == 0 && (uint64_t)sb.st_size >= h->bytes) {
    /* the file holds what its header promises: refuse it now if it cannot fit
     * (grow_data checks a gzip file, or a truncated one, as the data arrives) */
    char what[512];
    snprintf(what, sizeof what, "%s: reading its %llu bytes of data", f->path, (unsigned long long)h->bytes);
    if ((st = astrt_mem_check((int64_t)want, what, ASTRT_DATA_FIT_HINT))) return st;
  }
  for (;;) {
    size_t got = 0;
    if ((st = grow_data(f, &buf, &cap, want))) break;
    if ((st = idx_read(f, buf + have, cap - have, &got))) break;
    have += got;
    if (have < cap || have == want) break; /* end of file, or done */
  }
  if (!st && have < want) st = truncated_data(f, want, have);
  if (!st) st = check_no_trailing(f, want);
  if (st) {
    free(buf);
    return st;
  }
  *out = buf;
  return ASTRT_OK;
}

/* ---- conversion --------------------------------------------------------- */

static astrt_status not_finite(const char *path, uint64_t i, double v) {
  return astrt_fail(ASTRT_ERR_FORMAT,
                    "%s: element %llu is %g; data sets must hold finite "
                    "float32 values",
                    path, (unsigned long long)i, v);
}

static int32_t int_at(const unsigned char *p, int type) {
  switch (type) {
  case 0x09: return (int8_t)p[0];
  case 0x0B: return (int16_t)(uint16_t)((unsigned)p[0] << 8 | p[1]);
  default: return (int32_t)be32(p);
  }
}

static double float_at(const unsigned char *p, int type) {
  if (type == 0x0D) {
    uint32_t bits = be32(p);
    float v;
    memcpy(&v, &bits, 4);
    return v;
  }
  uint64_t bits = (uint64_t)be32(p) << 32 | be32(p + 4);
  double v;
  memcpy(&v, &bits, 8);
  return v;
}

static astrt_status convert_floats(const idx_header *h,
                                   const unsigned char *raw, float *out,
                                   const char *path) {
  for (uint64_t i = 0; i < h->count; i++) {
    double v = float_at(raw + i * h->type_size, h->type);
    if (!isfinite(v) || fabs(v) > 3.4028234663852886e38)
      return not_finite(path, i, v);
    out[i] = (float)v;
  }
  return ASTRT_OK;
}

static void convert_ints(const idx_header *h, const unsigned char *raw,
                         int32_t *out) {
  for (uint64_t i = 0; i < h->count; i++)
    out[i] = int_at(raw + i * h->type_size, h->type);
}

/* Fills *out from the file's raw data, which it takes over. */
static astrt_status convert(const idx_header *h, unsigned char *raw,
                            astrt_array *out, const char *path) {
  astrt_elem elem = h->type == 0x08   ? ASTRT_ELEM_U8
                    : h->type >= 0x0D ? ASTRT_ELEM_F32
                                      : ASTRT_ELEM_I32;
  if (elem == ASTRT_ELEM_U8) { /* the bytes are the data */
    out->elem = elem;
    out->rank = h->rank - 1;
    memcpy(out->dims, h->dims + 1, sizeof(int64_t) * (size_t)out->rank);
    out->n = h->dims[0];
    out->data = raw;
    out->scale = 1.0f;
    out->shift = 0.0f;
    return ASTRT_OK;
  }
  astrt_status st = astrt_data_alloc(out, elem, h->rank - 1, h->dims + 1,
                                     h->dims[0], path);
  if (!st && elem == ASTRT_ELEM_F32) st = convert_floats(h, raw, out->data,
                                                         path);
  else if (!st) convert_ints(h, raw, out->data);
  astrt_data_release(raw);
  if (st) astrt_array_free(out);
  return st;
}

/* ---- public ------------------------------------------------------------- */

astrt_status astrt_load_idx_array(const char *path, astrt_array *out) {
  memset(out, 0, sizeof *out);
  idx_file f;
  astrt_status st = idx_open(&f, path);
  idx_header h;
  unsigned char *raw = NULL;
  if (!st) st = read_header(&f, &h);
  if (!st) st = read_data(&f, &h, &raw);
  idx_close(&f);
  if (!st) st = convert(&h, raw, out, path);
  return st;
}

astrt_status astrt_load_idx(const char *images_path, const char *labels_path,
                            astrt_split *out) {
  memset(out, 0, sizeof *out);
  astrt_status st = astrt_load_idx_array(images_path, &out->x);
  if (!st) st = astrt_load_idx_array(labels_path, &out->y);
  if (!st) st = astrt_data_same_count(&out->x, images_path, &out->y,
                                      labels_path);
  if (!st) st = astrt_data_features(&out->x, images_path);
  if (!st && out->x.elem == ASTRT_ELEM_U8) out->x.scale = 1.0f / 255.0f;
  if (!st) st = astrt_data_labels(&out->y, labels_path, &out->num_classes);
  if (st) astrt_split_free(out);
  return st;
}

/* ---- directories -------------------------------------------------------- */

static const char *const idx_names[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

static int is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

/* Writes dir/name, or dir/name.gz if only that exists, into out. */
static astrt_status find_member(const char *dir, const char *name, char *out,
                                size_t cap) {
  static const char *const suffixes[2] = {"", ".gz"};
  for (int i = 0; i < 2; i++) {
    int w = snprintf(out, cap, "%s/%s%s", dir, name, suffixes[i]);
    if (w < 0 || (size_t)w >= cap)
      return astrt_fail(ASTRT_ERR_ARG, "%s: directory path too long", dir);
    if (is_file(out)) return ASTRT_OK;
  }
  return astrt_fail(ASTRT_ERR_NOTFOUND,
                    "%s: has neither %s nor %s.gz (an IDX data set directory "
                    "holds train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each "
                    "optionally .gz)",
                    dir, name, name);
}

static astrt_status check_dir(const char *dir) {
  struct stat sb;
  if (stat(dir, &sb) != 0) {
    int err = errno;
    return astrt_fail(err == ENOENT ? ASTRT_ERR_NOTFOUND : ASTRT_ERR_IO,
                      "%s: cannot open data set directory: %s", dir,
                      strerror(err));
  }
  if (!S_ISDIR(sb.st_mode))
    return astrt_fail(ASTRT_ERR_ARG, "%s: not a directory", dir);
  return ASTRT_OK;
}

astrt_status astrt_load_idx_dir(const char *dir, astrt_split *train,
                                astrt_split *test) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  char path[4][PATH_MAX];
  astrt_status st = check_dir(dir);
  for (int i = 0; i < 4 && !st; i++)
    st = find_member(dir, idx_names[i], path[i], sizeof path[i]);
  if (!st) st = astrt_load_idx(path[0], path[1], train);
  if (!st) st = astrt_load_idx(path[2], path[3], test);
  if (st) astrt_split_free(train);
  return st;
}
