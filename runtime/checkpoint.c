/* checkpoint.c — training checkpoints: everything a run needs to continue
 * exactly where it stopped, in safetensors files.
 *
 * A checkpoint is DIR/ckpt-<step>.safetensors holding every variable
 * (parameters, state such as batch-norm statistics, optimizer slots) as F32
 * tensors under their program names — so other tools can read the weights —
 * and, as metadata, the position of the run: step, epoch, position in the
 * epoch's data order, samples seen, the seed (data order, dropout and
 * initialisation are pure functions of the seed and these counters, so they
 * are the whole RNG state), the budget, the loss-scaling state, timings and
 * the best accuracy and test loss so far, the length of the metrics file, and a program
 * fingerprint. (Sequence data draws its training windows as a function of
 * the seed and the sample number, so those are its whole RNG state too.) A
 * CRC-32 over the metadata and the tensor bytes catches corruption the
 * format checks cannot (format 2; format 1, written before, covered the
 * tensor bytes only and is still read). The caller checks that the position
 * is one the run can reach (astrt_checkpoint_restore's `check`).
 *
 * Files are written atomically (safetensors.c: temporary file, fsync,
 * rename, directory fsync); the newest two are kept, and resuming takes the
 * newest that reads and checks cleanly, reporting any it had to skip.
 */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define KEEP 2

/* ---- the program's fingerprint -------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* variables (names, shapes), phases (ranges, batches) and the budget: what a
 * checkpoint must match to continue the same run */
uint64_t astrt_program_fingerprint(const astrt_program *p) {
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv(h, &p->nvars, sizeof p->nvars);
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_var_desc *v = &p->vars[i];
    if (v->name) h = fnv(h, v->name, strlen(v->name));
    h = fnv(h, &v->rank, sizeof v->rank);
    h = fnv(h, v->dims, sizeof(int64_t) * (size_t)(v->rank > 0 ? v->rank : 0));
  }
  for (uint32_t i = 0; i < p->nphases; i++) {
    h = fnv(h, &p->phases[i].t_begin, sizeof(double));
    h = fnv(h, &p->phases[i].batch, sizeof(int64_t));
    if (p->phases[i].context > 0) {  /* only then: older programs keep their fingerprints */
      h = fnv(h, &p->phases[i].context, sizeof(int64_t));
      h = fnv(h, &p->phases[i].pieces, sizeof(int64_t));
    }
    if (p->phases[i].score) {  /* selective backprop: what the steps train on */
      h = fnv(h, &p->phases[i].keep, sizeof(double));
      h = fnv(h, &p->phases[i].beta, sizeof(double));
      h = fnv(h, &p->phases[i].interrupt, sizeof(int64_t));
    }
  }
  h = fnv(h, &p->batch, sizeof p->batch);
  return h;
}

/* ---- writing ------------------------------------------------------------ */

/* The checkpoint format astc writes: 2, whose CRC covers the metadata too;
 * 1 (tensor bytes only) is still read. */
#define FORMAT 2

/* crc continued over the variables' bytes, in descriptor order (the order
 * of the file's data) */
static uint32_t data_crc(uLong c, const astrt_program *p, const void *vars) {
  for (uint32_t i = 0; i < p->nvars; i++) {
    const unsigned char *d = (const unsigned char *)vars + p->vars[i].offset;
    size_t n = (size_t)p->vars[i].numel * sizeof(float);
    while (n > 0) {
      uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
      c = crc32(c, d, chunk);
      d += chunk;
      n -= chunk;
    }
  }
  return (uint32_t)c;
}

#define FIELDS(X)                                                                         \
  X(step, "%" PRId64, int64_t) X(epoch, "%" PRId64, int64_t) X(pos, "%" PRId64, int64_t)  \
  X(samples, "%" PRId64, int64_t) X(total_samples, "%" PRId64, int64_t)                   \
  X(clean_steps, "%" PRId64, int64_t) X(skipped_steps, "%" PRId64, int64_t)               \
  X(epoch_rows, "%" PRId64, int64_t) X(evals, "%" PRId64, int64_t)                        \
  X(metrics_bytes, "%" PRId64, int64_t) X(threads, "%" PRId64, int64_t)                   \
  X(ranks, "%" PRId64, int64_t)                                                            \
  X(train_seconds, "%.17g", double) X(eval_seconds, "%.17g", double)                      \
  X(cache_seconds, "%.17g", double) X(epoch_loss, "%.17g", double)                        \
  X(loss_scale, "%.17g", double) X(best_acc, "%.17g", double)                             \
  X(final_acc, "%.17g", double) X(final_loss, "%.17g", double)                            \
  X(final_train_loss, "%.17g", double) X(time_to_target, "%.17g", double)

#define COUNT(name, fmt, type) +1
enum { NFIELDS = 0 FIELDS(COUNT) };

static void ckpt_path(const char *dir, int64_t step, char *out, size_t cap) {
  snprintf(out, cap, "%s/ckpt-%012" PRId64 ".safetensors", dir, step);
}

static int64_t step_of(const char *name) {
  int64_t step;
  char tail[32];
  if (sscanf(name, "ckpt-%" SCNd64 ".%31s", &step, tail) == 2 && !strcmp(tail, "safetensors") && step >= 0)
    return step;
  return -1;
}

static int key_order(const void *a, const void *b) {
  return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* CRC-32 of the metadata entries other than astc.crc32, in byte order of
 * their keys: each key, a NUL, its value, a NUL (docs/checkpoints.md) */
static astrt_status meta_crc(const char *const *keys, const char *const *values, int n, uLong *out) {
  const char *const **order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
  if (!order) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory checking a checkpoint");
  int m = 0;
  for (int i = 0; i < n; i++)
    if (strcmp(keys[i], "astc.crc32") != 0) order[m++] = &keys[i];
  qsort(order, (size_t)m, sizeof *order, key_order);
  uLong c = crc32(0L, Z_NULL, 0);
  for (int i = 0; i < m; i++) {
    const char *k = *order[i], *v = values[order[i] - keys];
    c = crc32(c, (const Bytef *)k, (uInt)strlen(k) + 1);
    c = crc32(c, (const Bytef *)v, (uInt)strlen(v) + 1);
  }
  free(order);
  *out = c;
  return ASTRT_OK;
}

/* the checkpoint files in dir, newest first; *n gets their count */
static int64_t *list_steps(const char *dir, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  int cap = 8;
  int64_t *steps = malloc(sizeof(int64_t) * (size_t)cap);
  struct dirent *e;
  while (steps && (e = readdir(d))) {
    int64_t s = step_of(e->d_name);
    if (s < 0) continue;
    if (*n == cap) {
      cap *= 2;
      int64_t *grown = realloc(steps, sizeof(int64_t) * (size_t)cap);
      if (!grown) break;
      steps = grown;
    }
    steps[(*n)++] = s;
  }
  closedir(d);
  for (int i = 1; i < *n; i++)
    for (int k = i; k > 0 && steps[k] > steps[k - 1]; k--) {
      int64_t t = steps[k];
      steps[k] = steps[k - 1];
      steps[k - 1] = t;
    }
  return steps;
}

int astrt_checkpoint_count(const char *dir) {
  int n;
  free(list_steps(dir, &n));
  return n;
}

astrt_status astrt_checkpoint_unused(const char *dir) {
  int n;
  int64_t *steps = list_steps(dir, &n);
  int64_t newest = steps && n > 0 ? steps[0] : -1;
  free(steps);
  if (n <= 0) return ASTRT_OK;
  char path[4096];
  ckpt_path(dir, newest, path, sizeof path);
  return astrt_fail(ASTRT_ERR_MISMATCH,
                    "the checkpoint directory %s already holds %d checkpoint%s of an earlier run (the newest: %s); "
                    "continue that run with --resume, or give this one another directory (or remove them)",
                    dir, n, n == 1 ? "" : "s", path);
}

astrt_status astrt_checkpoint_prepare(const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno != ENOENT || mkdir(dir, 0755) != 0)
      return astrt_fail(ASTRT_ERR_IO, "cannot create the checkpoint directory %s: %s", dir, strerror(errno));
  } else if (!S_ISDIR(st.st_mode)) {
    return astrt_fail(ASTRT_ERR_IO, "the checkpoint path %s exists and is not a directory", dir);
  }
  if (access(dir, W_OK) != 0)
    return astrt_fail(ASTRT_ERR_IO, "the checkpoint directory %s is not writable: %s", dir, strerror(errno));
  /* temporary files of writes that were killed midway (ckpt-N.safetensors.tmp.PID) */
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (!strncmp(e->d_name, "ckpt-", 5) && strstr(e->d_name, ".safetensors.tmp.")) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      remove(path);
    }
  if (d) closedir(d);
  return ASTRT_OK;
}

astrt_status astrt_checkpoint_write(const char *dir, const astrt_program *p, const void *vars,
                                    const astrt_ckpt_state *s) {
  astrt_st_tensor *t = calloc(p->nvars > 0 ? p->nvars : 1, sizeof *t);
  if (!t) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory writing a checkpoint to %s", dir);
  for (uint32_t i = 0; i < p->nvars; i++) {
    t[i].name = p->vars[i].name;
    t[i].dtype = ASTRT_ST_F32;
    t[i].rank = p->vars[i].rank;
    for (int d = 0; d < p->vars[i].rank && d < ASTRT_MAX_RANK; d++) t[i].dims[d] = p->vars[i].dims[d];
    t[i].data = (const char *)vars + p->vars[i].offset;
  }
  enum { EXTRA = 8 };
  char vals[NFIELDS + EXTRA][40];
  const char *keys[NFIELDS + EXTRA], *values[NFIELDS + EXTRA];
  int k = 0;
#define PUT(name, fmt, type)                                                    \
  snprintf(vals[k], sizeof vals[k], fmt, (type)s->name);                        \
  keys[k] = "astc." #name;                                                      \
  values[k] = vals[k];                                                          \
  k++;
  FIELDS(PUT)
#undef PUT
  snprintf(vals[k], sizeof vals[k], "%" PRIu64, s->seed);
  keys[k] = "astc.seed", values[k] = vals[k], k++;
  snprintf(vals[k], sizeof vals[k], "%.17g", s->best_loss);  /* optional when read: older files lack it */
  keys[k] = "astc.best_loss", values[k] = vals[k], k++;
  snprintf(vals[k], sizeof vals[k], "%016" PRIx64, astrt_program_fingerprint(p));
  keys[k] = "astc.fingerprint", values[k] = vals[k], k++;
  snprintf(vals[k], sizeof vals[k], "%d", FORMAT);
  keys[k] = "astc.checkpoint", values[k] = vals[k], k++;
  keys[k] = "astc.program", values[k] = p->name ? p->name : "", k++;
  keys[k] = "astc.source", values[k] = p->source ? p->source : "", k++;
  snprintf(vals[k], sizeof vals[k], "%016" PRIx64, p->program_hash);  /* optional when read: older files lack it */
  keys[k] = "astc.program_hash", values[k] = vals[k], k++;
  uLong mc = 0;  /* set by meta_crc on success (GCC -O3 cannot see it: -Wmaybe-uninitialized) */
  astrt_status st = meta_crc(keys, values, k, &mc);  /* the CRC covers everything above */
  if (st) {
    free(t);
    return st;
  }
  snprintf(vals[k], sizeof vals[k], "%08" PRIx32, data_crc(mc, p, vars));
  keys[k] = "astc.crc32", values[k] = vals[k], k++;
  char path[4096];
  ckpt_path(dir, s->step, path, sizeof path);
  st = astrt_safetensors_write(path, t, (int)p->nvars, keys, values, k);
  free(t);
  if (st) {  /* a full disk, say: what was there is still there */
    char why[1024];
    snprintf(why, sizeof why, "%s", astrt_last_error());
    int n = astrt_checkpoint_count(dir);
    return astrt_fail(st, "the checkpoint of step %" PRId64 " was not written: %s; %s", s->step, why,
                      n > 0 ? "the checkpoints already there are intact, and --resume continues from the newest"
                            : "no earlier checkpoint exists");
  }
  /* keep the newest KEEP */
  int n;
  int64_t *steps = list_steps(dir, &n);
  for (int i = KEEP; steps && i < n; i++) {
    ckpt_path(dir, steps[i], path, sizeof path);
    remove(path);
  }
  free(steps);
  return ASTRT_OK;
}

/* ---- reading ------------------------------------------------------------ */

static astrt_status meta(const astrt_st_file *f, const char *path, const char *key, const char **out) {
  *out = astrt_st_meta(f, key);
  if (!*out)
    return astrt_fail(ASTRT_ERR_FORMAT, "%s is not an astc checkpoint (no %s in its metadata)", path, key);
  return ASTRT_OK;
}

/* Whether the checkpoint was written by program p: the fingerprint (its
 * variables, phases and batch) and, where both the file and p have one, the
 * hash of what it computes (model, optimizer, schedule, budget) agree. */
static astrt_status same_program(const astrt_st_file *f, const char *path, const astrt_program *p) {
  const char *v = astrt_st_meta(f, "astc.fingerprint");
  char fp[32];
  snprintf(fp, sizeof fp, "%016" PRIx64, astrt_program_fingerprint(p));
  if (v && strcmp(v, fp) != 0)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s was written by a different program (its variables, phases or batch "
                      "differ); resume with the program that wrote it, or start over in another directory", path);
  v = astrt_st_meta(f, "astc.program_hash");
  snprintf(fp, sizeof fp, "%016" PRIx64, p->program_hash);
  if (v && p->program_hash && strcmp(v, "0000000000000000") != 0 && strcmp(v, fp) != 0)
    return astrt_fail(ASTRT_ERR_MISMATCH, "%s was written by a different program (its model, optimizer, "
                      "learning-rate schedule, speedups or budget differ: this program's hash is %s, the "
                      "checkpoint's %.16s); resume with the program that wrote it, or start over in another "
                      "directory", path, fp, v);
  return ASTRT_OK;
}

/* reads, checks and applies one checkpoint file: its format, variables and
 * checksum before anything its metadata says (except to say that a file
 * whose variables do not fit is another program's, when it says so) */
static astrt_status restore_file(const char *path, const astrt_program *p, void *vars, astrt_ckpt_state *s) {
  astrt_st_file f;
  astrt_status st = astrt_safetensors_read(path, &f);
  if (st) return st;
  const char *v, *crc;
  if ((st = meta(&f, path, "astc.checkpoint", &v))) goto done;
  int format = strcmp(v, "1") == 0 ? 1 : strcmp(v, "2") == 0 ? 2 : 0;
  if (!format) {
    st = astrt_fail(ASTRT_ERR_FORMAT, "%s is a checkpoint of format '%.20s', which this astc does not read (it "
                    "reads formats 1 and 2); resume it with the astc that wrote it", path, v);
    goto done;
  }
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_st_tensor *t = astrt_st_find(&f, p->vars[i].name);
    if (!t || t->dtype != ASTRT_ST_F32 || astrt_st_numel(t) != p->vars[i].numel) {
      if ((st = same_program(&f, path, p))) goto done;
      st = astrt_fail(ASTRT_ERR_FORMAT, "%s: variable %s is missing or has the wrong shape", path, p->vars[i].name);
      goto done;
    }
  }
  /* copy into the caller's scratch arena: a bad checksum changes nothing */
  if ((st = meta(&f, path, "astc.crc32", &crc))) goto done;
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_st_tensor *t = astrt_st_find(&f, p->vars[i].name);
    memcpy((char *)vars + p->vars[i].offset, t->data, (size_t)p->vars[i].numel * sizeof(float));
  }
  uLong c = crc32(0L, Z_NULL, 0);
  if (format >= 2 && (st = meta_crc((const char *const *)f.meta_keys, (const char *const *)f.meta_values, f.nmeta,
                                    &c)))
    goto done;
  char got[16];
  snprintf(got, sizeof got, "%08" PRIx32, data_crc(c, p, vars));
  if (strcmp(got, crc) != 0) {
    st = astrt_fail(ASTRT_ERR_FORMAT, "%s is corrupt: the checksum of its %s is %s, the file says %s", path,
                    format >= 2 ? "metadata and data" : "data", got, crc);
    goto done;
  }
  if ((st = meta(&f, path, "astc.fingerprint", &v))) goto done;
  if ((st = same_program(&f, path, p))) goto done;
#define GET(name, fmt, type)                                                                   \
  if (!st && !(st = meta(&f, path, "astc." #name, &v))) {                                      \
    char *end;                                                                                 \
    s->name = (type)strtod(v, &end);                                                           \
    if (*end || end == v) st = astrt_fail(ASTRT_ERR_FORMAT, "%s: astc.%s is not a number", path, #name); \
  }
  FIELDS(GET)
#undef GET
  if (!st && !(st = meta(&f, path, "astc.seed", &v))) s->seed = strtoull(v, NULL, 10);
  if (st) goto done;
  v = astrt_st_meta(&f, "astc.best_loss");
  s->best_loss = v ? strtod(v, NULL) : NAN;
done:
  astrt_st_file_free(&f);
  return st;
}

astrt_status astrt_checkpoint_restore(const char *dir, const astrt_program *p, void *vars, int64_t var_bytes,
                                      astrt_ckpt_state *s, char *used, size_t used_cap, astrt_ckpt_check check,
                                      void *ctx) {
  int n;
  int64_t *steps = list_steps(dir, &n);
  if (!steps || n == 0) {
    free(steps);
    return astrt_fail(ASTRT_ERR_NOTFOUND, "no checkpoint in %s", dir);
  }
  void *scratch = malloc((size_t)var_bytes > 0 ? (size_t)var_bytes : 1);
  if (!scratch) {
    free(steps);
    return astrt_fail(ASTRT_ERR_NOMEM, "out of memory reading a checkpoint");
  }
  astrt_status st = ASTRT_ERR_NOTFOUND;
  char path[4096], first_error[1024] = "";
  for (int i = 0; i < n; i++) {
    ckpt_path(dir, steps[i], path, sizeof path);
    astrt_ckpt_state tmp;
    memset(&tmp, 0, sizeof tmp);
    memcpy(scratch, vars, (size_t)var_bytes);
    st = restore_file(path, p, scratch, &tmp);
    if (!st && check) st = check(ctx, &tmp, path);
    if (!st) {
      memcpy(vars, scratch, (size_t)var_bytes);
      *s = tmp;
      snprintf(used, used_cap, "%s", path);
      break;
    }
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", astrt_last_error());
    /* losing progress is worth a line even under --quiet */
    fprintf(stderr, "warning: skipping checkpoint %s: %s\n", path, astrt_last_error());
  }
  if (st) {
    /* a mismatch (another program) is not corruption: say that */
    st = astrt_fail(st, "--resume: no usable checkpoint in %s: %s", dir, first_error);
  }
  free(scratch);
  free(steps);
  return st;
}
