/* cg_plan.c — memory planning: variable offsets, and liveness-based reuse of
 * one work arena for the activations and gradients of a step.
 *
 * Values are sized for the largest batch (max_rows); a step with fewer rows
 * uses a prefix of each slot. A value's slot is freed after its last use, and
 * a view (reshape) shares its operand's slot and extends its life. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

#define ALIGN 64

static int64_t align_up(int64_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

bool cg_is_immediate(const IrNode *n) {
  return (n->op == IR_CONST || n->op == IR_SCALAR) && n->type.shape.rank == 0;
}

int64_t cg_plan_vars(const IrProgram *p, int64_t *offsets) {
  int64_t off = 0;
  for (int v = 0; v < p->vars.len; v++) {
    offsets[v] = off;
    off += align_up(shape_numel(&p->vars.data[v].shape, 1) * dtype_size(p->vars.data[v].dtype));
  }
  return off;
}

/* free list of [off, off+size) ranges, sorted by offset */
typedef struct Free {
  int64_t off, size;
} Free;

typedef struct Arena {
  VEC(Free) free;
  int64_t top;
} ArenaPlan;

static int64_t arena_take(ArenaPlan *a, int64_t size) {
  for (int i = 0; i < a->free.len; i++) {
    Free *f = &a->free.data[i];
    if (f->size < size) continue;
    int64_t off = f->off;
    f->off += size;
    f->size -= size;
    if (f->size == 0) {
      memmove(f, f + 1, sizeof(Free) * (size_t)(a->free.len - i - 1));
      a->free.len--;
    }
    return off;
  }
  /* grow, merging with a free block that ends at the top */
  if (a->free.len && a->free.data[a->free.len - 1].off + a->free.data[a->free.len - 1].size == a->top) {
    Free *f = &a->free.data[--a->free.len];
    a->top = f->off + size;
    return f->off;
  }
  int64_t off = a->top;
  a->top += size;
  return off;
}

static void arena_give(ArenaPlan *a, int64_t off, int64_t size) {
  int i = 0;
  while (i < a->free.len && a->free.data[i].off < off) i++;
  vec_push(&a->free, ((Free){0, 0}));
  memmove(&a->free.data[i + 1], &a->free.data[i], sizeof(Free) * (size_t)(a->free.len - 1 - i));
  a->free.data[i] = (Free){off, size};
  /* coalesce with the neighbours */
  if (i + 1 < a->free.len && a->free.data[i].off + a->free.data[i].size == a->free.data[i + 1].off) {
    a->free.data[i].size += a->free.data[i + 1].size;
    memmove(&a->free.data[i + 1], &a->free.data[i + 2], sizeof(Free) * (size_t)(a->free.len - i - 2));
    a->free.len--;
  }
  if (i > 0 && a->free.data[i - 1].off + a->free.data[i - 1].size == a->free.data[i].off) {
    a->free.data[i - 1].size += a->free.data[i].size;
    memmove(&a->free.data[i], &a->free.data[i + 1], sizeof(Free) * (size_t)(a->free.len - i - 1));
    a->free.len--;
  }
}

/* The variables a graph assigns (its state updates), looked up once per
 * plan: asking ir_graph_assigns of every PARAM node made planning quadratic
 * in the graph's size (4% of a recipe's build). */
typedef struct Assigned {
  bool *in;   /* in[v] for v < n; variables from n on are not assigned */
  int64_t n;
} Assigned;

static Assigned assigned_of(const IrGraph *g) {
  Assigned a = {NULL, 0};
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_ASSIGN && g->nodes[i].ia[0] >= a.n) a.n = g->nodes[i].ia[0] + 1;
  a.in = xcalloc((size_t)a.n + 1, sizeof(bool));
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_ASSIGN) a.in[g->nodes[i].ia[0]] = true;
  return a;
}

static bool is_assigned(const Assigned *a, int64_t v) { return v >= 0 && v < a->n && a->in[v]; }

static bool needs_slot(const Assigned *as, const IrNode *n) {
  if (ir_ops[n->op].cls == EFFECT || ir_ops[n->op].cls == VIEW) return false;
  /* a read of a variable the graph assigns (a state update) takes a copy, so
   * a read before the assignment keeps the old value (as the reference
   * interpreter does) even if it is used after it */
  if (n->op == IR_PARAM) return is_assigned(as, n->ia[0]);
  if (n->op == IR_INPUT) return false;
  return !cg_is_immediate(n);
}

int cg_micro_boundary(const IrGraph *g) {
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_ACCUMULATE) return i;
  return -1;
}

/* ---- fusion ------------------------------------------------------------------------ */

static bool is_elementwise(const IrNode *n) {
  IrOpClass c = ir_ops[n->op].cls;
  return (ir_class_elementwise(c) || c == BROADCAST) && n->op != IR_CAST && n->type.dtype == DT_F32;
}

static bool is_update(const IrNode *n) { return n->op == IR_SGD_UPDATE || n->op == IR_ADAMW_UPDATE; }

/* fuse: false for -fno-fusion, one loop per op (to measure what fusion gains) */
static void plan_fusion(const IrGraph *g, bool fuse, int *fused_into) {
  int n = g->len;
  if (!fuse) {
    for (int i = 0; i < n; i++) fused_into[i] = -1;
    return;
  }
  int *uses = xcalloc((size_t)n + 1, sizeof(int));
  /* writes to memory a fused load could read: a fused value's operands are
   * read at its consumer, so no such write may lie between the two */
  int *writes_before = xcalloc((size_t)n + 2, sizeof(int));
  for (int i = 0; i < n; i++) {
    const IrNode *w = &g->nodes[i];
    writes_before[i + 1] = writes_before[i] + (ir_guarded_effect(w->op) || w->op == IR_ASSIGN || w->op == IR_ALLREDUCE);
  }
  int *leaves = xcalloc((size_t)n + 1, sizeof(int));   /* loads of the loop computing a node */
  bool *flat = xcalloc((size_t)n + 1, sizeof(bool));   /* no broadcasting in its fused tree */
  for (int i = 0; i < n; i++) {
    fused_into[i] = -1;
    for (int k = 0; k < g->nodes[i].nin; k++) uses[g->nodes[i].in[k]]++;
  }
  int boundary = cg_micro_boundary(g);
  for (int c = 0; c < n; c++) {
    const IrNode *cn = &g->nodes[c];
    bool ew = is_elementwise(cn), upd = is_update(cn);
    if (!ew && !upd) continue;
    int total = 0;
    flat[c] = ew;
    for (int k = 0; k < cn->nin; k++) {
      int o = cn->in[k];
      const IrNode *on = &g->nodes[o];
      if (cg_is_immediate(on)) continue;
      bool same = shape_eq(&on->type.shape, &cn->type.shape);
      /* an operand computed in this loop: an elementwise value used only here,
       * on the same side of a micro-batch loop; into an update, only its
       * gradient (operand 1), without broadcasting */
      bool fuse = is_elementwise(on) && uses[o] == 1 && (boundary < 0 || (o < boundary) == (c < boundary)) &&
                  writes_before[c] == writes_before[o + 1] && on->guard == cn->guard;
      for (int j = 0; fuse && j < on->nin; j++)
        fuse = g->nodes[on->in[j]].type.dtype == DT_F32;
      if (fuse && ew) fuse = same;
      if (fuse && upd) /* the update loop runs over the parameter (operand 0), flat */
        fuse = k == 1 && flat[o] && shape_eq(&on->type.shape, &g->nodes[cn->in[0]].type.shape);
      if (fuse && total + leaves[o] > CG_FUSE_MAX_LEAVES) fuse = false;
      if (fuse) {
        fused_into[o] = c;
        total += leaves[o];
        flat[c] = flat[c] && flat[o];
      } else {
        total += 1;
        flat[c] = flat[c] && same;
      }
    }
    leaves[c] = total;
  }
  free(uses);
  free(writes_before);
  free(leaves);
  free(flat);
}

/* ---- the loss with its gradient ------------------------------------------------------ */

bool cg_uniform(const IrGraph *g, int node) {
  const IrNode *n = &g->nodes[node];
  if (n->type.dtype != DT_F32) return false;
  if (n->op == IR_CONST) return true;
  if (n->op == IR_SCALAR) return n->type.shape.rank == 0;
  IrOpClass c = ir_ops[n->op].cls;
  if (!(n->op == IR_RESHAPE || c == BROADCAST || ir_class_elementwise(c)) || n->op == IR_CAST)
    return false;
  for (int k = 0; k < n->nin; k++)
    if (!cg_uniform(g, n->in[k])) return false;
  return true;
}

void cg_plan_fusion(const IrGraph *g, int *fused_into) {
  CgOptions o = cg_options_default();
  plan_fusion(g, !o.no_fusion, fused_into);
}

void cg_plan_loss_pairs(const IrGraph *g, const CgOptions *opt, int *pair) {
  int boundary = cg_micro_boundary(g);
  bool off = (opt ? *opt : cg_options_default()).no_fusion;
  for (int i = 0; i < g->len; i++) pair[i] = -1;
  for (int j = 0; j < g->len && !off; j++) {
    const IrNode *gn = &g->nodes[j];
    if (gn->op != IR_XENT_GRAD || !cg_uniform(g, gn->in[2])) continue;
    for (int i = 0; i < j; i++) {
      const IrNode *xn = &g->nodes[i];
      if (xn->op == IR_XENT && pair[i] < 0 && xn->in[0] == gn->in[0] && xn->in[1] == gn->in[1] &&
          xn->fa[0] == gn->fa[0] && xn->guard == gn->guard && (boundary < 0 || (i < boundary) == (j < boundary))) {
        pair[i] = j;
        pair[j] = i;
        break;
      }
    }
  }
}

/* ---- the optimizer update over the parameter arena ----------------------------------- */

/* Consecutive updates of parameters that lie back to back in the variable
 * arena, with their optimizer slots likewise, the same hyperparameters and
 * gradient trees of the same form, become one loop over the whole span: the
 * gradients they read are placed in the work arena at the same distances
 * as their parameters (one block per leaf of the tree), so element i of the
 * span is element i of every array. The loop runs at the last member's
 * place, where every gradient exists. */

typedef struct UpdGroup {
  int first, last;             /* update nodes */
  int npos;                    /* work leaves per member's gradient tree */
  VEC(int) roots;              /* [member][pos]: the work leaf's root */
  VEC(int64_t) dist;           /* [member]: bytes from the first member's parameter */
  int64_t span;                /* bytes from the first parameter to the end of the last */
} UpdGroup;

static int64_t var_bytes(const IrProgram *p, int64_t v) {
  return shape_numel(&p->vars.data[v].shape, 1) * dtype_size(p->vars.data[v].dtype);
}

/* a PARAM node reading variable memory in place (not a snapshot) */
static bool in_place_param(const IrGraph *g, const Assigned *as, int node) {
  const IrNode *n = &g->nodes[node];
  return n->op == IR_PARAM && !is_assigned(as, n->ia[0]);
}

static bool same_immediate(const IrNode *a, const IrNode *b) {
  if (a->op != b->op) return false;
  return a->op == IR_CONST ? a->fa[0] == b->fa[0] : a->ia[0] == b->ia[0];
}

typedef struct TreeMatch {
  const IrProgram *p;
  const IrGraph *g;
  const Assigned *as;
  const int *fused_into, *root;
  const int64_t *voff;
  int64_t dist, numel;        /* this member's distance and element count */
  int roots[CG_FUSE_MAX_LEAVES + 1], nroots;  /* its work leaves' roots, in order */
} TreeMatch;

/* whether tree b (a member's gradient) has tree a's form (the first
 * member's; b = a for the first member itself): the same fused ops and
 * immediates, in-place parameter leaves at the member's distance, and work
 * leaves of the parameter's size, which are collected */
static bool match_tree(TreeMatch *t, int a, int b) {
  const IrGraph *g = t->g;
  const IrNode *an = &g->nodes[a], *bn = &g->nodes[b];
  if ((t->fused_into[a] >= 0) != (t->fused_into[b] >= 0)) return false;
  if (t->fused_into[a] >= 0) {
    if (an->op != bn->op || an->nin != bn->nin || an->type.dtype != DT_F32 || bn->type.dtype != DT_F32 ||
        memcmp(an->ia, bn->ia, sizeof an->ia) != 0 || memcmp(an->fa, bn->fa, sizeof an->fa) != 0)
      return false;
    for (int k = 0; k < an->nin; k++) {
      const IrNode *ak = &g->nodes[an->in[k]], *bk = &g->nodes[bn->in[k]];
      if (cg_is_immediate(ak) || cg_is_immediate(bk)) {
        if (!cg_is_immediate(ak) || !cg_is_immediate(bk) || !same_immediate(ak, bk)) return false;
      } else if (!match_tree(t, an->in[k], bn->in[k])) {
        return false;
      }
    }
    return true;
  }
  if (an->op == IR_PARAM || bn->op == IR_PARAM) {
    if (!in_place_param(g, t->as, a) || !in_place_param(g, t->as, b)) return false;
    int64_t va = an->ia[0], vb = bn->ia[0];
    return t->p->vars.data[vb].dtype == DT_F32 && t->voff[vb] - t->voff[va] == t->dist &&
           var_bytes(t->p, vb) == t->numel * 4;
  }
  int r = t->root[b];
  const IrNode *rn = &g->nodes[r];
  if (rn->op == IR_INPUT || rn->op == IR_PARAM || rn->op == IR_ACCUMULATE || cg_is_immediate(rn) ||
      rn->type.dtype != DT_F32 || !needs_slot(t->as, rn) || t->fused_into[r] >= 0 || shape_has_batch(&rn->type.shape) ||
      shape_numel(&rn->type.shape, 1) != t->numel || t->nroots == CG_FUSE_MAX_LEAVES)
    return false;
  t->roots[t->nroots++] = r;
  return true;
}

/* operands of update u other than its parameter (0) and gradient (1): the
 * same nodes as the first member's (or equal immediates), or optimizer
 * slots (and running averages) at the member's distance */
static bool match_update(const IrProgram *p, const IrGraph *g, const Assigned *as, const int64_t *voff, int u0, int u,
                         int64_t dist) {
  const IrNode *a = &g->nodes[u0], *b = &g->nodes[u];
  if (a->op != b->op || a->nin != b->nin || memcmp(a->fa, b->fa, sizeof a->fa) != 0) return false;
  for (int k = 1; k < IR_MAX_IA; k++) {
    bool slot_attr = k == 1 || (k == 2 && a->op == IR_ADAMW_UPDATE) || k == IR_UPDATE_SHADOW;
    if (slot_attr ? (a->ia[k] < 0) != (b->ia[k] < 0) : a->ia[k] != b->ia[k]) return false;
  }
  for (int k = 2; k < a->nin; k++) {
    int oa = a->in[k], ob = b->in[k];
    const IrNode *na = &g->nodes[oa], *nb = &g->nodes[ob];
    if (oa == ob || (cg_is_immediate(na) && cg_is_immediate(nb) && same_immediate(na, nb))) continue;
    VarKind kind = na->op == IR_PARAM ? p->vars.data[na->ia[0]].kind : VAR_PARAM;
    bool slot = na->op == IR_PARAM && nb->op == IR_PARAM && (kind == VAR_OPT || kind == VAR_AVERAGE);
    if (!slot || !in_place_param(g, as, oa) || !in_place_param(g, as, ob) || voff[nb->ia[0]] - voff[na->ia[0]] != dist ||
        p->vars.data[nb->ia[0]].dtype != DT_F32)
      return false;
  }
  return true;
}

typedef VEC(UpdGroup) UpdGroups;

/* The groups (two members or more) of graph g, in graph order. */
static UpdGroups find_update_groups(const IrProgram *p, const IrGraph *g, const Assigned *as, bool fuse,
                                    const int *fused_into, const int *root) {
  UpdGroups groups = {0};
  if (!p || !fuse) return groups;
  int n = g->len;
  int64_t *voff = xmalloc(sizeof(int64_t) * (size_t)(p->vars.len + 1));
  cg_plan_vars(p, voff);
  bool *taken = xcalloc((size_t)n + 1, sizeof(bool));  /* roots already in a group */
  for (int u0 = 0; u0 < n; u0++) {
    const IrNode *a = &g->nodes[u0];
    if (!is_update(a) || !in_place_param(g, as, a->in[0]) || p->vars.data[a->ia[0]].dtype != DT_F32) continue;
    int64_t v0 = a->ia[0];
    TreeMatch t = {p, g, as, fused_into, root, voff, 0, shape_numel(&p->vars.data[v0].shape, 1), {0}, 0};
    if (!match_tree(&t, a->in[1], a->in[1])) continue;
    UpdGroup gr = {u0, u0, t.nroots, {0}, {0}, 0};
    for (int k = 0; k < t.nroots; k++) vec_push(&gr.roots, t.roots[k]);
    vec_push(&gr.dist, 0);
    int64_t end = voff[v0] + var_bytes(p, v0);
    for (int u = u0 + 1; u < n; u++) {
      const IrNode *b = &g->nodes[u];
      if (!is_update(b)) {
        /* between members: only leaves and values computed in a member's loop */
        if (ir_ops[b->op].cls == LEAF || fused_into[u] >= 0) continue;
        break;
      }
      int64_t vb = b->ia[0], d = voff[vb] - voff[v0];
      if (!in_place_param(g, as, b->in[0]) || p->vars.data[vb].dtype != DT_F32 || voff[vb] != align_up(end) ||
          b->guard != a->guard)
        break;
      TreeMatch tm = {p, g, as, fused_into, root, voff, d, shape_numel(&p->vars.data[vb].shape, 1), {0}, 0};
      if (!match_update(p, g, as, voff, u0, u, d) || !match_tree(&tm, a->in[1], b->in[1]) || tm.nroots != gr.npos)
        break;
      for (int k = 0; k < tm.nroots; k++) vec_push(&gr.roots, tm.roots[k]);
      vec_push(&gr.dist, d);
      end = voff[vb] + var_bytes(p, vb);
      gr.last = u;
    }
    /* every work leaf a distinct value, in no other group */
    bool ok = gr.last > u0;
    int marked = 0;
    for (; ok && marked < gr.roots.len; marked++) {
      ok = !taken[gr.roots.data[marked]];
      if (ok) taken[gr.roots.data[marked]] = true;
    }
    if (!ok) {
      for (int i = 0; i < marked - 1; i++) taken[gr.roots.data[i]] = false;  /* only the marks set here */
      vec_free(&gr.roots);
      vec_free(&gr.dist);
      continue;
    }
    gr.span = end - voff[v0];
    vec_push(&groups, gr);
    u0 = gr.last;
  }
  free(taken);
  free(voff);
  return groups;
}

/* ---- views and the causal softmax ---------------------------------------------------- */

static bool is_matmul_operand(const IrGraph *g, int user, int node) {
  const IrNode *u = &g->nodes[user];
  return u->op == IR_MATMUL && (u->in[0] == node || u->in[1] == node);
}

/* Permutes that need no copy (see cg_seq.c): a permute whose every use is an
 * operand of a product, and which keeps the stride-1 axis of its operand
 * among its last two, is read in place (view_of[P] = its operand); a product
 * whose one use is a permute keeping the product's last axis last is written
 * in place through it (view_of[M] = P, and P holds M's memory). */
static void plan_views(const IrGraph *g, bool on, const int *uses, int *view_of) {
  int n = g->len;
  for (int i = 0; i < n; i++) view_of[i] = -1;
  if (!on) return;
  bool *output_view = xcalloc((size_t)n + 1, sizeof(bool));
  for (int i = 0; i < n; i++) {
    const IrNode *p = &g->nodes[i];
    int r = p->type.shape.rank;
    if (p->op != IR_PERMUTE || p->type.dtype != DT_F32 || r < 2) continue;
    const IrNode *m = &g->nodes[p->in[0]];
    if (m->op == IR_MATMUL && !m->ia[2] && uses[p->in[0]] == 1 && p->ia[r - 1] == r - 1 && r - 2 <= 4 &&
        m->guard == p->guard) {
      view_of[p->in[0]] = i;
      output_view[i] = true;
    }
  }
  for (int i = 0; i < n; i++) {
    const IrNode *p = &g->nodes[i];
    int r = p->type.shape.rank;
    if (p->op != IR_PERMUTE || output_view[i] || p->type.dtype != DT_F32 || r < 2 || uses[i] == 0 ||
        (p->ia[r - 1] != r - 1 && p->ia[r - 2] != r - 1))
      continue;
    bool all = true;
    for (int u = i + 1; u < n && all; u++)
      for (int k = 0; k < g->nodes[u].nin && all; k++)
        if (g->nodes[u].in[k] == i) all = is_matmul_operand(g, u, i) && g->nodes[u].type.shape.rank - 2 <= 4;
    if (all) view_of[i] = p->in[0];
  }
  free(output_view);
}

/* softmax(where(tril(T), s, -inf)), the where used only there: computed in
 * the softmax's pass over each row (astrt_softmax_f32's causal mask), so the
 * where (and the tril, if nothing else reads it) are fused into it */
static void plan_causal_softmax(const IrGraph *g, bool on, const int *uses, int *fused_into) {
  for (int i = 0; i < g->len && on; i++) {
    const IrNode *sm = &g->nodes[i];
    if (sm->op != IR_SOFTMAX) continue;
    int w = sm->in[0];
    const IrNode *wn = &g->nodes[w];
    if (wn->op != IR_WHERE || uses[w] != 1 || fused_into[w] >= 0 || wn->guard != sm->guard) continue;
    const IrNode *mask = &g->nodes[wn->in[0]], *s = &g->nodes[wn->in[1]], *fill = &g->nodes[wn->in[2]];
    const Shape *ss = &s->type.shape;
    int r = ss->rank;
    if (mask->op != IR_TRIL || mask->ia[0] != 0 || fill->op != IR_CONST || fill->fa[0] != -INFINITY || r < 2 ||
        !shape_eq(&s->type.shape, &wn->type.shape) || ss->d[r - 1] != ss->d[r - 2] ||
        mask->type.shape.d[0] != ss->d[r - 1] || mask->type.shape.d[1] != ss->d[r - 1])
      continue;
    fused_into[w] = i;
    if (uses[wn->in[0]] == 1 && mask->guard == sm->guard) fused_into[wn->in[0]] = i;
    if (fused_into[wn->in[1]] == w) fused_into[wn->in[1]] = -1;  /* the scores get their own loop */
  }
}

/* the node whose loop computes node i: i itself, or the end of its fusion chain */
static int home(const BufPlan *pl, int i) {
  while (pl->fused_into[i] >= 0) i = pl->fused_into[i];
  return i;
}

typedef struct Block {
  int64_t bytes, off;
  int death;
} Block;

void cg_plan_graph(const IrProgram *p, const IrGraph *g, int64_t max_rows, BufPlan *out) {
  cg_plan_graph_with(p, g, max_rows, NULL, out);
}

void cg_plan_graph_with(const IrProgram *p, const IrGraph *g, int64_t max_rows, const CgOptions *opt, BufPlan *out) {
  CgOptions o = opt ? *opt : cg_options_default();
  int n = g->len;
  out->offset = xmalloc(sizeof(int64_t) * (size_t)(n + 1));
  out->root = xmalloc(sizeof(int) * (size_t)(n + 1));
  out->fused_into = xmalloc(sizeof(int) * (size_t)(n + 1));
  out->loss_pair = xmalloc(sizeof(int) * (size_t)(n + 1));
  out->update_first = xmalloc(sizeof(int) * (size_t)(n + 1));
  out->view_of = xmalloc(sizeof(int) * (size_t)(n + 1));
  plan_fusion(g, !o.no_fusion, out->fused_into);
  cg_plan_loss_pairs(g, &o, out->loss_pair);
  int *uses = xcalloc((size_t)n + 1, sizeof(int));
  for (int i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) uses[g->nodes[i].in[k]]++;
  plan_causal_softmax(g, !o.no_fusion, uses, out->fused_into);
  plan_views(g, !o.no_fusion, uses, out->view_of);
  free(uses);
  int *last = xmalloc(sizeof(int) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &g->nodes[i];
    out->offset[i] = -1;
    /* views share their operand's memory: reshapes, permutes read in place, and
     * permutes a product writes through */
    bool alias = ir_ops[nd->op].cls == VIEW || (nd->op == IR_PERMUTE && (out->view_of[i] >= 0 || out->view_of[nd->in[0]] == i));
    out->root[i] = alias ? out->root[nd->in[0]] : i;
    last[i] = i;
    int at = home(out, i);  /* a fused node reads its operands in its consumer's loop */
    for (int k = 0; k < nd->nin; k++) {
      int r = out->root[nd->in[k]];
      last[r] = MAX(last[r], at);
    }
  }
  /* a view keeps its root alive for as long as the view is used */
  for (int i = n - 1; i >= 0; i--) last[out->root[i]] = MAX(last[out->root[i]], last[i]);
  /* a block's gate (layer dropping) is read by every region of the block's work */
  int *flags;
  int nflags = ir_guard_flags(g, &flags);
  for (int i = 0; i < n && nflags; i++)
    if (g->nodes[i].guard > 0) {
      int r = out->root[flags[g->nodes[i].guard]];
      last[r] = MAX(last[r], i);
    }
  free(flags);
  /* updates over the parameter arena: each work leaf position of a group's
   * gradient trees is one block, alive from its first value to the group's
   * loop (at its last member); a member's value sits at its distance */
  Assigned as = assigned_of(g);
  UpdGroups groups = find_update_groups(p, g, &as, !o.no_fusion, out->fused_into, out->root);
  VEC(Block) blocks = {0};
  int *block_of = xmalloc(sizeof(int) * (size_t)(n + 1));
  int64_t *block_dist = xmalloc(sizeof(int64_t) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) out->update_first[i] = block_of[i] = -1;
  for (int k = 0; k < groups.len; k++) {
    const UpdGroup *gr = &groups.data[k];
    for (int u = gr->first; u <= gr->last; u++)
      if (is_update(&g->nodes[u])) out->update_first[u] = gr->first;
    for (int q = 0; q < gr->npos; q++) {
      Block b = {align_up(gr->span), -1, gr->last};
      for (int m = 0; m < gr->dist.len; m++) {
        int r = gr->roots.data[m * gr->npos + q];
        block_of[r] = blocks.len;
        block_dist[r] = gr->dist.data[m];
        b.death = MAX(b.death, last[r]);
      }
      vec_push(&blocks, b);
    }
    vec_free(&groups.data[k].roots);
    vec_free(&groups.data[k].dist);
  }
  vec_free(&groups);
  ArenaPlan a = {0};
  /* a micro-batched step: accumulators live across every micro-batch, so
   * they get slots first, which nothing else reuses */
  int boundary = cg_micro_boundary(g);
  if (boundary >= 0)
    for (int i = 0; i < n; i++)
      if (g->nodes[i].op == IR_ACCUMULATE) {
        int64_t bytes = align_up(shape_numel(&g->nodes[i].type.shape, max_rows) * dtype_size(g->nodes[i].type.dtype));
        out->offset[i] = arena_take(&a, bytes ? bytes : ALIGN);
      }
  VEC(int) *dying = xcalloc((size_t)n + 1, sizeof(*dying));  /* nodes, or -1 - block */
  for (int i = 0; i < n; i++)
    if (needs_slot(&as, &g->nodes[i]) && g->nodes[i].op != IR_ACCUMULATE && out->fused_into[i] < 0 &&
        block_of[i] < 0 && out->root[i] == i)
      vec_push(&dying[last[i]], i);
  for (int b = 0; b < blocks.len; b++) vec_push(&dying[blocks.data[b].death], -1 - b);
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &g->nodes[i];
    /* a loss gradient computed in its loss's loop gets its slot there */
    int at[2] = {i, nd->op == IR_XENT ? out->loss_pair[i] : -1};
    for (int w = 0; w < 2 && at[w] >= 0; w++) {
      const IrNode *an = &g->nodes[at[w]];
      if (!needs_slot(&as, an) || an->op == IR_ACCUMULATE || out->fused_into[at[w]] >= 0 || out->root[at[w]] != at[w])
        continue;
      if (an->op == IR_XENT_GRAD && out->loss_pair[at[w]] >= 0 && w == 0) continue;
      int b = block_of[at[w]];
      if (b >= 0) {
        if (blocks.data[b].off < 0) blocks.data[b].off = arena_take(&a, blocks.data[b].bytes);
        out->offset[at[w]] = blocks.data[b].off + block_dist[at[w]];
        continue;
      }
      int64_t bytes = align_up(shape_numel(&an->type.shape, max_rows) * dtype_size(an->type.dtype));
      out->offset[at[w]] = arena_take(&a, bytes ? bytes : ALIGN);
    }
    for (int k = 0; k < dying[i].len; k++) {
      int d = dying[i].data[k];
      if (d < 0) {
        arena_give(&a, blocks.data[-1 - d].off, blocks.data[-1 - d].bytes);
        continue;
      }
      const IrNode *dn = &g->nodes[d];
      int64_t bytes = align_up(shape_numel(&dn->type.shape, max_rows) * dtype_size(dn->type.dtype));
      arena_give(&a, out->offset[d], bytes ? bytes : ALIGN);
    }
  }
  for (int i = 0; i < n; i++) {
    if (out->offset[i] < 0 && out->root[i] != i) out->offset[i] = out->offset[out->root[i]];
    vec_free(&dying[i]);
  }
  out->work_bytes = a.top ? a.top : ALIGN;
  free(dying);
  free(as.in);
  free(last);
  free(block_of);
  free(block_dist);
  vec_free(&blocks);
  vec_free(&a.free);
}

void cg_plan_free(BufPlan *pl) {
  free(pl->view_of);
  free(pl->offset);
  free(pl->root);
  free(pl->fused_into);
  free(pl->loss_pair);
  free(pl->update_first);
  pl->loss_pair = NULL;
  pl->update_first = NULL;
  pl->offset = NULL;
  pl->root = NULL;
  pl->fused_into = NULL;
}
