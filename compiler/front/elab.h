/* elab.h — the elaborator: runs model, layer and fn bodies at compile time
 * with concrete shapes and emits graph IR (internal to compiler/).
 *
 * Elaboration is abstract interpretation of the syntax tree: values are
 * compile-time numbers, strings and lists, or tensors (IR nodes). A layer
 * call is instantiated — its parameters become program variables named after
 * the call site — and its body runs with the argument shapes bound, which is
 * where shape inference and checking happen. The model is elaborated once in
 * training mode (the step graph) and once in evaluation mode.
 */
#ifndef ASTC_ELAB_H
#define ASTC_ELAB_H

#include "sema.h"
#include "shape.h"

typedef enum VKind {
  V_ERR,      /* an error was already reported; stay quiet */
  V_NONE,     /* no value (an optional argument not given) */
  V_TENSOR,   /* node */
  V_INT,      /* num (integral) */
  V_FLOAT,    /* num */
  V_BOOL,     /* num (0 or 1) */
  V_STR,      /* str */
  V_SYMBOL,   /* str: a bare name used as a symbol (linear, sqrt, ...) */
  V_LIST,     /* items[nitems] */
  V_RANGE,    /* items[0] -> items[1] */
  V_BATCH,    /* the batch dimension B */
  V_ITEM,     /* item (layer, fn, model, data) of module */
  V_MODULE,   /* module */
  V_BUILTIN,  /* builtin */
  V_INIT,     /* init: a parameter initializer */
  V_PARTIAL,  /* callee with bound named arguments: cross_entropy(label_smoothing: 0.1) */
} VKind;

typedef struct Builtin Builtin;
typedef struct Value Value;

struct Value {
  VKind kind;
  Loc loc;                 /* where the value was written or computed */
  int node;
  double num;
  const char *str;
  Value *items;
  int nitems;
  const Item *item;
  ModuleInfo *module;
  const Builtin *builtin;
  Init init;
  Value *callee;           /* V_PARTIAL */
  const Arg *bound;        /* V_PARTIAL: named arguments (evaluated lazily) */
  int nbound;
};

/* A local variable of a body being elaborated. */
typedef struct Binding {
  const char *name;
  Value value;
  bool is_param_var;       /* bound by a `param` or `state` statement */
  int var;                 /* its program variable */
  Loc updated_at;          /* a state's `update` (file 0: not yet updated) */
} Binding;

typedef struct Frame {
  VEC(Binding) vars;
  ModuleInfo *module;      /* names resolve in this module's scope */
  const Item *item;        /* the layer/fn/model being run */
  int layer;               /* innermost layer instance, or -1 */
  const char *prefix;      /* instance path for variable names ("" at model) */
  Loc call_site;
  struct Frame *parent;
  struct Frame *naming;    /* the layer or model frame whose instance names a fn's calls share */
  bool returned;
  Value ret;
  /* names assigned exactly once in this body (for naming layer instances) */
  VEC(const char *) single_assigned;
  VEC(const char *) used_instance_names;
  VEC(const char *) kind_counts_name;
  VEC(int) kind_counts;
} Frame;

typedef struct Elab {
  Sema *sema;
  IrProgram *prog;
  IrGraph *g;              /* the graph being built */
  bool training;           /* training-mode elaboration (dropout, `if training`) */
  bool second_pass;        /* variables and layers exist; look them up */
  /* elaborating the training step again (IrVariantStep): at a shorter context
   * (seqlen warmup) or at smaller images (progressive resizing) */
  int64_t context;
  int64_t height, width;
  int resize_mode;         /* ResizeMode */
  const char *variant;     /* "a context of 8 tokens for seqlen warmup", or NULL */
  const bool *eval_layers; /* per layer: `training` is false in it (a frozen layer), or NULL */
  int depth;               /* call depth */
  int dropout_ids;
  IrRole role;
  Arena *arena;            /* values, lists */
  Frame *frame;
  /* the evaluation pass's check that it calls the training pass's layers
   * in order (elab.c, eval_pass_layer) */
  const IrGraph *seq_graph;
  int seq_next;
  bool seq_failed;
  /* the last call named in a backtrace note, and the error count then */
  Loc bt_loc;
  int bt_count;
  /* while a builtin runs: where each argument's value was made (its
   * Value's loc is where the argument is written in the call) */
  const Loc *arg_origin;
  /* the last value refused as a dimension, and in which call (the body's
   * item and call site): the same value in one body (dh = D / heads, in
   * q's, k's and v's reshapes) is one mistake, reported once */
  bool bad_dim;
  const Item *bad_dim_item;
  Loc bad_dim_call;
  double bad_dim_num;
} Elab;

#define ELAB_MAX_CALL_DEPTH 64

void elab_frame_free(Frame *f);

/* ---- values -------------------------------------------------------------------- */
Value v_err(void);
Value v_num(VKind k, double x, Loc loc);
Value v_tensor(int node, Loc loc);
const char *vkind_name(VKind k);
/* "f32[B,784]" for tensors, "int 3" etc. otherwise */
const char *value_desc(Elab *e, const Value *v, char *buf, size_t cap);

/* ---- expressions, statements, calls (elab.c) ------------------------------------- */
Value elab_expr(Elab *e, const Expr *x);
/* Runs a layer/fn/model item as a call with evaluated arguments. `hint` names
 * the layer instance (the variable it is assigned to) or NULL. */
Value elab_call_item(Elab *e, const Item *item, ModuleInfo *m, Value *args,
                     const char **names, Loc *name_locs, int nargs, Loc call_loc,
                     const char *hint);
/* Calls any callable value (item, builtin, partial) with evaluated arguments. */
Value elab_call_value(Elab *e, Value callee, Value *args, const char **names,
                      Loc *name_locs, int nargs, Loc call_loc, const char *hint);
/* Looks up a name in the frame, its module, then the builtins. */
Value elab_lookup(Elab *e, const char *name, Loc loc, bool quiet);
/* Turns numbers and B into tensors where an operation needs tensors. */
int elab_as_tensor(Elab *e, Value v);
/* Whether a rank-0 tensor was computed from the batch size B (2 * B), and
 * the words that explain why such a value is no dimension or number. */
bool elab_from_batch(Elab *e, int node);
extern const char *const elab_batch_not_number;

/* ---- building nodes ------------------------------------------------------------------ */
/* Adds a node whose type the op's shape rule computes; on invalid operands
 * reports a located error with notes on where each operand came from, and
 * returns -1. */
int elab_node(Elab *e, IrOp op, int nin, const int *in, const int64_t *ia,
              const double *fa, const Type *given, Loc loc);
int elab_const(Elab *e, double v, Loc loc);
int elab_scalar(Elab *e, IrScalar s, Loc loc);

/* ---- builtins (builtins.c) --------------------------------------------------------- */
typedef Value BuiltinFn(Elab *e, const Builtin *b, Value *args, Loc loc);

struct Builtin {
  const char *name;
  BuiltinFn *fn;
  int op;                      /* IrOp for generic handlers */
  const char *params[6];       /* parameter names, in positional order */
  int required;                /* how many of them must be given */
  const char *help;
};

const Builtin *builtin_find(const char *name);
const Builtin *builtin_at(int i);  /* NULL past the end */
/* The error for an unknown name: what astc writes instead if other
 * frameworks have the name (PyTorch's slice, cat, view, clamp ...), else
 * the suggestion (NULL: none). */
void builtin_unknown_name(Loc loc, const char *name, const char *suggestion);
/* Binds positional and named arguments to b's parameters (V_NONE for absent);
 * reports errors and returns false on a mismatch. Each bound value's loc is
 * where the argument is written (the call's, for an absent one), so that
 * errors about it show the call; origin[k] is where its value was made. */
bool bind_builtin_args(Elab *e, const Builtin *b, Value *args, const char **names,
                       Loc *name_locs, int nargs, Value *out, Loc *origin, Loc loc);

/* ---- types (elab.c) ------------------------------------------------------------------- */
/* Checks a value against a declared parameter type, binding dimension names
 * to the frame as it goes (pattern matching). */
bool elab_match_type(Elab *e, const TypeExpr *t, Value *v, const char *what, Loc loc);
/* Evaluates a tensor type with all dimension names bound; false on error. */
bool elab_eval_type(Elab *e, const TypeExpr *t, Type *out, bool allow_batch);

#endif
