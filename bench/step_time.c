/* step_time.c — the time of one training step of a compiled program, apart
 * from data loading: JIT-compiles a .train file, fills its variables and a
 * batch with random values (token ids below the vocabulary for sequence
 * models), and times phase PHASE's step function (numbered from 1, default
 * 1), median of REPEATS after two untimed steps. For profiling code generation (perf record ./step_time ...)
 * and for the GEMM-only ceiling's counterpart; the end-to-end rates are
 * bench/throughput.py's.
 *
 *   step_time FILE.train [REPEATS] [THREADS] [PHASE]
 *   step_time FILE.so [REPEATS] [THREADS] [PHASE]
 *
 * The second form times a program compiled ahead of time, whose functions
 * have symbols that perf can name (the outlined loops astc_step_0_par_N):
 *   astc build FILE.train --emit=obj --no-main -o f.o && cc -shared f.o -o f.so
 *
 * On one thread it also prints the step's CPU time (median): robust to other
 * processes on the machine, where wall times are not (bench/cpu_step.py).
 * The JIT form gives each product the GEMM backend `astc run` would (the
 * cached calibration; ASTC_GEMM=openblas|xsmm forces one).
 *
 * Build: cmake --build BUILD --target step_time (bench/CMakeLists.txt).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astrt_program.h"
#include "codegen.h"
#include "driver.h"
#include "kernels_internal.h"
#include "machine.h"

#include <cblas.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the calling thread's CPU time */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: step_time FILE.train [REPEATS] [THREADS] [PHASE]\n");
    return 2;
  }
  int repeats = argc > 2 ? atoi(argv[2]) : 20, threads = argc > 3 ? atoi(argv[3]) : 2;
  int ph = argc > 4 ? atoi(argv[4]) - 1 : 0;
  const astrt_program *d = NULL;
  CgJit *jit = NULL;
  Compilation comp = {0};
  size_t len = strlen(argv[1]);
  if (len > 3 && !strcmp(argv[1] + len - 3, ".so")) {
    void *so = dlopen(argv[1], RTLD_NOW);
    if (!so || !(d = dlsym(so, "astc_program"))) {
      fprintf(stderr, "step_time: %s\n", dlerror());
      return 1;
    }
  } else {
    CompileOptions copt = {0};
    if (!compile_file(&comp, argv[1], &copt)) return 1;
    /* each product on the GEMM backend astc run would give it: the cached
     * calibration (measured now if missing) under --gemm's default, auto, or
     * ASTC_GEMM=openblas|xsmm */
    CgOptions o = cg_options_default();
    static GemmPlan plan;
    machine_gemm_plan(comp.prog, &o, false, false, true, &plan);
    double t0 = now();
    jit = cg_jit_compile_with(comp.prog, &o, &d);
    if (!jit) return 1;
    fprintf(stderr, "compiled in %.3f s\n", now() - t0);
  }
  if (ph < 0 || ph >= (int)d->nphases) {
    fprintf(stderr, "step_time: there is no phase %d (the program has %u)\n", ph + 1, d->nphases);
    return 1;
  }
  astrt_pool_configure(threads);
  openblas_set_num_threads(1);
  srand(1);
  float *vars = aligned_alloc(64, (size_t)(d->var_bytes + 63) / 64 * 64);
  for (uint32_t v = 0; v < d->nvars; v++) {
    float *w = (float *)((char *)vars + d->vars[v].offset);
    for (int64_t i = 0; i < d->vars[v].numel; i++)
      w[i] = d->vars[v].kind == ASTRT_VAR_PARAM ? ((float)rand() / RAND_MAX - 0.5f) * 0.1f : 0;
  }
  int64_t rows = d->phases[ph].batch, ex = d->data.example_size, ty = d->data.target_size;
  void *work = aligned_alloc(64, (size_t)(d->phases[ph].work_bytes + 63) / 64 * 64);
  float *x = malloc(sizeof(float) * (size_t)(rows * ex));
  int32_t *y = malloc(sizeof(int32_t) * (size_t)(rows * ty));
  for (int64_t i = 0; i < rows * ex; i++) {
    if (d->data.x_dtype == ASTRT_DTYPE_I32) ((int32_t *)x)[i] = rand() % (int)d->data.vocab;
    else x[i] = (float)rand() / RAND_MAX;
  }
  for (int64_t i = 0; i < rows * ty; i++)
    y[i] = d->data.target == ASTRT_TARGET_REAL ? 0 : rand() % (int)(d->data.classes > 0 ? d->data.classes : 1);
  double *times = malloc(sizeof(double) * (size_t)repeats), *cpu = malloc(sizeof(double) * (size_t)repeats);
  for (int r = -2; r < repeats; r++) {
    float scalars[ASTRT_NUM_SCALARS] = {1e-4f, (float)(r + 3), (float)rows, 1, 0.5f, 0, 1};
    float outputs[ASTRT_NUM_OUTPUTS] = {0};
    double s = now(), c = cpu_now();
    d->phases[ph].step(vars, work, x, y, rows, scalars, outputs, 1);
    if (r >= 0) times[r] = now() - s, cpu[r] = cpu_now() - c;
  }
  qsort(times, (size_t)repeats, sizeof(double), cmp);
  qsort(cpu, (size_t)repeats, sizeof(double), cmp);
  /* on one thread the step's CPU time, which other processes on the machine
   * do not stretch as they stretch the wall time */
  if (threads == 1)
    printf("%s: %lld rows, 1 thread: %.3f ms of CPU per step (median), %.0f rows per CPU-second\n", argv[1],
           (long long)rows, 1e3 * cpu[repeats / 2], (double)rows / cpu[repeats / 2]);
  double med = times[repeats / 2];
  printf("%s: %lld rows, %d threads: %.2f ms per step (min %.2f, max %.2f), %.0f rows/s\n", argv[1], (long long)rows,
         threads, 1e3 * med, 1e3 * times[0], 1e3 * times[repeats - 1], (double)rows / med);
  if (jit) {
    cg_jit_free(jit);
    compilation_free(&comp);
  }
  return 0;
}
