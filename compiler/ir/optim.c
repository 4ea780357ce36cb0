/* optim.c — optimizer update ops.
 *
 *   SGD (torch.optim.SGD semantics, dampening 0):
 *     g' = g + wd * w
 *     v  = momentum * v + g'              (v starts at 0, so v1 = g')
 *     w  = w - lr * (nesterov ? g' + momentum * v : v)
 *   AdamW (Loshchilov & Hutter; torch.optim.AdamW):
 *     w  = w - lr * wd * w
 *     m  = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
 *     w  = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *   where t counts the updates applied, as torch's per-parameter
 *   state['step'] does: a step skipped for a non-finite loss or fp16
 *   overflow does not count (the variable adamw.step, f32[]; every update
 *   reads t = adamw.step + 1, and the graph's last adamw_update, when it is
 *   applied, stores t back). All parameters trained in a phase have been
 *   updated at the same steps (freezing only ever removes parameters), so
 *   one count serves them all — except the blocks layer dropping skips in
 *   some steps: the drop pass gives each its own count (adamw.step.block_N,
 *   stored by its last update), as torch keeps one per parameter.
 */
#include "optim.h"

#include "irb.h"

static int slot(IrProgram *p, int owner, const char *suffix) {
  const IrVar *w = &p->vars.data[owner];
  const char *name = arena_printf(p->arena, "%s.%s", w->name, suffix);
  int v = ir_program_find_var(p, name);
  if (v >= 0) return v;
  IrVar s = {name, VAR_OPT, w->shape, DT_F32, {INIT_ZEROS, 0, 0, 0, 0}, w->layer, owner, w->loc};
  return ir_program_add_var(p, s);
}

static int read_var(IrBuilder *b, const IrProgram *p, int var) {
  Type t = {p->vars.data[var].dtype, p->vars.data[var].shape};
  int64_t ia[IR_MAX_IA] = {var};
  int n = irb_node(b, IR_PARAM, 0, NULL, ia, NULL, &t);
  b->g->nodes[n].name = p->vars.data[var].name;
  return n;
}

void ir_lower_optimizer(IrProgram *p, IrGraph *g, const int *grads) {
  IrBuilder b = {g, p->opt.loc, -1, ROLE_UPDATE, NULL};
  int lr = irb_scalar(&b, SC_LR);
  int nvars = p->vars.len;  /* slots are appended as we go */
  /* AdamW: every first moment, then every second moment, so that each kind
   * of slot lies in parameter order like the parameters themselves (one
   * update loop can then run over them all: cg_plan_graph) */
  for (int k = 0; k < 2 && p->opt.kind != OPT_SGD; k++)
    for (int v = 0; v < nvars; v++)
      if (p->vars.data[v].kind == VAR_PARAM && grads[v] >= 0) slot(p, v, k ? "adam_v" : "adam_m");
  int count_var = -1, count = -1;
  if (p->opt.kind != OPT_SGD) {
    count_var = ir_program_find_var(p, "adamw.step");
    if (count_var < 0) {
      IrVar c = {"adamw.step", VAR_OPT, SHAPE_SCALAR, DT_F32, {INIT_ZEROS, 0, 0, 0, 0}, -1, -1, p->opt.loc};
      count_var = ir_program_add_var(p, c);
    }
    count = read_var(&b, p, count_var);
  }
  for (int v = 0; v < nvars; v++) {
    if (p->vars.data[v].kind != VAR_PARAM || grads[v] < 0) continue;
    b.layer = p->vars.data[v].layer;
    b.loc = p->vars.data[v].loc;
    int w = -1;
    for (int i = 0; i < g->len; i++)
      if (g->nodes[i].op == IR_PARAM && g->nodes[i].ia[0] == v) w = i;
    if (w < 0) w = read_var(&b, p, v);
    int grad = grads[v];
    if (p->opt.kind == OPT_SGD) {
      if (p->opt.weight_decay > 0)
        grad = irb_bin(&b, IR_ADD, grad, irb_bin(&b, IR_MUL, w, irb_const(&b, p->opt.weight_decay)));
      int64_t ia[IR_MAX_IA] = {v, -1, p->opt.nesterov};
      double fa[IR_MAX_FA] = {p->opt.momentum};
      int in[4] = {w, grad, lr, 0};
      int nin = 3;
      if (p->opt.momentum > 0) {
        int vel = slot(p, v, "momentum");
        ia[1] = vel;
        in[nin++] = read_var(&b, p, vel);
      }
      irb_node(&b, IR_SGD_UPDATE, nin, in, ia, fa, NULL);
    } else {
      int m = slot(p, v, "adam_m"), s = slot(p, v, "adam_v");
      int64_t ia[IR_MAX_IA] = {v, m, s, count_var};
      double fa[IR_MAX_FA] = {p->opt.beta1, p->opt.beta2, p->opt.eps, p->opt.weight_decay};
      int in[6] = {w, grad, read_var(&b, p, m), read_var(&b, p, s), lr, count};
      irb_node(&b, IR_ADAMW_UPDATE, 6, in, ia, fa, NULL);
    }
  }
}
