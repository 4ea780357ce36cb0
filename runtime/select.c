/* select.c — selective backprop's choice of rows (Jiang et al. 2019,
 * "Accelerating Deep Learning by Focusing on the Biggest Losers"; MosaicML
 * Composer's SelectiveBackprop).
 *
 * A phase that selects has a scoring function (passes/select.c): the
 * forward pass only, writing each row's own loss. Its rows are ranked by
 * loss; the row of rank r (0 = the lowest loss) has percentile
 * p = (r + 1/2) / n and weight p^beta, and k rows are drawn without
 * replacement with probability proportional to the weights of the rows not
 * yet drawn (as Composer's numpy.random.choice(replace=False, p=...) does),
 * by Efraimidis and Spirakis's keys: row i gets key log(u_i) / w_i with u_i
 * uniform in (0, 1], and the k largest keys are the draw. u_i is
 * astrt_uniform53 of (astrt_subkey(astrt_subkey(seed, "selb"), step), i):
 * the choice is a function of the seed, the step and the losses alone, so
 * a resumed run chooses as the uninterrupted one did. beta = 0 draws
 * uniformly; a large beta keeps the largest losses. A NaN loss ranks above
 * every number (so it is kept, and the step's guard sees it).
 */
#include "driver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t astrt_select_count(double keep, int64_t rows) {
  int64_t k = (int64_t)floor(keep * (double)rows + 1e-9);
  return k < 1 ? 1 : k > rows ? rows : k;
}

int astrt_select_interrupted(const astrt_phase_desc *ph, int64_t step) {
  return ph->interrupt > 0 && step % ph->interrupt == 0;
}

uint64_t astrt_select_key(uint64_t seed, int64_t step) {
  return astrt_subkey(astrt_subkey(seed, ASTRT_TAG_SELECT), (uint64_t)step);
}

/* ascending by value, NaN last; ties by row */
static int by_value(const void *a, const void *b) {
  const astrt_select_item *x = a, *y = b;
  int xn = isnan(x->v), yn = isnan(y->v);
  if (xn != yn) return xn - yn;
  if (!xn && x->v != y->v) return x->v < y->v ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* descending by key; ties by row */
static int by_key_desc(const void *a, const void *b) {
  const astrt_select_item *x = a, *y = b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

static int by_row(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void astrt_select_rows(const float *loss, int64_t n, int64_t k, double beta, uint64_t key, astrt_select_item *scratch,
                       int64_t *out) {
  if (k > n) k = n;
  for (int64_t i = 0; i < n; i++) scratch[i] = (astrt_select_item){loss[i], i};
  qsort(scratch, (size_t)n, sizeof *scratch, by_value);
  for (int64_t r = 0; r < n; r++) {  /* rank r -> its row's key */
    int64_t i = scratch[r].i;
    double w = pow(((double)r + 0.5) / (double)n, beta);
    double u = 1.0 - astrt_uniform53(key, (uint64_t)i);  /* in (0, 1] */
    scratch[r] = (astrt_select_item){log(u) / w, i};
  }
  qsort(scratch, (size_t)n, sizeof *scratch, by_key_desc);
  for (int64_t j = 0; j < k; j++) out[j] = scratch[j].i;
  qsort(out, (size_t)k, sizeof *out, by_row);
}

void astrt_batch_take(void *x, void *y, int64_t x_row_bytes, int64_t y_row_bytes, const int64_t *rows, int64_t k) {
  /* rows ascend, so row j's source (rows[j] >= j) is never a destination already written */
  for (int64_t j = 0; j < k; j++) {
    if (rows[j] == j) continue;
    memmove((char *)x + j * x_row_bytes, (char *)x + rows[j] * x_row_bytes, (size_t)x_row_bytes);
    memmove((char *)y + j * y_row_bytes, (char *)y + rows[j] * y_row_bytes, (size_t)y_row_bytes);
  }
}

astrt_status astrt_select_buf_init(astrt_select_buf *b, const astrt_program *p) {
  memset(b, 0, sizeof *b);
  for (uint32_t i = 0; i < p->nphases; i++) {
    const astrt_phase_desc *ph = &p->phases[i];
    int64_t rows = ph->batch * (ph->pieces > 1 ? ph->pieces : 1);
    if (ph->score && rows > b->cap) b->cap = rows;
  }
  if (b->cap == 0) return ASTRT_OK;
  b->loss = malloc((size_t)b->cap * sizeof *b->loss);
  b->rows = malloc((size_t)b->cap * sizeof *b->rows);
  b->scratch = malloc((size_t)b->cap * sizeof *b->scratch);
  if (!b->loss || !b->rows || !b->scratch) {
    astrt_select_buf_free(b);
    return astrt_fail(ASTRT_ERR_NOMEM, "out of memory for selective backprop's buffers");
  }
  return ASTRT_OK;
}

void astrt_select_buf_free(astrt_select_buf *b) {
  free(b->loss);
  free(b->rows);
  free(b->scratch);
  memset(b, 0, sizeof *b);
}

int64_t astrt_select_batch(const astrt_phase_desc *ph, astrt_select_buf *b, void *vars, void *work, void *x, void *y,
                           int64_t rows, int64_t x_row_bytes, int64_t y_row_bytes, const float *scalars, uint64_t seed,
                           int64_t step, double *mean_loss) {
  ph->score(vars, work, x, y, rows, scalars, b->loss, seed);
  double sum = 0;
  for (int64_t i = 0; i < rows; i++) sum += b->loss[i];
  *mean_loss = sum / (double)rows;
  int64_t k = astrt_select_count(ph->keep, rows);
  astrt_select_rows(b->loss, rows, k, ph->beta, astrt_select_key(seed, step), b->scratch, b->rows);
  astrt_batch_take(x, y, x_row_bytes, y_row_bytes, b->rows, k);
  return k;
}
