/* test_util.h — helpers shared by the compiler's unit tests: compiling a
 * program from a string, and running a JIT-compiled step by hand. (Helpers
 * that every unit test shares, compiler or runtime: test_fixtures.h.) */
#ifndef ASTC_TEST_UTIL_H
#define ASTC_TEST_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrt_program.h"
#include "codegen.h"
#include "driver.h"
#include "test_fixtures.h"

/* Writes `src` to $TMPDIR (or /tmp)/astc_test_PID_NAME.train; its path into
 * path. The caller removes it. */
static inline void tu_write_source(const char *src, const char *name, char *path, size_t cap) {
  const char *base = getenv("TMPDIR");
  snprintf(path, cap, "%s/astc_test_%d_%s.train", base && *base ? base : "/tmp", (int)getpid(), name);
  fx_write_text(path, src);
}

/* Compiles `src` (written to a temporary file named after `name`) with
 * options opt (NULL: the defaults). */
static inline bool tu_compile_with(const char *src, const char *name, const CompileOptions *opt,
                                   Compilation *comp) {
  char path[1024];
  tu_write_source(src, name, path, sizeof path);
  diag_reset();
  bool ok = compile_file(comp, path, opt);
  remove(path);
  return ok;
}

/* Compiles `src` (written to a temporary file named after `name`). */
static inline bool tu_compile(const char *src, const char *name, Compilation *comp) {
  return tu_compile_with(src, name, NULL, comp);
}

/* What compiling src prints (warnings: it must compile); the caller frees it. */
static inline char *tu_compile_messages(const char *src, const char *name) {
  char *msgs = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&msgs, &len);
  diag_set_stream(f);
  Compilation c;
  ck_assert_msg(tu_compile(src, name, &c), "%s does not compile", name);
  diag_set_stream(stderr);
  fclose(f);
  compilation_free(&c);
  src_reset();
  return msgs;
}

/* A JIT-compiled program with its variable and work arenas. */
typedef struct TuRun {
  Compilation comp;
  CgJit *jit;
  const astrt_program *d;
  float *vars;
  void *work;
} TuRun;

static inline void tu_run_init(TuRun *r, const char *src, const char *name) {
  memset(r, 0, sizeof *r);
  ck_assert_msg(tu_compile(src, name, &r->comp), "%s does not compile", name);
  r->jit = cg_jit_compile(r->comp.prog, &r->d);
  ck_assert_msg(r->jit, "%s: JIT failed", name);
  r->vars = aligned_alloc(64, (size_t)(r->d->var_bytes + 63) / 64 * 64);
  memset(r->vars, 0, (size_t)r->d->var_bytes);
  int64_t work = r->d->eval_work_bytes;
  for (uint32_t i = 0; i < r->d->nphases; i++)
    if (r->d->phases[i].work_bytes > work) work = r->d->phases[i].work_bytes;
  for (uint32_t i = 0; i < r->d->nphases; i++)  /* selective backprop's scoring graphs */
    if (r->d->phases[i].score && r->d->phases[i].score_work_bytes > work) work = r->d->phases[i].score_work_bytes;
  r->work = aligned_alloc(64, (size_t)(work + 63) / 64 * 64);
}

static inline void tu_run_free(TuRun *r) {
  free(r->vars);
  free(r->work);
  cg_jit_free(r->jit);
  compilation_free(&r->comp);
  src_reset();
}

static inline float *tu_var(TuRun *r, const char *name) {
  for (uint32_t v = 0; v < r->d->nvars; v++)
    if (!strcmp(r->d->vars[v].name, name)) return (float *)((char *)r->vars + r->d->vars[v].offset);
  ck_abort_msg("no variable %s", name);
  return NULL;
}

static inline int64_t tu_numel(TuRun *r, const char *name) {
  for (uint32_t v = 0; v < r->d->nvars; v++)
    if (!strcmp(r->d->vars[v].name, name)) return r->d->vars[v].numel;
  return 0;
}

/* Runs one step of phase k; returns the loss. */
static inline float tu_step(TuRun *r, int k, const float *x, const int32_t *y, int64_t rows, float lr,
                            int64_t step, float t) {
  float scalars[ASTRT_NUM_SCALARS] = {lr, (float)step, (float)rows, 1, t, 0, 1};
  float out[ASTRT_NUM_OUTPUTS] = {0};
  r->d->phases[k].step(r->vars, r->work, x, y, rows, scalars, out, 5);
  return out[ASTRT_OUT_LOSS];
}

#endif
