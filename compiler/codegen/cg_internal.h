/* cg_internal.h — state shared by the code generator's files (cg_*.c). */
#ifndef ASTC_CG_INTERNAL_H
#define ASTC_CG_INTERNAL_H

#include "codegen.h"

/* The runtime functions the generated code calls, one row each:
 * X(enumerator, the function, its signature). The function is the C symbol
 * itself (prototypes in runtime/include/astrt/, tanhf in <math.h>), so the
 * name the generated code calls and the address the JIT binds it to both
 * come from it. The signature is the return type then the parameters:
 * v void, f float, i i32, l i64, p ptr (at most 16 parameters). */
#define CG_RUNTIME_FNS(X)                                                     \
  X(RT_SGEMM, astrt_sgemm, "viilllfppfp")                                     \
  X(RT_CONV2D, astrt_conv2d_f32, "vpppp")                                     \
  X(RT_CONV2D_GRAD_INPUT, astrt_conv2d_grad_input_f32, "vpppp")               \
  X(RT_CONV2D_GRAD_WEIGHT, astrt_conv2d_grad_weight_f32, "vpppp")             \
  X(RT_MAXPOOL2D, astrt_maxpool2d_f32, "vppp")                                \
  X(RT_MAXPOOL2D_GRAD, astrt_maxpool2d_grad_f32, "vpppp")                     \
  X(RT_AVGPOOL2D, astrt_avgpool2d_f32, "vppp")                                \
  X(RT_AVGPOOL2D_GRAD, astrt_avgpool2d_grad_f32, "vppp")                      \
  X(RT_RESIZE2D, astrt_resize2d_f32, "vppp")                                  \
  X(RT_DROPOUT_MASK, astrt_dropout_mask, "vpllflll")                          \
  X(RT_DROP_GATE, astrt_drop_gate, "fflll")                                   \
  X(RT_COUNT_CORRECT, astrt_count_correct, "fppll")                           \
  X(RT_SOFTMAX_XENT, astrt_softmax_xent, "vppllfpppf")                        \
  X(RT_ALL_FINITE, astrt_all_finite, "fpl")                                   \
  X(RT_DIST_ALLREDUCE, astrt_dist_allreduce, "vpplf")                         \
  X(RT_CHECK_FINITE, astrt_check_finite, "vplpli")                            \
  X(RT_POOL_RUN, astrt_pool_run, "vpp")                                       \
  X(RT_GEMM_BATCHED, astrt_gemm_batched, "vpppp")                             \
  X(RT_SOFTMAX, astrt_softmax_f32, "vpplll")                                  \
  X(RT_SOFTMAX_GRAD, astrt_softmax_grad_f32, "vpppll")                        \
  X(RT_LOG_SOFTMAX, astrt_log_softmax_f32, "vppll")                           \
  X(RT_LOG_SOFTMAX_GRAD, astrt_log_softmax_grad_f32, "vpppll")                \
  X(RT_LAYERNORM, astrt_layernorm_f32, "vppllf")                              \
  X(RT_LAYERNORM_GRAD, astrt_layernorm_grad_f32, "vpppllf")                   \
  X(RT_GATHER_ROWS, astrt_gather_rows_f32, "vpllplp")                         \
  X(RT_SCATTER_ADD_ROWS, astrt_scatter_add_rows_f32, "vplpllp")               \
  X(RT_CAST_F32_BF16, astrt_cast_f32_bf16, "vppl")                            \
  X(RT_CAST_BF16_F32, astrt_cast_bf16_f32, "vppl")                            \
  X(RT_ASTRT_MAIN, astrt_exe_main, "iipp")
#define CG_RUNTIME_FN_SIG_MAX 16

/* A runtime function the generated code calls. */
typedef enum CgRuntimeFn {
#define CG_RT_ENUMERATOR(id, fn, sig) id,
  CG_RUNTIME_FNS(CG_RT_ENUMERATOR)
#undef CG_RT_ENUMERATOR
  RT_NUM
} CgRuntimeFn;

typedef struct Cg {
  const IrProgram *p;
  const char *prefix;    /* of the exported descriptor: <prefix>_program */
  CgOptions opt;         /* the module's options (the defaults if cg_build_module got NULL) */
  bool parts;            /* a part of a module split for parallel compilation (cg_units.c) */
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef f32, f64, i1, i8, i32, i64, ptr, voidt;
  LLVMValueRef rt[RT_NUM];
  LLVMTypeRef rt_type[RT_NUM];
  int64_t *var_offsets;
  int64_t var_bytes;
  /* the function being generated */
  const IrGraph *g;
  BufPlan plan;
  LLVMValueRef fn;
  LLVMValueRef a_vars, a_work, a_x, a_y, a_rows, a_scalars, a_outputs, a_seed;
  LLVMValueRef *imm;     /* per node: its value if it is an immediate */
  LLVMBasicBlockRef entry;
  /* inside the micro-batch loop of a micro-batched step */
  bool in_micro;
  LLVMValueRef micro_weight;   /* rows_m / rows, float */
  LLVMValueRef micro_first;    /* the micro-batch's first row in the batch, i64 */
  /* diagnosis (a phase's step): set `diagnose` before emitting it; diag_on is
   * then the run-time flag (outputs[ASTRT_OUT_NONFINITE] < 0), else NULL */
  bool diagnose;
  LLVMValueRef diag_on;
  int nparallel;               /* outlined loop functions so far (their names) */
  /* inside an outlined parallel loop (cg_parallel): the addresses it uses
   * are captured, loaded from its context record, so that the same loop
   * over other tensors (the next layer's) is the same function */
  struct CgCapture *capture;
  LLVMValueRef par_args;       /* the function's arguments for its outlined loops, once stored */
  LLVMValueRef par_rec;        /* its record {args, table} for calling them (cg_outline_end) */
  int64_t max_rows;            /* the largest batch the function runs */
  int64_t plan_rows;           /* the rows its buffers are planned for (max_rows, or the micro-batch) */
  /* conditional regions of layer dropping (cg_guard.c): the open region's
   * guard (0: none) and the block after it; the gate node of each guard */
  int region;
  LLVMBasicBlockRef region_next;
  int *guard_flags;
  /* shared regions (cg_module.c): the program's census, whether this is
   * the census's pass, the slot being emitted and the slots this module
   * holds the bodies of (NULL: all) */
  struct CgRegions *regions;
  bool census;
  int slot;
  const bool *bodies;
} Cg;

/* ---- values and addresses (cg_values.c) ------------------------------------------------ */

/* the runtime function table: name and LLVM type */
LLVMValueRef cg_rt(Cg *cg, CgRuntimeFn f);
LLVMValueRef cg_call(Cg *cg, CgRuntimeFn f, LLVMValueRef *args, unsigned n);
const char *cg_rt_name(CgRuntimeFn f);
/* the address of a runtime function, for JIT absolute symbols */
void *cg_rt_address(CgRuntimeFn f);
/* its signature, as in CG_RUNTIME_FNS */
const char *cg_rt_signature(CgRuntimeFn f);

LLVMValueRef cg_i64(Cg *cg, int64_t v);
/* cg's context, a new module `name` in it, a builder and the LLVM types it
 * names (f32 ... voidt) */
void cg_init_module(Cg *cg, LLVMContextRef ctx, const char *name);
LLVMValueRef cg_f32(Cg *cg, double v);
/* a dimension: a constant, or the run-time row count for B */
LLVMValueRef cg_dim(Cg *cg, int64_t d);
/* element count of a node's value at run time */
LLVMValueRef cg_numel(Cg *cg, const Shape *s);
/* the address of a node's value */
LLVMValueRef cg_addr(Cg *cg, int node);
LLVMValueRef cg_capture_addr(Cg *cg, int node);  /* inside an outlined function (cg_outline_begin) */
/* where a node's value lives: the step's argument `arg` (0: the variables,
 * 1: the work arena) plus `off` bytes; not for inputs */
void cg_addr_place(Cg *cg, int node, int *arg, int64_t *off);
/* the number v; inside an outlined function, read from the call site's
 * table (a node's number, which differs between phases' graphs) */
LLVMValueRef cg_capture_i64(Cg *cg, int64_t v);
/* a number that follows from the graph's shapes (an extent, a stride, a
 * row length, a shape-dependent GEMM backend): a constant, except in a
 * shared region (cg_module.c), where numbers that differ between the
 * graphs running it (a sequence-length warmup's contexts, a progressive
 * resize's image sizes) are read from the call site's table, so that those
 * graphs run one function */
LLVMValueRef cg_shape_i64(Cg *cg, int64_t v);
/* ... and a constant of the graph (an IR const: 1/T in a mean's gradient,
 * H and W in a batch norm's count), likewise */
LLVMValueRef cg_shape_f32(Cg *cg, float v);
/* whether a shared region is being emitted (its constants then
 * cg_shape_f32's, which cg_outline_finish substitutes where used) */
bool cg_generic(const Cg *cg);
/* the address of variable v in the variables' arena; inside a shared
 * region, its offset read from the call site's table */
LLVMValueRef cg_var_addr(Cg *cg, int v);
/* the address of element `index` of a node's value */
LLVMValueRef cg_elem_addr(Cg *cg, int node, LLVMValueRef index);
/* the LLVM type of one element: f32, i32, i16 (bf16 bits) or half */
LLVMTypeRef cg_elem_type(Cg *cg, DType t);
LLVMValueRef cg_load_f32(Cg *cg, LLVMValueRef addr);
void cg_store_f32(Cg *cg, LLVMValueRef v, LLVMValueRef addr);
LLVMValueRef cg_intrinsic(Cg *cg, const char *name, LLVMValueRef *args, unsigned n);
/* base + off bytes */
LLVMValueRef cg_byte_gep(Cg *cg, LLVMValueRef base, int64_t off);
/* run-time scalar s of the step (scalars[s]) */
LLVMValueRef cg_scalar_arg(Cg *cg, IrScalar s);
/* an immediate's value (a constant or a run-time scalar), computed here */
LLVMValueRef cg_immediate_value(Cg *cg, int node);
/* cg->imm[node] = its immediate value */
void cg_emit_immediate(Cg *cg, int node);
/* a reshape of an immediate is that immediate (it has no memory of its own) */
void cg_reshape_immediate(Cg *cg, int node);

/* ---- symbolic extents and strides: c * (b ? rows : 1) ------------------------------ */

typedef struct Sym {
  int64_t c;
  bool b;
} Sym;

static inline bool sym_eq(Sym x, Sym y) { return x.c == y.c && (x.b == y.b || x.c == 0); }
static inline Sym sym_mul(Sym x, Sym y) { return (Sym){x.c * y.c, x.b || y.b}; }
static inline Sym sym_dim(int64_t d) { return d == IR_DIM_B ? (Sym){1, true} : (Sym){d, false}; }
static inline LLVMValueRef sym_value(Cg *cg, Sym s) {
  LLVMValueRef c = cg_shape_i64(cg, s.c);
  return s.b && s.c ? LLVMBuildNSWMul(cg->b, c, cg->a_rows, "") : c;
}

/* ---- loop nests (cg_loops.c) ------------------------------------------------------ */

/* Emits `for i0 < ext[0]: for i1 < ext[1]: ... body(idx)`. */
typedef void CgBody(Cg *cg, LLVMValueRef *idx, void *ctx);
void cg_loop_nest(Cg *cg, int n, LLVMValueRef *ext, CgBody *body, void *ctx);

/* Parallel loops. cg_parallel outlines `for i in [lo, hi)` into a function
 * of (ctx, part, parts) that the runtime's pool runs for every part at once
 * (astrt_pool_run): the function gets the step's arguments through ctx and
 * its own immediates, computes n = extent(...) and calls range(cg, lo, hi)
 * for its part [n*part/parts, n*(part+1)/parts) of [0, n). Only outside a
 * micro-batch loop. Loops of fewer than CG_PARALLEL_MIN elements (at the
 * largest batch) are not worth a split; in a shared region a loop is
 * outlined whatever its size (`elements`, at the largest batch), and
 * whether the pool runs it is read from the call site's table. */
typedef LLVMValueRef CgExtent(Cg *cg, void *ctx);
typedef void CgRange(Cg *cg, LLVMValueRef lo, LLVMValueRef hi, void *ctx);
void cg_parallel(Cg *cg, int64_t elements, CgExtent *extent, CgRange *range, void *ctx);

/* Outlining (cg_parallel's, and code generation's regions, cg_module.c):
 * cg_outline_begin creates a function void (ptr rec, i32 part, i32 parts)
 * named after the current one and `what`, and moves cg into it, its
 * immediates computed; the addresses code generation asks for there are
 * read from the call site's table (cg_capture_addr). cg_outline_end returns
 * to the caller and calls the function: through the runtime's pool for
 * every part at once (pool), or directly as part 0 of 1. */
typedef struct CgOutline {
  LLVMValueRef fn;
  struct Cg *saved;              /* the caller's state */
  struct CgCapture *cap;
  LLVMBasicBlockRef here, body;
  LLVMValueRef pool_if;          /* cg_parallel in a shared region: whether the pool runs it (else NULL) */
} CgOutline;
void cg_outline_begin(Cg *cg, const char *what, CgOutline *o);
void cg_outline_end(Cg *cg, CgOutline *o, bool pool);
/* ... in two steps: back to the caller (the function complete), then the
 * call, of fn (o->fn or its twin); or the call site discarded */
void cg_outline_finish(Cg *cg, CgOutline *o);
void cg_outline_call(Cg *cg, CgOutline *o, LLVMValueRef fn, bool pool);
void cg_outline_discard(CgOutline *o);
/* `for i0 in [lo, hi): for i1 < ext[1]: ... body(idx)` */
void cg_loop_nest_from(Cg *cg, int n, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef *ext, CgBody *body, void *ctx);

/* one element of elementwise node n from its operands' values v */
/* exp, tanh and erf as inline float arithmetic that vectorizes (cg_math.c) */
LLVMValueRef cg_exp(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_tanh(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_erf(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_ew_compute(Cg *cg, const IrNode *n, LLVMValueRef *v);
/* elementwise ops with broadcasting, reductions, optimizer updates */
void cg_elementwise(Cg *cg, int node);
void cg_reduce(Cg *cg, int node);
/* permute, slice, pad and concat: strided copies */
void cg_layout(Cg *cg, int node);

/* ---- ops of sequence models (cg_seq.c) --------------------------------------------- */

/* a product, batched over leading axes, as one astrt_gemm_batched call */
void cg_matmul(Cg *cg, int node);
/* softmax (with a fused causal mask), log-softmax, layer norm and their gradients */
void cg_rowwise(Cg *cg, int node);
/* gather and scatter-add of table rows */
void cg_index(Cg *cg, int node);
/* arange and tril */
void cg_constant(Cg *cg, int node);
void cg_sgd_update(Cg *cg, int node);
void cg_adamw_update(Cg *cg, int node);
/* weight averaging's own ops: a frozen parameter's running average, the counters */
void cg_average(Cg *cg, int node);
void cg_average_count(Cg *cg, int node);

/* ---- conditional regions (cg_guard.c) ---------------------------------------------- */

/* Before a function's nodes: no region open. */
void cg_guard_begin(Cg *cg);
/* Before emitting node: close the open region if the node's guard differs
 * and it emits code, and open the node's (a branch on its block's gate). */
void cg_guard_for(Cg *cg, int node);
/* Close the open region (before a loop or block boundary of the caller's). */
void cg_guard_close(Cg *cg);
/* After a function's nodes. */
void cg_guard_end(Cg *cg);

/* ---- the descriptor (cg_desc.c) ---------------------------------------------------- */

/* The LLVM types of the descriptor's structs, one member per struct of
 * ASTRT_ABI_STRUCTS (runtime/include/astrt/astrt_abi.h), named as in C. */
typedef struct CgAbiTypes {
#define CG_ABI_TYPE_MEMBER(type, fields) LLVMTypeRef type;
  ASTRT_ABI_STRUCTS(CG_ABI_TYPE_MEMBER)
#undef CG_ABI_TYPE_MEMBER
} CgAbiTypes;
/* Creates them in ctx (named astrt_var_desc, ...) from the table's rows. */
void cg_abi_types(LLVMContextRef ctx, CgAbiTypes *t);

void cg_emit_schedule(Cg *cg);
/* a schedule expression in double precision; vars = {t, step, epoch} */
LLVMValueRef cg_sched_value(Cg *cg, const SExpr *e, LLVMValueRef *vars);
void cg_emit_descriptor(Cg *cg, LLVMValueRef *phase_fns, const int64_t *phase_work,
                        LLVMValueRef eval_fn, int64_t eval_work, LLVMValueRef predict_fn, int64_t predict_work);
void cg_emit_main(Cg *cg);

#endif
