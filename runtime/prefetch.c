/* prefetch.c — the next training batch, gathered on a spare core while the
 * current step runs (docs/performance.md).
 *
 * One worker thread and one spare pair of batch buffers. The driver asks
 * for the rows of the next step before it runs the current one; when the
 * next step comes, astrt_prefetch_take waits for the worker (usually long
 * done) and swaps the filled buffers with the driver's. The worker runs
 * astrt_batch_gather, the same code the driver runs otherwise, on the same
 * rows: results are bit-identical with or without prefetching. A request
 * is claimed by whoever comes to it first: when the driver needs a batch
 * the worker has not started (descheduled by other processes on a loaded
 * machine, where the spare core is not spare), the driver gathers it
 * itself instead of waiting a time slice for the worker. Only the
 * built-in data sets are prefetched (a user's fetch callback need not be
 * thread-safe), and only within an epoch (the next epoch's order is drawn
 * when it starts).
 */
#include "driver_internal.h"
#include "waiter.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct astrt_prefetch {
  pthread_t thread;
  astrt_waiter asked;        /* its count: requests made */
  atomic_long claimed;       /* requests claimed (by the worker or the driver) */
  atomic_long done;          /* requests gathered */
  atomic_int quit;
  /* the request */
  const astrt_split *split;
  const int64_t *perm;
  int64_t pos, rows;
  astrt_norm norm;
  /* the spare buffers */
  void *x, *y;
};

/* The worker waits with a waiter (waiter.h): it polls, yielding, for 2 ms
 * before it sleeps, so a small model's requests need no wake-up; with a
 * wake-up per step prefetching measured no faster than none. */
static void *worker(void *arg) {
  astrt_prefetch *pf = arg;
  long seen = 0;
  for (;;) {
    seen = astrt_waiter_wait(&pf->asked, seen);
    if (atomic_load(&pf->quit)) break;
    long mine = seen - 1;  /* one request at a time: `seen` is the outstanding one */
    if (!atomic_compare_exchange_strong(&pf->claimed, &mine, seen)) continue;  /* the driver took it */
    astrt_batch_gather(pf->split, pf->perm, pf->pos, pf->rows, pf->norm, pf->x, pf->y);
    atomic_store(&pf->done, seen);
  }
  return NULL;
}

astrt_prefetch *astrt_prefetch_start(int64_t x_bytes, int64_t y_bytes) {
  astrt_prefetch *pf = calloc(1, sizeof *pf);
  if (!pf) return NULL;
  pf->asked = (astrt_waiter)ASTRT_WAITER_INIT;
  pf->x = astrt_arena_alloc(x_bytes);
  pf->y = astrt_arena_alloc(y_bytes);
  if (!pf->x || !pf->y || pthread_create(&pf->thread, NULL, worker, pf) != 0) {
    free(pf->x);
    free(pf->y);
    free(pf);
    return NULL;  /* no prefetching: the driver gathers every batch itself */
  }
  return pf;
}

/* Returns when every request is gathered: an outstanding one the worker
 * has not claimed is gathered here; one it has, waited for (a gather is
 * short). */
static void wait_done(astrt_prefetch *pf) {
  long n = atomic_load(&pf->asked.count), prev = n - 1;
  if (atomic_load(&pf->done) != n && atomic_compare_exchange_strong(&pf->claimed, &prev, n)) {
    astrt_batch_gather(pf->split, pf->perm, pf->pos, pf->rows, pf->norm, pf->x, pf->y);
    atomic_store(&pf->done, n);
  }
  while (atomic_load(&pf->done) != n) sched_yield();
}

void astrt_prefetch_request(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                            int64_t rows, astrt_norm norm) {
  wait_done(pf);
  pf->split = split, pf->perm = perm, pf->pos = pos, pf->rows = rows, pf->norm = norm;
  astrt_waiter_post(&pf->asked);  /* publishes the fields */
}

int astrt_prefetch_take(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                        int64_t rows, void **x, void **y) {
  wait_done(pf);
  if (!pf->split || pf->split != split || pf->perm != perm || pf->pos != pos || pf->rows != rows) return 0;
  void *fx = pf->x, *fy = pf->y;
  pf->x = *x, pf->y = *y;
  *x = fx, *y = fy;
  pf->split = NULL;  /* taken */
  return 1;
}

void astrt_prefetch_stop(astrt_prefetch *pf) {
  if (!pf) return;
  wait_done(pf);
  atomic_store(&pf->quit, 1);
  astrt_waiter_post(&pf->asked);  /* the worker wakes, sees quit and ends */
  pthread_join(pf->thread, NULL);
  free(pf->x);
  free(pf->y);
  free(pf);
}
