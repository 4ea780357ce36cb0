/* install_paths.c — the runtime and standard library of an installed astc,
 * found relative to the executable (see install_paths.h). */
#include "install_paths.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The install layout, relative to the directory holding astc; set by
 * cmake/Install.cmake from GNUInstallDirs, these are its defaults. */
#ifndef ASTC_REL_RUNTIME_LIB
#define ASTC_REL_RUNTIME_LIB "../lib/libastrt.a"
#endif
#ifndef ASTC_REL_STDLIB
#define ASTC_REL_STDLIB "../share/astc/stdlib"
#endif

/* The build tree's archive and the source tree's stdlib (compiler/CMakeLists.txt). */
#ifndef ASTC_RUNTIME_LIB
#error "ASTC_RUNTIME_LIB must name the build tree's libastrt.a"
#endif

static char runtime_lib[PATH_MAX];
static char stdlib_dir[PATH_MAX];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Writes the canonical form of exe_dir/rel into out when it exists and is a
 * directory (want_dir) or a regular file; returns whether it did. */
static bool resolve(const char *exe_dir, const char *rel, bool want_dir, char *out) {
  char candidate[PATH_MAX];
  int n = snprintf(candidate, sizeof candidate, "%s/%s", exe_dir, rel);
  if (n < 0 || (size_t)n >= sizeof candidate) return false;
  char resolved[PATH_MAX];
  if (!realpath(candidate, resolved)) return false;
  struct stat st;
  if (stat(resolved, &st) != 0) return false;
  if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) return false;
  memcpy(out, resolved, strlen(resolved) + 1);
  return true;
}

static void find_paths(void) {
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  bool have_dir = false;
  if (len > 0) {
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      have_dir = true;
    }
  }
  if (!have_dir || !resolve(exe, ASTC_REL_RUNTIME_LIB, false, runtime_lib))
    snprintf(runtime_lib, sizeof runtime_lib, "%s", ASTC_RUNTIME_LIB);
  if (!have_dir || !resolve(exe, ASTC_REL_STDLIB, true, stdlib_dir))
    snprintf(stdlib_dir, sizeof stdlib_dir, "%s", ASTC_SOURCE_DIR "/stdlib");
}

const char *astc_runtime_lib_path(void) {
  pthread_once(&once, find_paths);
  return runtime_lib;
}

const char *astc_stdlib_path(void) {
  pthread_once(&once, find_paths);
  return stdlib_dir;
}
