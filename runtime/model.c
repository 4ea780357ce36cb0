/* model.c — a compiled model inside an application (astrt_model.h): the
 * variables and buffers of one instance, single training steps on the
 * caller's batches, prediction, evaluation, generation (generate.c),
 * variables by name, files; the whole training loop is the driver's
 * (astrt_train_ext_run). x and y are of the program's types (its data's
 * x_dtype and target): every element is 4 bytes.
 *
 * Threads: a model owns its thread pool (pool.c). astrt_model_train makes
 * it, with the run's thread count (astrt_options.threads), and the model
 * keeps it until it is destroyed; every call that runs the program binds it
 * to the calling thread for the call's duration, so single steps,
 * predictions and evaluations after a training run split their work the
 * same way, and before any run they run on the calling thread alone. No
 * other model's calls, in any thread, see or change it.
 */
#include "astrt_kernels.h"
#include "driver_internal.h"
#include "kernels_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct astrt_model {
  const astrt_program *p;
  uint64_t seed;
  void *vars;
  void *work;                /* the largest work of any step */
  void *x;                   /* one batch of normalised features (or token ids) */
  void *y;                   /* its targets */
  int64_t ybytes;            /* bytes of one example's targets */
  float *feat;               /* one batch of frozen-prefix features, or NULL */
  int64_t max_rows;          /* rows x and y hold */
  int64_t steps;             /* optimizer steps done */
  astrt_loss_scaler ls;
  astrt_pool *pool;          /* made by the first astrt_model_train, or NULL */
  astrt_select_buf sel;      /* selective backprop's scores and chosen rows */
};

void astrt_model_options_default(astrt_model_options *o) {
  memset(o, 0, sizeof *o);
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Sizes of the buffers every step of p fits in. */
static void buffer_sizes(const astrt_program *p, int64_t *rows, int64_t *work, int64_t *feat) {
  *rows = p->eval_batch;
  *work = max64(p->eval_work_bytes, p->predict ? p->predict_work_bytes : 0);
  *feat = 0;
  for (uint32_t i = 0; i < p->nphases; i++) {
    const astrt_phase_desc *ph = &p->phases[i];
    *rows = max64(*rows, ph->batch);
    *work = max64(*work, ph->work_bytes);
    if (ph->score) *work = max64(*work, ph->score_work_bytes);
    if (ph->prefix) {
      *work = max64(*work, ph->prefix_work_bytes);
      *feat = max64(*feat, ph->batch * ph->feature_size);
    }
  }
}

astrt_status astrt_model_create(const astrt_program *p, const astrt_model_options *o,
                                astrt_model **out) {
  *out = NULL;
  astrt_status st = astrt_program_check(p);
  if (st) return st;
  if ((st = astrt_vars_check(p))) return st;
  astrt_model *m = calloc(1, sizeof *m);
  if (!m) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory creating a model of %s", p->name);
  m->p = p;
  m->seed = o && o->has_seed ? o->seed : p->seed;
  m->ls.scale = p->loss_scale > 0 ? p->loss_scale : 1.0;
  int64_t rows, work, feat, xn;
  buffer_sizes(p, &rows, &work, &feat);
  if (__builtin_mul_overflow(rows, p->data.example_size, &xn) || (uint64_t)xn > SIZE_MAX / 8) {
    free(m);
    return astrt_fail(ASTRT_ERR_NOMEM, "a batch of %lld examples of %lld values is too large",
                      (long long)rows, (long long)p->data.example_size);
  }
  m->max_rows = rows;
  m->ybytes = 4 * astrt_target_values(&p->data);
  if ((st = astrt_vars_create(p, m->seed, &m->vars))) {
    free(m);
    return st;
  }
  m->work = astrt_arena_alloc(work);
  m->x = astrt_arena_alloc(xn * (int64_t)sizeof(float));
  m->y = astrt_arena_alloc(rows * m->ybytes);
  if (feat > 0) m->feat = astrt_arena_alloc(feat * (int64_t)sizeof(float));
  if (!m->work || !m->x || !m->y || (feat > 0 && !m->feat) || astrt_select_buf_init(&m->sel, p)) {
    astrt_model_destroy(m);
    return astrt_fail(ASTRT_ERR_NOMEM, "out of memory allocating the buffers of a model of %s "
                      "(%lld-byte work arena, batches of %lld examples)",
                      p->name, (long long)work, (long long)rows);
  }
  *out = m;
  return ASTRT_OK;
}

void astrt_model_destroy(astrt_model *m) {
  if (!m) return;
  astrt_pool_destroy(m->pool);
  free(m->vars);
  free(m->work);
  free(m->x);
  free(m->y);
  free(m->feat);
  astrt_select_buf_free(&m->sel);
  free(m);
  astrt_kernels_release_scratch();
}

const astrt_program *astrt_model_program(const astrt_model *m) { return m->p; }
int64_t astrt_model_input_size(const astrt_model *m) { return m->p->data.example_size; }
int64_t astrt_model_target_size(const astrt_model *m) { return astrt_target_values(&m->p->data); }
int64_t astrt_model_output_size(const astrt_model *m) { return m->p->output_size; }
int64_t astrt_model_classes(const astrt_model *m) { return m->p->data.classes; }
int64_t astrt_model_steps(const astrt_model *m) { return m->steps; }

int64_t astrt_model_batch_at(const astrt_model *m, double t) {
  if (!(t >= 0)) t = 0;
  return astrt_phase_at(m->p, t > 1 ? 1 : t)->batch;
}

/* ---- steps ---------------------------------------------------------------- */

/* x (rows of data values) into m->x, normalised; token ids as they are */
static void load_features(astrt_model *m, const void *x, int64_t rows) {
  int64_t size = m->p->data.example_size;
  memcpy(m->x, x, (size_t)(rows * size) * 4);
  if (m->p->data.x_dtype == ASTRT_DTYPE_F32) astrt_normalize(m->x, rows, size, astrt_norm_of(m->p, m->vars));
}

/* normalize: standard: the statistics must be there before x is normalised */
static astrt_status stats_ready(const astrt_model *m) {
  return astrt_stats_check(m->p, m->vars, "train it with astrt_model_train (which computes them from its "
                           "training data), compute them with astrt_model_fit_normalization, or load a file that "
                           "holds them (astrt_model_load)");
}

/* rows of x starting at row `pos` */
static const void *x_row(const astrt_model *m, const void *x, int64_t pos) {
  return (const char *)x + (size_t)pos * (size_t)m->p->data.example_size * 4;
}

static astrt_status check_buffers(const void *x, const void *y, int64_t rows) {
  if (rows > 0 && (!x || !y)) return astrt_fail(ASTRT_ERR_ARG, "a NULL batch buffer was passed");
  return ASTRT_OK;
}

/* token ids of x[rows] in [0, vocab) (an id outside would index past an embedding) */
static astrt_status ids_only(const astrt_program *p, const void *x, int64_t rows) {
  return astrt_batch_check(&p->data, x, NULL, rows, NULL);
}

static astrt_status train_step(astrt_model *m, const void *x, const void *y, int64_t rows, double t,
                               astrt_step_result *out) {
  const astrt_program *p = m->p;
  if (!(t >= 0 && t <= 1))
    return astrt_fail(ASTRT_ERR_ARG, "training progress t = %g is outside [0, 1]", t);
  const astrt_phase_desc *ph = astrt_phase_at(p, t);
  if (rows < 1 || rows > ph->batch)
    return astrt_fail(ASTRT_ERR_ARG, "a training step of %s at progress %g takes 1 to %lld rows, "
                      "not %lld (astrt_model_batch_at gives the limit)", p->name, t,
                      (long long)ph->batch, (long long)rows);
  astrt_status st = check_buffers(x, y, rows);
  if (st || (st = astrt_batch_check(&p->data, x, y, rows, NULL)) || (st = stats_ready(m))) return st;
  /* the epoch a schedule sees: exact for an epochs budget, where t counts epochs */
  int64_t epoch = p->epochs > 0 ? (int64_t)floor(t * (double)p->epochs) : 0;
  if (epoch >= p->epochs && p->epochs > 0) epoch = p->epochs - 1;
  double lr;
  if ((st = astrt_lr_at(p, t, m->steps, epoch, &lr))) return st;
  load_features(m, x, rows);
  memcpy(m->y, y, (size_t)(rows * m->ybytes));
  const void *in = m->x;
  if (ph->prefix) {  /* the phase trains on the frozen prefix's features */
    float sc[ASTRT_NUM_SCALARS] = {0.0f, (float)m->steps, (float)rows, 1.0f, (float)t, 0.0f, 1.0f};
    ph->prefix(m->vars, m->work, m->x, m->y, rows, sc, m->feat, m->seed);
    in = m->feat;
  }
  float scalars[ASTRT_NUM_SCALARS] = {(float)lr, (float)(m->steps + 1), (float)rows,
                                      (float)m->ls.scale, (float)t, 0.0f, 1.0f};
  float o[ASTRT_NUM_OUTPUTS] = {0.0f, 0.0f, 0.0f};
  if (ph->score && !astrt_select_interrupted(ph, m->steps + 1)) {  /* selective backprop: the kept rows train */
    double mean;
    rows = astrt_select_batch(ph, &m->sel, m->vars, m->work, m->x, m->y, rows, p->data.example_size * 4, m->ybytes,
                              scalars, m->seed, m->steps + 1, &mean);
    scalars[ASTRT_SC_ROWS] = (float)rows;
  }
  ph->step(m->vars, m->work, in, m->y, rows, scalars, o, m->seed);
  if (!isfinite(o[ASTRT_OUT_LOSS]))
    return astrt_fail(ASTRT_ERR_NUMERIC, "training diverged: step %lld gave a non-finite loss (%g) at "
                      "learning rate %g; lower the learning rate (or check the data for extreme values)",
                      (long long)m->steps + 1, (double)o[ASTRT_OUT_LOSS], lr);
  int skipped = o[ASTRT_OUT_OVERFLOW] != 0.0f;
  if ((st = astrt_loss_scale_update(p, &m->ls, skipped, m->steps))) return st;
  m->steps++;
  if (out) *out = (astrt_step_result){o[ASTRT_OUT_LOSS], (int64_t)o[ASTRT_OUT_CORRECT], skipped};
  return ASTRT_OK;
}

static astrt_status predict(astrt_model *m, const void *x, int64_t rows, float *out) {
  const astrt_program *p = m->p;
  if (rows < 0) return astrt_fail(ASTRT_ERR_ARG, "cannot predict %lld rows", (long long)rows);
  if (rows > 0 && (!x || !out)) return astrt_fail(ASTRT_ERR_ARG, "a NULL buffer was passed to predict");
  if (!p->predict || p->output_size < 1)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s was compiled without a prediction graph; recompile it "
                      "with this astc", p->name);
  astrt_status st = rows > 0 && p->data.x_dtype == ASTRT_DTYPE_I32 ? ids_only(p, x, rows) : ASTRT_OK;
  if (st || (st = stats_ready(m))) return st;
  int64_t chunk = p->eval_batch, n;
  memset(m->y, 0, (size_t)(chunk * m->ybytes));  /* prediction reads no targets */
  for (int64_t pos = 0; pos < rows; pos += n) {
    n = rows - pos < chunk ? rows - pos : chunk;
    load_features(m, x_row(m, x, pos), n);
    float sc[ASTRT_NUM_SCALARS] = {0.0f, (float)m->steps, (float)n, 1.0f, 1.0f, 0.0f, 1.0f};
    p->predict(m->vars, m->work, m->x, m->y, n, sc, out + pos * p->output_size, m->seed);
  }
  return ASTRT_OK;
}

static astrt_status evaluate(astrt_model *m, const void *x, const void *y, int64_t rows, double *loss,
                             double *accuracy) {
  const astrt_program *p = m->p;
  if (rows < 1) return astrt_fail(ASTRT_ERR_ARG, "cannot evaluate %lld rows", (long long)rows);
  astrt_status st = check_buffers(x, y, rows);
  if (st || (st = astrt_batch_check(&p->data, x, y, rows, NULL)) || (st = stats_ready(m))) return st;
  double loss_sum = 0, correct = 0;
  int64_t chunk = p->eval_batch, n;
  for (int64_t pos = 0; pos < rows; pos += n) {
    n = rows - pos < chunk ? rows - pos : chunk;
    load_features(m, x_row(m, x, pos), n);
    memcpy(m->y, (const char *)y + pos * m->ybytes, (size_t)(n * m->ybytes));
    float sc[ASTRT_NUM_SCALARS] = {0.0f, (float)m->steps, (float)n, 1.0f, 1.0f, 0.0f, 1.0f};
    float o[ASTRT_NUM_OUTPUTS] = {0.0f, 0.0f, 0.0f};
    p->eval(m->vars, m->work, m->x, m->y, n, sc, o, m->seed);
    loss_sum += (double)o[ASTRT_OUT_LOSS] * (double)n;
    correct += o[ASTRT_OUT_CORRECT];
  }
  if (loss) *loss = loss_sum / (double)rows;
  if (accuracy) *accuracy = p->data.target == ASTRT_TARGET_CLASS ? correct / (double)rows : NAN;
  return ASTRT_OK;
}

/* The calls that run the program, on the model's pool (bound to the calling
 * thread for the call, and the thread's own binding restored after it). */

astrt_status astrt_model_train_step(astrt_model *m, const void *x, const void *y,
                                    int64_t rows, double t, astrt_step_result *out) {
  astrt_pool *outer = astrt_pool_bind(m->pool);
  astrt_status st = train_step(m, x, y, rows, t, out);
  astrt_pool_bind(outer);
  return st;
}

astrt_status astrt_model_predict(astrt_model *m, const void *x, int64_t rows, float *out) {
  astrt_pool *outer = astrt_pool_bind(m->pool);
  astrt_status st = predict(m, x, rows, out);
  astrt_pool_bind(outer);
  return st;
}

astrt_status astrt_model_evaluate(astrt_model *m, const void *x, const void *y,
                                  int64_t rows, double *loss, double *accuracy) {
  astrt_pool *outer = astrt_pool_bind(m->pool);
  astrt_status st = evaluate(m, x, y, rows, loss, accuracy);
  astrt_pool_bind(outer);
  return st;
}

astrt_status astrt_model_generate(astrt_model *m, const int32_t *prompt, int64_t n, int64_t count,
                                  float temperature, int top_k, uint64_t seed, int32_t *out) {
  if (count > 0 && !out) return astrt_fail(ASTRT_ERR_ARG, "astrt_model_generate: out is NULL");
  astrt_pool *outer = astrt_pool_bind(m->pool);
  astrt_status st = astrt_generate(m->p, m->vars, m->steps, prompt, n, count, temperature, top_k, seed, out, NULL, NULL);
  astrt_pool_bind(outer);
  return st;
}

/* ---- the training loop ------------------------------------------------------ */

astrt_status astrt_model_train(astrt_model *m, const astrt_data_source *train,
                               const astrt_data_source *test, const astrt_options *o,
                               astrt_result *r) {
  astrt_options quiet;
  if (!o) {
    astrt_options_default(&quiet);
    quiet.quiet = 1;
    o = &quiet;
  }
  astrt_train_ext ext = {m->vars, m->seed, m->steps, m->ls.scale, train, test, &m->pool};
  astrt_result res;
  memset(&res, 0, sizeof res);
  astrt_status st = astrt_train_ext_run(m->p, o, &res, &ext);
  m->steps += res.steps;  /* the steps done stay done, even after a failure */
  if (res.loss_scale > 0) m->ls.scale = res.loss_scale;
  if (r) *r = res;
  return st;
}

astrt_status astrt_model_fit_normalization(astrt_model *m, const astrt_data_source *train) {
  const astrt_program *p = m->p;
  if (p->data.normalize != ASTRT_NORM_STANDARD) return ASTRT_OK;
  if (!train || train->n < 1 || (!train->fetch && !train->split))
    return astrt_fail(ASTRT_ERR_ARG, "astrt_model_fit_normalization needs a training source of at least one "
                      "example (a fetch callback or a split)");
  if (!train->fetch) {
    if (train->split->x.n < train->n)
      return astrt_fail(ASTRT_ERR_ARG, "the training source claims %lld examples but its split holds %lld",
                        (long long)train->n, (long long)train->split->x.n);
    astrt_status st = astrt_data_check(&p->data, train->split, "training data source");
    if (st) return st;
  }
  return astrt_stats_fit(p, m->vars, train);
}

/* ---- variables ------------------------------------------------------------------ */

int astrt_model_var_count(const astrt_model *m) { return (int)m->p->nvars; }

const astrt_var_desc *astrt_model_var(const astrt_model *m, int i) {
  return i >= 0 && (uint32_t)i < m->p->nvars ? &m->p->vars[i] : NULL;
}

const astrt_var_desc *astrt_model_find_var(const astrt_model *m, const char *name) {
  for (uint32_t i = 0; name && i < m->p->nvars; i++)
    if (m->p->vars[i].name && strcmp(m->p->vars[i].name, name) == 0) return &m->p->vars[i];
  return NULL;
}

/* The variable `name` with `count` elements, or a failure naming the parameters. */
static astrt_status var_for(const astrt_model *m, const char *name, int64_t count,
                            const astrt_var_desc **out) {
  *out = astrt_model_find_var(m, name);
  if (!*out) {
    char list[512] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < m->p->nvars && len + 64 < sizeof list; i++)
      if (m->p->vars[i].kind == ASTRT_VAR_PARAM)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", m->p->vars[i].name);
    return astrt_fail(ASTRT_ERR_NOTFOUND, "%s has no variable '%s'; its parameters are: %s", m->p->name,
                      name ? name : "(null)", list);
  }
  if (count != (*out)->numel)
    return astrt_fail(ASTRT_ERR_MISMATCH, "variable %s has %lld elements, not %lld", name,
                      (long long)(*out)->numel, (long long)count);
  return ASTRT_OK;
}

astrt_status astrt_model_get(const astrt_model *m, const char *name, float *dst, int64_t count) {
  const astrt_var_desc *v;
  astrt_status st = var_for(m, name, count, &v);
  if (st) return st;
  if (count > 0 && !dst) return astrt_fail(ASTRT_ERR_ARG, "astrt_model_get: dst is NULL");
  memcpy(dst, (const char *)m->vars + v->offset, (size_t)count * sizeof(float));
  return ASTRT_OK;
}

astrt_status astrt_model_set(astrt_model *m, const char *name, const float *src, int64_t count) {
  const astrt_var_desc *v;
  astrt_status st = var_for(m, name, count, &v);
  if (st) return st;
  if (count > 0 && !src) return astrt_fail(ASTRT_ERR_ARG, "astrt_model_set: src is NULL");
  memcpy((char *)m->vars + v->offset, src, (size_t)count * sizeof(float));
  return ASTRT_OK;
}

/* ---- files ------------------------------------------------------------------------ */

astrt_status astrt_model_save(const astrt_model *m, const char *path) {
  if (!path || !*path) return astrt_fail(ASTRT_ERR_ARG, "astrt_model_save: no path given");
  astrt_status st = astrt_vars_save_check(path);
  if (st) return st;
  astrt_save_info info = {m->steps, 0, m->seed};
  return astrt_vars_save(m->p, m->vars, path, &info);
}

astrt_status astrt_model_load(astrt_model *m, const char *path) {
  if (!path || !*path) return astrt_fail(ASTRT_ERR_ARG, "astrt_model_load: no path given");
  int64_t loaded, step;
  astrt_status st = astrt_vars_load_step(m->p, m->vars, path, &loaded, &step);
  if (!st && step >= 0) m->steps = step;
  return st;
}

void astrt_split_view_f32(astrt_split *out, const float *x, const int32_t *y, int64_t n,
                          int64_t example_size, int64_t classes) {
  memset(out, 0, sizeof *out);
  out->x.elem = ASTRT_ELEM_F32;
  out->x.rank = 1;
  out->x.dims[0] = example_size;
  out->x.n = n;
  out->x.data = (void *)x;
  out->x.scale = 1.0f;
  out->y.elem = ASTRT_ELEM_I32;
  out->y.n = n;
  out->y.data = (void *)y;
  out->num_classes = classes;
}
