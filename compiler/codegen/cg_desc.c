/* cg_desc.c — the program descriptor (astrt_program in
 * runtime/include/astrt/astrt_program.h), the compiled learning-rate schedule, and main().
 * The descriptor's struct types are built from the rows of the runtime's ABI
 * table (astrt_abi.h), and every value is set by field name, so the rows
 * alone fix the layout; tests/unit/test_abi.c compares it with C's and
 * tests/unit/test_codegen.c reads the result back from C. */
#include <string.h>

#include "astrt_program.h"
#include "cg_internal.h"
#include "schedule.h"

/* a private, NUL-terminated string constant */
static LLVMValueRef cstr(Cg *cg, const char *s) {
  if (!s) s = "";
  LLVMValueRef init = LLVMConstStringInContext(cg->ctx, s, (unsigned)strlen(s), 0);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), ".str");
  LLVMSetInitializer(g, init);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

static LLVMValueRef i32c(Cg *cg, int64_t v) { return LLVMConstInt(cg->i32, (unsigned long long)v, 1); }
static LLVMValueRef f64c(Cg *cg, double v) { return LLVMConstReal(cg->f64, v); }

static LLVMValueRef dims_array(Cg *cg, const Shape *s) {
  LLVMValueRef d[ASTRT_DESC_MAX_RANK];
  for (int i = 0; i < ASTRT_DESC_MAX_RANK; i++) d[i] = cg_i64(cg, i < s->rank ? s->d[i] : 0);
  return LLVMConstArray2(cg->i64, d, ASTRT_DESC_MAX_RANK);
}

static LLVMValueRef global_array(Cg *cg, LLVMTypeRef elem, LLVMValueRef *items, int n, const char *name) {
  LLVMValueRef init = LLVMConstArray2(elem, items, (uint64_t)n);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetGlobalConstant(g, 1);
  return g;
}

/* ---- the schedule: double astc_lr_schedule(double t, double step, double epoch) ---- */

static LLVMValueRef f64_intrinsic(Cg *cg, const char *name, LLVMValueRef *args, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &cg->f64, 1);
  return LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, &cg->f64, 1), fn, args, n, "");
}

LLVMValueRef cg_sched_value(Cg *cg, const SExpr *e, LLVMValueRef *vars) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef x = e->a ? cg_sched_value(cg, e->a, vars) : NULL;
  LLVMValueRef y = e->b ? cg_sched_value(cg, e->b, vars) : NULL;
  switch (e->kind) {
  case SX_CONST: return f64c(cg, e->value);
  case SX_T: return vars[0];
  case SX_STEP: return vars[1];
  case SX_EPOCH: return vars[2];
  case SX_ADD: return LLVMBuildFAdd(b, x, y, "");
  case SX_SUB: return LLVMBuildFSub(b, x, y, "");
  case SX_MUL: return LLVMBuildFMul(b, x, y, "");
  case SX_DIV: return LLVMBuildFDiv(b, x, y, "");
  case SX_POW: return f64_intrinsic(cg, "llvm.pow", (LLVMValueRef[]){x, y}, 2);
  case SX_MIN: return f64_intrinsic(cg, "llvm.minnum", (LLVMValueRef[]){x, y}, 2);
  case SX_MAX: return f64_intrinsic(cg, "llvm.maxnum", (LLVMValueRef[]){x, y}, 2);
  case SX_LT: return LLVMBuildUIToFP(b, LLVMBuildFCmp(b, LLVMRealOLT, x, y, ""), cg->f64, "");
  case SX_LE: return LLVMBuildUIToFP(b, LLVMBuildFCmp(b, LLVMRealOLE, x, y, ""), cg->f64, "");
  case SX_NEG: return LLVMBuildFNeg(b, x, "");
  case SX_COS: return f64_intrinsic(cg, "llvm.cos", &x, 1);
  case SX_EXP: return f64_intrinsic(cg, "llvm.exp", &x, 1);
  case SX_LOG: return f64_intrinsic(cg, "llvm.log", &x, 1);
  case SX_SQRT: return f64_intrinsic(cg, "llvm.sqrt", &x, 1);
  case SX_FLOOR: return f64_intrinsic(cg, "llvm.floor", &x, 1);
  case SX_SELECT: {
    LLVMValueRef z = cg_sched_value(cg, e->c, vars);
    LLVMValueRef c = LLVMBuildFCmp(b, LLVMRealUNE, x, f64c(cg, 0), "");
    return LLVMBuildSelect(b, c, y, z, "");
  }
  }
  unreachable();
}

void cg_emit_schedule(Cg *cg) {
  LLVMTypeRef params[3] = {cg->f64, cg->f64, cg->f64};
  LLVMValueRef fn = LLVMAddFunction(cg->mod, "astc_lr_schedule", LLVMFunctionType(cg->f64, params, 3, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
  LLVMPositionBuilderAtEnd(cg->b, bb);
  LLVMValueRef vars[3] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2)};
  LLVMBuildRet(cg->b, cg->p->lr_schedule ? cg_sched_value(cg, cg->p->lr_schedule, vars) : f64c(cg, 1));
}

/* ---- the descriptor's types, from the table in astrt_abi.h ------------------------------ */

/* a field's LLVM type, by the table's LLVM column */
#define LL_i32 LLVMInt32TypeInContext(ctx)
#define LL_i64 LLVMInt64TypeInContext(ctx)
#define LL_f64 LLVMDoubleTypeInContext(ctx)
#define LL_ptr LLVMPointerTypeInContext(ctx, 0)
#define LL_dims LLVMArrayType2(LLVMInt64TypeInContext(ctx), ASTRT_DESC_MAX_RANK)
#define LL_astrt_data_desc nested(t->astrt_data_desc)
#define LL_FIELD(ctype, field, llvm) LL_##llvm,

/* a struct inside another: the table lists it first */
static LLVMTypeRef nested(LLVMTypeRef t) {
  ASTC_ASSERT(t);
  return t;
}

void cg_abi_types(LLVMContextRef ctx, CgAbiTypes *t) {
  memset(t, 0, sizeof *t);
#define ABI_STRUCT(type, fields)                        \
  {                                                     \
    LLVMTypeRef f[] = {fields(LL_FIELD)};               \
    t->type = LLVMStructCreateNamed(ctx, #type);        \
    LLVMStructSetBody(t->type, f, ARRAY_LEN(f), 0);     \
  }
  ASTRT_ABI_STRUCTS(ABI_STRUCT)
#undef ABI_STRUCT
}

/* The values of one struct's fields, set by name (v.name = ...): for every
 * struct of the table, <type>_values has one LLVMValueRef per field. */
#define VALUE_MEMBER(ctype, field, llvm) LLVMValueRef field;
#define VALUES_TYPE(type, fields) typedef struct type##_values { fields(VALUE_MEMBER) } type##_values;
ASTRT_ABI_STRUCTS(VALUES_TYPE)
#undef VALUES_TYPE

/* the constant of struct type t whose fields are those of the local `v`
 * (a <type>_values), in the table's order */
#define VALUE_ITEM(ctype, field, llvm) v.field,
#define STRUCT_CONST(t, fields) struct_const(t, (LLVMValueRef[]){fields(VALUE_ITEM)}, 0 fields(COUNT_FIELD))
#define COUNT_FIELD(ctype, field, llvm) +1

static LLVMValueRef struct_const(LLVMTypeRef t, LLVMValueRef *vals, unsigned n) {
  ASTC_ASSERT(LLVMCountStructElementTypes(t) == n);
  for (unsigned i = 0; i < n; i++) {
    if (!vals[i]) internal_error(__FILE__, __LINE__, "field %u of %s has no value", i, LLVMGetStructName(t));
    if (LLVMTypeOf(vals[i]) != LLVMStructGetTypeAtIndex(t, i))
      internal_error(__FILE__, __LINE__, "field %u of %s: a value of another type", i, LLVMGetStructName(t));
  }
  return LLVMConstNamedStruct(t, vals, n);
}

/* ---- the descriptor ------------------------------------------------------------------- */

static LLVMValueRef var_descs(Cg *cg, const CgAbiTypes *types) {
  const IrProgram *p = cg->p;
  LLVMValueRef *items = xcalloc((size_t)p->vars.len + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < p->vars.len; i++) {
    const IrVar *var = &p->vars.data[i];
    astrt_var_desc_values v = {0};
    v.name = cstr(cg, var->name);
    v.kind = i32c(cg, (int64_t)var->kind);
    v.rank = i32c(cg, var->shape.rank);
    v.dims = dims_array(cg, &var->shape);
    v.offset = cg_i64(cg, cg->var_offsets[i]);
    v.numel = cg_i64(cg, shape_numel(&var->shape, 1));
    v.init = i32c(cg, (int64_t)var->init.kind);
    v.layer = i32c(cg, var->layer);
    v.init_a = f64c(cg, var->init.a);
    v.init_b = f64c(cg, var->init.b);
    v.fan_in = cg_i64(cg, var->init.fan_in);
    v.fan_out = cg_i64(cg, var->init.fan_out);
    v.owner = i32c(cg, var->owner);
    v.pad_ = i32c(cg, 0);
    items[i] = STRUCT_CONST(types->astrt_var_desc, ASTRT_VAR_DESC_FIELDS);
  }
  LLVMValueRef g = global_array(cg, types->astrt_var_desc, items, p->vars.len, "astc_vars");
  free(items);
  return g;
}

static LLVMValueRef phase_descs(Cg *cg, const CgAbiTypes *types, LLVMValueRef *fns, const int64_t *work) {
  const IrProgram *p = cg->p;
  int np = p->phases.len;
  LLVMValueRef *items = xcalloc((size_t)np + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < np; i++) {
    const IrPhase *ph = &p->phases.data[i];
    astrt_phase_desc_values v = {0};
    v.t_begin = f64c(cg, ph->t_begin);
    v.t_end = f64c(cg, ph->t_end);
    v.batch = cg_i64(cg, ph->batch);
    v.work_bytes = cg_i64(cg, work[i]);
    v.step = fns[i];
    v.why = cstr(cg, ph->why);
    /* fns[np + i] and work[np + i]: the phase's prefix function, if any */
    v.prefix = ph->prefix.len ? fns[np + i] : LLVMConstPointerNull(cg->ptr);
    v.feature_size = cg_i64(cg, ph->prefix.len ? ph->feature_size : 0);
    v.prefix_work_bytes = cg_i64(cg, ph->prefix.len ? work[np + i] : 0);
    v.prefix_from = cg_i64(cg, ph->prefix.len ? ph->prefix_from : i);
    v.context = cg_i64(cg, ph->context);
    v.pieces = cg_i64(cg, ph->pieces > 1 ? ph->pieces : 1);
    /* fns[2 np + i] and work[2 np + i]: its scoring graph (selective backprop) */
    bool sel = ph->score.len > 0;
    v.score = sel ? fns[2 * np + i] : LLVMConstPointerNull(cg->ptr);
    v.score_work_bytes = cg_i64(cg, sel ? work[2 * np + i] : 0);
    v.keep = f64c(cg, sel ? ph->keep : 0);
    v.beta = f64c(cg, sel ? ph->beta : 0);
    v.interrupt = cg_i64(cg, sel ? ph->interrupt : 0);
    v.lr_scale = f64c(cg, ph->lr_scale > 0 ? ph->lr_scale : 1);
    v.micro = cg_i64(cg, ph->micro > 0 ? ph->micro : 0);
    items[i] = STRUCT_CONST(types->astrt_phase_desc, ASTRT_PHASE_DESC_FIELDS);
  }
  LLVMValueRef g = global_array(cg, types->astrt_phase_desc, items, p->phases.len, "astc_phases");
  free(items);
  return g;
}

static LLVMValueRef layer_names(Cg *cg) {
  const IrProgram *p = cg->p;
  LLVMValueRef *items = xcalloc((size_t)p->layers.len + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < p->layers.len; i++) items[i] = cstr(cg, p->layers.data[i].name);
  LLVMValueRef g = global_array(cg, cg->ptr, items, p->layers.len, "astc_layer_names");
  free(items);
  return g;
}

/* ---- the step's nodes, for diagnosis ------------------------------------------------- */

/* string constants shared between node descriptions */
typedef struct StrPool {
  char **keys;
  LLVMValueRef *vals;
  int len, cap;
} StrPool;

static LLVMValueRef pooled(Cg *cg, StrPool *sp, const char *s) {
  if (!s) s = "";
  for (int i = 0; i < sp->len; i++)
    if (!strcmp(sp->keys[i], s)) return sp->vals[i];
  if (sp->len == sp->cap) {
    sp->cap = sp->cap ? 2 * sp->cap : 64;
    sp->keys = xrealloc(sp->keys, sizeof *sp->keys * (size_t)sp->cap);
    sp->vals = xrealloc(sp->vals, sizeof *sp->vals * (size_t)sp->cap);
  }
  sp->keys[sp->len] = xstrdup(s);
  sp->vals[sp->len] = cstr(cg, s);
  return sp->vals[sp->len++];
}

/* astrt_step_nodes[nphases]: every node of each phase's step, in order */
static LLVMValueRef step_nodes(Cg *cg, const CgAbiTypes *types) {
  const IrProgram *p = cg->p;
  StrPool sp = {0};
  LLVMValueRef *steps = xcalloc((size_t)p->phases.len + 1, sizeof(LLVMValueRef));
  for (int k = 0; k < p->phases.len; k++) {
    const IrGraph *g = &p->phases.data[k].step;
    LLVMValueRef *items = xcalloc((size_t)g->len + 1, sizeof(LLVMValueRef));
    for (int i = 0; i < g->len; i++) {
      const IrNode *n = &g->nodes[i];
      const char *name = n->op == IR_PARAM ? p->vars.data[n->ia[0]].name : n->name;
      if (n->op == IR_INPUT) name = n->ia[0] == 1 ? "y" : n->ia[0] == 2 ? "features" : "x";
      char site[600] = "";
      if (n->layer >= 0 && p->layers.data[n->layer].loc.file > 0) loc_str(p->layers.data[n->layer].loc, site, sizeof site);
      astrt_node_desc_values v = {0};
      v.op = pooled(cg, &sp, ir_ops[n->op].name);
      v.name = pooled(cg, &sp, name);
      v.layer = pooled(cg, &sp, n->layer >= 0 ? p->layers.data[n->layer].name : "");
      v.site = pooled(cg, &sp, site);
      v.scope = pooled(cg, &sp, n->scope);
      v.file = pooled(cg, &sp, n->loc.file > 0 ? src_path(n->loc.file) : "");
      v.line = i32c(cg, n->loc.line);
      v.col = i32c(cg, n->loc.col);
      v.role = i32c(cg, (int64_t)n->role);
      v.dtype = i32c(cg, (int64_t)n->type.dtype);
      items[i] = STRUCT_CONST(types->astrt_node_desc, ASTRT_NODE_DESC_FIELDS);
    }
    char gname[64];
    snprintf(gname, sizeof gname, "astc_step_nodes_%d", k);
    astrt_step_nodes_values v = {0};
    v.nodes = global_array(cg, types->astrt_node_desc, items, g->len, gname);
    v.n = cg_i64(cg, g->len);
    steps[k] = STRUCT_CONST(types->astrt_step_nodes, ASTRT_STEP_NODES_FIELDS);
    free(items);
  }
  LLVMValueRef g = global_array(cg, types->astrt_step_nodes, steps, p->phases.len, "astc_step_nodes");
  free(steps);
  for (int i = 0; i < sp.len; i++) free(sp.keys[i]);
  free(sp.keys);
  free(sp.vals);
  return g;
}

static LLVMValueRef data_desc(Cg *cg, const CgAbiTypes *types) {
  const DataSpec *d = &cg->p->data;
  /* one example as the model sees it: the input type without B */
  Shape ex = cg->p->input_type.shape;
  for (int i = 0; i + 1 < ex.rank; i++) ex.d[i] = ex.d[i + 1];
  ex.rank--;
  astrt_data_desc_values v = {0};
  v.kind = i32c(cg, (int64_t)d->kind);
  v.label_column = i32c(cg, d->label_column);
  v.source = cstr(cg, d->source);
  v.y_source = cstr(cg, d->y_source);
  v.test_source = cstr(cg, d->test_source);
  v.test_y_source = cstr(cg, d->test_y_source);
  v.rank = i32c(cg, ex.rank);
  v.x_dtype = i32c(cg, (int64_t)cg->p->input_type.dtype);
  v.dims = dims_array(cg, &ex);
  v.example_size = cg_i64(cg, shape_numel(&ex, 1));
  v.classes = cg_i64(cg, d->classes);
  v.mean = f64c(cg, d->mean);
  v.std = f64c(cg, d->std);
  v.synth_train = cg_i64(cg, d->synth_train);
  v.synth_test = cg_i64(cg, d->synth_test);
  v.synth_seed = cg_i64(cg, (int64_t)d->synth_seed);
  v.target = i32c(cg, (int64_t)d->target);
  v.pad_ = i32c(cg, 0);
  v.target_size = cg_i64(cg, d->target_size);
  v.context = cg_i64(cg, d->context);
  v.vocab = cg_i64(cg, d->vocab);
  v.holdout = f64c(cg, d->holdout);
  v.header = i32c(cg, (int64_t)d->header);
  v.sep = i32c(cg, d->sep);
  v.split = i32c(cg, (int64_t)d->split);
  v.normalize = i32c(cg, (int64_t)d->normalize);
  v.mean_var = i32c(cg, d->mean_var);
  v.std_var = i32c(cg, d->std_var);
  return STRUCT_CONST(types->astrt_data_desc, ASTRT_DATA_DESC_FIELDS);
}

void cg_emit_descriptor(Cg *cg, LLVMValueRef *phase_fns, const int64_t *phase_work, LLVMValueRef eval_fn,
                        int64_t eval_work, LLVMValueRef predict_fn, int64_t predict_work) {
  const IrProgram *p = cg->p;
  CgAbiTypes types;
  cg_abi_types(cg->ctx, &types);
  Shape out = p->output_type.shape;
  int64_t output_size = out.rank > 0 ? shape_numel(&out, 1) : 0;
  /* in this order: it is the order of the globals in the module */
  LLVMValueRef vars = var_descs(cg, &types);
  LLVMValueRef phases = phase_descs(cg, &types, phase_fns, phase_work);
  LLVMValueRef names = layer_names(cg);
  LLVMValueRef data = data_desc(cg, &types);
  astrt_program_values v = {0};
  v.abi_version = i32c(cg, ASTRT_ABI_VERSION);
  v.nvars = i32c(cg, p->vars.len);
  v.name = cstr(cg, p->model_name);
  v.source = cstr(cg, p->source_path);
  v.vars = vars;
  v.var_bytes = cg_i64(cg, cg->var_bytes);
  v.nlayers = i32c(cg, p->layers.len);
  v.nphases = i32c(cg, p->phases.len);
  v.layer_names = names;
  v.phases = phases;
  v.eval = eval_fn;
  v.eval_work_bytes = cg_i64(cg, eval_work);
  v.eval_batch = cg_i64(cg, p->eval_batch);
  v.eval_every = cg_i64(cg, p->eval_every);
  v.eval_samples = cg_i64(cg, p->eval_samples);
  v.lr_schedule = LLVMGetNamedFunction(cg->mod, "astc_lr_schedule");
  v.base_lr = f64c(cg, p->opt.lr);
  v.batch = cg_i64(cg, p->batch);
  v.epochs = cg_i64(cg, p->epochs);
  v.steps = cg_i64(cg, p->steps);
  v.seed = cg_i64(cg, (int64_t)p->seed);
  v.goal = i32c(cg, (int64_t)p->goal);
  v.pad_ = i32c(cg, 0);
  v.target = f64c(cg, p->target);
  v.optimizer = cstr(cg, p->opt.desc);
  v.predict = predict_fn;
  v.predict_work_bytes = cg_i64(cg, predict_work);
  v.output_size = cg_i64(cg, output_size);
  v.loss_scale = f64c(cg, p->loss_scale > 0 ? p->loss_scale : 1);
  v.loss_scale_growth = cg_i64(cg, p->loss_scale_growth);
  v.step_nodes = step_nodes(cg, &types);
  v.average_count = i32c(cg, p->average.count);
  v.save_average = i32c(cg, p->average.save);
  v.program_hash = cg_i64(cg, (int64_t)ir_program_hash(p));
  v.data = data;
  char name[256];
  snprintf(name, sizeof name, "%s_program", cg->prefix);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, types.astrt_program, name);
  LLVMSetInitializer(g, STRUCT_CONST(types.astrt_program, ASTRT_PROGRAM_FIELDS));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMExternalLinkage);
}

/* int main(int argc, char **argv) { return astrt_exe_main(argc, argv, &astc_program); } */
void cg_emit_main(Cg *cg) {
  LLVMTypeRef params[2] = {cg->i32, cg->ptr};
  LLVMValueRef fn = LLVMAddFunction(cg->mod, "main", LLVMFunctionType(cg->i32, params, 2, 0));
  LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
  char name[256];
  snprintf(name, sizeof name, "%s_program", cg->prefix);
  LLVMValueRef args[3] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetNamedGlobal(cg->mod, name)};
  cg_rt(cg, RT_ASTRT_MAIN);
  LLVMTypeRef fty = LLVMFunctionType(cg->i32, (LLVMTypeRef[]){cg->i32, cg->ptr, cg->ptr}, 3, 0);
  LLVMBuildRet(cg->b, LLVMBuildCall2(cg->b, fty, LLVMGetNamedFunction(cg->mod, "astrt_exe_main"), args, 3, ""));
}
