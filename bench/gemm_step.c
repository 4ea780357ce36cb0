/* gemm_step.c — the GEMM-only ceiling of a training step: the time of
 * exactly the step's matrix products, one after the other, as cblas_sgemm
 * calls on the same OpenBLAS that astc's runtime uses, and nothing else.
 * bench/throughput.py derives the shapes from `astc show` and reports a
 * model's samples/s against batch / this time.
 *
 *   gemm_step REPEATS TA,TB,M,N,K[xCOUNT] [TA,TB,M,N,K[xCOUNT] ...]
 *   gemm_step --peak N          sgemm rate on N x N x N
 *
 * xCOUNT makes a batched product: COUNT independent products of that shape
 * (attention's per-head Q K^T and P V and their gradients, B * H of them),
 * each its own cblas_sgemm on its own matrices, as astc's runtime runs them
 * (runtime/kernels_gemm_batched.c: one single-threaded cblas_sgemm per item,
 * the items dealt to the threads in contiguous ranges). The matrices are
 * contiguous here (astc reads attention heads in place, with a leading
 * dimension of H * Dh), which is no slower for BLAS.
 *
 * With GEMM_SPLIT=T (T > 1) each product is split the way astc's runtime
 * splits it (runtime/kernels_gemm.c: T slabs of rows, or of columns when
 * N > M, each a single-threaded cblas_sgemm on its own thread; a batched
 * product: T contiguous ranges of its items); otherwise OpenBLAS threads it
 * itself (each item of a batched product in turn). bench/throughput.py takes
 * the faster.
 *
 * TA/TB are 0 or 1 (transpose), C[M,N] = op(A)[M,K] op(B)[K,N]. Prints the
 * median over REPEATS of the time of one pass over all the products (after
 * one untimed pass), in seconds, the GFLOP/s of that pass, and the median
 * CPU time of a pass (all threads, seconds; at one thread, the pass's own
 * compute, which other jobs on the machine do not inflate as they do the
 * wall time; split threads that wait spin, and count). The thread
 * count is OpenBLAS's: set OPENBLAS_NUM_THREADS (and OPENBLAS_CORETYPE to
 * match astc, bench/throughput.py does both).
 *
 * Build: cc -O2 bench/gemm_step.c -o gemm_step -lopenblas
 */
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Gemm {
  int ta, tb;
  long m, n, k;
  float *a, *b, *c;
  long count;  /* batched: this many products of the shape, one after the other in a, b, c */
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
    gs[0] = (Gemm){0, 0, n, n, n, NULL, NULL, NULL, 1};
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
      int used = 0;
      g->count = 1;
      if (sscanf(argv[i], "%d,%d,%ld,%ld,%ld%n", &g->ta, &g->tb, &g->m, &g->n, &g->k, &used) != 5 ||
          (argv[i][used] && sscanf(argv[i] + used, "x%ld", &g->count) != 1) || g->m <= 0 || g->n <= 0 ||
          g->k <= 0 || g->count <= 0) {
        fprintf(stderr, "gemm_step: bad product '%s' (expected TA,TB,M,N,K or TA,TB,M,N,KxCOUNT)\n", argv[i]);
        return 2;
      }
    }
  }
  if (repeats < 1) repeats = 1;
  const char *split = getenv("GEMM_SPLIT");
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
  }
  free(gs);
  free(t);
  free(c);
  return 0;
}
