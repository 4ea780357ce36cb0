/* irb.h — building IR nodes inside the compiler (autodiff, optimizer
 * lowering, passes). Operands are always valid here, so a shape-rule failure
 * is an internal error, not a user diagnostic. */
#ifndef ASTC_IRB_H
#define ASTC_IRB_H

#include "ir.h"

typedef struct IrBuilder {
  IrGraph *g;
  Loc loc;      /* given to new nodes */
  int layer;
  IrRole role;
  const char *scope;
} IrBuilder;

int irb_node(IrBuilder *b, IrOp op, int nin, const int *in, const int64_t *ia,
             const double *fa, const Type *given);
int irb_un(IrBuilder *b, IrOp op, int x);
int irb_bin(IrBuilder *b, IrOp op, int x, int y);
int irb_const(IrBuilder *b, double v);        /* f32[] */
int irb_scalar(IrBuilder *b, IrScalar s);     /* reuses an existing one */
int irb_reshape(IrBuilder *b, int x, Shape s);
int irb_broadcast(IrBuilder *b, int x, Shape s);
int irb_reduce(IrBuilder *b, IrOp op, int x, int64_t mask, bool keep);
int irb_matmul(IrBuilder *b, int x, int y, bool ta, bool tb);
/* sum over the (equal) leading axes of op(x) op(y): a rank-2 result */
int irb_matmul_fold(IrBuilder *b, int x, int y, bool ta, bool tb);
/* Sums x (shaped like a broadcast result) down to `to`, the shape of an
 * operand that was broadcast: the adjoint of broadcasting. */
int irb_unbroadcast(IrBuilder *b, int x, Shape to);

const Type *irb_type(IrBuilder *b, int x);

#endif
