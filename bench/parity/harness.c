/* harness.c — runs a compiled training step on given weights and batches, for
 * the numerical parity check against PyTorch (bench/parity/parity.py).
 *
 *   astc build MODEL.train --emit=obj --no-main -o model.o
 *   cc -O2 -I runtime bench/parity/harness.c model.o libastrt.a \
 *      -L/usr/lib/x86_64-linux-gnu/openblas-pthread/ -lopenblas -lz -lmvec -lm -lpthread
 *   harness DIR STEPS LR
 *
 * Reads DIR/<var>.npy (float32, astc layout) for every parameter of the
 * program (optimizer slots start at zero; state variables start at their
 * constant initialiser, or DIR/<var>.npy if present), then for k < STEPS
 * reads DIR/x_<k>.npy and DIR/y_<k>.npy and calls phases[0].step with the
 * scalars lr = LR (a constant learning rate, no schedule), step = k + 1,
 * rows, loss scale 1 and progress t = k / STEPS. The batch files follow the
 * program's data descriptor (astrt_abi.h, data.x_dtype / target /
 * target_size):
 *   x  float32 [rows, example...] (x_dtype f32), or int32 [rows, example...]
 *      token ids in [0, vocab) (x_dtype i32: text and token data)
 *   y  integer [rows] (a class label), integer [rows, target_size] (a label
 *      per position: sequence targets), or float32 [rows, target_size] (real)
 * Programs with several phases run phase 0 only; programs with a reused
 * frozen prefix or loss scaling are rejected. AdamW's step count is the
 * program's own variable adamw.step (an optimizer slot, starting at 0 like
 * every slot): the harness does not set it, and prints its final value.
 * Writes DIR/astc_loss.npy (float32 [STEPS], outputs[0] of each step) and
 * DIR/astc_<var>.npy for every parameter after the last step.
 *
 * BLAS threads: $HARNESS_THREADS (default 1).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrt.h"
#include "astrt_program.h"

extern const astrt_program astc_program;
void openblas_set_num_threads(int num_threads);

#define ALIGN 64

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "harness: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void *arena(int64_t bytes) {
  size_t size = ((size_t)(bytes > 0 ? bytes : 1) + ALIGN - 1) / ALIGN * ALIGN;
  void *p = aligned_alloc(ALIGN, size);
  if (!p) die("out of memory");
  memset(p, 0, size);
  return p;
}

static char *path_of(const char *dir, const char *prefix, const char *name) {
  size_t n = strlen(dir) + strlen(prefix) + strlen(name) + 8;
  char *s = malloc(n);
  snprintf(s, n, "%s/%s%s.npy", dir, prefix, name);
  return s;
}

static int64_t numel(const astrt_array *a) {
  return a->n * astrt_array_example_size(a);
}

/* Loads a float32 .npy file whose shape must be dims[0..rank). */
static void load_f32(const char *path, int rank, const int64_t *dims, float *dst) {
  astrt_array a;
  if (astrt_load_npy_array(path, &a)) die("%s", astrt_last_error());
  if (a.elem != ASTRT_ELEM_F32) die("%s: expected float32 data", path);
  int ok = rank >= 1 && a.rank == rank - 1 && a.n == dims[0];
  for (int i = 1; ok && i < rank; i++) ok = a.dims[i - 1] == dims[i];
  if (!ok) die("%s: the shape does not match the variable's", path);
  memcpy(dst, a.data, (size_t)numel(&a) * sizeof(float));
  astrt_array_free(&a);
}

/* NumPy .npy 1.0 writer: float32, C order. */
static void save_f32(const char *path, int rank, const int64_t *dims, const float *src) {
  char shape[256] = "", hdr[512];
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    size_t len = strlen(shape);
    snprintf(shape + len, sizeof shape - len, "%lld,%s", (long long)dims[i],
             i + 1 < rank ? " " : "");
    n *= dims[i];
  }
  int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
                     shape);
  int total = 10 + len + 1;               /* preamble + dict + '\n' */
  int pad = (ALIGN - total % ALIGN) % ALIGN;
  memset(hdr + len, ' ', (size_t)pad);
  hdr[len + pad] = '\n';
  len += pad + 1;
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write %s: %s", path, strerror(errno));
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           (unsigned char)(len & 0xff), (unsigned char)(len >> 8)};
  int bad = fwrite(pre, 1, 10, f) != 10 || fwrite(hdr, 1, (size_t)len, f) != (size_t)len ||
            fwrite(src, sizeof(float), (size_t)n, f) != (size_t)n;
  if (fclose(f) || bad) die("cannot write %s", path);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: harness DIR STEPS LR\n");
    return 2;
  }
  const char *dir = argv[1];
  long steps = strtol(argv[2], NULL, 10);
  float lr = strtof(argv[3], NULL);
  const astrt_program *p = &astc_program;
  if (p->abi_version != ASTRT_ABI_VERSION) die("descriptor ABI %u, harness built for %d", p->abi_version, ASTRT_ABI_VERSION);
  if (p->nphases < 1) die("the program has no training phase");
  if (p->phases[0].prefix)
    die("phase 0 of %s reuses a frozen prefix; the harness feeds raw examples", p->name);
  if (p->loss_scale != 1.0 || p->loss_scale_growth > 0)
    die("%s uses loss scaling; the harness runs float32 programs only", p->name);
  const char *t = getenv("HARNESS_THREADS");
  openblas_set_num_threads(t && *t ? atoi(t) : 1);

  unsigned char *vars = arena(p->var_bytes);
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_var_desc *v = &p->vars[i];
    float *dst = (float *)(vars + v->offset);
    char *path = path_of(dir, "", v->name);
    if (v->kind == ASTRT_VAR_PARAM) {
      load_f32(path, v->rank, v->dims, dst);
    } else if (v->kind == ASTRT_VAR_STATE) {
      FILE *f = fopen(path, "rb");
      if (f) {
        fclose(f);
        load_f32(path, v->rank, v->dims, dst);
      } else if (v->init == ASTRT_INIT_ONES || v->init == ASTRT_INIT_CONST) {
        float c = v->init == ASTRT_INIT_ONES ? 1.0f : (float)v->init_a;
        for (int64_t k = 0; k < v->numel; k++) dst[k] = c;
      } else if (v->init != ASTRT_INIT_ZEROS) {
        die("state %s has a random initialiser; provide %s", v->name, path);
      }
    }
    free(path);
  }

  const astrt_phase_desc *ph = &p->phases[0];
  const astrt_data_desc *dd = &p->data;
  int tokens = dd->x_dtype == ASTRT_DTYPE_I32;
  if (!tokens && dd->x_dtype != ASTRT_DTYPE_F32) die("x of dtype %d: the harness feeds f32 or i32 x", dd->x_dtype);
  int real = dd->target == ASTRT_TARGET_REAL;
  int64_t ty = dd->target_size > 0 ? dd->target_size : 1;
  void *work = arena(ph->work_bytes);
  void *x = arena(ph->batch * dd->example_size * 4);  /* f32 or i32 */
  void *y = arena(ph->batch * ty * 4);                /* i32 labels or f32 targets */
  float *losses = calloc((size_t)(steps > 0 ? steps : 1), sizeof(float));
  for (long k = 0; k < steps; k++) {
    char name[32];
    snprintf(name, sizeof name, "x_%ld", k);
    char *xp = path_of(dir, "", name);
    snprintf(name, sizeof name, "y_%ld", k);
    char *yp = path_of(dir, "", name);
    astrt_array xa, ya;
    if (astrt_load_npy_array(xp, &xa) || astrt_load_npy_array(yp, &ya))
      die("%s", astrt_last_error());
    if (xa.elem != (tokens ? ASTRT_ELEM_I32 : ASTRT_ELEM_F32) || astrt_array_example_size(&xa) != dd->example_size)
      die("%s: expected %s examples of %lld values", xp, tokens ? "int32 token" : "float32",
          (long long)dd->example_size);
    if (ya.elem != (real ? ASTRT_ELEM_F32 : ASTRT_ELEM_I32) || astrt_array_example_size(&ya) != ty ||
        (dd->target == ASTRT_TARGET_CLASS && ya.rank != 0) || ya.n != xa.n)
      die("%s: expected %lld %s per example of %s", yp, (long long)ty, real ? "float32 targets" : "integer labels", xp);
    if (xa.n < 1 || xa.n > ph->batch) die("%s: %lld rows; the step takes 1 to %lld", xp, (long long)xa.n, (long long)ph->batch);
    int64_t rows = xa.n;
    if (tokens)
      for (int64_t i = 0; i < rows * dd->example_size; i++) {
        int32_t t = ((const int32_t *)xa.data)[i];
        if (t < 0 || t >= dd->vocab) die("%s: token %d outside [0, %lld)", xp, t, (long long)dd->vocab);
      }
    memcpy(x, xa.data, (size_t)numel(&xa) * 4);
    memcpy(y, ya.data, (size_t)numel(&ya) * 4);
    float scalars[ASTRT_NUM_SCALARS] = {0};
    scalars[ASTRT_SC_LR] = lr;
    scalars[ASTRT_SC_STEP] = (float)(k + 1);
    scalars[ASTRT_SC_ROWS] = (float)rows;
    scalars[ASTRT_SC_LOSS_SCALE] = 1.0f;
    scalars[ASTRT_SC_T] = (float)k / (float)steps;  /* progress, for in-graph schedules */
    scalars[ASTRT_SC_ROW0] = 0.0f;                   /* one process: the whole batch */
    scalars[ASTRT_SC_SHARD] = 1.0f;
    float out[ASTRT_NUM_OUTPUTS] = {0};
    ph->step(vars, work, x, y, rows, scalars, out, p->seed);
    losses[k] = out[ASTRT_OUT_LOSS];
    astrt_array_free(&xa);
    astrt_array_free(&ya);
    free(xp);
    free(yp);
  }

  char *lp = path_of(dir, "", "astc_loss");
  int64_t nsteps = steps;
  save_f32(lp, 1, &nsteps, losses);
  free(lp);
  for (uint32_t i = 0; i < p->nvars; i++) {
    const astrt_var_desc *v = &p->vars[i];
    if (v->kind != ASTRT_VAR_PARAM) continue;
    char *path = path_of(dir, "astc_", v->name);
    save_f32(path, v->rank, v->dims, (const float *)(vars + v->offset));
    free(path);
  }
  printf("harness: %s: %ld steps, final loss %.6f\n", p->name, steps,
         steps > 0 ? (double)losses[steps - 1] : 0.0);
  for (uint32_t i = 0; i < p->nvars; i++)
    if (strcmp(p->vars[i].name, "adamw.step") == 0)
      printf("harness: adamw.step %.0f\n", (double)*(const float *)(vars + p->vars[i].offset));
  free(losses);
  free(vars);
  free(work);
  free(x);
  free(y);
  return 0;
}
