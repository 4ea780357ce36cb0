/* kernels_gemm_backend.c — which GEMM backend a product runs (astrt_kernels.h):
 * the names, what this build and CPU can run, the override (ASTRT_GEMM,
 * astrt_gemm_force), the measurement astc's calibration makes of each
 * backend on a program's product shapes, and bf16 conversions.
 */
#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);

static const char *const names[] = {
#define GEMM_NAME(rt, ir, name) name,
    ASTRT_GEMM_BACKENDS(GEMM_NAME)
#undef GEMM_NAME
};

const char *astrt_gemm_backend_name(int backend) {
  return backend >= 0 && backend < ASTRT_NUM_GEMM_BACKENDS ? names[backend] : NULL;
}

int astrt_gemm_backend_id(const char *name) {
  for (int i = 0; name && i < ASTRT_NUM_GEMM_BACKENDS; i++)
    if (!strcmp(name, names[i])) return i;
  return -1;
}

int astrt_gemm_backend_available(int backend, int ab_type, const char **why) {
  switch (backend) {
  case ASTRT_GEMM_OPENBLAS: return 1;
  case ASTRT_GEMM_XSMM: return astrt_gemm_xsmm_available(ab_type, why);
  default:
    if (why) *why = "no such backend";
    return 0;
  }
}

static int supports(int backend, const astrt_gemm_batch *d) {
  return backend == ASTRT_GEMM_OPENBLAS || (backend == ASTRT_GEMM_XSMM && astrt_gemm_xsmm_supports(d));
}

/* ---- the override ------------------------------------------------------------------ */

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_backend = -1;  /* ASTRT_GEMM, -1: none (auto) */
static int forced = -1;       /* astrt_gemm_force */

static void read_env(void) {
  const char *v = getenv("ASTRT_GEMM");
  if (!v || !*v || !strcmp(v, "auto")) return;
  int b = astrt_gemm_backend_id(v);
  if (b < 0) {
    fprintf(stderr, "astrt: note: ASTRT_GEMM=%s is not a GEMM backend (openblas, xsmm or auto); ignored\n", v);
    return;
  }
  const char *why = NULL;
  int f32 = astrt_gemm_backend_available(b, ASTRT_DTYPE_F32, &why);
  fprintf(stderr, "astrt: note: ASTRT_GEMM=%s: every product runs with %s%s%s%s\n", v, f32 ? v : "openblas",
          f32 ? " instead of the backend astc chose for it" : " (", f32 ? "" : why, f32 ? "" : ")");
  env_backend = b;
}

int astrt_gemm_force(int backend) {
  int was = forced;
  forced = backend >= 0 && backend < ASTRT_NUM_GEMM_BACKENDS ? backend : -1;
  return was;
}

int astrt_gemm_backend_resolve(const astrt_gemm_batch *d) {
  pthread_once(&env_once, read_env);
  int b = forced >= 0 ? forced : env_backend >= 0 ? env_backend : d->backend;
  if (b < 0 || b >= ASTRT_NUM_GEMM_BACKENDS || !astrt_gemm_backend_available(b, d->ab_type, NULL) || !supports(b, d))
    b = ASTRT_GEMM_OPENBLAS;
  return b;
}

/* ---- measurement -------------------------------------------------------------------- */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* the calling thread's CPU time */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* elements from an operand's first to one past its last */
static int64_t extent(const astrt_gemm_batch *d, const int64_t *s, int64_t rows, int64_t cols, int64_t ld) {
  int64_t last = rows > 0 && cols > 0 ? (rows - 1) * ld + cols : 0;
  for (int j = 0; j < d->nbatch; j++) last += (d->count[j] > 0 ? d->count[j] - 1 : 0) * s[j];
  return last > 0 ? last : 1;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

double astrt_gemm_measure(const astrt_gemm_batch *d, int backend, int threads, double budget) {
  if (!astrt_gemm_backend_available(backend, d->ab_type, NULL) || !supports(backend, d)) return -1;
  const size_t es = d->ab_type == ASTRT_DTYPE_BF16 ? 2 : 4;
  const int64_t na = extent(d, d->sa, d->ta ? d->k : d->m, d->ta ? d->m : d->k, d->lda);
  const int64_t nb = extent(d, d->sb, d->tb ? d->n : d->k, d->tb ? d->k : d->n, d->ldb);
  const int64_t nc = extent(d, d->sc, d->m, d->n, d->ldc);
  float *fa = malloc((size_t)na * sizeof(float)), *fb = malloc((size_t)nb * sizeof(float));
  void *a = malloc((size_t)na * es), *b = malloc((size_t)nb * es);
  float *c = calloc((size_t)nc, sizeof(float));
  if (!fa || !fb || !a || !b || !c) astrt_kernel_fatal("astrt_gemm_measure: out of memory");
  for (int64_t i = 0; i < na; i++) fa[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (int64_t i = 0; i < nb; i++) fb[i] = (float)((i * 31) % 997) / 997.0f - 0.5f;
  if (es == 2) {
    astrt_f32_to_bf16(fa, a, na);
    astrt_f32_to_bf16(fb, b, nb);
  } else {
    memcpy(a, fa, (size_t)na * 4);
    memcpy(b, fb, (size_t)nb * 4);
  }
  /* a pool of `threads` as a training run has, OpenBLAS single-threaded in it */
  astrt_pool *pool = threads > 1 ? astrt_pool_create(threads) : NULL;
  astrt_pool *was = astrt_pool_bind(pool);
  int blas_threads = openblas_get_num_threads();
  if (blas_threads != 1) openblas_set_num_threads(1);
  astrt_gemm_run_backend(d, a, b, c, backend);  /* warm-up: JIT, scratch, caches */
  enum { MAX_SAMPLES = 4096 };
  static _Thread_local double t[MAX_SAMPLES];
  /* the second call, past the JIT, says how long a call is: at least 5
   * timings, or 3 of calls longer than the budget (never one: on a loaded
   * machine a single call can be descheduled for a time slice and measure
   * 100 times its cost) */
  /* one thread: the call's CPU time, which other processes hardly stretch */
  double (*clock)(void) = pool ? now : cpu_now;
  double w0 = clock();
  astrt_gemm_run_backend(d, a, b, c, backend);
  t[0] = clock() - w0;
  const int least = t[0] > budget ? 3 : 5;
  int n = 1;
  double total = t[0];
  while (n < MAX_SAMPLES && (n < least || total < budget)) {
    double t0 = clock();
    astrt_gemm_run_backend(d, a, b, c, backend);
    t[n] = clock() - t0;
    total += t[n++];
  }
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  /* the fastest tenth: other processes only ever add time to a call, so a
   * low percentile is what the call costs when it has the cores; the median
   * of a loaded machine mostly measures the load */
  if (blas_threads != 1) openblas_set_num_threads(blas_threads);
  astrt_pool_bind(was);
  astrt_pool_destroy(pool);
  free(fa), free(fb), free(a), free(b), free(c);
  return t[n / 10];
}

/* ---- bf16 --------------------------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1

static int have_avx2(void) {
  static int v = -1;
  if (v < 0) v = __builtin_cpu_supports("avx2") ? 1 : 0;
  return v;
}

/* 8 at a time; returns how many it did */
__attribute__((target("avx2"))) static int64_t widen_avx2(const uint16_t *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
    _mm256_storeu_si256((__m256i *)(y + i), _mm256_slli_epi32(v, 16));
  }
  return i;
}

__attribute__((target("avx2"))) static int64_t narrow_avx2(const float *x, uint16_t *y, int64_t n) {
  int64_t i = 0;
  const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7fff), abs = _mm256_set1_epi32(0x7fffffff),
                inf = _mm256_set1_epi32(0x7f800000), quiet = _mm256_set1_epi32(0x40);
  for (; i + 8 <= n; i += 8) {
    __m256i u = _mm256_loadu_si256((const __m256i *)(x + i));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, half),
                                                   _mm256_and_si256(_mm256_srli_epi32(u, 16), one)), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
    r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet), nan);
    /* 8 x 32 -> 8 x 16 (values fit: no saturation) */
    __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
    _mm_storeu_si128((__m128i *)(y + i), _mm_packus_epi32(lo, hi));
  }
  return i;
}
#endif

void astrt_f32_to_bf16(const float *x, uint16_t *y, int64_t n) {
  int64_t i = 0;
#ifdef HAVE_X86
  if (have_avx2()) i = narrow_avx2(x, y, n);
#endif
  for (; i < n; i++) {
    uint32_t u;
    memcpy(&u, &x[i], 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) y[i] = (uint16_t)((u >> 16) | 0x40);  /* NaN stays (quiet) NaN */
    else y[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
}

void astrt_bf16_to_f32(const uint16_t *x, float *y, int64_t n) {
  int64_t i = 0;
#ifdef HAVE_X86
  if (have_avx2()) i = widen_avx2(x, y, n);
#endif
  for (; i < n; i++) {
    uint32_t u = (uint32_t)x[i] << 16;
    memcpy(&y[i], &u, 4);
  }
}
