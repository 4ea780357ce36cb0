/* machine.c — what this machine can do, measured once and cached: sgemm
 * throughput at a ladder of sizes (through the same runtime call generated
 * code makes, with the runtime's default thread count), streaming memory
 * bandwidth, and the bandwidth of a working set that stays in the
 * last-level cache (and that cache's size). astc cost turns these into a
 * roofline for each op.
 *
 * The cache is a small text file under $XDG_CACHE_HOME/astc (or
 * ~/.cache/astc), keyed by the CPU model, the OpenBLAS kernel set and the
 * thread count; delete it or pass --recalibrate to measure again. */
#include "machine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "astrt_kernels.h"

static const int gemm_sizes[MACHINE_GEMM_POINTS] = {16, 32, 64, 128, 256, 512, 1024};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

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
static double gemm_gflops(int n) {
  float *a = xmalloc(sizeof(float) * (size_t)n * (size_t)n);
  float *b = xmalloc(sizeof(float) * (size_t)n * (size_t)n);
  float *c = xmalloc(sizeof(float) * (size_t)n * (size_t)n);
  for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.01f, b[i] = (float)(i % 5) * 0.01f;
  double flops = 2.0 * n * n * n, best = 0;
  int reps = (int)MAX(1, 2e7 / flops);
  for (int trial = 0; trial < 5; trial++) {
    double t0 = now();
    for (int r = 0; r < reps; r++) astrt_sgemm(0, 0, n, n, n, 1, a, b, 0, c);
    double dt = now() - t0;
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
    double t0 = now();
    for (size_t i = 0; i < n; i++) b[i] = a[i] * 1.5f;
    double dt = now() - t0;
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
    double t0 = now();
    for (int r = 0; r < reps; r++) {
      for (size_t i = 0; i < n; i++) b[i] = a[i] * 1.5f + b[i] * 0.25f;
      float *t = a;
      a = b, b = t;
    }
    double dt = now() - t0;
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
  bool ok = fgets(line, sizeof line, f) && !strncmp(line, "astc-machine 2\n", 15);
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
  fprintf(f, "astc-machine 2\n%s\n", key);
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
    for (int i = 0; i < MACHINE_GEMM_POINTS; i++) m->gemm_gflops[i] = gemm_gflops(gemm_sizes[i]);
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
