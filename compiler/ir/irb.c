/* irb.c — node construction for compiler-generated IR. */
#include "irb.h"

#include <string.h>

#include "shape.h"

const Type *irb_type(IrBuilder *b, int x) { return &b->g->nodes[x].type; }

int irb_node(IrBuilder *b, IrOp op, int nin, const int *in, const int64_t *ia,
             const double *fa, const Type *given) {
  IrNode n = {.op = op, .nin = nin, .loc = b->loc, .layer = b->layer, .role = b->role, .scope = b->scope};
  for (int k = 0; k < nin; k++) n.in[k] = in[k];
  if (ia) memcpy(n.ia, ia, sizeof n.ia);
  if (fa) memcpy(n.fa, fa, sizeof n.fa);
  if (given) n.type = *given;
  char why[256];
  if (!ir_infer_type(b->g, &n, &n.type, why, sizeof why))
    internal_error(__FILE__, __LINE__, "building %s: %s", ir_ops[op].name, why);
  return ir_add(b->g, n);
}

int irb_un(IrBuilder *b, IrOp op, int x) { return irb_node(b, op, 1, &x, NULL, NULL, NULL); }

int irb_bin(IrBuilder *b, IrOp op, int x, int y) {
  return irb_node(b, op, 2, (int[]){x, y}, NULL, NULL, NULL);
}

int irb_const(IrBuilder *b, double v) {
  Type t = {DT_F32, SHAPE_SCALAR};
  double fa[IR_MAX_FA] = {v};
  return irb_node(b, IR_CONST, 0, NULL, NULL, fa, &t);
}

int irb_scalar(IrBuilder *b, IrScalar s) {
  for (int i = 0; i < b->g->len; i++)
    if (b->g->nodes[i].op == IR_SCALAR && b->g->nodes[i].ia[0] == s) return i;
  Type t = {DT_F32, SHAPE_SCALAR};
  int64_t ia[IR_MAX_IA] = {s};
  return irb_node(b, IR_SCALAR, 0, NULL, ia, NULL, &t);
}

int irb_reshape(IrBuilder *b, int x, Shape s) {
  if (shape_eq(&irb_type(b, x)->shape, &s)) return x;
  Type t = {irb_type(b, x)->dtype, s};
  return irb_node(b, IR_RESHAPE, 1, &x, NULL, NULL, &t);
}

int irb_broadcast(IrBuilder *b, int x, Shape s) {
  if (shape_eq(&irb_type(b, x)->shape, &s)) return x;
  Type t = {irb_type(b, x)->dtype, s};
  return irb_node(b, IR_BROADCAST, 1, &x, NULL, NULL, &t);
}

int irb_reduce(IrBuilder *b, IrOp op, int x, int64_t mask, bool keep) {
  int64_t ia[IR_MAX_IA] = {mask, keep};
  return irb_node(b, op, 1, &x, ia, NULL, NULL);
}

int irb_matmul(IrBuilder *b, int x, int y, bool ta, bool tb) {
  int64_t ia[IR_MAX_IA] = {ta, tb};
  return irb_node(b, IR_MATMUL, 2, (int[]){x, y}, ia, NULL, NULL);
}

int irb_matmul_fold(IrBuilder *b, int x, int y, bool ta, bool tb) {
  int64_t ia[IR_MAX_IA] = {ta, tb, 1};
  return irb_node(b, IR_MATMUL, 2, (int[]){x, y}, ia, NULL, NULL);
}

int irb_unbroadcast(IrBuilder *b, int x, Shape to) {
  const Shape *from = &irb_type(b, x)->shape;
  if (shape_eq(from, &to)) return x;
  int r = from->rank, lead = r - to.rank;
  int64_t mask = 0;
  for (int i = 0; i < r; i++) {
    int j = i - lead;
    if (j < 0 || (to.d[j] == 1 && from->d[i] != 1)) mask |= 1 << i;
  }
  int y = mask ? irb_reduce(b, IR_SUM, x, mask, true) : x;
  return irb_reshape(b, y, to);
}
