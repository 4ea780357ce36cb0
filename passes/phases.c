/* phases.c — splitting training into phases.
 *
 * Each speedup technique is a function of training progress t that returns a
 * discrete setting: which layers are frozen, the batch size (with its
 * learning-rate factor and micro-batch size), the storage precision. The
 * pass finds every t where any setting changes, and gives each interval its
 * own copy of the baseline step graph with the settings of that interval;
 * the later passes specialise those copies. Without a speedup block there is
 * one phase, the baseline.
 *
 * Rules (docs/passes.md has the sources):
 *   freeze progressive(start, level): frozen fraction f(t) = 0 for t <= start,
 *     else level (t - start) / (1 - start); the first floor(f (n - 1)) of the
 *     n parameter-owning layers (counted from the input) are frozen; the last
 *     layer never is (MosaicML Composer's LayerFreezing).
 *   freeze at(layer: t, ...): each named layer is frozen from its t on.
 *   batch ramp(a -> b, until, increment): a, a+inc, ..., b, each for an equal
 *     share of [0, until) (Megatron-LM's --rampup-batch-size).
 *   batch steps(at: [m1, m2 ...], factor): the batch is multiplied by factor
 *     at each milestone (Smith et al. 2017).
 *   resize progressive(from, until, increment): image sides scaled by
 *     s(t) = from + (1 - from) t / until before until, rounded down to
 *     multiples of increment (at least one increment), then full size.
 *   seqlen warmup(from, until, increment): contexts from, from + increment,
 *     ... below the program's T, each for an equal share of [0, until), then
 *     T (Li, Zhang & He 2022); the seqlen pass gives each phase the step the
 *     front end elaborated at its context.
 *   select backprop(keep, start, end): the phases in [start, end) train on
 *     the keep fraction of each batch, chosen by loss (Jiang et al. 2019); the
 *     select pass gives them their scoring graph. keep = 1 or start = end
 *     selects nothing.
 *   average ema(start) / swa(start): the steps from start on also keep the
 *     running average (the average pass rewrites them); before start the step
 *     is the baseline's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"

typedef struct Settings {
  bool *frozen_layer;   /* by layer index */
  int64_t batch, micro;
  double lr_scale;
  int64_t context;      /* 0: the program's */
  int64_t height, width; /* 0: the data's */
  double keep;          /* selective backprop: the fraction kept, 0: none */
  bool average;         /* weight averaging is on */
} Settings;

typedef struct Plan {
  const IrProgram *p;
  const SpeedupItem *freeze, *batch, *seqlen, *resize, *select, *average;
  int64_t image_h, image_w;  /* the model's input images (resize) */
  int nlayers;          /* parameter-owning layers, from the input */
  int *layers;
  double *layer_time;   /* freeze time of each layer (index into p->layers), 2 = never */
} Plan;

/* ---- freeze ------------------------------------------------------------------------ */

static bool plan_freeze(Plan *pl) {
  const SpeedupItem *it = pl->freeze;
  const IrProgram *p = pl->p;
  for (int l = 0; l < p->layers.len; l++) pl->layer_time[l] = 2;
  if (!it) return true;
  if (pl->nlayers < 2) {
    diag_error(it->loc, "freeze: model '%s' has %d layer%s with parameters; freezing needs at least two "
                        "(the last layer always trains)", p->model_name, pl->nlayers, pl->nlayers == 1 ? "" : "s");
    return false;
  }
  if (it->rule->id == RULE_FREEZE_PROGRESSIVE) {
    double start = sp_num(it, ARG_FREEZE_START);
    if (start >= 1) {
      diag_error(sp_arg(it, ARG_FREEZE_START)->loc, "freeze progressive: start must be below 1 (it is %g)", start);
      return false;
    }
    pass_freeze_times(p, it, pl->layers, pl->nlayers, pl->layer_time);
    return true;
  }
  pass_freeze_times(p, it, pl->layers, pl->nlayers, pl->layer_time);
  /* at(layer: t, ...): a layer, and every layer nested inside it (block.dense_1) */
  for (int i = 0; i < it->nlayer_times; i++) {
    const SpLayerTime *lt = &it->layer_times[i];
    size_t n = strlen(lt->layer);
    bool any = false;
    for (int k = 0; k < pl->nlayers; k++) {
      const char *name = p->layers.data[pl->layers[k]].name;
      any |= !strcmp(name, lt->layer) || (!strncmp(name, lt->layer, n) && name[n] == '.');
    }
    if (!any) {
      diag_error(lt->loc, "freeze at: layer '%s' has no parameters, so there is nothing to freeze", lt->layer);
      return false;
    }
  }
  bool all = true;
  double when = 0;
  for (int k = 0; k < pl->nlayers; k++) {
    double t = pl->layer_time[pl->layers[k]];
    if (t >= 1) all = false;
    when = fmax(when, t);
  }
  if (all) {
    diag_error(it->loc, "freeze at: every layer with parameters is frozen by t = %g, so nothing would train "
                        "after it", when);
    return false;
  }
  return true;
}

/* ---- batch ------------------------------------------------------------------------ */

/* A steps budget of N steps counts progress against N x batch samples: with
 * phases of smaller batches, N steps end before progress 1 (before the
 * schedules and speedup rules do). Warns with the progress they reach. */
static void steps_budget_check(const IrProgram *p, const SpeedupItem *it) {
  if (p->epochs > 0 || p->steps <= 0 || p->batch <= 0) return;
  double total = (double)p->steps * (double)p->batch, steps = 0, t = 0;
  for (int k = 0; k < p->phases.len && steps < (double)p->steps; k++) {
    const IrPhase *ph = &p->phases.data[k];
    double need = (ph->t_end - ph->t_begin) * total / (double)ph->batch;  /* steps to cover the phase */
    double take = fmin(need, (double)p->steps - steps);
    steps += take;
    t = ph->t_begin + take * (double)ph->batch / total;
  }
  if (t < 0.999)
    diag_warning(it->loc, "with a steps budget (steps = %lld) progress counts %lld x %lld samples, but this "
                          "batch schedule's smaller batches use up the %lld steps at progress %.2f: the run ends "
                          "before its learning-rate schedule and speedup rules do; give the train block an "
                          "epochs budget instead",
                 (long long)p->steps, (long long)p->steps, (long long)p->batch, (long long)p->steps, t);
}

/* the most batch sizes a ramp may step through (its phases) */
#define MAX_RAMP_SIZES 64

static int64_t ramp_increment(const SpeedupItem *it) {
  int64_t inc = (int64_t)sp_num(it, ARG_BATCH_INCREMENT);
  return inc > 0 ? inc : (int64_t)sp_arg(it, ARG_BATCH_SIZES)->lo;
}

/* the increments of a batch ramp: its sizes are lo, lo + inc, ... (this
 * many after lo), the last cut to hi */
static int64_t ramp_steps(const SpeedupItem *it) {
  int64_t lo = (int64_t)sp_arg(it, ARG_BATCH_SIZES)->lo, hi = (int64_t)sp_arg(it, ARG_BATCH_SIZES)->hi;
  int64_t inc = ramp_increment(it);
  return (hi - lo + inc - 1) / inc;
}

/* the batch size at progress t */
static int64_t batch_at(const Plan *pl, double t) {
  const SpeedupItem *it = pl->batch;
  if (!it) return pl->p->batch;
  if (it->rule->id == RULE_BATCH_RAMP) {
    const SpArg *sizes = sp_arg(it, ARG_BATCH_SIZES);
    int64_t lo = (int64_t)sizes->lo, hi = (int64_t)sizes->hi;
    double until = sp_num(it, ARG_BATCH_UNTIL);
    int64_t inc = ramp_increment(it), steps = ramp_steps(it);
    if (t >= until) return hi;
    int64_t i = (int64_t)floor(t / until * (double)steps);
    return MIN(lo + i * inc, hi);
  }
  const SpArg *at = sp_arg(it, ARG_BATCH_AT);
  int64_t b = pl->p->batch;
  for (int i = 0; i < at->nnums; i++)
    if (t >= at->nums[i]) b *= (int64_t)sp_num(it, ARG_BATCH_FACTOR);
  return b;
}

static double lr_scale_for(const Plan *pl, int64_t batch) {
  if (!pl->batch) return 1;
  double r = (double)batch / (double)pl->p->batch;
  if (sp_choice_is(pl->batch, ARG_BATCH_LR_SCALE, "linear")) return r;
  if (sp_choice_is(pl->batch, ARG_BATCH_LR_SCALE, "sqrt")) return sqrt(r);
  return 1;
}

static bool plan_batch(Plan *pl, int64_t train_examples) {
  const SpeedupItem *it = pl->batch;
  if (!it) return true;
  int64_t biggest = batch_at(pl, 1);
  if (train_examples > 0 && biggest > train_examples) {
    diag_error(it->loc, "batch %s: the batch grows to %lld but data '%s' has only %lld training examples",
               it->rule->rule, (long long)biggest, pl->p->data.name, (long long)train_examples);
    return false;
  }
  if (biggest > (int64_t)1 << 24) {
    diag_error(it->loc, "batch %s: a batch of %lld examples is beyond what astc supports", it->rule->rule,
               (long long)biggest);
    return false;
  }
  if (it->rule->id == RULE_BATCH_RAMP) {  /* a phase per size: each a step to compile and its products to measure */
    int64_t lo = (int64_t)sp_arg(it, ARG_BATCH_SIZES)->lo, hi = (int64_t)sp_arg(it, ARG_BATCH_SIZES)->hi;
    int64_t inc = ramp_increment(it), sizes = ramp_steps(it) + 1;  /* lo, lo + inc, ..., and hi */
    if (sizes > MAX_RAMP_SIZES) {
      int64_t suggest = lo * ((hi - lo + 8 * lo - 1) / (8 * lo));  /* a multiple of the first size, about 8 sizes */
      diag_error(it->loc, "batch ramp(%lld -> %lld) in steps of %lld makes %lld batch sizes, each a phase with a "
                 "step of its own to compile (at most %d); give a larger increment: increment: %lld makes %lld",
                 (long long)lo, (long long)hi, (long long)inc, (long long)sizes, MAX_RAMP_SIZES, (long long)suggest,
                 (long long)((hi - lo + suggest - 1) / suggest + 1));
      return false;
    }
  }
  return true;
}

/* ---- seqlen ----------------------------------------------------------------------- */

int sp_seqlen_stages(const SpeedupItem *it, int64_t T) {
  int64_t from = (int64_t)sp_num(it, ARG_SEQLEN_FROM), inc = (int64_t)sp_num(it, ARG_SEQLEN_INCREMENT);
  return from >= T ? 0 : (int)((T - from + inc - 1) / inc);
}

int64_t sp_seqlen_at(const SpeedupItem *it, int64_t T, double t) {
  int stages = sp_seqlen_stages(it, T);
  double until = sp_num(it, ARG_SEQLEN_UNTIL);
  if (stages == 0 || t >= until) return T;
  int64_t i = (int64_t)floor(t / until * (double)stages);
  return MIN((int64_t)sp_num(it, ARG_SEQLEN_FROM) + i * (int64_t)sp_num(it, ARG_SEQLEN_INCREMENT), T);
}

/* ---- select ------------------------------------------------------------------------ */

static bool plan_select(const Plan *pl) {
  const SpeedupItem *it = pl->select;
  if (!it) return true;
  double keep = sp_num(it, ARG_SELECT_KEEP), start = sp_num(it, ARG_SELECT_START), end = sp_num(it, ARG_SELECT_END);
  if (keep > 1) {
    diag_error(sp_arg(it, ARG_SELECT_KEEP)->loc, "select backprop: keep is the fraction of each batch that trains, "
                                                 "in (0, 1] (1: no selection), not %g", keep);
    return false;
  }
  if (end < start) {
    const SpArg *a = sp_arg(it, ARG_SELECT_END);
    diag_error(a->given ? a->loc : it->loc, "select backprop: end (%g) is before start (%g); selection runs while "
                                            "progress is in [start, end)", end, start);
    return false;
  }
  return true;
}

/* the fraction kept at progress t (0: the whole batch trains) */
static double select_keep_at(const Plan *pl, double t) {
  const SpeedupItem *it = pl->select;
  if (!it) return 0;
  double keep = sp_num(it, ARG_SELECT_KEEP);
  if (keep >= 1 || t < sp_num(it, ARG_SELECT_START) || t >= sp_num(it, ARG_SELECT_END)) return 0;
  return keep;
}

/* ---- resize ----------------------------------------------------------------------- */

static int64_t side_at(const SpeedupItem *it, int64_t S, double t) {
  double from = sp_num(it, ARG_RESIZE_FROM), until = sp_num(it, ARG_RESIZE_UNTIL);
  int64_t inc = (int64_t)sp_num(it, ARG_RESIZE_INCREMENT);
  if (t >= until) return S;
  double scale = from + (1 - from) * t / until;
  int64_t s = (int64_t)floor(scale * (double)S / (double)inc + 1e-9) * inc;
  return s < inc ? MIN(inc, S) : MIN(s, S);
}

void sp_resize_at(const SpeedupItem *it, int64_t H, int64_t W, double t, int64_t *h, int64_t *w) {
  *h = side_at(it, H, t);
  *w = side_at(it, W, t);
}

/* where a side of S pixels reaches each multiple of the increment */
static int side_cuts(const SpeedupItem *it, int64_t S, double *cuts, int n, int cap) {
  double from = sp_num(it, ARG_RESIZE_FROM), until = sp_num(it, ARG_RESIZE_UNTIL);
  int64_t inc = (int64_t)sp_num(it, ARG_RESIZE_INCREMENT);
  if (from >= 1) return n;
  for (int64_t s = inc; s <= S && n < cap; s += inc) {
    double t = until * ((double)s / (double)S - from) / (1 - from);
    if (t > 0 && t < until) cuts[n++] = t;
  }
  if (until > 0 && until < 1 && n < cap) cuts[n++] = until;
  return n;
}

int sp_resize_cuts(const SpeedupItem *it, int64_t H, int64_t W, double *cuts, int cap) {
  return side_cuts(it, W, cuts, side_cuts(it, H, cuts, 0, cap), cap);
}

/* ---- breakpoints and phases -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void settings_at(const Plan *pl, double t, Settings *s) {
  for (int l = 0; l < pl->p->layers.len; l++) s->frozen_layer[l] = t >= pl->layer_time[l];
  s->batch = batch_at(pl, t);
  int64_t micro = pl->batch ? (int64_t)sp_num(pl->batch, ARG_BATCH_MICRO) : 0;
  s->micro = micro > 0 && s->batch > micro ? micro : 0;
  s->lr_scale = lr_scale_for(pl, s->batch);
  s->context = pl->seqlen ? sp_seqlen_at(pl->seqlen, pl->p->data.context, t) : 0;
  if (s->context == pl->p->data.context) s->context = 0;
  s->keep = select_keep_at(pl, t);
  s->height = s->width = 0;
  if (pl->resize) {
    sp_resize_at(pl->resize, pl->image_h, pl->image_w, t, &s->height, &s->width);
    if (s->height == pl->image_h && s->width == pl->image_w) s->height = s->width = 0;
  }
  s->average = pl->average && t >= sp_average_start(pl->average);
}

static bool settings_eq(const Plan *pl, const Settings *a, const Settings *b) {
  if (a->batch != b->batch || a->micro != b->micro || a->lr_scale != b->lr_scale || a->context != b->context ||
      a->height != b->height || a->width != b->width || a->keep != b->keep || a->average != b->average)
    return false;
  for (int l = 0; l < pl->p->layers.len; l++)
    if (a->frozen_layer[l] != b->frozen_layer[l]) return false;
  return true;
}

/* "freeze dense_1; batch 128, lr x2" — what changed from prev */
static const char *describe(const Plan *pl, const Settings *prev, const Settings *s, Arena *a) {
  StrBuf sb = {0};
  for (int l = 0; l < pl->p->layers.len; l++)
    if (s->frozen_layer[l] && (!prev || !prev->frozen_layer[l]))
      sb_printf(&sb, "%sfreeze %s", sb.len ? "; " : "", pl->p->layers.data[l].name);
  if (prev && prev->batch != s->batch) {
    sb_printf(&sb, "%sbatch %lld -> %lld", sb.len ? "; " : "", (long long)prev->batch, (long long)s->batch);
    if (s->lr_scale != 1) sb_printf(&sb, ", lr x%g", s->lr_scale);
    if (s->micro) sb_printf(&sb, ", micro-batches of %lld", (long long)s->micro);
  }
  if (prev && prev->context != s->context) {
    int64_t T = pl->p->data.context;
    sb_printf(&sb, "%scontext %lld -> %lld", sb.len ? "; " : "", (long long)(prev->context ? prev->context : T),
              (long long)(s->context ? s->context : T));
  }
  if (prev && prev->keep != s->keep) {
    if (s->keep > 0) sb_printf(&sb, "%sselect backprop: train on %g of each batch, chosen by loss", sb.len ? "; " : "",
                               s->keep);
    else sb_printf(&sb, "%sselect backprop ends: train on the whole batch", sb.len ? "; " : "");
  }
  if (prev && (prev->height != s->height || prev->width != s->width))
    sb_printf(&sb, "%simages %lldx%lld -> %lldx%lld", sb.len ? "; " : "",
              (long long)(prev->height ? prev->height : pl->image_h), (long long)(prev->width ? prev->width : pl->image_w),
              (long long)(s->height ? s->height : pl->image_h), (long long)(s->width ? s->width : pl->image_w));
  if (prev && s->average && !prev->average)
    sb_printf(&sb, "%s%s starts", sb.len ? "; " : "", pl->average->rule->rule);
  const char *r = sb.len ? arena_strdup(a, sb.data) : NULL;
  sb_free(&sb);
  return r;
}

bool pass_phases(PassContext *c) {
  IrProgram *p = c->p;
  ASTC_ASSERT(p->phases.len == 1);
  Plan pl = {p, sp_item(c->spec, TECH_FREEZE), sp_item(c->spec, TECH_BATCH), sp_item(c->spec, TECH_SEQLEN),
             sp_item(c->spec, TECH_RESIZE), sp_item(c->spec, TECH_SELECT),
             sp_item(c->spec, TECH_AVERAGE), 0, 0, 0, NULL, NULL};
  if (pl.resize) {  /* the model's images: the last two axes of its input */
    const Shape *in = &p->input_type.shape;
    ASTC_ASSERT(in->rank >= 3);
    pl.image_h = in->d[in->rank - 2], pl.image_w = in->d[in->rank - 1];
  }
  pl.layers = xmalloc(sizeof(int) * (size_t)(p->layers.len + 1));
  pl.layer_time = xmalloc(sizeof(double) * (size_t)(p->layers.len + 1));
  pl.nlayers = pass_param_layers(p, pl.layers);
  bool ok = plan_freeze(&pl) && plan_batch(&pl, c->train_examples) && plan_select(&pl);
  if (!ok) {
    free(pl.layers);
    free(pl.layer_time);
    return false;
  }
  /* every t where a setting may change */
  VEC(double) cuts = {0};
  vec_push(&cuts, 0.0);
  vec_push(&cuts, 1.0);
  for (int l = 0; l < p->layers.len; l++)
    if (pl.layer_time[l] > 0 && pl.layer_time[l] < 1) vec_push(&cuts, pl.layer_time[l]);
  if (pl.batch && pl.batch->rule->id == RULE_BATCH_RAMP) {
    const SpeedupItem *it = pl.batch;
    int64_t steps = ramp_steps(it);
    double until = sp_num(it, ARG_BATCH_UNTIL);
    for (int64_t i = 1; i <= steps; i++) vec_push(&cuts, until * (double)i / (double)steps);
  } else if (pl.batch) {
    const SpArg *at = sp_arg(pl.batch, ARG_BATCH_AT);
    for (int i = 0; i < at->nnums; i++) vec_push(&cuts, at->nums[i]);
  }
  if (pl.seqlen) {
    int stages = sp_seqlen_stages(pl.seqlen, p->data.context);
    double until = sp_num(pl.seqlen, ARG_SEQLEN_UNTIL);
    for (int i = 1; i <= stages; i++) vec_push(&cuts, until * (double)i / (double)stages);
  }
  if (pl.select)
    for (int k = 0; k < 2; k++) {
      double at = sp_num(pl.select, k ? ARG_SELECT_END : ARG_SELECT_START);
      if (at > 0 && at < 1) vec_push(&cuts, at);
    }
  if (pl.resize) {
    double rc[512];
    int n = sp_resize_cuts(pl.resize, pl.image_h, pl.image_w, rc, 512);
    for (int i = 0; i < n; i++) vec_push(&cuts, rc[i]);
  }
  if (pl.average && sp_average_start(pl.average) > 0 && sp_average_start(pl.average) < 1)
    vec_push(&cuts, sp_average_start(pl.average));
  qsort(cuts.data, (size_t)cuts.len, sizeof(double), cmp_double);

  IrPhase base = p->phases.data[0];
  p->phases.len = 0;
  Settings prev = {xcalloc((size_t)p->layers.len + 1, sizeof(bool)), 0, 0, 0, 0, 0, 0, 0, false};
  Settings cur = {xcalloc((size_t)p->layers.len + 1, sizeof(bool)), 0, 0, 0, 0, 0, 0, 0, false};
  bool have_prev = false;
  for (int i = 0; i + 1 < cuts.len; i++) {
    double t0 = cuts.data[i], t1 = cuts.data[i + 1];
    if (t1 - t0 < 1e-12) continue;
    /* settings hold on the whole interval; read them inside it */
    settings_at(&pl, t0 + (t1 - t0) * 0.5, &cur);
    if (have_prev && settings_eq(&pl, &prev, &cur)) {
      p->phases.data[p->phases.len - 1].t_end = t1;
      continue;
    }
    IrPhase ph = base;
    ph.t_begin = t0;
    ph.t_end = t1;
    ph.batch = cur.batch;
    ph.micro = cur.micro;
    ph.lr_scale = cur.lr_scale;
    ph.context = cur.context;
    ph.keep = cur.keep;
    ph.height = cur.height, ph.width = cur.width;
    ph.average = cur.average;
    ph.step = ir_graph_clone(&base.step);
    ph.nfrozen_vars = p->vars.len;
    ph.frozen = arena_alloc(p->arena, sizeof(bool) * (size_t)(p->vars.len + 1));
    for (int v = 0; v < p->vars.len; v++) {
      const IrVar *var = &p->vars.data[v];
      ph.frozen[v] = var->kind == VAR_PARAM && var->layer >= 0 && cur.frozen_layer[var->layer];
    }
    ph.why = describe(&pl, have_prev ? &prev : NULL, &cur, p->arena);
    vec_push(&p->phases, ph);
    memcpy(prev.frozen_layer, cur.frozen_layer, sizeof(bool) * (size_t)p->layers.len);
    prev.batch = cur.batch, prev.micro = cur.micro, prev.lr_scale = cur.lr_scale, prev.context = cur.context;
    prev.keep = cur.keep;
    prev.height = cur.height, prev.width = cur.width;
    prev.average = cur.average;
    have_prev = true;
  }
  ir_graph_free(&base.step);
  if (pl.batch) steps_budget_check(p, pl.batch);
  /* the precision setting holds for the whole run */
  const SpeedupItem *prec = sp_item(c->spec, TECH_PRECISION);
  if (prec)
    for (int i = 0; i < p->phases.len; i++)
      p->phases.data[i].precision = prec->rule->id == RULE_PRECISION_BF16 ? DT_BF16 : DT_F16;
  free(prev.frozen_layer);
  free(cur.frozen_layer);
  vec_free(&cuts);
  free(pl.layers);
  free(pl.layer_time);
  return true;
}
