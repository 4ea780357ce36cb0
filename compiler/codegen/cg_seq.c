/* cg_seq.c — code for the ops of sequence models that call the runtime:
 * products over leading (batch) axes, row-wise softmax / log-softmax / layer
 * norm, embedding gathers, and the constant masks and ranges.
 *
 * Products. Every matmul is one call of astrt_gemm_batched with a batch
 * descriptor (astrt_gemm_batch) built on the stack: the leading axes of the
 * result become batch dimensions with an element stride per operand (0 where
 * an operand is broadcast, 0 in C where a folded product sums them). Each
 * operand is a strided view of a buffer (cg_plan's views): a contiguous
 * value, or a permute that reorders a contiguous value's axes and is never
 * copied, so attention heads are read in place ([B, T, H, Dh] seen as
 * [B, H, T, Dh]) and a result is written in place through a permute of it.
 * The matrix of each operand is its last two axes; whichever of them has
 * stride 1 decides the BLAS transpose flag, the other the leading dimension.
 * Where the leading axes of a contiguous operand can merge into its rows
 * (x[B, T, D] @ w[D, E]: one [B*T, D] @ [D, E] product) or into the
 * contraction of a folded product (the weight gradient x^T dy), they do: one
 * GEMM instead of a batch of small ones. The descriptor also records the
 * call site's GEMM backend — the options' choice (--gemm, or the calibrated
 * choice of compiler/tools/machine.c) for the product's shape at the rows its
 * function is planned for — and its operands' type: a product of bf16
 * operands (precision bf16) reads them as they are and accumulates in f32.
 * cg_gemm_sites lists the same descriptors for the calibration. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "astrt_kernels.h"
#include "cg_internal.h"

/* ---- strided views --------------------------------------------------------------------- */

/* a node's value as `rank` axes with extents and element strides into the
 * buffer of `base` */
typedef struct View {
  int base;
  int rank;
  Sym ext[IR_MAX_RANK], st[IR_MAX_RANK];
} View;

static void contiguous_strides(const Shape *s, Sym *st) {
  Sym acc = {1, false};
  for (int i = s->rank - 1; i >= 0; i--) {
    st[i] = acc;
    acc = sym_mul(acc, sym_dim(s->d[i]));
  }
}

/* The view of node: its own buffer, or (cg_plan's views) the buffer of the
 * value it permutes, or of the permute it is written through. */
static View view_in(const IrGraph *g, const BufPlan *plan, int node) {
  const IrNode *n = &g->nodes[node];
  View v = {node, n->type.shape.rank, {{0}}, {{0}}};
  for (int i = 0; i < v.rank; i++) v.ext[i] = sym_dim(n->type.shape.d[i]);
  int via = plan->view_of[node];
  if (via < 0) {
    contiguous_strides(&n->type.shape, v.st);
    return v;
  }
  const IrNode *p = &g->nodes[via];
  Sym st[IR_MAX_RANK];
  if (p->op == IR_PERMUTE && p->in[0] == node) {
    /* node is written through permute p: axis ia[k] of node is axis k of p */
    contiguous_strides(&p->type.shape, st);
    for (int k = 0; k < p->type.shape.rank; k++) v.st[p->ia[k]] = st[k];
    v.base = via;
  } else {
    /* node is a permute of a contiguous value, read in place */
    const IrNode *x = &g->nodes[n->in[0]];
    contiguous_strides(&x->type.shape, st);
    for (int k = 0; k < v.rank; k++) v.st[k] = st[n->ia[k]];
    v.base = n->in[0];
  }
  return v;
}

static bool sym_is(Sym s, int64_t c) { return s.c == c && (!s.b || c == 0); }

/* ---- products ------------------------------------------------------------------------- */

/* The matrix of a view's last two axes as a GEMM operand: the BLAS transpose
 * flag (given the op's own transpose t) and the leading dimension. */
static bool matrix_of(const View *v, bool t, bool *trans, Sym *ld) {
  Sym rows = v->st[v->rank - 2], cols = v->st[v->rank - 1];
  if (sym_is(cols, 1) && !sym_is(v->ext[v->rank - 1], 0)) {
    *trans = t;
    *ld = sym_is(v->ext[v->rank - 2], 1) ? v->ext[v->rank - 1] : rows;
    return true;
  }
  if (sym_is(rows, 1)) {
    *trans = !t;
    *ld = sym_is(v->ext[v->rank - 1], 1) ? v->ext[v->rank - 2] : cols;
    return true;
  }
  return false;
}

/* whether the view is row-major contiguous over all its axes */
static bool is_contiguous(const View *v) {
  Sym acc = {1, false};
  for (int i = v->rank - 1; i >= 0; i--) {
    if (!sym_is(v->ext[i], 1) && !sym_eq(v->st[i], acc)) return false;
    acc = sym_mul(acc, v->ext[i]);
  }
  return true;
}

/* A product's batch descriptor, with the row count symbolic, and the
 * buffers its operands and result are read and written in. */
typedef struct Product {
  int a, b, c;                /* base nodes */
  bool ta, tb;
  Sym m, n, k, lda, ldb, ldc;
  int nb;
  Sym count[4], sa[4], sb[4], sc[4];
  int ab_type;                /* astrt_dtype of the operands */
} Product;

static Product product_of(const IrGraph *g, const BufPlan *plan, int node) {
  const IrNode *n = &g->nodes[node];
  View a = view_in(g, plan, n->in[0]), b = view_in(g, plan, n->in[1]), c = view_in(g, plan, node);
  bool ta_op = n->ia[0], tb_op = n->ia[1], fold = n->ia[2];
  int ra = a.rank, rb = b.rank, rc = c.rank;
  Product p = {a.base, b.base, c.base, false, false, a.ext[ra - (ta_op ? 1 : 2)], b.ext[rb - (tb_op ? 2 : 1)],
               a.ext[ra - (ta_op ? 2 : 1)], {0}, {0}, {0}, 0, {{0}}, {{0}}, {{0}}, {{0}},
               g->nodes[n->in[0]].type.dtype == DT_BF16 ? ASTRT_DTYPE_BF16 : ASTRT_DTYPE_F32};
  bool tc;
  ASTC_ASSERT(matrix_of(&a, ta_op, &p.ta, &p.lda) && matrix_of(&b, tb_op, &p.tb, &p.ldb) &&
              matrix_of(&c, false, &tc, &p.ldc));
  ASTC_ASSERT(!tc);  /* C is written row-major */
  int la = ra - 2, lb = rb - 2, lead = fold ? la : rc - 2;
  ASTC_ASSERT(lead <= 4);
  if (!fold && lb == 0 && la > 0 && !p.ta && is_contiguous(&a) && is_contiguous(&c)) {
    /* x[L..., M, K] @ w: the leading axes are more rows of one product */
    for (int i = 0; i < la; i++) p.m = sym_mul(p.m, a.ext[i]);
    p.lda = p.k, p.ldc = p.n;
  } else if (fold && p.ta && !p.tb && is_contiguous(&a) && is_contiguous(&b)) {
    /* sum_l a_l^T b_l: the leading axes are more rows of the contraction */
    for (int i = 0; i < la; i++) p.k = sym_mul(p.k, a.ext[i]);
  } else {
    for (int i = 0; i < lead; i++) {
      /* axis i of the result's leading axes (of a's, when folded), aligned on the right */
      int ia = i - (lead - la), ib = i - (lead - lb);
      Sym ext = fold ? a.ext[i] : c.ext[i];
      if (sym_is(ext, 1)) continue;
      p.count[p.nb] = ext;
      p.sa[p.nb] = ia >= 0 && !sym_is(a.ext[ia], 1) ? a.st[ia] : (Sym){0, false};
      p.sb[p.nb] = ib >= 0 && !sym_is(b.ext[ib], 1) ? b.st[ib] : (Sym){0, false};
      p.sc[p.nb] = fold ? (Sym){0, false} : c.st[i];
      p.nb++;
    }
  }
  return p;
}

static int64_t sym_at(Sym s, int64_t rows) { return s.c * (s.b ? rows : 1); }

/* the descriptor at `rows` rows, the backend as opt chooses */
static astrt_gemm_batch product_at(const Product *p, int64_t rows, const CgOptions *opt) {
  astrt_gemm_batch d;
  memset(&d, 0, sizeof d);
  d.ta = p->ta, d.tb = p->tb;
  d.m = sym_at(p->m, rows), d.n = sym_at(p->n, rows), d.k = sym_at(p->k, rows);
  d.lda = sym_at(p->lda, rows), d.ldb = sym_at(p->ldb, rows), d.ldc = sym_at(p->ldc, rows);
  d.nbatch = p->nb;
  for (int i = 0; i < 4; i++) {
    bool on = i < p->nb;
    d.count[i] = on ? sym_at(p->count[i], rows) : 1;
    d.sa[i] = on ? sym_at(p->sa[i], rows) : 0;
    d.sb[i] = on ? sym_at(p->sb[i], rows) : 0;
    d.sc[i] = on ? sym_at(p->sc[i], rows) : 0;
  }
  d.alpha = 1, d.beta = 0;
  d.ab_type = p->ab_type;
  d.backend = opt->gemm != CG_GEMM_AUTO ? opt->gemm - 1
              : opt->gemm_choose        ? opt->gemm_choose(opt->gemm_user, &d)
                                        : ASTRT_GEMM_OPENBLAS;
  return d;
}

/* one field of the stack astrt_gemm_batch at `off` bytes */
static void put(Cg *cg, LLVMValueRef desc, size_t off, LLVMValueRef v) {
  LLVMValueRef at = cg_byte_gep(cg, desc, (int64_t)off);
  LLVMValueRef st = LLVMBuildStore(cg->b, v, at);
  LLVMSetAlignment(st, 4);
}

#define PUT64(field, v) put(cg, desc, offsetof(astrt_gemm_batch, field), (v))
#define PUT32(field, v) put(cg, desc, offsetof(astrt_gemm_batch, field), LLVMConstInt(cg->i32, (v), 0))

static LLVMValueRef desc_alloca(Cg *cg) {
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, cg->entry);
  LLVMValueRef d = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->i8, sizeof(astrt_gemm_batch)), "gemm");
  LLVMSetAlignment(d, 8);
  LLVMPositionBuilderAtEnd(cg->b, here);
  return d;
}

void cg_matmul(Cg *cg, int node) {
  Product p = product_of(cg->g, &cg->plan, node);
  /* the backend is chosen for the shape at the rows the function is planned for */
  astrt_gemm_batch at = product_at(&p, cg->plan_rows, &cg->opt);
  LLVMValueRef desc = desc_alloca(cg);
  PUT32(ta, p.ta);
  PUT32(tb, p.tb);
  PUT64(m, sym_value(cg, p.m));
  PUT64(n, sym_value(cg, p.n));
  PUT64(k, sym_value(cg, p.k));
  PUT64(lda, sym_value(cg, p.lda));
  PUT64(ldb, sym_value(cg, p.ldb));
  PUT64(ldc, sym_value(cg, p.ldc));
  PUT32(nbatch, (unsigned long long)p.nb);
  for (int i = 0; i < 4; i++) {
    bool on = i < p.nb;
    put(cg, desc, offsetof(astrt_gemm_batch, count) + 8 * (size_t)i, on ? sym_value(cg, p.count[i]) : cg_i64(cg, 1));
    put(cg, desc, offsetof(astrt_gemm_batch, sa) + 8 * (size_t)i, on ? sym_value(cg, p.sa[i]) : cg_i64(cg, 0));
    put(cg, desc, offsetof(astrt_gemm_batch, sb) + 8 * (size_t)i, on ? sym_value(cg, p.sb[i]) : cg_i64(cg, 0));
    put(cg, desc, offsetof(astrt_gemm_batch, sc) + 8 * (size_t)i, on ? sym_value(cg, p.sc[i]) : cg_i64(cg, 0));
  }
  put(cg, desc, offsetof(astrt_gemm_batch, alpha), cg_f32(cg, 1));
  put(cg, desc, offsetof(astrt_gemm_batch, beta), cg_f32(cg, 0));
  /* chosen for the shape: read from the table where a shared region runs it at other shapes */
  put(cg, desc, offsetof(astrt_gemm_batch, backend), LLVMBuildTrunc(cg->b, cg_shape_i64(cg, at.backend), cg->i32, ""));
  PUT32(ab_type, (unsigned long long)p.ab_type);
  LLVMValueRef args[4] = {desc, cg_addr(cg, p.a), cg_addr(cg, p.b), cg_addr(cg, p.c)};
  cg_call(cg, RT_GEMM_BATCHED, args, 4);
}

static void graph_sites(const IrProgram *p, const IrGraph *g, int64_t rows, int64_t micro, const CgOptions *opt,
                        CgGemmSiteFn *fn, void *user) {
  bool any = false;
  for (int i = 0; i < g->len && !any; i++) any = g->nodes[i].op == IR_MATMUL;
  if (!any) return;
  int64_t plan_rows = micro > 0 && cg_micro_boundary(g) >= 0 ? micro : rows;
  BufPlan plan;
  cg_plan_graph_with(p, g, plan_rows, opt, &plan);
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_MATMUL) {
      Product pr = product_of(g, &plan, i);
      astrt_gemm_batch d = product_at(&pr, plan_rows, opt);
      fn(user, g, i, &d);
    }
  cg_plan_free(&plan);
}

void cg_gemm_sites(const IrProgram *p, const CgOptions *opt, CgGemmSiteFn *fn, void *user) {
  CgOptions o = opt ? *opt : cg_options_default();
  for (int i = 0; i < p->phases.len; i++) {
    const IrPhase *ph = &p->phases.data[i];
    graph_sites(p, &ph->step, ph->batch, ph->micro, &o, fn, user);
    if (ph->prefix.len) graph_sites(p, &ph->prefix, p->eval_batch, 0, &o, fn, user);
  }
  graph_sites(p, &p->eval, p->eval_batch, 0, &o, fn, user);
  if (p->predict.len) graph_sites(p, &p->predict, p->eval_batch, 0, &o, fn, user);
}

/* ---- row-wise ops over the last axis ------------------------------------------------- */

/* softmax(where(tril(T), s, -inf)) with the where computed in the softmax's
 * pass (cg_plan's causal softmax): the mask's size, else 0 */
static int64_t causal_of(Cg *cg, int node) {
  int w = cg->g->nodes[node].in[0];
  if (cg->plan.fused_into[w] != node) return 0;
  return cg->g->nodes[cg->g->nodes[w].in[0]].type.shape.d[0];
}

void cg_rowwise(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  int x = n->in[0];
  int64_t causal = n->op == IR_SOFTMAX ? causal_of(cg, node) : 0;
  if (causal) x = cg->g->nodes[x].in[1];  /* the scores the mask applies to */
  const Shape *xs = &cg->g->nodes[x].type.shape;
  int64_t len = xs->d[xs->rank - 1];
  LLVMValueRef nlen = cg_shape_i64(cg, len), eps = cg_f32(cg, n->fa[0]);
  LLVMValueRef rows = LLVMBuildSDiv(cg->b, cg_numel(cg, xs), nlen, "rows");
  LLVMValueRef px = cg_addr(cg, x), py = cg_addr(cg, node);
  switch (n->op) {
  case IR_SOFTMAX: cg_call(cg, RT_SOFTMAX, (LLVMValueRef[]){px, py, rows, nlen, cg_shape_i64(cg, causal)}, 5); return;
  case IR_LOG_SOFTMAX: cg_call(cg, RT_LOG_SOFTMAX, (LLVMValueRef[]){px, py, rows, nlen}, 4); return;
  case IR_LAYERNORM: cg_call(cg, RT_LAYERNORM, (LLVMValueRef[]){px, py, rows, nlen, eps}, 5); return;
  default: break;
  }
  LLVMValueRef pdy = cg_addr(cg, n->in[1]);
  switch (n->op) {
  case IR_SOFTMAX_GRAD: cg_call(cg, RT_SOFTMAX_GRAD, (LLVMValueRef[]){px, pdy, py, rows, nlen}, 5); return;
  case IR_LOG_SOFTMAX_GRAD: cg_call(cg, RT_LOG_SOFTMAX_GRAD, (LLVMValueRef[]){px, pdy, py, rows, nlen}, 5); return;
  case IR_LAYERNORM_GRAD: cg_call(cg, RT_LAYERNORM_GRAD, (LLVMValueRef[]){px, pdy, py, rows, nlen, eps}, 6); return;
  default: unreachable();
  }
}

/* ---- gathers ------------------------------------------------------------------------------ */

void cg_index(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  bool gather = n->op == IR_GATHER;
  const Shape *ts = gather ? &cg->g->nodes[n->in[0]].type.shape : &n->type.shape;
  int idx = n->in[gather ? 1 : 0];
  int64_t vocab = ts->d[0], d = shape_numel(ts, 1) / vocab;
  LLVMValueRef count = cg_numel(cg, &cg->g->nodes[idx].type.shape);
  if (gather) {
    LLVMValueRef args[6] = {cg_addr(cg, n->in[0]), cg_shape_i64(cg, vocab), cg_shape_i64(cg, d),
                            cg_addr(cg, idx),        count,                     cg_addr(cg, node)};
    cg_call(cg, RT_GATHER_ROWS, args, 6);
  } else {
    LLVMValueRef args[6] = {cg_addr(cg, idx),    count, cg_addr(cg, n->in[1]), cg_shape_i64(cg, d),
                            cg_shape_i64(cg, vocab), cg_addr(cg, node)};
    cg_call(cg, RT_SCATTER_ADD_ROWS, args, 6);
  }
}

/* ---- constants: arange and tril ------------------------------------------------------- */

typedef struct FillCtx {
  int node;
  int64_t cols, k;
} FillCtx;

static void constant_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  FillCtx *c = vctx;
  const IrNode *n = &cg->g->nodes[c->node];
  if (n->op == IR_ARANGE) {
    LLVMValueRef v = LLVMBuildTrunc(cg->b, idx[0], cg->i32, "");
    LLVMBuildStore(cg->b, v, cg_elem_addr(cg, c->node, idx[0]));
    return;
  }
  /* tril: 1 where column <= row + k */
  LLVMValueRef lim = LLVMBuildNSWAdd(cg->b, idx[0], cg_shape_i64(cg, c->k), "");
  LLVMValueRef on = LLVMBuildICmp(cg->b, LLVMIntSLE, idx[1], lim, "");
  LLVMValueRef v = LLVMBuildSelect(cg->b, on, cg_f32(cg, 1), cg_f32(cg, 0), "");
  LLVMValueRef at = LLVMBuildNSWAdd(cg->b, LLVMBuildNSWMul(cg->b, idx[0], cg_shape_i64(cg, c->cols), ""), idx[1], "");
  cg_store_f32(cg, v, cg_elem_addr(cg, c->node, at));
}

void cg_constant(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  const Shape *s = &n->type.shape;
  FillCtx c = {node, s->rank > 1 ? s->d[1] : 0, n->ia[0]};
  LLVMValueRef ext[2] = {cg_shape_i64(cg, s->d[0]), cg_shape_i64(cg, s->rank > 1 ? s->d[1] : 1)};
  cg_loop_nest(cg, s->rank, ext, constant_body, &c);
}
