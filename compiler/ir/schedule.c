/* schedule.c — building, evaluating and printing schedule expressions. */
#include "schedule.h"

#include <math.h>
#include <stdio.h>

SExpr *sx_const(Arena *ar, double v) {
  SExpr *e = arena_alloc(ar, sizeof(SExpr));
  e->kind = SX_CONST;
  e->value = v;
  return e;
}

SExpr *sx_var(Arena *ar, SExprKind k) {
  SExpr *e = arena_alloc(ar, sizeof(SExpr));
  e->kind = k;
  return e;
}

SExpr *sx_un(Arena *ar, SExprKind k, SExpr *a) {
  SExpr *e = sx_var(ar, k);
  e->a = a;
  return e;
}

SExpr *sx_bin(Arena *ar, SExprKind k, SExpr *a, SExpr *b) {
  SExpr *e = sx_var(ar, k);
  e->a = a;
  e->b = b;
  return e;
}

SExpr *sx_select(Arena *ar, SExpr *c, SExpr *a, SExpr *b) {
  SExpr *e = sx_var(ar, SX_SELECT);
  e->a = c;
  e->b = a;
  e->c = b;
  return e;
}

double sx_eval(const SExpr *e, double t, double step, double epoch) {
#define EV(x) sx_eval((x), t, step, epoch)
  switch (e->kind) {
  case SX_CONST: return e->value;
  case SX_T: return t;
  case SX_STEP: return step;
  case SX_EPOCH: return epoch;
  case SX_ADD: return EV(e->a) + EV(e->b);
  case SX_SUB: return EV(e->a) - EV(e->b);
  case SX_MUL: return EV(e->a) * EV(e->b);
  case SX_DIV: return EV(e->a) / EV(e->b);
  case SX_POW: return pow(EV(e->a), EV(e->b));
  case SX_MIN: return fmin(EV(e->a), EV(e->b));
  case SX_MAX: return fmax(EV(e->a), EV(e->b));
  case SX_LT: return EV(e->a) < EV(e->b) ? 1.0 : 0.0;
  case SX_LE: return EV(e->a) <= EV(e->b) ? 1.0 : 0.0;
  case SX_NEG: return -EV(e->a);
  case SX_COS: return cos(EV(e->a));
  case SX_EXP: return exp(EV(e->a));
  case SX_LOG: return log(EV(e->a));
  case SX_SQRT: return sqrt(EV(e->a));
  case SX_FLOOR: return floor(EV(e->a));
  case SX_SELECT: return EV(e->a) != 0 ? EV(e->b) : EV(e->c);
  }
#undef EV
  unreachable();
}

bool sx_uses_counters(const SExpr *e) {
  if (!e) return false;
  if (e->kind == SX_STEP || e->kind == SX_EPOCH) return true;
  return sx_uses_counters(e->a) || sx_uses_counters(e->b) || sx_uses_counters(e->c);
}

void sx_print(FILE *out, const SExpr *e) {
  static const char *bin[] = {
      [SX_ADD] = "+", [SX_SUB] = "-", [SX_MUL] = "*", [SX_DIV] = "/",
      [SX_POW] = "**", [SX_LT] = "<", [SX_LE] = "<=",
  };
  static const char *fn[] = {
      [SX_MIN] = "min", [SX_MAX] = "max", [SX_COS] = "cos", [SX_EXP] = "exp",
      [SX_LOG] = "log", [SX_SQRT] = "sqrt", [SX_FLOOR] = "floor",
  };
  switch (e->kind) {
  case SX_CONST: fprintf(out, "%.9g", e->value); return;
  case SX_T: fputs("t", out); return;
  case SX_STEP: fputs("step", out); return;
  case SX_EPOCH: fputs("epoch", out); return;
  case SX_ADD: case SX_SUB: case SX_MUL: case SX_DIV: case SX_POW:
  case SX_LT: case SX_LE:
    fputc('(', out);
    sx_print(out, e->a);
    fprintf(out, " %s ", bin[e->kind]);
    sx_print(out, e->b);
    fputc(')', out);
    return;
  case SX_NEG:
    fputs("-", out);
    sx_print(out, e->a);
    return;
  case SX_MIN: case SX_MAX:
    fprintf(out, "%s(", fn[e->kind]);
    sx_print(out, e->a);
    fputs(", ", out);
    sx_print(out, e->b);
    fputc(')', out);
    return;
  case SX_COS: case SX_EXP: case SX_LOG: case SX_SQRT: case SX_FLOOR:
    fprintf(out, "%s(", fn[e->kind]);
    sx_print(out, e->a);
    fputc(')', out);
    return;
  case SX_SELECT:
    fputs("select(", out);
    sx_print(out, e->a);
    fputs(", ", out);
    sx_print(out, e->b);
    fputs(", ", out);
    sx_print(out, e->c);
    fputc(')', out);
    return;
  }
}
