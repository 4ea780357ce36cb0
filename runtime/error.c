/* error.c — the per-thread failure message behind astrt_last_error(). */
#include "astrt.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

const char *astrt_last_error(void) { return last_error; }

astrt_status astrt_fail(astrt_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return st;
}
