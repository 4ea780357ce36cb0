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

double stats_time_to_target(const double *seconds, const double *acc, int n, double target,
                            StatsTttMethod method) {
  for (int i = 0; i < n; i++) {
    if (!(acc[i] >= target)) continue;  /* NaN never reaches it */
    if (method == STATS_TTT_EVAL || i == 0) return seconds[i];
    /* acc[i - 1] < target <= acc[i], so the slope is positive */
    double w = (target - acc[i - 1]) / (acc[i] - acc[i - 1]);
    if (!isfinite(w)) return seconds[i];  /* a NaN accuracy before it */
    return seconds[i - 1] + w * (seconds[i] - seconds[i - 1]);
  }
  return -1;
}

bool stats_weakly_dominates(StatsPoint p, StatsPoint q) { return p.time <= q.time && p.acc >= q.acc; }

bool stats_dominates(StatsPoint p, StatsPoint q) {
  return stats_weakly_dominates(p, q) && (p.time < q.time || p.acc > q.acc);
}

/* p before q on a frontier: by time, then accuracy, then input order */
static bool before(const StatsPoint *pts, int i, int j) {
  if (pts[i].time != pts[j].time) return pts[i].time < pts[j].time;
  if (pts[i].acc != pts[j].acc) return pts[i].acc < pts[j].acc;
  return i < j;
}

int stats_pareto(const StatsPoint *pts, int n, int *idx_out) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    bool dominated = false;
    for (int j = 0; j < n && !dominated; j++) dominated = j != i && stats_dominates(pts[j], pts[i]);
    if (!dominated) idx_out[k++] = i;
  }
  for (int i = 1; i < k; i++)  /* insertion sort: frontiers are short */
    for (int j = i; j > 0 && before(pts, idx_out[j], idx_out[j - 1]); j--) {
      int t = idx_out[j];
      idx_out[j] = idx_out[j - 1];
      idx_out[j - 1] = t;
    }
  return k;
}

double stats_best_within(const StatsPoint *pts, int n, double t) {
  double best = -INFINITY;
  for (int i = 0; i < n; i++)
    if (pts[i].time <= t && pts[i].acc > best) best = pts[i].acc;
  return best;
}

/* Whether every point of b is weakly dominated by some point of a. */
static bool covers(const StatsPoint *a, int na, const StatsPoint *b, int nb) {
  for (int j = 0; j < nb; j++) {
    bool weak = false;
    for (int i = 0; i < na && !weak; i++) weak = stats_weakly_dominates(a[i], b[j]);
    if (!weak) return false;
  }
  return true;
}

/* A dominates B: A covers B and B does not cover A (some point of A is
 * weakly dominated by no point of B); see stats.h. */
StatsDominance stats_frontier_dominance(const StatsPoint *a, int na, const StatsPoint *b, int nb) {
  if (na <= 0 || nb <= 0) return STATS_NEITHER;
  bool ca = covers(a, na, b, nb), cb = covers(b, nb, a, na);
  if (ca && cb) return STATS_EQUAL;
  if (ca) return STATS_A_DOMINATES;
  if (cb) return STATS_B_DOMINATES;
  return STATS_NEITHER;
}
