/* data_load.c — loading the data a program's descriptor names into train
 * and test splits, and checking them against what the model expects.
 *
 *   IDX        source is a data set name (found with astrt_find_dataset) or,
 *              if it contains '/', a directory. A data_dir overrides the
 *              directory: data_dir/<name> if that is a directory, else
 *              data_dir itself.
 *   CSV, NPY   files; relative paths are taken relative to data_dir when one
 *              is given. An empty test_source holds out k = floor(n *
 *              data.holdout) (0: 10%; at least one) of the n examples of
 *              the training file as the test split: with SPLIT_LAST the
 *              last k; with SPLIT_RANDOM (the default) the examples of
 *              smallest astrt_hash64(astrt_subkey(synth_seed, HOLDOUT_TAG),
 *              i), i the example's number in the file, and for class
 *              labels k_c of each class c (n_c k / n rounded by largest
 *              remainder, ties to the smaller class: stratified). Both
 *              splits keep the file's order. With real-valued targets
 *              (TARGET_REAL) a CSV's label column holds reals, and an NPY y
 *              is [N] or [N, k] numbers (integers become floats), k the
 *              model's target_size.
 *   SYNTHETIC  generated: class c has a mean vector m_c with N(0, 8/dims)
 *              components (so two means lie about 4 noise standard deviations
 *              apart: learnable, not trivial); an example of class c is
 *              m_c + N(0, 1) noise, its class uniform over the classes. All
 *              values are counter-based functions of synth_seed.
 *
 * Every split is then checked: per-example element count == example_size
 * (only the count matters: [28, 28] data fits a [784] model), labels are
 * integers in [0, classes), real targets target_size finite floats.
 *
 * TEXT and TOKENS are token streams, not splits: data_text.c loads them
 * (astrt_seq_load).
 */
#include "data_internal.h"
#include "driver_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TAG_MEANS 1
#define TAG_TRAIN 2
#define TAG_TEST 3

static const char *str_or_empty(const char *s) { return s ? s : ""; }

static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* "28x28" (or "scalar") into buf. */
static void dims_text(int rank, const int64_t *dims, char *buf, size_t cap) {
  size_t used = 0;
  snprintf(buf, cap, "%s", rank == 0 ? "scalar" : "");
  for (int i = 0; i < rank && used < cap; i++) {
    int w = snprintf(buf + used, cap - used, "%s%lld", i ? "x" : "", (long long)dims[i]);
    if (w < 0) return;
    used += (size_t)w;
  }
}

/* ---- the descriptor ------------------------------------------------------ */

int64_t astrt_target_values(const astrt_data_desc *d) {
  return d->target == ASTRT_TARGET_CLASS ? 1 : d->target_size;
}

int astrt_data_is_stream(const astrt_data_desc *d) {
  return d->kind == ASTRT_DATA_TEXT || d->kind == ASTRT_DATA_TOKENS;
}

double astrt_data_holdout(const astrt_data_desc *d) {
  return d->holdout > 0 && d->holdout < 1 ? d->holdout : 0.1;
}

/* ---- checks ------------------------------------------------------------- */

/* The first of ids[0..n) outside [0, vocab), as a failure naming example
 * first + i / per, or ASTRT_OK. */
static astrt_status check_ids(const int32_t *ids, int64_t n, int64_t per, int64_t vocab, const char *what,
                              const char *which, const int64_t *index) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= vocab) {
      int64_t e = index ? index[i / per] : i / per;
      return astrt_fail(ASTRT_ERR_MISMATCH, "%s: example %lld has %s %d at position %lld, outside the "
                        "vocabulary [0, %lld)", what, (long long)e, which, ids[i], (long long)(i % per),
                        (long long)vocab);
    }
  return ASTRT_OK;
}

static astrt_status check_features(const astrt_data_desc *d, const astrt_split *s,
                                   const char *what) {
  if (d->x_dtype == ASTRT_DTYPE_I32) {
    if (s->x.elem != ASTRT_ELEM_I32)
      return astrt_fail(ASTRT_ERR_FORMAT, "%s: the model takes token ids (i32), but the features are "
                        "numbers of element type %d", what, (int)s->x.elem);
  } else if (s->x.elem != ASTRT_ELEM_U8 && s->x.elem != ASTRT_ELEM_F32) {
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: features must be numbers (u8 or f32), "
                      "not element type %d", what, (int)s->x.elem);
  }
  int64_t size = astrt_array_example_size(&s->x);
  if (size == d->example_size)
    return d->x_dtype == ASTRT_DTYPE_I32 && d->vocab > 0
               ? check_ids(s->x.data, s->x.n * size, size, d->vocab, what, "token", NULL)
               : ASTRT_OK;
  char have[96], want[96];
  dims_text(s->x.rank, s->x.dims, have, sizeof have);
  dims_text(d->rank, d->dims, want, sizeof want);
  return astrt_fail(ASTRT_ERR_MISMATCH,
                    "%s: each example holds %lld values (shape %s), but the model "
                    "expects %lld (shape %s); fix the data declaration's shape or the "
                    "model's input to match the files",
                    what, (long long)size, have, (long long)d->example_size, want);
}

/* Real-valued targets: target_size finite floats per example. */
static astrt_status check_reals(const astrt_data_desc *d, const astrt_split *s, const char *what) {
  int64_t per = astrt_array_example_size(&s->y);
  if (s->y.elem != ASTRT_ELEM_F32)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: the model predicts real values, but the targets are not "
                      "numbers (element type %d)", what, (int)s->y.elem);
  if (s->y.n != s->x.n)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s: %lld feature rows but %lld targets", what,
                      (long long)s->x.n, (long long)s->y.n);
  if (per != d->target_size) {
    char files[PATH_MAX + 64] = "";
    if (d->kind == ASTRT_DATA_NPY && d->y_source && *d->y_source)
      snprintf(files, sizeof files, " (%s)", d->y_source);
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s: the targets%s hold %lld value%s per example, but the model "
                      "predicts %lld (the data's target_size); make the model's output, f32[B] or f32[B, k], "
                      "match the targets", what, files, (long long)per, per == 1 ? "" : "s",
                      (long long)d->target_size);
  }
  const float *y = s->y.data;
  for (int64_t i = 0; i < s->y.n * per; i++)
    if (!isfinite(y[i]))
      return astrt_fail(ASTRT_ERR_FORMAT, "%s: example %lld has the target %g; targets must be finite", what,
                        (long long)(i / per), (double)y[i]);
  return ASTRT_OK;
}

/* Labels per position (sequence windows given as a split): target_size ids. */
static astrt_status check_sequence(const astrt_data_desc *d, const astrt_split *s, const char *what) {
  int64_t per = astrt_array_example_size(&s->y);
  if (s->y.elem != ASTRT_ELEM_I32 || per != d->target_size)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: the targets must be %lld token ids (the next token after each "
                      "position) per example", what, (long long)d->target_size);
  if (s->y.n != s->x.n)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s: %lld feature rows but %lld targets", what,
                      (long long)s->x.n, (long long)s->y.n);
  return check_ids(s->y.data, s->y.n * per, per, d->vocab, what, "next token", NULL);
}

static astrt_status check_labels(const astrt_data_desc *d, const astrt_split *s,
                                 const char *what) {
  if (d->target == ASTRT_TARGET_REAL) return check_reals(d, s, what);
  if (d->target == ASTRT_TARGET_SEQUENCE) return check_sequence(d, s, what);
  if (s->y.elem != ASTRT_ELEM_I32)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: the labels are %s, not int32 class labels; give the classes "
                      "0, 1, 2, ... as int32 (astrt_load_npy_classes and the compiled program read whole floats "
                      "such as 2.0 as classes)", what, s->y.elem == ASTRT_ELEM_F32 ? "float32" : "uint8");
  if (s->y.rank != 0)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: each example has %lld label values; a class label is one "
                      "integer per example", what, (long long)astrt_array_example_size(&s->y));
  if (s->y.n != s->x.n)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s: %lld feature rows but %lld labels", what,
                      (long long)s->x.n, (long long)s->y.n);
  const int32_t *y = s->y.data;
  for (int64_t i = 0; i < s->y.n; i++)
    if (y[i] < 0 || y[i] >= d->classes)
      return astrt_fail(ASTRT_ERR_MISMATCH,
                        "%s: example %lld has label %d, but the model has %lld classes "
                        "(labels must be in [0, %lld)); fix 'classes:' in the data "
                        "declaration or the labels",
                        what, (long long)i, y[i], (long long)d->classes,
                        (long long)d->classes);
  return ASTRT_OK;
}

astrt_status astrt_data_check(const astrt_data_desc *d, const astrt_split *s,
                              const char *what) {
  if (s->x.n < 1)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s holds no examples", what);
  astrt_status st = check_features(d, s, what);
  return st ? st : check_labels(d, s, what);
}

/* ---- splitting ---------------------------------------------------------- */

/* Copies the examples of a whose flag in take[] is `want`, in order, into
 * out (k of them). */
static astrt_status take_rows(const astrt_array *a, const unsigned char *take, int want, int64_t k,
                              astrt_array *out, const char *path) {
  astrt_status st = astrt_data_alloc(out, a->elem, a->rank, a->dims, k, path);
  if (st) return st;
  size_t row = (size_t)astrt_array_example_size(a) * astrt_data_elem_size(a->elem);
  char *dst = out->data;
  for (int64_t i = 0; i < a->n; i++)
    if (take[i] == want) {
      memcpy(dst, (const char *)a->data + (size_t)i * row, row);
      dst += row;
    }
  out->scale = a->scale;
  out->shift = a->shift;
  return ASTRT_OK;
}

static astrt_status take_split(const astrt_split *s, const unsigned char *take, int want, int64_t k,
                               astrt_split *out, const char *path) {
  memset(out, 0, sizeof *out);
  astrt_status st = take_rows(&s->x, take, want, k, &out->x, path);
  if (!st) st = take_rows(&s->y, take, want, k, &out->y, path);
  if (st) astrt_split_free(out);
  out->num_classes = st ? 0 : s->num_classes;
  return st;
}

/* A random holdout orders the examples by astrt_hash64(astrt_subkey(seed,
 * HOLDOUT_TAG), i), i the example's number in the file ("holdout" in ASCII) */
#define HOLDOUT_TAG 0x686f6c646f7574ull

typedef struct held {
  int32_t cls;   /* the class (stratified), else 0 */
  uint64_t key;
  int64_t row;
} held;

static int by_class_key(const void *a, const void *b) {
  const held *x = a, *y = b;
  if (x->cls != y->cls) return x->cls < y->cls ? -1 : 1;
  return x->key < y->key ? -1 : x->key > y->key;
}

/* One class's run of the sorted examples: [first, first + n), k of them held out. */
typedef struct group {
  int64_t first, n, k, rem;
} group;

static int by_remainder(const void *a, const void *b) {
  const group *x = a, *y = b;
  if (x->rem != y->rem) return x->rem > y->rem ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* Marks k of the n examples (take[i] = 1): the last k (SPLIT_LAST), or
 * the k of smallest key; with class labels (labels not NULL) k_c of each
 * class c, k_c = n_c k / n rounded by largest remainder (ties to the smaller
 * class), so each class keeps its share. */
static astrt_status choose_held(int64_t n, int64_t k, const int32_t *labels, int split, uint64_t seed,
                                unsigned char *take, const char *path) {
  if (split == ASTRT_SPLIT_LAST) {
    for (int64_t i = n - k; i < n; i++) take[i] = 1;
    return ASTRT_OK;
  }
  held *h = malloc((size_t)n * sizeof *h);
  group *g = malloc((size_t)n * sizeof *g);
  if (!h || !g) {
    free(h);
    free(g);
    return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory choosing the test split", path);
  }
  uint64_t key = astrt_subkey(seed, HOLDOUT_TAG);
  for (int64_t i = 0; i < n; i++) h[i] = (held){labels ? labels[i] : 0, astrt_hash64(key, (uint64_t)i), i};
  qsort(h, (size_t)n, sizeof *h, by_class_key);
  int64_t ng = 0, given = 0;
  for (int64_t i = 0; i < n; i++) {
    if (i == 0 || h[i].cls != h[i - 1].cls) g[ng++] = (group){i, 0, 0, 0};
    g[ng - 1].n++;
  }
  for (int64_t j = 0; j < ng; j++) {
    unsigned __int128 q = (unsigned __int128)g[j].n * (uint64_t)k;
    g[j].k = (int64_t)(q / (uint64_t)n);
    g[j].rem = (int64_t)(q % (uint64_t)n);
    given += g[j].k;
  }
  qsort(g, (size_t)ng, sizeof *g, by_remainder);
  for (int64_t j = 0; j < ng && given < k; j++, given++) g[j].k++;
  for (int64_t j = 0; j < ng; j++)
    for (int64_t i = 0; i < g[j].k; i++) take[h[g[j].first + i].row] = 1;
  free(h);
  free(g);
  return ASTRT_OK;
}

/* Moves a fraction h (at least one example) of *train into *test: which
 * ones, `split` says (seeded by `seed`, per class for class labels). Both
 * keep the file's order. */
static astrt_status hold_out(astrt_split *train, astrt_split *test, const char *path, double h, int split,
                             uint64_t seed) {
  int64_t n = train->x.n, k = (int64_t)floor((double)n * h * (1 + 1e-12));
  if (k < 1) k = 1;
  if (n < 2)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "%s holds %lld example(s); holding out a test split needs at least "
                      "2 (add data, or give a separate test file with 'test:')",
                      path, (long long)n);
  unsigned char *take = calloc((size_t)n, 1);
  if (!take) return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory choosing the test split", path);
  const int32_t *labels = train->y.elem == ASTRT_ELEM_I32 && astrt_array_example_size(&train->y) == 1
                              ? train->y.data : NULL;
  astrt_split head;
  memset(&head, 0, sizeof head);
  astrt_status st = choose_held(n, k, labels, split, seed, take, path);
  if (!st) st = take_split(train, take, 0, n - k, &head, path);
  if (!st) st = take_split(train, take, 1, k, test, path);
  free(take);
  if (st) {
    astrt_split_free(&head);
    return st;
  }
  astrt_split_free(train);
  *train = head;
  return ASTRT_OK;
}

int64_t astrt_data_missing_classes(const astrt_data_desc *d, const astrt_split *s, char *buf, size_t cap) {
  if (cap) buf[0] = '\0';
  if (d->target != ASTRT_TARGET_CLASS || d->classes < 1 || s->y.elem != ASTRT_ELEM_I32 || !s->y.data) return 0;
  unsigned char *seen = calloc((size_t)d->classes, 1);
  if (!seen) return 0;
  const int32_t *y = s->y.data;
  for (int64_t i = 0; i < s->y.n; i++)
    if (y[i] >= 0 && y[i] < d->classes) seen[y[i]] = 1;
  int64_t missing = 0, listed = 0;
  size_t used = 0;
  for (int64_t c = 0; c < d->classes; c++) {
    if (seen[c]) continue;
    if (missing++ < 8 && used < cap) {
      int w = snprintf(buf + used, cap - used, "%s%lld", listed++ ? ", " : "", (long long)c);
      if (w > 0) used += (size_t)w;
    }
  }
  if (missing > 8 && used < cap) snprintf(buf + used, cap - used, " and %lld more", (long long)(missing - 8));
  free(seen);
  return missing;
}

/* ---- files -------------------------------------------------------------- */

/* path, or data_dir/path for a relative path when data_dir is given. */
static astrt_status resolve(const char *path, const char *data_dir, char *out, size_t cap) {
  int w = data_dir && *data_dir && path[0] != '/'
              ? snprintf(out, cap, "%s/%s", data_dir, path)
              : snprintf(out, cap, "%s", path);
  if (w < 0 || (size_t)w >= cap)
    return astrt_fail(ASTRT_ERR_ARG, "data path too long: %s", path);
  return ASTRT_OK;
}

static astrt_status idx_dir(const astrt_data_desc *d, const char *data_dir, char *out,
                            size_t cap) {
  const char *source = str_or_empty(d->source);
  if (data_dir && *data_dir) {
    const char *base = strrchr(source, '/') ? strrchr(source, '/') + 1 : source;
    int w = snprintf(out, cap, "%s/%s", data_dir, base);
    if (w >= 0 && (size_t)w < cap && *base && is_dir(out)) return ASTRT_OK;
    return resolve(data_dir, NULL, out, cap);
  }
  if (strchr(source, '/')) return resolve(source, NULL, out, cap);
  return astrt_find_dataset(source, out, cap);
}

static astrt_status load_idx(const astrt_data_desc *d, const char *data_dir,
                             astrt_split *train, astrt_split *test) {
  char dir[PATH_MAX];
  astrt_status st = idx_dir(d, data_dir, dir, sizeof dir);
  return st ? st : astrt_load_idx_dir(dir, train, test);
}

/* y as real-valued targets: integers become F32; [N] or [N, k]. */
static astrt_status real_targets(astrt_array *y, const char *path) {
  if (y->rank > 1)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s: real-valued targets are an array of shape [N] or [N, k], not one of "
                      "rank %d", path, y->rank + 1);
  if (y->elem == ASTRT_ELEM_F32) return ASTRT_OK;
  int64_t n = y->n * astrt_array_example_size(y);
  float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof *f);
  if (!f) return astrt_fail(ASTRT_ERR_NOMEM, "%s: out of memory converting the targets", path);
  for (int64_t i = 0; i < n; i++)
    f[i] = y->elem == ASTRT_ELEM_U8 ? (float)((const uint8_t *)y->data)[i] : (float)((const int32_t *)y->data)[i];
  astrt_data_release(y->data);
  y->data = f;
  y->elem = ASTRT_ELEM_F32;
  y->scale = 1.0f;
  y->shift = 0.0f;
  return ASTRT_OK;
}

/* astrt_load_npy for a regression: the targets stay numbers. */
static astrt_status load_npy_real(const char *x_path, const char *y_path, astrt_split *out) {
  memset(out, 0, sizeof *out);
  astrt_status st = astrt_load_npy_array(x_path, &out->x);
  if (!st) st = astrt_load_npy_array(y_path, &out->y);
  if (!st) st = astrt_data_same_count(&out->x, x_path, &out->y, y_path);
  if (!st) st = astrt_data_features(&out->x, x_path);
  if (!st) st = real_targets(&out->y, y_path);
  if (st) astrt_split_free(out);
  return st;
}

/* One split from a CSV file of features and one of targets (a row each per
 * example, in the same order; header and separator options apply to both). */
static astrt_status load_csv_pair(const astrt_csv_options *co, const char *xp, const char *yp, astrt_split *out) {
  memset(out, 0, sizeof *out);
  astrt_split xs, ys;
  astrt_status st = astrt_csv_load_part(xp, co, CSV_FEATURES, &xs);
  if (st) return st;
  st = astrt_csv_load_part(yp, co, CSV_TARGETS, &ys);
  if (!st) st = astrt_data_same_count(&xs.x, xp, &ys.y, yp);
  if (!st) {
    out->x = xs.x;
    out->y = ys.y;
    out->num_classes = ys.num_classes;
    memset(&xs.x, 0, sizeof xs.x);
    memset(&ys.y, 0, sizeof ys.y);
  }
  astrt_split_free(&xs);
  astrt_split_free(&ys);
  return st;
}

/* Loads one CSV or NPY split from (x, y) paths. */
static astrt_status load_file_split(const astrt_data_desc *d, const char *data_dir,
                                    const char *x, const char *y, astrt_split *out) {
  char xp[PATH_MAX], yp[PATH_MAX];
  astrt_status st = resolve(x, data_dir, xp, sizeof xp);
  if (st) return st;
  int real = d->target == ASTRT_TARGET_REAL;
  astrt_csv_options co = {d->label_column, d->header, d->sep, real};
  if (d->kind == ASTRT_DATA_CSV && !*y) return astrt_load_csv_ex(xp, &co, out);
  if (!*y)
    return astrt_fail(ASTRT_ERR_ARG, "npy data %s has no labels file; give both "
                      "x: and y: (and test_x:/test_y: for a test split)", x);
  st = resolve(y, data_dir, yp, sizeof yp);
  if (st) return st;
  /* csv(x: ..., y: ...): features and targets in two files, as sklearn's diabetes */
  if (d->kind == ASTRT_DATA_CSV) return load_csv_pair(&co, xp, yp, out);
  return real ? load_npy_real(xp, yp, out) : astrt_load_npy_classes(xp, yp, out);
}

static astrt_status load_files(const astrt_data_desc *d, const char *data_dir,
                               astrt_split *train, astrt_split *test) {
  astrt_status st = load_file_split(d, data_dir, str_or_empty(d->source),
                                    str_or_empty(d->y_source), train);
  if (st) return st;
  if (!*str_or_empty(d->test_source))
    return hold_out(train, test, d->source, astrt_data_holdout(d), d->split, d->synth_seed);
  return load_file_split(d, data_dir, d->test_source, str_or_empty(d->test_y_source), test);
}

/* ---- synthetic ---------------------------------------------------------- */

static astrt_status synth_check(const astrt_data_desc *d) {
  if (d->example_size < 1 || d->classes < 2 || d->synth_train < 1 || d->synth_test < 1)
    return astrt_fail(ASTRT_ERR_ARG,
                      "synthetic data needs examples of at least 1 value, at least 2 "
                      "classes and at least 1 train and 1 test example (got %lld values, "
                      "%lld classes, %lld train, %lld test)",
                      (long long)d->example_size, (long long)d->classes,
                      (long long)d->synth_train, (long long)d->synth_test);
  if (d->classes > INT32_MAX)
    return astrt_fail(ASTRT_ERR_ARG, "synthetic data: %lld classes is too many",
                      (long long)d->classes);
  return ASTRT_OK;
}

static void synth_fill(const astrt_data_desc *d, int train, float *x, int32_t *y, int64_t n) {
  int64_t dims = d->example_size;
  uint64_t mkey = astrt_subkey(d->synth_seed, TAG_MEANS);
  uint64_t skey = astrt_subkey(d->synth_seed, train ? TAG_TRAIN : TAG_TEST);
  uint64_t lkey = astrt_subkey(skey, 0), nkey = astrt_subkey(skey, 1);
  double spread = sqrt(8.0 / (double)dims);
  for (int64_t i = 0; i < n; i++) {
    int64_t c = (int64_t)(astrt_hash64(lkey, (uint64_t)i) % (uint64_t)d->classes);
    y[i] = (int32_t)c;
    for (int64_t j = 0; j < dims; j++) {
      double mean = spread * astrt_normal(mkey, (uint64_t)(c * dims + j));
      x[i * dims + j] = (float)(mean + astrt_normal(nkey, (uint64_t)(i * dims + j)));
    }
  }
}

astrt_status astrt_data_synthetic(const astrt_data_desc *d, int train, astrt_split *out) {
  memset(out, 0, sizeof *out);
  astrt_status st = synth_check(d);
  if (st) return st;
  int64_t n = train ? d->synth_train : d->synth_test;
  int64_t dims[1] = {d->example_size};
  st = astrt_data_alloc(&out->x, ASTRT_ELEM_F32, 1, dims, n, "synthetic data");
  if (!st) st = astrt_data_alloc(&out->y, ASTRT_ELEM_I32, 0, dims, n, "synthetic data");
  if (st) {
    astrt_split_free(out);
    return st;
  }
  if (d->rank >= 1 && d->rank <= ASTRT_MAX_RANK) {  /* keep the declared shape */
    out->x.rank = d->rank;
    memcpy(out->x.dims, d->dims, sizeof(int64_t) * (size_t)d->rank);
    if (astrt_array_example_size(&out->x) != d->example_size) {
      out->x.rank = 1;
      memset(out->x.dims, 0, sizeof out->x.dims);
      out->x.dims[0] = d->example_size;
    }
  }
  synth_fill(d, train, out->x.data, out->y.data, n);
  out->num_classes = d->classes;
  return ASTRT_OK;
}

/* ---- public ------------------------------------------------------------- */

static astrt_status load_any(const astrt_data_desc *d, const char *data_dir,
                             astrt_split *train, astrt_split *test) {
  switch (d->kind) {
  case ASTRT_DATA_IDX: return load_idx(d, data_dir, train, test);
  case ASTRT_DATA_CSV:
  case ASTRT_DATA_NPY: return load_files(d, data_dir, train, test);
  case ASTRT_DATA_SYNTHETIC: {
    astrt_status st = astrt_data_synthetic(d, 1, train);
    return st ? st : astrt_data_synthetic(d, 0, test);
  }
  case ASTRT_DATA_TEXT:
  case ASTRT_DATA_TOKENS:
    return astrt_fail(ASTRT_ERR_ARG, "%s data is a token sequence, not a split of examples: load it with "
                      "astrt_seq_load", d->kind == ASTRT_DATA_TEXT ? "text" : "token");
  default:
    return astrt_fail(ASTRT_ERR_FORMAT, "unknown data kind %d in the program descriptor; "
                      "recompile the program with astc", d->kind);
  }
}

astrt_status astrt_data_load(const astrt_data_desc *d, const char *data_dir,
                             astrt_split *train, astrt_split *test) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  if (d->kind != ASTRT_DATA_SYNTHETIC && !*str_or_empty(d->source))
    return astrt_fail(ASTRT_ERR_ARG, "the program's data declaration names no source; "
                      "recompile the program with astc");
  char what[2][PATH_MAX + 32];
  snprintf(what[0], sizeof what[0], "training data (%s)", str_or_empty(d->source));
  snprintf(what[1], sizeof what[1], "test data (%s)",
           *str_or_empty(d->test_source) ? d->test_source : str_or_empty(d->source));
  astrt_status st = load_any(d, data_dir, train, test);
  if (!st) st = astrt_data_check(d, train, what[0]);
  if (!st) st = astrt_data_check(d, test, what[1]);
  if (st) {
    astrt_split_free(train);
    astrt_split_free(test);
  }
  return st;
}
