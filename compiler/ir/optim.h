/* optim.h — lowering the optimizer into update ops of a step graph. */
#ifndef ASTC_OPTIM_H
#define ASTC_OPTIM_H

#include "ir.h"

/* Appends to g, for every trainable variable v with grads[v] >= 0, its
 * update: weight decay (SGD: L2 added to the gradient, as torch.optim.SGD
 * does; AdamW: decoupled, inside the update), then the SGD (momentum,
 * Nesterov) or AdamW step. Optimizer slots are created as VAR_OPT variables
 * named <param>.momentum, <param>.adam_m, <param>.adam_v. */
void ir_lower_optimizer(IrProgram *p, IrGraph *g, const int *grads);

#endif
