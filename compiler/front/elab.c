/* elab.c — elaboration of expressions, statements and calls into graph IR.
 *
 * See elab.h for the model. Errors are reported where they are found and
 * turn the value into V_ERR, which every consumer passes on quietly, so one
 * mistake gives one message.
 */
#include "elab.h"

#include <math.h>
#include <string.h>

/* The helpers elab_expr_inner dispatches to are not inlined into it: it
 * recurses once per nested expression (up to ELAB_MAX_NESTING levels, times
 * the calls), so its frame must stay small — inlined, they made it 5.9 kB
 * in an ASan build, whose stack then overflowed before the nesting limit. */
#define NOINLINE __attribute__((noinline))

/* ---- values ---------------------------------------------------------------------- */

static bool is_number(const Value *v) { return v->kind == V_INT || v->kind == V_FLOAT; }

/* ---- nodes ----------------------------------------------------------------------- */

#define ELEMENTS_LIMIT 1099511627776.0  /* 2^40 elements in one tensor (per example) */

/* elab_node, with optional places where the operands were written
 * (in_locs, for the notes) and the operator (what), named in the message
 * unless the shape rule's message already does. */
static int node_at(Elab *e, IrOp op, int nin, const int *in, const int64_t *ia,
                   const double *fa, const Type *given, Loc loc, const Loc *in_locs,
                   const char *what) {
  IrNode n = {.op = op, .nin = nin, .loc = loc, .layer = e->frame ? e->frame->layer : -1,
              .role = e->role, .scope = e->frame && e->frame->item ? e->frame->item->name : NULL};
  for (int k = 0; k < nin; k++) {
    if (in[k] < 0) return -1;
    n.in[k] = in[k];
  }
  if (ia) memcpy(n.ia, ia, sizeof n.ia);
  if (fa) memcpy(n.fa, fa, sizeof n.fa);
  if (given) n.type = *given;
  char why[256];
  Type t;
  if (!ir_infer_type(e->g, &n, &t, why, sizeof why)) {
    if (what && !strstr(why, what)) diag_error(loc, "'%s': %s", what, why);
    else diag_error(loc, "%s", why);
    for (int k = 0; k < nin; k++) {
      const IrNode *o = &e->g->nodes[in[k]];
      char ts[128];
      const char *which = nin == 1   ? "the operand"
                          : nin == 2 ? (k == 0 ? "the left operand" : "the right operand")
                                     : (k == 0 ? "the first operand" : "the next operand");
      if (o->op == IR_CONST) continue;
      if (o->op == IR_PARAM) {
        diag_note(o->loc, "%s (%s) is the parameter '%s', declared here", which,
                  type_str(&o->type, ts, sizeof ts), e->prog->vars.data[o->ia[0]].name);
      } else if (!(in_locs && in_locs[k].file) && o->loc.file != loc.file && o->layer >= 0 &&
                 e->prog->layers.data[o->layer].loc.file == loc.file) {
        /* made inside a layer defined elsewhere (the standard library):
         * point at the call the user wrote */
        const IrLayer *l = &e->prog->layers.data[o->layer];
        diag_note(l->loc, "%s (%s) is the result of layer %s, called here", which, type_str(&o->type, ts, sizeof ts),
                  l->name);
      } else {
        diag_note(in_locs && in_locs[k].file ? in_locs[k] : o->loc, "%s (%s) comes from here", which,
                  type_str(&o->type, ts, sizeof ts));
      }
    }
    return -1;
  }
  /* sizes are int64 everywhere downstream: keep them far from overflow */
  double numel = 1;
  for (int k = 0; k < t.shape.rank; k++)
    if (t.shape.d[k] != IR_DIM_B) numel *= (double)t.shape.d[k];
  if (numel > ELEMENTS_LIMIT) {
    char ts[128];
    diag_error(loc, "this tensor would be %s, %s elements per example (the limit is 2^40)",
               type_str(&t, ts, sizeof ts), num_str(numel));
    return -1;
  }
  n.type = t;
  return ir_add(e->g, n);
}

int elab_node(Elab *e, IrOp op, int nin, const int *in, const int64_t *ia,
              const double *fa, const Type *given, Loc loc) {
  return node_at(e, op, nin, in, ia, fa, given, loc, NULL, NULL);
}

int elab_const(Elab *e, double v, Loc loc) {
  Type t = {DT_F32, SHAPE_SCALAR};
  double fa[IR_MAX_FA] = {v};
  return elab_node(e, IR_CONST, 0, NULL, NULL, fa, &t, loc);
}

int elab_scalar(Elab *e, IrScalar s, Loc loc) {
  for (int i = 0; i < e->g->len; i++)
    if (e->g->nodes[i].op == IR_SCALAR && e->g->nodes[i].ia[0] == s) return i;
  Type t = {DT_F32, SHAPE_SCALAR};
  int64_t ia[IR_MAX_IA] = {s};
  return elab_node(e, IR_SCALAR, 0, NULL, ia, NULL, &t, loc);
}

int elab_as_tensor(Elab *e, Value v) {
  switch (v.kind) {
  case V_TENSOR: return v.node;
  case V_INT: case V_FLOAT: return elab_const(e, v.num, v.loc);
  case V_BATCH: return elab_scalar(e, SC_ROWS, v.loc);
  default: return -1;
  }
}

/* Whether a rank-0 tensor was computed from the batch size B (2 * B): a
 * run-time number, where a compile-time one may have been meant. */
bool elab_from_batch(Elab *e, int node) {
  if (node < 0 || e->g->nodes[node].type.shape.rank != 0) return false;
  int stack[64], n = 0;
  stack[n++] = node;
  while (n > 0) {
    const IrNode *o = &e->g->nodes[stack[--n]];
    if (o->op == IR_SCALAR && o->ia[0] == SC_ROWS) return true;
    for (int k = 0; k < o->nin && n < 64; k++) stack[n++] = o->in[k];
  }
  return false;
}

/* why a value computed from B is no dimension or number */
const char *const elab_batch_not_number =
    "the batch size is known only at run time, so arithmetic on B gives a run-time f32[] value";

/* ---- frames and names ----------------------------------------------------------- */

static Binding *frame_find(Frame *f, const char *name) {
  for (int i = f->vars.len - 1; i >= 0; i--)
    if (strcmp(f->vars.data[i].name, name) == 0) return &f->vars.data[i];
  return NULL;
}

static void frame_bind(Frame *f, const char *name, Value v) {
  Binding *b = frame_find(f, name);
  if (b && !b->is_param_var) {
    b->value = v;
    return;
  }
  vec_push(&f->vars, ((Binding){name, v, false, -1, NO_LOC}));
}

void elab_frame_free(Frame *f) {
  vec_free(&f->vars);
  vec_free(&f->single_assigned);
  vec_free(&f->used_instance_names);
  vec_free(&f->kind_counts_name);
  vec_free(&f->kind_counts);
}

static void collect_names(StrVec *out, Elab *e) {
  for (Frame *f = e->frame; f; f = NULL)
    for (int i = 0; i < f->vars.len; i++) vec_push(out, f->vars.data[i].name);
  if (e->frame)
    for (int i = 0; i < e->frame->module->scope.len; i++)
      vec_push(out, e->frame->module->scope.data[i].name);
  for (int i = 0; builtin_at(i); i++) vec_push(out, builtin_at(i)->name);
  vec_push(out, "training");
  vec_push(out, "inf");
}

Value elab_lookup(Elab *e, const char *name, Loc loc, bool quiet) {
  Frame *f = e->frame;
  if (f) {
    Binding *b = frame_find(f, name);
    if (b) {
      Value v = b->value;
      if (v.kind != V_TENSOR) v.loc = loc;
      return v;
    }
    const ScopeEntry *s = scope_lookup(f->module, name);
    if (s) {
      if (s->module) return (Value){.kind = V_MODULE, .module = s->module, .loc = loc};
      return (Value){.kind = V_ITEM, .item = s->item, .module = f->module, .loc = loc};
    }
  }
  if (strcmp(name, "training") == 0) {
    int l = e->frame ? e->frame->layer : -1;
    if (l >= 0) e->prog->layers.data[l].reads_training = true;
    /* a frozen layer of a freeze variant runs as in evaluation */
    return v_num(V_BOOL, e->training && !(l >= 0 && e->eval_layers && e->eval_layers[l]), loc);
  }
  if (strcmp(name, "prim") == 0) return (Value){.kind = V_MODULE, .module = NULL, .loc = loc};
  if (strcmp(name, "pi") == 0) return v_num(V_FLOAT, M_PI, loc);
  if (strcmp(name, "inf") == 0) return v_num(V_FLOAT, INFINITY, loc);
  const Builtin *b = builtin_find(name);
  if (b) return (Value){.kind = V_BUILTIN, .builtin = b, .loc = loc};
  if (quiet) return (Value){.kind = V_SYMBOL, .str = name, .loc = loc};
  if (e->second_pass && f) {  /* a parameter or state declared only in training mode */
    const char *full = f->prefix[0] ? arena_printf(e->arena, "%s.%s", f->prefix, name) : name;
    int v = ir_program_find_var(e->prog, full);
    if (v >= 0) {
      diag_error(loc, "'%s' is declared only in training mode, so evaluation cannot use it; parameters "
                      "and state cannot depend on 'training'", name);
      diag_note(e->prog->vars.data[v].loc, "'%s' is declared here", name);
      return v_err();
    }
  }
  if (f && sema_report_unknown(e->sema, f->module, "name", name, NULL, true, loc)) return v_err();
  StrVec names = {0};
  collect_names(&names, e);
  const char *s = f ? sema_suggest(e->sema, f->module, name, &names) : suggest_name(name, names.data, names.len);
  builtin_unknown_name(loc, name, s);
  vec_free(&names);
  return v_err();
}

/* ---- arithmetic ------------------------------------------------------------------ */

static Value number_binary(BinOp op, Value a, Value b, Loc loc) {
  double x = a.num, y = b.num;
  bool ints = a.kind == V_INT && b.kind == V_INT;
  switch (op) {
  case OP_ADD: return v_num(ints ? V_INT : V_FLOAT, x + y, loc);
  case OP_SUB: return v_num(ints ? V_INT : V_FLOAT, x - y, loc);
  case OP_MUL: return v_num(ints ? V_INT : V_FLOAT, x * y, loc);
  case OP_DIV:
    if (y == 0) {
      diag_error(loc, "division by zero");
      return v_err();
    }
    if (ints && fmod(x, y) == 0) return v_num(V_INT, x / y, loc);
    return v_num(V_FLOAT, x / y, loc);
  case OP_POW: {
    double r = pow(x, y);
    if (!isfinite(r)) {
      diag_error(loc, "%s ** %s is not a finite number", num_str(x), num_str(y));
      return v_err();
    }
    return v_num(ints && y >= 0 ? V_INT : V_FLOAT, r, loc);
  }
  case OP_LT: return v_num(V_BOOL, x < y, loc);
  case OP_LE: return v_num(V_BOOL, x <= y, loc);
  case OP_GT: return v_num(V_BOOL, x > y, loc);
  case OP_GE: return v_num(V_BOOL, x >= y, loc);
  case OP_EQ: return v_num(V_BOOL, x == y, loc);
  case OP_NE: return v_num(V_BOOL, x != y, loc);
  default: break;
  }
  diag_error(loc, "'%s' needs booleans, not numbers", binop_str(op));
  return v_err();
}

/* tensor ** k for the few exponents that have an exact, cheap form */
static Value tensor_pow(Elab *e, int x, Value k, Loc loc) {
  if (!is_number(&k)) {
    diag_error(loc, "the exponent of a tensor must be a number");
    return v_err();
  }
  double p = k.num;
  if (p == 0.5) return v_tensor(elab_node(e, IR_SQRT, 1, &x, NULL, NULL, NULL, loc), loc);
  if (p == -0.5) return v_tensor(elab_node(e, IR_RSQRT, 1, &x, NULL, NULL, NULL, loc), loc);
  if (p == 1) return v_tensor(x, loc);
  if (p == 2 || p == 3 || p == 4) {
    int r = x;
    for (int i = 1; i < (int)p; i++) r = elab_node(e, IR_MUL, 2, (int[]){r, x}, NULL, NULL, NULL, loc);
    return v_tensor(r, loc);
  }
  if (p == -1) {
    int one = elab_const(e, 1.0, loc);
    return v_tensor(elab_node(e, IR_DIV, 2, (int[]){one, x}, NULL, NULL, NULL, loc), loc);
  }
  diag_error(loc, "a tensor can only be raised to 2, 3, 4, -1, 0.5 or -0.5 (not %s); "
                  "write exp(k * log(x)) for other powers", num_str(p));
  return v_err();
}

/* a permute that only swaps the last two axes */
static bool swaps_last_two(const IrNode *n) {
  int r = n->type.shape.rank;
  if (n->op != IR_PERMUTE || r < 2) return false;
  for (int k = 0; k < r - 2; k++)
    if (n->ia[k] != k) return false;
  return n->ia[r - 2] == r - 1 && n->ia[r - 1] == r - 2;
}

static NOINLINE Value binary(Elab *e, BinOp op, Value a, Value b, Loc loc) {
  if (a.kind == V_ERR || b.kind == V_ERR) return v_err();
  if (op == OP_AND || op == OP_OR) {
    if (a.kind != V_BOOL || b.kind != V_BOOL) {
      diag_error(loc, "'%s' needs two booleans", binop_str(op));
      return v_err();
    }
    return v_num(V_BOOL, op == OP_AND ? (a.num && b.num) : (a.num || b.num), loc);
  }
  if (is_number(&a) && is_number(&b)) return number_binary(op, a, b, loc);
  if (a.kind == V_BOOL && b.kind == V_BOOL && (op == OP_EQ || op == OP_NE))
    return v_num(V_BOOL, op == OP_EQ ? a.num == b.num : a.num != b.num, loc);
  bool ta = a.kind == V_TENSOR || a.kind == V_BATCH || is_number(&a);
  bool tb = b.kind == V_TENSOR || b.kind == V_BATCH || is_number(&b);
  if (!ta || !tb) {
    char sa[128], sb[128];
    diag_error(loc, "'%s' cannot combine %s and %s", binop_str(op), value_desc(e, &a, sa, sizeof sa),
               value_desc(e, &b, sb, sizeof sb));
    return v_err();
  }
  if (op == OP_POW) return tensor_pow(e, elab_as_tensor(e, a), b, loc);
  int x = elab_as_tensor(e, a), y = elab_as_tensor(e, b);
  if (x < 0 || y < 0) return v_err();
  IrOp irop;
  int in[2] = {x, y};
  Loc locs[2] = {a.loc, b.loc};
  int64_t ia[IR_MAX_IA] = {0};
  switch (op) {
  case OP_ADD: irop = IR_ADD; break;
  case OP_SUB: irop = IR_SUB; break;
  case OP_MUL: irop = IR_MUL; break;
  case OP_DIV: irop = IR_DIV; break;
  case OP_MATMUL:
    /* a transpose of the last two axes is the GEMM's transpose flag */
    irop = IR_MATMUL;
    for (int k = 0; k < 2; k++)
      if (swaps_last_two(&e->g->nodes[in[k]])) in[k] = e->g->nodes[in[k]].in[0], ia[k] = 1;
    break;
  case OP_GT: irop = IR_GT; break;
  case OP_GE: irop = IR_GE; break;
  case OP_LT: irop = IR_GT, in[0] = y, in[1] = x, locs[0] = b.loc, locs[1] = a.loc; break;
  case OP_LE: irop = IR_GE, in[0] = y, in[1] = x, locs[0] = b.loc, locs[1] = a.loc; break;
  default:
    diag_error(loc, "'%s' is not defined on tensors", binop_str(op));
    return v_err();
  }
  return v_tensor(node_at(e, irop, 2, in, ia, NULL, NULL, loc, locs, binop_str(op)), loc);
}

/* ---- expressions ----------------------------------------------------------------- */

static Value elab_expr_hint(Elab *e, const Expr *x, const char *hint);

static NOINLINE Value member(Elab *e, const Expr *x) {
  /* NAME.member with an unknown NAME: perhaps a module not imported */
  if (x->lhs->kind == EX_NAME && e->frame &&
      elab_lookup(e, x->lhs->str, x->lhs->loc, true).kind == V_SYMBOL &&
      sema_report_unknown(e->sema, e->frame->module, "name", x->lhs->str, x->str, true, x->lhs->loc))
    return v_err();
  Value m = elab_expr(e, x->lhs);
  if (m.kind == V_ERR) return m;
  if (m.kind != V_MODULE) {
    char d[128];
    diag_error(x->loc, "'.%s': the left side is %s, not a module", x->str,
               value_desc(e, &m, d, sizeof d));
    return v_err();
  }
  if (!m.module) {  /* prim.name */
    const Builtin *b = builtin_find(x->str);
    if (b) return (Value){.kind = V_BUILTIN, .builtin = b, .loc = x->loc};
    diag_error(x->loc, "'%s' is not a primitive", x->str);
    return v_err();
  }
  const ScopeEntry *s = scope_lookup(m.module, x->str);
  if (!s) {
    StrVec names = {0};
    for (int i = 0; i < m.module->scope.len; i++) vec_push(&names, m.module->scope.data[i].name);
    const char *sug = suggest_name(x->str, names.data, names.len);
    if (sug) diag_error(x->loc, "module '%s' has no '%s'; did you mean '%s'?", m.module->name, x->str, sug);
    else diag_error(x->loc, "module '%s' has no '%s'", m.module->name, x->str);
    vec_free(&names);
    return v_err();
  }
  if (s->module) return (Value){.kind = V_MODULE, .module = s->module, .loc = x->loc};
  return (Value){.kind = V_ITEM, .item = s->item, .module = m.module, .loc = x->loc};
}

static NOINLINE Value call(Elab *e, const Expr *x, const char *hint) {
  Value callee = elab_expr(e, x->lhs);
  if (callee.kind == V_ERR) return callee;
  int n = x->args.len;
  Value *args = arena_alloc(e->arena, sizeof(Value) * (size_t)(n + 1));
  const char **names = arena_alloc(e->arena, sizeof(char *) * (size_t)(n + 1));
  Loc *locs = arena_alloc(e->arena, sizeof(Loc) * (size_t)(n + 1));
  bool bad = false;
  for (int i = 0; i < n; i++) {
    const Arg *a = &x->args.items[i];
    args[i] = elab_expr(e, a->value);
    if (args[i].kind == V_ERR) bad = true;
    names[i] = a->name;
    locs[i] = a->name ? a->name_loc : a->value->loc;
  }
  if (bad) return v_err();
  return elab_call_value(e, callee, args, names, locs, n, x->loc, hint);
}

/* Recursion of the elaborator summed over nested calls. Each body bounds
 * its own nesting (PARSE_MAX_DEPTH) and calls are bounded too
 * (ELAB_MAX_CALL_DEPTH), but their product is not: a 100-deep expression in
 * a fn that calls itself 60 times would overflow the stack. */
static int nesting;
static bool nesting_reported;  /* once, until the elaboration unwinds */
#define ELAB_MAX_NESTING 1500

static Value elab_expr_inner(Elab *e, const Expr *x, const char *hint);

/* an integer bound of a slice or an index, negative counting from the end */
static bool index_bound(Elab *e, const Expr *x, int64_t size, bool is_end, int64_t *out) {
  Value v = elab_expr(e, x);
  if (v.kind == V_ERR) return false;
  if (v.kind != V_INT) {
    char d[128];
    diag_error(x->loc, "an index must be an integer, not %s", value_desc(e, &v, d, sizeof d));
    return false;
  }
  int64_t i = (int64_t)v.num;
  if (i < 0) i += size;
  if (i < 0 || i > size || (!is_end && i == size)) {
    diag_error(x->loc, "index %lld is out of range for a dimension of size %lld", (long long)v.num, (long long)size);
    return false;
  }
  *out = i;
  return true;
}

/* x[i] of a list; x[a:b, :, i] of a tensor: a slice per axis (the axes not
 * written are whole), an integer index keeps one position and drops the axis */
static NOINLINE Value index_value(Elab *e, const Expr *x) {
  Value base = elab_expr(e, x->lhs);
  if (base.kind == V_ERR) return base;
  if (base.kind == V_LIST) {
    int64_t i;
    if (x->args.len != 1 || x->args.items[0].value->kind == EX_SLICE) {
      diag_error(x->loc, "a list takes one integer index");
      return v_err();
    }
    if (!index_bound(e, x->args.items[0].value, base.nitems, false, &i)) return v_err();
    return base.items[i];
  }
  if (base.kind != V_TENSOR) {
    char d[128];
    diag_error(x->loc, "cannot index %s", value_desc(e, &base, d, sizeof d));
    return v_err();
  }
  Type t = e->g->nodes[base.node].type;
  int r = t.shape.rank;
  if (x->args.len > r) {
    char ts[128];
    diag_error(x->loc, "%d indices for %s, which has %d dimensions", x->args.len, type_str(&t, ts, sizeof ts), r);
    return v_err();
  }
  int64_t start[IR_MAX_IA] = {0};
  Shape kept = {0, {0}};
  Type sliced = t;
  bool any = false;
  for (int i = 0; i < r; i++) {
    int64_t size = t.shape.d[i];
    const Expr *ix = i < x->args.len ? x->args.items[i].value : NULL;
    if (!ix || (ix->kind == EX_SLICE && !ix->lhs && !ix->rhs)) {  /* the whole axis */
      kept.d[kept.rank++] = size;
      continue;
    }
    if (size == IR_DIM_B) {
      diag_error(ix->loc, "the batch dimension B cannot be indexed or sliced; write ':' for it");
      return v_err();
    }
    int64_t lo = 0, hi = size;
    if (ix->kind == EX_SLICE) {
      if ((ix->lhs && !index_bound(e, ix->lhs, size, true, &lo)) || (ix->rhs && !index_bound(e, ix->rhs, size, true, &hi)))
        return v_err();
      if (hi <= lo) {
        diag_error(ix->loc, "the slice %lld:%lld of a dimension of size %lld is empty", (long long)lo, (long long)hi,
                   (long long)size);
        return v_err();
      }
      kept.d[kept.rank++] = hi - lo;
    } else {
      if (!index_bound(e, ix, size, false, &lo)) return v_err();
      hi = lo + 1;  /* the axis is dropped below */
    }
    start[i] = lo;
    sliced.shape.d[i] = hi - lo;
    any = any || lo != 0 || hi != size;
  }
  int node = base.node;
  if (any) node = elab_node(e, IR_SLICE, 1, &node, start, NULL, &sliced, x->loc);
  if (node >= 0 && kept.rank != r) {
    Type k = {t.dtype, kept};
    node = elab_node(e, IR_RESHAPE, 1, &node, NULL, NULL, &k, x->loc);
  }
  return v_tensor(node, x->loc);
}

static bool enter(Loc loc) {
  if (nesting >= ELAB_MAX_NESTING) {
    if (!nesting_reported)
      diag_error(loc, "the program nests too deeply once its calls are expanded (over %d levels of "
                      "expressions, if-blocks and calls); is a function recursive?", ELAB_MAX_NESTING);
    nesting_reported = true;
    return false;
  }
  nesting++;
  return true;
}

static void leave(void) {
  if (--nesting == 0) nesting_reported = false;
}

static Value elab_expr_hint(Elab *e, const Expr *x, const char *hint) {
  if (!enter(x->loc)) return v_err();
  Value v = elab_expr_inner(e, x, hint);
  leave();
  return v;
}

/* -x, not x */
static NOINLINE Value unary(Elab *e, const Expr *x) {
  Value a = elab_expr(e, x->lhs);
  if (a.kind == V_ERR) return a;
  if (x->op == OP_NOT) {
    if (a.kind != V_BOOL) {
      diag_error(x->loc, "'not' needs a boolean");
      return v_err();
    }
    return v_num(V_BOOL, !a.num, x->loc);
  }
  if (is_number(&a)) return v_num(a.kind, -a.num, x->loc);
  if (a.kind == V_TENSOR || a.kind == V_BATCH) {
    int t = elab_as_tensor(e, a);
    return v_tensor(elab_node(e, IR_NEG, 1, &t, NULL, NULL, NULL, x->loc), x->loc);
  }
  char d[128];
  diag_error(x->loc, "cannot negate %s", value_desc(e, &a, d, sizeof d));
  return v_err();
}

/* x as one dotted name if it is a chain of names (a.b.c) whose first is
 * bound to nothing (a symbol), else NULL */
static const char *unbound_dotted(Elab *e, const Expr *x) {
  if (x->kind != EX_MEMBER) return NULL;
  const Expr *head = x;
  while (head->kind == EX_MEMBER) head = head->lhs;
  if (head->kind != EX_NAME || elab_lookup(e, head->str, head->loc, true).kind != V_SYMBOL) return NULL;
  return ast_dotted_name(e->arena, x, NULL);
}

static Value elab_expr_inner(Elab *e, const Expr *x, const char *hint) {
  switch (x->kind) {
  case EX_NUM: return v_num(x->is_int ? V_INT : V_FLOAT, x->num, x->loc);
  case EX_BOOL: return v_num(V_BOOL, x->num, x->loc);
  case EX_STR: return (Value){.kind = V_STR, .str = x->str, .loc = x->loc};
  case EX_NAME: return elab_lookup(e, x->str, x->loc, false);
  case EX_MEMBER: return member(e, x);
  case EX_CALL: return call(e, x, hint);
  case EX_STAR:
    diag_error(x->loc, "'*' is only allowed as the dimensions of a type, as in f32[*]");
    return v_err();
  case EX_INDEX: return index_value(e, x);
  case EX_SLICE:
    diag_error(x->loc, "a slice 'a:b' is only allowed inside an index, as in x[:, 0:8]");
    return v_err();
  case EX_TYPE:
    diag_error(x->loc, "a type is not a value here");
    return v_err();
  case EX_UNARY: return unary(e, x);
  case EX_BINARY: {
    Value a = elab_expr(e, x->lhs);
    Value b = elab_expr(e, x->rhs);
    return binary(e, x->op, a, b, x->loc);
  }
  case EX_RANGE: {
    Value *items = arena_alloc(e->arena, 2 * sizeof(Value));
    items[0] = elab_expr(e, x->lhs);
    items[1] = elab_expr(e, x->rhs);
    if (items[0].kind == V_ERR || items[1].kind == V_ERR) return v_err();
    return (Value){.kind = V_RANGE, .items = items, .nitems = 2, .loc = x->loc};
  }
  case EX_LIST: {
    int n = x->args.len;
    Value *items = arena_alloc(e->arena, sizeof(Value) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
      if (x->args.items[i].name) {
        diag_error(x->args.items[i].name_loc, "list elements cannot be named");
        return v_err();
      }
      /* a bare unknown name in a list is a symbol: keep: [cross_entropy]; so
       * is a dotted chain of names whose first is unknown, a nested layer's
       * name: keep: [residual_1.conv2d_1] */
      const Expr *it = x->args.items[i].value;
      const char *dotted = unbound_dotted(e, it);
      if (dotted) items[i] = (Value){.kind = V_SYMBOL, .str = dotted, .loc = it->loc};
      else items[i] = it->kind == EX_NAME ? elab_lookup(e, it->str, it->loc, true) : elab_expr(e, it);
      if (items[i].kind == V_ERR) return v_err();
    }
    return (Value){.kind = V_LIST, .items = items, .nitems = n, .loc = x->loc};
  }
  }
  unreachable();
}

Value elab_expr(Elab *e, const Expr *x) { return elab_expr_hint(e, x, NULL); }

/* ---- types ------------------------------------------------------------------------ */

static bool dtype_from_name(const char *name, DType *out) {
  static const struct { const char *name; DType t; } table[] = {
      {"f32", DT_F32}, {"bf16", DT_BF16}, {"f16", DT_F16}, {"i32", DT_I32},
  };
  for (size_t i = 0; i < ARRAY_LEN(table); i++)
    if (strcmp(name, table[i].name) == 0) {
      *out = table[i].t;
      return true;
    }
  return false;
}

static bool known_scalar_type(const char *name) {
  return !strcmp(name, "int") || !strcmp(name, "float") || !strcmp(name, "bool") ||
         !strcmp(name, "str") || !strcmp(name, "any");
}

static void unknown_type(const TypeExpr *t) {
  diag_error(t->loc, "unknown type '%s' (types: f32[...], bf16[...], f16[...], i32[...], "
                     "int, float, bool, str)", t->name);
}

/* A dimension's value: an integer >= 1, or B. */
static bool dim_value(Elab *e, const Expr *d, int64_t *out, bool allow_batch) {
  Value v = elab_expr(e, d);
  if (v.kind == V_ERR) return false;
  if (v.kind == V_BATCH) {
    if (!allow_batch) {
      diag_error(d->loc, "this shape cannot depend on the batch size");
      return false;
    }
    *out = IR_DIM_B;
    return true;
  }
  if (is_number(&v) && v.num == floor(v.num) && v.num >= 1 && v.num <= (double)(1LL << 40)) {
    *out = (int64_t)v.num;
    return true;
  }
  char desc[128];
  if (v.kind == V_TENSOR && elab_from_batch(e, v.node))
    diag_error(d->loc, "B may appear in a shape only by itself, as the batch dimension: %s, not a dimension",
               elab_batch_not_number);
  else
    diag_error(d->loc, "a dimension must be a positive integer, not %s", value_desc(e, &v, desc, sizeof desc));
  /* one mistake, one message: a name that is no dimension (units = 0 in
   * f32[I, units] and f32[units]) is reported at its first use only */
  Binding *b = d->kind == EX_NAME && e->frame ? frame_find(e->frame, d->str) : NULL;
  if (b && !b->is_param_var) b->value = v_err();
  return false;
}

bool elab_eval_type(Elab *e, const TypeExpr *t, Type *out, bool allow_batch) {
  if (!dtype_from_name(t->name, &out->dtype)) {
    if (known_scalar_type(t->name)) diag_error(t->loc, "expected a tensor type such as f32[...], not %s", t->name);
    else unknown_type(t);
    return false;
  }
  if (t->dims.len > IR_MAX_RANK) {
    diag_error(t->loc, "tensors have at most %d dimensions", IR_MAX_RANK);
    return false;
  }
  out->shape.rank = t->dims.len;
  for (int i = 0; i < t->dims.len; i++) {
    const Expr *d = t->dims.items[i].value;
    if (d->kind == EX_STAR) {
      diag_error(d->loc, "'*' (any shape) is only allowed in parameter types");
      return false;
    }
    if (!dim_value(e, d, &out->shape.d[i], allow_batch)) return false;
  }
  double numel = 1;
  for (int i = 0; i < out->shape.rank; i++)
    if (out->shape.d[i] != IR_DIM_B) numel *= (double)out->shape.d[i];
  if (numel > ELEMENTS_LIMIT) {
    char ts[128];
    diag_error(t->loc, "%s has %s elements (the limit is 2^40)", type_str(out, ts, sizeof ts), num_str(numel));
    return false;
  }
  return true;
}

static bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

/* A declared type as written, from the source text, in the spacing of
 * type_str(): "f32[B, 784]" is shown as "f32[B,784]". */
static const char *type_text(const TypeExpr *t, char *buf, size_t cap) {
  size_t len;
  const char *text = src_text(t->loc.file, &len);
  size_t off = 0;
  for (int line = 1; off < len && line < t->loc.line; off++)
    if (text[off] == '\n') line++;
  off += (size_t)(t->loc.col > 0 ? t->loc.col - 1 : 0);
  size_t n = 0, name_len = strlen(t->name);
  int depth = 0;
  bool blank = false;
  if (off + name_len > len || strncmp(text + off, t->name, name_len) != 0) goto fallback;
  memcpy(buf, t->name, MIN(name_len, cap - 1));
  n = MIN(name_len, cap - 1);
  if (!t->has_dims) {
    buf[n] = 0;
    return buf;
  }
  for (size_t i = off + name_len; i < len; i++) {
    char c = text[i];
    if (c == '#') {
      while (i + 1 < len && text[i + 1] != '\n') i++;
      blank = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      blank = depth > 0;
      continue;
    }
    if (depth == 0 && c != '[') goto fallback;
    /* written like type_str(): "f32[B,784]"; a blank survives only between
     * two words */
    if (blank && is_word_char(buf[n - 1]) && is_word_char(c)) buf[n++] = ' ';
    blank = false;
    if (n + 2 >= cap) goto fallback;
    buf[n++] = c;
    if (c == '[' || c == '(') depth++;
    if ((c == ']' || c == ')') && --depth == 0) {
      buf[n] = 0;
      return buf;
    }
  }
fallback:
  snprintf(buf, cap, "%s%s", t->name, t->has_dims ? "[...]" : "");
  return buf;
}

static bool type_mismatch(Elab *e, const TypeExpr *t, Value *v, const char *what, Loc loc,
                          const char *detail) {
  char d[128], ts[128];
  char why[160];
  if (!detail && v->kind == V_TENSOR && !t->has_dims && elab_from_batch(e, v->node)) {
    snprintf(why, sizeof why, "%s, not a number", elab_batch_not_number);
    detail = why;
  }
  diag_error(loc, "%s must be %s but is %s%s%s", what, type_text(t, ts, sizeof ts),
             value_desc(e, v, d, sizeof d), detail ? ": " : "", detail ? detail : "");
  diag_note(t->loc, "the type is declared here");
  if (v->kind == V_TENSOR && v->loc.file && (v->loc.line != loc.line || v->loc.file != loc.file))
    diag_note(v->loc, "the value comes from here");
  return false;
}

bool elab_match_type(Elab *e, const TypeExpr *t, Value *v, const char *what, Loc loc) {
  if (v->kind == V_ERR) return false;
  DType dt;
  if (!dtype_from_name(t->name, &dt)) {
    if (!known_scalar_type(t->name)) {
      unknown_type(t);
      return false;
    }
    if (!strcmp(t->name, "any")) return true;
    if (t->has_dims) {
      diag_error(t->loc, "'%s' takes no dimensions", t->name);
      return false;
    }
    if (!strcmp(t->name, "int")) {
      if (v->kind == V_INT) return true;
      return type_mismatch(e, t, v, what, loc, NULL);
    }
    if (!strcmp(t->name, "float")) {
      if (is_number(v)) {
        v->kind = V_FLOAT;
        return true;
      }
      return type_mismatch(e, t, v, what, loc, NULL);
    }
    if (!strcmp(t->name, "bool")) return v->kind == V_BOOL || type_mismatch(e, t, v, what, loc, NULL);
    return v->kind == V_STR || type_mismatch(e, t, v, what, loc, NULL);
  }
  /* a tensor type; numbers and B become scalars where a rank-0 tensor is wanted */
  if ((is_number(v) || v->kind == V_BATCH) && t->has_dims && t->dims.len == 0 && dt == DT_F32) {
    *v = v_tensor(elab_as_tensor(e, *v), v->loc);
    return v->kind == V_TENSOR;
  }
  if (v->kind != V_TENSOR) return type_mismatch(e, t, v, what, loc, NULL);
  const Type *vt = &e->g->nodes[v->node].type;
  if (vt->dtype != dt) return type_mismatch(e, t, v, what, loc, "the element types differ");
  if (!t->has_dims) return true;
  if (t->dims.len == 1 && t->dims.items[0].value->kind == EX_STAR) return true;
  /* f32[*, T, D]: any leading dimensions (none or more), then the named ones */
  int first = t->dims.len > 0 && t->dims.items[0].value->kind == EX_STAR ? 1 : 0;
  int named = t->dims.len - first, skip = vt->shape.rank - named;
  if (first ? skip < 0 : skip != 0) {
    char detail[64];
    snprintf(detail, sizeof detail, first ? "%d dimensions instead of at least %d" : "%d dimensions instead of %d",
             vt->shape.rank, named);
    return type_mismatch(e, t, v, what, loc, detail);
  }
  for (int i = first; i < t->dims.len; i++) {
    const Expr *d = t->dims.items[i].value;
    int64_t actual = vt->shape.d[i - first + skip];
    if (d->kind == EX_STAR) {
      diag_error(d->loc, "'*' must be the first dimension (any leading dimensions) or the only one, as in f32[*, D] "
                         "or f32[*]");
      return false;
    }
    if (d->kind == EX_NAME && !frame_find(e->frame, d->str)) {
      /* an unbound name binds to the actual dimension */
      Value dv = actual == IR_DIM_B ? (Value){.kind = V_BATCH, .loc = d->loc}
                                    : v_num(V_INT, (double)actual, d->loc);
      frame_bind(e->frame, d->str, dv);
      continue;
    }
    int64_t want;
    if (!dim_value(e, d, &want, true)) return false;
    if (want != actual) {
      char detail[160];
      char a[32], w[32];
      snprintf(a, sizeof a, actual == IR_DIM_B ? "B" : "%lld", (long long)actual);
      snprintf(w, sizeof w, want == IR_DIM_B ? "B" : "%lld", (long long)want);
      snprintf(detail, sizeof detail, "dimension %d is %s where %s is expected", i - first + skip + 1, a, w);
      return type_mismatch(e, t, v, what, loc, detail);
    }
  }
  return true;
}

/* ---- statements ------------------------------------------------------------------- */

static void run_stmts(Elab *e, StmtList l);

static bool single_assigned(Frame *f, const char *name) {
  for (int i = 0; i < f->single_assigned.len; i++)
    if (strcmp(f->single_assigned.data[i], name) == 0) return true;
  return false;
}

static void count_assignments(StmtList l, StrVec *seen, StrVec *dup) {
  for (int i = 0; i < l.len; i++) {
    const Stmt *s = l.items[i];
    if (s->kind == ST_ASSIGN) {
      bool found = false;
      for (int k = 0; k < seen->len; k++)
        if (strcmp(seen->data[k], s->name) == 0) found = true;
      if (found) vec_push(dup, s->name);
      else vec_push(seen, s->name);
    } else if (s->kind == ST_IF) {
      count_assignments(s->body, seen, dup);
      count_assignments(s->els, seen, dup);
    }
  }
}

static void find_single_assigned(Frame *f, StmtList body) {
  StrVec seen = {0}, dup = {0};
  count_assignments(body, &seen, &dup);
  for (int i = 0; i < seen.len; i++) {
    bool d = false;
    for (int k = 0; k < dup.len; k++)
      if (strcmp(dup.data[k], seen.data[i]) == 0) d = true;
    if (!d) vec_push(&f->single_assigned, seen.data[i]);
  }
  vec_free(&seen);
  vec_free(&dup);
}

/* After an error in a statement, the names it would have bound are bound
 * to V_ERR (unless bound already), so that their uses stay quiet. */
static void bind_failed(Frame *f, const Stmt *s) {
  if (s->kind == ST_IF) {
    for (int i = 0; i < s->body.len; i++) bind_failed(f, s->body.items[i]);
    for (int i = 0; i < s->els.len; i++) bind_failed(f, s->els.items[i]);
    return;
  }
  if ((s->kind == ST_ASSIGN || s->kind == ST_PARAM || s->kind == ST_STATE) && !frame_find(f, s->name))
    vec_push(&f->vars, ((Binding){s->name, v_err(), false, -1, NO_LOC}));
}

static Init init_from_value(Elab *e, Value v, Loc loc, bool *ok) {
  *ok = true;
  if (v.kind == V_INIT) return v.init;
  if (is_number(&v)) return (Init){INIT_CONST, v.num, 0, 0, 0};
  if (v.kind != V_ERR) {
    char d[128];
    diag_error(loc, "a parameter needs an initializer such as zeros() or he_uniform(fan_in: I), not %s",
               value_desc(e, &v, d, sizeof d));
  }
  *ok = false;
  return (Init){0};
}

static bool declare_var_checked(Elab *e, const Stmt *s);

static void declare_var(Elab *e, const Stmt *s) {
  if (!declare_var_checked(e, s)) bind_failed(e->frame, s);
}

/* false after an error */
static bool declare_var_checked(Elab *e, const Stmt *s) {
  Frame *f = e->frame;
  bool is_state = s->kind == ST_STATE;
  if (f->item->kind == IT_FN) {
    diag_error(s->loc, "a fn cannot declare %s; make '%s' a layer", is_state ? "state" : "parameters",
               f->item->name);
    return false;
  }
  Binding *prev = frame_find(f, s->name);
  if (prev && prev->is_param_var) {
    diag_error(s->name_loc, "'%s' is already declared in this layer", s->name);
    return true;
  }
  Type t;
  if (!elab_eval_type(e, s->type, &t, false)) return false;
  if (t.dtype == DT_I32) {
    diag_error(s->type->loc, "parameters and state must be floating-point tensors");
    return false;
  }
  bool ok;
  Init init = init_from_value(e, elab_expr(e, s->value), s->value->loc, &ok);
  if (!ok) return false;
  const char *full = f->prefix[0] ? arena_printf(e->prog->arena, "%s.%s", f->prefix, s->name)
                                  : arena_strdup(e->prog->arena, s->name);
  int var;
  if (e->second_pass) {
    var = ir_program_find_var(e->prog, full);
    if (var < 0) {  /* declared under a condition that is false in training */
      diag_error(s->name_loc, "'%s' is declared only in evaluation mode, so training would never set it; "
                              "parameters and state cannot depend on 'training'", s->name);
      return false;
    }
    const IrVar *was = &e->prog->vars.data[var];
    if (!shape_eq(&was->shape, &t.shape)) {
      char a[96], b[96];
      if (e->context > 0)
        diag_error(s->name_loc, "'%s' is %s at a context of %lld tokens but %s at the program's: parameters and "
                                "state cannot depend on the context length", full, shape_str(&t.shape, a, sizeof a),
                   (long long)e->context, shape_str(&was->shape, b, sizeof b));
      else if (e->height > 0)
        diag_error(s->name_loc, "'%s' is %s for images of %lldx%lld but %s at the data's size: the model is not "
                                "spatially agnostic, so it cannot train on smaller images; pool globally "
                                "(nn.global_avg_pool) before its dense head so that no parameter depends on the "
                                "image size", full, shape_str(&t.shape, a, sizeof a), (long long)e->height,
                   (long long)e->width, shape_str(&was->shape, b, sizeof b));
      else
        diag_error(s->name_loc, "'%s' is %s in evaluation but %s in training: parameters and state cannot "
                                "depend on 'training'", full, shape_str(&t.shape, a, sizeof a),
                   shape_str(&was->shape, b, sizeof b));
      return false;
    }
  } else {
    if (ir_program_find_var(e->prog, full) >= 0) {
      diag_error(s->name_loc, "a variable named '%s' already exists", full);
      return false;
    }
    IrVar v = {full, is_state ? VAR_STATE : VAR_PARAM, t.shape, t.dtype, init, f->layer, -1, s->name_loc};
    var = ir_program_add_var(e->prog, v);
    if (!is_state && f->layer >= 0) e->prog->layers.data[f->layer].nparams++;
  }
  int64_t ia[IR_MAX_IA] = {var};
  int node = elab_node(e, IR_PARAM, 0, NULL, ia, NULL, &t, s->name_loc);
  if (node >= 0) e->g->nodes[node].name = full;
  vec_push(&f->vars, ((Binding){s->name, v_tensor(node, s->name_loc), true, var, NO_LOC}));
  return true;
}

static void update_state(Elab *e, const Stmt *s) {
  Binding *b = frame_find(e->frame, s->name);
  if (b && b->value.kind == V_ERR) return;  /* its declaration failed */
  if (!b) {
    diag_error(s->name_loc, "'update' needs a state variable of this layer; there is no '%s'", s->name);
    return;
  }
  if (!b->is_param_var) {
    diag_error(s->name_loc, "'%s' is a local value, not a state variable; declare state with "
                            "'state %s: f32[...] = zeros()' to update it", s->name, s->name);
    return;
  }
  if (e->prog->vars.data[b->var].kind != VAR_STATE) {
    diag_error(s->name_loc, "'%s' is a parameter, not a state variable: the optimizer updates "
                            "parameters; 'update' is for state", s->name);
    diag_note(e->prog->vars.data[b->var].loc, "'%s' is declared here", s->name);
    return;
  }
  if (b->updated_at.file) {
    diag_error(s->name_loc, "'%s' is updated twice in one step; combine the updates into one", s->name);
    diag_note(b->updated_at, "the first update is here");
    return;
  }
  b->updated_at = s->name_loc;
  if (!e->training) return;  /* evaluation never changes state */
  Value v = elab_expr(e, s->value);
  if (v.kind == V_ERR) return;
  int x = elab_as_tensor(e, v);
  if (x < 0) {
    diag_error(s->value->loc, "a state variable must be updated with a tensor");
    return;
  }
  const IrVar *var = &e->prog->vars.data[b->var];
  Type want = {var->dtype, var->shape};
  if (!shape_eq(&e->g->nodes[x].type.shape, &var->shape)) {
    if (!broadcastable_to(&e->g->nodes[x].type.shape, &var->shape)) {
      char a[128], w[128];
      diag_error(s->value->loc, "the new value of '%s' is %s but the state is %s", s->name,
                 type_str(&e->g->nodes[x].type, a, sizeof a), type_str(&want, w, sizeof w));
      return;
    }
    x = elab_node(e, IR_BROADCAST, 1, &x, NULL, NULL, &want, s->value->loc);
  }
  int64_t ia[IR_MAX_IA] = {b->var};
  elab_node(e, IR_ASSIGN, 1, &x, ia, NULL, NULL, s->loc);
}

static void run_stmt_inner(Elab *e, const Stmt *s);

static void run_stmt(Elab *e, const Stmt *s) {
  if (!enter(s->loc)) {
    bind_failed(e->frame, s);
    return;
  }
  run_stmt_inner(e, s);
  leave();
}

static void run_stmt_inner(Elab *e, const Stmt *s) {
  Frame *f = e->frame;
  switch (s->kind) {
  case ST_ASSIGN: {
    Value v = elab_expr_hint(e, s->value, single_assigned(f, s->name) ? s->name : NULL);
    if (v.kind == V_TENSOR && e->g->nodes[v.node].name == NULL) e->g->nodes[v.node].name = s->name;
    Binding *b = frame_find(f, s->name);
    if (b && b->is_param_var) {
      diag_error(s->name_loc, "'%s' is a parameter of this layer and cannot be assigned; "
                              "use 'update' for state", s->name);
      return;
    }
    frame_bind(f, s->name, v);
    return;
  }
  case ST_PARAM:
  case ST_STATE: declare_var(e, s); return;
  case ST_UPDATE: update_state(e, s); return;
  case ST_RETURN:
    f->ret = elab_expr(e, s->value);
    f->returned = true;
    return;
  case ST_IF: {
    Value c = elab_expr(e, s->value);
    if (c.kind != V_ERR && c.kind != V_BOOL) {
      char d[128];
      diag_error(s->value->loc, "an if condition must be a compile-time boolean (such as "
                                "'training'), not %s", value_desc(e, &c, d, sizeof d));
    }
    if (c.kind != V_BOOL) {
      bind_failed(f, s);
      return;
    }
    run_stmts(e, c.num ? s->body : s->els);
    return;
  }
  }
}

static void run_stmts(Elab *e, StmtList l) {
  for (int i = 0; i < l.len && !e->frame->returned; i++) {
    run_stmt(e, l.items[i]);
    if (diag_error_count() > DIAG_MAX_ERRORS) return;
  }
}

/* ---- calls --------------------------------------------------------------------------- */

static const char *instance_name(Elab *e, Frame *caller, const Item *item, const char *hint) {
  const char *base = NULL;
  if (hint) {
    bool used = false;
    for (int i = 0; i < caller->used_instance_names.len; i++)
      if (strcmp(caller->used_instance_names.data[i], hint) == 0) used = true;
    if (!used) base = hint;
  }
  while (!base) {
    int k = 0;
    for (; k < caller->kind_counts_name.len; k++)
      if (strcmp(caller->kind_counts_name.data[k], item->name) == 0) break;
    if (k == caller->kind_counts_name.len) {
      vec_push(&caller->kind_counts_name, item->name);
      vec_push(&caller->kind_counts, 0);
    }
    const char *cand = arena_printf(e->prog->arena, "%s_%d", item->name, ++caller->kind_counts.data[k]);
    bool used = false;
    for (int i = 0; i < caller->used_instance_names.len; i++)
      if (strcmp(caller->used_instance_names.data[i], cand) == 0) used = true;
    if (!used) base = cand;
  }
  vec_push(&caller->used_instance_names, base);
  return caller->prefix[0] ? arena_printf(e->prog->arena, "%s.%s", caller->prefix, base)
                           : arena_strdup(e->prog->arena, base);
}

/* The evaluation pass must call the same layers, in the same order, as the
 * training pass: instances are named in call order, and a layer called only
 * under `if training` (or only in its else branch) would have no parameters
 * in one of the two graphs, or shift the names of the layers after it.
 * The check's state (e->seq_*) belongs to the elaboration, not to the
 * process: left over from a compilation that stopped at an error, it would
 * apply to the next one in the same process (whose evaluation graph may
 * have the same address). */

static bool same_loc(Loc a, Loc b) { return a.file == b.file && a.line == b.line && a.col == b.col; }

static void training_only_layer(const IrLayer *l) {
  diag_error(l->loc, "layer '%s' (%s) is called in training but not in evaluation; a layer call "
                     "cannot depend on 'training' (call it in both modes and choose between the "
                     "results with the if)", l->kind, l->name);
}

/* The layer index of an instance in the evaluation pass, or -1 (after an
 * error, or quietly once one was reported). */
static int eval_pass_layer(Elab *e, const Item *item, const char *name, Loc call_loc) {
  const IrLayer *l = e->prog->layers.data;
  int n = e->prog->layers.len;
  if (e->seq_graph != e->g) {
    e->seq_graph = e->g;
    e->seq_next = 0;
    e->seq_failed = false;
  }
  if (e->seq_failed) {
    for (int i = 0; i < n; i++)
      if (strcmp(l[i].name, name) == 0 && strcmp(l[i].kind, item->name) == 0) return i;
    return -1;
  }
  if (e->seq_next < n && strcmp(l[e->seq_next].name, name) == 0 && same_loc(l[e->seq_next].loc, call_loc))
    return e->seq_next++;
  e->seq_failed = true;
  /* training called this one later: the ones before it were training-only */
  for (int i = e->seq_next; i < n; i++)
    if (same_loc(l[i].loc, call_loc)) {
      training_only_layer(&l[e->seq_next]);
      return -1;
    }
  diag_error(call_loc, "layer '%s' is called in evaluation but not in training, so its parameters would "
                       "never be trained; a layer call cannot depend on 'training'", item->name);
  return -1;
}

/* After the evaluation pass: did it call every layer of the training pass? */
bool elab_eval_layers_done(Elab *e);
bool elab_eval_layers_done(Elab *e) {
  int done = e->seq_graph == e->g ? e->seq_next : 0;
  bool failed = e->seq_graph == e->g && e->seq_failed;
  e->seq_graph = NULL;
  if (failed) return false;
  if (done < e->prog->layers.len) {
    training_only_layer(&e->prog->layers.data[done]);
    return false;
  }
  return true;
}

static int find_param(const Item *item, const char *name) {
  for (int i = 0; i < item->nparams; i++)
    if (strcmp(item->params[i].name, name) == 0) return i;
  return -1;
}

static void list_params(StrBuf *sb, const Item *item) {
  for (int i = 0; i < item->nparams; i++) sb_printf(sb, "%s%s", i ? ", " : "", item->params[i].name);
}

Value elab_call_item(Elab *e, const Item *item, ModuleInfo *m, Value *args,
                     const char **names, Loc *name_locs, int nargs, Loc call_loc,
                     const char *hint) {
  if (item->kind == IT_DATA) {
    diag_error(call_loc, "'%s' is a data set, not a function", item->name);
    return v_err();
  }
  if (item->kind == IT_MODEL && e->frame) {
    diag_error(call_loc, "model '%s' cannot be called from another body; make it a layer", item->name);
    return v_err();
  }
  if (e->depth >= ELAB_MAX_CALL_DEPTH) {
    diag_error(call_loc, "calls nested too deeply (over %d levels); is '%s' recursive?",
               ELAB_MAX_CALL_DEPTH, item->name);
    e->bt_loc = call_loc;  /* the backtrace need not repeat this call */
    e->bt_count = diag_error_count();
    return v_err();
  }
  /* bind arguments to parameters */
  int np = item->nparams;
  Value *bound = arena_alloc(e->arena, sizeof(Value) * (size_t)(np + 1));
  Loc *bound_loc = arena_alloc(e->arena, sizeof(Loc) * (size_t)(np + 1));
  bool *given = arena_alloc(e->arena, (size_t)np + 1);
  bool ok = true;
  int pos = 0;
  for (int i = 0; i < nargs; i++) {
    int k;
    if (names[i]) {
      k = find_param(item, names[i]);
      if (k < 0) {
        const char *cands[64];
        int nc = 0;
        for (int p = 0; p < np && nc < 64; p++) cands[nc++] = item->params[p].name;
        const char *s = suggest_name(names[i], cands, nc);
        StrBuf sb = {0};
        list_params(&sb, item);
        if (s) diag_error(name_locs[i], "'%s' has no parameter '%s'; did you mean '%s'?", item->name, names[i], s);
        else diag_error(name_locs[i], "'%s' has no parameter '%s' (its parameters: %s)", item->name, names[i],
                        sb.data ? sb.data : "none");
        sb_free(&sb);
        ok = false;
        continue;
      }
    } else {
      k = pos++;
      if (k >= np) {
        StrBuf sb = {0};
        list_params(&sb, item);
        diag_error(name_locs[i], "too many arguments to '%s' (it takes %d: %s)", item->name, np,
                   sb.data ? sb.data : "none");
        sb_free(&sb);
        ok = false;
        break;
      }
    }
    if (given[k]) {
      diag_error(name_locs[i], "argument '%s' of '%s' is given twice", item->params[k].name, item->name);
      ok = false;
      continue;
    }
    given[k] = true;
    bound[k] = args[i];
    bound_loc[k] = name_locs[i];
  }
  for (int k = 0; k < np && ok; k++)
    if (!given[k] && !item->params[k].def) {
      diag_error(call_loc, "missing argument '%s' of '%s'", item->params[k].name, item->name);
      diag_note(item->params[k].loc, "'%s' is declared here", item->params[k].name);
      ok = false;
    }
  if (!ok) return v_err();

  Frame *caller = e->frame;
  Frame f = {.module = m, .item = item, .layer = caller ? caller->layer : -1,
             .prefix = caller ? caller->prefix : "", .call_site = call_loc, .parent = caller};
  /* a fn names the layers it calls in its caller's scope (it has no instance of its own) */
  f.naming = item->kind == IT_FN && caller ? caller->naming : &f;
  if (item->kind == IT_LAYER) {
    const char *name = instance_name(e, caller->naming ? caller->naming : caller, item, hint);
    if (e->second_pass) {
      f.layer = eval_pass_layer(e, item, name, call_loc);
      if (f.layer < 0) return v_err();
    } else {
      vec_push(&e->prog->layers, ((IrLayer){name, item->name, call_loc, 0, false}));
      f.layer = e->prog->layers.len - 1;
    }
    f.prefix = name;
  }
  find_single_assigned(&f, item->body);
  e->frame = &f;
  e->depth++;
  for (int k = 0; k < np && ok; k++) {
    const Param *p = &item->params[k];
    Value v = given[k] ? bound[k] : elab_expr(e, p->def);
    char what[160];
    snprintf(what, sizeof what, "argument '%s' of '%s'", p->name, item->name);
    if (!elab_match_type(e, p->type, &v, what, given[k] ? bound_loc[k] : call_loc)) {
      ok = false;
      break;
    }
    if (frame_find(&f, p->name) && frame_find(&f, p->name)->value.kind != V_ERR) {
      /* the name was bound as a dimension of an earlier parameter */
      Binding *b = frame_find(&f, p->name);
      if (!(is_number(&v) && is_number(&b->value) && v.num == b->value.num)) {
        diag_error(given[k] ? bound_loc[k] : call_loc,
                   "'%s' is %s but an earlier argument's shape fixed it to %s", p->name, num_str(v.num),
                   num_str(b->value.num));
        ok = false;
        break;
      }
    }
    frame_bind(&f, p->name, v);
  }
  Value result = v_err();
  if (ok) {
    int errors = diag_error_count();
    run_stmts(e, item->body);
    /* a backtrace: which call of a layer or fn went wrong (a recursive
     * call is named once, not at every level) */
    if (diag_error_count() > errors && item->kind != IT_MODEL &&
        !(e->bt_count == diag_error_count() && e->bt_loc.file == call_loc.file &&
          e->bt_loc.line == call_loc.line && e->bt_loc.col == call_loc.col)) {
      diag_note(call_loc, "in '%s', called here", item->name);
      e->bt_loc = call_loc;
      e->bt_count = diag_error_count();
    }
    if (!f.returned) {
      if (diag_error_count() == 0)
        diag_error(item->name_loc, "%s '%s' ends without a 'return'", item_kind_str(item->kind), item->name);
    } else if (f.ret.kind != V_ERR) {
      result = f.ret;
      if (item->ret) {
        char what[160];
        snprintf(what, sizeof what, "the result of '%s'", item->name);
        if (!elab_match_type(e, item->ret, &result, what, f.ret.loc)) {
          if (item->kind != IT_MODEL)  /* the train block calls the model */
            diag_note(call_loc, "'%s' was called here", item->name);
          result = v_err();
        }
      }
    }
  }
  e->depth--;
  e->frame = caller;
  elab_frame_free(&f);
  if (result.kind == V_TENSOR) result.loc = call_loc;
  return result;
}

Value elab_call_value(Elab *e, Value callee, Value *args, const char **names,
                      Loc *name_locs, int nargs, Loc call_loc, const char *hint) {
  switch (callee.kind) {
  case V_ERR: return callee;
  case V_ITEM:
    return elab_call_item(e, callee.item, callee.module, args, names, name_locs, nargs, call_loc, hint);
  case V_BUILTIN: {
    const Builtin *b = callee.builtin;
    Value bound[6];
    Loc origin[6];
    if (!bind_builtin_args(e, b, args, names, name_locs, nargs, bound, origin, call_loc)) return v_err();
    e->arg_origin = origin;
    Value r = b->fn(e, b, bound, call_loc);
    e->arg_origin = NULL;
    return r;
  }
  case V_PARTIAL: {
    /* the stored named arguments follow the new positional ones */
    int n = nargs + callee.nbound;
    Value *a = arena_alloc(e->arena, sizeof(Value) * (size_t)(n + 1));
    const char **nm = arena_alloc(e->arena, sizeof(char *) * (size_t)(n + 1));
    Loc *nl = arena_alloc(e->arena, sizeof(Loc) * (size_t)(n + 1));
    for (int i = 0; i < nargs; i++) a[i] = args[i], nm[i] = names[i], nl[i] = name_locs[i];
    for (int i = 0; i < callee.nbound; i++) {
      a[nargs + i] = callee.items[i];
      nm[nargs + i] = callee.bound[i].name;
      nl[nargs + i] = callee.bound[i].name_loc;
    }
    return elab_call_value(e, *callee.callee, a, nm, nl, n, call_loc, hint);
  }
  default: {
    char d[128];
    diag_error(call_loc, "%s is not a function", value_desc(e, &callee, d, sizeof d));
    return v_err();
  }
  }
}
