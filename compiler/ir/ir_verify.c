/* ir_verify.c — the IR verifier: SSA order, arity, types by the shape rules,
 * variable references and effect ordering. Runs after every pass in tests
 * and debug runs; a failure is a compiler bug, never a user error. */
#include <stdlib.h>
#include <string.h>

#include "shape.h"

typedef struct Verifier {
  const IrProgram *p;
  const IrGraph *g;
  const char *what;
  FILE *out;
  int problems;
} Verifier;

static void problem(Verifier *v, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(Verifier *v, int i, const char *fmt, ...) {
  v->problems++;
  if (!v->out) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(v->out, "astc: internal error: IR verifier (%s): %%%d: ", v->what, i);
  vfprintf(v->out, fmt, ap);
  fputc('\n', v->out);
  va_end(ap);
}

static bool var_ok(Verifier *v, int i, int64_t var, VarKind kind) {
  if (var < 0 || var >= v->p->vars.len) {
    problem(v, i, "variable index %lld out of range", (long long)var);
    return false;
  }
  if (v->p->vars.data[var].kind != kind) {
    problem(v, i, "variable %s has the wrong kind", v->p->vars.data[var].name);
    return false;
  }
  return true;
}

static bool operand_is_var(Verifier *v, int i, int k, int64_t var) {
  const IrNode *o = &v->g->nodes[v->g->nodes[i].in[k]];
  if (o->op != IR_PARAM || o->ia[0] != var) {
    problem(v, i, "operand %d must be the variable %s", k, v->p->vars.data[var].name);
    return false;
  }
  return true;
}

/* weight averaging: operands k (the average avg of parameter w), k + 1 (its
 * rate) and, with copy-back (n = 3), k + 2 (the flag); avg is written here */
static void check_average_operands(Verifier *v, int i, int k, int64_t avg, int64_t w, int n, int64_t *written_at) {
  const IrNode *nd = &v->g->nodes[i];
  if (nd->nin < k + n) {
    problem(v, i, "a running average needs %d operands from operand %d", n, k);
    return;
  }
  if (!var_ok(v, i, avg, VAR_AVERAGE)) return;
  const IrVar *a = &v->p->vars.data[avg];
  if (a->owner != w) problem(v, i, "%s is not the average of %s", a->name, v->p->vars.data[w].name);
  operand_is_var(v, i, k, avg);
  if (written_at[avg] >= 0) problem(v, i, "%s is written twice", a->name);
  written_at[avg] = i;
  for (int j = 1; j < n; j++)
    if (v->g->nodes[nd->in[k + j]].type.shape.rank != 0) problem(v, i, "operand %d must be a scalar", k + j);
}

/* what an average op averages, ia[1]: a parameter, read by operand 0, or a
 * state variable, read by operand 0 or assigned operand 0 earlier in the
 * graph (statistics: average averages the value the step assigns) */
static bool average_source_ok(Verifier *v, int i) {
  const IrNode *n = &v->g->nodes[i];
  int64_t w = n->ia[1];
  if (w < 0 || w >= v->p->vars.len || v->p->vars.data[w].kind != VAR_STATE)
    return var_ok(v, i, w, VAR_PARAM) && operand_is_var(v, i, 0, w);
  const IrNode *o = &v->g->nodes[n->in[0]];
  if (o->op == IR_PARAM && o->ia[0] == w) return true;
  for (int j = 0; j < i; j++)
    if (v->g->nodes[j].op == IR_ASSIGN && v->g->nodes[j].ia[0] == w && v->g->nodes[j].in[0] == n->in[0]) return true;
  problem(v, i, "operand 0 neither reads %s nor is the value assigned to it before", v->p->vars.data[w].name);
  return false;
}

/* average: operands (w, avg, a[, ok]); average_count: scalar operands, each
 * written to the counter ia[k] */
static void check_averaging(Verifier *v, int i, int64_t *written_at) {
  const IrNode *n = &v->g->nodes[i];
  int guard = n->ia[IR_UPDATE_GUARDED] ? 1 : 0;
  if (guard && v->g->nodes[n->in[n->nin - 1]].type.shape.rank != 0) problem(v, i, "the guard must be a scalar");
  if (n->op == IR_AVERAGE) {
    if (n->nin != 3 + guard) problem(v, i, "average takes %d operands", 3 + guard);
    else if (average_source_ok(v, i))
      check_average_operands(v, i, 1, n->ia[0], n->ia[1], 2, written_at);
    return;
  }
  if (n->nin - guard < 1 || n->nin - guard > 3) {
    problem(v, i, "average_count takes 1 to 3 counters");
    return;
  }
  for (int k = 0; k < n->nin - guard; k++) {
    if (!var_ok(v, i, n->ia[k], VAR_AVERAGE)) continue;
    const IrVar *c = &v->p->vars.data[n->ia[k]];
    if (c->shape.rank != 0 || v->g->nodes[n->in[k]].type.shape.rank != 0) problem(v, i, "%s is not a scalar", c->name);
    if (written_at[n->ia[k]] >= 0) problem(v, i, "%s is written twice", c->name);
    written_at[n->ia[k]] = i;
  }
}

static void check_update(Verifier *v, int i, int64_t *written_at) {
  const IrNode *n = &v->g->nodes[i];
  int64_t w = n->ia[0];
  if (!var_ok(v, i, w, n->op == IR_ASSIGN ? VAR_STATE : VAR_PARAM)) return;
  if (written_at[w] >= 0) problem(v, i, "%s is written twice", v->p->vars.data[w].name);
  written_at[w] = i;
  const IrVar *var = &v->p->vars.data[w];
  Type vt = {var->dtype, var->shape};
  if (n->op == IR_ASSIGN) {
    if (!type_eq(&v->g->nodes[n->in[0]].type, &vt))
      problem(v, i, "assigned value does not have the type of %s", var->name);
    return;
  }
  operand_is_var(v, i, 0, w);
  if (!type_eq(&v->g->nodes[n->in[1]].type, &vt))
    problem(v, i, "the gradient of %s does not have its type", var->name);
  int guard = n->ia[IR_UPDATE_GUARDED] ? 1 : 0;
  if (guard && v->g->nodes[n->in[n->nin - 1]].type.shape.rank != 0) problem(v, i, "the guard must be a scalar");
  int avg = ir_update_navg(n);
  if (avg) check_average_operands(v, i, ir_update_nbase(n), n->ia[IR_UPDATE_SHADOW], w, avg, written_at);
  guard += avg;  /* below: the optimizer's own operands */
  if (n->op == IR_ADAMW_UPDATE && n->nin != 6 + guard) problem(v, i, "adamw_update takes %d operands", 6 + guard);
  if (n->op == IR_SGD_UPDATE) {
    if (n->nin - guard != 3 && n->nin - guard != 4) problem(v, i, "sgd_update takes 3 or 4 operands");
    if (n->ia[1] >= 0) {
      if (n->nin - guard != 4) problem(v, i, "sgd_update with momentum needs the velocity operand");
      else if (var_ok(v, i, n->ia[1], VAR_OPT)) {
        operand_is_var(v, i, 3, n->ia[1]);
        if (written_at[n->ia[1]] >= 0) problem(v, i, "a velocity is written twice");
        written_at[n->ia[1]] = i;
      }
    }
  } else {
    for (int k = 1; k <= 2; k++)
      if (var_ok(v, i, n->ia[k], VAR_OPT)) {
        operand_is_var(v, i, 1 + k, n->ia[k]);
        if (written_at[n->ia[k]] >= 0) problem(v, i, "%s is written twice", v->p->vars.data[n->ia[k]].name);
        written_at[n->ia[k]] = i;
      }
  }
}

int ir_verify(const IrProgram *p, const IrGraph *g, const char *what, FILE *out) {
  Verifier v = {p, g, what, out, 0};
  int64_t *written_at = xmalloc(sizeof(int64_t) * (size_t)(p->vars.len + 1));
  for (int i = 0; i < p->vars.len; i++) written_at[i] = -1;
  int *flags;
  int nflags = ir_guard_flags(g, &flags);
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if ((unsigned)n->op >= IR_NUM_OPS) {
      problem(&v, i, "unknown op %d", (int)n->op);
      continue;
    }
    /* a guarded node runs where its block's gate node, earlier, says so */
    if (n->guard < 0 || n->guard > nflags || (n->guard > 0 && (flags[n->guard] < 0 || flags[n->guard] >= i)))
      problem(&v, i, "guard %d has no gate node before it", n->guard);
    if (n->op == IR_DROP_GATE && n->ia[0] >= 1 && n->ia[0] <= nflags && flags[n->ia[0]] != i)
      problem(&v, i, "a second gate node of block %lld", (long long)n->ia[0]);
    const IrOpInfo *info = &ir_ops[n->op];
    if (info->arity >= 0 && n->nin != info->arity)
      problem(&v, i, "%s takes %d operands, has %d", info->name, info->arity, n->nin);
    bool operands_ok = n->nin >= 0 && n->nin <= IR_MAX_IN;
    for (int k = 0; operands_ok && k < n->nin; k++) {
      int o = n->in[k];
      if (o < 0 || o >= i) {
        problem(&v, i, "operand %d (%%%d) is not defined before use", k, o);
        operands_ok = false;
      } else if (ir_ops[g->nodes[o].op].cls == EFFECT) {
        problem(&v, i, "operand %d (%%%d) has no value", k, o);
        operands_ok = false;
      }
    }
    if (!operands_ok) continue;
    Type t;
    char why[256];
    if (!ir_infer_type(g, n, &t, why, sizeof why)) {
      problem(&v, i, "%s: %s", info->name, why);
    } else if (info->cls != EFFECT && !type_eq(&t, &n->type)) {
      char a[128], b[128];
      problem(&v, i, "%s has type %s but its rule gives %s", info->name,
              type_str(&n->type, a, sizeof a), type_str(&t, b, sizeof b));
    }
    switch (n->op) {
    case IR_PARAM:
      if (n->ia[0] < 0 || n->ia[0] >= p->vars.len) {
        problem(&v, i, "variable index out of range");
      } else {
        const IrVar *var = &p->vars.data[n->ia[0]];
        Type vt = {var->dtype, var->shape};
        if (!type_eq(&vt, &n->type)) problem(&v, i, "%s read with the wrong type", var->name);
        if (written_at[n->ia[0]] >= 0)
          problem(&v, i, "%s is read after it is written (at %%%lld)", var->name,
                  (long long)written_at[n->ia[0]]);
      }
      break;
    case IR_INPUT:
      if (n->ia[0] < 0 || n->ia[0] > 2) problem(&v, i, "input must be x, y or cached features");
      break;
    case IR_SCALAR:
      if (n->ia[0] < 0 || n->ia[0] >= SC_NUM) problem(&v, i, "unknown scalar");
      break;
    case IR_OUTPUT:
      if (n->ia[0] < 0 || n->ia[0] >= OUT_NUM) problem(&v, i, "unknown output slot");
      if (g->nodes[n->in[0]].type.shape.rank != 0) problem(&v, i, "outputs must be scalars");
      break;
    case IR_ASSIGN: case IR_SGD_UPDATE: case IR_ADAMW_UPDATE:
      check_update(&v, i, written_at);
      break;
    case IR_AVERAGE: case IR_AVERAGE_COUNT:
      check_averaging(&v, i, written_at);
      break;
    default: break;
    }
  }
  free(written_at);
  free(flags);
  return v.problems;
}
