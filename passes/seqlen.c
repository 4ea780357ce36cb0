/* seqlen.c — sequence-length warmup as a program rewrite.
 *
 * The phases pass gave each phase of the warmup its context (tokens per
 * example). A step's shapes depend on it — the attention scores are
 * [B, H, T, T], the positions arange(T) — so a phase at a shorter context
 * cannot be the baseline's step with a mask: the front end elaborated the
 * model and its loss once per context (IrProgram.variant_steps: the same
 * variables, every shape at that context, differentiated and lowered like
 * the baseline), and this pass gives each phase the step of its context.
 * Evaluation keeps the full context.
 *
 * keep: examples (the default, as Li, Zhang & He 2022 train): a step takes
 * its batch of windows truncated to the context — fewer tokens per step.
 * keep: tokens: each window of T tokens is cut into floor(T / context)
 * pieces, each a row of the step — the same tokens per step as the
 * baseline, in more, shorter rows (the driver cuts them).
 */
#include "pass.h"

bool pass_seqlen(PassContext *c) {
  IrProgram *p = c->p;
  const SpeedupItem *it = sp_item(c->spec, TECH_SEQLEN);
  if (!it) return true;
  bool tokens = sp_choice_is(it, ARG_SEQLEN_KEEP, "tokens");
  for (int i = 0; i < p->phases.len; i++) {
    IrPhase *ph = &p->phases.data[i];
    if (ph->context <= 0) continue;
    const IrVariantStep *cs = ir_variant_step(p, ph->context, 0, 0);
    ASTC_ASSERT(cs);  /* the front end elaborated every context the schedule reaches */
    ir_graph_free(&ph->step);
    ph->step = ir_graph_clone(&cs->step);
    ph->pieces = tokens ? p->data.context / ph->context : 1;
  }
  return true;
}
