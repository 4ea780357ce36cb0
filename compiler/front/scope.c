/* scope.c — name lookup in a module's scope. */
#include <string.h>

#include "sema.h"

const ScopeEntry *scope_lookup(const ModuleInfo *m, const char *name) {
  for (int i = 0; i < m->scope.len; i++)
    if (strcmp(m->scope.data[i].name, name) == 0) return &m->scope.data[i];
  return NULL;
}
