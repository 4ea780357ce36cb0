/* target.c — LLVM initialisation, code-generation options, the target
 * machine and the optimisation pipeline (default<O3> with the target's TTI,
 * so loops vectorize to AVX2 and call libmvec for vector exp/log/tanh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "astrt_kernels.h"
#include "codegen.h"

void cg_init_llvm(void) {
  static bool done;
  if (done) return;
  done = true;
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  /* ASTC_LLVM_ARGS="-time-passes ...": LLVM's own options, for measuring
   * where the compile time goes (docs/performance.md, "Build time") */
  enum { CAP = 32 };
  /* Dead-store elimination stops looking in a block once it holds more
   * than 64 stores and calls (LLVM's default: 5000). A step function's body
   * is a few long blocks of calls and stores between its loops, where DSE
   * spent a third of the optimisation time (the GPT: 0.14 s CPU) to remove
   * nothing: the optimised module is the same at any limit down to 1. */
  /* mergefunc makes an identical function that is global (an outlined
   * loop compiled apart from its step: cg_units.c) an alias, not a call */
  const char *args[CAP] = {"astc", "-vector-library=LIBMVEC-X86", "-dse-memoryssa-defs-per-block-limit=64",
                            "-mergefunc-use-aliases"};
  int n = 4;
  const char *extra = getenv("ASTC_LLVM_ARGS");
  static char words[1024];
  if (extra && *extra) {
    fprintf(stderr, "astc: note: ASTC_LLVM_ARGS=%s (a developer override) passes options to LLVM\n", extra);
    snprintf(words, sizeof words, "%s", extra);
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w && n < CAP; w = strtok_r(NULL, " ", &save))
      args[n++] = w;
  }
  LLVMParseCommandLineOptions(n, args, "");
}

/* ---- options ------------------------------------------------------------------------ */

/* A developer override: the variable's value if it takes effect, after a
 * note (once per process) naming the flag that does the same. */
static const char *override(const char *var, bool (*takes_effect)(const char *), const char *what, bool *noted) {
  const char *v = getenv(var);
  if (!v || !takes_effect(v)) return NULL;
  if (!*noted) {
    *noted = true;
    fprintf(stderr, "astc: note: %s=%s (a developer override) %s\n", var, v, what);
  }
  return v;
}

static bool is_off(const char *v) { return !strcmp(v, "off"); }
static bool is_one(const char *v) { return !strcmp(v, "1"); }
static bool is_set(const char *v) { return *v != 0; }

static bool is_backend(const char *v) { return astrt_gemm_backend_id(v) >= 0; }

void cg_options_env(CgOptions *opt) {
  static bool noted[6];
  /* ASTC_CPU=NAME: code for another CPU, e.g. to reproduce what another
   * machine runs or to build for an older one */
  const char *cpu = override("ASTC_CPU", is_set, "sets the target CPU, like --cpu", &noted[0]);
  if (cpu) opt->cpu = strcmp(cpu, "native") ? cpu : NULL;
  /* the others measure what an optimisation gains (docs/performance.md) */
  if (override("ASTC_FUSION", is_off, "turns fusion off, like -fno-fusion", &noted[1])) opt->no_fusion = true;
  if (override("ASTC_PARALLEL_LOOPS", is_off, "keeps loops on one thread, like -fno-parallel-loops", &noted[2]))
    opt->no_parallel_loops = true;
  if (override("ASTC_SHARED_REGIONS", is_off, "compiles each step whole, like -fno-shared-regions", &noted[5]))
    opt->no_shared_regions = true;
  if (override("ASTC_LLVM_UNROLL", is_one, "turns LLVM's loop unrolling on, like -funroll-loops", &noted[3]))
    opt->unroll_loops = true;
  /* ASTC_GEMM=openblas|xsmm: every product on one GEMM backend */
  const char *gemm = override("ASTC_GEMM", is_backend, "puts every product on one GEMM backend, like --gemm", &noted[4]);
  if (gemm) opt->gemm = CG_GEMM_FORCE(astrt_gemm_backend_id(gemm));
}

CgOptions cg_options_default(void) {
  CgOptions o = {0};
  cg_options_env(&o);
  return o;
}

char *cg_options_flags(const CgOptions *opt) {
  StrBuf sb = {0};
  if (opt->cpu) sb_printf(&sb, " --cpu=%s", opt->cpu);
  if (opt->features) sb_printf(&sb, " --cpu-features=%s", opt->features);
  if (opt->no_fusion) sb_puts(&sb, " -fno-fusion");
  if (opt->no_parallel_loops) sb_puts(&sb, " -fno-parallel-loops");
  if (opt->unroll_loops) sb_puts(&sb, " -funroll-loops");
  if (opt->no_shared_regions) sb_puts(&sb, " -fno-shared-regions");
  if (opt->gemm != CG_GEMM_AUTO) sb_printf(&sb, " --gemm=%s", astrt_gemm_backend_name(opt->gemm - 1));
  char *flags = xstrdup(sb.len ? sb.data + 1 : "");
  sb_free(&sb);
  return flags;
}

/* ---- the target machine ------------------------------------------------------------------- */

void cg_target_cpu(const CgOptions *opt, char **cpu, char **features) {
  cg_init_llvm();
  bool host = !opt || !opt->cpu;
  char *c = host ? LLVMGetHostCPUName() : NULL, *f = host ? LLVMGetHostCPUFeatures() : NULL;
  *cpu = xstrdup(host ? c : opt->cpu);
  /* later entries of a feature string override earlier ones */
  const char *base = host ? f : "", *extra = opt && opt->features ? opt->features : "";
  *features = xprintf("%s%s%s", base, *base && *extra ? "," : "", extra);
  if (host) {
    LLVMDisposeMessage(c);
    LLVMDisposeMessage(f);
  }
}

char *cg_target_unknown(const CgOptions *opt) {
  /* LLVM says so on stderr when it makes a target machine (and goes on
   * without the CPU, to fail later); the C API has no other way to ask, so
   * stderr goes to a temporary file meanwhile */
  FILE *tmp = tmpfile();
  if (!tmp) return NULL;
  fflush(stderr);
  int saved = dup(2);
  if (saved < 0 || dup2(fileno(tmp), 2) < 0) {
    if (saved >= 0) close(saved);
    fclose(tmp);
    return NULL;
  }
  LLVMDisposeTargetMachine(cg_target_machine(opt));
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char line[512] = "";
  rewind(tmp);
  char *said = fgets(line, sizeof line, tmp) && strstr(line, "is not a recognized") ? xstrdup(line) : NULL;
  fclose(tmp);
  if (said) {
    char *cut = strstr(said, " (ignoring");
    if (!cut) cut = strchr(said, '\n');
    if (cut) *cut = 0;
  }
  return said;
}

LLVMTargetMachineRef cg_target_machine(const CgOptions *opt) {
  CgOptions o = opt ? *opt : cg_options_default();
  cg_init_llvm();
  char *triple = LLVMGetDefaultTargetTriple();
  char *err = NULL;
  LLVMTargetRef target;
  if (LLVMGetTargetFromTriple(triple, &target, &err))
    internal_error(__FILE__, __LINE__, "no LLVM target for %s: %s", triple, err);
  char *cpu, *features;
  cg_target_cpu(&o, &cpu, &features);
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelAggressive,
                                                    LLVMRelocPIC, LLVMCodeModelDefault);
  LLVMDisposeMessage(triple);
  free(cpu);
  free(features);
  return tm;
}

/* Code generation of a function that is mostly glue: a step, evaluation or
 * prediction function of a few thousand instructions is a long run of
 * runtime calls, the stores of their arguments and a few small loops (the
 * large ones are outlined: cg_parallel). Instruction selection and
 * register allocation of such a run cost more than anything else in the
 * build (the GPT's step: 0.17 of its 0.25 s), and spend it on code that
 * takes microseconds of a step that takes milliseconds. Once the IR
 * passes have run, such functions are marked optnone (with the noinline it
 * requires): the code generator then selects instructions with FastISel
 * and skips its machine-level optimisations for them (0.17 -> 0.11 s).
 * Outlined loops and smaller functions keep the full code generator. So
 * does a function with a loop in it, unless it is that long: a function
 * without one (CG_GLUE_ACYCLIC_MIN instructions or more) is calls and their
 * arguments only, as the steps of a program whose regions are shared are
 * (cg_module.c: a recipe of 9 steps spent 0.025 s of CPU on each). */
static bool has_loop(LLVMValueRef f) {
  /* some edge of a cycle goes backwards in any order of its blocks */
  int nb = (int)LLVMCountBasicBlocks(f), k = 0;
  LLVMBasicBlockRef *blocks = xcalloc((size_t)nb + 1, sizeof(LLVMBasicBlockRef));
  LLVMGetBasicBlocks(f, blocks);
  bool loop = false;
  for (k = 0; k < nb && !loop; k++) {
    LLVMValueRef t = LLVMGetBasicBlockTerminator(blocks[k]);
    for (unsigned s = 0; t && s < LLVMGetNumSuccessors(t) && !loop; s++) {
      LLVMBasicBlockRef to = LLVMGetSuccessor(t, s);
      for (int j = 0; j <= k && !loop; j++) loop = blocks[j] == to;
    }
  }
  free(blocks);
  return loop;
}

static void mark_glue(LLVMModuleRef m) {
  LLVMContextRef ctx = LLVMGetModuleContext(m);
  unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7);
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
    size_t len;
    if (LLVMIsDeclaration(f) || strstr(LLVMGetValueName2(f, &len), "_par_")) continue;
    int64_t n = 0;
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb && n < CG_GLUE_MIN; bb = LLVMGetNextBasicBlock(bb))
      for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) n++;
    if (n < CG_GLUE_ACYCLIC_MIN || (n < CG_GLUE_MIN && has_loop(f))) continue;
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, noinline, 0));
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, optnone, 0));
  }
}

bool cg_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, const CgOptions *opt) {
  CgOptions o = opt ? *opt : cg_options_default();
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(m, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(m, td);
  LLVMDisposeTargetData(td);
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  /* No LoopUnrollPass by default: the vectorizer still interleaves the
   * elementwise loops, and unrolling their vector bodies again tripled the
   * compile time and the code size (LeNet: 0.83 -> 0.22 s CPU, text 73 -> 22
   * kB) for no measurable speed (docs/performance.md). -funroll-loops turns
   * it on. */
  LLVMPassBuilderOptionsSetLoopUnrolling(opts, o.unroll_loops);
  /* mergefunc first: the outlined loops of identical layers are identical
   * functions (cg_parallel), optimised once instead of once per layer */
  LLVMErrorRef err = LLVMRunPasses(m, "mergefunc,default<O3>", tm, opts);
  LLVMDisposePassBuilderOptions(opts);
  if (!err) mark_glue(m);
  if (err) {
    char *msg = LLVMGetErrorMessage(err);
    fprintf(stderr, "astc: internal error: LLVM passes failed: %s\n", msg);
    LLVMDisposeErrorMessage(msg);
    return false;
  }
  return true;
}
