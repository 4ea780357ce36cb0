/* fuzz_npy.c — libFuzzer target: arbitrary bytes as a NumPy .npy file
 * through astrt_load_npy_array, then as both the features and the labels
 * file of astrt_load_npy (features and label conversion, count check) and
 * of astrt_load_npy_classes (float labels as classes).
 * Everything loaded is freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "astrt.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *path;
  if (!path) path = fuzz_temp_path("input.npy");
  fuzz_write_file(path, data, size);
  astrt_array a;
  if (astrt_load_npy_array(path, &a) == ASTRT_OK) {
    fuzz_touch_array(&a);
    astrt_array_free(&a);
    astrt_split s;
    if (astrt_load_npy(path, path, &s) == ASTRT_OK) {
      fuzz_touch_array(&s.x);
      fuzz_touch_array(&s.y);
      astrt_split_free(&s);
    }
    if (astrt_load_npy_classes(path, path, &s) == ASTRT_OK) {
      if (s.y.elem != ASTRT_ELEM_I32) abort();
      fuzz_touch_array(&s.x);
      fuzz_touch_array(&s.y);
      astrt_split_free(&s);
    }
  }
  return 0;
}
