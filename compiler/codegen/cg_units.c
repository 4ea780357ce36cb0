/* cg_units.c — parallel compilation: a program's module is cut into parts,
 * each built, optimised and compiled to an object file on a thread, in a
 * context of its own (LLVM contexts are not shared between threads). The
 * parts are made of the module's groups of slots — each phase's step,
 * reused prefix and scoring graph; evaluation, prediction and the
 * descriptor — dealt largest first to the part with the least work so far
 * (work: the graphs' IR nodes). A group that is a large share of the
 * program (the step of a one-phase program) is cut in two, its functions
 * and the loops outlined from them, each then a part of its own, the
 * threads taking the parts as they become free (deal). The objects link
 * (astc build) or load (the JIT) into the same program a single module
 * gives, in a fraction of the time on several cores. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/TargetMachine.h>

#include "codegen.h"

/* What a part defines of a group of slots (a step, a prefix, a scoring
 * graph; evaluation, prediction and the descriptor): all of it, only its
 * functions (its outlined loops declared), or only its outlined loops (the
 * functions declared). */
typedef enum Half { HALF_NONE, HALF_WHOLE, HALF_FUNCTIONS, HALF_LOOPS } Half;

typedef struct Part {
  const IrProgram *p;
  const CgOptions *opt;
  const CgCensus *census;   /* the program's shared regions, or NULL */
  bool *bodies;             /* [CG_SLOTS(np)]: the slots cg_build_module_part builds */
  Half *half;               /* [CG_SLOTS(np)]: what it keeps of each (the group's first slot) */
  int64_t load;             /* the work dealt to it */
  LLVMMemoryBufferRef obj;  /* the result: NULL if it failed or defined nothing */
  bool ok;
} Part;

/* the group a slot is in: evaluation, prediction and the descriptor are one */
static int group_of(int np, int slot) { return slot >= CG_SLOT_EVAL(np) ? CG_SLOT_EVAL(np) : slot; }

/* Outlined loops are named <function>_par_<n> (cg_parallel, cg_loops.c),
 * steps <prefix>_step_<i>, prefixes and scoring graphs likewise
 * (cg_module.c); the other functions are evaluation's, prediction's and the
 * descriptor's. The group whose function fn is or whose loop it is. */
static int group_of_function(const Part *pt, LLVMValueRef fn, bool *loop) {
  size_t len;
  const char *name = LLVMGetValueName2(fn, &len);
  const char *par = strstr(name, "_par_");
  *loop = par != NULL;
  size_t owner = par ? (size_t)(par - name) : len;
  /* a region shared by several graphs (cg_module.c) and its loops:
   * <prefix>_<graph>_region_<n>[_par_<k>], the group of the graph that
   * defines it */
  const char *region = strstr(name, "_region_");
  if (region && (size_t)(region - name) < owner) owner = (size_t)(region - name);
  const char *prefix = pt->opt->prefix ? pt->opt->prefix : "astc";
  size_t pl = strlen(prefix);
  int np = pt->p->phases.len, i, end = 0;
  if (owner > pl + 1 && !strncmp(name, prefix, pl) && name[pl] == '_') {
    const char *kind = name + pl + 1;
    if (sscanf(kind, "step_%d%n", &i, &end) == 1 && pl + 1 + (size_t)end == owner) return CG_SLOT_STEP(i);
    if (sscanf(kind, "prefix_%d%n", &i, &end) == 1 && pl + 1 + (size_t)end == owner) return CG_SLOT_PREFIX(np, i);
    if (sscanf(kind, "score_%d%n", &i, &end) == 1 && pl + 1 + (size_t)end == owner) return CG_SLOT_SCORE(np, i);
  }
  return CG_SLOT_EVAL(np);
}

/* fn becomes a declaration of a hidden symbol another object defines */
static void drop_body(LLVMValueRef fn) {
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      if (LLVMGetTypeKind(LLVMTypeOf(i)) != LLVMVoidTypeKind) LLVMReplaceAllUsesWith(i, LLVMGetPoison(LLVMTypeOf(i)));
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i; (i = LLVMGetFirstInstruction(bb));) LLVMInstructionEraseFromParent(i);
  for (LLVMBasicBlockRef bb; (bb = LLVMGetFirstBasicBlock(fn));) LLVMDeleteBasicBlock(bb);
  LLVMSetLinkage(fn, LLVMExternalLinkage);
  LLVMSetVisibility(fn, LLVMHiddenVisibility);
}

/* Of the groups split between two parts, drops what the other part
 * defines: a group's outlined loops, called from the other object, become
 * hidden globals. Whether any function is left defined. */
static bool keep_halves(const Part *pt, LLVMModuleRef m) {
  bool defines = false;
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f)) continue;
    bool loop;
    Half h = pt->half[group_of_function(pt, f, &loop)];
    if (h == HALF_FUNCTIONS || h == HALF_LOOPS) {
      if (loop) {
        LLVMSetLinkage(f, LLVMExternalLinkage);
        LLVMSetVisibility(f, LLVMHiddenVisibility);
        /* mergefunc makes identical global functions aliases of one
         * (-mergefunc-use-aliases, target.c) or else calls to it, which the
         * inliner would expand again: loops are only ever called through
         * astrt_pool_run */
        LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(LLVMGetModuleContext(m), noinline, 0));
      }
      if (loop != (h == HALF_LOOPS)) {
        drop_body(f);
        continue;
      }
    }
    defines = true;
  }
  /* the descriptor is its functions' half's */
  if (pt->half[CG_SLOT_EVAL(pt->p->phases.len)] == HALF_LOOPS)
    for (LLVMValueRef g = LLVMGetFirstGlobal(m); g; g = LLVMGetNextGlobal(g))
      if (!LLVMIsDeclaration(g) && LLVMGetLinkage(g) == LLVMExternalLinkage) LLVMSetInitializer(g, NULL);
  return defines;
}

static void *compile_part(void *arg) {
  Part *pt = arg;
  pt->ok = true;
  if (!pt->load) return NULL;  /* nothing dealt to it */
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = cg_build_module_part(pt->p, ctx, pt->opt, pt->bodies, pt->census);
  bool defines = m && keep_halves(pt, m);
  LLVMTargetMachineRef tm = cg_target_machine(pt->opt);
  pt->ok = m != NULL;
  if (defines) pt->ok = cg_optimize(m, tm, pt->opt);
  if (defines && pt->ok) {
    char *err = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &err, &pt->obj)) {
      fprintf(stderr, "astc: internal error: code generation failed: %s\n", err ? err : "?");
      pt->obj = NULL;
      pt->ok = false;
    }
    LLVMDisposeMessage(err);
  }
  if (m) LLVMDisposeModule(m);
  LLVMDisposeTargetMachine(tm);
  LLVMContextDispose(ctx);
  return NULL;
}

/* A group's work: its graphs' nodes, less those of shared regions another
 * group defines (the census's), and at least 1 for a graph that is there
 * (its function calls them). Prediction's count half: its loops are
 * evaluation's, which mergefunc compiles once. */
static int64_t group_work(const IrProgram *p, const CgCensus *c, int slot) {
  int np = p->phases.len;
  if (slot >= CG_SLOT_EVAL(np)) {
    int64_t e = cg_slot_nodes(p, CG_SLOT_EVAL(np)) + cg_census_work(c, CG_SLOT_EVAL(np));
    int64_t q = cg_slot_nodes(p, CG_SLOT_PREDICT(np)) + cg_census_work(c, CG_SLOT_PREDICT(np));
    return (e > 1 ? e : 1) + q / 2 + 1;  /* + the descriptor: small, but always present */
  }
  int64_t w = cg_slot_nodes(p, slot);
  if (w <= 0) return 0;
  w += cg_census_work(c, slot);
  return w > 1 ? w : 1;
}

typedef struct Item {
  int group;
  Half half;
  int64_t work;
} Item;

static int by_work(const void *a, const void *b) {
  const Item *x = a, *y = b;
  if (x->work != y->work) return (x->work < y->work) - (x->work > y->work);
  return (x->group > y->group) - (x->group < y->group);
}

/* The parts. A group with more than an eighth of the work when there are
 * two threads (a step, or evaluation and prediction, when the program has
 * one phase) is split in two halves, its functions and its outlined loops:
 * so that one step does not keep one thread busy while the other waits.
 * What each half costs differs from program to program (the GPT's step:
 * 0.22 and 0.22 s of CPU time; the ResNet's functions, with many small
 * loops inline, twice its outlined loops), so then each half and each other
 * group is a part of its own, and the threads take the parts largest first
 * as they become free. Without a split the groups are dealt to one part
 * per thread, largest first to the part with the least work so far, and
 * mergefunc keeps one copy of the loops that the phases of a part share.
 * No group is split with -fno-parallel-loops (nothing is outlined). Returns
 * the number of parts, in the order the threads are to take them. */
static int deal(const IrProgram *p, const CgCensus *c, const CgOptions *o, Part *parts, int units) {
  int np = p->phases.len, nslots = CG_SLOTS(np), n = 0;
  Item *items = xcalloc((size_t)nslots * 2, sizeof(Item));
  int64_t total = 0;
  for (int s = 0; s <= CG_SLOT_EVAL(np); s++) total += group_work(p, c, s);
  bool split_any = false;
  for (int s = 0; s <= CG_SLOT_EVAL(np); s++) {
    int64_t w = group_work(p, c, s);
    if (w <= 0) continue;
    bool split = !o->no_parallel_loops && units > 1 && (s < np || s == CG_SLOT_EVAL(np)) && w * 4 * units > total;
    if (split) {
      items[n++] = (Item){s, HALF_FUNCTIONS, w / 2};
      items[n++] = (Item){s, HALF_LOOPS, w - w / 2};
    } else {
      items[n++] = (Item){s, HALF_WHOLE, w};
    }
    split_any = split_any || split;
  }
  qsort(items, (size_t)n, sizeof(Item), by_work);
  int nparts = split_any ? n : units;
  for (int k = 0; k < n; k++) {
    Part *pt = &parts[0];
    if (split_any) pt = &parts[k];
    else
      for (int u = 1; u < nparts; u++)
        if (parts[u].load < pt->load) pt = &parts[u];
    /* the two halves of a group in one part are the whole group */
    pt->half[items[k].group] = pt->half[items[k].group] ? HALF_WHOLE : items[k].half;
    pt->load += items[k].work;
    for (int s = 0; s < nslots; s++)
      if (group_of(np, s) == items[k].group) pt->bodies[s] = true;
  }
  free(items);
  return nparts;
}

typedef struct Queue {
  Part *parts;
  int n, next;
  pthread_mutex_t mu;
} Queue;

/* a thread: the next part not yet taken, until none is left */
static void *worker(void *arg) {
  Queue *q = arg;
  for (;;) {
    pthread_mutex_lock(&q->mu);
    int k = q->next < q->n ? q->next++ : -1;
    pthread_mutex_unlock(&q->mu);
    if (k < 0) return NULL;
    compile_part(&q->parts[k]);
  }
}

bool cg_compile_objects(const IrProgram *p, const CgOptions *opt, int units, LLVMMemoryBufferRef **objs,
                        int *nobjs) {
  CgOptions o = opt ? *opt : cg_options_default();
  cg_init_llvm();
  LLVMDisposeTargetMachine(cg_target_machine(&o));  /* the options' notes, once, before the threads */
  int np = p->phases.len, nslots = CG_SLOTS(np), present = 0;
  for (int s = 0; s <= CG_SLOT_EVAL(np); s++) present += group_work(p, NULL, s) > 0;
  if (units <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    units = cores > 0 ? (int)cores : 1;
  }
  if (units > present) units = present;
  if (units > 16) units = 16;
  /* the census of shared regions: once, for every part, on the threads (it
   * leaves every present group some work: their count stays) */
  CgCensus *census = cg_census(p, &o, units);
  int cap = 2 * (present > units ? present : units);
  Part *parts = xcalloc((size_t)cap, sizeof(Part));
  for (int u = 0; u < cap; u++)
    parts[u] = (Part){p, &o, census, xcalloc((size_t)nslots, sizeof(bool)), xcalloc((size_t)nslots, sizeof(Half)),
                      0, NULL, false};
  int nparts = deal(p, census, &o, parts, units);
  Queue q = {parts, nparts, 0, PTHREAD_MUTEX_INITIALIZER};
  pthread_t threads[16];
  bool started[16] = {false};
  for (int u = 1; u < units && u < nparts; u++) started[u] = pthread_create(&threads[u], NULL, worker, &q) == 0;
  worker(&q);
  for (int u = 1; u < units && u < nparts; u++)
    if (started[u]) pthread_join(threads[u], NULL);
  bool ok = true;
  *objs = xcalloc((size_t)nparts, sizeof(LLVMMemoryBufferRef));
  *nobjs = 0;
  for (int u = 0; u < cap; u++) {
    if (u < nparts) ok = ok && parts[u].ok;
    if (parts[u].obj) (*objs)[(*nobjs)++] = parts[u].obj;
    free(parts[u].bodies);
    free(parts[u].half);
  }
  free(parts);
  cg_census_free(census);
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
