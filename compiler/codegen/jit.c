/* jit.c — astc run: compile the program in memory with ORC LLJIT and train
 * at once. Runtime functions are given to the JIT as absolute symbols (this
 * process links libastrt); libm comes from the process and libmvec (vector
 * math) is opened by path. */
#include <stdio.h>
#include <stdlib.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "astrt_program.h"
#include "cg_internal.h"

static void report_session_error(void *ctx, LLVMErrorRef err) {
  (void)ctx;
  char *msg = LLVMGetErrorMessage(err);
  fprintf(stderr, "astc: JIT error: %s\n", msg);
  LLVMDisposeErrorMessage(msg);
}

static bool check(LLVMErrorRef err, const char *what) {
  if (!err) return true;
  char *msg = LLVMGetErrorMessage(err);
  fprintf(stderr, "astc: internal error: %s: %s\n", what, msg);
  LLVMDisposeErrorMessage(msg);
  return false;
}

static bool define_runtime(LLVMOrcLLJITRef j, LLVMOrcJITDylibRef jd) {
  LLVMOrcCSymbolMapPair pairs[RT_NUM];
  for (int f = 0; f < RT_NUM; f++) {
    pairs[f].Name = LLVMOrcLLJITMangleAndIntern(j, cg_rt_name((CgRuntimeFn)f));
    pairs[f].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)cg_rt_address((CgRuntimeFn)f);
    pairs[f].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
    pairs[f].Sym.Flags.TargetFlags = 0;
  }
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, RT_NUM);
  LLVMErrorRef err = LLVMOrcJITDylibDefine(jd, mu);
  if (err) LLVMOrcDisposeMaterializationUnit(mu);
  return check(err, "defining runtime symbols");
}

static void add_generators(LLVMOrcLLJITRef j, LLVMOrcJITDylibRef jd) {
  char prefix = LLVMOrcLLJITGetGlobalPrefix(j);
  LLVMOrcDefinitionGeneratorRef gen;
  if (check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, prefix, NULL, NULL), "process symbols"))
    LLVMOrcJITDylibAddGenerator(jd, gen);
  if (!LLVMOrcCreateDynamicLibrarySearchGeneratorForPath(&gen, "libmvec.so.1", prefix, NULL, NULL))
    LLVMOrcJITDylibAddGenerator(jd, gen);
}

struct CgJit {
  LLVMOrcLLJITRef j;
  LLVMTargetMachineRef tm;
};

/* A JIT holding the object files objs (which it takes, loaded or not),
 * linked against the runtime, libm and libmvec; NULL (after a message) on
 * failure. */
static CgJit *jit_objects(const CgOptions *o, LLVMMemoryBufferRef *objs, int nobjs) {
  CgJit *jit = xcalloc(1, sizeof(CgJit));
  LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
      jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(cg_target_machine(o)));
  bool ok = check(LLVMOrcCreateLLJIT(&jit->j, jb), "creating the JIT");
  if (!ok) jit->j = NULL;
  LLVMOrcJITDylibRef jd = ok ? LLVMOrcLLJITGetMainJITDylib(jit->j) : NULL;
  if (ok) {
    LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(jit->j), report_session_error, NULL);
    ok = define_runtime(jit->j, jd);
    if (ok) add_generators(jit->j, jd);
  }
  for (int k = 0; k < nobjs; k++) {
    /* the JIT takes each buffer, added or not */
    if (ok) ok = check(LLVMOrcLLJITAddObjectFile(jit->j, jd, objs[k]), "adding an object file");
    else LLVMDisposeMemoryBuffer(objs[k]);
    objs[k] = NULL;
  }
  if (!ok) {
    cg_jit_free(jit);
    return NULL;
  }
  return jit;
}

CgJit *cg_jit_compile_with(const IrProgram *p, const CgOptions *opt, const astrt_program **desc) {
  cg_init_llvm();
  CgOptions o = opt ? *opt : cg_options_default();
  o.with_main = false;  /* the JIT looks up astc_program and calls astrt_main itself */
  o.prefix = NULL;
  /* the module's parts compiled to object files on one thread each (cg_units.c) */
  LLVMMemoryBufferRef *objs;
  int nobjs;
  if (!cg_compile_objects(p, &o, 0, &objs, &nobjs)) return NULL;
  CgJit *jit = jit_objects(&o, objs, nobjs);
  free(objs);
  LLVMOrcExecutorAddress addr = 0;
  if (jit && !check(LLVMOrcLLJITLookup(jit->j, &addr, "astc_program"), "linking the program")) {
    cg_jit_free(jit);
    return NULL;
  }
  if (jit) *desc = (const astrt_program *)(uintptr_t)addr;
  return jit;
}

CgMathLoop *cg_jit_math(CgMathFn f, CgJit **jit) {
  cg_init_llvm();
  CgOptions o = cg_options_default();
  LLVMMemoryBufferRef obj = cg_math_object(f);
  *jit = obj ? jit_objects(&o, &obj, 1) : NULL;
  LLVMOrcExecutorAddress addr = 0;
  if (*jit && !check(LLVMOrcLLJITLookup((*jit)->j, &addr, "astc_math_loop"), "linking the loop")) {
    cg_jit_free(*jit);
    *jit = NULL;
  }
  return *jit ? (CgMathLoop *)(uintptr_t)addr : NULL;
}

CgJit *cg_jit_compile(const IrProgram *p, const astrt_program **desc) { return cg_jit_compile_with(p, NULL, desc); }

void cg_jit_free(CgJit *jit) {
  if (!jit) return;
  if (jit->j) check(LLVMOrcDisposeLLJIT(jit->j), "disposing the JIT");
  if (jit->tm) LLVMDisposeTargetMachine(jit->tm);
  free(jit);
}

int cg_jit_run(const IrProgram *p, const CgOptions *opt, int argc, char **argv, double front_seconds) {
  const astrt_program *desc;
  double t0 = now_seconds();
  CgJit *jit = cg_jit_compile_with(p, opt, &desc);
  if (!jit) return 1;
  int rc = astrt_main_timed(argc, argv, desc, front_seconds + now_seconds() - t0);
  cg_jit_free(jit);
  return rc;
}
