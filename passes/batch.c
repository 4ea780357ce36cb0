/* batch.c — batch-size scheduling as a program rewrite.
 *
 * Each phase's step is specialised to its batch size (the phases pass gave
 * it one; shapes keep the symbolic B, whose maximum the memory plan and the
 * driver take from the phase). This pass makes the two remaining rewrites:
 *   - learning-rate coupling: with lr_scale linear or sqrt, the phase's
 *     lr_scale is batch/base (or its square root); the driver passes the
 *     step lr * lr_scale as its `scalar lr`, so that phases differing only in
 *     batch size keep one step graph, and one compiled function
 *     (cg_step_rep);
 *   - micro-batches: when the batch exceeds `micro`, every gradient the
 *     updates read passes through an `accumulate` op; code generation runs
 *     everything before the accumulates once per micro-batch (at most micro
 *     rows) and the updates once, on sum_m (rows_m / rows) grad_m — the same
 *     mean gradient as one large batch (Caffe's iter_size, Darknet's
 *     subdivisions). Batch statistics (batch norm) are per micro-batch.
 */
#include <string.h>

#include "pass.h"
#include "rewrite.h"

static bool is_leaf(const IrNode *n) { return ir_ops[n->op].cls == LEAF; }

static void rewrite_phase(IrPhase *ph) {
  const IrGraph *g = &ph->step;
  IrRewrite rw;
  rw_begin(&rw, g);
  bool in_update = false;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (ph->micro > 0 && !in_update && n->role == ROLE_UPDATE) {
      /* the boundary: accumulate every per-micro-batch value the updates read */
      in_update = true;
      for (int j = i; j < g->len; j++) {
        const IrNode *u = &g->nodes[j];
        for (int k = 0; k < u->nin; k++) {
          int o = u->in[k];
          const IrNode *on = &g->nodes[o];
          if (o >= i || is_leaf(on) || rw.dst.nodes[rw.map[o]].op == IR_ACCUMULATE) continue;
          rw.b.role = ROLE_UPDATE;
          rw.b.loc = on->loc;
          rw.b.layer = on->layer;
          rw_map(&rw, o, irb_un(&rw.b, IR_ACCUMULATE, rw.map[o]));
        }
      }
    }
    rw_copy(&rw, i);
  }
  rw_end(&rw, &ph->step);
}

/* the first phase that runs in micro-batches and collects batch statistics
 * (assigns a state variable in its step: batch norm in training mode), or -1 */
static int micro_with_statistics(const IrProgram *p) {
  for (int k = 0; k < p->phases.len; k++) {
    const IrPhase *ph = &p->phases.data[k];
    if (ph->micro <= 0 || ph->micro >= ph->batch) continue;
    for (int i = 0; i < ph->step.len; i++)
      if (ph->step.nodes[i].op == IR_ASSIGN) return k;
  }
  return -1;
}

bool pass_batch(PassContext *c) {
  const SpeedupItem *it = sp_item(c->spec, TECH_BATCH);
  if (!it) return true;
  int k = micro_with_statistics(c->p);
  if (k >= 0) {
    const IrPhase *ph = &c->p->phases.data[k];
    const SpArg *a = sp_arg(it, ARG_BATCH_MICRO);
    diag_warning(a->given ? a->loc : it->loc,
                 "batch %s: phase %d's batch of %lld runs in micro-batches of at most %lld rows, and batch "
                 "statistics (batch norm's mean and variance) are computed over each micro-batch, not over the "
                 "batch; gradients are accumulated to the batch's mean", it->rule->rule, k + 1,
                 (long long)ph->batch, (long long)ph->micro);
  }
  for (int i = 0; i < c->p->phases.len; i++) rewrite_phase(&c->p->phases.data[i]);
  return true;
}
