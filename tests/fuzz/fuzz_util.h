/* fuzz_util.h — what the fuzz targets share: a private temporary directory
 * for the input file (the loaders and the compiler take paths) and writing
 * an input into it. Header-only: each target is one translation unit. */
#ifndef ASTC_FUZZ_UTIL_H
#define ASTC_FUZZ_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_MAX_FILES 4

static char fuzz_dir[4096];
static char *fuzz_files[FUZZ_MAX_FILES];
static int fuzz_nfiles;

static inline void fuzz_cleanup(void) {
  for (int i = 0; i < fuzz_nfiles; i++) {
    unlink(fuzz_files[i]);
    free(fuzz_files[i]);
  }
  fuzz_nfiles = 0;
  if (fuzz_dir[0]) rmdir(fuzz_dir);
  fuzz_dir[0] = 0;
}

/* The path of file `name` in this process's private directory (created on
 * first use under $TMPDIR or /tmp, removed at exit). */
static inline const char *fuzz_temp_path(const char *name) {
  if (!fuzz_dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/astc-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir)) {
      fprintf(stderr, "fuzz: cannot create %s: %s\n", fuzz_dir, strerror(errno));
      abort();
    }
    atexit(fuzz_cleanup);
  }
  if (fuzz_nfiles == FUZZ_MAX_FILES) abort();
  size_t n = strlen(fuzz_dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", fuzz_dir, name);
  fuzz_files[fuzz_nfiles++] = p;
  return p;
}

/* Replaces the file at path with data[0..size). */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
    abort();
  }
  while (size > 0) {
    ssize_t w = write(fd, data, size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
      abort();
    }
    data += w;
    size -= (size_t)w;
  }
  close(fd);
}

/* Reads every byte of a loaded array (n examples of its example size), so
 * that AddressSanitizer sees a buffer smaller than the array claims; aborts
 * on a shape the loaders promise never to return. */
#ifdef ASTRT_H
static inline unsigned fuzz_touch_array(const astrt_array *a) {
  int64_t per = astrt_array_example_size(a);
  if (per < 0 || a->n < 0 || a->rank < 0 || a->rank > ASTRT_MAX_RANK) abort();
  size_t esize = a->elem == ASTRT_ELEM_U8 ? 1 : 4;
  size_t bytes = (size_t)a->n * (size_t)per * esize;
  if (bytes > 0 && !a->data) abort();
  const volatile unsigned char *p = a->data;
  unsigned sum = 0;
  for (size_t i = 0; i < bytes; i++) sum += p[i];
  return sum;
}
#endif

#endif
