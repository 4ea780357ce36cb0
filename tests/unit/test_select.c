/* test_select.c — selective backprop (passes/select.c, runtime/select.c):
 *
 *   - the phases: [start, end) selects, kept = floor(keep x batch), beta
 *     defaults to 1/keep - 1; start = end or keep = 1 leaves the baseline
 *     node for node;
 *   - the scoring graph is forward only: no backward, update or state
 *     assignment, one stored f32[B];
 *   - its per-example losses are the baseline's loss terms: their mean is
 *     the baseline step's loss on the same batch (native code to 1e-6
 *     relative, the interpreter to 1e-12), for a classifier with dropout,
 *     one with batch norm in training mode, a CNN with 2-d batch norm and
 *     label smoothing, a sequence model (a mean over
 *     each example's positions) and an mse regression;
 *   - the selecting phase's step on the kept rows is the baseline step on
 *     exactly those rows (every updated variable bit for bit);
 *   - the selection function: k rows, ascending, deterministic per key,
 *     higher losses drawn more often, uniform for beta = 0, NaN ranked
 *     highest; the kept rows are moved to the front in place.
 */
#include <math.h>

#include "driver_internal.h"
#include "interp.h"
#include "pass.h"
#include "test_util.h"

static uint64_t rng = 11;
static float frand(void) { return fx_lcg_pm1(&rng); }

#define MLP(layers, speedup)                                                                     \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n" layers "}\n"                                          \
  "train m on d {\n  loss = cross_entropy()\n"                                                   \
  "  optimizer = sgd(lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-3)\n"              \
  "  batch = 64\n  epochs = 2\n}\n" speedup

#define DROPOUT                                                                                  \
  "  h = relu(nn.dense(x, 16))\n  h = nn.dropout(relu(nn.dense(h, 16)), 0.25)\n"                 \
  "  return nn.dense(h, 5)\n"
#define BATCHNORM "  h = relu(nn.batchnorm(nn.dense(x, 16)))\n  return nn.dense(h, 5)\n"

#define SELECT "speedup {\n  select backprop(keep: 0.5, start: 0.25, end: 0.75)\n}\n"

#define LM(speedup)                                                                              \
  "import nn\n"                                                                                  \
  "data d = tokens(\"unused.bin\", vocab: 13, context: 8)\n"                                     \
  "model m(tok: i32[B, T]) -> f32[B, T, 13] {\n"                                                 \
  "  h = nn.embedding(tok, 13, 8) + nn.embedding(arange(T), 8, 8)\n"                             \
  "  h = nn.transformer_block(h, 2, layers: 1)\n"                                                \
  "  return nn.linear(nn.layernorm(h), 13)\n}\n"                                                \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = adamw(lr: 1e-3)\n"                   \
  "  batch = 6\n  steps = 100\n}\n" speedup

#define CNN(speedup)                                                                             \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [1, 8, 8], classes: 3, train: 600)\n"                              \
  "model m(x: f32[B, 1, 8, 8]) -> f32[B, 3] {\n"                                                 \
  "  h = nn.max_pool2d(relu(nn.batchnorm2d(nn.conv2d(x, 4, kernel: 3, pad: 1))))\n"              \
  "  return nn.dense(nn.dropout(flatten(h), 0.2), 3)\n}\n"                                       \
  "train m on d {\n  loss = cross_entropy(label_smoothing: 0.1)\n  optimizer = adamw(lr: 1e-3)\n" \
  "  batch = 10\n  epochs = 2\n}\n" speedup

#define REGRESSION(speedup)                                                                      \
  "import nn\n"                                                                                  \
  "data d = csv(\"unused.csv\", shape: [6], label: -1)\n"                                        \
  "model m(x: f32[B, 6]) -> f32[B, 2] {\n  return nn.dense(relu(nn.dense(x, 8)), 2)\n}\n"        \
  "train m on d {\n  batch = 8\n  epochs = 1\n  loss = mse()\n  optimizer = sgd(lr: 0.05)\n}\n" speedup

/* the first phase that selects */
static int selecting_phase(const IrProgram *p) {
  for (int i = 0; i < p->phases.len; i++)
    if (p->phases.data[i].score.len) return i;
  return -1;
}

static void assert_same_graph(const IrGraph *a, const IrGraph *b) {
  ck_assert_int_eq(a->len, b->len);
  for (int i = 0; i < a->len; i++) {
    const IrNode *x = &a->nodes[i], *y = &b->nodes[i];
    ck_assert_msg(x->op == y->op && type_eq(&x->type, &y->type) && !memcmp(x->in, y->in, sizeof x->in) &&
                  !memcmp(x->ia, y->ia, sizeof x->ia) && !memcmp(x->fa, y->fa, sizeof x->fa),
                  "node %%%d differs", i);
  }
}

/* ---- the rewrite --------------------------------------------------------------------------- */

START_TEST(select_phases) {
  Compilation c;
  ck_assert(tu_compile(MLP(DROPOUT, SELECT), "phases", &c));
  const IrProgram *p = c.prog;
  ck_assert_int_eq(p->phases.len, 3);
  ck_assert(fabs(p->phases.data[1].t_begin - 0.25) < 1e-12 && fabs(p->phases.data[1].t_end - 0.75) < 1e-12);
  ck_assert_int_eq(selecting_phase(p), 1);
  const IrPhase *ph = &p->phases.data[1];
  ck_assert_int_eq(ph->kept, 32);
  ck_assert_int_eq(ir_phase_rows(ph), 64);
  ck_assert_int_eq(ir_phase_plan_rows(ph), 32);
  ck_assert(fabs(ph->beta - 1) < 1e-12);  /* 1 / keep - 1 */
  ck_assert_int_eq(ph->interrupt, 0);
  ck_assert(!p->phases.data[0].score.len && !p->phases.data[2].score.len);
  compilation_free(&c);
  src_reset();
  /* beta given, interrupt: the step is planned for the whole batch too */
  ck_assert(tu_compile(MLP(DROPOUT, "speedup {\n  select backprop(keep: 0.3, beta: 2, interrupt: 3)\n}\n"), "beta",
                       &c));
  ph = &c.prog->phases.data[selecting_phase(c.prog)];
  ck_assert_int_eq(ph->kept, 19);  /* floor(0.3 x 64) */
  ck_assert(ph->beta == 2);
  ck_assert_int_eq(ph->interrupt, 3);
  ck_assert_int_eq(ir_phase_plan_rows(ph), 64);
  ck_assert_int_eq(ir_select_count(0.3, 64), astrt_select_count(0.3, 64));
  ck_assert_int_eq(ir_select_count(0.5, 1), 1);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* start = end, or keep = 1: nothing selects, and the program is the baseline node for node */
START_TEST(select_inactive_is_baseline) {
  static const char *const inactive[] = {
      MLP(DROPOUT, "speedup {\n  select backprop(keep: 0.5, start: 0.4, end: 0.4)\n}\n"),
      MLP(DROPOUT, "speedup {\n  select backprop(keep: 1, start: 0.2, end: 0.9)\n}\n"),
  };
  for (int k = 0; k < 2; k++) {
    const char *full = inactive[k];
    Compilation a, b;
    ck_assert(tu_compile(full, "inactive", &a));
    CompileOptions opt = {.no_speedup = true};
    ck_assert(tu_compile_with(full, "inactive_base", &opt, &b));
    ck_assert_int_eq(a.prog->phases.len, 1);
    ck_assert_int_eq(a.prog->phases.data[0].score.len, 0);
    ck_assert_int_eq(a.prog->phases.data[0].kept, 0);
    assert_same_graph(&a.prog->phases.data[0].step, &b.prog->phases.data[0].step);
    compilation_free(&a);
    compilation_free(&b);
    src_reset();
  }
}
END_TEST

/* the scoring graph: forward and loss only, one stored f32[B], no effect on variables */
static void assert_forward_only(const IrGraph *g) {
  int stores = 0;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    ck_assert_msg(n->role == ROLE_FORWARD || n->role == ROLE_LOSS, "node %%%d (%s) is %s", i, ir_ops[n->op].name,
                  ir_role_name(n->role));
    ck_assert_msg(ir_ops[n->op].cls != EFFECT || n->op == IR_STORE_FEATURES, "node %%%d is a %s", i,
                  ir_ops[n->op].name);
    ck_assert(n->op != IR_XENT_GRAD && n->op != IR_ACCUMULATE && n->op != IR_ALLREDUCE && n->op != IR_ALL_FINITE);
    if (n->op == IR_STORE_FEATURES) {
      const Type *t = &g->nodes[n->in[0]].type;
      ck_assert(t->dtype == DT_F32 && t->shape.rank == 1 && t->shape.d[0] == IR_DIM_B);
      stores++;
    }
  }
  ck_assert_int_eq(stores, 1);
}

START_TEST(select_scoring_graph_has_no_backward) {
  const char *srcs[] = {MLP(DROPOUT, SELECT), MLP(BATCHNORM, SELECT), CNN(SELECT), LM(SELECT), REGRESSION(SELECT)};
  for (size_t k = 0; k < sizeof srcs / sizeof srcs[0]; k++) {
    Compilation c;
    ck_assert(tu_compile(srcs[k], "fwd", &c));
    int s = selecting_phase(c.prog);
    ck_assert_int_ge(s, 0);
    const IrPhase *ph = &c.prog->phases.data[s];
    assert_forward_only(&ph->score);
    /* the step has its backward and its updates */
    bool bwd = false, upd = false;
    for (int i = 0; i < ph->step.len; i++) {
      bwd |= ph->step.nodes[i].role == ROLE_BACKWARD;
      upd |= ph->step.nodes[i].op == IR_SGD_UPDATE || ph->step.nodes[i].op == IR_ADAMW_UPDATE;
    }
    ck_assert(bwd && upd);
    compilation_free(&c);
    src_reset();
  }
}
END_TEST

/* ---- the scores are the loss terms ----------------------------------------------------------- */

/* Interpreter: the mean of the scores equals the baseline step's loss on the same batch. */
static void interp_scores_are_terms(const char *src, int64_t rows, int64_t xsize, int64_t ysize, bool tokens,
                                    int64_t classes, bool real) {
  Compilation a, b;
  ck_assert(tu_compile(src, "terms", &a));
  CompileOptions opt = {.no_speedup = true};
  ck_assert(tu_compile_with(src, "terms_base", &opt, &b));
  const IrPhase *ph = &a.prog->phases.data[selecting_phase(a.prog)];
  double *x = xcalloc((size_t)(rows * xsize), sizeof(double));
  int32_t *y = xcalloc((size_t)(rows * ysize), sizeof(int32_t));
  float *yr = xcalloc((size_t)(rows * ysize), sizeof(float));
  for (int64_t i = 0; i < rows * xsize; i++) x[i] = tokens ? (double)(int)((frand() + 1) * 6.4) : frand();
  for (int64_t i = 0; i < rows * ysize; i++) {
    y[i] = (int32_t)((frand() + 1) * 0.49 * (double)classes);
    yr[i] = frand();
  }
  Interp ia, ib;
  interp_init(&ia, a.prog, 3);
  interp_init(&ib, b.prog, 3);
  Interp *both[2] = {&ia, &ib};
  for (int k = 0; k < 2; k++) {
    both[k]->x = x, both[k]->y = real ? NULL : y, both[k]->y_real = real ? yr : NULL;
    both[k]->rows = rows, both[k]->seed = 5;
    both[k]->scalars[SC_LR] = 0.1, both[k]->scalars[SC_STEP] = 7;
  }
  ck_assert(interp_run(&ia, &ph->score));
  int stored = ph->score.nodes[ph->score.len - 1].in[0];
  ck_assert_int_eq(interp_numel(&ia, &ph->score, stored), rows);
  double sum = 0;
  for (int64_t i = 0; i < rows; i++) sum += ia.vals[stored][i];
  ck_assert(interp_run(&ib, &b.prog->phases.data[0].step));
  double loss = ib.outputs[OUT_LOSS];
  ck_assert_msg(fabs(sum / (double)rows - loss) <= 1e-12 * (1 + fabs(loss)), "mean score %.15g, loss %.15g",
                sum / (double)rows, loss);
  interp_free(&ia);
  interp_free(&ib);
  free(x);
  free(y);
  free(yr);
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}

START_TEST(select_scores_are_loss_terms_interp) {
  interp_scores_are_terms(MLP(DROPOUT, SELECT), 64, 12, 1, false, 5, false);
  interp_scores_are_terms(MLP(BATCHNORM, SELECT), 64, 12, 1, false, 5, false);
  interp_scores_are_terms(CNN(SELECT), 10, 64, 1, false, 3, false);
  interp_scores_are_terms(LM(SELECT), 6, 8, 8, true, 13, false);
  interp_scores_are_terms(REGRESSION(SELECT), 8, 6, 2, false, 1, true);
}
END_TEST

static void batch(float *x, int32_t *y, int64_t rows) {
  for (int64_t i = 0; i < rows * 12; i++) x[i] = frand();
  for (int64_t i = 0; i < rows; i++) y[i] = (int32_t)((frand() + 1) * 2.49f);
}

static void fill_params(TuRun *r) {
  for (uint32_t v = 0; v < r->d->nvars; v++) {
    if (r->d->vars[v].kind != ASTRT_VAR_PARAM) continue;
    float *w = (float *)((char *)r->vars + r->d->vars[v].offset);
    for (int64_t k = 0; k < r->d->vars[v].numel; k++) w[k] = frand() * 0.4f;
  }
}

/* Native code: the scores' mean is the baseline step's loss (1e-6 relative). */
static void native_scores_are_terms(const char *layers_src, const char *base_src) {
  TuRun sel, base;
  tu_run_init(&sel, layers_src, "native_sel");
  tu_run_init(&base, base_src, "native_base");
  int s = selecting_phase(sel.comp.prog);
  const astrt_phase_desc *ph = &sel.d->phases[s];
  ck_assert(ph->score != NULL && ph->keep == 0.5 && ph->beta == 1);
  rng = 21;
  fill_params(&sel);
  memcpy(base.vars, sel.vars, (size_t)sel.d->var_bytes);
  float x[64 * 12], loss[64];
  int32_t y[64];
  batch(x, y, 64);
  float scalars[ASTRT_NUM_SCALARS] = {0.1f, 7, 64, 1, 0.5f, 0, 1};
  ph->score(sel.vars, sel.work, x, y, 64, scalars, loss, 5);
  double sum = 0;
  for (int i = 0; i < 64; i++) sum += loss[i];
  float l = tu_step(&base, 0, x, y, 64, 0.1f, 7, 0.5f);
  ck_assert_msg(fabs(sum / 64 - l) <= 1e-6 * fabs(l), "mean score %.9g, loss %.9g", sum / 64, (double)l);
  tu_run_free(&sel);
  tu_run_free(&base);
}

START_TEST(select_scores_are_loss_terms_native) {
  native_scores_are_terms(MLP(DROPOUT, SELECT), MLP(DROPOUT, ""));
  native_scores_are_terms(MLP(BATCHNORM, SELECT), MLP(BATCHNORM, ""));
}
END_TEST

/* the selecting step on the kept rows is the baseline step on exactly those rows */
START_TEST(select_step_on_kept_rows_is_baseline_step) {
  TuRun sel, base;
  tu_run_init(&sel, MLP(DROPOUT, SELECT), "kept_sel");
  tu_run_init(&base, MLP(DROPOUT, ""), "kept_base");
  int s = selecting_phase(sel.comp.prog);
  const astrt_phase_desc *ph = &sel.d->phases[s];
  ck_assert(ph->work_bytes < base.d->phases[0].work_bytes);  /* planned for 32 rows, not 64 */
  rng = 33;
  fill_params(&sel);
  memcpy(base.vars, sel.vars, (size_t)sel.d->var_bytes);
  float x[64 * 12], bx[64 * 12];
  int32_t y[64], by[64];
  batch(x, y, 64);
  memcpy(bx, x, sizeof x);
  memcpy(by, y, sizeof y);
  astrt_select_buf buf;
  ck_assert_int_eq(astrt_select_buf_init(&buf, sel.d), ASTRT_OK);
  ck_assert_int_eq(buf.cap, 64);
  float scalars[ASTRT_NUM_SCALARS] = {0.1f, 9, 64, 1, 0.5f, 0, 1};
  double mean;
  int64_t k = astrt_select_batch(ph, &buf, sel.vars, sel.work, x, y, 64, 12 * 4, 4, scalars, 5, 9, &mean);
  ck_assert_int_eq(k, 32);
  for (int64_t j = 0; j < k; j++) {  /* x and y hold the chosen rows, in order */
    ck_assert(!memcmp(x + j * 12, bx + buf.rows[j] * 12, 12 * sizeof(float)));
    ck_assert_int_eq(y[j], by[buf.rows[j]]);
    if (j) ck_assert_int_lt(buf.rows[j - 1], buf.rows[j]);
  }
  float ls = tu_step(&sel, s, x, y, k, 0.1f, 9, 0.5f);
  float lb = tu_step(&base, 0, x, y, k, 0.1f, 9, 0.5f);
  ck_assert(ls == lb);
  ck_assert(!memcmp(sel.vars, base.vars, (size_t)sel.d->var_bytes));
  astrt_select_buf_free(&buf);
  tu_run_free(&sel);
  tu_run_free(&base);
}
END_TEST

/* ---- the selection function ----------------------------------------------------------------- */

START_TEST(select_rows_deterministic_and_sorted) {
  float loss[40];
  for (int i = 0; i < 40; i++) loss[i] = (float)((i * 17) % 40);
  astrt_select_item scratch[40];
  int64_t a[20], b[20], c[20];
  astrt_select_rows(loss, 40, 20, 1, astrt_select_key(1, 5), scratch, a);
  astrt_select_rows(loss, 40, 20, 1, astrt_select_key(1, 5), scratch, b);
  astrt_select_rows(loss, 40, 20, 1, astrt_select_key(1, 6), scratch, c);
  ck_assert(!memcmp(a, b, sizeof a));
  ck_assert(memcmp(a, c, sizeof a) != 0);  /* another step draws afresh */
  for (int j = 1; j < 20; j++) ck_assert_int_lt(a[j - 1], a[j]);
  for (int j = 0; j < 20; j++) ck_assert(a[j] >= 0 && a[j] < 40);
  /* a NaN ranks highest: with a steep beta it is always kept */
  loss[3] = NAN;
  for (int s = 0; s < 50; s++) {
    astrt_select_rows(loss, 40, 4, 40, astrt_select_key(2, s), scratch, a);
    bool has = false;
    for (int j = 0; j < 4; j++) has |= a[j] == 3;
    ck_assert(has);
  }
  /* k = n keeps every row */
  astrt_select_rows(loss, 40, 40, 1, astrt_select_key(3, 1), scratch, (int64_t[40]){0});
}
END_TEST

/* over many steps, each row's inclusion frequency follows its loss rank */
static void frequencies(double beta, int64_t n, int64_t k, int draws, double *freq) {
  float *loss = xmalloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) loss[i] = (float)((i * 37) % n);  /* row i has rank (37 i) mod n */
  astrt_select_item *scratch = xmalloc(sizeof *scratch * (size_t)n);
  int64_t *out = xmalloc(sizeof *out * (size_t)k);
  for (int64_t r = 0; r < n; r++) freq[r] = 0;
  for (int s = 0; s < draws; s++) {
    astrt_select_rows(loss, n, k, beta, astrt_select_key(42, s + 1), scratch, out);
    for (int64_t j = 0; j < k; j++) freq[(int64_t)loss[out[j]]] += 1.0 / draws;  /* by rank */
  }
  free(loss);
  free(scratch);
  free(out);
}

START_TEST(select_rows_follow_the_loss_ranking) {
  enum { N = 64, K = 32, DRAWS = 4000 };
  double f[N];
  frequencies(1, N, K, DRAWS, f);
  /* higher ranks are picked more often: quartile by quartile, and the top far more than the bottom */
  double q[4] = {0};
  for (int r = 0; r < N; r++) q[r / 16] += f[r] / 16;
  for (int i = 1; i < 4; i++) ck_assert_msg(q[i] > q[i - 1] + 0.05, "quartile %d: %g, below it %g", i, q[i], q[i - 1]);
  ck_assert_msg(f[N - 1] > 0.7 && f[0] < 0.1, "top %g, bottom %g", f[N - 1], f[0]);
  /* rank correlation over all rows: nearly every higher rank is picked at least as often */
  int inversions = 0;
  for (int r = 1; r < N; r++) inversions += f[r] + 0.03 < f[r - 1];
  ck_assert_int_le(inversions, 2);
  /* beta = 0 is uniform: every row about K / N of the time */
  frequencies(0, N, K, DRAWS, f);
  for (int r = 0; r < N; r++) ck_assert_msg(fabs(f[r] - 0.5) < 0.05, "rank %d: %g", r, f[r]);
  /* a larger beta is more selective */
  double f3[N];
  frequencies(3, N, K, DRAWS, f3);
  double low1 = 0, low3 = 0;
  frequencies(1, N, K, DRAWS, f);
  for (int r = 0; r < N / 4; r++) low1 += f[r], low3 += f3[r];
  ck_assert_msg(low3 < low1, "bottom quartile: beta 3 %g, beta 1 %g", low3, low1);
}
END_TEST

START_TEST(batch_take_moves_rows_in_place) {
  float x[6 * 3];
  int32_t y[6 * 2];
  for (int i = 0; i < 18; i++) x[i] = (float)i;
  for (int i = 0; i < 12; i++) y[i] = 100 + i;
  int64_t rows[3] = {1, 2, 5};
  astrt_batch_take(x, y, 3 * sizeof(float), 2 * sizeof(int32_t), rows, 3);
  for (int j = 0; j < 3; j++) {
    for (int e = 0; e < 3; e++) ck_assert(x[j * 3 + e] == (float)(rows[j] * 3 + e));
    for (int e = 0; e < 2; e++) ck_assert_int_eq(y[j * 2 + e], 100 + rows[j] * 2 + e);
  }
  ck_assert_int_eq(astrt_select_count(0.5, 7), 3);
  ck_assert_int_eq(astrt_select_count(0.01, 7), 1);
  ck_assert_int_eq(astrt_select_count(1, 7), 7);
  astrt_phase_desc ph = {0};
  ph.interrupt = 3;
  ck_assert(!astrt_select_interrupted(&ph, 1) && !astrt_select_interrupted(&ph, 2) && astrt_select_interrupted(&ph, 3));
  ph.interrupt = 0;
  ck_assert(!astrt_select_interrupted(&ph, 3));
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("select");
  TCase *t = tcase_create("select");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, select_phases);
  tcase_add_test(t, select_inactive_is_baseline);
  tcase_add_test(t, select_scoring_graph_has_no_backward);
  tcase_add_test(t, select_scores_are_loss_terms_interp);
  tcase_add_test(t, select_scores_are_loss_terms_native);
  tcase_add_test(t, select_step_on_kept_rows_is_baseline_step);
  tcase_add_test(t, select_rows_deterministic_and_sorted);
  tcase_add_test(t, select_rows_follow_the_loss_ranking);
  tcase_add_test(t, batch_take_moves_rows_in_place);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) { return fx_main(argc, argv, suite, NULL, 0); }
