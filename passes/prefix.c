/* prefix.c — reusing a frozen prefix's outputs across epochs.
 *
 * In a phase where the first layers are frozen, everything the step computes
 * from the input through those layers is the same every time an example comes
 * round — provided it is deterministic (no dropout, no random augmentation)
 * and computed example by example (no batch statistics). Then it can be
 * computed once per example when the phase starts, kept in a cache, and read
 * instead of recomputed: the phase's step loses the prefix's forward cost as
 * well as (after freezing) its backward cost. Only a compiler that sees the
 * whole program can prove those conditions.
 *
 * The pass finds the prefix: the nodes computable from the input batch x,
 * frozen parameters and constants through row-independent, deterministic ops
 * (elementwise, row-wise matmul, convolution and pooling per image, reshapes
 * that keep the batch first, reductions over other axes). Its "cut" is the one
 * prefix value the rest of the step reads. If the cut's cache (training
 * examples x its size x 4 bytes) fits in the freeze rule's reuse_limit, the
 * phase gets a prefix graph (x -> cut -> store_features) and its step reads
 * the cut as an input (`input features`) in x's place.
 */
#include <string.h>

#include "pass.h"
#include "rewrite.h"

/* whether node i, given that its operands are in the prefix, is too: a
 * forward, row-independent op (op_facts.c) over the input batch x, frozen
 * parameters and constants */
static bool row_independent(const IrPhase *ph, const IrGraph *g, int i) {
  const IrNode *n = &g->nodes[i];
  if (n->role != ROLE_FORWARD || n->guard || !ir_row_independent(g, i)) return false;  /* not a dropped block's */
  switch (n->op) {
  case IR_INPUT: return n->ia[0] == 0;
  case IR_PARAM: return ir_phase_frozen(ph, (int)n->ia[0]);
  default: return true;
  }
}

static void reuse_phase(PassContext *c, IrPhase *ph, double limit_bytes) {
  IrProgram *p = c->p;
  IrGraph *g = &ph->step;
  int n = g->len;
  bool *pre = xcalloc((size_t)n + 1, sizeof(bool)), *moved = xcalloc((size_t)n + 1, sizeof(bool));
  /* the cut: prefix values used outside the prefix; exactly one, with B.
   * Under precision lowering the step also reads 16-bit copies of it (a
   * cast, and a cast back): those casts move to the step, which makes them
   * from the cached f32 features, so the values are the same; then the
   * prefix is found again without them */
  int cut = -1, ncut = 0;
  bool has_work = false;
  for (bool again = true; again;) {
    again = false;
    for (int i = 0; i < n; i++) {
      const IrNode *nd = &g->nodes[i];
      bool ok = !moved[i] && row_independent(ph, g, i);
      for (int k = 0; ok && k < nd->nin; k++) ok = pre[nd->in[k]];
      pre[i] = ok;
    }
    cut = -1, ncut = 0, has_work = false;
    for (int i = 0; i < n; i++) {
      const IrNode *nd = &g->nodes[i];
      if (pre[i] && (nd->op == IR_MATMUL || nd->op == IR_CONV2D)) has_work = true;
      if (pre[i]) continue;
      for (int k = 0; k < nd->nin; k++) {
        int o = nd->in[k];
        if (!pre[o] || ir_ops[g->nodes[o].op].cls == LEAF) continue;
        for (int q = o; g->nodes[q].op == IR_CAST && pre[g->nodes[q].in[0]]; q = g->nodes[q].in[0])
          moved[q] = again = true;
        if (o != cut) ncut++;
        cut = o;
      }
    }
  }
  free(moved);
  const IrNode *cn = cut >= 0 ? &g->nodes[cut] : NULL;
  if (ncut != 1 || !has_work || cn->type.shape.d[0] != IR_DIM_B || cn->type.dtype != DT_F32) {
    free(pre);
    return;
  }
  int64_t fs = shape_numel(&cn->type.shape, 1);
  if (c->train_examples <= 0 || (double)c->train_examples * (double)fs * 4 > limit_bytes) {
    free(pre);
    return;
  }
  /* the prefix graph: x -> ... -> cut -> store_features */
  IrRewrite rw;
  rw_begin(&rw, g);
  for (int i = 0; i <= cut; i++)
    if (pre[i]) rw_copy(&rw, i);
  rw.b = (IrBuilder){&rw.dst, cn->loc, cn->layer, ROLE_FORWARD, NULL};
  irb_node(&rw.b, IR_STORE_FEATURES, 1, &rw.map[cut], NULL, NULL, NULL);
  IrGraph prefix = rw.dst;
  free(rw.map);
  ir_dce(&prefix);
  /* the step: the cut becomes an input */
  rw_begin(&rw, g);
  Type ft = cn->type;
  int64_t ia[IR_MAX_IA] = {2};
  for (int i = 0; i < n; i++) {
    if (i == cut) {
      rw.b = (IrBuilder){&rw.dst, cn->loc, cn->layer, ROLE_FORWARD, NULL};
      int f = irb_node(&rw.b, IR_INPUT, 0, NULL, ia, NULL, &ft);
      rw.dst.nodes[f].name = "features";
      rw_map(&rw, i, f);
    } else if (!pre[i] || g->nodes[i].op == IR_INPUT || g->nodes[i].op == IR_PARAM || g->nodes[i].op == IR_CONST) {
      rw_copy(&rw, i);
    }
  }
  rw_end(&rw, g);
  ir_dce(g);
  ph->prefix = prefix;
  ph->feature_size = fs;
  /* name the frozen layers it covers */
  StrBuf sb = {0};
  for (int l = 0; l < p->layers.len; l++) {
    bool in = false;
    for (int i = 0; i < prefix.len; i++) in |= prefix.nodes[i].layer == l;
    if (in) sb_printf(&sb, "%s%s", sb.len ? ", " : "", p->layers.data[l].name);
  }
  ph->prefix_layers = sb.len ? arena_strdup(p->arena, sb.data) : "";
  sb_free(&sb);
  free(pre);
}

bool pass_prefix(PassContext *c) {
  const SpeedupItem *it = sp_item(c->spec, TECH_FREEZE);
  if (!it || !sp_bool(it, ARG_FREEZE_REUSE)) return true;
  double limit = sp_num(it, ARG_FREEZE_REUSE_LIMIT) * 1e6;
  for (int i = 0; i < c->p->phases.len; i++) {
    IrPhase *ph = &c->p->phases.data[i];
    bool any_frozen = false;
    for (int v = 0; v < ph->nfrozen_vars; v++) any_frozen |= ph->frozen[v];
    /* a phase that selects rows by loss (select.c) scores the whole batch
     * from x and trains on rows the driver picks: no cached features */
    if (any_frozen && !ph->score.len) reuse_phase(c, ph, limit);
  }
  return true;
}
