/* main.c — an application that trains and uses a model compiled by astc.
 *
 * `astc build model.train --lib -o DIR` gave DIR/libmodel.a (the compiled
 * training program) and DIR/model.h (model_create, MODEL_INPUT_SIZE, ...);
 * the runtime API is <astrt_model.h>. This program:
 *
 *   1. makes an in-memory data set: three clusters of points in the plane;
 *   2. trains model A one step at a time (astrt_model_train_step);
 *   3. trains model B with the runtime's training loop (astrt_model_train),
 *      reading the training set through a fetch callback and the test set
 *      from an in-memory astrt_split;
 *   4. predicts, evaluates, reads a parameter by name;
 *   5. saves model B, loads the file into a fresh model C and checks that
 *      C's predictions are bit-identical to B's.
 *
 * Usage: embed [FILE.safetensors]   (default: embed_model.safetensors)
 * Exits 1, with the runtime's message, on any failure or when a model's
 * test accuracy is below 95%.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <astrt_kernels.h> /* astrt_blas_reexec_if_needed */
#include <astrt_model.h>

#include "model.h"

/* make_clusters below draws 2-D points of 3 classes */
_Static_assert(MODEL_INPUT_SIZE == 2 && MODEL_CLASSES == 3, "model.train: 2 features, 3 classes");

#define MIN_ACCURACY 0.95
#define TRAIN_N 3000
#define TEST_N 600

/* Stops the program when an astrt_ call fails. */
#define CHECK(call)                                                                     \
  do {                                                                                  \
    astrt_status st_ = (call);                                                          \
    if (st_ != ASTRT_OK) {                                                              \
      fprintf(stderr, "embed: %s failed (status %d): %s\n", #call, (int)st_,            \
              astrt_last_error());                                                      \
      exit(1);                                                                          \
    }                                                                                   \
  } while (0)

static void fail(const char *what) {
  fprintf(stderr, "embed: %s\n", what);
  exit(1);
}

/* ---- the data: three Gaussian clusters, deterministic ------------------------ */

typedef struct dataset {
  int64_t n;
  float *x;   /* [n, MODEL_INPUT_SIZE] */
  int32_t *y; /* [n] */
} dataset;

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return ((double)(splitmix64(s) >> 11) + 0.5) / 9007199254740992.0; }

static double gaussian(uint64_t *s) {
  return sqrt(-2.0 * log(uniform01(s))) * cos(6.283185307179586 * uniform01(s));
}

/* Points around (2, 2), (8, 2) and (5, 8) with standard deviation 1.2:
 * data values in about [0, 10], as model.train's normalisation expects. */
static dataset make_clusters(int64_t n, uint64_t seed) {
  static const double centre[3][2] = {{2, 2}, {8, 2}, {5, 8}};
  dataset d = {n, malloc(sizeof(float) * (size_t)(n * MODEL_INPUT_SIZE)), malloc(sizeof(int32_t) * (size_t)n)};
  if (!d.x || !d.y) fail("out of memory");
  for (int64_t i = 0; i < n; i++) {
    int32_t c = (int32_t)(splitmix64(&seed) % MODEL_CLASSES);
    d.y[i] = c;
    for (int k = 0; k < MODEL_INPUT_SIZE; k++)
      d.x[i * MODEL_INPUT_SIZE + k] = (float)(centre[c][k] + 1.2 * gaussian(&seed));
  }
  return d;
}

static void free_dataset(dataset *d) {
  free(d->x);
  free(d->y);
}

/* astrt_fetch_fn: copies the examples the runtime asks for (one batch, in
 * the epoch's shuffled order) out of the application's arrays. */
static astrt_status fetch_examples(void *ctx, const int64_t *index, int64_t rows, float *x, int32_t *y) {
  const dataset *d = ctx;
  for (int64_t r = 0; r < rows; r++) {
    int64_t i = index[r];
    if (i < 0 || i >= d->n) return astrt_fail(ASTRT_ERR_ARG, "fetch: example %lld out of range", (long long)i);
    memcpy(x + r * MODEL_INPUT_SIZE, d->x + i * MODEL_INPUT_SIZE, sizeof(float) * MODEL_INPUT_SIZE);
    y[r] = d->y[i];
  }
  return ASTRT_OK;
}

/* The same examples as an in-memory split: a view of the arrays (F32 data
 * values, I32 labels); nothing is copied. */
static astrt_split as_split(const dataset *d) {
  astrt_split s;
  astrt_split_view_f32(&s, d->x, d->y, d->n, MODEL_INPUT_SIZE, MODEL_CLASSES);
  return s;
}

/* Fraction of rows whose largest output is at the label. */
static double accuracy_of(const float *out, const int32_t *y, int64_t rows) {
  int64_t correct = 0;
  for (int64_t i = 0; i < rows; i++) {
    const float *o = out + i * MODEL_OUTPUT_SIZE;
    int best = 0;
    for (int k = 1; k < MODEL_OUTPUT_SIZE; k++)
      if (o[k] > o[best]) best = k;
    correct += best == y[i];
  }
  return (double)correct / (double)rows;
}

/* ---- 2. one step at a time ------------------------------------------------- */

static void train_by_steps(astrt_model *m, const dataset *train, int epochs) {
  int64_t *perm = malloc(sizeof(int64_t) * (size_t)train->n);
  float *x = malloc(sizeof(float) * (size_t)(MODEL_BATCH * MODEL_INPUT_SIZE));
  int32_t *y = malloc(sizeof(int32_t) * (size_t)MODEL_BATCH);
  if (!perm || !x || !y) fail("out of memory");
  for (int e = 0; e < epochs; e++) {
    astrt_shuffle(perm, train->n, 42, e); /* the runtime's deterministic shuffle */
    double loss_sum = 0;
    int64_t steps = 0;
    for (int64_t first = 0, rows; first < train->n; first += rows) {
      /* progress in [0, 1): picks the training phase, drives the lr schedule */
      double t = (double)(e * train->n + first) / (double)(epochs * train->n);
      rows = astrt_model_batch_at(m, t);
      if (rows > MODEL_BATCH) rows = MODEL_BATCH;
      if (rows > train->n - first) rows = train->n - first;
      CHECK(fetch_examples((void *)train, perm + first, rows, x, y));
      astrt_step_result r;
      CHECK(astrt_model_train_step(m, x, y, rows, t, &r));
      loss_sum += r.loss;
      steps++;
    }
    printf("  A: epoch %d, mean training loss %.4f\n", e + 1, loss_sum / (double)steps);
  }
  free(perm);
  free(x);
  free(y);
}

int main(int argc, char **argv) {
  /* First thing: on CPUs this OpenBLAS misdetects, re-run with the right
   * kernels (may re-execute the process once). */
  astrt_blas_reexec_if_needed(argv);
  const char *save_path = argc > 1 ? argv[1] : "embed_model.safetensors";

  dataset train = make_clusters(TRAIN_N, 1), test = make_clusters(TEST_N, 2);

  /* ---- 2. model A, trained one step at a time ---- */
  astrt_model *a = NULL;
  CHECK(model_create(NULL, &a)); /* NULL: the program's seed */
  if (astrt_model_input_size(a) != MODEL_INPUT_SIZE || astrt_model_output_size(a) != MODEL_OUTPUT_SIZE ||
      astrt_model_classes(a) != MODEL_CLASSES)
    fail("model.h and the compiled program disagree");
  printf("model %s: %d variables, batch %lld\n", astrt_model_program(a)->name, astrt_model_var_count(a),
         (long long)astrt_model_batch_at(a, 0.0));
  train_by_steps(a, &train, 3);
  double loss_a, acc_a;
  CHECK(astrt_model_evaluate(a, test.x, test.y, test.n, &loss_a, &acc_a));
  printf("  A: %lld steps, test loss %.4f, accuracy %.2f%%\n", (long long)astrt_model_steps(a), loss_a,
         100 * acc_a);

  /* ---- 3. model B, trained by the runtime's loop ---- */
  astrt_model_options mo;
  astrt_model_options_default(&mo);
  mo.seed = 1234;
  mo.has_seed = 1;
  astrt_model *b = NULL;
  CHECK(model_create(&mo, &b));
  astrt_data_source train_src = {train.n, fetch_examples, &train, NULL}; /* through the callback */
  astrt_split test_split = as_split(&test);
  astrt_data_source test_src = {test.n, NULL, NULL, &test_split}; /* straight from memory */
  astrt_options opt;
  astrt_options_default(&opt);
  opt.quiet = 1;
  opt.threads = 1; /* a tiny model: one OpenBLAS thread is fastest */
  astrt_result res;
  CHECK(astrt_model_train(b, &train_src, &test_src, &opt, &res));
  printf("  B: %lld steps in %lld epochs, test accuracy %.2f%% (best %.2f%%)\n", (long long)res.steps,
         (long long)res.epochs_done, 100 * res.final_test_accuracy, 100 * res.best_test_accuracy);

  /* ---- 4. predict, evaluate, read a parameter ---- */
  float *pred_b = malloc(sizeof(float) * (size_t)(test.n * MODEL_OUTPUT_SIZE));
  float *pred_c = malloc(sizeof(float) * (size_t)(test.n * MODEL_OUTPUT_SIZE));
  if (!pred_b || !pred_c) fail("out of memory");
  CHECK(astrt_model_predict(b, test.x, test.n, pred_b));
  double loss_b, acc_b;
  CHECK(astrt_model_evaluate(b, test.x, test.y, test.n, &loss_b, &acc_b));
  double acc_pred = accuracy_of(pred_b, test.y, test.n);
  printf("  B: test loss %.4f, accuracy %.2f%% (from its predictions: %.2f%%)\n", loss_b, 100 * acc_b,
         100 * acc_pred);
  if (fabs(acc_pred - acc_b) > 1e-9) fail("predict and evaluate disagree on B's accuracy");
  /* the training loop's last evaluation saw the same model and test set */
  if (fabs(res.final_test_accuracy - acc_b) > 1e-9)
    fail("astrt_model_train's final test accuracy differs from astrt_model_evaluate's on the same test set");

  const astrt_var_desc *w = astrt_model_find_var(b, "hidden.w");
  if (!w) fail("no variable hidden.w");
  float *wv = malloc(sizeof(float) * (size_t)w->numel);
  if (!wv) fail("out of memory");
  CHECK(astrt_model_get(b, "hidden.w", wv, w->numel));
  double norm = 0;
  for (int64_t i = 0; i < w->numel; i++) norm += (double)wv[i] * wv[i];
  printf("  B: hidden.w is [%lld, %lld], norm %.4f\n", (long long)w->dims[0], (long long)w->dims[1], sqrt(norm));

  /* ---- 5. save B, load into C, compare bit for bit ---- */
  CHECK(astrt_model_save(b, save_path));
  mo.seed = 99; /* C starts different from B ... */
  astrt_model *c = NULL;
  CHECK(model_create(&mo, &c));
  CHECK(astrt_model_load(c, save_path)); /* ... until it loads B's variables */
  CHECK(astrt_model_predict(c, test.x, test.n, pred_c));
  if (memcmp(pred_b, pred_c, sizeof(float) * (size_t)(test.n * MODEL_OUTPUT_SIZE)) != 0)
    fail("the reloaded model's predictions differ from the saved model's");
  if (astrt_model_steps(c) != astrt_model_steps(b)) fail("the reloaded model's step counter differs");
  printf("  C: loaded %s, predictions bit-identical to B's\n", save_path);

  int ok = acc_a >= MIN_ACCURACY && acc_b >= MIN_ACCURACY;
  if (!ok) fprintf(stderr, "embed: test accuracy below %.0f%%\n", 100 * MIN_ACCURACY);

  astrt_model_destroy(a);
  astrt_model_destroy(b);
  astrt_model_destroy(c);
  free(pred_b);
  free(pred_c);
  free(wv);
  free_dataset(&train);
  free_dataset(&test);
  if (ok) printf("embed: ok\n");
  return ok ? 0 : 1;
}
