/* data_stats.c — per-feature standardisation (normalize: standard): the
 * mean and standard deviation of every feature of the training split, held
 * in two state variables of the program (data.mean, data.std; the data
 * descriptor's mean_var and std_var), so that checkpoints and saved files
 * carry them and every later use of the weights — --load, --init-from,
 * --resume, the embedding API's predictions — normalises exactly as
 * training did.
 *
 * They are computed once, when training starts with the variables' std
 * still all 0 (as initialised): over the training examples as data values
 * (after the files' scale, e.g. IDX bytes / 255), in chunks of
 * CHUNK_VALUES / example_size rows (1 to 256): each chunk's mean and sum of
 * squared deviations in double, two passes over the chunk, merged into the
 * running ones (Chan, Golub and LeVeque), so the result depends on the
 * data and the example size only. std = sqrt(M2 / n); a feature whose std
 * is below 1e-7 x max(1, |mean|) (constant to float precision) gets std 1:
 * it is only centred.
 */
#include "driver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_VALUES ((int64_t)1 << 20)

static int standard(const astrt_program *p) { return p->data.normalize == ASTRT_NORM_STANDARD; }

static float *stat_var(const astrt_program *p, const void *vars, int32_t v) {
  return (float *)((char *)vars + p->vars[v].offset);
}

astrt_stats_state astrt_stats_state_of(const astrt_program *p, const void *vars) {
  const float *mean = stat_var(p, vars, p->data.mean_var), *std = stat_var(p, vars, p->data.std_var);
  int64_t n = p->data.example_size, zeros = 0, ok = 0;
  for (int64_t j = 0; j < n; j++) {
    zeros += std[j] == 0;
    ok += std[j] > 0 && isfinite(std[j]) && isfinite(mean[j]);
  }
  return zeros == n ? ASTRT_STATS_UNSET : ok == n ? ASTRT_STATS_VALID : ASTRT_STATS_INVALID;
}

astrt_norm astrt_norm_of(const astrt_program *p, const void *vars) {
  astrt_norm norm = {(float)p->data.mean, (float)p->data.std, NULL, NULL};
  if (standard(p)) {
    norm.fmean = stat_var(p, vars, p->data.mean_var);
    norm.fstd = stat_var(p, vars, p->data.std_var);
  }
  return norm;
}

astrt_status astrt_stats_check(const astrt_program *p, const void *vars, const char *how) {
  if (!standard(p)) return ASTRT_OK;
  switch (astrt_stats_state_of(p, vars)) {
  case ASTRT_STATS_VALID: return ASTRT_OK;
  case ASTRT_STATS_UNSET:
    return astrt_fail(ASTRT_ERR_ARG, "%s normalises each feature with the mean and standard deviation of its "
                      "training split (normalize: standard), which this model does not have yet (data.std is all "
                      "0): %s", p->name, how);
  default:
    return astrt_fail(ASTRT_ERR_FORMAT, "%s normalises each feature with the statistics in its variables "
                      "data.mean and data.std, but they are not usable (a std that is not a positive number, or "
                      "a mean that is not finite): load them from a file written by training, or compute them "
                      "again from the training data", p->name);
  }
}

/* Running statistics: count, and per feature mean and sum of squared deviations. */
typedef struct stats {
  int64_t n;
  double *mean, *m2, *cmean, *cm2;  /* running; the chunk's */
} stats;

/* Merges the chunk x[rows, size] into s. */
static void add_chunk(stats *s, const float *x, int64_t rows, int64_t size) {
  for (int64_t j = 0; j < size; j++) s->cmean[j] = s->cm2[j] = 0;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < size; j++) s->cmean[j] += x[r * size + j];
  for (int64_t j = 0; j < size; j++) s->cmean[j] /= (double)rows;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < size; j++) {
      double d = x[r * size + j] - s->cmean[j];
      s->cm2[j] += d * d;
    }
  double na = (double)s->n, nb = (double)rows, n = na + nb;
  for (int64_t j = 0; j < size; j++) {
    double delta = s->cmean[j] - s->mean[j];
    s->mean[j] += delta * nb / n;
    s->m2[j] += s->cm2[j] + delta * delta * na * nb / n;
  }
  s->n += rows;
}

astrt_status astrt_stats_fit(const astrt_program *p, void *vars, const astrt_data_source *train) {
  if (!standard(p)) return ASTRT_OK;
  const astrt_data_desc *d = &p->data;
  int64_t size = d->example_size, chunk = CHUNK_VALUES / size;
  if (chunk > 256) chunk = 256;
  if (chunk < 1) chunk = 1;
  if (train->n < 1) return astrt_fail(ASTRT_ERR_ARG, "no training examples to compute the features' statistics from");
  int64_t yvals = astrt_target_values(d);
  float *x = malloc((size_t)(chunk * size) * sizeof *x);
  int32_t *y = malloc((size_t)(chunk * yvals) * sizeof *y);
  int64_t *index = malloc((size_t)chunk * sizeof *index);
  stats s = {0, calloc((size_t)size, sizeof(double)), calloc((size_t)size, sizeof(double)),
             calloc((size_t)size, sizeof(double)), calloc((size_t)size, sizeof(double))};
  astrt_status st = ASTRT_OK;
  if (!x || !y || !index || !s.mean || !s.m2 || !s.cmean || !s.cm2)
    st = astrt_fail(ASTRT_ERR_NOMEM, "out of memory computing the features' statistics");
  astrt_norm identity = {0.0f, 1.0f, NULL, NULL};  /* the data values themselves */
  for (int64_t pos = 0; !st && pos < train->n; pos += chunk) {
    int64_t rows = train->n - pos < chunk ? train->n - pos : chunk;
    if (train->fetch) {
      for (int64_t i = 0; i < rows; i++) index[i] = pos + i;
      st = train->fetch(train->ctx, index, rows, x, y);
    } else {
      astrt_batch_gather(train->split, NULL, pos, rows, identity, x, y);
    }
    if (!st) add_chunk(&s, x, rows, size);
  }
  if (!st) {
    float *mean = stat_var(p, vars, d->mean_var), *std = stat_var(p, vars, d->std_var);
    for (int64_t j = 0; j < size; j++) {
      double sd = sqrt(s.m2[j] / (double)s.n);
      if (!isfinite(s.mean[j]) || !isfinite(sd))
        st = astrt_fail(ASTRT_ERR_NUMERIC, "feature %lld of the training data has a mean or standard deviation "
                        "that is not finite (values too large for float)", (long long)j);
      mean[j] = (float)s.mean[j];
      std[j] = sd < 1e-7 * fmax(1.0, fabs(s.mean[j])) ? 1.0f : (float)sd;
    }
    if (st) memset(std, 0, (size_t)size * sizeof *std);  /* still not computed */
  }
  free(x);
  free(y);
  free(index);
  free(s.mean);
  free(s.m2);
  free(s.cmean);
  free(s.cm2);
  return st;
}
