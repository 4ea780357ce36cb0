/* kernels_seq.c — the row-wise kernels of transformer models: softmax (with
 * an optional causal mask), log-softmax, layer normalisation (no affine
 * part), their gradients, and the embedding's row gather and scatter-add;
 * fast versions and naive references (astrt_kernels.h).
 *
 * Vectorisation. The row kernels are written once, in GNU C vector types of
 * the native width (the template at the end of this file), and compiled
 * three times: generic (4 lanes, 16-byte vectors: SSE2 on x86-64, any
 * target's vectors elsewhere), AVX2 + FMA (8 lanes) and AVX-512 (16 lanes).
 * The best one the CPU runs is chosen once (astrt_seq_isa; tests select each
 * with astrt_seq_set_isa). Plain loops would not do: GCC's -O2 vectoriser
 * (the "very cheap" model) leaves loops of unknown length scalar, cannot
 * reorder float sums, and libm's expf is a call per element.
 *
 * exp. vexp is the Cephes expf scheme, branch-free: x = k ln2 + r with
 * |r| <= ln2/2 (k by the 1.5 * 2^23 rounding trick, ln2 split in two so that
 * k ln2 is exact), a degree-7 polynomial for e^r, and 2^k built in the
 * exponent bits. Relative error < 3e-7 on [-86.5, 88.7] (tested; 8.4e-8
 * measured, about 1.4 ulp); below
 * -86.5 (e^x < 3e-38) it returns 0, so no subnormal is ever produced (they
 * cost ~100 cycles each on x86); above 88.72 it overflows to +inf; NaN
 * propagates. The kernels only take exp of values <= 0 (x - max, and a
 * log-probability y) except when handed other data.
 *
 * Sums. Every row sum is taken in lanes (two vector accumulators, then a
 * fixed pairwise tree across lanes), so its order depends on the row length
 * and the instruction set only: the same bits on every call and every
 * thread. A row's tail shorter than a vector is loaded into a vector padded
 * with a neutral value (-inf for a maximum or an exp, 0 for a sum, the mean
 * for a variance) and stored partially.
 *
 * Threads. Rows are independent: a call with at least 2 rows per thread and
 * SEQ_SPLIT_MIN elements in all splits its rows into contiguous ranges over
 * the runtime's pool (as kernels_pool.c does with planes). The scatter-add
 * splits the rows of the table instead: each thread zeroes its own range of
 * table rows, then scans all of idx in increasing order and adds only the
 * dy rows that land in its range, so every table row is summed in the same
 * order whatever the number of threads, without atomics.
 *
 * References accumulate every sum in double and round once.
 */
#ifndef SEQ_TEMPLATE

#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The helpers pass vectors wider than 16 bytes by value; they are always
 * inlined into functions of their own instruction set, so the ABI GCC and
 * clang warn about never applies. */
#pragma GCC diagnostic ignored "-Wpsabi"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SEQ_X86 1
#else
#define SEQ_X86 0
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

typedef enum seq_kind {
  SEQ_SOFTMAX,
  SEQ_SOFTMAX_GRAD,
  SEQ_LOG_SOFTMAX,
  SEQ_LOG_SOFTMAX_GRAD,
  SEQ_LAYERNORM,
  SEQ_LAYERNORM_GRAD,
  SEQ_GATHER,
  SEQ_SCATTER,
  SEQ_XENT,
} seq_kind;

/* One call: `rows` independent units of work (rows of x; for the gather,
 * output rows; for the scatter, rows of the table), split by range. */
typedef struct seq_job {
  seq_kind kind;
  const float *a, *b;    /* inputs: x or y, and dy (or table / dy) */
  float *out;
  int64_t rows, n;       /* n: row length (d for gather / scatter) */
  int64_t causal;        /* softmax: 0, or the block size of the mask */
  float eps;             /* layer norm */
  const int32_t *idx;    /* gather / scatter; the cross-entropy's labels */
  int64_t count, vocab;  /* gather / scatter */
  float *loss;           /* cross-entropy: per-row losses (or NULL); out: its gradient (or NULL); */
  float dy_all;          /* b: the gradient's dy per row, or NULL for dy_all; eps: the smoothing */
} seq_job;

typedef void (*seq_rows_fn)(const seq_job *j, int64_t r0, int64_t r1);

/* ---- the instantiations ---------------------------------------------------- */

#define SEQ_TEMPLATE 1

#define SFX generic
#define VW 4
#define ATTR
#include "kernels_seq.c"
#undef SFX
#undef VW
#undef ATTR

#if SEQ_X86
#define SFX avx2
#define VW 8
#define ATTR __attribute__((target("avx2,fma")))
#include "kernels_seq.c"
#undef SFX
#undef VW
#undef ATTR

#define SFX avx512
#define VW 16
#define ATTR __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#include "kernels_seq.c"
#undef SFX
#undef VW
#undef ATTR
#endif

#undef SEQ_TEMPLATE

/* ---- instruction set ------------------------------------------------------- */

typedef struct seq_isa {
  const char *name;
  astrt_conv_isa conv;  /* the same CPU test as the direct convolutions */
  seq_rows_fn rows;
} seq_isa;

static const seq_isa isas[] = {
    {"generic", ASTRT_CONV_ISA_NONE, seq_rows_generic},
#if SEQ_X86
    {"avx2", ASTRT_CONV_ISA_AVX2, seq_rows_avx2},
    {"avx512", ASTRT_CONV_ISA_AVX512, seq_rows_avx512},
#endif
};
#define N_ISAS ((int)(sizeof isas / sizeof isas[0]))

/* index into isas, -1 until resolved (a race only resolves it twice) */
static _Atomic int active_isa = -1;

static int isa_index(void) {
  int i = atomic_load_explicit(&active_isa, memory_order_relaxed);
  if (i >= 0) return i;
  for (i = N_ISAS - 1; i > 0; i--)
    if (astrt_conv_isa_supported(isas[i].conv)) break;
  atomic_store_explicit(&active_isa, i, memory_order_relaxed);
  return i;
}

const char *astrt_seq_isa(void) { return isas[isa_index()].name; }

int astrt_seq_set_isa(const char *name) {
  for (int i = 0; i < N_ISAS; i++)
    if (name && !strcmp(name, isas[i].name)) {
      if (!astrt_conv_isa_supported(isas[i].conv)) return 0;
      atomic_store_explicit(&active_isa, i, memory_order_relaxed);
      return 1;
    }
  return 0;
}

/* ---- split over the runtime's threads -------------------------------------- */

/* Calls with fewer elements than this (or fewer than 2 rows per thread) run
 * on the caller: a job costs a few microseconds of wake-up and hand-off. */
#define SEQ_SPLIT_MIN 16384

static void seq_part(void *ctx, int part, int parts) {
  const seq_job *j = ctx;
  const int64_t r0 = j->rows * part / parts, r1 = j->rows * (part + 1) / parts;
  if (r1 > r0) isas[isa_index()].rows(j, r0, r1);
}

/* work: the number of elements the call touches */
static void seq_run(seq_job *j, int64_t work) {
  const int parts = astrt_pool_size();
  (void)isa_index();  /* resolved before the threads read it */
  if (parts > 1 && j->rows >= 2 * parts && work >= SEQ_SPLIT_MIN)
    astrt_pool_run(seq_part, j);
  else
    seq_part(j, 0, 1);
}

static void check_rows(const char *who, int64_t rows, int64_t n) {
  if (rows < 0 || n < 0)
    astrt_kernel_fatal("%s: negative size rows=%lld n=%lld", who, (long long)rows, (long long)n);
}

static void check_causal(const char *who, int64_t n, int64_t causal) {
  if (causal < 0 || (causal > 0 && causal != n))
    astrt_kernel_fatal("%s: causal=%lld must be 0 or equal n=%lld", who, (long long)causal, (long long)n);
}

static void check_table(const char *who, int64_t vocab, int64_t d, int64_t count) {
  if (vocab < 0 || d < 0 || count < 0)
    astrt_kernel_fatal("%s: negative size vocab=%lld d=%lld count=%lld", who, (long long)vocab, (long long)d,
                       (long long)count);
}

/* ---- public kernels -------------------------------------------------------- */

static void run_rows(seq_kind kind, const float *a, const float *b, float *out, int64_t rows, int64_t n,
                     int64_t causal, float eps) {
  if (rows == 0 || n == 0) return;
  seq_job j = {kind, a, b, out, rows, n, causal, eps, NULL, 0, 0, NULL, 0};
  seq_run(&j, rows * n);
}

void astrt_seq_softmax_xent(const float *logits, const int32_t *labels, int64_t rows, int64_t k, float smoothing,
                            float *loss, float *grad, const float *dy, float dy_all) {
  check_rows("astrt_softmax_xent", rows, k);
  if (rows == 0 || k == 0) return;
  seq_job j = {SEQ_XENT, logits, dy, grad, rows, k, 0, smoothing, labels, 0, 0, loss, dy_all};
  seq_run(&j, rows * k);
}

void astrt_softmax_f32(const float *x,  // [rows, n]
                       float *y,        // [rows, n]
                       int64_t rows, int64_t n, int64_t causal) {
  check_rows("astrt_softmax_f32", rows, n);
  check_causal("astrt_softmax_f32", n, causal);
  run_rows(SEQ_SOFTMAX, x, NULL, y, rows, n, causal, 0.0f);
}

void astrt_softmax_grad_f32(const float *y,   // [rows, n]
                            const float *dy,  // [rows, n]
                            float *dx,        // [rows, n]
                            int64_t rows, int64_t n) {
  check_rows("astrt_softmax_grad_f32", rows, n);
  run_rows(SEQ_SOFTMAX_GRAD, y, dy, dx, rows, n, 0, 0.0f);
}

void astrt_log_softmax_f32(const float *x,  // [rows, n]
                           float *y,        // [rows, n]
                           int64_t rows, int64_t n) {
  check_rows("astrt_log_softmax_f32", rows, n);
  run_rows(SEQ_LOG_SOFTMAX, x, NULL, y, rows, n, 0, 0.0f);
}

void astrt_log_softmax_grad_f32(const float *y,   // [rows, n]
                                const float *dy,  // [rows, n]
                                float *dx,        // [rows, n]
                                int64_t rows, int64_t n) {
  check_rows("astrt_log_softmax_grad_f32", rows, n);
  run_rows(SEQ_LOG_SOFTMAX_GRAD, y, dy, dx, rows, n, 0, 0.0f);
}

void astrt_layernorm_f32(const float *x,  // [rows, n]
                         float *y,        // [rows, n]
                         int64_t rows, int64_t n, float eps) {
  check_rows("astrt_layernorm_f32", rows, n);
  run_rows(SEQ_LAYERNORM, x, NULL, y, rows, n, 0, eps);
}

void astrt_layernorm_grad_f32(const float *x,   // [rows, n]
                              const float *dy,  // [rows, n]
                              float *dx,        // [rows, n]
                              int64_t rows, int64_t n, float eps) {
  check_rows("astrt_layernorm_grad_f32", rows, n);
  run_rows(SEQ_LAYERNORM_GRAD, x, dy, dx, rows, n, 0, eps);
}

void astrt_gather_rows_f32(const float *table,  // [vocab, d]
                           int64_t vocab, int64_t d,
                           const int32_t *idx,  // [count]
                           int64_t count,
                           float *out) {        // [count, d]
  check_table("astrt_gather_rows_f32", vocab, d, count);
  if (count == 0 || d == 0) return;
  seq_job j = {SEQ_GATHER, table, NULL, out, count, d, 0, 0.0f, idx, count, vocab, NULL, 0};
  seq_run(&j, count * d);
}

void astrt_scatter_add_rows_f32(const int32_t *idx,  // [count]
                                int64_t count,
                                const float *dy,     // [count, d]
                                int64_t d, int64_t vocab,
                                float *dtable) {     // [vocab, d]
  check_table("astrt_scatter_add_rows_f32", vocab, d, count);
  if (vocab == 0 || d == 0) return;
  seq_job j = {SEQ_SCATTER, dy, NULL, dtable, vocab, d, 0, 0.0f, idx, count, vocab, NULL, 0};
  seq_run(&j, (count + vocab) * d);
}

/* ---- references ------------------------------------------------------------ */

void astrt_ref_softmax_f32(const float *x,  // [rows, n]
                           float *y,        // [rows, n]
                           int64_t rows, int64_t n, int64_t causal) {
  check_rows("astrt_ref_softmax_f32", rows, n);
  check_causal("astrt_ref_softmax_f32", n, causal);
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    const int64_t valid = causal > 0 ? r % causal + 1 : n;
    double m = -INFINITY, s = 0.0;
    for (int64_t j = 0; j < valid; j++) m = fmax(m, (double)xr[j]);
    for (int64_t j = 0; j < valid; j++) s += exp((double)xr[j] - m);
    for (int64_t j = 0; j < n; j++) yr[j] = j < valid ? (float)(exp((double)xr[j] - m) / s) : 0.0f;
  }
}

void astrt_ref_softmax_grad_f32(const float *y,   // [rows, n]
                                const float *dy,  // [rows, n]
                                float *dx,        // [rows, n]
                                int64_t rows, int64_t n) {
  check_rows("astrt_ref_softmax_grad_f32", rows, n);
  for (int64_t r = 0; r < rows; r++) {
    double dot = 0.0;
    for (int64_t j = 0; j < n; j++) dot += (double)dy[r * n + j] * (double)y[r * n + j];
    for (int64_t j = 0; j < n; j++)
      dx[r * n + j] = (float)((double)y[r * n + j] * ((double)dy[r * n + j] - dot));
  }
}

void astrt_ref_log_softmax_f32(const float *x,  // [rows, n]
                               float *y,        // [rows, n]
                               int64_t rows, int64_t n) {
  check_rows("astrt_ref_log_softmax_f32", rows, n);
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    double m = -INFINITY, s = 0.0;
    for (int64_t j = 0; j < n; j++) m = fmax(m, (double)xr[j]);
    for (int64_t j = 0; j < n; j++) s += exp((double)xr[j] - m);
    const double lse = log(s);
    for (int64_t j = 0; j < n; j++) y[r * n + j] = (float)((double)xr[j] - m - lse);
  }
}

void astrt_ref_log_softmax_grad_f32(const float *y,   // [rows, n]
                                    const float *dy,  // [rows, n]
                                    float *dx,        // [rows, n]
                                    int64_t rows, int64_t n) {
  check_rows("astrt_ref_log_softmax_grad_f32", rows, n);
  for (int64_t r = 0; r < rows; r++) {
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += (double)dy[r * n + j];
    for (int64_t j = 0; j < n; j++)
      dx[r * n + j] = (float)((double)dy[r * n + j] - exp((double)y[r * n + j]) * s);
  }
}

static void ref_moments(const float *x, int64_t n, float eps, double *mean, double *rstd) {
  double s = 0.0, v = 0.0;
  for (int64_t j = 0; j < n; j++) s += (double)x[j];
  *mean = s / (double)n;
  for (int64_t j = 0; j < n; j++) v += ((double)x[j] - *mean) * ((double)x[j] - *mean);
  *rstd = 1.0 / sqrt(v / (double)n + (double)eps);
}

void astrt_ref_layernorm_f32(const float *x,  // [rows, n]
                             float *y,        // [rows, n]
                             int64_t rows, int64_t n, float eps) {
  check_rows("astrt_ref_layernorm_f32", rows, n);
  if (n == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    double mean, rstd;
    ref_moments(x + r * n, n, eps, &mean, &rstd);
    for (int64_t j = 0; j < n; j++) y[r * n + j] = (float)(((double)x[r * n + j] - mean) * rstd);
  }
}

void astrt_ref_layernorm_grad_f32(const float *x,   // [rows, n]
                                  const float *dy,  // [rows, n]
                                  float *dx,        // [rows, n]
                                  int64_t rows, int64_t n, float eps) {
  check_rows("astrt_ref_layernorm_grad_f32", rows, n);
  if (n == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n, *dr = dy + r * n;
    double mean, rstd, sdy = 0.0, sdyx = 0.0;
    ref_moments(xr, n, eps, &mean, &rstd);
    for (int64_t j = 0; j < n; j++) {
      sdy += (double)dr[j];
      sdyx += (double)dr[j] * ((double)xr[j] - mean) * rstd;
    }
    const double mdy = sdy / (double)n, mdyx = sdyx / (double)n;
    for (int64_t j = 0; j < n; j++) {
      const double xhat = ((double)xr[j] - mean) * rstd;
      dx[r * n + j] = (float)(rstd * ((double)dr[j] - mdy - xhat * mdyx));
    }
  }
}

void astrt_ref_gather_rows_f32(const float *table,  // [vocab, d]
                               int64_t vocab, int64_t d,
                               const int32_t *idx,  // [count]
                               int64_t count,
                               float *out) {        // [count, d]
  check_table("astrt_ref_gather_rows_f32", vocab, d, count);
  for (int64_t i = 0; i < count; i++) {
    const int in_range = idx[i] >= 0 && idx[i] < vocab;
    for (int64_t j = 0; j < d; j++) out[i * d + j] = in_range ? table[idx[i] * d + j] : 0.0f;
  }
}

void astrt_ref_scatter_add_rows_f32(const int32_t *idx,  // [count]
                                    int64_t count,
                                    const float *dy,     // [count, d]
                                    int64_t d, int64_t vocab,
                                    float *dtable) {     // [vocab, d]
  check_table("astrt_ref_scatter_add_rows_f32", vocab, d, count);
  for (int64_t v = 0; v < vocab; v++)
    for (int64_t j = 0; j < d; j++) {
      double s = 0.0;
      for (int64_t i = 0; i < count; i++)
        if (idx[i] == v) s += (double)dy[i * d + j];
      dtable[v * d + j] = (float)s;
    }
}

#else /* SEQ_TEMPLATE -------------------------------------------------------- */

/* One instantiation of the fast row kernels: SFX names it, VW is its vector
 * width in floats, ATTR its target attribute. Everything here is static and
 * suffixed, so the three instantiations do not collide. */

#define V CAT(vf_, SFX)
#define VI CAT(vi_, SFX)
#define VU CAT(vu_, SFX)
#define FN static inline __attribute__((always_inline)) ATTR
#define vsplat CAT(vsplat_, SFX)
#define vload CAT(vload_, SFX)
#define vload_part CAT(vload_part_, SFX)
#define vstore CAT(vstore_, SFX)
#define vstore_part CAT(vstore_part_, SFX)
#define vsel CAT(vsel_, SFX)
#define vmax CAT(vmax_, SFX)
#define hsum CAT(hsum_, SFX)
#define hmax CAT(hmax_, SFX)
#define vexp CAT(vexp_, SFX)
#define row_max CAT(row_max_, SFX)
#define row_sum CAT(row_sum_, SFX)
#define row_dot CAT(row_dot_, SFX)
#define row_scale CAT(row_scale_, SFX)
#define row_moments CAT(row_moments_, SFX)
#define softmax_row CAT(softmax_row_, SFX)
#define softmax_grad_row CAT(softmax_grad_row_, SFX)
#define log_softmax_row CAT(log_softmax_row_, SFX)
#define log_softmax_grad_row CAT(log_softmax_grad_row_, SFX)
#define layernorm_row CAT(layernorm_row_, SFX)
#define layernorm_grad_row CAT(layernorm_grad_row_, SFX)
#define add_row CAT(add_row_, SFX)
#define xent_row CAT(xent_row_, SFX)

typedef float V __attribute__((vector_size(VW * sizeof(float))));
typedef int32_t VI __attribute__((vector_size(VW * sizeof(float))));
typedef uint32_t VU __attribute__((vector_size(VW * sizeof(float))));

FN V vsplat(float s) {
  const V zero = {0};
  return s - zero;  /* exact for every s, -0 and NaN included: a broadcast */
}
FN V vload(const float *p) {
  V v;
  memcpy(&v, p, sizeof v);
  return v;
}
/* the first cnt (< VW) floats of p, the other lanes `fill` */
FN V vload_part(const float *p, int64_t cnt, float fill) {
  V v = vsplat(fill);
  memcpy(&v, p, (size_t)cnt * sizeof(float));
  return v;
}
FN void vstore(float *p, V v) { memcpy(p, &v, sizeof v); }
FN void vstore_part(float *p, V v, int64_t cnt) { memcpy(p, &v, (size_t)cnt * sizeof(float)); }
/* m ? a : b, lane by lane (m all ones or all zeros) */
FN V vsel(VI m, V a, V b) { return (V)((m & (VI)a) | (~m & (VI)b)); }
/* b > a ? b : a: a NaN in b is ignored */
FN V vmax(V a, V b) { return vsel(b > a, b, a); }

/* Across the lanes, as a fixed pairwise tree: the upper half of the
 * vector is combined into the lower half until one lane is left (in
 * registers: a loop over an array would go through memory). */
#define H4 CAT(h4_, SFX)
#define H8 CAT(h8_, SFX)
typedef float H4 __attribute__((vector_size(4 * sizeof(float))));
typedef float H8 __attribute__((vector_size(8 * sizeof(float))));
#define HI4 CAT(hi4_, SFX)
#define HI8 CAT(hi8_, SFX)
typedef int32_t HI4 __attribute__((vector_size(4 * sizeof(float))));
typedef int32_t HI8 __attribute__((vector_size(8 * sizeof(float))));
#define HALVE(T, v, lo, hi) \
  T lo, hi;                 \
  memcpy(&lo, &v, sizeof lo); \
  memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi)

FN float hsum(V v) {
#if VW == 16
  HALVE(H8, v, a8, b8);
  const H8 v8 = a8 + b8;
#elif VW == 8
  const H8 v8 = v;
#endif
#if VW >= 8
  HALVE(H4, v8, a4, b4);
  const H4 v4 = a4 + b4;
#else
  const H4 v4 = v;
#endif
  return (v4[0] + v4[2]) + (v4[1] + v4[3]);
}

/* b > a ? b : a for vectors of type T (TI: its lane mask type) */
#define VMAX_T(T, TI, a, b) ((T)(((TI)((b) > (a)) & (TI)(b)) | (~(TI)((b) > (a)) & (TI)(a))))

FN float hmax(V v) {
#if VW == 16
  HALVE(H8, v, a8, b8);
  const H8 v8 = VMAX_T(H8, HI8, a8, b8);
#elif VW == 8
  const H8 v8 = v;
#endif
#if VW >= 8
  HALVE(H4, v8, a4, b4);
  const H4 v4 = VMAX_T(H4, HI4, a4, b4);
#else
  const H4 v4 = v;
#endif
  const float m02 = v4[2] > v4[0] ? v4[2] : v4[0], m13 = v4[3] > v4[1] ? v4[3] : v4[1];
  return m13 > m02 ? m13 : m02;
}

/* e^x lane by lane (see the head of the file) */
FN V vexp(V x) {
  const V lo = vsplat(-86.5f), hi = vsplat(88.8f), magic = vsplat(12582912.0f); /* 1.5 * 2^23 */
  V xc = vsel(x < lo, lo, x);
  xc = vsel(xc > hi, hi, xc);  /* NaN passes both */
  const V t = xc * 1.44269504088896341f + magic;  /* magic + round(x / ln2) */
  const V k = t - magic;
  V r = xc - k * 0.693359375f;  /* exact: k has <= 8 bits, the constant 9 */
  r = r - k * -2.12194440e-4f;
  V p = vsplat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const V e = p * (r * r) + r + 1.0f;  /* e^r, in [0.70, 1.42] */
  /* 2^(k-1) from the bits of t (k in [-125, 128]: exponent field 1..254),
   * times 2e^r: never subnormal, and 2^128 e^r overflows to inf as it should */
  const VU kb = (VU)t - (VU)magic;
  const V s = (V)((kb + 126u) << 23);
  return vsel(x < lo, vsplat(0.0f), (e + e) * s);
}

/* max of x[0, n); -inf when n == 0 */
FN float row_max(const float *x, int64_t n) {
  V m0 = vsplat(-INFINITY), m1 = m0;
  int64_t j = 0;
  for (; j + 2 * VW <= n; j += 2 * VW) {
    m0 = vmax(m0, vload(x + j));
    m1 = vmax(m1, vload(x + j + VW));
  }
  if (j + VW <= n) m0 = vmax(m0, vload(x + j)), j += VW;
  if (j < n) m1 = vmax(m1, vload_part(x + j, n - j, -INFINITY));
  return hmax(vmax(m0, m1));
}

/* sum of x[0, n) */
FN float row_sum(const float *x, int64_t n) {
  V s0 = vsplat(0.0f), s1 = s0;
  int64_t j = 0;
  for (; j + 2 * VW <= n; j += 2 * VW) {
    s0 += vload(x + j);
    s1 += vload(x + j + VW);
  }
  if (j + VW <= n) s0 += vload(x + j), j += VW;
  if (j < n) s1 += vload_part(x + j, n - j, 0.0f);
  return hsum(s0 + s1);
}

/* sum of a[j] * b[j] over [0, n) */
FN float row_dot(const float *a, const float *b, int64_t n) {
  V s0 = vsplat(0.0f), s1 = s0;
  int64_t j = 0;
  for (; j + 2 * VW <= n; j += 2 * VW) {
    s0 += vload(a + j) * vload(b + j);
    s1 += vload(a + j + VW) * vload(b + j + VW);
  }
  if (j + VW <= n) s0 += vload(a + j) * vload(b + j), j += VW;
  if (j < n) s1 += vload_part(a + j, n - j, 0.0f) * vload_part(b + j, n - j, 0.0f);
  return hsum(s0 + s1);
}

/* y[0, n) *= s */
FN void row_scale(float *y, int64_t n, float s) {
  const V sv = vsplat(s);
  int64_t j = 0;
  for (; j + VW <= n; j += VW) vstore(y + j, vload(y + j) * sv);
  if (j < n) vstore_part(y + j, vload_part(y + j, n - j, 0.0f) * sv, n - j);
}

/* y[0, n) = softmax(x[0, valid)), then zeros. The causal mask's ragged end
 * (valid < n) is read as whole vectors with the lanes past it set to -inf
 * (the row's memory goes on to n), not through a partial copy. */
FN void softmax_row(const float *x, float *y, int64_t n, int64_t valid) {
  const int64_t full = valid - valid % VW;  /* whole vectors below valid */
  if (valid < n && full + VW <= n) {
    static const int32_t iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    VI lane;
    memcpy(&lane, iota, sizeof lane);
    const VI keep = lane < (int32_t)(valid - full);
    const V ninf = vsplat(-INFINITY);
    const V xt = vsel(keep, vload(x + full), ninf);
    V m0 = xt, m1 = ninf;
    int64_t j = 0;
    for (; j + 2 * VW <= full; j += 2 * VW) {
      m0 = vmax(m0, vload(x + j));
      m1 = vmax(m1, vload(x + j + VW));
    }
    if (j < full) m1 = vmax(m1, vload(x + j));
    const V m = vsplat(hmax(vmax(m0, m1)));
    V s0 = vexp(xt - m), s1 = vsplat(0.0f);
    vstore(y + full, s0);
    for (j = 0; j + 2 * VW <= full; j += 2 * VW) {
      const V e0 = vexp(vload(x + j) - m), e1 = vexp(vload(x + j + VW) - m);
      vstore(y + j, e0);
      vstore(y + j + VW, e1);
      s0 += e0;
      s1 += e1;
    }
    if (j < full) {
      const V e = vexp(vload(x + j) - m);
      vstore(y + j, e);
      s1 += e;
    }
    const V inv = vsplat(1.0f / hsum(s0 + s1));
    for (j = 0; j <= full; j += VW) vstore(y + j, vload(y + j) * inv);  /* masked lanes: 0 * inv = 0 */
    if (full + VW < n) memset(y + full + VW, 0, (size_t)(n - full - VW) * sizeof(float));
    return;
  }
  const V m = vsplat(row_max(x, valid));
  V s0 = vsplat(0.0f), s1 = s0;
  int64_t j = 0;
  for (; j + 2 * VW <= valid; j += 2 * VW) {
    const V e0 = vexp(vload(x + j) - m), e1 = vexp(vload(x + j + VW) - m);
    vstore(y + j, e0);
    vstore(y + j + VW, e1);
    s0 += e0;
    s1 += e1;
  }
  if (j + VW <= valid) {
    const V e = vexp(vload(x + j) - m);
    vstore(y + j, e);
    s0 += e;
    j += VW;
  }
  if (j < valid) {
    const V e = vexp(vload_part(x + j, valid - j, -INFINITY) - m);
    vstore_part(y + j, e, valid - j);
    s1 += e;
  }
  row_scale(y, valid, 1.0f / hsum(s0 + s1));
  if (valid < n) memset(y + valid, 0, (size_t)(n - valid) * sizeof(float));
}

FN void softmax_grad_row(const float *y, const float *dy, float *dx, int64_t n) {
  const V dot = vsplat(row_dot(y, dy, n));
  int64_t j = 0;
  for (; j + VW <= n; j += VW) vstore(dx + j, vload(y + j) * (vload(dy + j) - dot));
  if (j < n)
    vstore_part(dx + j, vload_part(y + j, n - j, 0.0f) * (vload_part(dy + j, n - j, 0.0f) - dot), n - j);
}

FN void log_softmax_row(const float *x, float *y, int64_t n) {
  const V m = vsplat(row_max(x, n));
  V s0 = vsplat(0.0f), s1 = s0;
  int64_t j = 0;
  for (; j + 2 * VW <= n; j += 2 * VW) {
    s0 += vexp(vload(x + j) - m);
    s1 += vexp(vload(x + j + VW) - m);
  }
  if (j + VW <= n) s0 += vexp(vload(x + j) - m), j += VW;
  if (j < n) s1 += vexp(vload_part(x + j, n - j, -INFINITY) - m);
  const V lse = vsplat(logf(hsum(s0 + s1)));
  for (j = 0; j + VW <= n; j += VW) vstore(y + j, (vload(x + j) - m) - lse);
  if (j < n) vstore_part(y + j, (vload_part(x + j, n - j, 0.0f) - m) - lse, n - j);
}

FN void log_softmax_grad_row(const float *y, const float *dy, float *dx, int64_t n) {
  const V s = vsplat(row_sum(dy, n));
  int64_t j = 0;
  for (; j + VW <= n; j += VW) vstore(dx + j, vload(dy + j) - vexp(vload(y + j)) * s);
  if (j < n)
    vstore_part(dx + j, vload_part(dy + j, n - j, 0.0f) - vexp(vload_part(y + j, n - j, 0.0f)) * s, n - j);
}

/* Softmax cross-entropy of one row of logits l[0, k) against its label
 * (astrt_softmax_xent in ops.c has the formulas): targets t = (1 - s)
 * onehot + s / k, T = sum t; the loss in logits shifted by their maximum m,
 * and the gradient (T e / z - t) dy, the exponentials e kept in the
 * gradient row between the two passes. */
FN void xent_row(const float *l, int32_t label, int64_t k, float s, float *loss, float *grad, float dy) {
  const float mx = row_max(l, k);
  const V m = vsplat(mx);
  V s0 = vsplat(0.0f), s1 = s0;
  int64_t j = 0;
  for (; j + 2 * VW <= k; j += 2 * VW) {
    const V e0 = vexp(vload(l + j) - m), e1 = vexp(vload(l + j + VW) - m);
    if (grad) vstore(grad + j, e0), vstore(grad + j + VW, e1);
    s0 += e0;
    s1 += e1;
  }
  if (j + VW <= k) {
    const V e = vexp(vload(l + j) - m);
    if (grad) vstore(grad + j, e);
    s0 += e;
    j += VW;
  }
  if (j < k) {
    const V e = vexp(vload_part(l + j, k - j, -INFINITY) - m);
    if (grad) vstore_part(grad + j, e, k - j);
    s1 += e;
  }
  const float z = hsum(s0 + s1);
  const bool in_range = label >= 0 && label < k;
  const float u = s / (float)k;
  if (loss) {
    float logz = logf(z), shifted = 0.0f;
    if (u > 0.0f) { /* sum of l - m, element by element: no cancellation at large logits */
      V a0 = vsplat(0.0f), a1 = a0;
      int64_t i = 0;
      for (; i + 2 * VW <= k; i += 2 * VW) a0 += vload(l + i) - m, a1 += vload(l + i + VW) - m;
      if (i + VW <= k) a0 += vload(l + i) - m, i += VW;
      if (i < k) a1 += vload_part(l + i, k - i, mx) - m;
      shifted = hsum(a0 + a1);
    }
    *loss = in_range ? logz - (1.0f - s) * (l[label] - mx) - u * shifted : s * logz - u * shifted;
  }
  if (!grad) return;
  const V scale = vsplat((in_range ? 1.0f : s) * dy / z), udy = vsplat(u * dy);
  for (j = 0; j + VW <= k; j += VW) vstore(grad + j, vload(grad + j) * scale - udy);
  if (j < k) vstore_part(grad + j, vload_part(grad + j, k - j, 0.0f) * scale - udy, k - j);
  if (in_range) grad[label] -= (1.0f - s) * dy;
}

/* mean and 1 / sqrt(biased variance + eps) of x[0, n), n >= 1; the variance
 * in a second pass over x - mean (no cancellation) */
FN void row_moments(const float *x, int64_t n, float eps, float *mean, float *rstd) {
  const float mu = row_sum(x, n) / (float)n;
  const V m = vsplat(mu);
  V s0 = vsplat(0.0f), s1 = s0;
  int64_t j = 0;
  for (; j + 2 * VW <= n; j += 2 * VW) {
    const V d0 = vload(x + j) - m, d1 = vload(x + j + VW) - m;
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  if (j + VW <= n) {
    const V d = vload(x + j) - m;
    s0 += d * d;
    j += VW;
  }
  if (j < n) {
    const V d = vload_part(x + j, n - j, mu) - m;
    s1 += d * d;
  }
  *mean = mu;
  *rstd = 1.0f / sqrtf(hsum(s0 + s1) / (float)n + eps);
}

FN void layernorm_row(const float *x, float *y, int64_t n, float eps) {
  float mu, rs;
  row_moments(x, n, eps, &mu, &rs);
  const V m = vsplat(mu), r = vsplat(rs);
  int64_t j = 0;
  for (; j + VW <= n; j += VW) vstore(y + j, (vload(x + j) - m) * r);
  if (j < n) vstore_part(y + j, (vload_part(x + j, n - j, 0.0f) - m) * r, n - j);
}

FN void layernorm_grad_row(const float *x, const float *dy, float *dx, int64_t n, float eps) {
  float mu, rs;
  row_moments(x, n, eps, &mu, &rs);
  const V m = vsplat(mu), r = vsplat(rs);
  /* sum dy and sum dy (x - mean) */
  V a0 = vsplat(0.0f), a1 = a0, b0 = a0, b1 = a0;
  int64_t j = 0;
  for (; j + 2 * VW <= n; j += 2 * VW) {
    const V g0 = vload(dy + j), g1 = vload(dy + j + VW);
    a0 += g0;
    a1 += g1;
    b0 += g0 * (vload(x + j) - m);
    b1 += g1 * (vload(x + j + VW) - m);
  }
  if (j + VW <= n) {
    const V g = vload(dy + j);
    a0 += g;
    b0 += g * (vload(x + j) - m);
    j += VW;
  }
  if (j < n) {
    const V g = vload_part(dy + j, n - j, 0.0f);
    a1 += g;
    b1 += g * (vload_part(x + j, n - j, mu) - m);
  }
  const V mdy = vsplat(hsum(a0 + a1) / (float)n);
  const V mdyx = vsplat(hsum(b0 + b1) * rs / (float)n);  /* mean(dy * xhat) */
  for (j = 0; j + VW <= n; j += VW) {
    const V xhat = (vload(x + j) - m) * r;
    vstore(dx + j, r * (vload(dy + j) - mdy - xhat * mdyx));
  }
  if (j < n) {
    const V xhat = (vload_part(x + j, n - j, mu) - m) * r;
    vstore_part(dx + j, r * (vload_part(dy + j, n - j, 0.0f) - mdy - xhat * mdyx), n - j);
  }
}

/* dst[0, n) += src[0, n) */
FN void add_row(float *dst, const float *src, int64_t n) {
  int64_t j = 0;
  for (; j + VW <= n; j += VW) vstore(dst + j, vload(dst + j) + vload(src + j));
  for (; j < n; j++) dst[j] += src[j];
}

/* rows [r0, r1) of job j */
ATTR static void CAT(seq_rows_, SFX)(const seq_job *j, int64_t r0, int64_t r1) {
  const int64_t n = j->n;
  switch (j->kind) {
    case SEQ_SOFTMAX:
      for (int64_t r = r0; r < r1; r++)
        softmax_row(j->a + r * n, j->out + r * n, n, j->causal > 0 ? r % j->causal + 1 : n);
      break;
    case SEQ_SOFTMAX_GRAD:
      for (int64_t r = r0; r < r1; r++) softmax_grad_row(j->a + r * n, j->b + r * n, j->out + r * n, n);
      break;
    case SEQ_LOG_SOFTMAX:
      for (int64_t r = r0; r < r1; r++) log_softmax_row(j->a + r * n, j->out + r * n, n);
      break;
    case SEQ_LOG_SOFTMAX_GRAD:
      for (int64_t r = r0; r < r1; r++) log_softmax_grad_row(j->a + r * n, j->b + r * n, j->out + r * n, n);
      break;
    case SEQ_LAYERNORM:
      for (int64_t r = r0; r < r1; r++) layernorm_row(j->a + r * n, j->out + r * n, n, j->eps);
      break;
    case SEQ_LAYERNORM_GRAD:
      for (int64_t r = r0; r < r1; r++)
        layernorm_grad_row(j->a + r * n, j->b + r * n, j->out + r * n, n, j->eps);
      break;
    case SEQ_GATHER:  /* rows of out */
      for (int64_t r = r0; r < r1; r++) {
        const int32_t v = j->idx[r];
        if (v >= 0 && v < j->vocab)
          memcpy(j->out + r * n, j->a + (int64_t)v * n, (size_t)n * sizeof(float));
        else
          memset(j->out + r * n, 0, (size_t)n * sizeof(float));
      }
      break;
    case SEQ_XENT:
      for (int64_t r = r0; r < r1; r++)
        xent_row(j->a + r * n, j->idx[r], n, j->eps, j->loss ? j->loss + r : NULL, j->out ? j->out + r * n : NULL,
                 j->b ? j->b[r] : j->dy_all);
      break;
    case SEQ_SCATTER:  /* rows of the table: [r0, r1) */
      memset(j->out + r0 * n, 0, (size_t)((r1 - r0) * n) * sizeof(float));
      for (int64_t i = 0; i < j->count; i++) {
        const int32_t v = j->idx[i];
        if (v >= r0 && v < r1) add_row(j->out + (int64_t)v * n, j->a + i * n, n);
      }
      break;
  }
}

#undef V
#undef VI
#undef VU
#undef FN
#undef vsplat
#undef vload
#undef vload_part
#undef vstore
#undef vstore_part
#undef vsel
#undef vmax
#undef hsum
#undef hmax
#undef vexp
#undef row_max
#undef row_sum
#undef row_dot
#undef row_scale
#undef row_moments
#undef softmax_row
#undef softmax_grad_row
#undef log_softmax_row
#undef log_softmax_grad_row
#undef layernorm_row
#undef layernorm_grad_row
#undef add_row
#undef xent_row
#undef H4
#undef H8
#undef HI4
#undef HI8
#undef HALVE
#undef VMAX_T

#endif /* SEQ_TEMPLATE */
