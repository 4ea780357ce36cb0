/* bench_kernels.c — GFLOP/s of the convolution kernels (fast vs reference)
 * and time per call of the pooling kernels, on the LeNet-5 shapes
 * (Fashion-MNIST 28x28, batch 64 unless given on the command line).
 *
 *   bench_kernels [batch] [min_seconds_per_measurement] [extra | seq]
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
 *
 * Then the transformer kernels at the sizes of a small GPT (batch 32,
 * context 64, 4 heads of 32, width 128, vocabulary 256): ns per row of the
 * row kernels (softmax over 32*4*64 rows of 64, layer norm over 2048 rows of
 * 128, ...) with every instruction set the CPU runs, and the attention's
 * batched products (128 heads of Q K^T, 64x64x32 with lda 128, and of P V,
 * 64x32x64) against a loop of astrt_sgemm calls on contiguous copies; both
 * on 1 and 2 of the runtime's threads (OpenBLAS on one thread, as the driver
 * runs it).
 *
 * Then ("gemm" for these alone) the GEMM backends on the examples' products
 * (the MLP's eight, LeNet's dense layer, a wide MLP's and a small GPT's),
 * f32 and bf16: GFLOP/s on one thread in CPU time, so that other processes
 * on the machine do not skew it, as a fraction of this core's measured fp32
 * FMA and bf16 dot-product peaks, and on 2 of the runtime's threads.
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

/* ---- transformer kernels ------------------------------------------------- */

void openblas_set_num_threads(int num_threads);

/* Median seconds per call of fn(ctx), repeated for at least min_s seconds. */
static double time_fn(void (*fn)(void *), void *ctx, double min_s) {
  enum { MAX_SAMPLES = 5000 };
  static double t[MAX_SAMPLES];
  fn(ctx);  /* warm-up */
  int reps = 0;
  const double start = now();
  do {
    const double t0 = now();
    fn(ctx);
    t[reps++] = now() - t0;
  } while (reps < MAX_SAMPLES && (now() - start < min_s || reps < 3));
  qsort(t, (size_t)reps, sizeof t[0], cmp_double);
  return t[reps / 2];
}

typedef struct seq_ctx {
  int kind, ref;
  const float *x, *dy;
  float *out;
  int64_t rows, n, causal;
  const int32_t *idx;
  int64_t vocab;
} seq_ctx;

enum { S_SOFTMAX, S_SOFTMAX_GRAD, S_LOG_SOFTMAX, S_LOG_SOFTMAX_GRAD, S_LN, S_LN_GRAD, S_GATHER, S_SCATTER, S_N };
static const char *const seq_names[S_N] = {"softmax", "softmax grad", "log-softmax", "log-softmax grad",
                                           "layer norm", "layer norm grad", "gather", "scatter-add"};

static void seq_call(void *p) {
  const seq_ctx *c = p;
  const int r = c->ref;
  switch (c->kind) {
    case S_SOFTMAX: (r ? astrt_ref_softmax_f32 : astrt_softmax_f32)(c->x, c->out, c->rows, c->n, c->causal); break;
    case S_SOFTMAX_GRAD:
      (r ? astrt_ref_softmax_grad_f32 : astrt_softmax_grad_f32)(c->x, c->dy, c->out, c->rows, c->n);
      break;
    case S_LOG_SOFTMAX: (r ? astrt_ref_log_softmax_f32 : astrt_log_softmax_f32)(c->x, c->out, c->rows, c->n); break;
    case S_LOG_SOFTMAX_GRAD:
      (r ? astrt_ref_log_softmax_grad_f32 : astrt_log_softmax_grad_f32)(c->x, c->dy, c->out, c->rows, c->n);
      break;
    case S_LN: (r ? astrt_ref_layernorm_f32 : astrt_layernorm_f32)(c->x, c->out, c->rows, c->n, 1e-5f); break;
    case S_LN_GRAD:
      (r ? astrt_ref_layernorm_grad_f32 : astrt_layernorm_grad_f32)(c->x, c->dy, c->out, c->rows, c->n, 1e-5f);
      break;
    case S_GATHER:  /* rows: ids; x: the table */
      (r ? astrt_ref_gather_rows_f32 : astrt_gather_rows_f32)(c->x, c->vocab, c->n, c->idx, c->rows, c->out);
      break;
    case S_SCATTER:
      (r ? astrt_ref_scatter_add_rows_f32 : astrt_scatter_add_rows_f32)(c->idx, c->rows, c->dy, c->n, c->vocab,
                                                                        c->out);
      break;
  }
}

static void bench_seq(double min_s) {
  /* small GPT: batch 32, context 64, 4 heads, width 128, vocabulary 256 */
  const int64_t bt = 32 * 64, att_rows = 32 * 4 * 64, t = 64, d = 128, vocab = 256;
  uint64_t st = 11;
  float *x = rand_buf(bt * d * 2, &st), *dy = rand_buf(bt * d * 2, &st);
  float *out = rand_buf(bt * d * 2, &st), *yprob = rand_buf(att_rows * t, &st);
  float *ylog = rand_buf(bt * vocab, &st);
  for (int64_t i = 0; i < bt * d * 2; i++) x[i] *= 4.0f;
  astrt_ref_softmax_f32(x, yprob, att_rows, t, 0);
  astrt_ref_log_softmax_f32(x, ylog, bt, vocab);
  int32_t *idx = malloc((size_t)bt * sizeof(int32_t));
  if (!idx) exit(1);
  for (int64_t i = 0; i < bt; i++) idx[i] = (int32_t)((i * 7919 + 13) % vocab);
  const struct { int kind; const char *shape; int64_t rows, n, causal; const float *in; } rows[] = {
      {S_SOFTMAX, "32*4*64 x 64, causal", att_rows, t, t, x},
      {S_SOFTMAX, "32*4*64 x 64", att_rows, t, 0, x},
      {S_SOFTMAX_GRAD, "32*4*64 x 64", att_rows, t, 0, yprob},
      {S_LOG_SOFTMAX, "2048 x 256", bt, vocab, 0, x},
      {S_LOG_SOFTMAX_GRAD, "2048 x 256", bt, vocab, 0, ylog},
      {S_LN, "2048 x 128", bt, d, 0, x},
      {S_LN_GRAD, "2048 x 128", bt, d, 0, x},
      {S_GATHER, "2048 x 128 from 256", bt, d, 0, x},
      {S_SCATTER, "2048 x 128 into 256", bt, d, 0, NULL},
  };
  static const char *const isas[] = {"generic", "avx2", "avx512"};
  const char *best = astrt_seq_isa();
  printf("transformer row kernels, ns per row (the default instruction set: %s)\n", best);
  printf("  %-17s %-22s %8s", "kernel", "shape", "ref");
  for (int i = 0; i < 3; i++)
    if (astrt_seq_set_isa(isas[i])) printf(" %8s %8s", isas[i], "2 thr");
  printf("\n");
  for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
    seq_ctx c = {rows[k].kind, 1, rows[k].in, dy, out, rows[k].rows, rows[k].n, rows[k].causal, idx, vocab};
    const double per = 1e9 / (double)rows[k].rows;
    printf("  %-17s %-22s %8.1f", seq_names[rows[k].kind], rows[k].shape, time_fn(seq_call, &c, min_s / 4) * per);
    c.ref = 0;
    for (int i = 0; i < 3; i++) {
      if (!astrt_seq_set_isa(isas[i])) continue;
      astrt_pool_configure(1);
      const double t1 = time_fn(seq_call, &c, min_s);
      astrt_pool_configure(2);
      const double t2 = time_fn(seq_call, &c, min_s);
      astrt_pool_configure(1);
      printf(" %8.1f %8.1f", t1 * per, t2 * per);
    }
    printf("\n");
  }
  astrt_seq_set_isa(best);
  free(x); free(dy); free(out); free(yprob); free(ylog); free(idx);
}

/* Attention of the small GPT: Q, K, V [B=32, T=64, H=4, D=32]. */
typedef struct att_ctx {
  const float *q, *k, *v, *qc, *kc, *vc;  /* strided, and per-head contiguous copies */
  float *s, *o, *oc;
  int pv;  /* 0: S = Q K^T / sqrt(D); 1: O = S V */
} att_ctx;

enum { AB = 32, AT = 64, AH = 4, AD = 32 };

static void att_batched(void *p) {
  const att_ctx *c = p;
  if (!c->pv) {
    const astrt_gemm_batch d = {0, 1, AT, AT, AD, AH * AD, AH * AD, AT, 2, {AB, AH}, {AT * AH * AD, AD},
                                {AT * AH * AD, AD}, {AH * AT * AT, AT * AT}, 0.17677670f, 0.0f, 0, 0};
    astrt_sgemm_batched(&d, c->q, c->k, c->s);
  } else {
    const astrt_gemm_batch d = {0, 0, AT, AD, AT, AT, AH * AD, AH * AD, 2, {AB, AH}, {AH * AT * AT, AT * AT},
                                {AT * AH * AD, AD}, {AT * AH * AD, AD}, 1.0f, 0.0f, 0, 0};
    astrt_sgemm_batched(&d, c->s, c->v, c->o);
  }
}

static void att_loop(void *p) {
  const att_ctx *c = p;
  for (int64_t i = 0; i < AB * AH; i++) {
    if (!c->pv)
      astrt_sgemm(0, 1, AT, AT, AD, 0.17677670f, c->qc + i * AT * AD, c->kc + i * AT * AD, 0.0f, c->s + i * AT * AT);
    else
      astrt_sgemm(0, 0, AT, AD, AT, 1.0f, c->s + i * AT * AT, c->vc + i * AT * AD, 0.0f, c->oc + i * AT * AD);
  }
}

static void bench_attention(double min_s) {
  uint64_t st = 5;
  const int64_t nqkv = (int64_t)AB * AT * AH * AD, ns = (int64_t)AB * AH * AT * AT;
  float *q = rand_buf(nqkv, &st), *k = rand_buf(nqkv, &st), *v = rand_buf(nqkv, &st);
  float *qc = rand_buf(nqkv, &st), *kc = rand_buf(nqkv, &st), *vc = rand_buf(nqkv, &st);
  float *s = rand_buf(ns, &st), *o = rand_buf(nqkv, &st), *oc = rand_buf(nqkv, &st);
  /* contiguous per-head copies [B, H, T, D] */
  for (int64_t b = 0; b < AB; b++)
    for (int64_t t = 0; t < AT; t++)
      for (int64_t h = 0; h < AH; h++)
        for (int64_t e = 0; e < AD; e++) {
          const int64_t src = ((b * AT + t) * AH + h) * AD + e, dst = ((b * AH + h) * AT + t) * AD + e;
          qc[dst] = q[src], kc[dst] = k[src], vc[dst] = v[src];
        }
  att_ctx c = {q, k, v, qc, kc, vc, s, o, oc, 0};
  printf("attention products, 128 heads (B 32, H 4, T 64, D 32), us per call (all heads)\n");
  for (int pv = 0; pv < 2; pv++) {
    c.pv = pv;
    const double flops = 2.0 * AB * AH * (double)AT * (pv ? AD : AT) * (pv ? AT : AD);
    printf("  %-26s", pv ? "P V     64x32x64" : "Q K^T   64x64x32, lda 128");
    for (int threads = 1; threads <= 2; threads++) {
      astrt_pool_configure(threads);
      const double tb = time_fn(att_batched, &c, min_s), tl = time_fn(att_loop, &c, min_s);
      printf(" | %d thr: batched %7.1f us %5.1f GFLOP/s, astrt_sgemm loop %7.1f us %5.1f GFLOP/s", threads,
             tb * 1e6, flops / tb * 1e-9, tl * 1e6, flops / tl * 1e-9);
    }
    astrt_pool_configure(1);
    printf("\n");
  }
  /* the batched strided result equals the loop on copies (up to rounding) */
  c.pv = 0;
  att_batched(&c);
  float *s1 = malloc((size_t)ns * sizeof(float));
  if (!s1) exit(1);
  memcpy(s1, s, (size_t)ns * sizeof(float));
  att_loop(&c);
  printf("  max |batched - loop| (Q K^T): %.1e\n", max_rel_err(s1, s, ns));
  free(s1);
  free(q); free(k); free(v); free(qc); free(kc); free(vc); free(s); free(o); free(oc);
}

/* ---- GEMM backends ---------------------------------------------------------- */

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* This core's peak (FLOP/s, measured in CPU time so that other processes on
 * the machine do not lower it): 12 independent accumulator chains of fp32
 * FMA, and of bf16 pair dot products (vdpbf16ps: 2 products per fp32 lane),
 * in the widest vectors the CPU has. 0 for what it lacks. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PEAK_BODY(type, init, op)                                             \
  type a0 = init, a1 = init, a2 = init, a3 = init, a4 = init, a5 = init;     \
  type a6 = init, a7 = init, a8 = init, a9 = init, a10 = init, a11 = init;   \
  for (long i = 0; i < n; i++) {                                              \
    a0 = op(a0); a1 = op(a1); a2 = op(a2); a3 = op(a3); a4 = op(a4); a5 = op(a5); \
    a6 = op(a6); a7 = op(a7); a8 = op(a8); a9 = op(a9); a10 = op(a10); a11 = op(a11); \
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5)); \
    __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11)); \
  }
__attribute__((target("avx512f"))) static void peak512(long n) {
  const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
#define FMA512(x) _mm512_fmadd_ps(x, b, c)
  PEAK_BODY(__m512, _mm512_setzero_ps(), FMA512)
}
__attribute__((target("avx2,fma"))) static void peak256(long n) {
  const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
#define FMA256(x) _mm256_fmadd_ps(x, b, c)
  PEAK_BODY(__m256, _mm256_setzero_ps(), FMA256)
}
__attribute__((target("avx512f,avx512bf16"))) static void peakbf16(long n) {
  const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3a00);
#define DPBF(x) _mm512_dpbf16_ps(x, b, c)
  PEAK_BODY(__m512, _mm512_setzero_ps(), DPBF)
}
static double peak_of(void (*fn)(long), double flops_per_iter) {
  double best = 0;
  for (int r = 0; r < 5; r++) {
    const long n = 2000000;
    double t0 = cpu_now();
    fn(n);
    double t = cpu_now() - t0;
    if (t > 0 && flops_per_iter * (double)n / t > best) best = flops_per_iter * (double)n / t;
  }
  return best;
}
static void peaks(double *f32, double *bf16) {
  __builtin_cpu_init();
  *f32 = __builtin_cpu_supports("avx512f") ? peak_of(peak512, 12 * 32.0)
         : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? peak_of(peak256, 12 * 16.0) : 0;
  *bf16 = __builtin_cpu_supports("avx512bf16") ? peak_of(peakbf16, 12 * 64.0) : 0;
}
#else
static void peaks(double *f32, double *bf16) { *f32 = *bf16 = 0; }
#endif

typedef struct gemm_ctx {
  const astrt_gemm_batch *d;
  const void *a, *b;
  float *c;
} gemm_ctx;

static void gemm_call(void *p) {
  const gemm_ctx *g = p;
  astrt_gemm_batched(g->d, g->a, g->b, g->c);
}

/* median CPU seconds per call on this thread (no pool) */
static double cpu_time_fn(void (*fn)(void *), void *ctx, double min_s) {
  enum { MAX_SAMPLES = 5000 };
  static double t[MAX_SAMPLES];
  fn(ctx);
  int reps = 0;
  double total = 0;
  do {
    const double t0 = cpu_now();
    fn(ctx);
    t[reps] = cpu_now() - t0;
    total += t[reps++];
  } while (reps < MAX_SAMPLES && (total < min_s || reps < 5));
  qsort(t, (size_t)reps, sizeof t[0], cmp_double);
  return t[reps / 2];
}

/* The products of the examples' steps with each backend and operand type:
 * GFLOP/s on one thread (CPU time: robust to other load) with its fraction
 * of the core's peak, and on 2 of the runtime's threads (wall time, median). */
static void bench_gemm(double min_s) {
  static const struct { const char *what; int ta, tb; int64_t m, n, k; } shapes[] = {
      {"MLP fwd 1", 0, 0, 64, 256, 784},  {"MLP dW 1", 1, 0, 784, 256, 64}, {"MLP fwd 2", 0, 0, 64, 128, 256},
      {"MLP dx 2", 0, 1, 64, 256, 128},   {"MLP dW 2", 1, 0, 256, 128, 64}, {"MLP fwd 3", 0, 0, 64, 10, 128},
      {"MLP dx 3", 0, 1, 64, 128, 10},    {"MLP dW 3", 1, 0, 128, 10, 64},  {"LeNet fwd 1", 0, 0, 64, 120, 400},
      {"LeNet dx 1", 0, 1, 64, 400, 120}, {"LeNet dW 1", 1, 0, 400, 120, 64}, {"wide fwd 2", 0, 0, 256, 1024, 1024},
      {"GPT qkv", 0, 0, 2048, 384, 128},  {"GPT dW qkv", 1, 0, 128, 384, 2048},
  };
  double pf, pb;
  peaks(&pf, &pb);
  printf("\nGEMM backends (one thread: CPU time, fraction of this core's peak: fp32 FMA %.1f GFLOP/s, bf16 "
         "vdpbf16ps %.1f GFLOP/s; 2 threads: wall time)\n", pf / 1e9, pb / 1e9);
  printf("  %-12s %-14s %-5s %-9s %9s %6s %9s\n", "product", "m x n x k", "type", "backend", "1 thread", "peak",
         "2 threads");
  uint64_t st = 42;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const int64_t m = shapes[i].m, n = shapes[i].n, k = shapes[i].k;
    float *fa = rand_buf(m * k, &st), *fb = rand_buf(k * n, &st), *c = rand_buf(m * n, &st);
    uint16_t *ha = malloc((size_t)(m * k) * 2), *hb = malloc((size_t)(k * n) * 2);
    astrt_f32_to_bf16(fa, ha, m * k);
    astrt_f32_to_bf16(fb, hb, k * n);
    const double flops = 2.0 * (double)(m * n * k);
    for (int type = 0; type < 2; type++)
      for (int be = 0; be < ASTRT_NUM_GEMM_BACKENDS; be++) {
        const int ab = type ? ASTRT_DTYPE_BF16 : ASTRT_DTYPE_F32;
        if (!astrt_gemm_backend_available(be, ab, NULL)) continue;
        astrt_gemm_batch d = {shapes[i].ta, shapes[i].tb, m, n, k, shapes[i].ta ? m : k, shapes[i].tb ? k : n, n, 0,
                              {1, 1, 1, 1}, {0}, {0}, {0}, 1.0f, 0.0f, be, ab};
        gemm_ctx g = {&d, type ? (const void *)ha : fa, type ? (const void *)hb : fb, c};
        int was = astrt_gemm_force(be);
        astrt_pool_configure(1);
        const double t1 = cpu_time_fn(gemm_call, &g, min_s);
        astrt_pool_configure(2);
        const double t2 = time_fn(gemm_call, &g, min_s);
        astrt_pool_configure(1);
        astrt_gemm_force(was);
        const double peak = type ? pb : pf;
        printf("  %-12s %4lldx%4lldx%-4lld %-5s %-9s %9.1f %5.0f%% %9.1f\n", shapes[i].what, (long long)m,
               (long long)n, (long long)k, type ? "bf16" : "f32", astrt_gemm_backend_name(be), flops / t1 / 1e9,
               peak > 0 ? 100 * flops / t1 / peak : 0, flops / t2 / 1e9);
      }
    free(fa), free(fb), free(c), free(ha), free(hb);
  }
}

int main(int argc, char **argv) {
  const int64_t n = argc > 1 ? atoll(argv[1]) : 64;
  const double min_s = argc > 2 ? atof(argv[2]) : 0.5;
  if (n < 1 || !(min_s > 0)) {
    fprintf(stderr,
            "usage: bench_kernels [batch >= 1] [min_seconds > 0] [extra | seq | gemm]\n");
    return 2;
  }
  const astrt_conv_shape c1 = {n, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2};
  const astrt_conv_shape c2 = {n, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0};
  const int extra = argc > 3 && !strcmp(argv[3], "extra");
  if (argc > 3 && !strcmp(argv[3], "gemm")) {  /* the GEMM backends only */
    openblas_set_num_threads(1);
    bench_gemm(min_s);
    return 0;
  }
  if (argc > 3 && !strcmp(argv[3], "seq")) {  /* the transformer kernels only */
    openblas_set_num_threads(1);
    bench_seq(min_s);
    bench_attention(min_s);
    return 0;
  }
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
  openblas_set_num_threads(1);  /* as the driver does before using the pool */
  bench_seq(min_s);
  bench_attention(min_s);
  bench_gemm(min_s);
  astrt_kernels_release_scratch();
  return 0;
}
