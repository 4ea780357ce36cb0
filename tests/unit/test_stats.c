/* test_stats.c — the statistics of astc compare (compiler/tools/stats.c) against
 * values computed by hand. */
#include <check.h>
#include <math.h>

#include "stats.h"

#define EPS 1e-12
#define HI STATS_HIGHER_BETTER   /* accuracy */
#define LO STATS_LOWER_BETTER    /* loss */

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
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.88, STATS_TTT_EVAL, HI), 30);
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.89, STATS_TTT_EVAL, HI), 30);   /* >= counts */
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.80, STATS_TTT_EVAL, HI), 10);
  ck_assert(stats_time_to_target(t, a, 4, 0.95, STATS_TTT_EVAL, HI) < 0);            /* not reached */
  ck_assert(stats_time_to_target(t, a, 0, 0.5, STATS_TTT_EVAL, HI) < 0);
  /* the first crossing counts, even if accuracy falls back below later */
  const double dip[] = {0.80, 0.90, 0.70, 0.95};
  ck_assert_double_eq(stats_time_to_target(t, dip, 4, 0.88, STATS_TTT_EVAL, HI), 20);
  /* a NaN accuracy never reaches a target */
  const double nan_first[] = {NAN, 0.9, 0.9, 0.9};
  ck_assert_double_eq(stats_time_to_target(t, nan_first, 4, 0.88, STATS_TTT_EVAL, HI), 20);
}
END_TEST

START_TEST(time_to_target_interpolated) {
  const double t[] = {10, 20, 30, 40};
  const double a[] = {0.80, 0.85, 0.89, 0.91};
  /* 20 + (0.88 - 0.85) / (0.89 - 0.85) * (30 - 20) = 20 + 0.75 * 10 */
  ck_assert_double_eq_tol(stats_time_to_target(t, a, 4, 0.88, STATS_TTT_INTERPOLATE, HI), 27.5, EPS);
  /* exactly at an evaluation: its time */
  ck_assert_double_eq_tol(stats_time_to_target(t, a, 4, 0.89, STATS_TTT_INTERPOLATE, HI), 30, EPS);
  /* reached at the first evaluation: nothing to interpolate from */
  ck_assert_double_eq(stats_time_to_target(t, a, 4, 0.75, STATS_TTT_INTERPOLATE, HI), 10);
  ck_assert(stats_time_to_target(t, a, 4, 0.95, STATS_TTT_INTERPOLATE, HI) < 0);
  /* first crossing of 0.88 between (10, 0.80) and (20, 0.90): 10 + 0.8 * 10 */
  const double dip[] = {0.80, 0.90, 0.70, 0.95};
  ck_assert_double_eq_tol(stats_time_to_target(t, dip, 4, 0.88, STATS_TTT_INTERPOLATE, HI), 18, EPS);
  /* a NaN before the crossing: the evaluation's own time */
  const double nan_first[] = {NAN, 0.9, 0.9, 0.9};
  ck_assert_double_eq(stats_time_to_target(t, nan_first, 4, 0.88, STATS_TTT_INTERPOLATE, HI), 20);
}
END_TEST

START_TEST(point_dominance) {
  StatsPoint p = {10, 0.9}, same = {10, 0.9}, slower = {12, 0.9}, worse = {10, 0.8}, better = {12, 0.95};
  ck_assert(stats_weakly_dominates(p, same, HI) && !stats_dominates(p, same, HI));
  ck_assert(stats_dominates(p, slower, HI) && stats_dominates(p, worse, HI));
  ck_assert(!stats_weakly_dominates(p, better, HI) && !stats_weakly_dominates(better, p, HI));
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
  int n = stats_pareto(pts, 8, HI, idx);
  ck_assert_int_eq(n, 5);
  const int want[] = {0, 7, 2, 1, 6};   /* by time; the duplicates in input order */
  for (int i = 0; i < 5; i++) ck_assert_int_eq(idx[i], want[i]);
  /* one point; none */
  ck_assert_int_eq(stats_pareto(pts + 3, 1, HI, idx), 1);
  ck_assert_int_eq(idx[0], 0);
  ck_assert_int_eq(stats_pareto(pts, 0, HI, idx), 0);
  /* budgets of one program where more training lost accuracy:
   * (3 s, 86%) (6 s, 88%) (12 s, 87.9%): the last is dominated */
  const StatsPoint budgets[] = {{3, 0.86}, {6, 0.88}, {12, 0.879}};
  n = stats_pareto(budgets, 3, HI, idx);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(idx[0], 0);
  ck_assert_int_eq(idx[1], 1);
}
END_TEST

START_TEST(frontier_dominance) {
  /* A is faster at 0.85 and as good at 20 s: A dominates */
  const StatsPoint a[] = {{10, 0.85}, {20, 0.90}}, b[] = {{12, 0.84}, {20, 0.90}};
  ck_assert_int_eq(stats_frontier_dominance(a, 2, b, 2, HI), STATS_A_DOMINATES);
  ck_assert_int_eq(stats_frontier_dominance(b, 2, a, 2, HI), STATS_B_DOMINATES);
  /* the same frontier */
  ck_assert_int_eq(stats_frontier_dominance(a, 2, a, 2, HI), STATS_EQUAL);
  /* crossing: A is first (10 s) but B is more accurate at 15 s than A before 30 s */
  const StatsPoint c1[] = {{10, 0.80}, {30, 0.90}}, c2[] = {{15, 0.85}};
  ck_assert_int_eq(stats_frontier_dominance(c1, 2, c2, 1, HI), STATS_NEITHER);
  ck_assert_int_eq(stats_frontier_dominance(c2, 1, c1, 2, HI), STATS_NEITHER);
  /* B = A plus a more accurate point later: B is as good everywhere and better from 20 s */
  const StatsPoint s1[] = {{10, 0.85}}, s2[] = {{10, 0.85}, {20, 0.90}};
  ck_assert_int_eq(stats_frontier_dominance(s1, 1, s2, 2, HI), STATS_B_DOMINATES);
  /* A also has a result at 5 s, where B has none yet: A dominates */
  const StatsPoint e1[] = {{5, 0.80}, {20, 0.90}}, e2[] = {{20, 0.90}};
  ck_assert_int_eq(stats_frontier_dominance(e1, 2, e2, 1, HI), STATS_A_DOMINATES);
  /* a recipe 1.5x faster at each budget but 0.2 points less accurate at the
   * full budget: recipe (4, 86.0) (8, 87.9) (16, 88.8); baseline (6, 86.0)
   * (12, 88.0) (24, 89.0). Baseline's 89.0 at 24 s is matched by nothing of
   * the recipe: neither dominates. */
  const StatsPoint rec[] = {{4, 0.860}, {8, 0.879}, {16, 0.888}}, base[] = {{6, 0.860}, {12, 0.880}, {24, 0.890}};
  ck_assert_int_eq(stats_frontier_dominance(rec, 3, base, 3, HI), STATS_NEITHER);
  /* with the full-budget accuracies equal, the recipe dominates */
  const StatsPoint rec2[] = {{4, 0.860}, {8, 0.880}, {16, 0.890}};
  ck_assert_int_eq(stats_frontier_dominance(rec2, 3, base, 3, HI), STATS_A_DOMINATES);
  /* an empty frontier (every run failed) dominates nothing and is not dominated */
  ck_assert_int_eq(stats_frontier_dominance(a, 2, b, 0, HI), STATS_NEITHER);
  ck_assert_int_eq(stats_frontier_dominance(a, 0, b, 2, HI), STATS_NEITHER);
}
END_TEST

START_TEST(best_within) {
  /* the step function of a frontier (3 s, 86%) (6 s, 88%) (12 s, 89%) */
  const StatsPoint f[] = {{3, 0.86}, {6, 0.88}, {12, 0.89}};
  ck_assert(isinf(stats_best_within(f, 3, 2.9, HI)) && stats_best_within(f, 3, 2.9, HI) < 0);  /* nothing yet */
  ck_assert_double_eq(stats_best_within(f, 3, 3, HI), 0.86);    /* a point counts from its own time */
  ck_assert_double_eq(stats_best_within(f, 3, 5.99, HI), 0.86);
  ck_assert_double_eq(stats_best_within(f, 3, 6, HI), 0.88);
  ck_assert_double_eq(stats_best_within(f, 3, 100, HI), 0.89);
  /* not a frontier: the best of the points so far, not the latest */
  const StatsPoint g[] = {{1, 0.9}, {2, 0.5}};
  ck_assert_double_eq(stats_best_within(g, 2, 5, HI), 0.9);
  ck_assert(stats_best_within(g, 0, 5, HI) < 0);
}
END_TEST

START_TEST(direction) {
  ck_assert(stats_better(0.9, 0.8, HI) && !stats_better(0.8, 0.9, HI) && !stats_better(0.8, 0.8, HI));
  ck_assert(stats_better(0.3, 0.4, LO) && !stats_better(0.4, 0.3, LO) && !stats_better(0.4, 0.4, LO));
  ck_assert(stats_at_least(0.8, 0.8, HI) && stats_at_least(0.9, 0.8, HI) && !stats_at_least(0.7, 0.8, HI));
  ck_assert(stats_at_least(0.4, 0.4, LO) && stats_at_least(0.3, 0.4, LO) && !stats_at_least(0.5, 0.4, LO));
  ck_assert(!stats_better(NAN, 1, HI) && !stats_better(NAN, 1, LO) && !stats_at_least(NAN, 1, LO));
  ck_assert(!stats_at_least(1, NAN, HI) && !stats_at_least(1, NAN, LO));
  ck_assert(isinf(stats_worst(HI)) && stats_worst(HI) < 0);
  ck_assert(isinf(stats_worst(LO)) && stats_worst(LO) > 0);
}
END_TEST

START_TEST(time_to_target_loss) {
  /* test loss after each epoch: reached when loss <= target */
  const double t[] = {10, 20, 30, 40};
  const double l[] = {1.20, 0.90, 0.70, 0.60};
  ck_assert_double_eq(stats_time_to_target(t, l, 4, 0.80, STATS_TTT_EVAL, LO), 30);
  ck_assert_double_eq(stats_time_to_target(t, l, 4, 0.90, STATS_TTT_EVAL, LO), 20);   /* <= counts */
  ck_assert_double_eq(stats_time_to_target(t, l, 4, 1.50, STATS_TTT_EVAL, LO), 10);
  ck_assert(stats_time_to_target(t, l, 4, 0.50, STATS_TTT_EVAL, LO) < 0);            /* not reached */
  ck_assert(stats_time_to_target(t, l, 0, 0.50, STATS_TTT_EVAL, LO) < 0);
  /* read as an accuracy, 1.20 >= 0.80 already at the first evaluation */
  ck_assert_double_eq(stats_time_to_target(t, l, 4, 0.80, STATS_TTT_EVAL, HI), 10);
  /* the first crossing counts, even if the loss rises above the target later */
  const double dip[] = {1.20, 0.75, 0.95, 0.50};
  ck_assert_double_eq(stats_time_to_target(t, dip, 4, 0.80, STATS_TTT_EVAL, LO), 20);
  const double nan_first[] = {NAN, 0.7, 0.7, 0.7};
  ck_assert_double_eq(stats_time_to_target(t, nan_first, 4, 0.80, STATS_TTT_EVAL, LO), 20);
  /* interpolated: 20 + (0.80 - 0.90) / (0.70 - 0.90) * (30 - 20) = 20 + 0.5 * 10 */
  ck_assert_double_eq_tol(stats_time_to_target(t, l, 4, 0.80, STATS_TTT_INTERPOLATE, LO), 25, EPS);
  /* 20 + (0.75 - 0.90) / (0.70 - 0.90) * 10 = 20 + 0.75 * 10 */
  ck_assert_double_eq_tol(stats_time_to_target(t, l, 4, 0.75, STATS_TTT_INTERPOLATE, LO), 27.5, EPS);
  ck_assert_double_eq_tol(stats_time_to_target(t, l, 4, 0.70, STATS_TTT_INTERPOLATE, LO), 30, EPS);
  ck_assert_double_eq(stats_time_to_target(t, l, 4, 1.50, STATS_TTT_INTERPOLATE, LO), 10);
  ck_assert(stats_time_to_target(t, l, 4, 0.50, STATS_TTT_INTERPOLATE, LO) < 0);
  /* first crossing of 0.80 between (10, 1.20) and (20, 0.75): 10 + 0.40 / 0.45 * 10 = 170 / 9 */
  ck_assert_double_eq_tol(stats_time_to_target(t, dip, 4, 0.80, STATS_TTT_INTERPOLATE, LO), 170.0 / 9, 1e-9);
  ck_assert_double_eq(stats_time_to_target(t, nan_first, 4, 0.80, STATS_TTT_INTERPOLATE, LO), 20);
}
END_TEST

START_TEST(point_dominance_loss) {
  StatsPoint p = {10, 0.5}, same = {10, 0.5}, slower = {12, 0.5}, worse = {10, 0.6}, better = {12, 0.4};
  ck_assert(stats_weakly_dominates(p, same, LO) && !stats_dominates(p, same, LO));
  ck_assert(stats_dominates(p, slower, LO) && stats_dominates(p, worse, LO));
  ck_assert(!stats_weakly_dominates(p, better, LO) && !stats_weakly_dominates(better, p, LO));
  /* the direction decides: a higher loss at the same time is worse, a higher accuracy better */
  ck_assert(!stats_dominates(worse, p, LO) && stats_dominates(worse, p, HI));
}
END_TEST

START_TEST(pareto_frontier_loss) {
  const StatsPoint pts[] = {
      {10, 0.80},   /* 0: on it */
      {20, 0.55},   /* 1: on it */
      {15, 0.60},   /* 2: on it */
      {25, 0.60},   /* 3: dominated by 1 (faster, lower loss) */
      {20, 0.65},   /* 4: dominated by 1 (same time, higher loss) and 2 */
      {30, 0.55},   /* 5: dominated by 1 (same loss, slower) */
      {40, 0.40},   /* 6: on it */
      {10, 0.80},   /* 7: a duplicate of 0: both stay */
  };
  int idx[8];
  int n = stats_pareto(pts, 8, LO, idx);
  ck_assert_int_eq(n, 5);
  const int want[] = {0, 7, 2, 1, 6};   /* by time: the loss falls along it, 0.80 0.80 0.60 0.55 0.40 */
  for (int i = 0; i < 5; i++) ck_assert_int_eq(idx[i], want[i]);
  /* read as accuracies, (10, 0.80) dominates every other point but its duplicate */
  n = stats_pareto(pts, 8, HI, idx);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(idx[0], 0);
  ck_assert_int_eq(idx[1], 7);
  /* budgets of one program where more training overfits: (3 s, 0.50)
   * (6 s, 0.42) (12 s, 0.43): the last is dominated */
  const StatsPoint budgets[] = {{3, 0.50}, {6, 0.42}, {12, 0.43}};
  n = stats_pareto(budgets, 3, LO, idx);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(idx[0], 0);
  ck_assert_int_eq(idx[1], 1);
}
END_TEST

START_TEST(frontier_dominance_loss) {
  /* A is faster to 0.50 and as good at 20 s: A dominates */
  const StatsPoint a[] = {{10, 0.50}, {20, 0.30}}, b[] = {{12, 0.52}, {20, 0.30}};
  ck_assert_int_eq(stats_frontier_dominance(a, 2, b, 2, LO), STATS_A_DOMINATES);
  ck_assert_int_eq(stats_frontier_dominance(b, 2, a, 2, LO), STATS_B_DOMINATES);
  ck_assert_int_eq(stats_frontier_dominance(a, 2, a, 2, LO), STATS_EQUAL);
  /* read as accuracies, b's 0.52 at 12 s beats a's 0.50 and a is first: they cross */
  ck_assert_int_eq(stats_frontier_dominance(a, 2, b, 2, HI), STATS_NEITHER);
  /* crossing: A is first (10 s) but B is lower at 15 s than A before 30 s */
  const StatsPoint c1[] = {{10, 0.60}, {30, 0.30}}, c2[] = {{15, 0.45}};
  ck_assert_int_eq(stats_frontier_dominance(c1, 2, c2, 1, LO), STATS_NEITHER);
  ck_assert_int_eq(stats_frontier_dominance(c2, 1, c1, 2, LO), STATS_NEITHER);
  /* B = A plus a lower point later */
  const StatsPoint s1[] = {{10, 0.50}}, s2[] = {{10, 0.50}, {20, 0.30}};
  ck_assert_int_eq(stats_frontier_dominance(s1, 1, s2, 2, LO), STATS_B_DOMINATES);
  /* A also has a result at 5 s, where B has none yet */
  const StatsPoint e1[] = {{5, 0.60}, {20, 0.30}}, e2[] = {{20, 0.30}};
  ck_assert_int_eq(stats_frontier_dominance(e1, 2, e2, 1, LO), STATS_A_DOMINATES);
  /* a recipe 1.5x faster at each budget but with a final loss 0.02 higher:
   * recipe (4, 0.60) (8, 0.45) (16, 0.36); baseline (6, 0.60) (12, 0.44)
   * (24, 0.34). Nothing of the recipe matches the baseline's 0.34 at 24 s */
  const StatsPoint rec[] = {{4, 0.60}, {8, 0.45}, {16, 0.36}}, base[] = {{6, 0.60}, {12, 0.44}, {24, 0.34}};
  ck_assert_int_eq(stats_frontier_dominance(rec, 3, base, 3, LO), STATS_NEITHER);
  /* with the recipe as low as the baseline at each budget, it dominates */
  const StatsPoint rec2[] = {{4, 0.60}, {8, 0.44}, {16, 0.34}};
  ck_assert_int_eq(stats_frontier_dominance(rec2, 3, base, 3, LO), STATS_A_DOMINATES);
  ck_assert_int_eq(stats_frontier_dominance(a, 2, b, 0, LO), STATS_NEITHER);
  ck_assert_int_eq(stats_frontier_dominance(a, 0, b, 2, LO), STATS_NEITHER);
}
END_TEST

START_TEST(best_within_loss) {
  /* the step function of a frontier (3 s, 0.50) (6 s, 0.42) (12 s, 0.40): it steps down */
  const StatsPoint f[] = {{3, 0.50}, {6, 0.42}, {12, 0.40}};
  ck_assert(isinf(stats_best_within(f, 3, 2.9, LO)) && stats_best_within(f, 3, 2.9, LO) > 0);  /* nothing yet */
  ck_assert_double_eq(stats_best_within(f, 3, 3, LO), 0.50);
  ck_assert_double_eq(stats_best_within(f, 3, 5.99, LO), 0.50);
  ck_assert_double_eq(stats_best_within(f, 3, 6, LO), 0.42);
  ck_assert_double_eq(stats_best_within(f, 3, 100, LO), 0.40);
  /* not a frontier: the lowest of the points so far, not the latest */
  const StatsPoint g[] = {{1, 0.3}, {2, 0.9}};
  ck_assert_double_eq(stats_best_within(g, 2, 5, LO), 0.3);
  ck_assert_double_eq(stats_best_within(g, 2, 5, HI), 0.9);
  ck_assert(stats_best_within(g, 0, 5, LO) > 0);
}
END_TEST

START_TEST(ahead_intervals) {
  double iv[8][2];
  /* accuracy: recipe (4, .860) (8, .879) (16, .888), baseline (6, .860) (12, .880) (24, .890).
   * At t = 4 6 8 12 16 24, best_recipe = .860 .860 .879 .879 .888 .888 and
   * best_baseline = none .860 .860 .880 .880 .890: the recipe is ahead at 4, 8
   * and 16 until the next time, the baseline at 12 and from 24 on */
  const StatsPoint rec[] = {{4, 0.860}, {8, 0.879}, {16, 0.888}}, base[] = {{6, 0.860}, {12, 0.880}, {24, 0.890}};
  int n = stats_ahead_intervals(rec, 3, base, 3, HI, iv);
  ck_assert_int_eq(n, 3);
  const double want_rec[3][2] = {{4, 6}, {8, 12}, {16, 24}};
  for (int i = 0; i < 3; i++) ck_assert(iv[i][0] == want_rec[i][0] && iv[i][1] == want_rec[i][1]);
  n = stats_ahead_intervals(base, 3, rec, 3, HI, iv);
  ck_assert_int_eq(n, 2);
  ck_assert(iv[0][0] == 12 && iv[0][1] == 16 && iv[1][0] == 24 && isinf(iv[1][1]));
  /* the same for losses: recipe (4, .60) (8, .45) (16, .36), baseline (6, .60)
   * (12, .44) (24, .34). best_recipe = .60 .60 .45 .45 .36 .36, best_baseline
   * = none .60 .60 .44 .44 .34: the recipe is lower at 4, 8 and 16, the
   * baseline at 12 and from 24 on */
  const StatsPoint lrec[] = {{4, 0.60}, {8, 0.45}, {16, 0.36}}, lbase[] = {{6, 0.60}, {12, 0.44}, {24, 0.34}};
  n = stats_ahead_intervals(lrec, 3, lbase, 3, LO, iv);
  ck_assert_int_eq(n, 3);
  for (int i = 0; i < 3; i++) ck_assert(iv[i][0] == want_rec[i][0] && iv[i][1] == want_rec[i][1]);
  n = stats_ahead_intervals(lbase, 3, lrec, 3, LO, iv);
  ck_assert_int_eq(n, 2);
  ck_assert(iv[0][0] == 12 && iv[0][1] == 16 && iv[1][0] == 24 && isinf(iv[1][1]));
  /* ahead at every time: adjacent intervals merge into one. a (1, .5) (3, .3),
   * b (2, .6) (4, .55): best_a = .5 .5 .3 .3, best_b = none .6 .6 .55 */
  const StatsPoint a[] = {{1, 0.5}, {3, 0.3}}, b[] = {{2, 0.6}, {4, 0.55}};
  n = stats_ahead_intervals(a, 2, b, 2, LO, iv);
  ck_assert_int_eq(n, 1);
  ck_assert(iv[0][0] == 1 && isinf(iv[0][1]));
  ck_assert_int_eq(stats_ahead_intervals(b, 2, a, 2, LO, iv), 0);
  /* read as accuracies: a (.5) only before b's first point, b (.6) from 2 on */
  n = stats_ahead_intervals(a, 2, b, 2, HI, iv);
  ck_assert_int_eq(n, 1);
  ck_assert(iv[0][0] == 1 && iv[0][1] == 2);
  n = stats_ahead_intervals(b, 2, a, 2, HI, iv);
  ck_assert_int_eq(n, 1);
  ck_assert(iv[0][0] == 2 && isinf(iv[0][1]));
  /* equal frontiers: neither is ahead; an empty one: the other is ahead from its first point */
  ck_assert_int_eq(stats_ahead_intervals(a, 2, a, 2, LO, iv), 0);
  ck_assert_int_eq(stats_ahead_intervals(a, 0, b, 2, LO, iv), 0);
  n = stats_ahead_intervals(a, 2, b, 0, LO, iv);
  ck_assert_int_eq(n, 1);
  ck_assert(iv[0][0] == 1 && isinf(iv[0][1]));
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
  tcase_add_test(t, direction);
  tcase_add_test(t, time_to_target_loss);
  tcase_add_test(t, point_dominance_loss);
  tcase_add_test(t, pareto_frontier_loss);
  tcase_add_test(t, frontier_dominance_loss);
  tcase_add_test(t, best_within_loss);
  tcase_add_test(t, ahead_intervals);
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
