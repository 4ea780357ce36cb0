/* cg_guard.c — conditional regions: the work of a block of layer dropping.
 *
 * A node with a guard (IrNode.guard = k, passes/drop.c) runs only in steps
 * where block k's gate, the graph's gate node with ia[0] = k, is nonzero.
 * Nodes are emitted in graph order; consecutive nodes with one guard share
 * one region:
 *
 *       %gate = load keep_k
 *       br (gate != 0), drop.kept, drop.next
 *   drop.kept:
 *       ... the nodes' loops and calls ...
 *       br drop.next
 *   drop.next:
 *
 * Nodes that emit no code (views, leaves read in place, values computed in
 * their consumer's loop) neither open nor close a region, so a block's
 * forward pass is one region, its backward another and its updates a third.
 * The memory plan never fuses a loop, pairs a loss or groups updates across
 * two guards (cg_plan.c), and keeps each gate alive until its last region.
 */
#include "cg_internal.h"

void cg_guard_begin(Cg *cg) {
  cg->region = 0;
  cg->region_next = NULL;
  free(cg->guard_flags);
  ir_guard_flags(cg->g, &cg->guard_flags);
}

void cg_guard_close(Cg *cg) {
  if (!cg->region) return;
  LLVMBuildBr(cg->b, cg->region_next);
  LLVMPositionBuilderAtEnd(cg->b, cg->region_next);
  cg->region = 0;
  cg->region_next = NULL;
}

void cg_guard_end(Cg *cg) {
  cg_guard_close(cg);
  free(cg->guard_flags);
  cg->guard_flags = NULL;
}

/* whether emitting node i generates no instructions (cg_module.c's emit_node) */
static bool silent(const Cg *cg, int i) {
  const IrNode *n = &cg->g->nodes[i];
  if (cg->plan.fused_into[i] >= 0 || cg->imm[i]) return true;
  switch (ir_ops[n->op].cls) {
  case LEAF: /* the row count, an immediate computed in place (per micro-batch), is used after any region */
    return !(n->op == IR_CONST || n->op == IR_SCALAR || (n->op == IR_PARAM && cg->plan.offset[i] >= 0));
  case VIEW: return n->op != IR_ALLREDUCE;
  case LAYOUT: return cg->plan.root[i] != i;
  default: return false;
  }
}

void cg_guard_for(Cg *cg, int node) {
  int k = cg->g->nodes[node].guard;
  if (k == cg->region || silent(cg, node)) return;
  cg_guard_close(cg);
  if (!k) return;
  int f = cg->guard_flags[k];
  LLVMValueRef gate = cg->imm[f] ? cg->imm[f] : cg_load_f32(cg, cg_addr(cg, f));
  LLVMValueRef on = LLVMBuildFCmp(cg->b, LLVMRealONE, gate, cg_f32(cg, 0), "kept");
  LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "drop.kept");
  cg->region_next = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "drop.next");
  LLVMBuildCondBr(cg->b, on, run, cg->region_next);
  LLVMPositionBuilderAtEnd(cg->b, run);
  cg->region = k;
}
