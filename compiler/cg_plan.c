/* cg_plan.c — memory planning: variable offsets, and liveness-based reuse of
 * one work arena for the activations and gradients of a step.
 *
 * Values are sized for the largest batch (max_rows); a step with fewer rows
 * uses a prefix of each slot. A value's slot is freed after its last use, and
 * a view (reshape) shares its operand's slot and extends its life. */
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

/* Whether the graph assigns (state update) variable `var`: reads of such a
 * variable take a copy, so a read before the assignment keeps the old value
 * (as the reference interpreter does) even if it is used after it. */
bool cg_var_assigned(const IrGraph *g, int64_t var) {
  for (int i = 0; i < g->len; i++)
    if (g->nodes[i].op == IR_ASSIGN && g->nodes[i].ia[0] == var) return true;
  return false;
}

static bool needs_slot(const IrGraph *g, const IrNode *n) {
  if (ir_ops[n->op].cls == EFFECT || ir_ops[n->op].cls == VIEW) return false;
  if (n->op == IR_PARAM) return cg_var_assigned(g, n->ia[0]);
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
  return (c == EW_UNARY || c == EW_BINARY || c == BROADCAST) && n->op != IR_CAST && n->type.dtype == DT_F32;
}

static bool is_update(const IrNode *n) { return n->op == IR_SGD_UPDATE || n->op == IR_ADAMW_UPDATE; }

void cg_plan_fusion(const IrGraph *g, int *fused_into) {
  int n = g->len;
  const char *env = getenv("ASTC_FUSION");  /* "off": one loop per op (to measure what fusion gains) */
  if (env && strcmp(env, "off") == 0) {
    for (int i = 0; i < n; i++) fused_into[i] = -1;
    return;
  }
  int *uses = xcalloc((size_t)n + 1, sizeof(int));
  /* writes to memory a fused load could read: a fused value's operands are
   * read at its consumer, so no such write may lie between the two */
  int *writes_before = xcalloc((size_t)n + 2, sizeof(int));
  for (int i = 0; i < n; i++) {
    const IrNode *w = &g->nodes[i];
    writes_before[i + 1] = writes_before[i] + (is_update(w) || w->op == IR_ASSIGN || w->op == IR_ALLREDUCE);
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
                  writes_before[c] == writes_before[o + 1];
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
  if (!(n->op == IR_RESHAPE || c == BROADCAST || c == EW_UNARY || c == EW_BINARY) || n->op == IR_CAST)
    return false;
  for (int k = 0; k < n->nin; k++)
    if (!cg_uniform(g, n->in[k])) return false;
  return true;
}

void cg_plan_loss_pairs(const IrGraph *g, int *pair) {
  int boundary = cg_micro_boundary(g);
  const char *env = getenv("ASTC_FUSION");
  bool off = env && strcmp(env, "off") == 0;
  for (int i = 0; i < g->len; i++) pair[i] = -1;
  for (int j = 0; j < g->len && !off; j++) {
    const IrNode *gn = &g->nodes[j];
    if (gn->op != IR_XENT_GRAD || !cg_uniform(g, gn->in[2])) continue;
    for (int i = 0; i < j; i++) {
      const IrNode *xn = &g->nodes[i];
      if (xn->op == IR_XENT && pair[i] < 0 && xn->in[0] == gn->in[0] && xn->in[1] == gn->in[1] &&
          xn->fa[0] == gn->fa[0] && (boundary < 0 || (i < boundary) == (j < boundary))) {
        pair[i] = j;
        pair[j] = i;
        break;
      }
    }
  }
}

/* the node whose loop computes node i: i itself, or the end of its fusion chain */
static int home(const BufPlan *pl, int i) {
  while (pl->fused_into[i] >= 0) i = pl->fused_into[i];
  return i;
}

void cg_plan_graph(const IrGraph *g, int64_t max_rows, BufPlan *out) {
  int n = g->len;
  out->offset = xmalloc(sizeof(int64_t) * (size_t)(n + 1));
  out->root = xmalloc(sizeof(int) * (size_t)(n + 1));
  out->fused_into = xmalloc(sizeof(int) * (size_t)(n + 1));
  out->loss_pair = xmalloc(sizeof(int) * (size_t)(n + 1));
  cg_plan_fusion(g, out->fused_into);
  cg_plan_loss_pairs(g, out->loss_pair);
  int *last = xmalloc(sizeof(int) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &g->nodes[i];
    out->offset[i] = -1;
    out->root[i] = ir_ops[nd->op].cls == VIEW ? out->root[nd->in[0]] : i;
    last[i] = i;
    int at = home(out, i);  /* a fused node reads its operands in its consumer's loop */
    for (int k = 0; k < nd->nin; k++) {
      int r = out->root[nd->in[k]];
      last[r] = MAX(last[r], at);
    }
  }
  /* a view keeps its root alive for as long as the view is used */
  for (int i = n - 1; i >= 0; i--) last[out->root[i]] = MAX(last[out->root[i]], last[i]);
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
  VEC(int) *dying = xcalloc((size_t)n + 1, sizeof(*dying));
  for (int i = 0; i < n; i++)
    if (needs_slot(g, &g->nodes[i]) && g->nodes[i].op != IR_ACCUMULATE && out->fused_into[i] < 0)
      vec_push(&dying[last[i]], i);
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &g->nodes[i];
    /* a loss gradient computed in its loss's loop gets its slot there */
    int at[2] = {i, nd->op == IR_XENT ? out->loss_pair[i] : -1};
    for (int w = 0; w < 2 && at[w] >= 0; w++) {
      const IrNode *an = &g->nodes[at[w]];
      if (!needs_slot(g, an) || an->op == IR_ACCUMULATE || out->fused_into[at[w]] >= 0) continue;
      if (an->op == IR_XENT_GRAD && out->loss_pair[at[w]] >= 0 && w == 0) continue;
      int64_t bytes = align_up(shape_numel(&an->type.shape, max_rows) * dtype_size(an->type.dtype));
      out->offset[at[w]] = arena_take(&a, bytes ? bytes : ALIGN);
    }
    for (int k = 0; k < dying[i].len; k++) {
      int d = dying[i].data[k];
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
  free(last);
  vec_free(&a.free);
}

void cg_plan_free(BufPlan *pl) {
  free(pl->offset);
  free(pl->root);
  free(pl->fused_into);
  free(pl->loss_pair);
  pl->loss_pair = NULL;
  pl->offset = NULL;
  pl->root = NULL;
  pl->fused_into = NULL;
}
