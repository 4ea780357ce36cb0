/* test_stats.c — the statistics of astc compare (compiler/tools/stats.c) against
 * values computed by hand. */
#include <check.h>
#include <math.h>

#include "stats.h"

#define EPS 1e-12

START_TEST(median_odd_even_and_unsorted) {
  const double odd[] = {3, 1, 2};
  ck_assert_double_eq(stats_median(odd, 3), 2);
  const double even[] = {4, 1, 3, 2};          /* sorted 1 2 3 4: (2 + 3) / 2 */
  ck_assert_double_eq(stats_median(even, 4), 2.5);
  ck_assert(even[0] == 4 && even[3] == 2);     /* the input is left alone */
  const double one[] = {7.25};
  ck_assert_double_eq(stats_median(one, 1), 7.25);
  const double two[] = {10, 20};
  ck_assert_double_eq(stats_median(two, 2), 15);
  const double ties[] = {5, 1, 5, 9, 5};       /* 1 5 5 5 9 */
  ck_assert_double_eq(stats_median(ties, 5), 5);
  ck_assert(isnan(stats_median(odd, 0)));
}
END_TEST

START_TEST(min_max_mean_std) {
  /* the textbook set: mean 5, squared deviations 9 1 1 1 0 0 4 16 = 32,
   * sample variance 32 / 7, sample std sqrt(32 / 7) = 2.1380899352993950 */
  const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
  ck_assert_double_eq(stats_min(x, 8), 2);
  ck_assert_double_eq(stats_max(x, 8), 9);
  ck_assert_double_eq(stats_mean(x, 8), 5);
  ck_assert_double_eq_tol(stats_std(x, 8), 2.1380899352993950, EPS);
  /* accuracies of three seeds: mean 0.89, deviations -0.01 0 +0.01, std 0.01 */
  const double acc[] = {0.88, 0.89, 0.90};
  ck_assert_double_eq_tol(stats_mean(acc, 3), 0.89, EPS);
  ck_assert_double_eq_tol(stats_std(acc, 3), 0.01, EPS);
  const double one[] = {3};
  ck_assert_double_eq(stats_std(one, 1), 0);   /* one seed: no spread */
  ck_assert(isnan(stats_mean(x, 0)) && isnan(stats_std(x, 0)) && isnan(stats_min(x, 0)));
}
END_TEST

START_TEST(time_to_target_by_evaluation) {
  const double t[] = {10, 20, 30, 40};
  const double a[] = {0.80, 0.85, 0.89, 0.91};
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.88, STATS_TTT_EVAL), 30);
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.89, STATS_TTT_EVAL), 30);   /* >= counts */
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.80, STATS_TTT_EVAL), 10);
  ck_assert(stats_time_to_target(t, a, 4, 0.95, STATS_TTT_EVAL) < 0);            /* not reached */
  ck_assert(stats_time_to_target(t, a, 0, 0.5, STATS_TTT_EVAL) < 0);
  /* the first crossing counts, even if accuracy falls back below later */
  const double dip[] = {0.80, 0.90, 0.70, 0.95};
  ck_assert_double_eq(stats_time_to_target(t, dip, 4, 0.88, STATS_TTT_EVAL), 20);
  /* a NaN accuracy never reaches a target */
  const double nan_first[] = {NAN, 0.9, 0.9, 0.9};
  ck_assert_double_eq(stats_time_to_target(t, nan_first, 4, 0.88, STATS_TTT_EVAL), 20);
}
END_TEST

START_TEST(time_to_target_interpolated) {
  const double t[] = {10, 20, 30, 40};
  const double a[] = {0.80, 0.85, 0.89, 0.91};
  /* 20 + (0.88 - 0.85) / (0.89 - 0.85) * (30 - 20) = 20 + 0.75 * 10 */
  ck_assert_double_eq_tol(stats_time_to_target(t, a, 4, 0.88, STATS_TTT_INTERPOLATE), 27.5, EPS);
  /* exactly at an evaluation: its time */
  ck_assert_double_eq_tol(stats_time_to_target(t, a, 4, 0.89, STATS_TTT_INTERPOLATE), 30, EPS);
  /* reached at the first evaluation: nothing to interpolate from */
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.75, STATS_TTT_INTERPOLATE), 10);
  ck_assert(stats_time_to_target(t, a, 4, 0.95, STATS_TTT_INTERPOLATE) < 0);
  /* first crossing of 0.88 between (10, 0.80) and (20, 0.90): 10 + 0.8 * 10 */
  const double dip[] = {0.80, 0.90, 0.70, 0.95};
  ck_assert_double_eq_tol(stats_time_to_target(t, dip, 4, 0.88, STATS_TTT_INTERPOLATE), 18, EPS);
  /* a NaN before the crossing: the evaluation's own time */
  const double nan_first[] = {NAN, 0.9, 0.9, 0.9};
  ck_assert_double_eq(stats_time_to_target(t, nan_first, 4, 0.88, STATS_TTT_INTERPOLATE), 20);
}
END_TEST

START_TEST(point_dominance) {
  StatsPoint p = {10, 0.9}, same = {10, 0.9}, slower = {12, 0.9}, worse = {10, 0.8}, better = {12, 0.95};
  ck_assert(stats_weakly_dominates(p, same) && !stats_dominates(p, same));
  ck_assert(stats_dominates(p, slower) && stats_dominates(p, worse));
  ck_assert(!stats_weakly_dominates(p, better) && !stats_weakly_dominates(better, p));
}
END_TEST

START_TEST(pareto_frontier) {
  const StatsPoint pts[] = {
      {10, 0.80},   /* 0: on it */
      {20, 0.85},   /* 1: on it */
      {15, 0.84},   /* 2: on it */
      {25, 0.84},   /* 3: dominated by 1 (faster, more accurate) */
      {20, 0.83},   /* 4: dominated by 1 (same time, less accurate) and 2 */
      {30, 0.85},   /* 5: dominated by 1 (same accuracy, slower) */
      {40, 0.90},   /* 6: on it */
      {10, 0.80},   /* 7: a duplicate of 0: neither dominates the other, both stay */
  };
  int idx[8];
  int n = stats_pareto(pts, 8, idx);
  ck_assert_int_eq(n, 5);
  const int want[] = {0, 7, 2, 1, 6};   /* by time, then accuracy, then input order */
  for (int i = 0; i < 5; i++) ck_assert_int_eq(idx[i], want[i]);
  /* one point; none */
  ck_assert_int_eq(stats_pareto(pts + 3, 1, idx), 1);
  ck_assert_int_eq(idx[0], 0);
  ck_assert_int_eq(stats_pareto(pts, 0, idx), 0);
  /* budgets of one program where more training lost accuracy:
   * (3 s, 86%) (6 s, 88%) (12 s, 87.9%): the last is dominated */
  const StatsPoint budgets[] = {{3, 0.86}, {6, 0.88}, {12, 0.879}};
  n = stats_pareto(budgets, 3, idx);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(idx[0], 0);
  ck_assert_int_eq(idx[1], 1);
}
END_TEST

START_TEST(frontier_dominance) {
  /* A is faster at 0.85 and as good at 20 s: A dominates */
  const StatsPoint a[] = {{10, 0.85}, {20, 0.90}}, b[] = {{12, 0.84}, {20, 0.90}};
  ck_assert_int_eq(stats_frontier_dominance(a, 2, b, 2), STATS_A_DOMINATES);
  ck_assert_int_eq(stats_frontier_dominance(b, 2, a, 2), STATS_B_DOMINATES);
  /* the same frontier */
  ck_assert_int_eq(stats_frontier_dominance(a, 2, a, 2), STATS_EQUAL);
  /* crossing: A is first (10 s) but B is more accurate at 15 s than A before 30 s */
  const StatsPoint c1[] = {{10, 0.80}, {30, 0.90}}, c2[] = {{15, 0.85}};
  ck_assert_int_eq(stats_frontier_dominance(c1, 2, c2, 1), STATS_NEITHER);
  ck_assert_int_eq(stats_frontier_dominance(c2, 1, c1, 2), STATS_NEITHER);
  /* B = A plus a more accurate point later: B is as good everywhere and better from 20 s */
  const StatsPoint s1[] = {{10, 0.85}}, s2[] = {{10, 0.85}, {20, 0.90}};
  ck_assert_int_eq(stats_frontier_dominance(s1, 1, s2, 2), STATS_B_DOMINATES);
  /* A also has a result at 5 s, where B has none yet: A dominates */
  const StatsPoint e1[] = {{5, 0.80}, {20, 0.90}}, e2[] = {{20, 0.90}};
  ck_assert_int_eq(stats_frontier_dominance(e1, 2, e2, 1), STATS_A_DOMINATES);
  /* a recipe 1.5x faster at each budget but 0.2 points less accurate at the
   * full budget: recipe (4, 86.0) (8, 87.9) (16, 88.8); baseline (6, 86.0)
   * (12, 88.0) (24, 89.0). Baseline's 89.0 at 24 s is matched by nothing of
   * the recipe: neither dominates. */
  const StatsPoint rec[] = {{4, 0.860}, {8, 0.879}, {16, 0.888}}, base[] = {{6, 0.860}, {12, 0.880}, {24, 0.890}};
  ck_assert_int_eq(stats_frontier_dominance(rec, 3, base, 3), STATS_NEITHER);
  /* with the full-budget accuracies equal, the recipe dominates */
  const StatsPoint rec2[] = {{4, 0.860}, {8, 0.880}, {16, 0.890}};
  ck_assert_int_eq(stats_frontier_dominance(rec2, 3, base, 3), STATS_A_DOMINATES);
  /* an empty frontier (every run failed) dominates nothing and is not dominated */
  ck_assert_int_eq(stats_frontier_dominance(a, 2, b, 0), STATS_NEITHER);
  ck_assert_int_eq(stats_frontier_dominance(a, 0, b, 2), STATS_NEITHER);
}
END_TEST

START_TEST(best_within) {
  /* the step function of a frontier (3 s, 86%) (6 s, 88%) (12 s, 89%) */
  const StatsPoint f[] = {{3, 0.86}, {6, 0.88}, {12, 0.89}};
  ck_assert(isinf(stats_best_within(f, 3, 2.9)) && stats_best_within(f, 3, 2.9) < 0);  /* nothing yet */
  ck_assert_double_eq(stats_best_within(f, 3, 3), 0.86);    /* a point counts from its own time */
  ck_assert_double_eq(stats_best_within(f, 3, 5.99), 0.86);
  ck_assert_double_eq(stats_best_within(f, 3, 6), 0.88);
  ck_assert_double_eq(stats_best_within(f, 3, 100), 0.89);
  /* not a frontier: the best of the points so far, not the latest */
  const StatsPoint g[] = {{1, 0.9}, {2, 0.5}};
  ck_assert_double_eq(stats_best_within(g, 2, 5), 0.9);
  ck_assert(stats_best_within(g, 0, 5) < 0);
}
END_TEST

static Suite *stats_suite(void) {
  Suite *s = suite_create("stats");
  TCase *t = tcase_create("stats");
  tcase_add_test(t, median_odd_even_and_unsorted);
  tcase_add_test(t, min_max_mean_std);
  tcase_add_test(t, time_to_target_by_evaluation);
  tcase_add_test(t, time_to_target_interpolated);
  tcase_add_test(t, point_dominance);
  tcase_add_test(t, pareto_frontier);
  tcase_add_test(t, frontier_dominance);
  tcase_add_test(t, best_within);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(stats_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
