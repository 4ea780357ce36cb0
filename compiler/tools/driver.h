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

/* Like compile_file, calling after(pass, user) after every pass of the
 * pipeline (astc show --after). */
struct PassInfo;
struct PassContext;
bool compile_file_with(Compilation *c, const char *path, const CompileOptions *opt,
                       void (*after)(const struct PassInfo *, struct PassContext *, void *), void *user);
void compilation_free(Compilation *c);

/* Verifies every graph of p; prints problems to stderr. */
bool verify_program(const IrProgram *p);

#endif
