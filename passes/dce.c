/* dce.c — the dead-code elimination pass (ir_dce, compiler/ir/ir_dce.c) over
 * every graph of the program. A node lives if it has an effect (output,
 * state assignment, parameter update) or a live node uses it. After freezing,
 * this is what removes the weight gradients of frozen layers, the
 * input-gradient chain below the lowest trainable layer, and the reads of
 * optimizer state that only deleted updates needed. */
#include <stdlib.h>

#include "pass.h"
#include "rewrite.h"

bool pass_dce(PassContext *c) {
  for (int i = 0; i < c->p->phases.len; i++) ir_dce(&c->p->phases.data[i].step);
  ir_dce(&c->p->eval);
  ir_dce(&c->p->predict);
  return true;
}
