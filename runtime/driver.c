/* driver.c — the training driver: astrt_train runs a compiled program's
 * step functions over its data, astrt_main is the main() of a compiled
 * program (options, header, training, summary), astrt_parse_options reads
 * the options.
 *
 * Progress t = samples seen / total samples (epochs * n_train, or
 * steps * batch for a steps budget), clamped to 1. Each step uses the phase
 * whose [t_begin, t_end) holds t at the step's start (the last phase also
 * takes t = 1): its batch size, step function and work. Epoch e visits the
 * training set in the order astrt_shuffle(n_train, seed, e), in batches of
 * the current phase's size; the last batch of an epoch may be partial.
 * The test set is evaluated after every epoch and after the last step.
 * A steps budget runs exactly that many optimizer steps.
 *
 * Sequence data (text, tokens) is a stream of token ids, not a set of
 * examples: an epoch is floor((n_train - 1) / T) windows of context T (each
 * token seen about once), and the step's rows are windows at offsets drawn
 * afresh for every sample: astrt_window_offset(seed, sample number) (no
 * shuffle, no permutation; the sample number, which checkpoints keep, is
 * the whole state). The test windows are the test split's non-overlapping
 * ones, in order.
 *
 * The test loss is reported always; the test accuracy for class labels
 * only; bits per byte for text. The goal of `target = ...` is test accuracy
 * >= target (ASTRT_GOAL_ACCURACY) or test loss <= target (ASTRT_GOAL_LOSS).
 *
 * Selective backprop (a phase with a scoring function, select.c): each step
 * scores its whole batch forward-only, keeps a fraction of the rows drawn
 * by loss percentile, and trains on those alone; progress still counts the
 * whole batch, and the training loss reported is the whole batch's mean
 * score. Not in data-parallel runs.
 *
 * --sample N generates N tokens after training (generate.c); --load FILE
 * loads the variables and skips training (evaluating once, or sampling).
 *
 * --init-from overwrites variables right after their initialisation, before
 * the data is loaded (a bad file fails fast); --save writes every variable
 * once training has finished without error (vars_io.c).
 */
#include "astrt_kernels.h"
#include "checkpoint.h"
#include "driver_internal.h"
#include "kernels_internal.h"
#include "robust.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* OpenBLAS's thread control (cblas.h declares it; we avoid the include). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

#define MAX_THREADS 4096

/* Where a run stands: the next step starts at example `pos` of `epoch`. */
typedef struct cursor {
  int64_t epoch, pos, step, samples;
} cursor;

typedef struct run {
  const astrt_program *p;
  astrt_options o;
  uint64_t seed;
  int threads;
  astrt_split train, test;     /* the program's data set, when loaded here */
  int stream;                  /* sequence data: windows of token streams, not a split */
  astrt_tokens tok_train, tok_test;
  int64_t ybytes;              /* bytes of one example's targets */
  astrt_data_source src_train, src_test;  /* where batches come from */
  astrt_prefetch *pf;          /* the next batch on a spare core, or NULL */
  astrt_pool **keep_pool;      /* a model's pool (reused, and kept after the run), or NULL */
  int64_t *idx;                /* example indices of a fetched batch */
  unsigned char *cache_y;      /* targets of every training example (prefix reuse) */
  int own_vars;                /* vars were created here (not a model's) */
  int64_t step_base;           /* steps the model had done before this run */
  int64_t n_train, n_test;
  int rank, size;              /* data parallelism (dist.c): this process and the job */
  int64_t epochs, max_steps;   /* the budget: one of them is > 0 */
  int64_t total_samples;       /* the denominator of t */
  int64_t max_samples;         /* > 0: a scaled epochs budget (--budget) ends here */
  cursor plan;                 /* where the budget ends */
  void *vars, *work;
  void *x, *y;                 /* a batch: x f32 features or i32 ids, y i32 labels or f32 targets */
  int64_t *perm;
  astrt_norm norm;
  int stats_computed;          /* normalize: standard: the statistics were computed by this run */
  cursor at;
  double epoch_loss;           /* sum of loss * rows since the last evaluation */
  int64_t epoch_rows;
  double train_seconds, eval_seconds;
  double best_acc, final_acc, final_loss, final_train_loss, time_to_target;
  double best_loss;            /* the lowest test loss so far */
  int loaded;                  /* --load: the variables came from a file, no training */
  int32_t *prompt;             /* --sample: the prompt's token ids */
  int64_t prompt_n;
  int evals, stop;
  int64_t eval_every, eval_samples;  /* periodic evaluation (options over the program) */
  int64_t evaluated_step;      /* the step of the last evaluation, or -1 */
  int64_t init_loaded;         /* variables overwritten by --init-from */
  /* a reused frozen prefix: features of every training example, for one phase */
  float *cache;
  int64_t cache_from;           /* the phase whose prefix the cache holds (prefix_from), or -1 */
  float *feat;                 /* a batch of gathered features */
  double cache_seconds;        /* time spent building caches (training time) */
  int64_t resumed_step;        /* > 0: continued from a checkpoint at this step */
  char resumed_from[1024];
#ifdef ASTRT_TEST_HOOKS
  int64_t kill_at_step;        /* test hook: ASTRT_TEST_KILL_AT_STEP */
#endif
  astrt_select_buf sel;        /* selective backprop: scores and chosen rows */
  astrt_loss_scaler ls;         /* fp16 dynamic loss scaling */
  astrt_progress pg;
  astrt_metrics mx;
  /* non-finite losses (nonfinite.c): the state variables as they were before
   * the step, steps skipped (--on-nan=skip-step), the current run of them */
  astrt_state_copy state;
  int64_t nonfinite_steps, skip_run, skipped_at;
} run;

static astrt_status resume(run *r);

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *model_name(const astrt_program *p) {
  return p->name && *p->name ? p->name : "the model";
}

/* ---- checking the program ----------------------------------------------- */

static astrt_status corrupt(const char *what) {
  return astrt_fail(ASTRT_ERR_FORMAT, "the program descriptor is invalid: %s; recompile "
                    "the program with astc", what);
}

static astrt_status check_phases(const astrt_program *p) {
  if (p->nphases < 1 || !p->phases) return corrupt("it has no training phase");
  for (uint32_t i = 0; i < p->nphases; i++) {
    const astrt_phase_desc *ph = &p->phases[i];
    if (!ph->step) return corrupt("a phase has no step function");
    if (ph->batch < 1) return corrupt("a phase has a batch size below 1");
    if (ph->work_bytes < 0) return corrupt("a phase has a negative work size");
    int seq = p->data.kind == ASTRT_DATA_TEXT || p->data.kind == ASTRT_DATA_TOKENS;
    if (ph->context < 0 || ph->pieces < 1 || (ph->context > 0 && (!seq || ph->context * ph->pieces > p->data.context)))
      return corrupt("a phase's context does not fit the data's");
    if (!isfinite(ph->t_begin) || (i > 0 && ph->t_begin < p->phases[i - 1].t_begin))
      return corrupt("the phases are not in order of progress");
    if (ph->score && (!(ph->keep > 0 && ph->keep <= 1) || !(ph->beta >= 0 && ph->beta < 1e6) || ph->interrupt < 0 ||
                      ph->score_work_bytes < 0 || ph->prefix))
      return corrupt("a phase's selective backprop settings are out of range");
    if (!(ph->lr_scale > 0 && ph->lr_scale < 1e12)) return corrupt("a phase's learning-rate scale is out of range");
    if (ph->prefix && (ph->prefix_from < 0 || ph->prefix_from > (int64_t)i || !p->phases[ph->prefix_from].prefix))
      return corrupt("a phase reuses the frozen-prefix features of a phase without them");
  }
  return ASTRT_OK;
}

/* The data: its shape, dtypes, targets and, for sequences, context and
 * vocabulary agree. */
static astrt_status check_data(const astrt_data_desc *d) {
  if (d->example_size < 1) return corrupt("the data has no example size");
  if (d->x_dtype != ASTRT_DTYPE_F32 && d->x_dtype != ASTRT_DTYPE_I32)
    return corrupt("the data's x is neither f32 nor i32");
  switch (d->target) {
  case ASTRT_TARGET_CLASS:
    if (d->classes < 1) return corrupt("the data has no classes");
    if (d->target_size != 0 && d->target_size != 1) return corrupt("a class label is not one value");
    break;
  case ASTRT_TARGET_REAL:
    if (d->target_size < 1) return corrupt("real-valued targets of no values");
    break;
  case ASTRT_TARGET_SEQUENCE:
    if (d->context < 1 || d->vocab < 2 || d->x_dtype != ASTRT_DTYPE_I32 || d->example_size != d->context ||
        d->target_size != d->context)
      return corrupt("sequence data needs a context T >= 1, a vocabulary of at least 2 tokens, and i32 inputs "
                     "and targets of T values");
    if (d->kind == ASTRT_DATA_TEXT && d->vocab < 256)
      return corrupt("text data has a vocabulary of fewer than 256 tokens (one per byte)");
    break;
  default:
    return corrupt("the data's target kind is unknown");
  }
  if (astrt_data_is_stream(d) && d->target != ASTRT_TARGET_SEQUENCE)
    return corrupt("text or token data without sequence targets");
  if (!isfinite(d->mean) || !isfinite(d->std) || d->std == 0)
    return corrupt("the data normalisation (mean, std) is not finite or std is 0");
  return ASTRT_OK;
}

/* normalize: standard names two state variables of one example's size,
 * for features that are numbers. */
static astrt_status check_norm(const astrt_program *p) {
  const astrt_data_desc *d = &p->data;
  if (d->normalize == ASTRT_NORM_SCALAR) return ASTRT_OK;
  if (d->normalize != ASTRT_NORM_STANDARD) return corrupt("the data's normalisation is unknown");
  const int32_t v[2] = {d->mean_var, d->std_var};
  for (int k = 0; k < 2; k++)
    if (v[k] < 0 || (uint32_t)v[k] >= p->nvars || !p->vars || p->vars[v[k]].kind != ASTRT_VAR_STATE ||
        p->vars[v[k]].numel != d->example_size || d->x_dtype != ASTRT_DTYPE_F32)
      return corrupt("the variables of the features' statistics (normalize: standard) do not fit the data");
  return ASTRT_OK;
}

astrt_status astrt_program_check(const astrt_program *p) {
  if (!p) return astrt_fail(ASTRT_ERR_ARG, "no program given to astrt_train");
  if (p->abi_version != ASTRT_ABI_VERSION)
    return astrt_fail(ASTRT_ERR_MISMATCH,
                      "the program was compiled for runtime ABI %u but this libastrt "
                      "implements ABI %d; recompile it with the astc that matches this "
                      "runtime", p->abi_version, ASTRT_ABI_VERSION);
  astrt_status st = check_phases(p);
  if (st) return st;
  if (!p->eval || p->eval_batch < 1 || p->eval_work_bytes < 0)
    return corrupt("the evaluation step is missing or has a bad batch or work size");
  if ((st = check_data(&p->data)) || (st = check_norm(p))) return st;
  if (p->goal != ASTRT_GOAL_NONE && p->goal != ASTRT_GOAL_ACCURACY && p->goal != ASTRT_GOAL_LOSS)
    return corrupt("the target's goal is unknown");
  if (p->goal == ASTRT_GOAL_ACCURACY && p->data.target != ASTRT_TARGET_CLASS)
    return corrupt("an accuracy target needs class labels");
  if (!isfinite(p->base_lr)) return corrupt("the base learning rate is not finite");
  return ASTRT_OK;
}

static astrt_status check_options(const astrt_options *o) {
  if (o->epochs < 0 || o->steps < 0)
    return astrt_fail(ASTRT_ERR_ARG, "the epochs and steps options must not be negative");
  if (o->epochs > 0 && o->steps > 0)
    return astrt_fail(ASTRT_ERR_ARG, "both an epochs budget (%lld) and a steps budget (%lld) "
                      "were given; give one", (long long)o->epochs, (long long)o->steps);
  if (o->threads > MAX_THREADS)
    return astrt_fail(ASTRT_ERR_ARG, "%d threads requested; the limit is %d", o->threads,
                      MAX_THREADS);
  if (o->on_nan != ASTRT_ON_NAN_STOP && o->on_nan != ASTRT_ON_NAN_SKIP_STEP)
    return astrt_fail(ASTRT_ERR_ARG, "on_nan %d is not ASTRT_ON_NAN_STOP or ASTRT_ON_NAN_SKIP_STEP", o->on_nan);
  if (o->progress < -1 || o->progress > 1)
    return astrt_fail(ASTRT_ERR_ARG, "progress mode %d is not -1 (auto), 0 (plain) or "
                      "1 (live)", o->progress);
  if (!(o->budget >= 0) || !isfinite(o->budget))
    return astrt_fail(ASTRT_ERR_ARG, "the budget factor %g is not a finite number > 0",
                      o->budget);
  if (o->sample < 0 || o->top_k < 0 || !(o->temperature >= 0) || !isfinite(o->temperature))
    return astrt_fail(ASTRT_ERR_ARG, "sampling needs sample >= 0, top_k >= 0 and a finite temperature >= 0 "
                      "(got %lld, %lld, %g)", (long long)o->sample, (long long)o->top_k, o->temperature);
  if (o->load_path && *o->load_path &&
      ((o->init_path && *o->init_path) || (o->checkpoint_dir && *o->checkpoint_dir) || (o->save_path && *o->save_path)))
    return astrt_fail(ASTRT_ERR_ARG, "--load loads the variables and does not train: it does not go with "
                      "--init-from, --checkpoint, --resume or --save");
  return ASTRT_OK;
}

/* ---- budget and schedule ------------------------------------------------ */

static astrt_status set_budget(run *r) {
  const astrt_program *p = r->p;
  if (r->o.steps > 0) r->max_steps = r->o.steps;
  else if (r->o.epochs > 0) r->epochs = r->o.epochs;
  else if (p->epochs > 0) r->epochs = p->epochs;
  else if (p->steps > 0) r->max_steps = p->steps;
  else
    return astrt_fail(ASTRT_ERR_ARG, "%s has no training budget; give one with --epochs N "
                      "or --steps N", model_name(p));
  if (r->max_steps > 0 && p->batch < 1)
    return corrupt("a steps budget needs the baseline batch size, which is below 1");
  /* --budget F: a steps budget becomes F x steps; an epochs budget ends
   * after F x its samples (max_samples), wherever in an epoch that falls */
  double f = r->o.budget > 0 ? r->o.budget : 1;
  int overflow = 0;
  if (f != 1 && r->max_steps > 0) {
    double steps = f * (double)r->max_steps;
    overflow = !(steps < 9e18);
    r->max_steps = steps < 1 ? 1 : overflow ? 1 : llround(steps);
  }
  overflow = overflow ||
             (r->epochs > 0 ? __builtin_mul_overflow(r->epochs, r->n_train, &r->total_samples)
                            : __builtin_mul_overflow(r->max_steps, p->batch, &r->total_samples));
  if (!overflow && f != 1 && r->epochs > 0) {
    double samples = f * (double)r->total_samples;
    overflow = !(samples < 9e18);
    r->max_samples = r->total_samples = samples < 1 ? 1 : overflow ? 1 : llround(samples);
  }
  if (overflow)
    return astrt_fail(ASTRT_ERR_ARG, "the training budget is too large (more than 2^63 "
                      "samples); lower --epochs, --steps or --budget");
  return ASTRT_OK;
}

static double progress_at(const run *r, const cursor *c) {
  double t = (double)c->samples / (double)r->total_samples;
  return t < 1.0 ? t : 1.0;
}

/* The phase for progress t: the last one starting at or before t. */
const astrt_phase_desc *astrt_phase_at(const astrt_program *p, double t) {
  uint32_t i = 0;
  while (i + 1 < p->nphases && p->phases[i + 1].t_begin <= t) i++;
  return &p->phases[i];
}

static int budget_done(const run *r, const cursor *c) {
  if (r->max_samples > 0) return c->samples >= r->max_samples;
  return r->epochs > 0 ? c->epoch >= r->epochs : c->step >= r->max_steps;
}

/* Rows of the step starting at c, and its phase. */
static int64_t next_rows(const run *r, const cursor *c, const astrt_phase_desc **phase) {
  *phase = astrt_phase_at(r->p, progress_at(r, c));
  int64_t left = r->n_train - c->pos;
  if (r->max_samples > 0 && r->max_samples - c->samples < left) left = r->max_samples - c->samples;
  return (*phase)->batch < left ? (*phase)->batch : left;
}

static void advance(const run *r, cursor *c, int64_t rows) {
  c->pos += rows;
  c->samples += rows;
  c->step++;
  if (c->pos == r->n_train) {
    c->pos = 0;
    c->epoch++;
  }
}

/* The largest j in [lo, hi] with ok(r, c, j), given ok(r, c, lo) and that
 * ok is true up to some j and false after it (phase_at is monotone in t). */
static int64_t last_ok(const run *r, const cursor *c, int64_t lo, int64_t hi,
                       int (*ok)(const run *, const cursor *, int64_t)) {
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (ok(r, c, mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* e whole epochs from c (at an epoch's start) all run in c's phase: the
 * phase at their end is it (so is the phase of every step before) */
static int epochs_ok(const run *r, const cursor *c, int64_t e) {
  cursor end = {0, 0, 0, c->samples + e * r->n_train};
  return astrt_phase_at(r->p, progress_at(r, &end)) == astrt_phase_at(r->p, progress_at(r, c));
}

/* j full steps of the phase's batch from c all run in c's phase: the last
 * one starts in it */
static int steps_ok(const run *r, const cursor *c, int64_t j) {
  const astrt_phase_desc *ph = astrt_phase_at(r->p, progress_at(r, c));
  cursor last = {0, 0, 0, c->samples + (j - 1) * ph->batch};
  return astrt_phase_at(r->p, progress_at(r, &last)) == ph;
}

/* Moves c over as many steps as it can at once without changing what they
 * are: whole epochs (from an epoch's start) or, within an epoch, full
 * batches, all in c's phase and within the budget; exactly what advance()
 * step by step would do. Returns 0 if it cannot move more than one step. */
static int jump(const run *r, cursor *c) {
  const astrt_phase_desc *ph = astrt_phase_at(r->p, progress_at(r, c));
  int64_t n = r->n_train, b = ph->batch, max;
  if (n < 1 || b < 1) return 0;
  int64_t per = (n - 1) / b + 1;
  if (c->pos == 0) {  /* whole epochs */
    max = (INT64_MAX - c->samples) / n;
    if (r->epochs > 0 && r->epochs - c->epoch < max) max = r->epochs - c->epoch;
    if (r->max_steps > 0 && (r->max_steps - c->step) / per < max) max = (r->max_steps - c->step) / per;
    if (r->max_samples > 0 && (r->max_samples - c->samples) / n < max) max = (r->max_samples - c->samples) / n;
    int64_t e = max >= 1 && epochs_ok(r, c, 1) ? last_ok(r, c, 1, max, epochs_ok) : 0;
    if (e > 0) {
      *c = (cursor){c->epoch + e, 0, c->step + e * per, c->samples + e * n};
      return 1;
    }
  }
  max = (n - c->pos) / b;  /* full batches within the epoch */
  if (r->max_steps > 0 && r->max_steps - c->step < max) max = r->max_steps - c->step;
  if (r->max_samples > 0 && (r->max_samples - c->samples) / b < max) max = (r->max_samples - c->samples) / b;
  int64_t j = max >= 2 ? last_ok(r, c, 1, max, steps_ok) : 0;
  if (j < 2) return 0;
  c->pos += j * b;
  c->samples += j * b;
  c->step += j;
  if (c->pos == n) {
    c->pos = 0;
    c->epoch++;
  }
  return 1;
}

/* Plans the run: its step, epoch and sample counts, by jumping over
 * whatever one phase covers (jump), so a few iterations per phase whatever
 * the budget (steps = 10^11 on a small data set plans at once). */
static astrt_status plan_run(run *r) {
  cursor c = {0, 0, 0, 0};
  const astrt_phase_desc *ph;
  while (!budget_done(r, &c))
    if (!jump(r, &c)) advance(r, &c, next_rows(r, &c, &ph));
  r->plan = c;
  if (c.pos > 0) r->plan.epoch++;  /* count a partial last epoch */
#ifdef ASTRT_TEST_HOOKS
  /* test hook: ASTRT_TEST_PLAN_CHECK=1 plans again step by step, as the
   * run goes, and fails if the jumps ended anywhere else */
  const char *check = getenv("ASTRT_TEST_PLAN_CHECK");
  if (check && *check == '1') {
    cursor s = {0, 0, 0, 0};
    while (!budget_done(r, &s)) advance(r, &s, next_rows(r, &s, &ph));
    if (s.epoch != c.epoch || s.pos != c.pos || s.step != c.step || s.samples != c.samples)
      return astrt_fail(ASTRT_ERR_ARG, "test hook: the plan ends at epoch %lld, position %lld, step %lld, sample "
                        "%lld; step by step at %lld, %lld, %lld, %lld", (long long)c.epoch, (long long)c.pos,
                        (long long)c.step, (long long)c.samples, (long long)s.epoch, (long long)s.pos,
                        (long long)s.step, (long long)s.samples);
  }
#endif
  return ASTRT_OK;
}

/* ---- setup -------------------------------------------------------------- */

static int resolve_threads(int requested) {
  if (requested > 0) return requested;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (n < MAX_THREADS ? (int)n : MAX_THREADS) : 1;
}

static int64_t max_batch(const astrt_program *p, int64_t *work_bytes) {
  int64_t batch = p->eval_batch;
  *work_bytes = p->eval_work_bytes;
  for (uint32_t i = 0; i < p->nphases; i++) {
    if (p->phases[i].batch > batch) batch = p->phases[i].batch;
    if (p->phases[i].work_bytes > *work_bytes) *work_bytes = p->phases[i].work_bytes;
    if (p->phases[i].prefix && p->phases[i].prefix_work_bytes > *work_bytes)
      *work_bytes = p->phases[i].prefix_work_bytes;
    if (p->phases[i].score && p->phases[i].score_work_bytes > *work_bytes)
      *work_bytes = p->phases[i].score_work_bytes;
  }
  return batch;
}

/* floats of one batch of cached features, over all phases that reuse a prefix */
static int64_t max_features(const astrt_program *p) {
  int64_t n = 0;
  for (uint32_t i = 0; i < p->nphases; i++)
    if (p->phases[i].prefix && p->phases[i].batch * p->phases[i].feature_size > n)
      n = p->phases[i].batch * p->phases[i].feature_size;
  return n;
}

/* x and y of a batch: every element is 4 bytes (f32 features or i32 ids;
 * i32 labels or f32 targets). The permutation of an epoch's examples is
 * not needed by sequence data, whose windows are drawn at random. */
static astrt_status alloc_buffers(run *r) {
  int64_t work_bytes, batch = max_batch(r->p, &work_bytes), xn, yn;
  if (__builtin_mul_overflow(batch, r->p->data.example_size, &xn) ||
      (uint64_t)xn > SIZE_MAX / sizeof(float) / 2 || __builtin_mul_overflow(batch, r->ybytes, &yn))
    return astrt_fail(ASTRT_ERR_NOMEM, "a batch of %lld examples of %lld values is too "
                      "large", (long long)batch, (long long)r->p->data.example_size);
  r->work = astrt_arena_alloc(work_bytes);
  r->x = astrt_arena_alloc(xn * (int64_t)sizeof(float));
  r->y = astrt_arena_alloc(yn);
  if (!r->stream) r->perm = malloc((size_t)r->n_train * sizeof *r->perm);
  r->idx = malloc((size_t)batch * sizeof *r->idx);
  astrt_status st = astrt_select_buf_init(&r->sel, r->p);
  if (st) return st;
  int64_t fn = max_features(r->p);
  if (fn > 0) r->feat = astrt_arena_alloc(fn * (int64_t)sizeof(float));
  if (!r->work || !r->x || !r->y || (!r->stream && !r->perm) || !r->idx || (fn > 0 && !r->feat))
    return astrt_fail(ASTRT_ERR_NOMEM, "out of memory allocating the %lld-byte work arena "
                      "and the batch buffers (%lld examples of %lld values)",
                      (long long)work_bytes, (long long)batch,
                      (long long)r->p->data.example_size);
  return ASTRT_OK;
}

/* ---- memory ------------------------------------------------------------- */

static double split_bytes(const astrt_split *s) {
  double n = 0;
  if (s->x.data) n += (double)s->x.n * (double)astrt_array_example_size(&s->x) * (s->x.elem == ASTRT_ELEM_U8 ? 1 : 4);
  if (s->y.data) n += (double)s->y.n * (double)astrt_array_example_size(&s->y) * 4;
  return n;
}

/* Refuses a run the memory available cannot hold, with the numbers
 * (memcheck.c): before anything large is allocated (loaded = 0: the
 * variables, the largest work arena, the batch buffers), and once the data
 * set is in memory (loaded = 1: what is still to come, with the frozen-prefix
 * feature caches). The loaders check each data file before reading it. */
static astrt_status check_memory(const run *r, int ext, int loaded) {
  const astrt_program *p = r->p;
  int64_t avail, work;
  const char *why;
  if (!astrt_mem_available(&avail, &why)) return ASTRT_OK;
  double batch = (double)max_batch(p, &work);
  double vars = ext ? 0 : (double)p->var_bytes;
  double ybytes = 4.0 * (double)astrt_target_values(&p->data);
  double batches = batch * ((double)p->data.example_size * 4 + 8 + ybytes) + (double)max_features(p) * 4;
  double data = split_bytes(&r->train) + split_bytes(&r->test) +
                (double)r->tok_train.n * r->tok_train.width * !!r->tok_train.owned +
                (double)r->tok_test.n * r->tok_test.width * !!r->tok_test.owned, cache = 0, other = 0;
  for (uint32_t i = 0; loaded && i < p->nphases; i++)
    if (p->phases[i].prefix && (double)r->n_train * ((double)p->phases[i].feature_size + ybytes / 4) * 4 > cache)
      cache = (double)r->n_train * ((double)p->phases[i].feature_size + ybytes / 4) * 4;
  for (uint32_t i = 0; i < p->nvars; i++)
    if (p->vars[i].kind == ASTRT_VAR_STATE) other += (double)p->vars[i].numel * 4;
  other += (double)r->n_train * 8 * !r->stream + (r->o.resume ? 2 * vars : 0);  /* data order; reading a checkpoint */
  double need = loaded ? (double)work + batches + cache + other : vars + (double)work + batches;
  /* under ulimit -v, OpenBLAS's buffers must fit too (memcheck.c) */
  astrt_status st = astrt_address_space_check(need, r->threads, model_name(p));
  if (st) return st;
  if (need <= (double)avail) return ASTRT_OK;
  char t[8][32];
  double v[8] = {need, vars, (double)work, batches, data, cache, other, (double)avail};
  for (int i = 0; i < 8; i++) astrt_fmt_bytes(v[i], t[i], sizeof t[i]);
  const char *fix = "lower the batch size (the work arena grows with it) or the model's size, turn off the reuse of "
                    "a frozen prefix (freeze ...(reuse: false)), or use a machine with more memory (to try anyway, "
                    "set ASTRT_MEM_CHECK=off)";
  if (!loaded)
    return astrt_fail(ASTRT_ERR_NOMEM, "not enough memory to train %s: it needs %s (variables %s, work arena %s, "
                      "batch buffers %s) before its data is loaded, but only %s is available (%s); %s",
                      model_name(p), t[0], t[1], t[2], t[3], t[7], why, fix);
  return astrt_fail(ASTRT_ERR_NOMEM, "not enough memory to train %s: besides its variables (%s) and data set (%s), "
                    "it needs %s (work arena %s, batch buffers %s, frozen-prefix cache %s, other %s), but only %s "
                    "is available (%s); %s", model_name(p), t[1], t[4], t[0], t[2], t[3], t[5], t[6], t[7], why, fix);
}

/* A data source's examples must exist and, for an in-memory split, match
 * the program (features of the right size, labels in range). */
static astrt_status check_source(const astrt_program *p, const astrt_data_source *s, const char *what) {
  if (s->n < 1)
    return astrt_fail(ASTRT_ERR_ARG, "the %s has %lld examples; it needs at least one", what, (long long)s->n);
  if (s->fetch) return ASTRT_OK;
  if (!s->split)
    return astrt_fail(ASTRT_ERR_ARG, "the %s has neither a fetch function nor a split", what);
  if (s->split->x.n < s->n || s->split->y.n < s->n)
    return astrt_fail(ASTRT_ERR_ARG, "the %s claims %lld examples but its split holds %lld", what,
                      (long long)s->n, (long long)s->split->x.n);
  return astrt_data_check(&p->data, s->split, what);
}

/* What every rank must agree on: the program, the data, the budget, the
 * seed and the options that change the run. */
static astrt_status check_ranks(const run *r) {
  if (r->size <= 1) return ASTRT_OK;
  uint64_t data = 0xcbf29ce484222325ull;
  const astrt_data_source *src[2] = {&r->src_train, &r->src_test};
  for (int k = 0; k < 2; k++) {
    const astrt_split *sp = src[k]->split;
    if (!sp) continue;
    size_t xb = (size_t)(sp->x.n * astrt_array_example_size(&sp->x)) * (sp->x.elem == ASTRT_ELEM_U8 ? 1 : 4);
    const unsigned char *b = sp->x.data;
    for (size_t i = 0; i < xb; i += 61) data = (data ^ b[i]) * 0x100000001b3ull;  /* a sample of the bytes */
    const int32_t *y = sp->y.data;
    for (int64_t i = 0; i < sp->y.n * astrt_array_example_size(&sp->y); i++)
      data = (data ^ (uint64_t)(uint32_t)y[i]) * 0x100000001b3ull;
  }
  const astrt_tokens *tok[2] = {&r->tok_train, &r->tok_test};
  for (int k = 0; k < 2; k++)  /* a sample of a token stream's ids */
    for (int64_t i = 0; i < tok[k]->n; i += 61) data = (data ^ (uint64_t)astrt_token_at(tok[k], i)) * 0x100000001b3ull;
  uint64_t d[] = {astrt_program_fingerprint(r->p), (uint64_t)r->n_train, (uint64_t)r->n_test,
                  (uint64_t)r->total_samples, r->seed, data, (uint64_t)r->o.resume,
                  (uint64_t)r->o.checkpoint_every, (uint64_t)r->o.stop_at_target};
  static const char *const what[] = {"program (variables, phases or batch sizes)", "training set size",
                                     "test set size", "training budget", "seed", "data",
                                     "--resume", "--checkpoint-every", "--stop-at-target"};
  return astrt_dist_check_same(d, (int)(sizeof d / sizeof d[0]), what);
}

static astrt_status setup_local(run *r, const astrt_program *p, const astrt_options *o,
                                const astrt_train_ext *ext);

/* astrt_dist_init sets the process's rank and size the first time
 * (dist.c); runs that start together in two threads take turns */
static astrt_status dist_init(int *rank, int *size) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&mu);
  astrt_status st = astrt_dist_init(rank, size);
  pthread_mutex_unlock(&mu);
  return st;
}

/* Every rank sets up alone, then they agree (a failure anywhere stops all
 * of them with its message) and check they run the same thing. */
static astrt_status run_setup(run *r, const astrt_program *p, const astrt_options *o,
                              const astrt_train_ext *ext) {
  memset(r, 0, sizeof *r);
  r->p = p;
  r->cache_from = -1;
  r->time_to_target = -1;
  r->best_acc = 0;
  r->o = *o;
  astrt_status st = dist_init(&r->rank, &r->size);
  if (st) return st;
  if (r->rank > 0) {  /* rank 0 alone reports and writes files */
    r->o.quiet = 1;
    r->o.metrics_path = NULL;
    r->o.save_path = NULL;
  }
  st = astrt_dist_agree(setup_local(r, p, &r->o, ext));
  if (!st) st = check_ranks(r);
  if (!st && r->o.checkpoint_dir && *r->o.checkpoint_dir && r->o.resume) st = resume(r);
  astrt_progress_init(&r->pg, stderr, r->o.progress, r->o.quiet, r->plan.epoch, r->plan.step, r->plan.samples);
  int64_t pe = p ? p->eval_every : 0, ps = p ? p->eval_samples : 0;
  r->eval_every = r->o.eval_every > 0 ? r->o.eval_every : r->o.eval_every < 0 ? 0 : pe;
  r->eval_samples = r->o.eval_samples > 0 ? r->o.eval_samples : r->o.eval_samples < 0 ? 0 : ps;
  r->evaluated_step = -1;
  return st;
}

/* What the options ask of this program, checked before anything is loaded:
 * --sample needs a language model (and a prompt it can read); sequence
 * data has no fixed examples whose frozen-prefix features could be cached. */
static astrt_status check_requests(run *r, const astrt_program *p, const astrt_options *o,
                                   const astrt_train_ext *ext) {
  if (ext && (o->sample > 0 || (o->load_path && *o->load_path)))
    return astrt_fail(ASTRT_ERR_ARG, "astrt_model_train neither samples nor loads variables: use "
                      "astrt_model_generate and astrt_model_load");
  for (uint32_t i = 0; r->stream && i < p->nphases; i++)
    if (p->phases[i].prefix)
      return astrt_fail(ASTRT_ERR_ARG, "phase %u of %s reuses the features of a frozen prefix, computed once for "
                        "every training example; %s data draws new windows of tokens every step, so there are no "
                        "fixed examples to compute them for: turn the reuse off (freeze ...(reuse: false))", i + 1,
                        model_name(p), p->data.kind == ASTRT_DATA_TEXT ? "text" : "token");
  for (uint32_t i = 0; r->size > 1 && i < p->nphases; i++)
    if (p->phases[i].score)
      return astrt_fail(ASTRT_ERR_ARG, "phase %u of %s selects the rows it trains on by their loss (select "
                        "backprop), which ranks the whole batch's losses in one process; data-parallel runs (%d "
                        "processes here) do not support it: run it in one process, or remove select from the "
                        "speedup block", i + 1, model_name(p), r->size);
  if (o->sample > 0) {
    astrt_status st = astrt_generate_check(p, "--sample");
    if (!st) st = astrt_prompt_parse(p, o->prompt, &r->prompt, &r->prompt_n);
    if (st) return st;
  }
  return ASTRT_OK;
}

/* The program's own data: a split of examples, or token streams. */
static astrt_status load_data(run *r, const astrt_program *p, const astrt_options *o) {
  if (!r->stream) {
    astrt_status st = astrt_data_load(&p->data, o->data_dir, &r->train, &r->test);
    if (st) return st;
    r->src_train = (astrt_data_source){r->train.x.n, NULL, NULL, &r->train};
    r->src_test = (astrt_data_source){r->test.x.n, NULL, NULL, &r->test};
    return ASTRT_OK;
  }
  astrt_status st = astrt_seq_load(&p->data, o->data_dir, &r->tok_train, &r->tok_test);
  if (st) return st;
  r->src_train = (astrt_data_source){astrt_seq_windows(r->tok_train.n, p->data.context), NULL, NULL, NULL};
  r->src_test = (astrt_data_source){astrt_seq_windows(r->tok_test.n, p->data.context), NULL, NULL, NULL};
  return ASTRT_OK;
}

/* Every phase's batch fits in the training split: a step cannot take more
 * examples than there are (astc refuses it at compile time when it knows
 * the data's size; here the data is loaded). Checked before the batch
 * buffers are allocated. */
static astrt_status check_batch_fits(const run *r, int ext) {
  const astrt_program *p = r->p;
  uint32_t big = 0;  /* the phase of the largest batch */
  for (uint32_t i = 1; i < p->nphases; i++)
    if (p->phases[i].batch > p->phases[big].batch) big = i;
  int64_t b = p->phases[big].batch;
  if (b <= r->n_train || r->loaded) return ASTRT_OK;  /* --load does not train */
  const astrt_data_desc *d = &p->data;
  char what[160], held[96] = "", ramp[32] = "";
  if (r->stream)
    snprintf(what, sizeof what, "%lld windows of %lld tokens per epoch", (long long)r->n_train, (long long)d->context);
  else
    snprintf(what, sizeof what, "%lld examples", (long long)r->n_train);
  if (!ext && !r->stream && !(d->test_source && *d->test_source) &&
      (d->kind == ASTRT_DATA_CSV || d->kind == ASTRT_DATA_NPY))
    snprintf(held, sizeof held, ", after holding out %lld for testing", (long long)r->n_test);
  if (big > 0) snprintf(ramp, sizeof ramp, " (where a ramp ends)");
  const char *src = ext ? NULL : d->source && *d->source ? d->source : "the data";
  return astrt_fail(ASTRT_ERR_ARG, "the batch size is %lld%s, but the training split of %s has only %s%s; a step "
                    "cannot take more examples than there are: use a batch of at most %lld%s",
                    (long long)b, ramp, src ? src : "the training data source", what, held, (long long)r->n_train,
                    src ? ", or more data" : "");
}

/* normalize: standard: the features' statistics, computed from the
 * training data unless the variables already hold them (loaded by
 * --init-from or --load, a model's from an earlier run or file; --resume
 * puts the checkpoint's back later). */
static astrt_status prepare_stats(run *r) {
  const astrt_program *p = r->p;
  if (p->data.normalize != ASTRT_NORM_STANDARD) return ASTRT_OK;
  astrt_status st = ASTRT_OK;
  astrt_stats_state s = astrt_stats_state_of(p, r->vars);
  if (s == ASTRT_STATS_UNSET) {
    st = astrt_stats_fit(p, r->vars, &r->src_train);
    r->stats_computed = 1;
  } else if (s == ASTRT_STATS_INVALID) {
    st = astrt_stats_check(p, r->vars, "");
  }
  r->norm = astrt_norm_of(p, r->vars);
  return st;
}

/* A warning for each split of class labels that lacks some classes (a
 * holdout of a file sorted by class, a small test file). */
static void warn_missing_classes(const run *r) {
  const astrt_data_desc *d = &r->p->data;
  const astrt_data_source *src[2] = {&r->src_train, &r->src_test};
  for (int k = 0; k < 2 && !r->o.quiet; k++) {
    char list[160];
    int64_t n = src[k]->split ? astrt_data_missing_classes(d, src[k]->split, list, sizeof list) : 0;
    if (n == 0) continue;
    int held = !k || !d->test_source || !*d->test_source;
    fprintf(stderr, "warning: the %s split (%lld examples) has no example of class%s %s (of %lld): %s\n",
            k ? "test" : "training", (long long)src[k]->n, n == 1 ? "" : "es", list, (long long)d->classes,
            k == 0                          ? "the model never learns them"
            : !held                         ? "the test accuracy says nothing about them"
            : d->split == ASTRT_SPLIT_LAST ? "split: last holds out the end of the file, which seems sorted by "
                                              "class; split: random (the default) holds out each class's share"
                                            : "the test accuracy says nothing about them; hold out more "
                                              "(holdout: 0.2) or give a test file");
  }
}

static astrt_status setup_local(run *r, const astrt_program *p, const astrt_options *o,
                                const astrt_train_ext *ext) {
  astrt_status st = astrt_program_check(p);
  if (st) return st;
  if ((st = check_options(o))) return st;
  if ((st = astrt_vars_check(p))) return st;
  r->stream = !ext && astrt_data_is_stream(&p->data);
  r->ybytes = 4 * astrt_target_values(&p->data);
  if ((st = check_requests(r, p, o, ext))) return st;
  r->seed = ext ? ext->seed : o->has_seed ? o->seed : p->seed;
  r->ls.scale = p->loss_scale > 0 ? p->loss_scale : 1.0;
  r->threads = resolve_threads(o->threads);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores > 0 && r->threads > cores) {  /* more threads than cores only wait for each other */
    if (!o->quiet)
      fprintf(stderr, "note: %d threads asked for (--threads), but this machine has %ld core%s: using %ld\n",
              r->threads, cores, cores == 1 ? "" : "s", cores);
    r->threads = (int)cores;
  }
  if (o->threads <= 0 && r->size > 1) {  /* the ranks on this machine share its cores */
    r->threads /= astrt_dist_local_size();
    if (r->threads < 1) r->threads = 1;
  }
  r->norm = astrt_norm_of(p, NULL);  /* the data's mean and std; per feature once the variables exist */
  if (o->save_path && *o->save_path && (st = astrt_vars_save_check(o->save_path))) return st;
  /* another run's checkpoints: refused before its metrics file is emptied */
  if (o->checkpoint_dir && *o->checkpoint_dir && !o->resume && r->rank == 0 &&
      (st = astrt_checkpoint_unused(o->checkpoint_dir)))
    return st;
  /* a resumed run continues its metrics file (resume() cuts it back);
   * only a fresh run starts it empty */
  int continuing = o->resume && o->checkpoint_dir && o->metrics_path && astrt_checkpoint_count(o->checkpoint_dir) > 0;
  if (!continuing && (st = astrt_metrics_open(&r->mx, o->metrics_path))) return st;
  r->mx.target = p->data.target;
  r->mx.text = p->data.kind == ASTRT_DATA_TEXT;
  if (ext) {
    r->vars = ext->vars;
    r->keep_pool = ext->pool;
    r->step_base = ext->step_base;
    if (ext->loss_scale > 0) r->ls.scale = ext->loss_scale;
    if (!ext->train) return astrt_fail(ASTRT_ERR_ARG, "no training data source given");
    r->src_train = *ext->train;
    if ((st = check_source(p, &r->src_train, "training data source"))) return st;
    if (ext->test) {
      r->src_test = *ext->test;
      if ((st = check_source(p, &r->src_test, "test data source"))) return st;
    }
  } else {
    if ((st = check_memory(r, 0, 0))) return st;
    r->own_vars = 1;
    if ((st = astrt_vars_create(p, r->seed, &r->vars))) return st;
  }
  if (o->init_path && *o->init_path &&
      (st = astrt_vars_load(p, r->vars, o->init_path, &r->init_loaded)))
    return st;
  if (o->load_path && *o->load_path) {
    if ((st = astrt_vars_load(p, r->vars, o->load_path, &r->init_loaded))) return st;
    r->loaded = 1;
    if (o->sample > 0) return ASTRT_OK;  /* sampling only: no data */
  }
  if (!ext && (st = load_data(r, p, o))) return st;
  r->n_train = r->src_train.n;
  r->n_test = r->src_test.n;
  if ((st = check_batch_fits(r, ext != NULL))) return st;
  if (r->rank == 0) warn_missing_classes(r);
  if ((st = prepare_stats(r))) return st;
  if ((st = set_budget(r))) return st;
  if ((st = check_memory(r, ext != NULL, 1))) return st;
  if ((st = alloc_buffers(r))) return st;
  if ((st = astrt_state_copy_init(p, &r->state))) return st;
  if ((st = plan_run(r))) return st;
#ifdef ASTRT_TEST_HOOKS
  const char *kill = getenv("ASTRT_TEST_KILL_AT_STEP");
  r->kill_at_step = kill && *kill ? atoll(kill) : 0;
#endif
  if (o->checkpoint_dir && *o->checkpoint_dir && r->rank == 0 && (st = astrt_checkpoint_prepare(o->checkpoint_dir)))
    return st;
  return ASTRT_OK;
}

static void run_free(run *r) {
  astrt_progress_clear(&r->pg);
  if (r->own_vars) free(r->vars);
  free(r->work);
  free(r->idx);
  free(r->cache_y);
  free(r->prompt);
  free(r->x);
  free(r->y);
  free(r->perm);
  free(r->feat);
  free(r->cache);
  astrt_split_free(&r->train);
  astrt_split_free(&r->test);
  astrt_tokens_free(&r->tok_test);
  astrt_tokens_free(&r->tok_train);
  astrt_state_copy_free(&r->state);
  astrt_select_buf_free(&r->sel);
  astrt_kernels_release_scratch();
}

/* ---- batches ------------------------------------------------------------ */

/* Examples perm[pos..pos+rows) of s (pos..pos+rows when perm is NULL) into
 * r->x as normalised features (or token ids) and r->y as targets. */
static astrt_status gather(run *r, const astrt_data_source *s, const int64_t *perm, int64_t pos,
                           int64_t rows) {
  if (!s->fetch) {
    astrt_batch_gather_pooled(s->split, perm, pos, rows, r->norm, r->x, r->y);
    return ASTRT_OK;
  }
  const int64_t *index = perm ? perm + pos : r->idx;
  if (!perm)
    for (int64_t i = 0; i < rows; i++) r->idx[i] = pos + i;
  astrt_status st = s->fetch(s->ctx, index, rows, r->x, r->y);  /* typed for f32 x and class labels */
  if (st) return st;
  if ((st = astrt_batch_check(&r->p->data, r->x, r->y, rows, index))) return st;
  if (r->p->data.x_dtype == ASTRT_DTYPE_F32) astrt_normalize(r->x, rows, r->p->data.example_size, r->norm);
  return ASTRT_OK;
}

/* Sequence data: training windows for the samples numbered first..first+rows
 * (at random offsets), or test windows first..first+rows, into r->x, r->y. */
static void gather_windows(run *r, int train, int64_t first, int64_t rows) {
  astrt_batch_windows(train ? &r->tok_train : &r->tok_test, r->p->data.context, train, r->seed, first, rows, r->x,
                      r->y);
}

/* ---- evaluation --------------------------------------------------------- */

/* The test loss and accuracy over the first n test examples. */
static astrt_status evaluate(run *r, int64_t n, double *loss, double *accuracy) {
  double sums[2] = {0, 0};  /* loss x rows, correct */
  double loss_sum = 0, correct = 0;
  int64_t rows;
  /* each rank evaluates its share of the test set */
  int64_t lo = n * r->rank / r->size, hi = n * (r->rank + 1) / r->size;
  for (int64_t pos = lo; pos < hi; pos += rows) {
    rows = hi - pos < r->p->eval_batch ? hi - pos : r->p->eval_batch;
    astrt_status st = ASTRT_OK;
    if (r->stream) gather_windows(r, 0, pos, rows);
    else st = gather(r, &r->src_test, NULL, pos, rows);
    if (st) return st;
    float scalars[ASTRT_NUM_SCALARS] = {0.0f, (float)(r->step_base + r->at.step), (float)rows, 1.0f, 1.0f, 0.0f,
                                        1.0f};
    float out[ASTRT_NUM_OUTPUTS] = {0.0f, 0.0f};
    r->p->eval(r->vars, r->work, r->x, r->y, rows, scalars, out, r->seed);
    loss_sum += (double)out[ASTRT_OUT_LOSS] * (double)rows;
    correct += out[ASTRT_OUT_CORRECT];
  }
  sums[0] = loss_sum, sums[1] = correct;
  astrt_status st = astrt_dist_sum(sums, 2);
  if (st) return st;
  *loss = sums[0] / (double)n;
  /* accuracy is that of class labels; other data has none */
  *accuracy = r->p->data.target == ASTRT_TARGET_CLASS ? sums[1] / (double)n : NAN;
  return ASTRT_OK;
}

static astrt_status record_eval(run *r, const astrt_eval_record *e) {
  const astrt_program *p = r->p;
  if (!r->loaded) astrt_progress_eval(&r->pg, e);  /* --load: the summary says it */
  astrt_status st = astrt_metrics_eval(&r->mx, e);
  if (st) return st;
  if (!isfinite(e->test_loss)) {
    int64_t v = astrt_nonfinite_var(p, r->vars);  /* a finite loss whose gradients were not */
    return astrt_fail(ASTRT_ERR_NUMERIC,
                      "the test loss after step %lld (epoch %lld) is not finite (%g): %s%s%s; lower the "
                      "learning rate", (long long)e->step, (long long)e->epoch, e->test_loss,
                      v >= 0 ? "the last updates made variable " : "every variable is finite, but evaluating "
                      "overflowed (the parameters have grown too large, or the test data holds extreme values)",
                      v >= 0 ? p->vars[v].name : "", v >= 0 ? " non-finite" : "");
  }
  int reached = p->goal == ASTRT_GOAL_ACCURACY ? e->test_accuracy >= p->target
                : p->goal == ASTRT_GOAL_LOSS   ? e->test_loss <= p->target
                                               : 0;
  if (reached) {
    if (r->time_to_target < 0) r->time_to_target = r->train_seconds;
    if (r->o.stop_at_target) r->stop = 1;
  }
  return ASTRT_OK;
}

/* Evaluates after the steps of epoch `epoch` (1-based), or between epoch
 * ends (periodic), and logs it. The last evaluation of a run uses the whole
 * test split, the others the first eval_samples examples. */
static astrt_status eval_and_log(run *r, int64_t epoch, int periodic, int last) {
  r->final_train_loss = r->epoch_rows > 0 ? r->epoch_loss / (double)r->epoch_rows : NAN;
  if (r->n_test == 0) {  /* no test data: nothing to evaluate */
    r->epoch_loss = 0;
    r->epoch_rows = 0;
    return ASTRT_OK;
  }
  int64_t n = !last && r->eval_samples > 0 && r->eval_samples < r->n_test ? r->eval_samples : r->n_test;
  r->evaluated_step = r->at.step;
  double t0 = now_seconds(), loss, accuracy;
  astrt_status st = evaluate(r, n, &loss, &accuracy);
  if (st) return st;
  r->eval_seconds += now_seconds() - t0;
  int first = r->evals++ == 0;
  if (first || accuracy > r->best_acc) r->best_acc = accuracy;
  if (first || loss < r->best_loss) r->best_loss = loss;
  r->final_acc = accuracy;
  r->final_loss = loss;
  r->epoch_loss = 0;
  r->epoch_rows = 0;
  astrt_eval_record e = {epoch, r->at.step, r->at.samples, r->final_train_loss, loss,
                         accuracy, r->best_acc, r->train_seconds, r->best_loss, r->p->data.target,
                         r->p->data.kind == ASTRT_DATA_TEXT, periodic, n, r->plan.step};
  return astrt_dist_agree(record_eval(r, &e));  /* rank 0's metrics write may fail */
}

/* ---- training ----------------------------------------------------------- */

/* A step whose loss was not finite (docs/robustness.md). Its updates were
 * skipped by the generated code (passes/guard.c); the state it assigned is
 * put back and it runs again in diagnose mode to find the first non-finite
 * value. --on-nan=stop ends the run (no checkpoint follows); skip-step goes
 * on without it, unless a variable is already non-finite or too many steps
 * in a row were skipped. x, local and scalars are what the step was given. */
static astrt_status nonfinite_loss(run *r, const astrt_phase_desc *ph, const void *x, int64_t local, int64_t rows,
                                   const float *scalars, float loss, double lr) {
  const astrt_program *p = r->p;
  astrt_state_restore(p, r->vars, &r->state);
  uint32_t phase = (uint32_t)(ph - p->phases);
  astrt_nan_report e = {r->at.step + 1, r->at.epoch + 1, phase, rows, lr, loss, -2};
  e.node = astrt_diagnose(p, phase, r->vars, r->work, x, r->y, local, scalars, r->seed);
  char what[640], hint[400];
  astrt_nan_describe(p, &e, what, sizeof what);
  astrt_nan_hint(p, &e, hint, sizeof hint);
  int skip = r->o.on_nan == ASTRT_ON_NAN_SKIP_STEP;
  if (!skip || astrt_nan_in_variable(p, &e)) {
    (void)astrt_metrics_event(&r->mx, "stopped", e.step, e.epoch, what);
    return astrt_fail(ASTRT_ERR_NUMERIC, "%s; %s. Training stopped before this step changed anything%s",
                      what, hint, skip ? "" : " (--on-nan=skip-step skips such steps)");
  }
  r->skip_run = r->skipped_at == r->at.step && r->skip_run > 0 ? r->skip_run + 1 : 1;
  if (r->skip_run > ASTRT_MAX_SKIPPED_STEPS) {  /* giving up ends the run as --on-nan=stop does */
    (void)astrt_metrics_event(&r->mx, "stopped", e.step, e.epoch, what);
    return astrt_fail(ASTRT_ERR_NUMERIC, "%d steps in a row were skipped for a non-finite loss, and now %s; "
                      "training is not recovering: %s", ASTRT_MAX_SKIPPED_STEPS, what, hint);
  }
  r->nonfinite_steps++;
  if (r->rank == 0 && r->nonfinite_steps <= 11) {  /* worth a line even under --quiet, but not 100 */
    astrt_progress_clear(&r->pg);
    if (r->nonfinite_steps <= 10)
      fprintf(stderr, "warning: %s; step skipped, no variable changed%s%s\n", what,
              r->nonfinite_steps == 1 ? "; " : "", r->nonfinite_steps == 1 ? hint : "");
    else
      fprintf(stderr, "warning: step %lld was skipped too (a non-finite loss); further skipped steps are not shown "
                      "here (the metrics file lists them, the summary counts them)\n", (long long)e.step);
    fflush(stderr);
  }
  astrt_status st = astrt_metrics_event(&r->mx, "skipped_step", e.step, e.epoch, what);
  if (st) return st;
  advance(r, &r->at, rows);
  r->skipped_at = r->at.step;
  return ASTRT_OK;
}

astrt_status astrt_lr_at(const astrt_program *p, double t, int64_t step, int64_t epoch, double *lr) {
  double mult = p->lr_schedule ? p->lr_schedule(t, (double)step, (double)epoch) : 1.0;
  *lr = p->base_lr * mult;
  if (!isfinite((float)*lr) || *lr < 0)
    return astrt_fail(ASTRT_ERR_NUMERIC,
                      "the learning rate at step %lld (progress %.4f) is base %g x schedule %g, "
                      "which is not a finite, non-negative float; fix the learning rate or its schedule",
                      (long long)step + 1, t, p->base_lr, mult);
  return ASTRT_OK;
}

/* Dynamic loss scaling (fp16): a step whose gradients were not all finite was
 * skipped by the step function; halve the scale. After loss_scale_growth
 * clean steps, double it. */
astrt_status astrt_loss_scale_update(const astrt_program *p, astrt_loss_scaler *ls, int overflow,
                                     int64_t step) {
  if (p->loss_scale_growth <= 0) return ASTRT_OK;
  if (!overflow) {
    if (++ls->clean_steps >= p->loss_scale_growth) {
      ls->clean_steps = 0;
      if (ls->scale < 1e30) ls->scale *= 2;
    }
    return ASTRT_OK;
  }
  ls->clean_steps = 0;
  ls->skipped_steps++;
  ls->scale /= 2;
  if (ls->scale < 0x1p-24)
    return astrt_fail(ASTRT_ERR_NUMERIC, "step %lld: the gradients overflow even with the loss scale at its "
                      "minimum (%g); the forward pass itself is out of fp16's range — keep the layer in fp32 "
                      "(precision fp16(keep: [...])) or use bf16", (long long)step + 1, ls->scale);
  return ASTRT_OK;
}

/* The features of every training example through phase ph's frozen prefix,
 * computed once when the phase starts (the time counts as training). */
static astrt_status build_cache(run *r, const astrt_phase_desc *ph) {
  free(r->cache);
  r->cache = NULL;
  r->cache_from = -1;
  int64_t fs = ph->feature_size, chunk = r->p->eval_batch;
  if (fs <= 0 || (uint64_t)r->n_train > SIZE_MAX / sizeof(float) / (uint64_t)fs)
    return astrt_fail(ASTRT_ERR_FORMAT, "the program descriptor has an invalid feature size; recompile it");
  r->cache = malloc((size_t)r->n_train * (size_t)fs * sizeof(float));
  if (!r->cache_y) r->cache_y = malloc((size_t)r->n_train * (size_t)r->ybytes);
  if (!r->cache || !r->cache_y)
    return astrt_fail(ASTRT_ERR_NOMEM, "out of memory for the frozen-prefix cache (%.0f MB): lower the freeze "
                      "rule's reuse_limit, or turn reuse off (reuse: false)",
                      (double)r->n_train * (double)fs * 4 / 1e6);
  double t0 = now_seconds();
  for (int64_t pos = 0; pos < r->n_train; pos += chunk) {
    int64_t rows = r->n_train - pos < chunk ? r->n_train - pos : chunk;
    astrt_status st = gather(r, &r->src_train, NULL, pos, rows);
    if (st) return st;
    memcpy(r->cache_y + pos * r->ybytes, r->y, (size_t)(rows * r->ybytes));
    float scalars[ASTRT_NUM_SCALARS] = {0.0f, (float)(r->step_base + r->at.step), (float)rows, 1.0f, 0.0f, 0.0f,
                                        1.0f};
    ph->prefix(r->vars, r->work, r->x, r->y, rows, scalars, r->cache + pos * fs, r->seed);
  }
  double dt = now_seconds() - t0;
  r->train_seconds += dt;
  r->cache_seconds += dt;
  r->cache_from = ph->prefix_from;
  char what[160];
  snprintf(what, sizeof what, "the frozen prefix's features of %lld examples computed in %.3f s",
           (long long)r->n_train, dt);
  return astrt_metrics_event(&r->mx, "prefix_cache", r->step_base + r->at.step, r->at.epoch, what);
}

/* rows perm[pos..pos+rows) of the cache into r->feat, their targets into r->y */
static void gather_features(run *r, const astrt_phase_desc *ph, int64_t lo, int64_t rows) {
  int64_t fs = ph->feature_size, yb = r->ybytes;
  for (int64_t i = 0; i < rows; i++) {
    int64_t e = r->perm[r->at.pos + lo + i];
    memcpy(r->feat + i * fs, r->cache + e * fs, (size_t)fs * sizeof(float));
    memcpy((char *)r->y + i * yb, r->cache_y + e * yb, (size_t)yb);
  }
}

/* Asks the prefetcher for this rank's rows of the step after the current
 * one (of `rows` rows), if it lies in the same epoch and reads the data set
 * (not a reused prefix's features). */
static void prefetch_next(run *r, int64_t rows) {
  cursor next = r->at;
  advance(r, &next, rows);
  if (next.pos == 0 || budget_done(r, &next)) return;
  const astrt_phase_desc *ph;
  int64_t n = next_rows(r, &next, &ph);
  if (ph->prefix) return;
  int64_t lo = n * r->rank / r->size, local = n * (r->rank + 1) / r->size - lo;
  astrt_prefetch_request(r->pf, r->src_train.split, r->perm, next.pos + lo, local, r->norm);
}

/* Prefetching needs a core that neither BLAS nor another rank uses, and the
 * built-in data (a user's fetch callback need not be thread-safe).
 * ASTRT_PREFETCH=off|on overrides the choice. */
static void prefetch_start(run *r) {
  const char *env = getenv("ASTRT_PREFETCH");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int local = r->size > 1 ? astrt_dist_local_size() : 1;
  int want = !r->src_train.fetch && r->src_train.split && (cores <= 0 || cores / local > r->threads);
  if (env && strcmp(env, "off") == 0) want = 0;
  if (env && strcmp(env, "on") == 0) want = !r->src_train.fetch && r->src_train.split;
  if (!want) return;
  int64_t work_bytes, batch = max_batch(r->p, &work_bytes);
  r->pf = astrt_prefetch_start(batch * r->p->data.example_size * 4, batch * r->ybytes);
}

static astrt_status train_step(run *r) {
  const astrt_program *p = r->p;
  double t0 = now_seconds();
  if (r->at.pos == 0 && !r->stream) astrt_shuffle(r->perm, r->n_train, r->seed, r->at.epoch);
  const astrt_phase_desc *ph;
  int64_t rows = next_rows(r, &r->at, &ph);
  double t = progress_at(r, &r->at);
  double lr;
  astrt_status lst = astrt_lr_at(p, t, r->at.step, r->at.epoch, &lr);
  if (lst) return lst;
  /* data parallelism: this rank's shard of the global batch is rows [lo, lo + local) */
  int64_t lo = rows * r->rank / r->size, local = rows * (r->rank + 1) / r->size - lo;
  const void *x = r->x;
  int64_t step_rows = local;  /* the step's rows: its examples, or their pieces */
  if (ph->prefix) {
    if (!r->cache || r->cache_from != ph->prefix_from) {  /* a phase with the same prefix as the last keeps its features */
      astrt_status st = build_cache(r, ph);
      if (st) return st;
      t0 = now_seconds();  /* build_cache counted its own time */
    }
    gather_features(r, ph, lo, local);
    x = r->feat;
  } else if (r->stream) {  /* the windows of samples at.samples + lo ...: global numbers, as dropout's rows */
    gather_windows(r, 1, r->at.samples + lo, local);
    x = r->x;
    if (ph->context > 0) {  /* seqlen warmup: shorter rows, cut from the same windows */
      astrt_batch_shorten(r->x, r->y, local, p->data.context, ph->context, ph->pieces);
      step_rows = local * ph->pieces;
    }
  } else {
    if (!r->pf || !astrt_prefetch_take(r->pf, r->src_train.split, r->perm, r->at.pos + lo, local, &r->x, &r->y)) {
      astrt_status st = gather(r, &r->src_train, r->perm, r->at.pos + lo, local);
      if (st) return st;
    }
    x = r->x;
    if (r->pf) prefetch_next(r, rows);
  }
  int64_t per = step_rows / (local > 0 ? local : 1);  /* rows per example */
  int64_t step_no = r->step_base + r->at.step + 1;
  /* batch coupling: the phase's lr_scale, as an f32 product */
  float scalars[ASTRT_NUM_SCALARS] = {(float)lr * (float)ph->lr_scale, (float)step_no, (float)step_rows,
                                      (float)r->ls.scale, (float)t, (float)(lo * per), (float)local / (float)rows};
  float out[ASTRT_NUM_OUTPUTS] = {0.0f, 0.0f, 0.0f};
  double batch_loss = NAN;  /* selective backprop: the whole batch's mean score */
  if (ph->score && !astrt_select_interrupted(ph, step_no)) {
    int64_t width = ph->context > 0 ? ph->context : 0;  /* rows shortened by seqlen warmup */
    int64_t xrow = (width ? width : p->data.example_size) * 4, yrow = width ? width * 4 : r->ybytes;
    step_rows = astrt_select_batch(ph, &r->sel, r->vars, r->work, r->x, r->y, step_rows, xrow, yrow, scalars,
                                   r->seed, step_no, &batch_loss);
    scalars[ASTRT_SC_ROWS] = (float)step_rows;
  }
  astrt_state_save(p, r->vars, &r->state);  /* nothing without batch-norm statistics */
  ph->step(r->vars, r->work, x, r->y, step_rows, scalars, out, r->seed);
  if (r->size > 1) {  /* the batch's loss: the shards' weighted sum (a shard of no rows adds nothing) */
    double red[1] = {local > 0 ? (double)out[ASTRT_OUT_LOSS] * (double)local / (double)rows : 0.0};
    astrt_status st = astrt_dist_sum(red, 1);
    if (st) return st;
    out[ASTRT_OUT_LOSS] = (float)red[0];
  }
  double t1 = now_seconds();
  r->train_seconds += t1 - t0;
  if (!isfinite(out[ASTRT_OUT_LOSS]))
    return nonfinite_loss(r, ph, x, step_rows, rows, scalars, out[ASTRT_OUT_LOSS], lr);
  astrt_status ls = astrt_loss_scale_update(p, &r->ls, out[ASTRT_OUT_OVERFLOW] != 0.0f, r->at.step);
  if (ls) return ls;
  r->epoch_loss += (isfinite(batch_loss) ? batch_loss : (double)out[ASTRT_OUT_LOSS]) * (double)rows;
  r->epoch_rows += rows;
  advance(r, &r->at, rows);
  astrt_progress_state s = {r->at.epoch + (r->at.pos > 0), r->at.step, r->at.samples,
                            r->epoch_loss / (double)r->epoch_rows, r->train_seconds};
  astrt_progress_step(&r->pg, &s, t1, 0);
  return ASTRT_OK;
}

/* ---- checkpoints -------------------------------------------------------- */

static void to_ckpt(const run *r, astrt_ckpt_state *s, astrt_metrics *mx) {
  memset(s, 0, sizeof *s);
  s->step = r->at.step, s->epoch = r->at.epoch, s->pos = r->at.pos, s->samples = r->at.samples;
  s->total_samples = r->total_samples;
  s->clean_steps = r->ls.clean_steps, s->skipped_steps = r->ls.skipped_steps;
  s->epoch_rows = r->epoch_rows, s->evals = r->evals;
  s->metrics_bytes = astrt_metrics_length(mx);
  s->threads = r->threads;
  s->ranks = r->size;
  s->train_seconds = r->train_seconds, s->eval_seconds = r->eval_seconds, s->cache_seconds = r->cache_seconds;
  s->epoch_loss = r->epoch_loss, s->loss_scale = r->ls.scale;
  s->best_acc = r->best_acc, s->final_acc = r->final_acc, s->final_loss = r->final_loss;
  s->final_train_loss = r->final_train_loss, s->time_to_target = r->time_to_target;
  s->seed = r->seed;
  s->best_loss = r->best_loss;
}

static void from_ckpt(run *r, const astrt_ckpt_state *s) {
  r->at = (cursor){s->epoch, s->pos, s->step, s->samples};
  r->ls.clean_steps = s->clean_steps, r->ls.skipped_steps = s->skipped_steps;
  r->epoch_rows = s->epoch_rows, r->evals = (int)s->evals;
  r->train_seconds = s->train_seconds, r->eval_seconds = s->eval_seconds, r->cache_seconds = s->cache_seconds;
  r->epoch_loss = s->epoch_loss, r->ls.scale = s->loss_scale;
  r->best_acc = s->best_acc, r->final_acc = s->final_acc, r->final_loss = s->final_loss;
  r->final_train_loss = s->final_train_loss, r->time_to_target = s->time_to_target;
  r->seed = s->seed;
  r->best_loss = isnan(s->best_loss) ? s->final_loss : s->best_loss;  /* older checkpoints lack it */
}

static astrt_status checkpoint(run *r) {
  if (!r->o.checkpoint_dir || !*r->o.checkpoint_dir) return ASTRT_OK;
  astrt_ckpt_state s;
  to_ckpt(r, &s, &r->mx);
  astrt_status st = r->rank == 0 ? astrt_checkpoint_write(r->o.checkpoint_dir, r->p, r->vars, &s) : ASTRT_OK;
  return astrt_dist_agree(st);
}

/* Where the run stands after `steps` steps (a function of the schedule and
 * the training set's size alone); 0 if its budget ends before. Planned as
 * plan_run plans the run (jump), with the jumps stopping at `steps`. */
static int cursor_after(const run *r, int64_t steps, cursor *out) {
  run until = *r;
  until.max_steps = r->max_steps > 0 && r->max_steps < steps ? r->max_steps : steps;
  cursor c = {0, 0, 0, 0};
  const astrt_phase_desc *ph;
  while (c.step < steps && !budget_done(r, &c))
    if (!jump(&until, &c)) advance(r, &c, next_rows(r, &c, &ph));
  *out = c;
  return c.step == steps;
}

/* A checkpoint's position must be where this run is after its steps: step,
 * epoch, position and samples agree with each other and with the schedule
 * (astrt_checkpoint_restore skips one that does not, as a corrupt one). A
 * checkpoint of another budget is left to resume()'s clearer message. */
static astrt_status ckpt_consistent(void *ctx, const astrt_ckpt_state *s, const char *path) {
  const run *r = ctx;
  if (s->total_samples != r->total_samples) return ASTRT_OK;
  cursor c;
  if (s->step < 0 || s->epoch < 0 || s->pos < 0 || s->samples < 0 || s->metrics_bytes < 0 || s->evals < 0 ||
      s->epoch_rows < 0 || s->threads < 1 || s->ranks < 1 || !(s->loss_scale > 0))
    return astrt_fail(ASTRT_ERR_FORMAT, "%s is inconsistent: its metadata holds an impossible value (step %lld, "
                      "epoch %lld, position %lld, samples %lld, metrics length %lld, evaluations %lld, threads %lld, "
                      "processes %lld, loss scale %g)", path, (long long)s->step, (long long)s->epoch,
                      (long long)s->pos, (long long)s->samples, (long long)s->metrics_bytes, (long long)s->evals,
                      (long long)s->threads, (long long)s->ranks, s->loss_scale);
  if (!cursor_after(r, s->step, &c))
    return astrt_fail(ASTRT_ERR_FORMAT, "%s is inconsistent: it says %lld steps were done, but this run's budget "
                      "ends after %lld", path, (long long)s->step, (long long)c.step);
  if (c.epoch != s->epoch || c.pos != s->pos || c.samples != s->samples)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s is inconsistent: after %lld steps this run has %lld complete epochs, is "
                      "at example %lld of %lld and has seen %lld samples, but the checkpoint says %lld complete "
                      "epochs, example %lld, %lld samples (its metadata was edited or damaged, or the training set "
                      "changed size)", path,
                      (long long)s->step, (long long)c.epoch, (long long)c.pos, (long long)r->n_train,
                      (long long)c.samples, (long long)s->epoch, (long long)s->pos, (long long)s->samples);
  return ASTRT_OK;
}

/* --resume: the newest usable checkpoint replaces the fresh variables and
 * the run's position; the metrics file is cut back to what it held then. */
static astrt_status resume(run *r) {
  astrt_ckpt_state s;
  memset(&s, 0, sizeof s);
  int have = 0;
  astrt_status st = ASTRT_OK;
  if (r->rank == 0) {  /* rank 0 reads; every rank continues from what it read */
    have = astrt_checkpoint_count(r->o.checkpoint_dir) > 0;
    if (!have && !r->o.quiet)
      fprintf(stderr, "note: no checkpoint in %s yet; starting from the beginning\n", r->o.checkpoint_dir);
    if (have)
      st = astrt_checkpoint_restore(r->o.checkpoint_dir, r->p, r->vars, r->p->var_bytes, &s, r->resumed_from,
                                    sizeof r->resumed_from, ckpt_consistent, r);
  }
  if ((st = astrt_dist_agree(st))) return st;
  if (r->size > 1 && ((st = astrt_dist_bcast(&have, sizeof have, 0)) ||
                      (have && ((st = astrt_dist_bcast(r->vars, r->p->var_bytes, 0)) ||
                                (st = astrt_dist_bcast(&s, sizeof s, 0)) ||
                                (st = astrt_dist_bcast(r->resumed_from, sizeof r->resumed_from, 0))))))
    return st;
  if (!have) return ASTRT_OK;
  if (s.ranks != r->size && !r->o.quiet)
    fprintf(stderr, "warning: %s was written by %lld process%s and this run has %d; the result will not be "
                    "bit-identical to an uninterrupted run\n", r->resumed_from, (long long)s.ranks,
            s.ranks == 1 ? "" : "es", r->size);
  if (s.total_samples != r->total_samples)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s was written for a budget of %lld samples but this run's is %lld; "
                      "resume with the same --epochs/--steps/--budget", r->resumed_from, (long long)s.total_samples,
                      (long long)r->total_samples);
  if (s.threads != r->threads && !r->o.quiet)
    fprintf(stderr, "warning: %s was written with %lld thread%s and this run uses %d; the result will not be "
                    "bit-identical to an uninterrupted run\n", r->resumed_from, (long long)s.threads,
            s.threads == 1 ? "" : "s", r->threads);
  if (r->o.has_seed && r->o.seed != s.seed)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s was written with seed %llu, not %llu", r->resumed_from,
                      (unsigned long long)s.seed, (unsigned long long)r->o.seed);
  from_ckpt(r, &s);
  r->resumed_step = s.step;
  r->stats_computed = 0;  /* the checkpoint's statistics (normalize: standard) replaced any computed here */
  /* mid-epoch: the epoch's order is a function of (seed, epoch); draw it again
   * (sequence windows are a function of the sample number alone) */
  if (r->at.pos > 0 && !r->stream) astrt_shuffle(r->perm, r->n_train, r->seed, r->at.epoch);
  astrt_metrics_close(&r->mx);
  return astrt_dist_agree(astrt_metrics_reopen(&r->mx, r->o.metrics_path, s.metrics_bytes));
}

#ifdef ASTRT_TEST_HOOKS
/* test hook: ASTRT_TEST_KILL_AT_STEP=N kills the process after step N (and
 * its checkpoint); only in builds with -DASTRT_TEST_HOOKS=ON */
static void maybe_kill(const run *r) {
  if (r->kill_at_step > 0 && r->at.step == r->kill_at_step) {
    fflush(NULL);
    raise(SIGKILL);
  }
}
#endif

/* OpenBLAS runs single-threaded inside the pool's parts. Its thread count
 * is the process's (openblas_set_num_threads writes a global): it is set
 * only when it is not 1 already, under a lock, so that two runs starting
 * together do not both write it, and once it is 1 a run starting while
 * another one's products run only reads it. */
static void blas_single_thread(void) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&mu);
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
  pthread_mutex_unlock(&mu);
}

/* The run's pool of r->threads threads: the model's, if it has one of that
 * size (else a new one replaces it and stays with the model), or one of the
 * run's own. */
static astrt_pool *run_pool(run *r) {
  if (r->keep_pool && *r->keep_pool && astrt_pool_threads(*r->keep_pool) == r->threads)
    return *r->keep_pool;
  astrt_pool *pool = astrt_pool_create(r->threads);
  if (pool && r->keep_pool) {
    astrt_pool_destroy(*r->keep_pool);
    *r->keep_pool = pool;
  }
  return pool;
}

static astrt_status train_loop(run *r) {
  astrt_status st = ASTRT_OK;
  if (r->o.stop_at_target && r->p->goal == ASTRT_GOAL_NONE && !r->o.quiet)
    fprintf(stderr, "note: %s has no target accuracy; --stop-at-target has no effect\n",
            model_name(r->p));
  /* one pool owns the cores (pool.c), bound to this thread for the run */
  blas_single_thread();
  astrt_pool *pool = run_pool(r);
  if (!pool)
    return astrt_fail(ASTRT_ERR_NOMEM, "out of memory creating the pool of %d threads", r->threads);
  astrt_pool *outer = astrt_pool_bind(pool);
  prefetch_start(r);
  int64_t every = r->o.checkpoint_every;
  while (!st && !r->stop && !r->loaded && !budget_done(r, &r->at)) {
    st = train_step(r);
    int epoch_end = r->at.pos == 0, last = budget_done(r, &r->at);
    if (!st && epoch_end) st = eval_and_log(r, r->at.epoch, 0, last);
    else if (!st && r->eval_every > 0 && r->at.step % r->eval_every == 0)
      st = eval_and_log(r, r->at.epoch + 1, 1, last);
    if (!st && ((every > 0 && r->at.step % every == 0) || (every == 0 && epoch_end) || budget_done(r, &r->at)))
      st = checkpoint(r);
#ifdef ASTRT_TEST_HOOKS
    if (!st) maybe_kill(r);
#endif
  }
  astrt_prefetch_stop(r->pf);
  r->pf = NULL;
  if (!st && r->at.pos != 0 && r->evaluated_step != r->at.step) st = eval_and_log(r, r->at.epoch + 1, 0, 1);
  if (!st && r->loaded && r->o.sample <= 0) st = eval_and_log(r, 0, 0, 1);  /* --load: the weights as they are */
  astrt_progress_clear(&r->pg);
  astrt_pool_bind(outer);
  if (!r->keep_pool) astrt_pool_destroy(pool);
  return st;
}

static void fill_result(const run *r, astrt_result *res) {
  memset(res, 0, sizeof *res);
  res->steps = r->at.step;
  res->epochs_done = r->at.epoch;
  res->samples = r->at.samples;
  res->train_seconds = r->train_seconds;
  res->eval_seconds = r->eval_seconds;
  int cls = !r->p || r->p->data.target == ASTRT_TARGET_CLASS;  /* no program: a failed setup */
  res->final_test_accuracy = cls ? r->final_acc : NAN;
  res->best_test_accuracy = cls ? r->best_acc : NAN;
  res->best_test_loss = r->best_loss;
  res->final_bits_per_byte = r->p && r->p->data.kind == ASTRT_DATA_TEXT ? astrt_bits_per_byte(r->final_loss) : NAN;
  res->final_test_loss = r->final_loss;
  res->final_train_loss = r->final_train_loss;
  res->time_to_target = r->time_to_target;
  res->loss_scale = r->ls.scale;
  res->skipped_steps = r->ls.skipped_steps;
  res->nonfinite_steps = r->nonfinite_steps;
}

static const char *plural(int64_t n) { return n == 1 ? "" : "s"; }

static void print_phases(const run *r) {
  const astrt_program *p = r->p;
  for (uint32_t i = 1; i < p->nphases; i++)
    fprintf(stderr, "  phase %u from %.1f%% of training: batch %lld%s%s%s\n", i + 1,
            100.0 * p->phases[i].t_begin, (long long)p->phases[i].batch,
            p->phases[i].why && *p->phases[i].why ? ", " : "",
            p->phases[i].why ? p->phases[i].why : "",
            !p->phases[i].prefix                      ? ""
            : p->phases[i].prefix_from == (int64_t)i ? " (frozen prefix computed once and reused)"
                                                     : " (the frozen prefix's features kept from the phase before)");
}

/* "fortunes: 4123 train, 458 test" or, for sequence data, "fortunes:
 * 2.4M tokens (37.5k windows of 64) train, 270k tokens (4.2k windows) test" */
static void data_summary(const run *r, char *buf, size_t cap) {
  const char *src = r->p->data.source && *r->p->data.source ? r->p->data.source : "?";
  if (!r->stream) {
    snprintf(buf, cap, "%s: %lld train, %lld test", src, (long long)r->n_train, (long long)r->n_test);
    return;
  }
  char a[32], b[32], c[32], d[32];
  astrt_fmt_rate((double)r->tok_train.n, a, sizeof a);
  astrt_fmt_rate((double)r->n_train, b, sizeof b);
  astrt_fmt_rate((double)r->tok_test.n, c, sizeof c);
  astrt_fmt_rate((double)r->n_test, d, sizeof d);
  snprintf(buf, cap, "%s: %s tokens (%s windows of %lld) train, %s tokens (%s windows) test", src, a, b,
           (long long)r->p->data.context, c, d);
}

/* normalize: standard: where the features' statistics come from. */
static void print_stats(const run *r) {
  const astrt_program *p = r->p;
  if (p->data.normalize != ASTRT_NORM_STANDARD) return;
  const char *file = r->loaded ? r->o.load_path : r->o.init_path;
  if (r->stats_computed)
    fprintf(stderr, "  features standardised: the mean and std of each of the %lld features, from the %lld training "
            "examples\n", (long long)p->data.example_size, (long long)r->n_train);
  else
    fprintf(stderr, "  features standardised: the mean and std of each of the %lld features, as %s holds them\n",
            (long long)p->data.example_size, r->resumed_step > 0 ? r->resumed_from : file ? file : "the model");
}

/* The header line of --load: the model, the file, the data. */
static void print_load_header(const run *r) {
  const astrt_program *p = r->p;
  char data[512] = "";
  if (r->o.sample <= 0) {
    snprintf(data, sizeof data, "; data ");
    data_summary(r, data + 7, sizeof data - 7);
  }
  fprintf(stderr, "%s (%s): %lld parameters; loaded %s (%lld of %u variable%s), not trained%s; seed %llu; "
          "%d thread%s (OpenBLAS %s)\n", model_name(p), p->source && *p->source ? p->source : "?",
          (long long)astrt_param_count(p), r->o.load_path, (long long)r->init_loaded, p->nvars,
          p->nvars == 1 ? "" : "s", data, (unsigned long long)r->seed, r->threads, plural(r->threads),
          astrt_blas_corename());
  print_stats(r);
  fflush(stderr);
}

/* The header line of astrt_main: model, data, budget, phases. */
static void print_header(const run *r) {
  const astrt_program *p = r->p;
  if (r->loaded) {
    print_load_header(r);
    return;
  }
  char budget[160], data[512];
  data_summary(r, data, sizeof data);
  if (r->max_samples > 0)
    snprintf(budget, sizeof budget, "budget %g x %lld epoch%s = %lld samples (%lld steps)",
             r->o.budget, (long long)r->epochs, plural(r->epochs), (long long)r->max_samples,
             (long long)r->plan.step);
  else if (r->epochs > 0)
    snprintf(budget, sizeof budget, "%lld epoch%s (%lld steps)", (long long)r->epochs,
             plural(r->epochs), (long long)r->plan.step);
  else if (r->plan.pos > 0)  /* ends inside an epoch */
    snprintf(budget, sizeof budget, "%lld steps (%.2f epochs)", (long long)r->max_steps,
             (double)r->plan.samples / (double)r->n_train);
  else
    snprintf(budget, sizeof budget, "%lld steps (%lld epoch%s)", (long long)r->max_steps,
             (long long)r->plan.epoch, plural(r->plan.epoch));
  char ranks[64] = "";  /* an MPI job: how many processes share each batch */
  if (r->size > 1) snprintf(ranks, sizeof ranks, "%d MPI processes of ", r->size);
  /* batch ramp's micro: the first phase's step sums micro-batches; its
   * batch coupling (later phases' lines say theirs) */
  char phase1[96] = "";
  int at = 0;
  if (p->phases[0].micro > 0)
    at = snprintf(phase1, sizeof phase1, " in micro-batches of %lld", (long long)p->phases[0].micro);
  if (p->phases[0].lr_scale > 0 && p->phases[0].lr_scale != 1)
    snprintf(phase1 + at, sizeof phase1 - (size_t)at, ", lr x%g", p->phases[0].lr_scale);
  fprintf(stderr,
          "%s (%s): %lld parameters; data %s; %s of batch %lld%s; "
          "seed %llu; %s%d thread%s%s (OpenBLAS %s)%s%s\n",
          model_name(p), p->source && *p->source ? p->source : "?",
          (long long)astrt_param_count(p), data, budget, (long long)p->phases[0].batch, phase1,
          (unsigned long long)r->seed, ranks, r->threads, plural(r->threads), r->size > 1 ? " each" : "",
          astrt_blas_corename(), p->optimizer && *p->optimizer ? "; " : "", p->optimizer ? p->optimizer : "");
  if (r->o.init_path && *r->o.init_path)
    fprintf(stderr, "  initialised from %s: %lld of %u variable%s\n", r->o.init_path,
            (long long)r->init_loaded, p->nvars, p->nvars == 1 ? "" : "s");
  if (r->resumed_from[0]) {
    char where[96];
    if (r->at.pos > 0)
      snprintf(where, sizeof where, "epoch %lld at example %lld of %lld", (long long)r->at.epoch + 1,
               (long long)r->at.pos, (long long)r->n_train);
    else
      snprintf(where, sizeof where, "the end of epoch %lld", (long long)r->at.epoch);
    fprintf(stderr, "  resumed from %s: step %lld of %lld, %s, %.1f%% of training done\n", r->resumed_from,
            (long long)r->resumed_step, (long long)r->plan.step, where, 100.0 * progress_at(r, &r->at));
  }
  print_stats(r);
  print_phases(r);
  fflush(stderr);
}

static void print_summary(const run *r, const astrt_result *res);

/* --sample's tokens on stdout: text as bytes, token ids comma-separated. */
typedef struct sample_out {
  FILE *f;
  int text, first;
} sample_out;

static astrt_status put_token(void *ctx, int32_t token) {
  sample_out *c = ctx;
  if (c->text) fputc(token, c->f);
  else fprintf(c->f, "%s%d", c->first ? "" : ",", (int)token);
  c->first = 0;
  if (fflush(c->f) != 0 || ferror(c->f))
    return astrt_fail(ASTRT_ERR_IO, "writing the sample to stdout failed: %s", strerror(errno));
  return ASTRT_OK;
}

/* --sample N: the prompt (as given) and N tokens after it, on stdout. */
static astrt_status sample(run *r) {
  sample_out c = {stdout, r->p->data.kind == ASTRT_DATA_TEXT, 1};
  astrt_status st = ASTRT_OK;
  if (c.text && r->o.prompt) fputs(r->o.prompt, c.f);
  for (int64_t i = 0; !c.text && !st && i < r->prompt_n; i++) st = put_token(&c, r->prompt[i]);
  if (!st)
    st = astrt_generate(r->p, r->vars, r->step_base + r->at.step, r->prompt, r->prompt_n, r->o.sample,
                        r->o.temperature, r->o.top_k, r->seed, NULL, put_token, &c);
  if (!c.text) fputc('\n', c.f);
  if (fflush(c.f) != 0 && !st)
    st = astrt_fail(ASTRT_ERR_IO, "writing the sample to stdout failed: %s", strerror(errno));
  return st;
}

/* astrt_train; in main mode (astrt_main) prints the header to stderr first
 * and the summary to stdout at the end; then samples if asked. */
static astrt_status train(const astrt_program *p, const astrt_options *o, astrt_result *res,
                          int main_mode, const astrt_train_ext *ext) {
  run r;
  astrt_status st = run_setup(&r, p, o, ext);
  if (!st && main_mode && !r.o.quiet) print_header(&r);
  if (!st) st = train_loop(&r);
  if (!st && r.o.save_path && *r.o.save_path) {  /* rank 0 only */
    astrt_save_info info = {r.at.step, r.at.epoch, r.seed};
    st = astrt_vars_save(p, r.vars, r.o.save_path, &info);
  }
  fill_result(&r, res);
  int sample_only = r.loaded && r.o.sample > 0;
  if (!st && !sample_only) st = astrt_metrics_end(&r.mx, res, r.o.compile_seconds);
  astrt_status closed = astrt_metrics_close(&r.mx);
  if (!st) st = closed;
  if (r.size > 1) st = astrt_dist_agree(st);
  if (!st && main_mode && r.rank == 0 && !sample_only) print_summary(&r, res);
  if (!st && r.o.sample > 0 && r.rank == 0) st = sample(&r);
  run_free(&r);
  return st;
}

astrt_status astrt_train(const astrt_program *p, const astrt_options *o, astrt_result *r) {
  astrt_options defaults;
  if (!o) {
    astrt_options_default(&defaults);
    o = &defaults;
  }
  astrt_result ignored;
  return train(p, o, r ? r : &ignored, 0, NULL);
}

astrt_status astrt_train_ext_run(const astrt_program *p, const astrt_options *o, astrt_result *r,
                                 const astrt_train_ext *ext) {
  return train(p, o, r, 0, ext);
}

/* ---- options ------------------------------------------------------------ */

void astrt_options_default(astrt_options *o) {
  memset(o, 0, sizeof *o);
  o->progress = -1;
  o->budget = 1;
  o->temperature = 1;
  o->compile_seconds = -1;
}

static const char *base_name(const char *path) {
  const char *slash = path ? strrchr(path, '/') : NULL;
  return slash ? slash + 1 : path && *path ? path : "astrt";
}

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s [options]\n"
          "Trains the compiled model and reports its test accuracy (or loss).\n"
          "\n"
          "  --epochs N          train for N epochs (overrides the program's budget)\n"
          "  --steps N           train for N optimizer steps instead\n"
          "  --budget F          train for F times the budget (F > 0, e.g. 0.5): the\n"
          "                      schedule, phases and speedup rules complete within it\n"
          "  --seed N            random seed: initialisation, shuffling, dropout\n"
          "                      (default: the program's seed)\n"
          "  --threads N         BLAS threads (default 0: all online CPUs)\n"
          "  --metrics FILE      write JSON lines: one per evaluation, one at the end\n"
          "  --data DIR          where the data set is (overrides the search path;\n"
          "                      DIR/<name> is used if it exists, else DIR)\n"
          "  --quiet             print only errors and the final summary\n"
          "  --progress=MODE     auto (a live line on a terminal), live or plain\n"
          "  --stop-at-target    stop once the target (accuracy or loss) is reached\n"
          "  --save FILE         after training, write every variable (parameters, state,\n"
          "                      optimizer slots) to FILE, a safetensors file of F32\n"
          "                      tensors named as in the program; dense weights are\n"
          "                      [in, out], the transpose of PyTorch's Linear weight\n"
          "  --init-from FILE    before training, load the variables FILE holds (a file\n"
          "                      from --save; names and shapes must match); variables\n"
          "                      it lacks keep their initial values\n"
          "  --eval-every N      also evaluate every N steps (0: at epoch ends only; default:\n"
          "                      the train block's eval_every)\n"
          "  --eval-samples N    evaluate on the first N test examples, except at the end of\n"
          "                      the run (0: all; default: the train block's eval_samples)\n"
          "  --checkpoint DIR    write checkpoints to DIR (created if needed): after every\n"
          "                      epoch, or every N steps with --checkpoint-every N\n"
          "  --checkpoint-every N  with --checkpoint: a checkpoint every N optimizer steps\n"
          "                      (default 0: after every epoch's evaluation); one is also\n"
          "                      written after the last step\n"
          "  --on-nan=WHAT       a step whose loss is NaN or infinite changes nothing; then\n"
          "                      stop (default: an error naming the step and the first\n"
          "                      non-finite value) or skip-step (skip it with a warning;\n"
          "                      an error after 100 in a row)\n"
          "  --resume            continue from the newest usable checkpoint in DIR,\n"
          "                      exactly as if the run had not been interrupted\n"
          "  --load FILE         load the variables FILE holds (as --init-from) and do not\n"
          "                      train: evaluate them once, or with --sample only sample\n"
          "language models (text and token data):\n"
          "  --sample N          after training (or --load), write N generated tokens to\n"
          "                      stdout after the prompt: text as bytes, token ids\n"
          "                      comma-separated; the same --seed gives the same text\n"
          "  --prompt TEXT       what the sample continues: text data, its bytes (default:\n"
          "                      a new line); token data, comma-separated ids\n"
          "  --temperature F     sampling temperature (default 1; 0: the most likely token)\n"
          "  --top-k K           sample among the K most likely tokens (default 0: all)\n"
          "  --help              show this help\n",
          prog);
}

static int bad_option(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "prog: <message> (see prog --help)" to stderr; returns -1. */
static int bad_option(const char *prog, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see %s --help)\n", prog);
  va_end(ap);
  return -1;
}

/* Parses a decimal integer in [min, max]; 0 on success. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out) {
  if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9'))) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

typedef struct opt_ctx {
  const char *prog;
  int argc, i;
  char **argv;
} opt_ctx;

/* The value of option `name`: after '=' in arg, or the next argument. */
static const char *opt_value(opt_ctx *c, const char *name, const char *eq) {
  if (eq) return eq + 1;
  if (c->i + 1 < c->argc) return c->argv[++c->i];
  bad_option(c->prog, "%s needs a value", name);
  return NULL;
}

static int set_count(opt_ctx *c, const char *name, const char *v, int64_t min, int64_t max,
                     const char *expected, int64_t *out) {
  if (!v) return -1;
  if (parse_int(v, min, max, out) == 0) return 0;
  return bad_option(c->prog, "bad value '%s' for %s: expected %s", v, name, expected);
}

static int set_progress(opt_ctx *c, const char *v, astrt_options *o) {
  if (!v) return -1;
  if (strcmp(v, "auto") == 0) o->progress = -1;
  else if (strcmp(v, "live") == 0) o->progress = 1;
  else if (strcmp(v, "plain") == 0) o->progress = 0;
  else return bad_option(c->prog, "bad value '%s' for --progress: expected auto, live or plain",
                         v);
  return 0;
}

static int set_budget_factor(opt_ctx *c, const char *v, astrt_options *o) {
  if (!v) return -1;
  char *end;
  errno = 0;
  double f = strtod(v, &end);
  if (!*v || *end || errno || !isfinite(f) || f <= 0 || f > 1e6)
    return bad_option(c->prog, "bad value '%s' for --budget: expected a number > 0 (a fraction "
                      "of the program's budget, e.g. 0.5)", v);
  o->budget = f;
  return 0;
}

static int set_temperature(opt_ctx *c, const char *v, astrt_options *o) {
  if (!v) return -1;
  char *end;
  errno = 0;
  double f = strtod(v, &end);
  if (!*v || *end || errno || !isfinite(f) || f < 0 || f > 1e6)
    return bad_option(c->prog, "bad value '%s' for --temperature: expected a number >= 0 (0: always the most "
                      "likely token; 1: the model's distribution)", v);
  o->temperature = f;
  return 0;
}

static int set_seed(opt_ctx *c, const char *v, astrt_options *o) {
  if (!v) return -1;
  if (parse_u64(v, &o->seed) != 0)
    return bad_option(c->prog, "bad value '%s' for --seed: expected an integer from 0 to "
                      "18446744073709551615", v);
  o->has_seed = 1;
  return 0;
}

static int set_on_nan(opt_ctx *c, const char *v, astrt_options *o) {
  if (!v) return -1;
  if (strcmp(v, "stop") == 0) o->on_nan = ASTRT_ON_NAN_STOP;
  else if (strcmp(v, "skip-step") == 0) o->on_nan = ASTRT_ON_NAN_SKIP_STEP;
  else return bad_option(c->prog, "bad value '%s' for --on-nan: expected stop or skip-step", v);
  return 0;
}

static int set_path(opt_ctx *c, const char *name, const char *v, const char **out) {
  if (!v) return -1;
  if (!*v) return bad_option(c->prog, "%s needs a non-empty value", name);
  *out = v;
  return 0;
}

/* Options that take a value; returns 1 if `name` is not one of them. */
static int value_option(opt_ctx *c, const char *name, const char *eq, astrt_options *o) {
  int64_t n;
  int rc;
  if (strcmp(name, "--epochs") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 1, INT64_MAX, "a positive integer", &n);
    if (!rc) o->epochs = n;
  } else if (strcmp(name, "--steps") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 1, INT64_MAX, "a positive integer", &n);
    if (!rc) o->steps = n;
  } else if (strcmp(name, "--threads") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 0, MAX_THREADS,
                   "an integer from 0 (all CPUs) to 4096", &n);
    if (!rc) o->threads = (int)n;
  } else if (strcmp(name, "--seed") == 0) {
    rc = set_seed(c, opt_value(c, name, eq), o);
  } else if (strcmp(name, "--budget") == 0) {
    rc = set_budget_factor(c, opt_value(c, name, eq), o);
  } else if (strcmp(name, "--metrics") == 0) {
    rc = set_path(c, name, opt_value(c, name, eq), &o->metrics_path);
  } else if (strcmp(name, "--data") == 0) {
    rc = set_path(c, name, opt_value(c, name, eq), &o->data_dir);
  } else if (strcmp(name, "--progress") == 0) {
    rc = set_progress(c, opt_value(c, name, eq), o);
  } else if (strcmp(name, "--save") == 0) {
    rc = set_path(c, name, opt_value(c, name, eq), &o->save_path);
  } else if (strcmp(name, "--init-from") == 0) {
    rc = set_path(c, name, opt_value(c, name, eq), &o->init_path);
  } else if (strcmp(name, "--checkpoint") == 0) {
    rc = set_path(c, name, opt_value(c, name, eq), &o->checkpoint_dir);
  } else if (strcmp(name, "--on-nan") == 0) {
    rc = set_on_nan(c, opt_value(c, name, eq), o);
  } else if (strcmp(name, "--load") == 0) {
    rc = set_path(c, name, opt_value(c, name, eq), &o->load_path);
  } else if (strcmp(name, "--sample") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 1, 1000000000, "a number of tokens from 1 to 10^9", &n);
    if (!rc) o->sample = n;
  } else if (strcmp(name, "--top-k") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 0, INT32_MAX, "a number of tokens (0: all)", &n);
    if (!rc) o->top_k = n;
  } else if (strcmp(name, "--prompt") == 0) {
    const char *v = opt_value(c, name, eq);  /* may be empty */
    rc = v ? 0 : -1;
    if (v) o->prompt = v;
  } else if (strcmp(name, "--temperature") == 0) {
    rc = set_temperature(c, opt_value(c, name, eq), o);
  } else if (strcmp(name, "--eval-every") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 0, INT64_MAX, "a number of steps (0: at epoch ends only)", &n);
    if (!rc) o->eval_every = n > 0 ? n : -1;
  } else if (strcmp(name, "--eval-samples") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 0, INT64_MAX, "a number of test examples (0: all)", &n);
    if (!rc) o->eval_samples = n > 0 ? n : -1;
  } else if (strcmp(name, "--checkpoint-every") == 0) {
    rc = set_count(c, name, opt_value(c, name, eq), 0, INT64_MAX, "a number of steps (0: every epoch)", &n);
    if (!rc) o->checkpoint_every = n;
  } else {
    return 1;
  }
  return rc ? -1 : 0;
}

/* Flags; returns 1 if `name` is not one of them. */
static int flag_option(opt_ctx *c, const char *name, const char *eq, astrt_options *o) {
  int *flag = strcmp(name, "--quiet") == 0 || strcmp(name, "-q") == 0 ? &o->quiet
              : strcmp(name, "--stop-at-target") == 0                 ? &o->stop_at_target
              : strcmp(name, "--resume") == 0                         ? &o->resume
                                                                      : NULL;
  if (!flag) return 1;
  if (eq) return bad_option(c->prog, "%s takes no value (got '%s')", name, eq + 1);
  *flag = 1;
  return 0;
}

/* One argument; 0 ok, 1 help, -1 error. */
static int parse_one(opt_ctx *c, astrt_options *o) {
  const char *arg = c->argv[c->i];
  if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
    usage(stdout, c->prog);
    return 1;
  }
  if (arg[0] != '-' || arg[1] == '\0')
    return bad_option(c->prog, "unexpected argument '%s'; options start with --", arg);
  char name[64];
  const char *eq = strchr(arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), arg);
  int rc = value_option(c, name, eq, o);
  if (rc == 1) rc = flag_option(c, name, eq, o);
  if (rc == 1) return bad_option(c->prog, "unknown option '%s'", name);
  return rc;
}

/* Options not given keep the values *o has (astrt_options_default). */
int astrt_parse_options(int argc, char **argv, int first, astrt_options *o) {
  opt_ctx c = {base_name(first > 0 && argc > 0 ? argv[0] : NULL), argc, first, argv};
  int rc = 0;
  for (; c.i < argc && rc == 0; c.i++) rc = parse_one(&c, o);
  if (rc == 0 && o->epochs > 0 && o->steps > 0)
    return bad_option(c.prog, "--epochs and --steps both set the budget; give one");
  if (rc == 0 && o->resume && !(o->checkpoint_dir && *o->checkpoint_dir))
    return bad_option(c.prog, "--resume needs --checkpoint DIR (the directory to resume from)");
  if (rc == 0 && o->checkpoint_every > 0 && !(o->checkpoint_dir && *o->checkpoint_dir))
    return bad_option(c.prog, "--checkpoint-every N needs --checkpoint DIR (the directory to write them to)");
  if (rc == 0 && o->load_path &&
      ((o->init_path && *o->init_path) || (o->checkpoint_dir && *o->checkpoint_dir) || (o->save_path && *o->save_path)))
    return bad_option(c.prog, "--load loads the variables and does not train: it does not go with --init-from, "
                      "--checkpoint, --resume or --save");
  if (rc == 0 && o->sample <= 0 && (o->prompt || o->top_k > 0 || o->temperature != 1))
    return bad_option(c.prog, "--prompt, --temperature and --top-k shape the text of --sample N; give --sample");
  return rc;
}

/* ---- main --------------------------------------------------------------- */

/* "2.10" (or "0.0035" for a small loss) */
static void fmt_loss_target(double v, char *buf, size_t cap) {
  snprintf(buf, cap, fabs(v) >= 0.1 || v == 0 ? "%.2f" : "%.2g", v);
}

/* The summary line of astrt_main (stdout). */
static void print_summary(const run *rn, const astrt_result *r) {
  const astrt_program *p = rn->p;
  const astrt_options *o = &rn->o;
  int cls = p->data.target == ASTRT_TARGET_CLASS, text = p->data.kind == ASTRT_DATA_TEXT;
  if (rn->loaded) {  /* --load: one evaluation, no training */
    printf("%s: loaded %s: test loss %.4f", model_name(p), o->load_path, r->final_test_loss);
    if (cls) printf("  test accuracy %.2f%%", 100.0 * r->final_test_accuracy);
    if (text) printf("  %.3f bits per byte", r->final_bits_per_byte);
    printf("  (%lld test examples, %.1fs)\n", (long long)rn->n_test, r->eval_seconds);
    fflush(stdout);
    return;
  }
  char rate[32];
  astrt_fmt_rate(r->train_seconds > 0 ? (double)r->samples / r->train_seconds : 0, rate,
                 sizeof rate);
  if (cls)
    printf("%s: final test accuracy %.2f%%  best %.2f%%", model_name(p), 100.0 * r->final_test_accuracy,
           100.0 * r->best_test_accuracy);
  else
    printf("%s: final test loss %.4f  best %.4f", model_name(p), r->final_test_loss, r->best_test_loss);
  if (text) printf("  %.3f bits per byte", r->final_bits_per_byte);
  char epochs[48];  /* a run that ends inside an epoch (a steps budget) says how far: 0.72 epochs */
  if (rn->at.pos > 0 && rn->n_train > 0)
    snprintf(epochs, sizeof epochs, "%.2f epochs", (double)r->samples / (double)rn->n_train);
  else
    snprintf(epochs, sizeof epochs, "%lld complete epoch%s", (long long)r->epochs_done, plural(r->epochs_done));
  printf("  (%lld step%s, %s)  train time %.1fs  %s samples/s", (long long)r->steps, plural(r->steps), epochs,
         r->train_seconds, rate);
  char goal[48];
  if (p->goal == ASTRT_GOAL_LOSS) {
    char v[32];
    fmt_loss_target(p->target, v, sizeof v);
    snprintf(goal, sizeof goal, "target loss %s", v);
  } else {
    snprintf(goal, sizeof goal, "target %.2f%%", 100.0 * p->target);
  }
  if (p->goal != ASTRT_GOAL_NONE && r->time_to_target >= 0)
    printf("  %s reached after %.1fs", goal, r->time_to_target);
  else if (p->goal != ASTRT_GOAL_NONE)
    printf("  %s not reached", goal);
  if (p->loss_scale_growth > 0)
    printf("  loss scale %g, %lld step%s skipped", r->loss_scale, (long long)r->skipped_steps,
           plural(r->skipped_steps));
  if (r->nonfinite_steps > 0)
    printf("  %lld step%s skipped for a non-finite loss", (long long)r->nonfinite_steps, plural(r->nonfinite_steps));
  if (o->save_path && *o->save_path) printf("  saved %s", o->save_path);
  printf("\n");
  fflush(stdout);
}

/* The exit status of astrt_main. Under ulimit -v, the process ends here
 * (astrt_exit): exit() could wait forever for an OpenBLAS thread that failed
 * to reserve its buffer. An MPI job returns, to finalize MPI. */
static int finish(int status) {
  return astrt_dist_size() > 1 ? status : astrt_exit(status);
}

int astrt_exe_main(int argc, char **argv, const astrt_program *p) {
  astrt_blas_reexec_if_needed(argv);
  return astrt_main(argc, argv, p);
}

int astrt_main(int argc, char **argv, const astrt_program *p) { return astrt_main_timed(argc, argv, p, -1); }

int astrt_main_timed(int argc, char **argv, const astrt_program *p, double compile_seconds) {
  const char *prog = base_name(argc > 0 ? argv[0] : NULL);
  astrt_options o;
  astrt_options_default(&o);
  int rc = astrt_parse_options(argc, argv, 1, &o);
  if (rc != 0) return finish(rc > 0 ? 0 : 2);
  o.compile_seconds = compile_seconds;
  astrt_result r;
  astrt_status st = train(p, &o, &r, 1, NULL);  /* prints the summary (and --sample's text) */
  int rank = astrt_dist_rank();  /* in an MPI job, rank 0 speaks for all (errors are agreed on) */
  if (st) {
    if (rank == 0) fprintf(stderr, "%s: error: %s\n", prog, astrt_last_error());
    return finish(1);
  }
  return finish(0);
}
