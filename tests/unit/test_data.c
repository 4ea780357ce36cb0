/* test_data.c — unit tests for the runtime's data-set loaders (IDX raw and
 * gzip, CSV, NPY), the data-set search path, the astrt_array helpers and
 * the counter-based random number generator (runtime/data_*.c, rng.c).
 *
 * Fixture files are written at test time into a fresh directory made with
 * mkdtemp (removed afterwards; test_fixtures.h). Two suites need the
 * machine's /usr/share/datasets and are ctest entries of their own, skipped
 * (exit 77, "SKIP: reason") where it does not fit:
 *   test_data fashion_mnist  loads the real Fashion-MNIST (apt-get install
 *                            dataset-fashion-mnist);
 *   test_data package_hint   the "apt-get install dataset-NAME" hint for a
 *                            known data set that is not installed (needs
 *                            fashion-mnist or mnist to be absent);
 *   test_data fortunes       the text corpus "fortunes" (apt-get install
 *                            fortunes).
 * Also here: text and token data (data_text.c), their splits and windows,
 * and real-valued targets.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* setenv, truncate */
#endif
#include "astrt.h"
#include "driver_internal.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_fixtures.h"

/* ---- IDX fixtures ------------------------------------------------------- */

static const unsigned char images3[12] = {0, 255, 128, 7, 1, 2, 3, 4,
                                          10, 20, 30, 40};
static const uint32_t images3_dims[3] = {3, 2, 2};
static const unsigned char labels3[3] = {2, 0, 1};
static const uint32_t labels3_dims[1] = {3};

static void write_images3(const char *name, int gz) {
  fx_write_idx(fx_path(name), 0x08, 3, images3_dims, images3, sizeof images3, gz);
}

static void write_labels3(const char *name, int gz) {
  fx_write_idx(fx_path(name), 0x08, 1, labels3_dims, labels3, sizeof labels3, gz);
}

static void check_split3(const astrt_split *s) {
  ck_assert_int_eq(s->x.elem, ASTRT_ELEM_U8);
  ck_assert_int_eq(s->x.rank, 2);
  ck_assert_int_eq(s->x.dims[0], 2);
  ck_assert_int_eq(s->x.dims[1], 2);
  ck_assert_int_eq(s->x.n, 3);
  ck_assert_mem_eq(s->x.data, images3, sizeof images3);
  ck_assert_float_eq(s->x.scale, 1.0f / 255.0f);
  ck_assert_float_eq(s->x.shift, 0.0f);
  ck_assert_int_eq(s->y.elem, ASTRT_ELEM_I32);
  ck_assert_int_eq(s->y.rank, 0);
  ck_assert_int_eq(s->y.n, 3);
  const int32_t *y = s->y.data;
  ck_assert_int_eq(y[0], 2);
  ck_assert_int_eq(y[1], 0);
  ck_assert_int_eq(y[2], 1);
  ck_assert_int_eq(s->num_classes, 3);
}

/* ---- IDX tests ---------------------------------------------------------- */

/* writes the 3-example images and labels (gzip-compressed or not), loads
 * and checks them */
static void load_split3(const char *img, const char *lab, int gz) {
  write_images3(img, gz);
  write_labels3(lab, gz);
  astrt_split s;
  ck_assert_int_eq(astrt_load_idx(fx_path(img), fx_path(lab), &s), ASTRT_OK);
  check_split3(&s);
  astrt_split_free(&s);
}

START_TEST(test_idx_raw) { load_split3("img", "lab", 0); }
END_TEST

/* ASTRT_DATA_MAP=always: the raw u8 images are mapped (the gzip-compressed
 * ones cannot be), contents as read */
START_TEST(test_idx_mapped) {
  setenv("ASTRT_DATA_MAP", "always", 1);
  load_split3("img", "lab", 0);
  load_split3("img.gz", "lab.gz", 1);
  unsetenv("ASTRT_DATA_MAP");
}
END_TEST

START_TEST(test_idx_gzip) {
  load_split3("img.gz", "lab.gz", 1);
  unsigned char magic[2];
  FILE *f = fopen(fx_path("img.gz"), "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fread(magic, 1, 2, f), 2);
  fclose(f);
  ck_assert(magic[0] == 0x1f && magic[1] == 0x8b);
}
END_TEST

START_TEST(test_idx_gzip_detected_by_magic) {
  write_images3("images.idx", 1);    /* gzip without .gz */
  write_labels3("labels.gz", 0);     /* raw despite .gz  */
  astrt_split s;
  ck_assert_int_eq(
      astrt_load_idx(fx_path("images.idx"), fx_path("labels.gz"), &s), ASTRT_OK);
  check_split3(&s);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_idx_array_u8_unscaled) {
  write_images3("img", 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("img"), &a), ASTRT_OK);
  ck_assert_int_eq(a.elem, ASTRT_ELEM_U8);
  ck_assert_int_eq(a.n, 3);
  ck_assert_float_eq(a.scale, 1.0f);
  ck_assert_mem_eq(a.data, images3, sizeof images3);
  astrt_array_free(&a);
}
END_TEST

START_TEST(test_idx_array_int_types) {
  static const unsigned char i8[3] = {0xff, 0x7f, 0x80};
  static const unsigned char i16[4] = {0xff, 0xfe, 0x01, 0x00};
  static const unsigned char i32[8] = {0x80, 0, 0, 0, 0, 0, 0x01, 0x02};
  uint32_t d3 = 3, d2 = 2;
  fx_write_idx(fx_path("i8"), 0x09, 1, &d3, i8, sizeof i8, 0);
  fx_write_idx(fx_path("i16"), 0x0B, 1, &d2, i16, sizeof i16, 1);
  fx_write_idx(fx_path("i32"), 0x0C, 1, &d2, i32, sizeof i32, 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("i8"), &a), ASTRT_OK);
  ck_assert_int_eq(a.elem, ASTRT_ELEM_I32);
  ck_assert_int_eq(a.rank, 0);
  ck_assert_int_eq(a.n, 3);
  const int32_t *v = a.data;
  ck_assert(v[0] == -1 && v[1] == 127 && v[2] == -128);
  astrt_array_free(&a);
  ck_assert_int_eq(astrt_load_idx_array(fx_path("i16"), &a), ASTRT_OK);
  v = a.data;
  ck_assert(a.n == 2 && v[0] == -2 && v[1] == 256);
  astrt_array_free(&a);
  ck_assert_int_eq(astrt_load_idx_array(fx_path("i32"), &a), ASTRT_OK);
  v = a.data;
  ck_assert(a.n == 2 && v[0] == INT32_MIN && v[1] == 258);
  astrt_array_free(&a);
}
END_TEST

START_TEST(test_idx_array_float_types) {
  /* 1.5f = 3fc00000, -2.25f = c0100000; 0.1 (double) = 3fb999999999999a */
  static const unsigned char f32[8] = {0x3f, 0xc0, 0, 0, 0xc0, 0x10, 0, 0};
  static const unsigned char f64[16] = {0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99,
                                        0x99, 0x9a, 0xc0, 0x59, 0, 0,
                                        0, 0, 0, 0};
  uint32_t dims[2] = {1, 2};
  fx_write_idx(fx_path("f32"), 0x0D, 2, dims, f32, sizeof f32, 0);
  fx_write_idx(fx_path("f64"), 0x0E, 2, dims, f64, sizeof f64, 1);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("f32"), &a), ASTRT_OK);
  ck_assert_int_eq(a.elem, ASTRT_ELEM_F32);
  ck_assert(a.rank == 1 && a.dims[0] == 2 && a.n == 1);
  const float *v = a.data;
  ck_assert_float_eq(v[0], 1.5f);
  ck_assert_float_eq(v[1], -2.25f);
  astrt_array_free(&a);
  ck_assert_int_eq(astrt_load_idx_array(fx_path("f64"), &a), ASTRT_OK);
  v = a.data;
  ck_assert_float_eq(v[0], 0.1f);
  ck_assert_float_eq(v[1], -100.0f);
  astrt_array_free(&a);
}
END_TEST

START_TEST(test_idx_nonfinite_float) {
  static const unsigned char nan32[4] = {0x7f, 0xc0, 0, 0};
  uint32_t d = 1;
  fx_write_idx(fx_path("nan"), 0x0D, 1, &d, nan32, 4, 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("nan"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("element 0");
  ck_assert_ptr_null(a.data);
}
END_TEST

START_TEST(test_idx_truncated_raw) {
  fx_write_idx(fx_path("short"), 0x08, 3, images3_dims, images3, 5, 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("short"), &a),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("short"));
  ck_assert_error_has("truncated: header promises 12 bytes of data, file "
                      "has 5");
  ck_assert_ptr_null(a.data);
  ck_assert_int_eq(a.n, 0);
}
END_TEST

START_TEST(test_idx_truncated_gzip) {
  enum { N = 20000 };
  unsigned char *payload = malloc(N);
  ck_assert_ptr_nonnull(payload);
  uint32_t x = 12345;
  for (int i = 0; i < N; i++) {  /* LCG noise: compresses poorly */
    x = x * 1103515245u + 12345u;
    payload[i] = (unsigned char)(x >> 24);
  }
  uint32_t dims[2] = {N / 100, 100};
  fx_write_idx(fx_path("full.gz"), 0x08, 2, dims, payload, N, 1);
  free(payload);
  long size = fx_file_size(fx_path("full.gz"));
  ck_assert_int_gt(size, 1000);
  ck_assert_int_eq(truncate(fx_path("full.gz"), size / 2), 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("full.gz"), &a),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("full.gz"));
  ck_assert_error_has("truncated: header promises 20000 bytes of data");
  ck_assert_error_has("gzip stream is cut short");
}
END_TEST

START_TEST(test_idx_corrupt_gzip) {
  enum { N = 4096 };
  unsigned char payload[N];
  for (int i = 0; i < N; i++) payload[i] = (unsigned char)(i * 7 % 251);
  uint32_t d = N;
  fx_write_idx(fx_path("bad.gz"), 0x08, 1, &d, payload, N, 1);
  long size = fx_file_size(fx_path("bad.gz"));
  FILE *f = fopen(fx_path("bad.gz"), "r+b");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, size - 6, SEEK_SET), 0);  /* inside the CRC */
  int byte = fgetc(f);
  ck_assert_int_ne(byte, EOF);
  ck_assert_int_eq(fseek(f, size - 6, SEEK_SET), 0);
  ck_assert_int_ne(fputc(byte ^ 0xff, f), EOF);
  ck_assert_int_eq(fclose(f), 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("bad.gz"), &a),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("bad.gz"));
  ck_assert_error_has("corrupt gzip data");
}
END_TEST

START_TEST(test_idx_truncated_header) {
  static const unsigned char head[6] = {0, 0, 0x08, 3, 0, 0};
  fx_write_bytes(fx_path("head"), head, sizeof head);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("head"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("truncated: the file has 6 bytes, its IDX header needs "
                      "16");
}
END_TEST

START_TEST(test_idx_hint_names_package) {
  fx_make_dir(fx_path("fashion-mnist"));
  fx_write_idx(fx_path("fashion-mnist/train-labels-idx1-ubyte"), 0x08, 1, labels3_dims,
            labels3, 1, 0);
  astrt_array a;
  ck_assert_int_eq(
      astrt_load_idx_array(fx_path("fashion-mnist/train-labels-idx1-ubyte"), &a),
      ASTRT_ERR_FORMAT);
  ck_assert_error_has("header promises 3 bytes of data, file has 1");
  ck_assert_error_has("reinstall dataset-fashion-mnist");
}
END_TEST

START_TEST(test_idx_wrong_magic) {
  static const unsigned char png[16] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10};
  fx_write_bytes(fx_path("png"), png, sizeof png);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("png"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("png"));
  ck_assert_error_has("not an IDX file: magic 89 50 4e 47");
}
END_TEST

START_TEST(test_idx_bad_type) {
  fx_write_idx(fx_path("t0a"), 0x0A, 1, labels3_dims, labels3, 3, 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("t0a"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("unsupported IDX element type 0x0a");
}
END_TEST

START_TEST(test_idx_bad_rank) {
  uint32_t ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  fx_write_idx(fx_path("r0"), 0x08, 0, NULL, labels3, 1, 0);
  fx_write_idx(fx_path("r8"), 0x08, 8, ones, labels3, 1, 0);
  fx_write_idx(fx_path("r7"), 0x08, 7, ones, labels3, 1, 0);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("r0"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("unsupported IDX rank 0");
  ck_assert_int_eq(astrt_load_idx_array(fx_path("r8"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("unsupported IDX rank 8");
  ck_assert_int_eq(astrt_load_idx_array(fx_path("r7"), &a), ASTRT_OK);
  ck_assert_int_eq(a.rank, ASTRT_MAX_RANK);
  astrt_array_free(&a);
}
END_TEST

START_TEST(test_idx_absurd_size) {
  uint32_t dims[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
  fx_write_idx(fx_path("huge"), 0x0D, 3, dims, images3, 12, 1);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("huge"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("4294967295x4294967295x4294967295");
  ck_assert_error_has("2^40");
  /* just under the limit: refused as truncated, without allocating 1 TB */
  uint32_t big[2] = {1u << 20, 1u << 20};
  fx_write_idx(fx_path("big"), 0x08, 2, big, images3, 12, 0);
  ck_assert_int_eq(astrt_load_idx_array(fx_path("big"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("header promises 1099511627776 bytes of data, file "
                      "has 12");
}
END_TEST

START_TEST(test_idx_trailing_data_rejected) {
  unsigned char more[13];
  memcpy(more, images3, 12);
  more[12] = 99;
  fx_write_idx(fx_path("more"), 0x08, 3, images3_dims, more, sizeof more, 1);
  astrt_array a;
  ck_assert_int_eq(astrt_load_idx_array(fx_path("more"), &a), ASTRT_ERR_FORMAT);
  ck_assert_error_has("more data follows the 12 bytes its header promises");
}
END_TEST

START_TEST(test_idx_count_mismatch) {
  uint32_t two = 2;
  write_images3("img", 0);
  fx_write_idx(fx_path("lab"), 0x08, 1, &two, labels3, 2, 0);
  astrt_split s;
  ck_assert_int_eq(astrt_load_idx(fx_path("img"), fx_path("lab"), &s),
                   ASTRT_ERR_MISMATCH);
  ck_assert_error_has(fx_path("img"));
  ck_assert_error_has(fx_path("lab"));
  ck_assert_error_has("holds 3 examples");
  ck_assert_error_has("holds 2");
  ck_assert_ptr_null(s.x.data);
  ck_assert_ptr_null(s.y.data);
}
END_TEST

START_TEST(test_idx_negative_label) {
  static const unsigned char lab[3] = {1, 0xff, 0};
  write_images3("img", 0);
  fx_write_idx(fx_path("lab"), 0x09, 1, labels3_dims, lab, 3, 0);
  astrt_split s;
  ck_assert_int_eq(astrt_load_idx(fx_path("img"), fx_path("lab"), &s),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("example 1 has label -1");
}
END_TEST

START_TEST(test_idx_missing_file) {
  write_labels3("lab", 0);
  astrt_split s;
  ck_assert_int_eq(astrt_load_idx(fx_path("nope"), fx_path("lab"), &s),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has(fx_path("nope"));
  ck_assert_error_has("No such file or directory");
}
END_TEST

START_TEST(test_idx_dir) {
  fx_make_dir(fx_path("set"));
  write_images3("set/train-images-idx3-ubyte", 0);
  write_labels3("set/train-labels-idx1-ubyte.gz", 1);
  static const unsigned char timg[4] = {9, 8, 7, 6};
  static const unsigned char tlab[1] = {4};
  uint32_t tdims[3] = {1, 2, 2}, tn = 1;
  fx_write_idx(fx_path("set/t10k-images-idx3-ubyte.gz"), 0x08, 3, tdims, timg, 4, 1);
  fx_write_idx(fx_path("set/t10k-labels-idx1-ubyte"), 0x08, 1, &tn, tlab, 1, 0);
  astrt_split train, test;
  ck_assert_int_eq(astrt_load_idx_dir(fx_path("set"), &train, &test), ASTRT_OK);
  check_split3(&train);
  ck_assert_int_eq(test.x.n, 1);
  ck_assert_mem_eq(test.x.data, timg, 4);
  ck_assert_int_eq(((const int32_t *)test.y.data)[0], 4);
  ck_assert_int_eq(test.num_classes, 5);
  astrt_split_free(&train);
  astrt_split_free(&test);
}
END_TEST

START_TEST(test_idx_dir_missing_member) {
  fx_make_dir(fx_path("set"));
  write_images3("set/train-images-idx3-ubyte", 0);
  write_labels3("set/train-labels-idx1-ubyte", 0);
  write_images3("set/t10k-images-idx3-ubyte", 0);
  astrt_split train, test;
  ck_assert_int_eq(astrt_load_idx_dir(fx_path("set"), &train, &test),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("neither t10k-labels-idx1-ubyte nor "
                      "t10k-labels-idx1-ubyte.gz");
  ck_assert_ptr_null(train.x.data);
  ck_assert_int_eq(astrt_load_idx_dir(fx_path("none"), &train, &test),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has(fx_path("none"));
}
END_TEST

/* ---- CSV ---------------------------------------------------------------- */

static astrt_split csv_ok(const char *text, int label_column) {
  fx_write_text(fx_path("d.csv"), text);
  astrt_split s;
  ck_assert_msg(astrt_load_csv(fx_path("d.csv"), label_column, &s) == ASTRT_OK,
                "load failed: %s", astrt_last_error());
  return s;
}

static astrt_status csv_err(const char *text, int label_column) {
  fx_write_text(fx_path("d.csv"), text);
  astrt_split s;
  astrt_status st = astrt_load_csv(fx_path("d.csv"), label_column, &s);
  ck_assert_ptr_null(s.x.data);
  ck_assert_ptr_null(s.y.data);
  return st;
}

START_TEST(test_csv_header_and_last_label) {
  astrt_split s = csv_ok("a,b,label\n1,2,0\n3.5, -4 ,2\n", -1);
  ck_assert_int_eq(s.x.elem, ASTRT_ELEM_F32);
  ck_assert(s.x.rank == 1 && s.x.dims[0] == 2 && s.x.n == 2);
  ck_assert_float_eq(s.x.scale, 1.0f);
  const float *x = s.x.data;
  ck_assert(x[0] == 1 && x[1] == 2 && x[2] == 3.5f && x[3] == -4);
  ck_assert(s.y.elem == ASTRT_ELEM_I32 && s.y.rank == 0 && s.y.n == 2);
  const int32_t *y = s.y.data;
  ck_assert(y[0] == 0 && y[1] == 2);
  ck_assert_int_eq(s.num_classes, 3);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_csv_crlf_no_header_no_final_newline) {
  astrt_split s = csv_ok("1,2,3\r\n4,5e1,6", 0);
  ck_assert_int_eq(s.x.n, 2);
  const float *x = s.x.data;
  ck_assert(x[0] == 2 && x[1] == 3 && x[2] == 50 && x[3] == 6);
  const int32_t *y = s.y.data;
  ck_assert(y[0] == 1 && y[1] == 4);
  ck_assert_int_eq(s.num_classes, 5);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_csv_whitespace_and_blank_lines) {
  astrt_split s = csv_ok("\n  1 ,\t2.0 \r\n\n \t\n3,4\n\n", 1);
  ck_assert_int_eq(s.x.n, 2);
  ck_assert_int_eq(s.x.dims[0], 1);
  const float *x = s.x.data;
  ck_assert(x[0] == 1 && x[1] == 3);
  const int32_t *y = s.y.data;
  ck_assert(y[0] == 2 && y[1] == 4);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_csv_ragged) {
  ck_assert_int_eq(csv_err("x,y,z\n1,2,3\n4,5,6\n7,8\n", -1),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("d.csv"));
  ck_assert_error_has("line 4 has 2 columns, but line 2 has 3");
  ck_assert_int_eq(csv_err("1,2\n3,4,5\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 2 has 3 columns, but line 1 has 2");
  ck_assert_int_eq(csv_err("x,y\n1,2,3\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("the header (line 1) has 2 columns, but line 2 has 3");
}
END_TEST

START_TEST(test_csv_non_numeric) {
  ck_assert_int_eq(csv_err("1,2,0\n1,2,0\n1, abc ,0\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("d.csv"));
  ck_assert_error_has("line 3, column 2: 'abc ' is not a number");
  ck_assert_int_eq(csv_err("1,2,0\n1,,0\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 2, column 2");
  ck_assert_int_eq(csv_err("1,2,0\n1,2 3,0\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 2, column 2");
  ck_assert_int_eq(csv_err("1,nan,0\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 1, column 2: 'nan' is not a finite number");
  ck_assert_int_eq(csv_err("1,1e300,0\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("float range");
}
END_TEST

START_TEST(test_csv_empty) {
  ck_assert_int_eq(csv_err("", 0), ASTRT_ERR_FORMAT);
  ck_assert_error_has("no data rows; the file is empty");
  ck_assert_int_eq(csv_err("\n \r\n", 0), ASTRT_ERR_FORMAT);
  ck_assert_error_has("the file is empty");
  ck_assert_int_eq(csv_err("a,b\n", 0), ASTRT_ERR_FORMAT);
  ck_assert_error_has("only the header (line 1)");
}
END_TEST

START_TEST(test_csv_bad_labels) {
  ck_assert_int_eq(csv_err("1,2.5\n", -1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 1, column 2: '2.5' is not a valid label");
  ck_assert_int_eq(csv_err("1,0\n1,-1\n", 1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 2, column 2: '-1' is not a valid label");
  ck_assert_int_eq(csv_err("1,3e10\n", 1), ASTRT_ERR_FORMAT);
  ck_assert_error_has("not a valid label");
  astrt_split s = csv_ok("1,2.0\n", -1);  /* integral values are fine */
  ck_assert_int_eq(((const int32_t *)s.y.data)[0], 2);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_csv_label_column_range) {
  ck_assert_int_eq(csv_err("1,2,3\n", 3), ASTRT_ERR_ARG);
  ck_assert_error_has("label column 3 is out of range for rows of 3 columns");
  ck_assert_int_eq(csv_err("1,2,3\n", -4), ASTRT_ERR_ARG);
  ck_assert_int_eq(csv_err("1\n2\n", 0), ASTRT_ERR_FORMAT);
  ck_assert_error_has("only 1 column");
}
END_TEST

START_TEST(test_csv_binary_and_missing) {
  static const char bin[5] = {'1', ',', '\0', '2', '\n'};
  fx_write_bytes(fx_path("b.csv"), bin, sizeof bin);
  astrt_split s;
  ck_assert_int_eq(astrt_load_csv(fx_path("b.csv"), 0, &s), ASTRT_ERR_FORMAT);
  ck_assert_error_has("byte 2 is NUL");
  ck_assert_int_eq(astrt_load_csv(fx_path("none.csv"), 0, &s),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has(fx_path("none.csv"));
  ck_assert_error_has("No such file or directory");
}
END_TEST

/* a missing file named by a relative path: the message says relative to
 * what (the current directory) and how to point elsewhere (--data) */
START_TEST(test_csv_missing_relative_path) {
  char cwd[4096];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  ck_assert_int_eq(chdir(fx_path("")), 0);
  astrt_split s;
  ck_assert_int_eq(astrt_load_csv("iris.csv", -1, &s), ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("iris.csv: cannot open");
  ck_assert_error_has("relative path is taken from the current directory");
  ck_assert_error_has("--data DIR");
  ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

START_TEST(test_csv_many_rows) {
  size_t cap = 5000 * 16;
  char *text = malloc(cap), *p = text;
  ck_assert_ptr_nonnull(text);
  for (int i = 0; i < 5000; i++)
    p += sprintf(p, "%d,%d,%d\n", i, -i, i % 7);
  astrt_split s = csv_ok(text, 2);
  free(text);
  ck_assert_int_eq(s.x.n, 5000);
  const float *x = s.x.data;
  const int32_t *y = s.y.data;
  ck_assert(x[2 * 4321] == 4321 && x[2 * 4321 + 1] == -4321);
  ck_assert_int_eq(y[4321], 4321 % 7);
  ck_assert_int_eq(s.num_classes, 7);
  astrt_split_free(&s);
}
END_TEST

/* ---- NPY ---------------------------------------------------------------- */

static const float npy_x[6] = {0.5f, -1.0f, 2.0f, 3.25f, 1e-3f, -7.0f};
static const unsigned char npy_y[3] = {1, 4, 0};

static void write_npy_xy(void) {
  fx_write_npy(fx_path("x.npy"), 1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
            npy_x, sizeof npy_x);
  fx_write_npy(fx_path("y.npy"), 1,
            "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
            npy_y, sizeof npy_y);
}

static astrt_status npy_err(const char *dict, const void *data, size_t len) {
  fx_write_npy(fx_path("bad.npy"), 1, dict, data, len);
  astrt_array a;
  astrt_status st = astrt_load_npy_array(fx_path("bad.npy"), &a);
  ck_assert_ptr_null(a.data);
  return st;
}

START_TEST(test_npy_v1) {
  write_npy_xy();
  astrt_split s;
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("y.npy"), &s),
                   ASTRT_OK);
  ck_assert(s.x.elem == ASTRT_ELEM_F32 && s.x.rank == 1 && s.x.dims[0] == 2);
  ck_assert_int_eq(s.x.n, 3);
  ck_assert_mem_eq(s.x.data, npy_x, sizeof npy_x);
  ck_assert(s.y.elem == ASTRT_ELEM_I32 && s.y.rank == 0 && s.y.n == 3);
  const int32_t *y = s.y.data;
  ck_assert(y[0] == 1 && y[1] == 4 && y[2] == 0);
  ck_assert_int_eq(s.num_classes, 5);
  astrt_split_free(&s);
}
END_TEST

/* ASTRT_DATA_MAP=always: files whose bytes are the array (f32, u1) are
 * mapped, not read, with the same contents; the u1 labels' mapping is
 * released when they become I32; f8 is still converted; a NaN in a mapped
 * float file is found; freeing unmaps (the sanitizer build checks) */
START_TEST(test_npy_mapped) {
  setenv("ASTRT_DATA_MAP", "always", 1);
  write_npy_xy();
  astrt_split s;
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("y.npy"), &s), ASTRT_OK);
  ck_assert(s.x.elem == ASTRT_ELEM_F32 && s.x.rank == 1 && s.x.dims[0] == 2 && s.x.n == 3);
  ck_assert_mem_eq(s.x.data, npy_x, sizeof npy_x);
  ck_assert_int_eq((int)((uintptr_t)s.x.data % 64), 0);  /* npy data starts 64-byte aligned in the file */
  const int32_t *y = s.y.data;
  ck_assert(s.y.elem == ASTRT_ELEM_I32 && y[0] == 1 && y[1] == 4 && y[2] == 0);
  astrt_split_free(&s);
  double x8[2] = {1.5, -2};
  fx_write_npy(fx_path("x8.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", x8, sizeof x8);
  astrt_array a;
  ck_assert_int_eq(astrt_load_npy_array(fx_path("x8.npy"), &a), ASTRT_OK);
  ck_assert(a.elem == ASTRT_ELEM_F32 && ((float *)a.data)[0] == 1.5f);
  astrt_array_free(&a);
  float bad[3] = {1, NAN, 2};
  fx_write_npy(fx_path("nan.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", bad, sizeof bad);
  ck_assert_int_eq(astrt_load_npy_array(fx_path("nan.npy"), &a), ASTRT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(astrt_last_error(), "element 1 is nan"));
  unsetenv("ASTRT_DATA_MAP");
}
END_TEST

START_TEST(test_npy_v2_f8_i8) {
  double x[8];
  for (int i = 0; i < 8; i++) x[i] = i * 0.25 - 1;
  int64_t y[2] = {3, 1};
  fx_write_npy(fx_path("x.npy"), 2,
            "{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(2,2,2)}",
            x, sizeof x);
  fx_write_npy(fx_path("y.npy"), 3,
            "{'shape': (2L,), 'fortran_order': False, 'descr': '<i8'}", y,
            sizeof y);
  astrt_split s;
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("y.npy"), &s),
                   ASTRT_OK);
  ck_assert(s.x.elem == ASTRT_ELEM_F32 && s.x.rank == 2);
  ck_assert(s.x.dims[0] == 2 && s.x.dims[1] == 2 && s.x.n == 2);
  const float *xf = s.x.data;
  for (int i = 0; i < 8; i++) ck_assert_float_eq(xf[i], (float)x[i]);
  const int32_t *yi = s.y.data;
  ck_assert(yi[0] == 3 && yi[1] == 1 && s.num_classes == 4);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_npy_v2_long_header) {
  /* version 2.0 exists for headers over 64 KiB: the length is 4 bytes */
  enum { PAD = 70000 };
  static const char dict[] =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  char *text = malloc(sizeof dict + PAD);
  ck_assert_ptr_nonnull(text);
  memcpy(text, dict, sizeof dict - 1);
  memset(text + sizeof dict - 1, ' ', PAD);
  text[sizeof dict - 1 + PAD] = '\0';
  fx_write_npy(fx_path("x.npy"), 2, text, npy_x, sizeof npy_x);
  free(text);
  astrt_array a;
  ck_assert_msg(astrt_load_npy_array(fx_path("x.npy"), &a) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert(a.n == 3 && a.rank == 1 && a.dims[0] == 2);
  ck_assert_mem_eq(a.data, npy_x, sizeof npy_x);
  astrt_array_free(&a);
}
END_TEST

START_TEST(test_npy_u1_features_float_targets) {
  static const unsigned char x[4] = {0, 10, 200, 255};
  static const float y[2] = {0.5f, -2.0f};
  fx_write_npy(fx_path("x.npy"), 1, "{'descr': '|u1', 'fortran_order': False, "
                        "'shape': (2, 2), }", x, sizeof x);
  fx_write_npy(fx_path("y.npy"), 1, "{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (2,), }", y, sizeof y);
  astrt_split s;
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("y.npy"), &s),
                   ASTRT_OK);
  ck_assert_int_eq(s.x.elem, ASTRT_ELEM_U8);
  ck_assert_float_eq(s.x.scale, 1.0f);
  ck_assert_mem_eq(s.x.data, x, sizeof x);
  ck_assert_int_eq(s.y.elem, ASTRT_ELEM_F32);
  ck_assert_mem_eq(s.y.data, y, sizeof y);
  ck_assert_int_eq(s.num_classes, 0);
  astrt_split_free(&s);
}
END_TEST

START_TEST(test_npy_int_types) {
  static const unsigned char i2[4] = {0xfe, 0xff, 0x00, 0x01};  /* -2, 256 */
  static const unsigned char u4[4] = {0xff, 0xff, 0xff, 0x7f};
  fx_write_npy(fx_path("i2.npy"), 1, "{'descr': '<i2', 'fortran_order': False, "
                         "'shape': (2,), }", i2, 4);
  fx_write_npy(fx_path("u4.npy"), 1, "{'descr': '<u4', 'fortran_order': False, "
                         "'shape': (1, 1), }", u4, 4);
  astrt_array a;
  ck_assert_int_eq(astrt_load_npy_array(fx_path("i2.npy"), &a), ASTRT_OK);
  ck_assert_int_eq(a.elem, ASTRT_ELEM_I32);
  const int32_t *v = a.data;
  ck_assert(v[0] == -2 && v[1] == 256);
  astrt_array_free(&a);
  ck_assert_int_eq(astrt_load_npy_array(fx_path("u4.npy"), &a), ASTRT_OK);
  ck_assert_int_eq(((const int32_t *)a.data)[0], INT32_MAX);
  astrt_array_free(&a);
  int64_t big = (int64_t)1 << 40;
  ck_assert_int_eq(npy_err("{'descr': '<i8', 'fortran_order': False, "
                           "'shape': (1,), }", &big, 8), ASTRT_ERR_FORMAT);
  ck_assert_error_has("element 0 does not fit in a 32-bit integer");
}
END_TEST

START_TEST(test_npy_label_column_squeezed) {
  static const int32_t y[3] = {0, 2, 1};
  write_npy_xy();
  fx_write_npy(fx_path("y.npy"), 1, "{'descr': '<i4', 'fortran_order': False, "
                        "'shape': (3, 1), }", y, sizeof y);
  astrt_split s;
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("y.npy"), &s),
                   ASTRT_OK);
  ck_assert_int_eq(s.y.rank, 0);
  ck_assert_int_eq(s.num_classes, 3);
  astrt_split_free(&s);
  fx_write_npy(fx_path("y.npy"), 1, "{'descr': '<i4', 'fortran_order': False, "
                        "'shape': (1, 3), }", y, sizeof y);
  fx_write_npy(fx_path("x.npy"), 1, "{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (1, 6), }", npy_x, sizeof npy_x);
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("y.npy"), &s),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("each example here holds 3 values");
}
END_TEST

START_TEST(test_npy_bad_magic_and_version) {
  static const char zip[] = "GIF89a this is an image";  /* (a zip archive gets its own message: test_tables) */
  fx_write_bytes(fx_path("bad.npy"), zip, sizeof zip - 1);
  astrt_array a;
  ck_assert_int_eq(astrt_load_npy_array(fx_path("bad.npy"), &a),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("bad.npy"));
  ck_assert_error_has("not a NumPy .npy file");
  fx_write_npy(fx_path("v4.npy"), 2, "{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (0,), }", NULL, 0);
  unsigned char four = 4;
  FILE *f = fopen(fx_path("v4.npy"), "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, 6, SEEK_SET);
  fwrite(&four, 1, 1, f);
  fclose(f);
  ck_assert_int_eq(astrt_load_npy_array(fx_path("v4.npy"), &a),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("unsupported .npy format version 4.0");
  static const char short_npy[] = "\x93NUMPY\1\0\xff\0{";
  fx_write_bytes(fx_path("short.npy"), short_npy, sizeof short_npy - 1);
  ck_assert_int_eq(astrt_load_npy_array(fx_path("short.npy"), &a),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("truncated: the header claims 255 bytes");
}
END_TEST

START_TEST(test_npy_bad_header) {
  static const char *const bad[] = {
      "hello",
      "{'descr': '<f4', 'fortran_order': False}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': ()}",
      "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
  };
  float one = 1;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_msg(npy_err(bad[i], &one, 4) == ASTRT_ERR_FORMAT,
                  "header accepted: %s", bad[i]);
    ck_assert_error_has(fx_path("bad.npy"));
  }
  ck_assert_int_eq(npy_err(bad[1], &one, 4), ASTRT_ERR_FORMAT);
  ck_assert_error_has("bad .npy header: no 'shape' key");
  ck_assert_int_eq(npy_err(bad[2], &one, 4), ASTRT_ERR_FORMAT);
  ck_assert_error_has("unexpected key 'x'");
}
END_TEST

START_TEST(test_npy_fortran_order) {
  ck_assert_int_eq(npy_err("{'descr': '<f4', 'fortran_order': True, "
                           "'shape': (3, 2), }", npy_x, sizeof npy_x),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("fortran_order is True");
}
END_TEST

START_TEST(test_npy_dtypes_rejected) {
  ck_assert_int_eq(npy_err("{'descr': '>f4', 'fortran_order': False, "
                           "'shape': (3, 2), }", npy_x, sizeof npy_x),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("big-endian dtype '>f4'");
  ck_assert_int_eq(npy_err("{'descr': '<c8', 'fortran_order': False, "
                           "'shape': (3,), }", npy_x, sizeof npy_x),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("unsupported dtype '<c8'");
  ck_assert_int_eq(npy_err("{'descr': '<f2', 'fortran_order': False, "
                           "'shape': (2,), }", npy_x, 4),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("unsupported dtype '<f2'");
  float inf = INFINITY;
  ck_assert_int_eq(npy_err("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (1,), }", &inf, 4),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("element 0 is inf");
}
END_TEST

START_TEST(test_npy_truncated_and_trailing) {
  ck_assert_int_eq(npy_err("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (3, 2), }", npy_x, 10),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("truncated: header promises 24 bytes of data, file "
                      "has 10");
  ck_assert_int_eq(npy_err("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (1, 2), }", npy_x, sizeof npy_x),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("24 bytes of data follow the header, which promises 8");
  ck_assert_int_eq(npy_err("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (1099511627776, 2), }", npy_x, 4),
                   ASTRT_ERR_FORMAT);
  ck_assert_error_has("2^40");
}
END_TEST

START_TEST(test_npy_count_mismatch) {
  write_npy_xy();
  static const unsigned char y2[2] = {0, 1};
  fx_write_npy(fx_path("y2.npy"), 1, "{'descr': '|u1', 'fortran_order': False, "
                         "'shape': (2,), }", y2, 2);
  astrt_split s;
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("y2.npy"), &s),
                   ASTRT_ERR_MISMATCH);
  ck_assert_error_has(fx_path("x.npy"));
  ck_assert_error_has(fx_path("y2.npy"));
  ck_assert_error_has("holds 3 examples");
  ck_assert_ptr_null(s.x.data);
  ck_assert_int_eq(astrt_load_npy(fx_path("x.npy"), fx_path("no.npy"), &s),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has(fx_path("no.npy"));
}
END_TEST

/* ---- search path -------------------------------------------------------- */

static int system_has(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/usr/share/datasets/%s", name);
  struct stat sb;
  return stat(path, &sb) == 0;
}

START_TEST(test_find_dataset_env_order) {
  fx_make_dir(fx_path("a"));
  fx_make_dir(fx_path("b"));
  fx_make_dir(fx_path("a/myset"));
  fx_make_dir(fx_path("b/myset"));
  fx_make_dir(fx_path("b/other"));
  char env[2048];
  snprintf(env, sizeof env, "/nonexistent-astrt::%s/:%s", fx_path("a"),
           fx_path("b"));
  ck_assert_int_eq(setenv("ASTC_DATA_PATH", env, 1), 0);
  char out[1024];
  ck_assert_int_eq(astrt_find_dataset("myset", out, sizeof out), ASTRT_OK);
  ck_assert_str_eq(out, fx_path("a/myset"));
  ck_assert_int_eq(astrt_find_dataset("other", out, sizeof out), ASTRT_OK);
  ck_assert_str_eq(out, fx_path("b/other"));
  char tiny[8];
  ck_assert_int_eq(astrt_find_dataset("other", tiny, sizeof tiny),
                   ASTRT_ERR_ARG);
  ck_assert_error_has("does not fit");
}
END_TEST

static const char *const hint_names[2] = {"fashion-mnist", "mnist"};

/* The package_hint suite needs one of hint_names not installed. */
static const char *missing_uninstalled_set(void) {
  for (int i = 0; i < 2; i++)
    if (!system_has(hint_names[i])) return NULL;
  return "both /usr/share/datasets/fashion-mnist and /usr/share/datasets/mnist are installed, so no "
         "known data set is missing to be hinted at";
}

START_TEST(test_find_dataset_missing_names_package) {
  fx_make_dir(fx_path("empty"));
  ck_assert_int_eq(setenv("ASTC_DATA_PATH", fx_path("empty"), 1), 0);
  const char *const *names = hint_names;
  int tested = 0;
  for (int i = 0; i < 2; i++) {
    if (system_has(names[i])) continue;
    char out[1024], want[128];
    ck_assert_int_eq(astrt_find_dataset(names[i], out, sizeof out),
                     ASTRT_ERR_NOTFOUND);
    ck_assert_error_has(fx_path("empty"));
    ck_assert_error_has("/usr/share/datasets");
    snprintf(want, sizeof want, "install it with: apt-get install dataset-%s",
             names[i]);
    ck_assert_error_has(want);
    tested++;
  }
  ck_assert_msg(tested > 0, "no known data set is uninstalled: the hint was not tested");
}
END_TEST

START_TEST(test_find_dataset_unknown) {
  fx_make_dir(fx_path("empty"));
  ck_assert_int_eq(setenv("ASTC_DATA_PATH", fx_path("empty"), 1), 0);
  char out[256];
  ck_assert_int_eq(astrt_find_dataset("no-such-set-xyz", out, sizeof out),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("data set 'no-such-set-xyz' not found");
  ck_assert_error_has(fx_path("empty"));
  ck_assert_error_has(", /usr/share/datasets");
  ck_assert_error_has("ASTC_DATA_PATH");
  ck_assert_int_eq(unsetenv("ASTC_DATA_PATH"), 0);
  ck_assert_int_eq(astrt_find_dataset("no-such-set-xyz", out, sizeof out),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("(ASTC_DATA_PATH is not set)");
  ck_assert_int_eq(astrt_find_dataset("a/b", out, sizeof out), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_find_dataset("..", out, sizeof out), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_find_dataset("", out, sizeof out), ASTRT_ERR_ARG);
}
END_TEST

START_TEST(test_find_dataset_long_path_keeps_hint) {
  char env[4096] = "";
  for (int i = 0; i < 60; i++)
    snprintf(env + strlen(env), sizeof env - strlen(env),
             "%s/not-a-directory-%02d:", fx_tmpdir, i);
  ck_assert_int_eq(setenv("ASTC_DATA_PATH", env, 1), 0);
  char out[256];
  ck_assert_int_eq(astrt_find_dataset("no-such-set-xyz", out, sizeof out),
                   ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("...");
  ck_assert_error_has(", /usr/share/datasets");
  ck_assert_error_has("put a directory named no-such-set-xyz");
}
END_TEST

/* ---- Fashion-MNIST ------------------------------------------------------ */

static void check_classes(const astrt_split *s, int64_t per_class) {
  int64_t count[10] = {0};
  const int32_t *y = s->y.data;
  for (int64_t i = 0; i < s->y.n; i++) {
    ck_assert(y[i] >= 0 && y[i] <= 9);
    count[y[i]]++;
  }
  for (int c = 0; c < 10; c++) ck_assert_int_eq(count[c], per_class);
  ck_assert_int_eq(s->num_classes, 10);
}

START_TEST(test_fashion_mnist) {
  ck_assert_msg(system_has("fashion-mnist"), "%s is not installed", FX_FASHION_DIR);
  unsetenv("ASTC_DATA_PATH");
  char dir[1024];
  ck_assert_int_eq(astrt_find_dataset("fashion-mnist", dir, sizeof dir),
                   ASTRT_OK);
  ck_assert_str_eq(dir, FX_FASHION_DIR);
  astrt_split train, test;
  ck_assert_msg(astrt_load_idx_dir(dir, &train, &test) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(train.x.n, 60000);
  ck_assert_int_eq(test.x.n, 10000);
  ck_assert_int_eq(train.y.n, 60000);
  ck_assert_int_eq(test.y.n, 10000);
  ck_assert(train.x.elem == ASTRT_ELEM_U8 && train.x.rank == 2);
  ck_assert(train.x.dims[0] == 28 && train.x.dims[1] == 28);
  ck_assert(test.x.dims[0] == 28 && test.x.dims[1] == 28);
  ck_assert_float_eq(train.x.scale, 1.0f / 255.0f);
  ck_assert_int_eq(((const int32_t *)train.y.data)[0], 9);  /* ankle boot */
  check_classes(&train, 6000);
  check_classes(&test, 1000);
  astrt_split_free(&train);
  astrt_split_free(&test);
}
END_TEST

/* ---- arrays ------------------------------------------------------------- */

START_TEST(test_array_example_size_and_free) {
  astrt_array a = {.rank = 0};
  ck_assert_int_eq(astrt_array_example_size(&a), 1);
  a.rank = 3;
  a.dims[0] = 2, a.dims[1] = 3, a.dims[2] = 4;
  ck_assert_int_eq(astrt_array_example_size(&a), 24);
  a.rank = ASTRT_MAX_RANK + 1;
  ck_assert_int_eq(astrt_array_example_size(&a), -1);
  a.rank = 1;
  a.dims[0] = -5;
  ck_assert_int_eq(astrt_array_example_size(&a), -1);
  a.data = malloc(16);
  a.n = 4;
  astrt_array_free(&a);
  ck_assert_ptr_null(a.data);
  ck_assert_int_eq(a.n, 0);
  ck_assert_int_eq(a.rank, 0);
  astrt_array_free(&a);  /* twice is harmless */
  astrt_array_free(NULL);
  astrt_split s = {.num_classes = 3};
  s.x.data = malloc(8);
  s.y.data = malloc(8);
  astrt_split_free(&s);
  ck_assert(s.x.data == NULL && s.y.data == NULL && s.num_classes == 0);
  astrt_split_free(NULL);
}
END_TEST

/* ---- random numbers ----------------------------------------------------- */

START_TEST(test_hash64_pinned) {
  /* Pinned outputs: the streams must not change between runs, builds or
   * platforms (saved shuffles and dropout masks depend on them). */
  ck_assert_uint_eq(astrt_hash64(0, 0), 0x3e86ff93e66830f9ull);
  ck_assert_uint_eq(astrt_hash64(42, 7), 0x3ee5a390a3c3d98full);
  ck_assert_uint_eq(astrt_subkey(42, 7), 0x13f5a91a45cf0e7bull);
  ck_assert_uint_eq(astrt_hash64(UINT64_MAX, UINT64_MAX),
                    0x3d31277f17052976ull);
  ck_assert_float_eq(astrt_uniform(1, 2), 0.695166409f);
  static const int64_t want[10] = {1, 2, 3, 7, 9, 0, 4, 8, 6, 5};
  int64_t perm[10];
  astrt_shuffle(perm, 10, 2024, 1);
  ck_assert_mem_eq(perm, want, sizeof want);
}
END_TEST

START_TEST(test_hash64_bits_balanced) {
  enum { N = 20000 };
  int ones[64] = {0};
  double flips = 0;
  for (uint64_t c = 0; c < N; c++) {
    uint64_t h = astrt_hash64(12345, c);
    for (int b = 0; b < 64; b++) ones[b] += (int)(h >> b & 1);
    uint64_t g = astrt_hash64(12345, c ^ (1ull << (c % 64)));
    flips += __builtin_popcountll(h ^ g);
    ck_assert_uint_ne(h, astrt_hash64(12346, c));
  }
  for (int b = 0; b < 64; b++)  /* sigma = 71; allow ~6 sigma */
    ck_assert_msg(abs(ones[b] - N / 2) < 430, "bit %d set %d times of %d", b,
                  ones[b], N);
  ck_assert_double_eq_tol(flips / N, 32.0, 0.5);  /* avalanche */
}
END_TEST

START_TEST(test_uniform) {
  enum { N = 100000 };
  double sum = 0;
  int low = 0, high = 0;
  for (uint64_t c = 0; c < N; c++) {
    float u = astrt_uniform(7, c);
    ck_assert(u >= 0.0f && u < 1.0f);
    float scaled = u * 16777216.0f;
    ck_assert_float_eq(scaled, floorf(scaled));  /* 24-bit grid */
    ck_assert_float_eq(u, (float)(astrt_hash64(7, c) >> 40) / 16777216.0f);
    sum += u;
    low += u < 0.01f;
    high += u >= 0.99f;
  }
  ck_assert_double_eq_tol(sum / N, 0.5, 0.005);
  ck_assert_int_gt(low, 800);
  ck_assert_int_gt(high, 800);
  ck_assert_float_eq(astrt_uniform(7, 3), astrt_uniform(7, 3));
}
END_TEST

START_TEST(test_subkey) {
  ck_assert_uint_ne(astrt_subkey(1, 0), astrt_subkey(1, 1));
  ck_assert_uint_ne(astrt_subkey(1, 0), astrt_subkey(2, 0));
  ck_assert_uint_ne(astrt_subkey(1, 0), astrt_hash64(1, 0));
  ck_assert_uint_eq(astrt_subkey(9, 4), astrt_subkey(9, 4));
}
END_TEST

static void check_permutation(const int64_t *perm, int64_t n) {
  unsigned char *seen = calloc((size_t)n, 1);
  ck_assert_ptr_nonnull(seen);
  for (int64_t i = 0; i < n; i++) {
    ck_assert(perm[i] >= 0 && perm[i] < n);
    ck_assert_msg(!seen[perm[i]], "%lld appears twice", (long long)perm[i]);
    seen[perm[i]] = 1;
  }
  free(seen);
}

START_TEST(test_shuffle_permutation_deterministic) {
  enum { N = 1000 };
  static int64_t a[N], b[N], c[N], d[N];
  astrt_shuffle(a, N, 1, 0);
  astrt_shuffle(b, N, 1, 0);
  astrt_shuffle(c, N, 1, 1);
  astrt_shuffle(d, N, 2, 0);
  check_permutation(a, N);
  check_permutation(c, N);
  check_permutation(d, N);
  ck_assert_mem_eq(a, b, sizeof a);
  ck_assert(memcmp(a, c, sizeof a) != 0);
  ck_assert(memcmp(a, d, sizeof a) != 0);
  int fixed = 0;
  for (int i = 0; i < N; i++) fixed += a[i] == i;
  ck_assert_int_lt(fixed, 10);  /* expected 1 fixed point */
}
END_TEST

START_TEST(test_shuffle_follows_spec) {
  enum { N = 50 };
  int64_t got[N], want[N];
  uint64_t seed = 0xdeadbeef;
  int64_t epoch = 3;
  astrt_shuffle(got, N, seed, epoch);
  for (int64_t i = 0; i < N; i++) want[i] = i;
  uint64_t key = astrt_subkey(seed, (uint64_t)epoch);
  for (int64_t i = N - 1, j = 0; i > 0; i--, j++) {
    uint64_t r = astrt_hash64(key, (uint64_t)j);
    int64_t k = (int64_t)(((unsigned __int128)r * (uint64_t)(i + 1)) >> 64);
    int64_t t = want[i];
    want[i] = want[k];
    want[k] = t;
  }
  ck_assert_mem_eq(got, want, sizeof got);
}
END_TEST

START_TEST(test_shuffle_uniform_and_edges) {
  int counts[6] = {0};
  for (int64_t e = 0; e < 60000; e++) {
    int64_t p[3];
    astrt_shuffle(p, 3, 99, e);
    check_permutation(p, 3);
    counts[p[0] * 2 + (p[1] > p[2])]++;
  }
  for (int i = 0; i < 6; i++)  /* sigma = 91 */
    ck_assert_msg(abs(counts[i] - 10000) < 550, "permutation %d: %d", i,
                  counts[i]);
  int64_t one = 77;
  astrt_shuffle(&one, 1, 5, 5);
  ck_assert_int_eq(one, 0);
  astrt_shuffle(&one, 0, 5, 5);  /* n = 0 touches nothing */
  ck_assert_int_eq(one, 0);
}
END_TEST

/* ---- text ---------------------------------------------------------------- */

/* Loads text `source` (data_dir may be NULL) and checks it holds `want`. */
static void text_is(const char *source, const char *data_dir, const char *want) {
  astrt_tokens t;
  ck_assert_msg(astrt_load_text(source, data_dir, &t) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(t.width, 1);
  ck_assert_int_eq(t.n, (int64_t)strlen(want));
  ck_assert_mem_eq(t.ids, want, strlen(want));
  for (int64_t i = 0; i < t.n; i++) ck_assert_int_eq(astrt_token_at(&t, i), (unsigned char)want[i]);
  astrt_tokens_free(&t);
  ck_assert_ptr_null(t.ids);
}

START_TEST(test_text_file) {
  static const char text[] = "The quick brown fox.\n\xff\x01";  /* every byte is a token, 0..255 */
  fx_write_text(fx_path("a.txt"), text);
  text_is(fx_path("a.txt"), NULL, text);
  text_is("a.txt", fx_tmpdir, text);         /* relative to --data */
  text_is(fx_path("a.txt"), "/nonexistent", text);  /* an absolute path ignores it */
}
END_TEST

/* A directory: its regular files in byte order of their names; symbolic
 * links and subdirectories are not read (nor followed). Only the known
 * corpus leaves out .dat and .u8 files. */
START_TEST(test_text_directory_order) {
  fx_make_dir(fx_path("d"));
  fx_write_text(fx_path("d/b.txt"), "BB");
  fx_write_text(fx_path("d/a.txt"), "A");
  fx_write_text(fx_path("d/C"), "ccc");  /* 'C' sorts before 'a' */
  fx_write_text(fx_path("d/x.dat"), "dat");
  fx_make_dir(fx_path("d/sub"));
  fx_write_text(fx_path("d/sub/z"), "ZZZ");
  ck_assert_int_eq(symlink("b.txt", fx_path("d/link")), 0);
  fx_write_text(fx_path("outside"), "OUT");
  ck_assert_int_eq(symlink(fx_path("outside"), fx_path("d/0out")), 0);
  text_is(fx_path("d"), NULL, "cccABBdat");
  /* a symbolic link named as the source is followed (it is the file given) */
  ck_assert_int_eq(symlink(fx_path("d/a.txt"), fx_path("alias")), 0);
  text_is(fx_path("alias"), NULL, "A");
}
END_TEST

START_TEST(test_text_empty_and_missing) {
  astrt_tokens t;
  fx_write_text(fx_path("empty"), "");
  ck_assert_int_eq(astrt_load_text(fx_path("empty"), NULL, &t), ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("empty"));
  ck_assert_error_has("no text: the file is empty");
  ck_assert_ptr_null(t.ids);
  fx_make_dir(fx_path("none"));
  ck_assert_int_eq(astrt_load_text(fx_path("none"), NULL, &t), ASTRT_ERR_FORMAT);
  ck_assert_error_has("the directory holds no regular files");
  fx_make_dir(fx_path("blank"));
  fx_write_text(fx_path("blank/a"), "");
  fx_write_text(fx_path("blank/b"), "");
  ck_assert_int_eq(astrt_load_text(fx_path("blank"), NULL, &t), ASTRT_ERR_FORMAT);
  ck_assert_error_has("its 2 files are empty");
  ck_assert_int_eq(astrt_load_text(fx_path("no-such.txt"), NULL, &t), ASTRT_ERR_NOTFOUND);
  ck_assert_error_has(fx_path("no-such.txt"));
  ck_assert_error_has("No such file or directory");
}
END_TEST

/* The corpus is found with --data (DIR/fortunes, else DIR) and on
 * $ASTC_DATA_PATH; .dat indexes and .u8 names are left out. */
START_TEST(test_text_corpus_found) {
  fx_make_dir(fx_path("games"));
  fx_make_dir(fx_path("games/fortunes"));
  fx_write_text(fx_path("games/fortunes/zen"), "Z%\n");
  fx_write_text(fx_path("games/fortunes/art"), "A%\n");
  fx_write_text(fx_path("games/fortunes/art.dat"), "\x01\x02");
  fx_write_text(fx_path("games/fortunes/art.u8"), "A%\n");  /* a copy where a link was */
  ck_assert_int_eq(symlink("zen", fx_path("games/fortunes/zen.u8")), 0);
  text_is("fortunes", fx_path("games"), "A%\nZ%\n");            /* --data DIR: DIR/fortunes */
  text_is("fortunes", fx_path("games/fortunes"), "A%\nZ%\n");   /* --data DIR: DIR itself */
  unsetenv("ASTC_DATA_PATH");
  setenv("ASTC_DATA_PATH", fx_path("games"), 1);  /* searched before the system's corpora */
  text_is("fortunes", NULL, "A%\nZ%\n");
  /* a path that names such a directory is an ordinary directory: everything is read */
  text_is(fx_path("games/fortunes"), NULL, "A%\n\x01\x02" "A%\nZ%\n");
  unsetenv("ASTC_DATA_PATH");
}
END_TEST

/* (the hooks suite) Not installed: the message says how to get it, like a
 * missing data set. ASTRT_TEST_CORPORA stands in for /usr/share/games. */
#ifdef ASTRT_TEST_HOOKS
START_TEST(test_text_corpus_missing) {
  unsetenv("ASTC_DATA_PATH");
  setenv("ASTRT_TEST_CORPORA", fx_path("games"), 1);
  astrt_tokens t;
  ck_assert_int_eq(astrt_load_text("fortunes", NULL, &t), ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("text corpus 'fortunes' not found");
  ck_assert_error_has(fx_path("games/fortunes"));
  ck_assert_error_has("ASTC_DATA_PATH is not set");
  ck_assert_error_has("apt-get install fortunes");
  ck_assert_error_has("--data DIR");
  ck_assert_ptr_null(t.ids);
  unsetenv("ASTRT_TEST_CORPORA");
}
END_TEST
#endif

/* (the fortunes suite) Debian's corpus: every regular file but the .dat
 * indexes, in name order */
static const char *missing_fortunes(void) {
  struct stat sb;
  if (stat("/usr/share/games/fortunes", &sb) == 0 && S_ISDIR(sb.st_mode)) return NULL;
  return "/usr/share/games/fortunes is not installed (apt-get install fortunes)";
}

START_TEST(test_text_fortunes) {
  unsetenv("ASTC_DATA_PATH");
  unsetenv("ASTRT_TEST_CORPORA");
  astrt_tokens t;
  ck_assert_msg(astrt_load_text("fortunes", NULL, &t) == ASTRT_OK, "%s", astrt_last_error());
  /* expected: the files' sizes and the first one's first bytes, computed here */
  DIR *d = opendir("/usr/share/games/fortunes");
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  int64_t total = 0;
  char first[256] = "";
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (e->d_name[0] == '.' || (n > 4 && !strcmp(e->d_name + n - 4, ".dat")) ||
        (n > 3 && !strcmp(e->d_name + n - 3, ".u8")))
      continue;
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "/usr/share/games/fortunes/%s", e->d_name);
    if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    total += sb.st_size;
    if (!*first || strcmp(e->d_name, first) < 0) snprintf(first, sizeof first, "%s", e->d_name);
  }
  closedir(d);
  ck_assert_int_gt(total, 100000);
  ck_assert_int_eq(t.n, total);
  char path[512];
  snprintf(path, sizeof path, "/usr/share/games/fortunes/%s", first);
  size_t len;
  unsigned char *head = fx_read_bytes(path, &len);
  ck_assert_mem_eq(t.ids, head, len < 64 ? len : 64);
  free(head);
  astrt_tokens_free(&t);
}
END_TEST

/* ---- token ids -------------------------------------------------------------- */

static void put_le32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* An llm.c .bin: the 1024-byte header (magic, version, count), then ids. */
static void write_llmc(const char *path, uint32_t magic, uint32_t version, int32_t count, const void *ids,
                       size_t bytes) {
  unsigned char *buf = calloc(1, 1024 + bytes);
  ck_assert_ptr_nonnull(buf);
  put_le32(buf, magic);
  put_le32(buf + 4, version);
  put_le32(buf + 8, (uint32_t)count);
  memcpy(buf + 1024, ids, bytes);
  fx_write_bytes(path, buf, 1024 + bytes);
  free(buf);
}

static astrt_tokens tokens_ok(const char *path, int64_t vocab) {
  astrt_tokens t;
  ck_assert_msg(astrt_load_tokens(path, vocab, &t) == ASTRT_OK, "%s", astrt_last_error());
  return t;
}

static astrt_status tokens_err(const char *path, int64_t vocab) {
  astrt_tokens t;
  astrt_status st = astrt_load_tokens(path, vocab, &t);
  ck_assert_ptr_null(t.ids);
  ck_assert_ptr_null(t.owned);
  return st;
}

START_TEST(test_tokens_raw_u16) {
  uint16_t ids[1000];
  for (int i = 0; i < 1000; i++) ids[i] = (uint16_t)(i * 37 % 50257);
  fx_write_bytes(fx_path("train.bin"), ids, sizeof ids);
  astrt_tokens t = tokens_ok(fx_path("train.bin"), 50257);
  ck_assert_int_eq(t.n, 1000);
  ck_assert_int_eq(t.width, 2);
  for (int i = 0; i < 1000; i++) ck_assert_int_eq(astrt_token_at(&t, i), ids[i]);
  astrt_tokens_free(&t);
  /* memory-mapped: the same ids */
  setenv("ASTRT_DATA_MAP", "always", 1);
  t = tokens_ok(fx_path("train.bin"), 50257);
  for (int i = 0; i < 1000; i++) ck_assert_int_eq(astrt_token_at(&t, i), ids[i]);
  astrt_tokens_free(&t);
  unsetenv("ASTRT_DATA_MAP");
  /* an odd number of bytes, an empty file */
  fx_write_bytes(fx_path("odd.bin"), ids, 7);
  ck_assert_int_eq(tokens_err(fx_path("odd.bin"), 50257), ASTRT_ERR_FORMAT);
  ck_assert_error_has("7 bytes is not a whole number of tokens");
  fx_write_bytes(fx_path("empty.bin"), ids, 0);
  ck_assert_int_eq(tokens_err(fx_path("empty.bin"), 50257), ASTRT_ERR_FORMAT);
  ck_assert_error_has(fx_path("empty.bin"));
  ck_assert_error_has("the file is empty");
  ck_assert_int_eq(tokens_err(fx_path("missing.bin"), 50257), ASTRT_ERR_NOTFOUND);
}
END_TEST

/* The first id >= vocab is named with the file and its position. */
START_TEST(test_tokens_id_out_of_vocab) {
  uint16_t ids[6] = {1, 2, 299, 300, 301, 0};
  fx_write_bytes(fx_path("ids.bin"), ids, sizeof ids);
  ck_assert_int_eq(tokens_err(fx_path("ids.bin"), 300), ASTRT_ERR_MISMATCH);
  ck_assert_error_has(fx_path("ids.bin"));
  ck_assert_error_has("token 3 (byte 6) is 300, outside the vocabulary [0, 300)");
  astrt_tokens t = tokens_ok(fx_path("ids.bin"), 302);
  astrt_tokens_free(&t);
}
END_TEST

START_TEST(test_tokens_llmc) {
  uint16_t ids[5] = {50256, 464, 2068, 7586, 21831};
  write_llmc(fx_path("good.bin"), 20240520, 1, 5, ids, sizeof ids);
  astrt_tokens t = tokens_ok(fx_path("good.bin"), 50257);
  ck_assert_int_eq(t.n, 5);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(astrt_token_at(&t, i), ids[i]);
  astrt_tokens_free(&t);
  /* an id past the vocabulary: its byte offset counts the header */
  ck_assert_int_eq(tokens_err(fx_path("good.bin"), 50000), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("token 0 (byte 1024) is 50256");
  /* the count disagrees with the size */
  write_llmc(fx_path("count.bin"), 20240520, 1, 6, ids, sizeof ids);
  ck_assert_int_eq(tokens_err(fx_path("count.bin"), 50257), ASTRT_ERR_FORMAT);
  ck_assert_error_has("the llm.c header says 6 tokens (12 bytes), but 10 bytes follow");
  write_llmc(fx_path("zero.bin"), 20240520, 1, 0, ids, 0);
  ck_assert_int_eq(tokens_err(fx_path("zero.bin"), 50257), ASTRT_ERR_FORMAT);
  ck_assert_error_has("no tokens");
  write_llmc(fx_path("version.bin"), 20240520, 2, 5, ids, sizeof ids);
  ck_assert_int_eq(tokens_err(fx_path("version.bin"), 50257), ASTRT_ERR_FORMAT);
  ck_assert_error_has("version 2");
  /* a magic number that is not llm.c's: read as raw uint16 ids, and the
   * header's bytes are no valid GPT-2 ids (20240521 = 0x0134d889) */
  write_llmc(fx_path("magic.bin"), 20240521, 1, 5, ids, sizeof ids);
  ck_assert_int_eq(tokens_err(fx_path("magic.bin"), 50257), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("token 0 (byte 0) is 55433");
  /* shorter than its header */
  fx_write_bytes(fx_path("short.bin"), "\x88\xd8\x34\x01\x01\x00\x00\x00", 8);  /* 20240520, 1 */
  ck_assert_int_eq(tokens_err(fx_path("short.bin"), 50257), ASTRT_ERR_FORMAT);
  ck_assert_error_has("less than the 1024-byte header");
  /* Llama 3's: version 7, uint32 ids */
  uint32_t big[3] = {128000, 9906, 1917};
  write_llmc(fx_path("llama.bin"), 20240801, 7, 3, big, sizeof big);
  t = tokens_ok(fx_path("llama.bin"), 128256);
  ck_assert_int_eq(t.n, 3);
  ck_assert_int_eq(t.width, 4);
  ck_assert_int_eq(astrt_token_at(&t, 0), 128000);
  astrt_tokens_free(&t);
}
END_TEST

START_TEST(test_tokens_npy) {
  uint16_t u2[4] = {5, 0, 65535, 7};
  fx_write_npy(fx_path("u2.npy"), 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }", u2, sizeof u2);
  astrt_tokens t = tokens_ok(fx_path("u2.npy"), 65536);
  ck_assert_int_eq(t.n, 4);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(astrt_token_at(&t, i), u2[i]);
  astrt_tokens_free(&t);
  ck_assert_int_eq(tokens_err(fx_path("u2.npy"), 50257), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("token 2 is 65535, outside the vocabulary [0, 50257)");
  int64_t i8[3] = {3, -1, 2};
  fx_write_npy(fx_path("i8.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", i8, sizeof i8);
  ck_assert_int_eq(tokens_err(fx_path("i8.npy"), 10), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("token 1 is -1");
  uint8_t u1[3] = {1, 2, 3};
  fx_write_npy(fx_path("u1.npy"), 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u1, sizeof u1);
  t = tokens_ok(fx_path("u1.npy"), 4);
  ck_assert_int_eq(astrt_token_at(&t, 2), 3);
  astrt_tokens_free(&t);
  float f4[2] = {1, 2};
  fx_write_npy(fx_path("f4.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4, sizeof f4);
  ck_assert_int_eq(tokens_err(fx_path("f4.npy"), 10), ASTRT_ERR_FORMAT);
  ck_assert_error_has("token ids are integers");
  int32_t i4[4] = {1, 2, 3, 4};
  fx_write_npy(fx_path("2d.npy"), 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", i4, sizeof i4);
  ck_assert_int_eq(tokens_err(fx_path("2d.npy"), 10), ASTRT_ERR_FORMAT);
  ck_assert_error_has("shape (2, 2)");
  fx_write_npy(fx_path("none.npy"), 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }", i4, 0);
  ck_assert_int_eq(tokens_err(fx_path("none.npy"), 10), ASTRT_ERR_FORMAT);
  ck_assert_error_has("the array is empty");
}
END_TEST

/* ---- the splits and their windows --------------------------------------------- */

static void seq_desc(astrt_data_desc *d, int kind, const char *source, int64_t T, int64_t vocab) {
  memset(d, 0, sizeof *d);
  d->kind = kind;
  d->source = source;
  d->test_source = "";
  d->rank = 1;
  d->dims[0] = T;
  d->x_dtype = ASTRT_DTYPE_I32;
  d->example_size = T;
  d->classes = vocab;
  d->std = 1;
  d->target = ASTRT_TARGET_SEQUENCE;
  d->target_size = T;
  d->context = T;
  d->vocab = vocab;
  d->holdout = 0.1;
}

/* n bytes of text, byte i = (7 i + 3) mod 251 */
static void write_bytes_text(const char *path, int n) {
  unsigned char *b = malloc((size_t)n);
  ck_assert_ptr_nonnull(b);
  for (int i = 0; i < n; i++) b[i] = (unsigned char)((7 * i + 3) % 251);
  fx_write_bytes(path, b, (size_t)n);
  free(b);
}

/* Without a test source the last holdout of the tokens is the test split. */
START_TEST(test_seq_holdout) {
  write_bytes_text(fx_path("t.txt"), 1000);
  astrt_data_desc d;
  seq_desc(&d, ASTRT_DATA_TEXT, fx_path("t.txt"), 8, 256);
  astrt_tokens train, test;
  ck_assert_msg(astrt_seq_load(&d, NULL, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(train.n, 900);
  ck_assert_int_eq(test.n, 100);
  for (int i = 0; i < 100; i++) ck_assert_int_eq(astrt_token_at(&test, i), (7 * (900 + i) + 3) % 251);
  ck_assert_int_eq(astrt_seq_windows(train.n, 8), 112);  /* floor(899 / 8) */
  ck_assert_int_eq(astrt_seq_windows(test.n, 8), 12);
  ck_assert_ptr_null(test.owned);  /* a view into the same ids */
  astrt_tokens_free(&test);
  astrt_tokens_free(&train);
  d.holdout = 0.25;
  ck_assert_int_eq(astrt_seq_load(&d, NULL, &train, &test), ASTRT_OK);
  ck_assert_int_eq(test.n, 250);
  astrt_tokens_free(&test);
  astrt_tokens_free(&train);
  d.holdout = 0;  /* a descriptor without one: 10% */
  ck_assert_int_eq(astrt_seq_load(&d, NULL, &train, &test), ASTRT_OK);
  ck_assert_int_eq(test.n, 100);
  astrt_tokens_free(&test);
  astrt_tokens_free(&train);
  /* a test file instead, relative to --data */
  write_bytes_text(fx_path("v.txt"), 30);
  d.source = "t.txt";
  d.test_source = "v.txt";
  ck_assert_msg(astrt_seq_load(&d, fx_tmpdir, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(train.n, 1000);
  ck_assert_int_eq(test.n, 30);
  ck_assert_int_eq(astrt_token_at(&test, 1), 10);
  astrt_tokens_free(&test);
  astrt_tokens_free(&train);
  ck_assert_int_eq(astrt_seq_windows(9, 8), 1);
  ck_assert_int_eq(astrt_seq_windows(8, 8), 0);
  ck_assert_int_eq(astrt_seq_windows(17, 8), 2);
}
END_TEST

START_TEST(test_seq_context_too_long) {
  write_bytes_text(fx_path("t.txt"), 400);
  astrt_data_desc d;
  seq_desc(&d, ASTRT_DATA_TEXT, fx_path("t.txt"), 64, 256);
  astrt_tokens train, test;
  ck_assert_int_eq(astrt_seq_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has(fx_path("t.txt"));
  ck_assert_error_has("the context (64) is longer than the test split (40 tokens");
  ck_assert_error_has("context + 1 = 65 tokens");
  ck_assert_error_has("holdout");
  ck_assert_ptr_null(train.ids);
  ck_assert_ptr_null(test.ids);
  /* exactly context tokens are one too few; context + 1 fit one window */
  d.context = d.target_size = d.example_size = 40;
  ck_assert_int_eq(astrt_seq_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("the context (40) is longer than the test split (40 tokens");
  d.context = d.target_size = d.example_size = 39;
  ck_assert_int_eq(astrt_seq_load(&d, NULL, &train, &test), ASTRT_OK);
  ck_assert_int_eq(astrt_seq_windows(test.n, 39), 1);
  astrt_tokens_free(&test);
  astrt_tokens_free(&train);
  /* the training split, with a test file */
  write_bytes_text(fx_path("small.txt"), 50);
  d.source = fx_path("small.txt");
  d.test_source = fx_path("t.txt");
  d.context = 64;
  ck_assert_int_eq(astrt_seq_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("the context (64) is longer than the training split (50 tokens)");
  /* token data: an empty file */
  fx_write_bytes(fx_path("e.bin"), "", 0);
  seq_desc(&d, ASTRT_DATA_TOKENS, fx_path("e.bin"), 4, 100);
  ck_assert_int_eq(astrt_seq_load(&d, NULL, &train, &test), ASTRT_ERR_FORMAT);
  ck_assert_error_has("the file is empty");
}
END_TEST

/* Windows hold context + 1 consecutive ids: x the first T, y the last T.
 * Test windows are the non-overlapping ones in order; training windows
 * start at offsets uniform in [0, n - T - 1], a function of (seed, sample). */
START_TEST(test_seq_windows) {
  uint16_t ids[200];
  for (int i = 0; i < 200; i++) ids[i] = (uint16_t)(1000 + i);
  fx_write_bytes(fx_path("w.bin"), ids, sizeof ids);
  astrt_tokens t = tokens_ok(fx_path("w.bin"), 2000);
  enum { T = 5, R = 7 };
  int32_t x[R * T], y[R * T];
  astrt_batch_windows(&t, T, 0, 0, 3, R, x, y);  /* test windows 3..9 */
  for (int r = 0; r < R; r++)
    for (int j = 0; j < T; j++) {
      ck_assert_int_eq(x[r * T + j], 1000 + (3 + r) * T + j);
      ck_assert_int_eq(y[r * T + j], 1000 + (3 + r) * T + j + 1);
    }
  astrt_batch_windows(&t, T, 1, 42, 100, R, x, y);  /* training samples 100..106 */
  for (int r = 0; r < R; r++) {
    int64_t off = astrt_window_offset(42, 100 + r, 200, T);
    ck_assert(off >= 0 && off <= 200 - T - 1);
    for (int j = 0; j < T; j++) {
      ck_assert_int_eq(x[r * T + j], 1000 + off + j);
      ck_assert_int_eq(y[r * T + j], 1000 + off + j + 1);
    }
  }
  /* offsets: a function of (seed, sample); every start is drawn, none past n - T - 1 */
  int seen[200] = {0};
  for (int64_t s = 0; s < 20000; s++) {
    int64_t off = astrt_window_offset(42, s, 20, T);
    ck_assert(off >= 0 && off <= 20 - T - 1);
    seen[off]++;
    ck_assert_int_eq(off, astrt_window_offset(42, s, 20, T));
  }
  for (int i = 0; i <= 20 - T - 1; i++) ck_assert_msg(seen[i] > 20000 / 15 / 2, "offset %d drawn %d times", i, seen[i]);
  int differ = 0;
  for (int64_t s = 0; s < 100; s++) differ += astrt_window_offset(42, s, 1000, T) != astrt_window_offset(43, s, 1000, T);
  ck_assert_int_gt(differ, 90);
  astrt_tokens_free(&t);
  /* uint8 and int32 ids gather the same way */
  write_bytes_text(fx_path("b.txt"), 40);
  ck_assert_int_eq(astrt_load_text(fx_path("b.txt"), NULL, &t), ASTRT_OK);
  astrt_batch_windows(&t, T, 0, 0, 1, 1, x, y);
  ck_assert_int_eq(x[0], (7 * 5 + 3) % 251);
  ck_assert_int_eq(y[T - 1], (7 * 10 + 3) % 251);
  astrt_tokens_free(&t);
}
END_TEST

/* sequence-length warmup: windows cut in place into shorter rows, each
 * piece's targets the next tokens of its own inputs */
START_TEST(test_batch_shorten) {
  enum { T = 8, R = 3 };
  int32_t x[R * T], y[R * T];
  for (int i = 0; i < R * T; i++) x[i] = 100 * (i / T) + i % T, y[i] = x[i] + 1;
  astrt_batch_shorten(x, y, R, T, 3, 2);  /* 2 pieces of 3 per window: tokens 0..2, 3..5 */
  for (int r = 0; r < R; r++)
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(x[(r * 2 + j) * 3 + k], 100 * r + j * 3 + k);
        ck_assert_int_eq(y[(r * 2 + j) * 3 + k], 100 * r + j * 3 + k + 1);
      }
  for (int i = 0; i < R * T; i++) x[i] = 100 * (i / T) + i % T, y[i] = x[i] + 1;
  astrt_batch_shorten(x, y, R, T, 5, 1);  /* truncated: each window's first 5 */
  for (int r = 0; r < R; r++)
    for (int k = 0; k < 5; k++) ck_assert(x[r * 5 + k] == 100 * r + k && y[r * 5 + k] == 100 * r + k + 1);
}
END_TEST

/* ---- real-valued targets ---------------------------------------------------------- */

START_TEST(test_csv_real_targets) {
  fx_write_text(fx_path("r.csv"), "a,b,y\n1,2,0.5\n3,4,-1.25\n5,6,1e3\n");
  astrt_split s;
  ck_assert_msg(astrt_load_csv_real(fx_path("r.csv"), -1, &s) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert(s.y.elem == ASTRT_ELEM_F32 && s.y.rank == 0 && s.y.n == 3);
  const float *y = s.y.data, *x = s.x.data;
  ck_assert(y[0] == 0.5f && y[1] == -1.25f && y[2] == 1000.0f);
  ck_assert(x[0] == 1 && x[5] == 6);
  ck_assert_int_eq(s.num_classes, 0);
  astrt_split_free(&s);
  /* as class labels they are refused, as before */
  ck_assert_int_eq(astrt_load_csv(fx_path("r.csv"), -1, &s), ASTRT_ERR_FORMAT);
  ck_assert_error_has("not a valid label");
  fx_write_text(fx_path("bad.csv"), "1,2,nan\n");
  ck_assert_int_eq(astrt_load_csv_real(fx_path("bad.csv"), -1, &s), ASTRT_ERR_FORMAT);
  ck_assert_error_has("line 1, column 3: 'nan' is not a finite number");
  /* through the descriptor: a regression table holds out 10% (split: last, its last 10%; the
   * random default is checked in test_tables) */
  char *text = malloc(64 * 20);
  ck_assert_ptr_nonnull(text);
  int len = 0;
  for (int i = 0; i < 20; i++) len += sprintf(text + len, "%d,%d.25\n", i, -i);
  fx_write_text(fx_path("reg.csv"), text);
  free(text);
  astrt_data_desc d;
  memset(&d, 0, sizeof d);
  d.kind = ASTRT_DATA_CSV;
  d.label_column = -1;
  d.source = fx_path("reg.csv");
  d.test_source = "";
  d.rank = 1;
  d.dims[0] = 1;
  d.example_size = 1;
  d.std = 1;
  d.target = ASTRT_TARGET_REAL;
  d.target_size = 1;
  d.holdout = 0.1;
  d.split = ASTRT_SPLIT_LAST;
  astrt_split train, test;
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(train.x.n, 18);
  ck_assert_int_eq(test.x.n, 2);
  ck_assert_float_eq(((const float *)test.y.data)[1], -19.25f);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* a model predicting two values cannot learn from one column */
  d.target_size = 2;
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("the targets hold 1 value per example, but the model predicts 2");
}
END_TEST

/* npy: a float y of [N] or [N, k], k the data's target_size (named with both
 * on a mismatch); integers become floats; class data is unchanged. */
START_TEST(test_npy_real_targets) {
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y2[8] = {0.5f, 1, -2, 3, 4, 5, 6, 7};
  int32_t yi[4] = {-3, 0, 7, 100};
  fx_write_npy(fx_path("x.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", x, sizeof x);
  fx_write_npy(fx_path("y2.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", y2, sizeof y2);
  fx_write_npy(fx_path("yi.npy"), 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", yi, sizeof yi);
  fx_write_npy(fx_path("y3.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2, 1), }", y2,
               sizeof y2);
  astrt_data_desc d;
  memset(&d, 0, sizeof d);
  d.kind = ASTRT_DATA_NPY;
  d.source = fx_path("x.npy");
  d.y_source = fx_path("y2.npy");
  d.test_source = fx_path("x.npy");
  d.test_y_source = fx_path("y2.npy");
  d.rank = 1;
  d.dims[0] = 2;
  d.example_size = 2;
  d.std = 1;
  d.target = ASTRT_TARGET_REAL;
  d.target_size = 2;
  astrt_split train, test;
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert(train.y.elem == ASTRT_ELEM_F32 && astrt_array_example_size(&train.y) == 2);
  ck_assert_mem_eq(train.y.data, y2, sizeof y2);
  /* the gather copies both values of a row */
  int64_t perm[4] = {2, 0, 3, 1};
  float bx[4], by[4];
  astrt_batch_gather(&train, perm, 1, 2, (astrt_norm){.mean = 0, .std = 1}, bx, by);
  ck_assert(bx[0] == 1 && bx[2] == 7 && by[0] == 0.5f && by[1] == 1 && by[2] == 6 && by[3] == 7);
  astrt_split_free(&train);
  astrt_split_free(&test);
  d.target_size = 3;
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has(fx_path("y2.npy"));
  ck_assert_error_has("hold 2 values per example, but the model predicts 3");
  d.target_size = 1;
  d.y_source = d.test_y_source = fx_path("yi.npy");
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert(train.y.elem == ASTRT_ELEM_F32 && ((const float *)train.y.data)[0] == -3.0f);
  astrt_split_free(&train);
  astrt_split_free(&test);
  d.y_source = d.test_y_source = fx_path("y3.npy");
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_FORMAT);
  ck_assert_error_has("[N] or [N, k]");
  /* class labels: the same float file is refused (its labels are not whole), naming its dtype */
  d.target = ASTRT_TARGET_CLASS;
  d.target_size = 1;
  d.classes = 3;
  d.y_source = d.test_y_source = fx_path("y2.npy");
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_FORMAT);
  ck_assert_error_has("dtype '<f4' (float32)");
  ck_assert_error_has("which is not a class");
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

static TCase *fixture_case(const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
  return tc;
}

static Suite *data_suite(void) {
  Suite *s = suite_create("data");
  TCase *idx = fixture_case("idx");
  tcase_add_test(idx, test_idx_raw);
  tcase_add_test(idx, test_idx_gzip);
  tcase_add_test(idx, test_idx_mapped);
  tcase_add_test(idx, test_idx_gzip_detected_by_magic);
  tcase_add_test(idx, test_idx_array_u8_unscaled);
  tcase_add_test(idx, test_idx_array_int_types);
  tcase_add_test(idx, test_idx_array_float_types);
  tcase_add_test(idx, test_idx_nonfinite_float);
  tcase_add_test(idx, test_idx_truncated_raw);
  tcase_add_test(idx, test_idx_truncated_gzip);
  tcase_add_test(idx, test_idx_corrupt_gzip);
  tcase_add_test(idx, test_idx_truncated_header);
  tcase_add_test(idx, test_idx_hint_names_package);
  tcase_add_test(idx, test_idx_wrong_magic);
  tcase_add_test(idx, test_idx_bad_type);
  tcase_add_test(idx, test_idx_bad_rank);
  tcase_add_test(idx, test_idx_absurd_size);
  tcase_add_test(idx, test_idx_trailing_data_rejected);
  tcase_add_test(idx, test_idx_count_mismatch);
  tcase_add_test(idx, test_idx_negative_label);
  tcase_add_test(idx, test_idx_missing_file);
  tcase_add_test(idx, test_idx_dir);
  tcase_add_test(idx, test_idx_dir_missing_member);
  suite_add_tcase(s, idx);

  TCase *csv = fixture_case("csv");
  tcase_add_test(csv, test_csv_header_and_last_label);
  tcase_add_test(csv, test_csv_crlf_no_header_no_final_newline);
  tcase_add_test(csv, test_csv_whitespace_and_blank_lines);
  tcase_add_test(csv, test_csv_ragged);
  tcase_add_test(csv, test_csv_non_numeric);
  tcase_add_test(csv, test_csv_empty);
  tcase_add_test(csv, test_csv_bad_labels);
  tcase_add_test(csv, test_csv_label_column_range);
  tcase_add_test(csv, test_csv_binary_and_missing);
  tcase_add_test(csv, test_csv_missing_relative_path);
  tcase_add_test(csv, test_csv_many_rows);
  suite_add_tcase(s, csv);

  TCase *npy = fixture_case("npy");
  tcase_add_test(npy, test_npy_v1);
  tcase_add_test(npy, test_npy_mapped);
  tcase_add_test(npy, test_npy_v2_f8_i8);
  tcase_add_test(npy, test_npy_v2_long_header);
  tcase_add_test(npy, test_npy_u1_features_float_targets);
  tcase_add_test(npy, test_npy_int_types);
  tcase_add_test(npy, test_npy_label_column_squeezed);
  tcase_add_test(npy, test_npy_bad_magic_and_version);
  tcase_add_test(npy, test_npy_bad_header);
  tcase_add_test(npy, test_npy_fortran_order);
  tcase_add_test(npy, test_npy_dtypes_rejected);
  tcase_add_test(npy, test_npy_truncated_and_trailing);
  tcase_add_test(npy, test_npy_count_mismatch);
  suite_add_tcase(s, npy);

  TCase *text = fixture_case("text");
  tcase_add_test(text, test_text_file);
  tcase_add_test(text, test_text_directory_order);
  tcase_add_test(text, test_text_empty_and_missing);
  tcase_add_test(text, test_text_corpus_found);
  suite_add_tcase(s, text);

  TCase *tok = fixture_case("tokens");
  tcase_add_test(tok, test_tokens_raw_u16);
  tcase_add_test(tok, test_tokens_id_out_of_vocab);
  tcase_add_test(tok, test_tokens_llmc);
  tcase_add_test(tok, test_tokens_npy);
  tcase_add_test(tok, test_seq_holdout);
  tcase_add_test(tok, test_seq_context_too_long);
  tcase_add_test(tok, test_seq_windows);
  tcase_add_test(tok, test_batch_shorten);  /* needs no hook: in every build */
  suite_add_tcase(s, tok);

  TCase *real = fixture_case("real targets");
  tcase_add_test(real, test_csv_real_targets);
  tcase_add_test(real, test_npy_real_targets);
  suite_add_tcase(s, real);

  TCase *path = fixture_case("path");
  tcase_add_test(path, test_find_dataset_env_order);
  tcase_add_test(path, test_find_dataset_unknown);
  tcase_add_test(path, test_find_dataset_long_path_keeps_hint);
  suite_add_tcase(s, path);

  TCase *arr = tcase_create("array");
  tcase_add_test(arr, test_array_example_size_and_free);
  suite_add_tcase(s, arr);

  TCase *rng = tcase_create("rng");
  tcase_set_timeout(rng, 60);
  tcase_add_test(rng, test_hash64_pinned);
  tcase_add_test(rng, test_hash64_bits_balanced);
  tcase_add_test(rng, test_uniform);
  tcase_add_test(rng, test_subkey);
  tcase_add_test(rng, test_shuffle_permutation_deterministic);
  tcase_add_test(rng, test_shuffle_follows_spec);
  tcase_add_test(rng, test_shuffle_uniform_and_edges);
  suite_add_tcase(s, rng);
  return s;
}

static Suite *fashion_suite(void) {
  Suite *s = suite_create("data fashion-mnist");
  TCase *real = tcase_create("fashion-mnist");
  tcase_set_timeout(real, 120);
  tcase_add_test(real, test_fashion_mnist);
  suite_add_tcase(s, real);
  return s;
}

static Suite *package_hint_suite(void) {
  Suite *s = suite_create("data package hint");
  TCase *path = fixture_case("path");
  tcase_add_test(path, test_find_dataset_missing_names_package);
  suite_add_tcase(s, path);
  return s;
}

static Suite *fortunes_suite(void) {
  Suite *s = suite_create("data fortunes");
  TCase *real = tcase_create("fortunes");
  tcase_add_test(real, test_text_fortunes);
  suite_add_tcase(s, real);
  return s;
}

/* the tests of the runtime's test hooks (ASTRT_TEST_HOOKS) */
static Suite *hooks_suite(void) {
  Suite *s = suite_create("data hooks");
  TCase *tc = tcase_create("hooks");
  tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
  tcase_add_test(tc, test_batch_shorten);  /* needs no hook */
#ifdef ASTRT_TEST_HOOKS
  tcase_add_test(tc, test_text_corpus_missing);
#endif
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  static const FxExtra extra[] = {
      {"fashion_mnist", fashion_suite, fx_missing_fashion_mnist},
      {"package_hint", package_hint_suite, missing_uninstalled_set},
      {"fortunes", fortunes_suite, missing_fortunes},
      {"hooks", hooks_suite, fx_missing_test_hooks},
  };
  return fx_main(argc, argv, data_suite, extra, 4);
}
