/* ir.h — the graph IR: typed SSA tensor ops, and the training program that
 * holds them.
 *
 * A graph is an array of nodes in execution order; a node's operands are
 * indices of earlier nodes (SSA by construction). Every op is described once,
 * in ops.def. Shapes are concrete except the batch dimension, IR_DIM_B, which
 * code generation reads at run time (so a last, partial batch needs no
 * separate code).
 */
#ifndef ASTC_IR_H
#define ASTC_IR_H

#include "astrt_abi.h"
#include "diag.h"
#include "schedule.h"

/* The enums the runtime shares (dtypes, run-time scalars, outputs, roles,
 * initializers, variable and data kinds) are rows of the runtime's table,
 * runtime/include/astrt/astrt_abi.h: each enumerator here is defined as its
 * runtime twin (SC_LR = ASTRT_SC_LR), the meaning of each is beside its row. */
#define IR_ABI_ENUMERATOR(rt, ir, name) ir = rt,
/* its printed name, indexed by the enumerator */
#define IR_ABI_NAME(rt, ir, name) [ir] = name,

/* ---- types ---------------------------------------------------------------- */

typedef enum DType { ASTRT_DTYPES(IR_ABI_ENUMERATOR) } DType;

#define IR_MAX_RANK 6
#define IR_DIM_B (-1)   /* the batch dimension */

typedef struct Shape {
  int rank;
  int64_t d[IR_MAX_RANK];
} Shape;

typedef struct Type {
  DType dtype;
  Shape shape;
} Type;

const char *dtype_name(DType t);
int dtype_size(DType t);
bool shape_eq(const Shape *a, const Shape *b);
bool type_eq(const Type *a, const Type *b);
/* Number of elements with the batch dimension taken as `batch`. */
int64_t shape_numel(const Shape *s, int64_t batch);
bool shape_has_batch(const Shape *s);
/* "f32[B,784]" into buf */
const char *type_str(const Type *t, char *buf, size_t cap);
const char *shape_str(const Shape *s, char *buf, size_t cap);
Shape shape_make(int rank, const int64_t *d);
#define SHAPE(...) shape_make((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define SHAPE_SCALAR ((Shape){0, {0}})

/* ---- ops ------------------------------------------------------------------ */

typedef enum IrOp {
#define OP(id, name, arity, cls, shape, grad, cost, rows, flags) IR_##id,
#include "ops.def"
#undef OP
  IR_NUM_OPS
} IrOp;

/* RESIZE2D's ia[0] */
typedef enum ResizeMode { RESIZE_AREA, RESIZE_BILINEAR } ResizeMode;

typedef enum IrOpClass {
  LEAF, EW_UNARY, EW_BINARY, EW_TERNARY, VIEW, BROADCAST, LAYOUT, REDUCE, MATMUL, CONV, POOL,
  ROWWISE, INDEX, SPECIAL, EFFECT,
} IrOpClass;

/* elementwise with broadcasting: one loop over the result (EW_* classes) */
static inline bool ir_class_elementwise(IrOpClass c) { return c == EW_UNARY || c == EW_BINARY || c == EW_TERNARY; }

/* Run-time scalars (SCALAR's ia[0]): SC_LR, SC_STEP, ... (ASTRT_SCALARS). */
typedef enum IrScalar { ASTRT_SCALARS(IR_ABI_ENUMERATOR) SC_NUM = ASTRT_NUM_SCALARS } IrScalar;

/* Output slots (OUTPUT's ia[0]): OUT_LOSS, OUT_CORRECT, OUT_OVERFLOW,
 * OUT_NONFINITE (ASTRT_OUTPUTS). OUTPUT nodes write the first OUT_NUM;
 * OUT_NONFINITE, the last, is written by the generated code itself
 * (diagnosis). */
typedef enum IrOutput { ASTRT_OUTPUTS(IR_ABI_ENUMERATOR) OUT_NUM = OUT_NONFINITE } IrOutput;

const char *ir_scalar_name(IrScalar s);
const char *ir_output_name(IrOutput o);

#define IR_MAX_IN 10  /* a guarded adamw_update with an average and copy-back has 10 */
#define IR_MAX_IA 8
#define IR_MAX_FA 4

/* Which part of the training step a node belongs to: ROLE_FORWARD, ... (ASTRT_NODE_ROLES). */
typedef enum IrRole { ASTRT_NODE_ROLES(IR_ABI_ENUMERATOR) } IrRole;
const char *ir_role_name(IrRole r);

typedef struct IrNode {
  IrOp op;
  Type type;
  int nin;
  int in[IR_MAX_IN];
  int64_t ia[IR_MAX_IA];
  double fa[IR_MAX_FA];
  const char *name;   /* the source variable it was assigned to, or NULL */
  Loc loc;            /* where in the source it came from */
  int layer;          /* index of the layer instance, or -1 */
  IrRole role;
  const SExpr *sx;    /* SCHED: the schedule expression */
  const char *scope;  /* the fn or layer definition it was written in, or NULL */
  int guard;          /* > 0: runs only in steps where block `guard` of layer dropping
                         runs (the graph's gate node with ia[0] = guard is nonzero;
                         passes/drop.c); 0: always */
} IrNode;

/* ia[7] of an update op: its last operand is an "all finite" flag */
#define IR_UPDATE_GUARDED 7
/* ia[5] of an update op: 1 if it also updates its parameter's running
 * average (operands avg, a after the optimizer's own), 2 with copy-back
 * (avg, a, copy); ia[6]: the average's variable (ops.def, sgd_update) */
#define IR_UPDATE_AVERAGE 5
#define IR_UPDATE_SHADOW 6

/* Ops that change variables and obey IR_UPDATE_GUARDED: the optimizer
 * updates and the weight-averaging ops. */
static inline bool ir_guarded_effect(IrOp op) {
  return op == IR_SGD_UPDATE || op == IR_ADAMW_UPDATE || op == IR_AVERAGE || op == IR_AVERAGE_COUNT;
}
/* An update's operands before its running average's (the optimizer's own):
 * sgd 3 or 4 (momentum), adamw 6. */
static inline int ir_update_nbase(const IrNode *n) {
  return n->op == IR_ADAMW_UPDATE ? 6 : n->ia[1] >= 0 ? 4 : 3;
}
/* The running average's operands of an update: 0, 2 or 3. */
static inline int ir_update_navg(const IrNode *n) {
  return n->ia[IR_UPDATE_AVERAGE] == 0 ? 0 : n->ia[IR_UPDATE_AVERAGE] == 2 ? 3 : 2;
}

typedef struct IrGraph {
  IrNode *nodes;
  int len, cap;
} IrGraph;

/* a and b compute the same thing node for node (names, locations and roles
 * aside) */
bool ir_graph_same(const IrGraph *a, const IrGraph *b);

/* FLAGS column of ops.def */
enum {
  F_LOWP = 1 << 0,   /* precision lowering stores its operands in 16 bits by default */
};

typedef struct IrOpInfo {
  const char *name;
  int arity;
  IrOpClass cls;
  unsigned flags;
} IrOpInfo;

extern const IrOpInfo ir_ops[IR_NUM_OPS];

/* ---- op facts and arithmetic (op_facts.c, op_eval.c) ---------------------------- */

/* Whether node i computes each example's result from that example alone
 * (row b of its value from row b of its batch operands), given that its
 * operands do: the ROWS column of ops.def. Leaves answer true; the caller
 * decides which leaves (inputs, frozen parameters) belong to a prefix. */
bool ir_row_independent(const IrGraph *g, int i);
/* Whether op has an EW1/EW2 arithmetic row in ops.def. */
bool ir_has_math(IrOp op);
/* The op's arithmetic in double precision (its EW1 / EW2 row). */
double ir_eval_unary(IrOp op, double x);
double ir_eval_binary(IrOp op, double a, double b);
double ir_eval_ternary(IrOp op, double a, double b, double c);

/* Appends a node; returns its index. */
int ir_add(IrGraph *g, IrNode n);
void ir_graph_free(IrGraph *g);
IrGraph ir_graph_clone(const IrGraph *g);
/* Whether graph g assigns state variable var (an `assign` node writes it). */
bool ir_graph_assigns(const IrGraph *g, int64_t var);
/* Number of uses of each node (array of g->len, caller frees). */
int *ir_use_counts(const IrGraph *g);
/* The gate node of each guard (layer dropping): out[k] for k = 1 .. the
 * largest guard or keep id is the node with op keep and ia[0] = k, or -1.
 * Returns that largest id (0: none); *out is allocated (caller frees). */
int ir_guard_flags(const IrGraph *g, int **out);

/* ---- the training program ---------------------------------------------------- */

/* Initializers of persistent variables: INIT_ZEROS, ... (ASTRT_INIT_KINDS). */
typedef enum InitKind { ASTRT_INIT_KINDS(IR_ABI_ENUMERATOR) } InitKind;

typedef struct Init {
  InitKind kind;
  double a, b;       /* const: a; uniform: [a, b); normal: mean a, std b */
  int64_t fan_in, fan_out;
} Init;
const char *init_kind_name(InitKind k);

/* Variable kinds: VAR_PARAM, VAR_STATE, VAR_OPT (an optimizer slot) and
 * VAR_AVERAGE (weight averaging's running averages and counters) (ASTRT_VAR_KINDS). */
typedef enum VarKind { ASTRT_VAR_KINDS(IR_ABI_ENUMERATOR) } VarKind;

typedef struct IrVar {
  const char *name;  /* dense_1.w, dense_1.w.momentum, ... */
  VarKind kind;
  Shape shape;       /* never has the batch dimension */
  DType dtype;
  Init init;
  int layer;         /* owning layer instance, -1 for none */
  int owner;         /* VAR_OPT, VAR_AVERAGE: the parameter it belongs to, else -1 */
  Loc loc;
} IrVar;

typedef struct IrLayer {
  const char *name;  /* instance name: dense_1, conv_2, block_1.dense_1 */
  const char *kind;  /* the layer definition: dense, conv2d */
  Loc loc;           /* the call site */
  int nparams;       /* trainable parameters it owns */
  bool reads_training; /* its body reads `training` (runs differently in evaluation: batch norm) */
} IrLayer;

/* DATA_IDX, DATA_CSV, DATA_NPY, DATA_SYNTHETIC, DATA_TEXT, DATA_TOKENS (ASTRT_DATA_KINDS). */
typedef enum DataKind { ASTRT_DATA_KINDS(IR_ABI_ENUMERATOR) } DataKind;
/* TARGET_CLASS, TARGET_SEQUENCE, TARGET_REAL (ASTRT_TARGET_KINDS): what y holds per example */
typedef enum TargetKind { ASTRT_TARGET_KINDS(IR_ABI_ENUMERATOR) } TargetKind;
/* GOAL_NONE, GOAL_ACCURACY, GOAL_LOSS (ASTRT_GOALS): the metric of `target = ...` */
typedef enum IrGoal { ASTRT_GOALS(IR_ABI_ENUMERATOR) } IrGoal;
/* CSV_HEADER_AUTO, _NAMES, _SKIP, _NONE (ASTRT_CSV_HEADERS): a CSV file's first line */
typedef enum CsvHeader { ASTRT_CSV_HEADERS(IR_ABI_ENUMERATOR) } CsvHeader;
/* SPLIT_RANDOM, SPLIT_LAST (ASTRT_SPLITS): the examples a holdout takes */
typedef enum SplitKind { ASTRT_SPLITS(IR_ABI_ENUMERATOR) } SplitKind;
/* NORM_SCALAR, NORM_STANDARD (ASTRT_NORMS): how features are normalised */
typedef enum NormKind { ASTRT_NORMS(IR_ABI_ENUMERATOR) } NormKind;

typedef struct DataSpec {
  const char *name;      /* the data item's name */
  DataKind kind;
  const char *source;    /* data set name or directory (idx), file path (csv, npy, tokens), text source */
  const char *y_source;  /* npy labels path */
  const char *test_source;    /* test file; NULL: hold out `holdout` of the training data */
  const char *test_y_source;
  Shape x_shape;         /* one example, as stored ([context] for text and tokens) */
  DType x_dtype;         /* f32, or i32 for token ids */
  TargetKind target;     /* what y holds per example ... */
  int64_t target_size;   /* ... and how many values (1 for a class label, T per sequence) */
  int64_t context, vocab;    /* text/tokens: tokens per example, token ids in [0, vocab) */
  double holdout;        /* without a test source, the fraction of the data held out ... */
  SplitKind split;       /* ... which examples (csv, npy; random: seeded by synth_seed) */
  int64_t classes;       /* > 0 for class labels */
  int label_column;      /* csv */
  CsvHeader header;      /* csv: its first line */
  int sep;               /* csv: the field separator character, 0: detected */
  double mean, std;      /* feature normalisation: (x - mean) / std ... */
  NormKind normalize;    /* ... or per feature (NORM_STANDARD), with the statistics in ... */
  int mean_var, std_var; /* ... these state variables (-1: none) */
  int64_t synth_train, synth_test;  /* synthetic: examples per split */
  int64_t train_examples;    /* size of the training split if known at compile time, else 0 */
  uint64_t synth_seed;   /* the data's seed: synthetic values, a random holdout */
  Loc loc;
} DataSpec;

typedef enum OptKind { OPT_SGD, OPT_ADAMW } OptKind;

typedef struct OptSpec {
  OptKind kind;
  double lr, momentum, weight_decay, beta1, beta2, eps;
  bool nesterov;
  const char *desc;     /* one line, for logs */
  Loc loc;
} OptSpec;

/* A phase: a range of training progress with its own specialised step
 * graph. Progress t is the fraction of the budget's samples seen, so phase
 * boundaries hold whatever the batch size does. */
typedef struct IrPhase {
  double t_begin, t_end;         /* [t_begin, t_end) of progress */
  int64_t batch;                 /* examples per optimizer step */
  int64_t micro;                 /* > 0: the step runs in micro-batches of at most
                                    this many rows, accumulating gradients */
  double lr_scale;               /* learning-rate factor of batch coupling */
  bool *frozen;                  /* per variable (nfrozen_vars): not trained here */
  int nfrozen_vars;
  DType precision;               /* storage of lowered operands (DT_F32: none) */
  IrGraph step;                  /* forward + loss + backward + update */
  const char *why;               /* what changed at its start */
  /* a reused frozen prefix: `prefix` computes per-example features once per
   * phase and the step reads them (input ia[0] = 2) instead of x */
  IrGraph prefix;
  int64_t feature_size;          /* elements per example, > 0 when reused */
  int prefix_from;               /* the first phase of the run of consecutive phases
                                    with this same prefix, whose features this phase
                                    reuses (its own index when it computes them) */
  const char *prefix_layers;     /* the frozen layers it covers, for reports */
  /* sequence-length warmup: the tokens per example of this phase's step (0:
   * the program's context, data.context) and the rows each example becomes
   * (keep: tokens cuts an example of T tokens into T / context rows; 0 or 1:
   * one row) */
  int64_t context;
  int64_t pieces;
  /* selective backprop: in a phase with keep > 0, `score` (forward only)
   * stores each of the batch's rows' own loss term, f32[B]; the driver keeps
   * `kept` of those rows, drawn by loss percentile (P ~ percentile^beta), and
   * runs the step on them alone; with interrupt > 0 every interrupt-th step
   * trains on the whole batch unscored */
  IrGraph score;
  double keep;                   /* the fraction kept (0: no selection) */
  int64_t kept;                  /* rows of the step: the driver's count for a full batch */
  double beta;
  int64_t interrupt;
  /* progressive resizing: the step's images, height x width (0: the data's);
   * the step resizes its input batch itself (resize2d, its first op) */
  int64_t height, width;
  /* weight averaging: the step also updates the running averages */
  bool average;
} IrPhase;

/* The rows of a phase's batch: its examples, times the pieces of each. */
int64_t ir_phase_rows(const IrPhase *ph);
/* The rows its step trains on: the kept rows when it selects, else ir_phase_rows. */
int64_t ir_phase_step_rows(const IrPhase *ph);
/* The rows the step's memory is planned for: the kept rows, or the whole
 * batch when interrupt steps also run it on the whole batch. */
int64_t ir_phase_plan_rows(const IrPhase *ph);
/* Selective backprop's kept rows of a batch of `rows`: floor(keep rows),
 * at least 1 (the runtime's astrt_select_count computes the same). */
int64_t ir_select_count(double keep, int64_t rows);

/* A training step elaborated again at other input shapes, over the same
 * variables: at a shorter context (seqlen warmup; context > 0) or smaller
 * images (progressive resizing; height, width > 0). */
typedef struct IrVariantStep {
  int64_t context;
  int64_t height, width;
  /* freezing (passes/freeze.c): per layer, run as in evaluation (a frozen
   * batch norm normalises with its running statistics and stops updating
   * them); NULL: every layer in training mode */
  const bool *eval_layers;
  IrGraph step;
} IrVariantStep;


/* Whether variable v is frozen in phase ph. */
bool ir_phase_frozen(const IrPhase *ph, int v);

/* Weight averaging's run-time facts (passes/average.c). */
typedef struct IrAverage {
  int count;      /* the variable counting the averages taken, -1: no averaging */
  bool save;      /* --save writes the averages in the parameters' place */
} IrAverage;

struct SpeedupSpec;

typedef struct IrProgram {
  Arena *arena;                  /* names, strings */
  const char *source_path;
  const char *model_name;
  VEC(IrVar) vars;
  VEC(IrLayer) layers;
  DataSpec data;
  OptSpec opt;
  SExpr *lr_schedule;            /* multiplier of opt.lr over progress */
  const char *loss_name;
  int64_t batch;
  int64_t epochs;                /* budget in epochs ...                 */
  int64_t steps;                 /* ... or in optimizer steps (computed)  */
  int64_t eval_batch;
  int64_t eval_every;            /* > 0: evaluate every this many steps too */
  int64_t eval_samples;          /* > 0: test examples of an evaluation before the last */
  uint64_t seed;
  IrGoal goal;                   /* the target's metric (GOAL_NONE: none) ... */
  double target;                 /* ... accuracy >= target, or loss <= target */
  double loss_scale;             /* fp16 loss scaling: initial scale ...     */
  int64_t loss_scale_growth;     /* ... and clean steps before it doubles (0: off) */
  Type input_type, label_type;   /* one batch, with B */
  Type output_type;
  IrGraph eval;                  /* forward + loss + accuracy, eval mode      */
  IrGraph predict;               /* eval-mode forward, output written out      */
  struct SpeedupSpec *speedup;   /* the validated speedup block, or NULL      */
  VEC(IrPhase) phases;
  VEC(IrVariantStep) variant_steps; /* the front end's, for the seqlen and resize passes */
  IrAverage average;             /* weight averaging (passes/average.c) */
} IrProgram;

IrProgram *ir_program_new(void);
/* The variant step of a phase's context or image size, or NULL. */
const IrVariantStep *ir_variant_step(const IrProgram *p, int64_t context, int64_t height, int64_t width);
/* The variant step whose layers eval_layers[l] run as in evaluation, or NULL. */
const IrVariantStep *ir_variant_step_eval(const IrProgram *p, const bool *eval_layers);
void ir_program_free(IrProgram *p);
int ir_program_add_var(IrProgram *p, IrVar v);
int ir_program_find_var(const IrProgram *p, const char *name);
/* Trainable parameters (elements) in a step graph that updates them. */
int64_t ir_trainable_params(const IrProgram *p, const IrGraph *g);

/* ---- printing and verification ---------------------------------------------------- */

typedef struct IrPrintOptions {
  bool locations;   /* print each node's source location (default on) */
  int64_t batch;    /* > 0: print B as this number */
} IrPrintOptions;

void ir_print_graph(FILE *out, const IrProgram *p, const IrGraph *g,
                    const char *title, const IrPrintOptions *opt);
void ir_print_program(FILE *out, const IrProgram *p, const IrPrintOptions *opt);
/* A hash of what the program computes: its printed form without source
 * locations and comments (so moving the file or editing its comments keeps
 * it; any change to a graph, a variable, the optimizer, the schedule, the
 * phases or the budget changes it). Never 0. */
uint64_t ir_program_hash(const IrProgram *p);
/* Graphviz DOT of one graph: a box per node, coloured by role, with a
 * legend; nodes of layers frozen in phase `phase` (an index; -1 for none,
 * as for the evaluation graph) have dashed borders. */
void ir_print_dot(FILE *out, const IrProgram *p, const IrGraph *g, const char *title, int phase);
/* Print options for phase i: B shown as the phase's batch (or micro-batch). */
IrPrintOptions ir_phase_print_options(const IrProgram *p, int i, const IrPrintOptions *opt);
/* Phase i's scoring graph (selective backprop), B shown as the phase's batch. */
void ir_print_score(FILE *out, const IrProgram *p, int i, const IrPrintOptions *opt);
/* One line describing phase i's settings, titled "phase <i + 1>": phases are
 * numbered from 1 wherever a user sees them. */
const char *ir_phase_title(const IrProgram *p, int i, char *buf, size_t cap);
void ir_print_node(FILE *out, const IrProgram *p, const IrGraph *g, int i,
                   const IrPrintOptions *opt);

/* Checks SSA order, arity, operand and result types (by re-running shape
 * rules), effect ordering and variable references. Returns the number of
 * problems found; each is printed to `out` (if not NULL) as an internal
 * error naming the node. */
int ir_verify(const IrProgram *p, const IrGraph *g, const char *what, FILE *out);

#endif
