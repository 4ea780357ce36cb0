/* cg_desc.c — the program descriptor (astrt_program in
 * runtime/include/astrt/astrt_program.h), the compiled learning-rate schedule, and main().
 * Every struct here is emitted field by field in the order of its C
 * declaration; tests/unit/test_codegen.c reads the result back from C. */
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

/* ---- the descriptor ------------------------------------------------------------------- */

static LLVMTypeRef struct_type(Cg *cg, const char *name, LLVMTypeRef *fields, unsigned n) {
  LLVMTypeRef t = LLVMStructCreateNamed(cg->ctx, name);
  LLVMStructSetBody(t, fields, n, 0);
  return t;
}

static LLVMValueRef var_descs(Cg *cg, LLVMTypeRef *elem) {
  LLVMTypeRef dims = LLVMArrayType2(cg->i64, ASTRT_DESC_MAX_RANK);
  LLVMTypeRef f[] = {cg->ptr, cg->i32, cg->i32, dims, cg->i64, cg->i64, cg->i32, cg->i32,
                     cg->f64, cg->f64, cg->i64, cg->i64};
  *elem = struct_type(cg, "astrt_var_desc", f, ARRAY_LEN(f));
  const IrProgram *p = cg->p;
  LLVMValueRef *items = xcalloc((size_t)p->vars.len + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < p->vars.len; i++) {
    const IrVar *v = &p->vars.data[i];
    LLVMValueRef vals[] = {cstr(cg, v->name), i32c(cg, (int64_t)v->kind), i32c(cg, v->shape.rank),
                           dims_array(cg, &v->shape), cg_i64(cg, cg->var_offsets[i]),
                           cg_i64(cg, shape_numel(&v->shape, 1)), i32c(cg, (int64_t)v->init.kind),
                           i32c(cg, v->layer), f64c(cg, v->init.a), f64c(cg, v->init.b),
                           cg_i64(cg, v->init.fan_in), cg_i64(cg, v->init.fan_out)};
    items[i] = LLVMConstNamedStruct(*elem, vals, ARRAY_LEN(vals));
  }
  LLVMValueRef g = global_array(cg, *elem, items, p->vars.len, "astc_vars");
  free(items);
  return g;
}

static LLVMValueRef phase_descs(Cg *cg, LLVMValueRef *fns, const int64_t *work) {
  LLVMTypeRef f[] = {cg->f64, cg->f64, cg->i64, cg->i64, cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->i64};
  LLVMTypeRef t = struct_type(cg, "astrt_phase_desc", f, ARRAY_LEN(f));
  const IrProgram *p = cg->p;
  int np = p->phases.len;
  LLVMValueRef *items = xcalloc((size_t)np + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < np; i++) {
    const IrPhase *ph = &p->phases.data[i];
    /* fns[np + i] and work[np + i]: the phase's prefix function, if any */
    LLVMValueRef prefix = ph->prefix.len ? fns[np + i] : LLVMConstPointerNull(cg->ptr);
    LLVMValueRef vals[] = {f64c(cg, ph->t_begin), f64c(cg, ph->t_end), cg_i64(cg, ph->batch),
                           cg_i64(cg, work[i]), fns[i], cstr(cg, ph->why), prefix,
                           cg_i64(cg, ph->prefix.len ? ph->feature_size : 0),
                           cg_i64(cg, ph->prefix.len ? work[np + i] : 0)};
    items[i] = LLVMConstNamedStruct(t, vals, ARRAY_LEN(vals));
  }
  LLVMValueRef g = global_array(cg, t, items, p->phases.len, "astc_phases");
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
static LLVMValueRef step_nodes(Cg *cg) {
  const IrProgram *p = cg->p;
  LLVMTypeRef nf[] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->i32, cg->i32, cg->i32, cg->i32};
  LLVMTypeRef nt = struct_type(cg, "astrt_node_desc", nf, ARRAY_LEN(nf));
  LLVMTypeRef sf[] = {cg->ptr, cg->i64};
  LLVMTypeRef st = struct_type(cg, "astrt_step_nodes", sf, ARRAY_LEN(sf));
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
      LLVMValueRef vals[] = {pooled(cg, &sp, ir_ops[n->op].name), pooled(cg, &sp, name),
                             pooled(cg, &sp, n->layer >= 0 ? p->layers.data[n->layer].name : ""),
                             pooled(cg, &sp, site), pooled(cg, &sp, n->scope), pooled(cg, &sp, n->loc.file > 0 ? src_path(n->loc.file) : ""),
                             i32c(cg, n->loc.line), i32c(cg, n->loc.col), i32c(cg, (int64_t)n->role),
                             i32c(cg, (int64_t)n->type.dtype)};
      items[i] = LLVMConstNamedStruct(nt, vals, ARRAY_LEN(vals));
    }
    char gname[64];
    snprintf(gname, sizeof gname, "astc_step_nodes_%d", k);
    LLVMValueRef vals[] = {global_array(cg, nt, items, g->len, gname), cg_i64(cg, g->len)};
    steps[k] = LLVMConstNamedStruct(st, vals, ARRAY_LEN(vals));
    free(items);
  }
  LLVMValueRef g = global_array(cg, st, steps, p->phases.len, "astc_step_nodes");
  free(steps);
  for (int i = 0; i < sp.len; i++) free(sp.keys[i]);
  free(sp.keys);
  free(sp.vals);
  return g;
}

static LLVMValueRef data_desc(Cg *cg, LLVMTypeRef *type) {
  const DataSpec *d = &cg->p->data;
  LLVMTypeRef dims = LLVMArrayType2(cg->i64, ASTRT_DESC_MAX_RANK);
  LLVMTypeRef f[] = {cg->i32, cg->i32, cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->i32, cg->i32, dims,
                     cg->i64, cg->i64, cg->f64, cg->f64, cg->i64, cg->i64, cg->i64};
  *type = struct_type(cg, "astrt_data_desc", f, ARRAY_LEN(f));
  /* one example as the model sees it: the input type without B */
  Shape ex = cg->p->input_type.shape;
  for (int i = 0; i + 1 < ex.rank; i++) ex.d[i] = ex.d[i + 1];
  ex.rank--;
  LLVMValueRef vals[] = {i32c(cg, (int64_t)d->kind), i32c(cg, d->label_column), cstr(cg, d->source),
                         cstr(cg, d->y_source), cstr(cg, d->test_source), cstr(cg, d->test_y_source),
                         i32c(cg, ex.rank), i32c(cg, 0), dims_array(cg, &ex), cg_i64(cg, shape_numel(&ex, 1)),
                         cg_i64(cg, d->classes), f64c(cg, d->mean), f64c(cg, d->std),
                         cg_i64(cg, d->synth_train), cg_i64(cg, d->synth_test), cg_i64(cg, (int64_t)d->synth_seed)};
  return LLVMConstNamedStruct(*type, vals, ARRAY_LEN(vals));
}

void cg_emit_descriptor(Cg *cg, LLVMValueRef *phase_fns, const int64_t *phase_work, LLVMValueRef eval_fn,
                        int64_t eval_work, LLVMValueRef predict_fn, int64_t predict_work) {
  const IrProgram *p = cg->p;
  Shape out = p->output_type.shape;
  int64_t output_size = out.rank > 0 ? shape_numel(&out, 1) : 0;
  LLVMTypeRef var_t, data_t;
  LLVMValueRef vars = var_descs(cg, &var_t);
  LLVMValueRef phases = phase_descs(cg, phase_fns, phase_work);
  LLVMValueRef names = layer_names(cg);
  LLVMValueRef data = data_desc(cg, &data_t);
  LLVMTypeRef f[] = {cg->i32, cg->i32, cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->i32, cg->i32, cg->ptr, cg->ptr,
                     cg->ptr, cg->i64, cg->i64, cg->ptr, cg->f64, cg->i64, cg->i64, cg->i64, cg->i64,
                     cg->f64, cg->ptr, cg->ptr, cg->i64, cg->i64, cg->f64, cg->i64, cg->ptr, data_t};
  LLVMTypeRef t = struct_type(cg, "astrt_program", f, ARRAY_LEN(f));
  LLVMValueRef vals[] = {i32c(cg, ASTRT_ABI_VERSION), i32c(cg, p->vars.len), cstr(cg, p->model_name),
                         cstr(cg, p->source_path), vars, cg_i64(cg, cg->var_bytes), i32c(cg, p->layers.len),
                         i32c(cg, p->phases.len), names, phases, eval_fn, cg_i64(cg, eval_work),
                         cg_i64(cg, p->eval_batch), LLVMGetNamedFunction(cg->mod, "astc_lr_schedule"),
                         f64c(cg, p->opt.lr), cg_i64(cg, p->batch), cg_i64(cg, p->epochs), cg_i64(cg, p->steps),
                         cg_i64(cg, (int64_t)p->seed), f64c(cg, p->target_accuracy), cstr(cg, p->opt.desc),
                         predict_fn, cg_i64(cg, predict_work), cg_i64(cg, output_size),
                         f64c(cg, p->loss_scale > 0 ? p->loss_scale : 1), cg_i64(cg, p->loss_scale_growth),
                         step_nodes(cg), data};
  char name[256];
  snprintf(name, sizeof name, "%s_program", cg->prefix);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, t, name);
  LLVMSetInitializer(g, LLVMConstNamedStruct(t, vals, ARRAY_LEN(vals)));
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
