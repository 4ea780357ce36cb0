/* driver_internal.h — internals shared by the training driver's sources
 * (driver.c, data_load.c, vars_init.c, vars_io.c, batch.c, progress.c,
 * metrics.c) and their unit tests. Not part of the runtime's public
 * interface; the names still start with astrt_ because libastrt is a static
 * library linked into user programs.
 */
#ifndef ASTRT_DRIVER_INTERNAL_H
#define ASTRT_DRIVER_INTERNAL_H

#include "astrt.h"
#include "astrt_model.h"
#include "astrt_program.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Alignment of the variable and work arenas, in bytes. */
#define ASTRT_ARENA_ALIGN 64

/* ---- memory (vars_init.c) ------------------------------------------------ */

/* A zeroed block of at least `bytes` bytes (at least one line), aligned to
 * ASTRT_ARENA_ALIGN; NULL if it cannot be allocated. Release with free(). */
void *astrt_arena_alloc(int64_t bytes);

/* ---- random numbers (vars_init.c) ---------------------------------------- */

/* Uniform double in [0, 1) from the top 53 bits of astrt_hash64(key, k). */
double astrt_uniform53(uint64_t key, uint64_t k);
/* Standard normal number k of stream `key`: Box-Muller on the counters 2k
 * and 2k+1 (u1 from 2k in (0, 1], u2 from 2k+1 in [0, 1)),
 * z = sqrt(-2 ln u1) * cos(2 pi u2). */
double astrt_normal(uint64_t key, uint64_t k);

/* ---- variables (vars_init.c) --------------------------------------------- */

/* Checks the variable table against the arena size (bounds, shapes). */
astrt_status astrt_vars_check(const astrt_program *p);
/* Allocates the variable arena (var_bytes, aligned, zeroed) and initialises
 * every variable from `seed`; *out is released with free(). Element k of
 * variable i depends only on (seed, i, k): its stream key is
 * astrt_subkey(astrt_subkey(seed, ASTRT_TAG_INIT), i). */
astrt_status astrt_vars_create(const astrt_program *p, uint64_t seed, void **out);
/* Number of ASTRT_VAR_PARAM elements (the model's parameter count). */
int64_t astrt_param_count(const astrt_program *p);

#define ASTRT_TAG_INIT 0x696e6974ull  /* "init" */

/* ---- checkpoints (vars_io.c) --------------------------------------------- */

/* Where a saved run stood, for the file's metadata. */
typedef struct astrt_save_info {
  int64_t step;            /* optimizer steps done */
  int64_t epoch;           /* complete epochs done */
  uint64_t seed;
} astrt_save_info;

/* Checks before training that `path` can be saved to later: its directory
 * exists and is writable, and it is not an existing non-regular file. */
astrt_status astrt_vars_save_check(const char *path);
/* Writes every variable of the arena to `path` (safetensors, atomically):
 * F32 tensors named and shaped as in the descriptor, in descriptor order,
 * with the metadata astc.program, astc.source, astc.step, astc.epoch and
 * astc.seed (decimal strings). */
astrt_status astrt_vars_save(const astrt_program *p, const void *vars, const char *path,
                             const astrt_save_info *info);
/* Overwrites each variable that `path` holds a tensor of (by name; F32 and
 * exactly the variable's shape, else ASTRT_ERR_MISMATCH naming both shapes);
 * other variables are left alone. A tensor that is no variable of the
 * program is an error (ASTRT_ERR_MISMATCH listing them). Nothing is
 * changed on failure. *loaded gets the number of variables overwritten. */
astrt_status astrt_vars_load(const astrt_program *p, void *vars, const char *path,
                             int64_t *loaded);
/* Like astrt_vars_load; *step (if step is not NULL) gets the file's
 * astc.step metadata, or -1 when it has none. */
astrt_status astrt_vars_load_step(const astrt_program *p, void *vars, const char *path,
                                  int64_t *loaded, int64_t *step);

/* ---- data (data_load.c) -------------------------------------------------- */

/* Loads the train and test splits the descriptor names (data_dir, if not
 * NULL or "", overrides where the files are found) and checks both against
 * it. On failure both splits are empty and the message is set. */
astrt_status astrt_data_load(const astrt_data_desc *d, const char *data_dir,
                             astrt_split *train, astrt_split *test);
/* Checks one loaded split against the descriptor: U8 or F32 features with
 * data.example_size elements per example, I32 scalar labels in
 * [0, classes). `what` names the split in messages ("training data"). */
astrt_status astrt_data_check(const astrt_data_desc *d, const astrt_split *s,
                              const char *what);
/* Generates one split of a synthetic data set (train = 1: the training
 * split). Deterministic in (synth_seed, dims, classes, train). */
astrt_status astrt_data_synthetic(const astrt_data_desc *d, int train, astrt_split *out);

/* ---- batches (batch.c) --------------------------------------------------- */

/* Feature normalisation: value = (raw * scale + shift - mean) / std. */
typedef struct astrt_norm {
  float mean, std;
} astrt_norm;

/* Copies examples perm[pos .. pos+rows) of s (examples pos .. pos+rows when
 * perm is NULL) into x[rows, example] as normalised floats and their labels
 * into y[rows]. The split must have passed astrt_data_check. */
void astrt_batch_gather(const astrt_split *s, const int64_t *perm, int64_t pos,
                        int64_t rows, astrt_norm norm, float *x, int32_t *y);
/* The same, with the rows split over the calling thread's pool (pool.c;
 * on the calling thread alone when it has none). */
void astrt_batch_gather_pooled(const astrt_split *s, const int64_t *perm, int64_t pos,
                               int64_t rows, astrt_norm norm, float *x, int32_t *y);

/* Prefetching (prefetch.c): a worker thread gathers the next training batch
 * into spare buffers while a step runs. start returns NULL if the thread
 * cannot be made (then every batch is gathered in place). take waits for the
 * worker and, if its batch is the one asked for, swaps its buffers with
 * *x, *y and returns 1. */
typedef struct astrt_prefetch astrt_prefetch;
astrt_prefetch *astrt_prefetch_start(int64_t x_floats, int64_t y_ints);
void astrt_prefetch_request(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                            int64_t rows, astrt_norm norm);
int astrt_prefetch_take(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                        int64_t rows, float **x, int32_t **y);
void astrt_prefetch_stop(astrt_prefetch *pf);

/* x[0..n) = (x - mean) / std, as astrt_batch_gather computes it for F32
 * features of scale 1 and shift 0 (bit for bit). */
void astrt_normalize(float *x, int64_t n, astrt_norm norm);
/* Labels y[0..rows) must lie in [0, classes); index (may be NULL) names
 * the examples in the message. */
astrt_status astrt_labels_check(const int32_t *y, int64_t rows, int64_t classes, const int64_t *index);

/* ---- the driver (driver.c) ----------------------------------------------- */

/* Checks a descriptor (ABI version, phases, evaluation step, data). */
astrt_status astrt_program_check(const astrt_program *p);
/* The training phase for progress t: the last one starting at or before t. */
const astrt_phase_desc *astrt_phase_at(const astrt_program *p, double t);
/* lr = base_lr x schedule(t, step, epoch); a non-finite or negative result
 * is ASTRT_ERR_NUMERIC (step is 0-based, named 1-based in the message). */
astrt_status astrt_lr_at(const astrt_program *p, double t, int64_t step, int64_t epoch, double *lr);

/* fp16 dynamic loss scaling. */
typedef struct astrt_loss_scaler {
  double scale;
  int64_t clean_steps, skipped_steps;
} astrt_loss_scaler;
/* After a step (0-based `step`) that did (overflow) or did not skip its
 * update: halve the scale, or double it after loss_scale_growth clean steps.
 * A scale below 2^-24 is ASTRT_ERR_NUMERIC. No-op without loss scaling. */
astrt_status astrt_loss_scale_update(const astrt_program *p, astrt_loss_scaler *ls, int overflow,
                                     int64_t step);

/* astrt_train on a model's variables and the application's data sources. */
typedef struct astrt_pool astrt_pool;  /* kernels_internal.h */
typedef struct astrt_train_ext {
  void *vars;                      /* the variable arena, used in place */
  uint64_t seed;
  int64_t step_base;               /* the step counter continues from here */
  double loss_scale;               /* > 0: the current loss scale */
  const astrt_data_source *train;  /* required */
  const astrt_data_source *test;   /* NULL: no evaluation */
  astrt_pool **pool;               /* the model's pool: the run uses it if it has the run's thread
                                    * count, else replaces it with a new one (destroying the old);
                                    * either way it stays with the model. NULL: the run makes one
                                    * and destroys it when done */
} astrt_train_ext;
astrt_status astrt_train_ext_run(const astrt_program *p, const astrt_options *o, astrt_result *r,
                                 const astrt_train_ext *ext);

/* ---- data parallelism (dist.c) ------------------------------------------ */

/* Joins the MPI job this process was started in, if any (else rank 0 of 1). */
astrt_status astrt_dist_init(int *rank, int *size);
int astrt_dist_rank(void);
int astrt_dist_size(void);
/* Processes of the job on this machine. */
int astrt_dist_local_size(void);
/* v[0..n) = the sum over the ranks of v. */
astrt_status astrt_dist_sum(double *v, int n);
/* buf[0..bytes) = root's. */
astrt_status astrt_dist_bcast(void *buf, int64_t bytes, int root);
/* Collective: st if every rank passes ASTRT_OK or this rank failed; else the
 * failure of the lowest failing rank, with its message ("rank K failed: ..."). */
astrt_status astrt_dist_agree(astrt_status st);
/* Collective: fails (naming what[k] and the rank) unless every rank passes
 * the same digest[0..n). */
astrt_status astrt_dist_check_same(const uint64_t *digest, int n, const char *const *what);

/* ---- progress (progress.c) ----------------------------------------------- */

typedef struct astrt_progress {
  FILE *out;
  int live;                /* one line rewritten with \r */
  int quiet;               /* print nothing */
  int64_t epochs_total, steps_total, samples_total;
  double last_draw;        /* monotonic seconds of the last live draw */
  int line_len;            /* characters of the live line now shown */
} astrt_progress;

/* Where training stands, for the live line. */
typedef struct astrt_progress_state {
  int64_t epoch;           /* 1-based, the epoch in progress */
  int64_t step;            /* optimizer steps done */
  int64_t samples;         /* examples seen */
  double loss;             /* mean loss of the epoch so far */
  double train_seconds;
} astrt_progress_state;

/* One evaluation, for the log line and the metrics file. */
typedef struct astrt_eval_record {
  int64_t epoch;           /* 1-based epoch the evaluation follows */
  int64_t step, samples;
  double train_loss, test_loss, test_accuracy, best_accuracy;
  double train_seconds;
} astrt_eval_record;

/* mode: -1 auto (live if stderr-like `out` is a terminal), 0 plain, 1 live. */
void astrt_progress_init(astrt_progress *pg, FILE *out, int mode, int quiet,
                         int64_t epochs_total, int64_t steps_total,
                         int64_t samples_total);
/* Redraws the live line if at least 0.1 s passed since the last draw
 * (`now` is monotonic seconds); force = 1 draws regardless. */
void astrt_progress_step(astrt_progress *pg, const astrt_progress_state *s, double now,
                         int force);
/* Clears the live line and prints the evaluation line. */
void astrt_progress_eval(astrt_progress *pg, const astrt_eval_record *e);
/* Clears the live line, if any. */
void astrt_progress_clear(astrt_progress *pg);

/* "45s", "1m12s", "2h03m" (whole seconds, rounded). */
void astrt_fmt_duration(double seconds, char *buf, size_t cap);
/* "950", "45.2k", "1.23M". */
void astrt_fmt_rate(double per_second, char *buf, size_t cap);

/* ---- metrics (metrics.c) ------------------------------------------------- */

typedef struct astrt_metrics {
  FILE *f;                 /* NULL: no metrics file */
  const char *path;
  int failed;              /* a write failed and was reported: close stays quiet */
} astrt_metrics;

/* Opens (truncates) `path`; path NULL or "" gives a disabled writer. */
astrt_status astrt_metrics_open(astrt_metrics *m, const char *path);
/* Resuming: opens `path`, cut to `length` bytes, for appending. */
astrt_status astrt_metrics_reopen(astrt_metrics *m, const char *path, int64_t length);
/* Bytes written so far (after a flush). */
int64_t astrt_metrics_length(astrt_metrics *m);
astrt_status astrt_metrics_eval(astrt_metrics *m, const astrt_eval_record *e);
astrt_status astrt_metrics_end(astrt_metrics *m, const astrt_result *r);
/* {"event":EVENT,"step":S,"epoch":E,"reason":"..."} (robust.h: non-finite losses) */
astrt_status astrt_metrics_event(astrt_metrics *m, const char *event, int64_t step, int64_t epoch,
                                 const char *reason);
/* Closes the file; reports a failed close (data not written). */
astrt_status astrt_metrics_close(astrt_metrics *m);

#endif
