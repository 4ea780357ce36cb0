/* precision.c — precision lowering as a program rewrite (mixed precision,
 * Micikevicius et al. 2018; torch.autocast's semantics).
 *
 *   - every operand of a lowered op (matmul and the conv2d family by
 *     default) is rounded through the 16-bit format (bf16 or fp16) and the op
 *     accumulates in fp32: x -> cast<bf16> -> cast<f32> -> matmul;
 *   - saved activations — forward values the backward pass reads — are kept
 *     only as their 16-bit copy and widened right before each backward use,
 *     so the fp32 original dies after the forward pass: the stored
 *     activation bytes halve;
 *   - master weights, gradients, updates, reductions, softmax and the loss
 *     stay fp32, and so does everything in a layer, layer kind or function
 *     named in `keep`;
 *   - fp16 adds dynamic loss scaling: the backward pass starts from the
 *     run-time loss scale S instead of 1, the gradients are divided by S
 *     before the update, and an all-finite check over them skips the whole
 *     update (output `overflow`) so the driver can halve S; it doubles S
 *     after growth_interval clean steps.
 *
 * Products. With bf16, a lowered matmul takes the bf16 copies of its
 * operands as they are (the IR's matmul of bf16 operands gives an f32
 * result): the runtime's GEMM runs them as bf16 dot products with fp32
 * accumulation where the CPU has AVX512_BF16 (libxsmm's kernels, vdpbf16ps),
 * and elsewhere widens them to fp32 — exactly — and runs the fp32 GEMM
 * (runtime/kernels_gemm_batched.c), which is what this pass's casts did
 * before; astc says which path runs (compiler/tools/machine.c). No CPU here
 * has AVX512-FP16, so fp16 products, and the convolutions of either format,
 * still widen their operands in generated vector code (F16C for fp16,
 * integer shifts for bf16) and run in fp32: for them lowering saves memory,
 * not time.
 */
#include <string.h>

#include "pass.h"
#include "rewrite.h"

typedef struct Lowering {
  const IrProgram *p;
  const SpArg *keep;           /* the rule's `keep` list */
  DType low;
  bool ops[IR_NUM_OPS];        /* lowered ops */
} Lowering;

static bool in_list(const SpArg *a, const char *name) {
  for (int i = 0; a && name && i < a->nnames; i++)
    if (!strcmp(a->names[i], name)) return true;
  return false;
}

static bool kept(const Lowering *lw, const IrNode *n) {
  const SpArg *keep = lw->keep;
  /* the loss and its gradient with respect to the logits stay fp32 (and so
   * do the logits the gradient reads: they are not saved in 16 bits) */
  if (n->role == ROLE_LOSS || n->op == IR_XENT_GRAD) return true;
  if (n->layer >= 0 && (in_list(keep, lw->p->layers.data[n->layer].name) ||
                        in_list(keep, lw->p->layers.data[n->layer].kind)))
    return true;
  return in_list(keep, n->scope) || in_list(keep, ir_ops[n->op].name);
}

static bool lowered_op(const Lowering *lw, const IrNode *n) { return lw->ops[n->op] && !kept(lw, n); }

/* a forward value the backward pass reads, and only outside kept layers
 * (a kept layer reads its saved activations in fp32); not a scalar: one
 * number saves no memory in 16 bits, and a scalar the backward reads is a
 * scale (layer dropping's gate, 1/p for a kept block: rounded to bf16 it
 * scaled the block's gradient by another number than its forward, and hid
 * the gate from drop, which then found nothing of the block's backward to
 * skip) */
static bool saved(const Lowering *lw, const IrGraph *g, int i, const int *first_bwd_use, const bool *kept_bwd_use) {
  const IrNode *n = &g->nodes[i];
  return n->role == ROLE_FORWARD && first_bwd_use[i] >= 0 && !kept_bwd_use[i] && n->type.dtype == DT_F32 &&
         n->type.shape.rank > 0 && ir_ops[n->op].cls != LEAF && !kept(lw, n);
}

static void lower_graph(const Lowering *lw, IrGraph *g) {
  int n = g->len;
  int *first_bwd_use = xmalloc(sizeof(int) * (size_t)(n + 1));
  bool *want_low = xcalloc((size_t)n + 1, sizeof(bool));
  bool *kept_bwd_use = xcalloc((size_t)n + 1, sizeof(bool));
  for (int i = 0; i < n; i++) first_bwd_use[i] = -1;
  for (int i = 0; i < n; i++) {
    const IrNode *u = &g->nodes[i];
    for (int k = 0; k < u->nin; k++) {
      int o = u->in[k];
      if (u->role == ROLE_BACKWARD && first_bwd_use[o] < 0) first_bwd_use[o] = i;
      if (u->role == ROLE_BACKWARD && kept(lw, u)) kept_bwd_use[o] = true;
      if (lowered_op(lw, u) && g->nodes[o].type.dtype == DT_F32) want_low[o] = true;
    }
  }
  for (int i = 0; i < n; i++)
    if (saved(lw, g, i, first_bwd_use, kept_bwd_use)) want_low[i] = true;

  IrRewrite rw;
  rw_begin(&rw, g);
  int *low = xmalloc(sizeof(int) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) low[i] = -1;
  Type lt = {lw->low, SHAPE_SCALAR}, ft = {DT_F32, SHAPE_SCALAR};
  for (int i = 0; i < n; i++) {
    const IrNode *u = &g->nodes[i];
    /* widen the operands this node reads in 16 bits */
    int widened[IR_MAX_IN];
    bool any = false;
    /* a bf16 product takes its operands' bf16 copies themselves (when it
     * has one of each: the IR's matmul wants one dtype) */
    bool direct = lw->low == DT_BF16 && u->op == IR_MATMUL && lowered_op(lw, u);
    for (int k = 0; direct && k < u->nin; k++) direct = low[u->in[k]] >= 0;
    for (int k = 0; k < u->nin; k++) {
      int o = u->in[k];
      widened[k] = -1;
      if (direct) {
        widened[k] = low[o];
        any = true;
        continue;
      }
      bool via_low = low[o] >= 0 && (lowered_op(lw, u) ||
                                     (u->role == ROLE_BACKWARD && saved(lw, g, o, first_bwd_use, kept_bwd_use)));
      if (!via_low) continue;
      for (int j = 0; j < k; j++)
        if (u->in[j] == o && widened[j] >= 0) widened[k] = widened[j];
      if (widened[k] < 0) {
        rw.b = (IrBuilder){&rw.dst, u->loc, u->layer, u->role, u->scope};
        ft.shape = g->nodes[o].type.shape;
        widened[k] = irb_node(&rw.b, IR_CAST, 1, &low[o], NULL, NULL, &ft);
      }
      any = true;
    }
    int c = rw_copy(&rw, i);
    if (any)
      for (int k = 0; k < u->nin; k++)
        if (widened[k] >= 0) rw.dst.nodes[c].in[k] = widened[k];
    /* keep a 16-bit copy right after the value */
    if (want_low[i] && ir_ops[u->op].cls != EFFECT) {
      rw.b = (IrBuilder){&rw.dst, u->loc, u->layer, u->role == ROLE_BACKWARD ? ROLE_BACKWARD : u->role, u->scope};
      lt.shape = u->type.shape;
      low[i] = irb_node(&rw.b, IR_CAST, 1, &c, NULL, NULL, &lt);
    }
  }
  rw_end(&rw, g);
  free(low);
  free(kept_bwd_use);
  free(want_low);
  free(first_bwd_use);
}

/* ---- fp16 loss scaling ---------------------------------------------------------------- */

/* the ops a guard flag can stop: optimizer updates and weight averaging's */
static bool is_update(IrOp op) { return ir_guarded_effect(op); }

static void scale_loss(IrGraph *g) {
  IrRewrite rw;
  rw_begin(&rw, g);
  bool *unscaled = xcalloc((size_t)g->len + 1, sizeof(bool));
  bool seeded = false, boundary = false;
  int ok = -1, guard_src = -1, guard_both = -1;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    /* the backward pass starts from d loss / d loss = S instead of 1 */
    if (!seeded && n->role == ROLE_BACKWARD && n->op == IR_CONST && n->type.shape.rank == 0 && n->fa[0] == 1) {
      rw.b = (IrBuilder){&rw.dst, n->loc, -1, ROLE_BACKWARD, NULL};
      rw_map(&rw, i, irb_scalar(&rw.b, SC_LOSS_SCALE));
      seeded = true;
      continue;
    }
    if (!boundary && n->role == ROLE_UPDATE && n->op != IR_ACCUMULATE) {
      /* every gradient crossing into the update: check it, then divide by S
       * (in a micro-batched step, the accumulated gradients: once per step) */
      boundary = true;
      rw.b = (IrBuilder){&rw.dst, n->loc, -1, ROLE_UPDATE, NULL};
      int inv = irb_bin(&rw.b, IR_DIV, irb_const(&rw.b, 1), irb_scalar(&rw.b, SC_LOSS_SCALE));
      for (int j = i; j < g->len; j++) {
        const IrNode *u = &g->nodes[j];
        for (int k = 0; k < u->nin; k++) {
          int o = u->in[k];
          const IrNode *on = &g->nodes[o];
          bool grad = o < i && ir_ops[on->op].cls != LEAF &&
                      (on->role == ROLE_BACKWARD || (on->op == IR_ACCUMULATE && on->role != ROLE_LOSS));
          if (!grad || unscaled[o]) continue;
          unscaled[o] = true;
          rw.b.layer = on->layer;
          int f = irb_un(&rw.b, IR_ALL_FINITE, rw.map[o]);
          ok = ok < 0 ? f : irb_bin(&rw.b, IR_MINIMUM, ok, f);
          rw_map(&rw, o, irb_bin(&rw.b, IR_MUL, rw.map[o], inv));
        }
      }
      if (ok >= 0) {
        rw.b.layer = -1;
        int overflow = irb_bin(&rw.b, IR_SUB, irb_const(&rw.b, 1), ok);
        int64_t ia[IR_MAX_IA] = {OUT_OVERFLOW};
        irb_node(&rw.b, IR_OUTPUT, 1, &overflow, ia, NULL, NULL);
      }
    }
    int both = -1;
    if (is_update(n->op) && ok >= 0 && n->ia[IR_UPDATE_GUARDED]) {
      /* already guarded (guard.c: a finite loss): both conditions must hold */
      int f = n->in[n->nin - 1];
      if (f != guard_src) {
        rw.b = (IrBuilder){&rw.dst, n->loc, -1, ROLE_UPDATE, NULL};
        guard_src = f;
        guard_both = irb_bin(&rw.b, IR_MINIMUM, rw.map[f], ok);
      }
      both = guard_both;
    }
    int c = rw_copy(&rw, i);
    if (is_update(n->op) && ok >= 0) {
      /* the update happens only if every gradient was finite */
      IrNode *u = &rw.dst.nodes[c];
      if (both >= 0) {
        u->in[u->nin - 1] = both;
      } else {
        ASTC_ASSERT(u->nin < IR_MAX_IN);
        u->in[u->nin++] = ok;
        u->ia[IR_UPDATE_GUARDED] = 1;
      }
    }
  }
  rw_end(&rw, g);
  free(unscaled);
}

bool pass_precision(PassContext *c) {
  const SpeedupItem *it = sp_item(c->spec, TECH_PRECISION);
  if (!it) return true;
  Lowering lw = {c->p, sp_arg(it, ARG_PRECISION_KEEP), it->rule->id == RULE_PRECISION_BF16 ? DT_BF16 : DT_F16, {0}};
  const SpArg *ops = sp_arg(it, ARG_PRECISION_OPS);
  if (!ops->given) {  /* the ops ops.def marks F_LOWP: products and convolutions */
    for (int op = 0; op < IR_NUM_OPS; op++) lw.ops[op] = ir_ops[op].flags & F_LOWP;
  } else {
    for (int i = 0; i < ops->nnames; i++) {
      const char *o = ops->names[i];
      if (!strcmp(o, "matmul")) {
        lw.ops[IR_MATMUL] = true;
      } else if (!strcmp(o, "conv2d") || !strcmp(o, "conv")) {
        lw.ops[IR_CONV2D] = lw.ops[IR_CONV2D_GRAD_INPUT] = lw.ops[IR_CONV2D_GRAD_WEIGHT] = true;
      } else {
        diag_error(ops->name_locs[i], "precision %s: '%s' has no low-precision form here (ops that can be "
                                      "lowered: matmul, conv2d); keep it out of 'ops'", it->rule->rule, o);
        return false;
      }
    }
  }
  if (lw.low == DT_F16) {
    c->p->loss_scale = sp_num(it, ARG_PRECISION_INIT_SCALE);
    c->p->loss_scale_growth = (int64_t)sp_num(it, ARG_PRECISION_GROWTH_INTERVAL);
  }
  for (int i = 0; i < c->p->phases.len; i++) {
    lower_graph(&lw, &c->p->phases.data[i].step);
    if (lw.low == DT_F16) scale_loss(&c->p->phases.data[i].step);
  }
  lower_graph(&lw, &c->p->eval);
  lower_graph(&lw, &c->p->predict);
  return true;
}
