/* shape.h — shape rules (shape.c), used by the elaborator, autodiff, the
 * passes and the verifier. */
#ifndef ASTC_SHAPE_H
#define ASTC_SHAPE_H

#include "ir.h"

/* Computes node n's result type from its operands (earlier nodes of g) and
 * attributes by the op's rule. On invalid operands returns false and writes
 * the reason (without location) into why. */
bool ir_infer_type(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap);

/* numpy broadcasting of two shapes (aligned on the right). */
bool broadcast_shapes(const Shape *a, const Shape *b, Shape *out);
bool broadcastable_to(const Shape *from, const Shape *to);

#endif
