/* ops.c — helpers that astc-generated step functions call: dropout masks
 * (astrt_dropout_mask), layer dropping's gates (astrt_drop_gate), the softmax cross-entropy with its gradient
 * (astrt_softmax_xent) and the count of correct predictions
 * (astrt_count_correct).
 *
 * The dropout formula is shared with the compiler's reference interpreter
 * (compiler/ir/interp.c) and must stay identical to it:
 *   key  = astrt_subkey(astrt_subkey(seed, step), site)
 *   mask = astrt_uniform(key, k) >= p ? 1 / (1 - p) : 0
 * where k numbers the elements of the whole batch (a micro-batch passes the
 * number of its first element as `first`).
 */
#include "astrt_program.h"
#include "kernels_internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

void astrt_dropout_mask(float *out, int64_t n, int64_t first, float p, uint64_t seed, int64_t step,
                        int64_t site) {
  uint64_t key = astrt_subkey(astrt_subkey(seed, (uint64_t)step), (uint64_t)site);
  float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  for (int64_t k = 0; k < n; k++)
    out[k] = astrt_uniform(key, (uint64_t)(first + k)) >= p ? keep : 0.0f;
}

/* Layer dropping's draws have a stream of their own: the site below is
 * beyond any dropout mask's (those count up from 0), so that a block's gate
 * and a dropout mask never share a key. The shared rule, with the compiler's
 * reference interpreter:
 *   u = astrt_uniform(astrt_subkey(astrt_subkey(seed, step), DROP_SITE), block)
 *   gate = u < p ? 1 / p : 0 */
#define DROP_SITE 0x6c61796572647270ull /* "layerdrp" */

float astrt_drop_gate(float p, uint64_t seed, int64_t step, int64_t block) {
  uint64_t key = astrt_subkey(astrt_subkey(seed, (uint64_t)step), DROP_SITE);
  return astrt_uniform(key, (uint64_t)block) < p ? 1.0f / p : 0.0f;
}

float astrt_all_finite(const float *x, int64_t n) {
  /* x * 0 is 0 for finite x and NaN for inf or NaN */
  float acc = 0.0f;
  for (int64_t i = 0; i < n; i++) acc += x[i] * 0.0f;
  return acc == 0.0f ? 1.0f : 0.0f;
}

/* Index of the first maximum of row[0..k): column c replaces the best so far
 * only if row[c] > best (as in the reference interpreter; NaN compares false). */
static int64_t first_max(const float *row, int64_t k) {
  int64_t best = 0;
  for (int64_t c = 1; c < k; c++)
    if (row[c] > row[best]) best = c;
  return best;
}

float astrt_count_correct(const float *logits, const int32_t *labels, int64_t rows,
                          int64_t k) {
  int64_t correct = 0;
  if (k <= 0) return 0.0f;
  for (int64_t r = 0; r < rows; r++)
    correct += first_max(logits + r * k, k) == labels[r];
  return (float)correct;
}

/* Per row: the row maximum m, z = sum exp(l - m) (the exponentials kept in
 * the gradient row when it is wanted). With T = sum t (1, or s for a label
 * outside [0, k)) the loss is
 * sum_c t_c (m + log z - l_c) = T log z - hit (l_y - m) - u sum_c (l_c - m),
 * in logits shifted by m so that large logits lose nothing to
 * cancellation (the sum only when u = s / k > 0, so that a logit of -inf
 * masks its class), and the gradient (T e / z - t) * dy. The rows are a
 * vectorized row kernel split over the pool (kernels_seq.c). */
void astrt_softmax_xent(const float *logits, const int32_t *labels, int64_t rows, int64_t k, float smoothing,
                        float *loss, float *grad, const float *dy, float dy_all) {
  astrt_seq_softmax_xent(logits, labels, rows, k, smoothing, loss, grad, dy, dy_all);
}
