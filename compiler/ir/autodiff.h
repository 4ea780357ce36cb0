/* autodiff.h — reverse-mode differentiation of a graph at compile time. */
#ifndef ASTC_AUTODIFF_H
#define ASTC_AUTODIFF_H

#include "ir.h"

/* Appends to g the derivative of the scalar node `loss` with respect to every
 * variable v with wrt[v] set. grads[v] (an array of p->vars.len) receives
 * the node holding d loss / d v, or -1 where v does not influence the loss.
 * Returns the index of the first backward node. */
int ir_autodiff(const IrProgram *p, IrGraph *g, int loss, const bool *wrt, int *grads);

/* Whether gradients flow through op (false for masks, constants, leaves). */
bool ir_op_differentiable(IrOp op);

#endif
