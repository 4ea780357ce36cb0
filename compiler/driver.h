/* driver.h — the compiler pipeline as the CLI and the tests use it. */
#ifndef ASTC_DRIVER_H
#define ASTC_DRIVER_H

#include "sema.h"

typedef struct Compilation {
  Sema sema;
  IrProgram *prog;   /* NULL after errors */
} Compilation;

/* Parses, checks and lowers `path` to a training program; runs the
 * verifier on every graph. Diagnostics go through diag. Returns false on
 * errors (c->prog is then NULL). */
bool compile_file(Compilation *c, const char *path, const CompileOptions *opt);
void compilation_free(Compilation *c);

/* Verifies every graph of p; prints problems to stderr. */
bool verify_program(const IrProgram *p);

#endif
