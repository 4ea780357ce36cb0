/* compare.c — astc compare: trains programs (a recipe and its baseline, or
 * several programs) for several seeds and budgets and compares their test
 * metric against training time: the test accuracy (higher is better) for an
 * accuracy goal, the test loss (lower is better) for a loss goal; without a
 * goal, accuracy when the runs report one, else loss.
 *
 *   1. Each program is compiled once, like astc build, into a work directory;
 *      compilation is timed and reported apart from training.
 *   2. Each (program, seed, budget) runs the executable as a child process,
 *      one at a time, with --seed S --budget F --metrics FILE --quiet
 *      --threads T. The budget F scales the training length and progress t
 *      with it, so every schedule, phase and speedup rule completes within
 *      the scaled run (Composer's scale_schedule_ratio). Runs are ordered by
 *      seed, then budget; within each (seed, budget) every program runs once,
 *      in an order that reverses from one (seed, budget) to the next
 *      (A B, B A, A B, ...), so a drift in machine load hits all alike.
 *   3. From the metrics files: final accuracy and test loss, training time
 *      (the driver's train_seconds: everything but evaluation, including the
 *      overheads of a technique such as building a frozen prefix's cache),
 *      evaluation time, and time to target (stats.h: the first evaluation
 *      reaching the target, or --interpolate).
 *   4. Per program and budget: the final metric's mean and sample std,
 *      training time median and range, time to target median and range over
 *      the seeds that reached it ("reached 2/3"; runs that did not are
 *      counted, never dropped). Per program: the Pareto frontier of the
 *      per-budget points (median training time, mean final metric); per pair
 *      of programs: whether one frontier dominates the other, and where each
 *      is ahead, in the metric's direction.
 *      The measured speedup over the first program at budget 1 (else the
 *      largest), beside astc cost's prediction.
 *   5. A table on stdout, a JSON file, and a plot drawn by gnuplot (SVG or PNG).
 *
 * Progress goes to stderr, one line per run. docs/compare.md explains the
 * report. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "astrt_kernels.h"
#include "cli.h"
#include "codegen.h"
#include "costmodel.h"
#include "diag.h"
#include "driver.h"
#include "speedup.h"
#include "stats.h"

extern char **environ;

#define MAX_PROGRAMS 8
#define MAX_SEEDS 100
#define MAX_BUDGETS 16
#define DEFAULT_BUDGETS "0.25,0.5,1"
#define DEFAULT_SEEDS 3

typedef struct Eval {
  int64_t epoch, step, samples;
  double train_loss, test_loss, acc, seconds;
} Eval;

typedef struct Run {
  int prog, budget_index;
  uint64_t seed;
  double budget;
  bool ok;
  char *error;                 /* why it failed (ok false) */
  double final_acc, best_acc;  /* NAN when the run reports no accuracy */
  double final_loss, best_loss;    /* test loss: the last evaluation's, the lowest */
  double train_s, eval_s, wall_s, ttt, peak_rss_mb;
  VEC(Eval) evals;
} Run;

/* The metric compared: the goal's (GOAL_ACCURACY, GOAL_LOSS). */
typedef enum Metric { METRIC_ACCURACY, METRIC_LOSS } Metric;

typedef struct Program {
  char *name;
  const char *file;
  bool baseline;               /* the file compiled without its speedup block */
  char *exe;
  double compile_s;            /* front end, passes, LLVM and the link */
  double predicted_s;          /* astc cost's predicted training time; NAN if unknown */
  IrGoal goal;                 /* the program's own target: its metric (GOAL_NONE: none) ... */
  double target;               /* ... and value */
  bool computes_accuracy;      /* its evaluation counts correct predictions */
  char *model;
} Program;

/* one program at one budget, over the seeds */
typedef struct Summary {
  int runs, failed, reached;
  double acc_mean, acc_std, acc_min, acc_max;    /* over the runs that report an accuracy */
  double loss_mean, loss_std, loss_min, loss_max;
  double train_median, train_min, train_max, eval_median;
  double ttt_median, ttt_min, ttt_max;   /* over the runs that reached the target */
} Summary;

typedef struct Frontier {
  StatsPoint pts[MAX_BUDGETS];   /* per budget with a successful run */
  int budget_of[MAX_BUDGETS];    /* pts[i] is budget budget_of[i] */
  int npts;
  int on[MAX_BUDGETS];           /* indices into pts, along the frontier */
  int non;
} Frontier;

typedef struct Compare {
  CliArgs *a;
  Program progs[MAX_PROGRAMS];
  int nprogs;
  uint64_t seeds[MAX_SEEDS];
  int nseeds;
  double budgets[MAX_BUDGETS];
  int nbudgets;
  int threads;
  Metric metric;               /* what is compared (accuracy, loss) ... */
  char metric_from[200];       /* ... and why */
  bool metric_fixed;           /* by a program's goal; else by what the first run reports */
  bool has_target;
  double target;               /* the metric's target */
  const char *target_arg;      /* --target as given */
  char target_from[160];       /* "--target", "the program's target" */
  StatsTttMethod method;
  const char *data_dir;
  char *json_path, *plot_path;
  bool keep;
  char *dir;                   /* the work directory */
  StrVec made;                 /* files made in it, to remove */
  Run *runs;
  int nruns, done;
  Summary sum[MAX_PROGRAMS][MAX_BUDGETS];
  Frontier front[MAX_PROGRAMS];
  Machine machine;
  double load0[3], load1[3];
  double t_start, t_total;
  char started[32];
  bool plot_written;
  char *plot_note;             /* why there is no plot */
  char *metric_note;           /* the runs decided the metric: said after the progress line */
} Compare;

/* Seconds with three significant digits or so: 0.012, 3.46, 14.1, 213. The
 * struct (C11 temporary lifetime) lets several appear in one printf. */
typedef struct Secs {
  char s[32];
} Secs;

static Secs secs(double v) {
  Secs r;
  if (!isfinite(v)) snprintf(r.s, sizeof r.s, "?");
  else snprintf(r.s, sizeof r.s, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : v >= 0.01 ? "%.3f" : "%.2g", v);
  return r;
}

/* ---- the metric ------------------------------------------------------------------------- */

static StatsDirection dir_of(const Compare *c) {
  return c->metric == METRIC_LOSS ? STATS_LOWER_BETTER : STATS_HIGHER_BETTER;
}

static bool is_loss(const Compare *c) { return c->metric == METRIC_LOSS; }

/* "test accuracy", "test loss" */
static const char *metric_name(const Compare *c) { return is_loss(c) ? "test loss" : "test accuracy"; }

/* the JSON key of the metric in frontier points and summaries */
static const char *metric_key(const Compare *c) { return is_loss(c) ? "loss" : "accuracy"; }

/* what a run or an evaluation scored in the metric */
static double run_value(const Compare *c, const Run *r) { return is_loss(c) ? r->final_loss : r->final_acc; }
static double eval_value(const Compare *c, const Eval *e) { return is_loss(c) ? e->test_loss : e->acc; }

/* Decimals for a loss: four significant digits (0.1948, 2.345, 23.45, 234.5). */
static int loss_decimals(double v) {
  if (!isfinite(v) || v == 0) return 4;
  int d = 3 - (int)floor(log10(fabs(v)));
  return d < 0 ? 0 : d > 8 ? 8 : d;
}

/* A value of the metric: "88.12%" or "0.1948"; with the spread (a std over
 * seeds), "88.12% ± 0.09" (points) or "0.1948 ± 0.0031" (the mean's decimals). */
typedef struct Val {
  char s[64];
} Val;

static Val value_text(const Compare *c, double v) {
  Val r;
  if (!isfinite(v)) snprintf(r.s, sizeof r.s, "?");
  else if (is_loss(c)) snprintf(r.s, sizeof r.s, "%.*f", loss_decimals(v), v);
  else snprintf(r.s, sizeof r.s, "%.2f%%", 100 * v);
  return r;
}

static Val spread_text(const Compare *c, double mean, double std) {
  Val r;
  if (is_loss(c)) snprintf(r.s, sizeof r.s, "%.*f ± %.*f", loss_decimals(mean), mean, loss_decimals(mean), std);
  else snprintf(r.s, sizeof r.s, "%.2f%% ± %.2f", 100 * mean, 100 * std);
  return r;
}


/* ---- interruption ------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted, child_pid;

static void on_signal(int sig) {
  interrupted = sig;
  if (child_pid > 0) kill((pid_t)child_pid, sig);
}

static void stop_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
}

static void catch_signals(struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction *old) {
  const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
}

/* ---- options -------------------------------------------------------------------------- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "astc compare: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'astc compare --help')\n");
  va_end(ap);
  return 2;
}

static bool parse_u64(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

/* --seeds N (seeds 1..N) or --seeds S1,S2,... */
static int parse_seeds(Compare *c, const char *v) {
  if (!v) {
    c->nseeds = DEFAULT_SEEDS;
    for (int i = 0; i < c->nseeds; i++) c->seeds[i] = (uint64_t)i + 1;
    return 0;
  }
  if (!strchr(v, ',')) {
    uint64_t n;
    if (!parse_u64(v, &n) || n < 1 || n > MAX_SEEDS)
      return usage_error("--seeds takes a number of seeds from 1 to %d (seeds 1..N) or a list "
                         "such as 1,5,9; got '%s'", MAX_SEEDS, v);
    c->nseeds = (int)n;
    for (int i = 0; i < c->nseeds; i++) c->seeds[i] = (uint64_t)i + 1;
    return 0;
  }
  char *copy = xstrdup(v), *save = NULL;
  int rc = 0;
  c->nseeds = 0;
  for (char *w = strtok_r(copy, ",", &save); w && !rc; w = strtok_r(NULL, ",", &save)) {
    uint64_t s = 0;
    if (!parse_u64(w, &s)) rc = usage_error("--seeds: '%s' is not a seed (an integer >= 0)", w);
    else if (c->nseeds == MAX_SEEDS) rc = usage_error("--seeds: at most %d seeds", MAX_SEEDS);
    else
      for (int i = 0; i < c->nseeds && !rc; i++)
        if (c->seeds[i] == s) rc = usage_error("--seeds: seed %s is given twice", w);
    if (!rc) c->seeds[c->nseeds++] = s;
  }
  free(copy);
  if (!rc && c->nseeds == 0) rc = usage_error("--seeds: no seeds in '%s'", v);
  return rc;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* --budgets F1,F2,...: sorted, duplicates dropped */
static int parse_budgets(Compare *c, const char *v) {
  if (!v) v = DEFAULT_BUDGETS;
  char *copy = xstrdup(v), *save = NULL;
  int rc = 0;
  c->nbudgets = 0;
  for (char *w = strtok_r(copy, ",", &save); w && !rc; w = strtok_r(NULL, ",", &save)) {
    char *end;
    errno = 0;
    double f = strtod(w, &end);
    if (*end || errno || !isfinite(f) || f <= 0 || f > 1e6)
      rc = usage_error("--budgets: '%s' is not a budget (a number > 0, a fraction of the program's "
                       "budget such as 0.5)", w);
    else if (c->nbudgets == MAX_BUDGETS)
      rc = usage_error("--budgets: at most %d budgets", MAX_BUDGETS);
    else
      c->budgets[c->nbudgets++] = f;
  }
  free(copy);
  if (!rc && c->nbudgets == 0) rc = usage_error("--budgets: no budgets in '%s'", v);
  if (rc) return rc;
  qsort(c->budgets, (size_t)c->nbudgets, sizeof(double), cmp_double);
  int n = 0;
  for (int i = 0; i < c->nbudgets; i++)
    if (n == 0 || c->budgets[i] != c->budgets[n - 1]) c->budgets[n++] = c->budgets[i];
  c->nbudgets = n;
  return 0;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* the file name without directory and .train */
static char *stem(const char *path) {
  const char *b = base_name(path);
  size_t n = strlen(b);
  if (n > 6 && !strcmp(b + n - 6, ".train")) n -= 6;
  return xprintf("%.*s", (int)n, b);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static int parse_options(Compare *c) {
  const Command *cmd = &cmd_compare;
  CliArgs *a = c->a;
  if (a->compile.no_speedup)
    return usage_error("--no-speedup does not apply: compare runs a file's baseline itself (give one "
                       "file with a speedup block)");
  if (a->nrest > 0) return usage_error("compare takes no program options after '--'; use --threads, --data");
  if (a->nfiles > MAX_PROGRAMS) return usage_error("at most %d programs at once", MAX_PROGRAMS);
  int rc = parse_seeds(c, cli_opt(a, cmd, "--seeds"));
  if (!rc) rc = parse_budgets(c, cli_opt(a, cmd, "--budgets"));
  if (rc) return rc;
  const char *t = cli_opt(a, cmd, "--target");
  if (t) {  /* checked against the metric once the programs' goals are known (choose_metric) */
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (!*t || *end || errno || !isfinite(v))
      return usage_error("--target takes a number: a test accuracy in (0, 1] such as 0.88, or a test loss "
                         "for a loss goal such as 0.5; got '%s'", t);
    c->target_arg = t;
    c->target = v;
    c->has_target = true;
    snprintf(c->target_from, sizeof c->target_from, "--target");
  }
  const char *th = cli_opt(a, cmd, "--threads");
  c->threads = 1;
  if (th) {
    uint64_t n;
    if (!parse_u64(th, &n) || n > 4096)
      return usage_error("--threads takes a number of BLAS threads per run, 0 (all CPUs) to 4096; got '%s'", th);
    c->threads = (int)n;
  }
  c->method = cli_opt(a, cmd, "--interpolate") ? STATS_TTT_INTERPOLATE : STATS_TTT_EVAL;
  c->data_dir = cli_opt(a, cmd, "--data");
  c->keep = cli_opt(a, cmd, "--keep") != NULL;
  char *s = stem(a->files[0]);
  const char *j = cli_opt(a, cmd, "--json"), *p = cli_opt(a, cmd, "--plot");
  c->json_path = j ? xstrdup(j) : xprintf("%s-compare.json", s);
  c->plot_path = p ? xstrdup(p) : xprintf("%s-compare.svg", s);
  free(s);
  if (!*c->json_path) return usage_error("--json needs a file name");
  if (!ends_with(c->plot_path, ".svg") && !ends_with(c->plot_path, ".png"))
    return usage_error("--plot must name an .svg or .png file, not '%s'", c->plot_path);
  return 0;
}

/* ---- building --------------------------------------------------------------------------- */

static bool has_speedup(const IrProgram *p) { return p->speedup && p->speedup->n > 0; }

/* A program's goal and target, and whether its evaluation computes an
 * accuracy (counts correct predictions: class and sequence targets). */
static void set_goal(Program *pg, const IrProgram *p) {
  pg->goal = p->goal;
  pg->target = p->goal == GOAL_NONE ? NAN : p->target;
  pg->computes_accuracy = false;
  for (int i = 0; i < p->eval.len; i++)
    if (p->eval.nodes[i].op == IR_OUTPUT && p->eval.nodes[i].ia[0] == OUT_CORRECT) pg->computes_accuracy = true;
}

/* Compiles program k (the file, or its baseline) to an executable in the work
 * directory; fills in its cost prediction and target. */
static bool build_program(Compare *c, int k) {
  Program *pg = &c->progs[k];
  CompileOptions opt = c->a->compile;
  opt.no_speedup = pg->baseline;
  double t0 = now_seconds();
  Compilation comp;
  diag_reset();
  if (!compile_file(&comp, pg->file, &opt)) {
    compilation_free(&comp);
    fprintf(stderr, "astc compare: %s does not compile (errors above)\n", pg->file);
    return false;
  }
  const IrProgram *p = comp.prog;
  set_goal(pg, p);
  pg->model = xstrdup(p->model_name);
  /* each product on its GEMM backend (machine.c), priced and built so */
  CgOptions o = c->a->codegen;
  GemmPlan plan;
  machine_gemm_plan(p, &o, false, false, false, &plan);
  ProgramCost pc;
  /* the data's size as a run reads it (text data's is not known at compile time) */
  cost_program_plan(p, &c->machine, &o, &plan, cost_train_examples(p, c->data_dir, NULL, 0), &pc);
  pg->predicted_s = pc.total_samples > 0 ? pc.total_seconds : NAN;
  cost_free(&pc);
  pg->exe = xprintf("%s/%s", c->dir, pg->name);
  o.with_main = true;
  bool ok = cg_build_executable(p, &o, pg->exe);
  machine_gemm_plan_free(&plan);
  compilation_free(&comp);
  pg->compile_s = now_seconds() - t0;
  if (ok) vec_push(&c->made, xstrdup(pg->exe));
  else fprintf(stderr, "astc compare: building %s failed\n", pg->name);
  return ok;
}

/* The programs: one file with a speedup block gives its baseline and the
 * recipe; several files are compared as written. Returns 0, or the exit
 * status. */
static int set_programs(Compare *c) {
  CliArgs *a = c->a;
  if (a->nfiles == 1) {
    Compilation comp;
    diag_reset();
    bool ok = compile_file(&comp, a->file, &a->compile);
    bool speedup = ok && has_speedup(comp.prog);
    Program goal = {0};
    if (ok) set_goal(&goal, comp.prog);
    compilation_free(&comp);
    if (!ok) {
      fprintf(stderr, "astc compare: %s does not compile (errors above)\n", a->file);
      return 1;
    }
    if (!speedup) {
      fprintf(stderr, "astc compare: %s has no speedup block, so there is nothing to compare it with; add a "
                      "speedup block (its baseline is the file without it) or give a second program\n", a->file);
      return 2;
    }
    c->nprogs = 2;
    c->progs[0] = (Program){.name = xstrdup("baseline"), .file = a->file, .baseline = true};
    c->progs[1] = (Program){.name = xstrdup("recipe"), .file = a->file};
    for (int k = 0; k < 2; k++)  /* known before building: the speedup block changes no goal */
      c->progs[k].goal = goal.goal, c->progs[k].target = goal.target,
      c->progs[k].computes_accuracy = goal.computes_accuracy;
    return 0;
  }
  c->nprogs = a->nfiles;
  for (int i = 0; i < a->nfiles; i++) {
    char *name = stem(a->files[i]);
    int same = 0;
    for (int k = 0; k < i; k++) {
      char *other = stem(a->files[k]);
      same += !strcmp(other, name);
      free(other);
    }
    if (same) {
      char *n2 = xprintf("%s#%d", name, same + 1);
      free(name);
      name = n2;
    }
    c->progs[i] = (Program){.name = name, .file = a->files[i]};
  }
  return 0;
}

/* ---- running ------------------------------------------------------------------------------ */

/* The number after "key": in a JSON line; NAN for null or a missing key. */
static double json_number(const char *line, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *at = strstr(line, pat);
  if (!at) return NAN;
  at += strlen(pat);
  if (!strncmp(at, "null", 4)) return NAN;
  char *end;
  double v = strtod(at, &end);
  return end == at ? NAN : v;
}

/* Reads a run's metrics file; false (with r->error set) if it is unusable.
 * The test accuracy may be absent (data without classes): NAN. The final
 * test loss is the last evaluation's (the driver evaluates after the last
 * step), the best the lowest. */
static bool read_metrics(Run *r, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    r->error = xprintf("no metrics file %s: %s", path, strerror(errno));
    return false;
  }
  char *line = NULL;
  size_t cap = 0;
  bool end = false;
  while (getline(&line, &cap, f) > 0) {
    if (strstr(line, "\"event\":\"eval\"")) {
      Eval e = {(int64_t)json_number(line, "epoch"), (int64_t)json_number(line, "step"),
                (int64_t)json_number(line, "samples"), json_number(line, "train_loss"),
                json_number(line, "test_loss"), json_number(line, "test_accuracy"),
                json_number(line, "train_seconds")};
      vec_push(&r->evals, e);
    } else if (strstr(line, "\"event\":\"end\"")) {
      end = true;
      r->final_acc = json_number(line, "final_test_accuracy");
      r->best_acc = json_number(line, "best_test_accuracy");
      r->train_s = json_number(line, "train_seconds");
      r->eval_s = json_number(line, "eval_seconds");
    }
  }
  free(line);
  fclose(f);
  if (!end || r->evals.len == 0 || !isfinite(r->train_s)) {
    r->error = xprintf("the metrics file %s is incomplete (no evaluation or no end line)", path);
    return false;
  }
  r->final_loss = r->evals.data[r->evals.len - 1].test_loss;
  r->best_loss = NAN;
  for (int i = 0; i < r->evals.len; i++)
    if (r->evals.data[i].test_loss < r->best_loss || isnan(r->best_loss)) r->best_loss = r->evals.data[i].test_loss;
  return true;
}

static bool reports_accuracy(const Run *r) {
  if (isfinite(r->final_acc)) return true;
  for (int i = 0; i < r->evals.len; i++)
    if (isfinite(r->evals.data[i].acc)) return true;
  return false;
}

/* Without a goal the metric is what the programs report: accuracy when the
 * first successful run reports one, else loss (choose_metric's guess from
 * the first program's evaluation, checked here once). */
static void confirm_metric(Compare *c, const Run *r) {
  if (c->metric_fixed) return;
  c->metric_fixed = true;
  Metric m = reports_accuracy(r) ? METRIC_ACCURACY : METRIC_LOSS;
  if (m == c->metric) return;
  c->metric = m;
  snprintf(c->metric_from, sizeof c->metric_from, "no program has a target, and the runs report %s",
           m == METRIC_ACCURACY ? "an accuracy" : "no accuracy");
  bool drop = c->has_target && m == METRIC_ACCURACY && !(c->target > 0 && c->target <= 1);
  c->metric_note = xprintf("astc compare: note: the runs report %s, so the programs are compared by %s (%s is "
                           "better)%s%s%s\n", m == METRIC_ACCURACY ? "a test accuracy" : "no test accuracy",
                           metric_name(c), is_loss(c) ? "lower" : "higher",
                           drop ? "; --target " : "", drop ? c->target_arg : "",
                           drop ? " is not a test accuracy in (0, 1], so there is no time to target" : "");
  if (drop) c->has_target = false;
}

/* The last non-empty line of a log file (the program's error message). */
static char *last_line(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return xstrdup("(no output)");
  char *line = NULL, *last = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (n > 0) {
      free(last);
      last = xstrdup(line);
    }
  }
  free(line);
  fclose(f);
  return last ? last : xstrdup("(no output)");
}

/* Runs one training run as a child process and reads its results. */
static void run_one(Compare *c, Run *r) {
  const Program *pg = &c->progs[r->prog];
  char *metrics = xprintf("%s/run-%s-s%llu-b%g.jsonl", c->dir, pg->name, (unsigned long long)r->seed, r->budget);
  char *log = xprintf("%s/run-%s-s%llu-b%g.log", c->dir, pg->name, (unsigned long long)r->seed, r->budget);
  vec_push(&c->made, metrics);
  vec_push(&c->made, log);
  char seed[32], budget[32], threads[16];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
  snprintf(budget, sizeof budget, "%.17g", r->budget);
  snprintf(threads, sizeof threads, "%d", c->threads);
  char *argv[16];
  int n = 0;
  argv[n++] = pg->exe;
  argv[n++] = "--seed", argv[n++] = seed;
  argv[n++] = "--budget", argv[n++] = budget;
  argv[n++] = "--metrics", argv[n++] = metrics;
  argv[n++] = "--threads", argv[n++] = threads;
  argv[n++] = "--quiet";
  if (c->data_dir) argv[n++] = "--data", argv[n++] = (char *)c->data_dir;
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  /* a signal between the spawn and child_pid's assignment would not reach
   * the child: block them until then (the child starts unblocked) */
  sigset_t stop, mask;
  stop_signals(&stop);
  sigprocmask(SIG_BLOCK, &stop, &mask);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  double t0 = now_seconds();
  pid_t pid;
  int err = interrupted ? ECANCELED : posix_spawn(&pid, pg->exe, &fa, &attr, argv, environ);
  if (!err) child_pid = pid;
  sigprocmask(SIG_SETMASK, &mask, NULL);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (err) {
    r->error = xprintf("cannot run %s: %s", pg->exe, strerror(err));
    return;
  }
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  child_pid = 0;
  r->wall_s = now_seconds() - t0;
  r->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
  if (interrupted) return;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *why = last_line(log);
    if (WIFSIGNALED(status)) r->error = xprintf("killed by signal %d (%s); %s", WTERMSIG(status),
                                                strsignal(WTERMSIG(status)), why);
    else r->error = xprintf("exit status %d: %s", WEXITSTATUS(status), why);
    free(why);
    return;
  }
  if (!read_metrics(r, metrics)) return;
  confirm_metric(c, r);
  if (!isfinite(run_value(c, r))) {
    r->error = xprintf("the metrics file %s has no final %s%s", metrics, metric_name(c),
                       is_loss(c) ? "" : " (the program reports no accuracy: compare it by loss, with a target "
                                         "such as 'target = loss <= 0.5')");
    return;
  }
  double *secs = xmalloc(sizeof(double) * (size_t)r->evals.len), *val = xmalloc(sizeof(double) * (size_t)r->evals.len);
  for (int i = 0; i < r->evals.len; i++) secs[i] = r->evals.data[i].seconds, val[i] = eval_value(c, &r->evals.data[i]);
  r->ttt = c->has_target ? stats_time_to_target(secs, val, r->evals.len, c->target, c->method, dir_of(c)) : -1;
  free(secs);
  free(val);
  r->ok = true;
}

static void fmt_duration(double s, char *buf, size_t cap) {
  if (s < 60) snprintf(buf, cap, "%.0f s", s);
  else snprintf(buf, cap, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
}

/* Seconds left: each remaining run's budget times its program's mean wall time
 * per unit of budget so far. */
static double time_left(const Compare *c, int done) {
  double per[MAX_PROGRAMS] = {0}, units[MAX_PROGRAMS] = {0}, left = 0;
  for (int i = 0; i < done; i++)
    per[c->runs[i].prog] += c->runs[i].wall_s, units[c->runs[i].prog] += c->runs[i].budget;
  for (int i = done; i < c->nruns; i++) {
    int p = c->runs[i].prog;
    if (units[p] <= 0) return -1;
    left += c->runs[i].budget * per[p] / units[p];
  }
  return left;
}

static void say_metric_note(Compare *c) {
  if (c->metric_note) fputs(c->metric_note, stderr);
  free(c->metric_note);
  c->metric_note = NULL;
}

static bool run_all(Compare *c) {
  int w = 0;
  for (int k = 0; k < c->nprogs; k++) w = MAX(w, (int)strlen(c->progs[k].name));
  for (c->done = 0; c->done < c->nruns && !interrupted; c->done++) {
    Run *r = &c->runs[c->done];
    fprintf(stderr, "[%d/%d] %-*s seed %llu budget %g: ", c->done + 1, c->nruns, w, c->progs[r->prog].name,
            (unsigned long long)r->seed, r->budget);
    fflush(stderr);
    run_one(c, r);
    if (interrupted) break;
    if (!r->ok) {
      fprintf(stderr, "FAILED (%s)\n", r->error);
      say_metric_note(c);
      continue;
    }
    fprintf(stderr, "%s%s in %s s", is_loss(c) ? "test loss " : "", value_text(c, run_value(c, r)).s,
            secs(r->train_s).s);
    if (isfinite(r->eval_s)) fprintf(stderr, " (+%s s eval)", secs(r->eval_s).s);
    if (c->has_target) {
      if (r->ttt >= 0) fprintf(stderr, ", target at %s s", secs(r->ttt).s);
      else fprintf(stderr, ", target not reached");
    }
    double left = time_left(c, c->done + 1);
    if (c->done + 1 < c->nruns && left >= 0) {
      char d[32];
      fmt_duration(left, d, sizeof d);
      fprintf(stderr, "; about %s left", d);
    }
    fputc('\n', stderr);
    say_metric_note(c);
  }
  if (interrupted) fputc('\n', stderr);
  return !interrupted;
}

/* ---- statistics ------------------------------------------------------------------------------ */

/* the metric's mean and std over seeds */
static double sum_mean(const Compare *c, const Summary *s) { return is_loss(c) ? s->loss_mean : s->acc_mean; }
static double sum_std(const Compare *c, const Summary *s) { return is_loss(c) ? s->loss_std : s->acc_std; }

static void summarize(Compare *c) {
  int cap = c->nseeds;
  double *acc = xmalloc(sizeof(double) * (size_t)cap), *train = xmalloc(sizeof(double) * (size_t)cap);
  double *eval = xmalloc(sizeof(double) * (size_t)cap), *ttt = xmalloc(sizeof(double) * (size_t)cap);
  double *loss = xmalloc(sizeof(double) * (size_t)cap);
  for (int p = 0; p < c->nprogs; p++)
    for (int b = 0; b < c->nbudgets; b++) {
      Summary *s = &c->sum[p][b];
      memset(s, 0, sizeof *s);
      int n = 0, ne = 0, na = 0, nl = 0;
      for (int i = 0; i < c->nruns; i++) {
        const Run *r = &c->runs[i];
        if (r->prog != p || r->budget_index != b) continue;
        s->runs++;
        if (!r->ok) {
          s->failed++;
          continue;
        }
        train[n++] = r->train_s;
        if (isfinite(r->final_acc)) acc[na++] = r->final_acc;
        if (isfinite(r->final_loss)) loss[nl++] = r->final_loss;
        if (isfinite(r->eval_s)) eval[ne++] = r->eval_s;
        if (r->ttt >= 0) ttt[s->reached++] = r->ttt;
      }
      s->acc_mean = stats_mean(acc, na), s->acc_std = stats_std(acc, na);
      s->acc_min = stats_min(acc, na), s->acc_max = stats_max(acc, na);
      s->loss_mean = stats_mean(loss, nl), s->loss_std = stats_std(loss, nl);
      s->loss_min = stats_min(loss, nl), s->loss_max = stats_max(loss, nl);
      s->train_median = stats_median(train, n), s->train_min = stats_min(train, n);
      s->train_max = stats_max(train, n), s->eval_median = stats_median(eval, ne);
      s->ttt_median = stats_median(ttt, s->reached), s->ttt_min = stats_min(ttt, s->reached);
      s->ttt_max = stats_max(ttt, s->reached);
    }
  free(acc);
  free(train);
  free(eval);
  free(ttt);
  free(loss);
  for (int p = 0; p < c->nprogs; p++) {
    Frontier *f = &c->front[p];
    f->npts = 0;
    for (int b = 0; b < c->nbudgets; b++)
      if (c->sum[p][b].runs > c->sum[p][b].failed) {
        f->budget_of[f->npts] = b;
        f->pts[f->npts++] = (StatsPoint){c->sum[p][b].train_median, sum_mean(c, &c->sum[p][b])};
      }
    f->non = stats_pareto(f->pts, f->npts, dir_of(c), f->on);
  }
}

static void frontier_points(const Frontier *f, StatsPoint *out) {
  for (int i = 0; i < f->non; i++) out[i] = f->pts[f->on[i]];
}

static StatsDominance dominance(const Compare *c, int a, int b) {
  StatsPoint pa[MAX_BUDGETS], pb[MAX_BUDGETS];
  frontier_points(&c->front[a], pa);
  frontier_points(&c->front[b], pb);
  return stats_frontier_dominance(pa, c->front[a].non, pb, c->front[b].non, dir_of(c));
}

/* The time intervals [from, to) where frontier a's best value within t is
 * better than b's (to = INFINITY: from then on); returns their number. */
static int ahead_intervals(const Compare *c, int a, int b, double (*out)[2]) {
  StatsPoint pa[MAX_BUDGETS], pb[MAX_BUDGETS];
  frontier_points(&c->front[a], pa);
  frontier_points(&c->front[b], pb);
  return stats_ahead_intervals(pa, c->front[a].non, pb, c->front[b].non, dir_of(c), out);
}

static void print_intervals(double (*iv)[2], int n) {
  for (int i = 0; i < n; i++) {
    printf("%s", i == 0 ? "" : i + 1 < n ? ", " : " and ");
    if (isinf(iv[i][1])) printf("from %s s on", secs(iv[i][0]).s);
    else printf("from %s s to %s s", secs(iv[i][0]).s, secs(iv[i][1]).s);
  }
}

static const char *dominance_word(StatsDominance d) {
  switch (d) {
  case STATS_A_DOMINATES: return "a_dominates";
  case STATS_B_DOMINATES: return "b_dominates";
  case STATS_EQUAL: return "equal";
  default: return "neither";
  }
}

/* ---- the terminal report ------------------------------------------------------------------------- */

/* Prints s padded to `width` columns (UTF-8 aware). */
static void put_cell(const char *s, int width) {
  int cols = 0;
  for (const char *p = s; *p; p++) cols += ((unsigned char)*p & 0xC0) != 0x80;
  fputs(s, stdout);
  for (int i = cols; i < width; i++) putchar(' ');
}

static void ttt_text(const Compare *c, const Summary *s, char *buf, size_t cap) {
  if (!c->has_target) snprintf(buf, cap, "no target");
  else if (s->reached == 0) snprintf(buf, cap, "not reached (0/%d)", s->runs);
  else if (s->reached == s->runs)
    snprintf(buf, cap, "%s s (%s–%s), %d/%d", secs(s->ttt_median).s, secs(s->ttt_min).s, secs(s->ttt_max).s,
             s->reached, s->runs);
  else
    snprintf(buf, cap, "reached %d/%d, median of those %s s (%s–%s)", s->reached, s->runs, secs(s->ttt_median).s,
             secs(s->ttt_min).s, secs(s->ttt_max).s);
}

static const char *method_text(const Compare *c) {
  if (c->method == STATS_TTT_INTERPOLATE) return "interpolated linearly between the evaluations around the crossing";
  return is_loss(c) ? "the training time of the first evaluation (once per epoch) at or below it"
                    : "the training time of the first evaluation (once per epoch) at or above it";
}

static void print_table(const Compare *c) {
  int w = 7;
  for (int k = 0; k < c->nprogs; k++) w = MAX(w, (int)strlen(c->progs[k].name));
  w += 2;
  printf("\n");
  put_cell("program", w), put_cell("budget", 8), put_cell(is_loss(c) ? "final test loss" : "final accuracy", 18);
  put_cell("train time (median, min–max)", 30);
  put_cell("eval", 10), printf("time to target (median, min–max)\n");
  for (int p = 0; p < c->nprogs; p++)
    for (int b = 0; b < c->nbudgets; b++) {
      const Summary *s = &c->sum[p][b];
      char cell[160];
      put_cell(c->progs[p].name, w);
      snprintf(cell, sizeof cell, "%g", c->budgets[b]);
      put_cell(cell, 8);
      if (s->failed == s->runs) {
        printf("every run failed (%d of %d)\n", s->failed, s->runs);
        continue;
      }
      put_cell(spread_text(c, sum_mean(c, s), sum_std(c, s)).s, 18);
      snprintf(cell, sizeof cell, "%s s (%s–%s)", secs(s->train_median).s, secs(s->train_min).s,
               secs(s->train_max).s);
      put_cell(cell, 30);
      snprintf(cell, sizeof cell, "%s s", secs(s->eval_median).s);
      put_cell(isfinite(s->eval_median) ? cell : "?", 10);
      ttt_text(c, s, cell, sizeof cell);
      printf("%s", cell);
      if (s->failed) printf("  [%d of %d runs FAILED]", s->failed, s->runs);
      printf("\n");
    }
  if (is_loss(c))
    printf("(final test loss: the last evaluation's, mean ± sample std over seeds, lower is better; train time "
           "excludes evaluation; eval: median evaluation time of a run)\n");
  else
    printf("(final accuracy: mean ± sample std over seeds, in points; train time excludes evaluation; eval: "
           "median evaluation time of a run)\n");
}

static void print_frontiers(const Compare *c) {
  printf("\nPareto frontier of each program (per budget: median training time, mean final %s%s):\n",
         is_loss(c) ? "test loss" : "accuracy", is_loss(c) ? "; lower is better" : "");
  int w = 0;
  for (int k = 0; k < c->nprogs; k++) w = MAX(w, (int)strlen(c->progs[k].name));
  for (int p = 0; p < c->nprogs; p++) {
    const Frontier *f = &c->front[p];
    printf("  %-*s ", w, c->progs[p].name);
    if (!f->non) printf("(no successful run)");
    for (int i = 0; i < f->non; i++) {
      StatsPoint q = f->pts[f->on[i]];
      printf("%s%s s %s (budget %g)", i ? " → " : "", secs(q.time).s, value_text(c, q.value).s,
             c->budgets[f->budget_of[f->on[i]]]);
    }
    if (f->non < f->npts) printf("  [%d budget point%s dominated]", f->npts - f->non, f->npts - f->non == 1 ? "" : "s");
    printf("\n");
  }
  for (int a = 0; a < c->nprogs; a++)
    for (int b = a + 1; b < c->nprogs; b++) {
      const char *na = c->progs[a].name, *nb = c->progs[b].name;
      if (!c->front[a].non || !c->front[b].non) {
        printf("  %s and %s cannot be compared: %s has no successful run\n", na, nb, c->front[a].non ? nb : na);
        continue;
      }
      switch (dominance(c, a, b)) {
      case STATS_A_DOMINATES:
      case STATS_B_DOMINATES: {
        bool ad = dominance(c, a, b) == STATS_A_DOMINATES;
        if (is_loss(c))
          printf("  %s's frontier dominates %s's (lower is better): within any training time it reaches a test loss "
                 "at least as low, and lower within some\n", ad ? na : nb, ad ? nb : na);
        else
          printf("  %s's frontier dominates %s's: within any training time it reaches at least the same accuracy, "
                 "and more within some\n", ad ? na : nb, ad ? nb : na);
        break;
      }
      case STATS_EQUAL: printf("  the frontiers of %s and %s are equal\n", na, nb); break;
      default: {
        double ia[2 * MAX_BUDGETS][2], ib[2 * MAX_BUDGETS][2];
        int ka = ahead_intervals(c, a, b, ia), kb = ahead_intervals(c, b, a, ib);
        printf("  neither frontier dominates: they cross%s. Within a training time t, %s reaches the %s ",
               is_loss(c) ? " (lower is better)" : "", na, is_loss(c) ? "lower test loss" : "higher accuracy");
        print_intervals(ia, ka);
        printf("; %s ", nb);
        print_intervals(ib, kb);
        printf("\n");
      }
      }
    }
}

/* the largest budget: where the programs run as written (budget 1 if given) */
static int speedup_budget(const Compare *c) {
  for (int b = 0; b < c->nbudgets; b++)
    if (c->budgets[b] == 1) return b;
  return c->nbudgets - 1;
}

static void print_speedups(const Compare *c) {
  int b = speedup_budget(c);
  const Summary *ref = &c->sum[0][b];
  int w = 7;
  for (int k = 0; k < c->nprogs; k++) w = MAX(w, (int)strlen(c->progs[k].name));
  w += 2;
  printf("\nspeedup over %s at budget %g (median training time; astc cost's prediction of the whole budget):\n",
         c->progs[0].name, c->budgets[b]);
  printf("  "), put_cell("program", w), put_cell("train time", 12), put_cell("measured", 10);
  put_cell("predicted", 22), printf("time to target\n");
  for (int p = 0; p < c->nprogs; p++) {
    const Summary *s = &c->sum[p][b];
    char cell[96];
    printf("  "), put_cell(c->progs[p].name, w);
    snprintf(cell, sizeof cell, "%s s", secs(s->train_median).s);
    put_cell(isfinite(s->train_median) ? cell : "failed", 12);
    snprintf(cell, sizeof cell, "%.2fx", ref->train_median / s->train_median);
    put_cell(isfinite(ref->train_median / s->train_median) ? cell : "?", 10);
    double pr = c->progs[0].predicted_s / c->progs[p].predicted_s;
    snprintf(cell, sizeof cell, "%.2fx (%s s)", pr, secs(c->progs[p].predicted_s).s);
    put_cell(isfinite(pr) ? cell : "unknown", 22);
    double tt = ref->ttt_median / s->ttt_median;
    if (!c->has_target) printf("no target\n");
    else if (!isfinite(tt)) printf("n/a (target not reached by both)\n");
    else if (s->reached < s->runs || ref->reached < ref->runs)
      printf("%.2fx (medians of the runs that reached it: %d/%d vs %d/%d)\n", tt, s->reached, s->runs, ref->reached,
             ref->runs);
    else printf("%.2fx\n", tt);
  }
}

static void print_report(const Compare *c) {
  printf("astc compare: %d programs (", c->nprogs);
  for (int p = 0; p < c->nprogs; p++)
    printf("%s%s%s", p ? ", " : "", c->progs[p].name, c->progs[p].baseline ? " = without the speedup block" : "");
  printf("), %d seed%s x %d budget%s = %d runs, %d BLAS thread%s each\n", c->nseeds, c->nseeds == 1 ? "" : "s",
         c->nbudgets, c->nbudgets == 1 ? "" : "s", c->nruns, c->threads, c->threads == 1 ? "" : "s");
  printf("compared by: %s, %s is better (%s)\n", metric_name(c), is_loss(c) ? "lower" : "higher", c->metric_from);
  if (c->has_target && is_loss(c))
    printf("target: test loss <= %g (%s); time to target: %s\n", c->target, c->target_from, method_text(c));
  else if (c->has_target)
    printf("target: test accuracy >= %.2f%% (%s); time to target: %s\n", 100 * c->target, c->target_from,
           method_text(c));
  else if (is_loss(c))
    printf("no target loss (give --target LOSS, or target = loss <= LOSS in the program)\n");
  else
    printf("no target accuracy (give --target ACC, or target = accuracy >= ACC in the program)\n");
  print_table(c);
  print_frontiers(c);
  print_speedups(c);
  printf("\ncompilation (not in training time):");
  for (int p = 0; p < c->nprogs; p++) printf("%s %s %.1f s", p ? "," : "", c->progs[p].name, c->progs[p].compile_s);
  printf("\nload average %.2f at the start, %.2f at the end; %.0f s in all\n", c->load0[0], c->load1[0], c->t_total);
}

/* ---- JSON ---------------------------------------------------------------------------------------- */

static void jnum(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, "%.17g", v);
  else fputs("null", f);
}

static void jstr(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", f);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

static void jsummary(FILE *f, const Summary *s) {
  fprintf(f, "\"runs\": %d, \"failed\": %d, \"accuracy_mean\": ", s->runs, s->failed);
  jnum(f, s->acc_mean);
  fprintf(f, ", \"accuracy_std\": "), jnum(f, s->acc_std);
  fprintf(f, ", \"accuracy_min\": "), jnum(f, s->acc_min);
  fprintf(f, ", \"accuracy_max\": "), jnum(f, s->acc_max);
  fprintf(f, ", \"train_seconds_median\": "), jnum(f, s->train_median);
  fprintf(f, ", \"train_seconds_min\": "), jnum(f, s->train_min);
  fprintf(f, ", \"train_seconds_max\": "), jnum(f, s->train_max);
  fprintf(f, ", \"eval_seconds_median\": "), jnum(f, s->eval_median);
  fprintf(f, ",\n     \"loss_mean\": "), jnum(f, s->loss_mean);
  fprintf(f, ", \"loss_std\": "), jnum(f, s->loss_std);
  fprintf(f, ", \"loss_min\": "), jnum(f, s->loss_min);
  fprintf(f, ", \"loss_max\": "), jnum(f, s->loss_max);
  fprintf(f, ",\n     \"time_to_target\": {\"reached\": %d, \"runs\": %d, \"median\": ", s->reached, s->runs);
  jnum(f, s->ttt_median);
  fprintf(f, ", \"min\": "), jnum(f, s->ttt_min);
  fprintf(f, ", \"max\": "), jnum(f, s->ttt_max);
  fprintf(f, "}");
}

static void json_run(FILE *f, const Compare *c, const Run *r) {
  fprintf(f, "    {\"program\": ");
  jstr(f, c->progs[r->prog].name);
  fprintf(f, ", \"seed\": %llu, \"budget\": ", (unsigned long long)r->seed);
  jnum(f, r->budget);
  fprintf(f, ", \"ok\": %s", r->ok ? "true" : "false");
  if (!r->ok) fprintf(f, ", \"error\": "), jstr(f, r->error);
  fprintf(f, ",\n     \"final_accuracy\": "), jnum(f, r->ok ? r->final_acc : NAN);
  fprintf(f, ", \"best_accuracy\": "), jnum(f, r->ok ? r->best_acc : NAN);
  fprintf(f, ", \"final_loss\": "), jnum(f, r->ok ? r->final_loss : NAN);
  fprintf(f, ", \"best_loss\": "), jnum(f, r->ok ? r->best_loss : NAN);
  fprintf(f, ", \"train_seconds\": "), jnum(f, r->ok ? r->train_s : NAN);
  fprintf(f, ", \"eval_seconds\": "), jnum(f, r->ok ? r->eval_s : NAN);
  fprintf(f, ", \"wall_seconds\": "), jnum(f, r->wall_s);
  fprintf(f, ", \"peak_rss_mb\": "), jnum(f, r->peak_rss_mb);
  fprintf(f, ",\n     \"reached_target\": %s, \"time_to_target\": ", r->ok && r->ttt >= 0 ? "true" : "false");
  jnum(f, r->ok && r->ttt >= 0 ? r->ttt : NAN);
  fprintf(f, ",\n     \"evals\": [");
  for (int i = 0; i < r->evals.len; i++) {
    const Eval *e = &r->evals.data[i];
    fprintf(f, "%s{\"epoch\": %lld, \"step\": %lld, \"samples\": %lld, \"train_loss\": ", i ? ", " : "",
            (long long)e->epoch, (long long)e->step, (long long)e->samples);
    jnum(f, e->train_loss);
    fprintf(f, ", \"test_loss\": "), jnum(f, e->test_loss);
    fprintf(f, ", \"test_accuracy\": "), jnum(f, e->acc);
    fprintf(f, ", \"train_seconds\": "), jnum(f, e->seconds);
    fprintf(f, "}");
  }
  fprintf(f, "]}");
}

static bool write_json(const Compare *c) {
  FILE *f = fopen(c->json_path, "w");
  if (!f) {
    fprintf(stderr, "astc compare: cannot write %s: %s; choose another file with --json\n", c->json_path,
            strerror(errno));
    return false;
  }
  fprintf(f, "{\n  \"astc_version\": \"%s\",\n  \"started\": \"%s\",\n  \"files\": [", ASTC_VERSION, c->started);
  for (int i = 0; i < c->a->nfiles; i++) fprintf(f, "%s", i ? ", " : ""), jstr(f, c->a->files[i]);
  fprintf(f, "],\n  \"seeds\": [");
  for (int i = 0; i < c->nseeds; i++) fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)c->seeds[i]);
  fprintf(f, "],\n  \"budgets\": [");
  for (int i = 0; i < c->nbudgets; i++) fprintf(f, "%s", i ? ", " : ""), jnum(f, c->budgets[i]);
  fprintf(f, "],\n  \"threads\": %d,\n  \"target\": ", c->threads);
  jnum(f, c->has_target ? c->target : NAN);
  fprintf(f, ",\n  \"metric\": \"%s\", \"better\": \"%s\"", metric_key(c), is_loss(c) ? "lower" : "higher");
  fprintf(f, ",\n  \"time_to_target_method\": \"%s\",\n", c->method == STATS_TTT_EVAL ? "evaluation" : "interpolated");
  fprintf(f, "  \"machine\": "), jstr(f, c->machine.description);
  fprintf(f, ",\n  \"load_average\": {\"start\": [%.2f, %.2f, %.2f], \"end\": [%.2f, %.2f, %.2f]},\n", c->load0[0],
          c->load0[1], c->load0[2], c->load1[0], c->load1[1], c->load1[2]);
  fprintf(f, "  \"total_seconds\": "), jnum(f, c->t_total);
  fprintf(f, ",\n  \"speedup_budget\": "), jnum(f, c->budgets[speedup_budget(c)]);
  fprintf(f, ",\n  \"programs\": [\n");
  int sb = speedup_budget(c);
  for (int p = 0; p < c->nprogs; p++) {
    const Program *pg = &c->progs[p];
    const Summary *s = &c->sum[p][sb], *ref = &c->sum[0][sb];
    fprintf(f, "    {\"name\": "), jstr(f, pg->name);
    fprintf(f, ", \"file\": "), jstr(f, pg->file);
    fprintf(f, ", \"without_speedup_block\": %s, \"model\": ", pg->baseline ? "true" : "false"), jstr(f, pg->model);
    fprintf(f, ",\n     \"program_goal\": ");
    if (pg->goal == GOAL_NONE) fputs("null", f);
    else fprintf(f, "\"%s\"", pg->goal == GOAL_LOSS ? "loss" : "accuracy");
    fprintf(f, ", \"program_target\": "), jnum(f, pg->goal == GOAL_NONE ? NAN : pg->target);
    fprintf(f, ", \"compile_seconds\": "), jnum(f, pg->compile_s);
    fprintf(f, ", \"predicted_train_seconds\": "), jnum(f, pg->predicted_s);
    fprintf(f, ",\n     \"predicted_speedup\": "), jnum(f, c->progs[0].predicted_s / pg->predicted_s);
    fprintf(f, ", \"measured_speedup\": "), jnum(f, ref->train_median / s->train_median);
    fprintf(f, ", \"time_to_target_speedup\": "), jnum(f, ref->ttt_median / s->ttt_median);
    fprintf(f, ",\n     \"frontier\": [");
    const Frontier *fr = &c->front[p];
    for (int i = 0; i < fr->non; i++) {
      StatsPoint q = fr->pts[fr->on[i]];
      fprintf(f, "%s{\"budget\": ", i ? ", " : "");
      jnum(f, c->budgets[fr->budget_of[fr->on[i]]]);
      fprintf(f, ", \"train_seconds\": "), jnum(f, q.time);
      fprintf(f, ", \"%s\": ", metric_key(c)), jnum(f, q.value);
      fprintf(f, "}");
    }
    fprintf(f, "],\n     \"budgets\": [\n");
    for (int b = 0; b < c->nbudgets; b++) {
      fprintf(f, "      {\"budget\": "), jnum(f, c->budgets[b]);
      fprintf(f, ", ");
      jsummary(f, &c->sum[p][b]);
      fprintf(f, "}%s\n", b + 1 < c->nbudgets ? "," : "");
    }
    fprintf(f, "     ]}%s\n", p + 1 < c->nprogs ? "," : "");
  }
  fprintf(f, "  ],\n  \"dominance\": [");
  bool first = true;
  for (int a = 0; a < c->nprogs; a++)
    for (int b = a + 1; b < c->nprogs; b++) {
      fprintf(f, "%s\n    {\"a\": ", first ? "" : ","), jstr(f, c->progs[a].name);
      fprintf(f, ", \"b\": "), jstr(f, c->progs[b].name);
      StatsDominance d = dominance(c, a, b);
      fprintf(f, ", \"result\": \"%s\", \"dominant\": ", dominance_word(d));
      if (d == STATS_A_DOMINATES || d == STATS_B_DOMINATES) jstr(f, c->progs[d == STATS_A_DOMINATES ? a : b].name);
      else fputs("null", f);
      for (int side = 0; side < 2; side++) {
        double iv[2 * MAX_BUDGETS][2];
        int k = ahead_intervals(c, side ? b : a, side ? a : b, iv);
        fprintf(f, ",\n     \"%s_ahead\": [", side ? "b" : "a");
        for (int i = 0; i < k; i++) {
          fprintf(f, "%s[", i ? ", " : "");
          jnum(f, iv[i][0]);
          fputs(", ", f);
          jnum(f, iv[i][1]);
          fputc(']', f);
        }
        fputc(']', f);
      }
      fputc('}', f);
      first = false;
    }
  fprintf(f, "\n  ],\n  \"runs\": [\n");
  for (int i = 0; i < c->nruns; i++) {
    json_run(f, c, &c->runs[i]);
    fprintf(f, "%s\n", i + 1 < c->nruns ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
  bool ok = !ferror(f);
  ok = fclose(f) == 0 && ok;
  if (!ok) fprintf(stderr, "astc compare: writing %s failed: %s\n", c->json_path, strerror(errno));
  return ok;
}

/* ---- the plot (gnuplot) ------------------------------------------------------------------------------ */

static const char *const colours[MAX_PROGRAMS] = {"1f77b4", "d62728", "2ca02c", "9467bd",
                                                  "ff7f0e", "8c564b", "e377c2", "7f7f7f"};

/* a gnuplot single-quoted string ('' is a quote) */
static void gp_str(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

static void write_gnuplot(const Compare *c, FILE *f) {
  bool svg = ends_with(c->plot_path, ".svg");
  double xmax = 0;
  for (int i = 0; i < c->nruns; i++)
    if (c->runs[i].ok) xmax = MAX(xmax, c->runs[i].train_s);
  /* accuracies in percent; losses as they are */
  double k = is_loss(c) ? 1 : 100;
  fprintf(f, "# astc compare: %s against training time; run with gnuplot\n", metric_name(c));
  if (svg) fprintf(f, "set terminal svg size 1100,620 dynamic noenhanced font 'sans,13' background rgb 'white'\n");
  else fprintf(f, "set terminal pngcairo size 1460,820 noenhanced font 'sans,12' background rgb 'white'\n");
  fprintf(f, "set output "), gp_str(f, c->plot_path), fputc('\n', f);
  char title[600];
  int n = snprintf(title, sizeof title, "astc compare %s: %d seed%s, budgets", base_name(c->a->files[0]), c->nseeds,
                   c->nseeds == 1 ? "" : "s");
  for (int b = 0; b < c->nbudgets && n < (int)sizeof title - 20; b++)
    n += snprintf(title + n, sizeof title - (size_t)n, "%s %g", b ? "," : "", c->budgets[b]);
  fprintf(f, "set title "), gp_str(f, title), fputc('\n', f);
  fprintf(f, "set xlabel 'training time (s)'\nset ylabel '%s'\n",
          is_loss(c) ? "test loss (lower is better)" : "test accuracy (%)");
  fprintf(f, "set grid lc rgb '#dddddd'\nset key outside right top vertical Left reverse spacing 1.3\nset xrange [0:%.6g]\n",
          xmax * 1.08 + 1e-9);
  fprintf(f, "set offsets 0, 0, %s\n", is_loss(c) ? "graph 0.03, graph 0.03" : "0.5, 0.5");
  for (int p = 0; p < c->nprogs; p++) {
    /* every evaluation of every run: one block per run */
    fprintf(f, "$curves%d << EOD\n", p);
    for (int i = 0; i < c->nruns; i++) {
      const Run *r = &c->runs[i];
      if (r->prog != p || !r->ok) continue;
      for (int e = 0; e < r->evals.len; e++) fprintf(f, "%.6g %.6g\n", r->evals.data[e].seconds, k * eval_value(c, &r->evals.data[e]));
      fprintf(f, "\n");
    }
    fprintf(f, "EOD\n$runs%d << EOD\n", p);
    for (int i = 0; i < c->nruns; i++) {
      const Run *r = &c->runs[i];
      if (r->prog == p && r->ok) fprintf(f, "%.6g %.6g\n", r->train_s, k * run_value(c, r));
    }
    const Frontier *fr = &c->front[p];
    fprintf(f, "EOD\n$means%d << EOD\n", p);
    for (int i = 0; i < fr->npts; i++)
      fprintf(f, "%.6g %.6g \"x%g\"\n", fr->pts[i].time, k * fr->pts[i].value, c->budgets[fr->budget_of[i]]);
    fprintf(f, "EOD\n$front%d << EOD\n", p);
    /* best_F(t): "steps" holds each value until the next point's time, then
     * jumps (up for accuracy, down for loss); flat after the last */
    for (int i = 0; i < fr->non; i++) fprintf(f, "%.6g %.6g\n", fr->pts[fr->on[i]].time, k * fr->pts[fr->on[i]].value);
    if (fr->non) fprintf(f, "%.6g %.6g\n", xmax * 1.08, k * fr->pts[fr->on[fr->non - 1]].value);
    fprintf(f, "EOD\n");
  }
  fprintf(f, "plot ");
  for (int p = 0; p < c->nprogs; p++) {
    const char *col = colours[p % MAX_PROGRAMS];
    const char *name = c->progs[p].name;
    char t[200];
    snprintf(t, sizeof t, "%s: every evaluation", name);
    fprintf(f, "%s$curves%d using 1:2 with lines lw 1 lc rgb '#b0%s' title ", p ? ", \\\n     " : "", p, col);
    gp_str(f, t);
    fprintf(f, ", \\\n     $runs%d using 1:2 with points pt 7 ps 0.7 lc rgb '#%s' title ", p, col);
    snprintf(t, sizeof t, "%s: final, each run", name);
    gp_str(f, t);
    fprintf(f, ", \\\n     $front%d using 1:2 with steps lw 2.5 lc rgb '#%s' title ", p, col);
    snprintf(t, sizeof t, "%s: Pareto frontier", name);
    gp_str(f, t);
    fprintf(f, ", \\\n     $means%d using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#%s' title ", p, col);
    snprintf(t, sizeof t, "%s: each budget (median, mean)", name);
    gp_str(f, t);
    fprintf(f, ", \\\n     $means%d using 1:2:3 with labels offset 0,1.1 font ',10' tc rgb '#%s' notitle", p, col);
  }
  if (c->has_target) {
    char t[80];
    if (is_loss(c)) snprintf(t, sizeof t, "target: loss <= %g", c->target);
    else snprintf(t, sizeof t, "target %.2f%%", 100 * c->target);
    fprintf(f, ", \\\n     %.6g with lines dt 2 lw 1.5 lc rgb '#555555' title ", k * c->target);
    gp_str(f, t);
  }
  fprintf(f, "\n");
}

/* Draws the plot; a missing gnuplot is a warning (the table and JSON stand). */
static void draw_plot(Compare *c) {
  char *script = xprintf("%s/plot.gp", c->dir), *log = xprintf("%s/gnuplot.log", c->dir);
  vec_push(&c->made, script);
  vec_push(&c->made, log);
  FILE *f = fopen(script, "w");
  if (!f) {
    c->plot_note = xprintf("cannot write %s: %s", script, strerror(errno));
    return;
  }
  write_gnuplot(c, f);
  if (fclose(f) != 0) {
    c->plot_note = xprintf("cannot write %s: %s", script, strerror(errno));
    return;
  }
  const char *gp = getenv("ASTC_GNUPLOT");
  if (!gp || !*gp) gp = "gnuplot";
  char *argv[] = {(char *)gp, script, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int err = posix_spawnp(&pid, gp, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err) {
    c->plot_note = err == ENOENT ? xprintf("%s is not installed, so no plot was drawn (Debian: apt-get install "
                                           "gnuplot-nox; or set ASTC_GNUPLOT to a gnuplot)", gp)
                                 : xprintf("cannot run %s: %s", gp, strerror(err));
    return;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  struct stat st;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(c->plot_path, &st) != 0 || st.st_size == 0) {
    char *why = last_line(log);
    c->plot_note = xprintf("%s failed to draw %s: %s", gp, c->plot_path, why);
    free(why);
    return;
  }
  c->plot_written = true;
}

/* ---- the command ------------------------------------------------------------------------------------- */

static void cleanup(Compare *c) {
  if (c->dir && !c->keep) {
    for (int i = 0; i < c->made.len; i++) remove(c->made.data[i]);
    if (rmdir(c->dir) != 0 && errno != ENOENT)
      fprintf(stderr, "astc compare: note: could not remove %s: %s\n", c->dir, strerror(errno));
  } else if (c->dir) {
    fprintf(stderr, "astc compare: kept the executables, metrics files and plot script in %s\n", c->dir);
  }
  for (int i = 0; i < c->made.len; i++) free((char *)c->made.data[i]);
  vec_free(&c->made);
  for (int p = 0; p < c->nprogs; p++) {
    free(c->progs[p].name);
    free(c->progs[p].exe);
    free(c->progs[p].model);
  }
  for (int i = 0; i < c->nruns; i++) {
    free(c->runs[i].error);
    vec_free(&c->runs[i].evals);
  }
  free(c->runs);
  free(c->dir);
  free(c->json_path);
  free(c->plot_path);
  free(c->plot_note);
  free(c->metric_note);
}

static bool make_workdir(Compare *c) {
  const char *tmp = getenv("TMPDIR");
  c->dir = xprintf("%s/astc-compare-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(c->dir)) {
    fprintf(stderr, "astc compare: cannot create a work directory %s: %s (set TMPDIR to a writable directory)\n",
            c->dir, strerror(errno));
    free(c->dir);
    c->dir = NULL;
    return false;
  }
  return true;
}

/* the runs in order: seed, budget, then the programs, alternating direction */
static void plan_runs(Compare *c) {
  c->nruns = c->nseeds * c->nbudgets * c->nprogs;
  c->runs = xcalloc((size_t)c->nruns, sizeof(Run));
  int k = 0, cell = 0;
  for (int s = 0; s < c->nseeds; s++)
    for (int b = 0; b < c->nbudgets; b++, cell++)
      for (int i = 0; i < c->nprogs; i++) {
        Run *r = &c->runs[k++];
        r->prog = cell % 2 ? c->nprogs - 1 - i : i;
        r->seed = c->seeds[s];
        r->budget_index = b;
        r->budget = c->budgets[b];
        r->ttt = -1;
        r->final_acc = r->best_acc = r->final_loss = r->best_loss = r->train_s = r->eval_s = NAN;
      }
}

/* "accuracy >= 0.6", "loss <= 0.25" */
static void goal_text(const Program *pg, char *buf, size_t cap) {
  snprintf(buf, cap, "%s %g", pg->goal == GOAL_LOSS ? "loss <=" : "accuracy >=", pg->target);
}

/* The metric and the target (docs/compare.md). The goal of the first
 * program that has one (normally the first program) fixes the metric.
 * Without goals: accuracy when the first program's evaluation computes one,
 * else loss — a guess that the first successful run confirms or corrects
 * (confirm_metric), by whether it reports an accuracy. --target is checked
 * against the metric; without it, the target is that program's. Returns 0,
 * or 2 for a --target that is not a test accuracy when one is compared. */
static int choose_metric(Compare *c) {
  int g = -1;
  for (int p = 0; p < c->nprogs && g < 0; p++)
    if (c->progs[p].goal != GOAL_NONE) g = p;
  bool one_file = c->a->nfiles == 1;
  if (g >= 0) {
    c->metric = c->progs[g].goal == GOAL_LOSS ? METRIC_LOSS : METRIC_ACCURACY;
    c->metric_fixed = true;
    if (one_file) snprintf(c->metric_from, sizeof c->metric_from, "the program's goal");
    else snprintf(c->metric_from, sizeof c->metric_from, "%s's goal", c->progs[g].name);
  } else {
    c->metric = c->progs[0].computes_accuracy ? METRIC_ACCURACY : METRIC_LOSS;
    snprintf(c->metric_from, sizeof c->metric_from, "no program has a target, and %s's evaluation computes %s",
             c->progs[0].name, c->progs[0].computes_accuracy ? "an accuracy" : "no accuracy");
  }
  if (c->target_arg) {
    if (!is_loss(c) && !(c->target > 0 && c->target <= 1))
      return usage_error("--target takes a test accuracy in (0, 1], such as 0.88 (not 88), since the programs are "
                         "compared by accuracy (%s); got '%s'", c->metric_from, c->target_arg);
    return 0;
  }
  if (g < 0) return 0;
  c->has_target = true;
  c->target = c->progs[g].target;
  if (one_file) snprintf(c->target_from, sizeof c->target_from, "the program's target");
  else snprintf(c->target_from, sizeof c->target_from, "%s's target", c->progs[g].name);
  char mine[64], theirs[64];
  goal_text(&c->progs[g], mine, sizeof mine);
  for (int p = 0; p < c->nprogs; p++) {
    const Program *pg = &c->progs[p];
    if (p == g || pg->goal == GOAL_NONE || (pg->goal == c->progs[g].goal && pg->target == c->target)) continue;
    goal_text(pg, theirs, sizeof theirs);
    fprintf(stderr, "astc compare: note: %s's target (%s) differs from %s's; every program is measured by %s's "
                    "(%s)%s\n", pg->name, theirs, c->progs[g].name, c->progs[g].name, mine,
            pg->goal == c->progs[g].goal ? " — give --target to choose" : "");
  }
  return 0;
}

static int run_compare(CliArgs *a) {
  Compare c = {.a = a};
  int rc = parse_options(&c);
  if (rc) {
    cleanup(&c);
    return rc;
  }
  astrt_blas_reexec_if_needed(a->argv0);
  c.t_start = now_seconds();
  time_t wall = time(NULL);
  strftime(c.started, sizeof c.started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&wall));
  /* one file: its goal is known from set_programs' compilation, so a bad
   * --target stops before anything is built */
  if ((rc = set_programs(&c)) != 0 || (a->nfiles == 1 && (rc = choose_metric(&c)) != 0) || !make_workdir(&c)) {
    cleanup(&c);
    return rc ? rc : 1;
  }
  machine_get(&c.machine, false, true);
  for (int p = 0; p < c.nprogs; p++) {
    fprintf(stderr, "building %s (%s%s)... ", c.progs[p].name, c.progs[p].file,
            c.progs[p].baseline ? " without its speedup block" : "");
    fflush(stderr);
    if (!build_program(&c, p)) {
      cleanup(&c);
      return 1;
    }
    fprintf(stderr, "%.1f s", c.progs[p].compile_s);
    if (isfinite(c.progs[p].predicted_s))
      fprintf(stderr, "; astc cost predicts %s s of training", secs(c.progs[p].predicted_s).s);
    fputc('\n', stderr);
  }
  if (a->nfiles > 1 && (rc = choose_metric(&c)) != 0) {
    cleanup(&c);
    return rc;
  }
  plan_runs(&c);
  if (getloadavg(c.load0, 3) < 0) c.load0[0] = c.load0[1] = c.load0[2] = NAN;
  if (c.load0[0] > 1.0)
    fprintf(stderr, "astc compare: note: the load average is %.2f; other work on this machine slows the runs "
                    "(they are interleaved, so it slows every program alike)\n", c.load0[0]);
  struct sigaction old[3];
  catch_signals(old);
  bool finished = run_all(&c);
  restore_signals(old);
  if (!finished) {
    fprintf(stderr, "astc compare: interrupted after %d of %d runs; no report written\n", c.done, c.nruns);
    cleanup(&c);
    return 130;
  }
  if (getloadavg(c.load1, 3) < 0) c.load1[0] = c.load1[1] = c.load1[2] = NAN;
  summarize(&c);
  draw_plot(&c);
  c.t_total = now_seconds() - c.t_start;
  print_report(&c);
  bool json = write_json(&c);
  int failed = 0;
  for (int i = 0; i < c.nruns; i++) failed += !c.runs[i].ok;
  printf("\n%s%s%s%s\n", json ? "wrote " : "", json ? c.json_path : "", json && c.plot_written ? " and " : "",
         c.plot_written ? c.plot_path : "");
  fflush(stdout);
  if (c.plot_note) fprintf(stderr, "astc compare: warning: %s; the table and the JSON file are complete\n", c.plot_note);
  if (failed)
    fprintf(stderr, "astc compare: %d of %d runs failed (their errors are in the progress lines and the JSON file)\n",
            failed, c.nruns);
  rc = !json || failed ? 1 : 0;
  cleanup(&c);
  return rc;
}

const Command cmd_compare = {
    "compare", "train a recipe and its baseline (or several programs) over seeds and budgets; report test accuracy "
               "(or loss, for a loss goal) against training time, time to target, Pareto frontiers and the "
               "measured speedup",
    "compare [OPTIONS] FILE.train [FILE.train ...]",
    {{"--seeds", "N", "seeds 1..N (default 3), or a list such as 1,5,9"},
     {"--budgets", "LIST", "fractions of each program's budget (default " DEFAULT_BUDGETS ")"},
     {"--target", "X", "the target to time: a test accuracy in (0, 1], or a test loss for a loss goal (default: "
                       "the program's target)"},
     {"--interpolate", NULL, "time to target by linear interpolation between evaluations"},
     {"--threads", "N", "BLAS threads per run (default 1; runs never overlap)"},
     {"--data", "DIR", "where the data set is (passed to each run)"},
     {"--json", "FILE", "results file (default FILE-compare.json)"},
     {"--plot", "FILE", "plot, .svg or .png (default FILE-compare.svg; needs gnuplot)"},
     {"--keep", NULL, "keep the work directory (executables, metrics, plot script)"}},
    run_compare,
    true,
    true,
};
