/* test_gemm.c — every GEMM backend (astrt_kernels.h, kernels_gemm_*.c)
 * against the naive reference, with f32 and bf16 operands: odd shapes (1, 7,
 * 63, 65 and 257 rows, columns and depths), all four transposes, padded
 * leading dimensions (the padding must stay untouched), batched, broadcast
 * and folded dimensions, strided views, alpha and beta, empty products, and
 * bit-identical results for 1, 2 and 3 threads.
 *
 * The main suite runs the openblas backend (always there: f32, and bf16
 * widened to f32), the conversions and the override's rules. Each other
 * backend and operand type is an extra suite (ctest test_gemm.NAME) that
 * forces it for every call (astrt_gemm_force) and skips, saying why, where
 * this build or CPU cannot run it:
 *   xsmm        libxsmm's f32 kernels (AVX2 or AVX-512, whichever libxsmm picks)
 *   xsmm_bf16   libxsmm's bf16 kernels (AVX512_BF16)
 *   xsmm_avx2   the f32 kernels libxsmm generates for AVX2 (ctest runs it with
 *               LIBXSMM_TARGET=hsw, so an AVX-512 machine tests them too)
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrt_kernels.h"
#include "kernels_internal.h"
#include "test_fixtures.h"

/* the backend and operand type under test */
static int backend = ASTRT_GEMM_OPENBLAS;
static int ab_type = ASTRT_DTYPE_F32;

static const int64_t sizes[] = {1, 7, 63, 65, 257};
#define NSIZES 5

/* ---- operands ------------------------------------------------------------------------ */

typedef struct Buf {
  float *f;     /* the values (bf16-exact when ab_type is bf16) */
  void *x;      /* as ab_type */
  int64_t n;
} Buf;

static Buf buf(uint64_t *s, int64_t n) {
  Buf b = {malloc(sizeof(float) * (size_t)(n ? n : 1)), NULL, n};
  for (int64_t i = 0; i < n; i++) b.f[i] = fx_lcg_pm1(s);
  if (ab_type == ASTRT_DTYPE_BF16) {
    uint16_t *h = malloc(2 * (size_t)(n ? n : 1));
    astrt_f32_to_bf16(b.f, h, n);
    astrt_bf16_to_f32(h, b.f, n);
    b.x = h;
  } else {
    b.x = b.f;
  }
  return b;
}

static void buf_free(Buf *b) {
  if (b->x != b->f) free(b->x);
  free(b->f);
}

static float *filled(int64_t n, float v) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = v;
  return p;
}

/* Runs d on the backend under test and on the reference, from the same C,
 * and compares all of C (padding included: bit for bit). The bound on each
 * element is 2^-20 (k + 2) times the sum of |alpha a b| and |beta c|. */
static void check_call(const char *what, const astrt_gemm_batch *d, const Buf *a, const Buf *b, int64_t nc,
                       uint64_t *s) {
  float *c0 = filled(nc, 0);
  for (int64_t i = 0; i < nc; i++) c0[i] = fx_lcg_pm1(s);
  float *got = malloc(sizeof(float) * (size_t)(nc ? nc : 1)), *want = malloc(sizeof(float) * (size_t)(nc ? nc : 1));
  memcpy(got, c0, sizeof(float) * (size_t)nc);
  memcpy(want, c0, sizeof(float) * (size_t)nc);
  astrt_gemm_batch dd = *d;
  dd.ab_type = ab_type;
  ck_assert_int_eq(astrt_gemm_backend_resolve(&dd),
                   astrt_gemm_xsmm_supports(&dd) || backend == ASTRT_GEMM_OPENBLAS ? backend : ASTRT_GEMM_OPENBLAS);
  astrt_gemm_batched(&dd, a->x, b->x, got);
  astrt_ref_gemm_batched(&dd, a->x, b->x, want);
  /* |alpha| sum |a||b| + |beta c| per element, from the reference with |.| operands */
  Buf aa = *a, bb = *b;
  float *fa = malloc(sizeof(float) * (size_t)(a->n ? a->n : 1)), *fb = malloc(sizeof(float) * (size_t)(b->n ? b->n : 1));
  for (int64_t i = 0; i < a->n; i++) fa[i] = fabsf(a->f[i]);
  for (int64_t i = 0; i < b->n; i++) fb[i] = fabsf(b->f[i]);
  aa.x = fa, bb.x = fb;
  float *mag = malloc(sizeof(float) * (size_t)(nc ? nc : 1));
  for (int64_t i = 0; i < nc; i++) mag[i] = fabsf(c0[i]);
  astrt_gemm_batch dm = dd;
  dm.ab_type = ASTRT_DTYPE_F32, dm.alpha = fabsf(d->alpha), dm.beta = fabsf(d->beta);
  astrt_ref_gemm_batched(&dm, aa.x, bb.x, mag);
  for (int64_t i = 0; i < nc; i++) {
    const double tol = ldexp(1.0, -20) * (double)(d->k + 2) * (double)mag[i] + 1e-30;
    if (want[i] == c0[i] && got[i] == c0[i]) continue;  /* padding, or untouched */
    ck_assert_msg(fabs((double)got[i] - (double)want[i]) <= tol || (isnan(got[i]) && isnan(want[i])),
                  "%s (%s, %s): c[%lld] = %.9g, reference %.9g (tolerance %.3g)", what,
                  astrt_gemm_backend_name(backend), ab_type == ASTRT_DTYPE_BF16 ? "bf16" : "f32", (long long)i,
                  (double)got[i], (double)want[i], tol);
  }
  free(fa), free(fb), free(mag), free(c0), free(got), free(want);
}

/* ---- single products over the odd shapes ------------------------------------------------- */

static void product(int64_t m, int64_t n, int64_t k, int ta, int tb, int64_t pad, float alpha, float beta) {
  uint64_t s = (uint64_t)(m * 1000003 + n * 1009 + k * 17 + ta * 2 + tb + pad * 7);
  const int64_t arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
  astrt_gemm_batch d = {ta, tb, m, n, k, acols + pad, bcols + pad, n + pad, 0, {1, 1, 1, 1}, {0}, {0}, {0},
                        alpha, beta, backend, ab_type};
  Buf a = buf(&s, arows * d.lda), b = buf(&s, brows * d.ldb);
  char what[128];
  snprintf(what, sizeof what, "%lldx%lldx%lld ta=%d tb=%d pad=%lld alpha=%g beta=%g", (long long)m, (long long)n,
           (long long)k, ta, tb, (long long)pad, alpha, beta);
  check_call(what, &d, &a, &b, m * d.ldc, &s);
  buf_free(&a), buf_free(&b);
}

START_TEST(odd_shapes) {
  /* _i: the transposes; every m x n x k of the odd sizes */
  const int ta = _i & 1, tb = _i >> 1;
  for (int i = 0; i < NSIZES; i++)
    for (int j = 0; j < NSIZES; j++)
      for (int l = 0; l < NSIZES; l++) product(sizes[i], sizes[j], sizes[l], ta, tb, 0, 1.0f, 0.0f);
}
END_TEST

START_TEST(padded_leading_dimensions) {
  const int ta = _i & 1, tb = _i >> 1;
  for (int i = 0; i < NSIZES; i += 2)
    for (int j = 1; j < NSIZES; j += 2) product(sizes[i], sizes[j], sizes[(i + j) % NSIZES], ta, tb, 3, 1.0f, 0.0f);
  product(64, 256, 784, ta, tb, 16, 1.0f, 0.0f);  /* the MLP's first layer */
}
END_TEST

START_TEST(alpha_and_beta) {
  const int ta = _i & 1, tb = _i >> 1;
  product(65, 7, 63, ta, tb, 1, 1.0f, 1.0f);   /* accumulate: xsmm's beta = 1 */
  product(63, 65, 7, ta, tb, 0, 0.5f, 0.0f);   /* alpha: openblas for xsmm */
  product(7, 257, 65, ta, tb, 2, -2.0f, 3.0f); /* both */
}
END_TEST

/* beta == 0 never reads C: NaN there does not survive */
START_TEST(beta_zero_ignores_c) {
  uint64_t s = 5;
  astrt_gemm_batch d = {0, 1, 9, 17, 33, 33, 33, 17, 0, {1, 1, 1, 1}, {0}, {0}, {0}, 1.0f, 0.0f, backend, ab_type};
  Buf a = buf(&s, 9 * 33), b = buf(&s, 17 * 33);
  float *c = filled(9 * 17, NAN);
  astrt_gemm_batched(&d, a.x, b.x, c);
  for (int i = 0; i < 9 * 17; i++) ck_assert_msg(!isnan(c[i]), "c[%d] is NaN", i);
  free(c);
  buf_free(&a), buf_free(&b);
}
END_TEST

/* ---- batched, broadcast, folded, strided --------------------------------------------------- */

/* [B, H] heads of [B, T, H, D] tensors read in place (S = Q K^T, then O = S V
 * written into [B, T, H, D]), as attention's products are */
START_TEST(strided_heads) {
  uint64_t s = 11;
  const int64_t bsz = 2, t = 65, h = 3, dh = 7;
  Buf q = buf(&s, bsz * t * h * dh), kk = buf(&s, bsz * t * h * dh);
  astrt_gemm_batch d = {0, 1, t, t, dh, h * dh, h * dh, t, 2, {bsz, h}, {t * h * dh, dh}, {t * h * dh, dh},
                        {h * t * t, t * t}, 0.125f, 0.0f, backend, ab_type};
  check_call("Q K^T", &d, &q, &kk, bsz * h * t * t, &s);
  d.alpha = 1.0f;
  check_call("Q K^T, alpha 1", &d, &q, &kk, bsz * h * t * t, &s);
  Buf p = buf(&s, bsz * h * t * t);
  astrt_gemm_batch e = {0, 0, t, dh, t, t, h * dh, h * dh, 2, {bsz, h}, {h * t * t, t * t}, {t * h * dh, dh},
                        {t * h * dh, dh}, 1.0f, 0.0f, backend, ab_type};
  check_call("P V", &e, &p, &kk, bsz * t * h * dh, &s);
  /* the gradient of V: P^T dO, A transposed */
  e.ta = 1;
  check_call("P^T dO", &e, &p, &kk, bsz * t * h * dh, &s);
  buf_free(&q), buf_free(&kk), buf_free(&p);
}
END_TEST

/* x[L, M, K] @ w[K, N] with w broadcast (stride 0), and a weight gradient
 * folded over two batch dimensions: C[M, N] = sum_ij A_ij^T B_ij */
START_TEST(broadcast_and_folded) {
  uint64_t s = 23;
  const int64_t l = 3, m = 63, k = 65, n = 7;
  Buf x = buf(&s, l * m * k), w = buf(&s, k * n);
  astrt_gemm_batch d = {0, 0, m, n, k, k, n, n, 1, {l, 1, 1, 1}, {m * k}, {0}, {m * n}, 1.0f, 0.0f, backend, ab_type};
  check_call("broadcast w", &d, &x, &w, l * m * n, &s);
  Buf y = buf(&s, 2 * l * k * n);
  /* A_ij = x rows as [K, M]?: A [2, 3] items of [k, m]; B [2, 3] of [k, n]; C folded */
  Buf xa = buf(&s, 2 * l * k * m);
  astrt_gemm_batch f = {1, 0, m, n, k, m, n, n, 2, {2, l}, {l * k * m, k * m}, {l * k * n, k * n}, {0, 0},
                        1.0f, 0.0f, backend, ab_type};
  check_call("folded", &f, &xa, &y, m * n, &s);
  f.beta = 1.0f;
  check_call("folded, beta 1", &f, &xa, &y, m * n, &s);
  /* one folded and one not: C stride on the second */
  f.sc[1] = m * n, f.beta = 0.0f;
  check_call("folded and not", &f, &xa, &y, l * m * n, &s);
  buf_free(&x), buf_free(&w), buf_free(&y), buf_free(&xa);
}
END_TEST

/* empty products: nothing written, or C = beta C for k == 0 */
START_TEST(empty) {
  uint64_t s = 3;
  Buf a = buf(&s, 16), b = buf(&s, 16);
  astrt_gemm_batch d = {0, 0, 0, 2, 2, 2, 2, 2, 1, {2, 1, 1, 1}, {0}, {0}, {2}, 1.0f, 0.0f, backend, ab_type};
  float c[8];
  for (int i = 0; i < 8; i++) c[i] = (float)(i + 1);
  astrt_gemm_batched(&d, a.x, b.x, c);
  d.m = 2, d.n = 0;
  astrt_gemm_batched(&d, a.x, b.x, c);
  d.n = 2, d.count[0] = 0;
  astrt_gemm_batched(&d, a.x, b.x, c);
  for (int i = 0; i < 8; i++) ck_assert_msg(c[i] == (float)(i + 1), "an empty call wrote c[%d]", i);
  astrt_gemm_batch z = {1, 1, 2, 2, 0, 2, 1, 4, 1, {1, 1, 1, 1}, {0}, {0}, {0}, 1.0f, 3.0f, backend, ab_type};
  astrt_gemm_batched(&z, a.x, b.x, c);
  ck_assert(c[0] == 3 && c[1] == 6 && c[2] == 3 && c[3] == 4 && c[4] == 15 && c[5] == 18 && c[6] == 7);
  buf_free(&a), buf_free(&b);
}
END_TEST

/* ---- determinism ---------------------------------------------------------------------------- */

/* The same call on 1, 2 and 3 threads: the same bits (pieces by shape only) */
START_TEST(threads_bit_identical) {
  static const int64_t shapes[][5] = {{64, 256, 784, 0, 0}, {784, 256, 64, 1, 0}, {64, 256, 128, 0, 1},
                                      {257, 65, 63, 1, 1}, {7, 1000, 33, 0, 0}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const int64_t m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
    const int ta = (int)shapes[i][3], tb = (int)shapes[i][4];
    uint64_t s = 99 + i;
    astrt_gemm_batch d = {ta, tb, m, n, k, ta ? m : k, tb ? k : n, n, 0, {1, 1, 1, 1}, {0}, {0}, {0}, 1.0f, 0.0f,
                          backend, ab_type};
    Buf a = buf(&s, m * k), b = buf(&s, k * n);
    float *c[3];
    for (int t = 0; t < 3; t++) {
      c[t] = filled(m * n, 0);
      astrt_pool_configure(t + 1);
      astrt_gemm_batched(&d, a.x, b.x, c[t]);
    }
    astrt_pool_configure(1);
    for (int t = 1; t < 3; t++)
      ck_assert_msg(!memcmp(c[0], c[t], sizeof(float) * (size_t)(m * n)), "%lldx%lldx%lld: %d threads differ from 1",
                    (long long)m, (long long)n, (long long)k, t + 1);
    for (int t = 0; t < 3; t++) free(c[t]);
    buf_free(&a), buf_free(&b);
  }
}
END_TEST

/* libxsmm without kernels (a test hook): every piece falls back, and the
 * products stay right */
START_TEST(no_kernels_fallback) {
#ifdef ASTRT_TEST_HOOKS
  astrt_gemm_xsmm_test_no_kernels(1);
  for (int t = 0; t < 4; t++) {
    product(65, 7, 63, t & 1, t >> 1, 0, 1.0f, 0.0f);
    product(7, 65, 64, t & 1, t >> 1, 1, 1.0f, 1.0f);
  }
  uint64_t s = 7;
  Buf p = buf(&s, 2 * 3 * 9 * 9), v = buf(&s, 2 * 9 * 3 * 5);
  astrt_gemm_batch e = {0, 0, 9, 5, 9, 9, 15, 15, 2, {2, 3}, {27 * 9, 81}, {27 * 5, 5}, {27 * 5, 5}, 1.0f, 0.0f,
                        backend, ab_type};
  check_call("batched", &e, &p, &v, 2 * 9 * 15, &s);
  buf_free(&p), buf_free(&v);
  astrt_gemm_xsmm_test_no_kernels(0);
#endif
}
END_TEST

/* ---- the main suite's own tests --------------------------------------------------------------- */

START_TEST(bf16_conversions) {
  const float x[] = {1.0f, -2.5f, 1.00390625f /* tie: 1 + 2^-8 -> 1 */, 1.01171875f /* tie -> 1.015625 */,
                     3.0e38f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f};
  const float want[] = {1.0f, -2.5f, 1.0f, 1.015625f, 3.0e38f, -0.0f, INFINITY, -INFINITY, NAN, 0};
  const int n = (int)(sizeof x / sizeof x[0]);
  uint16_t h[16];
  float y[16];
  astrt_f32_to_bf16(x, h, n);
  astrt_bf16_to_f32(h, y, n);
  for (int i = 0; i < n; i++) {
    if (isnan(want[i])) {
      ck_assert(isnan(y[i]));
    } else if (i == 4) {
      ck_assert(isfinite(y[i]) && fabsf(y[i] - x[i]) <= x[i] * 0x1p-8f);
    } else if (i == 9) {
      ck_assert(fabsf(y[i] - x[i]) <= 0x1p-134f);  /* subnormals round like any value: half a bf16 step */
    } else {
      ck_assert_msg(y[i] == want[i] && signbit(y[i]) == signbit(want[i]), "bf16(%g) = %g, want %g", (double)x[i],
                    (double)y[i], (double)want[i]);
    }
  }
  /* the vector path and the scalar tail agree: 37 values, each one's round trip twice is stable */
  float v[37], r[37];
  uint16_t hv[37];
  uint64_t s = 1;
  for (int i = 0; i < 37; i++) v[i] = fx_lcg_pm1(&s) * 1000;
  astrt_f32_to_bf16(v, hv, 37);
  astrt_bf16_to_f32(hv, r, 37);
  for (int i = 0; i < 37; i++) {
    uint16_t one;
    astrt_f32_to_bf16(&v[i], &one, 1);
    ck_assert_int_eq(one, hv[i]);
    ck_assert(fabsf(r[i] - v[i]) <= fabsf(v[i]) * 0x1p-8f);
  }
}
END_TEST

START_TEST(names_and_override) {
  ck_assert_str_eq(astrt_gemm_backend_name(ASTRT_GEMM_OPENBLAS), "openblas");
  ck_assert_str_eq(astrt_gemm_backend_name(ASTRT_GEMM_XSMM), "xsmm");
  ck_assert_ptr_null(astrt_gemm_backend_name(ASTRT_NUM_GEMM_BACKENDS));
  ck_assert_int_eq(astrt_gemm_backend_id("xsmm"), ASTRT_GEMM_XSMM);
  ck_assert_int_eq(astrt_gemm_backend_id("mkl"), -1);
  ck_assert(astrt_gemm_backend_available(ASTRT_GEMM_OPENBLAS, ASTRT_DTYPE_BF16, NULL));
  /* the site's backend, unless forced; openblas for what a backend cannot take */
  astrt_gemm_batch d = {0, 0, 4, 4, 4, 4, 4, 4, 0, {1, 1, 1, 1}, {0}, {0}, {0}, 1.0f, 0.0f, ASTRT_GEMM_XSMM,
                        ASTRT_DTYPE_F32};
  int was = astrt_gemm_force(-1);
  const int xsmm = astrt_gemm_backend_available(ASTRT_GEMM_XSMM, ASTRT_DTYPE_F32, NULL);
  ck_assert_int_eq(astrt_gemm_backend_resolve(&d), xsmm ? ASTRT_GEMM_XSMM : ASTRT_GEMM_OPENBLAS);
  d.beta = 0.5f;
  ck_assert_int_eq(astrt_gemm_backend_resolve(&d), ASTRT_GEMM_OPENBLAS);
  d.beta = 0.0f;
  astrt_gemm_force(ASTRT_GEMM_OPENBLAS);
  ck_assert_int_eq(astrt_gemm_backend_resolve(&d), ASTRT_GEMM_OPENBLAS);
  astrt_gemm_force(was);
  /* a measurement: positive for openblas, negative for what cannot run */
  ck_assert(astrt_gemm_measure(&d, ASTRT_GEMM_OPENBLAS, 2, 1e-4) > 0);
  d.beta = 2.0f;
  ck_assert(astrt_gemm_measure(&d, ASTRT_GEMM_XSMM, 1, 1e-4) < 0);
}
END_TEST

/* ---- suites ------------------------------------------------------------------------------------ */

static Suite *backend_suite(const char *name, int be, int type) {
  backend = be, ab_type = type;
  astrt_gemm_force(be);
  Suite *s = suite_create(name);
  TCase *tc = tcase_create("products");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, odd_shapes, 0, 4);
  tcase_add_loop_test(tc, padded_leading_dimensions, 0, 4);
  tcase_add_loop_test(tc, alpha_and_beta, 0, 4);
  tcase_add_test(tc, beta_zero_ignores_c);
  tcase_add_test(tc, strided_heads);
  tcase_add_test(tc, broadcast_and_folded);
  tcase_add_test(tc, empty);
  tcase_add_test(tc, threads_bit_identical);
  if (be == ASTRT_GEMM_XSMM) tcase_add_test(tc, no_kernels_fallback);
  suite_add_tcase(s, tc);
  return s;
}

static Suite *gemm_suite(void) {
  Suite *s = backend_suite("gemm", ASTRT_GEMM_OPENBLAS, ASTRT_DTYPE_F32);
  /* openblas with bf16 operands (widened), and the rules */
  TCase *tc = tcase_create("main");
  tcase_add_test(tc, bf16_conversions);
  tcase_add_test(tc, names_and_override);
  suite_add_tcase(s, tc);
  return s;
}

static Suite *openblas_bf16_suite(void) { return backend_suite("openblas_bf16", ASTRT_GEMM_OPENBLAS, ASTRT_DTYPE_BF16); }
static Suite *xsmm_suite(void) { return backend_suite("xsmm", ASTRT_GEMM_XSMM, ASTRT_DTYPE_F32); }
static Suite *xsmm_bf16_suite(void) { return backend_suite("xsmm_bf16", ASTRT_GEMM_XSMM, ASTRT_DTYPE_BF16); }
static Suite *xsmm_avx2_suite(void) { return backend_suite("xsmm_avx2", ASTRT_GEMM_XSMM, ASTRT_DTYPE_F32); }

static const char *missing_none(void) { return NULL; }

static const char *missing_xsmm(void) {
  const char *why = NULL;
  return astrt_gemm_backend_available(ASTRT_GEMM_XSMM, ASTRT_DTYPE_F32, &why) ? NULL : why;
}

static const char *missing_xsmm_bf16(void) {
  const char *why = NULL;
  return astrt_gemm_backend_available(ASTRT_GEMM_XSMM, ASTRT_DTYPE_BF16, &why) ? NULL : why;
}

static const char *missing_xsmm_avx2(void) {
  const char *why = missing_xsmm();
  if (why) return why;
  if (strcmp(astrt_gemm_xsmm_arch(), "hsw") != 0)
    return "libxsmm does not target AVX2 here (ctest sets LIBXSMM_TARGET=hsw for this entry; run it that way)";
  return NULL;
}

int main(int argc, char **argv) {
  static const FxExtra extra[] = {
      {"openblas_bf16", openblas_bf16_suite, missing_none},
      {"xsmm", xsmm_suite, missing_xsmm},
      {"xsmm_bf16", xsmm_bf16_suite, missing_xsmm_bf16},
      {"xsmm_avx2", xsmm_avx2_suite, missing_xsmm_avx2},
  };
  return fx_main(argc, argv, gemm_suite, extra, 4);
}
