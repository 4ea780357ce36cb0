/* cg_module.c — one LLVM function per step graph, and the module around
 * them. Each IR node becomes straight-line code in execution order: a call
 * into the runtime for GEMM, convolution and pooling, an LLVM loop nest for
 * elementwise work, reductions and optimizer updates. */
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

#include <llvm-c/Analysis.h>

#include "astrt.h"
#include "astrt_kernels.h"
#include "astrt_program.h"
#include "cg_internal.h"

/* an alloca'd array of i64 shape parameters, in the entry block */
static LLVMValueRef shape_array(Cg *cg, LLVMValueRef *vals, int n) {
  LLVMBasicBlockRef cur = LLVMGetInsertBlock(cg->b);
  LLVMValueRef first = LLVMGetFirstInstruction(cg->entry);
  if (first) LLVMPositionBuilderBefore(cg->b, first);
  else LLVMPositionBuilderAtEnd(cg->b, cg->entry);
  LLVMValueRef arr = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->i64, (unsigned)n), "shape");
  LLVMPositionBuilderAtEnd(cg->b, cur);
  for (int i = 0; i < n; i++) {
    LLVMValueRef idx[2] = {cg_i64(cg, 0), cg_i64(cg, i)};
    LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(cg->i64, (unsigned)n), arr, idx, 2, "");
    LLVMBuildStore(cg->b, vals[i], p);
  }
  return arr;
}

/* ---- ops that call the runtime -------------------------------------------------------- */

/* astrt_conv_shape {n, c, h, w, o, kh, kw, sh, sw, ph, pw} from x and w shapes */
static void emit_conv(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  const Shape *xs, *ws;
  if (n->op == IR_CONV2D) xs = &cg->g->nodes[n->in[0]].type.shape, ws = &cg->g->nodes[n->in[1]].type.shape;
  else if (n->op == IR_CONV2D_GRAD_INPUT) xs = &n->type.shape, ws = &cg->g->nodes[n->in[1]].type.shape;
  else xs = &cg->g->nodes[n->in[0]].type.shape, ws = &n->type.shape;
  LLVMValueRef v[11] = {cg_dim(cg, xs->d[0]),       cg_shape_i64(cg, xs->d[1]), cg_shape_i64(cg, xs->d[2]),
                        cg_shape_i64(cg, xs->d[3]), cg_shape_i64(cg, ws->d[0]), cg_shape_i64(cg, ws->d[2]),
                        cg_shape_i64(cg, ws->d[3]), cg_shape_i64(cg, n->ia[0]), cg_shape_i64(cg, n->ia[1]),
                        cg_shape_i64(cg, n->ia[2]), cg_shape_i64(cg, n->ia[3])};
  LLVMValueRef shape = shape_array(cg, v, 11);
  LLVMValueRef args[4] = {shape, cg_addr(cg, n->in[0]), cg_addr(cg, n->in[1]), cg_addr(cg, node)};
  CgRuntimeFn f = n->op == IR_CONV2D ? RT_CONV2D : n->op == IR_CONV2D_GRAD_INPUT ? RT_CONV2D_GRAD_INPUT
                                                                                  : RT_CONV2D_GRAD_WEIGHT;
  cg_call(cg, f, args, 4);
}

/* astrt_pool_shape {planes, h, w, kh, kw, sh, sw, ph, pw} */
static void emit_pool(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (n->op == IR_RESIZE2D) {  /* astrt_resize_shape {planes, h, w, oh, ow, mode} */
    const Shape *xs = &cg->g->nodes[n->in[0]].type.shape;
    int r = xs->rank;
    Shape planes_shape = *xs;
    planes_shape.rank = r - 2;
    LLVMValueRef v[6] = {cg_numel(cg, &planes_shape),
                         cg_shape_i64(cg, xs->d[r - 2]),
                         cg_shape_i64(cg, xs->d[r - 1]),
                         cg_shape_i64(cg, n->type.shape.d[r - 2]),
                         cg_shape_i64(cg, n->type.shape.d[r - 1]),
                         cg_shape_i64(cg, n->ia[0])};
    LLVMValueRef args[3] = {shape_array(cg, v, 6), cg_addr(cg, n->in[0]), cg_addr(cg, node)};
    cg_call(cg, RT_RESIZE2D, args, 3);
    return;
  }
  const Shape *xs = n->op == IR_AVGPOOL2D_GRAD ? &n->type.shape : &cg->g->nodes[n->in[0]].type.shape;
  int r = xs->rank;
  Shape planes_shape = *xs;
  planes_shape.rank = r - 2;
  LLVMValueRef v[9] = {cg_numel(cg, &planes_shape), cg_shape_i64(cg, xs->d[r - 2]), cg_shape_i64(cg, xs->d[r - 1]),
                       cg_shape_i64(cg, n->ia[0]),    cg_shape_i64(cg, n->ia[1]),      cg_shape_i64(cg, n->ia[2]),
                       cg_shape_i64(cg, n->ia[3]),    cg_shape_i64(cg, n->ia[4]),      cg_shape_i64(cg, n->ia[5])};
  LLVMValueRef shape = shape_array(cg, v, 9);
  switch (n->op) {
  case IR_MAXPOOL2D:
  case IR_AVGPOOL2D: {
    LLVMValueRef args[3] = {shape, cg_addr(cg, n->in[0]), cg_addr(cg, node)};
    cg_call(cg, n->op == IR_MAXPOOL2D ? RT_MAXPOOL2D : RT_AVGPOOL2D, args, 3);
    break;
  }
  case IR_MAXPOOL2D_GRAD: {
    LLVMValueRef args[4] = {shape, cg_addr(cg, n->in[0]), cg_addr(cg, n->in[1]), cg_addr(cg, node)};
    cg_call(cg, RT_MAXPOOL2D_GRAD, args, 4);
    break;
  }
  default: {
    LLVMValueRef args[3] = {shape, cg_addr(cg, n->in[0]), cg_addr(cg, node)};
    cg_call(cg, RT_AVGPOOL2D_GRAD, args, 3);
  }
  }
}

/* onehot: zero the [rows, K] result, then one 1.0 per row (labels outside
 * [0, K) were rejected when the data was loaded; they are skipped here) */
typedef struct OnehotCtx {
  int node, labels;
  int64_t k;
} OnehotCtx;

static void onehot_row(Cg *cg, LLVMValueRef *idx, void *vctx) {
  OnehotCtx *c = vctx;
  LLVMValueRef lab = LLVMBuildLoad2(cg->b, cg->i32, cg_elem_addr(cg, c->labels, idx[0]), "label");
  LLVMValueRef lab64 = LLVMBuildSExt(cg->b, lab, cg->i64, "");
  LLVMValueRef ok = LLVMBuildICmp(cg->b, LLVMIntULT, lab64, cg_i64(cg, c->k), "");
  LLVMBasicBlockRef set = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "onehot.set");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "onehot.next");
  LLVMBuildCondBr(cg->b, ok, set, done);
  LLVMPositionBuilderAtEnd(cg->b, set);
  LLVMValueRef at = LLVMBuildNSWAdd(cg->b, LLVMBuildNSWMul(cg->b, idx[0], cg_i64(cg, c->k), ""), lab64, "");
  cg_store_f32(cg, cg_f32(cg, 1), cg_elem_addr(cg, c->node, at));
  LLVMBuildBr(cg->b, done);
  LLVMPositionBuilderAtEnd(cg->b, done);
}

static LLVMValueRef scalar_value(Cg *cg, int node);

/* the value of a uniform node (cg_uniform), computed here from immediates,
 * even those later in the graph than the point of use */
static LLVMValueRef uniform_value(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (n->op == IR_CONST) return cg->imm[node] ? cg->imm[node] : cg_f32(cg, n->fa[0]);
  if (n->op == IR_SCALAR) return cg->imm[node] ? cg->imm[node] : cg_immediate_value(cg, node);  /* not kept */
  if (n->op == IR_RESHAPE || n->op == IR_BROADCAST) return uniform_value(cg, n->in[0]);
  LLVMValueRef v[IR_MAX_IN];
  for (int k = 0; k < n->nin; k++) v[k] = uniform_value(cg, n->in[k]);
  return cg_ew_compute(cg, n, v);
}

/* rows of logits [R..., K]: every axis but the last (examples, or positions) */
static LLVMValueRef logit_rows(Cg *cg, const Shape *ls) {
  Shape r = *ls;
  r.rank--;
  return r.rank == 1 ? cg_dim(cg, r.d[0]) : cg_numel(cg, &r);
}

/* softmax_xent (with its paired gradient, cg_plan_loss_pairs) or a
 * softmax_xent_grad of its own: one runtime call, one pass over each row */
static void emit_xent(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  int pair = cg->plan.loss_pair[node];
  if (n->op == IR_XENT_GRAD && pair >= 0) return;  /* computed with its loss */
  const Shape *ls = &cg->g->nodes[n->in[0]].type.shape;
  int grad = n->op == IR_XENT_GRAD ? node : pair;
  LLVMValueRef null = LLVMConstNull(cg->ptr), dy = null, dy_all = cg_f32(cg, 0);
  if (grad >= 0) {
    int up = cg->g->nodes[grad].in[2];
    if (cg_uniform(cg->g, up)) dy_all = uniform_value(cg, up);
    else dy = cg_addr(cg, up);
  }
  LLVMValueRef args[9] = {cg_addr(cg, n->in[0]), cg_addr(cg, n->in[1]), logit_rows(cg, ls), cg_i64(cg, ls->d[ls->rank - 1]),
                          cg_f32(cg, n->fa[0]), n->op == IR_XENT ? cg_addr(cg, node) : null,
                          grad >= 0 ? cg_addr(cg, grad) : null, dy, dy_all};
  cg_call(cg, RT_SOFTMAX_XENT, args, 9);
}

static void emit_special(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (n->op == IR_XENT || n->op == IR_XENT_GRAD) {
    emit_xent(cg, node);
  } else if (n->op == IR_ARANGE || n->op == IR_TRIL) {
    cg_constant(cg, node);
  } else if (n->op == IR_ONEHOT) {
    LLVMValueRef bytes = LLVMBuildNSWMul(cg->b, cg_numel(cg, &n->type.shape), cg_i64(cg, 4), "");
    LLVMBuildMemSet(cg->b, cg_addr(cg, node), LLVMConstInt(cg->i8, 0, 0), bytes, 4);
    OnehotCtx c = {node, n->in[0], n->type.shape.d[1]};
    LLVMValueRef rows = cg_dim(cg, n->type.shape.d[0]);
    cg_loop_nest(cg, 1, &rows, onehot_row, &c);
  } else if (n->op == IR_DROPOUT_MASK) {
    /* in a micro-batch, the mask continues the big batch's element numbering */
    LLVMValueRef step = LLVMBuildFPToUI(cg->b, cg_scalar_arg(cg, SC_STEP), cg->i64, "");
    /* the batch-wide number of this (micro-batch's or shard's) first row */
    LLVMValueRef first_row = LLVMBuildFPToSI(cg->b, cg_scalar_arg(cg, SC_ROW0), cg->i64, "row0");
    if (cg->in_micro) first_row = LLVMBuildNSWAdd(cg->b, first_row, cg->micro_first, "");
    Shape row = n->type.shape;
    row.d[0] = 1;
    LLVMValueRef first = LLVMBuildNSWMul(cg->b, first_row, cg_numel(cg, &row), "");
    LLVMValueRef args[7] = {cg_addr(cg, node), cg_numel(cg, &n->type.shape), first, cg_f32(cg, n->fa[0]),
                            cg->a_seed, step, cg_i64(cg, n->ia[0])};
    cg_call(cg, RT_DROPOUT_MASK, args, 7);
  } else if (n->op == IR_DROP_GATE) {
    LLVMValueRef step = LLVMBuildFPToUI(cg->b, cg_scalar_arg(cg, SC_STEP), cg->i64, "");
    LLVMValueRef args[4] = {scalar_value(cg, n->in[0]), cg->a_seed, step, cg_i64(cg, n->ia[0])};
    cg_store_f32(cg, cg_call(cg, RT_DROP_GATE, args, 4), cg_addr(cg, node));
  } else if (n->op == IR_ALL_FINITE) {
    LLVMValueRef args[2] = {cg_addr(cg, n->in[0]), cg_numel(cg, &cg->g->nodes[n->in[0]].type.shape)};
    cg_store_f32(cg, cg_call(cg, RT_ALL_FINITE, args, 2), cg_addr(cg, node));
  } else if (n->op == IR_SCHED) {
    /* f(t) in double, as the driver's schedules are */
    LLVMValueRef t = LLVMBuildFPExt(cg->b, scalar_value(cg, n->in[0]), cg->f64, "");
    LLVMValueRef step = LLVMBuildFPExt(cg->b, cg_scalar_arg(cg, SC_STEP), cg->f64, "");
    step = LLVMBuildFSub(cg->b, step, LLVMConstReal(cg->f64, 1), "");
    LLVMValueRef v = cg_sched_value(cg, n->sx, (LLVMValueRef[]){t, step, LLVMConstReal(cg->f64, 0)});
    cg_store_f32(cg, LLVMBuildFPTrunc(cg->b, v, cg->f32, ""), cg_addr(cg, node));
  } else {  /* CORRECT */
    const Shape *ls = &cg->g->nodes[n->in[0]].type.shape;
    LLVMValueRef args[4] = {cg_addr(cg, n->in[0]), cg_addr(cg, n->in[1]), logit_rows(cg, ls),
                            cg_i64(cg, ls->d[ls->rank - 1])};
    cg_store_f32(cg, cg_call(cg, RT_COUNT_CORRECT, args, 4), cg_addr(cg, node));
  }
}

/* the value of a rank-0 node: its immediate or a load */
static LLVMValueRef scalar_value(Cg *cg, int node) {
  if (cg->imm[node]) return cg->imm[node];
  return cg_load_f32(cg, cg_addr(cg, node));
}

static void emit_effect(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  switch (n->op) {
  case IR_OUTPUT: {
    LLVMValueRef idx = cg_i64(cg, n->ia[0]);
    LLVMValueRef at = LLVMBuildInBoundsGEP2(cg->b, cg->f32, cg->a_outputs, &idx, 1, "");
    LLVMValueRef v = scalar_value(cg, n->in[0]);
    if (cg->in_micro) /* the step's loss is the rows-weighted sum over micro-batches, its count the sum */
      v = LLVMBuildFAdd(cg->b, cg_load_f32(cg, at),
                        n->ia[0] == OUT_CORRECT ? v : LLVMBuildFMul(cg->b, cg->micro_weight, v, ""), "");
    cg_store_f32(cg, v, at);
    break;
  }
  case IR_ASSIGN: {
    const IrVar *v = &cg->p->vars.data[n->ia[0]];
    LLVMValueRef dst = cg_var_addr(cg, (int)n->ia[0]);
    LLVMBasicBlockRef done = NULL;
    if (cg->diag_on) {  /* diagnose mode changes no variable */
      LLVMBasicBlockRef set = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "assign");
      done = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "assign.done");
      LLVMBuildCondBr(cg->b, cg->diag_on, done, set);
      LLVMPositionBuilderAtEnd(cg->b, set);
    }
    if (cg->imm[n->in[0]]) {
      cg_store_f32(cg, cg->imm[n->in[0]], dst);
    } else {
      int64_t bytes = shape_numel(&v->shape, 1) * dtype_size(v->dtype);
      LLVMBuildMemCpy(cg->b, dst, 4, cg_addr(cg, n->in[0]), 4, cg_i64(cg, bytes));
    }
    if (done) {
      LLVMBuildBr(cg->b, done);
      LLVMPositionBuilderAtEnd(cg->b, done);
    }
    break;
  }
  case IR_STORE_FEATURES: {
    /* the outputs argument of a prefix function is the feature cache */
    LLVMValueRef bytes = LLVMBuildNSWMul(cg->b, cg_numel(cg, &cg->g->nodes[n->in[0]].type.shape), cg_i64(cg, 4), "");
    LLVMBuildMemCpy(cg->b, cg->a_outputs, 4, cg_addr(cg, n->in[0]), 4, bytes);
    break;
  }
  case IR_SGD_UPDATE: cg_sgd_update(cg, node); break;
  case IR_ADAMW_UPDATE: cg_adamw_update(cg, node); break;
  case IR_AVERAGE: cg_average(cg, node); break;
  case IR_AVERAGE_COUNT: cg_average_count(cg, node); break;
  default: unreachable();
  }
}

/* The allreduce nodes from `first` on (adjacent): one runtime call over all
 * their buffers, astrt_dist_allreduce(ptrs, counts, n, shard weight). */
static void emit_allreduce(Cg *cg, int first) {
  const IrGraph *g = cg->g;
  int n = 0;
  while (first + n < g->len && g->nodes[first + n].op == IR_ALLREDUCE) n++;
  LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, cg->entry);  /* stack arrays once, in the entry block */
  LLVMValueRef ptrs = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->ptr, (uint64_t)n), "sync_ptrs");
  LLVMValueRef counts = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->i64, (uint64_t)n), "sync_counts");
  LLVMPositionBuilderAtEnd(cg->b, here);
  for (int k = 0; k < n; k++) {
    const IrNode *x = &g->nodes[first + k];
    ASTC_ASSERT(x->type.dtype == DT_F32);
    LLVMValueRef idx[2] = {cg_i64(cg, 0), cg_i64(cg, k)};
    LLVMBuildStore(cg->b, cg_addr(cg, x->in[0]), LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(cg->ptr, (uint64_t)n), ptrs, idx, 2, ""));
    LLVMBuildStore(cg->b, cg_numel(cg, &x->type.shape),
                   LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(cg->i64, (uint64_t)n), counts, idx, 2, ""));
  }
  LLVMValueRef args[4] = {ptrs, counts, cg_i64(cg, n), cg_scalar_arg(cg, SC_SHARD)};
  cg_call(cg, RT_DIST_ALLREDUCE, args, 4);
}

/* Diagnose mode, after node `node` has run: if its value holds a NaN or an
 * infinity and no earlier node's did, outputs[ASTRT_OUT_NONFINITE] = node.
 * The runtime function returns at once unless the flag is set (a call per
 * node, about a microsecond a step): a branch around each call split the
 * step into twice as many blocks and cost a quarter of the compile time. */
static void diag_check(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  IrOpClass cls = ir_ops[n->op].cls;
  if (!cg->diag_on || cg->imm[node] || cls == EFFECT || n->op == IR_CONST || n->op == IR_SCALAR ||
      n->type.dtype == DT_I32)
    return;
  LLVMValueRef idx = cg_i64(cg, ASTRT_OUT_NONFINITE);
  LLVMValueRef args[5] = {LLVMBuildInBoundsGEP2(cg->b, cg->f32, cg->a_outputs, &idx, 1, ""), cg_capture_i64(cg, node),
                          cg_addr(cg, node), cg_numel(cg, &n->type.shape),
                          LLVMConstInt(cg->i32, (unsigned long long)n->type.dtype, 0)};
  cg_call(cg, RT_CHECK_FINITE, args, 5);
}

static void emit_node_code(Cg *cg, int node);

static void emit_node(Cg *cg, int node) {
  if (cg->plan.fused_into[node] >= 0) return;  /* computed in its consumer's loop (cg_plan_fusion) */
  emit_node_code(cg, node);
  diag_check(cg, node);
}

/* ---- parallel loops ------------------------------------------------------------------ */

static void emit_node_code(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (cg_is_immediate(n)) {
    cg_emit_immediate(cg, node);
    return;
  }
  switch (ir_ops[n->op].cls) {
  case LEAF:
    if (n->op == IR_CONST) {  /* a filled tensor */
      cg->imm[node] = NULL;
      cg_elementwise(cg, node);
    } else if (n->op == IR_PARAM && cg->plan.offset[node] >= 0) {
      /* a variable the step also assigns: read it as it is now */
      const IrVar *v = &cg->p->vars.data[n->ia[0]];
      int64_t bytes = shape_numel(&v->shape, 1) * dtype_size(v->dtype);
      LLVMBuildMemCpy(cg->b, cg_addr(cg, node), 4, cg_var_addr(cg, (int)n->ia[0]), 4,
                      cg_i64(cg, bytes));
    }
    return;  /* other params and inputs are addressed in place */
  case VIEW:
    cg_reshape_immediate(cg, node);
    if (n->op == IR_ALLREDUCE && (node == 0 || cg->g->nodes[node - 1].op != IR_ALLREDUCE)) emit_allreduce(cg, node);
    return;
  case EW_UNARY: case EW_BINARY: case EW_TERNARY: case BROADCAST: cg_elementwise(cg, node); return;
  case LAYOUT:
    if (cg->plan.root[node] == node) cg_layout(cg, node);  /* else a view (cg_seq.c): no copy */
    return;
  case ROWWISE: cg_rowwise(cg, node); return;
  case INDEX: cg_index(cg, node); return;
  case REDUCE: cg_reduce(cg, node); return;
  case MATMUL: cg_matmul(cg, node); return;
  case CONV: emit_conv(cg, node); return;
  case POOL: emit_pool(cg, node); return;
  case SPECIAL: emit_special(cg, node); return;
  case EFFECT: emit_effect(cg, node); return;
  }
}

/* ---- micro-batched steps ------------------------------------------------------------- */

/* elements per row of the graph's feature input (x, or cached features) */
int64_t cg_row_size(const IrGraph *g) {
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_INPUT && g->nodes[i].ia[0] != 1) return shape_numel(&g->nodes[i].type.shape, 1);
  return 0;
}

typedef struct MicroCtx {
  int boundary;
  int64_t micro, example_size, target_size;
  LLVMValueRef rows, x, y;
} MicroCtx;

/* acc[j] += w * x[j] over an accumulator */
static void accumulate_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  int node = *(int *)vctx;
  const IrNode *n = &cg->g->nodes[node];
  LLVMValueRef at = cg_elem_addr(cg, node, idx[0]);
  LLVMValueRef x = cg_load_f32(cg, cg_elem_addr(cg, n->in[0], idx[0]));
  cg_store_f32(cg, LLVMBuildFAdd(cg->b, cg_load_f32(cg, at), LLVMBuildFMul(cg->b, cg->micro_weight, x, ""), ""), at);
}

/* one micro-batch: rows [m*micro, min((m+1)*micro, rows)) */
static void micro_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  MicroCtx *c = vctx;
  LLVMBuilderRef b = cg->b;
  LLVMValueRef first = LLVMBuildNSWMul(b, idx[0], cg_i64(cg, c->micro), "first");
  LLVMValueRef left = LLVMBuildNSWSub(b, c->rows, first, "");
  LLVMValueRef fits = LLVMBuildICmp(b, LLVMIntSLT, left, cg_i64(cg, c->micro), "");
  LLVMValueRef rows_m = LLVMBuildSelect(b, fits, left, cg_i64(cg, c->micro), "rows_m");
  LLVMValueRef xoff = LLVMBuildNSWMul(b, first, cg_i64(cg, c->example_size), "");
  cg->a_rows = rows_m;
  cg->a_x = LLVMBuildInBoundsGEP2(b, cg->f32, c->x, &xoff, 1, "x_m");
  LLVMValueRef yoff = LLVMBuildNSWMul(b, first, cg_i64(cg, c->target_size), "");  /* a label per position */
  cg->a_y = LLVMBuildInBoundsGEP2(b, cg->i32, c->y, &yoff, 1, "y_m");
  cg->micro_first = first;
  cg->micro_weight = LLVMBuildFDiv(b, LLVMBuildSIToFP(b, rows_m, cg->f32, ""), LLVMBuildSIToFP(b, c->rows, cg->f32, ""),
                                   "w_m");
  cg->in_micro = true;
  for (int i = 0; i < c->boundary; i++)
    if (!cg->imm[i] || (cg->g->nodes[i].op == IR_SCALAR && cg->g->nodes[i].ia[0] == SC_ROWS)) {
      cg_guard_for(cg, i);
      emit_node(cg, i);
    }
  for (int i = c->boundary; i < cg->g->len; i++)
    if (cg->g->nodes[i].op == IR_ACCUMULATE) {
      cg_guard_for(cg, i);  /* a dropped block's gradients are not accumulated */
      LLVMValueRef e = cg_numel(cg, &cg->g->nodes[i].type.shape);
      cg_loop_nest(cg, 1, &e, accumulate_body, &i);
    }
  cg_guard_close(cg);
  cg->in_micro = false;
}

/* zero the accumulators and the outputs the micro-batches add to, then loop */
static void emit_micro_loop(Cg *cg, int boundary, int64_t micro, int64_t example_size) {
  const IrGraph *g = cg->g;
  int64_t target_size = 1;
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_INPUT && g->nodes[i].ia[0] == 1) target_size = shape_numel(&g->nodes[i].type.shape, 1);
  MicroCtx c = {boundary, micro, example_size, target_size, cg->a_rows, cg->a_x, cg->a_y};
  for (int i = boundary; i < g->len; i++)
    if (g->nodes[i].op == IR_ACCUMULATE) {
      ASTC_ASSERT(!shape_has_batch(&g->nodes[i].type.shape));
      int64_t bytes = shape_numel(&g->nodes[i].type.shape, 1) * dtype_size(g->nodes[i].type.dtype);
      LLVMBuildMemSet(cg->b, cg_addr(cg, i), LLVMConstInt(cg->i8, 0, 0), cg_i64(cg, bytes), 4);
    }
  for (int i = 0; i < boundary; i++)
    if (g->nodes[i].op == IR_OUTPUT) {
      LLVMValueRef idx = cg_i64(cg, g->nodes[i].ia[0]);
      cg_store_f32(cg, cg_f32(cg, 0), LLVMBuildInBoundsGEP2(cg->b, cg->f32, cg->a_outputs, &idx, 1, ""));
    }
  LLVMValueRef n = LLVMBuildSDiv(cg->b, LLVMBuildNSWAdd(cg->b, c.rows, cg_i64(cg, micro - 1), ""), cg_i64(cg, micro),
                                 "nmicro");
  cg_loop_nest(cg, 1, &n, micro_body, &c);
  cg->a_rows = c.rows, cg->a_x = c.x, cg->a_y = c.y;
}

/* ---- shared regions ---------------------------------------------------------------- */

/* Phases whose step graphs differ (a progressive freeze: each phase deletes
 * one more layer's updates and backward work, its frozen batch norms
 * normalise with their running statistics, its step may start from cached
 * features) still compute most layers' forward, backward and update work
 * the same way, only at other offsets of their work arenas. A step's nodes
 * fall into regions: runs of consecutive nodes of one layer instance and
 * role (a layer's forward, its backward, its updates), unguarded (layer
 * dropping's conditional regions stay in the step). When a program has
 * several step functions, a census first emits every region of every graph
 * (steps, reused prefixes, selective backprop's scoring, evaluation and
 * prediction) as an outlined function reading its tensors' places (and
 * node numbers) from the call site's table (cg_outline_begin), in a module
 * of its own, and keys it by its code (region_key_of). A region that two or
 * more graphs run is then one function, defined in the part of the module
 * that holds the last graph running it (cg_units.c compiles the parts on
 * threads), declared in the others, and called from every graph that runs
 * it: optimised once, where each step was optimised whole before (the 11
 * freeze phases of bench/models/resnet_freeze_ramp.train). A region one
 * graph runs is emitted in it as before, and so is every region of a
 * program with one step function: its code does not change. */

/* Types, constants and attributes enter a key by their text (hashed once
 * per object: LLVM keeps one of each per context, alive as long as the
 * context), so that keys taken in different contexts — the census's
 * threads — compare. */
typedef struct Memo {
  const void **obj;
  uint64_t *hash;
  int n, cap;
} Memo;

static uint64_t *memo_slot(Memo *m, const void *p) {
  if (2 * (m->n + 1) > m->cap) {
    Memo old = *m;
    m->cap = m->cap ? 2 * m->cap : 1024;
    m->obj = xcalloc((size_t)m->cap, sizeof(void *));
    m->hash = xcalloc((size_t)m->cap, sizeof(uint64_t));
    m->n = 0;
    for (int i = 0; i < old.cap; i++)
      if (old.obj[i]) *memo_slot(m, old.obj[i]) = old.hash[i];
    free(old.obj);
    free(old.hash);
  }
  size_t h = ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
  for (size_t i = h & (size_t)(m->cap - 1);; i = (i + 1) & (size_t)(m->cap - 1)) {
    if (m->obj[i] == p) return &m->hash[i];
    if (!m->obj[i]) {
      m->obj[i] = p;
      m->n++;
      m->hash[i] = 0;
      return &m->hash[i];
    }
  }
}

static void memo_free(Memo *m) {
  free(m->obj);
  free(m->hash);
  *m = (Memo){0};
}

typedef struct CgRegion {
  uint64_t hash;
  uint64_t *key;      /* region_key_of */
  int nkey;
  int owner;          /* the last graph (slot) that runs it: its part defines it (the first
                       * graph's would hold most regions, and the wall time, in one part) */
  int nslots;         /* how many graphs run it */
  LLVMValueRef fn;    /* its function in the module being built, once made or declared */
  int64_t *shape;     /* its shape numbers (cg_shape_i64) where the census first met it */
  unsigned char *var; /* which of them differ between the places that run it: read from the table */
  int nshape;
} CgRegion;

typedef struct CgRegions {
  CgRegion *r;
  int n, cap;
  int **ids;          /* per slot: its regions, in order */
  int *nids;
  int **nodes;        /* per slot: the nodes of each of them */
  int next;           /* the graph being emitted: its next region */
  /* the region being emitted as a function: its shape numbers so far
   * (cg_shape_i64), their values (census) and which are read from the
   * table (NULL in the census: all of them, so that the key is the code's
   * form whatever the shapes) */
  bool generic;
  int shape_k;
  int64_t *shape_v;
  int shape_cap;
  const unsigned char *shape_var;
  Memo memo;          /* census: the keys' texts of types and constants */
} CgRegions;

bool cg_generic(const Cg *cg) { return cg->regions && cg->regions->generic; }

/* Whether shape number v, the next of the region being emitted, is read
 * from the call site's table: every one in the census (which records it),
 * else those that differ between the region's callers; none outside a
 * shared region. */
static bool shape_captured(Cg *cg, int64_t v) {
  CgRegions *rs = cg->regions;
  if (!rs || !rs->generic) return false;
  int k = rs->shape_k++;
  if (!cg->census) return rs->shape_var[k];
  if (k == rs->shape_cap) {
    rs->shape_cap = rs->shape_cap ? 2 * rs->shape_cap : 64;
    rs->shape_v = xrealloc(rs->shape_v, sizeof(int64_t) * (size_t)rs->shape_cap);
  }
  rs->shape_v[k] = v;
  return true;
}

LLVMValueRef cg_shape_i64(Cg *cg, int64_t v) { return shape_captured(cg, v) ? cg_capture_i64(cg, v) : cg_i64(cg, v); }

LLVMValueRef cg_shape_f32(Cg *cg, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (!shape_captured(cg, (int64_t)bits)) return cg_f32(cg, v);
  LLVMValueRef x = cg_capture_i64(cg, (int64_t)bits);
  return LLVMBuildBitCast(cg->b, LLVMBuildTrunc(cg->b, x, cg->i32, ""), cg->f32, "");
}

static uint64_t fnv1a_n(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static uint64_t fnv1a(const char *s) { return fnv1a_n(s, strlen(s)); }

static CgRegion *region_find(CgRegions *rs, const uint64_t *key, int n, uint64_t h) {
  for (int i = 0; i < rs->n; i++)
    if (rs->r[i].hash == h && rs->r[i].nkey == n && !memcmp(rs->r[i].key, key, sizeof(uint64_t) * (size_t)n))
      return &rs->r[i];
  return NULL;
}

/* The census's record that graph `slot` runs a region of `nodes` nodes with
 * this key (taken: kept or freed) and these shape numbers (var, if not
 * NULL: those already known to vary): a new region, or the one with the
 * same key, whose numbers that differ from these now vary; the region is
 * added to the slot's list and the slot made its owner (the last graph
 * that runs it). */
static void census_record(CgRegions *rs, int slot, uint64_t *key, int nkey, uint64_t h, const int64_t *shape,
                          const unsigned char *var, int nshape, int nodes) {
  CgRegion *r = region_find(rs, key, nkey, h);
  if (r) {
    free(key);
  } else {
    if (rs->n == rs->cap) rs->r = xrealloc(rs->r, sizeof(CgRegion) * (size_t)(rs->cap = rs->cap ? 2 * rs->cap : 64));
    r = &rs->r[rs->n++];
    *r = (CgRegion){h, key, nkey, slot, 0, NULL, xmalloc(sizeof(int64_t) * (size_t)(nshape + 1)),
                    xcalloc((size_t)nshape + 1, 1), nshape};
    if (nshape) memcpy(r->shape, shape, sizeof(int64_t) * (size_t)nshape);
  }
  ASTC_ASSERT(r->nshape == nshape);
  for (int i = 0; i < nshape; i++) r->var[i] |= (var && var[i]) || r->shape[i] != shape[i];
  int id = (int)(r - rs->r), n = rs->nids[slot];
  bool seen = false;
  for (int i = 0; i < n; i++) seen |= rs->ids[slot][i] == id;
  if (!seen) r->nslots++;
  r->owner = slot;
  rs->ids[slot] = xrealloc(rs->ids[slot], sizeof(int) * (size_t)(n + 1));
  rs->nodes[slot] = xrealloc(rs->nodes[slot], sizeof(int) * (size_t)(n + 1));
  rs->ids[slot][n] = id;
  rs->nodes[slot][n] = nodes;
  rs->nids[slot]++;
}

/* A region's key: its function and its outlined loops (the functions from
 * f on), instruction by instruction, as numbers: each instruction's opcode,
 * type, flags (predicates, wrap and fast-math flags, alignment, call-site
 * attributes, metadata) and operands (earlier instructions and blocks by
 * position, parameters, functions of the region by position, others by
 * name, constants and types by identity: LLVM keeps one of each per
 * context). Two regions with one key are the same code. */
typedef struct Key {
  uint64_t *v;
  int n, cap;
  const void **slot;  /* values -> positions: open addressing */
  int *pos, mask;
  Memo *memo;
} Key;

static void key_put(Key *k, uint64_t x) {
  if (k->n == k->cap) k->v = xrealloc(k->v, sizeof(uint64_t) * (size_t)(k->cap = k->cap ? 2 * k->cap : 1024));
  k->v[k->n++] = x;
}

static int *key_pos(Key *k, const void *p) {
  size_t h = ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
  for (size_t i = h & (size_t)k->mask;; i = (i + 1) & (size_t)k->mask) {
    if (!k->slot[i]) {
      k->slot[i] = p;
      k->pos[i] = -1;
      return &k->pos[i];
    }
    if (k->slot[i] == p) return &k->pos[i];
  }
}

static void key_string(Key *k, const char *s) {
  key_put(k, strlen(s));
  key_put(k, fnv1a(s));
}

/* a type, a constant or metadata, by its text: *h, the memo's entry, from
 * txt if this is its first time (txt NULL otherwise) */
static void key_text(Key *k, uint64_t *h, char *txt) {
  if (txt) {
    *h = fnv1a(txt) | 1;
    LLVMDisposeMessage(txt);
  }
  key_put(k, *h);
}

static void key_type(Key *k, LLVMTypeRef t) {
  uint64_t *h = memo_slot(k->memo, t);
  key_text(k, h, *h ? NULL : LLVMPrintTypeToString(t));
}

static void key_constant(Key *k, LLVMValueRef v) {
  uint64_t *h = memo_slot(k->memo, v);
  key_text(k, h, *h ? NULL : LLVMPrintValueToString(v));
}

static void key_value(Key *k, LLVMValueRef v, LLVMValueRef *fns, int nf) {
  if (LLVMIsAFunction(v)) {
    for (int i = 0; i < nf; i++)
      if (fns[i] == v) {
        key_put(k, 1), key_put(k, (uint64_t)i);
        return;
      }
    key_put(k, 2);
    key_string(k, LLVMGetValueName(v));
  } else if (LLVMIsAInstruction(v) || LLVMIsAArgument(v) || LLVMValueIsBasicBlock(v)) {
    int *pos = key_pos(k, LLVMValueIsBasicBlock(v) ? (const void *)LLVMValueAsBasicBlock(v) : (const void *)v);
    ASTC_ASSERT(*pos >= 0);
    key_put(k, 3), key_put(k, (uint64_t)*pos);
  } else if (LLVMIsAGlobalValue(v)) {
    key_put(k, 4);
    key_string(k, LLVMGetValueName(v));
  } else {  /* a constant, or metadata */
    key_put(k, 5), key_constant(k, v);
  }
}

static uint64_t key_hash(const Key *k) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < k->n; i++) h = (h ^ k->v[i]) * 1099511628211ull;
  return h;
}

static void region_key_of(Key *k, LLVMValueRef f0, unsigned invariant_kind) {
  int nf = 0, nvals = 0;
  for (LLVMValueRef f = f0; f; f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f)) {
      nf++;
      for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b)) {
        nvals++;
        for (LLVMValueRef in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in)) nvals++;
      }
    }
  LLVMValueRef *fns = xcalloc((size_t)nf + 1, sizeof(LLVMValueRef));
  nf = 0;
  for (LLVMValueRef f = f0; f; f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f)) fns[nf++] = f;
  int cap = 64;
  while (cap < 2 * (nvals + 8 * nf + 8)) cap *= 2;
  k->slot = xcalloc((size_t)cap, sizeof(void *));
  k->pos = xcalloc((size_t)cap, sizeof(int));
  k->mask = cap - 1;
  for (int fi = 0; fi < nf; fi++) {
    LLVMValueRef f = fns[fi];
    key_put(k, 0xF0F0), key_type(k, LLVMGlobalGetValueType(f));
    int pos = 0;  /* positions first: a loop's phi reads a later instruction */
    for (unsigned a = 0; a < LLVMCountParams(f); a++) *key_pos(k, LLVMGetParam(f, a)) = pos++;
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b)) {
      *key_pos(k, b) = pos++;
      for (LLVMValueRef in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in)) *key_pos(k, in) = pos++;
    }
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b)) {
      key_put(k, 0xB0B0);
      for (LLVMValueRef in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in)) {
        LLVMOpcode op = LLVMGetInstructionOpcode(in);
        key_put(k, (uint64_t)op);
        key_type(k, LLVMTypeOf(in));
        switch (op) {
        case LLVMICmp: key_put(k, (uint64_t)LLVMGetICmpPredicate(in)); break;
        case LLVMFCmp: key_put(k, (uint64_t)LLVMGetFCmpPredicate(in)); break;
        case LLVMAdd: case LLVMSub: case LLVMMul: case LLVMShl:
          key_put(k, (uint64_t)LLVMGetNSW(in) * 2 + (uint64_t)LLVMGetNUW(in));
          break;
        case LLVMGetElementPtr:
          key_put(k, (uint64_t)LLVMIsInBounds(in));
          key_type(k, LLVMGetGEPSourceElementType(in));
          break;
        case LLVMAlloca:
          key_type(k, LLVMGetAllocatedType(in));
          key_put(k, LLVMGetAlignment(in));
          break;
        case LLVMLoad: case LLVMStore:
          key_put(k, LLVMGetAlignment(in));
          key_put(k, (uint64_t)LLVMGetVolatile(in));
          key_put(k, LLVMGetMetadata(in, invariant_kind) != NULL);
          break;
        case LLVMCall: {
          key_type(k, LLVMGetCalledFunctionType(in));
          unsigned nargs = LLVMGetNumArgOperands(in);
          for (unsigned a = 0; a <= nargs; a++) {
            unsigned idx = a == nargs ? (unsigned)LLVMAttributeFunctionIndex : a + 1;
            unsigned na = LLVMGetCallSiteAttributeCount(in, idx);
            key_put(k, na);
            if (!na) continue;
            LLVMAttributeRef *at = xcalloc(na, sizeof(LLVMAttributeRef));
            LLVMGetCallSiteAttributes(in, idx, at);
            for (unsigned q = 0; q < na; q++)
              if (LLVMIsEnumAttribute(at[q])) {
                key_put(k, LLVMGetEnumAttributeKind(at[q]));
                key_put(k, LLVMGetEnumAttributeValue(at[q]));
              } else {  /* a string attribute */
                unsigned len;
                const char *kind = LLVMGetStringAttributeKind(at[q], &len);
                key_put(k, len), key_put(k, fnv1a_n(kind, len));
                kind = LLVMGetStringAttributeValue(at[q], &len);
                key_put(k, len), key_put(k, fnv1a_n(kind, len));
              }
            free(at);
          }
          break;
        }
        case LLVMPHI:
          for (unsigned q = 0; q < LLVMCountIncoming(in); q++)
            key_put(k, (uint64_t)*key_pos(k, LLVMGetIncomingBlock(in, q)));
          break;
        default: break;
        }
        if (LLVMCanValueUseFastMathFlags(in)) key_put(k, LLVMGetFastMathFlags(in));
        int no = LLVMGetNumOperands(in);
        key_put(k, (uint64_t)no);
        for (int q = 0; q < no; q++) key_value(k, LLVMGetOperand(in, (unsigned)q), fns, nf);
      }
    }
  }
  free(fns);
  free(k->slot);
  free(k->pos);
  k->slot = NULL, k->pos = NULL;
}

/* deletes function f and the functions defined after it (its outlined loops) */
static void delete_functions_from(Cg *cg, LLVMValueRef f) {
  (void)cg;
  while (f) {
    LLVMValueRef next = LLVMGetNextFunction(f);
    if (!LLVMIsDeclaration(f)) LLVMDeleteFunction(f);
    f = next;
  }
}

/* whether node i emits code of its own (not an immediate, not a view or a
 * value computed in its consumer's loop) */
static bool emits_code(const Cg *cg, int i) {
  const IrNode *n = &cg->g->nodes[i];
  if (cg->imm[i] || cg->plan.fused_into[i] >= 0) return false;
  switch (ir_ops[n->op].cls) {
  case LEAF: return n->op == IR_CONST || (n->op == IR_PARAM && cg->plan.offset[i] >= 0);
  case VIEW: return n->op == IR_ALLREDUCE;
  case LAYOUT: return cg->plan.root[i] == i;
  default: return true;
  }
}

/* the end of the region starting at node i (i itself if none does): the
 * run of unguarded nodes of i's layer and role, with code in it */
static int region_end(const Cg *cg, int i) {
  const IrGraph *g = cg->g;
  const IrNode *n = &g->nodes[i];
  if (!cg->regions || n->guard || !emits_code(cg, i)) return i;
  int end = i + 1;
  while (end < g->len && !g->nodes[end].guard && g->nodes[end].layer == n->layer && g->nodes[end].role == n->role)
    end++;
  return end;
}

/* nodes [first, end) as an outlined function (in cg->mod), named `name`
 * if not NULL (before its loops are outlined: they take its name); o is
 * left to call it */
static void region_function(Cg *cg, int first, int end, CgOutline *o, const char *name) {
  bool diagnose = cg->diag_on != NULL;
  cg_outline_begin(cg, "region", o);
  if (name) LLVMSetValueName2(o->fn, name, strlen(name));
  if (diagnose) {  /* as the step's: outputs[ASTRT_OUT_NONFINITE] < 0 */
    LLVMValueRef idx = cg_i64(cg, ASTRT_OUT_NONFINITE);
    LLVMValueRef flag = cg_load_f32(cg, LLVMBuildInBoundsGEP2(cg->b, cg->f32, cg->a_outputs, &idx, 1, ""));
    cg->diag_on = LLVMBuildFCmp(cg->b, LLVMRealOLT, flag, cg_f32(cg, 0), "diagnose");
  }
  for (int i = first; i < end; i++)
    if (!cg->imm[i]) emit_node(cg, i);
  cg_outline_finish(cg, o);
}

/* the name of region n, defined with the graph of slot `owner` */
static void region_name(const Cg *cg, int owner, int n, char *buf, size_t cap) {
  int np = cg->p->phases.len;
  if (owner < CG_SLOT_PREFIX(np, 0)) snprintf(buf, cap, "%s_step_%d_region_%d", cg->prefix, owner, n);
  else if (owner < CG_SLOT_SCORE(np, 0)) snprintf(buf, cap, "%s_prefix_%d_region_%d", cg->prefix, owner - np, n);
  else if (owner < CG_SLOT_EVAL(np)) snprintf(buf, cap, "%s_score_%d_region_%d", cg->prefix, owner - 2 * np, n);
  else snprintf(buf, cap, "%s_%s_region_%d", cg->prefix, owner == CG_SLOT_EVAL(np) ? "eval" : "predict", n);
}

static void emit_region(Cg *cg, int first, int end) {
  CgRegions *rs = cg->regions;
  cg_guard_close(cg);
  CgOutline o;
  if (cg->census) {  /* key it (in the census's module), count the steps that run it */
    rs->generic = true, rs->shape_k = 0, rs->shape_var = NULL;
    region_function(cg, first, end, &o, NULL);
    rs->generic = false;
    cg_outline_discard(&o);
    Key k = {.memo = &rs->memo};
    region_key_of(&k, o.fn, LLVMGetMDKindIDInContext(cg->ctx, "invariant.load", 14));
    /* the same code as a region met before: its shape numbers as read here, or from the table where they differ */
    census_record(rs, cg->slot, k.v, k.n, key_hash(&k), rs->shape_v, NULL, rs->shape_k, end - first);
    return;
  }
  ASTC_ASSERT(rs->next < rs->nids[cg->slot]);
  CgRegion *r = &rs->r[rs->ids[cg->slot][rs->next++]];
  if (r->nslots < 2) {  /* one step runs it: in the step, as before */
    for (int i = first; i < end; i++)
      if (!cg->imm[i]) {
        cg_guard_for(cg, i);
        emit_node(cg, i);
      }
    return;
  }
  /* named after the graph that defines it, <prefix>_<owner>_region_<n>,
   * and its loops after it: a part that holds half of that graph's group
   * keeps the region or its loops as it keeps the graph's functions or
   * loops (cg_units.c) */
  char name[128];
  region_name(cg, r->owner, (int)(r - rs->r), name, sizeof name);
  bool define = !r->fn && (!cg->bodies || cg->bodies[r->owner]);
  rs->generic = true, rs->shape_k = 0, rs->shape_var = r->var;
  region_function(cg, first, end, &o, define ? name : NULL);  /* its places; the function itself if defined here */
  rs->generic = false;
  ASTC_ASSERT(rs->shape_k == r->nshape);
  if (!r->fn) {
    if (define) {
      r->fn = o.fn;
      o.fn = NULL;
      if (cg->parts) {  /* the other parts call it too */
        LLVMSetLinkage(r->fn, LLVMExternalLinkage);
        LLVMSetVisibility(r->fn, LLVMHiddenVisibility);
        LLVMSetUnnamedAddress(r->fn, LLVMNoUnnamedAddr);
      }
    } else {  /* in another part */
      LLVMTypeRef params[3] = {cg->ptr, cg->i32, cg->i32};
      r->fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->voidt, params, 3, 0));
    }
  }
  if (o.fn) delete_functions_from(cg, o.fn);  /* a twin of r->fn */
  cg_outline_call(cg, &o, r->fn, false);
}

/* void name(ptr vars, ptr work, ptr x, ptr y, i64 rows, ptr scalars, ptr outputs, i64 seed) */
/* graph g as the step function `name`; with body false (a part of the
 * module built for another thread, cg_units.c) only declared, but planned
 * for its work size */
static LLVMValueRef emit_graph(Cg *cg, const IrGraph *g, const char *name, int64_t max_rows, int64_t micro,
                               int64_t *work_bytes, bool body_wanted) {
  LLVMTypeRef params[8] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->ptr, cg->ptr, cg->i64};
  LLVMTypeRef fty = LLVMFunctionType(cg->voidt, params, 8, 0);
  char full[128];
  snprintf(full, sizeof full, "%s_%s", cg->prefix, name);
  LLVMValueRef fn = LLVMAddFunction(cg->mod, full, fty);
  if (cg->parts) {
    /* a part of a module split for parallel compilation: the descriptor in
     * another object file refers to it */
    LLVMSetLinkage(fn, LLVMExternalLinkage);
    LLVMSetVisibility(fn, LLVMHiddenVisibility);
  } else {
    LLVMSetLinkage(fn, LLVMInternalLinkage);  /* reached through the descriptor only */
  }
  if (!body_wanted) {
    int boundary = micro > 0 ? cg_micro_boundary(g) : -1;
    BufPlan plan;
    cg_plan_graph_with(cg->p, g, boundary >= 0 ? micro : max_rows, &cg->opt, &plan);
    *work_bytes = plan.work_bytes;
    cg_plan_free(&plan);
    return fn;
  }
  unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
  unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  for (unsigned i = 0; i < 8; i++)
    if (params[i] == cg->ptr) LLVMAddAttributeAtIndex(fn, i + 1, LLVMCreateEnumAttribute(cg->ctx, noalias, 0));
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
  cg->g = g;
  cg->fn = fn;
  int boundary = micro > 0 ? cg_micro_boundary(g) : -1;
  cg_plan_graph_with(cg->p, g, boundary >= 0 ? micro : max_rows, &cg->opt, &cg->plan);
  cg->max_rows = max_rows;
  cg->plan_rows = boundary >= 0 ? micro : max_rows;
  *work_bytes = cg->plan.work_bytes;
  cg->imm = xcalloc((size_t)g->len + 1, sizeof(LLVMValueRef));
  LLVMValueRef *a[8] = {&cg->a_vars, &cg->a_work, &cg->a_x, &cg->a_y, &cg->a_rows, &cg->a_scalars,
                        &cg->a_outputs, &cg->a_seed};
  for (unsigned i = 0; i < 8; i++) *a[i] = LLVMGetParam(fn, i);
  cg->entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
  cg->par_args = NULL;
  cg->par_rec = NULL;
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "body");
  LLVMPositionBuilderAtEnd(cg->b, body);
  cg->diag_on = NULL;
  if (cg->diagnose) {  /* the caller asks for diagnosis with outputs[ASTRT_OUT_NONFINITE] = -1 */
    LLVMValueRef idx = cg_i64(cg, ASTRT_OUT_NONFINITE);
    LLVMValueRef flag = cg_load_f32(cg, LLVMBuildInBoundsGEP2(cg->b, cg->f32, cg->a_outputs, &idx, 1, ""));
    cg->diag_on = LLVMBuildFCmp(cg->b, LLVMRealOLT, flag, cg_f32(cg, 0), "diagnose");
  }
  /* immediates first, so every use is dominated (the row count is per
   * micro-batch; and where regions may be shared, used in their callers
   * too: first as well) */
  for (int i = 0; i < g->len; i++)
    if (cg_is_immediate(&g->nodes[i]) &&
        !(!(cg->regions && boundary < 0) && g->nodes[i].op == IR_SCALAR && g->nodes[i].ia[0] == SC_ROWS))
      emit_node(cg, i);
  cg_guard_begin(cg);
  if (boundary >= 0) {
    int64_t example = cg_row_size(g);
    emit_micro_loop(cg, boundary, micro, example);
    for (int i = boundary; i < g->len; i++) {
      if (g->nodes[i].op != IR_ACCUMULATE && cg->imm[i]) continue;
      cg_guard_for(cg, i);
      if (g->nodes[i].op != IR_ACCUMULATE) emit_node(cg, i);
      else diag_check(cg, i);  /* summed in the loop */
    }
  } else {
    /* a reshape of an immediate is that immediate from the start: a region
     * that holds it may be emitted elsewhere */
    if (cg->regions)
      for (int i = 0; i < g->len; i++) cg_reshape_immediate(cg, i);
    if (cg->regions) cg->regions->next = 0;
    for (int i = 0; i < g->len;) {
      int end = region_end(cg, i);
      if (end > i) {
        emit_region(cg, i, end);
        i = end;
        continue;
      }
      if (!cg->imm[i]) {
        cg_guard_for(cg, i);
        emit_node(cg, i);
      }
      i++;
    }
  }
  cg_guard_end(cg);
  LLVMBuildRetVoid(cg->b);
  LLVMPositionBuilderAtEnd(cg->b, cg->entry);
  LLVMBuildBr(cg->b, body);
  free(cg->imm);
  cg->imm = NULL;
  cg->diag_on = NULL;
  cg_plan_free(&cg->plan);
  return fn;
}

/* Options not at their defaults are recorded: the flags as !astc.codegen =
 * !{!"--cpu=x86-64 -fno-fusion"}, and a named CPU or features as every
 * defined function's "target-cpu" and "target-features", so that the IR
 * says what it was made for (llc and clang read the attributes). With the
 * defaults the module is what it always was. */
static void record_options(Cg *cg) {
  char *flags = cg_options_flags(&cg->opt);
  if (*flags) {
    LLVMMetadataRef s = LLVMMDStringInContext2(cg->ctx, flags, strlen(flags));
    LLVMAddNamedMetadataOperand(cg->mod, "astc.codegen",
                                LLVMMetadataAsValue(cg->ctx, LLVMMDNodeInContext2(cg->ctx, &s, 1)));
  }
  free(flags);
  if (!cg->opt.cpu && !cg->opt.features) return;
  char *cpu, *features;
  cg_target_cpu(&cg->opt, &cpu, &features);
  for (LLVMValueRef f = LLVMGetFirstFunction(cg->mod); f; f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f)) continue;
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(cg->ctx, "target-cpu", 10, cpu, (unsigned)strlen(cpu)));
    if (*features)
      LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                              LLVMCreateStringAttribute(cg->ctx, "target-features", 15, features,
                                                        (unsigned)strlen(features)));
  }
  free(cpu);
  free(features);
}

int cg_step_rep(const IrProgram *p, int i) {
  const IrPhase *ph = &p->phases.data[i];
  for (int j = 0; j < i; j++) {
    const IrPhase *q = &p->phases.data[j];
    if (q->micro == ph->micro && ir_graph_same(&q->step, &ph->step)) return j;
  }
  return i;
}

int64_t cg_step_plan_rows(const IrProgram *p, int rep) {
  int64_t rows = 0;
  for (int i = rep; i < p->phases.len; i++)
    if (cg_step_rep(p, i) == rep && ir_phase_plan_rows(&p->phases.data[i]) > rows)
      rows = ir_phase_plan_rows(&p->phases.data[i]);
  return rows;
}

/* every graph's function, defined if this module holds its body
 * (cg->bodies; all if NULL), else declared; cg->slot says which graph */
static void emit_functions(Cg *cg, LLVMValueRef *phase_fns, int64_t *phase_work, LLVMValueRef *eval_fn,
                           int64_t *eval_work, LLVMValueRef *predict_fn, int64_t *predict_work) {
  const IrProgram *p = cg->p;
  const bool *bodies = cg->bodies;
  int np = p->phases.len;
  for (int i = 0; i < np; i++) {
    char name[64];
    snprintf(name, sizeof name, "step_%d", i);
    const IrPhase *ph = &p->phases.data[i];
    int rep = cg_step_rep(p, i);
    if (rep < i) {
      phase_fns[i] = phase_fns[rep], phase_work[i] = phase_work[rep];
    } else {
      cg->diagnose = true;  /* the driver re-runs a step whose loss is not finite to diagnose it */
      cg->slot = CG_SLOT_STEP(i);
      phase_fns[i] = emit_graph(cg, &ph->step, name, cg_step_plan_rows(p, i), ph->micro, &phase_work[i],
                                !bodies || bodies[CG_SLOT_STEP(i)]);
      cg->diagnose = false;
    }
    if (ph->prefix.len && ph->prefix_from < i) {
      phase_fns[np + i] = phase_fns[np + ph->prefix_from], phase_work[np + i] = phase_work[np + ph->prefix_from];
    } else if (ph->prefix.len) {
      snprintf(name, sizeof name, "prefix_%d", i);
      cg->slot = CG_SLOT_PREFIX(np, i);
      phase_fns[np + i] = emit_graph(cg, &ph->prefix, name, p->eval_batch, 0, &phase_work[np + i],
                                     !bodies || bodies[CG_SLOT_PREFIX(np, i)]);
    }
    if (ph->score.len) {  /* selective backprop: over the whole batch, forward only */
      snprintf(name, sizeof name, "score_%d", i);
      cg->slot = CG_SLOT_SCORE(np, i);
      phase_fns[2 * np + i] = emit_graph(cg, &ph->score, name, ir_phase_rows(ph), 0, &phase_work[2 * np + i],
                                         !bodies || bodies[CG_SLOT_SCORE(np, i)]);
    }
  }
  cg->slot = CG_SLOT_EVAL(np);
  *eval_fn = emit_graph(cg, &p->eval, "eval", p->eval_batch, 0, eval_work, !bodies || bodies[CG_SLOT_EVAL(np)]);
  cg->slot = CG_SLOT_PREDICT(np);
  *predict_work = 0;
  *predict_fn = p->predict.len ? emit_graph(cg, &p->predict, "predict", p->eval_batch, 0, predict_work,
                                            !bodies || bodies[CG_SLOT_PREDICT(np)])
                               : LLVMConstPointerNull(cg->ptr);
}

void cg_init_module(Cg *cg, LLVMContextRef ctx, const char *name) {
  cg->ctx = ctx;
  cg->mod = LLVMModuleCreateWithNameInContext(name, ctx);
  cg->b = LLVMCreateBuilderInContext(ctx);
  cg->f32 = LLVMFloatTypeInContext(ctx);
  cg->f64 = LLVMDoubleTypeInContext(ctx);
  cg->i1 = LLVMInt1TypeInContext(ctx);
  cg->i8 = LLVMInt8TypeInContext(ctx);
  cg->i32 = LLVMInt32TypeInContext(ctx);
  cg->i64 = LLVMInt64TypeInContext(ctx);
  cg->ptr = LLVMPointerTypeInContext(ctx, 0);
  cg->voidt = LLVMVoidTypeInContext(ctx);
}

/* cg for program p in module `name` of ctx: its variables planned */
static void cg_begin(Cg *cg, const IrProgram *p, LLVMContextRef ctx, const CgOptions *opt, const char *name) {
  *cg = (Cg){.p = p, .ctx = ctx, .opt = opt ? *opt : cg_options_default()};
  cg->prefix = cg->opt.prefix ? cg->opt.prefix : "astc";
  cg_init_module(cg, ctx, name);
  cg->var_offsets = xmalloc(sizeof(int64_t) * (size_t)(p->vars.len + 1));
  cg->var_bytes = cg_plan_vars(p, cg->var_offsets);
}

/* The census of regions (a program with two step functions or more, else
 * NULL): every graph emitted once into a module of its own context, its
 * regions keyed. What it finds (which graphs run each region, its owner,
 * which shape numbers vary) is read-only afterwards, so the threads that
 * compile the parts of a module (cg_units.c) share one census instead of
 * each taking it again. */
struct CgCensus {
  CgRegions regions;
  int nslots;
  int64_t *work;  /* per slot: the nodes its part compiles (cg_census_work) */
};

/* one thread's share of the census: the graphs of the slots it is dealt
 * (mine), emitted in a context of its own */
typedef struct CensusJob {
  const IrProgram *p;
  const CgOptions *opt;
  bool *mine;
  int64_t load;
  CgRegions rs;
} CensusJob;

static void *census_job(void *arg) {
  CensusJob *j = arg;
  const IrProgram *p = j->p;
  int np = p->phases.len, nslots = CG_SLOTS(np);
  CgRegions *rs = &j->rs;
  rs->ids = xcalloc((size_t)nslots, sizeof(int *));
  rs->nids = xcalloc((size_t)nslots, sizeof(int));
  rs->nodes = xcalloc((size_t)nslots, sizeof(int *));
  LLVMContextRef ctx = LLVMContextCreate();
  Cg cg;
  cg_begin(&cg, p, ctx, j->opt, "census");
  cg.regions = rs;
  cg.census = true;
  cg.bodies = j->mine;  /* the other graphs only declared */
  LLVMValueRef *phase_fns = xcalloc((size_t)np * 3 + 1, sizeof(LLVMValueRef));
  int64_t *phase_work = xcalloc((size_t)np * 3 + 1, sizeof(int64_t));
  LLVMValueRef eval_fn, predict_fn;
  int64_t eval_work, predict_work = 0;
  emit_functions(&cg, phase_fns, phase_work, &eval_fn, &eval_work, &predict_fn, &predict_work);
  free(phase_fns);
  free(phase_work);
  free(cg.var_offsets);
  LLVMDisposeBuilder(cg.b);
  LLVMDisposeModule(cg.mod);
  LLVMContextDispose(ctx);
  memo_free(&rs->memo);
  return NULL;
}

static void regions_free(CgRegions *rs, int nslots) {
  for (int i = 0; i < rs->n; i++) free(rs->r[i].key), free(rs->r[i].shape), free(rs->r[i].var);
  free(rs->r);
  free(rs->shape_v);
  for (int i = 0; i < nslots && rs->ids; i++) free(rs->ids[i]), free(rs->nodes[i]);
  free(rs->ids);
  free(rs->nids);
  free(rs->nodes);
  memo_free(&rs->memo);
}

/* the slots in the order emit_functions emits them */
static int emission_order(int np, int *order) {
  int n = 0;
  for (int i = 0; i < np; i++) {
    order[n++] = CG_SLOT_STEP(i);
    order[n++] = CG_SLOT_PREFIX(np, i);
    order[n++] = CG_SLOT_SCORE(np, i);
  }
  order[n++] = CG_SLOT_EVAL(np);
  order[n++] = CG_SLOT_PREDICT(np);
  return n;
}

int64_t cg_slot_nodes(const IrProgram *p, int slot) {
  int np = p->phases.len;
  if (slot < np) return cg_step_rep(p, slot) == slot ? p->phases.data[slot].step.len : 0;
  if (slot < 2 * np) {
    const IrPhase *ph = &p->phases.data[slot - np];
    return ph->prefix_from == slot - np ? ph->prefix.len : 0;
  }
  if (slot < 3 * np) return p->phases.data[slot - 2 * np].score.len;
  if (slot == CG_SLOT_EVAL(np)) return p->eval.len;
  return slot == CG_SLOT_PREDICT(np) ? p->predict.len : 0;
}

CgCensus *cg_census(const IrProgram *p, const CgOptions *opt, int units) {
  int np = p->phases.len, nsteps = 0;
  for (int i = 0; i < np; i++) nsteps += cg_step_rep(p, i) == i;
  CgOptions o = opt ? *opt : cg_options_default();
  if (nsteps < 2 || o.no_shared_regions) return NULL;
  int nslots = CG_SLOTS(np);
  if (units < 1) units = 1;
  if (units > 16) units = 16;
  /* the graphs dealt to the threads, largest first to the least loaded */
  CensusJob *jobs = xcalloc((size_t)units, sizeof(CensusJob));
  for (int u = 0; u < units; u++) jobs[u] = (CensusJob){p, &o, xcalloc((size_t)nslots, sizeof(bool)), 0, {0}};
  bool *dealt = xcalloc((size_t)nslots, sizeof(bool));
  for (;;) {
    int best = -1;
    for (int s = 0; s < nslots; s++)
      if (!dealt[s] && cg_slot_nodes(p, s) > 0 && (best < 0 || cg_slot_nodes(p, s) > cg_slot_nodes(p, best))) best = s;
    if (best < 0) break;
    dealt[best] = true;
    CensusJob *j = &jobs[0];
    for (int u = 1; u < units; u++)
      if (jobs[u].load < j->load) j = &jobs[u];
    j->mine[best] = true;
    j->load += cg_slot_nodes(p, best);
  }
  pthread_t threads[16];
  bool started[16] = {false};
  for (int u = 1; u < units; u++)
    started[u] = jobs[u].load && pthread_create(&threads[u], NULL, census_job, &jobs[u]) == 0;
  census_job(&jobs[0]);
  for (int u = 1; u < units; u++)
    if (started[u]) pthread_join(threads[u], NULL);
    else if (jobs[u].load) census_job(&jobs[u]);
  /* merged in emission order: what one thread taking every graph would find */
  CgCensus *c = xcalloc(1, sizeof(CgCensus));
  c->nslots = nslots;
  CgRegions *rs = &c->regions;
  rs->ids = xcalloc((size_t)nslots, sizeof(int *));
  rs->nids = xcalloc((size_t)nslots, sizeof(int));
  rs->nodes = xcalloc((size_t)nslots, sizeof(int *));
  int *order = xcalloc((size_t)nslots, sizeof(int));
  int norder = emission_order(np, order);
  for (int q = 0; q < norder; q++) {
    int s = order[q];
    const CgRegions *js = NULL;
    for (int u = 0; u < units && !js; u++)
      if (jobs[u].mine[s]) js = &jobs[u].rs;
    for (int k = 0; js && k < js->nids[s]; k++) {
      const CgRegion *lr = &js->r[js->ids[s][k]];
      uint64_t *key = xmalloc(sizeof(uint64_t) * (size_t)(lr->nkey + 1));
      memcpy(key, lr->key, sizeof(uint64_t) * (size_t)lr->nkey);
      census_record(rs, s, key, lr->nkey, lr->hash, lr->shape, lr->var, lr->nshape, js->nodes[s][k]);
    }
  }
  free(order);
  free(dealt);
  for (int u = 0; u < units; u++) {
    regions_free(&jobs[u].rs, nslots);
    free(jobs[u].mine);
  }
  free(jobs);
  for (int i = 0; i < rs->n; i++) free(rs->r[i].key), rs->r[i].key = NULL;  /* not needed past the merge */
  /* the work of each slot's part: its nodes, less those of regions another defines */
  c->work = xcalloc((size_t)c->nslots, sizeof(int64_t));
  for (int s = 0; s < c->nslots; s++)
    for (int k = 0; k < rs->nids[s]; k++) {
      const CgRegion *r = &rs->r[rs->ids[s][k]];
      c->work[s] -= r->nslots >= 2 && r->owner != s ? rs->nodes[s][k] : 0;
    }
  return c;
}

void cg_census_free(CgCensus *c) {
  if (!c) return;
  regions_free(&c->regions, c->nslots);
  free(c->work);
  free(c);
}

int64_t cg_census_work(const CgCensus *c, int slot) { return c ? c->work[slot] : 0; }

LLVMModuleRef cg_build_module_part(const IrProgram *p, LLVMContextRef ctx, const CgOptions *opt, const bool *bodies,
                                   const CgCensus *census) {
  Cg cg;
  cg_begin(&cg, p, ctx, opt, p->source_path ? p->source_path : "astc");
  cg.parts = bodies != NULL;
  int np = p->phases.len;
  /* [0, np): steps, [np, 2 np): prefixes, [2 np, 3 np): scoring graphs */
  LLVMValueRef *phase_fns = xcalloc((size_t)np * 3 + 1, sizeof(LLVMValueRef));
  int64_t *phase_work = xcalloc((size_t)np * 3 + 1, sizeof(int64_t));
  LLVMValueRef eval_fn, predict_fn;
  int64_t eval_work, predict_work = 0;
  CgCensus *own = census ? NULL : cg_census(p, opt, 1);
  if (!census) census = own;
  /* this module's copy of the census: the regions' functions are its own */
  CgRegions regions = {0};
  if (census) {
    regions = census->regions;
    regions.r = xmalloc(sizeof(CgRegion) * (size_t)(regions.n + 1));
    if (regions.n) memcpy(regions.r, census->regions.r, sizeof(CgRegion) * (size_t)regions.n);
    for (int i = 0; i < regions.n; i++) regions.r[i].fn = NULL;
    regions.shape_v = NULL, regions.shape_cap = 0;
    cg.regions = &regions;
  }
  cg.bodies = bodies;
  emit_functions(&cg, phase_fns, phase_work, &eval_fn, &eval_work, &predict_fn, &predict_work);
  if (census) free(regions.r);
  cg_census_free(own);
  cg.regions = NULL;
  if (!bodies || bodies[CG_SLOT_DESC(np)]) {
    cg_emit_schedule(&cg);
    cg_emit_descriptor(&cg, phase_fns, phase_work, eval_fn, eval_work, predict_fn, predict_work);
    if (cg.opt.with_main) cg_emit_main(&cg);
  }
  record_options(&cg);
  free(phase_fns);
  free(phase_work);
  free(cg.var_offsets);
  LLVMDisposeBuilder(cg.b);

  char *msg = NULL;
  if (LLVMVerifyModule(cg.mod, LLVMReturnStatusAction, &msg)) {
    fprintf(stderr, "astc: internal error: generated LLVM IR does not verify:\n%s\n", msg);
    LLVMDisposeMessage(msg);
    LLVMDisposeModule(cg.mod);
    return NULL;
  }
  LLVMDisposeMessage(msg);
  return cg.mod;
}

LLVMModuleRef cg_build_module(const IrProgram *p, LLVMContextRef ctx, const CgOptions *opt) {
  return cg_build_module_part(p, ctx, opt, NULL, NULL);
}
