/* op_facts.c — facts about ops that passes rely on, one rule per op (the
 * ROWS column of ops.def).
 *
 * Row independence: frozen-prefix reuse (passes/prefix.c) may compute a
 * value once per example and cache it only if every op on the way computes
 * each example's result from that example alone. B must stay the first
 * dimension (rows are examples) of the value and of its batch operands.
 */
#include "ir.h"

typedef bool RowRule(const IrGraph *g, const IrNode *n);

static bool batch_first(const Shape *s) {
  for (int i = 1; i < s->rank; i++)
    if (s->d[i] == IR_DIM_B) return false;
  return true;
}

static bool operands_batch_first(const IrGraph *g, const IrNode *n) {
  for (int k = 0; k < n->nin; k++)
    if (!batch_first(&g->nodes[n->in[k]].type.shape)) return false;
  return true;
}

/* never (labels, masks, schedules, gradients, effects) */
static bool row_none(const IrGraph *g, const IrNode *n) { (void)g, (void)n; return false; }
/* a leaf: the caller decides */
static bool row_leaf(const IrGraph *g, const IrNode *n) { (void)g, (void)n; return true; }
/* elementwise and per-image ops: example b's result from example b's operands */
static bool row_same(const IrGraph *g, const IrNode *n) { return operands_batch_first(g, n); }

/* a reshape or broadcast must keep B as the first dimension (or not involve it) */
static bool row_view(const IrGraph *g, const IrNode *n) {
  return operands_batch_first(g, n) && (n->type.shape.d[0] == IR_DIM_B || !shape_has_batch(&g->nodes[n->in[0]].type.shape));
}

/* a permutation that keeps the first axis first */
static bool row_permute(const IrGraph *g, const IrNode *n) { return n->ia[0] == 0 && operands_batch_first(g, n); }

/* a row-wise op over the last axis, which must not be the batch */
static bool row_lastaxis(const IrGraph *g, const IrNode *n) {
  const Shape *x = &g->nodes[n->in[0]].type.shape;
  return operands_batch_first(g, n) && !(x->rank > 0 && x->d[x->rank - 1] == IR_DIM_B);
}

/* a reduction over other axes than the batch */
static bool row_reduce(const IrGraph *g, const IrNode *n) {
  const Shape *x = &g->nodes[n->in[0]].type.shape;
  return !(x->rank > 0 && x->d[0] == IR_DIM_B && (n->ia[0] & 1));
}

/* a product computes example b's result from example b's operands when the
 * batch is a row axis of a (a[B, K] @ w) or a leading axis of both operands
 * ([B, H, T, D] @ [B, H, D, T]) — never when it is contracted (fold, or
 * a^T with B in its rows) */
static bool lead_batch(const Shape *s) { return s->rank >= 3 && s->d[0] == IR_DIM_B; }

static bool row_matmul(const IrGraph *g, const IrNode *n) {
  const Shape *a = &g->nodes[n->in[0]].type.shape, *b = &g->nodes[n->in[1]].type.shape;
  if (n->ia[2]) return false;
  bool a_ok = !shape_has_batch(a) || lead_batch(a) || (a->rank == 2 && a->d[0] == IR_DIM_B && !n->ia[0]);
  bool b_ok = !shape_has_batch(b) || lead_batch(b);
  return a_ok && b_ok;
}

/* convolution per image with filters that do not depend on the batch */
static bool row_conv(const IrGraph *g, const IrNode *n) { return !shape_has_batch(&g->nodes[n->in[1]].type.shape); }

static RowRule *const row_rules[IR_NUM_OPS] = {
#define OP(id, name, arity, cls, shape, grad, cost, rows, flags) [IR_##id] = rows,
#include "ops.def"
#undef OP
};

bool ir_row_independent(const IrGraph *g, int i) {
  const IrNode *n = &g->nodes[i];
  return batch_first(&n->type.shape) && row_rules[n->op](g, n);
}
