/* shape.c — the shape rule of every op (the SHAPE column of ops.def).
 *
 * A rule computes a node's result type from its operands and attributes, or
 * says why the operands are invalid. The elaborator builds nodes through
 * these rules and the verifier re-runs them on every node, so a pass that
 * breaks a shape is caught where it happens.
 */
#include "shape.h"

#include <stdio.h>
#include <string.h>

typedef bool ShapeRule(const IrGraph *g, const IrNode *n, Type *out, char *why,
                       size_t cap);

#define OPND(k) (&g->nodes[n->in[(k)]].type)

static bool fail(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(char *why, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return false;
}

static bool is_float(DType t) { return t == DT_F32 || t == DT_BF16 || t == DT_F16; }

bool broadcast_shapes(const Shape *a, const Shape *b, Shape *out) {
  int r = MAX(a->rank, b->rank);
  Shape s = {r, {0}};
  for (int i = 0; i < r; i++) {
    int ia = a->rank - r + i, ib = b->rank - r + i;
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da == db) s.d[i] = da;
    else if (da == 1) s.d[i] = db;
    else if (db == 1) s.d[i] = da;
    else return false;
  }
  *out = s;
  return true;
}

bool broadcastable_to(const Shape *from, const Shape *to) {
  Shape s;
  return from->rank <= to->rank && broadcast_shapes(from, to, &s) && shape_eq(&s, to);
}

/* The node's own type is the result (leaves, reshape, broadcast and the
 * gradient ops whose result has a known operand's shape); check operands. */
static bool shape_given(const IrGraph *g, const IrNode *n, Type *out, char *why,
                        size_t cap) {
  *out = n->type;
  char a[96], b[96];
  switch (n->op) {
  case IR_RESHAPE: {
    const Shape *x = &OPND(0)->shape;
    for (int i = 1; i < n->type.shape.rank; i++)
      if (n->type.shape.d[i] == IR_DIM_B)
        return fail(why, cap, "the batch dimension B can only be the first dimension of a reshape, not %s",
                    shape_str(&n->type.shape, b, sizeof b));
    for (int i = 1; i < x->rank; i++)
      if (x->d[i] == IR_DIM_B)
        return fail(why, cap, "cannot reshape %s: B is not its first dimension", type_str(OPND(0), a, sizeof a));
    if (shape_has_batch(x) != shape_has_batch(&n->type.shape) ||
        shape_numel(x, 1) != shape_numel(&n->type.shape, 1))
      return fail(why, cap, "cannot reshape %s to %s (element counts differ)",
                  type_str(OPND(0), a, sizeof a), shape_str(&n->type.shape, b, sizeof b));
    if (OPND(0)->dtype != n->type.dtype) return fail(why, cap, "reshape changes the dtype");
    return true;
  }
  case IR_BROADCAST:
    if (!broadcastable_to(&OPND(0)->shape, &n->type.shape))
      return fail(why, cap, "cannot broadcast %s to %s", type_str(OPND(0), a, sizeof a),
                  shape_str(&n->type.shape, b, sizeof b));
    return true;
  case IR_CONV2D_GRAD_INPUT: case IR_CONV2D_GRAD_WEIGHT:
  case IR_MAXPOOL2D_GRAD: case IR_AVGPOOL2D_GRAD:
    if (n->type.shape.rank != 4 && n->op != IR_MAXPOOL2D_GRAD && n->op != IR_AVGPOOL2D_GRAD)
      return fail(why, cap, "%s: result must have rank 4", ir_ops[n->op].name);
    return true;
  case IR_ONEHOT:
    if (OPND(0)->dtype != DT_I32 || OPND(0)->shape.rank != 1 || n->type.shape.rank != 2 ||
        n->type.shape.d[0] != OPND(0)->shape.d[0])
      return fail(why, cap, "onehot needs i32[N] labels and gives f32[N,K]");
    return true;
  default:
    return true;
  }
}

static bool shape_same(const IrGraph *g, const IrNode *n, Type *out, char *why,
                       size_t cap) {
  const Type *x = OPND(0);
  DType cast_to = n->type.dtype;  /* read before *out (which may be n->type) is written */
  if (!is_float(x->dtype))
    return fail(why, cap, "%s needs a floating-point tensor, not %s", ir_ops[n->op].name,
                dtype_name(x->dtype));
  *out = *x;
  if (n->op == IR_CAST) out->dtype = cast_to;
  return true;
}

static bool shape_scalar(const IrGraph *g, const IrNode *n, Type *out, char *why,
                         size_t cap) {
  (void)g, (void)why, (void)cap;
  if (n->op == IR_CORRECT) {
    const Type *l = OPND(0), *y = OPND(1);
    if (l->shape.rank != 2 || y->shape.rank != 1 || y->dtype != DT_I32 ||
        l->shape.d[0] != y->shape.d[0])
      return fail(why, cap, "correct needs logits [N,K] and i32 labels [N]");
  }
  *out = (Type){DT_F32, SHAPE_SCALAR};
  return true;
}

/* softmax_xent(logits f32[N,K], labels i32[N]) -> f32[N];
 * softmax_xent_grad(logits, labels, dy f32[N]) -> f32[N,K] */
static bool shape_xent(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *l = OPND(0), *y = OPND(1);
  char a[96], b[96];
  if (l->dtype != DT_F32 || l->shape.rank != 2 || y->dtype != DT_I32 || y->shape.rank != 1 ||
      l->shape.d[0] != y->shape.d[0])
    return fail(why, cap, "softmax cross-entropy needs f32 logits [N,K] and i32 labels [N], not %s and %s",
                type_str(l, a, sizeof a), type_str(y, b, sizeof b));
  if (n->fa[0] < 0 || n->fa[0] >= 1) return fail(why, cap, "label smoothing must be in [0, 1), not %g", n->fa[0]);
  if (n->op == IR_XENT_GRAD) {
    const Type *dy = OPND(2);
    if (dy->dtype != DT_F32 || dy->shape.rank != 1 || dy->shape.d[0] != l->shape.d[0])
      return fail(why, cap, "softmax_xent_grad needs an f32 [N] gradient, not %s", type_str(dy, a, sizeof a));
    *out = *l;
    return true;
  }
  *out = (Type){DT_F32, SHAPE(l->shape.d[0])};
  return true;
}

static bool shape_none(const IrGraph *g, const IrNode *n, Type *out, char *why,
                       size_t cap) {
  (void)g, (void)n, (void)why, (void)cap;
  *out = (Type){DT_F32, SHAPE_SCALAR};
  return true;
}

static bool shape_broadcast(const IrGraph *g, const IrNode *n, Type *out, char *why,
                            size_t cap) {
  const Type *a = OPND(0), *b = OPND(1);
  char sa[96], sb[96];
  if (a->dtype != b->dtype || !is_float(a->dtype))
    return fail(why, cap, "%s needs two floating-point tensors of one dtype, not %s and %s",
                ir_ops[n->op].name, type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb));
  Shape s;
  if (!broadcast_shapes(&a->shape, &b->shape, &s))
    return fail(why, cap, "shapes %s and %s do not broadcast", type_str(a, sa, sizeof sa),
                type_str(b, sb, sizeof sb));
  *out = (Type){a->dtype, s};
  return true;
}

static bool shape_reduce(const IrGraph *g, const IrNode *n, Type *out, char *why,
                         size_t cap) {
  const Type *x = OPND(0);
  int64_t mask = n->ia[0];
  if (!is_float(x->dtype)) return fail(why, cap, "cannot reduce a %s tensor", dtype_name(x->dtype));
  if (mask == 0 || (mask >> x->shape.rank) != 0)
    return fail(why, cap, "reduction axes are out of range for rank %d", x->shape.rank);
  Shape s = {0, {0}};
  for (int i = 0; i < x->shape.rank; i++) {
    if (mask & (1 << i)) {
      if (n->ia[1]) s.d[s.rank++] = 1;
    } else {
      s.d[s.rank++] = x->shape.d[i];
    }
  }
  *out = (Type){x->dtype, s};
  return true;
}

static bool shape_matmul(const IrGraph *g, const IrNode *n, Type *out, char *why,
                         size_t cap) {
  const Type *a = OPND(0), *b = OPND(1);
  char sa[96], sb[96];
  if (a->shape.rank != 2 || b->shape.rank != 2)
    return fail(why, cap, "'@' needs two matrices, not %s and %s", type_str(a, sa, sizeof sa),
                type_str(b, sb, sizeof sb));
  if (a->dtype != b->dtype || !is_float(a->dtype))
    return fail(why, cap, "'@' needs two floating-point matrices of one dtype, not %s and %s",
                type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb));
  int64_t m = a->shape.d[n->ia[0] ? 1 : 0], ka = a->shape.d[n->ia[0] ? 0 : 1];
  int64_t kb = b->shape.d[n->ia[1] ? 1 : 0], nn = b->shape.d[n->ia[1] ? 0 : 1];
  if (ka != kb)
    return fail(why, cap, "inner dimensions of %s%s @ %s%s differ", type_str(a, sa, sizeof sa),
                n->ia[0] ? "^T" : "", type_str(b, sb, sizeof sb), n->ia[1] ? "^T" : "");
  *out = (Type){a->dtype, SHAPE(m, nn)};
  return true;
}

static bool shape_conv2d(const IrGraph *g, const IrNode *n, Type *out, char *why,
                         size_t cap) {
  const Type *x = OPND(0), *w = OPND(1);
  char sx[96], sw[96];
  if (x->shape.rank != 4 || w->shape.rank != 4)
    return fail(why, cap, "conv needs an input [N,C,H,W] and a filter [O,C,KH,KW], not %s and %s",
                type_str(x, sx, sizeof sx), type_str(w, sw, sizeof sw));
  if (x->shape.d[1] != w->shape.d[1])
    return fail(why, cap, "conv input %s has %lld channels but the filter %s expects %lld",
                type_str(x, sx, sizeof sx), (long long)x->shape.d[1],
                type_str(w, sw, sizeof sw), (long long)w->shape.d[1]);
  int64_t sh = n->ia[0], sw_ = n->ia[1], ph = n->ia[2], pw = n->ia[3];
  if (sh < 1 || sw_ < 1 || ph < 0 || pw < 0)
    return fail(why, cap, "conv needs stride >= 1 and padding >= 0");
  int64_t oh = (x->shape.d[2] + 2 * ph - w->shape.d[2]) / sh + 1;
  int64_t ow = (x->shape.d[3] + 2 * pw - w->shape.d[3]) / sw_ + 1;
  if (x->shape.d[2] + 2 * ph < w->shape.d[2] || x->shape.d[3] + 2 * pw < w->shape.d[3])
    return fail(why, cap, "the %lldx%lld filter is larger than the padded %lldx%lld input",
                (long long)w->shape.d[2], (long long)w->shape.d[3],
                (long long)(x->shape.d[2] + 2 * ph), (long long)(x->shape.d[3] + 2 * pw));
  *out = (Type){x->dtype, SHAPE(x->shape.d[0], w->shape.d[0], oh, ow)};
  return true;
}

static bool shape_pool2d(const IrGraph *g, const IrNode *n, Type *out, char *why,
                         size_t cap) {
  const Type *x = OPND(0);
  int r = x->shape.rank;
  char sx[96];
  if (r < 3)
    return fail(why, cap, "pooling needs an input with at least [C,H,W], not %s",
                type_str(x, sx, sizeof sx));
  int64_t kh = n->ia[0], kw = n->ia[1], sh = n->ia[2], sw = n->ia[3], ph = n->ia[4], pw = n->ia[5];
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0)
    return fail(why, cap, "pooling needs window and stride >= 1 and padding >= 0");
  if (2 * ph > kh || 2 * pw > kw)
    return fail(why, cap, "pooling padding must be at most half the window");
  int64_t h = x->shape.d[r - 2], w = x->shape.d[r - 1];
  if (h + 2 * ph < kh || w + 2 * pw < kw)
    return fail(why, cap, "the %lldx%lld window is larger than the %lldx%lld input",
                (long long)kh, (long long)kw, (long long)h, (long long)w);
  Type t = *x;
  t.shape.d[r - 2] = (h + 2 * ph - kh) / sh + 1;
  t.shape.d[r - 1] = (w + 2 * pw - kw) / sw + 1;
  *out = t;
  return true;
}

static ShapeRule *const rules[IR_NUM_OPS] = {
#define OP(id, name, arity, cls, shape, grad, cost, rows, flags) [IR_##id] = shape,
#include "ops.def"
#undef OP
};

bool ir_infer_type(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  why[0] = 0;
  return rules[n->op](g, n, out, why, cap);
}
