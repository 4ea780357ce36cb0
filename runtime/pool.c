/* pool.c — astc's own threads, so that one pool owns the cores.
 *
 * Two thread pools on one machine fight: OpenBLAS's threads spin while
 * other threads want the same cores. So when training runs on T > 1
 * threads (astrt_pool_configure, from the driver), OpenBLAS is set to one
 * thread, and the runtime splits its work over T threads of its own: the
 * caller and T - 1 workers. astrt_sgemm splits a product into T slabs of
 * rows or columns, each a single-threaded cblas_sgemm (kernels_gemm.c). On
 * the Fashion MLP's small products this took the step's GEMM time from
 * 458-618 us (OpenBLAS, 2 threads) to 315-407 us (docs/performance.md).
 *
 * Workers wait for the next job with a waiter (waiter.h: they poll for 2 ms
 * before they sleep). A job run from inside a worker runs serially (no
 * nesting). Without astrt_pool_configure the pool has one thread and every
 * job runs on the caller.
 */
#include "kernels_internal.h"
#include "waiter.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define POOL_MAX 64

static struct {
  pthread_mutex_t mu;          /* configure */
  int workers;                 /* started */
  int parts;                   /* threads in use, the caller included */
  astrt_waiter jobs;           /* its count: jobs posted */
  atomic_int left;             /* parts of the current job not yet done */
  astrt_task_fn fn;
  void *ctx;
} pool = {PTHREAD_MUTEX_INITIALIZER, 0, 1, ASTRT_WAITER_INIT, 0, NULL, NULL};

static _Thread_local int in_worker;
/* the number of jobs posted when worker i was started: it waits for later ones */
static long start_gen[POOL_MAX];

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;  /* 1 .. workers */
  in_worker = 1;
  long seen = start_gen[id];
  for (;;) {
    seen = astrt_waiter_wait(&pool.jobs, seen);
    int parts = pool.parts;
    if (id < parts) {
      pool.fn(pool.ctx, id, parts);
      atomic_fetch_sub(&pool.left, 1);
    }
  }
  return NULL;
}

void astrt_pool_configure(int threads) {
  if (threads < 1) threads = 1;
  if (threads > POOL_MAX) threads = POOL_MAX;
  pthread_mutex_lock(&pool.mu);
  while (pool.workers < threads - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    start_gen[pool.workers + 1] = atomic_load(&pool.jobs.count);
    int ok = pthread_create(&t, &attr, worker, (void *)(intptr_t)(pool.workers + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;  /* fewer threads: the work is split over those there are */
    pool.workers++;
  }
  pool.parts = threads < pool.workers + 1 ? threads : pool.workers + 1;
  pthread_mutex_unlock(&pool.mu);
}

int astrt_pool_size(void) { return in_worker ? 1 : pool.parts; }

void astrt_pool_run(astrt_task_fn fn, void *ctx) {
  int parts = astrt_pool_size();
  if (parts <= 1) {
    fn(ctx, 0, 1);
    return;
  }
  pool.fn = fn;
  pool.ctx = ctx;
  atomic_store(&pool.left, parts - 1);
  astrt_waiter_post(&pool.jobs);  /* publishes fn, ctx */
  in_worker = 1;  /* the caller's part: its kernels run serially too */
  fn(ctx, 0, parts);
  in_worker = 0;
  while (atomic_load(&pool.left) > 0) sched_yield();
}
