/* sema.h — from a .train file to a checked training program.
 *
 *   sema_load()     parses the file and everything it imports, builds each
 *                   module's scope, reports duplicate and unknown names and
 *                   cyclic imports;
 *   sema_program()  elaborates the train block: the model (training and
 *                   evaluation mode), the loss, the optimizer, schedules and
 *                   the speedup block, giving an IrProgram whose step graph
 *                   already holds forward, loss, backward and update.
 */
#ifndef ASTC_SEMA_H
#define ASTC_SEMA_H

#include "ast.h"
#include "ir.h"
#include "speedup.h"

typedef struct CompileOptions {
  const char **include_dirs;  /* extra import directories, searched first */
  int ninclude;
  const char *stdlib_dir;     /* NULL: the built-in default */
  bool no_speedup;            /* ignore the speedup block (the baseline) */
} CompileOptions;

typedef struct ScopeEntry {
  const char *name;
  const Item *item;             /* a definition ... */
  struct ModuleInfo *module;    /* ... or an imported module */
  Loc loc;
} ScopeEntry;

typedef struct ModuleInfo {
  Module *ast;
  const char *path;     /* as displayed in diagnostics */
  const char *name;     /* module name: file name without .train */
  VEC(ScopeEntry) scope;
  int state;            /* 0 new, 1 loading, 2 loaded */
} ModuleInfo;

typedef struct Sema {
  const CompileOptions *opt;
  VEC(ModuleInfo *) modules;  /* modules[0] is the main file */
} Sema;

/* Loads `path` and its imports. Returns false if there were errors. */
bool sema_load(Sema *s, const char *path, const CompileOptions *opt);
void sema_free(Sema *s);

const ScopeEntry *scope_lookup(const ModuleInfo *m, const char *name);

/* Checks that every name in every layer, fn and model body of every loaded
 * module refers to something (resolve.c). Returns false after errors. */
bool sema_resolve(Sema *s);

/* Builds the training program of the main module (NULL after errors). */
IrProgram *sema_program(Sema *s);

/* The directory holding the standard library (nn.train, ...). */
const char *sema_stdlib_dir(const CompileOptions *opt);


#endif
