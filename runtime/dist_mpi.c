/* dist_mpi.c — the MPI backend of data-parallel training (dist_backend.h):
 * the archive libastrt_mpi, linked besides libastrt by what runs under
 * mpirun (astc build's executables and astc itself when astc is built with
 * MPI; embedding applications through astrt::mpi or astrt-mpi).
 */
#include "dist_backend.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

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

static astrt_status init(int *rank, int *size) {
  int inited = 0, provided;
  MPI_Initialized(&inited);
  if (!inited) {
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "initialisation");
    atexit(finalize);
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  return ASTRT_OK;
}

/* in chunks: MPI counts are int */
static void sum_floats(float *x, int64_t total) {
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

static astrt_status sum_doubles(double *v, int n) {
  int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? ASTRT_OK : mpi_fail(rc, "allreduce");
}

static astrt_status min_int(int *v) {
  int rc = MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? ASTRT_OK : mpi_fail(rc, "allreduce");
}

static astrt_status bcast(void *buf, int64_t bytes, int root) {
  for (int64_t done = 0; done < bytes;) {
    int chunk = bytes - done > (1 << 30) ? 1 << 30 : (int)(bytes - done);
    int rc = MPI_Bcast((char *)buf + done, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcast");
    done += chunk;
  }
  return ASTRT_OK;
}

static astrt_status allgather_u64(const uint64_t *mine, int n, uint64_t *all) {
  int rc = MPI_Allgather(mine, n, MPI_UINT64_T, all, n, MPI_UINT64_T, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? ASTRT_OK : mpi_fail(rc, "allgather");
}

static void abort_job(void) { MPI_Abort(MPI_COMM_WORLD, 1); }

const astrt_dist_backend astrt_dist_mpi = {init, sum_floats, sum_doubles, min_int, bcast, allgather_u64, abort_job};
