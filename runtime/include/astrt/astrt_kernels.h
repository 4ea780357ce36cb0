/* astrt_kernels.h — tensor kernels called by astc-generated code.
 *
 * Layouts: images NCHW, convolution filters [O, C, KH, KW], all row-major
 * float32. Every fast kernel has a naive reference (astrt_ref_*) beside it;
 * the references are the test oracle and are never called by generated code.
 *
 * Shapes (N batch, C in-channels, H W in-size, O out-channels, KH KW kernel,
 * SH SW stride, PH PW zero padding on each side):
 *   OH = (H + 2*PH - KH) / SH + 1,   OW = (W + 2*PW - KW) / SW + 1
 *
 * Thread-safety: kernels may be called concurrently from different threads;
 * each thread has its own scratch buffer (grown on demand, released by
 * astrt_kernels_release_scratch()).
 */
#ifndef ASTRT_KERNELS_H
#define ASTRT_KERNELS_H

#include <stdint.h>

#include "astrt_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct astrt_conv_shape {
  int64_t n, c, h, w;      /* input  [N, C, H, W]   */
  int64_t o, kh, kw;       /* filter [O, C, KH, KW] */
  int64_t sh, sw, ph, pw;  /* stride, padding       */
} astrt_conv_shape;

int64_t astrt_conv_out_h(const astrt_conv_shape *s);
int64_t astrt_conv_out_w(const astrt_conv_shape *s);

/* y[N,O,OH,OW] = conv(x[N,C,H,W], w[O,C,KH,KW]) (cross-correlation, no bias) */
void astrt_conv2d_f32(const astrt_conv_shape *s, const float *x, const float *w,
                      float *y);
/* dx[N,C,H,W] = d loss / d x, given dy[N,O,OH,OW] and w (overwrites dx) */
void astrt_conv2d_grad_input_f32(const astrt_conv_shape *s, const float *dy,
                                 const float *w, float *dx);
/* dw[O,C,KH,KW] = d loss / d w, given x and dy (overwrites dw) */
void astrt_conv2d_grad_weight_f32(const astrt_conv_shape *s, const float *x,
                                  const float *dy, float *dw);

void astrt_ref_conv2d_f32(const astrt_conv_shape *s, const float *x,
                          const float *w, float *y);
void astrt_ref_conv2d_grad_input_f32(const astrt_conv_shape *s, const float *dy,
                                     const float *w, float *dx);
void astrt_ref_conv2d_grad_weight_f32(const astrt_conv_shape *s, const float *x,
                                      const float *dy, float *dw);

/* Pooling over [N*C] planes of H x W with a KH x KW window, stride SH SW and
 * padding PH PW (padding never wins a max and is not counted in an average:
 * count_include_pad = false). */
typedef struct astrt_pool_shape {
  int64_t planes, h, w;     /* N*C planes of H x W */
  int64_t kh, kw, sh, sw, ph, pw;
} astrt_pool_shape;

int64_t astrt_pool_out_h(const astrt_pool_shape *s);
int64_t astrt_pool_out_w(const astrt_pool_shape *s);

/* y[planes,OH,OW] = max over each window of x[planes,H,W] */
void astrt_maxpool2d_f32(const astrt_pool_shape *s, const float *x, float *y);
/* dx = the gradient routed to the first maximum of each window (overwrites) */
void astrt_maxpool2d_grad_f32(const astrt_pool_shape *s, const float *x,
                              const float *dy, float *dx);
void astrt_avgpool2d_f32(const astrt_pool_shape *s, const float *x, float *y);
void astrt_avgpool2d_grad_f32(const astrt_pool_shape *s, const float *dy,
                              float *dx);

void astrt_ref_maxpool2d_f32(const astrt_pool_shape *s, const float *x,
                             float *y);
void astrt_ref_maxpool2d_grad_f32(const astrt_pool_shape *s, const float *x,
                                  const float *dy, float *dx);
void astrt_ref_avgpool2d_f32(const astrt_pool_shape *s, const float *x,
                             float *y);
void astrt_ref_avgpool2d_grad_f32(const astrt_pool_shape *s, const float *dy,
                                  float *dx);

/* Resizing [planes] images of H x W to h x w (progressive resizing): mode 0
 * area (each output pixel the mean of the source box it covers), 1 bilinear
 * (half-pixel centres, clamped) — PyTorch's interpolate(mode="area" or
 * "bilinear", align_corners=False). */
typedef struct astrt_resize_shape {
  int64_t planes, h, w, oh, ow, mode;
} astrt_resize_shape;

void astrt_resize2d_f32(const astrt_resize_shape *s, const float *x, float *y);

/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major, op = transpose when
 * ta/tb is nonzero (A is [M,K] or [K,M]; B is [K,N] or [N,K]). Calls
 * OpenBLAS; M, N or K may be 0. */
void astrt_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, const float *b, float beta, float *c);
void astrt_ref_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, const float *b, float beta,
                     float *c);

/* OpenBLAS kernel selection (blas_select.c). OpenBLAS 0.3.21 falls back to
 * generic SSE3 kernels on CPUs it does not know; if this process runs on such
 * a fallback and the CPU has AVX2/AVX-512, re-executes argv[0..] (argv must
 * be main's, NULL-terminated) with OPENBLAS_CORETYPE set. Returns only if
 * nothing needed doing or the exec failed. Respects a user-set
 * OPENBLAS_CORETYPE; ASTC_NO_REEXEC=1 disables it. */
void astrt_blas_reexec_if_needed(char **argv);
/* The core type OpenBLAS runs ("Haswell", "SkylakeX", "Prescott" ...). */
const char *astrt_blas_corename(void);
/* The core type this CPU should use, or NULL if no better one is known. */
const char *astrt_blas_best_core(void);

/* Frees the calling thread's scratch buffer. */
void astrt_kernels_release_scratch(void);

/* ---- transformer kernels (kernels_seq.c, kernels_gemm_batched.c) --------
 *
 * All tensors row-major float32. The row-wise kernels treat their input as
 * `rows` independent rows of `n` elements; large calls are split by rows
 * over the runtime's thread pool, each row computed by one thread with the
 * same code, so the results are bit-identical for any number of threads.
 * An output may be the same buffer as a same-shaped input (in place), but
 * must not overlap it partially. Rows of length 0 are allowed (nothing is
 * written). The fast versions use a vectorised exp with relative error
 * < 3e-7 that returns 0 below e^-86.5 (< 3e-38); results are within float
 * rounding of the references, not bit-identical to them. */

/* y[rows, n] = softmax(x[rows, n]) over each row (its maximum subtracted
 * first). causal > 0: row r holds the scores of position p = r % causal, and
 * columns j > p are masked (their y is exactly 0, as if x were -inf there);
 * requires n == causal. An entry of -inf gets probability 0; a row whose
 * unmasked entries are all -inf, or that holds NaN or +inf, gives NaN. */
void astrt_softmax_f32(const float *x, float *y, int64_t rows, int64_t n,
                       int64_t causal);
/* dx[rows, n] = y * (dy - sum_j dy_j y_j) per row, given y[rows, n] (the
 * softmax output) and dy[rows, n]. */
void astrt_softmax_grad_f32(const float *y, const float *dy, float *dx,
                            int64_t rows, int64_t n);
/* y[rows, n] = x - max - log(sum_j exp(x_j - max)) per row, x[rows, n]. */
void astrt_log_softmax_f32(const float *x, float *y, int64_t rows, int64_t n);
/* dx[rows, n] = dy - exp(y) * sum_j dy_j per row, given y[rows, n] (the
 * log-softmax output) and dy[rows, n]. */
void astrt_log_softmax_grad_f32(const float *y, const float *dy, float *dx,
                                int64_t rows, int64_t n);
/* y[rows, n] = (x - mean) / sqrt(var + eps) per row of x[rows, n], var the
 * biased variance (divided by n, as PyTorch); no affine part. */
void astrt_layernorm_f32(const float *x, float *y, int64_t rows, int64_t n,
                         float eps);
/* dx[rows, n] = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) per row,
 * with mean, rstd and xhat = (x - mean) * rstd recomputed from x[rows, n];
 * dy[rows, n]. */
void astrt_layernorm_grad_f32(const float *x, const float *dy, float *dx,
                              int64_t rows, int64_t n, float eps);
/* out[count, d] = table[idx[i], :] for i < count, from table[vocab, d] and
 * idx[count]; an index outside [0, vocab) gives a row of zeros. */
void astrt_gather_rows_f32(const float *table, int64_t vocab, int64_t d,
                           const int32_t *idx, int64_t count, float *out);
/* dtable[vocab, d] (overwritten) = sum over i < count with idx[i] == v of
 * dy[i, :], from idx[count] and dy[count, d]; indices outside [0, vocab) are
 * skipped. Each row sums in increasing i (no atomics): bit-identical for any
 * number of threads. */
void astrt_scatter_add_rows_f32(const int32_t *idx, int64_t count,
                                const float *dy, int64_t d, int64_t vocab,
                                float *dtable);

/* y[n] = x[n] rounded to bf16 (to nearest, ties to even; NaN -> 0x7fc0),
 * and back (exact), as `precision bf16` casts (kernels_cast.c). */
void astrt_cast_f32_bf16(const float *x, uint16_t *y, int64_t n);
void astrt_cast_bf16_f32(const uint16_t *x, float *y, int64_t n);

void astrt_ref_softmax_f32(const float *x, float *y, int64_t rows, int64_t n,
                           int64_t causal);
void astrt_ref_softmax_grad_f32(const float *y, const float *dy, float *dx,
                                int64_t rows, int64_t n);
void astrt_ref_log_softmax_f32(const float *x, float *y, int64_t rows,
                               int64_t n);
void astrt_ref_log_softmax_grad_f32(const float *y, const float *dy, float *dx,
                                    int64_t rows, int64_t n);
void astrt_ref_layernorm_f32(const float *x, float *y, int64_t rows, int64_t n,
                             float eps);
void astrt_ref_layernorm_grad_f32(const float *x, const float *dy, float *dx,
                                  int64_t rows, int64_t n, float eps);
void astrt_ref_gather_rows_f32(const float *table, int64_t vocab, int64_t d,
                               const int32_t *idx, int64_t count, float *out);
void astrt_ref_scatter_add_rows_f32(const int32_t *idx, int64_t count,
                                    const float *dy, int64_t d, int64_t vocab,
                                    float *dtable);

/* Instruction set of the row kernels above: "generic" (portable C vectors,
 * 4 lanes), "avx2" (8 lanes) or "avx512" (16 lanes), resolved on first use to
 * the best this CPU runs. Results differ between instruction sets only by
 * float rounding (the lanes sum in a different order). For tests and
 * benchmarks, astrt_seq_set_isa selects one by name; it returns 0 and
 * changes nothing if the name is unknown or the CPU cannot run it. It must
 * not run concurrently with the kernels. */
const char *astrt_seq_isa(void);
int astrt_seq_set_isa(const char *name);

/* ---- GEMM backends (kernels_gemm_batched.c, kernels_gemm_backend.c,
 * kernels_gemm_xsmm.c) ------------------------------------------------------
 *
 * Batched strided GEMM. For every batch index i = (i_0 .. i_{nbatch-1}),
 * row-major over count[]:
 *   C_i[m, n] = alpha * op(A_i) op(B_i) + beta * C_i
 * with A_i = a + sum_j i_j * sa[j] (likewise B_i, C_i), op(A_i) [m, k] stored
 * as [m, k] (row stride lda) or, when ta, as [k, m]; op(B_i) [k, n] stored as
 * [k, n] (ldb) or, when tb, as [n, k]; C_i [m, n] with row stride ldc.
 * A stride of 0 broadcasts. A batch dimension with sc[j] == 0 and
 * count[j] > 1 is FOLDED: the products along it are summed into the same
 * C_i (beta applies once, then the products add in row-major order of the
 * folded indices). C blocks of different non-folded indices must not
 * overlap. As in BLAS, beta == 0 means C is not read. m, n, k or a count
 * may be 0.
 *
 * A and B hold ab_type elements: ASTRT_DTYPE_F32, or ASTRT_DTYPE_BF16
 * (bfloat16 bits, uint16_t): bf16 products accumulate in fp32 (C is always
 * f32). Strides and leading dimensions count elements of that type.
 *
 * backend (astrt_gemm_backend, astrt_abi.h) is the call site's backend,
 * chosen by astc when it compiled the program (by measurement: machine.c):
 *   openblas  OpenBLAS's cblas_sgemm, single-threaded per piece (the
 *             default and the fallback). bf16 operands are widened to f32
 *             (exactly) and multiplied in fp32.
 *   xsmm      libxsmm's JIT-generated kernels for the exact piece shape (no
 *             packing; B is transposed into scratch when tb). bf16 products
 *             run as bf16 dot products (vdpbf16ps) with fp32 accumulation
 *             where the CPU has AVX512_BF16; B is packed into pairs of k
 *             (VNNI), A transposed when ta. Elsewhere bf16 runs as openblas.
 * A backend this build or CPU cannot run, or a call it does not support
 * (xsmm: alpha != 1, or beta other than 0 and 1), runs as openblas. The
 * environment variable ASTRT_GEMM=openblas|xsmm overrides every call site
 * (a note on stderr, once); ASTRT_GEMM=auto (or unset) keeps each site's.
 *
 * Work is split into pieces (batch items, or slabs of rows or columns of one
 * product) that depend only on the shape, each computed by one thread with
 * one backend call per folded product, and the pieces are spread over the
 * runtime's thread pool: for a given backend the result is bit-identical for
 * any number of threads. */
typedef struct astrt_gemm_batch {
  int32_t ta, tb;              /* transpose A / B */
  int64_t m, n, k;             /* C is m x n; op(A) m x k; op(B) k x n */
  int64_t lda, ldb, ldc;       /* row strides (elements) of A, B, C as stored
                                  (lda >= cols of stored A, ...) */
  int32_t nbatch;              /* batch dimensions, 0..4 */
  int64_t count[4];            /* their extents */
  int64_t sa[4], sb[4], sc[4]; /* element strides of each batch dimension in
                                  A, B, C; 0 = broadcast (in C: folded) */
  float alpha, beta;
  int32_t backend;             /* astrt_gemm_backend (0: openblas) */
  int32_t ab_type;             /* astrt_dtype of A and B: F32 (0) or BF16 */
} astrt_gemm_batch;

/* Any ab_type. */
void astrt_gemm_batched(const astrt_gemm_batch *d, const void *a,
                        const void *b, float *c);
/* ab_type F32 (the same call). */
void astrt_sgemm_batched(const astrt_gemm_batch *d, const float *a,
                         const float *b, float *c);
/* Naive loops, every element of C summed (over the folded indices and k) in
 * double and rounded once; bf16 operands read exactly. */
void astrt_ref_gemm_batched(const astrt_gemm_batch *d, const void *a,
                            const void *b, float *c);
void astrt_ref_sgemm_batched(const astrt_gemm_batch *d, const float *a,
                             const float *b, float *c);

/* "openblas", "xsmm"; NULL for an id out of range. */
const char *astrt_gemm_backend_name(int backend);
/* The id of a name, or -1. */
int astrt_gemm_backend_id(const char *name);
/* Whether this build and CPU run `backend` natively for ab_type operands
 * (openblas: always; xsmm f32: built with libxsmm, on AVX2 or better; xsmm
 * bf16: also AVX512_BF16). A backend that is not available runs as openblas.
 * If why is not NULL, *why is set to a reason when it is not (static). */
int astrt_gemm_backend_available(int backend, int ab_type, const char **why);
/* The instruction set libxsmm generates kernels for ("hsw": AVX2, "skx":
 * AVX-512, "cpx": AVX-512 with BF16, ...; LIBXSMM_TARGET overrides it), or
 * "none" in a build without libxsmm. */
const char *astrt_gemm_xsmm_arch(void);
/* The backend a call with descriptor d runs: the override (ASTRT_GEMM or
 * astrt_gemm_force), else d->backend, then openblas where that is not
 * available or does not support the call. */
int astrt_gemm_backend_resolve(const astrt_gemm_batch *d);
/* Forces every call to `backend` (as ASTRT_GEMM does), or -1 to go back to
 * the environment's choice; returns the previous forced value (-1: none).
 * For tests and calibration; not concurrently with GEMM calls. */
int astrt_gemm_force(int backend);
/* The seconds one call of d takes with `backend` (on operands of d's shape
 * filled with small values, C scratch), on `threads` threads of a pool made
 * for the measurement (OpenBLAS then runs single-threaded inside the pieces,
 * as in a training run); on one thread (threads <= 1) the calling thread's
 * CPU time, else wall time: the 10th percentile (what a call costs when other
 * processes leave it the cores) of repeated timings covering at least
 * `budget` seconds in all (at least 5, or 3 when a call takes longer than
 * the budget), after one untimed call. Returns a negative value
 * when the backend is not available for d (resolve would not run it). Not
 * concurrently with a training run in the same thread. */
double astrt_gemm_measure(const astrt_gemm_batch *d, int backend, int threads,
                          double budget);

/* bf16 <-> f32 (round to nearest even; NaN stays NaN), n elements. */
void astrt_f32_to_bf16(const float *x, uint16_t *y, int64_t n);
void astrt_bf16_to_f32(const uint16_t *x, float *y, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
