/* test_safetensors.c — unit tests for libastrt's safetensors files
 * (runtime/safetensors.c): round trips, the exact bytes the writer emits
 * (checked against a hand-written byte string, independently of the
 * reader), reading files written by hand, the reader's rejection of
 * malformed files, the writer's argument checks and its atomicity when a
 * write fails (the ASTRT_FAULT_WRITE_AFTER hook, /dev/full, and a full
 * 64 KiB tmpfs in a private mount namespace).
 *
 * The hook's tests are the extra suite "hooks", run by ctest as
 * test_safetensors.hooks: skipped (exit 77) when libastrt is built without
 * -DASTRT_TEST_HOOKS=ON.
 *
 * Fixture files are written into a fresh mkdtemp directory (removed
 * afterwards; test_fixtures.h). Two suites need something the machine may
 * lack and are ctest entries of their own, skipped (exit 77, "SKIP:
 * reason") where it is missing:
 *   test_safetensors devfull  writing to /dev/full (and a link to it);
 *   test_safetensors tmpfs    a real full disk: a 64 KiB tmpfs mounted in a
 *                             private mount namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* setenv, unshare */
#endif
#include "astrt.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_fixtures.h"

/* ---- fixtures ---------------------------------------------------------------- */

static void setup(void) {
  fx_setup();
  unsetenv("ASTRT_FAULT_WRITE_AFTER");
}

static void teardown(void) {
  unsetenv("ASTRT_FAULT_WRITE_AFTER");
  fx_teardown();
}

/* A safetensors file by hand: the 8-byte length of `header`, the header
 * as given (no padding added) and dlen bytes of data. */
static void make_file(const char *path, const char *header, const void *data, size_t dlen) {
  size_t hlen = strlen(header);
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(len8, 1, 8, f), 8);
  ck_assert_uint_eq(fwrite(header, 1, hlen, f), hlen);
  if (dlen) ck_assert_uint_eq(fwrite(data, 1, dlen, f), dlen);
  ck_assert_int_eq(fclose(f), 0);
}

/* Number of entries of dir whose name contains ".tmp.". */
static int temp_files_in(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot list %s", dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

static void assert_same_file(const char *path, const unsigned char *want, size_t want_len) {
  size_t len;
  unsigned char *got = fx_read_bytes(path, &len);
  ck_assert_uint_eq(len, want_len);
  ck_assert_mem_eq(got, want, len);
  free(got);
}

/* ---- round trip --------------------------------------------------------- */

START_TEST(test_round_trip) {
  float f32[2][3] = {{1.5f, -2.0f, 3.25f}, {0.0f, -0.0f, 1e-30f}};
  uint16_t f16[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
  uint16_t bf16[2] = {0x3f80, 0xbf80};
  int32_t i32 = -123456;
  int64_t i64[3] = {INT64_MIN, 0, INT64_MAX};
  uint8_t u8[7] = {0, 1, 2, 3, 253, 254, 255};
  double f64[2] = {0.1, -1e300};
  const astrt_st_tensor t[] = {
      {"layer.w", ASTRT_ST_F32, 2, {2, 3}, f32},
      {"half", ASTRT_ST_F16, 1, {4}, f16},
      {"brain", ASTRT_ST_BF16, 3, {1, 2, 1}, bf16},
      {"scalar", ASTRT_ST_I32, 0, {0}, &i32},
      {"empty", ASTRT_ST_U8, 2, {5, 0}, NULL},
      {"longs", ASTRT_ST_I64, 1, {3}, i64},
      {"bytes", ASTRT_ST_U8, 1, {7}, u8},              /* 7 bytes: what follows is unaligned */
      {"doubles", ASTRT_ST_F64, 1, {2}, f64},
      {"q\"uo\\te\n\t\x01 \xc3\xa9\xf0\x9f\x98\x80", ASTRT_ST_F32, 1, {1}, &f32[0][0]},
      {"", ASTRT_ST_F32, 6, {1, 1, 1, 1, 1, 2}, f32},
  };
  int n = (int)(sizeof t / sizeof t[0]);
  const char *keys[] = {"astc.program", "quote\"", "empty"};
  const char *values[] = {"mlp", "back\\slash\nnew line \xe2\x82\xac", ""};
  const char *path = fx_path("rt.safetensors");
  ck_assert_msg(astrt_safetensors_write(path, t, n, keys, values, 3) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(temp_files_in(fx_tmpdir), 0);
  /* the layout: length, header padded to 8, data */
  size_t len;
  unsigned char *raw = fx_read_bytes(path, &len);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
  ck_assert_uint_eq(hlen % 8, 0);
  size_t data = 24 + 8 + 4 + 4 + 0 + 24 + 7 + 16 + 4 + 8;
  ck_assert_uint_eq(len, 8 + hlen + data);
  free(raw);

  astrt_st_file f;
  ck_assert_msg(astrt_safetensors_read(path, &f) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(f.ntensors, n);
  for (int i = 0; i < n; i++) {
    const astrt_st_tensor *g = &f.tensors[i];  /* data order == written order */
    ck_assert_str_eq(g->name, t[i].name);
    ck_assert_int_eq(g->dtype, t[i].dtype);
    ck_assert_int_eq(g->rank, t[i].rank);
    for (int d = 0; d < t[i].rank; d++) ck_assert_int_eq(g->dims[d], t[i].dims[d]);
    int64_t bytes = astrt_st_numel(g) * (int64_t)astrt_st_dtype_size(g->dtype);
    if (bytes) ck_assert_mem_eq(g->data, t[i].data, (size_t)bytes);
    ck_assert_ptr_eq(astrt_st_find(&f, t[i].name), g);
  }
  ck_assert_int_eq(astrt_st_numel(&f.tensors[3]), 1);  /* rank 0 */
  ck_assert_int_eq(astrt_st_numel(&f.tensors[4]), 0);  /* empty */
  ck_assert_ptr_null(astrt_st_find(&f, "missing"));
  ck_assert_ptr_null(astrt_st_find(&f, "layer"));
  ck_assert_int_eq(f.nmeta, 3);
  for (int i = 0; i < 3; i++) {
    ck_assert_str_eq(f.meta_keys[i], keys[i]);
    ck_assert_str_eq(astrt_st_meta(&f, keys[i]), values[i]);
  }
  ck_assert_ptr_null(astrt_st_meta(&f, "nope"));
  astrt_st_file_free(&f);
  astrt_st_file_free(&f);  /* harmless twice */

  /* no tensors, no metadata: "{}" and six spaces */
  ck_assert_int_eq(astrt_safetensors_write(path, NULL, 0, NULL, NULL, 0), ASTRT_OK);
  assert_same_file(path, (const unsigned char *)"\x08\0\0\0\0\0\0\0{}      ", 16);
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_OK);
  ck_assert_int_eq(f.ntensors, 0);
  ck_assert_int_eq(f.nmeta, 0);
  ck_assert_ptr_null(astrt_st_find(&f, "x"));
  astrt_st_file_free(&f);
}
END_TEST

START_TEST(test_dtype_helpers) {
  static const char *const names[] = {"F32", "F16", "BF16", "I32", "I64", "U8"};
  static const size_t sizes[] = {4, 2, 2, 4, 8, 1};
  for (int i = 0; i < 6; i++) {
    ck_assert_str_eq(astrt_st_dtype_name(i), names[i]);
    ck_assert_uint_eq(astrt_st_dtype_size(i), sizes[i]);
  }
  ck_assert_int_eq(ASTRT_ST_F32, 0);
  ck_assert_int_eq(ASTRT_ST_U8, 5);
  ck_assert_str_eq(astrt_st_dtype_name(-1), "?");
  ck_assert_uint_eq(astrt_st_dtype_size(ASTRT_ST_NUM_DTYPES), 0);
  astrt_st_tensor t = {"x", ASTRT_ST_F32, 2, {-1, 3}, NULL};
  ck_assert_int_eq(astrt_st_numel(&t), -1);
  t.dims[0] = INT64_MAX / 2;
  ck_assert_int_eq(astrt_st_numel(&t), -1);
}
END_TEST

/* ---- the exact bytes ---------------------------------------------------- */

START_TEST(test_exact_bytes) {
  const float a[2] = {1.0f, -2.0f};
  const int32_t b[1] = {7};
  const astrt_st_tensor t[] = {{"a", ASTRT_ST_F32, 1, {2}, a},
                               {"b", ASTRT_ST_I32, 2, {1, 1}, b}};
  const char *keys[] = {"k"};
  const char *values[] = {"x\ty"};
  const char *path = fx_path("exact.safetensors");
  ck_assert_msg(astrt_safetensors_write(path, t, 2, keys, values, 1) == ASTRT_OK, "%s",
                astrt_last_error());
  /* 138 bytes of JSON + 6 spaces = 144 = 0x90; then 8 + 4 bytes of data */
  static const char expected[] =
      "\x90\x00\x00\x00\x00\x00\x00\x00"
      "{\"__metadata__\":{\"k\":\"x\\ty\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}"
      "      "
      "\x00\x00\x80\x3f" "\x00\x00\x00\xc0"  /* 1.0f, -2.0f little-endian */
      "\x07\x00\x00\x00";                    /* 7 */
  ck_assert_uint_eq(sizeof expected - 1, 8 + 144 + 12);
  assert_same_file(path, (const unsigned char *)expected, sizeof expected - 1);
  /* without metadata there is no "__metadata__" key: 54 bytes + 2 spaces */
  ck_assert_int_eq(astrt_safetensors_write(path, t, 1, NULL, NULL, 0), ASTRT_OK);
  static const char plain[] =
      "\x38\x00\x00\x00\x00\x00\x00\x00"
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
      "  "
      "\x00\x00\x80\x3f\x00\x00\x00\xc0";
  ck_assert_uint_eq(sizeof plain - 1, 8 + 56 + 8);
  assert_same_file(path, (const unsigned char *)plain, sizeof plain - 1);
}
END_TEST

/* ---- reading files written by hand -------------------------------------- */

START_TEST(test_read_by_hand) {
  /* JSON order differs from data order; whitespace, escapes, metadata last,
   * a rank-0 tensor, an empty tensor, an unpadded header */
  const char *header =
      "{ \"b\" : {\"data_offsets\": [8, 10], \"shape\": [], \"dtype\": \"BF16\"},\n"
      "\t\"caf\\u00e9 \\ud83d\\ude00\\/\\\"\": {\"dtype\":\"F32\",\"shape\":[2,1],"
      "\"data_offsets\":[0,8]},\r\n"
      "  \"nothing\": {\"dtype\": \"I64\", \"shape\": [0, 4], \"data_offsets\": [10, 10]},"
      "  \"__metadata__\": {\"format\": \"pt\", \"esc\": \"a\\nb\\u0041\"}   }   ";
  const unsigned char data[10] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0x80, 0x3f};
  const char *path = fx_path("hand.safetensors");
  make_file(path, header, data, sizeof data);
  astrt_st_file f;
  ck_assert_msg(astrt_safetensors_read(path, &f) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(f.ntensors, 3);
  const char *cafe = "caf\xc3\xa9 \xf0\x9f\x98\x80/\"";
  ck_assert_str_eq(f.tensors[0].name, cafe);  /* data order */
  ck_assert_str_eq(f.tensors[1].name, "b");
  ck_assert_str_eq(f.tensors[2].name, "nothing");
  const astrt_st_tensor *t = astrt_st_find(&f, cafe);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->dtype, ASTRT_ST_F32);
  ck_assert_int_eq(t->rank, 2);
  ck_assert_int_eq(t->dims[0], 2);
  ck_assert_int_eq(t->dims[1], 1);
  float v[2];
  memcpy(v, t->data, sizeof v);
  ck_assert_float_eq(v[0], 1.0f);
  ck_assert_float_eq(v[1], 2.0f);
  t = astrt_st_find(&f, "b");
  ck_assert_int_eq(t->dtype, ASTRT_ST_BF16);
  ck_assert_int_eq(t->rank, 0);
  uint16_t bf;
  memcpy(&bf, t->data, 2);
  ck_assert_uint_eq(bf, 0x3f80);
  t = astrt_st_find(&f, "nothing");
  ck_assert_int_eq(t->dtype, ASTRT_ST_I64);
  ck_assert_int_eq(astrt_st_numel(t), 0);
  ck_assert_int_eq(f.nmeta, 2);
  ck_assert_str_eq(astrt_st_meta(&f, "format"), "pt");
  ck_assert_str_eq(astrt_st_meta(&f, "esc"), "a\nbA");
  astrt_st_file_free(&f);
  /* every dtype name of the format that has whole bytes */
  static const char *const dtypes[] = {"F32", "F16", "BF16", "I32", "I64", "U8", "F64",
                                       "I8", "I16", "U16", "U32", "U64", "BOOL",
                                       "F8_E5M2", "F8_E4M3"};
  static const int sizes[] = {4, 2, 2, 4, 8, 1, 8, 1, 2, 2, 4, 8, 1, 1, 1};
  for (int i = 0; i < 15; i++) {
    char h[128];
    snprintf(h, sizeof h, "{\"x\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,%d]}}",
             dtypes[i], 2 * sizes[i]);
    make_file(path, h, "0123456789abcdef", (size_t)(2 * sizes[i]));
    ck_assert_msg(astrt_safetensors_read(path, &f) == ASTRT_OK, "%s: %s", dtypes[i],
                  astrt_last_error());
    ck_assert_int_eq(f.tensors[0].dtype, i);
    ck_assert_str_eq(astrt_st_dtype_name(i), dtypes[i]);
    astrt_st_file_free(&f);
  }
}
END_TEST

/* ---- rejection ---------------------------------------------------------- */

/* Writes header + data by hand and asserts the reader rejects it with a
 * FORMAT error naming the file and containing `why`. */
static void reject(const char *header, const void *data, size_t dlen, const char *why) {
  const char *path = fx_path("bad.safetensors");
  make_file(path, header, data, dlen);
  astrt_st_file f;
  memset(&f, 0x5a, sizeof f);
  astrt_status st = astrt_safetensors_read(path, &f);
  ck_assert_msg(st == ASTRT_ERR_FORMAT, "accepted (status %d): %s", st, header);
  ck_assert_msg(strstr(astrt_last_error(), path) != NULL, "no path in: %s",
                astrt_last_error());
  ck_assert_msg(strstr(astrt_last_error(), why) != NULL, "for %s\nexpected \"%s\" in: %s",
                header, why, astrt_last_error());
  ck_assert_int_eq(f.ntensors, 0);
  ck_assert_ptr_null(f.tensors);
  ck_assert_ptr_null(f.bytes_);
  astrt_st_file_free(&f);
}

#define T1 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"

START_TEST(test_reject_sizes) {
  const unsigned char d[64] = {0};
  const char *path = fx_path("bad.safetensors");
  astrt_st_file f;
  /* truncated data */
  reject(T1, d, 5, "truncated: header says 8 bytes of data, file has 5");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1024],\"data_offsets\":[0,4096]}}", d, 64,
         "truncated: header says 4096 bytes of data, file has 64");
  /* header length larger than the file, and a file shorter than 8 bytes */
  fx_write_bytes(path, "\x40\0\0\0\0\0\0\0{}", 10);
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_ERR_FORMAT);
  ck_assert_error_has("truncated: the header length is 64 bytes but the file has only 2");
  ck_assert_error_has(path);
  fx_write_bytes(path, "\x02\0\0", 3);
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_ERR_FORMAT);
  ck_assert_error_has("truncated: the file has 3 bytes");
  fx_write_bytes(path, "", 0);
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_ERR_FORMAT);
  fx_write_bytes(path, "\0\0\0\0\0\0\0\x01{}", 10);  /* 2^56 */
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_ERR_FORMAT);
  ck_assert_error_has("more than the 100000000 allowed");
  fx_write_bytes(path, "\x01\0\0\0\0\0\0\0{", 9);
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_ERR_FORMAT);
  ck_assert_error_has("too short");
  /* a valid file cut short anywhere is rejected */
  float v[4] = {1, 2, 3, 4};
  astrt_st_tensor t = {"w", ASTRT_ST_F32, 2, {2, 2}, v};
  ck_assert_int_eq(astrt_safetensors_write(path, &t, 1, NULL, NULL, 0), ASTRT_OK);
  size_t len;
  unsigned char *whole = fx_read_bytes(path, &len);
  for (size_t cut = 0; cut < len; cut++) {
    fx_write_bytes(path, whole, cut);
    ck_assert_msg(astrt_safetensors_read(path, &f) == ASTRT_ERR_FORMAT, "cut at %zu", cut);
  }
  /* one byte too many */
  unsigned char *more = malloc(len + 1);
  memcpy(more, whole, len);
  more[len] = 0;
  fx_write_bytes(path, more, len + 1);
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_ERR_FORMAT);
  ck_assert_error_has("1 bytes after the last tensor");
  free(more);
  free(whole);
  /* a missing file */
  ck_assert_int_eq(astrt_safetensors_read(fx_path("none.safetensors"), &f), ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("none.safetensors");
}
END_TEST

START_TEST(test_reject_json) {
  const unsigned char d[8] = {0};
  static const struct {
    const char *header, *why;
  } bad[] = {
      {" " T1, "expected '{' as the first byte"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", "expected ',' or '}'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", "a tensor name"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}", "an integer"},
      {"{'a':{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "a tensor name"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
       "no fraction or exponent"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}",
       "no fraction or exponent"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", "leading zeros"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}",
       "below 2^63"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":true,\"data_offsets\":[0,8]}}", "'['"},
      {"{\"a\":{\"dtype\":F32,\"shape\":[2],\"data_offsets\":[0,8]}}", "a dtype string"},
      {"{\"a\":null}", "'{' starting a tensor entry"},
      {"{\"a\x01\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "no control character"},
      {"{\"a\\x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "escapes"},
      {"{\"a\\u12\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "4 hex digits"},
      {"{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "low surrogate"},
      {"{\"a\\udc00\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "high surrogate"},
      {"{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "\\u0000"},
      {"{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "valid UTF-8"},
      {"{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "valid UTF-8"},  /* overlong '/' */
      {"{\"a\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "valid UTF-8"},  /* an encoded surrogate */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x",
       "only spaces after the header object"},
      {T1 "{}", "only spaces after"},
      {"{\"a\" {\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "':'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", "',' or '}'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8}}", "',' or ']'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}, \"__metadata__\":"
       "{\"n\":1}}", "a string value"},
      {"{\"__metadata__\":[], \"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "'{' starting the \"__metadata__\" object"},
      {"{\"__metadata__\":{}, \"__metadata__\":{}}", "two \"__metadata__\""},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":[1]}}",
       "unknown field \"extra\""},
      {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "two \"dtype\" fields"},
      {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", "lacks its \"shape\""},
      {"{\"a\":{}}", "lacks its \"dtype\""},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "lacks its \"data_offsets\""},
      {"{\"a\":{\"dtype\":\"F12\",\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype \"F12\""},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}",
       "more than 6 dimensions"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}",
       "more than 2 data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", "1 data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
       "negative data_offsets"},
      {"{}x", "only spaces"},
      {"[]      ", "'{' as the first byte"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) reject(bad[i].header, d, 8, bad[i].why);
}
END_TEST

START_TEST(test_reject_layout) {
  const unsigned char d[32] = {0};
  /* overlapping offsets */
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12,
         "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8, "overlap");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", d, 8, "overlap");
  /* a gap, at the start, in the middle and at the end */
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12,
         "gap in the data: bytes [0, 4) belong to no tensor");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", d, 16,
         "gap in the data: bytes [8, 12) belong to no tensor");
  reject(T1, d, 12, "4 bytes after the last tensor");
  /* dtype/size mismatch */
  reject("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
         "tensor 'a' (F16 [2]) needs 4 bytes but its data_offsets [0, 8] hold 8");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", d, 8,
         "needs 24 bytes");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", d, 8,
         "end before they begin");
  /* duplicate names, duplicate metadata keys */
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8,
         "names tensor 'a' twice");
  reject("{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}", d, 0, "key 'k' twice");
  /* negative dims, and dims whose product overflows */
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d, 8,
         "dimension 0 of size -2");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1,-2],\"data_offsets\":[0,8]}}", d, 8,
         "dimension 1 of size -1");
  reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}", d, 8, "more bytes than fit in 64 bits");
  reject("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
         "\"data_offsets\":[0,8]}}", d, 8, "more bytes than fit in 64 bits");
}
END_TEST

/* ---- writer arguments --------------------------------------------------- */

START_TEST(test_write_bad_args) {
  float v[2] = {1, 2};
  const char *path = fx_path("args.safetensors");
  astrt_st_tensor t[2] = {{"a", ASTRT_ST_F32, 1, {2}, v}, {"a", ASTRT_ST_F32, 1, {1}, v}};
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("two tensors are called 'a'");
  ck_assert_error_has(path);
  t[1].name = "__metadata__";
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("reserves");
  t[1].name = "bad\xff";
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("UTF-8");
  t[1].name = NULL;
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  t[1] = (astrt_st_tensor){"b", 99, 1, {2}, v};
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("unknown dtype 99");
  t[1] = (astrt_st_tensor){"b", ASTRT_ST_F32, 1, {-2}, v};
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("[-2]");
  t[1] = (astrt_st_tensor){"b", ASTRT_ST_F32, 7, {1}, v};
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("rank 7");
  t[1] = (astrt_st_tensor){"b", ASTRT_ST_F32, 1, {2}, NULL};
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("no data");
  t[1].data = v;
  const char *k2[] = {"k", "k"}, *v2[] = {"1", "2"};
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, k2, v2, 2), ASTRT_ERR_ARG);
  ck_assert_error_has("metadata key 'k' occurs twice");
  const char *vnull[] = {"1", NULL};
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, k2, vnull, 2), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_safetensors_write(path, t, -1, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_safetensors_write("", t, 2, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_int_eq(access(path, F_OK), -1);  /* nothing was written */
  ck_assert_int_eq(temp_files_in(fx_tmpdir), 0);
  ck_assert_int_eq(astrt_safetensors_write(path, t, 2, NULL, NULL, 0), ASTRT_OK);
  /* a directory that does not exist */
  const char *nodir = fx_path("no/such/dir/x.safetensors");
  ck_assert_int_eq(astrt_safetensors_write(nodir, t, 2, NULL, NULL, 0), ASTRT_ERR_IO);
  ck_assert_error_has(nodir);
  ck_assert_error_has("No such file or directory");
  /* a directory at the path */
  ck_assert_int_eq(mkdir(fx_path("adir"), 0755), 0);
  ck_assert_int_eq(astrt_safetensors_write(fx_path("adir"), t, 2, NULL, NULL, 0), ASTRT_ERR_IO);
  ck_assert_error_has("not a regular file");
  ck_assert_int_eq(temp_files_in(fx_tmpdir), 0);
}
END_TEST

/* ---- atomicity ---------------------------------------------------------- */

/* A tensor of n floats 0, 1, 2, ... (free the data). */
static astrt_st_tensor ramp(const char *name, int64_t n) {
  float *v = malloc((size_t)n * sizeof *v);
  ck_assert_ptr_nonnull(v);
  for (int64_t i = 0; i < n; i++) v[i] = (float)i;
  return (astrt_st_tensor){name, ASTRT_ST_F32, 1, {n}, v};
}

#ifdef ASTRT_TEST_HOOKS
START_TEST(test_atomic_fault_hook) {
  const char *path = fx_path("ckpt.safetensors");
  astrt_st_tensor old = ramp("old", 10), big = ramp("big", 5000);
  const char *keys[] = {"astc.step"}, *values[] = {"1"};
  /* a value that is no byte count is refused, and nothing is written */
  setenv("ASTRT_FAULT_WRITE_AFTER", "lots", 1);
  ck_assert_int_eq(astrt_safetensors_write(path, &old, 1, NULL, NULL, 0), ASTRT_ERR_ARG);
  ck_assert_error_has("ASTRT_FAULT_WRITE_AFTER=lots");
  unsetenv("ASTRT_FAULT_WRITE_AFTER");
  ck_assert_int_eq(access(path, F_OK), -1);
  ck_assert_int_eq(temp_files_in(fx_tmpdir), 0);
  ck_assert_int_eq(astrt_safetensors_write(path, &old, 1, keys, values, 1), ASTRT_OK);
  ck_assert_int_eq(chmod(path, 0640), 0);
  size_t old_len;
  unsigned char *old_bytes = fx_read_bytes(path, &old_len);
  /* the new file is 8 + 96 + 20000 bytes; fail at several points */
  static const char *const after[] = {"0", "3", "8", "50", "80", "4096", "20103"};
  for (size_t i = 0; i < sizeof after / sizeof *after; i++) {
    setenv("ASTRT_FAULT_WRITE_AFTER", after[i], 1);
    ck_assert_int_eq(astrt_safetensors_write(path, &big, 1, keys, values, 1), ASTRT_ERR_IO);
    ck_assert_error_has(path);
    ck_assert_error_has("No space left on device");
    char at[64];
    snprintf(at, sizeof at, "after %s bytes", after[i]);
    ck_assert_error_has(at);
    assert_same_file(path, old_bytes, old_len);
    ck_assert_int_eq(temp_files_in(fx_tmpdir), 0);
  }
  /* no previous file: nothing is left at the path either */
  const char *fresh = fx_path("fresh.safetensors");
  setenv("ASTRT_FAULT_WRITE_AFTER", "100", 1);
  ck_assert_int_eq(astrt_safetensors_write(fresh, &big, 1, NULL, NULL, 0), ASTRT_ERR_IO);
  ck_assert_int_eq(access(fresh, F_OK), -1);
  ck_assert_int_eq(temp_files_in(fx_tmpdir), 0);
  /* a limit past the end lets the write through; the file keeps its mode */
  setenv("ASTRT_FAULT_WRITE_AFTER", "20104", 1);
  ck_assert_msg(astrt_safetensors_write(path, &big, 1, keys, values, 1) == ASTRT_OK, "%s",
                astrt_last_error());
  unsetenv("ASTRT_FAULT_WRITE_AFTER");
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_int_eq(sb.st_size, 8 + 96 + 20000);
  ck_assert_int_eq(sb.st_mode & 0777, 0640);
  astrt_st_file f;
  ck_assert_int_eq(astrt_safetensors_read(path, &f), ASTRT_OK);
  ck_assert_ptr_nonnull(astrt_st_find(&f, "big"));
  astrt_st_file_free(&f);
  free(old_bytes);
  free((void *)old.data);
  free((void *)big.data);
}
END_TEST
#endif

START_TEST(test_atomic_dev_full) {
  struct stat before, after;
  ck_assert(stat("/dev/full", &before) == 0 && S_ISCHR(before.st_mode));
  astrt_st_tensor t = ramp("w", 100);
  ck_assert_int_eq(astrt_safetensors_write("/dev/full", &t, 1, NULL, NULL, 0), ASTRT_ERR_IO);
  ck_assert_error_has("/dev/full");
  ck_assert_error_has("not a regular file");
  ck_assert_int_eq(stat("/dev/full", &after), 0);
  ck_assert(S_ISCHR(after.st_mode) && after.st_rdev == before.st_rdev);
  ck_assert_int_eq(temp_files_in("/dev"), 0);
  /* a symbolic link to it is refused the same way */
  ck_assert_int_eq(symlink("/dev/full", fx_path("link")), 0);
  ck_assert_int_eq(astrt_safetensors_write(fx_path("link"), &t, 1, NULL, NULL, 0), ASTRT_ERR_IO);
  ck_assert_error_has("not a regular file");
  free((void *)t.data);
}
END_TEST

/* A real full disk: a 64 KiB tmpfs in a private mount namespace (this test
 * runs in its own process; the tmpfs suite, skipped where fx_missing_tmpfs
 * finds that no such mount can be made). */
START_TEST(test_atomic_full_tmpfs) {
  const char *mnt = fx_path("mnt");
  ck_assert_int_eq(mkdir(mnt, 0755), 0);
  ck_assert_msg(unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                    mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == 0,
                "cannot mount a tmpfs: %s", strerror(errno));
  char path[1100];
  snprintf(path, sizeof path, "%s/ckpt.safetensors", mnt);
  astrt_st_tensor small = ramp("small", 100), big = ramp("big", 64 * 1024);  /* 256 KiB */
  ck_assert_msg(astrt_safetensors_write(path, &small, 1, NULL, NULL, 0) == ASTRT_OK, "%s",
                astrt_last_error());
  size_t old_len;
  unsigned char *old_bytes = fx_read_bytes(path, &old_len);
  ck_assert_int_eq(astrt_safetensors_write(path, &big, 1, NULL, NULL, 0), ASTRT_ERR_IO);
  ck_assert_error_has(path);
  ck_assert_error_has("No space left on device");
  assert_same_file(path, old_bytes, old_len);
  ck_assert_int_eq(temp_files_in(mnt), 0);
  /* the space is free again: a file that fits can be written */
  ck_assert_int_eq(astrt_safetensors_write(path, &small, 1, NULL, NULL, 0), ASTRT_OK);
  assert_same_file(path, old_bytes, old_len);
  ck_assert_int_eq(umount(mnt), 0);
  free(old_bytes);
  free((void *)small.data);
  free((void *)big.data);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

static Suite *safetensors_suite(void) {
  Suite *s = suite_create("safetensors");
  TCase *tc = tcase_create("format");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_dtype_helpers);
  tcase_add_test(tc, test_exact_bytes);
  tcase_add_test(tc, test_read_by_hand);
  suite_add_tcase(s, tc);

  TCase *bad = tcase_create("reject");
  tcase_add_checked_fixture(bad, setup, teardown);
  tcase_set_timeout(bad, 60);
  tcase_add_test(bad, test_reject_sizes);
  tcase_add_test(bad, test_reject_json);
  tcase_add_test(bad, test_reject_layout);
  suite_add_tcase(s, bad);

  TCase *w = tcase_create("write");
  tcase_add_checked_fixture(w, setup, teardown);
  tcase_set_timeout(w, 60);
  tcase_add_test(w, test_write_bad_args);
  suite_add_tcase(s, w);

  return s;
}

/* a suite of one test of the write case */
static Suite *write_suite(const char *name, const TTest *test) {
  Suite *s = suite_create(name);
  TCase *w = tcase_create("write");
  tcase_add_checked_fixture(w, setup, teardown);
  tcase_set_timeout(w, 60);
  tcase_add_test(w, test);
  suite_add_tcase(s, w);
  return s;
}

static Suite *devfull_suite(void) { return write_suite("safetensors /dev/full", test_atomic_dev_full); }
static Suite *tmpfs_suite(void) { return write_suite("safetensors tmpfs", test_atomic_full_tmpfs); }

/* the tests of the runtime's test hooks (ASTRT_TEST_HOOKS) */
static Suite *hooks_suite(void) {
#ifdef ASTRT_TEST_HOOKS
  return write_suite("safetensors hooks", test_atomic_fault_hook);
#else
  return suite_create("safetensors hooks");
#endif
}

int main(int argc, char **argv) {
  static const FxExtra extra[] = {
      {"devfull", devfull_suite, fx_missing_dev_full},
      {"tmpfs", tmpfs_suite, fx_missing_tmpfs},
      {"hooks", hooks_suite, fx_missing_test_hooks},
  };
  return fx_main(argc, argv, safetensors_suite, extra, 3);
}
