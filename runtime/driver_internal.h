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
#define ASTRT_TAG_WINDOWS 0x77696e64ull  /* "wind": the offsets of training windows */
#define ASTRT_TAG_SAMPLE 0x73616d70ull   /* "samp": the draws of --sample */

/* A uniform integer in [0, bound) from astrt_hash64(key, counter) (rng.c:
 * Lemire's multiply-high reduction, as astrt_shuffle draws); 0 if bound <= 0. */
int64_t astrt_random_below(uint64_t key, uint64_t counter, int64_t bound);

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

/* Values of y per example: 1 for a class label, else data.target_size. */
int64_t astrt_target_values(const astrt_data_desc *d);
/* Whether the data is a token sequence (text or tokens): examples are
 * windows of a token stream (data_text.c), not rows of a split. */
int astrt_data_is_stream(const astrt_data_desc *d);
/* The fraction of the data a split without a test source holds out:
 * data.holdout, or 0.1 when it is 0. */
double astrt_data_holdout(const astrt_data_desc *d);

/* Loads the train and test splits the descriptor names (data_dir, if not
 * NULL or "", overrides where the files are found) and checks both against
 * it. On failure both splits are empty and the message is set. */
astrt_status astrt_data_load(const astrt_data_desc *d, const char *data_dir,
                             astrt_split *train, astrt_split *test);
/* Checks one loaded split against the descriptor: data.example_size
 * features per example, U8 or F32 (x_dtype f32) or I32 ids in [0, vocab)
 * (x_dtype i32); targets per data.target: I32 scalar labels in [0, classes),
 * I32 labels per position in [0, vocab), or target_size finite F32 values.
 * `what` names the split in messages ("training data"). */
astrt_status astrt_data_check(const astrt_data_desc *d, const astrt_split *s,
                              const char *what);
/* Classes of a class-label split that no example has: how many, and the
 * first eight of them in buf ("2, 5, ... and 3 more"); 0 for other targets. */
int64_t astrt_data_missing_classes(const astrt_data_desc *d, const astrt_split *s, char *buf, size_t cap);
/* Generates one split of a synthetic data set (train = 1: the training
 * split). Deterministic in (synth_seed, dims, classes, train). */
astrt_status astrt_data_synthetic(const astrt_data_desc *d, int train, astrt_split *out);

/* ---- token sequences (data_text.c) ---------------------------------------- */

/* n token ids of `width` bytes each, in host byte order: 1 (the bytes of
 * text, or uint8 ids), 2 (uint16) or 4 (int32/uint32). `owned` is what
 * astrt_tokens_free releases (a malloc'ed block or a file mapping), NULL for
 * a view into another sequence's ids. */
typedef struct astrt_tokens {
  const void *ids;
  int64_t n;
  int width;
  void *owned;
} astrt_tokens;

void astrt_tokens_free(astrt_tokens *t);
/* Id i of t. */
int64_t astrt_token_at(const astrt_tokens *t, int64_t i);

/* Text: the bytes of `source`, a file, a directory (its regular files in
 * byte order of their names, concatenated; symbolic links and
 * subdirectories are skipped) or a known corpus ("fortunes": the files of
 * Debian's fortune cookies, without their .dat indexes). A relative path is
 * taken relative to data_dir when one is given; a corpus is found in
 * data_dir (data_dir/NAME if that exists, else data_dir itself), else in
 * $ASTC_DATA_PATH's directories and its system directory. */
astrt_status astrt_load_text(const char *source, const char *data_dir, astrt_tokens *out);
/* Token ids: an llm.c .bin (a header of 256 int32: magic 20240520, version
 * 1, the token count, then uint16 tokens; or magic 20240801, version 7, then
 * uint32 tokens), an integer .npy 1-D array (recognised by their magic
 * numbers), else raw little-endian uint16 ids (nanoGPT's .bin). Every id
 * must be in [0, vocab): the first that is not is an error naming the file
 * and its position. Large uint16/uint32 files are memory-mapped
 * (astrt_data_should_map). */
astrt_status astrt_load_tokens(const char *path, int64_t vocab, astrt_tokens *out);
/* The training and test token sequences of a TEXT or TOKENS descriptor:
 * data.test_source if given (same format), else the last data.holdout
 * fraction of the tokens (a view into the training sequence's ids). Each
 * must hold at least context + 1 tokens (one window). On failure both are
 * empty. */
astrt_status astrt_seq_load(const astrt_data_desc *d, const char *data_dir, astrt_tokens *train,
                            astrt_tokens *test);
/* Windows of context T in a sequence of n tokens: floor((n - 1) / T), the
 * non-overlapping windows (and a training epoch's examples); 0 if n <= T. */
int64_t astrt_seq_windows(int64_t n, int64_t T);
/* The token offset of training example `sample` (the global number of the
 * example since training began): uniform in [0, n - T - 1], a function of
 * (seed, sample) only. */
int64_t astrt_window_offset(uint64_t seed, int64_t sample, int64_t n, int64_t T);
/* Rows of windows into x[rows, T] and y[rows, T] (int32): row i is the
 * window at offset off = astrt_window_offset(seed, first + i, n, T) when
 * `train`, else at (first + i) * T (the non-overlapping test windows);
 * x = ids[off, off + T), y = ids[off + 1, off + T + 1). */
void astrt_batch_windows(const astrt_tokens *t, int64_t T, int train, uint64_t seed, int64_t first,
                         int64_t rows, int32_t *x, int32_t *y);
/* Sequence-length warmup: rows windows of T tokens (x and y, [rows, T]) become
 * rows * pieces windows of L tokens, in place: piece j of window r is its
 * tokens [j L, (j + 1) L) (pieces = 1 keeps each window's first L). */
void astrt_batch_shorten(int32_t *x, int32_t *y, int64_t rows, int64_t T, int64_t L, int64_t pieces);

/* ---- batches (batch.c) --------------------------------------------------- */

/* Feature normalisation: value = (raw * scale + shift - mean) / std, or,
 * when fmean is set (normalize: standard), feature j of an example becomes
 * (raw * scale + shift - fmean[j]) / fstd[j]. */
typedef struct astrt_norm {
  float mean, std;
  const float *fmean, *fstd;  /* per feature, or NULL */
} astrt_norm;

/* Copies examples perm[pos .. pos+rows) of s (examples pos .. pos+rows when
 * perm is NULL) into x[rows, example] and their targets into y[rows,
 * target values]. U8 and F32 features become normalised floats; I32
 * features (token ids) are copied as they are, as are the targets (I32
 * labels or F32 values, 4 bytes each). The split must have passed
 * astrt_data_check. */
void astrt_batch_gather(const astrt_split *s, const int64_t *perm, int64_t pos,
                        int64_t rows, astrt_norm norm, void *x, void *y);
/* The same, with the rows split over the calling thread's pool (pool.c;
 * on the calling thread alone when it has none). */
void astrt_batch_gather_pooled(const astrt_split *s, const int64_t *perm, int64_t pos,
                               int64_t rows, astrt_norm norm, void *x, void *y);

/* Prefetching (prefetch.c): a worker thread gathers the next training batch
 * into spare buffers while a step runs. start returns NULL if the thread
 * cannot be made (then every batch is gathered in place). take waits for the
 * worker and, if its batch is the one asked for, swaps its buffers with
 * *x, *y and returns 1. */
typedef struct astrt_prefetch astrt_prefetch;
astrt_prefetch *astrt_prefetch_start(int64_t x_bytes, int64_t y_bytes);
void astrt_prefetch_request(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                            int64_t rows, astrt_norm norm);
int astrt_prefetch_take(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                        int64_t rows, void **x, void **y);
void astrt_prefetch_stop(astrt_prefetch *pf);

/* x[rows, size] normalised, as astrt_batch_gather computes it for F32
 * features of scale 1 and shift 0 (bit for bit). */
void astrt_normalize(float *x, int64_t rows, int64_t size, astrt_norm norm);

/* ---- per-feature statistics (data_stats.c) ------------------------------- */

/* Where a normalize: standard program's statistics stand in its variables. */
typedef enum astrt_stats_state {
  ASTRT_STATS_UNSET,    /* every std is 0, as initialised: not computed yet */
  ASTRT_STATS_VALID,    /* every std > 0, every value finite */
  ASTRT_STATS_INVALID,  /* anything else (a damaged or hand-set file) */
} astrt_stats_state;
astrt_stats_state astrt_stats_state_of(const astrt_program *p, const void *vars);
/* The normalisation of program p with variables vars: the data's mean and
 * std, or the per-feature statistics in vars (normalize: standard). */
astrt_norm astrt_norm_of(const astrt_program *p, const void *vars);
/* Fills the statistics of a normalize: standard program from the examples of
 * a training source (an in-memory split, or its fetch callback, called for
 * every example once): the mean of each feature and its standard deviation
 * (over the n examples, not n - 1; 1 for a feature that is constant to
 * float precision), in double, in chunks of a size set by the example size
 * alone, so that every caller gets the same bits. */
astrt_status astrt_stats_fit(const astrt_program *p, void *vars, const astrt_data_source *train);
/* ASTRT_OK when the statistics are usable (or the program has none to
 * compute), else the failure: not computed yet (`how` says how to compute
 * them), or invalid. */
astrt_status astrt_stats_check(const astrt_program *p, const void *vars, const char *how);
/* Labels y[0..rows) must lie in [0, classes); index (may be NULL) names
 * the examples in the message. */
astrt_status astrt_labels_check(const int32_t *y, int64_t rows, int64_t classes, const int64_t *index);
/* A batch the application gave (a fetch callback, the embedding API) must
 * fit the program: token ids in x in [0, vocab) (x_dtype i32, sequence
 * data), and targets y[rows, target values] per data.target: class labels
 * in [0, classes), next-token labels in [0, vocab), finite reals (y NULL:
 * x alone). index (may be NULL) names the examples in the message. */
astrt_status astrt_batch_check(const astrt_data_desc *d, const void *x, const void *y, int64_t rows,
                               const int64_t *index);

/* ---- selective backprop (select.c) --------------------------------------- */

#define ASTRT_TAG_SELECT 0x73656c62ull  /* "selb": selective backprop's draws */

/* The rows kept of a batch of `rows`: floor(keep rows), at least 1 and at
 * most rows (astc's ir_select_count computes the same). */
int64_t astrt_select_count(double keep, int64_t rows);
/* Whether the 1-based step `step` of a selecting phase is one of its
 * interrupt steps, which train on the whole batch unscored. */
int astrt_select_interrupted(const astrt_phase_desc *ph, int64_t step);
/* The key of the draws of 1-based step `step`. */
uint64_t astrt_select_key(uint64_t seed, int64_t step);

typedef struct astrt_select_item {
  double v;
  int64_t i;
} astrt_select_item;

/* Chooses k of n rows by their losses loss[0..n): rank r (ascending, NaN
 * highest, ties by row) has weight ((r + 1/2) / n)^beta; k rows are drawn
 * without replacement with probability proportional to the weights of those
 * left (Efraimidis-Spirakis keys log(u_i) / w_i, u_i = 1 -
 * astrt_uniform53(key, i)). out[0..k) gets the rows, ascending. scratch
 * holds n items. */
void astrt_select_rows(const float *loss, int64_t n, int64_t k, double beta, uint64_t key, astrt_select_item *scratch,
                       int64_t *out);
/* Moves rows[0..k) (ascending) of x and y to their first k rows, in place. */
void astrt_batch_take(void *x, void *y, int64_t x_row_bytes, int64_t y_row_bytes, const int64_t *rows, int64_t k);

/* Buffers for the largest batch any selecting phase of a program scores. */
typedef struct astrt_select_buf {
  float *loss;
  int64_t *rows;
  astrt_select_item *scratch;
  int64_t cap;
} astrt_select_buf;
astrt_status astrt_select_buf_init(astrt_select_buf *b, const astrt_program *p);
void astrt_select_buf_free(astrt_select_buf *b);
/* One selecting step's choice: runs ph->score over the batch x, y of `rows`
 * rows (each x_row_bytes and y_row_bytes long) with the step's scalars,
 * stores the rows' mean loss in *mean_loss, draws astrt_select_count(keep,
 * rows) of them for 1-based step `step` and moves them to the front of x
 * and y. Returns the kept count. */
int64_t astrt_select_batch(const astrt_phase_desc *ph, astrt_select_buf *b, void *vars, void *work, void *x, void *y,
                           int64_t rows, int64_t x_row_bytes, int64_t y_row_bytes, const float *scalars, uint64_t seed,
                           int64_t step, double *mean_loss);

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

/* ---- generation (generate.c) --------------------------------------------- */

/* Where generated tokens go, one at a time (a failure stops generation). */
typedef astrt_status (*astrt_emit_fn)(void *ctx, int32_t token);

/* Generates `count` tokens after prompt[0..n) (n >= 1) with the program's
 * predict step: the tokens so far are put at positions 0..len-1 of one
 * window of data.context T (the last T once there are more; the rest is 0),
 * and the next token is drawn from the logits at position len - 1 (valid
 * for a causal model): with temperature 0 their argmax (the first), else
 * from softmax(logits / temperature) over the top_k largest (0: all), with
 * the uniform number astrt_uniform53(astrt_subkey(seed, ASTRT_TAG_SAMPLE), g)
 * for the g-th token. Writes them to out[0..count) (may be NULL) and passes
 * each to emit (may be NULL). `step` is the step number the predict step
 * sees. Errors: the program is no language model (ASTRT_ERR_ARG), an id
 * outside [0, vocab) or a bad argument (ASTRT_ERR_ARG), non-finite logits
 * (ASTRT_ERR_NUMERIC). */
astrt_status astrt_generate(const astrt_program *p, void *vars, int64_t step, const int32_t *prompt, int64_t n,
                            int64_t count, double temperature, int64_t top_k, uint64_t seed, int32_t *out,
                            astrt_emit_fn emit, void *ctx);
/* ASTRT_OK if p can generate (sequence data, a predict step whose output is
 * context x vocab scores); else ASTRT_ERR_ARG saying why (`what` names the
 * request in the message: "--sample"). */
astrt_status astrt_generate_check(const astrt_program *p, const char *what);
/* The prompt of --prompt as token ids: text data's bytes (an empty prompt
 * is one newline), token data's comma-separated ids (each in [0, vocab); an
 * empty prompt is an error). *ids is malloc'ed. */
astrt_status astrt_prompt_parse(const astrt_program *p, const char *text, int32_t **ids, int64_t *n);

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

/* One evaluation, for the log line and the metrics file. What it reports
 * depends on the data (target, text): test accuracy only for class labels,
 * bits per byte only for text. */
typedef struct astrt_eval_record {
  int64_t epoch;           /* 1-based epoch the evaluation follows */
  int64_t step, samples;
  double train_loss, test_loss, test_accuracy, best_accuracy;
  double train_seconds;
  double best_loss;        /* the lowest test loss so far (data without classes) */
  int32_t target;          /* astrt_target_kind of the data: ASTRT_TARGET_CLASS (0) reports accuracy */
  int32_t text;            /* text data: also bits per byte, test_loss / ln 2 */
  int32_t periodic;        /* between epoch ends (eval_every) */
  int64_t test_examples;   /* evaluated (the first ones of the test split) */
  int64_t steps_total;     /* the run's steps, for the progress line */
} astrt_eval_record;

/* Bits per byte of a loss in nats per byte: loss / ln 2. */
double astrt_bits_per_byte(double loss);

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
  int32_t target, text;    /* the data, for the end line (astrt_eval_record); 0: class labels */
} astrt_metrics;

/* Opens (truncates) `path`; path NULL or "" gives a disabled writer. */
astrt_status astrt_metrics_open(astrt_metrics *m, const char *path);
/* Resuming: opens `path`, cut to `length` bytes, for appending. */
astrt_status astrt_metrics_reopen(astrt_metrics *m, const char *path, int64_t length);
/* Bytes written so far (after a flush). */
int64_t astrt_metrics_length(astrt_metrics *m);
astrt_status astrt_metrics_eval(astrt_metrics *m, const astrt_eval_record *e);
/* The end line: for class labels (m->target 0) the final and best accuracy;
 * else the final and best test loss (and, for text, the final bits per byte). */
astrt_status astrt_metrics_end(astrt_metrics *m, const astrt_result *r);
/* {"event":EVENT,"step":S,"epoch":E,"reason":"..."} (robust.h: non-finite losses) */
astrt_status astrt_metrics_event(astrt_metrics *m, const char *event, int64_t step, int64_t epoch,
                                 const char *reason);
/* Closes the file; reports a failed close (data not written). */
astrt_status astrt_metrics_close(astrt_metrics *m);

#endif
