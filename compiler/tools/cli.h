/* cli.h — subcommands and their option tables. */
#ifndef ASTC_CLI_H
#define ASTC_CLI_H

#include <stdio.h>

#include "codegen.h"
#include "sema.h"

#define CLI_MAX_OPTS 24

typedef struct CliOption {
  const char *name;     /* "--batch" */
  const char *arg;      /* "N", or NULL for a flag */
  const char *help;
} CliOption;

/* Parsed arguments of one command. */
typedef struct CliArgs {
  const char *file;                    /* the .train file (the first, for many_files) */
  const char **files;                  /* every input file (commands with many_files) */
  int nfiles;
  const char *values[CLI_MAX_OPTS];    /* by option index; "" for a given flag */
  int nrest;                           /* arguments after "--" */
  char **rest;
  CompileOptions compile;
  CgOptions codegen;                   /* code-generation flags and overrides (commands with codegen) */
  char **argv0;                        /* main's argv, for re-executing */
  const char *includes[32];
} CliArgs;

typedef struct Command {
  const char *name;
  const char *summary;
  const char *usage;
  CliOption opts[CLI_MAX_OPTS];
  int (*run)(CliArgs *a);
  bool many_files;                     /* accepts several .train files */
  bool codegen;                        /* accepts the code-generation flags (--cpu, -fno-fusion, ...) */
} Command;

extern const Command cmd_check, cmd_show, cmd_build, cmd_run, cmd_cost, cmd_compare;

void cli_print_help(FILE *out, const Command *c);
/* The code-generation flags and their developer overrides (astc --help). */
void cli_print_codegen_help(FILE *out);
int cli_run(const Command *c, int argc, char **argv, char **main_argv);
/* The value of an option (NULL if not given). */
const char *cli_opt(const CliArgs *a, const Command *c, const char *name);

#endif
