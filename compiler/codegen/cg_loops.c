/* cg_loops.c — LLVM loop nests for elementwise ops (with broadcasting),
 * reductions and optimizer updates. Adjacent dimensions are merged wherever
 * every operand is contiguous across them, so the common cases become one
 * flat loop (same shapes) or two (a row vector broadcast over rows); the
 * innermost loop is then unit-stride and the vectorizer takes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* ---- loop nests ---------------------------------------------------------------------- */

/* level's loop runs over [lo[level], hi[level]) (lo NULL or lo[level] NULL: from 0) */
static void loop_level(Cg *cg, int level, int n, LLVMValueRef *lo, LLVMValueRef *hi, LLVMValueRef *idx,
                       CgBody *body, void *ctx) {
  if (level == n) {
    body(cg, idx, ctx);
    return;
  }
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(cg->b);
  LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "loop");
  LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "loop.exit");
  LLVMValueRef zero = lo && lo[level] ? lo[level] : cg_i64(cg, 0);
  LLVMValueRef nonempty = LLVMBuildICmp(cg->b, LLVMIntSGT, hi[level], zero, "");
  LLVMBuildCondBr(cg->b, nonempty, loop, exit);
  LLVMPositionBuilderAtEnd(cg->b, loop);
  LLVMValueRef i = LLVMBuildPhi(cg->b, cg->i64, "i");
  idx[level] = i;
  loop_level(cg, level + 1, n, lo, hi, idx, body, ctx);
  LLVMValueRef next = LLVMBuildAdd(cg->b, i, LLVMConstInt(cg->i64, 1, 0), "");
  LLVMSetNUW(next, 1);
  LLVMSetNSW(next, 1);
  LLVMValueRef more = LLVMBuildICmp(cg->b, LLVMIntSLT, next, hi[level], "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(cg->b);
  LLVMBuildCondBr(cg->b, more, loop, exit);
  LLVMValueRef in_vals[2] = {zero, next};
  LLVMBasicBlockRef in_blocks[2] = {pre, latch};
  LLVMAddIncoming(i, in_vals, in_blocks, 2);
  LLVMPositionBuilderAtEnd(cg->b, exit);
}

void cg_loop_nest(Cg *cg, int n, LLVMValueRef *ext, CgBody *body, void *ctx) {
  LLVMValueRef idx[IR_MAX_RANK + 1];
  loop_level(cg, 0, n, NULL, ext, idx, body, ctx);
}

void cg_loop_nest_from(Cg *cg, int n, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef *ext, CgBody *body, void *ctx) {
  LLVMValueRef idx[IR_MAX_RANK + 1], e[IR_MAX_RANK + 1], l[IR_MAX_RANK + 1] = {lo};
  for (int i = 1; i < n; i++) e[i] = ext[i];
  e[0] = hi;
  loop_level(cg, 0, n, l, e, idx, body, ctx);
}

#define MAXOP (CG_FUSE_MAX_LEAVES + IR_MAX_IN + 1)  /* the output, the loads of a fused loop */

/* An iteration space over an output shape with per-operand strides. */
typedef struct Space {
  int rank;
  Sym ext[IR_MAX_RANK];
  int nops;
  Sym st[MAXOP][IR_MAX_RANK];
} Space;

/* strides of shape s read as if broadcast to `out` (0 where broadcast) */
static void space_strides(const Shape *s, const Shape *out, Sym *st) {
  Sym acc = {1, false};
  for (int i = out->rank - 1; i >= 0; i--) {
    int j = i - (out->rank - s->rank);
    if (j < 0) {
      st[i] = (Sym){0, false};
      continue;
    }
    Sym d = sym_dim(s->d[j]);
    st[i] = d.c == 1 && !d.b ? (Sym){0, false} : acc;
    acc = sym_mul(acc, d);
  }
}

static void space_remove(Space *sp, int i) {
  for (int j = i; j < sp->rank - 1; j++) {
    sp->ext[j] = sp->ext[j + 1];
    for (int k = 0; k < sp->nops; k++) sp->st[k][j] = sp->st[k][j + 1];
  }
  sp->rank--;
}

/* Drops dimensions of extent 1, then merges dimension i into i+1 wherever
 * every operand is contiguous across the two. */
static void space_collapse(Space *sp) {
  for (int i = sp->rank - 1; i >= 0; i--)
    if (sp->ext[i].c == 1 && !sp->ext[i].b) space_remove(sp, i);
  for (int i = sp->rank - 2; i >= 0; i--) {
    bool ok = true;
    for (int k = 0; k < sp->nops && ok; k++) ok = sym_eq(sp->st[k][i], sym_mul(sp->st[k][i + 1], sp->ext[i + 1]));
    if (!ok) continue;
    Sym merged = sym_mul(sp->ext[i], sp->ext[i + 1]);
    space_remove(sp, i);
    sp->ext[i] = merged;
  }
}

static LLVMValueRef space_offset(Cg *cg, const Space *sp, int k, LLVMValueRef *idx) {
  LLVMValueRef off = cg_i64(cg, 0);
  for (int i = 0; i < sp->rank; i++) {
    Sym s = sp->st[k][i];
    if (s.c == 0) continue;
    LLVMValueRef t = s.c == 1 && !s.b ? idx[i] : LLVMBuildNSWMul(cg->b, idx[i], sym_value(cg, s), "");
    off = LLVMBuildNSWAdd(cg->b, off, t, "");
  }
  return off;
}

/* ---- elementwise ---------------------------------------------------------------------- */

typedef struct EwCtx {
  int node;
  Space sp;     /* operand 0 is the output, 1.. the loads (fused operands are computed) */
} EwCtx;

/* The EW1/EW2 rows of ops.def as LLVM IR (op_eval.c has the language and
 * its double-precision meaning). Operands are built left to right, so the
 * instructions come out in one order whatever the C compiler does. */
#define K(c) cg_f32(cg, (c))
#define NEG(x) LLVMBuildFNeg(cg->b, (x), "")
#define EW_BIN(build, x, y) ({ LLVMValueRef l_ = (x); LLVMValueRef r_ = (y); build(cg->b, l_, r_, ""); })
#define ADD(x, y) EW_BIN(LLVMBuildFAdd, x, y)
#define SUB(x, y) EW_BIN(LLVMBuildFSub, x, y)
#define MUL(x, y) EW_BIN(LLVMBuildFMul, x, y)
#define DIV(x, y) EW_BIN(LLVMBuildFDiv, x, y)
#define EW_INTRINSIC(name, x) ({ LLVMValueRef a_ = (x); cg_intrinsic(cg, name, &a_, 1); })
#define EXP(x) cg_exp(cg, (x))
#define LOG(x) EW_INTRINSIC("llvm.log", x)
#define SQRT(x) EW_INTRINSIC("llvm.sqrt", x)
#define FABS(x) EW_INTRINSIC("llvm.fabs", x)
#define TANH(x) cg_tanh(cg, (x))
#define ERF(x) cg_erf(cg, (x))
#define GT(x, y) ({ LLVMValueRef l_ = (x); LLVMValueRef r_ = (y); LLVMBuildFCmp(cg->b, LLVMRealOGT, l_, r_, ""); })
#define GE(x, y) ({ LLVMValueRef l_ = (x); LLVMValueRef r_ = (y); LLVMBuildFCmp(cg->b, LLVMRealOGE, l_, r_, ""); })
#define NE(x, y) ({ LLVMValueRef l_ = (x); LLVMValueRef r_ = (y); LLVMBuildFCmp(cg->b, LLVMRealUNE, l_, r_, ""); })
#define SELECT(c, x, y) \
  ({ LLVMValueRef c_ = (c); LLVMValueRef l_ = (x); LLVMValueRef r_ = (y); LLVMBuildSelect(cg->b, c_, l_, r_, ""); })

LLVMValueRef cg_ew_compute(Cg *cg, const IrNode *n, LLVMValueRef *v) {
  if (n->op == IR_CONST) return cg_f32(cg, n->fa[0]);
  LLVMValueRef X = v[0], A = v[0], B = n->nin > 1 ? v[1] : NULL, C = n->nin > 2 ? v[2] : NULL;
  (void)X, (void)A, (void)B, (void)C;
  switch (n->op) {
  case IR_CAST: case IR_BROADCAST: return v[0];
#define EW1(id, surface, expr, help) case IR_##id: return expr;
#define EW2(id, surface, expr, help) case IR_##id: return expr;
#define EW3(id, surface, expr, help) case IR_##id: return expr;
#define OP(...)
#include "ops.def"
#undef OP
#undef EW1
#undef EW2
#undef EW3
  default: unreachable();
  }
}

/* f32 <-> bf16 (round to nearest even, NaN stays NaN) and f32 <-> f16
 * (fptrunc/fpext: F16C's vcvtps2ph/vcvtph2ps where the CPU has it) */
static LLVMValueRef convert(Cg *cg, LLVMValueRef v, DType from, DType to) {
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef i16 = LLVMInt16TypeInContext(cg->ctx), half = LLVMHalfTypeInContext(cg->ctx);
  if (from == to) return v;
  if (from == DT_I32) v = LLVMBuildSIToFP(b, v, cg->f32, "");
  else if (from == DT_BF16) v = LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildZExt(b, v, cg->i32, ""),
                                                            LLVMConstInt(cg->i32, 16, 0), ""), cg->f32, "");
  else if (from == DT_F16) v = LLVMBuildFPExt(b, v, cg->f32, "");
  if (to == DT_F16) return LLVMBuildFPTrunc(b, v, half, "");
  if (to != DT_BF16) return v;
  LLVMValueRef bits = LLVMBuildBitCast(b, v, cg->i32, "");
  LLVMValueRef lsb = LLVMBuildAnd(b, LLVMBuildLShr(b, bits, LLVMConstInt(cg->i32, 16, 0), ""),
                                  LLVMConstInt(cg->i32, 1, 0), "");
  LLVMValueRef rounded = LLVMBuildLShr(b, LLVMBuildAdd(b, bits, LLVMBuildAdd(b, lsb, LLVMConstInt(cg->i32, 0x7fff, 0), ""), ""),
                                       LLVMConstInt(cg->i32, 16, 0), "");
  LLVMValueRef isnan = LLVMBuildFCmp(b, LLVMRealUNO, v, v, "");
  LLVMValueRef r = LLVMBuildSelect(b, isnan, LLVMConstInt(cg->i32, 0x7fc0, 0), rounded, "");
  return LLVMBuildTrunc(b, r, i16, "");
}

/* node's value at idx: its operands are immediates, loads (the next operand
 * of sp, counted by *k) or fused values computed here (cg_plan_fusion) */
static LLVMValueRef ew_value(Cg *cg, const Space *sp, int node, int *k, LLVMValueRef *idx) {
  const IrNode *n = &cg->g->nodes[node];
  LLVMValueRef v[IR_MAX_IN];
  for (int j = 0; j < n->nin; j++) {
    int o = n->in[j];
    if (cg->imm[o]) v[j] = cg->imm[o];
    else if (cg->plan.fused_into[o] == node) v[j] = ew_value(cg, sp, o, k, idx);
    else v[j] = cg_load_f32(cg, cg_elem_addr(cg, o, space_offset(cg, sp, (*k)++, idx)));
  }
  return cg_ew_compute(cg, n, v);
}

/* node's value at flat index i, for a fused tree without broadcasting (an
 * optimizer update's gradient) */
static LLVMValueRef flat_value(Cg *cg, int node, LLVMValueRef i) {
  if (cg->plan.fused_into[node] < 0) return cg_load_f32(cg, cg_elem_addr(cg, node, i));
  const IrNode *n = &cg->g->nodes[node];
  LLVMValueRef v[IR_MAX_IN];
  for (int j = 0; j < n->nin; j++) {
    int o = n->in[j];
    v[j] = cg->imm[o] ? cg->imm[o] : flat_value(cg, o, i);
  }
  return cg_ew_compute(cg, n, v);
}

static void ew_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  EwCtx *c = vctx;
  const IrNode *n = &cg->g->nodes[c->node];
  if (n->op == IR_CAST) {
    const IrNode *o = &cg->g->nodes[n->in[0]];
    LLVMValueRef src = cg_elem_addr(cg, n->in[0], space_offset(cg, &c->sp, 1, idx));
    LLVMValueRef v = LLVMBuildLoad2(cg->b, cg_elem_type(cg, o->type.dtype), src, "");
    LLVMValueRef r = convert(cg, v, o->type.dtype, n->type.dtype);
    LLVMBuildStore(cg->b, r, cg_elem_addr(cg, c->node, space_offset(cg, &c->sp, 0, idx)));
    return;
  }
  int k = 1;
  cg_store_f32(cg, ew_value(cg, &c->sp, c->node, &k, idx), cg_elem_addr(cg, c->node, space_offset(cg, &c->sp, 0, idx)));
}

/* whether large loops are split over the runtime's threads (-fno-parallel-loops: never, for measuring).
 * In a shared region, whose graphs may have loops of other sizes, a loop
 * is always outlined, and cg_parallel makes whether the pool runs it a
 * number of its graph's: so that the region is one function for all. */
static bool parallel_loops(const Cg *cg, int64_t elements) {
  if (cg->in_micro || cg->opt.no_parallel_loops) return false;
  return cg_generic(cg) || elements >= CG_PARALLEL_MIN;
}

static LLVMValueRef ew_extent(Cg *cg, void *vctx) {
  EwCtx *c = vctx;
  return sym_value(cg, c->sp.ext[0]);
}

static void ew_range(Cg *cg, LLVMValueRef lo, LLVMValueRef hi, void *vctx) {
  EwCtx *c = vctx;
  LLVMValueRef ext[IR_MAX_RANK];
  for (int i = 0; i < c->sp.rank; i++) ext[i] = sym_value(cg, c->sp.ext[i]);
  cg_loop_nest_from(cg, c->sp.rank, lo, hi, ext, ew_body, c);
}

/* the loads of node's loop, in ew_value's order: operand strides into sp */
static void ew_leaves(Cg *cg, Space *sp, int node, const Shape *out) {
  const IrNode *n = &cg->g->nodes[node];
  for (int k = 0; k < n->nin; k++) {
    int o = n->in[k];
    if (cg->imm[o]) continue;
    if (cg->plan.fused_into[o] == node) {
      ew_leaves(cg, sp, o, out);
      continue;
    }
    ASTC_ASSERT(sp->nops < MAXOP);
    space_strides(&cg->g->nodes[o].type.shape, out, sp->st[sp->nops++]);
  }
}

void cg_elementwise(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  EwCtx c = {node, {0}};
  const Shape *out = &n->type.shape;
  c.sp.rank = out->rank;
  c.sp.nops = 1;
  for (int i = 0; i < out->rank; i++) c.sp.ext[i] = sym_dim(out->d[i]);
  space_strides(out, out, c.sp.st[0]);
  if (n->op == IR_CAST || n->op == IR_CONST) {
    for (int k = 0; k < n->nin; k++) space_strides(&cg->g->nodes[n->in[k]].type.shape, out, c.sp.st[c.sp.nops++]);
  } else {
    ew_leaves(cg, &c.sp, node, out);
  }
  space_collapse(&c.sp);
  /* a contiguous f32 <-> bf16 cast: the runtime's loop (split over the pool) */
  DType from = n->op == IR_CAST ? cg->g->nodes[n->in[0]].type.dtype : DT_F32, to = n->type.dtype;
  if (n->op == IR_CAST && c.sp.rank == 1 && sym_eq(c.sp.st[0][0], (Sym){1, false}) &&
      sym_eq(c.sp.st[1][0], (Sym){1, false}) &&
      ((from == DT_F32 && to == DT_BF16) || (from == DT_BF16 && to == DT_F32))) {
    LLVMValueRef args[3] = {cg_addr(cg, n->in[0]), cg_addr(cg, node), sym_value(cg, c.sp.ext[0])};
    cg_call(cg, to == DT_BF16 ? RT_CAST_F32_BF16 : RT_CAST_BF16_F32, args, 3);
    return;
  }
  int64_t elements = shape_numel(out, cg->max_rows);
  if (c.sp.rank >= 1 && parallel_loops(cg, elements)) {
    cg_parallel(cg, elements, ew_extent, ew_range, &c);  /* split over the outermost dimension */
    return;
  }
  LLVMValueRef ext[IR_MAX_RANK];
  for (int i = 0; i < c.sp.rank; i++) ext[i] = sym_value(cg, c.sp.ext[i]);
  cg_loop_nest(cg, c.sp.rank, ext, ew_body, &c);
}

/* ---- layout: permute, slice, pad, concat ------------------------------------------------ */

/* A strided copy: for every index of `ext`, dst[dst_off + idx . dst_st] =
 * src[src_off + idx . src_st], elements copied as they are (any dtype). */
typedef struct CopyCtx {
  int dst, src;
  Space sp;             /* operand 0: dst strides, 1: src strides */
  Sym dst_off, src_off;
  LLVMTypeRef elem;
} CopyCtx;

static void copy_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  CopyCtx *c = vctx;
  LLVMValueRef so = LLVMBuildNSWAdd(cg->b, sym_value(cg, c->src_off), space_offset(cg, &c->sp, 1, idx), "");
  LLVMValueRef d = LLVMBuildNSWAdd(cg->b, sym_value(cg, c->dst_off), space_offset(cg, &c->sp, 0, idx), "");
  LLVMValueRef v = LLVMBuildLoad2(cg->b, c->elem, LLVMBuildInBoundsGEP2(cg->b, c->elem, cg_addr(cg, c->src), &so, 1, ""), "");
  LLVMBuildStore(cg->b, v, LLVMBuildInBoundsGEP2(cg->b, c->elem, cg_addr(cg, c->dst), &d, 1, ""));
}

/* row-major strides of shape s */
static void contiguous(const Shape *s, Sym *st) {
  Sym acc = {1, false};
  for (int i = s->rank - 1; i >= 0; i--) {
    st[i] = acc;
    acc = sym_mul(acc, sym_dim(s->d[i]));
  }
}

static Sym sym_add(Sym x, Sym y) {
  ASTC_ASSERT(x.c == 0 || y.c == 0 || x.b == y.b);
  return (Sym){x.c + y.c, x.c ? x.b : y.b};
}

/* copy over shape `ext`: dst strides and offset, src strides and offset */
static void strided_copy(Cg *cg, int dst, const Sym *dst_st, Sym dst_off, int src, const Sym *src_st, Sym src_off,
                         const Shape *ext) {
  CopyCtx c = {dst, src, {0}, dst_off, src_off, cg_elem_type(cg, cg->g->nodes[dst].type.dtype)};
  c.sp.rank = ext->rank;
  c.sp.nops = 2;
  for (int i = 0; i < ext->rank; i++) {
    c.sp.ext[i] = sym_dim(ext->d[i]);
    c.sp.st[0][i] = dst_st[i];
    c.sp.st[1][i] = src_st[i];
  }
  space_collapse(&c.sp);
  LLVMValueRef e[IR_MAX_RANK];
  for (int i = 0; i < c.sp.rank; i++) e[i] = sym_value(cg, c.sp.ext[i]);
  cg_loop_nest(cg, c.sp.rank, e, copy_body, &c);
}

void cg_layout(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  const Shape *ys = &n->type.shape, *xs = &cg->g->nodes[n->in[0]].type.shape;
  Sym yst[IR_MAX_RANK], xst[IR_MAX_RANK], st[IR_MAX_RANK], off = {0, false};
  contiguous(ys, yst);
  contiguous(xs, xst);
  switch (n->op) {
  case IR_PERMUTE:  /* y[idx] = x[idx permuted back]: output axis k walks input axis ia[k] */
    for (int k = 0; k < ys->rank; k++) st[k] = xst[n->ia[k]];
    strided_copy(cg, node, yst, off, n->in[0], st, off, ys);
    return;
  case IR_SLICE:
    for (int k = 0; k < xs->rank; k++) off = sym_add(off, sym_mul((Sym){n->ia[k], false}, xst[k]));
    strided_copy(cg, node, yst, (Sym){0, false}, n->in[0], xst, off, ys);
    return;
  case IR_PAD: {
    LLVMValueRef bytes = LLVMBuildNSWMul(cg->b, cg_numel(cg, ys), cg_i64(cg, dtype_size(n->type.dtype)), "");
    LLVMBuildMemSet(cg->b, cg_addr(cg, node), LLVMConstInt(cg->i8, 0, 0), bytes, 4);
    for (int k = 0; k < ys->rank; k++) off = sym_add(off, sym_mul((Sym){n->ia[k], false}, yst[k]));
    strided_copy(cg, node, yst, off, n->in[0], xst, (Sym){0, false}, xs);
    return;
  }
  case IR_CONCAT: {
    int ax = (int)n->ia[0];
    int64_t at = 0;
    for (int p = 0; p < n->nin; p++) {
      const Shape *ps = &cg->g->nodes[n->in[p]].type.shape;
      contiguous(ps, st);
      strided_copy(cg, node, yst, sym_mul((Sym){at, false}, yst[ax]), n->in[p], st, (Sym){0, false}, ps);
      at += ps->d[ax];
    }
    return;
  }
  default: unreachable();
  }
}

/* ---- reductions ------------------------------------------------------------------------- */

typedef struct RedCtx {
  int node, x;
  Space sp;     /* operand 0: the input (contiguous), 1: the output (0 on reduced axes) */
  bool init;    /* the initialisation loop over the output */
  LLVMValueRef scale;
  int split;    /* the kept axis of sp split over the threads, or -1 */
  LLVMValueRef dacc;  /* a sum to one value: its double accumulator, else NULL */
} RedCtx;

static void red_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  RedCtx *c = vctx;
  const IrNode *n = &cg->g->nodes[c->node];
  LLVMValueRef at = cg_elem_addr(cg, c->node, space_offset(cg, &c->sp, 1, idx));
  LLVMValueRef x = cg_load_f32(cg, cg_elem_addr(cg, c->x, space_offset(cg, &c->sp, 0, idx)));
  if (c->dacc) {
    LLVMValueRef d = LLVMBuildFAdd(cg->b, LLVMBuildLoad2(cg->b, cg->f64, c->dacc, ""),
                                   LLVMBuildFPExt(cg->b, x, cg->f64, ""), "");
    LLVMSetFastMathFlags(d, LLVMFastMathAllowReassoc);
    LLVMBuildStore(cg->b, d, c->dacc);
    return;
  }
  LLVMValueRef acc = cg_load_f32(cg, at), r;
  if (n->op == IR_MAX) {
    r = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOGT, x, acc, ""), x, acc, "");
  } else {
    r = LLVMBuildFAdd(cg->b, acc, x, "");
    LLVMSetFastMathFlags(r, LLVMFastMathAllowReassoc);
  }
  cg_store_f32(cg, r, at);
}

typedef struct FillCtx {
  int node;
  LLVMValueRef value;   /* store this ... */
  LLVMValueRef scale;   /* ... or multiply by this */
} FillCtx;

static void fill_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  FillCtx *c = vctx;
  LLVMValueRef at = cg_elem_addr(cg, c->node, idx[0]);
  LLVMValueRef v = c->value ? c->value : LLVMBuildFMul(cg->b, cg_load_f32(cg, at), c->scale, "");
  cg_store_f32(cg, v, at);
}

/* a reduction split over the pool's threads by a kept axis (split): each
 * part runs the whole loop nest with that axis limited to its range, so
 * every output element sums its inputs in the same order for any split */
static LLVMValueRef red_extent(Cg *cg, void *vctx) {
  RedCtx *c = vctx;
  return sym_value(cg, c->sp.ext[c->split]);
}

static void red_range(Cg *cg, LLVMValueRef lo, LLVMValueRef hi, void *vctx) {
  RedCtx *c = vctx;
  LLVMValueRef l[IR_MAX_RANK] = {0}, h[IR_MAX_RANK], idx[IR_MAX_RANK + 1];
  for (int i = 0; i < c->sp.rank; i++) h[i] = sym_value(cg, c->sp.ext[i]);
  l[c->split] = lo, h[c->split] = hi;
  loop_level(cg, 0, c->sp.rank, l, h, idx, red_body, c);
}

void cg_reduce(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  const Shape *xs = &cg->g->nodes[n->in[0]].type.shape;
  Shape keep = *xs;
  Sym count = {1, false};
  for (int a = 0; a < xs->rank; a++)
    if (n->ia[0] & (1 << a)) {
      count = sym_mul(count, sym_dim(xs->d[a]));
      keep.d[a] = 1;
    }
  LLVMValueRef nout = cg_numel(cg, &n->type.shape);
  FillCtx f = {node, cg_f32(cg, n->op == IR_MAX ? -INFINITY : 0), NULL};
  cg_loop_nest(cg, 1, &nout, fill_body, &f);
  RedCtx c = {node, n->in[0], {0}, false, NULL, -1, NULL};
  c.sp.rank = xs->rank;
  c.sp.nops = 2;
  for (int i = 0; i < xs->rank; i++) c.sp.ext[i] = sym_dim(xs->d[i]);
  space_strides(xs, xs, c.sp.st[0]);
  space_strides(&keep, xs, c.sp.st[1]);
  for (int a = 0; a < xs->rank; a++)
    if (n->ia[0] & (1 << a)) c.sp.st[1][a] = (Sym){0, false};
  space_collapse(&c.sp);
  /* the widest kept axis (one the output has), to split over the threads */
  for (int i = 0; i < c.sp.rank; i++)
    if (c.sp.st[1][i].c != 0 && c.sp.ext[i].c >= 2 && (c.split < 0 || c.sp.ext[i].c > c.sp.ext[c.split].c)) c.split = i;
  /* a sum or mean to one value (a loss over the batch's rows and positions:
   * 64,000 terms in an evaluation batch of the GPT) adds in double, then
   * rounds once; a float running sum drifted by 1.5e-6 relative there */
  bool one = n->op != IR_MAX && c.split < 0 && shape_numel(&n->type.shape, 1) == 1 &&
             shape_numel(&n->type.shape, 2) == 1;
  if (one) {
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    LLVMPositionBuilderAtEnd(cg->b, cg->entry);
    c.dacc = LLVMBuildAlloca(cg->b, cg->f64, "sum");
    LLVMPositionBuilderAtEnd(cg->b, here);
    LLVMBuildStore(cg->b, LLVMConstReal(cg->f64, 0), c.dacc);
    LLVMValueRef ext[IR_MAX_RANK];
    for (int i = 0; i < c.sp.rank; i++) ext[i] = sym_value(cg, c.sp.ext[i]);
    cg_loop_nest(cg, c.sp.rank, ext, red_body, &c);
    LLVMValueRef sum = LLVMBuildLoad2(cg->b, cg->f64, c.dacc, "");
    if (n->op == IR_MEAN) sum = LLVMBuildFDiv(cg->b, sum, LLVMBuildSIToFP(cg->b, sym_value(cg, count), cg->f64, ""), "");
    cg_store_f32(cg, LLVMBuildFPTrunc(cg->b, sum, cg->f32, ""), cg_elem_addr(cg, node, cg_i64(cg, 0)));
    return;
  }
  int64_t elements = shape_numel(xs, cg->max_rows);
  if (c.split >= 0 && parallel_loops(cg, elements)) {
    cg_parallel(cg, elements, red_extent, red_range, &c);
  } else {
    LLVMValueRef ext[IR_MAX_RANK];
    for (int i = 0; i < c.sp.rank; i++) ext[i] = sym_value(cg, c.sp.ext[i]);
    cg_loop_nest(cg, c.sp.rank, ext, red_body, &c);
  }
  if (n->op == IR_MEAN) {
    LLVMValueRef cnt = LLVMBuildSIToFP(cg->b, sym_value(cg, count), cg->f32, "");
    FillCtx s = {node, NULL, LLVMBuildFDiv(cg->b, cg_f32(cg, 1), cnt, "")};
    cg_loop_nest(cg, 1, &nout, fill_body, &s);
  }
}

/* ---- optimizer updates ----------------------------------------------------------------- */

typedef struct UpdCtx UpdCtx;
struct UpdCtx {
  int node;
  CgBody *body;
  void (*setup)(Cg *cg, UpdCtx *c);  /* computes the constants in the function being generated */
  int64_t numel;
  LLVMValueRef lr, a, b, c, d;       /* per-update constants */
  bool advance;                      /* AdamW's last update: count the applied step */
  LLVMValueRef keep, rate, copy;     /* a running average's 1 - a and a, and copy-back's flag (i1) */
  void (*apply)(Cg *cg, const IrNode *n, UpdCtx *c);  /* what the guard protects (NULL: the loop) */
};

/* ---- weight averaging (passes/average.c) ------------------------------------------------- */

/* the running average's constants from its operands k (a) and k + 1 (copy's flag, if copy) */
static void average_setup(Cg *cg, UpdCtx *c, int k, bool copy) {
  const IrNode *n = &cg->g->nodes[c->node];
  int a = n->in[k];
  c->rate = cg->imm[a] ? cg->imm[a] : cg_load_f32(cg, cg_addr(cg, a));
  c->keep = LLVMBuildFSub(cg->b, cg_f32(cg, 1), c->rate, "avg.keep");
  c->copy = NULL;
  if (!copy) return;
  int f = n->in[k + 1];
  LLVMValueRef flag = cg->imm[f] ? cg->imm[f] : cg_load_f32(cg, cg_addr(cg, f));
  c->copy = LLVMBuildFCmp(cg->b, LLVMRealUNE, flag, cg_f32(cg, 0), "avg.copy");
}

/* avg := (1 - a) avg + a w at element i, in the loop that computed w (the
 * parameter's new value, not yet stored); returns what w becomes: avg with
 * copy-back on this step, else w */
static LLVMValueRef average_at(Cg *cg, UpdCtx *c, int avg_node, LLVMValueRef w, LLVMValueRef i) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef aa = cg_elem_addr(cg, avg_node, i);
  LLVMValueRef avg = LLVMBuildFAdd(b, LLVMBuildFMul(b, c->keep, cg_load_f32(cg, aa), ""), LLVMBuildFMul(b, c->rate, w, ""), "");
  cg_store_f32(cg, avg, aa);
  return c->copy ? LLVMBuildSelect(b, c->copy, avg, w, "") : w;
}

/* an update's fused running average, if it has one: its constants */
static void update_average_setup(Cg *cg, UpdCtx *c) {
  const IrNode *n = &cg->g->nodes[c->node];
  if (n->ia[IR_UPDATE_AVERAGE]) average_setup(cg, c, ir_update_nbase(n) + 1, n->ia[IR_UPDATE_AVERAGE] == 2);
}

/* ... and at element i: what the parameter's new value w becomes */
static LLVMValueRef update_average_at(Cg *cg, UpdCtx *c, LLVMValueRef w, LLVMValueRef i) {
  const IrNode *n = &cg->g->nodes[c->node];
  return n->ia[IR_UPDATE_AVERAGE] ? average_at(cg, c, n->in[ir_update_nbase(n)], w, i) : w;
}

/* v = mom v + g;  d = nesterov ? g + mom v : v;  w -= lr d   (no momentum: w -= lr g) */
static void sgd_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  UpdCtx *c = vctx;
  const IrNode *n = &cg->g->nodes[c->node];
  LLVMBuilderRef b = cg->b;
  LLVMValueRef wa = cg_elem_addr(cg, n->in[0], idx[0]);
  LLVMValueRef g = flat_value(cg, n->in[1], idx[0]);
  LLVMValueRef d = g;
  if (n->ia[1] >= 0) {
    LLVMValueRef va = cg_elem_addr(cg, n->in[3], idx[0]);
    LLVMValueRef mom = cg_f32(cg, n->fa[0]);
    LLVMValueRef v = LLVMBuildFAdd(b, LLVMBuildFMul(b, mom, cg_load_f32(cg, va), ""), g, "");
    cg_store_f32(cg, v, va);
    d = n->ia[2] ? LLVMBuildFAdd(b, g, LLVMBuildFMul(b, mom, v, ""), "") : v;
  }
  LLVMValueRef w = cg_load_f32(cg, wa);
  w = LLVMBuildFSub(b, w, LLVMBuildFMul(b, c->lr, d, ""), "");
  cg_store_f32(cg, update_average_at(cg, c, w, idx[0]), wa);
}

static LLVMValueRef upd_extent(Cg *cg, void *vctx) { return cg_i64(cg, ((UpdCtx *)vctx)->numel); }

static void upd_range(Cg *cg, LLVMValueRef lo, LLVMValueRef hi, void *vctx) {
  UpdCtx *c = vctx;
  c->setup(cg, c);
  cg_loop_nest_from(cg, 1, lo, hi, NULL, c->body, c);
}

/* the update's loop over its parameter, split over the pool's threads when
 * it is large */
static void upd_loop(Cg *cg, UpdCtx *c) {
  if (parallel_loops(cg, c->numel)) {
    cg_parallel(cg, c->numel, upd_extent, upd_range, c);
    return;
  }
  upd_range(cg, cg_i64(cg, 0), cg_i64(cg, c->numel), c);
}

/* the update's loop, then (AdamW's last update) adamw.step += 1 */
static void upd_apply(Cg *cg, const IrNode *n, UpdCtx *c) {
  if (c->apply) {
    c->apply(cg, n, c);
    return;
  }
  upd_loop(cg, c);
  if (!c->advance) return;
  LLVMValueRef at = cg_addr(cg, n->in[5]);
  cg_store_f32(cg, LLVMBuildFAdd(cg->b, cg_load_f32(cg, at), cg_f32(cg, 1), ""), at);
}

/* a guarded update runs only if its flag (the last operand) is nonzero; in
 * diagnose mode (cg->diag_on) no update runs */
static void guarded(Cg *cg, const IrNode *n, UpdCtx *c) {
  LLVMValueRef cond = NULL;
  if (n->ia[IR_UPDATE_GUARDED]) {
    int f = n->in[n->nin - 1];
    LLVMValueRef ok = cg->imm[f] ? cg->imm[f] : cg_load_f32(cg, cg_addr(cg, f));
    cond = LLVMBuildFCmp(cg->b, LLVMRealONE, ok, cg_f32(cg, 0), "");
  }
  if (cg->diag_on) {
    LLVMValueRef normal = LLVMBuildNot(cg->b, cg->diag_on, "");
    cond = cond ? LLVMBuildAnd(cg->b, cond, normal, "") : normal;
  }
  if (!cond) {
    upd_apply(cg, n, c);
    return;
  }
  LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "update");
  LLVMBasicBlockRef skip = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "update.done");
  LLVMBuildCondBr(cg->b, cond, run, skip);
  LLVMPositionBuilderAtEnd(cg->b, run);
  upd_apply(cg, n, c);
  LLVMBuildBr(cg->b, skip);
  LLVMPositionBuilderAtEnd(cg->b, skip);
}

/* a work value the gradient tree of update u loads (not an immediate, not a
 * parameter read in place): zero its bytes [from, to) past its start */
static void zero_leaf_gaps(Cg *cg, int node, int64_t from, int64_t to) {
  const IrNode *n = &cg->g->nodes[node];
  if (cg->imm[node]) return;
  if (cg->plan.fused_into[node] >= 0) {
    for (int k = 0; k < n->nin; k++) zero_leaf_gaps(cg, n->in[k], from, to);
    return;
  }
  if (n->op == IR_PARAM && cg->plan.offset[node] < 0) return;
  LLVMValueRef at = LLVMBuildInBoundsGEP2(cg->b, cg->i8, cg_addr(cg, node), (LLVMValueRef[]){cg_i64(cg, from)}, 1, "");
  LLVMBuildMemSet(cg->b, at, LLVMConstInt(cg->i8, 0, 0), cg_i64(cg, to - from), 4);
}

/* An update in a group over the parameter arena (cg_plan_graph): nothing at
 * the members before the last; at the last, the padding between members'
 * gradients is zeroed and the group's loop runs as the first member's over
 * the whole span. Returns the node whose update is emitted, or -1. */
static int grouped(Cg *cg, int node, int64_t *numel) {
  int first = cg->plan.update_first[node];
  if (first < 0) return node;
  for (int j = node + 1; j < cg->g->len; j++)
    if (cg->plan.update_first[j] == first) return -1;
  const IrProgram *p = cg->p;
  int64_t v0 = cg->g->nodes[first].ia[0], base = cg->var_offsets[v0], end = base;
  for (int u = first; u <= node; u++) {
    if (cg->plan.update_first[u] != first) continue;
    int64_t v = cg->g->nodes[u].ia[0];
    if (cg->var_offsets[v] > end) zero_leaf_gaps(cg, cg->g->nodes[first].in[1], end - base, cg->var_offsets[v] - base);
    end = cg->var_offsets[v] + shape_numel(&p->vars.data[v].shape, 1) * 4;
  }
  *numel = (end - base) / 4;
  return first;
}

static void sgd_setup(Cg *cg, UpdCtx *c) {
  const IrNode *n = &cg->g->nodes[c->node];
  c->lr = cg->imm[n->in[2]] ? cg->imm[n->in[2]] : cg_load_f32(cg, cg_addr(cg, n->in[2]));
  update_average_setup(cg, c);
}

void cg_sgd_update(Cg *cg, int node) {
  int64_t numel = shape_numel(&cg->p->vars.data[cg->g->nodes[node].ia[0]].shape, 1);
  if ((node = grouped(cg, node, &numel)) < 0) return;
  UpdCtx c = {.node = node, .body = sgd_body, .setup = sgd_setup, .numel = numel};
  guarded(cg, &cg->g->nodes[node], &c);
}

/* w *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 * w -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
static void adamw_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  UpdCtx *c = vctx;
  const IrNode *n = &cg->g->nodes[c->node];
  LLVMBuilderRef b = cg->b;
  LLVMValueRef wa = cg_elem_addr(cg, n->in[0], idx[0]), ma = cg_elem_addr(cg, n->in[2], idx[0]);
  LLVMValueRef va = cg_elem_addr(cg, n->in[3], idx[0]);
  LLVMValueRef g = flat_value(cg, n->in[1], idx[0]);
  LLVMValueRef b1 = cg_f32(cg, n->fa[0]), b2 = cg_f32(cg, n->fa[1]);
  LLVMValueRef m = LLVMBuildFAdd(b, LLVMBuildFMul(b, b1, cg_load_f32(cg, ma), ""),
                                 LLVMBuildFMul(b, cg_f32(cg, 1 - n->fa[0]), g, ""), "");
  LLVMValueRef v = LLVMBuildFAdd(b, LLVMBuildFMul(b, b2, cg_load_f32(cg, va), ""),
                                 LLVMBuildFMul(b, cg_f32(cg, 1 - n->fa[1]), LLVMBuildFMul(b, g, g, ""), ""), "");
  cg_store_f32(cg, m, ma);
  cg_store_f32(cg, v, va);
  LLVMValueRef w = LLVMBuildFMul(b, cg_load_f32(cg, wa), c->a, "");  /* decay */
  LLVMValueRef denom = LLVMBuildFAdd(b, LLVMBuildFDiv(b, cg_intrinsic(cg, "llvm.sqrt", &v, 1), c->c, ""),
                                     cg_f32(cg, n->fa[2]), "");
  w = LLVMBuildFSub(b, w, LLVMBuildFDiv(b, LLVMBuildFMul(b, c->b, m, ""), denom, ""), "");
  cg_store_f32(cg, update_average_at(cg, c, w, idx[0]), wa);
}

static void adamw_setup(Cg *cg, UpdCtx *c) {
  const IrNode *n = &cg->g->nodes[c->node];
  LLVMBuilderRef b = cg->b;
  LLVMValueRef lr = cg->imm[n->in[4]] ? cg->imm[n->in[4]] : cg_load_f32(cg, cg_addr(cg, n->in[4]));
  LLVMValueRef one = cg_f32(cg, 1);
  /* t = the updates applied so far (adamw.step) + 1 */
  LLVMValueRef t = LLVMBuildFAdd(b, cg->imm[n->in[5]] ? cg->imm[n->in[5]] : cg_load_f32(cg, cg_addr(cg, n->in[5])),
                                 one, "t");
  LLVMValueRef bc1 = LLVMBuildFSub(b, one, cg_intrinsic(cg, "llvm.pow", (LLVMValueRef[]){cg_f32(cg, n->fa[0]), t}, 2), "");
  LLVMValueRef bc2 = LLVMBuildFSub(b, one, cg_intrinsic(cg, "llvm.pow", (LLVMValueRef[]){cg_f32(cg, n->fa[1]), t}, 2), "");
  c->lr = lr;
  c->a = LLVMBuildFSub(b, one, LLVMBuildFMul(b, lr, cg_f32(cg, n->fa[3]), ""), "");
  c->b = LLVMBuildFDiv(b, lr, bc1, "");
  c->c = cg_intrinsic(cg, "llvm.sqrt", &bc2, 1);
  update_average_setup(cg, c);
}

void cg_adamw_update(Cg *cg, int node) {
  bool last = true;  /* the last adamw_update with its count variable counts the step */
  for (int j = node + 1; j < cg->g->len && last; j++)
    last = cg->g->nodes[j].op != IR_ADAMW_UPDATE || cg->g->nodes[j].ia[3] != cg->g->nodes[node].ia[3];
  int64_t numel = shape_numel(&cg->p->vars.data[cg->g->nodes[node].ia[0]].shape, 1);
  if ((node = grouped(cg, node, &numel)) < 0) return;
  UpdCtx c = {.node = node, .body = adamw_body, .setup = adamw_setup, .numel = numel, .advance = last};
  guarded(cg, &cg->g->nodes[node], &c);
}

/* average: a parameter no update writes in this step (a frozen one) gets
 * its running average in a loop of its own */
static void average_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  UpdCtx *c = vctx;
  const IrNode *n = &cg->g->nodes[c->node];
  average_at(cg, c, n->in[1], cg_load_f32(cg, cg_elem_addr(cg, n->in[0], idx[0])), idx[0]);
}

static void average_only_setup(Cg *cg, UpdCtx *c) { average_setup(cg, c, 2, false); }

void cg_average(Cg *cg, int node) {
  int64_t numel = shape_numel(&cg->p->vars.data[cg->g->nodes[node].ia[0]].shape, 1);
  UpdCtx c = {.node = node, .body = average_body, .setup = average_only_setup, .numel = numel};
  guarded(cg, &cg->g->nodes[node], &c);
}

/* average_count: the counters := their new values (scalars), when the step is applied */
static void count_apply(Cg *cg, const IrNode *n, UpdCtx *c) {
  (void)c;
  for (int k = 0; k < n->nin - (n->ia[IR_UPDATE_GUARDED] ? 1 : 0); k++) {
    int o = n->in[k];
    LLVMValueRef v = cg->imm[o] ? cg->imm[o] : cg_load_f32(cg, cg_addr(cg, o));
    cg_store_f32(cg, v, cg_var_addr(cg, (int)n->ia[k]));
  }
}

void cg_average_count(Cg *cg, int node) {
  UpdCtx c = {.node = node, .apply = count_apply};
  guarded(cg, &cg->g->nodes[node], &c);
}

/* An outlined function: void (ptr rec, i32 part, i32 parts). A step's
 * parallel loop gets rec = {the step's eight arguments (stored once per
 * step, in its entry block: cg->par_args), then the addresses of the
 * tensors it touches, in the order it first touched them}, filled at the
 * call. Passing addresses rather than baking offsets into the code makes
 * the loop of every layer the same function; mergefunc (cg_optimize) then
 * keeps one, and a transformer of n blocks costs about one block's code to
 * optimise. A shared region (cg_module.c) and the loops in it get rec =
 * {the arguments, the call site's table of places}: (argument, byte offset)
 * pairs, the tensor at args[argument] + offset (the variables' or the work
 * arena's), or (-1, a number) for a node number it reports; the table is a
 * constant (made of the region's own table's pairs for a loop in a region),
 * so the region is the same function in every phase whose memory plan puts
 * its tensors elsewhere, and a call costs two stores. */
typedef struct CgCapture {
  bool places;               /* rec holds a table of places (else the addresses themselves) */
  LLVMValueRef rec;
  LLVMValueRef args;         /* the step's arguments (loaded from rec) */
  LLVMValueRef table;        /* places: the call site's table (loaded from rec) */
  LLVMBasicBlockRef entry;   /* where captured addresses are computed */
  LLVMValueRef *val;         /* per node: its address, once captured */
  int64_t *place;            /* places: (argument, offset) or (-1, a number) pairs */
  LLVMValueRef *consts;      /* in a shared region: per const node, a stand-in for its value */
  int *nodes;                /* addresses: the nodes */
  int n, cap;                /* entries, and room */
} CgCapture;

enum { PAR_ARGS = 8 };

/* the step's arguments, stored once in its entry block for every outlined function */
static LLVMValueRef par_args(Cg *cg) {
  if (cg->par_args) return cg->par_args;
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, cg->entry);
  cg->par_args = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->ptr, PAR_ARGS), "par_args");
  LLVMValueRef args[PAR_ARGS] = {cg->a_vars, cg->a_work, cg->a_x, cg->a_y, cg->a_rows, cg->a_scalars, cg->a_outputs,
                                 cg->a_seed};
  for (int i = 0; i < PAR_ARGS; i++)
    LLVMBuildStore(cg->b, args[i], LLVMBuildInBoundsGEP2(cg->b, cg->ptr, cg->par_args, (LLVMValueRef[]){cg_i64(cg, i)}, 1, ""));
  LLVMPositionBuilderAtEnd(cg->b, here);
  return cg->par_args;
}

/* the calling function's record {args, table}: one, in its entry block, its
 * table slot stored before each call */
static LLVMValueRef call_record(Cg *cg) {
  if (cg->par_rec) return cg->par_rec;
  LLVMValueRef args = par_args(cg);
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, cg->entry);
  cg->par_rec = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->ptr, 2), "par_rec");
  LLVMBuildStore(cg->b, args, cg->par_rec);
  LLVMPositionBuilderAtEnd(cg->b, here);
  return cg->par_rec;
}

static LLVMValueRef invariant_load(Cg *cg, LLVMTypeRef t, LLVMValueRef base, int64_t i) {
  LLVMValueRef at = LLVMBuildInBoundsGEP2(cg->b, t, base, (LLVMValueRef[]){cg_i64(cg, i)}, 1, "");
  LLVMValueRef v = LLVMBuildLoad2(cg->b, t, at, "");
  LLVMSetMetadata(v, LLVMGetMDKindIDInContext(cg->ctx, "invariant.load", 14), LLVMMDNodeInContext(cg->ctx, NULL, 0));
  return v;
}

static void add_pair(CgCapture *c, int64_t arg, int64_t off) {
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 16;
    c->place = xrealloc(c->place, sizeof(int64_t) * 2 * (size_t)c->cap);
  }
  c->place[2 * c->n] = arg;
  c->place[2 * c->n + 1] = off;
  c->n++;
}

/* pair k of the table, as two numbers */
static void load_pair(Cg *cg, CgCapture *c, int64_t k, LLVMValueRef *arg, LLVMValueRef *off) {
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, c->entry);
  *arg = invariant_load(cg, cg->i64, c->table, 2 * k);
  *off = invariant_load(cg, cg->i64, c->table, 2 * k + 1);
  LLVMPositionBuilderAtEnd(cg->b, here);
}

LLVMValueRef cg_capture_addr(Cg *cg, int node) {
  CgCapture *c = cg->capture;
  if (c->val[node]) return c->val[node];
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, c->entry);
  if (!c->places) {  /* rec[1 + k]: the address itself */
    LLVMValueRef addr = invariant_load(cg, cg->ptr, c->rec, 1 + (int64_t)c->n);
    LLVMPositionBuilderAtEnd(cg->b, here);
    if (c->n == c->cap) c->nodes = xrealloc(c->nodes, sizeof(int) * (size_t)(c->cap = c->cap ? 2 * c->cap : 16));
    c->nodes[c->n++] = node;
    return c->val[node] = addr;
  }
  LLVMValueRef arg = invariant_load(cg, cg->i64, c->table, 2 * (int64_t)c->n);
  LLVMValueRef off = invariant_load(cg, cg->i64, c->table, 2 * (int64_t)c->n + 1);
  LLVMValueRef base = LLVMBuildLoad2(cg->b, cg->ptr, LLVMBuildInBoundsGEP2(cg->b, cg->ptr, c->args, &arg, 1, ""), "");
  LLVMSetMetadata(base, LLVMGetMDKindIDInContext(cg->ctx, "invariant.load", 14), LLVMMDNodeInContext(cg->ctx, NULL, 0));
  LLVMValueRef addr = LLVMBuildInBoundsGEP2(cg->b, cg->i8, base, &off, 1, "");
  LLVMPositionBuilderAtEnd(cg->b, here);
  int place_arg;
  int64_t place_off;
  cg_addr_place(cg, node, &place_arg, &place_off);
  add_pair(c, place_arg, place_off);
  return c->val[node] = addr;
}

LLVMValueRef cg_var_addr(Cg *cg, int v) {
  CgCapture *c = cg->capture;
  if (!c || !c->places) return cg_byte_gep(cg, cg->a_vars, cg->var_offsets[v]);
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, c->entry);
  LLVMValueRef off = invariant_load(cg, cg->i64, c->table, 2 * (int64_t)c->n + 1);
  LLVMValueRef addr = LLVMBuildInBoundsGEP2(cg->b, cg->i8, cg->a_vars, &off, 1, "");
  LLVMPositionBuilderAtEnd(cg->b, here);
  add_pair(c, -1, cg->var_offsets[v]);
  return addr;
}

LLVMValueRef cg_capture_i64(Cg *cg, int64_t v) {
  CgCapture *c = cg->capture;
  if (!c || !c->places) return cg_i64(cg, v);
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, c->entry);
  LLVMValueRef r = invariant_load(cg, cg->i64, c->table, 2 * (int64_t)c->n + 1);
  LLVMPositionBuilderAtEnd(cg->b, here);
  add_pair(c, -1, v);
  return r;
}

void cg_outline_begin(Cg *cg, const char *what, CgOutline *o) {
  ASTC_ASSERT(!cg->in_micro);
  /* the step's arguments, every slot eight bytes: vars, work, x, y, rows, scalars, outputs, seed */
  LLVMTypeRef fields[PAR_ARGS] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->ptr, cg->ptr, cg->i64};
  o->here = LLVMGetInsertBlock(cg->b);
  o->pool_if = NULL;
  char name[160];
  snprintf(name, sizeof name, "%s_%s_%d", LLVMGetValueName(cg->fn), what, cg->nparallel++);
  LLVMTypeRef params[3] = {cg->ptr, cg->i32, cg->i32};
  LLVMValueRef fn = o->fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->voidt, params, 3, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  LLVMSetUnnamedAddress(fn, LLVMGlobalUnnamedAddr);  /* mergefunc may replace it by its twin, not a thunk */
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(cg->ctx, LLVMGetEnumAttributeKindForName("nounwind", 8), 0));
  /* a region, and the loops in it, take places; a step's loop the addresses */
  bool places = !strcmp(what, "region") || (cg->capture && cg->capture->places);
  if (places)  /* never inlined into its callers: each of them calls the one copy, optimised once */
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, LLVMGetEnumAttributeKindForName("noinline", 8), 0));
  if (!places) par_args(cg);  /* the record's first entry, in the caller's entry block */
  /* generate it with the caller's state put aside */
  o->saved = xmalloc(sizeof(Cg));
  *o->saved = *cg;
  CgCapture *cap = o->cap = xcalloc(1, sizeof(CgCapture));
  cap->places = places;
  cap->val = xcalloc((size_t)cg->g->len + 1, sizeof(LLVMValueRef));
  cg->fn = fn;
  cg->entry = cap->entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
  o->body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "body");
  LLVMPositionBuilderAtEnd(cg->b, cg->entry);
  LLVMValueRef rec = cap->rec = LLVMGetParam(fn, 0);
  if (places) {
    cap->args = invariant_load(cg, cg->ptr, rec, 0);
    cap->table = invariant_load(cg, cg->ptr, rec, 1);
  } else {
    cap->args = LLVMBuildLoad2(cg->b, cg->ptr, rec, "args");
  }
  LLVMValueRef *a[PAR_ARGS] = {&cg->a_vars, &cg->a_work, &cg->a_x, &cg->a_y, &cg->a_rows, &cg->a_scalars,
                               &cg->a_outputs, &cg->a_seed};
  for (unsigned i = 0; i < PAR_ARGS; i++)
    *a[i] = LLVMBuildLoad2(cg->b, fields[i], LLVMBuildInBoundsGEP2(cg->b, cg->ptr, cap->args, (LLVMValueRef[]){cg_i64(cg, i)}, 1, ""), "");
  cg->par_args = cap->args;  /* its own outlined loops get the same arguments */
  cg->par_rec = NULL;
  LLVMPositionBuilderAtEnd(cg->b, o->body);
  cg->capture = cap;
  cg->imm = xcalloc((size_t)cg->g->len + 1, sizeof(LLVMValueRef));
  cg->diag_on = NULL;
  /* in a shared region the constants stand in for what cg_outline_finish
   * makes of them, once it knows which the function uses */
  bool generic = cg_generic(cg);
  if (generic) cap->consts = xcalloc((size_t)cg->g->len + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < cg->g->len; i++) {
    const IrNode *n = &cg->g->nodes[i];
    if (generic && n->op == IR_CONST && cg_is_immediate(n))
      cg->imm[i] = cap->consts[i] = LLVMBuildFreeze(cg->b, cg_f32(cg, n->fa[0]), "");
    else if (cg_is_immediate(n)) cg_emit_immediate(cg, i);
    else cg_reshape_immediate(cg, i);
  }
}

void cg_outline_finish(Cg *cg, CgOutline *o) {
  LLVMBuildRetVoid(cg->b);
  CgCapture *cap = o->cap;
  LLVMPositionBuilderAtEnd(cg->b, cap->entry);
  for (int i = 0; cap->consts && i < cg->g->len; i++) {  /* in node order: the same in every graph */
    LLVMValueRef c = cap->consts[i];
    if (c && LLVMGetFirstUse(c)) LLVMReplaceAllUsesWith(c, cg_shape_f32(cg, (float)cg->g->nodes[i].fa[0]));
    if (c) LLVMInstructionEraseFromParent(c);
  }
  free(cap->consts);
  cap->consts = NULL;
  LLVMPositionBuilderAtEnd(cg->b, cap->entry);
  LLVMBuildBr(cg->b, o->body);
  free(cg->imm);
  free(cap->val);
  /* back to the caller, keeping the runtime declarations made meanwhile */
  int used = cg->nparallel;
  LLVMValueRef rt[RT_NUM];
  LLVMTypeRef rt_type[RT_NUM];
  memcpy(rt, cg->rt, sizeof rt);
  memcpy(rt_type, cg->rt_type, sizeof rt_type);
  *cg = *o->saved;
  free(o->saved);
  memcpy(cg->rt, rt, sizeof rt);
  memcpy(cg->rt_type, rt_type, sizeof rt_type);
  cg->nparallel = used;
  LLVMPositionBuilderAtEnd(cg->b, o->here);
}

void cg_outline_discard(CgOutline *o) {
  free(o->cap->place);
  free(o->cap->nodes);
  free(o->cap);
  o->cap = NULL;
}

/* fn(rec, part, parts): split over the pool, or as its one part here; with
 * pool_if (not NULL), the pool only where that number is not 0 */
static void call_outlined(Cg *cg, LLVMValueRef fn, LLVMValueRef rec, bool pool, LLVMValueRef pool_if) {
  if (pool && pool_if && LLVMIsAConstantInt(pool_if)) pool = LLVMConstIntGetZExtValue(pool_if) != 0, pool_if = NULL;
  if (pool && pool_if) {
    LLVMBasicBlockRef on = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "pool");
    LLVMBasicBlockRef off = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "here");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "called");
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, pool_if, cg_i64(cg, 0), ""), on, off);
    LLVMPositionBuilderAtEnd(cg->b, on);
    call_outlined(cg, fn, rec, true, NULL);
    LLVMBuildBr(cg->b, next);
    LLVMPositionBuilderAtEnd(cg->b, off);
    call_outlined(cg, fn, rec, false, NULL);
    LLVMBuildBr(cg->b, next);
    LLVMPositionBuilderAtEnd(cg->b, next);
    return;
  }
  if (pool) {
    LLVMValueRef call[2] = {fn, rec};
    cg_call(cg, RT_POOL_RUN, call, 2);
  } else {
    LLVMValueRef args[3] = {rec, LLVMConstInt(cg->i32, 0, 0), LLVMConstInt(cg->i32, 1, 0)};
    LLVMBuildCall2(cg->b, LLVMGlobalGetValueType(fn), fn, args, 3, "");
  }
}

void cg_outline_call(Cg *cg, CgOutline *o, LLVMValueRef fn, bool pool) {
  CgCapture *cap = o->cap;
  if (!cap->places) {  /* the record {args, addresses...}, on the caller's stack, filled here */
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    LLVMPositionBuilderAtEnd(cg->b, cg->entry);
    LLVMValueRef rec = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->ptr, (uint64_t)(1 + cap->n)), "par_rec");
    LLVMPositionBuilderAtEnd(cg->b, here);
    for (int i = 0; i < 1 + cap->n; i++) {
      LLVMValueRef v = i == 0 ? par_args(cg) : cg_addr(cg, cap->nodes[i - 1]);
      LLVMBuildStore(cg->b, v, LLVMBuildInBoundsGEP2(cg->b, cg->ptr, rec, (LLVMValueRef[]){cg_i64(cg, i)}, 1, ""));
    }
    cg_outline_discard(o);
    call_outlined(cg, fn, rec, pool, o->pool_if);
    return;
  }
  /* the call site's table: a constant, or in an outlined caller (a loop in
   * a region) made of the caller's own table's pairs, so that the caller
   * stays the same function in every phase */
  LLVMValueRef table;
  if (!cg->capture) {
    LLVMValueRef *pairs = xmalloc(sizeof(LLVMValueRef) * (size_t)(2 * cap->n + 1));
    for (int i = 0; i < 2 * cap->n; i++) pairs[i] = cg_i64(cg, cap->place[i]);
    LLVMValueRef init = LLVMConstArray2(cg->i64, pairs, (uint64_t)(2 * cap->n));
    table = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), "places");
    LLVMSetInitializer(table, init);
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(table, LLVMGlobalUnnamedAddr);
    free(pairs);
  } else {
    CgCapture *outer = cg->capture;
    LLVMTypeRef ty = LLVMArrayType2(cg->i64, (uint64_t)(2 * cap->n + 1));
    LLVMPositionBuilderAtEnd(cg->b, cg->entry);
    table = LLVMBuildAlloca(cg->b, ty, "places");
    LLVMPositionBuilderAtEnd(cg->b, o->here);
    for (int i = 0; i < cap->n; i++) {
      LLVMValueRef arg, off;
      add_pair(outer, cap->place[2 * i], cap->place[2 * i + 1]);
      load_pair(cg, outer, outer->n - 1, &arg, &off);
      LLVMBuildStore(cg->b, arg, LLVMBuildInBoundsGEP2(cg->b, cg->i64, table, (LLVMValueRef[]){cg_i64(cg, 2 * i)}, 1, ""));
      LLVMBuildStore(cg->b, off, LLVMBuildInBoundsGEP2(cg->b, cg->i64, table, (LLVMValueRef[]){cg_i64(cg, 2 * i + 1)}, 1, ""));
    }
  }
  cg_outline_discard(o);
  LLVMValueRef rec = call_record(cg);
  LLVMBuildStore(cg->b, table, LLVMBuildInBoundsGEP2(cg->b, cg->ptr, rec, (LLVMValueRef[]){cg_i64(cg, 1)}, 1, ""));
  call_outlined(cg, fn, rec, pool, o->pool_if);
}

void cg_outline_end(Cg *cg, CgOutline *o, bool pool) {
  cg_outline_finish(cg, o);
  cg_outline_call(cg, o, o->fn, pool);
}

void cg_parallel(Cg *cg, int64_t elements, CgExtent *extent, CgRange *range, void *ctx) {
  CgOutline o;
  /* in a shared region, whether the pool runs it is one of its graph's numbers */
  LLVMValueRef pool_if = cg_generic(cg) ? cg_shape_i64(cg, elements >= CG_PARALLEL_MIN) : NULL;
  cg_outline_begin(cg, "par", &o);
  o.pool_if = pool_if;
  LLVMValueRef n = extent(cg, ctx);
  LLVMValueRef part = LLVMBuildSExt(cg->b, LLVMGetParam(o.fn, 1), cg->i64, "part");
  LLVMValueRef parts = LLVMBuildSExt(cg->b, LLVMGetParam(o.fn, 2), cg->i64, "parts");
  LLVMValueRef lo = LLVMBuildSDiv(cg->b, LLVMBuildNSWMul(cg->b, n, part, ""), parts, "lo");
  LLVMValueRef hi = LLVMBuildSDiv(cg->b, LLVMBuildNSWMul(cg->b, n, LLVMBuildNSWAdd(cg->b, part, cg_i64(cg, 1), ""), ""),
                                  parts, "hi");
  range(cg, lo, hi, ctx);
  cg_outline_end(cg, &o, true);
}
