/* costmodel.c — the predicted cost of a training program, phase by phase.
 *
 * Work per step comes from the op table's cost rules (cost.c); time from a
 * roofline over this machine's measured sgemm rate and memory bandwidth
 * (machine.c):
 *   matmul          with the program's GEMM plan (machine_gemm_plan), the
 *                   measured time of its shape on the backend it runs
 *                   (scaled by its work at other row counts: a remainder
 *                   micro-batch, a prefix chunk); without one, or for a
 *                   shape the plan lacks, 2mnk / rate(2mnk) + a call's
 *                   overhead
 *   conv2d family   the same for its GEMM, plus the im2col matrix written
 *                   and read at memory bandwidth
 *   everything else max(flops / vector rate, bytes / bandwidth), where
 *                   the bandwidth is the measured cache-resident one when
 *                   the step's variables and work arena fit in half the
 *                   last-level cache (they stay there from step to step),
 *                   else the streaming one (data under 1 MiB at 4x it);
 *                   loops the code generator splits over the threads
 *                   (CG_PARALLEL_MIN elements, unless -fno-parallel-loops)
 *                   take 1/threads of that
 * plus gathering each batch. A micro-batched step costs its per-micro-batch
 * part once per micro-batch. Evaluation is not training time and is left
 * out, as the driver's train_seconds leaves it out. */
#include "costmodel.h"

#include <math.h>
#include <string.h>

#include "codegen.h"
#include "cost.h"

#define CALL_SECONDS 1.5e-6     /* a runtime call (GEMM, conv, pool) */
#define LOOP_SECONDS 0.05e-6    /* an elementwise loop's setup */
#define VECTOR_FLOPS 16e9       /* generated loops, one core */
#define CACHE_BYTES (1 << 20)
#define CACHE_SPEEDUP 4.0
#define STEP_SECONDS 4e-6       /* the driver's work per step */

/* resident: the step's data stays in the last-level cache; parallel: large
 * loops are split over the threads */
/* a product's measured time per call with its backend, at `flops`, or -1 */
static double measured_seconds(const GemmPlan *plan, const IrGraph *g, int i, double flops) {
  const GemmShape *s = machine_gemm_site(plan, g, i);
  if (!s) return -1;
  const astrt_gemm_batch *d = &s->d;
  double t = s->seconds[astrt_gemm_backend_resolve(d)];
  double nominal = 2.0 * (double)d->m * (double)d->n * (double)d->k;
  for (int j = 0; j < d->nbatch; j++) nominal *= (double)d->count[j];
  return t > 0 && nominal > 0 ? t * flops / nominal : -1;
}

static double node_seconds(const IrProgram *p, const IrGraph *g, int i, int64_t rows, const Machine *m,
                           const GemmPlan *plan, bool resident, bool parallel) {
  const IrNode *n = &g->nodes[i];
  IrCost c = ir_node_cost(p, g, i, rows);
  double bw = m->bandwidth_gbs * 1e9;
  if (c.flops == 0 && c.bytes == 0) return 0;
  switch (ir_ops[n->op].cls) {
  case MATMUL: {
    double t = measured_seconds(plan, g, i, c.flops);
    return t >= 0 ? t : c.flops / machine_gemm_rate(m, MAX(c.flops, 1)) + CALL_SECONDS;
  }
  case CONV: {
    /* the im2col matrix: C*KH*KW x N*OH*OW floats, written then read */
    const Shape *w = n->op == IR_CONV2D_GRAD_WEIGHT ? &n->type.shape : &g->nodes[n->in[1]].type.shape;
    const Shape *y = n->op == IR_CONV2D ? &n->type.shape
                     : n->op == IR_CONV2D_GRAD_INPUT ? &g->nodes[n->in[0]].type.shape
                                                     : &g->nodes[n->in[1]].type.shape;
    double cols = (double)(w->d[1] * w->d[2] * w->d[3]) * (double)shape_numel(y, rows) / (double)y->d[1];
    return c.flops / machine_gemm_rate(m, MAX(c.flops, 1)) + 2 * 4 * cols / (resident ? m->cache_gbs * 1e9 : bw) +
           CALL_SECONDS;
  }
  case POOL: return MAX(c.flops / VECTOR_FLOPS, c.bytes / (resident ? m->cache_gbs * 1e9 : bw)) + CALL_SECONDS;
  default: {
    double mem = resident ? c.bytes / (m->cache_gbs * 1e9) : c.bytes / (c.bytes < CACHE_BYTES ? bw * CACHE_SPEEDUP : bw);
    double t = MAX(c.flops / VECTOR_FLOPS, mem);
    const Shape *s = ir_ops[n->op].cls == EFFECT && n->nin ? &g->nodes[n->in[0]].type.shape : &n->type.shape;
    if (parallel && m->threads > 1 && shape_numel(s, rows) >= CG_PARALLEL_MIN) t /= m->threads;
    return t + LOOP_SECONDS;
  }
  }
}

/* forward values the backward pass reads (the activations a step stores),
 * at `rows` rows, in their stored dtype; values without the batch dimension
 * (parameters and their 16-bit copies) are not activations */
static double saved_bytes(const IrGraph *g, int64_t rows) {
  bool *saved = xcalloc((size_t)g->len + 1, sizeof(bool));
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].role == ROLE_BACKWARD)
      for (int k = 0; k < g->nodes[i].nin; k++) {
        const IrNode *o = &g->nodes[g->nodes[i].in[k]];
        if ((o->role == ROLE_FORWARD || o->role == ROLE_LOSS) && shape_has_batch(&o->type.shape))
          saved[g->nodes[i].in[k]] = true;
      }
  double bytes = 0;
  for (int i = 0; i < g->len; i++) {
    int r = i;
    while (saved[i] && ir_ops[g->nodes[r].op].cls == VIEW) r = g->nodes[r].in[0];  /* views share storage */
    if (saved[i] && r == i) bytes += (double)shape_numel(&g->nodes[i].type.shape, rows) * dtype_size(g->nodes[i].type.dtype);
  }
  free(saved);
  return bytes;
}

static double optimizer_bytes(const IrProgram *p, const IrGraph *g) {
  bool *seen = xcalloc((size_t)p->vars.len + 1, sizeof(bool));
  double bytes = 0;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->op != IR_PARAM || p->vars.data[n->ia[0]].kind != VAR_OPT || seen[n->ia[0]]) continue;
    seen[n->ia[0]] = true;
    bytes += (double)shape_numel(&p->vars.data[n->ia[0]].shape, 1) * 4;
  }
  free(seen);
  return bytes;
}

static void phase_cost(const IrProgram *p, int k, const Machine *m, const CgOptions *opt, const GemmPlan *plan,
                       int64_t total_samples, PhaseCost *pc) {
  const IrPhase *ph = &p->phases.data[k];
  const IrGraph *g = &ph->step;
  memset(pc, 0, sizeof *pc);
  pc->t_begin = ph->t_begin;
  pc->t_end = ph->t_end;
  pc->batch = ph->batch;
  pc->micro = ph->micro;
  double samples = (ph->t_end - ph->t_begin) * (double)total_samples;
  pc->steps = total_samples > 0 ? (int64_t)ceil(samples / (double)ph->batch - 1e-9) : 0;
  pc->trainable = ir_trainable_params(p, g);
  int boundary = ph->micro > 0 ? cg_micro_boundary(g) : -1;
  int64_t rows = boundary >= 0 ? ph->micro : ph->batch;
  /* a micro-batched step: full micro-batches, then the remainder */
  int64_t full = boundary >= 0 ? ph->batch / ph->micro : 1, rest = boundary >= 0 ? ph->batch % ph->micro : 0;
  BufPlan bufs;
  cg_plan_graph_with(p, g, rows, opt, &bufs);
  pc->work_bytes = (double)bufs.work_bytes;
  cg_plan_free(&bufs);
  int64_t *voff = xmalloc(sizeof(int64_t) * (size_t)(p->vars.len + 1));
  double var_bytes = (double)cg_plan_vars(p, voff);
  free(voff);
  bool resident = m->cache_gbs > 0 && var_bytes + pc->work_bytes <= m->cache_bytes / 2;
  for (int i = 0; i < g->len; i++) {
    bool inner = boundary < 0 || i < boundary;
    IrRole r = g->nodes[i].role;
    for (int part = 0; part < (inner && rest ? 2 : 1); part++) {
      int64_t at = !inner ? 1 : part ? rest : rows;
      double times = !inner ? 1 : part ? 1 : (double)full;
      IrCost c = ir_node_cost(p, g, i, at);
      if (r == ROLE_FORWARD || r == ROLE_LOSS) pc->fwd_flops += c.flops * times;
      else if (r == ROLE_BACKWARD) pc->bwd_flops += c.flops * times;
      else pc->upd_flops += c.flops * times;
      pc->step_seconds += node_seconds(p, g, i, at, m, plan, resident, !opt->no_parallel_loops) * times;
    }
  }
  /* gathering the batch: the example read as bytes and written as floats */
  double example = (double)shape_numel(&p->input_type.shape, 1);
  pc->step_seconds += (double)ph->batch * example * 5 / (m->bandwidth_gbs * 1e9) + STEP_SECONDS;
  pc->saved_bytes = saved_bytes(g, rows);
  pc->opt_bytes = optimizer_bytes(p, g);
  if (ph->prefix.len && p->data.train_examples > 0) {
    /* the prefix over the whole training set, in chunks of the evaluation batch */
    int64_t n = p->data.train_examples, chunk = p->eval_batch;
    bool par = !opt->no_parallel_loops;
    for (int i = 0; i < ph->prefix.len; i++)
      pc->cache_seconds += node_seconds(p, &ph->prefix, i, chunk, m, plan, false, par) * (double)(n / chunk) +
                           (n % chunk ? node_seconds(p, &ph->prefix, i, n % chunk, m, plan, false, par) : 0);
    pc->cache_bytes = (double)n * (double)ph->feature_size * 4;
  }
}

void cost_program(const IrProgram *p, const Machine *m, ProgramCost *out) { cost_program_with(p, m, NULL, out); }

void cost_program_with(const IrProgram *p, const Machine *m, const CgOptions *opt, ProgramCost *out) {
  cost_program_plan(p, m, opt, NULL, out);
}

void cost_program_plan(const IrProgram *p, const Machine *m, const CgOptions *opt, const GemmPlan *plan,
                       ProgramCost *out) {
  CgOptions o = opt ? *opt : cg_options_default();
  memset(out, 0, sizeof *out);
  out->train_examples = p->data.train_examples;
  if (p->steps > 0) out->total_samples = p->steps * p->batch;
  else if (p->data.train_examples > 0) out->total_samples = p->epochs * p->data.train_examples;
  out->n = p->phases.len;
  out->phases = xcalloc((size_t)out->n + 1, sizeof(PhaseCost));
  for (int k = 0; k < out->n; k++) {
    phase_cost(p, k, m, &o, plan, out->total_samples, &out->phases[k]);
    out->total_seconds += (double)out->phases[k].steps * out->phases[k].step_seconds + out->phases[k].cache_seconds;
  }
}

void cost_free(ProgramCost *c) {
  free(c->phases);
  c->phases = NULL;
}
