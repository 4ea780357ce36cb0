/* kernels_conv.c — 2-D convolution (cross-correlation, no bias), NCHW,
 * filters [O, C, KH, KW]: forward, gradient w.r.t. the input, gradient
 * w.r.t. the filter; fast versions and naive references.
 *
 * Two fast paths. Stride-1 shapes with small channel counts (LeNet) go to
 * the direct kernels of kernels_conv_direct.c (see
 * astrt_conv_direct_suits); everything else to im2col + GEMM, below.
 *
 * im2col path: im2col + one GEMM per chunk of images.
 *   The column matrix of a chunk of B images is col[K, B*P] with
 *   K = C*KH*KW rows (row r = (c*KH + i)*KW + j) and P = OH*OW columns per
 *   image (column bi*P + oh*OW + ow). It holds x[bi, c, oh*SH-PH+i,
 *   ow*SW-PW+j], or 0 in the padding. im2col fills it row segment by row
 *   segment: for every (row, image, oh) the valid ow range is computed once,
 *   so the interior is a plain vector copy (stride 1) or a strided copy, and
 *   the borders are zero fills, with no per-element bounds tests.
 *     forward:      Y[O, B*P]   = W[O, K] . col[K, B*P]
 *     grad input:   dcol[K,B*P] = W^T . dY[O, B*P], then col2im adds dcol
 *                   back into dx (dx is zeroed first: kernels overwrite)
 *     grad weight:  dW[O, K]   += dY[O, B*P] . col^T (beta 0 on the first
 *                   chunk, 1 after)
 *   Y / dY as [O, B*P] is not the NCHW layout [B, O, P]; for B > 1 the fast
 *   path copies between the two (B*O memcpys of P floats, cheap next to the
 *   GEMM's 2*K flops per element). With B == 1 it works in place.
 *   B is chosen so the chunk's scratch stays near CONV_CHUNK_FLOATS: big
 *   enough for OpenBLAS to run efficiently, small enough to stay in cache
 *   between im2col and the GEMM.
 *   A 1x1 kernel with stride 1 and no padding needs no im2col: col of one
 *   image is x[n] itself viewed as [C, H*W].
 *
 * References (astrt_ref_*): direct loops over the definition, each output
 * element accumulated in double and rounded once. They are the test oracle.
 *
 * Degenerate shapes: N, C, O, H or W may be 0, and H + 2*PH < KH (no output
 * position) is allowed; outputs are then empty or zero. Negative sizes,
 * strides or kernel sizes < 1 and negative padding abort (astrt_kernel_fatal).
 */
#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <stdlib.h>
#include <string.h>

/* GCC turns the short-row loops below into memset/memcpy calls, which cost
 * more than the 10-30 floats they move; keep the loops. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

/* Target size of one chunk's scratch, in floats (1 MiB: big enough for
 * OpenBLAS to run at speed, small enough to stay in L2/L3 between im2col
 * and the GEMM). On the LeNet shapes 64 Ki .. 1 Mi floats measured alike
 * within the noise. Overridable at compile time (-DCONV_CHUNK_FLOATS=...). */
#ifndef CONV_CHUNK_FLOATS
#define CONV_CHUNK_FLOATS ((int64_t)1 << 18)
#endif

typedef struct conv_geom {
  int64_t n, c, h, w;      /* input  [N, C, H, W]     */
  int64_t o, kh, kw;       /* filter [O, C, KH, KW]   */
  int64_t sh, sw, ph, pw;  /* stride, padding         */
  int64_t oh, ow;          /* output [N, O, OH, OW]   */
  int64_t hw;              /* H*W, one input plane    */
  int64_t p;               /* OH*OW, one output plane */
  int64_t k;               /* C*KH*KW, rows of col    */
} conv_geom;

static conv_geom conv_geom_of(const astrt_conv_shape *s, const char *who) {
  if (s->n < 0 || s->c < 0 || s->h < 0 || s->w < 0 || s->o < 0 ||
      s->kh < 1 || s->kw < 1 || s->sh < 1 || s->sw < 1 || s->ph < 0 ||
      s->pw < 0)
    astrt_kernel_fatal(
        "%s: invalid shape n=%lld c=%lld h=%lld w=%lld o=%lld kh=%lld "
        "kw=%lld sh=%lld sw=%lld ph=%lld pw=%lld",
        who, (long long)s->n, (long long)s->c, (long long)s->h,
        (long long)s->w, (long long)s->o, (long long)s->kh, (long long)s->kw,
        (long long)s->sh, (long long)s->sw, (long long)s->ph,
        (long long)s->pw);
  conv_geom g = {
      .n = s->n, .c = s->c, .h = s->h, .w = s->w,
      .o = s->o, .kh = s->kh, .kw = s->kw,
      .sh = s->sh, .sw = s->sw, .ph = s->ph, .pw = s->pw,
  };
  g.oh = astrt_conv_out_h(s);
  g.ow = astrt_conv_out_w(s);
  g.hw = g.h * g.w;
  g.p = g.oh * g.ow;
  g.k = g.c * g.kh * g.kw;
  return g;
}

static int is_pointwise(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
         g->pw == 0;
}

/* Images per chunk when each image needs `rows` * P floats of scratch. */
static int64_t conv_chunk(const conv_geom *g, int64_t rows) {
  const int64_t per_image = rows * g->p;
  int64_t b = per_image > 0 ? CONV_CHUNK_FLOATS / per_image : g->n;
  if (b < 1) b = 1;
  if (b > g->n) b = g->n;
  return b;
}

/* Output positions [*lo, *hi) along one axis (of `out` positions) whose input
 * index pos*stride - pad + off lies inside [0, size). */
static void valid_range(int64_t out, int64_t size, int64_t stride, int64_t pad,
                        int64_t off, int64_t *lo, int64_t *hi) {
  const int64_t first = pad - off;       /* need pos*stride >= first */
  const int64_t end = size + pad - off;  /* need pos*stride <  end   */
  int64_t l = first > 0 ? (first + stride - 1) / stride : 0;
  int64_t h = end > 0 ? (end + stride - 1) / stride : 0;
  if (l > out) l = out;
  if (h > out) h = out;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

/* Short-row helpers. Im2col rows are short (OW = 28 or 10 floats for
 * LeNet), so memcpy/memset calls would cost more than the copying; these
 * move 4 floats at a time with GCC/Clang vector extensions (plain SSE2 at
 * the baseline ISA, no alignment assumed) and finish with at most 3 scalar
 * stores (written out, so the compiler cannot turn them back into a libc
 * call). */
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));

static inline void row_zero(float *restrict d, int64_t n) {
  const v4f z = {0.0f, 0.0f, 0.0f, 0.0f};
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) *(v4f *)(d + t) = z;
  if (t < n) d[t] = 0.0f;
  if (t + 1 < n) d[t + 1] = 0.0f;
  if (t + 2 < n) d[t + 2] = 0.0f;
}

static inline void row_copy(float *restrict d, const float *restrict s,
                            int64_t n) {
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) *(v4f *)(d + t) = *(const v4f *)(s + t);
  if (t < n) d[t] = s[t];
  if (t + 1 < n) d[t + 1] = s[t + 1];
  if (t + 2 < n) d[t + 2] = s[t + 2];
}

static inline void row_add(float *restrict d, const float *restrict s,
                           int64_t n) {
  int64_t t = 0;
  for (; t + 4 <= n; t += 4)
    *(v4f *)(d + t) = *(const v4f *)(d + t) + *(const v4f *)(s + t);
  if (t < n) d[t] += s[t];
  if (t + 1 < n) d[t + 1] += s[t + 1];
  if (t + 2 < n) d[t + 2] += s[t + 2];
}

/* col[K, b*P] from images x[b, C, H, W] (layout in the file comment). */
static void im2col(const conv_geom *g, int64_t b,
                   const float *restrict x,  // [b, C, H, W]
                   float *restrict col) {    // [C*KH*KW, b*OH*OW]
  const int64_t ld = b * g->p, ow = g->ow, sw = g->sw;
  for (int64_t c = 0; c < g->c; c++) {
    for (int64_t i = 0; i < g->kh; i++) {
      int64_t h_lo, h_hi;
      valid_range(g->oh, g->h, g->sh, g->ph, i, &h_lo, &h_hi);
      for (int64_t j = 0; j < g->kw; j++) {
        int64_t w_lo, w_hi;
        valid_range(ow, g->w, sw, g->pw, j, &w_lo, &w_hi);
        const int64_t w_n = w_hi - w_lo;
        float *row = col + ((c * g->kh + i) * g->kw + j) * ld;
        for (int64_t bi = 0; bi < b; bi++) {
          const float *src = x + (bi * g->c + c) * g->hw + (w_lo * sw - g->pw + j);
          float *dst = row + bi * g->p;
          row_zero(dst, h_lo * ow);
          for (int64_t oh = h_lo; oh < h_hi; oh++) {
            float *d = dst + oh * ow;
            const float *s = src + (oh * g->sh - g->ph + i) * g->w;
            row_zero(d, w_lo);
            if (sw == 1) {
              row_copy(d + w_lo, s, w_n);
            } else {
              for (int64_t t = 0; t < w_n; t++) d[w_lo + t] = s[t * sw];
            }
            row_zero(d + w_hi, ow - w_hi);
          }
          row_zero(dst + h_hi * ow, (g->oh - h_hi) * ow);
        }
      }
    }
  }
}

/* dx[b, C, H, W] = col2im(dcol): every column entry is added to the input
 * element it was copied from (padding entries are dropped). Overwrites dx. */
static void col2im(const conv_geom *g, int64_t b,
                   const float *restrict dcol,  // [C*KH*KW, b*OH*OW]
                   float *restrict dx) {        // [b, C, H, W]
  const int64_t ld = b * g->p, ow = g->ow, sw = g->sw;
  for (int64_t bi = 0; bi < b; bi++) {
    for (int64_t c = 0; c < g->c; c++) {
      float *plane = dx + (bi * g->c + c) * g->hw;
      row_zero(plane, g->hw);
      for (int64_t i = 0; i < g->kh; i++) {
        int64_t h_lo, h_hi;
        valid_range(g->oh, g->h, g->sh, g->ph, i, &h_lo, &h_hi);
        for (int64_t j = 0; j < g->kw; j++) {
          int64_t w_lo, w_hi;
          valid_range(ow, g->w, sw, g->pw, j, &w_lo, &w_hi);
          const int64_t w_n = w_hi - w_lo;
          const float *row =
              dcol + ((c * g->kh + i) * g->kw + j) * ld + bi * g->p;
          for (int64_t oh = h_lo; oh < h_hi; oh++) {
            const float *s = row + oh * ow + w_lo;
            float *d = plane + (oh * g->sh - g->ph + i) * g->w +
                       (w_lo * sw - g->pw + j);
            if (sw == 1) {
              row_add(d, s, w_n);
            } else {
              for (int64_t t = 0; t < w_n; t++) d[t * sw] += s[t];
            }
          }
        }
      }
    }
  }
}

/* [b, O, P] (NCHW slice) -> [O, b*P] (GEMM layout). */
static void gather_bop(const conv_geom *g, int64_t b,
                       const float *restrict src,  // [b, O, OH*OW]
                       float *restrict dst) {      // [O, b*OH*OW]
  for (int64_t bi = 0; bi < b; bi++)
    for (int64_t oc = 0; oc < g->o; oc++)
      memcpy(dst + oc * b * g->p + bi * g->p, src + (bi * g->o + oc) * g->p,
             (size_t)g->p * sizeof(float));
}

/* [O, b*P] (GEMM layout) -> [b, O, P] (NCHW slice). */
static void scatter_bop(const conv_geom *g, int64_t b,
                        const float *restrict src,  // [O, b*OH*OW]
                        float *restrict dst) {      // [b, O, OH*OW]
  for (int64_t bi = 0; bi < b; bi++)
    for (int64_t oc = 0; oc < g->o; oc++)
      memcpy(dst + (bi * g->o + oc) * g->p, src + oc * b * g->p + bi * g->p,
             (size_t)g->p * sizeof(float));
}

void astrt_conv2d_im2col_f32(const astrt_conv_shape *s,
                             const float *x,  // [N, C, H, W]
                             const float *w,  // [O, C, KH, KW]
                             float *y) {      // [N, O, OH, OW]
  const conv_geom g = conv_geom_of(s, "astrt_conv2d_f32");
  if (g.n == 0 || g.o == 0 || g.p == 0) return;  /* y is empty */
  if (g.k == 0) {  /* C == 0: every output is an empty sum */
    memset(y, 0, (size_t)(g.n * g.o * g.p) * sizeof(float));
    return;
  }
  if (is_pointwise(&g)) {
    for (int64_t n = 0; n < g.n; n++)
      astrt_sgemm(0, 0, g.o, g.p, g.c, 1.0f, w, x + n * g.c * g.hw, 0.0f,
                  y + n * g.o * g.p);
    return;
  }
  const int64_t chunk = conv_chunk(&g, g.k + g.o);
  const int64_t col_size = g.k * chunk * g.p;
  float *col = astrt_scratch((size_t)(col_size + (chunk > 1 ? g.o * chunk * g.p : 0)));
  float *out = col + col_size;  /* [O, chunk*P], used when chunk > 1 */
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t b = g.n - n0 < chunk ? g.n - n0 : chunk;
    im2col(&g, b, x + n0 * g.c * g.hw, col);
    float *yb = y + n0 * g.o * g.p;
    if (b == 1) {
      astrt_sgemm(0, 0, g.o, g.p, g.k, 1.0f, w, col, 0.0f, yb);
    } else {
      astrt_sgemm(0, 0, g.o, b * g.p, g.k, 1.0f, w, col, 0.0f, out);
      scatter_bop(&g, b, out, yb);
    }
  }
}

void astrt_conv2d_grad_input_im2col_f32(const astrt_conv_shape *s,
                                        const float *dy,  // [N, O, OH, OW]
                                        const float *w,   // [O, C, KH, KW]
                                        float *dx) {      // [N, C, H, W]
  const conv_geom g = conv_geom_of(s, "astrt_conv2d_grad_input_f32");
  const int64_t dx_size = g.n * g.c * g.hw;
  if (dx_size == 0) return;  /* dx is empty */
  if (g.o == 0 || g.p == 0) {  /* no output depends on x */
    memset(dx, 0, (size_t)dx_size * sizeof(float));
    return;
  }
  if (is_pointwise(&g)) {
    for (int64_t n = 0; n < g.n; n++)
      astrt_sgemm(1, 0, g.c, g.p, g.o, 1.0f, w, dy + n * g.o * g.p, 0.0f,
                  dx + n * g.c * g.hw);
    return;
  }
  const int64_t chunk = conv_chunk(&g, g.k + g.o);
  const int64_t col_size = g.k * chunk * g.p;
  float *dcol = astrt_scratch((size_t)(col_size + (chunk > 1 ? g.o * chunk * g.p : 0)));
  float *dyg = dcol + col_size;  /* [O, chunk*P], used when chunk > 1 */
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t b = g.n - n0 < chunk ? g.n - n0 : chunk;
    const float *dyb = dy + n0 * g.o * g.p;
    if (b > 1) {
      gather_bop(&g, b, dyb, dyg);
      dyb = dyg;
    }
    astrt_sgemm(1, 0, g.k, b * g.p, g.o, 1.0f, w, dyb, 0.0f, dcol);
    col2im(&g, b, dcol, dx + n0 * g.c * g.hw);
  }
}

void astrt_conv2d_grad_weight_im2col_f32(const astrt_conv_shape *s,
                                         const float *x,   // [N, C, H, W]
                                         const float *dy,  // [N, O, OH, OW]
                                         float *dw) {      // [O, C, KH, KW]
  const conv_geom g = conv_geom_of(s, "astrt_conv2d_grad_weight_f32");
  const int64_t dw_size = g.o * g.k;
  if (dw_size == 0) return;  /* dw is empty */
  if (g.n == 0 || g.p == 0) {  /* empty sums */
    memset(dw, 0, (size_t)dw_size * sizeof(float));
    return;
  }
  if (is_pointwise(&g)) {
    for (int64_t n = 0; n < g.n; n++)
      astrt_sgemm(0, 1, g.o, g.c, g.p, 1.0f, dy + n * g.o * g.p,
                  x + n * g.c * g.hw, n == 0 ? 0.0f : 1.0f, dw);
    return;
  }
  const int64_t chunk = conv_chunk(&g, g.k + g.o);
  const int64_t col_size = g.k * chunk * g.p;
  float *col = astrt_scratch((size_t)(col_size + (chunk > 1 ? g.o * chunk * g.p : 0)));
  float *dyg = col + col_size;  /* [O, chunk*P], used when chunk > 1 */
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t b = g.n - n0 < chunk ? g.n - n0 : chunk;
    im2col(&g, b, x + n0 * g.c * g.hw, col);
    const float *dyb = dy + n0 * g.o * g.p;
    if (b > 1) {
      gather_bop(&g, b, dyb, dyg);
      dyb = dyg;
    }
    astrt_sgemm(0, 1, g.o, g.k, b * g.p, 1.0f, dyb, col, n0 == 0 ? 0.0f : 1.0f,
                dw);
  }
}

/* ---- public kernels: direct or im2col ------------------------------------- */

/* The direct kernels (kernels_conv_direct.c) when the shape suits them and
 * an instruction set for them is active, else im2col + GEMM. */
static astrt_conv_isa direct_isa(const astrt_conv_shape *s) {
  if (!astrt_conv_direct_suits(s)) return ASTRT_CONV_ISA_NONE;
  return astrt_conv_isa_active();
}

static void conv_fwd(const astrt_conv_shape *s, const float *x, const float *w, float *y) {
  const astrt_conv_isa isa = direct_isa(s);
  if (isa != ASTRT_CONV_ISA_NONE)
    astrt_conv2d_direct_f32(isa, s, x, w, y);
  else
    astrt_conv2d_im2col_f32(s, x, w, y);
}

static void conv_grad_input(const astrt_conv_shape *s, const float *dy, const float *w, float *dx) {
  const astrt_conv_isa isa = direct_isa(s);
  if (isa != ASTRT_CONV_ISA_NONE)
    astrt_conv2d_grad_input_direct_f32(isa, s, dy, w, dx);
  else
    astrt_conv2d_grad_input_im2col_f32(s, dy, w, dx);
}

static void conv_grad_weight(const astrt_conv_shape *s, const float *x, const float *dy, float *dw) {
  const astrt_conv_isa isa = direct_isa(s);
  if (isa != ASTRT_CONV_ISA_NONE)
    astrt_conv2d_grad_weight_direct_f32(isa, s, x, dy, dw);
  else
    astrt_conv2d_grad_weight_im2col_f32(s, x, dy, dw);
}

/* ---- split over the pool's threads by images (pool.c) -----------------------
 *
 * Part p of P takes images [N*p/P, N*(p+1)/P). The forward pass and the
 * input gradient are per image; the weight gradient sums over images, so
 * each part computes its own, into dw (part 0) or a buffer of its own, and
 * the caller adds them in part order (the same sums for the same P). */
typedef struct conv_job {
  astrt_conv_shape s;
  const float *in, *w;     /* x (forward, grad weight) or dy (grad input) */
  const float *dy;         /* grad weight */
  float *out;
  float *partial;          /* grad weight: (P - 1) weight gradients */
  int kind;                /* 0 forward, 1 grad input, 2 grad weight */
} conv_job;

static void conv_part(void *ctx, int part, int parts) {
  const conv_job *j = ctx;
  astrt_conv_shape s = j->s;
  int64_t lo = j->s.n * part / parts, hi = j->s.n * (part + 1) / parts;
  s.n = hi - lo;
  const int64_t in_img = s.c * s.h * s.w, out_img = s.o * astrt_conv_out_h(&s) * astrt_conv_out_w(&s);
  const int64_t wn = s.o * s.c * s.kh * s.kw;
  if (j->kind == 0) {
    if (s.n > 0) conv_fwd(&s, j->in + lo * in_img, j->w, j->out + lo * out_img);
  } else if (j->kind == 1) {
    if (s.n > 0) conv_grad_input(&s, j->in + lo * out_img, j->w, j->out + lo * in_img);
  } else {
    float *dw = part == 0 ? j->out : j->partial + (part - 1) * wn;
    if (s.n > 0) conv_grad_weight(&s, j->in + lo * in_img, j->dy + lo * out_img, dw);
    else memset(dw, 0, (size_t)wn * sizeof(float));
  }
}

/* whether to split: a pool, and enough images for every part */
static int conv_split(const astrt_conv_shape *s) {
  int parts = astrt_pool_size();
  return parts > 1 && s->n >= 2 * parts;
}

/* a job whose parts write disjoint images: split, or on one thread */
static void conv_run(conv_job *j) {
  if (conv_split(&j->s)) astrt_pool_run(conv_part, j);
  else conv_part(j, 0, 1);
}

void astrt_conv2d_f32(const astrt_conv_shape *s,
                      const float *x,  // [N, C, H, W]
                      const float *w,  // [O, C, KH, KW]
                      float *y) {      // [N, O, OH, OW]
  conv_job j = {*s, x, w, NULL, y, NULL, 0};
  conv_run(&j);
}

void astrt_conv2d_grad_input_f32(const astrt_conv_shape *s,
                                 const float *dy,  // [N, O, OH, OW]
                                 const float *w,   // [O, C, KH, KW]
                                 float *dx) {      // [N, C, H, W]
  conv_job j = {*s, dy, w, NULL, dx, NULL, 1};
  conv_run(&j);
}

void astrt_conv2d_grad_weight_f32(const astrt_conv_shape *s,
                                  const float *x,   // [N, C, H, W]
                                  const float *dy,  // [N, O, OH, OW]
                                  float *dw) {      // [O, C, KH, KW]
  conv_job j = {*s, x, NULL, dy, dw, NULL, 2};
  if (!conv_split(s)) {
    conv_part(&j, 0, 1);
    return;
  }
  const int parts = astrt_pool_size();
  const int64_t wn = s->o * s->c * s->kh * s->kw;
  float *partial = malloc((size_t)(parts - 1) * (size_t)wn * sizeof(float));
  if (!partial) {  /* no room to split: one thread */
    conv_part(&j, 0, 1);
    return;
  }
  j.partial = partial;
  astrt_pool_run(conv_part, &j);
  for (int p = 1; p < parts; p++)
    for (int64_t i = 0; i < wn; i++) dw[i] += partial[(p - 1) * wn + i];
  free(partial);
}

/* ---- references ---------------------------------------------------------- */

void astrt_ref_conv2d_f32(const astrt_conv_shape *s,
                          const float *x,  // [N, C, H, W]
                          const float *w,  // [O, C, KH, KW]
                          float *y) {      // [N, O, OH, OW]
  const conv_geom g = conv_geom_of(s, "astrt_ref_conv2d_f32");
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t o = 0; o < g.o; o++)
      for (int64_t oh = 0; oh < g.oh; oh++)
        for (int64_t ow = 0; ow < g.ow; ow++) {
          double acc = 0.0;
          for (int64_t c = 0; c < g.c; c++)
            for (int64_t i = 0; i < g.kh; i++)
              for (int64_t j = 0; j < g.kw; j++) {
                const int64_t ih = oh * g.sh - g.ph + i;
                const int64_t iw = ow * g.sw - g.pw + j;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                acc += (double)x[((n * g.c + c) * g.h + ih) * g.w + iw] *
                       (double)w[((o * g.c + c) * g.kh + i) * g.kw + j];
              }
          y[((n * g.o + o) * g.oh + oh) * g.ow + ow] = (float)acc;
        }
}

/* dx[n,c,ih,iw] = sum over (o, i, j) with ih = oh*SH - PH + i and
 * iw = ow*SW - PW + j for some valid (oh, ow) of dy[n,o,oh,ow] * w[o,c,i,j]. */
void astrt_ref_conv2d_grad_input_f32(const astrt_conv_shape *s,
                                     const float *dy,  // [N, O, OH, OW]
                                     const float *w,   // [O, C, KH, KW]
                                     float *dx) {      // [N, C, H, W]
  const conv_geom g = conv_geom_of(s, "astrt_ref_conv2d_grad_input_f32");
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t c = 0; c < g.c; c++)
      for (int64_t ih = 0; ih < g.h; ih++)
        for (int64_t iw = 0; iw < g.w; iw++) {
          double acc = 0.0;
          for (int64_t o = 0; o < g.o; o++)
            for (int64_t i = 0; i < g.kh; i++)
              for (int64_t j = 0; j < g.kw; j++) {
                const int64_t th = ih + g.ph - i, tw = iw + g.pw - j;
                if (th < 0 || tw < 0 || th % g.sh != 0 || tw % g.sw != 0)
                  continue;
                const int64_t oh = th / g.sh, ow = tw / g.sw;
                if (oh >= g.oh || ow >= g.ow) continue;
                acc += (double)dy[((n * g.o + o) * g.oh + oh) * g.ow + ow] *
                       (double)w[((o * g.c + c) * g.kh + i) * g.kw + j];
              }
          dx[((n * g.c + c) * g.h + ih) * g.w + iw] = (float)acc;
        }
}

/* dw[o,c,i,j] = sum over (n, oh, ow) of dy[n,o,oh,ow] * x[n,c,ih,iw] with
 * ih = oh*SH - PH + i, iw = ow*SW - PW + j inside the image. */
void astrt_ref_conv2d_grad_weight_f32(const astrt_conv_shape *s,
                                      const float *x,   // [N, C, H, W]
                                      const float *dy,  // [N, O, OH, OW]
                                      float *dw) {      // [O, C, KH, KW]
  const conv_geom g = conv_geom_of(s, "astrt_ref_conv2d_grad_weight_f32");
  for (int64_t o = 0; o < g.o; o++)
    for (int64_t c = 0; c < g.c; c++)
      for (int64_t i = 0; i < g.kh; i++)
        for (int64_t j = 0; j < g.kw; j++) {
          double acc = 0.0;
          for (int64_t n = 0; n < g.n; n++)
            for (int64_t oh = 0; oh < g.oh; oh++)
              for (int64_t ow = 0; ow < g.ow; ow++) {
                const int64_t ih = oh * g.sh - g.ph + i;
                const int64_t iw = ow * g.sw - g.pw + j;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                acc += (double)dy[((n * g.o + o) * g.oh + oh) * g.ow + ow] *
                       (double)x[((n * g.c + c) * g.h + ih) * g.w + iw];
              }
          dw[((o * g.c + c) * g.kh + i) * g.kw + j] = (float)acc;
        }
}
