/* astrt_model.h — a compiled model inside a C or C++ application.
 *
 * `astc build FILE.train --lib -o DIR` writes DIR/lib<name>.a (the compiled
 * program) and DIR/<name>.h, which includes this header and declares
 *
 *     extern const astrt_program <name>_program;
 *     static inline astrt_status <name>_create(const astrt_model_options *o,
 *                                              astrt_model **out);
 *
 * plus the input, output and parameter shapes as macros. Link the
 * application with lib<name>.a and libastrt (CMake: find_package(astrt) and
 * target_link_libraries(app astrt::astrt); pkg-config: `pkg-config --cflags
 * --libs astrt`).
 *
 * A model instance owns its variables (parameters, optimizer state) and the
 * buffers its steps need. The generated code has no training loop of its
 * own: drive it one step at a time (astrt_model_train_step), or let the
 * runtime run the program's whole schedule over a data source
 * (astrt_model_train).
 *
 * Values. x and y are untyped (const void *): their element types are the
 * program's, as its data declaration makes them (the descriptor's
 * data.x_dtype and data.target), and every buffer is row-major:
 *   x  [rows, input size]: floats (ASTRT_DTYPE_F32), data values as a data
 *      set's files give them after their scale (IDX bytes become value/255;
 *      the runtime applies the program's normalisation, (x - mean) / std,
 *      itself: with normalize: standard, feature j's own mean and std, the
 *      state variables data.mean and data.std, which the training data
 *      gives — see astrt_model_fit_normalization); or int32 token ids in
 *      [0, vocab) (ASTRT_DTYPE_I32: text and token data, input size = the
 *      context T);
 *   y  [rows, target size] (astrt_model_target_size):
 *      ASTRT_TARGET_CLASS     int32 class indices in [0, classes), one per row;
 *      ASTRT_TARGET_SEQUENCE  int32 ids in [0, vocab), T per row: the token
 *                             after each position of x's window;
 *      ASTRT_TARGET_REAL      floats, target size per row (regression).
 * Predictions are [rows, output size] floats (the model's output, e.g.
 * logits; for a language model T x vocab scores per row).
 *
 * Errors. Every function that can fail returns an astrt_status (ASTRT_OK is
 * 0) and sets the calling thread's message, read with astrt_last_error().
 * A failed call leaves the model as it was, except where noted (a training
 * loop that fails midway keeps the steps it completed).
 *
 * Ownership. astrt_model_create allocates; astrt_model_destroy releases.
 * Every pointer passed in is borrowed for the duration of the call only
 * (the program descriptor: for the model's lifetime; it is static data).
 * Pointers returned (variable descriptors, names) live as long as the
 * model.
 *
 * Threads. One model must not be used by two threads at once; distinct
 * models may be used concurrently from different threads (they share no
 * mutable state: each model has its own thread pool, each thread its own
 * error message and kernel scratch), and end bit-identical to training
 * them one after the other. astrt_model_train runs on its options' threads
 * (default all cores; give models that train at once a share each): the
 * model's own pool, made by its first astrt_model_train and kept, with that
 * thread count, for its later calls until astrt_model_destroy; before one,
 * the other functions run on the calling thread. Inside the pool OpenBLAS
 * runs single-threaded: astrt_model_train sets OpenBLAS's process-wide
 * thread count to 1 (safely, while other models train); until then the
 * other functions use whatever it is (openblas_set_num_threads or
 * OPENBLAS_NUM_THREADS). In an MPI job (data-parallel training) a process
 * trains one model at a time. On CPUs this OpenBLAS misdetects, call
 * astrt_blas_reexec_if_needed(argv) (below) first thing in main.
 *
 * Portability. lib<name>.a is compiled for the CPU astc runs on (its vector
 * extensions): build it on, or for, the machine that runs it.
 */
#ifndef ASTRT_MODEL_H
#define ASTRT_MODEL_H

#include <stdint.h>

#include "astrt.h"
#include "astrt_program.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct astrt_model astrt_model;

typedef struct astrt_model_options {
  uint64_t seed;             /* initialisation and dropout key ...            */
  int has_seed;              /* ... used when set; else the program's seed    */
} astrt_model_options;

/* Defaults: the program's seed. */
void astrt_model_options_default(astrt_model_options *o);

/* Creates a model of program p with freshly initialised variables (the
 * initialisers of the .train file, drawn from the seed: two models with the
 * same program and seed start identical). o may be NULL (defaults).
 * Errors: ASTRT_ERR_MISMATCH if p was compiled for another runtime ABI,
 * ASTRT_ERR_FORMAT for an invalid descriptor, ASTRT_ERR_NOMEM. On failure
 * *out is NULL. */
astrt_status astrt_model_create(const astrt_program *p, const astrt_model_options *o,
                                astrt_model **out);
/* Releases the model and everything it owns. NULL is ignored. */
void astrt_model_destroy(astrt_model *m);

/* The program the model runs. */
const astrt_program *astrt_model_program(const astrt_model *m);
/* Values of one example's x (input), of its y (target: 1 for a class
 * label, T for a sequence, k for k reals) and of one prediction (output). */
int64_t astrt_model_input_size(const astrt_model *m);
int64_t astrt_model_target_size(const astrt_model *m);
int64_t astrt_model_output_size(const astrt_model *m);
/* Classes of a classifier; the vocabulary of a language model; 0 for
 * real-valued targets. */
int64_t astrt_model_classes(const astrt_model *m);

/* Re-executes the process once with OPENBLAS_CORETYPE set when OpenBLAS
 * would pick slower kernels than this CPU supports (call first thing in
 * main, with main's argv; also declared in astrt_kernels.h). */
void astrt_blas_reexec_if_needed(char **argv);

/* ---- one step at a time -------------------------------------------------- */

/* The largest batch a training step at progress t accepts: the batch size of
 * the training phase that covers t (speedup passes such as batch-size ramps
 * change it along the way; a program without them has one phase). */
int64_t astrt_model_batch_at(const astrt_model *m, double t);

/* What one training step did. */
typedef struct astrt_step_result {
  float loss;                /* mean loss of the batch */
  int64_t correct;           /* rows (positions, for a sequence) whose largest
                                output in the step's forward pass (training
                                mode: with dropout, before the update) is at
                                the label; 0 for real-valued targets */
  int skipped;               /* 1: fp16 loss scaling found non-finite gradients;
                                the update was skipped and the scale halved */
} astrt_step_result;

/* One optimizer step on x[rows, input size] and y[rows, target size] (see
 * Values above for their types), at progress t in [0, 1] (the fraction of
 * the training budget done: it picks the training phase and feeds the
 * learning-rate schedule; pass 0 for a program without phases or
 * schedule). 1 <= rows <= astrt_model_batch_at(m, t). The step counter
 * (Adam's bias correction, dropout masks) advances by one. out may be NULL.
 * Errors: ASTRT_ERR_ARG (rows out of range, t outside [0, 1], a label
 * outside [0, classes), a token id outside [0, vocab), a target that is not
 * finite), ASTRT_ERR_NUMERIC (the loss or the learning rate is not finite:
 * the variables may then hold the failed update; reload them). */
astrt_status astrt_model_train_step(astrt_model *m, const void *x, const void *y,
                                    int64_t rows, double t, astrt_step_result *out);

/* The forward pass in evaluation mode, without loss or backward work:
 * writes out[rows, output size] floats. Any rows >= 0 (processed in chunks
 * of the program's evaluation batch). */
astrt_status astrt_model_predict(astrt_model *m, const void *x, int64_t rows, float *out);

/* Mean loss and accuracy on x[rows], y[rows] in evaluation mode (rows >= 1).
 * Either output pointer may be NULL. The accuracy is that of class labels:
 * NaN for a program without them (sequence or real-valued targets). */
astrt_status astrt_model_evaluate(astrt_model *m, const void *x, const void *y,
                                  int64_t rows, double *loss, double *accuracy);

/* A language model (text or token data) continues prompt[0..n) (n >= 1 ids
 * in [0, vocab)) by `count` tokens, written to out[0..count): each drawn from
 * the predict step's scores at the last position of the window of the tokens
 * so far (the last T of them once there are more than the context T; a
 * causal model's scores there depend on nothing after it): with
 * temperature 0 the most likely token, else softmax(scores / temperature)
 * over the top_k most likely (0: all). A function of (the variables, the
 * prompt, seed) only: the same seed gives the same tokens. This is the code
 * the --sample option runs. Errors: ASTRT_ERR_ARG (not a language model, an
 * id outside [0, vocab), n < 1, count < 0, temperature negative or not
 * finite, top_k < 0), ASTRT_ERR_NUMERIC (the model's scores are not
 * finite), ASTRT_ERR_NOMEM. */
astrt_status astrt_model_generate(astrt_model *m, const int32_t *prompt, int64_t n, int64_t count,
                                  float temperature, int top_k, uint64_t seed, int32_t *out);

/* Optimizer steps done (train_step calls and astrt_model_train's steps). */
int64_t astrt_model_steps(const astrt_model *m);

/* ---- the whole training loop ---------------------------------------------- */

/* Fills x[rows, input size] and y[rows, target size] with the examples
 * whose 0-based indices are index[0..rows); returns ASTRT_OK, or a failure
 * (set the message with astrt_fail) that stops training. Called from the
 * thread running astrt_model_train, never concurrently. The buffers are
 * typed for the common case, float features and int32 class labels; for a
 * program whose x or y are of other types (Values above: token ids, labels
 * per position, real-valued targets) they hold those: cast the pointers. */
typedef astrt_status (*astrt_fetch_fn)(void *ctx, const int64_t *index, int64_t rows,
                                       float *x, int32_t *y);

/* Where training or test examples come from: n examples, read either
 * through `fetch` (with `ctx`) or, when fetch is NULL, from `split` (an
 * in-memory data set; its features' scale and shift give the data values;
 * for token data, x is I32 [n, T] windows and y I32 [n, T] next tokens; for
 * real-valued targets, y is F32 [n] or [n, k]). */
typedef struct astrt_data_source {
  int64_t n;
  astrt_fetch_fn fetch;
  void *ctx;
  const astrt_split *split;
} astrt_data_source;

/* Fills *out with a view of caller-owned arrays: x[n, example_size] F32
 * data values and y[n] labels in [0, classes). Nothing is copied or
 * allocated (do not astrt_split_free it); the arrays must outlive its use. */
void astrt_split_view_f32(astrt_split *out, const float *x, const int32_t *y, int64_t n,
                          int64_t example_size, int64_t classes);

/* Runs the program's training schedule (phases, learning-rate schedule,
 * budget, evaluation after every epoch) exactly as a compiled executable
 * does, on `train` instead of the program's data set; `test` (NULL: none) is
 * evaluated after every epoch. The options are the executable's (epochs,
 * steps, seed: ignored here, the model's variables are used as they are;
 * threads, metrics_path, progress, quiet, stop_at_target, save_path,
 * checkpoint_dir, checkpoint_every, resume, budget); o NULL means defaults
 * with quiet set. With resume and a usable checkpoint, the checkpoint's
 * variables replace the model's. The epoch order is a function of the
 * model's seed and the epoch. r (may be NULL) gets the summary. The model's
 * step counter continues from astrt_model_steps. A training source of fewer
 * examples than the program's largest batch is ASTRT_ERR_ARG. */
astrt_status astrt_model_train(astrt_model *m, const astrt_data_source *train,
                               const astrt_data_source *test, const astrt_options *o,
                               astrt_result *r);

/* A program declared with normalize: standard normalises feature j of x as
 * (x_j - mean_j) / std_j, with the mean and standard deviation of feature j
 * over the training data, held in its state variables data.mean and
 * data.std (so astrt_model_save and checkpoints keep them, and
 * astrt_model_load restores them). A new model has none (std all 0):
 * astrt_model_train computes them from its training source when they are
 * missing, and this function computes them from `train` (an in-memory
 * split, or its fetch callback, called once for every example), replacing
 * any there were. Until then, train_step, predict and evaluate fail with
 * ASTRT_ERR_ARG. Nothing to do (ASTRT_OK) for other programs. */
astrt_status astrt_model_fit_normalization(astrt_model *m, const astrt_data_source *train);

/* ---- variables by name ---------------------------------------------------- */

/* Variables: parameters ("dense_1.w", "dense_1.b"), state (batch-norm running
 * statistics) and optimizer slots ("dense_1.w.momentum"), in descriptor
 * order; dense weights are [in, out], convolution filters [O, C, KH, KW]. */
int astrt_model_var_count(const astrt_model *m);
/* The i-th variable's descriptor (name, kind, rank, dims, numel), or NULL. */
const astrt_var_desc *astrt_model_var(const astrt_model *m, int i);
/* The variable called name, or NULL. */
const astrt_var_desc *astrt_model_find_var(const astrt_model *m, const char *name);
/* Copies variable `name` into dst[0..count) / from src[0..count); count must
 * be its numel. Errors: ASTRT_ERR_NOTFOUND (no such variable; the message
 * lists the parameters), ASTRT_ERR_MISMATCH (count). */
astrt_status astrt_model_get(const astrt_model *m, const char *name, float *dst, int64_t count);
astrt_status astrt_model_set(astrt_model *m, const char *name, const float *src, int64_t count);

/* ---- files ---------------------------------------------------------------- */

/* Writes every variable to path as a safetensors file (see astrt.h), with
 * the step counter in its metadata; atomically: an existing file at path is
 * replaced only once the new one is complete on disk. */
astrt_status astrt_model_save(const astrt_model *m, const char *path);
/* Reads a file written by astrt_model_save, the --save option or a
 * checkpoint of the same program: every tensor must name a variable of the
 * model with its exact shape (F32); variables the file lacks keep their
 * values; the step counter is restored when the file records it. Nothing
 * changes on failure. */
astrt_status astrt_model_load(astrt_model *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif
