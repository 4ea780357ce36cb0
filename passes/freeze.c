/* freeze.c — layer freezing as a program rewrite.
 *
 * In a phase where a layer is frozen, its parameters' update ops (and with
 * them their weight-decay ops and optimizer-state reads) are deleted; zeroing
 * the learning rate would not be equivalent, since momentum and decoupled
 * weight decay would still move the weights. Dead-code elimination (dce.c)
 * then removes the weight gradients of frozen layers and, below the lowest
 * trainable layer, the whole input-gradient chain and the activations only
 * it kept alive.
 *
 * With freezeout: true (Brock et al. 2017, FreezeOut), a layer that will be
 * frozen at t_l trains with its learning rate multiplied by
 * 0.5 (1 + cos(pi min(t / t_l, 1))), reaching zero as it freezes; with
 * freezeout_scale: true also by 1/t_l (the paper's scaled variant: the area
 * under the layer's annealed rate, t_l / 2 times its start, is then a full
 * run's 1/2).
 */
#include <math.h>
#include <string.h>

#include "pass.h"
#include "rewrite.h"

static bool is_update(IrOp op) { return op == IR_SGD_UPDATE || op == IR_ADAMW_UPDATE; }

/* the freeze time of each layer: the start of the first phase it is frozen in */
static void layer_freeze_times(const IrProgram *p, double *t) {
  for (int l = 0; l < p->layers.len; l++) t[l] = 2;
  for (int i = p->phases.len - 1; i >= 0; i--) {
    const IrPhase *ph = &p->phases.data[i];
    for (int v = 0; v < ph->nfrozen_vars; v++)
      if (ph->frozen[v] && p->vars.data[v].layer >= 0) t[p->vars.data[v].layer] = ph->t_begin;
  }
}

/* statistics: frozen. A phase where layers that read `training` (batch
 * norm) are frozen takes the step the front end elaborated with them in
 * evaluation mode (IrProgram.variant_steps): they normalise with their
 * running statistics and no longer update them, so their forward is a
 * per-example function (a reusable prefix). Phases of seqlen or resize keep
 * their size's step (no such variants exist there). */
static void use_eval_steps(IrProgram *p, const double *freeze_t) {
  bool *eval = xcalloc((size_t)p->layers.len + 1, sizeof(bool));
  for (int i = 0; i < p->phases.len; i++) {
    IrPhase *ph = &p->phases.data[i];
    bool any = false;
    for (int l = 0; l < p->layers.len; l++)
      any |= eval[l] = p->layers.data[l].reads_training && freeze_t[l] <= ph->t_begin;
    const IrVariantStep *v = any ? ir_variant_step_eval(p, eval) : NULL;
    if (!v) continue;
    ir_graph_free(&ph->step);
    ph->step = ir_graph_clone(&v->step);
  }
  free(eval);
}

/* 0.5 (1 + cos(pi min(t / tl, 1))), times 1 / tl when scaled */
static SExpr *anneal(Arena *a, double tl, bool scaled) {
  SExpr *u = sx_bin(a, SX_MIN, sx_bin(a, SX_DIV, sx_var(a, SX_T), sx_const(a, tl)), sx_const(a, 1));
  SExpr *c = sx_un(a, SX_COS, sx_bin(a, SX_MUL, sx_const(a, M_PI), u));
  return sx_bin(a, SX_MUL, sx_const(a, scaled ? 0.5 / tl : 0.5), sx_bin(a, SX_ADD, sx_const(a, 1), c));
}

static void rewrite_phase(IrProgram *p, IrPhase *ph, const double *freeze_t, bool freezeout, bool scaled) {
  const IrGraph *g = &ph->step;
  IrRewrite rw;
  rw_begin(&rw, g);
  int *layer_lr = xmalloc(sizeof(int) * (size_t)(p->layers.len + 1));
  for (int l = 0; l < p->layers.len; l++) layer_lr[l] = -1;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (is_update(n->op) && ir_phase_frozen(ph, (int)n->ia[0])) continue;  /* deleted */
    int k = rw_copy(&rw, i);
    if (!(freezeout && n->op == IR_SCALAR && n->ia[0] == SC_LR)) continue;
    /* right after the learning rate: one annealed rate per layer that will freeze */
    rw.b.role = ROLE_UPDATE;
    rw.b.loc = n->loc;
    for (int l = 0; l < p->layers.len; l++) {
      if (freeze_t[l] >= 1 || freeze_t[l] <= ph->t_begin) continue;
      rw.b.layer = l;
      int t = irb_scalar(&rw.b, SC_T);
      IrNode s = {.op = IR_SCHED, .nin = 1, .in = {t}, .type = {DT_F32, SHAPE_SCALAR}, .loc = n->loc,
                  .layer = l, .role = ROLE_UPDATE, .sx = anneal(p->arena, freeze_t[l], scaled)};
      int m = ir_add(&rw.dst, s);
      layer_lr[l] = irb_bin(&rw.b, IR_MUL, k, m);
    }
  }
  rw_end(&rw, &ph->step);
  /* point each annealed layer's updates at its own rate */
  for (int i = 0; i < ph->step.len; i++) {
    IrNode *n = &ph->step.nodes[i];
    if (!is_update(n->op)) continue;
    int l = p->vars.data[n->ia[0]].layer;
    if (l >= 0 && layer_lr[l] >= 0) n->in[n->op == IR_SGD_UPDATE ? 2 : 4] = layer_lr[l];
  }
  free(layer_lr);
}

bool pass_freeze(PassContext *c) {
  const SpeedupItem *it = sp_item(c->spec, TECH_FREEZE);
  if (!it) return true;
  IrProgram *p = c->p;
  bool freezeout = sp_bool(it, ARG_FREEZE_FREEZEOUT), scaled = sp_bool(it, ARG_FREEZE_FREEZEOUT_SCALE);
  if (scaled && !freezeout) {
    diag_error(sp_arg(it, ARG_FREEZE_FREEZEOUT_SCALE)->loc,
               "freezeout_scale: true needs freezeout: true (it scales FreezeOut's annealed rates)");
    return false;
  }
  double *t = xmalloc(sizeof(double) * (size_t)(p->layers.len + 1));
  layer_freeze_times(p, t);
  if (sp_choice_is(it, ARG_FREEZE_STATISTICS, "frozen")) use_eval_steps(p, t);
  for (int i = 0; i < p->phases.len; i++) rewrite_phase(p, &p->phases.data[i], t, freezeout, scaled);
  free(t);
  return true;
}
