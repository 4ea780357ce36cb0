/* blas_select.c — making sure OpenBLAS runs its kernels for this CPU.
 *
 * Debian 12's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH but does not know
 * recent CPUs (Sapphire Rapids-class Xeons, for one): it falls back to its
 * generic SSE3 "Prescott" kernels, 2-4x slower than its AVX2 (Haswell) or
 * AVX-512 (SkylakeX) ones. It reads OPENBLAS_CORETYPE only when it is loaded,
 * so a program that finds itself on a fallback core re-executes itself once
 * with the right core type. OPENBLAS_CORETYPE set by the user is respected,
 * and ASTC_NO_REEXEC=1 turns this off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrt_kernels.h"

char *openblas_get_corename(void);

static int is_fallback_core(const char *core) {
  static const char *const fallback[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom"};
  for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++)
    if (core && strcmp(core, fallback[i]) == 0) return 1;
  return 0;
}

const char *astrt_blas_corename(void) { return openblas_get_corename(); }

const char *astrt_blas_best_core(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return NULL;
}

void astrt_blas_reexec_if_needed(char **argv) {
  const char *off = getenv("ASTC_NO_REEXEC");
  if (getenv("OPENBLAS_CORETYPE") || (off && *off && strcmp(off, "0") != 0)) return;
  if (!is_fallback_core(openblas_get_corename())) return;
  const char *best = astrt_blas_best_core();
  if (!best || setenv("OPENBLAS_CORETYPE", best, 1) != 0) return;
  fflush(NULL);
  execv("/proc/self/exe", argv);
  /* exec failed: carry on with the slow kernels */
  unsetenv("OPENBLAS_CORETYPE");
}
