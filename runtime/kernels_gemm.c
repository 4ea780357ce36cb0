/* kernels_gemm.c — single-precision GEMM for the kernels and generated code.
 *
 *   C[M,N] = alpha * op(A) op(B) + beta * C      (row-major)
 *
 * astrt_sgemm forwards to OpenBLAS's cblas_sgemm. BLAS rejects leading
 * dimensions of 0, which a K == 0 product would need, so the empty cases are
 * handled here: M == 0 or N == 0 does nothing, K == 0 only scales C by beta.
 * As in BLAS, beta == 0 means C is not read (NaN in C does not survive).
 *
 * astrt_ref_sgemm is the naive triple loop. It accumulates each dot product
 * in DOUBLE and rounds once, so it is at least as accurate as any float
 * implementation and serves as the test oracle.
 */
#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

static void check_dims(const char *who, int64_t m, int64_t n, int64_t k) {
  if (m < 0 || n < 0 || k < 0)
    astrt_kernel_fatal("%s: negative size m=%lld n=%lld k=%lld", who,
                       (long long)m, (long long)n, (long long)k);
}

/* C = beta * C, with beta == 0 writing zeros without reading C. */
static void scale_c(int64_t m, int64_t n, float beta,
                    float *c) {  // [M, N]
  const int64_t cnt = m * n;
  if (beta == 0.0f) {
    memset(c, 0, (size_t)cnt * sizeof(float));
  } else if (beta != 1.0f) {
    for (int64_t i = 0; i < cnt; i++) c[i] *= beta;
  }
}

static blasint to_blasint(const char *what, int64_t v) {
  if (sizeof(blasint) < sizeof(int64_t) && v > (int64_t)INT_MAX)
    astrt_kernel_fatal("astrt_sgemm: %s=%lld exceeds the BLAS index range",
                       what, (long long)v);
  return (blasint)v;
}

/* One product, and its split over the pool's threads (pool.c): part p of P
 * computes the rows [m*p/P, m*(p+1)/P) of C, or its columns when N > M, as
 * one single-threaded cblas_sgemm. Each element of C is summed over K
 * exactly as without the split. */
typedef struct gemm_job {
  int ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  const float *a, *b;
  float *c;
} gemm_job;

static void gemm_part(void *ctx, int part, int parts) {
  const gemm_job *g = ctx;
  const blasint lda = to_blasint("m", g->ta ? g->m : g->k), ldb = to_blasint("n", g->tb ? g->k : g->n),
                ldc = to_blasint("n", g->n);
  const float *a = g->a, *b = g->b;
  float *c = g->c;
  int64_t m = g->m, n = g->n;
  if (g->m >= g->n) {
    int64_t lo = g->m * part / parts, hi = g->m * (part + 1) / parts;
    a += g->ta ? lo : lo * g->k;
    c += lo * g->n;
    m = hi - lo;
  } else {
    int64_t lo = g->n * part / parts, hi = g->n * (part + 1) / parts;
    b += g->tb ? lo * g->k : lo;
    c += lo;
    n = hi - lo;
  }
  if (m <= 0 || n <= 0) return;
  cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
              to_blasint("m", m), to_blasint("n", n), to_blasint("k", g->k), g->alpha, a, lda, b, ldb, g->beta, c,
              ldc);
}

/* products smaller than this many multiply-adds run on one thread */
#define SPLIT_MIN_MACS (1 << 15)

void astrt_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a,  // [M, K], or [K, M] when ta
                 const float *b,  // [K, N], or [N, K] when tb
                 float beta,
                 float *c) {      // [M, N]
  check_dims("astrt_sgemm", m, n, k);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale_c(m, n, beta, c);
    return;
  }
  (void)to_blasint("m", m), (void)to_blasint("n", n), (void)to_blasint("k", k);
  gemm_job g = {ta, tb, m, n, k, alpha, beta, a, b, c};
  int parts = astrt_pool_size();
  int64_t split = m >= n ? m : n;
  if (parts > 1 && split >= 2 * parts && (double)m * (double)n * (double)k >= SPLIT_MIN_MACS)
    astrt_pool_run(gemm_part, &g);
  else
    gemm_part(&g, 0, 1);
}

void astrt_ref_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k,
                     float alpha,
                     const float *a,  // [M, K], or [K, M] when ta
                     const float *b,  // [K, N], or [N, K] when tb
                     float beta,
                     float *c) {      // [M, N]
  check_dims("astrt_ref_sgemm", m, n, k);
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < n; j++) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; p++) {
        const float av = ta ? a[p * m + i] : a[i * k + p];
        const float bv = tb ? b[j * k + p] : b[p * n + j];
        acc += (double)av * (double)bv;
      }
      double r = (double)alpha * acc;
      if (beta != 0.0f) r += (double)beta * (double)c[i * n + j];
      c[i * n + j] = (float)r;
    }
  }
}
