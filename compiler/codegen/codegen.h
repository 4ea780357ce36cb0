/* codegen.h — from a training program to LLVM IR, object code and a running
 * JIT. The public face of cg_*.c, target.c, jit.c and link.c.
 *
 * The generated module defines, for a program p:
 *   astc_step_<k>      one function per phase (astrt_step_fn)
 *   astc_eval          the evaluation step
 *   astc_lr_schedule   the learning-rate multiplier (astrt_schedule_fn)
 *   astc_program       the descriptor (astrt_program, runtime/include/astrt/astrt_program.h)
 *   main               only for executables: calls astrt_main
 */
#ifndef ASTC_CODEGEN_H
#define ASTC_CODEGEN_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "ir.h"

/* ---- options ------------------------------------------------------------------------ */

struct astrt_gemm_batch;

/* How a module is generated. All zero is the default: no main, the
 * descriptor astc_program, code for this host with every optimisation.
 * The code-generation fields come from astc's flags (compiler/tools/cli.c);
 * a module generated with any of them not at its default records them as
 * the named metadata !astc.codegen (the flags, as `astc build` takes them),
 * and a named CPU or features also as each function's "target-cpu" and
 * "target-features" attributes. Functions given NULL options use
 * cg_options_default(). */
typedef struct CgOptions {
  bool with_main;          /* define main() calling astrt_main (executables) */
  const char *prefix;      /* the descriptor is <prefix>_program (default astc) */
  const char *cpu;         /* --cpu=NAME: an LLVM CPU (x86-64, haswell, znver3); NULL: this host's */
  const char *features;    /* --cpu-features=+f,-g: added to the CPU's features; NULL: none */
  bool no_fusion;          /* -fno-fusion: one loop per op (no fusion, loss pairs or update groups) */
  bool no_parallel_loops;  /* -fno-parallel-loops: no loop split over the runtime's threads */
  bool unroll_loops;       /* -funroll-loops: LLVM's loop-unroll pass (off by default) */
  bool no_shared_regions;  /* -fno-shared-regions: each step function compiled whole (cg_module.c) */
  /* --gemm: the GEMM backend of each product's call site (runtime/include/astrt/
   * astrt_kernels.h). CG_GEMM_AUTO: gemm_choose's answer for the product's
   * descriptor, OpenBLAS without one; else CG_GEMM_FORCE(b), backend b
   * (astrt_gemm_backend) for every product. gemm_choose (the calibrated
   * choice, compiler/tools/machine.c) is called while modules are built, from
   * several threads at once. */
  int gemm;
  int (*gemm_choose)(void *user, const struct astrt_gemm_batch *d);
  void *gemm_user;
} CgOptions;
#define CG_GEMM_AUTO 0
#define CG_GEMM_FORCE(backend) (1 + (backend))
/* GEMM_OPENBLAS, GEMM_XSMM (ASTRT_GEMM_BACKENDS): astc's names of the backends */
typedef enum CgGemmBackend { ASTRT_GEMM_BACKENDS(IR_ABI_ENUMERATOR) } CgGemmBackend;

/* Developer overrides from the environment, applied on top of opt:
 * ASTC_CPU=NAME (native: the host), ASTC_FUSION=off, ASTC_PARALLEL_LOOPS=off,
 * ASTC_SHARED_REGIONS=off and ASTC_LLVM_UNROLL=1. Each prints a note on stderr, once per process,
 * naming the flag that does the same. */
void cg_options_env(CgOptions *opt);
/* The defaults with the environment's overrides: what NULL options mean. */
CgOptions cg_options_default(void);
/* The code-generation options as astc flags ("--cpu=x86-64 -fno-fusion"),
 * "" for the defaults; free it. */
char *cg_options_flags(const CgOptions *opt);

/* ---- memory planning (cg_plan.c) ------------------------------------------------ */

/* Where each node's value lives in the work arena of one step function. */
typedef struct BufPlan {
  int64_t *offset;     /* bytes into the work arena, or -1 (no buffer of its own) */
  int *root;           /* the node whose buffer holds the value (views alias) */
  int *fused_into;     /* the consumer whose loop computes this value, or -1 (cg_plan_fusion) */
  int *loss_pair;      /* softmax_xent <-> its softmax_xent_grad computed in the same loop, or -1 */
  int *update_first;   /* an update in a group over the parameter arena: the group's first member, or -1 */
  int *view_of;        /* a permute read in place: its operand; a product written in place
                          through a permute: that permute; else -1 (cg_seq.c) */
  int64_t work_bytes;  /* arena size for up to max_rows rows */
} BufPlan;

/* Loop fusion. An elementwise node whose one use is an elementwise node of
 * the same shape, or the gradient operand of an optimizer update over the
 * same shape with no broadcasting below it, has no buffer: the consumer's
 * loop computes it in registers (bias + activation, an activation's
 * derivative, weight decay into the update). fused_into has g->len entries;
 * leaves bounds the loads of one fused loop. With the default options
 * (cg_options_default, so ASTC_FUSION=off fuses nothing); cg_plan_graph_with
 * plans with given ones. */
void cg_plan_fusion(const IrGraph *g, int *fused_into);
#define CG_FUSE_MAX_LEAVES 16
/* Generated loops of at least this many elements (at the largest batch) are
 * split over the runtime's threads (cg_parallel, cg_internal.h). */
#define CG_PARALLEL_MIN (1 << 14)

/* The loss with its gradient: a softmax_xent_grad whose upstream gradient
 * is the same for every row and computable from immediates alone (the mean
 * loss's 1/rows, times a loss scale) is computed in its softmax_xent's loop,
 * in one pass over each row of logits. pair has g->len entries: the partner
 * of each of the two nodes, or -1 (all -1 with opt->no_fusion; opt NULL:
 * the defaults). */
void cg_plan_loss_pairs(const IrGraph *g, const CgOptions *opt, int *pair);
/* Whether node's value is one number for all its elements, computed from
 * constants and run-time scalars alone (through broadcasts, reshapes and
 * elementwise ops). */
bool cg_uniform(const IrGraph *g, int node);

/* The optimizer update over the parameter arena: consecutive updates of
 * parameters that lie back to back in the variable arena (optimizer slots
 * likewise), with the same hyperparameters and gradient trees of the same
 * form, are one loop over the whole span (at the last member's place). The
 * gradients they read are planned at the same distances as their
 * parameters, in one block per leaf of the tree; padding between members
 * is zeroed before the loop. update_first marks the members (p may be NULL:
 * no groups; -fno-fusion: none). */

/* Plans buffers for g with up to max_rows rows (the micro-batch size for a
 * micro-batched step): each value gets a 64-byte aligned slot that is reused
 * once the value's last use has passed; accumulators get slots of their own.
 * Fused values (cg_plan_fusion) get none, and their operands live until the
 * loop that computes them. opt NULL: the defaults (cg_plan_graph). */
void cg_plan_graph_with(const IrProgram *p, const IrGraph *g, int64_t max_rows, const CgOptions *opt, BufPlan *out);
void cg_plan_graph(const IrProgram *p, const IrGraph *g, int64_t max_rows, BufPlan *out);
/* Index of the first accumulate op (the end of the per-micro-batch part of a
 * step), or -1 if the step is not micro-batched. */
int cg_micro_boundary(const IrGraph *g);
/* Elements per example of a step's feature input (x or cached features). */
int64_t cg_row_size(const IrGraph *g);
void cg_plan_free(BufPlan *pl);
/* Byte offset of every variable in the variable arena (64-byte aligned);
 * returns the arena size. offsets has p->vars.len entries. */
int64_t cg_plan_vars(const IrProgram *p, int64_t *offsets);
/* Whether a node's value is an immediate (a constant or run-time scalar). */
bool cg_is_immediate(const IrNode *n);

/* ---- products (cg_seq.c) ----------------------------------------------------------- */

/* Every product of p (each matmul of every function: the phases' steps and
 * reused prefixes, evaluation, prediction) with the batch descriptor its
 * call site gets (cg_matmul), at the rows its function is planned for (the
 * phase's batch or micro-batch, the evaluation batch); backend as opt
 * chooses it. */
typedef void CgGemmSiteFn(void *user, const IrGraph *g, int node, const struct astrt_gemm_batch *d);
void cg_gemm_sites(const IrProgram *p, const CgOptions *opt, CgGemmSiteFn *fn, void *user);

/* ---- module generation (cg_module.c) ------------------------------------------- */

/* Builds the module in ctx (opt NULL: the defaults). Returns NULL (after
 * printing why) on failure. */
LLVMModuleRef cg_build_module(const IrProgram *p, LLVMContextRef ctx, const CgOptions *opt);

/* A module's functions fall into slots: each phase's step, prefix and
 * scoring graph, evaluation, prediction, and the descriptor (with the
 * schedule and main). For np phases there are CG_SLOTS(np). */
#define CG_SLOT_STEP(i) (i)
#define CG_SLOT_PREFIX(np, i) ((np) + (i))
#define CG_SLOT_SCORE(np, i) (2 * (np) + (i))
#define CG_SLOT_EVAL(np) (3 * (np))
#define CG_SLOT_PREDICT(np) (3 * (np) + 1)
#define CG_SLOT_DESC(np) (3 * (np) + 2)
#define CG_SLOTS(np) (3 * (np) + 3)
/* Phases share compiled functions where their graphs are the same: phase
 * i's step is the function of cg_step_rep(p, i), the first phase with the
 * same step graph and micro-batching (phases of a batch ramp differ only in
 * batch size and lr_scale, which the descriptor carries), planned for the
 * most rows of any phase it serves (cg_step_plan_rows); a phase that keeps
 * another's frozen-prefix features (prefix_from) uses that phase's prefix
 * function. Slots of phases served by another are empty. */
int cg_step_rep(const IrProgram *p, int i);
int64_t cg_step_plan_rows(const IrProgram *p, int rep);
/* the nodes of the graph the module emits for slot (0 for a slot served by
 * another: a repeated step, a reused prefix; the descriptor's slot) */
int64_t cg_slot_nodes(const IrProgram *p, int slot);
/* The census of a program's shared regions (cg_module.c), taken once for
 * all the parts of its module (NULL when the program has fewer than two
 * step functions: nothing to share); cg_build_module_part takes it itself
 * when given NULL. It emits the graphs on `units` threads, each in a
 * context of its own, and merges what they find. cg_census_work: how many nodes fewer than its graph's
 * the part holding `slot` compiles (regions another slot defines), <= 0. */
typedef struct CgCensus CgCensus;
CgCensus *cg_census(const IrProgram *p, const CgOptions *opt, int units);
void cg_census_free(CgCensus *c);
int64_t cg_census_work(const CgCensus *c, int slot);
/* A part of the module for parallel compilation: the bodies of the slots
 * bodies[] marks, declarations of the other step functions (all external,
 * hidden), and the descriptor only with its slot. The parts of a program,
 * each compiled to an object file, link into what cg_build_module gives. */
LLVMModuleRef cg_build_module_part(const IrProgram *p, LLVMContextRef ctx, const CgOptions *opt, const bool *bodies,
                                   const CgCensus *census);


/* ---- parallel compilation (cg_units.c) ---------------------------------------------- */

/* Compiles p into object files in memory: the module's slots dealt into
 * parts by size (a large step as two parts, its functions and its outlined
 * loops), each built, optimised and compiled by one of `units` threads
 * (units <= 0: one per core). *nobjs receives the count; free with
 * cg_objects_free. False (with a message) on failure. */
bool cg_compile_objects(const IrProgram *p, const CgOptions *opt, int units, LLVMMemoryBufferRef **objs,
                        int *nobjs);
void cg_objects_free(LLVMMemoryBufferRef *objs, int nobjs);
/* An executable of p: its objects compiled in parallel, linked with libastrt. */
bool cg_build_executable(const IrProgram *p, const CgOptions *opt, const char *exe_path);

/* ---- targets and passes (target.c) ---------------------------------------------------- */

/* Initialises LLVM's native target once per process. */
void cg_init_llvm(void);
/* A target machine for opt's CPU and features (by default this host's), PIC,
 * aggressive codegen. */
LLVMTargetMachineRef cg_target_machine(const CgOptions *opt);
/* The CPU name and feature string opt means (this host's when opt names
 * none), for the target machine and the functions' attributes; free both. */
void cg_target_cpu(const CgOptions *opt, char **cpu, char **features);
/* NULL if LLVM knows opt's CPU and features, else what it says about them
 * ("'banana' is not a recognized processor for this target"); free it. */
char *cg_target_unknown(const CgOptions *opt);
/* Sets triple and data layout from tm, verifies the module and runs the
 * default<O3> pipeline (loop unrolling only with opt->unroll_loops).
 * Afterwards a function other than an outlined loop with at least
 * CG_GLUE_MIN instructions is marked optnone (and noinline): mostly runtime
 * calls, it is compiled by the code generator's fast path (target.c).
 * Returns false (message on stderr) on failure. */
#define CG_GLUE_MIN 1000
/* ... and so is one without a loop from this many instructions on */
#define CG_GLUE_ACYCLIC_MIN 200
bool cg_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, const CgOptions *opt);

/* ---- running (jit.c) and linking (link.c) ----------------------------------------------- */

/* JIT-compiles p and runs astrt_main with argv (argv[0] = program name);
 * front_seconds, the time the front end and passes took, plus the JIT's
 * own is the compile time the metrics report (astrt_main_timed). */
int cg_jit_run(const IrProgram *p, const CgOptions *opt, int argc, char **argv, double front_seconds);
/* JIT-compiles p and returns its descriptor (valid until cg_jit_free);
 * cg_jit_compile with the default options. opt's with_main and prefix do
 * not apply. */
typedef struct CgJit CgJit;
struct astrt_program;
CgJit *cg_jit_compile_with(const IrProgram *p, const CgOptions *opt, const struct astrt_program **desc);
CgJit *cg_jit_compile(const IrProgram *p, const struct astrt_program **desc);
void cg_jit_free(CgJit *jit);
/* The float math generated loops compute inline (cg_math.c): exp, and tanh
 * and erf built on it. For testing them against libm: cg_math_object
 * compiles a loop y[i] = f(x[i]) for i < n (astc_math_loop), optimised
 * for this host as generated code is; cg_jit_math loads it (free *jit with
 * cg_jit_free). NULL (after a message) on failure. */
typedef enum CgMathFn { CG_MATH_EXP, CG_MATH_TANH, CG_MATH_ERF } CgMathFn;
typedef void CgMathLoop(const float *x, float *y, int64_t n);
LLVMMemoryBufferRef cg_math_object(CgMathFn f);
CgMathLoop *cg_jit_math(CgMathFn f, CgJit **jit);
typedef enum CgEmitKind { CG_EMIT_OBJ, CG_EMIT_LLVM, CG_EMIT_BC } CgEmitKind;
/* Writes the program as an object file, LLVM IR text or bitcode (optimised
 * for opt's target unless optimize is false), with main() if
 * opt->with_main, exporting the descriptor as <opt->prefix>_program.
 * Returns false (message on stderr) on failure. */
bool cg_emit(const IrProgram *p, const char *path, CgEmitKind kind, const CgOptions *opt, bool optimize);
/* Writes the C header of an embedded program: the descriptor's declaration
 * and inline wrappers over the runtime's model API (astrt_model.h). */
bool cg_write_header(const IrProgram *p, const char *path, const char *prefix);
/* Writes a static library (ar format with a symbol index) holding the
 * object file obj_path, which defines `symbols` (for the index). */
bool cg_write_archive(const char *obj_path, const char *ar_path, const char *const *symbols, int nsyms);
/* Links an object file with libastrt into an executable. */
bool cg_link_executable(const char *obj_path, const char *exe_path);
/* Links object files with libastrt into an executable. */
bool cg_link_executable_objects(const char *const *obj_paths, int n, const char *exe_path);

#endif
