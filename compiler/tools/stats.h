/* stats.h — the statistics behind astc compare (stats.c): order statistics,
 * mean and sample standard deviation, time to a target accuracy, Pareto
 * frontiers of (time, accuracy) points and the dominance of one frontier
 * over another. Pure functions of their arguments, no allocation visible to
 * the caller except where an output array is passed in. */
#ifndef ASTC_STATS_H
#define ASTC_STATS_H

#include <stdbool.h>

/* ---- summaries of n values (n >= 1; NaN for n = 0) ------------------------------- */

/* The median: the middle value of the sorted values, or the mean of the two
 * middle ones when n is even. The input is not modified. */
double stats_median(const double *x, int n);
double stats_min(const double *x, int n);
double stats_max(const double *x, int n);
double stats_mean(const double *x, int n);
/* The sample standard deviation, sqrt(sum (x - mean)^2 / (n - 1)); 0 for
 * n = 1. */
double stats_std(const double *x, int n);

/* ---- time to target --------------------------------------------------------------- */

typedef enum StatsTttMethod {
  /* The training time of the first evaluation whose accuracy is >= the
   * target (the driver's own time_to_target: evaluations come once per
   * epoch, so this has epoch granularity and never anticipates a result
   * that was not yet measured). */
  STATS_TTT_EVAL,
  /* Linear interpolation between the last evaluation below the target and
   * the first at or above it: t = t0 + (target - a0) / (a1 - a0) * (t1 - t0).
   * When the first evaluation already reaches it, its own time. */
  STATS_TTT_INTERPOLATE,
} StatsTttMethod;

/* Time to `target` over n evaluations in training order, evaluation i at
 * training time seconds[i] with accuracy acc[i]. Returns a negative number
 * when no evaluation reaches the target (and for n = 0). */
double stats_time_to_target(const double *seconds, const double *acc, int n, double target,
                            StatsTttMethod method);

/* ---- Pareto frontiers --------------------------------------------------------------- */

typedef struct StatsPoint {
  double time;      /* less is better */
  double acc;       /* more is better */
} StatsPoint;

/* p weakly dominates q: p.time <= q.time and p.acc >= q.acc. */
bool stats_weakly_dominates(StatsPoint p, StatsPoint q);
/* p dominates q: p weakly dominates q and is strictly better in time or in
 * accuracy. */
bool stats_dominates(StatsPoint p, StatsPoint q);

/* The Pareto frontier of n points (finite coordinates): a point is on it when no other point
 * dominates it (no point has lower-or-equal time and higher-or-equal
 * accuracy with one of the two strict). Exact duplicates do not dominate each
 * other, so both stay. Writes the indices of the frontier's points to
 * idx_out (room for n), ordered by time and then by accuracy, and returns
 * their number. Along the frontier time and accuracy both increase. */
int stats_pareto(const StatsPoint *pts, int n, int *idx_out);

/* The best accuracy of the n points within time t: the largest acc of the
 * points with time <= t; -INFINITY when none is that fast. For a frontier
 * this is the step function best_F(t) below. */
double stats_best_within(const StatsPoint *pts, int n, double t);

typedef enum StatsDominance {
  STATS_NEITHER,       /* the frontiers cross: each is better somewhere */
  STATS_A_DOMINATES,   /* see stats_frontier_dominance */
  STATS_B_DOMINATES,
  STATS_EQUAL,         /* the same best accuracy at every time */
} StatsDominance;

/* Whether frontier A dominates frontier B. A frontier F gives, for every
 * time t, the best accuracy reachable within t:
 *     best_F(t) = max { p.acc : p in F, p.time <= t }   (none before F's first point).
 * A dominates B when best_A(t) >= best_B(t) for every t, and best_A(t) >
 * best_B(t) for some t. On the points this is:
 *   - every point of B is weakly dominated by some point of A (no B point
 *     is faster at equal-or-better accuracy than everything A offers), and
 *   - some point of A is weakly dominated by no point of B (A offers
 *     something B does not: more accuracy at some time, or a result earlier).
 * For frontiers the second condition holds in particular when some point of
 * B is strictly dominated by a point of A. EQUAL when each weakly dominates
 * every point of the other (the same step function); NEITHER otherwise,
 * and when either frontier is empty. */
StatsDominance stats_frontier_dominance(const StatsPoint *a, int na, const StatsPoint *b, int nb);

#endif
