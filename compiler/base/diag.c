/* diag.c — the source table and gcc-style diagnostics with carets. */
#include "diag.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Source {
  char *path;
  char *text;
  size_t len;
} Source;

static VEC(Source) sources;
static FILE *diag_stream;
static bool show_source = true;
static int error_count;
static bool last_printed;   /* whether the last error/warning was printed */
static int muted;           /* > 0: diagnostics are neither printed nor counted */

int src_add(const char *path, char *text, size_t len) {
  if (sources.len == 0) vec_push(&sources, ((Source){0}));  /* id 0 = none */
  vec_push(&sources, ((Source){xstrdup(path), text, len}));
  return sources.len - 1;
}

const char *src_path(int file) {
  if (file <= 0 || file >= sources.len) return "<unknown>";
  return sources.data[file].path;
}

const char *src_text(int file, size_t *len) {
  if (file <= 0 || file >= sources.len) {
    *len = 0;
    return "";
  }
  *len = sources.data[file].len;
  return sources.data[file].text;
}

int src_find(const char *path) {
  for (int i = 1; i < sources.len; i++)
    if (strcmp(sources.data[i].path, path) == 0) return i;
  return 0;
}

void src_reset(void) {
  for (int i = 1; i < sources.len; i++) {
    free(sources.data[i].path);
    free(sources.data[i].text);
  }
  vec_free(&sources);
}

void diag_set_stream(FILE *f) { diag_stream = f; }
void diag_set_show_source(bool on) { show_source = on; }
int diag_error_count(void) { return error_count; }
void diag_reset(void) { error_count = 0; last_printed = false; }
void diag_mute(bool on) { muted += on ? 1 : -1; }

const char *loc_str(Loc loc, char *buf, size_t cap) {
  if (loc.file <= 0) snprintf(buf, cap, "<builtin>");
  else snprintf(buf, cap, "%s:%d:%d", src_path(loc.file), loc.line, loc.col);
  return buf;
}

const char *num_str(double x) {
  static _Thread_local char bufs[8][40];
  static _Thread_local int next;
  char *buf = bufs[next++ % 8];
  if (x == floor(x) && fabs(x) < 1e18) {
    snprintf(buf, 40, "%.0f", x == 0 ? 0.0 : x);  /* no "-0" */
    return buf;
  }
  /* up to 10 digits where they give x exactly (what was written, such as
   * 0.1234567), else 6 (a computed value: -0.002, not -0.0020000000000000018) */
  for (int prec = 6; prec <= 10; prec++) {
    snprintf(buf, 40, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) return buf;
  }
  snprintf(buf, 40, "%g", x);
  return buf;
}

/* The length of the valid UTF-8 sequence at p (1 for ASCII), or 0. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  int n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0 || end - p < n) return 0;
  for (int i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  return n;
}

/* Prints line `loc.line` of its file and a caret under column `loc.col`.
 * Control bytes and invalid UTF-8 are shown as '?', tabs kept so the caret
 * lines up; a long line is cut to a window around the caret. Empty lines
 * are not shown. */
static void print_source_line(FILE *out, Loc loc) {
  enum { WIDTH = 160 };
  size_t len;
  const char *text = src_text(loc.file, &len);
  const unsigned char *p = (const unsigned char *)text, *end = p + len;
  for (int line = 1; line < loc.line && p < end; p++)
    if (*p == '\n') line++;
  if (p > end || (p == end && loc.line > 1 && len && text[len - 1] == '\n'))
    return;
  const unsigned char *eol = p;
  while (eol < end && *eol != '\n') eol++;
  if (eol > p && eol[-1] == '\r') eol--;  /* CRLF line ends */
  if (eol == p) return;
  size_t linelen = (size_t)(eol - p);
  size_t col = loc.col > 1 ? (size_t)loc.col - 1 : 0;  /* byte offset of the caret */
  if (col > linelen) col = linelen;
  size_t from = 0, to = linelen;
  if (linelen > WIDTH) {
    from = col > WIDTH / 2 ? col - WIDTH / 2 : 0;
    to = from + WIDTH < linelen ? from + WIDTH : linelen;
  }
  fputs(from > 0 ? "    ..." : "    ", out);
  for (const unsigned char *q = p + from; q < p + to;) {
    int n = utf8_len(q, p + to);
    if (n > 1) {
      fwrite(q, 1, (size_t)n, out);
      q += n;
      continue;
    }
    fputc(*q == '\t' || (*q >= 32 && *q < 127) ? *q : '?', out);
    q++;
  }
  fputs(to < linelen ? "...\n" : "\n", out);
  fputs(from > 0 ? "       " : "    ", out);
  for (const unsigned char *q = p + from; q < p + col;) {
    int n = utf8_len(q, p + to);
    fputc(*q == '\t' ? '\t' : ' ', out);
    q += n > 1 ? n : 1;
  }
  fputs("^\n", out);
}

static void emit(Loc loc, const char *kind, const char *fmt, va_list ap) {
  FILE *out = diag_stream ? diag_stream : stderr;
  if (loc.file > 0)
    fprintf(out, "%s:%d:%d: %s: ", src_path(loc.file), loc.line, loc.col, kind);
  else
    fprintf(out, "astc: %s: ", kind);
  vfprintf(out, fmt, ap);
  fputc('\n', out);
  if (show_source && loc.file > 0 && loc.line > 0) print_source_line(out, loc);
}

void diag_error(Loc loc, const char *fmt, ...) {
  if (muted > 0) return;
  error_count++;
  last_printed = error_count <= DIAG_MAX_ERRORS;
  if (error_count == DIAG_MAX_ERRORS + 1) {
    FILE *out = diag_stream ? diag_stream : stderr;
    fprintf(out, "astc: error: too many errors (%d), stopping here\n",
            DIAG_MAX_ERRORS);
  }
  if (!last_printed) return;
  va_list ap;
  va_start(ap, fmt);
  emit(loc, "error", fmt, ap);
  va_end(ap);
}

void diag_warning(Loc loc, const char *fmt, ...) {
  if (muted > 0) return;
  last_printed = error_count <= DIAG_MAX_ERRORS;
  if (!last_printed) return;
  va_list ap;
  va_start(ap, fmt);
  emit(loc, "warning", fmt, ap);
  va_end(ap);
}

void diag_note(Loc loc, const char *fmt, ...) {
  if (muted > 0 || !last_printed) return;
  va_list ap;
  va_start(ap, fmt);
  emit(loc, "note", fmt, ap);
  va_end(ap);
}
