/* pass.h — the pass pipeline over a training program.
 *
 * The pipeline is a readable list (pass_table.c): first the speedup passes,
 * which rewrite what the program computes (split into phases, freeze,
 * batch, precision), then the standard passes that clean up after them
 * (dead-code elimination). Every pass is verified after it runs in tests and
 * with `astc show --verify-each`.
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
  bool speedup;         /* rewrites what is computed (named in a speedup block) */
} PassInfo;

const PassInfo *pass_at(int i);            /* NULL past the end */
const PassInfo *pass_find(const char *name);

/* Runs the pipeline. After each pass `after(pass, user)` is called (if not
 * NULL); with verify, the IR is verified after every pass. Returns false if
 * a pass reported an error. */
bool pass_run_pipeline(PassContext *c, bool verify,
                       void (*after)(const PassInfo *pass, PassContext *c, void *user), void *user);

/* ---- the passes ---------------------------------------------------------------- */
bool pass_phases(PassContext *c);
bool pass_freeze(PassContext *c);
bool pass_batch(PassContext *c);
bool pass_sync(PassContext *c);
bool pass_guard(PassContext *c);
bool pass_precision(PassContext *c);
bool pass_dce(PassContext *c);
bool pass_prefix(PassContext *c);

/* ---- helpers shared by passes ------------------------------------------------------ */

/* Layers that own trainable parameters, in order from the input (by the
 * position of their first parameter in the step graph). Returns the count;
 * out receives layer indices (p->layers.len entries available). */
int pass_param_layers(const IrProgram *p, int *out);

#endif
