/* kernels_cast.c — conversions between f32 and bf16 over a contiguous
 * tensor (astrt_kernels.h), the casts that `precision bf16` puts around
 * every product and saved activation.
 *
 * Rounding is what the code generator's inline conversion does (cg_loops.c,
 * convert) and what the interpreter computes: to nearest, ties to even, on
 * the bit pattern (bits + 0x7fff + lsb) >> 16, so a finite value too large
 * for bf16 rounds to infinity and subnormals round like any other value;
 * every NaN becomes 0x7fc0 (astrt_f32_to_bf16, the GEMM backends' operand
 * conversion, keeps a NaN's sign and payload instead). bf16 -> f32 is exact
 * (the 16 bits shifted up): astrt_bf16_to_f32, with a 16-lane loop in front
 * where the CPU has AVX-512.
 * The loops are plain integer arithmetic: in 16-lane GNU vectors where the
 * CPU has AVX-512 (BW, for the 32 -> 16-bit narrowing), else loops GCC
 * vectorises for AVX2 or the baseline (target_clones: the loader picks the
 * one the CPU runs). A cast is one pass over memory, but the baseline's 4
 * lanes made the GPT's 205 casts a step 15% slower than the generated
 * loops they replace. AVX512_BF16's vcvtneps2bf16 is not used: it flushes
 * subnormal inputs to zero.
 *
 * Calls of at least CAST_SPLIT_MIN elements are split into contiguous
 * ranges over the runtime's pool; each element is computed alone, so the
 * result does not depend on the split. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "astrt_kernels.h"
#include "kernels_internal.h"

#define CAST_SPLIT_MIN 16384

typedef struct cast_job {
  const void *x;
  void *y;
  int64_t n;
  int to_bf16;
} cast_job;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CAST_512 1
#define CAST_CLONES __attribute__((target_clones("avx2", "default"), optimize("O3")))
#else
#define CAST_512 0
#define CAST_CLONES
#endif

CAST_CLONES static void to_bf16(const float *restrict x, uint16_t *restrict y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &x[i], sizeof bits);
    uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    y[i] = (uint16_t)(x[i] != x[i] ? 0x7fc0u : rounded);
  }
}

/* whether the 16-lane loops run: -1 until decided (by the CPU, or by a test) */
static int wide_state = -1;

static bool cast_wide(void) {
  int w = __atomic_load_n(&wide_state, __ATOMIC_RELAXED);
  if (w < 0) {
#if CAST_512
    w = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
    w = 0;
#endif
    __atomic_store_n(&wide_state, w, __ATOMIC_RELAXED);
  }
  return w;
}

bool astrt_cast_use_wide(int on) {
  __atomic_store_n(&wide_state, -1, __ATOMIC_RELAXED);
  if (on < 0) return cast_wide();
  if (on && !cast_wide()) return false;
  __atomic_store_n(&wide_state, on ? 1 : 0, __ATOMIC_RELAXED);
  return true;
}

#if CAST_512
typedef float f32x16 __attribute__((vector_size(64)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef uint16_t u16x16 __attribute__((vector_size(32)));

__attribute__((target("avx512f,avx512bw"))) static void to_bf16_512(const float *restrict x, uint16_t *restrict y,
                                                                    int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    f32x16 v;
    u32x16 bits;
    memcpy(&v, x + i, sizeof v);
    memcpy(&bits, x + i, sizeof bits);
    u32x16 rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    u32x16 nan = (u32x16)(i32x16)(v != v);
    u16x16 out = __builtin_convertvector((rounded & ~nan) | (nan & 0x7fc0u), u16x16);
    memcpy(y + i, &out, sizeof out);
  }
  to_bf16(x + i, y + i, n - i);
}

__attribute__((target("avx512f,avx512bw"))) static void from_bf16_512(const uint16_t *restrict x,
                                                                      float *restrict y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    u16x16 h;
    memcpy(&h, x + i, sizeof h);
    u32x16 bits = __builtin_convertvector(h, u32x16) << 16;
    memcpy(y + i, &bits, sizeof bits);
  }
  astrt_bf16_to_f32(x + i, y + i, n - i);
}
#endif

static void cast_part(void *ctx, int part, int parts) {
  const cast_job *j = ctx;
  int64_t i0 = j->n * part / parts, i1 = j->n * (part + 1) / parts;
#if CAST_512
  if (cast_wide()) {
    if (j->to_bf16) to_bf16_512((const float *)j->x + i0, (uint16_t *)j->y + i0, i1 - i0);
    else from_bf16_512((const uint16_t *)j->x + i0, (float *)j->y + i0, i1 - i0);
    return;
  }
#endif
  if (j->to_bf16) to_bf16((const float *)j->x + i0, (uint16_t *)j->y + i0, i1 - i0);
  else astrt_bf16_to_f32((const uint16_t *)j->x + i0, (float *)j->y + i0, i1 - i0);
}

static void cast_run(cast_job *j) {
  if (j->n < 0) astrt_kernel_fatal("astrt_cast: negative size n=%lld", (long long)j->n);
  if (j->n >= CAST_SPLIT_MIN && astrt_pool_size() > 1) astrt_pool_run(cast_part, j);
  else cast_part(j, 0, 1);
}

void astrt_cast_f32_bf16(const float *x, uint16_t *y, int64_t n) {
  cast_job j = {x, y, n, 1};
  cast_run(&j);
}

void astrt_cast_bf16_f32(const uint16_t *x, float *y, int64_t n) {
  cast_job j = {x, y, n, 0};
  cast_run(&j);
}
