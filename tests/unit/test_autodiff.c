/* test_autodiff.c — every derivative rule against central finite differences.
 *
 * Each case builds   loss = sum(op(inputs...) * R)   with random inputs and a
 * random weighting R, differentiates it with ir_autodiff, and compares each
 * gradient element with (L(x+h) - L(x-h)) / 2h computed by the reference
 * interpreter in double precision.
 *
 * Tolerance: |ad - fd| <= 1e-6 * max(1, |fd|) with h = 1e-5. In double
 * precision the truncation error of the central difference is O(h^2) ~ 1e-10
 * and the rounding error O(eps/h) ~ 1e-11, so 1e-6 leaves a wide margin while
 * catching any wrong rule (a wrong sign, factor or transpose is off by O(1)).
 * Inputs are drawn away from the kinks of relu, abs, max and the pools.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autodiff.h"
#include "driver.h"
#include "interp.h"
#include "irb.h"

#define TOL 1e-6
#define H 1e-5

typedef struct Case {
  IrProgram *p;
  IrGraph g;
  IrBuilder b;
  int loss;
} Case;

static uint64_t rng_state = 12345;
static double urand(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

static Case *case_new(void) {
  Case *c = xcalloc(1, sizeof(Case));
  c->p = ir_program_new();
  c->b = (IrBuilder){&c->g, NO_LOC, -1, ROLE_FORWARD, NULL};
  return c;
}

/* an input variable (differentiated) of shape s, read by a PARAM node */
static int input(Case *c, Shape s) {
  char *name = arena_printf(c->p->arena, "v%d", c->p->vars.len);
  IrVar v = {name, VAR_PARAM, s, DT_F32, {INIT_ZEROS, 0, 0, 0, 0}, -1, -1, NO_LOC};
  int var = ir_program_add_var(c->p, v);
  Type t = {DT_F32, s};
  int64_t ia[IR_MAX_IA] = {var};
  return irb_node(&c->b, IR_PARAM, 0, NULL, ia, NULL, &t);
}

/* loss = sum(y * R), R a random constant variable shaped like y */
static void finish(Case *c, int y) {
  Shape s = c->g.nodes[y].type.shape;
  IrVar r = {"R", VAR_STATE, s, DT_F32, {INIT_ZEROS, 0, 0, 0, 0}, -1, -1, NO_LOC};
  for (int i = 0; i < r.shape.rank; i++)
    if (r.shape.d[i] == IR_DIM_B) r.shape.d[i] = 3;  /* rows = 3 in these tests */
  int var = ir_program_add_var(c->p, r);
  Type t = {DT_F32, r.shape};
  int64_t ia[IR_MAX_IA] = {var};
  int rn = irb_node(&c->b, IR_PARAM, 0, NULL, ia, NULL, &t);
  if (!shape_eq(&r.shape, &s)) rn = irb_reshape(&c->b, rn, s);
  int prod = irb_bin(&c->b, IR_MUL, y, rn);
  int64_t all = (1 << s.rank) - 1;
  c->loss = s.rank ? irb_reduce(&c->b, IR_SUM, prod, all, false) : prod;
}

/* i32[2, 3] labels: the batch's three labels (1, 4, 0) twice */
static int labels2x3(Case *c) {
  Type ty = {DT_I32, SHAPE(3)};
  int64_t ia1[IR_MAX_IA] = {1}, ax[IR_MAX_IA] = {0};
  int y = irb_node(&c->b, IR_INPUT, 0, NULL, ia1, NULL, &ty);
  int yy = irb_node(&c->b, IR_CONCAT, 2, (int[]){y, y}, ax, NULL, NULL);
  return irb_reshape(&c->b, yy, SHAPE(2, 3));
}

static void fill(Interp *in, const IrProgram *p, double lo, double hi) {
  for (int v = 0; v < p->vars.len; v++) {
    int64_t n = shape_numel(&p->vars.data[v].shape, 1);
    for (int64_t i = 0; i < n; i++) {
      double x = lo + (hi - lo) * urand();
      /* keep away from 0 where a kink could sit: |x| >= 0.05 */
      if (lo < 0 && fabs(x) < 0.05) x = x < 0 ? -0.05 - urand() * 0.1 : 0.05 + urand() * 0.1;
      in->vars[v][i] = x;
    }
  }
}

/* Differentiates and compares every element of every input's gradient. */
static void check_case(Case *c, double lo, double hi, const char *what) {
  IrProgram *p = c->p;
  bool *wrt = xcalloc((size_t)p->vars.len, sizeof(bool));
  int *grads = xmalloc(sizeof(int) * (size_t)p->vars.len);
  for (int v = 0; v < p->vars.len; v++) wrt[v] = p->vars.data[v].kind == VAR_PARAM;
  ir_autodiff(p, &c->g, c->loss, wrt, grads);
  ck_assert_msg(ir_verify(p, &c->g, what, stderr) == 0, "%s: IR does not verify", what);
  Interp in;
  interp_init(&in, p, 1);
  in.rows = 3;
  static const double batch[12] = {0.5, -1, 2, 0.25, 1.5, 0.75, -0.5, 3, -2, 1, 0.1, -0.3};
  static const int32_t labels[3] = {1, 4, 0};
  in.x = batch;
  in.y = labels;
  fill(&in, p, lo, hi);
  ck_assert(interp_run(&in, &c->g));
  int checked = 0;
  for (int v = 0; v < p->vars.len; v++) {
    if (!wrt[v]) continue;
    ck_assert_msg(grads[v] >= 0, "%s: no gradient for input %d", what, v);
    int64_t n = shape_numel(&p->vars.data[v].shape, 1);
    double *ad = xmalloc(sizeof(double) * (size_t)n);
    ck_assert(interp_run(&in, &c->g));
    memcpy(ad, in.vals[grads[v]], sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
      double x0 = in.vars[v][i];
      in.vars[v][i] = x0 + H;
      ck_assert(interp_run(&in, &c->g));
      double lp = in.vals[c->loss][0];
      in.vars[v][i] = x0 - H;
      ck_assert(interp_run(&in, &c->g));
      double lm = in.vals[c->loss][0];
      in.vars[v][i] = x0;
      double fd = (lp - lm) / (2 * H);
      ck_assert_msg(fabs(ad[i] - fd) <= TOL * fmax(1, fabs(fd)),
                    "%s: d/d input%d[%lld]: autodiff %.10g, finite difference %.10g", what, v,
                    (long long)i, ad[i], fd);
      checked++;
    }
    free(ad);
  }
  ck_assert_int_gt(checked, 0);
  interp_free(&in);
  free(wrt);
  free(grads);
  ir_graph_free(&c->g);
  ir_program_free(p);
  free(c);
}

/* ---- elementwise ------------------------------------------------------------------ */

static const IrOp unary_ops[] = {IR_NEG, IR_EXP, IR_LOG, IR_SQRT, IR_RSQRT, IR_TANH,
                                 IR_SIGMOID, IR_RELU, IR_ABS, IR_GELU};

START_TEST(unary_rules) {
  IrOp op = unary_ops[_i];
  Case *c = case_new();
  int x = input(c, SHAPE(3, 4));
  finish(c, irb_un(&c->b, op, x));
  bool positive = op == IR_LOG || op == IR_SQRT || op == IR_RSQRT;
  check_case(c, positive ? 0.2 : -2, 2, ir_ops[op].name);
}
END_TEST

static const IrOp binary_ops[] = {IR_ADD, IR_SUB, IR_MUL, IR_DIV, IR_MAXIMUM, IR_MINIMUM};

/* each binary op over several broadcasting patterns */
START_TEST(binary_rules) {
  static const int64_t shapes[][2][3] = {
      {{2, 3, 4}, {2, 3, 4}}, /* rank, dims... : equal shapes */
      {{2, 3, 4}, {1, 4, 0}}, /* [3,4] with [4] */
      {{2, 3, 1}, {2, 1, 4}}, /* [3,1] with [1,4] */
      {{2, 3, 4}, {0, 0, 0}}, /* [3,4] with a scalar */
  };
  for (size_t op = 0; op < sizeof binary_ops / sizeof binary_ops[0]; op++)
    for (int k = 0; k < 4; k++) {
      Case *c = case_new();
      Shape a = shape_make((int)shapes[k][0][0], &shapes[k][0][1]);
      Shape b = shape_make((int)shapes[k][1][0], &shapes[k][1][1]);
      int x = input(c, a), y = input(c, b);
      finish(c, irb_bin(&c->b, binary_ops[op], x, y));
      char what[64];
      snprintf(what, sizeof what, "%s (pattern %d)", ir_ops[binary_ops[op]].name, k);
      bool div = binary_ops[op] == IR_DIV;
      check_case(c, div ? 0.5 : -2, 2, what);
    }
}
END_TEST

/* ---- shape ops and reductions -------------------------------------------------------- */

START_TEST(reshape_broadcast_rules) {
  Case *c = case_new();
  finish(c, irb_reshape(&c->b, input(c, SHAPE(3, 4)), SHAPE(2, 6)));
  check_case(c, -1, 1, "reshape");
  c = case_new();
  finish(c, irb_broadcast(&c->b, input(c, SHAPE(4)), SHAPE(3, 4)));
  check_case(c, -1, 1, "broadcast [4] -> [3,4]");
  c = case_new();
  finish(c, irb_broadcast(&c->b, input(c, SHAPE(3, 1)), SHAPE(2, 3, 4)));
  check_case(c, -1, 1, "broadcast [3,1] -> [2,3,4]");
}
END_TEST

START_TEST(reduction_rules) {
  static const IrOp ops[] = {IR_SUM, IR_MEAN, IR_MAX};
  static const int64_t masks[] = {1, 2, 3, 5, 7};
  for (int o = 0; o < 3; o++)
    for (int m = 0; m < 5; m++)
      for (int keep = 0; keep < 2; keep++) {
        Case *c = case_new();
        int x = input(c, SHAPE(2, 3, 4));
        finish(c, irb_reduce(&c->b, ops[o], x, masks[m], keep));
        char what[64];
        snprintf(what, sizeof what, "%s axes-mask %lld keep %d", ir_ops[ops[o]].name, (long long)masks[m], keep);
        check_case(c, -2, 2, what);
      }
}
END_TEST

/* mean over the batch axis divides by the run-time row count */
START_TEST(mean_over_batch_rule) {
  /* y = mean_B(x_batch * v): the gradient is the row mean of the batch */
  Case *c = case_new();
  int v = input(c, SHAPE(1, 4));
  Type tb = {DT_F32, SHAPE(IR_DIM_B, 4)};
  int64_t ia[IR_MAX_IA] = {0};
  int xb = irb_node(&c->b, IR_INPUT, 0, NULL, ia, NULL, &tb);
  int prod = irb_bin(&c->b, IR_MUL, xb, irb_broadcast(&c->b, v, SHAPE(IR_DIM_B, 4)));
  finish(c, irb_reduce(&c->b, IR_MEAN, prod, 1, false));
  check_case(c, -2, 2, "mean over B");
}
END_TEST

/* softmax cross-entropy per row, with and without label smoothing, and a
 * ds = (softmax - t) * dy, where finish() makes dy a different number for
 * every row */
START_TEST(softmax_xent_rule) {
  static const double smoothing[] = {0, 0.2};
  for (int s = 0; s < 2; s++) {
    Case *c = case_new();
    int l = input(c, SHAPE(3, 5));
    Type ty = {DT_I32, SHAPE(3)};
    int64_t ia1[IR_MAX_IA] = {1};
    int y = irb_node(&c->b, IR_INPUT, 0, NULL, ia1, NULL, &ty);  /* labels 1, 4, 0 */
    double fa[IR_MAX_FA] = {smoothing[s]};
    finish(c, irb_node(&c->b, IR_XENT, 2, (int[]){l, y}, NULL, fa, NULL));
    char what[64];
    snprintf(what, sizeof what, "softmax_xent smoothing %g", smoothing[s]);
    check_case(c, -3, 3, what);
  }
}
END_TEST

/* per-position cross-entropy: logits [2, 3, 5] against labels [2, 3] (the
 * three labels twice) */
START_TEST(softmax_xent_per_position_rule) {
  Case *c = case_new();
  int l = input(c, SHAPE(2, 3, 5));
  int y = labels2x3(c);
  double fa[IR_MAX_FA] = {0.1};
  finish(c, irb_node(&c->b, IR_XENT, 2, (int[]){l, y}, NULL, fa, NULL));
  check_case(c, -3, 3, "softmax_xent per position");
}
END_TEST

/* ---- layout, masks, row-wise ops and indexing --------------------------------------- */

START_TEST(permute_rules) {
  static const int64_t perms[][3] = {{2, 0, 1}, {1, 0, 2}, {0, 2, 1}};
  for (int k = 0; k < 3; k++) {
    Case *c = case_new();
    int x = input(c, SHAPE(2, 3, 4));
    int64_t ia[IR_MAX_IA] = {perms[k][0], perms[k][1], perms[k][2]};
    finish(c, irb_node(&c->b, IR_PERMUTE, 1, &x, ia, NULL, NULL));
    char what[64];
    snprintf(what, sizeof what, "permute %d", k);
    check_case(c, -1, 1, what);
  }
}
END_TEST

START_TEST(slice_concat_rules) {
  Case *c = case_new();
  int x = input(c, SHAPE(2, 3, 4));
  Type t = {DT_F32, SHAPE(1, 2, 3)};
  int64_t ia[IR_MAX_IA] = {1, 1, 1};
  finish(c, irb_node(&c->b, IR_SLICE, 1, &x, ia, NULL, &t));
  check_case(c, -1, 1, "slice");
  for (int ax = 0; ax < 2; ax++) {
    c = case_new();
    int a = input(c, SHAPE(2, 3)), b = input(c, ax ? SHAPE(2, 1) : SHAPE(1, 3)), d = input(c, SHAPE(2, 3));
    int64_t cat[IR_MAX_IA] = {ax};
    finish(c, irb_node(&c->b, IR_CONCAT, 3, (int[]){a, b, d}, cat, NULL, NULL));
    check_case(c, -1, 1, ax ? "concat axis 1" : "concat axis 0");
  }
}
END_TEST

/* where(mask, a, b) with broadcasting; the mask (a comparison) has no gradient */
START_TEST(where_rule) {
  Case *c = case_new();
  int a = input(c, SHAPE(3, 4)), b = input(c, SHAPE(4));
  Type mt = {DT_F32, SHAPE(3, 1)};
  int64_t x0[IR_MAX_IA] = {0};
  int m = irb_node(&c->b, IR_INPUT, 0, NULL, x0, NULL, &mt);  /* 0.5, -1, 2 */
  int mask = irb_bin(&c->b, IR_GT, m, irb_const(&c->b, 0.0));
  finish(c, irb_node(&c->b, IR_WHERE, 3, (int[]){mask, a, b}, NULL, NULL, NULL));
  check_case(c, -2, 2, "where");
}
END_TEST

START_TEST(rowwise_rules) {
  static const IrOp ops[] = {IR_SOFTMAX, IR_LOG_SOFTMAX, IR_LAYERNORM};
  for (int k = 0; k < 3; k++) {
    Case *c = case_new();
    int x = input(c, SHAPE(2, 3, 5));
    double fa[IR_MAX_FA] = {1e-5};
    finish(c, irb_node(&c->b, ops[k], 1, &x, NULL, fa, NULL));
    check_case(c, -2, 2, ir_ops[ops[k]].name);
  }
}
END_TEST

/* softmax(where(tril, s, -inf)): a causally masked softmax over [2, 4, 4] */
START_TEST(causal_softmax_rule) {
  Case *c = case_new();
  int s = input(c, SHAPE(2, 4, 4));
  Type mt = {DT_F32, SHAPE(4, 4)};
  int tril = irb_node(&c->b, IR_TRIL, 0, NULL, NULL, NULL, &mt);
  int masked = irb_node(&c->b, IR_WHERE, 3, (int[]){tril, s, irb_const(&c->b, -INFINITY)}, NULL, NULL, NULL);
  finish(c, irb_un(&c->b, IR_SOFTMAX, masked));
  check_case(c, -2, 2, "causal softmax");
}
END_TEST

/* an embedding: rows of a [5, 4] table by ids with repeats, as [6] and [2, 3] */
START_TEST(gather_rule) {
  for (int k = 0; k < 2; k++) {
    Case *c = case_new();
    int table = input(c, SHAPE(5, 4));
    int y = labels2x3(c);
    if (!k) y = irb_reshape(&c->b, y, SHAPE(6));
    finish(c, irb_node(&c->b, IR_GATHER, 2, (int[]){table, y}, NULL, NULL, NULL));
    check_case(c, -1, 1, k ? "gather [2, 3]" : "gather [6]");
  }
}
END_TEST

/* ---- contractions ------------------------------------------------------------------ */

START_TEST(matmul_rules) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      Case *c = case_new();
      int a = input(c, ta ? SHAPE(4, 3) : SHAPE(3, 4));
      int b = input(c, tb ? SHAPE(5, 4) : SHAPE(4, 5));
      finish(c, irb_matmul(&c->b, a, b, ta, tb));
      char what[64];
      snprintf(what, sizeof what, "matmul trans_a %d trans_b %d", ta, tb);
      check_case(c, -1, 1, what);
    }
}
END_TEST

/* batched products: leading axes on one side, both, broadcast from size 1,
 * four dimensions, and the folded product of weight gradients */
START_TEST(batched_matmul_rules) {
  static const struct {
    int64_t a[5], b[5];  /* rank, dims */
    int ta, tb, fold;
  } cases[] = {
      {{3, 2, 3, 4}, {2, 4, 5}, 0, 0, 0},          /* x[2,3,4] @ w[4,5] */
      {{3, 2, 3, 4}, {2, 5, 4}, 0, 1, 0},          /* x @ w^T */
      {{2, 3, 4}, {3, 2, 4, 5}, 0, 0, 0},          /* w[3,4] @ x[2,4,5] */
      {{3, 2, 3, 4}, {3, 2, 4, 5}, 0, 0, 0},       /* equal leading axes */
      {{3, 2, 4, 3}, {3, 2, 5, 4}, 1, 1, 0},       /* both transposed */
      {{3, 1, 3, 4}, {3, 2, 4, 5}, 0, 0, 0},       /* broadcast from 1 */
      {{4, 2, 2, 3, 4}, {4, 2, 2, 5, 4}, 0, 1, 0}, /* attention scores q k^T */
      {{3, 2, 3, 4}, {3, 2, 3, 5}, 1, 0, 1},       /* fold: sum_l a_l^T b_l */
      {{3, 2, 3, 4}, {3, 2, 5, 4}, 0, 1, 1},       /* fold: sum_l a_l b_l^T */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    Case *c = case_new();
    int a = input(c, shape_make((int)cases[k].a[0], &cases[k].a[1]));
    int b = input(c, shape_make((int)cases[k].b[0], &cases[k].b[1]));
    int64_t ia[IR_MAX_IA] = {cases[k].ta, cases[k].tb, cases[k].fold};
    finish(c, irb_node(&c->b, IR_MATMUL, 2, (int[]){a, b}, ia, NULL, NULL));
    char what[64];
    snprintf(what, sizeof what, "batched matmul case %zu", k);
    check_case(c, -1, 1, what);
  }
}
END_TEST

START_TEST(conv2d_rules) {
  static const int64_t cases[][12] = {
      /* x N C H W, w O KH KW, stride h w, pad h w */
      {2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 0},
      {1, 2, 6, 6, 3, 3, 3, 2, 2, 0, 0, 0},
      {1, 2, 6, 5, 3, 2, 3, 2, 1, 1, 0, 0},
      {2, 1, 4, 4, 2, 5, 5, 1, 1, 2, 2, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const int64_t *q = cases[k];
    Case *c = case_new();
    int x = input(c, SHAPE(q[0], q[1], q[2], q[3]));
    int w = input(c, SHAPE(q[4], q[1], q[5], q[6]));
    int64_t ia[IR_MAX_IA] = {q[7], q[8], q[9], q[10]};
    finish(c, irb_node(&c->b, IR_CONV2D, 2, (int[]){x, w}, ia, NULL, NULL));
    char what[64];
    snprintf(what, sizeof what, "conv2d case %zu", k);
    check_case(c, -1, 1, what);
  }
}
END_TEST

START_TEST(pool_rules) {
  static const int64_t cases[][6] = {
      {2, 2, 2, 2, 0, 0}, /* window h w, stride h w, pad h w */
      {3, 3, 1, 1, 1, 1},
      {3, 2, 2, 1, 1, 0},
  };
  for (int op = 0; op < 2; op++)
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      Case *c = case_new();
      int x = input(c, SHAPE(2, 3, 5, 4));
      int64_t ia[IR_MAX_IA];
      memcpy(ia, cases[k], sizeof cases[k]);
      finish(c, irb_node(&c->b, op ? IR_AVGPOOL2D : IR_MAXPOOL2D, 1, &x, ia, NULL, NULL));
      char what[64];
      snprintf(what, sizeof what, "%s case %zu", op ? "avgpool2d" : "maxpool2d", k);
      check_case(c, -2, 2, what);
    }
}
END_TEST

/* a composed chain: shared operands accumulate their adjoints */
START_TEST(fanout_accumulates) {
  Case *c = case_new();
  int x = input(c, SHAPE(3, 4));
  int y = irb_bin(&c->b, IR_MUL, x, irb_un(&c->b, IR_TANH, x));
  finish(c, irb_bin(&c->b, IR_ADD, y, irb_un(&c->b, IR_EXP, x)));
  check_case(c, -1, 1, "x * tanh(x) + exp(x)");
}
END_TEST

/* ---- whole programs: the stdlib's layers and losses through the front end --------------- */

/* Compiles `src` and checks d loss / d every parameter element (up to 40
 * per parameter) of the training-mode step graph by finite differences. */
static void check_program(const char *src, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/tmp/astc_fd_%d_%s.train", (int)getpid(), name);
  FILE *f = fopen(path, "w");
  ck_assert(f);
  fputs(src, f);
  fclose(f);
  Compilation comp;
  diag_reset();
  bool ok = compile_file(&comp, path, NULL);
  remove(path);
  ck_assert_msg(ok, "%s does not compile", name);
  IrProgram *p = comp.prog;
  IrGraph *g = &p->phases.data[0].step;
  /* the forward + loss part, and the loss node */
  int loss = -1;
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_OUTPUT && g->nodes[i].ia[0] == OUT_LOSS) loss = g->nodes[i].in[0];
  ck_assert(loss >= 0);
  /* differentiate again into a copy without the update ops, so finite
   * differences see the loss of unchanged parameters */
  IrGraph fwd = {0};
  for (int i = 0; i <= loss; i++) ir_add(&fwd, g->nodes[i]);
  bool *wrt = xcalloc((size_t)p->vars.len, sizeof(bool));
  int *grads = xmalloc(sizeof(int) * (size_t)p->vars.len);
  for (int v = 0; v < p->vars.len; v++) wrt[v] = p->vars.data[v].kind == VAR_PARAM;
  ir_autodiff(p, &fwd, loss, wrt, grads);
  Interp in;
  interp_init(&in, p, 7);
  in.rows = 5;
  int64_t xn = shape_numel(&p->input_type.shape, in.rows);
  double *x = xmalloc(sizeof(double) * (size_t)xn);
  int32_t y[5];
  for (int64_t i = 0; i < xn; i++) x[i] = urand() * 2 - 1;
  for (int i = 0; i < 5; i++) y[i] = (int32_t)(urand() * (double)p->data.classes);
  in.x = x;
  in.y = y;
  in.scalars[SC_STEP] = 1;
  for (int v = 0; v < p->vars.len; v++) {
    if (!wrt[v]) continue;
    ck_assert_msg(grads[v] >= 0, "%s: no gradient for %s", name, p->vars.data[v].name);
    int64_t n = shape_numel(&p->vars.data[v].shape, 1);
    ck_assert(interp_run(&in, &fwd));
    double *ad = xmalloc(sizeof(double) * (size_t)n);
    memcpy(ad, in.vals[grads[v]], sizeof(double) * (size_t)n);
    int64_t stride = n > 40 ? n / 40 : 1;
    for (int64_t i = 0; i < n; i += stride) {
      double x0 = in.vars[v][i];
      in.vars[v][i] = x0 + H;
      ck_assert(interp_run(&in, &fwd));
      double lp = in.vals[loss][0];
      in.vars[v][i] = x0 - H;
      ck_assert(interp_run(&in, &fwd));
      double lm = in.vals[loss][0];
      in.vars[v][i] = x0;
      double fd = (lp - lm) / (2 * H);
      ck_assert_msg(fabs(ad[i] - fd) <= 1e-5 * fmax(1, fabs(fd)),
                    "%s: d loss / d %s[%lld]: autodiff %.10g, finite difference %.10g", name,
                    p->vars.data[v].name, (long long)i, ad[i], fd);
    }
    free(ad);
  }
  free(x);
  free(wrt);
  free(grads);
  interp_free(&in);
  ir_graph_free(&fwd);
  compilation_free(&comp);
  src_reset();
}

#define PROGRAM(model_body, input, loss)                                                          \
  "import nn\n"                                                                                   \
  "data d = synthetic(shape: [" input "], classes: 4)\n"                                          \
  "model m(x: f32[B, " input "]) -> f32[B, 4] {\n" model_body "\n}\n"                              \
  "train m on d {\n  loss = " loss "\n  optimizer = sgd(lr: 0.1)\n  batch = 5\n  epochs = 1\n}\n"

START_TEST(program_mlp_cross_entropy) {
  check_program(PROGRAM("  h = relu(nn.dense(x, 6))\n  return nn.dense(h, 4)", "8", "cross_entropy()"), "mlp");
}
END_TEST

START_TEST(program_label_smoothing_gelu_tanh) {
  check_program(PROGRAM("  h = nn.gelu(nn.dense(x, 6))\n  h = nn.tanh(nn.dense(h, 5))\n"
                        "  return nn.dense(nn.sigmoid(h), 4)", "8",
                        "cross_entropy(label_smoothing: 0.1)"),
                "smooth");
}
END_TEST

START_TEST(program_layernorm_batchnorm_softmax_mse) {
  check_program(PROGRAM("  h = nn.layernorm(nn.dense(x, 6))\n  h = nn.batchnorm(relu(h))\n"
                        "  return nn.softmax(nn.dense(h, 4))", "8",
                        "cross_entropy()"),
                "norms");
}
END_TEST

START_TEST(program_lenet_like) {
  check_program(PROGRAM("  h = nn.max_pool2d(relu(nn.conv2d(x, 3, kernel: 3, pad: 1)))\n"
                        "  h = nn.avg_pool2d(nn.batchnorm2d(nn.conv2d(h, 4, kernel: 2)))\n"
                        "  h = flatten(h)\n  return nn.dense(h, 4)", "2, 6, 6", "cross_entropy()"),
                "lenet");
}
END_TEST

START_TEST(program_global_pool_dropout) {
  check_program(PROGRAM("  h = relu(nn.conv2d(x, 3, kernel: 3, pad: 1))\n"
                        "  h = nn.dropout(nn.global_avg_pool(h), 0.3)\n  return nn.dense(h, 4)", "2, 5, 5",
                        "cross_entropy()"),
                "gap");
}
END_TEST

Suite *autodiff_suite(void) {
  Suite *s = suite_create("autodiff");
  TCase *t = tcase_create("rules");
  tcase_set_timeout(t, 120);
  tcase_add_loop_test(t, unary_rules, 0, (int)(sizeof unary_ops / sizeof unary_ops[0]));
  tcase_add_test(t, binary_rules);
  tcase_add_test(t, reshape_broadcast_rules);
  tcase_add_test(t, reduction_rules);
  tcase_add_test(t, mean_over_batch_rule);
  tcase_add_test(t, softmax_xent_rule);
  tcase_add_test(t, matmul_rules);
  tcase_add_test(t, batched_matmul_rules);
  tcase_add_test(t, softmax_xent_per_position_rule);
  tcase_add_test(t, permute_rules);
  tcase_add_test(t, slice_concat_rules);
  tcase_add_test(t, where_rule);
  tcase_add_test(t, rowwise_rules);
  tcase_add_test(t, causal_softmax_rule);
  tcase_add_test(t, gather_rule);
  tcase_add_test(t, conv2d_rules);
  tcase_add_test(t, pool_rules);
  tcase_add_test(t, fanout_accumulates);
  suite_add_tcase(s, t);
  TCase *pr = tcase_create("programs");
  tcase_set_timeout(pr, 300);
  tcase_add_test(pr, program_mlp_cross_entropy);
  tcase_add_test(pr, program_label_smoothing_gelu_tanh);
  tcase_add_test(pr, program_layernorm_batchnorm_softmax_mse);
  tcase_add_test(pr, program_lenet_like);
  tcase_add_test(pr, program_global_pool_dropout);
  suite_add_tcase(s, pr);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(autodiff_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
