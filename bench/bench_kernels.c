/* bench_kernels.c — GFLOP/s of the convolution kernels (fast vs reference)
 * and time per call of the pooling kernels, on the LeNet-5 shapes
 * (Fashion-MNIST 28x28, batch 64 unless given on the command line).
 *
 *   bench_kernels [batch] [min_seconds_per_measurement] [extra]
 *
 * For each convolution: the public ("fast") kernel, the im2col + GEMM path
 * it used before the direct kernels, the naive reference, and the direct
 * kernels with every instruction set this CPU supports (stride-1 shapes
 * only). "extra" adds shapes beyond LeNet that locate the crossover between
 * the direct kernels and im2col + GEMM (astrt_conv_direct_suits).
 * ASTRT_CONV_ISA=none|generic|avx2|avx512 forces the public kernels' choice.
 *
 * A convolution counts 2*N*O*OH*OW*C*KH*KW flops for each of forward, grad
 * input and grad weight. Each measurement repeats the call until
 * min_seconds have passed (default 0.5; the references run fewer times) and
 * reports the median time per call.
 * The fast results are checked against the references before timing.
 * OpenBLAS uses its default thread count; set OPENBLAS_NUM_THREADS=1 for a
 * single-core figure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astrt_kernels.h"
#include "kernels_internal.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rand_buf(int64_t n, uint64_t *state) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!p) {
    fprintf(stderr, "bench_kernels: out of memory\n");
    exit(1);
  }
  for (int64_t i = 0; i < n; i++) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (float)((double)(*state >> 40) * 0x1p-23 - 1.0);
  }
  return p;
}

static double max_rel_err(const float *got, const float *want, int64_t n) {
  double m = 0.0, e = 0.0;
  for (int64_t i = 0; i < n; i++) {
    if (fabs((double)want[i]) > m) m = fabs((double)want[i]);
    const double d = fabs((double)got[i] - (double)want[i]);
    if (!(d <= e)) e = d;
  }
  return e / (1.0 + m);
}

typedef enum kind { FWD, DX, DW } kind;
static const char *const kind_name[] = {"forward    ", "grad input ", "grad weight"};

typedef struct bufs { float *x, *w, *dy, *out, *ref; } bufs;

/* Which implementation to call: the public kernel (whatever path it picks),
 * the naive reference, the im2col + GEMM path, or the direct kernels with a
 * given instruction set. */
typedef enum impl { IMPL_FAST, IMPL_REF, IMPL_IM2COL, IMPL_DIRECT } impl;

static void call(kind k, impl im, astrt_conv_isa isa, const astrt_conv_shape *s,
                 bufs *b, float *out) {
  switch (k) {
    case FWD:
      switch (im) {
        case IMPL_FAST: astrt_conv2d_f32(s, b->x, b->w, out); break;
        case IMPL_REF: astrt_ref_conv2d_f32(s, b->x, b->w, out); break;
        case IMPL_IM2COL: astrt_conv2d_im2col_f32(s, b->x, b->w, out); break;
        case IMPL_DIRECT: astrt_conv2d_direct_f32(isa, s, b->x, b->w, out); break;
      }
      break;
    case DX:
      switch (im) {
        case IMPL_FAST: astrt_conv2d_grad_input_f32(s, b->dy, b->w, out); break;
        case IMPL_REF: astrt_ref_conv2d_grad_input_f32(s, b->dy, b->w, out); break;
        case IMPL_IM2COL:
          astrt_conv2d_grad_input_im2col_f32(s, b->dy, b->w, out);
          break;
        case IMPL_DIRECT:
          astrt_conv2d_grad_input_direct_f32(isa, s, b->dy, b->w, out);
          break;
      }
      break;
    case DW:
      switch (im) {
        case IMPL_FAST: astrt_conv2d_grad_weight_f32(s, b->x, b->dy, out); break;
        case IMPL_REF: astrt_ref_conv2d_grad_weight_f32(s, b->x, b->dy, out); break;
        case IMPL_IM2COL:
          astrt_conv2d_grad_weight_im2col_f32(s, b->x, b->dy, out);
          break;
        case IMPL_DIRECT:
          astrt_conv2d_grad_weight_direct_f32(isa, s, b->x, b->dy, out);
          break;
      }
      break;
  }
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median seconds per call over calls repeated for at least min_s seconds
 * (at least 3, at most 1000). The median, not the mean, so that a shared
 * machine's preemptions do not skew it. */
static double time_call(kind k, impl im, astrt_conv_isa isa,
                        const astrt_conv_shape *s, bufs *b, double min_s) {
  enum { MAX_SAMPLES = 1000 };
  static double t[MAX_SAMPLES];
  call(k, im, isa, s, b, b->out);  /* warm-up (scratch, caches, BLAS threads) */
  int reps = 0;
  const double start = now();
  do {
    const double t0 = now();
    call(k, im, isa, s, b, b->out);
    t[reps++] = now() - t0;
  } while (reps < MAX_SAMPLES && (now() - start < min_s || reps < 3));
  qsort(t, (size_t)reps, sizeof t[0], cmp_double);
  return t[reps / 2];
}

/* with_ref: also time the (slow) reference; otherwise the im2col path is
 * the oracle for the error column. */
static void bench_conv(const char *name, const astrt_conv_shape *s,
                       double min_s, int with_ref) {
  uint64_t st = 42;
  const int64_t oh = astrt_conv_out_h(s), ow = astrt_conv_out_w(s);
  const int64_t nx = s->n * s->c * s->h * s->w, nw = s->o * s->c * s->kh * s->kw;
  const int64_t ny = s->n * s->o * oh * ow;
  const int64_t nmax = nx > ny ? (nx > nw ? nx : nw) : (ny > nw ? ny : nw);
  bufs b = {rand_buf(nx, &st), rand_buf(nw, &st), rand_buf(ny, &st),
            rand_buf(nmax, &st), rand_buf(nmax, &st)};
  const double flops = 2.0 * (double)(s->n * s->o * oh * ow) *
                       (double)(s->c * s->kh * s->kw);
  const int direct = astrt_conv_direct_suits(s);
  const astrt_conv_isa active = astrt_conv_isa_active();
  printf("%s: x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] stride %lld pad %lld"
         " -> y[%lld,%lld,%lld,%lld], %.1f MFLOP per call; fast path: %s\n",
         name, (long long)s->n, (long long)s->c, (long long)s->h,
         (long long)s->w, (long long)s->o, (long long)s->c, (long long)s->kh,
         (long long)s->kw, (long long)s->sh, (long long)s->ph, (long long)s->n,
         (long long)s->o, (long long)oh, (long long)ow, flops * 1e-6,
         direct && active != ASTRT_CONV_ISA_NONE ? astrt_conv_isa_name(active)
                                                 : "im2col");
  for (int k = FWD; k <= DW; k++) {
    const int64_t nout = k == FWD ? ny : k == DX ? nx : nw;
    call((kind)k, with_ref ? IMPL_REF : IMPL_IM2COL, ASTRT_CONV_ISA_NONE, s, &b,
         b.ref);
    call((kind)k, IMPL_FAST, ASTRT_CONV_ISA_NONE, s, &b, b.out);
    const double err = max_rel_err(b.out, b.ref, nout);
    const double tf = time_call((kind)k, IMPL_FAST, ASTRT_CONV_ISA_NONE, s, &b, min_s);
    const double ti = time_call((kind)k, IMPL_IM2COL, ASTRT_CONV_ISA_NONE, s, &b, min_s);
    printf("  %s fast %8.3f ms %6.1f GFLOP/s | im2col %8.3f ms %6.1f GFLOP/s |"
           " x%5.2f",
           kind_name[k], tf * 1e3, flops / tf * 1e-9, ti * 1e3,
           flops / ti * 1e-9, ti / tf);
    if (with_ref) {
      const double tr = time_call((kind)k, IMPL_REF, ASTRT_CONV_ISA_NONE, s, &b, min_s / 5);
      printf(" | ref %8.2f ms", tr * 1e3);
    }
    printf(" | max err %.1e (vs %s)\n", err, with_ref ? "ref" : "im2col");
    if (!(s->sh == 1 && s->sw == 1)) continue;
    printf("      direct:");
    for (int i = ASTRT_CONV_ISA_AVX512; i >= ASTRT_CONV_ISA_GENERIC; i--) {
      const astrt_conv_isa isa = (astrt_conv_isa)i;
      if (!astrt_conv_isa_supported(isa)) continue;
      call((kind)k, IMPL_DIRECT, isa, s, &b, b.out);
      const double e = max_rel_err(b.out, b.ref, nout);
      const double td = time_call((kind)k, IMPL_DIRECT, isa, s, &b, min_s);
      printf(" %s %7.3f ms %6.1f GFLOP/s x%4.2f (err %.0e) |",
             astrt_conv_isa_name(isa), td * 1e3, flops / td * 1e-9, ti / td, e);
    }
    printf("\n");
  }
  free(b.x); free(b.w); free(b.dy); free(b.out); free(b.ref);
}

static void bench_pool(const char *name, const astrt_pool_shape *s,
                       double min_s) {
  uint64_t st = 7;
  const int64_t nx = s->planes * s->h * s->w;
  const int64_t ny = s->planes * astrt_pool_out_h(s) * astrt_pool_out_w(s);
  float *x = rand_buf(nx, &st), *dy = rand_buf(ny, &st), *y = rand_buf(nx, &st);
  printf("%s: [%lld, %lld, %lld] window %lldx%lld stride %lld\n", name,
         (long long)s->planes, (long long)s->h, (long long)s->w,
         (long long)s->kh, (long long)s->kw, (long long)s->sh);
  for (int v = 0; v < 8; v++) {
    const int ref = v & 1;
    static const char *const names[] = {"max fwd ", "max grad", "avg fwd ",
                                        "avg grad"};
    int reps = 0;
    const double t0 = now();
    double t;
    do {
      switch (v >> 1) {
        case 0: (ref ? astrt_ref_maxpool2d_f32 : astrt_maxpool2d_f32)(s, x, y); break;
        case 1: (ref ? astrt_ref_maxpool2d_grad_f32 : astrt_maxpool2d_grad_f32)(s, x, dy, y); break;
        case 2: (ref ? astrt_ref_avgpool2d_f32 : astrt_avgpool2d_f32)(s, x, y); break;
        case 3: (ref ? astrt_ref_avgpool2d_grad_f32 : astrt_avgpool2d_grad_f32)(s, dy, y); break;
      }
      reps++;
      t = now();
    } while (t - t0 < min_s / 4 || reps < 2);
    printf("  %s %s %8.1f us\n", names[v >> 1], ref ? "ref " : "fast",
           (t - t0) / reps * 1e6);
  }
  free(x); free(dy); free(y);
}

int main(int argc, char **argv) {
  const int64_t n = argc > 1 ? atoll(argv[1]) : 64;
  const double min_s = argc > 2 ? atof(argv[2]) : 0.5;
  if (n < 1 || !(min_s > 0)) {
    fprintf(stderr,
            "usage: bench_kernels [batch >= 1] [min_seconds > 0] [extra]\n");
    return 2;
  }
  const astrt_conv_shape c1 = {n, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2};
  const astrt_conv_shape c2 = {n, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0};
  const int extra = argc > 3 && !strcmp(argv[3], "extra");
  printf("direct-kernel instruction set: %s (ASTRT_CONV_ISA to force)\n",
         astrt_conv_isa_name(astrt_conv_isa_active()));
  bench_conv("LeNet conv1", &c1, min_s, 1);
  bench_conv("LeNet conv2", &c2, min_s, 1);
  if (extra) {  /* shapes that decide where the direct kernels stop paying */
    const astrt_conv_shape e1 = {n, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1};
    const astrt_conv_shape e2 = {n, 16, 16, 16, 32, 3, 3, 1, 1, 1, 1};
    const astrt_conv_shape e3 = {n, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1};
    const astrt_conv_shape e4 = {n, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1};
    const astrt_conv_shape e5 = {n, 16, 14, 14, 32, 5, 5, 1, 1, 2, 2};
    bench_conv("cifar conv1", &e1, min_s, 0);
    bench_conv("16->32 3x3 16x16", &e2, min_s, 0);
    bench_conv("32->64 3x3 16x16", &e3, min_s, 0);
    bench_conv("64->64 3x3 8x8", &e4, min_s, 0);
    bench_conv("16->32 5x5 14x14", &e5, min_s, 0);
  }
  const astrt_pool_shape p1 = {n * 6, 28, 28, 2, 2, 2, 2, 0, 0};
  const astrt_pool_shape p2 = {n * 16, 10, 10, 2, 2, 2, 2, 0, 0};
  bench_pool("LeNet pool1", &p1, min_s);
  bench_pool("LeNet pool2", &p2, min_s);
  astrt_kernels_release_scratch();
  return 0;
}
