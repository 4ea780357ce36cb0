/* stats.h — the statistics behind astc compare (stats.c): order statistics,
 * mean and sample standard deviation, time to a target, Pareto frontiers of
 * (time, metric) points, the dominance of one frontier over another and the
 * time intervals where one is ahead. The metric is a test accuracy (higher
 * is better) or a test loss (lower is better): every function that compares
 * values takes the direction. Pure functions of their arguments, no
 * allocation visible to the caller except where an output array is passed
 * in. */
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

/* ---- the direction of a metric --------------------------------------------------------- */

typedef enum StatsDirection {
  STATS_HIGHER_BETTER,   /* accuracy */
  STATS_LOWER_BETTER,    /* loss */
} StatsDirection;

/* x is strictly better than y: x > y (higher better) or x < y (lower
 * better); false when either is NaN. */
bool stats_better(double x, double y, StatsDirection dir);
/* x is at least as good as y: x >= y or x <= y; false when either is NaN. */
bool stats_at_least(double x, double y, StatsDirection dir);
/* The worst value there is: -INFINITY (higher better) or +INFINITY. */
double stats_worst(StatsDirection dir);

/* ---- time to target --------------------------------------------------------------- */

typedef enum StatsTttMethod {
  /* The training time of the first evaluation that reaches the target
   * (accuracy >= target, loss <= target): the driver's own time_to_target.
   * Evaluations come once per epoch, so this has epoch granularity and
   * never anticipates a result that was not yet measured. */
  STATS_TTT_EVAL,
  /* Linear interpolation between the last evaluation short of the target
   * and the first that reaches it: t = t0 + (target - v0) / (v1 - v0) * (t1 - t0)
   * (the same formula in both directions). When the first evaluation
   * already reaches it, its own time. */
  STATS_TTT_INTERPOLATE,
} StatsTttMethod;

/* Time to `target` over n evaluations in training order, evaluation i at
 * training time seconds[i] with metric value[i]; reached when value[i] is at
 * least as good as the target (>= for higher better, <= for lower better;
 * never by a NaN). Returns a negative number when no evaluation reaches it
 * (and for n = 0). */
double stats_time_to_target(const double *seconds, const double *value, int n, double target,
                            StatsTttMethod method, StatsDirection dir);

/* ---- Pareto frontiers --------------------------------------------------------------- */

typedef struct StatsPoint {
  double time;      /* less is better */
  double value;     /* the metric: better in the direction given with it */
} StatsPoint;

/* p weakly dominates q: p.time <= q.time and p.value at least as good as
 * q.value. */
bool stats_weakly_dominates(StatsPoint p, StatsPoint q, StatsDirection dir);
/* p dominates q: p weakly dominates q and is strictly better in time or in
 * value. */
bool stats_dominates(StatsPoint p, StatsPoint q, StatsDirection dir);

/* The Pareto frontier of n points (finite coordinates): a point is on it
 * when no other point dominates it (no point has lower-or-equal time and an
 * at-least-as-good value with one of the two strict). Exact duplicates do
 * not dominate each other, so both stay. Writes the indices of the
 * frontier's points to idx_out (room for n), ordered by time (points of
 * equal time on it are duplicates: in input order), and returns their
 * number. Along the frontier time increases and the value improves:
 * accuracy rises, loss falls. */
int stats_pareto(const StatsPoint *pts, int n, StatsDirection dir, int *idx_out);

/* The best value of the n points within time t: the best value of the
 * points with time <= t; stats_worst(dir) (an infinity) when none is that
 * fast. For a frontier this is the step function best_F(t) below. */
double stats_best_within(const StatsPoint *pts, int n, double t, StatsDirection dir);

typedef enum StatsDominance {
  STATS_NEITHER,       /* the frontiers cross: each is better somewhere */
  STATS_A_DOMINATES,   /* see stats_frontier_dominance */
  STATS_B_DOMINATES,
  STATS_EQUAL,         /* the same best value at every time */
} StatsDominance;

/* Whether frontier A dominates frontier B. A frontier F gives, for every
 * time t, the best value reachable within t:
 *     best_F(t) = best { p.value : p in F, p.time <= t }   (none before F's first point),
 * the highest accuracy or the lowest loss. A dominates B when best_A(t) is
 * at least as good as best_B(t) for every t, and better for some t. On the
 * points this is:
 *   - every point of B is weakly dominated by some point of A (no B point
 *     is faster at an equal-or-better value than everything A offers), and
 *   - some point of A is weakly dominated by no point of B (A offers
 *     something B does not: a better value at some time, or a result earlier).
 * For frontiers the second condition holds in particular when some point of
 * B is strictly dominated by a point of A. EQUAL when each weakly dominates
 * every point of the other (the same step function); NEITHER otherwise,
 * and when either frontier is empty. */
StatsDominance stats_frontier_dominance(const StatsPoint *a, int na, const StatsPoint *b, int nb,
                                        StatsDirection dir);

/* Where frontier A is ahead of frontier B: the time intervals [from, to)
 * in which best_A(t) is strictly better than best_B(t) (which includes the
 * times where A has a result and B none yet), in increasing order, adjacent
 * ones merged; to = INFINITY for "from then on". The step functions only
 * change at the points' times, so the ends are points' times. Writes them
 * to out (room for na + nb intervals) and returns their number; 0 when A
 * is empty. */
int stats_ahead_intervals(const StatsPoint *a, int na, const StatsPoint *b, int nb, StatsDirection dir,
                          double (*out)[2]);

#endif
