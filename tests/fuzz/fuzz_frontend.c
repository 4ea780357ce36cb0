/* fuzz_frontend.c — libFuzzer target: arbitrary bytes as a .train program
 * through the whole front end (compile_file: lex, parse, imports, resolve,
 * elaborate the train block in training and evaluation mode, autodiff,
 * optimizer lowering, the speedup passes, the IR verifier after each), then,
 * for a program that compiles, the IR printer and the cost model (which
 * plans each step's memory the way code generation does).
 *
 * The input is written to <private temp dir>/fuzz.train, so imports are
 * looked up in a directory that holds nothing else (`import fuzz` imports
 * the input itself) and then in the standard library of the source tree.
 * Diagnostics are formatted (with source lines and carets) into /dev/null.
 * Everything is freed after each input: LeakSanitizer checks that.
 *
 * Built with -fsanitize=fuzzer in the fuzz build (tests/fuzz/run_fuzz.sh),
 * and without libFuzzer as fuzz_frontend_replay (replay_main.c), which runs
 * the regression inputs in tests/fuzz/regressions/frontend under ctest. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "costmodel.h"
#include "diag.h"
#include "driver.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *input_path;
static FILE *sink;

static void setup(void) {
  if (input_path) return;
  input_path = fuzz_temp_path("fuzz.train");
  sink = fopen("/dev/null", "w");
  if (!sink) abort();
  /* imports must not depend on the environment of the fuzzing machine */
  unsetenv("ASTC_PATH");
  unsetenv("ASTC_STDLIB");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  fuzz_write_file(input_path, data, size);
  diag_reset();
  diag_set_stream(sink);
  diag_set_show_source(true);

  CompileOptions opt = {0};
  Compilation c;
  if (compile_file(&c, input_path, &opt)) {
    IrPrintOptions po = {.locations = true, .batch = 0};
    ir_print_program(sink, c.prog, &po);
    /* a fixed machine: the cost model must not measure or read a cache */
    Machine m = {.threads = 1, .bandwidth_gbs = 10,
                 .gemm_gflops = {1, 2, 4, 8, 16, 16, 16}};
    ProgramCost cost;
    cost_program(c.prog, &m, &cost);
    cost_free(&cost);
  }
  compilation_free(&c);
  src_reset();
  diag_reset();
  return 0;
}
