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
 * the cut as an input (`input features`) in x's place — where the phases
 * that share the cache read at least as many examples as it holds, so that
 * it pays back (cache_pays_back).
 */
#include <string.h>

#include "pass.h"
#include "rewrite.h"

/* whether node i, given that its operands are in the prefix, is too: a
 * forward, row-independent op (op_facts.c) over the input batch x, frozen
 * parameters, state no step of the phase changes, and constants */
static bool row_independent(const IrProgram *p, const IrPhase *ph, const IrGraph *g, int i) {
  const IrNode *n = &g->nodes[i];
  if (n->role != ROLE_FORWARD || n->guard || !ir_row_independent(g, i)) return false;  /* not a dropped block's */
  switch (n->op) {
  case IR_INPUT: return n->ia[0] == 0;
  case IR_PARAM:
    /* a state variable no node of the step assigns (a frozen batch norm's statistics) */
    if (p->vars.data[n->ia[0]].kind == VAR_STATE) return !ir_graph_assigns(g, n->ia[0]);
    return ir_phase_frozen(ph, (int)n->ia[0]);
  default: return true;
  }
}

static void reuse_phase(PassContext *c, IrPhase *ph, double limit_bytes) {
  IrProgram *p = c->p;
  IrGraph *g = &ph->step;
  int n = g->len;
  bool *pre = xcalloc((size_t)n + 1, sizeof(bool)), *moved = xcalloc((size_t)n + 1, sizeof(bool));
  /* free: computed from frozen parameters, unchanged state and constants
   * alone (a frozen batch norm's rsqrt(running_var + eps)): not per example,
   * so not a cut; the prefix and the step each compute what they use */
  bool *free_ = xcalloc((size_t)n + 1, sizeof(bool));
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
      bool ok = !moved[i] && row_independent(p, ph, g, i), batch = nd->op == IR_INPUT;
      for (int k = 0; ok && k < nd->nin; k++) {
        ok = pre[nd->in[k]] || free_[nd->in[k]];
        batch |= pre[nd->in[k]];
      }
      pre[i] = ok && batch;
      free_[i] = ok && !batch;
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
    free(free_);
    return;
  }
  int64_t fs = shape_numel(&cn->type.shape, 1);
  if (c->train_examples <= 0 || (double)c->train_examples * (double)fs * 4 > limit_bytes) {
    free(pre);
    free(free_);
    return;
  }
  /* the prefix graph: x -> ... -> cut -> store_features */
  IrRewrite rw;
  rw_begin(&rw, g);
  for (int i = 0; i <= cut; i++)
    if (pre[i] || free_[i]) rw_copy(&rw, i);
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
  free(free_);
}

/* Whether the run of phases [first, last] that shares one cache reads at
 * least as many examples as the cache holds: building it costs the prefix's
 * forward over every training example, and each example read from it saves
 * one, so it pays back only then (at the program's own budget; a freeze
 * phase of a 24th of a 4-epoch run reads a sixth of the examples) */
static bool cache_pays_back(const PassContext *c, int first, int last) {
  const IrProgram *p = c->p;
  double total = p->epochs > 0 ? (double)p->epochs * (double)c->train_examples : (double)p->steps * (double)p->batch;
  double t = 0;
  for (int k = first; k <= last; k++) t += p->phases.data[k].t_end - p->phases.data[k].t_begin;
  return t * total >= (double)c->train_examples * (1 - 1e-9);  /* progress sums round */
}

bool pass_prefix(PassContext *c) {
  const SpeedupItem *it = sp_item(c->spec, TECH_FREEZE);
  if (!it || !sp_bool(it, ARG_FREEZE_REUSE)) return true;
  double limit = sp_num(it, ARG_FREEZE_REUSE_LIMIT) * 1e6;
  int n = c->p->phases.len;
  IrGraph *before = xcalloc((size_t)n + 1, sizeof(IrGraph));  /* each phase's step before a prefix was cut off */
  for (int i = 0; i < n; i++) {
    IrPhase *ph = &c->p->phases.data[i];
    bool any_frozen = false;
    for (int v = 0; v < ph->nfrozen_vars; v++) any_frozen |= ph->frozen[v];
    /* a phase that selects rows by loss (select.c) scores the whole batch
     * from x and trains on rows the driver picks: no cached features */
    if (any_frozen && !ph->score.len) {
      before[i] = ir_graph_clone(&ph->step);
      reuse_phase(c, ph, limit);
    }
    /* consecutive phases with the same prefix (a freeze that does not move
     * it, a batch ramp) share its features: its variables are frozen, so
     * training between did not change them */
    const IrPhase *prev = i > 0 ? &c->p->phases.data[i - 1] : NULL;
    ph->prefix_from = ph->prefix.len && prev && prev->prefix.len && prev->feature_size == ph->feature_size &&
                              ir_graph_same(&prev->prefix, &ph->prefix)
                          ? prev->prefix_from
                          : i;
  }
  /* a run of phases whose cache would not pay back computes its prefix in the step as before */
  for (int i = 0; i < n;) {
    int last = i;
    while (last + 1 < n && c->p->phases.data[last + 1].prefix.len && c->p->phases.data[last + 1].prefix_from == i)
      last++;
    if (c->p->phases.data[i].prefix.len && !cache_pays_back(c, i, last))
      for (int k = i; k <= last; k++) {
        IrPhase *ph = &c->p->phases.data[k];
        ir_graph_free(&ph->step);
        ph->step = before[k];
        before[k] = (IrGraph){0};
        ir_graph_free(&ph->prefix);
        ph->prefix = (IrGraph){0};
        ph->feature_size = 0;
        ph->prefix_layers = NULL;
        ph->prefix_from = k;
      }
    i = last + 1;
  }
  for (int i = 0; i < n; i++) ir_graph_free(&before[i]);
  free(before);
  return true;
}
