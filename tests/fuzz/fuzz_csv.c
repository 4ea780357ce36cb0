/* fuzz_csv.c — libFuzzer target: arbitrary bytes as a CSV data set through
 * astrt_load_csv, with the label in the last column (the default) and in
 * the first. Everything loaded is freed. */
#include <stddef.h>
#include <stdint.h>

#include "astrt.h"
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
  return 0;
}
