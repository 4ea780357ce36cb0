/* batch.c — gathering a training or evaluation batch: the rows a
 * permutation selects, converted to normalised f32 features
 *   x = (raw * scale + shift - mean) / std
 * and int32 labels. U8 features go through a 256-entry table computed with
 * the same expression, so both paths give identical values. The driver's
 * own gathers split the rows over the runtime's threads (the prefetcher's
 * worker, which runs beside the pool, gathers alone).
 */
#include "driver_internal.h"
#include "kernels_internal.h"

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

/* the batch in row ranges over the runtime's threads: rows are independent,
 * so the values are the same */
typedef struct gather_job {
  const astrt_split *s;
  const int64_t *perm;
  int64_t pos, rows, size;
  astrt_norm norm;
  float *x;
  int32_t *y;
} gather_job;

static void gather_part(void *ctx, int part, int parts) {
  const gather_job *j = ctx;
  int64_t r0 = j->rows * part / parts, r1 = j->rows * (part + 1) / parts;
  if (r1 > r0) astrt_batch_gather(j->s, j->perm, j->pos + r0, r1 - r0, j->norm, j->x + r0 * j->size, j->y + r0);
}

#define GATHER_SPLIT_MIN (1 << 14)  /* values per batch worth a pool job */

void astrt_batch_gather_pooled(const astrt_split *s, const int64_t *perm, int64_t pos, int64_t rows,
                               astrt_norm norm, float *x, int32_t *y) {
  int64_t size = astrt_array_example_size(&s->x);
  int parts = astrt_pool_size();
  if (parts < 2 || rows < 2 * parts || rows * size < GATHER_SPLIT_MIN) {
    astrt_batch_gather(s, perm, pos, rows, norm, x, y);
    return;
  }
  gather_job j = {s, perm, pos, rows, size, norm, x, y};
  astrt_pool_run(gather_part, &j);
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
