/* waiter.h — a counter that threads wait on, for the runtime's worker
 * threads (pool.c, prefetch.c); internal to libastrt.
 *
 * A waiter polls the counter, yielding its core to anything else that wants
 * it, for 2 ms before it sleeps on a condition variable. The jobs of one
 * training step come microseconds apart, so in steady state a post needs no
 * wake-up: no futex wake, and no scheduler placing the woken thread on the
 * poster's core, which made both the pool and prefetching no faster than
 * doing without them.
 */
#ifndef ASTRT_WAITER_H
#define ASTRT_WAITER_H

#include <pthread.h>
#include <stdatomic.h>

typedef struct astrt_waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_long count;       /* posts so far */
  atomic_int sleepers;
} astrt_waiter;

#define ASTRT_WAITER_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0}

/* Returns once the count differs from `seen`, with the count. */
long astrt_waiter_wait(astrt_waiter *w, long seen);
/* Adds one to the count (publishing what the poster wrote before) and wakes
 * the sleeping waiters. */
void astrt_waiter_post(astrt_waiter *w);

#endif
