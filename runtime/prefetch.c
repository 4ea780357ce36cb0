/* prefetch.c — the next training batch, gathered on a spare core while the
 * current step runs (docs/performance.md).
 *
 * One worker thread and one spare pair of batch buffers. The driver asks
 * for the rows of the next step before it runs the current one; when the
 * next step comes, astrt_prefetch_take waits for the worker (usually long
 * done) and swaps the filled buffers with the driver's. The worker runs
 * astrt_batch_gather, the same code the driver runs otherwise, on the same
 * rows: results are bit-identical with or without prefetching. Only the
 * built-in data sets are prefetched (a user's fetch callback need not be
 * thread-safe), and only within an epoch (the next epoch's order is drawn
 * when it starts).
 */
#include "driver_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct astrt_prefetch {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_int quit;
  atomic_long asked, done;   /* requests made, requests gathered */
  atomic_int sleeping;       /* the worker waits on cv (else it spins) */
  /* the request */
  const astrt_split *split;
  const int64_t *perm;
  int64_t pos, rows;
  astrt_norm norm;
  /* the spare buffers */
  float *x;
  int32_t *y;
};

/* The worker polls this long for the next request (yielding the core to
 * anything else that wants it) before it sleeps: a small model's step takes
 * less, so in steady state no request needs a wake-up (a futex wake, and a
 * scheduler that may put the woken thread on the requester's core, which
 * made prefetching no faster than none). */
#define SPIN_SECONDS 2e-3

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *worker(void *arg) {
  astrt_prefetch *pf = arg;
  long seen = 0;
  for (;;) {
    double until = seconds() + SPIN_SECONDS;
    int spins = 0;
    while (atomic_load(&pf->asked) == seen && !atomic_load(&pf->quit)) {
      sched_yield();  /* a spare core: another process that wants it gets it */
      if (++spins % 16 == 0 && seconds() > until) {
        pthread_mutex_lock(&pf->mu);
        atomic_store(&pf->sleeping, 1);
        while (atomic_load(&pf->asked) == seen && !atomic_load(&pf->quit)) pthread_cond_wait(&pf->cv, &pf->mu);
        atomic_store(&pf->sleeping, 0);
        pthread_mutex_unlock(&pf->mu);
      }
    }
    if (atomic_load(&pf->quit)) break;
    seen = atomic_load(&pf->asked);
    astrt_batch_gather(pf->split, pf->perm, pf->pos, pf->rows, pf->norm, pf->x, pf->y);
    atomic_store(&pf->done, seen);
  }
  return NULL;
}

astrt_prefetch *astrt_prefetch_start(int64_t x_floats, int64_t y_ints) {
  astrt_prefetch *pf = calloc(1, sizeof *pf);
  if (!pf) return NULL;
  pf->x = astrt_arena_alloc(x_floats * (int64_t)sizeof(float));
  pf->y = astrt_arena_alloc(y_ints * (int64_t)sizeof(int32_t));
  if (!pf->x || !pf->y || pthread_mutex_init(&pf->mu, NULL) != 0) {
    free(pf->x);
    free(pf->y);
    free(pf);
    return NULL;
  }
  if (pthread_cond_init(&pf->cv, NULL) != 0 || pthread_create(&pf->thread, NULL, worker, pf) != 0) {
    pthread_mutex_destroy(&pf->mu);
    free(pf->x);
    free(pf->y);
    free(pf);
    return NULL;  /* no prefetching: the driver gathers every batch itself */
  }
  return pf;
}

/* waits until the worker has gathered every request (a gather is short) */
static void wait_done(astrt_prefetch *pf) {
  while (atomic_load(&pf->done) != atomic_load(&pf->asked)) sched_yield();
}

static void wake(astrt_prefetch *pf) {
  if (!atomic_load(&pf->sleeping)) return;
  pthread_mutex_lock(&pf->mu);
  pthread_cond_signal(&pf->cv);
  pthread_mutex_unlock(&pf->mu);
}

void astrt_prefetch_request(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                            int64_t rows, astrt_norm norm) {
  wait_done(pf);
  pf->split = split, pf->perm = perm, pf->pos = pos, pf->rows = rows, pf->norm = norm;
  atomic_fetch_add(&pf->asked, 1);  /* publishes the fields (sequentially consistent) */
  wake(pf);
}

int astrt_prefetch_take(astrt_prefetch *pf, const astrt_split *split, const int64_t *perm, int64_t pos,
                        int64_t rows, float **x, int32_t **y) {
  wait_done(pf);
  if (atomic_load(&pf->asked) == 0 || pf->split != split || pf->perm != perm || pf->pos != pos || pf->rows != rows)
    return 0;
  float *fx = pf->x;
  int32_t *fy = pf->y;
  pf->x = *x, pf->y = *y;
  *x = fx, *y = fy;
  pf->split = NULL;  /* taken */
  return 1;
}

void astrt_prefetch_stop(astrt_prefetch *pf) {
  if (!pf) return;
  wait_done(pf);
  pthread_mutex_lock(&pf->mu);
  atomic_store(&pf->quit, 1);
  pthread_cond_signal(&pf->cv);
  pthread_mutex_unlock(&pf->mu);
  pthread_join(pf->thread, NULL);
  pthread_cond_destroy(&pf->cv);
  pthread_mutex_destroy(&pf->mu);
  free(pf->x);
  free(pf->y);
  free(pf);
}
