/* machine.c — what this machine can do, measured once and cached: sgemm
 * throughput at a ladder of sizes (through the same runtime call generated
 * code makes, with the runtime's default thread count), streaming memory
 * bandwidth, and the bandwidth of a working set that stays in the
 * last-level cache (and that cache's size). astc cost turns these into a
 * roofline for each op.
 *
 * The cache is a small text file under $XDG_CACHE_HOME/astc (or
 * ~/.cache/astc), keyed by the CPU model, the OpenBLAS kernel set and the
 * thread count; delete it or pass --recalibrate to measure again.
 *
 * Timing is in CPU time, so that other jobs on the machine do not skew it
 * (a wall-clock calibration at a load average of 15 on 2 cores measured
 * sgemm at 28 GFLOP/s instead of about 200, and 2.7 GB/s of bandwidth, and
 * astc cost then priced a bf16 GPT step 9% below the fp32 one instead of
 * 40%): the memory loops run on this thread and count its CPU time; an sgemm
 * counts the larger of this thread's CPU time and the process's over the
 * threads (a product OpenBLAS splits keeps every thread busy for its
 * duration; one it leaves on this thread keeps only this one). */
#include "machine.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "astrt_kernels.h"

/* CPU seconds of this thread or of the whole process */
static double cpu_seconds(clockid_t which) {
  struct timespec ts;
  clock_gettime(which, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct cpu_mark {
  double thread, process;
} cpu_mark;

static cpu_mark cpu_now(void) {
  return (cpu_mark){cpu_seconds(CLOCK_THREAD_CPUTIME_ID), cpu_seconds(CLOCK_PROCESS_CPUTIME_ID)};
}

/* the time work since `t0` took on `threads` threads, from CPU time */
static double cpu_elapsed(cpu_mark t0, int threads) {
  cpu_mark t = cpu_now();
  return MAX(t.thread - t0.thread, (t.process - t0.process) / MAX(threads, 1));
}

static const int gemm_sizes[MACHINE_GEMM_POINTS] = {16, 32, 64, 128, 256, 512, 1024};


static void cpu_model(char *buf, size_t cap) {
  snprintf(buf, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10)) {
      char *c = strchr(line, ':');
      if (c) {
        c++;
        while (*c == ' ') c++;
        c[strcspn(c, "\n")] = 0;
        snprintf(buf, cap, "%s", c);
      }
      break;
    }
  fclose(f);
}

static int threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* the best of a few timed repetitions, at least ~50 ms in all */
static double gemm_gflops(int n, int threads) {
  float *a = xmalloc(sizeof(float) * (size_t)n * (size_t)n);
  float *b = xmalloc(sizeof(float) * (size_t)n * (size_t)n);
  float *c = xmalloc(sizeof(float) * (size_t)n * (size_t)n);
  for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.01f, b[i] = (float)(i % 5) * 0.01f;
  double flops = 2.0 * n * n * n, best = 0;
  int reps = (int)MAX(1, 2e7 / flops);
  for (int trial = 0; trial < 5; trial++) {
    cpu_mark t0 = cpu_now();
    for (int r = 0; r < reps; r++) astrt_sgemm(0, 0, n, n, n, 1, a, b, 0, c);
    double dt = cpu_elapsed(t0, threads);
    if (dt > 0) best = MAX(best, flops * reps / dt / 1e9);
  }
  free(a);
  free(b);
  free(c);
  return best;
}

static double bandwidth_gbs(void) {
  size_t n = (size_t)16 << 20; /* 64 MiB per array */
  float *a = xmalloc(n * sizeof(float)), *b = xmalloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) a[i] = (float)i;
  double best = 0;
  for (int trial = 0; trial < 4; trial++) {
    double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (size_t i = 0; i < n; i++) b[i] = a[i] * 1.5f;
    double dt = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
    if (dt > 0) best = MAX(best, 2.0 * (double)n * sizeof(float) / dt / 1e9);
  }
  volatile float sink = b[n / 2];
  (void)sink;
  free(a);
  free(b);
  return best;
}

/* the last-level cache's size: sysconf, else sysfs, else 8 MiB */
static double llc_bytes(void) {
  long n = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
  n = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (n <= 0) n = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  if (n > 0) return (double)n;
  for (int idx = 3; idx >= 2; idx--) {
    char path[96], text[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char unit = 0;
    long v = 0;
    bool ok = fgets(text, sizeof text, f) && sscanf(text, "%ld%c", &v, &unit) >= 1 && v > 0;
    fclose(f);
    if (ok) return (double)v * (unit == 'K' ? 1024.0 : unit == 'M' ? 1048576.0 : 1.0);
  }
  return 8.0 * 1048576.0;
}

/* read + write bandwidth over a working set of `bytes`, repeated until
 * about 50 ms have passed: cache-resident when bytes fit the cache */
static double resident_gbs(size_t bytes) {
  size_t n = bytes / 2 / sizeof(float);
  float *a = xmalloc(n * sizeof(float)), *b = xmalloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) a[i] = (float)i, b[i] = 0;
  int reps = (int)MAX(1, 2e8 / (double)bytes);
  double best = 0;
  for (int trial = 0; trial < 4; trial++) {
    double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (int r = 0; r < reps; r++) {
      for (size_t i = 0; i < n; i++) b[i] = a[i] * 1.5f + b[i] * 0.25f;
      float *t = a;
      a = b, b = t;
    }
    double dt = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
    if (dt > 0) best = MAX(best, 3.0 * (double)n * sizeof(float) * reps / dt / 1e9);
  }
  volatile float sink = b[n / 2];
  (void)sink;
  free(a);
  free(b);
  return best;
}

static char *cache_path(void) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  if (xdg && *xdg) return xprintf("%s/astc", xdg);
  if (home && *home) return xprintf("%s/.cache/astc", home);
  return xstrdup("/tmp/astc-cache");
}

static void mkdirs(const char *dir) {
  char *d = xstrdup(dir);
  for (char *p = d + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(d, 0755);
      *p = '/';
    }
  mkdir(d, 0755);
  free(d);
}

static bool load(const char *path, const char *key, Machine *m) {
  FILE *f = fopen(path, "r");
  if (!f) return false;
  char line[1024];
  bool ok = fgets(line, sizeof line, f) && !strncmp(line, "astc-machine 3\n", 15);
  ok = ok && fgets(line, sizeof line, f) && (line[strcspn(line, "\n")] = 0, !strcmp(line, key));
  for (int i = 0; ok && i < MACHINE_GEMM_POINTS; i++) {
    int n;
    ok = fscanf(f, "gemm %d %lf\n", &n, &m->gemm_gflops[i]) == 2 && n == gemm_sizes[i] && m->gemm_gflops[i] > 0;
  }
  ok = ok && fscanf(f, "bandwidth %lf\n", &m->bandwidth_gbs) == 1 && m->bandwidth_gbs > 0;
  ok = ok && fscanf(f, "cache %lf %lf\n", &m->cache_bytes, &m->cache_gbs) == 2 && m->cache_bytes > 0 &&
       m->cache_gbs > 0;
  ok = ok && fscanf(f, "measured %63s\n", m->measured) == 1;
  fclose(f);
  return ok;
}

static void save(const char *path, const char *key, const Machine *m) {
  char *tmp = xprintf("%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) {
    free(tmp);
    return;  /* an uncached calibration is still a calibration */
  }
  fprintf(f, "astc-machine 3\n%s\n", key);
  for (int i = 0; i < MACHINE_GEMM_POINTS; i++) fprintf(f, "gemm %d %.3f\n", gemm_sizes[i], m->gemm_gflops[i]);
  fprintf(f, "bandwidth %.3f\ncache %.0f %.3f\nmeasured %s\n", m->bandwidth_gbs, m->cache_bytes, m->cache_gbs,
          m->measured);
  bool ok = fflush(f) == 0;
  ok = fclose(f) == 0 && ok;
  if (ok) rename(tmp, path);
  else remove(tmp);
  free(tmp);
}

bool machine_get(Machine *m, bool recalibrate, bool verbose) {
  memset(m, 0, sizeof *m);
  char cpu[256];
  cpu_model(cpu, sizeof cpu);
  m->threads = threads();
  snprintf(m->description, sizeof m->description, "%s; OpenBLAS %s kernels, %d thread%s", cpu,
           astrt_blas_corename(), m->threads, m->threads == 1 ? "" : "s");
  char *dir = cache_path();
  char *path = xprintf("%s/machine.txt", dir);
  snprintf(m->cache, sizeof m->cache, "%s", path);
  bool ok = !recalibrate && load(path, m->description, m);
  m->cached = ok;
  if (!ok) {
    if (verbose) fprintf(stderr, "astc: measuring this machine once (sgemm and memory bandwidth)...\n");
    for (int i = 0; i < MACHINE_GEMM_POINTS; i++) m->gemm_gflops[i] = gemm_gflops(gemm_sizes[i], m->threads);
    m->bandwidth_gbs = bandwidth_gbs();
    m->cache_bytes = llc_bytes();
    /* a working set like a small model's step: a quarter of the cache, at most 4 MiB */
    m->cache_gbs = resident_gbs((size_t)MIN(m->cache_bytes / 4, 4.0 * 1048576.0));
    time_t t = time(NULL);
    strftime(m->measured, sizeof m->measured, "%Y-%m-%d", gmtime(&t));
    mkdirs(dir);
    save(path, m->description, m);
  }
  free(dir);
  free(path);
  return true;
}

double machine_gemm_rate(const Machine *m, double flops) {
  /* piecewise-linear in log(flops) between the calibrated square sizes */
  double lf = log(flops);
  double prev_lf = log(2.0 * pow(gemm_sizes[0], 3));
  if (lf <= prev_lf) return m->gemm_gflops[0] * 1e9 * flops / exp(prev_lf);
  for (int i = 1; i < MACHINE_GEMM_POINTS; i++) {
    double cur_lf = log(2.0 * pow(gemm_sizes[i], 3));
    if (lf <= cur_lf) {
      double w = (lf - prev_lf) / (cur_lf - prev_lf);
      return 1e9 * (m->gemm_gflops[i - 1] * (1 - w) + m->gemm_gflops[i] * w);
    }
    prev_lf = cur_lf;
  }
  return m->gemm_gflops[MACHINE_GEMM_POINTS - 1] * 1e9;
}

/* ---- the GEMM backend of each product ------------------------------------------------ */

/* the key of gemm.txt: what the times depend on besides the shape (they
 * are CPU times on one thread, whatever the runtime's thread count) */
static char *gemm_key(void) {
  char cpu[256];
  cpu_model(cpu, sizeof cpu);
  return xprintf("%s; OpenBLAS %s kernels; libxsmm %s; CPU time on 1 thread", cpu, astrt_blas_corename(),
                 astrt_gemm_xsmm_arch());
}

static bool same_shape(const astrt_gemm_batch *a, const astrt_gemm_batch *b) {
  if (a->ab_type != b->ab_type || a->ta != b->ta || a->tb != b->tb || a->m != b->m || a->n != b->n || a->k != b->k ||
      a->lda != b->lda || a->ldb != b->ldb || a->ldc != b->ldc || a->nbatch != b->nbatch || a->alpha != b->alpha ||
      a->beta != b->beta)
    return false;
  for (int i = 0; i < a->nbatch; i++)
    if (a->count[i] != b->count[i] || a->sa[i] != b->sa[i] || a->sb[i] != b->sb[i] || a->sc[i] != b->sc[i])
      return false;
  return true;
}

/* one line of gemm.txt: the shape, then "name seconds" per backend */
static void shape_write(FILE *f, const GemmShape *s) {
  const astrt_gemm_batch *d = &s->d;
  fprintf(f, "%s %d %d %lld %lld %lld %lld %lld %lld %d", d->ab_type == ASTRT_DTYPE_BF16 ? "bf16" : "f32", d->ta,
          d->tb, (long long)d->m, (long long)d->n, (long long)d->k, (long long)d->lda, (long long)d->ldb,
          (long long)d->ldc, d->nbatch);
  for (int i = 0; i < d->nbatch; i++)
    fprintf(f, " %lld %lld %lld %lld", (long long)d->count[i], (long long)d->sa[i], (long long)d->sb[i],
            (long long)d->sc[i]);
  for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++) fprintf(f, " %s %.4g", astrt_gemm_backend_name(b), s->seconds[b]);
  fputc('\n', f);
}

static bool shape_read(const char *line, GemmShape *s) {
  memset(s, 0, sizeof *s);
  astrt_gemm_batch *d = &s->d;
  char type[8];
  long long v[9];
  int nb, used = 0;
  if (sscanf(line, "%7s %lld %lld %lld %lld %lld %lld %lld %lld %d%n", type, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
             &v[6], &v[7], &nb, &used) != 10 || nb < 0 || nb > 4)
    return false;
  d->ab_type = !strcmp(type, "bf16") ? ASTRT_DTYPE_BF16 : ASTRT_DTYPE_F32;
  d->ta = (int32_t)v[0], d->tb = (int32_t)v[1], d->m = v[2], d->n = v[3], d->k = v[4], d->lda = v[5], d->ldb = v[6],
  d->ldc = v[7], d->nbatch = nb, d->alpha = 1, d->beta = 0;
  line += used;
  for (int i = 0; i < 4; i++) d->count[i] = 1;
  for (int i = 0; i < nb; i++) {
    long long c, a, b, e;
    if (sscanf(line, " %lld %lld %lld %lld%n", &c, &a, &b, &e, &used) != 4) return false;
    d->count[i] = c, d->sa[i] = a, d->sb[i] = b, d->sc[i] = e;
    line += used;
  }
  for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++) s->seconds[b] = 0;
  char name[32];
  double t;
  int found = 0;
  while (sscanf(line, " %31s %lf%n", name, &t, &used) == 2) {
    int b = astrt_gemm_backend_id(name);
    if (b >= 0) s->seconds[b] = t, found++;
    line += used;
  }
  return found == ASTRT_NUM_GEMM_BACKENDS;
}

typedef struct GemmCache {
  GemmShape *e;
  int n, cap;
} GemmCache;

static void cache_add(GemmCache *c, const GemmShape *s) {
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 32;
    c->e = xrealloc(c->e, sizeof *c->e * (size_t)c->cap);
  }
  c->e[c->n++] = *s;
}

static GemmShape *cache_find(GemmCache *c, const astrt_gemm_batch *d) {
  for (int i = 0; i < c->n; i++)
    if (same_shape(&c->e[i].d, d)) return &c->e[i];
  return NULL;
}

static void cache_load(const char *path, const char *key, GemmCache *c) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[2048];
  bool ok = fgets(line, sizeof line, f) && !strcmp(line, "astc-gemm 2\n") && fgets(line, sizeof line, f) &&
            (line[strcspn(line, "\n")] = 0, !strcmp(line, key));
  GemmShape s;
  while (ok && fgets(line, sizeof line, f))
    if (shape_read(line, &s)) cache_add(c, &s);
  fclose(f);
}

static void cache_save(const char *path, const char *key, const GemmCache *c) {
  char *tmp = xprintf("%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) {
    free(tmp);
    return;
  }
  fprintf(f, "astc-gemm 2\n%s\n", key);
  for (int i = 0; i < c->n; i++) shape_write(f, &c->e[i]);
  bool ok = fflush(f) == 0;
  ok = fclose(f) == 0 && ok;
  if (ok) rename(tmp, path);
  else remove(tmp);
  free(tmp);
}

/* times per call of d with each backend, in CPU time on one thread (the
 * pieces a call is cut into are the same for every backend, and the pool
 * deals them out alike, so the backend that does a call's work in the least
 * CPU time is the fastest on any thread count; and on a machine that other
 * processes load, wall times on several threads measure the scheduler:
 * each call waits for its slowest thread): the better of two rounds that
 * alternate the backends, each the 10th percentile of BUDGET seconds of
 * calls (one round of 3 timings when every backend's call is longer than
 * that) */
#define GEMM_BUDGET 0.006
static void measure_shape(GemmShape *s) {
  const int threads = 1;
  for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++) s->seconds[b] = -1;
  for (int round = 0; round < 2; round++) {
    double shortest = INFINITY;
    for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++) {
      double t = astrt_gemm_measure(&s->d, b, threads, GEMM_BUDGET);
      if (t > 0 && (s->seconds[b] < 0 || t < s->seconds[b])) s->seconds[b] = t;
      if (t > 0) shortest = MIN(shortest, t);
    }
    if (shortest > GEMM_BUDGET) break;  /* long calls on every backend: one round (of 3 timings each) */
  }
}

static int fastest(const GemmShape *s) {
  int best = ASTRT_GEMM_OPENBLAS;
  for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++)
    if (s->seconds[b] > 0 && s->seconds[b] < s->seconds[best] * (1 - GEMM_MARGIN)) best = b;
  return best;
}

typedef struct SiteCtx {
  GemmPlan *plan;
  int capshapes, capsites;
} SiteCtx;

static void add_site(void *user, const IrGraph *g, int node, const astrt_gemm_batch *d) {
  SiteCtx *c = user;
  GemmPlan *pl = c->plan;
  int k = 0;
  while (k < pl->nshapes && !same_shape(&pl->shapes[k].d, d)) k++;
  if (k == pl->nshapes) {
    if (pl->nshapes == c->capshapes) {
      c->capshapes = c->capshapes ? 2 * c->capshapes : 16;
      pl->shapes = xrealloc(pl->shapes, sizeof *pl->shapes * (size_t)c->capshapes);
    }
    GemmShape *s = &pl->shapes[pl->nshapes++];
    memset(s, 0, sizeof *s);
    s->d = *d;
    for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++) s->seconds[b] = -1;
  }
  if (pl->nsites == c->capsites) {
    c->capsites = c->capsites ? 2 * c->capsites : 16;
    pl->sites = xrealloc(pl->sites, sizeof *pl->sites * (size_t)c->capsites);
  }
  pl->sites[pl->nsites++] = (GemmSite){g, node, k};
}

static int choose(void *user, const astrt_gemm_batch *d) {
  const GemmPlan *pl = user;
  for (int i = 0; i < pl->nshapes; i++)
    if (same_shape(&pl->shapes[i].d, d)) return pl->shapes[i].d.backend;
  return ASTRT_GEMM_OPENBLAS;
}

/* whether a graph of p holds a value of dtype t */
static bool uses_dtype(const IrProgram *p, DType t) {
  const IrGraph *gs[2] = {&p->eval, &p->predict};
  for (int k = -2; k < p->phases.len; k++) {
    const IrGraph *g = k < 0 ? gs[k + 2] : &p->phases.data[k].step;
    for (int i = 0; i < g->len; i++)
      if (g->nodes[i].type.dtype == t) return true;
  }
  return false;
}

static void note_precision(const IrProgram *p, const GemmPlan *pl) {
  int bf16 = 0, on_xsmm = 0;
  for (int i = 0; i < pl->nshapes; i++)
    if (pl->shapes[i].d.ab_type == ASTRT_DTYPE_BF16) {
      bf16++;
      on_xsmm += astrt_gemm_backend_resolve(&pl->shapes[i].d) == ASTRT_GEMM_XSMM;
    }
  if (bf16) {
    const char *why = NULL;
    if (astrt_gemm_backend_available(ASTRT_GEMM_XSMM, ASTRT_DTYPE_BF16, &why))
      fprintf(stderr,
              "astc: note: precision bf16: %d of %d product shapes run as bf16 dot products with fp32 accumulation "
              "(libxsmm, AVX512_BF16)%s\n",
              on_xsmm, bf16, on_xsmm < bf16 ? "; the others widen their operands to fp32 (OpenBLAS, measured faster "
                                              "or chosen)" : "");
    else
      fprintf(stderr,
              "astc: note: precision bf16: %s, so the products widen their bf16 operands to fp32 and run in fp32 "
              "(OpenBLAS): lowering saves memory, not time\n", why);
  }
  if (uses_dtype(p, DT_F16))
    fprintf(stderr, "astc: note: precision fp16: products and convolutions widen their fp16 operands to fp32 (no "
                    "fp16 arithmetic without AVX512-FP16, which astc does not use): lowering saves memory, not time\n");
}

void machine_gemm_plan(const IrProgram *p, CgOptions *opt, bool measure, bool recalibrate, bool verbose,
                       GemmPlan *plan) {
  memset(plan, 0, sizeof *plan);
  plan->mode = opt->gemm;
  plan->threads = threads();
  SiteCtx c = {plan, 0, 0};
  CgOptions o = *opt;
  o.gemm = CG_GEMM_FORCE(ASTRT_GEMM_OPENBLAS);  /* the shapes, whatever the backend */
  o.gemm_choose = NULL;
  cg_gemm_sites(p, &o, add_site, &c);
  bool timed = opt->gemm == CG_GEMM_AUTO || measure;
  char *dir = cache_path(), *path = xprintf("%s/gemm.txt", dir), *key = gemm_key();
  snprintf(plan->cache, sizeof plan->cache, "%s", path);
  GemmCache cache = {0};
  if (timed && plan->nshapes) cache_load(path, key, &cache);
  int todo = 0;
  for (int i = 0; timed && i < plan->nshapes; i++) {
    GemmShape *hit = recalibrate ? NULL : cache_find(&cache, &plan->shapes[i].d);
    if (hit) memcpy(plan->shapes[i].seconds, hit->seconds, sizeof hit->seconds);
    else todo++;
  }
  if (todo) {
    if (verbose)
      fprintf(stderr, "astc: measuring %d product shape%s with each GEMM backend (once: cached in %s)...\n", todo,
              todo == 1 ? "" : "s", path);
    double t0 = now_seconds();
    for (int i = 0; i < plan->nshapes; i++) {
      GemmShape *s = &plan->shapes[i];
      GemmShape *hit = recalibrate ? NULL : cache_find(&cache, &s->d);
      if (hit) continue;
      measure_shape(s);
      GemmShape *old = cache_find(&cache, &s->d);
      if (old) memcpy(old->seconds, s->seconds, sizeof s->seconds);
      else cache_add(&cache, s);
    }
    plan->measured = todo;
    plan->seconds = now_seconds() - t0;
    if (verbose) fprintf(stderr, "astc: measured in %.2f s\n", plan->seconds);
    /* merge with what other astc processes cached meanwhile, under a lock.
     * A shape another process cached first keeps its times (first writer
     * wins, --recalibrate excepted), and this plan takes them too: every
     * process then chooses the same backend for a shape (`astc build` and
     * `astc run` of one program running beside other builds train the same
     * bits) */
    mkdirs(dir);
    char *lock = xprintf("%s.lock", path);
    int fd = open(lock, O_CREAT | O_RDWR, 0644);
    if (fd >= 0) flock(fd, LOCK_EX);
    GemmCache now_cached = {0};
    cache_load(path, key, &now_cached);
    for (int i = 0; i < now_cached.n; i++) {
      GemmShape *mine = cache_find(&cache, &now_cached.e[i].d);
      if (!mine) cache_add(&cache, &now_cached.e[i]);
      else if (!recalibrate) memcpy(mine->seconds, now_cached.e[i].seconds, sizeof mine->seconds);
    }
    for (int i = 0; i < plan->nshapes; i++) {
      GemmShape *hit = cache_find(&cache, &plan->shapes[i].d);
      if (hit) memcpy(plan->shapes[i].seconds, hit->seconds, sizeof hit->seconds);
    }
    cache_save(path, key, &cache);
    free(now_cached.e);
    if (fd >= 0) close(fd);  /* releases the lock */
    free(lock);
  }
  for (int i = 0; i < plan->nshapes; i++) {
    GemmShape *s = &plan->shapes[i];
    s->d.backend = opt->gemm != CG_GEMM_AUTO ? opt->gemm - 1 : fastest(s);
  }
  opt->gemm_choose = choose;
  opt->gemm_user = plan;
  if (verbose) note_precision(p, plan);
  free(cache.e);
  free(dir), free(path), free(key);
}

const GemmShape *machine_gemm_site(const GemmPlan *plan, const IrGraph *g, int node) {
  for (int i = 0; plan && i < plan->nsites; i++)
    if (plan->sites[i].g == g && plan->sites[i].node == node) return &plan->shapes[plan->sites[i].shape];
  return NULL;
}

void machine_gemm_plan_free(GemmPlan *plan) {
  free(plan->shapes);
  free(plan->sites);
  memset(plan, 0, sizeof *plan);
}
