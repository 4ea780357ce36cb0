/* op_eval.c — the arithmetic of elementwise ops in double precision, from
 * their EW1/EW2 rows in ops.def. Constant folding (the front end's
 * built-ins on numbers) and the reference interpreter both evaluate ops
 * here; code generation builds the same expressions as LLVM IR
 * (cg_loops.c), so an op's arithmetic is written once.
 *
 * The expression language of the EW rows:
 *   X         the operand of a unary op;  A, B (, C)  the operands of a binary
 *             (ternary) op
 *   K(c)      the constant c
 *   NEG(x)    ADD(x, y)  SUB(x, y)  MUL(x, y)  DIV(x, y)
 *   EXP(x)    LOG(x)  SQRT(x)  TANH(x)  FABS(x)  ERF(x)
 *   GT(x, y)  GE(x, y)    comparisons (false when either is NaN)
 *   NE(x, y)              x differs from y (true when either is NaN)
 *   SELECT(c, x, y)       x where c holds, else y
 */
#include <math.h>

#include "ir.h"

#define K(c) ((double)(c))
#define NEG(x) (-(x))
#define ADD(x, y) ((x) + (y))
#define SUB(x, y) ((x) - (y))
#define MUL(x, y) ((x) * (y))
#define DIV(x, y) ((x) / (y))
#define EXP(x) exp(x)
#define LOG(x) log(x)
#define SQRT(x) sqrt(x)
#define TANH(x) tanh(x)
#define FABS(x) fabs(x)
#define ERF(x) erf(x)
#define GT(x, y) ((x) > (y))
#define GE(x, y) ((x) >= (y))
#define NE(x, y) ((x) != (y))
#define SELECT(c, x, y) ((c) ? (x) : (y))

bool ir_has_math(IrOp op) {
  switch (op) {
#define EW1(id, surface, expr, help) case IR_##id:
#define EW2(id, surface, expr, help) case IR_##id:
#define EW3(id, surface, expr, help) case IR_##id:
#define OP(...)
#include "ops.def"
#undef OP
#undef EW1
#undef EW2
#undef EW3
    return true;
  default: return false;
  }
}

double ir_eval_unary(IrOp op, double X) {
  switch (op) {
#define EW1(id, surface, expr, help) case IR_##id: return expr;
#define OP(...)
#include "ops.def"
#undef OP
#undef EW1
  default: unreachable();
  }
}

double ir_eval_binary(IrOp op, double A, double B) {
  switch (op) {
#define EW2(id, surface, expr, help) case IR_##id: return expr;
#define OP(...)
#include "ops.def"
#undef OP
#undef EW2
  default: unreachable();
  }
}

double ir_eval_ternary(IrOp op, double A, double B, double C) {
  switch (op) {
#define EW3(id, surface, expr, help) case IR_##id: return expr;
#define OP(...)
#include "ops.def"
#undef OP
#undef EW3
  default: unreachable();
  }
}
