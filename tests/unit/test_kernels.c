/* test_kernels.c — Check suite for the tensor kernels (astrt_kernels.h):
 * sgemm, conv2d (forward, grad input, grad weight), max/avg pooling and the
 * per-thread scratch buffer.
 *
 * Chain of trust:
 *   1. The references are verified independently: by hand-computed examples
 *      (sgemm, conv forward, pooling) and by central finite differences of
 *      L = sum(y * r) through the forward reference (conv and pooling
 *      gradients).
 *   2. Every fast kernel is compared with its reference on random inputs over
 *      a table of shapes (LeNet-5 sizes and edge cases). Outputs are
 *      pre-filled with NaN, so an element the kernel forgets to write fails;
 *      each fast kernel is then run a second time over its own previous
 *      output and must reproduce it exactly (it overwrites, never
 *      accumulates).
 *   3. The convolutions have two fast paths (kernels_internal.h): im2col +
 *      GEMM, tested on its own over the same table, and the direct stride-1
 *      kernels, tested over a second table of stride-1 shapes with each
 *      instruction set (generic SSE2, AVX2, AVX-512), whatever
 *      ASTRT_CONV_ISA selects for the public kernels; two calls must give
 *      bit-identical results. Each instruction set is a ctest entry of its
 *      own (test_kernels conv_generic | conv_avx2 | conv_avx512) that
 *      skips (exit 77, "SKIP: this CPU lacks ...") where /proc/cpuinfo does
 *      not list its flags, and otherwise asserts that the runtime's own
 *      detection (astrt_conv_isa_supported) agrees before running it.
 *
 * Tolerance for fast vs reference (TOL_FAST): max |fast - ref| <=
 *   1e-4 * (1 + max |ref|). The references accumulate in double and round
 *   once; the fast kernels accumulate in float (OpenBLAS, blocked, FMA). The
 *   float rounding error of a length-L dot product of values in [-1, 1]
 *   grows like sqrt(L) * 2^-24 * |terms| in practice; even the longest
 *   reduction here (grad weight over 131 x 784 output pixels) stays below
 *   1e-6 relative to max |ref|, so 1e-4 leaves two orders of margin. A wrong
 *   index, a dropped or doubled term, or a missed padding case changes
 *   elements by O(|x| |w|) ~ 0.1..1, far above the tolerance.
 *   Max pooling involves no arithmetic except gradient sums done in the same
 *   order, so fast and reference must agree exactly.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astrt_kernels.h"
#include "astrt_program.h"
#include "kernels_internal.h"
#include "test_fixtures.h"

#define TOL_FAST 1e-4  /* fast vs reference, relative to 1 + max |ref| */
#define TOL_FD 1e-4    /* reference gradient vs finite differences      */

/* ---- helpers ------------------------------------------------------------- */

typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r) {  /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1), multiples of 2^-23. */
static float rng_pm1(rng *r) {
  return (float)((double)(rng_next(r) >> 40) * 0x1p-23 - 1.0);
}

static float *alloc_f(int64_t n) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(p);
  return p;
}

static float *rand_f(rng *r, int64_t n) {
  float *p = alloc_f(n);
  for (int64_t i = 0; i < n; i++) p[i] = rng_pm1(r);
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

static double max_abs(const float *p, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; i++)
    if (fabs((double)p[i]) > m) m = fabs((double)p[i]);
  return m;
}

/* max |got - want| <= rel * (1 + max |want|); NaN anywhere fails.
 * (Check records every passing ck_assert — a write() each — so the loops test
 * with plain comparisons and assert once.) */
static void assert_close(const char *what, const float *got, const float *want,
                         int64_t n, double rel) {
  const double tol = rel * (1.0 + max_abs(want, n));
  int64_t bad = -1;
  double worst = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double err = fabs((double)got[i] - (double)want[i]);
    if (!(err <= tol)) {
      bad = i;
      break;
    }
    if (err > worst) worst = err;
  }
  if (bad >= 0)
    ck_abort_msg("%s: element %lld: got %.9g, want %.9g (tol %.3g)", what,
                 (long long)bad, (double)got[bad], (double)want[bad], tol);
  if (getenv("ASTRT_TEST_VERBOSE"))
    fprintf(stderr, "%s: max |err| %.3g = %.3g * (1 + max|want|)\n", what,
            worst, worst / (1.0 + max_abs(want, n)));
}

/* Exactly equal (== on values; two NaNs count as equal). */
static void assert_same(const char *what, const float *got, const float *want,
                        int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i]))))
      ck_abort_msg("%s: element %lld: got %.9g, want %.9g", what,
                   (long long)i, (double)got[i], (double)want[i]);
}

/* Rejects an all-zero oracle, which would make a comparison vacuous. */
static void assert_nonzero(const char *what, const float *p, int64_t n) {
  ck_assert_msg(max_abs(p, n) > 0.0, "%s: reference output is all zeros", what);
}

static void teardown(void) { astrt_kernels_release_scratch(); }

/* ---- sgemm --------------------------------------------------------------- */

typedef void (*gemm_fn)(int, int, int64_t, int64_t, int64_t, float,
                        const float *, const float *, float, float *);

/* Stores the row-major [r, c] matrix m as its transpose [c, r]. */
static void transpose(const float *m, int64_t r, int64_t c, float *out) {
  for (int64_t i = 0; i < r; i++)
    for (int64_t j = 0; j < c; j++) out[j * r + i] = m[i * c + j];
}

/* A[2,3] B[3,2]: A.B = [[58, 64], [139, 154]]; 2*A.B + 0.5*[1 1; 1 1]. */
static void check_gemm_hand(gemm_fn f, const char *name) {
  const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
  const float want[4] = {116.5f, 128.5f, 278.5f, 308.5f};
  float at[6], bt[6];
  transpose(a, 2, 3, at);
  transpose(b, 3, 2, bt);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      float c[4] = {1, 1, 1, 1};
      f(ta, tb, 2, 2, 3, 2.0f, ta ? at : a, tb ? bt : b, 0.5f, c);
      for (int i = 0; i < 4; i++)
        ck_assert_msg(c[i] == want[i], "%s ta=%d tb=%d: c[%d] = %g, want %g",
                      name, ta, tb, i, (double)c[i], (double)want[i]);
      /* beta = 0: C is not read, NaN in C does not survive. */
      float d[4] = {NAN, NAN, NAN, NAN};
      f(ta, tb, 2, 2, 3, 1.0f, ta ? at : a, tb ? bt : b, 0.0f, d);
      ck_assert_msg(d[0] == 58 && d[1] == 64 && d[2] == 139 && d[3] == 154,
                    "%s ta=%d tb=%d beta=0: got %g %g %g %g", name, ta, tb,
                    (double)d[0], (double)d[1], (double)d[2], (double)d[3]);
    }
}

START_TEST(test_sgemm_hand) {
  check_gemm_hand(astrt_ref_sgemm, "astrt_ref_sgemm");
  check_gemm_hand(astrt_sgemm, "astrt_sgemm");
}
END_TEST

/* Empty products: M or N == 0 writes nothing; K == 0 gives C = beta * C. */
static void check_gemm_empty(gemm_fn f, const char *name) {
  const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
  float c[6] = {1, 2, 3, 4, 5, 6};
  f(0, 0, 0, 3, 2, 1.0f, a, b, 0.0f, c);
  f(1, 1, 2, 0, 2, 1.0f, a, b, 0.0f, c);
  for (int i = 0; i < 6; i++)
    ck_assert_msg(c[i] == (float)(i + 1), "%s: m or n = 0 wrote c[%d]", name, i);
  f(0, 0, 2, 3, 0, 1.0f, a, b, 2.0f, c);
  for (int i = 0; i < 6; i++)
    ck_assert_msg(c[i] == (float)(2 * (i + 1)), "%s: k = 0, beta = 2: c[%d] = %g",
                  name, i, (double)c[i]);
  f(0, 1, 2, 3, 0, 1.0f, a, b, 1.0f, c);
  for (int i = 0; i < 6; i++)
    ck_assert_msg(c[i] == (float)(2 * (i + 1)), "%s: k = 0, beta = 1: c[%d] = %g",
                  name, i, (double)c[i]);
  for (int i = 0; i < 6; i++) c[i] = NAN;
  f(1, 0, 2, 3, 0, 1.0f, a, b, 0.0f, c);
  for (int i = 0; i < 6; i++)
    ck_assert_msg(c[i] == 0.0f, "%s: k = 0, beta = 0: c[%d] = %g", name, i,
                  (double)c[i]);
}

START_TEST(test_sgemm_empty) {
  check_gemm_empty(astrt_ref_sgemm, "astrt_ref_sgemm");
  check_gemm_empty(astrt_sgemm, "astrt_sgemm");
}
END_TEST

typedef struct gemm_case { int64_t m, n, k; float alpha, beta; } gemm_case;

static const gemm_case gemm_cases[] = {
    {1, 1, 1, 1.0f, 0.0f},     {7, 5, 3, 1.0f, 0.0f},
    {3, 8, 17, -0.5f, 1.0f},   {33, 17, 129, 1.0f, 0.25f},
    {6, 784, 25, 1.0f, 0.0f},  /* LeNet conv1, one image        */
    {16, 6400, 150, 1.0f, 0.0f}, /* LeNet conv2, batch of 64    */
    {150, 6400, 16, 1.0f, 0.0f}, /* conv2 grad input            */
    {16, 150, 6400, 1.0f, 1.0f}, /* conv2 grad weight, beta = 1 */
    {64, 120, 400, 1.0f, 0.0f},  /* LeNet fc1                   */
    {1, 300, 1, 2.0f, -1.0f},  {300, 1, 7, 1.0f, 0.0f},
};

static void sgemm_case(int i) {
  const gemm_case *g = &gemm_cases[i];
  rng r = {1000u + (uint64_t)i};
  float *a = rand_f(&r, g->m * g->k), *b = rand_f(&r, g->k * g->n);
  float *c0 = rand_f(&r, g->m * g->n);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      /* The same a and b buffers are read as [M,K] or [K,M] etc.; both
       * kernels see the same interpretation, which is all that matters. */
      float *want = copy_f(c0, g->m * g->n), *got = copy_f(c0, g->m * g->n);
      astrt_ref_sgemm(ta, tb, g->m, g->n, g->k, g->alpha, a, b, g->beta, want);
      astrt_sgemm(ta, tb, g->m, g->n, g->k, g->alpha, a, b, g->beta, got);
      char what[96];
      snprintf(what, sizeof what, "sgemm m=%lld n=%lld k=%lld ta=%d tb=%d",
               (long long)g->m, (long long)g->n, (long long)g->k, ta, tb);
      assert_nonzero(what, want, g->m * g->n);
      assert_close(what, got, want, g->m * g->n, TOL_FAST);
      free(want);
      free(got);
    }
  free(a);
  free(b);
  free(c0);
}

START_TEST(test_sgemm_vs_ref) { sgemm_case(_i); }
END_TEST

/* The same products split over 2 and 3 of the runtime's threads (pool.c;
 * by rows, or by columns when N > M). */
START_TEST(test_sgemm_pooled_vs_ref) {
  int threads = 2 + _i % 2;
  astrt_pool_configure(threads);
  ck_assert_int_eq(astrt_pool_size(), threads);
  sgemm_case(_i / 2);
}
END_TEST

/* The pool (pool.c): parts are claimed, so a slow worker's part may run on
 * the caller; every part of every job must run exactly once, with its own
 * job's function and context, and the job must be over when the run
 * returns. Parts that sleep now and then play a descheduled thread; jobs
 * follow each other at once, so that a worker that wakes late for one meets
 * the next. */
typedef struct PoolJob {
  int id;
  int parts;
  atomic_int runs[4];
  atomic_int wrong;
} PoolJob;

static void pool_job_part(void *ctx, int part, int parts) {
  PoolJob *j = ctx;
  if (parts != j->parts || part < 0 || part >= parts) atomic_fetch_add(&j->wrong, 1);
  else atomic_fetch_add(&j->runs[part], 1);
  if ((j->id * 7 + part) % 13 == 0) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
}

START_TEST(test_pool_parts_once) {
  int threads = 2 + _i;
  astrt_pool_configure(threads);
  ck_assert_int_eq(astrt_pool_size(), threads);
  enum { JOBS = 3000 };
  static PoolJob jobs[JOBS];
  for (int k = 0; k < JOBS; k++) {
    PoolJob *j = &jobs[k];
    memset(j, 0, sizeof *j);
    j->id = k;
    j->parts = threads;
    astrt_pool_run(pool_job_part, j);
    for (int p = 0; p < threads; p++) ck_assert_int_eq(atomic_load(&j->runs[p]), 1);
    ck_assert_int_eq(atomic_load(&j->wrong), 0);
  }
  /* and no late worker ran a finished job's part again */
  for (int k = 0; k < JOBS; k++)
    for (int p = 0; p < threads; p++) ck_assert_int_eq(atomic_load(&jobs[k].runs[p]), 1);
  astrt_pool_configure(1);
}
END_TEST

/* ---- conv2d: sizes and hand-computed references ---------------------------- */

static int64_t conv_x_size(const astrt_conv_shape *s) {
  return s->n * s->c * s->h * s->w;
}
static int64_t conv_w_size(const astrt_conv_shape *s) {
  return s->o * s->c * s->kh * s->kw;
}
static int64_t conv_y_size(const astrt_conv_shape *s) {
  return s->n * s->o * astrt_conv_out_h(s) * astrt_conv_out_w(s);
}

START_TEST(test_conv_out_size) {
  const astrt_conv_shape c1 = {64, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2};
  const astrt_conv_shape c2 = {64, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0};
  const astrt_conv_shape st = {1, 1, 10, 9, 1, 3, 5, 2, 3, 0, 1};
  const astrt_conv_shape no = {1, 1, 2, 9, 1, 5, 1, 1, 1, 1, 0};
  ck_assert_int_eq(astrt_conv_out_h(&c1), 28);
  ck_assert_int_eq(astrt_conv_out_w(&c1), 28);
  ck_assert_int_eq(astrt_conv_out_h(&c2), 10);
  ck_assert_int_eq(astrt_conv_out_w(&c2), 10);
  ck_assert_int_eq(astrt_conv_out_h(&st), 4);  /* (10 - 3) / 2 + 1       */
  ck_assert_int_eq(astrt_conv_out_w(&st), 3);  /* (9 + 2 - 5) / 3 + 1    */
  ck_assert_int_eq(astrt_conv_out_h(&no), 0);  /* 2 + 2 < 5: no position */
  ck_assert_int_eq(astrt_conv_out_w(&no), 9);
}
END_TEST

START_TEST(test_ref_conv_hand) {
  /* x = [1 2 3; 4 5 6; 7 8 9], w = [1 2; 3 4]. */
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 2, 3, 4};
  float y[4];
  /* Stride 1, no padding: 1+4+12+20, 2+6+15+24, 4+10+21+32, 5+12+24+36. */
  const astrt_conv_shape s1 = {1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0};
  const float want1[4] = {37, 47, 67, 77};
  astrt_ref_conv2d_f32(&s1, x, w, y);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], want1[i]);
  /* Stride 2, padding 1 (zeros around x): windows rows/cols {-1,0},{1,2}.
   * (0,0): 1*4; (0,1): 2*3 + 3*4; (1,0): 4*2 + 7*4; (1,1): 5+12+24+36. */
  const astrt_conv_shape s2 = {1, 1, 3, 3, 1, 2, 2, 2, 2, 1, 1};
  const float want2[4] = {4, 18, 36, 77};
  astrt_ref_conv2d_f32(&s2, x, w, y);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], want2[i]);

  /* N = 2, C = 2, O = 2. Image 0: channel 0 = x, channel 1 = all ones;
   * image 1 = -image 0. w[0] picks x[i][j] from channel 0 and 1 from
   * channel 1; w[1] = -x[i+1][j+1] + the sum of the ones (4). */
  float xb[2 * 2 * 9];
  for (int i = 0; i < 9; i++) {
    xb[i] = x[i];
    xb[9 + i] = 1;
    xb[18 + i] = -x[i];
    xb[27 + i] = -1;
  }
  const float wb[2 * 2 * 4] = {1, 0, 0, 0, 0, 0, 0, 1,    /* o = 0 */
                               0, 0, 0, -1, 1, 1, 1, 1};  /* o = 1 */
  const float wantb[2 * 2 * 4] = {2,  3,  5,  6,  -1, -2, -4, -5,
                                  -2, -3, -5, -6, 1,  2,  4,  5};
  const astrt_conv_shape sb = {2, 2, 3, 3, 2, 2, 2, 1, 1, 0, 0};
  float yb[16];
  astrt_ref_conv2d_f32(&sb, xb, wb, yb);
  for (int i = 0; i < 16; i++)
    ck_assert_msg(yb[i] == wantb[i], "batched hand conv: y[%d] = %g, want %g",
                  i, (double)yb[i], (double)wantb[i]);
  /* The fast kernel on the same examples. */
  astrt_conv2d_f32(&s1, x, w, y);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], want1[i]);
  astrt_conv2d_f32(&s2, x, w, y);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], want2[i]);
  astrt_conv2d_f32(&sb, xb, wb, yb);
  for (int i = 0; i < 16; i++) ck_assert_float_eq(yb[i], wantb[i]);
}
END_TEST

/* ---- conv2d: reference gradients vs finite differences -------------------- */

/* L = sum(y * r) in double, y = ref_conv(x, w). */
static double conv_loss(const astrt_conv_shape *s, const float *x,
                        const float *w, const float *r, float *y) {
  astrt_ref_conv2d_f32(s, x, w, y);
  double l = 0.0;
  for (int64_t i = 0; i < conv_y_size(s); i++) l += (double)y[i] * r[i];
  return l;
}

/* Central difference of conv_loss in element e of v (x or w). L is linear in
 * v, so the difference has no truncation error: the only error is the float
 * rounding of y (2^-24 relative per element, ~1e-6 absolute here). The
 * perturbation actually applied is measured, not assumed. */
static double conv_fd(const astrt_conv_shape *s, float *x, float *w,
                      const float *r, float *y, float *v, int64_t e) {
  const float eps = 0.5f, keep = v[e];
  v[e] = keep + eps;
  const double hi = (double)v[e], lp = conv_loss(s, x, w, r, y);
  v[e] = keep - eps;
  const double lo = (double)v[e], lm = conv_loss(s, x, w, r, y);
  v[e] = keep;
  return (lp - lm) / (hi - lo);
}

static const astrt_conv_shape conv_fd_cases[] = {
    {2, 2, 5, 6, 3, 3, 2, 2, 1, 1, 2},  /* strides 2x1, pads 1x2       */
    {1, 3, 4, 4, 2, 2, 2, 1, 1, 0, 0},  /* plain                       */
    {2, 1, 7, 5, 2, 3, 5, 2, 3, 2, 1},  /* 3x5 kernel, strides 2x3      */
    {1, 2, 3, 3, 2, 3, 3, 1, 1, 3, 3},  /* padding = kernel: empty rows */
    {2, 2, 6, 5, 2, 1, 1, 2, 2, 1, 0},  /* 1x1 kernel, stride 2, pad    */
};

START_TEST(test_ref_conv_grads_fd) {
  const astrt_conv_shape *s = &conv_fd_cases[_i];
  rng rg = {2000u + (uint64_t)_i};
  const int64_t nx = conv_x_size(s), nw = conv_w_size(s), ny = conv_y_size(s);
  float *x = rand_f(&rg, nx), *w = rand_f(&rg, nw), *r = rand_f(&rg, ny);
  float *y = alloc_f(ny), *dx = nan_f(nx), *dw = nan_f(nw);
  float *fdx = alloc_f(nx), *fdw = alloc_f(nw);
  astrt_ref_conv2d_grad_input_f32(s, r, w, dx);
  astrt_ref_conv2d_grad_weight_f32(s, x, r, dw);
  for (int64_t e = 0; e < nx; e++) fdx[e] = (float)conv_fd(s, x, w, r, y, x, e);
  for (int64_t e = 0; e < nw; e++) fdw[e] = (float)conv_fd(s, x, w, r, y, w, e);
  assert_nonzero("fd dx", fdx, nx);
  assert_nonzero("fd dw", fdw, nw);
  assert_close("ref grad input vs finite differences", dx, fdx, nx, TOL_FD);
  assert_close("ref grad weight vs finite differences", dw, fdw, nw, TOL_FD);
  free(x); free(w); free(r); free(y); free(dx); free(dw); free(fdx); free(fdw);
}
END_TEST

/* ---- conv2d: fast vs reference ------------------------------------------- */

typedef struct conv_case { const char *name; astrt_conv_shape s; } conv_case;

/* The fast path processes images in chunks sized by its scratch budget
 * (2^18 floats at the time of writing): LeNet conv1 then takes 10 images
 * per chunk and conv2 15, so N = 131 and N = 61 end with a single-image
 * chunk (the in-place path), N = 64 and N = 37 with partial chunks. */
static const conv_case conv_cases[] = {
    {"lenet conv1", {64, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2}},
    {"lenet conv2", {64, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0}},
    {"lenet conv1 N=131", {131, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2}},
    {"lenet conv2 N=61", {61, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0}},
    {"lenet conv2 N=37", {37, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0}},
    {"stride 2 pad 1 C=3", {2, 3, 9, 9, 4, 3, 3, 2, 2, 1, 1}},
    {"stride 2 unused last row", {3, 2, 10, 11, 3, 3, 3, 2, 2, 0, 0}},
    {"3x5 kernel pad 1x2", {2, 2, 7, 11, 3, 3, 5, 1, 1, 1, 2}},
    {"3x5 kernel strides 2x3", {2, 3, 12, 13, 4, 3, 5, 2, 3, 1, 2}},
    {"pad 2 3x3", {2, 2, 6, 7, 3, 3, 3, 1, 1, 2, 2}},
    {"pad 3 = kernel (all-padding rows)", {2, 2, 5, 5, 2, 3, 3, 1, 1, 3, 3}},
    {"pad 4x3 > kernel 3x2 stride 2", {1, 2, 6, 5, 3, 3, 2, 2, 2, 4, 3}},
    {"C=3 N=1 O=1", {1, 3, 8, 8, 1, 3, 3, 1, 1, 1, 1}},
    {"N=1 C=1 O=1", {1, 1, 5, 5, 1, 2, 2, 1, 1, 0, 0}},
    {"1x1 pointwise", {3, 5, 6, 7, 4, 1, 1, 1, 1, 0, 0}},
    {"1x1 stride 2", {2, 3, 7, 6, 4, 1, 1, 2, 2, 0, 0}},
    {"1x1 pad 1", {2, 2, 4, 4, 3, 1, 1, 1, 1, 1, 1}},
    {"kernel = image", {4, 3, 5, 6, 2, 5, 6, 1, 1, 0, 0}},
    {"kernel > image, padded", {2, 2, 2, 3, 3, 3, 4, 1, 1, 1, 1}},
    {"stride 3 > kernel 2", {2, 2, 11, 11, 3, 2, 2, 3, 3, 0, 0}},
    {"one-row images", {3, 2, 1, 9, 2, 1, 3, 1, 2, 0, 1}},
    {"cifar-like 3x3 pad 1", {8, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1}},
};
#define N_CONV_CASES ((int)(sizeof conv_cases / sizeof conv_cases[0]))

typedef enum conv_kind { CONV_FWD, CONV_DX, CONV_DW } conv_kind;

static void run_conv_case(const conv_case *cc, conv_kind kind, uint64_t seed) {
  const astrt_conv_shape *s = &cc->s;
  rng rg = {seed};
  const int64_t nx = conv_x_size(s), nw = conv_w_size(s), ny = conv_y_size(s);
  float *x = rand_f(&rg, nx), *w = rand_f(&rg, nw), *dy = rand_f(&rg, ny);
  const int64_t nout = kind == CONV_FWD ? ny : kind == CONV_DX ? nx : nw;
  float *want = nan_f(nout), *got = nan_f(nout);
  const char *kname = kind == CONV_FWD ? "conv fwd"
                      : kind == CONV_DX ? "conv grad input"
                                        : "conv grad weight";
  char what[128];
  snprintf(what, sizeof what, "%s [%s]", kname, cc->name);
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0 from NaN, pass 1 over the previous result */
    switch (kind) {
      case CONV_FWD: astrt_conv2d_f32(s, x, w, got); break;
      case CONV_DX: astrt_conv2d_grad_input_f32(s, dy, w, got); break;
      case CONV_DW: astrt_conv2d_grad_weight_f32(s, x, dy, got); break;
    }
    if (pass == 0) {
      switch (kind) {
        case CONV_FWD: astrt_ref_conv2d_f32(s, x, w, want); break;
        case CONV_DX: astrt_ref_conv2d_grad_input_f32(s, dy, w, want); break;
        case CONV_DW: astrt_ref_conv2d_grad_weight_f32(s, x, dy, want); break;
      }
      assert_nonzero(what, want, nout);
      assert_close(what, got, want, nout, TOL_FAST);
      memcpy(want, got, (size_t)nout * sizeof(float));
    } else {
      assert_same("second call (must overwrite, not accumulate)", got, want,
                  nout);
    }
  }
  free(x); free(w); free(dy); free(want); free(got);
}

START_TEST(test_conv_fwd_vs_ref) {
  run_conv_case(&conv_cases[_i], CONV_FWD, 3000u + (uint64_t)_i);
}
END_TEST

START_TEST(test_conv_grad_input_vs_ref) {
  run_conv_case(&conv_cases[_i], CONV_DX, 4000u + (uint64_t)_i);
}
END_TEST

START_TEST(test_conv_grad_weight_vs_ref) {
  run_conv_case(&conv_cases[_i], CONV_DW, 5000u + (uint64_t)_i);
}
END_TEST

/* Convolutions split by images over 2 and 3 of the runtime's threads
 * (kernels_conv.c): every kind against the reference, and a second call
 * identical to the first (the weight gradient's partial sums are added in
 * a fixed order). Cases with fewer than 2 images per thread run unsplit. */
START_TEST(test_conv_pooled_vs_ref) {
  int threads = 2 + _i % 2;
  astrt_pool_configure(threads);
  ck_assert_int_eq(astrt_pool_size(), threads);
  int c = _i / 2;
  run_conv_case(&conv_cases[c], CONV_FWD, 6000u + (uint64_t)c);
  run_conv_case(&conv_cases[c], CONV_DX, 7000u + (uint64_t)c);
  run_conv_case(&conv_cases[c], CONV_DW, 8000u + (uint64_t)c);
}
END_TEST

/* The im2col + GEMM path on its own (the public kernels send the stride-1
 * shapes above to the direct kernels when an instruction set is active). */
START_TEST(test_conv_im2col_vs_ref) {
  const conv_case *cc = &conv_cases[_i / 3];
  const conv_kind kind = (conv_kind)(_i % 3);
  const astrt_conv_shape *s = &cc->s;
  rng rg = {9000u + (uint64_t)_i};
  const int64_t nx = conv_x_size(s), nw = conv_w_size(s), ny = conv_y_size(s);
  float *x = rand_f(&rg, nx), *w = rand_f(&rg, nw), *dy = rand_f(&rg, ny);
  const int64_t nout = kind == CONV_FWD ? ny : kind == CONV_DX ? nx : nw;
  float *want = nan_f(nout), *got = nan_f(nout);
  char what[128];
  snprintf(what, sizeof what, "im2col %s [%s]",
           kind == CONV_FWD ? "fwd" : kind == CONV_DX ? "dx" : "dw", cc->name);
  switch (kind) {
    case CONV_FWD:
      astrt_ref_conv2d_f32(s, x, w, want);
      astrt_conv2d_im2col_f32(s, x, w, got);
      break;
    case CONV_DX:
      astrt_ref_conv2d_grad_input_f32(s, dy, w, want);
      astrt_conv2d_grad_input_im2col_f32(s, dy, w, got);
      break;
    case CONV_DW:
      astrt_ref_conv2d_grad_weight_f32(s, x, dy, want);
      astrt_conv2d_grad_weight_im2col_f32(s, x, dy, got);
      break;
  }
  assert_nonzero(what, want, nout);
  assert_close(what, got, want, nout, TOL_FAST);
  free(x); free(w); free(dy); free(want); free(got);
}
END_TEST

/* ---- conv2d: direct kernels, every instruction set ------------------------ */

/* Stride-1 shapes for the direct kernels (kernels_conv_direct.c). They
 * vectorise over the flattened output position q = oh*OW + ow in vectors of
 * 4 (generic), 8 (AVX2) or 16 (AVX-512) floats and tile output channels
 * (forward), taps (grad input) or both (grad weight) in groups of up to
 * 6..8, so the table mixes: P = OH*OW below, equal to and between multiples
 * of every vector length; O and C*KH*KW that leave partial groups (odd O:
 * 5, 17, 33, 40); C = 1; kernels 1x1 .. 7x7, square and not; padding 0..3,
 * also >= the kernel (rows of pure padding); images smaller than the kernel;
 * N = 1; grad weight's image chunks (LeNet N = 64, chunks of 3 and 5). */
static const conv_case direct_cases[] = {
    {"lenet conv1", {64, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2}},
    {"lenet conv2", {64, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0}},
    {"lenet conv2 N=1", {1, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0}},
    {"O=5 C=2 3x3 p1", {2, 2, 9, 11, 5, 3, 3, 1, 1, 1, 1}},
    {"O=17 C=3 5x5 p2", {2, 3, 12, 12, 17, 5, 5, 1, 1, 2, 2}},
    {"O=33 C=1 3x3 p0", {3, 1, 10, 7, 33, 3, 3, 1, 1, 0, 0}},
    {"O=40 C=2 3x3 p1 8x8", {2, 2, 8, 8, 40, 3, 3, 1, 1, 1, 1}},
    {"7x7 p3 C=2 O=4", {2, 2, 15, 13, 4, 7, 7, 1, 1, 3, 3}},
    {"6x6 p(2,1) C=2 O=6", {1, 2, 10, 8, 6, 6, 6, 1, 1, 2, 1}},
    {"4x4 p(3,0) C=3 O=5", {2, 3, 9, 9, 5, 4, 4, 1, 1, 3, 0}},
    {"2x2 p0 C=1 O=3", {3, 1, 6, 5, 3, 2, 2, 1, 1, 0, 0}},
    {"1x1 p1 C=3 O=5", {2, 3, 6, 5, 5, 1, 1, 1, 1, 1, 1}},
    {"1x1 p0 (pointwise) C=3 O=7", {2, 3, 5, 6, 7, 1, 1, 1, 1, 0, 0}},
    {"3x5 p(1,2) C=2 O=3", {2, 2, 7, 11, 3, 3, 5, 1, 1, 1, 2}},
    {"P=16 (4x4 out)", {2, 2, 6, 6, 3, 3, 3, 1, 1, 0, 0}},
    {"P=8 (2x4 out)", {2, 3, 4, 6, 9, 3, 3, 1, 1, 0, 0}},
    {"P=1 (2x2 image, 2x2 kernel)", {1, 2, 2, 2, 3, 2, 2, 1, 1, 0, 0}},
    {"1x1 image 3x3 p1", {2, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1}},
    {"kernel > image, padded", {2, 2, 2, 3, 3, 3, 4, 1, 1, 1, 1}},
    {"pad 3 = kernel 3", {2, 2, 5, 5, 2, 3, 3, 1, 1, 3, 3}},
    {"pad 2 > kernel 2", {1, 3, 4, 3, 4, 2, 2, 1, 1, 2, 2}},
    {"one-row images", {3, 2, 1, 9, 2, 1, 3, 1, 1, 0, 1}},
    {"N=1 C=1 O=1", {1, 1, 5, 5, 1, 2, 2, 1, 1, 0, 0}},
    {"C=16 O=8 3x3 6x6", {2, 16, 6, 6, 8, 3, 3, 1, 1, 1, 1}},
    {"cifar-like 3x3 p1", {8, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1}},
};
#define N_DIRECT_CASES ((int)(sizeof direct_cases / sizeof direct_cases[0]))

static void direct_call(conv_kind kind, astrt_conv_isa isa,
                        const astrt_conv_shape *s, const float *x,
                        const float *w, const float *dy, float *out) {
  switch (kind) {
    case CONV_FWD: astrt_conv2d_direct_f32(isa, s, x, w, out); break;
    case CONV_DX: astrt_conv2d_grad_input_direct_f32(isa, s, dy, w, out); break;
    case CONV_DW: astrt_conv2d_grad_weight_direct_f32(isa, s, x, dy, out); break;
  }
}

/* Loop index: case = _i / 3, kind = _i % 3. With instruction set isa (which
 * /proc/cpuinfo says this CPU has, so the runtime must detect it too): from
 * a NaN-filled output, within TOL_FAST of the reference; a second call over
 * that output is bit-identical (overwrites, and is deterministic). */
static void direct_vs_ref(astrt_conv_isa isa, int _i) {
  ck_assert_msg(astrt_conv_isa_supported(isa), "/proc/cpuinfo lists the flags of %s, but "
                "astrt_conv_isa_supported does not detect it", astrt_conv_isa_name(isa));
  const conv_case *cc = &direct_cases[_i / 3];
  const conv_kind kind = (conv_kind)(_i % 3);
  const astrt_conv_shape *s = &cc->s;
  rng rg = {10000u + (uint64_t)_i};
  const int64_t nx = conv_x_size(s), nw = conv_w_size(s), ny = conv_y_size(s);
  float *x = rand_f(&rg, nx);   /* [N, C, H, W]     */
  float *w = rand_f(&rg, nw);   /* [O, C, KH, KW]   */
  float *dy = rand_f(&rg, ny);  /* [N, O, OH, OW]   */
  const int64_t nout = kind == CONV_FWD ? ny : kind == CONV_DX ? nx : nw;
  float *want = nan_f(nout), *got = alloc_f(nout), *again = alloc_f(nout);
  switch (kind) {
    case CONV_FWD: astrt_ref_conv2d_f32(s, x, w, want); break;
    case CONV_DX: astrt_ref_conv2d_grad_input_f32(s, dy, w, want); break;
    case CONV_DW: astrt_ref_conv2d_grad_weight_f32(s, x, dy, want); break;
  }
  assert_nonzero(cc->name, want, nout);
  char what[160];
  snprintf(what, sizeof what, "direct %s %s [%s]", astrt_conv_isa_name(isa),
           kind == CONV_FWD ? "fwd" : kind == CONV_DX ? "dx" : "dw",
           cc->name);
  for (int64_t i = 0; i < nout; i++) got[i] = NAN;
  direct_call(kind, isa, s, x, w, dy, got);
  assert_close(what, got, want, nout, TOL_FAST);
  memcpy(again, got, (size_t)nout * sizeof(float));
  direct_call(kind, isa, s, x, w, dy, again);
  assert_same(what, again, got, nout);
  free(x); free(w); free(dy); free(want); free(got); free(again);
}

START_TEST(test_conv_direct_generic_vs_ref) { direct_vs_ref(ASTRT_CONV_ISA_GENERIC, _i); }
END_TEST

START_TEST(test_conv_direct_avx2_vs_ref) { direct_vs_ref(ASTRT_CONV_ISA_AVX2, _i); }
END_TEST

START_TEST(test_conv_direct_avx512_vs_ref) { direct_vs_ref(ASTRT_CONV_ISA_AVX512, _i); }
END_TEST

/* The public kernels on the direct cases (whatever path they pick), and
 * determinism across calls: LeNet shapes, bit-identical results. */
START_TEST(test_conv_public_direct_cases) {
  const conv_case *cc = &direct_cases[_i / 3];
  run_conv_case(cc, (conv_kind)(_i % 3), 11000u + (uint64_t)_i);
}
END_TEST

START_TEST(test_conv_deterministic) {
  for (int c = 0; c < 2; c++) {  /* LeNet conv1, conv2 */
    const astrt_conv_shape *s = &direct_cases[c].s;
    rng rg = {12000u + (uint64_t)c};
    const int64_t nx = conv_x_size(s), nw = conv_w_size(s), ny = conv_y_size(s);
    float *x = rand_f(&rg, nx), *w = rand_f(&rg, nw), *dy = rand_f(&rg, ny);
    float *a[3] = {alloc_f(ny), alloc_f(nx), alloc_f(nw)};
    float *b[3] = {alloc_f(ny), alloc_f(nx), alloc_f(nw)};
    const int64_t n[3] = {ny, nx, nw};
    for (int rep = 0; rep < 2; rep++) {
      float **o = rep ? b : a;
      astrt_conv2d_f32(s, x, w, o[0]);
      astrt_conv2d_grad_input_f32(s, dy, w, o[1]);
      astrt_conv2d_grad_weight_f32(s, x, dy, o[2]);
      astrt_kernels_release_scratch();  /* a fresh scratch buffer each time */
    }
    for (int k = 0; k < 3; k++) {
      ck_assert_msg(memcmp(a[k], b[k], (size_t)n[k] * sizeof(float)) == 0,
                    "%s: output %d differs between two calls",
                    direct_cases[c].name, k);
      free(a[k]);
      free(b[k]);
    }
    free(x); free(w); free(dy);
  }
}
END_TEST

/* Path selection and the instruction-set hooks. */
START_TEST(test_conv_isa_and_paths) {
  ck_assert_int_eq(astrt_conv_isa_supported(ASTRT_CONV_ISA_NONE), 1);
  const astrt_conv_isa act = astrt_conv_isa_active();
  ck_assert_int_eq(astrt_conv_isa_supported(act), 1);
  ck_assert_int_eq(astrt_conv_isa_active(), act);  /* cached */
  ck_assert_str_eq(astrt_conv_isa_name(ASTRT_CONV_ISA_NONE), "none");
  ck_assert_str_eq(astrt_conv_isa_name(ASTRT_CONV_ISA_GENERIC), "generic");
  ck_assert_str_eq(astrt_conv_isa_name(ASTRT_CONV_ISA_AVX2), "avx2");
  ck_assert_str_eq(astrt_conv_isa_name(ASTRT_CONV_ISA_AVX512), "avx512");
  /* AVX-512 implies AVX2 implies generic on any CPU this runs on */
  if (astrt_conv_isa_supported(ASTRT_CONV_ISA_AVX512))
    ck_assert_int_eq(astrt_conv_isa_supported(ASTRT_CONV_ISA_AVX2), 1);
  if (astrt_conv_isa_supported(ASTRT_CONV_ISA_AVX2))
    ck_assert_int_eq(astrt_conv_isa_supported(ASTRT_CONV_ISA_GENERIC), 1);
  const char *env = getenv("ASTRT_CONV_ISA");
  if (env && (!strcmp(env, "none") || !strcmp(env, "im2col")))
    ck_assert_int_eq(act, ASTRT_CONV_ISA_NONE);
  /* LeNet shapes go direct; strided and plain 1x1 shapes do not. */
  ck_assert_int_eq(astrt_conv_direct_suits(&direct_cases[0].s), 1);
  ck_assert_int_eq(astrt_conv_direct_suits(&direct_cases[1].s), 1);
  const astrt_conv_shape strided = {2, 3, 9, 9, 4, 3, 3, 2, 2, 1, 1};
  const astrt_conv_shape pointwise = {3, 5, 6, 7, 4, 1, 1, 1, 1, 0, 0};
  const astrt_conv_shape empty = {0, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1};
  const astrt_conv_shape no_out = {1, 2, 2, 4, 2, 5, 1, 1, 1, 1, 0};
  const astrt_conv_shape big = {2, 64, 16, 16, 128, 3, 3, 1, 1, 1, 1};
  ck_assert_int_eq(astrt_conv_direct_suits(&strided), 0);
  ck_assert_int_eq(astrt_conv_direct_suits(&pointwise), 0);
  ck_assert_int_eq(astrt_conv_direct_suits(&empty), 0);
  ck_assert_int_eq(astrt_conv_direct_suits(&no_out), 0);
  ck_assert_int_eq(astrt_conv_direct_suits(&big), 0);
}
END_TEST

/* Degenerate shapes: nothing to write, or all-zero outputs. */
START_TEST(test_conv_degenerate) {
  float buf[64], canary[64];
  for (int i = 0; i < 64; i++) canary[i] = buf[i] = (float)i + 0.5f;
  float ones[64];
  for (int i = 0; i < 64; i++) ones[i] = 1.0f;
  /* N = 0: y, dx are empty; dw is an empty sum = 0. */
  const astrt_conv_shape n0 = {0, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1};
  astrt_conv2d_f32(&n0, ones, ones, buf);
  astrt_conv2d_grad_input_f32(&n0, ones, ones, buf);
  ck_assert_msg(memcmp(buf, canary, sizeof buf) == 0, "N = 0 wrote y or dx");
  astrt_conv2d_grad_weight_f32(&n0, ones, ones, buf);
  for (int i = 0; i < 54; i++) ck_assert_float_eq(buf[i], 0.0f);
  ck_assert_float_eq(buf[54], canary[54]);
  /* C = 0: y is all zeros (empty sum over channels). */
  const astrt_conv_shape c0 = {2, 0, 3, 3, 2, 2, 2, 1, 1, 0, 0};
  memcpy(buf, canary, sizeof buf);
  astrt_conv2d_f32(&c0, ones, ones, buf);
  for (int i = 0; i < 16; i++) ck_assert_float_eq(buf[i], 0.0f);
  ck_assert_float_eq(buf[16], canary[16]);
  /* O = 0: dx is all zeros. */
  const astrt_conv_shape o0 = {2, 2, 3, 3, 0, 2, 2, 1, 1, 0, 0};
  memcpy(buf, canary, sizeof buf);
  astrt_conv2d_grad_input_f32(&o0, ones, ones, buf);
  for (int i = 0; i < 36; i++) ck_assert_float_eq(buf[i], 0.0f);
  ck_assert_float_eq(buf[36], canary[36]);
  /* No output position (H + 2PH < KH): dx and dw are zeros. */
  const astrt_conv_shape e = {1, 2, 2, 4, 2, 5, 1, 1, 1, 1, 0};
  ck_assert_int_eq(conv_y_size(&e), 0);
  memcpy(buf, canary, sizeof buf);
  astrt_conv2d_grad_input_f32(&e, ones, ones, buf);
  for (int i = 0; i < 16; i++) ck_assert_float_eq(buf[i], 0.0f);
  ck_assert_float_eq(buf[16], canary[16]);
  memcpy(buf, canary, sizeof buf);
  astrt_conv2d_grad_weight_f32(&e, ones, ones, buf);
  for (int i = 0; i < 20; i++) ck_assert_float_eq(buf[i], 0.0f);
  ck_assert_float_eq(buf[20], canary[20]);
}
END_TEST

/* Concurrent calls from two threads (each with its own scratch, released by
 * the thread-exit destructor or explicitly) give the reference results. */
typedef struct conv_job {
  const astrt_conv_shape *s;
  const float *x, *w, *dy;
  float *y, *dx, *dw;
  int release;
} conv_job;

static void *conv_worker(void *arg) {
  conv_job *j = arg;
  for (int rep = 0; rep < 3; rep++) {
    astrt_conv2d_f32(j->s, j->x, j->w, j->y);
    astrt_conv2d_grad_input_f32(j->s, j->dy, j->w, j->dx);
    astrt_conv2d_grad_weight_f32(j->s, j->x, j->dy, j->dw);
  }
  if (j->release) astrt_kernels_release_scratch();
  return NULL;
}

START_TEST(test_conv_threads) {
  const astrt_conv_shape *shapes[2] = {&conv_cases[0].s, &conv_cases[1].s};
  conv_job jobs[2];
  float *want[2][3];
  rng rg = {6000u};
  for (int t = 0; t < 2; t++) {
    const astrt_conv_shape *s = shapes[t];
    const int64_t nx = conv_x_size(s), nw = conv_w_size(s), ny = conv_y_size(s);
    jobs[t] = (conv_job){s, rand_f(&rg, nx), rand_f(&rg, nw), rand_f(&rg, ny),
                         nan_f(ny), nan_f(nx), nan_f(nw), t};
    want[t][0] = alloc_f(ny);
    want[t][1] = alloc_f(nx);
    want[t][2] = alloc_f(nw);
    astrt_ref_conv2d_f32(s, jobs[t].x, jobs[t].w, want[t][0]);
    astrt_ref_conv2d_grad_input_f32(s, jobs[t].dy, jobs[t].w, want[t][1]);
    astrt_ref_conv2d_grad_weight_f32(s, jobs[t].x, jobs[t].dy, want[t][2]);
  }
  pthread_t th[2];
  for (int t = 0; t < 2; t++)
    ck_assert_int_eq(pthread_create(&th[t], NULL, conv_worker, &jobs[t]), 0);
  for (int t = 0; t < 2; t++) ck_assert_int_eq(pthread_join(th[t], NULL), 0);
  for (int t = 0; t < 2; t++) {
    const astrt_conv_shape *s = shapes[t];
    assert_close("threaded conv fwd", jobs[t].y, want[t][0], conv_y_size(s),
                 TOL_FAST);
    assert_close("threaded conv dx", jobs[t].dx, want[t][1], conv_x_size(s),
                 TOL_FAST);
    assert_close("threaded conv dw", jobs[t].dw, want[t][2], conv_w_size(s),
                 TOL_FAST);
    free((void *)jobs[t].x); free((void *)jobs[t].w); free((void *)jobs[t].dy);
    free(jobs[t].y); free(jobs[t].dx); free(jobs[t].dw);
    for (int k = 0; k < 3; k++) free(want[t][k]);
  }
}
END_TEST

/* ---- pooling: sizes, hand examples, ties ---------------------------------- */

static int64_t pool_x_size(const astrt_pool_shape *s) {
  return s->planes * s->h * s->w;
}
static int64_t pool_y_size(const astrt_pool_shape *s) {
  return s->planes * astrt_pool_out_h(s) * astrt_pool_out_w(s);
}

START_TEST(test_pool_out_size) {
  const astrt_pool_shape p1 = {384, 28, 28, 2, 2, 2, 2, 0, 0};
  const astrt_pool_shape p2 = {1, 7, 9, 3, 2, 2, 3, 1, 0};
  const astrt_pool_shape p3 = {1, 1, 5, 3, 1, 1, 1, 0, 0};
  ck_assert_int_eq(astrt_pool_out_h(&p1), 14);
  ck_assert_int_eq(astrt_pool_out_w(&p1), 14);
  ck_assert_int_eq(astrt_pool_out_h(&p2), 4);  /* (7 + 2 - 3) / 2 + 1 */
  ck_assert_int_eq(astrt_pool_out_w(&p2), 3);  /* (9 - 2) / 3 + 1     */
  ck_assert_int_eq(astrt_pool_out_h(&p3), 0);  /* window taller than x */
  ck_assert_int_eq(astrt_pool_out_w(&p3), 5);
}
END_TEST

typedef void (*pool_fwd_fn)(const astrt_pool_shape *, const float *, float *);
typedef void (*maxgrad_fn)(const astrt_pool_shape *, const float *,
                           const float *, float *);
typedef void (*avggrad_fn)(const astrt_pool_shape *, const float *, float *);

static void check_pool_hand(pool_fwd_fn maxf, pool_fwd_fn avgf,
                            const char *name) {
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float neg[9], y[4];
  for (int i = 0; i < 9; i++) neg[i] = -x[i];
  /* 2x2 stride 2 padding 1 on 3x3: windows {-1,0} x {-1,0}, {-1,0} x {1,2},
   * {1,2} x {-1,0}, {1,2} x {1,2}. Averages count real elements only. */
  const astrt_pool_shape s = {1, 3, 3, 2, 2, 2, 2, 1, 1};
  const float avg[4] = {1, 2.5f, 5.5f, 7};
  avgf(&s, x, y);
  for (int i = 0; i < 4; i++)
    ck_assert_msg(y[i] == avg[i], "%s avg: y[%d] = %g, want %g", name, i,
                  (double)y[i], (double)avg[i]);
  const float mx[4] = {1, 3, 7, 9};
  maxf(&s, x, y);
  for (int i = 0; i < 4; i++)
    ck_assert_msg(y[i] == mx[i], "%s max: y[%d] = %g", name, i, (double)y[i]);
  /* All negative: a zero from the padding must never win. */
  const float mneg[4] = {-1, -2, -4, -5};
  maxf(&s, neg, y);
  for (int i = 0; i < 4; i++)
    ck_assert_msg(y[i] == mneg[i], "%s max (negative): y[%d] = %g, want %g",
                  name, i, (double)y[i], (double)mneg[i]);
  /* 2x2 stride 2, no padding, on 4x4 (the LeNet window). */
  const float x4[16] = {1, 9, 2, 3, 4, 5, 8, 7, -1, -2, 0, 0, -3, -4, 0, 6};
  const astrt_pool_shape s4 = {1, 4, 4, 2, 2, 2, 2, 0, 0};
  const float m4[4] = {9, 8, -1, 6}, a4[4] = {4.75f, 5, -2.5f, 1.5f};
  maxf(&s4, x4, y);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], m4[i]);
  avgf(&s4, x4, y);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], a4[i]);
  /* Stride 1 windows on a 2x3 plane (overlapping): max [9 9], avg. */
  const float x23[6] = {1, 9, 2, 4, 5, 8};
  const astrt_pool_shape s23 = {1, 2, 3, 2, 2, 1, 1, 0, 0};
  maxf(&s23, x23, y);
  ck_assert_float_eq(y[0], 9);
  ck_assert_float_eq(y[1], 9);
  avgf(&s23, x23, y);
  ck_assert_float_eq(y[0], 4.75f);
  ck_assert_float_eq(y[1], 6);
}

START_TEST(test_pool_hand) {
  check_pool_hand(astrt_ref_maxpool2d_f32, astrt_ref_avgpool2d_f32, "ref");
  check_pool_hand(astrt_maxpool2d_f32, astrt_avgpool2d_f32, "fast");
}
END_TEST

static void check_maxpool_ties(pool_fwd_fn fwd, maxgrad_fn grad,
                               const char *name) {
  float dx[16], y[9];
  /* 2x2 stride 2 (LeNet path) over a constant plane: every window ties
   * four ways; the gradient goes to each window's top-left element only. */
  {
    const astrt_pool_shape s = {1, 4, 4, 2, 2, 2, 2, 0, 0};
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = 3.0f;
    const float dy[4] = {1, 2, 3, 4};
    const float want[16] = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    grad(&s, x, dy, dx);
    for (int i = 0; i < 16; i++)
      ck_assert_msg(dx[i] == want[i], "%s ties 2x2: dx[%d] = %g, want %g", name,
                    i, (double)dx[i], (double)want[i]);
  }
  /* Ties after a smaller first element: [0 5; 5 5] -> position (0, 1). */
  {
    const astrt_pool_shape s = {1, 2, 2, 2, 2, 2, 2, 0, 0};
    const float x[4] = {0, 5, 5, 5}, dy[1] = {7}, want[4] = {0, 7, 0, 0};
    grad(&s, x, dy, dx);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(dx[i], want[i]);
  }
  /* Overlapping 2x2 stride-1 windows on [0 5 5; 5 5 0]: both windows pick
   * (0, 1); the gradients add up there. */
  {
    const astrt_pool_shape s = {1, 2, 3, 2, 2, 1, 1, 0, 0};
    const float x[6] = {0, 5, 5, 5, 5, 0}, dy[2] = {1, 10};
    const float want[6] = {0, 11, 0, 0, 0, 0};
    grad(&s, x, dy, dx);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(dx[i], want[i]);
  }
  /* 3x3 stride 1 padding 1 over a constant NEGATIVE 3x3 plane: padding
   * (0) would beat -1 if it counted. Each window's first real element is
   * (oh == 2, ow == 2) in {0, 1}^2, so with dy = 1: dx = [4 2 0; 2 1 0; 0 0 0]
   * and every output is -1. */
  {
    const astrt_pool_shape s = {1, 3, 3, 3, 3, 1, 1, 1, 1};
    float x[9], dy[9];
    for (int i = 0; i < 9; i++) x[i] = -1.0f, dy[i] = 1.0f;
    const float want[9] = {4, 2, 0, 2, 1, 0, 0, 0, 0};
    grad(&s, x, dy, dx);
    for (int i = 0; i < 9; i++)
      ck_assert_msg(dx[i] == want[i], "%s ties 3x3 pad: dx[%d] = %g, want %g",
                    name, i, (double)dx[i], (double)want[i]);
    fwd(&s, x, y);
    for (int i = 0; i < 9; i++) ck_assert_float_eq(y[i], -1.0f);
  }
  /* NaN propagates (it beats every number) and receives the gradient. */
  {
    const astrt_pool_shape s = {1, 2, 2, 2, 2, 2, 2, 0, 0};
    const astrt_pool_shape sg = {1, 2, 2, 2, 2, 1, 1, 0, 0};  /* general path */
    const float x[4] = {1, 2, NAN, 3}, dy[1] = {5}, want[4] = {0, 0, 5, 0};
    fwd(&s, x, y);
    ck_assert_msg(isnan(y[0]), "%s: NaN did not propagate (2x2s2)", name);
    fwd(&sg, x, y);
    ck_assert_msg(isnan(y[0]), "%s: NaN did not propagate (general)", name);
    grad(&s, x, dy, dx);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(dx[i], want[i]);
    grad(&sg, x, dy, dx);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(dx[i], want[i]);
  }
}

START_TEST(test_maxpool_grad_ties) {
  check_maxpool_ties(astrt_ref_maxpool2d_f32, astrt_ref_maxpool2d_grad_f32,
                     "ref");
  check_maxpool_ties(astrt_maxpool2d_f32, astrt_maxpool2d_grad_f32, "fast");
}
END_TEST

/* ---- pooling: reference gradients vs finite differences ------------------- */

static const astrt_pool_shape pool_fd_cases[] = {
    {2, 4, 4, 2, 2, 2, 2, 0, 0},  /* LeNet window        */
    {2, 5, 6, 3, 3, 2, 2, 1, 1},  /* overlapping, padded */
    {1, 5, 7, 2, 3, 1, 2, 1, 0},  /* asymmetric          */
    {1, 4, 4, 2, 2, 1, 1, 2, 2},  /* empty windows       */
};

/* L = sum(y * r) in double for y = pool(x). */
static double pool_loss(pool_fwd_fn f, const astrt_pool_shape *s,
                        const float *x, const float *r, float *y) {
  f(s, x, y);
  double l = 0.0;
  for (int64_t i = 0; i < pool_y_size(s); i++) l += (double)y[i] * r[i];
  return l;
}

START_TEST(test_ref_pool_grads_fd) {
  const astrt_pool_shape *s = &pool_fd_cases[_i];
  const int64_t nx = pool_x_size(s), ny = pool_y_size(s);
  rng rg = {7000u + (uint64_t)_i};
  /* Distinct inputs spaced 1/8 apart (a shuffled ramp), so a perturbation of
   * 1/32 never changes a window's maximum: the max-pool loss is linear near
   * x and its central difference is exact up to float rounding, like the
   * average pool's everywhere. */
  float *x = alloc_f(nx), *r = rand_f(&rg, ny), *y = alloc_f(ny);
  for (int64_t i = 0; i < nx; i++) x[i] = (float)(i - nx / 2) * 0.125f;
  for (int64_t i = nx - 1; i > 0; i--) {
    const int64_t j = (int64_t)(rng_next(&rg) % (uint64_t)(i + 1));
    const float t = x[i];
    x[i] = x[j];
    x[j] = t;
  }
  float *gmax = nan_f(nx), *gavg = nan_f(nx);
  float *fmax = alloc_f(nx), *favg = alloc_f(nx);
  astrt_ref_maxpool2d_grad_f32(s, x, r, gmax);
  astrt_ref_avgpool2d_grad_f32(s, r, gavg);
  const float eps = 0.03125f;  /* exact in float for these x */
  for (int64_t e = 0; e < nx; e++) {
    const float keep = x[e];
    x[e] = keep + eps;
    const double mp = pool_loss(astrt_ref_maxpool2d_f32, s, x, r, y);
    const double ap = pool_loss(astrt_ref_avgpool2d_f32, s, x, r, y);
    x[e] = keep - eps;
    const double mm = pool_loss(astrt_ref_maxpool2d_f32, s, x, r, y);
    const double am = pool_loss(astrt_ref_avgpool2d_f32, s, x, r, y);
    x[e] = keep;
    fmax[e] = (float)((mp - mm) / (2.0 * eps));
    favg[e] = (float)((ap - am) / (2.0 * eps));
  }
  assert_nonzero("fd max", fmax, nx);
  assert_nonzero("fd avg", favg, nx);
  assert_close("ref maxpool grad vs finite differences", gmax, fmax, nx, TOL_FD);
  assert_close("ref avgpool grad vs finite differences", gavg, favg, nx, TOL_FD);
  free(x); free(r); free(y); free(gmax); free(gavg); free(fmax); free(favg);
}
END_TEST

/* ---- pooling: fast vs reference ------------------------------------------- */

typedef struct pool_case { const char *name; astrt_pool_shape s; } pool_case;

static const pool_case pool_cases[] = {
    {"lenet pool1 2x2s2", {64 * 6, 28, 28, 2, 2, 2, 2, 0, 0}},
    {"lenet pool2 2x2s2", {64 * 16, 10, 10, 2, 2, 2, 2, 0, 0}},
    {"2x2s2 odd sizes", {5, 7, 9, 2, 2, 2, 2, 0, 0}},
    {"3x3 s2 p1", {4, 9, 8, 3, 3, 2, 2, 1, 1}},
    {"3x3 s1 p1", {3, 6, 7, 3, 3, 1, 1, 1, 1}},
    {"2x3 s(1,2) p(1,0)", {3, 5, 8, 2, 3, 1, 2, 1, 0}},
    {"global window", {6, 5, 7, 5, 7, 1, 1, 0, 0}},
    {"2x2 s2 p1", {3, 6, 6, 2, 2, 2, 2, 1, 1}},
    {"pad 2 = kernel 2 (empty windows)", {2, 4, 5, 2, 2, 1, 1, 2, 2}},
    {"stride 3 > kernel 2", {2, 10, 11, 2, 2, 3, 3, 0, 0}},
    {"1x1 window stride 2", {2, 5, 5, 1, 1, 2, 2, 0, 0}},
    {"3x2 s(3,1) p(0,1)", {3, 9, 6, 3, 2, 3, 1, 0, 1}},
};
#define N_POOL_CASES ((int)(sizeof pool_cases / sizeof pool_cases[0]))

/* Loop index: case = _i / 2; odd _i uses inputs quantised to quarters, so
 * many windows contain ties. */
START_TEST(test_pool_vs_ref) {
  const pool_case *pc = &pool_cases[_i / 2];
  const astrt_pool_shape *s = &pc->s;
  const int64_t nx = pool_x_size(s), ny = pool_y_size(s);
  rng rg = {8000u + (uint64_t)_i};
  float *x = rand_f(&rg, nx), *dy = rand_f(&rg, ny);
  if (_i % 2)
    for (int64_t i = 0; i < nx; i++) x[i] = floorf(x[i] * 4.0f) / 4.0f;
  const int64_t nbig = nx > ny ? nx : ny;  /* padding can make ny > nx */
  float *want = nan_f(nbig), *got = nan_f(nbig);
  char what[128];

  snprintf(what, sizeof what, "maxpool fwd [%s]", pc->name);
  astrt_ref_maxpool2d_f32(s, x, want);
  assert_nonzero(what, want, ny);
  astrt_maxpool2d_f32(s, x, got);
  assert_same(what, got, want, ny);
  astrt_maxpool2d_f32(s, x, got);
  assert_same(what, got, want, ny);

  snprintf(what, sizeof what, "avgpool fwd [%s]", pc->name);
  for (int64_t i = 0; i < nbig; i++) got[i] = NAN;
  astrt_ref_avgpool2d_f32(s, x, want);
  assert_nonzero(what, want, ny);
  astrt_avgpool2d_f32(s, x, got);
  assert_close(what, got, want, ny, TOL_FAST);
  astrt_avgpool2d_f32(s, x, got);
  assert_close(what, got, want, ny, TOL_FAST);

  snprintf(what, sizeof what, "maxpool grad [%s]", pc->name);
  for (int64_t i = 0; i < nx; i++) got[i] = NAN;
  astrt_ref_maxpool2d_grad_f32(s, x, dy, want);
  assert_nonzero(what, want, nx);
  astrt_maxpool2d_grad_f32(s, x, dy, got);
  assert_same(what, got, want, nx);
  astrt_maxpool2d_grad_f32(s, x, dy, got);
  assert_same(what, got, want, nx);

  snprintf(what, sizeof what, "avgpool grad [%s]", pc->name);
  for (int64_t i = 0; i < nx; i++) got[i] = NAN;
  astrt_ref_avgpool2d_grad_f32(s, dy, want);
  assert_nonzero(what, want, nx);
  astrt_avgpool2d_grad_f32(s, dy, got);
  assert_close(what, got, want, nx, TOL_FAST);
  astrt_avgpool2d_grad_f32(s, dy, got);
  assert_close(what, got, want, nx, TOL_FAST);

  free(x); free(dy); free(want); free(got);
}
END_TEST

/* Pooling split by planes over 2 and 3 of the runtime's threads: LeNet's
 * two pools (2x2 stride 2, 64 images) and an overlapping padded window,
 * every kind against the reference (max: bit for bit), and a plane count
 * that does not divide evenly. */
static const astrt_pool_shape pooled_shapes[] = {
    {64 * 6, 28, 28, 2, 2, 2, 2, 0, 0},
    {64 * 16, 10, 10, 2, 2, 2, 2, 0, 0},
    {37, 15, 17, 3, 3, 2, 2, 1, 1},
};

START_TEST(test_pool_pooled_vs_ref) {
  const int threads = 2 + _i % 2;
  astrt_pool_configure(threads);
  ck_assert_int_eq(astrt_pool_size(), threads);
  const astrt_pool_shape *s = &pooled_shapes[_i / 2];
  const int64_t nx = pool_x_size(s), ny = pool_y_size(s);
  rng rg = {9100u + (uint64_t)_i};
  float *x = rand_f(&rg, nx), *dy = rand_f(&rg, ny);
  float *want = nan_f(nx > ny ? nx : ny), *got = nan_f(nx > ny ? nx : ny);
  astrt_ref_maxpool2d_f32(s, x, want);
  astrt_maxpool2d_f32(s, x, got);
  assert_same("pooled maxpool fwd", got, want, ny);
  astrt_ref_avgpool2d_f32(s, x, want);
  astrt_avgpool2d_f32(s, x, got);
  assert_close("pooled avgpool fwd", got, want, ny, TOL_FAST);
  for (int64_t i = 0; i < nx; i++) got[i] = NAN;
  astrt_ref_maxpool2d_grad_f32(s, x, dy, want);
  astrt_maxpool2d_grad_f32(s, x, dy, got);
  assert_same("pooled maxpool grad", got, want, nx);
  for (int64_t i = 0; i < nx; i++) got[i] = NAN;
  astrt_ref_avgpool2d_grad_f32(s, dy, want);
  astrt_avgpool2d_grad_f32(s, dy, got);
  assert_close("pooled avgpool grad", got, want, nx, TOL_FAST);
  free(x); free(dy); free(want); free(got);
}
END_TEST

/* The 2x2 stride-2 max pool handles four windows at a time (SSE2) and
 * drops to the scalar rule for a group holding a NaN: NaNs at every corner
 * position of groups at the start, middle and end of rows, plus ties
 * (values quantised to halves) and signed zeros, must give the reference's
 * bits exactly. */
START_TEST(test_maxpool_2x2s2_nan_groups) {
  const astrt_pool_shape shapes[] = {
      {3, 6, 16, 2, 2, 2, 2, 0, 0},   /* 8 windows per row: two groups   */
      {2, 7, 21, 2, 2, 2, 2, 0, 0},   /* 10 windows + odd column and row */
      {4, 28, 28, 2, 2, 2, 2, 0, 0},  /* LeNet pool1 plane size          */
  };
  for (size_t v = 0; v < sizeof shapes / sizeof shapes[0]; v++) {
    const astrt_pool_shape *s = &shapes[v];
    const int64_t nx = pool_x_size(s), ny = pool_y_size(s);
    rng rg = {13000u + (uint64_t)v};
    float *x = rand_f(&rg, nx);    /* [planes, H, W]   */
    float *dy = rand_f(&rg, ny);   /* [planes, OH, OW] */
    for (int64_t i = 0; i < nx; i++) {
      const uint64_t r = rng_next(&rg) % 64;
      x[i] = r == 0 ? NAN : r == 1 ? -0.0f : r == 2 ? 0.0f
                                         : floorf(x[i] * 2.0f) / 2.0f;
    }
    float *want = nan_f(nx), *got = nan_f(nx);
    astrt_ref_maxpool2d_f32(s, x, want);
    astrt_maxpool2d_f32(s, x, got);
    assert_same("maxpool 2x2s2 fwd with NaNs", got, want, ny);
    for (int64_t i = 0; i < nx; i++) got[i] = NAN;
    astrt_ref_maxpool2d_grad_f32(s, x, dy, want);
    astrt_maxpool2d_grad_f32(s, x, dy, got);
    assert_same("maxpool 2x2s2 grad with NaNs", got, want, nx);
    /* bits, not just values (dx holds no NaN: dy has none) */
    ck_assert_msg(memcmp(got, want, (size_t)nx * sizeof(float)) == 0,
                  "maxpool 2x2s2 grad: bits differ from the reference");
    free(x); free(dy); free(want); free(got);
  }
}
END_TEST

/* ---- scratch ------------------------------------------------------------- */

/* resizing (progressive resizing): area by a whole factor is average
 * pooling; area to a non-divisor size averages the boxes each output pixel
 * touches; bilinear at the same size is the identity, and on a ramp it is
 * the half-pixel-centre interpolation PyTorch's interpolate computes */
START_TEST(test_resize_hand) {
  float x[36], y[36], z[36];
  for (int i = 0; i < 36; i++) x[i] = (float)((i * 7) % 11) - 3.0f;
  /* 6x6 -> 3x3 area == 2x2 average pooling */
  astrt_resize_shape a = {1, 6, 6, 3, 3, 0};
  astrt_resize2d_f32(&a, x, y);
  const astrt_pool_shape ps = {1, 6, 6, 2, 2, 2, 2, 0, 0};
  astrt_avgpool2d_f32(&ps, x, z);
  for (int i = 0; i < 9; i++) ck_assert_float_eq_tol(y[i], z[i], 1e-6);
  /* 3 -> 2 along a row: boxes [0, 2) and [1, 3) */
  const float row[3] = {1, 2, 4};
  astrt_resize_shape r = {1, 1, 3, 1, 2, 0};
  astrt_resize2d_f32(&r, row, y);
  ck_assert_float_eq_tol(y[0], 1.5f, 1e-6);
  ck_assert_float_eq_tol(y[1], 3.0f, 1e-6);
  /* bilinear, same size: identity; 2 planes */
  astrt_resize_shape b = {2, 3, 6, 3, 6, 1};
  astrt_resize2d_f32(&b, x, y);
  for (int i = 0; i < 36; i++) ck_assert_float_eq(y[i], x[i]);
  /* bilinear 4 -> 2 on [0 1 2 3]: sources 0.5 and 2.5 -> 0.5, 2.5; 2 -> 4 on [0 4]: 0, 1, 3, 4 */
  const float ramp[4] = {0, 1, 2, 3}, two[2] = {0, 4};
  astrt_resize_shape d = {1, 1, 4, 1, 2, 1};
  astrt_resize2d_f32(&d, ramp, y);
  ck_assert_float_eq_tol(y[0], 0.5f, 1e-6);
  ck_assert_float_eq_tol(y[1], 2.5f, 1e-6);
  astrt_resize_shape u = {1, 1, 2, 1, 4, 1};
  astrt_resize2d_f32(&u, two, y);
  const float want[4] = {0, 1, 3, 4};
  for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(y[i], want[i], 1e-6);
}
END_TEST

START_TEST(test_scratch_grow_release) {
  astrt_kernels_release_scratch();
  ck_assert_uint_eq(astrt_scratch_capacity(), 0);
  float *p = astrt_scratch(0);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq((uintptr_t)p % ASTRT_SCRATCH_ALIGN, 0);
  ck_assert_uint_ge(astrt_scratch_capacity(), 1);
  const size_t big = (size_t)3 << 20;
  float *q = astrt_scratch(big);
  ck_assert_uint_eq((uintptr_t)q % ASTRT_SCRATCH_ALIGN, 0);
  ck_assert_uint_ge(astrt_scratch_capacity(), big);
  for (size_t i = 0; i < big; i++) q[i] = (float)i;  /* ASan: whole range */
  /* A smaller request reuses the buffer and keeps its contents. */
  ck_assert_ptr_eq(astrt_scratch(10), q);
  ck_assert_float_eq(q[big - 1], (float)(big - 1));
  astrt_kernels_release_scratch();
  ck_assert_uint_eq(astrt_scratch_capacity(), 0);
  astrt_kernels_release_scratch();  /* twice is harmless */
  float *z = astrt_scratch(100);
  ck_assert_ptr_nonnull(z);
  z[99] = 1.0f;
  ck_assert_uint_ge(astrt_scratch_capacity(), 100);
}
END_TEST

typedef struct scratch_job {
  pthread_barrier_t *bar;
  float fill;
  float *ptr;
  int ok;
} scratch_job;

static void *scratch_worker(void *arg) {
  scratch_job *j = arg;
  const size_t n = 50000;
  float *p = astrt_scratch(n);
  for (size_t i = 0; i < n; i++) p[i] = j->fill;
  j->ptr = p;
  pthread_barrier_wait(j->bar);  /* both threads have written */
  j->ok = 1;
  for (size_t i = 0; i < n; i++)
    if (p[i] != j->fill) j->ok = 0;
  return NULL;  /* no release: the thread-exit destructor frees it */
}

START_TEST(test_scratch_per_thread) {
  pthread_barrier_t bar;
  ck_assert_int_eq(pthread_barrier_init(&bar, NULL, 2), 0);
  scratch_job jobs[2] = {{&bar, 1.0f, NULL, 0}, {&bar, 2.0f, NULL, 0}};
  pthread_t th[2];
  for (int t = 0; t < 2; t++)
    ck_assert_int_eq(pthread_create(&th[t], NULL, scratch_worker, &jobs[t]), 0);
  for (int t = 0; t < 2; t++) ck_assert_int_eq(pthread_join(th[t], NULL), 0);
  pthread_barrier_destroy(&bar);
  ck_assert_ptr_ne(jobs[0].ptr, jobs[1].ptr);
  ck_assert_msg(jobs[0].ok && jobs[1].ok, "threads shared a scratch buffer");
  /* The main thread's buffer is its own too. */
  ck_assert_uint_eq(astrt_scratch_capacity(), 0);
}
END_TEST

/* ---- softmax cross-entropy --------------------------------------------------- */

/* the textbook form in double: -sum_c t_c log softmax(l)_c and (softmax - t) dy */
static void ref_xent(const float *l, const int32_t *y, int64_t rows, int64_t k, double s, double *loss,
                     double *grad, const float *dy, float dy_all) {
  for (int64_t r = 0; r < rows; r++) {
    double m = -INFINITY, z = 0, sum_t = y[r] >= 0 && y[r] < k ? 1 : s;
    for (int64_t c = 0; c < k; c++) m = fmax(m, l[r * k + c]);
    for (int64_t c = 0; c < k; c++) z += exp(l[r * k + c] - m);
    loss[r] = 0;
    for (int64_t c = 0; c < k; c++) {
      double t = s / (double)k + (c == y[r] ? 1 - s : 0), logp = l[r * k + c] - m - log(z);
      if (t > 0) loss[r] -= t * logp;
      grad[r * k + c] = (exp(logp) * sum_t - t) * (dy ? dy[r] : dy_all);
    }
  }
}

/* offset: added to every logit (large logits must not lose the loss to
 * cancellation); masked: row 0's last logit is -inf (a masked class) */
static const struct { int64_t rows, k; float smoothing, offset; int masked; } xent_cases[] = {
    {7, 10, 0, 0, 0},    {5, 3, 0.1f, 0, 0}, {4, 1, 0, 0, 0},    {3, 1500, 0.05f, 0, 0},
    {0, 10, 0, 0, 0},    {6, 10, 0, 1e4f, 0}, {6, 10, 0.1f, -3e3f, 0}, {4, 10, 0, 0, 1}};

/* every mode of astrt_softmax_xent (loss only, gradient only, both; per-row
 * or uniform dy; more classes than its stack buffer; labels outside [0, K))
 * against the reference */
START_TEST(test_softmax_xent_vs_ref) {
  int64_t rows = xent_cases[_i].rows, k = xent_cases[_i].k;
  float s = xent_cases[_i].smoothing;
  float *l = malloc(sizeof(float) * (size_t)(rows * k + 1)), *g = malloc(sizeof(float) * (size_t)(rows * k + 1));
  float loss[8], dy[8];
  int32_t y[8];
  double rl[8], *rg = malloc(sizeof(double) * (size_t)(rows * k + 1));
  rng rg_state = {(uint64_t)_i + 31};
  for (int64_t i = 0; i < rows * k; i++) l[i] = rng_pm1(&rg_state) * 6 + xent_cases[_i].offset;
  if (xent_cases[_i].masked) l[k - 1] = -INFINITY;
  for (int64_t r = 0; r < rows; r++) {
    y[r] = r == 1 ? -1 : r == 2 ? (int32_t)k : (int32_t)(r * 7 % k);  /* rows 1, 2: no class */
    dy[r] = rng_pm1(&rg_state);
  }
  for (int mode = 0; mode < 4; mode++) {  /* 0 loss, 1 grad with dy[], 2 both with dy_all, 3 both with dy[] */
    bool want_loss = mode != 1, want_grad = mode != 0, rowwise = mode == 1 || mode == 3;
    for (int64_t i = 0; i < rows * k; i++) g[i] = NAN;
    for (int64_t r = 0; r < rows; r++) loss[r] = NAN;
    astrt_softmax_xent(l, y, rows, k, s, want_loss ? loss : NULL, want_grad ? g : NULL, rowwise ? dy : NULL, 0.25f);
    ref_xent(l, y, rows, k, s, rl, rg, rowwise ? dy : NULL, 0.25f);
    for (int64_t r = 0; r < rows; r++) {
      if (want_loss)  /* relative to the loss itself, whatever the logits' size */
        ck_assert_msg(fabs(loss[r] - rl[r]) <= 1e-5 * fmax(1e-2, fabs(rl[r])), "case %d mode %d row %lld: %g vs %g",
                      _i, mode, (long long)r, (double)loss[r], rl[r]);
      else
        ck_assert(isnan(loss[r]));
      for (int64_t c = 0; c < k; c++) {
        double want = want_grad ? rg[r * k + c] : NAN;
        if (!want_grad) ck_assert(isnan(g[r * k + c]));
        else
          ck_assert_msg(fabs(g[r * k + c] - want) <= 1e-6, "k %lld mode %d [%lld,%lld]: %g vs %g", (long long)k,
                        mode, (long long)r, (long long)c, (double)g[r * k + c], want);
      }
    }
  }
  free(l);
  free(g);
  free(rg);
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

static Suite *kernels_suite(void) {
  Suite *s = suite_create("kernels");
  TCase *tc = tcase(s, "sgemm");
  tcase_add_test(tc, test_sgemm_hand);
  tcase_add_test(tc, test_sgemm_empty);
  tcase_add_loop_test(tc, test_sgemm_vs_ref, 0,
                      (int)(sizeof gemm_cases / sizeof gemm_cases[0]));
  tcase_add_loop_test(tc, test_pool_parts_once, 0, 3);
  tcase_add_loop_test(tc, test_sgemm_pooled_vs_ref, 0,
                      2 * (int)(sizeof gemm_cases / sizeof gemm_cases[0]));

  tc = tcase(s, "conv_ref");
  tcase_add_test(tc, test_conv_out_size);
  tcase_add_test(tc, test_ref_conv_hand);
  tcase_add_loop_test(tc, test_ref_conv_grads_fd, 0,
                      (int)(sizeof conv_fd_cases / sizeof conv_fd_cases[0]));

  tc = tcase(s, "conv_fast");
  tcase_add_loop_test(tc, test_conv_fwd_vs_ref, 0, N_CONV_CASES);
  tcase_add_loop_test(tc, test_conv_grad_input_vs_ref, 0, N_CONV_CASES);
  tcase_add_loop_test(tc, test_conv_grad_weight_vs_ref, 0, N_CONV_CASES);
  tcase_add_loop_test(tc, test_conv_im2col_vs_ref, 0, 3 * N_CONV_CASES);
  tcase_add_loop_test(tc, test_conv_pooled_vs_ref, 0, 2 * N_CONV_CASES);
  tcase_add_test(tc, test_conv_degenerate);
  tcase_add_test(tc, test_conv_threads);

  tc = tcase(s, "conv_direct");
  tcase_add_loop_test(tc, test_conv_public_direct_cases, 0, 3 * N_DIRECT_CASES);
  tcase_add_test(tc, test_conv_deterministic);
  tcase_add_test(tc, test_conv_isa_and_paths);

  tc = tcase(s, "pool");
  tcase_add_test(tc, test_pool_out_size);
  tcase_add_test(tc, test_pool_hand);
  tcase_add_test(tc, test_resize_hand);
  tcase_add_test(tc, test_maxpool_grad_ties);
  tcase_add_loop_test(tc, test_ref_pool_grads_fd, 0,
                      (int)(sizeof pool_fd_cases / sizeof pool_fd_cases[0]));
  tcase_add_loop_test(tc, test_pool_vs_ref, 0, 2 * N_POOL_CASES);
  tcase_add_test(tc, test_maxpool_2x2s2_nan_groups);
  tcase_add_loop_test(tc, test_pool_pooled_vs_ref, 0, 2 * (int)(sizeof pooled_shapes / sizeof pooled_shapes[0]));

  tc = tcase(s, "loss");
  tcase_add_loop_test(tc, test_softmax_xent_vs_ref, 0, (int)(sizeof xent_cases / sizeof xent_cases[0]));

  tc = tcase(s, "scratch");
  tcase_add_test(tc, test_scratch_grow_release);
  tcase_add_test(tc, test_scratch_per_thread);
  return s;
}

/* The direct kernels of one instruction set (an FxExtra each). */
static Suite *direct_suite(const char *name, const TTest *test) {
  Suite *s = suite_create(name);
  TCase *tc = tcase(s, "conv_direct");
  tcase_add_loop_test(tc, test, 0, 3 * N_DIRECT_CASES);
  return s;
}

static Suite *generic_suite(void) { return direct_suite("kernels generic", test_conv_direct_generic_vs_ref); }
static Suite *avx2_suite(void) { return direct_suite("kernels avx2", test_conv_direct_avx2_vs_ref); }
static Suite *avx512_suite(void) { return direct_suite("kernels avx512", test_conv_direct_avx512_vs_ref); }

/* The CPU flags each needs, as astrt_conv_isa_supported tests them. */
static const char *missing_generic(void) { return fx_missing_cpu_flags("sse2"); }
static const char *missing_avx2(void) { return fx_missing_cpu_flags("avx2 fma"); }
static const char *missing_avx512(void) {
  return fx_missing_cpu_flags("avx2 fma avx512f avx512bw avx512dq avx512vl");
}

int main(int argc, char **argv) {
  static const FxExtra extra[] = {
      {"conv_generic", generic_suite, missing_generic},
      {"conv_avx2", avx2_suite, missing_avx2},
      {"conv_avx512", avx512_suite, missing_avx512},
  };
  return fx_main(argc, argv, kernels_suite, extra, 3);
}
