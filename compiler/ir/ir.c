/* ir.c — IR types, the op table, graphs and the training program. */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const IrOpInfo ir_ops[IR_NUM_OPS] = {
#define OP(id, name, arity, cls, shape, grad, cost, rows, flags) [IR_##id] = {name, arity, cls, flags},
#include "ops.def"
#undef OP
};

/* ---- types ------------------------------------------------------------------ */

const char *dtype_name(DType t) {
  static const char *names[] = {ASTRT_DTYPES(IR_ABI_NAME)};
  if ((unsigned)t >= ARRAY_LEN(names)) unreachable();
  return names[t];
}

int dtype_size(DType t) { return t == DT_BF16 || t == DT_F16 ? 2 : 4; }

Shape shape_make(int rank, const int64_t *d) {
  Shape s = {rank, {0}};
  ASTC_ASSERT(rank >= 0 && rank <= IR_MAX_RANK);
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}

bool shape_eq(const Shape *a, const Shape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return false;
  return true;
}

bool type_eq(const Type *a, const Type *b) {
  return a->dtype == b->dtype && shape_eq(&a->shape, &b->shape);
}

/* Whether graphs a and b compute the same thing node for node: the same ops
 * on the same operands, attributes, types, layers and guards (names,
 * locations and roles, which only annotate, may differ). */
bool ir_graph_same(const IrGraph *a, const IrGraph *b) {
  if (a->len != b->len) return false;
  for (int i = 0; i < a->len; i++) {
    const IrNode *x = &a->nodes[i], *y = &b->nodes[i];
    if (x->op != y->op || x->nin != y->nin || !type_eq(&x->type, &y->type) || x->layer != y->layer ||
        x->guard != y->guard || x->sx != y->sx)
      return false;
    for (int k = 0; k < x->nin; k++)
      if (x->in[k] != y->in[k]) return false;
    for (int k = 0; k < IR_MAX_IA; k++)
      if (x->ia[k] != y->ia[k]) return false;
    for (int k = 0; k < IR_MAX_FA; k++)
      if (x->fa[k] != y->fa[k] && !(x->fa[k] != x->fa[k] && y->fa[k] != y->fa[k])) return false;
  }
  return true;
}

int64_t shape_numel(const Shape *s, int64_t batch) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->d[i] == IR_DIM_B ? batch : s->d[i];
  return n;
}

bool shape_has_batch(const Shape *s) {
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] == IR_DIM_B) return true;
  return false;
}

const char *shape_str(const Shape *s, char *buf, size_t cap) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < s->rank && n < cap; i++) {
    if (s->d[i] == IR_DIM_B)
      n += (size_t)snprintf(buf + n, cap - n, "%sB", i ? "," : "");
    else
      n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "",
                            (long long)s->d[i]);
  }
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

const char *type_str(const Type *t, char *buf, size_t cap) {
  char sh[128];
  snprintf(buf, cap, "%s%s", dtype_name(t->dtype), shape_str(&t->shape, sh, sizeof sh));
  return buf;
}

const char *ir_scalar_name(IrScalar s) {
  static const char *names[] = {ASTRT_SCALARS(IR_ABI_NAME)};
  return s < SC_NUM ? names[s] : "?";
}

const char *ir_output_name(IrOutput o) {
  static const char *names[] = {ASTRT_OUTPUTS(IR_ABI_NAME)};
  return o < OUT_NUM ? names[o] : "?";
}

const char *ir_role_name(IrRole r) {
  static const char *names[] = {ASTRT_NODE_ROLES(IR_ABI_NAME)};
  return names[r];
}

const char *init_kind_name(InitKind k) {
  static const char *names[] = {ASTRT_INIT_KINDS(IR_ABI_NAME)};
  return names[k];
}

/* ---- graphs ------------------------------------------------------------------ */

int ir_add(IrGraph *g, IrNode n) {
  if (g->len == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 64;
    g->nodes = xrealloc(g->nodes, sizeof(IrNode) * (size_t)g->cap);
  }
  g->nodes[g->len] = n;
  return g->len++;
}

void ir_graph_free(IrGraph *g) {
  free(g->nodes);
  g->nodes = NULL;
  g->len = g->cap = 0;
}

bool ir_graph_assigns(const IrGraph *g, int64_t var) {
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_ASSIGN && g->nodes[i].ia[0] == var) return true;
  return false;
}

IrGraph ir_graph_clone(const IrGraph *g) {
  IrGraph c = {0};
  if (g->len) {
    c.nodes = xmalloc(sizeof(IrNode) * (size_t)g->len);
    memcpy(c.nodes, g->nodes, sizeof(IrNode) * (size_t)g->len);
  }
  c.len = c.cap = g->len;
  return c;
}

int *ir_use_counts(const IrGraph *g) {
  int *uses = xcalloc((size_t)g->len + 1, sizeof(int));
  for (int i = 0; i < g->len; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) uses[g->nodes[i].in[k]]++;
  return uses;
}

int ir_guard_flags(const IrGraph *g, int **out) {
  int max = 0;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    max = MAX(max, n->guard);
    if (n->op == IR_DROP_GATE) max = MAX(max, (int)n->ia[0]);
  }
  int *f = xmalloc(sizeof(int) * (size_t)(max + 1));
  for (int k = 0; k <= max; k++) f[k] = -1;
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_DROP_GATE && f[g->nodes[i].ia[0]] < 0) f[g->nodes[i].ia[0]] = i;
  *out = f;
  return max;
}

/* ---- programs ---------------------------------------------------------------- */

IrProgram *ir_program_new(void) {
  IrProgram *p = xcalloc(1, sizeof(IrProgram));
  p->arena = arena_new();
  p->goal = GOAL_NONE;
  p->average.count = -1;
  return p;
}

void ir_program_free(IrProgram *p) {
  if (!p) return;
  vec_free(&p->vars);
  vec_free(&p->layers);
  ir_graph_free(&p->eval);
  ir_graph_free(&p->predict);
  for (int i = 0; i < p->phases.len; i++) {
    ir_graph_free(&p->phases.data[i].step);
    ir_graph_free(&p->phases.data[i].prefix);
    ir_graph_free(&p->phases.data[i].score);
  }
  vec_free(&p->phases);
  for (int i = 0; i < p->variant_steps.len; i++) ir_graph_free(&p->variant_steps.data[i].step);
  vec_free(&p->variant_steps);
  arena_free(p->arena);
  free(p);
}

const IrVariantStep *ir_variant_step(const IrProgram *p, int64_t context, int64_t height, int64_t width) {
  for (int i = 0; i < p->variant_steps.len; i++) {
    const IrVariantStep *v = &p->variant_steps.data[i];
    if (!v->eval_layers && v->context == context && v->height == height && v->width == width) return v;
  }
  return NULL;
}

const IrVariantStep *ir_variant_step_eval(const IrProgram *p, const bool *eval_layers) {
  for (int i = 0; i < p->variant_steps.len; i++) {
    const IrVariantStep *v = &p->variant_steps.data[i];
    if (v->eval_layers && !memcmp(v->eval_layers, eval_layers, sizeof(bool) * (size_t)p->layers.len)) return v;
  }
  return NULL;
}

int64_t ir_phase_rows(const IrPhase *ph) { return ph->batch * (ph->pieces > 1 ? ph->pieces : 1); }

int64_t ir_phase_step_rows(const IrPhase *ph) { return ph->kept > 0 ? ph->kept : ir_phase_rows(ph); }

int64_t ir_phase_plan_rows(const IrPhase *ph) {
  return ph->kept > 0 && ph->interrupt > 0 ? ir_phase_rows(ph) : ir_phase_step_rows(ph);
}

int64_t ir_select_count(double keep, int64_t rows) {
  int64_t k = (int64_t)floor(keep * (double)rows + 1e-9);
  return k < 1 ? 1 : k > rows ? rows : k;
}

bool ir_phase_frozen(const IrPhase *ph, int v) {
  return ph->frozen && v >= 0 && v < ph->nfrozen_vars && ph->frozen[v];
}

int ir_program_add_var(IrProgram *p, IrVar v) {
  vec_push(&p->vars, v);
  return p->vars.len - 1;
}

int ir_program_find_var(const IrProgram *p, const char *name) {
  for (int i = 0; i < p->vars.len; i++)
    if (strcmp(p->vars.data[i].name, name) == 0) return i;
  return -1;
}

int64_t ir_trainable_params(const IrProgram *p, const IrGraph *g) {
  int64_t n = 0;
  for (int i = 0; i < g->len; i++) {
    const IrNode *nd = &g->nodes[i];
    if (nd->op == IR_SGD_UPDATE || nd->op == IR_ADAMW_UPDATE)
      n += shape_numel(&p->vars.data[nd->ia[0]].shape, 1);
  }
  return n;
}
