/* cost.c — the cost rule of every op (the COST column of ops.def): floating-
 * point operations and bytes moved for one execution at a given batch size.
 * Transcendentals count 4 FLOPs; bytes count each operand read and the
 * result written once (a roofline, not a cache model). */
#include "cost.h"

typedef IrCost CostRule(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch);

static double numel(const Type *t, int64_t batch) {
  return (double)shape_numel(&t->shape, batch);
}

static double bytes_of(const Type *t, int64_t batch) {
  return numel(t, batch) * dtype_size(t->dtype);
}

static double io_bytes(const IrGraph *g, const IrNode *n, int64_t batch) {
  double b = ir_ops[n->op].cls == EFFECT ? 0 : bytes_of(&n->type, batch);
  for (int k = 0; k < n->nin; k++) {
    const IrNode *o = &g->nodes[n->in[k]];
    if (o->op != IR_CONST) b += bytes_of(&o->type, batch);
  }
  return b;
}

static IrCost cost_none(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p, (void)g, (void)n, (void)batch;
  return (IrCost){0, 0};
}

static IrCost cost_ew0(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  return (IrCost){0, io_bytes(g, n, batch)};
}

static IrCost cost_ew1(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  return (IrCost){numel(&n->type, batch), io_bytes(g, n, batch)};
}

static IrCost cost_ew4(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  return (IrCost){4 * numel(&n->type, batch), io_bytes(g, n, batch)};
}

static IrCost cost_reduce(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  return (IrCost){numel(&g->nodes[n->in[0]].type, batch), io_bytes(g, n, batch)};
}

/* per logit: max, subtract, exp (4), sum, and a multiply-add with the target */
static IrCost cost_xent(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  return (IrCost){8 * numel(&g->nodes[n->in[0]].type, batch), io_bytes(g, n, batch)};
}

/* a row-wise pass over the last axis (softmax, layer norm): ~8 FLOPs per element of x */
static IrCost cost_row8(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  return (IrCost){8 * numel(&g->nodes[n->in[0]].type, batch), io_bytes(g, n, batch)};
}

/* 2 M N K per product (a folded product: per leading index) */
static IrCost cost_matmul(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  const Shape *a = &g->nodes[n->in[0]].type.shape;
  int64_t k = a->d[a->rank - (n->ia[0] ? 2 : 1)];
  if (k == IR_DIM_B) k = batch;
  double products = numel(&n->type, batch);
  if (n->ia[2]) /* y [M, N] summed over a's leading axes */
    for (int i = 0; i < a->rank - 2; i++) products *= a->d[i] == IR_DIM_B ? (double)batch : (double)a->d[i];
  return (IrCost){2.0 * products * (double)k, io_bytes(g, n, batch)};
}

/* 2 N O OH OW C KH KW, from the forward shapes */
static double conv_flops(const Shape *y, const Shape *w, int64_t batch) {
  double nb = y->d[0] == IR_DIM_B ? (double)batch : (double)y->d[0];
  return 2.0 * nb * (double)(y->d[1] * y->d[2] * y->d[3]) * (double)(w->d[1] * w->d[2] * w->d[3]);
}

static IrCost cost_conv2d(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  return (IrCost){conv_flops(&n->type.shape, &g->nodes[n->in[1]].type.shape, batch),
                  io_bytes(g, n, batch)};
}

/* grad_input (dy, w) and grad_weight (x, dy) cost what the forward costs */
static IrCost cost_conv2d_grad(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  const Shape *dy = n->op == IR_CONV2D_GRAD_INPUT ? &g->nodes[n->in[0]].type.shape
                                                  : &g->nodes[n->in[1]].type.shape;
  const Shape *w = n->op == IR_CONV2D_GRAD_INPUT ? &g->nodes[n->in[1]].type.shape : &n->type.shape;
  return (IrCost){conv_flops(dy, w, batch), io_bytes(g, n, batch)};
}

static IrCost cost_pool(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  double out = numel(n->op == IR_MAXPOOL2D_GRAD || n->op == IR_AVGPOOL2D_GRAD
                         ? &g->nodes[n->in[n->nin - 1]].type
                         : &n->type,
                     batch);
  return (IrCost){out * (double)(n->ia[0] * n->ia[1]), io_bytes(g, n, batch)};
}

/* a running average fused into an update (passes/average.c): (1 - a) avg +
 * a w, 3 FLOPs (4 with copy-back's select) and the average read and written
 * per element; w is in a register already */
static IrCost average_in_update(const IrNode *n, double e) {
  if (!n->ia[IR_UPDATE_AVERAGE]) return (IrCost){0, 0};
  return (IrCost){(n->ia[IR_UPDATE_AVERAGE] == 2 ? 4 : 3) * e, 2 * 4 * e};
}

/* area: each input pixel read once per output row band; bilinear: 4 reads per output */
static IrCost cost_resize(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)p;
  double in = numel(&g->nodes[n->in[0]].type, batch), out = numel(&n->type, batch);
  return (IrCost){n->ia[0] == RESIZE_AREA ? in + out : 8 * out, io_bytes(g, n, batch)};
}

/* w -= lr * (momentum buffer update): ~4 FLOPs and 5 accesses per element */
static IrCost cost_sgd(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)g, (void)batch;
  double e = (double)shape_numel(&p->vars.data[n->ia[0]].shape, 1);
  bool momentum = n->ia[1] >= 0;
  IrCost avg = average_in_update(n, e);
  return (IrCost){(momentum ? 4 : 2) * e + avg.flops, (momentum ? 5 : 3) * 4 * e + avg.bytes};
}

/* AdamW: ~14 FLOPs (one sqrt) and 7 accesses per element */
static IrCost cost_adamw(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)g, (void)batch;
  double e = (double)shape_numel(&p->vars.data[n->ia[0]].shape, 1);
  IrCost avg = average_in_update(n, e);
  return (IrCost){14 * e + avg.flops, 7 * 4 * e + avg.bytes};
}

/* a running average on its own (a frozen parameter's): 3 FLOPs, w and avg
 * read, avg written */
static IrCost cost_average(const IrProgram *p, const IrGraph *g, const IrNode *n, int64_t batch) {
  (void)g, (void)batch;
  double e = (double)shape_numel(&p->vars.data[n->ia[0]].shape, 1);
  return (IrCost){3 * e, 3 * 4 * e};
}

static CostRule *const rules[IR_NUM_OPS] = {
#define OP(id, name, arity, cls, shape, grad, cost, rows, flags) [IR_##id] = cost,
#include "ops.def"
#undef OP
};

IrCost ir_node_cost(const IrProgram *p, const IrGraph *g, int i, int64_t batch) {
  return rules[g->nodes[i].op](p, g, &g->nodes[i], batch);
}

IrCost ir_average_cost(const IrProgram *p, const IrGraph *g, int i, int64_t *elements) {
  const IrNode *n = &g->nodes[i];
  *elements = 0;
  bool fused = (n->op == IR_SGD_UPDATE || n->op == IR_ADAMW_UPDATE) && n->ia[IR_UPDATE_AVERAGE];
  if (!fused && n->op != IR_AVERAGE) return (IrCost){0, 0};
  *elements = shape_numel(&p->vars.data[n->ia[0]].shape, 1);
  return fused ? average_in_update(n, (double)*elements) : cost_average(p, g, n, 1);
}

IrCost ir_graph_cost(const IrProgram *p, const IrGraph *g, int64_t batch, int role) {
  IrCost c = {0, 0};
  for (int i = 0; i < g->len; i++) {
    if (role >= 0 && (int)g->nodes[i].role != role) continue;
    IrCost k = ir_node_cost(p, g, i, batch);
    c.flops += k.flops;
    c.bytes += k.bytes;
  }
  return c;
}
