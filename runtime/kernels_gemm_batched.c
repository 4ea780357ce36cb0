/* kernels_gemm_batched.c — batched strided GEMM (astrt_kernels.h): every
 * product of generated code, among them attention's per-head products (Q K^T,
 * P V and their gradients, whose heads are strided views of [B, T, H, D]
 * tensors) and weight gradients summed over batch dimensions ("folded"
 * dimensions, whose C stride is 0), in f32 or with bf16 operands.
 *
 * Pieces. The call is cut into pieces that depend on the shape only:
 *   - the independent batch items (the non-folded indices), each with all of
 *     its folded products, applied in row-major order of the folded indices
 *     (the first with beta, the others with beta = 1);
 *   - when there are fewer than PIECES_MIN items, each item is further cut
 *     into equal slabs of rows of C (or of columns when N > M, as astrt_sgemm
 *     does), as many as make PIECES_MIN pieces, but no slab thinner than
 *     SLAB_MIN rows and no slab of fewer than SPLIT_MIN_MACS multiply-adds.
 * Every piece is one single-threaded backend call per folded product
 * (OpenBLAS runs on one thread inside the runtime's pool; libxsmm's kernels
 * never thread), and the pieces are dealt to the pool's threads in
 * contiguous ranges. So each element of C is computed by the same calls
 * whatever the number of threads: for a given backend, bit-identical results
 * for 1, 2 or 64 threads. (Cutting by the thread count, as astrt_sgemm does,
 * could change a backend's code path for a smaller product, and with it the
 * rounding.)
 *
 * Backends (kernels_gemm_backend.c resolves which one runs): a piece's
 * product goes to astrt_gemm_piece_openblas (here) or astrt_gemm_piece_xsmm
 * (kernels_gemm_xsmm.c). bf16 operands on the openblas path are widened to
 * f32 once per call, over the pool, and the f32 path runs on the copies.
 *
 * Leading dimensions and batch strides are handed to the backends as they
 * are, so strided views need no copies. Empty cases are handled here: M == 0
 * or N == 0 (or no batch index) does nothing; K == 0 only scales each C_i by
 * beta (beta == 0 writes zeros without reading).
 */
#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

/* fewer items than this are cut into slabs too */
#define PIECES_MIN 8
/* the thinnest slab, in rows (or columns) of C */
#define SLAB_MIN 8
/* products smaller than this many multiply-adds run on one thread, and are
 * not cut (the same bound as astrt_sgemm) */
#define SPLIT_MIN_MACS (1 << 15)

typedef struct bgemm {
  const astrt_gemm_batch *d;
  const char *a, *b;         /* bytes */
  float *c;
  size_t esize;              /* bytes per element of A and B */
  astrt_gemm_piece_fn *piece;
  int nitem, nfold;          /* non-folded and folded batch dimensions */
  int item_dim[4], fold_dim[4];
  int64_t items, folds;      /* number of items, of products per item */
  int64_t slabs, split;      /* slabs per item; the extent they cut (m or n) */
  int by_rows;               /* slabs of rows (else columns) */
} bgemm;

static void check_blasint(const char *what, int64_t v) {
  if (sizeof(blasint) < sizeof(int64_t) && v > (int64_t)INT_MAX)
    astrt_kernel_fatal("astrt_gemm_batched: %s=%lld exceeds the BLAS index range", what, (long long)v);
}

static void check(const char *who, const astrt_gemm_batch *d) {
  if (d->m < 0 || d->n < 0 || d->k < 0)
    astrt_kernel_fatal("%s: negative size m=%lld n=%lld k=%lld", who, (long long)d->m, (long long)d->n,
                       (long long)d->k);
  if (d->nbatch < 0 || d->nbatch > 4) astrt_kernel_fatal("%s: nbatch=%d not in 0..4", who, (int)d->nbatch);
  for (int j = 0; j < d->nbatch; j++)
    if (d->count[j] < 0) astrt_kernel_fatal("%s: count[%d]=%lld < 0", who, j, (long long)d->count[j]);
  const int64_t acols = d->ta ? d->m : d->k, bcols = d->tb ? d->k : d->n;
  if (d->lda < acols || d->ldb < bcols || d->ldc < d->n)
    astrt_kernel_fatal("%s: leading dimensions lda=%lld ldb=%lld ldc=%lld below the stored widths %lld %lld %lld",
                       who, (long long)d->lda, (long long)d->ldb, (long long)d->ldc, (long long)acols,
                       (long long)bcols, (long long)d->n);
  if (d->ab_type != ASTRT_DTYPE_F32 && d->ab_type != ASTRT_DTYPE_BF16)
    astrt_kernel_fatal("%s: operand type %d is neither f32 nor bf16", who, (int)d->ab_type);
}

/* folded: C stride 0 over more than one index */
static int is_folded(const astrt_gemm_batch *d, int j) { return d->sc[j] == 0 && d->count[j] > 1; }

/* offsets (elements) of the batch index numbered `i` over the dimensions
 * dims[0, nd) (row-major: the last fastest) */
static void offsets(const astrt_gemm_batch *d, const int *dims, int nd, int64_t i, int64_t *oa, int64_t *ob,
                    int64_t *oc) {
  int64_t a = 0, b = 0, c = 0;
  for (int t = nd - 1; t >= 0; t--) {
    const int j = dims[t];
    const int64_t ij = i % d->count[j];
    i /= d->count[j];
    a += ij * d->sa[j];
    b += ij * d->sb[j];
    c += ij * d->sc[j];
  }
  *oa = a, *ob = b, *oc = c;
}

/* C[rows m, cols n] (row stride ldc) = beta * C */
static void scale_c(int64_t m, int64_t n, int64_t ldc, float beta, float *c) {
  for (int64_t i = 0; i < m; i++) {
    float *row = c + i * ldc;
    if (beta == 0.0f)
      memset(row, 0, (size_t)n * sizeof(float));
    else if (beta != 1.0f)
      for (int64_t j = 0; j < n; j++) row[j] *= beta;
  }
}

/* ---- OpenBLAS ---------------------------------------------------------------------- */

void astrt_gemm_piece_openblas(const astrt_gemm_batch *d, int64_t m, int64_t n, const void *a, const void *b,
                               float beta, float *c) {
  cblas_sgemm(CblasRowMajor, d->ta ? CblasTrans : CblasNoTrans, d->tb ? CblasTrans : CblasNoTrans, (blasint)m,
              (blasint)n, (blasint)d->k, d->alpha, a, (blasint)d->lda, b, (blasint)d->ldb, beta, c,
              (blasint)d->ldc);
}

/* ---- pieces ------------------------------------------------------------------------ */

/* piece p: item p / slabs, slab p % slabs */
static void run_piece(const bgemm *g, int64_t p) {
  const astrt_gemm_batch *d = g->d;
  const int64_t item = p / g->slabs, slab = p % g->slabs;
  int64_t ia, ib, ic;
  offsets(d, g->item_dim, g->nitem, item, &ia, &ib, &ic);
  int64_t m = d->m, n = d->n;
  const int64_t lo = g->split * slab / g->slabs, hi = g->split * (slab + 1) / g->slabs;
  if (g->by_rows) {
    ia += d->ta ? lo : lo * d->lda;
    ic += lo * d->ldc;
    m = hi - lo;
  } else {
    ib += d->tb ? lo * d->ldb : lo;
    ic += lo;
    n = hi - lo;
  }
  float *c = g->c + ic;
  if (m <= 0 || n <= 0) return;
  if (d->k == 0) {
    scale_c(m, n, d->ldc, d->beta, c);
    return;
  }
  for (int64_t f = 0; f < g->folds; f++) {
    int64_t fa, fb, fc;
    offsets(d, g->fold_dim, g->nfold, f, &fa, &fb, &fc);  /* fc == 0 */
    g->piece(d, m, n, g->a + (size_t)(ia + fa) * g->esize, g->b + (size_t)(ib + fb) * g->esize,
             f == 0 ? d->beta : 1.0f, c);
  }
}

static void bgemm_part(void *ctx, int part, int parts) {
  const bgemm *g = ctx;
  const int64_t pieces = g->items * g->slabs;
  const int64_t p0 = pieces * part / parts, p1 = pieces * (part + 1) / parts;
  for (int64_t p = p0; p < p1; p++) run_piece(g, p);
}

/* Runs d (ab_type of `esize`-byte elements) with `piece` for every piece. */
void astrt_gemm_run_pieces(const astrt_gemm_batch *d, const void *a, const void *b, float *c, size_t esize,
                           astrt_gemm_piece_fn *piece) {
  bgemm g = {d, a, b, c, esize, piece, 0, 0, {0}, {0}, 1, 1, 1, 0, 1};
  for (int j = 0; j < d->nbatch; j++) {
    if (is_folded(d, j)) {
      g.fold_dim[g.nfold++] = j;
      g.folds *= d->count[j];
    } else {
      g.item_dim[g.nitem++] = j;
      g.items *= d->count[j];
    }
  }
  if (g.items == 0 || g.folds == 0 || d->m == 0 || d->n == 0) return;
  g.by_rows = d->m >= d->n;
  g.split = g.by_rows ? d->m : d->n;
  const double macs = (double)d->m * (double)d->n * (double)d->k * (double)g.folds;  /* per item */
  if (g.items < PIECES_MIN && d->k > 0) {
    int64_t s = (PIECES_MIN + g.items - 1) / g.items;
    if (s > g.split / SLAB_MIN) s = g.split / SLAB_MIN;
    if ((double)s > macs / SPLIT_MIN_MACS) s = (int64_t)(macs / SPLIT_MIN_MACS);
    g.slabs = s > 1 ? s : 1;
  }
  const int parts = astrt_pool_size();
  if (parts > 1 && g.items * g.slabs >= 2 && macs * (double)g.items >= SPLIT_MIN_MACS)
    astrt_pool_run(bgemm_part, &g);
  else
    bgemm_part(&g, 0, 1);
}

/* ---- bf16 on the f32 path: the operands widened once per call ------------------------ */

/* elements from an operand's first to one past its last, over every batch
 * index (strides are not negative) */
static int64_t span(const astrt_gemm_batch *d, const int64_t *s, int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return 0;
  int64_t last = (rows - 1) * ld + cols;
  for (int j = 0; j < d->nbatch; j++) {
    if (d->count[j] == 0) return 0;
    last += (d->count[j] - 1) * s[j];
  }
  return last;
}

typedef struct widen_job {
  const uint16_t *x[2];
  float *y[2];
  int64_t n[2];
} widen_job;

static void widen_part(void *ctx, int part, int parts) {
  const widen_job *w = ctx;
  for (int i = 0; i < 2; i++) {
    const int64_t lo = w->n[i] * part / parts, hi = w->n[i] * (part + 1) / parts;
    astrt_bf16_to_f32(w->x[i] + lo, w->y[i] + lo, hi - lo);
  }
}

static void widened(const astrt_gemm_batch *d, const void *a, const void *b, float *c) {
  const int64_t na = span(d, d->sa, d->ta ? d->k : d->m, d->ta ? d->m : d->k, d->lda);
  const int64_t nb = span(d, d->sb, d->tb ? d->n : d->k, d->tb ? d->k : d->n, d->ldb);
  /* 64-byte aligned halves of the calling thread's scratch; the pool's other
   * threads read it while this call lasts */
  const int64_t na_pad = (na + 15) / 16 * 16;
  float *s = astrt_scratch((size_t)(na_pad + nb));
  widen_job w = {{a, b}, {s, s + na_pad}, {na, nb}};
  if (astrt_pool_size() > 1 && na + nb >= (1 << 14))
    astrt_pool_run(widen_part, &w);
  else
    widen_part(&w, 0, 1);
  astrt_gemm_batch f = *d;
  f.ab_type = ASTRT_DTYPE_F32;
  astrt_gemm_run_pieces(&f, s, s + na_pad, c, sizeof(float), astrt_gemm_piece_openblas);
}

/* ---- entry points -------------------------------------------------------------------- */

void astrt_gemm_run_backend(const astrt_gemm_batch *d, const void *a, const void *b, float *c, int backend) {
  const int bf16 = d->ab_type == ASTRT_DTYPE_BF16;
  if (backend == ASTRT_GEMM_XSMM) {
    if (!astrt_gemm_xsmm_packed(d, a, b, c)) astrt_gemm_run_pieces(d, a, b, c, bf16 ? 2 : 4, astrt_gemm_piece_xsmm);
  } else if (bf16 && d->k > 0 && d->m > 0 && d->n > 0) {
    widened(d, a, b, c);
  } else {
    astrt_gemm_run_pieces(d, a, b, c, bf16 ? 2 : 4, astrt_gemm_piece_openblas);
  }
}

void astrt_gemm_batched(const astrt_gemm_batch *d,
                        const void *a,  // A_i [M, K] (row stride lda), or [K, M] when ta
                        const void *b,  // B_i [K, N] (row stride ldb), or [N, K] when tb
                        float *c) {     // C_i [M, N] (row stride ldc)
  check("astrt_gemm_batched", d);
  check_blasint("m", d->m), check_blasint("n", d->n), check_blasint("k", d->k);
  check_blasint("lda", d->lda), check_blasint("ldb", d->ldb), check_blasint("ldc", d->ldc);
  astrt_gemm_run_backend(d, a, b, c, astrt_gemm_backend_resolve(d));
}

void astrt_sgemm_batched(const astrt_gemm_batch *d, const float *a, const float *b, float *c) {
  if (d->ab_type != ASTRT_DTYPE_F32)
    astrt_kernel_fatal("astrt_sgemm_batched: operand type %d is not f32 (call astrt_gemm_batched)", (int)d->ab_type);
  astrt_gemm_batched(d, a, b, c);
}

/* ---- the reference ------------------------------------------------------------------- */

static double elem(const astrt_gemm_batch *d, const void *x, int64_t i) {
  if (d->ab_type == ASTRT_DTYPE_BF16) {
    float f;
    astrt_bf16_to_f32((const uint16_t *)x + i, &f, 1);
    return f;
  }
  return ((const float *)x)[i];
}

void astrt_ref_gemm_batched(const astrt_gemm_batch *d,
                            const void *a,  // A_i [M, K] (row stride lda), or [K, M] when ta
                            const void *b,  // B_i [K, N] (row stride ldb), or [N, K] when tb
                            float *c) {     // C_i [M, N] (row stride ldc)
  check("astrt_ref_gemm_batched", d);
  int item_dim[4], fold_dim[4], nitem = 0, nfold = 0;
  int64_t items = 1, folds = 1;
  for (int j = 0; j < d->nbatch; j++) {
    if (is_folded(d, j)) {
      fold_dim[nfold++] = j;
      folds *= d->count[j];
    } else {
      item_dim[nitem++] = j;
      items *= d->count[j];
    }
  }
  if (folds == 0) return;
  for (int64_t it = 0; it < items; it++) {
    int64_t ia, ib, ic;
    offsets(d, item_dim, nitem, it, &ia, &ib, &ic);
    float *ci = c + ic;
    for (int64_t i = 0; i < d->m; i++)
      for (int64_t j = 0; j < d->n; j++) {
        double acc = 0.0;
        for (int64_t f = 0; f < folds; f++) {
          int64_t fa, fb, fc;
          offsets(d, fold_dim, nfold, f, &fa, &fb, &fc);
          for (int64_t p = 0; p < d->k; p++) {
            const double av = elem(d, a, ia + fa + (d->ta ? p * d->lda + i : i * d->lda + p));
            const double bv = elem(d, b, ib + fb + (d->tb ? j * d->ldb + p : p * d->ldb + j));
            acc += av * bv;
          }
        }
        double r = (double)d->alpha * acc;
        if (d->beta != 0.0f) r += (double)d->beta * (double)ci[i * d->ldc + j];
        ci[i * d->ldc + j] = (float)r;
      }
  }
}

void astrt_ref_sgemm_batched(const astrt_gemm_batch *d, const float *a, const float *b, float *c) {
  astrt_ref_gemm_batched(d, a, b, c);
}
