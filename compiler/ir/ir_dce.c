/* ir_dce.c — dead-code elimination. A node lives if it has an effect (output,
 * state assignment, parameter update) or a live node uses it. After freezing,
 * this is what removes the weight gradients of frozen layers, the
 * input-gradient chain below the lowest trainable layer, and the reads of
 * optimizer state that only deleted updates needed. */
#include <stdlib.h>

#include "rewrite.h"

int ir_dce(IrGraph *g) {
  bool *live = xcalloc((size_t)g->len + 1, sizeof(bool));
  /* a node guarded by a dropped block's gate (drop.c) keeps the gate: it
   * runs only where the gate says so, though it does not read its value
   * (a block whose output is unused keeps its batch-norm statistics'
   * updates, and their gate) */
  int *gate;
  int blocks = ir_guard_flags(g, &gate);
  for (int i = g->len - 1; i >= 0; i--) {
    const IrNode *n = &g->nodes[i];
    if (ir_ops[n->op].cls == EFFECT) live[i] = true;
    if (!live[i]) continue;
    for (int k = 0; k < n->nin; k++) live[n->in[k]] = true;
    if (n->guard > 0 && n->guard <= blocks && gate[n->guard] >= 0 && gate[n->guard] < i) live[gate[n->guard]] = true;
  }
  free(gate);
  IrRewrite rw;
  rw_begin(&rw, g);
  int removed = 0;
  for (int i = 0; i < g->len; i++) {
    if (live[i]) rw_copy(&rw, i);
    else removed++;
  }
  rw_end(&rw, g);
  free(live);
  return removed;
}
