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
  const blasint bm = to_blasint("m", m), bn = to_blasint("n", n),
                bk = to_blasint("k", k);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, bm, bn, bk, alpha, a,
              ta ? bm : bk, b, tb ? bk : bn, beta, c, bn);
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
