/* sync.c — data parallelism: every gradient a step's update reads is first
 * summed over the ranks (IR_ALLREDUCE), weighted by each rank's share of the
 * global batch, so every rank applies the same update as one process on the
 * whole batch would. In one process the allreduce does nothing.
 *
 * The allreduces sit together right before the first update node (after the
 * accumulators of a micro-batched step), so the code generator issues one
 * runtime call over all of them. The pass runs before precision, whose fp16
 * overflow check then sees the summed gradients: every rank skips or applies
 * the same steps. A gradient of a frozen parameter has no update to feed and
 * disappears with it (dce).
 */
#include <stdlib.h>

#include "pass.h"
#include "rewrite.h"

static bool is_gradient(const IrNode *n) {
  return ir_ops[n->op].cls != LEAF && (n->role == ROLE_BACKWARD || n->op == IR_ACCUMULATE);
}

static void sync_step(IrGraph *g) {
  int boundary = -1;
  for (int i = 0; i < g->len && boundary < 0; i++)
    if (g->nodes[i].role == ROLE_UPDATE && g->nodes[i].op != IR_ACCUMULATE) boundary = i;
  if (boundary < 0) return;  /* nothing is updated */
  IrRewrite rw;
  rw_begin(&rw, g);
  bool *synced = calloc((size_t)g->len + 1, sizeof(bool));
  for (int i = 0; i < g->len; i++) {
    if (i == boundary) {
      for (int j = i; j < g->len; j++) {
        const IrNode *u = &g->nodes[j];
        for (int k = 0; k < u->nin; k++) {
          int o = u->in[k];
          const IrNode *on = &g->nodes[o];
          if (o >= boundary || synced[o] || !is_gradient(on) || on->type.dtype != DT_F32) continue;
          synced[o] = true;
          rw.b = (IrBuilder){&rw.dst, on->loc, on->layer, ROLE_BACKWARD, NULL};
          rw_map(&rw, o, irb_un(&rw.b, IR_ALLREDUCE, rw.map[o]));
        }
      }
    }
    rw_copy(&rw, i);
  }
  rw_end(&rw, g);
  free(synced);
}

bool pass_sync(PassContext *c) {
  for (int k = 0; k < c->p->phases.len; k++) sync_step(&c->p->phases.data[k].step);
  return true;
}
