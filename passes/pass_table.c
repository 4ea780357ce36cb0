/* pass_table.c — the pipeline, in order. */
#include <stdio.h>
#include <string.h>

#include "pass.h"

static const PassInfo passes[] = {
    {"phases", "split training into phases where a speedup changes a discrete setting", pass_phases, true},
    {"freeze", "delete gradient, update and optimizer-state work of frozen layers", pass_freeze, true},
    {"batch", "specialise each phase to its batch size; learning-rate coupling; micro-batches",
     pass_batch, true},
    {"sync", "sum every gradient over the data-parallel ranks before the update (nothing in one process)",
     pass_sync, false},
    {"guard", "skip every update of a step whose loss is not finite (variables stay as they were)", pass_guard,
     false},
    {"precision", "store matmul/conv operands and saved activations in 16 bits", pass_precision, true},
    {"dce", "dead-code elimination (what freezing leaves unused disappears here)", pass_dce, false},
    {"prefix", "reuse a frozen, deterministic prefix's outputs across epochs instead of recomputing them",
     pass_prefix, true},
};

const PassInfo *pass_at(int i) {
  return i >= 0 && (size_t)i < sizeof passes / sizeof passes[0] ? &passes[i] : NULL;
}

const PassInfo *pass_find(const char *name) {
  for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++)
    if (!strcmp(passes[i].name, name)) return &passes[i];
  return NULL;
}

bool pass_run_pipeline(PassContext *c, bool verify,
                       void (*after)(const PassInfo *pass, PassContext *c, void *user), void *user) {
  for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
    int errors = diag_error_count();
    if (!passes[i].run(c) || diag_error_count() > errors) return false;
    if (verify) {
      int problems = 0;
      for (int k = 0; k < c->p->phases.len; k++) {
        char what[96];
        snprintf(what, sizeof what, "after %s, phase %d", passes[i].name, k);
        problems += ir_verify(c->p, &c->p->phases.data[k].step, what, stderr);
        if (c->p->phases.data[k].prefix.len) problems += ir_verify(c->p, &c->p->phases.data[k].prefix, what, stderr);
      }
      if (problems) internal_error(__FILE__, __LINE__, "pass %s broke the IR", passes[i].name);
    }
    if (after) after(&passes[i], c, user);
  }
  return true;
}
