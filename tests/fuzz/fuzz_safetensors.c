/* fuzz_safetensors.c — libFuzzer target: arbitrary bytes as a safetensors
 * file through astrt_safetensors_read. A file the reader accepts is checked
 * for what the reader promises (every tensor's bytes readable, lookups by
 * name and metadata key find each entry) and written back with
 * astrt_safetensors_write: the writer must accept whatever the reader
 * accepts, and reading its file must give the same tensors and metadata.
 * Everything is freed. (Set TMPDIR to a tmpfs such as /dev/shm: the writer
 * fsyncs.) */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "astrt.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t tensor_bytes(const astrt_st_tensor *t) {
  int64_t n = astrt_st_numel(t);
  if (n < 0) abort();
  return (size_t)n * astrt_st_dtype_size(t->dtype);
}

/* What the reader promises about a file it accepted. */
static void check_file(const astrt_st_file *f) {
  if (f->ntensors < 0 || f->nmeta < 0) abort();
  for (int i = 0; i < f->ntensors; i++) {
    const astrt_st_tensor *t = &f->tensors[i];
    if (!t->name || t->rank < 0 || t->rank > ASTRT_MAX_RANK || astrt_st_dtype_size(t->dtype) == 0)
      abort();
    size_t bytes = tensor_bytes(t);
    if (bytes > 0 && !t->data) abort();
    const volatile unsigned char *p = t->data;
    unsigned sum = 0;
    for (size_t k = 0; k < bytes; k++) sum += p[k];
    (void)sum;
    if (astrt_st_find(f, t->name) != t) abort();
  }
  for (int i = 0; i < f->nmeta; i++) {
    if (!f->meta_keys[i] || !f->meta_values[i]) abort();
    if (astrt_st_meta(f, f->meta_keys[i]) != f->meta_values[i]) abort();
  }
}

static bool same_tensor(const astrt_st_tensor *a, const astrt_st_tensor *b) {
  if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->rank != b->rank) return false;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return false;
  size_t n = tensor_bytes(a);
  return n == 0 || memcmp(a->data, b->data, n) == 0;
}

/* Writes f and reads it back; both must succeed with the same contents. */
static void round_trip(const astrt_st_file *f, const char *path) {
  if (astrt_safetensors_write(path, f->tensors, f->ntensors, (const char *const *)f->meta_keys,
                              (const char *const *)f->meta_values, f->nmeta) != ASTRT_OK) {
    fprintf(stderr, "fuzz_safetensors: the writer rejects what the reader accepted: %s\n",
            astrt_last_error());
    abort();
  }
  astrt_st_file g;
  if (astrt_safetensors_read(path, &g) != ASTRT_OK) {
    fprintf(stderr, "fuzz_safetensors: the reader rejects what the writer wrote: %s\n",
            astrt_last_error());
    abort();
  }
  bool same = g.ntensors == f->ntensors && g.nmeta == f->nmeta;
  for (int i = 0; same && i < f->ntensors; i++) same = same_tensor(&f->tensors[i], &g.tensors[i]);
  for (int i = 0; same && i < f->nmeta; i++)
    same = !strcmp(f->meta_keys[i], g.meta_keys[i]) && !strcmp(f->meta_values[i], g.meta_values[i]);
  astrt_st_file_free(&g);
  if (!same) {
    fprintf(stderr, "fuzz_safetensors: reading back the written file gives other contents\n");
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *in, *out;
  if (!in) {
    in = fuzz_temp_path("input.safetensors");
    out = fuzz_temp_path("copy.safetensors");
  }
  fuzz_write_file(in, data, size);
  astrt_st_file f;
  if (astrt_safetensors_read(in, &f) == ASTRT_OK) {
    check_file(&f);
    round_trip(&f, out);
  }
  astrt_st_file_free(&f);
  return 0;
}
