/* checkpoint.h — training checkpoints (checkpoint.c); internal to libastrt. */
#ifndef ASTRT_CHECKPOINT_H
#define ASTRT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "astrt.h"
#include "astrt_program.h"

/* Where a run is: everything besides the variables that continuing it
 * exactly needs, plus what its report carries forward. */
typedef struct astrt_ckpt_state {
  int64_t step, epoch, pos, samples, total_samples;
  int64_t clean_steps, skipped_steps;     /* loss scaling */
  int64_t epoch_rows, evals;
  int64_t metrics_bytes;                  /* length of the metrics file */
  int64_t threads;                        /* results are bit-identical only with the same count */
  int64_t ranks;                          /* ... and the same number of MPI processes */
  double train_seconds, eval_seconds, cache_seconds;
  double epoch_loss, loss_scale;
  double best_acc, final_acc, final_loss, final_train_loss, time_to_target;
  uint64_t seed;
  double best_loss;                       /* the lowest test loss (NaN if an older checkpoint lacks it) */
} astrt_ckpt_state;

uint64_t astrt_program_fingerprint(const astrt_program *p);
/* Number of checkpoint files in dir (usable or not). */
int astrt_checkpoint_count(const char *dir);
/* Creates dir if needed; checks it is a writable directory; removes the
 * temporary files of checkpoint writes that were killed midway. */
astrt_status astrt_checkpoint_prepare(const char *dir);
/* For a run that does not resume: an error if dir already holds
 * checkpoints (another run's, which its own would mix with: the newest two
 * are kept by step, and --resume takes the newest). Checked before the run
 * touches anything (its metrics file, its data). */
astrt_status astrt_checkpoint_unused(const char *dir);
/* Writes DIR/ckpt-<step>.safetensors atomically; keeps the newest two. */
astrt_status astrt_checkpoint_write(const char *dir, const astrt_program *p, const void *vars,
                                    const astrt_ckpt_state *s);
/* Whether a checkpoint's position (read from `path`, its checksum good) is
 * one the run can be at: ASTRT_OK, or an error naming the file. */
typedef astrt_status (*astrt_ckpt_check)(void *ctx, const astrt_ckpt_state *s, const char *path);
/* Restores the newest usable checkpoint of dir into vars and *s (skipping,
 * with a warning on stderr, any that is corrupt, from another program, or
 * that `check` (if not NULL) refuses); `used` gets its path. Nothing changes
 * on failure. */
astrt_status astrt_checkpoint_restore(const char *dir, const astrt_program *p, void *vars, int64_t var_bytes,
                                      astrt_ckpt_state *s, char *used, size_t used_cap, astrt_ckpt_check check,
                                      void *ctx);

#endif
