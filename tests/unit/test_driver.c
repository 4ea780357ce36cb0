/* test_driver.c — unit tests for the training driver of libastrt
 * (runtime/driver.c, data_load.c, vars_init.c, batch.c, progress.c,
 * metrics.c, ops.c).
 *
 * The programs are built by hand: a softmax-regression model (logits =
 * x W + b, mean cross-entropy, SGD) whose step and evaluation functions are
 * written here in C, trained on SYNTHETIC data. The step functions also
 * record what the driver passed them (phase, rows, scalars), and the
 * evaluation function keeps a copy of the variables, so tests can compare
 * the final variables of two runs.
 *
 * Fixture files are written into a fresh mkdtemp directory (removed
 * afterwards; test_fixtures.h). Two suites need something the machine may
 * lack and are ctest entries of their own, skipped (exit 77, "SKIP:
 * reason") where it is missing:
 *   test_driver devfull        the metrics file and --save on /dev/full;
 *   test_driver fashion_mnist  loads and trains on the real Fashion-MNIST
 *                              (apt-get install dataset-fashion-mnist).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* setenv */
#endif
#include "astrt.h"
#include "astrt_kernels.h"
#include "astrt_program.h"
#include "driver_internal.h"
#include "kernels_internal.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_fixtures.h"

/* ---- the model: softmax regression -------------------------------------- */

static int64_t g_dims, g_classes;   /* D, K of the model under test */
static int64_t g_bias_off;          /* byte offset of b in the arena */
static int64_t g_var_bytes;
static unsigned char *g_snapshot;   /* the variables at the last evaluation */

/* What the step functions saw, one entry per call. */
typedef struct call {
  char phase;
  int64_t rows;
  float lr, step, loss_scale;
  uint64_t seed;
} call;

#define MAX_CALLS 4096
static call g_calls[MAX_CALLS];
static int g_ncalls;
static int g_nan_at;                /* > 0: the step with this 1-based number gives NaN */
static int64_t g_work_bytes[2];     /* work each phase claimed */

static void record(char phase, int64_t rows, const float *sc, uint64_t seed) {
  if (g_ncalls < MAX_CALLS)
    g_calls[g_ncalls] = (call){phase, rows, sc[ASTRT_SC_LR], sc[ASTRT_SC_STEP],
                               sc[ASTRT_SC_LOSS_SCALE], seed};
  g_ncalls++;
}

/* logits[rows, K] = x W + b; if dl is given, dl = (softmax - onehot) / rows.
 * Returns the mean cross-entropy. */
static double forward(const float *vars, const float *x, const int32_t *y, int64_t rows,
                      float *logits, float *dl) {
  const float *w = vars, *b = (const float *)((const char *)vars + g_bias_off);
  int64_t d = g_dims, k = g_classes;
  double loss = 0;
  for (int64_t r = 0; r < rows; r++) {
    float *l = logits + r * k;
    for (int64_t c = 0; c < k; c++) l[c] = b[c];
    for (int64_t j = 0; j < d; j++)
      for (int64_t c = 0; c < k; c++) l[c] += x[r * d + j] * w[j * k + c];
    double max = l[0], sum = 0;
    for (int64_t c = 1; c < k; c++) max = l[c] > max ? l[c] : max;
    for (int64_t c = 0; c < k; c++) sum += exp(l[c] - max);
    loss += log(sum) - (l[y[r]] - max);
    for (int64_t c = 0; dl && c < k; c++)
      dl[r * k + c] = (float)((exp(l[c] - max) / sum - (c == y[r])) / (double)rows);
  }
  return loss / (double)rows;
}

static void sgd(void *vars, void *work, const void *xv, const void *yv, int64_t rows,
                const float *sc, float *out) {
  const float *x = xv;
  const int32_t *y = yv;
  int64_t d = g_dims, k = g_classes;
  float *logits = work, *dl = logits + rows * k;
  float *w = vars, *b = (float *)((char *)vars + g_bias_off);
  out[ASTRT_OUT_LOSS] = (float)forward(vars, x, y, rows, logits, dl);
  float lr = sc[ASTRT_SC_LR];
  for (int64_t j = 0; j < d; j++)
    for (int64_t c = 0; c < k; c++) {
      float g = 0;
      for (int64_t r = 0; r < rows; r++) g += x[r * d + j] * dl[r * k + c];
      w[j * k + c] -= lr * g;
    }
  for (int64_t c = 0; c < k; c++) {
    float g = 0;
    for (int64_t r = 0; r < rows; r++) g += dl[r * k + c];
    b[c] -= lr * g;
  }
}

/* Touches the last byte of the work the phase claimed (ASan checks it). */
static void touch_work(void *work, int64_t bytes) {
  ck_assert_uint_eq((uintptr_t)work % 64, 0);
  if (bytes > 0) ((volatile unsigned char *)work)[bytes - 1] = 1;
}

static void step_a(void *vars, void *work, const void *xv, const void *yv, int64_t rows,
                   const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  record('a', rows, sc, seed);
  touch_work(work, g_work_bytes[0]);
  sgd(vars, work, x, y, rows, sc, out);
  if (g_nan_at > 0 && g_ncalls == g_nan_at) out[ASTRT_OUT_LOSS] = NAN;
}

static void step_b(void *vars, void *work, const void *xv, const void *yv, int64_t rows,
                   const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  record('b', rows, sc, seed);
  touch_work(work, g_work_bytes[1]);
  sgd(vars, work, x, y, rows, sc, out);
}

static void eval_fn(void *vars, void *work, const void *xv, const void *yv, int64_t rows,
                    const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  (void)sc, (void)seed;
  float *logits = work;
  out[ASTRT_OUT_LOSS] = (float)forward(vars, x, y, rows, logits, NULL);
  out[ASTRT_OUT_CORRECT] = astrt_count_correct(logits, y, rows, g_classes);
  free(g_snapshot);
  g_snapshot = malloc((size_t)g_var_bytes);
  ck_assert_ptr_nonnull(g_snapshot);
  memcpy(g_snapshot, vars, (size_t)g_var_bytes);
}

static double constant_lr(double t, double step, double epoch) {
  (void)t, (void)step, (void)epoch;
  return 1.0;
}

static double nan_lr(double t, double step, double epoch) {
  (void)t, (void)step, (void)epoch;
  return NAN;
}

static double linear_lr(double t, double step, double epoch) {
  (void)step, (void)epoch;
  return 1.0 - t;
}

/* A program and the tables it points to. */
typedef struct model {
  astrt_var_desc vars[2];
  astrt_phase_desc phases[2];
  astrt_program p;
} model;

static int64_t work_for(int64_t batch, int64_t d, int64_t k) {
  return 2 * batch * k * (int64_t)sizeof(float) + d * k;
}

/* Softmax regression of d inputs and k classes on synthetic data. */
static void make_model(model *m, int64_t d, int64_t k, int64_t batch, int64_t ntrain,
                       int64_t ntest) {
  memset(m, 0, sizeof *m);
  g_dims = d;
  g_classes = k;
  g_bias_off = (d * k * 4 + 63) / 64 * 64;
  g_var_bytes = g_bias_off + k * 4;
  g_ncalls = 0;
  g_nan_at = 0;
  m->vars[0] = (astrt_var_desc){"dense.w", ASTRT_VAR_PARAM, 2, {d, k}, 0, d * k,
                                ASTRT_INIT_GLOROT_UNIFORM, 0, 0, 0, d, k, -1, 0};
  m->vars[1] = (astrt_var_desc){"dense.b", ASTRT_VAR_PARAM, 1, {k}, g_bias_off, k,
                                ASTRT_INIT_ZEROS, 0, 0, 0, 0, 0, -1, 0};
  g_work_bytes[0] = g_work_bytes[1] = work_for(batch, d, k);
  m->phases[0] = (astrt_phase_desc){0.0, 1.0, batch, g_work_bytes[0], step_a, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  astrt_program *p = &m->p;
  p->abi_version = ASTRT_ABI_VERSION;
  p->nvars = 2;
  p->name = "softmax";
  p->source = "test_driver.c";
  p->vars = m->vars;
  p->var_bytes = g_var_bytes;
  p->nphases = 1;
  p->phases = m->phases;
  p->eval = eval_fn;
  p->eval_batch = 100;
  p->eval_work_bytes = 100 * k * 4;
  p->lr_schedule = constant_lr;
  p->base_lr = 0.1;
  p->batch = batch;
  p->epochs = 5;
  p->seed = 1;
  p->optimizer = "sgd(lr: 0.1)";
  astrt_data_desc *dd = &p->data;
  dd->kind = ASTRT_DATA_SYNTHETIC;
  dd->source = "synthetic";
  dd->rank = 1;
  dd->dims[0] = d;
  dd->example_size = d;
  dd->classes = k;
  dd->mean = 0;
  dd->std = 1;
  dd->synth_train = ntrain;
  dd->synth_test = ntest;
  dd->synth_seed = 7;
}

static void quiet_options(astrt_options *o) {
  astrt_options_default(o);
  o->quiet = 1;
  o->threads = 1;
}

static void free_snapshot(void) {
  free(g_snapshot);
  g_snapshot = NULL;
}

/* ---- training ----------------------------------------------------------- */

static double mean_loss_of_calls(int first, int count, const float *losses) {
  double s = 0;
  for (int i = first; i < first + count; i++) s += losses[i];
  return s / count;
}

static float g_losses[MAX_CALLS];

static void step_logging(void *vars, void *work, const void *xv, const void *yv,
                         int64_t rows, const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  step_a(vars, work, x, y, rows, sc, out, seed);
  if (g_ncalls <= MAX_CALLS) g_losses[g_ncalls - 1] = out[ASTRT_OUT_LOSS];
}

START_TEST(test_learns) {
  model m;
  make_model(&m, 20, 4, 32, 2000, 500);
  m.phases[0].step = step_logging;
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.epochs_done, 5);
  ck_assert_int_eq(r.steps, 5 * 63);          /* 62 full batches + 1 of 16 */
  ck_assert_int_eq(r.samples, 5 * 2000);
  ck_assert_int_eq(g_ncalls, 5 * 63);
  double first = mean_loss_of_calls(0, 20, g_losses);
  double last = mean_loss_of_calls(g_ncalls - 20, 20, g_losses);
  ck_assert_msg(last < 0.6 * first, "loss fell only from %g to %g", first, last);
  ck_assert_msg(r.final_test_accuracy > 0.7, "accuracy %g (chance 0.25)",
                r.final_test_accuracy);
  ck_assert(r.best_test_accuracy >= r.final_test_accuracy);
  ck_assert(isfinite(r.final_test_loss) && r.final_test_loss < first);
  ck_assert(isfinite(r.final_train_loss) && r.final_train_loss < first);
  double weighted = 0;  /* the last epoch's row-weighted mean */
  for (int i = 4 * 63; i < 5 * 63; i++) weighted += g_losses[i] * (double)g_calls[i].rows;
  ck_assert_double_eq_tol(r.final_train_loss, weighted / 2000, 1e-9);
  ck_assert(r.train_seconds > 0 && r.eval_seconds > 0);
  ck_assert(r.time_to_target < 0);            /* no target */
  /* scalars: constant lr, 1-based step, loss scale 1, the run's seed */
  for (int i = 0; i < g_ncalls; i++) {
    ck_assert_float_eq(g_calls[i].lr, 0.1f);
    ck_assert_float_eq(g_calls[i].step, (float)(i + 1));
    ck_assert_float_eq(g_calls[i].loss_scale, 1.0f);
    ck_assert_uint_eq(g_calls[i].seed, 1);
    ck_assert_int_eq(g_calls[i].rows, i % 63 == 62 ? 16 : 32);
  }
  free_snapshot();
}
END_TEST

START_TEST(test_deterministic) {
  model m;
  make_model(&m, 12, 3, 16, 600, 200);
  astrt_options o;
  quiet_options(&o);
  o.epochs = 2;
  o.seed = 5;
  o.has_seed = 1;
  astrt_result r1, r2, r3;
  ck_assert_msg(astrt_train(&m.p, &o, &r1) == ASTRT_OK, "%s", astrt_last_error());
  unsigned char *first = g_snapshot;
  g_snapshot = NULL;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r2), ASTRT_OK);
  ck_assert_mem_eq(first, g_snapshot, (size_t)g_var_bytes);
  ck_assert(r1.final_test_loss == r2.final_test_loss);
  ck_assert(r1.final_train_loss == r2.final_train_loss);
  o.seed = 6;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r3), ASTRT_OK);
  ck_assert(memcmp(first, g_snapshot, (size_t)g_var_bytes) != 0);
  /* the program's seed is used without --seed */
  o.has_seed = 0;
  g_ncalls = 0;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r3), ASTRT_OK);
  ck_assert_uint_eq(g_calls[0].seed, 1);
  free(first);
  free_snapshot();
}
END_TEST

START_TEST(test_threads_option) {
  model m;
  make_model(&m, 8, 3, 16, 300, 100);
  astrt_options o;
  quiet_options(&o);
  o.epochs = 1;
  astrt_result r;
  o.threads = 2;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  o.threads = 0;  /* all online CPUs */
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  o.threads = 100000;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_ARG);
  ck_assert_error_has("threads");
  free_snapshot();
}
END_TEST

/* Two phases: [0, b) batch 30 (step_a), [b, 1) batch 70 (step_b) with
 * b = 290/600; 200 training examples, 3 epochs, so t = samples / 600 and
 * the step starting at sample 290 is the first of phase b. */
START_TEST(test_phase_switch) {
  model m;
  make_model(&m, 6, 3, 30, 200, 50);
  g_work_bytes[0] = work_for(30, 6, 3);
  g_work_bytes[1] = work_for(70, 6, 3) + 1000;  /* the larger arena */
  double b = 290.0 / 600.0;
  m.phases[0] = (astrt_phase_desc){0.0, b, 30, g_work_bytes[0], step_a, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  m.phases[1] = (astrt_phase_desc){b, 1.0, 70, g_work_bytes[1], step_b, "batch 70", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  m.p.nphases = 2;
  m.p.epochs = 3;
  m.p.lr_schedule = linear_lr;
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  /* epoch 1: 6 x 30 + 20;  epoch 2: 3 x 30 (starts 200, 230, 260), then 70
   * at sample 290 and a partial 40;  epoch 3: 70, 70, 60 */
  static const char phase[] = "aaaaaaaaaabbbbb";
  static const int64_t rows[] = {30, 30, 30, 30, 30, 30, 20, 30, 30, 30,
                                 70, 40, 70, 70, 60};
  ck_assert_int_eq(g_ncalls, 15);
  ck_assert_int_eq(r.steps, 15);
  int64_t samples = 0;
  for (int i = 0; i < g_ncalls; i++) {
    ck_assert_msg(g_calls[i].phase == phase[i], "call %d: phase %c", i, g_calls[i].phase);
    ck_assert_int_eq(g_calls[i].rows, rows[i]);
    ck_assert_float_eq(g_calls[i].step, (float)(i + 1));
    ck_assert_float_eq_tol(g_calls[i].lr, (float)(0.1 * (1.0 - samples / 600.0)), 1e-7f);
    samples += rows[i];
  }
  ck_assert_int_eq(samples, 600);
  ck_assert_int_eq(r.epochs_done, 3);
  free_snapshot();
}
END_TEST

/* Prefetching (runtime/prefetch.c) gathers each next batch on a worker
 * thread: with two phases of different batch sizes, partial batches at
 * epoch ends and 3 epochs, the run is bit-identical to one without it. */
START_TEST(test_prefetch_identical) {
  unsigned char *weights[2];
  astrt_result res[2];
  for (int k = 0; k < 2; k++) {
    model m;
    make_model(&m, 6, 3, 30, 200, 50);
    g_work_bytes[1] = work_for(70, 6, 3) + 1000;
    double b = 290.0 / 600.0;
    m.phases[0] = (astrt_phase_desc){0.0, b, 30, g_work_bytes[0], step_a, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
    m.phases[1] =
        (astrt_phase_desc){b, 1.0, 70, g_work_bytes[1], step_b, "batch 70", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
    m.p.nphases = 2;
    m.p.epochs = 3;
    astrt_options o;
    quiet_options(&o);
    setenv("ASTRT_PREFETCH", k ? "off" : "on", 1);
    ck_assert_msg(astrt_train(&m.p, &o, &res[k]) == ASTRT_OK, "%s", astrt_last_error());
    ck_assert_int_eq(g_ncalls, 15);
    weights[k] = g_snapshot;
    g_snapshot = NULL;
  }
  unsetenv("ASTRT_PREFETCH");
  ck_assert_mem_eq(weights[0], weights[1], (size_t)g_var_bytes);
  ck_assert(res[0].final_train_loss == res[1].final_train_loss);
  ck_assert(res[0].final_test_loss == res[1].final_test_loss);
  free(weights[0]);
  free(weights[1]);
}
END_TEST

/* A steps budget whose phases use a larger batch than the baseline: t
 * passes 1, is clamped, and the last phase takes it. */
START_TEST(test_phase_clamped) {
  model m;
  make_model(&m, 6, 3, 30, 200, 50);
  g_work_bytes[1] = g_work_bytes[0];
  m.phases[0] = (astrt_phase_desc){0.0, 0.5, 30, g_work_bytes[0], step_a, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  m.phases[1] = (astrt_phase_desc){0.5, 1.0, 30, g_work_bytes[1], step_b, "b", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  m.p.nphases = 2;
  m.p.batch = 10;  /* total samples = 6 x 10 = 60 */
  m.p.lr_schedule = linear_lr;
  astrt_options o;
  quiet_options(&o);
  o.steps = 6;
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(g_ncalls, 6);
  static const char phase[] = "abbbbb";  /* t = 0, 0.5, 1, 1, ... */
  for (int i = 0; i < 6; i++) ck_assert_int_eq(g_calls[i].phase, phase[i]);
  ck_assert_float_eq(g_calls[5].lr, 0.0f);
  ck_assert_int_eq(r.samples, 180);
  free_snapshot();
}
END_TEST

/* Epoch e visits the training set in the order astrt_shuffle(n, seed, e). */
static int32_t g_seen[4][50];

static void step_order(void *vars, void *work, const void *xv, const void *yv,
                       int64_t rows, const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  ck_assert_int_eq(rows, 50);
  if (g_ncalls < 4) memcpy(g_seen[g_ncalls], y, sizeof g_seen[0]);
  step_a(vars, work, x, y, rows, sc, out, seed);
}

START_TEST(test_epoch_order) {
  model m;
  make_model(&m, 4, 7, 50, 50, 10);
  m.phases[0].step = step_order;
  m.p.epochs = 3;
  astrt_options o;
  quiet_options(&o);
  o.seed = 123;
  o.has_seed = 1;
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(g_ncalls, 3);
  astrt_split train;
  ck_assert_int_eq(astrt_data_synthetic(&m.p.data, 1, &train), ASTRT_OK);
  const int32_t *labels = train.y.data;
  int64_t perm[50];
  for (int e = 0; e < 3; e++) {
    astrt_shuffle(perm, 50, 123, e);
    for (int i = 0; i < 50; i++) ck_assert_int_eq(g_seen[e][i], labels[perm[i]]);
  }
  ck_assert(memcmp(g_seen[0], g_seen[1], sizeof g_seen[0]) != 0);
  astrt_split_free(&train);
  free_snapshot();
}
END_TEST

/* The same split given by a steps budget with a larger eval batch: the x
 * buffer must hold the largest of all batches. */
START_TEST(test_eval_batch_largest) {
  model m;
  make_model(&m, 5, 3, 8, 100, 333);
  m.p.eval_batch = 250;  /* 250 + 83 */
  m.p.eval_work_bytes = 250 * 3 * 4;
  astrt_options o;
  quiet_options(&o);
  o.epochs = 1;
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert(r.final_test_accuracy >= 0 && r.final_test_accuracy <= 1);
  /* the accuracy is a count over 333 examples */
  double c = r.final_test_accuracy * 333;
  ck_assert_double_eq_tol(c, round(c), 1e-9);
  /* the test loss is the mean over all 333 (batches of 250 and 83) */
  astrt_split test;
  ck_assert_int_eq(astrt_data_synthetic(&m.p.data, 0, &test), ASTRT_OK);
  float *logits = malloc(333 * 3 * sizeof *logits);
  ck_assert_ptr_nonnull(logits);
  double loss = forward((const float *)g_snapshot, test.x.data, test.y.data, 333, logits,
                        NULL);
  ck_assert_double_eq_tol(r.final_test_loss, loss, 1e-6);
  ck_assert_double_eq_tol(r.final_test_accuracy,
                          astrt_count_correct(logits, test.y.data, 333, 3) / 333.0, 1e-12);
  free(logits);
  astrt_split_free(&test);
  free_snapshot();
}
END_TEST

/* eval_every: evaluations between epoch ends on the first eval_samples
 * test examples, the run's last on all of them, none twice at one step */
START_TEST(test_periodic_eval) {
  model m;
  make_model(&m, 10, 3, 32, 2000, 300);  /* 63 steps an epoch */
  m.p.eval_every = 20;
  m.p.eval_samples = 50;
  astrt_options o;
  quiet_options(&o);
  o.steps = 80;
  o.metrics_path = fx_path("periodic.jsonl");
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  char text[8192];
  fx_read_text(o.metrics_path, text, sizeof text);
  /* steps 20, 40, 60 (periodic), 63 (epoch end), 80 (periodic and last: all 300) */
  static const char *const want[] = {"\"step\":20,", "\"step\":40,", "\"step\":60,", "\"step\":63,", "\"step\":80,"};
  const char *at = text;
  for (int i = 0; i < 5; i++) {
    const char *hit = strstr(at, want[i]);
    ck_assert_msg(hit, "no evaluation at %s in\n%s", want[i], text);
    const char *end = strchr(hit, '\n');
    const char *n = strstr(hit, "\"test_examples\":");
    ck_assert(n && n < end);
    ck_assert_int_eq(atoi(n + 16), i == 4 ? 300 : 50);
    at = end;
  }
  ck_assert_ptr_null(strstr(at, "\"event\":\"eval\""));
  /* --eval-every 0 (-1 here) turns it off: epoch ends and the end only */
  o.eval_every = -1;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  fx_read_text(o.metrics_path, text, sizeof text);
  ck_assert_ptr_null(strstr(text, "\"step\":20,"));
  ck_assert_ptr_nonnull(strstr(text, "\"step\":63,"));
  free_snapshot();
}
END_TEST

START_TEST(test_steps_budget) {
  model m;
  make_model(&m, 10, 3, 32, 2000, 300);
  astrt_options o;
  quiet_options(&o);
  o.steps = 37;
  o.metrics_path = fx_path("steps.jsonl");
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.steps, 37);
  ck_assert_int_eq(r.epochs_done, 0);
  ck_assert_int_eq(r.samples, 37 * 32);
  char text[4096];
  fx_read_text(o.metrics_path, text, sizeof text);
  ck_assert_ptr_nonnull(strstr(text, "\"epoch\":1,\"step\":37,\"samples\":1184,"));
  /* across an epoch boundary: evaluations after 63 steps and after 100 */
  o.steps = 100;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_eq(r.steps, 100);
  ck_assert_int_eq(r.epochs_done, 1);
  fx_read_text(o.metrics_path, text, sizeof text);
  ck_assert_ptr_nonnull(strstr(text, "\"epoch\":1,\"step\":63,\"samples\":2000,"));
  ck_assert_ptr_nonnull(strstr(text, "\"epoch\":2,\"step\":100,\"samples\":3184,"));
  /* a budget in the program itself */
  m.p.epochs = 0;
  m.p.steps = 10;
  o.steps = 0;
  o.metrics_path = NULL;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_eq(r.steps, 10);
  /* --epochs overrides it */
  o.epochs = 1;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_eq(r.steps, 63);
  /* no budget at all */
  m.p.steps = 0;
  o.epochs = 0;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_ARG);
  ck_assert_error_has("--epochs");
  /* both budgets in the options */
  o.epochs = 1;
  o.steps = 1;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_ARG);
  free_snapshot();
}
END_TEST

START_TEST(test_stop_at_target) {
  model m;
  make_model(&m, 20, 4, 32, 2000, 500);
  m.p.goal = ASTRT_GOAL_ACCURACY, m.p.target = 0.5;
  m.p.epochs = 20;
  astrt_options o;
  quiet_options(&o);
  o.stop_at_target = 1;
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_lt(r.epochs_done, 20);
  ck_assert(r.final_test_accuracy >= 0.5);
  ck_assert(r.time_to_target >= 0 && r.time_to_target <= r.train_seconds);
  /* without --stop-at-target the budget runs out, the time is still kept */
  o.stop_at_target = 0;
  m.p.epochs = 3;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_eq(r.epochs_done, 3);
  ck_assert(r.time_to_target >= 0 && r.time_to_target < r.train_seconds);
  /* an unreachable target */
  m.p.goal = ASTRT_GOAL_ACCURACY, m.p.target = 1.01;
  o.stop_at_target = 1;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_eq(r.epochs_done, 3);
  ck_assert(r.time_to_target < 0);
  free_snapshot();
}
END_TEST

START_TEST(test_nan_loss) {
  model m;
  make_model(&m, 6, 3, 10, 100, 20);
  g_nan_at = 15;
  astrt_options o;
  quiet_options(&o);
  o.metrics_path = fx_path("nan.jsonl");
  astrt_result r;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NUMERIC);
  ck_assert_error_has("step 15");
  ck_assert_error_has("epoch 2");
  ck_assert_error_has("lower the learning rate");
  ck_assert_int_eq(r.steps, 14);
  ck_assert_int_eq(r.epochs_done, 1);
  char text[4096];  /* the first epoch's evaluation was kept, no end line */
  fx_read_text(o.metrics_path, text, sizeof text);
  ck_assert_ptr_nonnull(strstr(text, "\"event\":\"eval\""));
  ck_assert_ptr_null(strstr(text, "\"event\":\"end\""));
  /* a learning rate that is not a finite float */
  g_nan_at = 0;
  o.metrics_path = NULL;
  m.p.base_lr = 1e300;
  m.p.lr_schedule = NULL;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NUMERIC);
  ck_assert_error_has("learning rate at step 1");
  m.p.base_lr = 0.1;
  m.p.lr_schedule = nan_lr;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NUMERIC);
  ck_assert_error_has("schedule nan");
  free_snapshot();
}
END_TEST

/* ---- metrics ------------------------------------------------------------ */

/* The number after "key": in line, or NAN for null / missing. */
static double json_number(const char *line, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(line, pat);
  if (!p) return NAN;
  p += strlen(pat);
  if (strncmp(p, "null", 4) == 0) return NAN;
  char *end;
  double v = strtod(p, &end);
  ck_assert(end != p && (*end == ',' || *end == '}'));
  return v;
}

START_TEST(test_metrics_file) {
  model m;
  make_model(&m, 20, 4, 32, 1000, 400);
  m.p.goal = ASTRT_GOAL_ACCURACY, m.p.target = 0.4;
  astrt_options o;
  quiet_options(&o);
  o.epochs = 3;
  o.metrics_path = fx_path("m.jsonl");
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  FILE *f = fopen(o.metrics_path, "r");
  ck_assert_ptr_nonnull(f);
  char line[1024];
  static const char *const eval_keys[] = {"epoch", "step", "samples", "train_loss",
                                          "test_loss", "test_accuracy", "train_seconds"};
  double prev_seconds = 0;
  for (int e = 1; e <= 3; e++) {
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(strncmp(line, "{\"event\":\"eval\",", 16) == 0, "%s", line);
    for (size_t k = 0; k < sizeof eval_keys / sizeof *eval_keys; k++)
      ck_assert_msg(isfinite(json_number(line, eval_keys[k])), "%s: %s", eval_keys[k], line);
    long long epoch, step, samples;
    ck_assert_int_eq(sscanf(line, "{\"event\":\"eval\",\"epoch\":%lld,\"step\":%lld,"
                                  "\"samples\":%lld,", &epoch, &step, &samples), 3);
    ck_assert_int_eq(epoch, e);
    ck_assert_int_eq(step, 32 * e);   /* 31 full batches + 1 of 8 */
    ck_assert_int_eq(samples, 1000 * e);
    double acc = json_number(line, "test_accuracy");
    ck_assert(acc >= 0 && acc <= 1);
    double secs = json_number(line, "train_seconds");
    ck_assert(secs >= prev_seconds);
    prev_seconds = secs;
    if (e == 3) {
      ck_assert(acc == r.final_test_accuracy);  /* %.17g parses back exactly */
      ck_assert(json_number(line, "test_loss") == r.final_test_loss);
      ck_assert(json_number(line, "train_loss") == r.final_train_loss);
    }
  }
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
  ck_assert_msg(strncmp(line, "{\"event\":\"end\",", 15) == 0, "%s", line);
  ck_assert(json_number(line, "final_test_accuracy") == r.final_test_accuracy);
  ck_assert(json_number(line, "best_test_accuracy") == r.best_test_accuracy);
  ck_assert(json_number(line, "train_seconds") == r.train_seconds);
  ck_assert(json_number(line, "eval_seconds") == r.eval_seconds);
  ck_assert(json_number(line, "time_to_target") == r.time_to_target);
  ck_assert_ptr_null(fgets(line, sizeof line, f));
  fclose(f);
  /* no target: time_to_target is null */
  m.p.goal = ASTRT_GOAL_NONE, m.p.target = 0;
  o.epochs = 1;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  char text[2048];
  fx_read_text(o.metrics_path, text, sizeof text);
  ck_assert_ptr_nonnull(strstr(text, "\"time_to_target\":null}\n"));
  free_snapshot();
}
END_TEST

START_TEST(test_metrics_errors) {
  model m;
  make_model(&m, 4, 2, 10, 50, 10);
  astrt_options o;
  quiet_options(&o);
  o.epochs = 1;
  astrt_result r;
  o.metrics_path = fx_path("no/such/dir/m.jsonl");
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_IO);
  ck_assert_error_has("no/such/dir/m.jsonl");
  ck_assert_int_eq(r.steps, 0);  /* failed before training */
  free_snapshot();
}
END_TEST

/* (the devfull suite) a metrics file on a full disk */
START_TEST(test_metrics_dev_full) {
  model m;
  make_model(&m, 4, 2, 10, 50, 10);
  astrt_options o;
  quiet_options(&o);
  o.epochs = 1;
  astrt_result r;
  o.metrics_path = "/dev/full";
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_IO);
  ck_assert_error_has("/dev/full");
  ck_assert_error_has("write failed");
  ck_assert_int_eq(g_ncalls, 0);  /* found before training */
  free_snapshot();
}
END_TEST

START_TEST(test_metrics_numbers) {
  astrt_metrics mx;
  const char *path = fx_path("n.jsonl");
  ck_assert_int_eq(astrt_metrics_open(&mx, path), ASTRT_OK);
  astrt_eval_record e = {2, 10, 300, NAN, INFINITY, 0.1, 0.1, 1.0 / 3.0, NAN, ASTRT_TARGET_CLASS, 0, 0, 300, 0};
  ck_assert_int_eq(astrt_metrics_eval(&mx, &e), ASTRT_OK);
  astrt_result r = {0};
  r.final_test_accuracy = 0.1;
  r.best_test_accuracy = 0.2;
  r.train_seconds = 1e-3;
  r.time_to_target = 0.5;
  ck_assert_int_eq(astrt_metrics_end(&mx, &r, 1.25), ASTRT_OK);
  ck_assert_int_eq(astrt_metrics_close(&mx), ASTRT_OK);
  char text[2048];
  fx_read_text(path, text, sizeof text);
  ck_assert_str_eq(text,
                   "{\"event\":\"eval\",\"epoch\":2,\"step\":10,\"samples\":300,"
                   "\"train_loss\":null,\"test_loss\":null,\"test_accuracy\":"
                   "0.10000000000000001,\"test_examples\":300,\"train_seconds\":0.33333333333333331}\n"
                   "{\"event\":\"end\",\"final_test_accuracy\":0.10000000000000001,"
                   "\"best_test_accuracy\":0.20000000000000001,\"train_seconds\":"
                   "0.001,\"eval_seconds\":0,\"time_to_target\":0.5,\"compile_seconds\":1.25}\n");
  /* unknown compile time (a built executable): not reported */
  ck_assert_int_eq(astrt_metrics_open(&mx, path), ASTRT_OK);
  ck_assert_int_eq(astrt_metrics_end(&mx, &r, -1), ASTRT_OK);
  ck_assert_int_eq(astrt_metrics_close(&mx), ASTRT_OK);
  fx_read_text(path, text, sizeof text);
  ck_assert(strstr(text, "compile_seconds") == NULL);
  /* a disabled writer does nothing */
  ck_assert_int_eq(astrt_metrics_open(&mx, NULL), ASTRT_OK);
  ck_assert_int_eq(astrt_metrics_eval(&mx, &e), ASTRT_OK);
  ck_assert_int_eq(astrt_metrics_close(&mx), ASTRT_OK);
}
END_TEST

/* ---- options ------------------------------------------------------------ */

static int parse(astrt_options *o, int argc, const char **argv) {
  astrt_options_default(o);
  return astrt_parse_options(argc, (char **)argv, 1, o);
}

START_TEST(test_options_good) {
  astrt_options o;
  astrt_options_default(&o);
  ck_assert_int_eq(o.epochs, 0);
  ck_assert_int_eq(o.progress, -1);
  ck_assert_int_eq(o.has_seed, 0);
  const char *a1[] = {"./prog", "--epochs", "3", "--seed=42", "--threads", "2",
                      "--metrics", "m.jsonl", "--data=/d", "--quiet", "--progress=plain",
                      "--stop-at-target"};
  ck_assert_int_eq(parse(&o, 12, a1), 0);
  ck_assert_int_eq(o.epochs, 3);
  ck_assert_int_eq(o.steps, 0);
  ck_assert_uint_eq(o.seed, 42);
  ck_assert_int_eq(o.has_seed, 1);
  ck_assert_int_eq(o.threads, 2);
  ck_assert_str_eq(o.metrics_path, "m.jsonl");
  ck_assert_str_eq(o.data_dir, "/d");
  ck_assert_int_eq(o.quiet, 1);
  ck_assert_int_eq(o.progress, 0);
  ck_assert_int_eq(o.stop_at_target, 1);
  const char *a2[] = {"prog", "--steps=100", "--progress", "live", "--seed",
                      "18446744073709551615", "--threads=0"};
  ck_assert_int_eq(parse(&o, 7, a2), 0);
  ck_assert_int_eq(o.steps, 100);
  ck_assert_int_eq(o.progress, 1);
  ck_assert_uint_eq(o.seed, UINT64_MAX);
  ck_assert_int_eq(o.threads, 0);
  const char *a3[] = {"prog", "--progress=auto"};
  ck_assert_int_eq(parse(&o, 2, a3), 0);
  ck_assert_int_eq(o.progress, -1);
  const char *a4[] = {"prog"};
  ck_assert_int_eq(parse(&o, 1, a4), 0);
  const char *a5[] = {"prog", "--help"};
  ck_assert_int_eq(parse(&o, 2, a5), 1);
  ck_assert_int_eq(o.on_nan, ASTRT_ON_NAN_STOP);
  const char *a6[] = {"prog", "--on-nan=skip-step"};
  ck_assert_int_eq(parse(&o, 2, a6), 0);
  ck_assert_int_eq(o.on_nan, ASTRT_ON_NAN_SKIP_STEP);
  const char *a7[] = {"prog", "--on-nan", "stop"};
  ck_assert_int_eq(parse(&o, 3, a7), 0);
  ck_assert_int_eq(o.on_nan, ASTRT_ON_NAN_STOP);
}
END_TEST

START_TEST(test_options_bad) {
  static const char *const bad[][3] = {
      {"--epochs", "0", NULL},      {"--epochs", "abc", NULL},   {"--epochs", "3x", NULL},
      {"--epochs", "", NULL},       {"--epochs", "-2", NULL},    {"--epochs", NULL, NULL},
      {"--epochs", "99999999999999999999", NULL},                {"--steps=0", NULL, NULL},
      {"--seed", "-1", NULL},       {"--seed", "1.5", NULL},     {"--seed", " 7", NULL},
      {"--threads", "-2", NULL},    {"--threads", "5000", NULL}, {"--progress=fast", NULL, NULL},
      {"--progress", NULL, NULL},   {"--bogus", NULL, NULL},     {"--quiet=1", NULL, NULL},
      {"stray", NULL, NULL},        {"--metrics=", NULL, NULL},  {"--epochs=2", "--steps=3", NULL},
      {"-", NULL, NULL},            {"--on-nan=skip", NULL, NULL}, {"--on-nan", NULL, NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *argv[4] = {"prog"};
    int argc = 1;
    for (int j = 0; j < 3 && bad[i][j]; j++) argv[argc++] = bad[i][j];
    astrt_options o;
    ck_assert_msg(parse(&o, argc, argv) == -1, "accepted: %s %s", bad[i][0],
                  bad[i][1] ? bad[i][1] : "");
  }
}
END_TEST

START_TEST(test_main) {
  model m;
  make_model(&m, 6, 3, 16, 200, 50);
  const char *ok[] = {"prog", "--epochs", "1", "--quiet", "--threads", "1"};
  ck_assert_int_eq(astrt_main(6, (char **)ok, &m.p), 0);
  const char *plain[] = {"prog", "--steps", "5", "--progress=plain", "--threads=1"};
  ck_assert_int_eq(astrt_main(5, (char **)plain, &m.p), 0);
  const char *help[] = {"prog", "--help"};
  ck_assert_int_eq(astrt_main(2, (char **)help, &m.p), 0);
  const char *bad[] = {"prog", "--epochs", "x"};
  ck_assert_int_eq(astrt_main(3, (char **)bad, &m.p), 2);
  g_nan_at = 2;
  g_ncalls = 0;
  ck_assert_int_eq(astrt_main(6, (char **)ok, &m.p), 1);
  free_snapshot();
}
END_TEST

/* Runs astrt_main with file descriptor fd (1: stdout, 2: stderr) going to
 * fx_tmpdir/name; returns its exit code. */
static int main_to_file(int fd, int argc, const char **argv, const astrt_program *p,
                        const char *name) {
  fflush(NULL);
  int saved = dup(fd);
  FILE *f = fopen(fx_path(name), "w");
  ck_assert(saved >= 0 && f);
  dup2(fileno(f), fd);
  int rc = astrt_main(argc, (char **)argv, p);
  fflush(NULL);
  dup2(saved, fd);
  close(saved);
  fclose(f);
  return rc;
}

/* The header and evaluation lines of a two-phase run (see test_phase_switch). */
START_TEST(test_main_log) {
  model m;
  make_model(&m, 6, 3, 30, 200, 50);
  g_work_bytes[1] = work_for(70, 6, 3);
  double b = 290.0 / 600.0;
  m.phases[0] = (astrt_phase_desc){0.0, b, 30, g_work_bytes[0], step_a, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  m.phases[1] =
      (astrt_phase_desc){b, 1.0, 70, g_work_bytes[1], step_b, "batch grows", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  m.p.nphases = 2;
  m.p.epochs = 3;
  const char *argv[] = {"./prog", "--progress=plain", "--threads=1", "--seed=9"};
  ck_assert_int_eq(main_to_file(2, 4, argv, &m.p, "log.txt"), 0);
  char text[4096];
  fx_read_text(fx_path("log.txt"), text, sizeof text);
  char header[512];
  snprintf(header, sizeof header,
           "softmax (test_driver.c): 21 parameters; data synthetic: 200 train, 50 test; 3 epochs "
           "(15 steps) of batch 30; seed 9; 1 thread (OpenBLAS %s); sgd(lr: 0.1)\n",
           astrt_blas_corename());
  ck_assert_msg(strstr(text, header) == text, "%s", text);
  ck_assert_ptr_nonnull(strstr(text, "  phase 2 from 48.3% of training: batch 70, batch "
                                     "grows\n"));
  ck_assert_ptr_nonnull(strstr(text, "\nepoch 1/3: train loss "));
  ck_assert_ptr_nonnull(strstr(text, "\nepoch 3/3: train loss "));
  ck_assert_ptr_null(strstr(text, "\r"));  /* plain: no live line */
  /* a steps budget ending inside the second epoch */
  const char *steps[] = {"./prog", "--progress=plain", "--threads=1", "--steps=9"};
  ck_assert_int_eq(main_to_file(2, 4, steps, &m.p, "log2.txt"), 0);
  fx_read_text(fx_path("log2.txt"), text, sizeof text);
  ck_assert_ptr_nonnull(strstr(text, "; 9 steps (2 epochs) of batch 30;"));
  ck_assert_ptr_nonnull(strstr(text, "\nepoch 2/2: train loss "));
  /* a steps budget ending inside the first epoch: its header and summary say
   * how far into it (0.50 epochs), not "1 epoch" and "0 complete epochs" */
  const char *part[] = {"./prog", "--progress=plain", "--threads=1", "--steps=2"};
  ck_assert_int_eq(main_to_file(2, 4, part, &m.p, "log5.txt"), 0);
  fx_read_text(fx_path("log5.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "; 2 steps (0.50 epochs) of batch 30;") != NULL, "%s", text);
  ck_assert_msg(strstr(text, "\nepoch 1/1: train loss ") != NULL, "%s", text);
  ck_assert_int_eq(main_to_file(1, 4, part, &m.p, "summary5.txt"), 0);
  fx_read_text(fx_path("summary5.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "  (2 steps, 0.50 epochs)  train time ") != NULL, "%s", text);
  /* a first phase in micro-batches (batch ramp's micro:) says so */
  m.phases[0].micro = 10;
  ck_assert_int_eq(main_to_file(2, 4, steps, &m.p, "log6.txt"), 0);
  fx_read_text(fx_path("log6.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "; 9 steps (2 epochs) of batch 30 in micro-batches of 10;") != NULL, "%s", text);
  /* and its batch coupling (a ramp's first batch, lr_scale: sqrt) */
  m.phases[0].lr_scale = 0.5;
  ck_assert_int_eq(main_to_file(2, 4, steps, &m.p, "log7.txt"), 0);
  fx_read_text(fx_path("log7.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, " of batch 30 in micro-batches of 10, lr x0.5;") != NULL, "%s", text);
  m.phases[0].micro = 0;
  m.phases[0].lr_scale = 1.0;
  const char *whole[] = {"./prog", "--quiet", "--threads=1", "--epochs=1"};
  ck_assert_int_eq(main_to_file(1, 4, whole, &m.p, "summary6.txt"), 0);
  fx_read_text(fx_path("summary6.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, " steps, 1 complete epoch)  train time ") != NULL, "%s", text);
  /* --quiet: nothing but the summary (on stdout) */
  const char *quiet[] = {"./prog", "--quiet", "--threads=1"};
  ck_assert_int_eq(main_to_file(2, 3, quiet, &m.p, "log3.txt"), 0);
  fx_read_text(fx_path("log3.txt"), text, sizeof text);
  ck_assert_str_eq(text, "");
  /* errors are prefixed with the program name */
  m.p.data.synth_test = 0;
  ck_assert_int_eq(main_to_file(2, 3, quiet, &m.p, "log4.txt"), 1);
  fx_read_text(fx_path("log4.txt"), text, sizeof text);
  ck_assert_msg(strncmp(text, "prog: error: synthetic data needs", 33) == 0, "%s", text);
  free_snapshot();
}
END_TEST

/* More threads than cores: capped at the cores, with a note; --help has an
 * entry of its own for --checkpoint-every. */
START_TEST(test_threads_capped) {
  model m;
  make_model(&m, 6, 3, 16, 200, 50);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  ck_assert_int_gt(cores, 0);
  char many[32], text[4096], want[256];
  snprintf(many, sizeof many, "--threads=%ld", cores + 1);
  const char *argv[] = {"./prog", "--progress=plain", many, "--epochs=1"};
  ck_assert_int_eq(main_to_file(2, 4, argv, &m.p, "threads.txt"), 0);
  fx_read_text(fx_path("threads.txt"), text, sizeof text);
  snprintf(want, sizeof want, "note: %ld threads asked for (--threads), but this machine has %ld core%s: using %ld\n",
           cores + 1, cores, cores == 1 ? "" : "s", cores);
  ck_assert_msg(strstr(text, want) != NULL, "%s", text);
  snprintf(want, sizeof want, "; %ld thread%s (OpenBLAS", cores, cores == 1 ? "" : "s");
  ck_assert_msg(strstr(text, want) != NULL, "%s", text);
  const char *all[] = {"./prog", "--progress=plain", "--threads=4096", "--epochs=1", "--quiet"};
  ck_assert_int_eq(main_to_file(2, 5, all, &m.p, "threads2.txt"), 0);
  fx_read_text(fx_path("threads2.txt"), text, sizeof text);
  ck_assert_str_eq(text, "");  /* --quiet: no note */
  const char *help[] = {"./prog", "--help"};
  ck_assert_int_eq(main_to_file(1, 2, help, &m.p, "help.txt"), 0);
  fx_read_text(fx_path("help.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "\n  --checkpoint-every N  with --checkpoint: a checkpoint every N optimizer steps\n") != NULL,
                "%s", text);
  free_snapshot();
}
END_TEST

/* ---- program checks ----------------------------------------------------- */

START_TEST(test_bad_program) {
  model m;
  make_model(&m, 6, 3, 16, 100, 20);
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  m.p.abi_version = 99;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("ABI 99");
  m.p.abi_version = ASTRT_ABI_VERSION;
  m.vars[1].offset = g_var_bytes;  /* past the arena */
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_FORMAT);
  ck_assert_error_has("dense.b");
  m.vars[1].offset = g_bias_off;
  m.vars[0].numel = 5;  /* disagrees with [6, 3] */
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_FORMAT);
  ck_assert_error_has("dense.w");
  m.vars[0].numel = 18;
  m.p.eval = NULL;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_FORMAT);
  m.p.eval = eval_fn;
  m.phases[0].batch = 0;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_FORMAT);
  m.phases[0].batch = 16;
  ck_assert_int_eq(astrt_train(NULL, &o, &r), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  free_snapshot();
}
END_TEST

/* ---- data --------------------------------------------------------------- */

/* A CSV file of n rows: features i, i+0.5, -i and label i % classes. */
static void write_csv(const char *path, int n, int classes) {
  char *text = malloc((size_t)n * 64 + 64);
  ck_assert_ptr_nonnull(text);
  int len = sprintf(text, "a,b,c,label\n");
  for (int i = 0; i < n; i++)
    len += sprintf(text + len, "%d,%d.5,%d,%d\n", i, i, -i, i % classes);
  fx_write_text(path, text);
  free(text);
}

static void csv_desc(astrt_data_desc *d, const char *path, int64_t size, int64_t classes) {
  memset(d, 0, sizeof *d);
  d->kind = ASTRT_DATA_CSV;
  d->label_column = -1;
  d->source = path;
  d->test_source = "";
  d->rank = 1;
  d->dims[0] = size;
  d->example_size = size;
  d->classes = classes;
  d->std = 1;
}

START_TEST(test_csv_hold_out) {
  write_csv(fx_path("d.csv"), 25, 3);
  astrt_data_desc d;
  csv_desc(&d, fx_path("d.csv"), 3, 3);
  astrt_split train, test;
  /* by default 10% (2 rows), one of class 0 and one of class 1 (stratified:
   * the classes have 9, 8 and 8 rows; test_tables checks the rule) */
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(train.x.n, 23);
  ck_assert_int_eq(test.x.n, 2);
  ck_assert(((const int32_t *)test.y.data)[0] == 0 && ((const int32_t *)test.y.data)[1] == 1);
  astrt_split_free(&train);
  astrt_split_free(&test);
  d.split = ASTRT_SPLIT_LAST;
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(train.x.n, 23);  /* split: last: the last 10% (2 rows) are held out */
  ck_assert_int_eq(test.x.n, 2);
  ck_assert_int_eq(test.y.n, 2);
  const float *tx = test.x.data;
  const int32_t *ty = test.y.data;
  ck_assert_float_eq(tx[0], 23.0f);
  ck_assert_float_eq(tx[1], 23.5f);
  ck_assert_float_eq(tx[5], -24.0f);
  ck_assert_int_eq(ty[0], 23 % 3);
  ck_assert_int_eq(ty[1], 24 % 3);
  ck_assert_float_eq(((const float *)train.x.data)[3 * 22], 22.0f);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* a separate test file, found relative to data_dir */
  write_csv(fx_path("t.csv"), 4, 3);
  d.source = "d.csv";
  d.test_source = "t.csv";
  ck_assert_msg(astrt_data_load(&d, fx_tmpdir, &train, &test) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(train.x.n, 25);
  ck_assert_int_eq(test.x.n, 4);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* one example cannot be split */
  write_csv(fx_path("one.csv"), 1, 3);
  csv_desc(&d, fx_path("one.csv"), 3, 3);
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_FORMAT);
  ck_assert_error_has("at least 2");
}
END_TEST

START_TEST(test_data_mismatch) {
  write_csv(fx_path("d.csv"), 30, 3);
  astrt_data_desc d;
  csv_desc(&d, fx_path("d.csv"), 4, 3);
  d.rank = 2;
  d.dims[0] = 2;
  d.dims[1] = 2;
  astrt_split train, test;
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("training data");
  ck_assert_error_has("holds 3 values (shape 3)");
  ck_assert_error_has("expects 4 (shape 2x2)");
  ck_assert_ptr_null(train.x.data);
  ck_assert_ptr_null(test.x.data);
  /* labels 0..2 but only 2 classes */
  csv_desc(&d, fx_path("d.csv"), 3, 2);
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("example 2 has label 2");
  ck_assert_error_has("2 classes");
  /* through astrt_train */
  model m;
  make_model(&m, 3, 2, 8, 10, 10);
  csv_desc(&m.p.data, fx_path("d.csv"), 3, 2);
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("label 2");
  /* a missing file names the file */
  csv_desc(&m.p.data, fx_path("missing.csv"), 3, 3);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("missing.csv");
}
END_TEST

START_TEST(test_data_check_direct) {
  astrt_data_desc d;
  csv_desc(&d, "x", 4, 5);
  astrt_split s = {0};
  s.x = (astrt_array){ASTRT_ELEM_F32, 1, {4}, 2, (float[8]){0}, 1, 0};
  s.y = (astrt_array){ASTRT_ELEM_I32, 0, {0}, 2, (int32_t[2]){4, 0}, 1, 0};
  ck_assert_int_eq(astrt_data_check(&d, &s, "split"), ASTRT_OK);
  ((int32_t *)s.y.data)[1] = -1;
  ck_assert_int_eq(astrt_data_check(&d, &s, "split"), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("example 1 has label -1");
  ((int32_t *)s.y.data)[1] = 0;
  s.y.elem = ASTRT_ELEM_F32;
  ck_assert_int_eq(astrt_data_check(&d, &s, "split"), ASTRT_ERR_FORMAT);
  s.y.elem = ASTRT_ELEM_I32;
  s.x.rank = 2;  /* [4, 1] is still 4 values */
  s.x.dims[1] = 1;
  ck_assert_int_eq(astrt_data_check(&d, &s, "split"), ASTRT_OK);
  s.x.n = 0;
  s.y.n = 0;
  ck_assert_int_eq(astrt_data_check(&d, &s, "split"), ASTRT_ERR_FORMAT);
  ck_assert_error_has("no examples");
}
END_TEST

/* Writes a little NPY file: |u1 data of the given shape. */
static void write_npy_u8(const char *path, const char *shape, const unsigned char *data,
                         size_t len) {
  char header[128];
  snprintf(header, sizeof header, "{'descr': '|u1', 'fortran_order': False, "
           "'shape': %s, }", shape);
  fx_write_npy(path, 1, header, data, len);
}

START_TEST(test_npy_load) {
  unsigned char x[40], y[10];
  for (int i = 0; i < 40; i++) x[i] = (unsigned char)(i * 3);
  for (int i = 0; i < 10; i++) y[i] = (unsigned char)(i % 2);
  write_npy_u8(fx_path("x.npy"), "(10, 2, 2)", x, 40);
  write_npy_u8(fx_path("y.npy"), "(10,)", y, 10);
  astrt_data_desc d;
  csv_desc(&d, fx_path("x.npy"), 4, 2);
  d.kind = ASTRT_DATA_NPY;
  d.y_source = fx_path("y.npy");
  astrt_split train, test;
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(train.x.n, 9);
  ck_assert_int_eq(test.x.n, 1);
  ck_assert_int_eq(((const int32_t *)test.y.data)[0], 0);  /* the tie of 5 and 5 goes to class 0 */
  astrt_split_free(&train);
  astrt_split_free(&test);
  d.split = ASTRT_SPLIT_LAST;
  ck_assert_msg(astrt_data_load(&d, NULL, &train, &test) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(test.x.n, 1);
  ck_assert_int_eq(((const unsigned char *)test.x.data)[0], 36 * 3);
  astrt_split_free(&train);
  astrt_split_free(&test);
  d.y_source = "";
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_ARG);
  ck_assert_error_has("labels file");
}
END_TEST

/* An IDX file of u8: n examples of shape [h, w] (rank 3), or labels (w = 0). */
static void write_idx_u8(const char *path, uint32_t n, uint32_t h, uint32_t w,
                         unsigned char fill) {
  unsigned char buf[1024];
  const uint32_t dims[3] = {n, h, w};
  size_t count = w ? (size_t)n * h * w : n;
  for (size_t i = 0; i < count; i++)
    buf[i] = w ? (unsigned char)(fill + i) : (unsigned char)(i % 3);
  fx_write_idx(path, 0x08, w ? 3 : 1, dims, buf, count, 0);
}

START_TEST(test_idx_data_dir) {
  ck_assert_int_eq(mkdir(fx_path("mini"), 0755), 0);
  write_idx_u8(fx_path("mini/train-images-idx3-ubyte"), 12, 2, 3, 0);
  write_idx_u8(fx_path("mini/train-labels-idx1-ubyte"), 12, 0, 0, 0);
  write_idx_u8(fx_path("mini/t10k-images-idx3-ubyte"), 5, 2, 3, 100);
  write_idx_u8(fx_path("mini/t10k-labels-idx1-ubyte"), 5, 0, 0, 0);
  astrt_data_desc d;
  csv_desc(&d, "mini", 6, 3);
  d.kind = ASTRT_DATA_IDX;
  astrt_split train, test;
  /* --data names the parent directory: DIR/mini is used */
  ck_assert_msg(astrt_data_load(&d, fx_tmpdir, &train, &test) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(train.x.n, 12);
  ck_assert_int_eq(test.x.n, 5);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* --data names the data set directory itself */
  ck_assert_int_eq(astrt_data_load(&d, fx_path("mini"), &train, &test), ASTRT_OK);
  ck_assert_int_eq(test.x.n, 5);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* a source with '/' is a directory */
  d.source = fx_path("mini");
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_OK);
  astrt_split_free(&train);
  astrt_split_free(&test);
  /* the model sees [2, 2]: 4 values, the files hold 2x3 */
  d.example_size = 4;
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("shape 2x3");
  /* a name not on the search path */
  setenv("ASTC_DATA_PATH", fx_tmpdir, 1);
  d.source = "no-such-set";
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("no-such-set");
  d.source = "mini";  /* found through ASTC_DATA_PATH */
  d.example_size = 6;
  ck_assert_int_eq(astrt_data_load(&d, NULL, &train, &test), ASTRT_OK);
  astrt_split_free(&train);
  astrt_split_free(&test);
  unsetenv("ASTC_DATA_PATH");
}
END_TEST

START_TEST(test_synthetic) {
  astrt_data_desc d = {0};
  d.kind = ASTRT_DATA_SYNTHETIC;
  d.rank = 2;
  d.dims[0] = 4;
  d.dims[1] = 5;
  d.example_size = 20;
  d.classes = 5;
  d.std = 1;
  d.synth_train = 3000;
  d.synth_test = 500;
  d.synth_seed = 11;
  astrt_split a, b, t;
  ck_assert_int_eq(astrt_data_synthetic(&d, 1, &a), ASTRT_OK);
  ck_assert_int_eq(astrt_data_synthetic(&d, 1, &b), ASTRT_OK);
  ck_assert_int_eq(astrt_data_synthetic(&d, 0, &t), ASTRT_OK);
  ck_assert_int_eq(a.x.n, 3000);
  ck_assert_int_eq(t.x.n, 500);
  ck_assert_int_eq(a.x.rank, 2);
  ck_assert_int_eq(a.x.dims[1], 5);
  ck_assert_mem_eq(a.x.data, b.x.data, 3000 * 20 * sizeof(float));
  ck_assert_mem_eq(a.y.data, b.y.data, 3000 * sizeof(int32_t));
  ck_assert(memcmp(a.x.data, t.x.data, 500 * 20 * sizeof(float)) != 0);
  /* every class occurs; noise around the class means has unit variance */
  const float *x = a.x.data;
  const int32_t *y = a.y.data;
  int64_t count[5] = {0};
  double mean[5][20] = {{0}};
  for (int i = 0; i < 3000; i++) {
    ck_assert(y[i] >= 0 && y[i] < 5);
    count[y[i]]++;
    for (int j = 0; j < 20; j++) mean[y[i]][j] += x[i * 20 + j];
  }
  double var = 0;
  for (int c = 0; c < 5; c++) {
    ck_assert_int_gt(count[c], 450);
    for (int j = 0; j < 20; j++) mean[c][j] /= (double)count[c];
  }
  for (int i = 0; i < 3000; i++)
    for (int j = 0; j < 20; j++) var += pow(x[i * 20 + j] - mean[y[i]][j], 2);
  var /= 3000.0 * 20;
  ck_assert_msg(fabs(var - 1) < 0.05, "noise variance %g", var);
  /* another seed gives other data */
  d.synth_seed = 12;
  astrt_split_free(&b);
  ck_assert_int_eq(astrt_data_synthetic(&d, 1, &b), ASTRT_OK);
  ck_assert(memcmp(a.x.data, b.x.data, 3000 * 20 * sizeof(float)) != 0);
  astrt_split_free(&a);
  astrt_split_free(&b);
  astrt_split_free(&t);
  d.classes = 1;
  ck_assert_int_eq(astrt_data_synthetic(&d, 1, &a), ASTRT_ERR_ARG);
}
END_TEST

START_TEST(test_fashion_mnist) {
  ck_assert_msg(fx_missing_fashion_mnist() == NULL, "%s", fx_missing_fashion_mnist());
  unsetenv("ASTC_DATA_PATH");
  model m;
  make_model(&m, 784, 10, 100, 0, 0);
  astrt_data_desc *d = &m.p.data;
  d->kind = ASTRT_DATA_IDX;
  d->source = "fashion-mnist";
  d->mean = 0.2860;
  d->std = 0.3530;
  m.p.eval_batch = 1000;
  m.p.eval_work_bytes = 1000 * 10 * 4;
  astrt_split train, test;
  ck_assert_msg(astrt_data_load(d, NULL, &train, &test) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(train.x.n, 60000);
  ck_assert_int_eq(test.x.n, 10000);
  astrt_split_free(&train);
  astrt_split_free(&test);
  ck_assert_int_eq(astrt_data_load(d, "/usr/share/datasets", &train, &test), ASTRT_OK);
  astrt_split_free(&train);
  astrt_split_free(&test);
  astrt_options o;
  quiet_options(&o);
  o.steps = 300;
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_msg(r.final_test_accuracy > 0.7, "accuracy %g", r.final_test_accuracy);
  free_snapshot();
}
END_TEST

/* ---- variables ---------------------------------------------------------- */

START_TEST(test_vars_init) {
  enum { N = 20000 };
  astrt_var_desc v[9];
  static const int kinds[9] = {ASTRT_INIT_ZEROS, ASTRT_INIT_ONES, ASTRT_INIT_CONST,
                               ASTRT_INIT_UNIFORM, ASTRT_INIT_NORMAL,
                               ASTRT_INIT_HE_UNIFORM, ASTRT_INIT_HE_NORMAL,
                               ASTRT_INIT_GLOROT_UNIFORM, ASTRT_INIT_GLOROT_NORMAL};
  int64_t off = 0;
  for (int i = 0; i < 9; i++) {
    v[i] = (astrt_var_desc){"v", ASTRT_VAR_PARAM, 2, {100, N / 100}, off, N, kinds[i],
                            -1, 2.0, 3.0, 50, 150, -1, 0};
    off += N * 4 + 64;  /* aligned, with gaps */
  }
  v[4].init_b = 0.5;  /* normal(2, 0.5) */
  astrt_program p = {0};
  p.abi_version = ASTRT_ABI_VERSION;
  p.nvars = 9;
  p.vars = v;
  p.var_bytes = off;
  void *arena;
  ck_assert_msg(astrt_vars_create(&p, 3, &arena) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_uint_eq((uintptr_t)arena % 64, 0);
  const float *f[9];
  for (int i = 0; i < 9; i++) f[i] = (const float *)((char *)arena + v[i].offset);
  double expect_mean[9] = {0, 1, 2, 2.5, 2, 0, 0, 0, 0};
  double expect_sd[9] = {0, 0, 0, 1 / sqrt(12.0), 0.5, sqrt(6.0 / 50) / sqrt(3.0),
                         sqrt(2.0 / 50), sqrt(6.0 / 200) / sqrt(3.0), sqrt(2.0 / 200)};
  double bound[9] = {0, 0, 0, 0, 0, sqrt(6.0 / 50), 0, sqrt(6.0 / 200), 0};
  for (int i = 0; i < 9; i++) {
    double s = 0, s2 = 0;
    for (int k = 0; k < N; k++) {
      s += f[i][k];
      s2 += (double)f[i][k] * f[i][k];
      if (i == 3) ck_assert(f[i][k] >= 2.0f && f[i][k] < 3.0f);
      if (bound[i] > 0) ck_assert(fabs(f[i][k]) <= bound[i] * (1 + 1e-6));
    }
    double mean = s / N, sd = sqrt(fmax(s2 / N - mean * mean, 0));
    ck_assert_msg(fabs(mean - expect_mean[i]) < 0.02 + 4 * expect_sd[i] / sqrt(N),
                  "init %d: mean %g", i, mean);
    ck_assert_msg(fabs(sd - expect_sd[i]) < 0.03 * expect_sd[i] + 1e-6, "init %d: sd %g",
                  i, sd);
  }
  /* the documented formula, element 7 of variable 4 and 3 */
  uint64_t key4 = astrt_subkey(astrt_subkey(3, ASTRT_TAG_INIT), 4);
  ck_assert_float_eq(f[4][7], (float)(2.0 + 0.5 * astrt_normal(key4, 7)));
  uint64_t key3 = astrt_subkey(astrt_subkey(3, ASTRT_TAG_INIT), 3);
  ck_assert_float_eq(f[3][7], (float)(2.0 + 1.0 * astrt_uniform53(key3, 7)));
  /* variable i does not depend on the others: shrink variable 0 */
  v[0].numel = 10;
  v[0].dims[0] = 1;
  v[0].dims[1] = 10;
  void *arena2;
  ck_assert_int_eq(astrt_vars_create(&p, 3, &arena2), ASTRT_OK);
  ck_assert_mem_eq((char *)arena + v[5].offset, (char *)arena2 + v[5].offset, N * 4);
  free(arena2);
  /* another seed changes them */
  ck_assert_int_eq(astrt_vars_create(&p, 4, &arena2), ASTRT_OK);
  ck_assert(memcmp((char *)arena + v[5].offset, (char *)arena2 + v[5].offset, N * 4) != 0);
  free(arena2);
  free(arena);
  /* he without fan-in is rejected */
  v[5].fan_in = 0;
  ck_assert_int_eq(astrt_vars_create(&p, 3, &arena2), ASTRT_ERR_FORMAT);
  ck_assert_ptr_null(arena2);
  ck_assert_int_eq(astrt_param_count(&p), 10 + 8 * N);
}
END_TEST

START_TEST(test_normal_generator) {
  double s = 0, s2 = 0, s4 = 0;
  int n = 200000;
  for (int k = 0; k < n; k++) {
    double z = astrt_normal(99, (uint64_t)k);
    ck_assert(isfinite(z));
    s += z, s2 += z * z, s4 += z * z * z * z;
  }
  ck_assert_double_eq_tol(s / n, 0, 0.01);
  ck_assert_double_eq_tol(s2 / n, 1, 0.02);
  ck_assert_double_eq_tol(s4 / n, 3, 0.1);  /* Gaussian kurtosis */
  for (int k = 0; k < 1000; k++) {
    double u = astrt_uniform53(5, (uint64_t)k);
    ck_assert(u >= 0 && u < 1);
  }
}
END_TEST

/* ---- batches ------------------------------------------------------------ */

START_TEST(test_batch_gather) {
  unsigned char raw[4 * 3] = {0, 51, 255, 10, 20, 30, 1, 2, 3, 100, 200, 250};
  int32_t labels[4] = {3, 1, 0, 2};
  astrt_split s = {0};
  s.x = (astrt_array){ASTRT_ELEM_U8, 1, {3}, 4, raw, 1.0f / 255.0f, 0};
  s.y = (astrt_array){ASTRT_ELEM_I32, 0, {0}, 4, labels, 1, 0};
  int64_t perm[4] = {2, 0, 3, 1};
  float x[6];
  int32_t y[2];
  astrt_norm norm = {.mean = 0.5f, .std = 0.25f};
  astrt_batch_gather(&s, perm, 1, 2, norm, x, y);  /* rows 0 and 3 */
  ck_assert_int_eq(y[0], 3);
  ck_assert_int_eq(y[1], 2);
  ck_assert_float_eq_tol(x[0], (0.0f - 0.5f) / 0.25f, 1e-6f);
  ck_assert_float_eq_tol(x[1], (51 / 255.0f - 0.5f) / 0.25f, 1e-6f);
  ck_assert_float_eq_tol(x[2], (1.0f - 0.5f) / 0.25f, 1e-6f);
  ck_assert_float_eq_tol(x[3], (100 / 255.0f - 0.5f) / 0.25f, 1e-6f);
  /* F32 features with scale and shift, no permutation */
  float fx[4 * 3];
  for (int i = 0; i < 12; i++) fx[i] = (float)i;
  s.x = (astrt_array){ASTRT_ELEM_F32, 1, {3}, 4, fx, 2.0f, 1.0f};
  astrt_batch_gather(&s, NULL, 2, 2, (astrt_norm){.mean = 1.0f, .std = 2.0f}, x, y);
  ck_assert_int_eq(y[0], 0);
  ck_assert_int_eq(y[1], 2);
  for (int i = 0; i < 6; i++) ck_assert_float_eq(x[i], ((float)(6 + i) * 2 + 1 - 1) / 2);
}
END_TEST

/* the driver's gather split over 2 and 3 threads of the pool: the rows of
 * a serial gather, bit for bit, for U8 and F32 features and a row count
 * that does not divide evenly */
START_TEST(test_batch_gather_pooled) {
  enum { N = 300, SIZE = 784, ROWS = 67 };
  unsigned char *raw = malloc(N * SIZE);
  float *fx = malloc(sizeof(float) * N * SIZE), *a = malloc(sizeof(float) * ROWS * SIZE),
        *b = malloc(sizeof(float) * ROWS * SIZE);
  int32_t labels[N], ya[ROWS], yb[ROWS];
  int64_t perm[N];
  for (int i = 0; i < N * SIZE; i++) raw[i] = (unsigned char)(i * 7919 % 251), fx[i] = (float)(i % 1000) * 0.01f;
  for (int i = 0; i < N; i++) labels[i] = i % 10, perm[i] = (i * 37) % N;
  astrt_split s = {0};
  s.y = (astrt_array){ASTRT_ELEM_I32, 0, {0}, N, labels, 1, 0};
  astrt_norm norm = {.mean = 0.3f, .std = 0.7f};
  for (int threads = 2; threads <= 3; threads++) {
    astrt_pool_configure(threads);
    for (int f = 0; f < 2; f++) {
      s.x = f ? (astrt_array){ASTRT_ELEM_F32, 1, {SIZE}, N, fx, 2.0f, 1.0f}
              : (astrt_array){ASTRT_ELEM_U8, 1, {SIZE}, N, raw, 1.0f / 255.0f, 0};
      astrt_batch_gather(&s, perm, 11, ROWS, norm, a, ya);
      memset(b, 0xff, sizeof(float) * ROWS * SIZE);
      astrt_batch_gather_pooled(&s, perm, 11, ROWS, norm, b, yb);
      ck_assert(memcmp(a, b, sizeof(float) * ROWS * SIZE) == 0);
      ck_assert(memcmp(ya, yb, sizeof ya) == 0);
    }
  }
  free(raw), free(fx), free(a), free(b);
}
END_TEST

/* the U8 gather's vector paths against ((raw * scale + shift) - mean) / std
 * rounded after each operation, bit for bit, for every instruction set the
 * CPU has (the others are listed as skipped), on row sizes around the
 * vector widths and rows in scattered order */
START_TEST(test_gather_u8_isas) {
  enum { N = 40 };
  static const int64_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 33, 63, 65, 257, 784};
  const float scale = 1.0f / 255.0f, shift = 0.125f, mean = 0.2860f, std = 0.3530f;
  uint8_t *src = malloc(N * 784);
  float *want = malloc(sizeof(float) * N * 784), *got = malloc(sizeof(float) * N * 784);
  int64_t row[N];
  for (int i = 0; i < N * 784; i++) src[i] = (uint8_t)(i * 7919 % 256);
  for (int r = 0; r < N; r++) row[r] = (r * 17 + 3) % N;
  static const astrt_conv_isa isas[] = {ASTRT_CONV_ISA_NONE, ASTRT_CONV_ISA_GENERIC, ASTRT_CONV_ISA_AVX2,
                                        ASTRT_CONV_ISA_AVX512};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    int64_t size = sizes[k];
    for (int r = 0; r < N; r++)
      for (int64_t j = 0; j < size; j++) {
        float v = (float)src[row[r] * size + j] * scale;
        v = v + shift;
        v = v - mean;
        want[r * size + j] = v / std;
      }
    astrt_gather_u8_args a = {src, row, size, scale, shift, mean, std};
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
      if (!astrt_conv_isa_supported(isas[i])) {
        if (k == 0) printf("test_gather_u8_isas: %s skipped (not supported here)\n", astrt_conv_isa_name(isas[i]));
        continue;
      }
      memset(got, 0xff, sizeof(float) * N * size);
      astrt_gather_u8_rows(isas[i], &a, N, got);
      if (memcmp(want, got, sizeof(float) * N * size) != 0)
        ck_abort_msg("%s: row size %lld differs from the reference", astrt_conv_isa_name(isas[i]), (long long)size);
    }
  }
  free(src), free(want), free(got);
}
END_TEST

/* ---- progress ----------------------------------------------------------- */

START_TEST(test_progress_format) {
  char buf[64];
  astrt_fmt_duration(72, buf, sizeof buf);
  ck_assert_str_eq(buf, "1m12s");
  astrt_fmt_duration(44.6, buf, sizeof buf);
  ck_assert_str_eq(buf, "45s");
  astrt_fmt_duration(7380, buf, sizeof buf);
  ck_assert_str_eq(buf, "2h03m");
  astrt_fmt_duration(NAN, buf, sizeof buf);
  ck_assert_str_eq(buf, "0s");
  astrt_fmt_rate(45210, buf, sizeof buf);
  ck_assert_str_eq(buf, "45.2k");
  astrt_fmt_rate(950, buf, sizeof buf);
  ck_assert_str_eq(buf, "950");
  astrt_fmt_rate(1234567, buf, sizeof buf);
  ck_assert_str_eq(buf, "1.23M");
}
END_TEST

START_TEST(test_progress_lines) {
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  astrt_progress pg;
  astrt_progress_init(&pg, f, 1, 0, 15, 14070, 7336800);  /* ETA 159 s */
  ck_assert_int_eq(pg.live, 1);
  astrt_progress_state s = {3, 2345, 150000, 0.41234, 150000 / 45200.0};
  astrt_progress_step(&pg, &s, 10.0, 0);
  astrt_progress_step(&pg, &s, 10.05, 0);  /* too soon: not drawn */
  s.step = 2346;
  astrt_progress_step(&pg, &s, 10.2, 0);
  astrt_eval_record e = {3, 2346, 180000, 0.41234, 0.381, 0.86214, 0.86214, 4.12, 0.381, ASTRT_TARGET_CLASS, 0, 0, 10000, 0};
  astrt_progress_eval(&pg, &e);
  rewind(f);
  char text[1024];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  ck_assert_ptr_nonnull(strstr(text, "\repoch 3/15  step 2345/14070  loss 0.4123  45.2k "
                                     "samples/s  ETA 2m39s"));
  ck_assert_ptr_nonnull(strstr(text, "step 2346/14070"));
  ck_assert_ptr_null(strstr(strstr(text, "2345") + 1, "2345"));  /* drawn once */
  ck_assert_ptr_nonnull(strstr(text, "epoch 3/15: train loss 0.4123  test loss 0.3810  "
                                     "test accuracy 86.21%  (best 86.21%)  4.1s\n"));
  /* plain mode: only evaluation lines; quiet: nothing */
  f = tmpfile();
  astrt_progress_init(&pg, f, 0, 0, 15, 14070, 900000);
  astrt_progress_step(&pg, &s, 10.0, 1);
  astrt_progress_eval(&pg, &e);
  astrt_progress_init(&pg, f, 1, 1, 15, 14070, 900000);
  astrt_progress_step(&pg, &s, 10.0, 1);
  astrt_progress_eval(&pg, &e);
  rewind(f);
  n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  ck_assert_str_eq(text, "epoch 3/15: train loss 0.4123  test loss 0.3810  test accuracy "
                         "86.21%  (best 86.21%)  4.1s\n");
}
END_TEST

/* ---- ops ---------------------------------------------------------------- */

START_TEST(test_dropout_mask) {
  enum { N = 100000 };
  float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  ck_assert(a && b);
  float p = 0.3f, keep = 1.0f / (1.0f - p);
  astrt_dropout_mask(a, N, 0, p, 42, 7, 2);
  int64_t zeros = 0;
  for (int k = 0; k < N; k++) {
    ck_assert(a[k] == 0.0f || a[k] == keep);
    zeros += a[k] == 0.0f;
  }
  ck_assert_msg(fabs((double)zeros / N - 0.3) < 0.01, "dropped %g", (double)zeros / N);
  /* the formula shared with the reference interpreter */
  uint64_t key = astrt_subkey(astrt_subkey(42, 7), 2);
  for (int k = 0; k < 100; k++)
    ck_assert(a[k] == (astrt_uniform(key, (uint64_t)k) >= p ? keep : 0.0f));
  astrt_dropout_mask(b, N, 0, p, 42, 7, 2);
  ck_assert_mem_eq(a, b, N * sizeof *a);
  astrt_dropout_mask(b, N, 0, p, 42, 8, 2);  /* another step */
  ck_assert(memcmp(a, b, N * sizeof *a) != 0);
  astrt_dropout_mask(b, N, 0, p, 42, 7, 3);  /* another site */
  ck_assert(memcmp(a, b, N * sizeof *a) != 0);
  astrt_dropout_mask(b, N, 0, p, 43, 7, 2);  /* another seed */
  ck_assert(memcmp(a, b, N * sizeof *a) != 0);
  astrt_dropout_mask(b, N, 0, 0.0f, 42, 7, 2);  /* p = 0 keeps everything */
  for (int k = 0; k < N; k++) ck_assert(b[k] == 1.0f);
  free(a);
  free(b);
}
END_TEST

START_TEST(test_count_correct) {
  const float logits[5 * 3] = {
      1, 3, 3,            /* tie: the first maximum (1) wins */
      1, 3, 3,
      5, 5, 5,            /* all tied: 0 */
      -1, -2, -0.5f,      /* 2 */
      NAN, 1, 0,          /* NaN compares false: 0 stays (as the interpreter) */
  };
  const int32_t labels[5] = {1, 2, 0, 2, 0};
  ck_assert_float_eq(astrt_count_correct(logits, labels, 5, 3), 4.0f);
  const int32_t wrong[5] = {2, 1, 1, 0, 1};
  ck_assert_float_eq(astrt_count_correct(logits, wrong, 5, 3), 1.0f);  /* row 1 */
  ck_assert_float_eq(astrt_count_correct(logits, labels, 0, 3), 0.0f);
}
END_TEST

/* ---- checkpoints: --save and --init-from (vars_io.c) -------------------- */

/* The softmax model plus a state variable and an optimizer slot the steps
 * leave alone: bn.running_var (ones) and dense.w.momentum (0.5). */
typedef struct model4 {
  astrt_var_desc vars[4];
  model m;
} model4;

static void make_model4(model4 *m4, int64_t d, int64_t k, int64_t batch, int64_t ntrain,
                        int64_t ntest) {
  make_model(&m4->m, d, k, batch, ntrain, ntest);
  m4->vars[0] = m4->m.vars[0];
  m4->vars[1] = m4->m.vars[1];
  int64_t off = (g_bias_off + k * 4 + 63) / 64 * 64;
  m4->vars[2] = (astrt_var_desc){"bn.running_var", ASTRT_VAR_STATE, 1, {k}, off, k,
                                 ASTRT_INIT_ONES, 0, 0, 0, 0, 0, -1, 0};
  off += (k * 4 + 63) / 64 * 64;
  m4->vars[3] = (astrt_var_desc){"dense.w.momentum", ASTRT_VAR_SLOT, 2, {d, k}, off, d * k,
                                 ASTRT_INIT_CONST, 0, 0.5, 0, 0, 0, -1, 0};
  g_var_bytes = off + d * k * 4;
  m4->m.p.vars = m4->vars;
  m4->m.p.nvars = 4;
  m4->m.p.var_bytes = g_var_bytes;
}

/* Asserts that file f holds every variable of p, F32 with p's shapes, and
 * that their values are those of the arena `vars`. */
static void assert_file_has_vars(const astrt_st_file *f, const astrt_program *p,
                                 const unsigned char *vars) {
  ck_assert_int_eq(f->ntensors, (int)p->nvars);
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_var_desc *v = &p->vars[i];
    const astrt_st_tensor *t = astrt_st_find(f, v->name);
    ck_assert_msg(t != NULL, "%s missing", v->name);
    ck_assert_ptr_eq(t, &f->tensors[i]);  /* in descriptor order */
    ck_assert_int_eq(t->dtype, ASTRT_ST_F32);
    ck_assert_int_eq(t->rank, v->rank);
    for (int d = 0; d < v->rank; d++) ck_assert_int_eq(t->dims[d], v->dims[d]);
    ck_assert_mem_eq(t->data, vars + v->offset, (size_t)v->numel * 4);
  }
}

static unsigned char *g_first;  /* the variables as the first step saw them */

static void step_capture(void *vars, void *work, const void *xv, const void *yv,
                         int64_t rows, const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  if (g_ncalls == 0) {
    free(g_first);
    g_first = malloc((size_t)g_var_bytes);
    ck_assert_ptr_nonnull(g_first);
    memcpy(g_first, vars, (size_t)g_var_bytes);
  }
  step_a(vars, work, x, y, rows, sc, out, seed);
}

static double zero_lr(double t, double step, double epoch) {
  (void)t, (void)step, (void)epoch;
  return 0.0;
}

START_TEST(test_save) {
  model4 m4;
  make_model4(&m4, 6, 3, 16, 200, 50);
  astrt_options o;
  quiet_options(&o);
  o.epochs = 2;
  o.seed = 5;
  o.has_seed = 1;
  o.save_path = fx_path("a.safetensors");
  astrt_result r;
  ck_assert_msg(astrt_train(&m4.m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  astrt_st_file f;
  ck_assert_msg(astrt_safetensors_read(o.save_path, &f) == ASTRT_OK, "%s",
                astrt_last_error());
  assert_file_has_vars(&f, &m4.m.p, g_snapshot);  /* the final variables */
  const float *rv = astrt_st_find(&f, "bn.running_var")->data;
  const float *mom = astrt_st_find(&f, "dense.w.momentum")->data;
  ck_assert_float_eq(rv[2], 1.0f);
  ck_assert_float_eq(mom[17], 0.5f);
  ck_assert_int_eq(f.nmeta, 5);
  ck_assert_str_eq(astrt_st_meta(&f, "astc.program"), "softmax");
  ck_assert_str_eq(astrt_st_meta(&f, "astc.source"), "test_driver.c");
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)r.steps);
  ck_assert_str_eq(astrt_st_meta(&f, "astc.step"), num);
  ck_assert_str_eq(astrt_st_meta(&f, "astc.step"), "26");  /* 13 per epoch */
  ck_assert_str_eq(astrt_st_meta(&f, "astc.epoch"), "2");
  ck_assert_str_eq(astrt_st_meta(&f, "astc.seed"), "5");
  astrt_st_file_free(&f);
  /* the same seed gives a byte-identical file, another seed another one */
  size_t len_a, len_b, len_c;
  unsigned char *a = fx_read_bytes(o.save_path, &len_a);
  o.save_path = fx_path("b.safetensors");
  ck_assert_int_eq(astrt_train(&m4.m.p, &o, &r), ASTRT_OK);
  unsigned char *b = fx_read_bytes(o.save_path, &len_b);
  ck_assert_uint_eq(len_a, len_b);
  ck_assert_mem_eq(a, b, len_a);
  o.seed = 6;
  o.save_path = fx_path("c.safetensors");
  ck_assert_int_eq(astrt_train(&m4.m.p, &o, &r), ASTRT_OK);
  unsigned char *c = fx_read_bytes(o.save_path, &len_c);
  ck_assert(len_c != len_a || memcmp(a, c, len_a) != 0);
  /* saving over an existing file replaces it */
  o.seed = 5;
  ck_assert_int_eq(astrt_train(&m4.m.p, &o, &r), ASTRT_OK);
  free(c);
  c = fx_read_bytes(o.save_path, &len_c);
  ck_assert_uint_eq(len_c, len_a);
  ck_assert_mem_eq(a, c, len_a);
  free(a);
  free(b);
  free(c);
  free_snapshot();
}
END_TEST

START_TEST(test_init_from) {
  model4 m4;
  make_model4(&m4, 6, 3, 16, 200, 50);
  astrt_options o;
  quiet_options(&o);
  o.epochs = 2;
  o.save_path = fx_path("trained.safetensors");
  astrt_result r;
  ck_assert_msg(astrt_train(&m4.m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  astrt_st_file f;
  ck_assert_int_eq(astrt_safetensors_read(o.save_path, &f), ASTRT_OK);
  /* 0 steps: initialise, then load the file over the arena */
  void *arena;
  ck_assert_int_eq(astrt_vars_create(&m4.m.p, 99, &arena), ASTRT_OK);
  int64_t loaded;
  ck_assert_msg(astrt_vars_load(&m4.m.p, arena, o.save_path, &loaded) == ASTRT_OK, "%s",
                astrt_last_error());
  ck_assert_int_eq(loaded, 4);
  assert_file_has_vars(&f, &m4.m.p, arena);
  free(arena);
  /* 1 step: the step starts from the file's values */
  o.save_path = NULL;
  o.init_path = fx_path("trained.safetensors");
  o.epochs = 0;
  o.steps = 1;
  m4.m.phases[0].step = step_capture;
  g_ncalls = 0;
  ck_assert_msg(astrt_train(&m4.m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.steps, 1);
  assert_file_has_vars(&f, &m4.m.p, g_first);
  ck_assert(memcmp(g_first, g_snapshot, (size_t)g_var_bytes) != 0);  /* it trained */
  /* ... and with a zero learning rate it ends there too */
  m4.m.p.lr_schedule = zero_lr;
  ck_assert_int_eq(astrt_train(&m4.m.p, &o, &r), ASTRT_OK);
  assert_file_has_vars(&f, &m4.m.p, g_snapshot);
  /* without --init-from the first step sees the initial values */
  o.init_path = NULL;
  g_ncalls = 0;
  ck_assert_int_eq(astrt_train(&m4.m.p, &o, &r), ASTRT_OK);
  ck_assert(memcmp(g_first, f.tensors[0].data, 6 * 3 * 4) != 0);
  astrt_st_file_free(&f);
  free(g_first);
  g_first = NULL;
  free_snapshot();
}
END_TEST

START_TEST(test_init_partial) {
  model4 m4;
  make_model4(&m4, 4, 2, 10, 60, 20);
  m4.m.phases[0].step = step_capture;
  astrt_options o;
  quiet_options(&o);
  o.steps = 1;
  astrt_result r;
  ck_assert_int_eq(astrt_train(&m4.m.p, &o, &r), ASTRT_OK);
  unsigned char *plain = g_first;
  g_first = NULL;
  /* a file holding only the bias and the state */
  float b[2] = {7, -7}, rv[2] = {3, 4};
  const astrt_st_tensor t[] = {{"dense.b", ASTRT_ST_F32, 1, {2}, b},
                               {"bn.running_var", ASTRT_ST_F32, 1, {2}, rv}};
  o.init_path = fx_path("part.safetensors");
  ck_assert_int_eq(astrt_safetensors_write(o.init_path, t, 2, NULL, NULL, 0), ASTRT_OK);
  g_ncalls = 0;
  ck_assert_msg(astrt_train(&m4.m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_mem_eq(g_first + m4.vars[1].offset, b, sizeof b);
  ck_assert_mem_eq(g_first + m4.vars[2].offset, rv, sizeof rv);
  /* the others keep their initial values */
  ck_assert_mem_eq(g_first, plain, 4 * 2 * 4);
  ck_assert_mem_eq(g_first + m4.vars[3].offset, plain + m4.vars[3].offset, 4 * 2 * 4);
  /* the header reports it */
  const char *argv[] = {"./prog", "--progress=plain", "--threads=1", "--steps=1",
                        "--init-from", o.init_path};
  ck_assert_int_eq(main_to_file(2, 6, argv, &m4.m.p, "init.log"), 0);
  char text[4096];
  fx_read_text(fx_path("init.log"), text, sizeof text);
  char want[1200];
  snprintf(want, sizeof want, "\n  initialised from %s: 2 of 4 variables\n", o.init_path);
  ck_assert_msg(strstr(text, want) != NULL, "%s", text);
  free(plain);
  free(g_first);
  g_first = NULL;
  free_snapshot();
}
END_TEST

START_TEST(test_init_errors) {
  model m;
  make_model(&m, 6, 3, 16, 100, 20);
  astrt_options o;
  quiet_options(&o);
  o.init_path = fx_path("bad.safetensors");
  astrt_result r;
  float w[18] = {0}, b[3] = {0};
  /* a shape that differs (the transpose) */
  astrt_st_tensor t[3] = {{"dense.w", ASTRT_ST_F32, 2, {3, 6}, w},
                          {"dense.b", ASTRT_ST_F32, 1, {3}, b},
                          {"dense.v", ASTRT_ST_F32, 1, {3}, b}};
  ck_assert_int_eq(astrt_safetensors_write(o.init_path, t, 2, NULL, NULL, 0), ASTRT_OK);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has(o.init_path);
  ck_assert_error_has("tensor 'dense.w' has shape [3, 6] but variable dense.w of softmax "
                      "has shape [6, 3]");
  ck_assert_error_has("[in, out]");
  ck_assert_int_eq(r.steps, 0);
  /* rank differs */
  t[0] = (astrt_st_tensor){"dense.w", ASTRT_ST_F32, 1, {18}, w};
  ck_assert_int_eq(astrt_safetensors_write(o.init_path, t, 2, NULL, NULL, 0), ASTRT_OK);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("[18]");
  /* a dtype other than F32 */
  t[0] = (astrt_st_tensor){"dense.w", ASTRT_ST_F16, 2, {6, 3}, w};
  ck_assert_int_eq(astrt_safetensors_write(o.init_path, t, 2, NULL, NULL, 0), ASTRT_OK);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("tensor 'dense.w' is F16");
  /* tensors the program does not have */
  t[0] = (astrt_st_tensor){"conv.w", ASTRT_ST_F32, 2, {6, 3}, w};
  ck_assert_int_eq(astrt_safetensors_write(o.init_path, t, 3, NULL, NULL, 0), ASTRT_OK);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("2 tensors are not variables of softmax: conv.w, dense.v");
  ck_assert_error_has("its variables: dense.w, dense.b");
  /* a damaged file, a missing one */
  fx_write_text(o.init_path, "not a checkpoint");
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_FORMAT);
  ck_assert_error_has(o.init_path);
  o.init_path = fx_path("none.safetensors");
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NOTFOUND);
  ck_assert_error_has("none.safetensors");
  /* astrt_main: exit 1 with the message */
  const char *argv[] = {"./prog", "--quiet", "--threads=1", "--init-from", o.init_path};
  ck_assert_int_eq(main_to_file(2, 5, argv, &m.p, "err.log"), 1);
  char text[2048];
  fx_read_text(fx_path("err.log"), text, sizeof text);
  ck_assert_msg(strncmp(text, "prog: error: ", 13) == 0 && strstr(text, "none.safetensors"),
                "%s", text);
  free_snapshot();
}
END_TEST

START_TEST(test_save_errors) {
  model m;
  make_model(&m, 6, 3, 16, 100, 20);
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  /* a directory that does not exist: refused before training */
  o.save_path = fx_path("no/such/dir/x.safetensors");
  g_ncalls = 0;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_IO);
  ck_assert_error_has(o.save_path);
  ck_assert_error_has("choose another path to save to");  /* the model API's words too: not "--save" */
  ck_assert_int_eq(g_ncalls, 0);
  free_snapshot();
}
END_TEST

/* Tests of the runtime's test hooks (ASTRT_TEST_HOOKS) are the extra suite
 * "hooks", run by ctest as test_driver.hooks: skipped (exit 77) when libastrt
 * is built without -DASTRT_TEST_HOOKS=ON. */
#ifdef ASTRT_TEST_HOOKS
/* a disk that fills up while saving (ASTRT_FAULT_WRITE_AFTER): the old file stays */
START_TEST(test_save_disk_full) {
  model m;
  make_model(&m, 6, 3, 16, 100, 20);
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  o.save_path = fx_path("keep.safetensors");
  fx_write_text(o.save_path, "previous contents");
  setenv("ASTRT_FAULT_WRITE_AFTER", "100", 1);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_IO);
  unsetenv("ASTRT_FAULT_WRITE_AFTER");
  ck_assert_error_has(o.save_path);
  ck_assert_error_has("No space left on device");
  ck_assert_int_gt(r.steps, 0);  /* it trained */
  char text[256];
  fx_read_text(o.save_path, text, sizeof text);
  ck_assert_str_eq(text, "previous contents");
  free_snapshot();
}
END_TEST
#endif

/* (the devfull suite) --save on a device: refused before training */
START_TEST(test_save_dev_full) {
  model m;
  make_model(&m, 6, 3, 16, 100, 20);
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  g_ncalls = 0;
  o.save_path = "/dev/full";
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_IO);
  ck_assert_error_has("/dev/full");
  ck_assert_int_eq(g_ncalls, 0);
  struct stat sb;
  ck_assert(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode));
  free_snapshot();
}
END_TEST

START_TEST(test_checkpoint_options) {
  astrt_options o;
  astrt_options_default(&o);
  ck_assert_ptr_null(o.save_path);
  ck_assert_ptr_null(o.init_path);
  const char *a1[] = {"prog", "--save", "out.safetensors", "--init-from=in.safetensors"};
  ck_assert_int_eq(parse(&o, 4, a1), 0);
  ck_assert_str_eq(o.save_path, "out.safetensors");
  ck_assert_str_eq(o.init_path, "in.safetensors");
  const char *a2[] = {"prog", "--save="};
  ck_assert_int_eq(parse(&o, 2, a2), -1);
  const char *a3[] = {"prog", "--init-from"};
  ck_assert_int_eq(parse(&o, 2, a3), -1);
  /* checkpoint options without the directory are refused, not ignored */
  astrt_options_default(&o);
  const char *a4[] = {"prog", "--checkpoint-every", "10"};
  ck_assert_int_eq(parse(&o, 3, a4), -1);
  astrt_options_default(&o);
  const char *a5[] = {"prog", "--checkpoint-every", "10", "--checkpoint", "dir"};
  ck_assert_int_eq(parse(&o, 5, a5), 0);
  ck_assert_int_eq(o.checkpoint_every, 10);
  /* astrt_main: the summary names the saved file; the file can be loaded */
  model m;
  make_model(&m, 6, 3, 16, 100, 20);
  const char *path = fx_path("main.safetensors");
  const char *argv[] = {"./prog", "--quiet", "--threads=1", "--epochs=1", "--save", path};
  ck_assert_int_eq(main_to_file(1, 6, argv, &m.p, "summary.txt"), 0);
  char text[2048], want[1100];
  fx_read_text(fx_path("summary.txt"), text, sizeof text);
  snprintf(want, sizeof want, "  saved %s\n", path);
  ck_assert_msg(strstr(text, want) != NULL, "%s", text);
  const char *again[] = {"./prog", "--quiet", "--threads=1", "--steps=1", "--init-from", path};
  ck_assert_int_eq(main_to_file(1, 6, again, &m.p, "summary2.txt"), 0);
  fx_read_text(fx_path("summary2.txt"), text, sizeof text);
  ck_assert_ptr_null(strstr(text, "saved"));
  free_snapshot();
}
END_TEST

/* ---- non-finite losses, memory, full disks (robust.h) ------------------- */

static int g_bad_from, g_bad_to;      /* calls [from, to] (1-based) give a NaN loss */
static float g_b_before[8], g_b_after[8];  /* b at the entry of the first bad call and the next */

/* step_a with NaN losses on some calls; dense.b is a state variable here,
 * which the driver must put back after a step whose loss was not finite */
static void step_bad(void *vars, void *work, const void *xv, const void *yv, int64_t rows,
                     const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  const float *b = (const float *)((const char *)vars + g_bias_off);
  if (g_ncalls + 1 == g_bad_from) memcpy(g_b_before, b, sizeof(float) * (size_t)g_classes);
  if (g_ncalls + 1 == g_bad_from + 1) memcpy(g_b_after, b, sizeof(float) * (size_t)g_classes);
  step_a(vars, work, x, y, rows, sc, out, seed);
  if (g_ncalls >= g_bad_from && g_ncalls <= g_bad_to) out[ASTRT_OUT_LOSS] = NAN;
}

START_TEST(test_nan_skip_step) {
  model m;
  make_model(&m, 6, 3, 10, 100, 20);  /* 10 steps an epoch, 5 epochs */
  m.phases[0].step = step_bad;
  m.vars[1].kind = ASTRT_VAR_STATE;
  g_bad_from = g_bad_to = 15;
  astrt_options o;
  quiet_options(&o);
  o.on_nan = ASTRT_ON_NAN_SKIP_STEP;
  o.metrics_path = fx_path("skip.jsonl");
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.steps, 50);
  ck_assert_int_eq(r.nonfinite_steps, 1);
  ck_assert(memcmp(g_b_before, g_b_after, sizeof(float) * 3) == 0);  /* the state was put back */
  char text[8192];
  fx_read_text(o.metrics_path, text, sizeof text);
  ck_assert_ptr_nonnull(strstr(text, "{\"event\":\"skipped_step\",\"step\":15,\"epoch\":2,\"reason\":\"step 15 "
                                     "(epoch 2, batch 10): the loss is NaN at learning rate 0.1\"}\n"));
  ck_assert_ptr_nonnull(strstr(text, "\"event\":\"end\""));
  /* stopping instead: an error, nothing more logged */
  g_ncalls = 0;
  o.on_nan = ASTRT_ON_NAN_STOP;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NUMERIC);
  ck_assert_error_has("step 15 (epoch 2, batch 10): the loss is NaN");
  ck_assert_error_has("Training stopped before this step changed anything (--on-nan=skip-step");
  ck_assert_int_eq(r.steps, 14);
  fx_read_text(o.metrics_path, text, sizeof text);
  ck_assert_ptr_nonnull(strstr(text, "{\"event\":\"stopped\",\"step\":15,"));
  ck_assert_ptr_null(strstr(text, "\"event\":\"end\""));
  /* 101 in a row: the run ends once 100 were skipped */
  make_model(&m, 6, 3, 10, 1000, 20);
  m.phases[0].step = step_bad;
  g_bad_from = 3;
  g_bad_to = 100000;
  o.on_nan = ASTRT_ON_NAN_SKIP_STEP;
  o.metrics_path = NULL;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NUMERIC);
  ck_assert_error_has("100 steps in a row were skipped for a non-finite loss, and now step 103 (epoch 2, ");
  ck_assert_error_has("training is not recovering");
  ck_assert_int_eq(r.steps, 102);
  ck_assert_int_eq(r.nonfinite_steps, 100);
  free_snapshot();
}
END_TEST

#ifdef ASTRT_TEST_HOOKS  /* the suite "hooks" (test_memory_refused) */
static void never_called(void *vars, void *work, const void *xv, const void *yv, int64_t rows,
                         const float *sc, float *out, uint64_t seed) {
  const float *x = xv;
  const int32_t *y = yv;
  (void)vars, (void)work, (void)x, (void)y, (void)rows, (void)sc, (void)out, (void)seed;
  ck_abort_msg("a step ran although the run does not fit in memory");
}

START_TEST(test_memory_refused) {
  model m;
  make_model(&m, 6, 3, 10, 100, 20);
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  /* the program alone does not fit */
  setenv("ASTRT_TEST_MEM_AVAILABLE", "1000", 1);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NOMEM);
  ck_assert_error_has("not enough memory to train softmax: it needs ");
  ck_assert_error_has("before its data is loaded, but only 1.0 kB is available (ASTRT_TEST_MEM_AVAILABLE)");
  ck_assert_error_has("lower the batch size");
  ck_assert_int_eq(g_ncalls, 0);
  /* ... unless the check is off */
  setenv("ASTRT_MEM_CHECK", "off", 1);
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  unsetenv("ASTRT_MEM_CHECK");
  /* the program fits, its data does not: refused before the data is made */
  make_model(&m, 100, 3, 10, 20000, 20);  /* 8 MB of features */
  setenv("ASTRT_TEST_MEM_AVAILABLE", "4000000", 1);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NOMEM);
  ck_assert_error_has("synthetic data: holding its 20000 examples needs 8.0 MB of memory, but only 4.0 MB");
  ck_assert_error_has("does not fit in memory");
  ck_assert_int_eq(g_ncalls, 0);
  /* program and data fit, a frozen prefix's feature cache does not (100 x 1M floats) */
  make_model(&m, 6, 3, 10, 100, 20);
  m.phases[0].step = never_called;
  m.phases[0].prefix = never_called;
  m.phases[0].feature_size = 1000000;
  setenv("ASTRT_TEST_MEM_AVAILABLE", "100000000", 1);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NOMEM);
  ck_assert_error_has("besides its variables");
  ck_assert_error_has("frozen-prefix cache 400.0 MB");
  ck_assert_error_has("only 100.0 MB is available");
  unsetenv("ASTRT_TEST_MEM_AVAILABLE");
  free_snapshot();
}
END_TEST

/* a disk that fills up while the metrics file is written */
START_TEST(test_metrics_disk_full) {
  model m;
  make_model(&m, 6, 3, 10, 100, 20);
  astrt_options o;
  quiet_options(&o);
  o.metrics_path = fx_path("full.jsonl");
  astrt_result r;
  setenv("ASTRT_FAULT_METRICS_AFTER", "150", 1);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_IO);
  unsetenv("ASTRT_FAULT_METRICS_AFTER");
  ck_assert_error_has(o.metrics_path);
  ck_assert_error_has("No space left on device");
  ck_assert_int_eq(r.steps, 10);  /* the first evaluation's line did not fit */
  struct stat sb;
  /* ... and was taken back: the file ends with the last complete line (here: none) */
  ck_assert(stat(o.metrics_path, &sb) == 0 && sb.st_size == 0);
  /* a disk full from the start is found before training */
  setenv("ASTRT_FAULT_METRICS_AFTER", "0", 1);
  g_ncalls = 0;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_IO);
  unsetenv("ASTRT_FAULT_METRICS_AFTER");
  ck_assert_error_has("No space left on device");
  ck_assert_int_eq(g_ncalls, 0);
  ck_assert(stat(o.metrics_path, &sb) == 0 && sb.st_size == 0);
  free_snapshot();
}
END_TEST
#endif

/* ---- sequence data --------------------------------------------------------- */

/* A fake language model over text: the step checks that every row is the
 * window the runtime promises (x = ids[off, off + T), y = ids[off + 1, off +
 * T + 1) at off = astrt_window_offset(seed, sample number)), keeps a hash of
 * each batch, and moves its one variable by the batch's ids; the evaluation
 * checks that it sees the test split's non-overlapping windows in order, and
 * its loss is the mean of the rows' first ids. */
#define SEQ_LEN 2000               /* bytes of the text: byte i is (7 i + 3) mod 251 */
#define SEQ_MAX_CALLS 512
static int64_t g_seq_T, g_seq_ntrain, g_seq_ntest, g_seq_samples, g_seq_eval_pos;
static int g_seq_check;            /* the step checks offsets against g_seq_samples, the evaluation its windows */
static uint64_t g_seq_seed;
static uint64_t g_seq_hash[SEQ_MAX_CALLS];
static int g_seq_calls, g_seq_eval_rows;

static int32_t seq_byte(int64_t i) { return (int32_t)((7 * i + 3) % 251); }

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static void seq_step(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                     float *out, uint64_t seed) {
  (void)work;
  const int32_t *x = xv, *y = yv;
  int64_t T = g_seq_T;
  record('s', rows, sc, seed);
  double first = 0;
  float *w = vars;
  for (int64_t r = 0; r < rows; r++) {
    const int32_t *xr = x + r * T, *yr = y + r * T;
    for (int64_t j = 0; j + 1 < T; j++) ck_assert_int_eq(yr[j], xr[j + 1]);
    if (g_seq_check) {
      int64_t off = astrt_window_offset(g_seq_seed, g_seq_samples + r, g_seq_ntrain, T);
      ck_assert(off >= 0 && off + T < g_seq_ntrain);
      for (int64_t j = 0; j < T; j++) ck_assert_int_eq(xr[j], seq_byte(off + j));
      ck_assert_int_eq(yr[T - 1], seq_byte(off + T));
    }
    first += xr[0];
    for (int64_t j = 0; j < T; j++) w[j % 4] += sc[ASTRT_SC_LR] * (float)xr[j] * 1e-3f;
  }
  g_seq_samples += rows;
  if (g_seq_calls < SEQ_MAX_CALLS)
    g_seq_hash[g_seq_calls] = fnv_bytes(fnv_bytes(0xcbf29ce484222325ull, x, (size_t)(rows * T) * 4), y,
                                        (size_t)(rows * T) * 4);
  g_seq_calls++;
  out[ASTRT_OUT_LOSS] = (float)(first / (double)rows / 251.0);
}

static void seq_eval(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                     float *out, uint64_t seed) {
  (void)work, (void)yv, (void)sc, (void)seed;
  const int32_t *x = xv;
  int64_t T = g_seq_T;
  double first = 0;
  for (int64_t r = 0; r < rows; r++) {  /* window g_seq_eval_pos of the test split (the last ntest bytes) */
    int64_t off = (SEQ_LEN - g_seq_ntest) + g_seq_eval_pos * T;
    for (int64_t j = 0; g_seq_check && j < T; j++) ck_assert_int_eq(x[r * T + j], seq_byte(off + j));
    first += x[r * T];
    g_seq_eval_pos = (g_seq_eval_pos + 1) % (g_seq_ntest > T ? (g_seq_ntest - 1) / T : 1);
  }
  g_seq_eval_rows += (int)rows;
  out[ASTRT_OUT_LOSS] = (float)(first / (double)rows);
  out[ASTRT_OUT_CORRECT] = (float)rows;  /* would be 100% accuracy, were it reported */
  free(g_snapshot);
  g_snapshot = malloc(64);
  ck_assert_ptr_nonnull(g_snapshot);
  memcpy(g_snapshot, vars, 64);
}

/* Greedy continuation: the next byte after b scores highest at b + 1. The
 * windows it was given are kept. */
#define PRED_MAX 64
static int32_t g_pred_x[PRED_MAX][16];
static int g_pred_calls;

static void seq_predict(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                        float *out, uint64_t seed) {
  (void)vars, (void)work, (void)yv, (void)sc, (void)seed;
  const int32_t *x = xv;
  int64_t T = g_seq_T, V = 256;
  for (int64_t r = 0; r < rows; r++, x += T, out += T * V) {  /* generation: one row a call */
    if (g_pred_calls < PRED_MAX) memcpy(g_pred_x[g_pred_calls], x, (size_t)T * 4);
    g_pred_calls++;
    for (int64_t j = 0; j < T; j++)
      for (int64_t c = 0; c < V; c++) out[j * V + c] = c == (x[j] + 1) % V ? 5.0f : (float)(c % 3) * 0.1f;
  }
}

typedef struct seq_model {
  astrt_var_desc vars[1];
  astrt_phase_desc phases[1];
  astrt_program p;
} seq_model;

/* A byte-level model of context T over fx_tmpdir/text.txt (SEQ_LEN bytes,
 * 10% held out), batch `batch`, one epoch. */
static void make_seq_model(seq_model *m, int64_t T, int64_t batch) {
  memset(m, 0, sizeof *m);
  unsigned char *b = malloc(SEQ_LEN);
  ck_assert_ptr_nonnull(b);
  for (int i = 0; i < SEQ_LEN; i++) b[i] = (unsigned char)seq_byte(i);
  fx_write_bytes(fx_path("text.txt"), b, SEQ_LEN);
  free(b);
  g_seq_T = T;
  g_seq_ntest = SEQ_LEN / 10;
  g_seq_ntrain = SEQ_LEN - g_seq_ntest;
  g_seq_samples = g_seq_eval_pos = 0;
  g_seq_calls = g_seq_eval_rows = g_pred_calls = 0;
  g_seq_check = 1;
  g_seq_seed = 1;
  g_ncalls = 0;
  m->vars[0] = (astrt_var_desc){"w", ASTRT_VAR_PARAM, 1, {4}, 0, 4, ASTRT_INIT_ZEROS, 0, 0, 0, 0, 0, -1, 0};
  m->phases[0] = (astrt_phase_desc){0.0, 1.0, batch, 64, seq_step, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  astrt_program *p = &m->p;
  p->abi_version = ASTRT_ABI_VERSION;
  p->nvars = 1;
  p->name = "charlm";
  p->source = "test_driver.c";
  p->vars = m->vars;
  p->var_bytes = 64;
  p->nphases = 1;
  p->phases = m->phases;
  p->eval = seq_eval;
  p->eval_batch = 5;
  p->eval_work_bytes = 64;
  p->base_lr = 0.1;
  p->batch = batch;
  p->epochs = 1;
  p->seed = 1;
  p->optimizer = "sgd(lr: 0.1)";
  p->predict = seq_predict;
  p->predict_work_bytes = 64;
  p->output_size = T * 256;
  astrt_data_desc *d = &p->data;
  d->kind = ASTRT_DATA_TEXT;
  d->source = fx_path("text.txt");
  d->test_source = "";
  d->rank = 1;
  d->dims[0] = T;
  d->x_dtype = ASTRT_DTYPE_I32;
  d->example_size = T;
  d->classes = 256;
  d->std = 1;
  d->target = ASTRT_TARGET_SEQUENCE;
  d->target_size = T;
  d->context = T;
  d->vocab = 256;
  d->holdout = 0.1;
}

/* An epoch is floor((n_train - 1) / T) windows at offsets drawn per sample;
 * the budget, the steps and the evaluations count them. */
START_TEST(test_seq_train_windows) {
  seq_model m;
  make_seq_model(&m, 16, 8);
  m.p.epochs = 2;
  astrt_options o;
  quiet_options(&o);
  o.metrics_path = fx_path("m.jsonl");
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.epochs_done, 2);
  ck_assert_int_eq(r.samples, 2 * 112);  /* floor(1799 / 16) windows an epoch */
  ck_assert_int_eq(r.steps, 2 * 14);
  ck_assert_int_eq(g_seq_samples, 224);
  ck_assert_int_eq(g_seq_eval_rows, 2 * 12);  /* floor(199 / 16) test windows, twice */
  ck_assert(isnan(r.final_test_accuracy) && isnan(r.best_test_accuracy));
  ck_assert(isfinite(r.final_test_loss) && r.best_test_loss == r.final_test_loss);
  ck_assert_double_eq_tol(r.final_bits_per_byte, r.final_test_loss / log(2.0), 1e-12);
  /* the batches differ from step to step (fresh offsets) */
  ck_assert(g_seq_hash[0] != g_seq_hash[1] && g_seq_hash[1] != g_seq_hash[14]);
  /* --budget and --steps keep their meaning */
  make_seq_model(&m, 16, 8);
  o.metrics_path = NULL;
  o.budget = 0.5;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_eq(r.samples, 56);
  o.budget = 1;
  o.steps = 3;
  make_seq_model(&m, 16, 8);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_eq(r.samples, 24);
  free_snapshot();
}
END_TEST

/* The windows are a function of (seed, sample number): the same on 1, 2 or
 * 3 threads, and another seed draws others. */
START_TEST(test_seq_deterministic_threads) {
  uint64_t first[28];
  unsigned char w[64];
  for (int threads = 1; threads <= 3; threads++) {
    seq_model m;
    make_seq_model(&m, 16, 8);
    m.p.epochs = 2;
    astrt_options o;
    quiet_options(&o);
    o.threads = threads;
    astrt_result r;
    ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
    ck_assert_int_eq(g_seq_calls, 28);
    if (threads == 1) {
      memcpy(first, g_seq_hash, sizeof first);
      memcpy(w, g_snapshot, sizeof w);
    } else {
      ck_assert_mem_eq(first, g_seq_hash, sizeof first);
      ck_assert_mem_eq(w, g_snapshot, sizeof w);
    }
  }
  seq_model m;
  make_seq_model(&m, 16, 8);
  m.p.epochs = 2;
  astrt_options o;
  quiet_options(&o);
  o.seed = 2, o.has_seed = 1;
  g_seq_seed = 2;
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  int same = 0;
  for (int i = 0; i < 28; i++) same += first[i] == g_seq_hash[i];
  ck_assert_int_eq(same, 0);
  free_snapshot();
}
END_TEST

#ifdef ASTRT_TEST_HOOKS
/* --resume after a kill mid-epoch: the resumed run draws exactly the
 * windows the uninterrupted one did from there on. */
START_TEST(test_seq_resume) {
  uint64_t full[28];
  unsigned char w[64];
  seq_model m;
  make_seq_model(&m, 16, 8);
  m.p.epochs = 2;
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  memcpy(full, g_seq_hash, sizeof full);
  memcpy(w, g_snapshot, sizeof w);
  /* a child trains with checkpoints every 4 steps and is killed after step 9 */
  o.checkpoint_dir = fx_path("ckpt");
  o.checkpoint_every = 4;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("ASTRT_TEST_KILL_AT_STEP", "9", 1);
    make_seq_model(&m, 16, 8);
    m.p.epochs = 2;
    astrt_train(&m.p, &o, &r);
    _exit(3);  /* not killed: wrong */
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was not killed at step 9");
  make_seq_model(&m, 16, 8);
  m.p.epochs = 2;
  g_seq_check = 0;  /* the hashes say it */
  o.resume = 1;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.steps, 28);
  ck_assert_int_eq(g_seq_calls, 20);  /* steps 9..28: from the checkpoint of step 8 */
  ck_assert_mem_eq(full + 8, g_seq_hash, 20 * sizeof full[0]);
  ck_assert_mem_eq(w, g_snapshot, sizeof w);
  free_snapshot();
}
END_TEST
#endif

/* The test loss is the mean over the test windows, weighted by the rows of
 * each evaluation batch (5, 5 and 2 of 12). */
START_TEST(test_seq_eval_weighting) {
  seq_model m;
  make_seq_model(&m, 16, 8);
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  double want = 0;
  for (int k = 0; k < 12; k++) want += seq_byte(1800 + 16 * k);
  want /= 12;
  ck_assert_double_eq_tol(r.final_test_loss, want, 1e-4);
  /* an unweighted mean of the three batches' means would differ */
  double b[3] = {0, 0, 0};
  for (int k = 0; k < 12; k++) b[k / 5] += seq_byte(1800 + 16 * k) / (k < 10 ? 5.0 : 2.0);
  ck_assert(fabs((b[0] + b[1] + b[2]) / 3 - want) > 1e-3);
  free_snapshot();
}
END_TEST

/* Text: bits per byte in the metrics, the epoch line and the summary, and
 * no accuracy; token data has no bits per byte. */
START_TEST(test_seq_bits_per_byte) {
  seq_model m;
  make_seq_model(&m, 16, 8);
  m.p.epochs = 2;
  char metrics[1024];  /* fx_path's buffers rotate */
  snprintf(metrics, sizeof metrics, "%s", fx_path("m.jsonl"));
  const char *argv[] = {"./charlm", "--progress=plain", "--threads=1", "--metrics", metrics};
  ck_assert_int_eq(main_to_file(2, 5, argv, &m.p, "err.txt"), 0);
  char text[4096];
  fx_read_text(fx_path("m.jsonl"), text, sizeof text);
  ck_assert_ptr_null(strstr(text, "accuracy"));
  const char *line = strstr(text, "{\"event\":\"eval\",\"epoch\":2,");
  ck_assert_ptr_nonnull(line);
  double loss = json_number(line, "test_loss"), bpb = json_number(line, "bits_per_byte");
  ck_assert(isfinite(loss) && isfinite(bpb));
  ck_assert_double_eq_tol(bpb, loss / log(2.0), 1e-12);
  const char *end = strstr(text, "{\"event\":\"end\",\"final_test_loss\":");
  ck_assert_ptr_nonnull(end);
  ck_assert(json_number(end, "final_test_loss") == loss);
  ck_assert(json_number(end, "best_test_loss") <= loss);
  ck_assert(json_number(end, "final_bits_per_byte") == bpb);
  fx_read_text(fx_path("err.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "data ") && strstr(text, "windows of 16) train"), "%s", text);
  char want[128];
  snprintf(want, sizeof want, "test loss %.4f  %.3f bits per byte  (best ", loss, bpb);
  ck_assert_msg(strstr(text, want), "%s", text);
  g_seq_samples = g_seq_eval_pos = 0;
  ck_assert_int_eq(main_to_file(1, 5, argv, &m.p, "out.txt"), 0);
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  snprintf(want, sizeof want, "charlm: final test loss %.4f  best ", loss);
  ck_assert_msg(strstr(text, want) == text && strstr(text, " bits per byte  ("), "%s", text);
  ck_assert_ptr_null(strstr(text, "accuracy"));
  /* token ids: uint16, no bits per byte */
  uint16_t ids[SEQ_LEN];
  for (int i = 0; i < SEQ_LEN; i++) ids[i] = (uint16_t)seq_byte(i);
  fx_write_bytes(fx_path("ids.bin"), ids, sizeof ids);
  m.p.data.kind = ASTRT_DATA_TOKENS;
  m.p.data.source = fx_path("ids.bin");
  g_seq_samples = g_seq_eval_pos = 0;
  ck_assert_int_eq(main_to_file(2, 5, argv, &m.p, "err2.txt"), 0);
  fx_read_text(fx_path("m.jsonl"), text, sizeof text);
  ck_assert_ptr_null(strstr(text, "bits_per_byte"));
  ck_assert_ptr_null(strstr(text, "accuracy"));
  ck_assert_ptr_nonnull(strstr(text, "\"final_test_loss\":"));
  free_snapshot();
}
END_TEST

/* Sequence data draws new windows every step: no frozen-prefix cache. */
START_TEST(test_seq_prefix_refused) {
  seq_model m;
  make_seq_model(&m, 16, 8);
  m.phases[0].prefix = seq_step;
  m.phases[0].feature_size = 4;
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_ARG);
  ck_assert_error_has("frozen prefix");
  ck_assert_error_has("reuse: false");
  ck_assert_int_eq(g_seq_calls, 0);
}
END_TEST

/* target = loss <= X: time to target, --stop-at-target and the summary. */
START_TEST(test_loss_goal) {
  model m;
  make_model(&m, 20, 4, 32, 2000, 500);
  m.p.epochs = 3;
  astrt_options o;
  quiet_options(&o);
  astrt_result r;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  double after3 = r.final_test_loss;  /* the loss the goal asks for */
  m.p.goal = ASTRT_GOAL_LOSS, m.p.target = after3;
  m.p.epochs = 20;
  o.stop_at_target = 1;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert_int_le(r.epochs_done, 3);
  ck_assert(r.final_test_loss <= after3);
  ck_assert(r.time_to_target >= 0 && r.time_to_target <= r.train_seconds);
  /* the summary line */
  m.p.target = 2.1;
  const char *argv[] = {"./prog", "--quiet", "--threads=1", "--epochs=1", "--stop-at-target"};
  ck_assert_int_eq(main_to_file(1, 5, argv, &m.p, "out.txt"), 0);
  char text[1024];
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "  target loss 2.10 reached after "), "%s", text);
  ck_assert_msg(strstr(text, "final test accuracy"), "%s", text);  /* class data keeps its accuracy */
  m.p.target = 0.001;  /* unreachable */
  ck_assert_int_eq(main_to_file(1, 5, argv, &m.p, "out.txt"), 0);
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "  target loss 0.001 not reached"), "%s", text);
  o.stop_at_target = 0;
  m.p.epochs = 2;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  ck_assert(r.time_to_target < 0);
  /* a descriptor whose accuracy goal has no classes to be accurate about */
  seq_model s;
  make_seq_model(&s, 16, 8);
  s.p.goal = ASTRT_GOAL_ACCURACY, s.p.target = 0.5;
  ck_assert_int_eq(astrt_train(&s.p, &o, &r), ASTRT_ERR_FORMAT);
  ck_assert_error_has("an accuracy target needs class labels");
  free_snapshot();
}
END_TEST

/* ---- real-valued targets ------------------------------------------------------------- */

/* y = 2 x0 - x1 + 0.5: a linear regression by SGD on the mean squared error */
static void reg_forward(const float *w, const float *x, int64_t rows, float *pred) {
  for (int64_t r = 0; r < rows; r++) pred[r] = w[0] * x[2 * r] + w[1] * x[2 * r + 1] + w[2];
}

static void reg_step(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                     float *out, uint64_t seed) {
  const float *x = xv, *y = yv;
  float *w = vars, *pred = work;
  record('r', rows, sc, seed);
  reg_forward(w, x, rows, pred);
  double loss = 0, g[3] = {0, 0, 0};
  for (int64_t r = 0; r < rows; r++) {
    double e = pred[r] - y[r];
    loss += e * e;
    g[0] += 2 * e * x[2 * r], g[1] += 2 * e * x[2 * r + 1], g[2] += 2 * e;
  }
  for (int k = 0; k < 3; k++) w[k] -= sc[ASTRT_SC_LR] * (float)(g[k] / (double)rows);
  out[ASTRT_OUT_LOSS] = (float)(loss / (double)rows);
}

static void reg_eval(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                     float *out, uint64_t seed) {
  (void)sc, (void)seed;
  const float *x = xv, *y = yv;
  float *pred = work;
  reg_forward(vars, x, rows, pred);
  double loss = 0;
  for (int64_t r = 0; r < rows; r++) loss += (pred[r] - y[r]) * (pred[r] - y[r]);
  out[ASTRT_OUT_LOSS] = (float)(loss / (double)rows);
  out[ASTRT_OUT_CORRECT] = (float)rows;
}

START_TEST(test_real_targets) {
  char *text = malloc(200 * 64);
  ck_assert_ptr_nonnull(text);
  int len = sprintf(text, "a,b,y\n");
  uint64_t lcg = 9;
  for (int i = 0; i < 200; i++) {
    float a = fx_lcg_pm1(&lcg), b = fx_lcg_pm1(&lcg);
    len += sprintf(text + len, "%.6f,%.6f,%.6f\n", a, b, 2 * a - b + 0.5);
  }
  fx_write_text(fx_path("reg.csv"), text);
  free(text);
  model m;
  make_model(&m, 2, 1, 10, 1, 1);
  m.vars[0] = (astrt_var_desc){"w", ASTRT_VAR_PARAM, 1, {3}, 0, 3, ASTRT_INIT_ZEROS, 0, 0, 0, 0, 0, -1, 0};
  m.p.nvars = 1;
  m.p.var_bytes = 64;
  m.phases[0] = (astrt_phase_desc){0.0, 1.0, 10, 64, reg_step, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  m.p.eval = reg_eval;
  m.p.eval_batch = 16;
  m.p.eval_work_bytes = 64;
  m.p.base_lr = 0.1;
  m.p.epochs = 10;
  csv_desc(&m.p.data, fx_path("reg.csv"), 2, 0);
  m.p.data.target = ASTRT_TARGET_REAL;
  m.p.data.target_size = 1;
  m.p.goal = ASTRT_GOAL_LOSS, m.p.target = 0.01;
  astrt_options o;
  quiet_options(&o);
  o.metrics_path = fx_path("m.jsonl");
  astrt_result r;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.samples, 10 * 180);
  ck_assert_msg(r.final_test_loss < 0.01, "test loss %g", r.final_test_loss);
  ck_assert(isnan(r.final_test_accuracy));
  ck_assert(r.time_to_target >= 0);
  char text2[4096];
  fx_read_text(o.metrics_path, text2, sizeof text2);
  ck_assert_ptr_null(strstr(text2, "accuracy"));
  ck_assert_ptr_null(strstr(text2, "bits_per_byte"));
  ck_assert_ptr_nonnull(strstr(text2, "\"best_test_loss\":"));
  /* the model predicts 2 values; the table has 1 */
  m.p.data.target_size = 2;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("predicts 2");
}
END_TEST

/* ---- generation ------------------------------------------------------------------- */

/* Greedy decoding reads the scores at the last filled position of the
 * window: the tokens so far, padded with 0, then the last T. */
START_TEST(test_sample_greedy_window) {
  seq_model m;
  make_seq_model(&m, 4, 8);
  float vars[16] = {0};
  int32_t prompt[2] = {'a', 'b'}, out[10];
  ck_assert_msg(astrt_generate(&m.p, vars, 0, prompt, 2, 10, 0.0, 0, 7, out, NULL, NULL) == ASTRT_OK, "%s",
                astrt_last_error());
  for (int g = 0; g < 10; g++) ck_assert_int_eq(out[g], 'c' + g);
  ck_assert_int_eq(g_pred_calls, 10);
  static const int32_t want[4][4] = {{'a', 'b', 0, 0}, {'a', 'b', 'c', 0}, {'a', 'b', 'c', 'd'}, {'b', 'c', 'd', 'e'}};
  for (int g = 0; g < 4; g++) ck_assert_mem_eq(g_pred_x[g], want[g], sizeof want[g]);
  static const int32_t last[4] = {'h', 'i', 'j', 'k'};
  ck_assert_mem_eq(g_pred_x[9], last, sizeof last);
  /* a prompt longer than the context: its last T tokens */
  int32_t longer[6] = {'p', 'q', 'r', 's', 't', 'u'};
  g_pred_calls = 0;
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, longer, 6, 1, 0.0, 0, 7, out, NULL, NULL), ASTRT_OK);
  ck_assert_mem_eq(g_pred_x[0], longer + 2, 4 * sizeof longer[0]);
  ck_assert_int_eq(out[0], 'v');
  /* top-k 1 is greedy too, whatever the temperature */
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 2, 10, 5.0, 1, 7, out, NULL, NULL), ASTRT_OK);
  for (int g = 0; g < 10; g++) ck_assert_int_eq(out[g], 'c' + g);
  /* bad requests */
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 0, 1, 1.0, 0, 7, out, NULL, NULL), ASTRT_ERR_ARG);
  ck_assert_error_has("at least one token");
  int32_t bad[1] = {256};
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, bad, 1, 1, 1.0, 0, 7, out, NULL, NULL), ASTRT_ERR_ARG);
  ck_assert_error_has("outside the vocabulary [0, 256)");
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 2, 1, -1.0, 0, 7, out, NULL, NULL), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 2, 1, NAN, 0, 7, out, NULL, NULL), ASTRT_ERR_ARG);
}
END_TEST

/* Scores that do not depend on the window: softmax(s / t) over the top k. */
static void fixed_predict(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                          float *out, uint64_t seed) {
  (void)vars, (void)work, (void)xv, (void)yv, (void)rows, (void)sc, (void)seed;
  for (int64_t j = 0; j < g_seq_T; j++)
    for (int c = 0; c < 256; c++) out[j * 256 + c] = c < 4 ? (float)(4 - c) * 0.5f : -2.0f;
}

/* tokens 5 and 9 score highest, equally */
static void tie_predict(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                        float *out, uint64_t seed) {
  (void)vars, (void)work, (void)xv, (void)yv, (void)rows, (void)sc, (void)seed;
  for (int64_t j = 0; j < g_seq_T; j++)
    for (int c = 0; c < 256; c++) out[j * 256 + c] = c == 5 || c == 9 ? 3.0f : (float)(c % 4) * 0.5f;
}

static void nan_predict(void *vars, void *work, const void *xv, const void *yv, int64_t rows, const float *sc,
                        float *out, uint64_t seed) {
  fixed_predict(vars, work, xv, yv, rows, sc, out, seed);
  out[(g_seq_T - 1) * 256 + 3] = NAN;
  out[3] = NAN;
}

START_TEST(test_sample_seeded) {
  seq_model m;
  make_seq_model(&m, 4, 8);
  m.p.predict = fixed_predict;
  float vars[16] = {0};
  int32_t prompt[1] = {'x'};
  enum { N = 4000 };
  int32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  ck_assert(a && b);
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 1, N, 1.0, 0, 11, a, NULL, NULL), ASTRT_OK);
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 1, N, 1.0, 0, 11, b, NULL, NULL), ASTRT_OK);
  ck_assert_mem_eq(a, b, N * sizeof *a);  /* a function of the seed */
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 1, N, 1.0, 0, 12, b, NULL, NULL), ASTRT_OK);
  ck_assert(memcmp(a, b, N * sizeof *a) != 0);
  /* the frequencies follow softmax: token 0 has weight e^2 of 4 + 252 e^-2 ... */
  double w[256], total = 0;
  for (int c = 0; c < 256; c++) total += w[c] = exp(c < 4 ? (4 - c) * 0.5 : -2.0);
  int count0 = 0, rare = 0;
  for (int i = 0; i < N; i++) count0 += a[i] == 0, rare += a[i] >= 4;
  ck_assert_msg(fabs(count0 / (double)N - w[0] / total) < 0.03, "token 0: %d of %d", count0, N);
  ck_assert_msg(fabs(rare / (double)N - 252 * w[4] / total) < 0.03, "rare tokens: %d of %d", rare, N);
  /* top-k 3: only tokens 0, 1, 2; temperature 0: always 0 */
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 1, N, 1.0, 3, 11, b, NULL, NULL), ASTRT_OK);
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < N; i++) {
    ck_assert_int_lt(b[i], 3);
    seen[b[i]]++;
  }
  ck_assert(seen[0] > seen[1] && seen[1] > seen[2] && seen[2] > 0);
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 1, 50, 0.0, 0, 11, b, NULL, NULL), ASTRT_OK);
  for (int i = 0; i < 50; i++) ck_assert_int_eq(b[i], 0);
  /* equal top scores: greedy takes the first */
  m.p.predict = tie_predict;
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 1, 5, 0.0, 0, 11, b, NULL, NULL), ASTRT_OK);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(b[i], 5);
  /* scores that are not finite */
  m.p.predict = nan_predict;
  ck_assert_int_eq(astrt_generate(&m.p, vars, 0, prompt, 1, 5, 1.0, 0, 11, b, NULL, NULL), ASTRT_ERR_NUMERIC);
  ck_assert_error_has("generating token 1: the model's score for token 3 is nan");
  free(a);
  free(b);
}
END_TEST

/* --sample N after training, on stdout after the summary: the prompt and
 * N greedy bytes; refused (before any training) for class data. */
START_TEST(test_sample_option) {
  seq_model m;
  make_seq_model(&m, 4, 8);
  const char *argv[] = {"./charlm", "--quiet", "--threads=1", "--sample", "12", "--prompt", "ab",
                        "--temperature=0"};
  ck_assert_int_eq(main_to_file(1, 8, argv, &m.p, "out.txt"), 0);
  char text[4096];
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  const char *nl = strchr(text, '\n');
  ck_assert_msg(nl && !strncmp(text, "charlm: final test loss", 23), "%s", text);
  ck_assert_str_eq(nl + 1, "abcdefghijklmn");
  ck_assert_int_eq(g_seq_calls, 57);  /* it trained first: floor(1799 / 4) = 449 windows, 57 steps of 8 */
  /* without a prompt, text starts from a new line (not printed) */
  const char *noprompt[] = {"./charlm", "--quiet", "--threads=1", "--sample=3", "--temperature=0"};
  g_seq_samples = g_seq_eval_pos = 0;
  ck_assert_int_eq(main_to_file(1, 5, noprompt, &m.p, "out.txt"), 0);
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  ck_assert_str_eq(strchr(text, '\n') + 1, "\v\f\r");  /* '\n' + 1, + 2, + 3 */
  /* token data: comma-separated ids */
  uint16_t ids[SEQ_LEN];
  for (int i = 0; i < SEQ_LEN; i++) ids[i] = (uint16_t)seq_byte(i);
  fx_write_bytes(fx_path("ids.bin"), ids, sizeof ids);
  m.p.data.kind = ASTRT_DATA_TOKENS;
  m.p.data.source = fx_path("ids.bin");
  g_seq_samples = g_seq_eval_pos = 0;
  const char *tok[] = {"./charlm", "--quiet", "--threads=1", "--sample=3", "--temperature=0", "--prompt=7, 250"};
  ck_assert_int_eq(main_to_file(1, 6, tok, &m.p, "out.txt"), 0);
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  ck_assert_str_eq(strchr(text, '\n') + 1, "7,250,251,252,253\n");
  const char *badtok[] = {"./charlm", "--quiet", "--threads=1", "--sample=3", "--prompt=7,256"};
  g_seq_calls = 0;
  ck_assert_int_eq(main_to_file(2, 5, badtok, &m.p, "err.txt"), 1);
  fx_read_text(fx_path("err.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "--prompt: token id 256 is outside the vocabulary [0, 256)"), "%s", text);
  ck_assert_int_eq(g_seq_calls, 0);  /* refused before training */
  const char *noids[] = {"./charlm", "--quiet", "--threads=1", "--sample=3"};
  ck_assert_int_eq(main_to_file(2, 4, noids, &m.p, "err.txt"), 1);
  fx_read_text(fx_path("err.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "needs a prompt"), "%s", text);
  /* class data cannot sample */
  model c;
  make_model(&c, 6, 3, 16, 200, 50);
  const char *cls[] = {"./softmax", "--quiet", "--threads=1", "--sample=3"};
  ck_assert_int_eq(main_to_file(2, 4, cls, &c.p, "err.txt"), 1);
  fx_read_text(fx_path("err.txt"), text, sizeof text);
  ck_assert_msg(strstr(text, "softmax: error: --sample generates tokens from a language model, but softmax's "
                             "data (synthetic) is not a sequence"), "%s", text);
  ck_assert_int_eq(g_ncalls, 0);
  /* a language model without a prediction step */
  m.p.predict = NULL;
  astrt_options o;
  quiet_options(&o);
  o.sample = 3;
  astrt_result r;
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_ARG);
  ck_assert_error_has("no prediction step");
  free_snapshot();
}
END_TEST

/* --load FILE: the variables from FILE, no training: one evaluation of
 * them, or, with --sample, sampling without reading the data. */
START_TEST(test_load) {
  model m;
  make_model(&m, 6, 3, 16, 200, 50);
  astrt_options o;
  quiet_options(&o);
  o.save_path = fx_path("w.safetensors");
  astrt_result trained, r;
  ck_assert_int_eq(astrt_train(&m.p, &o, &trained), ASTRT_OK);
  o.save_path = NULL;
  o.load_path = fx_path("w.safetensors");
  o.metrics_path = fx_path("m.jsonl");
  g_ncalls = 0;
  ck_assert_msg(astrt_train(&m.p, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(g_ncalls, 0);
  ck_assert_int_eq(r.steps, 0);
  ck_assert(r.final_test_loss == trained.final_test_loss);
  ck_assert(r.final_test_accuracy == trained.final_test_accuracy);
  char text[2048];
  fx_read_text(o.metrics_path, text, sizeof text);
  static const char head[] = "{\"event\":\"eval\",\"epoch\":0,\"step\":0,\"samples\":0,\"train_loss\":null,";
  ck_assert_msg(!strncmp(text, head, strlen(head)), "%s", text);
  ck_assert_ptr_nonnull(strstr(text, "\n{\"event\":\"end\","));
  const char *argv[] = {"./softmax", "--threads=1", "--load", fx_path("w.safetensors")};
  ck_assert_int_eq(main_to_file(1, 4, argv, &m.p, "out.txt"), 0);
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  char want[256];
  snprintf(want, sizeof want, "softmax: loaded %s: test loss %.4f  test accuracy %.2f%%", fx_path("w.safetensors"),
           trained.final_test_loss, 100 * trained.final_test_accuracy);
  ck_assert_msg(strstr(text, want) == text, "%s", text);
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_OK);
  o.load_path = fx_path("none.safetensors");
  ck_assert_int_eq(astrt_train(&m.p, &o, &r), ASTRT_ERR_NOTFOUND);
  /* a language model: --load with --sample reads no data */
  seq_model s;
  make_seq_model(&s, 4, 8);
  quiet_options(&o);
  o.save_path = fx_path("lm.safetensors");
  ck_assert_int_eq(astrt_train(&s.p, &o, &r), ASTRT_OK);
  s.p.data.source = fx_path("gone.txt");
  g_seq_calls = g_seq_eval_rows = 0;
  const char *lm[] = {"./charlm", "--threads=1", "--load", fx_path("lm.safetensors"), "--sample=2", "--prompt=x",
                      "--temperature=0"};
  ck_assert_int_eq(main_to_file(1, 7, lm, &s.p, "out.txt"), 0);
  fx_read_text(fx_path("out.txt"), text, sizeof text);
  ck_assert_str_eq(text, "xyz");
  ck_assert_int_eq(g_seq_calls + g_seq_eval_rows, 0);
  free_snapshot();
}
END_TEST

/* The embedding API (model.c) takes x and y of the program's types: token
 * windows as int32 (not normalised floats), labels per position, real
 * targets; it checks them, and generates as --sample does. */
START_TEST(test_model_api_typed) {
  seq_model m;
  make_seq_model(&m, 4, 8);
  g_seq_check = 0;
  astrt_model *lm;
  ck_assert_msg(astrt_model_create(&m.p, NULL, &lm) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(astrt_model_input_size(lm), 4);
  ck_assert_int_eq(astrt_model_target_size(lm), 4);
  ck_assert_int_eq(astrt_model_output_size(lm), 4 * 256);
  ck_assert_int_eq(astrt_model_classes(lm), 256);
  int32_t x[8] = {97, 98, 99, 100, 10, 11, 12, 13}, y[8] = {98, 99, 100, 101, 11, 12, 13, 14};
  astrt_step_result res;
  ck_assert_msg(astrt_model_train_step(lm, x, y, 2, 0, &res) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(g_seq_calls, 1);
  ck_assert_uint_eq(g_seq_hash[0], fnv_bytes(fnv_bytes(0xcbf29ce484222325ull, x, sizeof x), y, sizeof y));
  ck_assert_float_eq(res.loss, (float)((97 + 10) / 2.0 / 251.0));
  double loss, acc;
  ck_assert_int_eq(astrt_model_evaluate(lm, x, y, 2, &loss, &acc), ASTRT_OK);
  ck_assert_double_eq_tol(loss, 53.5, 1e-9);
  ck_assert(isnan(acc));  /* no class labels */
  float *out = malloc(2 * 4 * 256 * sizeof *out);
  ck_assert_ptr_nonnull(out);
  ck_assert_int_eq(astrt_model_predict(lm, x, 2, out), ASTRT_OK);
  ck_assert_mem_eq(g_pred_x[1], x + 4, 4 * sizeof x[0]);
  ck_assert_float_eq(out[1 * 256 + 99], 5.0f);  /* after 98 comes 99 */
  /* ids and labels outside the vocabulary are refused before any step */
  x[1] = 256;
  ck_assert_int_eq(astrt_model_train_step(lm, x, y, 2, 0, NULL), ASTRT_ERR_ARG);
  ck_assert_error_has("example 0 has token 256 at position 1, outside the model's vocabulary [0, 256)");
  ck_assert_int_eq(astrt_model_predict(lm, x, 2, out), ASTRT_ERR_ARG);
  x[1] = 98;
  y[7] = -1;
  ck_assert_int_eq(astrt_model_evaluate(lm, x, y, 2, &loss, &acc), ASTRT_ERR_ARG);
  ck_assert_error_has("example 1 has next token -1 at position 3");
  ck_assert_int_eq(g_seq_calls, 1);
  y[7] = 14;
  /* generation, as --sample */
  int32_t prompt[2] = {'a', 'b'}, gen[5];
  ck_assert_int_eq(astrt_model_generate(lm, prompt, 2, 5, 0.0f, 0, 1, gen), ASTRT_OK);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(gen[i], 'c' + i);
  ck_assert_int_eq(astrt_model_generate(lm, prompt, 2, 5, 0.0f, 0, 1, NULL), ASTRT_ERR_ARG);
  /* astrt_model_train on an in-memory split of windows (I32 [n, 4] each) */
  enum { N = 16 };
  int32_t wx[N * 4], wy[N * 4];
  for (int i = 0; i < N * 4; i++) wx[i] = seq_byte(i + i / 4), wy[i] = seq_byte(i + i / 4 + 1);
  astrt_split split;
  memset(&split, 0, sizeof split);
  split.x = (astrt_array){ASTRT_ELEM_I32, 1, {4}, N, wx, 1, 0};
  split.y = (astrt_array){ASTRT_ELEM_I32, 1, {4}, N, wy, 1, 0};
  astrt_data_source src = {N, NULL, NULL, &split};
  g_seq_calls = 0;
  astrt_result r;
  ck_assert_msg(astrt_model_train(lm, &src, NULL, NULL, &r) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(r.steps, 2);
  ck_assert_int_eq(g_seq_calls, 2);
  ck_assert_int_eq(astrt_model_steps(lm), 3);
  wy[5] = 300;  /* a label outside the vocabulary */
  ck_assert_int_eq(astrt_model_train(lm, &src, NULL, NULL, &r), ASTRT_ERR_MISMATCH);
  ck_assert_error_has("example 1 has next token 300 at position 1");
  astrt_model_destroy(lm);
  free(out);
  /* a regression: float targets, checked finite; no accuracy */
  model reg;
  make_model(&reg, 2, 1, 10, 1, 1);
  reg.vars[0] = (astrt_var_desc){"w", ASTRT_VAR_PARAM, 1, {3}, 0, 3, ASTRT_INIT_ZEROS, 0, 0, 0, 0, 0, -1, 0};
  reg.p.nvars = 1;
  reg.p.var_bytes = 64;
  reg.phases[0] = (astrt_phase_desc){0.0, 1.0, 10, 64, reg_step, "", NULL, 0, 0, 0, 0, 1, NULL, 0, 0, 0, 0, 1.0, 0};
  reg.p.eval = reg_eval;
  reg.p.eval_work_bytes = 64;
  reg.p.data.kind = ASTRT_DATA_CSV;
  reg.p.data.classes = 0;
  reg.p.data.target = ASTRT_TARGET_REAL;
  reg.p.data.target_size = 1;
  astrt_model *rm;
  ck_assert_msg(astrt_model_create(&reg.p, NULL, &rm) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(astrt_model_target_size(rm), 1);
  ck_assert_int_eq(astrt_model_classes(rm), 0);
  float fx[4] = {1, 0, 0, 1}, fy[2] = {0.5f, -1.5f};
  for (int i = 0; i < 200; i++) ck_assert_int_eq(astrt_model_train_step(rm, fx, fy, 2, 0, &res), ASTRT_OK);
  ck_assert_int_eq(astrt_model_evaluate(rm, fx, fy, 2, &loss, &acc), ASTRT_OK);
  ck_assert_msg(loss < 0.05, "regression loss %g", loss);
  ck_assert(isnan(acc));
  fy[1] = INFINITY;
  ck_assert_int_eq(astrt_model_train_step(rm, fx, fy, 2, 0, NULL), ASTRT_ERR_ARG);
  ck_assert_error_has("example 1 has the target inf; targets must be finite");
  astrt_model_destroy(rm);
}
END_TEST

START_TEST(test_sample_options) {
  astrt_options o;
  astrt_options_default(&o);
  ck_assert(o.temperature == 1 && o.sample == 0 && o.top_k == 0 && !o.prompt && !o.load_path);
  const char *a[] = {"prog", "--sample", "400", "--prompt", "The ", "--temperature=0.8", "--top-k", "40",
                     "--load", "w.safetensors"};
  ck_assert_int_eq(parse(&o, 10, a), 0);
  ck_assert_int_eq(o.sample, 400);
  ck_assert_str_eq(o.prompt, "The ");
  ck_assert(o.temperature == 0.8);
  ck_assert_int_eq(o.top_k, 40);
  ck_assert_str_eq(o.load_path, "w.safetensors");
  const char *b[] = {"prog", "--sample=1", "--prompt=", "--temperature", "0"};
  ck_assert_int_eq(parse(&o, 5, b), 0);
  ck_assert_str_eq(o.prompt, "");
  ck_assert(o.temperature == 0);
  static const char *const bad[][4] = {
      {"--sample", "0", NULL},          {"--sample", "x", NULL},        {"--sample", NULL, NULL},
      {"--sample=2", "--temperature=-1", NULL}, {"--sample=2", "--temperature=inf", NULL},
      {"--sample=2", "--top-k=-1", NULL}, {"--prompt=a", NULL, NULL},   {"--temperature=0.5", NULL, NULL},
      {"--top-k=3", NULL, NULL},        {"--load", NULL, NULL},         {"--load=", NULL, NULL},
      {"--load=a", "--init-from=b", NULL}, {"--load=a", "--save=b", NULL}, {"--load=a", "--checkpoint=d", NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *argv[5] = {"prog"};
    int argc = 1;
    for (int j = 0; j < 4 && bad[i][j]; j++) argv[argc++] = bad[i][j];
    ck_assert_msg(parse(&o, argc, argv) == -1, "accepted: %s %s", bad[i][0], bad[i][1] ? bad[i][1] : "");
  }
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

static Suite *driver_suite(void) {
  Suite *s = suite_create("driver");
  TCase *train = tcase_create("train");
  tcase_add_checked_fixture(train, fx_setup, fx_teardown);
  tcase_set_timeout(train, 120);
  tcase_add_test(train, test_learns);
  tcase_add_test(train, test_deterministic);
  tcase_add_test(train, test_threads_option);
  tcase_add_test(train, test_phase_switch);
  tcase_add_test(train, test_prefetch_identical);
  tcase_add_test(train, test_phase_clamped);
  tcase_add_test(train, test_epoch_order);
  tcase_add_test(train, test_eval_batch_largest);
  tcase_add_test(train, test_steps_budget);
  tcase_add_test(train, test_periodic_eval);
  tcase_add_test(train, test_stop_at_target);
  tcase_add_test(train, test_nan_loss);
  tcase_add_test(train, test_bad_program);
  tcase_add_test(train, test_main);
  tcase_add_test(train, test_main_log);
  tcase_add_test(train, test_threads_capped);
  suite_add_tcase(s, train);

  TCase *metrics = tcase_create("metrics");
  tcase_add_checked_fixture(metrics, fx_setup, fx_teardown);
  tcase_set_timeout(metrics, 60);
  tcase_add_test(metrics, test_metrics_file);
  tcase_add_test(metrics, test_metrics_errors);
  tcase_add_test(metrics, test_metrics_numbers);
  suite_add_tcase(s, metrics);

  TCase *robust = tcase_create("robust");
  tcase_add_checked_fixture(robust, fx_setup, fx_teardown);
  tcase_set_timeout(robust, 60);
  tcase_add_test(robust, test_nan_skip_step);
  suite_add_tcase(s, robust);

  TCase *seq = tcase_create("sequence");
  tcase_add_checked_fixture(seq, fx_setup, fx_teardown);
  tcase_set_timeout(seq, 120);
  tcase_add_test(seq, test_seq_train_windows);
  tcase_add_test(seq, test_seq_deterministic_threads);
#ifdef ASTRT_TEST_HOOKS  /* the child is killed by ASTRT_TEST_KILL_AT_STEP, a test hook */
  tcase_add_test(seq, test_seq_resume);
#endif
  tcase_add_test(seq, test_seq_eval_weighting);
  tcase_add_test(seq, test_seq_bits_per_byte);
  tcase_add_test(seq, test_seq_prefix_refused);
  tcase_add_test(seq, test_loss_goal);
  tcase_add_test(seq, test_real_targets);
  suite_add_tcase(s, seq);

  TCase *gen = tcase_create("generation");
  tcase_add_checked_fixture(gen, fx_setup, fx_teardown);
  tcase_set_timeout(gen, 120);
  tcase_add_test(gen, test_sample_greedy_window);
  tcase_add_test(gen, test_sample_seeded);
  tcase_add_test(gen, test_sample_option);
  tcase_add_test(gen, test_load);
  tcase_add_test(gen, test_model_api_typed);
  suite_add_tcase(s, gen);

  TCase *opts = tcase_create("options");
  tcase_add_test(opts, test_options_good);
  tcase_add_test(opts, test_options_bad);
  tcase_add_test(opts, test_sample_options);
  suite_add_tcase(s, opts);

  TCase *data = tcase_create("data");
  tcase_add_checked_fixture(data, fx_setup, fx_teardown);
  tcase_set_timeout(data, 60);
  tcase_add_test(data, test_csv_hold_out);
  tcase_add_test(data, test_data_mismatch);
  tcase_add_test(data, test_data_check_direct);
  tcase_add_test(data, test_npy_load);
  tcase_add_test(data, test_idx_data_dir);
  tcase_add_test(data, test_synthetic);
  tcase_add_test(data, test_batch_gather);
  tcase_add_test(data, test_batch_gather_pooled);
  tcase_add_test(data, test_gather_u8_isas);
  suite_add_tcase(s, data);

  TCase *ckpt = tcase_create("checkpoint");
  tcase_add_checked_fixture(ckpt, fx_setup, fx_teardown);
  tcase_set_timeout(ckpt, 60);
  tcase_add_test(ckpt, test_save);
  tcase_add_test(ckpt, test_init_from);
  tcase_add_test(ckpt, test_init_partial);
  tcase_add_test(ckpt, test_init_errors);
  tcase_add_test(ckpt, test_save_errors);
  tcase_add_test(ckpt, test_checkpoint_options);
  suite_add_tcase(s, ckpt);

  TCase *vars = tcase_create("vars");
  tcase_set_timeout(vars, 60);
  tcase_add_test(vars, test_vars_init);
  tcase_add_test(vars, test_normal_generator);
  suite_add_tcase(s, vars);

  TCase *ui = tcase_create("progress");
  tcase_add_test(ui, test_progress_format);
  tcase_add_test(ui, test_progress_lines);
  suite_add_tcase(s, ui);

  TCase *ops = tcase_create("ops");
  tcase_add_test(ops, test_dropout_mask);
  tcase_add_test(ops, test_count_correct);
  suite_add_tcase(s, ops);
  return s;
}

static Suite *devfull_suite(void) {
  Suite *s = suite_create("driver /dev/full");
  TCase *tc = tcase_create("devfull");
  tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_metrics_dev_full);
  tcase_add_test(tc, test_save_dev_full);
  suite_add_tcase(s, tc);
  return s;
}

static Suite *fashion_suite(void) {
  Suite *s = suite_create("driver fashion-mnist");
  TCase *real = tcase_create("fashion-mnist");
  tcase_set_timeout(real, 300);
  tcase_add_test(real, test_fashion_mnist);
  suite_add_tcase(s, real);
  return s;
}

/* the tests of the runtime's test hooks (ASTRT_TEST_HOOKS) */
static Suite *hooks_suite(void) {
  Suite *s = suite_create("driver hooks");
  TCase *hooks = tcase_create("hooks");
  tcase_add_checked_fixture(hooks, fx_setup, fx_teardown);
  tcase_set_timeout(hooks, 60);
#ifdef ASTRT_TEST_HOOKS
  tcase_add_test(hooks, test_save_disk_full);
  tcase_add_test(hooks, test_memory_refused);
  tcase_add_test(hooks, test_metrics_disk_full);
#endif
  suite_add_tcase(s, hooks);
  return s;
}

int main(int argc, char **argv) {
  static const FxExtra extra[] = {
      {"devfull", devfull_suite, fx_missing_dev_full},
      {"fashion_mnist", fashion_suite, fx_missing_fashion_mnist},
      {"hooks", hooks_suite, fx_missing_test_hooks},
  };
  return fx_main(argc, argv, driver_suite, extra, 3);
}
