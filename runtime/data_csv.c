/* data_csv.c — CSV data sets (astrt_load_csv, astrt_load_csv_ex).
 *
 * One example per line, numbers separated by one character (no quoting):
 * the separator given, or the one the first line read holds (';', else ',',
 * else a tab, else runs of blanks). A file that starts with the gzip magic
 * (1f 8b) is decompressed first. The first non-blank line is a header of
 * column names when the options say so (NAMES) or, by default (AUTO), when
 * at least half of its fields are not numbers (so a first data row with one
 * missing value is data, and refused as such): it must have as many
 * columns as the data. SKIP skips that line whatever it holds, and then
 * reads the next non-blank line as AUTO would the first (names: sklearn's
 * boston_house_prices.csv has a line of counts, then the names); NONE
 * reads the first line as data. A UTF-8 byte-order mark is skipped.
 * Lines may end in \n or \r\n, the last one with or without a newline;
 * blank lines are skipped; spaces and tabs around fields are ignored. One
 * column (label_column, negative counts from the end) holds the class
 * label, a non-negative integer (written as an integer or an integral
 * number such as 3.0), or, for a regression table (o.real), the target, a
 * real number; the others are F32 features. Every number stored must be
 * finite and within float range. A refusal names the file, the line and
 * the column, and says what to change (the header or separator to give,
 * when the line looks like another one).
 */
#include "astrt.h"
#include "data_internal.h"
#include "robust.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct csv {
  const char *path;
  astrt_csv_options o;
  int sep;              /* the separator in use; 0 until the first line read */
  int64_t line;         /* current line number, 1-based             */
  int64_t nonblank;     /* non-blank lines seen so far              */
  int64_t header_line;  /* line of the header (names or skipped), 0 if none */
  int64_t header_cols;  /* columns of a header of names, 0 if skipped */
  int64_t first_line;   /* line of the first data row               */
  int64_t ncols;        /* columns per row, 0 until the first row   */
  int role;             /* CSV_TABLE, CSV_FEATURES or CSV_TARGETS   */
  int64_t label;        /* label column, resolved; -1: none (features) */
  float *x;             /* rows * features(c) values                */
  int32_t *y;           /* rows labels (real: the bits of floats)   */
  int64_t rows, cap;
} csv;

/* ---- fields ------------------------------------------------------------- */

static int is_blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t') return 0;
  return 1;
}

/* The separator a line of fields seems to use: ';' (a file with decimal
 * commas uses it), ',', a tab, or runs of blanks between fields. */
static int detect_sep(const char *s) {
  if (strchr(s, ';')) return ';';
  if (strchr(s, ',')) return ',';
  if (strchr(s, '\t')) return '\t';
  while (*s == ' ') s++;
  size_t len = strlen(s);
  while (len > 0 && s[len - 1] == ' ') len--;
  return memchr(s, ' ', len) ? ' ' : ',';
}

/* Cuts line s into fields (in place, each ended by a NUL); returns the
 * count. Blanks (' ') separate by runs of spaces and tabs, ignoring those
 * at either end. */
static int64_t split_fields(char *s, int sep) {
  int64_t n = 1;
  if (sep != ' ') {
    for (; *s; s++)
      if (*s == sep) {
        *s = '\0';
        n++;
      }
    return n;
  }
  char *w = s;  /* writes never pass reads */
  const char *r = s;
  n = 0;
  while (*r == ' ' || *r == '\t') r++;
  while (*r) {
    if (n++) *w++ = '\0';
    while (*r && *r != ' ' && *r != '\t') *w++ = *r++;
    while (*r == ' ' || *r == '\t') r++;
  }
  *w = '\0';
  return n ? n : 1;
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

/* Whether a line of n fields reads as names: at least half of them are
 * not numbers (a header of names; sklearn's iris.csv starts with
 * "150,4,setosa,versicolor,virginica"), so that a first data row with a
 * missing value ("0.5,NA,0.2,1") is read, and refused, as data. */
static int mostly_names(const char *f, int64_t n) {
  static const char *const missing[] = {"NA", "N/A", "n/a", "na", "?", "null", "NULL", "None", "-"};
  double v;
  int64_t names = 0;
  for (int64_t i = 0; i < n; i++, f = next_field(f)) {
    if (parse_number(f, &v)) continue;
    const char *t = f + strspn(f, " \t");
    bool gap = false;  /* a missing value's marker is not a name */
    for (size_t k = 0; k < sizeof missing / sizeof missing[0] && !gap; k++) {
      size_t m = strlen(missing[k]);
      gap = !strncmp(t, missing[k], m) && t[m + strspn(t + m, " \t")] == '\0';
    }
    names += !gap;
  }
  return 2 * names >= n;
}

static const char *sep_name(int sep, char *buf) {
  if (sep == ' ') return "blanks";
  if (sep == '\t') return "tabs";
  snprintf(buf, 8, "'%c'", sep);
  return buf;
}

/* "sep: \";\"" for separator c */
static const char *sep_arg(int c, char *buf, size_t cap) {
  snprintf(buf, cap, c == '\t' ? "sep: \"\\t\"" : "sep: \"%c\"", c);
  return buf;
}

/* What to do about text f, in which a number or a row of them was
 * expected, if it looks like fields with another separator than the one in
 * use (or decimal commas): a sentence starting with "; ", or "". */
static void sep_hint(const csv *c, const char *f, char *buf, size_t cap) {
  buf[0] = '\0';
  char a[16], b[8], num[64];
  if (c->sep == ';' && strchr(f, ',') && strlen(f) < sizeof num) {
    snprintf(num, sizeof num, "%s", f);
    for (char *p = num; *p; p++)
      if (*p == ',') *p = '.';
    double v;
    if (parse_number(num, &v)) {
      snprintf(buf, cap, "; it seems to use a decimal comma, which astc does not read: write numbers with a "
               "decimal point (%s, not %s), e.g. sed 's/,/./g'", num, f);
      return;
    }
  }
  static const char cands[] = ";,\t|:";
  for (const char *p = cands; *p; p++)
    if (*p != c->sep && strchr(f, *p)) {
      snprintf(buf, cap, "; the fields seem to be separated by %s, not %s: give %s", sep_name(*p, b),
               sep_name(c->sep, a), sep_arg(*p, num, sizeof num));
      return;
    }
}

/* ---- rows --------------------------------------------------------------- */

/* The feature columns of a row: all but the label's. */
static int64_t features(const csv *c) { return c->ncols - (c->label >= 0); }

/* Fixes the column count from the first data row. */
static astrt_status start_rows(csv *c, const char *line, int64_t n) {
  if (c->header_cols && c->header_cols != n) {
    if (c->o.header == ASTRT_CSV_HEADER_NAMES)
      return astrt_fail(ASTRT_ERR_FORMAT,
                        "%s: the header (line %lld) has %lld columns, but line %lld has %lld; give one name "
                        "per column, or skip the line whatever it holds: csv(..., header: skip)",
                        c->path, (long long)c->header_line, (long long)c->header_cols, (long long)c->line,
                        (long long)n);
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: the header (line %lld) has %lld columns, but line %lld has %lld; line %lld is read as "
                      "the names of the columns because at least half of its fields are not numbers: if it is something "
                      "else (sklearn's tables start with a line such as 150,4,setosa,versicolor,virginica), "
                      "skip it: csv(..., header: skip)",
                      c->path, (long long)c->header_line, (long long)c->header_cols, (long long)c->line,
                      (long long)n, (long long)c->header_line);
  }
  if (c->role == CSV_TARGETS && !c->o.real && n != 1) {
    char b[8];
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: line %lld has %lld columns (separated by %s); a file of classes (y: with classes) "
                      "has one column, each example's class", c->path, (long long)c->line, (long long)n,
                      sep_name(c->sep, b));
  }
  if (n < 2 && c->role == CSV_TABLE) {
    char hint[256];
    sep_hint(c, line, hint, sizeof hint);
    char b[8];
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s: line %lld has only 1 column (separated by %s); need at least one "
                      "feature column and the label column%s",
                      c->path, (long long)c->line, sep_name(c->sep, b), hint);
  }
  c->label = c->o.label_column < 0 ? n + c->o.label_column : c->o.label_column;
  /* a file of real targets holds k of them per row: read as features, then moved to y (finish) */
  if (c->role != CSV_TABLE) c->label = c->role == CSV_TARGETS && !c->o.real ? 0 : -1;
  else if (c->label < 0 || c->label >= n)
    return astrt_fail(ASTRT_ERR_ARG,
                      "%s: label column %d is out of range for rows of %lld "
                      "columns (use 0 to %lld, or -1 for the last column)",
                      c->path, c->o.label_column, (long long)n,
                      (long long)(n - 1));
  c->ncols = n;
  c->first_line = c->line;
  return ASTRT_OK;
}

static astrt_status reserve_row(csv *c) {
  if (c->rows < c->cap) return ASTRT_OK;
  int64_t ncap = c->cap ? 2 * c->cap : 1024;
  size_t per = (size_t)(features(c) > 0 ? features(c) : 1);
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
                              const char *what, const char *hint) {
  while (*f == ' ' || *f == '\t') f++;
  return astrt_fail(ASTRT_ERR_FORMAT, "%s: line %lld, column %lld: '%.40s' %s%s",
                    c->path, (long long)c->line, (long long)col + 1, f, what, hint);
}

/* A number in quotes (a "quote all" export), as a hint; else "". */
static void quote_hint(const char *f, char *buf, size_t cap) {
  buf[0] = '\0';
  while (*f == ' ' || *f == '\t') f++;
  char inner[64];
  size_t n = strlen(f);
  double v;
  if (n >= 2 && n < sizeof inner && (*f == '"' || *f == '\'') && f[n - 1] == *f) {
    snprintf(inner, sizeof inner, "%.*s", (int)(n - 2), f + 1);
    if (parse_number(inner, &v))
      snprintf(buf, cap, "; quoted numbers are not read: write them without quotes (e.g. sed \"s/[\\\"']//g\")");
  }
}

/* whether field t (blanks skipped) of column col is a class name where a
 * class label is read */
static bool class_name(const csv *c, int64_t col, const char *t) {
  return col == c->label && !c->o.real && ((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z'));
}

/* A class name where the label is, or nothing after a line's last
 * separator, as a hint; else "". */
static void content_hint(const csv *c, int64_t col, const char *f, char *buf, size_t cap) {
  buf[0] = '\0';
  while (*f == ' ' || *f == '\t') f++;
  if (class_name(c, col, f))
    snprintf(buf, cap, "; class labels are numbers 0, 1, ..., k - 1: map each class name to its number");
  else if (!*f && c->ncols && col == c->ncols - 1)
    snprintf(buf, cap, "; the line ends with a separator (an empty last column): remove it (e.g. sed 's/%c$//')",
             c->sep);
}

/* A field that is not a number: perhaps quotes, another separator, a
 * decimal comma, a header the options say is not there, a class name, or
 * a trailing separator. */
static astrt_status not_a_number(const csv *c, int64_t col, const char *f) {
  char hint[400];
  const char *t = f + strspn(f, " \t");
  bool first = c->line == c->first_line && c->rows == 0;  /* the first line read as data */
  quote_hint(f, hint, sizeof hint);
  if (!hint[0]) sep_hint(c, f, hint, sizeof hint);
  if (!hint[0] && first && c->o.header == ASTRT_CSV_HEADER_NONE)
    snprintf(hint, sizeof hint, "; header: none reads the first line as data: if it is the names of the "
             "columns, leave header out (or give header: names)");
  /* a first line of mostly numbers, read as data: names that look like numbers, a class name, a line of
   * counts (sklearn's tables), or a trailing separator */
  if (!hint[0] && first && !c->header_line && c->o.header == ASTRT_CSV_HEADER_AUTO) {
    if (!*t)
      snprintf(hint, sizeof hint, "; line %lld has an empty field: if every line ends with a separator, remove "
               "it (e.g. sed 's/%c$//'); if line %lld is not data (sklearn's tables start with a line of counts), "
               "give header: skip", (long long)c->line, c->sep, (long long)c->line);
    else if (class_name(c, col, t))
      snprintf(hint, sizeof hint, "; class labels are numbers 0, 1, ..., k - 1: map each class name to its number "
               "(or, if line %lld is the names of the columns, give header: names)", (long long)c->line);
    else
      snprintf(hint, sizeof hint, "; line %lld is read as data (most of its fields are numbers): if it is the "
               "names of the columns, give header: names", (long long)c->line);
  }
  /* a line of names after the first line of the file (taken as the header) */
  if (!hint[0] && *t && first && c->header_cols && c->o.header == ASTRT_CSV_HEADER_AUTO)
    snprintf(hint, sizeof hint, "; line %lld was read as the names of the columns: if line %lld is the names "
             "and line %lld something else (sklearn's boston_house_prices.csv starts with a line of counts), "
             "give header: skip, which skips line %lld and reads the names after it", (long long)c->header_line,
             (long long)c->line, (long long)c->header_line, (long long)c->header_line);
  if (!hint[0]) content_hint(c, col, f, hint, sizeof hint);
  return bad_field(c, col, f, "is not a number", hint);
}

static astrt_status store_field(csv *c, int64_t col, const char *f,
                                float **xp) {
  double v;
  if (!parse_number(f, &v)) return not_a_number(c, col, f);
  if (col == c->label && c->o.real) {
    if (!isfinite(v) || fabs(v) > FLT_MAX)
      return bad_field(c, col, f, "is not a finite number in float range", "");
    float t = (float)v;
    memcpy(&c->y[c->rows], &t, sizeof t);
  } else if (col == c->label) {
    if (!(v >= 0 && v <= INT32_MAX && v == floor(v)))
      return bad_field(c, col, f, "is not a valid label; class labels must "
                                  "be non-negative integers (0, 1, 2, ...; 3.0 is fine)",
                       v == floor(v) || !isfinite(v) ? ""
                       : "; a table of real-valued targets is declared without classes");
    c->y[c->rows] = (int32_t)v;
  } else {
    if (!isfinite(v) || fabs(v) > FLT_MAX)
      return bad_field(c, col, f, "is not a finite number in float range", "");
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
  float *xp = c->x + (size_t)c->rows * (size_t)features(c);
  for (int64_t col = 0; col < n && !st; col++, f = next_field(f))
    st = store_field(c, col, f, &xp);
  if (!st) c->rows++;
  return st;
}

static astrt_status parse_line(csv *c, char *s) {
  if (is_blank(s)) return ASTRT_OK;
  int64_t k = c->nonblank++;
  bool skip = c->o.header == ASTRT_CSV_HEADER_SKIP;
  if (k == 0 && skip) {
    c->header_line = c->line;
    return ASTRT_OK;
  }
  if (!c->sep) c->sep = c->o.sep ? c->o.sep : detect_sep(s);
  char line[160];  /* the line before it is cut, for hints about the separator */
  snprintf(line, sizeof line, "%s", s);
  int64_t n = split_fields(s, c->sep);
  /* the names of the columns: the first line, or the one after a skipped line */
  bool names_here = k == (skip ? 1 : 0);
  if (names_here && (c->o.header == ASTRT_CSV_HEADER_NAMES ||
                     ((c->o.header == ASTRT_CSV_HEADER_AUTO || skip) && mostly_names(s, n)))) {
    c->header_line = c->line;
    c->header_cols = n;
    return ASTRT_OK;
  }
  if (!c->ncols) {
    astrt_status st = start_rows(c, line, n);
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
  /* lines ended by CR alone (classic Mac OS): read as lines */
  if (!memchr(text, '\n', len))
    for (char *q = memchr(text, '\r', len); q; q = memchr(q + 1, '\r', len - (size_t)(q + 1 - text))) *q = '\n';
  char *start = text;
  if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) start += 3;  /* a UTF-8 byte-order mark (Excel's "CSV UTF-8") */
  for (char *p = start, *end = text + len; p < end;) {
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
  size_t per = (size_t)features(c), rows = (size_t)c->rows;
  if (per == 0) {  /* a file of targets: realloc to 0 bytes would free it */
    free(c->x);
    c->x = NULL;
  }
  float *x = per ? realloc(c->x, rows * per * sizeof *x) : NULL;
  int32_t *y = realloc(c->y, rows * sizeof *y);
  out->x.data = x ? x : c->x;
  out->y.data = y ? y : c->y;
  c->x = NULL;
  c->y = NULL;
  out->x.elem = ASTRT_ELEM_F32;
  out->x.rank = 1;
  out->x.dims[0] = features(c);
  out->x.n = c->rows;
  out->x.scale = 1.0f;
  out->y.elem = c->o.real ? ASTRT_ELEM_F32 : ASTRT_ELEM_I32;
  out->y.n = c->rows;
  out->y.scale = 1.0f;
}

/* A file of real targets (csv(y: ...) of a regression): its k columns, read
 * as features, are the targets, f32[N] (k = 1) or f32[N, k]. */
static void finish_targets(csv *c, astrt_split *out) {
  finish(c, out);
  int64_t k = out->x.dims[0];
  astrt_array_free(&out->y);
  out->y = out->x;
  memset(&out->x, 0, sizeof out->x);
  out->y.rank = k > 1 ? 1 : 0;
  out->y.dims[0] = k > 1 ? k : 0;
}

static astrt_status gz_failed(gzFile gz, const char *path) {
  int code = Z_OK;
  const char *msg = gzerror(gz, &code);
  if (code == Z_ERRNO)
    return astrt_fail(ASTRT_ERR_IO, "%s: read error: %s", path, strerror(errno));
  return astrt_fail(ASTRT_ERR_FORMAT, "%s: corrupt gzip data (%s); decompress it with gunzip to see what is "
                    "wrong, or get the file again", path, msg);
}

/* Reads a gzip-compressed file, decompressed, into *buf (NUL-terminated). */
static astrt_status read_gzip(const char *path, char **buf, size_t *len) {
  errno = 0;
  gzFile gz = gzopen(path, "rb");
  if (!gz)
    return astrt_fail(ASTRT_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
  gzbuffer(gz, 1 << 17);
  size_t cap = 0;
  astrt_status st = ASTRT_OK;
  for (;;) {
    if (*len + 65536 >= cap) {
      size_t ncap = cap ? 2 * cap : 1 << 20;
      char what[512];
      snprintf(what, sizeof what, "%s: decompressing it", path);
      if (ncap > SIZE_MAX / 4) st = astrt_fail(ASTRT_ERR_NOMEM, "%s: the decompressed file is too large", path);
      if (!st) st = astrt_mem_check((int64_t)(ncap - cap), what, ASTRT_DATA_FIT_HINT);
      char *nbuf = st ? NULL : realloc(*buf, ncap);
      if (!st && !nbuf) st = astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory decompressing it", path);
      if (st) break;
      *buf = nbuf;
      cap = ncap;
    }
    int n = gzread(gz, *buf + *len, (unsigned)(cap - *len - 1 < (1u << 30) ? cap - *len - 1 : 1u << 30));
    if (n < 0) {
      st = gz_failed(gz, path);
      break;
    }
    *len += (size_t)n;
    if (n == 0) {
      int code = Z_OK;
      gzerror(gz, &code);
      if (code == Z_BUF_ERROR)
        st = astrt_fail(ASTRT_ERR_FORMAT, "%s: truncated: its gzip stream is cut short after %zu bytes of text; "
                        "get the file again", path, *len);
      else if (code != Z_OK)
        st = gz_failed(gz, path);
      break;
    }
  }
  gzclose(gz);
  if (st) {
    free(*buf);
    *buf = NULL;
    *len = 0;
    return st;
  }
  (*buf)[*len] = '\0';
  return ASTRT_OK;
}

/* The file's text: read, or decompressed if it starts with the gzip magic. */
static astrt_status read_text(const char *path, char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f;
  astrt_status st = astrt_data_open(path, &f);
  if (st) return st;
  unsigned char magic[2] = {0, 0};
  size_t got = fread(magic, 1, 2, f);
  fclose(f);
  if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) return read_gzip(path, buf, len);
  return astrt_data_read_file(path, buf, len);
}

static astrt_status check_options(const char *path, const astrt_csv_options *o) {
  if (o->header < ASTRT_CSV_HEADER_AUTO || o->header > ASTRT_CSV_HEADER_NONE)
    return astrt_fail(ASTRT_ERR_ARG, "%s: header mode %d is not one of ASTRT_CSV_HEADER_AUTO, _NAMES, _SKIP, "
                      "_NONE", path, o->header);
  int s = o->sep;
  if (s != 0 && (s < 1 || s > 126 || s == '\n' || s == '\r' || s == '"' || strchr("0123456789.+-eE", s)))
    return astrt_fail(ASTRT_ERR_ARG, "%s: separator %d cannot separate numbers; give a character such as ',', "
                      "';', '\\t' or ' ' (blanks), or 0 to detect it", path, s);
  return ASTRT_OK;
}

astrt_status astrt_csv_load_part(const char *path, const astrt_csv_options *o, int role, astrt_split *out) {
  memset(out, 0, sizeof *out);
  astrt_csv_options defaults = {-1, ASTRT_CSV_HEADER_AUTO, 0, 0};
  if (!o) o = &defaults;
  astrt_status st = check_options(path, o);
  if (st) return st;
  csv c = {.path = path, .o = *o, .role = role};
  char *text;
  size_t len;
  st = read_text(path, &text, &len);
  if (st) return st;
  st = parse_text(&c, text, len);
  free(text);
  if (!st && c.rows == 0) st = no_rows(&c);
  if (!st) {
    if (role == CSV_TARGETS && o->real) finish_targets(&c, out);
    else finish(&c, out);
    if (!o->real && role != CSV_FEATURES) st = astrt_data_labels(&out->y, path, &out->num_classes);
  }
  free(c.x);
  free(c.y);
  if (st) astrt_split_free(out);
  return st;
}

astrt_status astrt_load_csv_ex(const char *path, const astrt_csv_options *o, astrt_split *out) {
  return astrt_csv_load_part(path, o, CSV_TABLE, out);
}

astrt_status astrt_load_csv(const char *path, int label_column, astrt_split *out) {
  astrt_csv_options o = {label_column, ASTRT_CSV_HEADER_AUTO, 0, 0};
  return astrt_load_csv_ex(path, &o, out);
}

astrt_status astrt_load_csv_real(const char *path, int label_column, astrt_split *out) {
  astrt_csv_options o = {label_column, ASTRT_CSV_HEADER_AUTO, 0, 1};
  return astrt_load_csv_ex(path, &o, out);
}
