/* fuzz_csv.c — libFuzzer target: arbitrary bytes as a CSV data set through
 * astrt_load_csv, with the label in the last column (the default) and in
 * the first, then astrt_load_csv_ex in the other header modes, with given
 * separators and real targets, then as a file of features only and of
 * targets only (csv(x: ..., y: ...), astrt_csv_load_part). Everything
 * loaded is freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "astrt.h"
#include "data_internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *path;
  if (!path) path = fuzz_temp_path("input.csv");
  fuzz_write_file(path, data, size);
  static const int label_columns[] = {-1, 0};
  for (int i = 0; i < 2; i++) {
    astrt_split s;
    if (astrt_load_csv(path, label_columns[i], &s) == ASTRT_OK) {
      if (s.x.n != s.y.n || s.num_classes < 1) abort();
      fuzz_touch_array(&s.x);
      fuzz_touch_array(&s.y);
      astrt_split_free(&s);
    }
  }
  /* the other header modes and separators, and real targets */
  static const astrt_csv_options opts[] = {
      {-1, ASTRT_CSV_HEADER_SKIP, 0, 0}, {1, ASTRT_CSV_HEADER_NONE, ';', 0},
      {-1, ASTRT_CSV_HEADER_NAMES, ' ', 1}, {0, ASTRT_CSV_HEADER_AUTO, '\t', 1},
  };
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    astrt_split s;
    if (astrt_load_csv_ex(path, &opts[i], &s) == ASTRT_OK) {
      if (s.x.n != s.y.n || (!opts[i].real && s.num_classes < 1)) abort();
      fuzz_touch_array(&s.x);
      fuzz_touch_array(&s.y);
      astrt_split_free(&s);
    }
  }
  /* the two files of csv(x: ..., y: ...): every column a feature; one column, the target */
  for (int role = CSV_FEATURES; role <= CSV_TARGETS; role++)
    for (int real = 0; real < 2; real++) {
      astrt_csv_options o = {-1, ASTRT_CSV_HEADER_AUTO, 0, real};
      astrt_split s;
      if (astrt_csv_load_part(path, &o, role, &s) == ASTRT_OK) {
        if (role == CSV_FEATURES) {
          if (s.x.n < 1 || s.x.dims[0] < 1) abort();
          fuzz_touch_array(&s.x);
        } else {
          if (s.y.n < 1 || s.x.data || (!real && s.num_classes < 1)) abort();
          fuzz_touch_array(&s.y);
        }
        astrt_split_free(&s);
      }
    }
  return 0;
}
