/* builtins.c — the primitive functions of the language (also reachable as
 * prim.NAME): tensor primitives that map to IR ops, initializers for `param`
 * statements, and compile-time math on numbers. */
#include <math.h>
#include <string.h>

#include "elab.h"

enum { MIN_NUMBERS = -2 };  /* min(a, b) of numbers: not an IR op */

/* ---- argument binding --------------------------------------------------------------- */

static int nparams(const Builtin *b) {
  int n = 0;
  while (n < 6 && b->params[n]) n++;
  return n;
}

bool bind_builtin_args(Elab *e, const Builtin *b, Value *args, const char **names,
                       Loc *name_locs, int nargs, Value *out, Loc *origin, Loc loc) {
  (void)e;
  int np = nparams(b);
  for (int k = 0; k < 6; k++) {
    out[k] = (Value){.kind = V_NONE, .loc = loc};
    origin[k] = loc;
  }
  int pos = 0;
  for (int i = 0; i < nargs; i++) {
    int k = -1;
    if (names[i]) {
      for (int p = 0; p < np; p++)
        if (strcmp(b->params[p], names[i]) == 0) k = p;
      if (k < 0) {
        const char *s = suggest_name(names[i], b->params, np);
        if (s) diag_error(name_locs[i], "'%s' has no parameter '%s'; did you mean '%s'?", b->name, names[i], s);
        else diag_error(name_locs[i], "'%s' has no parameter '%s'", b->name, names[i]);
        return false;
      }
    } else {
      k = pos++;
      if (k >= np) {
        diag_error(name_locs[i], "too many arguments to '%s' (it takes %d)", b->name, np);
        return false;
      }
    }
    if (out[k].kind != V_NONE) {
      diag_error(name_locs[i], "argument '%s' of '%s' is given twice", b->params[k], b->name);
      return false;
    }
    out[k] = args[i];
    origin[k] = args[i].loc.file ? args[i].loc : name_locs[i];
    if (name_locs[i].file) out[k].loc = name_locs[i];
  }
  for (int k = 0; k < b->required; k++)
    if (out[k].kind == V_NONE) {
      diag_error(loc, "missing argument '%s' of '%s'", b->params[k], b->name);
      return false;
    }
  return true;
}

/* ---- argument helpers ------------------------------------------------------------ */

/* After an error about tensor argument k of a builtin (shown at the call), a
 * note on where its value was made, when that is on another line: the
 * parameter it is, or the expression that computed it. */
static void note_origin(Elab *e, const Builtin *b, int k, const Value *v) {
  if (v->kind != V_TENSOR || !e->arg_origin) return;
  Loc at = v->loc, from = e->arg_origin[k];
  if (!from.file || (from.file == at.file && from.line == at.line)) return;
  const IrNode *o = &e->g->nodes[v->node];
  char ts[128];
  type_str(&o->type, ts, sizeof ts);
  if (o->op == IR_PARAM)
    diag_note(o->loc, "argument '%s' (%s) is the parameter '%s', declared here", b->params[k], ts,
              e->prog->vars.data[o->ia[0]].name);
  else if (o->layer >= 0 && o->layer < e->prog->layers.len && e->prog->layers.data[o->layer].loc.file == from.file &&
           e->prog->layers.data[o->layer].loc.line == from.line && e->prog->layers.data[o->layer].loc.col == from.col)
    diag_note(from, "argument '%s' (%s) is the result of layer %s, called here", b->params[k], ts,
              e->prog->layers.data[o->layer].name);
  else
    diag_note(from, "argument '%s' (%s) comes from here", b->params[k], ts);
}

/* Where to report an error about element i of list argument v: at the
 * element when the list is written in the call, else at the argument. */
static Loc item_loc(const Value *v, int i) {
  Loc l = v->items[i].loc;
  return l.file == v->loc.file && l.line == v->loc.line ? l : v->loc;
}

static bool want_tensor(Elab *e, const Builtin *b, Value *v, int *node) {
  if (v->kind == V_TENSOR) {
    *node = v->node;
    return true;
  }
  if (v->kind == V_ERR) return false;
  char d[128];
  diag_error(v->loc, "'%s' needs a tensor, not %s", b->name, value_desc(e, v, d, sizeof d));
  return false;
}

static bool want_int(Elab *e, const Builtin *b, const char *what, Value *v, int64_t def,
                     int64_t lo, int64_t *out) {
  if (v->kind == V_NONE) {
    *out = def;
    return true;
  }
  if (v->kind == V_INT && v->num >= (double)lo && v->num < 1e12) {
    *out = (int64_t)v->num;
    return true;
  }
  char d[128];
  if (v->kind == V_INT && v->num >= 1e12)
    diag_error(v->loc, "'%s' of '%s' is too large (%s; the limit is 10^12)", what, b->name, num_str(v->num));
  else
    diag_error(v->loc, "'%s' of '%s' must be an integer >= %lld, not %s", what, b->name, (long long)lo,
               value_desc(e, v, d, sizeof d));
  return false;
}

/* an int, or a list of two ints: (h, w) */
static bool want_pair(Elab *e, const Builtin *b, const char *what, Value *v, int64_t def,
                      int64_t lo, int64_t out[2]) {
  if (v->kind == V_LIST) {
    if (v->nitems != 2) {
      diag_error(v->loc, "'%s' of '%s' must be one integer or a list of two", what, b->name);
      return false;
    }
    Value h = v->items[0], w = v->items[1];
    h.loc = item_loc(v, 0);
    w.loc = item_loc(v, 1);
    return want_int(e, b, what, &h, def, lo, &out[0]) && want_int(e, b, what, &w, def, lo, &out[1]);
  }
  if (!want_int(e, b, what, v, def, lo, &out[0])) return false;
  out[1] = out[0];
  return true;
}

static bool want_number(Elab *e, const Builtin *b, const char *what, Value *v, double def,
                        double *out) {
  if (v->kind == V_NONE) {
    *out = def;
    return true;
  }
  if (v->kind == V_INT || v->kind == V_FLOAT) {
    *out = v->num;
    return true;
  }
  char d[128];
  diag_error(v->loc, "'%s' of '%s' must be a number, not %s", what, b->name, value_desc(e, v, d, sizeof d));
  return false;
}

static bool want_bool(Elab *e, const Builtin *b, const char *what, Value *v, bool def, bool *out) {
  if (v->kind == V_NONE) {
    *out = def;
    return true;
  }
  if (v->kind == V_BOOL) {
    *out = v->num != 0;
    return true;
  }
  char d[128];
  diag_error(v->loc, "'%s' of '%s' must be true or false, not %s", what, b->name, value_desc(e, v, d, sizeof d));
  return false;
}

static const Type *type_of(Elab *e, int node) { return &e->g->nodes[node].type; }

/* ---- tensor primitives -------------------------------------------------------------- */

/* relu(x), exp(x), ...: the elementwise ops with a built-in name (their
 * EW1 rows in ops.def); on numbers they are computed at compile time. */
static Value bi_unary(Elab *e, const Builtin *b, Value *a, Loc loc) {
  if (a[0].kind == V_INT || a[0].kind == V_FLOAT) {
    double x = a[0].num, r = ir_eval_unary((IrOp)b->op, x);
    if (!isfinite(r)) {
      diag_error(loc, "%s(%s) is not a finite number", b->name, num_str(x));
      return v_err();
    }
    return v_num(V_FLOAT, r, loc);
  }
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  return v_tensor(elab_node(e, (IrOp)b->op, 1, &x, NULL, NULL, NULL, loc), loc);
}

static Value bi_math(Elab *e, const Builtin *b, Value *a, Loc loc) {
  double x;
  if (!want_number(e, b, b->params[0], &a[0], 0, &x)) return v_err();
  double r = strcmp(b->name, "cos") == 0 ? cos(x) : strcmp(b->name, "sin") == 0 ? sin(x) : floor(x);
  return v_num(strcmp(b->name, "floor") == 0 ? V_INT : V_FLOAT, r, loc);
}

/* maximum(a, b), minimum(a, b): the elementwise binary ops with a built-in
 * name (their EW2 rows in ops.def); on numbers computed at compile time */
static Value bi_binary(Elab *e, const Builtin *b, Value *a, Loc loc) {
  if ((a[0].kind == V_INT || a[0].kind == V_FLOAT) && (a[1].kind == V_INT || a[1].kind == V_FLOAT)) {
    double r = ir_eval_binary((IrOp)b->op, a[0].num, a[1].num);
    return v_num(a[0].kind == V_INT && a[1].kind == V_INT ? V_INT : V_FLOAT, r, loc);
  }
  int x = elab_as_tensor(e, a[0]), y = elab_as_tensor(e, a[1]);
  if (x < 0 || y < 0) {
    diag_error(loc, "'%s' needs tensors or numbers", b->name);
    return v_err();
  }
  return v_tensor(elab_node(e, (IrOp)b->op, 2, (int[]){x, y}, NULL, NULL, NULL, loc), loc);
}

/* where(cond, a, b): the elementwise ternary ops with a built-in name (EW3
 * rows); numbers become constants, three numbers are computed at once */
static Value bi_ternary(Elab *e, const Builtin *b, Value *a, Loc loc) {
  bool numbers = true;
  for (int k = 0; k < 3; k++) numbers = numbers && (a[k].kind == V_INT || a[k].kind == V_FLOAT || a[k].kind == V_BOOL);
  if (numbers) return v_num(V_FLOAT, ir_eval_ternary((IrOp)b->op, a[0].num, a[1].num, a[2].num), loc);
  int in[3];
  for (int k = 0; k < 3; k++) {
    if (a[k].kind == V_ERR) return v_err();
    in[k] = a[k].kind == V_BOOL ? elab_const(e, a[k].num, a[k].loc) : elab_as_tensor(e, a[k]);
    if (in[k] < 0) {
      char d[128];
      diag_error(a[k].loc, "'%s' needs tensors or numbers, not %s", b->name, value_desc(e, &a[k], d, sizeof d));
      return v_err();
    }
  }
  return v_tensor(elab_node(e, (IrOp)b->op, 3, in, NULL, NULL, NULL, loc), loc);
}

/* an axis argument: an integer in [-rank, rank), negative counting from the end */
static bool want_axis(Elab *e, const Builtin *b, const char *what, Value *v, int64_t def, int rank, int *out) {
  int64_t ax;
  if (v->kind == V_NONE) ax = def;
  else if (v->kind == V_INT) ax = (int64_t)v->num;
  else {
    char d[128];
    diag_error(v->loc, "'%s' of '%s' must be an integer, not %s", what, b->name, value_desc(e, v, d, sizeof d));
    return false;
  }
  if (ax < -rank || ax >= rank) {
    diag_error(v->loc, "'%s' of '%s' must be in [%d, %d] for a tensor of %d dimensions, "
               "not %lld", what, b->name, -rank, rank - 1, rank, (long long)ax);
    return false;
  }
  *out = (int)(ax < 0 ? ax + rank : ax);
  return true;
}

/* permute(x, axes): axis k of the result is axis axes[k] of x */
static Value bi_permute(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  int r = type_of(e, x)->shape.rank;
  if (a[1].kind != V_LIST || a[1].nitems != r) {
    char ts[128];
    diag_error(a[1].loc, "'axes' of permute must list all %d axes of %s once, in their new order", r,
               type_str(type_of(e, x), ts, sizeof ts));
    note_origin(e, b, 0, &a[0]);
    return v_err();
  }
  int64_t ia[IR_MAX_IA] = {0};
  for (int k = 0; k < r; k++) {
    int ax;
    Value it = a[1].items[k];
    it.loc = item_loc(&a[1], k);
    if (!want_axis(e, b, "axes", &it, 0, r, &ax)) return v_err();
    ia[k] = ax;
  }
  return v_tensor(elab_node(e, IR_PERMUTE, 1, &x, ia, NULL, NULL, loc), loc);
}

/* transpose(x, a: -2, b: -1): swaps two axes (by default the last two) */
static Value bi_transpose(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  int r = type_of(e, x)->shape.rank, p, q;
  if (r < 2) {
    char ts[128];
    diag_error(a[0].loc, "transpose needs at least two dimensions, not %s", type_str(type_of(e, x), ts, sizeof ts));
    note_origin(e, b, 0, &a[0]);
    return v_err();
  }
  if (!want_axis(e, b, "a", &a[1], -2, r, &p) || !want_axis(e, b, "b", &a[2], -1, r, &q)) return v_err();
  int64_t ia[IR_MAX_IA] = {0};
  for (int k = 0; k < r; k++) ia[k] = k;
  ia[p] = q, ia[q] = p;
  return v_tensor(elab_node(e, IR_PERMUTE, 1, &x, ia, NULL, NULL, loc), loc);
}

/* concat([x, y, ...], axis: 0) */
static Value bi_concat(Elab *e, const Builtin *b, Value *a, Loc loc) {
  if (a[0].kind != V_LIST || a[0].nitems < 1 || a[0].nitems > IR_MAX_IN) {
    diag_error(a[0].loc, "concat takes a list of 1 to %d tensors", IR_MAX_IN);
    return v_err();
  }
  int in[IR_MAX_IN];
  for (int k = 0; k < a[0].nitems; k++) {
    Value it = a[0].items[k];
    it.loc = item_loc(&a[0], k);
    if (!want_tensor(e, b, &it, &in[k])) return v_err();
  }
  int ax;
  if (!want_axis(e, b, "axis", &a[1], 0, type_of(e, in[0])->shape.rank, &ax)) return v_err();
  int64_t ia[IR_MAX_IA] = {ax};
  return v_tensor(elab_node(e, IR_CONCAT, a[0].nitems, in, ia, NULL, NULL, loc), loc);
}

/* split(x, parts, axis: -1): a list of `parts` equal slices along axis, or
 * slices of the sizes in a list */
static Value bi_split(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  Type t = *type_of(e, x);
  int ax;
  if (!want_axis(e, b, "axis", &a[2], -1, t.shape.rank, &ax)) return v_err();
  int64_t size = t.shape.d[ax], sizes[64];
  int n;
  if (size == IR_DIM_B) {
    diag_error(a[2].kind == V_NONE ? a[0].loc : a[2].loc, "split cannot divide the batch dimension B");
    note_origin(e, b, 0, &a[0]);
    return v_err();
  }
  if (a[1].kind == V_LIST) {
    n = a[1].nitems;
    int64_t total = 0;
    for (int k = 0; k < n && k < 64; k++) {
      if (a[1].items[k].kind != V_INT || a[1].items[k].num < 1) {
        diag_error(item_loc(&a[1], k), "split sizes must be positive integers");
        return v_err();
      }
      total += sizes[k] = (int64_t)a[1].items[k].num;
    }
    if (n > 64 || total != size) {
      diag_error(a[1].loc, "split sizes add up to %lld, but the axis has %lld", (long long)total, (long long)size);
      return v_err();
    }
  } else {
    int64_t parts;
    if (!want_int(e, b, "parts", &a[1], 0, 1, &parts)) return v_err();
    if (parts > 64 || size % parts) {
      diag_error(a[1].loc, "split cannot divide an axis of %lld into %lld equal parts", (long long)size,
                 (long long)parts);
      return v_err();
    }
    n = (int)parts;
    for (int k = 0; k < n; k++) sizes[k] = size / parts;
  }
  Value *items = arena_alloc(e->arena, sizeof(Value) * (size_t)n);
  int64_t at = 0;
  for (int k = 0; k < n; k++) {
    int64_t ia[IR_MAX_IA] = {0};
    ia[ax] = at;
    Type pt = t;
    pt.shape.d[ax] = sizes[k];
    items[k] = v_tensor(elab_node(e, IR_SLICE, 1, &x, ia, NULL, &pt, loc), loc);
    at += sizes[k];
  }
  return (Value){.kind = V_LIST, .items = items, .nitems = n, .loc = loc};
}

/* The bound of the indices node i holds, where the program knows it: an
 * arange(n) (n; *arange set), or the model's token input (the data's
 * vocabulary), seen through reshapes; 0 where it does not. */
static int64_t index_bound(const Elab *e, int i, bool *arange) {
  const IrGraph *g = e->g;
  while (g->nodes[i].op == IR_RESHAPE) i = g->nodes[i].in[0];
  const IrNode *n = &g->nodes[i];
  *arange = n->op == IR_ARANGE && n->type.shape.rank == 1;
  if (*arange) return n->type.shape.d[0];
  if (n->op == IR_INPUT && n->ia[0] == 0 && n->type.dtype == DT_I32 && e->prog->data.vocab > 0)
    return e->prog->data.vocab;
  return 0;
}

/* gather(table, indices): rows of table [V, D...] at integer indices */
static Value bi_gather(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int t, i;
  if (!want_tensor(e, b, &a[0], &t) || !want_tensor(e, b, &a[1], &i)) return v_err();
  /* indices the table has no row for read zero rows at run time: refused where they are known */
  bool arange;
  int64_t bound = index_bound(e, i, &arange), rows = e->g->nodes[t].type.shape.d[0];
  if (rows > 0 && bound > rows && e->g->nodes[t].type.shape.rank >= 1) {
    if (arange)
      diag_error(a[1].loc, "gather: arange(%lld) reads rows 0 to %lld, but the table has %lld rows; give the table "
                 "at least %lld (an nn.embedding of positions needs one row per position: nn.embedding(arange(T), "
                 "T_max, D) with T_max >= T)", (long long)bound, (long long)bound - 1, (long long)rows,
                 (long long)bound);
    else
      diag_error(a[1].loc, "gather: data '%s' has token ids 0 to %lld (vocab %lld), but the table has %lld rows; "
                 "give it one row per token id (nn.embedding(tokens, %lld, D))", e->prog->data.name,
                 (long long)bound - 1, (long long)bound, (long long)rows, (long long)bound);
    return v_err();
  }
  return v_tensor(elab_node(e, IR_GATHER, 2, (int[]){t, i}, NULL, NULL, NULL, loc), loc);
}

/* arange(n): i32[n] holding 0 .. n-1 */
static Value bi_arange(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int64_t n;
  if (!want_int(e, b, "n", &a[0], 0, 1, &n)) return v_err();
  Type t = {DT_I32, SHAPE(n)};
  return v_tensor(elab_node(e, IR_ARANGE, 0, NULL, NULL, NULL, &t, loc), loc);
}

/* tril(n, m: n, k: 0): f32[n, m], 1 on and below diagonal k, else 0 */
static Value bi_tril(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int64_t n, m, k = 0;
  if (!want_int(e, b, "n", &a[0], 0, 1, &n) || !want_int(e, b, "m", &a[1], n, 1, &m)) return v_err();
  if (a[2].kind == V_INT) k = (int64_t)a[2].num;
  else if (a[2].kind != V_NONE) {
    char d[128];
    diag_error(a[2].loc, "'k' of tril must be an integer, not %s", value_desc(e, &a[2], d, sizeof d));
    return v_err();
  }
  Type t = {DT_F32, SHAPE(n, m)};
  int64_t ia[IR_MAX_IA] = {k};
  return v_tensor(elab_node(e, IR_TRIL, 0, NULL, ia, NULL, &t, loc), loc);
}

/* softmax(x), log_softmax(x), layernorm(x, eps: 1e-5): along the last axis */
static Value bi_rowwise(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  double eps = 0;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  if (b->op == IR_LAYERNORM) {
    if (!want_number(e, b, "eps", &a[1], 1e-5, &eps)) return v_err();
    if (!(eps > 0)) {
      diag_error(a[1].loc, "'eps' of layernorm must be > 0, not %s", num_str(eps));
      return v_err();
    }
  }
  double fa[IR_MAX_FA] = {eps};
  return v_tensor(elab_node(e, (IrOp)b->op, 1, &x, NULL, fa, NULL, loc), loc);
}

/* f32(x): integers (or 16-bit floats) converted to f32 */
static Value bi_cast(Elab *e, const Builtin *b, Value *a, Loc loc) {
  if (a[0].kind == V_INT || a[0].kind == V_FLOAT) return v_num(V_FLOAT, a[0].num, loc);
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  Type t = *type_of(e, x);
  if (t.dtype == DT_F32) return v_tensor(x, loc);
  t.dtype = DT_F32;
  return v_tensor(elab_node(e, IR_CAST, 1, &x, NULL, NULL, &t, loc), loc);
}

/* sum(x, axis: int | [ints] = all, keep: bool = false); max(a, b) of numbers */
static Value bi_reduce(Elab *e, const Builtin *b, Value *a, Loc loc) {
  if (b->op == IR_MAX && (a[0].kind == V_INT || a[0].kind == V_FLOAT)) {
    double y;
    if (!want_number(e, b, "b", &a[1], a[0].num, &y)) return v_err();
    return v_num(a[0].kind == V_INT && a[1].kind == V_INT ? V_INT : V_FLOAT, fmax(a[0].num, y), loc);
  }
  if (b->op == MIN_NUMBERS) {
    double x, y;
    if (!want_number(e, b, "a", &a[0], 0, &x) || !want_number(e, b, "b", &a[1], 0, &y)) return v_err();
    return v_num(a[0].kind == V_INT && a[1].kind == V_INT ? V_INT : V_FLOAT, fmin(x, y), loc);
  }
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  int rank = type_of(e, x)->shape.rank;
  if (rank == 0) return v_tensor(x, loc);
  int64_t mask = 0;
  Value *axes = a[1].kind == V_LIST ? a[1].items : &a[1];
  int naxes = a[1].kind == V_LIST ? a[1].nitems : (a[1].kind == V_NONE ? 0 : 1);
  if (naxes == 0) mask = (1 << rank) - 1;
  for (int i = 0; i < naxes; i++) {
    if (axes[i].kind != V_INT || axes[i].num < -rank || axes[i].num >= rank) {
      diag_error(a[1].kind == V_LIST ? item_loc(&a[1], i) : a[1].loc,
                 "'axis' of '%s' must be an integer in [%d, %d] for a rank-%d tensor",
                 b->name, -rank, rank - 1, rank);
      return v_err();
    }
    int ax = (int)axes[i].num;
    if (ax < 0) ax += rank;
    mask |= 1 << ax;
  }
  bool keep;
  if (!want_bool(e, b, "keep", &a[2], false, &keep)) return v_err();
  int64_t ia[IR_MAX_IA] = {mask, keep};
  return v_tensor(elab_node(e, (IrOp)b->op, 1, &x, ia, NULL, NULL, loc), loc);
}

static bool shape_from_list(Elab *e, Value *v, Shape *s, const char *what) {
  if (v->kind != V_LIST || v->nitems > IR_MAX_RANK) {
    diag_error(v->loc, "%s must be a list of at most %d dimensions", what, IR_MAX_RANK);
    return false;
  }
  s->rank = v->nitems;
  double numel = 1;
  for (int i = 0; i < v->nitems; i++) {
    Value *d = &v->items[i];
    if (d->kind == V_BATCH) s->d[i] = IR_DIM_B;
    else if (d->kind == V_INT && d->num >= 1 && d->num <= 1099511627776.0) s->d[i] = (int64_t)d->num;
    else if (d->kind == V_TENSOR && elab_from_batch(e, d->node)) {
      diag_error(item_loc(v, i), "B may appear in a shape only by itself, as the batch dimension: %s, not a "
                                 "dimension", elab_batch_not_number);
      return false;
    } else {
      char desc[128];
      bool number = d->kind == V_INT || d->kind == V_FLOAT;
      const Item *in = e->frame ? e->frame->item : NULL;
      Loc call = e->frame ? e->frame->call_site : NO_LOC;
      if (number && e->bad_dim && e->bad_dim_item == in && e->bad_dim_num == d->num &&
          e->bad_dim_call.file == call.file && e->bad_dim_call.line == call.line && e->bad_dim_call.col == call.col)
        return false;  /* said already, for this call */
      diag_error(item_loc(v, i), "a dimension must be a positive integer (at most 2^40) or B, not %s%s",
                 value_desc(e, d, desc, sizeof desc),
                 d->kind == V_FLOAT && d->num > 0 && d->num != floor(d->num)
                     ? "; a size divided by a count that does not divide it (as D / heads) is not a whole "
                       "number: choose sizes that divide evenly"
                     : "");
      if (number) e->bad_dim = true, e->bad_dim_item = in, e->bad_dim_call = call, e->bad_dim_num = d->num;
      return false;
    }
    if (d->kind != V_BATCH) numel *= d->num;
  }
  /* larger element counts would overflow the int64 sizes of the IR */
  if (numel > 1099511627776.0) {
    diag_error(v->loc, "%s has %s elements per example (the limit is 2^40)", what, num_str(numel));
    return false;
  }
  return true;
}

/* reshape(x, [dims]) — B may appear once, where the batch dimension is */
static Value bi_reshape(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  Type t = *type_of(e, x);
  if (!shape_from_list(e, &a[1], &t.shape, "the shape of 'reshape'")) return v_err();
  return v_tensor(elab_node(e, IR_RESHAPE, 1, &x, NULL, NULL, &t, loc), loc);
}

/* flatten(x): [N, d1, d2, ...] -> [N, d1*d2*...] */
static Value bi_flatten(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  if (!want_tensor(e, b, &a[0], &x)) return v_err();
  Type t = *type_of(e, x);
  if (t.shape.rank < 2) {
    char ts[128];
    diag_error(a[0].loc, "flatten needs at least two dimensions, not %s", type_str(&t, ts, sizeof ts));
    note_origin(e, b, 0, &a[0]);
    return v_err();
  }
  int64_t n = 1;
  for (int i = 1; i < t.shape.rank; i++) {
    if (t.shape.d[i] == IR_DIM_B) {
      char ts[128];
      diag_error(a[0].loc, "flatten keeps the first dimension and B must be first, not in %s",
                 type_str(&t, ts, sizeof ts));
      note_origin(e, b, 0, &a[0]);
      return v_err();
    }
    n *= t.shape.d[i];
  }
  t.shape = SHAPE(t.shape.d[0], n);
  return v_tensor(elab_node(e, IR_RESHAPE, 1, &x, NULL, NULL, &t, loc), loc);
}

/* conv(x, w, stride: 1, pad: 0) — stride and pad: an int or [h, w] */
static Value bi_conv(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x, w;
  int64_t st[2], pd[2];
  if (!want_tensor(e, b, &a[0], &x) || !want_tensor(e, b, &a[1], &w) ||
      !want_pair(e, b, "stride", &a[2], 1, 1, st) || !want_pair(e, b, "pad", &a[3], 0, 0, pd))
    return v_err();
  int64_t ia[IR_MAX_IA] = {st[0], st[1], pd[0], pd[1]};
  return v_tensor(elab_node(e, IR_CONV2D, 2, (int[]){x, w}, ia, NULL, NULL, loc), loc);
}

/* maxpool(x, window, stride: window, pad: 0) over the last two axes */
static Value bi_pool(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  int64_t win[2], st[2], pd[2];
  if (!want_tensor(e, b, &a[0], &x) || !want_pair(e, b, "window", &a[1], 2, 1, win)) return v_err();
  if (!want_pair(e, b, "stride", &a[2], win[0], 1, st) || !want_pair(e, b, "pad", &a[3], 0, 0, pd))
    return v_err();
  if (a[2].kind == V_NONE) st[1] = win[1];
  int64_t ia[IR_MAX_IA] = {win[0], win[1], st[0], st[1], pd[0], pd[1]};
  return v_tensor(elab_node(e, (IrOp)b->op, 1, &x, ia, NULL, NULL, loc), loc);
}

/* onehot(labels, classes) */
static Value bi_onehot(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int y;
  int64_t k;
  if (!want_tensor(e, b, &a[0], &y) || !want_int(e, b, "classes", &a[1], 0, 1, &k)) return v_err();
  const Type *yt = type_of(e, y);
  if (yt->dtype != DT_I32 || yt->shape.rank != 1) {
    char d[128];
    diag_error(a[0].loc, "onehot needs i32[N] class labels, not %s", type_str(yt, d, sizeof d));
    note_origin(e, b, 0, &a[0]);
    return v_err();
  }
  Type t = {DT_F32, SHAPE(yt->shape.d[0], k)};
  return v_tensor(elab_node(e, IR_ONEHOT, 1, &y, NULL, NULL, &t, loc), loc);
}

/* softmax_cross_entropy(logits, labels, label_smoothing: 0): the per-row
 * cross-entropy f32[N...] of logits f32[N..., K] against i32[N...] class
 * labels (a row per example, or per position of a sequence), as one op whose
 * gradient is one op (softmax - target) */
static Value bi_xent(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int l, y;
  double s;
  if (!want_tensor(e, b, &a[0], &l) || !want_tensor(e, b, &a[1], &y) ||
      !want_number(e, b, "label_smoothing", &a[2], 0.0, &s))
    return v_err();
  const Type *lt = type_of(e, l), *yt = type_of(e, y);
  char d1[128], d2[128];
  bool fit = lt->dtype == DT_F32 && yt->dtype == DT_I32 && lt->shape.rank == yt->shape.rank + 1;
  for (int i = 0; fit && i < yt->shape.rank; i++) fit = lt->shape.d[i] == yt->shape.d[i];
  if (!fit) {
    diag_error(loc, "softmax_cross_entropy needs f32[N..., K] logits and i32[N...] labels (one per row of the "
                    "logits), not %s and %s", type_str(lt, d1, sizeof d1), type_str(yt, d2, sizeof d2));
    note_origin(e, b, 0, &a[0]);
    if (a[1].node != a[0].node) note_origin(e, b, 1, &a[1]);
    return v_err();
  }
  if (s < 0 || s >= 1) {
    diag_error(a[2].kind == V_NONE ? loc : a[2].loc, "label smoothing must be in [0, 1), not %s", num_str(s));
    return v_err();
  }
  double fa[IR_MAX_FA] = {s};
  return v_tensor(elab_node(e, IR_XENT, 2, (int[]){l, y}, NULL, fa, NULL, loc), loc);
}

/* dropout(x, p): identity in evaluation; in training x * mask, the mask a
 * pure function of (seed, step, site) so the backward pass recomputes it */
static Value bi_dropout(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x;
  double p;
  if (!want_tensor(e, b, &a[0], &x) || !want_number(e, b, "p", &a[1], 0.5, &p)) return v_err();
  if (p < 0 || p >= 1) {
    diag_error(a[1].loc, "the dropout probability must be in [0, 1), not %s", num_str(p));
    return v_err();
  }
  int site = e->dropout_ids++;
  if (!e->training || p == 0) return v_tensor(x, e->arg_origin ? e->arg_origin[0] : loc);
  Type t = *type_of(e, x);
  int64_t ia[IR_MAX_IA] = {site};
  double fa[IR_MAX_FA] = {p};
  int mask = elab_node(e, IR_DROPOUT_MASK, 0, NULL, ia, fa, &t, loc);
  return v_tensor(elab_node(e, IR_MUL, 2, (int[]){x, mask}, NULL, NULL, NULL, loc), loc);
}

/* matmul(a, b, trans_a: false, trans_b: false) */
static Value bi_matmul(Elab *e, const Builtin *b, Value *a, Loc loc) {
  int x, y;
  bool ta, tb;
  if (!want_tensor(e, b, &a[0], &x) || !want_tensor(e, b, &a[1], &y) ||
      !want_bool(e, b, "trans_a", &a[2], false, &ta) || !want_bool(e, b, "trans_b", &a[3], false, &tb))
    return v_err();
  int64_t ia[IR_MAX_IA] = {ta, tb};
  return v_tensor(elab_node(e, IR_MATMUL, 2, (int[]){x, y}, ia, NULL, NULL, loc), loc);
}

/* ---- initializers ------------------------------------------------------------------ */

static Value init_value(InitKind k, double a, double b, int64_t fi, int64_t fo, Loc loc) {
  Value v = {.kind = V_INIT, .loc = loc};
  v.init = (Init){k, a, b, fi, fo};
  return v;
}

static Value bi_init(Elab *e, const Builtin *b, Value *a, Loc loc) {
  InitKind k = (InitKind)b->op;
  double x = 0, y = 0;
  int64_t fi = 0, fo = 0;
  switch (k) {
  case INIT_ZEROS: case INIT_ONES: break;
  case INIT_CONST:
    if (!want_number(e, b, "value", &a[0], 0, &x)) return v_err();
    break;
  case INIT_UNIFORM:
    if (!want_number(e, b, "low", &a[0], -0.05, &x) || !want_number(e, b, "high", &a[1], 0.05, &y))
      return v_err();
    if (!(x < y)) {
      diag_error(loc, "uniform needs low < high");
      return v_err();
    }
    break;
  case INIT_NORMAL:
    if (!want_number(e, b, "mean", &a[0], 0, &x) || !want_number(e, b, "std", &a[1], 0.01, &y))
      return v_err();
    if (y < 0) {
      diag_error(loc, "normal needs std >= 0");
      return v_err();
    }
    break;
  case INIT_HE_UNIFORM: case INIT_HE_NORMAL:
    if (!want_int(e, b, "fan_in", &a[0], 0, 1, &fi)) return v_err();
    break;
  case INIT_GLOROT_UNIFORM: case INIT_GLOROT_NORMAL:
    if (!want_int(e, b, "fan_in", &a[0], 0, 1, &fi) || !want_int(e, b, "fan_out", &a[1], 0, 1, &fo))
      return v_err();
    break;
  }
  return init_value(k, x, y, fi, fo, loc);
}

/* ---- the table --------------------------------------------------------------------- */

/* the elementwise ops with a built-in name, from ops.def (NULL names are skipped) */
static const Builtin ew_builtins[] = {
#define EW1(id, surface, expr, help) {surface, bi_unary, IR_##id, {"x"}, 1, help},
#define EW2(id, surface, expr, help) {surface, bi_binary, IR_##id, {"a", "b"}, 2, help},
#define EW3(id, surface, expr, help) {surface, bi_ternary, IR_##id, {"cond", "a", "b"}, 3, help},
#define OP(...)
#include "ops.def"
#undef OP
#undef EW1
#undef EW2
#undef EW3
};

static const Builtin builtins[] = {
    {"cos", bi_math, 0, {"x"}, 1, "cosine of a number"},
    {"sin", bi_math, 0, {"x"}, 1, "sine of a number"},
    {"floor", bi_math, 0, {"x"}, 1, "largest integer <= a number"},
    {"sum", bi_reduce, IR_SUM, {"x", "axis", "keep"}, 1, "sum over axes (all by default)"},
    {"mean", bi_reduce, IR_MEAN, {"x", "axis", "keep"}, 1, "mean over axes (all by default)"},
    {"max", bi_reduce, IR_MAX, {"x", "axis", "keep"}, 1, "maximum over axes; max(a, b) of numbers"},
    {"min", bi_reduce, MIN_NUMBERS, {"a", "b"}, 2, "min(a, b) of numbers"},
    {"reshape", bi_reshape, 0, {"x", "shape"}, 2, "same elements, new shape"},
    {"flatten", bi_flatten, 0, {"x"}, 1, "[N, ...] -> [N, product]"},
    {"matmul", bi_matmul, 0, {"a", "b", "trans_a", "trans_b"}, 2, "matrix product"},
    {"conv", bi_conv, 0, {"x", "w", "stride", "pad"}, 2, "2-D convolution, NCHW"},
    {"maxpool", bi_pool, IR_MAXPOOL2D, {"x", "window", "stride", "pad"}, 2, "2-D max pooling"},
    {"avgpool", bi_pool, IR_AVGPOOL2D, {"x", "window", "stride", "pad"}, 2, "2-D average pooling"},
    {"onehot", bi_onehot, 0, {"labels", "classes"}, 2, "i32[N] -> f32[N, classes]"},
    {"permute", bi_permute, 0, {"x", "axes"}, 2, "axes reordered: axis k of the result is axis axes[k]"},
    {"transpose", bi_transpose, 0, {"x", "a", "b"}, 1, "two axes swapped (the last two by default)"},
    {"concat", bi_concat, 0, {"xs", "axis"}, 1, "a list of tensors joined along an axis (0 by default)"},
    {"split", bi_split, 0, {"x", "parts", "axis"}, 2, "a list of equal slices (or of given sizes) along an axis"},
    {"gather", bi_gather, 0, {"table", "indices"}, 2, "rows of table [V, ...] at i32 indices (an embedding)"},
    {"arange", bi_arange, 0, {"n"}, 1, "i32[n]: 0, 1, ..., n - 1"},
    {"tril", bi_tril, 0, {"n", "m", "k"}, 1, "f32[n, m]: 1 on and below diagonal k, else 0 (a causal mask)"},
    {"softmax", bi_rowwise, IR_SOFTMAX, {"x"}, 1, "softmax along the last axis"},
    {"log_softmax", bi_rowwise, IR_LOG_SOFTMAX, {"x"}, 1, "log-softmax along the last axis"},
    {"layernorm", bi_rowwise, IR_LAYERNORM, {"x", "eps"}, 1,
     "(x - mean) / sqrt(var + eps) along the last axis (no gain or bias)"},
    {"f32", bi_cast, 0, {"x"}, 1, "converted to f32 (from i32, bf16 or f16)"},
    {"softmax_cross_entropy", bi_xent, 0, {"logits", "labels", "label_smoothing"}, 2,
     "f32[N, K], i32[N] -> f32[N]: cross-entropy of each row's softmax"},
    {"dropout", bi_dropout, 0, {"x", "p"}, 1, "zero elements with probability p (training only)"},
    {"zeros", bi_init, INIT_ZEROS, {0}, 0, "initializer: 0"},
    {"ones", bi_init, INIT_ONES, {0}, 0, "initializer: 1"},
    {"constant", bi_init, INIT_CONST, {"value"}, 1, "initializer: a constant"},
    {"uniform", bi_init, INIT_UNIFORM, {"low", "high"}, 0, "initializer: U[low, high)"},
    {"normal", bi_init, INIT_NORMAL, {"mean", "std"}, 0, "initializer: N(mean, std^2)"},
    {"he_uniform", bi_init, INIT_HE_UNIFORM, {"fan_in"}, 1, "initializer: U(+-sqrt(6/fan_in))"},
    {"he_normal", bi_init, INIT_HE_NORMAL, {"fan_in"}, 1, "initializer: N(0, 2/fan_in)"},
    {"glorot_uniform", bi_init, INIT_GLOROT_UNIFORM, {"fan_in", "fan_out"}, 2,
     "initializer: U(+-sqrt(6/(fan_in+fan_out)))"},
    {"glorot_normal", bi_init, INIT_GLOROT_NORMAL, {"fan_in", "fan_out"}, 2,
     "initializer: N(0, 2/(fan_in+fan_out))"},
};

const Builtin *builtin_at(int i) {
  if (i < 0) return NULL;
  for (size_t k = 0; k < ARRAY_LEN(ew_builtins); k++)
    if (ew_builtins[k].name && i-- == 0) return &ew_builtins[k];
  return (size_t)i < ARRAY_LEN(builtins) ? &builtins[i] : NULL;
}

const Builtin *builtin_find(const char *name) {
  for (size_t k = 0; k < ARRAY_LEN(ew_builtins); k++)
    if (ew_builtins[k].name && strcmp(ew_builtins[k].name, name) == 0) return &ew_builtins[k];
  for (size_t k = 0; k < ARRAY_LEN(builtins); k++)
    if (strcmp(builtins[k].name, name) == 0) return &builtins[k];
  return NULL;
}

void builtin_unknown_name(Loc loc, const char *name, const char *suggestion) {
  static const struct {
    const char *name, *hint;
  } hints[] = {
      {"slice", "a slice is an index with ranges, x[:, 0:D] (split(x, parts, axis: k) cuts equal parts)"},
      {"narrow", "a slice is an index with ranges, x[:, 0:D] (split(x, parts, axis: k) cuts equal parts)"},
      {"chunk", "split(x, parts, axis: k) cuts equal parts"},
      {"cat", "concat(xs, axis: k) joins a list of tensors"},
      {"concatenate", "concat(xs, axis: k) joins a list of tensors"},
      {"view", "reshape(x, shape)"},
      {"clamp", "minimum(maximum(x, lo), hi) clamps"},
      {"clip", "minimum(maximum(x, lo), hi) clamps"},
      {"mm", "a @ b, or matmul(a, b, trans_a: true)"},
      {"bmm", "a @ b multiplies batches of matrices"},
      {"masked_fill", "where(mask, a, b) selects"},
      {"silu", "x * sigmoid(x)"},
  };
  for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
    if (!strcmp(hints[i].name, name)) {
      diag_error(loc, "unknown name '%s': astc has no '%s'; %s", name, name, hints[i].hint);
      return;
    }
  if (suggestion) diag_error(loc, "unknown name '%s'; did you mean '%s'?", name, suggestion);
  else diag_error(loc, "unknown name '%s'", name);
}
