/* interp.c — the reference interpreter (see interp.h). Loops are written
 * for obviousness, not speed. */
#include "interp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astrt.h"
#include "astrt_program.h"

/* ---- helpers ---------------------------------------------------------------------- */

static int64_t dim(const Interp *in, int64_t d) { return d == IR_DIM_B ? in->rows : d; }

int64_t interp_numel(const Interp *in, const IrGraph *g, int node) {
  return shape_numel(&g->nodes[node].type.shape, in->rows);
}

/* row-major strides of a shape, aligned to rank `r` (missing leading dims and
 * broadcast dims of size 1 get stride 0 when `bcast`) */
static void strides(const Interp *in, const Shape *s, int r, int64_t *st, bool bcast) {
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    int j = i - (r - s->rank);
    if (j < 0) {
      st[i] = 0;
      continue;
    }
    int64_t d = dim(in, s->d[j]);
    st[i] = (bcast && d == 1) ? 0 : acc;
    acc *= d;
  }
}

/* offset of flat output index k in an operand with strides st */
static int64_t offset(const Interp *in, const Shape *out, int64_t k, const int64_t *st) {
  int64_t off = 0;
  for (int i = out->rank - 1; i >= 0; i--) {
    int64_t d = dim(in, out->d[i]);
    off += (k % d) * st[i];
    k /= d;
  }
  return off;
}

static double gen_uniform(uint64_t *s) {
  *s += 0x9E3779B97F4A7C15ull;
  uint64_t z = *s;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

static double gen_normal(uint64_t *s) {
  double u = gen_uniform(s), v = gen_uniform(s);
  return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

void interp_init(Interp *in, const IrProgram *p, uint64_t seed) {
  memset(in, 0, sizeof *in);
  in->p = p;
  in->seed = seed;
  in->vars = xcalloc((size_t)p->vars.len + 1, sizeof(double *));
  uint64_t s = seed * 2654435761u + 1;
  for (int v = 0; v < p->vars.len; v++) {
    const IrVar *var = &p->vars.data[v];
    int64_t n = shape_numel(&var->shape, 1);
    double *d = xcalloc((size_t)n + 1, sizeof(double));
    const Init *it = &var->init;
    for (int64_t i = 0; i < n; i++) {
      switch (it->kind) {
      case INIT_ZEROS: d[i] = 0; break;
      case INIT_ONES: d[i] = 1; break;
      case INIT_CONST: d[i] = it->a; break;
      case INIT_UNIFORM: d[i] = it->a + (it->b - it->a) * gen_uniform(&s); break;
      case INIT_NORMAL: d[i] = it->a + it->b * gen_normal(&s); break;
      case INIT_HE_UNIFORM: d[i] = (2 * gen_uniform(&s) - 1) * sqrt(6.0 / (double)it->fan_in); break;
      case INIT_HE_NORMAL: d[i] = gen_normal(&s) * sqrt(2.0 / (double)it->fan_in); break;
      case INIT_GLOROT_UNIFORM:
        d[i] = (2 * gen_uniform(&s) - 1) * sqrt(6.0 / (double)(it->fan_in + it->fan_out));
        break;
      case INIT_GLOROT_NORMAL: d[i] = gen_normal(&s) * sqrt(2.0 / (double)(it->fan_in + it->fan_out)); break;
      }
    }
    in->vars[v] = d;
  }
}

static void free_vals(Interp *in) {
  for (int i = 0; i < in->nvals; i++) free(in->vals[i]);
  free(in->vals);
  in->vals = NULL;
  in->nvals = 0;
}

void interp_free(Interp *in) {
  free_vals(in);
  if (in->vars)
    for (int v = 0; v < in->p->vars.len; v++) free(in->vars[v]);
  free(in->vars);
  in->vars = NULL;
}

/* ---- op groups ---------------------------------------------------------------------- */

/* x rounded to float, then to bf16 (round to nearest even) */
static double round_bf16(double x) {
  float f = (float)x;
  uint32_t u;
  memcpy(&u, &f, 4);
  if (isnan(f)) return f;
  u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
  memcpy(&f, &u, 4);
  return f;
}

/* x rounded to float, then to IEEE half (round to nearest even) */
static double round_f16(double x) {
  float f = (float)x;
  if (isnan(f) || isinf(f)) return f;
  double a = fabs((double)f);
  if (a >= 65520.0) return f > 0 ? INFINITY : -INFINITY;
  int e;
  frexp(a, &e);                                /* a = m 2^e, m in [0.5, 1) */
  double ulp = ldexp(1.0, (e - 1 < -14 ? -14 : e - 1) - 10);
  double r = nearbyint(a / ulp) * ulp;         /* default rounding: to nearest even */
  return f < 0 ? -r : r;
}

static double cast(DType to, double x) {
  switch (to) {
  case DT_BF16: return round_bf16(x);
  case DT_F16: return round_f16(x);
  case DT_F32: return (float)x;
  default: return x;
  }
}

static void elementwise(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  const Shape *os = &n->type.shape;
  int r = os->rank;
  int64_t st[IR_MAX_IN][IR_MAX_RANK];
  for (int k = 0; k < n->nin; k++) strides(in, &g->nodes[n->in[k]].type.shape, r, st[k], true);
  int64_t total = shape_numel(os, in->rows);
  for (int64_t i = 0; i < total; i++) {
    double a = in->vals[n->in[0]][offset(in, os, i, st[0])];
    if (n->op == IR_CAST) out[i] = cast(n->type.dtype, a);
    else if (n->nin == 1) out[i] = n->op == IR_BROADCAST || n->op == IR_RESHAPE ? a : ir_eval_unary(n->op, a);
    else if (n->nin == 2) out[i] = ir_eval_binary(n->op, a, in->vals[n->in[1]][offset(in, os, i, st[1])]);
    else
      out[i] = ir_eval_ternary(n->op, a, in->vals[n->in[1]][offset(in, os, i, st[1])],
                               in->vals[n->in[2]][offset(in, os, i, st[2])]);
  }
}

static void reduce(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  const Shape *xs = &g->nodes[n->in[0]].type.shape;
  int64_t mask = n->ia[0];
  /* the result viewed with the reduced axes kept as 1 */
  Shape keep = *xs;
  double count = 1;
  for (int a = 0; a < xs->rank; a++)
    if (mask & (1 << a)) {
      count *= (double)dim(in, xs->d[a]);
      keep.d[a] = 1;
    }
  int64_t nout = shape_numel(&keep, in->rows);
  for (int64_t i = 0; i < nout; i++) out[i] = n->op == IR_MAX ? -INFINITY : 0;
  int64_t st[IR_MAX_RANK];
  strides(in, &keep, xs->rank, st, true);
  int64_t total = shape_numel(xs, in->rows);
  const double *x = in->vals[n->in[0]];
  for (int64_t i = 0; i < total; i++) {
    int64_t o = offset(in, xs, i, st);
    if (n->op == IR_MAX) out[o] = x[i] > out[o] ? x[i] : out[o];
    else out[o] += x[i];
  }
  if (n->op == IR_MEAN)
    for (int64_t i = 0; i < nout; i++) out[i] /= count;
}

/* op(a) op(b) per leading index (broadcast); with fold, summed over the
 * leading axes into one [M, N] */
static void matmul(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  const Shape *as = &g->nodes[n->in[0]].type.shape, *bs = &g->nodes[n->in[1]].type.shape;
  bool ta = n->ia[0], tb = n->ia[1], fold = n->ia[2];
  int ra = as->rank, rb = bs->rank;
  int64_t a0 = dim(in, as->d[ra - 2]), a1 = dim(in, as->d[ra - 1]), b0 = dim(in, bs->d[rb - 2]), b1 = dim(in, bs->d[rb - 1]);
  int64_t m = ta ? a1 : a0, k = ta ? a0 : a1, nn = tb ? b0 : b1;
  /* the leading axes of the result (of a, when folded), with a's and b's strides */
  Shape lead = {0, {0}};
  if (fold) {
    lead.rank = ra - 2;
    for (int i = 0; i < ra - 2; i++) lead.d[i] = as->d[i];
  } else {
    lead.rank = n->type.shape.rank - 2;
    for (int i = 0; i < lead.rank; i++) lead.d[i] = n->type.shape.d[i];
  }
  Shape la = {ra - 2, {0}}, lb = {rb - 2, {0}};
  for (int i = 0; i < ra - 2; i++) la.d[i] = as->d[i];
  for (int i = 0; i < rb - 2; i++) lb.d[i] = bs->d[i];
  int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK];
  strides(in, &la, lead.rank, sa, true);
  strides(in, &lb, lead.rank, sb, true);
  int64_t count = shape_numel(&lead, in->rows);
  const double *a = in->vals[n->in[0]], *b = in->vals[n->in[1]];
  /* bf16 operands (precision bf16): the products take them rounded to bf16
   * (a cast made them so; rounding again changes nothing) */
  double *round_a = NULL, *round_b = NULL;
  if (g->nodes[n->in[0]].type.dtype == DT_BF16) {
    int64_t na = interp_numel(in, g, n->in[0]), nb = interp_numel(in, g, n->in[1]);
    round_a = xmalloc(sizeof(double) * (size_t)(na + 1));
    round_b = xmalloc(sizeof(double) * (size_t)(nb + 1));
    for (int64_t i = 0; i < na; i++) round_a[i] = round_bf16(a[i]);
    for (int64_t i = 0; i < nb; i++) round_b[i] = round_bf16(b[i]);
    a = round_a;
    b = round_b;
  }
  if (fold) memset(out, 0, sizeof(double) * (size_t)(m * nn));
  for (int64_t l = 0; l < count; l++) {
    const double *al = a + offset(in, &lead, l, sa) * a0 * a1, *bl = b + offset(in, &lead, l, sb) * b0 * b1;
    double *o = out + (fold ? 0 : l * m * nn);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < nn; j++) {
        double s = 0;
        for (int64_t p = 0; p < k; p++)
          s += (ta ? al[p * a1 + i] : al[i * a1 + p]) * (tb ? bl[j * b1 + p] : bl[p * b1 + j]);
        o[i * nn + j] += s;
      }
  }
  free(round_a);
  free(round_b);
}

/* flat index k of shape s as a multi-index (row-major) */
static void unflatten(const Interp *in, const Shape *s, int64_t k, int64_t *idx) {
  for (int i = s->rank - 1; i >= 0; i--) {
    int64_t d = dim(in, s->d[i]);
    idx[i] = k % d;
    k /= d;
  }
}

static int64_t flatten_index(const Interp *in, const Shape *s, const int64_t *idx) {
  int64_t k = 0;
  for (int i = 0; i < s->rank; i++) k = k * dim(in, s->d[i]) + idx[i];
  return k;
}

/* permute, slice, pad and concat: element copies */
static void layout(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  const Shape *ys = &n->type.shape, *xs = &g->nodes[n->in[0]].type.shape;
  int64_t total = shape_numel(ys, in->rows), idx[IR_MAX_RANK], src[IR_MAX_RANK];
  const double *x = in->vals[n->in[0]];
  switch (n->op) {
  case IR_PERMUTE:
    for (int64_t k = 0; k < total; k++) {
      unflatten(in, ys, k, idx);
      for (int i = 0; i < ys->rank; i++) src[n->ia[i]] = idx[i];
      out[k] = x[flatten_index(in, xs, src)];
    }
    break;
  case IR_SLICE:
    for (int64_t k = 0; k < total; k++) {
      unflatten(in, ys, k, idx);
      for (int i = 0; i < ys->rank; i++) idx[i] += n->ia[i];
      out[k] = x[flatten_index(in, xs, idx)];
    }
    break;
  case IR_PAD:
    memset(out, 0, sizeof(double) * (size_t)total);
    for (int64_t k = 0; k < shape_numel(xs, in->rows); k++) {
      unflatten(in, xs, k, idx);
      for (int i = 0; i < xs->rank; i++) idx[i] += n->ia[i];
      out[flatten_index(in, ys, idx)] = x[k];
    }
    break;
  case IR_CONCAT: {
    int ax = (int)n->ia[0];
    int64_t at = 0;
    for (int p = 0; p < n->nin; p++) {
      const Shape *ps = &g->nodes[n->in[p]].type.shape;
      for (int64_t k = 0; k < shape_numel(ps, in->rows); k++) {
        unflatten(in, ps, k, idx);
        idx[ax] += at;
        out[flatten_index(in, ys, idx)] = in->vals[n->in[p]][k];
      }
      at += ps->d[ax];
    }
    break;
  }
  default: unreachable();
  }
}

/* softmax, log-softmax, layer norm and their gradients, row by row over the last axis */
static void rowwise(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  const Shape *xs = &g->nodes[n->in[0]].type.shape;
  int64_t len = xs->d[xs->rank - 1], rows = shape_numel(xs, in->rows) / len;
  const double *x = in->vals[n->in[0]], *dy = n->nin > 1 ? in->vals[n->in[1]] : NULL;
  double eps = n->fa[0];
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * len, *dr = dy ? dy + r * len : NULL;
    double *o = out + r * len;
    double m = -INFINITY, z = 0, s1 = 0, s2 = 0;
    switch (n->op) {
    case IR_SOFTMAX: case IR_LOG_SOFTMAX:
      for (int64_t j = 0; j < len; j++) m = fmax(m, xr[j]);
      for (int64_t j = 0; j < len; j++) z += exp(xr[j] - m);
      for (int64_t j = 0; j < len; j++) o[j] = n->op == IR_SOFTMAX ? exp(xr[j] - m) / z : xr[j] - m - log(z);
      break;
    case IR_SOFTMAX_GRAD:  /* x = y */
      for (int64_t j = 0; j < len; j++) s1 += dr[j] * xr[j];
      for (int64_t j = 0; j < len; j++) o[j] = xr[j] * (dr[j] - s1);
      break;
    case IR_LOG_SOFTMAX_GRAD:  /* x = y */
      for (int64_t j = 0; j < len; j++) s1 += dr[j];
      for (int64_t j = 0; j < len; j++) o[j] = dr[j] - exp(xr[j]) * s1;
      break;
    case IR_LAYERNORM: case IR_LAYERNORM_GRAD: {
      double mean = 0, var = 0;
      for (int64_t j = 0; j < len; j++) mean += xr[j];
      mean /= (double)len;
      for (int64_t j = 0; j < len; j++) var += (xr[j] - mean) * (xr[j] - mean);
      double rstd = 1 / sqrt(var / (double)len + eps);
      if (n->op == IR_LAYERNORM) {
        for (int64_t j = 0; j < len; j++) o[j] = (xr[j] - mean) * rstd;
        break;
      }
      for (int64_t j = 0; j < len; j++) s1 += dr[j], s2 += dr[j] * (xr[j] - mean) * rstd;
      s1 /= (double)len, s2 /= (double)len;
      for (int64_t j = 0; j < len; j++) o[j] = rstd * (dr[j] - s1 - (xr[j] - mean) * rstd * s2);
      break;
    }
    default: unreachable();
    }
  }
}

/* gather rows of a table by integer indices, and its derivative */
static bool indexing(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  bool gather = n->op == IR_GATHER;
  const Shape *ts = gather ? &g->nodes[n->in[0]].type.shape : &n->type.shape;
  const Shape *is = &g->nodes[n->in[gather ? 1 : 0]].type.shape;
  int64_t vocab = ts->d[0], row = shape_numel(ts, 1) / vocab, count = shape_numel(is, in->rows);
  const double *idx = in->vals[n->in[gather ? 1 : 0]], *src = in->vals[n->in[gather ? 0 : 1]];
  if (!gather) memset(out, 0, sizeof(double) * (size_t)(vocab * row));
  for (int64_t i = 0; i < count; i++) {
    int64_t v = (int64_t)idx[i];
    if (v < 0 || v >= vocab) {
      fprintf(stderr, "interp: index %lld out of range [0, %lld)\n", (long long)v, (long long)vocab);
      return false;
    }
    for (int64_t j = 0; j < row; j++) {
      if (gather) out[i * row + j] = src[v * row + j];
      else out[v * row + j] += src[i * row + j];
    }
  }
  return true;
}

/* conv2d and its two gradients share one loop nest over (n, o, oy, ox, c, ky, kx):
 * y[n,o,oy,ox] += x[n,c,iy,ix] * w[o,c,ky,kx] with iy = oy*sh - ph + ky */
static void conv(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  const Shape *xs, *ws, *ys;
  const double *x = NULL, *w = NULL, *dy = NULL;
  if (n->op == IR_CONV2D) {
    xs = &g->nodes[n->in[0]].type.shape, ws = &g->nodes[n->in[1]].type.shape, ys = &n->type.shape;
    x = in->vals[n->in[0]], w = in->vals[n->in[1]];
  } else if (n->op == IR_CONV2D_GRAD_INPUT) {
    ys = &g->nodes[n->in[0]].type.shape, ws = &g->nodes[n->in[1]].type.shape, xs = &n->type.shape;
    dy = in->vals[n->in[0]], w = in->vals[n->in[1]];
  } else {
    xs = &g->nodes[n->in[0]].type.shape, ys = &g->nodes[n->in[1]].type.shape, ws = &n->type.shape;
    x = in->vals[n->in[0]], dy = in->vals[n->in[1]];
  }
  int64_t N = dim(in, xs->d[0]), C = xs->d[1], H = xs->d[2], W = xs->d[3];
  int64_t O = ws->d[0], KH = ws->d[2], KW = ws->d[3], OH = ys->d[2], OW = ys->d[3];
  int64_t sh = n->ia[0], sw = n->ia[1], ph = n->ia[2], pw = n->ia[3];
  memset(out, 0, sizeof(double) * (size_t)shape_numel(&n->type.shape, in->rows));
  for (int64_t b = 0; b < N; b++)
    for (int64_t o = 0; o < O; o++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++)
          for (int64_t c = 0; c < C; c++)
            for (int64_t ky = 0; ky < KH; ky++)
              for (int64_t kx = 0; kx < KW; kx++) {
                int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                int64_t xi = ((b * C + c) * H + iy) * W + ix, wi = ((o * C + c) * KH + ky) * KW + kx;
                int64_t yi = ((b * O + o) * OH + oy) * OW + ox;
                if (n->op == IR_CONV2D) out[yi] += x[xi] * w[wi];
                else if (n->op == IR_CONV2D_GRAD_INPUT) out[xi] += dy[yi] * w[wi];
                else out[wi] += x[xi] * dy[yi];
              }
}

/* pooling windows over the last two axes; padding never wins a max and is
 * not counted in an average */
static void resize(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  const Shape *xs = &g->nodes[n->in[0]].type.shape, *ys = &n->type.shape;
  int r = xs->rank;
  int64_t H = xs->d[r - 2], W = xs->d[r - 1], h = ys->d[r - 2], w = ys->d[r - 1];
  int64_t planes = shape_numel(xs, in->rows) / (H * W);
  const double *x = in->vals[n->in[0]];
  for (int64_t p = 0; p < planes; p++)
    for (int64_t i = 0; i < h; i++)
      for (int64_t j = 0; j < w; j++) {
        const double *src = x + p * H * W;
        double v = 0;
        if (n->ia[0] == RESIZE_AREA) {  /* the source box [i H / h, ceil((i + 1) H / h)) */
          int64_t y0 = i * H / h, y1 = ((i + 1) * H + h - 1) / h, x0 = j * W / w, x1 = ((j + 1) * W + w - 1) / w;
          for (int64_t yy = y0; yy < y1; yy++)
            for (int64_t xx = x0; xx < x1; xx++) v += src[yy * W + xx];
          v /= (double)((y1 - y0) * (x1 - x0));
        } else {  /* half-pixel centres, clamped at the borders */
          double sy = fmax(((double)i + 0.5) * (double)H / (double)h - 0.5, 0);
          double sx = fmax(((double)j + 0.5) * (double)W / (double)w - 0.5, 0);
          int64_t y0 = (int64_t)sy, x0 = (int64_t)sx;
          int64_t y1 = y0 + 1 < H ? y0 + 1 : H - 1, x1 = x0 + 1 < W ? x0 + 1 : W - 1;
          double fy = sy - (double)y0, fx = sx - (double)x0;
          v = (1 - fy) * ((1 - fx) * src[y0 * W + x0] + fx * src[y0 * W + x1]) +
              fy * ((1 - fx) * src[y1 * W + x0] + fx * src[y1 * W + x1]);
        }
        out[(p * h + i) * w + j] = v;
      }
}

static void pool(Interp *in, const IrGraph *g, const IrNode *n, double *out) {
  if (n->op == IR_RESIZE2D) {
    resize(in, g, n, out);
    return;
  }
  const Shape *xs = n->op == IR_MAXPOOL2D || n->op == IR_AVGPOOL2D || n->op == IR_MAXPOOL2D_GRAD
                        ? &g->nodes[n->in[0]].type.shape
                        : &n->type.shape;
  int r = xs->rank;
  int64_t H = xs->d[r - 2], W = xs->d[r - 1];
  int64_t kh = n->ia[0], kw = n->ia[1], sh = n->ia[2], sw = n->ia[3], ph = n->ia[4], pw = n->ia[5];
  int64_t OH = (H + 2 * ph - kh) / sh + 1, OW = (W + 2 * pw - kw) / sw + 1;
  int64_t planes = shape_numel(xs, in->rows) / (H * W);
  bool grad = n->op == IR_MAXPOOL2D_GRAD || n->op == IR_AVGPOOL2D_GRAD;
  const double *x = n->op == IR_AVGPOOL2D_GRAD ? NULL : in->vals[n->in[0]];
  const double *dy = n->op == IR_MAXPOOL2D_GRAD ? in->vals[n->in[1]]
                     : n->op == IR_AVGPOOL2D_GRAD ? in->vals[n->in[0]] : NULL;
  if (grad) memset(out, 0, sizeof(double) * (size_t)(planes * H * W));
  for (int64_t p = 0; p < planes; p++)
    for (int64_t oy = 0; oy < OH; oy++)
      for (int64_t ox = 0; ox < OW; ox++) {
        double best = -INFINITY, sum = 0;
        int64_t arg = -1, count = 0;
        for (int64_t ky = 0; ky < kh; ky++)
          for (int64_t kx = 0; kx < kw; kx++) {
            int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            int64_t xi = (p * H + iy) * W + ix;
            count++;
            if (x && x[xi] > best) best = x[xi], arg = xi;
            if (x) sum += x[xi];
          }
        int64_t yi = (p * OH + oy) * OW + ox;
        if (n->op == IR_MAXPOOL2D) out[yi] = best;
        else if (n->op == IR_AVGPOOL2D) out[yi] = sum / (double)count;
        else if (n->op == IR_MAXPOOL2D_GRAD) {
          if (arg >= 0) out[arg] += dy[yi];
        }
        else
          for (int64_t ky = 0; ky < kh; ky++)
            for (int64_t kx = 0; kx < kw; kx++) {
              int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) out[(p * H + iy) * W + ix] += dy[yi] / (double)count;
            }
      }
}

static void sgd(Interp *in, const IrNode *n) {
  int64_t e = shape_numel(&in->p->vars.data[n->ia[0]].shape, 1);
  double *w = in->vars[n->ia[0]], *v = n->ia[1] >= 0 ? in->vars[n->ia[1]] : NULL;
  const double *g = in->vals[n->in[1]];
  double lr = in->vals[n->in[2]][0], mom = n->fa[0];
  for (int64_t i = 0; i < e; i++) {
    double d = g[i];
    if (v) {
      v[i] = mom * v[i] + g[i];
      d = n->ia[2] ? g[i] + mom * v[i] : v[i];
    }
    w[i] -= lr * d;
  }
}

/* weight averaging: avg := (1 - a) avg + a w, over the e elements of
 * parameter w (after its update, when fused into one); with copy-back and a
 * nonzero flag, then w := avg */
static void average(Interp *in, double *avg, double *w, int64_t e, const int *rate_copy, bool copy) {
  double a = in->vals[rate_copy[0]][0];
  bool back = copy && in->vals[rate_copy[1]][0] != 0;
  for (int64_t i = 0; i < e; i++) {
    avg[i] = (1 - a) * avg[i] + a * w[i];
    if (back) w[i] = avg[i];
  }
}

/* the running average an update carries (ia[5], ia[6]; its operands follow the optimizer's) */
static void update_average(Interp *in, const IrNode *n) {
  if (!n->ia[IR_UPDATE_AVERAGE]) return;
  int64_t e = shape_numel(&in->p->vars.data[n->ia[0]].shape, 1);
  average(in, in->vars[n->ia[IR_UPDATE_SHADOW]], in->vars[n->ia[0]], e, &n->in[ir_update_nbase(n) + 1],
          n->ia[IR_UPDATE_AVERAGE] == 2);
}

/* last: the graph's last adamw_update with this count variable (ia[3]), which
 * advances it */
static void adamw(Interp *in, const IrNode *n, bool last) {
  int64_t e = shape_numel(&in->p->vars.data[n->ia[0]].shape, 1);
  double *w = in->vars[n->ia[0]], *m = in->vars[n->ia[1]], *v = in->vars[n->ia[2]];
  const double *g = in->vals[n->in[1]];
  double lr = in->vals[n->in[4]][0], t = in->vals[n->in[5]][0] + 1;
  if (last) in->vars[n->ia[3]][0] = t;
  double b1 = n->fa[0], b2 = n->fa[1], eps = n->fa[2], wd = n->fa[3];
  double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
  for (int64_t i = 0; i < e; i++) {
    w[i] *= 1 - lr * wd;
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    w[i] -= (lr / bc1) * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
  }
}

/* ---- the interpreter loop ------------------------------------------------------------- */

/* whether node n belongs to a block of layer dropping that this step skips */
static bool skipped(const Interp *in, const IrNode *n) {
  return n->guard > 0 && in->vals[in->guard_flags[n->guard]][0] == 0;
}

/* Runs node i of g; false on a bad label. A node of a skipped block does not
 * run: its value is zero (no join reads it: gated_add passes its first operand). */
static bool run_node(Interp *in, const IrGraph *g, int i) {
  const IrNode *n = &g->nodes[i];
  if (skipped(in, n)) {
    if (ir_ops[n->op].cls != EFFECT) {
      free(in->vals[i]);
      in->vals[i] = xcalloc((size_t)shape_numel(&n->type.shape, in->rows) + 1, sizeof(double));
    }
    return true;
  }
  in->executed++;
  if (ir_ops[n->op].cls == EFFECT) {
    switch (n->op) {
    case IR_STORE_FEATURES:
      break;
    case IR_OUTPUT:
      if (in->in_micro)  /* the loss is the rows-weighted sum over micro-batches, the count the sum */
        in->outputs[n->ia[0]] += (n->ia[0] == OUT_CORRECT ? 1 : in->micro_weight) * in->vals[n->in[0]][0];
      else in->outputs[n->ia[0]] = in->vals[n->in[0]][0];
      break;
    case IR_ASSIGN: {
      int64_t e = shape_numel(&in->p->vars.data[n->ia[0]].shape, 1);
      memcpy(in->vars[n->ia[0]], in->vals[n->in[0]], sizeof(double) * (size_t)e);
      break;
    }
    case IR_SGD_UPDATE:
    case IR_ADAMW_UPDATE:
      if (n->ia[IR_UPDATE_GUARDED] && in->vals[n->in[n->nin - 1]][0] == 0) break;  /* skipped */
      if (n->op == IR_SGD_UPDATE) {
        sgd(in, n);
      } else {
        bool last = true;  /* the last update that counts with this count variable */
        for (int j = i + 1; j < g->len && last; j++)
          last = g->nodes[j].op != IR_ADAMW_UPDATE || g->nodes[j].ia[3] != n->ia[3];
        adamw(in, n, last);
      }
      update_average(in, n);
      break;
    case IR_AVERAGE:
      if (n->ia[IR_UPDATE_GUARDED] && in->vals[n->in[n->nin - 1]][0] == 0) break;
      /* the value of operand 0: the variable's (a frozen parameter, a state the step
       * does not assign) or the value the step assigns to the state */
      average(in, in->vars[n->ia[0]], in->vals[n->in[0]], shape_numel(&in->p->vars.data[n->ia[0]].shape, 1),
              &n->in[2], false);
      break;
    case IR_AVERAGE_COUNT:
      if (n->ia[IR_UPDATE_GUARDED] && in->vals[n->in[n->nin - 1]][0] == 0) break;
      for (int k = 0; k < n->nin - (n->ia[IR_UPDATE_GUARDED] ? 1 : 0); k++) in->vars[n->ia[k]][0] = in->vals[n->in[k]][0];
      break;
    default: unreachable();
    }
    return true;
  }
  int64_t total = shape_numel(&n->type.shape, in->rows);
  free(in->vals[i]);
  double *out = xcalloc((size_t)total + 1, sizeof(double));
  in->vals[i] = out;
  switch (ir_ops[n->op].cls) {
  case LEAF:
    switch (n->op) {
    case IR_PARAM: memcpy(out, in->vars[n->ia[0]], sizeof(double) * (size_t)total); break;
    case IR_INPUT:
      for (int64_t k = 0; k < total; k++)
        out[k] = n->ia[0] != 1 ? in->x[k] : n->type.dtype == DT_F32 ? (double)in->y_real[k] : (double)in->y[k];
      break;
    case IR_SCALAR: out[0] = in->scalars[n->ia[0]]; break;
    case IR_CONST:
      for (int64_t k = 0; k < total; k++) out[k] = n->fa[0];
      break;
    default: unreachable();
    }
    break;
  case EW_UNARY: case EW_BINARY: case EW_TERNARY: case BROADCAST: elementwise(in, g, n, out); break;
  case LAYOUT: layout(in, g, n, out); break;
  case ROWWISE: rowwise(in, g, n, out); break;
  case INDEX:
    if (!indexing(in, g, n, out)) return false;
    break;
  case VIEW: memcpy(out, in->vals[n->in[0]], sizeof(double) * (size_t)total); break;
  case REDUCE: reduce(in, g, n, out); break;
  case MATMUL: matmul(in, g, n, out); break;
  case CONV: conv(in, g, n, out); break;
  case POOL: pool(in, g, n, out); break;
  case SPECIAL:
    if (n->op == IR_ONEHOT) {
      int64_t k = n->type.shape.d[1];
      for (int64_t r = 0; r < in->rows; r++) {
        int64_t c = (int64_t)in->vals[n->in[0]][r];
        if (c < 0 || c >= k) {
          fprintf(stderr, "interp: label %lld out of range [0, %lld)\n", (long long)c, (long long)k);
          return false;
        }
        out[r * k + c] = 1;
      }
    } else if (n->op == IR_ARANGE) {
      for (int64_t k = 0; k < total; k++) out[k] = (double)k;
    } else if (n->op == IR_TRIL) {
      int64_t rows = n->type.shape.d[0], cols = n->type.shape.d[1];
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) out[r * cols + c] = c <= r + n->ia[0] ? 1 : 0;
    } else if (n->op == IR_DROPOUT_MASK) {
      uint64_t key = astrt_subkey(astrt_subkey(in->seed, (uint64_t)in->scalars[SC_STEP]), (uint64_t)n->ia[0]);
      int64_t first = (in->micro_first + (int64_t)in->scalars[SC_ROW0]) * (total / (in->rows ? in->rows : 1));
      for (int64_t k = 0; k < total; k++)
        out[k] = astrt_uniform(key, (uint64_t)(first + k)) >= n->fa[0] ? 1 / (1 - n->fa[0]) : 0;
    } else if (n->op == IR_DROP_GATE) {
      out[0] = astrt_drop_gate((float)in->vals[n->in[0]][0], in->seed, (int64_t)in->scalars[SC_STEP], n->ia[0]);
    } else if (n->op == IR_ALL_FINITE) {
      int64_t e = shape_numel(&g->nodes[n->in[0]].type.shape, in->rows);
      out[0] = 1;
      for (int64_t k = 0; k < e; k++)
        if (!isfinite(in->vals[n->in[0]][k])) out[0] = 0;
    } else if (n->op == IR_SCHED) {
      double t = in->vals[n->in[0]][0];
      out[0] = sx_eval(n->sx, t, in->scalars[SC_STEP] - 1, 0);
    } else if (n->op == IR_ACCUMULATE) {
      memcpy(out, in->vals[n->in[0]], sizeof(double) * (size_t)total);
    } else if (n->op == IR_XENT || n->op == IR_XENT_GRAD) {
      /* the textbook form, in double: log-sum-exp with the row maximum
       * subtracted, targets t = (1 - s) onehot + s / K; the gradient of
       * sum_c t_c (lse - l_c) is (sum t) softmax - t */
      const Shape *ls = &g->nodes[n->in[0]].type.shape;
      int64_t k = ls->d[ls->rank - 1], rows = shape_numel(ls, in->rows) / k;
      const double *l = in->vals[n->in[0]], *y = in->vals[n->in[1]];
      double s = n->fa[0];
      for (int64_t r = 0; r < rows; r++) {
        const double *lr = l + r * k;
        double m = lr[0], z = 0;
        for (int64_t c = 1; c < k; c++) m = fmax(m, lr[c]);
        for (int64_t c = 0; c < k; c++) z += exp(lr[c] - m);
        double lse = m + log(z), loss = 0;
        bool in_range = y[r] >= 0 && y[r] < (double)k;
        for (int64_t c = 0; c < k; c++) {
          double t = s / (double)k + (c == (int64_t)y[r] ? 1 - s : 0);
          if (n->op == IR_XENT) loss -= t > 0 ? t * (lr[c] - lse) : 0;
          else out[r * k + c] = (exp(lr[c] - lse) * (in_range ? 1 : s) - t) * in->vals[n->in[2]][r];
        }
        if (n->op == IR_XENT) out[r] = loss;
      }
    } else if (n->op == IR_CORRECT) {
      const Shape *ls = &g->nodes[n->in[0]].type.shape;
      int64_t k = ls->d[ls->rank - 1], rows = shape_numel(ls, in->rows) / k;
      const double *l = in->vals[n->in[0]], *y = in->vals[n->in[1]];
      for (int64_t r = 0; r < rows; r++) {
        int64_t best = 0;
        for (int64_t c = 1; c < k; c++)
          if (l[r * k + c] > l[r * k + best]) best = c;
        out[0] += best == (int64_t)y[r];
      }
    }
    break;
  case EFFECT: break;
  }
  return true;
}

/* A micro-batched step: the nodes before the first accumulate run once per
 * micro-batch of at most in->micro rows; accumulates and outputs sum their
 * values weighted by rows_m / rows; the rest runs once. */
static bool run_micro(Interp *in, const IrGraph *g, int boundary) {
  int64_t rows = in->rows;
  const double *x = in->x;
  const int32_t *y = in->y;
  const float *y_real = in->y_real;
  int64_t example = 0, target = 1;
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_INPUT) {
      int64_t per = shape_numel(&g->nodes[i].type.shape, 1);
      if (g->nodes[i].ia[0] != 1) example = per;
      else target = per;
    }
  for (int i = boundary; i < g->len; i++)
    if (g->nodes[i].op == IR_ACCUMULATE) {
      free(in->vals[i]);
      in->vals[i] = xcalloc((size_t)shape_numel(&g->nodes[i].type.shape, 1) + 1, sizeof(double));
    }
  for (int i = 0; i < boundary; i++)
    if (g->nodes[i].op == IR_OUTPUT) in->outputs[g->nodes[i].ia[0]] = 0;
  bool ok = true;
  for (int64_t first = 0; first < rows && ok; first += in->micro) {
    int64_t m = MIN(in->micro, rows - first);
    in->rows = m;
    in->scalars[SC_ROWS] = (double)m;
    in->x = x + first * example;
    in->y = y ? y + first * target : NULL;
    in->y_real = y_real ? y_real + first * target : NULL;
    in->micro_first = first;
    in->micro_weight = (double)m / (double)rows;
    in->in_micro = true;
    for (int i = 0; i < boundary && ok; i++) ok = run_node(in, g, i);
    in->in_micro = false;
    for (int i = boundary; i < g->len; i++)
      if (g->nodes[i].op == IR_ACCUMULATE && !skipped(in, &g->nodes[i])) {
        int64_t e = shape_numel(&g->nodes[i].type.shape, 1);
        for (int64_t k = 0; k < e; k++) in->vals[i][k] += in->micro_weight * in->vals[g->nodes[i].in[0]][k];
      }
  }
  in->rows = rows;
  in->scalars[SC_ROWS] = (double)rows;
  in->x = x;
  in->y = y;
  in->y_real = y_real;
  in->micro_first = 0;
  for (int i = boundary; i < g->len && ok; i++)
    if (g->nodes[i].op != IR_ACCUMULATE) ok = run_node(in, g, i);
  return ok;
}

bool interp_run(Interp *in, const IrGraph *g) {
  free_vals(in);
  in->vals = xcalloc((size_t)g->len + 1, sizeof(double *));
  in->nvals = g->len;
  in->scalars[SC_ROWS] = (double)in->rows;
  in->micro_first = 0;
  in->executed = 0;
  ir_guard_flags(g, &in->guard_flags);
  int boundary = -1;
  for (int i = 0; in->micro > 0 && i < g->len && boundary < 0; i++)
    if (g->nodes[i].op == IR_ACCUMULATE) boundary = i;
  bool ok = true;
  if (boundary >= 0) ok = run_micro(in, g, boundary);
  for (int i = 0; boundary < 0 && ok && i < g->len; i++) ok = run_node(in, g, i);
  free(in->guard_flags);
  in->guard_flags = NULL;
  return ok;
}
