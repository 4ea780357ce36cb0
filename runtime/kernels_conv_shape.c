/* kernels_conv_shape.c — a convolution's output size, which both the im2col
 * kernels (kernels_conv.c) and the direct ones (kernels_conv_direct.c) use. */
#include "astrt_kernels.h"

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t pad) {
  if (s < 1 || k < 1 || in < 0 || pad < 0 || in + 2 * pad < k) return 0;
  return (in + 2 * pad - k) / s + 1;
}

/* Number of output positions along one axis; 0 when the window does not fit
 * (H + 2*PH < KH) or the shape is invalid. */
int64_t astrt_conv_out_h(const astrt_conv_shape *s) {
  return out_size(s->h, s->kh, s->sh, s->ph);
}

int64_t astrt_conv_out_w(const astrt_conv_shape *s) {
  return out_size(s->w, s->kw, s->sw, s->pw);
}
