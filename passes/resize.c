/* resize.c — progressive resizing as a program rewrite.
 *
 * The phases pass gave each phase of the schedule its image size. A model
 * whose input names its size (f32[B, C, H, W]) and pools globally before
 * its dense head computes the same function of any size, with the same
 * parameters; the front end elaborated the model and loss once per size
 * (IrProgram.variant_steps), each starting with a resize2d of the batch's
 * full-size images, and this pass gives each phase the step of its size.
 * So the driver and the data are untouched: the step reads full images and
 * scales them itself (area or bilinear, docs/passes.md). Evaluation keeps
 * the full size (fast.ai's and Composer's practice: the last phases train at
 * the size the model is tested at).
 */
#include "pass.h"

bool pass_resize(PassContext *c) {
  IrProgram *p = c->p;
  if (!sp_item(c->spec, TECH_RESIZE)) return true;
  for (int i = 0; i < p->phases.len; i++) {
    IrPhase *ph = &p->phases.data[i];
    if (ph->height <= 0) continue;
    const IrVariantStep *v = ir_variant_step(p, 0, ph->height, ph->width);
    ASTC_ASSERT(v);  /* the front end elaborated every size the schedule reaches */
    ir_graph_free(&ph->step);
    ph->step = ir_graph_clone(&v->step);
  }
  return true;
}
