/* dist.c — data-parallel training over MPI: joining the job, summing
 * gradients and statistics over the ranks, agreeing on failures.
 *
 * A process is part of an MPI job when mpirun started it (OpenMPI sets
 * OMPI_COMM_WORLD_SIZE; PMI/PMIx launchers set PMI_SIZE or PMIX_RANK). Then,
 * if libastrt was built with MPI (ASTRT_HAVE_MPI, CMake option ASTC_MPI),
 * MPI is initialised on first use and finalised at exit; without MPI such a
 * start is an error that says how to rebuild. A process started any other
 * way is rank 0 of 1 and every function here returns at once.
 *
 * Gradients (astrt_dist_allreduce, called by generated code) are scaled by
 * the rank's share of the global batch and summed with MPI_Allreduce: in
 * place where the compiler laid them out back to back (its gradient blocks,
 * docs/architecture.md), the rest packed into one buffer and unpacked. The
 * summation order is MPI's, the same on every rank, so all ranks hold
 * identical gradients and apply identical updates.
 */
#include "driver_internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ASTRT_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_ready = 0;

/* the size a launcher announced in the environment, or 0 */
static int launched_size(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (!v) v = getenv("PMI_SIZE");
  if (!v) v = getenv("PMIX_SIZE");
  return v ? atoi(v) : (getenv("PMIX_RANK") ? 2 : 0);
}

#ifdef ASTRT_HAVE_MPI
static void finalize(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

static astrt_status mpi_fail(int rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return astrt_fail(ASTRT_ERR_IO, "MPI %s failed: %.*s", what, len, msg);
}
#endif

astrt_status astrt_dist_init(int *rank, int *size) {
  if (!g_ready) {
    int announced = launched_size();
#ifdef ASTRT_HAVE_MPI
    if (announced > 0) {
      int inited = 0, provided;
      MPI_Initialized(&inited);
      if (!inited) {
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "initialisation");
        atexit(finalize);
      }
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
      MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
      MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    }
#else
    if (announced > 1)
      return astrt_fail(ASTRT_ERR_ARG, "this program was started by an MPI launcher (%d processes) but its libastrt "
                        "was built without MPI; rebuild astc with -DASTC_MPI=ON (apt-get install -y "
                        "libopenmpi-dev openmpi-bin), or run it without mpirun", announced);
#endif
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

#ifdef ASTRT_HAVE_MPI
static float *g_pack;
static int64_t g_pack_cap;

static void free_pack(void) { free(g_pack); }
#endif

#ifdef ASTRT_HAVE_MPI
/* sums x[0..total) over the ranks in place, in chunks (MPI counts are int) */
static void allreduce_in_place(float *x, int64_t total) {
  for (int64_t done = 0; done < total;) {
    int chunk = total - done > (1 << 30) ? 1 << 30 : (int)(total - done);
    int rc = MPI_Allreduce(MPI_IN_PLACE, x + done, chunk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
      fprintf(stderr, "astrt: %s\n", (mpi_fail(rc, "gradient allreduce"), astrt_last_error()));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    done += chunk;
  }
}

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
#endif

#ifdef ASTRT_HAVE_MPI
/* whether the run [k, j) is reduced where it lies (else it is packed) */
static bool run_in_place(float **ptrs, const int64_t *counts, int64_t k, int64_t j) {
  return j - k > 1 && ptrs[j - 1] + counts[j - 1] - ptrs[k] >= RUN_MIN;
}
#endif

void astrt_dist_allreduce(float **ptrs, const int64_t *counts, int64_t n, float weight) {
  if (g_size <= 1) return;
#ifdef ASTRT_HAVE_MPI
  /* runs of adjacent buffers: scaled and reduced where they are (the few
   * padding floats between them too: the update zeroes those); the rest
   * packed into one buffer, reduced, unpacked */
  int64_t total = 0;
  for (int64_t k = 0, j; k < n; k = j) {
    j = run_end(ptrs, counts, n, k);
    if (run_in_place(ptrs, counts, k, j)) {
      int64_t span = ptrs[j - 1] + counts[j - 1] - ptrs[k];
      for (int64_t i = 0; i < span; i++) ptrs[k][i] *= weight;
      allreduce_in_place(ptrs[k], span);
    } else {
      for (int64_t q = k; q < j; q++) total += counts[q];
    }
  }
  if (total == 0) return;
  if (total > g_pack_cap) {
    float *grown = realloc(g_pack, (size_t)total * sizeof *grown);
    if (!grown) {
      fprintf(stderr, "astrt: out of memory packing %lld gradient values for the allreduce\n", (long long)total);
      MPI_Abort(MPI_COMM_WORLD, 1);
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
    if (pass == 0) allreduce_in_place(g_pack, total);
  }
#else
  (void)ptrs, (void)counts, (void)n, (void)weight;
#endif
}

astrt_status astrt_dist_sum(double *v, int n) {
  if (g_size <= 1) return ASTRT_OK;
#ifdef ASTRT_HAVE_MPI
  int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "allreduce");
#else
  (void)v, (void)n;
#endif
  return ASTRT_OK;
}

astrt_status astrt_dist_bcast(void *buf, int64_t bytes, int root) {
  if (g_size <= 1) return ASTRT_OK;
#ifdef ASTRT_HAVE_MPI
  for (int64_t done = 0; done < bytes;) {
    int chunk = bytes - done > (1 << 30) ? 1 << 30 : (int)(bytes - done);
    int rc = MPI_Bcast((char *)buf + done, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcast");
    done += chunk;
  }
#else
  (void)buf, (void)bytes, (void)root;
#endif
  return ASTRT_OK;
}

astrt_status astrt_dist_agree(astrt_status st) {
  if (g_size <= 1) return st;
#ifdef ASTRT_HAVE_MPI
  int mine = st ? g_rank : g_size, first;
  int rc = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "allreduce");
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
  rc = MPI_Bcast(&why, (int)sizeof why, MPI_BYTE, first, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcast");
  if (g_rank == first) return st;
  return astrt_fail((astrt_status)why.status, "rank %d failed: %s", first, why.msg);
#else
  return st;
#endif
}

astrt_status astrt_dist_check_same(const uint64_t *digest, int n, const char *const *what) {
  if (g_size <= 1) return ASTRT_OK;
#ifdef ASTRT_HAVE_MPI
  uint64_t *all = malloc((size_t)g_size * (size_t)n * sizeof *all);
  if (!all) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory comparing the ranks");
  int rc = MPI_Allgather(digest, n, MPI_UINT64_T, all, n, MPI_UINT64_T, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) {
    free(all);
    return mpi_fail(rc, "allgather");
  }
  astrt_status st = ASTRT_OK;
  for (int r = 1; r < g_size && !st; r++)
    for (int k = 0; k < n && !st; k++)
      if (all[(size_t)r * (size_t)n + (size_t)k] != all[k])
        st = astrt_fail(ASTRT_ERR_MISMATCH, "the MPI ranks disagree: rank %d has a different %s than rank 0; "
                        "every rank must run the same program with the same data and options", r, what[k]);
  free(all);
  return st;
#else
  (void)digest, (void)n, (void)what;
  return ASTRT_OK;
#endif
}
