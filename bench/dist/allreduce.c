/* allreduce.c — time of one in-place MPI_Allreduce (sum of floats), the
 * call a data-parallel astc step makes once (runtime/dist.c).
 *
 *   mpicc -O2 allreduce.c -o allreduce && mpirun -np 2 ./allreduce N...
 *
 * For each N (floats): the median over 7 repetitions of the mean time of
 * 200 calls; prints "N seconds" per line on rank 0. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (int a = 1; a < argc; a++) {
    int n = atoi(argv[a]), calls = 200;
    float *buf = calloc((size_t)(n > 0 ? n : 1), sizeof *buf);
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);
    double t[7];
    for (int rep = 0; rep < 7; rep++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      for (int i = 0; i < calls; i++) MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      t[rep] = (MPI_Wtime() - t0) / calls;
    }
    qsort(t, 7, sizeof t[0], cmp);
    if (rank == 0) printf("%d %.9f\n", n, t[3]);
    free(buf);
  }
  MPI_Finalize();
  return 0;
}
