/* autodiff.c — compile-time reverse-mode differentiation (the GRAD column of
 * ops.def). All derivative rules are here, a few lines each; every one is
 * checked against central finite differences in tests/unit/test_autodiff.c.
 *
 * Only nodes that depend on a variable being differentiated get adjoints, so
 * no work is emitted for, e.g., the gradient with respect to the input batch.
 */
#include "autodiff.h"

#include <stdlib.h>
#include <string.h>

#include "irb.h"

typedef struct Ad {
  const IrProgram *p;
  IrBuilder b;
  int *adj;          /* adjoint node of each forward node, or -1 */
  bool *needs;       /* forward node depends on a differentiated variable */
} Ad;

typedef void GradRule(Ad *ad, int i, int dy);

#define N(i) (&ad->b.g->nodes[(i)])
#define IN(i, k) (N(i)->in[(k)])
#define SHP(i) (N(i)->type.shape)

/* Adds `d` to the adjoint of operand k of node i (if it needs one). */
static void contrib(Ad *ad, int i, int k, int d) {
  int x = IN(i, k);
  if (!ad->needs[x]) return;
  if (ad->adj[x] < 0) ad->adj[x] = d;
  else ad->adj[x] = irb_bin(&ad->b, IR_ADD, ad->adj[x], d);
}

/* contrib after summing a broadcast gradient down to the operand's shape */
static void contrib_unb(Ad *ad, int i, int k, int d) {
  if (!ad->needs[IN(i, k)]) return;
  contrib(ad, i, k, irb_unbroadcast(&ad->b, d, SHP(IN(i, k))));
}

static int mul(Ad *ad, int x, int y) { return irb_bin(&ad->b, IR_MUL, x, y); }
static int cst(Ad *ad, double v) { return irb_const(&ad->b, v); }

static void grad_leaf(Ad *ad, int i, int dy) { (void)ad, (void)i, (void)dy; }
static void grad_zero(Ad *ad, int i, int dy) { (void)ad, (void)i, (void)dy; }
static void grad_none(Ad *ad, int i, int dy) {
  (void)dy;
  internal_error(__FILE__, __LINE__, "%s has no derivative rule", ir_ops[N(i)->op].name);
}

/* y = -x:            dx = -dy */
static void grad_neg(Ad *ad, int i, int dy) { contrib(ad, i, 0, irb_un(&ad->b, IR_NEG, dy)); }
/* y = exp x:         dx = dy * y */
static void grad_exp(Ad *ad, int i, int dy) { contrib(ad, i, 0, mul(ad, dy, i)); }
/* y = log x:         dx = dy / x */
static void grad_log(Ad *ad, int i, int dy) {
  contrib(ad, i, 0, irb_bin(&ad->b, IR_DIV, dy, IN(i, 0)));
}
/* y = sqrt x:        dx = dy * 0.5 / y */
static void grad_sqrt(Ad *ad, int i, int dy) {
  contrib(ad, i, 0, irb_bin(&ad->b, IR_DIV, mul(ad, dy, cst(ad, 0.5)), i));
}
/* y = x^-1/2:        dx = dy * -0.5 * y^3 */
static void grad_rsqrt(Ad *ad, int i, int dy) {
  int y3 = mul(ad, mul(ad, i, i), i);
  contrib(ad, i, 0, mul(ad, mul(ad, dy, cst(ad, -0.5)), y3));
}
/* y = tanh x:        dx = dy * (1 - y^2) */
static void grad_tanh(Ad *ad, int i, int dy) {
  int one_minus = irb_bin(&ad->b, IR_SUB, cst(ad, 1.0), mul(ad, i, i));
  contrib(ad, i, 0, mul(ad, dy, one_minus));
}
/* y = sigmoid x:     dx = dy * y * (1 - y) */
static void grad_sigmoid(Ad *ad, int i, int dy) {
  int one_minus = irb_bin(&ad->b, IR_SUB, cst(ad, 1.0), i);
  contrib(ad, i, 0, mul(ad, mul(ad, dy, i), one_minus));
}
/* y = max(x, 0):     dx = dy * (y > 0)   (reads y, so x need not be kept) */
static void grad_relu(Ad *ad, int i, int dy) {
  contrib(ad, i, 0, irb_bin(&ad->b, IR_RELU_GRAD, i, dy));
}
/* y = gelu x:       dx = gelu_grad(x, dy) = dy (Phi(x) + x phi(x)) */
static void grad_gelu(Ad *ad, int i, int dy) {
  contrib(ad, i, 0, irb_bin(&ad->b, IR_GELU_GRAD, IN(i, 0), dy));
}
/* y = |x|:           dx = dy * ((x > 0) - (0 > x)) */
static void grad_abs(Ad *ad, int i, int dy) {
  int x = IN(i, 0), zero = cst(ad, 0.0);
  int sign = irb_bin(&ad->b, IR_SUB, irb_bin(&ad->b, IR_GT, x, zero), irb_bin(&ad->b, IR_GT, zero, x));
  contrib(ad, i, 0, mul(ad, dy, sign));
}
/* y = cast x:        dx = cast dy back to x's dtype */
static void grad_cast(Ad *ad, int i, int dy) {
  if (!ad->needs[IN(i, 0)]) return;  /* from integers: nothing to differentiate */
  Type t = N(IN(i, 0))->type;
  contrib(ad, i, 0, irb_node(&ad->b, IR_CAST, 1, &dy, NULL, NULL, &t));
}

/* y = a + b:         da = dy, db = dy   (summed over broadcast axes) */
static void grad_add(Ad *ad, int i, int dy) {
  contrib_unb(ad, i, 0, dy);
  contrib_unb(ad, i, 1, dy);
}
/* y = a + c b (c != 0), else a, c a gate that is not differentiated:
 *                    da = dy, db = c dy  (the gradient a dropped block never reads) */
static void grad_gated_add(Ad *ad, int i, int dy) {
  contrib_unb(ad, i, 0, dy);
  if (ad->needs[IN(i, 1)]) contrib_unb(ad, i, 1, mul(ad, dy, IN(i, 2)));
}
/* y = a - b:         da = dy, db = -dy */
static void grad_sub(Ad *ad, int i, int dy) {
  contrib_unb(ad, i, 0, dy);
  if (ad->needs[IN(i, 1)]) contrib_unb(ad, i, 1, irb_un(&ad->b, IR_NEG, dy));
}
/* y = a * b:         da = dy * b, db = dy * a */
static void grad_mul(Ad *ad, int i, int dy) {
  if (ad->needs[IN(i, 0)]) contrib_unb(ad, i, 0, mul(ad, dy, IN(i, 1)));
  if (ad->needs[IN(i, 1)]) contrib_unb(ad, i, 1, mul(ad, dy, IN(i, 0)));
}
/* y = a / b:         da = dy / b, db = -dy * y / b */
static void grad_div(Ad *ad, int i, int dy) {
  int b = IN(i, 1);
  if (ad->needs[IN(i, 0)]) contrib_unb(ad, i, 0, irb_bin(&ad->b, IR_DIV, dy, b));
  if (ad->needs[b]) {
    int t = irb_bin(&ad->b, IR_DIV, mul(ad, dy, i), b);
    contrib_unb(ad, i, 1, irb_un(&ad->b, IR_NEG, t));
  }
}
/* y = max(a, b):     da = dy * (a >= b), db = dy * (1 - (a >= b))   (ties go to a) */
static void grad_maximum(Ad *ad, int i, int dy) {
  int m = irb_bin(&ad->b, IR_GE, IN(i, 0), IN(i, 1));
  if (ad->needs[IN(i, 0)]) contrib_unb(ad, i, 0, mul(ad, dy, m));
  if (ad->needs[IN(i, 1)])
    contrib_unb(ad, i, 1, mul(ad, dy, irb_bin(&ad->b, IR_SUB, cst(ad, 1.0), m)));
}
/* y = min(a, b):     da = dy * (b >= a), db = dy * (1 - (b >= a))   (ties go to a) */
static void grad_minimum(Ad *ad, int i, int dy) {
  int m = irb_bin(&ad->b, IR_GE, IN(i, 1), IN(i, 0));
  if (ad->needs[IN(i, 0)]) contrib_unb(ad, i, 0, mul(ad, dy, m));
  if (ad->needs[IN(i, 1)])
    contrib_unb(ad, i, 1, mul(ad, dy, irb_bin(&ad->b, IR_SUB, cst(ad, 1.0), m)));
}

/* y = reshape x:     dx = reshape dy */
static void grad_reshape(Ad *ad, int i, int dy) {
  contrib(ad, i, 0, irb_reshape(&ad->b, dy, SHP(IN(i, 0))));
}
/* y = broadcast x:   dx = dy summed over the broadcast axes */
static void grad_broadcast(Ad *ad, int i, int dy) { contrib_unb(ad, i, 0, dy); }

/* dy of a reduction, reshaped with the reduced axes kept (as size 1) */
static int keep_dims(Ad *ad, int i, int dy) {
  const Shape *xs = &SHP(IN(i, 0));
  Shape k = *xs;
  for (int a = 0; a < xs->rank; a++)
    if (N(i)->ia[0] & (1 << a)) k.d[a] = 1;
  return irb_reshape(&ad->b, dy, k);
}
/* y = sum_axes x:    dx = broadcast dy */
static void grad_sum(Ad *ad, int i, int dy) {
  contrib(ad, i, 0, irb_broadcast(&ad->b, keep_dims(ad, i, dy), SHP(IN(i, 0))));
}
/* y = mean_axes x:   dx = broadcast dy / count  (count includes B at run time) */
static void grad_mean(Ad *ad, int i, int dy) {
  const Shape xs = SHP(IN(i, 0));  /* a copy: adding nodes moves the node array */
  double count = 1;
  bool batch = false;
  for (int a = 0; a < xs.rank; a++)
    if (N(i)->ia[0] & (1 << a)) {
      if (xs.d[a] == IR_DIM_B) batch = true;
      else count *= (double)xs.d[a];
    }
  int scale = cst(ad, 1.0 / count);
  if (batch) scale = irb_bin(&ad->b, IR_DIV, scale, irb_scalar(&ad->b, SC_ROWS));
  int d = mul(ad, keep_dims(ad, i, dy), scale);
  contrib(ad, i, 0, irb_broadcast(&ad->b, d, xs));
}
/* y = max_axes x:    dx = dy where x equals the maximum (every tie gets dy) */
static void grad_max(Ad *ad, int i, int dy) {
  int x = IN(i, 0);
  const Shape xs = SHP(x);  /* a copy: adding nodes moves the node array */
  int y = keep_dims(ad, i, i);
  int mask = irb_bin(&ad->b, IR_GE, x, irb_broadcast(&ad->b, y, xs));
  contrib(ad, i, 0, mul(ad, mask, irb_broadcast(&ad->b, keep_dims(ad, i, dy), xs)));
}

/* The gradient of a product's operand as op(x) op(y), summed down to the
 * operand's shape `to` where the operand was broadcast over leading axes: a
 * matrix operand of a batched product gets one folded product (the sum over
 * the batch as a single GEMM over its rows), anything else a batched product
 * summed over the broadcast axes. */
static int matmul_grad(Ad *ad, int x, int y, bool tx, bool ty, Shape to) {
  Shape lx = SHP(x), ly = SHP(y);
  lx.rank -= 2, ly.rank -= 2;
  if (to.rank == 2 && lx.rank > 0 && shape_eq(&lx, &ly)) return irb_matmul_fold(&ad->b, x, y, tx, ty);
  return irb_unbroadcast(&ad->b, irb_matmul(&ad->b, x, y, tx, ty), to);
}

/* y = op(a) op(b):   da = dy op(b)^T (or op(b) dy^T when a is stored
 *                    transposed), db = op(a)^T dy (or dy^T op(a)), each
 *                    summed over the leading axes its operand was broadcast on */
static void grad_matmul(Ad *ad, int i, int dy) {
  int a = IN(i, 0), b = IN(i, 1);
  bool ta = N(i)->ia[0], tb = N(i)->ia[1];
  Shape as = SHP(a), bs = SHP(b);
  if (ad->needs[a]) contrib(ad, i, 0, ta ? matmul_grad(ad, b, dy, tb, true, as) : matmul_grad(ad, dy, b, false, !tb, as));
  if (ad->needs[b]) contrib(ad, i, 1, tb ? matmul_grad(ad, dy, a, true, ta, bs) : matmul_grad(ad, a, dy, !ta, false, bs));
}

/* y = permute(x, p): dx = permute(dy, p^-1) */
static void grad_permute(Ad *ad, int i, int dy) {
  int64_t inv[IR_MAX_IA] = {0};
  for (int k = 0; k < SHP(i).rank; k++) inv[N(i)->ia[k]] = k;
  contrib(ad, i, 0, irb_node(&ad->b, IR_PERMUTE, 1, &dy, inv, NULL, NULL));
}
/* y = x[s:s+n]:      dx = zeros with dy at [s:s+n] */
static void grad_slice(Ad *ad, int i, int dy) {
  Type t = N(IN(i, 0))->type;
  contrib(ad, i, 0, irb_node(&ad->b, IR_PAD, 1, &dy, N(i)->ia, NULL, &t));
}
/* y = concat(x_0, x_1, ...) along an axis: dx_k = the k-th piece of dy */
static void grad_concat(Ad *ad, int i, int dy) {
  int ax = (int)N(i)->ia[0], nin = N(i)->nin;
  int64_t at = 0;
  for (int k = 0; k < nin; k++) {
    Type t = N(IN(i, k))->type;
    if (ad->needs[IN(i, k)]) {
      int64_t ia[IR_MAX_IA] = {0};
      ia[ax] = at;
      t.dtype = N(dy)->type.dtype;
      contrib(ad, i, k, irb_node(&ad->b, IR_SLICE, 1, &dy, ia, NULL, &t));
    }
    at += N(IN(i, k))->type.shape.d[ax];
  }
}
/* y = where(c, a, b): da = where(c, dy, 0), db = where(c, 0, dy) (summed over
 * broadcast axes); no gradient for the mask */
static void grad_where(Ad *ad, int i, int dy) {
  int c = IN(i, 0), zero = cst(ad, 0.0);
  if (ad->needs[IN(i, 1)]) contrib_unb(ad, i, 1, irb_node(&ad->b, IR_WHERE, 3, (int[]){c, dy, zero}, NULL, NULL, NULL));
  if (ad->needs[IN(i, 2)]) contrib_unb(ad, i, 2, irb_node(&ad->b, IR_WHERE, 3, (int[]){c, zero, dy}, NULL, NULL, NULL));
}
/* y = softmax x:     dx = y (dy - sum(dy y)) per row */
static void grad_softmax(Ad *ad, int i, int dy) { contrib(ad, i, 0, irb_bin(&ad->b, IR_SOFTMAX_GRAD, i, dy)); }
/* y = log_softmax x: dx = dy - exp(y) sum(dy) per row */
static void grad_log_softmax(Ad *ad, int i, int dy) { contrib(ad, i, 0, irb_bin(&ad->b, IR_LOG_SOFTMAX_GRAD, i, dy)); }
/* y = layernorm x:   dx = rstd (dy - mean(dy) - xhat mean(dy xhat)) per row */
static void grad_layernorm(Ad *ad, int i, int dy) {
  contrib(ad, i, 0, irb_node(&ad->b, IR_LAYERNORM_GRAD, 2, (int[]){IN(i, 0), dy}, NULL, N(i)->fa, NULL));
}
/* y = gather(table, idx): dtable = scatter_add(idx, dy) */
static void grad_gather(Ad *ad, int i, int dy) {
  Type t = N(IN(i, 0))->type;
  contrib(ad, i, 0, irb_node(&ad->b, IR_SCATTER_ADD, 2, (int[]){IN(i, 1), dy}, NULL, NULL, &t));
}

/* y = conv(x, w):    dx = conv2d_grad_input(dy, w), dw = conv2d_grad_weight(x, dy) */
static void grad_conv2d(Ad *ad, int i, int dy) {
  int x = IN(i, 0), w = IN(i, 1);
  if (ad->needs[x])
    contrib(ad, i, 0, irb_node(&ad->b, IR_CONV2D_GRAD_INPUT, 2, (int[]){dy, w}, N(i)->ia, NULL,
                               &N(x)->type));
  if (ad->needs[w])
    contrib(ad, i, 1, irb_node(&ad->b, IR_CONV2D_GRAD_WEIGHT, 2, (int[]){x, dy}, N(i)->ia, NULL,
                               &N(w)->type));
}

/* y = maxpool x:     dx = dy routed to each window's first maximum */
static void grad_maxpool2d(Ad *ad, int i, int dy) {
  int x = IN(i, 0);
  contrib(ad, i, 0, irb_node(&ad->b, IR_MAXPOOL2D_GRAD, 2, (int[]){x, dy}, N(i)->ia, NULL, &N(x)->type));
}
/* y = avgpool x:     dx = dy spread evenly over each window */
static void grad_avgpool2d(Ad *ad, int i, int dy) {
  int x = IN(i, 0);
  contrib(ad, i, 0, irb_node(&ad->b, IR_AVGPOOL2D_GRAD, 1, &dy, N(i)->ia, NULL, &N(x)->type));
}

/* y = softmax_xent(s, labels): ds = (softmax(s) - t) * dy, row by row */
static void grad_xent(Ad *ad, int i, int dy) {
  int s = IN(i, 0);
  if (!ad->needs[s]) return;
  int in[3] = {s, IN(i, 1), dy};
  contrib(ad, i, 0, irb_node(&ad->b, IR_XENT_GRAD, 3, in, NULL, N(i)->fa, NULL));
}

static GradRule *const rules[IR_NUM_OPS] = {
#define OP(id, name, arity, cls, shape, grad, cost, rows, flags) [IR_##id] = grad,
#include "ops.def"
#undef OP
};

bool ir_op_differentiable(IrOp op) {
  return rules[op] != grad_zero && rules[op] != grad_none;
}

int ir_autodiff(const IrProgram *p, IrGraph *g, int loss, const bool *wrt, int *grads) {
  int n = g->len;
  Ad ad = {p, {g, NO_LOC, -1, ROLE_BACKWARD, NULL}, NULL, NULL};
  ad.adj = xmalloc(sizeof(int) * (size_t)n);
  ad.needs = xcalloc((size_t)n, sizeof(bool));
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &g->nodes[i];
    ad.adj[i] = -1;
    if (nd->op == IR_PARAM) {
      ad.needs[i] = wrt[nd->ia[0]];
    } else if (rules[nd->op] != grad_zero && rules[nd->op] != grad_leaf) {
      for (int k = 0; k < nd->nin; k++)
        if (ad.needs[nd->in[k]]) ad.needs[i] = true;
    }
  }
  for (int v = 0; v < p->vars.len; v++) grads[v] = -1;
  int first = g->len;
  if (ad.needs[loss]) {
    ad.b.loc = g->nodes[loss].loc;
    ad.adj[loss] = irb_const(&ad.b, 1.0);
    for (int i = loss; i >= 0; i--) {
      if (ad.adj[i] < 0 || !ad.needs[i]) continue;
      const IrNode nd = g->nodes[i];  /* copy: g->nodes moves as nodes are added */
      ad.b.loc = nd.loc;
      ad.b.layer = nd.layer;
      ad.b.scope = nd.scope;
      if (nd.op == IR_PARAM) {
        grads[nd.ia[0]] = ad.adj[i];
        continue;
      }
      rules[nd.op](&ad, i, ad.adj[i]);
    }
  }
  free(ad.adj);
  free(ad.needs);
  return first;
}
