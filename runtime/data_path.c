/* data_path.c — finding a data set by name (astrt_find_dataset): each
 * directory of $ASTC_DATA_PATH, then /usr/share/datasets; and the Debian
 * packages that install the known data sets (for error messages).
 */
#include "astrt.h"
#include "data_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYSTEM_DATA_DIR "/usr/share/datasets"

static const struct {
  const char *name;
  const char *package;
} known_sets[] = {
    {"fashion-mnist", "dataset-fashion-mnist"},
    {"mnist", "dataset-mnist"},
};

const char *astrt_data_package(const char *name) {
  for (size_t i = 0; i < sizeof known_sets / sizeof known_sets[0]; i++)
    if (strcmp(name, known_sets[i].name) == 0) return known_sets[i].package;
  return NULL;
}

void astrt_data_fix_hint(const char *path, char *buf, size_t cap) {
  const char *slash = strrchr(path, '/');
  const char *package = NULL;
  if (slash && slash > path) {
    const char *start = slash;
    while (start > path && start[-1] != '/') start--;
    char dir[64];
    size_t len = (size_t)(slash - start);
    if (len < sizeof dir) {
      memcpy(dir, start, len);
      dir[len] = '\0';
      package = astrt_data_package(dir);
    }
  }
  if (package)
    snprintf(buf, cap, "re-download or reinstall %s", package);
  else
    snprintf(buf, cap, "re-download or re-create the file");
}

/* ---- search ------------------------------------------------------------- */

/* Appends "dir" (len bytes) to the comma-separated list `list` of size
 * cap; once an entry does not fit, the list ends with "..." instead. */
static void note_searched(char *list, size_t cap, const char *dir,
                          size_t len) {
  size_t used = strlen(list);
  if (used >= 3 && strcmp(list + used - 3, "...") == 0) return;
  const char *sep = used ? ", " : "";
  if (used + strlen(sep) + len + 6 > cap)  /* keep room for ", ..." */
    snprintf(list + used, cap - used, "%s...", sep);
  else
    snprintf(list + used, cap - used, "%s%.*s", sep, (int)len, dir);
}

/* Tries dir/name (dir is len bytes, trailing slashes ignored). Returns 1 if
 * found (writing the path or setting *st on overflow), else 0. */
static int try_dir(const char *dir, size_t len, const char *name, char *out,
                   size_t cap, astrt_status *st) {
  while (len > 1 && dir[len - 1] == '/') len--;
  char path[PATH_MAX];
  int w = snprintf(path, sizeof path, "%.*s/%s", (int)len, dir, name);
  struct stat sb;
  if (w < 0 || (size_t)w >= sizeof path || stat(path, &sb) != 0 ||
      !S_ISDIR(sb.st_mode))
    return 0;
  if ((size_t)w >= cap) {
    *st = astrt_fail(ASTRT_ERR_ARG,
                     "data set '%s' found at %s, but the path does not fit "
                     "in the %zu-byte buffer given",
                     name, path, cap);
    return 1;
  }
  memcpy(out, path, (size_t)w + 1);
  *st = ASTRT_OK;
  return 1;
}

static astrt_status not_found(const char *name, const char *searched,
                              int env_set) {
  const char *package = astrt_data_package(name);
  char hint[256];
  if (package)
    snprintf(hint, sizeof hint, "install it with: apt-get install %s",
             package);
  else
    snprintf(hint, sizeof hint,
             "put a directory named %s in one of them, or add the directory "
             "that holds it to ASTC_DATA_PATH (colon-separated)",
             name);
  return astrt_fail(ASTRT_ERR_NOTFOUND,
                    "data set '%s' not found; searched %s%s%s%s; %s", name,
                    searched, *searched ? ", " : "", SYSTEM_DATA_DIR,
                    env_set ? "" : " (ASTC_DATA_PATH is not set)", hint);
}

static astrt_status check_name(const char *name) {
  if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
      strcmp(name, "..") == 0)
    return astrt_fail(ASTRT_ERR_ARG,
                      "data set name '%s' is not a directory name (expected "
                      "e.g. \"fashion-mnist\")",
                      name ? name : "(null)");
  return ASTRT_OK;
}

astrt_status astrt_find_dataset(const char *name, char *out, size_t cap) {
  astrt_status st = check_name(name);
  if (st) return st;
  char searched[512] = "";
  const char *env = getenv("ASTC_DATA_PATH");
  for (const char *p = env; p && *p;) {
    size_t len = strcspn(p, ":");
    if (len > 0) {
      if (try_dir(p, len, name, out, cap, &st)) return st;
      note_searched(searched, sizeof searched, p, len);
    }
    p += len + (p[len] == ':');
  }
  if (try_dir(SYSTEM_DATA_DIR, strlen(SYSTEM_DATA_DIR), name, out, cap, &st))
    return st;
  return not_found(name, searched, env != NULL);
}
