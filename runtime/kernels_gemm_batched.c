/* kernels_gemm_batched.c — batched strided single-precision GEMM
 * (astrt_kernels.h): attention's per-head products (Q K^T, P V and their
 * gradients, whose heads are strided views of [B, T, H, D] tensors) and
 * weight gradients summed over batch dimensions ("folded" dimensions, whose
 * C stride is 0).
 *
 * Pieces. The call is cut into pieces that depend on the shape only:
 *   - the independent batch items (the non-folded indices), each with all of
 *     its folded products, applied in row-major order of the folded indices
 *     (the first with beta, the others with beta = 1);
 *   - when there are fewer than PIECES_MIN items, each item is further cut
 *     into equal slabs of rows of C (or of columns when N > M, as astrt_sgemm
 *     does), as many as make PIECES_MIN pieces, but no slab thinner than
 *     SLAB_MIN rows and no slab of fewer than SPLIT_MIN_MACS multiply-adds.
 * Every piece is one single-threaded cblas_sgemm per folded product
 * (OpenBLAS runs on one thread inside the runtime's pool), and the pieces are
 * dealt to the pool's threads in contiguous ranges. So each element of C is
 * computed by the same calls whatever the number of threads: bit-identical
 * results for 1, 2 or 64 threads. (Cutting by the thread count, as
 * astrt_sgemm does, could change OpenBLAS's code path for a smaller
 * product, and with it the rounding.)
 *
 * Leading dimensions and batch strides are handed to BLAS as they are, so
 * strided views need no copies. Empty cases are handled here, as in
 * astrt_sgemm: M == 0 or N == 0 (or no batch index) does nothing; K == 0
 * only scales each C_i by beta (beta == 0 writes zeros without reading).
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
  const float *a, *b;
  float *c;
  int nitem, nfold;          /* non-folded and folded batch dimensions */
  int item_dim[4], fold_dim[4];
  int64_t items, folds;      /* number of items, of products per item */
  int64_t slabs, split;      /* slabs per item; the extent they cut (m or n) */
  int by_rows;               /* slabs of rows (else columns) */
} bgemm;

static blasint to_blasint(const char *what, int64_t v) {
  if (sizeof(blasint) < sizeof(int64_t) && v > (int64_t)INT_MAX)
    astrt_kernel_fatal("astrt_sgemm_batched: %s=%lld exceeds the BLAS index range", what, (long long)v);
  return (blasint)v;
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

/* piece p: item p / slabs, slab p % slabs */
static void run_piece(const bgemm *g, int64_t p) {
  const astrt_gemm_batch *d = g->d;
  const int64_t item = p / g->slabs, slab = p % g->slabs;
  int64_t ia, ib, ic;
  offsets(d, g->item_dim, g->nitem, item, &ia, &ib, &ic);
  const float *a = g->a + ia, *b = g->b + ib;
  float *c = g->c + ic;
  int64_t m = d->m, n = d->n;
  const int64_t lo = g->split * slab / g->slabs, hi = g->split * (slab + 1) / g->slabs;
  if (g->by_rows) {
    a += d->ta ? lo : lo * d->lda;
    c += lo * d->ldc;
    m = hi - lo;
  } else {
    b += d->tb ? lo * d->ldb : lo;
    c += lo;
    n = hi - lo;
  }
  if (m <= 0 || n <= 0) return;
  if (d->k == 0) {
    scale_c(m, n, d->ldc, d->beta, c);
    return;
  }
  for (int64_t f = 0; f < g->folds; f++) {
    int64_t fa, fb, fc;
    offsets(d, g->fold_dim, g->nfold, f, &fa, &fb, &fc);  /* fc == 0 */
    cblas_sgemm(CblasRowMajor, d->ta ? CblasTrans : CblasNoTrans, d->tb ? CblasTrans : CblasNoTrans, (blasint)m,
                (blasint)n, (blasint)d->k, d->alpha, a + fa, (blasint)d->lda, b + fb, (blasint)d->ldb,
                f == 0 ? d->beta : 1.0f, c, (blasint)d->ldc);
  }
}

static void bgemm_part(void *ctx, int part, int parts) {
  const bgemm *g = ctx;
  const int64_t pieces = g->items * g->slabs;
  const int64_t p0 = pieces * part / parts, p1 = pieces * (part + 1) / parts;
  for (int64_t p = p0; p < p1; p++) run_piece(g, p);
}

void astrt_sgemm_batched(const astrt_gemm_batch *d,
                         const float *a,  // A_i [M, K] (row stride lda), or [K, M] when ta
                         const float *b,  // B_i [K, N] (row stride ldb), or [N, K] when tb
                         float *c) {      // C_i [M, N] (row stride ldc)
  check("astrt_sgemm_batched", d);
  bgemm g = {d, a, b, c, 0, 0, {0}, {0}, 1, 1, 1, 0, 1};
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
  (void)to_blasint("m", d->m), (void)to_blasint("n", d->n), (void)to_blasint("k", d->k);
  (void)to_blasint("lda", d->lda), (void)to_blasint("ldb", d->ldb), (void)to_blasint("ldc", d->ldc);
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

void astrt_ref_sgemm_batched(const astrt_gemm_batch *d,
                             const float *a,  // A_i [M, K] (row stride lda), or [K, M] when ta
                             const float *b,  // B_i [K, N] (row stride ldb), or [N, K] when tb
                             float *c) {      // C_i [M, N] (row stride ldc)
  check("astrt_ref_sgemm_batched", d);
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
          const float *ai = a + ia + fa, *bi = b + ib + fb;
          for (int64_t p = 0; p < d->k; p++) {
            const float av = d->ta ? ai[p * d->lda + i] : ai[i * d->lda + p];
            const float bv = d->tb ? bi[j * d->ldb + p] : bi[p * d->ldb + j];
            acc += (double)av * (double)bv;
          }
        }
        double r = (double)d->alpha * acc;
        if (d->beta != 0.0f) r += (double)d->beta * (double)ci[i * d->ldc + j];
        ci[i * d->ldc + j] = (float)r;
      }
  }
}
