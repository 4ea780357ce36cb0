/* link.c — astc build: emit an object file and link it with libastrt into an
 * executable using the system C compiler ($CC, default cc). */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/BitWriter.h>
#include <llvm-c/TargetMachine.h>

#include "codegen.h"
#include "install_paths.h"

extern char **environ;

bool cg_emit(const IrProgram *p, const char *path, CgEmitKind kind, const CgOptions *opt, bool optimize) {
  CgOptions o = opt ? *opt : cg_options_default();
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = cg_build_module(p, ctx, &o);
  LLVMTargetMachineRef tm = cg_target_machine(&o);
  bool ok = m != NULL;
  if (ok && optimize) ok = cg_optimize(m, tm, &o);
  if (ok) {
    char *err = NULL;
    bool failed;
    switch (kind) {
    case CG_EMIT_LLVM: failed = LLVMPrintModuleToFile(m, path, &err); break;
    case CG_EMIT_BC: failed = LLVMWriteBitcodeToFile(m, path) != 0; break;
    default: failed = LLVMTargetMachineEmitToFile(tm, m, path, LLVMObjectFile, &err); break;
    }
    if (failed) {
      fprintf(stderr, "astc: cannot write '%s': %s\n", path, err ? err : strerror(errno));
      ok = false;
    }
    LLVMDisposeMessage(err);
  }
  if (m) LLVMDisposeModule(m);
  LLVMDisposeTargetMachine(tm);
  LLVMContextDispose(ctx);
  return ok;
}

/* splits a space-separated flag string into argv entries */
static void push_words(char **argv, int *n, int cap, char *s) {
  for (char *save = NULL, *w = strtok_r(s, " ", &save); w && *n < cap - 1; w = strtok_r(NULL, " ", &save))
    argv[(*n)++] = w;
}

bool cg_link_executable_objects(const char *const *obj_paths, int nobjs, const char *exe_path) {
  const char *cc = getenv("CC");
  if (!cc || !*cc) cc = ASTC_LINK_CC;
  char *flags = xstrdup(ASTC_LINK_FLAGS);
  /* the words of cc and of the flags, the objects (one per piece of the
   * program: cg_units.c) and a few more */
  int cap = 96 + nobjs;
  char **argv = xcalloc((size_t)cap, sizeof(char *));
  int n = 0;
  char *cc_copy = xstrdup(cc);
  push_words(argv, &n, 32, cc_copy);
  argv[n++] = "-o";
  argv[n++] = (char *)exe_path;
  for (int k = 0; k < nobjs; k++) argv[n++] = (char *)obj_paths[k];
#ifdef ASTC_LINK_MPI
  /* the MPI backend, libastrt_mpi.a beside libastrt.a (runtime/dist_backend.h) */
  char mpi_lib[4096];
  const char *rt = astc_runtime_lib_path(), *slash = strrchr(rt, '/');
  snprintf(mpi_lib, sizeof mpi_lib, "%.*slibastrt_mpi.a", slash ? (int)(slash - rt + 1) : 0, rt);
  if (access(mpi_lib, R_OK) == 0) {
    argv[n++] = "-Wl,--undefined=astrt_dist_mpi";
    argv[n++] = mpi_lib;
  }
#endif
  argv[n++] = (char *)astc_runtime_lib_path();
  push_words(argv, &n, cap, flags);
  argv[n] = NULL;
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
  bool ok = false;
  if (rc != 0) {
    fprintf(stderr, "astc: cannot run the linker '%s': %s (set CC to a C compiler)\n", argv[0], strerror(rc));
  } else {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) fprintf(stderr, "astc: linking '%s' failed (command: %s ...)\n", exe_path, argv[0]);
  }
  free(flags);
  free(cc_copy);
  free(argv);
  return ok;
}

bool cg_link_executable(const char *obj_path, const char *exe_path) {
  return cg_link_executable_objects(&obj_path, 1, exe_path);
}
