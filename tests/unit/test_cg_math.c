/* test_cg_math.c — the exp, tanh and erf that generated loops compute inline
 * (compiler/codegen/cg_math.c), against libm in double precision over
 * their whole float range: each compiled and optimised for this host as a
 * loop (cg_jit_math), so the vectorized form is what is tested, on
 * 2^20 + 1 points of a range plus the edges, the special values and a tail
 * of odd lengths (the loop's scalar remainder). */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "codegen.h"
#include "test_fixtures.h"

#define N ((1 << 20) + 1)

typedef struct Sweep {
  float *x, *y;
  int64_t n;
} Sweep;

/* n points evenly over [lo, hi], then the extras */
static Sweep sweep(double lo, double hi, const float *extra, int nextra) {
  Sweep s = {malloc(sizeof(float) * (N + (size_t)nextra)), malloc(sizeof(float) * (N + (size_t)nextra)),
             N + nextra};
  ck_assert(s.x && s.y);
  for (int i = 0; i < N; i++) s.x[i] = (float)(lo + (hi - lo) * i / (N - 1));
  for (int i = 0; i < nextra; i++) s.x[N + i] = extra[i];
  return s;
}

static void run(CgMathFn f, Sweep *s) {
  CgJit *jit;
  CgMathLoop *loop = cg_jit_math(f, &jit);
  ck_assert_msg(loop, "the loop does not compile");
  loop(s->x, s->y, s->n);
  /* odd lengths: the scalar remainder after the vector body */
  for (int64_t len = 1; len <= 37; len += 4) {
    float y[37];
    loop(s->x + 1000, y, len);
    for (int64_t i = 0; i < len; i++) ck_assert_float_eq(y[i], s->y[1000 + i]);
  }
  cg_jit_free(jit);
}

static void sweep_free(Sweep *s) {
  free(s->x);
  free(s->y);
}

START_TEST(exp_against_libm) {
  const float extra[] = {NAN, -NAN, INFINITY, -INFINITY, 88.72283f, 88.7228394f, 88.73f, 89.0f, 100.0f, 1e30f,
                         -87.33654f, -87.4f, -100.0f, -103.9f, -104.0f, -110.0f, -1e30f, 0.0f, -0.0f, 1e-30f,
                         FLT_MIN, 0.3465736f, -0.3465736f};
  Sweep s = sweep(-104, 89, extra, (int)(sizeof extra / sizeof *extra));
  run(CG_MATH_EXP, &s);
  double worst = 0;
  for (int64_t i = 0; i < s.n; i++) {
    float x = s.x[i], y = s.y[i];
    if (isnan(x)) {
      ck_assert_msg(isnan(y), "exp(nan) = %g", y);
      continue;
    }
    double ref = exp((double)x);
    if (ref > FLT_MAX) {
      ck_assert_msg(isinf(y) && y > 0, "exp(%.9g) = %.9g, not inf", x, y);
      continue;
    }
    if (ref < FLT_MIN) {  /* subnormal or zero: within two of the smallest steps */
      ck_assert_msg(fabs(y - ref) <= 2 * 0x1p-149, "exp(%.9g) = %.9g, libm %.9g", x, y, ref);
      continue;
    }
    double rel = fabs(y - ref) / ref;
    if (rel > worst) worst = rel;
    ck_assert_msg(rel <= 2.5 * FLT_EPSILON / 2, "exp(%.9g) = %.9g, libm %.9g: relative error %.3g", x, y, ref, rel);
  }
  ck_assert_msg(worst > 0, "no error at all: the sweep checked nothing");
  sweep_free(&s);
}
END_TEST

START_TEST(tanh_against_libm) {
  const float extra[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-30f, -1e-30f, 0.00999f, 0.01f, 0.0101f, 9.5f, 10.0f,
                         11.0f, 1e30f, -1e30f};
  Sweep s = sweep(-12, 12, extra, (int)(sizeof extra / sizeof *extra));
  run(CG_MATH_TANH, &s);
  for (int64_t i = 0; i < s.n; i++) {
    float x = s.x[i], y = s.y[i];
    if (isnan(x)) {
      ck_assert_msg(isnan(y), "tanh(nan) = %g", y);
      continue;
    }
    double ref = tanh((double)x);
    /* below |x| = 0.01 (x - x^3/3) a few ulps of the result; above, where
     * 1 - 2/(e^2|x| + 1) cancels, an ulp of 1 */
    double tol = fabsf(x) < 0.01f ? 4 * FLT_EPSILON * fabs(ref) : 1.5e-7;
    ck_assert_msg(fabs(y - ref) <= tol, "tanh(%.9g) = %.9g, libm %.9g", x, y, ref);
  }
  sweep_free(&s);
}
END_TEST

START_TEST(erf_against_libm) {
  const float extra[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-30f, 6.0f, -6.0f, 30.0f, 1e30f, -1e30f};
  Sweep s = sweep(-7, 7, extra, (int)(sizeof extra / sizeof *extra));
  run(CG_MATH_ERF, &s);
  for (int64_t i = 0; i < s.n; i++) {
    float x = s.x[i], y = s.y[i];
    if (isnan(x)) {
      ck_assert_msg(isnan(y), "erf(nan) = %g", y);
      continue;
    }
    double ref = erf((double)x);
    /* the fit's 1.2e-7 of erfc, and float rounding */
    ck_assert_msg(fabs(y - ref) <= 2.5e-7, "erf(%.9g) = %.9g, libm %.9g", x, y, ref);
  }
  sweep_free(&s);
}
END_TEST

static Suite *cg_math_suite(void) {
  Suite *s = suite_create("cg_math");
  TCase *t = tcase_create("against_libm");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, exp_against_libm);
  tcase_add_test(t, tanh_against_libm);
  tcase_add_test(t, erf_against_libm);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) { return fx_main(argc, argv, cg_math_suite, NULL, 0); }
