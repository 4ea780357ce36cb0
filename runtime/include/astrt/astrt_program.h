/* astrt_program.h — what a compiled training program looks like to the
 * runtime: the descriptor astc emits (the symbol `astc_program`), the step
 * functions it points to, and the training driver that runs it.
 *
 * The generated code and this header must agree byte for byte: astc's code
 * generator (compiler/codegen/cg_desc.c) emits these structs field by field, and
 * tests/unit/test_codegen.c checks the two against each other. Change both
 * together and bump ASTRT_ABI_VERSION.
 */
#ifndef ASTRT_PROGRAM_H
#define ASTRT_PROGRAM_H

#include <stdint.h>

#include "astrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ASTRT_ABI_VERSION 7
#define ASTRT_DESC_MAX_RANK 6

/* Run-time scalars a step reads (same order as the compiler's IrScalar).
 * ROW0 and SHARD serve data parallelism: the global number of the first row
 * of this rank's shard (dropout masks are numbered batch-wide) and the
 * shard's share of the global batch (rows / global rows), which weighs its
 * gradients in the allreduce; 0 and 1 in one process. */
enum {
  ASTRT_SC_LR, ASTRT_SC_STEP, ASTRT_SC_ROWS, ASTRT_SC_LOSS_SCALE, ASTRT_SC_T, ASTRT_SC_ROW0, ASTRT_SC_SHARD,
  ASTRT_NUM_SCALARS
};
/* Values a step writes (same order as IrOutput). ASTRT_OUT_NONFINITE is
 * diagnosis (docs/robustness.md), written by the generated code itself: a
 * caller that sets it to -1 before a training step asks the step to run in
 * diagnose mode, which skips every update and state assignment and leaves
 * there the index (into the phase's astrt_step_nodes) of the first node
 * whose value holds a NaN or an infinity, or -1; any other value (0) is a
 * normal step, which does not touch it. */
enum { ASTRT_OUT_LOSS, ASTRT_OUT_CORRECT, ASTRT_OUT_OVERFLOW, ASTRT_OUT_NONFINITE, ASTRT_NUM_OUTPUTS };

/* A compiled step (training phase or evaluation):
 *   vars     the variable arena (parameters, state, optimizer slots)
 *   work     scratch for activations and gradients, work_bytes long
 *   x        [rows, example...] features as f32
 *   y        [rows] class labels
 *   rows     examples in this batch (at most the phase's batch)
 *   scalars  [ASTRT_NUM_SCALARS]
 *   outputs  [ASTRT_NUM_OUTPUTS]
 *   seed     key of the dropout masks */
typedef void (*astrt_step_fn)(void *vars, void *work, const float *x, const int32_t *y,
                              int64_t rows, const float *scalars, float *outputs,
                              uint64_t seed);

/* The learning-rate multiplier as a function of progress t in [0, 1], the
 * 0-based optimizer step and the 0-based epoch. */
typedef double (*astrt_schedule_fn)(double t, double step, double epoch);

typedef enum astrt_var_kind { ASTRT_VAR_PARAM, ASTRT_VAR_STATE, ASTRT_VAR_SLOT } astrt_var_kind;

typedef enum astrt_init_kind {
  ASTRT_INIT_ZEROS, ASTRT_INIT_ONES, ASTRT_INIT_CONST, ASTRT_INIT_UNIFORM, ASTRT_INIT_NORMAL,
  ASTRT_INIT_HE_UNIFORM, ASTRT_INIT_HE_NORMAL, ASTRT_INIT_GLOROT_UNIFORM,
  ASTRT_INIT_GLOROT_NORMAL,
} astrt_init_kind;

typedef struct astrt_var_desc {
  const char *name;          /* dense_1.w */
  int32_t kind;              /* astrt_var_kind */
  int32_t rank;
  int64_t dims[ASTRT_DESC_MAX_RANK];
  int64_t offset;            /* bytes into the variable arena (64-byte aligned) */
  int64_t numel;
  int32_t init;              /* astrt_init_kind */
  int32_t layer;             /* index into layer_names, -1 for none */
  double init_a, init_b;     /* const: a; uniform: [a, b); normal: mean a, std b */
  int64_t fan_in, fan_out;
} astrt_var_desc;

typedef struct astrt_phase_desc {
  double t_begin, t_end;     /* the phase covers progress [t_begin, t_end) */
  int64_t batch;             /* examples per optimizer step */
  int64_t work_bytes;
  astrt_step_fn step;
  const char *why;           /* what changes at its start ("" for the first) */
  /* A reused frozen prefix (NULL if none): when the phase starts, the driver
   * runs `prefix` over the training set (x rows in, feature_size floats per
   * example written to `outputs`), keeps the features, and passes the step
   * gathered feature rows in x's place. */
  astrt_step_fn prefix;
  int64_t feature_size;
  int64_t prefix_work_bytes;
} astrt_phase_desc;

/* One node of a compiled step, for diagnosis messages. */
typedef enum astrt_node_role {
  ASTRT_ROLE_FORWARD, ASTRT_ROLE_LOSS, ASTRT_ROLE_BACKWARD, ASTRT_ROLE_UPDATE, ASTRT_ROLE_EVAL,
} astrt_node_role;

typedef struct astrt_node_desc {
  const char *op;            /* "exp", "matmul", "param", "input" */
  const char *name;          /* param: the variable; else the source variable it
                                was assigned to ("h"), or "" */
  const char *layer;         /* the layer instance ("dense_2"), or "" */
  const char *site;          /* where that layer is called ("mlp.train:8:15"), or "" */
  const char *scope;         /* the fn or layer definition it was written in, or "" */
  const char *file;          /* where in the source it came from ("" if nowhere) */
  int32_t line, col;
  int32_t role;              /* astrt_node_role */
  int32_t dtype;             /* 0 f32, 1 bf16, 2 f16, 3 i32 */
} astrt_node_desc;

/* The nodes of one phase's step, in execution order. */
typedef struct astrt_step_nodes {
  const astrt_node_desc *nodes;
  int64_t n;
} astrt_step_nodes;

typedef enum astrt_data_kind {
  ASTRT_DATA_IDX, ASTRT_DATA_CSV, ASTRT_DATA_NPY, ASTRT_DATA_SYNTHETIC,
} astrt_data_kind;

typedef struct astrt_data_desc {
  int32_t kind;              /* astrt_data_kind */
  int32_t label_column;      /* csv */
  const char *source;        /* idx: data set name or directory; csv/npy: file */
  const char *y_source;      /* npy: labels file */
  const char *test_source;   /* csv/npy: test file ("" : hold out 10% of train) */
  const char *test_y_source;
  int32_t rank;              /* one example, as the model sees it */
  int32_t pad_;
  int64_t dims[ASTRT_DESC_MAX_RANK];
  int64_t example_size;      /* elements of one example */
  int64_t classes;
  double mean, std;          /* features become (x - mean) / std */
  int64_t synth_train, synth_test;
  uint64_t synth_seed;
} astrt_data_desc;

typedef struct astrt_program {
  uint32_t abi_version;      /* ASTRT_ABI_VERSION */
  uint32_t nvars;
  const char *name;          /* the model */
  const char *source;        /* the .train file it was compiled from */
  const astrt_var_desc *vars;
  int64_t var_bytes;
  uint32_t nlayers;
  uint32_t nphases;
  const char *const *layer_names;
  const astrt_phase_desc *phases;
  astrt_step_fn eval;        /* forward + loss + correct, evaluation mode */
  int64_t eval_work_bytes;
  int64_t eval_batch;
  astrt_schedule_fn lr_schedule;
  double base_lr;
  int64_t batch;             /* the baseline batch size */
  int64_t epochs;            /* budget in epochs, or 0 ... */
  int64_t steps;             /* ... in optimizer steps */
  uint64_t seed;
  double target_accuracy;    /* <= 0: none */
  const char *optimizer;     /* a one-line description, for the log */
  /* Prediction: the evaluation-mode forward pass only (no loss, no backward):
   * x rows in, output_size floats per example written to `outputs`. */
  astrt_step_fn predict;
  int64_t predict_work_bytes;
  int64_t output_size;
  double loss_scale;         /* initial loss scale (1 without fp16 loss scaling) */
  int64_t loss_scale_growth; /* > 0: dynamic loss scaling; the scale halves on a
                                step with non-finite gradients (which is skipped)
                                and doubles after this many clean steps */
  /* Diagnosis of non-finite values: per phase, its step's nodes (the index a
   * diagnosing step reports in ASTRT_OUT_NONFINITE); NULL if the steps cannot
   * diagnose (then the driver never asks them to). */
  const astrt_step_nodes *step_nodes;
  astrt_data_desc data;
} astrt_program;

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
  int stop_at_target;        /* stop once the target accuracy is reached */
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
} astrt_result;

void astrt_options_default(astrt_options *o);
/* Parses program options (--epochs, --seed, --threads, --metrics, --data,
 * --quiet, --progress, --stop-at-target, --save, --init-from, --budget, --help) from
 * argv[first..argc).
 * Returns 0 on success, 1 after --help, -1 on a bad option (message printed). */
int astrt_parse_options(int argc, char **argv, int first, astrt_options *o);
/* Loads the data, initialises the variables and trains. */
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
/* Data parallelism: for k in [0, n), ptrs[k][0..counts[k]) becomes the sum
 * over the ranks of weight * ptrs[k] (one MPI allreduce over all of them).
 * Returns at once in one process. */
void astrt_dist_allreduce(float **ptrs, const int64_t *counts, int64_t n, float weight);
/* 1 if x[0..n) are all finite, else 0 (mixed precision's overflow check). */
float astrt_all_finite(const float *x, int64_t n);
/* Diagnose mode (ASTRT_OUT_NONFINITE): if *slot < 0 and x[0..n) (dtype as in
 * astrt_node_desc) holds a NaN or an infinity, *slot = node. */
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
