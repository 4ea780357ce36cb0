/* test_robust.c — non-finite values in generated code (docs/robustness.md).
 *
 *   - the guard (passes/guard.c): every update of every phase is guarded by
 *     the finiteness of the step's loss, also under micro-batching, freezing,
 *     prefix reuse and fp16 loss scaling (where both conditions must hold);
 *   - a step whose loss is not finite leaves the parameters and optimizer
 *     slots bit-identical (JIT-compiled SGD, AdamW, micro-batched and fp16
 *     steps), and so does the reference interpreter;
 *   - diagnose mode (ASTRT_OUT_NONFINITE = -1) names the first node whose
 *     value is not finite, changes no variable even when everything is
 *     finite, and a normal step never touches the slot;
 *   - the descriptor's node table describes the step graph node for node.
 */
#include <math.h>

#include "interp.h"
#include "test_util.h"

static uint64_t rng = 11;
static float frand(void) { return fx_lcg_pm1(&rng); }

/* a model over 6 inputs whose line 4 takes a log: a negative input below -2
 * makes it NaN (no relu, which would turn a NaN into 0) */
#define PROGRAM(optimizer, speedup)                                                              \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [6], classes: 3, train: 512)\n"                                     \
  "model m(x: f32[B, 6]) -> f32[B, 3] {\n"                                                       \
  "  g = log(x + 2.0)\n"                                                                         \
  "  h = nn.dense(g, 10)\n"                                                                      \
  "  return nn.dense(h, 3)\n}\n"                                                                 \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = " optimizer "\n"                      \
  "  batch = 12\n  epochs = 1\n}\n" speedup

#define SGD "sgd(lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-3)"
#define ADAMW "adamw(lr: 0.01, weight_decay: 0.01)"

static void batch(float *x, int32_t *y, int64_t rows) {
  for (int64_t i = 0; i < rows * 6; i++) x[i] = frand();  /* in (-1, 1): log(x + 2) is finite */
  for (int64_t i = 0; i < rows; i++) y[i] = (int32_t)((frand() + 1) * 1.49f);
}

static void fill_params(TuRun *r) {
  for (uint32_t v = 0; v < r->d->nvars; v++)
    if (r->d->vars[v].kind == ASTRT_VAR_PARAM) {
      float *w = (float *)((char *)r->vars + r->d->vars[v].offset);
      for (int64_t k = 0; k < r->d->vars[v].numel; k++) w[k] = frand() * 0.5f;
    }
}

/* runs phase k's step; out[ASTRT_OUT_NONFINITE] starts as `diag` */
static void step(TuRun *r, int k, const float *x, const int32_t *y, int64_t rows, int64_t n, float diag,
                 float *out) {
  float sc[ASTRT_NUM_SCALARS] = {0};
  sc[ASTRT_SC_LR] = 0.1f;
  sc[ASTRT_SC_STEP] = (float)n;
  sc[ASTRT_SC_ROWS] = (float)rows;
  sc[ASTRT_SC_LOSS_SCALE] = r->d->loss_scale > 0 ? (float)r->d->loss_scale : 1.0f;
  sc[ASTRT_SC_T] = 0.0f;
  for (int i = 0; i < ASTRT_NUM_OUTPUTS; i++) out[i] = 0;
  out[ASTRT_OUT_NONFINITE] = diag;
  r->d->phases[k].step(r->vars, r->work, x, y, rows, sc, out, 3);
}

static bool is_update(IrOp op) { return op == IR_SGD_UPDATE || op == IR_ADAMW_UPDATE; }

/* every update of every phase is guarded; returns how many there are */
static int check_all_guarded(const IrProgram *p, const char *name) {
  int n = 0;
  for (int k = 0; k < p->phases.len; k++) {
    const IrGraph *g = &p->phases.data[k].step;
    for (int i = 0; i < g->len; i++) {
      const IrNode *u = &g->nodes[i];
      if (!is_update(u->op)) continue;
      n++;
      ck_assert_msg(u->ia[IR_UPDATE_GUARDED], "%s: phase %d: an update is not guarded", name, k);
      const IrNode *f = &g->nodes[u->in[u->nin - 1]];
      ck_assert_msg(f->op == IR_ALL_FINITE || f->op == IR_GE || f->op == IR_MINIMUM,
                    "%s: phase %d: the guard is a %s", name, k, ir_ops[f->op].name);
    }
  }
  return n;
}

START_TEST(every_update_is_guarded) {
  static const char *const speedups[] = {
      "",
      "speedup {\n  batch steps(at: [0.5], factor: 2, micro: 5)\n}\n",
      "speedup {\n  freeze at(h: 0.5)\n}\n",
      "speedup {\n  precision fp16()\n}\n",
      "speedup {\n  precision fp16()\n  batch steps(at: [0.5], micro: 5)\n}\n",
  };
  for (size_t i = 0; i < sizeof speedups / sizeof speedups[0]; i++) {
    char src[2048], name[16];
    snprintf(src, sizeof src, PROGRAM(ADAMW, "%s"), speedups[i]);
    snprintf(name, sizeof name, "guarded%zu", i);
    Compilation c;
    ck_assert_msg(tu_compile(src, name, &c), "%s does not compile", name);
    ck_assert_int_gt(check_all_guarded(c.prog, name), 0);
    if (strstr(speedups[i], "fp16")) {  /* fp16's own check and the loss's: both must hold */
      const IrGraph *g = &c.prog->phases.data[0].step;
      for (int k = 0; k < g->len; k++)
        if (is_update(g->nodes[k].op))
          ck_assert_int_eq(g->nodes[g->nodes[k].in[g->nodes[k].nin - 1]].op, IR_MINIMUM);
    }
    compilation_free(&c);
    src_reset();
  }
}
END_TEST

/* a normal step, then a step with one input below -2 (the loss is NaN): the
 * second changes no parameter and no optimizer slot */
static void nonfinite_step_changes_nothing(const char *src, const char *name) {
  TuRun r;
  tu_run_init(&r, src, name);
  fill_params(&r);
  float x[12 * 6], out[ASTRT_NUM_OUTPUTS];
  int32_t y[12];
  batch(x, y, 12);
  size_t bytes = (size_t)r.d->var_bytes;
  unsigned char *before = malloc(bytes);
  memcpy(before, r.vars, bytes);
  step(&r, 0, x, y, 12, 1, 0, out);
  ck_assert_msg(isfinite(out[ASTRT_OUT_LOSS]), "%s: loss %g", name, out[ASTRT_OUT_LOSS]);
  ck_assert_msg(memcmp(before, r.vars, bytes) != 0, "%s: a finite step changed nothing", name);
  memcpy(before, r.vars, bytes);
  x[7 * 6 + 4] = -5.0f;  /* row 7: log(-3) */
  step(&r, 0, x, y, 12, 2, 0, out);
  ck_assert_msg(!isfinite(out[ASTRT_OUT_LOSS]), "%s: the loss is finite", name);
  ck_assert_msg(out[ASTRT_OUT_NONFINITE] == 0, "%s: a normal step wrote the diagnosis slot", name);
  for (uint32_t v = 0; v < r.d->nvars; v++) {
    const astrt_var_desc *d = &r.d->vars[v];
    if (d->kind == ASTRT_VAR_STATE) continue;  /* the driver restores these */
    ck_assert_msg(memcmp(before + d->offset, (char *)r.vars + d->offset, (size_t)d->numel * 4) == 0,
                  "%s: %s changed in a step whose loss was not finite", name, d->name);
  }
  free(before);
  tu_run_free(&r);
}

START_TEST(guard_keeps_variables_sgd) { nonfinite_step_changes_nothing(PROGRAM(SGD, ""), "sgd"); }
END_TEST

START_TEST(guard_keeps_variables_adamw) { nonfinite_step_changes_nothing(PROGRAM(ADAMW, ""), "adamw"); }
END_TEST

/* the NaN row is in the second micro-batch of three; with fp16 scaling too */
START_TEST(guard_keeps_variables_micro_fp16) {
  nonfinite_step_changes_nothing(PROGRAM(SGD, "speedup {\n  batch steps(at: [0.9], micro: 5)\n}\n"), "micro");
  nonfinite_step_changes_nothing(PROGRAM(ADAMW, "speedup {\n  precision fp16()\n}\n"), "fp16");
  nonfinite_step_changes_nothing(
      PROGRAM(ADAMW, "speedup {\n  precision fp16()\n  batch steps(at: [0.9], micro: 5)\n}\n"), "fp16micro");
}
END_TEST

/* batch norm's running statistics are assigned before the loss is known:
 * parameters and slots are kept, the state is the driver's to restore */
START_TEST(guard_keeps_variables_batchnorm) {
  nonfinite_step_changes_nothing("import nn\n"
                                 "data d = synthetic(shape: [6], classes: 3, train: 512)\n"
                                 "model m(x: f32[B, 6]) -> f32[B, 3] {\n"
                                 "  h = nn.batchnorm(nn.dense(log(x + 2.0), 10))\n"
                                 "  return nn.dense(h, 3)\n}\n"
                                 "train m on d {\n  loss = cross_entropy()\n  optimizer = " SGD "\n"
                                 "  batch = 12\n  epochs = 1\n}\n",
                                 "batchnorm");
}
END_TEST

/* the reference interpreter skips the same step */
START_TEST(interpreter_skips_too) {
  Compilation c;
  ck_assert(tu_compile(PROGRAM(SGD, ""), "interp", &c));
  Interp in;
  interp_init(&in, c.prog, 5);
  double x[12 * 6];
  int32_t y[12];
  for (int i = 0; i < 12 * 6; i++) x[i] = frand();
  for (int i = 0; i < 12; i++) y[i] = i % 3;
  x[3] = -4;
  in.x = x;
  in.y = y;
  in.rows = 12;
  in.scalars[SC_LR] = 0.1;
  in.scalars[SC_STEP] = 1;
  in.scalars[SC_LOSS_SCALE] = 1;
  const IrProgram *p = c.prog;
  double **before = xcalloc((size_t)p->vars.len, sizeof(double *));
  for (int v = 0; v < p->vars.len; v++) {
    size_t n = (size_t)shape_numel(&p->vars.data[v].shape, 1);
    before[v] = xmalloc(n * sizeof(double));
    memcpy(before[v], in.vars[v], n * sizeof(double));
  }
  ck_assert(interp_run(&in, &p->phases.data[0].step));
  ck_assert(!isfinite(in.outputs[OUT_LOSS]));
  for (int v = 0; v < p->vars.len; v++) {
    size_t n = (size_t)shape_numel(&p->vars.data[v].shape, 1);
    ck_assert_msg(memcmp(before[v], in.vars[v], n * sizeof(double)) == 0, "%s changed", p->vars.data[v].name);
    free(before[v]);
  }
  free(before);
  interp_free(&in);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* the index diagnose mode reports, and the node it names */
static const astrt_node_desc *diagnosed(TuRun *r, const float *x, const int32_t *y, int64_t rows) {
  float out[ASTRT_NUM_OUTPUTS];
  size_t bytes = (size_t)r->d->var_bytes;
  unsigned char *before = malloc(bytes);
  memcpy(before, r->vars, bytes);
  step(r, 0, x, y, rows, 3, -1, out);
  ck_assert_msg(memcmp(before, r->vars, bytes) == 0, "diagnose mode changed a variable");
  free(before);
  if (out[ASTRT_OUT_NONFINITE] < 0) return NULL;
  int64_t k = (int64_t)out[ASTRT_OUT_NONFINITE];
  ck_assert(k >= 0 && k < r->d->step_nodes[0].n);
  return &r->d->step_nodes[0].nodes[k];
}

static void diagnose_program(const char *src, const char *name, int64_t rows) {
  TuRun r;
  tu_run_init(&r, src, name);
  ck_assert_ptr_nonnull(r.d->step_nodes);
  fill_params(&r);
  float x[12 * 6];
  int32_t y[12];
  batch(x, y, rows);
  /* all finite: nothing to report, and nothing changes although the loss is finite */
  ck_assert_ptr_null(diagnosed(&r, x, y, rows));
  /* log(-3) in the last row: the log on line 4, column 7 */
  x[(rows - 1) * 6 + 2] = -5.0f;
  const astrt_node_desc *n = diagnosed(&r, x, y, rows);
  ck_assert_ptr_nonnull(n);
  ck_assert_str_eq(n->op, "log");
  ck_assert_int_eq(n->line, 4);
  ck_assert_int_eq(n->col, 7);
  ck_assert_int_eq(n->role, ASTRT_ROLE_FORWARD);
  ck_assert_ptr_nonnull(strstr(n->file, name));
  /* an input that is itself not finite comes first */
  x[0] = NAN;
  n = diagnosed(&r, x, y, rows);
  ck_assert_ptr_nonnull(n);
  ck_assert_str_eq(n->op, "input");
  ck_assert_str_eq(n->name, "x");
  /* a parameter that is not finite comes before anything computed from it */
  x[0] = 0.5f;
  x[(rows - 1) * 6 + 2] = 0.5f;
  float *w = tu_var(&r, "dense_1.w");
  w[3] = INFINITY;
  n = diagnosed(&r, x, y, rows);
  ck_assert_ptr_nonnull(n);
  ck_assert_str_eq(n->op, "param");
  ck_assert_str_eq(n->name, "dense_1.w");
  ck_assert_str_eq(n->layer, "dense_1");
  ck_assert_ptr_nonnull(strstr(n->site, ":6:"));  /* called on line 6 */
  tu_run_free(&r);
}

START_TEST(diagnose_names_first_nonfinite) { diagnose_program(PROGRAM(SGD, ""), "diag", 12); }
END_TEST

/* micro-batched (the NaN row in the last of three micro-batches) and fp16 */
START_TEST(diagnose_micro_fp16) {
  diagnose_program(PROGRAM(SGD, "speedup {\n  batch steps(at: [0.9], micro: 5)\n}\n"), "diagmicro", 12);
  diagnose_program(PROGRAM(ADAMW, "speedup {\n  precision fp16()\n}\n"), "diagfp16", 12);
}
END_TEST

/* the node table is the step graph */
START_TEST(node_table_matches_graph) {
  TuRun r;
  tu_run_init(&r, PROGRAM(SGD, "speedup {\n  batch steps(at: [0.5], factor: 2)\n}\n"), "table");
  const IrProgram *p = r.comp.prog;
  ck_assert_int_eq(r.d->nphases, (uint32_t)p->phases.len);
  for (int k = 0; k < p->phases.len; k++) {
    const IrGraph *g = &p->phases.data[k].step;
    const astrt_step_nodes *t = &r.d->step_nodes[k];
    ck_assert_int_eq(t->n, g->len);
    for (int i = 0; i < g->len; i++) {
      const IrNode *n = &g->nodes[i];
      ck_assert_str_eq(t->nodes[i].op, ir_ops[n->op].name);
      ck_assert_int_eq(t->nodes[i].role, (int)n->role);
      ck_assert_int_eq(t->nodes[i].dtype, (int)n->type.dtype);
      ck_assert_int_eq(t->nodes[i].line, n->loc.line);
      ck_assert_str_eq(t->nodes[i].layer, n->layer >= 0 ? p->layers.data[n->layer].name : "");
      if (n->op == IR_PARAM) ck_assert_str_eq(t->nodes[i].name, p->vars.data[n->ia[0]].name);
    }
  }
  tu_run_free(&r);
}
END_TEST

/* the runtime's check of 16-bit values */
START_TEST(check_finite_16bit) {
  float slot = -1;
  uint16_t half[3] = {0x3c00, 0x7bff, 0x0001};  /* 1, 65504, the smallest subnormal */
  astrt_check_finite(&slot, 4, half, 3, 2);
  ck_assert(slot == -1);
  half[1] = 0x7c00;  /* inf */
  astrt_check_finite(&slot, 4, half, 3, 2);
  ck_assert(slot == 4);
  astrt_check_finite(&slot, 9, half, 3, 2);  /* the first stays */
  ck_assert(slot == 4);
  slot = -1;
  uint16_t bf[2] = {0x3f80, 0x7fc0};  /* 1, NaN */
  astrt_check_finite(&slot, 2, bf, 1, 1);
  ck_assert(slot == -1);
  astrt_check_finite(&slot, 2, bf, 2, 1);
  ck_assert(slot == 2);
  slot = 0;  /* not diagnosing */
  float f[1] = {NAN};
  astrt_check_finite(&slot, 7, f, 1, 0);
  ck_assert(slot == 0);
}
END_TEST

Suite *robust_suite(void) {
  Suite *s = suite_create("robust");
  TCase *t = tcase_create("non-finite");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, every_update_is_guarded);
  tcase_add_test(t, guard_keeps_variables_sgd);
  tcase_add_test(t, guard_keeps_variables_adamw);
  tcase_add_test(t, guard_keeps_variables_micro_fp16);
  tcase_add_test(t, guard_keeps_variables_batchnorm);
  tcase_add_test(t, interpreter_skips_too);
  tcase_add_test(t, diagnose_names_first_nonfinite);
  tcase_add_test(t, diagnose_micro_fp16);
  tcase_add_test(t, node_table_matches_graph);
  tcase_add_test(t, check_finite_16bit);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) { return fx_main(argc, argv, robust_suite, NULL, 0); }
