/* robust.h — non-finite values in training (nonfinite.c) and resource
 * limits (memcheck.c); internal to libastrt. docs/robustness.md describes
 * what a user sees.
 */
#ifndef ASTRT_ROBUST_H
#define ASTRT_ROBUST_H

#include <stddef.h>
#include <stdint.h>

#include "astrt.h"
#include "astrt_program.h"

/* ---- non-finite values (nonfinite.c) ---------------------------------------- */

/* The state variables (batch-norm running statistics) a step assigns in its
 * forward pass, before its loss is known: saved before every step, put back
 * after one whose loss was not finite (its updates were skipped by the
 * generated code). Empty for a program without state variables. */
typedef struct astrt_state_copy {
  float *data;
  int64_t n;               /* floats */
} astrt_state_copy;

astrt_status astrt_state_copy_init(const astrt_program *p, astrt_state_copy *c);
void astrt_state_save(const astrt_program *p, const void *vars, astrt_state_copy *c);
void astrt_state_restore(const astrt_program *p, void *vars, const astrt_state_copy *c);
void astrt_state_copy_free(astrt_state_copy *c);

/* Index of the first variable (descriptor order) holding a NaN or an
 * infinity, or -1. */
int64_t astrt_nonfinite_var(const astrt_program *p, const void *vars);

/* Runs phase `phase`'s step once more, in diagnose mode (it changes no
 * variable), on the same arguments; returns the first node whose value is
 * not finite, -1 if none is, or -2 if the program's steps cannot diagnose
 * (no node table: the step is not run). */
int64_t astrt_diagnose(const astrt_program *p, uint32_t phase, void *vars, void *work, const void *x,
                       const void *y, int64_t rows, const float *scalars, uint64_t seed);

/* A training step whose loss was not finite. */
typedef struct astrt_nan_report {
  int64_t step, epoch;     /* 1-based */
  uint32_t phase;          /* index into p->phases */
  int64_t rows;
  double lr;
  float loss;
  int64_t node;            /* astrt_diagnose's answer */
} astrt_nan_report;

/* "step 15 (epoch 2, phase 1, batch 10): the loss is NaN; the first
 * non-finite value is the output of exp at f.train:12:9 (layer dense_2, in
 * log_softmax, forward pass)" into buf. */
void astrt_nan_describe(const astrt_program *p, const astrt_nan_report *e, char *buf, size_t cap);
/* What to do about it: lower the learning rate; with fp16, keep the layer in
 * fp32 or use bf16; fix the data. */
void astrt_nan_hint(const astrt_program *p, const astrt_nan_report *e, char *buf, size_t cap);
/* Whether the first non-finite value was a variable as the step read it: an
 * earlier update made it non-finite, and skipping this step cannot help. */
int astrt_nan_in_variable(const astrt_program *p, const astrt_nan_report *e);

/* ---- memory (memcheck.c) ------------------------------------------------------ */

/* Bytes this process can still allocate without swapping or being killed:
 * the least of MemAvailable (/proc/meminfo), the cgroup's memory.max minus
 * its usage, and RLIMIT_AS minus the address space in use. `why` names the
 * limit that binds. The environment variable ASTRT_TEST_MEM_AVAILABLE=BYTES
 * replaces the measurement (a test hook); ASTRT_MEM_CHECK=off disables the
 * checks. Returns 0 when nothing could be measured (no check is made). */
int astrt_mem_available(int64_t *bytes, const char **why);
/* "1.5 GB", "730 MB", "12 kB" */
void astrt_fmt_bytes(double bytes, char *buf, size_t cap);
/* ASTRT_ERR_NOMEM if `bytes` more cannot be allocated: "<what> needs N of
 * memory, but only M is available (<why>); <fix>". */
astrt_status astrt_mem_check(int64_t bytes, const char *what, const char *fix);

/* Whether an address-space limit (RLIMIT_AS, ulimit -v) is set. */
int astrt_address_space_limited(void);
/* Under an address-space limit: ASTRT_ERR_NOMEM, with the numbers and what
 * to do, unless it leaves room for `need` bytes and for the address space
 * OpenBLAS reserves for each of `threads` threads that call it (128 MiB;
 * OpenBLAS 0.3.21 retries a failed reservation forever, so a run that
 * started without it would hang in its first matrix product). `who` names
 * the model. */
astrt_status astrt_address_space_check(double need, int threads, const char *who);
/* The end of a process whose main() is astrt_main: returns `status`, except
 * under an address-space limit, where it flushes stdio and calls _exit: an
 * OpenBLAS thread that could not reserve its buffer spins forever, and
 * exit() would wait for it in OpenBLAS's destructor (docs/robustness.md). */
int astrt_exit(int status);

#endif
