/* stats.c — statistics for astc compare; definitions in stats.h. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double stats_median(const double *x, int n) {
  if (n <= 0) return NAN;
  double *s = xmalloc(sizeof(double) * (size_t)n);
  memcpy(s, x, sizeof(double) * (size_t)n);
  qsort(s, (size_t)n, sizeof(double), cmp_double);
  double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  free(s);
  return m;
}

double stats_min(const double *x, int n) {
  if (n <= 0) return NAN;
  double m = x[0];
  for (int i = 1; i < n; i++) m = x[i] < m ? x[i] : m;
  return m;
}

double stats_max(const double *x, int n) {
  if (n <= 0) return NAN;
  double m = x[0];
  for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

double stats_mean(const double *x, int n) {
  if (n <= 0) return NAN;
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i];
  return s / n;
}

double stats_std(const double *x, int n) {
  if (n <= 0) return NAN;
  if (n == 1) return 0;
  double m = stats_mean(x, n), s = 0;
  for (int i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
  return sqrt(s / (n - 1));
}

bool stats_better(double x, double y, StatsDirection dir) {
  return dir == STATS_LOWER_BETTER ? x < y : x > y;
}

bool stats_at_least(double x, double y, StatsDirection dir) {
  return dir == STATS_LOWER_BETTER ? x <= y : x >= y;
}

double stats_worst(StatsDirection dir) { return dir == STATS_LOWER_BETTER ? INFINITY : -INFINITY; }

double stats_time_to_target(const double *seconds, const double *value, int n, double target,
                            StatsTttMethod method, StatsDirection dir) {
  for (int i = 0; i < n; i++) {
    if (!stats_at_least(value[i], target, dir)) continue;  /* NaN never reaches it */
    if (method == STATS_TTT_EVAL || i == 0) return seconds[i];
    /* value[i - 1] is short of the target and value[i] reaches it, so
     * target - value[i - 1] and value[i] - value[i - 1] have the same sign
     * (positive for accuracy, negative for loss) and w is in (0, 1] */
    double w = (target - value[i - 1]) / (value[i] - value[i - 1]);
    if (!isfinite(w)) return seconds[i];  /* a NaN value before it */
    return seconds[i - 1] + w * (seconds[i] - seconds[i - 1]);
  }
  return -1;
}

bool stats_weakly_dominates(StatsPoint p, StatsPoint q, StatsDirection dir) {
  return p.time <= q.time && stats_at_least(p.value, q.value, dir);
}

bool stats_dominates(StatsPoint p, StatsPoint q, StatsDirection dir) {
  return stats_weakly_dominates(p, q, dir) && (p.time < q.time || stats_better(p.value, q.value, dir));
}

int stats_pareto(const StatsPoint *pts, int n, StatsDirection dir, int *idx_out) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    bool dominated = false;
    for (int j = 0; j < n && !dominated; j++) dominated = j != i && stats_dominates(pts[j], pts[i], dir);
    if (!dominated) idx_out[k++] = i;
  }
  /* insertion sort by time, stable (frontiers are short): points of equal
   * time on the frontier are duplicates and keep their input order */
  for (int i = 1; i < k; i++)
    for (int j = i; j > 0 && pts[idx_out[j]].time < pts[idx_out[j - 1]].time; j--) {
      int t = idx_out[j];
      idx_out[j] = idx_out[j - 1];
      idx_out[j - 1] = t;
    }
  return k;
}

double stats_best_within(const StatsPoint *pts, int n, double t, StatsDirection dir) {
  double best = stats_worst(dir);
  for (int i = 0; i < n; i++)
    if (pts[i].time <= t && stats_better(pts[i].value, best, dir)) best = pts[i].value;
  return best;
}

/* Whether every point of b is weakly dominated by some point of a. */
static bool covers(const StatsPoint *a, int na, const StatsPoint *b, int nb, StatsDirection dir) {
  for (int j = 0; j < nb; j++) {
    bool weak = false;
    for (int i = 0; i < na && !weak; i++) weak = stats_weakly_dominates(a[i], b[j], dir);
    if (!weak) return false;
  }
  return true;
}

/* A dominates B: A covers B and B does not cover A (some point of A is
 * weakly dominated by no point of B); see stats.h. */
StatsDominance stats_frontier_dominance(const StatsPoint *a, int na, const StatsPoint *b, int nb,
                                        StatsDirection dir) {
  if (na <= 0 || nb <= 0) return STATS_NEITHER;
  bool ca = covers(a, na, b, nb, dir), cb = covers(b, nb, a, na, dir);
  if (ca && cb) return STATS_EQUAL;
  if (ca) return STATS_A_DOMINATES;
  if (cb) return STATS_B_DOMINATES;
  return STATS_NEITHER;
}

int stats_ahead_intervals(const StatsPoint *a, int na, const StatsPoint *b, int nb, StatsDirection dir,
                          double (*out)[2]) {
  int nt = 0, n = 0;
  if (na <= 0) return 0;
  double *t = xmalloc(sizeof(double) * (size_t)(na + MAX(nb, 0)));
  for (int i = 0; i < na; i++) t[nt++] = a[i].time;
  for (int i = 0; i < nb; i++) t[nt++] = b[i].time;
  qsort(t, (size_t)nt, sizeof(double), cmp_double);
  for (int i = 0; i < nt; i++) {
    if (i > 0 && t[i] == t[i - 1]) continue;
    int k = i + 1;
    while (k < nt && t[k] == t[i]) k++;
    double next = k < nt ? t[k] : INFINITY;
    if (!stats_better(stats_best_within(a, na, t[i], dir), stats_best_within(b, nb, t[i], dir), dir)) continue;
    if (n > 0 && out[n - 1][1] == t[i]) out[n - 1][1] = next;
    else out[n][0] = t[i], out[n][1] = next, n++;
  }
  free(t);
  return n;
}
