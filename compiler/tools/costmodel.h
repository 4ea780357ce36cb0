/* costmodel.h — predicted cost of a training program (costmodel.c). */
#ifndef ASTC_COSTMODEL_H
#define ASTC_COSTMODEL_H

#include "codegen.h"
#include "ir.h"
#include "machine.h"

typedef struct PhaseCost {
  double t_begin, t_end;
  int64_t batch, micro;
  int64_t steps;                  /* optimizer steps in the phase (0 if unknown) */
  int64_t trainable;              /* parameters updated */
  double fwd_flops, bwd_flops, upd_flops;   /* per step (forward includes the loss) */
  double saved_bytes;             /* activations stored for the backward pass */
  double work_bytes;              /* the planned work arena */
  double opt_bytes;               /* optimizer state the phase reads */
  double step_seconds;            /* predicted */
  double cache_bytes;             /* a reused frozen prefix's feature cache */
  double cache_seconds;           /* building it, once when the phase starts */
  int64_t kept;                   /* selective backprop: rows the step trains on (0: all) ... */
  double score_flops;             /* ... and the scoring forward's work per step (in fwd_flops) */
  int64_t averaged;               /* weight averaging: parameters averaged per step ... */
  double avg_flops, avg_bytes;    /* ... and that work, part of the update's */
  /* layer dropping: residual blocks with guarded work, and their FLOPs per
   * step, all of them and the expected (each block's work times its mean
   * keep probability over the phase; the figures above are expected ones) */
  int drop_blocks;
  double drop_flops, drop_expected_flops;
} PhaseCost;

typedef struct ProgramCost {
  PhaseCost *phases;
  int n;
  int64_t total_samples;          /* 0 if the data size needed is unknown */
  int64_t total_steps;
  int64_t train_examples;         /* 0 if unknown */
  double total_seconds;           /* predicted training time (evaluation excluded) */
} ProgramCost;

/* The cost of p compiled with the code-generation options opt (NULL: the
 * defaults, as cost_program): fusion changes the work arena, and
 * -fno-parallel-loops keeps every loop on one thread. The steps of each
 * phase are the driver's: an epoch of n examples is ceil(n / batch) steps.
 * cost_program_with uses the data size the program knows (synthetic data,
 * the known IDX sets); cost_program_data the one given (0: unknown, when an
 * epochs budget gives per-step figures only). */
void cost_program_with(const IrProgram *p, const Machine *m, const CgOptions *opt, ProgramCost *out);
void cost_program_data(const IrProgram *p, const Machine *m, const CgOptions *opt, int64_t train_examples,
                       ProgramCost *out);
void cost_program(const IrProgram *p, const Machine *m, ProgramCost *out);
/* cost_program_data with each product priced at its measured time on the
 * backend it runs (plan: machine_gemm_plan for p under opt; NULL: the
 * sgemm roofline, as the others price them). */
void cost_program_plan(const IrProgram *p, const Machine *m, const CgOptions *opt, const GemmPlan *plan,
                       int64_t train_examples, ProgramCost *out);
void cost_free(ProgramCost *c);

/* The examples of p's training split: the size the program knows, else
 * that of the data loaded as a run loads it (data_dir as the program's
 * --data DIR; NULL: the paths as written, from the current directory);
 * with data_dir given, always the loaded data (synthetic data excepted).
 * 0 when it cannot be read, with the reason in why. */
int64_t cost_train_examples(const IrProgram *p, const char *data_dir, char *why, size_t cap);

#endif
