/* test_fixtures.c — helpers shared by every unit test (see test_fixtures.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* mkdtemp, nftw, unshare, program_invocation_short_name */
#endif
#include "test_fixtures.h"

#include <errno.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* ---- the temporary directory ---------------------------------------------- */

char fx_tmpdir[512];

/* $TMPDIR/name-XXXXXX (or under /tmp) into buf */
static void temp_template(char *buf, size_t cap, const char *what) {
  const char *base = getenv("TMPDIR");
  snprintf(buf, cap, "%s/astc-%s-%s-XXXXXX", base && *base ? base : "/tmp", what,
           program_invocation_short_name);
}

void fx_setup(void) {
  temp_template(fx_tmpdir, sizeof fx_tmpdir, "test");
  ck_assert_ptr_nonnull(mkdtemp(fx_tmpdir));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

void fx_teardown(void) { nftw(fx_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

const char *fx_path(const char *name) {
  static char bufs[8][1024];
  static int next;
  char *buf = bufs[next++ % 8];
  snprintf(buf, sizeof bufs[0], "%s/%s", fx_tmpdir, name);
  return buf;
}

/* ---- files ------------------------------------------------------------------ */

void fx_write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

void fx_write_text(const char *path, const char *text) { fx_write_bytes(path, text, strlen(text)); }

void fx_write_gz(const char *path, const void *data, size_t len) {
  gzFile gz = gzopen(path, "wb");
  ck_assert_ptr_nonnull(gz);
  ck_assert_int_eq(gzwrite(gz, data, (unsigned)len), (int)len);
  ck_assert_int_eq(gzclose(gz), Z_OK);
}

void fx_make_dir(const char *path) { ck_assert_int_eq(mkdir(path, 0755), 0); }

long fx_file_size(const char *path) {
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  return (long)sb.st_size;
}

unsigned char *fx_read_bytes(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  unsigned char *buf = NULL;
  size_t cap = 0;
  *len = 0;
  for (;;) {
    if (*len + 4096 > cap) {
      cap = cap ? 2 * cap : 8192;
      buf = realloc(buf, cap);
      ck_assert_ptr_nonnull(buf);
    }
    size_t got = fread(buf + *len, 1, cap - *len - 1, f);
    *len += got;
    if (got == 0) break;
  }
  ck_assert_msg(!ferror(f), "cannot read %s", path);
  fclose(f);
  buf[*len] = 0;
  return buf;
}

void fx_read_text(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

/* ---- data files ---------------------------------------------------------------- */

size_t fx_put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
  return 4;
}

void fx_write_idx(const char *path, int type, int rank, const uint32_t *dims, const void *payload,
                  size_t len, int gz) {
  size_t size = 4 + 4 * (size_t)rank + len;
  unsigned char *buf = malloc(size);
  ck_assert_ptr_nonnull(buf);
  unsigned char *p = buf;
  *p++ = 0, *p++ = 0, *p++ = (unsigned char)type, *p++ = (unsigned char)rank;
  for (int i = 0; i < rank; i++) p += fx_put_be32(p, dims[i]);
  if (len) memcpy(p, payload, len);
  if (gz) fx_write_gz(path, buf, size);
  else fx_write_bytes(path, buf, size);
  free(buf);
}

void fx_write_npy(const char *path, int major, const char *dict, const void *data, size_t len) {
  size_t pre = major == 1 ? 10 : 12, dlen = strlen(dict);
  size_t hlen = (pre + dlen + 1 + 63) / 64 * 64 - pre;
  unsigned char *buf = calloc(1, pre + hlen + len);
  ck_assert_ptr_nonnull(buf);
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
  memset(buf + pre, ' ', hlen);
  memcpy(buf + pre, dict, dlen);
  buf[pre + hlen - 1] = '\n';
  if (len) memcpy(buf + pre + hlen, data, len);
  fx_write_bytes(path, buf, pre + hlen + len);
  free(buf);
}

/* ---- pseudo-random numbers ------------------------------------------------------------ */

float fx_lcg_pm1(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(*s >> 11) / 9007199254740992.0) * 2 - 1;
}

/* ---- prerequisites ---------------------------------------------------------------- */

static int run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}

int fx_main(int argc, char **argv, Suite *(*suite)(void), const FxExtra *extra, int nextra) {
  if (argc == 1) return run_suite(suite());
  if (argc == 2)
    for (int i = 0; i < nextra; i++) {
      if (strcmp(argv[1], extra[i].name)) continue;
      const char *why = extra[i].missing();
      if (why) {
        printf("SKIP: %s %s: %s\n", argv[0], extra[i].name, why);
        return FX_SKIP;
      }
      return run_suite(extra[i].suite());
    }
  fprintf(stderr, "usage: %s [", argv[0]);
  for (int i = 0; i < nextra; i++) fprintf(stderr, "%s%s", i ? " | " : "", extra[i].name);
  fprintf(stderr, "]\n  no argument: the tests that need nothing the machine may lack; NAME: those "
                  "that need something (exit %d where it is missing)\n", FX_SKIP);
  return 2;
}

const char *fx_missing_fashion_mnist(void) {
  struct stat sb;
  if (stat(FX_FASHION_DIR, &sb) == 0 && S_ISDIR(sb.st_mode)) return NULL;
  return FX_FASHION_DIR " is not installed (apt-get install dataset-fashion-mnist)";
}

const char *fx_missing_dev_full(void) {
  struct stat sb;
  if (stat("/dev/full", &sb) != 0) return "there is no /dev/full";
  if (!S_ISCHR(sb.st_mode)) return "/dev/full is not a character device";
  if (access("/dev/full", W_OK) != 0) return "/dev/full is not writable";
  return NULL;
}

const char *fx_missing_tmpfs(void) {
  static char why[768];
  char dir[512];
  temp_template(dir, sizeof dir, "probe");
  if (!mkdtemp(dir)) {
    snprintf(why, sizeof why, "cannot make a directory %s: %s", dir, strerror(errno));
    return why;
  }
  /* in a child, so that this process keeps its mount namespace */
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0)
      _exit(errno ? errno : 1);
    _exit(umount(dir) == 0 ? 0 : errno);
  }
  int status = 0;
  int waited = pid > 0 ? waitpid(pid, &status, 0) : -1;
  rmdir(dir);
  if (waited < 0) {
    snprintf(why, sizeof why, "cannot fork to try: %s", strerror(errno));
    return why;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return NULL;
  snprintf(why, sizeof why, "cannot mount a tmpfs in a private mount namespace (%s)",
           WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "the probe crashed");
  return why;
}

const char *fx_missing_cpu_flags(const char *flags) {
  static char why[512];
#if !defined(__x86_64__)
  snprintf(why, sizeof why, "not an x86-64 CPU (needs %s)", flags);
  return why;
#else
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) {
    snprintf(why, sizeof why, "cannot read /proc/cpuinfo (needs %s): %s", flags, strerror(errno));
    return why;
  }
  static char line[8192];
  int found = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "flags", 5)) {
      found = 1;
      break;
    }
  fclose(f);
  if (!found) {
    snprintf(why, sizeof why, "/proc/cpuinfo has no flags line (needs %s)", flags);
    return why;
  }
  char lacking[256] = "";
  const char *p = flags;
  while (*p) {
    size_t n = strcspn(p, " ");
    char want[64];
    snprintf(want, sizeof want, " %.*s", (int)n, p);
    /* a whole word of the flags line: " avx2" followed by a space or the end */
    const char *hit = line;
    int have = 0;
    while ((hit = strstr(hit, want))) {
      char after = hit[strlen(want)];
      if (after == ' ' || after == '\n' || after == '\0') {
        have = 1;
        break;
      }
      hit++;
    }
    if (!have)
      snprintf(lacking + strlen(lacking), sizeof lacking - strlen(lacking), "%s%.*s", *lacking ? " " : "",
               (int)n, p);
    p += n;
    while (*p == ' ') p++;
  }
  if (!*lacking) return NULL;
  snprintf(why, sizeof why, "this CPU lacks %s (/proc/cpuinfo flags)", lacking);
  return why;
#endif
}

const char *fx_missing_test_hooks(void) {
#ifdef ASTRT_TEST_HOOKS
  return NULL;
#else
  return "libastrt was built without its test hooks (configure with -DASTRT_TEST_HOOKS=ON)";
#endif
}
