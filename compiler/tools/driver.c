/* driver.c — load, check, lower, verify. */
#include "driver.h"

#include <stdio.h>
#include <string.h>

#include "pass.h"

bool verify_program(const IrProgram *p) {
  int problems = 0;
  for (int i = 0; i < p->phases.len; i++) {
    char what[64];
    snprintf(what, sizeof what, "phase %d step", i + 1);
    problems += ir_verify(p, &p->phases.data[i].step, what, stderr);
  }
  problems += ir_verify(p, &p->eval, "eval", stderr);
  problems += ir_verify(p, &p->predict, "predict", stderr);
  return problems == 0;
}

bool compile_file_with(Compilation *c, const char *path, const CompileOptions *opt,
                       void (*after)(const PassInfo *, PassContext *, void *), void *user) {
  memset(c, 0, sizeof *c);
  if (!sema_load(&c->sema, path, opt)) return false;
  c->prog = sema_program(&c->sema);
  if (!c->prog) return false;
  if (!verify_program(c->prog))
    internal_error(__FILE__, __LINE__, "the IR of %s does not verify", path);
  PassContext pc = {c->prog, c->prog->speedup, c->prog->data.train_examples};
  if (!pass_run_pipeline(&pc, true, after, user)) {
    ir_program_free(c->prog);
    c->prog = NULL;
    return false;
  }
  return true;
}

bool compile_file(Compilation *c, const char *path, const CompileOptions *opt) {
  return compile_file_with(c, path, opt, NULL, NULL);
}

void compilation_free(Compilation *c) {
  ir_program_free(c->prog);
  c->prog = NULL;
  sema_free(&c->sema);
}
