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

/* Finds `name`.train for an import in module m: the importing file's
 * directory, the include directories, $ASTC_PATH, then the stdlib. */
static ModuleInfo *resolve_import(Sema *s, ModuleInfo *m, const Item *imp, const Loading *up) {
  const char *stdlib = sema_stdlib_dir(s->opt);
  VEC(char *) dirs = {0};
  const char *from[] = {"the directory of the importing file", "an -I directory", "$ASTC_PATH"};
  VEC(int) why = {0};
  vec_push(&dirs, dir_of(m->path));
  vec_push(&why, 0);
  for (int i = 0; i < s->opt->ninclude; i++) {
    vec_push(&dirs, xstrdup(s->opt->include_dirs[i]));
    vec_push(&why, 1);
  }
  const char *env = getenv("ASTC_PATH");
  if (env && *env) {
    char *copy = xstrdup(env), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
      vec_push(&dirs, xstrdup(d));
      vec_push(&why, 2);
    }
    free(copy);
  }
  vec_push(&dirs, xstrdup(stdlib));
  vec_push(&why, 3);
  ModuleInfo *found = NULL;
  bool tried = false;
  for (int i = 0; i < dirs.len && !tried; i++) {
    /* "./name.train" is shown as "name.train" */
    char *path = strcmp(dirs.data[i], ".") == 0 ? xprintf("%s.train", imp->name)
                                                 : xprintf("%s/%s.train", dirs.data[i], imp->name);
    if (is_file(path)) {
      tried = true;
      bool in_stdlib = why.data[i] == 3;
      char *display = in_stdlib ? xprintf("stdlib/%s.train", imp->name) : xstrdup(path);
      found = find_loaded(s, path);
      if (found && found->state == 1) {
        Loading here = {m, imp, up};
        report_cycle(found, &here);
        found = NULL;
      } else if (!found) {
        found = load_file(s, path, display, imp->loc);
        if (found) {
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
    for (int i = 0; i < dirs.len; i++) list_modules(dirs.data[i], &cands, a);
    const char *sug = suggest_name(imp->name, cands.data, cands.len);
    if (sug)
      diag_error(imp->name_loc, "cannot find module '%s'; did you mean '%s'?", imp->name, sug);
    else
      diag_error(imp->name_loc, "cannot find module '%s': there is no %s.train on the import path",
                 imp->name, imp->name);
    /* the standard library is named, not printed: its path is the machine's */
    for (int i = 0; i < dirs.len; i++)
      if (why.data[i] == 3) diag_note(NO_LOC, "searched the standard library");
      else diag_note(NO_LOC, "searched '%s' (%s)", dirs.data[i], from[why.data[i]]);
    vec_free(&cands);
    arena_free(a);
  }
  for (int i = 0; i < dirs.len; i++) free(dirs.data[i]);
  vec_free(&dirs);
  vec_free(&why);
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
    free(s->modules.data[i]);
  }
  vec_free(&s->modules);
}
