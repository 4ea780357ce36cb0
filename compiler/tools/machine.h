/* machine.h — the machine model behind astc cost (machine.c). */
#ifndef ASTC_MACHINE_H
#define ASTC_MACHINE_H

#include "astrt_kernels.h"
#include "codegen.h"
#include "common.h"
#include "ir.h"

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

/* ---- the GEMM backend of each product (a program's calibration) ------------------
 *
 * Every distinct product shape of a program (cg_gemm_sites: the batch
 * descriptor of each call site at the rows its function is planned for) is
 * timed once with every GEMM backend this build and CPU run for its operand
 * type (astrt_gemm_measure: on the runtime's default thread count, as a
 * training run), and the times are cached in gemm.txt next to machine.txt,
 * keyed by the machine (CPU, OpenBLAS kernels, libxsmm's instruction set,
 * threads) and the shape. Each shape then runs on the fastest backend; a
 * backend other than OpenBLAS (the default) must be at least GEMM_MARGIN
 * faster, so that noise does not flip a choice. */
#define GEMM_MARGIN 0.05

typedef struct GemmShape {
  astrt_gemm_batch d;                          /* backend: the one chosen */
  double seconds[ASTRT_NUM_GEMM_BACKENDS];     /* per call, measured (CPU time on one thread); < 0: cannot run it */
} GemmShape;

typedef struct GemmSite {
  const IrGraph *g;
  int node;
  int shape;                                   /* index into shapes */
} GemmSite;

typedef struct GemmPlan {
  GemmShape *shapes;
  int nshapes;
  GemmSite *sites;
  int nsites;
  int mode;              /* CgOptions.gemm: CG_GEMM_AUTO or CG_GEMM_FORCE(b) */
  int threads;           /* the runtime's default thread count (the times are on one) */
  int measured;          /* shapes measured now, not read from the cache */
  double seconds;        /* how long measuring them took */
  char cache[512];       /* the cache file */
} GemmPlan;

/* The plan of p's products under opt->gemm: with CG_GEMM_AUTO (and `measure`
 * false only with a forced backend) each shape's times, from the cache or
 * measured now (recalibrate: measured again), and the chosen backend; with a
 * forced backend, that one for every shape (times measured only if
 * `measure`). Points opt->gemm_choose and gemm_user at the plan, which must
 * outlive every use of opt. With verbose, notes on stderr: a measurement
 * (how many shapes, how long), and which path the program's 16-bit products
 * take on this machine. */
void machine_gemm_plan(const IrProgram *p, CgOptions *opt, bool measure, bool recalibrate, bool verbose,
                       GemmPlan *plan);
/* The shape of the product `node` of graph g, or NULL if g has none there. */
const GemmShape *machine_gemm_site(const GemmPlan *plan, const IrGraph *g, int node);
void machine_gemm_plan_free(GemmPlan *plan);

#endif
