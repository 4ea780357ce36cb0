/* schedule.h — schedule expressions: scalar functions of training progress.
 *
 * A schedule (the learning-rate multiplier, a batch-size ramp, a freezing
 * rule) is a small expression tree over the run-time variables t (fraction
 * of the budget done, in [0, 1]), step (0-based optimizer step) and epoch
 * (0-based). The same tree is evaluated by the compiler (phases, astc cost)
 * and compiled to LLVM IR for the training driver.
 */
#ifndef ASTC_SCHEDULE_H
#define ASTC_SCHEDULE_H

#include <stdio.h>

#include "common.h"

typedef enum SExprKind {
  SX_CONST,   /* value                  */
  SX_T,       /* progress in [0, 1]     */
  SX_STEP,    /* optimizer step          */
  SX_EPOCH,   /* epoch                   */
  SX_ADD, SX_SUB, SX_MUL, SX_DIV, SX_POW, SX_MIN, SX_MAX,
  SX_LT, SX_LE,                /* 1 or 0 */
  SX_NEG, SX_COS, SX_EXP, SX_LOG, SX_SQRT, SX_FLOOR,
  SX_SELECT,  /* a ? b : c (a != 0)     */
} SExprKind;

typedef struct SExpr {
  SExprKind kind;
  double value;
  struct SExpr *a, *b, *c;
} SExpr;

SExpr *sx_const(Arena *ar, double v);
SExpr *sx_var(Arena *ar, SExprKind k);
SExpr *sx_un(Arena *ar, SExprKind k, SExpr *a);
SExpr *sx_bin(Arena *ar, SExprKind k, SExpr *a, SExpr *b);
SExpr *sx_select(Arena *ar, SExpr *c, SExpr *a, SExpr *b);

double sx_eval(const SExpr *e, double t, double step, double epoch);
/* Prints the expression in the language's syntax. */
void sx_print(FILE *out, const SExpr *e);
/* True if the expression reads step or epoch (not only t). */
bool sx_uses_counters(const SExpr *e);

#endif
