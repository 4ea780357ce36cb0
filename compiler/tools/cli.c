/* cli.c — option parsing shared by all subcommands, and check / show. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "astrt_kernels.h"
#include "codegen.h"
#include "costmodel.h"
#include "driver.h"
#include "machine.h"
#include "pass.h"

/* options every command accepts */
static const CliOption common_opts[] = {
    {"-I", "DIR", "also look for imported modules in DIR"},
    {"--stdlib", "DIR", "use the standard library in DIR"},
    {"--no-speedup", NULL, "ignore the speedup block (compile the baseline)"},
};

/* code-generation options (CgOptions) of the commands that generate code:
 * build, run, cost and compare */
enum { CG_CPU, CG_FEATURES, CG_NO_FUSION, CG_NO_PARALLEL_LOOPS, CG_UNROLL_LOOPS, CG_NO_SHARED_REGIONS, CG_GEMM };
static const CliOption codegen_opts[] = {
    [CG_CPU] = {"--cpu", "NAME", "generate code for the LLVM CPU NAME (x86-64, haswell, znver3, ...; "
                                 "default native: this machine's)"},
    [CG_FEATURES] = {"--cpu-features", "LIST", "CPU features to add or remove, as +avx2,-avx512f"},
    [CG_NO_FUSION] = {"-fno-fusion", NULL, "one loop per operation: no fusion of elementwise ops, of the "
                                           "loss with its gradient, or of the updates"},
    [CG_NO_PARALLEL_LOOPS] = {"-fno-parallel-loops", NULL, "never split a generated loop over the threads"},
    [CG_UNROLL_LOOPS] = {"-funroll-loops", NULL, "run LLVM's loop unrolling (off by default: slower "
                                                 "compiles, no faster code)"},
    [CG_NO_SHARED_REGIONS] = {"-fno-shared-regions", NULL, "compile each phase's step whole, not the code its "
                                                           "phases share once (slower builds, for measuring)"},
    [CG_GEMM] = {"--gemm", "MODE", "the GEMM backend of each product: auto (default: the fastest of each "
                                   "product's shape here, measured once and cached), openblas or xsmm (every "
                                   "product); a compiled program's ASTRT_GEMM=... overrides it"},
};

static void print_opt(FILE *out, const CliOption *o) {
  char lhs[64];
  snprintf(lhs, sizeof lhs, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
  fprintf(out, "  %-22s %s\n", lhs, o->help);
}

void cli_print_codegen_help(FILE *out) {
  for (size_t i = 0; i < ARRAY_LEN(codegen_opts); i++) print_opt(out, &codegen_opts[i]);
  fprintf(out, "  developer overrides, each noted on stderr: ASTC_CPU=NAME, ASTC_FUSION=off,\n"
               "  ASTC_PARALLEL_LOOPS=off, ASTC_SHARED_REGIONS=off, ASTC_LLVM_UNROLL=1,\n"
               "  ASTC_GEMM=openblas|xsmm\n");
}

void cli_print_help(FILE *out, const Command *c) {
  fprintf(out, "usage: astc %s\n\n%s\n\noptions:\n", c->usage, c->summary);
  for (int i = 0; i < CLI_MAX_OPTS && c->opts[i].name; i++) print_opt(out, &c->opts[i]);
  for (size_t i = 0; i < ARRAY_LEN(common_opts); i++) print_opt(out, &common_opts[i]);
  fprintf(out, "  %-22s %s\n", "-h, --help", "show this help");
  if (c->codegen) {
    fprintf(out, "\ncode generation:\n");
    cli_print_codegen_help(out);
  }
}

/* Sets a code-generation option from its flag; false (message printed) for
 * a bad value. */
static bool set_codegen(const Command *c, CgOptions *o, size_t k, const char *v) {
  switch (k) {
  case CG_CPU:
    if (!*v) {
      fprintf(stderr, "astc %s: --cpu needs a CPU name (x86-64, haswell, znver3, ... or native)\n", c->name);
      return false;
    }
    o->cpu = strcmp(v, "native") ? v : NULL;
    return true;
  case CG_FEATURES:
    for (const char *f = v; *f;) {
      size_t n = strcspn(f, ",");
      if (n < 2 || (f[0] != '+' && f[0] != '-')) {
        fprintf(stderr, "astc %s: --cpu-features takes +FEATURE and -FEATURE separated by commas (as "
                        "+avx2,-avx512f), not '%s'\n", c->name, v);
        return false;
      }
      f += n + (f[n] == ',');
    }
    o->features = *v ? v : NULL;
    return true;
  case CG_NO_FUSION: o->no_fusion = true; return true;
  case CG_NO_PARALLEL_LOOPS: o->no_parallel_loops = true; return true;
  case CG_UNROLL_LOOPS: o->unroll_loops = true; return true;
  case CG_NO_SHARED_REGIONS: o->no_shared_regions = true; return true;
  case CG_GEMM:
    if (!strcmp(v, "auto")) {
      o->gemm = CG_GEMM_AUTO;
      return true;
    }
    if (astrt_gemm_backend_id(v) < 0) {
      fprintf(stderr, "astc %s: --gemm takes auto, openblas or xsmm, not '%s'\n", c->name, v);
      return false;
    }
    o->gemm = CG_GEMM_FORCE(astrt_gemm_backend_id(v));
    return true;
  }
  return false;
}

const char *cli_opt(const CliArgs *a, const Command *c, const char *name) {
  for (int i = 0; i < CLI_MAX_OPTS && c->opts[i].name; i++)
    if (!strcmp(c->opts[i].name, name)) return a->values[i];
  return NULL;
}

/* ---- GEMM backends: each product's, and the listing of show --gemm and cost -------------- */

/* which graph of p g is, for a listing */
static void graph_label(const IrProgram *p, const IrGraph *g, char *buf, size_t cap) {
  snprintf(buf, cap, "?");
  for (int i = 0; i < p->phases.len; i++) {
    if (g == &p->phases.data[i].step) snprintf(buf, cap, p->phases.len > 1 ? "step %d" : "step", i);
    if (g == &p->phases.data[i].prefix) snprintf(buf, cap, "prefix %d", i);
  }
  if (g == &p->eval) snprintf(buf, cap, "eval");
  if (g == &p->predict) snprintf(buf, cap, "predict");
}

/* One line per product: where, its GEMM (op(A) [m, k] op(B) [k, n], batch
 * dimensions, operand type), the backend it runs on and the measured time
 * per call of each backend here (with the chosen one's GFLOP/s). */
static void print_products(FILE *out, const IrProgram *p, const GemmPlan *plan) {
  fprintf(out, "%-9s %-6s %-34s %-5s %-9s", "products", "node", "gemm (m x n x k, transposes, batch)", "type",
          "backend");
  for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++) fprintf(out, " %10s", astrt_gemm_backend_name(b));
  fprintf(out, " %8s\n", "GFLOP/s");
  for (int i = 0; i < plan->nsites; i++) {
    const GemmSite *site = &plan->sites[i];
    const GemmShape *s = &plan->shapes[site->shape];
    const astrt_gemm_batch *d = &s->d;
    char where[32], node[16], gemm[96], batch[48] = "";
    graph_label(p, site->g, where, sizeof where);
    snprintf(node, sizeof node, "%%%d", site->node);
    int64_t items = 1, folds = 1;
    for (int j = 0; j < d->nbatch; j++) {
      if (d->sc[j] == 0 && d->count[j] > 1) folds *= d->count[j];
      else items *= d->count[j];
    }
    if (items > 1) snprintf(batch + strlen(batch), sizeof batch - strlen(batch), " x%lld", (long long)items);
    if (folds > 1) snprintf(batch + strlen(batch), sizeof batch - strlen(batch), " +%lld", (long long)folds);
    snprintf(gemm, sizeof gemm, "%lldx%lldx%lld %s%s%s", (long long)d->m, (long long)d->n, (long long)d->k,
             d->ta ? "T" : "N", d->tb ? "T" : "N", batch);
    fprintf(out, "%-9s %-6s %-34s %-5s %-9s", where, node, gemm, d->ab_type == ASTRT_DTYPE_BF16 ? "bf16" : "f32",
            astrt_gemm_backend_name(astrt_gemm_backend_resolve(d)));
    for (int b = 0; b < ASTRT_NUM_GEMM_BACKENDS; b++) {
      if (s->seconds[b] > 0) fprintf(out, " %8.1fus", s->seconds[b] * 1e6);
      else fprintf(out, " %10s", s->seconds[b] < 0 ? "-" : "?");
    }
    double t = s->seconds[astrt_gemm_backend_resolve(d)];
    double flops = 2.0 * (double)d->m * (double)d->n * (double)d->k * (double)(items * folds);
    if (t > 0) fprintf(out, " %8.1f\n", flops / t / 1e9);
    else fprintf(out, " %8s\n", "");
  }
  fprintf(out, "(per call, CPU time on one thread, GFLOP/s likewise; '-': the backend cannot run it here; chosen: "
               "%s; times cached in %s)\n",
          plan->mode == CG_GEMM_AUTO ? "the fastest, OpenBLAS unless another is 5% faster" : "--gemm", plan->cache);
}

/* Matches argv[*i] against an option: "--name", "--name=value" or
 * "--name value". Returns the value ("" for flags) or NULL if no match. */
static const char *match(const CliOption *o, int argc, char **argv, int *i, bool *err) {
  const char *s = argv[*i];
  size_t n = strlen(o->name);
  if (strncmp(s, o->name, n) != 0) return NULL;
  if (s[n] == 0) {
    if (!o->arg) return "";
    if (*i + 1 >= argc) {
      fprintf(stderr, "astc: option %s needs a value (%s)\n", o->name, o->arg);
      *err = true;
      return NULL;
    }
    return argv[++*i];
  }
  if (s[n] == '=' && o->arg) return s + n + 1;
  if (o->name[1] != '-' && o->arg && s[n]) return s + n;  /* -IDIR */
  return NULL;
}

/* Parses argv into *a; returns -1 to go on, else the exit status (0 after
 * --help, 2 for a usage error). */
static int parse_args(const Command *c, int argc, char **argv, CliArgs *a) {
  for (int i = 0; i < argc; i++) {
    const char *s = argv[i];
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      cli_print_help(stdout, c);
      return 0;
    }
    if (!strcmp(s, "--")) {
      a->rest = argv + i + 1;
      a->nrest = argc - i - 1;
      break;
    }
    bool err = false, matched = false;
    for (int k = 0; k < CLI_MAX_OPTS && c->opts[k].name && !matched; k++) {
      const char *v = match(&c->opts[k], argc, argv, &i, &err);
      if (v) a->values[k] = v, matched = true;
    }
    for (size_t k = 0; k < ARRAY_LEN(common_opts) && !matched && !err; k++) {
      const char *v = match(&common_opts[k], argc, argv, &i, &err);
      if (!v) continue;
      matched = true;
      if (k == 0) {
        if (a->compile.ninclude < 32) a->includes[a->compile.ninclude++] = v;
      } else if (k == 1) {
        a->compile.stdlib_dir = v;
      } else {
        a->compile.no_speedup = true;
      }
    }
    for (size_t k = 0; c->codegen && k < ARRAY_LEN(codegen_opts) && !matched && !err; k++) {
      const char *v = match(&codegen_opts[k], argc, argv, &i, &err);
      if (!v) continue;
      matched = true;
      if (!set_codegen(c, &a->codegen, k, v)) return 2;
    }
    if (err) return 2;
    if (matched) continue;
    if (s[0] == '-' && s[1]) {
      fprintf(stderr, "astc %s: unknown option '%s' (see 'astc %s --help')\n", c->name, s, c->name);
      return 2;
    }
    if (a->file && !c->many_files) {
      fprintf(stderr, "astc %s: one input file only ('%s' and '%s')\n", c->name, a->file, s);
      return 2;
    }
    if (!a->file) a->file = s;
    a->files[a->nfiles++] = s;
  }
  if (!a->file) {
    fprintf(stderr, "astc %s: no input file\nusage: astc %s\n", c->name, c->usage);
    return 2;
  }
  return -1;
}

int cli_run(const Command *c, int argc, char **argv, char **main_argv) {
  CliArgs a = {0};
  a.argv0 = main_argv;
  a.compile.include_dirs = a.includes;
  a.files = xcalloc((size_t)argc + 1, sizeof(char *));
  int rc = parse_args(c, argc, argv, &a);
  if (rc < 0 && c->codegen) {
    cg_options_env(&a.codegen);
    char *unknown = a.codegen.cpu || a.codegen.features ? cg_target_unknown(&a.codegen) : NULL;
    if (unknown) {
      fprintf(stderr, "astc %s: %s ('llc-19 -mcpu=help' lists the CPUs and features)\n", c->name, unknown);
      free(unknown);
      rc = 2;
    }
  }
  if (rc < 0) rc = c->run(&a);
  free(a.files);
  src_reset();
  return rc;
}

/* ---- astc check ------------------------------------------------------------------ */

static int run_check(CliArgs *a) {
  Compilation c;
  bool ok = compile_file(&c, a->file, &a->compile);
  if (!ok && c.sema.modules.len && diag_error_count() == 0) ok = true;
  if (ok && c.prog) {
    int64_t params = 0;
    for (int i = 0; i < c.prog->vars.len; i++)
      if (c.prog->vars.data[i].kind == VAR_PARAM) params += shape_numel(&c.prog->vars.data[i].shape, 1);
    if (!cli_opt(a, &cmd_check, "--quiet"))
      printf("%s: ok: model %s, %d layers, %lld parameters, %d step ops, %d eval ops\n", a->file,
             c.prog->model_name, c.prog->layers.len, (long long)params, c.prog->phases.data[0].step.len,
             c.prog->eval.len);
  }
  compilation_free(&c);
  return diag_error_count() ? 1 : 0;
}

const Command cmd_check = {
    "check", "parse and check a program: names, types, shapes, train and speedup blocks",
    "check [OPTIONS] FILE.train",
    {{"--quiet", NULL, "print nothing on success"}},
    run_check,
    false,
    false,
};

/* ---- astc show --------------------------------------------------------------------- */

/* --after's help: the pass names from passes.def */
static const char after_help[] = "print the program right after PASS, one of:"
#define PASS(name, summary) " " #name
#include "passes.def"
    ;

typedef struct ShowCtx {
  CliArgs *a;
  IrPrintOptions po;
  const char *after;     /* print after this pass (NULL: at the end) */
  bool after_all;
  bool dot;
  int phase;             /* -1: all */
  const char *graph;     /* step, eval or all */
  bool printed, bad;
  bool dot_noted;        /* said which phase --format=dot draws */
} ShowCtx;

static void show_program(ShowCtx *s, const IrProgram *p, const char *when) {
  if (s->phase >= p->phases.len) {  /* phases are numbered from 1 (s->phase is an index) */
    fprintf(stderr, "astc show: there is no phase %d: the program has %d phase%s, numbered 1 to %d\n", s->phase + 1,
            p->phases.len, p->phases.len == 1 ? "" : "s", p->phases.len);
    s->bad = true;
    return;
  }
  char title[1200], pt[960];
  if (s->dot) {
    int ph = s->phase >= 0 ? s->phase : 0;
    bool eval = s->graph && !strcmp(s->graph, "eval");
    if (!eval && s->phase < 0 && p->phases.len > 1 && !s->dot_noted) {
      fprintf(stderr, "astc show: --format=dot draws one graph: phase 1 of %d, the step of t in [%g, %g) (--phase N "
                      "draws phase N, --graph eval the evaluation)\n", p->phases.len, p->phases.data[0].t_begin,
              p->phases.data[0].t_end);
      s->dot_noted = true;
    }
    snprintf(title, sizeof title, "%s%s%s%s", eval ? "eval" : "step  # ", eval ? "" : ir_phase_title(p, ph, pt, sizeof pt),
             when ? " after " : "", when ? when : "");
    if (!eval && p->phases.len > 1) {  /* "phase 2 of 5: ..." */
      char of[32];
      snprintf(of, sizeof of, " of %d", p->phases.len);
      char *colon = strchr(title, ':');
      if (colon && (size_t)(colon - title) + strlen(of) + strlen(colon) < sizeof title) {
        memmove(colon + strlen(of), colon, strlen(colon) + 1);
        memcpy(colon, of, strlen(of));
      }
    }
    ir_print_dot(stdout, p, eval ? &p->eval : &p->phases.data[ph].step, title, eval ? -1 : ph);
    return;
  }
  if (when) printf("# ---- after %s\n", when);
  bool all = !s->graph || !strcmp(s->graph, "all");
  if (all && s->phase < 0) {
    ir_print_program(stdout, p, &s->po);
    return;
  }
  if (!s->graph || strcmp(s->graph, "eval") != 0)
    for (int i = 0; i < p->phases.len; i++) {
      if (s->phase >= 0 && i != s->phase) continue;
      snprintf(title, sizeof title, "step  # %s", ir_phase_title(p, i, pt, sizeof pt));
      IrPrintOptions po = ir_phase_print_options(p, i, &s->po);
      if (p->phases.data[i].score.len) ir_print_score(stdout, p, i, &s->po);
      ir_print_graph(stdout, p, &p->phases.data[i].step, title, &po);
    }
  if (s->graph && !strcmp(s->graph, "eval")) ir_print_graph(stdout, p, &p->eval, "eval", &s->po);
}

static void show_after(const PassInfo *pass, PassContext *pc, void *user) {
  ShowCtx *s = user;
  if (s->after_all || (s->after && !strcmp(s->after, pass->name))) {
    show_program(s, pc->p, pass->name);
    s->printed = true;
  }
}

static int run_show(CliArgs *a) {
  const Command *c = &cmd_show;
  if (cli_opt(a, c, "--ast")) {
    Sema s = {0};
    bool ok = sema_load(&s, a->file, &a->compile);
    if (ok)
      for (int i = 0; i < s.modules.len; i++) {
        printf("# %s\n", s.modules.data[i]->path);
        ast_dump(stdout, s.modules.data[i]->ast);
      }
    sema_free(&s);
    return ok ? 0 : 1;
  }
  ShowCtx s = {.a = a, .phase = -1};
  s.po.locations = !cli_opt(a, c, "--no-locations");
  const char *b = cli_opt(a, c, "--batch");
  if (b) s.po.batch = atoll(b);
  s.graph = cli_opt(a, c, "--graph");
  if (s.graph && strcmp(s.graph, "step") && strcmp(s.graph, "eval") && strcmp(s.graph, "all")) {
    fprintf(stderr, "astc show: --graph must be step, eval or all\n");
    return 2;
  }
  const char *fmt = cli_opt(a, c, "--format");
  if (fmt && strcmp(fmt, "text") && strcmp(fmt, "dot")) {
    fprintf(stderr, "astc show: --format must be text or dot\n");
    return 2;
  }
  s.dot = fmt && !strcmp(fmt, "dot");
  const char *ph = cli_opt(a, c, "--phase");
  if (ph) {
    char *end;
    long v = strtol(ph, &end, 10);
    if (*end || end == ph || v < 1 || v > 100000) {
      fprintf(stderr, "astc show: --phase must be a phase number: phases are numbered from 1, as training numbers "
                      "them (not '%s')\n", ph);
      return 2;
    }
    s.phase = (int)v - 1;
  }
  s.after = cli_opt(a, c, "--after");
  s.after_all = cli_opt(a, c, "--after-all") != NULL;
  if (s.after && !pass_find(s.after)) {
    fprintf(stderr, "astc show: unknown pass '%s'; passes:", s.after);
    for (int i = 0; pass_at(i); i++) fprintf(stderr, " %s", pass_at(i)->name);
    fputc('\n', stderr);
    return 2;
  }
  const char *gemm = cli_opt(a, c, "--gemm");
  CgOptions gopt = cg_options_default();
  if (gemm) {
    if (!strcmp(gemm, "auto")) gopt.gemm = CG_GEMM_AUTO;
    else if (astrt_gemm_backend_id(gemm) >= 0) gopt.gemm = CG_GEMM_FORCE(astrt_gemm_backend_id(gemm));
    else {
      fprintf(stderr, "astc show: --gemm takes auto, openblas or xsmm, not '%s'\n", gemm);
      return 2;
    }
    astrt_blas_reexec_if_needed(a->argv0);  /* measure the kernels the program will run */
  }
  Compilation comp;
  bool ok = compile_file_with(&comp, a->file, &a->compile, s.after || s.after_all ? show_after : NULL, &s);
  if (ok && !s.after && !s.after_all) show_program(&s, comp.prog, NULL);
  if (ok && gemm) {
    GemmPlan plan;
    machine_gemm_plan(comp.prog, &gopt, true, false, true, &plan);
    printf("\n");
    print_products(stdout, comp.prog, &plan);
    machine_gemm_plan_free(&plan);
  }
  compilation_free(&comp);
  return !ok ? 1 : s.bad ? 2 : 0;
}

const Command cmd_show = {
    "show", "print the training program as IR: variables, each phase's step graph (forward, loss, "
            "backward, update) and the evaluation graph",
    "show [OPTIONS] FILE.train",
    {{"--after", "PASS", after_help},
     {"--after-all", NULL, "print the program after every pass"},
     {"--phase", "N", "print only phase N's step graph (phases are numbered from 1)"},
     {"--graph", "WHICH", "step, eval or all (default all)"},
     {"--format", "FMT", "text (default) or dot (Graphviz, with a legend: one graph, phase 1's step unless "
                         "--phase N or --graph eval)"},
     {"--batch", "N", "print the batch dimension B as N"},
     {"--no-locations", NULL, "omit source locations"},
     {"--ast", NULL, "print the syntax tree instead of the IR"},
     {"--gemm", "MODE", "then list every product with its GEMM backend under MODE (auto, openblas or xsmm) and "
                        "each backend's time here (measured once, cached)"}},
    run_show,
    false,
    false,
};

/* ---- astc build ------------------------------------------------------------------------ */

/* FILE.train -> FILE (executable), FILE.o, FILE.ll, FILE.bc */
static char *default_output(const char *file, const char *ext) {
  const char *slash = strrchr(file, '/');
  const char *base = slash ? slash + 1 : file;
  size_t n = strlen(base);
  if (n > 6 && !strcmp(base + n - 6, ".train")) n -= 6;
  return xprintf("%.*s%s", (int)n, base, ext);
}

/* The library name: --name, or the file's stem with every character that
 * cannot be in a C identifier replaced by '_', and "m_" before a stem that
 * starts with a digit (2layer.train: m_2layer_create, so that 1net and
 * 2net do not both become _net). NULL (message printed) if --name is not
 * an identifier. */
static char *library_name(const CliArgs *a, const Command *c) {
  const char *given = cli_opt(a, c, "--name");
  char *name = given ? xstrdup(given) : default_output(a->file, "");
  if (!given && name[0] >= '0' && name[0] <= '9') {
    char *prefixed = xprintf("m_%s", name);
    free(name);
    name = prefixed;
  }
  bool ok = name[0] != '\0';
  for (char *q = name; *q; q++) {
    bool ident = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' ||
                 (q > name && *q >= '0' && *q <= '9');
    if (!ident && given) ok = false;
    if (!ident) *q = '_';
  }
  if (!ok) {
    fprintf(stderr, "astc build: --name '%s' is not a C identifier (letters, digits and _, not starting "
            "with a digit); it prefixes the library's symbols\n", given);
    free(name);
    return NULL;
  }
  return name;
}

/* --lib: DIR/lib<name>.a and DIR/<name>.h */
static int build_library(CliArgs *a, const Command *c, const IrProgram *prog) {
  if (cli_opt(a, c, "--emit") || cli_opt(a, c, "--no-main")) {
    fprintf(stderr, "astc build: --lib writes a library and a header; it does not combine with --emit "
            "or --no-main\n");
    return 2;
  }
  char *name = library_name(a, c);
  if (!name) return 2;
  const char *dir = cli_opt(a, c, "-o") ? cli_opt(a, c, "-o") : ".";
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "astc build: cannot create directory %s: %s\n", dir, strerror(errno));
    free(name);
    return 1;
  }
  char *obj = xprintf("%s/%s.o.tmp", dir, name), *lib = xprintf("%s/lib%s.a", dir, name);
  char *header = xprintf("%s/%s.h", dir, name), *symbol = xprintf("%s_program", name);
  const char *symbols[] = {symbol};
  CgOptions o = a->codegen;
  o.prefix = name;
  GemmPlan plan;
  machine_gemm_plan(prog, &o, false, false, true, &plan);
  bool ok = cg_emit(prog, obj, CG_EMIT_OBJ, &o, !cli_opt(a, c, "--no-opt")) &&
            cg_write_archive(obj, lib, symbols, 1) && cg_write_header(prog, header, name);
  machine_gemm_plan_free(&plan);
  remove(obj);
  free(obj), free(lib), free(header), free(symbol), free(name);
  return ok ? 0 : 1;
}

static int run_build(CliArgs *a) {
  const Command *c = &cmd_build;
  astrt_blas_reexec_if_needed(a->argv0);  /* calibrate on the kernels the program will run */
  if (cli_opt(a, c, "--lib")) {
    if (cli_opt(a, c, "--emit") || cli_opt(a, c, "--no-main")) return build_library(a, c, NULL);
    Compilation comp;
    if (!compile_file(&comp, a->file, &a->compile)) {
      compilation_free(&comp);
      return 1;
    }
    int rc = build_library(a, c, comp.prog);
    compilation_free(&comp);
    return rc;
  }
  if (cli_opt(a, c, "--name")) {
    fprintf(stderr, "astc build: --name names a library; use it with --lib\n");
    return 2;
  }
  const char *emit = cli_opt(a, c, "--emit");
  if (!emit) emit = "exe";
  CgEmitKind kind = CG_EMIT_OBJ;
  const char *ext = "";
  if (!strcmp(emit, "llvm")) kind = CG_EMIT_LLVM, ext = ".ll";
  else if (!strcmp(emit, "bc")) kind = CG_EMIT_BC, ext = ".bc";
  else if (!strcmp(emit, "obj")) ext = ".o";
  else if (strcmp(emit, "exe") != 0) {
    fprintf(stderr, "astc build: --emit must be exe, obj, llvm or bc, not '%s'\n", emit);
    return 2;
  }
  Compilation comp;
  if (!compile_file(&comp, a->file, &a->compile)) {
    compilation_free(&comp);
    return 1;
  }
  char *out = cli_opt(a, c, "-o") ? xstrdup(cli_opt(a, c, "-o")) : default_output(a->file, ext);
  bool exe = !strcmp(emit, "exe");
  bool ok;
  CgOptions o = a->codegen;
  GemmPlan plan;
  machine_gemm_plan(comp.prog, &o, false, false, true, &plan);
  if (exe) {
    o.with_main = true;
    ok = cg_build_executable(comp.prog, &o, out);  /* compiled in parallel parts */
  } else {
    o.with_main = !cli_opt(a, c, "--no-main");
    ok = cg_emit(comp.prog, out, kind, &o, !cli_opt(a, c, "--no-opt"));
  }
  machine_gemm_plan_free(&plan);
  free(out);
  compilation_free(&comp);
  return ok ? 0 : 1;
}

const Command cmd_build = {
    "build", "compile a program to a native executable (or an object file, LLVM IR or bitcode)",
    "build [OPTIONS] FILE.train",
    {{"-o", "OUT", "output file (default: FILE, FILE.o, FILE.ll or FILE.bc); with --lib, a directory (default .)"},
     {"--lib", NULL, "write a static library libNAME.a and a header NAME.h for embedding (astrt_model.h)"},
     {"--name", "NAME", "with --lib: the library's name and symbol prefix (default: the file's stem)"},
     {"--emit", "KIND", "exe (default), obj, llvm or bc"},
     {"--no-opt", NULL, "skip LLVM optimisation (with --emit=llvm or bc)"},
     {"--no-main", NULL, "do not define main() (with --emit=obj, llvm or bc)"}},
    run_build,
    false,
    true,
};

/* ---- astc run ---------------------------------------------------------------------------- */

static int run_run(CliArgs *a) {
  astrt_blas_reexec_if_needed(a->argv0);
  double t0 = now_seconds();
  Compilation comp;
  if (!compile_file(&comp, a->file, &a->compile)) {
    compilation_free(&comp);
    return 1;
  }
  /* argv for the program: its name, then everything after "--" */
  char **argv = xcalloc((size_t)a->nrest + 2, sizeof(char *));
  argv[0] = (char *)a->file;
  for (int i = 0; i < a->nrest; i++) argv[i + 1] = a->rest[i];
  GemmPlan plan;
  machine_gemm_plan(comp.prog, &a->codegen, false, false, true, &plan);
  int rc = cg_jit_run(comp.prog, &a->codegen, a->nrest + 1, argv, now_seconds() - t0);
  machine_gemm_plan_free(&plan);
  free(argv);
  compilation_free(&comp);
  return rc;
}

const Command cmd_run = {
    "run", "compile a program in memory and train it now; program options follow '--' "
           "(see 'astc run FILE -- --help')",
    "run [OPTIONS] FILE.train [-- PROGRAM OPTIONS]",
    {{0}},
    run_run,
    false,
    true,
};

/* ---- astc cost ------------------------------------------------------------------------- */

static void human_bytes(double b, char *buf, size_t cap) {
  if (b >= 1e9) snprintf(buf, cap, "%.2f GB", b / 1e9);
  else if (b >= 1e6) snprintf(buf, cap, "%.2f MB", b / 1e6);
  else snprintf(buf, cap, "%.1f kB", b / 1e3);
}

static void print_cost(const IrProgram *p, const ProgramCost *pc) {
  printf("%-5s %-15s %7s %6s %9s %10s %10s %10s %10s %9s %9s %9s\n", "phase", "progress", "steps", "batch",
         "trainable", "fwd MFLOP", "bwd MFLOP", "upd MFLOP", "saved act", "opt state", "step ms", "time s");
  for (int i = 0; i < pc->n; i++) {
    const PhaseCost *c = &pc->phases[i];
    char range[32], act[32], opt[32], batch[32];
    snprintf(range, sizeof range, "[%.3g, %.3g)", c->t_begin, c->t_end);
    human_bytes(c->saved_bytes, act, sizeof act);
    human_bytes(c->opt_bytes, opt, sizeof opt);
    if (c->kept > 0) snprintf(batch, sizeof batch, "%lld>%lld", (long long)c->batch, (long long)c->kept);
    else if (c->micro) snprintf(batch, sizeof batch, "%lld/%lld", (long long)c->batch, (long long)c->micro);
    else snprintf(batch, sizeof batch, "%lld", (long long)c->batch);
    printf("%-5d %-15s %7lld %6s %9lld %10.2f %10.2f %10.3f %10s %9s %9.3f %9.1f\n", i + 1, range, (long long)c->steps,
           batch, (long long)c->trainable, c->fwd_flops / 1e6, c->bwd_flops / 1e6, c->upd_flops / 1e6, act, opt,
           c->step_seconds * 1e3, (double)c->steps * c->step_seconds + c->cache_seconds);
    if (p->phases.data[i].why) printf("      %s\n", p->phases.data[i].why);
    if (i == 0 && p->phases.data[0].lr_scale != 1)  /* later phases' lines say theirs when it changes */
      printf("      lr x%g (batch coupling)\n", p->phases.data[0].lr_scale);
    if (c->kept > 0) {
      const IrPhase *ph = &p->phases.data[i];
      printf("      selective backprop: a forward-only scoring pass over the batch of %lld (%.2f MFLOP), then "
             "forward and backward over the %lld rows kept", (long long)ir_phase_rows(ph), c->score_flops / 1e6,
             (long long)c->kept);
      if (ph->interrupt > 0) printf("; every %lld steps the whole batch, unscored", (long long)ph->interrupt);
      printf(" (per-step figures are averages)\n");
    }
    if (c->averaged) {
      char ab[32];
      human_bytes(c->avg_bytes, ab, sizeof ab);
      printf("      running averages of %lld parameters: %.3f MFLOP and %s read and written per step (in the update "
             "figures above)\n", (long long)c->averaged, c->avg_flops / 1e6, ab);
    }
    if (c->drop_blocks)
      printf("      layer dropping: %d residual blocks of %.2f MFLOP per step, of which %.0f%% runs on average "
             "(the figures above are expected ones)\n", c->drop_blocks, c->drop_flops / 1e6,
             c->drop_flops > 0 ? 100 * c->drop_expected_flops / c->drop_flops : 100.0);
    if (p->phases.data[i].prefix.len && p->phases.data[i].prefix_from != i) {
      printf("      reuses the frozen prefix (%s) and the outputs phase %d computed: nothing to recompute\n",
             p->phases.data[i].prefix_layers, p->phases.data[i].prefix_from + 1);
    } else if (p->phases.data[i].prefix.len) {
      char cb[32];
      human_bytes(c->cache_bytes, cb, sizeof cb);
      printf("      reuses the frozen prefix (%s): its outputs are computed once (%.2f s, a %s cache) and not "
             "recomputed each step\n", p->phases.data[i].prefix_layers, c->cache_seconds, cb);
    }
  }
}

static int run_cost(CliArgs *a) {
  const Command *c = &cmd_cost;
  astrt_blas_reexec_if_needed(a->argv0);
  Compilation comp, base;
  if (!compile_file(&comp, a->file, &a->compile)) {
    compilation_free(&comp);
    return 1;
  }
  const IrProgram *p = comp.prog;
  /* the size of the training split, as a run would load it */
  const char *data_dir = cli_opt(a, c, "--data");
  char why[1024];
  int64_t n = cost_train_examples(p, data_dir, why, sizeof why);
  if (n <= 0 && data_dir) {
    fprintf(stderr, "astc: error: cannot read the data from --data %s: %s\n", data_dir, why);
    compilation_free(&comp);
    return 1;
  }
  int64_t biggest = 0;  /* a batch larger than the training split: the run refuses it (runtime/driver.c) */
  for (int i = 0; i < p->phases.len; i++) biggest = MAX(biggest, p->phases.data[i].batch);
  if (n > 0 && biggest > n) {
    fprintf(stderr, "astc: error: the batch size is %lld, but the training split of %s has only %lld examples; a "
            "run refuses it (a step cannot take more examples than there are): use a batch of at most %lld\n",
            (long long)biggest, p->data.source ? p->data.source : p->data.name, (long long)n, (long long)n);
    compilation_free(&comp);
    return 1;
  }
  Machine m;
  machine_get(&m, cli_opt(a, c, "--recalibrate") != NULL, true);
  printf("machine: %s\n  sgemm %.0f GFLOP/s at 1024^3, %.0f at 64^3; memory %.1f GB/s (%s %s)\n", m.description,
         m.gemm_gflops[MACHINE_GEMM_POINTS - 1], m.gemm_gflops[2], m.bandwidth_gbs,
         m.cached ? "measured on" : "measured now,", m.cached ? m.measured : m.cache);
  GemmPlan plan;
  machine_gemm_plan(comp.prog, &a->codegen, true, cli_opt(a, c, "--recalibrate") != NULL, true, &plan);
  ProgramCost pc;
  cost_program_plan(p, &m, &a->codegen, &plan, n, &pc);
  printf("program %s (%s): ", p->model_name, p->source_path);
  if (pc.total_samples > 0 && p->epochs > 0)
    printf("%lld training examples x %lld epochs = %lld samples, %lld steps\n\n", (long long)n,
           (long long)p->epochs, (long long)pc.total_samples, (long long)pc.total_steps);
  else if (pc.total_samples > 0 && n > 0)
    printf("%lld steps = %lld samples of %lld training examples\n\n", (long long)pc.total_steps,
           (long long)pc.total_samples, (long long)n);
  else if (pc.total_samples > 0)
    printf("%lld steps = %lld samples (the size of the training data is not known%s%s%s, so the steps are "
           "counted as if no epoch ended)\n\n", (long long)pc.total_steps, (long long)pc.total_samples,
           why[0] ? ": " : "", why, "");
  else
    printf("the size of the training data is not known%s%s%s; per-step figures only%s\n\n", why[0] ? " (" : "",
           why, why[0] ? ")" : "", strstr(why, "--data") ? "" : " (give the data's directory with --data DIR)");
  print_cost(p, &pc);
  if (plan.nsites) {
    printf("\n");
    print_products(stdout, p, &plan);
  }
  int rc = 0;
  if (pc.total_samples > 0) {
    printf("\npredicted training time: %.1f s (evaluation excluded)\n", pc.total_seconds);
    if (p->speedup && p->speedup->n > 0) {
      CompileOptions nospeed = a->compile;
      nospeed.no_speedup = true;
      diag_reset();
      if (compile_file(&base, a->file, &nospeed)) {
        ProgramCost bc;
        GemmPlan bplan;
        CgOptions bopt = a->codegen;
        machine_gemm_plan(base.prog, &bopt, true, false, false, &bplan);
        cost_program_plan(base.prog, &m, &bopt, &bplan, n, &bc);
        machine_gemm_plan_free(&bplan);
        printf("baseline (without the speedup block): %.1f s\npredicted speedup: %.2fx\n", bc.total_seconds,
               bc.total_seconds / pc.total_seconds);
        cost_free(&bc);
      } else {
        rc = 1;
      }
      compilation_free(&base);
    }
  }
  cost_free(&pc);
  machine_gemm_plan_free(&plan);
  compilation_free(&comp);
  return rc;
}

const Command cmd_cost = {
    "cost", "predict the cost of training, phase by phase (work, memory, time on this machine) and the "
            "speedup of the speedup block over the baseline",
    "cost [OPTIONS] FILE.train",
    {{"--recalibrate", NULL, "measure this machine, and the program's products with each GEMM backend, again "
                             "instead of using the cached measurements"},
     {"--data", "DIR", "where the data set is, as the program's --data DIR: read to count the training examples "
                       "(without it, a csv, npy, text or tokens source is read from the path the program gives)"}},
    run_cost,
    false,
    true,
};
