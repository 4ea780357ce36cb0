/* average.c — weight averaging as a program rewrite.
 *
 * `average ema(decay, start)` and `average swa(start)` keep a running
 * average of every trainable parameter w in a variable of its own, w.ema or
 * w.swa (kind average, owner w): checkpoints carry it like any variable, so
 * a resumed run continues it bit for bit. The phases pass splits training at
 * `start`; a step before it is the baseline's. In a step from `start` on:
 *
 *   - counters (variables, so a skipped step and a resume count right):
 *     s = steps averaged over (from start), n = averages taken, and with
 *     copy-back c = copies made. With s' = s + 1, an average is taken when
 *     s' reaches (n + 1) every (so n = floor(s / every)), and a copy made
 *     when s' reaches (c + 1) copy_back;
 *   - the rate a of this step: 0 when no average is taken; else 1 for the
 *     first (the average starts as a copy of the parameters), then
 *       ema: 1 - decay, or with warmup 1 - min(decay, (1 + n) / (10 + n));
 *       swa: 1 / (n + 1), the equal-weight mean of the n + 1 models;
 *   - every update op also updates its parameter's average, in the same loop
 *     once w is updated: avg := (1 - a) avg + a w; with copy-back, on a copy
 *     step, then w := avg (Lookahead's reset of the fast weights). A
 *     parameter that no update writes in a phase (a frozen one) gets an
 *     `average` op of its own (and no copy-back: frozen stays frozen);
 *   - average_count stores s', n + taken (and c + copied) at the end.
 * The guard pass guards all of them like the updates: a skipped step
 * averages and counts nothing.
 *
 * With statistics: average (the default), every state variable a step
 * assigns (batch norm's running mean and variance) has a running average
 * too, s.ema, taken at the same rate from the value the step assigns (an
 * `average` op after the updates whose operand is that value; in a phase
 * that does not assign it, from the variable), so that the averaged weights
 * are evaluated with statistics averaged alike (timm's ModelEma,
 * torch.optim.swa_utils.AveragedModel(use_buffers=True)).
 *
 * eval: true rewrites the evaluation and prediction graphs to read, for each
 * variable with an average, where(n > 0, avg, w): the average once one has
 * been taken, the variable before. save: true has the driver write each
 * average under its variable's name (IrProgram.average, the descriptor's
 * save_average). Sources: docs/passes.md.
 */
#include <math.h>
#include <string.h>

#include "pass.h"

typedef struct Avg {
  IrProgram *p;
  const SpeedupItem *it;
  bool ema;
  bool statistics;      /* statistics: average (state variables have running averages too) */
  const char *suffix;   /* "ema" or "swa": w.ema, ema.count */
  int *shadow;          /* per variable: its running average, or -1 */
  int steps, count, copies;  /* the counters (copies: -1 without copy-back) */
} Avg;

double sp_average_start(const SpeedupItem *it) {
  return sp_num(it, it->rule->id == RULE_AVERAGE_EMA ? ARG_AVERAGE_START : ARG_AVERAGE_SWA_START);
}

static Loc arg_loc(const SpeedupItem *it, SpArgId a) {
  const SpArg *arg = sp_arg(it, a);
  return arg->given ? arg->loc : it->loc;
}

static bool is_update(IrOp op) { return op == IR_SGD_UPDATE || op == IR_ADAMW_UPDATE; }

/* whether variable v is updated in some phase (trained at some point) */
static bool trained(const IrProgram *p, int v) {
  for (int k = 0; k < p->phases.len; k++) {
    const IrGraph *g = &p->phases.data[k].step;
    for (int i = 0; i < g->len; i++)
      if (is_update(g->nodes[i].op) && g->nodes[i].ia[0] == v) return true;
  }
  return false;
}

/* whether state variable v is assigned in some phase (a running statistic) */
static bool assigned(const IrProgram *p, int v) {
  for (int k = 0; k < p->phases.len; k++)
    if (ir_graph_assigns(&p->phases.data[k].step, v)) return true;
  return false;
}

/* ---- checks ------------------------------------------------------------------------------ */

static bool check(const Avg *a) {
  const SpeedupItem *it = a->it;
  const char *rule = it->rule->rule;
  double start = sp_average_start(it);
  if (start >= 1) {
    diag_error(arg_loc(it, a->ema ? ARG_AVERAGE_START : ARG_AVERAGE_SWA_START),
               "average %s: start must be below 1 (it is %s): no average would ever be taken", rule, num_str(start));
    return false;
  }
  if (a->ema) {
    double d = sp_num(it, ARG_AVERAGE_DECAY);
    if (d <= 0 || d >= 1) {
      diag_error(arg_loc(it, ARG_AVERAGE_DECAY),
                 "average ema: decay must be in (0, 1), not %s (%s)", num_str(d),
                 d >= 1 ? "with decay 1 the average would stay the parameters' value at start"
                        : "with decay 0 the average would be the parameters themselves");
      return false;
    }
  }
  int64_t every = (int64_t)sp_num(it, ARG_AVERAGE_EVERY), back = (int64_t)sp_num(it, ARG_AVERAGE_COPY_BACK);
  if (back > 0 && back % every != 0) {
    diag_error(arg_loc(it, ARG_AVERAGE_COPY_BACK),
               "average %s: copy_back (%lld) must be a multiple of every (%lld): a copy-back sets the parameters "
               "to the average taken in the same step", rule, (long long)back, (long long)every);
    return false;
  }
  bool any = false;
  for (int v = 0; v < a->p->vars.len && !any; v++) any = a->p->vars.data[v].kind == VAR_PARAM && trained(a->p, v);
  if (!any) {
    diag_error(it->loc, "average %s: model '%s' has no trainable parameters, so there is nothing to average", rule,
               a->p->model_name);
    return false;
  }
  if (sp_bool(it, ARG_AVERAGE_EVAL) && !a->statistics)
    for (int v = 0; v < a->p->vars.len; v++)
      if (a->p->vars.data[v].kind == VAR_STATE) {
        diag_warning(arg_loc(it, ARG_AVERAGE_EVAL),
                     "average %s: evaluation uses the averaged weights with the running statistics '%s' that the "
                     "trained weights collected; they are not recomputed for the average", rule,
                     a->p->vars.data[v].name);
        diag_note(a->p->vars.data[v].loc, "to average the statistics with the weights, leave out statistics: live; to "
                                          "evaluate the live weights with their statistics, use eval: false");
        break;
      }
  return true;
}

/* ---- variables --------------------------------------------------------------------------- */

static int add_var(Avg *a, const char *name, Shape shape, int layer, int owner, Loc loc) {
  IrVar v = {name, VAR_AVERAGE, shape, DT_F32, {INIT_ZEROS, 0, 0, 0, 0}, layer, owner, loc};
  return ir_program_add_var(a->p, v);
}

/* a running average per trained parameter, in the parameters' order (so the
 * averages lie like the parameters and grouped update loops keep working),
 * then (statistics: average) per assigned state variable, then the counters */
static void add_vars(Avg *a) {
  IrProgram *p = a->p;
  int nvars = p->vars.len;
  for (int v = 0; v < nvars; v++) a->shadow[v] = -1;
  for (int pass = 0; pass < 2; pass++)
    for (int v = 0; v < nvars; v++) {
      IrVar w = p->vars.data[v];  /* a copy: adding variables may move them */
      bool averaged = pass == 0 ? w.kind == VAR_PARAM && trained(p, v)
                                : a->statistics && w.kind == VAR_STATE && w.dtype == DT_F32 && assigned(p, v);
      if (!averaged) continue;
      a->shadow[v] = add_var(a, arena_printf(p->arena, "%s.%s", w.name, a->suffix), w.shape, w.layer, v, w.loc);
    }
  a->steps = add_var(a, arena_printf(p->arena, "%s.steps", a->suffix), SHAPE_SCALAR, -1, -1, a->it->loc);
  a->count = add_var(a, arena_printf(p->arena, "%s.count", a->suffix), SHAPE_SCALAR, -1, -1, a->it->loc);
  a->copies = sp_num(a->it, ARG_AVERAGE_COPY_BACK) > 0
                  ? add_var(a, arena_printf(p->arena, "%s.copies", a->suffix), SHAPE_SCALAR, -1, -1, a->it->loc)
                  : -1;
  a->shadow = xrealloc(a->shadow, sizeof(int) * (size_t)(p->vars.len + 1));
  for (int v = nvars; v < p->vars.len; v++) a->shadow[v] = -1;  /* the averages have none */
}

static int read_var(IrBuilder *b, const IrProgram *p, int var) {
  Type t = {p->vars.data[var].dtype, p->vars.data[var].shape};
  int64_t ia[IR_MAX_IA] = {var};
  int n = irb_node(b, IR_PARAM, 0, NULL, ia, NULL, &t);
  b->g->nodes[n].name = p->vars.data[var].name;
  return n;
}

/* ---- the step ---------------------------------------------------------------------------- */

/* This step's rate, copy-back flag and new counter values (dst nodes). */
typedef struct StepCounts {
  int rate, copy;         /* copy: -1 without copy-back */
  int counters[3], vars[3], n;
} StepCounts;

/* the rate of an average taken after n: 1 for the first, then the rule's */
static int taken_rate(IrBuilder *b, const Avg *a, int n, int one, int n1) {
  if (!a->ema) return irb_bin(b, IR_DIV, one, n1);
  int decay = irb_const(b, sp_num(a->it, ARG_AVERAGE_DECAY));
  if (sp_bool(a->it, ARG_AVERAGE_WARMUP))
    decay = irb_bin(b, IR_MINIMUM, decay, irb_bin(b, IR_DIV, n1, irb_bin(b, IR_ADD, n, irb_const(b, 10))));
  int first = irb_bin(b, IR_GE, irb_const(b, 0), n);
  int in[3] = {first, one, irb_bin(b, IR_SUB, one, decay)};
  return irb_node(b, IR_WHERE, 3, in, NULL, NULL, NULL);
}

static StepCounts step_counts(IrBuilder *b, const Avg *a) {
  StepCounts sc = {-1, -1, {0}, {0}, 0};
  int64_t every = (int64_t)sp_num(a->it, ARG_AVERAGE_EVERY), back = (int64_t)sp_num(a->it, ARG_AVERAGE_COPY_BACK);
  int one = irb_const(b, 1);
  int s = read_var(b, a->p, a->steps), n = read_var(b, a->p, a->count);
  int s1 = irb_bin(b, IR_ADD, s, one), n1 = irb_bin(b, IR_ADD, n, one);
  int taken = one;
  if (every > 1) taken = irb_bin(b, IR_GE, s1, irb_bin(b, IR_MUL, n1, irb_const(b, (double)every)));
  sc.rate = taken_rate(b, a, n, one, n1);
  if (every > 1) sc.rate = irb_bin(b, IR_MUL, taken, sc.rate);
  sc.vars[sc.n] = a->steps, sc.counters[sc.n++] = s1;
  sc.vars[sc.n] = a->count, sc.counters[sc.n++] = every > 1 ? irb_bin(b, IR_ADD, n, taken) : n1;
  if (back > 0) {
    int c = read_var(b, a->p, a->copies);
    sc.copy = irb_bin(b, IR_GE, s1, irb_bin(b, IR_MUL, irb_bin(b, IR_ADD, c, one), irb_const(b, (double)back)));
    sc.vars[sc.n] = a->copies, sc.counters[sc.n++] = irb_bin(b, IR_ADD, c, sc.copy);
  }
  return sc;
}

/* the update at dst node u also updates the average of its parameter */
static void fuse_average(IrRewrite *rw, int u, int avg_read, int avg_var, const StepCounts *sc) {
  IrNode *n = &rw->dst.nodes[u];
  ASTC_ASSERT(!n->ia[IR_UPDATE_GUARDED] && !n->ia[IR_UPDATE_AVERAGE] && n->nin == ir_update_nbase(n));
  n->in[n->nin++] = avg_read;
  n->in[n->nin++] = sc->rate;
  if (sc->copy >= 0) n->in[n->nin++] = sc->copy;
  n->ia[IR_UPDATE_AVERAGE] = sc->copy >= 0 ? 2 : 1;
  n->ia[IR_UPDATE_SHADOW] = avg_var;
}

static void rewrite_step(const Avg *a, IrGraph *g) {
  const IrProgram *p = a->p;
  bool *updated = xcalloc((size_t)p->vars.len + 1, sizeof(bool));
  int *assigned_value = xmalloc(sizeof(int) * ((size_t)p->vars.len + 1));  /* per state: the dst value assigned */
  for (int v = 0; v < p->vars.len; v++) assigned_value[v] = -1;
  int first = -1;  /* where the update starts (after a micro-batched step's accumulators) */
  for (int i = 0; i < g->len; i++) {
    if (is_update(g->nodes[i].op)) updated[g->nodes[i].ia[0]] = true;
    if (first < 0 && g->nodes[i].role == ROLE_UPDATE && g->nodes[i].op != IR_ACCUMULATE) first = i;
  }
  ASTC_ASSERT(first >= 0);  /* the last layer always trains */
  IrRewrite rw;
  rw_begin(&rw, g);
  StepCounts sc = {0};
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (i == first) {
      rw.b = (IrBuilder){&rw.dst, a->it->loc, -1, ROLE_UPDATE, NULL};
      sc = step_counts(&rw.b, a);
    }
    if (n->op == IR_ASSIGN) {
      int k = rw_copy(&rw, i);
      assigned_value[n->ia[0]] = rw.dst.nodes[k].in[0];
      continue;
    }
    int v = is_update(n->op) ? (int)n->ia[0] : -1;
    if (v < 0 || a->shadow[v] < 0) {
      rw_copy(&rw, i);
      continue;
    }
    rw.b = (IrBuilder){&rw.dst, n->loc, n->layer, ROLE_UPDATE, NULL};
    int avg = read_var(&rw.b, p, a->shadow[v]);
    fuse_average(&rw, rw_copy(&rw, i), avg, a->shadow[v], &sc);
  }
  /* the averages of parameters no update writes here (frozen) and of state
   * variables (the value this step assigns, else the variable), then the
   * counters */
  for (int v = 0; v < p->vars.len; v++) {
    if (a->shadow[v] < 0 || updated[v]) continue;
    rw.b = (IrBuilder){&rw.dst, p->vars.data[v].loc, p->vars.data[v].layer, ROLE_UPDATE, NULL};
    int value = assigned_value[v] >= 0 ? assigned_value[v] : read_var(&rw.b, p, v);
    int in[3] = {value, read_var(&rw.b, p, a->shadow[v]), sc.rate};
    int64_t ia[IR_MAX_IA] = {a->shadow[v], v};
    irb_node(&rw.b, IR_AVERAGE, 3, in, ia, NULL, NULL);
  }
  rw.b = (IrBuilder){&rw.dst, a->it->loc, -1, ROLE_UPDATE, NULL};
  int64_t ia[IR_MAX_IA] = {0};
  for (int k = 0; k < sc.n; k++) ia[k] = sc.vars[k];
  irb_node(&rw.b, IR_AVERAGE_COUNT, sc.n, sc.counters, ia, NULL, NULL);
  rw_end(&rw, g);
  free(updated);
  free(assigned_value);
}

/* ---- evaluation and prediction ----------------------------------------------------------- */

/* every read of a variable with an average becomes where(n > 0, avg, w) */
static void rewrite_eval(const Avg *a, IrGraph *g) {
  IrRewrite rw;
  rw_begin(&rw, g);
  int has = -1;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    int k = rw_copy(&rw, i);
    if (n->op != IR_PARAM || a->shadow[n->ia[0]] < 0) continue;
    rw.b = (IrBuilder){&rw.dst, n->loc, n->layer, n->role, n->scope};
    if (has < 0) {
      rw.b.layer = -1;
      has = irb_bin(&rw.b, IR_GT, read_var(&rw.b, a->p, a->count), irb_const(&rw.b, 0));
      rw.b.layer = n->layer;
    }
    int in[3] = {has, read_var(&rw.b, a->p, a->shadow[n->ia[0]]), k};
    rw_map(&rw, i, irb_node(&rw.b, IR_WHERE, 3, in, NULL, NULL, NULL));
  }
  rw_end(&rw, g);
}

bool pass_average(PassContext *c) {
  const SpeedupItem *it = sp_item(c->spec, TECH_AVERAGE);
  if (!it) return true;
  IrProgram *p = c->p;
  bool ema = it->rule->id == RULE_AVERAGE_EMA;
  Avg a = {p, it, ema, sp_choice_is(it, ARG_AVERAGE_STATISTICS, "average"), ema ? "ema" : "swa", NULL, -1, -1, -1};
  if (!check(&a)) return false;
  a.shadow = xmalloc(sizeof(int) * (size_t)(p->vars.len + 1));
  add_vars(&a);
  for (int k = 0; k < p->phases.len; k++)
    if (p->phases.data[k].average) rewrite_step(&a, &p->phases.data[k].step);
  if (sp_bool(it, ARG_AVERAGE_EVAL)) {
    rewrite_eval(&a, &p->eval);
    rewrite_eval(&a, &p->predict);
  }
  p->average.count = a.count;
  p->average.save = sp_bool(it, ARG_AVERAGE_SAVE);
  free(a.shadow);
  return true;
}
