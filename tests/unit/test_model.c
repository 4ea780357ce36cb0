/* test_model.c — the embedding API (runtime/include/astrt/astrt_model.h) on JIT-compiled
 * programs:
 *   - astrt_model_train on an in-memory split, and on a fetch callback over
 *     the same examples, ends bit-identical to astrt_train (the executable's
 *     loop on the program's own data);
 *   - a hand-written loop of astrt_model_train_step calls, following the
 *     driver's documented order (astrt_shuffle per epoch, progress t =
 *     samples / total), ends bit-identical too, with a schedule and phases
 *     (batch ramp), and close with a reused frozen prefix (whose features
 *     the step computes per batch instead of once per phase);
 *   - predict agrees with evaluate and with itself across chunk sizes;
 *   - variables by name, save and load (predictions bit-identical after a
 *     reload), and the errors of bad arguments;
 *   - two different models trained at once in two threads, each on a pool of
 *     two threads, end bit-identical to each trained alone.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrt_model.h"
#include "driver_internal.h"
#include "test_util.h"

/* A batch-ramp program with a cosine schedule and AdamW: 3 phases. */
static const char *ramp_src =
    "import nn\n"
    "data blobs = synthetic(shape: [12], classes: 3, train: 300, test: 90, seed: 7)\n"
    "model mlp(x: f32[B, 12]) -> f32[B, 3] {\n"
    "  h = relu(nn.dense(x, 16))\n"
    "  return nn.dense(nn.dropout(h, 0.1), 3)\n"
    "}\n"
    "train mlp on blobs {\n"
    "  loss = cross_entropy()\n  optimizer = adamw(lr: 0.01, weight_decay: 0.01)\n"
    "  lr = cosine(warmup: 0.1)\n  batch = 16\n  epochs = 3\n  seed = 11\n  eval_batch = 40\n"
    "}\n"
    "speedup {\n  batch ramp(16 -> 48, until: 0.5, increment: 16, lr_scale: sqrt)\n}\n";

/* A freeze recipe whose last phase reuses the frozen prefix. */
static const char *freeze_src =
    "import nn\n"
    "data blobs = synthetic(shape: [12], classes: 3, train: 300, test: 90, seed: 7)\n"
    "model mlp(x: f32[B, 12]) -> f32[B, 3] {\n"
    "  h = relu(nn.dense(x, 16))\n"
    "  h = relu(nn.dense(h, 8))\n"
    "  return nn.dense(h, 3)\n"
    "}\n"
    "train mlp on blobs {\n"
    "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05, momentum: 0.9)\n"
    "  batch = 20\n  epochs = 4\n  seed = 3\n"
    "}\n"
    "speedup {\n  freeze at(dense_1: 0.5)\n}\n";  /* two epochs from the cache: it pays back */

typedef struct Prog {
  Compilation comp;
  CgJit *jit;
  const astrt_program *d;
  astrt_split train, test;
} Prog;

static void prog_init(Prog *g, const char *src, const char *name) {
  memset(g, 0, sizeof *g);
  ck_assert_msg(tu_compile(src, name, &g->comp), "%s does not compile", name);
  g->jit = cg_jit_compile(g->comp.prog, &g->d);
  ck_assert(g->jit);
  ck_assert_int_eq(astrt_data_synthetic(&g->d->data, 1, &g->train), ASTRT_OK);
  ck_assert_int_eq(astrt_data_synthetic(&g->d->data, 0, &g->test), ASTRT_OK);
}

static void prog_free(Prog *g) {
  astrt_split_free(&g->train);
  astrt_split_free(&g->test);
  cg_jit_free(g->jit);
  compilation_free(&g->comp);
  src_reset();
}

static astrt_model *new_model(const Prog *g) {
  astrt_model *m = NULL;
  ck_assert_msg(astrt_model_create(g->d, NULL, &m) == ASTRT_OK, "%s", astrt_last_error());
  return m;
}

/* every variable of m equals the file's (written by --save) bit for bit */
static void assert_vars_equal_file(const astrt_model *m, const Prog *g, const char *path, const char *what) {
  astrt_model *ref = new_model(g);
  ck_assert_msg(astrt_model_load(ref, path) == ASTRT_OK, "%s", astrt_last_error());
  for (int i = 0; i < astrt_model_var_count(m); i++) {
    const astrt_var_desc *v = astrt_model_var(m, i);
    float *a = malloc((size_t)v->numel * sizeof *a), *b = malloc((size_t)v->numel * sizeof *b);
    ck_assert_int_eq(astrt_model_get(m, v->name, a, v->numel), ASTRT_OK);
    ck_assert_int_eq(astrt_model_get(ref, v->name, b, v->numel), ASTRT_OK);
    ck_assert_msg(memcmp(a, b, (size_t)v->numel * sizeof *a) == 0, "%s: %s differs", what, v->name);
    free(a);
    free(b);
  }
  astrt_model_destroy(ref);
}

/* the reference: the executable's driver, saving its variables */
static void reference_run(const Prog *g, const char *path) {
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  o.save_path = path;
  astrt_result r;
  ck_assert_msg(astrt_train(g->d, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
}

static astrt_status fetch_split(void *ctx, const int64_t *index, int64_t rows, float *x, int32_t *y) {
  const astrt_split *s = ctx;
  int64_t size = astrt_array_example_size(&s->x);
  const float *src = s->x.data;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t j = 0; j < size; j++) x[r * size + j] = src[index[r] * size + j] * s->x.scale + s->x.shift;
    y[r] = ((const int32_t *)s->y.data)[index[r]];
  }
  return ASTRT_OK;
}

static char ref_path[128], got_path[128];

static void set_paths(const char *tag) {
  snprintf(ref_path, sizeof ref_path, "/tmp/astc_model_%d_%s_ref.safetensors", (int)getpid(), tag);
  snprintf(got_path, sizeof got_path, "/tmp/astc_model_%d_%s_got.safetensors", (int)getpid(), tag);
}

/* the input rows of the test split as data values */
static float *test_features(const Prog *g) {
  int64_t n = g->test.x.n, size = g->d->data.example_size;
  int64_t *all = malloc((size_t)n * sizeof *all);
  for (int64_t i = 0; i < n; i++) all[i] = i;
  float *x = malloc((size_t)(n * size) * sizeof *x);
  int32_t *y = malloc((size_t)n * sizeof *y);
  fetch_split((void *)&g->test, all, n, x, y);
  free(all);
  free(y);
  return x;
}

START_TEST(train_loop_matches_driver) {
  Prog g;
  prog_init(&g, ramp_src, "ramp");
  ck_assert_int_eq(g.d->nphases, 3);
  set_paths("loop");
  reference_run(&g, ref_path);
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  /* an in-memory split */
  astrt_model *m = new_model(&g);
  astrt_data_source train = {g.train.x.n, NULL, NULL, &g.train}, test = {g.test.x.n, NULL, NULL, &g.test};
  astrt_result r;
  ck_assert_msg(astrt_model_train(m, &train, &test, &o, &r) == ASTRT_OK, "%s", astrt_last_error());
  assert_vars_equal_file(m, &g, ref_path, "split source");
  ck_assert_int_eq(astrt_model_steps(m), r.steps);
  ck_assert(r.final_test_accuracy > 0.5);
  /* the reported accuracy is the test split's */
  float *tx = test_features(&g);
  double loss, acc;
  ck_assert_int_eq(astrt_model_evaluate(m, tx, g.test.y.data, g.test.x.n, &loss, &acc), ASTRT_OK);
  ck_assert_msg(acc == r.final_test_accuracy && loss == r.final_test_loss, "evaluate %g %g, train's %g %g", acc,
                loss, r.final_test_accuracy, r.final_test_loss);
  free(tx);
  astrt_model_destroy(m);
  /* a fetch callback over the same examples, without test data */
  m = new_model(&g);
  astrt_data_source cb = {g.train.x.n, fetch_split, &g.train, NULL};
  ck_assert_msg(astrt_model_train(m, &cb, NULL, &o, NULL) == ASTRT_OK, "%s", astrt_last_error());
  assert_vars_equal_file(m, &g, ref_path, "fetch source");
  astrt_model_destroy(m);
  /* a view of the application's arrays */
  ck_assert(g.train.x.elem == ASTRT_ELEM_F32 && g.train.x.scale == 1.0f && g.train.x.shift == 0.0f);
  astrt_split view;
  astrt_split_view_f32(&view, g.train.x.data, g.train.y.data, g.train.x.n, 12, 3);
  m = new_model(&g);
  astrt_data_source vs = {view.x.n, NULL, NULL, &view};
  ck_assert_msg(astrt_model_train(m, &vs, NULL, &o, NULL) == ASTRT_OK, "%s", astrt_last_error());
  assert_vars_equal_file(m, &g, ref_path, "array view");
  astrt_model_destroy(m);
  remove(ref_path);
  prog_free(&g);
}
END_TEST

/* The driver's loop, by hand: epoch order astrt_shuffle(n, seed, epoch),
 * batches of astrt_model_batch_at(t) (the last of an epoch partial),
 * t = samples / (epochs x n). */
static void hand_loop(astrt_model *m, const Prog *g, double *max_loss) {
  const astrt_program *d = g->d;
  int64_t n = g->train.x.n, size = d->data.example_size, total = d->epochs * n, samples = 0;
  int64_t *perm = malloc((size_t)n * sizeof *perm);
  float *x = malloc((size_t)(n * size) * sizeof *x);
  int32_t *y = malloc((size_t)n * sizeof *y);
  *max_loss = 0;
  for (int64_t e = 0; e < d->epochs; e++) {
    astrt_shuffle(perm, n, d->seed, e);
    for (int64_t pos = 0; pos < n;) {
      double t = (double)samples / (double)total;
      int64_t rows = astrt_model_batch_at(m, t);
      if (rows > n - pos) rows = n - pos;
      ck_assert_int_eq(fetch_split((void *)&g->train, perm + pos, rows, x, y), ASTRT_OK);
      astrt_step_result s;
      ck_assert_msg(astrt_model_train_step(m, x, y, rows, t, &s) == ASTRT_OK, "%s", astrt_last_error());
      ck_assert(isfinite(s.loss) && s.correct >= 0 && s.correct <= rows && !s.skipped);
      if (s.loss > *max_loss) *max_loss = s.loss;
      pos += rows;
      samples += rows;
    }
  }
  free(perm);
  free(x);
  free(y);
}

START_TEST(train_steps_match_driver) {
  Prog g;
  prog_init(&g, ramp_src, "steps");
  set_paths("steps");
  reference_run(&g, ref_path);
  astrt_model *m = new_model(&g);
  ck_assert_int_eq(astrt_model_batch_at(m, 0), 16);
  ck_assert_int_eq(astrt_model_batch_at(m, 0.99), 48);
  double max_loss;
  hand_loop(m, &g, &max_loss);
  assert_vars_equal_file(m, &g, ref_path, "train_step loop");
  astrt_model_destroy(m);
  remove(ref_path);
  prog_free(&g);
}
END_TEST

/* A program without dropout (the training forward is the evaluation's),
 * micro-batched from t = 0.5 on (6 rows at a time, in batches of 20). */
static const char *plain_src =
    "import nn\n"
    "data blobs = synthetic(shape: [12], classes: 3, train: 300, test: 90, seed: 7)\n"
    "model mlp(x: f32[B, 12]) -> f32[B, 3] {\n"
    "  return nn.dense(relu(nn.dense(x, 16)), 3)\n"
    "}\n"
    "train mlp on blobs {\n"
    "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05, momentum: 0.9)\n"
    "  batch = 20\n  epochs = 2\n  seed = 5\n"
    "}\n"
    "speedup {\n  batch steps(at: [0.5], factor: 1, micro: 6)\n}\n";

/* astrt_step_result.correct: the rows of the batch whose largest output, in
 * the step's forward pass (before its update), is at the label; summed, not
 * weighted, over micro-batches */
START_TEST(train_step_counts_correct) {
  Prog g;
  prog_init(&g, plain_src, "correct");
  astrt_model *m = new_model(&g);
  const astrt_program *d = g.d;
  int64_t n = g.train.x.n, size = d->data.example_size, k = d->data.classes, total = d->epochs * n, samples = 0;
  int64_t *perm = malloc((size_t)n * sizeof *perm);
  float *x = malloc((size_t)(n * size) * sizeof *x), *out = malloc((size_t)(n * k) * sizeof *out);
  int32_t *y = malloc((size_t)n * sizeof *y);
  int64_t sum = 0;
  int micro = 0;
  for (int i = 0; i < g.comp.prog->phases.len; i++) micro |= g.comp.prog->phases.data[i].micro == 6;
  ck_assert_msg(micro, "the program has no micro-batched phase");
  for (int64_t e = 0; e < d->epochs; e++) {
    astrt_shuffle(perm, n, d->seed, e);
    for (int64_t pos = 0; pos < n;) {
      double t = (double)samples / (double)total;
      int64_t rows = astrt_model_batch_at(m, t);
      if (rows > n - pos) rows = n - pos;
      ck_assert_int_eq(fetch_split((void *)&g.train, perm + pos, rows, x, y), ASTRT_OK);
      ck_assert_int_eq(astrt_model_predict(m, x, rows, out), ASTRT_OK);
      int64_t want = 0;
      for (int64_t r = 0; r < rows; r++) {
        int64_t best = 0;
        for (int64_t c = 1; c < k; c++)
          if (out[r * k + c] > out[r * k + best]) best = c;
        want += best == y[r];
      }
      astrt_step_result s;
      ck_assert_msg(astrt_model_train_step(m, x, y, rows, t, &s) == ASTRT_OK, "%s", astrt_last_error());
      ck_assert_msg(s.correct == want, "step at t = %g (%lld rows): correct %lld, the forward pass says %lld", t,
                    (long long)rows, (long long)s.correct, (long long)want);
      sum += s.correct;
      pos += rows;
      samples += rows;
    }
  }
  ck_assert_msg(sum > total / 2, "%lld of %lld rows correct while training", (long long)sum, (long long)total);
  free(perm);
  free(x);
  free(out);
  free(y);
  astrt_model_destroy(m);
  prog_free(&g);
}
END_TEST

START_TEST(train_steps_with_reused_prefix) {
  Prog g;
  prog_init(&g, freeze_src, "prefix");
  int reused = 0;
  for (uint32_t i = 0; i < g.d->nphases; i++) reused += g.d->phases[i].prefix != NULL;
  ck_assert_msg(reused > 0, "the freeze recipe has no phase reusing its prefix");
  set_paths("prefix");
  reference_run(&g, ref_path);
  astrt_model *m = new_model(&g), *ref = new_model(&g);
  double max_loss;
  hand_loop(m, &g, &max_loss);
  ck_assert_int_eq(astrt_model_load(ref, ref_path), ASTRT_OK);
  /* the prefix runs per batch here and per chunk of examples in the driver:
   * the same arithmetic up to the GEMM's blocking */
  for (int i = 0; i < astrt_model_var_count(m); i++) {
    const astrt_var_desc *v = astrt_model_var(m, i);
    float *a = malloc((size_t)v->numel * sizeof *a), *b = malloc((size_t)v->numel * sizeof *b);
    astrt_model_get(m, v->name, a, v->numel);
    astrt_model_get(ref, v->name, b, v->numel);
    for (int64_t k = 0; k < v->numel; k++)
      ck_assert_msg(fabsf(a[k] - b[k]) <= 1e-4f * fmaxf(1, fabsf(b[k])), "%s[%lld]: %g vs %g", v->name,
                    (long long)k, a[k], b[k]);
    free(a);
    free(b);
  }
  astrt_model_destroy(m);
  astrt_model_destroy(ref);
  remove(ref_path);
  prog_free(&g);
}
END_TEST

START_TEST(predict_agrees_with_evaluate) {
  Prog g;
  prog_init(&g, ramp_src, "predict");
  astrt_model *m = new_model(&g);
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  astrt_data_source train = {g.train.x.n, NULL, NULL, &g.train};
  ck_assert_int_eq(astrt_model_train(m, &train, NULL, &o, NULL), ASTRT_OK);
  int64_t n = g.test.x.n, k = astrt_model_output_size(m);
  ck_assert_int_eq(k, 3);
  ck_assert_int_eq(astrt_model_input_size(m), 12);
  float *x = test_features(&g), *all = malloc((size_t)(n * k) * sizeof *all), one[3];
  const int32_t *y = g.test.y.data;
  ck_assert_int_eq(astrt_model_predict(m, x, n, all), ASTRT_OK);  /* 90 rows: chunks of 40 */
  int64_t correct = 0;
  for (int64_t i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < k; c++) best = all[i * k + c] > all[i * k + best] ? c : best;
    correct += best == y[i];
    ck_assert_int_eq(astrt_model_predict(m, x + i * 12, 1, one), ASTRT_OK);
    for (int c = 0; c < k; c++) ck_assert_msg(fabsf(one[c] - all[i * k + c]) <= 1e-5f, "row %lld", (long long)i);
  }
  double loss, acc;
  ck_assert_int_eq(astrt_model_evaluate(m, x, y, n, &loss, &acc), ASTRT_OK);
  ck_assert(isfinite(loss) && loss > 0);
  ck_assert_msg(fabs(acc - (double)correct / (double)n) < 1e-12, "evaluate %g, predict %g", acc,
                (double)correct / (double)n);
  ck_assert(acc > 0.5);
  ck_assert_int_eq(astrt_model_predict(m, x, 0, all), ASTRT_OK);
  free(x);
  free(all);
  astrt_model_destroy(m);
  prog_free(&g);
}
END_TEST

START_TEST(variables_save_and_load) {
  Prog g;
  prog_init(&g, ramp_src, "vars");
  astrt_model *a = new_model(&g), *b = new_model(&g);
  ck_assert_int_eq(astrt_model_var_count(a), (int)g.d->nvars);
  const astrt_var_desc *w = astrt_model_find_var(a, "dense_1.w");
  ck_assert(w && w->numel == 12 * 16 && w->rank == 2 && w->kind == ASTRT_VAR_PARAM);
  ck_assert(astrt_model_find_var(a, "nope") == NULL);
  ck_assert(astrt_model_var(a, -1) == NULL && astrt_model_var(a, (int)g.d->nvars) == NULL);
  float buf[12 * 16];
  ck_assert_int_eq(astrt_model_get(a, "dense_1.w", buf, 12 * 16), ASTRT_OK);
  for (int i = 0; i < 12 * 16; i++) buf[i] = (float)i / 100.0f;
  ck_assert_int_eq(astrt_model_set(a, "dense_1.w", buf, 12 * 16), ASTRT_OK);
  float back[12 * 16];
  ck_assert_int_eq(astrt_model_get(a, "dense_1.w", back, 12 * 16), ASTRT_OK);
  ck_assert(memcmp(buf, back, sizeof buf) == 0);
  ck_assert_int_eq(astrt_model_get(a, "dense_9.w", back, 1), ASTRT_ERR_NOTFOUND);
  ck_assert_msg(strstr(astrt_last_error(), "dense_1.w"), "%s", astrt_last_error());
  ck_assert_int_eq(astrt_model_set(a, "dense_1.w", buf, 7), ASTRT_ERR_MISMATCH);
  /* a few steps, save, reload into b: same predictions, same step count */
  float x[16 * 12];
  int32_t y[16];
  for (int i = 0; i < 16 * 12; i++) x[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
  for (int i = 0; i < 16; i++) y[i] = i % 3;
  for (int s = 0; s < 5; s++) ck_assert_int_eq(astrt_model_train_step(a, x, y, 16, 0.01 * s, NULL), ASTRT_OK);
  ck_assert_int_eq(astrt_model_steps(a), 5);
  set_paths("vars");
  ck_assert_msg(astrt_model_save(a, got_path) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_msg(astrt_model_load(b, got_path) == ASTRT_OK, "%s", astrt_last_error());
  ck_assert_int_eq(astrt_model_steps(b), 5);
  float pa[16 * 3], pb[16 * 3];
  ck_assert_int_eq(astrt_model_predict(a, x, 16, pa), ASTRT_OK);
  ck_assert_int_eq(astrt_model_predict(b, x, 16, pb), ASTRT_OK);
  ck_assert(memcmp(pa, pb, sizeof pa) == 0);
  /* the next step is the same on both */
  ck_assert_int_eq(astrt_model_train_step(a, x, y, 16, 0.1, NULL), ASTRT_OK);
  ck_assert_int_eq(astrt_model_train_step(b, x, y, 16, 0.1, NULL), ASTRT_OK);
  ck_assert_int_eq(astrt_model_get(a, "dense_1.w", buf, 12 * 16), ASTRT_OK);
  ck_assert_int_eq(astrt_model_get(b, "dense_1.w", back, 12 * 16), ASTRT_OK);
  ck_assert(memcmp(buf, back, sizeof buf) == 0);
  /* a failed load changes nothing */
  ck_assert_int_eq(astrt_model_load(b, "/nonexistent/x.safetensors"), ASTRT_ERR_NOTFOUND);
  ck_assert_int_eq(astrt_model_steps(b), 6);
  remove(got_path);
  astrt_model_destroy(a);
  astrt_model_destroy(b);
  prog_free(&g);
}
END_TEST

static astrt_status failing_fetch(void *ctx, const int64_t *index, int64_t rows, float *x, int32_t *y) {
  (void)ctx, (void)index, (void)rows, (void)x, (void)y;
  return astrt_fail(ASTRT_ERR_IO, "the application's data went away");
}

static astrt_status bad_label_fetch(void *ctx, const int64_t *index, int64_t rows, float *x, int32_t *y) {
  astrt_status st = fetch_split(ctx, index, rows, x, y);
  y[rows - 1] = 3;
  return st;
}

START_TEST(bad_arguments) {
  Prog g;
  prog_init(&g, ramp_src, "bad");
  astrt_model *m = new_model(&g);
  float x[49 * 12] = {0};
  int32_t y[49] = {0};
  ck_assert_int_eq(astrt_model_train_step(m, x, y, 17, 0, NULL), ASTRT_ERR_ARG);  /* phase 1: 16 rows */
  ck_assert_msg(strstr(astrt_last_error(), "1 to 16 rows"), "%s", astrt_last_error());
  ck_assert_int_eq(astrt_model_train_step(m, x, y, 48, 0.9, NULL), ASTRT_OK);
  ck_assert_int_eq(astrt_model_train_step(m, x, y, 0, 0.9, NULL), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_model_train_step(m, x, y, 4, 1.5, NULL), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_model_train_step(m, x, y, 4, NAN, NULL), ASTRT_ERR_ARG);
  y[2] = 3;
  ck_assert_int_eq(astrt_model_train_step(m, x, y, 4, 0, NULL), ASTRT_ERR_ARG);
  ck_assert_msg(strstr(astrt_last_error(), "label 3"), "%s", astrt_last_error());
  ck_assert_int_eq(astrt_model_evaluate(m, x, y, 4, NULL, NULL), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_model_steps(m), 1);
  ck_assert_int_eq(astrt_model_predict(m, x, -1, NULL), ASTRT_ERR_ARG);
  /* data sources: a failing fetch stops training with its message */
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  astrt_data_source fail = {100, failing_fetch, NULL, NULL};
  ck_assert_int_eq(astrt_model_train(m, &fail, NULL, &o, NULL), ASTRT_ERR_IO);
  ck_assert_msg(strstr(astrt_last_error(), "went away"), "%s", astrt_last_error());
  astrt_data_source bad = {g.train.x.n, bad_label_fetch, &g.train, NULL};
  ck_assert_int_eq(astrt_model_train(m, &bad, NULL, &o, NULL), ASTRT_ERR_ARG);
  astrt_data_source empty = {0, NULL, NULL, &g.train};
  ck_assert_int_eq(astrt_model_train(m, &empty, NULL, &o, NULL), ASTRT_ERR_ARG);
  ck_assert_int_eq(astrt_model_train(m, NULL, NULL, &o, NULL), ASTRT_ERR_ARG);
  /* a split of the wrong example size */
  astrt_split wrong;
  astrt_data_desc other = g.d->data;
  other.dims[0] = 5, other.example_size = 5;
  ck_assert_int_eq(astrt_data_synthetic(&other, 1, &wrong), ASTRT_OK);
  astrt_data_source ws = {wrong.x.n, NULL, NULL, &wrong};
  ck_assert_int_eq(astrt_model_train(m, &ws, NULL, &o, NULL), ASTRT_ERR_MISMATCH);
  astrt_split_free(&wrong);
  /* another runtime ABI */
  astrt_program old = *g.d;
  old.abi_version = 1;
  astrt_model *none = (astrt_model *)1;
  ck_assert_int_eq(astrt_model_create(&old, NULL, &none), ASTRT_ERR_MISMATCH);
  ck_assert(none == NULL);
  astrt_model_destroy(NULL);
  astrt_model_destroy(m);
  prog_free(&g);
}
END_TEST

START_TEST(seeds_and_independent_models) {
  Prog g;
  prog_init(&g, ramp_src, "seeds");
  astrt_model_options o;
  astrt_model_options_default(&o);
  astrt_model *a = new_model(&g), *b = NULL, *c = NULL;
  ck_assert_int_eq(astrt_model_create(g.d, &o, &b), ASTRT_OK);  /* default: the program's seed */
  o.seed = 12345, o.has_seed = 1;
  ck_assert_int_eq(astrt_model_create(g.d, &o, &c), ASTRT_OK);
  float wa[12 * 16], wb[12 * 16], wc[12 * 16];
  astrt_model_get(a, "dense_1.w", wa, 12 * 16);
  astrt_model_get(b, "dense_1.w", wb, 12 * 16);
  astrt_model_get(c, "dense_1.w", wc, 12 * 16);
  ck_assert(memcmp(wa, wb, sizeof wa) == 0);
  ck_assert(memcmp(wa, wc, sizeof wa) != 0);
  /* training one model leaves the other alone */
  float x[16 * 12] = {0.5f};
  int32_t y[16] = {1};
  ck_assert_int_eq(astrt_model_train_step(a, x, y, 16, 0, NULL), ASTRT_OK);
  astrt_model_get(b, "dense_1.w", wc, 12 * 16);
  ck_assert(memcmp(wb, wc, sizeof wb) == 0);
  ck_assert(astrt_model_program(a) == g.d);
  ck_assert_int_eq(astrt_model_classes(a), 3);
  astrt_model_destroy(a);
  astrt_model_destroy(b);
  astrt_model_destroy(c);
  prog_free(&g);
}
END_TEST

/* ---- concurrent models ------------------------------------------------------ */

/* Two programs large enough that a 2-thread pool splits their work: GEMMs
 * of over 2^15 multiply-adds (kernels_gemm.c), elementwise loops and the
 * update over the parameter arena of at least 2^14 elements (outlined and
 * run by astrt_pool_run), dropout drawing from the seed. */
static const char *wide_a_src =
    "import nn\n"
    "data d = synthetic(shape: [64], classes: 10, train: 640, test: 200, seed: 5)\n"
    "model wa(x: f32[B, 64]) -> f32[B, 10] {\n"
    "  h = relu(nn.dense(x, 256))\n"
    "  return nn.dense(nn.dropout(h, 0.1), 10)\n"
    "}\n"
    "train wa on d {\n"
    "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05, momentum: 0.9)\n"
    "  batch = 64\n  epochs = 2\n  seed = 1\n"
    "}\n";

static const char *wide_b_src =
    "import nn\n"
    "data d = synthetic(shape: [32], classes: 5, train: 768, test: 160, seed: 9)\n"
    "model wb(x: f32[B, 32]) -> f32[B, 5] {\n"
    "  h = tanh(nn.dense(x, 128))\n"
    "  h = relu(nn.dense(h, 128))\n"
    "  return nn.dense(h, 5)\n"
    "}\n"
    "train wb on d {\n"
    "  loss = cross_entropy()\n  optimizer = adamw(lr: 0.003, weight_decay: 0.01)\n"
    "  batch = 128\n  epochs = 2\n  seed = 2\n"
    "}\n";

/* One model's whole run: astrt_model_train on 2 threads, then a single
 * step and an evaluation on the model's pool; every variable copied out. */
typedef struct wide_run {
  const Prog *g;
  float *vars;          /* all variables, back to back */
  double loss, acc;
  astrt_status st;
  char err[256];
} wide_run;

static void *wide_train(void *arg) {
  wide_run *w = arg;
  const Prog *g = w->g;
  astrt_model *m = NULL;
  w->st = astrt_model_create(g->d, NULL, &m);
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 2;
  astrt_data_source train = {g->train.x.n, NULL, NULL, &g->train}, test = {g->test.x.n, NULL, NULL, &g->test};
  if (!w->st) w->st = astrt_model_train(m, &train, &test, &o, NULL);
  float *tx = NULL;
  if (!w->st) {
    tx = test_features(g);
    int64_t rows = astrt_model_batch_at(m, 1);
    w->st = astrt_model_train_step(m, tx, g->test.y.data, rows, 1, NULL);
  }
  if (!w->st) w->st = astrt_model_evaluate(m, tx, g->test.y.data, g->test.x.n, &w->loss, &w->acc);
  free(tx);
  if (w->st) snprintf(w->err, sizeof w->err, "%s", astrt_last_error());
  int64_t total = 0;
  for (int i = 0; m && i < astrt_model_var_count(m); i++) total += astrt_model_var(m, i)->numel;
  w->vars = malloc((size_t)(total > 0 ? total : 1) * sizeof(float));
  for (int64_t i = 0, at = 0; m && i < astrt_model_var_count(m); i++) {
    const astrt_var_desc *v = astrt_model_var(m, (int)i);
    astrt_model_get(m, v->name, w->vars + at, v->numel);
    at += v->numel;
  }
  astrt_model_destroy(m);
  return NULL;
}

static void assert_same_run(const wide_run *got, const wide_run *want, const char *what) {
  ck_assert_msg(got->st == ASTRT_OK, "%s: %s", what, got->err);
  int64_t total = 0;
  for (uint32_t i = 0; i < got->g->d->nvars; i++) total += got->g->d->vars[i].numel;
  for (int64_t k = 0; k < total; k++)
    ck_assert_msg(memcmp(&got->vars[k], &want->vars[k], sizeof(float)) == 0,
                  "%s: variable element %lld is %.9g, alone it was %.9g", what, (long long)k,
                  (double)got->vars[k], (double)want->vars[k]);
  ck_assert_msg(got->loss == want->loss && got->acc == want->acc, "%s: evaluation %.17g %.17g, alone %.17g %.17g",
                what, got->loss, got->acc, want->loss, want->acc);
}

/* both at once, each in a thread of its own */
static void train_both(wide_run *ga, wide_run *gb) {
  pthread_t ta, tb;
  ck_assert_int_eq(pthread_create(&ta, NULL, wide_train, ga), 0);
  ck_assert_int_eq(pthread_create(&tb, NULL, wide_train, gb), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
}

START_TEST(concurrent_models_match_alone) {
  Prog a, b;
  prog_init(&a, wide_a_src, "wide_a");
  prog_init(&b, wide_b_src, "wide_b");
  /* at once first, so that the runtime's first-use set-up happens in both
   * threads together too; then each alone, one after the other; then at
   * once again, a few times (a race need not show every time) */
  wide_run first_a = {.g = &a}, first_b = {.g = &b};
  train_both(&first_a, &first_b);
  wide_run ref_a = {.g = &a}, ref_b = {.g = &b};
  wide_train(&ref_a);
  wide_train(&ref_b);
  ck_assert_msg(ref_a.st == ASTRT_OK && ref_b.st == ASTRT_OK, "%s %s", ref_a.err, ref_b.err);
  assert_same_run(&first_a, &ref_a, "model a, trained beside model b");
  assert_same_run(&first_b, &ref_b, "model b, trained beside model a");
  free(first_a.vars);
  free(first_b.vars);
  for (int round = 0; round < 3; round++) {
    wide_run ga = {.g = &a}, gb = {.g = &b};
    train_both(&ga, &gb);
    assert_same_run(&ga, &ref_a, "model a, trained beside model b");
    assert_same_run(&gb, &ref_b, "model b, trained beside model a");
    free(ga.vars);
    free(gb.vars);
  }
  free(ref_a.vars);
  free(ref_b.vars);
  prog_free(&b);
  prog_free(&a);
}
END_TEST

Suite *model_suite(void) {
  Suite *s = suite_create("model");
  TCase *t = tcase_create("embedding api");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, train_loop_matches_driver);
  tcase_add_test(t, train_steps_match_driver);
  tcase_add_test(t, train_steps_with_reused_prefix);
  tcase_add_test(t, train_step_counts_correct);
  tcase_add_test(t, predict_agrees_with_evaluate);
  tcase_add_test(t, variables_save_and_load);
  tcase_add_test(t, bad_arguments);
  tcase_add_test(t, seeds_and_independent_models);
  tcase_add_test(t, concurrent_models_match_alone);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(model_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
