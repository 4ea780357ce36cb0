/* model_h_test.c — the header `astc build examples/embed/model.train --lib`
 * writes (model.h), used from C17 and from C++17: tests/install/embed.sh
 * compiles this file both ways with -Wall -Wextra -Werror. It must stay valid
 * in both languages (no designated initialisers, no implicit void* casts). */
#include "model.h"

#include <stdio.h>

/* The shape macros are integer constant expressions. */
typedef char input_size_is_constant[MODEL_INPUT_SIZE > 0 ? 1 : -1];
typedef char output_size_is_constant[MODEL_OUTPUT_SIZE > 0 ? 1 : -1];
typedef char classes_is_constant[MODEL_CLASSES >= 2 ? 1 : -1];
typedef char batch_is_constant[MODEL_BATCH > 0 ? 1 : -1];

int main(void) {
  const astrt_program *p = &model_program;
  astrt_model_options o;
  astrt_model_options_default(&o);
  astrt_model *m = NULL;
  astrt_status st = model_create(&o, &m);       /* every static inline of model.h */
  if (st != ASTRT_OK) {
    fprintf(stderr, "%s\n", astrt_last_error());
    return 1;
  }
  astrt_model_destroy(m);
  st = model_create(NULL, &m);                  /* NULL options: the program's seed */
  if (st != ASTRT_OK) return 1;
  float x[MODEL_INPUT_SIZE] = {0};
  float out[MODEL_OUTPUT_SIZE];
  long long sizes = (long long)MODEL_INPUT_SIZE * MODEL_OUTPUT_SIZE * MODEL_CLASSES * MODEL_BATCH;
  (void)sizes;
  st = astrt_model_predict(m, x, 1, out);
  astrt_model_destroy(m);
  return p->abi_version == ASTRT_ABI_VERSION && st == ASTRT_OK ? 0 : 1;
}
