/* guard.c — a training step whose loss is not finite changes no variable.
 *
 * Every parameter update of every phase's step (and weight averaging's
 * average and average_count ops) is guarded
 * (IR_UPDATE_GUARDED) by one flag, all_finite(loss): when a batch's loss is
 * NaN or infinite the step still computes everything, but all its updates
 * are skipped, so the parameters and the optimizer's slots stay
 * bit-identical. The driver can then name the step, run it again in
 * diagnose mode to find the first non-finite value (cg_module.c), and stop
 * or skip the step (--on-nan; docs/robustness.md). The check costs one
 * scalar per step.
 *
 * The flag sits at the start of the update (the first update-role node that
 * is not an accumulator). In a micro-batched step it reads the loss summed
 * over the micro-batches (an accumulate of its own). In a data-parallel step
 * (the sync pass's allreduces) each rank's "loss not finite" (0 or 1) is
 * summed over the ranks by one more allreduce next to the others, and the
 * flag is that sum <= 0, so that every rank skips the same steps. These
 * loss-chain nodes have the loss role. fp16 loss scaling
 * (precision.c, later) combines its all-finite check of the gradients with
 * this flag: an update happens only if both hold.
 *
 * Batch-norm running statistics are assigned in the forward pass, before the
 * loss is known; the driver restores them after a skipped step. A finite
 * loss with non-finite gradients still reaches the parameters; the next
 * step's loss shows it, and diagnosis names the parameter.
 */
#include "pass.h"
#include "rewrite.h"

/* the ops a guard flag can stop: optimizer updates and weight averaging's */
static bool is_update(IrOp op) { return ir_guarded_effect(op); }

static void guard_step(IrGraph *g) {
  int loss = -1, boundary = -1, first_sync = -1, last_sync = -1;
  bool micro = false, any_update = false;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->op == IR_OUTPUT && n->ia[0] == OUT_LOSS) loss = n->in[0];
    if (n->op == IR_ACCUMULATE) micro = true;
    if (boundary < 0 && n->role == ROLE_UPDATE && n->op != IR_ACCUMULATE) boundary = i;
    any_update |= is_update(n->op);
  }
  if (loss < 0 || boundary < 0 || !any_update || g->nodes[loss].type.shape.rank != 0) return;
  for (int i = 0; i < boundary; i++)
    if (g->nodes[i].op == IR_ALLREDUCE) {
      if (first_sync < 0) first_sync = i;
      last_sync = i;
    }
  /* the loss chain starts before the allreduces (which must stay adjacent),
   * or at the update when there are none */
  int start = first_sync >= 0 ? first_sync : boundary;
  IrRewrite rw;
  rw_begin(&rw, g);
  const IrNode *ln = &g->nodes[loss];
  int value = -1, flag = -1;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (i == start) {
      rw.b = (IrBuilder){&rw.dst, ln->loc, -1, ROLE_LOSS, NULL};
      value = micro ? irb_un(&rw.b, IR_ACCUMULATE, rw.map[loss]) : rw.map[loss];
      if (last_sync >= 0)  /* 1 where this rank's loss is not finite */
        value = irb_bin(&rw.b, IR_SUB, irb_const(&rw.b, 1), irb_un(&rw.b, IR_ALL_FINITE, value));
    }
    if (i == boundary) {
      rw.b = (IrBuilder){&rw.dst, ln->loc, -1, ROLE_UPDATE, NULL};
      flag = last_sync >= 0 ? irb_bin(&rw.b, IR_GE, irb_const(&rw.b, 0), value) : irb_un(&rw.b, IR_ALL_FINITE, value);
    }
    int c = rw_copy(&rw, i);
    if (i == last_sync) {
      /* data parallelism: summed over the ranks, weighted by their rows (a rank
       * without rows, whose mean loss is 0/0, counts for nothing), next to the
       * other allreduces: every rank then skips the same steps */
      rw.b = (IrBuilder){&rw.dst, ln->loc, -1, ROLE_LOSS, NULL};
      value = irb_un(&rw.b, IR_ALLREDUCE, value);
    }
    if (!is_update(n->op)) continue;
    IrNode *u = &rw.dst.nodes[c];
    ASTC_ASSERT(!u->ia[IR_UPDATE_GUARDED] && u->nin < IR_MAX_IN);
    u->in[u->nin++] = flag;
    u->ia[IR_UPDATE_GUARDED] = 1;
  }
  rw_end(&rw, g);
}

bool pass_guard(PassContext *c) {
  for (int i = 0; i < c->p->phases.len; i++) guard_step(&c->p->phases.data[i].step);
  return true;
}
