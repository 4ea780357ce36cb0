/* memcheck.c — how much memory this process can still use, so that a run
 * too large for the machine is refused with the numbers before it starts
 * (and a data file too large before it is read), instead of being killed by
 * the kernel halfway or thrashing. Linux overcommits: malloc of more than
 * the machine has usually succeeds and fails only when the pages are
 * touched, so the checks compare with what is available, not with what
 * malloc says.
 *
 * The limit is the least of:
 *   - MemAvailable in /proc/meminfo (free memory plus reclaimable caches);
 *   - the cgroup's memory.max minus memory.current plus its inactive file
 *     pages, at every level of the cgroup (v2), or memory.limit_in_bytes
 *     minus memory.usage_in_bytes (v1) — containers;
 *   - RLIMIT_AS (ulimit -v) minus the address space in use (VmSize).
 * ASTRT_TEST_MEM_AVAILABLE=BYTES replaces the measurement (a test hook, in
 * builds with -DASTRT_TEST_HOOKS=ON only); ASTRT_MEM_CHECK=off turns the
 * checks off.
 */
#include "robust.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* OpenBLAS's thread control (cblas.h declares it; we avoid the include). */
int openblas_get_num_threads(void);

/* "Key:   123 kB" in a /proc file, in bytes; -1 if missing */
static int64_t proc_kb(const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  size_t klen = strlen(key);
  int64_t v = -1;
  while (fgets(line, sizeof line, f)) {
    long long kb;
    if (!strncmp(line, key, klen) && line[klen] == ':' && sscanf(line + klen + 1, "%lld", &kb) == 1) {
      v = (int64_t)kb * 1024;
      break;
    }
  }
  fclose(f);
  return v;
}

/* one number in a file ("max" or unreadable: -1) */
static int64_t file_number(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long long v;
  int ok = fscanf(f, "%lld", &v) == 1;
  fclose(f);
  return ok && v >= 0 ? (int64_t)v : -1;
}

static int64_t stat_value(const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char name[128];
  long long v;
  int64_t out = 0;
  while (fscanf(f, "%127s %lld", name, &v) == 2)
    if (!strcmp(name, key)) {
      out = (int64_t)v;
      break;
    }
  fclose(f);
  return out;
}

/* the cgroup's room, or -1 if it has no limit */
static int64_t cgroup_available(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return -1;
  char line[4096], v2[4096] = "", v1[4096] = "";
  int have_v2 = 0, have_v1 = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (!strncmp(line, "0::", 3)) {
      snprintf(v2, sizeof v2, "%s", line + 3);
      have_v2 = 1;
    } else {
      char *c = strstr(line, ":memory:");
      if (c) {
        snprintf(v1, sizeof v1, "%s", c + 8);
        have_v1 = 1;
      }
    }
  }
  fclose(f);
  int64_t best = -1;
  char path[4300];
  if (have_v2) {  /* every level up to the root may limit */
    for (;;) {
      snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", v2);
      int64_t max = file_number(path);
      if (max >= 0) {
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", v2);
        int64_t cur = file_number(path);
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.stat", v2);
        int64_t room = max - (cur > 0 ? cur : 0) + stat_value(path, "inactive_file");
        if (room < 0) room = 0;
        if (best < 0 || room < best) best = room;
      }
      char *slash = strrchr(v2, '/');
      if (!slash || slash == v2) break;
      *slash = '\0';
    }
  } else if (have_v1) {
    snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", v1);
    int64_t max = file_number(path);
    if (max > 0 && max < ((int64_t)1 << 60)) {
      snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", v1);
      int64_t cur = file_number(path);
      best = max - (cur > 0 ? cur : 0);
      if (best < 0) best = 0;
    }
  }
  return best;
}

/* RLIMIT_AS's room, or -1 without a limit; *limit and *used get the limit
 * and the address space in use */
static int64_t address_space_room(int64_t *limit, int64_t *used) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
  *used = proc_kb("/proc/self/status", "VmSize");
  if (*used < 0) *used = 0;
  *limit = (int64_t)rl.rlim_cur;
  int64_t room = *limit - *used;
  return room > 0 ? room : 0;
}

static int64_t address_space_available(void) {
  int64_t limit, used;
  return address_space_room(&limit, &used);
}

int astrt_mem_available(int64_t *bytes, const char **why) {
  *bytes = 0;
  *why = "";
  const char *off = getenv("ASTRT_MEM_CHECK");
  if (off && (!strcmp(off, "off") || !strcmp(off, "0"))) return 0;
#ifdef ASTRT_TEST_HOOKS
  const char *test = getenv("ASTRT_TEST_MEM_AVAILABLE");
  if (test && *test) {
    char *end;
    errno = 0;
    long long v = strtoll(test, &end, 10);
    if (!errno && !*end && v >= 0) {
      *bytes = v;
      *why = "ASTRT_TEST_MEM_AVAILABLE";
      return 1;
    }
  }
#endif
  int known = 0;
  int64_t v = proc_kb("/proc/meminfo", "MemAvailable");
  if (v >= 0) {
    *bytes = v;
    *why = "MemAvailable in /proc/meminfo";
    known = 1;
  }
  if ((v = cgroup_available()) >= 0 && (!known || v < *bytes)) {
    *bytes = v;
    *why = "the memory limit of this process's cgroup (memory.max)";
    known = 1;
  }
  if ((v = address_space_available()) >= 0 && (!known || v < *bytes)) {
    *bytes = v;
    *why = "the address-space limit RLIMIT_AS (ulimit -v)";
    known = 1;
  }
  return known;
}

void astrt_fmt_bytes(double bytes, char *buf, size_t cap) {
  if (bytes >= 1e9) snprintf(buf, cap, "%.2f GB", bytes / 1e9);
  else if (bytes >= 1e6) snprintf(buf, cap, "%.1f MB", bytes / 1e6);
  else if (bytes >= 1e3) snprintf(buf, cap, "%.1f kB", bytes / 1e3);
  else snprintf(buf, cap, "%.0f bytes", bytes);
}

astrt_status astrt_mem_check(int64_t bytes, const char *what, const char *fix) {
  int64_t avail;
  const char *why;
  if (bytes <= 0 || !astrt_mem_available(&avail, &why) || bytes <= avail) return ASTRT_OK;
  char need[32], have[32];
  astrt_fmt_bytes((double)bytes, need, sizeof need);
  astrt_fmt_bytes((double)avail, have, sizeof have);
  return astrt_fail(ASTRT_ERR_NOMEM, "%s needs %s of memory, but only %s is available (%s); %s (to try anyway, "
                    "set ASTRT_MEM_CHECK=off)", what, need, have, why, fix);
}

/* ---- address space and OpenBLAS ------------------------------------------ */

/* OpenBLAS (0.3.x on x86-64: BUFFER_SIZE in common_x86_64.h, plus a page)
 * reserves this much address space for every thread that calls it: the
 * threads of astc's pool on their first product, and each of OpenBLAS's own
 * threads when it starts them as it is loaded. Until 0.3.30 (OpenBLAS pull
 * request 5303) a reservation that fails is retried forever. */
#define BLAS_BUFFER_BYTES (((int64_t)128 << 20) + 4096)
/* malloc's arenas and what the run allocates besides its estimate */
#define AS_MARGIN_BYTES ((int64_t)16 << 20)

int astrt_address_space_limited(void) {
  struct rlimit rl;
  return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

/* the default stack of a new thread (glibc: RLIMIT_STACK, 8 MiB if unlimited) */
static int64_t thread_stack_bytes(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < (1 << 16))
    return (int64_t)8 << 20;
  return (int64_t)rl.rlim_cur;
}

astrt_status astrt_address_space_check(double need, int threads, const char *who) {
  const char *off = getenv("ASTRT_MEM_CHECK");
  if (off && (!strcmp(off, "off") || !strcmp(off, "0"))) return ASTRT_OK;
  int64_t limit, used, room = address_space_room(&limit, &used);
  if (room < 0) return ASTRT_OK;
  if (threads < 1) threads = 1;
  /* a buffer per pool thread; a stack per pool thread besides this one and
   * for the batch prefetcher */
  double blas = (double)threads * (double)BLAS_BUFFER_BYTES;
  double stacks = (double)threads * (double)thread_stack_bytes();
  double total = need + blas + stacks + (double)AS_MARGIN_BYTES;
  if (total <= (double)room) return ASTRT_OK;
  char t_limit[32], t_used[32], t_need[32], t_blas[32], t_room[32];
  astrt_fmt_bytes((double)limit, t_limit, sizeof t_limit);
  astrt_fmt_bytes((double)used, t_used, sizeof t_used);
  astrt_fmt_bytes(need, t_need, sizeof t_need);
  astrt_fmt_bytes(blas, t_blas, sizeof t_blas);
  astrt_fmt_bytes((double)room, t_room, sizeof t_room);
  long long kb = (long long)(((double)used + total) / 1024.0) + 1;
  kb = (kb + 9999) / 10000 * 10000;  /* a round number */
  int blas_threads = openblas_get_num_threads();
  char own[320] = "";
  if (blas_threads > 1)
    snprintf(own, sizeof own, "; OpenBLAS started %d thread%s of its own when it was loaded, which astc does not "
             "use and which reserve as much each: OPENBLAS_NUM_THREADS=1 saves that", blas_threads - 1,
             blas_threads == 2 ? "" : "s");
  char fewer[96] = "";
  if (threads > 1) snprintf(fewer, sizeof fewer, ", or use fewer threads (--threads 1 reserves one buffer)");
  return astrt_fail(ASTRT_ERR_NOMEM,
                    "not enough address space to train %s under the limit set by ulimit -v (RLIMIT_AS %s, of which "
                    "%s is in use, %s left): the run needs %s, and OpenBLAS reserves 128 MiB of address space (not "
                    "memory) for each thread that multiplies matrices, %s for %d thread%s, with their stacks; raise "
                    "the limit to at least ulimit -v %lld (kB)%s%s (to try anyway, set ASTRT_MEM_CHECK=off)",
                    who, t_limit, t_used, t_room, t_need, t_blas, threads, threads == 1 ? "" : "s", kb, fewer, own);
}

int astrt_exit(int status) {
  if (astrt_address_space_limited()) {
    fflush(NULL);
    _exit(status);
  }
  return status;
}
