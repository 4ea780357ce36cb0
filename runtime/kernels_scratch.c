/* kernels_scratch.c — the per-thread growable scratch buffer used by the
 * kernels (im2col matrices, gathered gradients), and the kernels' fatal-error
 * exit.
 *
 * The buffer lives in two places: a _Thread_local pointer/capacity pair for
 * the fast path, and a pthread key whose destructor frees the buffer when a
 * thread exits without calling astrt_kernels_release_scratch(). The main
 * thread's buffer is not freed by exit(); programs (and tests) release it.
 */
#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local float *scratch_buf;   /* [scratch_cap] floats, or NULL */
static _Thread_local size_t scratch_cap;   /* capacity in floats            */

static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;
static int scratch_key_ok;  /* 0 if pthread_key_create failed */

_Noreturn void astrt_kernel_fatal(const char *fmt, ...) {
  va_list ap;
  fputs("astrt: fatal: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  abort();
}

static void scratch_thread_exit(void *p) { free(p); }

static void scratch_key_init(void) {
  scratch_key_ok = pthread_key_create(&scratch_key, scratch_thread_exit) == 0;
}

/* Records `p` as this thread's buffer for the thread-exit destructor. */
static void scratch_register(float *p) {
  pthread_once(&scratch_once, scratch_key_init);
  if (scratch_key_ok) pthread_setspecific(scratch_key, p);
}

float *astrt_scratch(size_t nfloats) {
  if (nfloats <= scratch_cap && scratch_buf) return scratch_buf;
  /* Grow geometrically so a slowly increasing sequence of requests does not
   * reallocate every time; round the size up to the alignment (aligned_alloc
   * wants a multiple of it). */
  size_t want = nfloats < 1024 ? 1024 : nfloats;
  if (want < scratch_cap + scratch_cap / 2) want = scratch_cap + scratch_cap / 2;
  const size_t per_line = ASTRT_SCRATCH_ALIGN / sizeof(float);
  if (want > (SIZE_MAX - ASTRT_SCRATCH_ALIGN) / sizeof(float))
    astrt_kernel_fatal("kernel scratch request of %zu floats overflows", nfloats);
  want = (want + per_line - 1) / per_line * per_line;

  free(scratch_buf);  /* contents need not survive: no realloc copy */
  scratch_buf = NULL;
  scratch_cap = 0;
  float *p = aligned_alloc(ASTRT_SCRATCH_ALIGN, want * sizeof(float));
  if (!p) {
    scratch_register(NULL);
    astrt_kernel_fatal("out of memory allocating %zu bytes of kernel scratch",
                       want * sizeof(float));
  }
  scratch_buf = p;
  scratch_cap = want;
  scratch_register(p);
  return p;
}

size_t astrt_scratch_capacity(void) { return scratch_cap; }

void astrt_kernels_release_scratch(void) {
  if (!scratch_buf) return;
  free(scratch_buf);
  scratch_buf = NULL;
  scratch_cap = 0;
  scratch_register(NULL);
}
