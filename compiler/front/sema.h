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
  bool in_stdlib;       /* found in the standard library directory */
  StrVec not_imported;  /* modules reported as missing an import here (once each) */
} ModuleInfo;

typedef struct Sema {
  const CompileOptions *opt;
  VEC(ModuleInfo *) modules;  /* modules[0] is the main file */
  /* modules the program does not import, read only for hints about names
   * (sema_report_unknown) */
  VEC(ModuleInfo *) peeked;
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

/* A name that module m uses but does not define, explained by another
 * module: m imports a module that defines it (write 'nn.dense'), a module m
 * does not import defines it (add 'import nn'), or, used as NAME.member, it
 * is a module m does not import or imports under another name. `what` names
 * the kind of name in the message ("name", "loss function"); `qualify`: the
 * name must be written qualified after the import (a loss need not be).
 * Reports the error (and returns true) only when it has such an
 * explanation; the caller reports the name otherwise. A missing import is
 * reported at its first use only (later uses return true quietly). */
bool sema_report_unknown(Sema *s, ModuleInfo *m, const char *what, const char *name, const char *member,
                         bool qualify, Loc loc);
/* The closest name to `name` among `names` (those visible where it is used)
 * and the definitions of the modules m imports, written qualified ("nn.dense"
 * for "dens"); NULL if none is close. Allocated in m's arena. */
const char *sema_suggest(Sema *s, ModuleInfo *m, const char *name, const StrVec *names);
/* A fn of the standard library whose name is closest to `name`, and its
 * module (when m does not import that module); NULL if none is close. */
const char *sema_suggest_stdlib_fn(Sema *s, ModuleInfo *m, const char *name, const char **module);
/* Whether m can call `name` unqualified as a loss: defined in m or in a
 * module m imports. */
bool sema_reaches(Sema *s, ModuleInfo *m, const char *name);

/* The directory holding the standard library (nn.train, ...). */
const char *sema_stdlib_dir(const CompileOptions *opt);


#endif
