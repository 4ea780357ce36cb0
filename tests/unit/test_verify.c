/* test_verify.c — the IR verifier (compiler/ir/ir_verify.c) rejects each
 * class of malformed IR it claims to catch (ir.h: SSA order, arity, operand
 * and result types by re-running the shape rules, effect ordering,
 * variable references and layer dropping's guards), and accepts well-formed
 * graphs.
 *
 * Two small training steps are built by hand with irb_node: softmax
 * regression (x[B,4] @ w[4,3] + b[3], cross-entropy, mean, output), a
 * gradient of the right type for w and b, and
 *   - SGD: w with momentum (its velocity slot), b without, and an assign of
 *     a state variable;
 *   - AdamW: w with its m and v slots and the adamw.step count.
 * Both verify with no problem. Each malformed case copies one, breaks one
 * thing, and checks that ir_verify counts at least one problem, prints one
 * line per problem, and that one line names the broken node ("%N: ") and
 * says what is wrong.
 *
 * Not caught by the verifier as it stands (so not tested here):
 *   - an sgd_update or adamw_update (any arity) whose nin is negative or
 *     above IR_MAX_IN: skipped without a problem;
 *   - adamw_update's step-count variable (ia[3], adamw.step): its index,
 *     kind, and operand 5 being it are never checked;
 *   - an sgd_update without momentum (ia[1] = -1) with a 4th operand.
 * And two cases where it reads out of bounds instead of reporting:
 *   - a node with an unknown op that a later node uses as an operand: the
 *     EFFECT test indexes ir_ops[] with it (UBSan, ir_verify.c);
 *   - after an arity problem the shape rule still runs and reads operands
 *     past nin, whose indices were never checked.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irb.h"
#include "test_fixtures.h"

/* ---- the well-formed steps ------------------------------------------------------ */

typedef struct Step {
  IrProgram *p;
  IrGraph g;
  /* variables */
  int w, b, vel, state, m, v, count;
  /* nodes */
  int x, y, pw, pb, mm, logits, xent, loss, out, gw, gb, lr, pvel, uw, ub, as, pm, pv, pc;
} Step;

static int var(Step *s, const char *name, VarKind kind, Shape shape) {
  IrVar v = {name, kind, shape, DT_F32, {INIT_ZEROS, 0, 0, 0, 0}, -1, -1, NO_LOC};
  return ir_program_add_var(s->p, v);
}

static int leaf(IrBuilder *b, IrOp op, int64_t ia0, DType dt, Shape shape) {
  Type t = {dt, shape};
  int64_t ia[IR_MAX_IA] = {ia0};
  return irb_node(b, op, 0, NULL, ia, NULL, &t);
}

/* The forward, loss and gradients shared by both steps; then the updates. */
static void build(Step *s, bool adamw) {
  memset(s, 0, sizeof *s);
  s->p = ir_program_new();
  s->w = var(s, "w", VAR_PARAM, SHAPE(4, 3));
  s->b = var(s, "b", VAR_PARAM, SHAPE(3));
  s->vel = var(s, "w.momentum", VAR_OPT, SHAPE(4, 3));
  s->state = var(s, "running_mean", VAR_STATE, SHAPE(3));
  s->m = var(s, "w.adam_m", VAR_OPT, SHAPE(4, 3));
  s->v = var(s, "w.adam_v", VAR_OPT, SHAPE(4, 3));
  s->count = var(s, "adamw.step", VAR_OPT, SHAPE_SCALAR);
  IrBuilder b = {&s->g, NO_LOC, -1, ROLE_FORWARD, NULL};
  s->x = leaf(&b, IR_INPUT, 0, DT_F32, SHAPE(IR_DIM_B, 4));
  s->y = leaf(&b, IR_INPUT, 1, DT_I32, SHAPE(IR_DIM_B));
  s->pw = leaf(&b, IR_PARAM, s->w, DT_F32, SHAPE(4, 3));
  s->pb = leaf(&b, IR_PARAM, s->b, DT_F32, SHAPE(3));
  s->mm = irb_matmul(&b, s->x, s->pw, false, false);
  s->logits = irb_bin(&b, IR_ADD, s->mm, s->pb);
  b.role = ROLE_LOSS;
  s->xent = irb_bin(&b, IR_XENT, s->logits, s->y);
  s->loss = irb_reduce(&b, IR_MEAN, s->xent, 1, false);
  int64_t slot[IR_MAX_IA] = {OUT_LOSS};
  s->out = irb_node(&b, IR_OUTPUT, 1, &s->loss, slot, NULL, NULL);
  b.role = ROLE_BACKWARD;  /* not the real gradients: values of their types */
  s->gw = irb_matmul(&b, s->x, s->logits, true, false);
  s->gb = irb_reduce(&b, IR_SUM, s->logits, 1, false);
  b.role = ROLE_UPDATE;
  s->lr = irb_scalar(&b, SC_LR);
  if (adamw) {
    s->pm = leaf(&b, IR_PARAM, s->m, DT_F32, SHAPE(4, 3));
    s->pv = leaf(&b, IR_PARAM, s->v, DT_F32, SHAPE(4, 3));
    s->pc = leaf(&b, IR_PARAM, s->count, DT_F32, SHAPE_SCALAR);
    int64_t ia[IR_MAX_IA] = {s->w, s->m, s->v, s->count};
    double fa[IR_MAX_FA] = {0.9, 0.999, 1e-8, 0.01};
    s->uw = irb_node(&b, IR_ADAMW_UPDATE, 6, (int[]){s->pw, s->gw, s->pm, s->pv, s->lr, s->pc}, ia, fa, NULL);
  } else {
    s->pvel = leaf(&b, IR_PARAM, s->vel, DT_F32, SHAPE(4, 3));
    int64_t ia[IR_MAX_IA] = {s->w, s->vel, 0};
    double fa[IR_MAX_FA] = {0.9};
    s->uw = irb_node(&b, IR_SGD_UPDATE, 4, (int[]){s->pw, s->gw, s->lr, s->pvel}, ia, fa, NULL);
  }
  int64_t ib[IR_MAX_IA] = {s->b, -1, 0};
  s->ub = irb_node(&b, IR_SGD_UPDATE, 3, (int[]){s->pb, s->gb, s->lr}, ib, NULL, NULL);
  int64_t is[IR_MAX_IA] = {s->state};
  s->as = irb_node(&b, IR_ASSIGN, 1, &s->gb, is, NULL, NULL);
}

static void step_free(Step *s) {
  ir_graph_free(&s->g);
  ir_program_free(s->p);
}

/* ---- checking the verifier's answer ------------------------------------------------ */

/* ir_verify's count and what it printed (malloc'ed). */
static int verify(const IrProgram *p, const IrGraph *g, const char *what, char **text) {
  size_t len = 0;
  FILE *out = open_memstream(text, &len);
  ck_assert_ptr_nonnull(out);
  int n = ir_verify(p, g, what, out);
  ck_assert_int_eq(fclose(out), 0);
  return n;
}

/* g has at least one problem; one line per problem; one of them is at node
 * `node` and contains `says`. */
static void rejected(const IrProgram *p, const IrGraph *g, const char *what, int node, const char *says) {
  char *text = NULL;
  int n = verify(p, g, what, &text);
  ck_assert_msg(n > 0, "%s: the verifier accepted it", what);
  int lines = 0;
  bool found = false;
  char head[256];
  snprintf(head, sizeof head, "astc: internal error: IR verifier (%s): %%%d: ", what, node);
  for (char *line = text; *line;) {
    char *end = strchr(line, '\n');
    ck_assert_msg(end != NULL, "%s: unterminated line: %s", what, line);
    *end = '\0';
    lines++;
    if (!strncmp(line, head, strlen(head)) && strstr(line + strlen(head), says)) found = true;
    line = end + 1;
  }
  ck_assert_msg(lines == n, "%s: %d problems counted, %d printed", what, n, lines);
  ck_assert_msg(found, "%s: no problem at %%%d saying \"%s\"; the verifier printed:\n%s", what, node, says, text);
  free(text);
}

static void accepted(const IrProgram *p, const IrGraph *g, const char *what) {
  char *text = NULL;
  int n = verify(p, g, what, &text);
  ck_assert_msg(n == 0, "%s: %d problems:\n%s", what, n, text);
  ck_assert_str_eq(text, "");
  free(text);
}

/* A copy of s's graph to break. */
static IrGraph copy(const Step *s) { return ir_graph_clone(&s->g); }

/* Appends a copy of node i of g; returns its index. */
static int again(IrGraph *g, int i) {
  IrNode n = g->nodes[i];
  return ir_add(g, n);
}

/* ---- well-formed ------------------------------------------------------------------- */

START_TEST(well_formed_steps_pass) {
  Step s;
  build(&s, false);
  accepted(s.p, &s.g, "sgd step");
  ck_assert_int_eq(ir_verify(s.p, &s.g, "sgd step", NULL), 0);
  step_free(&s);
  build(&s, true);
  accepted(s.p, &s.g, "adamw step");
  step_free(&s);
}
END_TEST

/* a guarded update (ia[7]: its last operand is a scalar all-finite flag) */
START_TEST(guarded_update_passes) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.len = s.gb + 1;  /* forward, loss and gradients; then one guarded update of b */
  IrBuilder b = {&g, NO_LOC, -1, ROLE_UPDATE, NULL};
  int lr = irb_scalar(&b, SC_LR);
  int ok = irb_un(&b, IR_ALL_FINITE, s.gb);
  int64_t ia[IR_MAX_IA] = {s.b, -1, 0};
  ia[IR_UPDATE_GUARDED] = 1;
  irb_node(&b, IR_SGD_UPDATE, 4, (int[]){s.pb, s.gb, lr, ok}, ia, NULL, NULL);
  accepted(s.p, &g, "guarded");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* ---- SSA order ------------------------------------------------------------------------ */

START_TEST(operand_defined_after_its_user) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.mm].in[1] = s.logits;  /* a later node */
  char says[64];
  snprintf(says, sizeof says, "operand 1 (%%%d) is not defined before use", s.logits);
  rejected(s.p, &g, "later operand", s.mm, says);
  g.nodes[s.mm].in[1] = s.mm;  /* itself */
  snprintf(says, sizeof says, "operand 1 (%%%d) is not defined before use", s.mm);
  rejected(s.p, &g, "self operand", s.mm, says);
  g.nodes[s.mm].in[1] = -1;
  rejected(s.p, &g, "negative operand", s.mm, "operand 1 (%-1) is not defined before use");
  g.nodes[s.mm].in[1] = 1000;  /* past the end of the graph */
  rejected(s.p, &g, "operand out of the graph", s.mm, "operand 1 (%1000) is not defined before use");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* ---- effects: no value, written once, never read after the write ---------------------- */

START_TEST(effect_used_as_a_value) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.gb].in[0] = s.out;  /* the output effect, as if it had a value */
  char says[64];
  snprintf(says, sizeof says, "operand 0 (%%%d) has no value", s.out);
  rejected(s.p, &g, "effect operand", s.gb, says);
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

START_TEST(variable_read_after_its_update) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  int late = again(&g, s.pw);  /* reads w after sgd_update wrote it */
  char says[64];
  snprintf(says, sizeof says, "w is read after it is written (at %%%d)", s.uw);
  rejected(s.p, &g, "read after update", late, says);
  ir_graph_free(&g);
  /* the state variable, after its assign */
  g = copy(&s);
  IrBuilder b = {&g, NO_LOC, -1, ROLE_UPDATE, NULL};
  int ps = leaf(&b, IR_PARAM, s.state, DT_F32, SHAPE(3));
  snprintf(says, sizeof says, "running_mean is read after it is written (at %%%d)", s.as);
  rejected(s.p, &g, "read after assign", ps, says);
  ir_graph_free(&g);
  /* a velocity, after the update that wrote it */
  g = copy(&s);
  late = again(&g, s.pvel);
  snprintf(says, sizeof says, "w.momentum is read after it is written (at %%%d)", s.uw);
  rejected(s.p, &g, "velocity read after update", late, says);
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

START_TEST(variable_written_twice) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  int twice = again(&g, s.ub);
  rejected(s.p, &g, "b updated twice", twice, "b is written twice");
  ir_graph_free(&g);
  g = copy(&s);
  twice = again(&g, s.as);
  rejected(s.p, &g, "state assigned twice", twice, "running_mean is written twice");
  ir_graph_free(&g);
  /* two updates of different parameters sharing one velocity slot */
  g = copy(&s);
  IrBuilder b = {&g, NO_LOC, -1, ROLE_UPDATE, NULL};
  int b2 = var(&s, "w2", VAR_PARAM, SHAPE(4, 3));
  int pw2 = leaf(&b, IR_PARAM, b2, DT_F32, SHAPE(4, 3));
  int64_t ia[IR_MAX_IA] = {b2, s.vel, 0};
  double fa[IR_MAX_FA] = {0.9};
  int u2 = irb_node(&b, IR_SGD_UPDATE, 4, (int[]){pw2, s.gw, s.lr, s.pvel}, ia, fa, NULL);
  rejected(s.p, &g, "velocity shared", u2, "a velocity is written twice");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* AdamW's m and v slots are written by its update: a second adamw_update
 * with the same slots writes them twice. */
START_TEST(adam_moment_written_twice) {
  Step s;
  build(&s, true);
  IrGraph g = copy(&s);
  IrBuilder b = {&g, NO_LOC, -1, ROLE_UPDATE, NULL};
  int w2 = var(&s, "w2", VAR_PARAM, SHAPE(4, 3));
  int pw2 = leaf(&b, IR_PARAM, w2, DT_F32, SHAPE(4, 3));
  int64_t ia[IR_MAX_IA] = {w2, s.m, s.v, s.count};
  double fa[IR_MAX_FA] = {0.9, 0.999, 1e-8, 0.01};
  int u2 = irb_node(&b, IR_ADAMW_UPDATE, 6, (int[]){pw2, s.gw, s.pm, s.pv, s.lr, s.pc}, ia, fa, NULL);
  rejected(s.p, &g, "adam slots shared", u2, "w.adam_m is written twice");
  rejected(s.p, &g, "adam slots shared", u2, "w.adam_v is written twice");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* ---- arity ----------------------------------------------------------------------------- */

START_TEST(wrong_number_of_operands) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.logits].nin = 1;  /* add of one operand (in[1] still names a node) */
  rejected(s.p, &g, "add of 1", s.logits, "add takes 2 operands, has 1");
  g.nodes[s.logits].nin = 3;
  g.nodes[s.logits].in[2] = s.pb;
  rejected(s.p, &g, "add of 3", s.logits, "add takes 2 operands, has 3");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.x].nin = 1;  /* a leaf with an operand */
  g.nodes[s.x].in[0] = 0;
  rejected(s.p, &g, "input of 1", s.x, "input takes 0 operands, has 1");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.out].nin = 2;
  g.nodes[s.out].in[1] = s.loss;
  rejected(s.p, &g, "output of 2", s.out, "output takes 1 operands, has 2");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.ub].nin = 5;  /* sgd_update: 3 or 4 */
  g.nodes[s.ub].in[3] = s.lr;
  g.nodes[s.ub].in[4] = s.lr;
  rejected(s.p, &g, "sgd_update of 5", s.ub, "sgd_update takes 3 or 4 operands");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.uw].nin = 3;  /* momentum (ia[1] = the velocity) without its operand */
  rejected(s.p, &g, "sgd_update without velocity", s.uw, "sgd_update with momentum needs the velocity operand");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.logits].nin = IR_MAX_IN + 1;  /* more than a node can hold */
  rejected(s.p, &g, "add of IR_MAX_IN + 1", s.logits, "add takes 2 operands, has 11");
  ir_graph_free(&g);
  step_free(&s);
  build(&s, true);
  g = copy(&s);
  g.nodes[s.uw].nin = 5;
  rejected(s.p, &g, "adamw_update of 5", s.uw, "adamw_update takes 6 operands");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* ---- types, by the shape rules ------------------------------------------------------------ */

START_TEST(result_type_disagrees_with_its_rule) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.logits].type.shape = SHAPE(IR_DIM_B, 4);
  rejected(s.p, &g, "add shape", s.logits, "add has type f32[B,4] but its rule gives f32[B,3]");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.loss].type.dtype = DT_F16;
  rejected(s.p, &g, "mean dtype", s.loss, "mean has type f16[] but its rule gives f32[]");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.gw].type.shape = SHAPE(3, 4);  /* the transpose */
  rejected(s.p, &g, "matmul shape", s.gw, "matmul has type f32[3,4] but its rule gives f32[4,3]");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

START_TEST(operand_types_break_the_rule) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.logits].in[1] = s.x;  /* f32[B,3] + f32[B,4] */
  rejected(s.p, &g, "add shapes", s.logits, "add: shapes f32[B,3] and f32[B,4] do not broadcast");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.mm].in[1] = s.pb;  /* x[B,4] @ f32[3] */
  rejected(s.p, &g, "matmul of a vector", s.mm, "matmul: '@' needs two tensors of at least two dimensions");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.xent].in[1] = s.mm;  /* labels: f32[B,3], not i32[B] */
  rejected(s.p, &g, "xent labels", s.xent,
           "softmax cross-entropy needs f32 logits [R..., K] and i32 labels [R...] (one per row), not f32[B,3] and f32[B,3]");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.loss].in[0] = s.y;  /* mean of i32 labels */
  rejected(s.p, &g, "mean of i32", s.loss, "cannot reduce a i32 tensor");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.loss].ia[0] = 4;  /* axis 2 of a rank-1 tensor */
  rejected(s.p, &g, "mean axes", s.loss, "reduction axes are out of range for rank 1");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

START_TEST(update_operand_types) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.uw].in[1] = s.gb;  /* b's gradient for w */
  rejected(s.p, &g, "gradient type", s.uw, "the gradient of w does not have its type");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.uw].in[0] = s.pb;  /* operand 0 is not w */
  rejected(s.p, &g, "updated operand", s.uw, "operand 0 must be the variable w");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.uw].in[3] = s.pw;  /* the velocity operand is not the velocity */
  rejected(s.p, &g, "velocity operand", s.uw, "operand 3 must be the variable w.momentum");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.as].in[0] = s.gw;  /* f32[4,3] into running_mean f32[3] */
  rejected(s.p, &g, "assigned type", s.as, "assigned value does not have the type of running_mean");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.ub].ia[IR_UPDATE_GUARDED] = 1;  /* guarded by its lr operand... */
  g.nodes[s.ub].nin = 4;
  g.nodes[s.ub].in[3] = s.gb;  /* ... no: by a vector */
  rejected(s.p, &g, "guard", s.ub, "the guard must be a scalar");
  ir_graph_free(&g);
  step_free(&s);
  build(&s, true);
  g = copy(&s);
  g.nodes[s.uw].in[2] = s.pv;  /* v where m belongs */
  rejected(s.p, &g, "adam m operand", s.uw, "operand 2 must be the variable w.adam_m");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* ---- variable references ---------------------------------------------------------------- */

START_TEST(variable_references) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.pw].ia[0] = 99;
  rejected(s.p, &g, "param out of range", s.pw, "variable index out of range");
  g.nodes[s.pw].ia[0] = -1;
  rejected(s.p, &g, "param negative", s.pw, "variable index out of range");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.pw].type.shape = SHAPE(3, 4);  /* w read as f32[3,4] */
  rejected(s.p, &g, "param type", s.pw, "w read with the wrong type");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.ub].ia[0] = 99;
  rejected(s.p, &g, "update out of range", s.ub, "variable index 99 out of range");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.ub].ia[0] = s.state;  /* sgd_update of a state variable */
  rejected(s.p, &g, "update of state", s.ub, "variable running_mean has the wrong kind");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.as].ia[0] = s.b;  /* assign to a parameter */
  rejected(s.p, &g, "assign to a parameter", s.as, "variable b has the wrong kind");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.uw].ia[1] = 99;  /* velocity out of range */
  rejected(s.p, &g, "velocity out of range", s.uw, "variable index 99 out of range");
  g.nodes[s.uw].ia[1] = s.b;  /* a parameter as the velocity */
  rejected(s.p, &g, "velocity kind", s.uw, "variable b has the wrong kind");
  ir_graph_free(&g);
  step_free(&s);
  build(&s, true);
  g = copy(&s);
  g.nodes[s.uw].ia[2] = 99;  /* adam v out of range */
  rejected(s.p, &g, "adam v out of range", s.uw, "variable index 99 out of range");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* ---- leaves and outputs: attributes in range ------------------------------------------------ */

START_TEST(leaf_and_output_attributes) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.x].ia[0] = 3;
  rejected(s.p, &g, "input kind", s.x, "input must be x, y or cached features");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.lr].ia[0] = SC_NUM;
  rejected(s.p, &g, "scalar", s.lr, "unknown scalar");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.out].ia[0] = OUT_NUM;
  rejected(s.p, &g, "output slot", s.out, "unknown output slot");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.out].in[0] = s.xent;  /* f32[B], not a scalar */
  rejected(s.p, &g, "output of a vector", s.out, "outputs must be scalars");
  ir_graph_free(&g);
  g = copy(&s);
  g.nodes[s.out].op = IR_NUM_OPS;  /* a node no other node uses (see the header) */
  char says[32];
  snprintf(says, sizeof says, "unknown op %d", (int)IR_NUM_OPS);
  rejected(s.p, &g, "unknown op", s.out, says);
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

/* layer dropping's guards: a guarded node needs its block's gate before it,
 * and a block has one gate */
START_TEST(guards_and_gates) {
  Step s;
  build(&s, false);
  IrGraph g = copy(&s);
  g.nodes[s.mm].guard = 1;  /* no gate at all */
  rejected(s.p, &g, "guard without a gate", s.mm, "guard 1 has no gate node before it");
  ir_graph_free(&g);
  g = copy(&s);
  IrBuilder b = {&g, NO_LOC, -1, ROLE_FORWARD, NULL};
  int p = irb_const(&b, 0.5);
  int64_t ia[IR_MAX_IA] = {1};
  int gate = irb_node(&b, IR_DROP_GATE, 1, &p, ia, NULL, NULL);
  int twice = irb_node(&b, IR_DROP_GATE, 1, &p, ia, NULL, NULL);
  g.nodes[s.mm].guard = 1;  /* its gate comes after it */
  rejected(s.p, &g, "gate after the guarded node", s.mm, "guard 1 has no gate node before it");
  rejected(s.p, &g, "two gates", twice, "a second gate node of block 1");
  g.nodes[s.mm].guard = 0;
  g.nodes[gate].ia[0] = 0;  /* block numbers start at 1 */
  rejected(s.p, &g, "block 0", gate, "drop_gate needs an f32[] keep probability and a block number >= 1");
  ir_graph_free(&g);
  step_free(&s);
}
END_TEST

static Suite *verify_suite(void) {
  Suite *s = suite_create("verify");
  TCase *tc = tcase_create("verify");
  tcase_add_test(tc, well_formed_steps_pass);
  tcase_add_test(tc, guarded_update_passes);
  tcase_add_test(tc, operand_defined_after_its_user);
  tcase_add_test(tc, effect_used_as_a_value);
  tcase_add_test(tc, variable_read_after_its_update);
  tcase_add_test(tc, variable_written_twice);
  tcase_add_test(tc, adam_moment_written_twice);
  tcase_add_test(tc, wrong_number_of_operands);
  tcase_add_test(tc, result_type_disagrees_with_its_rule);
  tcase_add_test(tc, operand_types_break_the_rule);
  tcase_add_test(tc, update_operand_types);
  tcase_add_test(tc, variable_references);
  tcase_add_test(tc, leaf_and_output_attributes);
  tcase_add_test(tc, guards_and_gates);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) { return fx_main(argc, argv, verify_suite, NULL, 0); }
