/* rng.c — the counter-based random number generator: astrt_hash64,
 * astrt_uniform, astrt_subkey, astrt_shuffle and astrt_random_below.
 *
 * Every value is a pure function of (key, counter) built only from 64-bit
 * integer arithmetic, so streams are identical on every platform and can be
 * recomputed, skipped or resumed exactly.
 *
 * astrt_hash64(key, counter):
 *   k = mix(key) ^ SALT_HASH             (whitened key)
 *   z = mix(k ^ counter * GOLDEN)        (bijective in counter)
 *   return mix(z + k)                    (key enters twice, non-linearly)
 * where mix is the splitmix64 finalizer (Stafford's variant 13). For a
 * fixed key the map counter -> value is a bijection of the 64-bit integers,
 * so a stream never repeats. astrt_subkey is the same construction with a
 * different salt, so sub-keys are unrelated to values of the same stream.
 */
#include "astrt.h"
#include "driver_internal.h"

#include <stdint.h>

#define GOLDEN 0x9e3779b97f4a7c15ull
#define SALT_HASH 0x243f6a8885a308d3ull   /* pi */
#define SALT_SUBKEY 0xb7e151628aed2a6bull /* e */

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t keyed(uint64_t key, uint64_t counter, uint64_t salt) {
  uint64_t k = mix(key) ^ salt;
  uint64_t z = mix(k ^ (counter * GOLDEN));
  return mix(z + k);
}

uint64_t astrt_hash64(uint64_t key, uint64_t counter) {
  return keyed(key, counter, SALT_HASH);
}

float astrt_uniform(uint64_t key, uint64_t counter) {
  /* the top 24 bits: exactly representable, so the result is < 1 */
  return (float)(astrt_hash64(key, counter) >> 40) * 0x1p-24f;
}

uint64_t astrt_subkey(uint64_t key, uint64_t tag) {
  return keyed(key, tag, SALT_SUBKEY);
}

/* floor(r * bound / 2^64): maps a uniform 64-bit r to [0, bound) with a
 * bias of at most bound / 2^64 (Lemire's multiply-high reduction). */
static uint64_t reduce(uint64_t r, uint64_t bound) {
#ifdef __SIZEOF_INT128__
  return (uint64_t)(((unsigned __int128)r * bound) >> 64);
#else
  uint64_t rl = r & 0xffffffffu, rh = r >> 32;
  uint64_t bl = bound & 0xffffffffu, bh = bound >> 32;
  uint64_t ll = rl * bl, lh = rl * bh, hl = rh * bl, hh = rh * bh;
  uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
#endif
}

int64_t astrt_random_below(uint64_t key, uint64_t counter, int64_t bound) {
  return bound > 0 ? (int64_t)reduce(astrt_hash64(key, counter), (uint64_t)bound) : 0;
}

/* Swap number j (j = 0, 1, ...) exchanges perm[i] with perm[r], i = n-1-j
 * and r uniform in [0, i], drawn from astrt_hash64(subkey(seed, epoch), j). */
void astrt_shuffle(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch) {
  if (n <= 0) return;
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  uint64_t key = astrt_subkey(seed, (uint64_t)epoch);
  for (int64_t i = n - 1, j = 0; i > 0; i--, j++) {
    uint64_t r = reduce(astrt_hash64(key, (uint64_t)j), (uint64_t)i + 1);
    int64_t t = perm[i];
    perm[i] = perm[r];
    perm[r] = t;
  }
}
