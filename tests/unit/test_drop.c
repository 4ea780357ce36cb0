/* test_drop.c — layer dropping (passes/drop.c, passes/drop_blocks.c).
 *
 *   - the rewrite: the residual blocks of a transformer and of a residual
 *     MLP are found and gated with their keep probabilities; evaluation is
 *     the whole network, unchanged; a schedule that keeps every block is the
 *     baseline, node for node;
 *   - its promise, on native code: in a step where a block is dropped its
 *     parameters and optimizer slots stay bit-identical, its AdamW count does
 *     not advance, its work does not run (its values' bytes in the work arena
 *     are never written, and the step's code branches around it), and the
 *     step equals, bit for bit, the network without the block; where it is
 *     kept, the step equals the baseline whose branch output is scaled by
 *     1/p; JIT and interpreter agree (and the interpreter runs fewer nodes);
 *   - with fp16 loss scaling a dropped block's unwritten gradients never
 *     count as an overflow; micro-batched steps skip it too;
 *   - astc cost prices a block's work at its keep probability.
 */
#include <math.h>

#include <llvm-c/Core.h>

#include "cost.h"
#include "costmodel.h"
#include "drop.h"
#include "interp.h"
#include "pass.h"
#include "test_util.h"

static uint64_t rng = 9;
static float frand(void) { return fx_lcg_pm1(&rng); }

/* A residual MLP: two blocks h + block(h), block one layer call */
#define RESMLP_HEAD                                                                              \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "layer block(x: f32[B, D]) -> f32[B, D] {\n  return nn.dense(relu(nn.dense(x, 16)), D)\n}\n"
#define RESMLP_TRAIN(opt, speedup)                                                               \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = " opt "\n  batch = 64\n  epochs = 2\n}\n" speedup
#define RESMLP_BODY(second)                                                                      \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n  h = relu(nn.dense(x, 16))\n  h = h + block(h)\n"   \
  second "  return nn.dense(h, 5)\n}\n"
#define SGD "sgd(lr: 0.1, momentum: 0.9, weight_decay: 1e-3)"
#define ADAMW "adamw(lr: 0.01, weight_decay: 0.1)"
/* with drop stochastic(final: 0.5) block 1 is kept with 0.75, block 2 with 0.5 */
#define RESMLP(opt, extra) RESMLP_HEAD RESMLP_BODY("  h = h + block(h)\n") RESMLP_TRAIN(opt, "speedup {\n  drop stochastic(final: 0.5)\n" extra "}\n")

/* A tiny transformer: two blocks (attention and MLP) per transformer block */
#define LM(speedup)                                                                              \
  "import nn\n"                                                                                  \
  "data d = tokens(\"unused.bin\", vocab: 13, context: 8)\n"                                     \
  "model m(tok: i32[B, T]) -> f32[B, T, 13] {\n"                                                 \
  "  h = nn.embedding(tok, 13, 8) + nn.embedding(arange(T), 8, 8)\n"                             \
  "  h = nn.transformer_block(h, 2, layers: 2)\n"                                                \
  "  h = nn.transformer_block(h, 2, layers: 2)\n"                                                \
  "  return nn.linear(nn.layernorm(h), 13)\n}\n"                                                \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = adamw(lr: 1e-3)\n"                   \
  "  batch = 5\n  steps = 100\n}\n" speedup

static int count_ops(const IrGraph *g, IrOp op) {
  int n = 0;
  for (int i = 0; i < g->len; i++) n += g->nodes[i].op == op;
  return n;
}

static int count_guarded(const IrGraph *g, int guard) {
  int n = 0;
  for (int i = 0; i < g->len; i++) n += g->nodes[i].guard == guard;
  return n;
}

/* the same graph: ops, operands, types and attributes, node for node */
static void assert_same_graph(const IrGraph *a, const IrGraph *b) {
  ck_assert_int_eq(a->len, b->len);
  for (int i = 0; i < a->len; i++) {
    const IrNode *x = &a->nodes[i], *y = &b->nodes[i];
    ck_assert_msg(x->op == y->op && type_eq(&x->type, &y->type) && !memcmp(x->in, y->in, sizeof x->in) &&
                  !memcmp(x->ia, y->ia, sizeof x->ia) && !memcmp(x->fa, y->fa, sizeof x->fa) && x->guard == y->guard,
                  "node %%%d differs", i);
  }
}

/* ---- the rewrite --------------------------------------------------------------------- */

/* the keep probability of node keep's block, a constant here */
static double keep_p(const IrGraph *g, int keep) { return g->nodes[g->nodes[keep].in[0]].fa[0]; }

START_TEST(drop_finds_transformer_blocks) {
  Compilation c;
  ck_assert(tu_compile(LM("speedup {\n  drop stochastic(final: 0.5)\n}\n"), "lm", &c));
  const IrGraph *g = &c.prog->phases.data[0].step;
  /* two transformer blocks: attention and MLP each, L = 4, p_l = 1 - l/8 */
  ck_assert_int_eq(count_ops(g, IR_DROP_GATE), 4);
  int *flags;
  ck_assert_int_eq(ir_guard_flags(g, &flags), 4);
  for (int l = 1; l <= 4; l++) {
    ck_assert(fabs(keep_p(g, flags[l]) - (1 - l / 8.0)) < 1e-12);
    ck_assert_int_gt(count_guarded(g, l), 30);  /* forward, backward and updates */
  }
  free(flags);
  /* forward joins, and x's gradient joins with the branch's part */
  ck_assert_int_eq(count_ops(g, IR_GATED_ADD), 8);
  /* evaluation and prediction: the whole network, unscaled */
  ck_assert_int_eq(count_ops(&c.prog->eval, IR_DROP_GATE) + count_ops(&c.prog->eval, IR_GATED_ADD), 0);
  ck_assert_int_eq(count_guarded(&c.prog->eval, 1) + count_guarded(&c.prog->predict, 1), 0);
  /* the blocks' AdamW updates count their own steps */
  ck_assert_int_ge(ir_program_find_var(c.prog, "adamw.step.block_4"), 0);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* progressive(theta, gamma): theta(t) = (1 - theta) exp(-gamma t) + theta, p_l = 1 - (l/L)(1 - theta(t)) */
START_TEST(drop_progressive_schedule) {
  Compilation c;
  ck_assert(tu_compile(LM("speedup {\n  drop progressive(theta: 0.4, gamma: 10)\n}\n"), "pld", &c));
  const SpeedupItem *it = sp_item(c.prog->speedup, TECH_DROP);
  for (double t = 0; t <= 1; t += 0.125) {
    double theta = 0.6 * exp(-10 * t) + 0.4;
    for (int l = 1; l <= 4; l++) ck_assert(fabs(drop_keep_probability(it, l, 4, t) - (1 - l / 4.0 * (1 - theta))) < 1e-12);
  }
  /* the step computes it from t: a schedule per block */
  const IrGraph *g = &c.prog->phases.data[0].step;
  int *flags;
  ck_assert_int_eq(ir_guard_flags(g, &flags), 4);
  const IrNode *p3 = &g->nodes[g->nodes[flags[3]].in[0]];
  ck_assert_int_eq(p3->op, IR_SCHED);
  ck_assert(fabs(sx_eval(p3->sx, 0.3, 0, 0) - drop_keep_probability(it, 3, 4, 0.3)) < 1e-12);
  /* its mean over a phase (astc cost) */
  double mean = drop_mean_keep(g, flags[3], 0, 1), want = 0;
  for (int k = 0; k < 10000; k++) want += drop_keep_probability(it, 3, 4, (k + 0.5) / 10000) / 10000;
  ck_assert(fabs(mean - want) < 1e-3);
  free(flags);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* keep probability 1 everywhere: the baseline program, node for node */
START_TEST(drop_inactive_is_baseline) {
  const char *rules[] = {"drop stochastic(final: 1)", "drop stochastic(start: 1)", "drop progressive(theta: 1)"};
  for (int k = 0; k < 3; k++) {
    char src[4096];
    snprintf(src, sizeof src, LM("speedup {\n  %s\n}\n"), rules[k]);
    Compilation a, b;
    ck_assert(tu_compile(src, "inactive", &a));
    CompileOptions opt = {.no_speedup = true};
    ck_assert(tu_compile_with(src, "inactive_base", &opt, &b));
    assert_same_graph(&a.prog->phases.data[0].step, &b.prog->phases.data[0].step);
    assert_same_graph(&a.prog->eval, &b.prog->eval);
    ck_assert_int_eq(a.prog->vars.len, b.prog->vars.len);
    compilation_free(&a);
    compilation_free(&b);
    src_reset();
  }
}
END_TEST

/* src (drop stochastic(final: 0.5)) has two blocks, instances <layer>_1
 * and <layer>_2, kept with 0.75 and 0.5; every update of a block's
 * parameters is the block's, and nothing else is */
static void assert_two_blocks(const char *src, const char *name, const char *layer) {
  Compilation c;
  ck_assert(tu_compile(src, name, &c));
  const IrGraph *g = &c.prog->phases.data[0].step;
  int *flags;
  ck_assert_int_eq(ir_guard_flags(g, &flags), 2);
  ck_assert(keep_p(g, flags[1]) == 0.75 && keep_p(g, flags[2]) == 0.5);
  free(flags);
  char b1[64], b2[64];
  snprintf(b1, sizeof b1, "%s_1.", layer);
  snprintf(b2, sizeof b2, "%s_2.", layer);
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->op != IR_SGD_UPDATE) continue;
    const char *var = c.prog->vars.data[n->ia[0]].name;
    int want = !strncmp(var, b1, strlen(b1)) ? 1 : !strncmp(var, b2, strlen(b2)) ? 2 : 0;
    ck_assert_msg(n->guard == want, "%s: guard %d", var, n->guard);
  }
  compilation_free(&c);
  src_reset();
}

START_TEST(drop_finds_residual_mlp_blocks) { assert_two_blocks(RESMLP(SGD, ""), "resmlp", "block"); }
END_TEST

/* a residual block with batch norm whose output is unused (its statistics still update) */
#define RESBN_UNUSED                                                                             \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "layer block(x: f32[B, D]) -> f32[B, D] {\n  return nn.dense(relu(nn.batchnorm(nn.dense(x, 16))), D)\n}\n" \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n  h = relu(nn.dense(x, 16))\n  u = h + block(h)\n"       \
  "  h = h + block(h)\n  return nn.dense(h, 5)\n}\n"                                             \
  RESMLP_TRAIN(SGD, "speedup {\n  drop stochastic(final: 0.5)\n}\n")

/* a block whose output is unused still updates its batch norm's running
 * statistics (an effect), as its work: dead-code elimination keeps the
 * gate those updates are guarded by (it removed it: "guard 1 has no gate
 * node before it", found by fuzzing) */
START_TEST(drop_unused_block_keeps_its_gate) {
  Compilation c;
  ck_assert(tu_compile(RESBN_UNUSED, "unused_block", &c));
  const IrGraph *g = &c.prog->phases.data[0].step;
  int *flags;
  int blocks = ir_guard_flags(g, &flags);
  ck_assert_int_ge(blocks, 1);
  int guarded = 0;
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].guard == 1) {
      guarded++;
      ck_assert_msg(flags[1] >= 0 && flags[1] < i, "%%%d: guard 1 without its gate before it", i);
    }
  ck_assert_int_gt(guarded, 0);
  free(flags);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* with 16-bit storage the gates stay fp32 (a scalar is not a saved
 * activation): the blocks' backward and updates are still theirs to skip
 * (they were not: the backward read a bf16 copy of the gate, which hid it
 * from drop, and scaled the gradient by 1/p rounded to bf16) */
START_TEST(drop_with_bf16_storage) {
  assert_two_blocks(RESMLP(SGD, "  precision bf16()\n"), "resmlp_bf16", "block");
  Compilation c;
  ck_assert(tu_compile(RESMLP(SGD, "  precision bf16()\n"), "resmlp_bf16_gate", &c));
  const IrGraph *g = &c.prog->phases.data[0].step;
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_CAST)
      ck_assert_msg(g->nodes[g->nodes[i].in[0]].op != IR_DROP_GATE, "%%%d casts a gate", i);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* ---- the promise, on native code ------------------------------------------------------- */

/* the parameters of a run, set from a seed by name (the same in programs with other blocks) */
static void fill_params(TuRun *r, uint64_t seed) {
  for (uint32_t v = 0; v < r->d->nvars; v++) {
    if (r->d->vars[v].kind != ASTRT_VAR_PARAM) continue;
    rng = seed;
    for (const char *c = r->d->vars[v].name; *c; c++) rng = rng * 31 + (uint64_t)*c;
    float *w = tu_var(r, r->d->vars[v].name);
    for (int64_t k = 0; k < r->d->vars[v].numel; k++) w[k] = frand() * 0.4f;
  }
}

static void batch(float *x, int32_t *y, int64_t rows) {
  rng = 77;
  for (int64_t i = 0; i < rows * 12; i++) x[i] = frand();
  for (int64_t i = 0; i < rows; i++) y[i] = (int32_t)((frand() + 1) * 2.49f);
}

enum { SEED = 5 };  /* tu_step's */

/* the first step at which block 1 (p = 0.75) and block 2 (p = 0.5) are as asked */
static int64_t step_where(bool keep1, bool keep2) {
  for (int64_t s = 1; s < 10000; s++)
    if ((astrt_drop_gate(0.75f, SEED, s, 1) != 0) == keep1 && (astrt_drop_gate(0.5f, SEED, s, 2) != 0) == keep2)
      return s;
  ck_abort_msg("no such step");
  return 0;
}

static float step(TuRun *r, const float *x, const int32_t *y, int64_t s) {
  return tu_step(r, 0, x, y, 64, 0.1f, s, 0.5f);
}

/* every variable named like one of b's holds the same bits in a and b */
static void assert_same_vars(TuRun *a, TuRun *b) {
  for (uint32_t v = 0; v < b->d->nvars; v++) {
    const char *name = b->d->vars[v].name;
    ck_assert_msg(memcmp(tu_var(a, name), tu_var(b, name), sizeof(float) * (size_t)b->d->vars[v].numel) == 0,
                  "%s differs", name);
  }
}

/* A block whose branch has a function between its layer calls, as ResNet's
 * basic block has (x + bn(conv(relu(bn(conv(x)))))): the residual written
 * in a layer, x + dense(relu(dense(x))), with the relu in the layer's own
 * scope; and the same at the model's body. */
#define RBLOCK_HEAD(scale)                                                                       \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "layer rblock(x: f32[B, D]) -> f32[B, D] {\n  return x + nn.dense(relu(nn.dense(x, 16)), D)" scale "\n}\n"
#define RBLOCK_BODY(second)                                                                      \
  "model m(x: f32[B, 12]) -> f32[B, 5] {\n  h = relu(nn.dense(x, 16))\n  h = rblock(h)\n" second \
  "  return nn.dense(h, 5)\n}\n"

START_TEST(drop_branch_with_functions) {
  assert_two_blocks(RBLOCK_HEAD("") RBLOCK_BODY("  h = rblock(h)\n")
                        RESMLP_TRAIN(SGD, "speedup {\n  drop stochastic(final: 0.5)\n}\n"),
                    "rblock", "rblock");
  /* at the model's body: h + relu(dense(h)) */
  Compilation c;
  int *flags;
  ck_assert(tu_compile(RESMLP_HEAD
                       "model m(x: f32[B, 12]) -> f32[B, 5] {\n  h = relu(nn.dense(x, 16))\n"
                       "  h = h + relu(nn.dense(h, 16))\n  return nn.dense(h, 5)\n}\n"
                       RESMLP_TRAIN(SGD, "speedup {\n  drop stochastic(final: 0.5)\n}\n"),
                       "body", &c));
  ck_assert_int_eq(ir_guard_flags(&c.prog->phases.data[0].step, &flags), 1);
  free(flags);
  compilation_free(&c);
  src_reset();
}
END_TEST

/* block 2 dropped: its parameters and momenta do not move, and the step of
 * src is, bit for bit, the one of `without`, the network without block 2
 * (block 1, kept, scaled by 1/0.75 as `without` writes it); block2 is the
 * prefix of block 2's variables */
static void assert_dropped_block_absent(const char *src, const char *without, const char *block2) {
  TuRun r, base;
  tu_run_init(&r, src, "drop");
  tu_run_init(&base, without, "without");
  fill_params(&r, 3);
  fill_params(&base, 3);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  size_t bytes = (size_t)r.d->var_bytes;
  float *before = malloc(bytes);
  memcpy(before, r.vars, bytes);
  int64_t s = step_where(true, false);
  float l = step(&r, x, y, s), lb = step(&base, x, y, s);
  ck_assert_msg(l == lb, "loss %.9g, without the block %.9g", l, lb);
  assert_same_vars(&r, &base);  /* every parameter and momentum they share */
  for (uint32_t v = 0; v < r.d->nvars; v++)
    if (strstr(r.d->vars[v].name, block2)) {
      size_t off = r.d->vars[v].offset;
      ck_assert_msg(memcmp((char *)r.vars + off, (char *)before + off, sizeof(float) * (size_t)r.d->vars[v].numel) == 0,
                    "%s moved", r.d->vars[v].name);
    }
  free(before);
  tu_run_free(&r);
  tu_run_free(&base);
}

START_TEST(drop_dropped_block_is_absent) {
  assert_dropped_block_absent(RESMLP(SGD, ""),
                              RESMLP_HEAD "model m(x: f32[B, 12]) -> f32[B, 5] {\n  h = relu(nn.dense(x, 16))\n"
                                          "  h = h + block(h) * (1 / 0.75)\n  return nn.dense(h, 5)\n}\n"
                                              RESMLP_TRAIN(SGD, ""),
                              "block_2.");
}
END_TEST

/* the same promise for blocks with a function in their branch: block 2
 * dropped, the step is bit for bit the network's without it */
START_TEST(drop_dropped_function_block_is_absent) {
  assert_dropped_block_absent(RBLOCK_HEAD("") RBLOCK_BODY("  h = rblock(h)\n")
                                  RESMLP_TRAIN(SGD, "speedup {\n  drop stochastic(final: 0.5)\n}\n"),
                              RBLOCK_HEAD(" * (1 / 0.75)") RBLOCK_BODY("") RESMLP_TRAIN(SGD, ""), "rblock_2.");
}
END_TEST

/* both blocks kept: the step of the baseline whose branches are scaled by 1/p */
START_TEST(drop_kept_block_is_scaled) {
  TuRun r, base;
  tu_run_init(&r, RESMLP(SGD, ""), "keep");
  tu_run_init(&base,
              RESMLP_HEAD "model m(x: f32[B, 12]) -> f32[B, 5] {\n  h = relu(nn.dense(x, 16))\n"
                          "  h = h + block(h) * (1 / 0.75)\n  h = h + block(h) * 2\n  return nn.dense(h, 5)\n}\n"
                              RESMLP_TRAIN(SGD, ""),
              "scaled");
  fill_params(&r, 4);
  fill_params(&base, 4);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  int64_t s = step_where(true, true);
  for (int k = 0; k < 2; k++) {
    float l = step(&r, x, y, s), lb = step(&base, x, y, s);
    ck_assert_msg(l == lb, "loss %.9g, scaled baseline %.9g", l, lb);
    assert_same_vars(&r, &base);
  }
  tu_run_free(&r);
  tu_run_free(&base);
}
END_TEST

/* The bytes of the work arena that only block 2's values occupy (no value
 * that runs in a step where block 2 is dropped shares them): 1 in out. */
static int64_t block_only_bytes(const IrProgram *p, const IrGraph *g, int64_t rows, int64_t work, char *out) {
  BufPlan plan;
  cg_plan_graph(p, g, rows, &plan);
  char *other = calloc((size_t)work, 1);
  memset(out, 0, (size_t)work);
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (plan.offset[i] < 0 || plan.root[i] != i || plan.fused_into[i] >= 0) continue;
    int64_t end = plan.offset[i] + shape_numel(&n->type.shape, rows) * dtype_size(n->type.dtype);
    for (int64_t b = plan.offset[i]; b < end && b < work; b++) (n->guard == 2 ? out : other)[b] = 1;
  }
  int64_t count = 0;
  for (int64_t b = 0; b < work; b++) count += out[b] = out[b] && !other[b];
  free(other);
  cg_plan_free(&plan);
  return count;
}

/* the dropped block's work does not run: its values are never written (the
 * arena keeps a NaN pattern there), and the code branches around it */
START_TEST(drop_skipped_work_does_not_run) {
  TuRun r;
  tu_run_init(&r, RESMLP(SGD, ""), "work");
  fill_params(&r, 5);
  const IrGraph *g = &r.comp.prog->phases.data[0].step;
  int64_t work = r.d->phases[0].work_bytes;
  char *only = malloc((size_t)work);
  int64_t n = block_only_bytes(r.comp.prog, g, 64, work, only);
  ck_assert_int_ge(n, 1024);  /* most of its slots are shared with other values at other times */
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  for (int kept = 0; kept < 2; kept++) {
    memset(r.work, 0xff, (size_t)work);
    step(&r, x, y, step_where(true, kept));
    int64_t untouched = 0;
    for (int64_t b = 0; b < work; b++) untouched += only[b] && ((unsigned char *)r.work)[b] == 0xff;
    if (kept) ck_assert_int_lt(untouched, n / 2);
    else ck_assert_msg(untouched == n, "%lld of the block's %lld bytes written", (long long)(n - untouched), (long long)n);
  }
  /* the step's code: a conditional region per block for its forward, backward and update */
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = cg_build_module(r.comp.prog, ctx, NULL);
  char *text = LLVMPrintModuleToString(mod);
  int regions = 0;
  for (const char *q = text; (q = strstr(q, "\ndrop.kept")); q++) regions++;
  ck_assert_int_ge(regions, 6);
  LLVMDisposeMessage(text);
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  free(only);
  tu_run_free(&r);
}
END_TEST

/* AdamW: a dropped block's updates, moments and count stay as they were */
START_TEST(drop_adamw_counts_per_block) {
  TuRun r;
  tu_run_init(&r, RESMLP(ADAMW, ""), "adam");
  fill_params(&r, 6);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  float m0[16 * 16];
  memcpy(m0, tu_var(&r, "block_2.dense_1.w.adam_m"), sizeof m0);
  step(&r, x, y, step_where(true, false));
  ck_assert(tu_var(&r, "adamw.step")[0] == 1);
  ck_assert(tu_var(&r, "adamw.step.block_1")[0] == 1);
  ck_assert(tu_var(&r, "adamw.step.block_2")[0] == 0);
  ck_assert(memcmp(m0, tu_var(&r, "block_2.dense_1.w.adam_m"), sizeof m0) == 0);
  step(&r, x, y, step_where(false, true));
  ck_assert(tu_var(&r, "adamw.step")[0] == 2);
  ck_assert(tu_var(&r, "adamw.step.block_1")[0] == 1);
  ck_assert(tu_var(&r, "adamw.step.block_2")[0] == 1);
  tu_run_free(&r);
}
END_TEST

/* fp16 loss scaling checks the gradients for overflow: a dropped block's,
 * never written (NaN here), count as finite */
START_TEST(drop_with_fp16_overflow_check) {
  TuRun r;
  tu_run_init(&r, RESMLP(SGD, "  precision fp16(init_scale: 1024)\n"), "fp16");
  fill_params(&r, 7);
  float x[64 * 12];
  int32_t y[64];
  batch(x, y, 64);
  float w0[5 * 16];
  memcpy(w0, tu_var(&r, "dense_2.w"), sizeof w0);
  memset(r.work, 0xff, (size_t)r.d->phases[0].work_bytes);
  float scalars[ASTRT_NUM_SCALARS] = {0};
  scalars[ASTRT_SC_LR] = 0.1f, scalars[ASTRT_SC_STEP] = (float)step_where(true, false), scalars[ASTRT_SC_ROWS] = 64;
  scalars[ASTRT_SC_LOSS_SCALE] = 1024, scalars[ASTRT_SC_T] = 0.5f, scalars[ASTRT_SC_SHARD] = 1;
  float out[ASTRT_NUM_OUTPUTS] = {0};
  r.d->phases[0].step(r.vars, r.work, x, y, 64, scalars, out, SEED);
  ck_assert(out[ASTRT_OUT_OVERFLOW] == 0);
  ck_assert(memcmp(w0, tu_var(&r, "dense_2.w"), sizeof w0) != 0);
  tu_run_free(&r);
}
END_TEST

/* ---- JIT and interpreter ------------------------------------------------------------- */

/* Steps natively and in the interpreter from the same variables, with each
 * block dropped and kept in turn; both agree (2e-4 relative), and the
 * interpreter runs exactly the nodes that are not the dropped blocks'. */
static void jit_equals_interpreter(const char *src, const char *name, int64_t micro) {
  TuRun r;
  tu_run_init(&r, src, name);
  fill_params(&r, 8);
  IrProgram *p = r.comp.prog;
  const IrGraph *g = &p->phases.data[0].step;
  Interp in;
  interp_init(&in, p, 3);
  for (int v = 0; v < p->vars.len; v++) {
    float *w = (float *)((char *)r.vars + r.d->vars[v].offset);
    for (int64_t k = 0; k < r.d->vars[v].numel; k++) in.vars[v][k] = w[k];
  }
  float x[64 * 12];
  int32_t y[64];
  double xd[64 * 12];
  batch(x, y, 64);
  for (int i = 0; i < 64 * 12; i++) xd[i] = x[i];
  bool keeps[4][2] = {{true, false}, {false, true}, {true, true}, {false, false}};
  for (int k = 0; k < 4; k++) {
    int64_t s = step_where(keeps[k][0], keeps[k][1]);
    float l = step(&r, x, y, s);
    in.x = xd, in.y = y, in.rows = 64, in.seed = SEED, in.micro = micro;
    in.scalars[SC_LR] = 0.1, in.scalars[SC_STEP] = (double)s, in.scalars[SC_LOSS_SCALE] = 1, in.scalars[SC_T] = 0.5;
    in.scalars[SC_SHARD] = 1;
    ck_assert(interp_run(&in, g));
    ck_assert_msg(fabs(l - in.outputs[OUT_LOSS]) <= 2e-4 * fmax(1, fabs(in.outputs[OUT_LOSS])), "loss %.9g vs %.9g", l,
                  in.outputs[OUT_LOSS]);
    for (int v = 0; v < p->vars.len; v++) {
      const float *w = (const float *)((char *)r.vars + r.d->vars[v].offset);
      for (int64_t e = 0; e < r.d->vars[v].numel; e++)
        ck_assert_msg(fabs(w[e] - in.vars[v][e]) <= 2e-4 * fmax(1, fabs(in.vars[v][e])), "%s[%lld]: %.9g vs %.9g",
                      r.d->vars[v].name, (long long)e, w[e], in.vars[v][e]);
    }
    /* executed: every node, less the dropped blocks' (the micro-batched part once per micro-batch) */
    if (micro == 0) {
      int64_t want = 0;
      for (int i = 0; i < g->len; i++) want += !g->nodes[i].guard || keeps[k][g->nodes[i].guard - 1];
      ck_assert_int_eq(in.executed, want);
    }
  }
  interp_free(&in);
  tu_run_free(&r);
}

START_TEST(drop_jit_equals_interpreter) { jit_equals_interpreter(RESMLP(ADAMW, ""), "interp", 0); }
END_TEST

/* with the layer before the first block frozen, the gradient into that
 * block's input only feeds its own backward: the second block's part of it
 * is work neither step needs when either block is skipped (it was "work
 * that overlaps another block's", an error, with freeze + drop on
 * charlm.train); every combination of kept blocks still runs as the
 * interpreter does */
START_TEST(drop_with_frozen_stem) {
  jit_equals_interpreter(RESMLP(ADAMW, "  freeze at(dense_1: 0, reuse: false)\n"), "frozen_stem", 0);
}
END_TEST

/* a block with batch norm under weight averaging (statistics: average): the
 * running averages of the block's statistics are its work like the
 * statistics' assignments (not run when it is dropped, so they do not keep
 * its forward alive), and the step still runs as the interpreter does */
#define RESBN                                                                                    \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [12], classes: 5, train: 4096)\n"                                   \
  "layer block(x: f32[B, D]) -> f32[B, D] {\n  return nn.dense(relu(nn.batchnorm(nn.dense(x, 16))), D)\n}\n" \
  RESMLP_BODY("  h = h + block(h)\n")                                                            \
  RESMLP_TRAIN(SGD, "speedup {\n  drop stochastic(final: 0.5)\n  average ema(decay: 0.9)\n}\n")

START_TEST(drop_averaged_statistics_are_block_work) {
  Compilation c;
  ck_assert(tu_compile(RESBN, "bn_avg", &c));
  const IrProgram *p = c.prog;
  const IrGraph *g = &p->phases.data[0].step;
  int averages = 0;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->op != IR_AVERAGE || p->vars.data[n->ia[1]].kind != VAR_STATE) continue;
    averages++;
    int assign = -1;
    for (int j = 0; j < g->len; j++)
      if (g->nodes[j].op == IR_ASSIGN && g->nodes[j].ia[0] == n->ia[1]) assign = j;
    ck_assert_int_ge(assign, 0);
    ck_assert_int_ne(n->guard, 0);
    ck_assert_int_eq(n->guard, g->nodes[assign].guard);
  }
  ck_assert_int_eq(averages, 4);  /* two blocks' running mean and variance */
  compilation_free(&c);
  src_reset();
  jit_equals_interpreter(RESBN, "bn_interp", 0);
}
END_TEST

START_TEST(drop_micro_batches_jit_equals_interpreter) {
  jit_equals_interpreter(RESMLP(SGD, "  batch steps(at: [0.99], factor: 2, micro: 16)\n"), "micro", 16);
}
END_TEST

/* ---- astc cost ----------------------------------------------------------------------- */

/* a block's work costs its keep probability times its full cost */
START_TEST(drop_cost_is_expected_work) {
  Compilation c;
  ck_assert(tu_compile(RESMLP(SGD, ""), "cost", &c));
  Machine m = {.threads = 1, .bandwidth_gbs = 10, .cache_gbs = 0, .cache_bytes = 1 << 20};
  for (int k = 0; k < MACHINE_GEMM_POINTS; k++) m.gemm_gflops[k] = 50;
  ProgramCost pc;
  cost_program(c.prog, &m, &pc);
  const IrGraph *g = &c.prog->phases.data[0].step;
  double full = 0, expected = 0, all = 0;
  for (int i = 0; i < g->len; i++) {
    double f = ir_node_cost(c.prog, g, i, 64).flops, keep = g->nodes[i].guard == 1 ? 0.75 : 0.5;
    all += g->nodes[i].guard ? f * keep : f;
    if (!g->nodes[i].guard) continue;
    full += f;
    expected += f * keep;
  }
  ck_assert_int_eq(pc.phases[0].drop_blocks, 2);
  ck_assert(fabs(pc.phases[0].drop_flops - full) <= 1e-9 * full);
  ck_assert(fabs(pc.phases[0].drop_expected_flops - expected) <= 1e-9 * full);
  double sum = pc.phases[0].fwd_flops + pc.phases[0].bwd_flops + pc.phases[0].upd_flops;
  ck_assert(fabs(sum - all) <= 1e-9 * all);
  cost_free(&pc);
  compilation_free(&c);
  src_reset();
}
END_TEST

Suite *drop_suite(void) {
  Suite *s = suite_create("drop");
  TCase *t = tcase_create("drop");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, drop_finds_transformer_blocks);
  tcase_add_test(t, drop_progressive_schedule);
  tcase_add_test(t, drop_inactive_is_baseline);
  tcase_add_test(t, drop_finds_residual_mlp_blocks);
  tcase_add_test(t, drop_branch_with_functions);
  tcase_add_test(t, drop_dropped_block_is_absent);
  tcase_add_test(t, drop_dropped_function_block_is_absent);
  tcase_add_test(t, drop_kept_block_is_scaled);
  tcase_add_test(t, drop_skipped_work_does_not_run);
  tcase_add_test(t, drop_adamw_counts_per_block);
  tcase_add_test(t, drop_with_fp16_overflow_check);
  tcase_add_test(t, drop_jit_equals_interpreter);
  tcase_add_test(t, drop_with_frozen_stem);
  tcase_add_test(t, drop_with_bf16_storage);
  tcase_add_test(t, drop_unused_block_keeps_its_gate);
  tcase_add_test(t, drop_micro_batches_jit_equals_interpreter);
  tcase_add_test(t, drop_averaged_statistics_are_block_work);
  tcase_add_test(t, drop_cost_is_expected_work);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) { return fx_main(argc, argv, drop_suite, NULL, 0); }
