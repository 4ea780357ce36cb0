/* interp.h — the reference interpreter: runs an IR graph directly, in double
 * precision, with the most naive loops. It is the oracle that derivative
 * rules (finite differences) and generated code are tested against; it is
 * never used to train. */
#ifndef ASTC_INTERP_H
#define ASTC_INTERP_H

#include "ir.h"

typedef struct Interp {
  const IrProgram *p;
  double **vars;            /* storage of every program variable */
  const double *x;          /* one batch of features, rows * example size */
  const int32_t *y;         /* its labels (class or per-position targets) ... */
  const float *y_real;      /* ... or its real-valued targets (regression) */
  int64_t rows;             /* the value of B */
  double scalars[SC_NUM];   /* lr, step, ... (rows is set from `rows`) */
  double outputs[OUT_NUM];
  uint64_t seed;            /* dropout masks: (seed, step, site) */
  int64_t micro;            /* > 0: run accumulate-marked steps in micro-batches */
  bool in_micro;
  double micro_weight;
  int64_t micro_first;
  double **vals;            /* after interp_run: every node's value (NULL for effects) */
  int nvals;
  int64_t executed;         /* nodes the last interp_run ran: not those of a skipped
                               block of layer dropping (whose values stay zero) */
  int *guard_flags;         /* during a run: the gate node of each guard */
} Interp;

/* Allocates variables and fills them by their initializers from `seed`
 * (the interpreter's own generator; values differ from the runtime's). */
void interp_init(Interp *in, const IrProgram *p, uint64_t seed);
/* Runs g once; node values stay in in->vals until the next run or free.
 * Returns false (with a message on stderr) if a value was out of range
 * (labels outside the class count). */
bool interp_run(Interp *in, const IrGraph *g);
void interp_free(Interp *in);

/* Element count of a node's value for the current rows. */
int64_t interp_numel(const Interp *in, const IrGraph *g, int node);

#endif
