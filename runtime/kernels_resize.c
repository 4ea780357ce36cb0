/* kernels_resize.c — resizing images (progressive resizing's first op).
 *
 * Area: output pixel (i, j) of an h x w image is the mean of the source box
 * rows [i H / h, ceil((i + 1) H / h)) x columns likewise — adaptive average
 * pooling, which for a whole factor is plain average pooling. Bilinear: the
 * source point ((i + 1/2) H / h - 1/2, ...) clamped at 0, its four
 * neighbours weighted by distance (the last row and column repeat at the
 * border). Both are PyTorch's interpolate(..., align_corners=False) without
 * antialiasing. The reference interpreter (compiler/ir/interp.c) computes the
 * same in double; tests/unit/test_kernels.c compares them.
 */
#include "astrt_kernels.h"

#include <math.h>

static void area_plane(const astrt_resize_shape *s, const float *x, float *y) {
  int64_t H = s->h, W = s->w, h = s->oh, w = s->ow;
  for (int64_t i = 0; i < h; i++) {
    int64_t y0 = i * H / h, y1 = ((i + 1) * H + h - 1) / h;
    for (int64_t j = 0; j < w; j++) {
      int64_t x0 = j * W / w, x1 = ((j + 1) * W + w - 1) / w;
      float sum = 0;
      for (int64_t r = y0; r < y1; r++)
        for (int64_t c = x0; c < x1; c++) sum += x[r * W + c];
      y[i * w + j] = sum / (float)((y1 - y0) * (x1 - x0));
    }
  }
}

static void bilinear_plane(const astrt_resize_shape *s, const float *x, float *y) {
  int64_t H = s->h, W = s->w, h = s->oh, w = s->ow;
  for (int64_t i = 0; i < h; i++) {
    double sy = fmax(((double)i + 0.5) * (double)H / (double)h - 0.5, 0);
    int64_t r0 = (int64_t)sy, r1 = r0 + 1 < H ? r0 + 1 : H - 1;
    float fy = (float)(sy - (double)r0);
    for (int64_t j = 0; j < w; j++) {
      double sx = fmax(((double)j + 0.5) * (double)W / (double)w - 0.5, 0);
      int64_t c0 = (int64_t)sx, c1 = c0 + 1 < W ? c0 + 1 : W - 1;
      float fx = (float)(sx - (double)c0);
      float top = (1 - fx) * x[r0 * W + c0] + fx * x[r0 * W + c1];
      float bottom = (1 - fx) * x[r1 * W + c0] + fx * x[r1 * W + c1];
      y[i * w + j] = (1 - fy) * top + fy * bottom;
    }
  }
}

void astrt_resize2d_f32(const astrt_resize_shape *s, const float *x, float *y) {
  for (int64_t p = 0; p < s->planes; p++) {
    const float *src = x + p * s->h * s->w;
    float *dst = y + p * s->oh * s->ow;
    if (s->mode == 0) area_plane(s, src, dst);
    else bilinear_plane(s, src, dst);
  }
}
