/* test_kernels_seq.c — Check suite for the transformer kernels
 * (astrt_kernels.h): softmax (plain and causal), log-softmax, layer norm,
 * their gradients, the embedding gather / scatter-add (kernels_seq.c) and
 * the batched strided GEMM (kernels_gemm_batched.c).
 *
 * Every fast kernel is compared with its reference (which sums in double
 * and rounds once) on random inputs over odd sizes, with outputs pre-filled
 * with NaN (a forgotten element fails). The row kernels are run with EVERY
 * instruction set this CPU supports (astrt_seq_set_isa: generic, avx2,
 * avx512), and every kernel must give bit-identical results on 1, 2 and 3
 * of the runtime's threads.
 *
 * Tolerances. Each element must satisfy
 *     |fast - ref| <= TOL_SEQ * (|ref| + scale) + abs
 * where `scale` is the size of the terms the element is computed from
 * (computed by the test per kernel, below), i.e. the usual bound of a float
 * computation: a sum of L terms rounded in float is off by at most
 * ~L_eff * 2^-24 * sum |terms|, with L_eff = L / (2 * lanes) + log2(lanes)
 * + a few for the lane-wise accumulation; the vectorised exp adds < 3e-7
 * relative (tested directly, test_exp). For the longest row here (257) that
 * is below 3e-6 of the scale, so TOL_SEQ = 1e-5 leaves a margin of 3 (the
 * observed errors, ASTRT_TEST_VERBOSE=1, are ~1e-7). A wrong mask, a wrong
 * maximum, a missed tail element or a wrong normalisation changes elements
 * by O(|ref|), far above it. `abs` is 0 except for the softmax, where exp is
 * flushed to 0 below e^-86.5 (abs 1e-37 > e^-86.5 / 1 covers it).
 * The batched GEMM uses test_kernels.c's sgemm tolerance, 1e-4 * (1 + max
 * |ref|) (dot products of at most 4 * 65 terms in [-1, 1]).
 * The gather and the scatter-add are pure copies and float sums in
 * increasing i: they must match a float oracle bit for bit.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrt_kernels.h"
#include "kernels_internal.h"

void openblas_set_num_threads(int num_threads);

#define TOL_SEQ 1e-5
#define TOL_GEMM 1e-4

/* ---- helpers ------------------------------------------------------------- */

typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r) {  /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1), multiples of 2^-23. */
static float rng_pm1(rng *r) { return (float)((double)(rng_next(r) >> 40) * 0x1p-23 - 1.0); }

static float *alloc_f(int64_t n) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(p);
  return p;
}

static double *alloc_d(int64_t n) {
  double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* scale * U[-1, 1) + offset */
static float *rand_f(rng *r, int64_t n, float scale, float offset) {
  float *p = alloc_f(n);
  for (int64_t i = 0; i < n; i++) p[i] = rng_pm1(r) * scale + offset;
  return p;
}

static float *nan_f(int64_t n) {
  float *p = alloc_f(n);
  for (int64_t i = 0; i < n; i++) p[i] = NAN;
  return p;
}

static float *copy_f(const float *src, int64_t n) {
  float *p = alloc_f(n);
  if (n > 0) memcpy(p, src, (size_t)n * sizeof(float));
  return p;
}

static void fill_nan(float *p, int64_t n) {
  for (int64_t i = 0; i < n; i++) p[i] = NAN;
}

static double max_abs(const float *p, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; i++)
    if (fabs((double)p[i]) > m) m = fabs((double)p[i]);
  return m;
}

/* |got - want| <= rel * (|want| + scale[i]) + abs for every i (scale may be
 * NULL: 0); NaN in got fails unless want is NaN there. */
static void assert_near(const char *what, const float *got, const float *want, const double *scale, int64_t n,
                        double rel, double abs) {
  double worst = 0.0, worst_abs = 0.0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(want[i]) && isnan(got[i])) continue;
    const double s = fabs((double)want[i]) + (scale ? scale[i] : 0.0);
    const double err = fabs((double)got[i] - (double)want[i]);
    if (!(err <= rel * s + abs))
      ck_abort_msg("%s: element %lld: got %.9g, want %.9g (scale %.3g, tol %.3g)", what, (long long)i,
                   (double)got[i], (double)want[i], s, rel * s + abs);
    if (err > worst_abs) worst_abs = err;
    if (s > 0 && err > abs && err / s > worst) worst = err / s;
  }
  if (getenv("ASTRT_TEST_VERBOSE"))
    fprintf(stderr, "%s: max |err| %.3g; max |err| / scale %.3g (errors above abs)\n", what, worst_abs, worst);
}

/* Exactly equal (bits of values; two NaNs count as equal). */
static void assert_same(const char *what, const float *got, const float *want, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!(memcmp(&got[i], &want[i], sizeof(float)) == 0 || (isnan(got[i]) && isnan(want[i]))))
      ck_abort_msg("%s: element %lld: got %.9g, want %.9g", what, (long long)i, (double)got[i], (double)want[i]);
}

static void teardown(void) { astrt_kernels_release_scratch(); }

/* The instruction sets of the row kernels; a test runs its body with each
 * one the CPU supports. */
static const char *const isa_names[] = {"generic", "avx2", "avx512"};
#define N_ISAS 3

/* ---- exp ----------------------------------------------------------------- */

/* The vectorised exp, read out exactly through the log-softmax gradient:
 * with dy = (1, 0, 0, ...), sum dy = 1 and dx_j = 0 - exp(y_j) * 1 for
 * j >= 1. Every float in [-86.5, ln FLT_MAX] on a fine grid (and all 2^23
 * floats of [1, 2) / [-2, -1) in steps), against exp in double. */
START_TEST(test_exp) {
  const int64_t n = 1 << 20;
  float *y = alloc_f(n), *dy = calloc((size_t)n, sizeof(float)), *dx = alloc_f(n);
  ck_assert_ptr_nonnull(dy);
  dy[0] = 1.0f;
  y[0] = 0.0f;
  for (int64_t i = 1; i < n - 8; i++) y[i] = -90.0f + (float)((double)i * (179.0 / (double)n));
  const float special[8] = {-INFINITY, INFINITY, NAN, 0.0f, -0.0f, -86.5f, 88.72f, -1e-30f};
  memcpy(y + n - 8, special, sizeof special);
  for (int s = 0; s < N_ISAS; s++) {
    if (!astrt_seq_set_isa(isa_names[s])) continue;
    fill_nan(dx, n);
    astrt_log_softmax_grad_f32(y, dy, dx, 1, n);
    double worst = 0.0;
    for (int64_t i = 1; i < n - 8; i++) {
      const double e = exp((double)y[i]);
      if (y[i] < -86.5f) {  /* flushed: e < 3e-38 */
        ck_assert_msg(dx[i] == 0.0f && e < 3e-38, "%s: exp(%g) = %g", isa_names[s], (double)y[i], -(double)dx[i]);
      } else if (e > 3.4028234e38) {
        ck_assert_msg(isinf(dx[i]) && dx[i] < 0, "%s: exp(%g) = %g, want inf", isa_names[s], (double)y[i],
                      -(double)dx[i]);
      } else {
        const double err = fabs(-(double)dx[i] - e) / e;
        if (err > worst) worst = err;
        ck_assert_msg(err < 3e-7, "%s: exp(%.9g) = %.9g, want %.9g (rel err %.3g)", isa_names[s], (double)y[i],
                      -(double)dx[i], e, err);
      }
    }
    const float *sp = dx + n - 8;
    ck_assert(sp[0] == 0.0f);                    /* e^-inf = 0 */
    ck_assert(isinf(sp[1]) && sp[1] < 0);        /* e^inf = inf */
    ck_assert(isnan(sp[2]));                     /* NaN propagates */
    ck_assert(sp[3] == -1.0f && sp[4] == -1.0f); /* e^0 = 1 exactly */
    ck_assert(sp[5] < 0 && sp[6] < 0 && isfinite(sp[6]));
    ck_assert(sp[7] == -1.0f);
    if (getenv("ASTRT_TEST_VERBOSE")) fprintf(stderr, "exp %s: max rel err %.3g\n", isa_names[s], worst);
  }
  free(y);
  free(dy);
  free(dx);
}
END_TEST

START_TEST(test_isa_select) {
  ck_assert_int_eq(astrt_seq_set_isa("generic"), 1);
  ck_assert_str_eq(astrt_seq_isa(), "generic");
  ck_assert_int_eq(astrt_seq_set_isa("sse9"), 0);
  ck_assert_int_eq(astrt_seq_set_isa(NULL), 0);
  ck_assert_str_eq(astrt_seq_isa(), "generic");
  for (int s = 0; s < N_ISAS; s++)
    if (astrt_seq_set_isa(isa_names[s])) ck_assert_str_eq(astrt_seq_isa(), isa_names[s]);
}
END_TEST

/* ---- row kernels vs references -------------------------------------------- */

typedef enum { K_SOFTMAX, K_SOFTMAX_GRAD, K_LOG_SOFTMAX, K_LOG_SOFTMAX_GRAD, K_LAYERNORM, K_LAYERNORM_GRAD } kern;
static const char *const kern_name[] = {"softmax", "softmax_grad", "log_softmax", "log_softmax_grad", "layernorm",
                                        "layernorm_grad"};
#define N_KERNS 6

static void call_fast(kern k, const float *a, const float *b, float *out, int64_t rows, int64_t n) {
  switch (k) {
    case K_SOFTMAX: astrt_softmax_f32(a, out, rows, n, 0); break;
    case K_SOFTMAX_GRAD: astrt_softmax_grad_f32(a, b, out, rows, n); break;
    case K_LOG_SOFTMAX: astrt_log_softmax_f32(a, out, rows, n); break;
    case K_LOG_SOFTMAX_GRAD: astrt_log_softmax_grad_f32(a, b, out, rows, n); break;
    case K_LAYERNORM: astrt_layernorm_f32(a, out, rows, n, 1e-5f); break;
    case K_LAYERNORM_GRAD: astrt_layernorm_grad_f32(a, b, out, rows, n, 1e-5f); break;
  }
}

static void call_ref(kern k, const float *a, const float *b, float *out, int64_t rows, int64_t n) {
  switch (k) {
    case K_SOFTMAX: astrt_ref_softmax_f32(a, out, rows, n, 0); break;
    case K_SOFTMAX_GRAD: astrt_ref_softmax_grad_f32(a, b, out, rows, n); break;
    case K_LOG_SOFTMAX: astrt_ref_log_softmax_f32(a, out, rows, n); break;
    case K_LOG_SOFTMAX_GRAD: astrt_ref_log_softmax_grad_f32(a, b, out, rows, n); break;
    case K_LAYERNORM: astrt_ref_layernorm_f32(a, out, rows, n, 1e-5f); break;
    case K_LAYERNORM_GRAD: astrt_ref_layernorm_grad_f32(a, b, out, rows, n, 1e-5f); break;
  }
}

/* The inputs of kernel k: a (x, or y for the gradients of the softmaxes,
 * computed by the reference from random logits) and b (dy). */
static void make_inputs(kern k, rng *r, int64_t rows, int64_t n, float scale, float offset, float **a, float **b) {
  *a = rand_f(r, rows * n, scale, offset);
  *b = rand_f(r, rows * n, 1.0f, 0.0f);
  if (k == K_SOFTMAX_GRAD || k == K_LOG_SOFTMAX_GRAD) {
    float *y = alloc_f(rows * n);
    (k == K_SOFTMAX_GRAD ? astrt_ref_softmax_f32(*a, y, rows, n, 0) : astrt_ref_log_softmax_f32(*a, y, rows, n));
    free(*a);
    *a = y;
  }
}

/* The per-element error scale of kernel k (see the head of the file). */
static double *error_scale(kern k, const float *a, const float *b, int64_t rows, int64_t n) {
  double *s = alloc_d(rows * n);
  for (int64_t r = 0; r < rows; r++) {
    const float *ar = a + r * n, *br = b + r * n;
    double *sr = s + r * n;
    double m = -INFINITY, t = 0, u = 0, mean = 0, var = 0;
    switch (k) {
      case K_SOFTMAX: break;  /* relative to the value itself */
      case K_SOFTMAX_GRAD:    /* y (dy - sum dy y) */
        for (int64_t j = 0; j < n; j++) t += fabs((double)ar[j] * br[j]);
        for (int64_t j = 0; j < n; j++) sr[j] = ar[j] * (fabs(br[j]) + t);
        break;
      case K_LOG_SOFTMAX:  /* (x - m) - log sum exp(x - m) */
        for (int64_t j = 0; j < n; j++) m = fmax(m, ar[j]);
        for (int64_t j = 0; j < n; j++) t += exp(ar[j] - m);
        for (int64_t j = 0; j < n; j++) sr[j] = fabs(ar[j] - m) + log(t) + 1.0;  /* + 1: the sum's relative error is lse's absolute one */
        break;
      case K_LOG_SOFTMAX_GRAD:  /* dy - exp(y) sum dy */
        for (int64_t j = 0; j < n; j++) t += fabs(br[j]);
        for (int64_t j = 0; j < n; j++) sr[j] = fabs(br[j]) + exp(ar[j]) * t;
        break;
      case K_LAYERNORM:
      case K_LAYERNORM_GRAD:
        for (int64_t j = 0; j < n; j++) mean += ar[j], t += fabs(ar[j]);
        mean /= (double)n;
        t /= (double)n;  /* mean |x|: the size of the terms of the mean */
        for (int64_t j = 0; j < n; j++) var += (ar[j] - mean) * (ar[j] - mean);
        const double rstd = 1.0 / sqrt(var / (double)n + 1e-5), exh = rstd * t;  /* error scale of xhat */
        if (k == K_LAYERNORM) {
          for (int64_t j = 0; j < n; j++) sr[j] = rstd * (fabs(ar[j]) + t);
          break;
        }
        double mdy = 0;
        for (int64_t j = 0; j < n; j++) {
          mdy += fabs(br[j]);
          u += fabs(br[j]) * (fabs(ar[j] - mean) * rstd + exh);
        }
        mdy /= (double)n;
        u /= (double)n;
        for (int64_t j = 0; j < n; j++)
          sr[j] = rstd * (fabs(br[j]) + mdy + (fabs(ar[j] - mean) * rstd + exh) * u);
        break;
    }
  }
  return s;
}

typedef struct row_case { int64_t rows, n; float scale, offset; } row_case;

static const row_case row_cases[] = {
    {1, 1, 1, 0},     {3, 7, 1, 0},     {17, 63, 1, 0},   {300, 65, 1, 0},  {5, 257, 1, 0},
    {64, 64, 3, 0},   {16, 128, 1, 0},  {2, 33, 1, 0},    {9, 5000, 4, 0},  /* a vocabulary row */
    {7, 65, 50, 0},   /* differences up to 100: tiny probabilities, flushed exps */
    {6, 63, 30, 1e4f},  /* large logits: nothing lost to cancellation */
    {6, 64, 1, -3e3f},  {4, 129, 1, 100.0f},  /* layer norm of an offset row */
};
#define N_ROW_CASES ((int)(sizeof row_cases / sizeof row_cases[0]))

/* _i: case * N_KERNS + kernel; every instruction set */
START_TEST(test_rows_vs_ref) {
  const row_case *c = &row_cases[_i / N_KERNS];
  const kern k = (kern)(_i % N_KERNS);
  const int64_t rows = c->rows, n = c->n, cnt = rows * n;
  rng r = {100u + (uint64_t)_i};
  float *a, *b;
  make_inputs(k, &r, rows, n, c->scale, c->offset, &a, &b);
  float *want = nan_f(cnt), *got = alloc_f(cnt);
  call_ref(k, a, b, want, rows, n);
  double *scale = error_scale(k, a, b, rows, n);
  const double abs = k == K_SOFTMAX ? 1e-37 : 0.0;
  for (int s = 0; s < N_ISAS; s++) {
    if (!astrt_seq_set_isa(isa_names[s])) continue;
    char what[128];
    snprintf(what, sizeof what, "%s rows=%lld n=%lld scale=%g offset=%g isa=%s", kern_name[k], (long long)rows,
             (long long)n, (double)c->scale, (double)c->offset, isa_names[s]);
    fill_nan(got, cnt);
    call_fast(k, a, b, got, rows, n);
    assert_near(what, got, want, scale, cnt, TOL_SEQ, abs);
    /* overwrites: a second call over its own output gives the same bits */
    float *again = copy_f(got, cnt);
    call_fast(k, a, b, again, rows, n);
    assert_same(what, again, got, cnt);
    /* in place: the output in the buffer of its same-shaped input */
    float *ia = copy_f(a, cnt), *ib = copy_f(b, cnt);
    const int into_b = k == K_SOFTMAX_GRAD || k == K_LOG_SOFTMAX_GRAD || k == K_LAYERNORM_GRAD;
    call_fast(k, ia, ib, into_b ? ib : ia, rows, n);
    assert_same(what, into_b ? ib : ia, got, cnt);
    free(ia);
    free(ib);
    free(again);
  }
  free(a);
  free(b);
  free(want);
  free(got);
  free(scale);
}
END_TEST

/* ---- softmax: -inf, NaN, the causal mask ------------------------------------ */

/* -inf entries get probability exactly 0 (not NaN) as long as the row has a
 * finite entry; a row with one finite entry is exactly one-hot; a NaN makes
 * its row NaN. Log-softmax: -inf stays -inf, the rest finite. */
START_TEST(test_softmax_inf) {
  const int64_t rows = 6, n = 37;
  rng r = {77u};
  float *x = rand_f(&r, rows * n, 5, 0), *y = nan_f(rows * n), *want = nan_f(rows * n);
  for (int64_t j = 0; j < n; j++)
    if (j % 3) x[0 * n + j] = -INFINITY;           /* row 0: most entries -inf */
  for (int64_t j = 0; j < n; j++) x[1 * n + j] = j == 20 ? 3.0f : -INFINITY;  /* row 1: one finite entry */
  x[2 * n + 0] = -INFINITY;                        /* row 2: -inf first */
  x[2 * n + n - 1] = -INFINITY;                    /* ... and last (the tail) */
  x[3 * n + 5] = 1e30f;                            /* row 3: a huge entry: one-hot */
  x[4 * n + 7] = NAN;                              /* row 4: NaN */
  for (int s = 0; s < N_ISAS; s++) {
    if (!astrt_seq_set_isa(isa_names[s])) continue;
    astrt_softmax_f32(x, y, rows, n, 0);
    astrt_ref_softmax_f32(x, want, rows, n, 0);
    for (int64_t i = 0; i < 4 * n; i++) {
      ck_assert_msg(!isnan(y[i]), "%s: softmax NaN at %lld", isa_names[s], (long long)i);
      if (isinf(x[i])) ck_assert_msg(y[i] == 0.0f, "%s: softmax of -inf = %g", isa_names[s], (double)y[i]);
    }
    for (int64_t j = 0; j < n; j++) {
      ck_assert(y[1 * n + j] == (j == 20 ? 1.0f : 0.0f));
      ck_assert(y[3 * n + j] == (j == 5 ? 1.0f : 0.0f));
      ck_assert(isnan(y[4 * n + j]));
    }
    assert_near("softmax with -inf", y, want, NULL, 4 * n, TOL_SEQ, 1e-37);
    assert_near("softmax row 5", y + 5 * n, want + 5 * n, NULL, n, TOL_SEQ, 1e-37);
    astrt_log_softmax_f32(x, y, rows, n);
    for (int64_t i = 0; i < 4 * n; i++) {
      if (isinf(x[i])) ck_assert(isinf(y[i]) && y[i] < 0);
      else ck_assert(isfinite(y[i]));
    }
    ck_assert(y[1 * n + 20] == 0.0f && y[3 * n + 5] == 0.0f);
    for (int64_t j = 0; j < n; j++) ck_assert(isnan(y[4 * n + j]));
  }
  free(x);
  free(y);
  free(want);
}
END_TEST

/* The causal mask: row r's columns j > r % T are exactly 0, the rest equal
 * the reference with the mask, and (within tolerance) the plain softmax of
 * x with the masked entries replaced by -inf. */
static const int64_t causal_sizes[] = {1, 2, 7, 16, 63, 64, 65, 130};

START_TEST(test_softmax_causal) {
  const int64_t t = causal_sizes[_i], blocks = 3, rows = blocks * t + (t > 1 ? t / 2 : 0);  /* a partial block */
  rng r = {500u + (uint64_t)_i};
  float *x = rand_f(&r, rows * t, 4, 0), *xm = copy_f(x, rows * t);
  float *y = alloc_f(rows * t), *want = nan_f(rows * t), *want_m = nan_f(rows * t);
  for (int64_t row = 0; row < rows; row++)
    for (int64_t j = row % t + 1; j < t; j++) xm[row * t + j] = -INFINITY;
  astrt_ref_softmax_f32(x, want, rows, t, t);
  astrt_ref_softmax_f32(xm, want_m, rows, t, 0);
  assert_same("ref causal vs ref of -inf-filled", want, want_m, rows * t);
  for (int s = 0; s < N_ISAS; s++) {
    if (!astrt_seq_set_isa(isa_names[s])) continue;
    fill_nan(y, rows * t);
    astrt_softmax_f32(x, y, rows, t, t);
    for (int64_t row = 0; row < rows; row++)
      for (int64_t j = row % t + 1; j < t; j++)
        ck_assert_msg(y[row * t + j] == 0.0f && !signbit(y[row * t + j]), "%s: T=%lld masked y[%lld,%lld] = %g",
                      isa_names[s], (long long)t, (long long)row, (long long)j, (double)y[row * t + j]);
    assert_near("causal softmax vs ref", y, want, NULL, rows * t, TOL_SEQ, 1e-37);
    float *ym = nan_f(rows * t);
    astrt_softmax_f32(xm, ym, rows, t, 0);
    assert_near("causal softmax vs -inf-filled", y, ym, NULL, rows * t, TOL_SEQ, 1e-37);
    free(ym);
  }
  free(x);
  free(xm);
  free(y);
  free(want);
  free(want_m);
}
END_TEST

/* Hand values: softmax(0, ln 3) = (1/4, 3/4); layer norm of (1, 3) =
 * (-1, 1) / sqrt(1 + eps); softmax grad of y = (1/4, 3/4), dy = (1, 0):
 * dot = 1/4, dx = (3/16, -3/16). */
START_TEST(test_rows_hand) {
  for (int s = 0; s < N_ISAS; s++) {
    if (!astrt_seq_set_isa(isa_names[s])) continue;
    const float x[2] = {0.0f, logf(3.0f)};
    float y[2], dx[2];
    astrt_softmax_f32(x, y, 1, 2, 0);
    ck_assert(fabsf(y[0] - 0.25f) < 1e-7f && fabsf(y[1] - 0.75f) < 1e-7f);
    astrt_ref_softmax_f32(x, y, 1, 2, 0);
    ck_assert(fabsf(y[0] - 0.25f) < 1e-7f && fabsf(y[1] - 0.75f) < 1e-7f);
    const float yy[2] = {0.25f, 0.75f}, dy[2] = {1.0f, 0.0f};
    astrt_softmax_grad_f32(yy, dy, dx, 1, 2);
    ck_assert(dx[0] == 0.1875f && dx[1] == -0.1875f);
    const float x2[2] = {1.0f, 3.0f};
    astrt_layernorm_f32(x2, y, 1, 2, 0.0f);
    ck_assert(y[0] == -1.0f && y[1] == 1.0f);
    astrt_ref_layernorm_f32(x2, y, 1, 2, 0.0f);
    ck_assert(y[0] == -1.0f && y[1] == 1.0f);
    /* one element: mean = x, y = 0, dx = 0 */
    astrt_layernorm_f32(x2, y, 1, 1, 1e-5f);
    ck_assert(y[0] == 0.0f);
    astrt_layernorm_grad_f32(x2, dy, dx, 1, 1, 1e-5f);
    ck_assert(dx[0] == 0.0f);
    /* log-softmax of (0, ln 3) = (ln 1/4, ln 3/4) */
    astrt_log_softmax_f32(x, y, 1, 2);
    ck_assert(fabsf(y[0] - logf(0.25f)) < 1e-6f && fabsf(y[1] - logf(0.75f)) < 1e-6f);
    /* empty rows or no rows: nothing written */
    y[0] = 42.0f;
    astrt_softmax_f32(x, y, 0, 2, 0);
    astrt_layernorm_f32(x, y, 3, 0, 1e-5f);
    astrt_log_softmax_grad_f32(x, x, y, 0, 0);
    ck_assert(y[0] == 42.0f);
  }
}
END_TEST

/* ---- embedding ------------------------------------------------------------- */

/* The float oracle of the scatter-add: each table row summed in float, in
 * increasing i, starting from 0. */
static void scatter_oracle(const int32_t *idx, int64_t count, const float *dy, int64_t d, int64_t vocab,
                           float *dtable) {
  for (int64_t t = 0; t < vocab * d; t++) dtable[t] = 0.0f;
  for (int64_t i = 0; i < count; i++)
    if (idx[i] >= 0 && idx[i] < vocab)
      for (int64_t j = 0; j < d; j++) dtable[idx[i] * d + j] += dy[i * d + j];
}

typedef struct emb_case { int64_t vocab, d, count; int bad; } emb_case;

/* bad: some ids outside [0, vocab) (negative, vocab, INT32 extremes) */
static const emb_case emb_cases[] = {
    {1, 1, 1, 0},     {7, 5, 300, 1},  {256, 128, 2048, 0}, {50, 63, 97, 1},
    {3, 257, 40, 1},  {1000, 7, 13, 0}, {5, 65, 0, 0},     {300, 1, 300, 1},
};
#define N_EMB_CASES ((int)(sizeof emb_cases / sizeof emb_cases[0]))

START_TEST(test_embedding) {
  const emb_case *c = &emb_cases[_i];
  const int64_t vocab = c->vocab, d = c->d, count = c->count;
  rng r = {900u + (uint64_t)_i};
  int32_t *idx = malloc((size_t)(count + 1) * sizeof(int32_t));
  ck_assert_ptr_nonnull(idx);
  for (int64_t i = 0; i < count; i++) {
    /* repeated ids: few distinct ones when count >> vocab */
    idx[i] = (int32_t)(rng_next(&r) % (uint64_t)vocab);
    if (c->bad && i % 5 == 3) {
      static const int32_t bad[4] = {-1, 0, INT32_MIN, INT32_MAX};
      idx[i] = bad[(i / 5) % 4] == 0 ? (int32_t)vocab : bad[(i / 5) % 4];
    }
  }
  float *table = rand_f(&r, vocab * d, 1, 0), *dy = rand_f(&r, count * d, 1, 0);
  float *out = nan_f(count * d), *want = nan_f(count * d);
  float *dt = nan_f(vocab * d), *dt_want = nan_f(vocab * d), *dt_ref = nan_f(vocab * d);
  astrt_ref_scatter_add_rows_f32(idx, count, dy, d, vocab, dt_ref);
  double *scale = alloc_d(vocab * d);  /* sum |dy| of the rows each element adds */
  for (int64_t i = 0; i < count; i++)
    if (idx[i] >= 0 && idx[i] < vocab)
      for (int64_t j = 0; j < d; j++) scale[idx[i] * d + j] += fabs(dy[i * d + j]);
  for (int s = 0; s < N_ISAS; s++) {
    if (!astrt_seq_set_isa(isa_names[s])) continue;
    fill_nan(out, count * d);
    astrt_gather_rows_f32(table, vocab, d, idx, count, out);
    astrt_ref_gather_rows_f32(table, vocab, d, idx, count, want);
    assert_same("gather vs ref", out, want, count * d);
    for (int64_t i = 0; i < count; i++)
      for (int64_t j = 0; j < d; j++) {
        const float w = idx[i] >= 0 && idx[i] < vocab ? table[idx[i] * d + j] : 0.0f;
        ck_assert(out[i * d + j] == w);
      }
    fill_nan(dt, vocab * d);
    astrt_scatter_add_rows_f32(idx, count, dy, d, vocab, dt);
    scatter_oracle(idx, count, dy, d, vocab, dt_want);
    assert_same("scatter-add vs float oracle", dt, dt_want, vocab * d);
    assert_near("scatter-add vs ref", dt, dt_ref, scale, vocab * d, TOL_SEQ, 0.0);
  }
  free(scale);
  free(idx);
  free(table);
  free(dy);
  free(out);
  free(want);
  free(dt);
  free(dt_want);
  free(dt_ref);
}
END_TEST

/* ---- threads: the same bits on 1, 2 and 3 threads -------------------------- */

START_TEST(test_rows_threads) {
  /* sizes over the split threshold, with rows that do not divide evenly */
  const int64_t rows = 301, n = 65, cnt = rows * n, vocab = 77, d = 65, count = 2048;
  rng r = {4242u};
  float *x = rand_f(&r, cnt, 3, 0), *dy = rand_f(&r, cnt, 1, 0), *yl = alloc_f(cnt);
  astrt_ref_softmax_f32(x, yl, rows, n, 0);
  const float *in_a[N_KERNS] = {x, yl, x, yl, x, x};
  int32_t *idx = malloc((size_t)count * sizeof(int32_t));
  ck_assert_ptr_nonnull(idx);
  for (int64_t i = 0; i < count; i++) idx[i] = (int32_t)(rng_next(&r) % (uint64_t)(vocab + 3)) - 1;
  float *g = rand_f(&r, count * d, 1, 0);
  float *first[N_KERNS + 3], *got = alloc_f(count * d > cnt ? count * d : cnt);
  for (int s = 0; s < N_ISAS; s++) {
    if (!astrt_seq_set_isa(isa_names[s])) continue;
    for (int threads = 1; threads <= 3; threads++) {
      astrt_pool_configure(threads);
      ck_assert_int_eq(astrt_pool_size(), threads);
      for (int k = 0; k < N_KERNS + 3; k++) {
        const int64_t m = k < N_KERNS ? cnt : k == N_KERNS + 2 ? vocab * d : count * d;
        fill_nan(got, m);
        if (k < N_KERNS) call_fast((kern)k, in_a[k], dy, got, rows, n);
        else if (k == N_KERNS) astrt_softmax_f32(x, got, cnt / 13, 13, 13);  /* causal, 13 x 13 blocks */
        else if (k == N_KERNS + 1) astrt_gather_rows_f32(g, count, d, idx, count, got);
        else astrt_scatter_add_rows_f32(idx, count, g, d, vocab, got);
        if (threads == 1) {
          first[k] = copy_f(got, m);
        } else {
          char what[96];
          snprintf(what, sizeof what, "kernel %d on %d threads (%s)", k, threads, isa_names[s]);
          assert_same(what, got, first[k], m);
        }
      }
    }
    for (int k = 0; k < N_KERNS + 3; k++) free(first[k]);
    astrt_pool_configure(1);
  }
  free(x);
  free(dy);
  free(yl);
  free(idx);
  free(g);
  free(got);
}
END_TEST

/* ---- batched GEMM ------------------------------------------------------------ */

/* A case: the batch dimensions (count), which of them are folded (C stride
 * 0) and which are broadcast in A or B (stride 0), the product's sizes, the
 * padding of the leading dimensions, alpha and beta. Buffers are laid out
 * row-major over the batch dimensions that each operand has. */
typedef struct bg_case {
  int nb;
  int64_t count[4];
  int fold, bcast_a, bcast_b;  /* bit masks over the dimensions */
  int64_t m, n, k, pad;
  float alpha, beta;
} bg_case;

static const bg_case bg_cases[] = {
    {0, {0}, 0, 0, 0, 1, 1, 1, 0, 1.0f, 0.0f},
    {0, {0}, 0, 0, 0, 7, 63, 65, 3, 1.0f, 0.5f},
    {1, {3}, 0, 0, 0, 65, 7, 63, 0, -0.5f, 1.0f},
    {1, {5}, 1, 0, 0, 7, 65, 1, 2, 1.0f, 0.0f},       /* folded: a weight gradient */
    {1, {9}, 0, 0, 1, 63, 64, 7, 1, 1.0f, 0.25f},     /* B broadcast */
    {2, {2, 3}, 0, 1, 0, 7, 7, 63, 1, 1.0f, 0.0f},    /* A broadcast over dim 0 */
    {2, {4, 5}, 2, 0, 0, 65, 63, 7, 5, 2.0f, 1.0f},   /* dim 1 folded */
    {2, {3, 2}, 1, 0, 2, 1, 65, 65, 0, 1.0f, 0.0f},   /* folded dim 0, B broadcast over dim 1 */
    {3, {2, 2, 3}, 0, 4, 1, 7, 1, 63, 2, 1.0f, 0.0f},
    {3, {2, 3, 2}, 5, 0, 0, 63, 7, 7, 1, 1.0f, 0.5f}, /* two folded dims around an item dim */
    {4, {2, 1, 3, 2}, 0, 0, 0, 7, 63, 7, 0, 1.0f, 0.0f},
    {4, {2, 2, 2, 2}, 6, 1, 8, 7, 7, 65, 3, -1.0f, 1.0f},
    {2, {1, 1}, 0, 0, 0, 130, 65, 33, 1, 1.0f, 0.0f}, /* one item, cut into slabs */
    {1, {2}, 1, 0, 0, 33, 260, 40, 0, 1.0f, 1.0f},    /* one folded item, slabs of columns */
};
#define N_BG_CASES ((int)(sizeof bg_cases / sizeof bg_cases[0]))

typedef struct bg_bufs {
  astrt_gemm_batch d;
  float *a, *b, *c0;
  int64_t na, nb, nc;
} bg_bufs;

/* strides for an operand with block size `block` and the dimensions not in
 * `absent`; returns the total size */
static int64_t lay_out(const bg_case *c, int64_t block, int absent, int64_t *stride) {
  int64_t s = block;
  for (int j = c->nb - 1; j >= 0; j--) {
    if (absent >> j & 1) {
      stride[j] = 0;
    } else {
      stride[j] = s;
      s *= c->count[j];
    }
  }
  return s;
}

static bg_bufs bg_make(const bg_case *c, int ta, int tb, rng *r) {
  bg_bufs g;
  memset(&g, 0, sizeof g);
  astrt_gemm_batch *d = &g.d;
  d->ta = ta, d->tb = tb, d->m = c->m, d->n = c->n, d->k = c->k;
  d->lda = (ta ? c->m : c->k) + c->pad;
  d->ldb = (tb ? c->k : c->n) + c->pad;
  d->ldc = c->n + c->pad;
  d->nbatch = c->nb;
  for (int j = 0; j < c->nb; j++) d->count[j] = c->count[j];
  d->alpha = c->alpha, d->beta = c->beta;
  g.na = lay_out(c, (ta ? c->k : c->m) * d->lda, c->bcast_a, d->sa);
  g.nb = lay_out(c, (tb ? c->n : c->k) * d->ldb, c->bcast_b, d->sb);
  g.nc = lay_out(c, c->m * d->ldc, c->fold, d->sc);
  g.a = rand_f(r, g.na, 1, 0);
  g.b = rand_f(r, g.nb, 1, 0);
  g.c0 = rand_f(r, g.nc, 1, 0);
  return g;
}

static void bg_free(bg_bufs *g) {
  free(g->a);
  free(g->b);
  free(g->c0);
}

/* _i: case * 4 + (ta, tb) */
START_TEST(test_bgemm_vs_ref) {
  const bg_case *c = &bg_cases[_i / 4];
  const int ta = _i % 4 / 2, tb = _i % 2;
  rng r = {3000u + (uint64_t)_i};
  bg_bufs g = bg_make(c, ta, tb, &r);
  float *want = copy_f(g.c0, g.nc), *got = copy_f(g.c0, g.nc);
  astrt_ref_sgemm_batched(&g.d, g.a, g.b, want);
  astrt_sgemm_batched(&g.d, g.a, g.b, got);
  char what[128];
  snprintf(what, sizeof what, "bgemm case %d ta=%d tb=%d m=%lld n=%lld k=%lld", _i / 4, ta, tb, (long long)c->m,
           (long long)c->n, (long long)c->k);
  assert_near(what, got, want, NULL, g.nc, 0.0, TOL_GEMM * (1.0 + max_abs(want, g.nc)));
  /* the padding of C (columns n .. ldc) is untouched */
  for (int64_t i = 0; i < g.nc; i++)
    if (i % g.d.ldc >= c->n) ck_assert_msg(got[i] == g.c0[i], "%s: padding at %lld written", what, (long long)i);
  /* beta == 0: C is not read (NaN in C does not survive) */
  if (c->beta == 0.0f) {
    float *nanc = nan_f(g.nc);
    astrt_sgemm_batched(&g.d, g.a, g.b, nanc);
    for (int64_t i = 0; i < g.nc; i++)
      if (i % g.d.ldc < c->n) ck_assert_msg(nanc[i] == got[i], "%s: beta = 0 read C", what);
    free(nanc);
  }
  free(want);
  free(got);
  bg_free(&g);
}
END_TEST

/* A folded dimension by hand: C = A0 B0 + A1 B1 + beta C, 1x1 products. */
START_TEST(test_bgemm_hand) {
  const float a[2] = {2, 3}, b[2] = {5, 7};
  astrt_gemm_batch d = {0, 0, 1, 1, 1, 1, 1, 1, 1, {2, 0, 0, 0}, {1}, {1}, {0}, 1.0f, 10.0f, 0, 0};
  float c = 1.0f;
  astrt_sgemm_batched(&d, a, b, &c);
  ck_assert(c == 2 * 5 + 3 * 7 + 10);
  c = 1.0f;
  astrt_ref_sgemm_batched(&d, a, b, &c);
  ck_assert(c == 2 * 5 + 3 * 7 + 10);
  /* not folded (C stride 1): two results */
  float c2[2] = {1, 1};
  d.sc[0] = 1;
  astrt_sgemm_batched(&d, a, b, c2);
  ck_assert(c2[0] == 20 && c2[1] == 31);
}
END_TEST

/* Attention heads: Q, K, V [B, T, H, D] (row stride H*D); S = Q K^T per
 * (b, h) into [B, H, T, T], then O = S V into [B, T, H, D] (ldc = H*D). */
START_TEST(test_bgemm_attention) {
  const int64_t bsz = 2, t = 65, h = 3, dh = 7;
  rng r = {777u};
  float *q = rand_f(&r, bsz * t * h * dh, 1, 0), *kk = rand_f(&r, bsz * t * h * dh, 1, 0);
  float *s = nan_f(bsz * h * t * t), *sw = nan_f(bsz * h * t * t);
  astrt_gemm_batch d = {0, 1, t, t, dh, h * dh, h * dh, t, 2, {bsz, h}, {t * h * dh, dh}, {t * h * dh, dh},
                        {h * t * t, t * t}, 0.125f, 0.0f, 0, 0};
  astrt_sgemm_batched(&d, q, kk, s);
  astrt_ref_sgemm_batched(&d, q, kk, sw);
  assert_near("attention QK^T", s, sw, NULL, bsz * h * t * t, 0.0, TOL_GEMM * (1.0 + max_abs(sw, bsz * h * t * t)));
  float *o = rand_f(&r, bsz * t * h * dh, 1, 0), *ow = copy_f(o, bsz * t * h * dh);
  astrt_gemm_batch e = {0, 0, t, dh, t, t, h * dh, h * dh, 2, {bsz, h}, {h * t * t, t * t}, {t * h * dh, dh},
                        {t * h * dh, dh}, 1.0f, 0.0f, 0, 0};
  astrt_sgemm_batched(&e, s, kk, o);
  astrt_ref_sgemm_batched(&e, s, kk, ow);
  assert_near("attention SV", o, ow, NULL, bsz * t * h * dh, 0.0, TOL_GEMM * (1.0 + max_abs(ow, bsz * t * h * dh)));
  free(q);
  free(kk);
  free(s);
  free(sw);
  free(o);
  free(ow);
}
END_TEST

/* Empty: m or n == 0 or a count of 0 touches nothing; k == 0 gives
 * C = beta * C (beta == 0: zeros, C not read), folded or not. */
START_TEST(test_bgemm_empty) {
  const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
  float c[8];
  for (int i = 0; i < 8; i++) c[i] = (float)(i + 1);
  astrt_gemm_batch d = {0, 0, 0, 2, 2, 2, 2, 2, 1, {2}, {0}, {0}, {2}, 1.0f, 0.0f, 0, 0};
  astrt_sgemm_batched(&d, a, b, c);
  d.m = 2, d.n = 0;
  astrt_sgemm_batched(&d, a, b, c);
  d.n = 2, d.count[0] = 0;
  astrt_sgemm_batched(&d, a, b, c);
  astrt_ref_sgemm_batched(&d, a, b, c);
  for (int i = 0; i < 8; i++) ck_assert_msg(c[i] == (float)(i + 1), "empty call wrote c[%d]", i);
  /* k == 0, two items of 2x2 (ldc 4 leaves two columns of padding) */
  astrt_gemm_batch z = {1, 1, 2, 2, 0, 2, 0, 4, 1, {1}, {0}, {0}, {0}, 1.0f, 3.0f, 0, 0};
  astrt_sgemm_batched(&z, a, b, c);
  ck_assert(c[0] == 3 && c[1] == 6 && c[2] == 3 && c[3] == 4 && c[4] == 15 && c[5] == 18 && c[6] == 7);
  for (int i = 0; i < 8; i++) c[i] = NAN;
  z.beta = 0.0f;
  z.count[0] = 3;  /* folded: C stride 0 */
  astrt_sgemm_batched(&z, a, b, c);
  ck_assert(c[0] == 0 && c[1] == 0 && c[4] == 0 && c[5] == 0 && isnan(c[2]) && isnan(c[6]));
}
END_TEST

/* The same bits on 1, 2 and 3 threads: many items (split by items), few
 * items (cut into slabs), a folded product, and the GPT attention shape. */
START_TEST(test_bgemm_threads) {
  openblas_set_num_threads(1);
  static const bg_case cases[] = {
      {1, {12}, 0, 0, 0, 64, 64, 32, 0, 1.0f, 0.0f},
      {1, {1}, 0, 0, 0, 200, 65, 63, 1, 1.0f, 0.5f},
      {2, {2, 3}, 2, 0, 0, 65, 130, 33, 0, 1.0f, 1.0f},
      {1, {3}, 0, 0, 1, 40, 300, 17, 2, -1.0f, 0.0f},
  };
  for (int ci = 0; ci < 4; ci++)
    for (int tr = 0; tr < 4; tr++) {
      rng r = {6000u + (uint64_t)(ci * 4 + tr)};
      bg_bufs g = bg_make(&cases[ci], tr / 2, tr % 2, &r);
      float *first = NULL;
      for (int threads = 1; threads <= 3; threads++) {
        astrt_pool_configure(threads);
        float *got = copy_f(g.c0, g.nc);
        astrt_sgemm_batched(&g.d, g.a, g.b, got);
        if (!first) {
          first = got;
          float *want = copy_f(g.c0, g.nc);
          astrt_ref_sgemm_batched(&g.d, g.a, g.b, want);
          assert_near("bgemm threads vs ref", got, want, NULL, g.nc, 0.0, TOL_GEMM * (1.0 + max_abs(want, g.nc)));
          free(want);
        } else {
          char what[64];
          snprintf(what, sizeof what, "bgemm case %d tr %d on %d threads", ci, tr, threads);
          assert_same(what, got, first, g.nc);
          free(got);
        }
      }
      astrt_pool_configure(1);
      free(first);
      bg_free(&g);
    }
}
END_TEST

/* ---- f32 <-> bf16 casts (kernels_cast.c) ----------------------------------- */

/* the bf16 nearest to x by value, ties to the even pattern; above the
 * largest finite bf16 the next pattern (infinity) counts as 2^128 */
static uint16_t ref_bf16(float x) {
  if (x != x) return 0x7fc0;
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  uint16_t lo = (uint16_t)(bits >> 16), hi = (uint16_t)(lo + 1);
  if ((bits & 0xffff) == 0) return lo;  /* exact, also +-inf */
  uint32_t lb = (uint32_t)lo << 16, hb = (uint32_t)hi << 16;
  float lf, hf;
  memcpy(&lf, &lb, sizeof lf);
  memcpy(&hf, &hb, sizeof hf);
  double l = lf, h = (hi & 0x7fff) == 0x7f80 ? ldexp(x < 0 ? -1.0 : 1.0, 128) : (double)hf;
  double dl = fabs((double)x - l), dh = fabs((double)x - h);
  if (dl != dh) return dl < dh ? lo : hi;
  return (lo & 1) ? hi : lo;
}

START_TEST(test_cast_bf16) {
  const int64_t sizes[] = {0, 1, 7, 16383, 16384, 100003};
  rng r = {977u};
  const int64_t most = 100003;
  float *x = alloc_f(most), *back = alloc_f(most);
  uint16_t *y = malloc((size_t)most * sizeof(uint16_t)), *first = malloc((size_t)most * sizeof(uint16_t));
  ck_assert_ptr_nonnull(y);
  ck_assert_ptr_nonnull(first);
  for (int64_t i = 0; i < most; i++) {  /* every class of float: random bit patterns, and ties */
    uint32_t bits = (uint32_t)rng_next(&r);
    if (i % 5 == 1) bits = (bits & 0xffff0000u) | 0x8000u;   /* exactly half-way */
    if (i % 5 == 2) bits &= 0x807fffffu;                     /* subnormal */
    if (i % 97 == 3) bits = 0x7f7fffffu;                     /* the largest float: rounds to infinity */
    if (i % 89 == 4) bits = 0x7f7f8000u;                     /* half-way above the largest bf16 */
    memcpy(&x[i], &bits, sizeof bits);
  }
  for (int wide = 0; wide <= 1; wide++) {
   if (!astrt_cast_use_wide(wide)) {
     fprintf(stderr, "test_cast_bf16: skipped the AVX-512 loops: this CPU has no AVX-512 BW\n");
     continue;
   }
   for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
    int64_t n = sizes[c];
    for (int threads = 1; threads <= 3; threads++) {
      astrt_pool_configure(threads);
      memset(y, 0xab, (size_t)most * sizeof(uint16_t));
      astrt_cast_f32_bf16(x, y, n);
      for (int64_t i = 0; i < n; i++)
        ck_assert_msg(y[i] == ref_bf16(x[i]), "f32 %a -> bf16 0x%04x, want 0x%04x (n %lld, %d threads)",
                      (double)x[i], y[i], ref_bf16(x[i]), (long long)n, threads);
      ck_assert_msg(n == most || y[n] == 0xabab, "wrote past n = %lld", (long long)n);
      if (threads == 1) memcpy(first, y, (size_t)n * sizeof(uint16_t));
      else ck_assert(!memcmp(first, y, (size_t)n * sizeof(uint16_t)));
      astrt_cast_bf16_f32(y, back, n);
      for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &back[i], sizeof bits);
        ck_assert_uint_eq(bits, (uint32_t)y[i] << 16);
      }
    }
    astrt_pool_configure(1);
   }
  }
  astrt_cast_use_wide(-1);
  free(x);
  free(back);
  free(y);
  free(first);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_set_timeout(tc, 300);
  suite_add_tcase(s, tc);
  return tc;
}

static Suite *seq_suite(void) {
  Suite *s = suite_create("kernels_seq");
  TCase *tc = tcase(s, "rows");
  tcase_add_test(tc, test_exp);
  tcase_add_test(tc, test_isa_select);
  tcase_add_loop_test(tc, test_rows_vs_ref, 0, N_ROW_CASES * N_KERNS);
  tcase_add_test(tc, test_softmax_inf);
  tcase_add_loop_test(tc, test_softmax_causal, 0, (int)(sizeof causal_sizes / sizeof causal_sizes[0]));
  tcase_add_test(tc, test_rows_hand);
  tcase_add_test(tc, test_rows_threads);

  tc = tcase(s, "cast");
  tcase_add_test(tc, test_cast_bf16);

  tc = tcase(s, "embedding");
  tcase_add_loop_test(tc, test_embedding, 0, N_EMB_CASES);

  tc = tcase(s, "gemm_batched");
  tcase_add_test(tc, test_bgemm_hand);
  tcase_add_loop_test(tc, test_bgemm_vs_ref, 0, 4 * N_BG_CASES);
  tcase_add_test(tc, test_bgemm_attention);
  tcase_add_test(tc, test_bgemm_empty);
  tcase_add_test(tc, test_bgemm_threads);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(seq_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
