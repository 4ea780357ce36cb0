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

static const char *perm_str(const int64_t *p, int r, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = 0;
  for (int k = 0; k < r && n < cap; k++) n += (size_t)snprintf(buf + n, cap - n, "%s%lld", k ? ", " : "", (long long)p[k]);
  return buf;
}

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
  case IR_RESIZE2D: {
    const Shape *x = &OPND(0)->shape, *y = &n->type.shape;
    bool ok = x->rank == y->rank && x->rank >= 2 && OPND(0)->dtype == DT_F32 && n->type.dtype == DT_F32;
    for (int i = 0; ok && i < x->rank - 2; i++) ok = x->d[i] == y->d[i];
    for (int i = x->rank - 2; ok && i < x->rank; i++) ok = y->d[i] >= 1 && x->d[i] >= 1 && x->d[i] != IR_DIM_B;
    if (!ok)
      return fail(why, cap, "resize2d: %s cannot be resized to %s", type_str(OPND(0), a, sizeof a),
                  type_str(&n->type, b, sizeof b));
    return true;
  }
  case IR_CONV2D_GRAD_INPUT: case IR_CONV2D_GRAD_WEIGHT:
  case IR_MAXPOOL2D_GRAD: case IR_AVGPOOL2D_GRAD:
    if (n->type.shape.rank != 4 && n->op != IR_MAXPOOL2D_GRAD && n->op != IR_AVGPOOL2D_GRAD)
      return fail(why, cap, "%s: result must have rank 4", ir_ops[n->op].name);
    return true;
  case IR_PAD: {
    const Shape *x = &OPND(0)->shape, *y = &n->type.shape;
    if (x->rank != y->rank || OPND(0)->dtype != n->type.dtype)
      return fail(why, cap, "pad: %s does not fit in %s", type_str(OPND(0), a, sizeof a), type_str(&n->type, b, sizeof b));
    for (int i = 0; i < x->rank; i++)
      if ((x->d[i] == IR_DIM_B) != (y->d[i] == IR_DIM_B) ||
          (x->d[i] != IR_DIM_B && (n->ia[i] < 0 || n->ia[i] + x->d[i] > y->d[i])) || (x->d[i] == IR_DIM_B && n->ia[i]))
        return fail(why, cap, "pad: %s does not fit in %s at axis %d", type_str(OPND(0), a, sizeof a),
                    type_str(&n->type, b, sizeof b), i);
    return true;
  }
  case IR_SCATTER_ADD: {
    const Type *idx = OPND(0), *dy = OPND(1);
    const Shape *t = &n->type.shape;
    bool ok = idx->dtype == DT_I32 && is_float(dy->dtype) && t->rank >= 1 && !shape_has_batch(t) &&
              dy->shape.rank == idx->shape.rank + t->rank - 1;
    for (int i = 0; ok && i < idx->shape.rank; i++) ok = dy->shape.d[i] == idx->shape.d[i];
    for (int i = 1; ok && i < t->rank; i++) ok = dy->shape.d[idx->shape.rank + i - 1] == t->d[i];
    if (!ok)
      return fail(why, cap, "scatter_add: %s rows at %s do not fit in %s", type_str(dy, a, sizeof a),
                  type_str(idx, b, sizeof b), shape_str(t, b, sizeof b));
    return true;
  }
  case IR_ARANGE:
    if (n->type.dtype != DT_I32 || n->type.shape.rank != 1 || n->type.shape.d[0] == IR_DIM_B)
      return fail(why, cap, "arange gives i32[n]");
    return true;
  case IR_TRIL:
    if (n->type.dtype != DT_F32 || n->type.shape.rank != 2 || shape_has_batch(&n->type.shape))
      return fail(why, cap, "tril gives f32[n, m]");
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
  if (n->op == IR_CAST && !is_float(cast_to))
    return fail(why, cap, "cast converts to f32, bf16 or f16, not %s", dtype_name(cast_to));
  if (!is_float(x->dtype) && n->op != IR_CAST)
    return fail(why, cap, "%s needs a floating-point tensor, not %s", ir_ops[n->op].name,
                dtype_name(x->dtype));
  *out = *x;
  if (n->op == IR_CAST) out->dtype = cast_to;
  return true;
}

/* logits [R..., K] and one integer label per row: labels [R...] */
static bool labels_fit(const Type *l, const Type *y) {
  if (l->dtype != DT_F32 || y->dtype != DT_I32 || l->shape.rank != y->shape.rank + 1) return false;
  for (int i = 0; i < y->shape.rank; i++)
    if (l->shape.d[i] != y->shape.d[i]) return false;
  return l->shape.d[l->shape.rank - 1] != IR_DIM_B;
}

static bool shape_scalar(const IrGraph *g, const IrNode *n, Type *out, char *why,
                         size_t cap) {
  (void)g, (void)why, (void)cap;
  if (n->op == IR_CORRECT) {
    const Type *l = OPND(0), *y = OPND(1);
    if (!labels_fit(l, y)) return fail(why, cap, "correct needs logits [R...,K] and i32 labels [R...]");
  }
  if (n->op == IR_DROP_GATE && (OPND(0)->dtype != DT_F32 || OPND(0)->shape.rank != 0 || n->ia[0] < 1))
    return fail(why, cap, "drop_gate needs an f32[] keep probability and a block number >= 1");
  *out = (Type){DT_F32, SHAPE_SCALAR};
  return true;
}

/* softmax_xent(logits f32[R...,K], labels i32[R...]) -> f32[R...];
 * softmax_xent_grad(logits, labels, dy f32[R...]) -> f32[R...,K] */
static bool shape_xent(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *l = OPND(0), *y = OPND(1);
  char a[96], b[96];
  if (!labels_fit(l, y))
    return fail(why, cap, "softmax cross-entropy needs f32 logits [R..., K] and i32 labels [R...] (one per "
                          "row), not %s and %s", type_str(l, a, sizeof a), type_str(y, b, sizeof b));
  if (n->fa[0] < 0 || n->fa[0] >= 1) return fail(why, cap, "label smoothing must be in [0, 1), not %s", num_str(n->fa[0]));
  if (n->op == IR_XENT_GRAD) {
    const Type *dy = OPND(2);
    if (dy->dtype != DT_F32 || !shape_eq(&dy->shape, &y->shape))
      return fail(why, cap, "softmax_xent_grad needs an f32 gradient shaped like the labels, not %s",
                  type_str(dy, a, sizeof a));
    *out = *l;
    return true;
  }
  *out = (Type){DT_F32, y->shape};
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

/* op(a) op(b) over the last two axes, leading axes broadcast (or, with
 * fold, equal and summed over) */
static bool shape_matmul(const IrGraph *g, const IrNode *n, Type *out, char *why,
                         size_t cap) {
  const Type *a = OPND(0), *b = OPND(1);
  const Shape *as = &a->shape, *bs = &b->shape;
  char sa[96], sb[96];
  if (as->rank < 2 || bs->rank < 2)
    return fail(why, cap, "'@' needs two tensors of at least two dimensions (matrices, or batches of them), "
                          "not %s and %s", type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb));
  if (a->dtype != b->dtype || !is_float(a->dtype))
    return fail(why, cap, "'@' needs two floating-point tensors of one dtype, not %s and %s",
                type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb));
  /* bf16 operands (precision bf16) accumulate in f32: the result is f32 */
  DType rt = a->dtype == DT_BF16 ? DT_F32 : a->dtype;
  int ra = as->rank, rb = bs->rank;
  int64_t m = as->d[ra - (n->ia[0] ? 1 : 2)], ka = as->d[ra - (n->ia[0] ? 2 : 1)];
  int64_t kb = bs->d[rb - (n->ia[1] ? 1 : 2)], nn = bs->d[rb - (n->ia[1] ? 2 : 1)];
  if (ka != kb) {
    char da[24], db[24];
    snprintf(da, sizeof da, ka == IR_DIM_B ? "B" : "%lld", (long long)ka);
    snprintf(db, sizeof db, kb == IR_DIM_B ? "B" : "%lld", (long long)kb);
    return fail(why, cap, "inner dimensions of %s%s @ %s%s differ (%s against %s)", type_str(a, sa, sizeof sa),
                n->ia[0] ? "^T" : "", type_str(b, sb, sizeof sb), n->ia[1] ? "^T" : "", da, db);
  }
  Shape la = {ra - 2, {0}}, lb = {rb - 2, {0}}, l;
  for (int i = 0; i < ra - 2; i++) la.d[i] = as->d[i];
  for (int i = 0; i < rb - 2; i++) lb.d[i] = bs->d[i];
  if (n->ia[2]) {
    if (!shape_eq(&la, &lb) || la.rank == 0)
      return fail(why, cap, "a folded product needs equal leading dimensions, not %s and %s",
                  type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb));
    *out = (Type){rt, SHAPE(m, nn)};
    return true;
  }
  if (!broadcast_shapes(&la, &lb, &l))
    return fail(why, cap, "the batch dimensions of %s @ %s do not broadcast", type_str(a, sa, sizeof sa),
                type_str(b, sb, sizeof sb));
  if (l.rank + 2 > IR_MAX_RANK) return fail(why, cap, "'@' result would have more than %d dimensions", IR_MAX_RANK);
  l.d[l.rank++] = m;
  l.d[l.rank++] = nn;
  *out = (Type){rt, l};
  return true;
}

/* permute(x, perm): axis k of the result is axis perm[k] of x */
static bool shape_permute(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *x = OPND(0);
  int r = x->shape.rank;
  bool seen[IR_MAX_RANK] = {0};
  char sp[96], sx[96];
  for (int k = 0; k < r; k++) {
    if (n->ia[k] < 0 || n->ia[k] >= r || seen[n->ia[k]])
      return fail(why, cap, "[%s] is not a permutation of the %d axes of %s", perm_str(n->ia, r, sp, sizeof sp), r,
                  type_str(x, sx, sizeof sx));
    seen[n->ia[k]] = true;
  }
  Type t = *x;
  for (int k = 0; k < r; k++) t.shape.d[k] = x->shape.d[n->ia[k]];
  *out = t;
  return true;
}

/* slice: the node's shape gives the extents, ia[] the starts */
static bool shape_slice(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *x = OPND(0);
  const Shape *y = &n->type.shape;
  char sx[96];
  if (y->rank != x->shape.rank) return fail(why, cap, "slice keeps the rank");
  for (int i = 0; i < y->rank; i++) {
    int64_t d = x->shape.d[i];
    if (d == IR_DIM_B) {
      if (y->d[i] != IR_DIM_B || n->ia[i] != 0)
        return fail(why, cap, "cannot slice the batch dimension B of %s", type_str(x, sx, sizeof sx));
      continue;
    }
    if (y->d[i] == IR_DIM_B || n->ia[i] < 0 || y->d[i] < 1 || n->ia[i] + y->d[i] > d)
      return fail(why, cap, "slice %lld:%lld of axis %d is out of range for %s (size %lld)", (long long)n->ia[i],
                  (long long)(n->ia[i] + y->d[i]), i, type_str(x, sx, sizeof sx), (long long)d);
  }
  *out = (Type){x->dtype, *y};
  return true;
}

/* concat along ia[0]: every other axis equal */
static bool shape_concat(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *x = OPND(0);
  int ax = (int)n->ia[0], r = x->shape.rank;
  char sa[96], sb[96];
  if (n->nin < 1 || ax < 0 || ax >= r) return fail(why, cap, "concat needs tensors and an axis in range");
  Shape s = x->shape;
  if (s.d[ax] == IR_DIM_B) return fail(why, cap, "cannot concatenate along the batch dimension B");
  for (int k = 1; k < n->nin; k++) {
    const Type *o = OPND(k);
    bool ok = o->dtype == x->dtype && o->shape.rank == r;
    for (int i = 0; ok && i < r; i++) ok = i == ax ? o->shape.d[i] != IR_DIM_B : o->shape.d[i] == x->shape.d[i];
    if (!ok)
      return fail(why, cap, "concat along axis %d needs tensors that agree on every other axis, not %s and %s", ax,
                  type_str(x, sa, sizeof sa), type_str(o, sb, sizeof sb));
    s.d[ax] += o->shape.d[ax];
  }
  *out = (Type){x->dtype, s};
  return true;
}

/* where(c, a, b): three operands broadcast together */
static bool shape_where(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *c = OPND(0), *a = OPND(1), *b = OPND(2);
  char sa[96], sb[96], sc[96];
  if (!is_float(c->dtype) || a->dtype != b->dtype || !is_float(a->dtype))
    return fail(why, cap, "where needs a float mask and two floating-point tensors of one dtype, not %s, %s and %s",
                type_str(c, sc, sizeof sc), type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb));
  Shape s, t;
  if (!broadcast_shapes(&a->shape, &b->shape, &s) || !broadcast_shapes(&c->shape, &s, &t))
    return fail(why, cap, "where: shapes %s, %s and %s do not broadcast", type_str(c, sc, sizeof sc),
                type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb));
  *out = (Type){a->dtype, t};
  return true;
}

/* gated_add(a, b, c[]): a and b broadcast, c a scalar gate */
static bool shape_gated(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *a = OPND(0), *b = OPND(1), *c = OPND(2);
  char sa[96], sb[96], sc[96];
  Shape s;
  if (a->dtype != DT_F32 || b->dtype != DT_F32 || c->dtype != DT_F32 || c->shape.rank != 0 ||
      !broadcast_shapes(&a->shape, &b->shape, &s))
    return fail(why, cap, "gated_add needs two f32 tensors that broadcast and an f32[] gate, not %s, %s and %s",
                type_str(a, sa, sizeof sa), type_str(b, sb, sizeof sb), type_str(c, sc, sizeof sc));
  *out = (Type){DT_F32, s};
  return true;
}

/* row-wise over the last axis: same type; a gradient op's two operands agree */
static bool shape_rowwise(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *x = OPND(0);
  char sa[96], sb[96];
  if (x->dtype != DT_F32 || x->shape.rank < 1)
    return fail(why, cap, "%s needs an f32 tensor of at least one dimension, not %s", ir_ops[n->op].name,
                type_str(x, sa, sizeof sa));
  if (x->shape.d[x->shape.rank - 1] == IR_DIM_B)
    return fail(why, cap, "%s works along the last axis, which cannot be the batch dimension B (%s)",
                ir_ops[n->op].name, type_str(x, sa, sizeof sa));
  if (n->nin == 2 && !type_eq(x, OPND(1)))
    return fail(why, cap, "%s needs two tensors of one type, not %s and %s", ir_ops[n->op].name,
                type_str(x, sa, sizeof sa), type_str(OPND(1), sb, sizeof sb));
  *out = *x;
  return true;
}

/* gather(table [V, D...], idx i32[I...]) -> [I..., D...] */
static bool shape_gather(const IrGraph *g, const IrNode *n, Type *out, char *why, size_t cap) {
  const Type *t = OPND(0), *idx = OPND(1);
  char sa[96], sb[96];
  if (!is_float(t->dtype) || t->shape.rank < 1 || shape_has_batch(&t->shape) || idx->dtype != DT_I32)
    return fail(why, cap, "gather needs a table [V, ...] without the batch dimension and i32 indices, not %s and %s",
                type_str(t, sa, sizeof sa), type_str(idx, sb, sizeof sb));
  if (idx->shape.rank + t->shape.rank - 1 > IR_MAX_RANK)
    return fail(why, cap, "gather's result would have more than %d dimensions", IR_MAX_RANK);
  Shape s = idx->shape;
  for (int i = 1; i < t->shape.rank; i++) s.d[s.rank++] = t->shape.d[i];
  *out = (Type){t->dtype, s};
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
