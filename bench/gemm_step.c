/* gemm_step.c — the GEMM-only ceiling of a training step: the time of
 * exactly the step's matrix products, one after the other, and nothing else.
 * bench/throughput.py derives the shapes from `astc show` and reports a
 * model's samples/s against batch / this time.
 *
 *   gemm_step REPEATS TA,TB,M,N,K[xCOUNT][,TYPE] [TA,TB,M,N,K[xCOUNT][,TYPE] ...]
 *   gemm_step --peak N          sgemm rate on N x N x N
 *
 * TA/TB are 0 or 1 (transpose), C[M,N] = op(A)[M,K] op(B)[K,N]; TYPE is f32
 * (default) or bf16 (the operands' type: precision bf16). Prints the median
 * over REPEATS of the time of one pass over all the products (after one
 * untimed pass), in seconds, the GFLOP/s of that pass, and the median CPU
 * time of a pass (all threads, seconds; at one thread, the pass's own
 * compute, which other jobs on the machine do not inflate as they do the
 * wall time; split threads that wait spin, and count).
 *
 * xCOUNT makes a batched product: COUNT independent products of that shape
 * (attention's per-head Q K^T and P V and their gradients, B * H of them),
 * each on its own matrices, as astc's runtime runs them
 * (runtime/kernels_gemm_batched.c: the items dealt to the threads in
 * contiguous ranges). The matrices are contiguous here (astc reads attention
 * heads in place, with a leading dimension of H * Dh), which is no slower.
 *
 * Two builds:
 *   - standalone, on OpenBLAS alone (cc -O2 bench/gemm_step.c -o gemm_step
 *     -lopenblas -lpthread): each product a cblas_sgemm (bf16 products as
 *     f32 ones). With GEMM_SPLIT=T (T > 1) each product is split the way
 *     astc's runtime split it before its GEMM backends (T slabs of rows, or of
 *     columns when N > M, each a single-threaded cblas_sgemm on its own
 *     thread); otherwise OpenBLAS threads it itself. The thread count is
 *     OpenBLAS's: set OPENBLAS_NUM_THREADS (and OPENBLAS_CORETYPE to match
 *     astc; bench/throughput.py does both).
 *   - on astc's runtime (cmake --build BUILD --target gemm_step: defines
 *     GEMM_STEP_ASTRT): each product an astrt_gemm_batched call on a pool of
 *     GEMM_SPLIT threads (or OPENBLAS_NUM_THREADS when GEMM_SPLIT is 1 or
 *     unset), as a training run makes it, on the GEMM backend GEMM_BACKEND
 *     names (openblas, xsmm), or by default (auto) on each product's fastest,
 *     timed here first: what astc build's calibration picks. Prints a third
 *     line per product to stderr: its shape, backend and time.
 * bench/throughput.py uses the second when it can build it.
 */
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GEMM_STEP_ASTRT
#include "astrt_kernels.h"
#include "kernels_internal.h"
#endif

typedef struct Gemm {
  int ta, tb, bf16;
  long m, n, k;
  float *a, *b, *c;
  long count;  /* batched: this many products of the shape, one after the other in a, b, c */
#ifdef GEMM_STEP_ASTRT
  astrt_gemm_batch d;
  uint16_t *ha, *hb;       /* bf16 copies */
#endif
} Gemm;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the process, all threads */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(long n) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
  if (!p) {
    fprintf(stderr, "gemm_step: out of memory\n");
    exit(1);
  }
  for (long i = 0; i < n; i++) p[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  return p;
}

static int split_threads = 1;
static void run_split(const Gemm *g);

/* items [lo, hi) of a (batched) product, each one cblas_sgemm */
static void run_items(const Gemm *g, long lo, long hi) {
  for (long i = lo; i < hi; i++)
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, (int)g->m,
                (int)g->n, (int)g->k, 1.0f, g->a + i * g->m * g->k, g->ta ? (int)g->m : (int)g->k,
                g->b + i * g->k * g->n, g->tb ? (int)g->k : (int)g->n, 0.0f, g->c + i * g->m * g->n, (int)g->n);
}

static void run(const Gemm *g) {
#ifdef GEMM_STEP_ASTRT
  astrt_gemm_batched(&g->d, g->bf16 ? (const void *)g->ha : g->a, g->bf16 ? (const void *)g->hb : g->b, g->c);
  return;
#endif
  if (split_threads > 1) {
    run_split(g);
    return;
  }
  run_items(g, 0, g->count);
}

/* ---- the split: slab p of T on thread p (0 = the caller) ---- */
void openblas_set_num_threads(int);
static const Gemm *job;
static atomic_long posted, finished[64];

static void run_slab(const Gemm *g, int p, int t) {
  if (g->count > 1) {
    run_items(g, g->count * p / t, g->count * (p + 1) / t);
    return;
  }
  Gemm s = *g;
  if (g->m >= g->n) {
    long lo = g->m * p / t, hi = g->m * (p + 1) / t;
    s.m = hi - lo;
    s.a = g->ta ? g->a + lo : g->a + lo * g->k;
    s.c = g->c + lo * g->n;
  } else {
    long lo = g->n * p / t, hi = g->n * (p + 1) / t;
    s.n = hi - lo;
    s.b = g->tb ? g->b + lo * g->k : g->b + lo;
    s.c = g->c + lo;
  }
  if (s.m <= 0 || s.n <= 0) return;
  cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, (int)s.m, (int)s.n,
              (int)s.k, 1.0f, s.a, g->ta ? (int)g->m : (int)g->k, s.b, g->tb ? (int)g->k : (int)g->n, 0.0f, s.c,
              (int)g->n);
}

static void *slab_worker(void *arg) {
  int p = (int)(long)arg;
  long seen = 0;
  for (;;) {
    while (atomic_load(&posted) == seen) sched_yield();
    seen = atomic_load(&posted);
    run_slab(job, p, split_threads);
    atomic_store(&finished[p], seen);
  }
  return NULL;
}

static void run_split(const Gemm *g) {
  job = g;
  long n = atomic_fetch_add(&posted, 1) + 1;
  run_slab(g, 0, split_threads);
  for (int p = 1; p < split_threads; p++)
    while (atomic_load(&finished[p]) != n) sched_yield();
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

int main(int argc, char **argv) {
  int ng = 0, repeats;
  Gemm *gs;
  if (argc == 3 && strcmp(argv[1], "--peak") == 0) {
    long n = atol(argv[2]);
    gs = calloc(1, sizeof *gs);
    gs[0] = (Gemm){.m = n, .n = n, .k = n, .count = 1};
    ng = 1;
    repeats = 7;
  } else {
    if (argc < 3) {
      fprintf(stderr, "usage: gemm_step REPEATS TA,TB,M,N,K ... | gemm_step --peak N\n");
      return 2;
    }
    repeats = atoi(argv[1]);
    gs = calloc((size_t)argc, sizeof *gs);
    for (int i = 2; i < argc; i++) {
      Gemm *g = &gs[ng++];
      char type[8] = "f32";
      int used = 0, more = 0;
      g->count = 1;
      bool ok = sscanf(argv[i], "%d,%d,%ld,%ld,%ld%n", &g->ta, &g->tb, &g->m, &g->n, &g->k, &used) == 5;
      if (ok && argv[i][used] == 'x') ok = sscanf(argv[i] + used, "x%ld%n", &g->count, &more) == 1, used += more;
      if (ok && argv[i][used] == ',') ok = sscanf(argv[i] + used, ",%7s%n", type, &more) == 1, used += more;
      if (!ok || argv[i][used] || g->m <= 0 || g->n <= 0 || g->k <= 0 || g->count <= 0 ||
          (strcmp(type, "f32") && strcmp(type, "bf16"))) {
        fprintf(stderr, "gemm_step: bad product '%s' (expected TA,TB,M,N,K[xCOUNT][,f32|bf16])\n", argv[i]);
        return 2;
      }
      g->bf16 = !strcmp(type, "bf16");
    }
  }
  if (repeats < 1) repeats = 1;
  const char *split = getenv("GEMM_SPLIT");
#ifdef GEMM_STEP_ASTRT
  /* the runtime's pool, OpenBLAS single-threaded inside it (as the driver) */
  const char *blas = getenv("OPENBLAS_NUM_THREADS");
  int threads = split && atoi(split) > 1 ? atoi(split) : blas && atoi(blas) > 1 ? atoi(blas) : 1;
  openblas_set_num_threads(1);
  astrt_pool_configure(threads);
  const char *want = getenv("GEMM_BACKEND");
  int forced = want && strcmp(want, "auto") ? astrt_gemm_backend_id(want) : -1;
  if (want && strcmp(want, "auto") && forced < 0) {
    fprintf(stderr, "gemm_step: GEMM_BACKEND=%s is not openblas, xsmm or auto\n", want);
    return 2;
  }
  split = NULL;
#endif
  if (split && atoi(split) > 1) {
    split_threads = atoi(split) < 64 ? atoi(split) : 64;
    openblas_set_num_threads(1);
    for (int p = 1; p < split_threads; p++) {
      pthread_t t;
      pthread_create(&t, NULL, slab_worker, (void *)(long)p);
    }
  }
  double flops = 0;
  for (int i = 0; i < ng; i++) {
    gs[i].a = filled(gs[i].count * gs[i].m * gs[i].k);
    gs[i].b = filled(gs[i].count * gs[i].k * gs[i].n);
    gs[i].c = filled(gs[i].count * gs[i].m * gs[i].n);
    flops += 2.0 * (double)gs[i].count * (double)gs[i].m * (double)gs[i].n * (double)gs[i].k;
#ifdef GEMM_STEP_ASTRT
    Gemm *g = &gs[i];
    int batched = g->count > 1;
    g->d = (astrt_gemm_batch){g->ta, g->tb, g->m, g->n, g->k, g->ta ? g->m : g->k, g->tb ? g->k : g->n, g->n,
                              batched, {batched ? g->count : 1, 1, 1, 1}, {batched ? g->m * g->k : 0},
                              {batched ? g->k * g->n : 0}, {batched ? g->m * g->n : 0}, 1.0f, 0.0f,
                              ASTRT_GEMM_OPENBLAS, g->bf16 ? ASTRT_DTYPE_BF16 : ASTRT_DTYPE_F32};
    g->ha = malloc(sizeof *g->ha * (size_t)(g->count * g->m * g->k));
    g->hb = malloc(sizeof *g->hb * (size_t)(g->count * g->k * g->n));
    astrt_f32_to_bf16(g->a, g->ha, g->count * g->m * g->k);
    astrt_f32_to_bf16(g->b, g->hb, g->count * g->k * g->n);
    /* the backend: forced, or the fastest here (interleaved timings, the
     * better of two rounds; another than OpenBLAS must be 5% faster, as in
     * astc's calibration) */
    double tb[ASTRT_NUM_GEMM_BACKENDS];
    for (int be = 0; be < ASTRT_NUM_GEMM_BACKENDS; be++) tb[be] = -1;
    for (int round = 0; round < 2; round++)
      for (int be = 0; be < ASTRT_NUM_GEMM_BACKENDS; be++) {
        if ((forced >= 0 && be != forced) || !astrt_gemm_backend_available(be, g->d.ab_type, NULL)) continue;
        g->d.backend = be;
        run(g);
        double t0 = now(), t;
        int reps = 0;
        do run(g), reps++;
        while ((t = now() - t0) < 0.005);
        if (tb[be] < 0 || t / reps < tb[be]) tb[be] = t / reps;
      }
    int pick = forced >= 0 ? forced : ASTRT_GEMM_OPENBLAS;
    for (int be = 0; be < ASTRT_NUM_GEMM_BACKENDS; be++)
      if (tb[be] > 0 && tb[pick] > 0 && tb[be] < tb[pick] * 0.95) pick = be;
    g->d.backend = pick;
    fprintf(stderr, "gemm_step: %d,%d,%ld,%ld,%ldx%ld,%s on %s (%.1f us)\n", g->ta, g->tb, g->m, g->n, g->k,
            g->count, g->bf16 ? "bf16" : "f32", astrt_gemm_backend_name(pick), tb[pick] * 1e6);
#endif
  }
  for (int i = 0; i < ng; i++) run(&gs[i]);  /* warm-up */
  /* each measurement: enough passes for at least 20 ms */
  double *t = malloc(sizeof *t * (size_t)repeats), *c = malloc(sizeof *c * (size_t)repeats);
  for (int r = 0; r < repeats; r++) {
    long passes = 0;
    double t0 = now(), c0 = cpu_now(), el;
    do {
      for (int i = 0; i < ng; i++) run(&gs[i]);
      passes++;
      el = now() - t0;
    } while (el < 0.02);
    t[r] = el / (double)passes;
    c[r] = (cpu_now() - c0) / (double)passes;
  }
  qsort(t, (size_t)repeats, sizeof *t, cmp);
  qsort(c, (size_t)repeats, sizeof *c, cmp);
  double med = t[repeats / 2];
  printf("%.9f %.2f %.9f\n", med, flops / med / 1e9, c[repeats / 2]);
  for (int i = 0; i < ng; i++) {
    free(gs[i].a);
    free(gs[i].b);
    free(gs[i].c);
#ifdef GEMM_STEP_ASTRT
    free(gs[i].ha);
    free(gs[i].hb);
#endif
  }
  free(gs);
  free(t);
  free(c);
  return 0;
}
