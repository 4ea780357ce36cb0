/* kernels_gemm_xsmm.c — the libxsmm GEMM backend (astrt_kernels.h): one
 * piece's product as a kernel that libxsmm generates (JIT) for its exact
 * shape, leading dimensions and beta, with no packing of the operands where
 * the layout allows.
 *
 * libxsmm is column-major: it computes C'[m', n'] = A'[m', k] B'[k, n'].
 * Our row-major C[m, n] (row stride ldc) is the column-major C'[n, m] with
 * ld = ldc, so m' = n, n' = m, A' = op(B)^T and B' = op(A)^T:
 *   - A' is our B as stored when !tb; libxsmm 1.17 generates no kernel with a
 *     transposed A', so for tb our B is transposed into scratch first;
 *   - B' is our A as stored when !ta, and its transpose when ta (libxsmm's
 *     TRANS_B, which it supports for f32).
 * bf16 (vdpbf16ps, AVX512_BF16: two bf16 products per fp32 lane) wants A' in
 * VNNI form — pairs of consecutive k interleaved: A'v[k/2][m'][2] — which is
 * our B's rows 2i and 2i+1 interleaved (or, for tb, a transpose of B's pairs),
 * and B' untransposed (our A as [m][k] rows: for ta, interleaved and
 * transposed the same way). An odd k is padded with a zero pair half in
 * both. Each piece packs what it reads into the calling thread's scratch.
 *
 * Kernels are generated with alpha = 1 and beta 0 (C not read) or 1; other
 * alphas and betas run as openblas (astrt_gemm_xsmm_supports). Dispatching
 * looks a kernel up in libxsmm's registry; a small per-thread cache in front
 * of it keeps that off the path of repeated calls. A shape libxsmm returns
 * no kernel for runs as openblas: that depends on the shape only, so results
 * stay deterministic.
 */
#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <stdint.h>
#include <string.h>

#ifdef ASTRT_HAVE_XSMM

#include <libxsmm.h>
#include <pthread.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* 32-bit elements of any type (floats, bf16 pairs) */
typedef uint32_t __attribute__((may_alias)) u32;

static pthread_once_t xsmm_once = PTHREAD_ONCE_INIT;
static int xsmm_arch;  /* libxsmm's target: LIBXSMM_X86_* */

static void xsmm_init(void) {
  libxsmm_init();
  xsmm_arch = libxsmm_get_target_archid();
}

const char *astrt_gemm_xsmm_arch(void) {
  pthread_once(&xsmm_once, xsmm_init);
  return libxsmm_get_target_arch();
}

int astrt_gemm_xsmm_available(int ab_type, const char **why) {
  pthread_once(&xsmm_once, xsmm_init);
  if (xsmm_arch < LIBXSMM_X86_AVX2) {
    if (why) *why = "libxsmm generates kernels for AVX2 and newer; this CPU has neither AVX2 nor AVX-512";
    return 0;
  }
  if (ab_type == ASTRT_DTYPE_BF16 && xsmm_arch < LIBXSMM_X86_AVX512_CPX) {
    if (why) *why = "bf16 products need AVX512_BF16 (vdpbf16ps), which this CPU lacks";
    return 0;
  }
  return 1;
}

int astrt_gemm_xsmm_supports(const astrt_gemm_batch *d) { return d->alpha == 1.0f && (d->beta == 0.0f || d->beta == 1.0f); }

/* ---- packing ---------------------------------------------------------------------- */

#ifdef HAVE_X86
static int have_avx2(void) {
  static int v = -1;
  if (v < 0) v = __builtin_cpu_supports("avx2") ? 1 : 0;
  return v;
}

/* 8 x 8 block of 32-bit elements: out[j][i] = in[i][j] */
__attribute__((target("avx2"))) static void t8x8(const u32 *in, int64_t ldi, u32 *out, int64_t ldo) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps((const float *)(in + i * ldi));
  t[0] = _mm256_unpacklo_ps(r[0], r[1]), t[1] = _mm256_unpackhi_ps(r[0], r[1]);
  t[2] = _mm256_unpacklo_ps(r[2], r[3]), t[3] = _mm256_unpackhi_ps(r[2], r[3]);
  t[4] = _mm256_unpacklo_ps(r[4], r[5]), t[5] = _mm256_unpackhi_ps(r[4], r[5]);
  t[6] = _mm256_unpacklo_ps(r[6], r[7]), t[7] = _mm256_unpackhi_ps(r[6], r[7]);
  r[0] = _mm256_shuffle_ps(t[0], t[2], 0x44), r[1] = _mm256_shuffle_ps(t[0], t[2], 0xEE);
  r[2] = _mm256_shuffle_ps(t[1], t[3], 0x44), r[3] = _mm256_shuffle_ps(t[1], t[3], 0xEE);
  r[4] = _mm256_shuffle_ps(t[4], t[6], 0x44), r[5] = _mm256_shuffle_ps(t[4], t[6], 0xEE);
  r[6] = _mm256_shuffle_ps(t[5], t[7], 0x44), r[7] = _mm256_shuffle_ps(t[5], t[7], 0xEE);
  for (int i = 0; i < 4; i++) {
    _mm256_storeu_ps((float *)(out + i * ldo), _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps((float *)(out + (i + 4) * ldo), _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

/* out[j] = row0[j] | row1[j] << 16 for j < n (16 at a time) */
__attribute__((target("avx2"))) static int64_t interleave_avx2(const uint16_t *r0, const uint16_t *r1, int64_t n,
                                                               u32 *out) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m256i a = _mm256_loadu_si256((const __m256i *)(r0 + j)), b = _mm256_loadu_si256((const __m256i *)(r1 + j));
    __m256i lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
    _mm256_storeu_si256((__m256i *)(out + j), _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256((__m256i *)(out + j + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
  }
  return j;
}
#endif

/* out[c][r] (row stride ldo) = in[r][c] (row stride ldi), 32-bit elements */
static void transpose32(const u32 *in, int64_t ldi, int64_t rows, int64_t cols, u32 *out, int64_t ldo) {
  int64_t r0 = 0;
#ifdef HAVE_X86
  if (have_avx2()) {
    for (; r0 + 8 <= rows; r0 += 8) {
      int64_t c = 0;
      for (; c + 8 <= cols; c += 8) t8x8(in + r0 * ldi + c, ldi, out + c * ldo + r0, ldo);
      for (; c < cols; c++)
        for (int64_t r = r0; r < r0 + 8; r++) out[c * ldo + r] = in[r * ldi + c];
    }
  }
#endif
  for (; r0 < rows; r0++)
    for (int64_t c = 0; c < cols; c++) out[c * ldo + r0] = in[r0 * ldi + c];
}

/* out[j] = r0[j] | r1[j] << 16 (r1 NULL: zeros), j < n */
static void interleave16(const uint16_t *r0, const uint16_t *r1, int64_t n, u32 *out) {
  int64_t j = 0;
  if (!r1) {
    for (; j < n; j++) out[j] = r0[j];
    return;
  }
#ifdef HAVE_X86
  if (have_avx2()) j = interleave_avx2(r0, r1, n, out);
#endif
  for (; j < n; j++) out[j] = (u32)r0[j] | (u32)r1[j] << 16;
}

/* VNNI form of a [k, n] bf16 matrix X stored as rows of n (row stride ld):
 * out[(k + 1) / 2][n] 32-bit pairs (X[2i][j], X[2i + 1][j]), the last pair's
 * second half 0 when k is odd */
static void vnni_rows(const uint16_t *x, int64_t ld, int64_t k, int64_t n, u32 *out) {
  for (int64_t i = 0; i < (k + 1) / 2; i++)
    interleave16(x + 2 * i * ld, 2 * i + 1 < k ? x + (2 * i + 1) * ld : NULL, n, out + i * n);
}

/* The same pairs for X^T, from X stored as rows of k (an [n, k] matrix with
 * row stride ld): out[(k + 1) / 2][n], each pair two consecutive elements of
 * a row: a 32-bit transpose (rows of odd length: the last pair through a
 * copy) */
static void vnni_cols(const uint16_t *x, int64_t ld, int64_t k, int64_t n, u32 *out, u32 *tmp) {
  const int64_t k2 = (k + 1) / 2;
  if (k % 2 == 0 && ld % 2 == 0 && ((uintptr_t)x & 3) == 0) {
    transpose32((const u32 *)x, ld / 2, n, k2, out, n);
    return;
  }
  /* copy into whole pairs first: tmp[n][k2] */
  for (int64_t j = 0; j < n; j++) {
    uint16_t *row = (uint16_t *)(tmp + j * k2);
    memcpy(row, x + j * ld, (size_t)k * 2);
    if (k % 2) row[k] = 0;
  }
  transpose32(tmp, k2, n, k2, out, n);
}

/* ---- the kernels -------------------------------------------------------------------- */

typedef struct kkey {
  int64_t m, n, k, lda, ldb, ldc;
  int flags, bf16;
} kkey;

typedef struct kslot {
  kkey key;
  libxsmm_xmmfunction fn;
  int used;
} kslot;

#define KCACHE 64
static _Thread_local kslot kcache[KCACHE];

#ifdef ASTRT_TEST_HOOKS
static int no_kernels;  /* astrt_gemm_xsmm_test_no_kernels */
void astrt_gemm_xsmm_test_no_kernels(int on) { no_kernels = on; }
#endif

static libxsmm_xmmfunction kernel(const kkey *key) {
#ifdef ASTRT_TEST_HOOKS
  if (no_kernels) return (libxsmm_xmmfunction){NULL};
#endif
  uint64_t h = 1469598103934665603ull;
  const unsigned char *p = (const unsigned char *)key;
  for (size_t i = 0; i < sizeof *key; i++) h = (h ^ p[i]) * 1099511628211ull;
  kslot *s = &kcache[h % KCACHE];
  if (s->used && !memcmp(&s->key, key, sizeof *key)) return s->fn;
  const float alpha = 1.0f, beta = key->flags & LIBXSMM_GEMM_FLAG_BETA_0 ? 0.0f : 1.0f;
  const libxsmm_blasint m = (libxsmm_blasint)key->m, n = (libxsmm_blasint)key->n, k = (libxsmm_blasint)key->k,
                        lda = (libxsmm_blasint)key->lda, ldb = (libxsmm_blasint)key->ldb,
                        ldc = (libxsmm_blasint)key->ldc;
  const int flags = key->flags, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
  libxsmm_xmmfunction fn;
  if (key->bf16)
    fn.bsmm = libxsmm_bsmmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
  else
    fn.smm = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
  memset(&s->key, 0, sizeof s->key);  /* the padding too: keys compare as bytes */
  s->key = *key;
  s->fn = fn;
  s->used = 1;
  return fn;
}

static void piece_f32(const astrt_gemm_batch *d, int64_t m, int64_t n, const float *a, const float *b, float beta,
                      float *c) {
  const int64_t k = d->k;
  int64_t ldb = d->ldb;
  float *bt = NULL;
  if (d->tb) {
    /* B^T [k, n] into scratch: libxsmm makes no kernel with a transposed A' */
    bt = astrt_scratch((size_t)(k * n));
    transpose32((const u32 *)b, d->ldb, n, k, (u32 *)bt, n);
    b = bt, ldb = n;
  }
  kkey key;
  memset(&key, 0, sizeof key);
  key = (kkey){n, m, k, ldb, d->lda, d->ldc,
               (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : 0) | (d->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0), 0};
  libxsmm_xmmfunction fn = kernel(&key);
  if (!fn.smm) {
    astrt_gemm_batch f = *d;
    f.tb = 0, f.ldb = ldb;
    astrt_gemm_piece_openblas(&f, m, n, a, b, beta, c);
    return;
  }
  fn.smm(b, a, c);
}

/* C[m, n] = (beta ? C : 0) + A B from packed pairs, in plain C: for a shape
 * libxsmm returns no bf16 kernel for (its JIT disabled, say), deterministic
 * like any piece. A [m][k2] pairs (row stride lda2), B [k2][n] pairs. */
static void bf16_pairs(int64_t m, int64_t n, int64_t k2, const u32 *a, int64_t lda2, const u32 *b, int64_t ldb,
                       float beta, float *c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      float acc = beta == 0.0f ? 0.0f : c[i * ldc + j];
      for (int64_t p = 0; p < k2; p++) {
        const u32 x = a[i * lda2 + p], y = b[p * ldb + j];
        float x0, x1, y0, y1;
        astrt_bf16_to_f32(&(uint16_t){(uint16_t)x}, &x0, 1);
        astrt_bf16_to_f32(&(uint16_t){(uint16_t)(x >> 16)}, &x1, 1);
        astrt_bf16_to_f32(&(uint16_t){(uint16_t)y}, &y0, 1);
        astrt_bf16_to_f32(&(uint16_t){(uint16_t)(y >> 16)}, &y1, 1);
        acc += x0 * y0 + x1 * y1;
      }
      c[i * ldc + j] = acc;
    }
}

static void piece_bf16(const astrt_gemm_batch *d, int64_t m, int64_t n, const uint16_t *a, const uint16_t *b,
                       float beta, float *c) {
  const int64_t k = d->k, k2 = (k + 1) / 2;
  const int pack_a = d->ta || k % 2 || d->lda % 2 || ((uintptr_t)a & 3);
  /* scratch: B in VNNI form [k2][n] pairs; A as [m][2 k2] (pack_a); a pair
   * copy of A^T or B for the transposes [max(m, n)][k2] */
  const int64_t nb = k2 * n, na = pack_a ? k2 * m : 0, nt = (d->tb || d->ta) ? k2 * (m > n ? m : n) : 0;
  u32 *s = (u32 *)astrt_scratch((size_t)(nb + na + nt));
  u32 *bv = s, *ap = s + nb, *tmp = s + nb + na;
  if (d->tb) vnni_cols(b, d->ldb, k, n, bv, tmp);
  else vnni_rows(b, d->ldb, k, n, bv);
  int64_t lda = d->lda;
  if (pack_a) {
    if (d->ta) {
      /* A stored [k, m]: the pairs of A^T's rows are A's columns: VNNI rows
       * of A ([k2][m]), then a 32-bit transpose to [m][k2] */
      vnni_rows(a, d->lda, k, m, tmp);
      transpose32(tmp, m, k2, m, ap, k2);
    } else {
      for (int64_t i = 0; i < m; i++) {
        uint16_t *row = (uint16_t *)(ap + i * k2);
        memcpy(row, a + i * d->lda, (size_t)k * 2);
        if (k % 2) row[k] = 0;
      }
    }
    a = (const uint16_t *)ap, lda = 2 * k2;
  }
  kkey key;
  memset(&key, 0, sizeof key);
  key = (kkey){n, m, 2 * k2, n, lda, d->ldc, (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : 0) | LIBXSMM_GEMM_FLAG_VNNI_A, 1};
  libxsmm_xmmfunction fn = kernel(&key);
  if (fn.bsmm) fn.bsmm((const libxsmm_bfloat16 *)bv, (const libxsmm_bfloat16 *)a, c);
  else bf16_pairs(m, n, k2, (const u32 *)a, lda / 2, bv, n, beta, c, d->ldc);
}

void astrt_gemm_piece_xsmm(const astrt_gemm_batch *d, int64_t m, int64_t n, const void *a, const void *b, float beta,
                           float *c) {
  if (d->ab_type == ASTRT_DTYPE_BF16) piece_bf16(d, m, n, a, b, beta, c);
  else piece_f32(d, m, n, a, b, beta, c);
}

/* ---- packed once per call ------------------------------------------------------------ */

/* A plain product (no batch dimensions) packs its operands once, split over
 * the pool, into the calling thread's scratch, and the pieces read the
 * packed copies: bf16 B in VNNI pairs (and A as rows of pairs when it must
 * be moved: ta, odd k or lda), f32 B transposed when tb. Per-piece packing
 * (piece_bf16, piece_f32) would pack B again for every slab of rows. The
 * pieces of a packed bf16 call see the operands as 32-bit pairs: A [m][k2]
 * (row stride lda2), B [k2][n]: d2 is d in those units. */

typedef struct pack_job {
  const astrt_gemm_batch *d;
  const void *a, *b;
  u32 *ap, *bp;      /* packed A (NULL: in place), packed B */
  u32 *tmp;          /* per part: k2 x TILE pairs (ta) */
  int64_t tmp_each;
} pack_job;

#define TILE 64

static void pack_part(void *ctx, int part, int parts) {
  const pack_job *j = ctx;
  const astrt_gemm_batch *d = j->d;
  const int64_t k = d->k, n = d->n, m = d->m;
  if (d->ab_type != ASTRT_DTYPE_BF16) {
    /* f32, tb: B^T [k, n] from B [n, k]; this part's rows of k */
    const int64_t lo = k * part / parts, hi = k * (part + 1) / parts;
    transpose32((const u32 *)j->b + lo, d->ldb, n, hi - lo, j->bp + lo * n, n);
    return;
  }
  const int64_t k2 = (k + 1) / 2;
  const uint16_t *b = j->b, *a = j->a;
  /* B: this part's pair rows [lo, hi) */
  const int64_t lo = k2 * part / parts, hi = k2 * (part + 1) / parts;
  if (!d->tb) {
    for (int64_t i = lo; i < hi; i++)
      interleave16(b + 2 * i * d->ldb, 2 * i + 1 < k ? b + (2 * i + 1) * d->ldb : NULL, n, j->bp + i * n);
  } else if (k % 2 == 0 && d->ldb % 2 == 0 && ((uintptr_t)b & 3) == 0) {
    transpose32((const u32 *)b + lo, d->ldb / 2, n, hi - lo, j->bp + lo * n, n);
  } else {
    for (int64_t r = 0; r < n; r++)
      for (int64_t i = lo; i < hi; i++) {
        const uint16_t *row = b + r * d->ldb;
        j->bp[i * n + r] = (u32)row[2 * i] | (2 * i + 1 < k ? (u32)row[2 * i + 1] << 16 : 0u);
      }
  }
  if (!j->ap) return;
  /* A: this part's rows [alo, ahi) as pairs [m][k2] */
  const int64_t alo = m * part / parts, ahi = m * (part + 1) / parts;
  if (!d->ta) {
    for (int64_t r = alo; r < ahi; r++) {
      uint16_t *row = (uint16_t *)(j->ap + r * k2);
      memcpy(row, a + r * d->lda, (size_t)k * 2);
      if (k % 2) row[k] = 0;
    }
    return;
  }
  /* ta: A stored [k, m]; columns [c0, c0 + w) at a time: VNNI rows of the
   * column block into tmp [k2][w], then transposed to [w][k2] */
  u32 *tmp = j->tmp + part * j->tmp_each;
  for (int64_t c0 = alo; c0 < ahi; c0 += TILE) {
    const int64_t w = ahi - c0 < TILE ? ahi - c0 : TILE;
    for (int64_t i = 0; i < k2; i++)
      interleave16(a + 2 * i * d->lda + c0, 2 * i + 1 < k ? a + (2 * i + 1) * d->lda + c0 : NULL, w, tmp + i * w);
    transpose32(tmp, w, k2, w, j->ap + c0 * k2, k2);
  }
}

/* the piece of a packed bf16 call: d is in pairs (k2, lda2, ldb = n) */
static void piece_packed_bf16(const astrt_gemm_batch *d, int64_t m, int64_t n, const void *a, const void *b,
                              float beta, float *c) {
  kkey key;
  memset(&key, 0, sizeof key);
  key = (kkey){n, m, 2 * d->k, d->ldb, 2 * d->lda, d->ldc,
               (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : 0) | LIBXSMM_GEMM_FLAG_VNNI_A, 1};
  libxsmm_xmmfunction fn = kernel(&key);
  if (fn.bsmm) fn.bsmm((const libxsmm_bfloat16 *)b, (const libxsmm_bfloat16 *)a, c);
  else bf16_pairs(m, n, d->k, a, d->lda, b, d->ldb, beta, c, d->ldc);
}

int astrt_gemm_xsmm_packed(const astrt_gemm_batch *d, const void *a, const void *b, float *c) {
  const int bf16 = d->ab_type == ASTRT_DTYPE_BF16;
  if (d->nbatch != 0 || d->m == 0 || d->n == 0 || d->k == 0 || (!bf16 && !d->tb)) return 0;
  const int64_t m = d->m, n = d->n, k = d->k, k2 = (k + 1) / 2;
  const int parts = astrt_pool_size();
  if (!bf16) {
    u32 *bt = (u32 *)astrt_scratch((size_t)(k * n));
    pack_job j = {d, a, b, NULL, bt, NULL, 0};
    if (parts > 1 && k * n >= (1 << 14)) astrt_pool_run(pack_part, &j);
    else pack_part(&j, 0, 1);
    astrt_gemm_batch f = *d;
    f.tb = 0, f.ldb = n;
    astrt_gemm_run_pieces(&f, a, bt, c, 4, astrt_gemm_piece_xsmm);
    return 1;
  }
  const int move_a = d->ta || k % 2 || d->lda % 2 || ((uintptr_t)a & 3);
  const int64_t nb = (k2 * n + 15) / 16 * 16, na = move_a ? (m * k2 + 15) / 16 * 16 : 0;
  const int64_t tmp_each = d->ta ? k2 * TILE : 0;
  u32 *s = (u32 *)astrt_scratch((size_t)(nb + na + tmp_each * parts));
  pack_job j = {d, a, b, move_a ? s + nb : NULL, s, s + nb + na, tmp_each};
  if (parts > 1 && (m + n) * k >= (1 << 14)) astrt_pool_run(pack_part, &j);
  else pack_part(&j, 0, 1);
  astrt_gemm_batch f = *d;
  f.ta = 0, f.tb = 0, f.k = k2, f.lda = move_a ? k2 : d->lda / 2, f.ldb = n;
  astrt_gemm_run_pieces(&f, move_a ? (const void *)j.ap : a, s, c, 4, piece_packed_bf16);
  return 1;
}

#else /* !ASTRT_HAVE_XSMM: the backend is never available */

const char *astrt_gemm_xsmm_arch(void) { return "none"; }

int astrt_gemm_xsmm_available(int ab_type, const char **why) {
  (void)ab_type;
  if (why) *why = "this libastrt was built without libxsmm (apt-get install libxsmm-dev, then re-run cmake)";
  return 0;
}

int astrt_gemm_xsmm_supports(const astrt_gemm_batch *d) {
  (void)d;
  return 0;
}

int astrt_gemm_xsmm_packed(const astrt_gemm_batch *d, const void *a, const void *b, float *c) {
  (void)d, (void)a, (void)b, (void)c;
  return 0;
}

void astrt_gemm_piece_xsmm(const astrt_gemm_batch *d, int64_t m, int64_t n, const void *a, const void *b, float beta,
                           float *c) {
  (void)d, (void)m, (void)n, (void)a, (void)b, (void)beta, (void)c;
  astrt_kernel_fatal("astrt_gemm_piece_xsmm: libastrt was built without libxsmm");
}

#endif
