/* test_tables.c — unit tests for tables as a new user brings them (issue
 * 16): CSV headers and separators (data_csv.c), the seeded stratified
 * holdout and the warning about missing classes (data_load.c), integral
 * float labels in NPY files (data_npy.c), per-feature standardisation
 * (data_stats.c), a batch larger than the training set, and the run's plan
 * (driver.c).
 *
 * Fixture files are written at test time into a fresh directory made with
 * mkdtemp (removed afterwards; test_fixtures.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "astrt.h"
#include "data_internal.h"
#include "driver_internal.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "test_fixtures.h"
#include "test_util.h"

/* ---- CSV: headers, separators, gzip --------------------------------------------- */

static astrt_status csv_load(const char *text, int header, int sep, astrt_split *s) {
  fx_write_text(fx_path("t.csv"), text);
  astrt_csv_options o = {-1, header, sep, 0};
  return astrt_load_csv_ex(fx_path("t.csv"), &o, s);
}

static astrt_split csv_loads(const char *text, int header, int sep) {
  astrt_split s;
  ck_assert_msg(csv_load(text, header, sep, &s) == ASTRT_OK, "load failed: %s", astrt_last_error());
  return s;
}

static void csv_fails(const char *text, int header, int sep, const char *part) {
  astrt_split s;
  ck_assert_int_ne(csv_load(text, header, sep, &s), ASTRT_OK);
  ck_assert_ptr_null(s.x.data);
  ck_assert_error_has(fx_path("t.csv"));
  ck_assert_error_has(part);
}

/* sklearn's tables start with "n_samples,n_features,class names": a line of
 * another column count than the data. */
static const char sklearn_like[] = "3,2,class_0,class_1\n1.5,2,0\n3,4.25,1\n5,6,1\n";

START_TEST(test_csv_header_skip) {
  /* by default the line is taken for column names and refused, saying what to do */
  csv_fails(sklearn_like, ASTRT_CSV_HEADER_AUTO, 0, "the header (line 1) has 4 columns, but line 2 has 3");
  ck_assert_error_has("header: skip");
  astrt_split s = csv_loads(sklearn_like, ASTRT_CSV_HEADER_SKIP, 0);
  ck_assert_int_eq(s.x.n, 3);
  ck_assert_int_eq(s.x.dims[0], 2);
  const float *x = s.x.data;
  const int32_t *y = s.y.data;
  ck_assert(x[0] == 1.5f && x[3] == 4.25f && y[0] == 0 && y[2] == 1);
  astrt_split_free(&s);
  /* skip skips the first non-blank line whatever it holds, numbers too */
  s = csv_loads("\n9,9,9\n1,2,0\n", ASTRT_CSV_HEADER_SKIP, 0);
  ck_assert_int_eq(s.x.n, 1);
  astrt_split_free(&s);
  csv_fails("a,b,c\n", ASTRT_CSV_HEADER_SKIP, 0, "only the header (line 1)");
}
END_TEST

/* sklearn's boston_house_prices.csv: a line of counts (as wide as the data,
 * empty fields), then the quoted names, then the rows. header: skip skips
 * the counts and reads the names after them as auto would; by default the
 * counts are taken for the names and the error at the names says to skip. */
static const char boston_like[] = "2,3,,\n\"A\",\"B\",\"C\",\"MEDV\"\n1,2,3,24\n3,4.5,5,21.5\n";

START_TEST(test_csv_header_skip_then_names) {
  fx_write_text(fx_path("t.csv"), boston_like);
  astrt_csv_options o = {-1, ASTRT_CSV_HEADER_SKIP, 0, 1};  /* a regression table */
  astrt_split s;
  ck_assert_msg(astrt_load_csv_ex(fx_path("t.csv"), &o, &s) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(s.x.n, 2);
  ck_assert_int_eq(s.x.dims[0], 3);
  const float *x = s.x.data, *y = s.y.data;
  ck_assert(x[0] == 1 && x[4] == 4.5f && y[0] == 24 && y[1] == 21.5f);
  astrt_split_free(&s);
  /* after the skipped line, a line of numbers is data, as before */
  s = csv_loads("3,2,a,b\n1,2,0\n3,4,1\n", ASTRT_CSV_HEADER_SKIP, 0);
  ck_assert_int_eq(s.x.n, 2);
  astrt_split_free(&s);
  /* names after the skipped line must name every column */
  csv_fails("3,2,a,b\nx,y\n1,2,0\n", ASTRT_CSV_HEADER_SKIP, 0, "the header (line 2) has 2 columns, but line 3 has 3");
  /* auto: the counts are the header, the names a row that is not numbers: the error says to skip */
  csv_fails(boston_like, ASTRT_CSV_HEADER_AUTO, 0, "line 2, column 1: '\"A\"' is not a number");
  ck_assert_error_has("give header: skip, which skips line 1 and reads the names after it");
}
END_TEST

START_TEST(test_csv_header_names_and_none) {
  /* names: the first line is names even when they are numbers ... */
  astrt_split s = csv_loads("1,2,3\n4,5,1\n", ASTRT_CSV_HEADER_NAMES, 0);
  ck_assert_int_eq(s.x.n, 1);
  astrt_split_free(&s);
  /* ... and must name every column */
  csv_fails("a,b\n1,2,0\n", ASTRT_CSV_HEADER_NAMES, 0, "give one name per column");
  /* none: the first line is data; names there are an error that says so */
  s = csv_loads("1,2,0\n3,4,1\n", ASTRT_CSV_HEADER_NONE, 0);
  ck_assert_int_eq(s.x.n, 2);
  astrt_split_free(&s);
  csv_fails("a,b,label\n1,2,0\n", ASTRT_CSV_HEADER_NONE, 0, "line 1, column 1: 'a' is not a number");
  ck_assert_error_has("header: none reads the first line as data");
  /* auto: names of the data's width are skipped, as before */
  s = csv_loads("a,b,label\n1,2,0\n", ASTRT_CSV_HEADER_AUTO, 0);
  ck_assert_int_eq(s.x.n, 1);
  astrt_split_free(&s);
}
END_TEST

/* auto takes the first line for names only when at least half of its
 * fields are not numbers: a first row with a missing value is refused as
 * data, not dropped as a header; a UTF-8 byte-order mark is skipped */
START_TEST(test_csv_header_auto_mostly_names) {
  csv_fails("0.5,NA,0\n1,2,1\n3,4,0\n", ASTRT_CSV_HEADER_AUTO, 0, "line 1, column 2: 'NA' is not a number");
  /* a missing value's marker is not a name, even where it is half the line */
  csv_fails("NA,3\n1,2\n", ASTRT_CSV_HEADER_AUTO, 0, "line 1, column 1: 'NA' is not a number");
  /* a headerless file with class names (UCI's iris.data): said so, before header: names */
  csv_fails("5.1,3.5,Iris-setosa\n4.9,3.0,Iris-setosa\n", ASTRT_CSV_HEADER_AUTO, 0, "map each class name to its number");
  /* a first line ending with a separator: said so, and what a line of counts would need */
  csv_fails("1.5,2,0,\n3,4,1,\n", ASTRT_CSV_HEADER_AUTO, 0, "if every line ends with a separator, remove it");
  ck_assert_error_has("give header: skip");
  /* names that look like numbers: read as data, and the error says how to say they are names */
  csv_fails("1,2,label\n1,2,0\n", ASTRT_CSV_HEADER_AUTO, 0, "line 1, column 3: 'label' is not a number");
  ck_assert_error_has("give header: names");
  /* sklearn's iris.csv: counts and class names, a header (of another width: refused, saying to skip it) */
  csv_fails("2,2,setosa,versicolor,virginica\n1,2,0\n3,4,1\n", ASTRT_CSV_HEADER_AUTO, 0,
            "the header (line 1) has 5 columns, but line 2 has 3");
  /* a byte-order mark before data, and before names */
  astrt_split s = csv_loads("\xef\xbb\xbf" "1.25,2,0\n3,4,1\n", ASTRT_CSV_HEADER_AUTO, 0);
  ck_assert_int_eq(s.x.n, 2);
  ck_assert(((const float *)s.x.data)[0] == 1.25f);
  astrt_split_free(&s);
  s = csv_loads("\xef\xbb\xbf" "a,b,label\n1,2,0\n", ASTRT_CSV_HEADER_AUTO, 0);
  ck_assert_int_eq(s.x.n, 1);
  astrt_split_free(&s);
  s = csv_loads("\xef\xbb\xbf" "1,2,0\n", ASTRT_CSV_HEADER_NONE, 0);
  ck_assert_int_eq(s.x.n, 1);
  astrt_split_free(&s);
}
END_TEST

/* what a field that is not a number holds, said: quotes, a class name in
 * the label column, an empty column after a trailing separator */
START_TEST(test_csv_field_hints) {
  csv_fails("a,b,label\n\"1.5\",\"2\",\"0\"\n", ASTRT_CSV_HEADER_AUTO, 0, "quoted numbers are not read");
  csv_fails("a,b,label\n1.5,2,0\n1.5,2,setosa\n", ASTRT_CSV_HEADER_AUTO, 0,
            "line 3, column 3: 'setosa' is not a number");
  ck_assert_error_has("map each class name to its number");
  csv_fails("a,b,c,d\n1.5,2,0,\n3,4,1,\n", ASTRT_CSV_HEADER_AUTO, 0, "the line ends with a separator");
  ck_assert_error_has("sed 's/,$//'");
}
END_TEST

/* files as other tools write them: CSV lines ended by CR alone (classic
 * Mac OS) are lines; a .npz archive gets its own message */
START_TEST(test_files_of_other_tools) {
  astrt_split s = csv_loads("1,2,0\r3,4,1\r5,6,0\r", ASTRT_CSV_HEADER_AUTO, 0);
  ck_assert_int_eq(s.x.n, 3);
  ck_assert(((const float *)s.x.data)[2] == 3);
  astrt_split_free(&s);
  static const char zip[] = "PK\x03\x04\x14\x00\x00\x00\x00\x00 x.npy";
  FILE *f = fopen(fx_path("a.npz"), "wb");
  ck_assert_ptr_nonnull(f);
  fwrite(zip, 1, sizeof zip - 1, f);
  fclose(f);
  astrt_array a;
  ck_assert_int_eq(astrt_load_npy_array(fx_path("a.npz"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("a .npz archive (numpy.savez)");
  ck_assert_error_has("numpy.save");
}
END_TEST

/* a device or a pipe is refused before it is read (/dev/zero has no end;
 * opening a FIFO waits for a writer): no hang, no unbounded memory */
START_TEST(test_csv_not_a_regular_file) {
  astrt_csv_options o = {-1, ASTRT_CSV_HEADER_AUTO, 0, 0};
  astrt_split s;
  ck_assert_int_ne(astrt_load_csv_ex("/dev/zero", &o, &s), ASTRT_OK);
  ck_assert_error_has("/dev/zero: not a regular file (a device)");
  ck_assert_int_eq(mkfifo(fx_path("pipe.csv"), 0600), 0);
  ck_assert_int_ne(astrt_load_csv_ex(fx_path("pipe.csv"), &o, &s), ASTRT_OK);
  ck_assert_error_has("not a regular file (a pipe)");
  ck_assert_error_has("save it to a file first");
}
END_TEST

START_TEST(test_csv_separators_detected) {
  static const struct {
    const char *text;
  } files[] = {
      {"a;b;label\n1.5;-2;0\n3;4e1;2\n"},     /* semicolons */
      {"a\tb\tlabel\n1.5\t-2\t0\n3\t4e1\t2\n"}, /* tabs */
      {"a b label\n 1.5  -2 0 \n3\t4e1 2\n"},  /* blanks: runs of spaces and tabs */
      {"a,b,label\n1.5 ,\t-2,0\n3,4e1,2\n"},  /* commas, blanks around fields */
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    astrt_split s = csv_loads(files[i].text, ASTRT_CSV_HEADER_AUTO, 0);
    ck_assert_msg(s.x.n == 2 && s.x.dims[0] == 2, "file %zu: %lld rows of %lld", i, (long long)s.x.n,
                  (long long)s.x.dims[0]);
    const float *x = s.x.data;
    const int32_t *y = s.y.data;
    ck_assert_msg(x[0] == 1.5f && x[1] == -2 && x[2] == 3 && x[3] == 40 && y[0] == 0 && y[1] == 2, "file %zu", i);
    astrt_split_free(&s);
  }
  /* the public loader detects too */
  fx_write_text(fx_path("semi.csv"), "1;2;1\n3;4;0\n");
  astrt_split s;
  ck_assert_int_eq(astrt_load_csv(fx_path("semi.csv"), -1, &s), ASTRT_OK);
  ck_assert_int_eq(s.x.n, 2);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_csv_separator_given_and_hints) {
  astrt_split s = csv_loads("1|2|0\n3|4|1\n", ASTRT_CSV_HEADER_NONE, '|');
  ck_assert_int_eq(s.x.n, 2);
  astrt_split_free(&s);
  /* an undetected separator: the hint names it */
  csv_fails("1|2|0\n3|4|1\n", ASTRT_CSV_HEADER_NONE, 0, "line 1 has only 1 column");
  ck_assert_error_has("separated by '|', not ','");
  ck_assert_error_has("sep: \"|\"");
  /* a separator given that the file does not use */
  csv_fails("1;2;0\n", ASTRT_CSV_HEADER_NONE, ',', "separated by ';', not ','");
  csv_fails("1,2,0\n3,4;5,1\n", ASTRT_CSV_HEADER_NONE, ',', "line 2, column 2: '4;5' is not a number");
  ck_assert_error_has("sep: \";\"");
  csv_fails("1\t2\t0\n", ASTRT_CSV_HEADER_NONE, ';', "separated by tabs, not ';': give sep: \"\\t\"");
  /* decimal commas, as a ;-separated spreadsheet export writes them */
  csv_fails("a;b;label\n1,5;2;0\n", ASTRT_CSV_HEADER_AUTO, 0, "line 2, column 1: '1,5' is not a number");
  ck_assert_error_has("decimal comma");
  ck_assert_error_has("1.5, not 1,5");
  /* a separator that cannot separate numbers */
  ck_assert_int_eq(csv_load("1,2\n", ASTRT_CSV_HEADER_AUTO, '.', &s), ASTRT_ERR_ARG);
  ck_assert_error_has("cannot separate numbers");
  ck_assert_int_eq(csv_load("1,2\n", 7, 0, &s), ASTRT_ERR_ARG);
  ck_assert_error_has("header mode 7");
}
END_TEST

START_TEST(test_csv_gzip) {
  static const char text[] = "a,b,label\n1,2,0\n3,4,1\n";
  fx_write_gz(fx_path("t.csv.gz"), text, sizeof text - 1);
  astrt_split s;
  ck_assert_msg(astrt_load_csv(fx_path("t.csv.gz"), -1, &s) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(s.x.n, 2);
  ck_assert(((const float *)s.x.data)[3] == 4);
  astrt_split_free(&s);
  /* cut short: an error, not a shorter table */
  size_t len;
  unsigned char *gz = fx_read_bytes(fx_path("t.csv.gz"), &len);
  fx_write_bytes(fx_path("cut.csv.gz"), gz, len - 12);
  free(gz);
  ck_assert_int_eq(astrt_load_csv(fx_path("cut.csv.gz"), -1, &s), ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("cut.csv.gz"));
  ck_assert_error_has("cut short");
  ck_assert_ptr_null(s.x.data);
}
END_TEST

/* ---- labels: integral floats ---------------------------------------------------- */

static const float npy_feat[8] = {0, 1, 2, 3, 4, 5, 6, 7};

static void write_npy_labels(const char *descr, const void *y, size_t bytes, int n) {
  char dict[160];
  snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 2), }", n);
  fx_write_npy(fx_path("x.npy"), 1, dict, npy_feat, (size_t)n * 2 * sizeof(float));
  snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }", descr, n);
  fx_write_npy(fx_path("y.npy"), 1, dict, y, bytes);
}

/* A data descriptor of an NPY or CSV table of `classes` classes, 2 features. */
static void table_desc(astrt_data_desc *d, int kind, const char *x, const char *y, int64_t classes) {
  memset(d, 0, sizeof *d);
  d->kind = kind;
  d->source = x;
  d->y_source = y;
  d->test_source = "";
  d->test_y_source = "";
  d->label_column = -1;
  d->rank = 1;
  d->dims[0] = 2;
  d->example_size = 2;
  d->x_dtype = ASTRT_DTYPE_F32;
  d->classes = classes;
  d->target = ASTRT_TARGET_CLASS;
  d->target_size = 1;
  d->std = 1;
  d->holdout = 0.25;
}

START_TEST(test_npy_float_labels) {
  static const double y8[4] = {0.0, 1.0, 2.0, 1.0};
  static const float y4[4] = {2.0f, 0.0f, 1.0f, 0.0f};
  static const struct {
    const char *descr;
    const void *y;
    size_t bytes;
    int32_t first;
  } cases[] = {{"<f8", y8, sizeof y8, 0}, {"<f4", y4, sizeof y4, 2}};
  for (int i = 0; i < 2; i++) {
    write_npy_labels(cases[i].descr, cases[i].y, cases[i].bytes, 4);
    astrt_split s;
    ck_assert_msg(astrt_load_npy_classes(fx_path("x.npy"), fx_path("y.npy"), &s) == ASTRT_OK, "%s: %s",
                  cases[i].descr, astrt_last_error());
    ck_assert(s.y.elem == ASTRT_ELEM_I32 && s.y.rank == 0 && s.y.n == 4);
    ck_assert_int_eq(((const int32_t *)s.y.data)[0], cases[i].first);
    ck_assert_int_eq(s.num_classes, 3);
    astrt_split_free(&s);
    /* as the compiled program loads them: the classes, split and checked */
    astrt_data_desc d;
    table_desc(&d, ASTRT_DATA_NPY, fx_path("x.npy"), fx_path("y.npy"), 3);
    astrt_split train, test;
    ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
    ck_assert_int_eq(train.x.n + test.x.n, 4);
    astrt_split_free(&train);
    astrt_split_free(&test);
  }
}
END_TEST

START_TEST(test_npy_float_labels_refused) {
  /* not whole: the message names the dtype and the label */
  static const double half[3] = {0.0, 0.5, 1.0};
  write_npy_labels("<f8", half, sizeof half, 3);
  astrt_split s;
  ck_assert_int_eq(astrt_load_npy_classes(fx_path("x.npy"), fx_path("y.npy"), &s), ASTRT_ERR_FORMAT);
  ck_assert_ptr_null(s.x.data);
  ck_assert_error_has(fx_path("y.npy"));
  ck_assert_error_has("dtype '<f8' (float64)");
  ck_assert_error_has("label 1 is 0.5");
  ck_assert_error_has("declare the data without classes");
  /* whole as float32 but not in the file: checked before any rounding */
  static const double close[2] = {1.0, 2.0000000001};
  write_npy_labels("<f8", close, sizeof close, 2);
  ck_assert_int_eq(astrt_load_npy_classes(fx_path("x.npy"), fx_path("y.npy"), &s), ASTRT_ERR_FORMAT);
  ck_assert_error_has("label 1 is 2.0000000001");
  /* negative */
  static const float neg[2] = {1.0f, -1.0f};
  write_npy_labels("<f4", neg, sizeof neg, 2);
  ck_assert_int_eq(astrt_load_npy_classes(fx_path("x.npy"), fx_path("y.npy"), &s), ASTRT_ERR_FORMAT);
  ck_assert_error_has("dtype '<f4' (float32), and label 1 is -1");
  /* a split of float labels given to the checks: named as such */
  static const float y[2] = {0.0f, 1.0f};
  astrt_split view;
  astrt_split_view_f32(&view, npy_feat, NULL, 2, 2, 2);
  view.y.elem = ASTRT_ELEM_F32;
  view.y.data = (void *)y;
  astrt_data_desc d;
  table_desc(&d, ASTRT_DATA_NPY, "x", "y", 2);
  ck_assert_int_eq(astrt_data_check(&d, &view, "the training set"), ASTRT_ERR_FORMAT);
  ck_assert_error_has("the labels are float32, not int32 class labels");
}
END_TEST

START_TEST(test_csv_float_labels) {
  /* CSV reads them as NPY does */
  fx_write_text(fx_path("t.csv"), "1,2,0.0\n3,4,1.0\n5,6,2e0\n7,8,1\n");
  astrt_data_desc d;
  table_desc(&d, ASTRT_DATA_CSV, fx_path("t.csv"), "", 3);
  astrt_split train, test;
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(train.x.n + test.x.n, 4);
  astrt_split_free(&train);
  astrt_split_free(&test);
  fx_write_text(fx_path("t.csv"), "1,2,0\n3,4,0.5\n");
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 2, column 3: '0.5' is not a valid label");
  ck_assert_error_has("declared without classes");
}
END_TEST

/* ---- the holdout ------------------------------------------------------------------- */

/* A CSV table of n rows sorted by class: row i has features (i, -i) and the
 * class c for which bounds[c] <= i < bounds[c + 1]; real: the target i / 2. */
static void write_sorted(const char *path, int n, const int *bounds, int real) {
  char *text = malloc((size_t)n * 40 + 1), *p = text;
  ck_assert_ptr_nonnull(text);
  int c = 0;
  for (int i = 0; i < n; i++) {
    while (!real && i >= bounds[c + 1]) c++;
    if (real) p += sprintf(p, "%d,%d,%g\n", i, -i, i / 2.0);
    else p += sprintf(p, "%d,%d,%d\n", i, -i, c);
  }
  fx_write_text(path, text);
  free(text);
}

static void load_table(astrt_data_desc *d, astrt_split *train, astrt_split *test) {
  ck_assert_msg(astrt_data_load(d, NULL, train, test) == ASTRT_OK, "%s", astrt_last_error());
}

/* the rows (first feature) of a split, in order */
static void split_rows(const astrt_split *s, int *rows) {
  const float *x = s->x.data;
  for (int64_t i = 0; i < s->x.n; i++) rows[i] = (int)x[2 * i];
}

/* csv(x: ..., y: ...): features in one file (every column), the targets in
 * another (one column), as sklearn ships diabetes: blank-separated features
 * and a gzip-free column of targets here; classes likewise; the test split
 * from test_x/test_y. Row counts that differ, or a targets file of two
 * columns, are errors naming the files. */
START_TEST(test_csv_features_and_targets_files) {
  fx_write_text(fx_path("x.csv"), "59 2 32.1\n48 1 21.6\n72 2 30.5\n24 1 25.3\n");
  fx_write_text(fx_path("y.csv"), "1.51e+02\n7.5e+01\n141\n206\n");
  astrt_data_desc d;
  table_desc(&d, ASTRT_DATA_CSV, fx_path("x.csv"), fx_path("y.csv"), 0);
  d.dims[0] = d.example_size = 3;
  d.target = ASTRT_TARGET_REAL;
  d.test_source = fx_path("x.csv");
  d.test_y_source = fx_path("y.csv");
  astrt_split train, test;
  load_table(&d, &train, &test);
  ck_assert_int_eq(train.x.n, 4);
  ck_assert_int_eq(train.x.dims[0], 3);
  ck_assert_int_eq(train.y.n, 4);
  ck_assert(train.y.elem == ASTRT_ELEM_F32);
  const float *x = train.x.data, *y = train.y.data;
  ck_assert(x[0] == 59 && x[2] == 32.1f && x[3] == 48 && x[11] == 25.3f);
  ck_assert(y[0] == 151 && y[1] == 75 && y[3] == 206);
  ck_assert_int_eq(test.x.n, 4);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* classes, with a header of names in each file, and the holdout */
  fx_write_text(fx_path("x.csv"), "a,b\n1,2\n3,4\n5,6\n7,8\n");
  fx_write_text(fx_path("y.csv"), "class\n0\n1\n2\n1\n");
  table_desc(&d, ASTRT_DATA_CSV, fx_path("x.csv"), fx_path("y.csv"), 3);
  load_table(&d, &train, &test);
  ck_assert_int_eq(train.x.n + test.x.n, 4);
  ck_assert(train.y.elem == ASTRT_ELEM_I32);
  int sum = 0;  /* the labels 0, 1, 2, 1 between the splits */
  for (int64_t i = 0; i < train.y.n; i++) sum += ((const int32_t *)train.y.data)[i];
  for (int64_t i = 0; i < test.y.n; i++) sum += ((const int32_t *)test.y.data)[i];
  ck_assert_int_eq(sum, 4);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* counts that differ */
  fx_write_text(fx_path("y.csv"), "0\n1\n2\n");
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("holds 4 examples but");
  ck_assert_error_has("y.csv holds 3");
  /* a file of classes of two columns */
  fx_write_text(fx_path("y.csv"), "0,1\n1,1\n2,0\n1,0\n");
  ck_assert_int_ne(astrt_data_load(&d, NULL, &train, &test), ASTRT_OK);
  ck_assert_error_has("line 1 has 2 columns (separated by ',')");
  ck_assert_error_has("a file of classes (y: with classes) has one column, each example's class");
  /* real targets, k of them per row (sklearn's linnerud: 3 exercises, 3 measurements) */
  fx_write_text(fx_path("x.csv"), "Chins Situps Jumps\n5 162 60\n2 110 60\n12 101 101\n");
  fx_write_text(fx_path("y.csv"), "Weight Waist Pulse\n191 36 50\n189 37 52\n193 38 58\n");
  table_desc(&d, ASTRT_DATA_CSV, fx_path("x.csv"), fx_path("y.csv"), 0);
  d.dims[0] = d.example_size = 3;
  d.target = ASTRT_TARGET_REAL;
  d.target_size = 3;
  d.test_source = fx_path("x.csv");
  d.test_y_source = fx_path("y.csv");
  load_table(&d, &train, &test);
  ck_assert_int_eq(train.y.n, 3);
  ck_assert(train.y.elem == ASTRT_ELEM_F32 && train.y.rank == 1 && train.y.dims[0] == 3);
  y = train.y.data;
  ck_assert(y[0] == 191 && y[2] == 50 && y[3] == 189 && y[8] == 58);
  ck_assert(((const float *)train.x.data)[3] == 2);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* the model's output must match: 3 targets against a target_size of 2 */
  d.target_size = 2;
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("hold 3 values per example, but the model predicts 2");
}
END_TEST

START_TEST(test_holdout_stratified) {
  /* 100 rows sorted by class, 10, 20, 30 and 40 of classes 0..3 */
  static const int bounds[5] = {0, 10, 30, 60, 100};
  write_sorted(fx_path("t.csv"), 100, bounds, 0);
  astrt_data_desc d;
  table_desc(&d, ASTRT_DATA_CSV, fx_path("t.csv"), "", 4);
  d.holdout = 0.1;
  astrt_split train, test;
  load_table(&d, &train, &test);
  ck_assert_int_eq(train.x.n, 90);
  ck_assert_int_eq(test.x.n, 10);
  int per[4] = {0, 0, 0, 0};
  const int32_t *ty = test.y.data;
  for (int i = 0; i < 10; i++) per[ty[i]]++;
  ck_assert_msg(per[0] == 1 && per[1] == 2 && per[2] == 3 && per[3] == 4, "test split per class: %d %d %d %d",
                per[0], per[1], per[2], per[3]);
  /* both splits in file order, together every row once */
  int rows[100], seen[100] = {0};
  split_rows(&test, rows);
  for (int i = 0; i < 10; i++) {
    ck_assert(i == 0 || rows[i] > rows[i - 1]);
    seen[rows[i]]++;
  }
  split_rows(&train, rows);
  for (int i = 0; i < 90; i++) {
    ck_assert(i == 0 || rows[i] > rows[i - 1]);
    seen[rows[i]]++;
  }
  for (int i = 0; i < 100; i++) ck_assert_int_eq(seen[i], 1);
  char missing[64];
  ck_assert_int_eq(astrt_data_missing_classes(&d, &test, missing, sizeof missing), 0);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* split: last takes the end of the file: one class only, and the check says which are missing */
  d.split = ASTRT_SPLIT_LAST;
  load_table(&d, &train, &test);
  for (int i = 0; i < 10; i++) ck_assert_int_eq(((const int32_t *)test.y.data)[i], 3);
  ck_assert_int_eq(astrt_data_missing_classes(&d, &test, missing, sizeof missing), 3);
  ck_assert_str_eq(missing, "0, 1, 2");
  astrt_split_free(&train);
  astrt_split_free(&test);
}
END_TEST

/* Each class's share, rounded by largest remainder: wine's 59, 71 and 48
 * examples with 17 held out are 5.64, 6.79 and 4.58: 6, 7 and 4. */
START_TEST(test_holdout_largest_remainder) {
  static const int bounds[4] = {0, 59, 130, 178};
  write_sorted(fx_path("t.csv"), 178, bounds, 0);
  astrt_data_desc d;
  table_desc(&d, ASTRT_DATA_CSV, fx_path("t.csv"), "", 3);
  d.holdout = 0.1;
  astrt_split train, test;
  load_table(&d, &train, &test);
  ck_assert_int_eq(test.x.n, 17);
  int per[3] = {0, 0, 0};
  for (int i = 0; i < 17; i++) per[((const int32_t *)test.y.data)[i]]++;
  ck_assert_msg(per[0] == 6 && per[1] == 7 && per[2] == 4, "%d %d %d", per[0], per[1], per[2]);
  astrt_split_free(&train);
  astrt_split_free(&test);
}
END_TEST

/* Real targets: the k rows of smallest astrt_hash64(astrt_subkey(seed,
 * "holdout"), row), as docs/language.md tells how to reproduce it. */
START_TEST(test_holdout_follows_spec) {
  write_sorted(fx_path("t.csv"), 50, NULL, 1);
  astrt_data_desc d;
  table_desc(&d, ASTRT_DATA_CSV, fx_path("t.csv"), "", 0);
  d.target = ASTRT_TARGET_REAL;
  d.classes = 0;
  d.holdout = 0.2;
  for (uint64_t seed = 0; seed < 3; seed++) {
    d.synth_seed = seed;
    uint64_t key = astrt_subkey(seed, 0x686f6c646f7574ull), keys[50];
    for (int i = 0; i < 50; i++) keys[i] = astrt_hash64(key, (uint64_t)i);
    int want[10], nwant = 0;  /* the 10 smallest keys, in row order */
    for (int i = 0; i < 50; i++) {
      int smaller = 0;
      for (int j = 0; j < 50; j++) smaller += keys[j] < keys[i];
      if (smaller < 10) want[nwant++] = i;
    }
    ck_assert_int_eq(nwant, 10);
    astrt_split train, test;
    load_table(&d, &train, &test);
    ck_assert_int_eq(test.x.n, 10);
    int rows[10];
    split_rows(&test, rows);
    for (int i = 0; i < 10; i++) ck_assert_msg(rows[i] == want[i], "seed %d: row %d, not %d", (int)seed, rows[i], want[i]);
    ck_assert(((const float *)test.y.data)[0] == (float)(want[0] / 2.0));
    astrt_split_free(&train);
    astrt_split_free(&test);
  }
}
END_TEST

/* The same seed gives the same split; another seed another one. */
START_TEST(test_holdout_seeded) {
  static const int bounds[3] = {0, 40, 80};
  write_sorted(fx_path("t.csv"), 80, bounds, 0);
  astrt_data_desc d;
  table_desc(&d, ASTRT_DATA_CSV, fx_path("t.csv"), "", 2);
  d.holdout = 0.25;
  int a[20], b[20], c[20];
  astrt_split train, test;
  int *out[3] = {a, b, c};
  uint64_t seeds[3] = {7, 7, 8};
  for (int k = 0; k < 3; k++) {
    d.synth_seed = seeds[k];
    load_table(&d, &train, &test);
    ck_assert_int_eq(test.x.n, 20);
    split_rows(&test, out[k]);
    astrt_split_free(&train);
    astrt_split_free(&test);
  }
  ck_assert_mem_eq(a, b, sizeof a);
  ck_assert(memcmp(a, c, sizeof a) != 0);
}
END_TEST

/* ---- the plan of a run ------------------------------------------------------------- */

/* A small MLP over synthetic data: `train` examples, batch `batch`, the
 * budget line `budget` ("epochs = 2"), and a speedup block `speedup` ("" for
 * none). */
static void jit_program(TuRun *r, int train, int batch, const char *budget, const char *target,
                        const char *speedup) {
  char src[2048];
  snprintf(src, sizeof src,
           "import nn\n"
           "data d = synthetic(shape: [4], classes: 2, train: %d, test: 20, seed: 1)\n"
           "model m(x: f32[B, 4]) -> f32[B, 2] {\n  return nn.dense(relu(nn.dense(x, 8)), 2)\n}\n"
           "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.01)\n  batch = %d\n  %s\n  %s\n}\n%s",
           train, batch, budget, target, speedup);
  tu_run_init(r, src, "plan");
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* steps = 10^11 on 100 examples (10^10 epochs) starts at once: the plan
 * jumps over the epochs instead of walking them. The loss target, reached
 * at the first evaluation, ends the run there. */
START_TEST(test_plan_huge_budget) {
  TuRun r;
  jit_program(&r, 100, 10, "steps = 100000000000", "target = loss <= 1000000", "");
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  o.stop_at_target = 1;
  astrt_result res;
  double t0 = seconds();
  ck_assert_msg(astrt_train(r.d, &o, &res) == ASTRT_OK, "%s", astrt_last_error());
  double dt = seconds() - t0;
  ck_assert_int_eq(res.steps, 10);  /* one epoch, then the target */
  ck_assert_msg(dt < 5, "a run of 10 steps took %.1f s", dt);
  /* --steps and --budget too */
  o.steps = 300000000000;
  o.budget = 0.5;
  t0 = seconds();
  ck_assert_msg(astrt_train(r.d, &o, &res) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_msg(seconds() - t0 < 5, "a run of 10 steps took %.1f s", seconds() - t0);
  tu_run_free(&r);
}
END_TEST

/* The plan's jumps end where the run, step by step, ends (test hook
 * ASTRT_TEST_PLAN_CHECK: the driver plans both ways and fails if they
 * differ), over phases of several batch sizes, partial epochs, steps and
 * epochs budgets and --budget factors. */
START_TEST(test_plan_matches_steps) {
  static const struct {
    int train, batch;
    const char *speedup;
  } programs[] = {
      {97, 8, "speedup {\n  batch ramp(8 -> 40, until: 0.6)\n}\n"},
      {100, 10, ""},
      {64, 5, "speedup {\n  batch ramp(5 -> 20, until: 0.35)\n}\n"},
  };
  static const struct {
    int64_t epochs, steps;
    double budget;
  } budgets[] = {{0, 0, 1}, {3, 0, 1}, {0, 7, 1}, {0, 37, 1}, {2, 0, 0.3}, {0, 40, 0.77}, {5, 0, 0.61}};
  setenv("ASTRT_TEST_PLAN_CHECK", "1", 1);
  for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
    TuRun r;
    jit_program(&r, programs[i].train, programs[i].batch, "epochs = 4", "", programs[i].speedup);
    for (size_t k = 0; k < sizeof budgets / sizeof budgets[0]; k++) {
      astrt_options o;
      astrt_options_default(&o);
      o.quiet = 1;
      o.threads = 1;
      o.epochs = budgets[k].epochs;
      o.steps = budgets[k].steps;
      o.budget = budgets[k].budget;
      astrt_result res;
      ck_assert_msg(astrt_train(r.d, &o, &res) == ASTRT_OK, "program %zu, budget %zu: %s", i, k,
                    astrt_last_error());
    }
    tu_run_free(&r);
  }
  unsetenv("ASTRT_TEST_PLAN_CHECK");
}
END_TEST

/* ---- a batch larger than the training set ------------------------------------------- */

/* A program over fx_tmpdir/t.csv (2 features, 2 classes) with batch `batch`. */
static void jit_csv_program(TuRun *r, int batch, const char *speedup) {
  char src[1024];
  snprintf(src, sizeof src,
           "import nn\n"
           "data d = csv(\"%s\", shape: [2], classes: 2)\n"
           "model m(x: f32[B, 2]) -> f32[B, 2] {\n  return nn.dense(x, 2)\n}\n"
           "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.01)\n  batch = %d\n  epochs = 3\n}\n%s",
           fx_path("t.csv"), batch, speedup);
  tu_run_init(r, src, "bigbatch");
}

/* Known when the data is loaded: refused then, before the batch buffers
 * are made, with the sizes and the fix. */
START_TEST(test_batch_larger_than_data) {
  static const int bounds[3] = {0, 20, 40};
  write_sorted(fx_path("t.csv"), 40, bounds, 0);  /* 36 train, 4 test */
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  astrt_result res;
  TuRun r;
  jit_csv_program(&r, 100000, "");
  ck_assert_int_eq(astrt_train(r.d, &o, &res), ASTRT_ERR_ARG);
  ck_assert_error_has("the batch size is 100000, but the training split of");
  ck_assert_error_has("t.csv has only 36 examples, after holding out 4 for testing");
  ck_assert_error_has("use a batch of at most 36");
  /* --load does not train: it evaluates whatever the batch */
  astrt_model *saved;
  ck_assert_int_eq(astrt_model_create(r.d, NULL, &saved), ASTRT_OK);
  ck_assert_int_eq(astrt_model_save(saved, fx_path("w.safetensors")), ASTRT_OK);
  astrt_model_destroy(saved);
  o.load_path = fx_path("w.safetensors");
  ck_assert_msg(astrt_train(r.d, &o, &res) == ASTRT_OK, "%s", astrt_last_error());
  o.load_path = NULL;
  tu_run_free(&r);
  /* a ramp's largest batch counts too */
  jit_csv_program(&r, 8, "speedup {\n  batch ramp(8 -> 64, until: 0.5)\n}\n");
  ck_assert_int_eq(astrt_train(r.d, &o, &res), ASTRT_ERR_ARG);
  ck_assert_error_has("the batch size is 64 (where a ramp ends)");
  tu_run_free(&r);
  /* the whole training split in one batch is fine */
  jit_csv_program(&r, 36, "");
  ck_assert_msg(astrt_train(r.d, &o, &res) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(res.steps, 3);
  /* a training source of the embedding API is held to the same */
  astrt_model *m;
  ck_assert_int_eq(astrt_model_create(r.d, NULL, &m), ASTRT_OK);
  static const float x[20] = {0};
  static const int32_t y[10] = {0};
  astrt_split view;
  astrt_split_view_f32(&view, x, y, 10, 2, 2);
  astrt_data_source src = {10, NULL, NULL, &view};
  ck_assert_int_eq(astrt_model_train(m, &src, NULL, NULL, NULL), ASTRT_ERR_ARG);
  ck_assert_error_has("the training split of the training data source has only 10 examples");
  astrt_model_destroy(m);
  tu_run_free(&r);
}
END_TEST

/* ---- normalize: standard ------------------------------------------------------------- */

/* t.csv: 50 training rows (f0 = i, f1 = 5, f2 = 1000 + 3 (i % 4), class i % 2)
 * and v.csv: 10 test rows; a program that standardises them. */
static void jit_standard(TuRun *r) {
  char *text = malloc(4096), *p = text;
  ck_assert_ptr_nonnull(text);
  for (int i = 0; i < 50; i++) p += sprintf(p, "%d,5,%d,%d\n", i, 1000 + 3 * (i % 4), i % 2);
  fx_write_text(fx_path("t.csv"), text);
  p = text;
  for (int i = 0; i < 10; i++) p += sprintf(p, "%d,5,%d,%d\n", 3 * i, 1000 + i, i % 2);
  fx_write_text(fx_path("v.csv"), text);
  free(text);
  char src[1024];
  snprintf(src, sizeof src,
           "import nn\n"
           "data d = csv(\"%s\", test: \"%s\", shape: [3], classes: 2, normalize: standard)\n"
           "model m(x: f32[B, 3]) -> f32[B, 2] {\n  return nn.dense(x, 2)\n}\n"
           "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n  batch = 8\n  epochs = 2\n}\n",
           fx_path("t.csv"), fx_path("v.csv"));
  tu_run_init(r, src, "standard");
}

/* The statistics a run computes, as the variables data.mean and data.std;
 * the whole training set, population std, a constant feature only centred. */
START_TEST(test_standardize_statistics) {
  TuRun r;
  jit_standard(&r);
  ck_assert_int_eq(r.d->data.normalize, ASTRT_NORM_STANDARD);
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  o.save_path = fx_path("w.safetensors");
  astrt_result res;
  ck_assert_msg(astrt_train(r.d, &o, &res) == ASTRT_OK, "%s", astrt_last_error());
  astrt_model *m;
  ck_assert_int_eq(astrt_model_create(r.d, NULL, &m), ASTRT_OK);
  ck_assert_msg(astrt_model_load(m, fx_path("w.safetensors")) == ASTRT_OK, "%s", astrt_last_error());
  float mean[3], std[3];
  ck_assert_int_eq(astrt_model_get(m, "data.mean", mean, 3), ASTRT_OK);
  ck_assert_int_eq(astrt_model_get(m, "data.std", std, 3), ASTRT_OK);
  double m2 = 0, s2 = 0;  /* feature 2: 1000 + 3 (i % 4) */
  for (int i = 0; i < 50; i++) m2 += 1000 + 3 * (i % 4);
  m2 /= 50;
  for (int i = 0; i < 50; i++) s2 += (1000 + 3 * (i % 4) - m2) * (1000 + 3 * (i % 4) - m2);
  ck_assert_float_eq(mean[0], 24.5f);
  ck_assert_float_eq_tol(std[0], (float)sqrt((50.0 * 50.0 - 1) / 12), 1e-5);  /* population std of 0..49 */
  ck_assert_float_eq(mean[1], 5.0f);
  ck_assert_float_eq(std[1], 1.0f);  /* constant: centred only */
  ck_assert_float_eq_tol(mean[2], (float)m2, 1e-4);
  ck_assert_float_eq_tol(std[2], (float)sqrt(s2 / 50), 1e-5);
  /* the embedding API computes the same bits from the same examples */
  astrt_model *f;
  ck_assert_int_eq(astrt_model_create(r.d, NULL, &f), ASTRT_OK);
  astrt_split train;
  ck_assert_int_eq(astrt_load_csv(fx_path("t.csv"), -1, &train), ASTRT_OK);
  astrt_data_source src = {train.x.n, NULL, NULL, &train};
  ck_assert_msg(astrt_model_fit_normalization(f, &src) == ASTRT_OK, "%s", astrt_last_error());
  float fmean[3], fstd[3];
  ck_assert_int_eq(astrt_model_get(f, "data.mean", fmean, 3), ASTRT_OK);
  ck_assert_int_eq(astrt_model_get(f, "data.std", fstd, 3), ASTRT_OK);
  ck_assert_mem_eq(fmean, mean, sizeof mean);
  ck_assert_mem_eq(fstd, std, sizeof std);
  astrt_split_free(&train);
  astrt_model_destroy(f);
  astrt_model_destroy(m);
  tu_run_free(&r);
}
END_TEST

/* Inference uses the statistics of training: a model loaded from the saved
 * file evaluates the test set to the run's final test loss, bit for bit; a
 * model without them refuses to predict, and so do unusable ones. */
START_TEST(test_standardize_inference) {
  TuRun r;
  jit_standard(&r);
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  o.save_path = fx_path("w.safetensors");
  astrt_result res;
  ck_assert_msg(astrt_train(r.d, &o, &res) == ASTRT_OK, "%s", astrt_last_error());
  astrt_split test;
  ck_assert_int_eq(astrt_load_csv(fx_path("v.csv"), -1, &test), ASTRT_OK);
  astrt_model *m;
  ck_assert_int_eq(astrt_model_create(r.d, NULL, &m), ASTRT_OK);
  float out[20];
  ck_assert_int_eq(astrt_model_predict(m, test.x.data, 10, out), ASTRT_ERR_ARG);
  ck_assert_error_has("does not have yet");
  ck_assert_error_has("astrt_model_fit_normalization");
  ck_assert_msg(astrt_model_load(m, fx_path("w.safetensors")) == ASTRT_OK, "%s", astrt_last_error());
  double loss, acc;
  ck_assert_msg(astrt_model_evaluate(m, test.x.data, test.y.data, 10, &loss, &acc) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_msg(loss == res.final_test_loss, "loaded: test loss %.17g, the run's %.17g", loss, res.final_test_loss);
  ck_assert_int_eq(astrt_model_predict(m, test.x.data, 10, out), ASTRT_OK);
  /* --load in a run: the file's statistics, the same loss */
  astrt_options l;
  astrt_options_default(&l);
  l.quiet = 1;
  l.threads = 1;
  l.load_path = fx_path("w.safetensors");
  astrt_result lres;
  ck_assert_msg(astrt_train(r.d, &l, &lres) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert(lres.final_test_loss == res.final_test_loss);
  /* the file's statistics, not new ones: a file with other ones gives another loss */
  float std[3] = {1, 1, 1};
  ck_assert_int_eq(astrt_model_set(m, "data.std", std, 3), ASTRT_OK);
  ck_assert_int_eq(astrt_model_save(m, fx_path("w2.safetensors")), ASTRT_OK);
  l.load_path = fx_path("w2.safetensors");
  ck_assert_msg(astrt_train(r.d, &l, &lres) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert(lres.final_test_loss != res.final_test_loss);
  /* unusable statistics are refused */
  std[1] = -1;
  ck_assert_int_eq(astrt_model_set(m, "data.std", std, 3), ASTRT_OK);
  ck_assert_int_eq(astrt_model_predict(m, test.x.data, 10, out), ASTRT_ERR_FORMAT);
  ck_assert_error_has("not usable");
  ck_assert_int_eq(astrt_model_save(m, fx_path("w3.safetensors")), ASTRT_OK);
  l.load_path = fx_path("w3.safetensors");
  ck_assert_int_eq(astrt_train(r.d, &l, &lres), ASTRT_ERR_FORMAT);
  ck_assert_error_has("data.mean and data.std");
  astrt_split_free(&test);
  astrt_model_destroy(m);
  tu_run_free(&r);
}
END_TEST

/* astrt_model_train computes them from its source when the model has none. */
START_TEST(test_standardize_model_train) {
  TuRun r;
  jit_standard(&r);
  astrt_split train;
  ck_assert_int_eq(astrt_load_csv(fx_path("t.csv"), -1, &train), ASTRT_OK);
  astrt_model *m;
  ck_assert_int_eq(astrt_model_create(r.d, NULL, &m), ASTRT_OK);
  astrt_data_source src = {train.x.n, NULL, NULL, &train};
  ck_assert_msg(astrt_model_train(m, &src, NULL, NULL, NULL) == ASTRT_OK, "%s", astrt_last_error());
  float mean[3];
  ck_assert_int_eq(astrt_model_get(m, "data.mean", mean, 3), ASTRT_OK);
  ck_assert_float_eq(mean[0], 24.5f);
  astrt_split_free(&train);
  astrt_model_destroy(m);
  tu_run_free(&r);
}
END_TEST

/* Gathering with per-feature statistics: each value with its feature's mean
 * and std, U8 (no table) and F32 alike, and astrt_normalize the same bits. */
START_TEST(test_standardize_gather) {
  static const uint8_t bytes[6] = {0, 10, 255, 3, 4, 5};
  float fx[6];
  for (int i = 0; i < 6; i++) fx[i] = bytes[i] / 255.0f;
  static const float fmean[3] = {0.5f, -1.0f, 0.25f}, fstd[3] = {2.0f, 0.5f, 3.0f};
  astrt_norm norm = {0.0f, 1.0f, fmean, fstd};
  int32_t labels[2] = {0, 1}, y[2];
  astrt_split u8 = {{ASTRT_ELEM_U8, 1, {3}, 2, (void *)bytes, 1.0f / 255.0f, 0.0f},
                    {ASTRT_ELEM_I32, 0, {0}, 2, labels, 1.0f, 0.0f}, 2};
  float x[6], want[6], raw[6];
  astrt_batch_gather(&u8, NULL, 0, 2, norm, x, y);
  for (int i = 0; i < 6; i++) want[i] = ((float)bytes[i] * (1.0f / 255.0f) + 0.0f - fmean[i % 3]) / fstd[i % 3];
  ck_assert_mem_eq(x, want, sizeof x);
  astrt_split f32;
  astrt_split_view_f32(&f32, fx, labels, 2, 3, 2);
  astrt_batch_gather(&f32, NULL, 0, 2, norm, x, y);
  for (int i = 0; i < 6; i++) want[i] = (fx[i] * 1.0f + 0.0f - fmean[i % 3]) / fstd[i % 3];
  ck_assert_mem_eq(x, want, sizeof x);
  memcpy(raw, fx, sizeof raw);
  astrt_normalize(raw, 2, 3, norm);
  ck_assert_mem_eq(raw, x, sizeof x);
}
END_TEST

/* ---- suites ------------------------------------------------------------------------ */

static TCase *fixture_case(const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
  return tc;
}

static Suite *tables_suite(void) {
  Suite *s = suite_create("tables");
  TCase *csv = fixture_case("csv");
  tcase_add_test(csv, test_csv_header_skip);
  tcase_add_test(csv, test_csv_header_skip_then_names);
  tcase_add_test(csv, test_csv_features_and_targets_files);
  tcase_add_test(csv, test_csv_header_names_and_none);
  tcase_add_test(csv, test_csv_header_auto_mostly_names);
  tcase_add_test(csv, test_csv_not_a_regular_file);
  tcase_add_test(csv, test_csv_field_hints);
  tcase_add_test(csv, test_files_of_other_tools);
  tcase_add_test(csv, test_csv_separators_detected);
  tcase_add_test(csv, test_csv_separator_given_and_hints);
  tcase_add_test(csv, test_csv_gzip);
  suite_add_tcase(s, csv);
  TCase *labels = fixture_case("labels");
  tcase_add_test(labels, test_npy_float_labels);
  tcase_add_test(labels, test_npy_float_labels_refused);
  tcase_add_test(labels, test_csv_float_labels);
  suite_add_tcase(s, labels);
  TCase *holdout = fixture_case("holdout");
  tcase_add_test(holdout, test_holdout_stratified);
  tcase_add_test(holdout, test_holdout_largest_remainder);
  tcase_add_test(holdout, test_holdout_follows_spec);
  tcase_add_test(holdout, test_holdout_seeded);
  suite_add_tcase(s, holdout);
  TCase *plan = fixture_case("plan");
  tcase_set_timeout(plan, 60);  /* walking 10^10 epochs takes minutes */
  tcase_add_test(plan, test_plan_huge_budget);
  tcase_add_test(plan, test_batch_larger_than_data);
  suite_add_tcase(s, plan);
  TCase *norm = fixture_case("normalize");
  tcase_add_test(norm, test_standardize_statistics);
  tcase_add_test(norm, test_standardize_inference);
  tcase_add_test(norm, test_standardize_model_train);
  tcase_add_test(norm, test_standardize_gather);
  suite_add_tcase(s, norm);
  return s;
}

static Suite *hooks_suite(void) {
  Suite *s = suite_create("tables hooks");
  TCase *plan = fixture_case("plan");
  tcase_set_timeout(plan, 120);
  tcase_add_test(plan, test_plan_matches_steps);
  suite_add_tcase(s, plan);
  return s;
}

int main(int argc, char **argv) {
  static const FxExtra extra[] = {{"hooks", hooks_suite, fx_missing_test_hooks}};
  return fx_main(argc, argv, tables_suite, extra, 1);
}
