/* test_passes.c — the speedup passes: phase splitting, the rewrites'
 * structure, and their numerics.
 *
 *   - micro-batches: k accumulated micro-batches equal one large batch
 *     (native code, |a - b| <= 1e-5 (|b| + 1e-3) per element after a step;
 *     float32 summation-order effects are ~1e-7), and the interpreter's
 *     micro-batch semantics equal its large-batch ones to 1e-10 in double;
 *   - freezing: a frozen phase leaves its frozen parameters bit-identical
 *     step after step while the rest train; the rewrite deletes exactly the
 *     weight-gradient, input-gradient and update work it should;
 *   - learning-rate coupling and FreezeOut appear as ops in the graph;
 *   - the table of passes and techniques (passes.def) is consistent, and an
 *     argument read by an id its rule does not take stops the compiler;
 *   - code-generation options (CgOptions) change the memory plan;
 *   - sequence-length warmup: a phase's step at context L is the program
 *     compiled at context L (node for node), keep: tokens cuts each example
 *     into T / L rows, and an inactive schedule leaves the baseline.
 */
#include <math.h>
#include <signal.h>

#include "codegen.h"
#include "costmodel.h"
#include "interp.h"
#include "pass.h"
#include "speedup.h"
#include "test_util.h"

static uint64_t rng = 7;
static float frand(void) { return fx_lcg_pm1(&rng); }

#define MLP(speedup)                                                                             \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n"                                                      \
  "  h = relu(nn.dense(x, 16))\n  h = nn.dropout(relu(nn.dense(h, 16)), 0.25)\n"                 \
  "  return nn.dense(h, 5)\n}\n"                                                                 \
  "train m on d {\n  loss = cross_entropy()\n"                                                   \
  "  optimizer = sgd(lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-3)\n"              \
  "  batch = 64\n  epochs = 2\n}\n" speedup

static const char *const PARAMS[] = {"dense_1.w", "dense_1.b", "dense_2.w", "dense_2.b", "dense_3.w", "dense_3.b"};

static int count_ops(const IrGraph *g, IrOp op) {
  int n = 0;
  for (int i = 0; i < g->len; i++) n += g->nodes[i].op == op;
  return n;
}

static void fill_vars(TuRun *r, uint64_t seed) {
  rng = seed;
  for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++) {
    float *w = tu_var(r, PARAMS[i]);
    for (int64_t k = 0; k < tu_numel(r, PARAMS[i]); k++) w[k] = frand() * 0.4f;
  }
}

static void batch(float *x, int32_t *y, int64_t rows) {
  for (int64_t i = 0; i < rows * 12; i++) x[i] = frand();
  for (int64_t i = 0; i < rows; i++) y[i] = (int32_t)((frand() + 1) * 2.49f);
}

/* accumulating micro-batches of 16 (and a last one of 9) equals one batch */
START_TEST(micro_batches_equal_large_batch) {
  TuRun big, micro;
  tu_run_init(&big, MLP(""), "big");
  tu_run_init(&micro, MLP("speedup {\n  batch steps(at: [0.99], factor: 2, micro: 16)\n}\n"), "micro");
  ck_assert_int_eq(micro.comp.prog->phases.data[0].micro, 16);
  ck_assert_int_eq(micro.comp.prog->phases.data[0].batch, 64);
  fill_vars(&big, 11);
  fill_vars(&micro, 11);
  float x[64 * 12];
  int32_t y[64];
  for (int s = 1; s <= 3; s++) {
    int64_t rows = s == 3 ? 57 : 64; /* a partial batch: 16+16+16+9 */
    batch(x, y, rows);
    float lb = tu_step(&big, 0, x, y, rows, 0.1f, s, 0.1f);
    float lm = tu_step(&micro, 0, x, y, rows, 0.1f, s, 0.1f);
    ck_assert_msg(fabsf(lb - lm) <= 1e-5f * fabsf(lb), "step %d: loss %.9g vs %.9g", s, lb, lm);
    for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++) {
      const float *a = tu_var(&micro, PARAMS[i]), *b = tu_var(&big, PARAMS[i]);
      for (int64_t k = 0; k < tu_numel(&big, PARAMS[i]); k++)
        ck_assert_msg(fabsf(a[k] - b[k]) <= 1e-5f * (fabsf(b[k]) + 1e-3f), "step %d %s[%lld]: %.9g vs %.9g", s,
                      PARAMS[i], (long long)k, a[k], b[k]);
    }
  }
  tu_run_free(&big);
  tu_run_free(&micro);
}
END_TEST

/* the interpreter's micro-batch semantics are the large batch's, in double */
START_TEST(interp_micro_equals_large_batch) {
  Compilation a, b;
  ck_assert(tu_compile(MLP(""), "ia", &a));
  ck_assert(tu_compile(MLP("speedup {\n  batch steps(at: [0.99], factor: 2, micro: 10)\n}\n"), "ib", &b));
  Interp ia, ib;
  interp_init(&ia, a.prog, 3);
  interp_init(&ib, b.prog, 3);
  ib.micro = 10;
  double x[37 * 12];
  int32_t y[37];
  for (int i = 0; i < 37 * 12; i++) x[i] = frand();
  for (int i = 0; i < 37; i++) y[i] = (int32_t)((frand() + 1) * 2.49f);
  Interp *both[2] = {&ia, &ib};
  for (int k = 0; k < 2; k++) {
    both[k]->x = x, both[k]->y = y, both[k]->rows = 37, both[k]->seed = 5;
    both[k]->scalars[SC_LR] = 0.1, both[k]->scalars[SC_STEP] = 1;
  }
  ck_assert(interp_run(&ia, &a.prog->phases.data[0].step));
  ck_assert(interp_run(&ib, &b.prog->phases.data[0].step));
  ck_assert(fabs(ia.outputs[OUT_LOSS] - ib.outputs[OUT_LOSS]) < 1e-10);
  for (int v = 0; v < a.prog->vars.len; v++)
    for (int64_t k = 0; k < shape_numel(&a.prog->vars.data[v].shape, 1); k++)
      ck_assert_msg(fabs(ia.vars[v][k] - ib.vars[v][k]) < 1e-10, "%s[%lld]: %.15g vs %.15g",
                    a.prog->vars.data[v].name, (long long)k, ia.vars[v][k], ib.vars[v][k]);
  interp_free(&ia);
  interp_free(&ib);
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}
END_TEST

/* in a frozen phase the frozen parameters do not change, bit for bit */
START_TEST(frozen_parameters_bit_identical) {
  TuRun r;
  /* no prefix reuse: the frozen phase's step reads the raw batch (with
   * reuse it would read 16 features per row: prefix_reuse_equals_full_step) */
  tu_run_init(&r, MLP("speedup {\n  freeze at(dense_1: 0.5, reuse: false)\n}\n"), "freeze");
  ck_assert_int_eq(r.d->nphases, 2);
  ck_assert(r.d->phases[1].prefix == NULL);
  ck_assert(r.d->phases[1].t_begin == 0.5);
  fill_vars(&r, 3);
  float x[64 * 12];
  int32_t y[64];
  /* train a little in phase 1 so the momentum buffers are not zero */
  for (int s = 1; s <= 3; s++) {
    batch(x, y, 64);
    tu_step(&r, 0, x, y, 64, 0.1f, s, 0.2f);
  }
  int64_t n1 = tu_numel(&r, "dense_1.w"), n2 = tu_numel(&r, "dense_2.w");
  float *w1 = malloc(sizeof(float) * (size_t)n1), *w2 = malloc(sizeof(float) * (size_t)n2);
  float b1[16];
  memcpy(w1, tu_var(&r, "dense_1.w"), sizeof(float) * (size_t)n1);
  memcpy(b1, tu_var(&r, "dense_1.b"), sizeof b1);
  memcpy(w2, tu_var(&r, "dense_2.w"), sizeof(float) * (size_t)n2);
  for (int s = 4; s <= 8; s++) {
    batch(x, y, 64);
    float loss = tu_step(&r, 1, x, y, 64, 0.1f, s, 0.7f);
    ck_assert_msg(loss > 0.5f && loss < 5.0f, "step %d: loss %g", s, loss);  /* about ln 5 */
  }
  ck_assert(memcmp(w1, tu_var(&r, "dense_1.w"), sizeof(float) * (size_t)n1) == 0);
  ck_assert(memcmp(b1, tu_var(&r, "dense_1.b"), sizeof b1) == 0);
  ck_assert(memcmp(w2, tu_var(&r, "dense_2.w"), sizeof(float) * (size_t)n2) != 0);
  free(w1);
  free(w2);
  tu_run_free(&r);
}
END_TEST


/* the frozen phase lost exactly dense_1's weight gradient and dense_2's
 * input gradient (2 matmuls), dense_1's two updates and their momentum reads */
START_TEST(freeze_rewrite_structure) {
  Compilation c;
  ck_assert(tu_compile(MLP("speedup {\n  freeze progressive(start: 0.4, level: 1.0, reuse: false)\n}\n"), "fs", &c));
  IrProgram *p = c.prog;
  /* n = 3 layers: dense_1 freezes at 0.4 + (1/2) 0.6 = 0.7; dense_2 at 1.0 (never) */
  ck_assert_int_eq(p->phases.len, 2);
  ck_assert(fabs(p->phases.data[1].t_begin - 0.7) < 1e-12);
  const IrGraph *g0 = &p->phases.data[0].step, *g1 = &p->phases.data[1].step;
  ck_assert_int_eq(count_ops(g0, IR_MATMUL) - count_ops(g1, IR_MATMUL), 2);
  ck_assert_int_eq(count_ops(g0, IR_SGD_UPDATE) - count_ops(g1, IR_SGD_UPDATE), 2);
  for (int i = 0; i < g1->len; i++) {
    const IrNode *n = &g1->nodes[i];
    if (n->op == IR_SGD_UPDATE) ck_assert(strncmp(p->vars.data[n->ia[0]].name, "dense_1.", 8) != 0);
    if (n->op == IR_PARAM) ck_assert(strcmp(p->vars.data[n->ia[0]].name, "dense_1.w.momentum") != 0);
    /* nothing in the backward pass is shaped like dense_1's parameters or input */
    if (n->role == ROLE_BACKWARD && n->type.shape.rank == 2)
      ck_assert(!(n->type.shape.d[0] == 12 && n->type.shape.d[1] == 16) && n->type.shape.d[1] != 12);
  }
  compilation_free(&c);
  src_reset();
}
END_TEST

/* Three frozen-phase steps (phase 1, dense_1 frozen) of a program without
 * prefix reuse and of one with it, from the same variables and batches: the
 * reused one fed its prefix function's features. Their losses go to lf and
 * lr. */
static void steps_with_and_without_prefix(TuRun *full, TuRun *reuse, float lf[3], float lr[3]) {
  ck_assert(full->d->phases[1].prefix == NULL);
  ck_assert(reuse->d->phases[1].prefix != NULL);
  ck_assert_int_eq(reuse->d->phases[1].feature_size, 16);
  fill_vars(full, 8);
  fill_vars(reuse, 8);
  float x[64 * 12], feat[64 * 16];
  int32_t y[64];
  for (int s = 1; s <= 3; s++) {
    batch(x, y, 64);
    float sc[ASTRT_NUM_SCALARS] = {0.1f, (float)s, 64, 1, 0.8f, 0, 1};
    reuse->d->phases[1].prefix(reuse->vars, reuse->work, x, y, 64, sc, feat, 5);
    lr[s - 1] = tu_step(reuse, 1, feat, y, 64, 0.1f, s, 0.8f);
    lf[s - 1] = tu_step(full, 1, x, y, 64, 0.1f, s, 0.8f);
  }
}

/* a reused frozen prefix: the prefix function's features fed to the step give
 * the same update as the full step on the raw batch */
START_TEST(prefix_reuse_equals_full_step) {
  TuRun full, reuse;
  tu_run_init(&full, MLP("speedup {\n  freeze at(dense_1: 0.5, reuse: false)\n}\n"), "full");
  tu_run_init(&reuse, MLP("speedup {\n  freeze at(dense_1: 0.5)\n}\n"), "reuse");
  /* the phase's step no longer reads x or dense_1 */
  const IrGraph *g = &reuse.comp.prog->phases.data[1].step;
  for (int i = 0; i < g->len; i++) {
    ck_assert(!(g->nodes[i].op == IR_INPUT && g->nodes[i].ia[0] == 0));
    ck_assert(!(g->nodes[i].op == IR_PARAM && !strncmp(reuse.comp.prog->vars.data[g->nodes[i].ia[0]].name, "dense_1.", 8)));
  }
  float lf[3], lr[3];
  steps_with_and_without_prefix(&full, &reuse, lf, lr);
  for (int s = 0; s < 3; s++) ck_assert_msg(fabsf(lr[s] - lf[s]) <= 1e-5f * fabsf(lf[s]), "loss %.9g vs %.9g", lr[s], lf[s]);
  for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++) {
    const float *a = tu_var(&reuse, PARAMS[i]), *b = tu_var(&full, PARAMS[i]);
    for (int64_t k = 0; k < tu_numel(&full, PARAMS[i]); k++)
      ck_assert_msg(fabsf(a[k] - b[k]) <= 1e-5f * (fabsf(b[k]) + 1e-3f), "%s[%lld]: %.9g vs %.9g", PARAMS[i],
                    (long long)k, a[k], b[k]);
  }
  tu_run_free(&full);
  tu_run_free(&reuse);
}
END_TEST

/* Phases that differ only in batch size (a ramp after dense_1 freezes) hold
 * the same frozen prefix: the first of them computes its features, the
 * others keep them (prefix_from), astc cost prices one computation and a
 * run computes them once (one prefix_cache event in the metrics); a phase
 * whose prefix grows (dense_2 frozen too) computes its own. */
static int prefix_cache_events(const astrt_program *d) {
  char path[] = "/tmp/astc_prefix_metrics_XXXXXX";
  int fd = mkstemp(path);
  ck_assert(fd >= 0);
  close(fd);
  astrt_options o;
  astrt_options_default(&o);
  o.quiet = 1;
  o.threads = 1;
  o.metrics_path = path;
  astrt_result res;
  ck_assert_msg(astrt_train(d, &o, &res) == ASTRT_OK, "%s", astrt_last_error());
  FILE *f = fopen(path, "r");
  ck_assert(f);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f)) n += strstr(line, "\"event\":\"prefix_cache\"") != NULL;
  fclose(f);
  unlink(path);
  return n;
}

static void check_prefix_sharing(const char *speedup, int computed) {
  TuRun r;
  tu_run_init(&r, speedup, "share");
  const IrProgram *p = r.comp.prog;
  int with = 0, own = 0;
  for (int i = 0; i < p->phases.len; i++) {
    const IrPhase *ph = &p->phases.data[i];
    if (!ph->prefix.len) continue;
    with++;
    own += ph->prefix_from == i;
    ck_assert_int_le(ph->prefix_from, i);
    ck_assert_int_eq(r.d->phases[i].prefix_from, ph->prefix_from);
    if (ph->prefix_from != i) {
      const IrPhase *prev = &p->phases.data[i - 1];
      ck_assert(prev->prefix.len && prev->prefix_from == ph->prefix_from);
      ck_assert(ir_graph_same(&prev->prefix, &ph->prefix));
      ck_assert_int_ne(prev->batch, ph->batch);
    }
  }
  ck_assert_int_ge(with, 3);
  ck_assert_int_eq(own, computed);
  Machine m = {.threads = 1, .bandwidth_gbs = 10, .cache_gbs = 0, .cache_bytes = 1 << 20};
  for (int k = 0; k < MACHINE_GEMM_POINTS; k++) m.gemm_gflops[k] = 50;
  ProgramCost pc;
  cost_program(p, &m, &pc);
  for (int i = 0; i < p->phases.len; i++) {
    const IrPhase *ph = &p->phases.data[i];
    if (ph->prefix.len && ph->prefix_from == i)
      ck_assert(pc.phases[i].cache_seconds > 0);
    else
      ck_assert(pc.phases[i].cache_seconds == 0);
  }
  cost_free(&pc);
  ck_assert_int_eq(prefix_cache_events(r.d), computed);
  tu_run_free(&r);
}

/* a cache is built only where it pays back: the phases that read it must
 * read at least as many examples as it holds (0.6 of a 2-epoch run: 1.2
 * epochs, yes; 0.3 of it: 0.6 epochs, no). Without it the phase's step is
 * the one reuse: false compiles, node for node */
static void assert_same_graph(const IrGraph *a, const IrGraph *b);

START_TEST(prefix_reused_only_where_it_pays_back) {
  static const char *const fmt = MLP("speedup {\n  freeze at(dense_1: %s%s)\n}\n");
  static const struct { const char *at; bool reused; } cases[] = {{"0.4", true}, {"0.7", false}};
  for (int i = 0; i < 2; i++) {
    char src[2048], off[2048];
    snprintf(src, sizeof src, fmt, cases[i].at, "");
    snprintf(off, sizeof off, fmt, cases[i].at, ", reuse: false");
    Compilation a, b;
    ck_assert(tu_compile(src, "pays", &a));
    ck_assert(tu_compile(off, "pays_off", &b));
    ck_assert_int_eq(a.prog->phases.len, 2);
    const IrPhase *ph = &a.prog->phases.data[1];
    ck_assert_msg((ph->prefix.len > 0) == cases[i].reused, "freeze at %s", cases[i].at);
    if (!cases[i].reused) {
      ck_assert_int_eq(ph->feature_size, 0);
      assert_same_graph(&ph->step, &b.prog->phases.data[1].step);
    }
    compilation_free(&a);
    compilation_free(&b);
    src_reset();
  }
}
END_TEST

START_TEST(prefix_shared_by_batch_phases) {
  check_prefix_sharing(MLP("speedup {\n  freeze at(dense_1: 0.2)\n"
                           "  batch ramp(sizes: 32 -> 64, until: 0.6, increment: 8)\n}\n"), 1);
  check_prefix_sharing(MLP("speedup {\n  freeze at(dense_1: 0.0, dense_2: 0.5)\n"
                           "  batch ramp(sizes: 32 -> 64, until: 0.6, increment: 8)\n}\n"), 2);
}
END_TEST

/* ---- frozen batch norm ------------------------------------------------------- */

#define BN_MLP(speedup)                                                                          \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n"                                                      \
  "  h = relu(nn.batchnorm(nn.dense(x, 16)))\n  h = relu(nn.batchnorm(nn.dense(h, 16)))\n"       \
  "  return nn.dense(h, 5)\n}\n"                                                                 \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9)\n"        \
  "  batch = 64\n  epochs = 2\n}\n" speedup

static int assigns_of(const IrProgram *p, const IrGraph *g, const char *prefix) {
  int n = 0;
  for (int i = 0; i < g->len; i++)
    n += g->nodes[i].op == IR_ASSIGN && !strncmp(p->vars.data[g->nodes[i].ia[0]].name, prefix, strlen(prefix));
  return n;
}

static int batch_means_of(const IrProgram *p, const IrGraph *g, const char *layer) {
  int n = 0;
  for (int i = 0; i < g->len; i++)
    n += g->nodes[i].op == IR_MEAN && g->nodes[i].layer >= 0 && !strcmp(p->layers.data[g->nodes[i].layer].name, layer);
  return n;
}

/* a model with a block called twice (block_1, block_2), each holding two
 * dense layers (block_N.dense_1, block_N.dense_2) */
#define NESTED(speedup)  \
      "import nn\n" \
      "layer block(x: f32[B, D]) -> f32[B, D] {\n" \
      "  h = relu(nn.dense(x, D))\n" \
      "  return x + nn.dense(h, D)\n" \
      "}\n" \
      "model m(x: f32[B, 12]) -> f32[B, 5] {\n" \
      "  h = relu(nn.dense(x, 16))\n" \
      "  h = block(h)\n" \
      "  h = block(h)\n" \
      "  return nn.dense(h, 5)\n" \
      "}\n" \
      "data d = synthetic(train: 256, test: 64, shape: [12], classes: 5)\n" \
      "train m on d {\n" \
      "  loss = cross_entropy()\n" \
      "  optimizer = sgd(lr: 0.1)\n" \
      "  batch = 64\n" \
      "  epochs = 2\n" \
      "}\n" \
      speedup

/* freeze at() names a layer nested in a block by its dotted name, as the
 * compiler lists layers (block_1.dense_1): only that layer freezes, its
 * sibling and the block's other instances train on (a name that is not a
 * name: golden diag speedup_freeze_at_not_a_name). */
START_TEST(freeze_at_nested_layer) {
  static const char *const src =
      NESTED("speedup {\n  freeze at(dense_1: 0.5, block_1.dense_1: 0.5, reuse: false)\n}\n");
  Compilation c;
  ck_assert(tu_compile(src, "nested", &c));
  const IrProgram *p = c.prog;
  ck_assert_int_eq(p->phases.len, 2);
  const IrPhase *ph = &p->phases.data[1];
  static const struct {
    const char *var;
    bool frozen;
  } want[] = {{"dense_1.w", true},          {"block_1.dense_1.w", true},  {"block_1.dense_1.b", true},
              {"block_1.dense_2.w", false}, {"block_2.dense_1.w", false}, {"dense_2.w", false}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    int v = ir_program_find_var(p, want[i].var);
    ck_assert_msg(v >= 0, "no variable %s", want[i].var);
    ck_assert_msg(ir_phase_frozen(ph, v) == want[i].frozen, "%s frozen: %d", want[i].var, ir_phase_frozen(ph, v));
    ck_assert(!ir_phase_frozen(&p->phases.data[0], v));
  }
  compilation_free(&c);
  src_reset();
}
END_TEST

/* A keep list names a nested layer with dots too: precision bf16(keep:
 * [block_1.dense_1]) leaves that layer's values fp32 and lowers its
 * sibling's and the other instance's. */
START_TEST(keep_nested_layer) {
  Compilation c;
  ck_assert(tu_compile(NESTED("speedup {\n  precision bf16(keep: [block_1.dense_1])\n}\n"), "keep", &c));
  const IrProgram *p = c.prog;
  const IrGraph *g = &p->phases.data[0].step;
  static const char *const layers[] = {"block_1.dense_1", "block_1.dense_2", "block_2.dense_1"};
  int bf16[3] = {0, 0, 0};
  for (int i = 0; i < g->len; i++)
    for (int k = 0; k < 3; k++)
      if (g->nodes[i].layer >= 0 && !strcmp(p->layers.data[g->nodes[i].layer].name, layers[k]))
        bf16[k] += g->nodes[i].type.dtype == DT_BF16;
  ck_assert_int_eq(bf16[0], 0);
  ck_assert_int_gt(bf16[1], 0);
  ck_assert_int_gt(bf16[2], 0);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* A frozen batch norm runs as in evaluation (statistics: frozen, the
 * default): its phase's step normalises with the running statistics and no
 * longer updates them, while a trained one still does; statistics: batch
 * keeps the batch statistics and their updates. */
START_TEST(frozen_batchnorm_runs_as_evaluation) {
  Compilation c;
  ck_assert(tu_compile(BN_MLP("speedup {\n  freeze at(dense_1: 0.3, batchnorm_1: 0.3, reuse: false)\n}\n"), "bnf", &c));
  const IrProgram *p = c.prog;
  ck_assert_int_eq(p->phases.len, 2);
  ck_assert(p->layers.data[1].reads_training && !p->layers.data[0].reads_training);  /* batchnorm_1, dense_1 */
  const IrGraph *g0 = &p->phases.data[0].step, *g1 = &p->phases.data[1].step;
  ck_assert_int_eq(assigns_of(p, g0, "batchnorm_1."), 2);
  ck_assert_int_eq(assigns_of(p, g1, "batchnorm_1."), 0);
  ck_assert_int_eq(assigns_of(p, g1, "batchnorm_2."), 2);
  ck_assert_int_gt(batch_means_of(p, g0, "batchnorm_1"), 0);
  ck_assert_int_eq(batch_means_of(p, g1, "batchnorm_1"), 0);
  ck_assert_int_gt(batch_means_of(p, g1, "batchnorm_2"), 0);
  compilation_free(&c);
  src_reset();
  ck_assert(tu_compile(BN_MLP("speedup {\n  freeze at(dense_1: 0.3, batchnorm_1: 0.3, reuse: false, "
                              "statistics: batch)\n}\n"), "bnb", &c));
  ck_assert_int_eq(assigns_of(c.prog, &c.prog->phases.data[1].step, "batchnorm_1."), 2);
  ck_assert_int_gt(batch_means_of(c.prog, &c.prog->phases.data[1].step, "batchnorm_1"), 0);
  compilation_free(&c);
  src_reset();
  /* a frozen batch norm behind dropout is not in the prefix, but what it
   * computes from its frozen statistics alone (rsqrt(running_var + eps)) is
   * not a second cut: the prefix up to the dropout is still reused */
  ck_assert(tu_compile("import nn\n"
                       "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"
                       "model m(x: f32[B, 12]) -> f32[B, 5] {\n"
                       "  h = nn.dropout(relu(nn.batchnorm(nn.dense(x, 16))), 0.2)\n"
                       "  h = relu(nn.batchnorm(nn.dense(h, 16)))\n  return nn.dense(h, 5)\n}\n"
                       "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n"
                       "  batch = 64\n  epochs = 2\n}\n"
                       "speedup {\n  freeze at(dense_1: 0.3, batchnorm_1: 0.3, dense_2: 0.3, batchnorm_2: 0.3)\n}\n",
                       "bnd", &c));
  const IrPhase *ph = &c.prog->phases.data[1];
  ck_assert_int_eq(ph->feature_size, 16);
  ck_assert_int_eq(batch_means_of(c.prog, &ph->step, "batchnorm_2"), 0);
  ck_assert_int_eq(assigns_of(c.prog, &ph->step, "batchnorm_"), 0);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* Natively: a frozen-phase step leaves the frozen batch norm's running
 * statistics as they were and moves the trained one's; with prefix reuse the
 * prefix now runs through the frozen batch norm (its features are a
 * per-example function) and the step on them gives the same loss and
 * variables, bit for bit, as the step recomputing it. */
START_TEST(frozen_batchnorm_step_and_prefix) {
  TuRun full, reuse;
  tu_run_init(&full, BN_MLP("speedup {\n  freeze at(dense_1: 0.3, batchnorm_1: 0.3, reuse: false)\n}\n"), "bnfull");
  tu_run_init(&reuse, BN_MLP("speedup {\n  freeze at(dense_1: 0.3, batchnorm_1: 0.3)\n}\n"), "bnreuse");
  ck_assert(full.d->phases[1].prefix == NULL && reuse.d->phases[1].prefix != NULL);
  const IrGraph *pg = &reuse.comp.prog->phases.data[1].prefix;
  bool through = false;
  for (int i = 0; i < pg->len; i++)
    through |= pg->nodes[i].layer >= 0 && !strcmp(reuse.comp.prog->layers.data[pg->nodes[i].layer].name, "batchnorm_1");
  ck_assert_msg(through, "the prefix stops before the frozen batch norm");
  rng = 17;
  for (int64_t k = 0; k < (int64_t)(full.d->var_bytes / 4); k++) full.vars[k] = frand() * 0.4f;
  const char *rv[] = {"batchnorm_1.running_var", "batchnorm_2.running_var"};
  for (int j = 0; j < 2; j++)
    for (int64_t k = 0; k < tu_numel(&full, rv[j]); k++) tu_var(&full, rv[j])[k] = 0.5f + fabsf(tu_var(&full, rv[j])[k]);
  memcpy(reuse.vars, full.vars, (size_t)full.d->var_bytes);
  float m1[16], m2[16];
  memcpy(m1, tu_var(&full, "batchnorm_1.running_mean"), sizeof m1);
  memcpy(m2, tu_var(&full, "batchnorm_2.running_mean"), sizeof m2);
  float x[64 * 12], feat[64 * 16];
  int32_t y[64];
  for (int s = 1; s <= 3; s++) {
    batch(x, y, 64);
    float sc[ASTRT_NUM_SCALARS] = {0.1f, (float)s, 64, 1, 0.5f, 0, 1};
    reuse.d->phases[1].prefix(reuse.vars, reuse.work, x, y, 64, sc, feat, 5);
    float lr = tu_step(&reuse, 1, feat, y, 64, 0.1f, s, 0.5f), lf = tu_step(&full, 1, x, y, 64, 0.1f, s, 0.5f);
    ck_assert_msg(lr == lf, "step %d: loss %.9g with the prefix reused, %.9g recomputed", s, lr, lf);
  }
  ck_assert(memcmp(reuse.vars, full.vars, (size_t)full.d->var_bytes) == 0);
  ck_assert(memcmp(m1, tu_var(&full, "batchnorm_1.running_mean"), sizeof m1) == 0);
  ck_assert(memcmp(m2, tu_var(&full, "batchnorm_2.running_mean"), sizeof m2) != 0);
  tu_run_free(&full);
  tu_run_free(&reuse);
}
END_TEST

/* A steps budget with a batch ramp that starts small runs out of steps at
 * progress 0.33 (100 steps of 8..32 rows against 100 x 32 samples): a
 * warning says so and where; an epochs budget, or a ramp from the train
 * block's batch up, has none */
START_TEST(steps_budget_with_small_batches_warns) {
  static const char *fmt = "import nn\n"
                           "data d = synthetic(shape: [4], classes: 3, train: 1000)\n"
                           "model m(x: f32[B, 4]) -> f32[B, 3] {\n  return nn.dense(relu(nn.dense(x, 8)), 3)\n}\n"
                           "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n  batch = 32\n"
                           "  %s\n}\nspeedup {\n  batch ramp(%s, until: 0.5)\n}\n";
  char src[1024];
  snprintf(src, sizeof src, fmt, "steps = 100", "8 -> 32");
  char *m = tu_compile_messages(src, "sb");
  ck_assert_msg(strstr(m, "warning: with a steps budget (steps = 100)") && strstr(m, "at progress 0.33"), "%s", m);
  free(m);
  snprintf(src, sizeof src, fmt, "epochs = 2", "8 -> 32");
  m = tu_compile_messages(src, "sb");
  ck_assert_msg(!strstr(m, "warning"), "%s", m);
  free(m);
  snprintf(src, sizeof src, fmt, "steps = 100", "32 -> 64");
  m = tu_compile_messages(src, "sb");
  ck_assert_msg(!strstr(m, "warning"), "%s", m);
  free(m);
}
END_TEST

/* micro-batches with batch norm in training mode: its statistics are per
 * micro-batch, and a warning says so (at micro:); none without batch norm or
 * when the micro-batch is the whole batch */
START_TEST(micro_batches_with_batch_norm_warn) {
  static const char *fmt = "import nn\n"
                           "data d = synthetic(shape: [4], classes: 3, train: 1000)\n"
                           "model m(x: f32[B, 4]) -> f32[B, 3] {\n  return nn.dense(relu(%s(nn.dense(x, 8))), 3)\n}\n"
                           "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n  batch = 32\n"
                           "  epochs = 2\n}\nspeedup {\n  batch ramp(32 -> 64, until: 0.5, micro: %d)\n}\n";
  static const struct { const char *norm; int micro; bool warns; } cases[] = {
      {"nn.batchnorm", 8, true}, {"nn.batchnorm", 64, false}, {"", 8, false}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[1024];
    snprintf(src, sizeof src, fmt, cases[i].norm, cases[i].micro);
    char *m = tu_compile_messages(src, "mbn");
    bool warned = strstr(m, "warning: batch ramp: phase 1's batch of 32 runs in micro-batches of at most 8 rows, "
                            "and batch statistics") != NULL;
    ck_assert_msg(warned == cases[i].warns, "case %zu: %s", i, m);
    ck_assert_msg(!cases[i].warns || strstr(m, ":13:43: warning"), "case %zu: not at micro: %s", i, m);
    free(m);
  }
}
END_TEST

/* prefix reuse under precision lowering: the step reads 16-bit copies of
 * the cut, which it now makes itself from the cached f32 features; the same
 * bits as recomputing the prefix */
START_TEST(prefix_reuse_with_precision) {
  static const char *const fmt =
      "import nn\n"
      "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"
      "model m(x: f32[B, 12]) -> f32[B, 5] {\n"
      "  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 16))\n  return nn.dense(h, 5)\n}\n"
      "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9)\n"
      "  batch = 64\n  epochs = 2\n}\n"
      "speedup {\n  freeze at(dense_1: 0.5, reuse: %s)\n  precision bf16()\n}\n";
  char src_full[1024], src_reuse[1024];
  snprintf(src_full, sizeof src_full, fmt, "false");
  snprintf(src_reuse, sizeof src_reuse, fmt, "true");
  TuRun full, reuse;
  tu_run_init(&full, src_full, "pfull");
  tu_run_init(&reuse, src_reuse, "preuse");
  float lf[3], lr[3];
  steps_with_and_without_prefix(&full, &reuse, lf, lr);
  for (int s = 0; s < 3; s++) ck_assert_msg(lr[s] == lf[s], "loss %.9g vs %.9g", lr[s], lf[s]);
  ck_assert(memcmp(reuse.vars, full.vars, (size_t)full.d->var_bytes) == 0);
  tu_run_free(&full);
  tu_run_free(&reuse);
}
END_TEST

/* no reuse where the prefix is not deterministic (dropout) */
START_TEST(prefix_not_reused_through_dropout) {
  Compilation c;
  ck_assert(tu_compile(MLP("speedup {\n  freeze at(dense_1: 0.2, dense_2: 0.4)\n}\n"), "drop", &c));
  /* dense_2's output goes through dropout: the prefix stops before it */
  const IrPhase *ph = &c.prog->phases.data[2];
  ck_assert_int_eq(ph->feature_size, 16);
  ck_assert_int_eq(count_ops(&ph->prefix, IR_MATMUL), 2);  /* dense_1 and dense_2, up to the dropout */
  ck_assert_int_eq(count_ops(&ph->prefix, IR_DROPOUT_MASK), 0);
  ck_assert_int_eq(count_ops(&ph->step, IR_DROPOUT_MASK), 1);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* a frozen layer in the middle keeps the input-gradient chain through it */
START_TEST(freeze_middle_layer_keeps_chain) {
  Compilation c;
  ck_assert(tu_compile(MLP("speedup {\n  freeze at(dense_2: 0.3, reuse: false)\n}\n"), "mid", &c));
  const IrGraph *g0 = &c.prog->phases.data[0].step, *g1 = &c.prog->phases.data[1].step;
  ck_assert_int_eq(count_ops(g0, IR_MATMUL) - count_ops(g1, IR_MATMUL), 1); /* only dense_2's dW */
  compilation_free(&c);
  src_reset();
}
END_TEST

/* batch coupling: lr x (batch / base) is the phase's lr_scale, which the
 * descriptor carries and the driver applies to the step's `scalar lr`; the
 * phases of the ramp then have one step graph and one compiled function,
 * planned for the largest batch */
START_TEST(lr_coupling_shares_the_step) {
  TuRun r;
  tu_run_init(&r, MLP("speedup {\n  batch ramp(64 -> 256, until: 0.5, increment: 64, lr_scale: sqrt)\n}\n"), "lr");
  const IrProgram *p = r.comp.prog;
  ck_assert_int_eq(p->phases.len, 4);
  for (int i = 0; i < 4; i++) {
    const IrPhase *ph = &p->phases.data[i];
    ck_assert_int_eq(ph->batch, 64 * (i + 1));
    ck_assert(fabs(ph->lr_scale - sqrt(i + 1.0)) < 1e-12);
    ck_assert(r.d->phases[i].lr_scale == ph->lr_scale);
    ck_assert(ir_graph_same(&ph->step, &p->phases.data[0].step));
    ck_assert_int_eq(cg_step_rep(p, i), 0);
    ck_assert(r.d->phases[i].step == r.d->phases[0].step);
    ck_assert_int_eq(r.d->phases[i].work_bytes, r.d->phases[0].work_bytes);
  }
  ck_assert_int_eq(cg_step_plan_rows(p, 0), 256);
  /* the shared function, planned for 256 rows, runs phase 0's 64 rows as
   * the baseline program's own step does */
  TuRun base;
  tu_run_init(&base, MLP(""), "lrbase");
  ck_assert(r.d->phases[0].work_bytes > base.d->phases[0].work_bytes);
  fill_vars(&r, 4);
  fill_vars(&base, 4);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  float la = tu_step(&r, 0, x, y, 64, 0.1f, 1, 0.0f), lb = tu_step(&base, 0, x, y, 64, 0.1f, 1, 0.0f);
  ck_assert(la == lb);
  ck_assert(memcmp(r.vars, base.vars, (size_t)base.d->var_bytes) == 0);
  tu_run_free(&base);
  tu_run_free(&r);
}
END_TEST

/* FreezeOut: a layer that will freeze at t_l trains at lr x 0.5 (1 + cos(pi t / t_l)) */
START_TEST(freezeout_anneals) {
  TuRun r;
  tu_run_init(&r, MLP("speedup {\n  freeze at(dense_1: 0.5, freezeout: true)\n}\n"), "fo");
  fill_vars(&r, 9);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  /* at t = 0.5 - tiny, dense_1's rate is ~0: its weights barely move */
  int64_t n1 = tu_numel(&r, "dense_1.w");
  float *w1 = malloc(sizeof(float) * (size_t)n1);
  memcpy(w1, tu_var(&r, "dense_1.w"), sizeof(float) * (size_t)n1);
  tu_step(&r, 0, x, y, 64, 0.1f, 1, 0.49999f);
  double moved = 0;
  for (int64_t k = 0; k < n1; k++) moved = fmax(moved, fabs(tu_var(&r, "dense_1.w")[k] - w1[k]));
  ck_assert_msg(moved < 1e-7, "dense_1 moved by %g at the end of its annealing", moved);
  /* at t = 0 it moves */
  tu_step(&r, 0, x, y, 64, 0.1f, 2, 0.0f);
  moved = 0;
  for (int64_t k = 0; k < n1; k++) moved = fmax(moved, fabs(tu_var(&r, "dense_1.w")[k] - w1[k]));
  ck_assert(moved > 1e-4);
  free(w1);
  tu_run_free(&r);
}
END_TEST

/* freezeout_scale: a layer freezing at t_l = 0.5 starts at 1/t_l = 2 times
 * the rate; the first step from the same variables moves dense_1 twice as
 * far (the update is linear in the rate), the never-frozen layers as far */
START_TEST(freezeout_scaled) {
  TuRun a, b;
  tu_run_init(&a, MLP("speedup {\n  freeze at(dense_1: 0.5, freezeout: true)\n}\n"), "fo_a");
  tu_run_init(&b, MLP("speedup {\n  freeze at(dense_1: 0.5, freezeout: true, freezeout_scale: true)\n}\n"), "fo_b");
  fill_vars(&a, 9);
  fill_vars(&b, 9);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  static const char *const names[] = {"dense_1.w", "dense_2.w"};
  float *before[2];
  for (int v = 0; v < 2; v++) {
    before[v] = malloc(sizeof(float) * (size_t)tu_numel(&a, names[v]));
    memcpy(before[v], tu_var(&a, names[v]), sizeof(float) * (size_t)tu_numel(&a, names[v]));
  }
  tu_step(&a, 0, x, y, 64, 0.1f, 1, 0.0f);
  tu_step(&b, 0, x, y, 64, 0.1f, 1, 0.0f);
  for (int v = 0; v < 2; v++) {
    double want = v == 0 ? 2.0 : 1.0, sa = 0, sb = 0;
    for (int64_t k = 0; k < tu_numel(&a, names[v]); k++) {
      sa += fabs(tu_var(&a, names[v])[k] - before[v][k]);
      sb += fabs(tu_var(&b, names[v])[k] - before[v][k]);
    }
    ck_assert_msg(sa > 0 && fabs(sb / sa - want) < 1e-3, "%s: moved %g vs %g, ratio %g, want %g", names[v], sb, sa,
                  sb / sa, want);
    free(before[v]);
  }
  tu_run_free(&a);
  tu_run_free(&b);
}
END_TEST

/* fp16 loss scaling: a step whose scaled gradients overflow fp16 is skipped
 * whole (no parameter or momentum changes) and says so; the same step with
 * a sane scale trains */
START_TEST(fp16_overflow_skips_step) {
  TuRun r;
  tu_run_init(&r, MLP("speedup {\n  precision fp16(init_scale: 1024, growth_interval: 5)\n}\n"), "fp16");
  ck_assert(r.d->loss_scale == 1024);
  ck_assert_int_eq(r.d->loss_scale_growth, 5);
  fill_vars(&r, 4);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  size_t bytes = (size_t)r.d->var_bytes;
  void *before = malloc(bytes);
  memcpy(before, r.vars, bytes);
  float scalars[ASTRT_NUM_SCALARS] = {0.1f, 1, 64, 1e30f, 0.1f};  /* an injected overflow */
  float out[ASTRT_NUM_OUTPUTS] = {0};
  r.d->phases[0].step(r.vars, r.work, x, y, 64, scalars, out, 5);
  ck_assert(out[ASTRT_OUT_OVERFLOW] == 1);
  ck_assert(isfinite(out[ASTRT_OUT_LOSS]));
  ck_assert(memcmp(before, r.vars, bytes) == 0);
  scalars[ASTRT_SC_LOSS_SCALE] = 1024;
  r.d->phases[0].step(r.vars, r.work, x, y, 64, scalars, out, 5);
  ck_assert(out[ASTRT_OUT_OVERFLOW] == 0);
  ck_assert(memcmp(before, r.vars, bytes) != 0);
  /* the unscaled update equals the same step without loss scaling (scale 1) */
  float *after = malloc(bytes);
  memcpy(after, r.vars, bytes);
  memcpy(r.vars, before, bytes);
  scalars[ASTRT_SC_LOSS_SCALE] = 1;
  r.d->phases[0].step(r.vars, r.work, x, y, 64, scalars, out, 5);
  const float *w = tu_var(&r, "dense_3.w");
  const float *wa = (const float *)((const char *)after + ((const char *)w - (const char *)r.vars));
  for (int64_t k = 0; k < tu_numel(&r, "dense_3.w"); k++)
    ck_assert_msg(fabsf(w[k] - wa[k]) <= 1e-3f * (fabsf(w[k]) + 1e-2f), "%.9g vs %.9g", w[k], wa[k]);
  free(before);
  free(after);
  tu_run_free(&r);
}
END_TEST

/* AdamW counts the updates applied (adamw.step), not the steps run: after
 * an fp16 overflow skipped step 1, step 2 is the first update, t = 1, whose
 * bias corrections make every weight move by lr * g / (|g| + eps), about
 * lr (with t = 2 it would move by about 0.74 lr) */
START_TEST(adam_counts_applied_updates) {
  TuRun r;
  tu_run_init(&r,
              "import nn\n"
              "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"
              "model m(x: f32[B, 12]) -> f32[B, 5] {\n  return nn.dense(relu(nn.dense(x, 16)), 5)\n}\n"
              "train m on d {\n  loss = cross_entropy()\n  optimizer = adamw(lr: 0.01, weight_decay: 0)\n"
              "  batch = 64\n  epochs = 2\n}\n"
              "speedup {\n  precision fp16(init_scale: 1024)\n}\n",
              "adam");
  rng = 6;
  for (int i = 0; i < 4; i++) {
    float *w = tu_var(&r, PARAMS[i]);
    for (int64_t k = 0; k < tu_numel(&r, PARAMS[i]); k++) w[k] = frand() * 0.4f;
  }
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  int64_t n = tu_numel(&r, "dense_2.w");
  float w0[80];
  ck_assert_int_eq(n, 80);
  memcpy(w0, tu_var(&r, "dense_2.w"), sizeof w0);
  float scalars[ASTRT_NUM_SCALARS] = {0.01f, 1, 64, 1e30f, 0.1f, 0, 1};  /* an injected overflow */
  float out[ASTRT_NUM_OUTPUTS] = {0};
  r.d->phases[0].step(r.vars, r.work, x, y, 64, scalars, out, 5);
  ck_assert(out[ASTRT_OUT_OVERFLOW] == 1);
  ck_assert(tu_var(&r, "adamw.step")[0] == 0);
  scalars[ASTRT_SC_STEP] = 2, scalars[ASTRT_SC_LOSS_SCALE] = 1024;
  r.d->phases[0].step(r.vars, r.work, x, y, 64, scalars, out, 5);
  ck_assert(out[ASTRT_OUT_OVERFLOW] == 0);
  ck_assert(tu_var(&r, "adamw.step")[0] == 1);
  int about_lr = 0;
  for (int64_t k = 0; k < n; k++) {
    float d = fabsf(tu_var(&r, "dense_2.w")[k] - w0[k]);
    ck_assert_msg(d <= 0.01f * 1.001f, "[%lld] moved %g", (long long)k, d);
    about_lr += d >= 0.01f * 0.99f;
  }
  ck_assert_int_ge(about_lr, 60);  /* the rest: gradients near eps or 0 */
  r.d->phases[0].step(r.vars, r.work, x, y, 64, scalars, out, 5);
  ck_assert(tu_var(&r, "adamw.step")[0] == 2);
  tu_run_free(&r);
}
END_TEST

/* removing the speedup block gives back the baseline exactly */
START_TEST(no_speedup_is_baseline) {
  Compilation a, b;
  ck_assert(tu_compile(MLP(""), "base", &a));
  ck_assert(tu_compile(MLP("speedup {\n  freeze progressive(start: 0.4)\n  batch ramp(64 -> 128, until: 0.2)\n}\n"),
                       "rec", &b));
  ck_assert_int_eq(b.prog->phases.len > 1, 1);
  compilation_free(&b);
  src_reset();
  /* the same file compiled without its speedup block */
  CompileOptions opt = {.no_speedup = true};
  ck_assert(tu_compile_with(MLP("speedup {\n  freeze progressive(start: 0.4)\n  batch ramp(64 -> 128, until: 0.2)\n}\n"),
                            "nospeedup", &opt, &b));
  ck_assert_int_eq(b.prog->phases.len, 1);
  const IrGraph *ga = &a.prog->phases.data[0].step, *gb = &b.prog->phases.data[0].step;
  ck_assert_int_eq(ga->len, gb->len);
  for (int i = 0; i < ga->len; i++) {
    ck_assert_int_eq(ga->nodes[i].op, gb->nodes[i].op);
    ck_assert(type_eq(&ga->nodes[i].type, &gb->nodes[i].type));
    ck_assert(memcmp(ga->nodes[i].in, gb->nodes[i].in, sizeof ga->nodes[i].in) == 0);
  }
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}
END_TEST


/* ---- seqlen warmup ----------------------------------------------------------------------- */

#define LM(context, speedup)                                                                     \
  "import nn\n"                                                                                  \
  "data d = tokens(\"unused.bin\", vocab: 13, context: " context ")\n"                           \
  "model m(tok: i32[B, T]) -> f32[B, T, 13] {\n"                                                 \
  "  h = nn.embedding(tok, 13, 8) + nn.embedding(arange(T), 16, 8)\n"                            \
  "  h = nn.transformer_block(h, 2, layers: 1)\n"                                                \
  "  return nn.linear(nn.layernorm(h), 13)\n}\n"                                                \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = adamw(lr: 1e-3)\n"                   \
  "  batch = 5\n  steps = 100\n}\n" speedup

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

START_TEST(seqlen_phase_is_model_at_context) {
  Compilation a, b;
  ck_assert(tu_compile(LM("16", "speedup {\n  seqlen warmup(from: 4, until: 0.6, increment: 4)\n}\n"), "warm", &a));
  /* contexts 4, 8, 12 for a fifth of training each, then 16 */
  const IrProgram *p = a.prog;
  ck_assert_int_eq(p->phases.len, 4);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(p->phases.data[i].context, i < 3 ? 4 * (i + 1) : 0);
    ck_assert_int_eq(ir_phase_rows(&p->phases.data[i]), 5);  /* keep: examples */
    ck_assert(fabs(p->phases.data[i].t_begin - 0.2 * i) < 1e-12);
  }
  /* phase 1 (context 8) is, node for node, the program whose data has a context of 8 */
  ck_assert(tu_compile(LM("8", ""), "short", &b));
  assert_same_graph(&p->phases.data[1].step, &b.prog->phases.data[0].step);
  ck_assert_int_eq(p->phases.data[1].step.nodes[0].type.shape.d[1], 8);
  compilation_free(&b);
  /* the last phase, and evaluation, are the baseline's */
  CompileOptions opt = {.no_speedup = true};
  ck_assert(tu_compile_with(LM("16", "speedup {\n  seqlen warmup(from: 4, until: 0.6, increment: 4)\n}\n"), "base",
                            &opt, &b));
  assert_same_graph(&p->phases.data[3].step, &b.prog->phases.data[0].step);
  assert_same_graph(&p->eval, &b.prog->eval);
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}
END_TEST

/* keep: tokens: each 16-token example becomes 16 / L rows of the step */
START_TEST(seqlen_keep_tokens_cuts_examples) {
  Compilation a;
  ck_assert(tu_compile(LM("16", "speedup {\n  seqlen warmup(from: 4, until: 0.5, keep: tokens)\n}\n"), "tok", &a));
  const IrProgram *p = a.prog;
  ck_assert_int_eq(p->phases.len, 3);  /* 4, 12 (4 + 8), then 16 */
  ck_assert_int_eq(p->phases.data[0].context, 4);
  ck_assert_int_eq(p->phases.data[0].pieces, 4);
  ck_assert_int_eq(ir_phase_rows(&p->phases.data[0]), 20);
  ck_assert_int_eq(p->phases.data[1].context, 12);
  ck_assert_int_eq(p->phases.data[1].pieces, 1);  /* 16 / 12: one piece, the rest of the window unused */
  ck_assert_int_eq(ir_phase_rows(&p->phases.data[2]), 5);
  compilation_free(&a);
  src_reset();
}
END_TEST

/* a schedule that never shortens the context leaves the baseline's step */
START_TEST(seqlen_inactive_is_baseline) {
  Compilation a, b;
  ck_assert(tu_compile(LM("16", "speedup {\n  seqlen warmup(from: 4, until: 0)\n}\n"), "inactive", &a));
  CompileOptions opt = {.no_speedup = true};
  ck_assert(tu_compile_with(LM("16", "speedup {\n  seqlen warmup(from: 4, until: 0)\n}\n"), "inactive_base", &opt,
                            &b));
  ck_assert_int_eq(a.prog->phases.len, 1);
  ck_assert_int_eq(a.prog->phases.data[0].context, 0);
  ck_assert_int_eq(a.prog->variant_steps.len, 0);
  assert_same_graph(&a.prog->phases.data[0].step, &b.prog->phases.data[0].step);
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}
END_TEST

/* ---- progressive resizing --------------------------------------------------------------- */

#define CNN(size, speedup)                                                                       \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [1, " size "], classes: 3, train: 512)\n"                           \
  "model m(x: f32[B, 1, H, W]) -> f32[B, 3] {\n"                                                 \
  "  h = relu(nn.batchnorm2d(nn.conv2d(x, 4, kernel: 3, pad: 1)))\n"                             \
  "  h = relu(h + nn.conv2d(h, 4, kernel: 3, pad: 1))\n"                                         \
  "  return nn.dense(nn.global_avg_pool(h), 3)\n}\n"                                             \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9)\n"       \
  "  batch = 16\n  epochs = 4\n}\n" speedup

/* A phase at 8x12 is the resize of the batch, then, node for node, the
 * program whose data are 8x12 images (its node i is the phase's node i + 1:
 * after the input, the phase has the resize). */
START_TEST(resize_phase_is_model_at_size) {
  Compilation a, b;
  ck_assert(tu_compile(CNN("16, 24", "speedup {\n  resize progressive(from: 0.5, until: 0.5, increment: 4)\n}\n"),
                       "rz", &a));
  const IrProgram *p = a.prog;
  /* sides 8 -> 16 and 12 -> 24 in steps of 4 over [0, 0.5) */
  ck_assert_int_gt(p->phases.len, 2);
  ck_assert(p->phases.data[0].height == 8 && p->phases.data[0].width == 12);
  const IrPhase *last = &p->phases.data[p->phases.len - 1];
  ck_assert(last->height == 0 && fabs(last->t_begin - 0.5) < 1e-9);
  ck_assert(tu_compile(CNN("8, 12", ""), "small", &b));
  const IrGraph *g = &p->phases.data[0].step, *h = &b.prog->phases.data[0].step;
  ck_assert_int_eq(g->nodes[0].op, IR_INPUT);
  ck_assert_int_eq(g->nodes[1].op, IR_RESIZE2D);
  ck_assert_int_eq(g->nodes[0].type.shape.d[3], 24);  /* the batch comes at full size */
  ck_assert_int_eq(g->len, h->len + 1);
  for (int j = 0; j < h->len; j++) {
    const IrNode *x = &g->nodes[j == 0 ? 1 : j + 1], *y = &h->nodes[j];
    ck_assert_msg(j == 0 || x->op == y->op, "node %%%d: %s vs %s", j, ir_ops[x->op].name, ir_ops[y->op].name);
    ck_assert_msg(type_eq(&x->type, &y->type), "node %%%d: type differs", j);
    for (int k = 0; k < y->nin; k++) ck_assert_int_eq(x->in[k], y->in[k] == 0 ? 1 : y->in[k] + 1);
    if (j > 0) ck_assert(!memcmp(x->ia, y->ia, sizeof x->ia) && !memcmp(x->fa, y->fa, sizeof x->fa));
  }
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}
END_TEST

/* from: 1 never scales: the baseline, node for node */
START_TEST(resize_inactive_is_baseline) {
  Compilation a, b;
  ck_assert(tu_compile(CNN("16, 16", "speedup {\n  resize progressive(from: 1)\n}\n"), "rz1", &a));
  ck_assert(tu_compile(CNN("16, 16", ""), "rz0", &b));
  ck_assert_int_eq(a.prog->phases.len, 1);
  ck_assert_int_eq(a.prog->variant_steps.len, 0);
  assert_same_graph(&a.prog->phases.data[0].step, &b.prog->phases.data[0].step);
  compilation_free(&a);
  compilation_free(&b);
  src_reset();
}
END_TEST

/* passes.def: every rule takes arguments of its own technique, each once and
 * with distinct names; every argument belongs to some rule; every technique
 * has a rule; pass names are unique */
START_TEST(technique_table_consistent) {
  bool used[ARG_NUM] = {0};
  int rules_of[TECH_NUM] = {0};
  for (int i = 0; sp_rule_at(i); i++) {
    const SpRuleSpec *r = sp_rule_at(i);
    ck_assert_int_eq(r->id, i);
    ck_assert(r->nargs >= 1 && r->nargs <= SP_MAX_ARGS);
    rules_of[r->technique]++;
    ck_assert_ptr_eq(sp_find_rule(r->technique, r->rule), r);
    for (int k = 0; k < r->nargs; k++) {
      const SpArgSpec *a = sp_rule_arg(r, k);
      ck_assert_msg(a->technique == r->technique, "rule %s %s takes '%s' of %s", sp_technique_name(r->technique),
                    r->rule, a->name, sp_technique_name(a->technique));
      ck_assert_int_eq(a->id, r->args[k]);
      used[a->id] = true;
      for (int j = 0; j < k; j++) ck_assert_str_ne(sp_rule_arg(r, j)->name, a->name);
    }
  }
  for (int a = 0; a < ARG_NUM; a++) ck_assert_msg(used[a], "argument '%s' of no rule", sp_arg_spec((SpArgId)a)->name);
  for (int t = 0; t < TECH_NUM; t++) {
    ck_assert_int_ge(rules_of[t], 1);
    ck_assert_int_eq(sp_find_technique(sp_technique_name((SpTechnique)t)), t);
  }
  ck_assert_int_eq(sp_find_technique("freez"), -1);
  for (int i = 0; pass_at(i); i++) ck_assert_ptr_eq(pass_find(pass_at(i)->name), pass_at(i));
}
END_TEST

/* The MLP with a speedup block; returns the item of technique t. */
static const SpeedupItem *compile_item(Compilation *c, const char *speedup, SpTechnique t) {
  char *src = xprintf("%s%s", MLP(""), speedup);
  ck_assert(tu_compile(src, "item", c));
  free(src);
  const SpeedupItem *it = sp_item(c->prog->speedup, t);
  ck_assert_ptr_nonnull(it);
  return it;
}

/* the validated block read by id: given and default values */
START_TEST(speedup_arguments_by_id) {
  Compilation c;
  const SpeedupItem *it = compile_item(&c, "speedup {\n  freeze at(dense_1: 0.5, reuse: false)\n}\n", TECH_FREEZE);
  ck_assert_int_eq(it->rule->id, RULE_FREEZE_AT);
  ck_assert(!sp_bool(it, ARG_FREEZE_REUSE) && sp_arg(it, ARG_FREEZE_REUSE)->given);
  ck_assert(!sp_arg(it, ARG_FREEZE_REUSE_LIMIT)->given);
  ck_assert_double_eq(sp_num(it, ARG_FREEZE_REUSE_LIMIT), 1024);
  ck_assert_ptr_null(sp_item(c.prog->speedup, TECH_BATCH));
  compilation_free(&c);
  src_reset();
  it = compile_item(&c, "speedup {\n  batch steps(at: [0.5], lr_scale: sqrt)\n}\n", TECH_BATCH);
  ck_assert(sp_choice_is(it, ARG_BATCH_LR_SCALE, "sqrt") && !sp_choice_is(it, ARG_BATCH_LR_SCALE, "linear"));
  ck_assert_double_eq(sp_num(it, ARG_BATCH_FACTOR), 2);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* an argument of another rule (start is progressive's, not at's): an
 * internal error naming the rule and the argument, not a NULL dereference */
START_TEST(speedup_argument_of_another_rule_aborts) {
  Compilation c;
  const SpeedupItem *it = compile_item(&c, "speedup {\n  freeze at(dense_1: 0.5)\n}\n", TECH_FREEZE);
  fprintf(stderr, "expected: ");
  (void)sp_num(it, ARG_FREEZE_START);
}
END_TEST

/* so is a choice the argument does not have */
START_TEST(speedup_unknown_choice_aborts) {
  Compilation c;
  const SpeedupItem *it = compile_item(&c, "speedup {\n  batch steps(at: [0.5])\n}\n", TECH_BATCH);
  fprintf(stderr, "expected: ");
  (void)sp_choice_is(it, ARG_BATCH_LR_SCALE, "linaer");
}
END_TEST

/* -fno-fusion: no value is computed in another's loop, no loss is paired
 * with its gradient, no update joins a group, and the work arena changes;
 * NULL options are the defaults; the options read back as flags */
START_TEST(codegen_options_change_the_plan) {
  Compilation c;
  ck_assert(tu_compile(MLP(""), "cgopt", &c));
  const IrGraph *g = &c.prog->phases.data[0].step;
  BufPlan def, fused, unfused;
  cg_plan_graph(c.prog, g, 64, &def);
  cg_plan_graph_with(c.prog, g, 64, &(CgOptions){0}, &fused);
  cg_plan_graph_with(c.prog, g, 64, &(CgOptions){.no_fusion = true}, &unfused);
  int nfused = 0, npairs = 0, ngrouped = 0;
  for (int i = 0; i < g->len; i++) {
    nfused += fused.fused_into[i] >= 0;
    npairs += fused.loss_pair[i] >= 0;
    ngrouped += fused.update_first[i] >= 0;
    ck_assert_int_eq(def.fused_into[i], fused.fused_into[i]);
    ck_assert_int_eq(unfused.fused_into[i], -1);
    ck_assert_int_eq(unfused.loss_pair[i], -1);
    ck_assert_int_eq(unfused.update_first[i], -1);
  }
  ck_assert(nfused > 0 && npairs == 2 && ngrouped > 0);
  ck_assert_int_eq(def.work_bytes, fused.work_bytes);
  ck_assert_int_ne(fused.work_bytes, unfused.work_bytes);
  cg_plan_free(&def);
  cg_plan_free(&fused);
  cg_plan_free(&unfused);
  compilation_free(&c);
  src_reset();
  char *flags = cg_options_flags(&(CgOptions){0});
  ck_assert_str_eq(flags, "");
  free(flags);
  flags = cg_options_flags(&(CgOptions){.with_main = true, .cpu = "x86-64", .features = "+avx2", .no_fusion = true,
                                        .no_parallel_loops = true, .unroll_loops = true});
  ck_assert_str_eq(flags, "--cpu=x86-64 --cpu-features=+avx2 -fno-fusion -fno-parallel-loops -funroll-loops");
  free(flags);
}
END_TEST

Suite *passes_suite(void) {
  Suite *s = suite_create("passes");
  TCase *t = tcase_create("passes");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, micro_batches_equal_large_batch);
  tcase_add_test(t, interp_micro_equals_large_batch);
  tcase_add_test(t, frozen_parameters_bit_identical);
  tcase_add_test(t, freeze_at_nested_layer);
  tcase_add_test(t, keep_nested_layer);
  tcase_add_test(t, freeze_rewrite_structure);
  tcase_add_test(t, freeze_middle_layer_keeps_chain);
  tcase_add_test(t, lr_coupling_shares_the_step);
  tcase_add_test(t, freezeout_anneals);
  tcase_add_test(t, freezeout_scaled);
  tcase_add_test(t, no_speedup_is_baseline);
  tcase_add_test(t, fp16_overflow_skips_step);
  tcase_add_test(t, adam_counts_applied_updates);
  tcase_add_test(t, prefix_reuse_equals_full_step);
  tcase_add_test(t, prefix_shared_by_batch_phases);
  tcase_add_test(t, prefix_reused_only_where_it_pays_back);
  tcase_add_test(t, steps_budget_with_small_batches_warns);
  tcase_add_test(t, micro_batches_with_batch_norm_warn);
  tcase_add_test(t, frozen_batchnorm_runs_as_evaluation);
  tcase_add_test(t, frozen_batchnorm_step_and_prefix);
  tcase_add_test(t, prefix_reuse_with_precision);
  tcase_add_test(t, prefix_not_reused_through_dropout);
  tcase_add_test(t, technique_table_consistent);
  tcase_add_test(t, speedup_arguments_by_id);
  tcase_add_test_raise_signal(t, speedup_argument_of_another_rule_aborts, SIGABRT);
  tcase_add_test_raise_signal(t, speedup_unknown_choice_aborts, SIGABRT);
  tcase_add_test(t, codegen_options_change_the_plan);
  tcase_add_test(t, seqlen_phase_is_model_at_context);
  tcase_add_test(t, seqlen_keep_tokens_cuts_examples);
  tcase_add_test(t, seqlen_inactive_is_baseline);
  tcase_add_test(t, resize_phase_is_model_at_size);
  tcase_add_test(t, resize_inactive_is_baseline);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) { return fx_main(argc, argv, passes_suite, NULL, 0); }
