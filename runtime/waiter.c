/* waiter.c — see waiter.h. */
#include "waiter.h"

#include <sched.h>
#include <time.h>

#define POLL_SECONDS 2e-3

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long astrt_waiter_wait(astrt_waiter *w, long seen) {
  double until = seconds() + POLL_SECONDS;
  for (int spins = 1; atomic_load(&w->count) == seen; spins++) {
    sched_yield();
    if (spins % 16 == 0 && seconds() > until) {
      /* sleepers++ before the last look at the count, and the poster's
       * count++ before its look at sleepers (both sequentially consistent):
       * either this thread sees the post or the poster sees it sleeping */
      pthread_mutex_lock(&w->mu);
      atomic_fetch_add(&w->sleepers, 1);
      while (atomic_load(&w->count) == seen) pthread_cond_wait(&w->cv, &w->mu);
      atomic_fetch_sub(&w->sleepers, 1);
      pthread_mutex_unlock(&w->mu);
    }
  }
  return atomic_load(&w->count);
}

void astrt_waiter_post(astrt_waiter *w) {
  atomic_fetch_add(&w->count, 1);
  if (atomic_load(&w->sleepers) == 0) return;
  pthread_mutex_lock(&w->mu);
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}
