/* main.c — the astc command line: a table of subcommands, each with its
 * options and help. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const Command *commands[] = {
    &cmd_check, &cmd_show, &cmd_build, &cmd_run, &cmd_cost,
};

static void usage(FILE *out) {
  fprintf(out,
          "astc %s — a compiler for training programs\n\n"
          "usage: astc COMMAND [OPTIONS] FILE.train\n\n"
          "commands:\n",
          ASTC_VERSION);
  for (size_t i = 0; i < ARRAY_LEN(commands); i++)
    fprintf(out, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out, "\n'astc help COMMAND' or 'astc COMMAND --help' lists a command's options.\n");
}

static const Command *find_command(const char *name) {
  for (size_t i = 0; i < ARRAY_LEN(commands); i++)
    if (strcmp(commands[i]->name, name) == 0) return commands[i];
  return NULL;
}

int main(int argc, char **argv) {
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
