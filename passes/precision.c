/* precision.c — precision lowering (implemented in a later step). */
#include "pass.h"

bool pass_precision(PassContext *c) {
  const SpeedupItem *it = sp_item(c->spec, "precision");
  if (!it) return true;
  diag_error(it->loc, "precision %s: not available in this build of astc yet", it->rule->rule);
  return false;
}
