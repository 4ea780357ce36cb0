/* cg_values.c — what every part of the code generator builds on: the table
 * of runtime functions generated code calls, constants, dimensions, the
 * addresses of values, loads and stores, intrinsics, and the immediates
 * (constants and run-time scalars) of the function being generated. */
#include <math.h>
#include <string.h>

#include "astrt.h"
#include "astrt_kernels.h"
#include "astrt_program.h"
#include "cg_internal.h"

/* ---- the runtime functions generated code calls -------------------------------------- */

typedef struct RtSig {
  const char *name;
  const char *sig;   /* return type then parameters: v void, f float, i i32, l i64, p ptr */
  void *addr;
} RtSig;

static const RtSig rt_sigs[RT_NUM] = {
#define RT_SIG(id, fn, sig) [id] = {#fn, sig, (void *)fn},
    CG_RUNTIME_FNS(RT_SIG)
#undef RT_SIG
};

const char *cg_rt_name(CgRuntimeFn f) { return rt_sigs[f].name; }
void *cg_rt_address(CgRuntimeFn f) { return rt_sigs[f].addr; }
const char *cg_rt_signature(CgRuntimeFn f) { return rt_sigs[f].sig; }

static LLVMTypeRef sig_type(Cg *cg, char c) {
  switch (c) {
  case 'v': return cg->voidt;
  case 'f': return cg->f32;
  case 'i': return cg->i32;
  case 'l': return cg->i64;
  default: return cg->ptr;
  }
}

LLVMValueRef cg_rt(Cg *cg, CgRuntimeFn f) {
  if (cg->rt[f]) return cg->rt[f];
  const char *s = rt_sigs[f].sig;
  LLVMTypeRef params[CG_RUNTIME_FN_SIG_MAX];
  unsigned n = 0;
  ASTC_ASSERT(strlen(s) >= 1 && strlen(s) - 1 <= CG_RUNTIME_FN_SIG_MAX);
  for (const char *c = s + 1; *c; c++) params[n++] = sig_type(cg, *c);
  cg->rt_type[f] = LLVMFunctionType(sig_type(cg, s[0]), params, n, 0);
  cg->rt[f] = LLVMAddFunction(cg->mod, rt_sigs[f].name, cg->rt_type[f]);
  LLVMSetLinkage(cg->rt[f], LLVMExternalLinkage);
  return cg->rt[f];
}

LLVMValueRef cg_call(Cg *cg, CgRuntimeFn f, LLVMValueRef *args, unsigned n) {
  LLVMValueRef fn = cg_rt(cg, f);
  return LLVMBuildCall2(cg->b, cg->rt_type[f], fn, args, n, "");
}

/* ---- small helpers ------------------------------------------------------------------ */

LLVMValueRef cg_i64(Cg *cg, int64_t v) { return LLVMConstInt(cg->i64, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(Cg *cg, double v) { return LLVMConstReal(cg->f32, v); }

LLVMValueRef cg_dim(Cg *cg, int64_t d) { return d == IR_DIM_B ? cg->a_rows : cg_shape_i64(cg, d); }

LLVMValueRef cg_numel(Cg *cg, const Shape *s) {
  int64_t c = 1;
  bool batch = false;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] == IR_DIM_B) batch = true;
    else c *= s->d[i];
  }
  LLVMValueRef n = cg_shape_i64(cg, c);
  return batch ? LLVMBuildNSWMul(cg->b, n, cg->a_rows, "numel") : n;
}

LLVMValueRef cg_byte_gep(Cg *cg, LLVMValueRef base, int64_t off) {
  LLVMValueRef idx = cg_i64(cg, off);
  return LLVMBuildInBoundsGEP2(cg->b, cg->i8, base, &idx, 1, "");
}

void cg_addr_place(Cg *cg, int node, int *arg, int64_t *off) {
  const IrNode *n = &cg->g->nodes[node];
  ASTC_ASSERT(n->op != IR_INPUT);
  if (n->op == IR_PARAM && cg->plan.offset[node] < 0) {
    *arg = 0, *off = cg->var_offsets[n->ia[0]];
    return;
  }
  ASTC_ASSERT(cg->plan.offset[node] >= 0);  /* a value, or a parameter's snapshot */
  *arg = 1, *off = cg->plan.offset[node];
}

static LLVMValueRef own_addr(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (n->op == IR_INPUT) return n->ia[0] == 1 ? cg->a_y : cg->a_x;  /* features come in x's place */
  int arg;
  int64_t off;
  cg_addr_place(cg, node, &arg, &off);
  return cg_byte_gep(cg, arg ? cg->a_work : cg->a_vars, off);
}

LLVMValueRef cg_addr(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (ir_ops[n->op].cls == VIEW) return cg_addr(cg, n->in[0]);
  if (n->op == IR_INPUT || !cg->capture) return own_addr(cg, node);
  return cg_capture_addr(cg, node);
}

LLVMTypeRef cg_elem_type(Cg *cg, DType t) {
  switch (t) {
  case DT_I32: return cg->i32;
  case DT_BF16: return LLVMInt16TypeInContext(cg->ctx);  /* bf16 bits */
  case DT_F16: return LLVMHalfTypeInContext(cg->ctx);
  default: return cg->f32;
  }
}

LLVMValueRef cg_elem_addr(Cg *cg, int node, LLVMValueRef index) {
  LLVMValueRef base = cg_addr(cg, node);
  return LLVMBuildInBoundsGEP2(cg->b, cg_elem_type(cg, cg->g->nodes[node].type.dtype), base, &index, 1, "");
}

LLVMValueRef cg_load_f32(Cg *cg, LLVMValueRef addr) {
  LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->f32, addr, "");
  LLVMSetAlignment(v, 4);
  return v;
}

void cg_store_f32(Cg *cg, LLVMValueRef v, LLVMValueRef addr) {
  LLVMValueRef s = LLVMBuildStore(cg->b, v, addr);
  LLVMSetAlignment(s, 4);
}

LLVMValueRef cg_intrinsic(Cg *cg, const char *name, LLVMValueRef *args, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  ASTC_ASSERT(id != 0);
  LLVMTypeRef t = cg->f32;
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &t, 1);
  LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, &t, 1);
  return LLVMBuildCall2(cg->b, fty, fn, args, n, "");
}

LLVMValueRef cg_scalar_arg(Cg *cg, IrScalar s) {
  LLVMValueRef idx = cg_i64(cg, s);
  return cg_load_f32(cg, LLVMBuildInBoundsGEP2(cg->b, cg->f32, cg->a_scalars, &idx, 1, ""));
}

/* an immediate's value, computed here */
LLVMValueRef cg_immediate_value(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (n->op == IR_CONST) return cg_f32(cg, n->fa[0]);
  if (n->ia[0] == SC_ROWS) return LLVMBuildSIToFP(cg->b, cg->a_rows, cg->f32, "rows");
  return cg_scalar_arg(cg, (IrScalar)n->ia[0]);
}

void cg_emit_immediate(Cg *cg, int node) { cg->imm[node] = cg_immediate_value(cg, node); }

/* A reshape of an immediate (the mean's gradient of a constant seed,
 * f32[] -> f32[1]) is that immediate: it has no memory to point into. */
void cg_reshape_immediate(Cg *cg, int node) {
  const IrNode *n = &cg->g->nodes[node];
  if (n->op == IR_RESHAPE && cg->imm[n->in[0]]) cg->imm[node] = cg->imm[n->in[0]];
}
