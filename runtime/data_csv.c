/* data_csv.c — CSV data sets (astrt_load_csv).
 *
 * One example per line, comma-separated numbers (no quoting). The first
 * non-blank line is a header, and skipped, if any of its fields is not a
 * number; it must have as many columns as the data. Lines may end in \n or
 * \r\n, the last one with or without a newline; blank lines are skipped;
 * spaces and tabs around fields are ignored. One column (label_column,
 * negative counts from the end) holds the class label, a non-negative
 * integer (written as an integer or an integral number such as 3.0), or,
 * for a regression table (astrt_load_csv_real), the target, a real number;
 * the others are F32 features. Every number stored must be finite and
 * within float range.
 */
#include "astrt.h"
#include "data_internal.h"
#include "robust.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv {
  const char *path;
  int label_arg;        /* label_column as the caller gave it       */
  int real;             /* the label is a real number (regression)  */
  int64_t line;         /* current line number, 1-based             */
  int seen_line;        /* a non-blank line has been seen           */
  int64_t header_line;  /* line of the skipped header, 0 if none    */
  int64_t header_cols;
  int64_t first_line;   /* line of the first data row               */
  int64_t ncols;        /* columns per row, 0 until the first row   */
  int64_t label;        /* label column, resolved                   */
  float *x;             /* rows * (ncols - 1) features              */
  int32_t *y;           /* rows labels (real: the bits of floats)   */
  int64_t rows, cap;
} csv;

/* ---- fields ------------------------------------------------------------- */

static int is_blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t') return 0;
  return 1;
}

/* Cuts line s into fields at the commas (in place); returns the count. */
static int64_t split_fields(char *s) {
  int64_t n = 1;
  for (; *s; s++)
    if (*s == ',') {
      *s = '\0';
      n++;
    }
  return n;
}

static const char *next_field(const char *f) { return f + strlen(f) + 1; }

static int parse_number(const char *f, double *v) {
  while (*f == ' ' || *f == '\t') f++;
  char *end;
  *v = strtod(f, &end);
  if (end == f) return 0;
  while (*end == ' ' || *end == '\t') end++;
  return *end == '\0';
}

static int all_numeric(const char *f, int64_t n) {
  double v;
  for (int64_t i = 0; i < n; i++, f = next_field(f))
    if (!parse_number(f, &v)) return 0;
  return 1;
}

/* ---- rows --------------------------------------------------------------- */

/* Fixes the column count from the first data row. */
static astrt_status start_rows(csv *c, int64_t n) {
  if (c->header_line && c->header_cols != n)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: the header (line %lld) has %lld columns, but line "
                      "%lld has %lld",
                      c->path, (long long)c->header_line,
                      (long long)c->header_cols, (long long)c->line,
                      (long long)n);
  if (n < 2)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: line %lld has only 1 column; need at least one "
                      "feature column and the label column",
                      c->path, (long long)c->line);
  c->label = c->label_arg < 0 ? n + c->label_arg : c->label_arg;
  if (c->label < 0 || c->label >= n)
    return astrt_fail(ASTRT_ERR_ARG,
                      "%s: label column %d is out of range for rows of %lld "
                      "columns (use 0 to %lld, or -1 for the last column)",
                      c->path, c->label_arg, (long long)n,
                      (long long)(n - 1));
  c->ncols = n;
  c->first_line = c->line;
  return ASTRT_OK;
}

static astrt_status reserve_row(csv *c) {
  if (c->rows < c->cap) return ASTRT_OK;
  int64_t ncap = c->cap ? 2 * c->cap : 1024;
  size_t per = (size_t)(c->ncols - 1);
  if ((uint64_t)ncap > SIZE_MAX / sizeof(float) / per)
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: too many rows", c->path);
  char what[512];
  snprintf(what, sizeof what, "%s: holding %lld rows of %zu values", c->path, (long long)ncap, per + 1);
  astrt_status st = astrt_mem_check((int64_t)((size_t)(ncap - c->cap) * (per + 1) * sizeof(float)), what,
                                    ASTRT_DATA_FIT_HINT);
  if (st) return st;
  float *x = realloc(c->x, (size_t)ncap * per * sizeof *x);
  if (x) c->x = x;
  int32_t *y = x ? realloc(c->y, (size_t)ncap * sizeof *y) : NULL;
  if (y) c->y = y;
  if (!x || !y)
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory at line %lld",
                      c->path, (long long)c->line);
  c->cap = ncap;
  return ASTRT_OK;
}

static astrt_status bad_field(const csv *c, int64_t col, const char *f,
                              const char *what) {
  while (*f == ' ' || *f == '\t') f++;
  return astrt_fail(ASTRT_ERR_FORMAT, "%s: line %lld, column %lld: '%.40s' %s",
                    c->path, (long long)c->line, (long long)col + 1, f, what);
}

static astrt_status store_field(csv *c, int64_t col, const char *f,
                                float **xp) {
  double v;
  if (!parse_number(f, &v)) return bad_field(c, col, f, "is not a number");
  if (col == c->label && c->real) {
    if (!isfinite(v) || fabs(v) > FLT_MAX)
      return bad_field(c, col, f, "is not a finite number in float range");
    float t = (float)v;
    memcpy(&c->y[c->rows], &t, sizeof t);
  } else if (col == c->label) {
    if (!(v >= 0 && v <= INT32_MAX && v == floor(v)))
      return bad_field(c, col, f, "is not a valid label; class labels must "
                                  "be non-negative integers (0, 1, 2, ...)");
    c->y[c->rows] = (int32_t)v;
  } else {
    if (!isfinite(v) || fabs(v) > FLT_MAX)
      return bad_field(c, col, f, "is not a finite number in float range");
    *(*xp)++ = (float)v;
  }
  return ASTRT_OK;
}

static astrt_status parse_row(csv *c, const char *f, int64_t n) {
  if (n != c->ncols)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: line %lld has %lld columns, but line %lld has "
                      "%lld; every row needs the same number of columns",
                      c->path, (long long)c->line, (long long)n,
                      (long long)c->first_line, (long long)c->ncols);
  astrt_status st = reserve_row(c);
  if (st) return st;
  float *xp = c->x + (size_t)c->rows * (size_t)(c->ncols - 1);
  for (int64_t col = 0; col < n && !st; col++, f = next_field(f))
    st = store_field(c, col, f, &xp);
  if (!st) c->rows++;
  return st;
}

static astrt_status parse_line(csv *c, char *s) {
  if (is_blank(s)) return ASTRT_OK;
  int64_t n = split_fields(s);
  int first = !c->seen_line;
  c->seen_line = 1;
  if (first && !all_numeric(s, n)) {
    c->header_line = c->line;
    c->header_cols = n;
    return ASTRT_OK;
  }
  if (!c->ncols) {
    astrt_status st = start_rows(c, n);
    if (st) return st;
  }
  return parse_row(c, s, n);
}

/* ---- file --------------------------------------------------------------- */

static astrt_status parse_text(csv *c, char *text, size_t len) {
  const char *nul = memchr(text, '\0', len);
  if (nul)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: byte %zu is NUL; this is not a text CSV file",
                      c->path, (size_t)(nul - text));
  for (char *p = text, *end = text + len; p < end;) {
    char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;  /* text[len] is the terminating NUL */
    *eol = '\0';
    if (eol > p && eol[-1] == '\r') eol[-1] = '\0';
    c->line++;
    astrt_status st = parse_line(c, p);
    if (st) return st;
    p = eol + 1;
  }
  return ASTRT_OK;
}

static astrt_status no_rows(const csv *c) {
  if (c->header_line)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: no data rows; the file holds only the header "
                      "(line %lld)",
                      c->path, (long long)c->header_line);
  return astrt_fail(ASTRT_ERR_FORMAT, "%s: no data rows; the file is empty",
                    c->path);
}

/* Moves the parsed rows into out (shrinking the buffers to fit). */
static void finish(csv *c, astrt_split *out) {
  size_t per = (size_t)(c->ncols - 1), rows = (size_t)c->rows;
  float *x = realloc(c->x, rows * per * sizeof *x);
  int32_t *y = realloc(c->y, rows * sizeof *y);
  out->x.data = x ? x : c->x;
  out->y.data = y ? y : c->y;
  c->x = NULL;
  c->y = NULL;
  out->x.elem = ASTRT_ELEM_F32;
  out->x.rank = 1;
  out->x.dims[0] = c->ncols - 1;
  out->x.n = c->rows;
  out->x.scale = 1.0f;
  out->y.elem = c->real ? ASTRT_ELEM_F32 : ASTRT_ELEM_I32;
  out->y.n = c->rows;
  out->y.scale = 1.0f;
}

static astrt_status load(const char *path, int label_column, int real, astrt_split *out) {
  memset(out, 0, sizeof *out);
  csv c = {.path = path, .label_arg = label_column, .real = real};
  char *text;
  size_t len;
  astrt_status st = astrt_data_read_file(path, &text, &len);
  if (st) return st;
  st = parse_text(&c, text, len);
  free(text);
  if (!st && c.rows == 0) st = no_rows(&c);
  if (!st) {
    finish(&c, out);
    if (!real) st = astrt_data_labels(&out->y, path, &out->num_classes);
  }
  free(c.x);
  free(c.y);
  if (st) astrt_split_free(out);
  return st;
}

astrt_status astrt_load_csv(const char *path, int label_column, astrt_split *out) {
  return load(path, label_column, 0, out);
}

astrt_status astrt_load_csv_real(const char *path, int label_column, astrt_split *out) {
  return load(path, label_column, 1, out);
}
