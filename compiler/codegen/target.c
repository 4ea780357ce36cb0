/* target.c — LLVM initialisation, the host target machine and the
 * optimisation pipeline (default<O3> with the host's TTI, so loops vectorize
 * to AVX2 and call libmvec for vector exp/log/tanh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "codegen.h"

void cg_init_llvm(void) {
  static bool done;
  if (done) return;
  done = true;
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  const char *args[] = {"astc", "-vector-library=LIBMVEC-X86"};
  LLVMParseCommandLineOptions(2, args, "");
}

LLVMTargetMachineRef cg_host_target_machine(void) {
  cg_init_llvm();
  char *triple = LLVMGetDefaultTargetTriple();
  char *err = NULL;
  LLVMTargetRef target;
  if (LLVMGetTargetFromTriple(triple, &target, &err))
    internal_error(__FILE__, __LINE__, "no LLVM target for %s: %s", triple, err);
  /* ASTC_CPU=NAME (an LLVM CPU name such as znver3 or haswell) generates code
   * for that CPU's features instead of the host's: to reproduce what another
   * machine runs, or to build for an older one. */
  const char *want = getenv("ASTC_CPU");
  bool host = !want || !*want || !strcmp(want, "native");
  char *cpu = host ? LLVMGetHostCPUName() : NULL, *features = host ? LLVMGetHostCPUFeatures() : NULL;
  LLVMTargetMachineRef tm =
      LLVMCreateTargetMachine(target, triple, host ? cpu : want, host ? features : "", LLVMCodeGenLevelAggressive,
                              LLVMRelocPIC, LLVMCodeModelDefault);
  LLVMDisposeMessage(triple);
  if (host) {
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
  }
  return tm;
}

bool cg_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm) {
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(m, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(m, td);
  LLVMDisposeTargetData(td);
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  /* No LoopUnrollPass: the vectorizer still interleaves the elementwise
   * loops, and unrolling their vector bodies again tripled the compile time
   * and the code size (LeNet: 0.83 -> 0.22 s CPU, text 73 -> 22 kB) for no
   * measurable speed (docs/performance.md). ASTC_LLVM_UNROLL=1 turns it on. */
  const char *unroll = getenv("ASTC_LLVM_UNROLL");
  LLVMPassBuilderOptionsSetLoopUnrolling(opts, unroll && strcmp(unroll, "1") == 0);
  LLVMErrorRef err = LLVMRunPasses(m, "default<O3>", tm, opts);
  LLVMDisposePassBuilderOptions(opts);
  if (err) {
    char *msg = LLVMGetErrorMessage(err);
    fprintf(stderr, "astc: internal error: LLVM passes failed: %s\n", msg);
    LLVMDisposeErrorMessage(msg);
    return false;
  }
  return true;
}
