/* data_text.c — sequence data: text and token ids (astrt_load_text,
 * astrt_load_tokens, astrt_seq_load).
 *
 *   text    the bytes of a file; of a directory's regular files, in byte
 *           order of their names, concatenated (symbolic links and
 *           subdirectories are skipped); or of a known corpus: "fortunes",
 *           the fortune cookies of Debian's fortunes package
 *           (/usr/share/games/fortunes: its files without the .dat indexes
 *           and the .u8 names, which are symbolic links to the same text).
 *           Every byte is a token, 0..255.
 *   tokens  token ids, the format recognised by the file's first bytes:
 *             "\x93NUMPY"          an integer .npy, 1-D (data_npy.c reads it)
 *             int32 20240520 (LE)  llm.c's .bin: a header of 256 int32
 *                                  (magic, version 1, the token count),
 *                                  then uint16 ids
 *             int32 20240801 (LE)  llm.c's Llama 3 .bin: version 7, uint32 ids
 *             anything else        raw little-endian uint16 ids (nanoGPT)
 *           Every id must be in [0, vocab); the first that is not is an
 *           error naming the file and its position. Large uint16 and uint32
 *           files are memory-mapped rather than read (data_array.c).
 *
 * The test split is data.test_source when given (the same kind), else the
 * last data.holdout of the tokens (contiguous), a view into the same ids.
 * An example is a window of context + 1 tokens (batch.c gathers them), so
 * each split must hold at least that many.
 *
 * Test hook (only with -DASTRT_TEST_HOOKS=ON): ASTRT_TEST_CORPORA=DIR
 * replaces /usr/share/games, where the
 * known corpora are installed (to test the message for a missing one).
 */
#include "data_internal.h"
#include "driver_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYSTEM_CORPORA "/usr/share/games"
#define LLMC_MAGIC 20240520
#define LLMC_MAGIC_LLAMA 20240801
#define LLMC_HEADER 1024 /* 256 int32 */

static const struct {
  const char *name;     /* text("fortunes", ...) */
  const char *package;  /* the Debian package that installs it */
} corpora[] = {
    {"fortunes", "fortunes"},
};

static int is_corpus(const char *name) {
  for (size_t i = 0; i < sizeof corpora / sizeof corpora[0]; i++)
    if (!strcmp(name, corpora[i].name)) return (int)i;
  return -1;
}

void astrt_tokens_free(astrt_tokens *t) {
  if (!t) return;
  astrt_data_release(t->owned);
  memset(t, 0, sizeof *t);
}

int64_t astrt_token_at(const astrt_tokens *t, int64_t i) {
  const unsigned char *p = (const unsigned char *)t->ids;
  switch (t->width) {
  case 1: return p[i];
  case 2: {
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
  }
  default: {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  }
}

int64_t astrt_seq_windows(int64_t n, int64_t T) { return T >= 1 && n > T ? (n - 1) / T : 0; }

int64_t astrt_window_offset(uint64_t seed, int64_t sample, int64_t n, int64_t T) {
  return astrt_random_below(astrt_subkey(seed, ASTRT_TAG_WINDOWS), (uint64_t)sample, n - T);
}

/* path, or data_dir/path for a relative path when data_dir is given */
static astrt_status resolve(const char *path, const char *data_dir, char *out, size_t cap) {
  int w = data_dir && *data_dir && path[0] != '/' ? snprintf(out, cap, "%s/%s", data_dir, path)
                                                  : snprintf(out, cap, "%s", path);
  if (w < 0 || (size_t)w >= cap) return astrt_fail(ASTRT_ERR_ARG, "data path too long: %s", path);
  return ASTRT_OK;
}

/* ---- text ------------------------------------------------------------------- */

typedef struct text_buf {
  unsigned char *data;
  size_t len, cap;
} text_buf;

/* Appends the bytes of file `path` to b. */
static astrt_status append_file(text_buf *b, const char *path) {
  char *bytes;
  size_t len;
  astrt_status st = astrt_data_read_file(path, &bytes, &len);
  if (st) return st;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + len + 1) cap *= 2;
    unsigned char *grown = realloc(b->data, cap);
    if (!grown) {
      free(bytes);
      return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory holding %zu bytes of text", path, b->len + len);
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, bytes, len);
  b->len += len;
  free(bytes);
  return ASTRT_OK;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), k = strlen(tail);
  return n >= k && !strcmp(s + n - k, tail);
}

/* The regular files of dir (not following symbolic links), sorted by name;
 * a corpus's index files (.dat) and alternative names (.u8) left out. */
static astrt_status list_dir(const char *dir, int corpus, char ***names, int *n, int *skipped) {
  *names = NULL;
  *n = 0;
  *skipped = 0;
  DIR *d = opendir(dir);
  if (!d) return astrt_fail(ASTRT_ERR_IO, "%s: cannot read the directory: %s", dir, strerror(errno));
  int cap = 0;
  astrt_status st = ASTRT_OK;
  struct dirent *e;
  while (!st && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (corpus >= 0 && (ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8"))) continue;
    char path[PATH_MAX];
    struct stat sb;
    int w = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (w < 0 || (size_t)w >= sizeof path || lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      ++*skipped;
      continue;
    }
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      char **grown = realloc(*names, sizeof(char *) * (size_t)cap);
      if (!grown) {
        st = astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory listing the directory", dir);
        break;
      }
      *names = grown;
    }
    if (!((*names)[*n] = strdup(e->d_name))) st = astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory", dir);
    else ++*n;
  }
  closedir(d);
  if (!st && *n > 1) qsort(*names, (size_t)*n, sizeof(char *), cmp_names);  /* (names is NULL when empty) */
  return st;
}

static astrt_status read_dir(text_buf *b, const char *dir, int corpus) {
  char **names;
  int n, skipped;
  astrt_status st = list_dir(dir, corpus, &names, &n, &skipped);
  for (int i = 0; !st && i < n; i++) {
    char path[PATH_MAX];
    int w = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    st = w < 0 || (size_t)w >= sizeof path ? astrt_fail(ASTRT_ERR_ARG, "%s/%s: path too long", dir, names[i])
                                           : append_file(b, path);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  if (!st && n == 0)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: no text: the directory holds no regular files%s", dir,
                      skipped ? " (symbolic links and subdirectories are not read)" : "");
  if (!st && b->len == 0)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: no text: its %d file%s empty", dir, n, n == 1 ? " is" : "s are");
  return st;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Where corpus k is: data_dir/NAME or data_dir; else $ASTC_DATA_PATH's
 * directories, then the system's. */
static astrt_status find_corpus(int k, const char *data_dir, char *out, size_t cap) {
  const char *name = corpora[k].name;
  if (data_dir && *data_dir) {
    int w = snprintf(out, cap, "%s/%s", data_dir, name);
    if (w >= 0 && (size_t)w < cap && exists(out)) return ASTRT_OK;
    return resolve(data_dir, NULL, out, cap);
  }
  char searched[1024] = "";
  size_t used = 0;
  const char *env = getenv("ASTC_DATA_PATH");
  for (const char *p = env; p && *p;) {
    size_t len = strcspn(p, ":");
    if (len > 0) {
      int w = snprintf(out, cap, "%.*s/%s", (int)len, p, name);
      if (w >= 0 && (size_t)w < cap && exists(out)) return ASTRT_OK;
      if (used + len + 16 < sizeof searched)
        used += (size_t)snprintf(searched + used, sizeof searched - used, "%.*s/%s, ", (int)len, p, name);
    }
    p += len + (p[len] == ':');
  }
  const char *sys = NULL;
#ifdef ASTRT_TEST_HOOKS
  sys = getenv("ASTRT_TEST_CORPORA");
#endif
  if (!sys || !*sys) sys = SYSTEM_CORPORA;
  int w = snprintf(out, cap, "%s/%s", sys, name);
  if (w >= 0 && (size_t)w < cap && exists(out)) return ASTRT_OK;
  return astrt_fail(ASTRT_ERR_NOTFOUND,
                    "text corpus '%s' not found; searched %s%s/%s%s; install it with: apt-get install %s, "
                    "or give text(...) the path of a text file or directory, or the directory that holds "
                    "the corpus with --data DIR",
                    name, searched, sys, name, env ? "" : " (ASTC_DATA_PATH is not set)", corpora[k].package);
}

astrt_status astrt_load_text(const char *source, const char *data_dir, astrt_tokens *out) {
  memset(out, 0, sizeof *out);
  char path[PATH_MAX];
  int corpus = source ? is_corpus(source) : -1;
  astrt_status st = !source || !*source ? astrt_fail(ASTRT_ERR_ARG, "text data names no source")
                    : corpus >= 0      ? find_corpus(corpus, data_dir, path, sizeof path)
                                       : resolve(source, data_dir, path, sizeof path);
  if (st) return st;
  struct stat sb;
  if (stat(path, &sb) != 0) {
    int err = errno;
    return astrt_fail(err == ENOENT ? ASTRT_ERR_NOTFOUND : ASTRT_ERR_IO,
                      "%s: cannot open: %s; text(...) reads a file, a directory of files or a known corpus "
                      "(\"fortunes\")", path, strerror(err));
  }
  text_buf b = {0};
  if (S_ISDIR(sb.st_mode)) {
    st = read_dir(&b, path, corpus);
  } else {
    st = append_file(&b, path);
    if (!st && b.len == 0) st = astrt_fail(ASTRT_ERR_FORMAT, "%s: no text: the file is empty", path);
  }
  if (st) {
    free(b.data);
    return st;
  }
  out->ids = b.data;
  out->owned = b.data;
  out->n = (int64_t)b.len;
  out->width = 1;
  return ASTRT_OK;
}

/* ---- token ids ----------------------------------------------------------------- */

/* The first id of ids[0..n) outside [0, vocab), named with its position
 * (and, for ids stored from byte `base` of the file, its byte offset). */
static astrt_status check_ids(const char *path, const astrt_tokens *t, int is_unsigned, int64_t vocab,
                              int64_t base) {
  for (int64_t i = 0; i < t->n; i++) {
    int64_t v = astrt_token_at(t, i);
    if (t->width == 4 && is_unsigned) v = (int64_t)(uint32_t)v;
    if (v >= 0 && v < vocab) continue;
    char where[64] = "";
    if (base >= 0) snprintf(where, sizeof where, " (byte %lld)", (long long)(base + i * t->width));
    return astrt_fail(ASTRT_ERR_MISMATCH,
                      "%s: token %lld%s is %lld, outside the vocabulary [0, %lld); fix 'vocab:' in the data "
                      "declaration, or re-create the file with the tokenizer the model is for",
                      path, (long long)i, where, (long long)v, (long long)vocab);
  }
  return ASTRT_OK;
}

static astrt_status empty_file(const char *path, const char *what) {
  return astrt_fail(ASTRT_ERR_FORMAT, "%s: %s: no tokens", path, what);
}

static astrt_status load_npy_tokens(const char *path, int64_t vocab, astrt_tokens *out) {
  astrt_array a;
  astrt_status st = astrt_load_npy_array(path, &a);
  if (st) return st;
  char shape[96] = "";
  for (int i = 0, used = 0; i < a.rank && used < 80; i++)
    used += snprintf(shape + used, sizeof shape - (size_t)used, ", %lld", (long long)a.dims[i]);
  if (a.elem == ASTRT_ELEM_F32)
    st = astrt_fail(ASTRT_ERR_FORMAT, "%s: the array holds floats; token ids are integers (save it as "
                    "numpy.uint16 or numpy.int32)", path);
  else if (a.rank != 0)
    st = astrt_fail(ASTRT_ERR_FORMAT, "%s: the array has shape (%lld%s); token ids are one 1-D array "
                    "(a.reshape(-1))", path, (long long)a.n, shape);
  else if (a.n == 0)
    st = empty_file(path, "the array is empty");
  if (st) {
    astrt_array_free(&a);
    return st;
  }
  out->ids = a.data;
  out->owned = a.data;
  out->n = a.n;
  out->width = a.elem == ASTRT_ELEM_U8 ? 1 : 4;
  st = check_ids(path, out, 0, vocab, -1);
  if (st) astrt_tokens_free(out);
  return st;
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The bytes of the file: mapped when it does not fit in memory, else read. */
static astrt_status file_bytes(const char *path, FILE *f, int64_t size, unsigned char **bytes) {
  if (astrt_data_should_map(size)) {
    void *map;
    if (astrt_data_map(f, path, (size_t)size, &map) == ASTRT_OK) {
      astrt_data_mapped_note(path, (size_t)size);
      *bytes = map;
      return ASTRT_OK;
    }
  }
  char *buf;
  size_t len;
  astrt_status st = astrt_data_read_file(path, &buf, &len);
  if (!st && (int64_t)len != size) {
    free(buf);
    return astrt_fail(ASTRT_ERR_IO, "%s: the file changed while it was read (%lld bytes, then %zu)", path,
                      (long long)size, len);
  }
  *bytes = st ? NULL : (unsigned char *)buf;
  return st;
}

astrt_status astrt_load_tokens(const char *path, int64_t vocab, astrt_tokens *out) {
  memset(out, 0, sizeof *out);
  FILE *f;
  astrt_status st = astrt_data_open(path, &f);
  if (st) return st;
  struct stat sb;
  unsigned char head[12] = {0};
  size_t got = fread(head, 1, sizeof head, f);
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return astrt_fail(ASTRT_ERR_IO, "%s: not a regular file; token ids are read from a file", path);
  }
  int64_t size = (int64_t)sb.st_size;
  if (size == 0 || got == 0) {
    fclose(f);
    return empty_file(path, "the file is empty");
  }
  if (got >= 6 && !memcmp(head, "\x93NUMPY", 6)) {
    fclose(f);
    return load_npy_tokens(path, vocab, out);
  }
  uint32_t magic = got >= 4 ? le32(head) : 0;
  int llmc = magic == LLMC_MAGIC || magic == LLMC_MAGIC_LLAMA;
  int64_t base = 0, count = 0;
  int width = 2;
  if (llmc) {
    uint32_t version = got >= 8 ? le32(head + 4) : 0, want = magic == LLMC_MAGIC ? 1 : 7;
    width = magic == LLMC_MAGIC ? 2 : 4;
    base = LLMC_HEADER;
    if (size < LLMC_HEADER)
      st = astrt_fail(ASTRT_ERR_FORMAT, "%s: truncated: %lld bytes, less than the 1024-byte header of an llm.c "
                      "token file (magic %u)", path, (long long)size, magic);
    else if (version != want)
      st = astrt_fail(ASTRT_ERR_FORMAT, "%s: llm.c token file of version %u; astc reads version %u (magic %u, "
                      "%s tokens)", path, version, want, magic, width == 2 ? "uint16" : "uint32");
    else {
      int32_t n = (int32_t)le32(head + 8);
      count = n;
      if (n < 0 || (size - LLMC_HEADER) != (int64_t)n * width)
        st = astrt_fail(ASTRT_ERR_FORMAT, "%s: the llm.c header says %lld tokens (%lld bytes), but %lld bytes "
                        "follow the 1024-byte header; the file is truncated or damaged (re-create it)", path,
                        (long long)n, (long long)n * width, (long long)(size - LLMC_HEADER));
      else if (n == 0)
        st = empty_file(path, "the llm.c header counts 0 tokens");
    }
  } else if (size % 2 != 0) {
    st = astrt_fail(ASTRT_ERR_FORMAT, "%s: %lld bytes is not a whole number of tokens: a raw token file holds "
                    "uint16 ids, 2 bytes each, little-endian (or give an llm.c .bin or an integer .npy)", path,
                    (long long)size);
  } else {
    count = size / 2;
  }
  unsigned char *bytes = NULL;
  if (!st) st = file_bytes(path, f, size, &bytes);
  fclose(f);
  if (st) return st;
  out->ids = bytes + base;
  out->owned = bytes;
  out->n = count;
  out->width = width;
  st = check_ids(path, out, 1, vocab, base);
  if (st) astrt_tokens_free(out);
  return st;
}

/* ---- the splits ------------------------------------------------------------------- */

static astrt_status load_one(const astrt_data_desc *d, const char *data_dir, const char *source,
                             astrt_tokens *out) {
  if (d->kind == ASTRT_DATA_TEXT) return astrt_load_text(source, data_dir, out);
  char path[PATH_MAX];
  astrt_status st = resolve(source, data_dir, path, sizeof path);
  return st ? st : astrt_load_tokens(path, d->vocab, out);
}

/* A split of fewer than context + 1 tokens: no window fits in it. */
static astrt_status too_short(const astrt_data_desc *d, const char *file, const char *split, int64_t n,
                              const char *more, const char *fix) {
  return astrt_fail(ASTRT_ERR_MISMATCH,
                    "%s: the context (%lld) is longer than the %s split (%lld tokens%s): an example is a window "
                    "of context + 1 = %lld tokens; %s",
                    file, (long long)d->context, split, (long long)n, more, (long long)d->context + 1, fix);
}

astrt_status astrt_seq_load(const astrt_data_desc *d, const char *data_dir, astrt_tokens *train,
                            astrt_tokens *test) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  if (d->kind != ASTRT_DATA_TEXT && d->kind != ASTRT_DATA_TOKENS)
    return astrt_fail(ASTRT_ERR_ARG, "data of kind %d is not text or tokens", d->kind);
  if (!d->source || !*d->source)
    return astrt_fail(ASTRT_ERR_ARG, "the program's data declaration names no source; recompile the program "
                      "with astc");
  astrt_status st = load_one(d, data_dir, d->source, train);
  if (st) return st;
  char more[96] = "";
  if (d->test_source && *d->test_source) {
    st = load_one(d, data_dir, d->test_source, test);
  } else {
    double h = astrt_data_holdout(d);
    int64_t n = train->n, k = (int64_t)floor((double)n * h * (1 + 1e-12));
    if (k > n) k = n;
    train->n = n - k;
    *test = (astrt_tokens){(const unsigned char *)train->ids + (size_t)train->n * (size_t)train->width, k,
                           train->width, NULL};
    snprintf(more, sizeof more, ", the last %g%% of %lld", 100 * h, (long long)n);
  }
  int held_out = !(d->test_source && *d->test_source);
  char fix[256] = "give a longer test file or use a shorter context";
  if (held_out)
    snprintf(fix, sizeof fix, "hold out more (holdout: now %g), give a test file (test: \"...\") or more data, or "
             "use a shorter context", astrt_data_holdout(d));
  if (!st && train->n < d->context + 1)
    st = too_short(d, d->source, "training", train->n, "", "give more data or use a shorter context");
  if (!st && test->n < d->context + 1)
    st = too_short(d, held_out ? d->source : d->test_source, "test", test->n, more, fix);
  if (st) {
    astrt_tokens_free(test);
    astrt_tokens_free(train);
  }
  return st;
}
