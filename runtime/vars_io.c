/* vars_io.c — the variable arena as a checkpoint file: the driver's --save
 * (astrt_vars_save) and --init-from (astrt_vars_load), in the safetensors
 * format (safetensors.c).
 *
 * A saved file holds every variable of the descriptor, in its order, as an
 * F32 tensor with the variable's name and shape: parameters ("dense_1.w",
 * "dense_1.b"), state such as batch-norm running statistics, and optimizer
 * slots ("dense_1.w.momentum"). Tensors keep astc's layouts: a dense weight
 * is [in, out] (x W + b; PyTorch's nn.Linear.weight is its transpose,
 * [out, in]), a convolution filter [O, C, KH, KW] (as PyTorch's). The
 * metadata holds
 *   astc.program  the model's name        astc.step   optimizer steps done
 *   astc.source   its .train file         astc.epoch  complete epochs done
 *   astc.seed     the run's seed
 * as decimal strings. Two runs with the same program, options and seed write
 * byte-identical files.
 *
 * Weight averaging (astc's `average` pass) with save: true
 * (astrt_program.save_average): once an average has been taken (the
 * counter average_count is positive), each parameter's tensor holds its
 * running average instead of its trained value (the average's own tensor,
 * "dense_1.w.ema", holds it too), so a file loaded with --init-from or --load
 * is the averaged model. The trained values themselves are in checkpoints.
 *
 * Loading matches tensors to variables by name. Each tensor must be F32 and
 * have exactly its variable's shape; a tensor that names no variable is an
 * error; variables the file lacks keep their initial values. Everything is
 * checked before any variable is overwritten.
 */
#include "driver_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *model_name(const astrt_program *p) {
  return p->name && *p->name ? p->name : "the model";
}

/* "[2, 3]" ("[]" for rank 0). */
static void fmt_shape(int rank, const int64_t *dims, char *buf, size_t cap) {
  size_t len = (size_t)snprintf(buf, cap, "[");
  for (int d = 0; d < rank && len < cap; d++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? ", " : "", (long long)dims[d]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ---- saving ------------------------------------------------------------- */

astrt_status astrt_vars_save_check(const char *path) {
  struct stat sb;
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
    return astrt_fail(ASTRT_ERR_IO, "cannot save the variables to %s: it exists and is not "
                      "a regular file; choose another path to save to", path);
  const char *slash = strrchr(path, '/');
  char *dir = slash == path ? strdup("/") : slash ? strndup(path, (size_t)(slash - path))
                                                  : strdup(".");
  if (!dir) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory checking the save path %s", path);
  astrt_status st = ASTRT_OK;
  errno = 0;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(dir, W_OK | X_OK) != 0)
    st = astrt_fail(ASTRT_ERR_IO, "cannot save the variables to %s: directory %s: %s; "
                    "create it or choose another path to save to", path, dir,
                    errno ? strerror(errno) : "not a directory");
  free(dir);
  return st;
}

/* save_average: each parameter's tensor t[o] points at its running average,
 * once one has been taken */
static void average_in_place(const astrt_program *p, const void *vars, astrt_st_tensor *t) {
  if (!p->save_average || p->average_count < 0 || (uint32_t)p->average_count >= p->nvars) return;
  const float *count = (const float *)((const char *)vars + p->vars[p->average_count].offset);
  if (!(count[0] > 0)) return;
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_var_desc *v = &p->vars[i];
    if (v->kind != ASTRT_VAR_AVERAGE || v->owner < 0 || (uint32_t)v->owner >= p->nvars) continue;
    if (p->vars[v->owner].numel == v->numel) t[v->owner].data = (const char *)vars + v->offset;
  }
}

astrt_status astrt_vars_save(const astrt_program *p, const void *vars, const char *path,
                             const astrt_save_info *info) {
  astrt_st_tensor *t = calloc(p->nvars > 0 ? p->nvars : 1, sizeof *t);
  if (!t) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory saving the variables to %s", path);
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_var_desc *v = &p->vars[i];
    t[i].name = v->name;
    t[i].dtype = ASTRT_ST_F32;
    t[i].rank = v->rank;
    for (int d = 0; d < v->rank && d < ASTRT_MAX_RANK; d++) t[i].dims[d] = v->dims[d];
    t[i].data = (const char *)vars + v->offset;
    if (!v->name || !*v->name) {
      free(t);
      return astrt_fail(ASTRT_ERR_FORMAT, "cannot save the variables to %s: variable %u has "
                        "no name; recompile the program with astc", path, i);
    }
  }
  average_in_place(p, vars, t);
  char step[32], epoch[32], seed[32];
  snprintf(step, sizeof step, "%lld", (long long)info->step);
  snprintf(epoch, sizeof epoch, "%lld", (long long)info->epoch);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)info->seed);
  const char *const keys[] = {"astc.program", "astc.source", "astc.step", "astc.epoch",
                              "astc.seed"};
  const char *const values[] = {p->name ? p->name : "", p->source ? p->source : "", step,
                                epoch, seed};
  astrt_status st = astrt_safetensors_write(path, t, (int)p->nvars, keys, values, 5);
  free(t);
  return st;
}

/* ---- loading ------------------------------------------------------------ */

static const astrt_var_desc *find_var(const astrt_program *p, const char *name) {
  for (uint32_t i = 0; i < p->nvars; i++)
    if (p->vars[i].name && strcmp(p->vars[i].name, name) == 0) return &p->vars[i];
  return NULL;
}

/* Appends s to buf (capacity cap, length *len), or "..." once it is full. */
static void append(char *buf, size_t cap, size_t *len, const char *s) {
  if (*len >= cap) return;
  size_t n = strlen(s);
  if (*len + n + 4 >= cap) {
    *len += (size_t)snprintf(buf + *len, cap - *len, "...");
    *len = cap;
    return;
  }
  memcpy(buf + *len, s, n + 1);
  *len += n;
}

/* The error for tensors that are no variables of the program. */
static astrt_status unknown_tensors(const astrt_program *p, const astrt_st_file *f,
                                    const char *path, int count) {
  char names[320] = "", vars[320] = "";
  size_t nlen = 0, vlen = 0;
  int listed = 0;
  for (int i = 0; i < f->ntensors; i++) {
    if (find_var(p, f->tensors[i].name)) continue;
    if (listed++) append(names, sizeof names, &nlen, ", ");
    append(names, sizeof names, &nlen, f->tensors[i].name);
  }
  for (uint32_t i = 0; i < p->nvars; i++) {
    if (i) append(vars, sizeof vars, &vlen, ", ");
    append(vars, sizeof vars, &vlen, p->vars[i].name ? p->vars[i].name : "?");
  }
  return astrt_fail(ASTRT_ERR_MISMATCH,
                    "%s: %d tensor%s %s not variable%s of %s: %s; the file was saved from "
                    "another program (its variables: %s)", path, count, count == 1 ? "" : "s",
                    count == 1 ? "is" : "are", count == 1 ? "" : "s", model_name(p), names,
                    p->nvars ? vars : "none");
}

/* Checks tensor t against variable v. */
static astrt_status check_match(const astrt_program *p, const astrt_var_desc *v,
                                const astrt_st_tensor *t, const char *path) {
  if (t->dtype != ASTRT_ST_F32)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s: tensor '%s' is %s, but variables are F32; "
                      "convert it to F32 before using the file with --init-from", path,
                      t->name, astrt_st_dtype_name(t->dtype));
  int same = t->rank == v->rank;
  for (int d = 0; same && d < v->rank; d++) same = t->dims[d] == v->dims[d];
  if (same) return ASTRT_OK;
  char fs[160], vs[160];
  fmt_shape(t->rank, t->dims, fs, sizeof fs);
  fmt_shape(v->rank, v->dims, vs, sizeof vs);
  return astrt_fail(ASTRT_ERR_MISMATCH,
                    "%s: tensor '%s' has shape %s but variable %s of %s has shape %s; shapes "
                    "must match exactly (astc keeps dense weights as [in, out], the transpose "
                    "of PyTorch's nn.Linear weight)", path, t->name, fs, v->name,
                    model_name(p), vs);
}

astrt_status astrt_vars_load(const astrt_program *p, void *vars, const char *path,
                             int64_t *loaded) {
  return astrt_vars_load_step(p, vars, path, loaded, NULL);
}

/* "astc.step" as a count of steps, or -1 if absent or malformed */
static int64_t meta_step(const astrt_st_file *f) {
  const char *v = astrt_st_meta(f, "astc.step");
  if (!v || !*v) return -1;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  return errno || *end || n < 0 ? -1 : (int64_t)n;
}

astrt_status astrt_vars_load_step(const astrt_program *p, void *vars, const char *path,
                                  int64_t *loaded, int64_t *step) {
  *loaded = 0;
  if (step) *step = -1;
  astrt_st_file f;
  astrt_status st = astrt_safetensors_read(path, &f);
  if (st) return st;
  int unknown = 0;
  for (int i = 0; i < f.ntensors; i++) unknown += find_var(p, f.tensors[i].name) == NULL;
  if (unknown) st = unknown_tensors(p, &f, path, unknown);
  for (uint32_t i = 0; !st && i < p->nvars; i++) {
    const astrt_st_tensor *t = p->vars[i].name ? astrt_st_find(&f, p->vars[i].name) : NULL;
    if (t) st = check_match(p, &p->vars[i], t, path);
  }
  for (uint32_t i = 0; !st && i < p->nvars; i++) {
    const astrt_var_desc *v = &p->vars[i];
    const astrt_st_tensor *t = v->name ? astrt_st_find(&f, v->name) : NULL;
    if (!t) continue;
    memcpy((char *)vars + v->offset, t->data, (size_t)v->numel * sizeof(float));
    ++*loaded;
  }
  if (!st && step) *step = meta_step(&f);
  astrt_st_file_free(&f);
  return st;
}
