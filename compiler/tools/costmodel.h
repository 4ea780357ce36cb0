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
} PhaseCost;

typedef struct ProgramCost {
  PhaseCost *phases;
  int n;
  int64_t total_samples;          /* 0 if the data size is unknown at compile time */
  int64_t train_examples;
  double total_seconds;           /* predicted training time (evaluation excluded) */
} ProgramCost;

/* The cost of p compiled with the code-generation options opt (NULL: the
 * defaults, as cost_program): fusion changes the work arena, and
 * -fno-parallel-loops keeps every loop on one thread. */
void cost_program_with(const IrProgram *p, const Machine *m, const CgOptions *opt, ProgramCost *out);
void cost_program(const IrProgram *p, const Machine *m, ProgramCost *out);
/* The same, each product priced at its measured time on the backend it
 * runs (plan: machine_gemm_plan for p under opt; NULL: the sgemm roofline). */
void cost_program_plan(const IrProgram *p, const Machine *m, const CgOptions *opt, const GemmPlan *plan,
                       ProgramCost *out);
void cost_free(ProgramCost *c);

#endif
