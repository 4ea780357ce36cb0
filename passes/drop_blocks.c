/* drop_blocks.c — layer dropping, first half: the residual blocks of a
 * forward graph, their keep probabilities, and their gated joins (drop.h).
 *
 * A residual block is an add y = x + f(x) where the branch f(x) is computed
 * from x and parameters only (data-independent values such as a causal mask
 * may be read too), by layer calls and functions: every node on the data
 * path from x to f(x) belongs to a layer instance called inside the scope
 * that wrote the add (a sub-instance of the add's layer, or any instance for
 * an add in the model's body) or to that scope itself (a relu between two
 * layer calls), and no value of the branch is used outside the block. One
 * layer call (x + block(x)), a chain of them (transformer_block's
 * x + causal_self_attention(layernorm(x))) and ResNet's basic block
 * (x + bn(conv(relu(bn(conv(x)))))) qualify; x + relu(dense(x)) of a branch
 * whose value is used elsewhere, or that reads other data, does not. A block inside another block's
 * branch is part of that block. Depth l = 1 .. L counts blocks from the
 * input (graph order).
 *
 * Keep probabilities (docs/passes.md has the sources):
 *   stochastic(final, start, warmup)  p_l = 1 - (l/L)(1 - final) r(t), where
 *     r(t) is 0 before start, then grows linearly to 1 over `warmup` (Huang
 *     et al. 2016's linear decay in depth; Composer's drop_warmup);
 *   progressive(theta, gamma)  p_l = 1 - (l/L)(1 - theta(t)) with
 *     theta(t) = (1 - theta) exp(-gamma t) + theta (Zhang & He 2020).
 */
#include <math.h>
#include <string.h>

#include "drop.h"
#include "rewrite.h"

/* ---- keep probabilities ----------------------------------------------------------- */

static SExpr *keep_expr(Arena *a, const SpeedupItem *it, int l, int L) {
  double depth = (double)l / (double)L;
  SExpr *t = sx_var(a, SX_T);
  if (it->rule->id == RULE_DROP_PROGRESSIVE) {
    /* 1 - depth (1 - theta) (1 - exp(-gamma t)) */
    double theta = sp_num(it, ARG_DROP_THETA), gamma = sp_num(it, ARG_DROP_GAMMA);
    SExpr *decay = sx_un(a, SX_EXP, sx_bin(a, SX_MUL, sx_const(a, -gamma), t));
    SExpr *rate = sx_bin(a, SX_MUL, sx_const(a, depth * (1 - theta)), sx_bin(a, SX_SUB, sx_const(a, 1), decay));
    return sx_bin(a, SX_SUB, sx_const(a, 1), rate);
  }
  double full = depth * (1 - sp_num(it, ARG_DROP_FINAL));
  double start = sp_num(it, ARG_DROP_START), warmup = sp_num(it, ARG_DROP_WARMUP);
  if (start <= 0 && warmup <= 0) return sx_const(a, 1 - full);
  SExpr *ramp;
  if (warmup > 0) { /* min(1, max(0, (t - start) / warmup)) */
    SExpr *u = sx_bin(a, SX_DIV, sx_bin(a, SX_SUB, t, sx_const(a, start)), sx_const(a, warmup));
    ramp = sx_bin(a, SX_MIN, sx_const(a, 1), sx_bin(a, SX_MAX, sx_const(a, 0), u));
  } else { /* 1 from start on */
    ramp = sx_bin(a, SX_SUB, sx_const(a, 1), sx_bin(a, SX_LT, t, sx_const(a, start)));
  }
  return sx_bin(a, SX_SUB, sx_const(a, 1), sx_bin(a, SX_MUL, sx_const(a, full), ramp));
}

double drop_keep_probability(const SpeedupItem *it, int l, int L, double t) {
  Arena *a = arena_new();
  double p = sx_eval(keep_expr(a, it, l, L), t, 0, 0);
  arena_free(a);
  return p;
}

double drop_mean_keep(const IrGraph *g, int keep_node, double t0, double t1) {
  const IrNode *p = &g->nodes[g->nodes[keep_node].in[0]];
  if (p->op == IR_CONST) return p->fa[0];
  if (p->op != IR_SCHED) return 1;
  enum { POINTS = 64 };
  double sum = 0;
  for (int k = 0; k < POINTS; k++) sum += fmin(1, sx_eval(p->sx, t0 + (t1 - t0) * (k + 0.5) / POINTS, 0, 0));
  return sum / POINTS;
}

/* whether every block is kept in every step */
static bool inactive(const SpeedupItem *it) {
  if (it->rule->id == RULE_DROP_PROGRESSIVE) return sp_num(it, ARG_DROP_THETA) >= 1;
  return sp_num(it, ARG_DROP_FINAL) >= 1 || sp_num(it, ARG_DROP_START) >= 1;
}

/* ---- finding the blocks ----------------------------------------------------------- */

typedef enum Why { WHY_NONE, WHY_READS, WHY_LEAKS } Why;

typedef struct Finder {
  const IrProgram *p;
  const IrGraph *g;
  int *user_start, *users;   /* the users of node i: users[user_start[i] .. user_start[i + 1]) */
  bool *data;                /* depends on the data (an input) */
  bool *live;                /* reaches an effect (the front end leaves dead nodes: a folded transpose) */
  bool *dep, *anc, *inside;  /* per candidate: depends on x; feeds f(x) (scratch), and any block's branch */
  bool *side;                /* per candidate: a branch layer's value off the path (batch-norm statistics) */
  int *stack;
  Why why;                   /* the first near miss, for the diagnostic */
  int why_join, why_node;
} Finder;

/* whether layer instance l is called inside the scope of instance `outer`
 * (-1: the model's body) */
static bool layer_within(const IrProgram *p, int l, int outer) {
  if (l < 0) return false;
  if (outer < 0) return true;
  const char *name = p->layers.data[l].name, *o = p->layers.data[outer].name;
  size_t k = strlen(o);
  return l != outer && !strncmp(name, o, k) && name[k] == '.';
}

static void finder_init(Finder *f, const IrProgram *p, const IrGraph *g) {
  int n = g->len;
  *f = (Finder){p, g, xcalloc((size_t)n + 2, sizeof(int)), NULL, xcalloc((size_t)n + 1, sizeof(bool)),
                xcalloc((size_t)n + 1, sizeof(bool)), xcalloc((size_t)n + 1, sizeof(bool)),
                xcalloc((size_t)n + 1, sizeof(bool)),
                xcalloc((size_t)n + 1, sizeof(bool)), xcalloc((size_t)n + 1, sizeof(bool)),
                xmalloc(sizeof(int) * (size_t)(n + 1)), WHY_NONE, -1, -1};
  for (int i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) f->user_start[g->nodes[i].in[k] + 1]++;
  for (int i = 0; i < n; i++) f->user_start[i + 1] += f->user_start[i];
  f->users = xmalloc(sizeof(int) * (size_t)(f->user_start[n] + 1));
  int *fill = xcalloc((size_t)n + 1, sizeof(int));
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &g->nodes[i];
    f->data[i] = nd->op == IR_INPUT;
    for (int k = 0; k < nd->nin; k++) {
      int o = nd->in[k];
      f->data[i] |= f->data[o];
      f->users[f->user_start[o] + fill[o]++] = i;
    }
  }
  free(fill);
  for (int i = n - 1; i >= 0; i--) {
    const IrNode *nd = &g->nodes[i];
    f->live[i] |= ir_ops[nd->op].cls == EFFECT;
    for (int k = 0; f->live[i] && k < nd->nin; k++) f->live[nd->in[k]] = true;
  }
}

static void finder_free(Finder *f) {
  free(f->user_start);
  free(f->users);
  free(f->data);
  free(f->live);
  free(f->dep);
  free(f->anc);
  free(f->inside);
  free(f->side);
  free(f->stack);
}

static void near_miss(Finder *f, Why why, int join, int node) {
  if (f->why != WHY_NONE) return;
  f->why = why, f->why_join = join, f->why_node = node;
}

/* Whether y = a + r (r the later operand) is a residual block; its branch's
 * data path (the nodes after a that r depends on through a) is f->anc[j] &&
 * f->dep[j]. */
static bool is_block(Finder *f, int y, int a, int r) {
  const IrGraph *g = f->g;
  for (int j = a; j <= r; j++) {
    f->dep[j] = j == a;
    for (int k = 0; j > a && k < g->nodes[j].nin; k++) {
      int o = g->nodes[j].in[k];
      f->dep[j] |= o >= a && f->dep[o];
    }
  }
  if (!f->dep[r]) return false;  /* not x + f(x) */
  memset(f->anc, 0, sizeof(bool) * (size_t)g->len);
  int sp = 0;
  f->stack[sp++] = r;
  f->anc[r] = true;
  bool ok = true;
  while (sp > 0 && ok) {
    int j = f->stack[--sp];
    const IrNode *n = &g->nodes[j];
    if (!(j > a && f->dep[j]) && f->data[j]) { /* from the data, but not through x */
      near_miss(f, WHY_READS, y, j);
      ok = false;
    }
    for (int k = 0; ok && k < n->nin; k++) {
      int o = n->in[k];
      if (o != a && !f->anc[o]) f->anc[o] = true, f->stack[sp++] = o;
    }
  }
  /* the branch's values are the block's own: used on the path to f(x), or
   * by values of the branch's layers that do not leave them (batch-norm
   * statistics assigned to the layers' state) */
  memset(f->side + a, 0, sizeof(bool) * (size_t)(g->len - a));
  for (int j = a + 1; ok && j < g->len; j++) {
    if (!(j <= r && f->anc[j] && f->dep[j]) && !f->side[j]) continue;
    for (int u = f->user_start[j]; ok && u < f->user_start[j + 1]; u++) {
      int v = f->users[u];
      if (v == y || !f->live[v] || (v <= r && f->anc[v] && f->dep[v])) continue;
      if (!layer_within(f->p, g->nodes[v].layer, g->nodes[y].layer)) {
        near_miss(f, WHY_LEAKS, y, j);
        ok = false;
      }
      f->side[v] = true;
    }
  }
  return ok;
}

/* The residual blocks' joins, in graph order (the caller frees). */
static int find_blocks(Finder *f, int **joins) {
  const IrGraph *g = f->g;
  int *out = xmalloc(sizeof(int) * (size_t)(g->len + 1)), n = 0;
  for (int y = 0; y < g->len; y++) {
    const IrNode *nd = &g->nodes[y];
    if (nd->op != IR_ADD || nd->role != ROLE_FORWARD) continue;
    int a = MIN(nd->in[0], nd->in[1]), r = MAX(nd->in[0], nd->in[1]);
    const Type *ta = &g->nodes[a].type, *tr = &g->nodes[r].type;
    if (a == r || !type_eq(ta, &nd->type) || !type_eq(tr, &nd->type) || !f->data[a]) continue;
    if (!is_block(f, y, a, r)) continue;
    out[n++] = y;
    for (int j = a + 1; j <= r; j++) f->inside[j] |= f->anc[j] && f->dep[j];
  }
  /* a block inside another's branch belongs to it */
  int kept = 0;
  for (int i = 0; i < n; i++)
    if (!f->inside[out[i]]) out[kept++] = out[i];
  *joins = out;
  return kept;
}

static const char *node_desc(const IrNode *n, char *buf, size_t cap) {
  if (n->name) snprintf(buf, cap, "'%s'", n->name);
  else snprintf(buf, cap, "a %s", ir_ops[n->op].name);
  return buf;
}

static void no_blocks(const Finder *f, const SpeedupItem *it) {
  diag_error(it->loc, "drop %s: model '%s' has no residual block to drop; a residual block is y = x + f(x) whose "
                      "branch f is computed from x and parameters only and used only there, as in "
                      "nn.transformer_block (x + causal_self_attention(layernorm(x), ...))", it->rule->rule,
             f->p->model_name);
  if (f->why == WHY_NONE) return;
  const IrNode *n = &f->g->nodes[f->why_node];
  char d[128];
  node_desc(n, d, sizeof d);
  Loc at = f->g->nodes[f->why_join].loc;
  if (f->why == WHY_READS)
    diag_note(at, "this '+' is not a residual block: its branch also reads %s, computed from the data outside it", d);
  else
    diag_note(at, "this '+' is not a residual block: its branch's value %s is also used outside it", d);
}

/* ---- gating ----------------------------------------------------------------------- */

static bool check_arguments(const SpeedupItem *it) {
  SpArgId id = it->rule->id == RULE_DROP_PROGRESSIVE ? ARG_DROP_THETA : ARG_DROP_FINAL;
  if (sp_num(it, id) > 0) return true;
  const SpArg *a = sp_arg(it, id);
  diag_error(a->given ? a->loc : it->loc, "drop %s: %s must be above 0 (a block kept with probability 0 would "
                                          "never train)", it->rule->rule, sp_arg_spec(id)->name);
  return false;
}

/* p_l and drop_gate(p_l) for block l, right after its input */
static int emit_keep(IrProgram *p, IrRewrite *rw, const IrNode *y, const SpeedupItem *it, int l, int L) {
  rw->b = (IrBuilder){&rw->dst, y->loc, y->layer, ROLE_FORWARD, y->scope};
  SExpr *e = keep_expr(p->arena, it, l, L);
  int prob;
  if (e->kind == SX_CONST) {
    prob = irb_const(&rw->b, e->value);
  } else {
    int t = irb_scalar(&rw->b, SC_T);
    IrNode s = {.op = IR_SCHED, .nin = 1, .in = {t}, .type = {DT_F32, SHAPE_SCALAR}, .loc = y->loc,
                .layer = y->layer, .role = ROLE_FORWARD, .sx = e, .scope = y->scope};
    prob = ir_add(&rw->dst, s);
  }
  int64_t ia[IR_MAX_IA] = {l};
  return irb_node(&rw->b, IR_DROP_GATE, 1, &prob, ia, NULL, NULL);
}

int drop_gate_step(IrProgram *p, IrGraph *g, int loss, const SpeedupItem *it) {
  if (!check_arguments(it)) return -1;
  Finder f;
  finder_init(&f, p, g);
  int *joins;
  int L = find_blocks(&f, &joins);
  if (L == 0) no_blocks(&f, it);
  finder_free(&f);
  if (L == 0 || inactive(it)) {
    free(joins);
    return L == 0 ? -1 : loss;
  }
  int *keep = xmalloc(sizeof(int) * (size_t)L);
  IrRewrite rw;
  rw_begin(&rw, g);
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    int b = -1;
    for (int k = 0; k < L; k++) b = joins[k] == i ? k : b;
    if (b >= 0) { /* y = gated_add(x, f(x), c) */
      int a = MIN(n->in[0], n->in[1]), r = MAX(n->in[0], n->in[1]);
      rw.b = (IrBuilder){&rw.dst, n->loc, n->layer, n->role, n->scope};
      int gy = irb_node(&rw.b, IR_GATED_ADD, 3, (int[]){rw.map[a], rw.map[r], keep[b]}, NULL, NULL, NULL);
      rw.dst.nodes[gy].name = n->name;
      rw_map(&rw, i, gy);
    } else {
      rw_copy(&rw, i);
    }
    for (int k = 0; k < L; k++)
      if (MIN(g->nodes[joins[k]].in[0], g->nodes[joins[k]].in[1]) == i)
        keep[k] = emit_keep(p, &rw, &g->nodes[joins[k]], it, k + 1, L);
  }
  int new_loss = rw.map[loss];
  rw_end(&rw, g);
  free(keep);
  free(joins);
  return new_loss;
}
