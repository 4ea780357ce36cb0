/* batch.c — gathering a training or evaluation batch: the rows a
 * permutation selects, converted to normalised f32 features
 *   x = (raw * scale + shift - mean) / std
 * and int32 labels. U8 features go through a 256-entry table computed with
 * the same expression, so both paths give identical values.
 */
#include "driver_internal.h"

#include <stdint.h>
#include <string.h>

static void gather_u8(const astrt_split *s, const int64_t *perm, int64_t pos, int64_t rows,
                      int64_t size, astrt_norm norm, float *x) {
  float table[256];
  for (int b = 0; b < 256; b++)
    table[b] = ((float)b * s->x.scale + s->x.shift - norm.mean) / norm.std;
  const uint8_t *src = s->x.data;
  for (int64_t r = 0; r < rows; r++) {
    int64_t row = perm ? perm[pos + r] : pos + r;
    const uint8_t *in = src + row * size;
    float *out = x + r * size;
    for (int64_t j = 0; j < size; j++) out[j] = table[in[j]];
  }
}

static void gather_f32(const astrt_split *s, const int64_t *perm, int64_t pos, int64_t rows,
                       int64_t size, astrt_norm norm, float *x) {
  const float *src = s->x.data;
  float scale = s->x.scale, shift = s->x.shift;
  for (int64_t r = 0; r < rows; r++) {
    int64_t row = perm ? perm[pos + r] : pos + r;
    const float *in = src + row * size;
    float *out = x + r * size;
    for (int64_t j = 0; j < size; j++) out[j] = (in[j] * scale + shift - norm.mean) / norm.std;
  }
}

void astrt_batch_gather(const astrt_split *s, const int64_t *perm, int64_t pos,
                        int64_t rows, astrt_norm norm, float *x, int32_t *y) {
  int64_t size = astrt_array_example_size(&s->x);
  if (s->x.elem == ASTRT_ELEM_U8) gather_u8(s, perm, pos, rows, size, norm, x);
  else gather_f32(s, perm, pos, rows, size, norm, x);
  const int32_t *labels = s->y.data;
  for (int64_t r = 0; r < rows; r++) y[r] = labels[perm ? perm[pos + r] : pos + r];
}

void astrt_normalize(float *x, int64_t n, astrt_norm norm) {
  for (int64_t i = 0; i < n; i++) x[i] = (x[i] * 1.0f + 0.0f - norm.mean) / norm.std;
}

astrt_status astrt_labels_check(const int32_t *y, int64_t rows, int64_t classes, const int64_t *index) {
  for (int64_t i = 0; i < rows; i++)
    if (y[i] < 0 || y[i] >= classes)
      return astrt_fail(ASTRT_ERR_ARG, "example %lld has label %d, outside the model's classes [0, %lld)",
                        (long long)(index ? index[i] : i), (int)y[i], (long long)classes);
  return ASTRT_OK;
}
