/* dist.c — data-parallel training over MPI: joining the job, summing
 * gradients and statistics over the ranks, agreeing on failures.
 *
 * A process is part of an MPI job when mpirun started it (OpenMPI sets
 * OMPI_COMM_WORLD_SIZE; PMI/PMIx launchers set PMI_SIZE or PMIX_RANK). Then,
 * if the MPI backend is linked (libastrt_mpi, dist_backend.h; libastrt
 * itself does not need MPI), MPI is initialised on first use and finalised
 * at exit; without it such a start is an error that says what to link. A
 * process started any other way is rank 0 of 1 and every function here
 * returns at once.
 *
 * Gradients (astrt_dist_allreduce, called by generated code) are scaled by
 * the rank's share of the global batch and summed with MPI_Allreduce: in
 * place where the compiler laid them out back to back (its gradient blocks,
 * docs/architecture.md), the rest packed into one buffer and unpacked. The
 * summation order is MPI's, the same on every rank, so all ranks hold
 * identical gradients and apply identical updates.
 */
#include "dist_backend.h"
#include "driver_internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* defined by libastrt_mpi when it is linked; NULL otherwise */
extern const astrt_dist_backend astrt_dist_mpi __attribute__((weak));

static int g_rank = 0, g_size = 1, g_ready = 0;
static const astrt_dist_backend *g_mpi;

/* the size a launcher announced in the environment, or 0 */
static int launched_size(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (!v) v = getenv("PMI_SIZE");
  if (!v) v = getenv("PMIX_SIZE");
  return v ? atoi(v) : (getenv("PMIX_RANK") ? 2 : 0);
}

static int mpi_linked(void) { return &astrt_dist_mpi != NULL; }

astrt_status astrt_dist_init(int *rank, int *size) {
  if (!g_ready) {
    int announced = launched_size();
    if (announced > 0 && mpi_linked()) {
      astrt_status st = astrt_dist_mpi.init(&g_rank, &g_size);
      if (st) return st;
      g_mpi = &astrt_dist_mpi;
    } else if (announced > 1) {
      return astrt_fail(ASTRT_ERR_ARG, "this program was started by an MPI launcher (%d processes) but was linked "
                        "without MPI: libastrt alone trains in one process. Link the MPI backend too (CMake: "
                        "astrt::mpi from find_package(astrt COMPONENTS mpi); pkg-config: astrt-mpi); astc build "
                        "links it when astc was built with MPI (-DASTC_MPI=ON; apt-get install -y libopenmpi-dev "
                        "openmpi-bin). Or run it without mpirun", announced);
    }
    g_ready = 1;
  }
  *rank = g_rank;
  *size = g_size;
  return ASTRT_OK;
}

int astrt_dist_size(void) { return g_size; }
int astrt_dist_rank(void) { return g_rank; }

/* processes of this job on this machine (for the default thread count) */
int astrt_dist_local_size(void) {
  const char *v = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  int n = v ? atoi(v) : g_size;
  return n > 0 ? n : 1;
}

static float *g_pack;
static int64_t g_pack_cap;

static void free_pack(void) { free(g_pack); }

/* the end of the run of buffers from k in which each starts at the first
 * 64-byte boundary after the previous one's end: the compiler's gradient
 * blocks (gradients at their parameters' distances) and adjacent arena
 * slots, whose padding up to that boundary is their own */
#define RUN_MIN 4096  /* smaller runs are packed with the rest */
static int64_t run_end(float **ptrs, const int64_t *counts, int64_t n, int64_t k) {
  int64_t j = k + 1;
  while (j < n && (uintptr_t)ptrs[j] == (((uintptr_t)(ptrs[j - 1] + counts[j - 1]) + 63) & ~(uintptr_t)63)) j++;
  return j;
}

/* whether the run [k, j) is reduced where it lies (else it is packed) */
static bool run_in_place(float **ptrs, const int64_t *counts, int64_t k, int64_t j) {
  return j - k > 1 && ptrs[j - 1] + counts[j - 1] - ptrs[k] >= RUN_MIN;
}

void astrt_dist_allreduce(float **ptrs, const int64_t *counts, int64_t n, float weight) {
  if (g_size <= 1 || !g_mpi) return;
  /* runs of adjacent buffers: scaled and reduced where they are (the few
   * padding floats between them too: the update zeroes those); the rest
   * packed into one buffer, reduced, unpacked */
  int64_t total = 0;
  for (int64_t k = 0, j; k < n; k = j) {
    j = run_end(ptrs, counts, n, k);
    if (run_in_place(ptrs, counts, k, j)) {
      int64_t span = ptrs[j - 1] + counts[j - 1] - ptrs[k];
      for (int64_t i = 0; i < span; i++) ptrs[k][i] *= weight;
      g_mpi->sum_floats(ptrs[k], span);
    } else {
      for (int64_t q = k; q < j; q++) total += counts[q];
    }
  }
  if (total == 0) return;
  if (total > g_pack_cap) {
    float *grown = realloc(g_pack, (size_t)total * sizeof *grown);
    if (!grown) {
      fprintf(stderr, "astrt: out of memory packing %lld gradient values for the allreduce\n", (long long)total);
      g_mpi->abort_job();
      return;
    }
    if (!g_pack) atexit(free_pack);
    g_pack = grown, g_pack_cap = total;
  }
  for (int pass = 0; pass < 2; pass++) {  /* pack, reduce, unpack */
    float *p = g_pack;
    for (int64_t k = 0, j; k < n; k = j) {
      j = run_end(ptrs, counts, n, k);
      if (run_in_place(ptrs, counts, k, j)) continue;
      for (int64_t q = k; q < j; p += counts[q], q++)
        if (pass == 0)
          for (int64_t i = 0; i < counts[q]; i++) p[i] = weight * ptrs[q][i];
        else
          memcpy(ptrs[q], p, (size_t)counts[q] * sizeof(float));
    }
    if (pass == 0) g_mpi->sum_floats(g_pack, total);
  }
}

astrt_status astrt_dist_sum(double *v, int n) {
  if (g_size <= 1 || !g_mpi) return ASTRT_OK;
  return g_mpi->sum_doubles(v, n);
}

astrt_status astrt_dist_bcast(void *buf, int64_t bytes, int root) {
  if (g_size <= 1 || !g_mpi) return ASTRT_OK;
  return g_mpi->bcast(buf, bytes, root);
}

astrt_status astrt_dist_agree(astrt_status st) {
  if (g_size <= 1 || !g_mpi) return st;
  int first = st ? g_rank : g_size;
  astrt_status rc = g_mpi->min_int(&first);
  if (rc) return rc;
  if (first == g_size) return ASTRT_OK;
  struct {
    int status;
    char msg[1024];
  } why;
  memset(&why, 0, sizeof why);
  if (g_rank == first) {
    why.status = (int)st;
    snprintf(why.msg, sizeof why.msg, "%s", astrt_last_error());
  }
  if ((rc = g_mpi->bcast(&why, (int64_t)sizeof why, first))) return rc;
  if (g_rank == first) return st;
  return astrt_fail((astrt_status)why.status, "rank %d failed: %s", first, why.msg);
}

astrt_status astrt_dist_check_same(const uint64_t *digest, int n, const char *const *what) {
  if (g_size <= 1 || !g_mpi) return ASTRT_OK;
  uint64_t *all = malloc((size_t)g_size * (size_t)n * sizeof *all);
  if (!all) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory comparing the ranks");
  astrt_status st = g_mpi->allgather_u64(digest, n, all);
  for (int r = 1; r < g_size && !st; r++)
    for (int k = 0; k < n && !st; k++)
      if (all[(size_t)r * (size_t)n + (size_t)k] != all[k])
        st = astrt_fail(ASTRT_ERR_MISMATCH, "the MPI ranks disagree: rank %d has a different %s than rank 0; "
                        "every rank must run the same program with the same data and options", r, what[k]);
  free(all);
  return st;
}
