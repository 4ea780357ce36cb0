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
 * part once per micro-batch. A phase that selects rows by loss (selective
 * backprop) costs its scoring forward over the whole batch plus its step
 * over the kept rows (and, every interrupt-th step, the step over the whole
 * batch instead). The work of a residual block that layer dropping may
 * skip (a guarded node) counts with the block's mean keep probability over
 * the phase: a step's expected cost. Evaluation is not training time and is
 * left out, as the driver's train_seconds leaves it out.
 *
 * The steps of each phase are those the driver plans (driver.c): a step
 * takes the phase's batch, or what is left of the epoch, so an epoch of n
 * examples is ceil(n / batch) steps. That needs the size of the training
 * split: known to the program for synthetic data and the known IDX sets,
 * else read from the data the way a run reads it (cost_train_examples). */
#include "costmodel.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "codegen.h"
#include "cost.h"
#include "drop.h"
#include "driver_internal.h"  /* astrt_data_load: the data as a run loads it */

#define CALL_SECONDS 1.5e-6     /* a runtime call (GEMM, conv, pool) */
#define LOOP_SECONDS 0.05e-6    /* an elementwise loop's setup */
#define VECTOR_FLOPS 16e9       /* generated loops, one core */
#define CACHE_BYTES (1 << 20)
#define CACHE_SPEEDUP 4.0
#define STEP_SECONDS 4e-6       /* the driver's work per step */

/* resident: the step's data stays in the last-level cache; parallel: large
 * loops are split over the threads */
/* a product's time per call with its backend, at `flops`, or -1: its
 * measured CPU time on one thread, over the threads when the runtime splits
 * it (astrt_gemm_run_pieces: at least two pieces of 2^15 multiply-adds)
 * plus a pool job's overhead */
static double measured_seconds(const GemmPlan *plan, const IrGraph *g, int i, double flops) {
  const GemmShape *s = machine_gemm_site(plan, g, i);
  if (!s) return -1;
  const astrt_gemm_batch *d = &s->d;
  double t = s->seconds[astrt_gemm_backend_resolve(d)];
  double nominal = 2.0 * (double)d->m * (double)d->n * (double)d->k;
  for (int j = 0; j < d->nbatch; j++) nominal *= (double)d->count[j];
  if (!(t > 0 && nominal > 0)) return -1;
  t *= flops / nominal;
  if (plan->threads > 1 && flops / 2 >= 2.0 * (1 << 15)) t = t / plan->threads + CALL_SECONDS;
  return t;
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

/* ---- the steps of each phase ----------------------------------------------------- */

/* Where a run is: examples into the epoch, samples and steps so far. */
typedef struct Cursor {
  int64_t pos, samples, step;
} Cursor;

/* The smallest sample count whose progress samples / total reaches t (the
 * driver's progress_at, in the same double arithmetic). */
static int64_t samples_at(double t, int64_t total) {
  if (t <= 0) return 0;
  if (t > 1) return INT64_MAX;  /* progress stops at 1 */
  double g = ceil(t * (double)total);
  int64_t s = g < 9e18 ? (int64_t)g : INT64_MAX - 1;
  while (s > 0 && (double)(s - 1) / (double)total >= t) s--;
  while ((double)s / (double)total < t) s++;
  return s;
}

/* Advances c by the steps of batch b a run takes before its samples reach
 * `target` or its steps max_steps; returns them. n: the training examples
 * (0: unknown, no epoch ends). Whole epochs are taken at once, so this is
 * a few iterations whatever the budget. */
static int64_t phase_steps(Cursor *c, int64_t n, int64_t b, int64_t target, int64_t max_steps) {
  int64_t steps = 0;
  while (c->samples < target && c->step < max_steps) {
    if (n > 0 && c->pos == 0 && n <= target - c->samples) {
      int64_t per = (n - 1) / b + 1, k = (target - c->samples) / n;
      k = MIN(k, (max_steps - c->step) / per);
      if (k > 0) {
        c->samples += k * n, c->step += k * per, steps += k * per;
        continue;
      }
    }
    int64_t left = n > 0 ? n - c->pos : INT64_MAX, need = target - c->samples;
    int64_t k = need >= left ? (left - 1) / b + 1 : (need - 1) / b + 1;
    k = MIN(k, max_steps - c->step);
    int64_t rows = k > left / b ? left : k * b;
    c->pos += rows, c->samples += rows, c->step += k, steps += k;
    if (n > 0 && c->pos == n) c->pos = 0;
  }
  return steps;
}

/* The steps of every phase and the samples of the run, as the driver plans
 * it (set_budget, plan_run): an epochs budget ends after epochs x n samples,
 * a steps budget after its steps (progress counted against steps x batch).
 * False if the data size needed is unknown. */
static bool plan_steps(const IrProgram *p, int64_t n, int64_t *steps, int64_t *samples) {
  int64_t total, max_steps = INT64_MAX;
  if (p->epochs > 0) {
    if (n <= 0 || __builtin_mul_overflow(p->epochs, n, &total)) return false;
  } else {
    if (p->steps <= 0 || __builtin_mul_overflow(p->steps, p->batch, &total)) return false;
    max_steps = p->steps;
  }
  Cursor c = {0, 0, 0};
  int np = p->phases.len;
  for (int k = 0; k < np; k++) {
    const IrPhase *ph = &p->phases.data[k];
    int64_t target = k + 1 < np ? samples_at(p->phases.data[k + 1].t_begin, total)
                                : p->epochs > 0 ? total : INT64_MAX;
    steps[k] = ph->batch > 0 ? phase_steps(&c, n, ph->batch, target, max_steps) : 0;
  }
  *samples = c.samples;
  return true;
}

/* Adds graph g's work per step at `all` rows (in micro-batches of `micro`
 * rows if it accumulates), weighted by `weight`, to pc's flops and time; a
 * guarded node's (layer dropping) also by its block's mean keep probability
 * over the phase. */
static void price_graph(const IrProgram *p, const IrGraph *g, int64_t all, int64_t micro, const Machine *m,
                        const CgOptions *opt, const GemmPlan *plan, bool resident, double weight, PhaseCost *pc) {
  int boundary = micro > 0 ? cg_micro_boundary(g) : -1;
  int64_t rows = boundary >= 0 ? micro : all;
  /* a micro-batched step: full micro-batches, then the remainder */
  int64_t full = boundary >= 0 ? all / micro : 1, rest = boundary >= 0 ? all % micro : 0;
  int *flags;
  int blocks = ir_guard_flags(g, &flags);
  pc->drop_blocks = MAX(pc->drop_blocks, blocks);
  double *keep = xmalloc(sizeof(double) * (size_t)(blocks + 1));
  for (int k = 1; k <= blocks; k++) keep[k] = flags[k] >= 0 ? drop_mean_keep(g, flags[k], pc->t_begin, pc->t_end) : 1;
  free(flags);
  for (int i = 0; i < g->len; i++) {
    bool inner = boundary < 0 || i < boundary;
    IrRole r = g->nodes[i].role;
    int guard = g->nodes[i].guard;
    for (int part = 0; part < (inner && rest ? 2 : 1); part++) {
      int64_t at = !inner ? 1 : part ? rest : rows;
      double times = weight * (!inner ? 1 : part ? 1 : (double)full);
      IrCost c = ir_node_cost(p, g, i, at);
      if (guard) {
        pc->drop_flops += c.flops * times;
        times *= keep[guard];
        pc->drop_expected_flops += c.flops * times;
      }
      if (r == ROLE_FORWARD || r == ROLE_LOSS) pc->fwd_flops += c.flops * times;
      else if (r == ROLE_BACKWARD) pc->bwd_flops += c.flops * times;
      else pc->upd_flops += c.flops * times;
      pc->step_seconds += node_seconds(p, g, i, at, m, plan, resident, !opt->no_parallel_loops) * times;
    }
  }
  free(keep);
}

/* weight averaging's share of the update (already in it): once per step */
static void price_average(const IrProgram *p, const IrGraph *g, PhaseCost *pc) {
  for (int i = 0; i < g->len; i++) {
    int64_t e;
    IrCost avg = ir_average_cost(p, g, i, &e);
    pc->averaged += e, pc->avg_flops += avg.flops, pc->avg_bytes += avg.bytes;
  }
}

static double plan_bytes(const IrProgram *p, const IrGraph *g, int64_t rows, const CgOptions *opt) {
  BufPlan plan;
  cg_plan_graph_with(p, g, rows, opt, &plan);
  double b = (double)plan.work_bytes;
  cg_plan_free(&plan);
  return b;
}

/* ---- one phase -------------------------------------------------------------------- */

static void phase_cost(const IrProgram *p, int k, const Machine *m, const CgOptions *opt, const GemmPlan *plan,
                       int64_t steps, int64_t train_examples, PhaseCost *pc) {
  const IrPhase *ph = &p->phases.data[k];
  const IrGraph *g = &ph->step;
  memset(pc, 0, sizeof *pc);
  pc->t_begin = ph->t_begin;
  pc->t_end = ph->t_end;
  pc->batch = ph->batch;
  pc->micro = ph->micro;
  pc->steps = steps;
  pc->kept = ph->kept;
  pc->trainable = ir_trainable_params(p, g);
  int boundary = ph->micro > 0 ? cg_micro_boundary(g) : -1;
  int64_t all = ir_phase_rows(ph), plan_rows = cg_step_plan_rows(p, cg_step_rep(p, k));  /* its function's */
  pc->work_bytes = plan_bytes(p, g, boundary >= 0 ? ph->micro : plan_rows, opt);
  if (ph->score.len) pc->work_bytes = MAX(pc->work_bytes, plan_bytes(p, &ph->score, all, opt));
  int64_t *voff = xmalloc(sizeof(int64_t) * (size_t)(p->vars.len + 1));
  double var_bytes = (double)cg_plan_vars(p, voff);
  free(voff);
  bool resident = m->cache_gbs > 0 && var_bytes + pc->work_bytes <= m->cache_bytes / 2;
  if (ph->score.len) {
    /* selective backprop: the scoring forward over the whole batch and the
     * step over the kept rows; an interrupt step trains on the whole batch */
    double whole = ph->interrupt > 0 ? 1.0 / (double)ph->interrupt : 0;
    double f0 = pc->fwd_flops;
    price_graph(p, &ph->score, all, 0, m, opt, plan, resident, 1 - whole, pc);
    pc->score_flops = pc->fwd_flops - f0;
    price_graph(p, g, ph->kept, ph->micro, m, opt, plan, resident, 1 - whole, pc);
    if (whole > 0) price_graph(p, g, all, ph->micro, m, opt, plan, resident, whole, pc);
  } else {
    price_graph(p, g, all, ph->micro, m, opt, plan, resident, 1, pc);
  }
  price_average(p, g, pc);
  int64_t rows = boundary >= 0 ? ph->micro : ir_phase_step_rows(ph);
  /* gathering the batch: the example read as bytes and written as floats */
  double example = (double)shape_numel(&p->input_type.shape, 1);
  if (ph->context > 0 && ph->pieces <= 1) example = (double)ph->context;  /* windows truncated to the context */
  pc->step_seconds += (double)ph->batch * example * 5 / (m->bandwidth_gbs * 1e9) + STEP_SECONDS;
  if (ph->score.len)  /* the kept rows moved to the front of the batch */
    pc->step_seconds += (double)ph->kept * example * 8 / (m->bandwidth_gbs * 1e9);
  pc->saved_bytes = saved_bytes(g, rows);
  pc->opt_bytes = optimizer_bytes(p, g);
  if (ph->prefix.len && ph->prefix_from == k && train_examples > 0) {  /* later phases with it reuse its features */
    /* the prefix over the whole training set, in chunks of the evaluation batch */
    int64_t n = train_examples, chunk = p->eval_batch;
    bool par = !opt->no_parallel_loops;
    for (int i = 0; i < ph->prefix.len; i++)
      pc->cache_seconds += node_seconds(p, &ph->prefix, i, chunk, m, plan, false, par) * (double)(n / chunk) +
                           (n % chunk ? node_seconds(p, &ph->prefix, i, n % chunk, m, plan, false, par) : 0);
    pc->cache_bytes = (double)n * (double)ph->feature_size * 4;
  }
}

void cost_program(const IrProgram *p, const Machine *m, ProgramCost *out) { cost_program_with(p, m, NULL, out); }

void cost_program_with(const IrProgram *p, const Machine *m, const CgOptions *opt, ProgramCost *out) {
  cost_program_plan(p, m, opt, NULL, p->data.train_examples, out);
}

void cost_program_data(const IrProgram *p, const Machine *m, const CgOptions *opt, int64_t train_examples,
                       ProgramCost *out) {
  cost_program_plan(p, m, opt, NULL, train_examples, out);
}

void cost_program_plan(const IrProgram *p, const Machine *m, const CgOptions *opt, const GemmPlan *plan,
                       int64_t train_examples, ProgramCost *out) {
  CgOptions o = opt ? *opt : cg_options_default();
  memset(out, 0, sizeof *out);
  out->train_examples = train_examples;
  out->n = p->phases.len;
  out->phases = xcalloc((size_t)out->n + 1, sizeof(PhaseCost));
  int64_t *steps = xcalloc((size_t)out->n + 1, sizeof(int64_t));
  if (!plan_steps(p, train_examples, steps, &out->total_samples)) out->total_samples = 0;
  for (int k = 0; k < out->n; k++) {
    phase_cost(p, k, m, &o, plan, steps[k], train_examples, &out->phases[k]);
    out->total_steps += steps[k];
    out->total_seconds += (double)out->phases[k].steps * out->phases[k].step_seconds + out->phases[k].cache_seconds;
  }
  free(steps);
}

/* ---- the size of the training data ------------------------------------------------- */

/* The data descriptor a compiled program carries (codegen/cg_desc.c,
 * data_desc: keep the two alike). */
static void data_desc(const IrProgram *p, astrt_data_desc *d) {
  const DataSpec *s = &p->data;
  memset(d, 0, sizeof *d);
  Shape ex = p->input_type.shape;  /* one example as the model sees it: the input type without B */
  for (int i = 0; i + 1 < ex.rank; i++) ex.d[i] = ex.d[i + 1];
  ex.rank--;
  d->kind = (int32_t)s->kind;
  d->label_column = s->label_column;
  d->source = s->source ? s->source : "";
  d->y_source = s->y_source ? s->y_source : "";
  d->test_source = s->test_source ? s->test_source : "";
  d->test_y_source = s->test_y_source ? s->test_y_source : "";
  d->rank = ex.rank;
  d->x_dtype = (int32_t)p->input_type.dtype;
  for (int i = 0; i < ex.rank && i < ASTRT_DESC_MAX_RANK; i++) d->dims[i] = ex.d[i];
  d->example_size = shape_numel(&ex, 1);
  d->classes = s->classes;
  d->mean = s->mean;
  d->std = s->std;
  d->synth_train = s->synth_train;
  d->synth_test = s->synth_test;
  d->synth_seed = s->synth_seed;
  d->target = (int32_t)s->target;
  d->target_size = s->target_size;
  d->context = s->context;
  d->vocab = s->vocab;
  d->holdout = s->holdout;
  d->header = (int32_t)s->header;
  d->sep = s->sep;
  d->split = (int32_t)s->split;
  d->normalize = (int32_t)s->normalize;
  d->mean_var = s->mean_var;
  d->std_var = s->std_var;
}

int64_t cost_train_examples(const IrProgram *p, const char *data_dir, char *why, size_t cap) {
  if (why && cap) why[0] = 0;
  bool given = data_dir && *data_dir;
  if (p->data.kind == DATA_SYNTHETIC || (p->data.train_examples > 0 && !given)) return p->data.train_examples;
  astrt_data_desc d;
  data_desc(p, &d);
  int64_t n;
  if (astrt_data_is_stream(&d)) {  /* text, tokens: an epoch is the training sequence's windows */
    astrt_tokens train, test;
    if (astrt_seq_load(&d, given ? data_dir : NULL, &train, &test) != ASTRT_OK) goto fail;
    n = astrt_seq_windows(train.n, d.context);
    astrt_tokens_free(&train);
    astrt_tokens_free(&test);
    return n;
  }
  astrt_split train, test;
  if (astrt_data_load(&d, given ? data_dir : NULL, &train, &test) != ASTRT_OK) goto fail;
  n = train.x.n;
  astrt_split_free(&train);
  astrt_split_free(&test);
  return n;
fail:
  if (why) snprintf(why, cap, "%s", astrt_last_error());
  return 0;
}

void cost_free(ProgramCost *c) {
  free(c->phases);
  c->phases = NULL;
}
