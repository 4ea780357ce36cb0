/* machine.h — the machine model behind astc cost (machine.c). */
#ifndef ASTC_MACHINE_H
#define ASTC_MACHINE_H

#include "common.h"

#define MACHINE_GEMM_POINTS 7

typedef struct Machine {
  char description[384];   /* CPU model, OpenBLAS kernels, threads: the cache key */
  int threads;
  double gemm_gflops[MACHINE_GEMM_POINTS];  /* square sgemm at 16, 32, ... 1024 */
  double bandwidth_gbs;    /* streaming read + write, from memory */
  double cache_gbs;        /* read + write within the last-level cache (0: unknown) */
  double cache_bytes;      /* last-level cache size */
  char measured[64];       /* date of the measurement */
  char cache[512];         /* where it is cached */
  bool cached;
} Machine;

/* Loads the cached measurement for this machine, or measures (about two
 * seconds) and caches it. */
bool machine_get(Machine *m, bool recalibrate, bool verbose);
/* sgemm throughput (FLOP/s) expected for a GEMM of `flops` operations. */
double machine_gemm_rate(const Machine *m, double flops);

#endif
