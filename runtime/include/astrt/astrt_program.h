/* astrt_program.h — what a compiled training program looks like to the
 * runtime: the descriptor astc emits (the symbol `astc_program`), the step
 * functions it points to, and the training driver that runs it.
 *
 * The generated code and this header must agree byte for byte, so the
 * enums and structs they share are one table, astrt_abi.h: this header
 * declares the structs from its rows and astc's code generator
 * (compiler/codegen/cg_desc.c) builds their LLVM types from the same rows;
 * tests/unit/test_abi.c compares the two layouts. Change the rows there and
 * bump ASTRT_ABI_VERSION.
 */
#ifndef ASTRT_PROGRAM_H
#define ASTRT_PROGRAM_H

#include <stdint.h>

#include "astrt.h"
#include "astrt_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A compiled step (training phase or evaluation):
 *   vars     the variable arena (parameters, state, optimizer slots)
 *   work     scratch for activations and gradients, work_bytes long
 *   x        [rows, example...] features: f32, or i32 token ids (data.x_dtype)
 *   y        [rows, target_size] targets (data.target): i32 class labels, i32
 *            labels per position (the next tokens), or f32 values
 *   rows     examples in this batch (at most the phase's batch)
 *   scalars  [ASTRT_NUM_SCALARS], ASTRT_SC_* (astrt_abi.h)
 *   outputs  [ASTRT_NUM_OUTPUTS], ASTRT_OUT_* (astrt_abi.h)
 *   seed     key of the dropout masks */
typedef void (*astrt_step_fn)(void *vars, void *work, const void *x, const void *y,
                              int64_t rows, const float *scalars, float *outputs,
                              uint64_t seed);

/* The learning-rate multiplier as a function of progress t in [0, 1], the
 * 0-based optimizer step and the 0-based epoch. */
typedef double (*astrt_schedule_fn)(double t, double step, double epoch);

/* The descriptor's structs. Their fields, with what each means, are the rows
 * of the lists named here, in astrt_abi.h: one table from which astc's code
 * generator builds the same structs as LLVM types. */

/* A variable (ASTRT_VAR_DESC_FIELDS). */
typedef struct astrt_var_desc { ASTRT_VAR_DESC_FIELDS(ASTRT_ABI_MEMBER) } astrt_var_desc;
/* A training phase (ASTRT_PHASE_DESC_FIELDS). */
typedef struct astrt_phase_desc { ASTRT_PHASE_DESC_FIELDS(ASTRT_ABI_MEMBER) } astrt_phase_desc;
/* One node of a compiled step, for diagnosis messages (ASTRT_NODE_DESC_FIELDS). */
typedef struct astrt_node_desc { ASTRT_NODE_DESC_FIELDS(ASTRT_ABI_MEMBER) } astrt_node_desc;
/* The nodes of one phase's step, in execution order (ASTRT_STEP_NODES_FIELDS). */
typedef struct astrt_step_nodes { ASTRT_STEP_NODES_FIELDS(ASTRT_ABI_MEMBER) } astrt_step_nodes;
/* The training data (ASTRT_DATA_DESC_FIELDS). */
typedef struct astrt_data_desc { ASTRT_DATA_DESC_FIELDS(ASTRT_ABI_MEMBER) } astrt_data_desc;
/* The program (ASTRT_PROGRAM_FIELDS). */
typedef struct astrt_program { ASTRT_PROGRAM_FIELDS(ASTRT_ABI_MEMBER) } astrt_program;

/* ---- the training driver ------------------------------------------------------- */

typedef struct astrt_options {
  int64_t epochs;            /* > 0: override the program's budget */
  int64_t steps;             /* > 0: override, in optimizer steps */
  uint64_t seed;
  int has_seed;
  int threads;               /* <= 0: all cores */
  const char *metrics_path;  /* JSON lines, or NULL */
  const char *data_dir;      /* overrides where the data set is found */
  int progress;              /* -1 auto (terminal), 0 plain lines, 1 live line */
  int quiet;                 /* only errors and the final summary */
  int stop_at_target;        /* stop once the target (goal) is reached */
  /* Checkpoints (safetensors files, see astrt.h and runtime/vars_io.c). Every
   * variable is an F32 tensor named as in the descriptor ("dense_1.w",
   * "dense_1.w.momentum") in astc's layout: dense weights [in, out] (the
   * transpose of PyTorch's nn.Linear weight), convolution filters
   * [O, C, KH, KW]. */
  const char *save_path;     /* after training, write every variable here, or NULL */
  const char *init_path;     /* after initialisation, overwrite the variables this
                                file holds (names and shapes must match), or NULL */
  /* Checkpoints for interrupted runs: DIR/ckpt-<step>.safetensors (the
   * variables, plus the run's position as metadata), written atomically every
   * checkpoint_every steps (0: after every epoch's evaluation) and after the
   * last step; the newest two are kept. With resume, training continues from
   * the newest usable checkpoint in DIR, bit-identical to a run that was never
   * interrupted (same thread count). */
  const char *checkpoint_dir;
  int64_t checkpoint_every;
  /* Evaluation: every eval_every steps besides epoch ends (0: the program's
   * eval_every; < 0: at epoch ends only), on the first eval_samples test
   * examples (0: the program's eval_samples; < 0: all) except the last
   * evaluation of a run, which uses the whole test split. */
  int64_t eval_every, eval_samples;
  int resume;
  /* Scales the budget (--budget F): the run trains F x the budget's samples
   * (F x epochs x training examples; for a steps budget, F x steps, rounded,
   * at least 1 step) and progress t is measured against the scaled total, so
   * the schedule, the phases and every speedup rule complete within it.
   * astrt_options_default sets 1; 0 also means 1. */
  double budget;
  /* A step whose loss is not finite changes no variable; then (--on-nan)
   * ASTRT_ON_NAN_STOP ends the run with an error naming the step and the
   * first non-finite value, writing no checkpoint after it;
   * ASTRT_ON_NAN_SKIP_STEP skips the step with a warning and goes on, up to
   * ASTRT_MAX_SKIPPED_STEPS consecutive skipped steps. */
  int on_nan;
  /* Generation, for a language model (text or token data; --sample): after
   * training, or after load_path's weights are loaded, `sample` tokens
   * follow `prompt` (text data: its bytes, NULL or "" one newline; token
   * data: comma-separated ids), drawn with `temperature` (astrt_options_default
   * sets 1; 0: always the most likely token) among the `top_k` most likely
   * (0: all), a function of the seed; they are written to stdout (text as
   * bytes, after the prompt; token ids comma-separated). */
  int64_t sample;
  const char *prompt;
  double temperature;
  int64_t top_k;
  /* --load: the variables from this safetensors file (as init_path), and no
   * training: the test split is evaluated once, or, with sample > 0,
   * nothing is evaluated (no data is read) and the model samples. */
  const char *load_path;
} astrt_options;

enum { ASTRT_ON_NAN_STOP, ASTRT_ON_NAN_SKIP_STEP };
#define ASTRT_MAX_SKIPPED_STEPS 100

typedef struct astrt_result {
  int64_t steps, epochs_done, samples;
  double train_seconds;      /* training only, evaluation excluded */
  double eval_seconds;
  double final_test_accuracy, best_test_accuracy, final_test_loss, final_train_loss;
  double time_to_target;     /* seconds of training, or < 0 if never reached */
  double loss_scale;         /* the final loss scale (fp16 loss scaling) */
  int64_t skipped_steps;     /* steps skipped for non-finite gradients */
  int64_t nonfinite_steps;   /* steps skipped for a non-finite loss (--on-nan=skip-step) */
  /* Accuracy is measured for class labels only: without them (sequence or
   * real-valued targets) the accuracies are NaN and the test loss is the
   * measure. */
  double best_test_loss;     /* the lowest test loss of any evaluation */
  double final_bits_per_byte; /* text data: final_test_loss / ln 2; else NaN */
} astrt_result;

void astrt_options_default(astrt_options *o);
/* Parses program options (--epochs, --seed, --threads, --metrics, --data,
 * --quiet, --progress, --stop-at-target, --save, --init-from, --budget,
 * --sample, --prompt, --temperature, --top-k, --load, --help) from
 * argv[first..argc).
 * Returns 0 on success, 1 after --help, -1 on a bad option (message printed). */
int astrt_parse_options(int argc, char **argv, int first, astrt_options *o);
/* Loads the data, initialises the variables and trains (with load_path:
 * loads the variables and evaluates once; with sample: then generates). */
astrt_status astrt_train(const astrt_program *p, const astrt_options *o, astrt_result *r);
/* Options, train, report; returns the exit code (0, 1 on errors, 2 on bad
 * options). Safe to call from any program. */
int astrt_main(int argc, char **argv, const astrt_program *p);
/* main() of a compiled executable: astrt_main after making sure OpenBLAS uses
 * this CPU's kernels, which may re-execute the process once
 * (astrt_blas_reexec_if_needed); argv must be main's. */
int astrt_exe_main(int argc, char **argv, const astrt_program *p);

/* ---- helpers the generated code calls ------------------------------------------------ */

/* out[0..n) = dropout mask: 0 with probability p, else 1/(1-p); element k is a
 * function of (seed, step, site, first + k) only (first: the batch-wide
 * number of element 0, nonzero in micro-batches). */
void astrt_dropout_mask(float *out, int64_t n, int64_t first, float p, uint64_t seed, int64_t step,
                        int64_t site);
/* Layer dropping: the gate of block `block` (>= 1) in this step: 1/p with
 * probability p (the block runs, its output scaled by 1/p), else 0 (it is
 * skipped); a function of (seed, step, block) only, the same on every rank
 * and again on resume. */
float astrt_drop_gate(float p, uint64_t seed, int64_t step, int64_t block);
/* Data parallelism: for k in [0, n), ptrs[k][0..counts[k]) becomes the sum
 * over the ranks of weight * ptrs[k] (one MPI allreduce over all of them).
 * Returns at once in one process. */
void astrt_dist_allreduce(float **ptrs, const int64_t *counts, int64_t n, float weight);
/* 1 if x[0..n) are all finite, else 0 (mixed precision's overflow check). */
float astrt_all_finite(const float *x, int64_t n);
/* Diagnose mode (ASTRT_OUT_NONFINITE): if *slot < 0 and x[0..n) (dtype an
 * astrt_dtype) holds a NaN or an infinity, *slot = node. */
void astrt_check_finite(float *slot, int64_t node, const void *x, int64_t n, int32_t dtype);
/* Runs fn(ctx, part, parts) for every part of the runtime's thread pool at
 * once and returns when all are done (runtime/pool.c); one part (fn(ctx, 0,
 * 1)) without a pool. Generated code splits its large loops this way. */
void astrt_pool_run(void (*fn)(void *ctx, int part, int parts), void *ctx);
/* Softmax cross-entropy of logits[rows, k] against labels[rows], targets
 * t = (1 - smoothing) onehot + smoothing / k (a label outside [0, k) has no
 * onehot part): if loss, loss[r] = -sum_c t[r,c] log softmax(logits[r])_c;
 * if grad, grad[r, c] = (T softmax(logits[r])_c - t[r,c]) * (dy ? dy[r] : dy_all),
 * the loss's derivative (T = sum_c t[r,c]: 1, or smoothing without a class).
 * Both in one pass over each row. */
void astrt_softmax_xent(const float *logits, const int32_t *labels, int64_t rows, int64_t k, float smoothing,
                        float *loss, float *grad, const float *dy, float dy_all);
/* Rows of logits[rows, k] whose first maximum is at labels[row]. */
float astrt_count_correct(const float *logits, const int32_t *labels, int64_t rows, int64_t k);

#ifdef __cplusplus
}
#endif
#endif
