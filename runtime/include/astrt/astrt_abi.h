/* astrt_abi.h — the one table of what astc's generated code and the runtime
 * must agree on: the version, the enums both sides use, and the descriptor
 * structs (astrt_program.h) field by field.
 *
 * Every list here is an X-macro: LIST(X) expands X once per row, in order.
 * The runtime's enums and structs below and in astrt_program.h, astc's enums
 * (compiler/ir/ir.h) and the LLVM struct types its code generator emits
 * (compiler/codegen/cg_desc.c) are all expanded from these rows, and
 * tests/unit/test_abi.c compares LLVM's layout of each struct with C's.
 *
 * Enum rows are X(runtime name, astc's name, astc's printed name); the
 * values are the rows' positions, from 0.
 *
 * Struct rows are F(C type, field, LLVM type), in declaration order, where
 * the LLVM type is one of
 *   i32   int32_t, uint32_t      i64   int64_t, uint64_t
 *   f64   double                 ptr   any pointer (strings, arrays, functions)
 *   dims  astrt_dims ([ASTRT_DESC_MAX_RANK x i64])
 *   astrt_data_desc  that struct, by value
 * To add a field: add its row where it belongs, bump ASTRT_ABI_VERSION, and
 * set its value in compiler/codegen/cg_desc.c (v.field = ...; a field left
 * unset, or set to a value of another LLVM type, is an internal error when
 * the descriptor is emitted). A new LLVM type needs an LL_<type> there; a
 * new struct a row in ASTRT_ABI_STRUCTS and its typedef in astrt_program.h.
 */
#ifndef ASTRT_ABI_H
#define ASTRT_ABI_H

#include <stdint.h>

/* Changes with every change to this file's rows; astrt_train refuses a
 * descriptor of another version. */
#define ASTRT_ABI_VERSION 18
#define ASTRT_DESC_MAX_RANK 6

/* a shape, dimensions past the rank 0 */
typedef int64_t astrt_dims[ASTRT_DESC_MAX_RANK];

/* ---- enums ----------------------------------------------------------------- */

/* Run-time scalars a step reads (scalars[ASTRT_NUM_SCALARS]). ROW0 and SHARD
 * serve data parallelism: the global number of the first row of this rank's
 * shard (dropout masks are numbered batch-wide) and the shard's share of the
 * global batch (rows / global rows), which weighs its gradients in the
 * allreduce; 0 and 1 in one process. */
#define ASTRT_SCALARS(X)                                                                        \
  X(ASTRT_SC_LR, SC_LR, "lr")                       /* learning rate at this step (schedule x base rate) */ \
  X(ASTRT_SC_STEP, SC_STEP, "step")                 /* 1-based optimizer step */                 \
  X(ASTRT_SC_ROWS, SC_ROWS, "rows")                 /* rows in this batch (the value of B), as a float */ \
  X(ASTRT_SC_LOSS_SCALE, SC_LOSS_SCALE, "loss_scale") /* loss scale (mixed precision) */         \
  X(ASTRT_SC_T, SC_T, "t")                          /* training progress in [0, 1] */            \
  X(ASTRT_SC_ROW0, SC_ROW0, "row0")                 /* the global number of this shard's first row */ \
  X(ASTRT_SC_SHARD, SC_SHARD, "shard")              /* this shard's rows / the global batch's rows */

/* Values a step writes (outputs[ASTRT_NUM_OUTPUTS]). OUTPUT nodes of astc's
 * IR write every slot before ASTRT_OUT_NONFINITE. ASTRT_OUT_NONFINITE is
 * diagnosis (docs/robustness.md), written by the generated code itself: a
 * caller that sets it to -1 before a training step asks the step to run in
 * diagnose mode, which skips every update and state assignment and leaves
 * there the index (into the phase's astrt_step_nodes) of the first node
 * whose value holds a NaN or an infinity, or -1; any other value (0) is a
 * normal step, which does not touch it. */
#define ASTRT_OUTPUTS(X)                                                                        \
  X(ASTRT_OUT_LOSS, OUT_LOSS, "loss")               /* the mean loss of the batch */             \
  X(ASTRT_OUT_CORRECT, OUT_CORRECT, "correct")      /* correctly classified rows */              \
  X(ASTRT_OUT_OVERFLOW, OUT_OVERFLOW, "overflow")   /* 1 if the step was skipped for non-finite gradients */ \
  X(ASTRT_OUT_NONFINITE, OUT_NONFINITE, "nonfinite") /* diagnosis: see above */

/* astrt_var_desc.kind */
#define ASTRT_VAR_KINDS(X)                                                                      \
  X(ASTRT_VAR_PARAM, VAR_PARAM, "param")            /* trainable parameter */                    \
  X(ASTRT_VAR_STATE, VAR_STATE, "state")            /* non-trainable state (batch-norm statistics) */ \
  X(ASTRT_VAR_SLOT, VAR_OPT, "slot")                /* optimizer slot (momentum, Adam moments) */ \
  X(ASTRT_VAR_AVERAGE, VAR_AVERAGE, "average")      /* weight averaging: a parameter's running    \
                                                       average (owner), or a counter (owner -1) */

/* astrt_var_desc.init, with init_a and init_b */
#define ASTRT_INIT_KINDS(X)                                                                     \
  X(ASTRT_INIT_ZEROS, INIT_ZEROS, "zeros")                                                      \
  X(ASTRT_INIT_ONES, INIT_ONES, "ones")                                                         \
  X(ASTRT_INIT_CONST, INIT_CONST, "const")          /* init_a */                                 \
  X(ASTRT_INIT_UNIFORM, INIT_UNIFORM, "uniform")    /* [init_a, init_b) */                       \
  X(ASTRT_INIT_NORMAL, INIT_NORMAL, "normal")       /* mean init_a, std init_b */                \
  X(ASTRT_INIT_HE_UNIFORM, INIT_HE_UNIFORM, "he_uniform")                                       \
  X(ASTRT_INIT_HE_NORMAL, INIT_HE_NORMAL, "he_normal")                                          \
  X(ASTRT_INIT_GLOROT_UNIFORM, INIT_GLOROT_UNIFORM, "glorot_uniform")                           \
  X(ASTRT_INIT_GLOROT_NORMAL, INIT_GLOROT_NORMAL, "glorot_normal")

/* astrt_node_desc.role: which part of the training step a node belongs to */
#define ASTRT_NODE_ROLES(X)                                                                     \
  X(ASTRT_ROLE_FORWARD, ROLE_FORWARD, "forward")                                                \
  X(ASTRT_ROLE_LOSS, ROLE_LOSS, "loss")                                                         \
  X(ASTRT_ROLE_BACKWARD, ROLE_BACKWARD, "backward")                                             \
  X(ASTRT_ROLE_UPDATE, ROLE_UPDATE, "update")                                                   \
  X(ASTRT_ROLE_EVAL, ROLE_EVAL, "eval")

/* astrt_node_desc.dtype, and astrt_check_finite's dtype */
#define ASTRT_DTYPES(X)                                                                         \
  X(ASTRT_DTYPE_F32, DT_F32, "f32")                                                             \
  X(ASTRT_DTYPE_BF16, DT_BF16, "bf16")              /* bfloat16, 2 bytes */                      \
  X(ASTRT_DTYPE_F16, DT_F16, "f16")                 /* IEEE half, 2 bytes */                     \
  X(ASTRT_DTYPE_I32, DT_I32, "i32")

/* astrt_data_desc.kind */
#define ASTRT_DATA_KINDS(X)                                                                     \
  X(ASTRT_DATA_IDX, DATA_IDX, "idx")                                                            \
  X(ASTRT_DATA_CSV, DATA_CSV, "csv")                                                            \
  X(ASTRT_DATA_NPY, DATA_NPY, "npy")                                                            \
  X(ASTRT_DATA_SYNTHETIC, DATA_SYNTHETIC, "synthetic")                                          \
  X(ASTRT_DATA_TEXT, DATA_TEXT, "text")             /* bytes of text: tokens 0..255 */           \
  X(ASTRT_DATA_TOKENS, DATA_TOKENS, "tokens")       /* token ids: uint16 files or integer NPY */

/* astrt_data_desc.target: what a step's y holds per example */
#define ASTRT_TARGET_KINDS(X)                                                                   \
  X(ASTRT_TARGET_CLASS, TARGET_CLASS, "class")      /* one i32 class label */                    \
  X(ASTRT_TARGET_SEQUENCE, TARGET_SEQUENCE, "sequence") /* an i32 label per position: the next   \
                                                       token after each of the context's */     \
  X(ASTRT_TARGET_REAL, TARGET_REAL, "real")         /* target_size f32 values (regression) */

/* astrt_data_desc.header: how a CSV file's first non-blank line is read */
#define ASTRT_CSV_HEADERS(X)                                                                    \
  X(ASTRT_CSV_HEADER_AUTO, CSV_HEADER_AUTO, "auto") /* column names if any field is not a number */ \
  X(ASTRT_CSV_HEADER_NAMES, CSV_HEADER_NAMES, "names") /* column names, one per column */         \
  X(ASTRT_CSV_HEADER_SKIP, CSV_HEADER_SKIP, "skip") /* skipped, whatever it holds */              \
  X(ASTRT_CSV_HEADER_NONE, CSV_HEADER_NONE, "none") /* no header: the first line is data */

/* astrt_data_desc.split: which examples a holdout takes when there is no test file */
#define ASTRT_SPLITS(X)                                                                         \
  X(ASTRT_SPLIT_RANDOM, SPLIT_RANDOM, "random")     /* seeded; per class (stratified) for class labels */ \
  X(ASTRT_SPLIT_LAST, SPLIT_LAST, "last")           /* the last ones, in file order */

/* astrt_data_desc.normalize: how features are normalised before a step */
#define ASTRT_NORMS(X)                                                                          \
  X(ASTRT_NORM_SCALAR, NORM_SCALAR, "scalar")       /* (x - mean) / std, the data's two numbers */ \
  X(ASTRT_NORM_STANDARD, NORM_STANDARD, "standard") /* per feature: the training split's mean and \
                                                       std, held in two state variables */

/* astrt_program.goal: what `target = ...` asks for */
#define ASTRT_GOALS(X)                                                                          \
  X(ASTRT_GOAL_NONE, GOAL_NONE, "none")                                                         \
  X(ASTRT_GOAL_ACCURACY, GOAL_ACCURACY, "accuracy") /* test accuracy >= target */                \
  X(ASTRT_GOAL_LOSS, GOAL_LOSS, "loss")             /* test loss <= target */

/* astrt_gemm_batch.backend (astrt_kernels.h): the GEMM backend of a product's
 * call site, chosen by astc by measurement (compiler/tools/machine.c) */
#define ASTRT_GEMM_BACKENDS(X)                                                                  \
  X(ASTRT_GEMM_OPENBLAS, GEMM_OPENBLAS, "openblas") /* OpenBLAS cblas_sgemm: the default, the fallback */ \
  X(ASTRT_GEMM_XSMM, GEMM_XSMM, "xsmm")             /* libxsmm's JIT kernels for the exact shape */

/* the runtime's enumerator of a row */
#define ASTRT_ABI_ENUMERATOR(rt, ir, name) rt,

enum { ASTRT_SCALARS(ASTRT_ABI_ENUMERATOR) ASTRT_NUM_SCALARS };
enum { ASTRT_OUTPUTS(ASTRT_ABI_ENUMERATOR) ASTRT_NUM_OUTPUTS };
typedef enum astrt_var_kind { ASTRT_VAR_KINDS(ASTRT_ABI_ENUMERATOR) } astrt_var_kind;
typedef enum astrt_init_kind { ASTRT_INIT_KINDS(ASTRT_ABI_ENUMERATOR) } astrt_init_kind;
typedef enum astrt_node_role { ASTRT_NODE_ROLES(ASTRT_ABI_ENUMERATOR) } astrt_node_role;
typedef enum astrt_dtype { ASTRT_DTYPES(ASTRT_ABI_ENUMERATOR) } astrt_dtype;
typedef enum astrt_data_kind { ASTRT_DATA_KINDS(ASTRT_ABI_ENUMERATOR) } astrt_data_kind;
typedef enum astrt_target_kind { ASTRT_TARGET_KINDS(ASTRT_ABI_ENUMERATOR) } astrt_target_kind;
typedef enum astrt_goal { ASTRT_GOALS(ASTRT_ABI_ENUMERATOR) } astrt_goal;
typedef enum astrt_gemm_backend { ASTRT_GEMM_BACKENDS(ASTRT_ABI_ENUMERATOR) ASTRT_NUM_GEMM_BACKENDS } astrt_gemm_backend;
typedef enum astrt_csv_header { ASTRT_CSV_HEADERS(ASTRT_ABI_ENUMERATOR) } astrt_csv_header;
typedef enum astrt_split_kind { ASTRT_SPLITS(ASTRT_ABI_ENUMERATOR) } astrt_split_kind;
typedef enum astrt_norm_kind { ASTRT_NORMS(ASTRT_ABI_ENUMERATOR) } astrt_norm_kind;

/* ---- the descriptor structs (astrt_program.h) ---------------------------------- */

/* The structs, each with its list of fields, in the order C declares them. */
#define ASTRT_ABI_STRUCTS(S)                                                                    \
  S(astrt_var_desc, ASTRT_VAR_DESC_FIELDS)                                                      \
  S(astrt_phase_desc, ASTRT_PHASE_DESC_FIELDS)                                                  \
  S(astrt_node_desc, ASTRT_NODE_DESC_FIELDS)                                                    \
  S(astrt_step_nodes, ASTRT_STEP_NODES_FIELDS)                                                  \
  S(astrt_data_desc, ASTRT_DATA_DESC_FIELDS)                                                    \
  S(astrt_program, ASTRT_PROGRAM_FIELDS)

/* A variable: a parameter, state or optimizer slot. */
#define ASTRT_VAR_DESC_FIELDS(F)                                                                \
  F(const char *, name, ptr)     /* dense_1.w */                                                \
  F(int32_t, kind, i32)          /* astrt_var_kind */                                           \
  F(int32_t, rank, i32)                                                                         \
  F(astrt_dims, dims, dims)                                                                     \
  F(int64_t, offset, i64)        /* bytes into the variable arena (64-byte aligned) */          \
  F(int64_t, numel, i64)                                                                        \
  F(int32_t, init, i32)          /* astrt_init_kind */                                          \
  F(int32_t, layer, i32)         /* index into layer_names, -1 for none */                      \
  F(double, init_a, f64)         /* const: a; uniform: [a, b); normal: mean a, std b */         \
  F(double, init_b, f64)                                                                        \
  F(int64_t, fan_in, i64)                                                                       \
  F(int64_t, fan_out, i64)                                                                      \
  F(int32_t, owner, i32)         /* a slot or running average: its parameter's index, else -1 */ \
  F(int32_t, pad_, i32)

/* A training phase. A reused frozen prefix (prefix not NULL): when the phase
 * starts, the driver runs `prefix` over the training set (x rows in,
 * feature_size floats per example written to `outputs`), keeps the
 * features, and passes the step gathered feature rows in x's place.
 * Selective backprop (score not NULL): each step, `score` (forward only)
 * writes each of the batch's rows' own loss to `outputs` (one float per
 * row); the driver keeps astrt_select_count(keep, rows) of the rows, drawn
 * by loss percentile with exponent beta (runtime/select.c), and runs `step`
 * on those alone (its work is planned for them); with interrupt > 0 every
 * interrupt-th step runs `step` on the whole batch, unscored. */
#define ASTRT_PHASE_DESC_FIELDS(F)                                                              \
  F(double, t_begin, f64)        /* the phase covers progress [t_begin, t_end) */               \
  F(double, t_end, f64)                                                                         \
  F(int64_t, batch, i64)         /* examples per optimizer step */                              \
  F(int64_t, work_bytes, i64)                                                                   \
  F(astrt_step_fn, step, ptr)                                                                   \
  F(const char *, why, ptr)      /* what changes at its start ("" for the first) */             \
  F(astrt_step_fn, prefix, ptr)  /* the reused prefix, or NULL */                               \
  F(int64_t, feature_size, i64)                                                                 \
  F(int64_t, prefix_work_bytes, i64)                                                            \
  F(int64_t, prefix_from, i64)   /* the first phase with this same prefix: its features serve */ \
  F(int64_t, context, i64)       /* > 0: tokens per example in this phase (seqlen warmup) */    \
  F(int64_t, pieces, i64)        /* rows each example becomes (its windows cut, >= 1) */        \
  F(astrt_step_fn, score, ptr)   /* selective backprop: each row's loss, or NULL */             \
  F(int64_t, score_work_bytes, i64)                                                             \
  F(double, keep, f64)           /* the fraction of the rows the step trains on */              \
  F(double, beta, f64)           /* P(select) grows as the loss percentile^beta */              \
  F(int64_t, interrupt, i64)     /* > 0: every interrupt-th step trains on the whole batch */   \
  F(double, lr_scale, f64)       /* the step's lr is the schedule's times this (batch coupling) */ \
  F(int64_t, micro, i64)         /* > 0: the step sums its gradient over micro-batches of at    \
                                    most this many rows (batch ramp's micro:) */

/* One node of a compiled step, for diagnosis messages. */
#define ASTRT_NODE_DESC_FIELDS(F)                                                               \
  F(const char *, op, ptr)       /* "exp", "matmul", "param", "input" */                        \
  F(const char *, name, ptr)     /* param: the variable; else the source variable it was        \
                                    assigned to ("h"), or "" */                                 \
  F(const char *, layer, ptr)    /* the layer instance ("dense_2"), or "" */                    \
  F(const char *, site, ptr)     /* where that layer is called ("mlp.train:8:15"), or "" */     \
  F(const char *, scope, ptr)    /* the fn or layer definition it was written in, or "" */      \
  F(const char *, file, ptr)     /* where in the source it came from ("" if nowhere) */         \
  F(int32_t, line, i32)                                                                         \
  F(int32_t, col, i32)                                                                          \
  F(int32_t, role, i32)          /* astrt_node_role */                                          \
  F(int32_t, dtype, i32)         /* astrt_dtype */

/* The nodes of one phase's step, in execution order. */
#define ASTRT_STEP_NODES_FIELDS(F)                                                              \
  F(const astrt_node_desc *, nodes, ptr)                                                        \
  F(int64_t, n, i64)

/* The training data. An example is x (rank, dims: example_size values of
 * x_dtype) and its target y (target_size values: one class label, a label per
 * position, or reals). Text and token data are sequences: an example is a
 * window of context + 1 tokens, x its first context tokens (i32) and y the
 * next token after each of them (TARGET_SEQUENCE); training windows start at
 * random offsets, test windows are the held-out split's non-overlapping ones. */
#define ASTRT_DATA_DESC_FIELDS(F)                                                               \
  F(int32_t, kind, i32)          /* astrt_data_kind */                                          \
  F(int32_t, label_column, i32)  /* csv */                                                      \
  F(const char *, source, ptr)   /* idx: data set name or directory; csv/npy/tokens: file;      \
                                    text: a file, a directory or a known corpus ("fortunes") */ \
  F(const char *, y_source, ptr) /* npy: labels file */                                         \
  F(const char *, test_source, ptr) /* csv/npy/text/tokens: test file ("": hold out a part) */  \
  F(const char *, test_y_source, ptr)                                                           \
  F(int32_t, rank, i32)          /* one example, as the model sees it */                        \
  F(int32_t, x_dtype, i32)       /* astrt_dtype of x: f32, or i32 (tokens) */                   \
  F(astrt_dims, dims, dims)                                                                     \
  F(int64_t, example_size, i64)  /* elements of one example */                                  \
  F(int64_t, classes, i64)                                                                      \
  F(double, mean, f64)           /* NORM_SCALAR: features become (x - mean) / std */                         \
  F(double, std, f64)                                                                           \
  F(int64_t, synth_train, i64)                                                                  \
  F(int64_t, synth_test, i64)                                                                   \
  F(uint64_t, synth_seed, i64)   /* the data's seed: synthetic data's values; csv/npy: which     \
                                    examples a random holdout takes */                          \
  F(int32_t, target, i32)        /* astrt_target_kind */                                        \
  F(int32_t, pad_, i32)                                                                         \
  F(int64_t, target_size, i64)   /* values of y per example (1 for a class label) */            \
  F(int64_t, context, i64)       /* text/tokens: tokens per example (T) */                      \
  F(int64_t, vocab, i64)         /* text/tokens: token ids are in [0, vocab) (256 for text) */   \
  F(double, holdout, f64)        /* without a test source: the fraction of the data held out */ \
  F(int32_t, header, i32)        /* csv: astrt_csv_header */                                    \
  F(int32_t, sep, i32)           /* csv: the field separator, a character (' ': runs of blanks); \
                                    0: detected from the first line */                          \
  F(int32_t, split, i32)         /* csv/npy without a test source: astrt_split_kind */         \
  F(int32_t, normalize, i32)     /* astrt_norm_kind */                                          \
  F(int32_t, mean_var, i32)      /* NORM_STANDARD: the variables (kind state, example_size      \
                                    values each) of the features' means and standard deviations, \
                                    computed from the training split when std is all 0 (as      \
                                    initialised), else as loaded; -1 for NORM_SCALAR */         \
  F(int32_t, std_var, i32)

/* The program. Prediction (predict): the evaluation-mode forward pass only
 * (no loss, no backward), x rows in, output_size floats per example written
 * to `outputs`. Diagnosis of non-finite values (step_nodes): per phase, its
 * step's nodes (the index a diagnosing step reports in
 * ASTRT_OUT_NONFINITE); NULL if the steps cannot diagnose (then the driver
 * never asks them to). */
#define ASTRT_PROGRAM_FIELDS(F)                                                                 \
  F(uint32_t, abi_version, i32)  /* ASTRT_ABI_VERSION */                                        \
  F(uint32_t, nvars, i32)                                                                       \
  F(const char *, name, ptr)     /* the model */                                                \
  F(const char *, source, ptr)   /* the .train file it was compiled from */                     \
  F(const astrt_var_desc *, vars, ptr)                                                          \
  F(int64_t, var_bytes, i64)                                                                    \
  F(uint32_t, nlayers, i32)                                                                     \
  F(uint32_t, nphases, i32)                                                                     \
  F(const char *const *, layer_names, ptr)                                                      \
  F(const astrt_phase_desc *, phases, ptr)                                                      \
  F(astrt_step_fn, eval, ptr)    /* forward + loss + correct, evaluation mode */                \
  F(int64_t, eval_work_bytes, i64)                                                              \
  F(int64_t, eval_batch, i64)                                                                   \
  F(int64_t, eval_every, i64)    /* > 0: also evaluate every this many steps */                 \
  F(int64_t, eval_samples, i64)  /* > 0: evaluations before the last use this many test         \
                                    examples (the first ones); the last uses them all */        \
  F(astrt_schedule_fn, lr_schedule, ptr)                                                        \
  F(double, base_lr, f64)                                                                       \
  F(int64_t, batch, i64)         /* the baseline batch size */                                  \
  F(int64_t, epochs, i64)        /* budget in epochs, or 0 ... */                               \
  F(int64_t, steps, i64)         /* ... in optimizer steps */                                   \
  F(uint64_t, seed, i64)                                                                        \
  F(int32_t, goal, i32)          /* astrt_goal: the target's metric */                          \
  F(int32_t, pad_, i32)                                                                         \
  F(double, target, f64)         /* test accuracy >= target, or test loss <= target */          \
  F(const char *, optimizer, ptr) /* a one-line description, for the log */                     \
  F(astrt_step_fn, predict, ptr) /* prediction, see above */                                    \
  F(int64_t, predict_work_bytes, i64)                                                           \
  F(int64_t, output_size, i64)                                                                  \
  F(double, loss_scale, f64)     /* initial loss scale (1 without fp16 loss scaling) */         \
  F(int64_t, loss_scale_growth, i64) /* > 0: dynamic loss scaling; the scale halves on a step   \
                                        with non-finite gradients (which is skipped) and        \
                                        doubles after this many clean steps */                  \
  F(const astrt_step_nodes *, step_nodes, ptr) /* diagnosis, see above */                       \
  F(int32_t, average_count, i32) /* weight averaging: the variable counting the averages        \
                                    taken, or -1 (no averaging) */                              \
  F(int32_t, save_average, i32)  /* 1: --save writes each parameter's running average (a        \
                                    variable of kind average whose owner it is) in its place,   \
                                    once an average has been taken */                           \
  F(uint64_t, program_hash, i64) /* what it computes (its IR as astc show prints it, without     \
                                    comments): a checkpoint of another is not resumed */        \
  F(astrt_data_desc, data, astrt_data_desc)

/* a struct's member declaration from its row */
#define ASTRT_ABI_MEMBER(ctype, field, llvm) ctype field;

#endif
