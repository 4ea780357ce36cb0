/* fuzz_idx.c — libFuzzer target: arbitrary bytes as an IDX file (raw, or
 * gzip-compressed when they start with 1f 8b) through astrt_load_idx_array,
 * then as both the images and the labels file of astrt_load_idx (features
 * and label conversion, count check). Everything loaded is freed. */
#include <stddef.h>
#include <stdint.h>

#include "astrt.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *path;
  if (!path) path = fuzz_temp_path("input-idx3-ubyte");
  fuzz_write_file(path, data, size);
  astrt_array a;
  if (astrt_load_idx_array(path, &a) == ASTRT_OK) {
    fuzz_touch_array(&a);
    astrt_array_free(&a);
    astrt_split s;
    if (astrt_load_idx(path, path, &s) == ASTRT_OK) {
      fuzz_touch_array(&s.x);
      fuzz_touch_array(&s.y);
      astrt_split_free(&s);
    }
  }
  return 0;
}
