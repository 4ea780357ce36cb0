/* pass_table.c — the pipeline, in order: the PASS lines of passes.def. */
#include <stdio.h>
#include <string.h>

#include "pass.h"

static const PassInfo passes[] = {
#define PASS(name, summary) {#name, summary, pass_##name},
#include "passes.def"
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
        snprintf(what, sizeof what, "after %s, phase %d", passes[i].name, k + 1);
        problems += ir_verify(c->p, &c->p->phases.data[k].step, what, stderr);
        if (c->p->phases.data[k].prefix.len) problems += ir_verify(c->p, &c->p->phases.data[k].prefix, what, stderr);
        if (c->p->phases.data[k].score.len) problems += ir_verify(c->p, &c->p->phases.data[k].score, what, stderr);
      }
      if (problems) internal_error(__FILE__, __LINE__, "pass %s broke the IR", passes[i].name);
    }
    if (after) after(&passes[i], c, user);
  }
  return true;
}
