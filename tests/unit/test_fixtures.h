/* test_fixtures.h — helpers shared by every unit test (test_fixtures.c,
 * linked into each of them by astc_unit_test in tests/CMakeLists.txt):
 *
 *   - a fresh temporary directory per test (fx_setup / fx_teardown as a
 *     Check checked fixture), and paths inside it (fx_path);
 *   - writing and reading whole files, with every step asserted;
 *   - data files by hand: IDX (raw or gzip) and NPY;
 *   - ck_assert_error_has: the runtime's last error message contains a part;
 *   - prerequisites that a machine may lack (a data set, /dev/full, a mount
 *     namespace, an instruction set): the tests that need one live in a
 *     suite of their own, run by fx_main as a separate ctest entry
 *     (`test_x NAME`) that prints "SKIP: NAME: reason" and exits with
 *     FX_SKIP (77, the entry's SKIP_RETURN_CODE) where it is missing. ctest
 *     then counts and lists it as skipped, instead of a test that returns
 *     early and passes having checked nothing. Inside such a suite the
 *     prerequisite is asserted, never tested and skipped over.
 */
#ifndef ASTC_TEST_FIXTURES_H
#define ASTC_TEST_FIXTURES_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- the temporary directory ---------------------------------------------- */

/* $TMPDIR (or /tmp)/astc-test-PROGRAM-XXXXXX, made by fx_setup. */
extern char fx_tmpdir[512];

/* A checked fixture: makes fx_tmpdir (mkdtemp) ... */
void fx_setup(void);
/* ... and removes it with everything in it. */
void fx_teardown(void);
/* fx_tmpdir/name, in one of 8 rotating buffers. */
const char *fx_path(const char *name);

/* ---- files ------------------------------------------------------------------ */

void fx_write_bytes(const char *path, const void *data, size_t len);
void fx_write_text(const char *path, const char *text);
void fx_write_gz(const char *path, const void *data, size_t len);
void fx_make_dir(const char *path);
long fx_file_size(const char *path);
/* The whole file (malloc'ed, with a NUL after the last byte), its length in *len. */
unsigned char *fx_read_bytes(const char *path, size_t *len);
/* Up to cap-1 bytes of the file into buf, NUL-terminated. */
void fx_read_text(const char *path, char *buf, size_t cap);

/* ---- data files ---------------------------------------------------------------- */

/* v as 4 big-endian bytes at p; returns 4. */
size_t fx_put_be32(unsigned char *p, uint32_t v);
/* An IDX file: header (type, rank, dims), then `len` payload bytes (already
 * big-endian), raw or gzip-compressed. */
void fx_write_idx(const char *path, int type, int rank, const uint32_t *dims, const void *payload,
                  size_t len, int gz);
/* A .npy file of format version major.0 with header dict `dict` (padded with
 * spaces and a newline to a multiple of 64 bytes, as numpy does) and `len`
 * data bytes. */
void fx_write_npy(const char *path, int major, const char *dict, const void *data, size_t len);

/* ---- assertions ------------------------------------------------------------------ */

/* Asserts that the runtime's last error message (astrt_last_error, astrt.h)
 * contains `part`. */
#define ck_assert_error_has(part)                                           \
  ck_assert_msg(strstr(astrt_last_error(), (part)) != NULL,                 \
                "error message lacks \"%s\": %s", (part), astrt_last_error())

/* ---- pseudo-random numbers ------------------------------------------------------------ */

/* The next value in (-1, 1) of a 64-bit LCG whose state is *s. */
float fx_lcg_pm1(uint64_t *s);

/* ---- prerequisites ---------------------------------------------------------------- */

#define FX_SKIP 77
#define FX_FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* A suite that needs something the machine may lack. `missing` returns NULL
 * when it is there, else why it is not (a static string). */
typedef struct FxExtra {
  const char *name;             /* the ctest entry is test_x.NAME */
  Suite *(*suite)(void);
  const char *(*missing)(void);
} FxExtra;

/* The main of a unit test. No argument: runs suite() (which must not need
 * anything the machine may lack). One argument NAME: runs extra NAME, or,
 * when its prerequisite is missing, prints "SKIP: NAME: reason" and returns
 * FX_SKIP. Returns 0 when every test passed, 1 otherwise, 2 on bad usage. */
int fx_main(int argc, char **argv, Suite *(*suite)(void), const FxExtra *extra, int nextra);

/* Prerequisite checks for FxExtra.missing (NULL: present). */
const char *fx_missing_fashion_mnist(void);  /* FX_FASHION_DIR is not a directory */
const char *fx_missing_dev_full(void);       /* /dev/full is not a writable character device */
const char *fx_missing_tmpfs(void);          /* no tmpfs can be mounted in a private mount namespace */
const char *fx_missing_test_hooks(void);     /* libastrt was built without ASTRT_TEST_HOOKS */
/* Every flag of the space-separated list is in /proc/cpuinfo's "flags" line
 * (and the CPU is x86-64); else names the flags that are not. */
const char *fx_missing_cpu_flags(const char *flags);

#endif
