/* rewrite.c — graph rebuilding with operand renumbering. */
#include "rewrite.h"

#include <stdlib.h>

void rw_begin(IrRewrite *rw, const IrGraph *src) {
  rw->src = src;
  rw->dst = (IrGraph){0};
  rw->map = xmalloc(sizeof(int) * (size_t)(src->len + 1));
  for (int i = 0; i < src->len; i++) rw->map[i] = -1;
  rw->b = (IrBuilder){&rw->dst, NO_LOC, -1, ROLE_FORWARD, NULL};
}

int rw_copy(IrRewrite *rw, int i) {
  IrNode n = rw->src->nodes[i];
  for (int k = 0; k < n.nin; k++) {
    n.in[k] = rw->map[n.in[k]];
    ASTC_ASSERT(n.in[k] >= 0);
  }
  rw->map[i] = ir_add(&rw->dst, n);
  return rw->map[i];
}

void rw_map(IrRewrite *rw, int i, int dst) { rw->map[i] = dst; }

void rw_end(IrRewrite *rw, IrGraph *g) {
  ASTC_ASSERT(g == rw->src);
  ir_graph_free(g);
  *g = rw->dst;
  free(rw->map);
  rw->map = NULL;
}
