/* dist_backend.h — the MPI side of data parallelism (dist.c), internal to
 * libastrt.
 *
 * libastrt itself does not link MPI: a process is rank 0 of 1 unless the
 * application also links libastrt_mpi (CMake astrt::mpi, pkg-config
 * astrt-mpi; `astc build` does when astc was built with MPI), whose
 * dist_mpi.c defines astrt_dist_mpi. dist.c refers to it weakly, so that it
 * is NULL where the archive is not linked; the archive's link options force
 * it in (-Wl,--undefined=astrt_dist_mpi).
 */
#ifndef ASTRT_DIST_BACKEND_H
#define ASTRT_DIST_BACKEND_H

#include <stdint.h>

#include "astrt.h"

typedef struct astrt_dist_backend {
  /* joins the job (MPI_Init the first time, finalized at exit): rank, size */
  astrt_status (*init)(int *rank, int *size);
  /* sums x[0..n) over the ranks in place; ends the whole job on failure */
  void (*sum_floats)(float *x, int64_t n);
  astrt_status (*sum_doubles)(double *v, int n);
  /* the least of *v over the ranks, into *v */
  astrt_status (*min_int)(int *v);
  astrt_status (*bcast)(void *buf, int64_t bytes, int root);
  /* all[r * n + k] = rank r's mine[k] */
  astrt_status (*allgather_u64)(const uint64_t *mine, int n, uint64_t *all);
  /* ends the whole job at once (after a message on stderr) */
  void (*abort_job)(void);
} astrt_dist_backend;

extern const astrt_dist_backend astrt_dist_mpi;

#endif
