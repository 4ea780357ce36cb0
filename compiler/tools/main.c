/* main.c — the astc command line: a table of subcommands, each with its
 * options and help. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "elab.h"
#include "pass.h"
#include "speedup.h"

/* astc help prim: the primitives, with their parameters */
static void help_prim(void) {
  printf("primitives (usable anywhere, also as prim.NAME):\n");
  for (int i = 0; builtin_at(i); i++) {
    const Builtin *b = builtin_at(i);
    char sig[160] = "";
    size_t n = 0;
    for (int k = 0; k < 6 && b->params[k]; k++)
      n += (size_t)snprintf(sig + n, sizeof sig - n, "%s%s%s", k ? ", " : "", b->params[k], k >= b->required ? "?" : "");
    char head[200];
    snprintf(head, sizeof head, "%s(%s)", b->name, sig);
    printf("  %-40s %s\n", head, b->help);
  }
  printf("\nparameters marked ? are optional; see docs/language.md\n");
}

/* astc help passes: the pipeline and the speedup rules with their arguments */
static void help_passes(void) {
  printf("pass pipeline (those marked * run on every program: a speedup block names the others):\n");
  for (int i = 0; pass_at(i); i++)
    printf("  %-10s%s %s\n", pass_at(i)->name, sp_find_technique(pass_at(i)->name) < 0 ? "*" : " ",
           pass_at(i)->summary);
  printf("\nspeedup rules (speedup { PASS RULE(ARGS) }):\n");
  for (int i = 0; sp_rule_at(i); i++) {
    const SpRuleSpec *r = sp_rule_at(i);
    printf("  %s %s%s: %s\n", sp_technique_name(r->technique), r->rule, r->layer_args ? "(LAYER: t, ...)" : "",
           r->help);
    for (int k = 0; k < r->nargs; k++) {
      const SpArgSpec *a = sp_rule_arg(r, k);
      printf("      %-16s %s%s\n", a->name, a->help, a->required ? " (required)" : "");
    }
  }
  printf("\nsemantics and sources: docs/passes.md\n");
}

static const Command *commands[] = {
    &cmd_check, &cmd_show, &cmd_build, &cmd_run, &cmd_cost, &cmd_compare,
};

static void usage(FILE *out) {
  fprintf(out,
          "astc %s — a compiler for training programs\n\n"
          "usage: astc COMMAND [OPTIONS] FILE.train   (compare: FILE.train [FILE.train ...])\n\n"
          "commands:\n",
          ASTC_VERSION);
  for (size_t i = 0; i < ARRAY_LEN(commands); i++)
    fprintf(out, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out, "\ncode generation (build, run, cost, compare):\n");
  cli_print_codegen_help(out);
  fprintf(out, "\n'astc help COMMAND' or 'astc COMMAND --help' lists a command's options;\n"
               "'astc help prim' the primitives, 'astc help passes' the speedup passes.\n");
}

static const Command *find_command(const char *name) {
  for (size_t i = 0; i < ARRAY_LEN(commands); i++)
    if (strcmp(commands[i]->name, name) == 0) return commands[i];
  return NULL;
}

/* Under ulimit -v, an OpenBLAS thread that could not reserve its buffer when
 * the library was loaded spins forever, and exit() would wait for it in
 * OpenBLAS's destructor (docs/robustness.md): end before the destructors. */
static void end_now(int status, void *arg) {
  (void)arg;
  fflush(NULL);
  _exit(status);
}

int main(int argc, char **argv) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) on_exit(end_now, NULL);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("astc %s (LLVM 19, OpenBLAS)\n", ASTC_VERSION);
    return 0;
  }
  if (!strcmp(cmd, "help")) {
    if (argc < 3) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[2], "prim")) {
      help_prim();
      return 0;
    }
    if (!strcmp(argv[2], "passes")) {
      help_passes();
      return 0;
    }
    const Command *c = find_command(argv[2]);
    if (!c) {
      fprintf(stderr, "astc: unknown command '%s'\n", argv[2]);
      return 2;
    }
    cli_print_help(stdout, c);
    return 0;
  }
  const Command *c = find_command(cmd);
  if (!c) {
    fprintf(stderr, "astc: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
  }
  return cli_run(c, argc - 2, argv + 2, argv);
}
