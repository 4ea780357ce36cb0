/* layers.c — facts about a program's layers that several passes need. */
#include "pass.h"

int pass_param_layers(const IrProgram *p, int *out) {
  int n = 0;
  const IrGraph *g = &p->phases.data[0].step;
  for (int i = 0; i < g->len; i++) {
    const IrNode *nd = &g->nodes[i];
    if (nd->op != IR_PARAM || p->vars.data[nd->ia[0]].kind != VAR_PARAM) continue;
    int l = p->vars.data[nd->ia[0]].layer;
    if (l < 0) continue;
    bool seen = false;
    for (int k = 0; k < n; k++) seen |= out[k] == l;
    if (!seen) out[n++] = l;
  }
  return n;
}
