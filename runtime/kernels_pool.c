/* kernels_pool.c — 2-D max and average pooling over planes (N*C planes of
 * H x W), forward and backward; fast versions and naive references.
 *
 * Semantics (shared by fast and reference versions):
 *   - Window of output (oh, ow): rows oh*SH - PH .. +KH-1, columns
 *     ow*SW - PW .. +KW-1, clipped to the plane. Padding is never a
 *     candidate for the max and is not counted in the average
 *     (count_include_pad = false).
 *   - Max: the winner is the FIRST maximum in row-major window order (a later
 *     equal value does not replace it); the gradient goes to that element
 *     only. A NaN beats any number (the first NaN wins), so NaN propagates
 *     instead of being silently dropped.
 *   - A window that lies entirely in the padding (possible when PH >= KH or
 *     PW >= KW) produces 0 and passes no gradient.
 *   - Gradient kernels overwrite dx (zero, then add each window's share;
 *     overlapping windows add up).
 *
 * Fast versions clip each window once instead of testing every element,
 * find maxima without data-dependent branches (see max_step), and specialise
 * the common 2x2 stride-2 unpadded window (LeNet), whose gradients are
 * written directly instead of zeroing dx first; on x86-64 its max forward
 * and gradient handle four windows at a time with SSE2 (a group holding a
 * NaN finishes its row on the scalar path). They pick the same elements
 * and add gradients in the same order as the references, so the max kernels
 * agree bit-for-bit with them; the averages differ only by rounding (the
 * references accumulate in double). With the runtime's thread pool, large
 * calls are split by planes over its threads (same bits).
 */
#include "astrt_kernels.h"
#include "kernels_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define POOL_SSE2 1
#include <emmintrin.h>
#else
#define POOL_SSE2 0
#endif

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t pad) {
  if (s < 1 || k < 1 || in < 0 || pad < 0 || in + 2 * pad < k) return 0;
  return (in + 2 * pad - k) / s + 1;
}

/* Number of output positions along one axis; 0 when the window does not fit
 * (H + 2*PH < KH) or the shape is invalid. */
int64_t astrt_pool_out_h(const astrt_pool_shape *s) {
  return out_size(s->h, s->kh, s->sh, s->ph);
}

int64_t astrt_pool_out_w(const astrt_pool_shape *s) {
  return out_size(s->w, s->kw, s->sw, s->pw);
}

static void pool_check(const astrt_pool_shape *s, const char *who) {
  if (s->planes < 0 || s->h < 0 || s->w < 0 || s->kh < 1 || s->kw < 1 ||
      s->sh < 1 || s->sw < 1 || s->ph < 0 || s->pw < 0)
    astrt_kernel_fatal(
        "%s: invalid shape planes=%lld h=%lld w=%lld kh=%lld kw=%lld "
        "sh=%lld sw=%lld ph=%lld pw=%lld",
        who, (long long)s->planes, (long long)s->h, (long long)s->w,
        (long long)s->kh, (long long)s->kw, (long long)s->sh,
        (long long)s->sw, (long long)s->ph, (long long)s->pw);
}

/* Does v replace the running maximum m? Strictly greater (ties keep the
 * first), or the first NaN. The references use this rule directly. */
static inline int max_beats(float v, float m) {
  return v > m || (isnan(v) && !isnan(m));
}

/* The fast versions split the rule in two so the common case has no
 * data-dependent branches (random data makes such branches unpredictable):
 * `v > m ? v : m` is exactly x86 MAXSS, and NaN is tracked separately; only
 * a window that holds a NaN takes the slow, rule-following path. */
static inline float max_step(float m, float v) { return v > m ? v : m; }

static int is_2x2s2(const astrt_pool_shape *s) {
  return s->kh == 2 && s->kw == 2 && s->sh == 2 && s->sw == 2 && s->ph == 0 &&
         s->pw == 0;
}

/* Window [*lo, *hi) along one axis for output position `pos`, clipped. */
static inline void clip_window(int64_t pos, int64_t stride, int64_t pad,
                               int64_t k, int64_t size, int64_t *lo,
                               int64_t *hi) {
  int64_t a = pos * stride - pad, b = a + k;
  *lo = a < 0 ? 0 : a;
  *hi = b > size ? size : b;
}

/* Index (within the plane) of the first maximum of the clipped window
 * [h0,h1) x [w0,w1) by the max_beats rule, or -1 when it is empty. */
static int64_t window_argmax_slow(const float *x, int64_t w, int64_t h0,
                                  int64_t h1, int64_t w0, int64_t w1) {
  if (h0 >= h1 || w0 >= w1) return -1;
  int64_t best = h0 * w + w0;
  for (int64_t ih = h0; ih < h1; ih++)
    for (int64_t iw = w0; iw < w1; iw++)
      if (max_beats(x[ih * w + iw], x[best])) best = ih * w + iw;
  return best;
}

/* Same result as window_argmax_slow, branch-free unless the window holds a
 * NaN: the first maximum is the first element equal to the MAXSS chain's
 * result (every earlier element is strictly smaller). */
static inline int64_t window_argmax(const float *x, int64_t w, int64_t h0,
                                    int64_t h1, int64_t w0, int64_t w1) {
  if (h0 >= h1 || w0 >= w1) return -1;
  float m = x[h0 * w + w0];
  int nan = 0;
  for (int64_t ih = h0; ih < h1; ih++)
    for (int64_t iw = w0; iw < w1; iw++) {
      const float v = x[ih * w + iw];
      nan |= v != v;
      m = max_step(m, v);
    }
  if (nan) return window_argmax_slow(x, w, h0, h1, w0, w1);
  int64_t best = -1;
  for (int64_t ih = h1 - 1; ih >= h0; ih--)  /* backwards: last write = first */
    for (int64_t iw = w1 - 1; iw >= w0; iw--)
      best = x[ih * w + iw] == m ? ih * w + iw : best;
  return best;
}

/* 2x2 window {a, b; c, d}: position 0..3 of the first maximum. */
static inline int argmax4(float a, float b, float c, float d) {
  if ((a != a) | (b != b) | (c != c) | (d != d)) {  /* rare: a NaN */
    const float v[4] = {a, b, c, d};
    int at = 0;
    for (int t = 1; t < 4; t++)
      if (max_beats(v[t], v[at])) at = t;
    return at;
  }
  const float m = max_step(max_step(max_step(a, b), c), d);
  /* a == m ? 0 : b == m ? 1 : c == m ? 2 : 3, without branches */
  const int na = a != m, nb = b != m, nc = c != m;
  return na * (1 + nb * (1 + nc));
}

/* g if cond, else +0.0, without a branch (bit mask, so g = inf or NaN is
 * passed through unchanged, not multiplied). */
static inline float keep_if(float g, int cond) {
  union { float f; uint32_t u; } v = {g};
  v.u &= (uint32_t)0 - (uint32_t)(cond != 0);
  return v.f;
}

#if POOL_SSE2
/* Four 2x2 windows at once (SSE2, the x86-64 baseline): r0 and r1 point at
 * 8 floats of the window rows. Splits them into the windows' corners
 * a = (0,0), b = (0,1), c = (1,0), d = (1,1), one window per lane. Returns
 * nonzero if any of the 16 values is a NaN (the caller then takes the scalar
 * path, which follows the NaN rule). */
static inline int corners4(const float *r0, const float *r1, __m128 *a,
                           __m128 *b, __m128 *c, __m128 *d) {
  const __m128 p0 = _mm_loadu_ps(r0), p1 = _mm_loadu_ps(r0 + 4);
  const __m128 q0 = _mm_loadu_ps(r1), q1 = _mm_loadu_ps(r1 + 4);
  *a = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(2, 0, 2, 0));
  *b = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(3, 1, 3, 1));
  *c = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(2, 0, 2, 0));
  *d = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(3, 1, 3, 1));
  const __m128 un = _mm_or_ps(_mm_cmpunord_ps(*a, *b), _mm_cmpunord_ps(*c, *d));
  return _mm_movemask_ps(un);
}

/* The max_step chain of argmax4, lane-wise: _mm_max_ps(v, m) is
 * `v > m ? v : m`, exactly max_step(m, v). */
static inline __m128 max4(__m128 a, __m128 b, __m128 c, __m128 d) {
  return _mm_max_ps(d, _mm_max_ps(c, _mm_max_ps(b, a)));
}
#endif

/* ---- max pooling --------------------------------------------------------- */

static void maxpool2d_f32_planes(const astrt_pool_shape *s,
                         const float *x,  // [planes, H, W]
                         float *y) {      // [planes, OH, OW]
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  const int64_t h = s->h, w = s->w;
  if (is_2x2s2(s)) {
    for (int64_t p = 0; p < s->planes; p++) {
      const float *xp = x + p * h * w;
      float *yp = y + p * oh_n * ow_n;
      for (int64_t oh = 0; oh < oh_n; oh++) {
        const float *r0 = xp + 2 * oh * w, *r1 = r0 + w;
        int64_t ow = 0;
#if POOL_SSE2
        for (; ow + 4 <= ow_n; ow += 4) {  /* four windows, no NaN */
          __m128 a, b, c, d;
          if (corners4(r0 + 2 * ow, r1 + 2 * ow, &a, &b, &c, &d)) break;
          _mm_storeu_ps(yp + oh * ow_n + ow, max4(a, b, c, d));
        }
#endif
        for (; ow < ow_n; ow++) {
          const float a = r0[2 * ow], b = r0[2 * ow + 1];
          const float c = r1[2 * ow], d = r1[2 * ow + 1];
          float m = max_step(max_step(max_step(a, b), c), d);
          /* a NaN in a is kept by the chain; one in b, c or d is not */
          if ((b != b) | (c != c) | (d != d)) {
            const float v[4] = {a, b, c, d};
            m = v[argmax4(a, b, c, d)];
          }
          yp[oh * ow_n + ow] = m;
        }
      }
    }
    return;
  }
  for (int64_t p = 0; p < s->planes; p++) {
    const float *xp = x + p * h * w;
    float *yp = y + p * oh_n * ow_n;
    for (int64_t oh = 0; oh < oh_n; oh++) {
      int64_t h0, h1;
      clip_window(oh, s->sh, s->ph, s->kh, h, &h0, &h1);
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int64_t w0, w1;
        clip_window(ow, s->sw, s->pw, s->kw, w, &w0, &w1);
        if (h0 >= h1 || w0 >= w1) {
          yp[oh * ow_n + ow] = 0.0f;
          continue;
        }
        float m = xp[h0 * w + w0];
        int nan = 0;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) {
            const float v = xp[ih * w + iw];
            nan |= v != v;
            m = max_step(m, v);
          }
        if (nan) m = xp[window_argmax_slow(xp, w, h0, h1, w0, w1)];
        yp[oh * ow_n + ow] = m;
      }
    }
  }
}

static void maxpool2d_grad_f32_planes(const astrt_pool_shape *s,
                              const float *x,   // [planes, H, W]
                              const float *dy,  // [planes, OH, OW]
                              float *dx) {      // [planes, H, W]
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  const int64_t h = s->h, w = s->w;
  if (is_2x2s2(s)) {
    /* Windows do not overlap and tile rows [0, 2*OH) x cols [0, 2*OW):
     * write each window's four gradients, zero the uncovered last
     * row/column of an odd-sized plane. */
    for (int64_t p = 0; p < s->planes; p++) {
      const float *xp = x + p * h * w;
      const float *dyp = dy + p * oh_n * ow_n;
      float *dxp = dx + p * h * w;
      for (int64_t oh = 0; oh < oh_n; oh++) {
        const float *r0 = xp + 2 * oh * w, *r1 = r0 + w;
        float *d0 = dxp + 2 * oh * w, *d1 = d0 + w;
        int64_t ow = 0;
#if POOL_SSE2
        /* four windows at a time; the gradient goes to the first corner
         * equal to the maximum (same rule and bits as argmax4 + keep_if) */
        for (; ow + 4 <= ow_n; ow += 4) {
          __m128 a, b, c, d;
          if (corners4(r0 + 2 * ow, r1 + 2 * ow, &a, &b, &c, &d)) break;
          const __m128 m = max4(a, b, c, d);
          const __m128 g = _mm_loadu_ps(dyp + oh * ow_n + ow);
          const __m128 ea = _mm_cmpeq_ps(a, m);
          const __m128 eb = _mm_andnot_ps(ea, _mm_cmpeq_ps(b, m));
          const __m128 eab = _mm_or_ps(ea, eb);
          const __m128 ec = _mm_andnot_ps(eab, _mm_cmpeq_ps(c, m));
          const __m128 ga = _mm_and_ps(ea, g), gb = _mm_and_ps(eb, g);
          const __m128 gc = _mm_and_ps(ec, g);
          const __m128 gd = _mm_andnot_ps(_mm_or_ps(eab, ec), g);
          _mm_storeu_ps(d0 + 2 * ow, _mm_unpacklo_ps(ga, gb));
          _mm_storeu_ps(d0 + 2 * ow + 4, _mm_unpackhi_ps(ga, gb));
          _mm_storeu_ps(d1 + 2 * ow, _mm_unpacklo_ps(gc, gd));
          _mm_storeu_ps(d1 + 2 * ow + 4, _mm_unpackhi_ps(gc, gd));
        }
#endif
        for (; ow < ow_n; ow++) {
          const int at = argmax4(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow],
                                 r1[2 * ow + 1]);
          const float g = dyp[oh * ow_n + ow];
          d0[2 * ow] = keep_if(g, at == 0);
          d0[2 * ow + 1] = keep_if(g, at == 1);
          d1[2 * ow] = keep_if(g, at == 2);
          d1[2 * ow + 1] = keep_if(g, at == 3);
        }
        if (w > 2 * ow_n) d0[w - 1] = d1[w - 1] = 0.0f;  /* odd W */
      }
      for (int64_t ih = 2 * oh_n; ih < h; ih++)  /* odd H */
        memset(dxp + ih * w, 0, (size_t)w * sizeof(float));
    }
    return;
  }
  memset(dx, 0, (size_t)(s->planes * h * w) * sizeof(float));
  for (int64_t p = 0; p < s->planes; p++) {
    const float *xp = x + p * h * w;
    const float *dyp = dy + p * oh_n * ow_n;
    float *dxp = dx + p * h * w;
    for (int64_t oh = 0; oh < oh_n; oh++) {
      int64_t h0, h1;
      clip_window(oh, s->sh, s->ph, s->kh, h, &h0, &h1);
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int64_t w0, w1;
        clip_window(ow, s->sw, s->pw, s->kw, w, &w0, &w1);
        const int64_t at = window_argmax(xp, w, h0, h1, w0, w1);
        if (at >= 0) dxp[at] += dyp[oh * ow_n + ow];
      }
    }
  }
}

/* ---- average pooling ----------------------------------------------------- */

static void avgpool2d_f32_planes(const astrt_pool_shape *s,
                         const float *x,  // [planes, H, W]
                         float *y) {      // [planes, OH, OW]
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  const int64_t h = s->h, w = s->w;
  if (is_2x2s2(s)) {
    for (int64_t p = 0; p < s->planes; p++) {
      const float *xp = x + p * h * w;
      float *yp = y + p * oh_n * ow_n;
      for (int64_t oh = 0; oh < oh_n; oh++) {
        const float *r0 = xp + 2 * oh * w, *r1 = r0 + w;
        for (int64_t ow = 0; ow < ow_n; ow++)
          yp[oh * ow_n + ow] =
              ((r0[2 * ow] + r0[2 * ow + 1]) + (r1[2 * ow] + r1[2 * ow + 1])) *
              0.25f;
      }
    }
    return;
  }
  for (int64_t p = 0; p < s->planes; p++) {
    const float *xp = x + p * h * w;
    float *yp = y + p * oh_n * ow_n;
    for (int64_t oh = 0; oh < oh_n; oh++) {
      int64_t h0, h1;
      clip_window(oh, s->sh, s->ph, s->kh, h, &h0, &h1);
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int64_t w0, w1;
        clip_window(ow, s->sw, s->pw, s->kw, w, &w0, &w1);
        float sum = 0.0f;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) sum += xp[ih * w + iw];
        const int64_t cnt = (h1 > h0 && w1 > w0) ? (h1 - h0) * (w1 - w0) : 0;
        yp[oh * ow_n + ow] = cnt > 0 ? sum / (float)cnt : 0.0f;
      }
    }
  }
}

static void avgpool2d_grad_f32_planes(const astrt_pool_shape *s,
                              const float *dy,  // [planes, OH, OW]
                              float *dx) {      // [planes, H, W]
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  const int64_t h = s->h, w = s->w;
  if (is_2x2s2(s)) {  /* non-overlapping: write, zero odd edges */
    for (int64_t p = 0; p < s->planes; p++) {
      const float *dyp = dy + p * oh_n * ow_n;
      float *dxp = dx + p * h * w;
      for (int64_t oh = 0; oh < oh_n; oh++) {
        float *r0 = dxp + 2 * oh * w, *r1 = r0 + w;
        for (int64_t ow = 0; ow < ow_n; ow++) {
          const float g = dyp[oh * ow_n + ow] * 0.25f;
          r0[2 * ow] = g;
          r0[2 * ow + 1] = g;
          r1[2 * ow] = g;
          r1[2 * ow + 1] = g;
        }
        if (w > 2 * ow_n) r0[w - 1] = r1[w - 1] = 0.0f;  /* odd W */
      }
      for (int64_t ih = 2 * oh_n; ih < h; ih++)  /* odd H */
        memset(dxp + ih * w, 0, (size_t)w * sizeof(float));
    }
    return;
  }
  memset(dx, 0, (size_t)(s->planes * h * w) * sizeof(float));
  for (int64_t p = 0; p < s->planes; p++) {
    const float *dyp = dy + p * oh_n * ow_n;
    float *dxp = dx + p * h * w;
    for (int64_t oh = 0; oh < oh_n; oh++) {
      int64_t h0, h1;
      clip_window(oh, s->sh, s->ph, s->kh, h, &h0, &h1);
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int64_t w0, w1;
        clip_window(ow, s->sw, s->pw, s->kw, w, &w0, &w1);
        if (h0 >= h1 || w0 >= w1) continue;
        const float g = dyp[oh * ow_n + ow] / (float)((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) dxp[ih * w + iw] += g;
      }
    }
  }
}

/* ---- split over the runtime's threads ------------------------------------ */

/* Planes are independent, so the pool's threads take contiguous ranges of
 * them (the same bits as one thread); only where each thread gets at least
 * two planes and the whole is worth a job (POOL_SPLIT_MIN input elements). */
#define POOL_SPLIT_MIN 8192

typedef enum { POOL_MAX, POOL_MAX_GRAD, POOL_AVG, POOL_AVG_GRAD } pool_kind;

typedef struct pool_job {
  pool_kind kind;
  const astrt_pool_shape *s;
  const float *x, *dy;
  float *out;
} pool_job;

static void pool_part(void *ctx, int part, int parts) {
  const pool_job *j = ctx;
  const astrt_pool_shape *s = j->s;
  const int64_t p0 = s->planes * part / parts, p1 = s->planes * (part + 1) / parts;
  if (p1 <= p0) return;
  astrt_pool_shape sub = *s;
  sub.planes = p1 - p0;
  const int64_t in = s->h * s->w, out = astrt_pool_out_h(s) * astrt_pool_out_w(s);
  switch (j->kind) {
  case POOL_MAX: maxpool2d_f32_planes(&sub, j->x + p0 * in, j->out + p0 * out); break;
  case POOL_MAX_GRAD: maxpool2d_grad_f32_planes(&sub, j->x + p0 * in, j->dy + p0 * out, j->out + p0 * in); break;
  case POOL_AVG: avgpool2d_f32_planes(&sub, j->x + p0 * in, j->out + p0 * out); break;
  case POOL_AVG_GRAD: avgpool2d_grad_f32_planes(&sub, j->dy + p0 * out, j->out + p0 * in); break;
  }
}

static void pool_run(pool_kind kind, const astrt_pool_shape *s, const float *x, const float *dy, float *out) {
  pool_job j = {kind, s, x, dy, out};
  const int parts = astrt_pool_size();
  if (parts > 1 && s->planes >= 2 * parts && s->planes * s->h * s->w >= POOL_SPLIT_MIN)
    astrt_pool_run(pool_part, &j);
  else
    pool_part(&j, 0, 1);
}

void astrt_maxpool2d_f32(const astrt_pool_shape *s, const float *x, float *y) {
  pool_check(s, "astrt_maxpool2d_f32");
  pool_run(POOL_MAX, s, x, NULL, y);
}

void astrt_maxpool2d_grad_f32(const astrt_pool_shape *s, const float *x, const float *dy, float *dx) {
  pool_check(s, "astrt_maxpool2d_grad_f32");
  pool_run(POOL_MAX_GRAD, s, x, dy, dx);
}

void astrt_avgpool2d_f32(const astrt_pool_shape *s, const float *x, float *y) {
  pool_check(s, "astrt_avgpool2d_f32");
  pool_run(POOL_AVG, s, x, NULL, y);
}

void astrt_avgpool2d_grad_f32(const astrt_pool_shape *s, const float *dy, float *dx) {
  pool_check(s, "astrt_avgpool2d_grad_f32");
  pool_run(POOL_AVG_GRAD, s, NULL, dy, dx);
}

/* ---- references ---------------------------------------------------------- */

void astrt_ref_maxpool2d_f32(const astrt_pool_shape *s,
                             const float *x,  // [planes, H, W]
                             float *y) {      // [planes, OH, OW]
  pool_check(s, "astrt_ref_maxpool2d_f32");
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  for (int64_t p = 0; p < s->planes; p++)
    for (int64_t oh = 0; oh < oh_n; oh++)
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int have = 0;
        float m = 0.0f;
        for (int64_t i = 0; i < s->kh; i++)
          for (int64_t j = 0; j < s->kw; j++) {
            const int64_t ih = oh * s->sh - s->ph + i;
            const int64_t iw = ow * s->sw - s->pw + j;
            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
            const float v = x[(p * s->h + ih) * s->w + iw];
            if (!have || max_beats(v, m)) m = v;
            have = 1;
          }
        y[(p * oh_n + oh) * ow_n + ow] = have ? m : 0.0f;
      }
}

void astrt_ref_maxpool2d_grad_f32(const astrt_pool_shape *s,
                                  const float *x,   // [planes, H, W]
                                  const float *dy,  // [planes, OH, OW]
                                  float *dx) {      // [planes, H, W]
  pool_check(s, "astrt_ref_maxpool2d_grad_f32");
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  for (int64_t t = 0; t < s->planes * s->h * s->w; t++) dx[t] = 0.0f;
  for (int64_t p = 0; p < s->planes; p++)
    for (int64_t oh = 0; oh < oh_n; oh++)
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int64_t at = -1;
        float m = 0.0f;
        for (int64_t i = 0; i < s->kh; i++)
          for (int64_t j = 0; j < s->kw; j++) {
            const int64_t ih = oh * s->sh - s->ph + i;
            const int64_t iw = ow * s->sw - s->pw + j;
            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
            const int64_t idx = (p * s->h + ih) * s->w + iw;
            if (at < 0 || max_beats(x[idx], m)) {
              m = x[idx];
              at = idx;
            }
          }
        if (at >= 0) dx[at] += dy[(p * oh_n + oh) * ow_n + ow];
      }
}

void astrt_ref_avgpool2d_f32(const astrt_pool_shape *s,
                             const float *x,  // [planes, H, W]
                             float *y) {      // [planes, OH, OW]
  pool_check(s, "astrt_ref_avgpool2d_f32");
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  for (int64_t p = 0; p < s->planes; p++)
    for (int64_t oh = 0; oh < oh_n; oh++)
      for (int64_t ow = 0; ow < ow_n; ow++) {
        double sum = 0.0;
        int64_t cnt = 0;
        for (int64_t i = 0; i < s->kh; i++)
          for (int64_t j = 0; j < s->kw; j++) {
            const int64_t ih = oh * s->sh - s->ph + i;
            const int64_t iw = ow * s->sw - s->pw + j;
            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
            sum += x[(p * s->h + ih) * s->w + iw];
            cnt++;
          }
        y[(p * oh_n + oh) * ow_n + ow] = cnt ? (float)(sum / (double)cnt) : 0.0f;
      }
}

/* Accumulates in float: each dx element receives at most
 * ceil(KH/SH)*ceil(KW/SW) shares, so rounding is negligible. */
void astrt_ref_avgpool2d_grad_f32(const astrt_pool_shape *s,
                                  const float *dy,  // [planes, OH, OW]
                                  float *dx) {      // [planes, H, W]
  pool_check(s, "astrt_ref_avgpool2d_grad_f32");
  const int64_t oh_n = astrt_pool_out_h(s), ow_n = astrt_pool_out_w(s);
  for (int64_t t = 0; t < s->planes * s->h * s->w; t++) dx[t] = 0.0f;
  for (int64_t p = 0; p < s->planes; p++)
    for (int64_t oh = 0; oh < oh_n; oh++)
      for (int64_t ow = 0; ow < ow_n; ow++) {
        int64_t cnt = 0;
        for (int64_t i = 0; i < s->kh; i++)
          for (int64_t j = 0; j < s->kw; j++) {
            const int64_t ih = oh * s->sh - s->ph + i;
            const int64_t iw = ow * s->sw - s->pw + j;
            if (ih >= 0 && ih < s->h && iw >= 0 && iw < s->w) cnt++;
          }
        if (cnt == 0) continue;
        const double g = (double)dy[(p * oh_n + oh) * ow_n + ow] / (double)cnt;
        for (int64_t i = 0; i < s->kh; i++)
          for (int64_t j = 0; j < s->kw; j++) {
            const int64_t ih = oh * s->sh - s->ph + i;
            const int64_t iw = ow * s->sw - s->pw + j;
            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
            dx[(p * s->h + ih) * s->w + iw] += (float)g;
          }
      }
}
