/* drop.c — layer dropping, second half: guarding each block's work.
 *
 * The front end gated every residual block's join (drop_blocks.c): y =
 * gated_add(x, f(x), c) with c = drop_gate(p_l), and autodiff made the branch's
 * backward start from c dy. This pass, after the passes that add work around
 * the gradients (micro-batches, allreduces, the finite-loss guard, casts and
 * fp16's overflow check), finds what a step must not run when block l is
 * dropped (c = 0) and guards it (IrNode.guard = l). It reads the step as two
 * programs:
 *
 *   kept     the step as it is;
 *   dropped  f(x) absent: y = x, and every value linear in c dy (the
 *            branch's backward) absent too, i.e. zero.
 *
 * Absence propagates through the ops that are linear in the absent operand
 * (products, sums, views, casts, the derivative ops in their dy operand,
 * accumulation, allreduce), and an absent gradient with weight decay added is
 * still absent, as torch leaves the .grad of a skipped block None. It stops
 * at the joins, which become conditional:
 *
 *   y = x + f(x)          gated_add(x, f(x), c)        (the front end's)
 *   u + e (e absent)      gated_add(u, e, c > 0)        backward: x's gradient
 *                                                       gets the branch's part
 *   min(ok, all_finite(e)) where(c, min(...), ok)      fp16's overflow check
 *
 * An update whose gradient is absent is skipped: parameters and optimizer
 * slots stay bit-identical (AdamW's step count of the block's parameters is a
 * count of its own, adamw.step.block_N, as torch keeps one per parameter); so
 * is an assignment to a state variable of the block (batch-norm statistics).
 * The block's work is then every node the kept step needs and the dropped
 * one does not: the branch's forward, its backward, its updates and their
 * optimizer-state reads. Code generation runs each maximal run of them in
 * one `if` on c (docs/architecture.md), the interpreter skips them.
 */
#include <string.h>

#include "drop.h"
#include "pass.h"

/* a node's value in the dropped program */
typedef enum Kind {
  K_N,   /* as computed (needed or not) */
  K_Z,   /* absent: a part of the branch's backward (zero) */
  K_O,   /* all_finite of an absent value (one) */
  K_X,   /* undefined: an absent value read where it is not linear; must not be needed */
} Kind;

typedef struct Block {
  const IrProgram *p;
  const IrGraph *g;
  int id, keep, join, x, fx;
  Kind *kind;
  bool *is_join, *needed, *live, *guarded;
  bool *branch_layer;  /* per layer instance: computes part of f(x) */
  const char *why;     /* why the block's work cannot be separated */
  int why_node;
} Block;

static bool is_update(IrOp op) { return op == IR_SGD_UPDATE || op == IR_ADAMW_UPDATE; }

/* nodes that are never guarded: immediates (computed once, up front), the
 * gates, and allreduces (one runtime call for the step's gradients; in one
 * process they do nothing) */
static bool never_guarded(const IrNode *n) {
  return ((n->op == IR_CONST || n->op == IR_SCALAR) && n->type.shape.rank == 0) || n->op == IR_DROP_GATE ||
         n->op == IR_ALLREDUCE;
}

/* whether node n's value is linear in operand k (absent when it is) */
static bool linear_in(const IrNode *n, int k) {
  switch (n->op) {
  case IR_MUL: case IR_MATMUL: return true;
  case IR_DIV: case IR_NEG: case IR_RESHAPE: case IR_BROADCAST: case IR_PERMUTE: case IR_SLICE: case IR_PAD:
  case IR_SUM: case IR_MEAN: case IR_CAST: case IR_ACCUMULATE: case IR_ALLREDUCE: case IR_GATHER:
  case IR_AVGPOOL2D_GRAD: case IR_CONV2D_GRAD_INPUT:
    return k == 0;
  case IR_RELU_GRAD: case IR_GELU_GRAD: case IR_SOFTMAX_GRAD: case IR_LOG_SOFTMAX_GRAD: case IR_LAYERNORM_GRAD:
  case IR_MAXPOOL2D_GRAD: case IR_CONV2D_GRAD_WEIGHT: case IR_SCATTER_ADD:
    return k == 1;
  case IR_XENT_GRAD: return k == 2;
  default: return false;
  }
}

static bool is_zero(const IrGraph *g, int i) { return g->nodes[i].op == IR_CONST && g->nodes[i].fa[0] == 0; }

/* the kind of node i from its operands' (joins are marked) */
static Kind combine(Block *b, int i) {
  const IrNode *n = &b->g->nodes[i];
  int cnt[4] = {0};
  for (int k = 0; k < n->nin; k++) cnt[b->kind[n->in[k]]]++;
  if (cnt[K_Z] + cnt[K_O] + cnt[K_X] == 0) return K_N;
  if (cnt[K_X]) return K_X;
  if (is_update(n->op)) { /* skipped when its gradient is absent */
    bool only_grad = b->kind[n->in[1]] == K_Z && cnt[K_Z] == 1 && cnt[K_O] == 0;
    return only_grad ? K_Z : K_X;
  }
  if (ir_ops[n->op].cls == EFFECT) return K_X;
  switch (n->op) {
  case IR_ADD:
    if (cnt[K_O] || cnt[K_Z] == 2) return cnt[K_O] ? K_X : K_Z;
    if (n->role == ROLE_BACKWARD) { /* a gradient meets the branch's part of it */
      b->is_join[i] = true;
      return K_N;
    }
    return n->role == ROLE_UPDATE ? K_Z : K_X;  /* weight decay added to an absent gradient */
  case IR_MINIMUM:
    if (cnt[K_Z]) return K_X;
    if (cnt[K_O] == 2) return K_O;
    b->is_join[i] = true;  /* all gradients finite: the absent ones count as finite */
    return K_N;
  case IR_ALL_FINITE: return cnt[K_Z] ? K_O : K_X;
  case IR_CONCAT: return cnt[K_Z] == n->nin ? K_Z : K_X;
  case IR_WHERE: { /* where(mask, e, 0): a masked gradient */
    Kind m = b->kind[n->in[0]], x = b->kind[n->in[1]], y = b->kind[n->in[2]];
    bool x0 = x == K_Z || is_zero(b->g, n->in[1]), y0 = y == K_Z || is_zero(b->g, n->in[2]);
    return m == K_N && x0 && y0 ? K_Z : K_X;
  }
  default:
    if (cnt[K_O]) return K_X;
    for (int k = 0; k < n->nin; k++)
      if (b->kind[n->in[k]] == K_Z && !linear_in(n, k)) return K_X;
    return K_Z;
  }
}

/* the layer instances of the branch: the nodes after x that f(x) depends on
 * through x, called inside the block's scope (not that scope itself, whose
 * functions may be in the branch too but whose state is not the block's) */
static void branch_layers(Block *b) {
  const IrGraph *g = b->g;
  bool *dep = xcalloc((size_t)g->len + 1, sizeof(bool)), *anc = xcalloc((size_t)g->len + 1, sizeof(bool));
  dep[b->x] = anc[b->fx] = true;
  for (int j = b->x + 1; j <= b->fx; j++)
    for (int k = 0; k < g->nodes[j].nin; k++) dep[j] |= dep[g->nodes[j].in[k]];
  for (int j = b->fx; j > b->x; j--) {
    if (!anc[j]) continue;
    for (int k = 0; k < g->nodes[j].nin; k++) anc[g->nodes[j].in[k]] = true;
    int l = g->nodes[j].layer;
    if (dep[j] && l >= 0 && l != g->nodes[b->join].layer) b->branch_layer[l] = true;
  }
  free(dep);
  free(anc);
}

/* an effect the dropped step still has */
static bool dropped_root(const Block *b, int i) {
  const IrNode *n = &b->g->nodes[i];
  if (ir_ops[n->op].cls != EFFECT) return false;
  if (n->op == IR_ASSIGN || (n->op == IR_AVERAGE && b->p->vars.data[n->ia[1]].kind == VAR_STATE)) {
    /* the block's own state, and its running average (average's statistics: average) */
    int l = b->p->vars.data[n->ia[n->op == IR_ASSIGN ? 0 : 1]].layer;
    if (l >= 0 && b->branch_layer[l]) return false;
  }
  return b->kind[i] != K_Z;
}

/* The kinds, and what each program needs. False (with b->why) if a value the
 * dropped step needs is not defined there. */
static bool analyse(Block *b) {
  const IrGraph *g = b->g;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    bool entry = n->op == IR_MUL && n->role == ROLE_BACKWARD && (n->in[0] == b->keep || n->in[1] == b->keep);
    b->kind[i] = i <= b->x ? K_N : entry ? K_Z : i == b->join ? K_N : combine(b, i);
  }
  b->is_join[b->join] = true;
  for (int i = g->len - 1; i >= 0; i--) {
    const IrNode *n = &g->nodes[i];
    if (ir_ops[n->op].cls == EFFECT) b->live[i] = true;
    if (dropped_root(b, i)) b->needed[i] = true;
    if (b->needed[i] && b->kind[i] != K_N) {
      b->why = "a value the step needs when the block is skipped comes from the block's backward";
      b->why_node = i;
      return false;
    }
    for (int k = 0; k < n->nin; k++) {
      int o = n->in[k];
      b->live[o] |= b->live[i];
      bool skipped = b->is_join[i] && (i == b->join ? o == b->fx : b->kind[o] != K_N);
      b->needed[o] |= b->needed[i] && !skipped;
    }
  }
  /* A node another block already guards is work neither step needs when
   * either block is skipped (a gradient that only an earlier block's
   * backward reads, once the layers before that block are frozen): either
   * guard is right, and the block in whose dropped step the node is absent
   * (its own branch's backward) takes it, so that it never runs on the
   * values of a skipped block (rewrite). */
  for (int i = b->keep + 1; i < g->len; i++)
    b->guarded[i] = b->live[i] && !b->needed[i] && !never_guarded(&g->nodes[i]);
  return true;
}

/* ---- the rewrite ------------------------------------------------------------------- */

/* the step count of the block's AdamW updates: a variable of its own */
static int block_count_var(IrProgram *p, int id) {
  const char *name = arena_printf(p->arena, "adamw.step.block_%d", id);
  int v = ir_program_find_var(p, name);
  if (v >= 0) return v;
  IrVar c = {name, VAR_OPT, SHAPE_SCALAR, DT_F32, {INIT_ZEROS, 0, 0, 0, 0}, -1, -1, p->opt.loc};
  return ir_program_add_var(p, c);
}

/* Guards the block's work and makes its joins conditional (the header). */
static void rewrite(IrProgram *p, Block *b, IrGraph *g) {
  IrRewrite rw;
  rw_begin(&rw, g);
  int on = -1, count = -1;  /* c > 0; the block's AdamW count */
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    rw.b = (IrBuilder){&rw.dst, n->loc, n->layer, n->role, n->scope};
    if (b->is_join[i] && n->op == IR_ADD) {
      int z = b->kind[n->in[0]] == K_Z ? 0 : 1;
      int j = irb_node(&rw.b, IR_GATED_ADD, 3, (int[]){rw.map[n->in[1 - z]], rw.map[n->in[z]], on}, NULL, NULL, NULL);
      rw.dst.nodes[j].name = n->name;
      rw_map(&rw, i, j);
      continue;
    }
    bool mine = b->guarded[i] && (!n->guard || b->kind[i] == K_Z);  /* (analyse) */
    if (mine && n->op == IR_ADAMW_UPDATE && count < 0) {
      int v = block_count_var(p, b->id);
      Type t = {DT_F32, SHAPE_SCALAR};
      int64_t ia[IR_MAX_IA] = {v};
      rw.b.layer = -1;
      count = irb_node(&rw.b, IR_PARAM, 0, NULL, ia, NULL, &t);
      rw.dst.nodes[count].name = p->vars.data[v].name;
      rw.dst.nodes[count].guard = b->id;
    }
    int c = rw_copy(&rw, i);
    IrNode *d = &rw.dst.nodes[c];
    if (mine || (b->is_join[i] && n->op == IR_MINIMUM)) d->guard = b->id;
    if (mine && n->op == IR_ADAMW_UPDATE) {
      d->in[5] = count;
      d->ia[3] = rw.dst.nodes[count].ia[0];
    }
    if (b->is_join[i] && n->op == IR_MINIMUM) { /* the minimum where the block runs, else ok */
      int ok = rw.map[b->kind[n->in[0]] == K_O ? n->in[1] : n->in[0]];
      rw_map(&rw, i, irb_node(&rw.b, IR_WHERE, 3, (int[]){rw.map[b->keep], c, ok}, NULL, NULL, NULL));
    }
    if (i == b->keep) {
      rw.b.role = ROLE_FORWARD;
      on = irb_bin(&rw.b, IR_GT, c, irb_const(&rw.b, 0));
    }
  }
  rw_end(&rw, g);
}

static void block_free(Block *b) {
  free(b->kind);
  free(b->is_join);
  free(b->needed);
  free(b->live);
  free(b->guarded);
  free(b->branch_layer);
}

/* block id of step g: its join, analysed and rewritten; false after an error */
static bool drop_block(IrProgram *p, IrGraph *g, int id, int keep) {
  int join = -1;
  for (int i = keep + 1; i < g->len && join < 0; i++)
    if (g->nodes[i].op == IR_GATED_ADD && g->nodes[i].in[2] == keep && g->nodes[i].role == ROLE_FORWARD) join = i;
  if (join < 0) return true;  /* nothing of it is left */
  size_t n = (size_t)g->len + 1;
  Block b = {p, g, id, keep, join, g->nodes[join].in[0], g->nodes[join].in[1], xcalloc(n, sizeof(Kind)),
             xcalloc(n, sizeof(bool)), xcalloc(n, sizeof(bool)), xcalloc(n, sizeof(bool)), xcalloc(n, sizeof(bool)),
             xcalloc((size_t)p->layers.len + 1, sizeof(bool)), NULL, -1};
  branch_layers(&b);
  bool ok = analyse(&b);
  if (ok) {
    rewrite(p, &b, g);
  } else {
    char d[64];
    snprintf(d, sizeof d, "%%%d", b.why_node);
    diag_error(g->nodes[join].loc, "drop: cannot separate the work of residual block %d: %s (node %s); please "
                                   "report this program", id, b.why, d);
  }
  block_free(&b);
  return ok;
}

bool pass_drop(PassContext *c) {
  IrProgram *p = c->p;
  for (int i = 0; i < p->phases.len; i++) {
    IrGraph *g = &p->phases.data[i].step;
    int *flags;
    int blocks = ir_guard_flags(g, &flags);
    free(flags);
    /* block by block: each rewrite moves the nodes after it */
    for (int id = 1; id <= blocks; id++) {
      int keep = -1;
      for (int j = 0; j < g->len && keep < 0; j++)
        if (g->nodes[j].op == IR_DROP_GATE && g->nodes[j].ia[0] == id) keep = j;
      if (keep >= 0 && !drop_block(p, g, id, keep)) return false;
    }
  }
  return true;
}
