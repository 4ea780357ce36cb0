/* pool.c — astc's own threads, so that one pool owns the cores.
 *
 * Two thread pools on one machine fight: OpenBLAS's threads spin while
 * other threads want the same cores. So when training runs on T > 1
 * threads, OpenBLAS is set to one thread (driver.c), and the runtime splits
 * its work over T threads of its own: the caller and T - 1 workers.
 * astrt_sgemm splits a product into T slabs of rows or columns, each a
 * single-threaded cblas_sgemm (kernels_gemm.c). On the Fashion MLP's small
 * products this took the step's GEMM time from 458-618 us (OpenBLAS, 2
 * threads) to 315-407 us (docs/performance.md).
 *
 * A pool is an object with no process-wide state: its workers, its job slot
 * and the waiter they wait on. Whoever creates one owns it — the driver one
 * per training run, a model (model.c) one for its lifetime — and binds it
 * to the thread that runs the steps for the duration of the work
 * (astrt_pool_bind). astrt_pool_run and astrt_pool_size, which generated
 * code and the kernels call with no pool argument, use the calling thread's
 * bound pool; a thread with none bound runs every job serially (one part).
 * So two models training in two threads each split their work over their
 * own threads and share nothing.
 *
 * Workers wait for the next job with a waiter (waiter.h: they poll for 2 ms
 * before they sleep). A job run from inside a part (a worker's, or the
 * caller's own) runs serially: no nesting. astrt_pool_destroy stops the
 * workers and joins them.
 *
 * Parts are claimed, not assigned: the caller and the workers take the
 * job's parts in order from one counter until none is left, and the caller
 * then waits only for the parts a worker is running. A part computes the
 * same thing whichever thread runs it (the split depends on the part's
 * index and the part count alone), so results do not change; but on a
 * machine whose cores other processes share, a worker that is descheduled
 * (or asleep) when a job is posted no longer holds the step up for a time
 * slice: the caller runs its part. (With a part per thread, the MLP at
 * --threads 2 under a load average of 14 on 2 cores trained at half the
 * samples/s of --threads 1.) The counter holds the job's sequence number
 * beside the next part, so a worker that wakes late for a finished job
 * claims nothing of the next one with the old job's function.
 */
#include "kernels_internal.h"
#include "waiter.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define POOL_MAX 64

typedef struct pool_worker {
  astrt_pool *pool;
  int id;                      /* 1 .. parts - 1: its part of every job */
  pthread_t thread;
} pool_worker;

struct astrt_pool {
  int threads;                 /* asked for (>= 1; at most POOL_MAX are used) */
  int parts;                   /* threads in use, the caller included */
  astrt_waiter jobs;           /* its count: jobs posted */
  _Atomic uint64_t claim;      /* the current job's sequence number << 32 | its next unclaimed part */
  atomic_int done;             /* parts of the current job finished */
  atomic_int quit;
  uint32_t seq;                /* jobs run (the caller's) */
  _Atomic(astrt_task_fn) fn;   /* the current job, published by the claim's store */
  _Atomic(void *) ctx;
  pool_worker workers[POOL_MAX - 1];
};

/* the pool the calling thread's jobs run on; NULL: serially */
static _Thread_local astrt_pool *bound;

/* Runs parts of job `seq` (fn, ctx) while it has unclaimed ones. fn and
 * ctx were read after a claim of `seq` was seen: if the caller has moved on
 * since, every part of `seq` was claimed and no claim here succeeds. */
static void run_parts(astrt_pool *p, uint64_t seq, astrt_task_fn fn, void *ctx) {
  uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
  while ((c >> 32) == seq && (c & 0xffffffffu) < (uint64_t)p->parts) {
    if (atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire)) {
      fn(ctx, (int)(c & 0xffffffffu), p->parts);
      atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
      c = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
  }
}

static void *worker(void *arg) {
  pool_worker *w = arg;
  astrt_pool *p = w->pool;
  long seen = 0;  /* no job was posted before the workers started */
  for (;;) {
    seen = astrt_waiter_wait(&p->jobs, seen);
    if (atomic_load(&p->quit)) break;
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
    run_parts(p, c >> 32, atomic_load_explicit(&p->fn, memory_order_relaxed),
              atomic_load_explicit(&p->ctx, memory_order_relaxed));
  }
  return NULL;
}

astrt_pool *astrt_pool_create(int threads) {
  if (threads < 1) threads = 1;
  astrt_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->threads = threads;
  if (threads > POOL_MAX) threads = POOL_MAX;
  p->jobs = (astrt_waiter)ASTRT_WAITER_INIT;
  int n = 0;
  while (n < threads - 1) {
    pool_worker *w = &p->workers[n];
    w->pool = p;
    w->id = n + 1;
    if (pthread_create(&w->thread, NULL, worker, w) != 0) break;  /* fewer threads: the work is split over those there are */
    n++;
  }
  p->parts = n + 1;  /* before any post: the workers read it after one */
  return p;
}

void astrt_pool_destroy(astrt_pool *p) {
  if (!p) return;
  if (bound == p) bound = NULL;
  atomic_store(&p->quit, 1);
  astrt_waiter_post(&p->jobs);  /* every worker wakes, sees quit and ends */
  for (int i = 0; i < p->parts - 1; i++) pthread_join(p->workers[i].thread, NULL);
  pthread_mutex_destroy(&p->jobs.mu);
  pthread_cond_destroy(&p->jobs.cv);
  free(p);
}

int astrt_pool_threads(const astrt_pool *p) { return p ? p->threads : 1; }

astrt_pool *astrt_pool_bind(astrt_pool *p) {
  astrt_pool *was = bound;
  bound = p;
  return was;
}

/* ---- the calling thread's own pool (astrt_pool_configure) ----------------- */

static _Thread_local astrt_pool *own;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;
static pthread_key_t own_key;
static int own_key_ok;

static void own_thread_exit(void *p) { astrt_pool_destroy(p); }
static void own_key_init(void) { own_key_ok = pthread_key_create(&own_key, own_thread_exit) == 0; }

void astrt_pool_configure(int threads) {
  if (threads < 1) threads = 1;
  if (!own || own->threads != threads) {
    astrt_pool_destroy(own);
    own = threads > 1 ? astrt_pool_create(threads) : NULL;
    pthread_once(&own_once, own_key_init);
    if (own_key_ok) pthread_setspecific(own_key, own);
  }
  bound = own;
}

/* ---- jobs ----------------------------------------------------------------- */

int astrt_pool_size(void) { return bound ? bound->parts : 1; }

void astrt_pool_run(astrt_task_fn fn, void *ctx) {
  astrt_pool *p = bound;
  if (!p || p->parts <= 1) {
    fn(ctx, 0, 1);
    return;
  }
  uint64_t seq = ++p->seq;
  atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
  atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  atomic_store_explicit(&p->claim, seq << 32, memory_order_release);  /* publishes fn, ctx */
  astrt_waiter_post(&p->jobs);
  bound = NULL;  /* the caller's parts: their kernels run serially too */
  run_parts(p, seq, fn, ctx);
  bound = p;
  while (atomic_load_explicit(&p->done, memory_order_acquire) < p->parts) sched_yield();
}
