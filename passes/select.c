/* select.c — selective backprop as a program rewrite (Jiang et al. 2019,
 * "Accelerating Deep Learning by Focusing on the Biggest Losers"; MosaicML
 * Composer's SelectiveBackprop).
 *
 * The phases pass marked the phases in [start, end) with the fraction of
 * each batch they keep. Each such phase gets a second graph from its step,
 * `score`: the forward pass and the loss up to its last reduction, with that
 * reduction rewritten to give each row its own loss term — the mean over the
 * row's other axes (a sequence's positions) instead of over everything — and
 * stored (f32[B]). It holds no backward, no update and no state assignment.
 * The driver runs it on the candidate batch, keeps `kept` rows drawn by loss
 * percentile (runtime/select.c), gathers them, and runs the phase's step,
 * specialised to the kept row count, on those rows alone: forward and
 * backward on the kept rows only.
 *
 * The rewrite needs a loss that is a mean over the batch's examples of
 * per-example terms (cross_entropy() and mse() are); any other loss is an
 * error that says what its last operation is. The scoring forward is the
 * step's own forward in training mode: dropout masks are the step's (a pure
 * function of seed, step and row, so scoring draws nothing the step would
 * see), batch statistics are those of the whole candidate batch, and running
 * statistics are not updated by it (only the step assigns them).
 */
#include <stdio.h>
#include <stdlib.h>

#include "pass.h"
#include "rewrite.h"

/* The loss's output node in g, or -1. */
static int loss_output(const IrGraph *g) {
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_OUTPUT && g->nodes[i].ia[0] == OUT_LOSS) return i;
  return -1;
}

/* Why the loss (the operand of output `out`) is not a mean over examples, or
 * NULL if it is; *terms gets the mean's operand, the loss terms [B, ...]. */
static const char *not_a_mean(const IrGraph *g, int out, int *terms, char *buf, size_t cap) {
  const IrNode *l = &g->nodes[g->nodes[out].in[0]];
  if (l->op != IR_MEAN) {
    snprintf(buf, cap, "its last operation is '%s', not a mean over the examples", ir_ops[l->op].name);
    return buf;
  }
  const IrNode *v = &g->nodes[l->in[0]];
  if (v->type.shape.rank < 1 || v->type.shape.d[0] != IR_DIM_B) {
    char ts[96];
    snprintf(buf, cap, "it is a mean of %s, which has no row per example", type_str(&v->type, ts, sizeof ts));
    return buf;
  }
  if (l->ia[0] != ((int64_t)1 << v->type.shape.rank) - 1) {
    snprintf(buf, cap, "its mean is over some axes only, so the examples' terms are not averaged alike");
    return buf;
  }
  *terms = l->in[0];
  return NULL;
}

/* The scoring graph of step g: the terms' ancestors, each row's mean, stored. */
static IrGraph score_graph(const IrGraph *g, int terms) {
  bool *need = xcalloc((size_t)g->len + 1, sizeof(bool));
  need[terms] = true;
  for (int i = terms; i >= 0; i--)
    if (need[i])
      for (int k = 0; k < g->nodes[i].nin; k++) need[g->nodes[i].in[k]] = true;
  IrRewrite rw;
  rw_begin(&rw, g);
  for (int i = 0; i <= terms; i++)
    if (need[i]) rw_copy(&rw, i);
  const IrNode *t = &g->nodes[terms];
  rw.b = (IrBuilder){&rw.dst, t->loc, -1, ROLE_LOSS, t->scope};
  int per = rw.map[terms];
  int rank = t->type.shape.rank;
  if (rank > 1) per = irb_reduce(&rw.b, IR_MEAN, per, (((int64_t)1 << rank) - 1) & ~(int64_t)1, false);
  irb_node(&rw.b, IR_STORE_FEATURES, 1, &per, NULL, NULL, NULL);
  free(need);
  free(rw.map);
  return rw.dst;
}

bool pass_select(PassContext *c) {
  IrProgram *p = c->p;
  const SpeedupItem *it = sp_item(c->spec, TECH_SELECT);
  if (!it) return true;
  double keep = sp_num(it, ARG_SELECT_KEEP);
  const SpArg *beta = sp_arg(it, ARG_SELECT_BETA);
  for (int i = 0; i < p->phases.len; i++) {
    IrPhase *ph = &p->phases.data[i];
    if (ph->keep <= 0) continue;
    int64_t rows = ir_phase_rows(ph), kept = ir_select_count(keep, rows);
    if (kept >= rows) {  /* a batch too small to leave a row out */
      ph->keep = 0;
      continue;
    }
    int out = loss_output(&ph->step), terms = -1;
    ASTC_ASSERT(out >= 0);
    char why[256];
    if (not_a_mean(&ph->step, out, &terms, why, sizeof why)) {
      diag_error(it->loc, "select backprop scores each example by its own term of the loss, so the loss must be a "
                          "mean over the batch's examples (as cross_entropy() and mse() are); loss '%s' is not: %s",
                 p->loss_name ? p->loss_name : "?", why);
      diag_note(ph->step.nodes[out].loc, "the loss is set here");
      const IrNode *last = &ph->step.nodes[ph->step.nodes[out].in[0]];
      if (last->loc.file > 0) diag_note(last->loc, "the loss's last operation, '%s', is here", ir_ops[last->op].name);
      return false;
    }
    ph->score = score_graph(&ph->step, terms);
    ph->kept = kept;
    ph->beta = beta->given ? beta->num : 1 / keep - 1;
    ph->interrupt = (int64_t)sp_num(it, ARG_SELECT_INTERRUPT);
  }
  return true;
}
