/* pass.h — the pass pipeline over a training program.
 *
 * The pipeline is the list of PASS lines in passes.def, in order: the
 * passes that rewrite what the program computes (split into phases, freeze,
 * batch, precision), the standard ones between and after them (sync, guard,
 * dead-code elimination, prefix reuse). The IR verifier runs after every
 * pass (pass_run_pipeline).
 */
#ifndef ASTC_PASS_H
#define ASTC_PASS_H

#include "ir.h"
#include "rewrite.h"
#include "speedup.h"

typedef struct PassContext {
  IrProgram *p;
  const SpeedupSpec *spec;   /* NULL: no speedup block (the baseline) */
  int64_t train_examples;    /* size of the training split if known, else 0 */
} PassContext;

/* A pass returns false after reporting an error (diag) that stops compilation. */
typedef bool PassFn(PassContext *c);

typedef struct PassInfo {
  const char *name;     /* for --after=NAME */
  const char *summary;
  PassFn *run;
} PassInfo;

const PassInfo *pass_at(int i);            /* NULL past the end */
const PassInfo *pass_find(const char *name);

/* Runs the pipeline. After each pass `after(pass, user)` is called (if not
 * NULL); with verify, the IR is verified after every pass. Returns false if
 * a pass reported an error. */
bool pass_run_pipeline(PassContext *c, bool verify,
                       void (*after)(const PassInfo *pass, PassContext *c, void *user), void *user);

/* ---- the passes: bool pass_NAME(PassContext *c), one per PASS line of passes.def -------- */
#define PASS(name, summary) PassFn pass_##name;
#include "passes.def"

/* ---- helpers shared by passes ------------------------------------------------------ */

/* Layers that own trainable parameters, in order from the input (by the
 * position of their first parameter in the step graph). Returns the count;
 * out receives layer indices (p->layers.len entries available). */
int pass_param_layers(const IrProgram *p, int *out);
/* The same, of graph g. */
int pass_param_layers_in(const IrProgram *p, const IrGraph *g, int *out);
/* The freeze time of each layer (t[l] for l in p->layers; 2: never) under
 * freeze rule `it`, over the parameter-owning layers[0..n) in order from the
 * input, as the phases pass schedules them (its plan_freeze checks them). */
void pass_freeze_times(const IrProgram *p, const SpeedupItem *it, const int *layers, int n, double *t);

#endif
