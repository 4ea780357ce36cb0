/* test_average.c — weight averaging (passes/average.c):
 *
 *   - before `start` the step is the baseline's, node for node, and so are
 *     evaluation and prediction with eval: false;
 *   - the rewrite: each update carries its parameter's running average (no
 *     separate pass over the parameters), the grouped update loops stay
 *     grouped, a frozen parameter's average is an op of its own, and the
 *     verifier rejects averages on the wrong parameter and counters
 *     written twice;
 *   - the semantic promise, natively: after every step each average equals
 *     an EMA (with warmup and `every`) or an equal-weight mean (SWA)
 *     computed here from the parameters, to float tolerance; the counters
 *     count; copy-back sets the parameters to the average on its steps; a
 *     skipped step (fp16 overflow) changes no variable;
 *   - evaluation reads the parameters until an average exists, then the
 *     averages: its loss is the eval: false program's with the averages in
 *     the parameters' place;
 *   - batch norm's running statistics are averaged at the parameters' rate
 *     from the values each step assigns, and evaluation reads those
 *     averages; with statistics: live it reads the live statistics and a
 *     warning says so.
 * (The interpreter against native code: test_codegen's speedup_rewrites.)
 */
#include <math.h>

#include "pass.h"
#include "test_util.h"

#define PROG(optimizer, speedup)                                                                 \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n"                                                      \
  "  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 16))\n"                                   \
  "  return nn.dense(h, 5)\n}\n"                                                                 \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = " optimizer "\n"                      \
  "  batch = 32\n  epochs = 2\n}\n" speedup

#define SGD "sgd(lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-3)"
#define ADAMW "adamw(lr: 0.01, weight_decay: 0.01)"

static const char *const PARAMS[] = {"dense_1.w", "dense_1.b", "dense_2.w", "dense_2.b", "dense_3.w", "dense_3.b"};
enum { NPARAMS = 6, ROWS = 32 };

static uint64_t rng = 11;

static void fill(TuRun *r, const char *suffix, uint64_t seed) {
  rng = seed;
  for (int i = 0; i < NPARAMS; i++) {
    char name[64];
    snprintf(name, sizeof name, "%s%s", PARAMS[i], suffix);
    float *w = tu_var(r, name);
    for (int64_t k = 0; k < tu_numel(r, PARAMS[i]); k++) w[k] = fx_lcg_pm1(&rng) * 0.5f;
  }
}

static void batch(float *x, int32_t *y) {
  for (int i = 0; i < ROWS * 12; i++) x[i] = fx_lcg_pm1(&rng);
  for (int i = 0; i < ROWS; i++) y[i] = (int32_t)((fx_lcg_pm1(&rng) + 1) * 2.49f);
}

static float *avg_of(TuRun *r, int i, const char *rule) {
  char name[64];
  snprintf(name, sizeof name, "%s.%s", PARAMS[i], rule);
  return tu_var(r, name);
}

static int count_ops(const IrGraph *g, IrOp op) {
  int n = 0;
  for (int i = 0; i < g->len; i++) n += g->nodes[i].op == op;
  return n;
}

/* the same graph: ops, operands, types and attributes, node for node */
static void assert_same_graph(const IrGraph *a, const IrGraph *b) {
  ck_assert_int_eq(a->len, b->len);
  for (int i = 0; i < a->len; i++) {
    const IrNode *x = &a->nodes[i], *y = &b->nodes[i];
    ck_assert_msg(x->op == y->op && type_eq(&x->type, &y->type) && !memcmp(x->in, y->in, sizeof x->in) &&
                  !memcmp(x->ia, y->ia, sizeof x->ia) && !memcmp(x->fa, y->fa, sizeof x->fa),
                  "node %%%d differs", i);
  }
}

/* |got - want| within float rounding of a few updates */
static void assert_close(float got, double want, const char *what, int64_t k, int step) {
  ck_assert_msg(fabs(got - want) <= 2e-6 * (fabs(want) + 1e-2), "step %d: %s[%lld] = %.9g, reference %.9g", step,
                what, (long long)k, got, want);
}

/* ---- the rewrite ------------------------------------------------------------------------- */

/* before start the step is the baseline's, and with eval: false so are
 * evaluation and prediction; from start on each update carries its average */
START_TEST(inactive_phase_is_baseline) {
  Compilation a, b;
  const char *src = PROG(SGD, "speedup {\n  average ema(decay: 0.99, start: 0.3, eval: false)\n}\n");
  ck_assert(tu_compile(src, "avg", &a));
  CompileOptions opt = {.no_speedup = true};
  ck_assert(tu_compile_with(src, "avg_base", &opt, &b));
  const IrProgram *p = a.prog;
  ck_assert_int_eq(p->phases.len, 2);
  ck_assert(!p->phases.data[0].average && p->phases.data[1].average);
  ck_assert(fabs(p->phases.data[1].t_begin - 0.3) < 1e-12);
  assert_same_graph(&p->phases.data[0].step, &b.prog->phases.data[0].step);
  assert_same_graph(&p->eval, &b.prog->eval);
  assert_same_graph(&p->predict, &b.prog->predict);
  /* the variables: the baseline's, then an average per parameter and the counters */
  ck_assert_int_eq(p->vars.len, b.prog->vars.len + NPARAMS + 2);
  for (int v = 0; v < b.prog->vars.len; v++) ck_assert_str_eq(p->vars.data[v].name, b.prog->vars.data[v].name);
  ck_assert_int_eq(p->average.count, ir_program_find_var(p, "ema.count"));
  ck_assert(p->average.save);
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}
END_TEST

/* every update carries its parameter's average: no separate pass over the
 * parameters, and the grouped update loop over the parameter arena is one
 * loop as in the baseline's phase */
START_TEST(average_fused_into_update_loop) {
  Compilation a;
  ck_assert(tu_compile(PROG(ADAMW, "speedup {\n  average swa(start: 0.5)\n}\n"), "fused", &a));
  const IrProgram *p = a.prog;
  ck_assert_int_eq(p->phases.len, 2);
  const IrGraph *g0 = &p->phases.data[0].step, *g1 = &p->phases.data[1].step;
  ck_assert_int_eq(count_ops(g1, IR_AVERAGE), 0);
  ck_assert_int_eq(count_ops(g1, IR_AVERAGE_COUNT), 1);
  int updates = 0;
  for (int i = 0; i < g1->len; i++) {
    const IrNode *n = &g1->nodes[i];
    if (n->op != IR_ADAMW_UPDATE) continue;
    updates++;
    ck_assert_int_eq(n->ia[IR_UPDATE_AVERAGE], 1);
    const IrVar *avg = &p->vars.data[n->ia[IR_UPDATE_SHADOW]];
    ck_assert(avg->kind == VAR_AVERAGE && avg->owner == n->ia[0]);
    ck_assert_int_eq(g1->nodes[n->in[ir_update_nbase(n)]].ia[0], n->ia[IR_UPDATE_SHADOW]);
  }
  ck_assert_int_eq(updates, NPARAMS);
  /* the grouped loops: the same members as before start */
  BufPlan before, after;
  cg_plan_graph(p, g0, 32, &before);
  cg_plan_graph(p, g1, 32, &after);
  int groups[2] = {0, 0}, members[2] = {0, 0};
  const BufPlan *pl[2] = {&before, &after};
  const IrGraph *gs[2] = {g0, g1};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < gs[k]->len; i++) {
      members[k] += pl[k]->update_first[i] >= 0;
      groups[k] += pl[k]->update_first[i] == i;
    }
  ck_assert_int_eq(members[0], NPARAMS);
  ck_assert_int_eq(groups[0], 1);
  ck_assert_int_eq(members[1], members[0]);
  ck_assert_int_eq(groups[1], groups[0]);
  cg_plan_free(&before);
  cg_plan_free(&after);
  compilation_free(&a);
  src_reset();
}
END_TEST

/* a frozen parameter has no update to carry its average: an average op does
 * it (and the parameter stays frozen), natively to the reference */
START_TEST(frozen_parameter_averaged_alone) {
  TuRun r;
  tu_run_init(&r, PROG(SGD, "speedup {\n  freeze at(dense_1: 0.5, reuse: false)\n  average ema(start: 0.25)\n}\n"),
              "frozen");
  const IrProgram *p = r.comp.prog;
  ck_assert_int_eq(p->phases.len, 3);
  const IrGraph *g = &p->phases.data[2].step;
  ck_assert_int_eq(count_ops(g, IR_AVERAGE), 2);  /* dense_1.w and dense_1.b */
  ck_assert_int_eq(count_ops(&p->phases.data[1].step, IR_AVERAGE), 0);
  fill(&r, "", 3);
  fill(&r, ".ema", 4);
  tu_var(&r, "ema.count")[0] = 3;
  tu_var(&r, "ema.steps")[0] = 3;
  float w[16 * 16], avg[16 * 16], x[ROWS * 12];
  int32_t y[ROWS];
  batch(x, y);
  int64_t n = tu_numel(&r, "dense_1.w");
  memcpy(w, tu_var(&r, "dense_1.w"), sizeof(float) * (size_t)n);
  memcpy(avg, tu_var(&r, "dense_1.w.ema"), sizeof(float) * (size_t)n);
  tu_step(&r, 2, x, y, ROWS, 0.05f, 4, 0.6f);
  ck_assert(memcmp(w, tu_var(&r, "dense_1.w"), sizeof(float) * (size_t)n) == 0);
  for (int64_t k = 0; k < n; k++) assert_close(tu_var(&r, "dense_1.w.ema")[k], 0.999 * avg[k] + 0.001 * w[k], "dense_1.w.ema", k, 1);
  ck_assert(tu_var(&r, "ema.count")[0] == 4 && tu_var(&r, "ema.steps")[0] == 4);
  tu_run_free(&r);
}
END_TEST

/* the verifier checks the averaging operands: an update carrying another
 * parameter's average, a counter written twice, an average op whose average
 * is not its parameter's */
START_TEST(verifier_checks_averages) {
  Compilation a;
  ck_assert(tu_compile(PROG(SGD, "speedup {\n  freeze at(dense_1: 0.5, reuse: false)\n  average swa(start: 0.2)\n}\n"),
                       "verify", &a));
  const IrProgram *p = a.prog;
  const IrGraph *g = &p->phases.data[2].step;
  ck_assert_int_eq(ir_verify(p, g, "as compiled", stderr), 0);
  int upd = -1, avg = -1, count = -1;
  for (int i = 0; i < g->len; i++) {
    if (g->nodes[i].op == IR_SGD_UPDATE && upd < 0) upd = i;
    if (g->nodes[i].op == IR_AVERAGE && avg < 0) avg = i;
    if (g->nodes[i].op == IR_AVERAGE_COUNT) count = i;
  }
  ck_assert(upd >= 0 && avg >= 0 && count >= 0);
  IrGraph bad = ir_graph_clone(g);
  bad.nodes[upd].ia[IR_UPDATE_SHADOW] = bad.nodes[avg].ia[0];  /* dense_1.w.swa on dense_2's update */
  ck_assert_int_gt(ir_verify(p, &bad, "another's average", NULL), 0);
  ir_graph_free(&bad);
  bad = ir_graph_clone(g);
  bad.nodes[count].ia[1] = bad.nodes[count].ia[0];  /* swa.steps twice */
  ck_assert_int_gt(ir_verify(p, &bad, "a counter twice", NULL), 0);
  ir_graph_free(&bad);
  bad = ir_graph_clone(g);
  bad.nodes[avg].ia[1] = g->nodes[upd].ia[0];  /* dense_1.w.swa as dense_2.w's average */
  ck_assert_int_gt(ir_verify(p, &bad, "the wrong owner", NULL), 0);
  ir_graph_free(&bad);
  compilation_free(&a);
  src_reset();
}
END_TEST

/* ---- the semantic promise ---------------------------------------------------------------- */

/* EMA with warmup, every 2 steps: after every step each average equals the
 * one computed here from the parameters after the averaging steps */
START_TEST(ema_equals_reference) {
  TuRun r;
  tu_run_init(&r, PROG(SGD, "speedup {\n  average ema(decay: 0.8, every: 2, warmup: true)\n}\n"), "ema");
  ck_assert(r.comp.prog->phases.data[0].average);
  fill(&r, "", 5);
  double *ref[NPARAMS];
  for (int i = 0; i < NPARAMS; i++) ref[i] = calloc((size_t)tu_numel(&r, PARAMS[i]), sizeof(double));
  int taken = 0;
  float x[ROWS * 12];
  int32_t y[ROWS];
  for (int s = 1; s <= 9; s++) {
    batch(x, y);
    tu_step(&r, 0, x, y, ROWS, 0.05f, s, (float)s / 256);
    if (s % 2 == 0) {
      double a = taken == 0 ? 1 : 1 - fmin(0.8, (1.0 + taken) / (10.0 + taken));
      for (int i = 0; i < NPARAMS; i++)
        for (int64_t k = 0; k < tu_numel(&r, PARAMS[i]); k++)
          ref[i][k] = (1 - a) * ref[i][k] + a * tu_var(&r, PARAMS[i])[k];
      taken++;
    }
    ck_assert_msg(tu_var(&r, "ema.steps")[0] == s && tu_var(&r, "ema.count")[0] == taken, "step %d: counters %g %g",
                  s, tu_var(&r, "ema.steps")[0], tu_var(&r, "ema.count")[0]);
    for (int i = 0; i < NPARAMS; i++)
      for (int64_t k = 0; k < tu_numel(&r, PARAMS[i]); k++) assert_close(avg_of(&r, i, "ema")[k], ref[i][k], PARAMS[i], k, s);
  }
  /* the average is not the parameters */
  ck_assert(memcmp(avg_of(&r, 4, "ema"), tu_var(&r, PARAMS[4]), sizeof(float) * (size_t)tu_numel(&r, PARAMS[4])));
  for (int i = 0; i < NPARAMS; i++) free(ref[i]);
  tu_run_free(&r);
}
END_TEST

/* SWA every 3 steps with AdamW: each average is the mean of the parameters
 * after steps 3, 6, 9, ... */
START_TEST(swa_equals_mean) {
  TuRun r;
  tu_run_init(&r, PROG(ADAMW, "speedup {\n  average swa(start: 0, every: 3)\n}\n"), "swa");
  fill(&r, "", 6);
  double *sum[NPARAMS];
  for (int i = 0; i < NPARAMS; i++) sum[i] = calloc((size_t)tu_numel(&r, PARAMS[i]), sizeof(double));
  int models = 0;
  float x[ROWS * 12];
  int32_t y[ROWS];
  for (int s = 1; s <= 10; s++) {
    batch(x, y);
    tu_step(&r, 0, x, y, ROWS, 0.01f, s, (float)s / 256);
    if (s % 3 == 0) {
      models++;
      for (int i = 0; i < NPARAMS; i++)
        for (int64_t k = 0; k < tu_numel(&r, PARAMS[i]); k++) sum[i][k] += tu_var(&r, PARAMS[i])[k];
    }
    ck_assert(tu_var(&r, "swa.count")[0] == models);
    for (int i = 0; i < NPARAMS; i++)
      for (int64_t k = 0; k < tu_numel(&r, PARAMS[i]); k++)
        assert_close(avg_of(&r, i, "swa")[k], models ? sum[i][k] / models : 0, PARAMS[i], k, s);
  }
  ck_assert(tu_var(&r, "adamw.step")[0] == 10);
  for (int i = 0; i < NPARAMS; i++) free(sum[i]);
  tu_run_free(&r);
}
END_TEST

/* copy-back every 4 steps (averaging every 2): on steps 4 and 8 the
 * parameters are their averages, bit for bit; on steps 2 and 6 they are not */
START_TEST(copy_back_resets_parameters) {
  TuRun r;
  tu_run_init(&r, PROG(SGD, "speedup {\n  average ema(decay: 0.5, every: 2, copy_back: 4)\n}\n"), "copy");
  fill(&r, "", 7);
  float x[ROWS * 12];
  int32_t y[ROWS];
  for (int s = 1; s <= 8; s++) {
    batch(x, y);
    tu_step(&r, 0, x, y, ROWS, 0.05f, s, (float)s / 256);
    if (s % 2 || s == 2) continue;  /* (the first average, at step 2, is a copy) */
    bool same = true;
    for (int i = 0; i < NPARAMS; i++)
      same &= !memcmp(avg_of(&r, i, "ema"), tu_var(&r, PARAMS[i]), sizeof(float) * (size_t)tu_numel(&r, PARAMS[i]));
    ck_assert_msg(same == (s % 4 == 0), "step %d: parameters %s their averages", s, same ? "are" : "are not");
    ck_assert(tu_var(&r, "ema.copies")[0] == s / 4);
  }
  tu_run_free(&r);
}
END_TEST

/* a step skipped for an fp16 overflow averages and counts nothing */
START_TEST(skipped_step_averages_nothing) {
  TuRun r;
  tu_run_init(&r, PROG(SGD, "speedup {\n  precision fp16(init_scale: 1024)\n  average swa(start: 0)\n}\n"), "skip");
  fill(&r, "", 8);
  fill(&r, ".swa", 9);
  float x[ROWS * 12];
  int32_t y[ROWS];
  batch(x, y);
  size_t bytes = (size_t)r.d->var_bytes;
  void *before = malloc(bytes);
  memcpy(before, r.vars, bytes);
  float scalars[ASTRT_NUM_SCALARS] = {0.05f, 1, ROWS, 1e30f, 0.1f, 0, 1};  /* an injected overflow */
  float out[ASTRT_NUM_OUTPUTS] = {0};
  r.d->phases[0].step(r.vars, r.work, x, y, ROWS, scalars, out, 5);
  ck_assert(out[ASTRT_OUT_OVERFLOW] == 1);
  ck_assert(memcmp(before, r.vars, bytes) == 0);
  scalars[ASTRT_SC_LOSS_SCALE] = 1024;
  r.d->phases[0].step(r.vars, r.work, x, y, ROWS, scalars, out, 5);
  ck_assert(out[ASTRT_OUT_OVERFLOW] == 0);
  ck_assert(tu_var(&r, "swa.count")[0] == 1 && tu_var(&r, "swa.steps")[0] == 1);
  /* the first average is a copy of the parameters */
  for (int i = 0; i < NPARAMS; i++)
    ck_assert(!memcmp(avg_of(&r, i, "swa"), tu_var(&r, PARAMS[i]), sizeof(float) * (size_t)tu_numel(&r, PARAMS[i])));
  free(before);
  tu_run_free(&r);
}
END_TEST

/* ---- evaluation -------------------------------------------------------------------------- */

static float eval_loss(TuRun *r, const float *x, const int32_t *y) {
  float scalars[ASTRT_NUM_SCALARS] = {0, 1, ROWS, 1, 1, 0, 1};
  float out[ASTRT_NUM_OUTPUTS] = {0};
  r->d->eval(r->vars, r->work, x, y, ROWS, scalars, out, 5);
  return out[ASTRT_OUT_LOSS];
}

/* whether two programs predict the same logits for x, bit for bit */
static bool predict_same(TuRun *a, TuRun *b, const float *x) {
  float la[ROWS * 5], lb[ROWS * 5];
  float scalars[ASTRT_NUM_SCALARS] = {0, 1, ROWS, 1, 1, 0, 1};
  a->d->predict(a->vars, a->work, x, NULL, ROWS, scalars, la, 5);
  b->d->predict(b->vars, b->work, x, NULL, ROWS, scalars, lb, 5);
  return memcmp(la, lb, sizeof la) == 0;
}

/* eval: true reads the parameters until an average exists, then the
 * averages: the loss of the eval: false program given the averages as its
 * parameters */
START_TEST(eval_uses_average) {
  TuRun on, off;
  tu_run_init(&on, PROG(SGD, "speedup {\n  average ema(start: 0.5)\n}\n"), "eval_on");
  tu_run_init(&off, PROG(SGD, "speedup {\n  average ema(start: 0.5, eval: false)\n}\n"), "eval_off");
  ck_assert_int_eq(count_ops(&on.comp.prog->eval, IR_WHERE), NPARAMS);
  ck_assert_int_eq(count_ops(&on.comp.prog->predict, IR_WHERE), NPARAMS);
  float x[ROWS * 12];
  int32_t y[ROWS];
  rng = 12;
  batch(x, y);
  fill(&on, "", 13);
  fill(&on, ".ema", 14);
  fill(&off, "", 13);
  float live = eval_loss(&off, x, y);
  /* the same logits bit for bit; the loss to a float's rounding (its mean is a
   * reduction compiled in another function, whose vector order may differ) */
  ck_assert(predict_same(&on, &off, x));
  ck_assert_msg(fabsf(eval_loss(&on, x, y) - live) <= 1e-6f * live, "%.9g vs %.9g", eval_loss(&on, x, y), live);
  ck_assert_int_eq(on.d->average_count, on.comp.prog->average.count);
  tu_var(&on, "ema.count")[0] = 1;
  fill(&off, "", 14);  /* the averages as the parameters */
  float averaged = eval_loss(&off, x, y);
  ck_assert(fabsf(averaged - live) > 1e-3f);
  ck_assert(predict_same(&on, &off, x));
  ck_assert(fabsf(eval_loss(&on, x, y) - averaged) <= 1e-6f * averaged);
  tu_run_free(&on);
  tu_run_free(&off);
}
END_TEST

/* ---- batch-norm statistics ---------------------------------------------------------------- */

#define BN_PROG(speedup)                                                                         \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n"                                                      \
  "  return nn.dense(relu(nn.batchnorm(nn.dense(x, 16))), 5)\n}\n"                             \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n  batch = 32\n  epochs = 2\n}\n" \
  "speedup {\n  " speedup "\n}\n"

static const char *const STATS[] = {"batchnorm_1.running_mean", "batchnorm_1.running_var"};

/* statistics: average (the default): each running statistic has a running
 * average, taken at the parameters' rate from the value the step assigns:
 * after every step it equals the EMA computed here from the statistics */
START_TEST(statistics_averaged) {
  TuRun r;
  tu_run_init(&r, BN_PROG("average ema(decay: 0.8, warmup: true)"), "bn_ema");
  ck_assert_int_eq(count_ops(&r.comp.prog->phases.data[0].step, IR_AVERAGE), 2);
  rng = 21;
  float *w = tu_var(&r, "dense_1.w");
  for (int64_t k = 0; k < tu_numel(&r, "dense_1.w"); k++) w[k] = fx_lcg_pm1(&rng) * 0.5f;
  for (int64_t k = 0; k < 16; k++) tu_var(&r, "batchnorm_1.gamma")[k] = 1, tu_var(&r, STATS[1])[k] = 1;
  double ref[2][16] = {{0}};
  float x[ROWS * 12];
  int32_t y[ROWS];
  for (int s = 1; s <= 6; s++) {
    batch(x, y);
    float before = tu_var(&r, STATS[0])[0];
    tu_step(&r, 0, x, y, ROWS, 0.05f, s, (float)s / 256);
    ck_assert(tu_var(&r, STATS[0])[0] != before);  /* the step updated the statistics */
    double a = s == 1 ? 1 : 1 - fmin(0.8, (double)s / (9.0 + s));
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 16; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.ema", STATS[j]);
        ref[j][k] = (1 - a) * ref[j][k] + a * tu_var(&r, STATS[j])[k];
        assert_close(tu_var(&r, name)[k], ref[j][k], name, k, s);
      }
  }
  tu_run_free(&r);
}
END_TEST

/* evaluation from the average reads the averaged statistics: its loss is the
 * eval: false program's with the averages in the parameters' and the
 * statistics' places; statistics: live reads the live statistics */
START_TEST(eval_uses_averaged_statistics) {
  static const char *const modes[] = {"", ", statistics: live"};
  for (int live = 0; live < 2; live++) {
    char src[1024], speedup[128];
    snprintf(speedup, sizeof speedup, "average ema(start: 0.5%s)", modes[live]);
    snprintf(src, sizeof src, BN_PROG("%s"), speedup);
    TuRun on, off;
    tu_run_init(&on, src, "bn_on");
    tu_run_init(&off, BN_PROG("average ema(start: 0.5, eval: false)"), "bn_off");
    ck_assert_int_eq(tu_numel(&on, "batchnorm_1.running_mean.ema"), live ? 0 : 16);
    rng = 23;
    static const char *const vars[] = {"dense_1.w", "dense_1.b", "batchnorm_1.gamma", "batchnorm_1.beta",
                                       "dense_2.w", "dense_2.b", "batchnorm_1.running_mean", "batchnorm_1.running_var"};
    for (int i = 0; i < 8; i++) {
      char name[64];
      snprintf(name, sizeof name, "%s.ema", vars[i]);
      bool averaged = tu_numel(&on, name) > 0;
      for (int64_t k = 0; k < tu_numel(&on, vars[i]); k++) {
        float live_v = fx_lcg_pm1(&rng) * 0.5f + (i == 7 ? 1 : 0), avg_v = fx_lcg_pm1(&rng) * 0.5f + (i == 7 ? 1 : 0);
        tu_var(&on, vars[i])[k] = live_v;
        if (averaged) tu_var(&on, name)[k] = avg_v;
        /* off holds what on's evaluation should read */
        tu_var(&off, vars[i])[k] = averaged ? avg_v : live_v;
      }
    }
    tu_var(&on, "ema.count")[0] = 1;
    float x[ROWS * 12];
    int32_t y[ROWS];
    batch(x, y);
    ck_assert_msg(predict_same(&on, &off, x), "statistics%s", modes[live]);
    tu_run_free(&on);
    tu_run_free(&off);
  }
}
END_TEST

/* with statistics: live and eval: true, a warning says the statistics are
 * the live weights'; by default (averaged) or with eval: false none */
START_TEST(batch_norm_warns) {
  static const char *const speedups[] = {"average swa(statistics: live)", "average swa()",
                                         "average swa(eval: false, statistics: live)"};
  for (int i = 0; i < 3; i++) {
    char text[1024];
    snprintf(text, sizeof text, BN_PROG("%s"), speedups[i]);
    char *msgs = tu_compile_messages(text, "bn");
    ck_assert_msg((strstr(msgs, "warning: average swa: evaluation uses the averaged weights with the running "
                                "statistics") != NULL) == (i == 0), "%s: %s", speedups[i], msgs);
    free(msgs);
  }
}
END_TEST

Suite *average_suite(void) {
  Suite *s = suite_create("average");
  TCase *t = tcase_create("average");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, inactive_phase_is_baseline);
  tcase_add_test(t, average_fused_into_update_loop);
  tcase_add_test(t, frozen_parameter_averaged_alone);
  tcase_add_test(t, verifier_checks_averages);
  tcase_add_test(t, ema_equals_reference);
  tcase_add_test(t, swa_equals_mean);
  tcase_add_test(t, copy_back_resets_parameters);
  tcase_add_test(t, skipped_step_averages_nothing);
  tcase_add_test(t, eval_uses_average);
  tcase_add_test(t, statistics_averaged);
  tcase_add_test(t, eval_uses_averaged_statistics);
  tcase_add_test(t, batch_norm_warns);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) { return fx_main(argc, argv, average_suite, NULL, 0); }
