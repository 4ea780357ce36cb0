/* sema.c — loading modules: imports, search paths, scopes, cycles. */
#include "sema.h"

#include "install_paths.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static __attribute__((unused)) bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The stdlib directory: the option, $ASTC_STDLIB, the installed location
 * (relative to the astc executable), then the source tree this astc was
 * built from (install_paths.c). */
const char *sema_stdlib_dir(const CompileOptions *opt) {
  if (opt && opt->stdlib_dir) return opt->stdlib_dir;
  const char *env = getenv("ASTC_STDLIB");
  if (env && *env) return env;
  return astc_stdlib_path();
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return xstrdup(".");
  if (slash == path) return xstrdup("/");
  char *d = xstrdup(path);
  d[slash - path] = 0;
  return d;
}

static char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  char *b = xstrdup(slash ? slash + 1 : path);
  size_t n = strlen(b);
  if (n > 6 && strcmp(b + n - 6, ".train") == 0) b[n - 6] = 0;
  return b;
}

/* Which file each loaded module came from, so that one file reached by two
 * spellings of its path ("a.train", "./a.train", "lib/../a.train") is one
 * module. */
typedef struct FileId {
  const ModuleInfo *m;
  dev_t dev;
  ino_t ino;
} FileId;
static VEC(FileId) file_ids;

static ModuleInfo *find_loaded(Sema *s, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return NULL;
  for (int i = 0; i < file_ids.len; i++)
    if (file_ids.data[i].dev == st.st_dev && file_ids.data[i].ino == st.st_ino)
      for (int k = 0; k < s->modules.len; k++)
        if (s->modules.data[k] == file_ids.data[i].m) return s->modules.data[k];
  return NULL;
}

/* Registers the file at `path` and parses it. `display` is the path shown in
 * diagnostics. Returns NULL (after an error at `from`) if it cannot be read. */
static ModuleInfo *load_file(Sema *s, const char *path, const char *display, Loc from) {
  size_t len;
  const char *err;
  char *text = read_file(path, &len, &err);
  if (!text) {
    diag_error(from, "cannot read '%s': %s", display, err);
    return NULL;
  }
  int file = src_add(display, text, len);
  ModuleInfo *m = xcalloc(1, sizeof(ModuleInfo));
  m->ast = parse_module(file, display);
  m->path = m->ast->path;
  char *name = base_name(display);
  m->name = arena_strdup(m->ast->arena, name);
  free(name);
  vec_push(&s->modules, m);
  struct stat st;
  if (stat(path, &st) == 0) vec_push(&file_ids, ((FileId){m, st.st_dev, st.st_ino}));
  return m;
}

static void add_to_scope(ModuleInfo *m, ScopeEntry e) {
  const ScopeEntry *prev = scope_lookup(m, e.name);
  if (prev) {
    diag_error(e.loc, "'%s' is already defined in this file", e.name);
    diag_note(prev->loc, "the earlier definition of '%s' is here", e.name);
    return;
  }
  vec_push(&m->scope, e);
}

/* The chain of imports being loaded, innermost first: module m is loading
 * the module named by its import item imp. */
typedef struct Loading {
  const ModuleInfo *m;
  const Item *imp;
  const struct Loading *up;
} Loading;

static void load_imports(Sema *s, ModuleInfo *m, const Loading *up);

/* "import_a -> import_b -> import_a", with a note at each import of the
 * cycle but the one that closes it (where the error is). */
static void report_cycle(const ModuleInfo *target, const Loading *at) {
  StrBuf sb = {0};
  const Loading *chain[64];
  int n = 0;
  for (const Loading *l = at; l && n < 64; l = l->up) {
    chain[n++] = l;
    if (l->m == target) break;
  }
  for (int i = n - 1; i >= 0; i--) sb_printf(&sb, "%s -> ", chain[i]->m->name);
  sb_puts(&sb, target->name);
  if (n == 1)
    diag_error(at->imp->name_loc, "module '%s' imports itself", target->name);
  else
    diag_error(at->imp->name_loc, "cyclic import: %s", sb.data);
  for (int i = n - 1; i >= 1; i--)
    diag_note(chain[i]->imp->name_loc, "'%s' imports '%s' here", chain[i]->m->name, chain[i - 1]->m->name);
  sb_free(&sb);
}

/* The .train files of a directory, for suggesting a module name. */
static void list_modules(const char *dir, StrVec *out, Arena *a) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) && out->len < 256) {
    size_t n = strlen(de->d_name);
    if (n > 6 && strcmp(de->d_name + n - 6, ".train") == 0)
      vec_push(out, arena_strndup(a, de->d_name, n - 6));
  }
  closedir(d);
}

/* The directories an import in module m searches, in order, and why each:
 * 0 the importing file's directory, 1 an -I directory, 2 $ASTC_PATH, 3 the
 * standard library. */
typedef struct ImportDirs {
  VEC(char *) dirs;
  VEC(int) why;
} ImportDirs;

static void import_dirs(Sema *s, const ModuleInfo *m, ImportDirs *d) {
  vec_push(&d->dirs, dir_of(m->path));
  vec_push(&d->why, 0);
  for (int i = 0; i < s->opt->ninclude; i++) {
    vec_push(&d->dirs, xstrdup(s->opt->include_dirs[i]));
    vec_push(&d->why, 1);
  }
  const char *env = getenv("ASTC_PATH");
  if (env && *env) {
    char *copy = xstrdup(env), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
      vec_push(&d->dirs, xstrdup(dir));
      vec_push(&d->why, 2);
    }
    free(copy);
  }
  vec_push(&d->dirs, xstrdup(sema_stdlib_dir(s->opt)));
  vec_push(&d->why, 3);
}

static void import_dirs_free(ImportDirs *d) {
  for (int i = 0; i < d->dirs.len; i++) free(d->dirs.data[i]);
  vec_free(&d->dirs);
  vec_free(&d->why);
}

/* The file `import NAME` finds from directory `dir` ("./name.train" is
 * shown as "name.train"); the caller frees it. */
static char *module_file(const char *dir, const char *name) {
  return strcmp(dir, ".") == 0 ? xprintf("%s.train", name) : xprintf("%s/%s.train", dir, name);
}

/* Finds `name`.train for an import in module m: the importing file's
 * directory, the include directories, $ASTC_PATH, then the stdlib. */
static ModuleInfo *resolve_import(Sema *s, ModuleInfo *m, const Item *imp, const Loading *up) {
  ImportDirs d = {0};
  import_dirs(s, m, &d);
  const char *from[] = {"the directory of the importing file", "an -I directory", "$ASTC_PATH"};
  ModuleInfo *found = NULL;
  bool tried = false;
  for (int i = 0; i < d.dirs.len && !tried; i++) {
    char *path = module_file(d.dirs.data[i], imp->name);
    if (is_file(path)) {
      tried = true;
      bool in_stdlib = d.why.data[i] == 3;
      char *display = in_stdlib ? xprintf("stdlib/%s.train", imp->name) : xstrdup(path);
      found = find_loaded(s, path);
      if (found && found->state == 1) {
        Loading here = {m, imp, up};
        report_cycle(found, &here);
        found = NULL;
      } else if (!found) {
        found = load_file(s, path, display, imp->loc);
        if (found) {
          found->in_stdlib = in_stdlib;
          Loading here = {m, imp, up};
          load_imports(s, found, &here);
        }
      }
      free(display);
    }
    free(path);
  }
  if (!tried) {
    Arena *a = arena_new();
    StrVec cands = {0};
    for (int i = 0; i < d.dirs.len; i++) list_modules(d.dirs.data[i], &cands, a);
    const char *sug = suggest_name(imp->name, cands.data, cands.len);
    if (sug)
      diag_error(imp->name_loc, "cannot find module '%s'; did you mean '%s'?", imp->name, sug);
    else
      diag_error(imp->name_loc, "cannot find module '%s': there is no %s.train on the import path",
                 imp->name, imp->name);
    /* the standard library is named, not printed: its path is the machine's */
    for (int i = 0; i < d.dirs.len; i++)
      if (d.why.data[i] == 3) diag_note(NO_LOC, "searched the standard library");
      else diag_note(NO_LOC, "searched '%s' (%s)", d.dirs.data[i], from[d.why.data[i]]);
    vec_free(&cands);
    arena_free(a);
  }
  import_dirs_free(&d);
  return found;
}

static void load_imports(Sema *s, ModuleInfo *m, const Loading *up) {
  m->state = 1;
  if (s->modules.len > 64) {
    diag_error((Loc){m->ast->file, 1, 1}, "too many modules imported (the limit is 64)");
    m->state = 2;
    return;
  }
  for (int i = 0; i < m->ast->nitems; i++) {
    const Item *it = m->ast->items[i];
    if (it->kind == IT_IMPORT) {
      if (strcmp(it->name, "prim") == 0) {
        diag_error(it->name_loc, "'prim' is built in and needs no import");
        continue;
      }
      ModuleInfo *imp = resolve_import(s, m, it, up);
      if (imp) add_to_scope(m, (ScopeEntry){it->alias, NULL, imp, it->alias_loc});
    } else if (it->kind != IT_TRAIN && it->kind != IT_SPEEDUP) {
      add_to_scope(m, (ScopeEntry){it->name, it, NULL, it->name_loc});
    }
  }
  m->state = 2;
}

bool sema_load(Sema *s, const char *path, const CompileOptions *opt) {
  static const CompileOptions defaults = {0};
  s->opt = opt ? opt : &defaults;
  ModuleInfo *m = load_file(s, path, path, NO_LOC);
  if (!m) return false;
  if (diag_error_count() == 0) load_imports(s, m, NULL);
  if (diag_error_count() == 0) sema_resolve(s);
  return diag_error_count() == 0;
}

/* ---- hints: names another module defines ------------------------------------ */

typedef VEC(ModuleInfo *) ModVec;

static bool is_definition(const ScopeEntry *e) {
  return e && e->item && (e->item->kind == IT_LAYER || e->item->kind == IT_FN);
}

/* m's import of module t (its first), or NULL */
static const ScopeEntry *import_of(const ModuleInfo *m, const ModuleInfo *t) {
  for (int i = 0; i < m->scope.len; i++)
    if (m->scope.data[i].module == t) return &m->scope.data[i];
  return NULL;
}

/* A module for a hint: the loaded one, or the file parsed quietly (its
 * definitions only, no imports), kept until sema_free. NULL if unreadable. */
static ModuleInfo *peek_module(Sema *s, const char *path, const char *display, bool in_stdlib) {
  ModuleInfo *m = find_loaded(s, path);
  if (m) return m;
  for (int i = 0; i < s->peeked.len; i++)
    if (strcmp(s->peeked.data[i]->path, display) == 0) return s->peeked.data[i];
  size_t len;
  const char *err;
  char *text = read_file(path, &len, &err);
  if (!text) return NULL;
  diag_mute(true);
  int file = src_add(display, text, len);
  m = xcalloc(1, sizeof(ModuleInfo));
  m->ast = parse_module(file, display);
  diag_mute(false);
  m->path = m->ast->path;
  char *name = base_name(display);
  m->name = arena_strdup(m->ast->arena, name);
  free(name);
  m->state = 2;
  m->in_stdlib = in_stdlib;
  for (int i = 0; i < m->ast->nitems; i++) {
    const Item *it = m->ast->items[i];
    if (it->kind != IT_IMPORT && it->kind != IT_TRAIN && it->kind != IT_SPEEDUP && !scope_lookup(m, it->name))
      vec_push(&m->scope, ((ScopeEntry){it->name, it, NULL, it->name_loc}));
  }
  vec_push(&s->peeked, m);
  return m;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Every module that may define a name: the loaded ones, then the other
 * modules of the standard library (in name order). */
static void all_modules(Sema *s, ModVec *out) {
  for (int i = 0; i < s->modules.len; i++) vec_push(out, s->modules.data[i]);
  const char *dir = sema_stdlib_dir(s->opt);
  Arena *a = arena_new();
  StrVec names = {0};
  list_modules(dir, &names, a);
  if (names.len) qsort(names.data, (size_t)names.len, sizeof(char *), cmp_str);
  for (int i = 0; i < names.len; i++) {
    char *path = module_file(dir, names.data[i]), *display = xprintf("stdlib/%s.train", names.data[i]);
    ModuleInfo *t = peek_module(s, path, display, true);
    bool have = false;
    for (int k = 0; t && k < out->len; k++) have |= out->data[k] == t;
    if (t && !have) vec_push(out, t);
    free(path);
    free(display);
  }
  vec_free(&names);
  arena_free(a);
}

/* "the standard library module 'nn'" or "module 'blocks' (lib/blocks.train)" */
static const char *module_desc(const ModuleInfo *t, char *buf, size_t cap) {
  if (t->in_stdlib) snprintf(buf, cap, "the standard library module '%s'", t->name);
  else snprintf(buf, cap, "module '%s' (%s)", t->name, t->path);
  return buf;
}

/* NAME.member where NAME is not a name of m: a module m imports under
 * another name, or one on m's import path that m does not import */
static bool report_unknown_module(Sema *s, ModuleInfo *m, const char *what, const char *name, const char *member,
                                  Loc loc) {
  for (int i = 0; i < m->scope.len; i++) {
    const ScopeEntry *e = &m->scope.data[i];
    if (e->module && strcmp(e->module->name, name) == 0) {
      diag_error(loc, "unknown %s '%s': this file imports module '%s' as '%s', so write '%s.%s'", what, name, name,
                 e->name, e->name, member);
      diag_note(e->loc, "module '%s' is imported here", name);
      return true;
    }
  }
  ImportDirs d = {0};
  import_dirs(s, m, &d);
  ModuleInfo *found = NULL;
  for (int i = 0; i < d.dirs.len && !found; i++) {
    char *path = module_file(d.dirs.data[i], name);
    if (is_file(path)) {
      bool in_stdlib = d.why.data[i] == 3;
      char *display = in_stdlib ? xprintf("stdlib/%s.train", name) : xstrdup(path);
      found = peek_module(s, path, display, in_stdlib);
      free(display);
    }
    free(path);
  }
  import_dirs_free(&d);
  if (!found || found == m) return false;
  /* one missing import is one mistake, however many uses it has */
  for (int i = 0; i < m->not_imported.len; i++)
    if (strcmp(m->not_imported.data[i], name) == 0) return true;
  vec_push(&m->not_imported, found->name);
  char desc[256];
  diag_error(loc, "unknown %s '%s': %s is not imported; add 'import %s' to use %s.%s", what, name,
             module_desc(found, desc, sizeof desc), name, name, member);
  return true;
}

bool sema_report_unknown(Sema *s, ModuleInfo *m, const char *what, const char *name, const char *member,
                         bool qualify, Loc loc) {
  if (member) return report_unknown_module(s, m, what, name, member, loc);
  /* a definition of a module m imports: it is used qualified */
  for (int i = 0; i < m->scope.len; i++) {
    const ScopeEntry *e = &m->scope.data[i];
    if (!e->module || !is_definition(scope_lookup(e->module, name))) continue;
    diag_error(loc, "unknown %s '%s'; did you mean '%s.%s'?", what, name, e->name, name);
    if (strcmp(e->name, e->module->name) == 0)
      diag_note(e->loc, "'%s' is defined in module '%s', imported here; the definitions of a module are used with "
                        "its name", name, e->name);
    else
      diag_note(e->loc, "'%s' is defined in module '%s', imported here as '%s'; the definitions of a module are "
                        "used with the name it is imported as", name, e->module->name, e->name);
    return true;
  }
  /* a definition of a module m does not import */
  ModVec all = {0};
  all_modules(s, &all);
  bool done = false;
  for (int i = 0; i < all.len && !done; i++) {
    ModuleInfo *t = all.data[i];
    if (t == m || import_of(m, t) || !is_definition(scope_lookup(t, name))) continue;
    char desc[256];
    module_desc(t, desc, sizeof desc);
    if (qualify)
      diag_error(loc, "unknown %s '%s': it is defined in %s, which this file does not import; add 'import %s' and "
                      "write '%s.%s'", what, name, desc, t->name, t->name, name);
    else
      diag_error(loc, "unknown %s '%s': it is defined in %s, which this file does not import; add 'import %s'",
                 what, name, desc, t->name);
    done = true;
  }
  vec_free(&all);
  return done;
}

const char *sema_suggest(Sema *s, ModuleInfo *m, const char *name, const StrVec *names) {
  (void)s;
  StrVec cands = {0};
  VEC(const ScopeEntry *) from = {0};
  for (int i = 0; i < names->len; i++) {
    vec_push(&cands, names->data[i]);
    vec_push(&from, NULL);
  }
  for (int i = 0; i < m->scope.len; i++) {
    const ScopeEntry *e = &m->scope.data[i];
    for (int k = 0; e->module && k < e->module->scope.len; k++)
      if (is_definition(&e->module->scope.data[k])) {
        vec_push(&cands, e->module->scope.data[k].name);
        vec_push(&from, e);
      }
  }
  const char *sug = suggest_name(name, cands.data, cands.len), *out = NULL;
  for (int i = 0; sug && i < cands.len && !out; i++)
    if (cands.data[i] == sug) out = from.data[i] ? arena_printf(m->ast->arena, "%s.%s", from.data[i]->name, sug) : sug;
  vec_free(&cands);
  vec_free(&from);
  return out;
}

const char *sema_suggest_stdlib_fn(Sema *s, ModuleInfo *m, const char *name, const char **module) {
  ModVec all = {0};
  all_modules(s, &all);
  StrVec cands = {0};
  ModVec from = {0};
  for (int i = 0; i < all.len; i++)
    for (int k = 0; all.data[i]->in_stdlib && k < all.data[i]->scope.len; k++) {
      const ScopeEntry *e = &all.data[i]->scope.data[k];
      if (e->item && e->item->kind == IT_FN) {
        vec_push(&cands, e->name);
        vec_push(&from, all.data[i]);
      }
    }
  const char *sug = suggest_name(name, cands.data, cands.len);
  *module = NULL;
  for (int i = 0; sug && i < cands.len; i++)
    if (cands.data[i] == sug) {
      *module = import_of(m, from.data[i]) ? NULL : from.data[i]->name;
      break;
    }
  vec_free(&cands);
  vec_free(&from);
  vec_free(&all);
  return sug;
}

bool sema_reaches(Sema *s, ModuleInfo *m, const char *name) {
  (void)s;
  const ScopeEntry *e = scope_lookup(m, name);
  if (e && e->item) return true;
  for (int i = 0; i < m->scope.len; i++)
    if (m->scope.data[i].module && is_definition(scope_lookup(m->scope.data[i].module, name))) return true;
  return false;
}

void sema_free(Sema *s) {
  for (int i = 0; i < file_ids.len;) {
    bool mine = false;
    for (int k = 0; k < s->modules.len; k++) mine |= file_ids.data[i].m == s->modules.data[k];
    if (mine) file_ids.data[i] = file_ids.data[--file_ids.len];
    else i++;
  }
  if (file_ids.len == 0) vec_free(&file_ids);
  for (int i = 0; i < s->modules.len; i++) {
    module_free(s->modules.data[i]->ast);
    vec_free(&s->modules.data[i]->scope);
    vec_free(&s->modules.data[i]->not_imported);
    free(s->modules.data[i]);
  }
  vec_free(&s->modules);
  for (int i = 0; i < s->peeked.len; i++) {
    module_free(s->peeked.data[i]->ast);
    vec_free(&s->peeked.data[i]->scope);
    free(s->peeked.data[i]);
  }
  vec_free(&s->peeked);
}
