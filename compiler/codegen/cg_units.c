/* cg_units.c — parallel compilation: a program's module is cut into parts,
 * each built, optimised and compiled to an object file on a thread of its
 * own, in a context of its own (LLVM contexts are not shared between
 * threads). The parts are the module's slots — each phase's step and reused
 * prefix, evaluation, prediction, the descriptor — dealt largest first to
 * the part with the least work so far (work: the slot's IR nodes). A step
 * function and the loops outlined from it stay together. The objects link
 * (astc build, --lib) or load (the JIT) into the same program a single
 * module gives, in a fraction of the time on several cores. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/TargetMachine.h>

#include "codegen.h"

typedef struct Part {
  const IrProgram *p;
  const CgOptions *opt;
  bool *bodies;             /* [CG_SLOTS(np)] */
  LLVMMemoryBufferRef obj;  /* the result, or NULL */
  pthread_t thread;
} Part;

static void *compile_part(void *arg) {
  Part *part = arg;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = cg_build_module_part(part->p, ctx, part->opt, part->bodies);
  LLVMTargetMachineRef tm = cg_target_machine(part->opt);
  if (m && cg_optimize(m, tm, part->opt)) {
    char *err = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &err, &part->obj)) {
      fprintf(stderr, "astc: internal error: code generation failed: %s\n", err ? err : "?");
      part->obj = NULL;
    }
    LLVMDisposeMessage(err);
  }
  if (m) LLVMDisposeModule(m);
  LLVMDisposeTargetMachine(tm);
  LLVMContextDispose(ctx);
  return NULL;
}

static int64_t slot_work(const IrProgram *p, int slot) {
  int np = p->phases.len;
  if (slot < np) return p->phases.data[slot].step.len;
  if (slot < 2 * np) return p->phases.data[slot - np].prefix.len;
  if (slot < 3 * np) return p->phases.data[slot - 2 * np].score.len;
  if (slot == CG_SLOT_EVAL(np)) return p->eval.len;
  if (slot == CG_SLOT_PREDICT(np)) return p->predict.len;
  return 1;  /* the descriptor: small, but always present */
}

bool cg_compile_objects(const IrProgram *p, const CgOptions *opt, int units, LLVMMemoryBufferRef **objs,
                        int *nobjs) {
  CgOptions o = opt ? *opt : cg_options_default();
  cg_init_llvm();
  LLVMDisposeTargetMachine(cg_target_machine(&o));  /* the options' notes, once, before the threads */
  int nslots = CG_SLOTS(p->phases.len), present = 0;
  int64_t *work = xcalloc((size_t)nslots, sizeof(int64_t));
  for (int s = 0; s < nslots; s++) present += (work[s] = slot_work(p, s)) > 0;
  if (units <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    units = cores > 0 ? (int)cores : 1;
  }
  if (units > present) units = present;
  if (units > 16) units = 16;
  Part *parts = xcalloc((size_t)units, sizeof(Part));
  int64_t *load = xcalloc((size_t)units, sizeof(int64_t));
  for (int u = 0; u < units; u++) parts[u] = (Part){p, &o, xcalloc((size_t)nslots, sizeof(bool)), NULL, 0};
  /* largest slot first, to the least loaded part */
  bool *dealt = xcalloc((size_t)nslots, sizeof(bool));
  for (int k = 0; k < present; k++) {
    int best = -1;
    for (int s = 0; s < nslots; s++)
      if (work[s] > 0 && !dealt[s] && (best < 0 || work[s] > work[best])) best = s;
    int u = 0;
    for (int v = 1; v < units; v++)
      if (load[v] < load[u]) u = v;
    dealt[best] = true;
    parts[u].bodies[best] = true;
    load[u] += work[best];
  }
  for (int u = 1; u < units; u++)
    if (pthread_create(&parts[u].thread, NULL, compile_part, &parts[u]) != 0) compile_part(&parts[u]), parts[u].thread = 0;
  compile_part(&parts[0]);
  bool ok = parts[0].obj != NULL;
  for (int u = 1; u < units; u++) {
    if (parts[u].thread) pthread_join(parts[u].thread, NULL);
    ok = ok && parts[u].obj;
  }
  *objs = xcalloc((size_t)units, sizeof(LLVMMemoryBufferRef));
  *nobjs = units;
  for (int u = 0; u < units; u++) {
    (*objs)[u] = parts[u].obj;
    free(parts[u].bodies);
  }
  free(parts);
  free(load);
  free(dealt);
  free(work);
  if (!ok) {
    cg_objects_free(*objs, *nobjs);
    *objs = NULL;
    *nobjs = 0;
  }
  return ok;
}

void cg_objects_free(LLVMMemoryBufferRef *objs, int nobjs) {
  for (int k = 0; objs && k < nobjs; k++)
    if (objs[k]) LLVMDisposeMemoryBuffer(objs[k]);
  free(objs);
}

bool cg_build_executable(const IrProgram *p, const CgOptions *opt, const char *exe_path) {
  LLVMMemoryBufferRef *objs;
  int n;
  if (!cg_compile_objects(p, opt, 0, &objs, &n)) return false;
  char **paths = xcalloc((size_t)n, sizeof(char *));
  bool ok = true;
  for (int k = 0; k < n && ok; k++) {
    paths[k] = xprintf("%s.%d.o.tmp", exe_path, k);
    FILE *f = fopen(paths[k], "wb");
    size_t len = LLVMGetBufferSize(objs[k]);
    ok = f && fwrite(LLVMGetBufferStart(objs[k]), 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "astc: cannot write '%s': %s\n", paths[k], strerror(errno));
  }
  if (ok) ok = cg_link_executable_objects((const char *const *)paths, n, exe_path);
  for (int k = 0; k < n; k++) {
    if (paths[k]) remove(paths[k]);
    free(paths[k]);
  }
  free(paths);
  cg_objects_free(objs, n);
  return ok;
}
