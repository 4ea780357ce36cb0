/* kernels_conv_direct.c — direct (im2col-free) stride-1 convolution kernels
 * for small channel counts (LeNet-5: O = 6 or 16, C*KH*KW = 25 or 150),
 * where im2col + OpenBLAS GEMM spends most of its time copying and in GEMMs
 * with M = 6 or 16. Forward, gradient w.r.t. the input, gradient w.r.t. the
 * filter; the public kernels in kernels_conv.c call them when
 * astrt_conv_direct_suits() says so.
 *
 * Layout trick: column-shifted planes. For one image, the "shifted planes"
 *   xs[c][j][r][ow] = x[c][r - PH][ow + j - PW]   (0 outside the image)
 * with r in [0, HR), HR = OH + KH - 1 = H + 2*PH, ow in [0, OW), hold KW
 * copies of the zero-padded image, each shifted by one kernel column and cut
 * to OW columns (im2col over the kernel columns only: KW copies, not
 * KH*KW). Flattening the output position to q = oh*OW + ow, every tap
 * (c, i, j) then reads a CONTIGUOUS run:
 *   x[c][oh + i - PH][ow + j - PW] = xs[c][j][q + i*OW]
 * so all three kernels vectorise over q with plain unaligned vector loads,
 * with no padding tests and no wasted lanes except in the last vector of an
 * image (P = OH*OW is not a multiple of the vector length VL):
 *   forward:     y[o][q]        = sum_(c,i,j) w[o][c,i,j] * xs[c][j][q + i*OW]
 *   grad input:  dxs[c][j][q + i*OW] += sum_o w[o][c,i,j] * dy[o][q]
 *                (dxs has the layout of xs; then dx[c][ih][iw] =
 *                 sum_j dxs[c][j][ih + PH][iw + PW - j], dropping padding)
 *   grad weight: dw[o][c,i,j]   = sum_n sum_q dy[n][o][q] * xs_n[c][j][q + i*OW]
 *
 * Forward and grad input share one register-tiled micro-kernel (mk_*): it
 * computes a tile of R rows x T vectors
 *   acc[r][t] = sum_k a[k*lda + r] * b[boff[k] + q0 + t*VL]
 * (broadcast a, vector b; the row offsets boff are a table, so b rows can be
 * the taps of xs or the channels of dy) and stores or adds it to
 * c[coff[r] + q0 + t*VL], lanes q >= qend never written. Forward: rows =
 * output channels, k = taps. Grad input: rows = taps, k = output channels,
 * tiled one kernel row i at a time (see direct_dx).
 * Grad weight uses a dot-product kernel (dw_*): a tile of R output channels
 * x U taps of vector partial sums, accumulated over the q vectors of a chunk
 * of images and kept in memory between chunks; every partial sum is reduced
 * across its lanes once at the end, in lane order.
 *
 * Instruction sets: the kernels (the part of this file between
 * CONV_DIRECT_TEMPLATE guards) are compiled three times by including this
 * file into itself: AVX-512 (VL 16, 32 registers: tiles up to 24
 * accumulators), AVX2 + FMA (VL 8, 16 registers: 12 accumulators) and SSE2,
 * the x86-64 baseline (VL 4, no FMA). Each copy is compiled with
 * `#pragma GCC target`, so the library needs no -march flag. The set is
 * chosen once per process (astrt_conv_isa_active). Other architectures get
 * no direct kernels (astrt_conv_isa_supported is 0 except for NONE) and use
 * im2col + GEMM.
 *
 * Determinism: single-threaded, and every sum is taken in an order fixed by
 * the shape and the instruction set, so two calls give bit-identical
 * results. Different instruction sets round differently (FMA or not, lane
 * count), all within the tests' tolerance of the double-precision
 * references.
 *
 * Lanes past the end of an image (q >= P in the last vector) compute
 * garbage from neighbouring scratch that is never stored; in grad weight
 * they are masked to zero before they are multiplied. Scratch (one
 * astrt_scratch call per kernel call): shifted planes, a copy of dy with
 * zeroed tails, offset tables, packed weights, partial sums.
 */
#ifndef CONV_DIRECT_TEMPLATE

#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CONV_DIRECT_X86 1
#include <immintrin.h>
#else
#define CONV_DIRECT_X86 0
#endif

/* GCC turns the short-row loops below into memset/memcpy calls, which cost
 * more than the 10-30 floats they move; keep the loops. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

/* Heuristic bounds for astrt_conv_direct_suits: the direct kernels are
 * used while O * C*KH*KW stays at or below these (LeNet: 150 and 2400).
 * Measured with `bench_kernels 64 0.5 extra` against im2col + OpenBLAS
 * (single thread; on a shared machine, so only the clear cases count):
 * AVX-512 direct beat im2col on every shape tried up to 64 x 576 but by
 * less and less; AVX2 direct lost grad input from 32 x 144 up and
 * everything from 64 x 288 up; SSE2 direct beats OpenBLAS's SSE kernels
 * (OPENBLAS_CORETYPE=Nehalem) by 1.5-6x on LeNet. Overridable at compile
 * time. */
#ifndef CONV_DIRECT_MAX_OK
#define CONV_DIRECT_MAX_OK 8192
#endif
#ifndef CONV_DIRECT_MAX_OK_AVX2
#define CONV_DIRECT_MAX_OK_AVX2 4096
#endif

/* Grad weight handles images in chunks whose shifted planes and dy copies
 * take about this many floats (L2-resident), to amortise loading and storing
 * the partial sums. */
#define CONV_DW_CHUNK_FLOATS ((int64_t)1 << 15)

/* ---- geometry ------------------------------------------------------------ */

typedef struct dgeom {
  int64_t n, c, h, w;      /* input  [N, C, H, W]     */
  int64_t o, kh, kw;       /* filter [O, C, KH, KW]   */
  int64_t ph, pw;          /* padding (stride is 1)   */
  int64_t oh, ow;          /* output [N, O, OH, OW]   */
  int64_t p;               /* OH*OW positions q       */
  int64_t k;               /* C*KH*KW taps            */
  int64_t hr;              /* OH + KH - 1 = H + 2*PH: rows of a shifted plane */
  int64_t lp;              /* HR*OW: floats per shifted plane                 */
  int64_t xs_size;         /* C*KW*LP (+ VL of slack, rounded to 16)          */
  int64_t pv;              /* ceil(P / VL) vectors per image                  */
  int64_t pr;              /* PV*VL: padded length of a dy row copy           */
} dgeom;

static int64_t round16(int64_t v) { return (v + 15) & ~(int64_t)15; }

/* Columns [*lo, *hi) of plane j that come from the image (the others are
 * padding and stay zero). */
static void plane_cols(const dgeom *g, int64_t j, int64_t *lo, int64_t *hi) {
  int64_t l = g->pw - j, h = g->w + g->pw - j;
  if (l < 0) l = 0;
  if (h > g->ow) h = g->ow;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

/* ---- kernel interfaces (shared by every instruction set) ----------------- */

/* One tile of the micro-kernel (file comment): R rows x T vectors. */
typedef struct conv_mk_args {
  const float *a;        /* broadcast operand: a[k*lda + r], r < R       */
  int64_t lda;
  const float *b;        /* vector operand: b[boff[k] + q0 + t*VL]       */
  const ptrdiff_t *boff; /* [nk]                                         */
  int64_t nk;            /* reduction length                             */
  float *c;              /* result: c[coff[r] + q0 + t*VL]               */
  const ptrdiff_t *coff; /* [R]                                          */
  int64_t q0, qend;      /* first position; lanes q >= qend not written  */
  int add;               /* 0: store, 1: add to c                        */
} conv_mk_args;

/* One tile of the grad-weight kernel: R output channels x U taps. */
typedef struct conv_dw_args {
  const float *dy;        /* dy[img*dy_img + r*ldy + q]: zero for q >= P   */
  int64_t ldy, dy_img;
  const float *x;         /* x[img*x_img + xoff[u] + q]: shifted planes    */
  const ptrdiff_t *xoff;  /* [U]                                           */
  int64_t x_img;
  int64_t nimg;           /* images in the chunk                           */
  int64_t nfull;          /* whole vectors per image (P / VL)              */
  int tail;               /* lanes of the last, partial vector (P % VL)    */
  float *acc;             /* partial sums acc[(r*ldacc + u)*VL + lane]      */
  int64_t ldacc;
} conv_dw_args;

typedef void (*conv_mk_fn)(const conv_mk_args *);
typedef void (*conv_dw_fn)(const conv_dw_args *);

#define MK_RMAX_ALL 8  /* table sizes (the largest R, T, U of any set) */
#define MK_TMAX_ALL 4
#define DW_RMAX_ALL 6
#define DW_UMAX_ALL 4

/* One instruction set's kernels and tile limits. */
typedef struct conv_isa_impl {
  int vl;                      /* floats per vector                       */
  int mk_rmax, mk_tmax, mk_acc;  /* R <= rmax, T <= tmax, R*T <= acc      */
  int dw_rmax, dw_umax, dw_acc;
  conv_mk_fn mk[MK_RMAX_ALL][MK_TMAX_ALL];  /* [R-1][T-1] */
  conv_dw_fn dw[DW_RMAX_ALL][DW_UMAX_ALL];  /* [R-1][U-1] */
  /* per-image data movement (short rows, so vectors with masked tails) */
  void (*fill_planes)(const dgeom *g, const float *xn, float *xs);
  void (*fill_dy)(const dgeom *g, const float *dyn, float *dyz);
  void (*planes_to_dx)(const dgeom *g, const float *dxs, float *dxn);
} conv_isa_impl;

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* ---- the kernels, once per instruction set -------------------------------- */

#if CONV_DIRECT_X86
#define CONV_DIRECT_TEMPLATE 1

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif
#define CONV_ISA_AVX512 1
#include "kernels_conv_direct.c"
#undef CONV_ISA_AVX512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define CONV_ISA_AVX2 1
#include "kernels_conv_direct.c"
#undef CONV_ISA_AVX2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#define CONV_ISA_SSE2 1
#include "kernels_conv_direct.c"
#undef CONV_ISA_SSE2

#undef CONV_DIRECT_TEMPLATE
#endif /* CONV_DIRECT_X86 */

/* ---- instruction set selection -------------------------------------------- */

static const conv_isa_impl *isa_impl(astrt_conv_isa isa) {
#if CONV_DIRECT_X86
  switch (isa) {
    case ASTRT_CONV_ISA_AVX512: return &impl_avx512;
    case ASTRT_CONV_ISA_AVX2: return &impl_avx2;
    case ASTRT_CONV_ISA_GENERIC: return &impl_sse2;
    case ASTRT_CONV_ISA_NONE: break;
  }
#endif
  (void)isa;
  return NULL;
}

int astrt_conv_isa_supported(astrt_conv_isa isa) {
  switch (isa) {
    case ASTRT_CONV_ISA_NONE: return 1;
#if CONV_DIRECT_X86
    case ASTRT_CONV_ISA_GENERIC: return 1;
    case ASTRT_CONV_ISA_AVX2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case ASTRT_CONV_ISA_AVX512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
#else
    case ASTRT_CONV_ISA_GENERIC:
    case ASTRT_CONV_ISA_AVX2:
    case ASTRT_CONV_ISA_AVX512: return 0;
#endif
  }
  return 0;
}

const char *astrt_conv_isa_name(astrt_conv_isa isa) {
  switch (isa) {
    case ASTRT_CONV_ISA_NONE: return "none";
    case ASTRT_CONV_ISA_GENERIC: return "generic";
    case ASTRT_CONV_ISA_AVX2: return "avx2";
    case ASTRT_CONV_ISA_AVX512: return "avx512";
  }
  return "?";
}

static astrt_conv_isa isa_resolve(void) {
  astrt_conv_isa want = ASTRT_CONV_ISA_AVX512;
  const char *env = getenv("ASTRT_CONV_ISA");
  if (env && *env) {
    if (!strcmp(env, "none") || !strcmp(env, "im2col")) return ASTRT_CONV_ISA_NONE;
    if (!strcmp(env, "generic")) want = ASTRT_CONV_ISA_GENERIC;
    else if (!strcmp(env, "avx2")) want = ASTRT_CONV_ISA_AVX2;
    /* "avx512" and unknown names: the best the CPU has */
  }
  for (int i = (int)want; i > (int)ASTRT_CONV_ISA_NONE; i--)
    if (astrt_conv_isa_supported((astrt_conv_isa)i)) return (astrt_conv_isa)i;
  return ASTRT_CONV_ISA_NONE;
}

astrt_conv_isa astrt_conv_isa_active(void) {
  /* Resolved once; a race only computes the same value twice. */
  static _Atomic int cached = -1;
  int v = atomic_load_explicit(&cached, memory_order_relaxed);
  if (v < 0) {
    v = (int)isa_resolve();
    atomic_store_explicit(&cached, v, memory_order_relaxed);
  }
  return (astrt_conv_isa)v;
}

/* ---- geometry and tiling -------------------------------------------------- */

static dgeom dgeom_of(const astrt_conv_shape *s, int vl, const char *who) {
  if (s->n < 1 || s->c < 1 || s->h < 0 || s->w < 0 || s->o < 1 ||
      s->kh < 1 || s->kw < 1 || s->sh != 1 || s->sw != 1 || s->ph < 0 ||
      s->pw < 0 || astrt_conv_out_h(s) < 1 || astrt_conv_out_w(s) < 1)
    astrt_kernel_fatal(
        "%s: shape outside the direct kernels' domain n=%lld c=%lld h=%lld "
        "w=%lld o=%lld kh=%lld kw=%lld sh=%lld sw=%lld ph=%lld pw=%lld",
        who, (long long)s->n, (long long)s->c, (long long)s->h,
        (long long)s->w, (long long)s->o, (long long)s->kh, (long long)s->kw,
        (long long)s->sh, (long long)s->sw, (long long)s->ph,
        (long long)s->pw);
  dgeom g = {.n = s->n, .c = s->c, .h = s->h, .w = s->w, .o = s->o,
             .kh = s->kh, .kw = s->kw, .ph = s->ph, .pw = s->pw};
  g.oh = astrt_conv_out_h(s);
  g.ow = astrt_conv_out_w(s);
  g.p = g.oh * g.ow;
  g.k = g.c * g.kh * g.kw;
  g.hr = g.oh + g.kh - 1;
  g.lp = g.hr * g.ow;
  g.xs_size = round16(g.c * g.kw * g.lp + vl);
  g.pv = (g.p + vl - 1) / vl;
  g.pr = g.pv * vl;
  return g;
}

int astrt_conv_direct_suits(const astrt_conv_shape *s) {
  if (s->n < 1 || s->c < 1 || s->o < 1 || s->h < 1 || s->w < 1 ||
      s->kh < 1 || s->kw < 1 || s->sh != 1 || s->sw != 1 || s->ph < 0 ||
      s->pw < 0)
    return 0;
  if (s->kh == 1 && s->kw == 1 && s->ph == 0 && s->pw == 0) return 0;
  if (astrt_conv_out_h(s) < 1 || astrt_conv_out_w(s) < 1) return 0;
  /* keep the per-image scratch and the offset arithmetic modest */
  const int64_t k = s->c * s->kh * s->kw;
  if (k > ((int64_t)1 << 16) || s->o > ((int64_t)1 << 16)) return 0;
  if (s->c * s->kw * (s->h + 2 * s->ph) * astrt_conv_out_w(s) >
      ((int64_t)1 << 24))
    return 0;
  const int64_t bound = astrt_conv_isa_active() == ASTRT_CONV_ISA_AVX2
                            ? CONV_DIRECT_MAX_OK_AVX2
                            : CONV_DIRECT_MAX_OK;
  return s->o * k <= bound;
}

/* Splits `rows` into groups of at most `rmax`, as even as possible (the
 * first rows % groups groups one larger). Group g starts at *start, has
 * *size rows. */
static void split_rows(int64_t rows, int rmax, int64_t g, int64_t *start,
                       int *size) {
  const int64_t ng = (rows + rmax - 1) / rmax;
  const int64_t base = rows / ng, extra = rows % ng;
  *start = g * base + (g < extra ? g : extra);
  *size = (int)(base + (g < extra ? 1 : 0));
}

static int64_t n_groups(int64_t rows, int rmax) {
  return (rows + rmax - 1) / rmax;
}

/* Tiles of the micro-kernel over R rows, all positions of one image:
 * T = min(tmax, acc / R) vectors per tile, the last tile shorter. */
static void mk_rows(const conv_isa_impl *isa, conv_mk_args *a, int R,
                    const dgeom *g) {
  int tcap = isa->mk_acc / R;
  if (tcap > isa->mk_tmax) tcap = isa->mk_tmax;
  if (tcap < 1) tcap = 1;
  for (int64_t v = 0; v < g->pv; v += tcap) {
    const int T = (int)(g->pv - v < tcap ? g->pv - v : tcap);
    a->q0 = v * isa->vl;
    isa->mk[R - 1][T - 1](a);
  }
}

/* ---- scratch preparation -------------------------------------------------- */

/* Offsets of tap k = (c, i, j) in the shifted planes: plane (c, j), row i. */
static void tap_offsets(const dgeom *g, ptrdiff_t *off) {
  for (int64_t c = 0, k = 0; c < g->c; c++)
    for (int64_t i = 0; i < g->kh; i++)
      for (int64_t j = 0; j < g->kw; j++, k++)
        off[k] = (ptrdiff_t)((c * g->kw + j) * g->lp + i * g->ow);
}

/* ---- forward -------------------------------------------------------------- */

static void direct_fwd(const conv_isa_impl *isa, const astrt_conv_shape *s,
                       const float *x,  // [N, C, H, W]
                       const float *w,  // [O, C, KH, KW]
                       float *y) {      // [N, O, OH, OW]
  const dgeom g = dgeom_of(s, isa->vl, "astrt_conv2d_direct_f32");
  /* scratch: boff[K] coff[O] (ptrdiff_t, 2 floats each) | wp[K, O] | xs */
  const int64_t n_off = round16(2 * (g.k + g.o));
  float *buf = astrt_scratch((size_t)(n_off + round16(g.k * g.o) + g.xs_size));
  ptrdiff_t *boff = (ptrdiff_t *)buf, *coff = boff + g.k;
  float *wp = buf + n_off;                  /* [K, O]: taps major */
  float *xs = wp + round16(g.k * g.o);      /* [C, KW, HR, OW] + slack */
  tap_offsets(&g, boff);
  for (int64_t o = 0; o < g.o; o++) coff[o] = (ptrdiff_t)(o * g.p);
  for (int64_t o = 0; o < g.o; o++)
    for (int64_t k = 0; k < g.k; k++) wp[k * g.o + o] = w[o * g.k + k];
  memset(xs, 0, (size_t)g.xs_size * sizeof(float));
  conv_mk_args a = {.lda = g.o, .b = xs, .boff = boff, .nk = g.k,
                    .qend = g.p, .add = 0};
  const int64_t ng = n_groups(g.o, isa->mk_rmax);
  for (int64_t n = 0; n < g.n; n++) {
    isa->fill_planes(&g, x + n * g.c * g.h * g.w, xs);
    a.c = y + n * g.o * g.p;
    for (int64_t gi = 0; gi < ng; gi++) {
      int64_t o0;
      int R;
      split_rows(g.o, isa->mk_rmax, gi, &o0, &R);
      a.a = wp + o0;
      a.coff = coff + o0;
      mk_rows(isa, &a, R, &g);
    }
  }
}

/* ---- grad input ----------------------------------------------------------- */

static void direct_dx(const conv_isa_impl *isa, const astrt_conv_shape *s,
                      const float *dy,  // [N, O, OH, OW]
                      const float *w,   // [O, C, KH, KW]
                      float *dx) {      // [N, C, H, W]
  const dgeom g = dgeom_of(s, isa->vl, "astrt_conv2d_grad_input_direct_f32");
  /* Rows of the micro-kernel = taps in (i, c, j) order, tiled within one i
   * at a time: the rows of a tile then write distinct planes (c, j), so
   * the read-modify-writes of one tile never overlap (an overlapping
   * vector load right after a store cannot be store-forwarded and stalls);
   * tiles of different i overlap, but far apart in time. */
  const int64_t per_i = g.c * g.kw;
  /* scratch: boff[O] coff[K] | wt[O, K] (taps in (i, c, j) order) |
   * dyz[O, PR] | dxs */
  const int64_t n_off = round16(2 * (g.k + g.o));
  const int64_t wt_size = round16(g.o * g.k);
  const int64_t dyz_size = round16(g.o * g.pr);
  float *buf = astrt_scratch((size_t)(n_off + wt_size + dyz_size + g.xs_size));
  ptrdiff_t *boff = (ptrdiff_t *)buf, *coff = boff + g.o;
  float *wt = buf + n_off;
  float *dyz = wt + wt_size;         /* [O, PR], zero tails */
  float *dxs = dyz + dyz_size;       /* [C, KW, HR, OW] + slack */
  for (int64_t o = 0; o < g.o; o++) boff[o] = (ptrdiff_t)(o * g.pr);
  for (int64_t i = 0, row = 0; i < g.kh; i++)
    for (int64_t c = 0; c < g.c; c++)
      for (int64_t j = 0; j < g.kw; j++, row++) {
        coff[row] = (ptrdiff_t)((c * g.kw + j) * g.lp + i * g.ow);
        for (int64_t o = 0; o < g.o; o++)
          wt[o * g.k + row] = w[((o * g.c + c) * g.kh + i) * g.kw + j];
      }
  memset(dyz, 0, (size_t)dyz_size * sizeof(float));
  conv_mk_args a = {.lda = g.k, .b = dyz, .boff = boff, .nk = g.o, .c = dxs,
                    .qend = g.p, .add = 1};
  const int64_t ng = n_groups(per_i, isa->mk_rmax);
  for (int64_t n = 0; n < g.n; n++) {
    isa->fill_dy(&g, dy + n * g.o * g.p, dyz);
    memset(dxs, 0, (size_t)g.xs_size * sizeof(float));
    for (int64_t i = 0; i < g.kh; i++)
      for (int64_t gi = 0; gi < ng; gi++) {
        int64_t r0;
        int R;
        split_rows(per_i, isa->mk_rmax, gi, &r0, &R);
        a.a = wt + i * per_i + r0;
        a.coff = coff + i * per_i + r0;
        mk_rows(isa, &a, R, &g);
      }
    isa->planes_to_dx(&g, dxs, dx + n * g.c * g.h * g.w);
  }
}

/* ---- grad weight ---------------------------------------------------------- */

static void direct_dw(const conv_isa_impl *isa, const astrt_conv_shape *s,
                      const float *x,   // [N, C, H, W]
                      const float *dy,  // [N, O, OH, OW]
                      float *dw) {      // [O, C, KH, KW]
  const dgeom g = dgeom_of(s, isa->vl, "astrt_conv2d_grad_weight_direct_f32");
  const int vl = isa->vl;
  const int64_t dyz_img = round16(g.o * g.pr);
  const int64_t per_img = g.xs_size + dyz_img;
  int64_t chunk = CONV_DW_CHUNK_FLOATS / per_img;
  if (chunk < 1) chunk = 1;
  if (chunk > g.n) chunk = g.n;
  /* scratch: xoff[K] | acc[O, K, VL] | chunk x (dyz | xs) */
  const int64_t n_off = round16(2 * g.k);
  const int64_t acc_size = g.o * g.k * vl;
  float *buf = astrt_scratch((size_t)(n_off + acc_size + chunk * per_img));
  ptrdiff_t *xoff = (ptrdiff_t *)buf;
  float *acc = buf + n_off;
  float *imgs = acc + acc_size;  /* image b: dyz at b*per_img, xs after it */
  tap_offsets(&g, xoff);
  memset(acc, 0, (size_t)acc_size * sizeof(float));
  memset(imgs, 0, (size_t)(chunk * per_img) * sizeof(float));
  conv_dw_args a = {.ldy = g.pr, .dy_img = per_img, .x_img = per_img,
                    .nfull = g.p / vl, .tail = (int)(g.p % vl),
                    .ldacc = g.k};
  const int64_t nog = n_groups(g.o, isa->dw_rmax);
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t b = g.n - n0 < chunk ? g.n - n0 : chunk;
    for (int64_t bi = 0; bi < b; bi++) {
      float *img = imgs + bi * per_img;
      isa->fill_dy(&g, dy + (n0 + bi) * g.o * g.p, img);
      isa->fill_planes(&g, x + (n0 + bi) * g.c * g.h * g.w, img + dyz_img);
    }
    a.nimg = b;
    for (int64_t gi = 0; gi < nog; gi++) {
      int64_t o0;
      int R;
      split_rows(g.o, isa->dw_rmax, gi, &o0, &R);
      int ucap = isa->dw_acc / R;
      if (ucap > isa->dw_umax) ucap = isa->dw_umax;
      if (ucap < 1) ucap = 1;
      a.dy = imgs + o0 * g.pr;
      a.x = imgs + dyz_img;
      for (int64_t k0 = 0; k0 < g.k; k0 += ucap) {
        const int U = (int)(g.k - k0 < ucap ? g.k - k0 : ucap);
        a.xoff = xoff + k0;
        a.acc = acc + (o0 * g.k + k0) * vl;
        isa->dw[R - 1][U - 1](&a);
      }
    }
  }
  /* reduce each partial-sum vector, lanes in order */
  for (int64_t e = 0; e < g.o * g.k; e++) {
    const float *l = acc + e * vl;
    float sum = l[0];
    for (int t = 1; t < vl; t++) sum += l[t];
    dw[e] = sum;
  }
}

/* ---- entry points --------------------------------------------------------- */

static const conv_isa_impl *isa_checked(astrt_conv_isa isa, const char *who) {
  const conv_isa_impl *impl = isa_impl(isa);
  if (!impl || !astrt_conv_isa_supported(isa))
    astrt_kernel_fatal("%s: instruction set %s is not available", who,
                       astrt_conv_isa_name(isa));
  return impl;
}

void astrt_conv2d_direct_f32(astrt_conv_isa isa, const astrt_conv_shape *s,
                             const float *x,  // [N, C, H, W]
                             const float *w,  // [O, C, KH, KW]
                             float *y) {      // [N, O, OH, OW]
  direct_fwd(isa_checked(isa, "astrt_conv2d_direct_f32"), s, x, w, y);
}

void astrt_conv2d_grad_input_direct_f32(astrt_conv_isa isa,
                                        const astrt_conv_shape *s,
                                        const float *dy,  // [N, O, OH, OW]
                                        const float *w,   // [O, C, KH, KW]
                                        float *dx) {      // [N, C, H, W]
  direct_dx(isa_checked(isa, "astrt_conv2d_grad_input_direct_f32"), s, dy, w,
            dx);
}

void astrt_conv2d_grad_weight_direct_f32(astrt_conv_isa isa,
                                         const astrt_conv_shape *s,
                                         const float *x,   // [N, C, H, W]
                                         const float *dy,  // [N, O, OH, OW]
                                         float *dw) {      // [O, C, KH, KW]
  direct_dw(isa_checked(isa, "astrt_conv2d_grad_weight_direct_f32"), s, x, dy,
            dw);
}

#else /* CONV_DIRECT_TEMPLATE ---------------------------------------------------
 * One instruction set's kernels. Included three times by the part above,
 * with exactly one of CONV_ISA_AVX512 / CONV_ISA_AVX2 / CONV_ISA_SSE2
 * defined and the matching target pragma in force. */

#if defined(CONV_ISA_AVX512)
#define SFX(name) CAT(name, _avx512)
#define VL 16
#define MK_RMAX 8
#define MK_ACC 24
#define DW_RMAX 6
#define DW_ACC 20
#define VEC __m512
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSET1(s) _mm512_set1_ps(s)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VZERO() _mm512_setzero_ps()
/* v with lanes >= n (0 < n < VL) set to +0 */
#define VKEEP(v, n) _mm512_maskz_mov_ps((__mmask16)((1u << (n)) - 1u), (v))
/* keeps v in a register (stops GCC folding its load into every FMA that
 * uses it, which would load it again each time) */
#define VPIN(v) __asm__("" : "+v"(v))
/* stores (add = 0) or adds (add = 1) the first n (0 < n < VL) lanes of v */
static inline __attribute__((always_inline)) void SFX(vstore_part)(
    float *dst, __m512 v, int64_t n, int add) {
  const __mmask16 m = (__mmask16)((1u << n) - 1u);
  if (add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst), v);
  _mm512_mask_storeu_ps(dst, m, v);
}
/* the first n (0 < n < VL) floats at src, other lanes 0 (not read) */
static inline __attribute__((always_inline)) __m512 SFX(vload_part)(
    const float *src, int64_t n) {
  return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), src);
}
/* lanes [lo, hi) (0 <= lo < hi <= VL) of src, other lanes 0 (not read) */
static inline __attribute__((always_inline)) __m512 SFX(vload_range)(
    const float *src, int64_t lo, int64_t hi) {
  const unsigned m = ((1u << hi) - 1u) & ~((1u << lo) - 1u);
  return _mm512_maskz_loadu_ps((__mmask16)m, src);
}
#elif defined(CONV_ISA_AVX2)
#define SFX(name) CAT(name, _avx2)
#define VL 8
#define MK_RMAX 6
#define MK_ACC 12
#define DW_RMAX 4
#define DW_ACC 12
#define VEC __m256
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSET1(s) _mm256_set1_ps(s)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VPIN(v) __asm__("" : "+x"(v))
#define VZERO() _mm256_setzero_ps()
#define VKEEP(v, n)                                                       \
  _mm256_and_ps((v), _mm256_castsi256_ps(_mm256_cmpgt_epi32(              \
                         _mm256_set1_epi32(n),                            \
                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))))
static inline __attribute__((always_inline)) void SFX(vstore_part)(
    float *dst, __m256 v, int64_t n, int add) {
  const __m256i m = _mm256_cmpgt_epi32(
      _mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  if (add) v = _mm256_add_ps(_mm256_maskload_ps(dst, m), v);
  _mm256_maskstore_ps(dst, m, v);
}
static inline __attribute__((always_inline)) __m256 SFX(vload_part)(
    const float *src, int64_t n) {
  const __m256i m = _mm256_cmpgt_epi32(
      _mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_maskload_ps(src, m);
}
static inline __attribute__((always_inline)) __m256 SFX(vload_range)(
    const float *src, int64_t lo, int64_t hi) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i below_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), lane);
  const __m256i below_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lo), lane);
  return _mm256_maskload_ps(src, _mm256_andnot_si256(below_lo, below_hi));
}
#elif defined(CONV_ISA_SSE2)
#define SFX(name) CAT(name, _sse2)
#define VL 4
#define MK_RMAX 6
#define MK_ACC 12
#define DW_RMAX 4
#define DW_ACC 12
#define VEC __m128
#define VLOAD(p) _mm_loadu_ps(p)
#define VSTORE(p, v) _mm_storeu_ps((p), (v))
#define VSET1(s) _mm_set1_ps(s)
#define VFMA(a, b, c) _mm_add_ps(_mm_mul_ps((a), (b)), (c))
#define VADD(a, b) _mm_add_ps((a), (b))
#define VPIN(v) __asm__("" : "+x"(v))
#define VZERO() _mm_setzero_ps()
#define VKEEP(v, n)                                                     \
  _mm_and_ps((v), _mm_castsi128_ps(_mm_cmpgt_epi32(_mm_set1_epi32(n),   \
                                                   _mm_setr_epi32(0, 1, 2, 3))))
static inline __attribute__((always_inline)) void SFX(vstore_part)(
    float *dst, __m128 v, int64_t n, int add) {
  float lanes[4];
  _mm_storeu_ps(lanes, v);
  if (add)
    for (int64_t l = 0; l < n; l++) dst[l] += lanes[l];
  else
    for (int64_t l = 0; l < n; l++) dst[l] = lanes[l];
}
static inline __attribute__((always_inline)) __m128 SFX(vload_part)(
    const float *src, int64_t n) {
  float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t l = 0; l < n; l++) lanes[l] = src[l];
  return _mm_loadu_ps(lanes);
}
static inline __attribute__((always_inline)) __m128 SFX(vload_range)(
    const float *src, int64_t lo, int64_t hi) {
  float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t l = lo; l < hi; l++) lanes[l] = src[l];
  return _mm_loadu_ps(lanes);
}
#else
#error "kernels_conv_direct.c: no instruction set selected"
#endif

/* Writes a micro-kernel tile (tile[(r*T + t)*VL + lane]) to its
 * destination: c[coff[r] + q0 + t*VL + lane] for positions < qend, stored
 * or added. */
static void SFX(mk_epilogue)(const conv_mk_args *p, const float *tile, int R,
                             int T) {
  const int64_t q0 = p->q0, qend = p->qend;
  for (int r = 0; r < R; r++) {
    float *dst = p->c + p->coff[r] + q0;
    for (int t = 0; t < T; t++) {
      const int64_t q = q0 + t * VL;
      const VEC v = VLOAD(tile + (r * T + t) * VL);
      if (q + VL <= qend) {
        if (p->add)
          VSTORE(dst + t * VL, VADD(VLOAD(dst + t * VL), v));
        else
          VSTORE(dst + t * VL, v);
      } else if (q < qend) {
        SFX(vstore_part)(dst + t * VL, v, qend - q, p->add);
      }
    }
  }
}

/* Micro-kernel body; R and T are constants after inlining, so the unrolled
 * tile lives in registers. */
static inline __attribute__((always_inline)) void SFX(mk_body)(
    const conv_mk_args *p, const int R, const int T) {
  VEC acc[MK_RMAX_ALL][MK_TMAX_ALL];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) acc[r][t] = VZERO();
  const float *a = p->a;
  const float *b = p->b + p->q0;
  const ptrdiff_t *boff = p->boff;
  const int64_t lda = p->lda, nk = p->nk;
  for (int64_t k = 0; k < nk; k++) {
    const float *bk = b + boff[k];
    const float *ak = a + k * lda;
    VEC bv[MK_TMAX_ALL];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) bv[t] = VLOAD(bk + t * VL);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const VEC av = VSET1(ak[r]);
#pragma GCC unroll 4
      for (int t = 0; t < T; t++) acc[r][t] = VFMA(av, bv[t], acc[r][t]);
    }
  }
  if (p->q0 + T * VL <= p->qend) {  /* whole vectors: straight from registers */
    if (p->add) {
#pragma GCC unroll 8
      for (int r = 0; r < R; r++) {
        float *dst = p->c + p->coff[r] + p->q0;
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
          VSTORE(dst + t * VL, VADD(VLOAD(dst + t * VL), acc[r][t]));
      }
    } else {
#pragma GCC unroll 8
      for (int r = 0; r < R; r++) {
        float *dst = p->c + p->coff[r] + p->q0;
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) VSTORE(dst + t * VL, acc[r][t]);
      }
    }
    return;
  }
  /* The tile that holds the image's last, partial vector: through a stack
   * copy, so the partial-store logic is one small loop, not R*T copies. */
  float tile[MK_RMAX_ALL * MK_TMAX_ALL * VL] __attribute__((aligned(64)));
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) VSTORE(tile + (r * T + t) * VL, acc[r][t]);
  SFX(mk_epilogue)(p, tile, R, T);
}

#define MK_INST(R, T)                                          \
  static void SFX(mk_##R##_##T)(const conv_mk_args *p) {       \
    SFX(mk_body)(p, R, T);                                     \
  }
#define MK_INST_R(R) MK_INST(R, 1) MK_INST(R, 2) MK_INST(R, 3) MK_INST(R, 4)
MK_INST_R(1)
MK_INST_R(2)
MK_INST_R(3)
MK_INST_R(4)
MK_INST_R(5)
MK_INST_R(6)
#if MK_RMAX > 6
MK_INST_R(7)
MK_INST_R(8)
#endif
#undef MK_INST_R
#undef MK_INST

/* Grad-weight tile body: R output channels x U taps of partial-sum vectors,
 * loaded from p->acc, accumulated over the chunk's images, stored back. */
static inline __attribute__((always_inline)) void SFX(dw_body)(
    const conv_dw_args *p, const int R, const int U) {
  VEC acc[DW_RMAX_ALL][DW_UMAX_ALL];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
      acc[r][u] = VLOAD(p->acc + (r * p->ldacc + u) * VL);
  const int64_t ldy = p->ldy, nfull = p->nfull;
  const int tail = p->tail;
  for (int64_t img = 0; img < p->nimg; img++) {
    const float *dy = p->dy + img * p->dy_img;
    const float *xb = p->x + img * p->x_img;
    const float *xu[DW_UMAX_ALL];
#pragma GCC unroll 4
    for (int u = 0; u < U; u++) xu[u] = xb + p->xoff[u];
    for (int64_t v = 0; v < nfull; v++) {
      const int64_t q = v * VL;
      VEC xv[DW_UMAX_ALL];
#pragma GCC unroll 4
      for (int u = 0; u < U; u++) xv[u] = VLOAD(xu[u] + q);
#pragma GCC unroll 8
      for (int r = 0; r < R; r++) {
        VEC dv = VLOAD(dy + r * ldy + q);
        VPIN(dv);
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) acc[r][u] = VFMA(dv, xv[u], acc[r][u]);
      }
    }
    if (tail) {  /* dy is zero past P; x there is masked so 0 * inf != NaN */
      const int64_t q = nfull * VL;
      VEC xv[DW_UMAX_ALL];
#pragma GCC unroll 4
      for (int u = 0; u < U; u++) xv[u] = VKEEP(VLOAD(xu[u] + q), tail);
#pragma GCC unroll 8
      for (int r = 0; r < R; r++) {
        const VEC dv = VLOAD(dy + r * ldy + q);
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) acc[r][u] = VFMA(dv, xv[u], acc[r][u]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
      VSTORE(p->acc + (r * p->ldacc + u) * VL, acc[r][u]);
}

#define DW_INST(R, U)                                          \
  static void SFX(dw_##R##_##U)(const conv_dw_args *p) {       \
    SFX(dw_body)(p, R, U);                                     \
  }
#define DW_INST_R(R) DW_INST(R, 1) DW_INST(R, 2) DW_INST(R, 3) DW_INST(R, 4)
DW_INST_R(1)
DW_INST_R(2)
DW_INST_R(3)
DW_INST_R(4)
#if DW_RMAX > 4
DW_INST_R(5)
DW_INST_R(6)
#endif
#undef DW_INST_R
#undef DW_INST

/* ---- per-image data movement ---- */

/* The address of lane 0 of a masked load whose first active lane is >= 0:
 * base + off with off possibly negative (before the array; the lanes there
 * are never read), formed without pointer arithmetic outside the array. */
static inline const float *SFX(lane0)(const float *base, int64_t off) {
  return (const float *)((uintptr_t)base + (uintptr_t)(off * (int64_t)sizeof(float)));
}

/* Copies image xn into the shifted planes xs (layout in the file comment).
 * Rows are written as whole vectors, the padding columns as zeros from the
 * masked loads, in increasing address order: the lanes a row's last vector
 * writes past the row end are zeros, then overwritten by the next row if it
 * is an image row (padding rows, zeroed once by the caller, stay zero).
 * Unmasked stores: masked ones of short rows cost more than the loads. */
static void SFX(fill_planes)(const dgeom *g,
                             const float *restrict xn,  // [C, H, W]
                             float *restrict xs) {      // [C, KW, HR, OW]
  const int64_t h = g->h, w = g->w, ow = g->ow, kw = g->kw, lp = g->lp;
  const int64_t ph = g->ph, pw = g->pw;
  for (int64_t c = 0; c < g->c; c++)
    for (int64_t j = 0; j < kw; j++) {
      int64_t lo, hi;
      plane_cols(g, j, &lo, &hi);
      if (hi <= lo) continue;  /* all padding: zero since the caller's memset */
      float *pl = xs + (c * kw + j) * lp + ph * ow;
      const float *src = xn + c * h * w;
      for (int64_t ih = 0; ih < h; ih++)
        for (int64_t c0 = 0; c0 < ow; c0 += VL) {
          int64_t a = lo - c0, b = hi - c0;  /* image lanes */
          if (a < 0) a = 0;
          if (b > VL) b = VL;
          const VEC v = a < b ? SFX(vload_range)(
                                    SFX(lane0)(src + ih * w, c0 + j - pw), a, b)
                              : VZERO();
          VSTORE(pl + ih * ow + c0, v);
        }
    }
}

/* Copies dyn [O, P] into rows of PR floats, zero past P. */
static void SFX(fill_dy)(const dgeom *g,
                         const float *restrict dyn,  // [O, OH*OW]
                         float *restrict dyz) {      // [O, PR]
  const int64_t p = g->p, pr = g->pr;
  for (int64_t o = 0; o < g->o; o++) {
    int64_t t = 0;
    for (; t + VL <= p; t += VL) VSTORE(dyz + o * pr + t, VLOAD(dyn + o * p + t));
    if (t < p)
      VSTORE(dyz + o * pr + t, SFX(vload_part)(dyn + o * p + t, p - t));
  }
}

/* dxn[c][ih][iw] = sum_j dxs[c][j][ih + PH][iw + PW - j] over the j with
 * 0 <= iw + PW - j < OW (rows of dxs outside [PH, PH + H) are padding).
 * Each vector of a dx row is summed in a register from KW masked loads and
 * stored once (adding into dx row by row would reload rows just written by
 * masked stores, which cannot be store-forwarded). */
static void SFX(planes_to_dx)(const dgeom *g,
                              const float *restrict dxs,  // [C, KW, HR, OW]
                              float *restrict dxn) {      // [C, H, W]
  const int64_t c_n = g->c, h = g->h, w = g->w, kw = g->kw, lp = g->lp;
  const int64_t ow = g->ow, ph = g->ph, pw = g->pw;
  /* lanes [a, b) of dx vector ch (columns ch*VL + lane) that plane j
   * covers; tabulated once when small (LeNet: 1 vector x 5 planes) */
  enum { TAB = 64 };
  int64_t ta[TAB], tb[TAB];
  const int64_t nch = (w + VL - 1) / VL;
  const int tab = nch * kw <= TAB;
  for (int64_t e = 0; tab && e < nch * kw; e++) {
    const int64_t ch = e / kw, j = e % kw;
    int64_t lo, hi;  /* plane columns from the image */
    plane_cols(g, j, &lo, &hi);
    /* lane l is dx column ch*VL + l, plane column ch*VL + l + PW - j */
    ta[e] = lo + j - pw - ch * VL;
    tb[e] = hi + j - pw - ch * VL;
    if (ta[e] < 0) ta[e] = 0;
    if (tb[e] > VL) tb[e] = VL;
  }
  for (int64_t c = 0; c < c_n; c++)
    for (int64_t ih = 0; ih < h; ih++) {
      float *d = dxn + (c * h + ih) * w;
      const float *srow = dxs + c * kw * lp + (ih + ph) * ow;
      for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t iw0 = ch * VL;
        VEC acc = VZERO();
        for (int64_t j = 0; j < kw; j++) {
          int64_t a, b;
          if (tab) {
            a = ta[ch * kw + j];
            b = tb[ch * kw + j];
          } else {
            int64_t lo, hi;
            plane_cols(g, j, &lo, &hi);
            a = lo + j - pw - iw0;
            b = hi + j - pw - iw0;
            if (a < 0) a = 0;
            if (b > VL) b = VL;
          }
          if (a >= b) continue;
          /* >= dxs: plane j starts j*LP >= j floats in */
          const float *src = srow + j * lp + iw0 + pw - j;
          acc = VADD(acc, SFX(vload_range)(src, a, b));
        }
        if (iw0 + VL <= w)
          VSTORE(d + iw0, acc);
        else
          SFX(vstore_part)(d + iw0, acc, w - iw0, 0);
      }
    }
}

#define MK_ROW(R) {SFX(mk_##R##_1), SFX(mk_##R##_2), SFX(mk_##R##_3), SFX(mk_##R##_4)}
#define DW_ROW(R) {SFX(dw_##R##_1), SFX(dw_##R##_2), SFX(dw_##R##_3), SFX(dw_##R##_4)}

static const conv_isa_impl SFX(impl) = {
    .vl = VL,
    .mk_rmax = MK_RMAX, .mk_tmax = 4, .mk_acc = MK_ACC,
    .dw_rmax = DW_RMAX, .dw_umax = 4, .dw_acc = DW_ACC,
    .fill_planes = SFX(fill_planes),
    .fill_dy = SFX(fill_dy),
    .planes_to_dx = SFX(planes_to_dx),
#if MK_RMAX > 6
    .mk = {MK_ROW(1), MK_ROW(2), MK_ROW(3), MK_ROW(4), MK_ROW(5), MK_ROW(6),
           MK_ROW(7), MK_ROW(8)},
#else
    .mk = {MK_ROW(1), MK_ROW(2), MK_ROW(3), MK_ROW(4), MK_ROW(5), MK_ROW(6)},
#endif
#if DW_RMAX > 4
    .dw = {DW_ROW(1), DW_ROW(2), DW_ROW(3), DW_ROW(4), DW_ROW(5), DW_ROW(6)},
#else
    .dw = {DW_ROW(1), DW_ROW(2), DW_ROW(3), DW_ROW(4)},
#endif
};

#undef MK_ROW
#undef DW_ROW
#undef SFX
#undef VL
#undef MK_RMAX
#undef MK_ACC
#undef DW_RMAX
#undef DW_ACC
#undef VEC
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA
#undef VADD
#undef VZERO
#undef VKEEP
#undef VPIN

#endif /* CONV_DIRECT_TEMPLATE */
