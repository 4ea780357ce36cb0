/* test_codegen.c — generated code against the reference interpreter.
 *
 * Each program is compiled to native code with the JIT and run for a few
 * training steps (the last one on a partial batch) and one evaluation, side by
 * side with the double-precision interpreter from identical variables and
 * batches. Losses, accuracy counts and every variable after every step must
 * agree to |native - reference| <= 2e-4 * max(1, |reference|): float32
 * arithmetic, reassociated reductions, vector exp/log/tanh and BLAS keep the
 * relative error near 1e-6 per op, so this bound catches any wrong index,
 * stride, broadcast or update rule while tolerating rounding.
 *
 * Also checks that the emitted descriptor matches the program (names,
 * offsets, shapes, phases, data).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Object.h>

#include "astrt_kernels.h"
#include "astrt_program.h"
#include "codegen.h"
#include "driver.h"
#include "interp.h"
#include "kernels_internal.h"
#include "test_fixtures.h"

#define TOL 2e-4

static uint64_t rng = 99;
static double urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static bool compile_src(const char *src, const char *name, Compilation *comp) {
  char path[256];
  snprintf(path, sizeof path, "/tmp/astc_cg_%d_%s.train", (int)getpid(), name);
  FILE *f = fopen(path, "w");
  ck_assert(f);
  fputs(src, f);
  fclose(f);
  diag_reset();
  bool ok = compile_file(comp, path, NULL);
  remove(path);
  return ok;
}

static void check_close(double native, double ref, const char *what, const char *name, int64_t i) {
  ck_assert_msg(fabs(native - ref) <= TOL * fmax(1, fabs(ref)), "%s: %s[%lld]: native %.9g, reference %.9g", name,
                what, (long long)i, native, ref);
}

/* src compiled (into *comp) and JIT-compiled: its descriptor in *d */
static CgJit *compile_jit(const char *src, const char *name, Compilation *comp, const astrt_program **d) {
  ck_assert_msg(compile_src(src, name, comp), "%s does not compile", name);
  *d = NULL;
  CgJit *jit = cg_jit_compile(comp->prog, d);
  ck_assert_msg(jit && *d, "%s: JIT failed", name);
  return jit;
}

/* Runs `steps` training steps of phase k (0-based) and one evaluation
 * natively and in the interpreter, comparing everything. */
static void compare_phase(const char *src, const char *name, int steps, int k) {
  Compilation comp;
  const astrt_program *d;
  CgJit *jit = compile_jit(src, name, &comp, &d);
  IrProgram *p = comp.prog;
  ck_assert_int_eq(d->abi_version, ASTRT_ABI_VERSION);

  Interp in;
  interp_init(&in, p, 3);
  float *vars = aligned_alloc(64, (size_t)d->var_bytes);
  memset(vars, 0, (size_t)d->var_bytes);
  for (int v = 0; v < p->vars.len; v++) {
    float *dst = (float *)((char *)vars + d->vars[v].offset);
    for (int64_t i = 0; i < d->vars[v].numel; i++) {
      dst[i] = (float)in.vars[v][i];
      in.vars[v][i] = dst[i]; /* both start from the same float values */
    }
  }
  ck_assert_int_lt(k, p->phases.len);
  int64_t batch = p->phases.data[k].batch;
  int64_t work_bytes = d->phases[k].work_bytes > d->eval_work_bytes ? d->phases[k].work_bytes : d->eval_work_bytes;
  void *work = aligned_alloc(64, (size_t)((work_bytes + 63) / 64 * 64));
  int64_t ex = d->data.example_size, ty = d->data.target_size;
  int64_t max_rows = batch > p->eval_batch ? batch : p->eval_batch;
  /* x: f32 features, or token ids; y: class labels, a label per position, or reals */
  bool tokens = d->data.x_dtype == ASTRT_DTYPE_I32, real = d->data.target == ASTRT_TARGET_REAL;
  float *x = malloc(sizeof(float) * (size_t)(max_rows * ex));
  int32_t *xi = (int32_t *)x;
  double *xd = malloc(sizeof(double) * (size_t)(max_rows * ex));
  int32_t *y = malloc(sizeof(int32_t) * (size_t)(max_rows * ty));
  float *yr = malloc(sizeof(float) * (size_t)(max_rows * ty));
  for (int s = 0; s <= steps; s++) {
    bool eval = s == steps;
    int64_t rows = eval ? p->eval_batch : (s == steps - 1 ? batch - 3 : batch);
    for (int64_t i = 0; i < rows * ex; i++) {
      if (tokens) xi[i] = (int32_t)(urand() * (double)d->data.vocab), xd[i] = xi[i];
      else x[i] = (float)(urand() * 2 - 1), xd[i] = x[i];
    }
    for (int64_t i = 0; i < rows * ty; i++) {
      y[i] = (int32_t)(urand() * (double)d->data.classes);
      yr[i] = (float)(urand() * 2 - 1);
    }
    float scalars[ASTRT_NUM_SCALARS] = {0.05f, (float)(s + 1), (float)rows, 1, 0.5f, 0, 1};
    float outputs[ASTRT_NUM_OUTPUTS] = {0};
    astrt_step_fn fn = eval ? d->eval : d->phases[k].step;
    fn(vars, work, x, real ? (const void *)yr : y, rows, scalars, outputs, 17);
    in.x = xd;
    in.y = y;
    in.y_real = yr;
    in.rows = rows;
    in.seed = 17;
    in.scalars[SC_LR] = 0.05;
    in.scalars[SC_STEP] = s + 1;
    in.scalars[SC_LOSS_SCALE] = 1;
    in.scalars[SC_T] = 0.5;
    in.micro = p->phases.data[k].micro;
    ck_assert(interp_run(&in, eval ? &p->eval : &p->phases.data[k].step));
    check_close(outputs[ASTRT_OUT_LOSS], in.outputs[OUT_LOSS], eval ? "eval loss" : "loss", name, s);
    if (eval) ck_assert_msg(outputs[ASTRT_OUT_CORRECT] == in.outputs[OUT_CORRECT], "%s: correct %g vs %g", name,
                            outputs[ASTRT_OUT_CORRECT], in.outputs[OUT_CORRECT]);
    for (int v = 0; v < p->vars.len; v++) {
      const float *got = (const float *)((char *)vars + d->vars[v].offset);
      for (int64_t i = 0; i < d->vars[v].numel; i++) check_close(got[i], in.vars[v][i], d->vars[v].name, name, i);
    }
  }
  free(x);
  free(xd);
  free(y);
  free(yr);
  free(work);
  free(vars);
  interp_free(&in);
  cg_jit_free(jit);
  compilation_free(&comp);
  src_reset();
}

static void compare_program(const char *src, const char *name, int steps) { compare_phase(src, name, steps, 0); }

#define PROGRAM(model_body, input, classes, train_extra)                                            \
  "import nn\n"                                                                                     \
  "data d = synthetic(shape: [" input "], classes: " classes ")\n"                                  \
  "model m(x: f32[B, " input "]) -> f32[B, " classes "] {\n" model_body "\n}\n"                     \
  "train m on d {\n  batch = 8\n  epochs = 1\n  eval_batch = 11\n" train_extra "\n}\n"

START_TEST(mlp_sgd_nesterov) {
  compare_program(PROGRAM("  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)", "20",
                          "5",
                          "  loss = cross_entropy()\n"
                          "  optimizer = sgd(lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5e-4)"),
                  "mlp", 3);
}
END_TEST

/* Fusion: which values the MLP's step computes inside another loop, and the
 * memory that saves; compare_program checks the fused code's results. */
START_TEST(fusion_plan) {
  Compilation comp;
  ck_assert(compile_src(PROGRAM("  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)", "20",
                                "5",
                                "  loss = cross_entropy()\n"
                                "  optimizer = sgd(lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5e-4)"),
                        "fusion", &comp));
  const IrGraph *g = &comp.prog->phases.data[0].step;
  int *f = malloc(sizeof(int) * (size_t)g->len);
  cg_plan_fusion(g, f);
  int fused = 0, into_update = 0, into_ew = 0;
  for (int i = 0; i < g->len; i++) {
    if (f[i] < 0) continue;
    fused++;
    ck_assert_int_gt(f[i], i);
    IrOp c = g->nodes[f[i]].op;
    if (c == IR_SGD_UPDATE) {
      into_update++;
      ck_assert_int_eq(g->nodes[f[i]].in[1], i);  /* the gradient operand */
    } else {
      into_ew++;
      ck_assert(shape_eq(&g->nodes[i].type.shape, &g->nodes[f[i]].type.shape));
    }
  }
  /* weight decay (g + wd * w) folds into each of the 6 parameters' updates,
   * and wd * w into that */
  ck_assert_int_eq(into_update, 6);
  ck_assert_int_ge(into_ew, 6 + 2);
  BufPlan on, off;
  cg_plan_graph(comp.prog, g, 8, &on);
  setenv("ASTC_FUSION", "off", 1);
  cg_plan_fusion(g, f);
  for (int i = 0; i < g->len; i++) ck_assert_int_eq(f[i], -1);
  cg_plan_graph(comp.prog, g, 8, &off);
  unsetenv("ASTC_FUSION");
  ck_assert_int_lt(on.work_bytes, off.work_bytes);
  for (int i = 0; i < g->len; i++) ck_assert(on.fused_into[i] < 0 || on.offset[i] < 0);
  cg_plan_free(&on);
  cg_plan_free(&off);
  free(f);
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* The loss with its gradient: cross_entropy's softmax_xent_grad (upstream
 * gradient 1/rows for every row) is computed in its softmax_xent's loop and
 * gets its slot there; not with ASTC_FUSION=off, and not for a loss whose
 * per-row weights differ (mean(l * l)), which compare_program then checks
 * against the interpreter, as it checks the paired one in mlp_sgd_nesterov. */
#define SQUARED_XENT(extra)                                                                         \
  "import nn\n"                                                                                     \
  "data d = synthetic(shape: [20], classes: 5)\n"                                                   \
  "fn squared(logits: f32[B, K], labels: i32[B]) -> f32[] {\n"                                      \
  "  l = softmax_cross_entropy(logits, labels, label_smoothing: 0.1)\n  return mean(l * l)\n}\n"  \
  "model m(x: f32[B, 20]) -> f32[B, 5] {\n  return nn.dense(relu(nn.dense(x, 16)), 5)\n}\n"        \
  "train m on d {\n  loss = " extra "\n  optimizer = sgd(lr: 0.05)\n  batch = 8\n  epochs = 1\n"  \
  "  eval_batch = 11\n}\n"

static int loss_pairs(const char *src, const char *name, int *xent, int *grad) {
  Compilation comp;
  ck_assert(compile_src(src, name, &comp));
  const IrGraph *g = &comp.prog->phases.data[0].step;
  BufPlan pl;
  cg_plan_graph(comp.prog, g, 8, &pl);
  int pairs = 0;
  *xent = *grad = -1;
  for (int i = 0; i < g->len; i++) {
    if (g->nodes[i].op == IR_XENT) *xent = i;
    if (g->nodes[i].op == IR_XENT_GRAD) *grad = i;
    if (pl.loss_pair[i] < 0) continue;
    pairs++;
    ck_assert_int_eq(pl.loss_pair[pl.loss_pair[i]], i);
    /* the gradient's slot is not shared with anything computed between the two */
    if (g->nodes[i].op == IR_XENT_GRAD)
      for (int j = pl.loss_pair[i] + 1; j < i; j++)
        if (pl.offset[j] >= 0 && pl.root[j] == j)
          ck_assert(pl.offset[j] + 4 * shape_numel(&g->nodes[j].type.shape, 8) <= pl.offset[i] ||
                    pl.offset[i] + 4 * shape_numel(&g->nodes[i].type.shape, 8) <= pl.offset[j]);
  }
  cg_plan_free(&pl);
  compilation_free(&comp);
  src_reset();
  return pairs;
}

/* A mean to one value adds in double: the mean of a million floats (the
 * prediction of a model that adds mean(x) to zero logits, over 2000 rows of
 * 500) is the exact mean rounded to a float; a float running sum was off
 * by 1.1e-7 relative here (two ulps) */
START_TEST(mean_to_one_value_in_double) {
  Compilation comp;
  ck_assert(compile_src("import nn\n"
                        "data d = synthetic(shape: [500], classes: 2, train: 64)\n"
                        "model m(x: f32[B, 500]) -> f32[B, 2] {\n  return nn.dense(x, 2) + mean(x)\n}\n"
                        "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n"
                        "  batch = 8\n  steps = 1\n  eval_batch = 2000\n}\n", "mean1", &comp));
  const astrt_program *d = NULL;
  CgJit *jit = cg_jit_compile(comp.prog, &d);
  ck_assert(jit && d && d->predict);
  int64_t rows = 2000, n = rows * 500;
  float *vars = aligned_alloc(64, (size_t)(d->var_bytes + 63) / 64 * 64);
  memset(vars, 0, (size_t)d->var_bytes);  /* zero weights and biases: the logits are the mean */
  void *work = aligned_alloc(64, (size_t)(d->predict_work_bytes + 63) / 64 * 64);
  float *x = malloc(sizeof(float) * (size_t)n), out[2 * 2000];
  int32_t y[2000] = {0};
  double exact = 0;
  for (int64_t i = 0; i < n; i++) exact += x[i] = 0.1f + (float)(i % 997) * 1e-3f;
  exact /= (double)n;
  float sc[ASTRT_NUM_SCALARS] = {0, 1, (float)rows, 1, 1, 0, 1};
  d->predict(vars, work, x, y, rows, sc, out, 1);
  /* the double sum rounded once: the exact mean as a float */
  ck_assert_msg(out[0] == (float)exact && out[0] == out[2 * rows - 1], "mean %.9g, exact %.9g", out[0], exact);
  free(x);
  free(work);
  free(vars);
  cg_jit_free(jit);
  compilation_free(&comp);
  src_reset();
}
END_TEST

START_TEST(loss_with_gradient) {
  int x, gr;
  ck_assert_int_eq(loss_pairs(SQUARED_XENT("cross_entropy()"), "xent", &x, &gr), 2);
  ck_assert(x >= 0 && gr > x);
  setenv("ASTC_FUSION", "off", 1);
  ck_assert_int_eq(loss_pairs(SQUARED_XENT("cross_entropy()"), "xent_off", &x, &gr), 0);
  unsetenv("ASTC_FUSION");
  /* lowered precision keeps the logits the gradient reads in fp32: still a pair */
  ck_assert_int_eq(loss_pairs(SQUARED_XENT("cross_entropy()") "speedup {\n  precision bf16()\n}\n", "bf16", &x, &gr), 2);
  ck_assert_int_eq(loss_pairs(SQUARED_XENT("squared()"), "squared", &x, &gr), 0);
  ck_assert(x >= 0 && gr > x);
  compare_program(SQUARED_XENT("squared()"), "squared", 3);
  compare_program(SQUARED_XENT("cross_entropy(label_smoothing: 0.2)"), "smoothed", 3);
}
END_TEST

/* The update over the parameter arena: the members of each group, and the
 * gradients they read placed at their parameters' distances. Returns the
 * number of groups of phase `phase`; *members counts their updates, *updates
 * all updates. */
static int update_groups(const char *src, const char *name, int phase, int *members, int *updates) {
  Compilation comp;
  ck_assert(compile_src(src, name, &comp));
  const IrProgram *p = comp.prog;
  const IrGraph *g = &p->phases.data[phase].step;
  BufPlan pl;
  cg_plan_graph(p, g, 8, &pl);
  int64_t *voff = malloc(sizeof(int64_t) * (size_t)p->vars.len);
  cg_plan_vars(p, voff);
  int groups = 0;
  *members = *updates = 0;
  for (int u = 0; u < g->len; u++) {
    const IrNode *n = &g->nodes[u];
    if (n->op != IR_SGD_UPDATE && n->op != IR_ADAMW_UPDATE) continue;
    (*updates)++;
    int f = pl.update_first[u];
    if (f < 0) continue;
    (*members)++;
    groups += f == u;
    /* the gradient operand (after the fused weight decay: a work value) at
     * the same distance from the first member's as the parameters */
    int gu = n->in[1], gf = g->nodes[f].in[1];
    while (pl.fused_into[gu] >= 0 && g->nodes[gu].nin == 2 && g->nodes[gu].op == IR_ADD) gu = g->nodes[gu].in[0];
    while (pl.fused_into[gf] >= 0 && g->nodes[gf].nin == 2 && g->nodes[gf].op == IR_ADD) gf = g->nodes[gf].in[0];
    ck_assert_int_ge(pl.offset[gu], 0);
    ck_assert_int_eq(pl.offset[gu] - pl.offset[gf], voff[n->ia[0]] - voff[g->nodes[f].ia[0]]);
  }
  free(voff);
  cg_plan_free(&pl);
  compilation_free(&comp);
  src_reset();
  return groups;
}

#define MLP_UPDATES(optimizer, speedup)                                                                           \
  "import nn\n"                                                                                                   \
  "data d = synthetic(shape: [20], classes: 5, train: 640)\n"                                                     \
  "model m(x: f32[B, 20]) -> f32[B, 5] {\n"                                                                       \
  "  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)\n}\n"                      \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = " optimizer "\n  batch = 8\n  epochs = 2\n}\n" speedup

START_TEST(update_over_parameter_arena) {
  int members, updates;
  ck_assert_int_eq(update_groups(MLP_UPDATES("sgd(lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5e-4)", ""),
                                 "upd", 0, &members, &updates), 1);
  ck_assert_int_eq(members, 6);
  ck_assert_int_eq(updates, 6);
  ck_assert_int_eq(update_groups(MLP_UPDATES("adamw(lr: 0.01, weight_decay: 0.01)", ""), "adam", 0, &members, &updates),
                   1);
  ck_assert_int_eq(members, 6);
  /* a frozen first layer: the four trainable parameters are still one span */
  ck_assert_int_eq(update_groups(MLP_UPDATES("sgd(lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5e-4)",
                                             "speedup {\n  freeze at(dense_1: 0.5, reuse: false)\n}\n"),
                                 "frozen", 1, &members, &updates),
                   1);
  ck_assert_int_eq(members, 4);
  ck_assert_int_eq(updates, 4);
  setenv("ASTC_FUSION", "off", 1);
  ck_assert_int_eq(update_groups(MLP_UPDATES("sgd(lr: 0.05)", ""), "off", 0, &members, &updates), 0);
  unsetenv("ASTC_FUSION");
  /* numerics against the interpreter, including the padding between
   * members (dense_3.b has 5 elements in a 16-float slot) */
  compare_program(MLP_UPDATES("adamw(lr: 0.01, weight_decay: 0.01)", ""), "adam_group", 3);
  compare_program(MLP_UPDATES("sgd(lr: 0.05, momentum: 0.9)", ""), "sgd_group", 3);
}
END_TEST

/* A constant upstream gradient, reshaped ([] -> [1, 1]) and broadcast in a loop
 * large enough to be outlined (8 x 2048 values): the outlined function
 * sees the reshape as the immediate it is */
START_TEST(parallel_reshaped_immediate) {
  compare_program("import nn\n"
                  "data d = synthetic(shape: [20], classes: 2048)\n"
                  "fn scaled(logits: f32[B, K], labels: i32[B]) -> f32[] {\n"
                  "  return sum(logits * 0.001)\n}\n"
                  "model m(x: f32[B, 20]) -> f32[B, 2048] {\n  return nn.dense(x, 2048)\n}\n"
                  "train m on d {\n  loss = scaled()\n  optimizer = sgd(lr: 0.05)\n  batch = 8\n  epochs = 1\n"
                  "  eval_batch = 11\n}\n",
                  "reshaped_imm", 2);
}
END_TEST

/* Loops large enough to split over the runtime's threads (cg_parallel):
 * the 2048-wide hidden layer's elementwise work (8 x 2048 values) and its
 * weights' update (20 x 2048) become outlined functions that the pool runs
 * in 3 parts; results against the interpreter as everywhere else. */
#define WIDE_PROGRAM                                                                                \
  PROGRAM("  h = relu(nn.dense(x, 2048))\n  return nn.dense(h, 5)", "20", "5",                   \
          "  loss = cross_entropy()\n"                                                            \
          "  optimizer = sgd(lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5e-4)")

START_TEST(parallel_loops) {
  Compilation comp;
  ck_assert(compile_src(WIDE_PROGRAM, "par", &comp));
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = cg_build_module(comp.prog, ctx, NULL);
  ck_assert(m);
  int outlined = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    outlined += strstr(LLVMGetValueName(f), "_par_") != NULL;
  ck_assert_int_ge(outlined, 2);  /* at least an elementwise loop and an update */
  LLVMDisposeModule(m);
  LLVMContextDispose(ctx);
  compilation_free(&comp);
  src_reset();
  astrt_pool_configure(3);
  ck_assert_int_eq(astrt_pool_size(), 3);
  compare_program(WIDE_PROGRAM, "par", 3);
}
END_TEST

/* The objects that define `name` (a symbol with a section) among objs */
static int defining_object(LLVMMemoryBufferRef *objs, int n, const char *name, int *count) {
  int found = -1;
  *count = 0;
  for (int k = 0; k < n; k++) {
    char *err = NULL;
    LLVMBinaryRef bin = LLVMCreateBinary(objs[k], NULL, &err);
    ck_assert_msg(bin, "object %d: %s", k, err ? err : "?");
    LLVMSymbolIteratorRef sym = LLVMObjectFileCopySymbolIterator(bin);
    LLVMSectionIteratorRef sect = LLVMObjectFileCopySectionIterator(bin);
    for (; !LLVMObjectFileIsSymbolIteratorAtEnd(bin, sym); LLVMMoveToNextSymbol(sym)) {
      if (strcmp(LLVMGetSymbolName(sym), name)) continue;
      LLVMMoveToContainingSection(sect, sym);
      if (!LLVMObjectFileIsSectionIteratorAtEnd(bin, sect)) found = k, ++*count;
    }
    LLVMDisposeSectionIterator(sect);
    LLVMDisposeSymbolIterator(sym);
    LLVMDisposeBinary(bin);
  }
  return found;
}

/* Parallel compilation (cg_units.c): a program of one phase is compiled
 * in parts with the step function in one and its outlined loops in another
 * (evaluation's likewise), so that both threads have work when the step is
 * most of the program; each symbol is defined once (the loops as
 * hidden globals the step's object refers to), and the JIT runs the result
 * against the interpreter (parallel_loops). With -fno-parallel-loops
 * nothing is outlined and the step and evaluation are apart. */
START_TEST(parts_step_apart_from_loops) {
  Compilation comp;
  ck_assert(compile_src(WIDE_PROGRAM, "parts", &comp));
  LLVMMemoryBufferRef *objs;
  int n, count;
  ck_assert(cg_compile_objects(comp.prog, NULL, 2, &objs, &n));
  ck_assert_int_eq(n, 4);  /* the step's functions, its loops, evaluation's functions (with the descriptor), its loops */
  int step = defining_object(objs, n, "astc_step_0", &count);
  ck_assert_int_eq(count, 1);
  int loop = defining_object(objs, n, "astc_step_0_par_0", &count);
  ck_assert_int_eq(count, 1);
  ck_assert_int_ne(step, loop);
  int eval = defining_object(objs, n, "astc_eval", &count);
  ck_assert_int_eq(count, 1);
  int desc = defining_object(objs, n, "astc_program", &count);
  ck_assert_int_eq(count, 1);
  ck_assert_int_eq(desc, eval);
  cg_objects_free(objs, n);
  CgOptions o = cg_options_default();
  o.no_parallel_loops = true;
  ck_assert(cg_compile_objects(comp.prog, &o, 2, &objs, &n));
  ck_assert_int_eq(n, 2);
  ck_assert_int_ne(defining_object(objs, n, "astc_step_0", &count), defining_object(objs, n, "astc_eval", &count));
  cg_objects_free(objs, n);
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* A long function (a 12-layer MLP's step: CG_GLUE_MIN instructions and
 * more once optimised) is compiled by the code generator's fast path: it
 * carries optnone after cg_optimize; its outlined loops and the short
 * evaluation function do not. */
START_TEST(long_functions_marked_glue) {
  char body[2048] = "  h = x\n";
  for (int l = 0; l < 12; l++) strcat(body, "  h = relu(nn.dense(h, 2048))\n");
  strcat(body, "  return nn.dense(h, 5)");
  char src[4096];
  snprintf(src, sizeof src, PROGRAM("%s", "20", "5", "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05)"), body);
  Compilation comp;
  ck_assert(compile_src(src, "glue", &comp));
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = cg_build_module(comp.prog, ctx, NULL);
  ck_assert(m);
  LLVMTargetMachineRef tm = cg_target_machine(NULL);
  ck_assert(cg_optimize(m, tm, NULL));
  unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7);
  int marked_loops = 0, loops = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f)) continue;
    bool marked = LLVMGetEnumAttributeAtIndex(f, LLVMAttributeFunctionIndex, optnone) != NULL;
    const char *name = LLVMGetValueName(f);
    if (strstr(name, "_par_")) loops++, marked_loops += marked;
    else if (!strcmp(name, "astc_step_0")) ck_assert_msg(marked, "the step is not marked optnone");
    else if (!strcmp(name, "astc_eval")) ck_assert_msg(!marked, "evaluation is marked optnone");
  }
  ck_assert_int_gt(loops, 0);
  ck_assert_int_eq(marked_loops, 0);
  LLVMDisposeTargetMachine(tm);
  LLVMDisposeModule(m);
  LLVMContextDispose(ctx);
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* the same programs' results without fusion (one loop per op) */
START_TEST(mlp_unfused) {
  setenv("ASTC_FUSION", "off", 1);
  compare_program(PROGRAM("  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)", "20",
                          "5",
                          "  loss = cross_entropy()\n"
                          "  optimizer = sgd(lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5e-4)"),
                  "mlp_unfused", 3);
  unsetenv("ASTC_FUSION");
}
END_TEST

START_TEST(convnet_pools_batchnorm) {
  compare_program(PROGRAM("  h = nn.max_pool2d(relu(nn.conv2d(x, 4, kernel: 3, pad: 1)))\n"
                          "  h = nn.batchnorm2d(nn.conv2d(h, 6, kernel: 3, stride: 2))\n"
                          "  h = nn.avg_pool2d(relu(h), 1)\n"
                          "  return nn.dense(flatten(h), 3)",
                          "2, 10, 10", "3",
                          "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05, momentum: 0.9)"),
                  "convnet", 3);
}
END_TEST

START_TEST(norms_activations_adamw) {
  compare_program(PROGRAM("  h = nn.layernorm(nn.gelu(nn.dense(x, 16)))\n"
                          "  h = nn.batchnorm(nn.tanh(nn.dense(h, 8)))\n"
                          "  h = nn.sigmoid(h) * 2.0 - abs(h) ** 2 + maximum(h, 0.1) / 3.0\n"
                          "  return nn.softmax(nn.dense(h, 4)) + sqrt(exp(nn.dense(h, 4)) + 1.0)",
                          "9", "4",
                          "  loss = cross_entropy(label_smoothing: 0.1)\n"
                          "  optimizer = adamw(lr: 0.01, weight_decay: 0.05)"),
                  "norms", 3);
}
END_TEST

/* exact GELU and its derivative: generated code computes erf by a rational
 * fit (cg_loops.c), the interpreter with libm's erf */
START_TEST(gelu_exact) {
  compare_program(PROGRAM("  h = gelu(nn.dense(x, 16))\n  h = gelu(nn.dense(h, 8) * 3.0)\n  return nn.dense(h, 4)",
                          "9", "4", "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9)"),
                  "gelu", 3);
}
END_TEST

START_TEST(dropout_global_pool) {
  compare_program(PROGRAM("  h = relu(nn.conv2d(x, 5, kernel: 3, pad: 1))\n"
                          "  h = nn.dropout(nn.global_avg_pool(h), 0.3)\n"
                          "  return nn.dense(h, 3) - mean(h, axis: 1, keep: true)",
                          "3, 6, 6", "3", "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)"),
                  "dropout", 3);
}
END_TEST

/* progressive resizing: phase 1's step scales the batch down (area or
 * bilinear) before a residual CNN with global pooling */
#define RESIZED_CNN(mode)                                                                           \
  "import nn\n"                                                                                     \
  "data d = synthetic(shape: [2, 10, 10], classes: 3)\n"                                            \
  "model m(x: f32[B, 2, H, W]) -> f32[B, 3] {\n"                                                    \
  "  h = relu(nn.conv2d(x, 4, kernel: 3, pad: 1))\n"                                                \
  "  h = relu(h + nn.conv2d(h, 4, kernel: 3, pad: 1))\n"                                            \
  "  return nn.dense(nn.global_avg_pool(h), 3)\n}\n"                                                \
  "train m on d {\n  batch = 8\n  epochs = 1\n  eval_batch = 11\n  loss = cross_entropy()\n"       \
  "  optimizer = sgd(lr: 0.1, momentum: 0.9)\n}\n"                                                 \
  "speedup {\n  resize progressive(from: 0.5, until: 0.9, increment: 3, mode: " mode ")\n}\n"

START_TEST(resized_cnn) {
  compare_program(RESIZED_CNN("area"), "resize_area", 3);
  compare_program(RESIZED_CNN("bilinear"), "resize_bilinear", 3);
}
END_TEST

/* ---- sequence models and regression -------------------------------------------------- */

#define SEQ_PROGRAM(model_body, train_extra)                                                        \
  "import nn\n"                                                                                     \
  "data d = tokens(\"unused.bin\", vocab: 13, context: 8)\n"                                        \
  "model m(tok: i32[B, 8]) -> f32[B, 8, 13] {\n" model_body "\n}\n"                                 \
  "train m on d {\n  batch = 5\n  epochs = 1\n  eval_batch = 7\n" train_extra "\n}\n"

/* a two-layer GPT: embeddings, causal multi-head attention (permutes read
 * and written in place by the batched products, the mask fused into the
 * softmax), layer norms, GELU MLPs, per-position cross-entropy. (SGD: the
 * keys' bias has a zero gradient, which Adam would turn float rounding noise
 * of either sign into full-size steps, so the two runs would not be
 * comparable; AdamW is compared in norms_activations_adamw.) */
START_TEST(transformer_two_layers) {
  compare_program(SEQ_PROGRAM("  h = nn.embedding(tok, 13, 16) + nn.embedding(arange(8), 8, 16)\n"
                              "  h = nn.transformer_block(h, 2, layers: 2)\n"
                              "  h = nn.transformer_block(h, 4, layers: 2)\n"
                              "  return nn.linear(nn.layernorm(h), 13)",
                              "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9, weight_decay: 0.01)"),
                  "transformer", 3);
}
END_TEST

/* the same GPT with precision bf16: every product takes bf16 operands
 * (batched attention products over strided heads, folded weight gradients)
 * and accumulates in f32, natively and in the interpreter */
START_TEST(transformer_bf16) {
  compare_program(SEQ_PROGRAM("  h = nn.embedding(tok, 13, 16) + nn.embedding(arange(8), 8, 16)\n"
                              "  h = nn.transformer_block(h, 2, layers: 2)\n"
                              "  return nn.linear(nn.layernorm(h), 13)",
                              "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9)")
                  "speedup {\n  precision bf16()\n}\n",
                  "transformer_bf16", 3);
}
END_TEST

/* layer dropping (passes/drop.c): over three steps the four blocks are
 * dropped and kept in several combinations; both rules, and with bf16
 * storage and micro-batches around it */
START_TEST(transformer_layer_dropping) {
  static const char *const speedups[] = {
      "speedup {\n  drop progressive(theta: 0.2, gamma: 5)\n}\n",
      "speedup {\n  drop stochastic(final: 0.3)\n  precision bf16()\n"
      "  batch steps(at: [0.9], factor: 2, micro: 2)\n}\n",
  };
  int dropped = 0;  /* compare_program's steps 1 to 3, seed 17: both kinds of step occur */
  for (int s = 1; s <= 3; s++)
    for (int l = 1; l <= 4; l++) dropped += astrt_drop_gate((float)(1 - l * 0.7 / 4), 17, s, l) == 0;
  ck_assert(dropped > 0 && dropped < 12);
  for (size_t i = 0; i < sizeof speedups / sizeof speedups[0]; i++) {
    char src[2048], name[32];
    snprintf(src, sizeof src, "%s%s",
             SEQ_PROGRAM("  h = nn.embedding(tok, 13, 16) + nn.embedding(arange(8), 8, 16)\n"
                         "  h = nn.transformer_block(h, 2, layers: 2)\n"
                         "  h = nn.transformer_block(h, 4, layers: 2)\n"
                         "  return nn.linear(nn.layernorm(h), 13)",
                         "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9, weight_decay: 0.01)"),
             speedups[i]);
    snprintf(name, sizeof name, "drop%zu", i);
    compare_program(src, name, 3);
  }
}
END_TEST

/* a residual CNN with batch norm: a dropped block neither trains nor
 * updates its running statistics */
START_TEST(residual_cnn_layer_dropping) {
  compare_program("import nn\n"
                  "data d = synthetic(shape: [3, 6, 6], classes: 4)\n"
                  "layer res(x: f32[B, C, H, W]) -> f32[B, C, H, W] {\n"
                  "  h = relu(nn.batchnorm2d(nn.conv2d(x, C, kernel: 3, pad: 1)))\n"
                  "  return nn.batchnorm2d(nn.conv2d(h, C, kernel: 3, pad: 1))\n}\n"
                  "model m(x: f32[B, 3, 6, 6]) -> f32[B, 4] {\n"
                  "  h = relu(nn.conv2d(x, 4, kernel: 3, pad: 1))\n"
                  "  h = relu(h + res(h))\n  h = relu(h + res(h))\n"
                  "  return nn.dense(nn.global_avg_pool(h), 4)\n}\n"
                  "train m on d {\n  batch = 8\n  epochs = 1\n  eval_batch = 11\n  loss = cross_entropy()\n"
                  "  optimizer = sgd(lr: 0.05, momentum: 0.9)\n}\n"
                  "speedup {\n  drop stochastic(final: 0.4)\n}\n",
                  "rescnn", 4);
}
END_TEST

/* The attention's memory plan: no permute of the step or of evaluation is
 * copied (each is read in place by a product or written through by one),
 * and every softmax computes its causal mask in its own pass. */
START_TEST(attention_plan) {
  Compilation comp;
  ck_assert(compile_src(SEQ_PROGRAM("  h = nn.embedding(tok, 13, 16) + nn.embedding(arange(8), 8, 16)\n"
                                    "  return nn.linear(nn.transformer_block(h, 2), 13)",
                                    "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)"),
                        "attnplan", &comp));
  const IrGraph *graphs[2] = {&comp.prog->phases.data[0].step, &comp.prog->eval};
  for (int k = 0; k < 2; k++) {
    const IrGraph *g = graphs[k];
    BufPlan pl;
    cg_plan_graph(comp.prog, g, 5, &pl);
    int permutes = 0, softmaxes = 0;
    for (int i = 0; i < g->len; i++) {
      const IrNode *n = &g->nodes[i];
      if (n->op == IR_PERMUTE) {
        permutes++;
        ck_assert_msg(pl.root[i] != i && pl.offset[i] == pl.offset[pl.root[i]], "permute %%%d is copied", i);
      }
      if (n->op == IR_SOFTMAX) {
        softmaxes++;
        ck_assert_msg(g->nodes[n->in[0]].op == IR_WHERE && pl.fused_into[n->in[0]] == i,
                      "softmax %%%d does not mask in its own pass", i);
      }
    }
    ck_assert_int_eq(permutes, (k ? 4 : 8));  /* q, k, v and the heads; and their gradients */
    ck_assert_int_eq(softmaxes, 1);
    cg_plan_free(&pl);
  }
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* the new primitives one by one: slices, concat, split, log-softmax, where,
 * batched products with broadcasting and transposes, casts of token ids */
START_TEST(sequence_primitives) {
  compare_program(SEQ_PROGRAM("  e = nn.embedding(tok, 13, 6)\n"
                              "  p = split(nn.linear(e, 12), 2)\n"
                              "  a = concat([p[0][:, :, 0:4], p[1][:, :, 2:6]], axis: -1)\n"
                              "  s = softmax(a @ transpose(a)) @ e\n"
                              "  w = where(tril(8, 6, k: -1), s, 0.5 * s)\n"
                              "  z = log_softmax(nn.dense(w + reshape(f32(tok), [B, 8, 1]) * 0.1, 13))\n"
                              "  return z + permute(permute(z, [0, 2, 1]), [0, 2, 1])",
                              "  loss = cross_entropy(label_smoothing: 0.1)\n  optimizer = sgd(lr: 0.1, momentum: 0.9)"),
                  "seqprims", 3);
}
END_TEST

/* real-valued targets: a regression with mse */
START_TEST(regression_mse) {
  compare_program("import nn\n"
                  "data d = csv(\"unused.csv\", shape: [6], label: -1)\n"
                  "model m(x: f32[B, 6]) -> f32[B, 2] {\n  return nn.dense(relu(nn.dense(x, 8)), 2)\n}\n"
                  "train m on d {\n  batch = 8\n  epochs = 1\n  eval_batch = 11\n  loss = mse()\n"
                  "  optimizer = sgd(lr: 0.05)\n}\n",
                  "regression", 3);
}
END_TEST

/* the speedup passes' rewrites, native against reference: micro-batches,
 * frozen layers, FreezeOut, lr coupling, bf16 and fp16 (with loss scaling),
 * weight averaging (EMA with warmup and copy-back, SWA over a frozen layer,
 * evaluation from the averages, batch norm's statistics averaged) */
START_TEST(speedup_rewrites) {
  static const char *const recipes[] = {
      "speedup {\n  batch steps(at: [0.9], factor: 2, micro: 3, lr_scale: linear)\n}\n",
      "speedup {\n  freeze at(dense_1: 0.0, dense_2: 0.7, freezeout: true)\n}\n",
      "speedup {\n  precision bf16()\n}\n",
      "speedup {\n  precision fp16(keep: [dense_3])\n  batch steps(at: [0.9], micro: 5)\n}\n",
      "speedup {\n  average ema(decay: 0.7, copy_back: 2, warmup: true)\n}\n",
      "speedup {\n  freeze at(dense_1: 0.0)\n  average swa(start: 0)\n}\n",
  };
  for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
    char src[2048], name[32];
    snprintf(src, sizeof src, "%s%s",
             PROGRAM("  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)", "20", "5",
                     "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05, momentum: 0.9, weight_decay: 5e-4)"),
             recipes[i]);
    snprintf(name, sizeof name, "recipe%zu", i);
    compare_program(src, name, 3);
  }
  /* batch norm's running statistics averaged with the weights (statistics:
   * average): from the value each step assigns, from the variable in a phase
   * whose frozen batch norm assigns none; evaluation from both averages */
  static const char *const bn_recipes[] = {
      "speedup {\n  average ema(decay: 0.7, warmup: true)\n}\n",
      "speedup {\n  freeze at(dense_1: 0.0, batchnorm_1: 0.0)\n  average ema(decay: 0.6)\n}\n",
  };
  for (size_t i = 0; i < sizeof bn_recipes / sizeof bn_recipes[0]; i++) {
    char src[2048], name[32];
    snprintf(src, sizeof src, "%s%s",
             PROGRAM("  h = relu(nn.batchnorm(nn.dense(x, 16)))\n  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)",
                     "20", "5", "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05, momentum: 0.9)"),
             bn_recipes[i]);
    snprintf(name, sizeof name, "bn_recipe%zu", i);
    compare_program(src, name, 3);
  }
}
END_TEST

/* A progressive freeze of five layers: each phase's step is a graph of its
 * own (one more layer's update and backward work deleted), but the layers
 * above the frozen ones compute the same forward, backward and updates in
 * every phase. Those regions are one function each, defined once and
 * called from every step that runs them (cg_module.c, "shared regions"),
 * also when the module is cut into parts; every phase's step still trains
 * as the interpreter does. */
#define FREEZE_PROGRAM                                                                                        \
  PROGRAM("  h = relu(nn.dense(x, 24))\n  h = relu(nn.dense(h, 20))\n  h = relu(nn.dense(h, 16))\n"         \
          "  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)",                                            \
          "20", "5", "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05, momentum: 0.9, weight_decay: 5e-4)") \
  "speedup {\n  freeze progressive(start: 0.2, reuse: false)\n}\n"

/* functions named with `part`, not a loop outlined from one (<name>_par_<n>) */
static bool named(LLVMValueRef f, const char *part) {
  return strstr(LLVMGetValueName(f), part) && !strstr(LLVMGetValueName(f), "_par_");
}

static int count_functions(LLVMModuleRef m, const char *part, bool defined) {
  int n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    n += named(f, part) && LLVMIsDeclaration(f) != defined;
  return n;
}

/* how many times function f calls function `name` */
static int calls_in(LLVMValueRef f, const char *name) {
  int n = 0;
  for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b))
    for (LLVMValueRef in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in))
      n += LLVMGetInstructionOpcode(in) == LLVMCall && !strcmp(LLVMGetValueName(LLVMGetCalledValue(in)), name);
  return n;
}

/* how many times module m calls function `name` */
static int calls_to(LLVMModuleRef m, const char *name) {
  int n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) n += calls_in(f, name);
  return n;
}

START_TEST(freeze_shares_regions) {
  Compilation comp;
  ck_assert(compile_src(FREEZE_PROGRAM, "frz", &comp));
  const IrProgram *p = comp.prog;
  int np = p->phases.len, steps = 0;
  for (int i = 0; i < np; i++) steps += cg_step_rep(p, i) == i;
  ck_assert_int_ge(steps, 4);  /* 0, 1, 2 and 3 layers frozen */
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = cg_build_module(p, ctx, NULL);
  ck_assert(m);
  int shared = count_functions(m, "_region_", true);
  ck_assert_int_ge(shared, 3);
  /* the last layer's forward, backward and update run in every step */
  int most = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    if (named(f, "_region_")) {
      int c = calls_to(m, LLVMGetValueName(f));
      ck_assert_int_ge(c, 2);  /* only what two steps run is shared */
      if (c > most) most = c;
    }
  ck_assert_int_ge(most, steps);  /* and layers of other widths run it too, their shapes read from a table */
  LLVMDisposeModule(m);
  /* cut into parts: each region is defined in one part, declared in the others */
  int nslots = CG_SLOTS(np), defined = 0;
  for (int part = 0; part < 2; part++) {
    bool *bodies = calloc((size_t)nslots, sizeof(bool));
    for (int s = 0; s < nslots; s++) bodies[s] = s % 2 == part;
    m = cg_build_module_part(p, ctx, NULL, bodies, NULL);
    ck_assert(m);
    defined += count_functions(m, "_region_", true);
    LLVMDisposeModule(m);
    free(bodies);
  }
  ck_assert_int_eq(defined, shared);
  LLVMContextDispose(ctx);
  for (int k = 0; k < np; k++)
    if (cg_step_rep(p, k) == k) {
      char name[32];
      snprintf(name, sizeof name, "frz%d", k);
      compare_phase(FREEZE_PROGRAM, name, 3, k);
    }
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* Straight-line glue (a step whose work is in shared regions: calls and
 * their arguments) of CG_GLUE_ACYCLIC_MIN instructions or more is also
 * marked optnone; a function of the same length with a loop is not. */
static LLVMValueRef calls_function(LLVMModuleRef m, const char *name, bool loop) {
  LLVMContextRef ctx = LLVMGetModuleContext(m);
  LLVMTypeRef i64 = LLVMInt64TypeInContext(ctx), v = LLVMVoidTypeInContext(ctx);
  LLVMTypeRef ext_ty = LLVMFunctionType(v, &i64, 1, 0);
  LLVMValueRef ext = LLVMGetNamedFunction(m, "ext");
  if (!ext) ext = LLVMAddFunction(m, "ext", ext_ty);
  LLVMValueRef f = LLVMAddFunction(m, name, LLVMFunctionType(v, &i64, 1, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(ctx, f, "entry");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(ctx, f, "body");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(ctx, f, "done");
  LLVMPositionBuilderAtEnd(b, entry);
  LLVMBuildBr(b, body);
  LLVMPositionBuilderAtEnd(b, body);
  LLVMValueRef i = LLVMBuildPhi(b, i64, "i");
  for (int k = 0; k < 2 * CG_GLUE_ACYCLIC_MIN; k++) {
    LLVMValueRef arg = LLVMBuildAdd(b, i, LLVMConstInt(i64, (unsigned long long)k, 0), "");
    LLVMBuildCall2(b, ext_ty, ext, &arg, 1, "");
  }
  LLVMValueRef next = LLVMBuildAdd(b, i, LLVMConstInt(i64, 1, 0), "");
  LLVMValueRef more = LLVMBuildICmp(b, LLVMIntSLT, next, LLVMGetParam(f, 0), "");
  if (loop) LLVMBuildCondBr(b, more, body, done);
  else LLVMBuildBr(b, done);
  LLVMValueRef zero = LLVMConstInt(i64, 0, 0);
  LLVMAddIncoming(i, &zero, &entry, 1);
  if (loop) LLVMAddIncoming(i, &next, &body, 1);
  LLVMPositionBuilderAtEnd(b, done);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  return f;
}

START_TEST(straight_glue_marked) {
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = LLVMModuleCreateWithNameInContext("glue", ctx);
  calls_function(m, "straight", false);
  calls_function(m, "looping", true);
  LLVMTargetMachineRef tm = cg_target_machine(NULL);
  ck_assert(cg_optimize(m, tm, NULL));
  unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7);
  ck_assert(LLVMGetEnumAttributeAtIndex(LLVMGetNamedFunction(m, "straight"), LLVMAttributeFunctionIndex, optnone));
  ck_assert(!LLVMGetEnumAttributeAtIndex(LLVMGetNamedFunction(m, "looping"), LLVMAttributeFunctionIndex, optnone));
  LLVMDisposeTargetMachine(tm);
  LLVMDisposeModule(m);
  LLVMContextDispose(ctx);
}
END_TEST

/* Phases that differ in shapes: a sequence-length warmup's contexts (4, 6
 * and 8 tokens) and a progressive resize's image sizes. Their steps are
 * graphs of their own, but each layer's code is the same but for numbers
 * that follow from the shapes (extents, strides, a row's length, 1/T in the
 * loss's gradient): a shared region reads those from its call site's table
 * (cg_shape_i64), so every step calls the same functions, and every phase
 * still trains as the interpreter does. */
#define WARMUP_LM                                                                                   \
  "import nn\n"                                                                                     \
  "data d = tokens(\"unused.bin\", vocab: 13, context: 8)\n"                                        \
  "model m(tok: i32[B, T]) -> f32[B, T, 13] {\n"                                                    \
  "  h = nn.embedding(tok, 13, 16) + nn.embedding(arange(T), 8, 16)\n"                              \
  "  h = nn.transformer_block(h, 2, layers: 2)\n"                                                   \
  "  return nn.linear(nn.layernorm(h), 13)\n}\n"                                                   \
  "train m on d {\n  batch = 5\n  epochs = 1\n  eval_batch = 7\n  loss = cross_entropy()\n"       \
  "  optimizer = sgd(lr: 0.1, momentum: 0.9, weight_decay: 0.01)\n}\n"                            \
  "speedup {\n  seqlen warmup(from: 4, until: 0.6, increment: 2)\n}\n"

/* the steps (distinct functions) that call function `name` */
static int steps_calling(LLVMModuleRef m, const char *name) {
  int n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    n += named(f, "_step_") && !strstr(LLVMGetValueName(f), "_region_") && calls_in(f, name) > 0;
  return n;
}

static void check_shape_phases(const char *src, const char *name, int want_steps) {
  Compilation comp;
  ck_assert(compile_src(src, name, &comp));
  const IrProgram *p = comp.prog;
  int np = p->phases.len, steps = 0;
  for (int i = 0; i < np; i++) steps += cg_step_rep(p, i) == i;
  ck_assert_int_ge(steps, want_steps);
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = cg_build_module(p, ctx, NULL);
  ck_assert(m);
  /* the layers' work is in regions every step calls */
  int shared = 0, everywhere = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    if (named(f, "_region_") && !LLVMIsDeclaration(f)) {
      shared++;
      everywhere += steps_calling(m, LLVMGetValueName(f)) == steps;
    }
  ck_assert_msg(everywhere >= 4, "%s: %d of %d shared regions run in all %d steps", name, everywhere, shared, steps);
  /* and with -fno-shared-regions none */
  CgOptions o = cg_options_default();
  o.no_shared_regions = true;
  LLVMModuleRef whole = cg_build_module(p, ctx, &o);
  ck_assert(whole);
  ck_assert_int_eq(count_functions(whole, "_region_", true), 0);
  LLVMDisposeModule(whole);
  LLVMDisposeModule(m);
  LLVMContextDispose(ctx);
  for (int k = 0; k < np; k++)
    if (cg_step_rep(p, k) == k) {
      char phase[48];
      snprintf(phase, sizeof phase, "%s%d", name, k);
      compare_phase(src, phase, 3, k);
    }
  compilation_free(&comp);
  src_reset();
}

START_TEST(shape_phases_share_regions) {
  check_shape_phases(WARMUP_LM, "warmup", 3);
  check_shape_phases(RESIZED_CNN("area"), "resized", 3);
}
END_TEST

/* cg_gemm_sites: every product of every function with the descriptor its
 * call site gets (shape at the planned rows, operand type, backend as the
 * options choose it) */
typedef struct Sites {
  int n, bf16, xsmm;
  int64_t rows_seen[64];
} Sites;

static void count_site(void *user, const IrGraph *g, int node, const astrt_gemm_batch *d) {
  Sites *s = user;
  ck_assert_int_eq(g->nodes[node].op, IR_MATMUL);
  ck_assert(s->n < 64);
  s->rows_seen[s->n++] = d->m;
  s->bf16 += d->ab_type == ASTRT_DTYPE_BF16;
  s->xsmm += d->backend == ASTRT_GEMM_XSMM;
  ck_assert(d->alpha == 1 && d->beta == 0);
}

static int xsmm_for_8_rows(void *user, const astrt_gemm_batch *d) {
  (void)user;
  return d->m == 8 ? ASTRT_GEMM_XSMM : ASTRT_GEMM_OPENBLAS;
}

START_TEST(gemm_sites) {
  Compilation comp;
  ck_assert(compile_src(PROGRAM("  h = relu(nn.dense(x, 16))\n  h = relu(nn.dense(h, 12))\n  return nn.dense(h, 5)", "20",
                                "5", "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.05)")
                        "speedup {\n  precision bf16(keep: [dense_3])\n}\n",
                        "sites", &comp));
  const IrProgram *p = comp.prog;
  int products = 0;
  const IrGraph *gs[3] = {&p->phases.data[0].step, &p->eval, &p->predict};
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < gs[k]->len; i++) products += gs[k]->nodes[i].op == IR_MATMUL;
  CgOptions o = cg_options_default();
  o.gemm = CG_GEMM_AUTO;
  Sites s = {0};
  cg_gemm_sites(p, &o, count_site, &s);
  ck_assert_int_eq(s.n, products);
  ck_assert_int_eq(s.xsmm, 0);  /* no choice: OpenBLAS */
  /* dense_1 and dense_2 take bf16 (forward, and dW; dx of dense_2), dense_3 f32 */
  ck_assert(s.bf16 > 0 && s.bf16 < s.n);
  /* the step at batch 8, evaluation at eval_batch 11 */
  bool eight = false, eleven = false;
  for (int i = 0; i < s.n; i++) eight |= s.rows_seen[i] == 8, eleven |= s.rows_seen[i] == 11;
  ck_assert(eight && eleven);
  /* a forced backend, and a chooser */
  o.gemm = CG_GEMM_FORCE(ASTRT_GEMM_XSMM);
  Sites f = {0};
  cg_gemm_sites(p, &o, count_site, &f);
  ck_assert_int_eq(f.xsmm, products);
  o.gemm = CG_GEMM_AUTO;
  o.gemm_choose = xsmm_for_8_rows;
  Sites c = {0};
  cg_gemm_sites(p, &o, count_site, &c);
  int want = 0;
  for (int i = 0; i < c.n; i++) want += c.rows_seen[i] == 8;
  ck_assert_int_eq(c.xsmm, want);
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* the descriptor read back from C matches the program */
START_TEST(descriptor_matches_program) {
  Compilation comp;
  const astrt_program *d;
  CgJit *jit = compile_jit(PROGRAM("  return nn.dense(relu(nn.dense(flatten(x), 7)), 3)", "5, 2", "3",
                                   "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.25, momentum: 0.5)\n"
                                   "  seed = 42\n  target = accuracy >= 0.75\n  lr = cosine(warmup: 0.1)"),
                           "desc", &comp, &d);
  IrProgram *p = comp.prog;
  ck_assert_int_eq(d->nvars, p->vars.len);
  int64_t *offsets = malloc(sizeof(int64_t) * (size_t)p->vars.len);
  ck_assert_int_eq(d->var_bytes, cg_plan_vars(p, offsets));
  for (int v = 0; v < p->vars.len; v++) {
    ck_assert_str_eq(d->vars[v].name, p->vars.data[v].name);
    ck_assert_int_eq(d->vars[v].offset, offsets[v]);
    ck_assert_int_eq(d->vars[v].offset % 64, 0);
    ck_assert_int_eq(d->vars[v].rank, p->vars.data[v].shape.rank);
    for (int k = 0; k < d->vars[v].rank; k++) ck_assert_int_eq(d->vars[v].dims[k], p->vars.data[v].shape.d[k]);
    ck_assert_int_eq(d->vars[v].numel, shape_numel(&p->vars.data[v].shape, 1));
    ck_assert_int_eq(d->vars[v].kind, (int)p->vars.data[v].kind);
    ck_assert_int_eq(d->vars[v].init, (int)p->vars.data[v].init.kind);
    ck_assert_int_eq(d->vars[v].fan_in, p->vars.data[v].init.fan_in);
  }
  free(offsets);
  ck_assert_str_eq(d->name, "m");
  ck_assert_int_eq(d->nlayers, 2);
  ck_assert_str_eq(d->layer_names[1], "dense_2");
  ck_assert_int_eq(d->nphases, 1);
  ck_assert_int_eq(d->phases[0].batch, 8);
  ck_assert(d->phases[0].t_begin == 0 && d->phases[0].t_end == 1);
  ck_assert_int_eq(d->eval_batch, 11);
  ck_assert(d->base_lr == 0.25);
  ck_assert_int_eq(d->seed, 42);
  ck_assert(d->goal == ASTRT_GOAL_ACCURACY && d->target == 0.75);
  ck_assert_int_eq(d->epochs, 1);
  ck_assert_int_eq(d->data.kind, ASTRT_DATA_SYNTHETIC);
  ck_assert_int_eq(d->data.rank, 2);
  ck_assert_int_eq(d->data.dims[0], 5);
  ck_assert_int_eq(d->data.dims[1], 2);
  ck_assert_int_eq(d->data.example_size, 10);
  ck_assert_int_eq(d->data.classes, 3);
  ck_assert_int_eq(d->data.synth_train, 1024);
  /* the compiled schedule agrees with the compiler's evaluator */
  for (int i = 0; i <= 20; i++) {
    double t = i / 20.0;
    ck_assert(fabs(d->lr_schedule(t, 0, 0) - sx_eval(p->lr_schedule, t, 0, 0)) < 1e-12);
  }
  cg_jit_free(jit);
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* each phase's micro-batch size reaches the descriptor: the driver's run
 * header gives the first phase's ("of batch 4 in micro-batches of 2") */
START_TEST(descriptor_micro_batches) {
  Compilation comp;
  const astrt_program *d;
  CgJit *jit = compile_jit(PROGRAM("  return nn.dense(relu(nn.dense(flatten(x), 7)), 3)", "5, 2", "3",
                                   "  loss = cross_entropy()\n  optimizer = sgd(lr: 0.25)\n}\n"
                                   "speedup {\n  batch ramp(4 -> 8, until: 0.5, micro: 2)"),
                           "desc_micro", &comp, &d);
  IrProgram *p = comp.prog;
  ck_assert_int_eq(d->nphases, p->phases.len);
  ck_assert_int_ge(d->nphases, 2);
  ck_assert_int_eq(d->phases[0].batch, 4);
  ck_assert_int_eq(d->phases[0].micro, 2);
  for (uint32_t i = 0; i < d->nphases; i++) ck_assert_int_eq(d->phases[i].micro, p->phases.data[i].micro);
  cg_jit_free(jit);
  compilation_free(&comp);
  src_reset();
}
END_TEST

Suite *codegen_suite(void) {
  Suite *s = suite_create("codegen");
  TCase *t = tcase_create("native vs reference");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, mlp_sgd_nesterov);
  tcase_add_test(t, fusion_plan);
  tcase_add_test(t, loss_with_gradient);
  tcase_add_test(t, mean_to_one_value_in_double);
  tcase_add_test(t, parallel_reshaped_immediate);
  tcase_add_test(t, update_over_parameter_arena);
  tcase_add_test(t, mlp_unfused);
  tcase_add_test(t, parallel_loops);
  tcase_add_test(t, parts_step_apart_from_loops);
  tcase_add_test(t, straight_glue_marked);
  tcase_add_test(t, long_functions_marked_glue);
  tcase_add_test(t, convnet_pools_batchnorm);
  tcase_add_test(t, norms_activations_adamw);
  tcase_add_test(t, dropout_global_pool);
  tcase_add_test(t, resized_cnn);
  tcase_add_test(t, gelu_exact);
  tcase_add_test(t, transformer_two_layers);
  tcase_add_test(t, transformer_bf16);
  tcase_add_test(t, transformer_layer_dropping);
  tcase_add_test(t, residual_cnn_layer_dropping);
  tcase_add_test(t, attention_plan);
  tcase_add_test(t, sequence_primitives);
  tcase_add_test(t, regression_mse);
  tcase_add_test(t, speedup_rewrites);
  tcase_add_test(t, shape_phases_share_regions);
  tcase_add_test(t, freeze_shares_regions);
  tcase_add_test(t, descriptor_matches_program);
  tcase_add_test(t, descriptor_micro_batches);
  tcase_add_test(t, gemm_sites);
  suite_add_tcase(s, t);
  return s;
}

/* The same tests with every product forced to one GEMM backend (ctest
 * test_codegen.gemm_NAME; the default entry runs what the descriptors say,
 * OpenBLAS without a calibration): skipped, saying why, where this build or
 * CPU lacks the backend. */
static Suite *xsmm_suite(void) {
  astrt_gemm_force(ASTRT_GEMM_XSMM);
  return codegen_suite();
}

static Suite *openblas_suite(void) {
  astrt_gemm_force(ASTRT_GEMM_OPENBLAS);
  return codegen_suite();
}

static const char *missing_none(void) { return NULL; }

static const char *missing_xsmm(void) {
  const char *why = NULL;
  if (!astrt_gemm_backend_available(ASTRT_GEMM_XSMM, ASTRT_DTYPE_F32, &why)) return why;
  if (!astrt_gemm_backend_available(ASTRT_GEMM_XSMM, ASTRT_DTYPE_BF16, &why))
    printf("note: %s: the bf16 products run as openblas (widened to f32)\n", why);
  return NULL;
}

static const char *missing_xsmm_avx2(void) {
  const char *why = missing_xsmm();
  if (why) return why;
  if (strcmp(astrt_gemm_xsmm_arch(), "hsw") != 0)
    return "libxsmm does not target AVX2 here (ctest sets LIBXSMM_TARGET=hsw for this entry; run it that way)";
  return NULL;
}

int main(int argc, char **argv) {
  static const FxExtra extra[] = {
      {"gemm_openblas", openblas_suite, missing_none},
      {"gemm_xsmm", xsmm_suite, missing_xsmm},
      {"gemm_xsmm_avx2", xsmm_suite, missing_xsmm_avx2},
  };
  return fx_main(argc, argv, codegen_suite, extra, 3);
}
